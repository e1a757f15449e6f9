/* SPDX-License-Identifier: MIT */
/*
 * test_fold.c — folds of schema 5: a live worker's folds are checkpoints
 * outside the aggregate, its last fold adds its totals and writes nothing
 * it would delete, a checkpoint whose file is gone is never lost (folded
 * when its process is dead, shown while it lives), the store does not keep
 * the high-water mark of a burst of deaths, a scrape reads again only the
 * series rows that changed, and a store of release 0.3.0 (schema 4) keeps
 * what it had, live workers folded the old way included.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "promfcgi.h"
#include "metrics/scrape.h"
#include "store/db_internal.h"
#include "store/native.h"
#include "store/stage.h"
#include "test.h"
#include "util.h"

static char db[512], dir[600];

static void fresh(const char *tag)
{
	test_new_store(db, sizeof db, tag);
	snprintf(dir, sizeof dir, "%s.stage", db);
}

/* One number from the store, read by a connection of its own: -1 if it
 * cannot say. */
static long long query(const char *sql)
{
	struct db *h;
	char err[256];
	long long v = -1;
	if (db_open(db, 1000, &h, err, sizeof err) != 0)
		return -1;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h->h, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	db_close(h);
	return v;
}

/* The name of the only staging file in the store's directory, into name. */
static int only_file(char *name, size_t len)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, "w-", 2) == 0 && n++ == 0)
			snprintf(name, len, "%s", e->d_name);
	if (d)
		closedir(d);
	return n == 1 ? 0 : -1;
}

static pf_series *requests(const char *route)
{
	static const char *const l[] = {"route", NULL};
	return pf_with(pf_counter("requests_total", "Requests.", l), (const char *[]){route, NULL});
}

/* A worker that records n requests, then waits for a byte on go for each
 * more request, until go closes; ready gets a byte after each step. */
