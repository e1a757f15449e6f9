/* SPDX-License-Identifier: MIT */
/*
 * db_fold.c — folds: an incarnation's totals made durable while it lives
 * (its checkpoint: db_checkpoint.c), added to the store's aggregate when it
 * ends (retired, in the same transaction), and its row forgotten once its
 * file is gone.  A fold run twice adds nothing: a live one writes the same
 * checkpoint, a retired incarnation is never folded again.
 *
 * An incarnation folded before schema 5 (aggregated) is folded the way it
 * was until it ends: what it holds beyond what was already folded of it is
 * added to the aggregate (staged - folded, per row), and what was folded
 * moves on.  Its last fold writes no folded rows: it drops them.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/db_internal.h"

/* What the store has folded of the row (into prev when it is of ncells
 * cells): 1 a folded row, 0 none, -1 error. */
static int folded_in_store(struct db *db, sqlite3_int64 inc, uint32_t slot, uint32_t ncells,
                           double *prev)
{
	size_t bytes = (size_t)ncells * sizeof(double);
	sqlite3_stmt *get = db->st[S_FOLDED_GET];
	sqlite3_bind_int64(get, 1, inc);
	sqlite3_bind_int64(get, 2, slot);
	int found = db_row(db, S_FOLDED_GET);
	if (found == 1 && (size_t)sqlite3_column_bytes(get, 0) == bytes)
		memcpy(prev, sqlite3_column_blob(get, 0), bytes);
	db_done(db, S_FOLDED_GET);
	return found;
}

/* Folds one row: staged - folded into the aggregate, then folded = staged.
 * known, if not NULL, says what is folded of this incarnation (the caller's
 * copy of its rows, trusted under the conditions of known_valid), sparing a
 * query; an unchanged row then costs no SQL at all.  kept is the store's
 * definition of the row's family (f, or f with native buckets). */
static int fold_row(struct db *db, sqlite3_int64 inc, const struct db_row *r, sqlite3_int64 fam,
                    const struct family_def *f, const struct family_def *kept,
                    const struct db_known *known, int retire)
{
	int ncells = (int)f->ncells;
	if (ncells > MODEL_CELLS_MAX || !r->cells || r->keylen > PF_KEY_MAX)
		return -1;
	const double *staged = r->cells;
	double prev[MODEL_CELLS_MAX], delta[MODEL_CELLS_MAX], put[MODEL_CELLS_MAX];
	size_t bytes = (size_t)ncells * sizeof(double);
	int found;
	model_family_zero(f, prev);
	if (known) {
		const double *row = known->row(known->arg, r->slot, (uint32_t)ncells);
		if (row && memcmp(staged, row, bytes) == 0)
			return 0; /* unchanged: the common case, no SQL at all */
		if ((found = row != NULL))
			memcpy(prev, row, bytes);
	} else if ((found = folded_in_store(db, inc, r->slot, (uint32_t)ncells, prev)) < 0) {
		return -1;
	}
	int changed = found == 0; /* a new series is created even at zero */
	/* Counts never go back: totals older than what was folded (pages lost
	 * to a power cut) add nothing, and what was folded stays the base. */
	int counts = f->type == PF_HISTOGRAM ? (int)f->nbuckets + 1 : 1;
	int classic = f->type == PF_HISTOGRAM ? (int)f->nbuckets + 2 : ncells;
	for (int i = 0; i < classic; i++) {
		put[i] = i < counts && staged[i] < prev[i] ? prev[i] : staged[i];
		delta[i] = put[i] - prev[i];
	}
	struct db_add d = {delta, (uint32_t)classic, f->native ? staged + classic : NULL,
	                   prev + classic, 0};
	if (f->native) /* as staged for now: what it is if the native part is added */
		memcpy(put + classic, staged + classic, NATIVE_CELLS * sizeof *put);
	/* NaN never equals itself: a NaN gauge-like sum still counts as news */
	if (memcmp(put, prev, bytes) != 0)
		changed = 1;
	if (!changed)
		return 0;
	if (db_update_series(db, fam, kept, r->key, r->keylen, db_apply_add, &d, r->created) != 0)
		return -1;
	if (retire)
		return 0; /* no folded row: it is dropped with the retirement */
	if (f->native && !d.added) /* nothing added: what was folded stays the base */
		memcpy(put + classic, prev + classic, NATIVE_CELLS * sizeof *put);
	sqlite3_stmt *st = db->st[S_FOLDED_PUT];
	sqlite3_bind_int64(st, 1, inc);
	sqlite3_bind_int64(st, 2, r->slot);
	sqlite3_bind_blob(st, 3, put, (int)bytes, SQLITE_STATIC);
	return db_run(db, S_FOLDED_PUT);
}

/* Finds or creates the incarnation row (a new one: folded_seq -1, neither
 * retired nor aggregated). */
