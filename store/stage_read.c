/* SPDX-License-Identifier: MIT */
/*
 * stage_read.c — reading another process's staging file: mapped read-only
 * once (a file of this release's layout or of an earlier one's), then
 * copied under the seqlock whenever it is read again, a killed writer's
 * half-done change replayed from its redo log, and everything new checked
 * (stage_valid.c) before it is used.
 *
 * The seqlock copy, one rule for every reader.  A writer holds seq odd only
 * for the stores of one change, at most STAGE_LOG_MAX cells: microseconds.
 * So a reader that finds seq odd yields the CPU and looks again, and one
 * that finds seq moved during its copy (a change committed meanwhile)
 * copies again.  It gives up after STAGE_READ_ATTEMPTS tries: each
 * sched_yield lets every other runnable thread on the CPU run first, so
 * 2,000 of them outlast many scheduler time slices, and a writer still in
 * its change by then is not running (descheduled for long, stopped by a
 * signal or a debugger).  A scrape must not wait on such a process: it
 * keeps the last consistent copy, and the next scrape reads again.  A
 * writer that is dead (the caller says: `live`) holds its change forever;
 * its redo log finishes it in the copy, so its file is read at once.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "store/buf.h"
#include "store/path.h"
#include "store/stage.h"
#include "store/stage_valid.h"

#define STAGE_READ_ATTEMPTS 2000

/* Where each part of a file is, for each version this release reads: its
 * own (3), and the two a killed worker of an earlier release may have left.
 * Versions 1 and 2 have the same header but a redo log of 32 entries, then
 * families of 1,424 bytes (version 3's definition without its native
 * fields, which read as "no native buckets"), 4,096 slots, 65,536 cells,
 * and (version 2) the same exemplars. */
struct stage_layout {
	uint32_t version;
	size_t size, families, family_size, slots, cells, ex; /* ex 0: none */
	uint32_t max_cells, log_max;
};

#define V2_LOG_MAX 32u
#define V2_MAX_CELLS 65536u
#define V2_FAMILY offsetof(struct family_def, native)
#define V2_FAMILIES (offsetof(struct stage_header, log) + V2_LOG_MAX * sizeof(struct stage_log_entry))
#define V2_SLOTS (V2_FAMILIES + STAGE_MAX_FAMILIES * V2_FAMILY)
#define V2_CELLS (V2_SLOTS + STAGE_MAX_SLOTS * sizeof(struct stage_slot))
#define V2_EX (V2_CELLS + V2_MAX_CELLS * sizeof(double))
_Static_assert(V2_FAMILY == 1424 && V2_FAMILIES == 608 && V2_SLOTS == 91744 &&
                   V2_CELLS == 1140320 && V2_EX == STAGE_V1_SIZE &&
                   V2_EX + sizeof(struct stage_exemplars) == STAGE_V2_SIZE,
               "version 1 and 2 files are what those releases wrote");
_Static_assert(offsetof(struct stage_file, ex) ==
                   offsetof(struct stage_file, cells) + STAGE_MAX_CELLS * sizeof(double),
               "exemplars follow the cells without padding");

static const struct stage_layout layouts[] = {
    {STAGE_VERSION, sizeof(struct stage_file), offsetof(struct stage_file, families),
     sizeof(struct family_def), offsetof(struct stage_file, slots),
     offsetof(struct stage_file, cells), offsetof(struct stage_file, ex), STAGE_MAX_CELLS,
     STAGE_LOG_MAX},
    {2, STAGE_V2_SIZE, V2_FAMILIES, V2_FAMILY, V2_SLOTS, V2_CELLS, V2_EX, V2_MAX_CELLS, V2_LOG_MAX},
    {1, STAGE_V1_SIZE, V2_FAMILIES, V2_FAMILY, V2_SLOTS, V2_CELLS, 0, V2_MAX_CELLS, V2_LOG_MAX},
};

static const struct stage_header *header_of(const unsigned char *base)
{
	return (const struct stage_header *)(const void *)base;
}

static const struct stage_slot *slots_of(const unsigned char *base, const struct stage_layout *l)
{
	return (const struct stage_slot *)(const void *)(base + l->slots);
}

static const double *cells_of(const unsigned char *base, const struct stage_layout *l)
{
	return (const double *)(const void *)(base + l->cells);
}

static const struct stage_exemplars *exemplars_of(const unsigned char *base,
                                                  const struct stage_layout *l)
{
	return l->ex ? (const struct stage_exemplars *)(const void *)(base + l->ex) : NULL;
}

/* Families [from, to) of the file into defs; an earlier version's without
 * native buckets. */
static void copy_families(const unsigned char *base, const struct stage_layout *l,
                          struct family_def *defs, uint32_t from, uint32_t to)
{
	if (l->family_size == sizeof *defs) {
		memcpy(&defs[from], base + l->families + from * sizeof *defs,
		       (to - from) * sizeof *defs);
		return;
	}
	for (uint32_t i = from; i < to; i++) {
		memset(&defs[i], 0, sizeof defs[i]);
		memcpy(&defs[i], base + l->families + i * l->family_size, l->family_size);
	}
}

