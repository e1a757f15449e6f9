/* SPDX-License-Identifier: MIT */
/*
 * scrape_bench.c — how long /metrics takes to produce for a store of SERIES
 * series (counters with labels, over 4 custom families) with WORKERS live
 * worker processes holding unfolded data.
 *
 * Usage: scrape_bench DB SERIES WORKERS ROUNDS [KIND]
 * Prints one TSV line:
 *   series workers live_series rounds first_ms changed_ms idle_ms render_ms bytes exact reread_ms
 *   fold_ms
 * KIND (counter when absent) is what the series are: counter; histogram (classic,
 * client_python's 14 buckets); native (native buckets only, schema 3); both (the
 * HTTP layer's request_duration_seconds: 14 classic buckets and native ones).  A
 * histogram series holds 16 observations between 0.1 ms and 1 s at the start (16
 * native buckets or so), and each round adds one.  With KIND given, the line
 * starts with KIND and ends with pb_ms (protobuf_render, median over the changed
 * rounds, timed apart from the text) and pb_bytes.
 *
 * Two shapes.  The split one (0.3.0's matrix, kept so its figures stay
 * comparable): series i belongs to worker i*WORKERS/SERIES's range, and a
 * worker keeps at most SLICE_MAX of its range live (a file of 0.3.0 held
 * 4,096 series); the rest is recorded by short-lived loader processes that
 * pf_close() (fold) before the workers start, so the store holds SERIES
 * series either way and live_series says how many are in live files.  The
 * real one (SCRAPE_SHAPE=same in the environment): every worker holds the
 * same SERIES series, as every worker of a site serves every route, so a
 * scrape merges WORKERS x SERIES cells into SERIES series; live_series is
 * WORKERS x SERIES, and every one changes between the "changed" scrapes.
 * That shape times the changed and idle scrapes only (reread_ms and fold_ms
 * are 0): what the store's reread and the periodic fold cost is the split
 * matrix's to show.
 *
 *   first_ms    the first scrape: every live series folded for the first time
 *               (rows created);
 *   changed_ms  median over ROUNDS of a scrape after every live worker has
 *               incremented every one of its series (the worst case: all
 *               live data unfolded);
 *   idle_ms     median of a scrape right after, with nothing new to fold;
 *   render_ms   median of render_text alone (inside changed_ms);
 *   reread_ms   median of a scrape after another process changed the store
 *               (a loader folding one new series): the store is read again;
 *   fold_ms     median of scrape_idle folding the live workers into the
 *               store (the metrics program does it after an answer, once
 *               every CLOCK_FOLD_SECONDS), every series changed.
 * Each time is scrape_collect + render_text in this process, as metrics.fcgi does.
 * exact is 1 when every scrape's sum over the bench families equals what the
 * workers and loaders recorded.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "promfcgi.h"
#include "benchutil.h"

extern char **environ;

#define SLICE_MAX 4000 /* the split shape: below 0.3.0's 4096 series a file, with promfcgi's own */
/* a native series takes 343 cells (both: 359) of a file's 262,144 */
#define SLICE_MAX_NATIVE 700
#define NFAM 4
#define PREFIX "bench_requests_"
#define INITIAL 16 /* observations per histogram series at the start */

enum { COUNTER, HISTOGRAM, NATIVE, BOTH };
static int kind = COUNTER;
static pf_family *fams[NFAM];

