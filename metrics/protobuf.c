/* SPDX-License-Identifier: MIT */
/*
 * protobuf.c — the protobuf exposition format (see protobuf.h), written by
 * hand: a varint, a fixed64 and a length prefix are all the wire format
 * needs here.  Measured against Debian's protobuf-c on 10,000 series
 * (`make bench-protobuf`; figures in docs/performance.md): byte-identical
 * output, faster, and no tree of messages to build and free.
 *
 * Fields go out in field-number order, as protobuf-c and Go's proto write
 * them; proto2 optional fields are written when set (a counter's 0 too),
 * proto3 Timestamp fields only when not 0; repeated numbers unpacked, as
 * metrics.proto (proto2) declares them.  Exemplars go on a counter and on
 * the bucket their observation fell in (+Inf then written out as a bucket).  A message is written in place:
 * its tag, one byte for its length, its body; if the body turns out to
 * be 128 bytes or more, it moves up to make room for the longer length.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/names.h"
#include "store/native.h"
#include "promfcgi.h"
#include "metrics/protobuf.h"

enum { VARINT = 0, FIXED64 = 1, LEN = 2 };
enum { MT_COUNTER = 0, MT_GAUGE = 1, MT_UNTYPED = 3, MT_HISTOGRAM = 4 }; /* MetricType */

