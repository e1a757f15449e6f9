/* SPDX-License-Identifier: MIT */
/*
 * promfcgi.c — the command-line tool: define families and record values
 * from shell scripts and cron jobs, print the store's exposition, check its
 * health.  A command is one SQLite transaction on the store (a process this
 * short-lived needs no staging file); gauges set here persist in the store,
 * and live workers' values of the same gauge are added to them.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/buf.h"
#include "metrics/own.h"
#include "metrics/protobuf.h"
#include "metrics/render.h"
#include "store/db.h"
#include "store/names.h"
#include "promfcgi.h"
#include "metrics/scrape.h"
#include "store/stage.h"

static const char usage[] =
    "usage: promfcgi [--db PATH] COMMAND ...\n"
    "  define counter|gauge|histogram NAME HELP [--labels a,b] [--buckets 0.1,1,10]\n"
    "         [--native [--schema 3] [--zero-threshold X]]   histogram: native buckets too\n"
    "  inc NAME [LABEL=VALUE ...]           counter or gauge + 1\n"
    "  add NAME AMOUNT [LABEL=VALUE ...]    counter (AMOUNT >= 0) or gauge\n"
    "  set NAME VALUE [LABEL=VALUE ...]     gauge\n"
    "  observe NAME VALUE [LABEL=VALUE ...] histogram\n"
    "  dump [--openmetrics|--protobuf]      print what /metrics would serve\n"
    "  check                                report the store's health; exit 1 if unhealthy\n"
    "The store is --db, else $PROMFCGI_DB, else " PROMFCGI_DEFAULT_DB ".\n"
    "Exit status: 0 done, 1 failed, 2 usage.\n";

static int usage_error(const char *why)
{
	fprintf(stderr, "promfcgi: %s\n%s", why, usage);
	return 2;
}

static int open_store(const char *path, struct db **db)
{
	char err[512];
	if (db_open(path, 5000, db, err, sizeof err) != 0) {
		fprintf(stderr, "promfcgi: %s\n", err);
		return -1;
	}
	return 0;
}

/* Splits "a,b,c" in place into at most max pointers. */
static int split(char *s, char **out, int max)
{
	int n = 0;
	for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
		out[n++] = tok;
	return n;
}

static int parse_number(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return s[0] && !*end && errno == 0 ? 0 : -1;
}

static int cmd_define(const char *path, int argc, char **argv)
{
	static const struct option opts[] = {{"labels", required_argument, NULL, 'l'},
	                                     {"buckets", required_argument, NULL, 'b'},
	                                     {"native", no_argument, NULL, 'n'},
	                                     {"schema", required_argument, NULL, 's'},
	                                     {"zero-threshold", required_argument, NULL, 'z'},
	                                     {NULL, 0, NULL, 0}};
	char *labels[PF_LABELS_MAX + 2] = {0}, *bucket_words[PF_BUCKETS_MAX + 1];
	double buckets[PF_BUCKETS_MAX], schema = PF_NATIVE_SCHEMA_DEFAULT,
	                                zero_threshold = PF_NATIVE_ZERO_THRESHOLD_DEFAULT;
	int nbuckets = -1, c, native = 0, native_options = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'l')
			split(optarg, labels, PF_LABELS_MAX + 1);
		else if (c == 'b') {
			nbuckets = split(optarg, bucket_words, PF_BUCKETS_MAX + 1);
			for (int i = 0; i < nbuckets; i++)
				if (nbuckets > PF_BUCKETS_MAX || parse_number(bucket_words[i], &buckets[i]) != 0)
					return usage_error("--buckets takes up to 32 numbers, comma-separated");
		} else if (c == 'n') {
			native = 1;
		} else if (c == 's') {
			native_options = 1;
			if (parse_number(optarg, &schema) != 0 || schema != floor(schema) ||
			    schema < PF_NATIVE_SCHEMA_MIN || schema > PF_NATIVE_SCHEMA_MAX)
				return usage_error("--schema takes an integer from -4 to 8");
		} else if (c == 'z') {
			native_options = 1;
			if (parse_number(optarg, &zero_threshold) != 0 || !(zero_threshold >= 0) ||
			    isinf(zero_threshold))
				return usage_error("--zero-threshold takes a number >= 0");
		} else
			return 2;
	}
	if (native_options && !native)
		return usage_error("--schema and --zero-threshold go with --native");
	if (argc - optind != 3)
		return usage_error("define takes TYPE NAME HELP");
	const char *type = argv[optind], *name = argv[optind + 1], *help = argv[optind + 2];
	int t = strcmp(type, "counter") == 0     ? PF_COUNTER
	      : strcmp(type, "gauge") == 0       ? PF_GAUGE
	      : strcmp(type, "histogram") == 0   ? PF_HISTOGRAM
	                                         : 0;
	if (t != PF_HISTOGRAM && (nbuckets >= 0 || native))
		return usage_error("--buckets and --native are for histograms");
	if (t == PF_HISTOGRAM && nbuckets < 0 && !native) { /* native: none unless asked for */
		nbuckets = pf_default_nbuckets;
		memcpy(buckets, pf_default_buckets, sizeof(double) * (size_t)nbuckets);
	}
	struct family_def def;
	if (names_build_family(&def, t, name, help, (const char *const *)labels, buckets,
	                    nbuckets < 0 ? 0 : nbuckets) != 0 ||
	    (native && names_build_native(&def, (int)schema, zero_threshold) != 0))
		return usage_error("invalid definition: TYPE is counter, gauge or histogram; names"
		                   " follow Prometheus' rules; HELP is required");
	struct db *db;
	if (open_store(path, &db) != 0)
		return 1;
	int rc = db_define(db, &def);
	if (rc == DB_CLASH)
		fprintf(stderr, "promfcgi: %s is already defined differently\n", name);
	else if (rc != 0)
		fprintf(stderr, "promfcgi: %s\n", db_errmsg(db));
	db_close(db);
	return rc == 0 ? 0 : 1;
}

