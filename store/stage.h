/* SPDX-License-Identifier: MIT */
/*
 * stage.h — a worker incarnation's staging file: the crash-safe, lock-free
 * place where one process accumulates its metric totals.
 *
 * Layout (fixed, native byte order; same host only):
 *   header | families[STAGE_MAX_FAMILIES] | slots[STAGE_MAX_SLOTS] | cells[STAGE_MAX_CELLS]
 *   | exemplars
 * This is version 3 (native histograms: families carry native buckets, the
 * redo log holds STAGE_LOG_MAX entries, 262,144 cells).  A file of version
 * 2 (32 log entries, 65,536 cells, families without native buckets) or 1
 * (the same without exemplars), left by a killed worker of an earlier
 * release, is read too (stage_read.c: struct stage_layout).
 * Cells hold totals *cumulative since the incarnation began* (never deltas),
 * so folding them is idempotent: the store adds staged - already_folded.
 *
 * Publication: a family or slot is written first, then its count is raised
 * with a release store; readers load counts with acquire.  Values change only
 * through stage_commit(): the new values are written to a redo log in the
 * header, seq becomes odd, the cells are written, seq becomes even.  A live
 * reader retries while seq is odd or changed (a seqlock); a reader of a dead
 * incarnation whose seq is odd replays the log, so a kill at any instant
 * leaves either all or none of a change.
 *
 * Exemplars: one slot per counter series or histogram bucket that has had
 * one, holding two copies and a selector (sel) saying which is current.  The
 * writer fills the other copy with plain stores at any time (no reader looks
 * at it), and the new sel goes through the redo log with the counts of the
 * same change: a kill leaves the old copy current, or (log replayed) the new
 * one, each whole; a live reader's seqlock covers sel like any cell.
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

#define STAGE_MAGIC 0x31474650u /* "PFG1" */
#define STAGE_VERSION 3u /* 2: exemplars after the cells; 3: native histograms */
#define STAGE_MAX_FAMILIES 64
#define STAGE_MAX_SLOTS 4096
/* 262,144 cells (2 MiB): 764 series of a histogram with 14 classic buckets
 * and native ones (343 cells each), or 16,384 of one without native. */
#define STAGE_MAX_CELLS 262144
/* Cell writes one change can hold.  An observation that moves a native
 * window or lowers its schema rewrites up to NATIVE_CELLS (327) cells,
 * so one change holds three such rewrites and the rest of a request; an
 * observation that would not fit is refused whole (registry.c). */
#define STAGE_LOG_MAX 1024
#define STAGE_MAX_EXEMPLARS 1024

struct stage_slot {
	uint32_t family;
	uint32_t cell; /* index of the first cell */
	uint32_t keylen;
	uint32_t created; /* Unix seconds the series was made (0: unknown), for _created */
	char key[PF_KEY_MAX]; /* label values, each NUL-terminated */
};

enum { STAGE_LOG_CELL = 0, STAGE_LOG_EXEMPLAR = 1 };

struct stage_log_entry {
	uint32_t cell; /* a cell, or an exemplar slot */
	uint32_t kind; /* STAGE_LOG_CELL (0 in version 1's pad), STAGE_LOG_EXEMPLAR */
	double value;  /* the cell's new value, or the exemplar slot's new sel */
};

struct stage_header {
	uint32_t magic;
	uint32_t version;
	int64_t pid;
	uint64_t start_time; /* clock ticks after boot, /proc/PID/stat field 22 */
	char boot_id[STAGE_BOOT_ID_MAX];
	_Atomic uint32_t nfamilies;
	_Atomic uint32_t nslots;
	_Atomic uint32_t ncells;
	_Atomic uint32_t dropped; /* series refused for lack of room */
	_Atomic uint64_t seq;
	uint32_t nlog;
	/* Set by the process before its final fold (pf_close), after its last
	 * change: from then on its rows in the store may be retired and
	 * forgotten at any moment (metrics/merge.c, "the rule", relies on it). */
	_Atomic uint32_t closing;
	struct stage_log_entry log[STAGE_LOG_MAX];
};

/* The latest exemplar of one counter series or histogram bucket. */
struct stage_exemplar {
	uint32_t slot;   /* the series */
	uint32_t bucket; /* 0 for a counter; a histogram's bucket (nbuckets: +Inf) */
	uint32_t sel;    /* 0: none yet; 1: copy[0] is current; 2: copy[1] */
	uint32_t pad;
	struct exemplar copy[2];
};

struct stage_exemplars {
	_Atomic uint32_t n;       /* slots in use; published like nslots */
	_Atomic uint32_t dropped; /* exemplars refused for lack of a slot */
	struct stage_exemplar e[STAGE_MAX_EXEMPLARS];
};

struct stage_file {
	struct stage_header hdr;
	struct family_def families[STAGE_MAX_FAMILIES];
	struct stage_slot slots[STAGE_MAX_SLOTS];
	double cells[STAGE_MAX_CELLS];
	struct stage_exemplars ex; /* version 2 */
};

/* Sizes of the files of earlier versions (stage_read.c checks them). */
#define STAGE_V2_SIZE 2778728u
#define STAGE_V1_SIZE 1664608u

