/* SPDX-License-Identifier: MIT */
/*
 * blocks.h — items that never move: blocks that double (64 items, then 128,
 * 256, ...), for what the API hands out pointers to (pf_family, pf_series),
 * however many there become.  Item i is in block floor(log2(i / 64 + 1)):
 * one bit scan.  Growing adds a block and never moves one; a block is not
 * zeroed (every item is written whole when it is made), so a process that
 * makes five series pays for a small first block only.
 */
#ifndef PROMFCGI_BLOCKS_H
#define PROMFCGI_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#define BLOCKS_FIRST_LOG2 6 /* items in the first block: 64 */
#define BLOCKS_MAX 27    /* 64 * (2^27 - 1) items: past any uint32_t index */

struct blocks {
	unsigned char *block[BLOCKS_MAX];
	size_t size; /* of an item */
};

/* Item i (reserved before: blocks_reserve). */
static inline void *blocks_at(const struct blocks *p, uint32_t i)
{
	uint64_t q = ((uint64_t)i >> BLOCKS_FIRST_LOG2) + 1;
	unsigned b = 63u - (unsigned)__builtin_clzll(q);
	uint64_t first = (((uint64_t)1 << b) - 1) << BLOCKS_FIRST_LOG2;
	return p->block[b] + (i - first) * p->size;
}

/* Room for items [0, i] of size bytes each: 0, or -1 out of memory. */
int blocks_reserve(struct blocks *p, uint32_t i, size_t size);
void blocks_free(struct blocks *p);

#endif
