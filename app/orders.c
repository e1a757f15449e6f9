/* SPDX-License-Identifier: MIT */
/*
 * orders.c — an example of custom metrics with promfcgi's C API, beside the
 * request metrics pf_serve records for every app: a counter and a
 * histogram with labels; gauges of three modes (the value written last by
 * any worker, the largest of any, each live worker's own); a summary; an
 * info; a state set; units.
 *
 *   GET /order?kind=book&value=12.5   records an order, answers 200
 *   GET /intake?state=paused          sets the intake's state (open, paused, closed)
 *   anything else                     404
 *
 * Its families reach /metrics through the same, unchanged metrics.fcgi:
 * the store keeps their definitions, so nothing here is known to it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>

#include <promfcgi_http.h>

/* Label values come from a fixed list: a client cannot create series. */
static const char *const kinds[] = {"book", "pen", "other"};
enum { KINDS = sizeof kinds / sizeof kinds[0] };

static const char *const intake_states[] = {"open", "paused", "closed", NULL};

static pf_series *orders[KINDS], *value_of[KINDS], *basket, *largest, *mine, *handling, *intake;

static void define_metrics(void)
{
	static const char *const by_kind[] = {"kind", NULL};
	static const double dollars[] = {1, 5, 10, 50, 100, 500};
	pf_family *count = pf_counter("orders_total", "Orders taken, by kind.", by_kind);
	/* classic buckets, and native ones (schema 3: 8 per power of two), in dollars */
	struct pf_family_options value_options = {
	    .size = sizeof value_options,
	    .unit = "dollars",
	    .buckets = dollars,
	    .nbuckets = sizeof dollars / sizeof dollars[0],
	    .native = 1,
	    .schema = PF_NATIVE_SCHEMA_DEFAULT,
	    .zero_threshold = PF_NATIVE_ZERO_THRESHOLD_DEFAULT,
	};
	pf_family *value = pf_define(PF_HISTOGRAM, "order_value_dollars",
	                             "Value of an order in dollars.", by_kind, &value_options);
	/* a gauge's mode says what its one value is, whichever worker wrote */
	pf_family *last = pf_gauge_mode("orders_last_value_dollars",
	                                "Value of the last order taken, by any worker.", NULL,
	                                PF_GAUGE_MOSTRECENT);
	pf_family *most = pf_gauge_mode("orders_largest_value_dollars",
	                                "Value of the largest order any worker took.", NULL,
	                                PF_GAUGE_MAX);
	pf_family *each = pf_gauge_mode("orders_worker_orders", "Orders each live worker took.", NULL,
	                                PF_GAUGE_LIVEALL);
	/* count and sum, exact across workers; quantiles would come from a histogram */
	struct pf_family_options seconds = {.size = sizeof seconds, .unit = "seconds"};
	pf_family *took = pf_define(PF_SUMMARY, "order_handling_seconds", "Time to take an order.",
	                            NULL, &seconds);
	pf_family *build = pf_info("orders_build_info", "The orders app's build.",
	                           (const char *[]){"version", "promfcgi", NULL});
	pf_family *state = pf_stateset("orders_intake", "Whether orders are taken.", NULL,
	                               intake_states);
	for (int k = 0; k < KINDS; k++) {
		const char *v[] = {kinds[k], NULL};
		orders[k] = pf_with(count, v);
		value_of[k] = pf_with(value, v);
	}
	basket = pf_with(last, (const char *[]){NULL});
	largest = pf_with(most, (const char *[]){NULL});
	mine = pf_with(each, (const char *[]){NULL});
	handling = pf_with(took, (const char *[]){NULL});
	intake = pf_with(state, (const char *[]){NULL});
	pf_with(build, (const char *[]){"1.0.0", PROMFCGI_VERSION, NULL}); /* shown while we run */
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
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

static double largest_seen = -1;

static void respond(FCGX_Request *req, const char *status, const char *body)
{
	FCGX_FPrintF(req->out, "Status: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
	             status, body);
}

/* GET /intake?state=paused: the state set's state, the latest write of any
 * worker winning. */
static int set_intake(FCGX_Request *req)
{
	char state[32];
	query_param(FCGX_GetParam("QUERY_STRING", req->envp), "state", state, sizeof state);
	if (pf_set_state(intake, state) != 0) {
		respond(req, "400 Bad Request", "state must be open, paused or closed\n");
		return 0;
	}
	respond(req, "200 OK", "set\n");
	return 0;
}

static int handle(FCGX_Request *req, pf_request *r, void *arg)
{
	(void)arg;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pf_request_route_index(r) == 1)
		return set_intake(req);
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
	if (dollars > largest_seen) { /* a max gauge takes each worker's last value: keep ours the largest */
		largest_seen = dollars;
		pf_set(largest, dollars);
	}
	pf_inc(mine);
	pf_observe(handling, seconds_since(&t0));
	pf_commit();
	respond(req, "200 OK", "ordered\n");
	return 0;
}

int main(void)
{
	static const char *const routes[] = {"/order", "/intake", NULL};
	pf_http *http = pf_http_new(routes, NULL); /* opens the store */
	define_metrics();
	return pf_serve(http, handle, NULL);
}
