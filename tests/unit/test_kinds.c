/* SPDX-License-Identifier: MIT */
/*
 * test_kinds.c — issue 19's kinds of value: gauge modes (store/gauge.c's
 * rules), summaries, info, state sets and units: their names' rules, and
 * how each renders in text 0.0.4, OpenMetrics and protobuf.  Expected
 * texts are written from the formats' rules (OpenMetrics 1.0, client_model's
 * metrics.proto), and the output is also handed to independent parsers:
 * promtool (text), client_python's strict OpenMetrics parser
 * (tests/integration/tools/om_check.py) and protoc.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/gauge.h"
#include "store/names.h"
#include "store/notice.h"
#include "metrics/protobuf.h"
#include "metrics/render.h"
#include "promfcgi.h"
#include "test.h"

static const char *text(const struct collection *c)
{
	static struct buf b;
	buf_free(&b);
	render_text(&b, c, NULL);
	buf_putc(&b, '\0');
	return b.p;
}

static const char *om(const struct collection *c)
{
	static struct buf b;
	buf_free(&b);
	render_openmetrics(&b, c, NULL);
	buf_putc(&b, '\0');
	return b.p;
}

/* ---- rendering ------------------------------------------------------------ */

static void summary(void)
{
	char *labels[] = {"job"};
	double a[] = {3, 7.5}, z[] = {0, 0};
	struct series_data s[] = {{"backup\0", 7, a, 1700000000, NULL}, {"sync\0", 5, z, 0, NULL}};
	struct family_data f = {.name = "job_seconds", .help = "Job durations.",
	                        .type = PF_SUMMARY, .nlabels = 1, .labels = labels, .ncells = 2,
	                        .series = s, .nseries = 2, .unit = "seconds"};
	struct collection c = {.families = &f, .nfamilies = 1, .cap = 1};
	CHECK_STR(text(&c), "# HELP job_seconds Job durations.\n"
	                    "# TYPE job_seconds summary\n"
	                    "job_seconds_sum{job=\"backup\"} 7.5\n"
	                    "job_seconds_count{job=\"backup\"} 3\n"
	                    "job_seconds_sum{job=\"sync\"} 0\n"
	                    "job_seconds_count{job=\"sync\"} 0\n");
	CHECK_STR(om(&c), "# HELP job_seconds Job durations.\n"
	                  "# TYPE job_seconds summary\n"
	                  "# UNIT job_seconds seconds\n"
	                  "job_seconds_sum{job=\"backup\"} 7.5\n"
	                  "job_seconds_count{job=\"backup\"} 3\n"
	                  "job_seconds_created{job=\"backup\"} 1700000000\n"
	                  "job_seconds_sum{job=\"sync\"} 0\n"
	                  "job_seconds_count{job=\"sync\"} 0\n"
	                  "# EOF\n");
}

/* An info's samples are name_info 1 for the series some process holds; its
 * OpenMetrics family is the name without _info. */
static void info(void)
{
	char *labels[] = {"version", "commit"};
	double held[] = {1}, gone[] = {0};
	struct series_data s[] = {{"1.2\0abc\0", 8, held, 0, NULL}, {"1.1\0aaa\0", 8, gone, 0, NULL}};
	struct family_data f = {.name = "app_build_info", .help = "The build.", .type = PF_INFO,
	                        .nlabels = 2, .labels = labels, .ncells = 1, .series = s,
	                        .nseries = 2};
	struct collection c = {.families = &f, .nfamilies = 1, .cap = 1};
	CHECK_STR(text(&c), "# HELP app_build_info The build.\n"
	                    "# TYPE app_build_info gauge\n"
	                    "app_build_info{version=\"1.2\",commit=\"abc\"} 1\n");
	CHECK_STR(om(&c), "# HELP app_build The build.\n"
	                  "# TYPE app_build info\n"
	                  "app_build_info{version=\"1.2\",commit=\"abc\"} 1\n"
	                  "# EOF\n");
	/* no labels, no process holding it: metadata only, never a 0 */
	struct family_data none = {.name = "x_info", .help = "X.", .type = PF_INFO, .ncells = 1};
	struct collection d = {.families = &none, .nfamilies = 1, .cap = 1};
	CHECK_STR(text(&d), "# HELP x_info X.\n# TYPE x_info gauge\n");
	/* a name without _info (only a damaged store has one) is never shown */
	none.name = "x";
	CHECK_STR(text(&d), "");
}

