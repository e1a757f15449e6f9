/* SPDX-License-Identifier: MIT */
/*
 * test_robust.c — what a code review found, each a test that failed before
 * its fix: the fold cache trusted after a fold that learnt nothing, rows
 * forgotten while a live worker's file was briefly gone, a failed unlink
 * followed by forgetting, a graceful exit with its file missing, and
 * damaged staging files (wrapped cell index, huge key length, wrong cell
 * count, unterminated names) that crashed or poisoned the scrape.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/db.h"
#include "promfcgi.h"
#include "metrics/scrape.h"
#include "store/stage.h"
#include "store/stage_old.h"
#include "test.h"
#include "util.h"

static char db[512];
static pf_series *req;

static void fresh(void)
{
	test_new_store(db, sizeof db, "robust");
}

static void define(void)
{
	static const char *const l[] = {"route", NULL};
	req = pf_with(pf_counter("requests_total", "Requests.", l), (const char *[]){"/", NULL});
}

static double scraped(const char *name)
{
	return test_total(db, name, NULL);
}

/* 1. A fresh cache filled by the "nothing new" path has fam_ids all 0:
 *    every later fold through it skips every slot. */
static void cache_after_nothing_new_freezes(void)
{
	fresh();
	CHECK(pf_open(db) == 0);
	define();
	pf_inc(req);
	CHECK_NUM(scraped("requests_total"), 1);
	scrape_close(); /* the metrics program restarts; the worker is idle */
	CHECK_NUM(scraped("requests_total"), 1);
	pf_inc(req);
	CHECK_NUM(scraped("requests_total"), 2);
	pf_inc(req);
	CHECK_NUM(scraped("requests_total"), 3);
	pf_close();
	scrape_close();
	CHECK_NUM(scraped("requests_total"), 3);
}

/* 1b. Two metrics processes: the frozen one advances folded_seq without
 *     folding; the other one then trusts its cache -> counts lost for good. */
struct scraper { int cmd, ans; pid_t pid; };

static struct scraper spawn_scraper(void)
{
	int a[2], b[2];
	struct scraper s;
	CHECK(pipe(a) == 0 && pipe(b) == 0);
	if ((s.pid = fork()) == 0) {
		char c;
		while (read(a[0], &c, 1) == 1 && c == 's') {
			double v = scraped("requests_total");
			if (write(b[1], &v, sizeof v) != sizeof v)
				_exit(1);
		}
		_exit(0);
	}
	s.cmd = a[1];
	s.ans = b[0];
	return s;
}

static double ask(struct scraper *s)
{
	double v = NAN;
	CHECK(write(s->cmd, "s", 1) == 1);
	CHECK(read(s->ans, &v, sizeof v) == sizeof v);
	return v;
}

static void two_metrics_processes_lose_counts(void)
{
	fresh();
	struct scraper m1 = spawn_scraper(), m2 = spawn_scraper();
	CHECK(pf_open(db) == 0);
	define();
	pf_inc(req);                /* 1 */
	CHECK_NUM(ask(&m2), 1);     /* m2 folds: cache with real family ids */
	CHECK_NUM(ask(&m1), 1);     /* m1: nothing new -> cache with family ids 0 */
	pf_inc(req);                /* 2 */
	CHECK_NUM(ask(&m1), 2);     /* m1 skips every slot, moves folded_seq on */
	CHECK_NUM(ask(&m2), 2);     /* m2: seq == folded_seq, "nothing new" */
	pf_inc(req);                /* 3 */
	CHECK_NUM(ask(&m2), 3);     /* m2 trusts its cache: adds 1 on top of 1 */
	CHECK(write(m1.cmd, "q", 1) == 1 && write(m2.cmd, "q", 1) == 1);
	waitpid(m1.pid, NULL, 0);
	waitpid(m2.pid, NULL, 0);
	pf_close();                 /* final fold: folded row already == staged */
	CHECK_NUM(scraped("requests_total"), 3);
}

/* 2. A scrape while the staging directory is gone forgets the live worker's
 *    rows; its recreated file is then folded from zero again. */
static void scrape_while_stage_dir_gone_double_counts(void)
{
	char cmd[800];
	fresh();
	CHECK(pf_open(db) == 0);
	define();
	for (int i = 0; i < 5; i++)
		pf_inc(req);
	CHECK_NUM(scraped("requests_total"), 5);
	snprintf(cmd, sizeof cmd, "rm -rf %s.stage", db);
	CHECK(system(cmd) == 0);
	CHECK_NUM(scraped("requests_total"), 5); /* forgets the incarnation's rows */
	for (int i = 0; i < 3; i++)
		pf_inc(req);
	sleep(1);
	pf_maintain();
	CHECK_NUM(scraped("requests_total"), 8);
}

