/* SPDX-License-Identifier: MIT */
/*
 * stage_old.c — reading a staging file of an earlier release's fixed
 * layout (stage_old.h: versions 1, 2 and 3): left by a worker killed before
 * an upgrade, or still written by a worker of the earlier release during
 * one.  Its families and slots are taken once, as this release's; its
 * cells and exemplars are copied whole under its seqlock, and a killed
 * writer's half-done change is replayed from its redo log, as that
 * release's reader did.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/stage.h"
#include "store/stage_old.h"
#include "store/stage_valid.h"

#define STAGE_READ_ATTEMPTS 2000

#define V2_FAMILIES (offsetof(struct stage_v3_header, log) + STAGE_V2_LOG * sizeof(struct stage_v3_log_entry))
#define V2_SLOTS (V2_FAMILIES + STAGE_V3_FAMILIES * STAGE_V2_FAMILY)
#define V2_CELLS (V2_SLOTS + STAGE_V3_SLOTS * sizeof(struct stage_v3_slot))
#define V2_EX (V2_CELLS + STAGE_V2_CELLS * sizeof(double))
_Static_assert(V2_FAMILIES == 608 && V2_SLOTS == 91744 && V2_CELLS == 1140320 &&
                   V2_EX == STAGE_V1_SIZE &&
                   V2_EX + sizeof(struct stage_v3_exemplars) == STAGE_V2_SIZE,
               "version 1 and 2 files are what those releases wrote");
_Static_assert(offsetof(struct stage_v3_file, ex) ==
                   offsetof(struct stage_v3_file, cells) + STAGE_V3_CELLS * sizeof(double),
               "exemplars follow the cells without padding");
_Static_assert(sizeof(struct stage_v3_file) == 4368488,
               "version 3 files are what release 0.3.0 wrote");
_Static_assert(offsetof(struct family_def, native) == STAGE_V2_FAMILY &&
                   sizeof(struct family_def) >= STAGE_V3_FAMILY,
               "a family of version 2 or 3 is a prefix of this release's definition");

static const struct stage_old_layout layouts[] = {
    {3, sizeof(struct stage_v3_file), offsetof(struct stage_v3_file, families), STAGE_V3_FAMILY,
     offsetof(struct stage_v3_file, slots), offsetof(struct stage_v3_file, cells),
     offsetof(struct stage_v3_file, ex), STAGE_V3_CELLS, STAGE_V3_LOG},
    {2, STAGE_V2_SIZE, V2_FAMILIES, STAGE_V2_FAMILY, V2_SLOTS, V2_CELLS, V2_EX, STAGE_V2_CELLS,
     STAGE_V2_LOG},
    {1, STAGE_V1_SIZE, V2_FAMILIES, STAGE_V2_FAMILY, V2_SLOTS, V2_CELLS, 0, STAGE_V2_CELLS,
     STAGE_V2_LOG},
};

const struct stage_old_layout *stage_old_layout(size_t size)
{
	for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
		if (layouts[i].size == size)
			return &layouts[i];
	return NULL;
}

static const struct stage_v3_header *header_of(const unsigned char *base)
{
	return (const struct stage_v3_header *)(const void *)base;
}

static const struct stage_v3_slot *slots_of(const struct stage_view *v)
{
	return (const struct stage_v3_slot *)(const void *)(v->base + v->old->slots);
}

static const double *cells_of(const struct stage_view *v)
{
	return (const double *)(const void *)(v->base + v->old->cells);
}

static const struct stage_v3_exemplars *exemplars_of(const struct stage_view *v)
{
	return v->old->ex ? (const struct stage_v3_exemplars *)(const void *)(v->base + v->old->ex)
	                  : NULL;
}

/* The published counts of one attempt. */
struct old_counts {
	uint32_t nfamilies, nslots, ncells, dropped, nexemplars, exemplars_dropped;
};

static void load_counts(const struct stage_view *v, struct old_counts *c)
{
	const struct stage_v3_header *h = header_of(v->base);
	const struct stage_v3_exemplars *x = exemplars_of(v);
	c->nexemplars = x ? atomic_load_explicit(&x->n, memory_order_acquire) : 0;
	c->nfamilies = atomic_load_explicit(&h->nfamilies, memory_order_acquire);
	c->nslots = atomic_load_explicit(&h->nslots, memory_order_acquire);
	c->ncells = atomic_load_explicit(&h->ncells, memory_order_acquire);
	c->dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
	c->exemplars_dropped = x ? atomic_load_explicit(&x->dropped, memory_order_relaxed) : 0;
}

/* Families and slots new since the last read (they never change once
 * published), each read once and checked: 0, -1, STAGE_INVALID.  The
 * snapshot shows them once a read succeeds (take). */
static int take_new(struct stage_view *v, const struct old_counts *c)
{
	struct stage_snapshot *snap = &v->snap;
	if (c->nfamilies > STAGE_V3_FAMILIES || c->nslots > STAGE_V3_SLOTS ||
	    c->ncells > v->old->max_cells || c->nexemplars > STAGE_V3_EXEMPLARS ||
	    c->nfamilies < v->took_families || c->nslots < v->took_slots || c->ncells < v->took_cells)
		return STAGE_INVALID;
	v->took_cells = c->ncells;
	if (array_grow32((void **)&snap->families, &snap->cap_families, c->nfamilies ? c->nfamilies : 1,
	                 sizeof *snap->families) ||
	    array_grow32((void **)&snap->slots, &snap->cap_slots, c->nslots ? c->nslots : 1,
	                 sizeof *snap->slots))
		return -1;
	for (uint32_t i = v->took_families; i < c->nfamilies; i++) {
		memset(&snap->families[i], 0, sizeof snap->families[i]);
		memcpy(&snap->families[i], v->base + v->old->families + i * v->old->family_size,
		       v->old->family_size);
		if (!stage_valid_family(&snap->families[i]))
			return STAGE_INVALID;
		v->took_families = i + 1;
	}
	for (uint32_t i = v->took_slots; i < c->nslots; i++) {
		struct stage_v3_slot r;
		memcpy(&r, &slots_of(v)[i], sizeof r);
		struct stage_slot *s = &snap->slots[i];
		s->family = r.family;
		s->cell = r.cell;
		s->keylen = r.keylen;
		s->created = r.created;
		if (r.keylen > STAGE_V3_KEY)
			return STAGE_INVALID;
		if (!(s->key = stage_keep_key(snap, r.key, r.keylen)))
			return -1;
		if (!stage_valid_slot(s, snap->families, v->took_families, c->ncells))
			return STAGE_INVALID;
		v->took_slots = i + 1;
	}
	return 0;
}