/* A state set: a sample per state, labelled with the family's name, one of
 * them 1: the one set last, or the first before any was set. */
static void stateset(void)
{
	char *labels[] = {"peer"};
	char *states[] = {"closed", "open", "half_open"};
	double open[] = {1, 1700000000.25}, never[] = {0, 0}, bad[] = {3, 1};
	struct series_data s[] = {{"db\0", 3, open, 0, NULL}, {"mail\0", 5, never, 0, NULL},
	                          {"zz\0", 3, bad, 0, NULL}};
	struct family_data f = {.name = "breaker", .help = "Circuit breakers.", .type = PF_STATESET,
	                        .nlabels = 1, .labels = labels, .ncells = 2, .series = s,
	                        .nseries = 3, .nstates = 3, .states = states};
	struct collection c = {.families = &f, .nfamilies = 1, .cap = 1};
	const char *samples = "breaker{peer=\"db\",breaker=\"closed\"} 0\n"
	                      "breaker{peer=\"db\",breaker=\"open\"} 1\n"
	                      "breaker{peer=\"db\",breaker=\"half_open\"} 0\n"
	                      "breaker{peer=\"mail\",breaker=\"closed\"} 1\n"
	                      "breaker{peer=\"mail\",breaker=\"open\"} 0\n"
	                      "breaker{peer=\"mail\",breaker=\"half_open\"} 0\n";
	char want[1024];
	snprintf(want, sizeof want, "# HELP breaker Circuit breakers.\n# TYPE breaker gauge\n%s",
	         samples);
	CHECK_STR(text(&c), want); /* a state index out of range (damaged) shows nothing */
	snprintf(want, sizeof want,
	         "# HELP breaker Circuit breakers.\n# TYPE breaker stateset\n%s# EOF\n", samples);
	CHECK_STR(om(&c), want);
	/* without labels and before any process: the first state */
	struct family_data bare = {.name = "mode", .help = "M.", .type = PF_STATESET, .ncells = 2,
	                           .nstates = 2, .states = states};
	struct collection d = {.families = &bare, .nfamilies = 1, .cap = 1};
	CHECK_STR(text(&d), "# HELP mode M.\n# TYPE mode gauge\n"
	                    "mode{mode=\"closed\"} 1\nmode{mode=\"open\"} 0\n");
}

/* A gauge shows its value whatever its mode; a liveall gauge one series per
 * live process that set it, labelled pid. */
static void gauge_modes(void)
{
	double mr[] = {42, 1700000000}, all1[] = {5, 1}, all2[] = {0, 0};
	struct series_data one = {"", 0, mr, 0, NULL};
	char *pid[] = {"pid"};
	struct series_data per[] = {{"100\0", 4, all1, 0, NULL}, {"200\0", 4, all2, 0, NULL}};
	struct family_data f[] = {
	    {.name = "config_version", .help = "C.", .type = PF_GAUGE, .ncells = 2,
	     .mode = PF_GAUGE_MOSTRECENT, .series = &one, .nseries = 1},
	    {.name = "free_bytes", .help = "F.", .type = PF_GAUGE, .ncells = 2,
	     .mode = PF_GAUGE_LIVEALL, .nlabels = 1, .labels = pid, .series = per, .nseries = 2},
	};
	struct collection c = {.families = f, .nfamilies = 2, .cap = 2};
	CHECK_STR(text(&c), "# HELP config_version C.\n# TYPE config_version gauge\n"
	                    "config_version 42\n"
	                    "# HELP free_bytes F.\n# TYPE free_bytes gauge\n"
	                    "free_bytes{pid=\"100\"} 5\n");
	/* a mode that needs two cells with one (a damaged definition): not shown */
	f[0].ncells = 1;
	f[1].ncells = 1;
	CHECK_STR(text(&c), "");
}

/* OpenMetrics' UNIT: the unit stated at definition; without one, a base
 * unit the name ends in (as every release before showed). */
