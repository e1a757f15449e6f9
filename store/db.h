/* SPDX-License-Identifier: MIT */
/*
 * db.h — the SQLite store: schema, folds, reads.  store/db*.c are the only
 * files in promfcgi that speak SQL, and they know nothing of staging files
 * or journals: a fold hands them plain rows (struct db_incarnation; fold.h
 * makes them from a staging snapshot).
 */
#ifndef PROMFCGI_DB_H
#define PROMFCGI_DB_H

#include <stddef.h>

#include <stdint.h>

#include "store/model.h"

#define DB_SCHEMA_VERSION 5

struct db;

/* Opens (creating and migrating as needed) the store in WAL mode.  busy_ms
 * bounds how long any statement waits for another process's lock.  On error
 * returns -1, or DB_OPEN_CORRUPT if the file is not a sound database, with a
 * one-line reason in err. */
#define DB_OPEN_CORRUPT -2
int db_open(const char *path, int busy_ms, struct db **out, char *err, size_t errlen);
void db_close(struct db *db);
const char *db_errmsg(struct db *db);
/* Whether the last failure was corruption, or another process's lock. */
int db_corrupt(struct db *db);
int db_busy(struct db *db);
/* Checkpoints the WAL into the database and truncates it: 0, or -1 if busy. */
int db_trim_wal(struct db *db, int busy_ms);
/* Gives the pages that deleted rows freed back to the file system, once
 * they are a quarter of the file; with convert, first makes a store of an
 * earlier release able to (a VACUUM, once per connection).  Waits for no
 * lock.  1 done, 0 nothing to do, -1 failed (busy). */
int db_compact(struct db *db, int convert);
/* PRAGMA quick_check: 0 if sound. */
int db_check(struct db *db);
/* Moves a corrupt store (and its -wal, -shm) aside as
 * <path>.corrupt-<UTC time>-<pid>; moved (PATH_BYTES) receives the new name. */
int db_quarantine(const char *path, char *moved);

enum { DB_FOLD_ERROR = -1, DB_FOLDED = 0, DB_FOLD_SKIPPED = 1, DB_FOLD_UNCHANGED = 2 /* internal */ };

/* What a fold hands the store: an incarnation's totals (cumulative since it
 * began) as plain rows.  A row is one series: its family (an index into
 * families), its number in the incarnation (the key of what was folded of
 * it), its label values and its cells (its family's ncells; NULL: the row
 * is unreadable, which fails the fold).  An exemplar row is the latest
 * exemplar of one row's bucket (0 for a counter). */
struct db_row {
	uint32_t family, slot;
	const char *key;
	uint32_t keylen;
	const double *cells;
	double created; /* when the series began (Unix seconds; 0: unknown) */
};
struct db_exemplar_row {
	uint32_t row, bucket;
	const struct exemplar *x;
};
struct db_incarnation {
	const char *name; /* the incarnation's identity */
	const char *path; /* its file: the fold is skipped once it is gone */
	uint64_t seq;     /* of the totals: a fold never goes back to an older one */
	const struct family_def *families;
	uint32_t nfamilies;
	const struct db_row *rows;
	uint32_t nrows;
	const struct db_exemplar_row *exemplars;
	uint32_t nexemplars;
};

/* Folds inc in one transaction: a live incarnation's totals become its
 * checkpoint (db_checkpoint.c); with retire, they are added to the
 * aggregate (with its checkpoint's, the larger count winning), its
 * exemplars join the store's and the incarnation is marked retired, after
 * which it is never folded again.  (An incarnation folded before schema 5
 * adds what it holds beyond what was folded of it: db_fold.c.)  Skipped
 * when the file is gone, the incarnation is retired, or a newer seq was
 * folded already. */
int db_fold(struct db *db, const struct db_incarnation *inc, int retire);

/* Several folds in one transaction (a scrape's batch): db_begin (BEGIN
 * IMMEDIATE, waiting at most busy_ms for the write lock), any number of
 * db_fold_in and db_forget_in, then db_commit (which rolls back if it
 * fails) or db_rollback.  db_fold_in returns DB_FOLDED, DB_FOLD_UNCHANGED
 * (nothing written), DB_FOLD_SKIPPED or DB_FOLD_ERROR (roll back).
 *
 * known, if not NULL, is what the caller read of the incarnation's rows:
 * used only if the incarnation's row still has that id and folded_seq
 * (then the rows are those it read), it spares a query per slot and any
 * SQL for a slot that has not changed since. */
