/* SPDX-License-Identifier: MIT */
/*
 * poolstat.c — the pool gauges, computed at scrape time from the live
 * workers' facts (see poolstat.h and store/pool.h).
 *
 * Who samples the listen queue: this, the metrics program, at every
 * scrape, from the socket identities the workers recorded (fd 0's inode).
 * A pool that stopped completing requests (every worker hung, stopped, or
 * slow) is exactly when a queue matters, and exactly when its workers
 * cannot say anything; the metrics program is another process, usually in
 * a pool of its own.  The workers also sample it themselves, at most once
 * a second after a request, and keep the most they saw (a fact of theirs):
 * that catches a burst between two scrapes while the pool works through
 * it.  The most seen is then the largest of what the live workers saw and
 * of what this scrape sees.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics/own.h"
#include "metrics/poolstat.h"
#include "store/listener.h"

/* One program's figures. */
struct program {
	const char *name;
	double workers, busy, idle, oldest;
	double waiting, limit, most;
	int listening, read; /* it serves a listener; one was found by this scrape */
};

static size_t program_of(struct program *p, size_t *np, const char *name)
{
	for (size_t i = 0; i < *np; i++)
		if (strcmp(p[i].name, name) == 0)
			return i;
	memset(&p[*np], 0, sizeof p[0]);
	p[*np].name = name;
	return (*np)++;
}

/* The distinct listeners of the workers, each with the most its workers saw. */
static size_t listeners_of(const struct pool_facts *w, size_t n, struct listener *l, double *most)
{
	size_t nl = 0;
	for (size_t i = 0; i < n; i++) {
		if (!w[i].listener.family)
			continue;
		size_t k = 0;
		while (k < nl && !(l[k].family == w[i].listener.family && l[k].inode == w[i].listener.inode))
			k++;
		if (k == nl) {
			l[nl] = w[i].listener;
			most[nl++] = 0;
		}
		if (w[i].queue_max > most[k])
			most[k] = w[i].queue_max;
	}
	return nl;
}

/* Adds listener k's figures to each program that serves it (once). */
static void add_listener(struct program *p, size_t np, const struct pool_facts *w, size_t n,
                         const struct listener *l, double most, const struct listener_queue *q,
                         int found)
{
	for (size_t j = 0; j < np; j++) {
		int serves = 0;
		for (size_t i = 0; i < n && !serves; i++)
			serves = w[i].listener.family == l->family && w[i].listener.inode == l->inode &&
			         strcmp(w[i].program, p[j].name) == 0;
		if (!serves)
			continue;
		p[j].listening = 1;
		double now = found ? q->waiting : 0;
		p[j].most += now > most ? now : most;
		if (found) {
			p[j].read = 1;
			p[j].waiting += q->waiting;
			p[j].limit += q->limit;
		}
	}
}

/* One gauge family {program} over the programs for which want is set. */
static int family(struct collection *c, const char *name, const char *help,
                  const struct program *p, size_t np, size_t field, int want_read,
                  const char **names, double *v)
{
	int k = 0;
	for (size_t i = 0; i < np; i++) {
		if ((want_read == 1 && !p[i].read) || (want_read == 2 && !p[i].listening))
			continue;
		names[k] = p[i].name;
		memcpy(&v[k++], (const char *)&p[i] + field, sizeof(double));
	}
	return k ? own_add_gauge(c, name, help, "program", names, v, k) : 0;
}

int poolstat_add(struct collection *c, const struct pool_facts *w, size_t n, double now)
{
	model_collection_drop(c, POOL_FACTS);
	if (!n)
		return 0;
	struct program *p = calloc(n, sizeof *p);
	struct listener *l = calloc(n, sizeof *l);
	struct listener_queue *q = calloc(n, sizeof *q);
	unsigned char *found = calloc(n, 1);
	double *most = calloc(n, sizeof *most), *v = calloc(n, sizeof *v);
	const char **names = calloc(n, sizeof *names);
	int rc = -1;
	if (!p || !l || !q || !found || !most || !v || !names)
		goto done;
	size_t np = 0;
	for (size_t i = 0; i < n; i++) {
		struct program *g = &p[program_of(p, &np, w[i].program)];
		g->workers++;
		if (w[i].request_start > 0) {
			double age = now - w[i].request_start;
			g->busy++;
			if (age > g->oldest)
				g->oldest = age;
		}
		g->idle = g->workers - g->busy;
	}
	size_t nl = listeners_of(w, n, l, most);
	if (nl && listener_read(l, nl, q, found) < 0)
		memset(found, 0, nl); /* no sock_diag here: the queue is not shown, never made up */
	for (size_t k = 0; k < nl; k++)
		add_listener(p, np, w, n, &l[k], most[k], &q[k], found[k]);
#define FIELD(f) offsetof(struct program, f)
	rc = family(c, "promfcgi_pool_workers", "Live worker processes of the program.", p, np,
	            FIELD(workers), 0, names, v) ||
	     family(c, "promfcgi_pool_busy_workers", "Workers inside a request now.", p, np,
	            FIELD(busy), 0, names, v) ||
	     family(c, "promfcgi_pool_idle_workers", "Workers waiting for a connection now.", p, np,
	            FIELD(idle), 0, names, v) ||
	     family(c, "promfcgi_pool_oldest_request_seconds",
	            "Age of the oldest request in flight over live workers (0: none).", p, np,
	            FIELD(oldest), 0, names, v) ||
	     family(c, "promfcgi_pool_listen_queue",
	            "Connections waiting to be accepted on the workers' listening sockets now.", p, np,
	            FIELD(waiting), 1, names, v) ||
	     family(c, "promfcgi_pool_listen_queue_limit",
	            "Backlog limit of the workers' listening sockets.", p, np, FIELD(limit), 1, names,
	            v) ||
	     family(c, "promfcgi_pool_listen_queue_max",
	            "Most connections seen waiting: by live workers (at most once a second, after a "
	            "request) and by this scrape.", p, np, FIELD(most), 2, names, v)
	         ? -1
	         : 0;
#undef FIELD
done:
	own_sort(c);
	free(p);
	free(l);
	free(q);
	free(found);
	free(most);
	free(v);
	free(names);
	return rc;
}