static void units(void)
{
	double v[] = {1};
	struct series_data s = {"", 0, v, 0, NULL};
	struct family_data f[] = {
	    {.name = "a_celsius", .help = "A.", .type = PF_GAUGE, .ncells = 1, .series = &s,
	     .nseries = 1},
	    {.name = "b_requests", .help = "B.", .type = PF_GAUGE, .ncells = 1, .series = &s,
	     .nseries = 1, .unit = "requests"},
	    {.name = "c_requests_total", .help = "C.", .type = PF_COUNTER, .ncells = 1, .series = &s,
	     .nseries = 1, .unit = "requests"},
	    {.name = "d_things", .help = "D.", .type = PF_GAUGE, .ncells = 1, .series = &s,
	     .nseries = 1, .unit = "seconds"}, /* damaged: not the name's suffix */
	};
	struct collection c = {.families = f, .nfamilies = 4, .cap = 4};
	CHECK_STR(om(&c), "# HELP a_celsius A.\n# TYPE a_celsius gauge\n# UNIT a_celsius celsius\n"
	                  "a_celsius 1\n"
	                  "# HELP b_requests B.\n# TYPE b_requests gauge\n# UNIT b_requests requests\n"
	                  "b_requests 1\n"
	                  "# HELP c_requests C.\n# TYPE c_requests counter\n"
	                  "# UNIT c_requests requests\nc_requests_total 1\n"
	                  "# HELP d_things D.\n# TYPE d_things gauge\nd_things 1\n"
	                  "# EOF\n");
	/* text 0.0.4 has no units */
	CHECK(!strstr(text(&c), "UNIT"));
}

/* ---- independent parsers ----------------------------------------------------- */

static char *run_capture(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		return NULL;
	struct buf out = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		buf_put(&out, chunk, n);
	buf_putc(&out, '\0');
	if (pclose(p) != 0) {
		fprintf(stderr, "  %s failed:\n%s\n", cmd, out.p);
		buf_free(&out);
		return NULL;
	}
	return out.p;
}

static const char *tmp_path(const char *name)
{
	static char path[512];
	const char *dir = getenv("PROMFCGI_TEST_DIR");
	snprintf(path, sizeof path, "%s/%d-%s", dir ? dir : "/tmp", (int)getpid(), name);
	return path;
}

static void write_file(const char *path, const char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(p, 1, n, f) == n);
	if (f)
		fclose(f);
}

static void need(const char *tool)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
	if (system(cmd) != 0) {
		fprintf(stderr, "  %s is missing: run scripts/deps (make deps)\n", tool);
		test_failures++;
		_exit(1);
	}
}

/* One family of every kind, as a scrape would hand them over. */
static struct collection every_kind(void)
{
	static char *job[] = {"job"}, *version[] = {"version"}, *states[] = {"closed", "open"};
	static char *pid[] = {"pid"};
	static double sum[] = {4, 10.5}, held[] = {1}, state[] = {1, 1700000000}, mr[] = {3, 1700000001};
	static double per[] = {7, 1}, cnt[] = {2}, hist[] = {1, 1, 0.75}, bounds[] = {1};
	static struct series_data s_sum = {"a\0", 2, sum, 1700000000, NULL};
	static struct series_data s_info = {"1.2\0", 4, held, 0, NULL};
	static struct series_data s_state = {"", 0, state, 0, NULL};
	static struct series_data s_mr = {"", 0, mr, 0, NULL};
	static struct series_data s_per = {"4242\0", 5, per, 0, NULL};
	static struct series_data s_cnt = {"", 0, cnt, 1700000000, NULL};
	static struct series_data s_hist = {"", 0, hist, 1700000000, NULL};
	static struct family_data f[] = {
	    {.name = "app_build_info", .help = "Build.", .type = PF_INFO, .nlabels = 1,
	     .labels = version, .ncells = 1, .series = &s_info, .nseries = 1},
	    {.name = "backup_last_success_seconds", .help = "Last backup.", .type = PF_GAUGE,
	     .mode = PF_GAUGE_MOSTRECENT, .ncells = 2, .series = &s_mr, .nseries = 1,
	     .unit = "seconds"},
	    {.name = "breaker", .help = "Breaker.", .type = PF_STATESET, .ncells = 2,
	     .series = &s_state, .nseries = 1, .nstates = 2, .states = states},
	    {.name = "free_memory_bytes", .help = "Free.", .type = PF_GAUGE,
	     .mode = PF_GAUGE_LIVEALL, .nlabels = 1, .labels = pid, .ncells = 2, .series = &s_per,
	     .nseries = 1, .unit = "bytes"},
	    {.name = "job_duration_seconds", .help = "Jobs.", .type = PF_SUMMARY, .nlabels = 1,
	     .labels = job, .ncells = 2, .series = &s_sum, .nseries = 1, .unit = "seconds"},
	    {.name = "orders_total", .help = "Orders.", .type = PF_COUNTER, .ncells = 1,
	     .series = &s_cnt, .nseries = 1},
	    {.name = "size_bytes", .help = "Sizes.", .type = PF_HISTOGRAM, .nbuckets = 1,
	     .buckets = bounds, .ncells = 3, .series = &s_hist, .nseries = 1,
	     .unit = "bytes"},
	};
	return (struct collection){.families = f, .nfamilies = sizeof f / sizeof f[0], .cap = 7};
}

