/* SPDX-License-Identifier: MIT */
/*
 * test_native_rec.c — native histograms recorded through the whole path:
 * pf_histogram_native, observations in a worker's staging file (an
 * observation outside its window rewrites many cells in one change), the
 * redo log torn at any write and SIGKILL at any instant, folds with native
 * arithmetic (idempotent, across schemas), dead workers folded, the
 * scrape's live merge, the CGI journal, the store's schema 4 and a family
 * that gains native buckets, exemplars, and the limits of a change and of
 * a file.  The oracle is always the same: native_observe applied to the
 * same values, one series, in one process (store/native.c, tested on its
 * own in test_native.c).
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/buf.h"
#include "store/fold.h"
#include "store/native.h"
#include "promfcgi.h"
#include "metrics/protobuf.h"
#include "metrics/render.h"
#include "metrics/scrape.h"
#include "store/stage.h"
#include "test.h"
#include "util.h"

static char db[512];
static const double bounds[] = {0.25, 1, 4};
static const char *const by_route[] = {"route", NULL};
static const char *const slash[] = {"/", NULL};

static void fresh(void)
{
	test_new_store(db, sizeof db, "native");
}

/* nr_seconds: classic (0.25, 1, 4) and native schema 3; nr_only: native
 * only, schema 3; both with the default zero threshold. */
static pf_family *both_family(void)
{
	return pf_histogram_native("nr_seconds", "Native and classic.", by_route, bounds, 3,
	                           PF_NATIVE_SCHEMA_DEFAULT, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
}

static pf_family *only_family(void)
{
	return pf_histogram_native("nr_only", "Native only.", NULL, NULL, 0, 3,
	                           PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
}

/* Value i of a sequence that keeps moving windows and lowering schemas:
 * magnitudes over 2^-32 .. 2^32 in a scattered order, a third negative,
 * some zeros. */
static double wide(long i)
{
	if (i % 17 == 5)
		return 0;
	double v = ldexp(1 + (double)(i % 7) / 7, (int)((i * 37) % 65) - 32);
	return i % 3 == 1 ? -v : v;
}

/* Value i of a sequence that stays inside a few windows (a latency: 1 ms
 * to 2 s), so most observations take the three-cell path. */
static double narrow(long i)
{
	return 0.001 * (double)(1 + (i * 7919) % 2000);
}

/* 120 buckets of each sign at schema 3, one value each, in order; then
 * 2^40. */
static double dense(long i)
{
	if (i >= 240)
		return ldexp(1, 40);
	return (i % 2 ? -1 : 1) * pow(2, (double)(i / 2) / 8 + 1.0 / 16);
}

/* The count of bucket k of one sign, wherever its window is. */
static double bucket(const double *c, int neg, int k)
{
	int start = (int)c[neg ? NATIVE_NEG_START : NATIVE_POS_START];
	if (k < start || k >= start + NATIVE_BUCKETS)
		return 0;
	return c[(neg ? NATIVE_NEG : NATIVE_POS) + k - start];
}

/* Whether two native parts hold the same series: schema, threshold,
 * counts, sum, every bucket (their windows may sit differently). */
static int same_native(const double *a, const double *b)
{
	if (!native_valid(a) || !native_valid(b))
		return 0;
	if (a[NATIVE_SCHEMA] != b[NATIVE_SCHEMA] || a[NATIVE_COUNT] != b[NATIVE_COUNT] ||
	    a[NATIVE_ZERO_COUNT] != b[NATIVE_ZERO_COUNT] ||
	    a[NATIVE_ZERO_THRESHOLD] != b[NATIVE_ZERO_THRESHOLD] ||
	    fabs(a[NATIVE_SUM] - b[NATIVE_SUM]) > 1e-9 * fabs(b[NATIVE_SUM]))
		return 0;
	for (int neg = 0; neg < 2; neg++)
		for (const double *c = a; c; c = c == a ? b : NULL) {
			int start = (int)c[neg ? NATIVE_NEG_START : NATIVE_POS_START];
			for (int k = start; k < start + NATIVE_BUCKETS; k++)
				if (bucket(a, neg, k) != bucket(b, neg, k))
					return 0;
		}
	return 1;
}

static void say_native(const char *what, const double *c)
{
	fprintf(stderr, "  %s: schema %g count %g zero %g sum %.17g starts %g %g\n", what,
	        c[NATIVE_SCHEMA], c[NATIVE_COUNT], c[NATIVE_ZERO_COUNT], c[NATIVE_SUM],
	        c[NATIVE_POS_START], c[NATIVE_NEG_START]);
}

/* The reference: values first..last-1 of seq, observed by native.c alone. */
static void reference(double *ref, double (*seq)(long), long from, long to)
{
	native_init(ref, 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
	for (long i = from; i < to; i++)
		native_observe(ref, seq(i));
}

/* One scrape: the cells of family's series whose first label value is
 * value (NULL: its only series) into cells (MODEL_CELLS_MAX), and the
 * family's nbuckets.  1 found, 0 not, -1 the scrape failed. */
static int scraped(const char *family, const char *value, double *cells, int *nbuckets)
{
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "  scrape failed: %s\n", reason);
		return -1;
	}
	int found = 0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (strcmp(f->name, family) != 0)
			continue;
		for (size_t j = 0; j < f->nseries && !found; j++)
			if (!value || strcmp(f->series[j].key, value) == 0) {
				found = f->native && f->ncells <= MODEL_CELLS_MAX;
				if (found)
					memcpy(cells, f->series[j].cells, (size_t)f->ncells * sizeof *cells);
				*nbuckets = f->nbuckets;
			}
	}
	model_collection_free(&c);
	return found;
}

