/* SPDX-License-Identifier: MIT */
/*
 * registry.c — the public recording API (promfcgi.h): a process's families,
 * its series handles, and the staging file they write to.
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

const double pf_default_buckets[] = {.005, .01, .025, .05, .075, .1, .25,
                                     .5,   .75, 1,   2.5,  5,   7.5, 10};
const int pf_default_nbuckets = sizeof pf_default_buckets / sizeof pf_default_buckets[0];

struct pf_family {
	uint32_t index; /* in the staging file */
	struct family_def def;
};

struct pf_series {
	struct pf_family *family;
	uint64_t cell; /* its first cell in the staging file */
	double *at;    /* where that cell is mapped, while gen is the stage's */
	uint32_t gen;
	uint32_t slot;
	uint64_t *ex;  /* its exemplar records by bucket (stage.h), NULL until its first */
};

/* Families and series are as many as memory and the staging file's disk
 * allow: handles live in pools (their addresses never change), found by
 * hash; the staging file grows with them (stage_format.h). */
static struct {
	struct stage stage;
	char db_path[PATH_BYTES];
	int open;
	struct blocks families;      /* struct pf_family, by index in the staging file */
	uint32_t nfamilies;
	struct hash_table by_name; /* families by name */
	struct blocks series;        /* struct pf_series, by slot index */
	uint32_t nseries;          /* made (the pool's items written) */
	struct hash_table by_key;  /* slots by (family, label values) */
	pf_series *errors[LOG_OP_COUNT]; /* promfcgi_store_errors_total{op} */
	pf_series *cpu, *rss, *vm, *fds; /* process_*{program} */
	struct {                         /* a FastCGI worker's pool metrics (pool.h) */
		pf_series *start, *queue_max; /* its facts: a request's start, the most waiting */
		pf_series *busy, *slow, *queue; /* busy seconds, slow requests, queue time */
		struct listener listener;     /* fd 0 */
		double slow_after, most_waiting;
	} pool;
	time_t last_check;               /* of the staging file, by pf_maintain */
	int oneshot;                     /* a CGI process: journal.h */
	int marker;                      /* fd of its marker + 1, 0 if none */
} reg;

/* Where series s's cells are mapped: a pointer kept in the handle, found
 * again only after the staging file was made again (stage_check). */
