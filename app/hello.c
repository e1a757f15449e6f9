/*
 * hello.c — the FastCGI hello app: "Hello, Prometheus!" on /, and every
 * request recorded into the store.
 *
 * Where a request is recorded: record_request(), just before FCGX_Finish_r
 * sends the response, so a response the client has received is always
 * counted.  The in-flight gauge goes up when a request is accepted and down
 * in the same atomic change that counts it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>

#include "../store/promfcgi.h"
#include "accept.h"
#include "route.h"

static pf_family *requests, *duration, *active;
static pf_series *in_flight;
/* Handles resolved on first use; the label sets are a small fixed grid. */
static pf_series *count_of[M_COUNT][R_COUNT][S_COUNT];
static pf_series *duration_of[M_COUNT][R_COUNT];

static void define_metrics(void)
{
	static const char *const req_labels[] = {"method", "route", "code", NULL};
	static const char *const dur_labels[] = {"method", "route", NULL};
	requests = pf_counter("requests_total", "Total number of requests.", req_labels);
	duration = pf_histogram("request_duration_seconds", "Duration of requests in seconds.",
	                        dur_labels, NULL, 0);
	active = pf_gauge("active_requests", "Number of requests in flight.", NULL);
	in_flight = pf_with(active, NULL);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void record_request(enum route_method m, enum route_path p, enum route_status s,
                           double seconds)
{
	if (!count_of[m][p][s]) {
		const char *v[] = {route_method_names[m], route_path_names[p], route_status_codes[s]};
		count_of[m][p][s] = pf_with(requests, v);
	}
	if (!duration_of[m][p]) {
		const char *v[] = {route_method_names[m], route_path_names[p]};
		duration_of[m][p] = pf_with(duration, v);
	}
	pf_begin();
	pf_inc(count_of[m][p][s]);
	pf_observe(duration_of[m][p], seconds);
	pf_dec(in_flight);
	pf_commit();
}

static void put(FCGX_Stream *out, const char *s)
{
	FCGX_PutStr(s, (int)strlen(s), out);
}

static enum route_status respond(FCGX_Request *req, enum route_method m, enum route_path p)
{
	enum route_status s = route_status(m, p);
	static const char *const head[S_COUNT] = {
	    "Status: 200 OK\r\n",
	    "Status: 404 Not Found\r\n",
	    "Status: 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n",
	};
	static const char *const body[S_COUNT] = {
	    "Hello, Prometheus!\n", "Not Found\n", "Method Not Allowed\n"};
	char length[64];
	snprintf(length, sizeof length, "Content-Length: %lu\r\n\r\n", (unsigned long)strlen(body[s]));
	put(req->out, head[s]);
	put(req->out, "Content-Type: text/plain; charset=utf-8\r\n");
	put(req->out, length);
	if (m != M_HEAD)
		put(req->out, body[s]);
	return s;
}

int main(void)
{
	FCGX_Request req;
	pf_open(NULL); /* on failure it logs and counts in memory: serve anyway */
	define_metrics();
	if (accept_init(&req) != 0) {
		fprintf(stderr, "hello.fcgi: cannot initialise FastCGI on fd 0\n");
		pf_close();
		return 1;
	}
	while (accept_next(&req)) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pf_inc(in_flight);
		enum route_method m = route_method(FCGX_GetParam("REQUEST_METHOD", req.envp));
		const char *uri = FCGX_GetParam("REQUEST_URI", req.envp);
		enum route_path p = route_path(uri ? uri : FCGX_GetParam("SCRIPT_NAME", req.envp));
		enum route_status s = respond(&req, m, p);
		record_request(m, p, s, seconds_since(&t0));
		FCGX_Finish_r(&req);
		pf_maintain();
	}
	pf_close();
	return 0;
}
