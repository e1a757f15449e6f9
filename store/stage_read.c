/* SPDX-License-Identifier: MIT */
/*
 * stage_read.c — reading another process's staging file (stage_format.h):
 * mapped read-only once, mapped further as it grows, and copied whenever it
 * is read again; a killed writer's half-done change replayed from its redo
 * ring, and everything new checked (stage_valid.c) before it is used.  A
 * file of an earlier release's layout goes to stage_old.c.
 *
 * What a read copies.  Families, slots and keys never change once
 * published, so each is copied (and checked) once, when first seen.  The
 * cells are copied whole at every read; an exemplar record only when its
 * selector moved (stage_format.h: sel only goes up).
 *
 * A consistent copy, without waiting for a quiet moment.  A reader notes
 * `written` (redo entries ever appended) and seq, copies, then notes
 * `written` again: the commits in between may have changed cells during
 * the copy, and their entries hold the new values, so applying them in
 * order gives exactly the state after the last one (every commit changes
 * cells only through entries appended before its seq turns odd, so no
 * change escapes the range).  The snapshot is labelled with the seq seen
 * first: it holds everything published up to it, and maybe more (db_fold
 * and merge.c only ever need "at least").  The ring holds STAGE_RING
 * entries: a reader whose copy outlasted more commits than that (or that
 * found seq odd: a commit in progress before it began) copies again.  It
 * gives up after STAGE_READ_ATTEMPTS tries, yielding the CPU each time: a
 * writer whose change stays open that long is not running (stopped by a
 * signal or a debugger), and a scrape must not wait on it: the last
 * consistent copy is kept, and the next scrape reads again.  A writer that
 * is dead (the caller says: `live`) holds its change forever; the ring's
 * last commit finishes it in the copy, so its file is read at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/buf.h"
#include "store/path.h"
#include "store/stage.h"
#include "store/stage_old.h"
#include "store/stage_valid.h"

#define STAGE_READ_ATTEMPTS 2000

static const struct stage_header *header_of(const unsigned char *base)
{
	return (const struct stage_header *)(const void *)base;
}

/* ---- opening ---------------------------------------------------------------- */

/* Whether a version 4 header is one this release can read: its arrays of
 * the element sizes it knows (a family record of at least the classic
 * definition), chunk 0 of each a power of two, a ring that holds a
 * commit twice over. */
static int header_sound(const struct stage_header *h, size_t size, unsigned *log2)
{
	if (h->magic != STAGE_MAGIC || h->version != STAGE_VERSION || h->ring == 0 ||
	    (h->ring & (h->ring - 1)) || h->ring > (1u << 24) || h->log_max == 0 ||
	    h->log_max > h->ring / 2 || h->header_bytes < stage_header_size(h->ring) ||
	    h->header_bytes > size)
		return 0;
	for (int a = 0; a < STAGE_ARRAYS; a++) {
		uint32_t e = h->arrays[a].elem_bytes, b = h->arrays[a].base;
		size_t want = a == STAGE_SLOTS ? sizeof(struct stage_slot_rec)
		              : a == STAGE_CELLS ? sizeof(double)
		              : a == STAGE_KEYS  ? 1
		              : a >= STAGE_EXEMPLARS
		                  ? STAGE_EX_BYTES(STAGE_EX_LABELS(a - STAGE_EXEMPLARS))
		                  : 0;
		if (b == 0 || (b & (b - 1)) || b > (1u << 24) ||
		    (a == STAGE_FAMILIES ? e < offsetof(struct family_def, native) || e > 65536
		                         : e != want))
			return 0;
		log2[a] = (unsigned)__builtin_ctz(b);
	}
	return 1;
}

/* The file's path, name (its incarnation's identity in the store) and
 * process (the same fields in every version's header). */
