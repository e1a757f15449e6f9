/* SPDX-License-Identifier: MIT */
/*
 * test_http.c — the HTTP layer (http/http.c): routes as labels, the status
 * read from what the app writes (however the output is cut into buffers),
 * the skip list, prefix and constant labels, and what pf_http_new refuses.
 *
 * Requests are driven through libfcgi's public stream struct with a tiny
 * buffer of our own, so the Status line reaches the layer in pieces, as it
 * does when an app writes more than a buffer before its headers end.
 */
#include <stdlib.h>
#include <string.h>

#include "store/model.h"
#include "promfcgi_http.h"
#include "test.h"
#include "util.h"

static char db[512];

/* An output stream that keeps what it is given; buffer of n bytes. */
struct mem {
	FCGX_Stream s;
	unsigned char buf[4096];
	char out[8192];
	size_t len;
	int flushes;
};

static void mem_empty(FCGX_Stream *s, int closing)
{
	struct mem *m = s->data;
	size_t n = (size_t)(s->wrNext - m->buf);
	(void)closing;
	if (m->len + n < sizeof m->out) {
		memcpy(m->out + m->len, m->buf, n);
		m->len += n;
	}
	m->flushes += n > 0;
	s->wrNext = m->buf;
}

static void mem_init(struct mem *m, size_t bufsize)
{
	memset(m, 0, sizeof *m);
	m->s.data = m;
	m->s.emptyBuffProc = mem_empty;
	m->s.wrNext = m->buf;
	m->s.stop = m->buf + bufsize;
	m->s.rdNext = m->s.stop;
}

/* One request: begin, write out (if not NULL), end.  env: "K=V" strings. */
static void request(pf_http *h, const char *method, const char *uri, const char *out,
                    size_t bufsize, const char *traceparent)
{
	char m[64], u[PF_PATH_MAX + 64], t[128];
	char *env[] = {m, u, t, NULL};
	struct mem mem;
	FCGX_Request req;
	pf_request r;
	snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
	snprintf(u, sizeof u, "REQUEST_URI=%s", uri);
	snprintf(t, sizeof t, "HTTP_TRACEPARENT=%s", traceparent ? traceparent : "");
	mem_init(&mem, bufsize);
	memset(&req, 0, sizeof req);
	req.out = &mem.s;
	req.envp = env;
	pf_request_begin(h, &r, &req);
	if (out)
		FCGX_PutS(out, req.out);
	pf_request_end(&r);
	FCGX_FFlush(req.out);
}

static double count(const char *method, const char *route, const char *code)
{
	const char *v[] = {method, route, code, NULL};
	return test_series(db, "requests_total", v);
}

static pf_http *open_with(const char *const *routes, const struct pf_http_options *o)
{
	test_new_store(db, sizeof db, "http");
	setenv("PROMFCGI_DB", db, 1);
	return pf_http_new(routes, o);
}

static const char *const api[] = {"/", "/orders", "/orders/{id}", "/static/*", NULL};

