/* SPDX-License-Identifier: MIT */
/*
 * stage.h — a worker incarnation's staging file: the crash-safe, lock-free
 * place where one process accumulates its metric totals, and that grows
 * with them.
 *
 * The layout and its rules (chunks that double, growth, the redo ring)
 * are stage_format.h's; the files of earlier releases, stage_old.h's.
 * Cells hold totals *cumulative since the incarnation began* (never
 * deltas), so folding them is idempotent: the store adds staged -
 * already_folded.
 *
 * Publication: a family or slot is written first, then its count is raised
 * with a release store; readers load counts with acquire.  Values change
 * only through stage_commit(): the new values go to the redo ring in the
 * header, seq becomes odd, the cells are written, seq becomes even.  A
 * reader of a dead incarnation whose seq is odd replays the last commit,
 * so a kill at any instant leaves either all or none of a change; a live
 * reader patches its copy with the commits made while it copied.
 *
 * Exemplars: one record per counter series or histogram bucket that has
 * had one, holding two copies and a selector (sel) saying which is
 * current.  The writer fills the other copy with plain stores at any time
 * (no reader looks at it), and the new sel goes through the redo ring with
 * the counts of the same change: a kill leaves the old copy current, or
 * (log replayed) the new one, each whole.
 *
 * What is bounded: memory and disk (a chunk that cannot be allocated
 * refuses the series, family or exemplar that needed it, which the caller
 * logs and counts; everything recorded before goes on), a series' label
 * values (PF_KEY_MAX bytes), and the indexes' types (2^32 - 1 families,
 * series and exemplars of a class; 2^64 cells).
 */
#ifndef PROMFCGI_STAGE_H
#define PROMFCGI_STAGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/model.h"
#include "store/path.h"
#include "store/proc.h"
#include "store/stage_format.h"

/* The most series (slots) a file holds, and families: what their indexes'
 * type allows, with room to spare for arithmetic (memory and disk bound
 * them long before). */
#define STAGE_SLOTS_LIMIT (UINT32_MAX / 2)
#define STAGE_FAMILIES_LIMIT (UINT32_MAX / 2)

/* The chunk sizes this release writes: elements in chunk 0 (log2). */
#define STAGE_FAMILIES_LOG2 4
#define STAGE_SLOTS_LOG2 10
#define STAGE_CELLS_LOG2 12
#define STAGE_KEYS_LOG2 14

/* A process's own, writable staging area: a file, or anonymous memory of
 * the same layout (which can become a file later: stage_check). */
struct stage {
	struct stage_header *h;
	unsigned char *chunk[STAGE_ARRAYS][STAGE_CHUNKS]; /* where each chunk is mapped */
	int fd;       /* the file, kept open to grow it; -1: anonymous */
	uint64_t end; /* bytes of the file (or that it would have) */
	char path[PATH_BYTES]; /* "" when anonymous (not persisted) */
	dev_t dev;             /* the file's identity, to notice it being replaced */
	ino_t ino;
	/* The pending change as it goes to the ring, in one copy: change[0] its
	 * commit header, then its npending entries. */
	struct stage_log_entry change[1 + STAGE_LOG_MAX];
	void *pending_at[STAGE_LOG_MAX]; /* where each pending value goes */
	uint32_t npending;
	int depth; /* pf_begin nesting */
	/* Moves on when the mappings move (the file made again: stage_check);
	 * a pointer from stage_cell is good while it stays.  Never 0. */
	uint32_t gen;
};

/* ---- this process's own file ---------------------------------------------- */

/* The staging directory for a store: "<db_path>.stage", into out
 * (PATH_BYTES): 0, or -1 if it is too long. */
int stage_dir(const char *db_path, char *out);

int stage_create(struct stage *s, const char *dir);
/* Counts in this process's memory only.  identity: fill in the header's
 * process identity (pid, start time, boot id: two reads of /proc), which a
 * one-shot process never needs. */
void stage_create_anonymous(struct stage *s, int identity);
/* Returns 0 if the file is in place, 1 if it was (re)created in dir from the
 * current totals, -1 if that failed (recording goes on in memory). */
int stage_check(struct stage *s, const char *dir);
void stage_destroy(struct stage *s, int unlink_file);

/* Appends family *def (with ncells set); returns its index or -1 if no
 * room could be had (errno says why). */
int stage_add_family(struct stage *s, const struct family_def *def);
/* Allocates a series of family fam with key; returns its slot index or -1
 * (no room: counted in the header's dropped; errno says why). */
long stage_add_slot(struct stage *s, uint32_t fam, const char *key, uint32_t keylen);