/* A process's own, writable staging area. */
struct stage {
	struct stage_file *f;
	char path[PATH_BYTES]; /* "" when anonymous (not persisted) */
	dev_t dev;       /* the file's identity, to notice it being replaced */
	ino_t ino;
	struct stage_log_entry pending[STAGE_LOG_MAX];
	uint32_t npending;
	int depth; /* pf_begin nesting */
};

/* A consistent copy of an incarnation's file, taken by a reader. */
struct stage_snapshot {
	char path[PATH_BYTES];
	char name[NAME_BYTES]; /* file name: the incarnation's identity in the store */
	int64_t pid;
	uint64_t start_time;
	char boot_id[STAGE_BOOT_ID_MAX];
	uint64_t seq;
	uint32_t nfamilies, nslots, ncells, dropped;
	struct family_def *families;
	struct stage_slot *slots;
	double *cells;
	uint32_t nexemplars, exemplars_dropped;
	struct stage_exemplar *exemplars; /* sel final (log replayed); checked */
	uint32_t cap_families, cap_slots, cap_cells, cap_exemplars; /* allocated */
	int live;
};

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

/* Appends family *def (with ncells set); returns its index or -1 if full. */
int stage_add_family(struct stage *s, const struct family_def *def);
/* Allocates a series of family fam with key; returns slot index or -1. */
int stage_add_slot(struct stage *s, uint32_t fam, const char *key, uint32_t keylen);

/* Records cell += delta (or = value) into the pending change: 0, or -1 if
 * the change has no room left for another cell (nothing recorded). */
int stage_add(struct stage *s, uint32_t cell, double delta);
int stage_assign(struct stage *s, uint32_t cell, double value);
/* What cell holds with the pending change applied. */
double stage_value(const struct stage *s, uint32_t cell);
/* The same for cells [first, first + n), into out. */
void stage_values(const struct stage *s, uint32_t first, uint32_t n, double *out);
/* How many more cells the pending change can take. */
uint32_t stage_room(const struct stage *s);
/* The exemplar slot of a series' bucket (0 for a counter): its index, or
 * -1 if all are taken (counted in ex.dropped). */
int stage_add_exemplar(struct stage *s, uint32_t slot, uint32_t bucket);
/* Writes an exemplar into slot index's spare copy and makes it current in
 * the pending change; labels as names_encode_exemplar made them. */
int stage_exemplar(struct stage *s, uint32_t index, double value, double timestamp,
                   const char *labels, uint32_t len);
/* Publishes the pending change atomically. */
void stage_commit(struct stage *s);

/* Test hook: called, when set, at named points of a final fold (registry.c:
 * "closing", "folded", "unlinked", "forgotten") and of a scrape's batch of folds
 * (metrics/batch.c: "batch-committed"), where a test stops or kills the process. */
extern void (*stage_test_hook)(const char *where);

/* Test hook: a commit interrupted after napply cell writes. */
void stage_commit_torn(struct stage *s, uint32_t napply);
/* Test hook: when >= 0, the next stage_commit is torn after that many
 * writes (stage_commit_torn; the caller then kills itself), and it goes
 * back to -1. */
extern long stage_test_tear;

/* Copies the incarnation file at path; live tells whether its process runs.
 * The file was written by another process: everything in it is checked
 * before use.  Returns 0; -1 if it is unreadable, not a regular file, or
 * busy for too long; STAGE_INVALID if it is damaged (a bad family, slot,
 * key or redo log), which no retry will mend. */
#define STAGE_INVALID -2
int stage_snapshot(const char *path, struct stage_snapshot *snap);
void stage_snapshot_free(struct stage_snapshot *snap);

/* Tells readers that this process is about to fold its file for the last
 * time (see stage_header.closing). */
void stage_mark_closing(struct stage *s);

/* Another process's file, mapped read-only once and kept mapped: each
 * stage_view_read copies only what is new since the last one (families and
 * slots never change once published) and the cells, under the seqlock.
 * snap holds everything validated so far and the last consistent cells. */
struct stage_layout;
struct stage_view {
	const unsigned char *base; /* the mapping */
	const struct stage_layout *layout; /* of its version */
	dev_t dev;
	ino_t ino;
	struct stage_snapshot snap;
	double *scratch; /* the next copy of the cells, swapped in when consistent */
	uint32_t cap_scratch;
	struct stage_exemplar *ex_scratch; /* the same for the exemplars */
	uint32_t cap_ex_scratch;
	size_t size; /* mapped */
};
/* Maps the file at path (a regular file of the right size and magic).
 * 0, -1 unreadable, STAGE_INVALID not a staging file. */
int stage_view_open(const char *path, struct stage_view *v);
/* Brings v->snap up to date.  live: whether the writer runs (a change it
 * holds open is waited for, a dead one's is replayed).  0; -1 busy for
 * too long (v->snap keeps the last consistent copy); STAGE_INVALID damaged. */
int stage_view_read(struct stage_view *v, int live);
int stage_view_closing(const struct stage_view *v);
void stage_view_close(struct stage_view *v);


#endif
