/*
 * protobuf.c — the protobuf exposition format (see protobuf.h), written by
 * hand: a varint, a fixed64 and a length prefix are all the wire format
 * needs here.  Measured against Debian's protobuf-c on 10,000 series
 * (`make bench-protobuf`, docs/performance.md): the same bytes, several
 * times faster and without building a tree of messages first.
 *
 * Fields go out in field-number order, as protobuf-c and Go's proto write
 * them; proto2 optional fields are written when set (a counter's 0 too),
 * proto3 Timestamp fields only when not 0; repeated numbers unpacked, as
 * metrics.proto (proto2) declares them.  Each message is built in a
 * scratch buffer and copied behind its length into its parent.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "native.h"
#include "promfcgi.h"
#include "protobuf.h"

enum { VARINT = 0, FIXED64 = 1, LEN = 2 };
enum { MT_COUNTER = 0, MT_GAUGE = 1, MT_UNTYPED = 3, MT_HISTOGRAM = 4 }; /* MetricType */

static int reserve(struct buf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (b->cap - b->len >= n)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void pb_varint(struct buf *b, uint64_t v)
{
	if (reserve(b, 10))
		return;
	unsigned char *p = (unsigned char *)b->p + b->len, *s = p;
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	b->len += (size_t)(p - s);
}

static void tag(struct buf *b, int field, int wire)
{
	pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

static void f_uint(struct buf *b, int field, uint64_t v)
{
	tag(b, field, VARINT);
	pb_varint(b, v);
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (v < 0 ? ~(uint64_t)0 : 0);
}

static void f_sint(struct buf *b, int field, int64_t v)
{
	f_uint(b, field, zigzag(v));
}

static void f_double(struct buf *b, int field, double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	tag(b, field, FIXED64);
	if (reserve(b, 8))
		return;
	for (int i = 0; i < 8; i++) /* little-endian, whatever the host */
		b->p[b->len++] = (char)(u >> (8 * i));
}

static void f_bytes(struct buf *b, int field, const char *s, size_t n)
{
	tag(b, field, LEN);
	pb_varint(b, n);
	buf_put(b, s, n);
}

static void f_message(struct buf *b, int field, const struct buf *m)
{
	f_bytes(b, field, m->p ? m->p : "", m->len);
}

/* The scratch buffers of one encoding, reused for every message. */
struct enc {
	struct buf family, metric, hist, small, text;
	struct pf_native_sparse sparse;
};

/* A string field; invalid UTF-8 becomes U+FFFD, as in the text formats. */
static void f_string(struct enc *e, struct buf *b, int field, const char *s, size_t n)
{
	if (pf_valid_utf8(s, n)) {
		f_bytes(b, field, s, n);
		return;
	}
	e->text.len = 0;
	for (size_t i = 0; i < n;) {
		size_t len = pf_utf8_seq(s + i, n - i);
		if (len == 0) {
			buf_put(&e->text, "\xEF\xBF\xBD", 3);
			i++;
		} else {
			buf_put(&e->text, s + i, len);
			i += len;
		}
	}
	f_message(b, field, &e->text);
}

/* A count: the integer field when it is a whole number that fits, else
 * the _float one (which "overrides if > 0"). */
static void f_count(struct buf *b, int int_field, int float_field, double v)
{
	if (v >= 0 && v < 0x1p64 && v == floor(v))
		f_uint(b, int_field, (uint64_t)v);
	else
		f_double(b, float_field, v);
}

/* google.protobuf.Timestamp (proto3: zero fields left out). */
static void f_timestamp(struct enc *e, struct buf *b, int field, double t)
{
	double secs = floor(t);
	int64_t s = (int64_t)secs;
	int32_t ns = (int32_t)llround((t - secs) * 1e9);
	if (ns >= 1000000000) {
		s++;
		ns -= 1000000000;
	}
	e->small.len = 0;
	if (s)
		f_uint(&e->small, 1, (uint64_t)s);
	if (ns)
		f_uint(&e->small, 2, (uint64_t)ns);
	f_message(b, field, &e->small);
}

static void labels(struct enc *e, const struct pf_family_data *f, const struct pf_series_data *s)
{
	const char *v = s ? s->key : "";
	size_t left = s ? s->keylen : 0;
	for (int i = 0; i < f->nlabels; i++) {
		size_t n = strnlen(v, left);
		struct buf *lp = &e->hist; /* free until the histogram */
		lp->len = 0;
		f_string(e, lp, 1, f->labels[i], strlen(f->labels[i]));
		f_string(e, lp, 2, v, n);
		f_message(&e->metric, 1, lp);
		if (n < left) {
			v += n + 1;
			left -= n + 1;
		} else {
			left = 0;
		}
	}
}

static void spans(struct enc *e, struct buf *h, int span_field, int delta_field)
{
	for (int i = 0; i < e->sparse.nspans; i++) {
		e->small.len = 0;
		f_sint(&e->small, 1, e->sparse.spans[i].offset);
		f_uint(&e->small, 2, e->sparse.spans[i].length);
		f_message(h, span_field, &e->small);
	}
	for (int i = 0; i < e->sparse.ndeltas; i++)
		f_sint(h, delta_field, e->sparse.deltas[i]);
}

static void histogram(struct enc *e, const struct pf_family_data *f, const struct pf_series_data *s,
                      const double *cells)
{
	struct buf *h = &e->hist;
	double count = 0;
	for (int i = 0; i <= f->nbuckets; i++)
		count += cells[i];
	h->len = 0;
	if (count >= 0 && count < 0x1p64 && count == floor(count))
		f_uint(h, 1, (uint64_t)count);
	f_double(h, 2, cells[f->nbuckets + 1]);
	double cumulative = 0;
	for (int i = 0; i < f->nbuckets; i++) { /* +Inf is sample_count */
		cumulative += cells[i];
		e->small.len = 0;
		if (cumulative >= 0 && cumulative < 0x1p64 && cumulative == floor(cumulative))
			f_uint(&e->small, 1, (uint64_t)cumulative);
		f_double(&e->small, 2, f->buckets[i]);
		if (!(cumulative >= 0 && cumulative < 0x1p64 && cumulative == floor(cumulative)))
			f_double(&e->small, 4, cumulative);
		f_message(h, 3, &e->small);
	}
	if (!(count >= 0 && count < 0x1p64 && count == floor(count)))
		f_double(h, 4, count);
	const double *nc = cells + f->nbuckets + 2;
	if (f->native && pf_native_valid(nc)) { /* a damaged native block: classic only */
		f_sint(h, 5, (int64_t)nc[PF_NATIVE_SCHEMA]);
		f_double(h, 6, nc[PF_NATIVE_ZERO_THRESHOLD]);
		f_count(h, 7, 8, nc[PF_NATIVE_ZERO_COUNT]);
		pf_native_sparse(nc, 1, &e->sparse);
		int nneg = e->sparse.nspans;
		spans(e, h, 9, 10);
		pf_native_sparse(nc, 0, &e->sparse);
		if (e->sparse.nspans == 0 && nneg == 0 && nc[PF_NATIVE_ZERO_THRESHOLD] == 0 &&
		    nc[PF_NATIVE_ZERO_COUNT] == 0) {
			/* a no-op span, or scrapers would take it for a classic histogram */
			e->sparse.nspans = 1;
			e->sparse.spans[0].offset = 0;
			e->sparse.spans[0].length = 0;
		}
		spans(e, h, 12, 13);
	}
	/* the histogram's scratch is free again only now: the timestamp goes
	 * through small, which the buckets and spans are done with */
	if (s && s->created > 0)
		f_timestamp(e, h, 15, s->created);
}

static void series(struct enc *e, const struct pf_family_data *f, const struct pf_series_data *s,
                   const double *cells)
{
	e->metric.len = 0;
	labels(e, f, s);
	if (f->type == PF_HISTOGRAM) {
		histogram(e, f, s, cells);
		f_message(&e->metric, 7, &e->hist);
	} else {
		struct buf *v = &e->hist;
		v->len = 0;
		f_double(v, 1, cells[0]);
		if (f->type == PF_COUNTER && s && s->created > 0)
			f_timestamp(e, v, 3, s->created);
		f_message(&e->metric, f->type == PF_COUNTER ? 3 : f->type == PF_GAUGE ? 2 : 5, v);
	}
	f_message(&e->family, 4, &e->metric);
}

/* Whether the family's definition is one the text formats render too, and
 * its cells cover what is read from them. */
static int renderable(const struct pf_family_data *f)
{
	if (!pf_valid_metric_name(f->name) || f->nlabels < 0 || f->nlabels > PF_LABELS_MAX)
		return 0;
	for (int i = 0; i < f->nlabels; i++)
		if (!pf_valid_label_name(f->labels[i]))
			return 0;
	if (f->type != PF_HISTOGRAM)
		return f->ncells >= 1;
	if (f->nbuckets < 0 || f->nbuckets > PF_BUCKETS_MAX)
		return 0;
	return f->ncells >= f->nbuckets + 2 + (f->native ? PF_NATIVE_CELLS : 0);
}

static void family(struct enc *e, struct buf *out, const struct pf_family_data *f)
{
	if (!renderable(f))
		return;
	e->family.len = 0;
	f_string(e, &e->family, 1, f->name, strlen(f->name));
	f_string(e, &e->family, 2, f->help, strlen(f->help));
	f_uint(&e->family, 3,
	       f->type == PF_COUNTER ? MT_COUNTER : f->type == PF_GAUGE ? MT_GAUGE
	       : f->type == PF_HISTOGRAM ? MT_HISTOGRAM : MT_UNTYPED);
	if (f->nseries == 0 && f->nlabels == 0) { /* its one series, from zero */
		double zeros[PF_BUCKETS_MAX + 2 + PF_NATIVE_CELLS] = {0};
		if (f->native && pf_native_init(zeros + f->nbuckets + 2, f->native_schema,
		                                f->native_zero_threshold) != 0)
			pf_native_init(zeros + f->nbuckets + 2, PF_NATIVE_SCHEMA_DEFAULT,
			               PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
		series(e, f, NULL, zeros);
	}
	for (size_t j = 0; j < f->nseries; j++)
		series(e, f, &f->series[j], f->series[j].cells);
	pb_varint(out, e->family.len);
	buf_put(out, e->family.p ? e->family.p : "", e->family.len);
}

void render_protobuf(struct buf *b, const struct pf_collection *c, const struct name_filter *filter)
{
	struct enc *e = calloc(1, sizeof *e);
	if (!e) {
		b->oom = 1;
		return;
	}
	for (size_t i = 0; i < c->nfamilies; i++)
		if (!filter || filter_match(filter, c->families[i].name))
			family(e, b, &c->families[i]);
	if (e->family.oom || e->metric.oom || e->hist.oom || e->small.oom || e->text.oom)
		b->oom = 1;
	buf_free(&e->family);
	buf_free(&e->metric);
	buf_free(&e->hist);
	buf_free(&e->small);
	buf_free(&e->text);
	free(e);
}
