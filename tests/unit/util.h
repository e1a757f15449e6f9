/* SPDX-License-Identifier: MIT */
/*
 * util.h — what the store tests share: a fresh store path, and a scrape
 * summed over a family's series.
 */
#ifndef PROMFCGI_TEST_UTIL_H
#define PROMFCGI_TEST_UTIL_H

#include <stddef.h>

/* A new directory under $PROMFCGI_TEST_DIR, and "<it>/store.db" in db. */
void test_new_store(char *db, size_t len, const char *tag);

/* Scrapes db (folding every staging file) and sums the family's series whose
 * first label value is key (NULL: all): the value of a counter or gauge, the
 * count of a histogram.  NaN if the scrape fails or there is no such family. */
double test_total(const char *db, const char *family, const char *key);

/* The value (histogram: count) of the one series of family whose label
 * values are exactly values (NULL-terminated); 0 if there is no such
 * series, NaN if the scrape fails or there is no such family. */
double test_series(const char *db, const char *family, const char *const *values);
/* How many series a family has; -1 if none or the scrape fails. */
int test_nseries(const char *db, const char *family);

/* The exemplar of bucket b (0 for a counter) of the series of family whose
 * label values are exactly values, from a scrape: 1 found (copied to *out),
 * 0 none, -1 if the scrape fails or there is no such family or series. */
struct exemplar;
int test_exemplar(const char *db, const char *family, const char *const *values, int b,
                  struct exemplar *out);
/* The label value of name in an exemplar, or NULL. */
const char *test_exemplar_label(const struct exemplar *x, const char *name);

/* Rewrites this release's staging file at path (at rest, within the old
 * limits) as a release of version 1 or 2 would have left it: their layout
 * (no native buckets, a 32-entry log, 65,536 cells; version 1 without
 * exemplars).  0, or -1. */
int test_make_legacy(const char *path, unsigned version);

#endif
