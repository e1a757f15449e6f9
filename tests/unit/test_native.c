/* SPDX-License-Identifier: MIT */
/*
 * test_native.c — native histogram arithmetic (store/native.c).  Expected
 * indexes are worked out by hand from the spec (bucket k of schema s holds
 * (2^((k-1)/2^s), 2^(k/2^s)]), and where client_golang's rounding of its
 * boundaries matters, from the numbers in its published table.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/native.h"
#include "test.h"

static double cells[NATIVE_CELLS], other[NATIVE_CELLS], direct[NATIVE_CELLS];

/* The count of bucket k (positive or negative), wherever the window is. */
static double bucket(const double *c, int neg, int k)
{
	int start = (int)c[neg ? NATIVE_NEG_START : NATIVE_POS_START];
	if (k < start || k >= start + NATIVE_BUCKETS)
		return 0;
	return c[(neg ? NATIVE_NEG : NATIVE_POS) + k - start];
}

/* Whether two series hold the same schema, counts and buckets (the windows
 * may sit differently). */
static int same(const double *a, const double *b)
{
	if (a[NATIVE_SCHEMA] != b[NATIVE_SCHEMA] || a[NATIVE_COUNT] != b[NATIVE_COUNT] ||
	    a[NATIVE_ZERO_COUNT] != b[NATIVE_ZERO_COUNT] || a[NATIVE_SUM] != b[NATIVE_SUM])
		return 0;
	for (int neg = 0; neg < 2; neg++)
		for (int k = -300000; k <= 300000; k++)
			if (bucket(a, neg, k) != bucket(b, neg, k))
				return 0;
	return 1;
}

static void observe_all(double *c, int schema, double zt, const double *v, int n)
{
	native_init(c, schema, zt);
	for (int i = 0; i < n; i++)
		CHECK(native_observe(c, v[i]) >= 0);
}

static void bucket_index(void)
{
	/* schema 0: (2^(k-1), 2^k] */
	CHECK(native_bucket(1, 0) == 0);
	CHECK(native_bucket(2, 0) == 1);
	CHECK(native_bucket(1.5, 0) == 1);
	CHECK(native_bucket(0.5, 0) == -1);
	CHECK(native_bucket(0.75, 0) == 0);
	CHECK(native_bucket(3, 0) == 2);
	CHECK(native_bucket(4, 0) == 2);
	CHECK(native_bucket(4.000001, 0) == 3);
	/* schema 3: (2^((k-1)/8), 2^(k/8)]; 2^(1/8) = 1.0905, 2^(2/8) = 1.1892 */
	CHECK(native_bucket(1.1, 3) == 2);
	CHECK(native_bucket(2, 3) == 8);
	/* 2^(-62/8) = 0.004645 < 0.005 <= 2^(-61/8) = 0.005075 */
	CHECK(native_bucket(0.005, 3) == -61);
	CHECK(native_bucket(0.25, 3) == -16);
	CHECK(native_bucket(0.3125, 3) == -13); /* 2^(-14/8) = 0.2973, 2^(-13/8) = 0.3242 */
	/* schema -1: (4^(k-1), 4^k] */
	CHECK(native_bucket(3, -1) == 1);
	CHECK(native_bucket(4, -1) == 1);
	CHECK(native_bucket(5, -1) == 2);
	CHECK(native_bucket(0.3, -1) == 0);
	CHECK(native_bucket(0.25, -1) == -1);
	/* schema -4: (2^(16(k-1)), 2^(16k)] */
	CHECK(native_bucket(1, -4) == 0);
	CHECK(native_bucket(65536, -4) == 1);
	CHECK(native_bucket(65537, -4) == 2);
	CHECK(native_bucket(1e-5, -4) == -1);
	/* schema 8: 2 = 2^(256/256) */
	CHECK(native_bucket(2, 8) == 256);
	/* negative values: by |v| */
	CHECK(native_bucket(-3, 0) == 2);
	CHECK(native_bucket(-0.25, 3) == -16);
	/* +-Inf: one past MaxFloat64's bucket (2^1024 at schema s is k = 1024 * 2^s) */
	CHECK(native_bucket(INFINITY, 0) == 1025);
	CHECK(native_bucket(-INFINITY, 3) == 8193);
	CHECK(native_bucket(INFINITY, -4) == 65);
	CHECK(native_bucket(DBL_MAX, 0) == 1024);
}

