/* SPDX-License-Identifier: MIT */
/*
 * db_load.c — the scrape's read of the store (db_load, db.h): every family
 * and incarnation, the series and exemplars written since the caller's
 * last read (their generation: db_series.c), and the folded rows of the
 * incarnations the caller does not have already, all from one snapshot,
 * each row checked (and its cells unpacked) before it is handed over.
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

/* The families of one read, by store id: how their series rows unpack. */
struct families {
	struct {
		sqlite3_int64 id;
		struct family_def def;
	} *v;
	size_t n, cap;
	size_t last; /* the last one found: rows come grouped by family */
};

static const struct family_def *family_of(struct families *fs, sqlite3_int64 id)
{
	if (fs->last < fs->n && fs->v[fs->last].id == id)
		return &fs->v[fs->last].def;
	for (size_t i = 0; i < fs->n; i++)
		if (fs->v[i].id == id) {
			fs->last = i;
			return &fs->v[i].def;
		}
	return NULL;
}

/* Each family row that makes a definition, to l->family (and into fs). */
static int load_families(struct db *db, const struct db_loader *l, void *arg, struct families *fs)
{
	sqlite3_stmt *st = db->st[S_LOAD_FAM];
	int r;
	while ((r = db_row(db, S_LOAD_FAM)) == 1) {
		struct family_def def;
		if (db_family_row(st, &def) != 0)
			continue;
		sqlite3_int64 id = sqlite3_column_int64(st, 0);
		if (array_grow((void **)&fs->v, &fs->cap, fs->n + 1, sizeof *fs->v) != 0 ||
		    l->family(arg, id, &def) != 0) {
			r = -1;
			break;
		}
		fs->v[fs->n].id = id;
		fs->v[fs->n++].def = def;
	}
	db_done(db, S_LOAD_FAM);
	return r;
}

/* Each series row written after since, unpacked, to l->series; a row of
 * no family or not of its family's shape is never handed over. */
static int load_series(struct db *db, const struct db_loader *l, void *arg, struct families *fs,
                       sqlite3_int64 since)
{
	sqlite3_stmt *st = db->st[S_LOAD_SERIES];
	double cells[MODEL_CELLS_MAX];
	int r;
	sqlite3_bind_int64(st, 1, since);
	while ((r = db_row(db, S_LOAD_SERIES)) == 1) {
		sqlite3_int64 fam = sqlite3_column_int64(st, 0);
		const struct family_def *def = family_of(fs, fam);
		struct native_range range;
		if (!def || db_cells_column(def, st, 2, cells, &range) != 0)
			continue;
		if (l->series(arg, fam, sqlite3_column_blob(st, 1), (uint32_t)sqlite3_column_bytes(st, 1),
		              cells, (int)def->ncells, def->native ? &range : NULL,
		              sqlite3_column_double(st, 3)) != 0) {
			r = -1;
			break;
		}
	}
	db_done(db, S_LOAD_SERIES);
	return r;
}

/* Each sound exemplar row of a series written after since, to l->exemplar
 * (if set). */
static int load_exemplars(struct db *db, const struct db_loader *l, void *arg, sqlite3_int64 since)
{
	sqlite3_stmt *st = db->st[S_READ_EXEMPLARS];
	int r = 0;
	sqlite3_bind_int64(st, 1, since);
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
		struct db_inc_row c = {
		    .id = sqlite3_column_int64(st, 0),
		    .name = (const char *)sqlite3_column_text(st, 1),
		    .folded_seq = sqlite3_column_int64(st, 2),
		    .retired = sqlite3_column_int(st, 3),
		    .aggregated = sqlite3_column_int(st, 4),
		    .checkpoint = sqlite3_column_int(st, 5),
		};
		sqlite3_int64 id = c.id;
		int w = c.name ? l->incarnation(arg, &c) : 0;
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

int db_load(struct db *db, const struct db_loader *l, void *arg, long long since,
            long long *version, long long *gen)
{
	sqlite3_int64 *want = NULL;
	size_t nwant = 0;
	struct families fs = {0};
	int rc = -1;
	/* One read transaction: everything from one snapshot. */
	db->last_msg[0] = '\0';
	if (db_exec(db, "BEGIN") != 0) {
		db_failed(db, sqlite3_extended_errcode(db->h));
		return -1;
	}
	if (load_families(db, l, arg, &fs) == 0 && load_series(db, l, arg, &fs, since) == 0 &&
	    load_exemplars(db, l, arg, since) == 0 &&
	    load_incarnations(db, l, arg, &want, &nwant) == 0 &&
	    load_folded(db, l, arg, want, nwant) == 0) {
		/* inside the transaction: the version and generation of the
		 * snapshot just read */
		if (db_row(db, S_VERSION) == 1) {
			*version = sqlite3_column_int64(db->st[S_VERSION], 0);
			rc = 0;
		}
		db_done(db, S_VERSION);
		if (rc == 0 && db_row(db, S_GEN_LAST) == 1)
			*gen = sqlite3_column_int64(db->st[S_GEN_LAST], 0);
		else
			rc = -1;
		db_done(db, S_GEN_LAST);
	}
	free(want);
	free(fs.v);
	db_exec(db, "COMMIT");
	return rc;
}
