/* SPDX-License-Identifier: MIT */
/*
 * expose.c — pf_metrics_respond (promfcgi_http.h): the /metrics answer,
 * shared by the metrics program and any app that serves its own.
 *
 * Scrape the store (fold, collect), add the scrape-time families, pick the
 * format (Accept, or ?format=: text, OpenMetrics or protobuf), filter
 * (?name[]=), render, gzip when the scraper accepts it.  A store that
 * cannot be read is a 503 with a one-line reason: Prometheus then records
 * the target as down, never a half page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "store/beacon.h"
#include "store/notice.h"
#include "store/buf.h"
#include "store/registry.h"
#include "http/serve.h"
#include "metrics/negotiate.h"
#include "metrics/own.h"
#include "metrics/poolstat.h"
#include "promfcgi_http.h"
#include "metrics/protobuf.h"
#include "metrics/render.h"
#include "metrics/scrape.h"

static void stream_put(FCGX_Stream *out, const char *s, size_t n)
{
	FCGX_PutStr(s, (int)n, out);
}

static void reply(FCGX_Request *req, const char *status, const char *type, const char *extra,
                  const char *body, size_t len, int head_only)
{
	char h[512];
	int n = snprintf(h, sizeof h, "Status: %s\r\nContent-Type: %s\r\n%sContent-Length: %lu\r\n\r\n",
	                 status, type, extra, (unsigned long)len);
	stream_put(req->out, h, (size_t)n);
	if (!head_only)
		stream_put(req->out, body, len);
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

/* promfcgi_retired_workers_total, defined at the first scrape. */
static void count_retired(unsigned n)
{
	static pf_series *retired;
	if (!retired)
		retired = pf_with(pf_counter("promfcgi_retired_workers_total",
		                             "Dead workers whose totals were folded and files removed.",
		                             NULL),
		                  NULL);
	if (n)
		pf_add(retired, n);
}

/* A process that cannot record says so (store/beacon.c): its errors are
 * counted in this program's own promfcgi_store_errors_total, which this
 * scrape shows, and its reason is logged. */
static void heard(const struct beacon_report *r, void *arg)
{
	(void)arg;
	registry_add_errors(r->errors);
	notice("process %ld (uid %u) of this store cannot record: %s", (long)r->pid,
	       (unsigned)r->uid, r->reason);
}

/* Listens while this program runs (bound at its first answer; tried again
 * at each while another process holds the name). */
static void hear_reports(void)
{
	static int fd = -1;
	if (pf_is_cgi()) /* one process per scrape: gone before anyone calls */
		return;
	if (fd < 0)
		fd = beacon_listen(pf_db_path());
	if (fd >= 0)
		beacon_drain(fd, heard, NULL);
}

int pf_metrics_respond(FCGX_Request *req)
{
	static const char text_plain[] = "text/plain; charset=utf-8";
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	int head = method && strcmp(method, "HEAD") == 0;
	if (!method || (!head && strcmp(method, "GET") != 0)) {
		static const char msg[] = "Method Not Allowed\n";
		reply(req, "405 Method Not Allowed", text_plain, "Allow: GET, HEAD\r\n", msg,
		      sizeof msg - 1, 0);
		return 405;
	}
	serve_set_idle(scrape_idle); /* the periodic fold, after answers (serve.h) */
	hear_reports();
	struct collection c;
	char reason[300];
	if (scrape_collect(pf_db_path(), &c, reason, sizeof reason - 1) != 0) {
		strcat(reason, "\n");
		reply(req, "503 Service Unavailable", text_plain, "", reason, strlen(reason), head);
		return 503;
	}
	count_retired(scrape_last_stats()->retired);
	own_add(&c, scrape_last_stats());
	poolstat_add(&c, scrape_last_stats()->pool, scrape_last_stats()->npool,
	             scrape_last_stats()->pool_now);
	enum format format = negotiate_format(FCGX_GetParam("HTTP_ACCEPT", req->envp));
	struct name_filter filter;
	negotiate_filter_parse(&filter, FCGX_GetParam("QUERY_STRING", req->envp));
	if (filter.format >= 0)
		format = (enum format)filter.format;
	struct buf b = {0}, z = {0};
	if (format == FORMAT_PROTOBUF)
		protobuf_render(&b, &c, &filter);
	else if (format == FORMAT_OPENMETRICS)
		render_openmetrics(&b, &c, &filter);
	else
		render_text(&b, &c, &filter);
	negotiate_filter_free(&filter);
	model_collection_free(&c);
	const char *type = format == FORMAT_PROTOBUF      ? PROTOBUF_CONTENT_TYPE
	                 : format == FORMAT_OPENMETRICS ? RENDER_OPENMETRICS_TYPE
	                                                : RENDER_CONTENT_TYPE;
	int code = 200;
	if (b.oom) {
		static const char msg[] = "out of memory\n";
		reply(req, "503 Service Unavailable", text_plain, "", msg, sizeof msg - 1, head);
		code = 503;
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