/* LABEL=VALUE arguments, in the family's label order, as a series key. */
static int build_key(const struct family_def *def, int argc, char **argv, char *key, int cap)
{
	const char *values[PF_LABELS_MAX] = {0};
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		int found = 0;
		for (uint32_t j = 0; eq && j < def->nlabels; j++)
			if (strlen(def->labels[j]) == (size_t)(eq - argv[i]) &&
			    strncmp(def->labels[j], argv[i], (size_t)(eq - argv[i])) == 0) {
				values[j] = eq + 1;
				found = 1;
			}
		if (!found) {
			fprintf(stderr, "promfcgi: %s: not a label of %s\n", argv[i], def->name);
			return -1;
		}
	}
	for (uint32_t j = 0; j < def->nlabels; j++)
		if (!values[j]) {
			fprintf(stderr, "promfcgi: %s needs %s=VALUE\n", def->name, def->labels[j]);
			return -1;
		}
	int n = names_encode_key(values, (int)def->nlabels, key, (size_t)cap);
	if (n < 0)
		fprintf(stderr, "promfcgi: label values must be UTF-8 without NUL, %d bytes in all\n",
		        PF_KEY_MAX);
	return n;
}

static int cmd_record(const char *path, const char *cmd, int argc, char **argv)
{
	int with_value = strcmp(cmd, "inc") != 0;
	if (argc < 2 + with_value)
		return usage_error(with_value ? "NAME and a value are required" : "NAME is required");
	double v = 1;
	if (with_value && parse_number(argv[2], &v) != 0)
		return usage_error("the value is not a number");
	enum db_op op = strcmp(cmd, "set") == 0 ? DB_SET : strcmp(cmd, "observe") == 0 ? DB_OBSERVE : DB_ADD;
	struct db *db;
	struct family_def def;
	char key[PF_KEY_MAX];
	if (open_store(path, &db) != 0)
		return 1;
	int rc = db_family(db, argv[1], &def), n = -1;
	if (rc == 1)
		n = build_key(&def, argc - 2 - with_value, argv + 2 + with_value, key, sizeof key);
	else
		fprintf(stderr, "promfcgi: %s: %s\n", argv[1], rc == 0 ? "no such family (define it first)" : db_errmsg(db));
	if (n >= 0) {
		rc = db_record(db, argv[1], key, (uint32_t)n, op, v);
		if (rc == DB_WRONG_OP)
			fprintf(stderr, "promfcgi: %s %s: not for a %s\n", cmd, argv[1],
			        def.type == PF_COUNTER ? "counter (or a negative amount)" :
			        def.type == PF_GAUGE ? "gauge" : "histogram");
		else if (rc != 0)
			fprintf(stderr, "promfcgi: %s\n", db_errmsg(db));
	}
	db_close(db);
	return n >= 0 && rc == 0 ? 0 : 1;
}

static int cmd_dump(const char *path, int argc, char **argv)
{
	int om = argc == 2 && strcmp(argv[1], "--openmetrics") == 0;
	int pb = argc == 2 && strcmp(argv[1], "--protobuf") == 0;
	if (argc > 1 && !om && !pb)
		return usage_error("dump takes only --openmetrics or --protobuf");
	struct collection c;
	char reason[512];
	if (scrape_collect(path, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "promfcgi: %s\n", reason);
		return 1;
	}
	own_add(&c, scrape_last_stats());
	struct buf b = {0};
	if (om)
		render_openmetrics(&b, &c, NULL);
	else if (pb)
		protobuf_render(&b, &c, NULL);
	else
		render_text(&b, &c, NULL);
	model_collection_free(&c);
	int ok = !b.oom && fwrite(b.p, 1, b.len, stdout) == b.len && fflush(stdout) == 0;
	buf_free(&b);
	scrape_close();
	return ok ? 0 : 1;
}

static int cmd_check(const char *path)
{
	struct db *db;
	struct stat st;
	char dir[4096];
	if (stat(path, &st) != 0) {
		printf("store: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (open_store(path, &db) != 0)
		return 1;
	int sound = db_check(db) == 0;
	printf("store: %s\nschema: %d\nintegrity: %s\nbytes: %lld\n", path, db_schema_version(db),
	       sound ? "ok" : db_errmsg(db), (long long)st.st_size);
	db_close(db);
	int live = 0, dead = 0;
	stage_dir(path, dir, sizeof dir);
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		char file[4400];
		struct stage_snapshot snap;
		if (strncmp(e->d_name, "w-", 2) != 0)
			continue;
		snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
		if (stage_snapshot(file, &snap) == 0) {
			snap.live ? live++ : dead++;
			stage_snapshot_free(&snap);
		}
	}
	if (d)
		closedir(d);
	printf("workers: %d live, %d dead not yet folded\n", live, dead);
	return sound ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *path = getenv("PROMFCGI_DB");
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else {
			return usage_error("unknown option");
		}
	}
	if (!path || !path[0])
		path = PROMFCGI_DEFAULT_DB;
	if (i >= argc)
		return usage_error("a command is required");
	const char *cmd = argv[i];
	argc -= i;
	argv += i;
	if (strcmp(cmd, "define") == 0)
		return cmd_define(path, argc, argv);
	if (!strcmp(cmd, "inc") || !strcmp(cmd, "add") || !strcmp(cmd, "set") || !strcmp(cmd, "observe"))
		return cmd_record(path, cmd, argc, argv);
	if (strcmp(cmd, "dump") == 0)
		return cmd_dump(path, argc, argv);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(path);
	return usage_error("unknown command");
}
