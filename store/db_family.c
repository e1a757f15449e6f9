/* SPDX-License-Identifier: MIT */
/*
 * db_family.c — the store's family rows: a definition as columns and back
 * (labels joined with commas, buckets a blob of doubles, a native part as
 * two nullable columns), the one definition kept per name, and the widening
 * of a family without native buckets when a process defines it with them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store/buf.h"
#include "store/db_internal.h"

static void join_labels(const struct family_def *f, char *out, size_t len)
{
	out[0] = '\0';
	for (uint32_t i = 0; i < f->nlabels && i < PF_LABELS_MAX; i++) {
		if (i)
			strncat(out, ",", len - strlen(out) - 1);
		strncat(out, f->labels[i], len - strlen(out) - 1);
	}
}

/* The native columns (native_schema, zero_threshold) at col, col + 1 of a
 * family row into def (a histogram's); 0, or -1 if they do not make a
 * native definition (a damaged store). */
static int native_columns(sqlite3_stmt *st, int col, struct family_def *def)
{
	def->native = 0;
	def->schema = 0;
	def->zero_threshold = 0;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	sqlite3_int64 schema = sqlite3_column_int64(st, col);
	if (def->type != PF_HISTOGRAM || schema < PF_NATIVE_SCHEMA_MIN || schema > PF_NATIVE_SCHEMA_MAX)
		return -1;
	def->native = 1;
	def->schema = (int32_t)schema;
	def->zero_threshold = sqlite3_column_double(st, col + 1);
	return def->zero_threshold >= 0 && isfinite(def->zero_threshold) ? 0 : -1;
}

static void bind_native(sqlite3_stmt *st, int col, const struct family_def *f)
{
	if (f->native)
		sqlite3_bind_int(st, col, f->schema);
	else
		sqlite3_bind_null(st, col);
	sqlite3_bind_double(st, col + 1, f->native ? f->zero_threshold : 0);
}

/* The store's family of f's name gains f's native buckets: the definition,
 * and an empty native part (packed: db_cells.c) at the end of every
 * series' cells, at this transaction's generation. */
static int widen_family(struct db *db, sqlite3_int64 id, const struct family_def *f)
{
	double empty[DB_PACKED_MAX];
	size_t n = db_cells_packed_empty(f, empty);
	sqlite3_int64 gen = db_gen(db);
	if (n == 0 || gen < 0)
		return -1;
	sqlite3_stmt *fam = db->st[S_FAM_WIDEN], *ser = db->st[S_SERIES_WIDEN];
	sqlite3_bind_int64(fam, 1, id);
	bind_native(fam, 2, f);
	if (db_run(db, S_FAM_WIDEN) != 0)
		return -1;
	sqlite3_bind_int64(ser, 1, id);
	sqlite3_bind_blob(ser, 2, empty, (int)(n * sizeof(double)), SQLITE_TRANSIENT);
	sqlite3_bind_int64(ser, 3, (sqlite3_int64)(f->nbuckets + 2) * (sqlite3_int64)sizeof(double));
	sqlite3_bind_int64(ser, 4, gen);
	return db_run(db, S_SERIES_WIDEN);
}

/* Defines the family in the store if new; returns its id, or 0 if a family
 * of that name exists with another type, labels, buckets or native schema
 * and zero threshold.  A store family without native buckets gains f's
 * (widen_family); one with native buckets takes f without them as a
 * narrower definition of itself.  *kept, if not NULL, gets the store's
 * definition (f's shape, with the store's native part). */
/* The answer this transaction already gave for f's definition, or NULL. */
static const struct db_family_seen *seen(const struct db *db, const struct family_def *f)
{
	for (uint32_t i = 0; i < db->nseen; i++)
		if (strcmp(db->seen[i].def.name, f->name) == 0 &&
		    model_family_compat(&db->seen[i].def, f) == MODEL_SAME)
			return &db->seen[i];
	return NULL;
}

static sqlite3_int64 family_put(struct db *db, const struct family_def *f, struct family_def *kept);

sqlite3_int64 db_family_put(struct db *db, const struct family_def *f, struct family_def *kept)
{
	const struct db_family_seen *e = seen(db, f);
	if (e) {
		if (kept)
			*kept = e->kept;
		return e->id;
	}
	struct family_def store;
	sqlite3_int64 id = family_put(db, f, &store);
	if (id >= 0 && array_grow32((void **)&db->seen, &db->cap_seen, db->nseen + 1,
	                            sizeof *db->seen) == 0)
		db->seen[db->nseen++] = (struct db_family_seen){*f, store, id};
	if (kept && id >= 0)
		*kept = store;
	return id;
}

