/* SPDX-License-Identifier: MIT */
/*
 * test_protobuf.c — the protobuf exposition format (metrics/protobuf.c),
 * checked with decoders that share nothing with the encoder: `protoc
 * --decode` (Debian's protobuf-compiler) one message at a time, and
 * Python's protobuf (tests/unit/pbdecode.py) over the whole delimited
 * stream, both against proto/io/prometheus/client/metrics.proto.  Expected
 * texts are written from the schema and the collection below; native
 * buckets worked out by hand (bucket k of schema s: (2^((k-1)/2^s), 2^(k/2^s)]).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/native.h"
#include "promfcgi.h"
#include "metrics/protobuf.h"
#include "metrics/render.h"
#include "test.h"

static const char *hex(const struct buf *b)
{
	static char out[4096];
	size_t n = 0;
	for (size_t i = 0; i < b->len && n + 3 < sizeof out; i++)
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%02x", i ? " " : "",
		                      (unsigned char)b->p[i]);
	out[n] = '\0';
	return out;
}

static void varints(void)
{
	static const struct {
		uint64_t v;
		const char *bytes;
	} cases[] = {
	    {0, "00"}, {1, "01"}, {127, "7f"}, {128, "80 01"}, {300, "ac 02"},
	    {16384, "80 80 01"}, {UINT64_MAX, "ff ff ff ff ff ff ff ff ff 01"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = {0};
		protobuf_varint(&b, cases[i].v);
		CHECK_STR(hex(&b), cases[i].bytes);
		buf_free(&b);
	}
}

/* One counter, encoded by hand from the wire format: a varint length, then
 * MetricFamily{name=1 "a_total", help=2 "A.", type=3 COUNTER(0),
 * metric=4 {counter=3 {value=1 double 2.5}}}. */
static void counter_bytes(void)
{
	double one[] = {2.5};
	struct series_data s = {"", 0, one, 0, NULL};
	struct family_data f = {.name = "a_total", .help = "A.", .type = PF_COUNTER, .ncells = 1,
	                           .series = &s, .nseries = 1};
	struct collection c = {.families = &f, .nfamilies = 1, .cap = 1};
	struct buf b = {0};
	protobuf_render(&b, &c, NULL);
	/* 2.5 = 0x4004000000000000, little-endian */
	CHECK_STR(hex(&b), "1c 0a 07 61 5f 74 6f 74 61 6c 12 02 41 2e 18 00 22 0b 1a 09 09 00 00 00 00 00 "
	                   "00 04 40");
	buf_free(&b);
}

/* The sample collection: every kind of family. */
static char *l_counter[] = {"method", "code"}, *l_route[] = {"route"};
static double d_buckets[] = {0.1, 1}, b_buckets[] = {1};
static double c1[] = {3}, c2[] = {1.5};
static double d1[] = {2, 3, 4, 5.5};
static double n1[2 + NATIVE_CELLS], b1[3 + NATIVE_CELLS];
static struct series_data counter_series[] = {
    {"GET\0" "200\0", 8, c1, 1700000000.25, NULL},
    {"POST\0" "bad\xff\0", 10, c2, 0, NULL},
};
static struct series_data d_series[] = {{"/\0", 2, d1, 1700000001, NULL}};
static struct series_data n_series[] = {{"", 0, n1, 0, NULL}};
static struct series_data b_series[] = {{"/x\0", 3, b1, 1700000002.5, NULL}};
static struct family_data families[] = {
    {.name = "http_requests_total", .help = "Requests.", .type = PF_COUNTER, .nlabels = 2,
     .labels = l_counter, .ncells = 1, .series = counter_series, .nseries = 2},
    {.name = "temperature_celsius", .help = "Now.", .type = PF_GAUGE, .ncells = 1},
    {.name = "d_seconds", .help = "Classic.", .type = PF_HISTOGRAM, .nlabels = 1,
     .labels = l_route, .nbuckets = 2, .buckets = d_buckets, .ncells = 4, .series = d_series,
     .nseries = 1},
    {.name = "n_seconds", .help = "Native only.", .type = PF_HISTOGRAM, .ncells = 2 + NATIVE_CELLS,
     .series = n_series, .nseries = 1, .native = 1, .native_schema = 3,
     .native_zero_threshold = PF_NATIVE_ZERO_THRESHOLD_DEFAULT},
    {.name = "b_seconds", .help = "Both.", .type = PF_HISTOGRAM, .nlabels = 1, .labels = l_route,
     .nbuckets = 1, .buckets = b_buckets, .ncells = 3 + NATIVE_CELLS, .series = b_series,
     .nseries = 1, .native = 1},
    {.name = "empty_seconds", .help = "No observation yet.", .type = PF_HISTOGRAM,
     .ncells = 2 + NATIVE_CELLS, .native = 1, .native_schema = 2},
};
static struct collection sample = {.families = families, .nfamilies = 6, .cap = 6};

