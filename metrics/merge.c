/* SPDX-License-Identifier: MIT */
/*
 * merge.c — what each worker adds to the store's aggregate in one scrape
 * (see merge.h), with S the view's snapshot of the store.
 *
 * Which part of a worker's file counts ("the rule").  Rows of an
 * incarnation are retired (its final fold) and forgotten only once its file
 * was unlinked, and only by its own final fold (after it set `closing` in
 * its header) or by a metrics program that saw it dead.  The aggregate
 * holds only incarnations that ended (a live one's folds are checkpoints,
 * outside it), except those folded before schema 5 (aggregated: the
 * aggregate has their folded rows F).  For a worker W, with I = W's
 * incarnation row in S and everything below read after S:
 *   - I retired: its counts are all in the aggregate: W adds nothing;
 *   - W live and not closing, or W's file listed in the directory, or I in
 *     S (its file deleted by hand, not retired): W adds staged (I
 *     aggregated: staged - F);
 *   - otherwise (dead or closing, file gone, no I): W's file was unlinked
 *     before we looked, so its final fold (if any) committed before; if
 *     the store still has S's version, S saw that commit: I absent means
 *     forgotten, W adds nothing.  If the version moved, the scrape starts
 *     over.
 * An incarnation with a checkpoint that no worker read here stands for (its
 * file gone or unreadable while its process lives; a dead one's is folded
 * by the scrape's batch) adds its checkpoint: the counts never go back.
 * Gauges are not folded: a live worker adds its gauges, a dead one none.
 *
 * Exemplars: per series and bucket, the latest (by timestamp) of the
 * store's (of workers that ended, folded with their last counts) and of
 * every worker's file; never summed, so no rule is needed: a worker whose
 * exemplar is also in the store offers the same one twice.
 */
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/journal.h"
#include "store/native.h"
#include "metrics/merge.h"

/* What worker w adds this scrape (the rule, above): sets w->mode; 1 if
 * only a store that has not moved since S can tell. */
static int decide_one(struct worker *w)
{
	const struct incarnation *c = w->inc;
	int closing = stage_view_closing(&w->v);
	if (c && (c->retired || (long long)w->v.snap.seq < c->folded_seq))
		w->mode = ADD_NONE; /* all in the aggregate already */
	else if (w->present || (w->live && !closing) || c) /* c: its file deleted by hand */
		w->mode = c && c->aggregated ? ADD_DELTA : ADD_STAGED;
	else
		return 1; /* forgotten before S, or after: ask the store */
	return 0;
}

/* ---- native parts, over the buckets they hold ---------------------------------- */

/* r grows to hold t too. */
static void range_union(struct native_range *r, const struct native_range *t)
{
	for (int neg = 0; neg < 2; neg++) {
		if (t->lo[neg] >= t->hi[neg])
			continue;
		if (r->lo[neg] >= r->hi[neg]) {
			r->lo[neg] = t->lo[neg];
			r->hi[neg] = t->hi[neg];
			continue;
		}
		if (t->lo[neg] < r->lo[neg])
			r->lo[neg] = t->lo[neg];
		if (t->hi[neg] > r->hi[neg])
			r->hi[neg] = t->hi[neg];
	}
}

/* to += a - b (b NULL: a), native parts, over the buckets they hold; the
 * output series at's range grows by what changed.  The result of
 * native_add_diff, which fails (adding nothing) on a part that cannot take
 * it or a file older than what was folded. */
static void add_native(struct view *v, uint32_t at, double *to, const double *a, const double *b)
{
	struct native_range r, t;
	native_range_of(a, &r);
	if (b) {
		struct native_range rb;
		native_range_of(b, &rb);
		range_union(&r, &rb);
	}
	if (native_add_diff_range(to, a, b, &r, &t) == 0)
		range_union(&v->layout.out_range[at], &t);
	else
		native_range_all(&v->layout.out_range[at]); /* unknown: may have moved */
}

/* ---- checkpoints no worker stands for --------------------------------------- */

void merge_absent_free(struct absent *a)
{
	free(a->rows);
	free(a->pool);
	memset(a, 0, sizeof *a);
}

struct absent_read {
	struct view *v;
	struct absent *a;
};

static int absent_row(void *arg, long long family_id, uint32_t slot, const char *key,
                      uint32_t keylen, const double *cells, int ncells, double created)
{
	struct absent_read *r = arg;
	struct absent *a = r->a;
	(void)slot;
	uint32_t f = view_store_family(r->v, family_id);
	if (f == VIEW_NONE || ncells < 1 || (uint32_t)ncells > r->v->fams[f].def.ncells)
		return 0;
	uint32_t ser = view_add_series(r->v, f, key, keylen, created);
	if (ser == VIEW_NONE || array_grow32((void **)&a->rows, &a->cap, a->n + 1, sizeof *a->rows) ||
	    array_grow((void **)&a->pool, &a->cap_pool, a->npool + (size_t)ncells, sizeof *a->pool))
		return -1;
	a->rows[a->n++] = (struct absent_row){ser, (uint32_t)ncells, a->npool};
	memcpy(a->pool + a->npool, cells, (size_t)ncells * sizeof *cells);
	a->npool += (size_t)ncells;
	return 0;
}

