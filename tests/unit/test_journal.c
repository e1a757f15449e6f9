/* SPDX-License-Identifier: MIT */
/*
 * test_journal.c — the one-shot (CGI) path (store/journal.c): every
 * process that finished is counted once, whatever else happens: records
 * torn by a kill, appends racing a scrape, an appender stopped while a
 * scrape waits, a scrape that dies between its fold and its unlink; a
 * killed process's in-flight gauge goes with it.
 *
 * A one-shot process here is a forked child with REQUEST_METHOD set and
 * fd 0 not a listening socket: pf_open takes the one-shot mode there, as in
 * a CGI program.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/fold.h"
#include "store/journal.h"
#include "store/names.h"
#include "promfcgi.h"
#include "metrics/scrape.h"
#include "test.h"
#include "util.h"

static char db[512], dir[600];

static void fresh(void)
{
	test_new_store(db, sizeof db, "journal");
	snprintf(dir, sizeof dir, "%s.stage", db);
	setenv("REQUEST_METHOD", "GET", 1);
}

static pf_series *requests, *in_flight, *seconds;

static void define(void)
{
	static const char *const l[] = {"route", NULL};
	requests = pf_with(pf_counter("requests_total", "Requests.", l), (const char *[]){"/"});
	seconds = pf_with(pf_histogram("request_duration_seconds", "Durations.", l, NULL, 0),
	                  (const char *[]){"/"});
	in_flight = pf_with(pf_gauge("active_requests", "In flight.", NULL), NULL);
}

/* A one-shot process: n requests' worth, then pf_close. */
static void oneshot(int n)
{
	CHECK(pf_open(db) == 0);
	define();
	for (int i = 0; i < n; i++) {
		pf_begin();
		pf_inc(requests);
		pf_observe(seconds, 0.01);
		pf_commit();
	}
	pf_close();
}

static pid_t spawn(void (*fn)(int), int arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		fn(arg);
		_exit(test_failures ? 1 : 0);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st;
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int files(const char *prefix)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	if (d)
		closedir(d);
	return n;
}

static void no_staging_file_one_record(void)
{
	fresh();
	CHECK(reap(spawn(oneshot, 3)) == 0);
	CHECK(files("w-") == 0); /* the one-shot path creates no staging file */
	CHECK(files(JOURNAL_FILE) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 3);
	CHECK_NUM(test_total(db, "request_duration_seconds", NULL), 3);
	CHECK_NUM(test_total(db, "active_requests", NULL), 0); /* its family is defined */
	CHECK(files(JOURNAL_FILE) == 0 && files("j-") == 0);   /* nothing outlives the scrape */
	CHECK_NUM(test_total(db, "requests_total", NULL), 3);  /* and nothing is folded twice */
}

/* Records round-trip exactly: pack, merge, the same cells; gauges go only
 * in the gauges' record, but every family is named in the totals. */
static void pack_and_merge(void)
{
	static const char *const l[] = {"route", NULL};
	struct stage st;
	struct family_def c, h, g;
	stage_create_anonymous(&st, 0);
	CHECK(st.f != NULL);
	CHECK(names_build_family(&c, PF_COUNTER, "c_total", "C.", l, NULL, 0) == 0);
	CHECK(names_build_family(&h, PF_HISTOGRAM, "h_seconds", "H.", l, (const double[]){1, 2}, 2) == 0);
	CHECK(names_build_family(&g, PF_GAUGE, "g", "G.", NULL, NULL, 0) == 0);
	int fc = stage_add_family(&st, &c), fh = stage_add_family(&st, &h), fg = stage_add_family(&st, &g);
	int sc = stage_add_slot(&st, (uint32_t)fc, "/a", 3), sh = stage_add_slot(&st, (uint32_t)fh, "/a", 3);
	int sg = stage_add_slot(&st, (uint32_t)fg, "", 0);
	stage_add(&st, st.f->slots[sc].cell, 2.5);
	stage_add(&st, st.f->slots[sh].cell + 1, 1); /* 1 < v <= 2 */
	stage_add(&st, st.f->slots[sh].cell + 3, 1.5); /* the sum */
	stage_add(&st, st.f->slots[sg].cell, 7);
	stage_commit(&st);
	char *rec, *gauges;
	size_t len, glen;
	CHECK(journal_pack(st.f, JOURNAL_TOTALS, &rec, &len) == 0);
	CHECK(journal_pack(st.f, JOURNAL_GAUGES, &gauges, &glen) == 0);
	struct stage_snapshot snap;
	unsigned bad = 0;
	memset(&snap, 0, sizeof snap);
	CHECK(journal_merge(rec, len, &snap, &bad) == 0 && bad == 0);
	CHECK(journal_merge(rec, len, &snap, &bad) == 0 && bad == 0); /* twice: summed */
	CHECK(snap.nfamilies == 3 && snap.nslots == 2);
	for (uint32_t i = 0; i < snap.nslots; i++) {
		const struct family_def *f = &snap.families[snap.slots[i].family];
		const double *v = &snap.cells[snap.slots[i].cell];
		CHECK(f->type != PF_GAUGE);
		if (f->type == PF_COUNTER)
			CHECK_NUM(v[0], 5);
		else
			CHECK(v[0] == 0 && v[1] == 2 && v[2] == 0 && v[3] == 3);
	}
	stage_snapshot_free(&snap);
	memset(&snap, 0, sizeof snap);
	CHECK(journal_merge(gauges, glen, &snap, &bad) == 0 && bad == 0);
	CHECK(snap.nfamilies == 1 && snap.nslots == 1 && snap.ncells == 1);
	CHECK_NUM(snap.cells[0], 7);
	stage_snapshot_free(&snap);
	/* any one byte changed: the record is refused whole */
	for (size_t i = 0; i < len; i += 7) {
		memset(&snap, 0, sizeof snap);
		rec[i] ^= 0x20;
		bad = 0;
		CHECK(journal_merge(rec, len, &snap, &bad) == 0);
		CHECK(bad >= 1 && snap.nslots == 0);
		rec[i] ^= 0x20;
		stage_snapshot_free(&snap);
	}
	free(rec);
	free(gauges);
	stage_destroy(&st, 0);
}