static sqlite3_int64 family_put(struct db *db, const struct family_def *f, struct family_def *kept)
{
	char labels[PF_LABELS_MAX * PF_LABEL_NAME_MAX];
	join_labels(f, labels, sizeof labels);
	int nb = f->nbuckets <= PF_BUCKETS_MAX ? (int)f->nbuckets : PF_BUCKETS_MAX;
	sqlite3_stmt *add = db->st[S_FAM_ADD], *get = db->st[S_FAM_GET];
	sqlite3_bind_text(add, 1, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(add, 2, (int)f->type);
	sqlite3_bind_text(add, 3, f->help, -1, SQLITE_STATIC);
	sqlite3_bind_text(add, 4, labels, -1, SQLITE_STATIC);
	sqlite3_bind_blob(add, 5, f->buckets, nb * (int)sizeof(double), SQLITE_STATIC);
	bind_native(add, 6, f);
	if (db_run(db, S_FAM_ADD) != 0)
		return -1;
	sqlite3_bind_text(get, 1, f->name, -1, SQLITE_STATIC);
	sqlite3_int64 id = -1;
	struct family_def store = *f;
	int r = db_row(db, S_FAM_GET), compat = MODEL_CLASH;
	if (r == 1) {
		const void *b = sqlite3_column_blob(get, 3);
		int same = sqlite3_column_int(get, 1) == (int)f->type &&
		           strcmp((const char *)sqlite3_column_text(get, 2), labels) == 0 &&
		           sqlite3_column_bytes(get, 3) == nb * (int)sizeof(double) &&
		           (nb == 0 || memcmp(b, f->buckets, (size_t)nb * sizeof(double)) == 0) &&
		           native_columns(get, 4, &store) == 0;
		store.ncells = (uint32_t)model_family_cells((int)store.type, nb, (int)store.native);
		compat = same ? model_family_compat(&store, f) : MODEL_CLASH;
		id = compat == MODEL_CLASH ? 0 : sqlite3_column_int64(get, 0);
	}
	db_done(db, S_FAM_GET);
	if (r < 0)
		return -1;
	if (compat == MODEL_WIDER) {
		if (widen_family(db, id, f) != 0)
			return -1;
		store = *f;
		db->nseen = 0; /* the answers given for the narrower one no longer hold */
	}
	if (kept)
		*kept = store;
	return id;
}

/* A family row (id, name, type, help, label_names, buckets) as a
 * definition; 0, or -1 if it does not fit one (a damaged store). */
int db_family_row(sqlite3_stmt *st, struct family_def *def)
{
	memset(def, 0, sizeof *def);
	const char *name = (const char *)sqlite3_column_text(st, 1);
	const char *help = (const char *)sqlite3_column_text(st, 3);
	const char *labels = (const char *)sqlite3_column_text(st, 4);
	int nb = sqlite3_column_bytes(st, 5) / (int)sizeof(double);
	def->type = (uint32_t)sqlite3_column_int(st, 2);
	if (!name || !help || strlen(name) >= sizeof def->name || strlen(help) >= sizeof def->help ||
	    nb > PF_BUCKETS_MAX)
		return -1;
	strcpy(def->name, name);
	strcpy(def->help, help);
	for (const char *p = labels; p && *p;) {
		size_t l = strcspn(p, ",");
		if (def->nlabels == PF_LABELS_MAX || l >= PF_LABEL_NAME_MAX)
			return -1;
		memcpy(def->labels[def->nlabels++], p, l);
		p += l + (p[l] == ',');
	}
	def->nbuckets = (uint32_t)nb;
	if (nb)
		memcpy(def->buckets, sqlite3_column_blob(st, 5), (size_t)nb * sizeof(double));
	if (native_columns(st, 6, def) != 0)
		return -1;
	int cells = model_family_cells((int)def->type, nb, (int)def->native);
	def->ncells = cells > 0 ? (uint32_t)cells : 0;
	return def->ncells > 0 && def->ncells <= MODEL_CELLS_MAX ? 0 : -1;
}

/* Reads a family's definition: 1 found, 0 no such family, -1 error. */
int db_family_get(struct db *db, const char *name, struct family_def *def, sqlite3_int64 *id)
{
	sqlite3_stmt *get = db->st[S_FAM_GET];
	memset(def, 0, sizeof *def);
	sqlite3_bind_text(get, 1, name, -1, SQLITE_STATIC);
	int r = db_row(db, S_FAM_GET);
	if (r == 1) {
		*id = sqlite3_column_int64(get, 0);
		def->type = (uint32_t)sqlite3_column_int(get, 1);
		snprintf(def->name, sizeof def->name, "%s", name);
		const char *labels = (const char *)sqlite3_column_text(get, 2);
		for (const char *p = labels; p && *p && def->nlabels < PF_LABELS_MAX;) {
			size_t l = strcspn(p, ",");
			snprintf(def->labels[def->nlabels++], PF_LABEL_NAME_MAX, "%.*s", (int)l, p);
			p += l + (p[l] == ',');
		}
		int nb = sqlite3_column_bytes(get, 3) / (int)sizeof(double);
		def->nbuckets = (uint32_t)(nb <= PF_BUCKETS_MAX ? nb : PF_BUCKETS_MAX);
		if (def->nbuckets)
			memcpy(def->buckets, sqlite3_column_blob(get, 3), def->nbuckets * sizeof(double));
		if (native_columns(get, 4, def) != 0)
			r = -1; /* a damaged row */
		def->ncells = (uint32_t)model_family_cells((int)def->type, (int)def->nbuckets,
		                                        (int)def->native);
	}
	db_done(db, S_FAM_GET);
	return r;
}

int db_family_by_id(struct db *db, sqlite3_int64 id, struct family_def *def)
{
	sqlite3_stmt *get = db->st[S_FAM_BY_ID];
	sqlite3_bind_int64(get, 1, id);
	int r = db_row(db, S_FAM_BY_ID);
	if (r == 1 && db_family_row(get, def) != 0)
		r = 0; /* a damaged row defines nothing */
	db_done(db, S_FAM_BY_ID);
	return r;
}