/* How many of an array's elements are published (cells, keys: the next
 * free index). */
static inline uint64_t stage_count(const struct stage *s, enum stage_array a)
{
	return atomic_load_explicit(&s->h->count[a], memory_order_relaxed);
}

/* Element i of array a, i below its count (this process's own file). */
static inline void *stage_elem(const struct stage *s, enum stage_array a, uint64_t i)
{
	uint64_t off;
	unsigned k = stage_chunk_of(i, __builtin_ctz(s->h->arrays[a].base), &off);
	return s->chunk[a][k] + off * s->h->arrays[a].elem_bytes;
}

static inline double *stage_cell(const struct stage *s, uint64_t i)
{
	uint64_t off;
	unsigned k = stage_chunk_of(i, STAGE_CELLS_LOG2, &off);
	return (double *)(void *)s->chunk[STAGE_CELLS][k] + off;
}

static inline const struct family_def *stage_family(const struct stage *s, uint32_t i)
{
	return stage_elem(s, STAGE_FAMILIES, i);
}

static inline const struct stage_slot_rec *stage_slot(const struct stage *s, uint64_t i)
{
	return stage_elem(s, STAGE_SLOTS, i);
}

static inline const char *stage_key(const struct stage *s, const struct stage_slot_rec *slot)
{
	return slot->keylen ? (const char *)stage_elem(s, STAGE_KEYS, slot->key) : "";
}

/* Records cell += delta (or = value) into the pending change: 0, or -1 if
 * the change has no room left for another cell (nothing recorded).  The
 * _at forms take where the cell is mapped (stage_cell, kept by the caller
 * while s->gen stays): the request path's, with no index arithmetic. */
int stage_add_at(struct stage *s, uint64_t cell, double *at, double delta);
int stage_assign_at(struct stage *s, uint64_t cell, double *at, double value);
static inline int stage_add(struct stage *s, uint64_t cell, double delta)
{
	return s->h ? stage_add_at(s, cell, stage_cell(s, cell), delta) : -1;
}
static inline int stage_assign(struct stage *s, uint64_t cell, double value)
{
	return s->h ? stage_assign_at(s, cell, stage_cell(s, cell), value) : -1;
}
/* What cell (mapped at at) holds with the pending change applied. */
double stage_value_at(const struct stage *s, uint64_t cell, const double *at);
/* The same for cells [first, first + n) of one series, into out. */
void stage_values(const struct stage *s, uint64_t first, uint32_t n, double *out);
/* How many more cells the pending change can take. */
uint32_t stage_room(const struct stage *s);

/* An exemplar record: its class and index, never 0 (0: none). */
#define STAGE_EX_REF(class, index) (((uint64_t)(class) << 56) | ((uint64_t)1 << 55) | (uint64_t)(index))
#define STAGE_EX_CLASS(ref) ((unsigned)((ref) >> 56))
#define STAGE_EX_INDEX(ref) ((ref) & (((uint64_t)1 << 55) - 1))
/* Records an exemplar for a series' bucket (0 for a counter), in the
 * pending change: *ref is its record (0: none yet, one is made); labels
 * as names_encode_exemplar made them.  The record's spare copy is written
 * now, its sel moves in the change.  Labels that outgrow the record get a
 * record of a larger class (*ref changes), and the change retires the old
 * one.  0, or -1 if the change is full or no room could be had (counted
 * in exemplars_dropped). */
int stage_exemplar(struct stage *s, uint64_t *ref, uint32_t slot, uint32_t bucket, double value,
                   double timestamp, const char *labels, uint32_t len);
/* Publishes the pending change atomically. */
void stage_commit(struct stage *s);

/* Tells readers that this process is about to fold its file for the last
 * time (see stage_header.closing). */
void stage_mark_closing(struct stage *s);

/* Test hook: called, when set, at named points of a final fold (registry.c:
 * "closing", "folded", "unlinked", "forgotten"), of a scrape's batch of folds
 * (metrics/batch.c: "batch-committed") and of a chunk's growth (stage.c:
 * "grow-begin", "grow-allocated", "grow-mapped", "grow-published"), where a
 * test stops or kills the process (or a benchmark times the growth). */
extern void (*stage_test_hook)(const char *where);

/* Test hook: a commit interrupted after napply cell writes. */
void stage_commit_torn(struct stage *s, uint32_t napply);
/* Test hook: when >= 0, the next stage_commit is torn after that many
 * writes (stage_commit_torn; the caller then kills itself), and it goes
 * back to -1. */
extern long stage_test_tear;

/* ---- another process's file: snapshots ------------------------------------ */

