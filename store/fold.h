/* SPDX-License-Identifier: MIT */
/*
 * fold.h — a staging snapshot (a worker's file, or a drained journal's
 * records merged) handed to the store as the plain rows db_fold takes
 * (db.h): the store's SQL knows nothing of the staging layout, and the
 * staging files nothing of SQL.
 */
#ifndef PROMFCGI_FOLD_H
#define PROMFCGI_FOLD_H

#include "store/db.h"
#include "store/stage.h"

/* db_fold (its own transaction) and db_fold_in (in the caller's) of snap:
 * the same returns. */
int fold_snapshot(struct db *db, const struct stage_snapshot *snap, int retire);
int fold_snapshot_in(struct db *db, const struct stage_snapshot *snap, int retire,
                     const struct db_known *known);

#endif
