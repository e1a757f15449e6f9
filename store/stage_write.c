/* SPDX-License-Identifier: MIT */
/*
 * stage_write.c — recording into this process's own staging file: new
 * families and series published with release stores, and changes made
 * atomic through the redo log and the seqlock (stage.h: "Publication").
 *
 * The writer is the one thread of one process.  Recording is a few stores
 * into shared pages: no system call, no lock, nothing that can block.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "store/stage.h"

/* A change with no values still moves seq on, so readers notice new
 * families and series (folds skip incarnations whose seq is unchanged). */
static void stage_bump(struct stage *s)
{
	atomic_fetch_add_explicit(&s->f->hdr.seq, 2, memory_order_release);
}

int stage_add_family(struct stage *s, const struct family_def *def)
{
	if (!s->f)
		return -1;
	uint32_t n = atomic_load_explicit(&s->f->hdr.nfamilies, memory_order_relaxed);
	if (n >= STAGE_MAX_FAMILIES)
		return -1;
	s->f->families[n] = *def;
	atomic_store_explicit(&s->f->hdr.nfamilies, n + 1, memory_order_release);
	stage_bump(s);
	return (int)n;
}

int stage_add_slot(struct stage *s, uint32_t fam, const char *key, uint32_t keylen)
{
	if (!s->f)
		return -1;
	struct stage_header *h = &s->f->hdr;
	uint32_t n = atomic_load_explicit(&h->nslots, memory_order_relaxed);
	uint32_t cell = atomic_load_explicit(&h->ncells, memory_order_relaxed);
	uint32_t need = s->f->families[fam].ncells;
	if (n >= STAGE_MAX_SLOTS || need > STAGE_MAX_CELLS - cell || keylen > PF_KEY_MAX) {
		atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
		return -1;
	}
	/* a native part starts empty at its family's schema (the cells of a
	 * file are zero, which is all any other series needs) */
	if (s->f->families[fam].native)
		model_family_zero(&s->f->families[fam], &s->f->cells[cell]);
	struct stage_slot *slot = &s->f->slots[n];
	slot->family = fam;
	slot->cell = cell;
	slot->keylen = keylen;
	slot->created = (uint32_t)time(NULL);
	memcpy(slot->key, key, keylen);
	/* cells first, then the slot: a reader that sees the slot sees its cells */
	atomic_store_explicit(&h->ncells, cell + need, memory_order_release);
	atomic_store_explicit(&h->nslots, n + 1, memory_order_release);
	stage_bump(s);
	return (int)n;
}

static struct stage_log_entry *stage_pending(struct stage *s, uint32_t kind, uint32_t cell)
{
	for (uint32_t i = 0; i < s->npending; i++)
		if (s->pending[i].cell == cell && s->pending[i].kind == kind)
			return &s->pending[i];
	if (s->npending == STAGE_LOG_MAX)
		return NULL;
	struct stage_log_entry *e = &s->pending[s->npending++];
	e->cell = cell;
	e->kind = kind;
	e->value = kind == STAGE_LOG_CELL ? s->f->cells[cell] : s->f->ex.e[cell].sel;
	return e;
}

double stage_value(const struct stage *s, uint32_t cell)
{
	for (uint32_t i = 0; i < s->npending; i++)
		if (s->pending[i].cell == cell && s->pending[i].kind == STAGE_LOG_CELL)
			return s->pending[i].value;
	return s->f->cells[cell];
}

void stage_values(const struct stage *s, uint32_t first, uint32_t n, double *out)
{
	memcpy(out, &s->f->cells[first], n * sizeof *out);
	for (uint32_t i = 0; i < s->npending; i++)
		if (s->pending[i].kind == STAGE_LOG_CELL && s->pending[i].cell >= first &&
		    s->pending[i].cell - first < n)
			out[s->pending[i].cell - first] = s->pending[i].value;
}

uint32_t stage_room(const struct stage *s)
{
	return STAGE_LOG_MAX - s->npending;
}

