/*
 * metrics.c — the /metrics FastCGI program: folds the store, renders every
 * family in text format 0.0.4.  It knows no family at compile time except
 * its own, promfcgi_metric_handler_requests_total{code}, which counts its
 * scrapes apart from the app's requests_total.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <fcgiapp.h>

#include "../store/promfcgi.h"
#include "../store/scrape.h"
#include "buf.h"
#include "render.h"

enum { C_200, C_405, C_503, C_COUNT };
static const char *const code_names[C_COUNT] = {"200", "405", "503"};
static pf_series *scrapes[C_COUNT];

static void define_metrics(void)
{
	static const char *const labels[] = {"code", NULL};
	pf_family *f = pf_counter("promfcgi_metric_handler_requests_total",
	                          "Requests to the metrics endpoint, by HTTP status.", labels);
	for (int c = 0; c < C_COUNT; c++) {
		const char *v[] = {code_names[c]};
		scrapes[c] = pf_with(f, v); /* pre-initialised, as promhttp does */
	}
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

static int serve(FCGX_Request *req)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	int head = method && strcmp(method, "HEAD") == 0;
	if (!method || (!head && strcmp(method, "GET") != 0)) {
		static const char msg[] = "Method Not Allowed\n";
		reply(req, "405 Method Not Allowed", "text/plain; charset=utf-8", "Allow: GET, HEAD\r\n",
		      msg, sizeof msg - 1, 0);
		return C_405;
	}
	struct pf_collection c;
	char reason[300];
	if (pf_scrape(pf_db_path(), &c, reason, sizeof reason - 1) != 0) {
		strcat(reason, "\n");
		reply(req, "503 Service Unavailable", "text/plain; charset=utf-8", "", reason,
		      strlen(reason), head);
		return C_503;
	}
	struct buf b = {0};
	render_text(&b, &c);
	pf_collection_free(&c);
	if (b.oom) {
		static const char msg[] = "out of memory\n";
		buf_free(&b);
		reply(req, "503 Service Unavailable", "text/plain; charset=utf-8", "", msg,
		      sizeof msg - 1, head);
		return C_503;
	}
	reply(req, "200 OK", RENDER_CONTENT_TYPE, "", b.p ? b.p : "", b.len, head);
	buf_free(&b);
	return C_200;
}

static void on_stop(int sig)
{
	(void)sig;
	FCGX_ShutdownPending();
}

int main(void)
{
	FCGX_Request req;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop; /* no SA_RESTART: see app/hello.c */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pf_open(NULL);
	define_metrics();
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
		fprintf(stderr, "metrics.fcgi: cannot initialise FastCGI\n");
		return 1;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		pf_inc(scrapes[serve(&req)]);
		FCGX_Finish_r(&req);
		pf_maintain();
	}
	pf_scrape_close();
	pf_close();
	return 0;
}