static void status_is_read_from_output(void)
{
	pf_http *h = open_with(api, NULL);
	CHECK(h != NULL);
	request(h, "GET", "/orders/7", "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nseven\n", 4096, NULL);
	request(h, "POST", "/orders", "Status: 201 Created\r\nLocation: /orders/8\r\n\r\n", 4096, NULL);
	request(h, "GET", "/orders/x", "status:400 Bad Request\n\nbad id\n", 4096, NULL);
	request(h, "GET", "/", "Content-Type: text/plain\r\n\r\nno status line: 200\n", 4096, NULL);
	request(h, "GET", "/", "Location: http://example.com/\r\n\r\n", 4096, NULL); /* 302 */
	request(h, "GET", "/", NULL, 4096, NULL); /* wrote nothing: the server answers 5xx */
	request(h, "GET", "/", "Status: 20", 4096, NULL); /* no complete header block */
	request(h, "GET", "/", "Status: 9999 Odd\r\n\r\n", 4096, NULL); /* not a status: ignored */
	request(h, "GET", "/nope", "Status: 404 Not Found\r\n\r\n", 4096, NULL);
	/* a body line that looks like a Status header is body */
	request(h, "GET", "/", "\r\nStatus: 500 no\r\n", 4096, NULL);
	pf_close();
	CHECK_NUM(count("GET", "/orders/{id}", "200"), 1);
	CHECK_NUM(count("POST", "/orders", "201"), 1);
	CHECK_NUM(count("GET", "/orders/{id}", "400"), 1);
	CHECK_NUM(count("GET", "/", "200"), 3); /* no Status, "9999", and the body one */
	CHECK_NUM(count("GET", "/", "302"), 1);
	CHECK_NUM(count("GET", "/", "500"), 2);
	CHECK_NUM(count("GET", "unmatched", "404"), 1);
	CHECK_NUM(test_total(db, "requests_total", NULL), 10);
	CHECK_NUM(test_total(db, "request_duration_seconds", NULL), 10);
	CHECK_NUM(test_total(db, "active_requests", NULL), 0);
	pf_http_free(h);
}

/* Output cut into 8-byte buffers: the Status line arrives in pieces, and
 * the layer reads it all the same; what is written after the headers is
 * not looked at. */
static void status_split_across_buffers(void)
{
	pf_http *h = open_with(api, NULL);
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	char out[3200];
	snprintf(out, sizeof out, "Content-Type: text/plain\r\nStatus:   418 I'm a teapot\r\n\r\n%s", big);
	for (size_t size = 8; size <= 64; size *= 2)
		request(h, "GET", "/static/a/b", out, size, NULL);
	pf_close();
	CHECK_NUM(count("GET", "/static/*", "418"), 4);
	pf_http_free(h);
}

static void one_series_per_template(void)
{
	pf_http *h = open_with(api, NULL);
	char uri[64];
	for (int i = 0; i < 1000; i++) {
		snprintf(uri, sizeof uri, "/orders/%d?x=%d", i, i);
		request(h, "GET", uri, "Status: 200 OK\r\n\r\n", 4096, NULL);
		snprintf(uri, sizeof uri, "/random/%d", i);
		request(h, "GET", uri, "Status: 404 Not Found\r\n\r\n", 4096, NULL);
	}
	pf_close();
	CHECK_NUM(count("GET", "/orders/{id}", "200"), 1000);
	CHECK_NUM(count("GET", "unmatched", "404"), 1000);
	CHECK(test_nseries(db, "requests_total") == 2);
	CHECK(test_nseries(db, "request_duration_seconds") == 2);
	pf_http_free(h);
}

static void methods_fold(void)
{
	pf_http *h = open_with(api, NULL);
	request(h, "BREW", "/", "Status: 405 Method Not Allowed\r\n\r\n", 4096, NULL);
	request(h, "get", "/", "Status: 405 Method Not Allowed\r\n\r\n", 4096, NULL);
	request(h, "DELETE", "/", "Status: 405 Method Not Allowed\r\n\r\n", 4096, NULL);
	pf_close();
	CHECK_NUM(count("other", "/", "405"), 2);
	CHECK_NUM(count("DELETE", "/", "405"), 1);
	pf_http_free(h);
}

static void status_given_by_the_app(void)
{
	pf_http *h = open_with(api, NULL);
	pf_request r;
	pf_request_begin_env(h, &r, "GET", "/orders/3?z");
	CHECK(pf_request_route_index(&r) == 2);
	CHECK_STR(pf_request_route(&r), "/orders/{id}");
	CHECK_STR(pf_request_param(&r, "id"), "3");
	pf_request_status(&r, 204);
	pf_request_end(&r);
	pf_request_begin_env(h, &r, "GET", "/"); /* no status given, none read: 200 */
	pf_request_end(&r);
	pf_close();
	CHECK_NUM(count("GET", "/orders/{id}", "204"), 1);
	CHECK_NUM(count("GET", "/", "200"), 1);
	pf_http_free(h);
}

