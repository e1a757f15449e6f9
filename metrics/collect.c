/* SPDX-License-Identifier: MIT */
/*
 * collect.c — a scrape's result as a collection (see collect.h).
 */
#include <stdlib.h>
#include <string.h>

#include "metrics/collect.h"

static void recycle(void *p)
{
	struct block *b = p, **spare = b->home;
	if (*spare && (*spare)->cap >= b->cap) {
		free(b);
		return;
	}
	free(*spare);
	*spare = b;
}

struct block *collect_block(struct block **spare, size_t bytes)
{
	if (*spare && (*spare)->cap >= bytes) {
		struct block *b = *spare;
		*spare = NULL;
		return b;
	}
	free(*spare);
	*spare = NULL;
	/* room for a quarter more: a series more must not make a new block,
	 * whose fresh pages (27 MB for 10,000 native series) each cost a fault */
	size_t cap = bytes + bytes / 4 + 1;
	struct block *b = malloc(sizeof *b + cap);
	if (b) {
		b->cap = cap;
		b->home = spare;
		b->epoch = b->fill = 0;
	}
	return b;
}

/* A native series' windows: clear what the block holds there (all of it
 * when it is not known), then the store's buckets (from: the store's
 * native part, read within base only). */
static void fill_native(double *to, const double *from, const struct native_range *was,
                        const struct native_range *base)
{
	for (int neg = 0; neg < 2; neg++) {
		double *w = to + (neg ? NATIVE_NEG : NATIVE_POS);
		const double *b = from + (neg ? NATIVE_NEG : NATIVE_POS);
		if (!was)
			memset(w, 0, NATIVE_BUCKETS * sizeof *w);
		else if (was->hi[neg] > was->lo[neg])
			memset(w + was->lo[neg], 0, (size_t)(was->hi[neg] - was->lo[neg]) * sizeof *w);
		if (base->hi[neg] > base->lo[neg])
			memcpy(w + base->lo[neg], b + base->lo[neg],
			       (size_t)(base->hi[neg] - base->lo[neg]) * sizeof *w);
	}
}

void collect_base(struct view *v, struct block *blk)
{
	struct view_layout *l = &v->layout;
	int same = blk->epoch == l->epoch && blk->fill == l->fills && l->fills != 0;
	for (uint32_t f = 0; f < v->nfams; f++) {
		const struct view_family *m = &v->fams[f];
		if (!m->nseries)
			continue;
		size_t first = v->sers[l->sorted[m->first]].out;
		if (!m->def.native) { /* its series' cells are together: one copy */
			memcpy(blk->data + first, l->out_base + first,
			       (size_t)m->nseries * m->def.ncells * sizeof(double));
			continue;
		}
		size_t head = m->def.nbuckets + 2 + NATIVE_POS; /* classic cells, native header */
		for (uint32_t j = 0; j < m->nseries; j++) {
			uint32_t at = l->sorted[m->first + j];
			const struct view_series *s = &v->sers[at];
			double *to = blk->data + s->out;
			const double *from = l->out_base + s->out;
			/* the windows from the store's cells (none: an empty range) */
			const double *base = s->base != VIEW_NO_CELLS && s->base_n == m->def.ncells
			                         ? &v->base[s->base] : from;
			memcpy(to, from, head * sizeof *to);
			fill_native(to + m->def.nbuckets + 2, base + m->def.nbuckets + 2,
			            same ? &l->out_range[at] : NULL, &s->base_range);
			l->out_range[at] = s->base_range;
		}
	}
	blk->epoch = l->epoch;
	blk->fill = ++l->fills;
}

size_t collect_keys_bytes(const struct view *v)
{
	size_t n = 0;
	for (uint32_t i = 0; i < v->nsers; i++)
		n += v->sers[i].keylen;
	return n;
}

/* One family's data, its series' cells and keys in the block (key: where
 * its keys go; moved on past them). */
static int collect_family(struct family_data *f, const struct view *v,
                          const struct view_family *m, struct block *blk, char **key,
                          struct exemplar **ex)
{
	const struct family_def *d = &m->def;
	f->type = (int)d->type;
	f->ncells = (int)d->ncells;
	f->nbuckets = (int)d->nbuckets;
	f->native = (int)d->native;
	f->native_schema = d->schema;
	f->native_zero_threshold = d->zero_threshold;
	f->in_block = 1;
	f->name = strdup(d->name);
	f->help = strdup(d->help);
	f->buckets = malloc(d->nbuckets ? d->nbuckets * sizeof(double) : 1);
	f->labels = calloc(PF_LABELS_MAX, sizeof *f->labels);
	f->series = malloc((m->nseries ? m->nseries : 1) * sizeof *f->series);
	if (d->native)
		f->ranges = malloc((m->nseries ? m->nseries : 1) * sizeof *f->ranges);
	if (!f->name || !f->help || !f->buckets || !f->labels || !f->series ||
	    (d->native && !f->ranges))
		return -1;
	memcpy(f->buckets, d->buckets, d->nbuckets * sizeof(double));
	for (uint32_t j = 0; j < d->nlabels; j++, f->nlabels++)
		if (!(f->labels[j] = strdup(d->labels[j])))
			return -1;
	f->cap = m->nseries;
	for (uint32_t j = 0; j < m->nseries; j++) {
		uint32_t at = v->layout.sorted[m->first + j];
		const struct view_series *s = &v->sers[at];
		struct series_data *o = &f->series[f->nseries++];
		memcpy(*key, v->keys + s->key, s->keylen);
		o->key = *key;
		o->keylen = s->keylen;
		*key += s->keylen;
		o->cells = blk->data + s->out;
		o->created = d->type == PF_GAUGE ? 0 : s->created;
		o->exemplars = NULL;
		if (f->ranges)
			f->ranges[j] = v->layout.out_range[at];
		if (ex && d->type != PF_GAUGE) { /* the collection owns them now */
			o->exemplars = ex[at];
			ex[at] = NULL;
		}
	}
	return 0;
}

int collect(struct collection *c, const struct view *v, struct block *blk, struct exemplar **ex)
{
	memset(c, 0, sizeof *c);
	c->block = blk;
	c->recycle = recycle;
	if (!(c->families = calloc(v->nfams ? v->nfams : 1, sizeof *c->families)))
		return -1;
	c->cap = v->nfams;
	char *key = (char *)(blk->data + v->layout.ncells);
	for (uint32_t i = 0; i < v->nfams; i++)
		if (collect_family(&c->families[c->nfamilies++], v, &v->fams[v->layout.order[i]], blk,
		                   &key, ex) != 0)
			return -1;
	return 0;
}
