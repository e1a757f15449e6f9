/* SPDX-License-Identifier: MIT */
/*
 * journal_pack.c — a one-shot process's totals (or its gauges, for its
 * marker) packed into one journal record, laid out as journal.h says
 * (version 2), to be written with one write(2).  A native part goes out
 * sparse: its head and its non-empty buckets only (a request's one
 * observation: one bucket of 320).
 */
#include <errno.h>
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
	size_t n = 12 + strlen(f->name) + strlen(f->help);
	for (uint32_t i = 0; i < f->nlabels; i++)
		n += 1 + strlen(f->labels[i]);
	return JOURNAL_PAD8(n) + f->nbuckets * sizeof(double) + (f->native ? 8 + 16 : 0);
}

/* Cells of a series of f before its native part. */
static uint32_t classic_cells(const struct family_def *f)
{
	return f->native ? f->ncells - NATIVE_CELLS : f->ncells;
}

/* How many buckets of a native part are not empty. */
static uint32_t native_used(const double *native)
{
	uint32_t n = 0;
	for (uint32_t j = 0; j < 2 * NATIVE_BUCKETS; j++)
		n += native[NATIVE_POS + j] != 0;
	return n;
}

static size_t series_bytes(const struct stage *s, const struct stage_slot_rec *slot,
                           const struct family_def *f)
{
	size_t n = 8 + JOURNAL_PAD8(slot->keylen) + classic_cells(f) * sizeof(double);
	if (f->native) {
		uint32_t used = native_used(stage_cell(s, slot->cell) + classic_cells(f));
		n += NATIVE_POS * sizeof(double) + 8 + JOURNAL_PAD8(2 * used) + used * sizeof(double);
	}
	return n;
}

static void put_bytes(unsigned char **p, const void *s, size_t n)
{
	if (n)
		memcpy(*p, s, n);
	*p += n;
}

static void pad(unsigned char **p, unsigned char *rec)
{
	*p = rec + JOURNAL_PAD8((size_t)(*p - rec));
}

static const struct stage_ex_rec *ex_record(const struct stage *s, unsigned c, uint64_t i)
{
	return stage_elem(s, (enum stage_array)(STAGE_EXEMPLARS + c), i);
}

/* A record's current exemplar copy, or NULL if it has none (or is of a
 * series the record leaves out). */
static const struct stage_ex_copy *current(const struct stage_ex_rec *r, const int64_t *series_of,
                                           uint64_t nslots)
{
	if (!r->sel || r->slot >= nslots || series_of[r->slot] < 0)
		return NULL;
	const struct stage_ex_copy *x = (const struct stage_ex_copy *)(const void *)(
	    (const unsigned char *)(r + 1) + (r->sel & 1) * (sizeof *x + r->cap));
	return x->len <= r->cap ? x : NULL;
}

/* What a record of s holds: which families (in record order) and series. */
struct pack_plan {
	int64_t *index;     /* family in the file -> in the record, or -1 */
	int64_t *series_of; /* slot in the file -> series in the record, or -1 */
	uint32_t nfamilies, nseries, nexemplars;
	uint64_t size;
};

static void plan_free(struct pack_plan *p)
{
	free(p->index);
	free(p->series_of);
}

/* The first pass: what goes in and the record's size.  0, or -1. */
static int plan_record(const struct stage *s, enum journal_part part, struct pack_plan *p)
{
	uint64_t nf = stage_count(s, STAGE_FAMILIES), ns = stage_count(s, STAGE_SLOTS);
	memset(p, 0, sizeof *p);
	p->size = JOURNAL_HEADER_BYTES + 16;
	p->index = malloc((nf ? nf : 1) * sizeof *p->index);
	p->series_of = malloc((ns ? ns : 1) * sizeof *p->series_of);
	if (!p->index || !p->series_of)
		return -1;
	for (uint64_t i = 0; i < nf; i++)
		p->index[i] = -1;
	for (uint64_t i = 0; i < ns; i++) {
		const struct stage_slot_rec *slot = stage_slot(s, i);
		const struct family_def *f = stage_family(s, slot->family);
		p->series_of[i] = -1;
		/* the totals name the gauges' families too (no values): a family is
		 * in the store as soon as a process defined it, whatever its type */
		if (part == JOURNAL_GAUGES && !wanted(f, part))
			continue;
		if (p->index[slot->family] < 0) {
			p->index[slot->family] = p->nfamilies++;
			p->size += family_bytes(f);
		}
		if (!wanted(f, part))
			continue;
		p->size += series_bytes(s, slot, f);
		p->series_of[i] = p->nseries++;
	}
	for (unsigned c = 0; part == JOURNAL_TOTALS && c < STAGE_EX_CLASSES; c++)
		for (uint64_t i = 0; i < stage_count(s, (enum stage_array)(STAGE_EXEMPLARS + c)); i++) {
			const struct stage_ex_copy *x = current(ex_record(s, c, i), p->series_of, ns);
			if (x) {
				p->size += 32 + JOURNAL_PAD8(x->len);
				p->nexemplars++;
			}
		}
	if (p->size > UINT32_MAX) {
		errno = EFBIG;
		return -1;
	}
	return 0;
}