/* A fresh store whose journal holds three records of one request each, of
 * equal size: the journal's path, and the size of one record. */
static off_t three_records(char *path, size_t len)
{
	fresh();
	for (int i = 0; i < 3; i++)
		CHECK(reap(spawn(oneshot, 1)) == 0);
	snprintf(path, len, "%s/%s", dir, JOURNAL_FILE);
	struct stat st;
	CHECK(stat(path, &st) == 0);
	return st.st_size / 3;
}

static void torn_and_damaged_records_are_skipped(void)
{
	char path[700];
	off_t one = three_records(path, sizeof path);
	struct stat st = {.st_size = 3 * one};
	/* a fourth record cut short, as by a kill mid-write, then a fifth whole */
	int fd = open(path, O_RDWR);
	char *buf = malloc((size_t)one);
	CHECK(pread(fd, buf, (size_t)one, 0) == one);
	CHECK(pwrite(fd, buf, (size_t)one / 2, st.st_size) == one / 2);
	CHECK(pwrite(fd, buf, (size_t)one, st.st_size + one / 2) == one);
	/* and one byte flipped in the second record's cells */
	char c;
	CHECK(pread(fd, &c, 1, one + one - 9) == 1);
	c ^= 0x40;
	CHECK(pwrite(fd, &c, 1, one + one - 9) == 1);
	close(fd);
	free(buf);
	/* 5 records written whole or not: 1st, 3rd and 5th sound */
	CHECK_NUM(test_total(db, "requests_total", NULL), 3);
}

/* Many processes append while scrapes rename the journal aside again and
 * again: every record lands in exactly one drained journal. */
static void appends_race_scrapes(void)
{
	enum { PROCS = 16, EACH = 40 };
	fresh();
	pid_t kids[PROCS];
	double seen = 0, last = 0;
	int monotonic = 1, go[2];
	CHECK(pipe(go) == 0);
	for (int k = 0; k < PROCS; k++) {
		fflush(NULL);
		kids[k] = fork();
		if (kids[k] == 0) {
			char x;
			close(go[1]);
			/* all start at once, into a staging directory none has made yet */
			if (read(go[0], &x, 1) != 0)
				_exit(1);
			for (int i = 0; i < EACH; i++)
				if (reap(spawn(oneshot, 1)) != 0)
					_exit(1);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]); /* go */
	for (int i = 0; i < 200; i++) {
		seen = test_total(db, "requests_total", NULL);
		if (seen == seen) { /* NaN before the first record */
			monotonic &= seen >= last;
			last = seen;
		}
		if (seen == PROCS * EACH)
			break;
	}
	for (int k = 0; k < PROCS; k++)
		CHECK(reap(kids[k]) == 0);
	CHECK(monotonic);
	CHECK_NUM(test_total(db, "requests_total", NULL), PROCS * EACH);
	CHECK_NUM(test_total(db, "requests_total", NULL), PROCS * EACH);
	CHECK(files("j-") == 0 && files(JOURNAL_FILE) == 0);
}

/* An appender that holds a journal (stopped mid-append) does not make a
 * scrape wait past its bound, and its journal is folded once it lets go. */
static void stopped_appender_delays_not_loses(void)
{
	fresh();
	CHECK(reap(spawn(oneshot, 2)) == 0);
	char path[700];
	snprintf(path, sizeof path, "%s/%s", dir, JOURNAL_FILE);
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(flock(fd, LOCK_SH) == 0);
	CHECK(isnan(test_total(db, "requests_total", NULL))); /* renamed aside, not yet folded */
	CHECK(files("j-") == 1);
	CHECK(reap(spawn(oneshot, 1)) == 0); /* a new journal meanwhile */
	close(fd);
	CHECK_NUM(test_total(db, "requests_total", NULL), 3);
	CHECK(files("j-") == 0);
}

