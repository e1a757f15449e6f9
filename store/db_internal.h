/* SPDX-License-Identifier: MIT */
/*
 * db_internal.h — what the files of the SQLite store share: the cells as
 * stored (db_cells.c), the connection with its prepared statements and the
 * store's generations (db.c), the family rows (db_family.c), the series
 * rows (db_series.c) and the checkpoints of live incarnations
 * (db_checkpoint.c).  Only store/db*.c include it (and the unit tests that
 * read a store back).
 */
#ifndef PROMFCGI_DB_INTERNAL_H
#define PROMFCGI_DB_INTERNAL_H

#include "store/db.h"
#include "store/db_cells.h"
#include "store/sqlite.h"

/* The statements, prepared once per connection (db_open) from fixed text:
 * no SQL is ever built from input. */
enum db_stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_INC_GET, S_INC_ADD, S_INC_SET, S_INC_RETIRE, S_INC_DROP,
	S_FOLDED_DROP, S_CHECKPOINT_GET, S_CHECKPOINT_PUT, S_CHECKPOINT_DROP,
	S_FAM_ADD, S_FAM_GET, S_FAM_BY_ID, S_FOLDED_GET, S_FOLDED_PUT,
	S_SERIES_GET, S_SERIES_ADD, S_SERIES_SET, S_SERIES_TOUCH, S_GEN_NEXT, S_GEN_LAST,
	S_VERSION, S_LOAD_FAM, S_LOAD_SERIES, S_LOAD_INC, S_LOAD_FOLDED, S_SYNC_FULL, S_SYNC_NORMAL,
	S_EXEMPLAR_PUT, S_READ_EXEMPLARS, S_FAM_WIDEN, S_SERIES_WIDEN,
	S_FREELIST, S_PAGES,
	S_COUNT
};

struct db {
	sqlite3 *h;
	int busy_ms;
	sqlite3_stmt *st[S_COUNT];
	int last_rc; /* of the last failed step: tells corrupt from busy or full */
	char last_msg[256];
	/* the generation this write transaction gives the series rows it
	 * writes (db_gen); 0 until its first */
	sqlite3_int64 gen;
	int compacted; /* db_compact made this store's file shrink by itself */
	/* db_family_put's answers in this write transaction (emptied at its
	 * BEGIN and by a widening): a fold of 128 workers asks the same dozen
	 * definitions 128 times */
	struct db_family_seen {
		struct family_def def, kept;
		sqlite3_int64 id;
	} *seen;
	uint32_t nseen, cap_seen;
};

/* The generation of the series rows this write transaction writes: one
 * more than any committed (db_load reads the rows of generations after the
 * ones a reader has).  -1 on error. */
sqlite3_int64 db_gen(struct db *db);

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
/* The store's definition of the family of that id: 1 found, 0 none (or a
 * damaged row), -1 error. */
int db_family_by_id(struct db *db, sqlite3_int64 id, struct family_def *def);

/* Series rows (db_series.c).  The packed cells in column col of a row of
 * def's family unpacked into dense (db_cells_unpack): 0, or -1. */
int db_cells_column(const struct family_def *def, sqlite3_stmt *st, int col, double *dense,
                    struct native_range *range);
/* Changes the series' aggregate with apply
 * (its cells, of the store's definition def: a new series' are
 * model_family_zero's), creating the row if needed (created: when the
 * series began; 0: now).  apply returns 0, or -1 to refuse (nothing
 * written). */
typedef int (*db_apply_fn)(double *cells, const struct family_def *def, void *arg);
int db_update_series(struct db *db, sqlite3_int64 fam, const struct family_def *def,
                     const char *key, uint32_t keylen, db_apply_fn apply, void *arg,
                     double created);
/* What db_apply_add adds to an aggregate of def's shape: the first
 * nclassic cells of classic, cell by cell; and native_a - native_b (b NULL:
 * native_a) the native way, if native_a and def have native parts (added
 * says whether it was: a part that cannot take it, a file older than what
 * was folded, adds nothing). */
struct db_add {
	const double *classic;
	uint32_t nclassic;
	const double *native_a, *native_b;
	int added;
};
int db_apply_add(double *cells, const struct family_def *def, void *arg);
/* Moves the series' row to this transaction's generation (its exemplar
 * changed): readers read it again.  0, or -1. */
int db_touch_series(struct db *db, sqlite3_int64 fam, const char *key, uint32_t keylen);

/* What an incarnation's row says (S_INC_GET). */
struct db_inc {
	sqlite3_int64 id, folded_seq;
	int retired;
	int aggregated; /* folded before schema 5: its folded rows are in the series */
	int checkpoint; /* it has one */
};
/* The row of name: 1 found (*inc), 0 none, -1 error. */
int db_inc_get(struct db *db, const char *name, struct db_inc *inc);

/* Checkpoints (db_checkpoint.c): a live incarnation's totals, kept whole
 * in its row, outside the series' aggregate.  The rows of inc (of the
 * incarnation's families) packed and written as its checkpoint at inc's
 * seq: 0, or -1. */
int db_checkpoint_put(struct db *db, sqlite3_int64 id, const struct db_incarnation *inc);
/* Its checkpoint read back as rows (into c, freed by db_checkpoint_free):
 * 1 read, 0 it has none, -1 error or damaged. */
struct db_checkpoint {
	struct family_def *families; /* the store's, in the rows' shapes, by the rows' family index */
	sqlite3_int64 *fam_ids;      /* their store ids */
	uint32_t nfamilies;
	struct db_row *rows;
	uint32_t nrows;
	double *cells; /* the rows' cells, unpacked */
	char *keys;
};
int db_checkpoint_get(struct db *db, sqlite3_int64 id, struct db_checkpoint *c);
void db_checkpoint_free(struct db_checkpoint *c);
/* Adds an ending incarnation's totals to the series: inc's rows (the
 * newest, or NULL) taken with its checkpoint c (or NULL) cell by cell, the
 * larger count winning (a file older than its checkpoint, after a power
 * cut, takes nothing back).  0, or -1. */
int db_checkpoint_retire(struct db *db, const struct db_incarnation *inc,
                         const struct db_checkpoint *c);

#endif
