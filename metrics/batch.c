/* SPDX-License-Identifier: MIT */
/*
 * batch.c — the folds one scrape makes, in one transaction (see batch.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/fold.h"
#include "store/journal.h"
#include "store/log.h"
#include "store/pool.h"
#include "store/proc.h"
#include "metrics/batch.h"

/* The drained journals of a round, each read whole into a snapshot. */
struct drains {
	struct stage_snapshot *snap;
	int *done; /* 1: read whole (no appender still in it): fold it, then remove it */
	uint32_t n;
};

static void failed(struct batch *b, const char *what)
{
	b->errors++;
	log_error(LOG_FOLD, "%s: %s", what, db_errmsg(b->db));
	/* Waiting out a lock once per fold would make the scrape hang for folds
	 * x busy timeout: after a lock or corruption, no more folds this scrape
	 * (the next one tries again). */
	b->corrupt = db_corrupt(b->db);
	b->no_folds = 1;
}

/* Whether incarnation c's rows are an orphan's: no listed file of a worker,
 * no process, and no file at all (a crash between an unlink and its
 * forget).  Its rows are then forgotten. */
static int orphan(const struct batch *b, const struct incarnation *c)
{
	char path[PATH_BYTES];
	const struct worker *w = workers_named(b->workers, c->name);
	return (!w || !w->present) && !proc_name_is_live(c->name) &&
	       path_join(path, b->dir, c->name) == 0 && access(path, F_OK) != 0;
}

/* Whether there is anything to fold or forget. */
static int has_work(const struct batch *b, const struct round *r, int live)
{
	if (r->journals.n || (live && b->workers->n))
		return 1;
	for (uint32_t i = 0; i < b->workers->n; i++) {
		const struct worker *w = b->workers->w[i];
		if (w->present && w->dead && !w->damaged)
			return 1;
	}
	for (uint32_t i = 0; i < b->view->nincs; i++)
		if (orphan(b, &b->view->incs[i]))
			return 1;
	return 0;
}

static int drains_read(struct drains *d, const struct batch *b, const struct round *r)
{
	char path[PATH_BYTES];
	d->n = r->journals.n;
	d->snap = calloc(d->n ? d->n : 1, sizeof *d->snap);
	d->done = calloc(d->n ? d->n : 1, sizeof *d->done);
	if (!d->snap || !d->done)
		return -1;
	for (uint32_t i = 0; i < d->n; i++) {
		unsigned bad = 0;
		int rc = path_join(path, b->dir, r->journals.v[i]) == 0
		             ? journal_read(path, JOURNAL_QUIESCE_MS, &d->snap[i], &bad)
		             : -1;
		if (rc < 0)
			log_error(LOG_READ, "unreadable journal %s/%s", b->dir, r->journals.v[i]);
		if (bad)
			log_error(LOG_READ, "%s: %u torn or damaged records skipped", path, bad);
		d->done[i] = rc == 0; /* 1: an appender is still in it; the next scrape takes it */
	}
	return 0;
}

static void drains_free(struct drains *d)
{
	for (uint32_t i = 0; d->snap && i < d->n; i++)
		stage_snapshot_free(&d->snap[i]);
	free(d->snap);
	free(d->done);
}

/* What the view read of an incarnation's rows, for db_fold_in (db_known). */
struct known {
	const struct view *view;
	const struct incarnation *inc;
};

static const double *known_row(void *arg, uint32_t slot, uint32_t ncells)
{
	const struct known *k = arg;
	return view_folded_row(k->view, k->inc, slot, ncells);
}

/* A dead worker's last fold, its end counted in it (store/pool.h): on a
 * copy of its cells, so that the file's own stay what the worker left
 * (a scrape that folds nothing shows them as they are). */
static int fold_end(struct batch *b, const struct worker *w, const struct db_known *k)
{
	struct stage_snapshot end = w->v.snap;
	end.cells = malloc((end.ncells ? end.ncells : 1) * sizeof *end.cells);
	if (!end.cells)
		return DB_FOLD_ERROR;
	memcpy(end.cells, w->v.snap.cells, end.ncells * sizeof *end.cells);
	pool_count_end(&end, stage_view_closing(&w->v));
	int rc = fold_snapshot_in(b->db, &end, 1, k);
	free(end.cells);
	return rc;
}

/* The dead workers (their last fold: retiring) and, with live, the live.
 * 1 wrote, 0 not, -1 failed. */
static int fold_workers(struct batch *b, int live)
{
	int wrote = 0;
	for (uint32_t i = 0; i < b->workers->n; i++) {
		struct worker *w = b->workers->w[i];
		if (!w->present || w->damaged || !(w->dead || live))
			continue;
		int rc = stage_view_read(&w->v, !w->dead);
		if (rc == STAGE_INVALID) {
			w->damaged = 1;
			w->done = w->dead;
			worker_set_aside(w->v.snap.path, w->v.snap.name, !w->dead);
			continue;
		}
		if (rc != 0)
			continue;
		const struct incarnation *c = view_incarnation(b->view, w->v.snap.name);
		struct known rows = {b->view, c};
		struct db_known k = {c ? c->id : 0, c ? c->folded_seq : 0, known_row, &rows};
		rc = w->dead ? fold_end(b, w, c ? &k : NULL)
		             : fold_snapshot_in(b->db, &w->v.snap, 0, c ? &k : NULL);
		if (rc == DB_FOLD_ERROR) {
			failed(b, w->v.snap.name);
			return -1;
		}
		wrote |= rc == DB_FOLDED;
		w->retiring = w->dead; /* then unlinked and forgotten: batch_fold */
	}
	return wrote;
}

