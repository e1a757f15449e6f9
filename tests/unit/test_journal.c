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
#include "store/native.h"
#include "store/stage.h"
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
	requests = pf_with(pf_counter("requests_total", "Requests.", l), (const char *[]){"/", NULL});
	seconds = pf_with(pf_histogram("request_duration_seconds", "Durations.", l, NULL, 0),
	                  (const char *[]){"/", NULL});
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
	CHECK(st.h != NULL);
	CHECK(names_build_family(&c, PF_COUNTER, "c_total", "C.", l, NULL, 0) == 0);
	CHECK(names_build_family(&h, PF_HISTOGRAM, "h_seconds", "H.", l, (const double[]){1, 2}, 2) == 0);
	CHECK(names_build_family(&g, PF_GAUGE, "g", "G.", NULL, NULL, 0) == 0);
	int fc = stage_add_family(&st, &c), fh = stage_add_family(&st, &h), fg = stage_add_family(&st, &g);
	long sc = stage_add_slot(&st, (uint32_t)fc, "/a", 3), sh = stage_add_slot(&st, (uint32_t)fh, "/a", 3);
	long sg = stage_add_slot(&st, (uint32_t)fg, "", 0);
	stage_add(&st, stage_slot(&st, (uint64_t)sc)->cell, 2.5);
	stage_add(&st, stage_slot(&st, (uint64_t)sh)->cell + 1, 1); /* 1 < v <= 2 */
	stage_add(&st, stage_slot(&st, (uint64_t)sh)->cell + 3, 1.5); /* the sum */
	stage_add(&st, stage_slot(&st, (uint64_t)sg)->cell, 7);
	stage_commit(&st);
	char *rec, *gauges;
	size_t len, glen;
	CHECK(journal_pack(&st, JOURNAL_TOTALS, &rec, &len) == 0);
	CHECK(journal_pack(&st, JOURNAL_GAUGES, &gauges, &glen) == 0);
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

/* ---- records of two versions, no limits, sparse native parts --------------- */

/* A one-shot process's totals in every kind of family: counters, a
 * classic histogram, a native one (both signs, the zero bucket; with far,
 * its windows moved off where an empty series has them), a gauge and
 * exemplars.  Its native series' cells go to ref (NULL: not wanted). */
static void fill_stage(struct stage *st, int far, double *ref)
{
	static const char *const l[] = {"route", NULL};
	struct family_def c, h, n, g;
	stage_create_anonymous(st, 0);
	CHECK(names_build_family(&c, PF_COUNTER, "c_total", "C.", l, NULL, 0) == 0);
	CHECK(names_build_family(&h, PF_HISTOGRAM, "h_seconds", "H.", l, (const double[]){1, 2}, 2) == 0);
	CHECK(names_build_family(&n, PF_HISTOGRAM, "n_seconds", "N.", l, NULL, 0) == 0 &&
	      names_build_native(&n, 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT) == 0);
	CHECK(names_build_family(&g, PF_GAUGE, "g", "G.", NULL, NULL, 0) == 0);
	int fc = stage_add_family(st, &c), fh = stage_add_family(st, &h);
	int fn = stage_add_family(st, &n), fg = stage_add_family(st, &g);
	for (int k = 0; k < 3; k++) {
		char route[8];
		int len = snprintf(route, sizeof route, "/%d", k) + 1;
		long sc = stage_add_slot(st, (uint32_t)fc, route, (uint32_t)len);
		long sh = stage_add_slot(st, (uint32_t)fh, route, (uint32_t)len);
		long sn = stage_add_slot(st, (uint32_t)fn, route, (uint32_t)len);
		double *cells = stage_cell(st, stage_slot(st, (uint64_t)sn)->cell);
		for (int i = 0; i < 20; i++) { /* through the API's own arithmetic, at rest */
			double v = (i % 5 == 0 ? -1 : 1) * 0.001 * (i + 1) * (k + 1);
			native_observe(cells + 2, i == 7 ? 0 : v);
			cells[0] += 1;
			cells[1] += v;
		}
		if (far) {
			native_observe(cells + 2, 1e9 * (k + 1));
			cells[0] += 1;
			cells[1] += 1e9 * (k + 1);
		}
		if (ref && k == 2)
			memcpy(ref, cells + 2, NATIVE_CELLS * sizeof *ref);
		stage_add(st, stage_slot(st, (uint64_t)sc)->cell, 2.5 + k);
		stage_add(st, stage_slot(st, (uint64_t)sh)->cell + 1, 1);
		stage_add(st, stage_slot(st, (uint64_t)sh)->cell + 3, 1.5);
		uint64_t x = 0;
		char trace[16];
		snprintf(trace, sizeof trace, "t%d", k);
		char enc[MODEL_EXEMPLAR_BYTES];
		int el = names_encode_exemplar((const char *const[]){"trace_id", trace, NULL}, enc);
		stage_exemplar(st, &x, (uint32_t)sc, 0, 1, 1000 + k, enc, (uint32_t)el);
	}
	stage_add(st, stage_slot(st, (uint64_t)stage_add_slot(st, (uint32_t)fg, "", 0))->cell, 7);
	stage_commit(st);
}

