/*
 * db.h — the SQLite store: schema, folds, reads.  db.c is the only file in
 * promfcgi that speaks SQL.
 */
#ifndef PROMFCGI_DB_H
#define PROMFCGI_DB_H

#include <stddef.h>

#include "model.h"
#include "stage.h"

#define DB_SCHEMA_VERSION 2

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
/* PRAGMA quick_check: 0 if sound. */
int db_check(struct db *db);
/* Moves a corrupt store (and its -wal, -shm) aside as
 * <path>.corrupt-<UTC time>-<pid>; moved receives the new name. */
int db_quarantine(const char *path, char *moved, size_t len);

enum { DB_FOLD_ERROR = -1, DB_FOLDED = 0, DB_FOLD_SKIPPED = 1, DB_FOLD_UNCHANGED = 2 /* internal */ };

/* What a process last folded for one incarnation, so that its next fold
 * needs no query for unchanged series.  Zero-initialise; free with
 * db_fold_cache_clear.  Tied to one connection: clear it when reopening. */
struct db_fold_cache {
	char name[256];
	long long seq;
	uint32_t ncells, nfamilies;
	double *cells;
	long long fam_ids[STAGE_MAX_FAMILIES];
};
void db_fold_cache_clear(struct db_fold_cache *c);

/* Adds what snap holds beyond what was already folded for its incarnation,
 * in one transaction; with retire, also marks the incarnation retired, after
 * which it is never folded again.  Skipped when the file is gone, the
 * incarnation is retired, or a newer snapshot was folded already.  cache
 * may be NULL. */
int db_fold(struct db *db, const struct stage_snapshot *snap, int retire,
            struct db_fold_cache *cache);

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

/* Drops the per-incarnation rows of name.  Call only after its file is gone. */
int db_forget(struct db *db, const char *name);

/* Calls fn for each incarnation the store knows. */
int db_each_incarnation(struct db *db, int (*fn)(void *arg, const char *name), void *arg);

/* Reads every family and the aggregated series of counters and histograms. */
int db_read(struct db *db, struct pf_collection *out);

/* Test hook: the schema version a file has (PRAGMA user_version). */
int db_schema_version(struct db *db);

#endif
