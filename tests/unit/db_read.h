/* SPDX-License-Identifier: MIT */
/*
 * db_read.h — the store read back whole, for the tests (db_read.c).
 */
#ifndef PROMFCGI_TEST_DB_READ_H
#define PROMFCGI_TEST_DB_READ_H

#include "store/db.h"

/* Calls fn for each incarnation the store knows. */
int db_each_incarnation(struct db *db, int (*fn)(void *arg, const char *name), void *arg);

/* Reads every family and the aggregated series of counters and histograms. */
int db_read(struct db *db, struct collection *out);

#endif