static size_t varint_at(unsigned char *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* A varint, room checked inline (a native histogram is some 40 of them per
 * series: a call per field was a fifth of its encoding). */
static inline void varint(struct buf *b, uint64_t v)
{
	if ((b->cap - b->len >= 10 && !b->oom) || buf_reserve(b, 10) == 0)
		b->len += varint_at((unsigned char *)b->p + b->len, v);
}

void protobuf_varint(struct buf *b, uint64_t v)
{
	varint(b, v);
}

static void tag(struct buf *b, int field, int wire)
{
	varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

static void f_uint(struct buf *b, int field, uint64_t v)
{
	tag(b, field, VARINT);
	varint(b, v);
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
	if (buf_reserve(b, 8))
		return;
	for (int i = 0; i < 8; i++) /* little-endian, whatever the host */
		b->p[b->len++] = (char)(u >> (8 * i));
}

static void f_bytes(struct buf *b, int field, const char *s, size_t n)
{
	tag(b, field, LEN);
	protobuf_varint(b, n);
	buf_put(b, s, n);
}

/* A message: message_open() writes a one-byte length and returns where its
 * body starts; message_close() puts the real length there.
 * field_message_open() is message_open() after the tag of an embedded
 * message's field. */
static size_t message_open(struct buf *b)
{
	if ((b->cap == b->len || b->oom) && buf_reserve(b, 1))
		return 0;
	b->p[b->len++] = 0;
	return b->len;
}

static size_t field_message_open(struct buf *b, int field)
{
	tag(b, field, LEN);
	return message_open(b);
}

static void message_close(struct buf *b, size_t body)
{
	if (b->oom)
		return;
	size_t n = b->len - body;
	unsigned char len[10];
	size_t k = varint_at(len, n);
	if (k > 1) {
		if (buf_reserve(b, k - 1))
			return;
		memmove(b->p + body + k - 1, b->p + body, n);
		b->len += k - 1;
	}
	memcpy(b->p + body - 1, len, k);
}

/* A string field; invalid UTF-8 becomes U+FFFD, as in the text formats. */
static void f_string(struct buf *b, int field, const char *s, size_t n)
{
	if (names_valid_utf8(s, n)) {
		f_bytes(b, field, s, n);
		return;
	}
	size_t m = field_message_open(b, field);
	for (size_t i = 0; i < n;) {
		size_t len = names_utf8_seq(s + i, n - i);
		if (len == 0) {
			buf_put(b, "\xEF\xBF\xBD", 3);
			i++;
		} else {
			buf_put(b, s + i, len);
			i += len;
		}
	}
	message_close(b, m);
}

static int is_uint(double v)
{
	return v >= 0 && v < 0x1p64 && v == floor(v);
}

/* google.protobuf.Timestamp (proto3: zero fields left out); one no int64
 * holds (only a damaged store has such) is left out. */
static void f_timestamp(struct buf *b, int field, double t)
{
	if (!(t > -0x1p62 && t < 0x1p62))
		return;
	double secs = floor(t);
	int64_t s = (int64_t)secs;
	int32_t ns = (int32_t)llround((t - secs) * 1e9);
	if (ns >= 1000000000) {
		s++;
		ns -= 1000000000;
	}
	size_t m = field_message_open(b, field);
	if (s)
		f_uint(b, 1, (uint64_t)s);
	if (ns)
		f_uint(b, 2, (uint64_t)ns);
	message_close(b, m);
}

static void labels(struct buf *b, const struct family_data *f, const struct series_data *s)
{
	const char *v = s ? s->key : "";
	size_t left = s ? s->keylen : 0;
	for (int i = 0; i < f->nlabels; i++) {
		size_t n = strnlen(v, left);
		size_t m = field_message_open(b, 1);
		f_string(b, 1, f->labels[i], strlen(f->labels[i]));
		f_string(b, 2, v, n);
		message_close(b, m);
		if (n < left) {
			v += n + 1;
			left -= n + 1;
		} else {
			left = 0;
		}
	}
}

/* io.prometheus.client.Exemplar {label, value, timestamp}, if the series
 * has one for bucket i (0: a counter's); an invalid one (only a damaged
 * store holds such) is left out. */
static void f_exemplar(struct buf *b, int field, const struct series_data *s, int i)
{
	const struct exemplar *x = s && s->exemplars ? &s->exemplars[i] : NULL;
	if (!x || x->timestamp <= 0 || x->len > MODEL_EXEMPLAR_BYTES ||
	    !names_valid_exemplar(x->labels, x->len))
		return;
	size_t m = field_message_open(b, field);
	for (uint32_t at = 0; at < x->len;) {
		const char *name = x->labels + at, *value = name + strlen(name) + 1;
		size_t vl = strlen(value), l = field_message_open(b, 1);
		f_string(b, 1, name, strlen(name));
		f_string(b, 2, value, vl);
		message_close(b, l);
		at = (uint32_t)(value + vl + 1 - x->labels);
	}
	f_double(b, 2, x->value);
	f_timestamp(b, 3, x->timestamp);
	message_close(b, m);
}

static int has_exemplar(const struct series_data *s, int i)
{
	return s && s->exemplars && s->exemplars[i].timestamp > 0;
}

static void spans(struct buf *b, const struct native_sparse *sp, int span_field, int delta_field)
{
	for (int i = 0; i < sp->nspans; i++) {
		size_t m = field_message_open(b, span_field);
		f_sint(b, 1, sp->spans[i].offset);
		f_uint(b, 2, sp->spans[i].length);
		message_close(b, m);
	}
	for (int i = 0; i < sp->ndeltas; i++)
		f_sint(b, delta_field, sp->deltas[i]);
}

/* Where a series' native buckets may be: the scrape knows (ranges), else
 * anywhere in the windows. */
static const struct native_range *range_of(const struct family_data *f,
                                           const struct series_data *s, struct native_range *all)
{
	if (s && f->ranges && s >= f->series && s < f->series + f->nseries)
		return &f->ranges[s - f->series];
	native_range_all(all);
	return all;
}

static void native(struct buf *b, const double *nc, const struct native_range *r)
{
	struct native_sparse neg, pos;
	if (native_to_sparse_range(nc, 1, r, &neg) != 0 || native_to_sparse_range(nc, 0, r, &pos) != 0 ||
	    !is_uint(nc[NATIVE_ZERO_COUNT]))
		return; /* a damaged native block: the classic part only */
	f_sint(b, 5, (int64_t)nc[NATIVE_SCHEMA]);
	f_double(b, 6, nc[NATIVE_ZERO_THRESHOLD]);
	f_uint(b, 7, (uint64_t)nc[NATIVE_ZERO_COUNT]);
	spans(b, &neg, 9, 10);
	if (pos.nspans == 0 && neg.nspans == 0 && nc[NATIVE_ZERO_THRESHOLD] == 0 &&
	    nc[NATIVE_ZERO_COUNT] == 0) {
		/* a no-op span, or scrapers would take it for a classic histogram */
		pos.nspans = 1;
		pos.spans[0].offset = 0;
		pos.spans[0].length = 0;
	}
	spans(b, &pos, 12, 13);
}

static void histogram(struct buf *b, const struct family_data *f, const struct series_data *s,
                      const double *cells)
{
	double count = 0, cumulative = 0, sum = cells[f->nbuckets + 1];
	for (int i = 0; i <= f->nbuckets; i++)
		count += cells[i];
	/* the count and sum of a native histogram are its native part's: they
	 * are the classic ones, but for a family that gained native buckets
	 * (whose native part counts from then on: db_family.c) or took an earlier
	 * release's classic counts, where the native buckets must add up */
	double sample_count = count;
	const double *nc = f->native ? cells + f->nbuckets + 2 : NULL;
	struct native_range all;
	const struct native_range *range = range_of(f, s, &all);
	int classic = 1;
	if (nc && native_valid_range(nc, range)) {
		sample_count = nc[NATIVE_COUNT];
		sum = nc[NATIVE_SUM];
		/* where the parts disagree the classic buckets would pass the
		 * count (a histogram no scraper takes): the native part only */
		classic = sample_count == count;
	}
	if (is_uint(sample_count))
		f_uint(b, 1, (uint64_t)sample_count);
	f_double(b, 2, sum);
	for (int i = 0; classic && i < f->nbuckets; i++) { /* +Inf is sample_count */
		cumulative += cells[i];
		size_t m = field_message_open(b, 3);
		if (is_uint(cumulative))
			f_uint(b, 1, (uint64_t)cumulative);
		f_double(b, 2, f->buckets[i]);
		f_exemplar(b, 3, s, i);
		if (!is_uint(cumulative)) /* cumulative_count_float "overrides if > 0" */
			f_double(b, 4, cumulative);
		message_close(b, m);
	}
	if (classic && has_exemplar(s, f->nbuckets)) { /* +Inf written out for its exemplar, as client_golang does */
		size_t m = field_message_open(b, 3);
		if (is_uint(count))
			f_uint(b, 1, (uint64_t)count);
		f_double(b, 2, INFINITY);
		f_exemplar(b, 3, s, f->nbuckets);
		if (!is_uint(count))
			f_double(b, 4, count);
		message_close(b, m);
	}
	if (!is_uint(sample_count))
		f_double(b, 4, sample_count);
	if (f->native)
		native(b, cells + f->nbuckets + 2, range);
	if (s && s->created > 0)
		f_timestamp(b, 15, s->created);
}

static void series(struct buf *b, const struct family_data *f, const struct series_data *s,
                   const double *cells)
{
	size_t m = field_message_open(b, 4);
	labels(b, f, s);
	size_t v = field_message_open(b, f->type == PF_HISTOGRAM ? 7 : f->type == PF_COUNTER ? 3
	                  : f->type == PF_GAUGE ? 2 : 5);
	if (f->type == PF_HISTOGRAM) {
		histogram(b, f, s, cells);
	} else {
		f_double(b, 1, cells[0]);
		if (f->type == PF_COUNTER)
			f_exemplar(b, 2, s, 0);
		if (f->type == PF_COUNTER && s && s->created > 0)
			f_timestamp(b, 3, s->created);
	}
	message_close(b, v);
	message_close(b, m);
}

/* Whether the family's definition is one the text formats render too, and
 * its cells cover what is read from them. */
static int renderable(const struct family_data *f)
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
	return f->ncells >= f->nbuckets + 2 + (f->native ? NATIVE_CELLS : 0);
}

static void family(struct buf *b, const struct family_data *f)
{
	if (!renderable(f))
		return;
	size_t m = message_open(b); /* delimited: the length, no tag */
	f_string(b, 1, f->name, strlen(f->name));
	f_string(b, 2, f->help, strlen(f->help));
	f_uint(b, 3,
	       f->type == PF_COUNTER ? MT_COUNTER : f->type == PF_GAUGE ? MT_GAUGE
	       : f->type == PF_HISTOGRAM ? MT_HISTOGRAM : MT_UNTYPED);
	if (f->nseries == 0 && f->nlabels == 0) { /* its one series, from zero */
		double zeros[PF_BUCKETS_MAX + 2 + NATIVE_CELLS] = {0};
		if (f->native && native_init(zeros + f->nbuckets + 2, f->native_schema,
		                                f->native_zero_threshold) != 0)
			native_init(zeros + f->nbuckets + 2, PF_NATIVE_SCHEMA_DEFAULT,
			               PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
		series(b, f, NULL, zeros);
	}
	for (size_t j = 0; j < f->nseries; j++)
		series(b, f, &f->series[j], f->series[j].cells);
	message_close(b, m);
}

void protobuf_render(struct buf *b, const struct collection *c, const struct name_filter *filter)
{
	for (size_t i = 0; i < c->nfamilies; i++)
		if (!filter || negotiate_filter_match(filter, c->families[i].name))
			family(b, &c->families[i]);
}