/* Checks a scraped series against the reference: native part the same,
 * classic count equal to the native count. */
static int matches(const char *family, const char *value, const double *ref)
{
	double cells[MODEL_CELLS_MAX];
	int nb = 0;
	if (scraped(family, value, cells, &nb) != 1) {
		fprintf(stderr, "  %s: no native series\n", family);
		return 0;
	}
	double classic = 0;
	for (int b = 0; b <= nb; b++)
		classic += cells[b];
	const double *n = cells + nb + 2;
	if (!same_native(n, ref) || classic != n[NATIVE_COUNT]) {
		say_native("scraped", n);
		say_native("wanted ", ref);
		fprintf(stderr, "  classic count %g\n", classic);
		return 0;
	}
	return 1;
}

static void define(void)
{
	pf_family *b = both_family(), *o = only_family();
	CHECK(b && o);
	/* the same definition again: the same family */
	CHECK(both_family() == b);
	/* another schema, threshold or bucket layout, or none: a clash */
	CHECK(!pf_histogram_native("nr_seconds", "Native and classic.", by_route, bounds, 3, 2,
	                           PF_NATIVE_ZERO_THRESHOLD_DEFAULT));
	CHECK(!pf_histogram_native("nr_seconds", "Native and classic.", by_route, bounds, 3, 3, 0));
	CHECK(!pf_histogram_native("nr_seconds", "Native and classic.", by_route, bounds, 2, 3,
	                           PF_NATIVE_ZERO_THRESHOLD_DEFAULT));
	CHECK(!pf_histogram("nr_seconds", "Native and classic.", by_route, bounds, 3));
	/* schema -4..8, threshold a finite number >= 0 */
	CHECK(!pf_histogram_native("nr_a", "A.", NULL, NULL, 0, 9, 0));
	CHECK(!pf_histogram_native("nr_b", "B.", NULL, NULL, 0, -5, 0));
	CHECK(!pf_histogram_native("nr_c", "C.", NULL, NULL, 0, 3, -1));
	CHECK(!pf_histogram_native("nr_d", "D.", NULL, NULL, 0, 3, NAN));
	CHECK(!pf_histogram_native("nr_e", "E.", NULL, NULL, 0, 3, INFINITY));
	CHECK(pf_histogram_native("nr_f", "F.", NULL, NULL, 0, -4, 0) != NULL);
	CHECK(pf_histogram_native("nr_g", "G.", NULL, NULL, 0, 8, 1e-3) != NULL);
	/* buckets NULL: native only, whatever nbuckets says */
	CHECK(pf_histogram_native("nr_h", "H.", NULL, NULL, 5, 3, 0) != NULL);
	/* the histogram rules hold: no "le" label, increasing buckets */
	CHECK(!pf_histogram_native("nr_i", "I.", (const char *[]){"le", NULL}, NULL, 0, 3, 0));
	CHECK(!pf_histogram_native("nr_j", "J.", NULL, (const double[]){2, 1}, 2, 3, 0));
	/* not a counter's, a gauge's */
	pf_series *s = pf_with(o, NULL);
	CHECK(pf_add(s, 1) == -1 && pf_set(s, 1) == -1 && pf_inc(s) == -1);
	CHECK(pf_observe(s, NAN) == -1);
}

static void definitions(void)
{
	fresh();
	CHECK(pf_open(db) == 0);
	define();
	pf_close();
}

/* Values in a live worker's file, then folded at its exit, then from the
 * store alone: each time exactly what native.c makes of them. */
