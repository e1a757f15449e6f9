/* SPDX-License-Identifier: MIT */
/*
 * fuzz_render.c — libFuzzer target: the exposition renderer on collections
 * built from arbitrary bytes (any doubles, label values, help texts).
 * Oracles: both formats are valid UTF-8, every line ends in a newline and
 * is a comment or "name[{...}] value"; OpenMetrics ends in "# EOF"; a
 * histogram's +Inf bucket equals its _count; exemplars (any bytes, valid
 * or not) never change text 0.0.4, nor do native buckets (sound or
 * damaged: built by native.c from arbitrary values, then perhaps a cell
 * overwritten with any double), which protobuf encodes or leaves out.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/native.h"
#include "metrics/protobuf.h"
#include "metrics/render.h"
#include "store/names.h"
#include "promfcgi.h"

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t byte(struct reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static double number(struct reader *r)
{
	double v = 0;
	uint8_t raw[sizeof v] = {0};
	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = byte(r);
	memcpy(&v, raw, sizeof v);
	return v;
}

/* n bytes as a NUL-free string (the store never holds NUL inside a value) */
static char *text(struct reader *r, size_t n)
{
	char *s = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)(byte(r) | 1);
	s[n] = '\0';
	return s;
}

static void check_lines(const struct buf *b, int om)
{
	if (b->oom || !names_valid_utf8(b->p, b->len) || (b->len && b->p[b->len - 1] != '\n'))
		abort();
	if (om && (b->len < 6 || memcmp(b->p + b->len - 6, "# EOF\n", 6) != 0))
		abort();
	for (const char *line = b->p; line < b->p + b->len;) {
		const char *end = memchr(line, '\n', (size_t)(b->p + b->len - line));
		if (*line != '#' && !memchr(line, ' ', (size_t)(end - line)))
			abort();
		line = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size};
	static char *label_names[] = {"a", "b", "c"};
	struct family_data f[4];
	int nf = 1 + byte(&r) % 4;
	memset(f, 0, sizeof f);
	static const char *names[] = {"f0_total", "f1", "f2_seconds", "f3_bytes"};
	for (int i = 0; i < nf; i++) {
		f[i].name = (char *)names[i];
		f[i].help = text(&r, byte(&r) % 16);
		f[i].type = 1 + byte(&r) % 3;
		f[i].nlabels = byte(&r) % 4;
		f[i].labels = label_names;
		f[i].nbuckets = f[i].type == PF_HISTOGRAM ? byte(&r) % 4 : 0;
		f[i].buckets = calloc(4, sizeof(double));
		for (int k = 0; k < f[i].nbuckets; k++)
			f[i].buckets[k] = k ? f[i].buckets[k - 1] + 1 : number(&r);
		f[i].native = f[i].type == PF_HISTOGRAM && (byte(&r) & 1);
		f[i].native_schema = byte(&r) % 13 - 4;
		f[i].native_zero_threshold = byte(&r) & 1 ? 0 : PF_NATIVE_ZERO_THRESHOLD_DEFAULT;
		f[i].ncells = model_family_cells(f[i].type, f[i].nbuckets, f[i].native);
		f[i].nseries = byte(&r) % 4;
		f[i].series = calloc(f[i].nseries + 1, sizeof *f[i].series);
		for (size_t j = 0; j < f[i].nseries; j++) {
			struct series_data *s = &f[i].series[j];
			/* label values, NUL-terminated each; keylen may fall short */
			size_t len = byte(&r) % 24;
			s->key = calloc(len + 1, 1);
			for (size_t k = 0; k < len; k++)
				s->key[k] = (char)byte(&r);
			s->keylen = len;
			s->cells = calloc((size_t)f[i].ncells, sizeof(double));
			for (int k = 0; k < f[i].ncells; k++)
				s->cells[k] = f[i].type == PF_HISTOGRAM && k <= f[i].nbuckets ? byte(&r)
				                                                               : number(&r);
			if (f[i].native) {
				double *n = s->cells + f[i].nbuckets + 2;
				native_init(n, f[i].native_schema, f[i].native_zero_threshold);
				for (int k = byte(&r) % 8; k > 0; k--)
					native_observe(n, number(&r));
				if (byte(&r) & 1) /* damaged: any cell, any double */
					n[byte(&r) % NATIVE_CELLS] = number(&r);
			}
			s->created = byte(&r) ? number(&r) : 0;
			int nex = model_family_exemplars(f[i].type, f[i].nbuckets);
			if (nex && byte(&r) & 1) {
				s->exemplars = calloc((size_t)nex, sizeof *s->exemplars);
				for (int k = 0; k < nex; k++) {
					struct exemplar *x = &s->exemplars[k];
					x->len = byte(&r) % 48;
					for (uint32_t m = 0; m < x->len; m++) /* NULs and all */
						x->labels[m] = (char)byte(&r);
					if (byte(&r) & 1) { /* or a well-formed set, to reach the output */
						char *v = text(&r, byte(&r) % 8);
						int len = names_encode_exemplar((const char *const[]){"trace_id", v, NULL},
						                             x->labels);
						x->len = len < 0 ? 0 : (uint32_t)len;
						free(v);
					}
					x->value = number(&r);
					x->timestamp = byte(&r) ? number(&r) : 0;
				}
			}
		}
	}
	struct collection c = {.families = f, .nfamilies = (size_t)nf, .cap = (size_t)nf};
	struct buf text_out = {0}, om_out = {0};
	render_text(&text_out, &c, NULL);
	render_openmetrics(&om_out, &c, NULL);
	check_lines(&text_out, 0);
	check_lines(&om_out, 1);
	struct buf pb = {0}; /* protobuf, exemplars included: the sanitizers are the oracle */
	protobuf_render(&pb, &c, NULL);
	buf_free(&pb);
	struct buf bare = {0};
	for (int i = 0; i < nf; i++) {
		for (size_t j = 0; j < f[i].nseries; j++) {
			free(f[i].series[j].exemplars);
			f[i].series[j].exemplars = NULL;
		}
		if (f[i].native) { /* the same family without its native part */
			f[i].native = 0;
			f[i].ncells = model_family_cells(f[i].type, f[i].nbuckets, 0);
		}
	}
	render_text(&bare, &c, NULL);
	if (bare.len != text_out.len || memcmp(bare.p, text_out.p, bare.len) != 0)
		abort();
	buf_free(&bare);
	buf_free(&text_out);
	buf_free(&om_out);
	for (int i = 0; i < nf; i++) {
		for (size_t j = 0; j < f[i].nseries; j++) {
			free(f[i].series[j].key);
			free(f[i].series[j].cells);
		}
		free(f[i].series);
		free(f[i].buckets);
		free(f[i].help);
	}
	return 0;
}
