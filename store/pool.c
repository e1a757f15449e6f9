/* SPDX-License-Identifier: MIT */
/*
 * pool.c — items that never move (see pool.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/pool.h"

int pool_reserve(struct pool *p, uint32_t i, size_t size)
{
	uint64_t q = ((uint64_t)i >> POOL_FIRST_LOG2) + 1;
	unsigned last = 63u - (unsigned)__builtin_clzll(q);
	p->size = size;
	for (unsigned b = 0; b <= last; b++)
		if (!p->block[b] && !(p->block[b] = malloc(((size_t)1 << (b + POOL_FIRST_LOG2)) * size)))
			return -1;
	return 0;
}

void pool_free(struct pool *p)
{
	for (unsigned b = 0; b < POOL_BLOCKS; b++)
		free(p->block[b]);
	memset(p, 0, sizeof *p);
}