static void observed_exactly(void)
{
	static double ref[NATIVE_CELLS], ref2[NATIVE_CELLS];
	enum { N = 400 };
	fresh();
	CHECK(pf_open(db) == 0);
	pf_series *b = pf_with(both_family(), slash), *o = pf_with(only_family(), NULL);
	CHECK(b && o);
	for (long i = 0; i < N; i++) {
		CHECK(pf_observe(b, wide(i)) == 0);
		CHECK(pf_observe(o, narrow(i)) == 0);
	}
	reference(ref, wide, 0, N);
	reference(ref2, narrow, 0, N);
	CHECK(ref[NATIVE_SCHEMA] < 3); /* the sequence did lower it */
	CHECK(matches("nr_seconds", "/", ref)); /* live */
	CHECK(matches("nr_only", NULL, ref2));
	/* the classic buckets as a classic histogram has them */
	double cells[MODEL_CELLS_MAX], sum = 0, want[4] = {0};
	int nb;
	CHECK(scraped("nr_seconds", "/", cells, &nb) == 1 && nb == 3);
	for (long i = 0; i < N; i++) {
		int k = 0;
		while (k < 3 && wide(i) > bounds[k])
			k++;
		want[k]++;
		sum += wide(i);
	}
	for (int k = 0; k < 4; k++)
		CHECK_NUM(cells[k], want[k]);
	CHECK_NUM(cells[4], sum);
	CHECK(pf_close() == 0);
	for (int i = 0; i < 2; i++) { /* folded, then again: nothing added */
		CHECK(matches("nr_seconds", "/", ref));
		CHECK(matches("nr_only", NULL, ref2));
	}
	/* a second process adds its own, at another schema */
	CHECK(pf_open(db) == 0);
	b = pf_with(both_family(), slash);
	for (long i = 0; i < 50; i++)
		pf_observe(b, narrow(i));
	double more[NATIVE_CELLS];
	reference(more, narrow, 0, 50);
	CHECK(native_merge(ref, more) == 0);
	CHECK(matches("nr_seconds", "/", ref));
	CHECK(pf_close() == 0);
	CHECK(matches("nr_seconds", "/", ref));
	/* text 0.0.4 shows the classic lines of a classic-and-native family,
	 * and +Inf, _sum and _count of a native-only one */
	struct collection c;
	char reason[256];
	CHECK(scrape_collect(db, &c, reason, sizeof reason) == 0);
	struct buf t = {0};
	render_text(&t, &c, NULL);
	buf_putc(&t, '\0');
	CHECK(strstr(t.p, "nr_seconds_bucket{route=\"/\",le=\"0.25\"} ") != NULL);
	CHECK(strstr(t.p, "nr_seconds_count{route=\"/\"} 450\n") != NULL);
	CHECK(strstr(t.p, "nr_only_bucket{le=\"+Inf\"} 400\nnr_only_sum ") != NULL);
	CHECK(strstr(t.p, "nr_only_count 400\n") != NULL);
	buf_free(&t);
	model_collection_free(&c);
}

/* The path of this process's (or pid's) staging file, "" if none. */
static void stage_path(pid_t pid, char *path, size_t len)
{
	char dir[600], want[32];
	snprintf(dir, sizeof dir, "%s.stage", db);
	snprintf(want, sizeof want, "-%ld-", (long)pid);
	path[0] = '\0';
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, "w-", 2) == 0 && strstr(e->d_name, want))
			snprintf(path, len, "%s/%s", dir, e->d_name);
	if (d)
		closedir(d);
}

/* A worker killed in the middle of committing an observation, after any
 * number of its writes: a rewrite of the whole series (window moved,
 * schema lowered) or the three-cell kind.  Every time the reader finishes
 * the change from the redo log: the observation is in, whole, with the
 * counter of the same change.  Killed before the commit began: none of it. */
