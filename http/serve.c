/* SPDX-License-Identifier: MIT */
/*
 * serve.c — pf_serve (promfcgi_http.h): a whole FastCGI or CGI program
 * around one handler.
 *
 * FastCGI: the accept loop of accept.c; each request measured from accept
 * to just before FCGX_Finish_r; at a stop signal, the store is closed (the
 * worker's totals folded) and the program exits 0; if the listening socket
 * fails, the same, but it exits 1 after saying why.
 *
 * CGI (RFC 3875): one request from the environment, stdin and stdout.  The
 * handler writes to the same FCGX_Stream interface as under FastCGI: the
 * streams here are libfcgi's public struct with buffer procedures of our
 * own on fds 0, 1 and 2, so FCGX_PutStr, FCGX_FPrintF, FCGX_GetStr and the
 * status tap work unchanged.  The request is recorded before the last
 * bytes of the response leave and stdout is closed: a response the client
 * has complete is always counted, and nothing the store does afterwards can
 * keep the client waiting.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "promfcgi_http.h"
#include "store/log.h"
#include "http/accept.h"
#include "http/http.h"
#include "http/route.h"
#include "http/serve.h"
#include "store/notice.h"

extern char **environ;

/* Run between requests (serve.h); set by the metrics side. */
static void (*idle_hook)(void);

void serve_set_idle(void (*idle)(void))
{
	idle_hook = idle;
}

static void handle_request(pf_http *h, pf_handler handler, void *arg, FCGX_Request *req)
{
	pf_request r;
	/* h NULL (the metrics program): no request metrics, but the worker's
	 * pool metrics all the same (busy, its request's age, queue time) */
	pf_request_begin(h, &r, req);
	if (handler(req, &r, arg) < 0)
		request_answer_500(req, &r);
	pf_request_end(&r);
}

/* --- CGI streams on plain file descriptors ----------------------------- */

struct cgi_stream {
	FCGX_Stream s;
	int fd;
	long long left; /* reader: bytes of the body still to read (CONTENT_LENGTH) */
	unsigned char buf[8192];
};

