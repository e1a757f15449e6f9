/* SPDX-License-Identifier: MIT */
/*
 * test_store.c — the store's promises: schema migration, definitions
 * validated, exact totals through record -> fold -> read, idempotent folds,
 * nothing lost or doubled when workers die (SIGKILL, even mid-change),
 * gauges of live workers only, dead incarnations' files and rows removed.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db_read.h"
#include "promfcgi.h"
#include "metrics/scrape.h"
#include "store/stage.h"
#include "store/stage_old.h"
#include "test.h"
#include "util.h"

static char db_path[512];

static void fresh_store(void)
{
	test_new_store(db_path, sizeof db_path, "store");
}

static const struct family_data *family(const struct collection *c, const char *name)
{
	for (size_t i = 0; i < c->nfamilies; i++)
		if (strcmp(c->families[i].name, name) == 0)
			return &c->families[i];
	return NULL;
}

/* Sum over all series of a family: counter/gauge value, or histogram count. */
static double total(const char *name)
{
	return test_total(db_path, name, NULL);
}

static int files_in_stage_dir(void)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s.stage", db_path);
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static int incarnation_rows(void)
{
	struct db *db;
	char err[256];
	if (db_open(db_path, 1000, &db, err, sizeof err) != 0)
		return -1;
	int n = 0;
	int count(void *arg, const char *name);
	db_each_incarnation(db, count, &n);
	db_close(db);
	return n;
}

int count(void *arg, const char *name)
{
	(void)name;
	++*(int *)arg;
	return 0;
}

static pf_family *req_family, *dur_family, *gauge_family;
static pf_series *req, *dur, *gauge;

static void define_app_metrics(void)
{
	static const char *const l[] = {"route", NULL};
	const char *v[] = {"/", NULL};
	req_family = pf_counter("requests_total", "Requests.", l);
	dur_family = pf_histogram("request_duration_seconds", "Durations.", l, NULL, 0);
	gauge_family = pf_gauge("active_requests", "In flight.", NULL);
	req = pf_with(req_family, v);
	dur = pf_with(dur_family, v);
	gauge = pf_with(gauge_family, NULL);
}

/* One request as the hello app records it. */
static void record(double seconds)
{
	pf_begin();
	pf_inc(req);
	pf_observe(dur, seconds);
	pf_commit();
}

static void schema_migration(void)
{
	struct db *db;
	char err[256];
	fresh_store();
	CHECK(db_open(db_path, 1000, &db, err, sizeof err) == 0);
	CHECK(db_schema_version(db) == DB_SCHEMA_VERSION);
	db_close(db);
	/* opening a current store again migrates nothing and fails nothing */
	CHECK(db_open(db_path, 1000, &db, err, sizeof err) == 0);
	CHECK(db_schema_version(db) == DB_SCHEMA_VERSION);
	db_close(db);
}

static void schema_from_the_future_is_refused(void)
{
	char cmd[700];
	struct db *db;
	char err[256] = "";
	fresh_store();
	snprintf(cmd, sizeof cmd, "sqlite3 %s 'PRAGMA user_version = 99'", db_path);
	CHECK(system(cmd) == 0);
	CHECK(db_open(db_path, 1000, &db, err, sizeof err) == -1);
	CHECK(strstr(err, "newer") != NULL);
}

/* A store written by version 1 (this DDL is that version's, frozen here as a
 * fixture) is upgraded in place and keeps its data. */
static void schema_upgrade_from_v1(void)
{
	char cmd[1400];
	fresh_store();
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
	         "INSERT INTO family VALUES(1, 'old_total', 1, 'Old.', '', x'');"
	         /* 42.0 as a little-endian double */
	         "INSERT INTO series VALUES(1, 1, x'', x'0000000000004540');"
	         "PRAGMA user_version = 1;\"",
	         db_path);
	CHECK(system(cmd) == 0);
	struct db *db;
	char err[256];
	CHECK(db_open(db_path, 1000, &db, err, sizeof err) == 0);
	CHECK(db_schema_version(db) == DB_SCHEMA_VERSION);
	struct collection c;
	CHECK(db_read(db, &c) == 0);
	CHECK(c.nfamilies == 1 && c.families[0].nseries == 1);
	if (c.nfamilies == 1 && c.families[0].nseries == 1) {
		CHECK_NUM(c.families[0].series[0].cells[0], 42);
		CHECK_NUM(c.families[0].series[0].created, 0);
	}
	model_collection_free(&c);
	db_close(db);
}

