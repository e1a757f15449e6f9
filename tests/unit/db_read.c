/* SPDX-License-Identifier: MIT */
/*
 * db_read.c — the store read back whole, for the tests: every family with
 * its aggregated series and their exemplars, as a collection, and the names
 * of the incarnations it knows.  The series hold what the store would keep
 * if every worker died now: the aggregate, plus the checkpoints of live
 * incarnations (db_checkpoint.c).  The library has no use for either (a
 * scrape reads with db_load), so they live here, with statements of their
 * own.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/db_internal.h"
#include "store/names.h"
#include "db_read.h"

static sqlite3_stmt *prepare(struct db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		db_failed(db, sqlite3_extended_errcode(db->h));
	return st;
}

/* 1 row, 0 done, -1 error (kept as the store's failure). */
static int step(struct db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	db_failed(db, rc);
	return -1;
}

int db_each_incarnation(struct db *db, int (*fn)(void *arg, const char *name), void *arg)
{
	/* Collect first: fn may write, which must not happen under an open SELECT. */
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, r;
	sqlite3_stmt *inc_list = prepare(db, "SELECT name FROM incarnation");
	if (!inc_list)
		return -1;
	while ((r = step(db, inc_list)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(names, cap * sizeof *names);
			if (!nn) {
				r = -1;
				break;
			}
			names = nn;
		}
		names[n] = strdup((const char *)sqlite3_column_text(inc_list, 0));
		if (!names[n++]) {
			r = -1;
			break;
		}
	}
	sqlite3_finalize(inc_list);
	if (r < 0)
		rc = -1;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && names[i] && fn(arg, names[i]) != 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

static char *dup_blob(const void *p, size_t n)
{
	char *d = malloc(n ? n : 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

/* A family row as the collection's family (its series come later). */
static int read_family_row(sqlite3_stmt *st, struct family_data *f)
{
	struct family_def def;
	memset(f, 0, sizeof *f);
	if (db_family_row(st, &def) != 0)
		return -1;
	f->name = strdup(def.name);
	f->help = strdup(def.help);
	f->type = (int)def.type;
	f->nbuckets = (int)def.nbuckets;
	f->buckets = (double *)dup_blob(def.buckets, def.nbuckets * sizeof(double));
	f->native = (int)def.native;
	f->native_schema = def.schema;
	f->native_zero_threshold = def.zero_threshold;
	f->ncells = (int)def.ncells;
	f->labels = calloc(PF_LABELS_MAX, sizeof *f->labels);
	if (!f->name || !f->help || !f->buckets || !f->labels)
		return -1;
	for (uint32_t i = 0; i < def.nlabels; i++, f->nlabels++)
		if (!(f->labels[i] = strdup(def.labels[i])))
			return -1;
	return 0;
}

/* What unpacking f's cells needs of its definition. */
static struct family_def shape_of(const struct family_data *f)
{
	struct family_def d = {.type = (uint32_t)f->type,
	                       .nbuckets = (uint32_t)f->nbuckets,
	                       .ncells = (uint32_t)f->ncells,
	                       .native = (uint32_t)f->native,
	                       .schema = f->native_schema,
	                       .zero_threshold = f->native_zero_threshold};
	return d;
}

/* Room for one more series in f. */
static int series_room(struct family_data *f)
{
	if (f->nseries == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct series_data *s = realloc(f->series, cap * sizeof *s);
		if (!s)
			return -1;
		f->series = s;
		f->cap = cap;
	}
	return 0;
}

static int read_series_row(sqlite3_stmt *st, struct family_data *f)
{
	double cells[MODEL_CELLS_MAX];
	struct family_def def = shape_of(f);
	if (f->ncells > MODEL_CELLS_MAX || db_cells_column(&def, st, 2, cells, NULL) != 0)
		return 0; /* not of this family's shape: skip, never misrender */
	if (series_room(f) != 0)
		return -1;
	struct series_data *s = &f->series[f->nseries];
	s->keylen = (size_t)sqlite3_column_bytes(st, 1);
	s->key = dup_blob(sqlite3_column_blob(st, 1), s->keylen);
	s->cells = (double *)dup_blob(cells, (size_t)f->ncells * sizeof(double));
	s->created = sqlite3_column_double(st, 3);
	s->exemplars = NULL;
	if (!s->key || !s->cells) {
		free(s->key);
		free(s->cells);
		return -1;
	}
	f->nseries++;
	return 0;
}

/* The series of f whose label values are key: f's series come in the
 * store's order, which is memcmp's, shorter first on a tie. */
static struct series_data *series_by_key(struct family_data *f, const void *key, size_t len)
{
	size_t lo = 0, hi = f->nseries;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct series_data *s = &f->series[mid];
		size_t n = s->keylen < len ? s->keylen : len;
		int c = n ? memcmp(s->key, key, n) : 0;
		if (!c)
			c = (s->keylen > len) - (s->keylen < len);
		if (!c)
			return &f->series[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* An exemplar row onto its series; a row that does not fit (the store is
 * damaged) is left out, never rendered. */
static int read_exemplar_row(sqlite3_stmt *st, struct family_data *f)
{
	int n = model_family_exemplars(f->type, f->nbuckets);
	sqlite3_int64 b = sqlite3_column_int64(st, 2);
	double ts = sqlite3_column_double(st, 4);
	const void *key = sqlite3_column_blob(st, 1);
	size_t keylen = (size_t)sqlite3_column_bytes(st, 1);
	const char *labels = sqlite3_column_blob(st, 5);
	int len = sqlite3_column_bytes(st, 5);
	struct series_data *s = series_by_key(f, key ? key : "", keylen);
	if (!s || b < 0 || b >= n || len <= 0 || len > MODEL_EXEMPLAR_BYTES || !labels ||
	    !names_valid_exemplar(labels, (size_t)len) || !isfinite(ts) || ts <= 0)
		return 0;
	if (!s->exemplars && !(s->exemplars = calloc((size_t)n, sizeof *s->exemplars)))
		return -1;
	struct exemplar *x = &s->exemplars[b];
	x->value = sqlite3_column_double(st, 3);
	x->timestamp = ts;
	x->len = (uint32_t)len;
	memcpy(x->labels, labels, (size_t)len);
	return 0;
}

static int by_key(const void *a, const void *b)
{
	const struct series_data *x = a, *y = b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = n ? memcmp(x->key, y->key, n) : 0;
	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* A checkpoint row added to its series in f (made if new, f kept sorted). */
static int add_checkpoint_row(struct family_data *f, const struct family_def *shape,
                              const struct db_row *r)
{
	struct series_data *s = series_by_key(f, r->key, r->keylen);
	if (!s) {
		struct family_def def = shape_of(f);
		if (series_room(f) != 0)
			return -1;
		s = &f->series[f->nseries];
		s->keylen = r->keylen;
		s->key = dup_blob(r->key, r->keylen);
		s->cells = malloc((size_t)f->ncells * sizeof(double));
		s->created = r->created;
		s->exemplars = NULL;
		if (!s->key || !s->cells) {
			free(s->key);
			free(s->cells);
			return -1;
		}
		model_family_zero(&def, s->cells);
		f->nseries++;
		qsort(f->series, f->nseries, sizeof *f->series, by_key);
		s = series_by_key(f, r->key, r->keylen);
	}
	uint32_t classic = f->type == PF_HISTOGRAM ? (uint32_t)f->nbuckets + 2 : 1;
	for (uint32_t k = 0; k < classic; k++)
		s->cells[k] += r->cells[k];
	if (f->native && shape->native)
		native_add_diff(s->cells + classic, r->cells + classic, NULL);
	return 0;
}

/* The checkpoints of the incarnations that live, added to their series. */
static int add_checkpoints(struct db *db, struct collection *out, const sqlite3_int64 *ids)
{
	sqlite3_stmt *st = prepare(db, "SELECT i.id FROM incarnation i JOIN checkpoint c"
	                               " ON c.incarnation_id = i.id WHERE retired = 0 AND aggregated = 0");
	sqlite3_int64 inc[64];
	int n = 0, r;
	while (st && (r = step(db, st)) == 1 && n < 64)
		inc[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	for (int i = 0; i < n; i++) {
		struct db_checkpoint c;
		if (db_checkpoint_get(db, inc[i], &c) != 1)
			return -1;
		for (uint32_t j = 0; j < c.nrows; j++) {
			const struct db_row *row = &c.rows[j];
			for (size_t k = 0; k < out->nfamilies; k++)
				if (ids[k] == c.fam_ids[row->family] &&
				    add_checkpoint_row(&out->families[k], &c.families[row->family], row) != 0) {
					db_checkpoint_free(&c);
					return -1;
				}
		}
		db_checkpoint_free(&c);
	}
	return 0;
}

int db_read(struct db *db, struct collection *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_int64 *ids = NULL;
	int r = -1, rc = -1;
	/* One read transaction, so families and series come from one snapshot. */
	db->last_msg[0] = '\0';
	if (db_exec(db, "BEGIN") != 0) {
		db_failed(db, sqlite3_extended_errcode(db->h));
		return -1;
	}
	sqlite3_stmt *st = prepare(db, "SELECT id, name, type, help, label_names, buckets, native_schema,"
	                               " zero_threshold FROM family ORDER BY name");
	while (st && (r = step(db, st)) == 1) {
		if (out->nfamilies == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 16;
			struct family_data *nf = realloc(out->families, cap * sizeof *nf);
			sqlite3_int64 *ni = realloc(ids, cap * sizeof *ni);
			if (nf)
				out->families = nf;
			if (ni)
				ids = ni;
			if (!nf || !ni)
				break;
			out->cap = cap;
		}
		ids[out->nfamilies] = sqlite3_column_int64(st, 0);
		if (read_family_row(st, &out->families[out->nfamilies++]) != 0)
			break;
	}
	sqlite3_finalize(st);
	if (r != 0)
		goto out;
	st = prepare(db, "SELECT family_id, label_values, cells, created FROM series"
	                 " ORDER BY family_id, label_values");
	while (st && (r = step(db, st)) == 1) {
		sqlite3_int64 fid = sqlite3_column_int64(st, 0);
		for (size_t i = 0; i < out->nfamilies; i++) {
			if (ids[i] == fid) {
				if (read_series_row(st, &out->families[i]) != 0)
					r = -1;
				break;
			}
		}
		if (r < 0)
			break;
	}
	sqlite3_finalize(st);
	if (r != 0 || add_checkpoints(db, out, ids) != 0)
		goto out;
	st = prepare(db, "SELECT s.family_id, s.label_values, e.bucket, e.value, e.ts, e.labels"
	                 " FROM exemplar e JOIN series s ON s.id = e.series_id");
	while (st && (r = step(db, st)) == 1) {
		sqlite3_int64 fid = sqlite3_column_int64(st, 0);
		for (size_t i = 0; i < out->nfamilies; i++) {
			if (ids[i] == fid) {
				if (read_exemplar_row(st, &out->families[i]) != 0)
					r = -1;
				break;
			}
		}
		if (r < 0)
			break;
	}
	sqlite3_finalize(st);
	if (r == 0)
		rc = 0;
out:
	db_exec(db, "COMMIT");
	free(ids);
	if (rc != 0)
		model_collection_free(out);
	return rc;
}