static void torn_commits(void)
{
	static double ref[NATIVE_CELLS];
	enum { BEFORE = 240 };
	/* dense(0..BEFORE-1) fill 120 buckets of each sign; dense(BEFORE),
	 * 2^40, lowers the schema: every one of them moves */
	double probe[NATIVE_CELLS], was[NATIVE_CELLS];
	reference(probe, dense, 0, BEFORE);
	memcpy(was, probe, sizeof was);
	CHECK(native_observe(probe, dense(BEFORE)) == 1);
	int rewritten = 0;
	for (int k = 0; k < NATIVE_CELLS; k++)
		rewritten += probe[k] != was[k];
	CHECK(rewritten > 200); /* a real rewrite: many cells in one change */
	int cases = 0;
	for (int kind = 0; kind < 3; kind++) {
		/* kind 0: the rewrite; 1: a value inside the windows; 2: killed
		 * with the change pending, before its commit began */
		int last = kind == 0 ? rewritten + 8 : kind == 1 ? 8 : 0;
		for (int napply = 0; napply <= last; napply += kind == 0 ? 9 : 1) {
			fresh();
			double v = kind == 1 ? dense(3) : dense(BEFORE);
			pid_t pid = fork();
			if (pid == 0) {
				pf_open(db);
				pf_series *b = pf_with(both_family(), slash);
				pf_series *n = pf_with(pf_counter("nr_total", "Changes.", NULL), NULL);
				for (long i = 0; i < BEFORE; i++) {
					pf_begin();
					pf_inc(n);
					pf_observe(b, dense(i));
					pf_commit();
				}
				pf_begin();
				pf_inc(n);
				pf_observe(b, v);
				if (kind < 2) {
					stage_test_tear = napply;
					pf_commit();
				}
				raise(SIGKILL);
			}
			int status;
			waitpid(pid, &status, 0);
			CHECK(WIFSIGNALED(status));
			reference(ref, dense, 0, BEFORE);
			if (kind < 2)
				native_observe(ref, v);
			for (int again = 0; again < 2; again++) { /* the dead file, then the store */
				CHECK_NUM(test_total(db, "nr_total", NULL), BEFORE + (kind < 2));
				if (!matches("nr_seconds", "/", ref)) {
					fprintf(stderr, "  kind %d, killed after %d writes\n", kind, napply);
					CHECK(0);
				}
			}
			cases++;
		}
	}
	CHECK(cases > 20);
}

/* A worker whose observations keep rewriting its series, each with a
 * counter in the same change: change i observes dense(i % PER) in series
 * "s<i / PER>", so every series fills 120 buckets of each sign (its
 * windows moving as they fill), then lowers its schema (a rewrite of
 * some 300 cells), then goes on.  Read while it runs (the seqlock) and
 * after a SIGKILL at a random instant (the redo log), one scrape must
 * hold exactly the first n values, n being the counter of that scrape. */
enum { PER = 300 };
static long kill_at = -1; /* the recorder's own SIGKILL, before change kill_at's commit */

static void recorder(void)
{
	pf_open(db);
	pf_family *f = both_family();
	pf_series *n = pf_with(pf_counter("nr_total", "Changes.", NULL), NULL);
	for (long i = 0;; i++) {
		char key[24];
		snprintf(key, sizeof key, "s%ld", i / PER);
		pf_series *b = pf_with(f, (const char *[]){key, NULL});
		if (!b)
			_exit(0); /* the file is full: stop changing */
		if (i == kill_at)
			raise(SIGKILL);
		pf_begin();
		pf_inc(n);
		pf_observe(b, dense(i % PER));
		pf_commit();
	}
}

/* One scrape: its counter n and every series s<j> against native.c's
 * result for the values of changes j * PER .. min(n, (j + 1) * PER) - 1.
 * 1 consistent; *changes gets n. */
static int consistent(long *changes)
{
	static double ref[NATIVE_CELLS];
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0)
		return fprintf(stderr, "  scrape: %s\n", reason), 0;
	const struct family_data *hist = NULL;
	double n = 0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		if (strcmp(c.families[i].name, "nr_total") == 0 && c.families[i].nseries == 1)
			n = c.families[i].series[0].cells[0];
		if (strcmp(c.families[i].name, "nr_seconds") == 0)
			hist = &c.families[i];
	}
	int ok = 1;
	long want_series = ((long)n + PER - 1) / PER;
	/* change n + 1 may have begun a series (pf_with publishes it at once)
	 * and not yet committed, or been killed there: one more, empty (the
	 * loop below checks it holds nothing) */
	long more = (long)n % PER == 0 && hist && (long)hist->nseries == want_series + 1;
	if (n > 0 && (!hist || (long)hist->nseries != want_series + more)) {
		fprintf(stderr, "  %g changes, %zu series\n", n, hist ? hist->nseries : 0);
		ok = 0;
	}
	for (size_t j = 0; ok && hist && j < hist->nseries; j++) {
		long k = strtol(hist->series[j].key + 1, NULL, 10);
		native_init(ref, 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
		for (long i = k * PER; i < (k + 1) * PER && i < (long)n; i++)
			native_observe(ref, dense(i % PER));
		const double *cells = hist->series[j].cells;
		double classic = cells[0] + cells[1] + cells[2] + cells[3];
		if (!same_native(cells + 5, ref) || classic != ref[NATIVE_COUNT]) {
			fprintf(stderr, "  %g changes: series s%ld not its values'\n", n, k);
			say_native("scraped", cells + 5);
			say_native("wanted ", ref);
			ok = 0;
		}
	}
	model_collection_free(&c);
	*changes = (long)n;
	return ok;
}

