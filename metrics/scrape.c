/* SPDX-License-Identifier: MIT */
/*
 * scrape.c — what one scrape does.
 *
 * A value in the exposition is
 *
 *     store aggregate  +  sum over workers of (staged - folded)
 *
 * where the aggregate and each incarnation's folded rows come from one
 * SQLite snapshot S, and staged is a seqlock-consistent copy of the
 * worker's staging file taken after S (merge.c says which part of a
 * worker's file counts: "the rule").  Live workers are not folded at every
 * scrape: their files survive a kill, so reading them is enough.  They are
 * folded when they die (by the scrape that sees it, all the dead of a
 * scrape in one transaction: batch.c), at graceful exit (by themselves),
 * and every CLOCK_FOLD_SECONDS, durably (that caps what a power cut can
 * lose), by scrape_idle after an answer has left (clock.c).
 *
 * Between scrapes this process keeps (struct scraper):
 *   - the store's connection;
 *   - the store's aggregate and folded rows ("the view", view.c), read
 *     again only when PRAGMA data_version says another connection
 *     committed, or after this process's own folds, with the output layout
 *     (layout.c);
 *   - every worker's file, mapped once, with a pidfd to learn of its end
 *     (workers.c);
 *   - the fold clock, and the last collection's block (collect.c).
 * So a scrape with nothing new costs a data_version check, a readdir, a
 * poll, a seq comparison per worker, one copy of the output cells and the
 * rendering; a changed worker adds a copy of its cells.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/journal.h"
#include "store/log.h"
#include "store/path.h"
#include "store/stage.h"
#include "metrics/batch.h"
#include "metrics/collect.h"
#include "metrics/layout.h"
#include "metrics/merge.h"
#include "metrics/scrape.h"

/* Everything a process keeps between scrapes.  One per process: scrape.h's
 * functions take no handle, as the metrics program and the command-line
 * tool each scrape one store. */
struct scraper {
	struct db *db; /* kept open between scrapes; reopened on error or for another store */
	char db_path[PATH_BYTES];
	dev_t dev; /* the file opened, to notice it deleted or replaced */
	ino_t ino;
	struct view view;
	struct workers workers;
	struct fold_clock clock;
	struct absent absent; /* checkpoints this scrape adds (merge.h) */
	struct block *spare; /* the last collection's block, for the next scrape */
	struct scrape_stats stats;
	unsigned idle_retired, idle_errors; /* by scrape_idle: told by the next scrape */
	struct pool_facts *pool; /* stats.pool's room */
	size_t cap_pool;
};

static struct scraper scraper;

const struct scrape_stats *scrape_last_stats(void)
{
	return &scraper.stats;
}

/* ---- the store ------------------------------------------------------------ */

static void reset_db(struct scraper *s)
{
	db_close(s->db);
	s->db = NULL;
	view_free(&s->view);
	s->clock.live_folded = 0; /* a store made afresh gets the live workers' totals */
}

static void quarantine(const char *db_path)
{
	char moved[PATH_BYTES];
	if (db_quarantine(db_path, moved) == 0)
		log_error(LOG_OPEN, "store %s is corrupt: moved aside to %s; a fresh one is created",
		          db_path, moved);
	else
		log_error(LOG_OPEN, "store %s is corrupt and cannot be moved aside", db_path);
}

/* Opens the store, reopens it if its file was deleted or replaced, and moves
 * a corrupt one aside for a fresh one (the live workers' totals, cumulative
 * since each began, then count in full until they are folded into it). */
