/* SPDX-License-Identifier: MIT */
/*
 * journal.h — the crash-safe path for one-shot processes (CGI): a process
 * that serves one request and exits appends one record of its totals to a
 * journal shared by all of them, instead of creating, mapping and removing
 * a staging file of its own; the scrape folds the journal in one
 * transaction.  While a request runs, its gauges (active_requests) are in
 * a small marker file named after the process, read by scrapes and removed
 * once its process is gone.
 *
 * Files in the staging directory (stage.h):
 *   journal       appended to by one-shot processes (O_APPEND, shared flock)
 *   j-<name>      a journal renamed aside by a scrape, folded, then removed
 *   o-<boot>-<pid>-<start>   a running one-shot process's gauges
 *
 * A record: header (magic, length, checksum), then the families it uses and
 * its series with their cells (cumulative for this process, i.e. all it
 * recorded), then its exemplars if it recorded any (the latest per series
 * and bucket; a scrape keeps the latest over all records).  A record is
 * written with one write(2) before the response's last bytes leave, so a
 * response the client has is counted; a process killed mid-write leaves a
 * torn record, which the checksum rejects (its response was never
 * complete).  Packed by journal_pack.c, read back by journal_read.c; the
 * files are journal.c.
 *
 * Record layout (native byte order; same host only), every part 8-aligned:
 *   u32 magic, u32 length (whole record), u32 check (FNV-1a of the bytes
 *   after it: hash.h), u16 nfamilies, u16 nslots;
 *   per family: u8 type, u8 nlabels, u8 nbuckets, u8 flags (1: native
 *     buckets; 0 in records of earlier releases), u16 name length,
 *     u16 help length; name, help, then per label u8 length + name; pad;
 *     f64 buckets[nbuckets]; with native buckets, i32 schema, u32 0,
 *     f64 zero threshold;
 *   per series: u16 family (index in this record), u16 key length, u32 0;
 *     key (label values, each NUL-terminated); pad; f64 cells[] (a native
 *     part's too, summed with native arithmetic when records are merged).
 *   then, if the process recorded exemplars (a record without this part is
 *   read too): u32 nexemplars, u32 0; per exemplar: u16 series (index in
 *   this record), u16 bucket, u32 labels length, f64 value, f64 timestamp;
 *   labels (name\0value\0...); pad.
 * Everything read back is checked: a record is taken whole or not at all.
 */
#ifndef PROMFCGI_JOURNAL_H
#define PROMFCGI_JOURNAL_H

#include <stddef.h>

#include "store/stage.h"

#define JOURNAL_FILE "journal"
#define JOURNAL_MAGIC 0x314a4650u /* "PFJ1" */
#define JOURNAL_HEADER_BYTES 16
#define JOURNAL_PAD8(n) (((n) + 7u) & ~(size_t)7u)
/* How long a scrape waits for appenders that opened a journal before it
 * was renamed aside (they hold it for one write). */
#define JOURNAL_QUIESCE_MS 200

enum journal_part { JOURNAL_TOTALS, JOURNAL_GAUGES };

/* Packs f's counters and histograms (JOURNAL_TOTALS) or its gauges
 * (JOURNAL_GAUGES) into a new record; *out is malloc'd.  0, or -1. */
int journal_pack(const struct stage_file *f, enum journal_part part, char **out, size_t *len);

/* Appends a record to dir/journal with one write, never waiting for a
 * scrape: a journal being drained is replaced by a new one.  0, or -1. */
int journal_append(const char *dir, const void *rec, size_t len);

/* Takes a free marker in dir (returns its fd, held until closed) and
 * writes the record into it; -1 if none can be had. */
#define JOURNAL_MARKERS_MAX 1024
int journal_mark(const char *dir, int fd, const void *rec, size_t len);
/* Whether the marker at path is held, and if so its record, into snap:
 * 1 held (snap filled), 0 free, -1 unreadable. */
int journal_read_marker(const char *path, struct stage_snapshot *snap);

/* Adds every sound record in buf[0..len) to snap: families by name (a
 * record whose family clashes with one seen is skipped), series by key,
 * cells summed.  *bad counts records rejected (torn, damaged, clashing).
 * snap must be zeroed or filled by earlier calls.  0, or -1 out of memory. */
int journal_merge(const char *buf, size_t len, struct stage_snapshot *snap, unsigned *bad);

/* Reads a whole file of records (a drained journal or a marker) into
 * snap, named after the file.  For a drained journal (wait_ms > 0) it
 * first waits, at most wait_ms, for appenders still writing; returns 1 if
 * they did not finish (try at the next scrape), 0 done, -1 unreadable. */
int journal_read(const char *path, int wait_ms, struct stage_snapshot *snap, unsigned *bad);

/* Renames dir/journal aside as dir/j-<unique> for a drain; path
 * (PATH_BYTES) gets its name.  1 renamed, 0 no journal, -1 error. */
int journal_rotate(const char *dir, char *path);

#endif
