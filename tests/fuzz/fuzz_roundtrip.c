/* SPDX-License-Identifier: MIT */
/*
 * fuzz_roundtrip.c — libFuzzer target: record -> fold -> render, with exact
 * totals as the oracle.  Each input is a list of operations on a counter,
 * a histogram and a native one (negative values too) with a label taken
 * from the input; the target keeps its own totals, scrapes the store (which
 * folds this process's staging file), renders the text, parses the samples
 * back and requires them to equal the totals, and the +Inf bucket to equal
 * _count; every native part must be sound, its count the classic one.  The store lives on for the
 * whole run, so folds are tested against a growing history too.  A summary's
 * count and sum are exact too; gauges of the modes that keep a value beside
 * it (max, most recent) and of sum show this one process's last value, and a
 * state set exactly its last state as 1, the others 0.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/native.h"
#include "metrics/render.h"
#include "promfcgi.h"
#include "metrics/scrape.h"

static char db[256];
static pf_family *counter, *histogram, *native, *summary;
static pf_series *g_max, *g_recent, *g_sum, *state;
static double count_total, observed_total, native_total; /* the oracle, over the whole run */
static double summary_count, summary_sum, last_max, last_recent, last_sum;
static int last_state;
static const char *const states[] = {"a", "b", "c", NULL};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char dir[] = "/tmp/promfcgi-fuzz-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	snprintf(db, sizeof db, "%s/store.db", dir);
	if (pf_open(db) != 0)
		abort();
	static const char *const l[] = {"k", NULL};
	static const double b[] = {0.5, 1, 8};
	counter = pf_counter("fuzz_total", "Fuzzed.", l);
	histogram = pf_histogram("fuzz_seconds", "Fuzzed.", l, b, 3);
	native = pf_histogram_native("fuzz_native", "Fuzzed.", l, NULL, 0, 8, 0);
	summary = pf_summary("fuzz_summary_seconds", "Fuzzed.", l);
	g_max = pf_with(pf_gauge_mode("fuzz_max", "Fuzzed.", NULL, PF_GAUGE_MAX), NULL);
	g_recent = pf_with(pf_gauge_mode("fuzz_recent", "Fuzzed.", NULL, PF_GAUGE_MOSTRECENT), NULL);
	g_sum = pf_with(pf_gauge_mode("fuzz_sum", "Fuzzed.", NULL, PF_GAUGE_SUM), NULL);
	state = pf_with(pf_stateset("fuzz_state", "Fuzzed.", NULL, states), NULL);
	if (!summary || !g_max || !g_recent || !g_sum || !state)
		abort();
	return 0;
}

/* The value of the one sample that is exactly line (name and labels) in
 * text; NAN if there is none. */
static double sample(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return NAN;
}

/* One operation on the kinds of issue 19, v from the input. */
static void record_kind(uint8_t op, double amount, const char *const *v)
{
	switch ((op >> 2) % 5) {
	case 0: {
		pf_series *s = pf_with(summary, v);
		if (s && pf_observe(s, amount) == 0) {
			summary_count += 1;
			summary_sum += amount;
		}
		break;
	}
	case 1:
		if (pf_set(g_max, amount - 8) == 0)
			last_max = amount - 8;
		break;
	case 2:
		if (pf_set(g_recent, -amount) == 0)
			last_recent = -amount;
		break;
	case 3:
		if (pf_add(g_sum, amount - 4) == 0)
			last_sum += amount - 4;
		break;
	default:
		if (pf_set_state(state, states[op % 3]) == 0)
			last_state = op % 3;
	}
}

static double sum_samples(const char *text, const char *name);