static int ensure_db(struct scraper *s, const char *db_path, char *reason, size_t len)
{
	struct stat st;
	if (s->db && strcmp(s->db_path, db_path) != 0) {
		reset_db(s);
		workers_sweep(&s->workers, 1);
	}
	if (s->db && (stat(db_path, &st) != 0 || st.st_dev != s->dev || st.st_ino != s->ino)) {
		log_error(LOG_OPEN, "store %s was deleted or replaced; reopening", db_path);
		reset_db(s);
	}
	if (s->db)
		return 0;
	if (path_format(s->db_path, "%s", db_path) != 0) {
		snprintf(reason, len, "store path too long");
		log_error(LOG_OPEN, "%s", reason);
		return -1;
	}
	int rc = db_open(db_path, SCRAPE_BUSY_MS, &s->db, reason, len);
	if (rc == 0 && db_check(s->db) != 0 && db_corrupt(s->db)) {
		reset_db(s);
		rc = DB_OPEN_CORRUPT;
	}
	if (rc == DB_OPEN_CORRUPT) {
		quarantine(db_path);
		rc = db_open(db_path, SCRAPE_BUSY_MS, &s->db, reason, len);
	}
	if (rc != 0) {
		s->db = NULL;
		log_error(LOG_OPEN, "%s", reason);
		return -1;
	}
	if (stat(db_path, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	return 0;
}

static void store_sizes(struct scraper *s)
{
	struct stat st;
	char wal[PATH_BYTES];
	s->stats.db_bytes = stat(s->db_path, &st) == 0 ? (double)st.st_size : 0;
	s->stats.wal_bytes = path_format(wal, "%s-wal", s->db_path) == 0 && stat(wal, &st) == 0
	                         ? (double)st.st_size
	                         : 0;
}

/* ---- S: the view as of now ----------------------------------------------------- */

/* Whether the view holds what neither the store nor any worker has any
 * more (a worker's series that never reached the store, its file damaged or
 * deleted; a one-shot process's gauge). */
static int view_stale(const struct scraper *s)
{
	const struct view *v = &s->view;
	unsigned char *used = calloc(v->nsers + v->nfams + 1, 1);
	if (!used)
		return 1;
	workers_mark_used(&s->workers, v, used);
	int stale = view_unused(v, used);
	free(used);
	return stale;
}

/* S: the view is the store as of now, read again if it changed, in place
 * when it can: a view made anew makes every worker map its slots again and
 * the layout sort everything. */
static int view_current(struct scraper *s)
{
	struct view *v = &s->view;
	long long version;
	if (v->valid && !v->stale && db_data_version(s->db, &version) == 0 && version == v->version)
		return 0;
	v->stale = 0;
	int anew = !v->valid; /* first, or after a failure: nothing of it is trusted */
	if (view_read(v, s->db, anew) != 0)
		return -1;
	if (!anew && (v->rebuild || view_stale(s)))
		return view_read(v, s->db, 1);
	return 0;
}

/* ---- a scrape ----------------------------------------------------------------- */

enum { SCRAPE_OK = 0, SCRAPE_ERROR = -1, SCRAPE_CORRUPT = -2 };

static struct batch batch_of(struct scraper *s, const char *dir)
{
	return (struct batch){.db = s->db, .db_path = s->db_path, .dir = dir, .view = &s->view,
	                      .workers = &s->workers, .clock = &s->clock};
}

/* S, the directory and the workers read after it, and the folds due, until
 * the workers' parts can be decided against S (a fold or a store that moved
 * makes another round).  SCRAPE_OK, or an error with its reason. */
static int settle(struct scraper *s, const char *dir, struct round *r, char *reason, size_t len)
{
	struct batch b = batch_of(s, dir);
	int rc = SCRAPE_OK;
	for (int round = 0;; round++) {
		if (view_current(s) != 0) {
			snprintf(reason, len, "cannot read the store: %s", db_errmsg(s->db));
			rc = db_corrupt(s->db) ? SCRAPE_CORRUPT : SCRAPE_ERROR;
			break;
		}
		workers_scan(&s->workers, &s->view, dir, r);
		workers_watch(&s->workers);
		if (round < 2 && !b.no_folds && batch_fold(&b, r, clock_live_due(&s->clock, s->db_path, 2))) {
			workers_sweep(&s->workers, 0);
			s->view.stale = 1; /* our own commits: read the store again */
			continue;
		}
		if (b.corrupt) {
			snprintf(reason, len, "the store is corrupt: %s", db_errmsg(s->db));
			rc = SCRAPE_CORRUPT;
			break;
		}
		if (!merge_decide(&s->workers, &s->view, s->db, &s->absent) || round >= 4)
			break;
	}
	s->stats.retired += b.retired;
	s->stats.errors += b.errors;
	return rc;
}

/* The output: the store's cells laid out, the workers' parts and the
 * markers' gauges added, exemplars gathered, as a collection. */
static int output(struct scraper *s, const char *dir, const struct round *r,
                  struct collection *out)
{
	struct view *v = &s->view;
	struct marker *markers;
	uint32_t nmarkers = merge_read_markers(v, dir, r, &markers);
	struct block *blk = NULL;
	struct exemplar **ex = NULL;
	int rc = SCRAPE_ERROR;
	s->stats.files += nmarkers;
	s->stats.live += nmarkers;
	if (layout_update(v) == 0 &&
	    (blk = collect_block(&s->spare, v->layout.ncells * sizeof(double) +
	                                        collect_keys_bytes(v) + 1)) &&
	    merge_exemplars(&s->workers, v, &ex, &s->stats.exemplars_dropped) == 0) {
		collect_base(v, blk);
		merge_workers(&s->workers, v, &s->absent, blk->data);
		merge_markers(v, markers, nmarkers, blk->data);
		if (collect(out, v, blk, ex) == 0)
			rc = SCRAPE_OK;
		else
			model_collection_free(out); /* the block with it */
		blk = NULL;
	}
	merge_exemplars_free(ex, v->nsers);
	free(blk);
	merge_markers_free(markers, nmarkers);
	return rc;
}

/* The pool facts of the live workers, as their files were read for this
 * scrape, and the time to age their requests by. */
static void gather_pool(struct scraper *s)
{
	struct timespec now;
	s->stats.pool = NULL;
	s->stats.npool = 0;
	if (s->cap_pool < s->workers.n) {
		struct pool_facts *p = realloc(s->pool, s->workers.n * sizeof *p);
		if (!p)
			return; /* no pool gauges this scrape; everything else is shown */
		s->pool = p;
		s->cap_pool = s->workers.n;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (uint32_t i = 0; i < s->workers.n; i++) {
		const struct worker *w = s->workers.w[i];
		if (w->present && w->live && !w->damaged && !w->done && w->v.snap.seq &&
		    pool_facts_read(&w->v.snap, &s->pool[s->stats.npool]))
			s->stats.npool++;
	}
	s->stats.pool = s->pool;
	s->stats.pool_now = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int scrape_once(struct scraper *s, const char *dir, struct collection *out, char *reason,
                       size_t len)
{
	char path[PATH_BYTES];
	struct round r = {0};
	/* one-shot processes' records so far: renamed aside, folded below */
	if (journal_rotate(dir, path) < 0 && errno != ENOENT)
		log_error(LOG_READ, "cannot rename the journal in %s: %s", dir, strerror(errno));
	int rc = settle(s, dir, &r, reason, len);
	if (rc == SCRAPE_OK) {
		s->stats.files = r.files;
		for (uint32_t i = 0; i < s->workers.n; i++)
			s->stats.live += s->workers.w[i]->present && s->workers.w[i]->live;
		gather_pool(s);
		if ((rc = output(s, dir, &r, out)) != SCRAPE_OK)
			snprintf(reason, len, "out of memory");
	}
	workers_sweep(&s->workers, 0);
	round_free(&r);
	return rc;
}

int scrape_collect(const char *db_path, struct collection *out, char *reason, size_t len)
{
	struct scraper *s = &scraper;
	char dir[PATH_BYTES];
	memset(out, 0, sizeof *out);
	if (stage_dir(db_path, dir) != 0) {
		snprintf(reason, len, "store path too long");
		return -1;
	}
	/* A second attempt only after corruption was found and moved aside. */
	for (int attempt = 0; attempt < 2; attempt++) {
		memset(&s->stats, 0, sizeof s->stats);
		s->stats.retired = s->idle_retired;
		s->stats.errors = s->idle_errors;
		s->idle_retired = s->idle_errors = 0;
		if (ensure_db(s, db_path, reason, len) != 0)
			return -1;
		unsigned long rows = s->view.rows_read;
		int rc = scrape_once(s, dir, out, reason, len);
		s->stats.store_rows = (unsigned)(s->view.rows_read - rows);
		if (rc == SCRAPE_CORRUPT && attempt == 0) {
			reset_db(s);
			quarantine(db_path);
			continue;
		}
		if (rc != SCRAPE_OK) {
			log_error(LOG_READ, "%s", reason);
			reset_db(s);
			return -1;
		}
		store_sizes(s);
		/* SQLite's own checkpoints keep the WAL at up to ~4 MiB; a scrape
		 * every few seconds can afford to keep it small */
		if (s->stats.wal_bytes > SCRAPE_WAL_TRIM_BYTES && db_trim_wal(s->db, SCRAPE_BUSY_MS) == 0)
			store_sizes(s);
		return 0;
	}
	snprintf(reason, len, "the store was corrupt twice in one scrape");
	return -1;
}

void scrape_idle(void)
{
	struct scraper *s = &scraper;
	char dir[PATH_BYTES];
	if (!s->db || stage_dir(s->db_path, dir) != 0 || !clock_live_due(&s->clock, s->db_path, 1))
		return;
	struct round r = {0};
	struct batch b = batch_of(s, dir);
	if (view_current(s) == 0) {
		workers_scan(&s->workers, &s->view, dir, &r);
		workers_watch(&s->workers);
		if (batch_fold(&b, &r, 1))
			s->view.stale = 1; /* the next scrape reads the store again */
		if (b.corrupt)
			reset_db(s); /* the next scrape moves it aside */
		else if (db_compact(s->db, 1) > 0) /* once: a store of an earlier release */
			s->view.stale = 1;
	}
	s->idle_retired += b.retired;
	s->idle_errors += b.errors;
	workers_sweep(&s->workers, 0);
	round_free(&r);
}

void scrape_close(void)
{
	struct scraper *s = &scraper;
	reset_db(s);
	workers_sweep(&s->workers, 1);
	merge_absent_free(&s->absent);
	free(s->spare);
	s->spare = NULL;
	free(s->pool);
	s->pool = NULL;
	s->cap_pool = 0;
	s->stats.pool = NULL;
	s->stats.npool = 0;
}
