/* SPDX-License-Identifier: MIT */
/*
 * registry_internal.h — what the three files of the recording API share
 * (registry.c: a process's store, its own families and its end;
 * registry_define.c: families and series handles; registry_record.c: the
 * writes through them): the handles' shapes and the one registry a
 * process has.  Private to store/registry*.c.
 */
#ifndef PROMFCGI_REGISTRY_INTERNAL_H
#define PROMFCGI_REGISTRY_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include "promfcgi.h"
#include "store/blocks.h"
#include "store/hash.h"
#include "store/listener.h"
#include "store/log.h"
#include "store/model.h"
#include "store/path.h"
#include "store/stage.h"

struct pf_family {
	uint32_t index; /* in the staging file */
	struct family_def def;
};

struct pf_series {
	struct pf_family *family;
	uint64_t cell; /* its first cell in the staging file */
	double *at;    /* where that cell is mapped, while gen is the stage's */
	uint32_t gen;
	uint32_t slot;
	uint64_t *ex;  /* its exemplar records by bucket (stage.h), NULL until its first */
};

/* Families and series are as many as memory and the staging file's disk
 * allow: handles live in pools (their addresses never change), found by
 * hash; the staging file grows with them (stage_format.h). */
struct registry {
	struct stage stage;
	char db_path[PATH_BYTES];
	int open;
	struct blocks families;      /* struct pf_family, by index in the staging file */
	uint32_t nfamilies;
	struct hash_table by_name; /* families by name */
	struct blocks series;        /* struct pf_series, by slot index */
	uint32_t nseries;          /* made (the pool's items written) */
	struct hash_table by_key;  /* slots by (family, label values) */
	pf_series *errors[LOG_OP_COUNT]; /* promfcgi_store_errors_total{op} */
	pf_series *cpu, *rss, *vm, *fds; /* process_*{program} */
	struct {                         /* a FastCGI worker's pool metrics (pool.h) */
		pf_series *start, *queue_max; /* its facts: a request's start, the most waiting */
		pf_series *busy, *slow, *queue; /* busy seconds, slow requests, queue time */
		struct listener listener;     /* fd 0 */
		double slow_after, most_waiting;
	} pool;
	time_t last_check;               /* of the staging file, by pf_maintain */
	int oneshot;                     /* a CGI process: journal.h */
	int marker;                      /* fd of its marker + 1, 0 if none */
};
extern struct registry registry;

/* Where series s's cells are mapped: a pointer kept in the handle, found
 * again only after the staging file was made again (stage_check). */
static inline double *cells_of(pf_series *s)
{
	if (s->gen != registry.stage.gen) {
		s->at = stage_cell(&registry.stage, s->cell);
		s->gen = registry.stage.gen;
	}
	return s->at;
}

/* Ends a write made outside pf_begin/pf_commit (commits it), or leaves it
 * to the caller's pf_commit; returns rc (registry_record.c). */
int registry_change(int rc);

#endif