static int fold_incarnation(struct db *db, const char *name, struct db_inc *c)
{
	int r = db_inc_get(db, name, c);
	if (r != 0)
		return r < 0 ? -1 : 0;
	sqlite3_bind_text(db->st[S_INC_ADD], 1, name, -1, SQLITE_STATIC);
	if (db_run(db, S_INC_ADD) != 0)
		return -1;
	*c = (struct db_inc){.id = sqlite3_last_insert_rowid(db->h), .folded_seq = -1};
	return 0;
}

/* What the caller knows of an incarnation's rows is what the store holds
 * while its row is the same (id) and folded_seq has not moved: every fold
 * that changes a folded row moves folded_seq on, in the same transaction. */
static int known_valid(const struct db_known *k, sqlite3_int64 id, sqlite3_int64 folded_seq)
{
	return k && k->row && k->id == id && k->folded_seq == folded_seq;
}

/* An ending incarnation's exemplars join the store's, per series and
 * bucket the later one winning.  Only series whose family the store shares
 * (db_family_put) and whose row the fold made. */
static int fold_exemplars(struct db *db, const struct db_incarnation *inc)
{
	sqlite3_int64 *fam_ids = malloc((inc->nfamilies ? inc->nfamilies : 1) * sizeof *fam_ids);
	if (!fam_ids)
		return -1;
	for (uint32_t i = 0; i < inc->nfamilies; i++)
		fam_ids[i] = -1; /* not looked up yet */
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < inc->nexemplars; i++) {
		const struct db_exemplar_row *e = &inc->exemplars[i];
		if (e->row >= inc->nrows)
			continue;
		const struct db_row *r = &inc->rows[e->row];
		uint32_t fi = r->family;
		const struct exemplar *x = e->x;
		if (fi >= inc->nfamilies || inc->families[fi].type == PF_GAUGE ||
		    x->len > MODEL_EXEMPLAR_BYTES || r->keylen > PF_KEY_MAX)
			continue;
		if (fam_ids[fi] < 0 && (fam_ids[fi] = db_family_put(db, &inc->families[fi], NULL)) < 0) {
			rc = -1;
			break;
		}
		if (fam_ids[fi] == 0)
			continue; /* the store's family of that name differs: not ours */
		sqlite3_stmt *put = db->st[S_EXEMPLAR_PUT];
		sqlite3_bind_int64(put, 1, fam_ids[fi]);
		sqlite3_bind_blob(put, 2, r->key, (int)r->keylen, SQLITE_STATIC);
		sqlite3_bind_int64(put, 3, e->bucket);
		sqlite3_bind_double(put, 4, x->value);
		sqlite3_bind_double(put, 5, x->timestamp);
		sqlite3_bind_blob(put, 6, x->labels, (int)x->len, SQLITE_STATIC);
		rc = db_run(db, S_EXEMPLAR_PUT);
		/* a changed exemplar: its series is read again by whoever has it */
		if (rc == 0 && sqlite3_changes(db->h) > 0)
			rc = db_touch_series(db, fam_ids[fi], r->key, r->keylen);
	}
	free(fam_ids);
	return rc;
}

/* An aggregated incarnation's fold: every row of inc (gauges aside: they
 * are read live) into the families the store keeps: 0, or -1. */
static int fold_rows(struct db *db, sqlite3_int64 id, const struct db_incarnation *inc,
                     const struct db_known *known, int retire)
{
	uint32_t nf = inc->nfamilies ? inc->nfamilies : 1;
	sqlite3_int64 *fam_ids = malloc(nf * sizeof *fam_ids);
	/* the store's definitions (a native part the incarnation's may lack) */
	struct family_def *kept = malloc(nf * sizeof *kept);
	int rc = fam_ids && kept ? 0 : -1;
	for (uint32_t i = 0; rc == 0 && i < inc->nfamilies; i++)
		if ((fam_ids[i] = db_family_put(db, &inc->families[i], &kept[i])) < 0)
			rc = -1;
	/* A journal's totals may hold one name twice (records of two releases:
	 * classic, then with native buckets); a later one may have widened the
	 * rows, so all take the store's final one. */
	for (uint32_t i = 0; rc == 0 && i < inc->nfamilies; i++)
		for (uint32_t j = i + 1; j < inc->nfamilies; j++)
			if (fam_ids[j] == fam_ids[i] && fam_ids[i] > 0)
				kept[i] = kept[j];
	for (uint32_t i = 0; rc == 0 && i < inc->nrows; i++) {
		const struct db_row *r = &inc->rows[i];
		uint32_t fi = r->family;
		if (fi >= inc->nfamilies || fam_ids[fi] == 0 || inc->families[fi].type == PF_GAUGE)
			continue;
		rc = fold_row(db, id, r, fam_ids[fi], &inc->families[fi], &kept[fi], known, retire);
	}
	free(fam_ids);
	free(kept);
	return rc;
}

/* An aggregated incarnation (folded before schema 5): staged - folded into
 * the aggregate; its last fold drops its folded rows. */
