/* SPDX-License-Identifier: MIT */
/*
 * stage.c — create, write and read staging files (see stage.h for the
 * layout and the publication rules).
 *
 * The writer is the one thread of one process.  Recording is a few stores
 * into shared pages: no system call, no lock, nothing that can block.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/buf.h"
#include "store/log.h"
#include "store/names.h"
#include "store/native.h"
#include "store/stage.h"

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

void (*stage_test_hook)(const char *where);

int stage_dir(const char *db_path, char *out, size_t len)
{
	int n = snprintf(out, len, "%s.stage", db_path);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static void stage_init_header(struct stage_file *f)
{
	f->hdr.magic = STAGE_MAGIC;
	f->hdr.version = STAGE_VERSION;
	f->hdr.pid = getpid();
	if (proc_start_time(getpid(), &f->hdr.start_time) != 0)
		f->hdr.start_time = 0;
	if (proc_boot_id(f->hdr.boot_id, sizeof f->hdr.boot_id) != 0)
		f->hdr.boot_id[0] = '\0';
}

/* Creates this incarnation's file in dir holding a copy of *from (or a
 * fresh header), maps it and renames it into place: a scanner never sees a
 * file without its header.  The blocks are allocated up front, so a full
 * disk fails here, never later as SIGBUS on a first touch of a page. */
