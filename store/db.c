/* SPDX-License-Identifier: MIT */
/*
 * db.c — the SQLite store (WAL mode) shared by every worker.
 *
 * Schema (version 4):
 *   family(id, name UNIQUE, type, help, label_names, buckets, native_schema,
 *          zero_threshold)
 *       one row per metric family; label_names comma-separated, buckets a
 *       blob of native doubles; native_schema NULL for a family without
 *       native buckets, else the schema its series begin at (they may go
 *       lower: each series' cells hold its own), zero_threshold theirs.
 *       A histogram defined without native buckets gains them when a
 *       process defines it with (its series' cells gain an empty native
 *       part); a process that defines it without (an earlier release)
 *       still folds its classic counts into it.
 *   series(id, family_id, label_values, cells, created, UNIQUE(family_id, label_values))
 *       the aggregate of every incarnation ever folded: one row per series,
 *       cells a blob of native doubles (see model.h; a native part is
 *       added with native arithmetic, native.h).  Gauges have no rows:
 *       they are read live from the staging files of running workers.
 *   incarnation(id, name UNIQUE, folded_seq, retired)
 *       a worker incarnation (its staging file's name) and the seq of the
 *       snapshot last folded.
 *   folded(incarnation_id, slot, cells)
 *       what has been added to series from each slot of each incarnation,
 *       so that a fold adds staged - folded: running it twice adds nothing
 *       (cells of the incarnation's own definition; a native part's
 *       difference is taken with native_subtract, whatever the schemas).
 *   exemplar(series_id, bucket, value, ts, labels)
 *       the latest OpenMetrics exemplar per counter series (bucket 0) and
 *       histogram bucket, of incarnations that ended (live ones' are read
 *       from their files); labels encoded name\0value\0...  Folding keeps
 *       the later timestamp, so folding twice changes nothing.
 *
 * Every statement is prepared once per connection from the fixed text below;
 * no SQL is ever built from input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "store/names.h"
#include "store/sqlite.h"

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE family(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " type INTEGER NOT NULL, help TEXT NOT NULL, label_names TEXT NOT NULL,"
    " buckets BLOB NOT NULL);"
    "CREATE TABLE series(id INTEGER PRIMARY KEY,"
    " family_id INTEGER NOT NULL REFERENCES family(id),"
    " label_values BLOB NOT NULL, cells BLOB NOT NULL, UNIQUE(family_id, label_values));"
    "CREATE TABLE incarnation(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " folded_seq INTEGER NOT NULL, retired INTEGER NOT NULL);"
    "CREATE TABLE folded(incarnation_id INTEGER NOT NULL, slot INTEGER NOT NULL,"
    " cells BLOB NOT NULL, PRIMARY KEY(incarnation_id, slot)) WITHOUT ROWID;",
    /* 1 -> 2: when each series began, for OpenMetrics' _created */
    "ALTER TABLE series ADD COLUMN created REAL NOT NULL DEFAULT 0;",
    /* 2 -> 3: exemplars of ended incarnations */
    "CREATE TABLE exemplar(series_id INTEGER NOT NULL REFERENCES series(id),"
    " bucket INTEGER NOT NULL, value REAL NOT NULL, ts REAL NOT NULL, labels BLOB NOT NULL,"
    " PRIMARY KEY(series_id, bucket)) WITHOUT ROWID;",
    /* 3 -> 4: native histograms */
    ("ALTER TABLE family ADD COLUMN native_schema INTEGER;"
     "ALTER TABLE family ADD COLUMN zero_threshold REAL NOT NULL DEFAULT 0;"),
};

