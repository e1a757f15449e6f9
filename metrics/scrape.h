/* SPDX-License-Identifier: MIT */
/*
 * scrape.h — fold the staging files and collect every family for /metrics
 * (scrape.c).  One store per process at a time: the metrics program's, or
 * the command-line tool's.
 */
#ifndef PROMFCGI_SCRAPE_H
#define PROMFCGI_SCRAPE_H

#include <stddef.h>

#include "store/model.h"
#include "store/pool.h"
#include "metrics/clock.h" /* CLOCK_FOLD_SECONDS, CLOCK_FOLD_STAMP */

/* How long a scrape waits for a worker holding the store's write lock. */
#define SCRAPE_BUSY_MS 2000
/* A scrape truncates the WAL when it has grown past this. */
#define SCRAPE_WAL_TRIM_BYTES (1024 * 1024)

/* Fills out; on error returns -1 with a one-line reason. */
int scrape_collect(const char *db_path, struct collection *out, char *reason, size_t len);
void scrape_close(void);

/* Between requests (pf_serve's loop calls it after each, as the hook
 * pf_metrics_respond sets: http/serve.h): folds the live workers into the
 * store when CLOCK_FOLD_SECONDS have passed since that was last done, so
 * that a scrape never pays for it; does nothing in a process that has not
 * scraped. */
void scrape_idle(void);

/* What the last scrape_collect of this process did. */
struct scrape_stats {
	unsigned files;    /* staging files seen */
	unsigned live;     /* of live workers */
	unsigned retired;  /* dead workers folded for the last time and removed */
	unsigned errors;   /* folds that failed (store locked, full, corrupt) */
	unsigned exemplars_dropped; /* by live workers, for lack of an exemplar slot */
	unsigned store_rows; /* series rows read from the store (only those that changed) */
	double db_bytes, wal_bytes;
	/* the pool facts of the live workers that have them (store/pool.h),
	 * read with their files, and when (CLOCK_MONOTONIC seconds) */
	const struct pool_facts *pool;
	size_t npool;
	double pool_now;
};
const struct scrape_stats *scrape_last_stats(void);

#endif
