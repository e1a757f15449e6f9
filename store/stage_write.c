/* SPDX-License-Identifier: MIT */
/*
 * stage_write.c — recording into this process's own staging file: new
 * families, series and exemplar records published with release stores
 * (growing the file a chunk at a time when they need room), and changes
 * made atomic through the redo ring and the seqlock (stage_format.h).
 *
 * The writer is the one thread of one process.  Recording is a few stores
 * into shared pages: no system call, no lock, nothing that can block; only
 * a new series, family or exemplar that needs a new chunk makes one.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "store/stage.h"
#include "store/stage_internal.h"

static unsigned base_log2(const struct stage *s, enum stage_array a)
{
	return (unsigned)__builtin_ctz(s->h->arrays[a].base);
}

/* A change with no values still moves seq on, so readers notice new
 * families and series (folds skip incarnations whose seq is unchanged). */
static void stage_bump(struct stage *s)
{
	atomic_fetch_add_explicit(&s->h->seq, 2, memory_order_release);
}

static void publish(struct stage *s, enum stage_array a, uint64_t n)
{
	atomic_store_explicit(&s->h->count[a], n, memory_order_release);
}

/* Room for element i of array a: its chunk, and any before it, mapped.
 * 0, or -1 (errno). */
static int reserve(struct stage *s, enum stage_array a, uint64_t i)
{
	uint64_t off;
	unsigned k = stage_chunk_of(i, base_log2(s, a), &off);
	if (k >= STAGE_CHUNKS) {
		errno = EOVERFLOW;
		return -1;
	}
	if (s->chunk[a][k])
		return 0; /* chunks are made in order: those below it exist */
	for (unsigned j = 0; j <= k; j++)
		if (!s->chunk[a][j] && stage_grow(s, a, j) != 0)
			return -1;
	return 0;
}

/* Where n consecutive elements of array a go: at its count, or at the
 * next chunk's start if they would straddle a chunk's end there. */
static uint64_t place_run(const struct stage *s, enum stage_array a, uint64_t n)
{
	uint64_t at = stage_count(s, a), off;
	unsigned log2 = base_log2(s, a), k = stage_chunk_of(at, log2, &off);
	return n && off + n > stage_chunk_len(k, log2) ? stage_chunk_first(k + 1, log2) : at;
}

int stage_add_family(struct stage *s, const struct family_def *def)
{
	if (!s->h)
		return -1;
	uint64_t n = stage_count(s, STAGE_FAMILIES);
	if (n >= STAGE_FAMILIES_LIMIT) {
		errno = EOVERFLOW;
		return -1;
	}
	if (reserve(s, STAGE_FAMILIES, n) != 0)
		return -1;
	memcpy(stage_elem(s, STAGE_FAMILIES, n), def, sizeof *def);
	publish(s, STAGE_FAMILIES, n + 1);
	stage_bump(s);
	return (int)n;
}

long stage_add_slot(struct stage *s, uint32_t fam, const char *key, uint32_t keylen)
{
	if (!s->h)
		return -1;
	struct stage_header *h = s->h;
	const struct family_def *d = stage_family(s, fam);
	uint64_t n = stage_count(s, STAGE_SLOTS);
	uint64_t cell = place_run(s, STAGE_CELLS, d->ncells), at = place_run(s, STAGE_KEYS, keylen);
	if (n >= STAGE_SLOTS_LIMIT || keylen > PF_KEY_MAX)
		errno = EOVERFLOW;
	if (n >= STAGE_SLOTS_LIMIT || keylen > PF_KEY_MAX || reserve(s, STAGE_SLOTS, n) != 0 ||
	    reserve(s, STAGE_CELLS, cell + d->ncells - 1) != 0 ||
	    (keylen && reserve(s, STAGE_KEYS, at + keylen - 1) != 0)) {
		atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
		return -1;
	}
	/* a native part starts empty at its family's schema (cells past the
	 * count are zero, which is all any other series needs) */
	if (d->native)
		model_family_zero(d, stage_cell(s, cell));
	if (keylen)
		memcpy(stage_elem(s, STAGE_KEYS, at), key, keylen);
	struct stage_slot_rec *slot = stage_elem(s, STAGE_SLOTS, n);
	slot->family = fam;
	slot->keylen = keylen;
	slot->cell = cell;
	slot->key = at;
	slot->created = (uint32_t)time(NULL);
	/* cells and key first, then the slot: a reader that sees the slot sees them */
	publish(s, STAGE_CELLS, cell + d->ncells);
	publish(s, STAGE_KEYS, at + keylen);
	publish(s, STAGE_SLOTS, n + 1);
	stage_bump(s);
	return (long)n;
}

