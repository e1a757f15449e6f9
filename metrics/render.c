/* SPDX-License-Identifier: MIT */
/*
 * render.c — where a series becomes exposition text: format 0.0.4, or
 * OpenMetrics 1.0 (counter families named without _total, _created, UNIT,
 * "# EOF" last).
 *
 * Families come sorted by name, each with HELP and TYPE first, then its
 * samples; histogram buckets are made cumulative here, with +Inf equal to
 * _count.  Values print in the shortest form that parses back to the same
 * double, so nothing is rounded away (C's %g keeps 6 digits).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/names.h"
#include "store/native.h"
#include "promfcgi.h"
#include "metrics/decimal.h"
#include "metrics/render.h"

static int special(char out[32], double v)
{
	if (isnan(v))
		strcpy(out, "NaN");
	else if (isinf(v))
		strcpy(out, v > 0 ? "+Inf" : "-Inf");
	else
		return 0;
	return 1;
}

/* An integer below 1e15 in magnitude, as %.0f would print it. */
static size_t render_integer(char out[32], double v)
{
	long long n = (long long)v;
	unsigned long long u = n < 0 ? 0 - (unsigned long long)n : (unsigned long long)n;
	char tmp[24];
	size_t len = 0, k = 0;
	do
		tmp[k++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (n < 0)
		out[len++] = '-';
	while (k)
		out[len++] = tmp[--k];
	out[len] = '\0';
	return len;
}

void render_value(char out[32], double v)
{
	if (special(out, v))
		return;
	if (v == floor(v) && fabs(v) < 1e15) {
		render_integer(out, v == 0 ? 0.0 : v); /* no "-0" */
		return;
	}
	if (decimal_shortest(out, v)) /* the same digits, exactly, most values */
		return;
	/* The shortest %g that parses back: %g drops trailing zeros, and 15
	 * significant digits always survive a double, so when %.15g round-trips
	 * no shorter precision gives other digits; else 16, else 17. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

void render_le(char out[32], double v)
{
	render_value(out, v);
	if (!isinf(v) && !isnan(v) && strpbrk(out, ".eE") == NULL)
		strcat(out, ".0");
}

void render_label_value(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		/* a run of printable ASCII that needs no escape, in one copy */
		size_t j = i;
		while (j < n && (unsigned char)s[j] < 0x80 && s[j] != '\\' && s[j] != '"' && s[j] != '\n')
			j++;
		if (j > i) {
			buf_put(b, s + i, j - i);
			i = j;
			continue;
		}
		size_t len = names_utf8_seq(s + i, n - i);
		if (len == 0) {
			buf_puts(b, "\xEF\xBF\xBD");
			i++;
			continue;
		}
		if (s[i] == '\\')
			buf_puts(b, "\\\\");
		else if (s[i] == '"')
			buf_puts(b, "\\\"");
		else if (s[i] == '\n')
			buf_puts(b, "\\n");
		else
			buf_put(b, s + i, len);
		i += len;
	}
}

void render_help(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t len = names_utf8_seq(s + i, n - i);
		if (len == 0) { /* the store validates help; a damaged one still renders */
			buf_puts(b, "\xEF\xBF\xBD");
			i++;
			continue;
		}
		if (s[i] == '\\')
			buf_puts(b, "\\\\");
		else if (s[i] == '\n')
			buf_puts(b, "\\n");
		else
			buf_put(b, s + i, len);
		i += len;
	}
}

/* a="x",b="y" — key holds the values NUL-terminated. */
static void render_labels(struct buf *b, const struct family_data *f,
                          const struct series_data *s)
{
	const char *v = s ? s->key : "";
	size_t left = s ? s->keylen : 0;
	for (int i = 0; i < f->nlabels; i++) {
		size_t n = strnlen(v, left);
		if (i)
			buf_putc(b, ',');
		buf_puts(b, f->labels[i]);
		buf_put(b, "=\"", 2);
		render_label_value(b, v, n);
		buf_putc(b, '"');
		if (n < left) {
			v += n + 1;
			left -= n + 1;
		} else {
			left = 0;
		}
	}
}

/* How the two formats differ, per family, and what a family's samples
 * share: their names, and a histogram's le values. */