/* promtool takes the text page, client_python's strict OpenMetrics parser the
 * OpenMetrics one: summary, info, stateset and units as the spec has them. */
static void parsers_accept(void)
{
	need("promtool");
	need("/usr/bin/python3");
	struct collection c = every_kind();
	const char *path = tmp_path("page.txt");
	const char *t = text(&c);
	write_file(path, t, strlen(t));
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
	char *out = run_capture(cmd);
	CHECK(out != NULL);
	free(out);
	const char *o = om(&c);
	write_file(path, o, strlen(o));
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/integration/tools/om_check.py < %s", path);
	out = run_capture(cmd);
	CHECK_STR(out, "om_check: 7 families, 15 samples, 0 exemplars\n");
	free(out);
	/* and what client_python makes of them: types, units, values */
	snprintf(cmd, sizeof cmd,
	         "/usr/bin/python3 -c 'import sys\n"
	         "from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n"
	         "for f in p(sys.stdin.read()):\n"
	         "  print(f.name, f.type, f.unit, \" \".join(s.name + str(sorted(s.labels.items())) + \"=\" + repr(s.value) for s in f.samples))' < %s",
	         path);
	out = run_capture(cmd);
	CHECK_STR(out,
	          "app_build info  app_build_info[('version', '1.2')]=1\n"
	          "backup_last_success_seconds gauge seconds backup_last_success_seconds[]=3\n"
	          "breaker stateset  breaker[('breaker', 'closed')]=0 breaker[('breaker', 'open')]=1\n"
	          "free_memory_bytes gauge bytes free_memory_bytes[('pid', '4242')]=7\n"
	          "job_duration_seconds summary seconds job_duration_seconds_sum[('job', 'a')]=10.5 "
	          "job_duration_seconds_count[('job', 'a')]=4 "
	          "job_duration_seconds_created[('job', 'a')]=1700000000\n"
	          "orders counter  orders_total[]=2 orders_created[]=1700000000\n"
	          "size_bytes histogram bytes size_bytes_bucket[('le', '1.0')]=1 "
	          "size_bytes_bucket[('le', '+Inf')]=2 size_bytes_sum[]=0.75 size_bytes_count[]=2 "
	          "size_bytes_created[]=1700000000\n");
	free(out);
}

/* Protobuf: a summary as a Summary (count, sum, created), an info and a
 * state set as gauges with text 0.0.4's samples, a stated unit in
 * MetricFamily.unit. */
