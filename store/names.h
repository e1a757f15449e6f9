/*
 * names.h — name and label-value rules, and the series key encoding.
 */
#ifndef PROMFCGI_NAMES_H
#define PROMFCGI_NAMES_H

#include <stddef.h>

#include "promfcgi.h"

size_t pf_utf8_seq(const char *s, size_t avail);
int pf_valid_utf8(const char *s, size_t len);
/* Returns the key length, or -1 if a value is missing, invalid or too long. */
int pf_encode_key(const char *const *values, int n, char *key, size_t cap);

#endif
