/* SPDX-License-Identifier: MIT */
/*
 * log.c — rate-limited error logging (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "store/log.h"

const char *const pf_op_names[PF_OP_COUNT] = {"open", "stage", "fold", "read"};

static void (*counter)(enum pf_op op);

void pf_log_counter(void (*count)(enum pf_op op))
{
	counter = count;
}

int pf_error(enum pf_op op, const char *fmt, ...)
{
	static time_t last[PF_OP_COUNT];
	static unsigned long suppressed[PF_OP_COUNT];
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (counter)
		counter(op);
	if (last[op] != 0 && now.tv_sec - last[op] < PF_LOG_INTERVAL_SECONDS) {
		suppressed[op]++;
		return 0;
	}
	last[op] = now.tv_sec ? now.tv_sec : 1;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "promfcgi[%ld]: %s error: %s", (long)getpid(), pf_op_names[op], msg);
	if (suppressed[op])
		fprintf(stderr, " (%lu more since the last report)", suppressed[op]);
	fputc('\n', stderr);
	suppressed[op] = 0;
	return 1;
}
