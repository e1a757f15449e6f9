/* SPDX-License-Identifier: MIT */
/*
 * notice.c — lines that are not this process's store errors (see notice.h):
 * a caller's mistakes, another process's reports; once per distinct line per
 * interval, not counted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/notice.h"

/* The mistakes logged lately, each with when and how often since: a small
 * table, the least recently logged replaced first. A program makes few
 * distinct mistakes; those it makes in a loop repeat the same message. */
#define MISTAKES_KEPT 32
static struct mistake {
	char msg[1024];
	time_t last;
	unsigned long suppressed;
} mistakes[MISTAKES_KEPT];

int notice(const char *fmt, ...)
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
	if (m && t - m->last < NOTICE_INTERVAL_SECONDS) {
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

int notice_why(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	return -1;
}

const char *notice_reason(void)
{
	return reason;
}
