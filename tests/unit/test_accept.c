/* SPDX-License-Identifier: MIT */
/*
 * test_accept.c — the accept loop's ways out (http/accept.c, pf_serve): a
 * listening socket that fails under a worker is logged with its reason and
 * ends the worker with status 1; a stop signal ends it with 0.  Each test
 * runs a worker in a child process on a real unix listening socket as fd 0,
 * its stderr in a file, and is a FastCGI client of it where it needs one.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "promfcgi_http.h"
#include "test.h"
#include "util.h"

static char dir[512], sock_path[600], err_path[600];

/* The address of sock_path: 0, or -1 if it is too long for one. */
static int sock_addr(struct sockaddr_un *a)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof a->sun_path)
		return -1;
	memcpy(a->sun_path, sock_path, strlen(sock_path) + 1);
	return 0;
}

/* A fresh store, and a unix listening socket at sock_path: its fd. */
static int listener(void)
{
	char db[512];
	test_new_store(db, sizeof db, "accept");
	setenv("PROMFCGI_DB", db, 1);
	snprintf(dir, sizeof dir, "%s", db);
	*strrchr(dir, '/') = '\0';
	snprintf(sock_path, sizeof sock_path, "%s/worker.sock", dir);
	snprintf(err_path, sizeof err_path, "%s/worker.err", dir);
	struct sockaddr_un a;
	int fd = sock_addr(&a) == 0 ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0) {
		perror("listener");
		return -1;
	}
	return fd;
}

/* In the child: the listening socket as fd 0, stderr to err_path. */
static void become_worker(int fd)
{
	int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (err < 0 || dup2(fd, 0) != 0 || dup2(err, 2) != 2)
		_exit(90);
	close(fd);
	close(err);
}

/* The child's exit status (bounded wait: 10 s, then it is killed and
 * -1 returned; a signal's end is -2). */
static int reap(pid_t pid)
{
	int status;
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fprintf(stderr, "  the worker did not end within 10 s\n");
	return -1;
}

/* What the worker wrote to stderr (shown, for a failing test's reader). */
static const char *worker_stderr(void)
{
	static char text[4096];
	FILE *fp = fopen(err_path, "r");
	size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
	if (fp)
		fclose(fp);
	text[n] = '\0';
	fprintf(stderr, "  worker stderr: %s", n ? text : "(nothing)\n");
	return text;
}

/* ---- a worker whose fd 0 stops being its listening socket ------------------ */

/* The handler replaces the worker's fd 0 by /dev/null, as a stray dup2 or
 * close-and-open in an app would: the next accept cannot work. */
static int replace_fd0(FCGX_Request *req, pf_request *r, void *arg)
{
	(void)r, (void)arg;
	FCGX_FPrintF(req->out, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n");
	int n = open("/dev/null", O_RDONLY);
	if (n < 0 || dup2(n, 0) != 0)
		return -1;
	close(n);
	return 0;
}

static void put_record(unsigned char **p, int type, const void *body, uint16_t len)
{
	unsigned char h[8] = {1, (unsigned char)type, 0, 1, (unsigned char)(len >> 8),
	                      (unsigned char)len, 0, 0};
	memcpy(*p, h, 8);
	if (len)
		memcpy(*p + 8, body, len);
	*p += 8 + len;
}

/* One GET / over a new connection; returns the bytes of the answer read
 * (until the worker closes it). */
static ssize_t fastcgi_get(void)
{
	static const unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0}; /* responder, no keep-conn */
	static const unsigned char params[] = "\x0e\x03REQUEST_METHODGET\x0b\x01REQUEST_URI/";
	unsigned char req[256], *p = req, answer[4096];
	put_record(&p, 1, begin, sizeof begin);
	put_record(&p, 4, params, sizeof params - 1);
	put_record(&p, 4, NULL, 0);
	put_record(&p, 5, NULL, 0);
	struct sockaddr_un a;
	int fd = sock_addr(&a) == 0 ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
	struct timeval tv = {10, 0};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    write(fd, req, (size_t)(p - req)) != p - req) {
		perror("fastcgi_get");
		return -1;
	}
	ssize_t got = 0, n;
	while ((n = read(fd, answer, sizeof answer)) > 0)
		got += n;
	close(fd);
	return got;
}

/* A worker serving with handler in a child: its pid, or -1. */
static pid_t start_serving(pf_handler handler)
{
	int fd = listener();
	CHECK(fd >= 0);
	if (fd < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		become_worker(fd);
		_exit(pf_serve(NULL, handler, NULL));
	}
	close(fd);
	return pid;
}

static void socket_failure_exits_nonzero_with_reason(void)
{
	pid_t pid = start_serving(replace_fd0);
	if (pid < 0)
		return;
	CHECK(fastcgi_get() > 0); /* served, then fd 0 is gone */
	int status = reap(pid);
	const char *err = worker_stderr();
	CHECK_NUM(status, 1);
	CHECK(strstr(err, "accept: FCGX_Accept_r on fd 0: ") != NULL);
	CHECK(strstr(err, "stops serving") != NULL);
}

/* ---- fd 0 closed under a loop of the app's own: pf_accept_wait --------------- */

static void closed_fd0_is_logged(void)
{
	int fd = listener();
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		become_worker(fd);
		if (pf_accept_init(NULL) != 0)
			_exit(91);
		close(0); /* ppoll now says POLLNVAL */
		_exit(pf_accept_wait() == 0 ? 0 : 92);
	}
	close(fd);
	int status = reap(pid);
	const char *err = worker_stderr();
	CHECK_NUM(status, 0); /* pf_accept_wait: 0, as the public contract says */
	CHECK(strstr(err, "accept: fd 0: not open (POLLNVAL)") != NULL);
}

/* ---- a stop signal ------------------------------------------------------------ */

static int noop(FCGX_Request *req, pf_request *r, void *arg)
{
	(void)req, (void)r, (void)arg;
	return 0;
}

/* Whether pid has a handler for SIGTERM (its accept loop is set up). */
static int catches_sigterm(pid_t pid)
{
	char path[64], line[256];
	unsigned long long caught = 0;
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	FILE *fp = fopen(path, "r");
	while (fp && fgets(line, sizeof line, fp))
		if (sscanf(line, "SigCgt: %llx", &caught) == 1)
			break;
	if (fp)
		fclose(fp);
	return (caught >> (SIGTERM - 1)) & 1;
}

static void stop_signal_exits_zero(void)
{
	pid_t pid = start_serving(noop);
	if (pid < 0)
		return;
	for (int i = 0; i < 1000 && !catches_sigterm(pid); i++) /* bounded: 10 s */
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	kill(pid, SIGTERM);
	int status = reap(pid);
	const char *err = worker_stderr();
	CHECK_NUM(status, 0);
	CHECK(strstr(err, "stops serving") == NULL);
}

const struct test accept_tests[] = {
    {"accept/socket_failure_exits_nonzero_with_reason", socket_failure_exits_nonzero_with_reason},
    {"accept/closed_fd0_is_logged", closed_fd0_is_logged},
    {"accept/stop_signal_exits_zero", stop_signal_exits_zero},
    {NULL, NULL},
};
