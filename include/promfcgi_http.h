/* SPDX-License-Identifier: MIT */
/*
 * promfcgi_http.h — request metrics for any FastCGI or CGI app, in a few
 * lines: route templates, the status the app sent, exemplars from W3C
 * traceparent, an accept loop whose graceful stop never cuts a request, and
 * CGI when the program is not started as a FastCGI worker.
 *
 *   static const char *const routes[] = {"/", "/orders", "/orders/{id}", "/static/" "*", NULL};
 *
 *   static int handle(FCGX_Request *req, pf_request *r, void *arg)
 *   {
 *       (void)arg;
 *       switch (pf_request_route_index(r)) {        // -1: no template matched
 *       case 2: ...  pf_request_param(r, "id") ...
 *       }
 *       FCGX_FPrintF(req->out, "Status: 404 Not Found\r\n\r\n");
 *       return 0;                                    // < 0: failed, counted as 500
 *   }
 *
 *   int main(void) { return pf_serve(pf_http_new(routes, NULL), handle, NULL); }
 *
 * Per request the layer records requests_total{method,route,code},
 * request_duration_seconds{method,route} (classic buckets and native ones,
 * schema 3: pf_histogram_native) and active_requests: method folded
 * to GET HEAD POST PUT DELETE PATCH OPTIONS or "other"; route the template
 * that matched, else "unmatched"; code the status the app actually sent.
 *
 * Route templates: "/" and literal segments match themselves; "{name}" one
 * non-empty segment; "*", as the last segment only, one or more segments.
 * The most specific template wins (compared segment by segment, left to
 * right: literal, then {name}, then *).  A request's path is taken without
 * its query string; it is split at "/", each segment percent-decoded (so
 * "%2F" is data inside a segment, never a separator), empty and "."
 * segments dropped and ".." removing the one before (never above the root):
 * "/orders/7", "/orders//7/", "/x/../orders/%37" and "/orders/./7?a=b" are
 * one route.  A path that is not valid UTF-8, holds an encoded NUL, a bad
 * %-escape, or is longer than PF_PATH_MAX bytes matches no template.
 *
 * Everything here is built on promfcgi.h: a failure of the store never
 * reaches the app, and the API is not thread-safe (one thread records).
 */
#ifndef PROMFCGI_HTTP_H
#define PROMFCGI_HTTP_H

#include <fcgiapp.h>
#include <time.h>

#include "promfcgi.h"

#define PF_PATH_MAX 8192    /* request paths longer than this match no template */
#define PF_ROUTES_MAX 256   /* templates per pf_http, skip list included */
#define PF_SEGMENTS_MAX 128 /* segments of a path or template */

typedef struct pf_http pf_http;

/* Options.  A NULL pointer gives the defaults: the families and names of
 * the hello app.  Set size to sizeof (struct pf_http_options), e.g.
 *   struct pf_http_options o = {.size = sizeof o, .prefix = "myapp_"};
 * and leave the fields you do not use zero: later releases add fields at
 * the end, and the library reads the first size bytes, so a program built
 * against this header keeps working with them (docs/abi.md).  size 0 is
 * refused (logged); a size larger than the library's, with the part it does
 * not know set, is refused too (the program needs a newer library). */
struct pf_http_options {
	size_t size;                     /* sizeof (struct pf_http_options) */
	const char *prefix;              /* prepended to the family names; NULL: none */
	const char *const *const_labels; /* "name", "value", ..., NULL: on every series */
	const double *buckets;           /* classic duration buckets; NULL: pf_default_buckets */
	int nbuckets;
	const char *const *skip;         /* templates whose requests are not recorded */
};

/* Declares the app's routes (NULL-terminated templates; NULL for none)
 * once, after any fork: it opens the store (pf_open(NULL): PROMFCGI_DB) if
 * no pf_open came before, so the app's own families may be defined right
 * after it, before pf_serve.  Returns NULL, and logs one line naming the
 * template or option and the rule, if a template is invalid, two templates
 * have the same shape (they would match the same paths), there are more
 * than PF_ROUTES_MAX, an option is invalid (size, prefix, const_labels,
 * buckets, skip), or the families cannot be defined (a clash with an
 * earlier definition of the same names: logged by pf_counter and the like). */
PF_API pf_http *pf_http_new(const char *const *routes, const struct pf_http_options *opt);
PF_API void pf_http_free(pf_http *h);

