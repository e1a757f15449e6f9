/* SPDX-License-Identifier: MIT */
/*
 * test_scrape.c — the scrape that reads live workers' files instead of
 * folding them (metrics/scrape.c, merge.c): exact and monotonic while workers record,
 * exit and are killed; a worker's own final fold racing a scrape at each of
 * its steps; files mapped once and unmapped when they go; the store read
 * again when another process changed it; live workers folded every
 * PROMFCGI_FOLD_SECONDS; a crash between a batch's commit and its unlinks;
 * liveness without pidfds.
 */
#include <dirent.h>
#include <fcntl.h>
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
#include "test.h"
#include "util.h"

static char db[512], dir[600];
static pf_series *req, *dur, *active;

static void fresh(const char *tag)
{
	test_new_store(db, sizeof db, tag);
	snprintf(dir, sizeof dir, "%s.stage", db);
}

static void define(void)
{
	static const char *const l[] = {"route", NULL};
	req = pf_with(pf_counter("requests_total", "Requests.", l), (const char *[]){"/", NULL});
	dur = pf_with(pf_histogram("request_duration_seconds", "Durations.", l, NULL, 0),
	              (const char *[]){"/", NULL});
	active = pf_with(pf_gauge("active_requests", "In flight.", NULL), NULL);
}

/* One request as the HTTP layer records it: one atomic change. */
static void request(int i)
{
	pf_begin();
	pf_inc(req);
	pf_observe(dur, 0.001 * (i % 50));
	pf_commit();
}

/* requests_total and the histogram's count, from one scrape. */
static int scrape2(double *count, double *hcount)
{
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "  scrape failed: %s\n", reason);
		return -1;
	}
	*count = *hcount = 0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		for (size_t j = 0; j < f->nseries; j++) {
			if (strcmp(f->name, "requests_total") == 0)
				*count += f->series[j].cells[0];
			if (strcmp(f->name, "request_duration_seconds") == 0)
				for (int b = 0; b <= f->nbuckets; b++)
					*hcount += f->series[j].cells[b];
		}
	}
	model_collection_free(&c);
	return 0;
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

static int count_one(void *arg, const char *name)
{
	(void)name;
	++*(int *)arg;
	return 0;
}

/* Incarnations the store has rows of. */
static int incarnations(void)
{
	struct db *h;
	char err[256];
	int n = 0;
	if (db_open(db, 1000, &h, err, sizeof err) != 0)
		return -1;
	if (db_each_incarnation(h, count_one, &n) != 0)
		n = -1;
	db_close(h);
	return n;
}

/* Another metrics process, answering "s" with its scrape's requests_total
 * (fork it before this process scrapes: a connection must not cross fork). */
struct scraper {
	int cmd, ans;
	pid_t pid;
};

