/* SPDX-License-Identifier: MIT */
/*
 * route.c — request paths, route templates and method folding (see
 * route.h; the rules for users are in promfcgi_http.h).
 *
 * A path is split at "/" before it is decoded, as RFC 3986 says: "%2F" is
 * a character of a segment, not a separator.  Dot segments are removed
 * after decoding, because "%2E" is "." (an unreserved character, section
 * 6.2.2.2), so "/a/%2E%2E/b" is "/b".
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/notice.h"
#include "store/names.h"
#include "http/route.h"

const char *const route_method_names[M_COUNT] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};

enum route_method route_method(const char *method)
{
	for (int m = 0; method && m < M_OTHER; m++)
		if (strcmp(method, route_method_names[m]) == 0)
			return (enum route_method)m;
	return M_OTHER;
}

static int hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends segment s[0..n) to p, decoding it if raw; applies "." and "..".
 * 0, or -1 if the path cannot match. */
static int add_segment(struct route_path *p, size_t *used, const char *s, size_t n, int raw)
{
	size_t start = *used, at = start;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (raw && c == '%') {
			if (i + 2 >= n)
				return -1; /* "%" or "%4" at the end of a segment */
			int hi = hex((unsigned char)s[i + 1]), lo = hex((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || at >= PF_PATH_MAX)
			return -1;
		p->buf[at++] = (char)c;
	}
	if (!names_valid_utf8(p->buf + start, at - start))
		return -1;
	size_t len = at - start;
	if (len == 0 || (len == 1 && p->buf[start] == '.'))
		return 0; /* "//" and "/./" are "/" */
	if (len == 2 && p->buf[start] == '.' && p->buf[start + 1] == '.') {
		if (p->nseg > 0) /* never above the root */
			*used = p->seg[--p->nseg];
		return 0;
	}
	if (p->nseg == PF_SEGMENTS_MAX)
		return -1;
	p->buf[at++] = '\0';
	p->seg[p->nseg++] = (uint16_t)start;
	*used = at;
	return 0;
}

int route_normalize(struct route_path *p, const char *path, int raw)
{
	p->nseg = 0;
	if (!path)
		return -1;
	size_t end = raw ? strcspn(path, "?#") : strlen(path);
	if (raw && (strncasecmp(path, "http://", 7) == 0 || strncasecmp(path, "https://", 8) == 0)) {
		/* absolute-form request target: the path starts after the authority */
		const char *slash = strchr(strchr(path, ':') + 3, '/');
		if (!slash || (size_t)(slash - path) > end)
			return -1;
		end -= (size_t)(slash - path);
		path = slash;
	}
	if (end == 0 && !raw)
		return 0; /* an empty PATH_INFO is the script itself: "/" */
	if (path[0] != '/' || end > PF_PATH_MAX)
		return -1;
	size_t used = 0;
	for (size_t i = 1; i <= end;) {
		size_t n = strcspn(path + i, "/");
		if (i + n > end)
			n = end - i;
		if (add_segment(p, &used, path + i, n, raw) != 0) {
			p->nseg = 0;
			return -1;
		}
		i += n + 1;
	}
	return 0;
}

static int valid_param_name(const char *s, size_t n)
{
	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
		      (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

int route_compile(struct route_template *t, const char *text)
{
	memset(t, 0, sizeof *t);
	size_t len = text ? strlen(text) : 0;
	if (len == 0 || text[0] != '/')
		return notice_why("a template begins with \"/\"");
	if (len > PF_PATH_MAX)
		return notice_why("longer than %d bytes (PF_PATH_MAX)", PF_PATH_MAX);
	if (!names_valid_utf8(text, len))
		return notice_why("not valid UTF-8");
	t->text = strdup(text);
	t->store = malloc(len + 1);
	t->kind = malloc(PF_SEGMENTS_MAX);
	t->seg = malloc(PF_SEGMENTS_MAX * sizeof *t->seg);
	if (!t->text || !t->store || !t->kind || !t->seg) {
		notice_why("out of memory");
		goto fail;
	}
	size_t used = 0;
	for (size_t i = 1; i <= len;) {
		size_t n = strcspn(text + i, "/");
		const char *s = text + i;
		i += n + 1;
		if (n == 0) {
			if (i > len) /* a trailing "/" means nothing: "/a/" is "/a" */
				break;
			notice_why("an empty segment (\"//\")");
			goto fail; /* "//" in a template is a mistake */
		}
		if (t->nseg == PF_SEGMENTS_MAX) {
			notice_why("more than %d segments (PF_SEGMENTS_MAX)", PF_SEGMENTS_MAX);
			goto fail;
		}
		int kind = SEG_LITERAL;
		if (n == 1 && s[0] == '*') {
			if (i <= len) { /* only as the last segment */
				notice_why("\"*\" is allowed as the last segment only");
				goto fail;
			}
			kind = SEG_REST;
		} else if (s[0] == '{' && s[n - 1] == '}') {
			if (!valid_param_name(s + 1, n - 2)) {
				notice_why("\"%.*s\" is not {name} with a name of [a-zA-Z_][a-zA-Z0-9_]*",
				           (int)n, s);
				goto fail;
			}
			kind = SEG_PARAM;
			s++;
			n -= 2;
		} else if (memchr(s, '{', n) || memchr(s, '}', n) || memchr(s, '*', n) ||
		           (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
			notice_why("segment \"%.*s\": a segment is literal text (no { } * . ..), {name} or a "
			           "last *", (int)n, s);
			goto fail;
		}
		t->kind[t->nseg] = (uint8_t)kind;
		t->seg[t->nseg++] = t->store + used;
		memcpy(t->store + used, s, n);
		t->store[used + n] = '\0';
		used += n + 1;
	}
	for (int a = 0; a < t->nseg; a++) /* one name, one segment */
		for (int b = 0; b < a; b++)
			if (t->kind[a] == SEG_PARAM && t->kind[b] == SEG_PARAM &&
			    strcmp(t->seg[a], t->seg[b]) == 0) {
				notice_why("{%s} appears twice", t->seg[a]);
				goto fail;
			}
	return 0;
fail:
	route_template_free(t);
	return -1;
}

void route_template_free(struct route_template *t)
{
	free(t->text);
	free(t->store);
	free(t->kind);
	free(t->seg);
	memset(t, 0, sizeof *t);
}

int route_match(const struct route_template *t, const struct route_path *p)
{
	for (int i = 0; i < t->nseg; i++) {
		if (t->kind[i] == SEG_REST)
			return p->nseg > i; /* one or more segments */
		if (i >= p->nseg)
			return 0;
		if (t->kind[i] == SEG_LITERAL && strcmp(t->seg[i], p->buf + p->seg[i]) != 0)
			return 0;
	}
	return p->nseg == t->nseg;
}

int route_compare(const struct route_template *a, const struct route_template *b)
{
	for (int i = 0; i < a->nseg && i < b->nseg; i++) {
		if (a->kind[i] != b->kind[i])
			return a->kind[i] < b->kind[i] ? -1 : 1;
		if (a->kind[i] == SEG_LITERAL) {
			int c = strcmp(a->seg[i], b->seg[i]);
			if (c)
				return c < 0 ? -1 : 1; /* different literals: any fixed order */
		}
	}
	return (a->nseg > b->nseg) - (a->nseg < b->nseg);
}

const char *route_param(const struct route_template *t, const struct route_path *p,
                        const char *name, char *out, size_t len)
{
	for (int i = 0; i < t->nseg && i < p->nseg; i++) {
		if (t->kind[i] == SEG_PARAM && strcmp(t->seg[i], name) == 0)
			return p->buf + p->seg[i];
		if (t->kind[i] == SEG_REST && strcmp(name, "*") == 0) {
			size_t at = 0;
			for (int j = i; j < p->nseg; j++) {
				size_t n = strlen(p->buf + p->seg[j]);
				if (at + n + 2 > len)
					return NULL;
				if (j > i)
					out[at++] = '/';
				memcpy(out + at, p->buf + p->seg[j], n);
				at += n;
			}
			out[at] = '\0';
			return out;
		}
	}
	return NULL;
}
