/* SPDX-License-Identifier: MIT */
/*
 * batch.h — the folds one scrape makes (batch.c), all in one transaction:
 * the dead workers (their last fold), the drained journals, and, when the
 * fold clock says so, the live workers; and the rows of incarnations whose
 * file and process are both gone (a crash between an unlink and its
 * forget) are forgotten.  Then the retired files are unlinked, and their
 * rows forgotten, in that order: a crash between leaves a retired row
 * (never folded again) or rows without a file (orphans, forgotten later),
 * never a second count.
 */
#ifndef PROMFCGI_BATCH_H
#define PROMFCGI_BATCH_H

#include "store/db.h"
#include "metrics/clock.h"
#include "metrics/view.h"
#include "metrics/workers.h"

struct batch {
	struct db *db;
	const char *db_path, *dir; /* the store, and its staging directory */
	struct view *view;         /* as of S: its incarnations and their rows */
	struct workers *workers;
	struct fold_clock *clock;
	int no_folds; /* a fold failed: no more this scrape (the next one tries again) */
	int corrupt;  /* the failure was corruption */
	unsigned retired, errors; /* dead workers folded for the last and removed; failed folds */
};

/* Folds what r and the workers hold (live: the live workers too).  1 if it
 * wrote to the store, 0 if not (nothing to do, or it failed: see b). */
int batch_fold(struct batch *b, const struct round *r, int live);

#endif
