/* SPDX-License-Identifier: MIT */
/*
 * api.c — an example API on promfcgi's HTTP layer: route templates with a
 * path parameter, and every status a real app sends.
 *
 *   GET  /orders                200  the list (this example keeps none)
 *   POST /orders?value=12.5     201  created; 400 if value is not a number >= 0
 *   GET  /orders/{id}           200  for ids 1..999; 404 for larger ids; 400 if id is not a number
 *   GET  /orders/{id}/audit     500  the handler fails (returns -1): the layer answers 500
 *   GET  /static/...            200  echoes the rest of the path (template "/static/" "*")
 *   GET  /healthz               200  not recorded (the skip list)
 *   GET  /slow/{ms}             200  after ms milliseconds (0..60000; else 400): a slow route, to
 *                                    keep a pool busy (tests/integration/pool.bats saturates one)
 *   anything else               404, or 405 with Allow for a known path and another method
 *
 * requests_total then holds one series per method, template and code, however many
 * ids are asked for: route="/orders/{id}", never route="/orders/17".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <promfcgi_http.h>

enum { ORDERS, ORDER, AUDIT, STATIC, HEALTH, SLOW };
static const char *const routes[] = {
    [ORDERS] = "/orders", [ORDER] = "/orders/{id}", [AUDIT] = "/orders/{id}/audit",
    [STATIC] = "/static/*", [HEALTH] = "/healthz", [SLOW] = "/slow/{ms}", NULL};

static int reply(FCGX_Request *req, const char *status, const char *extra, const char *body)
{
	FCGX_FPrintF(req->out,
	             "Status: %s\r\n%sContent-Type: text/plain; charset=utf-8\r\n"
	             "Content-Length: %u\r\n\r\n%s",
	             status, extra, (unsigned)strlen(body), body);
	return 0;
}

/* A decimal id of 1..9 digits, else -1. */
static long parse_id(const char *s)
{
	if (!s || !s[0] || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
		return -1;
	return strtol(s, NULL, 10);
}

static int handle(FCGX_Request *req, pf_request *r, void *arg)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	int get = method && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
	int post = method && strcmp(method, "POST") == 0;
	char body[300];
	(void)arg;
	switch (pf_request_route_index(r)) {
	case ORDERS:
		if (post) {
			const char *q = FCGX_GetParam("QUERY_STRING", req->envp);
			const char *v = q ? strstr(q, "value=") : NULL;
			char *end;
			double value = v ? strtod(v + 6, &end) : -1;
			if (!v || end == v + 6 || (*end && *end != '&') || !(value >= 0))
				return reply(req, "400 Bad Request", "", "value must be a number >= 0\n");
			return reply(req, "201 Created", "Location: /orders/1\r\n", "created\n");
		}
		return get ? reply(req, "200 OK", "", "[]\n")
		           : reply(req, "405 Method Not Allowed", "Allow: GET, HEAD, POST\r\n", "\n");
	case ORDER: {
		long id = parse_id(pf_request_param(r, "id"));
		if (!get)
			return reply(req, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "\n");
		if (id < 0)
			return reply(req, "400 Bad Request", "", "id must be a number\n");
		if (id == 0 || id >= 1000)
			return reply(req, "404 Not Found", "", "no such order\n");
		snprintf(body, sizeof body, "order %ld\n", id);
		return reply(req, "200 OK", "", body);
	}
	case AUDIT:
		return -1; /* a failing handler: the layer answers and counts 500 */
	case STATIC:
		snprintf(body, sizeof body, "static: %.200s\n", pf_request_param(r, "*"));
		return reply(req, "200 OK", "", body);
	case HEALTH:
		return reply(req, "200 OK", "", "ok\n");
	case SLOW: {
		long ms = parse_id(pf_request_param(r, "ms"));
		if (ms < 0 || ms > 60000)
			return reply(req, "400 Bad Request", "", "ms must be a number 0..60000\n");
		/* the whole time, even across a SIGSTOP and SIGCONT (EINTR) */
		struct timespec left = {ms / 1000, ms % 1000 * 1000000L};
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &left, &left) == EINTR)
			;
		return reply(req, "200 OK", "", "slept\n");
	}
	}
	return reply(req, "404 Not Found", "", "Not Found\n");
}

int main(void)
{
	static const char *const skip[] = {"/healthz", NULL};
	struct pf_http_options options = {.size = sizeof options, .skip = skip};
	return pf_serve(pf_http_new(routes, &options), handle, NULL);
}