static pid_t worker(int n, int go, int ready)
{
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		pf_open(db);
		pf_series *s = requests("/");
		for (int i = 0; i < n; i++)
			pf_inc(s);
		if (write(ready, "r", 1) != 1)
			_exit(1);
		while (read(go, &c, 1) == 1) {
			pf_inc(s);
			if (write(ready, "r", 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	return pid;
}

/* Folds the live workers now (what scrape_idle does once a minute, in a
 * process that has scraped). */
static void fold_live(void)
{
	setenv("PROMFCGI_FOLD_SECONDS", "0", 1);
	scrape_idle();
	unsetenv("PROMFCGI_FOLD_SECONDS");
}

/* A live worker's fold writes its checkpoint and touches no series row; a
 * scrape still shows its counts; its last fold (a scrape that finds it
 * dead) adds them to the aggregate, drops the checkpoint and writes no
 * folded row, in the transaction that retires it. */
static int hooked_folded = -1, hooked_checkpoints = -1, hooked_retired = -1;
static double hooked_total = NAN;

static void at_batch_commit(const char *where)
{
	if (strcmp(where, "batch-committed") != 0)
		return;
	hooked_folded = (int)query("SELECT count(*) FROM folded");
	hooked_checkpoints = (int)query("SELECT count(*) FROM checkpoint");
	hooked_retired = (int)query("SELECT count(*) FROM incarnation WHERE retired = 1");
	hooked_total = (double)query("SELECT count(*) FROM series");
}

static void retiring_fold_writes_nothing_it_deletes(void)
{
	fresh("retire");
	int go[2], ready[2];
	char c;
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid_t pid = worker(10, go[0], ready[1]);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 10);
	fold_live();
	CHECK(query("SELECT count(*) FROM checkpoint") == 1);
	CHECK(query("SELECT count(*) FROM series") == 0); /* the aggregate has only the ended */
	CHECK(query("SELECT count(*) FROM folded") == 0);
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 11);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	stage_test_hook = at_batch_commit;
	CHECK_NUM(test_total(db, "requests_total", NULL), 11);
	stage_test_hook = NULL;
	CHECK(hooked_folded == 0);      /* nothing written to be deleted */
	CHECK(hooked_checkpoints == 0); /* dropped as it retired */
	CHECK(hooked_retired == 1);
	CHECK(hooked_total > 0);
	CHECK(query("SELECT count(*) FROM incarnation") == 0); /* forgotten after the unlink */
	scrape_close();
	CHECK_NUM(test_total(db, "requests_total", NULL), 11);
}

/* Deaths between two scrapes leave rows that the next one deletes: the
 * store file (its pages, free ones included) after 300 of them is within
 * twice its size after 10, workers recording a native histogram as the
 * hello app does. */
static void die_many(int n)
{
	for (int i = 0; i < n; i++) {
		int p[2];
		CHECK(pipe(p) == 0);
		pid_t pid = fork();
		if (pid == 0) {
			static const char *const l[] = {"route", NULL};
			pf_open(db);
			pf_series *d = pf_with(pf_histogram_native("request_duration_seconds", "D.", l,
			                                           pf_default_buckets, pf_default_nbuckets,
			                                           PF_NATIVE_SCHEMA_DEFAULT,
			                                           PF_NATIVE_ZERO_THRESHOLD_DEFAULT),
			                       (const char *[]){"/", NULL});
			pf_series *s = requests("/");
			for (int k = 0; k < 10; k++) {
				pf_begin();
				pf_inc(s);
				pf_observe(d, 0.0001 * (1 + k * 37 % 100));
				pf_commit();
			}
			if (i % 2 == 0)
				_exit(pf_close() == 0 ? 0 : 1);
			if (write(p[1], "k", 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		char c;
		close(p[1]);
		if (i % 2)
			CHECK(read(p[0], &c, 1) == 1);
		close(p[0]);
		if (i % 2)
			kill(pid, SIGKILL);
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
	}
}

static void store_size_bounded_by_deaths(void)
{
	fresh("deaths");
	die_many(10);
	CHECK_NUM(test_total(db, "requests_total", NULL), 100);
	long long at10 = query("PRAGMA page_count");
	die_many(300);
	CHECK_NUM(test_total(db, "requests_total", NULL), 3100);
	long long at310 = query("PRAGMA page_count");
	fprintf(stderr, "  pages after 10 deaths: %lld; after 300 more between two scrapes: %lld\n",
	        at10, at310);
	CHECK(at10 > 0 && at310 > 0 && at310 <= 2 * at10);
	CHECK(query("SELECT count(*) FROM incarnation") == 0);
	CHECK(query("PRAGMA auto_vacuum") == 2);
}

/* Pages freed by deleted rows go back to the file system: a new store's
 * file is made so; one of an earlier release is made so once (a VACUUM). */
static void compact_gives_pages_back(void)
{
	char cmd[1200];
	for (int earlier = 0; earlier < 2; earlier++) {
		fresh("compact");
		if (earlier) /* a file that cannot give pages back, as 0.3.0 made them */
			snprintf(cmd, sizeof cmd, "sqlite3 %s 'PRAGMA journal_mode = WAL; CREATE TABLE t(x);'"
			         " >/dev/null", db);
		CHECK(!earlier || system(cmd) == 0);
		struct db *h;
		char err[256];
		CHECK(db_open(db, 1000, &h, err, sizeof err) == 0);
		long long before = query("PRAGMA page_count");
		/* 2,000 rows of 500 bytes, deleted: what a burst of deaths leaves */
		CHECK(db_exec(h, "BEGIN IMMEDIATE") == 0);
		CHECK(db_exec(h, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
		                 " WHERE i < 2000) INSERT INTO incarnation(name, folded_seq, retired)"
		                 " SELECT printf('w-%0500d', i), 0, 1 FROM n") == 0);
		CHECK(db_exec(h, "DELETE FROM incarnation") == 0);
		CHECK(db_exec(h, "COMMIT") == 0);
		long long burst = query("PRAGMA page_count");
		CHECK(burst > before + 200);
		CHECK(db_compact(h, earlier) == 1);
		long long after = query("PRAGMA page_count");
		fprintf(stderr, "  %s: %lld pages, %lld after the burst, %lld given back to %lld\n",
		        earlier ? "a store of 0.3.0" : "a new store", before, burst, burst - after, after);
		CHECK(after <= before + 8);
		CHECK(query("PRAGMA auto_vacuum") == 2);
		CHECK(db_compact(h, earlier) == 0); /* nothing more to give */
		db_close(h);
	}
}

/* A worker folded while it lived, then killed, and its file deleted by
 * hand before any scrape saw it dead: its checkpoint is all the store has
 * of it, and forgetting it adds it to the aggregate (what it recorded
 * after the checkpoint went with the file). */
static void forgotten_checkpoint_kept(void)
{
	fresh("orphan");
	int go[2], ready[2];
	char c, name[256], path[900];
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid_t pid = worker(7, go[0], ready[1]);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 7);
	fold_live();
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 8);
	scrape_close(); /* a metrics process that never mapped the file */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(only_file(name, sizeof name) == 0);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	CHECK(unlink(path) == 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 7);
	CHECK(query("SELECT count(*) FROM incarnation") == 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 7);
}

/* A live worker's file deleted (its directory removed by hand) and a
 * metrics process that never mapped it: the worker's checkpoint is shown
 * while it lives, folded once it is dead; never less than it was. */
static void checkpoint_shown_while_file_gone(void)
{
	fresh("absent");
	int go[2], ready[2];
	char c, name[256], path[900];
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid_t pid = worker(5, go[0], ready[1]);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 5);
	fold_live();
	scrape_close();
	CHECK(only_file(name, sizeof name) == 0);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	CHECK(unlink(path) == 0);
	for (int i = 0; i < 2; i++)
		CHECK_NUM(test_total(db, "requests_total", NULL), 5);
	CHECK(query("SELECT count(*) FROM incarnation") == 1); /* it lives: kept */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 5);
	CHECK(query("SELECT count(*) FROM incarnation") == 0);
	CHECK(query("SELECT count(*) FROM series") >= 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 5);
}

