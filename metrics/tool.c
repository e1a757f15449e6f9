/* SPDX-License-Identifier: MIT */
/*
 * tool.c — the command-line tool's commands on a store (see tool.h): a
 * command is one SQLite transaction (a process this short-lived needs no
 * staging file), a dump is a scrape, a check reads the store and the
 * staging files without changing them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store/buf.h"
#include "store/db.h"
#include "store/names.h"
#include "store/path.h"
#include "store/stage.h"
#include "metrics/own.h"
#include "metrics/poolstat.h"
#include "metrics/protobuf.h"
#include "metrics/render.h"
#include "metrics/scrape.h"
#include "metrics/tool.h"

/* How long a command waits for a worker holding the store's write lock. */
#define TOOL_BUSY_MS 5000

int tool_define(const char *db_path, const struct tool_definition *d, char *err, size_t len)
{
	struct family_def def;
	if (names_build_family(&def, d->type, d->name, d->help, d->labels, d->buckets,
	                       d->nbuckets) != 0 ||
	    (d->native && names_build_native(&def, d->schema, d->zero_threshold) != 0)) {
		snprintf(err, len, "invalid definition: TYPE is counter, gauge or histogram; names"
		                   " follow Prometheus' rules; HELP is required");
		return TOOL_USAGE;
	}
	struct db *db;
	if (db_open(db_path, TOOL_BUSY_MS, &db, err, len) != 0)
		return TOOL_FAILED;
	int rc = db_define(db, &def);
	if (rc == DB_CLASH)
		snprintf(err, len, "%s is already defined differently", d->name);
	else if (rc != 0)
		snprintf(err, len, "%s", db_errmsg(db));
	db_close(db);
	return rc == 0 ? TOOL_OK : TOOL_FAILED;
}

/* LABEL=VALUE arguments, in the family's label order, as a series key:
 * its length, or -1 (err set). */
static int build_key(const struct family_def *def, int nargs, char *const *args, char *key,
                     size_t cap, char *err, size_t len)
{
	const char *values[PF_LABELS_MAX] = {0};
	for (int i = 0; i < nargs; i++) {
		const char *eq = strchr(args[i], '=');
		int found = 0;
		for (uint32_t j = 0; eq && j < def->nlabels; j++)
			if (strlen(def->labels[j]) == (size_t)(eq - args[i]) &&
			    strncmp(def->labels[j], args[i], (size_t)(eq - args[i])) == 0) {
				values[j] = eq + 1;
				found = 1;
			}
		if (!found) {
			snprintf(err, len, "%s: not a label of %s", args[i], def->name);
			return -1;
		}
	}
	for (uint32_t j = 0; j < def->nlabels; j++)
		if (!values[j]) {
			snprintf(err, len, "%s needs %s=VALUE", def->name, def->labels[j]);
			return -1;
		}
	int n = names_encode_key(values, (int)def->nlabels, key, cap);
	if (n < 0)
		snprintf(err, len, "label values must be UTF-8 without NUL, %d bytes in all", PF_KEY_MAX);
	return n;
}

int tool_record(const char *db_path, const char *cmd, const char *name, double v, int nargs,
                char *const *args, char *err, size_t len)
{
	enum db_op op = strcmp(cmd, "set") == 0 ? DB_SET : strcmp(cmd, "observe") == 0 ? DB_OBSERVE : DB_ADD;
	struct db *db;
	struct family_def def;
	char key[PF_KEY_MAX];
	if (db_open(db_path, TOOL_BUSY_MS, &db, err, len) != 0)
		return TOOL_FAILED;
	int rc = db_family(db, name, &def), n = -1;
	if (rc == 1)
		n = build_key(&def, nargs, args, key, sizeof key, err, len);
	else
		snprintf(err, len, "%s: %s", name, rc == 0 ? "no such family (define it first)" : db_errmsg(db));
	if (n >= 0) {
		rc = db_record(db, name, key, (uint32_t)n, op, v);
		if (rc == DB_WRONG_OP)
			snprintf(err, len, "%s %s: not for a %s", cmd, name,
			         def.type == PF_COUNTER ? "counter (or a negative amount)" :
			         def.type == PF_GAUGE ? "gauge" : "histogram");
		else if (rc != 0)
			snprintf(err, len, "%s", db_errmsg(db));
	}
	db_close(db);
	return n >= 0 && rc == 0 ? TOOL_OK : TOOL_FAILED;
}

int tool_dump(const char *db_path, const char *format, FILE *out, char *err, size_t len)
{
	struct collection c;
	err[0] = '\0';
	if (scrape_collect(db_path, &c, err, len) != 0)
		return TOOL_FAILED;
	own_add(&c, scrape_last_stats());
	poolstat_add(&c, scrape_last_stats()->pool, scrape_last_stats()->npool,
	             scrape_last_stats()->pool_now);
	struct buf b = {0};
	if (strcmp(format, "openmetrics") == 0)
		render_openmetrics(&b, &c, NULL);
	else if (strcmp(format, "protobuf") == 0)
		protobuf_render(&b, &c, NULL);
	else
		render_text(&b, &c, NULL);
	model_collection_free(&c);
	int ok = !b.oom && fwrite(b.p, 1, b.len, out) == b.len && fflush(out) == 0;
	buf_free(&b);
	scrape_close();
	return ok ? TOOL_OK : TOOL_FAILED;
}

/* The staging files in the store's directory: live ones, and dead ones not
 * yet folded. */
static void count_workers(const char *db_path, int *live, int *dead)
{
	char dir[PATH_BYTES], file[PATH_BYTES];
	*live = *dead = 0;
	DIR *d = stage_dir(db_path, dir) == 0 ? opendir(dir) : NULL;
	for (struct dirent *e; d && (e = readdir(d));) {
		struct stage_snapshot snap;
		if (strncmp(e->d_name, "w-", 2) != 0 || path_join(file, dir, e->d_name) != 0)
			continue;
		if (stage_snapshot(file, &snap) == 0) {
			snap.live ? ++*live : ++*dead;
			stage_snapshot_free(&snap);
		}
	}
	if (d)
		closedir(d);
}

int tool_check(const char *db_path, FILE *out, char *err, size_t len)
{
	struct db *db;
	struct stat st;
	err[0] = '\0';
	if (stat(db_path, &st) != 0) {
		fprintf(out, "store: %s: %s\n", db_path, strerror(errno));
		return TOOL_FAILED;
	}
	if (db_open(db_path, TOOL_BUSY_MS, &db, err, len) != 0)
		return TOOL_FAILED;
	int sound = db_check(db) == 0;
	fprintf(out, "store: %s\nschema: %d\nintegrity: %s\nbytes: %lld\n", db_path,
	        db_schema_version(db), sound ? "ok" : db_errmsg(db), (long long)st.st_size);
	db_close(db);
	int live, dead;
	count_workers(db_path, &live, &dead);
	fprintf(out, "workers: %d live, %d dead not yet folded\n", live, dead);
	return sound ? TOOL_OK : TOOL_FAILED;
}
