/* SPDX-License-Identifier: MIT */
/*
 * poolstat.h — the pool's status at scrape time, as php-fpm's status page
 * gives it but per program and from every worker's file (poolstat.c).
 */
#ifndef PROMFCGI_POOLSTAT_H
#define PROMFCGI_POOLSTAT_H

#include <stddef.h>

#include "store/model.h"
#include "store/pool.h"

/* Adds to c, for each program among the n live workers' facts w[], the
 * gauges promfcgi_pool_workers, _busy_workers, _idle_workers and
 * _oldest_request_seconds (now: CLOCK_MONOTONIC seconds of this scrape),
 * and for the listening sockets they serve, read now through sock_diag,
 * _listen_queue, _listen_queue_limit and _listen_queue_max; removes the
 * hidden POOL_FACTS family; keeps c sorted by name.  -1 when out of memory
 * (c is then still valid to render and free). */
int poolstat_add(struct collection *c, const struct pool_facts *w, size_t n, double now);

#endif
