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

#include "log.h"
#include "names.h"
#include "stage.h"

/* A version 1 file is exactly this layout up to the exemplars. */
_Static_assert(STAGE_V1_SIZE == offsetof(struct stage_file, cells) +
                                    STAGE_MAX_CELLS * sizeof(double),
               "exemplars follow the cells without padding");

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
	if (!s->f || index >= STAGE_MAX_EXEMPLARS || len > PF_EXEMPLAR_BYTES)
		return -1;
	struct stage_exemplar *e = &s->f->ex.e[index];
	uint32_t next = e->sel == 1 ? 2 : 1;
	struct stage_log_entry *p = stage_pending(s, STAGE_LOG_EXEMPLAR, index);
	if (!p)
		return -1;
	struct pf_exemplar *c = &e->copy[next - 1];
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

void stage_commit(struct stage *s)
{
	if (!s->f || s->npending == 0)
		return;
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
static void copy_exemplar(struct pf_exemplar *to, const struct pf_exemplar *from)
{
	to->value = from->value;
	to->timestamp = from->timestamp;
	to->len = from->len;
	memcpy(to->labels, from->labels, to->len <= PF_EXEMPLAR_BYTES ? to->len : 0);
}

/* Copies n exemplar slots: each one's current copy only (sel read once; the
 * spare copy may be half written, and is nobody's business but the writer's). */
static void copy_exemplars(const struct stage_file *f, struct stage_exemplar *to, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct stage_exemplar *e = &f->ex.e[i];
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
static void stage_replay(const struct stage_file *f, double *cells, uint32_t ncells,
                         struct stage_exemplar *ex, uint32_t nex)
{
	const struct stage_header *h = &f->hdr;
	uint32_t n = h->nlog < STAGE_LOG_MAX ? h->nlog : STAGE_LOG_MAX;
	for (uint32_t i = 0; i < n; i++) {
		struct stage_log_entry e = h->log[i];
		if (e.kind == STAGE_LOG_CELL && e.cell < ncells) {
			cells[e.cell] = e.value;
		} else if (e.kind == STAGE_LOG_EXEMPLAR && e.cell < nex && (e.value == 1 || e.value == 2)) {
			ex[e.cell].sel = (uint32_t)e.value;
			copy_exemplar(&ex[e.cell].copy[ex[e.cell].sel - 1],
			              &f->ex.e[e.cell].copy[ex[e.cell].sel - 1]);
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

/* has_ex: a version 2 file (a version 1 file ends before f->ex). */
static int stage_copy(const struct stage_file *f, int has_ex, struct stage_snapshot *snap)
{
	const struct stage_header *h = &f->hdr;
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
		snap->nexemplars = has_ex ? atomic_load_explicit(&f->ex.n, memory_order_acquire) : 0;
		snap->exemplars_dropped =
		    has_ex ? atomic_load_explicit(&f->ex.dropped, memory_order_relaxed) : 0;
		if (snap->nfamilies > STAGE_MAX_FAMILIES || snap->nslots > STAGE_MAX_SLOTS ||
		    snap->ncells > STAGE_MAX_CELLS || snap->nexemplars > STAGE_MAX_EXEMPLARS)
			return -1;
		if (stage_reserve(snap, snap->nfamilies, snap->nslots, snap->ncells,
		                  snap->nexemplars) != 0)
			return -1;
		memcpy(snap->families, f->families, snap->nfamilies * sizeof f->families[0]);
		memcpy(snap->slots, f->slots, snap->nslots * sizeof f->slots[0]);
		memcpy(snap->cells, f->cells, snap->ncells * sizeof f->cells[0]);
		copy_exemplars(f, snap->exemplars, snap->nexemplars);
		atomic_thread_fence(memory_order_acquire);
		uint64_t s2 = atomic_load_explicit(&h->seq, memory_order_acquire);
		if (s1 != s2)
			continue;
		snap->seq = s1;
		if (s1 & 1) { /* a killed writer's change: finish it in our copy */
			stage_replay(f, snap->cells, snap->ncells, snap->exemplars, snap->nexemplars);
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

static int valid_family(const struct family_def *f)
{
	if ((f->type != PF_COUNTER && f->type != PF_GAUGE && f->type != PF_HISTOGRAM) ||
	    f->nlabels > PF_LABELS_MAX || f->nbuckets > PF_BUCKETS_MAX ||
	    (f->type != PF_HISTOGRAM && f->nbuckets) ||
	    f->ncells != (uint32_t)pf_family_cells((int)f->type, (int)f->nbuckets) ||
	    !terminated(f->name, sizeof f->name) || !terminated(f->help, sizeof f->help) ||
	    !pf_valid_metric_name(f->name) || !f->help[0] || !pf_valid_utf8(f->help, strlen(f->help)))
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
	       pf_valid_key(s->key, s->keylen, families[s->family].nlabels);
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
	if (e->bucket >= (uint32_t)pf_family_exemplars((int)f->type, (int)f->nbuckets))
		return 0;
	if (e->sel == 0)
		return 1;
	const struct pf_exemplar *x = &e->copy[e->sel - 1];
	return x->len <= PF_EXEMPLAR_BYTES && pf_valid_exemplar(x->labels, x->len) &&
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
#define STAGE_NOT_OURS ((const struct stage_file *)-1)

/* Maps another process's file read-only: a regular file of the right size
 * (not a FIFO to block on, nor a link to follow) and version: this one's,
 * or version 1's (left by a killed worker of the release before), whose
 * layout is this one's without the exemplars.  *size: what was mapped. */
static const struct stage_file *stage_map(const char *path, dev_t *dev, ino_t *ino, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	struct stat st;
	void *p = MAP_FAILED;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_size == (off_t)sizeof(struct stage_file) || st.st_size == (off_t)STAGE_V1_SIZE)) {
		*size = (size_t)st.st_size;
		p = mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, 0);
	}
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	const struct stage_file *f = p;
	if (f->hdr.magic != STAGE_MAGIC ||
	    f->hdr.version != (*size == sizeof(struct stage_file) ? STAGE_VERSION : 1u)) {
		munmap(p, *size);
		return STAGE_NOT_OURS;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	return f;
}

static void stage_identify(const struct stage_file *f, const char *path,
                           struct stage_snapshot *snap)
{
	snprintf(snap->path, sizeof snap->path, "%s", path);
	const char *base = strrchr(path, '/');
	snprintf(snap->name, sizeof snap->name, "%s", base ? base + 1 : path);
	snap->pid = f->hdr.pid;
	snap->start_time = f->hdr.start_time;
	memcpy(snap->boot_id, f->hdr.boot_id, sizeof snap->boot_id);
	snap->boot_id[sizeof snap->boot_id - 1] = '\0';
}

int stage_snapshot(const char *path, struct stage_snapshot *snap)
{
	memset(snap, 0, sizeof *snap);
	dev_t dev;
	ino_t ino;
	size_t size = 0;
	const struct stage_file *f = stage_map(path, &dev, &ino, &size);
	if (f == STAGE_NOT_OURS)
		return STAGE_INVALID;
	if (!f)
		return -1;
	stage_identify(f, path, snap);
	snap->live = proc_is_live(snap->pid, snap->start_time, snap->boot_id);
	int rc = stage_copy(f, size == sizeof(struct stage_file), snap);
	if (rc == 0 && !stage_validate(snap))
		rc = STAGE_INVALID;
	munmap((void *)f, size);
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
	const struct stage_file *f = stage_map(path, &v->dev, &v->ino, &v->size);
	if (f == STAGE_NOT_OURS)
		return STAGE_INVALID;
	if (!f)
		return -1;
	v->f = f;
	stage_identify(f, path, &v->snap);
	return 0;
}

int stage_view_closing(const struct stage_view *v)
{
	return v->f && atomic_load_explicit(&v->f->hdr.closing, memory_order_seq_cst) != 0;
}

/* Grows *p (of *cap elements of size) to hold need, keeping its contents. */
static int grow_to(void **p, uint32_t *cap, uint32_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	uint32_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, (size_t)n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

int stage_view_read(struct stage_view *v, int live)
{
	const struct stage_file *f = v->f;
	const struct stage_header *h = &f->hdr;
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
		int has_ex = v->size == sizeof(struct stage_file);
		uint32_t nx = has_ex ? atomic_load_explicit(&f->ex.n, memory_order_acquire) : 0;
		uint32_t xdropped = has_ex ? atomic_load_explicit(&f->ex.dropped, memory_order_relaxed) : 0;
		/* published counts only grow */
		if (nf > STAGE_MAX_FAMILIES || ns > STAGE_MAX_SLOTS || nc > STAGE_MAX_CELLS ||
		    nx > STAGE_MAX_EXEMPLARS || nf < snap->nfamilies || ns < snap->nslots ||
		    nc < snap->ncells || nx < snap->nexemplars)
			return STAGE_INVALID;
		if (grow_to((void **)&snap->families, &snap->cap_families, nf ? nf : 1,
		            sizeof *snap->families) ||
		    grow_to((void **)&snap->slots, &snap->cap_slots, ns ? ns : 1, sizeof *snap->slots) ||
		    grow_to((void **)&v->scratch, &v->cap_scratch, nc ? nc : 1, sizeof(double)) ||
		    (nx && grow_to((void **)&v->ex_scratch, &v->cap_ex_scratch, nx,
		                   sizeof *v->ex_scratch)))
			return -1;
		/* families and slots never change once published: copy the new ones */
		memcpy(&snap->families[snap->nfamilies], &f->families[snap->nfamilies],
		       (nf - snap->nfamilies) * sizeof f->families[0]);
		memcpy(&snap->slots[snap->nslots], &f->slots[snap->nslots],
		       (ns - snap->nslots) * sizeof f->slots[0]);
		memcpy(v->scratch, f->cells, nc * sizeof f->cells[0]);
		copy_exemplars(f, v->ex_scratch, nx); /* they change: all of them, each time */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&h->seq, memory_order_acquire) != s1)
			continue;
		if (s1 & 1) /* a killed writer's change: finish it in our copy */
			stage_replay(f, v->scratch, nc, v->ex_scratch, nx);
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
	if (v->f)
		munmap((void *)v->f, v->size);
	stage_snapshot_free(&v->snap);
	free(v->scratch);
	free(v->ex_scratch);
	memset(v, 0, sizeof *v);
}
