/* SPDX-License-Identifier: MIT */
/*
 * negotiate.c — content negotiation for /metrics (see negotiate.h).
 *
 * Prometheus 2.42 asks for OpenMetrics 1.0.0 (q=1), OpenMetrics 0.0.1
 * (q=0.75), text 0.0.4 (q=0.5) and any type (q=0.1), so OpenMetrics wins
 * there; curl's "any type" gets text, which every Prometheus understands.
 * Started with --enable-feature=native-histograms, it sends (recorded from
 * a scrape of Debian's 2.42.0; tests/unit/test_negotiate.c has the header
 * verbatim) protobuf first (q=1), then OpenMetrics 1.0.0 (q=0.8), 0.0.1
 * (q=0.75), text 0.0.4 (q=0.5) and any type (q=0.1):
 *   application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,
 *   application/openmetrics-text;version=1.0.0;q=0.8,...
 * so protobuf wins there, as it must: 2.42 reads native histograms from
 * protobuf only.  Protobuf needs both its proto and encoding=delimited.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics/negotiate.h"

/* Trims spaces in place over [*s, *e). */
static void trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

static int token_is(const char *s, const char *e, const char *want)
{
	size_t n = strlen(want);
	return (size_t)(e - s) == n && strncasecmp(s, want, n) == 0;
}

/* One media range "type;p=v;q=0.5": its type (s..e), version, proto,
 * encoding and q. */
struct range {
	const char *type, *type_end;
	const char *version, *version_end;
	const char *proto, *proto_end;
	const char *encoding, *encoding_end;
	double q;
};

static void parse_range(const char *s, const char *e, struct range *r)
{
	const char *semi = memchr(s, ';', (size_t)(e - s));
	r->type = s;
	r->type_end = semi ? semi : e;
	trim(&r->type, &r->type_end);
	r->version = r->version_end = NULL;
	r->proto = r->proto_end = r->encoding = r->encoding_end = NULL;
	r->q = 1.0;
	while (semi) {
		const char *p = semi + 1;
		semi = memchr(p, ';', (size_t)(e - p));
		const char *pe = semi ? semi : e, *eq = memchr(p, '=', (size_t)(pe - p));
		if (!eq)
			continue;
		const char *k = p, *ke = eq, *v = eq + 1, *ve = pe;
		trim(&k, &ke);
		trim(&v, &ve);
		if (token_is(k, ke, "q")) {
			char num[16];
			size_t n = (size_t)(ve - v) < sizeof num - 1 ? (size_t)(ve - v) : sizeof num - 1;
			memcpy(num, v, n);
			num[n] = '\0';
			r->q = strtod(num, NULL);
		} else if (token_is(k, ke, "version")) {
			r->version = v;
			r->version_end = ve;
		} else if (token_is(k, ke, "proto")) {
			r->proto = v;
			r->proto_end = ve;
		} else if (token_is(k, ke, "encoding")) {
			r->encoding = v;
			r->encoding_end = ve;
		}
	}
}

enum format negotiate_format(const char *accept)
{
	double om = -1, text = -1, pb = -1;
	for (const char *s = accept; s && *s;) {
		const char *e = strchr(s, ',');
		if (!e)
			e = s + strlen(s);
		struct range r;
		parse_range(s, e, &r);
		int any_version = !r.version;
		if (token_is(r.type, r.type_end, "application/vnd.google.protobuf") && r.proto &&
		    token_is(r.proto, r.proto_end, "io.prometheus.client.MetricFamily") && r.encoding &&
		    token_is(r.encoding, r.encoding_end, "delimited") && r.q > pb)
			pb = r.q;
		else if (token_is(r.type, r.type_end, "application/openmetrics-text") &&
		    (any_version || token_is(r.version, r.version_end, "1.0.0")) && r.q > om)
			om = r.q;
		else if (token_is(r.type, r.type_end, "text/plain") &&
		         (any_version || token_is(r.version, r.version_end, "0.0.4")) && r.q > text)
			text = r.q;
		else if ((token_is(r.type, r.type_end, "*/*") || token_is(r.type, r.type_end, "text/*")) &&
		         r.q > text)
			text = r.q;
		s = *e ? e + 1 : e;
	}
	if (pb > 0 && pb >= om && pb >= text)
		return FORMAT_PROTOBUF;
	return om > 0 && om >= text ? FORMAT_OPENMETRICS : FORMAT_TEXT;
}

int negotiate_gzip(const char *accept_encoding)
{
	for (const char *s = accept_encoding; s && *s;) {
		const char *e = strchr(s, ',');
		if (!e)
			e = s + strlen(s);
		struct range r;
		parse_range(s, e, &r);
		if (token_is(r.type, r.type_end, "gzip") && r.q > 0)
			return 1;
		s = *e ? e + 1 : e;
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent- and plus-decodes s[0..n) into a new string. */
static char *url_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			*o++ = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i] == '+' ? ' ' : s[i];
		}
	}
	*o = '\0';
	return out;
}

void negotiate_filter_parse(struct name_filter *f, const char *query)
{
	memset(f, 0, sizeof *f);
	f->format = -1;
	for (const char *s = query; s && *s;) {
		const char *e = strchr(s, '&');
		if (!e)
			e = s + strlen(s);
		const char *eq = memchr(s, '=', (size_t)(e - s));
		if (eq && f->n < NEGOTIATE_FILTER_MAX) {
			char *key = url_decode(s, (size_t)(eq - s));
			char *v = key ? url_decode(eq + 1, (size_t)(e - eq - 1)) : NULL;
			if (v && strcmp(key, "name[]") == 0) {
				f->names[f->n++] = v;
				v = NULL;
			} else if (v && strcmp(key, "format") == 0) {
				f->format = strcmp(v, "text") == 0          ? FORMAT_TEXT
				          : strcmp(v, "openmetrics") == 0   ? FORMAT_OPENMETRICS
				          : strcmp(v, "protobuf") == 0      ? FORMAT_PROTOBUF
				                                            : f->format;
			}
			free(v);
			free(key);
		}
		s = *e ? e + 1 : e;
	}
}

int negotiate_filter_match(const struct name_filter *f, const char *name)
{
	if (f->n == 0)
		return 1;
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->names[i], name) == 0)
			return 1;
	return 0;
}

void negotiate_filter_free(struct name_filter *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->names[i]);
	f->n = 0;
}
