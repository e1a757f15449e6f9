/* SPDX-License-Identifier: MIT */
/*
 * decimal.c — a double's shortest round-trip decimal, exactly as
 * render_value's printf loop gives it (see decimal.h).
 *
 * v = m * 2^-s, with 2^52 <= m < 2^53 (so 2^-s is v's ulp) and, for
 * 1e-6 <= v < 1e15, 0 < s <= 72.  P significant digits of v are
 * D = round(m * 10^k / 2^s), k = P - 1 - E, E = floor(log10 v): for P <= 17
 * and E >= -6, k <= 22, and m * 10^k < 2^53 * 2^74 fits an unsigned
 * 128-bit integer, so D and the rounding (to nearest, ties to even, as
 * printf rounds the exact binary value) are exact.  D * 10^-k parses back
 * to v when it lies inside v's rounding interval, v +- 2^-s / 2 (its ends
 * included when m is even: a decimal exactly halfway parses to the even
 * neighbour), which times 2^(s+1) * 10^k is an exact comparison of
 * integers of the same size: |2D * 2^s - 2m * 10^k| < 10^k.  An exact power
 * of two (m = 2^52) has a closer lower neighbour: left to printf.
 *
 * %.Pg then prints D with the point placed by E (exponent form below
 * 1e-4) and its trailing zeros dropped.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "metrics/decimal.h"

typedef unsigned __int128 u128;

/* 10^0 .. 10^22, made once */
static u128 pow10_table[23];

__attribute__((constructor)) static void make_pow10(void)
{
	pow10_table[0] = 1;
	for (int i = 1; i < 23; i++)
		pow10_table[i] = pow10_table[i - 1] * 10;
}

static u128 pow10_128(int k)
{
	return pow10_table[k];
}

/* m * 10^k / 2^s: *floor its integer part, and the return rounded to
 * nearest, ties to even. */
static uint64_t scaled(uint64_t m, int k, int s, uint64_t *floor_part)
{
	u128 num = (u128)m * pow10_128(k);
	u128 q = num >> s, rem = num - (q << s), half = (u128)1 << (s - 1);
	*floor_part = (uint64_t)q;
	if (rem > half || (rem == half && (q & 1)))
		q++;
	return (uint64_t)q;
}

/* Whether D * 10^-k parses back to m * 2^-s. */
static int round_trips(uint64_t d, uint64_t m, int k, int s)
{
	u128 p = pow10_128(k), lhs = ((u128)d << s) << 1, rhs = ((u128)m << 1) * p;
	u128 diff = lhs > rhs ? lhs - rhs : rhs - lhs;
	return diff < p || (diff == p && (m & 1) == 0);
}

/* %.Pg of D (P digits) * 10^(E - P + 1), trailing zeros dropped. */
static void format(char *out, int neg, uint64_t d, int p, int e)
{
	char digits[20];
	for (int i = p - 1; i >= 0; i--, d /= 10)
		digits[i] = (char)('0' + d % 10);
	int n = p;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	char *o = out;
	if (neg)
		*o++ = '-';
	if (e < -4 || e >= p) { /* d.ddde-XX */
		*o++ = digits[0];
		if (n > 1) {
			*o++ = '.';
			memcpy(o, digits + 1, (size_t)(n - 1));
			o += n - 1;
		}
		*o++ = 'e';
		*o++ = e < 0 ? '-' : '+';
		int x = e < 0 ? -e : e;
		if (x >= 100)
			*o++ = (char)('0' + x / 100);
		*o++ = (char)('0' + x / 10 % 10);
		*o++ = (char)('0' + x % 10);
	} else if (e < 0) { /* 0.000ddd */
		*o++ = '0';
		*o++ = '.';
		for (int i = -1; i > e; i--)
			*o++ = '0';
		memcpy(o, digits, (size_t)n);
		o += n;
	} else { /* ddd.ddd */
		int whole = e + 1;
		for (int i = 0; i < whole; i++)
			*o++ = i < n ? digits[i] : '0';
		if (n > whole) {
			*o++ = '.';
			memcpy(o, digits + whole, (size_t)(n - whole));
			o += n - whole;
		}
	}
	*o = '\0';
}

int decimal_shortest(char out[32], double v)
{
	double a = fabs(v);
	if (!(a >= 1e-6 && a < 1e15))
		return 0;
	uint64_t bits;
	memcpy(&bits, &a, sizeof bits);
	int biased = (int)(bits >> 52); /* a >= 1e-6: a normal double */
	uint64_t m = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1 << 52); /* 2^52 <= m < 2^53 */
	int s = 1075 - biased; /* a = m * 2^-s: the ulp is 2^-s */
	if (s <= 0 || s > 72 || m == (uint64_t)1 << 52 || a == floor(a))
		return 0; /* an integer (printed as one before), or a power of two */
	/* E exactly: 10^E <= v < 10^(E+1); from the binary exponent
	 * (78913 / 2^18 is log10(2) from below) it is that or one more, which 15
	 * truncated digits tell */
	int e = ((biased - 1023) * 78913) >> 18, found = 0;
	for (int tries = 0; tries < 3 && !found; tries++) {
		uint64_t t;
		if (14 - e < 0 || 14 - e > 22)
			return 0;
		scaled(m, 14 - e, s, &t);
		if (t < (uint64_t)1e14)
			e--;
		else if (t >= (uint64_t)1e15)
			e++;
		else
			found = 1;
	}
	if (!found || 16 - e > 22)
		return 0;
	for (int p = 15; p <= 17; p++) {
		uint64_t t, lo = (uint64_t)pow10_128(p - 1);
		uint64_t d = scaled(m, p - 1 - e, s, &t);
		if (d == lo * 10) { /* 9.99...9 rounded up: one digit more before the point */
			if (p - 2 - e < 0)
				return 0;
			if (round_trips(lo, m, p - 2 - e, s)) {
				format(out, v < 0, lo, p, e + 1);
				return 1;
			}
			continue;
		}
		if (round_trips(d, m, p - 1 - e, s)) {
			format(out, v < 0, d, p, e);
			return 1;
		}
	}
	return 0; /* %.17g always parses back: not reached */
}
