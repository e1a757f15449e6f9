/* SPDX-License-Identifier: MIT */
/*
 * store_bench.c — what the store costs a metrics process (issue 20): reading
 * it again after another process changed it, and folding the live workers.
 *
 * Usage: store_bench DB SERIES WORKERS ROUNDS
 * A store of SERIES counter series (4 families, labels handler and code, as
 * scrape_bench's), WORKERS live workers holding a prefix of their range
 * (at most 4,000 series each; a staging file holds 4,096), loader processes
 * the rest (they record and fold at exit).  Prints one TSV line:
 *   series workers live rounds idle_ms reread_ms reread_rows reread_total_ms
 *   reread_new_ms fold_ms fold_max_ms exact
 *   idle_ms          scrape_collect with nothing new (median);
 *   reread_ms        scrape_collect right after another process folded one
 *                    series that the store has (a worker's graceful exit, the
 *                    command-line tool): the store read again (median);
 *   reread_rows      series rows that read took from the store;
 *   reread_total_ms  the same scrape with render_text;
 *   reread_new_ms    scrape_collect after another process folded a series the
 *                    store did not have (the output laid out again);
 *   fold_ms          scrape_idle folding every live worker, every series
 *                    changed (the metrics program does it once every
 *                    CLOCK_FOLD_SECONDS, after an answer; a scrape that
 *                    arrives meanwhile waits for it): median, and max_ms;
 *   exact            1 when every scrape's sum is what was recorded.
 * Loaders are this program started again (posix_spawn, not fork: after a
 * fork every page this process writes would take a copy-on-write fault).
 */
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

#define SLICE_MAX 4000
#define NFAM 4
#define PREFIX "bench_requests_"

static pf_family *fams[NFAM];
static const char *self;

static void define_families(void)
{
	static const char *const labels[] = {"handler", "code", NULL};
	for (int k = 0; k < NFAM; k++) {
		char name[64];
		snprintf(name, sizeof name, PREFIX "%d_total", k);
		fams[k] = pf_counter(name, "Requests by handler (benchmark).", labels);
	}
}

static pf_series *series_of(long i)
{
	char handler[32];
	snprintf(handler, sizeof handler, "/h/%ld", i);
	const char *v[] = {handler, "200", NULL};
	return pf_with(fams[i % NFAM], v);
}

