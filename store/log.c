/* SPDX-License-Identifier: MIT */
/*
 * log.c — rate-limited error logging (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>
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
	char msg[1024]; /* a staging failure names three paths and the fix */
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

void log_line(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "promfcgi[%ld]: %s\n", (long)getpid(), msg);
}