/* A scrape that dies between its fold's commit and the unlink leaves a
 * retired row: the next scrape removes the file without folding it again. */
static void fold_then_crash_before_unlink(void)
{
	fresh();
	CHECK(reap(spawn(oneshot, 5)) == 0);
	char from[700], to[700];
	snprintf(from, sizeof from, "%s/%s", dir, JOURNAL_FILE);
	snprintf(to, sizeof to, "%s/j-crashed", dir);
	CHECK(rename(from, to) == 0);
	struct stage_snapshot snap;
	unsigned bad = 0;
	CHECK(journal_read(to, 10, &snap, &bad) == 0 && bad == 0);
	struct db *h;
	char err[256];
	CHECK(db_open(db, 1000, &h, err, sizeof err) == 0);
	CHECK(fold_snapshot(h, &snap, 1) == DB_FOLDED); /* committed; "crash": no unlink */
	db_close(h);
	stage_snapshot_free(&snap);
	CHECK_NUM(test_total(db, "requests_total", NULL), 5);
	CHECK(files("j-") == 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 5);
}

/* While a one-shot request runs, its in-flight gauge is seen; killed, it
 * goes at the next scrape (the kernel drops its marker's lock). */
static void in_flight_seen_and_gone_when_killed(void)
{
	fresh();
	int ready[2];
	CHECK(pipe(ready) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		define();
		pf_inc(in_flight);
		pf_publish();
		CHECK(write(ready[1], "x", 1) == 1);
		pause(); /* killed here, mid-request */
		_exit(0);
	}
	char x;
	CHECK(read(ready[0], &x, 1) == 1);
	CHECK(files("o-") == 1);
	CHECK_NUM(test_total(db, "active_requests", NULL), 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* no process ever finished, so the store does not know the family yet:
	 * no series at all, which a query reads as nothing in flight */
	CHECK(!(test_total(db, "active_requests", NULL) > 0));
	CHECK(isnan(test_total(db, "requests_total", NULL))); /* never finished: never counted */
	CHECK(reap(spawn(oneshot, 1)) == 0); /* one that finishes defines the family: 0 */
	CHECK_NUM(test_total(db, "active_requests", NULL), 0);
	CHECK(files("o-") == 1); /* markers are reused, not made per request */
}

/* Killed after its record is written (just before its response's last
 * bytes would go): counted once. */
static void killed_after_the_record_counts_once(void)
{
	fresh();
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		oneshot(1);
		raise(SIGKILL);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 1);
}

/* A family defined differently by two programs: the first definition
 * folded wins, the other's records are rejected (and said), never mixed. */
static void clashing_definitions(void)
{
	fresh();
	CHECK(reap(spawn(oneshot, 2)) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		pf_inc(pf_with(pf_gauge("requests_total", "Not a counter.", NULL), NULL));
		pf_close();
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 2);
}

/* Records of one program repeat their definitions byte for byte, and the
 * drain builds each once (journal_read.c, def_cache); a record whose definition
 * differs, here by a name no longer valid under a checksum made right
 * again, is checked afresh and refused, not matched to the others'. */
static void repeated_definitions_checked_once_each(void)
{
	char path[700];
	size_t one = (size_t)three_records(path, sizeof path);
	unsigned char *rec = malloc(one);
	int fd = open(path, O_RDWR);
	CHECK(rec && fd >= 0 && pread(fd, rec, one, (off_t)(2 * one)) == (ssize_t)one);
	uint32_t len;
	memcpy(&len, rec + 4, 4);
	CHECK(len == one);
	rec[16 + 8] = '-'; /* the first family's name: no metric name starts so */
	uint32_t h = 2166136261u; /* FNV-1a of what follows the check, as journal_pack.c */
	for (size_t i = 12; i < one; i++)
		h = (h ^ rec[i]) * 16777619u;
	memcpy(rec + 8, &h, 4);
	CHECK(pwrite(fd, rec, one, (off_t)(2 * one)) == (ssize_t)one);
	close(fd);
	free(rec);
	CHECK_NUM(test_total(db, "requests_total", NULL), 2);
}

const struct test journal_tests[] = {
    {"journal/no_staging_file_one_record", no_staging_file_one_record},
    {"journal/pack_and_merge", pack_and_merge},
    {"journal/torn_and_damaged_records_are_skipped", torn_and_damaged_records_are_skipped},
    {"journal/repeated_definitions_checked_once_each", repeated_definitions_checked_once_each},
    {"journal/appends_race_scrapes", appends_race_scrapes},
    {"journal/stopped_appender_delays_not_loses", stopped_appender_delays_not_loses},
    {"journal/fold_then_crash_before_unlink", fold_then_crash_before_unlink},
    {"journal/in_flight_seen_and_gone_when_killed", in_flight_seen_and_gone_when_killed},
    {"journal/killed_after_the_record_counts_once", killed_after_the_record_counts_once},
    {"journal/clashing_definitions", clashing_definitions},
    {NULL, NULL},
};
