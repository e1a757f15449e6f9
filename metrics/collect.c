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
	struct block *b = malloc(sizeof *b + (bytes ? bytes : 1));
	if (b) {
		b->cap = bytes;
		b->home = spare;
	}
	return b;
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
	if (!f->name || !f->help || !f->buckets || !f->labels || !f->series)
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
