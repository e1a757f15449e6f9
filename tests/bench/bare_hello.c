/* SPDX-License-Identifier: MIT */
/*
 * bare_hello.c — the baseline for `make bench`: the same FastCGI hello as
 * app/hello.c (same routes, status codes, headers and body) with no metrics
 * at all.  promfcgi's hello is measured against this: whatever it costs
 * beyond it is the price of the metrics.
 *
 * Routing is done inline rather than through app/route.c so that nothing of
 * promfcgi is linked in; the answers match route.c for GET / and HEAD /,
 * which is all the benchmark sends.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <fcgiapp.h>

static void put(FCGX_Stream *out, const char *s)
{
	FCGX_PutStr(s, (int)strlen(s), out);
}

/* The path of REQUEST_URI without its query string is "/". */
static int is_root(const char *uri)
{
	return uri && uri[0] == '/' && (uri[1] == '\0' || uri[1] == '?');
}

static void respond(FCGX_Request *req)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	const char *uri = FCGX_GetParam("REQUEST_URI", req->envp);
	if (!uri)
		uri = FCGX_GetParam("SCRIPT_NAME", req->envp);
	int get = method && strcmp(method, "GET") == 0;
	int head = method && strcmp(method, "HEAD") == 0;
	const char *status, *body;
	if (!get && !head) {
		status = "Status: 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n";
		body = "Method Not Allowed\n";
	} else if (!is_root(uri)) {
		status = "Status: 404 Not Found\r\n";
		body = "Not Found\n";
	} else {
		status = "Status: 200 OK\r\n";
		body = "Hello, Prometheus!\n";
	}
	char length[64];
	snprintf(length, sizeof length, "Content-Length: %lu\r\n\r\n", (unsigned long)strlen(body));
	put(req->out, status);
	put(req->out, "Content-Type: text/plain; charset=utf-8\r\n");
	put(req->out, length);
	if (!head)
		put(req->out, body);
}

/* As in app/hello.c: sigaction without SA_RESTART, so a stop signal ends the
 * accept loop after the request in hand (signal() would restart accept). */
static void on_stop(int sig)
{
	(void)sig;
	FCGX_ShutdownPending();
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	FCGX_Request req;
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
		fprintf(stderr, "bare_hello: cannot initialise FastCGI\n");
		return 1;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		respond(&req);
		FCGX_Finish_r(&req);
	}
	return 0;
}