static int stage_identify(const unsigned char *base, const char *path,
                          struct stage_snapshot *snap)
{
	const struct stage_header *h = header_of(base);
	if (path_format(snap->path, "%s", path) != 0 || path_name(snap->name, path) != 0)
		return -1;
	snap->pid = h->pid;
	snap->start_time = h->start_time;
	memcpy(snap->boot_id, h->boot_id, sizeof snap->boot_id);
	snap->boot_id[sizeof snap->boot_id - 1] = '\0';
	return 0;
}

int stage_view_open(const char *path, struct stage_view *v)
{
	memset(v, 0, sizeof *v);
	v->fd = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	uint32_t head[2];
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof head ||
	    pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head) {
		close(fd);
		return -1;
	}
	if (head[0] != STAGE_MAGIC || (head[1] != STAGE_VERSION &&
	                               !((v->old = stage_old_layout((size_t)st.st_size)) &&
	                                 v->old->version == head[1]))) {
		close(fd);
		return STAGE_INVALID; /* not a staging file of a layout this release reads */
	}
	if (!v->old && (size_t)st.st_size < sizeof(struct stage_header)) {
		close(fd);
		return STAGE_INVALID;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -1;
	}
	v->base = p;
	v->size = (size_t)st.st_size;
	v->dev = st.st_dev;
	v->ino = st.st_ino;
	if (v->old) {
		close(fd); /* an old file never grows */
	} else {
		v->fd = fd;
		if (!header_sound(header_of(v->base), v->size, v->base_log2)) {
			stage_view_close(v);
			return STAGE_INVALID;
		}
	}
	if (stage_identify(v->base, path, &v->snap) != 0) {
		stage_view_close(v);
		return -1;
	}
	return 0;
}

int stage_view_closing(const struct stage_view *v)
{
	return v->base &&
	       atomic_load_explicit(&header_of(v->base)->closing, memory_order_seq_cst) != 0;
}

void stage_view_close(struct stage_view *v)
{
	if (v->base)
		munmap((void *)v->base, v->size);
	if (v->fd >= 0)
		close(v->fd);
	stage_snapshot_free(&v->snap);
	free(v->scratch);
	for (int c = 0; c < STAGE_EX_CLASSES; c++)
		free(v->ex_at[c]);
	free(v->ex_dirty);
	free(v->old_ex);
	memset(v, 0, sizeof *v);
	v->fd = -1;
}

/* ---- the chunks ------------------------------------------------------------- */

/* The published counts of one attempt. */
struct stage_counts {
	uint64_t n[STAGE_ARRAYS];
	uint32_t dropped, exemplars_dropped;
};

static void load_counts(const struct stage_header *h, struct stage_counts *c)
{
	/* each thing is published after what it refers to: exemplar records
	 * after their series, series after their family, cells and keys; so
	 * the counts are loaded in that order, each at least as new as what
	 * the ones before refer to */
	for (int a = STAGE_EXEMPLARS; a < STAGE_ARRAYS; a++)
		c->n[a] = atomic_load_explicit(&h->count[a], memory_order_acquire);
	c->n[STAGE_SLOTS] = atomic_load_explicit(&h->count[STAGE_SLOTS], memory_order_acquire);
	c->n[STAGE_FAMILIES] = atomic_load_explicit(&h->count[STAGE_FAMILIES], memory_order_acquire);
	c->n[STAGE_CELLS] = atomic_load_explicit(&h->count[STAGE_CELLS], memory_order_acquire);
	c->n[STAGE_KEYS] = atomic_load_explicit(&h->count[STAGE_KEYS], memory_order_acquire);
	c->dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
	c->exemplars_dropped = atomic_load_explicit(&h->exemplars_dropped, memory_order_relaxed);
}

/* Maps the file further if it grew past what is mapped: 0, -1, or
 * STAGE_INVALID if the file is shorter than end (the writer names a
 * chunk only once it exists: only damage does that). */
