/* SPDX-License-Identifier: MIT */
/*
 * request_bench.c — what the library costs one FastCGI request, in
 * instructions: N requests through pf_request_begin / the app's answer /
 * pf_request_end / pf_maintain, as pf_serve runs them, with the parameters
 * nginx's fastcgi_params sends (and, with "stamped", nginx's
 * X-Request-Start), on a worker's unix listener (fd 0, as spawn-fcgi gives
 * it: what makes the process a worker with pool metrics) but no connection.
 * Run under callgrind by
 * tests/bench/request_profile, which counts only the loop (a callgrind
 * toggle around it).
 *
 * Usage: request_bench DB N plain|stamped
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "promfcgi_http.h"

/* An output stream that drops what it is given, as a socket would take it. */
struct sink {
	FCGX_Stream s;
	unsigned char buf[8192];
};

static void sink_empty(FCGX_Stream *s, int closing)
{
	struct sink *k = s->data;
	(void)closing;
	s->wrNext = k->buf;
}

static void sink_init(struct sink *k)
{
	memset(&k->s, 0, sizeof k->s);
	k->s.data = k;
	k->s.emptyBuffProc = sink_empty;
	k->s.wrNext = k->buf;
	k->s.stop = k->buf + sizeof k->buf;
	k->s.rdNext = k->s.stop;
}

static const char answer[] = "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             "Content-Length: 19\r\n\r\nHello, Prometheus!\n";

int main(int argc, char **argv)
{
	static const char *const routes[] = {"/", NULL};
	if (argc != 4 || (strcmp(argv[3], "plain") != 0 && strcmp(argv[3], "stamped") != 0)) {
		fprintf(stderr, "usage: %s DB N plain|stamped\n", argv[0]);
		return 2;
	}
	long n = atol(argv[2]);
	char stamp[64];
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	snprintf(stamp, sizeof stamp, "HTTP_X_REQUEST_START=t=%lld.%03ld", (long long)t.tv_sec,
	         t.tv_nsec / 1000000);
	/* nginx 1.22's /etc/nginx/fastcgi_params, for GET / from curl */
	char *env[] = {"QUERY_STRING=", "REQUEST_METHOD=GET", "CONTENT_TYPE=", "CONTENT_LENGTH=",
	               "SCRIPT_NAME=/", "REQUEST_URI=/", "DOCUMENT_URI=/",
	               "DOCUMENT_ROOT=/usr/share/nginx/html", "SERVER_PROTOCOL=HTTP/1.1",
	               "REQUEST_SCHEME=http", "GATEWAY_INTERFACE=CGI/1.1",
	               "SERVER_SOFTWARE=nginx/1.22.1", "REMOTE_ADDR=127.0.0.1", "REMOTE_PORT=40000",
	               "SERVER_ADDR=127.0.0.1", "SERVER_PORT=8080", "SERVER_NAME=localhost",
	               "REDIRECT_STATUS=200", "HTTP_HOST=127.0.0.1:8080",
	               "HTTP_USER_AGENT=curl/7.88.1", "HTTP_ACCEPT=*/*", NULL, NULL};
	if (strcmp(argv[3], "stamped") == 0)
		env[sizeof env / sizeof env[0] - 2] = stamp;
	/* a listener on fd 0, beside the store: a worker's */
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%.90s.sock", argv[1]);
	unlink(a.sun_path);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0 ||
	    dup2(s, 0) != 0) {
		perror("request_bench: listener");
		return 1;
	}
	close(s);
	if (pf_open(argv[1]) != 0)
		return 1;
	pf_http *h = pf_http_new(routes, NULL);
	struct sink out;
	FCGX_Request req;
	memset(&req, 0, sizeof req);
	req.envp = env;
	req.out = &out.s;
	req.listen_sock = 0; /* FastCGI, not CGI */
	CALLGRIND_TOGGLE_COLLECT;
	for (long i = 0; i < n; i++) {
		pf_request r;
		sink_init(&out);
		pf_request_begin(h, &r, &req);
		FCGX_PutStr(answer, sizeof answer - 1, req.out);
		pf_request_end(&r);
		pf_maintain();
	}
	CALLGRIND_TOGGLE_COLLECT;
	pf_http_free(h);
	pf_close();
	unlink(a.sun_path);
	return 0;
}
