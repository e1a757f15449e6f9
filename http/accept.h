/* SPDX-License-Identifier: MIT */
/*
 * accept.h — the accept loop as pf_serve uses it (accept.c): it tells a
 * stop signal from a failure, which the public pf_accept_next (1 or 0,
 * promfcgi_http.h) cannot without changing its contract.
 */
#ifndef PROMFCGI_ACCEPT_H
#define PROMFCGI_ACCEPT_H

#include <fcgiapp.h>

/* Why accept_next returned. */
enum accept_result { ACCEPT_ERROR = -1, ACCEPT_STOP = 0, ACCEPT_REQUEST = 1 };

/* ACCEPT_REQUEST when a request is accepted (finish it with FCGX_Finish_r),
 * ACCEPT_STOP at a stop signal, ACCEPT_ERROR when the listening socket on
 * fd 0 failed: the reason (with strerror) is logged where it failed. */
enum accept_result accept_next(FCGX_Request *req);

#endif