/* The checkpoints of incarnations that live (not retired) and that no
 * worker read this scrape stands for: its file gone or unreadable while
 * its process runs (a dead one's is folded by the batch before).  1 if one
 * moved on since S (the scrape starts over), else 0. */
static int read_absent(const struct workers *ws, struct view *v, struct db *db, struct absent *a)
{
	a->n = 0;
	a->npool = 0;
	int moved = 0;
	for (uint32_t i = 0; i < v->nincs; i++) {
		const struct incarnation *c = &v->incs[i];
		if (!c->checkpoint || c->retired || c->aggregated)
			continue;
		int covered = 0;
		for (uint32_t j = 0; !covered && j < ws->n; j++) {
			const struct worker *w = ws->w[j];
			covered = w->inc == c && w->inc_gen == v->inc_gen && !w->damaged && !w->done &&
			          w->mode != ADD_NONE;
		}
		if (covered)
			continue;
		struct absent_read r = {v, a};
		uint32_t n = a->n;
		size_t np = a->npool;
		int rc = db_read_checkpoint(db, c->id, c->folded_seq, absent_row, &r);
		if (rc != 1) { /* moved on (or unreadable): none of its rows */
			a->n = n;
			a->npool = np;
			moved |= rc == 0;
		}
	}
	return moved;
}

static void merge_absent(struct view *v, const struct absent *a, double *out)
{
	for (uint32_t i = 0; a && i < a->n; i++) {
		const struct absent_row *r = &a->rows[i];
		const struct family_def *d = &v->fams[v->sers[r->ser].fam].def;
		const double *cells = a->pool + r->cells;
		double *to = &out[v->sers[r->ser].out];
		uint32_t classic = d->type == PF_HISTOGRAM ? d->nbuckets + 2 : d->ncells;
		for (uint32_t k = 0; k < classic && k < r->ncells; k++)
			to[k] += cells[k];
		if (d->native && r->ncells == d->ncells)
			add_native(v, r->ser, to + classic, cells + classic, NULL);
	}
}

int merge_decide(struct workers *ws, struct view *v, struct db *db, struct absent *a)
{
	int recheck = 0;
	for (uint32_t i = 0; i < ws->n; i++) {
		struct worker *w = ws->w[i];
		w->mode = ADD_NONE;
		if (w->damaged || w->done)
			continue;
		int rc = stage_view_read(&w->v, w->live);
		if (rc == STAGE_INVALID) {
			w->damaged = 1;
			w->done = !w->live;
			worker_set_aside(w->v.snap.path, w->v.snap.name, w->live);
			continue;
		}
		if (rc != 0 && w->v.snap.seq == 0)
			continue; /* never read whole */
		workers_map(w, v);
		recheck |= decide_one(w);
	}
	recheck |= read_absent(ws, v, db, a);
	long long version;
	/* a store that cannot say keeps the view: the next scrape reads it */
	return recheck && db_data_version(db, &version) == 0 && version != v->version;
}

/* Adds one worker's counters and gauges to out. */
static void merge_worker(const struct worker *w, struct view *v, double *out)
{
	const struct stage_snapshot *s = &w->v.snap;
	for (uint32_t j = 0; j < w->nmapped; j++) {
		uint32_t at = w->slot_ser[j];
		if (at == VIEW_NONE)
			continue;
		const struct stage_slot *slot = &s->slots[j];
		const struct family_def *f = &s->families[slot->family];
		const double *staged = &s->cells[slot->cell];
		double *to = &out[v->sers[at].out];
		if (f->type == PF_GAUGE) {
			if (w->live)
				to[0] += staged[0];
			continue;
		}
		if (w->mode == ADD_NONE)
			continue;
		const double *was = NULL;
		if (w->mode == ADD_DELTA)
			was = view_folded_row(v, w->inc, j, f->ncells);
		uint32_t counts = f->type == PF_HISTOGRAM ? f->nbuckets + 1 : 1;
		uint32_t classic = f->type == PF_HISTOGRAM ? f->nbuckets + 2 : f->ncells;
		for (uint32_t k = 0; k < classic; k++) {
			double d = was ? staged[k] - was[k] : staged[k];
			/* counts never go back (db_fold.c folds the same way) */
			to[k] += k < counts && d < 0 ? 0 : d;
		}
		/* the native part: staged - folded, the native way; nothing if
		 * the file is older than what was folded (or damaged), as in
		 * db_fold.c.  A worker's family without native buckets (an earlier
		 * release's) adds its classic cells only. */
		if (f->native && v->fams[v->sers[at].fam].def.native &&
		    !(was && memcmp(staged + classic, was + classic,
		                    NATIVE_CELLS * sizeof *staged) == 0))
			add_native(v, at, to + classic, staged + classic, was ? was + classic : NULL);
	}
}

