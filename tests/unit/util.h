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

#endif