static void define_families(void)
{
	static const char *const labels[] = {"handler", "code", NULL};
	for (int k = 0; k < NFAM; k++) {
		char name[64];
		snprintf(name, sizeof name, PREFIX "%d_%s", k, kind == COUNTER ? "total" : "seconds");
		fams[k] = kind == COUNTER   ? pf_counter(name, "Requests by handler (benchmark).", labels)
		        : kind == HISTOGRAM ? pf_histogram(name, "Durations (benchmark).", labels, NULL, 0)
		        : pf_histogram_native(name, "Durations (benchmark).", labels,
		                              kind == BOTH ? pf_default_buckets : NULL,
		                              kind == BOTH ? pf_default_nbuckets : 0,
		                              PF_NATIVE_SCHEMA_DEFAULT, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
	}
}

/* One more value in series i (a counter's + 1): the n-th, 0.1 ms to 1 s. */
static int record(pf_series *s, long i, long n)
{
	if (kind == COUNTER)
		return pf_inc(s);
	return pf_observe(s, 0.0001 * (double)(1 + (i * 7919 + n * 104729) % 10000));
}

/* The first values of series i: 1 for a counter, INITIAL for a histogram. */
static int record_initial(pf_series *s, long i)
{
	int bad = 0;
	for (long n = 0; n < (kind == COUNTER ? 1 : INITIAL); n++)
		bad |= record(s, i, n) != 0;
	return bad;
}

static pf_series *series_of(long i)
{
	char handler[32];
	snprintf(handler, sizeof handler, "/h/%ld", i);
	const char *v[] = {handler, "200", NULL};
	return pf_with(fams[i % NFAM], v);
}

/* The loader itself (scrape_bench --load DB LO HI KIND): records series
 * [lo, hi) once each and folds them into the store. */
static int loader(const char *db, long lo, long hi)
{
	pf_open(db);
	define_families();
	int bad = 0;
	for (long i = lo; i < hi; i++)
		bad |= record_initial(series_of(i), i);
	return pf_close() != 0 || bad;
}

static const char *self; /* this program's path (argv[0]) */

/* Records series [lo, hi) in another process, this program started again
 * (posix_spawn, not fork: a fork would make every page this process then
 * writes a copy-on-write fault, which would be timed as the next scrape's). */
static int load(const char *db, long lo, long hi)
{
	static const char *const kinds[] = {"counter", "histogram", "native", "both"};
	char from[24], to[24];
	snprintf(from, sizeof from, "%ld", lo);
	snprintf(to, sizeof to, "%ld", hi);
	char *argv[] = {"scrape_bench", "--load", (char *)db, from, to, (char *)kinds[kind], NULL};
	pid_t pid;
	int st;
	if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
		return -1;
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* A live worker: records its series once, says so, then on every command
 * byte increments each of them and acknowledges.  Killed at the end, its
 * file unfolded (the store is removed afterwards). */
static void worker(const char *db, long lo, long hi, int cmd, int ack)
{
	pf_open(db);
	define_families();
	long n = hi - lo;
	pf_series **s = calloc((size_t)(n ? n : 1), sizeof *s);
	int bad = !s;
	for (long i = 0; !bad && i < n; i++)
		bad |= !(s[i] = series_of(lo + i)) || record_initial(s[i], lo + i);
	char c = bad ? 'E' : 'r';
	if (write(ack, &c, 1) != 1 || bad)
		_exit(1);
	for (long round = INITIAL; read(cmd, &c, 1) == 1; round++) {
		for (long i = 0; i < n; i++)
			record(s[i], lo + i, round);
		if (write(ack, "a", 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static int wait_acks(int ack, int n)
{
	char buf[256];
	while (n > 0) {
		ssize_t r = read(ack, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf);
		if (r <= 0)
			return -1;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] == 'E')
				return -1;
		n -= (int)r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	self = argv[0];
	if (argc == 6 && strcmp(argv[1], "--load") == 0) {
		static const char *const names[] = {"counter", "histogram", "native", "both"};
		for (kind = BOTH; kind > COUNTER && strcmp(argv[5], names[kind]) != 0; kind--)
			;
		return loader(argv[2], atol(argv[3]), atol(argv[4]));
	}
	/* --hold: set the series up in a store someone else serves (a stack's),
	 * say "ready", keep the workers live until stdin closes */
	int hold = argc == 5 && strcmp(argv[1], "--hold") == 0;
	const char *kinds[] = {"counter", "histogram", "native", "both"};
	if (argc == 6 && !hold)
		for (kind = BOTH; kind > COUNTER && strcmp(argv[5], kinds[kind]) != 0; kind--)
			;
	if ((argc != 5 && argc != 6) || (argc == 6 && strcmp(argv[5], kinds[kind]) != 0)) {
		fprintf(stderr, "usage: %s DB SERIES WORKERS ROUNDS [counter|histogram|native|both]\n"
		                "       %s --hold DB SERIES WORKERS\n", argv[0], argv[0]);
		return 2;
	}
	long slice_max = kind == NATIVE || kind == BOTH ? SLICE_MAX_NATIVE : SLICE_MAX;
	const char *shape = getenv("SCRAPE_SHAPE");
	int same = shape && strcmp(shape, "same") == 0;
	double init = kind == COUNTER ? 1 : INITIAL;
	const char *db = argv[1 + hold];
	long nseries = atol(argv[2 + hold]);
	int nworkers = atoi(argv[3 + hold]), rounds = hold ? 1 : atoi(argv[4]);
	if (nseries < 1 || nworkers < 1 || nworkers > 1000 || rounds < 1 || rounds > 100)
		return 2;
	if (!hold)
		remove_store(db);
	signal(SIGPIPE, SIG_IGN);

	/* Who records what: a live prefix of each worker's range, loaders the rest. */
	long live_total = 0, loaded_total = 0;
	long *lo = calloc((size_t)nworkers, sizeof *lo), *hi = calloc((size_t)nworkers, sizeof *hi);
	pid_t *pids = calloc((size_t)nworkers, sizeof *pids);
	int *cmd = calloc((size_t)nworkers, sizeof *cmd);
	if (!lo || !hi || !pids || !cmd)
		return 1;
	for (int w = 0; w < nworkers; w++) {
		if (same) { /* every worker: every series */
			lo[w] = 0;
			hi[w] = nseries;
			live_total += nseries;
			continue;
		}
		lo[w] = nseries * w / nworkers;
		long end = nseries * (w + 1) / nworkers;
		hi[w] = end - lo[w] > slice_max ? lo[w] + slice_max : end;
		live_total += hi[w] - lo[w];
		for (long a = hi[w]; a < end; a += slice_max) {
			long b = a + slice_max < end ? a + slice_max : end;
			if (load(db, a, b) != 0) {
				fprintf(stderr, "scrape_bench: loader failed\n");
				return 1;
			}
			loaded_total += b - a;
		}
	}

	int ackp[2];
	if (pipe(ackp) != 0)
		return 1;
	int failed = 0;
	for (int w = 0; w < nworkers; w++) {
		int p[2];
		if (pipe(p) != 0 || (pids[w] = fork()) < 0) {
			perror("scrape_bench: fork");
			failed = 1;
			nworkers = w;
			break;
		}
		if (pids[w] == 0) {
			close(p[1]);
			worker(db, lo[w], hi[w], p[0], ackp[1]);
		}
		close(p[0]);
		cmd[w] = p[1];
	}
	if (!failed && wait_acks(ackp[0], nworkers) != 0) {
		fprintf(stderr, "scrape_bench: a worker failed to start\n");
		failed = 1;
	}
	if (hold) {
		char c;
		if (!failed) {
			printf("ready %ld live series\n", live_total);
			fflush(stdout);
			while (read(0, &c, 1) > 0)
				;
		}
		for (int w = 0; w < nworkers; w++) {
			kill(pids[w], SIGKILL);
			waitpid(pids[w], NULL, 0);
		}
		return failed;
	}

	double *changed = calloc((size_t)rounds, sizeof *changed);
	double *idle = calloc((size_t)rounds, sizeof *idle);
	double *render = calloc((size_t)rounds, sizeof *render);
	double *pbr = calloc((size_t)rounds, sizeof *pbr);
	size_t pb_bytes = 0;
	double first = 0;
	size_t bytes = 0;
	int exact = 1;
	struct scrape_result r;
	if (!failed && timed_scrape(db, PREFIX, &r) == 0) {
		first = r.scrape_ms + r.render_ms;
		exact &= r.series == (size_t)nseries && r.sum == init * (double)(live_total + loaded_total);
	} else {
		failed = 1;
	}
	/* SCRAPE_PROFILE=changed|idle: only those scrapes are counted by callgrind */
	const char *profile = getenv("SCRAPE_PROFILE");
	int prof_changed = profile && strcmp(profile, "changed") == 0;
	int prof_idle = profile && strcmp(profile, "idle") == 0;
	for (int k = 0; !failed && k < rounds; k++) {
		for (int w = 0; w < nworkers; w++)
			if (write(cmd[w], "i", 1) != 1)
				failed = 1;
		bench_collect = prof_changed;
		if (failed || wait_acks(ackp[0], nworkers) != 0 || timed_scrape(db, PREFIX, &r) != 0) {
			failed = 1;
			break;
		}
		bench_collect = prof_idle;
		changed[k] = r.scrape_ms + r.render_ms;
		render[k] = r.render_ms;
		bytes = r.bytes;
		pbr[k] = r.pb_ms;
		pb_bytes = r.pb_bytes;
		double want = init * (double)(live_total + loaded_total) + (double)live_total * (k + 1);
		exact &= r.series == (size_t)nseries && r.sum == want;
		if (timed_scrape(db, PREFIX, &r) != 0) {
			failed = 1;
			break;
		}
		bench_collect = 0;
		idle[k] = r.scrape_ms + r.render_ms;
		exact &= r.sum == want;
	}
	/* Every CLOCK_FOLD_SECONDS the metrics program folds the live workers into
	 * the store, after an answer (scrape_idle): timed here with every
	 * series changed since the last fold. */
	double *fold = calloc((size_t)rounds, sizeof *fold);
	for (int k = 0; !failed && fold && !same && k < rounds; k++) {
		for (int w = 0; w < nworkers; w++)
			if (write(cmd[w], "i", 1) != 1)
				failed = 1;
		if (failed || wait_acks(ackp[0], nworkers) != 0 || timed_scrape(db, PREFIX, &r) != 0) {
			failed = 1;
			break;
		}
		exact &= r.sum == init * (double)(live_total + loaded_total) +
		                      (double)live_total * (rounds + 1 + k);
		setenv("PROMFCGI_FOLD_SECONDS", "0", 1);
		if (profile && strcmp(profile, "fold") == 0)
			CALLGRIND_TOGGLE_COLLECT;
		double t0 = now_ms();
		scrape_idle();
		fold[k] = now_ms() - t0;
		if (profile && strcmp(profile, "fold") == 0)
			CALLGRIND_TOGGLE_COLLECT;
		unsetenv("PROMFCGI_FOLD_SECONDS");
	}
	/* The store changed by another process (a worker's exit, the CLI): the
	 * next scrape reads it again.  A loader adds one series' worth. */
	double *reread = calloc((size_t)rounds, sizeof *reread);
	for (int k = 0; !failed && reread && !same && k < rounds; k++) {
		if (load(db, nseries + k, nseries + k + 1) != 0) {
			failed = 1;
			break;
		}
		bench_collect = profile && strcmp(profile, "reread") == 0;
		if (timed_scrape(db, PREFIX, &r) != 0) {
			failed = 1;
			break;
		}
		bench_collect = 0;
		reread[k] = r.scrape_ms + r.render_ms;
		double want = init * (double)(live_total + loaded_total + k + 1) +
		              (double)live_total * (2 * rounds);
		exact &= r.series == (size_t)(nseries + k + 1) && r.sum == want;
	}
	scrape_close();
	for (int w = 0; w < nworkers; w++) {
		kill(pids[w], SIGKILL);
		waitpid(pids[w], NULL, 0);
	}
	remove_store(db);
	if (failed) {
		fprintf(stderr, "scrape_bench: failed (series %ld, workers %d)\n", nseries, nworkers);
		return 1;
	}
	if (argc == 6)
		printf("%s\t", kinds[kind]);
	printf("%ld\t%d\t%ld\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%zu\t%d\t%.3f\t%.3f", nseries, nworkers,
	       live_total, rounds, first, median(changed, rounds), median(idle, rounds),
	       median(render, rounds), bytes, exact, reread ? median(reread, rounds) : 0,
	       fold ? median(fold, rounds) : 0);
	if (argc == 6)
		printf("\t%.3f\t%zu", median(pbr, rounds), pb_bytes);
	printf("\n");
	return exact ? 0 : 1;
}
