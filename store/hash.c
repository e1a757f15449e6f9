/* SPDX-License-Identifier: MIT */
/*
 * hash.c — the hash table's memory (see hash.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/hash.h"

int hash_reset(struct hash_table *t, uint32_t n)
{
	uint64_t size = 64;
	while (size < (uint64_t)2 * ((uint64_t)n + 1))
		size *= 2;
	if (size > UINT32_MAX / 2 + 1)
		return -1;
	if (size <= t->size) { /* never smaller: it would only grow again */
		size = t->size;
		memset(t->at, 0, size * sizeof *t->at);
		return 0;
	}
	uint32_t *at = calloc((size_t)size, sizeof *at);
	if (!at)
		return -1;
	free(t->at);
	t->at = at;
	t->size = (uint32_t)size;
	return 0;
}

void hash_free(struct hash_table *t)
{
	free(t->at);
	t->at = NULL;
	t->size = 0;
}