static int fold_aggregated(struct db *db, const struct db_incarnation *inc, int retire,
                           const struct db_known *known, const struct db_inc *c)
{
	if (!known_valid(known, c->id, c->folded_seq))
		known = NULL;
	if ((sqlite3_int64)inc->seq > c->folded_seq) {
		if (fold_rows(db, c->id, inc, known, retire) != 0)
			return DB_FOLD_ERROR;
	} else if (!retire) {
		return DB_FOLD_UNCHANGED;
	}
	if (!retire) {
		sqlite3_stmt *set = db->st[S_INC_SET];
		sqlite3_bind_int64(set, 1, c->id);
		sqlite3_bind_int64(set, 2, (sqlite3_int64)inc->seq);
		return db_run(db, S_INC_SET) == 0 ? DB_FOLDED : DB_FOLD_ERROR;
	}
	sqlite3_bind_int64(db->st[S_FOLDED_DROP], 1, c->id);
	return db_run(db, S_FOLDED_DROP) == 0 ? DB_FOLDED : DB_FOLD_ERROR;
}

/* An incarnation's totals added to the aggregate, its file's (inc, or NULL
 * when it has none left) with its checkpoint's if it has one: 0, or -1. */
static int retire_totals(struct db *db, const struct db_incarnation *inc, const struct db_inc *c)
{
	struct db_checkpoint ck;
	int have = c->checkpoint ? db_checkpoint_get(db, c->id, &ck) : 0;
	if (have < 0)
		return -1;
	int rc = db_checkpoint_retire(db, inc, have ? &ck : NULL);
	if (have)
		db_checkpoint_free(&ck);
	return rc;
}

static int fold_body(struct db *db, const struct db_incarnation *inc, int retire,
                     const struct db_known *known)
{
	struct db_inc c;
	/* The file is checked under the write lock: a retiring worker unlinks it
	 * before forgetting its rows, so a fold that finds the file also finds
	 * the rows, and an older snapshot is never folded a second time. */
	if (access(inc->path, F_OK) != 0)
		return DB_FOLD_SKIPPED;
	if (fold_incarnation(db, inc->name, &c) != 0)
		return DB_FOLD_ERROR;
	if (c.retired || (sqlite3_int64)inc->seq < c.folded_seq)
		return DB_FOLD_SKIPPED;
	int rc;
	if (c.aggregated)
		rc = fold_aggregated(db, inc, retire, known, &c);
	else if (!retire) /* live: its checkpoint, if its totals moved */
		return (sqlite3_int64)inc->seq == c.folded_seq ? DB_FOLD_UNCHANGED
		       : db_checkpoint_put(db, c.id, inc) == 0 ? DB_FOLDED
		                                                 : DB_FOLD_ERROR;
	else
		rc = retire_totals(db, inc, &c) == 0 ? DB_FOLDED : DB_FOLD_ERROR;
	if (rc != DB_FOLDED || !retire)
		return rc;
	/* a live worker's exemplars are read from its file at each scrape */
	if (fold_exemplars(db, inc) != 0)
		return DB_FOLD_ERROR;
	sqlite3_stmt *set = db->st[S_INC_RETIRE];
	sqlite3_bind_int64(set, 1, c.id);
	sqlite3_bind_int64(set, 2, (sqlite3_int64)inc->seq);
	sqlite3_bind_int64(db->st[S_CHECKPOINT_DROP], 1, c.id);
	return db_run(db, S_INC_RETIRE) == 0 && db_run(db, S_CHECKPOINT_DROP) == 0 ? DB_FOLDED
	                                                                          : DB_FOLD_ERROR;
}

int db_fold(struct db *db, const struct db_incarnation *inc, int retire)
{
	if (db_run(db, S_BEGIN) != 0)
		return DB_FOLD_ERROR;
	int rc = fold_body(db, inc, retire, NULL);
	if (rc != DB_FOLD_ERROR && db_run(db, S_COMMIT) == 0)
		return rc == DB_FOLD_UNCHANGED ? DB_FOLDED : rc;
	/* SQLITE_FULL or IOERR may have rolled back already; roll back anyway */
	db_run(db, S_ROLLBACK);
	return DB_FOLD_ERROR;
}

int db_fold_in(struct db *db, const struct db_incarnation *inc, int retire,
               const struct db_known *known)
{
	return fold_body(db, inc, retire, known);
}

int db_forget_in(struct db *db, const char *name)
{
	struct db_inc c;
	int r = db_inc_get(db, name, &c);
	if (r <= 0)
		return r;
	/* a checkpoint not yet in the aggregate (an incarnation whose file is
	 * gone without its last fold) is added to it first: its totals as of
	 * its last fold are all the store has of it */
	if (!c.retired && !c.aggregated && c.checkpoint && retire_totals(db, NULL, &c) != 0)
		return -1;
	sqlite3_bind_int64(db->st[S_FOLDED_DROP], 1, c.id);
	sqlite3_bind_int64(db->st[S_CHECKPOINT_DROP], 1, c.id);
	sqlite3_bind_int64(db->st[S_INC_DROP], 1, c.id);
	return db_run(db, S_FOLDED_DROP) == 0 && db_run(db, S_CHECKPOINT_DROP) == 0 &&
	               db_run(db, S_INC_DROP) == 0
	           ? 0
	           : -1;
}