static int stage_place(struct stage *s, const char *dir, const struct stage_file *from)
{
	if (mkdir(dir, 0770) != 0 && errno != EEXIST)
		return -1;
	uint64_t start = 0;
	char boot[STAGE_BOOT_ID_MAX] = "", path[sizeof s->path], tmp[sizeof s->path + 64];
	proc_start_time(getpid(), &start);
	proc_boot_id(boot, sizeof boot);
	int n = snprintf(path, sizeof path, "%s/w-%.8s-%ld-%llu", dir, boot, (long)getpid(),
	                 (unsigned long long)start);
	if (n < 0 || (size_t)n >= sizeof path)
		return errno = ENAMETOOLONG, -1;
	snprintf(tmp, sizeof tmp, "%s/.tmp-%ld", dir, (long)getpid());
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
	if (fd < 0)
		return -1;
	struct stat st;
	void *p = MAP_FAILED;
	int rc = posix_fallocate(fd, 0, sizeof(struct stage_file));
	if (rc == 0 && fstat(fd, &st) == 0)
		p = mmap(NULL, sizeof(struct stage_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	else if (rc != 0)
		errno = rc;
	close(fd);
	if (p != MAP_FAILED) {
		if (from)
			memcpy(p, from, sizeof(struct stage_file));
		else
			stage_init_header(p);
		if (rename(tmp, path) == 0) {
			if (s->f)
				munmap(s->f, sizeof(struct stage_file));
			s->f = p;
			memcpy(s->path, path, sizeof path);
			s->dev = st.st_dev;
			s->ino = st.st_ino;
			return 0;
		}
		munmap(p, sizeof(struct stage_file));
	}
	int e = errno;
	unlink(tmp);
	errno = e;
	return -1;
}

int stage_create(struct stage *s, const char *dir)
{
	memset(s, 0, sizeof *s);
	return stage_place(s, dir, NULL);
}

/* The file is gone (its directory deleted, say) or was never made: put the
 * totals counted so far into a new one.  The totals are cumulative, so the
 * store folds them correctly whether or not it saw the old file. */
int stage_check(struct stage *s, const char *dir)
{
	struct stat st;
	if (!s->f)
		return -1;
	if (s->path[0] && stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		return 0;
	return stage_place(s, dir, s->f) == 0 ? 1 : -1;
}

/* Keeps counting in memory when no file can be made: the app must go on. */
void stage_create_anonymous(struct stage *s, int identity)
{
	memset(s, 0, sizeof *s);
	void *p = mmap(NULL, sizeof(struct stage_file), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* this process's alone */
	if (p == MAP_FAILED)
		return;
	s->f = p;
	if (identity) /* it may become a file (stage_check): it must say whose */
		stage_init_header(s->f);
	else
		s->f->hdr.magic = STAGE_MAGIC, s->f->hdr.version = STAGE_VERSION;
}

void stage_destroy(struct stage *s, int unlink_file)
{
	if (s->f)
		munmap(s->f, sizeof(struct stage_file));
	if (unlink_file && s->path[0])
		unlink(s->path);
	memset(s, 0, sizeof *s);
}

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

/* Copies one exemplar copy: its fields and the labels it uses (a length
 * past the buffer is kept, for stage_validate to refuse). */
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
 * entries that point nowhere are left out (stage_validate then judges).
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

/* Room for what the file holds now, with slack for what the writer may add
 * while we copy; a larger file makes the copy start over. */
static int stage_reserve(struct stage_snapshot *snap, uint32_t nf, uint32_t ns, uint32_t nc,
                         uint32_t nx)
{
	nf = nf + 4 < STAGE_MAX_FAMILIES ? nf + 4 : STAGE_MAX_FAMILIES;
	ns = ns + 64 < STAGE_MAX_SLOTS ? ns + 64 : STAGE_MAX_SLOTS;
	nc = nc + 1024 < STAGE_MAX_CELLS ? nc + 1024 : STAGE_MAX_CELLS;
	nx = nx + 8 < STAGE_MAX_EXEMPLARS ? nx + 8 : STAGE_MAX_EXEMPLARS;
	if (nf <= snap->cap_families && ns <= snap->cap_slots && nc <= snap->cap_cells &&
	    nx <= snap->cap_exemplars)
		return 0;
	stage_snapshot_free(snap);
	snap->families = malloc(nf * sizeof *snap->families);
	snap->slots = malloc(ns * sizeof *snap->slots);
	snap->cells = malloc(nc * sizeof *snap->cells);
	snap->exemplars = malloc(nx * sizeof *snap->exemplars);
	if (!snap->families || !snap->slots || !snap->cells || !snap->exemplars)
		return -1;
	snap->cap_families = nf;
	snap->cap_slots = ns;
	snap->cap_cells = nc;
	snap->cap_exemplars = nx;
	return 0;
}

static int stage_copy(const unsigned char *base, const struct stage_layout *l,
                      struct stage_snapshot *snap)
{
	const struct stage_header *h = header_of(base);
	const struct stage_exemplars *x = exemplars_of(base, l);
	/* The writer holds seq odd for a few stores; odd for longer means it is
	 * descheduled or dead, and liveness tells which. */
	for (int attempt = 0; attempt < 20000; attempt++) {
		uint64_t s1 = atomic_load_explicit(&h->seq, memory_order_acquire);
		if (s1 & 1) {
			if (attempt < 100 || (snap->live = proc_is_live(h->pid, h->start_time, h->boot_id))) {
				sched_yield();
				continue;
			}
		}
		snap->nfamilies = atomic_load_explicit(&h->nfamilies, memory_order_acquire);
		snap->nslots = atomic_load_explicit(&h->nslots, memory_order_acquire);
		snap->ncells = atomic_load_explicit(&h->ncells, memory_order_acquire);
		snap->dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
		snap->nexemplars = x ? atomic_load_explicit(&x->n, memory_order_acquire) : 0;
		snap->exemplars_dropped = x ? atomic_load_explicit(&x->dropped, memory_order_relaxed) : 0;
		if (snap->nfamilies > STAGE_MAX_FAMILIES || snap->nslots > STAGE_MAX_SLOTS ||
		    snap->ncells > l->max_cells || snap->nexemplars > STAGE_MAX_EXEMPLARS)
			return -1;
		if (stage_reserve(snap, snap->nfamilies, snap->nslots, snap->ncells,
		                  snap->nexemplars) != 0)
			return -1;
		copy_families(base, l, snap->families, 0, snap->nfamilies);
		memcpy(snap->slots, slots_of(base, l), snap->nslots * sizeof *snap->slots);
		memcpy(snap->cells, cells_of(base, l), snap->ncells * sizeof *snap->cells);
		if (x)
			copy_exemplars(x, snap->exemplars, snap->nexemplars);
		atomic_thread_fence(memory_order_acquire);
		uint64_t s2 = atomic_load_explicit(&h->seq, memory_order_acquire);
		if (s1 != s2)
			continue;
		snap->seq = s1;
		if (s1 & 1) { /* a killed writer's change: finish it in our copy */
			stage_replay(base, l, snap->cells, snap->ncells, snap->exemplars, snap->nexemplars);
			snap->seq = s1 + 1;
		}
		return 0;
	}
	return -1;
}

static int terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* A native part's definition: none (all zero), or a histogram's schema in
 * range and a finite zero threshold >= 0. */
static int valid_native(const struct family_def *f)
{
	if (!f->native)
		return f->schema == 0 && f->zero_threshold == 0;
	return f->native == 1 && f->type == PF_HISTOGRAM && f->schema >= PF_NATIVE_SCHEMA_MIN &&
	       f->schema <= PF_NATIVE_SCHEMA_MAX && f->zero_threshold >= 0 &&
	       isfinite(f->zero_threshold);
}

static int valid_family(const struct family_def *f)
{
	if ((f->type != PF_COUNTER && f->type != PF_GAUGE && f->type != PF_HISTOGRAM) ||
	    f->nlabels > PF_LABELS_MAX || f->nbuckets > PF_BUCKETS_MAX ||
	    (f->type != PF_HISTOGRAM && f->nbuckets) || !valid_native(f) ||
	    f->ncells != (uint32_t)model_family_cells((int)f->type, (int)f->nbuckets, (int)f->native) ||
	    !terminated(f->name, sizeof f->name) || !terminated(f->help, sizeof f->help) ||
	    !pf_valid_metric_name(f->name) || !f->help[0] || !names_valid_utf8(f->help, strlen(f->help)))
		return 0;
	for (uint32_t i = 0; i < f->nlabels; i++)
		if (!terminated(f->labels[i], sizeof f->labels[i]) || !pf_valid_label_name(f->labels[i]))
			return 0;
	for (uint32_t i = 0; i < f->nbuckets; i++)
		if (!isfinite(f->buckets[i]) || (i && f->buckets[i] <= f->buckets[i - 1]))
			return 0;
	return 1;
}

static int valid_slot(const struct stage_slot *s, const struct family_def *families,
                      uint32_t nfamilies, uint32_t ncells)
{
	return s->family < nfamilies &&
	       (uint64_t)s->cell + families[s->family].ncells <= ncells && s->keylen <= PF_KEY_MAX &&
	       names_valid_key(s->key, s->keylen, families[s->family].nlabels);
}

/* An exemplar slot names a series (of slots already checked) and one of its
 * buckets (a counter has one, a gauge none); its current copy, if any, is a
 * valid exemplar. */
static int valid_exemplar(const struct stage_exemplar *e, const struct family_def *families,
                          const struct stage_slot *slots, uint32_t nslots)
{
	if (e->slot >= nslots || e->sel > 2)
		return 0;
	const struct family_def *f = &families[slots[e->slot].family];
	if (e->bucket >= (uint32_t)model_family_exemplars((int)f->type, (int)f->nbuckets))
		return 0;
	if (e->sel == 0)
		return 1;
	const struct exemplar *x = &e->copy[e->sel - 1];
	return x->len <= MODEL_EXEMPLAR_BYTES && names_valid_exemplar(x->labels, x->len) &&
	       !isnan(x->value) && isfinite(x->timestamp) && x->timestamp > 0;
}

static int stage_validate(const struct stage_snapshot *snap)
{
	for (uint32_t i = 0; i < snap->nfamilies; i++)
		if (!valid_family(&snap->families[i]))
			return 0;
	for (uint32_t i = 0; i < snap->nslots; i++)
		if (!valid_slot(&snap->slots[i], snap->families, snap->nfamilies, snap->ncells))
			return 0;
	for (uint32_t i = 0; i < snap->nexemplars; i++)
		if (!valid_exemplar(&snap->exemplars[i], snap->families, snap->slots, snap->nslots))
			return 0;
	return 1;
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

static void stage_identify(const unsigned char *base, const char *path,
                           struct stage_snapshot *snap)
{
	const struct stage_header *h = header_of(base);
	snprintf(snap->path, sizeof snap->path, "%s", path);
	const char *name = strrchr(path, '/');
	snprintf(snap->name, sizeof snap->name, "%s", name ? name + 1 : path);
	snap->pid = h->pid;
	snap->start_time = h->start_time;
	memcpy(snap->boot_id, h->boot_id, sizeof snap->boot_id);
	snap->boot_id[sizeof snap->boot_id - 1] = '\0';
}

int stage_snapshot(const char *path, struct stage_snapshot *snap)
{
	memset(snap, 0, sizeof *snap);
	dev_t dev;
	ino_t ino;
	size_t size = 0;
	const struct stage_layout *l = NULL;
	const unsigned char *base = stage_map(path, &dev, &ino, &size, &l);
	if (base == STAGE_NOT_OURS)
		return STAGE_INVALID;
	if (!base)
		return -1;
	stage_identify(base, path, snap);
	snap->live = proc_is_live(snap->pid, snap->start_time, snap->boot_id);
	int rc = stage_copy(base, l, snap);
	if (rc == 0 && !stage_validate(snap))
		rc = STAGE_INVALID;
	munmap((void *)base, size);
	if (rc != 0)
		stage_snapshot_free(snap);
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

void stage_mark_closing(struct stage *s)
{
	if (s->f)
		atomic_store_explicit(&s->f->hdr.closing, 1, memory_order_seq_cst);
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
	stage_identify(base, path, &v->snap);
	return 0;
}

int stage_view_closing(const struct stage_view *v)
{
	return v->base &&
	       atomic_load_explicit(&header_of(v->base)->closing, memory_order_seq_cst) != 0;
}

int stage_view_read(struct stage_view *v, int live)
{
	const unsigned char *base = v->base;
	const struct stage_layout *l = v->layout;
	const struct stage_header *h = header_of(base);
	const struct stage_exemplars *x = exemplars_of(base, l);
	struct stage_snapshot *snap = &v->snap;
	snap->live = live;
	/* A live writer holds seq odd for a few stores; for longer only when it
	 * is descheduled (or killed since we last looked): then the last
	 * consistent copy serves, and the next scrape tries again. */
	for (int attempt = 0; attempt < 2000; attempt++) {
		uint64_t s1 = atomic_load_explicit(&h->seq, memory_order_acquire);
		if ((s1 & 1) && live) {
			sched_yield();
			continue;
		}
		uint32_t nf = atomic_load_explicit(&h->nfamilies, memory_order_acquire);
		uint32_t ns = atomic_load_explicit(&h->nslots, memory_order_acquire);
		uint32_t nc = atomic_load_explicit(&h->ncells, memory_order_acquire);
		uint32_t dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
		uint32_t nx = x ? atomic_load_explicit(&x->n, memory_order_acquire) : 0;
		uint32_t xdropped = x ? atomic_load_explicit(&x->dropped, memory_order_relaxed) : 0;
		/* published counts only grow */
		if (nf > STAGE_MAX_FAMILIES || ns > STAGE_MAX_SLOTS || nc > l->max_cells ||
		    nx > STAGE_MAX_EXEMPLARS || nf < snap->nfamilies || ns < snap->nslots ||
		    nc < snap->ncells || nx < snap->nexemplars)
			return STAGE_INVALID;
		if (array_grow32((void **)&snap->families, &snap->cap_families, nf ? nf : 1,
		            sizeof *snap->families) ||
		    array_grow32((void **)&snap->slots, &snap->cap_slots, ns ? ns : 1, sizeof *snap->slots) ||
		    array_grow32((void **)&v->scratch, &v->cap_scratch, nc ? nc : 1, sizeof(double)) ||
		    (nx && array_grow32((void **)&v->ex_scratch, &v->cap_ex_scratch, nx,
		                   sizeof *v->ex_scratch)))
			return -1;
		/* families and slots never change once published: copy the new ones */
		copy_families(base, l, snap->families, snap->nfamilies, nf);
		memcpy(&snap->slots[snap->nslots], &slots_of(base, l)[snap->nslots],
		       (ns - snap->nslots) * sizeof *snap->slots);
		memcpy(v->scratch, cells_of(base, l), nc * sizeof(double));
		if (x)
			copy_exemplars(x, v->ex_scratch, nx); /* they change: all of them, each time */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&h->seq, memory_order_acquire) != s1)
			continue;
		if (s1 & 1) /* a killed writer's change: finish it in our copy */
			stage_replay(base, l, v->scratch, nc, v->ex_scratch, nx);
		for (uint32_t i = snap->nfamilies; i < nf; i++)
			if (!valid_family(&snap->families[i]))
				return STAGE_INVALID;
		for (uint32_t i = snap->nslots; i < ns; i++)
			if (!valid_slot(&snap->slots[i], snap->families, nf, nc))
				return STAGE_INVALID;
		for (uint32_t i = 0; i < nx; i++)
			if (!valid_exemplar(&v->ex_scratch[i], snap->families, snap->slots, ns))
				return STAGE_INVALID;
		struct stage_exemplar *ex = snap->exemplars;
		uint32_t cap_ex = snap->cap_exemplars;
		snap->exemplars = v->ex_scratch;
		snap->cap_exemplars = v->cap_ex_scratch;
		v->ex_scratch = ex;
		v->cap_ex_scratch = cap_ex;
		snap->nexemplars = nx;
		snap->exemplars_dropped = xdropped;
		double *cells = snap->cells;
		uint32_t cap = snap->cap_cells;
		snap->cells = v->scratch;
		snap->cap_cells = v->cap_scratch;
		v->scratch = cells;
		v->cap_scratch = cap;
		snap->nfamilies = nf;
		snap->nslots = ns;
		snap->ncells = nc;
		snap->dropped = dropped;
		snap->seq = s1 + (s1 & 1);
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
