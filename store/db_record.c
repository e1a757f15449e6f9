/* SPDX-License-Identifier: MIT */
/*
 * db_record.c — recording straight into the store, one transaction a call,
 * for a process too short-lived for a staging file (the command-line tool):
 * define a family, read its definition, change a series, forget an
 * incarnation.  The tool is one participant of a gauge, an info or a state
 * set (store/gauge.h): its value is kept in the series' row until it sets
 * another.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/buf.h"
#include "store/db_internal.h"
#include "store/gauge.h"

int db_define(struct db *db, const struct family_def *def)
{
	if (db_run(db, S_BEGIN) != 0)
		return -1;
	sqlite3_int64 id = db_family_put(db, def, NULL);
	if (id > 0 && db_run(db, S_COMMIT) == 0)
		return 0;
	db_run(db, S_ROLLBACK);
	return id == 0 ? DB_CLASH : -1;
}

int db_family(struct db *db, const char *name, struct family_def *def)
{
	sqlite3_int64 id;
	return db_family_get(db, name, def, &id);
}

struct record {
	enum db_op op;
	double v;
	double now; /* Unix seconds */
};

/* The tool's participant in a gauge's, an info's or a state set's row (its
 * first cells: store/gauge.h): its value set or changed, and beside it the
 * time or the mark its mode keeps. */
static int apply_value(double *cells, const struct family_def *def, const struct record *r)
{
	cells[0] = r->op == DB_ADD ? cells[0] + r->v : r->v;
	if (def->ncells > 1)
		cells[1] = gauge_stamp((int)def->type, (int)def->mode, r->now);
	return 0;
}

/* A command's change to a series: a counter's amount, a gauge's (an info's,
 * a state set's) value, a histogram's or summary's observation (a
 * histogram's classic bucket and sum, and its native part if it has one). */
static int apply_record(double *cells, const struct family_def *def, void *arg)
{
	const struct record *r = arg;
	if (gauge_like((int)def->type))
		return apply_value(cells, def, r);
	if (def->type == PF_SUMMARY) {
		cells[0] += 1;
		cells[1] += r->v;
		return 0;
	}
	if (def->type != PF_HISTOGRAM) {
		cells[0] = r->op == DB_SET ? r->v : cells[0] + r->v;
		return 0;
	}
	uint32_t b = 0;
	while (b < def->nbuckets && r->v > def->buckets[b])
		b++;
	if (def->native && native_observe(cells + def->nbuckets + 2, r->v) < 0)
		return -1;
	cells[b] += 1;
	cells[def->nbuckets + 1] += r->v;
	return 0;
}

/* An info's other series lose the tool's mark: the tool holds one label
 * set of an info at a time, the last it gave (as client_python's Info). */
static int drop_other_info(struct db *db, sqlite3_int64 fam, const struct family_def *def,
                           const char *key, uint32_t keylen)
{
	struct {
		sqlite3_int64 id;
		double cells[2];
	} *rows = NULL;
	size_t n = 0, cap = 0;
	uint32_t bytes = model_store_cells(def) * (uint32_t)sizeof(double);
	sqlite3_stmt *st = db->st[S_SERIES_OF], *get = db->st[S_SERIES_GET];
	sqlite3_int64 keep = 0;
	sqlite3_bind_int64(get, 1, fam);
	sqlite3_bind_blob(get, 2, key, (int)keylen, SQLITE_STATIC);
	int r = db_row(db, S_SERIES_GET);
	if (r == 1)
		keep = sqlite3_column_int64(get, 0);
	db_done(db, S_SERIES_GET);
	if (r < 0)
		return -1;
	sqlite3_bind_int64(st, 1, fam);
	while ((r = db_row(db, S_SERIES_OF)) == 1) {
		if (sqlite3_column_int64(st, 0) == keep ||
		    (uint32_t)sqlite3_column_bytes(st, 1) != bytes || bytes != sizeof rows->cells)
			continue;
		const double *c = sqlite3_column_blob(st, 1);
		if (c[0] == 0)
			continue;
		if (array_grow((void **)&rows, &cap, n + 1, sizeof *rows) != 0) {
			r = -1;
			break;
		}
		rows[n].id = sqlite3_column_int64(st, 0);
		memcpy(rows[n].cells, c, sizeof rows[n].cells);
		rows[n++].cells[0] = 0;
	}
	db_done(db, S_SERIES_OF);
	sqlite3_int64 gen = n ? db_gen(db) : 0; /* readers read the rows again */
	if (gen < 0)
		r = -1;
	for (size_t i = 0; r == 0 && i < n; i++) {
		sqlite3_stmt *set = db->st[S_SERIES_SET];
		sqlite3_bind_int64(set, 1, rows[i].id);
		sqlite3_bind_blob(set, 2, rows[i].cells, (int)bytes, SQLITE_STATIC);
		sqlite3_bind_int64(set, 3, gen);
		r = db_run(db, S_SERIES_SET);
	}
	free(rows);
	return r;
}

/* Whether a command fits the family: what the API takes of a process. */
static int record_fits(const struct family_def *def, enum db_op op, double v)
{
	switch (def->type) {
	case PF_COUNTER:
		return op == DB_ADD && v >= 0;
	case PF_GAUGE: /* liveall: one series per process, and the tool is none */
		return (op == DB_ADD || op == DB_SET) && def->mode != PF_GAUGE_LIVEALL;
	case PF_HISTOGRAM:
		return op == DB_OBSERVE && !isnan(v);
	case PF_SUMMARY:
		return op == DB_OBSERVE && v >= 0;
	case PF_INFO:
		return op == DB_INFO;
	case PF_STATESET:
		return op == DB_STATE && v >= 0 && v < def->nstates && v == floor(v);
	default:
		return 0;
	}
}

int db_record(struct db *db, const char *name, const char *key, uint32_t keylen,
              enum db_op op, double v)
{
	struct family_def def;
	sqlite3_int64 id;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct record rec = {op, op == DB_INFO ? 1 : v, (double)now.tv_sec + (double)now.tv_nsec / 1e9};
	if (db_run(db, S_BEGIN) != 0)
		return -1;
	int r = db_family_get(db, name, &def, &id), rc = -1;
	if (r != 1) {
		rc = r == 0 ? DB_NO_FAMILY : -1;
	} else if (record_fits(&def, op, v)) {
		rc = db_update_series(db, id, &def, key, keylen, apply_record, &rec, 0);
		if (rc == 0 && op == DB_INFO)
			rc = drop_other_info(db, id, &def, key, keylen);
	} else {
		rc = DB_WRONG_OP;
	}
	if (rc == 0 && db_run(db, S_COMMIT) == 0)
		return 0;
	db_run(db, S_ROLLBACK);
	return rc ? rc : -1;
}

int db_forget(struct db *db, const char *name)
{
	if (db_run(db, S_BEGIN) != 0)
		return -1;
	if (db_forget_in(db, name) == 0 && db_run(db, S_COMMIT) == 0)
		return 0;
	db_run(db, S_ROLLBACK);
	return -1;
}
