/* SPDX-License-Identifier: MIT */
/*
 * buf.h — a growable byte buffer for building a response body, and the
 * growth of arrays kept between uses (snapshots, the scrape's view).
 * An allocation failure sets oom and stops further writes; callers check
 * oom once at the end instead of after every write.
 */
#ifndef PROMFCGI_BUF_H
#define PROMFCGI_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Grows the array *p, with room for *cap elements of size bytes, to hold at
 * least need, doubling, its contents kept.  0; -1 when out of memory or
 * past what the capacity's type holds, *p and *cap then unchanged. */
int array_grow(void **p, size_t *cap, size_t need, size_t size);
int array_grow32(void **p, uint32_t *cap, size_t need, size_t size);

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

/* Room for n more bytes, the buffer grown (doubling) if needed: 0, or -1
 * with oom set.  For writers that fill the room themselves (protobuf.c). */
int buf_reserve(struct buf *b, size_t n);
/* Appends past the end of the room there is (grows the buffer). */
void buf_put_grow(struct buf *b, const char *s, size_t n);
void buf_free(struct buf *b);

/* Inline: rendering calls these once per piece of every sample. */
static inline void buf_put(struct buf *b, const char *s, size_t n)
{
	if (b->cap - b->len >= n && !b->oom) {
		if (n)
			memcpy(b->p + b->len, s, n);
		b->len += n;
	} else {
		buf_put_grow(b, s, n);
	}
}

static inline void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static inline void buf_putc(struct buf *b, char c)
{
	if (b->cap > b->len && !b->oom)
		b->p[b->len++] = c;
	else
		buf_put_grow(b, &c, 1);
}

#endif
