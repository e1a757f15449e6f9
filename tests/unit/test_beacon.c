/* SPDX-License-Identifier: MIT */
/*
 * test_beacon.c — a process that cannot record shows on /metrics (issue
 * 17; store/beacon.c).  A worker whose staging file cannot be created here
 * because of a file-size limit (RLIMIT_FSIZE: its 4.2 MiB file is allocated
 * up front) counts in its own memory; the metrics side (this test, as
 * pf_metrics_respond does) hears its report and counts its errors in
 * promfcgi_store_errors_total, which a scrape shows.  Before, the count
 * stayed 0: the errors lived in the worker's memory.  Once the worker gets
 * its file, what the metrics side counted is not counted again.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "promfcgi.h"
#include "store/beacon.h"
#include "store/registry.h"
#include "test.h"
#include "util.h"

static char db[700];
static int reports;
static struct beacon_report last;

/* What pf_metrics_respond does with a report (metrics/expose.c). */
static void heard(const struct beacon_report *r, void *arg)
{
	(void)arg;
	registry_add_errors(r->errors);
	last = *r;
	reports++;
}

static void wait_for(int fd)
{
	char c;
	CHECK(read(fd, &c, 1) == 1);
}

static void say(int fd)
{
	CHECK(write(fd, "x", 1) == 1);
}

/* The worker: no room for a staging file (a 4 KiB file-size limit: less
 * than a staging file's header), three
 * requests counted in memory; then, told to, it gets its file (limit
 * lifted) and closes. */
static void worker(int to_parent, int from_parent, int listening)
{
	struct rlimit small = {1 << 12, RLIM_INFINITY}, back = {RLIM_INFINITY, RLIM_INFINITY};
	signal(SIGXFSZ, SIG_IGN); /* EFBIG, not a signal */
	CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
	wait_for(from_parent); /* the metrics side is up */
	test_stderr_begin();
	CHECK(pf_open(NULL) == -1);
	const char *err = test_stderr_end();
	char want[3000];
	snprintf(want, sizeof want, "stage error: cannot create a staging file in %s.stage as uid %u", db,
	         (unsigned)geteuid());
	CHECK(test_lines_with(err, want) == 1);
	snprintf(want, sizeof want, ": File too large; the store is %s (from PROMFCGI_DB); counting in "
	         "memory only, which no scrape sees. Fix: make %s.stage writable by that uid, or set "
	         "PROMFCGI_DB to a store it can write, the same for the metrics program", db, db);
	CHECK(test_lines_with(err, want) == 1);
	pf_series *s = pf_with(pf_counter("beacon_requests_total", "Requests.", NULL), NULL);
	for (int i = 0; i < 3; i++)
		CHECK(pf_inc(s) == 0);
	if (!listening) { /* nobody heard that one: it is said again with the next */
		say(to_parent);
		wait_for(from_parent);
		sleep(1); /* pf_maintain looks at most once a second */
		CHECK(pf_maintain() == -1);
	}
	say(to_parent);
	wait_for(from_parent);
	CHECK(setrlimit(RLIMIT_FSIZE, &back) == 0);
	sleep(1);
	CHECK(pf_maintain() == 0); /* the file now, with the three requests */
	CHECK(pf_close() == 0);
	fflush(NULL);
	_exit(test_failures ? 1 : 0);
}

static void run(int listen_first)
{
	int up[2], down[2], status = 0;
	test_new_store(db, sizeof db, "beacon");
	setenv("PROMFCGI_DB", db, 1);
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid_t pid = fork(); /* first: a worker opens its own store after any fork */
	if (pid == 0)
		worker(up[1], down[0], listen_first);
	CHECK(pf_open(db) == 0); /* the metrics side, with its own staging file */
	int fd = listen_first ? beacon_listen(db) : -1;
	CHECK(!listen_first || fd >= 0);
	say(down[1]);
	wait_for(up[0]);
	if (!listen_first) {
		fd = beacon_listen(db);
		CHECK(fd >= 0);
		say(down[1]);
		wait_for(up[0]);
	}
	beacon_drain(fd, heard, NULL);
	CHECK(reports == 1);
	CHECK(last.pid == pid && last.uid == geteuid());
	/* one failure at pf_open, and (not heard) one more at pf_maintain */
	CHECK_NUM((double)last.errors[LOG_STAGE], listen_first ? 1 : 2);
	CHECK(strstr(last.reason, "cannot create a staging file in") != NULL);
	CHECK_NUM(test_total(db, "promfcgi_store_errors_total", "stage"), listen_first ? 1 : 2);
	CHECK(!(test_total(db, "beacon_requests_total", NULL) > 0)); /* in the worker's memory */
	say(down[1]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	beacon_drain(fd, heard, NULL);
	CHECK(reports == 1);
	/* its requests, and its errors counted once: those the metrics side
	 * counted left out of its file, which has the one logged since (its
	 * file made: "staging file created ...; counts kept") */
	CHECK_NUM(test_total(db, "beacon_requests_total", NULL), 3);
	CHECK_NUM(test_total(db, "promfcgi_store_errors_total", "stage"), listen_first ? 2 : 3);
	close(fd);
	pf_close();
}

static void heard_and_counted_once(void)
{
	run(1);
}

/* Reports to nobody (the metrics program not started yet) are kept and sent
 * with the next. */
static void kept_until_heard(void)
{
	run(0);
}

/* Only one process listens for a store (the first metrics program); the
 * name is the store's: another store's process is not heard. */
static void one_listener_per_store(void)
{
	char other[700];
	test_new_store(db, sizeof db, "beacon");
	test_new_store(other, sizeof other, "beacon");
	int a = beacon_listen(db), b = beacon_listen(db), c = beacon_listen(other);
	CHECK(a >= 0 && b == -1 && c >= 0);
	const uint64_t errs[LOG_OP_COUNT] = {0, 5, 0, 0};
	CHECK(beacon_send(other, errs, "elsewhere") == 1);
	reports = 0;
	beacon_drain(a, heard, NULL);
	CHECK(reports == 0);
	beacon_drain(c, heard, NULL);
	CHECK(reports == 1 && last.errors[LOG_STAGE] == 5 && strcmp(last.reason, "elsewhere") == 0);
	close(a);
	close(c);
	CHECK(beacon_send(other, errs, "nobody") == 0);
}

const struct test beacon_tests[] = {
    {"beacon/heard_and_counted_once", heard_and_counted_once},
    {"beacon/kept_until_heard", kept_until_heard},
    {"beacon/one_listener_per_store", one_listener_per_store},
    {NULL, NULL},
};