/* A series in a snapshot: its key in the snapshot's own memory. */
struct stage_slot {
	uint32_t family;
	uint32_t keylen;
	uint64_t cell;   /* its first cell in cells */
	const char *key; /* keylen bytes of label values, each NUL-terminated */
	uint32_t created;
};

/* A series' bucket's latest exemplar in a snapshot. */
struct stage_exemplar {
	uint32_t slot, bucket;
	uint32_t sel; /* 0: none (x unused) */
	uint32_t pad;
	struct exemplar x;
};

/* Where a snapshot's keys are: blocks that never move, so a slot's key
 * pointer stays valid while slots are added. */
struct stage_keys {
	struct stage_keys *next;
	size_t used, cap;
	char bytes[];
};
/* A copy of key in snap's key blocks, or NULL out of memory. */
struct stage_snapshot;
const char *stage_keep_key(struct stage_snapshot *snap, const char *key, uint32_t len);

/* A consistent copy of an incarnation's file, taken by a reader. */
struct stage_snapshot {
	char path[PATH_BYTES];
	char name[NAME_BYTES]; /* file name: the incarnation's identity in the store */
	int64_t pid;
	uint64_t start_time;
	char boot_id[STAGE_BOOT_ID_MAX];
	uint64_t seq;
	uint32_t nfamilies, nslots, dropped;
	uint64_t ncells;
	struct family_def *families;
	struct stage_slot *slots;
	double *cells;
	uint32_t nexemplars, exemplars_dropped;
	struct stage_exemplar *exemplars; /* sel final (log replayed); checked */
	uint32_t cap_families, cap_slots, cap_exemplars; /* allocated */
	size_t cap_cells;
	struct stage_keys *keys;
	int live;
};

/* Copies the incarnation file at path; live tells whether its process runs.
 * The file was written by another process: everything in it is checked
 * before use.  Returns 0; -1 if it is unreadable, not a regular file, or
 * busy for too long; STAGE_INVALID if it is damaged (a bad family, slot,
 * key or redo log), which no retry will mend. */
#define STAGE_INVALID -2
int stage_snapshot(const char *path, struct stage_snapshot *snap);
void stage_snapshot_free(struct stage_snapshot *snap);

/* Another process's file, mapped read-only and kept mapped (mapped further
 * as it grows): each stage_view_read copies only what is new since the
 * last one (families, slots and keys never change once published), the
 * cells, and the exemplars whose selector moved.  snap holds everything
 * validated so far and the last consistent cells. */
struct stage_old_layout;
struct stage_view {
	const unsigned char *base; /* the mapping */
	size_t size;               /* mapped */
	int fd;                    /* kept to see the file grow; -1 for an old layout */
	const struct stage_old_layout *old; /* an earlier release's file, or NULL */
	unsigned base_log2[STAGE_ARRAYS];   /* of this file's arrays */
	dev_t dev;
	ino_t ino;
	struct stage_snapshot snap;
	double *scratch; /* the next copy of the cells, swapped in when consistent */
	size_t cap_scratch;
	/* exemplar records (by class, index) -> snap.exemplars, and each one's
	 * last copied sel; how many records of each class are known */
	uint32_t *ex_at[STAGE_EX_CLASSES];
	uint32_t ex_known[STAGE_EX_CLASSES], cap_ex_at[STAGE_EX_CLASSES];
	unsigned char *ex_dirty; /* per snapshot exemplar: copied, not yet checked */
	uint32_t cap_ex_dirty;
	uint64_t off[STAGE_ARRAYS][STAGE_CHUNKS]; /* chunk offsets checked so far (0: not yet) */
	/* families, slots and exemplars taken into snap's arrays (checked),
	 * which snap's counts show once a read succeeds */
	uint32_t took_families, took_slots, took_exemplars;
	uint64_t took_cells; /* the cell count those slots were checked against */
	/* an old layout's exemplars, copied whole at each read */
	struct stage_exemplar *old_ex;
	uint32_t cap_old_ex;
};
/* Maps the file at path (a regular file of a layout this release reads).
 * 0, -1 unreadable, STAGE_INVALID not a staging file. */
int stage_view_open(const char *path, struct stage_view *v);
/* Brings v->snap up to date.  live: whether the writer runs (a change it
 * holds open is waited for, a dead one's is replayed).  0; -1 busy for
 * too long (v->snap keeps the last consistent copy); STAGE_INVALID damaged. */
int stage_view_read(struct stage_view *v, int live);
int stage_view_closing(const struct stage_view *v);
void stage_view_close(struct stage_view *v);

/* The same for an earlier release's file (stage_old.c), called by the above. */
int stage_old_read(struct stage_view *v, int live);

#endif
