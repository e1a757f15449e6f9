/* SPDX-License-Identifier: MIT */
/*
 * decimal.h — a double's shortest decimal that parses back to it, the way
 * render_value has always printed it (%.15g if that parses back, else
 * %.16g, else %.17g), without printf's and strtod's arbitrary precision:
 * exact 128-bit integer arithmetic for the values a scrape prints most
 * (sums of durations and sizes), so a histogram's _sum costs a few hundred
 * instructions instead of some 6,000 (decimal.c).
 */
#ifndef PROMFCGI_DECIMAL_H
#define PROMFCGI_DECIMAL_H

/* Writes v into out as above and returns 1, for 1e-6 <= |v| < 1e15 that is
 * not a power of two; returns 0 (out untouched) for any other v, which the
 * caller prints the slow way. */
int decimal_shortest(char out[32], double v);

#endif
