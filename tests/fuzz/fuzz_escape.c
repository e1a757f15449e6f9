/*
 * fuzz_escape.c — libFuzzer target: label-value and HELP escaping, and the
 * hello app's route and method folding, on arbitrary bytes.
 * Oracles: escaped text is valid UTF-8 with no raw newline, a quote is
 * always escaped, unescaping gives the input back (where it was valid
 * UTF-8); folding always lands in the fixed label sets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../app/route.h"
#include "../../metrics/render.h"
#include "../../store/names.h"

static void check_escaped(const char *in, size_t n, const struct buf *b, int quotes)
{
	if (b->oom)
		abort();
	if (!pf_valid_utf8(b->p, b->len) || memchr(b->p, '\n', b->len))
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
	if (pf_valid_utf8(in, n) && (m != n || memcmp(back, in, n) != 0))
		abort();
	free(back);
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
	enum route_method m = route_method(s);
	enum route_path p = route_path(s);
	if ((unsigned)m >= M_COUNT || (unsigned)p >= R_COUNT || (unsigned)route_status(m, p) >= S_COUNT)
		abort();
	if (p == R_ROOT && !(s[0] == '/' && (s[1] == '\0' || s[1] == '?')))
		abort();
	free(s);
	return 0;
}
