/* SPDX-License-Identifier: MIT */
/*
 * db_series.c — the store's series rows: one read-modify-write of a
 * series' aggregate (its cells unpacked, changed, packed again: db_cells.c),
 * every write at the transaction's generation, so that a reader who has
 * the rows up to some generation reads only the ones written since.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/db_internal.h"

int db_cells_column(const struct family_def *def, sqlite3_stmt *st, int col, double *dense,
                    struct native_range *range)
{
	double packed[DB_PACKED_MAX]; /* a blob's bytes need not be aligned for doubles */
	int bytes = sqlite3_column_bytes(st, col);
	if (bytes <= 0 || bytes % (int)sizeof(double) != 0 || bytes > (int)sizeof packed)
		return -1;
	memcpy(packed, sqlite3_column_blob(st, col), (size_t)bytes);
	return db_cells_unpack(def, packed, (size_t)bytes / sizeof(double), dense, range);
}

int db_update_series(struct db *db, sqlite3_int64 fam, const struct family_def *def,
                     const char *key, uint32_t keylen, db_apply_fn apply, void *arg,
                     double created)
{
	sqlite3_stmt *get = db->st[S_SERIES_GET];
	double sum[MODEL_CELLS_MAX], packed[DB_PACKED_MAX];
	int ncells = (int)def->ncells;
	if (ncells < 1 || ncells > MODEL_CELLS_MAX)
		return -1;
	sqlite3_int64 gen = db_gen(db);
	if (gen < 0)
		return -1;
	model_family_zero(def, sum);
	sqlite3_bind_int64(get, 1, fam);
	sqlite3_bind_blob(get, 2, key, (int)keylen, SQLITE_STATIC);
	int found = db_row(db, S_SERIES_GET);
	sqlite3_int64 id = 0;
	if (found == 1) {
		id = sqlite3_column_int64(get, 0);
		if (db_cells_column(def, get, 1, sum, NULL) != 0)
			found = -2; /* a row of another shape: refuse rather than guess */
	}
	if (found == -2 && !db->last_msg[0]) {
		db->last_rc = SQLITE_MISMATCH;
		snprintf(db->last_msg, sizeof db->last_msg,
		         "a series row of %d bytes that is not of its family's shape (%d cells)",
		         sqlite3_column_bytes(get, 1), ncells);
	}
	db_done(db, S_SERIES_GET);
	if (found < 0 || apply(sum, def, arg) != 0)
		return -1;
	int n = (int)db_cells_pack(def, sum, packed);
	if (found) {
		sqlite3_stmt *set = db->st[S_SERIES_SET];
		sqlite3_bind_int64(set, 1, id);
		sqlite3_bind_blob(set, 2, packed, n * (int)sizeof(double), SQLITE_STATIC);
		sqlite3_bind_int64(set, 3, gen);
		return db_run(db, S_SERIES_SET);
	}
	sqlite3_stmt *add = db->st[S_SERIES_ADD];
	sqlite3_bind_int64(add, 1, fam);
	sqlite3_bind_blob(add, 2, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_blob(add, 3, packed, n * (int)sizeof(double), SQLITE_STATIC);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	sqlite3_bind_double(add, 4, created > 0 ? created
	                                        : (double)now.tv_sec + (double)(now.tv_nsec / 1000000) / 1e3);
	sqlite3_bind_int64(add, 5, gen);
	return db_run(db, S_SERIES_ADD);
}

int db_apply_add(double *cells, const struct family_def *def, void *arg)
{
	struct db_add *a = arg;
	for (uint32_t i = 0; i < a->nclassic; i++)
		cells[i] += a->classic[i];
	a->added = a->native_a && def->native &&
	           native_add_diff(cells + def->nbuckets + 2, a->native_a, a->native_b) == 0;
	return 0;
}

int db_touch_series(struct db *db, sqlite3_int64 fam, const char *key, uint32_t keylen)
{
	sqlite3_int64 gen = db_gen(db);
	if (gen < 0)
		return -1;
	sqlite3_stmt *st = db->st[S_SERIES_TOUCH];
	sqlite3_bind_int64(st, 1, fam);
	sqlite3_bind_blob(st, 2, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, gen);
	return db_run(db, S_SERIES_TOUCH);
}

int db_inc_get(struct db *db, const char *name, struct db_inc *inc)
{
	sqlite3_stmt *get = db->st[S_INC_GET];
	sqlite3_bind_text(get, 1, name, -1, SQLITE_STATIC);
	int r = db_row(db, S_INC_GET);
	if (r == 1) {
		inc->id = sqlite3_column_int64(get, 0);
		inc->folded_seq = sqlite3_column_int64(get, 1);
		inc->retired = sqlite3_column_int(get, 2);
		inc->aggregated = sqlite3_column_int(get, 3);
		inc->checkpoint = sqlite3_column_int(get, 4);
	}
	db_done(db, S_INC_GET);
	return r;
}