static void fill_sample(void)
{
	/* n_seconds, schema 3, threshold 2^-128: 0.25 is index -16, 0.3125
	 * -13, 0.5 -8 (twice), 1 0, -2 negative 8, 0 the zero bucket */
	static const double nv[] = {0.25, 0.3125, 0.5, 0.5, 1, -2, 0};
	native_init(n1 + 2, 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
	for (size_t i = 0; i < sizeof nv / sizeof nv[0]; i++) {
		native_observe(n1 + 2, nv[i]);
		n1[0] += 1; /* the classic part: the +Inf count and the sum */
		n1[1] += nv[i];
	}
	/* b_seconds, classic le=1 and native schema 0, threshold 0: 0.5 is
	 * index -1, 3 is 2, -0.25 negative -2 */
	static const double bv[] = {0.5, 3, -0.25};
	native_init(b1 + 3, 0, 0);
	for (size_t i = 0; i < sizeof bv / sizeof bv[0]; i++) {
		native_observe(b1 + 3, bv[i]);
		b1[bv[i] <= 1 ? 0 : 1] += 1;
		b1[2] += bv[i];
	}
}

/* What each message decodes to, in protobuf text format. */
static const char *const expected[] = {
    "name: \"http_requests_total\"\n"
    "help: \"Requests.\"\n"
    "type: COUNTER\n"
    "metric {\n"
    "  label {\n    name: \"method\"\n    value: \"GET\"\n  }\n"
    "  label {\n    name: \"code\"\n    value: \"200\"\n  }\n"
    "  counter {\n    value: 3\n"
    "    created_timestamp {\n      seconds: 1700000000\n      nanos: 250000000\n    }\n  }\n"
    "}\n"
    "metric {\n"
    "  label {\n    name: \"method\"\n    value: \"POST\"\n  }\n"
    "  label {\n    name: \"code\"\n    value: \"bad\\357\\277\\275\"\n  }\n"
    "  counter {\n    value: 1.5\n  }\n"
    "}\n",

    "name: \"temperature_celsius\"\n"
    "help: \"Now.\"\n"
    "type: GAUGE\n"
    "metric {\n  gauge {\n    value: 0\n  }\n}\n",

    "name: \"d_seconds\"\n"
    "help: \"Classic.\"\n"
    "type: HISTOGRAM\n"
    "metric {\n"
    "  label {\n    name: \"route\"\n    value: \"/\"\n  }\n"
    "  histogram {\n"
    "    sample_count: 9\n"
    "    sample_sum: 5.5\n"
    "    bucket {\n      cumulative_count: 2\n      upper_bound: 0.1\n    }\n"
    "    bucket {\n      cumulative_count: 5\n      upper_bound: 1\n    }\n"
    "    created_timestamp {\n      seconds: 1700000001\n    }\n"
    "  }\n"
    "}\n",

    /* positive -16: 1, -13: 1, -8: 2, 0: 1; the gap -15, -14 stays in the
     * first span, the gaps of 4 and 7 start spans */
    "name: \"n_seconds\"\n"
    "help: \"Native only.\"\n"
    "type: HISTOGRAM\n"
    "metric {\n"
    "  histogram {\n"
    "    sample_count: 7\n"
    "    sample_sum: 0.5625\n"
    "    schema: 3\n"
    "    zero_threshold: 2.9387358770557188e-39\n"
    "    zero_count: 1\n"
    "    negative_span {\n      offset: 8\n      length: 1\n    }\n"
    "    negative_delta: 1\n"
    "    positive_span {\n      offset: -16\n      length: 4\n    }\n"
    "    positive_span {\n      offset: 4\n      length: 1\n    }\n"
    "    positive_span {\n      offset: 7\n      length: 1\n    }\n"
    "    positive_delta: 1\n"
    "    positive_delta: -1\n"
    "    positive_delta: 0\n"
    "    positive_delta: 1\n"
    "    positive_delta: 1\n"
    "    positive_delta: -1\n"
    "  }\n"
    "}\n",

    /* classic le=1: 2 (0.5, -0.25); native: positive -1: 1, 2: 1 with the
     * two empty buckets between in the span; negative -2: 1 */
    "name: \"b_seconds\"\n"
    "help: \"Both.\"\n"
    "type: HISTOGRAM\n"
    "metric {\n"
    "  label {\n    name: \"route\"\n    value: \"/x\"\n  }\n"
    "  histogram {\n"
    "    sample_count: 3\n"
    "    sample_sum: 3.25\n"
    "    bucket {\n      cumulative_count: 2\n      upper_bound: 1\n    }\n"
    "    schema: 0\n"
    "    zero_threshold: 0\n"
    "    zero_count: 0\n"
    "    negative_span {\n      offset: -2\n      length: 1\n    }\n"
    "    negative_delta: 1\n"
    "    positive_span {\n      offset: -1\n      length: 4\n    }\n"
    "    positive_delta: 1\n"
    "    positive_delta: -1\n"
    "    positive_delta: 0\n"
    "    positive_delta: 1\n"
    "    created_timestamp {\n      seconds: 1700000002\n      nanos: 500000000\n    }\n"
    "  }\n"
    "}\n",

    /* no observation, threshold 0: the no-op span marks it native */
    "name: \"empty_seconds\"\n"
    "help: \"No observation yet.\"\n"
    "type: HISTOGRAM\n"
    "metric {\n"
    "  histogram {\n"
    "    sample_count: 0\n"
    "    sample_sum: 0\n"
    "    schema: 2\n"
    "    zero_threshold: 0\n"
    "    zero_count: 0\n"
    "    positive_span {\n      offset: 0\n      length: 0\n    }\n"
    "  }\n"
    "}\n",
};

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

static void write_file(const char *path, const char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(p, 1, n, f) == n);
	if (f)
		fclose(f);
}

