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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/buf.h"
#include "store/db.h"
#include "store/names.h"
#include "store/notice.h"
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

static const char *type_name(int type)
{
	static const char *const names[] = {"?", "counter", "gauge", "histogram", "summary", "info",
	                                    "state set"};
	return type >= PF_COUNTER && type <= PF_STATESET ? names[type] : names[0];
}

/* "a gauge (mode max, unit seconds) with labels (a, b)": a definition, for
 * a clash's message. */
static void describe(char *out, size_t len, const struct family_def *d)
{
	size_t n = (size_t)snprintf(out, len, "a %s", type_name((int)d->type));
	if (d->type == PF_GAUGE && n < len)
		n += (size_t)snprintf(out + n, len - n, " (mode %s", names_gauge_mode((int)d->mode));
	if (d->type != PF_GAUGE && d->unit[0] && n < len)
		n += (size_t)snprintf(out + n, len - n, " (");
	if (d->unit[0] && n < len)
		n += (size_t)snprintf(out + n, len - n, "%sunit %s", d->type == PF_GAUGE ? ", " : "",
		                      d->unit);
	if ((d->type == PF_GAUGE || d->unit[0]) && n < len)
		n += (size_t)snprintf(out + n, len - n, ")");
	for (uint32_t i = 0; i < d->nstates && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", i ? ", " : " of states (", d->states[i]);
	if (d->nstates && n < len)
		n += (size_t)snprintf(out + n, len - n, ")");
	for (uint32_t i = 0; i < d->nlabels && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", i ? ", " : " with labels (", d->labels[i]);
	if (d->nlabels && n < len)
		n += (size_t)snprintf(out + n, len - n, ")");
	if (d->type == PF_HISTOGRAM && n < len)
		n += (size_t)snprintf(out + n, len - n, ", %u classic buckets", d->nbuckets);
	if (d->native && n < len)
		snprintf(out + n, len - n, ", native buckets (schema %d)", d->schema);
}

int tool_gauge_mode(const char *name)
{
	return names_gauge_mode_of(name);
}

int tool_define(const char *db_path, const struct tool_definition *d, char *err, size_t len)
{
	struct family_def def, was;
	if (names_build_family(&def, d->type, d->name, d->help, d->labels, d->buckets,
	                       d->nbuckets) != 0 ||
	    (d->native && names_build_native(&def, d->schema, d->zero_threshold) != 0)) {
		snprintf(err, len, "invalid definition: TYPE is counter, gauge, histogram, summary, info"
		                   " or stateset; names follow Prometheus' rules; HELP is required");
		return TOOL_USAGE;
	}
	if (names_build_kind(&def, d->mode, d->unit, d->states) != 0) {
		snprintf(err, len, "define %s: %s", d->name, notice_reason());
		return TOOL_USAGE;
	}
	struct db *db;
	if (db_open(db_path, TOOL_BUSY_MS, &db, err, len) != 0)
		return TOOL_FAILED;
	int rc = db_define(db, &def);
	if (rc == DB_CLASH && db_family(db, d->name, &was) == 1) {
		char a[256], b[256];
		describe(a, sizeof a, &was);
		describe(b, sizeof b, &def);
		snprintf(err, len, "define %s: clashes with its definition in the store, %s; this one is "
		         "%s: a family is defined once, the same way everywhere", d->name, a, b);
	} else if (rc == DB_CLASH) {
		snprintf(err, len, "define %s: already defined differently", d->name);
	} else if (rc != 0) {
		snprintf(err, len, "%s", db_errmsg(db));
	}
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

static int parse_number(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return s[0] && !*end && errno == 0 ? 0 : -1;
}

/* Why a command does not fit a family, in the words of its rule. */
static void wrong_op(char *err, size_t len, const char *cmd, const char *name,
                     const struct family_def *def, const char *value)
{
	const char *why;
	switch (def->type) {
	case PF_COUNTER:
		why = "a counter takes inc and add, never a negative amount";
		break;
	case PF_GAUGE:
		why = def->mode == PF_GAUGE_LIVEALL
		          ? "a liveall gauge is each process's own, and the tool is no process"
		          : "a gauge takes inc, add and set";
		break;
	case PF_SUMMARY:
		why = "a summary takes observe, of a number >= 0";
		break;
	case PF_INFO:
		why = "an info takes info NAME LABEL=VALUE ...";
		break;
	case PF_STATESET:
		why = NULL;
		break;
	default:
		why = "a histogram takes observe, not of NaN";
	}
	if (why) {
		snprintf(err, len, "%s %s: %s", cmd, name, why);
		return;
	}
	size_t n = (size_t)snprintf(err, len, "%s %s%s%s: a state set takes set STATE, one of ", cmd,
	                            name, value ? " " : "", value ? value : "");
	for (uint32_t i = 0; i < def->nstates && n < len; i++)
		n += (size_t)snprintf(err + n, len - n, "%s%s", i ? ", " : "", def->states[i]);
}

int tool_record(const char *db_path, const char *cmd, const char *name, const char *value,
                int nargs, char *const *args, char *err, size_t len)
{
	enum db_op op = strcmp(cmd, "set") == 0       ? DB_SET
	              : strcmp(cmd, "observe") == 0   ? DB_OBSERVE
	              : strcmp(cmd, "info") == 0      ? DB_INFO
	                                              : DB_ADD;
	struct db *db;
	struct family_def def;
	char key[PF_KEY_MAX];
	double v = 1;
	if (db_open(db_path, TOOL_BUSY_MS, &db, err, len) != 0)
		return TOOL_FAILED;
	int rc = db_family(db, name, &def), n = -1;
	if (rc == 1)
		n = build_key(&def, nargs, args, key, sizeof key, err, len);
	else
		snprintf(err, len, "%s: %s", name, rc == 0 ? "no such family (define it first)" : db_errmsg(db));
	if (n >= 0 && def.type == PF_STATESET && op == DB_SET) {
		/* a state set's value is a state's name */
		op = DB_STATE;
		v = names_state_index(&def, value);
	} else if (n >= 0 && value && parse_number(value, &v) != 0) {
		snprintf(err, len, "%s %s %s: the value is not a number", cmd, name, value);
		db_close(db);
		return TOOL_USAGE;
	}
	if (n >= 0) {
		rc = db_record(db, name, key, (uint32_t)n, op, v);
		if (rc == DB_WRONG_OP)
			wrong_op(err, len, cmd, name, &def, value);
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
