/* SPDX-License-Identifier: MIT */
/*
 * orders.c — an example of custom metrics with promfcgi's C API: a
 * counter, a gauge and a histogram, with labels, beside the request
 * metrics pf_serve records for every app.
 *
 *   GET /order?kind=book&value=12.5   records an order, answers 200
 *   anything else                     404
 *
 * Its families reach /metrics through the same, unchanged metrics.fcgi:
 * the store keeps their definitions, so nothing here is known to it.
 */
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include <promfcgi_http.h>

/* Label values come from a fixed list: a client cannot create series. */
static const char *const kinds[] = {"book", "pen", "other"};
enum { KINDS = sizeof kinds / sizeof kinds[0] };

static pf_series *orders[KINDS], *value_of[KINDS], *basket;

static void define_metrics(void)
{
	static const char *const by_kind[] = {"kind", NULL};
	static const double dollars[] = {1, 5, 10, 50, 100, 500};
	pf_family *count = pf_counter("orders_total", "Orders taken, by kind.", by_kind);
	/* classic buckets, and native ones (schema 3: 8 per power of two) */
	pf_family *value = pf_histogram_native("order_value_dollars", "Value of an order in dollars.",
	                                       by_kind, dollars, sizeof dollars / sizeof dollars[0],
	                                       PF_NATIVE_SCHEMA_DEFAULT,
	                                       PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
	pf_family *last = pf_gauge("orders_last_value_dollars",
	                           "Value of the last order each worker took, summed over workers.",
	                           NULL);
	for (int k = 0; k < KINDS; k++) {
		const char *v[] = {kinds[k], NULL};
		orders[k] = pf_with(count, v);
		value_of[k] = pf_with(value, v);
	}
	basket = pf_with(last, NULL);
}

/* The value of key in a query string, copied into out ("" if absent). */
static void query_param(const char *query, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	out[0] = '\0';
	for (const char *p = query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = n - klen - 1 < len - 1 ? n - klen - 1 : len - 1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return;
		}
		p = end ? end + 1 : NULL;
	}
}

static void respond(FCGX_Request *req, const char *status, const char *body)
{
	FCGX_FPrintF(req->out, "Status: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
	             status, body);
}

static int handle(FCGX_Request *req, pf_request *r, void *arg)
{
	(void)arg;
	if (pf_request_route_index(r) < 0) {
		respond(req, "404 Not Found", "Not Found\n");
		return 0;
	}
	char kind[32], value[32];
	const char *query = FCGX_GetParam("QUERY_STRING", req->envp);
	query_param(query, "kind", kind, sizeof kind);
	query_param(query, "value", value, sizeof value);
	int k = 0;
	while (k < KINDS - 1 && strcmp(kind, kinds[k]) != 0)
		k++;
	char *end;
	double dollars = strtod(value, &end);
	if (!value[0] || *end || !(dollars >= 0)) {
		respond(req, "400 Bad Request", "value must be a number >= 0\n");
		return 0;
	}
	pf_begin(); /* the order counts, and its value is observed, together */
	pf_inc(orders[k]);
	pf_observe(value_of[k], dollars);
	pf_set(basket, dollars);
	pf_commit();
	respond(req, "200 OK", "ordered\n");
	return 0;
}

int main(void)
{
	static const char *const routes[] = {"/order", NULL};
	pf_http *http = pf_http_new(routes, NULL); /* opens the store */
	define_metrics();
	return pf_serve(http, handle, NULL);
}
