/* SPDX-License-Identifier: MIT */
/*
 * db_internal.h — what the files of the SQLite store share: the connection
 * with its prepared statements (db.c), the family rows (db_family.c) and
 * the series rows (db_fold.c).  Only store/db*.c include it (and the unit
 * tests that read a store back).
 */
#ifndef PROMFCGI_DB_INTERNAL_H
#define PROMFCGI_DB_INTERNAL_H

#include "store/db.h"
#include "store/sqlite.h"

/* The statements, prepared once per connection (db_open) from fixed text:
 * no SQL is ever built from input. */
enum db_stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_INC_GET, S_INC_ADD, S_INC_SET, S_FORGET_FOLDED, S_FORGET_INC,
	S_FAM_ADD, S_FAM_GET, S_FOLDED_GET, S_FOLDED_PUT,
	S_SERIES_GET, S_SERIES_ADD, S_SERIES_SET,
	S_VERSION, S_LOAD_FAM, S_LOAD_SERIES, S_LOAD_INC, S_LOAD_FOLDED, S_SYNC_FULL, S_SYNC_NORMAL,
	S_EXEMPLAR_PUT, S_READ_EXEMPLARS, S_FAM_WIDEN, S_SERIES_WIDEN,
	S_COUNT
};

struct db {
	sqlite3 *h;
	int busy_ms;
	sqlite3_stmt *st[S_COUNT];
	int last_rc; /* of the last failed step: tells corrupt from busy or full */
	char last_msg[256];
};

/* Runs a statement that returns no rows: 0, or -1 (the failure kept). */
int db_run(struct db *db, enum db_stmt s);
/* Steps a statement expected to return at most one row: 1 row, 0 none, -1
 * error.  The caller reads the columns and then calls db_done. */
int db_row(struct db *db, enum db_stmt s);
void db_done(struct db *db, enum db_stmt s);
/* Keeps the first failure of a transaction (its code and message). */
void db_failed(struct db *db, int rc);
/* Runs SQL text without rows (a PRAGMA, BEGIN): 0, or -1. */
int db_exec(struct db *db, const char *sql);

/* Family rows (db_family.c).  A family row of S_LOAD_FAM's columns (id,
 * name, type, help, label_names, buckets, native_schema, zero_threshold) as
 * a definition: 0, or -1 if it does not make one (a damaged store). */
int db_family_row(sqlite3_stmt *st, struct family_def *def);
/* Defines f in the store if new; returns its id, or 0 if a family of that
 * name differs in type, labels, buckets or native part, -1 on error.  A
 * family without native buckets gains f's; one with them takes f without
 * them as a narrower definition of itself.  *kept, if not NULL, gets the
 * store's definition (f's shape, with the store's native part). */
sqlite3_int64 db_family_put(struct db *db, const struct family_def *f, struct family_def *kept);
/* The store's definition of name and its id: 1 found, 0 none, -1 error. */
int db_family_get(struct db *db, const char *name, struct family_def *def, sqlite3_int64 *id);

/* Changes the series' aggregate with apply (its cells, of the store's
 * definition def: a new series' are model_family_zero's), creating the row
 * if needed (created: when the series began; 0: now).  apply returns 0, or
 * -1 to refuse (nothing written). */
typedef int (*db_apply_fn)(double *cells, const struct family_def *def, void *arg);
int db_update_series(struct db *db, sqlite3_int64 fam, const struct family_def *def,
                     const char *key, uint32_t keylen, db_apply_fn apply, void *arg,
                     double created);

#endif
