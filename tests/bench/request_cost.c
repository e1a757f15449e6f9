/* SPDX-License-Identifier: MIT */
/*
 * request_cost.c — what one request costs the recording path, counted by
 * callgrind (tests/bench/request_profile): the HTTP layer's three calls
 * for a GET / answered 200 (requests_total, the classic and native
 * duration, active_requests up and down), and pf_inc of a custom counter
 * of one of many label values, each in one_request, the only function
 * counted.  Instruction counts are repeatable where timings on a shared
 * machine are not.
 *
 * Usage: request_cost DB REQUESTS [SERIES]
 *   SERIES: label values of the custom counter made first (the file grows
 *   to hold them; the request path must not notice).
 */
#include <stdio.h>
#include <stdlib.h>

#include <promfcgi_http.h>

static const char *const routes[] = {"/", "/items/{id}", NULL};

__attribute__((noinline)) static void one_request(pf_http *h, pf_series *s)
{
	pf_request r;
	pf_request_begin_env(h, &r, "GET", "/");
	pf_request_status(&r, 200);
	pf_request_end(&r);
	pf_inc(s);
}

int main(int argc, char **argv)
{
	static const char *const by_tenant[] = {"tenant", NULL};
	if (argc < 3) {
		fprintf(stderr, "usage: %s DB REQUESTS [SERIES]\n", argv[0]);
		return 2;
	}
	long n = atol(argv[2]), series = argc > 3 ? atol(argv[3]) : 1;
	if (pf_open(argv[1]) != 0)
		return 1;
	pf_http *h = pf_http_new(routes, NULL);
	pf_family *f = pf_counter("tenant_requests_total", "Requests by tenant.", by_tenant);
	pf_series *last = NULL;
	for (long i = 0; i < series; i++) {
		char v[32];
		snprintf(v, sizeof v, "t%07ld", i);
		pf_series *s = pf_with(f, (const char *[]){v, NULL});
		last = s ? s : last;
	}
	if (!h || !last)
		return 1;
	for (long i = 0; i < n; i++)
		one_request(h, last);
	pf_http_free(h);
	return pf_close() == 0 ? 0 : 1;
}
