/* SPDX-License-Identifier: MIT */
/*
 * db_gauge.c — the ended participant of a gauge's, an info's or a state
 * set's series row (store/gauge.h): what a process leaves there when it
 * ends, by its family's mode.  The row's first participant is the
 * command-line tool's (db_record.c); a fold changes only the second.
 *
 * Why at retirement only: since schema 5 a live incarnation's folds write
 * its checkpoint (db_checkpoint.c), never the aggregate, and a scrape reads
 * its values from its file (metrics/merge.c).  So a sum gauge's ended
 * process adds its final value (not a difference: nothing of it was added
 * while it lived); a max, min or most recent gauge's, or a state set's,
 * last value joins by gauge_combine; a live mode keeps nothing.  An
 * incarnation folded before schema 5 (aggregated) adds a sum's staged -
 * folded at each fold instead (db_fold.c), as 0.3.0's folds did counts.
 */
#include "store/db_internal.h"
#include "store/gauge.h"

static int apply_add(double *cells, const struct family_def *def, void *arg)
{
	cells[def->ncells] += *(const double *)arg;
	return 0;
}

static int apply_join(double *cells, const struct family_def *def, void *arg)
{
	gauge_combine((int)def->type, (int)def->mode, cells + def->ncells, arg);
	return 0;
}

int db_gauge_add(struct db *db, sqlite3_int64 fam, const struct family_def *kept,
                 const struct db_row *r, double amount)
{
	if (kept->ncells != 1 || r->keylen > PF_KEY_MAX)
		return -1;
	return db_update_series(db, fam, kept, r->key, r->keylen, apply_add, &amount, r->created);
}

int db_gauge_retire(struct db *db, sqlite3_int64 fam, const struct family_def *kept,
                    const struct family_def *f, const struct db_row *r, const double *cells)
{
	if (!cells || f->ncells != kept->ncells || r->keylen > PF_KEY_MAX)
		return -1;
	switch (gauge_keep((int)kept->type, (int)kept->mode)) {
	case GAUGE_KEEP_DELTA:
		return db_gauge_add(db, fam, kept, r, cells[0]);
	case GAUGE_KEEP_LAST: {
		if (f->ncells != 2)
			return -1;
		if (!cells[1]) /* never set: changes nothing */
			return 0;
		double last[2] = {cells[0], cells[1]};
		return db_update_series(db, fam, kept, r->key, r->keylen, apply_join, last, r->created);
	}
	default:
		return 0;
	}
}

int db_gauge_checkpointed(const struct family_def *f)
{
	return !gauge_like((int)f->type) || gauge_keep((int)f->type, (int)f->mode) != GAUGE_KEEP_NONE;
}