/* 3. Graceful exit while the staging file is missing (before pf_maintain
 *    noticed): what was not yet folded is lost. */
static void close_with_missing_file_loses(void)
{
	char cmd[800];
	fresh();
	CHECK(pf_open(db) == 0);
	define();
	for (int i = 0; i < 5; i++)
		pf_inc(req);
	CHECK_NUM(scraped("requests_total"), 5);
	scrape_close();
	snprintf(cmd, sizeof cmd, "rm -rf %s.stage", db);
	CHECK(system(cmd) == 0);
	for (int i = 0; i < 3; i++)
		pf_inc(req);
	CHECK(pf_close() == 0);
	CHECK_NUM(scraped("requests_total"), 8);
}

static int count_files(const char *prefix)
{
	char dir[600];
	int n = 0;
	snprintf(dir, sizeof dir, "%s.stage", db);
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	if (d)
		closedir(d);
	return n;
}

/* The slot of family's first series in a mapped file, or -1. */
static long slot_of(const struct test_stage *t, const char *family)
{
	for (uint64_t i = 0; i < t->h->count[STAGE_SLOTS]; i++) {
		const struct stage_slot_rec *s = test_stage_elem(t, STAGE_SLOTS, i);
		const struct family_def *f = test_stage_elem(t, STAGE_FAMILIES, s->family);
		if (strcmp(f->name, family) == 0)
			return (long)i;
	}
	return -1;
}

static struct stage_slot_rec *slot_at(const struct test_stage *t, long i)
{
	return test_stage_elem(t, STAGE_SLOTS, (uint64_t)i);
}

/* 4. slot->cell near the top of its type wraps the bounds check in fold_slot. */
static void hostile_slot_cell_wraps(void)
{
	fresh();
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		define();
		pf_inc(req);
		_exit(0); /* dead, not folded */
	}
	waitpid(pid, NULL, 0);
	struct test_stage t;
	CHECK(test_stage_map(db, pid, &t) == 0);
	if (!t.base)
		return;
	long s = slot_of(&t, "requests_total");
	CHECK(s >= 0);
	slot_at(&t, s)->cell = UINT64_MAX; /* + ncells 1 wraps to 0 <= snap->ncells */
	t.h->seq += 2;
	test_stage_unmap(&t);
	struct collection c;
	char reason[256];
	CHECK(scrape_collect(db, &c, reason, sizeof reason) == 0); /* crashed before */
	model_collection_free(&c);
	CHECK(count_files("damaged-") == 1 && count_files("w-") == 0); /* dead: set aside */
}

/* 5. A live worker's gauge slot with a huge keylen: add_gauge reads out of
 *    bounds (fold_slot checks keylen, add_live_gauges does not). */
static void hostile_gauge_keylen(void)
{
	fresh();
	CHECK(pf_open(db) == 0);
	pf_series *g = pf_with(pf_gauge("g", "G.", NULL), NULL);
	pf_set(g, 1);
	struct test_stage t;
	CHECK(test_stage_map(db, getpid(), &t) == 0);
	if (!t.base)
		return;
	long s = slot_of(&t, "g");
	CHECK(s >= 0);
	slot_at(&t, s)->keylen = 200000000u;
	test_stage_unmap(&t);
	struct collection c;
	char reason[256];
	CHECK(scrape_collect(db, &c, reason, sizeof reason) == 0); /* read out of bounds before */
	model_collection_free(&c);
	CHECK(count_files("w-") == 1); /* live: skipped, not moved */
}

/* 6. A counter slot whose family claims ncells = 2: the shape mismatch
 *    poisons the series row, and every worker's later fold of that series
 *    fails (and, via no_folds, every fold after it in the same scrape). */
static void hostile_ncells_poisons_folds(void)
{
	fresh();
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		define();
		pf_inc(req);
		pf_inc(pf_with(pf_counter("other_total", "O.", NULL), NULL));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	struct test_stage t;
	CHECK(test_stage_map(db, pid, &t) == 0);
	if (!t.base)
		return;
	long s = slot_of(&t, "requests_total");
	struct family_def *d = test_stage_elem(&t, STAGE_FAMILIES, slot_at(&t, s)->family);
	d->ncells = 2; /* cells exist: slot is not last */
	CHECK(slot_at(&t, s)->cell + 2 <= t.h->count[STAGE_CELLS]);
	t.h->seq += 2;
	test_stage_unmap(&t);
	scraped("requests_total"); /* folds the dead file alone: a 2-cell counter row */
	/* an honest live worker with the same series, later */
	CHECK(pf_open(db) == 0);
	define();
	pf_inc(req);
	pf_inc(req);
	for (int i = 0; i < 2; i++) {
		double v = scraped("requests_total");
		fprintf(stderr, "  requests_total = %g (2 expected)\n", v);
		CHECK_NUM(v, 2);
	}
}