static void pack_family(unsigned char **p, unsigned char *rec, const struct family_def *d)
{
	unsigned char *start = *p;
	uint32_t bytes = (uint32_t)family_bytes(d);
	uint16_t nl = (uint16_t)strlen(d->name), hl = (uint16_t)strlen(d->help);
	unsigned char head[4] = {(unsigned char)d->type, (unsigned char)d->nlabels,
	                         (unsigned char)d->nbuckets, 0};
	put_bytes(p, &bytes, 4);
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
	pad(p, rec);
	put_bytes(p, d->buckets, d->nbuckets * sizeof(double));
	if (d->native) {
		uint16_t tag[2] = {JOURNAL_TAG_NATIVE, 16};
		uint32_t zero = 0;
		put_bytes(p, tag, 4);
		put_bytes(p, &zero, 4);
		put_bytes(p, &d->schema, 4);
		put_bytes(p, &zero, 4);
		put_bytes(p, &d->zero_threshold, 8);
	}
	*p = start + bytes;
}

/* One series (fam: its family in the record). */
static void pack_series(unsigned char **p, unsigned char *rec, const struct stage *s,
                        const struct stage_slot_rec *slot, uint32_t fam)
{
	const struct family_def *f = stage_family(s, slot->family);
	const double *cells = stage_cell(s, slot->cell);
	uint32_t zero = 0, classic = classic_cells(f);
	put_bytes(p, &fam, 4);
	put_bytes(p, &slot->keylen, 4);
	put_bytes(p, stage_key(s, slot), slot->keylen);
	pad(p, rec);
	put_bytes(p, cells, classic * sizeof(double));
	if (!f->native)
		return;
	const double *native = cells + classic;
	uint32_t used = native_used(native);
	put_bytes(p, native, NATIVE_POS * sizeof(double));
	put_bytes(p, &used, 4);
	put_bytes(p, &zero, 4);
	unsigned char *at = *p, *counts = rec + JOURNAL_PAD8((size_t)(at + 2 * used - rec));
	for (uint16_t j = 0; j < 2 * NATIVE_BUCKETS; j++)
		if (native[NATIVE_POS + j] != 0) {
			memcpy(at, &j, 2);
			memcpy(counts, &native[NATIVE_POS + j], 8);
			at += 2;
			counts += 8;
		}
	*p = counts;
}

static void pack_exemplars(unsigned char **p, unsigned char *rec, const struct stage *s,
                           const struct pack_plan *plan)
{
	uint64_t ns = stage_count(s, STAGE_SLOTS);
	for (unsigned c = 0; c < STAGE_EX_CLASSES; c++)
		for (uint64_t i = 0; i < stage_count(s, (enum stage_array)(STAGE_EXEMPLARS + c)); i++) {
			const struct stage_ex_rec *r = ex_record(s, c, i);
			const struct stage_ex_copy *x = current(r, plan->series_of, ns);
			if (!x)
				continue;
			uint32_t head[4] = {(uint32_t)plan->series_of[r->slot], r->bucket, x->len, 0};
			put_bytes(p, head, 16);
			put_bytes(p, &x->value, 8);
			put_bytes(p, &x->timestamp, 8);
			put_bytes(p, x + 1, x->len);
			pad(p, rec);
		}
}

int journal_pack(const struct stage *s, enum journal_part part, char **out, size_t *len)
{
	struct pack_plan plan;
	if (plan_record(s, part, &plan) != 0) {
		plan_free(&plan);
		return -1;
	}
	unsigned char *rec = calloc(1, plan.size), *p = rec + JOURNAL_HEADER_BYTES + 16;
	if (!rec) {
		plan_free(&plan);
		return -1;
	}
	uint64_t nf = stage_count(s, STAGE_FAMILIES), ns = stage_count(s, STAGE_SLOTS);
	/* in record order: a family is numbered by its first series */
	for (uint64_t i = 0, next = 0; i < ns; i++) {
		const struct stage_slot_rec *slot = stage_slot(s, i);
		if (slot->family < nf && plan.index[slot->family] == (int64_t)next) {
			pack_family(&p, rec, stage_family(s, slot->family));
			next++;
		}
	}
	for (uint64_t i = 0; i < ns; i++)
		if (plan.series_of[i] >= 0) {
			const struct stage_slot_rec *slot = stage_slot(s, i);
			pack_series(&p, rec, s, slot, (uint32_t)plan.index[slot->family]);
		}
	if (plan.nexemplars)
		pack_exemplars(&p, rec, s, &plan);
	plan_free(&plan);
	uint32_t head[8] = {JOURNAL_MAGIC, (uint32_t)plan.size, 0, 0, plan.nfamilies, plan.nseries,
	                    plan.nexemplars, 0};
	memcpy(rec, head, sizeof head);
	uint32_t check = journal_check(rec, plan.size);
	memcpy(rec + 8, &check, 4);
	*out = (char *)rec;
	*len = plan.size;
	return 0;
}