enum stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_INC_GET, S_INC_ADD, S_INC_SET, S_INC_LIST, S_FORGET_FOLDED, S_FORGET_INC,
	S_FAM_ADD, S_FAM_GET, S_FOLDED_GET, S_FOLDED_PUT,
	S_SERIES_GET, S_SERIES_ADD, S_SERIES_SET, S_READ_FAM, S_READ_SERIES,
	S_VERSION, S_LOAD_FAM, S_LOAD_SERIES, S_LOAD_INC, S_LOAD_FOLDED, S_SYNC_FULL, S_SYNC_NORMAL,
	S_EXEMPLAR_PUT, S_READ_EXEMPLARS, S_FAM_WIDEN, S_SERIES_WIDEN,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_INC_GET] = "SELECT id, folded_seq, retired FROM incarnation WHERE name = ?1",
    [S_INC_ADD] = "INSERT INTO incarnation(name, folded_seq, retired) VALUES(?1, -1, 0)",
    [S_INC_SET] = "UPDATE incarnation SET folded_seq = ?2, retired = ?3 WHERE id = ?1",
    [S_INC_LIST] = "SELECT name FROM incarnation",
    [S_FORGET_FOLDED] = "DELETE FROM folded WHERE incarnation_id ="
                        " (SELECT id FROM incarnation WHERE name = ?1)",
    [S_FORGET_INC] = "DELETE FROM incarnation WHERE name = ?1",
    [S_FAM_ADD] = "INSERT INTO family(name, type, help, label_names, buckets, native_schema,"
                  " zero_threshold) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(name) DO NOTHING",
    [S_FAM_GET] = "SELECT id, type, label_names, buckets, native_schema, zero_threshold"
                  " FROM family WHERE name = ?1",
    [S_FAM_WIDEN] = "UPDATE family SET native_schema = ?2, zero_threshold = ?3 WHERE id = ?1",
    [S_SERIES_WIDEN] = "UPDATE series SET cells = CAST(cells || ?2 AS BLOB) WHERE family_id = ?1"
                       " AND length(cells) = ?3",
    [S_FOLDED_GET] = "SELECT cells FROM folded WHERE incarnation_id = ?1 AND slot = ?2",
    [S_FOLDED_PUT] = "INSERT INTO folded(incarnation_id, slot, cells) VALUES(?1, ?2, ?3)"
                     " ON CONFLICT(incarnation_id, slot) DO UPDATE SET cells = excluded.cells",
    [S_SERIES_GET] = "SELECT id, cells FROM series WHERE family_id = ?1 AND label_values = ?2",
    [S_SERIES_ADD] = "INSERT INTO series(family_id, label_values, cells, created)"
                     " VALUES(?1, ?2, ?3, ?4)",
    [S_SERIES_SET] = "UPDATE series SET cells = ?2 WHERE id = ?1",
    [S_READ_FAM] = "SELECT id, name, type, help, label_names, buckets, native_schema,"
                   " zero_threshold FROM family ORDER BY name",
    [S_READ_SERIES] = "SELECT family_id, label_values, cells, created FROM series"
                      " ORDER BY family_id, label_values",
    [S_VERSION] = "PRAGMA data_version",
    [S_LOAD_FAM] = "SELECT id, name, type, help, label_names, buckets, native_schema,"
                   " zero_threshold FROM family",
    [S_LOAD_SERIES] = "SELECT family_id, label_values, cells, created FROM series",
    [S_LOAD_INC] = "SELECT id, name, folded_seq, retired FROM incarnation ORDER BY id",
    [S_LOAD_FOLDED] = "SELECT slot, cells FROM folded WHERE incarnation_id = ?1",
    [S_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [S_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [S_EXEMPLAR_PUT] = "INSERT INTO exemplar(series_id, bucket, value, ts, labels)"
                       " SELECT id, ?3, ?4, ?5, ?6 FROM series"
                       " WHERE family_id = ?1 AND label_values = ?2"
                       " ON CONFLICT(series_id, bucket) DO UPDATE SET value = excluded.value,"
                       " ts = excluded.ts, labels = excluded.labels WHERE excluded.ts > exemplar.ts",
    [S_READ_EXEMPLARS] = "SELECT s.family_id, s.label_values, e.bucket, e.value, e.ts, e.labels"
                         " FROM exemplar e JOIN series s ON s.id = e.series_id",
};

struct db {
	sqlite3 *h;
	int busy_ms;
	sqlite3_stmt *st[S_COUNT];
	int last_rc; /* of the last failed step: tells corrupt from busy or full */
	char last_msg[256];
};

/* Keeps the first failure's message: a ROLLBACK after it would replace it. */
static void failed(struct db *db, int rc)
{
	if (db->last_msg[0])
		return;
	db->last_rc = rc;
	snprintf(db->last_msg, sizeof db->last_msg, "%s", sqlite3_errmsg(db->h));
}

static int is_corrupt(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

int db_corrupt(struct db *db)
{
	return db && is_corrupt(db->last_rc);
}

int db_busy(struct db *db)
{
	return db && ((db->last_rc & 0xff) == SQLITE_BUSY || (db->last_rc & 0xff) == SQLITE_LOCKED);
}

const char *db_errmsg(struct db *db)
{
	if (!db || !db->h)
		return "no store";
	return db->last_msg[0] ? db->last_msg : sqlite3_errmsg(db->h);
}

static int exec_pragma(sqlite3 *h, const char *sql)
{
	return sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int db_trim_wal(struct db *db, int busy_ms)
{
	/* TRUNCATE would wait on the busy handler for readers and writers: wait
	 * for no one; the next scrape tries again. */
	sqlite3_busy_timeout(db->h, 0);
	int rc = exec_pragma(db->h, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_busy_timeout(db->h, busy_ms);
	return rc;
}

int db_check(struct db *db)
{
	sqlite3_stmt *st;
	int ok = 0;
	if (sqlite3_prepare_v2(db->h, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK) {
		db->last_rc = sqlite3_extended_errcode(db->h);
		return -1;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
	else
		db->last_rc = rc;
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW && !ok)
		db->last_rc = SQLITE_CORRUPT;
	return ok ? 0 : -1;
}

int db_quarantine(const char *path, char *moved, size_t len)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char stamp[32], from[4200], to[4300];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(moved, len, "%s.corrupt-%s-%ld", path, stamp, (long)getpid());
	for (int i = 0; i < 3; i++) {
		snprintf(from, sizeof from, "%s%s", path, suffix[i]);
		snprintf(to, sizeof to, "%s%s", moved, suffix[i]);
		/* the -wal belongs to the corrupt file: never let it meet a fresh one */
		if (rename(from, to) != 0 && i == 0)
			return -1;
	}
	return 0;
}

int db_schema_version(struct db *db)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Runs the migrations a file lacks, in one write transaction, so that two
 * processes opening a new store at once cannot both create it. */
static int db_migrate(struct db *db, char *err, size_t errlen)
{
	/* A current store needs no write lock: opening must not wait for (or
	 * fail on) another process that holds it. */
	if (db_schema_version(db) == DB_SCHEMA_VERSION)
		return 0;
	if (exec_pragma(db->h, "BEGIN IMMEDIATE") != 0)
		goto fail;
	int v = db_schema_version(db);
	if (v < 0)
		goto rollback;
	if (v > DB_SCHEMA_VERSION) {
		exec_pragma(db->h, "ROLLBACK");
		snprintf(err, errlen, "store schema version %d is newer than this program's %d", v,
		         DB_SCHEMA_VERSION);
		return -1;
	}
	for (; v < DB_SCHEMA_VERSION; v++) {
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
		if (exec_pragma(db->h, migrations[v]) != 0 || exec_pragma(db->h, pragma) != 0)
			goto rollback;
	}
	if (exec_pragma(db->h, "COMMIT") == 0)
		return 0;
rollback:
	snprintf(err, errlen, "schema: %s", sqlite3_errmsg(db->h));
	exec_pragma(db->h, "ROLLBACK");
	return -1;
fail:
	snprintf(err, errlen, "schema: %s", sqlite3_errmsg(db->h));
	return -1;
}

int db_open(const char *path, int busy_ms, struct db **out, char *err, size_t errlen)
{
	struct db *db = calloc(1, sizeof *db);
	*out = NULL;
	if (!db) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sqlite_load(err, errlen) != 0) {
		free(db);
		return -1;
	}
	/* NOMUTEX: a connection is used by one thread (promfcgi.h), so the
	 * per-call mutex of serialized mode only costs (a scrape reads every row) */
	int rc = sqlite3_open_v2(path, &db->h,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "open %s: %s", path, db->h ? sqlite3_errmsg(db->h) : "no memory");
		goto fail;
	}
	sqlite3_busy_timeout(db->h, busy_ms);
	db->busy_ms = busy_ms;
	sqlite3_extended_result_codes(db->h, 1);
	/* WAL: readers never block the writer; NORMAL: a commit survives a crash
	 * of the process, only an OS crash may roll back the last ones. */
	if (exec_pragma(db->h, "PRAGMA journal_mode = WAL") != 0 ||
	    exec_pragma(db->h, "PRAGMA synchronous = NORMAL") != 0 ||
	    exec_pragma(db->h, "PRAGMA journal_size_limit = 4194304") != 0) {
		snprintf(err, errlen, "open %s: %s", path, sqlite3_errmsg(db->h));
		goto fail;
	}
	if (db_migrate(db, err, errlen) != 0)
		goto fail;
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(db->h, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &db->st[i],
		                       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "prepare: %s", sqlite3_errmsg(db->h));
			goto fail;
		}
	}
	*out = db;
	return 0;
fail:
	rc = db->h ? sqlite3_extended_errcode(db->h) : SQLITE_NOMEM;
	db_close(db);
	return is_corrupt(rc) ? DB_OPEN_CORRUPT : -1;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_close(db->h);
	free(db);
}