void merge_workers(const struct workers *ws, struct view *v, const struct absent *a,
                   double *out)
{
	for (uint32_t i = 0; i < ws->n; i++) {
		const struct worker *w = ws->w[i];
		if (!w->damaged && !w->done && w->gen == v->gen && (w->mode != ADD_NONE || w->live))
			merge_worker(w, v, out);
	}
	merge_absent(v, a, out);
}

/* ---- exemplars ------------------------------------------------------------ */

/* Offers exemplar x for bucket b of view series ser: the latest wins.
 * ex[ser] is made when its series gets its first. */
static int offer_exemplar(const struct view *v, struct exemplar **ex, uint32_t ser, uint32_t b,
                          const struct exemplar *x)
{
	const struct family_def *d = &v->fams[v->sers[ser].fam].def;
	int n = model_family_exemplars((int)d->type, (int)d->nbuckets);
	if (b >= (uint32_t)n)
		return 0;
	if (!ex[ser] && !(ex[ser] = calloc((size_t)n, sizeof *ex[ser])))
		return -1;
	if (x->timestamp > ex[ser][b].timestamp)
		ex[ser][b] = *x;
	return 0;
}

int merge_exemplars(const struct workers *ws, const struct view *v, struct exemplar ***out,
                    unsigned *dropped)
{
	int any = v->nexs > 0;
	*out = NULL;
	for (uint32_t i = 0; i < ws->n; i++) {
		const struct worker *w = ws->w[i];
		if (!w->damaged && !w->done && w->gen == v->gen) {
			any |= w->v.snap.nexemplars > 0;
			*dropped += w->present && w->live ? w->v.snap.exemplars_dropped : 0;
		}
	}
	if (!any)
		return 0; /* the common case: nothing to do, nothing allocated */
	struct exemplar **ex = calloc(v->nsers ? v->nsers : 1, sizeof *ex);
	if (!ex)
		return -1;
	*out = ex;
	for (uint32_t i = 0; i < v->nexs; i++)
		if (offer_exemplar(v, ex, v->exs[i].ser, v->exs[i].bucket, &v->exs[i].x) != 0)
			return -1;
	for (uint32_t i = 0; i < ws->n; i++) {
		const struct worker *w = ws->w[i];
		if (w->damaged || w->done || w->gen != v->gen)
			continue;
		const struct stage_snapshot *s = &w->v.snap;
		for (uint32_t j = 0; j < s->nexemplars; j++) {
			const struct stage_exemplar *e = &s->exemplars[j];
			if (!e->sel || e->slot >= w->nmapped || w->slot_ser[e->slot] == VIEW_NONE)
				continue;
			offer_exemplar(v, ex, w->slot_ser[e->slot], e->bucket, &e->x);
		}
	}
	return 0;
}

void merge_exemplars_free(struct exemplar **ex, uint32_t nsers)
{
	for (uint32_t i = 0; ex && i < nsers; i++)
		free(ex[i]);
	free(ex);
}

/* ---- one-shot processes' gauges -------------------------------------------- */

uint32_t merge_read_markers(struct view *v, const char *dir, const struct round *r,
                            struct marker **out)
{
	char path[PATH_BYTES];
	uint32_t n = 0;
	*out = r->markers.n ? calloc(r->markers.n, sizeof **out) : NULL;
	for (uint32_t i = 0; *out && i < r->markers.n; i++) {
		struct marker *m = &(*out)[n];
		if (path_join(path, dir, r->markers.v[i]) != 0 ||
		    journal_read_marker(path, &m->snap) != 1)
			continue;
		if (!(m->ser = malloc((m->snap.nslots ? m->snap.nslots : 1) * sizeof *m->ser))) {
			stage_snapshot_free(&m->snap);
			continue;
		}
		for (uint32_t j = 0; j < m->snap.nslots; j++) {
			const struct stage_slot *slot = &m->snap.slots[j];
			const struct family_def *d = &m->snap.families[slot->family];
			uint32_t f = d->type == PF_GAUGE ? view_add_family(v, d, 0) : VIEW_NONE;
			m->ser[j] = f == VIEW_NONE ? VIEW_NONE : view_add_series(v, f, slot->key, slot->keylen, 0);
		}
		n++;
	}
	return n;
}

void merge_markers(const struct view *v, const struct marker *m, uint32_t n, double *out)
{
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < m[i].snap.nslots; j++)
			if (m[i].ser[j] != VIEW_NONE)
				out[v->sers[m[i].ser[j]].out] += m[i].snap.cells[m[i].snap.slots[j].cell];
}

void merge_markers_free(struct marker *m, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		stage_snapshot_free(&m[i].snap);
		free(m[i].ser);
	}
	free(m);
}