/* client_golang's boundaries are its table's numbers, not the correctly
 * rounded powers: the values here are from its histogram.go. */
static void golang_boundaries(void)
{
	/* Schema 1: {0.5, 0.7071067811865475}; the upper bound of bucket 1 is
	 * twice the second, one ulp below the double nearest sqrt(2). */
	CHECK_NUM(native_upper(1, 1), 2 * 0.7071067811865475);
	CHECK(native_upper(1, 1) < M_SQRT2);
	/* Schema 3: 0.5452538663326288, 0.6484197773255048, 0.9170040432046711 */
	CHECK_NUM(native_upper(-7, 3), 0.5452538663326288);
	CHECK_NUM(native_upper(3, 3), 2 * 0.6484197773255048);
	CHECK_NUM(native_upper(15, 3), 4 * 0.9170040432046711);
	/* Schema 8: the last entry 0.9972960560854698 is 3 ulps below the
	 * correctly rounded 2^(-1/256) (0x1.fe9d96b2a23d9p-1) */
	CHECK_NUM(native_upper(255, 8), 2 * 0.9972960560854698);
	CHECK_NUM(native_upper(255, 8), 0x1.fe9d96b2a23d6p+0);
	CHECK_NUM(native_upper(1, 8), 2 * 0.5013556375251013);
	CHECK_NUM(native_upper(129, 8), 2 * 0.7090239421602076);
	CHECK_NUM(native_upper(6, 8), 2 * 0.5081891574554764); /* correctly rounded: ...765 */
	/* so a value between Go's boundary and the true one goes up, as in Go */
	CHECK(native_bucket(0x1.fe9d96b2a23d7p+0, 8) == 256);
	CHECK(native_bucket(0x1.fe9d96b2a23d6p+0, 8) == 255);
	CHECK(native_bucket(0x1.fd3c22b8f71efp+0, 7) == 128); /* schema 7: 0.9945994234836328 */
	CHECK(native_bucket(2 * 0.9945994234836328, 7) == 127);
	CHECK(native_bucket(M_SQRT2, 1) == 2);
	CHECK(native_bucket(2 * 0.7071067811865475, 1) == 1);
}

/* native.c's table of schema 8's boundaries is the one client_golang
 * makes: 0.5, then each odd entry of schema s the one before times Go's
 * math.Exp2(2^-s), each even one schema s-1's; made again here the same
 * way, every entry compared (native_upper(i, 8) is twice entry i). */
static void golang_table(void)
{
	static const double factor[9] = {
	    0x1p+1, 0x1.6a09e667f3bccp+0, 0x1.306fe0a31b715p+0, 0x1.172b83c7d517bp+0,
	    0x1.0b5586cf9890fp+0, 0x1.059b0d3158574p+0, 0x1.02c9a3e778061p+0,
	    0x1.0163da9fb3335p+0, 0x1.00b1afa5abcbfp+0,
	};
	double prev[256], cur[256];
	prev[0] = 0.5;
	for (int s = 1, n = 2; s <= 8; s++, n *= 2) {
		cur[0] = 0.5;
		for (int j = 1; j < n; j++)
			cur[j] = j % 2 == 0 ? prev[j / 2] : cur[j - 1] * factor[s];
		memcpy(prev, cur, (size_t)n * sizeof cur[0]);
	}
	int differ = 0;
	for (int i = 0; i < 256; i++)
		differ += native_upper(i, 8) != 2 * prev[i];
	CHECK(differ == 0);
}

/* A value equal to a boundary is in the lower bucket; the next double up
 * in the next; every boundary near 2^(k/2^s) (client_golang's table is
 * up to 4 ulps off: within 8). */
