/* SPDX-License-Identifier: MIT */
/*
 * registry.c — the public recording API (promfcgi.h), a process's part:
 * its store opened and closed, its staging file kept, its own families
 * (process, pool and store-error metrics).  Definitions and handles are
 * registry_define.c's, the writes registry_record.c's.
 *
 * One process has one registry.  A handle (pf_series) is the slot of a
 * series in the staging file; resolving it costs a hash lookup once, and
 * recording through it is a few memory stores.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/beacon.h"
#include "store/blocks.h"
#include "store/model.h"
#include "store/fold.h"
#include "store/gauge.h"
#include "store/hash.h"
#include "store/journal.h"
#include "store/log.h"
#include "store/notice.h"
#include "store/listener.h"
#include "store/names.h"
#include "store/path.h"
#include "store/pool.h"
#include "store/registry.h"
#include "promfcgi.h"
#include "store/stage.h"
#include "store/registry_internal.h"

/* SQLite will not use fds 0-2 (a stray write could hit the socket), and
 * FastCGI servers may start workers with 1 and 2 closed. */
static void keep_std_fds_open(void)
{
	for (int fd = 1; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", O_RDWR);
			if (n >= 0 && n != fd) {
				dup2(n, fd);
				close(n);
			}
		}
}

/* Process metrics, per program, summed over its processes: gauges over the
 * live ones; CPU over all that ever ran (a counter must not drop when a
 * worker dies), as of each one's last update (at most 1 s old, see
 * pf_maintain).  Start time has no meaningful sum and is left out. */
static void define_process_families(void)
{
	static const char *const by_program[] = {"program", NULL};
	const char *program[] = {program_invocation_short_name, NULL};
	registry.cpu = pf_with(pf_counter("process_cpu_seconds_total",
	                             "User and system CPU time of the program's processes.",
	                             by_program), program);
	registry.rss = pf_with(pf_gauge("process_resident_memory_bytes",
	                           "Resident memory of the program's live processes.", by_program),
	                  program);
	registry.vm = pf_with(pf_gauge("process_virtual_memory_bytes",
	                          "Virtual memory of the program's live processes.", by_program),
	                 program);
	registry.fds = pf_with(pf_gauge("process_open_fds",
	                           "Open file descriptors of the program's live processes.", by_program),
	                  program);
}