static void sigkill_at_any_instant(void)
{
	srand((unsigned)getpid());
	long total = 0;
	for (int round = 0; round < 10; round++) {
		fresh();
		pid_t pid = fork();
		if (pid == 0)
			recorder();
		long n = 0, last = 0;
		for (int k = 0; k < 500 && n == 0; k++) { /* bounded: 5 s for it to start */
			CHECK(consistent(&n));
			if (n == 0)
				usleep(10000);
		}
		for (int k = 0; k < 3; k++) { /* live: the seqlock */
			usleep(2000 + (useconds_t)(rand() % 8000));
			CHECK(consistent(&n));
			CHECK(n >= last);
			last = n;
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		CHECK(consistent(&n)); /* the dead file, its last change replayed if cut */
		CHECK(n >= last && n > 0);
		CHECK(consistent(&last) && last == n); /* folded: the store */
		total += n;
	}
	fprintf(stderr, "  %ld changes over 10 rounds, %ld series rewritten\n", total, total / PER);
	/* the instant the rounds hit once in a while: killed after pf_with
	 * made the next series, before its first change */
	fresh();
	kill_at = 2 * PER;
	pid_t pid = fork();
	if (pid == 0)
		recorder();
	waitpid(pid, NULL, 0);
	long n = 0, last = 0;
	CHECK(consistent(&n) && n == 2 * PER);
	CHECK(consistent(&last) && last == n);
}

/* Folds of a worker's file, by hand: the second adds nothing; after the
 * worker's series went to a lower schema, staged - folded is taken at it;
 * a second worker at schema 3 merges into the same aggregate. */
static void folds_across_schemas(void)
{
	static double ref[NATIVE_CELLS], other[NATIVE_CELLS];
	fresh();
	CHECK(pf_open(db) == 0);
	pf_series *b = pf_with(both_family(), slash);
	for (long i = 0; i < 40; i++)
		pf_observe(b, narrow(i));
	char path[1200];
	stage_path(getpid(), path, sizeof path);
	struct db *h;
	char err[256];
	CHECK(path[0] && db_open(db, 1000, &h, err, sizeof err) == 0);
	struct stage_snapshot snap;
	for (int i = 0; i < 2; i++) {
		CHECK(stage_snapshot(path, &snap) == 0);
		CHECK(fold_snapshot(h, &snap, 0) == DB_FOLDED);
		stage_snapshot_free(&snap);
	}
	reference(ref, narrow, 0, 40);
	CHECK(matches("nr_seconds", "/", ref));
	for (long i = 0; i < 300; i++) /* now its schema goes down */
		pf_observe(b, wide(i));
	for (long i = 0; i < 300; i++)
		native_observe(ref, wide(i));
	CHECK(ref[NATIVE_SCHEMA] < 3);
	CHECK(stage_snapshot(path, &snap) == 0);
	CHECK(fold_snapshot(h, &snap, 0) == DB_FOLDED);
	CHECK(fold_snapshot(h, &snap, 0) == DB_FOLDED); /* the same snapshot: nothing */
	stage_snapshot_free(&snap);
	/* another series changes, so the file's seq moves on: this series'
	 * staged - folded, taken at its lowered schema, must add nothing */
	pf_inc(pf_with(pf_counter("nr_total", "Other.", NULL), NULL));
	CHECK(stage_snapshot(path, &snap) == 0);
	CHECK(fold_snapshot(h, &snap, 0) == DB_FOLDED);
	stage_snapshot_free(&snap);
	db_close(h);
	CHECK(matches("nr_seconds", "/", ref));
	CHECK(pf_close() == 0); /* its final fold: what is left */
	CHECK(matches("nr_seconds", "/", ref));
	/* another worker, schema 3 all along, ends without folding: merged
	 * into the aggregate of the lower schema */
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		pf_series *s = pf_with(both_family(), slash);
		for (long i = 0; i < 70; i++)
			pf_observe(s, narrow(i + 1000));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	reference(other, narrow, 1000, 1070);
	CHECK(native_merge(ref, other) == 0);
	CHECK(matches("nr_seconds", "/", ref)); /* its dead file */
	CHECK(matches("nr_seconds", "/", ref)); /* the store */
}

/* CGI processes: each records in memory and appends its totals, native
 * part included, to the journal; the scrape folds every record with
 * native arithmetic. */
static void oneshot_journal(void)
{
	static double ref[NATIVE_CELLS], one[NATIVE_CELLS];
	fresh();
	setenv("REQUEST_METHOD", "GET", 1);
	reference(ref, wide, 0, 0);
	for (int k = 0; k < 8; k++) {
		pid_t pid = fork();
		if (pid == 0) {
			if (pf_open(db) != 0)
				_exit(1);
			pf_series *b = pf_with(both_family(), slash);
			for (long i = 0; i < 30; i++)
				pf_observe(b, k % 2 ? wide(i + 40 * k) : narrow(i + 40 * k));
			_exit(pf_close() == 0 ? 0 : 1);
		}
		int status;
		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		reference(one, k % 2 ? wide : narrow, 40 * k, 40 * k + 30);
		CHECK(native_merge(ref, one) == 0);
		if (k == 3) /* some records folded before the others are written */
			CHECK(matches("nr_seconds", "/", ref));
	}
	unsetenv("REQUEST_METHOD");
	CHECK(matches("nr_seconds", "/", ref));
	CHECK(matches("nr_seconds", "/", ref));
}

/* A store of schema 3 (this DDL is that version's, frozen here) with a
 * classic histogram: opened, it is schema 4; a worker that defines the
 * same histogram with native buckets widens it (the classic counts kept
 * and added to, the native part counting from then on), and a worker of
 * an earlier release (its file of version 2: no native buckets) still
 * folds its classic counts into it. */
static void store_gains_native_buckets(void)
{
	char cmd[2400];
	fresh();
	double old_cells[5] = {1, 2, 0, 0, 1.75}; /* 0.1, 0.5, 0.5+0.65: 3 observations */
	char blob[2 * sizeof old_cells + 1];
	for (size_t i = 0; i < sizeof old_cells; i++)
		snprintf(blob + 2 * i, 3, "%02x", ((const unsigned char *)old_cells)[i]);
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
	         "INSERT INTO family VALUES(1, 'nr_seconds', 3, 'Native and classic.', 'route',"
	         " x'000000000000d03f000000000000f03f0000000000001040');"
	         "INSERT INTO series VALUES(1, 1, x'2f00', x'%s', 1700000000);"
	         "INSERT INTO series VALUES(2, 1, x'2f7800', x'%s', 1700000000);"
	         "PRAGMA user_version = 3;\"",
	         db, blob, blob);
	CHECK(system(cmd) == 0);
	struct db *h;
	char err[256];
	CHECK(db_open(db, 1000, &h, err, sizeof err) == 0);
	CHECK(db_schema_version(h) == DB_SCHEMA_VERSION);
	db_close(h);
	CHECK_NUM(test_series(db, "nr_seconds", slash), 3);
	/* a live worker with native buckets: shown at once (the view widens),
	 * before any fold */
	CHECK(pf_open(db) == 0);
	pf_series *b = pf_with(both_family(), slash);
	for (long i = 0; i < 20; i++)
		pf_observe(b, narrow(i));
	static double ref[NATIVE_CELLS];
	reference(ref, narrow, 0, 20);
	double cells[MODEL_CELLS_MAX];
	int nb;
	CHECK(scraped("nr_seconds", "/", cells, &nb) == 1);
	CHECK(same_native(cells + nb + 2, ref));
	CHECK_NUM(cells[0] + cells[1] + cells[2] + cells[3], 23);
	CHECK(pf_close() == 0); /* folded: the store widens */
	/* an earlier release's worker, killed: classic only */
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		pf_series *s = pf_with(pf_histogram("nr_seconds", "Native and classic.", by_route,
		                                    bounds, 3), slash);
		for (int i = 0; i < 4; i++)
			pf_observe(s, 2);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	char path[1200];
	stage_path(pid, path, sizeof path);
	CHECK(path[0] && test_make_legacy(path, 2) == 0);
	for (int i = 0; i < 2; i++) {
		CHECK(scraped("nr_seconds", "/", cells, &nb) == 1);
		CHECK(same_native(cells + nb + 2, ref));
		CHECK_NUM(cells[0] + cells[1] + cells[2] + cells[3], 27);
		double in_1_4 = 4; /* (1, 4]: the old worker's 2s, and the new one's there */
		for (long k = 0; k < 20; k++)
			in_1_4 += narrow(k) > 1;
		CHECK_NUM(cells[2], in_1_4);
	}
	CHECK(db_open(db, 1000, &h, err, sizeof err) == 0);
	struct family_def def;
	CHECK(db_family(h, "nr_seconds", &def) == 1 && def.native && def.schema == 3);
	db_close(h);
	/* the series no worker touched was widened too (an empty native part,
	 * packed: its 7 header cells and two empty windows of 2), and both
	 * stay BLOBs (`cells || x'..'` alone makes TEXT, whose length() stops
	 * at a NUL) */
	const char *const other[] = {"/x", NULL};
	CHECK_NUM(test_series(db, "nr_seconds", other), 3);
	snprintf(cmd, sizeof cmd,
	         "test \"$(sqlite3 %s \"SELECT count(*) FROM series WHERE typeof(cells) = 'blob'"
	         " AND (label_values = x'2f00' OR length(cells) = %d)\")\" = 2",
	         db, (int)((5 + 7 + 2 + 2) * sizeof(double)));
	CHECK(system(cmd) == 0);
}

