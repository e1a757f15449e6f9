/* SPDX-License-Identifier: MIT */
/*
 * test_render.c — the text format: numbers, escaping, histogram maths.
 * Expected outputs are written from the format's rules, not from the code.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "metrics/decimal.h"
#include "metrics/render.h"
#include "promfcgi.h"
#include "test.h"

static const char *value(double v)
{
	static char out[32];
	render_value(out, v);
	return out;
}

static const char *le(double v)
{
	static char out[32];
	render_le(out, v);
	return out;
}

static void numbers(void)
{
	CHECK_STR(value(0), "0");
	CHECK_STR(value(-0.0), "0");
	CHECK_STR(value(20000), "20000");
	CHECK_STR(value(-3), "-3");
	CHECK_STR(value(0.1), "0.1");
	CHECK_STR(value(0.005), "0.005");
	CHECK_STR(value(1e-5), "1e-05");
	CHECK_STR(value(1.5e300), "1.5e+300");
	CHECK_STR(value(NAN), "NaN");
	CHECK_STR(value(INFINITY), "+Inf");
	CHECK_STR(value(-INFINITY), "-Inf");
	CHECK_STR(value(1.0 / 3), "0.3333333333333333");
}

/* Whatever the double, the text parses back to exactly it. */
static void numbers_round_trip(void)
{
	srand(7);
	for (int i = 0; i < 100000; i++) {
		uint64_t bits = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
		double v;
		memcpy(&v, &bits, sizeof v);
		if (!isfinite(v))
			continue;
		double back = strtod(value(v), NULL);
		if (back != v) {
			CHECK_NUM(back, v);
			break;
		}
	}
}

/* The shortest %.15g, %.16g or %.17g that parses back: what the text has
 * always printed, the slow way. */
