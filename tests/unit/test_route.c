/* SPDX-License-Identifier: MIT */
/*
 * test_route.c — request paths and route templates (http/route.c): the
 * spellings of one path that must give one route, and the paths that must
 * match none.
 */
#include <stdlib.h>
#include <string.h>

#include "http/route.h"
#include "test.h"

/* The normalised path rebuilt as "/a/b" ("/" for none); "!" if invalid. */
static const char *norm(const char *path, int raw)
{
	static struct route_path p;
	static char out[PF_PATH_MAX + PF_SEGMENTS_MAX + 2];
	if (route_normalize(&p, path, raw) != 0)
		return "!";
	size_t n = 0;
	for (int i = 0; i < p.nseg; i++) {
		out[n++] = '/';
		strcpy(out + n, p.buf + p.seg[i]);
		n += strlen(p.buf + p.seg[i]);
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

static void methods(void)
{
	CHECK(route_method("GET") == M_GET);
	CHECK(route_method("HEAD") == M_HEAD);
	CHECK(route_method("OPTIONS") == M_OPTIONS);
	CHECK(route_method("get") == M_OTHER); /* methods are case-sensitive */
	CHECK(route_method("BREW") == M_OTHER);
	CHECK(route_method("") == M_OTHER);
	CHECK(route_method(NULL) == M_OTHER);
	CHECK_STR(route_method_names[M_OTHER], "other");
}

static void normalize(void)
{
	CHECK_STR(norm("/", 1), "/");
	CHECK_STR(norm("/?a=b", 1), "/");
	CHECK_STR(norm("//", 1), "/");
	CHECK_STR(norm("/orders/7", 1), "/orders/7");
	CHECK_STR(norm("/orders/7/", 1), "/orders/7");            /* trailing slash */
	CHECK_STR(norm("/orders//7", 1), "/orders/7");            /* empty segment */
	CHECK_STR(norm("/orders/./7", 1), "/orders/7");
	CHECK_STR(norm("/x/../orders/%37", 1), "/orders/7");      /* dot segment, %37 is 7 */
	CHECK_STR(norm("/x/%2E%2E/orders/7?q=/../", 1), "/orders/7"); /* %2E is ".", query cut */
	CHECK_STR(norm("/../../etc", 1), "/etc");                 /* never above the root */
	CHECK_STR(norm("/a#frag", 1), "/a");
	CHECK_STR(norm("http://example.com/a/b?x", 1), "/a/b");   /* absolute form */
	CHECK_STR(norm("/a%2Fb", 1), "/a/b");                     /* one segment "a/b", see below */
	CHECK_STR(norm("/caf%C3%A9", 1), "/caf\xC3\xA9");
	CHECK_STR(norm("/a+b", 1), "/a+b");                       /* + is + in a path */
	/* matches nothing: */
	CHECK_STR(norm("", 1), "!");
	CHECK_STR(norm("relative", 1), "!");
	CHECK_STR(norm("*", 1), "!");
	CHECK_STR(norm("/%", 1), "!");
	CHECK_STR(norm("/%4", 1), "!");
	CHECK_STR(norm("/%zz", 1), "!");
	CHECK_STR(norm("/a%00b", 1), "!");                        /* encoded NUL */
	CHECK_STR(norm("/%FF", 1), "!");                          /* invalid UTF-8, encoded */
	CHECK_STR(norm("/\xC3(", 1), "!");                        /* invalid UTF-8, raw */
	CHECK_STR(norm("/%ED%A0%80", 1), "!");                    /* a UTF-16 surrogate */
	CHECK_STR(norm(NULL, 1), "!");
	/* CGI's PATH_INFO is decoded already: no second decoding; empty is "/" */
	CHECK_STR(norm("", 0), "/");
	CHECK_STR(norm("/100%", 0), "/100%");
	CHECK_STR(norm("/a%2Fb", 0), "/a%2Fb");
	CHECK_STR(norm("/nope", 0), "/nope");
}

static void encoded_slash_is_data(void)
{
	struct route_path p;
	CHECK(route_normalize(&p, "/a%2Fb", 1) == 0);
	CHECK(p.nseg == 1);
	CHECK_STR(p.buf + p.seg[0], "a/b");
	struct route_template t;
	CHECK(route_compile(&t, "/orders/{id}") == 0);
	CHECK(route_normalize(&p, "/orders%2F7", 1) == 0);
	CHECK(!route_match(&t, &p)); /* one segment "orders/7" */
	CHECK(route_normalize(&p, "/orders/7%2F8", 1) == 0);
	CHECK(route_match(&t, &p));
	char out[64];
	CHECK_STR(route_param(&t, &p, "id", out, sizeof out), "7/8");
	route_template_free(&t);
}

static void long_paths(void)
{
	char *path = malloc(7000);
	memset(path, 'a', 6999);
	path[0] = '/';
	path[6999] = '\0';
	CHECK(strlen(norm(path, 1)) == 6999); /* a 6000-byte path is a path */
	for (int i = 1; i < 6999; i += 2)
		path[i] = '/';
	CHECK_STR(norm(path, 1), "!"); /* ~3500 segments: more than PF_SEGMENTS_MAX */
	free(path);
	path = malloc(PF_PATH_MAX + 10);
	memset(path, 'b', PF_PATH_MAX + 9);
	path[0] = '/';
	path[PF_PATH_MAX + 9] = '\0';
	CHECK_STR(norm(path, 1), "!"); /* longer than PF_PATH_MAX */
	free(path);
}

static int matches(const char *tpl, const char *path)
{
	struct route_template t;
	struct route_path p;
	if (route_compile(&t, tpl) != 0)
		return -1;
	int m = route_normalize(&p, path, 1) == 0 && route_match(&t, &p);
	route_template_free(&t);
	return m;
}

static void templates(void)
{
	CHECK(matches("/", "/") == 1);
	CHECK(matches("/", "/?x") == 1);
	CHECK(matches("/", "/a") == 0);
	CHECK(matches("/orders", "/orders/") == 1);
	CHECK(matches("/orders/", "/orders") == 1); /* a template's trailing "/" means nothing */
	CHECK(matches("/orders/{id}", "/orders/17") == 1);
	CHECK(matches("/orders/{id}", "/orders") == 0);
	CHECK(matches("/orders/{id}", "/orders/17/x") == 0);
	CHECK(matches("/static/*", "/static/css/site.css") == 1);
	CHECK(matches("/static/*", "/static/x") == 1);
	CHECK(matches("/static/*", "/static") == 0); /* * is one or more segments */
	CHECK(matches("/a/{x}/b/{y}", "/a/1/b/2") == 1);
	/* invalid templates */
	CHECK(matches("", "/") == -1);
	CHECK(matches("orders", "/") == -1);
	CHECK(matches("/a//b", "/") == -1);
	CHECK(matches("/*/a", "/") == -1);    /* * only last */
	CHECK(matches("/{}", "/") == -1);
	CHECK(matches("/{1x}", "/") == -1);
	CHECK(matches("/{a}/{a}", "/") == -1); /* one name twice */
	CHECK(matches("/a{b}", "/") == -1);
	CHECK(matches("/./a", "/") == -1);
	CHECK(matches("/a/..", "/") == -1);
}

static void specificity(void)
{
	struct route_template lit, par, rest;
	CHECK(route_compile(&lit, "/orders/new") == 0);
	CHECK(route_compile(&par, "/orders/{id}") == 0);
	CHECK(route_compile(&rest, "/orders/*") == 0);
	CHECK(route_compare(&lit, &par) < 0);
	CHECK(route_compare(&par, &rest) < 0);
	CHECK(route_compare(&lit, &rest) < 0);
	struct route_template other;
	CHECK(route_compile(&other, "/orders/{key}") == 0);
	CHECK(route_compare(&par, &other) == 0); /* same shape */
	route_template_free(&lit);
	route_template_free(&par);
	route_template_free(&rest);
	route_template_free(&other);
}

static void params(void)
{
	struct route_template t;
	struct route_path p;
	char out[128];
	CHECK(route_compile(&t, "/users/{user}/files/*") == 0);
	CHECK(route_normalize(&p, "/users/j%C3%B6rg/files/a/b%20c/", 1) == 0);
	CHECK(route_match(&t, &p));
	CHECK_STR(route_param(&t, &p, "user", out, sizeof out), "j\xC3\xB6rg");
	CHECK_STR(route_param(&t, &p, "*", out, sizeof out), "a/b c");
	CHECK(route_param(&t, &p, "nope", out, sizeof out) == NULL);
	CHECK(route_param(&t, &p, "*", out, 3) == NULL); /* does not fit: NULL, never cut */
	route_template_free(&t);
}

const struct test route_tests[] = {
    {"route/methods", methods},
    {"route/normalize", normalize},
    {"route/encoded_slash_is_data", encoded_slash_is_data},
    {"route/long_paths", long_paths},
    {"route/templates", templates},
    {"route/specificity", specificity},
    {"route/params", params},
    {NULL, NULL},
};
