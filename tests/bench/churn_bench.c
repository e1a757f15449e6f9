/* SPDX-License-Identifier: MIT */
/*
 * churn_bench.c — does the store or the scrape grow with worker restarts?
 *
 * Usage: churn_bench DB CHECKPOINT...   (e.g. churn_bench /tmp/c.db 1 100 1000)
 *        churn_bench DB --burst N...     (e.g. churn_bench /tmp/c.db --burst 10 190 1000)
 * Runs worker lifetimes one after another up to the last checkpoint.  A
 * lifetime is a process that pf_open()s, defines the hello app's three
 * families, records REQS requests the way app/hello.c does, and then either
 * exits through pf_close() (even lifetimes) or is SIGKILLed (odd ones, so
 * its file is folded and retired by a scrape).  Prometheus scrapes every
 * SCRAPE_EVERY lifetimes.  At each checkpoint it prints one TSV line:
 *   lifetimes scrape_ms db_bytes wal_bytes stage_bytes stage_files
 *   logical_bytes incarnation_rows folded_rows exact
 * scrape_ms is the median of 21 scrapes (scrape_collect + render_text); sizes are
 * bytes allocated on disk; logical_bytes is the database's pages in use
 * (page_count - freelist_count, read through the WAL), which unlike the
 * files does not depend on when SQLite last checkpointed; exact is 1 when
 * requests_total and request_duration_seconds_count both equal
 * REQS x lifetimes.
 *
 * --burst: for each N, a new store, N lifetimes one after another with no
 * scrape between (the hello app's durations, native buckets too), then one
 * scrape; then the WAL is checkpointed into the database (as SQLite does
 * on its own) and one TSV line printed:
 *   deaths db_bytes pages incarnation_rows folded_rows exact
 * db_bytes is the database file's size: what a burst of deaths leaves of
 * the store's high-water mark (issue 20: within twice that of 10 deaths).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "promfcgi.h"
#include "benchutil.h"

#define REQS 10
#define SCRAPE_EVERY 10

static int native_durations; /* --burst: as the hello app records them */

static void lifetime(const char *db, int killed, int ack)
{
	static const char *const req_labels[] = {"method", "route", "code", NULL};
	static const char *const dur_labels[] = {"method", "route", NULL};
	pf_open(db);
	pf_family *req = pf_counter("requests_total", "Total number of requests.", req_labels);
	pf_family *dur = native_durations
	                     ? pf_histogram_native("request_duration_seconds",
	                                           "Duration of requests in seconds.", dur_labels,
	                                           pf_default_buckets, pf_default_nbuckets,
	                                           PF_NATIVE_SCHEMA_DEFAULT,
	                                           PF_NATIVE_ZERO_THRESHOLD_DEFAULT)
	                     : pf_histogram("request_duration_seconds",
	                                    "Duration of requests in seconds.", dur_labels, NULL, 0);
	pf_series *active = pf_with(pf_gauge("active_requests", "Number of requests in flight.", NULL),
	                            NULL);
	const char *rv[] = {"GET", "/", "200", NULL}, *dv[] = {"GET", "/", NULL};
	pf_series *count = pf_with(req, rv), *seconds = pf_with(dur, dv);
	for (int i = 0; i < REQS; i++) {
		pf_inc(active);
		pf_begin();
		pf_inc(count);
		pf_observe(seconds, 0.0001 * (i + 1));
		pf_dec(active);
		pf_commit();
	}
	if (!killed)
		_exit(pf_close() == 0 ? 0 : 1);
	if (write(ack, "k", 1) != 1)
		_exit(1);
	for (;;)
		pause(); /* until SIGKILL */
}

static int run_lifetime(const char *db, int killed)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		lifetime(db, killed, p[1]);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	int rc = 0, st;
	if (killed) {
		char c;
		rc = read(p[0], &c, 1) == 1 ? 0 : -1;
		kill(pid, SIGKILL);
	}
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (!killed && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		rc = -1;
	return rc;
}

