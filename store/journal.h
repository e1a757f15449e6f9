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
 * complete).  Packed by journal_pack.c, checked and unpacked by
 * journal_unpack.c (this version's records and 0.3.0's), summed by
 * journal_read.c; the files are journal.c.
 *
 * Record layout, version 2 (native byte order; same host only), every part
 * 8-aligned from the record's start; no count has a limit but the record's
 * length (u32):
 *   u32 magic "PFJ2", u32 length (whole record, a multiple of 8), u32
 *   check (journal_check: FNV-1a in 64 bits over the record's 8-byte
 *   words but the one it is in, folded to 32), u32 0; u32 nfamilies, u32
 *   nseries, u32 nexemplars, u32 0;
 *   per family: u32 bytes (the whole entry), u8 type, u8 nlabels,
 *     u8 nbuckets, u8 0, u16 name length, u16 help length; name, help, then
 *     per label u8 length + name; pad; f64 buckets[nbuckets]; then fields
 *     to the entry's end, each u16 tag, u16 size, u32 0, size bytes, pad:
 *     tag 1, native buckets: i32 schema, u32 0, f64 zero threshold.  A
 *     field a definition does not have is left out (its value is 0), so a
 *     definition that grows adds a tag, not a version; an unknown tag
 *     makes the record unreadable (refused whole, counted).
 *   per series: u32 family (index in this record), u32 key length; key
 *     (label values, each NUL-terminated); pad; f64 cells[] (the family's
 *     cells but a native part); with native buckets, the native part,
 *     sparse: f64 head[7] (count, sum, zero count, zero threshold, schema,
 *     the two windows' first indexes: native.h), u32 n, u32 0, u16 at[n]
 *     (the non-empty buckets' places in the two windows, 0-159 positive,
 *     160-319 negative, increasing); pad; f64 counts[n].
 *   per exemplar: u32 series (index in this record), u32 bucket, u32
 *     labels length, u32 0, f64 value, f64 timestamp; labels
 *     (name\0value\0...); pad.
 * Version 1 (0.3.0, "PFJ1"), still read: the check is FNV-1a (hash.h) of
 * every byte after it, a byte at a time; u16 nfamilies and u16 nslots in
 * the header's last word; families without the leading u32 and with the
 * native part as flag 1 in the byte after nbuckets (then i32 schema, u32
 * 0, f64 zero threshold after the buckets); series with u16 family, u16
 * key length, u32 0 and every cell (a native part's 327); then, if any,
 * u32 nexemplars, u32 0 and exemplars with u16 series, u16 bucket.
 * Everything read back is checked: a record is taken whole or not at all.
 */
#ifndef PROMFCGI_JOURNAL_H
#define PROMFCGI_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/stage.h"

#define JOURNAL_FILE "journal"
#define JOURNAL_MAGIC 0x324a4650u    /* "PFJ2": the records this release writes */
#define JOURNAL_MAGIC_V1 0x314a4650u /* "PFJ1": 0.3.0's, still read */
#define JOURNAL_HEADER_BYTES 16
#define JOURNAL_TAG_NATIVE 1
#define JOURNAL_PAD8(n) (((n) + 7u) & ~(size_t)7u)
/* How long a scrape waits for appenders that opened a journal before it
 * was renamed aside (they hold it for one write). */
#define JOURNAL_QUIESCE_MS 200

enum journal_part { JOURNAL_TOTALS, JOURNAL_GAUGES };

/* The check of a version 2 record of len bytes (a multiple of 8, at least
 * JOURNAL_HEADER_BYTES): a word at a time, a CGI process computes it at
 * every request and a drain at every record. */
static inline uint32_t journal_check(const unsigned char *rec, size_t len)
{
	uint64_t h = 14695981039346656037u, w;
	memcpy(&w, rec, 8); /* magic and length */
	h = (h ^ w) * 1099511628211u;
	for (size_t at = 16; at + 8 <= len; at += 8) {
		memcpy(&w, rec + at, 8);
		h = (h ^ w) * 1099511628211u;
	}
	return (uint32_t)(h ^ (h >> 32));
}

/* Packs s's counters and histograms (JOURNAL_TOTALS) or its gauges
 * (JOURNAL_GAUGES) into a new record; *out is malloc'd.  0, or -1 (out of
 * memory, or a record past 4 GiB). */
int journal_pack(const struct stage *s, enum journal_part part, char **out, size_t *len);

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
