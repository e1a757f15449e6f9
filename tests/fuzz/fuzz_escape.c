/* SPDX-License-Identifier: MIT */
/*
 * fuzz_escape.c — libFuzzer target: label-value and HELP escaping, and the
 * HTTP layer's path normalisation and method folding, on arbitrary bytes.
 * Oracles: escaped text is valid UTF-8 with no raw newline, a quote is
 * always escaped, unescaping gives the input back (where it was valid
 * UTF-8); a normalised path has only non-empty, non-dot, UTF-8 segments
 * and normalises to itself once re-encoded; methods fold into the list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/route.h"
#include "metrics/render.h"
#include "store/names.h"

static void check_escaped(const char *in, size_t n, const struct buf *b, int quotes)
{
	if (b->oom)
		abort();
	if (!names_valid_utf8(b->p, b->len) || memchr(b->p, '\n', b->len))
		abort();
	/* undo the escapes; where the input was valid UTF-8 it must come back */
	char *back = malloc(b->len + 1);
	size_t m = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (b->p[i] == '"' && quotes)
			abort(); /* an unescaped quote would end the label value */
		if (b->p[i] != '\\') {
			back[m++] = b->p[i];
			continue;
		}
		char c = ++i < b->len ? b->p[i] : 0;
		if (c == 'n')
			back[m++] = '\n';
		else if (c == '\\' || (c == '"' && quotes))
			back[m++] = c;
		else
			abort(); /* a lone backslash */
	}
	if (names_valid_utf8(in, n) && (m != n || memcmp(back, in, n) != 0))
		abort();
	free(back);
}

/* Percent-encodes every byte that is not a plain path character. */
static size_t encode_segment(const char *seg, char *out)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)seg; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '~') {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hexd[*p >> 4];
			out[n++] = hexd[*p & 15];
		}
	}
	return n;
}

static void check_path(const char *s)
{
	static struct route_path p, q;
	if (route_normalize(&p, s, 1) != 0)
		return;
	char *again = malloc(3 * PF_PATH_MAX + 2 * PF_SEGMENTS_MAX + 2);
	size_t n = 0;
	for (int i = 0; i < p.nseg; i++) {
		const char *seg = p.buf + p.seg[i];
		size_t len = strlen(seg);
		if (len == 0 || !names_valid_utf8(seg, len) || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
			abort();
		again[n++] = '/';
		n += encode_segment(seg, again + n);
	}
	if (n == 0)
		again[n++] = '/';
	again[n] = '\0';
	/* the same segments again, unless re-encoding made the path too long */
	if (n <= PF_PATH_MAX) {
		if (route_normalize(&q, again, 1) != 0 || q.nseg != p.nseg)
			abort();
		for (int i = 0; i < p.nseg; i++)
			if (strcmp(p.buf + p.seg[i], q.buf + q.seg[i]) != 0)
				abort();
	}
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf b = {0};
	render_label_value(&b, in, size);
	if (size)
		check_escaped(in, size, &b, 1);
	buf_free(&b);

	char *s = malloc(size + 1); /* C strings stop at NUL: HELP and routes see a prefix */
	memcpy(s, data, size);
	s[size] = '\0';
	size_t len = strlen(s);
	render_help(&b, s);
	if (len)
		check_escaped(s, len, &b, 0);
	buf_free(&b);
	if ((unsigned)route_method(s) >= M_COUNT)
		abort();
	check_path(s);
	free(s);
	return 0;
}
