/* SPDX-License-Identifier: MIT */
/*
 * registry.h — what the layers above may ask of the recording API beyond
 * promfcgi.h (registry.c): a request's part in its worker's pool metrics
 * (store/pool.h), which the HTTP layer reports.
 */
#ifndef PROMFCGI_REGISTRY_H
#define PROMFCGI_REGISTRY_H

/* A request begins at start (CLOCK_MONOTONIC seconds: the worker's fact
 * the metrics program reads to age it) after waiting queue seconds since
 * the front end's stamp (< 0: no stamp); it ends after seconds (busy
 * seconds, slow requests).  Each is one atomic change, or part of the
 * caller's (pf_begin).  Nothing in a process that is no FastCGI worker. */
void registry_request_begin(double start, double queue);
void registry_request_end(double seconds);

#endif
