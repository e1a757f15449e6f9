/* SPDX-License-Identifier: MIT */
/*
 * view.c — the scrape's copy of the store (see view.h): its families and
 * series, found by hash, and the read that brings it up to date in place
 * with what changed.
 */
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/stage.h"
#include "metrics/view.h"

static void incarnations_free(struct incarnation *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].rows);
	}
}

void view_clear(struct view *v)
{
	incarnations_free(v->incs, v->nincs);
	v->nincs = 0;
	v->nfpool = 0;
	v->inc_gen++;
	v->nfams = v->nsers = 0;
	v->nkeys = v->nbase = 0;
	v->nexs = 0;
	v->nchanged = 0;
	v->store_gen = -1;
	if (v->by_key.size)
		hash_reset(&v->by_key, 0);
	v->valid = 0;
	v->layout.laid_out = v->layout.base_laid = 0;
	v->layout.nfams_laid = v->layout.nsers_laid = 0;
	v->gen++;
}

void view_free(struct view *v)
{
	view_clear(v);
	free(v->fams);
	free(v->sers);
	hash_free(&v->by_key);
	free(v->keys);
	free(v->base);
	free(v->changed);
	free(v->incs);
	free(v->old_incs);
	free(v->fpool);
	free(v->old_fpool);
	free(v->layout.order);
	free(v->layout.rank);
	free(v->layout.sorted);
	free(v->layout.out_base);
	free(v->layout.out_range);
	free(v->exs);
	/* the generations go on: workers must not take a new view for the old */
	uint32_t gen = v->gen, inc_gen = v->inc_gen;
	unsigned long rows_read = v->rows_read;
	uint64_t epoch = v->layout.epoch;
	memset(v, 0, sizeof *v);
	v->gen = gen;
	v->inc_gen = inc_gen;
	v->rows_read = rows_read;
	v->layout.epoch = epoch + 1; /* a block filled before is of no layout now */
	v->store_gen = -1;
}

/* ---- families and series ------------------------------------------------ */

static uint32_t series_hash(uint32_t fam, const char *key, uint32_t keylen)
{
	uint32_t h = hash_fnv1a(HASH_FNV_BASIS ^ fam, key, keylen);
	return h ^ (h >> 15);
}

static uint32_t find_series(const struct view *v, uint32_t fam, const char *key, uint32_t keylen)
{
	uint32_t probe = series_hash(fam, key, keylen), i;
	while ((i = hash_next(&v->by_key, &probe)) != HASH_NONE) {
		const struct view_series *s = &v->sers[i];
		if (s->fam == fam && s->keylen == keylen && memcmp(v->keys + s->key, key, keylen) == 0)
			return i;
	}
	return VIEW_NONE;
}

/* Room in the hash for one more series (every series put back to grow it). */
static int hash_room(struct view *v)
{
	if (!hash_full(&v->by_key, v->nsers))
		return 0;
	if (hash_reset(&v->by_key, v->nsers + 1) != 0)
		return -1;
	for (uint32_t i = 0; i < v->nsers; i++) {
		const struct view_series *s = &v->sers[i];
		hash_put(&v->by_key, series_hash(s->fam, v->keys + s->key, s->keylen), i);
	}
	return 0;
}

uint32_t view_add_series(struct view *v, uint32_t fam, const char *key, uint32_t keylen,
                         double created)
{
	uint32_t i = find_series(v, fam, key, keylen);
	if (i != VIEW_NONE)
		return i;
	if (hash_room(v) != 0 ||
	    array_grow32((void **)&v->sers, &v->cap_sers, v->nsers + 1, sizeof *v->sers) ||
	    array_grow((void **)&v->keys, &v->cap_keys, v->nkeys + keylen + 1, 1))
		return VIEW_NONE;
	struct view_series *s = &v->sers[v->nsers];
	s->fam = fam;
	s->keylen = keylen;
	s->key = v->nkeys;
	s->base = VIEW_NO_CELLS;
	s->read = 0;
	s->created = created;
	memcpy(v->keys + v->nkeys, key, keylen);
	v->nkeys += keylen;
	hash_put(&v->by_key, series_hash(fam, key, keylen), v->nsers);
	v->layout.laid_out = 0;
	return v->nsers++;
}