static struct scraper spawn_scraper(void)
{
	int a[2], b[2];
	struct scraper s = {-1, -1, -1};
	CHECK(pipe(a) == 0 && pipe(b) == 0);
	if ((s.pid = fork()) == 0) {
		char c;
		while (read(a[0], &c, 1) == 1 && c == 's') {
			double v = test_total(db, "requests_total", NULL);
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

static void stop_scraper(struct scraper *s)
{
	CHECK(write(s->cmd, "q", 1) == 1);
	waitpid(s->pid, NULL, 0);
}

/* What the store itself holds of a family (no staging file read). */
static double in_store(const char *family)
{
	struct db *h;
	char err[256];
	struct collection c;
	double sum = NAN;
	if (db_open(db, 1000, &h, err, sizeof err) != 0)
		return NAN;
	if (db_read(h, &c) == 0) {
		sum = 0;
		for (size_t i = 0; i < c.nfamilies; i++)
			if (strcmp(c.families[i].name, family) == 0)
				for (size_t j = 0; j < c.families[i].nseries; j++)
					sum += c.families[i].series[j].cells[0];
		model_collection_free(&c);
	}
	db_close(h);
	return sum;
}

/* Workers record, exit through pf_close or are SIGKILLed, while this
 * process scrapes as fast as it can: every scrape is one consistent cut
 * (a request's count and its observation together), never lower than the
 * one before, and the end is exact. */
static void live_merge_exact_and_monotonic(void)
{
	enum { WORKERS = 6, EACH = 4000 };
	fresh("merge");
	pid_t pids[WORKERS];
	for (int w = 0; w < WORKERS; w++) {
		if ((pids[w] = fork()) == 0) {
			pf_open(db);
			define();
			pf_inc(active);
			for (int i = 0; i < EACH; i++)
				request(i);
			pf_dec(active);
			if (w % 2)
				raise(SIGSTOP); /* killed by the parent: folded by a scrape */
			_exit(pf_close() == 0 ? 0 : 1);
		}
	}
	double last = 0;
	int scrapes = 0, stopped = 0, done = 0;
	while (done < WORKERS) {
		double n, h;
		if (scrape2(&n, &h) != 0) {
			CHECK(0);
			break;
		}
		scrapes++;
		CHECK(n == h);       /* one consistent cut */
		CHECK(n >= last);    /* monotonic */
		CHECK(n <= WORKERS * EACH);
		last = n;
		/* every other scrape also folds the live: what was folded moves */
		if (scrapes % 2)
			setenv("PROMFCGI_FOLD_SECONDS", "0", 1);
		else
			unsetenv("PROMFCGI_FOLD_SECONDS");
		for (int w = 0; w < WORKERS; w++) {
			int st;
			if (pids[w] <= 0 || waitpid(pids[w], &st, WNOHANG | WUNTRACED) != pids[w])
				continue;
			if (WIFSTOPPED(st)) {
				kill(pids[w], SIGKILL);
				waitpid(pids[w], &st, 0);
				stopped++;
			} else {
				CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			}
			pids[w] = 0;
			done++;
		}
	}
	double n, h;
	CHECK(scrape2(&n, &h) == 0);
	CHECK_NUM(n, WORKERS * EACH);
	CHECK_NUM(h, WORKERS * EACH);
	CHECK_NUM(test_total(db, "active_requests", NULL), 0);
	CHECK(stopped == WORKERS / 2);
	CHECK(files("w-") == 0);
	CHECK(incarnations() == 0);
	fprintf(stderr, "  %d scrapes while %d workers recorded\n", scrapes, WORKERS);
}

/* The test hook of a worker: stop at each named step of its final fold. */
static void stop_here(const char *where)
{
	(void)where;
	raise(SIGSTOP);
}

/* A worker's own final fold (pf_close) stopped at each of its steps —
 * closing set, fold committed, file unlinked, rows forgotten — while this
 * process scrapes: every scrape says exactly what it recorded, with the
 * worker folded before (the store has part of it) or never folded. */
static void final_fold_races_scrape(void)
{
	enum { EACH = 500 };
	static const char *const steps[] = {"closing", "folded", "unlinked", "forgotten"};
	for (int folded_before = 0; folded_before < 2; folded_before++) {
		fresh("race");
		double n, h;
		CHECK(scrape2(&n, &h) == 0); /* the view is loaded, the stamp fresh */
		int go[2], ready[2];
		CHECK(pipe(go) == 0 && pipe(ready) == 0);
		pid_t pid = fork();
		if (pid == 0) {
			char c;
			pf_open(db);
			define();
			for (int i = 0; i < EACH / 2; i++)
				request(i);
			if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
				_exit(2);
			for (int i = EACH / 2; i < EACH; i++)
				request(i);
			stage_test_hook = stop_here;
			_exit(pf_close() == 0 ? 0 : 1);
		}
		char c;
		CHECK(read(ready[0], &c, 1) == 1);
		if (folded_before) { /* the store gets the first half now */
			setenv("PROMFCGI_FOLD_SECONDS", "0", 1);
			CHECK(scrape2(&n, &h) == 0 && n == EACH / 2);
			unsetenv("PROMFCGI_FOLD_SECONDS");
			CHECK_NUM(in_store("requests_total"), EACH / 2);
		}
		CHECK(write(go[1], "g", 1) == 1);
		for (int k = 0; k < 4; k++) {
			int st;
			CHECK(waitpid(pid, &st, WUNTRACED) == pid && WIFSTOPPED(st));
			for (int again = 0; again < 2; again++) {
				CHECK(scrape2(&n, &h) == 0);
				if (n != EACH || h != EACH)
					fprintf(stderr, "  stopped at '%s' (folded before: %d): %g and %g, want %d\n",
					        steps[k], folded_before, n, h, EACH);
				CHECK(n == EACH && h == EACH);
			}
			kill(pid, SIGCONT);
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK(scrape2(&n, &h) == 0 && n == EACH && h == EACH);
		CHECK(files("w-") == 0);
		scrape_close();
	}
}

/* Mappings of this store's staging files in this process. */
static int mapped(void)
{
	FILE *fp = fopen("/proc/self/maps", "re");
	char line[4096];
	int n = 0;
	while (fp && fgets(line, sizeof line, fp))
		n += strstr(line, dir) != NULL;
	if (fp)
		fclose(fp);
	return n;
}

static pid_t parked_worker(int requests)
{
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		define();
		for (int i = 0; i < requests; i++)
			request(i);
		raise(SIGSTOP);
		_exit(0);
	}
	waitpid(pid, NULL, WUNTRACED);
	return pid;
}

/* Each worker's file is mapped once and stays mapped between scrapes; a
 * file made again under the same name is mapped afresh; the mapping goes
 * when the file goes. */
static void mappings_kept_and_dropped(void)
{
	fresh("maps");
	pid_t a = parked_worker(3), b = parked_worker(4);
	CHECK_NUM(test_total(db, "requests_total", NULL), 7);
	CHECK(mapped() == 2);
	CHECK_NUM(test_total(db, "requests_total", NULL), 7);
	CHECK(mapped() == 2); /* kept, not mapped again */
	/* a's file made again (the directory deleted under it): a new inode */
	char path[1200], tmp[1300];
	DIR *d = opendir(dir);
	char want[32];
	snprintf(want, sizeof want, "-%ld-", (long)a);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strstr(e->d_name, want))
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
	if (d)
		closedir(d);
	snprintf(tmp, sizeof tmp, "%s.copy", path);
	char cmd[6000];
	snprintf(cmd, sizeof cmd, "cp %s %s && mv -f %s %s", path, tmp, tmp, path);
	CHECK(system(cmd) == 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 7);
	CHECK(mapped() == 2); /* the old inode's mapping went */
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 7); /* a folded, its file gone */
	CHECK(mapped() == 1);
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 7);
	CHECK(mapped() == 0);
	CHECK(files("w-") == 0);
	scrape_close();
	CHECK(mapped() == 0);
}