static int same_snapshots(const struct stage_snapshot *a, const struct stage_snapshot *b)
{
	if (a->nfamilies != b->nfamilies || a->nslots != b->nslots || a->ncells != b->ncells ||
	    a->nexemplars != b->nexemplars ||
	    memcmp(a->cells, b->cells, a->ncells * sizeof *a->cells) != 0)
		return 0;
	for (uint32_t i = 0; i < a->nfamilies; i++)
		if (memcmp(&a->families[i], &b->families[i], sizeof a->families[i]) != 0)
			return 0;
	for (uint32_t i = 0; i < a->nslots; i++)
		if (a->slots[i].family != b->slots[i].family || a->slots[i].cell != b->slots[i].cell ||
		    a->slots[i].keylen != b->slots[i].keylen ||
		    memcmp(a->slots[i].key, b->slots[i].key, a->slots[i].keylen) != 0)
			return 0;
	for (uint32_t i = 0; i < a->nexemplars; i++)
		if (a->exemplars[i].slot != b->exemplars[i].slot ||
		    a->exemplars[i].x.timestamp != b->exemplars[i].x.timestamp ||
		    a->exemplars[i].x.len != b->exemplars[i].x.len ||
		    memcmp(a->exemplars[i].x.labels, b->exemplars[i].x.labels, a->exemplars[i].x.len))
			return 0;
	return 1;
}

/* Release 0.3.0's records (version 1, every native cell) and this
 * release's (version 2, native parts sparse) of the same totals drain to
 * the same snapshot, alone or after each other, with the windows where an
 * empty series has them (buckets added in place) or moved (merged the
 * native way); a journal holding both kinds is folded exactly. */
static void records_of_both_versions_drain_exactly(void)
{
	for (int far = 0; far < 2; far++) {
		struct stage st;
		double ref[NATIVE_CELLS], twice[NATIVE_CELLS];
		fill_stage(&st, far, ref);
		char *v1, *v2;
		size_t l1, l2;
		CHECK(test_journal_v1(&st, 0, &v1, &l1) == 0);
		CHECK(journal_pack(&st, JOURNAL_TOTALS, &v2, &l2) == 0);
		fprintf(stderr, "  record: %zu bytes in version 1, %zu in version 2%s\n", l1, l2,
		        far ? " (windows moved)" : "");
		CHECK(l2 * 3 < l1); /* three native series: a few buckets each, not 327 cells */
		struct stage_snapshot a, b;
		unsigned bad = 0;
		memset(&a, 0, sizeof a);
		memset(&b, 0, sizeof b);
		CHECK(journal_merge(v1, l1, &a, &bad) == 0 && journal_merge(v2, l2, &b, &bad) == 0);
		CHECK(bad == 0 && a.nslots == 9 && same_snapshots(&a, &b));
		/* each after the other, in both orders: the same sums */
		CHECK(journal_merge(v2, l2, &a, &bad) == 0 && journal_merge(v1, l1, &b, &bad) == 0);
		CHECK(bad == 0 && same_snapshots(&a, &b));
		memcpy(twice, ref, sizeof twice);
		CHECK(native_merge(twice, ref) == 0);
		const struct stage_slot *n2 = &a.slots[8];
		CHECK(strcmp(a.families[n2->family].name, "n_seconds") == 0);
		CHECK(memcmp(&a.cells[n2->cell + 2], twice, sizeof twice) == 0);
		stage_snapshot_free(&a);
		stage_snapshot_free(&b);
		/* a journal with both kinds, folded by a scrape */
		fresh();
		unsetenv("REQUEST_METHOD");
		CHECK(mkdir(dir, 0770) == 0);
		CHECK(journal_append(dir, v1, l1) == 0 && journal_append(dir, v2, l2) == 0);
		for (int i = 0; i < 2; i++) {
			CHECK_NUM(test_total(db, "c_total", NULL), 2 * (2.5 + 3.5 + 4.5));
			CHECK_NUM(test_total(db, "h_seconds", NULL), 2 * 3);
			CHECK_NUM(test_total(db, "n_seconds", NULL), 2 * 3 * (20 + far));
			struct exemplar x;
			CHECK(test_exemplar(db, "c_total", (const char *const[]){"/2", NULL}, 0, &x) == 1);
			CHECK_NUM(x.timestamp, 1002);
		}
		free(v1);
		free(v2);
		stage_destroy(&st, 0);
	}
}

/* Fifty one-shot processes, each with one observation of its own size
 * (1e-6 to 1e4: each record's window placed where its value fell; over
 * all of them the span outgrows a window and the schema goes down):
 * drained from records of this release (sparse, added in place where they
 * fit) and of 0.3.0 (every cell, merged the native way), the same native
 * series, bit for bit, and the same as native.c's own merge. */