static int map_to(struct stage_view *v, uint64_t end)
{
	struct stat st;
	if (end <= v->size)
		return 0;
	if (fstat(v->fd, &st) != 0)
		return -1;
	if ((uint64_t)st.st_size < end)
		return STAGE_INVALID;
	void *p = mremap((void *)v->base, v->size, (size_t)st.st_size, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -1;
	v->base = p;
	v->size = (size_t)st.st_size;
	return 0;
}

/* Checks and maps every chunk that elements [0, n) of each array lie in:
 * 0; STAGE_INVALID if a count needs a chunk the table does not name, or
 * one that is not inside the file; -1 if the file cannot be mapped further. */
static int map_chunks(struct stage_view *v, const struct stage_counts *c)
{
	const struct stage_header *h = header_of(v->base);
	uint64_t end = 0, found[STAGE_ARRAYS][STAGE_CHUNKS];
	memcpy(found, v->off, sizeof found);
	for (int a = 0; a < STAGE_ARRAYS; a++) {
		unsigned log2 = v->base_log2[a];
		if (stage_chunks_for(c->n[a], log2) > STAGE_CHUNKS)
			return STAGE_INVALID;
		for (unsigned k = 0; k < stage_chunks_for(c->n[a], log2); k++) {
			if (found[a][k])
				continue;
			uint64_t at = atomic_load_explicit(&h->chunk[a][k], memory_order_acquire), bytes,
			         stop;
			if (at < h->header_bytes || at % 8 ||
			    __builtin_mul_overflow(stage_chunk_len(k, log2), (uint64_t)h->arrays[a].elem_bytes,
			                           &bytes) ||
			    __builtin_add_overflow(at, bytes, &stop) || stop > (uint64_t)SIZE_MAX / 2)
				return STAGE_INVALID;
			if (stop > end)
				end = stop;
			found[a][k] = at;
		}
	}
	int rc = map_to(v, end);
	if (rc == 0)
		memcpy(v->off, found, sizeof found);
	return rc;
}

/* Element i of array a (its chunk mapped: map_chunks). */
static const unsigned char *elem(const struct stage_view *v, enum stage_array a, uint64_t i)
{
	uint64_t off;
	unsigned k = stage_chunk_of(i, v->base_log2[a], &off);
	return v->base + v->off[a][k] + off * header_of(v->base)->arrays[a].elem_bytes;
}

/* Whether run [i, i + n) of array a lies in one chunk. */
static int one_chunk(const struct stage_view *v, enum stage_array a, uint64_t i, uint64_t n)
{
	uint64_t off;
	unsigned k = stage_chunk_of(i, v->base_log2[a], &off);
	return n <= stage_chunk_len(k, v->base_log2[a]) - off;
}

/* ---- what never changes: families, slots, keys ------------------------------ */

/* Families [took, n): a record smaller than this build's definition reads
 * as if its missing fields were 0; a larger one must have 0 in the fields
 * this build does not know (their meaning is "as before"). */
static int take_families(struct stage_view *v, uint64_t n)
{
	struct stage_snapshot *snap = &v->snap;
	uint32_t rec = header_of(v->base)->arrays[STAGE_FAMILIES].elem_bytes;
	size_t known = rec < sizeof(struct family_def) ? rec : sizeof(struct family_def);
	if (n > STAGE_FAMILIES_LIMIT)
		return STAGE_INVALID;
	if (array_grow32((void **)&snap->families, &snap->cap_families, n ? n : 1,
	                 sizeof *snap->families))
		return -1;
	for (uint32_t i = v->took_families; i < n; i++) {
		const unsigned char *p = elem(v, STAGE_FAMILIES, i);
		struct family_def *d = &snap->families[i];
		memset(d, 0, sizeof *d);
		memcpy(d, p, known);
		for (size_t b = known; b < rec; b++)
			if (p[b])
				return STAGE_INVALID;
		if (!stage_valid_family(d))
			return STAGE_INVALID;
		v->took_families = i + 1;
	}
	return 0;
}

/* Slots [took, c.slots) and their keys, each read once from the file (a
 * writer that rewrote one meanwhile cannot make it pass a check and then
 * differ), then checked. */
static int take_slots(struct stage_view *v, const struct stage_counts *c)
{
	struct stage_snapshot *snap = &v->snap;
	uint64_t n = c->n[STAGE_SLOTS];
	if (n > STAGE_SLOTS_LIMIT)
		return STAGE_INVALID;
	if (array_grow32((void **)&snap->slots, &snap->cap_slots, n ? n : 1, sizeof *snap->slots))
		return -1;
	for (uint32_t i = v->took_slots; i < n; i++) {
		struct stage_slot_rec r;
		memcpy(&r, elem(v, STAGE_SLOTS, i), sizeof r);
		struct stage_slot *s = &snap->slots[i];
		s->family = r.family;
		s->keylen = r.keylen;
		s->cell = r.cell;
		s->created = r.created;
		if (r.keylen > PF_KEY_MAX || r.key > c->n[STAGE_KEYS] ||
		    r.keylen > c->n[STAGE_KEYS] - r.key ||
		    (r.keylen && !one_chunk(v, STAGE_KEYS, r.key, r.keylen)))
			return STAGE_INVALID;
		if (!(s->key = stage_keep_key(snap, r.keylen ? (const char *)elem(v, STAGE_KEYS, r.key) : "",
		                              r.keylen)))
			return -1;
		if (!stage_valid_slot(s, snap->families, v->took_families, c->n[STAGE_CELLS]))
			return STAGE_INVALID;
		v->took_slots = i + 1;
	}
	return 0;
}

/* ---- what changes: cells, exemplars ----------------------------------------- */

/* Cells [from, n) into to. */
static void copy_cells(const struct stage_view *v, double *to, uint64_t from, uint64_t n)
{
	unsigned log2 = v->base_log2[STAGE_CELLS];
	for (unsigned k = 0; k < stage_chunks_for(n, log2); k++) {
		uint64_t first = stage_chunk_first(k, log2), len = stage_chunk_len(k, log2);
		if (first + len <= from)
			continue;
		uint64_t at = first > from ? first : from;
		if (first + len > n)
			len = n - first;
		memcpy(to + at, v->base + v->off[STAGE_CELLS][k] + (at - first) * sizeof *to,
		       (first + len - at) * sizeof *to);
	}
}

static const struct stage_ex_rec *ex_record(const struct stage_view *v, unsigned c, uint64_t i)
{
	return (const struct stage_ex_rec *)(const void *)elem(v, (enum stage_array)(STAGE_EXEMPLARS + c), i);
}

/* Copies copy[sel & 1] of record r into snapshot exemplar at (sel not 0). */
static void copy_exemplar(struct stage_view *v, uint32_t at, const struct stage_ex_rec *r,
                          uint32_t sel)
{
	struct stage_exemplar *e = &v->snap.exemplars[at];
	e->sel = sel;
	v->ex_dirty[at] = 1;
	if (!sel)
		return;
	const struct stage_ex_copy *x = (const struct stage_ex_copy *)(const void *)(
	    (const unsigned char *)(r + 1) + (sel & 1) * (sizeof *x + r->cap));
	uint32_t len = x->len;
	e->x.value = x->value;
	e->x.timestamp = x->timestamp;
	/* a length past the record reads as one past any: stage_valid_exemplar refuses it */
	e->x.len = len <= r->cap ? len : UINT32_MAX;
	memcpy(e->x.labels, x + 1, len <= r->cap ? len : 0);
}

/* New exemplar records become snapshot exemplars (their series and
 * bucket never change); then every record whose sel differs from the
 * snapshot's is copied.  0, -1 out of memory, STAGE_INVALID. */
static int copy_exemplars(struct stage_view *v, const struct stage_counts *c)
{
	struct stage_snapshot *snap = &v->snap;
	for (unsigned k = 0; k < STAGE_EX_CLASSES; k++) {
		uint64_t n = c->n[STAGE_EXEMPLARS + k];
		if (n > UINT32_MAX / 4 || v->took_exemplars + (n - v->ex_known[k]) > UINT32_MAX / 4)
			return STAGE_INVALID;
		uint32_t total = v->took_exemplars + (uint32_t)(n - v->ex_known[k]);
		if (n > v->ex_known[k] &&
		    (array_grow32((void **)&v->ex_at[k], &v->cap_ex_at[k], n, sizeof *v->ex_at[k]) ||
		     array_grow32((void **)&snap->exemplars, &snap->cap_exemplars, total,
		                  sizeof *snap->exemplars) ||
		     array_grow32((void **)&v->ex_dirty, &v->cap_ex_dirty, total, 1)))
			return -1;
		for (uint32_t i = v->ex_known[k]; i < n; i++) {
			const struct stage_ex_rec *r = ex_record(v, k, i);
			if (r->cap != STAGE_EX_LABELS(k))
				return STAGE_INVALID;
			struct stage_exemplar *e = &snap->exemplars[v->took_exemplars];
			memset(e, 0, offsetof(struct stage_exemplar, x) + offsetof(struct exemplar, labels));
			e->slot = r->slot;
			e->bucket = r->bucket;
			v->ex_dirty[v->took_exemplars] = 1;
			v->ex_at[k][i] = v->took_exemplars++;
		}
		v->ex_known[k] = (uint32_t)n;
		for (uint32_t i = 0; i < n; i++) {
			const struct stage_ex_rec *r = ex_record(v, k, i);
			uint32_t sel = r->sel, at = v->ex_at[k][i];
			if (sel != snap->exemplars[at].sel)
				copy_exemplar(v, at, r, sel);
		}
	}
	return 0;
}

/* Takes what is new in c: the file mapped further, new families, slots
 * and exemplar records taken, cells [from, c.cells) copied, and the
 * exemplars whose selector moved.  0, -1, STAGE_INVALID. */
static int take_and_copy(struct stage_view *v, const struct stage_counts *c, uint64_t from)
{
	/* cells are never taken back: fewer than a slot was checked against is damage */
	if (c->n[STAGE_CELLS] < v->took_cells || c->n[STAGE_CELLS] < from)
		return STAGE_INVALID;
	v->took_cells = c->n[STAGE_CELLS];
	int rc = map_chunks(v, c);
	if (rc == 0 && c->n[STAGE_FAMILIES] > v->took_families)
		rc = take_families(v, c->n[STAGE_FAMILIES]);
	if (rc == 0 && c->n[STAGE_SLOTS] > v->took_slots)
		rc = take_slots(v, c);
	if (rc == 0 && (c->n[STAGE_CELLS] > (uint64_t)SIZE_MAX / 16 ||
	                array_grow((void **)&v->scratch, &v->cap_scratch,
	                           c->n[STAGE_CELLS] ? c->n[STAGE_CELLS] : 1, sizeof(double))))
		rc = -1;
	if (rc != 0)
		return rc;
	copy_cells(v, v->scratch, from, c->n[STAGE_CELLS]);
	return copy_exemplars(v, c);
}

/* Whether redo entry e names something this read has not taken yet: a
 * cell past the cells copied, or an exemplar record not yet known. */
static int beyond(const struct stage_view *v, const struct stage_log_entry *e, uint64_t ncells)
{
	uint32_t array = STAGE_LOG_ARRAY(e->target);
	uint64_t index = STAGE_LOG_INDEX(e->target);
	if (array == STAGE_CELLS)
		return index >= ncells;
	unsigned k = array - STAGE_EXEMPLARS;
	return array >= STAGE_EXEMPLARS && k < STAGE_EX_CLASSES && index >= v->ex_known[k];
}

/* Applies one redo entry to the copy: a cell's new value, or an exemplar
 * record's new sel (its copy taken).  Returns 1 if an exemplar was copied. */
static int apply_entry(struct stage_view *v, const struct stage_log_entry *e, uint64_t ncells)
{
	uint32_t array = STAGE_LOG_ARRAY(e->target);
	uint64_t index = STAGE_LOG_INDEX(e->target);
	if (array == STAGE_CELLS) {
		if (index < ncells)
			v->scratch[index] = e->value;
		return 0;
	}
	unsigned k = array - STAGE_EXEMPLARS;
	if (array < STAGE_EXEMPLARS || k >= STAGE_EX_CLASSES || index >= v->ex_known[k] ||
	    !(e->value >= 0 && e->value <= UINT32_MAX))
		return 0;
	uint32_t sel = (uint32_t)e->value, at = v->ex_at[k][index];
	if (sel == v->snap.exemplars[at].sel)
		return 0;
	copy_exemplar(v, at, ex_record(v, k, index), sel);
	return 1;
}

/* Walks the commits of ring positions [from, to): with apply, applies
 * them in order (*copied: whether an exemplar was copied); without, says
 * whether any names what this read has not taken (1).  -1 if the ring is
 * not a commit at each step (a copy that must be taken again). */
static int walk(struct stage_view *v, uint64_t from, uint64_t to, uint64_t ncells, int apply,
                int *copied)
{
	const struct stage_header *h = header_of(v->base);
	uint64_t mask = h->ring - 1;
	for (uint64_t p = from; p < to;) {
		struct stage_log_entry head = h->log[p & mask];
		uint64_t n = STAGE_LOG_INDEX(head.target);
		if (STAGE_LOG_ARRAY(head.target) != STAGE_LOG_COMMIT || n > h->log_max || to - p < 1 + n)
			return -1;
		for (uint64_t i = 0; i < n; i++) {
			struct stage_log_entry e = h->log[(p + 1 + i) & mask];
			if (apply)
				*copied |= apply_entry(v, &e, ncells);
			else if (beyond(v, &e, ncells))
				return 1;
		}
		p += 1 + n;
	}
	return 0;
}

/* Whether ring entries [from, ...) read so far are still whole: no
 * writer could have reached them since (a commit writes its entries, at
 * most log_max + 1, before it moves `written`). */
static int ring_whole(const struct stage_header *h, uint64_t from)
{
	atomic_thread_fence(memory_order_acquire);
	uint64_t now = atomic_load_explicit(&h->written, memory_order_acquire);
	return now - from <= h->ring - h->log_max - 1;
}

/* Checks what was copied since the last check: every exemplar marked. */
static int check_exemplars(struct stage_view *v)
{
	struct stage_snapshot *snap = &v->snap;
	for (uint32_t i = 0; i < v->took_exemplars; i++) {
		if (!v->ex_dirty[i])
			continue;
		if (!stage_valid_exemplar(&snap->exemplars[i], snap->families, snap->slots,
		                          v->took_slots))
			return 0;
		v->ex_dirty[i] = 0;
	}
	return 1;
}

/* A read that gave up: exemplars copied and not checked may be torn; they
 * read as none until a read succeeds (their sel is then copied again). */
static void drop_unchecked(struct stage_view *v)
{
	for (uint32_t i = 0; i < v->took_exemplars; i++)
		if (v->ex_dirty[i]) {
			v->snap.exemplars[i].sel = 0;
			v->ex_dirty[i] = 0;
		}
}

/* The copy becomes the snapshot: its cells swapped in, its counts shown. */
static void take_cells(struct stage_view *v, const struct stage_counts *c, uint64_t seq)
{
	struct stage_snapshot *snap = &v->snap;
	double *cells = snap->cells;
	size_t cap = snap->cap_cells;
	snap->cells = v->scratch;
	snap->cap_cells = v->cap_scratch;
	v->scratch = cells;
	v->cap_scratch = cap;
	snap->ncells = c->n[STAGE_CELLS];
	snap->nfamilies = v->took_families;
	snap->nslots = v->took_slots;
	snap->nexemplars = v->took_exemplars;
	snap->dropped = c->dropped;
	snap->exemplars_dropped = c->exemplars_dropped;
	snap->seq = seq + (seq & 1); /* a replayed change counts as committed */
}

/* A dead writer's file: copied at rest, its last commit finished in the
 * copy if it was cut (seq odd). */
static int read_dead(struct stage_view *v, uint64_t s1, const struct stage_counts *c)
{
	const struct stage_header *h = header_of(v->base);
	uint64_t last = h->last, w = atomic_load_explicit(&h->written, memory_order_acquire);
	int copied = 0;
	if ((s1 & 1) && (last >= w || walk(v, last, w, c->n[STAGE_CELLS], 1, &copied) != 0))
		return STAGE_INVALID;
	if (!check_exemplars(v))
		return STAGE_INVALID;
	take_cells(v, c, s1);
	return 0;
}

/* One attempt: 0 taken, 1 try again, -1, STAGE_INVALID.  The commits made
 * while the copy was taken are applied to it (see the top); when one of
 * them touches a series or exemplar published after the counts were read,
 * the copy is extended to it first (then the counts and the copy agree
 * with every commit applied). */
static int attempt(struct stage_view *v, int live)
{
	const struct stage_header *h = header_of(v->base);
	uint64_t w1 = atomic_load_explicit(&h->written, memory_order_acquire);
	uint64_t s1 = atomic_load_explicit(&h->seq, memory_order_acquire);
	if ((s1 & 1) && live)
		return 1;
	struct stage_counts c;
	load_counts(h, &c);
	int rc = take_and_copy(v, &c, 0);
	if (rc != 0)
		return rc;
	h = header_of(v->base); /* it may have moved */
	if (!live)
		return read_dead(v, s1, &c);
	for (int phase = 0; phase < 8; phase++) {
		atomic_thread_fence(memory_order_acquire);
		uint64_t w2 = atomic_load_explicit(&h->written, memory_order_acquire);
		int copied = 0, more = walk(v, w1, w2, c.n[STAGE_CELLS], 0, NULL);
		if (more < 0 || !ring_whole(h, w1))
			return 1;
		if (more) { /* extend the copy to what the commits reach */
			uint64_t from = c.n[STAGE_CELLS];
			load_counts(h, &c);
			if ((rc = take_and_copy(v, &c, from)) != 0)
				return rc;
			h = header_of(v->base);
			continue;
		}
		if (walk(v, w1, w2, c.n[STAGE_CELLS], 1, &copied) != 0 || !ring_whole(h, w1))
			return 1;
		/* an exemplar copied just now is whole if no commit began since */
		if (copied && atomic_load_explicit(&h->written, memory_order_acquire) != w2)
			return 1;
		if (!check_exemplars(v))
			return STAGE_INVALID;
		take_cells(v, &c, s1);
		return 0;
	}
	return 1;
}

int stage_view_read(struct stage_view *v, int live)
{
	v->snap.live = live;
	if (v->old)
		return stage_old_read(v, live);
	for (int i = 0; i < STAGE_READ_ATTEMPTS; i++) {
		int rc = attempt(v, live);
		if (rc != 1) {
			if (rc != 0)
				drop_unchecked(v);
			return rc;
		}
		sched_yield();
	}
	drop_unchecked(v);
	return -1;
}

/* A copy taken once: a view opened, read and closed, its snapshot kept. */
int stage_snapshot(const char *path, struct stage_snapshot *snap)
{
	struct stage_view v;
	memset(snap, 0, sizeof *snap);
	int rc = stage_view_open(path, &v);
	if (rc != 0)
		return rc;
	int live = proc_is_live(v.snap.pid, v.snap.start_time, v.snap.boot_id);
	rc = stage_view_read(&v, live);
	if (rc == 0) {
		*snap = v.snap;
		memset(&v.snap, 0, sizeof v.snap);
	}
	stage_view_close(&v);
	return rc;
}
