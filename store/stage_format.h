/* SPDX-License-Identifier: MIT */
/*
 * stage_format.h — the layout of a staging file, version 4: what the
 * writer (stage.c, stage_write.c) puts where, and all a reader
 * (stage_read.c) may rely on.  Native byte order; same host only.
 *
 *   0             +----------------------------------------------------+
 *                 | header: magic, version, the incarnation's identity |
 *                 | the arrays: element size, elements in chunk 0      |
 *                 | counts (published), dropped, closing, seq          |
 *                 | the redo ring: written, last                       |
 *                 | chunk table [array][k] -> file offset (0: not yet) |
 *                 | ring[STAGE_RING] redo log entries                  |
 *   header_bytes  +----------------------------------------------------+
 *                 | chunk: families 0..15                              |
 *                 | chunk: slots 0..1023                               |
 *                 | chunk: cells 0..4095                               |
 *                 | chunk: key bytes 0..16383                          |
 *                 | chunk: slots 1024..3071     (in the order made)    |
 *                 | ...                                                |
 *                 +----------------------------------------------------+
 *
 * Arrays.  Everything that grows is an array of fixed-size elements:
 * families (one struct family_def each, of the writer's size: a reader
 * zero-fills what a smaller record lacks, so family_def may grow without
 * a new version), slots (one per series), cells (doubles), key bytes (the
 * series' label values, variable length) and exemplar records in four
 * size classes (64, 128, 256 or 512 bytes of labels).  Array a is kept in
 * chunks that double: chunk k holds elements [base(2^k - 1), base(2^(k+1)
 * - 1)), base a power of two, so an index finds its chunk with one bit
 * scan (stage_chunk_of).  Chunks sit anywhere after the header, each at a
 * page-aligned offset the chunk table names; nothing ever moves, so the
 * writer maps each chunk once and its pointers stay valid.  A series'
 * cells and its key never straddle two chunks (the writer skips to the
 * next chunk's start), so each is one run of memory.
 *
 * Growth, crash-safe.  A new chunk is allocated at the file's end with
 * posix_fallocate (blocks really there: no SIGBUS on a full disk, which
 * fails the allocation instead), mapped, and only then named in the chunk
 * table with a release store.  Then, as before, an element is written
 * before the count that publishes it.  A kill at any instant leaves the
 * counts naming only whole elements in chunks the table names; space
 * allocated and not yet named is ignored.
 *
 * Changes: the redo ring.  Cells (and exemplar selectors) change only
 * through a commit: its entries are appended to the ring (a header entry,
 * STAGE_LOG_COMMIT, with the entry count and the seq the commit ends at,
 * then the entries, 16 bytes each), `written` (entries ever appended) and `last` (where
 * this commit's header is) are stored, seq becomes odd, the values are
 * written, seq becomes even.  A reader of a dead writer whose seq is odd
 * replays the commit at `last`: all or nothing at any instant.  A live
 * reader copies the cells without waiting for a quiet moment: it notes
 * `written` before and after its copy and then applies, in order, the
 * entries of every commit in between (they hold new values, not deltas),
 * which gives the state after the last of them; the ring holds STAGE_RING
 * entries, so a reader whose copy outlasted that many is told to copy
 * again (stage_read.c).
 */
#ifndef PROMFCGI_STAGE_FORMAT_H
#define PROMFCGI_STAGE_FORMAT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store/model.h"
#include "store/proc.h"

#define STAGE_MAGIC 0x31474650u /* "PFG1" */
#define STAGE_VERSION 4u        /* 1, 2, 3: fixed layouts (stage_old.h) */
#define STAGE_CHUNKS 32         /* chunks an array may have: base * (2^32 - 1) elements */
/* Cell writes one change can hold.  An observation that moves a native
 * window or lowers its schema rewrites up to NATIVE_CELLS (327) cells,
 * so one change holds three such rewrites and the rest of a request; an
 * observation that would not fit is refused whole (registry.c). */
#define STAGE_LOG_MAX 1024
/* Entries the redo ring holds: a reader's copy may span commits of up to
 * STAGE_RING - STAGE_LOG_MAX - 1 entries. */
#define STAGE_RING 8192
#define STAGE_EX_CLASSES 4
#define STAGE_EX_LABELS(c) (64u << (c)) /* label bytes of an exemplar record of class c */

enum stage_array {
	STAGE_FAMILIES,  /* family records */
	STAGE_SLOTS,     /* struct stage_slot_rec */
	STAGE_CELLS,     /* double */
	STAGE_KEYS,      /* label value bytes */
	STAGE_EXEMPLARS, /* + class: exemplar records of that class */
	STAGE_ARRAYS = STAGE_EXEMPLARS + STAGE_EX_CLASSES
};

/* One array's shape, as its writer chose it. */
struct stage_array_info {
	uint32_t elem_bytes;
	uint32_t base; /* elements in chunk 0: a power of two */
};