/* Exemplars on a classic-and-native histogram go on the classic bucket
 * the value fell in; on a native-only one, on its +Inf bucket. */
static void exemplars(void)
{
	fresh();
	CHECK(pf_open(db) == 0);
	pf_series *b = pf_with(both_family(), slash), *o = pf_with(only_family(), NULL);
	const char *const l[] = {"trace_id", "0af7651916cd43dd8448eb211c80319c", NULL};
	CHECK(pf_observe_exemplar(b, 0.5, l) == 0);
	CHECK(pf_observe_exemplar(o, 0.5, l) == 0);
	struct exemplar x;
	CHECK(test_exemplar(db, "nr_seconds", slash, 1, &x) == 1 && x.value == 0.5);
	CHECK(test_exemplar(db, "nr_only", NULL, 0, &x) == 1 && x.value == 0.5);
	static double ref[NATIVE_CELLS];
	reference(ref, narrow, 0, 0);
	native_observe(ref, 0.5);
	CHECK(matches("nr_seconds", "/", ref));
	CHECK(matches("nr_only", NULL, ref));
	CHECK(pf_close() == 0);
	CHECK(test_exemplar(db, "nr_seconds", slash, 1, &x) == 1 && x.value == 0.5);
}

/* A change holds STAGE_LOG_MAX cell writes: rewrites of series whose
 * windows are full take hundreds each, and the one that does not fit is
 * refused whole (-1), classic part too; the rest of the change stands. */