static void check_kinds(const char *text)
{
	char line[64];
	if (sum_samples(text, "fuzz_summary_seconds_count") != summary_count ||
	    sum_samples(text, "fuzz_summary_seconds_sum") != summary_sum ||
	    sample(text, "fuzz_max") != last_max || sample(text, "fuzz_recent") != last_recent ||
	    sample(text, "fuzz_sum") != last_sum) {
		fprintf(stderr, "summary %.17g/%.17g want %.17g/%.17g; gauges %.17g %.17g %.17g want "
		        "%.17g %.17g %.17g\n", sum_samples(text, "fuzz_summary_seconds_count"),
		        sum_samples(text, "fuzz_summary_seconds_sum"), summary_count, summary_sum,
		        sample(text, "fuzz_max"), sample(text, "fuzz_recent"), sample(text, "fuzz_sum"),
		        last_max, last_recent, last_sum);
		abort();
	}
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof line, "fuzz_state{fuzz_state=\"%s\"}", states[i]);
		if (sample(text, line) != (i == last_state ? 1 : 0))
			abort();
	}
}

/* Sum of the values of the samples "name{...} value" in text. */
static double sum_samples(const char *text, const char *name)
{
	double sum = 0;
	size_t n = strlen(name);
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, name, n) != 0 || (line[n] != '{' && line[n] != ' '))
			continue;
		const char *sp = strchr(line, '\n');
		const char *v = sp ? sp : line + strlen(line);
		while (v > line && v[-1] != ' ')
			v--;
		sum += strtod(v, NULL);
	}
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;
	while (i + 2 <= size) {
		uint8_t op = data[i], len = data[i + 1] % 8;
		i += 2;
		if (i + len > size)
			break;
		char value[9];
		memcpy(value, data + i, len);
		value[len] = '\0';
		i += len;
		const char *v[] = {value, NULL};
		double amount = (op >> 2) * 0.25; /* exact in binary: sums stay exact */
		if (len == 7) { /* a label value of 7 bytes: one of issue 19's kinds */
			record_kind(op, amount, v);
		} else if (op & 1) {
			pf_series *s = pf_with(histogram, v);
			if (s && pf_observe(s, amount) == 0)
				observed_total += 1;
		} else if (op & 2) { /* schema 8 and spread values: windows move, schemas go down */
			pf_series *s = pf_with(native, v);
			double x = ldexp(op & 4 ? -1 : 1, (int)(op >> 3) * 4 - 64);
			if (s && pf_observe(s, op >> 3 == 16 ? 0 : x) == 0)
				native_total += 1;
		} else {
			pf_series *s = pf_with(counter, v);
			if (s && pf_add(s, amount) == 0)
				count_total += amount;
		}
	}
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "scrape failed: %s\n", reason);
		abort();
	}
	struct buf b = {0};
	render_text(&b, &c, NULL);
	buf_putc(&b, '\0');
	double native_count = 0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		for (size_t j = 0; f->native && j < f->nseries; j++) {
			const double *n = f->series[j].cells + f->nbuckets + 2;
			if (!native_valid(n) || n[NATIVE_COUNT] != f->series[j].cells[0])
				abort();
			native_count += n[NATIVE_COUNT];
		}
	}
	if (native_count != native_total) {
		fprintf(stderr, "native count %.17g want %.17g\n", native_count, native_total);
		abort();
	}
	model_collection_free(&c);
	if (b.oom)
		abort();
	double counted = sum_samples(b.p, "fuzz_total");
	double observed = sum_samples(b.p, "fuzz_seconds_count");
	double natives = sum_samples(b.p, "fuzz_native_count");
	/* +Inf buckets: the lines with le="+Inf" */
	double inf = 0;
	for (const char *p = strstr(b.p, "le=\"+Inf\"} "); p; p = strstr(p + 1, "le=\"+Inf\"} "))
		inf += strtod(p + strlen("le=\"+Inf\"} "), NULL);
	if (counted != count_total || observed != observed_total || natives != native_total ||
	    inf != observed_total + native_total) {
		fprintf(stderr, "counted %.17g want %.17g; observed %.17g (+Inf %.17g) want %.17g\n",
		        counted, count_total, observed, inf, observed_total);
		abort();
	}
	check_kinds(b.p);
	buf_free(&b);
	return 0;
}
