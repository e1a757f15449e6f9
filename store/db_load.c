/* SPDX-License-Identifier: MIT */
/*
 * db_load.c — the scrape's read of the store (db_load, db.h): every family,
 * series, exemplar and incarnation, and the folded rows of the incarnations
 * the caller does not have already, all from one snapshot, each row checked
 * before it is handed over.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/db_internal.h"
#include "store/buf.h"
#include "store/names.h"

/* An exemplar row (family_id, label_values, bucket, value, ts, labels) as
 * an exemplar: 0, or -1 if it is not a sound one (a damaged store). */
static int row_exemplar(sqlite3_stmt *st, struct exemplar *x)
{
	sqlite3_int64 b = sqlite3_column_int64(st, 2);
	const char *labels = sqlite3_column_blob(st, 5);
	int len = sqlite3_column_bytes(st, 5);
	x->value = sqlite3_column_double(st, 3);
	x->timestamp = sqlite3_column_double(st, 4);
	if (b < 0 || b > PF_BUCKETS_MAX || len <= 0 || len > MODEL_EXEMPLAR_BYTES || !labels ||
	    !names_valid_exemplar(labels, (size_t)len) || isnan(x->value) || !isfinite(x->timestamp) ||
	    x->timestamp <= 0)
		return -1;
	x->len = (uint32_t)len;
	x->pad = 0;
	memcpy(x->labels, labels, (size_t)len);
	return 0;
}

/* Each family row that makes a definition, to l->family. */
static int load_families(struct db *db, const struct db_loader *l, void *arg)
{
	sqlite3_stmt *st = db->st[S_LOAD_FAM];
	int r;
	while ((r = db_row(db, S_LOAD_FAM)) == 1) {
		struct family_def def;
		if (db_family_row(st, &def) == 0 && l->family(arg, sqlite3_column_int64(st, 0), &def) != 0) {
			r = -1;
			break;
		}
	}
	db_done(db, S_LOAD_FAM);
	return r;
}

/* Each series row as stored (the caller checks its cells), to l->series. */
static int load_series(struct db *db, const struct db_loader *l, void *arg)
{
	sqlite3_stmt *st = db->st[S_LOAD_SERIES];
	int r;
	while ((r = db_row(db, S_LOAD_SERIES)) == 1) {
		int bytes = sqlite3_column_bytes(st, 2);
		if (l->series(arg, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
		              (uint32_t)sqlite3_column_bytes(st, 1), sqlite3_column_blob(st, 2),
		              bytes / (int)sizeof(double), sqlite3_column_double(st, 3)) != 0) {
			r = -1;
			break;
		}
	}
	db_done(db, S_LOAD_SERIES);
	return r;
}

/* Each sound exemplar row, to l->exemplar (if set). */
static int load_exemplars(struct db *db, const struct db_loader *l, void *arg)
{
	sqlite3_stmt *st = db->st[S_READ_EXEMPLARS];
	int r = 0;
	while (l->exemplar && (r = db_row(db, S_READ_EXEMPLARS)) == 1) {
		struct exemplar x;
		if (row_exemplar(st, &x) == 0 &&
		    l->exemplar(arg, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
		                (uint32_t)sqlite3_column_bytes(st, 1), (uint32_t)sqlite3_column_int64(st, 2),
		                &x) != 0) {
			r = -1;
			break;
		}
	}
	db_done(db, S_READ_EXEMPLARS);
	return r;
}

/* Each incarnation, in order of id, to l->incarnation; *want gets the ids
 * of those whose folded rows it asks for (malloc'd). */
static int load_incarnations(struct db *db, const struct db_loader *l, void *arg,
                             sqlite3_int64 **want, size_t *nwant)
{
	sqlite3_stmt *st = db->st[S_LOAD_INC];
	size_t cap = 0;
	int r;
	*want = NULL;
	*nwant = 0;
	while ((r = db_row(db, S_LOAD_INC)) == 1) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		sqlite3_int64 id = sqlite3_column_int64(st, 0);
		int w = name ? l->incarnation(arg, id, name, sqlite3_column_int64(st, 2),
		                              sqlite3_column_int(st, 3))
		             : 0;
		if (w > 0 && array_grow((void **)want, &cap, *nwant + 1, sizeof **want) != 0)
			w = -1;
		if (w < 0) {
			r = -1;
			break;
		}
		if (w > 0)
			(*want)[(*nwant)++] = id;
	}
	db_done(db, S_LOAD_INC);
	return r;
}

/* The folded rows of the incarnations in want, to l->folded. */
static int load_folded(struct db *db, const struct db_loader *l, void *arg,
                       const sqlite3_int64 *want, size_t nwant)
{
	sqlite3_stmt *st = db->st[S_LOAD_FOLDED];
	int r = 0;
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		sqlite3_bind_int64(st, 1, want[i]);
		while ((r = db_row(db, S_LOAD_FOLDED)) == 1) {
			sqlite3_int64 slot = sqlite3_column_int64(st, 0);
			if (slot >= 0 && slot <= UINT32_MAX &&
			    l->folded(arg, want[i], (uint32_t)slot, sqlite3_column_blob(st, 1),
			              sqlite3_column_bytes(st, 1) / (int)sizeof(double)) != 0) {
				r = -1;
				break;
			}
		}
		db_done(db, S_LOAD_FOLDED);
	}
	return r;
}

int db_load(struct db *db, const struct db_loader *l, void *arg, long long *version)
{
	sqlite3_int64 *want = NULL;
	size_t nwant = 0;
	int rc = -1;
	/* One read transaction: everything from one snapshot. */
	db->last_msg[0] = '\0';
	if (db_exec(db, "BEGIN") != 0) {
		db_failed(db, sqlite3_extended_errcode(db->h));
		return -1;
	}
	if (load_families(db, l, arg) == 0 && load_series(db, l, arg) == 0 &&
	    load_exemplars(db, l, arg) == 0 && load_incarnations(db, l, arg, &want, &nwant) == 0 &&
	    load_folded(db, l, arg, want, nwant) == 0) {
		/* inside the transaction: the version of the snapshot just read */
		if (db_row(db, S_VERSION) == 1) {
			*version = sqlite3_column_int64(db->st[S_VERSION], 0);
			rc = 0;
		}
		db_done(db, S_VERSION);
	}
	free(want);
	db_exec(db, "COMMIT");
	return rc;
}