static void definitions_validated(void)
{
	static const char *const le[] = {"le", NULL};
	static const char *const dup[] = {"a", "a", NULL};
	static const char *const bad[] = {"a-b", NULL};
	static const char *const ok[] = {"a", NULL};
	double down[] = {1, 0.5};
	fresh_store();
	CHECK(pf_open(db_path) == 0);
	CHECK(pf_counter("bad name", "h", NULL) == NULL);
	CHECK(pf_counter("__x", "h", NULL) == NULL);
	CHECK(pf_counter("x_total", "", NULL) == NULL);
	CHECK(pf_counter("x_total", NULL, NULL) == NULL);
	CHECK(pf_counter("x_total", "h", bad) == NULL);
	CHECK(pf_counter("x_total", "h", dup) == NULL);
	CHECK(pf_histogram("h_seconds", "h", le, NULL, 0) == NULL);
	CHECK(pf_histogram("h_seconds", "h", NULL, down, 2) == NULL);
	CHECK(pf_counter("le_total", "a counter may have le", le) != NULL);
	pf_family *f = pf_counter("x_total", "h", ok);
	CHECK(f != NULL);
	CHECK(pf_counter("x_total", "h", ok) == f);  /* same definition, same family */
	CHECK(pf_gauge("x_total", "h", ok) == NULL); /* a clash is refused */
	const char *badvalue[] = {"\xff", NULL};
	CHECK(pf_with(f, badvalue) == NULL);
	pf_series *s = pf_with(f, (const char *[]){"v", NULL});
	CHECK(s != NULL);
	CHECK(pf_add(s, -1) == -1); /* counters never go down */
	CHECK(pf_add(s, NAN) == -1);
	CHECK(pf_observe(s, 1) == -1);
	CHECK(pf_inc(NULL) == -1);
	pf_close();
}

static void exact_totals_and_buckets(void)
{
	fresh_store();
	CHECK(pf_open(db_path) == 0);
	define_app_metrics();
	for (int i = 0; i < 1000; i++)
		record(i % 2 ? 0.003 : 0.2); /* 500 in le=0.005, 500 in le=0.25 */
	struct collection c;
	char reason[256];
	CHECK(scrape_collect(db_path, &c, reason, sizeof reason) == 0);
	const struct family_data *h = family(&c, "request_duration_seconds");
	CHECK(h && h->nseries == 1 && h->nbuckets == 14);
	if (h && h->nseries == 1) {
		const double *cells = h->series[0].cells;
		CHECK_NUM(cells[0], 500); /* le 0.005 */
		CHECK_NUM(cells[6], 500); /* le 0.25 */
		CHECK_NUM(cells[14], 0);  /* +Inf only */
		CHECK(fabs(cells[15] - (500 * 0.003 + 500 * 0.2)) < 1e-9);
	}
	model_collection_free(&c);
	CHECK_NUM(total("requests_total"), 1000);
	pf_close();
}

static void folds_are_idempotent(void)
{
	fresh_store();
	CHECK(pf_open(db_path) == 0);
	define_app_metrics();
	for (int i = 0; i < 10; i++)
		record(0.01);
	CHECK_NUM(total("requests_total"), 10);
	CHECK_NUM(total("requests_total"), 10); /* folded again: nothing added */
	record(0.01);
	CHECK_NUM(total("requests_total"), 11);
	CHECK_NUM(total("request_duration_seconds"), 11);
	pf_close();
}

static void graceful_exit_folds_and_cleans_up(void)
{
	fresh_store();
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db_path);
		define_app_metrics();
		for (int i = 0; i < 250; i++)
			record(0.01);
		_exit(pf_close() == 0 ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(files_in_stage_dir() == 0);
	CHECK(incarnation_rows() == 0);
	CHECK_NUM(total("requests_total"), 250);
}

/* Workers killed at random points while a reader scrapes: every scrape sees
 * counters that never decrease, and the end total is exact. */