static void cgi_empty(FCGX_Stream *s, int closing)
{
	struct cgi_stream *c = s->data;
	const unsigned char *p = c->buf;
	size_t n = (size_t)(s->wrNext - c->buf);
	(void)closing; /* the fd is closed by the caller, once */
	while (n > 0 && !s->isClosed) {
		ssize_t w = write(c->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) { /* the server went away: further output goes nowhere */
			s->FCGI_errno = errno ? errno : EPIPE;
			s->isClosed = 1;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	s->wrNext = c->buf;
}

static void cgi_fill(FCGX_Stream *s)
{
	struct cgi_stream *c = s->data;
	ssize_t r = 0;
	if (c->left > 0) {
		size_t want = c->left < (long long)sizeof c->buf ? (size_t)c->left : sizeof c->buf;
		do
			r = read(c->fd, c->buf, want);
		while (r < 0 && errno == EINTR);
	}
	s->rdNext = s->stopUnget = c->buf;
	if (r <= 0) {
		if (r < 0)
			s->FCGI_errno = errno;
		s->stop = c->buf;
		s->isClosed = 1;
		return;
	}
	c->left -= r;
	s->stop = c->buf + r;
}

static void cgi_stream_init(struct cgi_stream *c, int fd, int reader)
{
	/* not the buffer: every page touched is a page fault, at every request */
	memset(c, 0, offsetof(struct cgi_stream, buf));
	c->fd = fd;
	c->s.data = c;
	c->s.isReader = reader;
	if (reader) {
		const char *len = getenv("CONTENT_LENGTH");
		c->left = len ? strtoll(len, NULL, 10) : 0;
		c->s.fillBuffProc = cgi_fill;
		c->s.rdNext = c->s.stop = c->s.stopUnget = c->s.wrNext = c->buf;
	} else {
		c->s.emptyBuffProc = cgi_empty;
		c->s.wrNext = c->buf;
		c->s.stop = c->buf + sizeof c->buf;
		c->s.rdNext = c->s.stop;
	}
}

/* Reads what is left of the request body (CONTENT_LENGTH), up to a bound.
 * Apache's mod_cgid hands a CGI program a socket: a program that exits
 * with body bytes unread makes the kernel reset it, and the client gets a
 * cut or empty answer (a 405 to a POST, say). */
#define CGI_DRAIN_MAX (16 << 20)
static void drain(FCGX_Stream *in)
{
	char buf[4096];
	for (long total = 0; total < CGI_DRAIN_MAX;) {
		int n = FCGX_GetStr(buf, sizeof buf, in);
		if (n <= 0)
			break;
		total += n;
	}
}

static int serve_cgi(pf_http *h, pf_handler handler, void *arg)
{
	static struct cgi_stream in, out, err;
	FCGX_Request req;
	/* a client gone is a failed write, not a dead process */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		log_line("serve: ignoring SIGPIPE: %s", strerror(errno));
	cgi_stream_init(&in, 0, 1);
	cgi_stream_init(&out, 1, 0);
	cgi_stream_init(&err, 2, 0);
	memset(&req, 0, sizeof req);
	req.in = &in.s;
	req.out = &out.s;
	req.err = &err.s;
	req.envp = environ;
	req.ipcFd = -1;
	req.listen_sock = -1; /* not from a listening socket: CGI (see http.c) */
	handle_request(h, handler, arg, &req);
	drain(&in.s);
	/* Counted first (pf_close makes the count safe from a kill), then the
	 * last bytes go and stdout closes: the client has the whole answer. */
	pf_close();
	FCGX_FClose(&err.s);
	FCGX_FClose(&out.s);
	close(1);
	return 0;
}

static int serve(pf_http *h, pf_handler handler, void *arg)
{
	FCGX_Request req;
	if (pf_is_cgi()) {
		if (!getenv("REQUEST_METHOD")) {
			fprintf(stderr, "%s: not started by a FastCGI server (no listening socket on fd 0)"
			                " nor as CGI (no REQUEST_METHOD)\n", program_invocation_short_name);
			return 2;
		}
		pf_open(NULL);
		return serve_cgi(h, handler, arg);
	}
	pf_open(NULL); /* on failure it logs and counts in memory: serve anyway */
	if (pf_accept_init(&req) != 0) {
		fprintf(stderr, "%s: cannot initialise FastCGI on fd 0\n", program_invocation_short_name);
		pf_close();
		return 1;
	}
	enum accept_result r;
	while ((r = accept_next(&req)) == ACCEPT_REQUEST) {
		handle_request(h, handler, arg, &req);
		FCGX_Finish_r(&req);
		pf_maintain();
		if (idle_hook)
			idle_hook(); /* the metrics program's folds, after the answer left */
	}
	/* a stop signal: 0; a listening socket that failed (accept_next said
	 * why): 1, so that a supervisor sees a worker that could not go on */
	pf_close();
	if (r == ACCEPT_ERROR) {
		log_line("%s: stops serving: its listening socket failed; exit 1",
		         program_invocation_short_name);
		return 1;
	}
	return 0;
}

int pf_serve(pf_http *h, pf_handler handler, void *arg)
{
	if (!handler) {
		notice("pf_serve: handler is NULL: nothing would answer the requests; not serving");
		pf_http_free(h);
		return 2;
	}
	/* The app is the point: serve it without request metrics rather than
	 * take the site down for a mistake in its routes, and say so once. */
	if (!h && http_new_refused())
		notice("pf_serve: serving without request metrics: pf_http_new refused its routes "
		        "(the line above says why) and gave NULL");
	int rc = serve(h, handler, arg);
	pf_http_free(h);
	return rc;
}