/* Copies one exemplar copy: its fields and the labels it uses (a length
 * past the buffer is kept, for stage_valid_exemplar to refuse). */
static void copy_exemplar(struct exemplar *to, const struct exemplar *from)
{
	to->value = from->value;
	to->timestamp = from->timestamp;
	to->len = from->len;
	memcpy(to->labels, from->labels, to->len <= MODEL_EXEMPLAR_BYTES ? to->len : 0);
}

/* Copies n exemplar slots: each one's current copy only (sel read once; the
 * spare copy may be half written, and is nobody's business but the writer's). */
static void copy_exemplars(const struct stage_exemplars *x, struct stage_exemplar *to, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct stage_exemplar *e = &x->e[i];
		to[i].slot = e->slot;
		to[i].bucket = e->bucket;
		to[i].sel = e->sel;
		if (to[i].sel == 1 || to[i].sel == 2)
			copy_exemplar(&to[i].copy[to[i].sel - 1], &e->copy[to[i].sel - 1]);
	}
}

/* Replays the redo log of a change that a killed writer left half done;
 * entries that point nowhere are left out (the checks then judge).
 * An exemplar whose sel the change moves gets the copy it now names, which
 * its writer filled before the change began. */
static void stage_replay(const unsigned char *base, const struct stage_layout *l, double *cells,
                         uint32_t ncells, struct stage_exemplar *ex, uint32_t nex)
{
	const struct stage_header *h = header_of(base);
	const struct stage_exemplars *x = exemplars_of(base, l);
	uint32_t n = h->nlog < l->log_max ? h->nlog : l->log_max;
	for (uint32_t i = 0; i < n; i++) {
		struct stage_log_entry e = h->log[i];
		if (e.kind == STAGE_LOG_CELL && e.cell < ncells) {
			cells[e.cell] = e.value;
		} else if (e.kind == STAGE_LOG_EXEMPLAR && x && e.cell < nex &&
		           (e.value == 1 || e.value == 2)) {
			ex[e.cell].sel = (uint32_t)e.value;
			copy_exemplar(&ex[e.cell].copy[ex[e.cell].sel - 1],
			              &x->e[e.cell].copy[ex[e.cell].sel - 1]);
		}
	}
}

/* stage_map's answer for a file that is not a staging file of a version it reads */
#define STAGE_NOT_OURS ((const unsigned char *)-1)

/* Maps another process's file read-only: a regular file (not a FIFO to
 * block on, nor a link to follow) of the size and version of one of the
 * layouts this release reads.  *size and *layout: what was mapped. */
static const unsigned char *stage_map(const char *path, dev_t *dev, ino_t *ino, size_t *size,
                                      const struct stage_layout **layout)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	struct stat st;
	void *p = MAP_FAILED;
	const struct stage_layout *l = NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
			if (st.st_size == (off_t)layouts[i].size)
				l = &layouts[i];
	if (l) {
		*size = l->size;
		p = mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, 0);
	}
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	const unsigned char *base = p;
	if (header_of(base)->magic != STAGE_MAGIC || header_of(base)->version != l->version) {
		munmap(p, *size);
		return STAGE_NOT_OURS;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	*layout = l;
	return base;
}

