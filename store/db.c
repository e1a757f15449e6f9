/* SPDX-License-Identifier: MIT */
/*
 * db.c — the SQLite store (WAL mode) shared by every worker: its schema and
 * migrations, the connection and its prepared statements, transactions,
 * the store's generations, and the store's health (corruption, the WAL,
 * quarantine, giving freed pages back).  The cells as stored are
 * db_cells.c, the families' rows db_family.c, the series' rows
 * db_series.c, live incarnations' checkpoints db_checkpoint.c, folds
 * db_fold.c, the scrape's read db_load.c, the command-line tool's direct
 * recording db_record.c.
 *
 * Schema (version 5):
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
 *   series(id, family_id, label_values, cells, created, gen,
 *          UNIQUE(family_id, label_values)), index series_by_gen(gen)
 *       the aggregate of every incarnation that ended (and of what the
 *       command-line tool records): one row per series, cells a blob of
 *       native doubles in their stored form (db_cells.c: a native part
 *       packed down to the buckets it uses; see model.h for the cells).
 *       gen: the generation of the transaction that last wrote the row,
 *       one more than any before it (db_gen), so that a reader who has
 *       the rows up to generation G reads only those after (db_load).
 *       Gauges have no rows: they are read live from the staging files of
 *       running workers.
 *   incarnation(id, name UNIQUE, folded_seq, retired, aggregated)
 *       a worker incarnation (its staging file's name) and the seq of the
 *       snapshot last folded.  Its last fold (retired = 1) adds its totals
 *       to the aggregate and drops its checkpoint, in one transaction; the
 *       row is deleted once its file is gone.  aggregated = 1: an
 *       incarnation folded before schema 5, whose folds went into the
 *       aggregate at once, with folded rows saying how much; it is folded
 *       that way until it ends.
 *   checkpoint(incarnation_id PRIMARY KEY, cells)
 *       a live incarnation's totals (cumulative since it began) as of its
 *       folded_seq, packed whole (db_checkpoint.c): what its folds write,
 *       outside the aggregate, one statement however many series changed.
 *       A table of its own: the incarnation rows, read at every reread,
 *       stay small (a column after a blob is reached through its pages).
 *   folded(incarnation_id, slot, cells)
 *       for aggregated incarnations only: what has been added to series
 *       from each slot, so that a fold adds staged - folded: running it
 *       twice adds nothing (cells of the incarnation's own definition,
 *       unpacked; a native part's difference is taken with
 *       native_subtract, whatever the schemas).  Dropped when it retires.
 *   exemplar(series_id, bucket, value, ts, labels)
 *       the latest OpenMetrics exemplar per counter series (bucket 0) and
 *       histogram bucket, of incarnations that ended (live ones' are read
 *       from their files); labels encoded name\0value\0...  Folding keeps
 *       the later timestamp, so folding twice changes nothing; a change
 *       moves its series' row to the new generation.
 *
 * The file gives its freed pages back (auto_vacuum = INCREMENTAL, set when
 * it is made; a store of an earlier release is vacuumed once, db_compact):
 * workers that die leave rows that are deleted soon after, and the file
 * must not keep their high-water mark.
 *
 * Every statement is prepared once per connection from the fixed text below;
 * no SQL is ever built from input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/db_internal.h"
#include "store/path.h"

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
    /* 4 -> 5 (release 0.4.0): generations of series rows, checkpoints of
     * live incarnations; what 0.3.0 folded stays as it was
     * (aggregated); native parts packed by migrate_v5 after this */
    ("ALTER TABLE series ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;"
     "CREATE INDEX series_by_gen ON series(gen);"
     "ALTER TABLE incarnation ADD COLUMN aggregated INTEGER NOT NULL DEFAULT 0;"
     "CREATE TABLE checkpoint(incarnation_id INTEGER PRIMARY KEY, cells BLOB NOT NULL);"
     "UPDATE incarnation SET aggregated = 1;"),
};