/* ---- the pending change --------------------------------------------------- */


/* The pending entry of a cell or exemplar record (mapped at at), added if
 * new (its value then what the cell or sel holds); NULL if the change is
 * full. */
static struct stage_log_entry *pending(struct stage *s, uint32_t array, uint64_t index, void *at)
{
	uint64_t target = STAGE_LOG_TARGET(array, index);
	for (uint32_t i = 1; i <= s->npending; i++)
		if (s->change[i].target == target)
			return &s->change[i];
	if (s->npending == STAGE_LOG_MAX)
		return NULL;
	struct stage_log_entry *e = &s->change[1 + s->npending];
	s->pending_at[s->npending++] = at;
	e->target = target;
	e->value = array == STAGE_CELLS ? *(double *)at : ((struct stage_ex_rec *)at)->sel;
	return e;
}

double stage_value_at(const struct stage *s, uint64_t cell, const double *at)
{
	uint64_t target = STAGE_LOG_TARGET(STAGE_CELLS, cell);
	for (uint32_t i = 1; i <= s->npending; i++)
		if (s->change[i].target == target)
			return s->change[i].value;
	return *at;
}

void stage_values(const struct stage *s, uint64_t first, uint32_t n, double *out)
{
	memcpy(out, stage_cell(s, first), n * sizeof *out); /* one series: one chunk */
	for (uint32_t i = 1; i <= s->npending; i++) {
		uint64_t t = s->change[i].target, c = STAGE_LOG_INDEX(t);
		if (STAGE_LOG_ARRAY(t) == STAGE_CELLS && c >= first && c - first < n)
			out[c - first] = s->change[i].value;
	}
}

uint32_t stage_room(const struct stage *s)
{
	return STAGE_LOG_MAX - s->npending;
}

int stage_add_at(struct stage *s, uint64_t cell, double *at, double delta)
{
	struct stage_log_entry *e = s->h ? pending(s, STAGE_CELLS, cell, at) : NULL;
	if (!e)
		return -1;
	e->value += delta;
	return 0;
}

int stage_assign_at(struct stage *s, uint64_t cell, double *at, double value)
{
	struct stage_log_entry *e = s->h ? pending(s, STAGE_CELLS, cell, at) : NULL;
	if (!e)
		return -1;
	e->value = value;
	return 0;
}

/* ---- exemplars ------------------------------------------------------------ */

static int pending_has(const struct stage *s, uint32_t array, uint64_t index)
{
	uint64_t target = STAGE_LOG_TARGET(array, index);
	for (uint32_t i = 1; i <= s->npending; i++)
		if (s->change[i].target == target)
			return 1;
	return 0;
}

static struct stage_ex_copy *ex_copy(struct stage_ex_rec *r, uint32_t which)
{
	return (struct stage_ex_copy *)(void *)((unsigned char *)(r + 1) +
	                                        which * (sizeof(struct stage_ex_copy) + r->cap));
}

/* A new exemplar record of class c for a series' bucket: its ref, or 0. */
static uint64_t new_record(struct stage *s, unsigned c, uint32_t slot, uint32_t bucket)
{
	enum stage_array a = (enum stage_array)(STAGE_EXEMPLARS + c);
	uint64_t n = stage_count(s, a);
	if (n >= UINT32_MAX || reserve(s, a, n) != 0)
		return 0;
	struct stage_ex_rec *r = stage_elem(s, a, n);
	r->slot = slot;
	r->bucket = bucket;
	r->sel = 0; /* none yet: readers skip it until a change makes one current */
	r->cap = STAGE_EX_LABELS(c);
	publish(s, a, n + 1);
	return STAGE_EX_REF(c, n);
}

/* The copy sel does not name is nobody's but the writer's: it is filled
 * with plain stores, and becomes current only when the change commits.  Two
 * exemplars of one record in one change write the same spare copy: the
 * later wins.  sel changes only in this process's commits, so reading it
 * is safe. */
