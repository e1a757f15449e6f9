/*
 * metrics.c — the /metrics FastCGI program: folds the store, renders every
 * family, text format 0.0.4 or OpenMetrics 1.0 as the scraper asks, gzipped
 * when it accepts gzip.  It knows no family at compile time but its own:
 * promfcgi_metric_handler_requests_total{code} counts its requests apart
 * from the app's requests_total, and promfcgi_scrape_duration_seconds
 * times them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>
#include <zlib.h>

#include "../app/accept.h"
#include "../store/promfcgi.h"
#include "../store/scrape.h"
#include "buf.h"
#include "negotiate.h"
#include "own.h"
#include "render.h"

enum { C_200, C_405, C_503, C_COUNT };
static const char *const code_names[C_COUNT] = {"200", "405", "503"};
static pf_series *scrapes[C_COUNT], *scrape_seconds, *retired;

static void define_metrics(void)
{
	static const char *const labels[] = {"code", NULL};
	static const double buckets[] = {.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5};
	pf_family *f = pf_counter("promfcgi_metric_handler_requests_total",
	                          "Requests to the metrics endpoint, by HTTP status.", labels);
	for (int c = 0; c < C_COUNT; c++) {
		const char *v[] = {code_names[c]};
		scrapes[c] = pf_with(f, v); /* pre-initialised, as promhttp does */
	}
	scrape_seconds = pf_with(pf_histogram("promfcgi_scrape_duration_seconds",
	                                      "Time to fold the store and render /metrics.", NULL,
	                                      buckets, sizeof buckets / sizeof buckets[0]),
	                         NULL);
	retired = pf_with(pf_counter("promfcgi_retired_workers_total",
	                             "Dead workers whose totals were folded and files removed.", NULL),
	                  NULL);
}

static void put(FCGX_Stream *out, const char *s, size_t n)
{
	FCGX_PutStr(s, (int)n, out);
}

static void reply(FCGX_Request *req, const char *status, const char *type, const char *extra,
                  const char *body, size_t len, int head_only)
{
	char h[512];
	int n = snprintf(h, sizeof h, "Status: %s\r\nContent-Type: %s\r\n%sContent-Length: %lu\r\n\r\n",
	                 status, type, extra, (unsigned long)len);
	put(req->out, h, (size_t)n);
	if (!head_only)
		put(req->out, body, len);
}

/* gzip (RFC 1952) of in into out; level 1: a scrape is latency-bound. */
static int gzip_buf(const struct buf *in, struct buf *out)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	size_t cap = deflateBound(&z, (uLong)in->len);
	out->p = malloc(cap);
	out->cap = cap;
	z.next_in = (Bytef *)in->p;
	z.avail_in = (uInt)in->len;
	z.next_out = (Bytef *)out->p;
	z.avail_out = (uInt)cap;
	int rc = out->p ? deflate(&z, Z_FINISH) : Z_MEM_ERROR;
	out->len = z.total_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

static int serve(FCGX_Request *req)
{
	static const char text_plain[] = "text/plain; charset=utf-8";
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	int head = method && strcmp(method, "HEAD") == 0;
	if (!method || (!head && strcmp(method, "GET") != 0)) {
		static const char msg[] = "Method Not Allowed\n";
		reply(req, "405 Method Not Allowed", text_plain, "Allow: GET, HEAD\r\n", msg,
		      sizeof msg - 1, 0);
		return C_405;
	}
	struct pf_collection c;
	char reason[300];
	if (pf_scrape(pf_db_path(), &c, reason, sizeof reason - 1) != 0) {
		strcat(reason, "\n");
		reply(req, "503 Service Unavailable", text_plain, "", reason, strlen(reason), head);
		return C_503;
	}
	pf_add(retired, pf_scrape_stats()->retired);
	own_add(&c, pf_scrape_stats());
	enum format format = negotiate_format(FCGX_GetParam("HTTP_ACCEPT", req->envp));
	struct name_filter filter;
	filter_parse(&filter, FCGX_GetParam("QUERY_STRING", req->envp));
	if (filter.format >= 0)
		format = (enum format)filter.format;
	struct buf b = {0}, z = {0};
	if (format == FORMAT_OPENMETRICS)
		render_openmetrics(&b, &c, &filter);
	else
		render_text(&b, &c, &filter);
	filter_free(&filter);
	pf_collection_free(&c);
	const char *type = format == FORMAT_OPENMETRICS ? RENDER_OPENMETRICS_TYPE : RENDER_CONTENT_TYPE;
	int code = C_200;
	if (b.oom) {
		static const char msg[] = "out of memory\n";
		reply(req, "503 Service Unavailable", text_plain, "", msg, sizeof msg - 1, head);
		code = C_503;
	} else if (negotiate_gzip(FCGX_GetParam("HTTP_ACCEPT_ENCODING", req->envp)) &&
	           gzip_buf(&b, &z) == 0) {
		reply(req, "200 OK", type, "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n", z.p,
		      z.len, head);
	} else {
		reply(req, "200 OK", type, "Vary: Accept-Encoding\r\n", b.p ? b.p : "", b.len, head);
	}
	buf_free(&b);
	buf_free(&z);
	return code;
}

int main(void)
{
	FCGX_Request req;
	pf_open(NULL);
	define_metrics();
	if (accept_init(&req) != 0) {
		fprintf(stderr, "metrics.fcgi: cannot initialise FastCGI on fd 0\n");
		pf_close();
		return 1;
	}
	while (accept_next(&req)) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int code = serve(&req);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pf_begin();
		pf_inc(scrapes[code]);
		pf_observe(scrape_seconds, (double)(t1.tv_sec - t0.tv_sec) +
		                               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		pf_commit();
		FCGX_Finish_r(&req);
		pf_maintain();
	}
	pf_scrape_close();
	pf_close();
	return 0;
}
