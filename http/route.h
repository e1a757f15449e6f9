/* SPDX-License-Identifier: MIT */
/*
 * route.h — request paths and route templates (the rules are in
 * promfcgi_http.h): a path normalised into decoded segments, a template
 * compiled into segments, and whether one matches the other.  Pure
 * functions on caller-owned memory: no allocation per request.
 */
#ifndef PROMFCGI_ROUTE_H
#define PROMFCGI_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "promfcgi_http.h"

/* The label values of the method, from a fixed list: made-up methods
 * cannot create series. */
enum route_method { M_GET, M_HEAD, M_POST, M_PUT, M_DELETE, M_PATCH, M_OPTIONS, M_OTHER, M_COUNT };
extern const char *const route_method_names[M_COUNT];
enum route_method route_method(const char *method);

/* A normalised path: its segments, decoded, each NUL-terminated in buf. */
struct route_path {
	char buf[PF_PATH_MAX + 1];
	uint16_t seg[PF_SEGMENTS_MAX]; /* offsets into buf */
	int nseg;
};

/* raw: a request target as sent (REQUEST_URI): the query is cut, a scheme
 * and authority skipped, each segment percent-decoded.  Otherwise an
 * already decoded path (CGI's PATH_INFO).  0, or -1 if the path cannot
 * match any template (not UTF-8, encoded NUL, bad escape, too long). */
int route_normalize(struct route_path *p, const char *path, int raw);

enum route_seg_kind { SEG_LITERAL, SEG_PARAM, SEG_REST };

struct route_template {
	char *text; /* as declared: the route label */
	int nseg;
	uint8_t *kind;    /* enum route_seg_kind, per segment */
	char **seg;       /* literal text or parameter name, per segment */
	char *store;      /* what seg points into */
};

/* 0, or -1 if text is not a valid template (or out of memory). */
int route_compile(struct route_template *t, const char *text);
void route_template_free(struct route_template *t);
/* Whether t matches p. */
int route_match(const struct route_template *t, const struct route_path *p);
/* < 0 if a is more specific than b (tried first), > 0 if less, 0 if they
 * have the same shape (they would match the same paths). */
int route_compare(const struct route_template *a, const struct route_template *b);
/* The value of parameter name (or "*") in p, which t matches; NULL if t
 * has no such parameter.  The rest of "*" is rebuilt with "/" in out. */
const char *route_param(const struct route_template *t, const struct route_path *p,
                        const char *name, char *out, size_t len);

#endif