static void boundaries(void)
{
	for (int s = PF_NATIVE_SCHEMA_MIN; s <= PF_NATIVE_SCHEMA_MAX; s++) {
		int n = 0;
		for (int k = -3000; k <= 3000 && n < 5; k++) {
			double u = native_upper(k, s);
			if (u < 0x1p-1000 || u > 0x1p1000)
				continue; /* far from the subnormals and the top */
			long double exact = exp2l((long double)k / exp2l(s));
			if (native_bucket(u, s) != k || native_bucket(-u, s) != k ||
			    native_bucket(nextafter(u, INFINITY), s) != k + 1 ||
			    native_bucket(nextafter(u, 0), s) != k ||
			    fabsl((long double)u - exact) > 8 * exact * 0x1p-53L) {
				fprintf(stderr, "  schema %d index %d: upper %a\n", s, k, u);
				test_failures++;
				n++;
			}
		}
	}
}

static void layout(void)
{
	CHECK(NATIVE_CELLS == 7 + 2 * 160);
	CHECK(native_init(cells, 3, 0.001) == 0);
	CHECK(cells[NATIVE_SCHEMA] == 3 && cells[NATIVE_ZERO_THRESHOLD] == 0.001);
	CHECK(cells[NATIVE_COUNT] == 0 && cells[NATIVE_SUM] == 0);
	CHECK(native_valid(cells));
	CHECK(native_init(cells, 9, 0) == -1);
	CHECK(native_init(cells, -5, 0) == -1);
	CHECK(native_init(cells, 0, -1) == -1);
	CHECK(native_init(cells, 0, NAN) == -1);
	/* the first observations between 0.9 ms and 15 min at schema 3 need no
	 * move: the window starts at -80 .. 79, (2^(-81/8), 2^(79/8)] */
	native_init(cells, 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
	CHECK(native_observe(cells, 0.001) == 0);
	CHECK(native_observe(cells, 900) == 0);
	CHECK(native_observe(cells, 1000) == 1); /* 80 */
	CHECK(native_observe(cells, 1) == 0);
	CHECK(bucket(cells, 0, 0) == 1 && cells[NATIVE_COUNT] == 4);
}

static void zero_bucket(void)
{
	native_init(cells, 0, 0.001);
	double v[] = {0.001, -0.001, 0, -0.0, 0.0010001, -0.0010001, 1e-9};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		CHECK(native_observe(cells, v[i]) >= 0);
	CHECK(cells[NATIVE_ZERO_COUNT] == 5);
	CHECK(bucket(cells, 0, -9) == 1); /* 0.0010001 in (2^-10, 2^-9] */
	CHECK(bucket(cells, 1, -9) == 1);
	CHECK(cells[NATIVE_COUNT] == 7);
	/* threshold 0: only 0 itself */
	native_init(cells, 0, 0);
	CHECK(native_observe(cells, 0) == 0);
	CHECK(native_observe(cells, 1e-300) >= 0);
	CHECK(cells[NATIVE_ZERO_COUNT] == 1);
	CHECK(bucket(cells, 0, native_bucket(1e-300, 0)) == 1);
	/* the default, 2^-128, is a boundary: 2^-128 itself is in the zero bucket */
	native_init(cells, 3, PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
	native_observe(cells, 0x1p-128);
	native_observe(cells, 0x1.0000000000001p-128);
	CHECK(cells[NATIVE_ZERO_COUNT] == 1);
	CHECK(bucket(cells, 0, -128 * 8 + 1) == 1);
}

static void negative_values(void)
{
	double v[] = {-3, -3, -0.5, 2};
	observe_all(cells, 0, 0, v, 4);
	CHECK(bucket(cells, 1, 2) == 2);
	CHECK(bucket(cells, 1, -1) == 1);
	CHECK(bucket(cells, 0, 1) == 1);
	CHECK(bucket(cells, 0, 2) == 0);
	CHECK_NUM(cells[NATIVE_SUM], -4.5);
	CHECK_NUM(cells[NATIVE_COUNT], 4);
}

static void nan_and_inf(void)
{
	native_init(cells, 3, 0);
	CHECK(native_observe(cells, NAN) == 0);
	CHECK(cells[NATIVE_COUNT] == 1 && isnan(cells[NATIVE_SUM]));
	CHECK(cells[NATIVE_ZERO_COUNT] == 0);
	for (int j = 0; j < 2 * NATIVE_BUCKETS; j++)
		CHECK(cells[NATIVE_POS + j] == 0);
	native_init(cells, 3, 0);
	CHECK(native_observe(cells, INFINITY) == 1); /* far outside: the window moves */
	CHECK(bucket(cells, 0, 8193) == 1);
	CHECK(native_observe(cells, -INFINITY) == 1);
	CHECK(bucket(cells, 1, 8193) == 1);
	CHECK(cells[NATIVE_SCHEMA] == 3);
}

/* Buckets in use spanning at most 160 indexes: the window moves, nothing
 * is merged. */
static void window_moves(void)
{
	native_init(cells, 3, 0);
	/* 2^-30 is index -240: the window moves to centre it (-319 .. -160);
	 * 2^-11 is index -88: -240 .. -88 is 153 indexes, centred again */
	CHECK(native_observe(cells, 0x1p-30) == 1);
	CHECK(cells[NATIVE_POS_START] == -319);
	CHECK(native_observe(cells, 0x1p-11) == 1);
	CHECK(cells[NATIVE_POS_START] == -243);
	CHECK(native_observe(cells, 0x1p-12) == 0); /* -96: inside */
	CHECK(cells[NATIVE_SCHEMA] == 3);
	CHECK(bucket(cells, 0, -240) == 1 && bucket(cells, 0, -88) == 1 && bucket(cells, 0, -96) == 1);
	/* index 0 would make 241: schema 2 (-120 .. 0) */
	CHECK(native_observe(cells, 1) == 1);
	CHECK(cells[NATIVE_SCHEMA] == 2);
	CHECK(bucket(cells, 0, -120) == 1 && bucket(cells, 0, -44) == 1 && bucket(cells, 0, -48) == 1);
	CHECK(bucket(cells, 0, 0) == 1);
}

static void resolution_reduction(void)
{
	/* the limit is exact: indexes 0 and 159 fit schema 3, 0 and 160 do not */
	native_init(cells, 3, 0);
	native_observe(cells, 1);
	native_observe(cells, native_upper(159, 3));
	CHECK(cells[NATIVE_SCHEMA] == 3);
	CHECK(native_observe(cells, native_upper(160, 3)) == 1); /* 2^20 */
	CHECK(cells[NATIVE_SCHEMA] == 2);
	CHECK(bucket(cells, 0, 0) == 1 && bucket(cells, 0, 80) == 2); /* 159 -> 80, 160 -> 80 */

	/* by hand, schema 0 -> -1: 1, 2, 3, 4 are 0, 1, 2, 2; halved 0, 1, 1, 1 */
	double v[] = {1, 2, 3, 4, -3};
	observe_all(cells, 0, 0, v, 5);
	CHECK(native_reduce(cells, -1) == 0);
	CHECK(cells[NATIVE_SCHEMA] == -1);
	CHECK(bucket(cells, 0, 0) == 1 && bucket(cells, 0, 1) == 3 && bucket(cells, 1, 1) == 1);
	observe_all(direct, -1, 0, v, 5); /* what observing at schema -1 gives */
	CHECK(same(cells, direct));
	CHECK(native_reduce(cells, 0) == -1); /* never up */

	/* the halving of negative indexes: -3 -> -1, -2 -> -1, -1 -> 0, 0 -> 0, 1 -> 1 */
	CHECK(native_halve(-3) == -1 && native_halve(-2) == -1 && native_halve(-1) == 0);
	CHECK(native_halve(0) == 0 && native_halve(1) == 1 && native_halve(2) == 1);

	/* values over 2^-40 .. 2^40 from schema 8: lowering as needed gives
	 * exactly what observing at the final schema gives */
	double w[400];
	srand(11);
	for (int i = 0; i < 400; i++)
		w[i] = (i % 3 ? 1 : -1) * ldexp(0.5 + rand() / (RAND_MAX + 1.0), rand() % 81 - 40);
	w[0] = 1; /* an exact boundary */
	observe_all(cells, 8, 0, w, 400);
	int s = (int)cells[NATIVE_SCHEMA];
	CHECK(s < 8);
	observe_all(direct, s, 0, w, 400);
	CHECK(direct[NATIVE_SCHEMA] == s);
	CHECK(same(cells, direct));
	observe_all(other, s + 1, 0, w, 400); /* and s is the highest that holds them */
	CHECK(other[NATIVE_SCHEMA] == s);

	/* every double fits schema -4 */
	double x[] = {0x1p-1074, DBL_MAX, INFINITY, -0x1p-1074, -INFINITY, 1};
	observe_all(cells, 8, 0, x, 6);
	CHECK(cells[NATIVE_SCHEMA] == -4);
	CHECK(bucket(cells, 0, -67) == 1 && bucket(cells, 0, 65) == 1 && bucket(cells, 0, 64) == 1);
}

static void merge_schemas(void)
{
	/* a at schema 1: 1.5 in (2^0.5, 2^1] (index 2), 3 in (2^1.5, 2^2] (4);
	 * b at schema 0: 1.5 (1), 0.7 (0), 0 (zero bucket), -1 (negative 0) */
	double va[] = {1.5, 3}, vb[] = {1.5, 0.7, 0, -1};
	observe_all(cells, 1, 0, va, 2);
	observe_all(other, 0, 0, vb, 4);
	CHECK(native_merge(cells, other) == 0);
	CHECK(cells[NATIVE_SCHEMA] == 0);
	/* at schema 0: 2 -> 1, 4 -> 2; so {0: 1, 1: 2, 2: 1} */
	CHECK(bucket(cells, 0, 0) == 1 && bucket(cells, 0, 1) == 2 && bucket(cells, 0, 2) == 1);
	CHECK(bucket(cells, 1, 0) == 1 && cells[NATIVE_ZERO_COUNT] == 1);
	CHECK_NUM(cells[NATIVE_COUNT], 6);
	CHECK_NUM(cells[NATIVE_SUM], (1.5 + 3) + (1.5 + 0.7 + 0 - 1));
	CHECK(other[NATIVE_SCHEMA] == 0 && other[NATIVE_COUNT] == 4); /* src untouched */

	/* the other way round gives the same */
	observe_all(direct, 1, 0, va, 2);
	CHECK(native_merge(other, direct) == 0);
	CHECK(same(other, cells));

	/* merged ranges that no longer fit one window lower the schema further */
	double near[] = {1, 1.5}, far[] = {0x1p30, -2};
	observe_all(cells, 3, 0, near, 2);
	observe_all(other, 3, 0, far, 2);
	CHECK(native_merge(cells, other) == 0);
	double all[] = {1, 1.5, 0x1p30, -2};
	int s = (int)cells[NATIVE_SCHEMA];
	CHECK(s == 2); /* 2^30 is index 240 at schema 3, 120 at 2 */
	observe_all(direct, s, 0, all, 4);
	CHECK(same(cells, direct));

	/* different zero thresholds: refused, dst unchanged */
	observe_all(cells, 3, 0, near, 2);
	observe_all(other, 3, 0.5, near, 2);
	memcpy(direct, cells, sizeof cells);
	CHECK(native_merge(cells, other) == -1);
	CHECK(memcmp(direct, cells, sizeof cells) == 0);
}

/* staged - folded: what a fold adds, even when the schema went down in
 * between. */
static void subtract(void)
{
	double v[] = {1, 2, 3, 0.001, -7, 0x1p25};
	observe_all(other, 3, 0, v, 3); /* folded: the first three */
	observe_all(cells, 3, 0, v, 6); /* staged: all six; 2^25 lowered it */
	CHECK(cells[NATIVE_SCHEMA] < 3);
	CHECK(native_subtract(cells, other) == 0);
	observe_all(direct, (int)cells[NATIVE_SCHEMA], 0, v + 3, 3);
	direct[NATIVE_SUM] = (1 + 2 + 3 + 0.001 - 7 + 0x1p25) - (1 + 2 + 3);
	CHECK(same(cells, direct));
	/* an earlier state at a lower schema is not an earlier state */
	observe_all(cells, 3, 0, v, 2);
	observe_all(other, 2, 0, v, 1);
	CHECK(native_subtract(cells, other) == -1);
	/* more than there is */
	observe_all(cells, 3, 0, v, 1);
	observe_all(other, 3, 0, v, 2);
	memcpy(direct, cells, sizeof cells);
	CHECK(native_subtract(cells, other) == -1);
	CHECK(memcmp(direct, cells, sizeof cells) == 0);
}

static void sparse(void)
{
	/* schema 0: 0.1 is index -3 (2^-4, 2^-3], 1 is 0, 5 is 3, 1000 is 10 */
	double v[] = {0.1, 1, 1, 5, 5, 5, 5, 5, 1000, -1000};
	struct native_sparse sp;
	observe_all(cells, 0, 0, v, 10);
	CHECK(native_to_sparse(cells, 0, &sp) == 0);
	/* gaps of two (-2, -1 and 1, 2) stay in the span as zeros; 4..9 starts one */
	CHECK(sp.nspans == 2);
	CHECK(sp.spans[0].offset == -3 && sp.spans[0].length == 7);
	CHECK(sp.spans[1].offset == 6 && sp.spans[1].length == 1);
	static const int64_t want[] = {1, -1, 0, 2, -2, 0, 5, -4};
	CHECK(sp.ndeltas == 8);
	for (int i = 0; i < 8 && i < sp.ndeltas; i++)
		CHECK(sp.deltas[i] == want[i]);
	CHECK(native_to_sparse(cells, 1, &sp) == 0);
	CHECK(sp.nspans == 1 && sp.spans[0].offset == 10 && sp.spans[0].length == 1);
	CHECK(sp.ndeltas == 1 && sp.deltas[0] == 1);
	/* a gap of three starts a span: 1 (0) and 16 (4) */
	double w[] = {1, 16};
	observe_all(cells, 0, 0, w, 2);
	native_to_sparse(cells, 0, &sp);
	CHECK(sp.nspans == 2 && sp.spans[1].offset == 3 && sp.ndeltas == 2);
	/* empty */
	native_init(cells, 0, 0);
	CHECK(native_to_sparse(cells, 0, &sp) == 0 && sp.nspans == 0 && sp.ndeltas == 0);
}

static void damaged(void)
{
	struct native_sparse sp;
	native_init(cells, 3, 0);
	cells[NATIVE_SCHEMA] = 9;
	CHECK(native_observe(cells, 1) == -1 && !native_valid(cells));
	CHECK(cells[NATIVE_COUNT] == 0);
	native_init(cells, 3, 0);
	cells[NATIVE_POS_START] = NAN;
	CHECK(native_observe(cells, 1) == -1);
	cells[NATIVE_POS_START] = 1e9;
	CHECK(native_observe(cells, 1) == -1);
	native_init(cells, 3, 0);
	cells[NATIVE_POS + 3] = -1;
	CHECK(native_to_sparse(cells, 0, &sp) == -1);
	native_init(other, 3, 0);
	CHECK(native_merge(other, cells) == -1);
	cells[NATIVE_POS + 3] = 0.5;
	CHECK(!native_valid(cells));
}

const struct test native_tests[] = {
    {"native/bucket_index", bucket_index},
    {"native/golang_boundaries", golang_boundaries},
    {"native/golang_table", golang_table},
    {"native/boundaries", boundaries},
    {"native/layout", layout},
    {"native/zero_bucket", zero_bucket},
    {"native/negative_values", negative_values},
    {"native/nan_and_inf", nan_and_inf},
    {"native/window_moves", window_moves},
    {"native/resolution_reduction", resolution_reduction},
    {"native/merge_schemas", merge_schemas},
    {"native/subtract", subtract},
    {"native/sparse", sparse},
    {"native/damaged", damaged},
    {NULL, NULL},
};