/* The file's path, name (its incarnation's identity in the store) and
 * process: 0, or -1 if the path does not fit (it was opened: it always
 * does). */
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
	const unsigned char *base = stage_map(path, &v->dev, &v->ino, &v->size, &v->layout);
	if (base == STAGE_NOT_OURS)
		return STAGE_INVALID;
	if (!base)
		return -1;
	v->base = base;
	if (stage_identify(base, path, &v->snap) != 0) {
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

/* The published counts of one attempt. */
struct stage_counts {
	uint32_t nfamilies, nslots, ncells, dropped, nexemplars, exemplars_dropped;
};

static void load_counts(const unsigned char *base, const struct stage_layout *l,
                        struct stage_counts *c)
{
	const struct stage_header *h = header_of(base);
	const struct stage_exemplars *x = exemplars_of(base, l);
	c->nfamilies = atomic_load_explicit(&h->nfamilies, memory_order_acquire);
	c->nslots = atomic_load_explicit(&h->nslots, memory_order_acquire);
	c->ncells = atomic_load_explicit(&h->ncells, memory_order_acquire);
	c->dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
	c->nexemplars = x ? atomic_load_explicit(&x->n, memory_order_acquire) : 0;
	c->exemplars_dropped = x ? atomic_load_explicit(&x->dropped, memory_order_relaxed) : 0;
}

/* Copies what is new since the last read (families and slots never change
 * once published), and all the cells and exemplars into the scratch
 * buffers: 0, -1 out of memory, STAGE_INVALID if the counts are impossible
 * (past the layout's bounds, or lower than what was published before). */
static int copy_new(struct stage_view *v, const struct stage_counts *c)
{
	const struct stage_layout *l = v->layout;
	const struct stage_exemplars *x = exemplars_of(v->base, l);
	struct stage_snapshot *snap = &v->snap;
	if (c->nfamilies > STAGE_MAX_FAMILIES || c->nslots > STAGE_MAX_SLOTS ||
	    c->ncells > l->max_cells || c->nexemplars > STAGE_MAX_EXEMPLARS ||
	    c->nfamilies < snap->nfamilies || c->nslots < snap->nslots || c->ncells < snap->ncells ||
	    c->nexemplars < snap->nexemplars)
		return STAGE_INVALID;
	if (array_grow32((void **)&snap->families, &snap->cap_families, c->nfamilies ? c->nfamilies : 1,
	                 sizeof *snap->families) ||
	    array_grow32((void **)&snap->slots, &snap->cap_slots, c->nslots ? c->nslots : 1,
	                 sizeof *snap->slots) ||
	    array_grow32((void **)&v->scratch, &v->cap_scratch, c->ncells ? c->ncells : 1,
	                 sizeof(double)) ||
	    (c->nexemplars && array_grow32((void **)&v->ex_scratch, &v->cap_ex_scratch,
	                                   c->nexemplars, sizeof *v->ex_scratch)))
		return -1;
	copy_families(v->base, l, snap->families, snap->nfamilies, c->nfamilies);
	memcpy(&snap->slots[snap->nslots], &slots_of(v->base, l)[snap->nslots],
	       (c->nslots - snap->nslots) * sizeof *snap->slots);
	memcpy(v->scratch, cells_of(v->base, l), c->ncells * sizeof(double));
	if (x)
		copy_exemplars(x, v->ex_scratch, c->nexemplars); /* they change: all, each time */
	return 0;
}

/* Whether what copy_new took is sound: the new families and slots, and
 * every exemplar. */
static int check_new(const struct stage_view *v, const struct stage_counts *c)
{
	const struct stage_snapshot *snap = &v->snap;
	for (uint32_t i = snap->nfamilies; i < c->nfamilies; i++)
		if (!stage_valid_family(&snap->families[i]))
			return 0;
	for (uint32_t i = snap->nslots; i < c->nslots; i++)
		if (!stage_valid_slot(&snap->slots[i], snap->families, c->nfamilies, c->ncells))
			return 0;
	for (uint32_t i = 0; i < c->nexemplars; i++)
		if (!stage_valid_exemplar(&v->ex_scratch[i], snap->families, snap->slots, c->nslots))
			return 0;
	return 1;
}

/* The scratch copies become the snapshot's (and its old arrays the next
 * scratch). */
static void take_new(struct stage_view *v, const struct stage_counts *c, uint64_t seq)
{
	struct stage_snapshot *snap = &v->snap;
	struct stage_exemplar *ex = snap->exemplars;
	uint32_t cap_ex = snap->cap_exemplars;
	snap->exemplars = v->ex_scratch;
	snap->cap_exemplars = v->cap_ex_scratch;
	v->ex_scratch = ex;
	v->cap_ex_scratch = cap_ex;
	double *cells = snap->cells;
	uint32_t cap = snap->cap_cells;
	snap->cells = v->scratch;
	snap->cap_cells = v->cap_scratch;
	v->scratch = cells;
	v->cap_scratch = cap;
	snap->nfamilies = c->nfamilies;
	snap->nslots = c->nslots;
	snap->ncells = c->ncells;
	snap->dropped = c->dropped;
	snap->nexemplars = c->nexemplars;
	snap->exemplars_dropped = c->exemplars_dropped;
	snap->seq = seq + (seq & 1); /* a replayed change counts as committed */
}

int stage_view_read(struct stage_view *v, int live)
{
	const struct stage_header *h = header_of(v->base);
	v->snap.live = live;
	for (int attempt = 0; attempt < STAGE_READ_ATTEMPTS; attempt++) {
		uint64_t s1 = atomic_load_explicit(&h->seq, memory_order_acquire);
		if ((s1 & 1) && live) {
			sched_yield();
			continue;
		}
		struct stage_counts c;
		load_counts(v->base, v->layout, &c);
		int rc = copy_new(v, &c);
		if (rc != 0)
			return rc;
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&h->seq, memory_order_acquire) != s1)
			continue; /* a change committed meanwhile: copy again */
		if (s1 & 1) /* a killed writer's change: finish it in our copy */
			stage_replay(v->base, v->layout, v->scratch, c.ncells, v->ex_scratch, c.nexemplars);
		if (!check_new(v, &c))
			return STAGE_INVALID;
		take_new(v, &c, s1);
		return 0;
	}
	return -1;
}

void stage_view_close(struct stage_view *v)
{
	if (v->base)
		munmap((void *)v->base, v->size);
	stage_snapshot_free(&v->snap);
	free(v->scratch);
	free(v->ex_scratch);
	memset(v, 0, sizeof *v);
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

void stage_snapshot_free(struct stage_snapshot *snap)
{
	free(snap->families);
	free(snap->slots);
	free(snap->cells);
	free(snap->exemplars);
	snap->families = NULL;
	snap->slots = NULL;
	snap->cells = NULL;
	snap->exemplars = NULL;
	snap->cap_families = snap->cap_slots = snap->cap_cells = snap->cap_exemplars = 0;
}
