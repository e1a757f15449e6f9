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

#endif