static void full_change_refuses_whole(void)
{
	enum { SERIES = 6 };
	static double ref[SERIES][NATIVE_CELLS];
	fresh();
	CHECK(pf_open(db) == 0);
	pf_family *f = both_family();
	pf_series *s[SERIES];
	char names[SERIES][16];
	/* each series: 150 buckets in use in each sign's window */
	for (int k = 0; k < SERIES; k++) {
		snprintf(names[k], sizeof names[k], "s%d", k);
		s[k] = pf_with(f, (const char *[]){names[k], NULL});
		native_init(ref[k], 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
		for (int j = 0; j < 150; j++)
			for (int sign = -1; sign <= 1; sign += 2) {
				double v = sign * ldexp(1.01, j / 8 - 9) * pow(2, (j % 8) / 8.0);
				CHECK(pf_observe(s[k], v) == 0);
				native_observe(ref[k], v);
			}
	}
	int took = 0, refused = 0;
	pf_begin();
	for (int k = 0; k < SERIES; k++) {
		double v = ldexp(1, 60); /* far above: the schema goes down */
		int rc = pf_observe(s[k], v);
		if (rc == 0) {
			native_observe(ref[k], v);
			took++;
		} else {
			refused += rc == -1;
		}
	}
	pf_commit();
	CHECK(took == 3 && refused == SERIES - 3);
	for (int k = 0; k < SERIES; k++)
		CHECK(matches("nr_seconds", names[k], ref[k]));
	pf_close();
}

/* A worker's file holds as many classic-and-native series as memory and
 * disk allow: 20,000 with 14 classic buckets, as the HTTP layer's (343
 * cells each, 55 MB of cells; a file of 0.3.0 held 764), every one made,
 * counted and scraped exactly, nothing refused. */
static void series_per_file(void)
{
	enum { N = 20000 };
	fresh();
	CHECK(pf_open(db) == 0);
	pf_family *f = pf_histogram_native("nr_many_seconds", "Many.", by_route, pf_default_buckets,
	                                   pf_default_nbuckets, 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
	int made = 0;
	for (int n = 0; n < N; n++) {
		char v[16];
		snprintf(v, sizeof v, "/%d", n);
		pf_series *s = pf_with(f, (const char *[]){v, NULL});
		made += s != NULL;
		pf_observe(s, 0.01 * (n % 5 + 1));
		if (n % 3 == 0)
			pf_observe(s, 100);
	}
	CHECK(made == N);
	CHECK_NUM(test_total(db, "nr_many_seconds", NULL), N + (N + 2) / 3);
	const char *const last[] = {"/19999", NULL};
	CHECK_NUM(test_series(db, "nr_many_seconds", last), 1);
	const char *const stage_op[] = {"stage", NULL};
	CHECK_NUM(test_series(db, "promfcgi_store_errors_total", stage_op), 0);
	pf_close();
	CHECK_NUM(test_total(db, "nr_many_seconds", NULL), N + (N + 2) / 3);
}

/* CGI records of two releases in one journal (an upgrade: the HTTP layer's
 * request_duration_seconds gained native buckets): a classic record and a
 * native one of the same histogram, in either order, fold into one series,
 * and every later scrape works.  With the classic record first, the fold
 * used to size its rows by the classic definition after the native one had
 * widened them: every scrape failed, for good, for every family. */
static void journal_mixed_releases(void)
{
	for (int order = 0; order < 2; order++) {
		fresh();
		setenv("REQUEST_METHOD", "GET", 1);
		for (int k = 0; k < 2; k++) {
			pid_t pid = fork();
			if (pid == 0) {
				if (pf_open(db) != 0)
					_exit(1);
				pf_family *f = k == order ? pf_histogram("nr_seconds", "Native and classic.",
				                                         by_route, bounds, 3)
				                          : both_family();
				pf_observe(pf_with(f, slash), 0.5);
				pf_inc(pf_with(pf_counter("nr_total", "Other.", NULL), NULL));
				_exit(pf_close() == 0 ? 0 : 1);
			}
			int status;
			CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			      WEXITSTATUS(status) == 0);
		}
		unsetenv("REQUEST_METHOD");
		for (int i = 0; i < 3; i++) {
			CHECK_NUM(test_series(db, "nr_seconds", slash), 2);
			CHECK_NUM(test_total(db, "nr_total", NULL), 2);
		}
	}
}

/* One scrape, checked two ways: nr_seconds{route="/"}'s native part is the
 * reference, and the protobuf encoding that looks only inside the ranges
 * the scrape says its buckets are in is the one that reads every cell. */
static int scrape_checks(const double *ref)
{
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0)
		return 0;
	int ok = 0, ranged = 0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		for (size_t j = 0; j < f->nseries; j++)
			if (strcmp(f->name, "nr_seconds") == 0 && strcmp(f->series[j].key, "/") == 0) {
				ok = same_native(f->series[j].cells + f->nbuckets + 2, ref);
				if (!ok)
					say_native("scraped", f->series[j].cells + f->nbuckets + 2);
			}
		ranged |= f->ranges != NULL;
	}
	struct buf with = {0}, without = {0};
	protobuf_render(&with, &c, NULL);
	for (size_t i = 0; i < c.nfamilies; i++) {
		free(c.families[i].ranges);
		c.families[i].ranges = NULL;
	}
	protobuf_render(&without, &c, NULL);
	ok &= ranged && !with.oom && with.len == without.len && memcmp(with.p, without.p, with.len) == 0;
	buf_free(&with);
	buf_free(&without);
	model_collection_free(&c);
	return ok;
}