/* Families are one definition per name, the store's first: a staging file
 * that defines a name otherwise is not shown (nor folded, db_fold.c).  A
 * histogram's definition with native buckets widens one without (their
 * series gain an empty native part, as the store's do at its next fold);
 * one without native buckets adds its classic cells to one with. */
static void widen(struct view *v, uint32_t f, const struct family_def *def)
{
	struct family_def *d = &v->fams[f].def;
	d->native = def->native;
	d->schema = def->schema;
	d->zero_threshold = def->zero_threshold;
	d->ncells = def->ncells;
	v->layout.laid_out = 0; /* every series' cells move */
}

static uint32_t find_family(const struct view *v, const char *name)
{
	for (uint32_t i = 0; i < v->nfams; i++)
		if (strcmp(v->fams[i].def.name, name) == 0)
			return i;
	return VIEW_NONE;
}

uint32_t view_add_family(struct view *v, const struct family_def *def, long long store_id)
{
	uint32_t i = find_family(v, def->name);
	if (i != VIEW_NONE) {
		int c = model_family_compat(&v->fams[i].def, def);
		if (c == MODEL_WIDER)
			widen(v, i, def);
		return c == MODEL_CLASH ? VIEW_NONE : i;
	}
	if (array_grow32((void **)&v->fams, &v->cap_fams, v->nfams + 1, sizeof *v->fams))
		return VIEW_NONE;
	memset(&v->fams[v->nfams], 0, sizeof v->fams[0]);
	v->fams[v->nfams].def = *def;
	v->fams[v->nfams].store_id = store_id;
	v->fams[v->nfams].store_ncells = def->ncells;
	v->layout.laid_out = 0;
	return v->nfams++;
}

/* The family of the view that the store knows by id (the last one found
 * first: rows come grouped by family). */
static uint32_t family_of_store_id(const struct view *v, long long family_id)
{
	uint32_t f = v->last_fam;
	if (f >= v->nfams || v->fams[f].store_id != family_id)
		for (f = 0; f < v->nfams && v->fams[f].store_id != family_id; f++)
			;
	return f < v->nfams ? f : VIEW_NONE;
}

uint32_t view_store_family(const struct view *v, long long store_id)
{
	for (uint32_t f = 0; store_id && f < v->nfams; f++)
		if (v->fams[f].store_id == store_id)
			return f;
	return VIEW_NONE;
}

/* ---- incarnations and their folded rows ---------------------------------- */

