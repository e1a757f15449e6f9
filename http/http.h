/* SPDX-License-Identifier: MIT */
/*
 * http.h — what http.c (a request measured) gives serve.c (pf_serve's
 * loop): what a pf_request holds, the library's own state of one request,
 * kept in the PF_REQUEST_SIZE bytes the caller reserves (promfcgi_http.h;
 * callers see a size and an alignment only, so this struct may change
 * between releases as long as it fits); the 500 that replaces a failed
 * handler's answer; whether pf_http_new refused.
 */
#ifndef PROMFCGI_HTTP_INTERNAL_H
#define PROMFCGI_HTTP_INTERNAL_H

#include <time.h>

#include "promfcgi_http.h"

struct request {
	pf_http *http;
	struct timespec start;
	int method, route, status, skip;
	char trace_id[33];           /* from HTTP_TRACEPARENT, "" if none valid */
	FCGX_Stream *out;            /* whose output the status is read from */
	unsigned char *mark, *first; /* unread output; where it began */
	int state, linelen, flushed, location;
	long scanned;
	char line[24];               /* the start of a header line cut by a buffer's end */
};

_Static_assert(sizeof(struct request) <= sizeof(pf_request),
               "struct request must fit in the bytes pf_request reserves");
_Static_assert(_Alignof(struct request) <= _Alignof(pf_request),
               "pf_request must be aligned for struct request");

/* The library's view of the caller's pf_request.  Only the library reads
 * or writes it, always through this view (the caller passes it along). */
static inline struct request *request_of(pf_request *r)
{
	return (struct request *)(void *)r;
}
static inline const struct request *request_of_const(const pf_request *r)
{
	return (const struct request *)(const void *)r;
}

/* A handler failed (pf_serve): if nothing of its answer has left yet, it is
 * replaced by a 500 and counted so; once some has, the status on the wire
 * stands and is what is counted. */
void request_answer_500(FCGX_Request *req, pf_request *r);

/* Whether a pf_http_new of this process refused: pf_serve given NULL then
 * says it serves without request metrics, where NULL on purpose (the
 * metrics program's loop) says nothing. */
int http_new_refused(void);

#endif