static void sigkill_loses_nothing(void)
{
	enum { WORKERS = 4, EACH = 5000 };
	fresh_store();
	pid_t pids[WORKERS];
	for (int w = 0; w < WORKERS; w++) {
		if ((pids[w] = fork()) == 0) {
			pf_open(db_path);
			define_app_metrics();
			pf_inc(gauge);
			for (int i = 0; i < EACH; i++)
				record(0.001 * (i % 300));
			raise(SIGSTOP); /* parked with the gauge up until the parent kills it */
			_exit(0);
		}
	}
	double last = 0;
	for (int w = 0; w < WORKERS; w++) {
		int status;
		waitpid(pids[w], &status, WUNTRACED);
		double now = total("requests_total");
		CHECK(isnan(now) || now >= last);
		last = isnan(now) ? last : now;
	}
	CHECK_NUM(total("active_requests"), WORKERS); /* all alive, parked */
	for (int w = 0; w < WORKERS; w++) {
		kill(pids[w], SIGKILL);
		waitpid(pids[w], NULL, 0);
		double now = total("requests_total");
		CHECK(now >= last);
		last = now;
	}
	CHECK_NUM(total("requests_total"), WORKERS * EACH);
	CHECK_NUM(total("request_duration_seconds"), WORKERS * EACH);
	CHECK_NUM(total("active_requests"), 0); /* dead workers' gauges are gone */
	CHECK(files_in_stage_dir() == 0);
	CHECK(incarnation_rows() == 0);
}

/* A kill in the middle of a change, after any number of its cell writes:
 * the reader replays the redo log and sees the whole change. */
static void torn_change_is_replayed(void)
{
	for (uint32_t napply = 0; napply <= 2; napply++) {
		fresh_store();
		pid_t pid = fork();
		if (pid == 0) {
			struct stage s;
			char dir[600];
			stage_dir(db_path, dir);
			if (stage_create(&s, dir) != 0)
				_exit(1);
			struct family_def f = {.type = PF_HISTOGRAM, .nbuckets = 1, .ncells = 3,
			                         .name = "t_seconds", .help = "T.", .buckets = {1}};
			stage_add_family(&s, &f);
			stage_add_slot(&s, 0, "", 0);
			stage_add(&s, 0, 1);     /* one observation of 0.5 */
			stage_add(&s, 2, 0.5);
			stage_commit(&s);
			stage_add(&s, 0, 1);     /* a second, torn */
			stage_add(&s, 2, 0.5);
			stage_commit_torn(&s, napply);
			raise(SIGKILL);
		}
		waitpid(pid, NULL, 0);
		struct collection c;
		char reason[256];
		CHECK(scrape_collect(db_path, &c, reason, sizeof reason) == 0);
		const struct family_data *h = family(&c, "t_seconds");
		CHECK(h && h->nseries == 1);
		if (h && h->nseries == 1) {
			CHECK_NUM(h->series[0].cells[0], 2);
			CHECK_NUM(h->series[0].cells[2], 1.0);
		}
		model_collection_free(&c);
	}
}

/* A change begun but not yet published (seq still even) never happened. */
static void unpublished_change_is_ignored(void)
{
	fresh_store();
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db_path);
		define_app_metrics();
		record(0.01);
		pf_begin();
		pf_inc(req); /* pending in process memory only */
		raise(SIGKILL);
	}
	waitpid(pid, NULL, 0);
	CHECK_NUM(total("requests_total"), 1);
}

static void reused_pid_is_not_the_dead_worker(void)
{
	uint64_t start;
	char boot[STAGE_BOOT_ID_MAX];
	CHECK(proc_start_time(getpid(), &start) == 0);
	CHECK(proc_boot_id(boot, sizeof boot) == 0);
	CHECK(proc_is_live(getpid(), start, boot));
	CHECK(!proc_is_live(getpid(), start + 1, boot)); /* same pid, other start */
	CHECK(!proc_is_live(getpid(), start, "another-boot"));
	/* and /proc's field 22 read the hard way agrees */
	char cmd[128];
	snprintf(cmd, sizeof cmd, "test \"$(cut -d' ' -f22 /proc/%ld/stat)\" = %llu", (long)getpid(),
	         (unsigned long long)start);
	CHECK(system(cmd) == 0);
}

static void live_gauges_are_summed(void)
{
	fresh_store();
	pid_t pids[3];
	for (int w = 0; w < 3; w++) {
		if ((pids[w] = fork()) == 0) {
			pf_open(db_path);
			define_app_metrics();
			pf_set(gauge, w + 1);
			raise(SIGSTOP);
			_exit(0);
		}
		waitpid(pids[w], NULL, WUNTRACED);
	}
	CHECK_NUM(total("active_requests"), 1 + 2 + 3);
	kill(pids[1], SIGKILL);
	waitpid(pids[1], NULL, 0);
	CHECK_NUM(total("active_requests"), 1 + 3);
	kill(pids[0], SIGKILL);
	kill(pids[2], SIGKILL);
	waitpid(pids[0], NULL, 0);
	waitpid(pids[2], NULL, 0);
	CHECK_NUM(total("active_requests"), 0);
}