static void protobuf(void)
{
	need("/usr/bin/python3");
	struct collection c = every_kind();
	struct buf b = {0};
	protobuf_render(&b, &c, NULL);
	CHECK(!b.oom);
	const char *path = tmp_path("stream.bin");
	write_file(path, b.p, b.len);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/unit/pbdecode.py %s", path);
	char *out = run_capture(cmd);
	CHECK_STR(out,
	          "name: \"app_build_info\"\nhelp: \"Build.\"\ntype: GAUGE\n"
	          "metric {\n  label {\n    name: \"version\"\n    value: \"1.2\"\n  }\n"
	          "  gauge {\n    value: 1\n  }\n}\n---\n"
	          "name: \"backup_last_success_seconds\"\nhelp: \"Last backup.\"\ntype: GAUGE\n"
	          "metric {\n  gauge {\n    value: 3\n  }\n}\nunit: \"seconds\"\n---\n"
	          "name: \"breaker\"\nhelp: \"Breaker.\"\ntype: GAUGE\n"
	          "metric {\n  label {\n    name: \"breaker\"\n    value: \"closed\"\n  }\n"
	          "  gauge {\n    value: 0\n  }\n}\n"
	          "metric {\n  label {\n    name: \"breaker\"\n    value: \"open\"\n  }\n"
	          "  gauge {\n    value: 1\n  }\n}\n---\n"
	          "name: \"free_memory_bytes\"\nhelp: \"Free.\"\ntype: GAUGE\n"
	          "metric {\n  label {\n    name: \"pid\"\n    value: \"4242\"\n  }\n"
	          "  gauge {\n    value: 7\n  }\n}\nunit: \"bytes\"\n---\n"
	          "name: \"job_duration_seconds\"\nhelp: \"Jobs.\"\ntype: SUMMARY\n"
	          "metric {\n  label {\n    name: \"job\"\n    value: \"a\"\n  }\n"
	          "  summary {\n    sample_count: 4\n    sample_sum: 10.5\n"
	          "    created_timestamp {\n      seconds: 1700000000\n    }\n  }\n}\n"
	          "unit: \"seconds\"\n---\n"
	          "name: \"orders_total\"\nhelp: \"Orders.\"\ntype: COUNTER\n"
	          "metric {\n  counter {\n    value: 2\n"
	          "    created_timestamp {\n      seconds: 1700000000\n    }\n  }\n}\n---\n"
	          "name: \"size_bytes\"\nhelp: \"Sizes.\"\ntype: HISTOGRAM\n"
	          "metric {\n  histogram {\n    sample_count: 2\n    sample_sum: 0.75\n"
	          "    bucket {\n      cumulative_count: 1\n      upper_bound: 1\n    }\n"
	          "    created_timestamp {\n      seconds: 1700000000\n    }\n  }\n}\n"
	          "unit: \"bytes\"\n---\n");
	free(out);
	buf_free(&b);
}

/* ---- the rules ------------------------------------------------------------- */

static int kind(int type, const char *name, const char *const *labels, int mode,
                const char *unit, const char *const *states)
{
	struct family_def d;
	if (names_build_family(&d, type, name, "H.", labels, NULL, 0) != 0)
		return -2;
	return names_build_kind(&d, mode, unit, states);
}

