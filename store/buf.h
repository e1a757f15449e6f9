/*
 * buf.h — a growable byte buffer for building a response body.
 * An allocation failure sets oom and stops further writes; callers check
 * oom once at the end instead of after every write.
 */
#ifndef PROMFCGI_BUF_H
#define PROMFCGI_BUF_H

#include <stddef.h>

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

void buf_put(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_free(struct buf *b);

#endif