/* The store as this process read it is kept between scrapes; when another
 * process commits (the command-line tool, a worker's exit, another metrics
 * process folding the dead), the next scrape reads it again. */
static void store_read_again_when_changed(void)
{
	fresh("version");
	struct scraper other = spawn_scraper();
	pid_t a = parked_worker(5);
	CHECK_NUM(test_total(db, "requests_total", NULL), 5);
	/* the command-line tool's way: straight into the store */
	pid_t pid = fork();
	if (pid == 0) {
		struct db *h;
		char err[256];
		const char key[] = "/";
		_exit(db_open(db, 1000, &h, err, sizeof err) == 0 &&
		              db_record(h, "requests_total", key, sizeof key, DB_ADD, 10) == 0
		          ? 0
		          : 1);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 15);
	/* a worker that exits gracefully, folding itself */
	if ((pid = fork()) == 0) {
		pf_open(db);
		define();
		for (int i = 0; i < 20; i++)
			request(i);
		_exit(pf_close() == 0 ? 0 : 1);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 35);
	/* another metrics process folds a dead worker this one has mapped */
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	CHECK_NUM(ask(&other), 35);
	CHECK(files("w-") == 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 35);
	CHECK_NUM(in_store("requests_total"), 35);
	stop_scraper(&other);
}

/* Live workers are folded into the store every PROMFCGI_FOLD_SECONDS, not
 * at every scrape: by scrape_idle (the metrics program calls it after
 * each answer), by a scrape only when twice that has passed; the
 * exposition is exact before and after. */
static void live_folded_on_interval(void)
{
	fresh("interval");
	setenv("PROMFCGI_FOLD_SECONDS", "2", 1);
	struct scraper other = spawn_scraper();
	int go[2], ready[2];
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		pf_open(db);
		define();
		while (read(go[0], &c, 1) == 1) {
			for (int i = 0; i < 10; i++)
				request(i);
			if (write(ready[1], "r", 1) != 1)
				break;
		}
		_exit(0);
	}
	char c;
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 10); /* never folded: a scrape does */
	CHECK_NUM(in_store("requests_total"), 10);
	char stamp[700];
	snprintf(stamp, sizeof stamp, "%s%s", db, CLOCK_FOLD_STAMP);
	CHECK(access(stamp, F_OK) == 0);
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 20); /* read from the file */
	scrape_idle();                                       /* not due yet */
	CHECK_NUM(in_store("requests_total"), 10);
	usleep(2500000); /* due, not overdue */
	CHECK_NUM(test_total(db, "requests_total", NULL), 20);
	CHECK_NUM(in_store("requests_total"), 10); /* a scrape leaves it to scrape_idle */
	scrape_idle();
	CHECK_NUM(in_store("requests_total"), 20); /* folded while it lives */
	CHECK_NUM(test_total(db, "requests_total", NULL), 20);
	CHECK(files("w-") == 1);
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 30);
	/* another metrics process agrees; overdue, its scrape folds */
	CHECK_NUM(ask(&other), 30);
	usleep(4500000);
	CHECK_NUM(ask(&other), 30);
	CHECK_NUM(in_store("requests_total"), 30);
	CHECK_NUM(test_total(db, "requests_total", NULL), 30);
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1);
	CHECK_NUM(ask(&other), 40);
	CHECK_NUM(test_total(db, "requests_total", NULL), 40);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_NUM(test_total(db, "requests_total", NULL), 40);
	CHECK_NUM(in_store("requests_total"), 40);
	stop_scraper(&other);
}