int stage_exemplar(struct stage *s, uint64_t *ref, uint32_t slot, uint32_t bucket, double value,
                   double timestamp, const char *labels, uint32_t len)
{
	if (!s->h || len > STAGE_EX_LABELS(STAGE_EX_CLASSES - 1))
		return -1;
	unsigned c = 0;
	while (STAGE_EX_LABELS(c) < len)
		c++;
	uint64_t old = *ref, rec = old;
	int renew = !old || STAGE_EX_CLASS(old) < c;
	uint32_t old_array = old ? STAGE_EXEMPLARS + STAGE_EX_CLASS(old) : 0;
	/* room first: the new sel, and the old record's retirement */
	uint32_t need = renew ? 1u + (old && !pending_has(s, old_array, STAGE_EX_INDEX(old)))
	                      : !pending_has(s, old_array, STAGE_EX_INDEX(old));
	if (need > stage_room(s))
		return -1;
	if (renew && !(rec = new_record(s, c, slot, bucket))) {
		atomic_fetch_add_explicit(&s->h->exemplars_dropped, 1, memory_order_relaxed);
		return -1;
	}
	uint32_t array = STAGE_EXEMPLARS + STAGE_EX_CLASS(rec);
	struct stage_ex_rec *r = stage_elem(s, (enum stage_array)array, STAGE_EX_INDEX(rec));
	struct stage_log_entry *p = pending(s, array, STAGE_EX_INDEX(rec), r);
	if (p->value == r->sel) { /* not yet moved in this change */
		uint32_t next = r->sel + 1;
		p->value = next ? next : 2; /* 0 is "none"; the parity alternates */
	}
	struct stage_ex_copy *x = ex_copy(r, (uint32_t)p->value & 1);
	x->value = value;
	x->timestamp = timestamp;
	x->len = len;
	memcpy(x + 1, labels, len);
	if (renew && old) /* retired with this change */
		pending(s, old_array, STAGE_EX_INDEX(old),
		        stage_elem(s, (enum stage_array)old_array, STAGE_EX_INDEX(old)))
		    ->value = 0;
	*ref = rec;
	return 0;
}

/* ---- commits -------------------------------------------------------------- */

static void apply(struct stage *s, uint32_t i)
{
	if (STAGE_LOG_ARRAY(s->change[1 + i].target) == STAGE_CELLS)
		*(double *)s->pending_at[i] = s->change[1 + i].value;
	else
		((struct stage_ex_rec *)s->pending_at[i])->sel = (uint32_t)s->change[1 + i].value;
}

/* Appends the pending change to the ring (its header, then its entries)
 * and makes it the last commit: after this, a kill leaves it to replay
 * once seq is odd.  A change is a few entries: copied one by one (a call
 * to memcpy costs more), round the ring's end. */
static void append(struct stage *s, uint64_t seq_done)
{
	struct stage_header *h = s->h;
	struct stage_log_entry *log = h->log;
	uint64_t w = atomic_load_explicit(&h->written, memory_order_relaxed);
	uint32_t n = s->npending;
	s->change[0] = (struct stage_log_entry){STAGE_LOG_TARGET(STAGE_LOG_COMMIT, n), (double)seq_done};
	for (uint32_t i = 0; i <= n; i++) /* this process's own ring: STAGE_RING entries */
		log[(w + i) & (STAGE_RING - 1)] = s->change[i];
	h->last = w;
	atomic_store_explicit(&h->written, w + 1 + n, memory_order_release);
}

long stage_test_tear = -1;

void stage_commit(struct stage *s)
{
	if (!s->h || s->npending == 0)
		return;
	if (stage_test_tear >= 0) { /* a test's kill in the middle of this commit */
		uint32_t n = (uint32_t)stage_test_tear;
		stage_test_tear = -1;
		stage_commit_torn(s, n);
		s->npending = 0;
		return;
	}
	struct stage_header *h = s->h;
	uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
	append(s, seq + 2);
	atomic_store_explicit(&h->seq, seq + 1, memory_order_release); /* the ring's commit holds */
	atomic_thread_fence(memory_order_release);
	for (uint32_t i = 0; i < s->npending; i++)
		apply(s, i);
	atomic_store_explicit(&h->seq, seq + 2, memory_order_release);
	s->npending = 0;
}

/* Test hook: leaves the file as a kill after napply of the pending writes
 * would, to prove that readers replay the ring (tests/unit). */
void stage_commit_torn(struct stage *s, uint32_t napply)
{
	struct stage_header *h = s->h;
	uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
	append(s, seq + 2);
	atomic_store_explicit(&h->seq, seq + 1, memory_order_release);
	for (uint32_t i = 0; i < napply && i < s->npending; i++)
		apply(s, i);
}
