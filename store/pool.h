/* SPDX-License-Identifier: MIT */
/*
 * pool.h — what a worker's staging file holds about the pool it serves in,
 * and how its end is counted (pool.c).
 *
 * Pool metrics are recorded through ordinary families, like the process
 * metrics: every series has a `program` label, none a pid.  Counters
 * (worker starts and deaths, busy seconds, slow requests, the queue-time
 * histogram) are folded as any counter is.  The figures that cannot be
 * summed over workers (the oldest request in flight, the listen queue)
 * come from one hidden gauge family of per-worker facts, POOL_FACTS, which
 * the metrics program reads from each live worker's file at scrape time
 * (metrics/pool.c) and never shows: a stopped worker's request start is in
 * its file, so its age is computed by the reader, not by the stopped
 * worker.
 */
#ifndef PROMFCGI_POOL_H
#define PROMFCGI_POOL_H

#include "store/listener.h"
#include "store/stage.h"

/* The hidden gauge family: labels program and fact, one series per fact. */
#define POOL_FACTS "promfcgi_pool_worker_facts"
#define POOL_FACTS_HELP "Facts of each worker for the pool metrics (read at scrape time, never shown)."
#define POOL_FACT_REQUEST_START "request_start"     /* CLOCK_MONOTONIC seconds; 0: idle */
#define POOL_FACT_LISTENER_FAMILY "listener_family" /* AF_UNIX, AF_INET, AF_INET6; 0: none */
#define POOL_FACT_LISTENER_INODE "listener_inode"
#define POOL_FACT_QUEUE_MAX "queue_max"             /* most seen waiting by this worker */

/* The recorded families (all with the label program). */
#define POOL_STARTS "promfcgi_pool_worker_starts_total"
#define POOL_STARTS_HELP "Worker processes started."
#define POOL_DEATHS "promfcgi_pool_worker_deaths_total"
#define POOL_DEATHS_HELP \
	"Worker processes ended: how=\"exit\" closed their store (a stop signal, or the program's " \
	"own end), how=\"signal\" did not (killed, crashed)."
#define POOL_BUSY "promfcgi_pool_busy_seconds_total"
#define POOL_BUSY_HELP "Time workers spent inside requests (skipped paths included)."
#define POOL_SLOW "promfcgi_pool_slow_requests_total"
#define POOL_SLOW_HELP "Requests that took longer than PROMFCGI_SLOW_SECONDS (default 5)."
#define POOL_QUEUE "promfcgi_pool_queue_seconds"
#define POOL_QUEUE_HELP \
	"Time from the front end's X-Request-Start stamp to the worker's start of the request."

/* The queue-time histogram's classic buckets: a healthy pool's waits are
 * below a millisecond (nginx's stamp has millisecond resolution), a
 * saturated one's grow to the request's own duration times the queue's
 * length over the workers, up to the front end's timeout (60 s). */
#define POOL_QUEUE_BUCKETS \
	{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
#define POOL_QUEUE_NBUCKETS 15

#define POOL_SLOW_DEFAULT 5.0 /* seconds, when PROMFCGI_SLOW_SECONDS is unset */

/* A worker's facts, as its file holds them. */
struct pool_facts {
	char program[PF_KEY_MAX]; /* the program label's value */
	double request_start;
	struct listener listener; /* family 0: fd 0 is no listener this reads */
	double queue_max;
};

/* Reads the facts of the worker whose file s is a copy of: 1, or 0 if it
 * holds none (a process of an earlier release, a CGI process's marker). */
int pool_facts_read(const struct stage_snapshot *s, struct pool_facts *out);

/* A worker's end, counted by whoever folds its file for the last time (the
 * worker itself in pf_close, or the metrics program that finds it dead):
 * in snap, a private copy of its file, POOL_DEATHS{how} of its program
 * becomes 1 (how "exit" if the file was marked closing: the process left
 * through pf_close; "signal" if not: killed, or crashed) and seq moves on
 * by one change, as if the worker had recorded it (a fold adds staged -
 * folded, and skips a file whose seq it has folded already: a worker
 * killed after the periodic fold of its last request is counted all the
 * same).  The fold that retires the file commits the count with the rest
 * of it: once, whoever makes it.  Returns 1 if it changed snap, 0 if the
 * file has no such series (a process of an earlier release, not a worker). */
int pool_count_end(struct stage_snapshot *snap, int closing);

#endif
