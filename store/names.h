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

#endif
