/*
 * buf.c — growable byte buffer (see buf.h).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void buf_put_grow(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}
