/* SPDX-License-Identifier: MIT */
/*
 * buf.c — growable byte buffer (see buf.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"

int buf_reserve(struct buf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (b->cap - b->len >= n)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2) {
			b->oom = 1;
			return -1;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void buf_put_grow(struct buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

int array_grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	if (size == 0 || need > SIZE_MAX / 2 / size)
		return -1;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

int array_grow32(void **p, uint32_t *cap, size_t need, size_t size)
{
	size_t c = *cap;
	if (need > UINT32_MAX / 2 || array_grow(p, &c, need, size) != 0)
		return -1;
	*cap = (uint32_t)c;
	return 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}