static void crash(const char *where)
{
	if (strcmp(where, "batch-committed") == 0)
		_exit(42);
}

/* A scrape folds every dead worker in one transaction, then unlinks their
 * files, then forgets their rows; killed between the commit and the
 * unlinks, it leaves retired rows and files, which the next scrape removes
 * without counting anything twice. */
static void batch_crash_between_commit_and_unlink(void)
{
	enum { DEAD = 3, EACH = 7 };
	fresh("batch");
	pid_t pids[DEAD];
	for (int w = 0; w < DEAD; w++)
		pids[w] = parked_worker(EACH);
	for (int w = 0; w < DEAD; w++) {
		kill(pids[w], SIGKILL);
		waitpid(pids[w], NULL, 0);
	}
	pid_t pid = fork();
	if (pid == 0) {
		stage_test_hook = crash;
		test_total(db, "requests_total", NULL);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 42);
	CHECK(files("w-") == DEAD);                   /* not unlinked */
	CHECK(incarnations() == DEAD);     /* retired, not forgotten */
	CHECK_NUM(in_store("requests_total"), DEAD * EACH); /* one commit for all */
	for (int i = 0; i < 2; i++)
		CHECK_NUM(test_total(db, "requests_total", NULL), DEAD * EACH);
	CHECK(files("w-") == 0);
	CHECK(incarnations() == 0);
	CHECK_NUM(in_store("requests_total"), DEAD * EACH);
}

static int pidfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	char link[300], to[128];
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		ssize_t l = readlink(link, to, sizeof to - 1);
		if (l > 0) {
			to[l] = '\0';
			n += strcmp(to, "anon_inode:[pidfd]") == 0;
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* Liveness is a pidfd per worker, polled; without pidfds (PROMFCGI_NO_PIDFD,
 * or a kernel before 5.3) it is /proc, with the same results. */
static void liveness_with_and_without_pidfds(void)
{
	for (int no_pidfd = 0; no_pidfd < 2; no_pidfd++) {
		pid_t pid = fork();
		if (pid == 0) {
			if (no_pidfd)
				setenv("PROMFCGI_NO_PIDFD", "1", 1);
			fresh("liveness");
			int before = pidfds(); /* inherited ones, if any */
			pid_t a = parked_worker(2), b = parked_worker(3);
			CHECK_NUM(test_total(db, "requests_total", NULL), 5);
			CHECK(pidfds() - before == (no_pidfd ? 0 : 2));
			CHECK(scrape_last_stats()->live == 2);
			kill(a, SIGKILL);
			waitpid(a, NULL, 0);
			CHECK_NUM(test_total(db, "requests_total", NULL), 5);
			CHECK(files("w-") == 1); /* a's folded and gone */
			CHECK(pidfds() - before == (no_pidfd ? 0 : 1));
			CHECK(scrape_last_stats()->live == 1);
			kill(b, SIGKILL);
			waitpid(b, NULL, 0);
			CHECK_NUM(test_total(db, "requests_total", NULL), 5);
			CHECK(files("w-") == 0 && pidfds() == before);
			CHECK(scrape_last_stats()->live == 0);
			_exit(test_failures ? 1 : 0);
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

const struct test scrape_tests[] = {
    {"scrape/live_merge_exact_and_monotonic", live_merge_exact_and_monotonic},
    {"scrape/final_fold_races_scrape", final_fold_races_scrape},
    {"scrape/mappings_kept_and_dropped", mappings_kept_and_dropped},
    {"scrape/store_read_again_when_changed", store_read_again_when_changed},
    {"scrape/live_folded_on_interval", live_folded_on_interval},
    {"scrape/batch_crash_between_commit_and_unlink", batch_crash_between_commit_and_unlink},
    {"scrape/liveness_with_and_without_pidfds", liveness_with_and_without_pidfds},
    {NULL, NULL},
};
