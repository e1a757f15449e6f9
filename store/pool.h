/* SPDX-License-Identifier: MIT */
/*
 * pool.h — items that never move: a growable array of fixed-size blocks,
 * for what the API hands out pointers to (pf_family, pf_series), however
 * many there become.  Item i is in block i / POOL_BLOCK; growing adds
 * blocks and never reallocates one.
 */
#ifndef PROMFCGI_POOL_H
#define PROMFCGI_POOL_H

#include <stddef.h>
#include <stdint.h>

#define POOL_BLOCK 1024

struct pool {
	unsigned char **block;
	uint32_t nblocks, cap;
	size_t size; /* of an item */
};

/* Item i (reserved before: pool_reserve). */
static inline void *pool_at(const struct pool *p, uint32_t i)
{
	return p->block[i / POOL_BLOCK] + (size_t)(i % POOL_BLOCK) * p->size;
}

/* Room for items [0, i] of size bytes each (zeroed when new): 0, or -1 out
 * of memory. */
int pool_reserve(struct pool *p, uint32_t i, size_t size);
void pool_free(struct pool *p);

#endif