static long long query(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int checkpoint(const char *db, int lifetimes)
{
	struct scrape_result r;
	double t[21];
	if (timed_scrape(db, "requests_total", &r) != 0) /* folds what the last ones left */
		return -1;
	double requests = r.sum;
	for (int i = 0; i < 21; i++) {
		if (timed_scrape(db, "requests_total", &r) != 0)
			return -1;
		t[i] = r.scrape_ms + r.render_ms;
	}
	/* histogram count: a separate tally over request_duration_seconds */
	struct collection c;
	char reason[300];
	double hcount = -1;
	if (scrape_collect(db, &c, reason, sizeof reason) == 0) {
		for (size_t i = 0; i < c.nfamilies; i++)
			if (strcmp(c.families[i].name, "request_duration_seconds") == 0) {
				hcount = 0;
				const struct family_data *f = &c.families[i];
				for (size_t j = 0; j < f->nseries; j++)
					for (int b = 0; b <= f->nbuckets; b++)
						hcount += f->series[j].cells[b];
			}
		model_collection_free(&c);
	}
	char path[4096 + 16];
	sqlite3 *h;
	long long logical = -1, inc = -1, folded = -1;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		logical = (query(h, "PRAGMA page_count") - query(h, "PRAGMA freelist_count")) *
		          query(h, "PRAGMA page_size");
		inc = query(h, "SELECT count(*) FROM incarnation");
		folded = query(h, "SELECT count(*) FROM folded");
	}
	sqlite3_close(h);
	long long dbb = disk_bytes(db);
	snprintf(path, sizeof path, "%s-wal", db);
	long long wal = disk_bytes(path);
	snprintf(path, sizeof path, "%s.stage", db);
	long long stage = disk_bytes(path);
	int files = count_files(path);
	double want = (double)REQS * lifetimes;
	int exact = requests == want && hcount == want;
	printf("%d\t%.3f\t%lld\t%lld\t%lld\t%d\t%lld\t%lld\t%lld\t%d\n", lifetimes, median(t, 21), dbb,
	       wal, stage, files, logical, inc, folded, exact);
	fflush(stdout);
	return exact ? 0 : 1;
}

/* N lifetimes with no scrape between, one scrape, the WAL checkpointed:
 * the store file's size. */
static int burst(const char *db, int n)
{
	remove_store(db);
	for (int i = 1; i <= n; i++)
		if (run_lifetime(db, i % 2) != 0) {
			fprintf(stderr, "churn_bench: lifetime %d failed\n", i);
			return 1;
		}
	struct scrape_result r;
	if (timed_scrape(db, "requests_total", &r) != 0)
		return 1;
	scrape_close();
	sqlite3 *h;
	long long pages = -1, inc = -1, folded = -1;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
		sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		pages = query(h, "PRAGMA page_count");
		inc = query(h, "SELECT count(*) FROM incarnation");
		folded = query(h, "SELECT count(*) FROM folded");
	}
	sqlite3_close(h);
	struct stat st;
	long long bytes = stat(db, &st) == 0 ? (long long)st.st_size : -1;
	int exact = r.sum == (double)REQS * n;
	printf("%d\t%lld\t%lld\t%lld\t%lld\t%d\n", n, bytes, pages, inc, folded, exact);
	fflush(stdout);
	remove_store(db);
	return exact ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[2], "--burst") == 0) {
		native_durations = 1;
		int rc = 0;
		for (int i = 3; i < argc; i++)
			rc |= atoi(argv[i]) < 1 || atoi(argv[i]) > 100000 || burst(argv[1], atoi(argv[i]));
		return rc;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: %s DB CHECKPOINT...\n", argv[0]);
		return 2;
	}
	const char *db = argv[1];
	remove_store(db);
	int rc = 0, next = 2;
	int last = atoi(argv[argc - 1]);
	if (last < 1 || last > 100000)
		return 2;
	/* The scraper's connection is opened by the first scrape, after the first
	 * fork; children never touch it (a connection must not cross fork()). */
	for (int n = 1; n <= last; n++) {
		if (run_lifetime(db, n % 2) != 0) {
			fprintf(stderr, "churn_bench: lifetime %d failed\n", n);
			rc = 1;
			break;
		}
		if (n == atoi(argv[next])) {
			rc |= checkpoint(db, n);
			next++;
		} else if (n % SCRAPE_EVERY == 0) {
			struct scrape_result r;
			if (timed_scrape(db, "requests_total", &r) != 0)
				rc = 1;
		}
	}
	scrape_close();
	remove_store(db);
	return rc;
}