/* Records series [lo, hi) once each and folds them (another process). */
static int load(const char *db, long lo, long hi)
{
	char from[24], to[24];
	snprintf(from, sizeof from, "%ld", lo);
	snprintf(to, sizeof to, "%ld", hi);
	char *argv[] = {"store_bench", "--load", (char *)db, from, to, NULL};
	pid_t pid;
	int st;
	if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
		return -1;
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* A live worker: records its series once, says so, then on every command
 * byte increments each of them and acknowledges. */
static void worker(const char *db, long lo, long hi, int cmd, int ack)
{
	pf_open(db);
	define_families();
	long n = hi - lo;
	pf_series **s = calloc((size_t)(n ? n : 1), sizeof *s);
	int bad = !s;
	for (long i = 0; !bad && i < n; i++)
		bad |= !(s[i] = series_of(lo + i)) || pf_inc(s[i]) != 0;
	char c = bad ? 'E' : 'r';
	if (write(ack, &c, 1) != 1 || bad)
		_exit(1);
	while (read(cmd, &c, 1) == 1) {
		for (long i = 0; i < n; i++)
			pf_inc(s[i]);
		if (write(ack, "a", 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static int wait_acks(int ack, int n)
{
	char c;
	for (; n > 0; n--)
		if (read(ack, &c, 1) != 1 || c == 'E')
			return -1;
	return 0;
}

int main(int argc, char **argv)
{
	self = argv[0];
	if (argc == 5 && strcmp(argv[1], "--load") == 0) {
		pf_open(argv[2]);
		define_families();
		int bad = 0;
		for (long i = atol(argv[3]); i < atol(argv[4]); i++)
			bad |= pf_inc(series_of(i)) != 0;
		return pf_close() != 0 || bad;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: %s DB SERIES WORKERS ROUNDS\n", argv[0]);
		return 2;
	}
	const char *db = argv[1];
	long nseries = atol(argv[2]);
	int nworkers = atoi(argv[3]), rounds = atoi(argv[4]);
	if (nseries < 1 || nworkers < 1 || nworkers > 1000 || rounds < 1 || rounds > 100)
		return 2;
	remove_store(db);
	signal(SIGPIPE, SIG_IGN);
	long live = 0;
	long *lo = calloc((size_t)nworkers, sizeof *lo), *hi = calloc((size_t)nworkers, sizeof *hi);
	pid_t *pids = calloc((size_t)nworkers, sizeof *pids);
	int *cmd = calloc((size_t)nworkers, sizeof *cmd), ackp[2], failed = 0;
	if (!lo || !hi || !pids || !cmd || pipe(ackp) != 0)
		return 1;
	for (int w = 0; w < nworkers && !failed; w++) {
		lo[w] = nseries * w / nworkers;
		long end = nseries * (w + 1) / nworkers;
		hi[w] = end - lo[w] > SLICE_MAX ? lo[w] + SLICE_MAX : end;
		live += hi[w] - lo[w];
		for (long a = hi[w]; a < end && !failed; a += SLICE_MAX)
			failed = load(db, a, a + SLICE_MAX < end ? a + SLICE_MAX : end) != 0;
	}
	for (int w = 0; w < nworkers && !failed; w++) {
		int p[2];
		if (pipe(p) != 0 || (pids[w] = fork()) < 0) {
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
	failed |= wait_acks(ackp[0], nworkers) != 0;

	double *idle = calloc((size_t)rounds, sizeof *idle), *reread = calloc((size_t)rounds, sizeof *reread);
	double *total = calloc((size_t)rounds, sizeof *total), *fresh = calloc((size_t)rounds, sizeof *fresh);
	double *fold = calloc((size_t)rounds, sizeof *fold), want = (double)nseries, fold_max = 0;
	unsigned rows = 0;
	int exact = 1;
	struct scrape_result r;
	/* the first scrape reads the store whole and folds the live (their checkpoints) */
	failed |= !idle || !reread || !total || !fresh || !fold || timed_scrape(db, PREFIX, &r) != 0;
	exact &= !failed && r.series == (size_t)nseries && r.sum == want;
	for (int k = 0; !failed && k < rounds; k++) {
		failed |= timed_scrape(db, PREFIX, &r) != 0;
		idle[k] = r.scrape_ms;
	}
	/* SCRAPE_PROFILE=reread|reread_new|fold: only those are counted by callgrind */
	const char *profile = getenv("SCRAPE_PROFILE");
	profile = profile ? profile : "";
	for (int k = 0; !failed && k < rounds; k++) { /* one series the store has */
		failed |= load(db, k, k + 1) != 0;
		bench_collect = strcmp(profile, "reread") == 0;
		failed |= failed || timed_scrape(db, PREFIX, &r) != 0;
		bench_collect = 0;
		want += 1;
		reread[k] = r.scrape_ms;
		total[k] = r.scrape_ms + r.render_ms;
		rows = scrape_last_stats()->store_rows;
		exact &= r.sum == want;
	}
	for (int k = 0; !failed && k < rounds; k++) { /* one it did not have */
		failed |= load(db, nseries + k, nseries + k + 1) != 0;
		bench_collect = strcmp(profile, "reread_new") == 0;
		failed |= failed || timed_scrape(db, PREFIX, &r) != 0;
		bench_collect = 0;
		want += 1;
		fresh[k] = r.scrape_ms;
		exact &= r.sum == want && r.series == (size_t)(nseries + k + 1);
	}
	for (int k = 0; !failed && k < rounds; k++) { /* every live series changed */
		for (int w = 0; w < nworkers; w++)
			failed |= write(cmd[w], "i", 1) != 1;
		failed |= failed || wait_acks(ackp[0], nworkers) != 0 || timed_scrape(db, PREFIX, &r) != 0;
		want += (double)live;
		exact &= r.sum == want;
		setenv("PROMFCGI_FOLD_SECONDS", "0", 1);
		if (strcmp(profile, "fold") == 0)
			CALLGRIND_TOGGLE_COLLECT;
		double t0 = now_ms();
		scrape_idle();
		fold[k] = now_ms() - t0;
		if (strcmp(profile, "fold") == 0)
			CALLGRIND_TOGGLE_COLLECT;
		unsetenv("PROMFCGI_FOLD_SECONDS");
		if (fold[k] > fold_max)
			fold_max = fold[k];
		failed |= timed_scrape(db, PREFIX, &r) != 0;
		exact &= r.sum == want;
	}
	scrape_close();
	for (int w = 0; w < nworkers; w++) {
		kill(pids[w], SIGKILL);
		waitpid(pids[w], NULL, 0);
	}
	remove_store(db);
	if (failed) {
		fprintf(stderr, "store_bench: failed (series %ld, workers %d)\n", nseries, nworkers);
		return 1;
	}
	printf("%ld\t%d\t%ld\t%d\t%.3f\t%.3f\t%u\t%.3f\t%.3f\t%.3f\t%.3f\t%d\n", nseries, nworkers, live,
	       rounds, median(idle, rounds), median(reread, rounds), rows, median(total, rounds),
	       median(fresh, rounds), median(fold, rounds), fold_max, exact);
	return exact ? 0 : 1;
}
