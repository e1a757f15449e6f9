/* SPDX-License-Identifier: MIT */
/*
 * proc.c — who a process is, read from Linux /proc.
 *
 * A worker incarnation is (boot id, pid, start time): pids are reused, and a
 * reused pid has another start time, so a new process is never mistaken for
 * a dead worker whose staging file is still on disk.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store/proc.h"

/* Field 22 of /proc/PID/stat, counted after the ")" that ends the command
 * name, which may itself contain spaces and parentheses. */
int proc_start_time(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *fp = fopen(path, "re");
	if (!fp)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* after ")": field 3 (state) is the first; field 22 is the 20th after it */
	p++;
	for (int field = 2; field < 21; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	unsigned long long v;
	if (sscanf(p, " %llu", &v) != 1)
		return -1;
	*out = v;
	return 0;
}

/* Read once: it cannot change while this process runs. */
static int boot_id_cached(char *out, size_t len)
{
	static char boot[STAGE_BOOT_ID_MAX];
	static int have;
	if (!have) {
		FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "re");
		if (!fp)
			return -1;
		char *ok = fgets(boot, (int)sizeof boot, fp);
		fclose(fp);
		if (!ok)
			return -1;
		boot[strcspn(boot, "\n")] = '\0';
		have = 1;
	}
	snprintf(out, len, "%s", boot);
	return 0;
}

int proc_boot_id(char *out, size_t len)
{
	if (len >= STAGE_BOOT_ID_MAX)
		return boot_id_cached(out, len);
	FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!fp)
		return -1;
	char *ok = fgets(out, (int)len, fp);
	fclose(fp);
	if (!ok)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* Dead only when /proc says so: a process we may not look at (hidepid, no
 * fds left) is taken as live, because retiring a live worker would count
 * its totals twice once it recreates its file, while keeping a dead one a
 * little longer costs nothing. */
static int pid_is_live(int64_t pid, uint64_t start_time)
{
	uint64_t st;
	if (pid <= 0)
		return 0;
	errno = 0;
	if (proc_start_time((pid_t)pid, &st) != 0)
		return !(errno == ENOENT || errno == ESRCH);
	return st == start_time;
}

int proc_is_live(int64_t pid, uint64_t start_time, const char *boot_id)
{
	char boot[STAGE_BOOT_ID_MAX];
	if (proc_boot_id(boot, sizeof boot) == 0 && strcmp(boot, boot_id) != 0)
		return 0;
	return pid_is_live(pid, start_time);
}

int proc_watch(int64_t pid, uint64_t start_time, const char *boot_id, int *fd)
{
	char boot[STAGE_BOOT_ID_MAX];
	*fd = -1;
	if (pid <= 0 || (proc_boot_id(boot, sizeof boot) == 0 && strcmp(boot, boot_id) != 0))
		return 0;
	static int no_pidfd = -1;
	if (no_pidfd < 0)
		no_pidfd = getenv("PROMFCGI_NO_PIDFD") != NULL;
#ifdef SYS_pidfd_open
	if (!no_pidfd) {
		/* Opened first, then the start time checked: if the pid was reused
		 * in between, the start time differs and the worker is gone. */
		long r = syscall(SYS_pidfd_open, (pid_t)pid, 0);
		if (r < 0 && errno == ESRCH)
			return 0;
		if (r >= 0) {
			if (!pid_is_live(pid, start_time)) {
				close((int)r);
				return 0;
			}
			*fd = (int)r;
			return 1;
		}
		/* ENOSYS (before Linux 5.3), or refused: /proc it is */
	}
#endif
	return pid_is_live(pid, start_time);
}

/* The same from an incarnation's name, w-<first 8 of boot id>-<pid>-<start>;
 * a name that does not parse belongs to no process. */
int proc_name_is_live(const char *name)
{
	char boot[STAGE_BOOT_ID_MAX], prefix[9];
	long pid;
	unsigned long long start;
	if (sscanf(name, "w-%8[0-9a-f]-%ld-%llu", prefix, &pid, &start) != 3)
		return 0;
	if (proc_boot_id(boot, sizeof boot) == 0 && strncmp(boot, prefix, 8) != 0)
		return 0;
	return pid_is_live(pid, start);
}

/* FastCGI servers start a worker with a listening socket on fd 0; a CGI
 * program gets the request in its environment (RFC 3875 4.1). */
int proc_listening(int fd)
{
	int listening = 0;
	socklen_t len = sizeof listening;
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

int proc_is_cgi(void)
{
	return !proc_listening(0) && getenv("REQUEST_METHOD") != NULL;
}
