/* SPDX-License-Identifier: MIT */
/*
 * beacon.c — a process that cannot record calls out to the metrics program.
 *
 * A worker whose staging file cannot be created (its directory missing, or
 * not writable by the worker's uid) counts in its own memory, which no scrape
 * reads: its requests are lost, and so is promfcgi_store_errors_total, which
 * it counts in the same memory.  Whatever it might write beside the store
 * fails for the same reason (that is the failure), so it calls out where no
 * file and no permission is needed: an abstract unix datagram socket (Linux;
 * a name, not a file) named after the store's path.  The metrics program of
 * that store listens on it while it runs (pf_metrics_respond binds it at its
 * first answer), adds what it hears to its own promfcgi_store_errors_total,
 * and logs the sender's reason; the kernel names the sender (SCM_CREDENTIALS),
 * so the report says which pid and uid cannot record.
 *
 * A report carries the errors counted since the last report that got
 * through (a send to nobody is kept for the next), so a count is neither
 * lost while the metrics program starts nor repeated when it restarts.  A
 * process that later gets its staging file takes those delivered errors out
 * of its own counts before the file shows them (registry.c): each error is
 * counted once.  The same socket name for two stores would need a 64-bit
 * FNV-1a collision of their paths.  A metrics program run as CGI (one
 * process per scrape) is rarely there to hear: there, both programs run as
 * the web server's user with the store the server names, so a store they
 * cannot write shows as /metrics answering 503.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "store/beacon.h"
#include "store/hash.h"
#include "store/path.h"
#include "store/proc.h"

#define BEACON_MAGIC 0x31424650u /* "PFB1" */

/* What goes on the wire: one datagram, fixed size. */
struct wire {
	uint32_t magic;
	uint32_t size;
	uint64_t start;
	uint64_t errors[LOG_OP_COUNT];
	char reason[BEACON_REASON_MAX];
};

/* The socket's name: "@promfcgi-beacon-" and a 64-bit FNV-1a (two bases) of
 * the store's absolute path as given (a worker may not be allowed to
 * resolve it). */
static socklen_t beacon_name(const char *db_path, struct sockaddr_un *a)
{
	char path[PATH_BYTES], cwd[PATH_BYTES];
	if (db_path[0] == '/' || !getcwd(cwd, sizeof cwd) || path_join(path, cwd, db_path) != 0)
		snprintf(path, sizeof path, "%s", db_path);
	size_t n = strlen(path);
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	int len = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "promfcgi-beacon-%08x%08x",
	                   (unsigned)hash_fnv1a(HASH_FNV_BASIS, path, n),
	                   (unsigned)hash_fnv1a(HASH_FNV_BASIS ^ 0x5bd1e995u, path, n));
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
}

int beacon_send(const char *db_path, const uint64_t errors[LOG_OP_COUNT], const char *reason)
{
	struct sockaddr_un a;
	struct wire w;
	socklen_t alen = beacon_name(db_path, &a);
	memset(&w, 0, sizeof w);
	w.magic = BEACON_MAGIC;
	w.size = sizeof w;
	if (proc_start_time(getpid(), &w.start) != 0)
		w.start = 0;
	memcpy(w.errors, errors, sizeof w.errors);
	snprintf(w.reason, sizeof w.reason, "%s", reason);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	int sent = sendto(fd, &w, sizeof w, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, alen) ==
	           (ssize_t)sizeof w;
	close(fd);
	return sent;
}

static uint64_t delivered[LOG_OP_COUNT];
static time_t last_call;

void beacon_call(const char *db_path, const uint64_t counted[LOG_OP_COUNT], const char *reason,
                 int force)
{
	struct timespec now;
	uint64_t news[LOG_OP_COUNT];
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (!force && last_call && now.tv_sec == last_call)
		return;
	last_call = now.tv_sec ? now.tv_sec : 1;
	for (int op = 0; op < LOG_OP_COUNT; op++)
		news[op] = counted[op] > delivered[op] ? counted[op] - delivered[op] : 0;
	if (beacon_send(db_path, news, reason))
		for (int op = 0; op < LOG_OP_COUNT; op++)
			delivered[op] += news[op];
}

const uint64_t *beacon_delivered(void)
{
	return delivered;
}

void beacon_forget(void)
{
	memset(delivered, 0, sizeof delivered);
}

void beacon_explain(char *out, size_t len, const char *db_path, const char *dir, int err)
{
	const char *env = getenv("PROMFCGI_DB");
	struct passwd *pw = getpwuid(geteuid());
	char parent[PATH_BYTES], user[300], fix[PATH_BYTES + 200];
	struct stat st;
	snprintf(parent, sizeof parent, "%s", dir);
	const char *up = dirname(parent); /* the store's directory, where dir goes */
	if (stat(dir, &st) == 0)
		snprintf(fix, sizeof fix, "make %s writable by that uid", dir);
	else if (errno != ENOENT)
		snprintf(fix, sizeof fix, "let that uid into %s (search and write, on every directory "
		         "above it too)", up);
	else if (stat(up, &st) == 0)
		snprintf(fix, sizeof fix, "make %s writable by that uid", up);
	else if (errno == ENOENT)
		snprintf(fix, sizeof fix, "create %s, writable by that uid", up);
	else
		snprintf(fix, sizeof fix, "let that uid into %s (search and write, on every directory "
		         "above it too)", up);
	snprintf(user, sizeof user, "uid %u%s%s%s", (unsigned)geteuid(), pw ? " (" : "",
	         pw ? pw->pw_name : "", pw ? ")" : "");
	snprintf(out, len,
	         "cannot create a staging file in %s as %s: %s; the store is %s (%s); counting in "
	         "memory only, which no scrape sees. Fix: %s, or set PROMFCGI_DB to a store it can "
	         "write, the same for the metrics program",
	         dir, user, strerror(err), db_path,
	         env && env[0] ? "from PROMFCGI_DB" : "PROMFCGI_DB is unset: the default", fix);
}

int beacon_listen(const char *db_path)
{
	struct sockaddr_un a;
	socklen_t alen = beacon_name(db_path, &a);
	int on = 1, fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 ||
	    bind(fd, (struct sockaddr *)&a, alen) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void beacon_drain(int fd, void (*got)(const struct beacon_report *r, void *arg), void *arg)
{
	for (;;) {
		struct wire w;
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(struct ucred))];
		} control;
		struct iovec iov = {&w, sizeof w};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
		                   .msg_controllen = sizeof control.buf};
		ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return; /* EAGAIN: nothing more waiting */
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		if (n != (ssize_t)sizeof w || w.magic != BEACON_MAGIC || w.size != sizeof w || !c ||
		    c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS)
			continue; /* not a report of ours */
		struct ucred cred;
		memcpy(&cred, CMSG_DATA(c), sizeof cred);
		struct beacon_report r = {.pid = cred.pid, .uid = cred.uid, .start = w.start};
		memcpy(r.errors, w.errors, sizeof r.errors);
		w.reason[sizeof w.reason - 1] = '\0';
		memcpy(r.reason, w.reason, sizeof r.reason);
		got(&r, arg);
	}
}