static void printf_shortest(char out[32], double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/* decimal_shortest prints what printf does, byte for byte, for the values
 * it takes: random doubles of every magnitude it takes, sums of
 * durations as a histogram accumulates them, values near powers of ten
 * and halfway cases; and it takes nearly all of them. */
static void numbers_as_printf(void)
{
	char fast[32], slow[32];
	long taken = 0, tried = 0, differ = 0;
	srand(11);
	double sum = 0;
	for (long i = 0; i < 400000; i++) {
		double v;
		switch (i % 4) {
		case 0: { /* any bits, scaled into 1e-6 .. 1e15 */
			uint64_t bits = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
			bits = (bits & 0x800fffffffffffffull) | ((uint64_t)(1003 + rand() % 70) << 52);
			memcpy(&v, &bits, sizeof v);
			break;
		}
		case 1: /* a running sum of durations */
			sum += 0.0001 * (1 + rand() % 10000);
			v = sum;
			break;
		case 2: /* next to a power of ten */
			v = nextafter(pow(10, rand() % 21 - 6), rand() % 2 ? 0 : INFINITY);
			break;
		default: /* short decimals */
			v = (double)(rand() % 100000) / pow(10, rand() % 12);
			break;
		}
		if (rand() % 2)
			v = -v;
		if (!isfinite(v) || !(fabs(v) >= 1e-6 && fabs(v) < 1e15) || v == floor(v))
			continue;
		tried++;
		if (!decimal_shortest(fast, v))
			continue;
		taken++;
		printf_shortest(slow, v);
		if (strcmp(fast, slow) != 0 && differ++ < 5)
			fprintf(stderr, "  %.17g: %s, printf %s\n", v, fast, slow);
	}
	fprintf(stderr, "  %ld of %ld values printed without printf\n", taken, tried);
	CHECK(differ == 0);
	CHECK(tried > 300000 && taken * 100 > tried * 99);
	CHECK(!decimal_shortest(fast, 0.5) && !decimal_shortest(fast, 1e-7) && !decimal_shortest(fast, 3));
}

static void bucket_bounds(void)
{
	CHECK_STR(le(0.005), "0.005");
	CHECK_STR(le(0.075), "0.075");
	CHECK_STR(le(1), "1.0");
	CHECK_STR(le(10), "10.0");
	CHECK_STR(le(2.5), "2.5");
	CHECK_STR(le(INFINITY), "+Inf");
}

static const char *escaped(const char *s, size_t n)
{
	static struct buf b;
	buf_free(&b);
	render_label_value(&b, s, n);
	buf_putc(&b, '\0');
	return b.p;
}

static void label_escaping(void)
{
	CHECK_STR(escaped("plain", 5), "plain");
	CHECK_STR(escaped("a\\b", 3), "a\\\\b");
	CHECK_STR(escaped("say \"hi\"", 8), "say \\\"hi\\\"");
	CHECK_STR(escaped("two\nlines", 9), "two\\nlines");
	CHECK_STR(escaped("tab\there", 8), "tab\there"); /* only \\ \" \n are escaped */
	CHECK_STR(escaped("caf\xc3\xa9", 5), "caf\xc3\xa9");
	CHECK_STR(escaped("bad\xff!", 5), "bad\xef\xbf\xbd!");
	CHECK_STR(escaped("\xc0\x80", 2), "\xef\xbf\xbd\xef\xbf\xbd");
}

static void help_escaping(void)
{
	struct buf b = {0};
	render_help(&b, "a \\ b\nc \"q\"");
	buf_putc(&b, '\0');
	CHECK_STR(b.p, "a \\\\ b\\nc \"q\"");
	buf_free(&b);
	render_help(&b, "bad\xff!"); /* found by fuzz_escape: help must stay UTF-8 */
	buf_putc(&b, '\0');
	CHECK_STR(b.p, "bad\xef\xbf\xbd!");
	buf_free(&b);
}

static const char *render(const struct collection *c)
{
	static struct buf b;
	buf_free(&b);
	render_text(&b, c, NULL);
	buf_putc(&b, '\0');
	return b.p;
}

static void histogram(void)
{
	double buckets[] = {0.1, 1};
	char *labels[] = {"route"};
	double cells[] = {2, 3, 4, 5.5}; /* per bucket: <=0.1, <=1, +Inf; then sum */
	struct series_data s = {"/\0", 2, cells, 0, NULL};
	struct family_data f = {.name = "d_seconds", .help = "Durations.", .type = PF_HISTOGRAM,
	                           .nlabels = 1, .labels = labels, .nbuckets = 2,
	                           .buckets = buckets, .ncells = 4, .series = &s, .nseries = 1};
	struct collection c = {.families = &f, .nfamilies = 1, .cap = 1};
	CHECK_STR(render(&c), "# HELP d_seconds Durations.\n"
	                      "# TYPE d_seconds histogram\n"
	                      "d_seconds_bucket{route=\"/\",le=\"0.1\"} 2\n"
	                      "d_seconds_bucket{route=\"/\",le=\"1.0\"} 5\n"
	                      "d_seconds_bucket{route=\"/\",le=\"+Inf\"} 9\n"
	                      "d_seconds_sum{route=\"/\"} 5.5\n"
	                      "d_seconds_count{route=\"/\"} 9\n");
}

static void unlabelled_families_start_at_zero(void)
{
	struct family_data f[] = {
	    {.name = "g", .help = "A gauge.", .type = PF_GAUGE, .ncells = 1},
	    {.name = "h_seconds", .help = "H.", .type = PF_HISTOGRAM, .nbuckets = 1,
	     .buckets = (double[]){0.5}, .ncells = 3},
	};
	struct collection c = {.families = f, .nfamilies = 2, .cap = 2};
	CHECK_STR(render(&c), "# HELP g A gauge.\n# TYPE g gauge\ng 0\n"
	                      "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
	                      "h_seconds_bucket{le=\"0.5\"} 0\nh_seconds_bucket{le=\"+Inf\"} 0\n"
	                      "h_seconds_sum 0\nh_seconds_count 0\n");
}

static void labelled_counter(void)
{
	char *labels[] = {"method", "path"};
	double one[] = {1}, two[] = {2.5};
	struct series_data s[] = {{"GET\0a\"\\\n\0", 10, one, 0, NULL}, {"PUT\0\0", 5, two, 0, NULL}};
	struct family_data f = {.name = "c_total", .help = "C.", .type = PF_COUNTER,
	                           .nlabels = 2, .labels = labels, .ncells = 1, .series = s,
	                           .nseries = 2};
	struct collection c = {.families = &f, .nfamilies = 1, .cap = 1};
	CHECK_STR(render(&c), "# HELP c_total C.\n# TYPE c_total counter\n"
	                      "c_total{method=\"GET\",path=\"a\\\"\\\\\\n\"} 1\n"
	                      "c_total{method=\"PUT\",path=\"\"} 2.5\n");
}

static const char *render_om(const struct collection *c, const struct name_filter *filter)
{
	static struct buf b;
	buf_free(&b);
	render_openmetrics(&b, c, filter);
	buf_putc(&b, '\0');
	return b.p;
}

/* OpenMetrics: counter family without _total, _created, UNIT, EOF last. */
static void openmetrics(void)
{
	char *labels[] = {"code"};
	double n[] = {3}, h[] = {1, 0, 0.25};
	struct series_data cs = {"200\0", 4, n, 1700000000.5, NULL};
	struct series_data hs = {"", 0, h, 1700000001, NULL};
	struct family_data f[] = {
	    {.name = "d_seconds", .help = "A \"quoted\" help.", .type = PF_HISTOGRAM,
	     .nbuckets = 1, .buckets = (double[]){1}, .ncells = 3, .series = &hs, .nseries = 1},
	    {.name = "r_total", .help = "R.", .type = PF_COUNTER, .nlabels = 1, .labels = labels,
	     .ncells = 1, .series = &cs, .nseries = 1},
	};
	struct collection c = {.families = f, .nfamilies = 2, .cap = 2};
	CHECK_STR(render_om(&c, NULL), "# HELP d_seconds A \\\"quoted\\\" help.\n"
	                                "# TYPE d_seconds histogram\n"
	                                "# UNIT d_seconds seconds\n"
	                                "d_seconds_bucket{le=\"1.0\"} 1\n"
	                                "d_seconds_bucket{le=\"+Inf\"} 1\n"
	                                "d_seconds_sum 0.25\n"
	                                "d_seconds_count 1\n"
	                                "d_seconds_created 1700000001\n"
	                                "# HELP r R.\n"
	                                "# TYPE r counter\n"
	                                "r_total{code=\"200\"} 3\n"
	                                "r_created{code=\"200\"} 1700000000.5\n"
	                                "# EOF\n");
	/* name[] filters by the family's stored name */
	struct name_filter only = {1, {"r_total"}, -1};
	CHECK_STR(render_om(&c, &only), "# HELP r R.\n# TYPE r counter\n"
	                                "r_total{code=\"200\"} 3\n"
	                                "r_created{code=\"200\"} 1700000000.5\n# EOF\n");
}

const struct test render_tests[] = {
    {"render/openmetrics", openmetrics},
    {"render/numbers", numbers},
    {"render/numbers_round_trip", numbers_round_trip},
    {"render/numbers_as_printf", numbers_as_printf},
    {"render/bucket_bounds", bucket_bounds},
    {"render/label_escaping", label_escaping},
    {"render/help_escaping", help_escaping},
    {"render/histogram", histogram},
    {"render/unlabelled_zero", unlabelled_families_start_at_zero},
    {"render/labelled_counter", labelled_counter},
    {NULL, NULL},
};
