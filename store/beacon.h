/* SPDX-License-Identifier: MIT */
/*
 * beacon.h — a process that cannot record says so to the metrics program
 * (beacon.c): its store errors reach /metrics although its own counts do
 * not.
 */
#ifndef PROMFCGI_BEACON_H
#define PROMFCGI_BEACON_H

#include <stdint.h>
#include <sys/types.h>

#include "store/log.h"

#define BEACON_REASON_MAX 1024

/* One report, as the metrics program receives it. */
struct beacon_report {
	pid_t pid;                     /* the sender, as the kernel says (SCM_CREDENTIALS) */
	uid_t uid;
	uint64_t start;                /* its start time (with pid: one incarnation) */
	uint64_t errors[LOG_OP_COUNT]; /* its store errors since it began, by kind */
	char reason[BEACON_REASON_MAX]; /* what it logged about it */
};

/* Sends errors (counted since the last report that got through) and the
 * reason to whoever listens for the store at db_path.  1 if it got there,
 * 0 if nobody listens (keep them for the next report).  Never blocks. */
int beacon_send(const char *db_path, const uint64_t errors[LOG_OP_COUNT], const char *reason);

/* The worker's side, over beacon_send: counted holds this process's store
 * errors since it began (its own promfcgi_store_errors_total, by kind);
 * what the listener has not had yet is sent with reason, at most once a
 * second unless force.  beacon_delivered: what got through, which a staging
 * file made later must not show again; beacon_forget once it was taken out
 * of the counts. */
void beacon_call(const char *db_path, const uint64_t counted[LOG_OP_COUNT], const char *reason,
                 int force);
const uint64_t *beacon_delivered(void);
void beacon_forget(void);

/* Why this process cannot create its staging file in dir (errno err), for
 * its log and its report: the directory, the uid, the store and where its
 * path came from (PROMFCGI_DB or the default), and the fix. */
void beacon_explain(char *out, size_t len, const char *db_path, const char *dir, int err);

/* Listens for the reports of processes using the store at db_path: a
 * socket (non-blocking), or -1 if another process listens already or it
 * cannot be made. */
int beacon_listen(const char *db_path);

/* Hands every report waiting on fd to got(report, arg); never blocks. */
void beacon_drain(int fd, void (*got)(const struct beacon_report *r, void *arg), void *arg);

#endif
