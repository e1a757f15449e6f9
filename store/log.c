/* SPDX-License-Identifier: MIT */
/*
 * log.c — rate-limited logging (see log.h): the store's errors, once per kind
 * per interval, counted; a caller's mistakes, once per distinct message per
 * interval.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/log.h"

const char *const log_op_names[LOG_OP_COUNT] = {"open", "stage", "fold", "read"};

static void (*counter)(enum log_op op);

void log_set_counter(void (*count)(enum log_op op))
{
	counter = count;
}

int log_error(enum log_op op, const char *fmt, ...)
{
	static time_t last[LOG_OP_COUNT];
	static unsigned long suppressed[LOG_OP_COUNT];
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (counter)
		counter(op);
	if (last[op] != 0 && now.tv_sec - last[op] < LOG_INTERVAL_SECONDS) {
		suppressed[op]++;
		return 0;
	}
	last[op] = now.tv_sec ? now.tv_sec : 1;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "promfcgi[%ld]: %s error: %s", (long)getpid(), log_op_names[op], msg);
	if (suppressed[op])
		fprintf(stderr, " (%lu more since the last report)", suppressed[op]);
	fputc('\n', stderr);
	suppressed[op] = 0;
	return 1;
}

/* The mistakes logged lately, each with when and how often since: a small
 * table, the least recently logged replaced first. A program makes few
 * distinct mistakes; those it makes in a loop repeat the same message. */
#define MISTAKES_KEPT 32
static struct mistake {
	char msg[1024];
	time_t last;
	unsigned long suppressed;
} mistakes[MISTAKES_KEPT];

int log_notice(const char *fmt, ...)
{
	char msg[sizeof mistakes[0].msg];
	struct timespec now;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_MONOTONIC, &now);
	time_t t = now.tv_sec ? now.tv_sec : 1;
	struct mistake *m = NULL, *oldest = &mistakes[0];
	for (int i = 0; i < MISTAKES_KEPT && !m; i++) {
		if (mistakes[i].last && strcmp(mistakes[i].msg, msg) == 0)
			m = &mistakes[i];
		else if (mistakes[i].last < oldest->last)
			oldest = &mistakes[i];
	}
	if (m && t - m->last < LOG_INTERVAL_SECONDS) {
		m->suppressed++;
		return 0;
	}
	if (!m) {
		m = oldest;
		memcpy(m->msg, msg, sizeof msg);
		m->suppressed = 0;
	}
	m->last = t;
	if (m->suppressed)
		fprintf(stderr, "promfcgi[%ld]: %s (%lu more since the last report)\n", (long)getpid(), msg,
		        m->suppressed);
	else
		fprintf(stderr, "promfcgi[%ld]: %s\n", (long)getpid(), msg);
	m->suppressed = 0;
	return 1;
}

static char reason[1024];

void log_why(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
}

const char *log_reason(void)
{
	return reason;
}