int stage_add(struct stage *s, uint32_t cell, double delta)
{
	struct stage_log_entry *e = s->f ? stage_pending(s, STAGE_LOG_CELL, cell) : NULL;
	if (!e)
		return -1;
	e->value += delta;
	return 0;
}

int stage_assign(struct stage *s, uint32_t cell, double value)
{
	struct stage_log_entry *e = s->f ? stage_pending(s, STAGE_LOG_CELL, cell) : NULL;
	if (!e)
		return -1;
	e->value = value;
	return 0;
}

/* A slot is taken once per series' bucket and never given back; until its
 * first commit its sel is 0, which readers take as no exemplar. */
int stage_add_exemplar(struct stage *s, uint32_t slot, uint32_t bucket)
{
	if (!s->f)
		return -1;
	struct stage_exemplars *x = &s->f->ex;
	uint32_t n = atomic_load_explicit(&x->n, memory_order_relaxed);
	if (n >= STAGE_MAX_EXEMPLARS) {
		atomic_fetch_add_explicit(&x->dropped, 1, memory_order_relaxed);
		return -1;
	}
	x->e[n].slot = slot;
	x->e[n].bucket = bucket;
	x->e[n].sel = 0;
	atomic_store_explicit(&x->n, n + 1, memory_order_release);
	return (int)n;
}

/* The copy sel does not name is nobody's but the writer's: it is filled
 * with plain stores, and becomes current only when the change commits.  Two
 * exemplars of one slot in one change write the same spare copy: the later
 * wins.  sel changes only in this process's commits, so reading it is safe. */
int stage_exemplar(struct stage *s, uint32_t index, double value, double timestamp,
                   const char *labels, uint32_t len)
{
	if (!s->f || index >= STAGE_MAX_EXEMPLARS || len > MODEL_EXEMPLAR_BYTES)
		return -1;
	struct stage_exemplar *e = &s->f->ex.e[index];
	uint32_t next = e->sel == 1 ? 2 : 1;
	struct stage_log_entry *p = stage_pending(s, STAGE_LOG_EXEMPLAR, index);
	if (!p)
		return -1;
	struct exemplar *c = &e->copy[next - 1];
	c->value = value;
	c->timestamp = timestamp;
	c->len = len;
	memcpy(c->labels, labels, len);
	p->value = next;
	return 0;
}

static void stage_apply(struct stage_file *f, const struct stage_log_entry *e)
{
	if (e->kind == STAGE_LOG_EXEMPLAR)
		f->ex.e[e->cell].sel = (uint32_t)e->value;
	else
		f->cells[e->cell] = e->value;
}

long stage_test_tear = -1;

void stage_commit(struct stage *s)
{
	if (!s->f || s->npending == 0)
		return;
	if (stage_test_tear >= 0) { /* a test's kill in the middle of this commit */
		uint32_t n = (uint32_t)stage_test_tear;
		stage_test_tear = -1;
		stage_commit_torn(s, n);
		s->npending = 0;
		return;
	}
	struct stage_header *h = &s->f->hdr;
	memcpy(h->log, s->pending, s->npending * sizeof s->pending[0]);
	h->nlog = s->npending;
	uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
	atomic_store_explicit(&h->seq, seq + 1, memory_order_release); /* log valid */
	atomic_thread_fence(memory_order_release);
	for (uint32_t i = 0; i < s->npending; i++)
		stage_apply(s->f, &s->pending[i]);
	atomic_store_explicit(&h->seq, seq + 2, memory_order_release);
	s->npending = 0;
}

/* Test hook: leaves the file as a kill after napply of the pending cell
 * writes would, to prove that readers replay the log (tests/unit). */
void stage_commit_torn(struct stage *s, uint32_t napply)
{
	struct stage_header *h = &s->f->hdr;
	memcpy(h->log, s->pending, s->npending * sizeof s->pending[0]);
	h->nlog = s->npending;
	atomic_fetch_add_explicit(&h->seq, 1, memory_order_release);
	for (uint32_t i = 0; i < napply && i < s->npending; i++)
		stage_apply(s->f, &s->pending[i]);
}
