/* SPDX-License-Identifier: MIT */
/*
 * scrape.h — fold the staging files and collect every family for /metrics.
 */
#ifndef PROMFCGI_SCRAPE_H
#define PROMFCGI_SCRAPE_H

#include <stddef.h>

#include "store/model.h"

/* How long a scrape waits for a worker holding the store's write lock. */
#define SCRAPE_BUSY_MS 2000
/* Live workers are folded into the store this often (seconds;
 * PROMFCGI_FOLD_SECONDS overrides), durably: what a power cut can lose.
 * The file <db>.folded-at (SCRAPE_FOLD_STAMP) tells when it was last done
 * (by scrape_idle; by a scrape if twice that has passed). */
#define SCRAPE_FOLD_SECONDS 60
#define SCRAPE_FOLD_STAMP ".folded-at" /* after the store's path */
/* A scrape truncates the WAL when it has grown past this. */
#define SCRAPE_WAL_TRIM_BYTES (1024 * 1024)

/* Fills out; on error returns -1 with a one-line reason. */
int scrape_collect(const char *db_path, struct collection *out, char *reason, size_t len);
void scrape_close(void);

/* Between requests (pf_serve calls it after each): folds the live workers
 * into the store when SCRAPE_FOLD_SECONDS have passed since that was last done,
 * so that a scrape never pays for it; does nothing in a process that has
 * not scraped. */
void scrape_idle(void);

/* What the last scrape_collect of this process did. */
struct scrape_stats {
	unsigned files;    /* staging files seen */
	unsigned live;     /* of live workers */
	unsigned retired;  /* dead workers folded for the last time and removed */
	unsigned errors;   /* folds that failed (store locked, full, corrupt) */
	unsigned exemplars_dropped; /* by live workers, for lack of an exemplar slot */
	double db_bytes, wal_bytes;
};
const struct scrape_stats *scrape_last_stats(void);

#endif