struct style {
	int om;              /* OpenMetrics 1.0 */
	char family[160];    /* the name in HELP/TYPE/UNIT */
	const char *sample;  /* a counter's sample name is family + "_total" in OM */
	size_t family_len, sample_len;
	char (*le)[32];      /* a histogram's bounds, rendered once */
};

/* " # {a=\"x\",b=\"y\"} value timestamp": an OpenMetrics exemplar; one
 * that is not valid (only a damaged store holds such) is left out. */
static void render_exemplar(struct buf *b, const struct exemplar *x)
{
	char num[32];
	if (x->timestamp <= 0 || x->len > MODEL_EXEMPLAR_BYTES || !names_valid_exemplar(x->labels, x->len))
		return;
	buf_puts(b, " # {");
	for (uint32_t at = 0, pair = 0; at < x->len; pair++) {
		const char *name = x->labels + at, *value = name + strlen(name) + 1;
		size_t vl = strlen(value);
		if (pair)
			buf_putc(b, ',');
		buf_puts(b, name);
		buf_put(b, "=\"", 2);
		render_label_value(b, value, vl);
		buf_putc(b, '"');
		at = (uint32_t)(value + vl + 1 - x->labels);
	}
	buf_put(b, "} ", 2);
	render_value(num, x->value);
	buf_puts(b, num);
	buf_putc(b, ' ');
	render_value(num, x->timestamp);
	buf_puts(b, num);
}

/* The exemplar of bucket i (0: a counter's) to show, in OpenMetrics only:
 * text 0.0.4 has no syntax for them. */
static const struct exemplar *exemplar_of(const struct series_data *s, int i, int om)
{
	return om && s && s->exemplars && s->exemplars[i].timestamp > 0 ? &s->exemplars[i] : NULL;
}

/* One sample: name suffix{labels[,le="..."]} value [exemplar] — labels is
 * the series' label text, rendered once for all its samples. */
static void render_sample_ex(struct buf *b, const char *name, size_t name_len, const char *suffix,
                             const struct buf *labels, const char *le, double v,
                             const struct exemplar *ex)
{
	char num[32];
	render_value(num, v);
	buf_put(b, name, name_len);
	buf_puts(b, suffix);
	if (labels->len || le) {
		buf_putc(b, '{');
		buf_put(b, labels->p, labels->len);
		if (le) {
			if (labels->len)
				buf_putc(b, ',');
			buf_put(b, "le=\"", 4);
			buf_puts(b, le);
			buf_putc(b, '"');
		}
		buf_putc(b, '}');
	}
	buf_putc(b, ' ');
	buf_puts(b, num);
	if (ex)
		render_exemplar(b, ex);
	buf_putc(b, '\n');
}

static void render_sample(struct buf *b, const char *name, size_t name_len, const char *suffix,
                          const struct buf *labels, const char *le, double v)
{
	render_sample_ex(b, name, name_len, suffix, labels, le, v, NULL);
}

static void render_created(struct buf *b, const struct series_data *s,
                           const struct buf *labels, const struct style *st)
{
	if (st->om && s && s->created > 0)
		render_sample(b, st->family, st->family_len, "_created", labels, NULL, s->created);
}

static void render_series(struct buf *b, const struct family_data *f,
                          const struct series_data *s, const double *cells,
                          const struct style *st, struct buf *labels)
{
	labels->len = 0;
	render_labels(labels, f, s);
	if (f->type != PF_HISTOGRAM) {
		render_sample_ex(b, st->sample, st->sample_len, "", labels, NULL, cells[0],
		                 f->type == PF_COUNTER ? exemplar_of(s, 0, st->om) : NULL);
		if (f->type == PF_COUNTER)
			render_created(b, s, labels, st);
		return;
	}
	double cumulative = 0;
	for (int i = 0; i <= f->nbuckets; i++) {
		cumulative += cells[i];
		/* cumulative counts, but the exemplar is of the bucket it fell in */
		render_sample_ex(b, st->family, st->family_len, "_bucket", labels,
		                 i < f->nbuckets ? st->le[i] : "+Inf", cumulative, exemplar_of(s, i, st->om));
	}
	render_sample(b, st->family, st->family_len, "_sum", labels, NULL, cells[f->nbuckets + 1]);
	render_sample(b, st->family, st->family_len, "_count", labels, NULL, cumulative);
	render_created(b, s, labels, st);
}

