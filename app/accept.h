/*
 * accept.h — the FastCGI accept loop promfcgi's programs share, with a
 * graceful stop that never cuts a request short.
 */
#ifndef PROMFCGI_ACCEPT_H
#define PROMFCGI_ACCEPT_H

#include <fcgiapp.h>

/* FCGX_Init, the request, and the stop signals (SIGTERM, SIGINT, SIGUSR1).
 * Returns 0, or -1 if FastCGI cannot be set up. */
int accept_init(FCGX_Request *req);

/* Waits for the next request: 1 when one is accepted (finish it with
 * FCGX_Finish_r), 0 when a stop signal came or the socket failed. */
int accept_next(FCGX_Request *req);

#endif
