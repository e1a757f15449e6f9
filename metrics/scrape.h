/* SPDX-License-Identifier: MIT */
/*
 * scrape.h — fold the staging files and collect every family for /metrics.
 */
#ifndef PROMFCGI_SCRAPE_H
#define PROMFCGI_SCRAPE_H

#include <stddef.h>

#include "store/model.h"

/* How long a scrape waits for a worker holding the store's write lock. */
#define PF_SCRAPE_BUSY_MS 2000
/* Live workers are folded into the store this often (seconds;
 * PROMFCGI_FOLD_SECONDS overrides), durably: what a power cut can lose.
 * The file <db>.folded-at (PF_FOLD_STAMP) tells when it was last done
 * (by pf_scrape_idle; by a scrape if twice that has passed). */
#define PF_FOLD_SECONDS 60
#define PF_FOLD_STAMP ".folded-at" /* after the store's path */
/* A scrape truncates the WAL when it has grown past this. */
#define PF_WAL_TRIM_BYTES (1024 * 1024)

/* Fills out; on error returns -1 with a one-line reason. */
int pf_scrape(const char *db_path, struct pf_collection *out, char *reason, size_t len);
void pf_scrape_close(void);

/* Between requests (pf_serve calls it after each): folds the live workers
 * into the store when PF_FOLD_SECONDS have passed since that was last done,
 * so that a scrape never pays for it; does nothing in a process that has
 * not scraped. */
void pf_scrape_idle(void);

/* What the last pf_scrape of this process did. */
struct pf_scrape_stats {
	unsigned files;    /* staging files seen */
	unsigned live;     /* of live workers */
	unsigned retired;  /* dead workers folded for the last time and removed */
	unsigned errors;   /* folds that failed (store locked, full, corrupt) */
	unsigned exemplars_dropped; /* by live workers, for lack of an exemplar slot */
	double db_bytes, wal_bytes;
};
const struct pf_scrape_stats *pf_scrape_stats(void);

#endif
