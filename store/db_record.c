/* SPDX-License-Identifier: MIT */
/*
 * db_record.c — recording straight into the store, one transaction a call,
 * for a process too short-lived for a staging file (the command-line tool):
 * define a family, read its definition, change a series, forget an
 * incarnation.
 */
#include <math.h>
#include <string.h>

#include "store/db_internal.h"

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
};

/* A command's change to a series: a counter's or gauge's amount, a gauge's
 * value, a histogram's observation (its classic bucket and sum, and its
 * native part if it has one). */
static int apply_record(double *cells, const struct family_def *def, void *arg)
{
	const struct record *r = arg;
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

int db_record(struct db *db, const char *name, const char *key, uint32_t keylen,
              enum db_op op, double v)
{
	struct family_def def;
	sqlite3_int64 id;
	struct record rec = {op, v};
	if (db_run(db, S_BEGIN) != 0)
		return -1;
	int r = db_family_get(db, name, &def, &id), rc = -1;
	if (r != 1) {
		rc = r == 0 ? DB_NO_FAMILY : -1;
	} else if ((def.type == PF_COUNTER && op == DB_ADD && v >= 0) ||
	           (def.type == PF_GAUGE && (op == DB_ADD || op == DB_SET)) ||
	           (def.type == PF_HISTOGRAM && op == DB_OBSERVE && !isnan(v))) {
		rc = db_update_series(db, id, &def, key, keylen, apply_record, &rec, 0);
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