static const char *type_name(int type)
{
	return type == PF_COUNTER ? "counter" : type == PF_GAUGE ? "gauge"
	     : type == PF_HISTOGRAM ? "histogram" : "unknown";
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* OpenMetrics names a counter family without "_total", and states a unit
 * when the name ends in one (the unit must be the name's suffix). */
static void style_for(struct style *st, const struct family_data *f, int om)
{
	st->om = om;
	snprintf(st->family, sizeof st->family, "%s", f->name);
	st->sample = f->name;
	if (om && f->type == PF_COUNTER && ends_with(st->family, "_total"))
		st->family[strlen(st->family) - strlen("_total")] = '\0';
}

static const char *unit_of(const char *family)
{
	static const char *const units[] = {"seconds", "bytes", "ratio", "meters", "volts",
	                                    "amperes", "joules", "grams", "celsius"};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		char suffix[16];
		snprintf(suffix, sizeof suffix, "_%s", units[i]);
		if (ends_with(family, suffix))
			return units[i];
	}
	return NULL;
}

static void render_meta(struct buf *b, const char *what, const char *name, const char *text)
{
	buf_puts(b, "# ");
	buf_puts(b, what);
	buf_putc(b, ' ');
	buf_puts(b, name);
	buf_putc(b, ' ');
	buf_puts(b, text);
	buf_putc(b, '\n');
}

static void render_family(struct buf *b, const struct family_data *f, int om)
{
	static const double zeros[PF_BUCKETS_MAX + 2];
	struct style st;
	char sample_name[176];
	/* a native histogram shows its classic cells: +Inf, _sum and _count if it has no others */
	if (f->ncells > PF_BUCKETS_MAX + 2 + (f->native ? NATIVE_CELLS : 0) ||
	    !pf_valid_metric_name(f->name))
		return; /* only a damaged store holds such a family: never inject lines */
	for (int i = 0; i < f->nlabels; i++)
		if (!pf_valid_label_name(f->labels[i]))
			return;
	style_for(&st, f, om);
	if (om && f->type == PF_COUNTER && st.sample == f->name && !ends_with(f->name, "_total")) {
		snprintf(sample_name, sizeof sample_name, "%s_total", f->name);
		st.sample = sample_name;
	}
	struct buf help = {0};
	if (om)
		render_label_value(&help, f->help, strlen(f->help)); /* OM escapes " too */
	else
		render_help(&help, f->help);
	buf_putc(&help, '\0');
	render_meta(b, "HELP", st.family, help.oom ? "" : help.p);
	buf_free(&help);
	render_meta(b, "TYPE", st.family, type_name(f->type));
	if (om && unit_of(st.family))
		render_meta(b, "UNIT", st.family, unit_of(st.family));
	char le[PF_BUCKETS_MAX][32];
	for (int i = 0; f->type == PF_HISTOGRAM && i < f->nbuckets; i++)
		render_le(le[i], f->buckets[i]);
	st.le = le;
	st.family_len = strlen(st.family);
	st.sample_len = strlen(st.sample);
	struct buf labels = {0};
	/* a family without labels always has its one series, from zero */
	if (f->nseries == 0 && f->nlabels == 0)
		render_series(b, f, NULL, zeros, &st, &labels);
	for (size_t j = 0; j < f->nseries; j++)
		render_series(b, f, &f->series[j], f->series[j].cells, &st, &labels);
	if (labels.oom)
		b->oom = 1;
	buf_free(&labels);
}

void render_text(struct buf *b, const struct collection *c, const struct name_filter *filter)
{
	for (size_t i = 0; i < c->nfamilies; i++)
		if (!filter || negotiate_filter_match(filter, c->families[i].name))
			render_family(b, &c->families[i], 0);
}

void render_openmetrics(struct buf *b, const struct collection *c,
                        const struct name_filter *filter)
{
	for (size_t i = 0; i < c->nfamilies; i++)
		if (!filter || negotiate_filter_match(filter, c->families[i].name))
			render_family(b, &c->families[i], 1);
	buf_puts(b, "# EOF\n");
}
