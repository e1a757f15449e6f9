/* SPDX-License-Identifier: MIT */
/*
 * layout.c — the view in output order (see layout.h).
 */
#include <stdlib.h>
#include <string.h>

#include "metrics/layout.h"

static int by_family_name(const void *a, const void *b, void *arg)
{
	const struct view_family *fams = arg;
	return strcmp(fams[*(const uint32_t *)a].def.name, fams[*(const uint32_t *)b].def.name);
}

/* Series in output order: by family name, then label values (as SQLite
 * orders blobs: bytes, then length). */
static int series_cmp(const struct view *v, uint32_t a, uint32_t b)
{
	const struct view_series *x = &v->sers[a], *y = &v->sers[b];
	if (x->fam != y->fam)
		return v->layout.rank[x->fam] < v->layout.rank[y->fam] ? -1 : 1;
	uint32_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(v->keys + x->key, v->keys + y->key, n);
	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static int by_series(const void *a, const void *b, void *arg)
{
	return series_cmp(arg, *(const uint32_t *)a, *(const uint32_t *)b);
}

/* A series' store cells at its place in the output, a new series' empty
 * cells (model_family_zero) where it has none and after a row that lacks
 * the native part its family has gained.  Of a native part only the
 * header: its windows go from the view's base straight into the output,
 * where they hold buckets (collect_base), never through out_base. */
static void lay_series(struct view *v, uint32_t i)
{
	struct view_layout *l = &v->layout;
	struct view_series *s = &v->sers[i];
	const struct family_def *d = &v->fams[s->fam].def;
	double *to = &l->out_base[s->out];
	size_t n = d->native ? d->nbuckets + 2 + NATIVE_POS : d->ncells;
	int whole = s->base != VIEW_NO_CELLS && s->base_n == d->ncells;
	if (whole) {
		memcpy(to, &v->base[s->base], n * sizeof *to);
		return;
	}
	/* an empty native part, whatever the store had (none of it) */
	memset(&s->base_range, 0, sizeof s->base_range);
	if (d->native) {
		memset(to, 0, (d->nbuckets + 2) * sizeof *to);
		native_init_header(to + d->nbuckets + 2, d->schema, d->zero_threshold);
	} else {
		model_family_zero(d, to);
	}
	if (s->base != VIEW_NO_CELLS && s->base_n < d->ncells)
		memcpy(to, &v->base[s->base], (s->base_n < n ? s->base_n : n) * sizeof *to);
}

/* The store's cells laid out: all of them after a layout, else only those
 * the reads since changed. */
static void lay_base(struct view *v)
{
	struct view_layout *l = &v->layout;
	if (!l->base_laid) {
		for (uint32_t i = 0; i < v->nsers; i++) {
			const struct view_series *s = &v->sers[i];
			if (v->fams[s->fam].def.ncells == 1) /* a counter's: the common case, inline */
				l->out_base[s->out] =
				    s->base != VIEW_NO_CELLS && s->base_n == 1 ? v->base[s->base] : 0;
			else
				lay_series(v, i);
		}
	} else if (l->base_changed) {
		for (uint32_t i = 0; i < v->nchanged; i++)
			if (v->changed[i] < v->nsers)
				lay_series(v, v->changed[i]);
	}
	l->base_laid = 1;
	l->base_changed = 0;
	v->nchanged = 0;
}

/* Families by name (every family's rank), when there are new ones:
 * returns how many series of the last layout keep their order (0: all are
 * sorted again). */
static uint32_t order_families(struct view *v)
{
	struct view_layout *l = &v->layout;
	if (v->nfams == l->nfams_laid && l->sorted)
		return l->nsers_laid;
	for (uint32_t i = 0; i < v->nfams; i++)
		l->order[i] = i;
	qsort_r(l->order, v->nfams, sizeof *l->order, by_family_name, v->fams);
	for (uint32_t i = 0; i < v->nfams; i++)
		l->rank[l->order[i]] = i;
	return 0;
}

/* Series in output order into sorted (room for every series): the new
 * ones (from old on) sorted, then merged with the last layout's order.
 * Returns sorted, or another array holding the merge (sorted freed), or
 * NULL out of memory (sorted freed). */
static uint32_t *order_series(struct view *v, uint32_t *sorted, uint32_t old)
{
	uint32_t nnew = v->nsers - old;
	uint32_t *fresh = sorted + old; /* scratch: the tail of sorted */
	for (uint32_t i = 0; i < nnew; i++)
		fresh[i] = old + i;
	qsort_r(fresh, nnew, sizeof *fresh, by_series, v);
	if (!old)
		return sorted;
	uint32_t *merged = malloc((v->nsers ? v->nsers : 1) * sizeof *merged);
	if (merged) {
		const uint32_t *was = v->layout.sorted;
		uint32_t i = 0, j = 0, k = 0;
		while (i < old && j < nnew)
			merged[k++] = series_cmp(v, was[i], fresh[j]) <= 0 ? was[i++] : fresh[j++];
		while (i < old)
			merged[k++] = was[i++];
		while (j < nnew)
			merged[k++] = fresh[j++];
	}
	free(sorted);
	return merged;
}

/* Each family's first series and count, each series' place in the output
 * cells, and room for them: 0, or -1. */
static int place_cells(struct view *v)
{
	struct view_layout *l = &v->layout;
	for (uint32_t i = 0; i < v->nfams; i++)
		v->fams[i].nseries = 0;
	size_t ncells = 0;
	for (uint32_t i = 0; i < v->nsers; i++) {
		struct view_series *s = &v->sers[l->sorted[i]];
		struct view_family *f = &v->fams[s->fam];
		if (!f->nseries++)
			f->first = i;
		s->out = ncells;
		ncells += f->def.ncells;
	}
	double *base = realloc(l->out_base, (ncells ? ncells : 1) * sizeof *base);
	if (!base)
		return -1;
	l->out_base = base;
	struct native_range *r = realloc(l->out_range, (v->nsers ? v->nsers : 1) * sizeof *r);
	if (!r)
		return -1;
	l->out_range = r;
	l->ncells = ncells;
	l->epoch++; /* every block filled before has series at other places */
	return 0;
}

int layout_update(struct view *v)
{
	struct view_layout *l = &v->layout;
	if (l->laid_out) {
		lay_base(v);
		return 0;
	}
	size_t nf = v->nfams ? v->nfams : 1, ns = v->nsers ? v->nsers : 1;
	uint32_t *order = realloc(l->order, nf * sizeof *order);
	if (order)
		l->order = order;
	uint32_t *rank = realloc(l->rank, nf * sizeof *rank);
	if (rank)
		l->rank = rank;
	uint32_t *sorted = malloc(ns * sizeof *sorted);
	if (!order || !rank || !sorted) {
		free(sorted);
		return -1;
	}
	uint32_t old = order_families(v);
	if (!(sorted = order_series(v, sorted, old)))
		return -1;
	free(l->sorted);
	l->sorted = sorted;
	if (place_cells(v) != 0)
		return -1;
	l->nfams_laid = v->nfams;
	l->nsers_laid = v->nsers;
	l->laid_out = 1;
	l->base_laid = 0; /* every series' place may have moved */
	lay_base(v);
	return 0;
}
