/* SPDX-License-Identifier: MIT */
/*
 * names.h — name and label-value rules, and the series key encoding.
 */
#ifndef PROMFCGI_NAMES_H
#define PROMFCGI_NAMES_H

#include <stddef.h>

#include "store/model.h"

size_t names_utf8_seq(const char *s, size_t avail);
int names_valid_utf8(const char *s, size_t len);
/* Returns the key length, or -1 if a value is missing, invalid or too long. */
int names_encode_key(const char *const *values, int n, char *key, size_t cap);

/* Whether key is exactly nlabels UTF-8 values, each NUL-terminated. */
int names_valid_key(const char *key, uint32_t keylen, uint32_t nlabels);

/* An exemplar's label set encoded as name\0value\0...: at least one pair,
 * valid and unique label names, UTF-8 values, at most PF_EXEMPLAR_RUNES_MAX
 * characters of names and values together.  names_valid_exemplar checks one
 * (len bytes, e.g. read from another process's file); names_encode_exemplar
 * builds one from "name", "value", ..., NULL and returns its length, or -1
 * if it is invalid.  out holds MODEL_EXEMPLAR_BYTES. */
int names_valid_exemplar(const char *p, size_t len);
int names_encode_exemplar(const char *const *labels, char *out);

/* Validates a family definition and fills *def: 0, or -1 if a name is
 * invalid, help is missing, a histogram has an "le" label or its buckets
 * do not increase. */
int names_build_family(struct family_def *def, int type, const char *name, const char *help,
                    const char *const *labels, const double *buckets, int nbuckets);
/* Gives a histogram definition native buckets too: 0, or -1 if def is not
 * a histogram, the schema is outside -4..8 or the zero threshold is not a
 * finite number >= 0. */
int names_build_native(struct family_def *def, int schema, double zero_threshold);

/* Gives a family built by names_build_family its gauge mode, unit and
 * states, checked against its type and name (OpenMetrics' rules: a unit is
 * the family name's suffix, an info's name ends in _info, a state set's is
 * a label name; a summary has no label quantile, a liveall gauge no label
 * pid), and the cells they make: 0, or -1 with the reason in
 * notice_reason() (store/notice.h). */
int names_build_kind(struct family_def *def, int mode, const char *unit,
                     const char *const *states);
/* Whether a definition read from another process's file or the store has a
 * sound mode, unit and states for its type. */
int names_valid_kind(const struct family_def *def);
/* [a-zA-Z0-9_]+ not beginning with _, shorter than PF_UNIT_MAX. */
int names_valid_unit(const char *unit);
/* Whether unit is a valid unit that a family of that type and name may
 * state: the suffix of its OpenMetrics family name, after an underscore
 * (an info and a state set have none). */
int names_unit_fits(const char *name, int type, const char *unit);
/* The family name OpenMetrics shows (a counter's without _total, an info's
 * without _info), into out. */
void names_om_family(const char *name, int type, char *out, size_t cap);
/* A mode's name ("livesum" ... "liveall", client_python's) and back (-1: none). */
const char *names_gauge_mode(int mode);
int names_gauge_mode_of(const char *name);
/* A state's index in a state set's states, or -1. */
int names_state_index(const struct family_def *def, const char *state);

#endif