static void skip_list(void)
{
	static const char *const skip[] = {"/healthz", "/static/*", NULL};
	struct pf_http_options o = {.size = sizeof o, .skip = skip};
	pf_http *h = open_with(api, &o);
	CHECK(h != NULL);
	request(h, "GET", "/healthz", "Status: 200 OK\r\n\r\n", 4096, NULL);
	request(h, "GET", "/static/app.js", "Status: 200 OK\r\n\r\n", 4096, NULL);
	request(h, "GET", "/", "Status: 200 OK\r\n\r\n", 4096, NULL);
	pf_request r; /* a skipped route still tells the handler which it is */
	pf_request_begin_env(h, &r, "GET", "/static/x");
	CHECK(pf_request_route_index(&r) == 3);
	pf_request_end(&r);
	pf_close();
	CHECK_NUM(test_total(db, "requests_total", NULL), 1);
	CHECK_NUM(test_total(db, "active_requests", NULL), 0);
	pf_http_free(h);
}

static void prefix_const_labels_buckets(void)
{
	static const char *const consts[] = {"service", "api", "zone", "eu-1", NULL};
	static const double buckets[] = {0.5, 1};
	struct pf_http_options o = {.size = sizeof o, .prefix = "myapp_", .const_labels = consts,
	                            .buckets = buckets, .nbuckets = 2};
	pf_http *h = open_with(api, &o);
	CHECK(h != NULL);
	request(h, "GET", "/", "Status: 200 OK\r\n\r\n", 4096, NULL);
	pf_close();
	const char *v[] = {"api", "eu-1", "GET", "/", "200", NULL};
	CHECK_NUM(test_series(db, "myapp_requests_total", v), 1);
	const char *d[] = {"api", "eu-1", "GET", "/", NULL};
	CHECK_NUM(test_series(db, "myapp_request_duration_seconds", d), 1);
	const char *a[] = {"api", "eu-1", NULL};
	CHECK_NUM(test_series(db, "myapp_active_requests", a), 0);
	CHECK(test_total(db, "requests_total", NULL) != test_total(db, "requests_total", NULL)); /* NaN: none */
	pf_http_free(h);
}

static void refused_definitions(void)
{
	static const char *const dup[] = {"/a/{x}", "/a/{y}", NULL};
	static const char *const bad[] = {"/ok", "no-slash", NULL};
	static const char *const route_clash[] = {"/code", NULL};
	static const char *const bad_consts[] = {"route", "x", NULL};
	test_new_store(db, sizeof db, "http");
	setenv("PROMFCGI_DB", db, 1);
	CHECK(pf_http_new(dup, NULL) == NULL);
	CHECK(pf_http_new(bad, NULL) == NULL);
	struct pf_http_options o = {.size = sizeof o, .const_labels = bad_consts};
	CHECK(pf_http_new(route_clash, &o) == NULL); /* "route" twice */
	struct pf_http_options p = {.size = sizeof p, .prefix = "9bad"};
	CHECK(pf_http_new(route_clash, &p) == NULL); /* not a metric name */
	pf_http *h = pf_http_new(NULL, NULL);     /* no routes: everything "unmatched" */
	CHECK(h != NULL);
	request(h, "GET", "/", "Status: 200 OK\r\n\r\n", 4096, NULL);
	pf_close();
	CHECK_NUM(count("GET", "unmatched", "200"), 1);
	pf_http_free(h);
}

