/* SPDX-License-Identifier: MIT */
/*
 * db_fold.c — folds: what an incarnation holds beyond what was already
 * folded of it is added to the store's aggregate (staged - folded, per
 * row), and what was folded moves on, in one transaction, so that a fold
 * run twice adds nothing.  Then the incarnation is retired (its last fold)
 * and forgotten (once its file is gone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/db_internal.h"

int db_update_series(struct db *db, sqlite3_int64 fam, const struct family_def *def,
                     const char *key, uint32_t keylen, db_apply_fn apply, void *arg,
                     double created)
{
	sqlite3_stmt *get = db->st[S_SERIES_GET];
	double sum[MODEL_CELLS_MAX];
	int ncells = (int)def->ncells;
	size_t bytes = (size_t)ncells * sizeof(double);
	if (ncells < 1 || ncells > MODEL_CELLS_MAX)
		return -1;
	model_family_zero(def, sum);
	sqlite3_bind_int64(get, 1, fam);
	sqlite3_bind_blob(get, 2, key, (int)keylen, SQLITE_STATIC);
	int found = db_row(db, S_SERIES_GET);
	sqlite3_int64 id = 0;
	if (found == 1) {
		id = sqlite3_column_int64(get, 0);
		if ((size_t)sqlite3_column_bytes(get, 1) == bytes)
			memcpy(sum, sqlite3_column_blob(get, 1), bytes);
		else
			found = -2; /* a row of another shape: refuse rather than guess */
	}
	if (found == -2 && !db->last_msg[0]) {
		db->last_rc = SQLITE_MISMATCH;
		snprintf(db->last_msg, sizeof db->last_msg,
		         "a series row of %d bytes where its family has %zu", sqlite3_column_bytes(get, 1),
		         bytes);
	}
	db_done(db, S_SERIES_GET);
	if (found < 0 || apply(sum, def, arg) != 0)
		return -1;
	if (found) {
		sqlite3_stmt *set = db->st[S_SERIES_SET];
		sqlite3_bind_int64(set, 1, id);
		sqlite3_bind_blob(set, 2, sum, (int)bytes, SQLITE_STATIC);
		return db_run(db, S_SERIES_SET);
	}
	sqlite3_stmt *add = db->st[S_SERIES_ADD];
	sqlite3_bind_int64(add, 1, fam);
	sqlite3_bind_blob(add, 2, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_blob(add, 3, sum, (int)bytes, SQLITE_STATIC);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	sqlite3_bind_double(add, 4, created > 0 ? created
	                                        : (double)now.tv_sec + (double)(now.tv_nsec / 1000000) / 1e3);
	return db_run(db, S_SERIES_ADD);
}

/* What a fold adds to an aggregate: the classic cells of delta (the first
 * classic of them), and, with native, staged - prev of the native parts
 * that follow them (native_add_diff: the schema may have gone down
 * since prev); added says whether it was. */
struct fold_delta {
	const double *delta, *staged, *prev;
	uint32_t classic; /* classic cells */
	int native, added;
};

static int apply_fold(double *cells, const struct family_def *def, void *arg)
{
	struct fold_delta *d = arg;
	for (uint32_t i = 0; i < d->classic; i++)
		cells[i] += d->delta[i];
	/* a file older than what was folded (a count would go below zero), or
	 * a damaged one, adds nothing to the native part; nor does a row whose
	 * native part cannot take it (only a damaged store has one): the fold,
	 * and every other series', goes on */
	d->added = d->native && def->native &&
	           native_add_diff(cells + d->classic, d->staged + d->classic,
	                              d->prev + d->classic) == 0;
	return 0;
}

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
                    const struct db_known *known)
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
	struct fold_delta d = {delta, staged, prev, (uint32_t)classic, f->native, 0};
	if (f->native) /* as staged for now: what it is if the native part is added */
		memcpy(put + classic, staged + classic, NATIVE_CELLS * sizeof *put);
	/* NaN never equals itself: a NaN gauge-like sum still counts as news */
	if (memcmp(put, prev, bytes) != 0)
		changed = 1;
	if (!changed)
		return 0;
	if (db_update_series(db, fam, kept, r->key, r->keylen, apply_fold, &d, r->created) != 0)
		return -1;
	if (f->native && !d.added) /* nothing added: what was folded stays the base */
		memcpy(put + classic, prev + classic, NATIVE_CELLS * sizeof *put);
	sqlite3_stmt *st = db->st[S_FOLDED_PUT];
	sqlite3_bind_int64(st, 1, inc);
	sqlite3_bind_int64(st, 2, r->slot);
	sqlite3_bind_blob(st, 3, put, (int)bytes, SQLITE_STATIC);
	return db_run(db, S_FOLDED_PUT);
}

