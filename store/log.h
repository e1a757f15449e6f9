/* SPDX-License-Identifier: MIT */
/*
 * log.h — the store's error log: at most one line per kind per interval, so
 * a broken store cannot flood the web server's error log at request rate.
 */
#ifndef PROMFCGI_LOG_H
#define PROMFCGI_LOG_H

enum log_op { LOG_OPEN, LOG_STAGE, LOG_FOLD, LOG_READ, LOG_OP_COUNT };

#define LOG_INTERVAL_SECONDS 10

extern const char *const log_op_names[LOG_OP_COUNT];

/* Counts the error (see log_set_counter) and logs it to stderr unless this op
 * was logged less than LOG_INTERVAL_SECONDS ago.  Returns 1 if the line
 * was written. */
int log_error(enum log_op op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line to stderr, "promfcgi[pid]: " and the message, always: never
 * rate-limited nor counted.  For what happens once in a process's life,
 * such as why it stops serving. */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where errors are counted: the recording API (registry.c) installs a
 * function that adds one to promfcgi_store_errors_total{op}.  A hook, so
 * that this bottom layer never calls the layers built on it. */
void log_set_counter(void (*count)(enum log_op op));

#endif