static int fold_journals(struct batch *b, const struct drains *d)
{
	int wrote = 0;
	for (uint32_t i = 0; i < d->n; i++) {
		if (!d->done[i])
			continue;
		int rc = fold_snapshot_in(b->db, &d->snap[i], 1, NULL);
		if (rc == DB_FOLD_ERROR) {
			failed(b, d->snap[i].name);
			return -1;
		}
		wrote |= rc == DB_FOLDED;
	}
	return wrote;
}

static int forget_orphans(struct batch *b)
{
	int wrote = 0;
	for (uint32_t i = 0; i < b->view->nincs; i++) {
		if (!orphan(b, &b->view->incs[i]))
			continue;
		if (db_forget_in(b->db, b->view->incs[i].name) != 0) {
			failed(b, "forget");
			return -1;
		}
		wrote = 1;
	}
	return wrote;
}

/* The transaction: every fold and forget, committed together.  1 wrote, 0
 * not, -1 failed (rolled back). */
static int fold_all(struct batch *b, const struct drains *d, int live)
{
	if (db_begin(b->db) != 0) {
		failed(b, "folds");
		return -1;
	}
	int w1, w2 = 0, w3 = 0;
	if ((w1 = fold_workers(b, live)) < 0 || (w2 = fold_journals(b, d)) < 0 ||
	    (w3 = forget_orphans(b)) < 0) {
		db_rollback(b->db);
		return -1;
	}
	if (db_commit(b->db) != 0) { /* it rolled back */
		failed(b, "commit");
		return -1;
	}
	return w1 | w2 | w3;
}

/* After the commit: the retired files and the drained journals unlinked,
 * then their rows forgotten, in a transaction of their own.  Returns 1 if
 * it wrote to the store. */
static int remove_retired(struct batch *b, struct drains *d)
{
	int forget = 0;
	for (uint32_t i = 0; i < b->workers->n; i++) {
		struct worker *w = b->workers->w[i];
		if (!w->retiring)
			continue;
		if (unlink(w->v.snap.path) == 0 || errno == ENOENT) {
			b->retired++;
			forget = 1;
			w->done = 1;
		} else {
			/* rows stay retired: folded never again, unlinked later */
			log_error(LOG_FOLD, "cannot remove %s: %s", w->v.snap.path, strerror(errno));
			w->retiring = 0;
		}
	}
	for (uint32_t i = 0; i < d->n; i++) {
		if (!d->done[i])
			continue;
		if (unlink(d->snap[i].path) == 0 || errno == ENOENT)
			forget = 1;
		else
			d->done[i] = 0;
	}
	/* the scrape has had its wait for the lock: if it is taken again, the
	 * rows are orphans until a later scrape */
	if (!forget || db_begin_now(b->db) != 0)
		return 0;
	int ok = 1;
	for (uint32_t i = 0; ok && i < b->workers->n; i++)
		if (b->workers->w[i]->retiring)
			ok = db_forget_in(b->db, b->workers->w[i]->v.snap.name) == 0;
	for (uint32_t i = 0; ok && i < d->n; i++)
		if (d->done[i])
			ok = db_forget_in(b->db, d->snap[i].name) == 0;
	if (!ok || db_commit(b->db) != 0) {
		if (!ok)
			db_rollback(b->db);
		log_error(LOG_FOLD, "forget: %s", db_errmsg(b->db)); /* orphans, later */
	} else {
		/* the pages the forgotten rows took go back: the file does not
		 * keep the high-water mark of a burst of deaths (busy: later) */
		db_compact(b->db, 0);
	}
	return 1;
}

int batch_fold(struct batch *b, const struct round *r, int live)
{
	if (!has_work(b, r, live)) {
		if (live)
			clock_live_folded(b->clock, b->db_path); /* nothing live: nothing to fold */
		return 0;
	}
	struct drains d = {0};
	int wrote = 0;
	if (drains_read(&d, b, r) != 0)
		goto out;
	if (live)
		db_durable(b->db, 1);
	wrote = fold_all(b, &d, live);
	if (live)
		db_durable(b->db, 0);
	if (wrote < 0) {
		wrote = 0;
		goto out;
	}
	if (stage_test_hook)
		stage_test_hook("batch-committed");
	if (live)
		clock_live_folded(b->clock, b->db_path);
	wrote |= remove_retired(b, &d);
out:
	for (uint32_t i = 0; i < b->workers->n; i++)
		b->workers->w[i]->retiring = 0;
	drains_free(&d);
	return wrote;
}