static const char *tmp_path(const char *name)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%d-%s", getenv("PROMFCGI_TEST_DIR") ? getenv("PROMFCGI_TEST_DIR")
	                                                                     : "/tmp",
	         (int)getpid(), name);
	return path;
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

/* One message (no length prefix) through protoc --decode, as text; NULL if
 * protoc failed (said on stderr). */
static char *protoc_decode(const char *p, size_t n)
{
	const char *path = tmp_path("msg.bin");
	write_file(path, p, n);
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
	         "protoc -Iproto -I/usr/include --decode io.prometheus.client.MetricFamily "
	         "io/prometheus/client/metrics.proto < %s",
	         path);
	return run_capture(cmd);
}

/* Each delimited message through protoc --decode. */
static void decode_protoc(void)
{
	need("protoc");
	fill_sample();
	struct buf b = {0};
	protobuf_render(&b, &sample, NULL);
	CHECK(!b.oom);
	size_t pos = 0, i = 0;
	while (pos < b.len && i < sizeof expected / sizeof expected[0]) {
		uint64_t len = 0;
		for (int shift = 0; pos < b.len; shift += 7) { /* the varint, read the plain way */
			unsigned char c = (unsigned char)b.p[pos++];
			len |= (uint64_t)(c & 0x7f) << shift;
			if (!(c & 0x80))
				break;
		}
		CHECK(pos + len <= b.len);
		if (pos + len > b.len)
			break;
		char *text = protoc_decode(b.p + pos, (size_t)len);
		pos += (size_t)len;
		CHECK_STR(text, expected[i]);
		free(text);
		i++;
	}
	CHECK(i == sizeof expected / sizeof expected[0] && pos == b.len);
	buf_free(&b);
}

/* The whole stream through Python's protobuf. */
static void decode_python(void)
{
	need("protoc");
	need("/usr/bin/python3");
	fill_sample();
	struct buf b = {0}, want = {0};
	protobuf_render(&b, &sample, NULL);
	const char *path = tmp_path("stream.bin");
	write_file(path, b.p, b.len);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/unit/pbdecode.py %s", path);
	char *text = run_capture(cmd);
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		buf_puts(&want, expected[i]);
		buf_puts(&want, "---\n");
	}
	buf_putc(&want, '\0');
	CHECK_STR(text, want.p);
	free(text);
	buf_free(&b);
	buf_free(&want);
}

/* name[] selects families; an invalid family is left out, as in text. */
static void filter_and_invalid(void)
{
	fill_sample();
	struct name_filter f;
	negotiate_filter_parse(&f, "name[]=d_seconds");
	struct buf b = {0}, one = {0};
	protobuf_render(&b, &sample, &f);
	struct collection just = {.families = &families[2], .nfamilies = 1, .cap = 1};
	protobuf_render(&one, &just, NULL);
	CHECK(b.len == one.len && memcmp(b.p, one.p, b.len) == 0);
	negotiate_filter_free(&f);
	buf_free(&b);
	struct family_data bad = {.name = "bad name", .help = "x", .type = PF_GAUGE, .ncells = 1};
	struct collection c = {.families = &bad, .nfamilies = 1, .cap = 1};
	protobuf_render(&b, &c, NULL);
	CHECK(b.len == 0);
	bad.name = "short_cells";
	bad.type = PF_HISTOGRAM;
	bad.native = 1;
	bad.ncells = 2; /* too few for its native block */
	protobuf_render(&b, &c, NULL);
	CHECK(b.len == 0);
	buf_free(&b);
	buf_free(&one);
}