static void names(void)
{
	const char *const st[] = {"a", "b", NULL}, *const job[] = {"job", NULL};
	/* units: the family name's suffix, after an underscore */
	CHECK(kind(PF_GAUGE, "x_seconds", NULL, 0, "seconds", NULL) == 0);
	CHECK(kind(PF_COUNTER, "x_seconds_total", NULL, 0, "seconds", NULL) == 0);
	CHECK(kind(PF_COUNTER, "x_seconds", NULL, 0, "seconds", NULL) == 0); /* OM: x_seconds_total */
	CHECK(kind(PF_SUMMARY, "x_bytes", NULL, 0, "bytes", NULL) == 0);
	CHECK(kind(PF_GAUGE, "x_seconds", NULL, 0, "bytes", NULL) == -1);
	CHECK(strstr(notice_reason(), "must end in _bytes") != NULL);
	CHECK(kind(PF_GAUGE, "xseconds", NULL, 0, "seconds", NULL) == -1); /* no underscore */
	CHECK(kind(PF_GAUGE, "seconds", NULL, 0, "seconds", NULL) == -1);
	CHECK(kind(PF_COUNTER, "x_total", NULL, 0, "total", NULL) == -1);
	CHECK(kind(PF_GAUGE, "x_a-b", NULL, 0, "a-b", NULL) == -2);
	CHECK(kind(PF_GAUGE, "x__y", NULL, 0, "_y", NULL) == -1);
	CHECK(kind(PF_GAUGE, "x_y", NULL, 0, "", NULL) == 0); /* "": none */
	CHECK(kind(PF_INFO, "x_seconds_info", NULL, 0, "seconds", NULL) == -1);
	CHECK(kind(PF_STATESET, "x_seconds", NULL, 0, "seconds", st) == -1);
	/* modes: a gauge's, in range */
	CHECK(kind(PF_GAUGE, "g", NULL, PF_GAUGE_MOSTRECENT, NULL, NULL) == 0);
	CHECK(kind(PF_COUNTER, "c_total", NULL, PF_GAUGE_MAX, NULL, NULL) == -1);
	CHECK(kind(PF_GAUGE, "g", NULL, 9, NULL, NULL) == -1);
	CHECK(kind(PF_GAUGE, "g", NULL, -1, NULL, NULL) == -1);
	CHECK(kind(PF_GAUGE, "g", (const char *[]){"pid", NULL}, PF_GAUGE_LIVEALL, NULL, NULL) == -1);
	CHECK(kind(PF_GAUGE, "g", (const char *[]){"pid", NULL}, PF_GAUGE_MAX, NULL, NULL) == 0);
	CHECK(kind(PF_GAUGE, "g", (const char *[]){"a", "b", "c", "d", "e", "f", "g", "h", NULL},
	           PF_GAUGE_LIVEALL, NULL, NULL) == -1); /* pid would be a ninth */
	/* info: _info; summary: no quantile */
	CHECK(kind(PF_INFO, "build_info", job, 0, NULL, NULL) == 0);
	CHECK(kind(PF_INFO, "build", job, 0, NULL, NULL) == -1);
	CHECK(kind(PF_INFO, "_info", job, 0, NULL, NULL) == -1);
	CHECK(kind(PF_SUMMARY, "s", (const char *[]){"quantile", NULL}, 0, NULL, NULL) == -1);
	CHECK(kind(PF_SUMMARY, "s", job, 0, NULL, NULL) == 0);
	/* state sets: states 1..32, distinct, UTF-8; the name a label name, not a label */
	CHECK(kind(PF_STATESET, "breaker", job, 0, NULL, st) == 0);
	CHECK(kind(PF_STATESET, "breaker", job, 0, NULL, NULL) == -1);
	CHECK(kind(PF_STATESET, "breaker", job, 0, NULL, (const char *[]){NULL}) == -1);
	CHECK(kind(PF_STATESET, "breaker", job, 0, NULL, (const char *[]){"a", "a", NULL}) == -1);
	CHECK(kind(PF_STATESET, "breaker", job, 0, NULL, (const char *[]){"", NULL}) == -1);
	CHECK(kind(PF_STATESET, "breaker", job, 0, NULL, (const char *[]){"\xff", NULL}) == -1);
	CHECK(kind(PF_STATESET, "a:b", job, 0, NULL, st) == -1);
	CHECK(kind(PF_STATESET, "job", job, 0, NULL, st) == -1);
	CHECK(kind(PF_GAUGE, "g", NULL, 0, NULL, st) == -1); /* states are a state set's */
	const char *many[PF_STATES_MAX + 2];
	char names_[PF_STATES_MAX + 1][16];
	for (int i = 0; i <= PF_STATES_MAX; i++) {
		snprintf(names_[i], sizeof names_[i], "s%d", i);
		many[i] = names_[i];
	}
	many[PF_STATES_MAX + 1] = NULL;
	CHECK(kind(PF_STATESET, "m", NULL, 0, NULL, many) == -1);
	many[PF_STATES_MAX] = NULL;
	CHECK(kind(PF_STATESET, "m", NULL, 0, NULL, many) == 0);
	/* cells: what each mode keeps per series */
	struct family_def d;
	CHECK(names_build_family(&d, PF_GAUGE, "g", "G.", NULL, NULL, 0) == 0);
	CHECK(names_build_kind(&d, PF_GAUGE_LIVESUM, NULL, NULL) == 0 && d.ncells == 1);
	CHECK(names_build_kind(&d, PF_GAUGE_SUM, NULL, NULL) == 0 && d.ncells == 1);
	CHECK(names_build_kind(&d, PF_GAUGE_MIN, NULL, NULL) == 0 && d.ncells == 2);
	CHECK(names_build_kind(&d, PF_GAUGE_LIVEMOSTRECENT, NULL, NULL) == 0 && d.ncells == 2);
	/* a mode, states, a unit both state: part of the family; a unit one leaves out is not */
	struct family_def a, b;
	names_build_family(&a, PF_GAUGE, "g_seconds", "G.", NULL, NULL, 0);
	b = a;
	names_build_kind(&a, PF_GAUGE_MAX, "seconds", NULL);
	names_build_kind(&b, PF_GAUGE_MAX, NULL, NULL);
	CHECK(model_family_compat(&a, &b) == MODEL_SAME);
	names_build_kind(&b, PF_GAUGE_MIN, NULL, NULL);
	CHECK(model_family_compat(&a, &b) == MODEL_CLASH);
	/* definitions read back from elsewhere */
	CHECK(names_valid_kind(&a));
	a.mode = 99;
	CHECK(!names_valid_kind(&a));
	CHECK(names_gauge_mode_of("livemostrecent") == PF_GAUGE_LIVEMOSTRECENT);
	CHECK(names_gauge_mode_of("all") == -1);
	CHECK_STR(names_gauge_mode(PF_GAUGE_LIVEALL), "liveall");
}

