/* SPDX-License-Identifier: MIT */
/*
 * notice.h — lines that are not this process's store errors (notice.c): the
 * API's refusals of a caller's mistakes, and another process's reports, at
 * most once per distinct line per interval; and why a check below the API
 * failed, for the API to say.
 */
#ifndef PROMFCGI_NOTICE_H
#define PROMFCGI_NOTICE_H

#define NOTICE_INTERVAL_SECONDS 10

/* A line that is not this process's store error, so not counted in
 * promfcgi_store_errors_total: a caller's mistake refused by the API (the
 * message names the call, the offending argument and the rule, e.g.
 * "pf_http_new: routes[1] ..."), or another process's report (beacon.c).
 * Written as "promfcgi[PID]: " and the message; each distinct message at
 * most once per NOTICE_INTERVAL_SECONDS (a mistake in a request loop would
 * otherwise repeat at request rate), with a count of the repeats suppressed
 * since.  Returns 1 if the line was written. */
int notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Why the last check of names.c or route.c failed, in words ("name
 * \"a-b\" is not a valid metric name (...)"): the check knows what is wrong,
 * the API function that called it knows who asked, and logs both.
 * notice_why returns -1, for "return notice_why(...);" in a check;
 * notice_reason is the last reason, or "" if none. Not thread-safe (nor is
 * the API). */
int notice_why(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* -1 */
const char *notice_reason(void);

#endif