/* After another process changes one series of a store of 1,000, a scrape
 * reads that row only; after a live fold by another metrics process
 * (checkpoints), none; the values exact throughout. */
static void load(int from, int to, int times)
{
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		for (int i = from; i < to; i++) {
			char route[32];
			snprintf(route, sizeof route, "/%d", i);
			pf_series *s = requests(route);
			for (int k = 0; k < times; k++)
				pf_inc(s);
		}
		_exit(pf_close() == 0 ? 0 : 1);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Another metrics process that folds the live workers once, on a byte
 * (forked before this one opens the store: a connection must not cross
 * fork). */
static pid_t folder(int *cmd)
{
	int a[2];
	CHECK(pipe(a) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(a[1]);
		if (read(a[0], &c, 1) != 1)
			_exit(1);
		CHECK_NUM(test_total(db, "requests_total", NULL), 1007);
		fold_live();
		_exit(test_failures ? 1 : 0);
	}
	close(a[0]);
	*cmd = a[1];
	return pid;
}

static void reread_reads_what_changed(void)
{
	fresh("reread");
	int cmd;
	pid_t other = folder(&cmd);
	load(0, 1000, 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 1000);
	CHECK(scrape_last_stats()->store_rows >= 1000);
	load(500, 501, 2);
	CHECK_NUM(test_total(db, "requests_total", NULL), 1002);
	/* the changed series, and those of the loader's own families */
	unsigned rows = scrape_last_stats()->store_rows;
	fprintf(stderr, "  rows read after one series changed: %u\n", rows);
	CHECK(rows >= 1 && rows < 10);
	load(1000, 1001, 1); /* a new series */
	CHECK_NUM(test_total(db, "requests_total", NULL), 1003);
	CHECK(scrape_last_stats()->store_rows < 10);
	CHECK_NUM(test_total(db, "requests_total", NULL), 1003);
	CHECK(scrape_last_stats()->store_rows == 0); /* nothing changed: not read at all */
	/* another metrics process folds a live worker: a checkpoint, no series row */
	int go[2], ready[2];
	char c;
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid_t w = worker(4, go[0], ready[1]);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK(write(cmd, "f", 1) == 1);
	int st;
	CHECK(waitpid(other, &st, 0) == other && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 1007);
	CHECK(query("SELECT count(*) FROM checkpoint") == 1);
	CHECK(scrape_last_stats()->store_rows == 0);
	kill(w, SIGKILL);
	waitpid(w, NULL, 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 1007);
	scrape_close();
	CHECK_NUM(test_total(db, "requests_total", NULL), 1007); /* read anew: the same */
}

/* Bytes as SQL's hex digits. */
static void hex(char *out, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", ((const unsigned char *)p)[i]);
}

/* A store of release 0.3.0 (schema 4: this DDL is that release's, frozen
 * here as a fixture) with a worker that lives across the upgrade, folded
 * the old way (its folded row in the aggregate), and a native histogram's
 * rows of 327 cells: the counts stay exact while the worker lives, is
 * folded, records and dies (its folded rows dropped, none written); the
 * native rows are packed, their values kept; the file is made to give
 * pages back. */
static void upgrade_from_v4(void)
{
	fresh("v4");
	int go[2], ready[2];
	char c, name[256], path[900];
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid_t pid = worker(10, go[0], ready[1]);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK(only_file(name, sizeof name) == 0);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct stage_snapshot snap;
	CHECK(stage_snapshot(path, &snap) == 0);
	uint32_t slot = UINT32_MAX;
	for (uint32_t i = 0; i < snap.nslots; i++)
		if (strcmp(snap.families[snap.slots[i].family].name, "requests_total") == 0)
			slot = i;
	stage_snapshot_free(&snap);
	CHECK(slot != UINT32_MAX);
	/* the native series: classic bucket 0.5 and +Inf, the sum, 327 cells */
	static double old[3 + NATIVE_CELLS];
	static char old_hex[2 * sizeof old + 1], cmd[sizeof old_hex + 4000];
	static const double values[] = {0.1, 0.2, 0.7, 3, 3.5, -2, 0};
	memset(old, 0, sizeof old);
	native_init(old + 3, 3, 0);
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		old[values[i] <= 0.5 ? 0 : 1] += 1;
		old[2] += values[i];
		native_observe(old + 3, values[i]);
	}
	hex(old_hex, old, sizeof old);
	double four = 4, hundred_and_four = 104;
	char four_hex[17], total_hex[17];
	hex(four_hex, &four, sizeof four);
	hex(total_hex, &hundred_and_four, sizeof hundred_and_four);
	snprintf(cmd, sizeof cmd,
	         "sqlite3 %s \""
	         "CREATE TABLE family(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	         " type INTEGER NOT NULL, help TEXT NOT NULL, label_names TEXT NOT NULL,"
	         " buckets BLOB NOT NULL);"
	         "CREATE TABLE series(id INTEGER PRIMARY KEY,"
	         " family_id INTEGER NOT NULL REFERENCES family(id),"
	         " label_values BLOB NOT NULL, cells BLOB NOT NULL, UNIQUE(family_id, label_values));"
	         "CREATE TABLE incarnation(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	         " folded_seq INTEGER NOT NULL, retired INTEGER NOT NULL);"
	         "CREATE TABLE folded(incarnation_id INTEGER NOT NULL, slot INTEGER NOT NULL,"
	         " cells BLOB NOT NULL, PRIMARY KEY(incarnation_id, slot)) WITHOUT ROWID;"
	         "ALTER TABLE series ADD COLUMN created REAL NOT NULL DEFAULT 0;"
	         "CREATE TABLE exemplar(series_id INTEGER NOT NULL REFERENCES series(id),"
	         " bucket INTEGER NOT NULL, value REAL NOT NULL, ts REAL NOT NULL, labels BLOB NOT NULL,"
	         " PRIMARY KEY(series_id, bucket)) WITHOUT ROWID;"
	         "ALTER TABLE family ADD COLUMN native_schema INTEGER;"
	         "ALTER TABLE family ADD COLUMN zero_threshold REAL NOT NULL DEFAULT 0;"
	         "INSERT INTO family VALUES(1, 'requests_total', 1, 'Requests.', 'route', x'', NULL, 0);"
	         "INSERT INTO family VALUES(2, 'old_seconds', 3, 'Old.', '', x'000000000000e03f', 3, 0);"
	         "INSERT INTO series VALUES(1, 1, x'2f00', x'%s', 1700000000);"
	         "INSERT INTO series VALUES(2, 2, x'', x'%s', 1700000000);"
	         "INSERT INTO incarnation VALUES(1, '%s', 0, 0);"
	         "INSERT INTO folded VALUES(1, %u, x'%s');"
	         "PRAGMA journal_mode = WAL; PRAGMA user_version = 4;\" >/dev/null",
	         db, total_hex, old_hex, name, slot, four_hex);
	CHECK(system(cmd) == 0);
	/* the aggregate 104 (100 of ended workers, 4 of this one's), the worker 10 */
	CHECK_NUM(test_total(db, "requests_total", NULL), 110);
	CHECK(query("PRAGMA user_version") == DB_SCHEMA_VERSION);
	CHECK(query("SELECT aggregated FROM incarnation") == 1);
	CHECK(query("SELECT length(cells) FROM series WHERE id = 2") < (long long)sizeof old / 4);
	double cells[MODEL_CELLS_MAX];
	struct collection col;
	char reason[256];
	CHECK(scrape_collect(db, &col, reason, sizeof reason) == 0);
	int found = 0;
	for (size_t i = 0; i < col.nfamilies; i++)
		if (strcmp(col.families[i].name, "old_seconds") == 0 && col.families[i].nseries == 1) {
			memcpy(cells, col.families[i].series[0].cells, sizeof old);
			found = memcmp(cells, old, sizeof old) == 0;
		}
	model_collection_free(&col);
	CHECK(found); /* every cell as it was, native buckets too */
	fold_live(); /* the old way: staged - folded into the aggregate, folded = staged */
	double ten = 10;
	char ten_hex[17], sql[200];
	hex(ten_hex, &ten, sizeof ten);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM folded WHERE slot = %u AND cells = x'%s'",
	         slot, ten_hex);
	CHECK(query(sql) == 1);
	CHECK(query("SELECT count(*) FROM checkpoint") == 0);
	CHECK(query("PRAGMA auto_vacuum") == 2); /* made to give pages back, once */
	CHECK_NUM(test_total(db, "requests_total", NULL), 110);
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 111);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	stage_test_hook = at_batch_commit;
	CHECK_NUM(test_total(db, "requests_total", NULL), 111);
	stage_test_hook = NULL;
	CHECK(hooked_folded == 0); /* dropped as it retired, none written */
	CHECK(query("SELECT count(*) FROM incarnation") == 0);
	scrape_close();
	CHECK_NUM(test_total(db, "requests_total", NULL), 111);
}

const struct test fold_tests[] = {
    {"fold/upgrade_from_v4", upgrade_from_v4},
    {"fold/retiring_fold_writes_nothing_it_deletes", retiring_fold_writes_nothing_it_deletes},
    {"fold/store_size_bounded_by_deaths", store_size_bounded_by_deaths},
    {"fold/compact_gives_pages_back", compact_gives_pages_back},
    {"fold/forgotten_checkpoint_kept", forgotten_checkpoint_kept},
    {"fold/checkpoint_shown_while_file_gone", checkpoint_shown_while_file_gone},
    {"fold/reread_reads_what_changed", reread_reads_what_changed},
    {NULL, NULL},
};
