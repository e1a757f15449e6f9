/* SPDX-License-Identifier: MIT */
/*
 * hello.c — the FastCGI (or CGI) hello app: "Hello, Prometheus!" on /,
 * 404 elsewhere, 405 with Allow for methods other than GET and HEAD.
 *
 * Every request is recorded by the library's HTTP layer (http/http.c):
 * requests_total{method,route,code}, request_duration_seconds and
 * active_requests, with the code read from the Status line written here.
 */
#include <string.h>

#include <promfcgi_http.h>

static const char *const routes[] = {"/", NULL};

#define HEAD(status, extra, length) \
	"Status: " status "\r\n" extra "Content-Type: text/plain; charset=utf-8\r\n" \
	"Content-Length: " length "\r\n\r\n"
static const char *const answers[][2] = {
    {HEAD("200 OK", "", "19"), "Hello, Prometheus!\n"},
    {HEAD("404 Not Found", "", "10"), "Not Found\n"},
    {HEAD("405 Method Not Allowed", "Allow: GET, HEAD\r\n", "19"), "Method Not Allowed\n"},
};

static int hello(FCGX_Request *req, pf_request *r, void *arg)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	int head = method && strcmp(method, "HEAD") == 0;
	int a = pf_request_route_index(r) < 0                   ? 1
	      : !head && (!method || strcmp(method, "GET") != 0) ? 2
	                                                          : 0;
	(void)arg;
	FCGX_PutS(answers[a][0], req->out);
	if (!head)
		FCGX_PutS(answers[a][1], req->out);
	return 0;
}

int main(void)
{
	return pf_serve(pf_http_new(routes, NULL), hello, NULL);
}