struct db_known {
	long long id, folded_seq;
	/* the folded cells of slot, ncells of them; NULL if it has no row */
	const double *(*row)(void *arg, uint32_t slot, uint32_t ncells);
	void *arg;
};
int db_begin(struct db *db);
/* The same without waiting: -1 at once if another process holds the lock. */
int db_begin_now(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);
int db_fold_in(struct db *db, const struct db_incarnation *inc, int retire,
               const struct db_known *known);
int db_forget_in(struct db *db, const char *name);
/* synchronous = FULL (a commit is on disk when it returns) or NORMAL. */
int db_durable(struct db *db, int full);

/* PRAGMA data_version: changes when another connection commits. */
int db_data_version(struct db *db, long long *version);

/* What a scrape keeps of the store, read in one transaction: each family
 * (skipped if its row does not make a definition), each series written
 * after generation since (all: since < 0; cells unpacked to their
 * family's ncells, range the native part's ranges; a row that is not of
 * its family's shape is skipped), the exemplars of those series, each
 * incarnation in order of id (its callback returns 1 to have its folded
 * rows read, 0 if it has them already), then those folded rows.  A
 * callback returning < 0 (family, series, folded, exemplar: non-zero)
 * stops the read (-1).  *version is the data_version of that snapshot,
 * *gen the last generation in it (the next read's since). */
struct db_inc_row {
	long long id, folded_seq;
	const char *name;
	int retired;
	int aggregated; /* folded before schema 5: its folded rows are in the aggregate */
	int checkpoint; /* it has one: its totals as of folded_seq, outside the aggregate */
};
struct db_loader {
	int (*family)(void *arg, long long id, const struct family_def *def);
	int (*series)(void *arg, long long family_id, const void *key, uint32_t keylen,
	              const double *cells, int ncells, const struct native_range *range,
	              double created);
	int (*incarnation)(void *arg, const struct db_inc_row *c);
	int (*folded)(void *arg, long long incarnation_id, uint32_t slot, const void *cells,
	              int ncells);
	/* if set: each exemplar row (after the series), checked (a valid label
	 * set, a timestamp > 0): the series' family id and label values, the
	 * bucket (0 for a counter), the exemplar */
	int (*exemplar)(void *arg, long long family_id, const void *key, uint32_t keylen,
	                uint32_t bucket, const struct exemplar *x);
};
int db_load(struct db *db, const struct db_loader *l, void *arg, long long since,
            long long *version, long long *gen);

/* The checkpoint of incarnation id while its row still has folded_seq (a
 * reader's copy of an incarnation whose file it cannot read): each row to
 * fn, with the store's family id, its cells unpacked (ncells: the family's,
 * or its classic ones).  1 read, 0 none (or it moved on), -1 error. */
int db_read_checkpoint(struct db *db, long long id, long long folded_seq,
                       int (*fn)(void *arg, long long family_id, uint32_t slot, const char *key,
                                 uint32_t keylen, const double *cells, int ncells,
                                 double created),
                       void *arg);

/* For programs that record straight into the store, one transaction a call
 * (the command-line tool: a process too short-lived for a staging file). */
enum { DB_CLASH = -3, DB_NO_FAMILY = -4, DB_WRONG_OP = -5 };
enum db_op { DB_ADD, DB_SET, DB_OBSERVE };
/* Defines the family; DB_CLASH if one of that name differs in type, labels
 * or buckets. */
int db_define(struct db *db, const struct family_def *def);
/* Reads a family's definition: 1 found, 0 none, -1 error. */
int db_family(struct db *db, const char *name, struct family_def *def);
/* Counter: add v >= 0; gauge: add or set v; histogram: observe v.  key is
 * the series' label values (each NUL-terminated). */
int db_record(struct db *db, const char *name, const char *key, uint32_t keylen,
              enum db_op op, double v);

/* Drops the per-incarnation rows of name, its checkpoint added to the
 * aggregate first if it was not retired.  Call only after its file is gone. */
int db_forget(struct db *db, const char *name);

/* Test hook: the schema version a file has (PRAGMA user_version). */
int db_schema_version(struct db *db);

#endif