static void hostile_paths(void)
{
	pf_http *h = open_with(api, NULL);
	char *longpath = malloc(20000);
	memset(longpath, 'a', 19999);
	longpath[0] = '/';
	longpath[19999] = '\0';
	request(h, "GET", longpath, "Status: 414 URI Too Long\r\n\r\n", 4096, NULL);
	request(h, "GET", "/orders/%FF%FE", "Status: 400 Bad Request\r\n\r\n", 4096, NULL);
	request(h, "GET", "/orders/%00", "Status: 400 Bad Request\r\n\r\n", 4096, NULL);
	request(h, "GET", "/orders/\"\\\n", "Status: 200 OK\r\n\r\n", 4096, NULL);
	pf_close();
	CHECK_NUM(count("GET", "unmatched", "414"), 1);
	CHECK_NUM(count("GET", "unmatched", "400"), 2);
	CHECK_NUM(count("GET", "/orders/{id}", "200"), 1);
	free(longpath);
	pf_http_free(h);
}

/* A valid traceparent puts {trace_id} on the request's count and on the
 * bucket its duration fell in; an invalid or all-zero one puts none. */
static void traceparent_exemplars(void)
{
	static const char *const bad[] = {
	    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* all-zero trace id */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* all-zero parent id */
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* uppercase */
	    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  /* short */
	    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* version ff */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 with more */
	    "4bf92f3577b34da6a3ce929d0e0e4736", "", NULL};
	pf_http *h = open_with(api, NULL);
	CHECK(h != NULL);
	request(h, "GET", "/orders/1", "Status: 200 OK\r\n\r\n", 4096,
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	for (int i = 0; bad[i]; i++)
		request(h, "GET", "/orders", "Status: 200 OK\r\n\r\n", 4096, bad[i]);
	request(h, "GET", "/orders", "Status: 200 OK\r\n\r\n", 4096, NULL);
	/* a later version may append fields: still valid */
	request(h, "POST", "/orders", "Status: 201 Created\r\n\r\n", 4096,
	        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future");
	struct exemplar x;
	const char *const ok[] = {"GET", "/orders/{id}", "200", NULL};
	CHECK(test_exemplar(db, "requests_total", ok, 0, &x) == 1);
	CHECK_STR(test_exemplar_label(&x, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
	CHECK(x.len == sizeof "trace_id" + 33);
	CHECK_NUM(x.value, 1);
	const char *const dur[] = {"GET", "/orders/{id}", NULL};
	int found = 0;
	for (int b = 0; b <= pf_default_nbuckets; b++) {
		if (test_exemplar(db, "request_duration_seconds", dur, b, &x) != 1)
			continue;
		found++;
		CHECK_STR(test_exemplar_label(&x, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
		CHECK(b == pf_default_nbuckets || x.value <= pf_default_buckets[b]);
		CHECK(b == 0 || x.value > pf_default_buckets[b - 1]);
	}
	CHECK(found == 1);
	const char *const none[] = {"GET", "/orders", "200", NULL};
	CHECK_NUM(test_series(db, "requests_total", none), 9);
	CHECK(test_exemplar(db, "requests_total", none, 0, &x) == 0);
	const char *const none_dur[] = {"GET", "/orders", NULL};
	for (int b = 0; b <= pf_default_nbuckets; b++)
		CHECK(test_exemplar(db, "request_duration_seconds", none_dur, b, &x) == 0);
	const char *const later[] = {"POST", "/orders", "201", NULL};
	CHECK(test_exemplar(db, "requests_total", later, 0, &x) == 1);
	CHECK_STR(test_exemplar_label(&x, "trace_id"), "0af7651916cd43dd8448eb211c80319c");
	CHECK_NUM(test_total(db, "active_requests", NULL), 0);
	pf_close();
	pf_http_free(h);
}

const struct test http_tests[] = {
    {"http/status_is_read_from_output", status_is_read_from_output},
    {"http/status_split_across_buffers", status_split_across_buffers},
    {"http/one_series_per_template", one_series_per_template},
    {"http/methods_fold", methods_fold},
    {"http/status_given_by_the_app", status_given_by_the_app},
    {"http/skip_list", skip_list},
    {"http/prefix_const_labels_buckets", prefix_const_labels_buckets},
    {"http/refused_definitions", refused_definitions},
    {"http/hostile_paths", hostile_paths},
    {"http/traceparent_exemplars", traceparent_exemplars},
    {NULL, NULL},
};