/* Finds or creates the incarnation row; *seq is the last folded seq. */
static int fold_incarnation(struct db *db, const char *name, sqlite3_int64 *id,
                            sqlite3_int64 *seq, int *retired)
{
	sqlite3_stmt *get = db->st[S_INC_GET];
	sqlite3_bind_text(get, 1, name, -1, SQLITE_STATIC);
	int r = db_row(db, S_INC_GET);
	if (r == 1) {
		*id = sqlite3_column_int64(get, 0);
		*seq = sqlite3_column_int64(get, 1);
		*retired = sqlite3_column_int(get, 2);
	}
	db_done(db, S_INC_GET);
	if (r != 0)
		return r < 0 ? -1 : 0;
	sqlite3_bind_text(db->st[S_INC_ADD], 1, name, -1, SQLITE_STATIC);
	if (db_run(db, S_INC_ADD) != 0)
		return -1;
	*id = sqlite3_last_insert_rowid(db->h);
	*seq = -1;
	*retired = 0;
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
	}
	free(fam_ids);
	return rc;
}

/* Folds every row of inc (gauges aside: they are read live) into the
 * families the store keeps: 0, or -1. */
static int fold_rows(struct db *db, sqlite3_int64 id, const struct db_incarnation *inc,
                     const struct db_known *known)
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
		rc = fold_row(db, id, r, fam_ids[fi], &inc->families[fi], &kept[fi], known);
	}
	free(fam_ids);
	free(kept);
	return rc;
}

static int fold_body(struct db *db, const struct db_incarnation *inc, int retire,
                     const struct db_known *known)
{
	sqlite3_int64 id = 0, folded_seq = 0;
	int retired = 0;
	/* The file is checked under the write lock: a retiring worker unlinks it
	 * before forgetting its rows, so a fold that finds the file also finds
	 * the rows, and an older snapshot is never folded a second time. */
	if (access(inc->path, F_OK) != 0)
		return DB_FOLD_SKIPPED;
	if (fold_incarnation(db, inc->name, &id, &folded_seq, &retired) != 0)
		return DB_FOLD_ERROR;
	if (retired || (sqlite3_int64)inc->seq < folded_seq)
		return DB_FOLD_SKIPPED;
	if (!known_valid(known, id, folded_seq))
		known = NULL;
	if ((sqlite3_int64)inc->seq > folded_seq) {
		if (fold_rows(db, id, inc, known) != 0)
			return DB_FOLD_ERROR;
	} else if (!retire) {
		return DB_FOLD_UNCHANGED;
	}
	/* a live worker's exemplars are read from its file at each scrape */
	if (retire && fold_exemplars(db, inc) != 0)
		return DB_FOLD_ERROR;
	sqlite3_stmt *set = db->st[S_INC_SET];
	sqlite3_bind_int64(set, 1, id);
	sqlite3_bind_int64(set, 2, (sqlite3_int64)inc->seq);
	sqlite3_bind_int(set, 3, retire);
	return db_run(db, S_INC_SET) == 0 ? DB_FOLDED : DB_FOLD_ERROR;
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
	sqlite3_bind_text(db->st[S_FORGET_FOLDED], 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(db->st[S_FORGET_INC], 1, name, -1, SQLITE_TRANSIENT);
	return db_run(db, S_FORGET_FOLDED) == 0 && db_run(db, S_FORGET_INC) == 0 ? 0 : -1;
}