/* Runs a statement that returns no rows. */
static int run(struct db *db, enum stmt s)
{
	sqlite3_stmt *st = db->st[s];
	if (s == S_BEGIN)
		db->last_msg[0] = '\0'; /* a new transaction, a new first failure */
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return 0;
	failed(db, rc);
	return -1;
}

/* Steps a statement expected to return at most one row: 1 row, 0 none, -1 error.
 * The caller reads the columns and then calls done(). */
static int row(struct db *db, enum stmt s)
{
	int rc = sqlite3_step(db->st[s]);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	failed(db, rc);
	return -1;
}

static void done(struct db *db, enum stmt s)
{
	sqlite3_reset(db->st[s]);
	sqlite3_clear_bindings(db->st[s]);
}

static void join_labels(const struct family_def *f, char *out, size_t len)
{
	out[0] = '\0';
	for (uint32_t i = 0; i < f->nlabels && i < PF_LABELS_MAX; i++) {
		if (i)
			strncat(out, ",", len - strlen(out) - 1);
		strncat(out, f->labels[i], len - strlen(out) - 1);
	}
}

/* The native columns (native_schema, zero_threshold) at col, col + 1 of a
 * family row into def (a histogram's); 0, or -1 if they do not make a
 * native definition (a damaged store). */
static int native_columns(sqlite3_stmt *st, int col, struct family_def *def)
{
	def->native = 0;
	def->schema = 0;
	def->zero_threshold = 0;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	sqlite3_int64 schema = sqlite3_column_int64(st, col);
	if (def->type != PF_HISTOGRAM || schema < PF_NATIVE_SCHEMA_MIN || schema > PF_NATIVE_SCHEMA_MAX)
		return -1;
	def->native = 1;
	def->schema = (int32_t)schema;
	def->zero_threshold = sqlite3_column_double(st, col + 1);
	return def->zero_threshold >= 0 && isfinite(def->zero_threshold) ? 0 : -1;
}

static void bind_native(sqlite3_stmt *st, int col, const struct family_def *f)
{
	if (f->native)
		sqlite3_bind_int(st, col, f->schema);
	else
		sqlite3_bind_null(st, col);
	sqlite3_bind_double(st, col + 1, f->native ? f->zero_threshold : 0);
}

/* The store's family of f's name gains f's native buckets: the definition,
 * and an empty native part at the end of every series' cells. */
static int widen_family(struct db *db, sqlite3_int64 id, const struct family_def *f)
{
	double empty[NATIVE_CELLS];
	if (native_init(empty, f->schema, f->zero_threshold) != 0)
		return -1;
	sqlite3_stmt *fam = db->st[S_FAM_WIDEN], *ser = db->st[S_SERIES_WIDEN];
	sqlite3_bind_int64(fam, 1, id);
	bind_native(fam, 2, f);
	if (run(db, S_FAM_WIDEN) != 0)
		return -1;
	sqlite3_bind_int64(ser, 1, id);
	sqlite3_bind_blob(ser, 2, empty, (int)sizeof empty, SQLITE_TRANSIENT);
	sqlite3_bind_int64(ser, 3, (sqlite3_int64)(f->nbuckets + 2) * (sqlite3_int64)sizeof(double));
	return run(db, S_SERIES_WIDEN);
}

/* Defines the family in the store if new; returns its id, or 0 if a family
 * of that name exists with another type, labels, buckets or native schema
 * and zero threshold.  A store family without native buckets gains f's
 * (widen_family); one with native buckets takes f without them as a
 * narrower definition of itself.  *kept, if not NULL, gets the store's
 * definition (f's shape, with the store's native part). */
