/* SPDX-License-Identifier: MIT */
/*
 * metrics.c — the /metrics program: every family in the store, in text
 * format 0.0.4 or OpenMetrics 1.0 as the scraper asks (pf_metrics_respond).
 * A FastCGI worker, or one CGI request when not started as one.  It knows
 * no family at compile time but its own: its requests are counted in
 * promfcgi_metric_handler_requests_total{code}, apart from the app's
 * requests_total, and timed in promfcgi_scrape_duration_seconds.
 */
#include <time.h>

#include <promfcgi_http.h>

enum { C_200, C_405, C_503, C_COUNT };
static const char *const code_names[C_COUNT] = {"200", "405", "503"};
static pf_series *scrapes[C_COUNT], *scrape_seconds;

static void define_metrics(void)
{
	static const char *const labels[] = {"code", NULL};
	static const double buckets[] = {.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5};
	pf_family *f = pf_counter("promfcgi_metric_handler_requests_total",
	                          "Requests to the metrics endpoint, by HTTP status.", labels);
	for (int c = 0; c < C_COUNT; c++) {
		const char *v[] = {code_names[c], NULL};
		scrapes[c] = pf_with(f, v); /* pre-initialised, as promhttp does */
	}
	scrape_seconds = pf_with(pf_histogram("promfcgi_scrape_duration_seconds",
	                                      "Time to fold the store and render /metrics.", NULL,
	                                      buckets, sizeof buckets / sizeof buckets[0]),
	                         NULL);
}

static int scrape(FCGX_Request *req, pf_request *r, void *arg)
{
	struct timespec t0, t1;
	(void)r;
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int status = pf_metrics_respond(req);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pf_begin();
	pf_inc(scrapes[status == 200 ? C_200 : status == 405 ? C_405 : C_503]);
	pf_observe(scrape_seconds, (double)(t1.tv_sec - t0.tv_sec) +
	                               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	pf_commit();
	return 0;
}

int main(void)
{
	pf_open(NULL);
	define_metrics();
	return pf_serve(NULL, scrape, NULL);
}
