/*
 * hello.c — the FastCGI (or CGI) hello app: "Hello, Prometheus!" on /,
 * 404 elsewhere, 405 with Allow for methods other than GET and HEAD.
 *
 * Every request is recorded by the library's HTTP layer (store/http.c):
 * requests_total{method,route,code}, request_duration_seconds and
 * active_requests, with the code read from the Status line written here.
 */
#include <string.h>

#include "../store/promfcgi_http.h"

static const char *const routes[] = {"/", NULL};

static int hello(FCGX_Request *req, pf_request *r, void *arg)
{
	static const char type[] = "Content-Type: text/plain; charset=utf-8\r\n";
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	int get = method && strcmp(method, "GET") == 0, head = method && strcmp(method, "HEAD") == 0;
	const char *status = "200 OK", *extra = "", *body = "Hello, Prometheus!\n";
	(void)arg;
	if (pf_request_route_index(r) < 0)
		status = "404 Not Found", body = "Not Found\n";
	else if (!get && !head)
		status = "405 Method Not Allowed", extra = "Allow: GET, HEAD\r\n",
		body = "Method Not Allowed\n";
	FCGX_FPrintF(req->out, "Status: %s\r\n%s%sContent-Length: %u\r\n\r\n", status, extra, type,
	             (unsigned)strlen(body));
	if (!head)
		FCGX_PutS(body, req->out);
	return 0;
}

int main(void)
{
	return pf_serve(pf_http_new(routes, NULL), hello, NULL);
}