static void sparse_records_merge_exactly(void)
{
	static const char *const l[] = {"route", NULL};
	struct family_def n;
	CHECK(names_build_family(&n, PF_HISTOGRAM, "n_seconds", "N.", l, NULL, 0) == 0 &&
	      names_build_native(&n, 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT) == 0);
	struct stage_snapshot a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	double ref[NATIVE_CELLS];
	native_init(ref, 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
	unsigned bad = 0;
	for (int k = 0; k < 50; k++) {
		struct stage st;
		stage_create_anonymous(&st, 0);
		stage_add_family(&st, &n);
		double *cells = stage_cell(&st, stage_slot(&st, (uint64_t)stage_add_slot(&st, 0, "/", 2))->cell);
		double v = pow(10, -6 + k * 0.2) * (k % 7 == 3 ? -1 : 1);
		native_observe(cells + 2, v);
		cells[0] += 1;
		cells[1] += v;
		CHECK(native_merge(ref, cells + 2) == 0);
		char *r1, *r2;
		size_t l1, l2;
		CHECK(test_journal_v1(&st, 0, &r1, &l1) == 0 && journal_pack(&st, JOURNAL_TOTALS, &r2, &l2) == 0);
		CHECK(journal_merge(r1, l1, &a, &bad) == 0 && journal_merge(r2, l2, &b, &bad) == 0);
		free(r1);
		free(r2);
		stage_destroy(&st, 0);
	}
	CHECK(bad == 0 && a.nslots == 1 && same_snapshots(&a, &b));
	CHECK(ref[NATIVE_SCHEMA] < 3); /* the schema went down on the way */
	CHECK(memcmp(&b.cells[b.slots[0].cell + 2], ref, sizeof ref) == 0);
	CHECK_NUM(b.cells[b.slots[0].cell], 50);
	stage_snapshot_free(&a);
	stage_snapshot_free(&b);
}

/* No count in a record has a limit: 100 families and 70,000 series in one
 * record (version 1 counted them in 16 bits), 5,000 gauges in a marker
 * (read up to 64 KiB before). */
static void records_without_limits(void)
{
	static const char *const l[] = {"id", NULL};
	struct stage st;
	stage_create_anonymous(&st, 0);
	for (int f = 0; f < 100; f++) {
		struct family_def d;
		char name[32];
		snprintf(name, sizeof name, "many%d_total", f);
		CHECK(names_build_family(&d, PF_COUNTER, name, "M.", l, NULL, 0) == 0);
		CHECK(stage_add_family(&st, &d) == f);
	}
	for (long i = 0; i < 70000; i++) {
		char key[16];
		int len = snprintf(key, sizeof key, "%ld", i) + 1;
		long s = stage_add_slot(&st, (uint32_t)(i % 100), key, (uint32_t)len);
		CHECK(s == i);
		*stage_cell(&st, stage_slot(&st, (uint64_t)s)->cell) = (double)i;
	}
	char *rec;
	size_t len;
	CHECK(journal_pack(&st, JOURNAL_TOTALS, &rec, &len) == 0);
	struct stage_snapshot snap;
	unsigned bad = 0;
	memset(&snap, 0, sizeof snap);
	CHECK(journal_merge(rec, len, &snap, &bad) == 0 && bad == 0);
	CHECK(snap.nfamilies == 100 && snap.nslots == 70000);
	double sum = 0;
	for (uint32_t i = 0; i < snap.nslots; i++)
		sum += snap.cells[snap.slots[i].cell];
	CHECK_NUM(sum, 69999.0 * 70000 / 2);
	stage_snapshot_free(&snap);
	free(rec);
	stage_destroy(&st, 0);
	/* a marker of 5,000 gauges */
	fresh();
	CHECK(mkdir(dir, 0770) == 0);
	stage_create_anonymous(&st, 0);
	struct family_def g;
	CHECK(names_build_family(&g, PF_GAUGE, "busy", "B.", l, NULL, 0) == 0);
	stage_add_family(&st, &g);
	for (long i = 0; i < 5000; i++) {
		char key[32];
		int kl = snprintf(key, sizeof key, "worker-%ld", i) + 1;
		*stage_cell(&st, stage_slot(&st, (uint64_t)stage_add_slot(&st, 0, key, (uint32_t)kl))->cell) = 1;
	}
	CHECK(journal_pack(&st, JOURNAL_GAUGES, &rec, &len) == 0);
	CHECK(len > 65536);
	int fd = journal_mark(dir, -1, rec, len);
	CHECK(fd >= 0);
	char path[700];
	snprintf(path, sizeof path, "%s/o-0", dir);
	pid_t pid = fork();
	if (pid == 0) { /* another process reads it while this one holds it */
		CHECK(journal_read_marker(path, &snap) == 1 && snap.nslots == 5000);
		stage_snapshot_free(&snap);
		_exit(test_failures ? 1 : 0);
	}
	CHECK(reap(pid) == 0);
	close(fd);
	free(rec);
	stage_destroy(&st, 0);
}

const struct test journal_tests[] = {
    {"journal/no_staging_file_one_record", no_staging_file_one_record},
    {"journal/pack_and_merge", pack_and_merge},
    {"journal/records_of_both_versions_drain_exactly", records_of_both_versions_drain_exactly},
    {"journal/records_without_limits", records_without_limits},
    {"journal/sparse_records_merge_exactly", sparse_records_merge_exactly},
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
