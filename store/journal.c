/* SPDX-License-Identifier: MIT */
/*
 * journal.c — the files one-shot processes write (see journal.h): the
 * shared journal, appended to and renamed aside for a drain, and the
 * markers of the processes in flight.  Records are packed by
 * journal_pack.c and read back by journal_read.c.
 *
 * Appending never waits: an appender takes a shared flock without waiting
 * and checks that the file it holds is still the one named "journal"; a
 * scrape renames the journal aside first and then takes the exclusive lock,
 * which waits (bounded) for appenders that got in before the rename.  So a
 * record is either in a journal a scrape drains whole, or in the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/journal.h"
#include "store/path.h"

int journal_append(const char *dir, const void *rec, size_t len)
{
	char path[PATH_BYTES];
	if (path_join(path, dir, JOURNAL_FILE) != 0)
		return -1;
	for (int attempt = 0; attempt < 8; attempt++) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
		if (fd < 0 && errno == ENOENT && (mkdir(dir, 0770) == 0 || errno == EEXIST))
			fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
		if (fd < 0)
			return -1;
		struct stat held, named;
		if (flock(fd, LOCK_SH | LOCK_NB) != 0 || fstat(fd, &held) != 0 ||
		    stat(path, &named) != 0 || held.st_ino != named.st_ino || held.st_dev != named.st_dev) {
			close(fd); /* renamed aside for a drain: the next open makes a new one */
			continue;
		}
		ssize_t w;
		do
			w = write(fd, rec, len);
		while (w < 0 && errno == EINTR);
		int e = errno;
		close(fd);
		if (w == (ssize_t)len)
			return 0;
		errno = w < 0 ? e : ENOSPC; /* a short write leaves a torn record: rejected */
		return -1;
	}
	errno = EAGAIN;
	return -1;
}

/* Claims a marker: the first of o-0, o-1, ... whose lock is free (a
 * marker left by a finished process is free again). */
static int claim_marker(const char *dir)
{
	char path[PATH_BYTES];
	/* lowest first: the pool stays as large as the most requests ever in
	 * flight at once */
	for (unsigned i = 0; i < JOURNAL_MARKERS_MAX; i++) {
		if (path_format(path, "%s/o-%u", dir, i) != 0)
			return -1;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
		if (fd < 0 && errno == ENOENT && (mkdir(dir, 0770) == 0 || errno == EEXIST))
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		close(fd);
	}
	errno = EBUSY;
	return -1;
}

int journal_mark(const char *dir, int fd, const void *rec, size_t len)
{
	if (fd < 0 && (fd = claim_marker(dir)) < 0)
		return -1;
	if (pwrite(fd, rec, len, 0) != (ssize_t)len) { /* readers take the first record only */
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int journal_rotate(const char *dir, char *path)
{
	char from[PATH_BYTES];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (path_join(from, dir, JOURNAL_FILE) != 0 ||
	    path_format(path, "%s/j-%ld-%lld%09ld", dir, (long)getpid(), (long long)now.tv_sec,
	                now.tv_nsec) != 0)
		return -1;
	if (rename(from, path) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}
