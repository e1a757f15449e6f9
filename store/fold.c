/* SPDX-License-Identifier: MIT */
/*
 * fold.c — a staging snapshot as the store's plain rows (see fold.h): each
 * slot a row (its cells, or NULL where they would lie past the snapshot's),
 * each series' bucket's current exemplar an exemplar row.
 */
#include <stdlib.h>

#include "store/fold.h"

struct rows {
	struct db_incarnation inc;
	struct db_row *rows;
	struct db_exemplar_row *exemplars;
};

static int rows_of(const struct stage_snapshot *snap, struct rows *r)
{
	r->rows = malloc((snap->nslots ? snap->nslots : 1) * sizeof *r->rows);
	r->exemplars = malloc((snap->nexemplars ? snap->nexemplars : 1) * sizeof *r->exemplars);
	if (!r->rows || !r->exemplars)
		return -1;
	for (uint32_t i = 0; i < snap->nslots; i++) {
		const struct stage_slot *s = &snap->slots[i];
		uint64_t ncells = s->family < snap->nfamilies ? snap->families[s->family].ncells : 0;
		r->rows[i] = (struct db_row){
		    .family = s->family,
		    .slot = i,
		    .key = s->key,
		    .keylen = s->keylen,
		    .cells = s->cell <= snap->ncells && ncells <= snap->ncells - s->cell
		                 ? &snap->cells[s->cell]
		                 : NULL,
		    .created = s->created,
		};
	}
	uint32_t nx = 0;
	for (uint32_t i = 0; i < snap->nexemplars; i++) {
		const struct stage_exemplar *e = &snap->exemplars[i];
		if (e->sel)
			r->exemplars[nx++] = (struct db_exemplar_row){e->slot, e->bucket, &e->x};
	}
	r->inc = (struct db_incarnation){
	    .name = snap->name,
	    .path = snap->path,
	    .seq = snap->seq,
	    .families = snap->families,
	    .nfamilies = snap->nfamilies,
	    .rows = r->rows,
	    .nrows = snap->nslots,
	    .exemplars = r->exemplars,
	    .nexemplars = nx,
	};
	return 0;
}

int fold_snapshot_in(struct db *db, const struct stage_snapshot *snap, int retire,
                     const struct db_known *known)
{
	struct rows r;
	int rc = rows_of(snap, &r) == 0 ? db_fold_in(db, &r.inc, retire, known) : DB_FOLD_ERROR;
	free(r.rows);
	free(r.exemplars);
	return rc;
}

int fold_snapshot(struct db *db, const struct stage_snapshot *snap, int retire)
{
	struct rows r;
	int rc = rows_of(snap, &r) == 0 ? db_fold(db, &r.inc, retire) : DB_FOLD_ERROR;
	free(r.rows);
	free(r.exemplars);
	return rc;
}