/* The scrape writes a native part of its output only where it holds
 * buckets, and clears the next time only what it wrote: scrapes of one
 * process (one output block, reused) while the windows move, the schema
 * goes down and the store and a worker both hold the series, each exact,
 * and encoded the same looking at those ranges only as at every cell. */
static void output_written_where_held(void)
{
	static double ref[NATIVE_CELLS];
	fresh();
	reference(ref, narrow, 0, 0);
	CHECK(pf_open(db) == 0);
	pf_series *b = pf_with(both_family(), slash);
	long n = 0;
	for (int round = 0; round < 8; round++) {
		/* narrow values, then values far apart (windows move, the schema
		 * goes down), then narrow again; a fold at exit between */
		double (*seq)(long) = round % 4 == 2 ? wide : narrow;
		for (long i = 0; i < 60; i++, n++) {
			CHECK(pf_observe(b, seq(n)) == 0);
			native_observe(ref, seq(n));
		}
		CHECK(scrape_checks(ref));
		CHECK(scrape_checks(ref)); /* nothing new: the same */
		if (round == 4) { /* the store holds it now, a new worker adds */
			CHECK(pf_close() == 0);
			CHECK(scrape_checks(ref));
			CHECK(pf_open(db) == 0);
			b = pf_with(both_family(), slash);
		}
	}
	pf_close();
}

const struct test native_rec_tests[] = {
    {"native_rec/output_written_where_held", output_written_where_held},
    {"native_rec/definitions", definitions},
    {"native_rec/observed_exactly", observed_exactly},
    {"native_rec/torn_commits", torn_commits},
    {"native_rec/sigkill_at_any_instant", sigkill_at_any_instant},
    {"native_rec/folds_across_schemas", folds_across_schemas},
    {"native_rec/oneshot_journal", oneshot_journal},
    {"native_rec/journal_mixed_releases", journal_mixed_releases},
    {"native_rec/store_gains_native_buckets", store_gains_native_buckets},
    {"native_rec/exemplars", exemplars},
    {"native_rec/full_change_refuses_whole", full_change_refuses_whole},
    {"native_rec/series_per_file", series_per_file},
    {NULL, NULL},
};
