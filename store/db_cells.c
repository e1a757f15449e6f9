/* SPDX-License-Identifier: MIT */
/*
 * db_cells.c — a series' cells as the store keeps them (series rows and
 * checkpoints, schema 5 on): a histogram's native part packed down to the
 * buckets it uses, so that a native row is some 200 bytes where its 327
 * cells are 2.6 KB, and reading or writing it costs what it holds.  Pure
 * arithmetic, no SQL (db_cells.h).
 *
 * Packed form, in doubles (native byte order, as every cell): the classic
 * cells as they are; then, for a family with native buckets, the native
 * header (NATIVE_COUNT .. NATIVE_NEG_START, 7 cells), then for the positive
 * window and then the negative one: the offset in the window of the first
 * bucket kept, how many are kept, and their counts (the first to the last
 * non-zero bucket).  An empty native part is 11 doubles.  Every other
 * family's cells are stored as they are.
 */
#include <string.h>

#include "store/db_cells.h"

#define NATIVE_HEADER NATIVE_POS /* count .. neg start */

size_t db_cells_pack(const struct family_def *def, const double *dense, double *out)
{
	if (!def->native || def->type != PF_HISTOGRAM)
		return db_cells_copy(def, dense, out);
	size_t classic = def->nbuckets + 2, n = classic + NATIVE_HEADER;
	memcpy(out, dense, n * sizeof *out);
	const double *nat = dense + classic;
	struct native_range r;
	native_range_of(nat, &r);
	for (int neg = 0; neg < 2; neg++) {
		const double *b = nat + (neg ? NATIVE_NEG : NATIVE_POS);
		uint32_t lo = r.lo[neg], count = (uint32_t)(r.hi[neg] - r.lo[neg]);
		out[n++] = lo;
		out[n++] = count;
		memcpy(out + n, b + lo, count * sizeof *out);
		n += count;
	}
	return n;
}

size_t db_cells_copy(const struct family_def *def, const double *dense, double *out)
{
	memcpy(out, dense, def->ncells * sizeof *out);
	return def->ncells;
}

/* A count of buckets or an offset in a window, as a packed double holds it. */
static int small_index(double v, uint32_t *out)
{
	if (!(v >= 0 && v <= NATIVE_BUCKETS) || v != (double)(uint32_t)v)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int db_cells_unpack(const struct family_def *def, const double *packed, size_t n, double *dense,
                    struct native_range *used)
{
	if (!def->native || def->type != PF_HISTOGRAM) {
		if (n != def->ncells)
			return -1;
		memcpy(dense, packed, n * sizeof *dense);
		return 0;
	}
	size_t classic = def->nbuckets + 2, at = classic + NATIVE_HEADER;
	if (def->ncells != classic + NATIVE_CELLS || n < at + 4)
		return -1;
	memcpy(dense, packed, at * sizeof *dense);
	double *nat = dense + classic;
	memset(nat + NATIVE_POS, 0, 2 * NATIVE_BUCKETS * sizeof *nat);
	for (int neg = 0; neg < 2; neg++) {
		uint32_t lo, count;
		if (at + 2 > n || small_index(packed[at], &lo) != 0 ||
		    small_index(packed[at + 1], &count) != 0 || lo + count > NATIVE_BUCKETS ||
		    at + 2 + count > n)
			return -1;
		memcpy(nat + (neg ? NATIVE_NEG : NATIVE_POS) + lo, packed + at + 2, count * sizeof *nat);
		if (used) {
			used->lo[neg] = (uint16_t)lo;
			used->hi[neg] = (uint16_t)(lo + count);
		}
		at += 2 + count;
	}
	return at == n ? 0 : -1;
}

size_t db_cells_packed_empty(const struct family_def *def, double *out)
{
	/* the native part of a family that has just gained native buckets */
	size_t n = NATIVE_HEADER;
	double nat[NATIVE_CELLS];
	if (native_init(nat, def->schema, def->zero_threshold) != 0)
		return 0;
	memcpy(out, nat, NATIVE_HEADER * sizeof *out);
	for (int neg = 0; neg < 2; neg++) {
		out[n++] = 0;
		out[n++] = 0;
	}
	return n;
}