static sqlite3_int64 fold_family(struct db *db, const struct family_def *f,
                                 struct family_def *kept)
{
	char labels[PF_LABELS_MAX * PF_LABEL_NAME_MAX];
	join_labels(f, labels, sizeof labels);
	int nb = f->nbuckets <= PF_BUCKETS_MAX ? (int)f->nbuckets : PF_BUCKETS_MAX;
	sqlite3_stmt *add = db->st[S_FAM_ADD], *get = db->st[S_FAM_GET];
	sqlite3_bind_text(add, 1, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(add, 2, (int)f->type);
	sqlite3_bind_text(add, 3, f->help, -1, SQLITE_STATIC);
	sqlite3_bind_text(add, 4, labels, -1, SQLITE_STATIC);
	sqlite3_bind_blob(add, 5, f->buckets, nb * (int)sizeof(double), SQLITE_STATIC);
	bind_native(add, 6, f);
	if (run(db, S_FAM_ADD) != 0)
		return -1;
	sqlite3_bind_text(get, 1, f->name, -1, SQLITE_STATIC);
	sqlite3_int64 id = -1;
	struct family_def store = *f;
	int r = row(db, S_FAM_GET), compat = MODEL_CLASH;
	if (r == 1) {
		const void *b = sqlite3_column_blob(get, 3);
		int same = sqlite3_column_int(get, 1) == (int)f->type &&
		           strcmp((const char *)sqlite3_column_text(get, 2), labels) == 0 &&
		           sqlite3_column_bytes(get, 3) == nb * (int)sizeof(double) &&
		           (nb == 0 || memcmp(b, f->buckets, (size_t)nb * sizeof(double)) == 0) &&
		           native_columns(get, 4, &store) == 0;
		store.ncells = (uint32_t)model_family_cells((int)store.type, nb, (int)store.native);
		compat = same ? model_family_compat(&store, f) : MODEL_CLASH;
		id = compat == MODEL_CLASH ? 0 : sqlite3_column_int64(get, 0);
	}
	done(db, S_FAM_GET);
	if (r < 0)
		return -1;
	if (compat == MODEL_WIDER) {
		if (widen_family(db, id, f) != 0)
			return -1;
		store = *f;
	}
	if (kept)
		*kept = store;
	return id;
}

/* Changes the series' aggregate with apply (its cells, of the store's
 * definition def: a new series' are model_family_zero's), creating the row if
 * needed.  apply returns 0, or -1 to refuse (nothing written). */
typedef int (*apply_fn)(double *cells, const struct family_def *def, void *arg);
static int update_series(struct db *db, sqlite3_int64 fam, const struct family_def *def,
                         const char *key, uint32_t keylen, apply_fn apply, void *arg,
                         double created)
{
	sqlite3_stmt *get = db->st[S_SERIES_GET];
	double sum[MODEL_CELLS_MAX];
	int ncells = (int)def->ncells;
	size_t bytes = (size_t)ncells * sizeof(double);
	if (ncells < 1 || ncells > MODEL_CELLS_MAX)
		return -1;
	model_family_zero(def, sum);
	sqlite3_bind_int64(get, 1, fam);
	sqlite3_bind_blob(get, 2, key, (int)keylen, SQLITE_STATIC);
	int found = row(db, S_SERIES_GET);
	sqlite3_int64 id = 0;
	if (found == 1) {
		id = sqlite3_column_int64(get, 0);
		if ((size_t)sqlite3_column_bytes(get, 1) == bytes)
			memcpy(sum, sqlite3_column_blob(get, 1), bytes);
		else
			found = -2; /* a row of another shape: refuse rather than guess */
	}
	if (found == -2 && !db->last_msg[0]) {
		db->last_rc = SQLITE_MISMATCH;
		snprintf(db->last_msg, sizeof db->last_msg,
		         "a series row of %d bytes where its family has %zu", sqlite3_column_bytes(get, 1),
		         bytes);
	}
	done(db, S_SERIES_GET);
	if (found < 0 || apply(sum, def, arg) != 0)
		return -1;
	if (found) {
		sqlite3_stmt *set = db->st[S_SERIES_SET];
		sqlite3_bind_int64(set, 1, id);
		sqlite3_bind_blob(set, 2, sum, (int)bytes, SQLITE_STATIC);
		return run(db, S_SERIES_SET);
	}
	sqlite3_stmt *add = db->st[S_SERIES_ADD];
	sqlite3_bind_int64(add, 1, fam);
	sqlite3_bind_blob(add, 2, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_blob(add, 3, sum, (int)bytes, SQLITE_STATIC);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	sqlite3_bind_double(add, 4, created > 0 ? created
	                                        : (double)now.tv_sec + (double)(now.tv_nsec / 1000000) / 1e3);
	return run(db, S_SERIES_ADD);
}

/* What a fold adds to an aggregate: the classic cells of delta (the first
 * classic of them), and, with native, staged - prev of the native parts
 * that follow them (native_add_diff: the schema may have gone down
 * since prev); added says whether it was. */
struct fold_delta {
	const double *delta, *staged, *prev;
	uint32_t classic; /* classic cells */
	int native, added;
};

static int apply_fold(double *cells, const struct family_def *def, void *arg)
{
	struct fold_delta *d = arg;
	for (uint32_t i = 0; i < d->classic; i++)
		cells[i] += d->delta[i];
	/* a file older than what was folded (a count would go below zero), or
	 * a damaged one, adds nothing to the native part; nor does a row whose
	 * native part cannot take it (only a damaged store has one): the fold,
	 * and every other series', goes on */
	d->added = d->native && def->native &&
	           native_add_diff(cells + d->classic, d->staged + d->classic,
	                              d->prev + d->classic) == 0;
	return 0;
}

/* Folds one slot: staged - folded into the aggregate, then folded = staged.
 * known, if not NULL, says what is folded of this incarnation (the caller's
 * copy of its rows, trusted under the conditions of known_valid), sparing a
 * query; an unchanged slot then costs no SQL at all.  kept is the store's
 * definition of the slot's family (f, or f with native buckets). */
static int fold_slot(struct db *db, sqlite3_int64 inc, uint32_t index, sqlite3_int64 fam,
                     const struct stage_snapshot *snap, const struct family_def *f,
                     const struct family_def *kept, const struct db_known *known)
{
	const struct stage_slot *slot = &snap->slots[index];
	int ncells = (int)f->ncells;
	if (ncells > MODEL_CELLS_MAX || slot->cell + (uint32_t)ncells > snap->ncells ||
	    slot->keylen > PF_KEY_MAX)
		return -1;
	const double *staged = &snap->cells[slot->cell];
	double prev[MODEL_CELLS_MAX], delta[MODEL_CELLS_MAX], put[MODEL_CELLS_MAX];
	size_t bytes = (size_t)ncells * sizeof(double);
	int r;
	model_family_zero(f, prev);
	if (known) {
		const double *row = known->row(known->arg, index, (uint32_t)ncells);
		r = row != NULL;
		if (r && memcmp(staged, row, bytes) == 0)
			return 0; /* unchanged: the common case, no SQL at all */
		if (r)
			memcpy(prev, row, bytes);
	} else {
		sqlite3_stmt *get = db->st[S_FOLDED_GET];
		sqlite3_bind_int64(get, 1, inc);
		sqlite3_bind_int64(get, 2, index);
		r = row(db, S_FOLDED_GET);
		if (r == 1 && (size_t)sqlite3_column_bytes(get, 0) == bytes)
			memcpy(prev, sqlite3_column_blob(get, 0), bytes);
		done(db, S_FOLDED_GET);
		if (r < 0)
			return -1;
	}
	int changed = r == 0; /* a new series is created even at zero */
	/* Counts never go back: a file older than what was folded (pages lost
	 * to a power cut) adds nothing, and what was folded stays the base. */
	int counts = f->type == PF_HISTOGRAM ? (int)f->nbuckets + 1 : 1;
	int classic = f->type == PF_HISTOGRAM ? (int)f->nbuckets + 2 : ncells;
	for (int i = 0; i < classic; i++) {
		put[i] = i < counts && staged[i] < prev[i] ? prev[i] : staged[i];
		delta[i] = put[i] - prev[i];
	}
	struct fold_delta d = {delta, staged, prev, (uint32_t)classic, f->native, 0};
	if (f->native) /* as staged for now: what it is if the native part is added */
		memcpy(put + classic, staged + classic, NATIVE_CELLS * sizeof *put);
	/* NaN never equals itself: a NaN gauge-like sum still counts as news */
	if (memcmp(put, prev, bytes) != 0)
		changed = 1;
	if (!changed)
		return 0;
	if (update_series(db, fam, kept, slot->key, slot->keylen, apply_fold, &d, slot->created) != 0)
		return -1;
	if (f->native && !d.added) /* nothing added: what was folded stays the base */
		memcpy(put + classic, prev + classic, NATIVE_CELLS * sizeof *put);
	sqlite3_stmt *st = db->st[S_FOLDED_PUT];
	sqlite3_bind_int64(st, 1, inc);
	sqlite3_bind_int64(st, 2, index);
	sqlite3_bind_blob(st, 3, put, (int)bytes, SQLITE_STATIC);
	return run(db, S_FOLDED_PUT);
}

/* Finds or creates the incarnation row; *seq is the last folded seq. */
static int fold_incarnation(struct db *db, const char *name, sqlite3_int64 *id,
                            sqlite3_int64 *seq, int *retired)
{
	sqlite3_stmt *get = db->st[S_INC_GET];
	sqlite3_bind_text(get, 1, name, -1, SQLITE_STATIC);
	int r = row(db, S_INC_GET);
	if (r == 1) {
		*id = sqlite3_column_int64(get, 0);
		*seq = sqlite3_column_int64(get, 1);
		*retired = sqlite3_column_int(get, 2);
	}
	done(db, S_INC_GET);
	if (r != 0)
		return r < 0 ? -1 : 0;
	sqlite3_bind_text(db->st[S_INC_ADD], 1, name, -1, SQLITE_STATIC);
	if (run(db, S_INC_ADD) != 0)
		return -1;
	*id = sqlite3_last_insert_rowid(db->h);
	*seq = -1;
	*retired = 0;
	return 0;
}

/* What the caller knows of an incarnation's rows is what the store holds
 * while its row is the same (id) and folded_seq has not moved: every fold
 * that changes a folded row moves folded_seq on, in the same transaction. */
static int known_valid(const struct db_known *k, sqlite3_int64 id, sqlite3_int64 folded_seq)
{
	return k && k->row && k->id == id && k->folded_seq == folded_seq;
}

/* An ending incarnation's exemplars join the store's, per series and
 * bucket the later one winning.  Only series whose family the store shares
 * (fold_family) and whose row the fold made. */
static int fold_exemplars(struct db *db, const struct stage_snapshot *snap)
{
	sqlite3_int64 fam_ids[STAGE_MAX_FAMILIES];
	for (uint32_t i = 0; i < STAGE_MAX_FAMILIES; i++)
		fam_ids[i] = -1; /* not looked up yet */
	for (uint32_t i = 0; i < snap->nexemplars; i++) {
		const struct stage_exemplar *e = &snap->exemplars[i];
		if (e->sel < 1 || e->sel > 2 || e->slot >= snap->nslots)
			continue;
		const struct stage_slot *slot = &snap->slots[e->slot];
		uint32_t fi = slot->family;
		const struct exemplar *x = &e->copy[e->sel - 1];
		if (fi >= snap->nfamilies || snap->families[fi].type == PF_GAUGE ||
		    x->len > MODEL_EXEMPLAR_BYTES || slot->keylen > PF_KEY_MAX)
			continue;
		if (fam_ids[fi] < 0 && (fam_ids[fi] = fold_family(db, &snap->families[fi], NULL)) < 0)
			return -1;
		if (fam_ids[fi] == 0)
			continue; /* the store's family of that name differs: not ours */
		sqlite3_stmt *put = db->st[S_EXEMPLAR_PUT];
		sqlite3_bind_int64(put, 1, fam_ids[fi]);
		sqlite3_bind_blob(put, 2, slot->key, (int)slot->keylen, SQLITE_STATIC);
		sqlite3_bind_int64(put, 3, e->bucket);
		sqlite3_bind_double(put, 4, x->value);
		sqlite3_bind_double(put, 5, x->timestamp);
		sqlite3_bind_blob(put, 6, x->labels, (int)x->len, SQLITE_STATIC);
		if (run(db, S_EXEMPLAR_PUT) != 0)
			return -1;
	}
	return 0;
}

static int fold_body(struct db *db, const struct stage_snapshot *snap, int retire,
                     const struct db_known *known)
{
	sqlite3_int64 inc = 0, folded_seq = 0;
	int retired = 0;
	/* The file is checked under the write lock: a retiring worker unlinks it
	 * before forgetting its rows, so a fold that finds the file also finds
	 * the rows, and an older snapshot is never folded a second time. */
	if (access(snap->path, F_OK) != 0)
		return DB_FOLD_SKIPPED;
	if (fold_incarnation(db, snap->name, &inc, &folded_seq, &retired) != 0)
		return DB_FOLD_ERROR;
	if (retired || (sqlite3_int64)snap->seq < folded_seq)
		return DB_FOLD_SKIPPED;
	if (!known_valid(known, inc, folded_seq))
		known = NULL;
	if ((sqlite3_int64)snap->seq > folded_seq) {
		sqlite3_int64 fam_ids[STAGE_MAX_FAMILIES];
		/* the store's definitions (a native part the file's may lack) */
		struct family_def *kept = malloc(STAGE_MAX_FAMILIES * sizeof *kept);
		if (!kept)
			return DB_FOLD_ERROR;
		int failed_slot = 0;
		for (uint32_t i = 0; i < snap->nfamilies && !failed_slot; i++)
			if ((fam_ids[i] = fold_family(db, &snap->families[i], &kept[i])) < 0)
				failed_slot = 1;
		/* A journal's snapshot may hold one name twice (records of two
		 * releases: classic, then with native buckets); a later one may
		 * have widened the rows, so all take the store's final one. */
		for (uint32_t i = 0; i < snap->nfamilies && !failed_slot; i++)
			for (uint32_t j = i + 1; j < snap->nfamilies; j++)
				if (fam_ids[j] == fam_ids[i] && fam_ids[i] > 0)
					kept[i] = kept[j];
		for (uint32_t i = 0; i < snap->nslots && !failed_slot; i++) {
			uint32_t fi = snap->slots[i].family;
			if (fi >= snap->nfamilies || fam_ids[fi] == 0 ||
			    snap->families[fi].type == PF_GAUGE)
				continue;
			if (fold_slot(db, inc, i, fam_ids[fi], snap, &snap->families[fi], &kept[fi],
			              known) != 0)
				failed_slot = 1;
		}
		free(kept);
		if (failed_slot)
			return DB_FOLD_ERROR;
	} else if (!retire) {
		return DB_FOLD_UNCHANGED;
	}
	/* a live worker's exemplars are read from its file at each scrape */
	if (retire && fold_exemplars(db, snap) != 0)
		return DB_FOLD_ERROR;
	sqlite3_stmt *set = db->st[S_INC_SET];
	sqlite3_bind_int64(set, 1, inc);
	sqlite3_bind_int64(set, 2, (sqlite3_int64)snap->seq);
	sqlite3_bind_int(set, 3, retire);
	return run(db, S_INC_SET) == 0 ? DB_FOLDED : DB_FOLD_ERROR;
}

int db_fold(struct db *db, const struct stage_snapshot *snap, int retire)
{
	if (run(db, S_BEGIN) != 0)
		return DB_FOLD_ERROR;
	int rc = fold_body(db, snap, retire, NULL);
	if (rc != DB_FOLD_ERROR && run(db, S_COMMIT) == 0)
		return rc == DB_FOLD_UNCHANGED ? DB_FOLDED : rc;
	/* SQLITE_FULL or IOERR may have rolled back already; roll back anyway */
	run(db, S_ROLLBACK);
	return DB_FOLD_ERROR;
}

int db_begin(struct db *db)
{
	return run(db, S_BEGIN);
}

int db_begin_now(struct db *db)
{
	sqlite3_busy_timeout(db->h, 0);
	int rc = run(db, S_BEGIN);
	sqlite3_busy_timeout(db->h, db->busy_ms);
	return rc;
}

int db_commit(struct db *db)
{
	if (run(db, S_COMMIT) == 0)
		return 0;
	run(db, S_ROLLBACK);
	return -1;
}

void db_rollback(struct db *db)
{
	run(db, S_ROLLBACK);
}

int db_fold_in(struct db *db, const struct stage_snapshot *snap, int retire,
               const struct db_known *known)
{
	return fold_body(db, snap, retire, known);
}

int db_forget_in(struct db *db, const char *name)
{
	sqlite3_bind_text(db->st[S_FORGET_FOLDED], 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(db->st[S_FORGET_INC], 1, name, -1, SQLITE_TRANSIENT);
	return run(db, S_FORGET_FOLDED) == 0 && run(db, S_FORGET_INC) == 0 ? 0 : -1;
}

int db_durable(struct db *db, int full)
{
	return run(db, full ? S_SYNC_FULL : S_SYNC_NORMAL);
}

int db_define(struct db *db, const struct family_def *def)
{
	if (run(db, S_BEGIN) != 0)
		return -1;
	sqlite3_int64 id = fold_family(db, def, NULL);
	if (id > 0 && run(db, S_COMMIT) == 0)
		return 0;
	run(db, S_ROLLBACK);
	return id == 0 ? DB_CLASH : -1;
}

/* Reads a family's definition: 1 found, 0 no such family, -1 error. */
static int family_by_name(struct db *db, const char *name, struct family_def *def,
                       sqlite3_int64 *id)
{
	sqlite3_stmt *get = db->st[S_FAM_GET];
	memset(def, 0, sizeof *def);
	sqlite3_bind_text(get, 1, name, -1, SQLITE_STATIC);
	int r = row(db, S_FAM_GET);
	if (r == 1) {
		*id = sqlite3_column_int64(get, 0);
		def->type = (uint32_t)sqlite3_column_int(get, 1);
		snprintf(def->name, sizeof def->name, "%s", name);
		const char *labels = (const char *)sqlite3_column_text(get, 2);
		for (const char *p = labels; p && *p && def->nlabels < PF_LABELS_MAX;) {
			size_t l = strcspn(p, ",");
			snprintf(def->labels[def->nlabels++], PF_LABEL_NAME_MAX, "%.*s", (int)l, p);
			p += l + (p[l] == ',');
		}
		int nb = sqlite3_column_bytes(get, 3) / (int)sizeof(double);
		def->nbuckets = (uint32_t)(nb <= PF_BUCKETS_MAX ? nb : PF_BUCKETS_MAX);
		if (def->nbuckets)
			memcpy(def->buckets, sqlite3_column_blob(get, 3), def->nbuckets * sizeof(double));
		if (native_columns(get, 4, def) != 0)
			r = -1; /* a damaged row */
		def->ncells = (uint32_t)model_family_cells((int)def->type, (int)def->nbuckets,
		                                        (int)def->native);
	}
	done(db, S_FAM_GET);
	return r;
}

int db_family(struct db *db, const char *name, struct family_def *def)
{
	sqlite3_int64 id;
	return family_by_name(db, name, def, &id);
}

struct record {
	enum db_op op;
	double v;
};

/* A command's change to a series: a counter's or gauge's amount, a gauge's
 * value, a histogram's observation (its classic bucket and sum, and its
 * native part if it has one). */
static int apply_record(double *cells, const struct family_def *def, void *arg)
{
	const struct record *r = arg;
	if (def->type != PF_HISTOGRAM) {
		cells[0] = r->op == DB_SET ? r->v : cells[0] + r->v;
		return 0;
	}
	uint32_t b = 0;
	while (b < def->nbuckets && r->v > def->buckets[b])
		b++;
	if (def->native && native_observe(cells + def->nbuckets + 2, r->v) < 0)
		return -1;
	cells[b] += 1;
	cells[def->nbuckets + 1] += r->v;
	return 0;
}

int db_record(struct db *db, const char *name, const char *key, uint32_t keylen,
              enum db_op op, double v)
{
	struct family_def def;
	sqlite3_int64 id;
	struct record rec = {op, v};
	if (run(db, S_BEGIN) != 0)
		return -1;
	int r = family_by_name(db, name, &def, &id), rc = -1;
	if (r != 1) {
		rc = r == 0 ? DB_NO_FAMILY : -1;
	} else if ((def.type == PF_COUNTER && op == DB_ADD && v >= 0) ||
	           (def.type == PF_GAUGE && (op == DB_ADD || op == DB_SET)) ||
	           (def.type == PF_HISTOGRAM && op == DB_OBSERVE && !isnan(v))) {
		rc = update_series(db, id, &def, key, keylen, apply_record, &rec, 0);
	} else {
		rc = DB_WRONG_OP;
	}
	if (rc == 0 && run(db, S_COMMIT) == 0)
		return 0;
	run(db, S_ROLLBACK);
	return rc ? rc : -1;
}

int db_forget(struct db *db, const char *name)
{
	if (run(db, S_BEGIN) != 0)
		return -1;
	sqlite3_bind_text(db->st[S_FORGET_FOLDED], 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(db->st[S_FORGET_INC], 1, name, -1, SQLITE_TRANSIENT);
	if (run(db, S_FORGET_FOLDED) == 0 && run(db, S_FORGET_INC) == 0 && run(db, S_COMMIT) == 0)
		return 0;
	run(db, S_ROLLBACK);
	return -1;
}

int db_each_incarnation(struct db *db, int (*fn)(void *arg, const char *name), void *arg)
{
	/* Collect first: fn may write, which must not happen under an open SELECT. */
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, r;
	while ((r = row(db, S_INC_LIST)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(names, cap * sizeof *names);
			if (!nn) {
				r = -1;
				break;
			}
			names = nn;
		}
		names[n] = strdup((const char *)sqlite3_column_text(db->st[S_INC_LIST], 0));
		if (!names[n++]) {
			r = -1;
			break;
		}
	}
	done(db, S_INC_LIST);
	if (r < 0)
		rc = -1;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && names[i] && fn(arg, names[i]) != 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

static char *dup_blob(const void *p, size_t n)
{
	char *d = malloc(n ? n : 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

static int read_family_row(sqlite3_stmt *st, struct family_data *f)
{
	memset(f, 0, sizeof *f);
	f->name = strdup((const char *)sqlite3_column_text(st, 1));
	f->type = sqlite3_column_int(st, 2);
	f->help = strdup((const char *)sqlite3_column_text(st, 3));
	const char *labels = (const char *)sqlite3_column_text(st, 4);
	f->nbuckets = sqlite3_column_bytes(st, 5) / (int)sizeof(double);
	f->buckets = (double *)dup_blob(sqlite3_column_blob(st, 5), (size_t)f->nbuckets * sizeof(double));
	struct family_def def = {.type = (uint32_t)f->type};
	if (f->nbuckets > PF_BUCKETS_MAX || native_columns(st, 6, &def) != 0)
		return -1;
	f->native = (int)def.native;
	f->native_schema = def.schema;
	f->native_zero_threshold = def.zero_threshold;
	f->ncells = model_family_cells(f->type, f->nbuckets, f->native);
	if (!f->name || !f->help || !f->buckets || f->ncells < 1)
		return -1;
	f->labels = calloc(PF_LABELS_MAX, sizeof *f->labels);
	if (!f->labels)
		return -1;
	for (const char *p = labels; p && *p && f->nlabels < PF_LABELS_MAX;) {
		size_t l = strcspn(p, ",");
		if (!(f->labels[f->nlabels++] = strndup(p, l)))
			return -1;
		p += l + (p[l] == ',');
	}
	return 0;
}

static int read_series_row(sqlite3_stmt *st, struct family_data *f)
{
	if ((size_t)sqlite3_column_bytes(st, 2) != (size_t)f->ncells * sizeof(double))
		return 0; /* not of this family's shape: skip, never misrender */
	if (f->nseries == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct series_data *s = realloc(f->series, cap * sizeof *s);
		if (!s)
			return -1;
		f->series = s;
		f->cap = cap;
	}
	struct series_data *s = &f->series[f->nseries];
	s->keylen = (size_t)sqlite3_column_bytes(st, 1);
	s->key = dup_blob(sqlite3_column_blob(st, 1), s->keylen);
	s->cells = (double *)dup_blob(sqlite3_column_blob(st, 2), (size_t)f->ncells * sizeof(double));
	s->created = sqlite3_column_double(st, 3);
	s->exemplars = NULL;
	if (!s->key || !s->cells) {
		free(s->key);
		free(s->cells);
		return -1;
	}
	f->nseries++;
	return 0;
}

/* The series of f whose label values are key: f's series come in the
 * store's order, which is memcmp's, shorter first on a tie. */
static struct series_data *series_by_key(struct family_data *f, const void *key, size_t len)
{
	size_t lo = 0, hi = f->nseries;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct series_data *s = &f->series[mid];
		size_t n = s->keylen < len ? s->keylen : len;
		int c = n ? memcmp(s->key, key, n) : 0;
		if (!c)
			c = (s->keylen > len) - (s->keylen < len);
		if (!c)
			return &f->series[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* An exemplar row onto its series; a row that does not fit (the store is
 * damaged) is left out, never rendered. */
static int read_exemplar_row(sqlite3_stmt *st, struct family_data *f)
{
	int n = model_family_exemplars(f->type, f->nbuckets);
	sqlite3_int64 b = sqlite3_column_int64(st, 2);
	double ts = sqlite3_column_double(st, 4);
	const void *key = sqlite3_column_blob(st, 1);
	size_t keylen = (size_t)sqlite3_column_bytes(st, 1);
	const char *labels = sqlite3_column_blob(st, 5);
	int len = sqlite3_column_bytes(st, 5);
	struct series_data *s = series_by_key(f, key ? key : "", keylen);
	if (!s || b < 0 || b >= n || len <= 0 || len > MODEL_EXEMPLAR_BYTES || !labels ||
	    !names_valid_exemplar(labels, (size_t)len) || !isfinite(ts) || ts <= 0)
		return 0;
	if (!s->exemplars && !(s->exemplars = calloc((size_t)n, sizeof *s->exemplars)))
		return -1;
	struct exemplar *x = &s->exemplars[b];
	x->value = sqlite3_column_double(st, 3);
	x->timestamp = ts;
	x->len = (uint32_t)len;
	memcpy(x->labels, labels, (size_t)len);
	return 0;
}

int db_read(struct db *db, struct collection *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_int64 *ids = NULL;
	int r, rc = -1;
	/* One read transaction, so families and series come from one snapshot. */
	db->last_msg[0] = '\0';
	if (exec_pragma(db->h, "BEGIN") != 0) {
		failed(db, sqlite3_extended_errcode(db->h));
		return -1;
	}
	sqlite3_stmt *st = db->st[S_READ_FAM];
	while ((r = row(db, S_READ_FAM)) == 1) {
		if (out->nfamilies == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 16;
			struct family_data *nf = realloc(out->families, cap * sizeof *nf);
			sqlite3_int64 *ni = realloc(ids, cap * sizeof *ni);
			if (nf)
				out->families = nf;
			if (ni)
				ids = ni;
			if (!nf || !ni)
				break;
			out->cap = cap;
		}
		ids[out->nfamilies] = sqlite3_column_int64(st, 0);
		if (read_family_row(st, &out->families[out->nfamilies++]) != 0)
			break;
	}
	done(db, S_READ_FAM);
	if (r != 0)
		goto out;
	st = db->st[S_READ_SERIES];
	while ((r = row(db, S_READ_SERIES)) == 1) {
		sqlite3_int64 fid = sqlite3_column_int64(st, 0);
		for (size_t i = 0; i < out->nfamilies; i++) {
			if (ids[i] == fid) {
				if (read_series_row(st, &out->families[i]) != 0)
					r = -1;
				break;
			}
		}
		if (r < 0)
			break;
	}
	done(db, S_READ_SERIES);
	if (r != 0)
		goto out;
	st = db->st[S_READ_EXEMPLARS];
	while ((r = row(db, S_READ_EXEMPLARS)) == 1) {
		sqlite3_int64 fid = sqlite3_column_int64(st, 0);
		for (size_t i = 0; i < out->nfamilies; i++) {
			if (ids[i] == fid) {
				if (read_exemplar_row(st, &out->families[i]) != 0)
					r = -1;
				break;
			}
		}
		if (r < 0)
			break;
	}
	done(db, S_READ_EXEMPLARS);
	if (r == 0)
		rc = 0;
out:
	exec_pragma(db->h, "COMMIT");
	free(ids);
	if (rc != 0)
		model_collection_free(out);
	return rc;
}

int db_data_version(struct db *db, long long *version)
{
	db->last_msg[0] = '\0';
	int r = row(db, S_VERSION);
	if (r == 1)
		*version = sqlite3_column_int64(db->st[S_VERSION], 0);
	done(db, S_VERSION);
	return r == 1 ? 0 : -1;
}

/* A family row (id, name, type, help, label_names, buckets) as a
 * definition; 0, or -1 if it does not fit one (a damaged store). */
static int row_def(sqlite3_stmt *st, struct family_def *def)
{
	memset(def, 0, sizeof *def);
	const char *name = (const char *)sqlite3_column_text(st, 1);
	const char *help = (const char *)sqlite3_column_text(st, 3);
	const char *labels = (const char *)sqlite3_column_text(st, 4);
	int nb = sqlite3_column_bytes(st, 5) / (int)sizeof(double);
	def->type = (uint32_t)sqlite3_column_int(st, 2);
	if (!name || !help || strlen(name) >= sizeof def->name || strlen(help) >= sizeof def->help ||
	    nb > PF_BUCKETS_MAX)
		return -1;
	strcpy(def->name, name);
	strcpy(def->help, help);
	for (const char *p = labels; p && *p;) {
		size_t l = strcspn(p, ",");
		if (def->nlabels == PF_LABELS_MAX || l >= PF_LABEL_NAME_MAX)
			return -1;
		memcpy(def->labels[def->nlabels++], p, l);
		p += l + (p[l] == ',');
	}
	def->nbuckets = (uint32_t)nb;
	if (nb)
		memcpy(def->buckets, sqlite3_column_blob(st, 5), (size_t)nb * sizeof(double));
	if (native_columns(st, 6, def) != 0)
		return -1;
	int cells = model_family_cells((int)def->type, nb, (int)def->native);
	def->ncells = cells > 0 ? (uint32_t)cells : 0;
	return def->ncells > 0 && def->ncells <= MODEL_CELLS_MAX ? 0 : -1;
}

/* An exemplar row (family_id, label_values, bucket, value, ts, labels) as
 * an exemplar: 0, or -1 if it is not a sound one (a damaged store). */
static int row_exemplar(sqlite3_stmt *st, struct exemplar *x)
{
	sqlite3_int64 b = sqlite3_column_int64(st, 2);
	const char *labels = sqlite3_column_blob(st, 5);
	int len = sqlite3_column_bytes(st, 5);
	x->value = sqlite3_column_double(st, 3);
	x->timestamp = sqlite3_column_double(st, 4);
	if (b < 0 || b > PF_BUCKETS_MAX || len <= 0 || len > MODEL_EXEMPLAR_BYTES || !labels ||
	    !names_valid_exemplar(labels, (size_t)len) || isnan(x->value) || !isfinite(x->timestamp) ||
	    x->timestamp <= 0)
		return -1;
	x->len = (uint32_t)len;
	x->pad = 0;
	memcpy(x->labels, labels, (size_t)len);
	return 0;
}

int db_load(struct db *db, const struct db_loader *l, void *arg, long long *version)
{
	int r = 0, rc = -1;
	/* One read transaction: everything from one snapshot. */
	db->last_msg[0] = '\0';
	if (exec_pragma(db->h, "BEGIN") != 0) {
		failed(db, sqlite3_extended_errcode(db->h));
		return -1;
	}
	sqlite3_stmt *st = db->st[S_LOAD_FAM];
	while ((r = row(db, S_LOAD_FAM)) == 1) {
		struct family_def def;
		if (row_def(st, &def) == 0 && l->family(arg, sqlite3_column_int64(st, 0), &def) != 0) {
			r = -2;
			break;
		}
	}
	done(db, S_LOAD_FAM);
	if (r != 0)
		goto out;
	st = db->st[S_LOAD_SERIES];
	while ((r = row(db, S_LOAD_SERIES)) == 1) {
		int bytes = sqlite3_column_bytes(st, 2);
		if (l->series(arg, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
		              (uint32_t)sqlite3_column_bytes(st, 1), sqlite3_column_blob(st, 2),
		              bytes / (int)sizeof(double), sqlite3_column_double(st, 3)) != 0) {
			r = -2;
			break;
		}
	}
	done(db, S_LOAD_SERIES);
	if (r != 0)
		goto out;
	st = db->st[S_READ_EXEMPLARS];
	while (l->exemplar && (r = row(db, S_READ_EXEMPLARS)) == 1) {
		struct exemplar x;
		if (row_exemplar(st, &x) == 0 &&
		    l->exemplar(arg, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
		                (uint32_t)sqlite3_column_bytes(st, 1), (uint32_t)sqlite3_column_int64(st, 2),
		                &x) != 0) {
			r = -2;
			break;
		}
	}
	done(db, S_READ_EXEMPLARS);
	if (r != 0)
		goto out;
	st = db->st[S_LOAD_INC];
	sqlite3_int64 *want = NULL;
	size_t nwant = 0, cap = 0;
	while ((r = row(db, S_LOAD_INC)) == 1) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		sqlite3_int64 id = sqlite3_column_int64(st, 0);
		int w = name ? l->incarnation(arg, id, name, sqlite3_column_int64(st, 2),
		                              sqlite3_column_int(st, 3))
		             : 0;
		if (w > 0 && nwant == cap) {
			cap = cap ? 2 * cap : 64;
			sqlite3_int64 *n = realloc(want, cap * sizeof *n);
			if (!n)
				w = -1;
			else
				want = n;
		}
		if (w < 0) {
			r = -2;
			break;
		}
		if (w > 0)
			want[nwant++] = id;
	}
	done(db, S_LOAD_INC);
	/* the folded rows of the incarnations the caller does not have already */
	st = db->st[S_LOAD_FOLDED];
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		sqlite3_bind_int64(st, 1, want[i]);
		while ((r = row(db, S_LOAD_FOLDED)) == 1) {
			sqlite3_int64 slot = sqlite3_column_int64(st, 0);
			if (slot >= 0 && slot < STAGE_MAX_SLOTS &&
			    l->folded(arg, want[i], (uint32_t)slot, sqlite3_column_blob(st, 1),
			              sqlite3_column_bytes(st, 1) / (int)sizeof(double)) != 0) {
				r = -2;
				break;
			}
		}
		done(db, S_LOAD_FOLDED);
	}
	free(want);
	if (r != 0)
		goto out;
	/* inside the transaction: the version of the snapshot just read */
	r = row(db, S_VERSION);
	if (r == 1) {
		*version = sqlite3_column_int64(db->st[S_VERSION], 0);
		rc = 0;
	}
	done(db, S_VERSION);
out:
	exec_pragma(db->h, "COMMIT");
	return rc;
}