/* Combining participants: any order gives one answer. */
static void combine(void)
{
	/* value, stamp: a participant of each mode */
	double parts[][2] = {{5, 1}, {-2, 1}, {9, 0}, {NAN, 1}, {7, 1}};
	struct {
		int type, mode;
		double want;
	} cases[] = {
	    {PF_GAUGE, PF_GAUGE_LIVEMAX, 7}, /* 9 was never set: it does not count */
	    {PF_GAUGE, PF_GAUGE_MAX, 7},     {PF_GAUGE, PF_GAUGE_MIN, -2},
	    {PF_GAUGE, PF_GAUGE_LIVEMIN, -2},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		for (int rot = 0; rot < 5; rot++) {
			double acc[2] = {0, 0};
			for (int i = 0; i < 5; i++)
				gauge_combine(cases[k].type, cases[k].mode, acc, parts[(i + rot) % 5]);
			CHECK_NUM(acc[0], cases[k].want);
			CHECK_NUM(acc[1], 1);
		}
	}
	/* most recent: the latest write; at the same instant the larger value */
	double w[][2] = {{1, 100}, {2, 300}, {3, 200}, {4, 300}, {5, 0}};
	for (int rot = 0; rot < 5; rot++) {
		double acc[2] = {0, 0};
		for (int i = 0; i < 5; i++)
			gauge_combine(PF_GAUGE, PF_GAUGE_MOSTRECENT, acc, w[(i + rot) % 5]);
		CHECK_NUM(acc[0], 4);
		CHECK_NUM(acc[1], 300);
		double st[2] = {0, 0};
		for (int i = 0; i < 5; i++)
			gauge_combine(PF_STATESET, 0, st, w[(i + 2 * rot) % 5]);
		CHECK_NUM(st[0], 4);
	}
	double sum[1] = {0}, one[1] = {2.5};
	gauge_combine(PF_GAUGE, PF_GAUGE_SUM, sum, one);
	gauge_combine(PF_GAUGE, PF_GAUGE_LIVESUM, sum, one);
	CHECK_NUM(sum[0], 5);
	double held[1] = {0}, yes[1] = {1}, no[1] = {0};
	gauge_combine(PF_INFO, 0, held, no);
	CHECK_NUM(held[0], 0);
	gauge_combine(PF_INFO, 0, held, yes);
	gauge_combine(PF_INFO, 0, held, no);
	CHECK_NUM(held[0], 1);
	/* what each keeps of an ended process */
	CHECK(gauge_keep(PF_GAUGE, PF_GAUGE_LIVESUM) == GAUGE_KEEP_NONE);
	CHECK(gauge_keep(PF_GAUGE, PF_GAUGE_SUM) == GAUGE_KEEP_DELTA);
	CHECK(gauge_keep(PF_GAUGE, PF_GAUGE_MAX) == GAUGE_KEEP_LAST);
	CHECK(gauge_keep(PF_GAUGE, PF_GAUGE_LIVEMOSTRECENT) == GAUGE_KEEP_NONE);
	CHECK(gauge_keep(PF_GAUGE, PF_GAUGE_LIVEALL) == GAUGE_KEEP_NONE);
	CHECK(gauge_keep(PF_STATESET, 0) == GAUGE_KEEP_LAST);
	CHECK(gauge_keep(PF_INFO, 0) == GAUGE_KEEP_NONE);
	CHECK_NUM(gauge_stamp(PF_GAUGE, PF_GAUGE_MAX, 123.5), 1);
	CHECK_NUM(gauge_stamp(PF_GAUGE, PF_GAUGE_LIVEMOSTRECENT, 123.5), 123.5);
}

const struct test kinds_tests[] = {
    {"kinds/summary", summary},
    {"kinds/info", info},
    {"kinds/stateset", stateset},
    {"kinds/gauge_modes", gauge_modes},
    {"kinds/units", units},
    {"kinds/parsers_accept", parsers_accept},
    {"kinds/protobuf", protobuf},
    {"kinds/names", names},
    {"kinds/combine", combine},
    {NULL, NULL},
};