/* More series than a file of release 0.3.0 held (4,096 slots), and more
 * families (64): the file grows, and every one is made and counted (the
 * 4,089th series was refused before). */
static void staging_file_grows_past_old_limits(void)
{
	static const char *const l[] = {"id", NULL};
	fresh_store();
	CHECK(pf_open(db_path) == 0);
	pf_family *f = pf_counter("many_total", "Many.", l);
	int made = 0, n = 3 * STAGE_V3_SLOTS;
	for (int i = 0; i < n; i++) {
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		pf_series *s = pf_with(f, (const char *[]){v, NULL});
		made += s != NULL;
		pf_inc(s);
		pf_add(s, i % 7);
	}
	int families = 0;
	for (int i = 0; i < 3 * STAGE_V3_FAMILIES; i++) {
		char name[32];
		snprintf(name, sizeof name, "fam%d_total", i);
		pf_series *s = pf_with(pf_counter(name, "F.", NULL), NULL);
		families += s != NULL;
		pf_add(s, i);
	}
	CHECK(made == n && families == 3 * STAGE_V3_FAMILIES);
	double want = 0;
	for (int i = 0; i < n; i++)
		want += 1 + i % 7;
	CHECK_NUM(total("many_total"), want);
	CHECK_NUM(test_nseries(db_path, "many_total"), n);
	CHECK_NUM(total("fam191_total"), 191);
	pf_close();
	CHECK_NUM(total("many_total"), want); /* folded at exit, file gone */
	CHECK_NUM(total("fam0_total"), 0);
	CHECK_NUM(total("fam100_total"), 100);
}

static void burn_cpu(double seconds)
{
	struct timespec t;
	volatile double x = 0;
	do {
		for (int i = 0; i < 100000; i++)
			x += i;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	} while ((double)t.tv_sec + (double)t.tv_nsec / 1e9 < seconds);
}

/* CPU time is kept when a worker goes; memory and fds count live ones only. */
static void process_metrics(void)
{
	fresh_store();
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db_path);
		burn_cpu(0.2);
		_exit(pf_close() == 0 ? 0 : 1);
	}
	waitpid(pid, NULL, 0);
	double cpu = total("process_cpu_seconds_total");
	CHECK(cpu >= 0.2 && cpu < 10);
	if ((pid = fork()) == 0) {
		pf_open(db_path);
		raise(SIGSTOP);
		_exit(0);
	}
	waitpid(pid, NULL, WUNTRACED);
	CHECK(total("process_resident_memory_bytes") > 100000);
	CHECK(total("process_open_fds") >= 3);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(total("process_cpu_seconds_total") >= cpu); /* never backwards */
	CHECK_NUM(total("process_resident_memory_bytes"), 0);
}

/* A scrape keeps the WAL file small however much it folds. */
static void wal_stays_small(void)
{
	static const char *const l[] = {"id", NULL};
	pf_series *s[3000];
	fresh_store();
	CHECK(pf_open(db_path) == 0);
	pf_family *f = pf_counter("wal_total", "W.", l);
	for (int i = 0; i < 3000; i++) {
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		s[i] = pf_with(f, (const char *[]){v, NULL});
	}
	double most = 0;
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 3000; i++)
			pf_inc(s[i]);
		CHECK_NUM(total("wal_total"), 3000.0 * (round + 1));
		if (scrape_last_stats()->wal_bytes > most)
			most = scrape_last_stats()->wal_bytes;
	}
	CHECK(most <= SCRAPE_WAL_TRIM_BYTES);
	pf_close();
}

const struct test store_tests[] = {
    {"store/wal_stays_small", wal_stays_small},
    {"store/process_metrics", process_metrics},
    {"store/schema_migration", schema_migration},
    {"store/schema_from_the_future", schema_from_the_future_is_refused},
    {"store/schema_upgrade_from_v1", schema_upgrade_from_v1},
    {"store/definitions_validated", definitions_validated},
    {"store/exact_totals_and_buckets", exact_totals_and_buckets},
    {"store/folds_are_idempotent", folds_are_idempotent},
    {"store/graceful_exit", graceful_exit_folds_and_cleans_up},
    {"store/sigkill_loses_nothing", sigkill_loses_nothing},
    {"store/torn_change_is_replayed", torn_change_is_replayed},
    {"store/unpublished_change_is_ignored", unpublished_change_is_ignored},
    {"store/reused_pid", reused_pid_is_not_the_dead_worker},
    {"store/live_gauges_are_summed", live_gauges_are_summed},
    {"store/full_staging_file", staging_file_grows_past_old_limits},
    {NULL, NULL},
};