/* 7. Family strings from the file are not NUL-terminated: strlen runs past
 *    the snapshot's families array (64 families: no slack after it; a file
 *    of this release grows, and the last of them is checked as well). */
static void hostile_family_name_unterminated(void)
{
	fresh();
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		for (int i = 0; i < STAGE_V3_FAMILIES; i++) {
			char n[32];
			snprintf(n, sizeof n, "c%d_total", i);
			pf_counter(n, "C.", NULL);
		}
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	struct test_stage t;
	CHECK(test_stage_map(db, pid, &t) == 0);
	if (!t.base)
		return;
	uint64_t n = t.h->count[STAGE_FAMILIES];
	CHECK(n > STAGE_V3_FAMILIES); /* and the store's own */
	struct family_def *last = test_stage_elem(&t, STAGE_FAMILIES, n - 1);
	memset(last->name, 'a', sizeof last->name);
	memset(last->help, 'b', sizeof last->help);
	memset(last->labels, 'c', sizeof last->labels);
	memset(last->buckets, 'd', sizeof last->buckets);
	t.h->seq += 2;
	test_stage_unmap(&t);
	struct collection c;
	char reason[256];
	CHECK(scrape_collect(db, &c, reason, sizeof reason) == 0); /* read past the array before */
	model_collection_free(&c);
}


/* 8. unlink of a dead worker's file fails (stage dir not writable by the
 *    metrics user): its rows, retired mark included, are forgotten anyway,
 *    and every later scrape folds the whole file again. */
static void unlink_failure_refolds(void)
{
	char dir[256];
	snprintf(dir, sizeof dir, "%s/unl-XXXXXX", getenv("PROMFCGI_TEST_DIR"));
	CHECK(mkdtemp(dir) != NULL);
	chmod(dir, 0777);
	chmod(getenv("PROMFCGI_TEST_DIR"), 0777);
	snprintf(db, sizeof db, "%s/store.db", dir);
	if (getuid() == 0 && setuid(65534) != 0)
		SKIP("cannot drop privileges");
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		define();
		for (int i = 0; i < 5; i++)
			pf_inc(req);
		_exit(0); /* killed, say: not folded */
	}
	waitpid(pid, NULL, 0);
	char sd[600];
	snprintf(sd, sizeof sd, "%s.stage", db);
	CHECK(chmod(sd, 0555) == 0);
	for (int i = 0; i < 3; i++)
		CHECK_NUM(scraped("requests_total"), 5);
	chmod(sd, 0770);
}


/* 9. One damaged dead file whose fold fails validation sets no_folds for the
 *    rest of the scrape, every scrape, and is never removed. */
static void damaged_file_blocks_all_folds(void)
{
	fresh();
	for (int k = 0; k < 8; k++) {
		pid_t pid = fork();
		if (pid == 0) {
			pf_open(db);
			define();
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		struct test_stage t;
		long s = test_stage_map(db, pid, &t) == 0 ? slot_of(&t, "requests_total") : -1;
		CHECK(s >= 0);
		if (s >= 0)
			slot_at(&t, s)->cell = t.h->count[STAGE_CELLS]; /* out of range: fold_slot says -1 */
		test_stage_unmap(&t);
	}
	CHECK(pf_open(db) == 0);
	define();
	pf_inc(req);
	for (int i = 0; i < 3; i++)
		CHECK_NUM(scraped("requests_total"), 1);
}

const struct test robust_tests[] = {
    {"robust/damaged_file_blocks_all_folds", damaged_file_blocks_all_folds},
    {"robust/unlink_failure_refolds", unlink_failure_refolds},
    {"robust/hostile_family_name_unterminated", hostile_family_name_unterminated},
    {"robust/cache_after_nothing_new_freezes", cache_after_nothing_new_freezes},
    {"robust/two_metrics_processes_lose_counts", two_metrics_processes_lose_counts},
    {"robust/scrape_while_stage_dir_gone_double_counts", scrape_while_stage_dir_gone_double_counts},
    {"robust/close_with_missing_file_loses", close_with_missing_file_loses},
    {"robust/hostile_slot_cell_wraps", hostile_slot_cell_wraps},
    {"robust/hostile_gauge_keylen", hostile_gauge_keylen},
    {"robust/hostile_ncells_poisons_folds", hostile_ncells_poisons_folds},
    {NULL, NULL},
};