/* A redo entry, or the header of a commit in the ring.  target is an
 * array (STAGE_CELLS, or STAGE_EXEMPLARS + class for an exemplar record's
 * sel) in its top 8 bits and an index in the others; a commit header's is
 * STAGE_LOG_COMMIT with its number of entries, and its value the seq the
 * commit ends at (an integer below 2^53: exact in a double). */
struct stage_log_entry {
	uint64_t target;
	double value; /* the cell's new value, or the exemplar record's new sel */
};
#define STAGE_LOG_TARGET(array, index) (((uint64_t)(array) << 56) | (uint64_t)(index))
#define STAGE_LOG_ARRAY(target) ((uint32_t)((target) >> 56))
#define STAGE_LOG_INDEX(target) ((target) & (((uint64_t)1 << 56) - 1))
#define STAGE_LOG_COMMIT 0xffu

/* A series: its family, its cells and its label values (each NUL-terminated). */
struct stage_slot_rec {
	uint32_t family;
	uint32_t keylen;
	uint64_t cell;    /* its first cell */
	uint64_t key;     /* its first key byte */
	uint32_t created; /* Unix seconds the series was made (0: unknown), for _created */
	uint32_t pad;
};

/* The latest exemplar of one counter series or histogram bucket: two
 * copies and a selector.  sel 0: none yet; otherwise copy[sel & 1] is
 * current, and sel only goes up (skipping 0 when it wraps, parity kept),
 * so a reader that saw this sel before has this copy already.  The writer
 * fills the other copy with plain stores, and the new sel goes through the
 * redo ring with the counts of its change.  A record whose labels outgrew
 * its class is left at sel 0 by the same change that makes a record of a
 * larger class current. */
struct stage_ex_rec {
	uint32_t slot, bucket, sel, cap; /* cap: label bytes of each copy */
};
struct stage_ex_copy {
	double value, timestamp; /* timestamp: Unix seconds */
	uint32_t len, pad;       /* label bytes used, then cap bytes of labels */
};
#define STAGE_EX_BYTES(cap) (sizeof(struct stage_ex_rec) + 2 * (sizeof(struct stage_ex_copy) + (cap)))

struct stage_header {
	uint32_t magic;
	uint32_t version;
	int64_t pid;
	uint64_t start_time; /* clock ticks after boot, /proc/PID/stat field 22 */
	char boot_id[STAGE_BOOT_ID_MAX];
	uint32_t header_bytes; /* where chunks may begin */
	uint32_t ring;         /* entries of log[]: a power of two */
	uint32_t log_max;      /* entries one commit may have */
	uint32_t pad0;
	struct stage_array_info arrays[STAGE_ARRAYS];
	/* Published elements of each array (cells, keys: the next free index,
	 * the gaps at chunk ends included).  Slots are published after the
	 * cells and keys they use: load the slots' count first. */
	_Atomic uint64_t count[STAGE_ARRAYS];
	_Atomic uint32_t dropped;           /* series refused (no room on disk or in memory) */
	_Atomic uint32_t exemplars_dropped; /* exemplars refused */
	/* Set by the process before its final fold (pf_close), after its last
	 * change: from then on its rows in the store may be retired and
	 * forgotten at any moment (metrics/merge.c, "the rule", relies on it). */
	_Atomic uint32_t closing;
	uint32_t pad1;
	_Atomic uint64_t seq;
	_Atomic uint64_t written; /* ring entries ever appended (log[written % ring] is next) */
	uint64_t last;            /* ring position of the last commit's header */
	_Atomic uint64_t chunk[STAGE_ARRAYS][STAGE_CHUNKS];
	struct stage_log_entry log[]; /* the redo ring */
};

/* The chunk of element i of an array whose chunk 0 holds 2^base_log2
 * elements, and (*off) its place in it. */
static inline unsigned stage_chunk_of(uint64_t i, unsigned base_log2, uint64_t *off)
{
	uint64_t q = (i >> base_log2) + 1;
	unsigned k = 63u - (unsigned)__builtin_clzll(q);
	*off = i - ((((uint64_t)1 << k) - 1) << base_log2);
	return k;
}

/* The first element of chunk k, and how many it holds. */
static inline uint64_t stage_chunk_first(unsigned k, unsigned base_log2)
{
	return (((uint64_t)1 << k) - 1) << base_log2;
}

static inline uint64_t stage_chunk_len(unsigned k, unsigned base_log2)
{
	return (uint64_t)1 << (k + base_log2);
}

/* How many chunks hold elements [0, n). */
static inline unsigned stage_chunks_for(uint64_t n, unsigned base_log2)
{
	uint64_t off;
	return n ? stage_chunk_of(n - 1, base_log2, &off) + 1 : 0;
}

/* The header's bytes with a ring of `ring` entries. */
static inline size_t stage_header_size(uint32_t ring)
{
	return sizeof(struct stage_header) + (size_t)ring * sizeof(struct stage_log_entry);
}

#endif