static void record_process(void)
{
	struct rusage ru;
	unsigned long vm_pages = 0, rss_pages = 0;
	int fds = 0;
	FILE *fp = fopen("/proc/self/statm", "re");
	if (fp) {
		if (fscanf(fp, "%lu %lu", &vm_pages, &rss_pages) != 2)
			vm_pages = rss_pages = 0;
		fclose(fp);
	}
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		fds += e->d_name[0] != '.';
	if (d)
		closedir(d);
	double page = (double)sysconf(_SC_PAGESIZE);
	pf_begin();
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		stage_assign_at(&registry.stage, registry.cpu->cell, cells_of(registry.cpu),
		                (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	pf_set(registry.rss, (double)rss_pages * page);
	pf_set(registry.vm, (double)vm_pages * page);
	pf_set(registry.fds, d ? fds - 1 : 0); /* less the one opendir used */
	pf_commit();
}

/* Pool metrics, for a FastCGI worker (fd 0 a listening socket) only: a
 * CGI process is no pool, and another process (a tool, a test) no worker.
 * Its start, and its end at zero (counted by the fold that retires its
 * file: pool.h); the facts the metrics program reads from its file (its
 * listener now; its request's start and the most connections it saw
 * waiting as it goes); the request counters the HTTP layer adds to.  All
 * in one change: a scrape sees a worker whole or not at all. */
static void define_pool_families(void)
{
	static const char *const by_program[] = {"program", NULL};
	static const char *const facts[] = {"program", "fact", NULL};
	static const char *const ends[] = {"program", "how", NULL};
	static const double queue_buckets[] = POOL_QUEUE_BUCKETS;
	const char *p = program_invocation_short_name;
	const char *const program[] = {p, NULL};
	if (listener_of_fd(0, &registry.pool.listener) != 0)
		return;
	pf_family *f = pf_gauge(POOL_FACTS, POOL_FACTS_HELP, facts);
	pf_family *d = pf_counter(POOL_DEATHS, POOL_DEATHS_HELP, ends);
	pf_begin();
	pf_set(pf_with(f, (const char *[]){p, POOL_FACT_LISTENER_FAMILY, NULL}), registry.pool.listener.family);
	pf_set(pf_with(f, (const char *[]){p, POOL_FACT_LISTENER_INODE, NULL}),
	       (double)registry.pool.listener.inode);
	registry.pool.start = pf_with(f, (const char *[]){p, POOL_FACT_REQUEST_START, NULL});
	registry.pool.queue_max = pf_with(f, (const char *[]){p, POOL_FACT_QUEUE_MAX, NULL});
	pf_inc(pf_with(pf_counter(POOL_STARTS, POOL_STARTS_HELP, by_program), program));
	pf_with(d, (const char *[]){p, "exit", NULL});
	pf_with(d, (const char *[]){p, "signal", NULL});
	registry.pool.busy = pf_with(pf_counter(POOL_BUSY, POOL_BUSY_HELP, by_program), program);
	registry.pool.slow = pf_with(pf_counter(POOL_SLOW, POOL_SLOW_HELP, by_program), program);
	registry.pool.queue = pf_with(pf_histogram_native(POOL_QUEUE, POOL_QUEUE_HELP, by_program,
	                                             queue_buckets, POOL_QUEUE_NBUCKETS,
	                                             PF_NATIVE_SCHEMA_DEFAULT,
	                                             PF_NATIVE_ZERO_THRESHOLD_DEFAULT),
	                         program);
	pf_commit();
	const char *slow = getenv("PROMFCGI_SLOW_SECONDS");
	char *end = NULL;
	registry.pool.slow_after = slow && *slow ? strtod(slow, &end) : POOL_SLOW_DEFAULT;
	if (!slow || !*slow || *end || !(registry.pool.slow_after > 0))
		registry.pool.slow_after = POOL_SLOW_DEFAULT;
}

/* Once a second at most, after a request (pf_maintain): the listener's
 * queue, its most kept.  Four system calls (a netlink socket, a dump, its
 * answer, close), and none when the listener cannot be read. */
static void sample_listen_queue(void)
{
	struct listener_queue q;
	unsigned char found = 0;
	if (!registry.pool.queue_max || listener_read(&registry.pool.listener, 1, &q, &found) < 0 || !found ||
	    q.waiting <= registry.pool.most_waiting)
		return;
	registry.pool.most_waiting = q.waiting;
	pf_set(registry.pool.queue_max, q.waiting);
}

void registry_request_begin(double start, double queue)
{
	if (!registry.pool.start)
		return;
	pf_begin();
	stage_assign(&registry.stage, registry.pool.start->cell, start);
	if (queue >= 0)
		pf_observe(registry.pool.queue, queue);
	pf_commit();
}

void registry_request_end(double seconds)
{
	if (!registry.pool.start)
		return;
	pf_begin();
	stage_assign(&registry.stage, registry.pool.start->cell, 0);
	if (seconds > 0)
		stage_add(&registry.stage, registry.pool.busy->cell, seconds);
	if (seconds > registry.pool.slow_after)
		stage_add(&registry.stage, registry.pool.slow->cell, 1);
	pf_commit();
}

static pf_family *errors_family(void)
{
	static const char *const labels[] = {"op", NULL};
	return pf_counter("promfcgi_store_errors_total", "Errors of the metrics store, by operation.",
	                  labels);
}

static void count_error(enum log_op op)
{
	/* a one-shot process defines the series when it needs it, which may
	 * fail (no memory) and be counted in turn: once is enough */
	static int counting;
	if (op >= LOG_OP_COUNT || counting || !registry.open)
		return;
	counting = 1;
	if (!registry.errors[op]) {
		const char *v[] = {log_op_names[op], NULL};
		registry.errors[op] = pf_with(errors_family(), v);
	}
	pf_inc(registry.errors[op]);
	counting = 0;
}

void registry_add_errors(const uint64_t errors[LOG_OP_COUNT])
{
	if (!registry.open)
		return;
	pf_begin();
	for (int op = 0; op < LOG_OP_COUNT; op++) {
		if (!errors[op])
			continue;
		if (!registry.errors[op]) {
			const char *v[] = {log_op_names[op], NULL};
			registry.errors[op] = pf_with(errors_family(), v);
		}
		pf_add(registry.errors[op], (double)errors[op]);
	}
	pf_commit();
}

static void define_own_families(void)
{
	log_set_counter(count_error);
	if (registry.oneshot) {
		/* CPU only: the gauges would die with the process, and every
		 * series defined costs a CGI request page faults */
		static const char *const by_program[] = {"program", NULL};
		const char *program[] = {program_invocation_short_name, NULL};
		registry.cpu = pf_with(pf_counter("process_cpu_seconds_total",
		                             "User and system CPU time of the program's processes.",
		                             by_program), program);
		return;
	}
	pf_family *f = errors_family(); /* every op at zero from the start */
	for (int op = 0; op < LOG_OP_COUNT; op++) {
		const char *v[] = {log_op_names[op], NULL};
		registry.errors[op] = pf_with(f, v);
	}
	define_process_families();
	if (registry.cpu)
		record_process();
	define_pool_families();
}

/* This process cannot record (its counts stay in its memory, or are lost):
 * the metrics program hears it (beacon.c), with the errors counted so far. */
static void call_out(const char *reason, int force)
{
	uint64_t counted[LOG_OP_COUNT] = {0};
	for (int op = 0; op < LOG_OP_COUNT; op++)
		if (registry.errors[op])
			counted[op] = (uint64_t)stage_value_at(&registry.stage, registry.errors[op]->cell, cells_of(registry.errors[op]));
	beacon_call(registry.db_path, counted, reason, force);
}

/* Takes the errors the metrics program already counted (beacon.c) out of
 * this process's own counts (sign -1), before a staging file shows them;
 * puts them back (+1) if no file came.  Nobody has seen this memory. */
static void settle_delivered(int sign)
{
	const uint64_t *d = beacon_delivered();
	pf_begin();
	for (int op = 0; op < LOG_OP_COUNT; op++)
		if (registry.errors[op] && d[op])
			stage_add_at(&registry.stage, registry.errors[op]->cell, cells_of(registry.errors[op]), sign * (double)d[op]);
	pf_commit();
}

/* stage_check for a process counting in memory: its counts go into a new
 * staging file if it can be made now, without what the metrics program
 * already counted. */
static int check_staging(const char *dir)
{
	int anonymous = !registry.stage.path[0];
	if (anonymous)
		settle_delivered(-1);
	int rc = stage_check(&registry.stage, dir);
	if (anonymous && registry.stage.path[0])
		beacon_forget();
	else if (anonymous)
		settle_delivered(+1);
	return rc;
}

/* Logs (and counts) that no staging file could be made in dir, and calls
 * out. */
static void no_staging(const char *dir, int err)
{
	char why[BEACON_REASON_MAX];
	beacon_explain(why, sizeof why, registry.db_path, dir, err);
	log_error(LOG_STAGE, "%s", why);
	call_out(why, 0);
}

int pf_open(const char *db_path)
{
	if (registry.open) {
		if (db_path && db_path[0] && strcmp(db_path, registry.db_path) != 0)
			notice("pf_open(\"%.200s\"): the store is open already, at %.200s (pf_http_new "
			       "opens it, from PROMFCGI_DB): this call changes nothing; call pf_open "
			       "first, or set PROMFCGI_DB", db_path, registry.db_path);
		return 0;
	}
	keep_std_fds_open();
	if (!db_path || !db_path[0])
		db_path = getenv("PROMFCGI_DB");
	if (!db_path || !db_path[0])
		db_path = PROMFCGI_DEFAULT_DB;
	if (path_format(registry.db_path, "%s", db_path) != 0) { /* registry.db_path is "": no file is made */
		notice("pf_open: the store's path is %zu bytes, at most %d", strlen(db_path),
		       PATH_BYTES - 1);
		return -1;
	}
	char dir[PATH_BYTES];
	int rc = 0;
	if (proc_is_cgi()) {
		/* One request, then exit: no staging file to create, map and
		 * remove; pf_close appends this process's totals to the journal. */
		registry.oneshot = 1;
		stage_create_anonymous(&registry.stage, 0);
		registry.open = 1;
		define_own_families();
		return registry.stage.h ? 0 : -1;
	}
	if (stage_dir(registry.db_path, dir) != 0 || stage_create(&registry.stage, dir) != 0) {
		int e = errno;
		stage_create_anonymous(&registry.stage, 1);
		registry.open = 1;
		define_own_families();
		no_staging(dir, e);
		return -1;
	}
	registry.open = 1;
	define_own_families();
	return rc;
}

int pf_maintain(void)
{
	struct timespec now;
	char dir[PATH_BYTES];
	if (!registry.open || !registry.stage.h)
		return -1;
	if (registry.oneshot)
		return 0;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec == registry.last_check)
		return 0;
	registry.last_check = now.tv_sec;
	if (registry.cpu)
		record_process();
	sample_listen_queue();
	if (stage_dir(registry.db_path, dir) != 0)
		return -1;
	int was_anonymous = !registry.stage.path[0];
	switch (check_staging(dir)) {
	case 0:
		return 0;
	case 1:
		log_error(LOG_STAGE, was_anonymous ? "staging file created in %s; counts kept"
		                                    : "staging file was gone; recreated in %s", dir);
		return 0;
	default:
		no_staging(dir, errno);
		return -1;
	}
}

const char *pf_db_path(void)
{
	return registry.db_path;
}

int pf_publish(void)
{
	char dir[PATH_BYTES], *rec;
	size_t len;
	if (!registry.oneshot || !registry.stage.h || stage_dir(registry.db_path, dir) != 0)
		return 0;
	if (journal_pack(&registry.stage, JOURNAL_GAUGES, &rec, &len) != 0)
		return -1;
	int fd = journal_mark(dir, registry.marker - 1, rec, len);
	free(rec);
	if (fd < 0) {
		log_error(LOG_STAGE, "cannot mark a request in flight in %s: %s", dir, strerror(errno));
		registry.marker = 0;
		return -1;
	}
	registry.marker = fd + 1;
	return 0;
}

/* The handles, and what the tables and pools hold. */
static void free_handles(void)
{
	for (uint32_t i = 0; i < registry.nseries; i++)
		free(((pf_series *)blocks_at(&registry.series, i))->ex);
	blocks_free(&registry.series);
	blocks_free(&registry.families);
	hash_free(&registry.by_key);
	hash_free(&registry.by_name);
}

/* A one-shot process's end: its totals go to the journal in one write,
 * then its marker goes.  Killed before the write: nothing of it counts (its
 * response was not complete); after: all of it. */
static int close_oneshot(void)
{
	char dir[PATH_BYTES], *rec;
	size_t len;
	struct rusage ru;
	int rc = -1;
	if (registry.cpu && getrusage(RUSAGE_SELF, &ru) == 0) {
		pf_begin();
		stage_assign_at(&registry.stage, registry.cpu->cell, cells_of(registry.cpu),
		                (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
		pf_commit();
	}
	if (registry.stage.h && stage_dir(registry.db_path, dir) == 0 &&
	    journal_pack(&registry.stage, JOURNAL_TOTALS, &rec, &len) == 0) {
		rc = journal_append(dir, rec, len);
		if (rc != 0) { /* this request goes uncounted: say so where it is seen */
			char why[1024];
			int e = errno;
			snprintf(why, sizeof why, "cannot append to %.150s/%s as uid %u: %s (the store %.150s, %s): "
			         "this CGI request is not counted", dir, JOURNAL_FILE, (unsigned)geteuid(),
			         strerror(e), registry.db_path,
			         getenv("PROMFCGI_DB") ? "from PROMFCGI_DB" : "PROMFCGI_DB is unset: the default");
			log_error(LOG_STAGE, "%s", why);
			call_out(why, 1);
		}
		free(rec);
	}
	if (registry.marker)
		close(registry.marker - 1); /* the marker is free again: its gauges are gone */
	stage_destroy(&registry.stage, 0);
	registry.open = registry.oneshot = registry.marker = 0; /* the rest dies with the process */
	return rc;
}

int pf_close(void)
{
	char dir[PATH_BYTES];
	if (!registry.open)
		return 0;
	if (registry.oneshot)
		return close_oneshot();
	int rc = -1;
	if (registry.cpu)
		record_process(); /* the last word on this process's CPU time */
	/* A file gone, or never made, is put back first: its totals are all the
	 * store has not yet seen of this process. */
	if (stage_dir(registry.db_path, dir) == 0)
		check_staging(dir);
	if (!registry.stage.path[0]) /* never made: what this process counted is lost; say so */
		call_out("exits with its counts in memory only (no staging file could be made): "
		         "they are lost", 1);
	if (registry.stage.path[0]) {
		struct stage_snapshot snap;
		struct db *db;
		char err[256];
		/* No change after this: from here on the rows may be retired and
		 * forgotten, which a scrape must know (metrics/merge.c, "the rule") */
		stage_mark_closing(&registry.stage);
		if (stage_test_hook)
			stage_test_hook("closing");
		if (db_open(registry.db_path, 1000, &db, err, sizeof err) != 0) {
			log_error(LOG_OPEN, "%s", err);
		} else {
			if (stage_snapshot(registry.stage.path, &snap) == 0) {
				/* this end, how="exit", in the retiring fold (pool.h) */
				pool_count_end(&snap, 1);
				/* retire in the fold's transaction, unlink, then forget: a
				 * crash between leaves a retired row, never a refold */
				if (fold_snapshot(db, &snap, 1) != DB_FOLD_ERROR) {
					if (stage_test_hook)
						stage_test_hook("folded");
					if (unlink(registry.stage.path) == 0 || errno == ENOENT) {
						if (stage_test_hook)
							stage_test_hook("unlinked");
						db_forget(db, snap.name);
						if (stage_test_hook)
							stage_test_hook("forgotten");
						rc = 0;
					} else {
						log_error(LOG_FOLD, "cannot remove %s: %s", registry.stage.path,
						         strerror(errno));
					}
				} else {
					log_error(LOG_FOLD, "final fold of %s into %s: %s", registry.stage.path,
					          registry.db_path, db_errmsg(db));
				}
				stage_snapshot_free(&snap);
			}
			db_close(db);
		}
	}
	stage_destroy(&registry.stage, 0);
	free_handles();
	memset(&registry, 0, sizeof registry);
	return rc;
}
