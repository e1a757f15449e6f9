/*
 * fuzz_roundtrip.c — libFuzzer target: record -> fold -> render, with exact
 * totals as the oracle.  Each input is a list of operations on a counter
 * and a histogram with a label taken from the input; the target keeps its
 * own totals, scrapes the store (which folds this process's staging file),
 * renders the text, parses the samples back and requires them to equal the
 * totals, and the +Inf bucket to equal _count.  The store lives on for the
 * whole run, so folds are tested against a growing history too.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../store/render.h"
#include "../../store/promfcgi.h"
#include "../../store/scrape.h"

static char db[256];
static pf_family *counter, *histogram;
static double count_total, observed_total; /* the oracle, over the whole run */

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
	return 0;
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
		const char *v[] = {value};
		double amount = (op >> 2) * 0.25; /* exact in binary: sums stay exact */
		if (op & 1) {
			pf_series *s = pf_with(histogram, v);
			if (s && pf_observe(s, amount) == 0)
				observed_total += 1;
		} else {
			pf_series *s = pf_with(counter, v);
			if (s && pf_add(s, amount) == 0)
				count_total += amount;
		}
	}
	struct pf_collection c;
	char reason[256];
	if (pf_scrape(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "scrape failed: %s\n", reason);
		abort();
	}
	struct buf b = {0};
	render_text(&b, &c, NULL);
	buf_putc(&b, '\0');
	pf_collection_free(&c);
	if (b.oom)
		abort();
	double counted = sum_samples(b.p, "fuzz_total");
	double observed = sum_samples(b.p, "fuzz_seconds_count");
	/* +Inf buckets: the lines with le="+Inf" */
	double inf = 0;
	for (const char *p = strstr(b.p, "le=\"+Inf\"} "); p; p = strstr(p + 1, "le=\"+Inf\"} "))
		inf += strtod(p + strlen("le=\"+Inf\"} "), NULL);
	if (counted != count_total || observed != observed_total || inf != observed_total) {
		fprintf(stderr, "counted %.17g want %.17g; observed %.17g (+Inf %.17g) want %.17g\n",
		        counted, count_total, observed, inf, observed_total);
		abort();
	}
	buf_free(&b);
	return 0;
}
