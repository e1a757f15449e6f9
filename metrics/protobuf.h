/* SPDX-License-Identifier: MIT */
/*
 * protobuf.h — the protobuf exposition format: length-delimited
 * io.prometheus.client.MetricFamily messages (proto/io/prometheus/client/
 * metrics.proto), what Prometheus asks for first when native histograms
 * are on.  Counters (with created_timestamp), gauges, classic histograms
 * (cumulative buckets without +Inf, sample_count, sample_sum,
 * created_timestamp) and native histograms (schema, zero bucket, spans and
 * deltas of each sign) in one Histogram message per series.
 */
#ifndef PROMFCGI_PROTOBUF_H
#define PROMFCGI_PROTOBUF_H

#include <stdint.h>

#include "store/buf.h"
#include "store/model.h"
#include "metrics/negotiate.h"

#define PROTOBUF_CONTENT_TYPE \
	"application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

/* Appends one length-delimited MetricFamily per family that filter selects
 * (filter may be NULL: every family), in the collection's order; the same
 * families, series and values as render_text. */
void protobuf_render(struct buf *b, const struct collection *c, const struct name_filter *filter);

/* Exposed for the tests: a base-128 varint. */
void protobuf_varint(struct buf *b, uint64_t v);

#endif