/* The incarnation of that id in a list in order of id (db_load's), or NULL. */
static struct incarnation *incarnation_by_id(struct incarnation *c, uint32_t n, long long id)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c[mid].id == id)
			return &c[mid];
		if (c[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct incarnation *view_incarnation(const struct view *v, const char *name)
{
	for (uint32_t i = 0; i < v->nincs; i++)
		if (strcmp(v->incs[i].name, name) == 0)
			return &v->incs[i];
	return NULL;
}

const double *view_folded_row(const struct view *v, const struct incarnation *c, uint32_t slot,
                              uint32_t ncells)
{
	if (slot >= c->nrows || c->rows[slot].n != ncells)
		return NULL;
	return &v->fpool[c->rows[slot].off];
}

/* Keeps a folded row of c (a slot a staging file can have, cells a series
 * can have: anything else is a damaged store's, never used). */
static int keep_folded_row(struct view *v, struct incarnation *c, uint32_t slot,
                           const void *cells, int ncells)
{
	if (ncells < 1 || ncells > MODEL_CELLS_MAX || slot >= STAGE_SLOTS_LIMIT)
		return 0;
	if (slot >= c->nrows) {
		uint32_t n = c->nrows ? c->nrows : 64;
		while (n <= slot)
			n *= 2;
		struct folded_row *r = realloc(c->rows, n * sizeof *r);
		if (!r)
			return -1;
		memset(r + c->nrows, 0, (n - c->nrows) * sizeof *r);
		c->rows = r;
		c->nrows = n;
	}
	if (array_grow((void **)&v->fpool, &v->cap_fpool, v->nfpool + (size_t)ncells, sizeof(double)) ||
	    v->nfpool > UINT32_MAX - 64)
		return -1;
	c->rows[slot].off = (uint32_t)v->nfpool;
	c->rows[slot].n = (uint32_t)ncells;
	memcpy(&v->fpool[v->nfpool], cells, (size_t)ncells * sizeof(double));
	v->nfpool += (size_t)ncells;
	return 0;
}

/* ---- the read: db_load's callbacks --------------------------------------
 * A read updates the view in place: series keep their place (workers their
 * maps, the layout its order) unless the store defines a family otherwise
 * than the view had it (rebuild). */

static int load_family(void *arg, long long id, const struct family_def *def)
{
	struct view *v = arg;
	uint32_t f = find_family(v, def->name);
	if (f == VIEW_NONE && (f = view_add_family(v, def, id)) == VIEW_NONE)
		return -1;
	int c = model_family_compat(&v->fams[f].def, def);
	if (c == MODEL_CLASH) {
		v->rebuild = 1;
		return 0;
	}
	if (c == MODEL_WIDER)
		widen(v, f, def);
	struct family_def *d = &v->fams[f].def;
	memcpy(d->help, def->help, sizeof d->help); /* the store's help */
	/* the store's rows of a family that gained native buckets all changed
	 * shape: the cells read before of them are of the old one */
	if (v->fams[f].store_id && v->fams[f].store_ncells != def->ncells)
		v->rebuild = 1;
	v->fams[f].store_id = id;
	v->fams[f].store_ncells = def->ncells;
	return 0;
}

static int load_series(void *arg, long long family_id, const void *key, uint32_t keylen,
                       const double *cells, int ncells, const struct native_range *range,
                       double created)
{
	struct view *v = arg;
	uint32_t f = family_of_store_id(v, family_id);
	v->rows_read++;
	/* a row of no family, or not of its family's shape: never misrender */
	if (f == VIEW_NONE || ncells != (int)v->fams[f].store_ncells || keylen > PF_KEY_MAX)
		return 0;
	v->last_fam = f;
	uint32_t s = view_add_series(v, f, key ? key : "", keylen, created);
	if (s == VIEW_NONE ||
	    array_grow32((void **)&v->changed, &v->cap_changed, v->nchanged + 1, sizeof *v->changed))
		return -1;
	struct view_series *vs = &v->sers[s];
	/* a series read before keeps its place in base (the same family, the
	 * same number of cells: a change of shape makes the view anew) */
	if (vs->base == VIEW_NO_CELLS || vs->base_n != (uint32_t)ncells) {
		if (array_grow((void **)&v->base, &v->cap_base, v->nbase + (size_t)ncells, sizeof(double)))
			return -1;
		vs = &v->sers[s];
		vs->base = v->nbase;
		v->nbase += (size_t)ncells;
	}
	vs->base_n = (uint32_t)ncells;
	vs->created = created;
	vs->read = v->inc_gen;
	if (range)
		vs->base_range = *range;
	else
		native_range_all(&vs->base_range);
	memcpy(&v->base[vs->base], cells, (size_t)ncells * sizeof(double));
	if (v->nchanged >= v->nsers) { /* as many as there are: lay them all */
		v->layout.base_laid = 0;
		v->nchanged = 0;
	}
	v->changed[v->nchanged++] = s;
	return 0;
}

static int load_exemplar(void *arg, long long family_id, const void *key, uint32_t keylen,
                         uint32_t bucket, const struct exemplar *x)
{
	struct view *v = arg;
	uint32_t f = family_of_store_id(v, family_id), s;
	if (f == VIEW_NONE || keylen > PF_KEY_MAX ||
	    bucket >= (uint32_t)model_family_exemplars((int)v->fams[f].def.type,
	                                               (int)v->fams[f].def.nbuckets) ||
	    (s = find_series(v, f, key ? key : "", keylen)) == VIEW_NONE ||
	    v->sers[s].base == VIEW_NO_CELLS)
		return 0; /* not a series of the store's: never shown */
	if (array_grow32((void **)&v->exs, &v->cap_exs, v->nexs + 1, sizeof *v->exs))
		return -1;
	v->exs[v->nexs].ser = s;
	v->exs[v->nexs].bucket = bucket;
	v->exs[v->nexs++].x = *x;
	return 0;
}

/* An aggregated incarnation's rows are those of the last read while its id
 * and its folded_seq are (db_fold.c moves folded_seq with every change of
 * its rows): then they are copied from the old pool, and not read again.
 * Other incarnations have no folded rows. */
static int load_incarnation(void *arg, const struct db_inc_row *row)
{
	struct view *v = arg;
	if (array_grow32((void **)&v->incs, &v->cap_incs, v->nincs + 1, sizeof *v->incs))
		return -1;
	struct incarnation *c = &v->incs[v->nincs];
	memset(c, 0, sizeof *c);
	c->id = row->id;
	c->folded_seq = row->folded_seq;
	c->retired = row->retired;
	c->aggregated = row->aggregated;
	c->checkpoint = row->checkpoint;
	if (!(c->name = strdup(row->name)))
		return -1;
	v->nincs++;
	if (!c->aggregated)
		return 0;
	const struct incarnation *was = incarnation_by_id(v->old_incs, v->nold_incs, row->id);
	if (!was || was->folded_seq != row->folded_seq || strcmp(was->name, row->name) != 0)
		return 1;
	for (uint32_t slot = 0; slot < was->nrows; slot++) {
		const struct folded_row *r = &was->rows[slot];
		if (r->n && keep_folded_row(v, c, slot, &v->old_fpool[r->off], (int)r->n) != 0)
			return -1;
	}
	return 0;
}

static int load_folded(void *arg, long long inc_id, uint32_t slot, const void *cells, int ncells)
{
	struct view *v = arg;
	struct incarnation *c = incarnation_by_id(v->incs, v->nincs, inc_id);
	return c ? keep_folded_row(v, c, slot, cells, ncells) : 0;
}

/* The incarnations read last time become the old ones, and their pool the
 * old pool (their rows are kept where unchanged: load_incarnation). */
static void age_incarnations(struct view *v)
{
	struct incarnation *t = v->old_incs;
	uint32_t tc = v->cap_old_incs;
	v->old_incs = v->incs;
	v->nold_incs = v->nincs;
	v->cap_old_incs = v->cap_incs;
	v->incs = t;
	v->cap_incs = tc;
	v->nincs = 0;
	double *p = v->old_fpool;
	size_t pc = v->cap_old_fpool;
	v->old_fpool = v->fpool;
	v->cap_old_fpool = v->cap_fpool;
	v->fpool = p;
	v->cap_fpool = pc;
	v->nfpool = 0;
}

/* The store's exemplars of the series the last read brought are the ones
 * it read (appended after the first n): the others of them go. */
static void drop_replaced_exemplars(struct view *v, uint32_t n)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < v->nexs; i++)
		if (i >= n || v->sers[v->exs[i].ser].read != v->inc_gen)
			v->exs[kept++] = v->exs[i];
	v->nexs = kept;
}

int view_read(struct view *v, struct db *db, int anew)
{
	static const struct db_loader loader = {load_family, load_series, load_incarnation,
	                                        load_folded, load_exemplar};
	if (anew || !v->valid)
		view_clear(v);
	for (uint32_t i = 0; i < v->nfams; i++)
		v->fams[i].store_id = 0;
	age_incarnations(v);
	uint32_t nexs = v->nexs;
	v->inc_gen++;
	v->rebuild = 0;
	int rc = db_load(db, &loader, v, v->store_gen, &v->version, &v->store_gen);
	incarnations_free(v->old_incs, v->nold_incs);
	v->nold_incs = 0;
	if (rc != 0) {
		view_clear(v);
		return -1;
	}
	drop_replaced_exemplars(v, nexs);
	v->layout.base_changed = v->nchanged > 0;
	v->valid = 1;
	return 0;
}

int view_unused(const struct view *v, const unsigned char *used)
{
	for (uint32_t i = 0; i < v->nsers; i++)
		if (v->sers[i].base == VIEW_NO_CELLS && !used[i])
			return 1;
	for (uint32_t i = 0; i < v->nfams; i++)
		if (v->fams[i].store_id == 0 && !used[v->nsers + i])
			return 1;
	return 0;
}
