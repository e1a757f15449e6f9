/*
 * render.c — where a series becomes exposition text (format 0.0.4).
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

#include "../store/names.h"
#include "../store/promfcgi.h"
#include "render.h"

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

void render_value(char out[32], double v)
{
	if (special(out, v))
		return;
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(out, 32, "%.0f", v == 0 ? 0.0 : v); /* no "-0" */
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
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
		size_t len = pf_utf8_seq(s + i, n - i);
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
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else
			buf_putc(b, *s);
	}
}

/* name{a="x",b="y"[,le="..."]} — key holds the values NUL-terminated. */
static void render_labels(struct buf *b, const struct pf_family_data *f,
                          const struct pf_series_data *s, const char *le)
{
	if (f->nlabels == 0 && !le)
		return;
	buf_putc(b, '{');
	const char *v = s ? s->key : "";
	size_t left = s ? s->keylen : 0;
	for (int i = 0; i < f->nlabels; i++) {
		size_t n = strnlen(v, left);
		if (i)
			buf_putc(b, ',');
		buf_puts(b, f->labels[i]);
		buf_puts(b, "=\"");
		render_label_value(b, v, n);
		buf_putc(b, '"');
		if (n < left) {
			v += n + 1;
			left -= n + 1;
		} else {
			left = 0;
		}
	}
	if (le) {
		if (f->nlabels)
			buf_putc(b, ',');
		buf_puts(b, "le=\"");
		buf_puts(b, le);
		buf_putc(b, '"');
	}
	buf_putc(b, '}');
}

static void render_sample(struct buf *b, const struct pf_family_data *f,
                          const struct pf_series_data *s, const char *suffix, const char *le,
                          double v)
{
	char num[32];
	render_value(num, v);
	buf_puts(b, f->name);
	buf_puts(b, suffix);
	render_labels(b, f, s, le);
	buf_putc(b, ' ');
	buf_puts(b, num);
	buf_putc(b, '\n');
}

static void render_series(struct buf *b, const struct pf_family_data *f,
                          const struct pf_series_data *s, const double *cells)
{
	if (f->type != PF_HISTOGRAM) {
		render_sample(b, f, s, "", NULL, cells[0]);
		return;
	}
	char le[32];
	double cumulative = 0;
	for (int i = 0; i <= f->nbuckets; i++) {
		cumulative += cells[i];
		if (i < f->nbuckets)
			render_le(le, f->buckets[i]);
		else
			strcpy(le, "+Inf");
		render_sample(b, f, s, "_bucket", le, cumulative);
	}
	render_sample(b, f, s, "_sum", NULL, cells[f->nbuckets + 1]);
	render_sample(b, f, s, "_count", NULL, cumulative);
}

static const char *type_name(int type)
{
	return type == PF_COUNTER ? "counter" : type == PF_GAUGE ? "gauge"
	     : type == PF_HISTOGRAM ? "histogram" : "untyped";
}

void render_text(struct buf *b, const struct pf_collection *c)
{
	static const double zeros[PF_BUCKETS_MAX + 2];
	for (size_t i = 0; i < c->nfamilies; i++) {
		const struct pf_family_data *f = &c->families[i];
		if (f->ncells > PF_BUCKETS_MAX + 2)
			continue;
		buf_puts(b, "# HELP ");
		buf_puts(b, f->name);
		buf_putc(b, ' ');
		render_help(b, f->help);
		buf_puts(b, "\n# TYPE ");
		buf_puts(b, f->name);
		buf_putc(b, ' ');
		buf_puts(b, type_name(f->type));
		buf_putc(b, '\n');
		/* a family without labels always has its one series, from zero */
		if (f->nseries == 0 && f->nlabels == 0)
			render_series(b, f, NULL, zeros);
		for (size_t j = 0; j < f->nseries; j++)
			render_series(b, f, &f->series[j], f->series[j].cells);
	}
}
