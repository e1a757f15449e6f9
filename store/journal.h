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
 * and bucket; a scrape keeps the latest over all records).  A record is written with one write(2) before the response's
 * last bytes leave, so a response the client has is counted; a process
 * killed mid-write leaves a torn record, which the checksum rejects (its
 * response was never complete).
 */
#ifndef PROMFCGI_JOURNAL_H
#define PROMFCGI_JOURNAL_H

#include <stddef.h>

#include "store/stage.h"

#define JOURNAL_FILE "journal"
#define JOURNAL_MAGIC 0x314a4650u /* "PFJ1" */
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

/* Renames dir/journal aside as dir/j-<unique> for a drain; path gets its
 * name.  1 renamed, 0 no journal, -1 error. */
int journal_rotate(const char *dir, char *path, size_t len);

#endif