static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_INC_GET] = "SELECT i.id, i.folded_seq, i.retired, i.aggregated, c.incarnation_id IS NOT NULL"
                  " FROM incarnation i LEFT JOIN checkpoint c ON c.incarnation_id = i.id"
                  " WHERE i.name = ?1",
    [S_INC_ADD] = "INSERT INTO incarnation(name, folded_seq, retired) VALUES(?1, -1, 0)",
    [S_INC_SET] = "UPDATE incarnation SET folded_seq = ?2 WHERE id = ?1",
    [S_INC_RETIRE] = "UPDATE incarnation SET folded_seq = ?2, retired = 1 WHERE id = ?1",
    [S_CHECKPOINT_PUT] = "INSERT INTO checkpoint(incarnation_id, cells) VALUES(?1, ?2)"
                         " ON CONFLICT(incarnation_id) DO UPDATE SET cells = excluded.cells",
    [S_CHECKPOINT_DROP] = "DELETE FROM checkpoint WHERE incarnation_id = ?1",
    [S_INC_DROP] = "DELETE FROM incarnation WHERE id = ?1",
    [S_FOLDED_DROP] = "DELETE FROM folded WHERE incarnation_id = ?1",
    [S_CHECKPOINT_GET] = "SELECT cells FROM checkpoint WHERE incarnation_id = ?1",
    [S_FAM_ADD] = "INSERT INTO family(name, type, help, label_names, buckets, native_schema,"
                  " zero_threshold) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(name) DO NOTHING",
    [S_FAM_GET] = "SELECT id, type, label_names, buckets, native_schema, zero_threshold"
                  " FROM family WHERE name = ?1",
    [S_FAM_BY_ID] = "SELECT id, name, type, help, label_names, buckets, native_schema,"
                    " zero_threshold FROM family WHERE id = ?1",
    [S_FAM_WIDEN] = "UPDATE family SET native_schema = ?2, zero_threshold = ?3 WHERE id = ?1",
    [S_SERIES_WIDEN] = "UPDATE series SET cells = CAST(cells || ?2 AS BLOB), gen = ?4"
                       " WHERE family_id = ?1 AND length(cells) = ?3",
    [S_FOLDED_GET] = "SELECT cells FROM folded WHERE incarnation_id = ?1 AND slot = ?2",
    [S_FOLDED_PUT] = "INSERT INTO folded(incarnation_id, slot, cells) VALUES(?1, ?2, ?3)"
                     " ON CONFLICT(incarnation_id, slot) DO UPDATE SET cells = excluded.cells",
    [S_SERIES_GET] = "SELECT id, cells FROM series WHERE family_id = ?1 AND label_values = ?2",
    [S_SERIES_ADD] = "INSERT INTO series(family_id, label_values, cells, created, gen)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_SERIES_SET] = "UPDATE series SET cells = ?2, gen = ?3 WHERE id = ?1",
    [S_SERIES_TOUCH] = "UPDATE series SET gen = ?3 WHERE family_id = ?1 AND label_values = ?2",
    [S_GEN_NEXT] = "SELECT coalesce(max(gen), 0) + 1 FROM series",
    [S_GEN_LAST] = "SELECT coalesce(max(gen), 0) FROM series",
    [S_VERSION] = "PRAGMA data_version",
    [S_LOAD_FAM] = "SELECT id, name, type, help, label_names, buckets, native_schema,"
                   " zero_threshold FROM family",
    [S_LOAD_SERIES] = "SELECT family_id, label_values, cells, created FROM series WHERE gen > ?1",
    [S_LOAD_INC] = "SELECT i.id, i.name, i.folded_seq, i.retired, i.aggregated,"
                   " c.incarnation_id IS NOT NULL FROM incarnation i"
                   " LEFT JOIN checkpoint c ON c.incarnation_id = i.id ORDER BY i.id",
    [S_LOAD_FOLDED] = "SELECT slot, cells FROM folded WHERE incarnation_id = ?1",
    [S_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [S_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [S_EXEMPLAR_PUT] = "INSERT INTO exemplar(series_id, bucket, value, ts, labels)"
                       " SELECT id, ?3, ?4, ?5, ?6 FROM series"
                       " WHERE family_id = ?1 AND label_values = ?2"
                       " ON CONFLICT(series_id, bucket) DO UPDATE SET value = excluded.value,"
                       " ts = excluded.ts, labels = excluded.labels WHERE excluded.ts > exemplar.ts",
    [S_READ_EXEMPLARS] = "SELECT s.family_id, s.label_values, e.bucket, e.value, e.ts, e.labels"
                         " FROM series s JOIN exemplar e ON e.series_id = s.id WHERE s.gen > ?1",
    [S_FREELIST] = "PRAGMA freelist_count",
    [S_PAGES] = "PRAGMA page_count",
};

/* Keeps the first failure's message: a ROLLBACK after it would replace it. */
void db_failed(struct db *db, int rc)
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

int db_exec(struct db *db, const char *sql)
{
	return sqlite3_exec(db->h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int db_trim_wal(struct db *db, int busy_ms)
{
	/* TRUNCATE would wait on the busy handler for readers and writers: wait
	 * for no one; the next scrape tries again. */
	sqlite3_busy_timeout(db->h, 0);
	int rc = db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
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

int db_quarantine(const char *path, char *moved)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char stamp[32], from[3][PATH_BYTES], to[3][PATH_BYTES];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	if (path_format(moved, "%s.corrupt-%s-%ld", path, stamp, (long)getpid()) != 0)
		return -1;
	/* every name first: the three go together or none does */
	for (int i = 0; i < 3; i++)
		if (path_format(from[i], "%s%s", path, suffix[i]) != 0 ||
		    path_format(to[i], "%s%s", moved, suffix[i]) != 0)
			return -1;
	for (int i = 0; i < 3; i++)
		/* the -wal belongs to the corrupt file: never let it meet a fresh one */
		if (rename(from[i], to[i]) != 0 && i == 0)
			return -1;
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

/* 4 -> 5, after its SQL: every series row of a family with native buckets
 * packed (db_cells.c).  A row that is not of its family's shape is left as
 * it is: readers skip it, as they did. */
static int migrate_v5(struct db *db)
{
	sqlite3_stmt *fam = NULL, *rows = NULL, *set = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(db->h,
	                       "SELECT id, length(buckets) / 8 FROM family WHERE type = ?1"
	                       " AND native_schema IS NOT NULL",
	                       -1, &fam, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db->h, "SELECT id, cells FROM series WHERE family_id = ?1", -1, &rows,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db->h, "UPDATE series SET cells = ?2 WHERE id = ?1", -1, &set, NULL) !=
	        SQLITE_OK)
		goto out;
	sqlite3_bind_int(fam, 1, PF_HISTOGRAM);
	int r;
	while ((r = sqlite3_step(fam)) == SQLITE_ROW) {
		/* what packing needs of the definition: the classic cells' number */
		struct family_def def = {.type = PF_HISTOGRAM, .native = 1};
		sqlite3_int64 nb = sqlite3_column_int64(fam, 1);
		if (nb < 0 || nb > PF_BUCKETS_MAX)
			continue;
		def.nbuckets = (uint32_t)nb;
		def.ncells = (uint32_t)model_family_cells(PF_HISTOGRAM, (int)nb, 1);
		sqlite3_bind_int64(rows, 1, sqlite3_column_int64(fam, 0));
		while ((r = sqlite3_step(rows)) == SQLITE_ROW) {
			double dense[MODEL_CELLS_MAX], packed[DB_PACKED_MAX];
			if ((size_t)sqlite3_column_bytes(rows, 1) != def.ncells * sizeof(double))
				continue;
			memcpy(dense, sqlite3_column_blob(rows, 1), def.ncells * sizeof(double));
			size_t n = db_cells_pack(&def, dense, packed);
			sqlite3_bind_int64(set, 1, sqlite3_column_int64(rows, 0));
			sqlite3_bind_blob(set, 2, packed, (int)(n * sizeof(double)), SQLITE_STATIC);
			if (sqlite3_step(set) != SQLITE_DONE)
				goto out;
			sqlite3_reset(set);
		}
		sqlite3_reset(rows);
		if (r != SQLITE_DONE)
			goto out;
	}
	rc = r == SQLITE_DONE ? 0 : -1;
out:
	sqlite3_finalize(fam);
	sqlite3_finalize(rows);
	sqlite3_finalize(set);
	return rc;
}

/* Runs the migrations a file lacks, in one write transaction, so that two
 * processes opening a new store at once cannot both create it.  Each step
 * is migrations[v] (SQL), then, for 4 -> 5, migrate_v5 (C). */
static int db_migrate(struct db *db, char *err, size_t errlen)
{
	/* A current store needs no write lock: opening must not wait for (or
	 * fail on) another process that holds it. */
	if (db_schema_version(db) == DB_SCHEMA_VERSION)
		return 0;
	if (db_exec(db, "BEGIN IMMEDIATE") != 0)
		goto fail;
	int v = db_schema_version(db);
	if (v < 0)
		goto rollback;
	if (v > DB_SCHEMA_VERSION) {
		db_exec(db, "ROLLBACK");
		snprintf(err, errlen, "store schema version %d is newer than this program's %d", v,
		         DB_SCHEMA_VERSION);
		return -1;
	}
	for (; v < DB_SCHEMA_VERSION; v++) {
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
		if (db_exec(db, migrations[v]) != 0 || (v + 1 == 5 && migrate_v5(db) != 0) ||
		    db_exec(db, pragma) != 0)
			goto rollback;
	}
	if (db_exec(db, "COMMIT") == 0)
		return 0;
rollback:
	snprintf(err, errlen, "schema: %s", sqlite3_errmsg(db->h));
	db_exec(db, "ROLLBACK");
	return -1;
fail:
	snprintf(err, errlen, "schema: %s", sqlite3_errmsg(db->h));
	return -1;
}

/* Whether the file has no page yet (just created). */
static int new_file(struct db *db)
{
	sqlite3_stmt *st;
	int pages = -1;
	if (sqlite3_prepare_v2(db->h, "PRAGMA page_count", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			pages = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	return pages == 0;
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
	 * of the process, only an OS crash may roll back the last ones.  A new
	 * file gives freed pages back (the setting takes only before its first
	 * page is written, so before WAL; an existing file keeps its own, and
	 * setting it there would wait for the write lock). */
	if ((new_file(db) && db_exec(db, "PRAGMA auto_vacuum = INCREMENTAL") != 0) ||
	    db_exec(db, "PRAGMA journal_mode = WAL") != 0 ||
	    db_exec(db, "PRAGMA synchronous = NORMAL") != 0 ||
	    db_exec(db, "PRAGMA journal_size_limit = 4194304") != 0) {
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
	free(db->seen);
	free(db);
}


/* Runs a statement that returns no rows. */
int db_run(struct db *db, enum db_stmt s)
{
	sqlite3_stmt *st = db->st[s];
	if (s == S_BEGIN) {
		db->last_msg[0] = '\0'; /* a new transaction, a new first failure */
		db->gen = 0;             /* and its own generation */
		db->nseen = 0;           /* what it has defined: nothing yet */
	}
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return 0;
	db_failed(db, rc);
	return -1;
}

/* Steps a statement expected to return at most one row: 1 row, 0 none, -1 error.
 * The caller reads the columns and then calls db_done(). */
int db_row(struct db *db, enum db_stmt s)
{
	int rc = sqlite3_step(db->st[s]);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	db_failed(db, rc);
	return -1;
}

void db_done(struct db *db, enum db_stmt s)
{
	sqlite3_reset(db->st[s]);
	sqlite3_clear_bindings(db->st[s]);
}


int db_data_version(struct db *db, long long *version)
{
	db->last_msg[0] = '\0';
	int r = db_row(db, S_VERSION);
	if (r == 1)
		*version = sqlite3_column_int64(db->st[S_VERSION], 0);
	db_done(db, S_VERSION);
	return r == 1 ? 0 : -1;
}


int db_begin(struct db *db)
{
	return db_run(db, S_BEGIN);
}

int db_begin_now(struct db *db)
{
	sqlite3_busy_timeout(db->h, 0);
	int rc = db_run(db, S_BEGIN);
	sqlite3_busy_timeout(db->h, db->busy_ms);
	return rc;
}

int db_commit(struct db *db)
{
	if (db_run(db, S_COMMIT) == 0)
		return 0;
	db_run(db, S_ROLLBACK);
	return -1;
}

void db_rollback(struct db *db)
{
	db_run(db, S_ROLLBACK);
}


sqlite3_int64 db_gen(struct db *db)
{
	if (db->gen > 0)
		return db->gen;
	int r = db_row(db, S_GEN_NEXT);
	if (r == 1)
		db->gen = sqlite3_column_int64(db->st[S_GEN_NEXT], 0);
	db_done(db, S_GEN_NEXT);
	return r == 1 ? db->gen : -1;
}

/* A single-number PRAGMA, or -1. */
static long long pragma_number(struct db *db, enum db_stmt s)
{
	long long v = -1;
	if (db_row(db, s) == 1)
		v = sqlite3_column_int64(db->st[s], 0);
	db_done(db, s);
	return v;
}

int db_compact(struct db *db, int convert)
{
	int rc = 0;
	if (convert && !db->compacted) {
		db->compacted = 1; /* once per connection, whatever comes of it */
		sqlite3_stmt *st;
		int mode = -1;
		if (sqlite3_prepare_v2(db->h, "PRAGMA auto_vacuum", -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				mode = sqlite3_column_int(st, 0);
			sqlite3_finalize(st);
		}
		/* a store of an earlier release: VACUUM rebuilds it with the
		 * setting (once; it waits for no one: busy, it is tried by the
		 * next process) */
		if (mode == 0) {
			sqlite3_busy_timeout(db->h, 0);
			rc = db_exec(db, "PRAGMA auto_vacuum = INCREMENTAL") == 0 &&
			             db_exec(db, "VACUUM") == 0 ? 1 : -1;
			sqlite3_busy_timeout(db->h, db->busy_ms);
			return rc;
		}
	}
	/* pages freed by deleted rows go back to the file system, once they
	 * are a quarter of the file or more (a few pages are kept for reuse) */
	long long freed = pragma_number(db, S_FREELIST), pages = pragma_number(db, S_PAGES);
	if (freed < 8 || freed * 4 < pages)
		return 0;
	sqlite3_busy_timeout(db->h, 0);
	rc = db_exec(db, "PRAGMA incremental_vacuum") == 0 ? 1 : -1;
	sqlite3_busy_timeout(db->h, db->busy_ms);
	return rc;
}

int db_durable(struct db *db, int full)
{
	return db_run(db, full ? S_SYNC_FULL : S_SYNC_NORMAL);
}