/* A native-only histogram in the text formats: its +Inf bucket, _sum and
 * _count; one with classic buckets too: exactly its classic lines. */
static void native_in_text(void)
{
	fill_sample();
	struct collection c = {.families = &families[3], .nfamilies = 3, .cap = 3};
	struct buf b = {0};
	render_text(&b, &c, NULL);
	buf_putc(&b, '\0');
	CHECK_STR(b.p, "# HELP n_seconds Native only.\n"
	               "# TYPE n_seconds histogram\n"
	               "n_seconds_bucket{le=\"+Inf\"} 7\n"
	               "n_seconds_sum 0.5625\n"
	               "n_seconds_count 7\n"
	               "# HELP b_seconds Both.\n"
	               "# TYPE b_seconds histogram\n"
	               "b_seconds_bucket{route=\"/x\",le=\"1.0\"} 2\n"
	               "b_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
	               "b_seconds_sum{route=\"/x\"} 3.25\n"
	               "b_seconds_count{route=\"/x\"} 3\n"
	               "# HELP empty_seconds No observation yet.\n"
	               "# TYPE empty_seconds histogram\n"
	               "empty_seconds_bucket{le=\"+Inf\"} 0\n"
	               "empty_seconds_sum 0\n"
	               "empty_seconds_count 0\n");
	buf_free(&b);
	render_openmetrics(&b, &c, NULL);
	buf_putc(&b, '\0');
	CHECK(strstr(b.p, "n_seconds_bucket{le=\"+Inf\"} 7\nn_seconds_sum 0.5625\nn_seconds_count 7\n"));
	CHECK(strstr(b.p, "b_seconds_created{route=\"/x\"} 1700000002.5\n"));
	buf_free(&b);
}

/* A histogram that gained native buckets (db_family.c): its classic part counts
 * 3 observations from before, its native part 1 since.  Protobuf carries
 * the native part alone (classic buckets of 2 and 3 under a count of 1
 * would be a histogram no scraper takes); text keeps the classic lines. */
static void gained_native_buckets(void)
{
	need("protoc");
	static double g1[3 + NATIVE_CELLS] = {2, 1, 3.25};
	native_init(g1 + 3, 0, 0);
	native_observe(g1 + 3, 3); /* index 2 */
	struct series_data g_series[] = {{"/g\0", 3, g1, 0, NULL}};
	struct family_data g = {.name = "g_seconds", .help = "Gained.", .type = PF_HISTOGRAM,
	                           .nlabels = 1, .labels = l_route, .nbuckets = 1, .buckets = b_buckets,
	                           .ncells = 3 + NATIVE_CELLS, .series = g_series, .nseries = 1,
	                           .native = 1};
	struct collection c = {.families = &g, .nfamilies = 1, .cap = 1};
	struct buf b = {0};
	protobuf_render(&b, &c, NULL);
	CHECK(b.len > 1 && (unsigned char)b.p[0] == b.len - 1); /* one message, a one-byte length */
	char *text = protoc_decode(b.p + 1, b.len - 1);
	CHECK_STR(text, "name: \"g_seconds\"\n"
	                "help: \"Gained.\"\n"
	                "type: HISTOGRAM\n"
	                "metric {\n"
	                "  label {\n    name: \"route\"\n    value: \"/g\"\n  }\n"
	                "  histogram {\n"
	                "    sample_count: 1\n"
	                "    sample_sum: 3\n"
	                "    schema: 0\n"
	                "    zero_threshold: 0\n"
	                "    zero_count: 0\n"
	                "    positive_span {\n      offset: 2\n      length: 1\n    }\n"
	                "    positive_delta: 1\n"
	                "  }\n"
	                "}\n");
	free(text);
	buf_free(&b);
	render_text(&b, &c, NULL);
	buf_putc(&b, '\0');
	CHECK_STR(b.p, "# HELP g_seconds Gained.\n"
	               "# TYPE g_seconds histogram\n"
	               "g_seconds_bucket{route=\"/g\",le=\"1.0\"} 2\n"
	               "g_seconds_bucket{route=\"/g\",le=\"+Inf\"} 3\n"
	               "g_seconds_sum{route=\"/g\"} 3.25\n"
	               "g_seconds_count{route=\"/g\"} 3\n");
	buf_free(&b);
}

const struct test protobuf_tests[] = {
    {"protobuf/varints", varints},
    {"protobuf/counter_bytes", counter_bytes},
    {"protobuf/decode_protoc", decode_protoc},
    {"protobuf/decode_python", decode_python},
    {"protobuf/filter_and_invalid", filter_and_invalid},
    {"protobuf/native_in_text", native_in_text},
    {"protobuf/gained_native_buckets", gained_native_buckets},
    {NULL, NULL},
};
