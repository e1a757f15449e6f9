/* SPDX-License-Identifier: MIT */
/*
 * many_series.c — the app of tests/integration/many_series.bats: a worker
 * with as many series as issue 18 asks of one process, through the HTTP
 * layer and a family of its own.  250 route templates (/r000/{id} ...
 * /r249/{id}), any method, answered with the status code the query asks
 * for (?code=NNN): requests_total{method,route,code} gets a series for
 * every route x method x code requested; and tenant_requests_total{tenant}
 * counts the ten tenants from the query's t on (?t=N: tenant-N ...
 * tenant-N+9), so 10,000 requests make 100,000 tenants.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <promfcgi_http.h>

#define ROUTES 250
static char route_text[ROUTES][32];
static const char *routes[ROUTES + 1];
static pf_family *tenants;

/* The number after name= in a query string, or fallback. */
static long param(const char *query, const char *name, long fallback)
{
	size_t n = strlen(name);
	for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == '=')
			return strtol(p + n + 1, NULL, 10);
	return fallback;
}

static int serve(FCGX_Request *req, pf_request *r, void *arg)
{
	const char *query = FCGX_GetParam("QUERY_STRING", req->envp);
	long code = param(query, "code", 200), t = param(query, "t", -1);
	(void)arg;
	if (code < 200 || code > 599)
		code = 400;
	for (long i = t; t >= 0 && i < t + 10; i++) {
		char v[32];
		snprintf(v, sizeof v, "tenant-%06ld", i);
		pf_inc(pf_with(tenants, (const char *[]){v, NULL}));
	}
	FCGX_FPrintF(req->out, "Status: %ld\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n",
	             code);
	pf_request_status(r, (int)code);
	return 0;
}

int main(void)
{
	static const char *const by_tenant[] = {"tenant", NULL};
	for (int i = 0; i < ROUTES; i++) {
		snprintf(route_text[i], sizeof route_text[i], "/r%03d/{id}", i);
		routes[i] = route_text[i];
	}
	pf_http *h = pf_http_new(routes, NULL);
	tenants = pf_counter("tenant_requests_total", "Requests by tenant.", by_tenant);
	return pf_serve(h, serve, NULL);
}
