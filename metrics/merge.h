/* SPDX-License-Identifier: MIT */
/*
 * merge.h — what each worker adds to the store's aggregate in one scrape
 * (merge.c: "the rule"), added in place into the output cells; and the
 * exemplars over the store and every worker, and the gauges of one-shot
 * processes in flight (their markers).
 */
#ifndef PROMFCGI_MERGE_H
#define PROMFCGI_MERGE_H

#include "store/db.h"
#include "metrics/view.h"
#include "metrics/workers.h"

/* The checkpoints a scrape adds: of incarnations that no worker it read
 * stands for (merge.c, "the rule"), each row's series and cells. */
struct absent {
	uint32_t n, cap;
	struct absent_row {
		uint32_t ser;    /* view series */
		uint32_t ncells; /* its family's, or its classic ones */
		size_t cells;    /* in pool */
	} *rows;
	double *pool;
	size_t npool, cap_pool;
};
void merge_absent_free(struct absent *a);

/* Reads each worker (after S, the view's snapshot) and decides what it
 * adds, mapping its new families and series into the view; reads into a
 * the checkpoints no worker stands for.  1 if the scrape must start over
 * from a new S, else 0. */
int merge_decide(struct workers *ws, struct view *v, struct db *db, struct absent *a);
/* Adds the workers' parts and those checkpoints to out (the store's cells
 * laid out). */
void merge_workers(const struct workers *ws, struct view *v, const struct absent *a,
                   double *out);

/* Each series' latest exemplars over the store and every worker: *out gets
 * an array by view series (NULL when there are none at all); *dropped adds
 * what live workers refused for lack of an exemplar slot.  0, or -1 out
 * of memory. */
int merge_exemplars(const struct workers *ws, const struct view *v, struct exemplar ***out,
                    unsigned *dropped);
void merge_exemplars_free(struct exemplar **ex, uint32_t nsers);

/* One-shot processes' markers (journal.h): their gauges while they hold
 * them, read after S like the workers. */
struct marker {
	struct stage_snapshot snap;
	uint32_t *ser; /* slot -> view series, VIEW_NONE */
};
/* Reads the markers r lists into *out (their gauges' series added to the
 * view); returns how many are held. */
uint32_t merge_read_markers(struct view *v, const char *dir, const struct round *r,
                            struct marker **out);
void merge_markers(const struct view *v, const struct marker *m, uint32_t n, double *out);
void merge_markers_free(struct marker *m, uint32_t n);

#endif