/* Copies one exemplar slot's current copy (sel read once; the spare copy
 * may be half written, and is nobody's business but the writer's). */
static void copy_exemplar(struct stage_exemplar *to, const struct stage_v3_exemplar *e)
{
	uint32_t sel = e->sel;
	to->slot = e->slot;
	to->bucket = e->bucket;
	to->sel = sel;
	if (sel == 1 || sel == 2) {
		const struct exemplar *x = &e->copy[sel - 1];
		to->x.value = x->value;
		to->x.timestamp = x->timestamp;
		to->x.len = x->len;
		memcpy(to->x.labels, x->labels, to->x.len <= MODEL_EXEMPLAR_BYTES ? to->x.len : 0);
	}
}

/* Replays the redo log of a change that a killed writer left half done;
 * entries that point nowhere are left out (the checks then judge). */
static void replay(const struct stage_view *v, double *cells, uint32_t ncells,
                   struct stage_exemplar *ex, uint32_t nex)
{
	const struct stage_v3_header *h = header_of(v->base);
	const struct stage_v3_exemplars *x = exemplars_of(v);
	uint32_t n = h->nlog < v->old->log_max ? h->nlog : v->old->log_max;
	for (uint32_t i = 0; i < n; i++) {
		struct stage_v3_log_entry e = h->log[i];
		if (e.kind == STAGE_V3_LOG_CELL && e.cell < ncells) {
			cells[e.cell] = e.value;
		} else if (e.kind == STAGE_V3_LOG_EXEMPLAR && x && e.cell < nex &&
		           (e.value == 1 || e.value == 2)) {
			struct stage_v3_exemplar one = x->e[e.cell];
			one.sel = (uint32_t)e.value;
			copy_exemplar(&ex[e.cell], &one);
		}
	}
}

/* Whether the copied exemplars are sound (sel 1 or 2 named a copy; none,
 * 0), made into this release's (sel: not 0 when there is one). */
static int check_exemplars(struct stage_view *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (v->old_ex[i].sel > 2)
			return 0;
		if (!stage_valid_exemplar(&v->old_ex[i], v->snap.families, v->snap.slots, v->took_slots))
			return 0;
	}
	return 1;
}

static void take(struct stage_view *v, const struct old_counts *c, uint64_t seq)
{
	struct stage_snapshot *snap = &v->snap;
	struct stage_exemplar *ex = snap->exemplars;
	uint32_t cap_ex = snap->cap_exemplars;
	snap->exemplars = v->old_ex;
	snap->cap_exemplars = v->cap_old_ex;
	v->old_ex = ex;
	v->cap_old_ex = cap_ex;
	double *cells = snap->cells;
	size_t cap = snap->cap_cells;
	snap->cells = v->scratch;
	snap->cap_cells = v->cap_scratch;
	v->scratch = cells;
	v->cap_scratch = cap;
	snap->ncells = c->ncells;
	snap->nfamilies = v->took_families;
	snap->nslots = v->took_slots;
	snap->dropped = c->dropped;
	snap->nexemplars = c->nexemplars;
	snap->exemplars_dropped = c->exemplars_dropped;
	snap->seq = seq + (seq & 1); /* a replayed change counts as committed */
}

int stage_old_read(struct stage_view *v, int live)
{
	const struct stage_v3_header *h = header_of(v->base);
	const struct stage_v3_exemplars *x = exemplars_of(v);
	for (int attempt = 0; attempt < STAGE_READ_ATTEMPTS; attempt++) {
		uint64_t s1 = atomic_load_explicit(&h->seq, memory_order_acquire);
		if ((s1 & 1) && live) {
			sched_yield();
			continue;
		}
		struct old_counts c;
		load_counts(v, &c);
		int rc = take_new(v, &c);
		if (rc != 0)
			return rc;
		if (array_grow((void **)&v->scratch, &v->cap_scratch, c.ncells ? c.ncells : 1,
		               sizeof(double)) ||
		    array_grow32((void **)&v->old_ex, &v->cap_old_ex, c.nexemplars ? c.nexemplars : 1,
		                 sizeof *v->old_ex))
			return -1;
		memcpy(v->scratch, cells_of(v), c.ncells * sizeof(double));
		for (uint32_t i = 0; i < c.nexemplars; i++)
			copy_exemplar(&v->old_ex[i], &x->e[i]);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&h->seq, memory_order_acquire) != s1)
			continue; /* a change committed meanwhile: copy again */
		if (s1 & 1) /* a killed writer's change: finish it in our copy */
			replay(v, v->scratch, c.ncells, v->old_ex, c.nexemplars);
		if (!check_exemplars(v, c.nexemplars))
			return STAGE_INVALID;
		take(v, &c, s1);
		return 0;
	}
	return -1;
}
