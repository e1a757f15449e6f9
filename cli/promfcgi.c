/* SPDX-License-Identifier: MIT */
/*
 * promfcgi.c — the command-line tool: define families and record values
 * from shell scripts and cron jobs, print the store's exposition, check its
 * health.  A command is one SQLite transaction on the store (a process this
 * short-lived needs no staging file); gauges set here persist in the store,
 * and live workers' values of the same gauge are added to them.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/tool.h" /* the tool's interface to the library: not the public API */
#include "promfcgi.h"

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

/* A command's end: its exit status, its error line if it failed. */
static int done(int rc, const char *err)
{
	if (rc == TOOL_USAGE)
		return usage_error(err);
	if (rc != TOOL_OK && err[0])
		fprintf(stderr, "promfcgi: %s\n", err);
	return rc;
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
	struct tool_definition def = {.type = t,
	                              .name = name,
	                              .help = help,
	                              .labels = (const char *const *)labels,
	                              .buckets = buckets,
	                              .nbuckets = nbuckets < 0 ? 0 : nbuckets,
	                              .native = native,
	                              .schema = (int)schema,
	                              .zero_threshold = zero_threshold};
	char err[512];
	return done(tool_define(path, &def, err, sizeof err), err);
}

static int cmd_record(const char *path, const char *cmd, int argc, char **argv)
{
	int with_value = strcmp(cmd, "inc") != 0;
	if (argc < 2 + with_value)
		return usage_error(with_value ? "NAME and a value are required" : "NAME is required");
	double v = 1;
	if (with_value && parse_number(argv[2], &v) != 0)
		return usage_error("the value is not a number");
	char err[512];
	return done(tool_record(path, cmd, argv[1], v, argc - 2 - with_value, argv + 2 + with_value,
	                        err, sizeof err),
	            err);
}

static int cmd_dump(const char *path, int argc, char **argv)
{
	int om = argc == 2 && strcmp(argv[1], "--openmetrics") == 0;
	int pb = argc == 2 && strcmp(argv[1], "--protobuf") == 0;
	if (argc > 1 && !om && !pb)
		return usage_error("dump takes only --openmetrics or --protobuf");
	char err[512];
	return done(tool_dump(path, om ? "openmetrics" : pb ? "protobuf" : "text", stdout, err,
	                      sizeof err),
	            err);
}

static int cmd_check(const char *path)
{
	char err[512];
	return done(tool_check(path, stdout, err, sizeof err), err);
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
