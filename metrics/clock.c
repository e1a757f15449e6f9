/* SPDX-License-Identifier: MIT */
/*
 * clock.c — when the live workers are folded into the store (see clock.h).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/path.h"
#include "metrics/clock.h"

static int fold_seconds(void)
{
	const char *e = getenv("PROMFCGI_FOLD_SECONDS");
	int s = e && *e ? atoi(e) : CLOCK_FOLD_SECONDS;
	return s < 0 ? CLOCK_FOLD_SECONDS : s;
}

static double wall_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int clock_live_due(struct fold_clock *c, const char *db_path, int times)
{
	double every = (double)fold_seconds() * times, now = wall_now();
	if (!c->live_folded && times == 1)
		return 1;
	if (now >= c->stamp_time && now < c->stamp_time + every)
		return 0;
	char path[PATH_BYTES];
	struct stat st;
	if (path_format(path, "%s%s", db_path, CLOCK_FOLD_STAMP) == 0 && stat(path, &st) == 0) {
		double at = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
		if (now >= at && now < at + every) {
			c->stamp_time = at;
			return 0;
		}
	}
	return 1;
}

void clock_live_folded(struct fold_clock *c, const char *db_path)
{
	char path[PATH_BYTES];
	if (path_format(path, "%s%s", db_path, CLOCK_FOLD_STAMP) == 0) {
		/* a stamp not made (a read-only directory): the next fold only
		 * comes sooner, which the fold's own errors tell of */
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0660);
		if (fd >= 0) {
			futimens(fd, NULL);
			close(fd);
		}
	}
	c->live_folded = 1;
	c->stamp_time = wall_now();
}
