/* SPDX-License-Identifier: MIT */
/*
 * native.h — native (sparse, exponential-bucket) histogram arithmetic, in
 * the data-model layer: no I/O, no allocation.  A series' native data lives
 * in a fixed number of cells (doubles, like every other cell), so a staging
 * file can hold it in a fixed-size slot.
 *
 * Buckets (Prometheus' native histogram spec; client_golang histogram.go):
 * for schema s in -4..8 the bucket boundaries are the powers of
 * 2^(2^-s); bucket k holds |v| in (2^((k-1)*2^-s), 2^(k*2^-s)], so a value
 * equal to a boundary falls in the lower bucket.  Indexes are found exactly
 * as client_golang finds them (frexp, then its table of boundaries within
 * one power of two, which it rounds its own way: see native.c), so an
 * observation lands in the same bucket here as in a Go program.  Values
 * with |v| <= the zero threshold count in the zero bucket; negative values
 * in the negative buckets (by |v|); NaN counts in count and sum only; +-Inf
 * one bucket past the largest finite value's.
 *
 * Cell layout of one native series (NATIVE_CELLS = 327 cells, 2616
 * bytes): count, sum, zero count, zero threshold, schema, the index of the
 * first bucket of the positive window, the same for the negative window,
 * then NATIVE_BUCKETS (160) positive bucket counts and 160 negative
 * ones.  A window holds 160 consecutive bucket indexes, wherever they are.
 *
 * Resolution policy: when an observation (or a merge) needs a bucket
 * outside its sign's window, the window moves if the buckets in use of
 * that sign and the new one span at most 160 indexes (nothing is lost);
 * otherwise the series' schema goes down by one (both signs; bucket k
 * becomes ceil(k/2), pairs of counts added, exactly as client_golang's
 * doubleBucketWidths does when a histogram exceeds its maximum bucket
 * number) until they do.  At schema 3 a window spans a factor of 2^20
 * (about 10^6) between the smallest and largest observation of one sign;
 * schema -4 spans every double (at most 133 indexes), so lowering always
 * ends.  The limit is on the span of indexes, not on the number of
 * buckets in use as in client_golang; the schema only goes down.
 */
#ifndef PROMFCGI_NATIVE_H
#define PROMFCGI_NATIVE_H

#include <stdint.h>

#include "promfcgi.h" /* PF_NATIVE_SCHEMA_MIN, _MAX, _DEFAULT, PF_NATIVE_ZERO_THRESHOLD_DEFAULT */

#define NATIVE_BUCKETS 160 /* bucket window per sign */

enum {
	NATIVE_COUNT,          /* observations, NaN included */
	NATIVE_SUM,            /* sum of observations */
	NATIVE_ZERO_COUNT,     /* observations with |v| <= zero threshold */
	NATIVE_ZERO_THRESHOLD, /* >= 0 */
	NATIVE_SCHEMA,         /* -4..8 */
	NATIVE_POS_START,      /* bucket index of cell NATIVE_POS */
	NATIVE_NEG_START,      /* bucket index of cell NATIVE_NEG */
	NATIVE_POS,            /* NATIVE_BUCKETS counts, v > threshold */
	NATIVE_NEG = NATIVE_POS + NATIVE_BUCKETS, /* v < -threshold, by |v| */
	NATIVE_CELLS = NATIVE_NEG + NATIVE_BUCKETS
};

/* The bucket index of |v| at schema (v not 0, not NaN), as client_golang. */
int native_bucket(double v, int schema);
/* The upper bound of bucket index at schema, the boundary client_golang
 * uses: native_bucket(native_upper(k, s), s) == k. */
double native_upper(int index, int schema);
/* The index of bucket k after the schema goes down by one: ceil(k / 2). */
int native_halve(int index);

/* An empty series: 0, or -1 for a schema out of -4..8 or a threshold < 0. */
int native_init(double *cells, int schema, double zero_threshold);
/* The same for the header cells alone (NATIVE_COUNT .. NATIVE_NEG_START):
 * the windows are left as they are (a reader that knows they are 0). */
int native_init_header(double *cells, int schema, double zero_threshold);
/* Whether cells hold a consistent native series: schema and starts
 * integers in range, counts integers >= 0. */
int native_valid(const double *cells);

/* Records v.  0: only count, sum and one bucket (or the zero count)
 * changed; 1: the window moved or the schema went down, so any cell may
 * have changed; -1: cells are not a valid series (v not recorded). */
int native_observe(double *cells, double v);
/* Lowers the schema to `schema` (<= the current one), merging buckets
 * exactly.  0, or -1 if invalid. */
int native_reduce(double *cells, int schema);
/* dst += src: both lowered to the smaller schema, then added bucket by
 * bucket, the windows moved or the schema lowered further as needed.
 * 0, or -1 if either is invalid or their zero thresholds differ (dst
 * unchanged). */
int native_merge(double *dst, const double *src);
/* dst -= src, for src an earlier state of the same series (what a fold
 * adds is staged - folded): src is lowered to dst's schema first.  0, or
 * -1 if invalid, thresholds differ, src's schema is lower than dst's or a
 * count would go below 0 (dst unchanged). */
int native_subtract(double *dst, const double *src);

/* dst += a - b, for b an earlier state of a's series (b NULL: dst += a):
 * what a scrape adds for a worker, staged - folded.  The same as
 * native_subtract then native_merge, and as exact; without copies
 * when a and b share their schema and windows and dst's windows take
 * every bucket of a - b (the common case).  0, or -1 (dst unchanged) if
 * either fails. */
int native_add_diff(double *dst, const double *a, const double *b);

/* Prometheus' sparse form of one sign's buckets: spans (the first one's
 * offset is its first index, each next one's the gap after the previous)
 * and counts delta-encoded (each against the previous, the first against
 * 0).  Gaps of one or two empty buckets are kept inside a span as zero
 * counts, as client_golang does (cheaper than a new span). */
struct native_span {
	int32_t offset;
	uint32_t length;
};
struct native_sparse {
	int nspans, ndeltas;
	struct native_span spans[NATIVE_BUCKETS];
	int64_t deltas[NATIVE_BUCKETS];
};
/* negative: 0 for the positive buckets, 1 for the negative ones.  0, or -1
 * if cells are not a valid series. */
int native_to_sparse(const double *cells, int negative, struct native_sparse *out);

/* Where a native part's non-zero buckets are, per sign (0: positive, 1:
 * negative): window offsets [lo, hi), lo == hi when none.  What a reader
 * needs to touch of a window: a merge, a copy, an encoding cost what the
 * series holds, not its 320 buckets. */
struct native_range {
	uint16_t lo[2], hi[2];
};
/* The range of cells' native part, found by a scan. */
void native_range_of(const double *cells, struct native_range *r);
/* Both windows whole: for a part whose range is not known. */
void native_range_all(struct native_range *r);
/* The same as native_add_diff, looking only at the buckets of r (a's,
 * and b's too: both are 0 outside it); touched gets where dst's windows
 * changed (both whole when the windows moved or the schema went down). */
int native_add_diff_range(double *dst, const double *a, const double *b,
                          const struct native_range *r, struct native_range *touched);
/* native_valid and native_to_sparse for a part that is 0 outside r. */
int native_valid_range(const double *cells, const struct native_range *r);
int native_to_sparse_range(const double *cells, int negative, const struct native_range *r,
                           struct native_sparse *out);

#endif
