/* SPDX-License-Identifier: MIT */
/*
 * blocks.c — items that never move (see blocks.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/blocks.h"

int blocks_reserve(struct blocks *p, uint32_t i, size_t size)
{
	uint64_t q = ((uint64_t)i >> BLOCKS_FIRST_LOG2) + 1;
	unsigned last = 63u - (unsigned)__builtin_clzll(q);
	p->size = size;
	for (unsigned b = 0; b <= last; b++)
		if (!p->block[b] && !(p->block[b] = malloc(((size_t)1 << (b + BLOCKS_FIRST_LOG2)) * size)))
			return -1;
	return 0;
}

void blocks_free(struct blocks *p)
{
	for (unsigned b = 0; b < BLOCKS_MAX; b++)
		free(p->block[b]);
	memset(p, 0, sizeof *p);
}