/* One request being measured: declare one (on the stack) and hand it to
 * pf_request_begin.  Its contents are the library's, and private: this
 * release uses fewer than PF_REQUEST_SIZE bytes of it, so later ones may
 * keep more per request without changing its size, which is the ABI
 * (docs/abi.md). */
#define PF_REQUEST_SIZE 512
typedef struct pf_request {
	union {
		unsigned char bytes[PF_REQUEST_SIZE];
		void *align_pointer;
		long double align_long_double;
		long long align_long_long;
	} reserved;
} pf_request;

/* Starts measuring the request in req: matches its route, raises
 * active_requests, and reads the Status header from what the app writes to
 * req->out.  In CGI (a request pf_serve made from the environment) the path
 * is PATH_INFO, empty meaning "/"; in FastCGI, REQUEST_URI. */
PF_API void pf_request_begin(pf_http *h, pf_request *r, FCGX_Request *req);
/* The same without libfcgi streams (an fcgi_stdio.h app): method and path
 * as the server gave them (path may hold a query string); the app must then
 * give its status with pf_request_status. */
PF_API void pf_request_begin_env(pf_http *h, pf_request *r, const char *method, const char *path);
/* The status the app sends, if it would rather say it than have it read:
 * 100 to 599; another is logged and counted as 500. */
PF_API void pf_request_status(pf_request *r, int code);
/* Records the request: count, duration, active_requests back down, with an
 * exemplar if the request carried a valid traceparent.  Call it before
 * FCGX_Finish_r, so a response the client has received is always counted. */
PF_API void pf_request_end(pf_request *r);

/* The template that matched (as declared), or NULL; its index in routes,
 * or -1; the decoded value of a {name} segment, or of "*" as "*" (the rest
 * of the path, from its first segment), or NULL if the matched template has
 * no such segment (or none matched). */
PF_API const char *pf_request_route(const pf_request *r);
PF_API int pf_request_route_index(const pf_request *r);
PF_API const char *pf_request_param(const pf_request *r, const char *name);

/* A handler answers one request on req->out (a CGI header block, a blank
 * line, the body) and returns 0, or < 0 if it failed: if nothing of its
 * answer has left the buffer yet, it is replaced by a 500. */
typedef int (*pf_handler)(FCGX_Request *req, pf_request *r, void *arg);

/* The whole program: opens the store, then serves FastCGI requests until a
 * stop signal (SIGTERM, SIGINT, SIGUSR1), or, when fd 0 is not a listening
 * socket, exactly one CGI request (RFC 3875); closes the store.  h may be
 * NULL: no request metrics (the metrics program's own loop).  A NULL h
 * after pf_http_new refused its routes is served all the same, the app
 * being the point, with one more line on stderr saying it runs without
 * request metrics.  A NULL handler is refused (logged): exit status 2.
 * Frees h.  Returns the process's exit status. */
PF_API int pf_serve(pf_http *h, pf_handler handler, void *arg);

/* The accept loop pf_serve uses, for apps that keep their own.  Stop
 * signals are blocked except while waiting for a connection, so a request
 * in hand is always finished (libfcgi takes an EINTR while reading a
 * request as its end).  pf_accept_init: 0, or -1 if FastCGI cannot be set
 * up on fd 0.  pf_accept_next: 1 when a request is accepted (finish it with
 * FCGX_Finish_r), 0 at a stop signal or a socket failure.  Every failure,
 * there or in pf_accept_init or pf_accept_wait, is logged on stderr with its
 * reason; pf_serve then exits 1, and 0 at a stop signal. */
PF_API int pf_accept_init(FCGX_Request *req);
PF_API int pf_accept_next(FCGX_Request *req);
/* For fcgi_stdio.h apps (FCGI_Accept): call pf_accept_init(NULL) once, then
 * before each FCGI_Accept() call pf_accept_wait(): 1 when a connection is
 * waiting, 0 at a stop signal.  FCGI_Accept() then returns -EAGAIN if
 * another worker took the connection first: wait again. */
PF_API int pf_accept_wait(void);
/* Whether this process was started as CGI (fd 0 is not a listening socket). */
PF_API int pf_is_cgi(void);

/* Serves the store's exposition on req, as the metrics program does:
 * GET and HEAD (else 405), text 0.0.4 or OpenMetrics by Accept or ?format=,
 * ?name[]= filters, gzip; 503 with a reason if the store cannot be read.
 * Returns the HTTP status sent. */
PF_API int pf_metrics_respond(FCGX_Request *req);

#endif
