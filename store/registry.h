/* SPDX-License-Identifier: MIT */
/*
 * registry.h — what the recording API (registry.c, promfcgi.h) offers the
 * layers above it beyond the public header: another process's errors
 * (beacon.c), and a request's part in its worker's pool metrics
 * (store/pool.h), which the HTTP layer reports.
 */
#ifndef PROMFCGI_REGISTRY_H
#define PROMFCGI_REGISTRY_H

#include <stdint.h>

#include "store/log.h"

/* Adds another process's store errors, by kind, to this process's
 * promfcgi_store_errors_total: the metrics program counts there what a
 * process that cannot record reports (beacon.c), so that a scrape shows it.
 * Not logged, not counted as this process's own error. */
void registry_add_errors(const uint64_t errors[LOG_OP_COUNT]);

/* A request begins at start (CLOCK_MONOTONIC seconds: the worker's fact
 * the metrics program reads to age it) after waiting queue seconds since
 * the front end's stamp (< 0: no stamp); it ends after seconds (busy
 * seconds, slow requests).  Each is one atomic change, or part of the
 * caller's (pf_begin).  Nothing in a process that is no FastCGI worker. */
void registry_request_begin(double start, double queue);
void registry_request_end(double seconds);

#endif
