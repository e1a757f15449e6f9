/*
 * names.h — name and label-value rules, and the series key encoding.
 */
#ifndef PROMFCGI_NAMES_H
#define PROMFCGI_NAMES_H

#include <stddef.h>

#include "model.h"

size_t pf_utf8_seq(const char *s, size_t avail);
int pf_valid_utf8(const char *s, size_t len);
/* Returns the key length, or -1 if a value is missing, invalid or too long. */
int pf_encode_key(const char *const *values, int n, char *key, size_t cap);

/* Whether key is exactly nlabels UTF-8 values, each NUL-terminated. */
int pf_valid_key(const char *key, uint32_t keylen, uint32_t nlabels);

/* Validates a family definition and fills *def: 0, or -1 if a name is
 * invalid, help is missing, a histogram has an "le" label or its buckets
 * do not increase. */
int pf_build_family(struct family_def *def, int type, const char *name, const char *help,
                    const char *const *labels, const double *buckets, int nbuckets);

#endif
