/* SPDX-License-Identifier: MIT */
/*
 * journal_pack.c — a one-shot process's totals (or its gauges, for its
 * marker) packed into one journal record, laid out as journal.h says, to
 * be written with one write(2).
 */
#include <stdlib.h>
#include <string.h>

#include "store/hash.h"
#include "store/journal.h"

static int wanted(const struct family_def *f, enum journal_part part)
{
	return part == JOURNAL_GAUGES ? f->type == PF_GAUGE : f->type != PF_GAUGE;
}

static size_t family_bytes(const struct family_def *f)
{
	size_t n = 8 + strlen(f->name) + strlen(f->help);
	for (uint32_t i = 0; i < f->nlabels; i++)
		n += 1 + strlen(f->labels[i]);
	return JOURNAL_PAD8(n) + f->nbuckets * sizeof(double) + (f->native ? 16 : 0);
}

static void put_bytes(unsigned char **p, const void *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

/* The exemplars a record carries: the current ones of its series. */
static const struct stage_exemplar *packed_exemplar(const struct stage_file *f, uint32_t i,
                                                    const int32_t *series_of)
{
	const struct stage_exemplar *e = &f->ex.e[i];
	if (e->sel < 1 || e->sel > 2 || e->slot >= STAGE_MAX_SLOTS || series_of[e->slot] < 0 ||
	    e->copy[e->sel - 1].len > MODEL_EXEMPLAR_BYTES)
		return NULL;
	return e;
}

/* The exemplar part (see the layout above) of the series packed
 * (series_of: file slot -> series in the record, or -1): its size, 0 if
 * there is none; with p, also written there. */
static size_t pack_exemplars(const struct stage_file *f, const int32_t *series_of,
                             unsigned char **p)
{
	uint32_t n = 0, nx = f->ex.n < STAGE_MAX_EXEMPLARS ? f->ex.n : STAGE_MAX_EXEMPLARS;
	size_t size = 8;
	unsigned char *count = p ? *p : NULL;
	if (p)
		*p += 8; /* the count, filled in below */
	for (uint32_t i = 0; i < nx; i++) {
		const struct stage_exemplar *e = packed_exemplar(f, i, series_of);
		if (!e)
			continue;
		const struct exemplar *x = &e->copy[e->sel - 1];
		size += 24 + JOURNAL_PAD8(x->len);
		n++;
		if (!p)
			continue;
		uint16_t head[2] = {(uint16_t)series_of[e->slot], (uint16_t)e->bucket};
		unsigned char *start = *p;
		put_bytes(p, head, 4);
		put_bytes(p, &x->len, 4);
		put_bytes(p, &x->value, 8);
		put_bytes(p, &x->timestamp, 8);
		put_bytes(p, x->labels, x->len);
		*p = start + 24 + JOURNAL_PAD8(x->len);
	}
	if (count)
		memcpy(count, &n, 4);
	return n ? size : 0; /* none: no part at all, the record as before exemplars */
}

/* What a record of f holds: which families (in record order) and series. */
struct pack_plan {
	int16_t index[STAGE_MAX_FAMILIES]; /* family in the file -> in the record, or -1 */
	int32_t *series_of;                /* slot in the file -> series in the record, or -1 */
	uint16_t nfamilies, nseries;
	size_t size, ex_size;
};

/* The first pass: what goes in and the record's size.  0, or -1. */
static int plan_record(const struct stage_file *f, enum journal_part part, struct pack_plan *p)
{
	uint32_t nf = f->hdr.nfamilies, ns = f->hdr.nslots;
	memset(p->index, -1, sizeof p->index);
	p->series_of = NULL;
	p->nfamilies = p->nseries = 0;
	p->size = JOURNAL_HEADER_BYTES;
	p->ex_size = 0;
	for (uint32_t i = 0; i < ns && i < STAGE_MAX_SLOTS; i++) {
		const struct stage_slot *s = &f->slots[i];
		/* the totals name the gauges' families too (no values): a family is
		 * in the store as soon as a process defined it, whatever its type */
		if (s->family >= nf || (part == JOURNAL_GAUGES && !wanted(&f->families[s->family], part)))
			continue;
		if (p->index[s->family] < 0) {
			p->index[s->family] = (int16_t)p->nfamilies++;
			p->size += family_bytes(&f->families[s->family]);
		}
		if (!wanted(&f->families[s->family], part))
			continue;
		p->size += 8 + JOURNAL_PAD8(s->keylen) + f->families[s->family].ncells * sizeof(double);
		p->nseries++;
	}
	if (part != JOURNAL_TOTALS || !f->ex.n)
		return 0;
	if (!(p->series_of = malloc(STAGE_MAX_SLOTS * sizeof *p->series_of)))
		return -1;
	int32_t next = 0;
	for (uint32_t i = 0; i < STAGE_MAX_SLOTS; i++)
		p->series_of[i] = i < ns && f->slots[i].family < nf &&
		                          wanted(&f->families[f->slots[i].family], part)
		                      ? next++
		                      : -1;
	p->size += p->ex_size = pack_exemplars(f, p->series_of, NULL);
	return 0;
}

static void pack_family(unsigned char **p, const struct family_def *d)
{
	unsigned char *start = *p;
	uint16_t nl = (uint16_t)strlen(d->name), hl = (uint16_t)strlen(d->help);
	unsigned char head[4] = {(unsigned char)d->type, (unsigned char)d->nlabels,
	                         (unsigned char)d->nbuckets, d->native ? 1 : 0};
	put_bytes(p, head, 4);
	put_bytes(p, &nl, 2);
	put_bytes(p, &hl, 2);
	put_bytes(p, d->name, nl);
	put_bytes(p, d->help, hl);
	for (uint32_t l = 0; l < d->nlabels; l++) {
		unsigned char ll = (unsigned char)strlen(d->labels[l]);
		put_bytes(p, &ll, 1);
		put_bytes(p, d->labels[l], ll);
	}
	*p = start + JOURNAL_PAD8((size_t)(*p - start));
	put_bytes(p, d->buckets, d->nbuckets * sizeof(double));
	if (d->native) {
		uint32_t zero = 0;
		put_bytes(p, &d->schema, 4);
		put_bytes(p, &zero, 4);
		put_bytes(p, &d->zero_threshold, 8);
	}
}

/* One series (fam: its family in the record); rec: the record's start,
 * which its cells are aligned to. */
static void pack_series(unsigned char **p, unsigned char *rec, const struct stage_file *f,
                        const struct stage_slot *s, uint16_t fam)
{
	uint16_t kl = (uint16_t)s->keylen;
	uint32_t zero = 0;
	put_bytes(p, &fam, 2);
	put_bytes(p, &kl, 2);
	put_bytes(p, &zero, 4);
	put_bytes(p, s->key, kl);
	*p = rec + JOURNAL_PAD8((size_t)(*p - rec));
	put_bytes(p, &f->cells[s->cell], f->families[s->family].ncells * sizeof(double));
}

int journal_pack(const struct stage_file *f, enum journal_part part, char **out, size_t *len)
{
	struct pack_plan plan;
	uint32_t nf = f->hdr.nfamilies, ns = f->hdr.nslots;
	if (plan_record(f, part, &plan) != 0)
		return -1;
	unsigned char *rec = calloc(1, plan.size), *p = rec + JOURNAL_HEADER_BYTES;
	if (!rec) {
		free(plan.series_of);
		return -1;
	}
	for (int16_t want = 0; want < (int16_t)plan.nfamilies; want++) /* in record order */
		for (uint32_t i = 0; i < nf; i++)
			if (plan.index[i] == want)
				pack_family(&p, &f->families[i]);
	for (uint32_t i = 0; i < ns && i < STAGE_MAX_SLOTS; i++) {
		const struct stage_slot *s = &f->slots[i];
		if (s->family < nf && plan.index[s->family] >= 0 && wanted(&f->families[s->family], part))
			pack_series(&p, rec, f, s, (uint16_t)plan.index[s->family]);
	}
	if (plan.ex_size)
		pack_exemplars(f, plan.series_of, &p);
	free(plan.series_of);
	uint32_t magic = JOURNAL_MAGIC, length = (uint32_t)plan.size;
	memcpy(rec, &magic, 4);
	memcpy(rec + 4, &length, 4);
	memcpy(rec + 12, &plan.nfamilies, 2);
	memcpy(rec + 14, &plan.nseries, 2);
	uint32_t check = hash_fnv1a(HASH_FNV_BASIS, rec + 12, plan.size - 12);
	memcpy(rec + 8, &check, 4);
	*out = (char *)rec;
	*len = plan.size;
	return 0;
}
