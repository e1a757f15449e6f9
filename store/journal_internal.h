/* SPDX-License-Identifier: MIT */
/*
 * journal_internal.h — a journal record checked and unpacked
 * (journal_unpack.c), whatever its version, for journal_read.c to sum:
 * its definitions, its series (pointers into the record) and its
 * exemplars.
 */
#ifndef PROMFCGI_JOURNAL_INTERNAL_H
#define PROMFCGI_JOURNAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "store/journal.h"

struct jrec_series {
	uint32_t family, keylen;
	const unsigned char *key;
	const unsigned char *cells;  /* the cells before a native part (f64, unaligned) */
	const unsigned char *native; /* with native buckets: all NATIVE_CELLS, or (sparse) the head */
	const unsigned char *at;     /* sparse: u16 places of the non-empty buckets */
	const unsigned char *counts; /* sparse: their f64 counts */
	uint32_t nused;              /* sparse: how many */
	int sparse;
};

struct jrec_exemplar {
	uint32_t series, bucket, len;
	double value, ts;
	const unsigned char *labels;
};

/* One record, unpacked: arrays kept between records (grown as needed). */
struct jrec {
	uint32_t nf, ns, nx;
	struct family_def *defs;
	struct jrec_series *series;
	struct jrec_exemplar *ex;
	uint32_t cap_defs, cap_series, cap_ex;
};

/* Definitions built earlier in the same journal, by their bytes: the
 * records of one program repeat them, and building one (every name and
 * help text checked) costs a quarter of merging a record.  Same bytes, same
 * definition: a hit skips only work whose result is known. */
#define JOURNAL_DEF_CACHE 16
struct jrec_cache {
	const unsigned char *raw[JOURNAL_DEF_CACHE]; /* in the journal's buffer */
	size_t len[JOURNAL_DEF_CACHE];
	struct family_def def[JOURNAL_DEF_CACHE];
	unsigned n, next;
};

/* Checks the record rec[0..len) (its magic, length and checksum already
 * checked) whole and unpacks it into r: 0, 1 rejected (damaged, or a
 * definition or value no API call could have made), -1 out of memory. */
int journal_unpack(const unsigned char *rec, uint32_t len, struct jrec *r, struct jrec_cache *cache);
void journal_jrec_free(struct jrec *r);

#endif
