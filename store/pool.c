/* SPDX-License-Identifier: MIT */
/*
 * pool.c — items that never move (see pool.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/pool.h"

int pool_reserve(struct pool *p, uint32_t i, size_t size)
{
	p->size = size;
	while (i / POOL_BLOCK >= p->nblocks) {
		if (array_grow32((void **)&p->block, &p->cap, p->nblocks + 1, sizeof *p->block))
			return -1;
		if (!(p->block[p->nblocks] = calloc(POOL_BLOCK, size)))
			return -1;
		p->nblocks++;
	}
	return 0;
}

void pool_free(struct pool *p)
{
	for (uint32_t i = 0; i < p->nblocks; i++)
		free(p->block[i]);
	free(p->block);
	memset(p, 0, sizeof *p);
}
