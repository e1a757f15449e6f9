/* SPDX-License-Identifier: MIT */
/*
 * log.h — the store's error log: at most one line per kind per interval, so
 * a broken store cannot flood the web server's error log at request rate.
 */
#ifndef PROMFCGI_LOG_H
#define PROMFCGI_LOG_H

enum pf_op { PF_OP_OPEN, PF_OP_STAGE, PF_OP_FOLD, PF_OP_READ, PF_OP_COUNT };

#define PF_LOG_INTERVAL_SECONDS 10

extern const char *const pf_op_names[PF_OP_COUNT];

/* Counts the error (see pf_log_counter) and logs it to stderr unless this op
 * was logged less than PF_LOG_INTERVAL_SECONDS ago.  Returns 1 if the line
 * was written. */
int pf_error(enum pf_op op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where errors are counted: the recording API (registry.c) installs a
 * function that adds one to promfcgi_store_errors_total{op}.  A hook, so
 * that this bottom layer never calls the layers built on it. */
void pf_log_counter(void (*count)(enum pf_op op));

#endif
