/* SPDX-License-Identifier: MIT */
/*
 * workers.h — the workers a scrape keeps between scrapes (workers.c): each
 * staging file mapped once (stage_view), with a pidfd to learn of its
 * process's end, and its families and slots mapped to the view's; and a
 * round, one look at the staging directory and at whether each process it
 * lists still runs.
 */
#ifndef PROMFCGI_WORKERS_H
#define PROMFCGI_WORKERS_H

#include <stdint.h>

#include "store/hash.h"
#include "store/path.h"
#include "store/stage.h"
#include "metrics/view.h"

/* What a worker's counters add to a scrape (merge.c: "the rule"). */
enum worker_adds { ADD_NONE, ADD_STAGED, ADD_DELTA };

struct worker {
	struct stage_view v;
	int pidfd;      /* -1: liveness from /proc */
	int dead;       /* sticky */
	int live;       /* this round */
	int present;    /* listed by this round's readdir */
	int damaged;
	int retiring;   /* retired by this scrape's folds: to unlink and forget */
	int done;       /* unlinked (by us), or set aside: drop the mapping */
	uint32_t gen;   /* the view's gen its maps were made for */
	uint32_t inc_gen; /* the view's inc_gen its rows were found for */
	uint32_t nfam_mapped, nmapped;
	uint32_t *fam_map;  /* file family -> view family, VIEW_NONE */
	uint32_t *slot_ser; /* slot -> view series, VIEW_NONE */
	uint32_t cap_fam_map, cap_slot_ser;
	const struct incarnation *inc; /* its rows in the view (of gen), NULL: none */
	enum worker_adds mode;         /* what its counters add this scrape */
};

struct workers {
	struct worker **w;
	uint32_t n, cap;
	struct hash_table by_name; /* empty (size 0) if it could not grow: a scan then */
};

/* File names of one kind in the staging directory. */
struct names {
	char (*v)[NAME_BYTES];
	uint32_t n, cap;
};

/* One look at the staging directory: the drained journals and the markers
 * it lists, and how many staging files. */
struct round {
	struct names journals, markers;
	unsigned files;
};

/* The worker whose file has that name, or NULL. */
struct worker *workers_named(const struct workers *ws, const char *name);
/* Drops the workers marked done, or no longer listed and not live (all:
 * every worker, and the table's memory). */
void workers_sweep(struct workers *ws, int all);

/* Lists dir into r: each staging file a worker (mapped when new: its maps
 * then of no view generation yet), present set for those listed. */
void workers_scan(struct workers *ws, const struct view *v, const char *dir, struct round *r);
/* Whether each worker runs, learnt now: one poll over every pidfd. */
void workers_watch(struct workers *ws);
/* Maps w's families and slots to the view's, the new ones, or all of them
 * for a view made anew; finds its incarnation's rows after a read. */
void workers_map(struct worker *w, struct view *v);
/* Marks in used (the view's series, then its families) those a worker maps. */
void workers_mark_used(const struct workers *ws, const struct view *v, unsigned char *used);

/* A damaged file: a dead worker's is moved out of the scan (renamed
 * without its "w-"), kept for a post-mortem; a live worker's only
 * skipped.  Either is logged. */
void worker_set_aside(const char *path, const char *name, int live);

void round_free(struct round *r);

#endif