static inline double *cells_of(pf_series *s)
{
	if (s->gen != reg.stage.gen) {
		s->at = stage_cell(&reg.stage, s->cell);
		s->gen = reg.stage.gen;
	}
	return s->at;
}

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
	reg.cpu = pf_with(pf_counter("process_cpu_seconds_total",
	                             "User and system CPU time of the program's processes.",
	                             by_program), program);
	reg.rss = pf_with(pf_gauge("process_resident_memory_bytes",
	                           "Resident memory of the program's live processes.", by_program),
	                  program);
	reg.vm = pf_with(pf_gauge("process_virtual_memory_bytes",
	                          "Virtual memory of the program's live processes.", by_program),
	                 program);
	reg.fds = pf_with(pf_gauge("process_open_fds",
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
		stage_assign_at(&reg.stage, reg.cpu->cell, cells_of(reg.cpu),
		                (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	pf_set(reg.rss, (double)rss_pages * page);
	pf_set(reg.vm, (double)vm_pages * page);
	pf_set(reg.fds, d ? fds - 1 : 0); /* less the one opendir used */
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
	if (listener_of_fd(0, &reg.pool.listener) != 0)
		return;
	pf_family *f = pf_gauge(POOL_FACTS, POOL_FACTS_HELP, facts);
	pf_family *d = pf_counter(POOL_DEATHS, POOL_DEATHS_HELP, ends);
	pf_begin();
	pf_set(pf_with(f, (const char *[]){p, POOL_FACT_LISTENER_FAMILY, NULL}), reg.pool.listener.family);
	pf_set(pf_with(f, (const char *[]){p, POOL_FACT_LISTENER_INODE, NULL}),
	       (double)reg.pool.listener.inode);
	reg.pool.start = pf_with(f, (const char *[]){p, POOL_FACT_REQUEST_START, NULL});
	reg.pool.queue_max = pf_with(f, (const char *[]){p, POOL_FACT_QUEUE_MAX, NULL});
	pf_inc(pf_with(pf_counter(POOL_STARTS, POOL_STARTS_HELP, by_program), program));
	pf_with(d, (const char *[]){p, "exit", NULL});
	pf_with(d, (const char *[]){p, "signal", NULL});
	reg.pool.busy = pf_with(pf_counter(POOL_BUSY, POOL_BUSY_HELP, by_program), program);
	reg.pool.slow = pf_with(pf_counter(POOL_SLOW, POOL_SLOW_HELP, by_program), program);
	reg.pool.queue = pf_with(pf_histogram_native(POOL_QUEUE, POOL_QUEUE_HELP, by_program,
	                                             queue_buckets, POOL_QUEUE_NBUCKETS,
	                                             PF_NATIVE_SCHEMA_DEFAULT,
	                                             PF_NATIVE_ZERO_THRESHOLD_DEFAULT),
	                         program);
	pf_commit();
	const char *slow = getenv("PROMFCGI_SLOW_SECONDS");
	char *end = NULL;
	reg.pool.slow_after = slow && *slow ? strtod(slow, &end) : POOL_SLOW_DEFAULT;
	if (!slow || !*slow || *end || !(reg.pool.slow_after > 0))
		reg.pool.slow_after = POOL_SLOW_DEFAULT;
}

/* Once a second at most, after a request (pf_maintain): the listener's
 * queue, its most kept.  Four system calls (a netlink socket, a dump, its
 * answer, close), and none when the listener cannot be read. */
static void sample_listen_queue(void)
{
	struct listener_queue q;
	unsigned char found = 0;
	if (!reg.pool.queue_max || listener_read(&reg.pool.listener, 1, &q, &found) < 0 || !found ||
	    q.waiting <= reg.pool.most_waiting)
		return;
	reg.pool.most_waiting = q.waiting;
	pf_set(reg.pool.queue_max, q.waiting);
}

void registry_request_begin(double start, double queue)
{
	if (!reg.pool.start)
		return;
	pf_begin();
	stage_assign(&reg.stage, reg.pool.start->cell, start);
	if (queue >= 0)
		pf_observe(reg.pool.queue, queue);
	pf_commit();
}

void registry_request_end(double seconds)
{
	if (!reg.pool.start)
		return;
	pf_begin();
	stage_assign(&reg.stage, reg.pool.start->cell, 0);
	if (seconds > 0)
		stage_add(&reg.stage, reg.pool.busy->cell, seconds);
	if (seconds > reg.pool.slow_after)
		stage_add(&reg.stage, reg.pool.slow->cell, 1);
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
	if (op >= LOG_OP_COUNT || counting || !reg.open)
		return;
	counting = 1;
	if (!reg.errors[op]) {
		const char *v[] = {log_op_names[op], NULL};
		reg.errors[op] = pf_with(errors_family(), v);
	}
	pf_inc(reg.errors[op]);
	counting = 0;
}

void registry_add_errors(const uint64_t errors[LOG_OP_COUNT])
{
	if (!reg.open)
		return;
	pf_begin();
	for (int op = 0; op < LOG_OP_COUNT; op++) {
		if (!errors[op])
			continue;
		if (!reg.errors[op]) {
			const char *v[] = {log_op_names[op], NULL};
			reg.errors[op] = pf_with(errors_family(), v);
		}
		pf_add(reg.errors[op], (double)errors[op]);
	}
	pf_commit();
}

static void define_own_families(void)
{
	log_set_counter(count_error);
	if (reg.oneshot) {
		/* CPU only: the gauges would die with the process, and every
		 * series defined costs a CGI request page faults */
		static const char *const by_program[] = {"program", NULL};
		const char *program[] = {program_invocation_short_name, NULL};
		reg.cpu = pf_with(pf_counter("process_cpu_seconds_total",
		                             "User and system CPU time of the program's processes.",
		                             by_program), program);
		return;
	}
	pf_family *f = errors_family(); /* every op at zero from the start */
	for (int op = 0; op < LOG_OP_COUNT; op++) {
		const char *v[] = {log_op_names[op], NULL};
		reg.errors[op] = pf_with(f, v);
	}
	define_process_families();
	if (reg.cpu)
		record_process();
	define_pool_families();
}

/* This process cannot record (its counts stay in its memory, or are lost):
 * the metrics program hears it (beacon.c), with the errors counted so far. */
static void call_out(const char *reason, int force)
{
	uint64_t counted[LOG_OP_COUNT] = {0};
	for (int op = 0; op < LOG_OP_COUNT; op++)
		if (reg.errors[op])
			counted[op] = (uint64_t)stage_value_at(&reg.stage, reg.errors[op]->cell, cells_of(reg.errors[op]));
	beacon_call(reg.db_path, counted, reason, force);
}

/* Takes the errors the metrics program already counted (beacon.c) out of
 * this process's own counts (sign -1), before a staging file shows them;
 * puts them back (+1) if no file came.  Nobody has seen this memory. */
static void settle_delivered(int sign)
{
	const uint64_t *d = beacon_delivered();
	pf_begin();
	for (int op = 0; op < LOG_OP_COUNT; op++)
		if (reg.errors[op] && d[op])
			stage_add_at(&reg.stage, reg.errors[op]->cell, cells_of(reg.errors[op]), sign * (double)d[op]);
	pf_commit();
}

/* stage_check for a process counting in memory: its counts go into a new
 * staging file if it can be made now, without what the metrics program
 * already counted. */
static int check_staging(const char *dir)
{
	int anonymous = !reg.stage.path[0];
	if (anonymous)
		settle_delivered(-1);
	int rc = stage_check(&reg.stage, dir);
	if (anonymous && reg.stage.path[0])
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
	beacon_explain(why, sizeof why, reg.db_path, dir, err);
	log_error(LOG_STAGE, "%s", why);
	call_out(why, 0);
}

int pf_open(const char *db_path)
{
	if (reg.open) {
		if (db_path && db_path[0] && strcmp(db_path, reg.db_path) != 0)
			notice("pf_open(\"%.200s\"): the store is open already, at %.200s (pf_http_new "
			       "opens it, from PROMFCGI_DB): this call changes nothing; call pf_open "
			       "first, or set PROMFCGI_DB", db_path, reg.db_path);
		return 0;
	}
	keep_std_fds_open();
	if (!db_path || !db_path[0])
		db_path = getenv("PROMFCGI_DB");
	if (!db_path || !db_path[0])
		db_path = PROMFCGI_DEFAULT_DB;
	if (path_format(reg.db_path, "%s", db_path) != 0) { /* reg.db_path is "": no file is made */
		notice("pf_open: the store's path is %zu bytes, at most %d", strlen(db_path),
		       PATH_BYTES - 1);
		return -1;
	}
	char dir[PATH_BYTES];
	int rc = 0;
	if (proc_is_cgi()) {
		/* One request, then exit: no staging file to create, map and
		 * remove; pf_close appends this process's totals to the journal. */
		reg.oneshot = 1;
		stage_create_anonymous(&reg.stage, 0);
		reg.open = 1;
		define_own_families();
		return reg.stage.h ? 0 : -1;
	}
	if (stage_dir(reg.db_path, dir) != 0 || stage_create(&reg.stage, dir) != 0) {
		int e = errno;
		stage_create_anonymous(&reg.stage, 1);
		reg.open = 1;
		define_own_families();
		no_staging(dir, e);
		return -1;
	}
	reg.open = 1;
	define_own_families();
	return rc;
}

int pf_maintain(void)
{
	struct timespec now;
	char dir[PATH_BYTES];
	if (!reg.open || !reg.stage.h)
		return -1;
	if (reg.oneshot)
		return 0;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec == reg.last_check)
		return 0;
	reg.last_check = now.tv_sec;
	if (reg.cpu)
		record_process();
	sample_listen_queue();
	if (stage_dir(reg.db_path, dir) != 0)
		return -1;
	int was_anonymous = !reg.stage.path[0];
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
	return reg.db_path;
}

int pf_publish(void)
{
	char dir[PATH_BYTES], *rec;
	size_t len;
	if (!reg.oneshot || !reg.stage.h || stage_dir(reg.db_path, dir) != 0)
		return 0;
	if (journal_pack(&reg.stage, JOURNAL_GAUGES, &rec, &len) != 0)
		return -1;
	int fd = journal_mark(dir, reg.marker - 1, rec, len);
	free(rec);
	if (fd < 0) {
		log_error(LOG_STAGE, "cannot mark a request in flight in %s: %s", dir, strerror(errno));
		reg.marker = 0;
		return -1;
	}
	reg.marker = fd + 1;
	return 0;
}

/* The handles, and what the tables and pools hold. */
static void free_handles(void)
{
	for (uint32_t i = 0; i < reg.nseries; i++)
		free(((pf_series *)blocks_at(&reg.series, i))->ex);
	blocks_free(&reg.series);
	blocks_free(&reg.families);
	hash_free(&reg.by_key);
	hash_free(&reg.by_name);
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
	if (reg.cpu && getrusage(RUSAGE_SELF, &ru) == 0) {
		pf_begin();
		stage_assign_at(&reg.stage, reg.cpu->cell, cells_of(reg.cpu),
		                (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
		pf_commit();
	}
	if (reg.stage.h && stage_dir(reg.db_path, dir) == 0 &&
	    journal_pack(&reg.stage, JOURNAL_TOTALS, &rec, &len) == 0) {
		rc = journal_append(dir, rec, len);
		if (rc != 0) { /* this request goes uncounted: say so where it is seen */
			char why[1024];
			int e = errno;
			snprintf(why, sizeof why, "cannot append to %.150s/%s as uid %u: %s (the store %.150s, %s): "
			         "this CGI request is not counted", dir, JOURNAL_FILE, (unsigned)geteuid(),
			         strerror(e), reg.db_path,
			         getenv("PROMFCGI_DB") ? "from PROMFCGI_DB" : "PROMFCGI_DB is unset: the default");
			log_error(LOG_STAGE, "%s", why);
			call_out(why, 1);
		}
		free(rec);
	}
	if (reg.marker)
		close(reg.marker - 1); /* the marker is free again: its gauges are gone */
	stage_destroy(&reg.stage, 0);
	reg.open = reg.oneshot = reg.marker = 0; /* the rest dies with the process */
	return rc;
}

int pf_close(void)
{
	char dir[PATH_BYTES];
	if (!reg.open)
		return 0;
	if (reg.oneshot)
		return close_oneshot();
	int rc = -1;
	if (reg.cpu)
		record_process(); /* the last word on this process's CPU time */
	/* A file gone, or never made, is put back first: its totals are all the
	 * store has not yet seen of this process. */
	if (stage_dir(reg.db_path, dir) == 0)
		check_staging(dir);
	if (!reg.stage.path[0]) /* never made: what this process counted is lost; say so */
		call_out("exits with its counts in memory only (no staging file could be made): "
		         "they are lost", 1);
	if (reg.stage.path[0]) {
		struct stage_snapshot snap;
		struct db *db;
		char err[256];
		/* No change after this: from here on the rows may be retired and
		 * forgotten, which a scrape must know (metrics/merge.c, "the rule") */
		stage_mark_closing(&reg.stage);
		if (stage_test_hook)
			stage_test_hook("closing");
		if (db_open(reg.db_path, 1000, &db, err, sizeof err) != 0) {
			log_error(LOG_OPEN, "%s", err);
		} else {
			if (stage_snapshot(reg.stage.path, &snap) == 0) {
				/* this end, how="exit", in the retiring fold (pool.h) */
				pool_count_end(&snap, 1);
				/* retire in the fold's transaction, unlink, then forget: a
				 * crash between leaves a retired row, never a refold */
				if (fold_snapshot(db, &snap, 1) != DB_FOLD_ERROR) {
					if (stage_test_hook)
						stage_test_hook("folded");
					if (unlink(reg.stage.path) == 0 || errno == ENOENT) {
						if (stage_test_hook)
							stage_test_hook("unlinked");
						db_forget(db, snap.name);
						if (stage_test_hook)
							stage_test_hook("forgotten");
						rc = 0;
					} else {
						log_error(LOG_FOLD, "cannot remove %s: %s", reg.stage.path,
						         strerror(errno));
					}
				} else {
					log_error(LOG_FOLD, "final fold of %s into %s: %s", reg.stage.path,
					          reg.db_path, db_errmsg(db));
				}
				stage_snapshot_free(&snap);
			}
			db_close(db);
		}
	}
	stage_destroy(&reg.stage, 0);
	free_handles();
	memset(&reg, 0, sizeof reg);
	return rc;
}

/* "a counter with labels (kind)", "a histogram with 14 buckets and native
 * buckets (schema 3)": a definition, in a message. */
static void describe(char *out, size_t len, const struct family_def *d)
{
	static const char *const types[] = {"", "a counter", "a gauge", "a histogram"};
	size_t n = (size_t)snprintf(out, len, "%s", d->type <= PF_HISTOGRAM ? types[d->type] : "?");
	for (uint32_t i = 0; i < d->nlabels && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", i ? ", " : " with labels (", d->labels[i]);
	if (d->nlabels && n < len)
		n += (size_t)snprintf(out + n, len - n, ")");
	if (d->type == PF_HISTOGRAM && n < len)
		n += (size_t)snprintf(out + n, len - n, ", %u classic buckets", d->nbuckets);
	if (d->native && n < len)
		snprintf(out + n, len - n, ", native buckets (schema %d)", d->schema);
}

static uint32_t name_hash(const char *name)
{
	return hash_fnv1a(HASH_FNV_BASIS, name, strlen(name));
}

/* Room in the name table for one more family (every family put back to
 * grow it): 0, or -1 out of memory. */
static int family_room(void)
{
	if (!hash_full(&reg.by_name, reg.nfamilies))
		return 0;
	if (hash_reset(&reg.by_name, reg.nfamilies + 1) != 0)
		return -1;
	for (uint32_t i = 0; i < reg.nfamilies; i++)
		hash_put(&reg.by_name, name_hash(((struct pf_family *)blocks_at(&reg.families, i))->def.name),
		         i);
	return 0;
}

static pf_family *define_def(const char *call, const struct family_def *def)
{
	uint32_t h = name_hash(def->name), probe = h, i;
	while ((i = hash_next(&reg.by_name, &probe)) != HASH_NONE) {
		struct pf_family *f = blocks_at(&reg.families, i);
		if (strcmp(f->def.name, def->name) != 0)
			continue;
		if (model_family_compat(&f->def, def) == MODEL_SAME && strcmp(f->def.help, def->help) == 0)
			return f;
		char a[200], b[200];
		describe(a, sizeof a, &f->def);
		describe(b, sizeof b, def);
		if (strcmp(a, b) == 0)
			snprintf(b, sizeof b, "another help text");
		notice("%s(\"%s\"): clashes with its earlier definition in this process, %s; this one "
		       "is %s: a family is defined once, the same way everywhere",
		       call, def->name, a, b);
		return NULL;
	}
	int index = -1;
	if (family_room() != 0 || blocks_reserve(&reg.families, reg.nfamilies, sizeof(struct pf_family)))
		errno = ENOMEM;
	else
		index = stage_add_family(&reg.stage, def);
	if (index < 0) {
		/* no room (a full disk, no memory): this family goes undefined,
		 * which is said and counted like any store failure; the others
		 * go on */
		log_error(LOG_STAGE, "no room for family %s in this process's staging file: %s; "
		          "not recorded", def->name, strerror(errno));
		return NULL;
	}
	struct pf_family *f = blocks_at(&reg.families, reg.nfamilies);
	f->index = (uint32_t)index;
	f->def = *def;
	hash_put(&reg.by_name, h, reg.nfamilies++);
	return f;
}

/* Logs a refused definition: the call, the family's name if it has a
 * usable one, and why. */
static pf_family *refuse_def(const char *call, const char *name, const char *why)
{
	if (name && pf_valid_metric_name(name))
		notice("%s(\"%s\"): %s", call, name, why);
	else
		notice("%s: %s", call, why);
	return NULL;
}

static int store_open(const char *call)
{
	if (!reg.open)
		notice("%s: no store is open: call pf_open (or pf_http_new) first, after any fork",
		        call);
	return reg.open;
}

static pf_family *define(const char *call, int type, const char *name, const char *help,
                         const char *const *labels, const double *buckets, int nbuckets)
{
	struct family_def def;
	if (!store_open(call))
		return NULL;
	if (names_build_family(&def, type, name, help, labels, buckets, nbuckets) != 0)
		return refuse_def(call, name, notice_reason());
	return define_def(call, &def);
}

pf_family *pf_counter(const char *name, const char *help, const char *const *labels)
{
	return define("pf_counter", PF_COUNTER, name, help, labels, NULL, 0);
}

pf_family *pf_gauge(const char *name, const char *help, const char *const *labels)
{
	return define("pf_gauge", PF_GAUGE, name, help, labels, NULL, 0);
}

pf_family *pf_histogram(const char *name, const char *help, const char *const *labels,
                        const double *buckets, int nbuckets)
{
	if (!buckets) {
		buckets = pf_default_buckets;
		nbuckets = pf_default_nbuckets;
	}
	return define("pf_histogram", PF_HISTOGRAM, name, help, labels, buckets, nbuckets);
}

pf_family *pf_histogram_native(const char *name, const char *help, const char *const *labels,
                               const double *buckets, int nbuckets, int schema,
                               double zero_threshold)
{
	static const char call[] = "pf_histogram_native";
	struct family_def def;
	if (!buckets)
		nbuckets = 0;
	if (!store_open(call))
		return NULL;
	if (names_build_family(&def, PF_HISTOGRAM, name, help, labels, buckets, nbuckets) != 0 ||
	    names_build_native(&def, schema, zero_threshold) != 0)
		return refuse_def(call, name, notice_reason());
	return define_def(call, &def);
}

static uint32_t series_hash(uint32_t family, const char *key, uint32_t len)
{
	return hash_fnv1a(HASH_FNV_BASIS ^ family, key, len);
}

/* Room in the table and the pool for slot n, the next (every slot put
 * back to grow the table): 0, or -1 out of memory. */
static int slot_room(uint32_t n)
{
	if (blocks_reserve(&reg.series, n, sizeof(struct pf_series)) != 0)
		return -1;
	if (!hash_full(&reg.by_key, n))
		return 0;
	if (hash_reset(&reg.by_key, n + 1) != 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		const struct stage_slot_rec *s = stage_slot(&reg.stage, i);
		hash_put(&reg.by_key, series_hash(s->family, stage_key(&reg.stage, s), s->keylen), i);
	}
	return 0;
}

/* Whether values holds exactly one value per label name of f, then NULL
 * (reading at most one past the label names' count); if not, says so. */
static int values_fit(const pf_family *f, const char *const *values)
{
	int n = (int)f->def.nlabels, k = 0;
	while (values && k <= n && values[k])
		k++;
	if (k == n)
		return 1;
	char names[PF_LABELS_MAX * (PF_LABEL_NAME_MAX + 2)] = "";
	for (int i = 0, at = 0; i < n; i++)
		at += snprintf(names + at, sizeof names - (size_t)at, "%s%s", i ? ", " : "", f->def.labels[i]);
	if (!values)
		notice("pf_with(%s): values is NULL, and the family has %d label name%s (%s)",
		        f->def.name, n, n == 1 ? "" : "s", names);
	else if (k < n)
		notice("pf_with(%s): %d value%s before the NULL, for %d label name%s (%s): one value "
		        "per label name, then NULL", f->def.name, k, k == 1 ? "" : "s", n,
		        n == 1 ? "" : "s", names);
	else
		notice("pf_with(%s): more than %d value%s, or no NULL after them, for %d label name%s"
		        "%s%s%s: one value per label name, then NULL", f->def.name, n, n == 1 ? "" : "s",
		        n, n == 1 ? "" : "s", n ? " (" : "", names, n ? ")" : "");
	return 0;
}

pf_series *pf_with(pf_family *f, const char *const *values)
{
	char key[PF_KEY_MAX];
	if (!f) /* its definition was refused, and that was logged */
		return NULL;
	if (!reg.stage.h) {
		notice("pf_with(%s): no store is open (pf_close was called?)", f->def.name);
		return NULL;
	}
	if (!values_fit(f, values))
		return NULL;
	int len = names_encode_key(values, (int)f->def.nlabels, key, sizeof key);
	if (len < 0) {
		notice("pf_with(%s): %s", f->def.name, notice_reason());
		return NULL;
	}
	uint32_t h = series_hash(f->index, key, (uint32_t)len), probe = h, at;
	while ((at = hash_next(&reg.by_key, &probe)) != HASH_NONE) {
		const struct stage_slot_rec *s = stage_slot(&reg.stage, at);
		if (s->family == f->index && s->keylen == (uint32_t)len &&
		    memcmp(stage_key(&reg.stage, s), key, (size_t)len) == 0)
			return blocks_at(&reg.series, at);
	}
	uint64_t n = stage_count(&reg.stage, STAGE_SLOTS);
	long slot = -1;
	if (n >= UINT32_MAX || slot_room((uint32_t)n) != 0)
		errno = ENOMEM;
	else
		slot = stage_add_slot(&reg.stage, f->index, key, (uint32_t)len);
	if (slot < 0) {
		/* no room (a full disk, no memory): this series goes unrecorded,
		 * which is said and counted like any store failure; every other
		 * series goes on */
		log_error(LOG_STAGE, "no room for another series (of %s) in this process's staging "
		          "file: %s; not recorded", f->def.name, strerror(errno));
		return NULL;
	}
	hash_put(&reg.by_key, h, (uint32_t)slot);
	struct pf_series *s = blocks_at(&reg.series, (uint32_t)slot);
	s->family = f;
	s->cell = stage_slot(&reg.stage, (uint64_t)slot)->cell;
	s->gen = 0; /* cells_of finds them */
	s->ex = NULL;
	s->slot = (uint32_t)slot;
	reg.nseries = (uint32_t)slot + 1;
	return s;
}

void pf_begin(void)
{
	reg.stage.depth++;
}

void pf_commit(void)
{
	if (reg.stage.depth == 0)
		notice("pf_commit: no pf_begin to match: nothing to commit");
	else if (--reg.stage.depth == 0)
		stage_commit(&reg.stage);
}

/* Applies one change, inside the caller's pf_begin/pf_commit if any. */
static int change(int rc)
{
	if (reg.stage.depth == 0)
		stage_commit(&reg.stage);
	return rc;
}

static const char *const type_names[] = {"", "counter", "gauge", "histogram"};

/* Whether series s may take what call asks: recorded to (a NULL handle is
 * refused silently: its refusal was logged), of one of the types in mask
 * (1 << PF_COUNTER ...).  If not, says why; -1. */
static int recordable(const char *call, const pf_series *s, unsigned mask, const char *use)
{
	if (!s)
		return -1;
	if (!reg.open) {
		notice("%s(%s): no store is open (pf_close was called?)", call, s->family->def.name);
		return -1;
	}
	if (!(mask & (1u << s->family->def.type))) {
		notice("%s(%s): a %s does not take it: %s", call, s->family->def.name,
		        type_names[s->family->def.type], use);
		return -1;
	}
	return 0;
}

static int add(const char *call, pf_series *s, double v)
{
	if (recordable(call, s, 1u << PF_COUNTER | 1u << PF_GAUGE,
	               "pf_observe for a histogram") != 0)
		return -1;
	if (isnan(v))
		return notice("%s(%s, NaN): NaN is no amount", call, s->family->def.name), -1;
	if (s->family->def.type == PF_COUNTER && v < 0)
		return notice("%s(%s, %g): a counter only goes up (a gauge may go down)", call,
		               s->family->def.name, v),
		   -1;
	return change(stage_add_at(&reg.stage, s->cell, cells_of(s), v));
}

int pf_add(pf_series *s, double v)
{
	return add("pf_add", s, v);
}

int pf_inc(pf_series *s)
{
	return add("pf_inc", s, 1.0);
}

int pf_dec(pf_series *s)
{
	if (recordable("pf_dec", s, 1u << PF_GAUGE, "only a gauge goes down") != 0)
		return -1;
	return change(stage_add_at(&reg.stage, s->cell, cells_of(s), -1.0));
}

int pf_set(pf_series *s, double v)
{
	if (recordable("pf_set", s, 1u << PF_GAUGE, "only a gauge is set") != 0)
		return -1;
	return change(stage_assign_at(&reg.stage, s->cell, cells_of(s), v));
}

/* The cells of the native part of series s that an observation of v
 * changes, added to the pending change; -1 (nothing added) if they do not
 * fit in it.  Most observations change the count, the sum and one bucket
 * (or the zero count); one outside its sign's window moves the window or
 * lowers the schema, which rewrites up to all NATIVE_CELLS cells: the
 * whole new state goes through the redo log like any change (stage.h). */
static int observe_native(pf_series *s, double v, uint32_t room)
{
	const struct family_def *d = &s->family->def;
	struct stage *st = &reg.stage;
	uint64_t n0 = s->cell + d->nbuckets + 2, cell = UINT64_MAX;
	double *a0 = cells_of(s) + d->nbuckets + 2;
	double schema = stage_value_at(st, n0 + NATIVE_SCHEMA, a0 + NATIVE_SCHEMA);
	if (!(schema >= PF_NATIVE_SCHEMA_MIN && schema <= PF_NATIVE_SCHEMA_MAX))
		return -1; /* never: the cells are this process's own */
	if (isnan(v)) {
		cell = UINT64_MAX - 1; /* count and sum only */
	} else if (fabs(v) <= stage_value_at(st, n0 + NATIVE_ZERO_THRESHOLD, a0 + NATIVE_ZERO_THRESHOLD)) {
		cell = n0 + NATIVE_ZERO_COUNT;
	} else {
		int neg = v < 0, key = native_bucket(v, (int)schema);
		uint32_t at = neg ? NATIVE_NEG_START : NATIVE_POS_START;
		double start = stage_value_at(st, n0 + at, a0 + at);
		if (key >= start && key < start + NATIVE_BUCKETS)
			cell = n0 + (uint32_t)(neg ? NATIVE_NEG : NATIVE_POS) + (uint32_t)(key - start);
	}
	if (cell != UINT64_MAX) { /* in the window: three cells */
		if (room < 3)
			return -1;
		stage_add_at(st, n0 + NATIVE_COUNT, a0 + NATIVE_COUNT, 1);
		stage_add_at(st, n0 + NATIVE_SUM, a0 + NATIVE_SUM, v);
		if (cell != UINT64_MAX - 1)
			stage_add_at(st, cell, a0 + (cell - n0), 1);
		return 0;
	}
	double now[NATIVE_CELLS], was[NATIVE_CELLS];
	stage_values(st, n0, NATIVE_CELLS, was);
	memcpy(now, was, sizeof now);
	if (native_observe(now, v) < 0)
		return -1;
	uint32_t changed = 0;
	for (uint32_t i = 0; i < NATIVE_CELLS; i++)
		changed += memcmp(&now[i], &was[i], sizeof now[i]) != 0;
	if (changed > room)
		return -1;
	for (uint32_t i = 0; i < NATIVE_CELLS; i++)
		if (memcmp(&now[i], &was[i], sizeof now[i]) != 0)
			stage_assign_at(st, n0 + i, a0 + i, now[i]);
	return 0;
}

/* One observation of v in s, inside the caller's change, all of it or
 * nothing: the classic bucket b and the sum, and the native part. */
static int observe(const char *call, pf_series *s, double v, uint32_t b)
{
	const struct family_def *d = &s->family->def;
	uint32_t room = stage_room(&reg.stage);
	if (!reg.stage.h)
		return -1;
	if (room < 2 || (d->native && observe_native(s, v, room - 2) != 0)) {
		notice("%s(%s): the change has no room left for this observation (%d cell writes "
		        "between pf_begin and pf_commit at most): refused whole", call, d->name,
		        STAGE_LOG_MAX);
		return -1;
	}
	double *at = cells_of(s);
	stage_add_at(&reg.stage, s->cell + b, at + b, 1.0);
	stage_add_at(&reg.stage, s->cell + d->nbuckets + 1, at + d->nbuckets + 1, v);
	return 0;
}

static uint32_t classic_bucket(const struct family_def *d, double v)
{
	uint32_t b = 0;
	while (b < d->nbuckets && v > d->buckets[b])
		b++;
	return b;
}

/* Whether s may take an observation of v (call: who asks); if not, why. */
static int observable(const char *call, const pf_series *s, double v)
{
	if (recordable(call, s, 1u << PF_HISTOGRAM, "pf_inc, pf_add or pf_set for a counter or gauge") != 0)
		return -1;
	if (isnan(v))
		return notice("%s(%s, NaN): NaN is no observation", call, s->family->def.name), -1;
	return 0;
}

int pf_observe(pf_series *s, double v)
{
	if (observable("pf_observe", s, v) != 0)
		return -1;
	return change(observe("pf_observe", s, v, classic_bucket(&s->family->def, v)));
}

/* The exemplar of a change already pending for the series' bucket: 0, or 1
 * if it cannot be kept (invalid labels, no room for its record, a full
 * change). */
static int keep_exemplar(const char *call, pf_series *s, uint32_t bucket, double v,
                         const char *const *labels)
{
	char enc[MODEL_EXEMPLAR_BYTES];
	int len = names_encode_exemplar(labels, enc);
	const struct family_def *d = &s->family->def;
	if (len < 0) {
		notice("%s(%s): %s: the value is recorded, without the exemplar", call, d->name,
		       notice_reason());
		return 1;
	}
	if (!s->ex && !(s->ex = calloc((size_t)model_family_exemplars((int)d->type, (int)d->nbuckets),
	                               sizeof *s->ex)))
		return 1;
	struct timespec now; /* the vDSO: no system call */
	clock_gettime(CLOCK_REALTIME, &now);
	double ts = (double)now.tv_sec + (double)(now.tv_nsec / 1000000) / 1e3;
	return stage_exemplar(&reg.stage, &s->ex[bucket], s->slot, bucket, v, ts, enc, (uint32_t)len) == 0
	           ? 0
	           : 1;
}

int pf_add_exemplar(pf_series *s, double v, const char *const *labels)
{
	static const char call[] = "pf_add_exemplar";
	if (recordable(call, s, 1u << PF_COUNTER, "exemplars go on a counter (pf_add_exemplar) or a "
	               "histogram (pf_observe_exemplar)") != 0)
		return -1;
	if (isnan(v))
		return notice("%s(%s, NaN): NaN is no amount", call, s->family->def.name), -1;
	if (v < 0)
		return notice("%s(%s, %g): a counter only goes up", call, s->family->def.name, v), -1;
	pf_begin(); /* the count and its exemplar: one change */
	int rc = stage_add_at(&reg.stage, s->cell, cells_of(s), v);
	if (rc == 0)
		rc = keep_exemplar(call, s, 0, v, labels);
	pf_commit();
	return rc;
}

int pf_observe_exemplar(pf_series *s, double v, const char *const *labels)
{
	static const char call[] = "pf_observe_exemplar";
	if (observable(call, s, v) != 0)
		return -1;
	uint32_t b = classic_bucket(&s->family->def, v);
	pf_begin();
	int rc = observe(call, s, v, b);
	if (rc == 0)
		rc = keep_exemplar(call, s, b, v, labels);
	pf_commit();
	return rc;
}
