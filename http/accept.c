/* SPDX-License-Identifier: MIT */
/*
 * accept.c — the FastCGI accept loop (see promfcgi_http.h and accept.h).
 *
 * A stop signal must end a worker that waits for a connection, yet must not
 * touch a request in hand: libfcgi reads a request's params with plain
 * read(2) and takes an EINTR as the end of them, answering with what it has
 * (a 404 for a half-read URI) or dropping the request.  So the stop signals
 * stay blocked all the time but inside ppoll(2), which waits for the
 * listening socket to become readable; the accept and the request run with
 * them blocked, and a signal that comes meanwhile is taken at the next
 * ppoll.  The listening socket is non-blocking, because workers share it
 * and another may take the connection first: this one then goes back to
 * ppoll instead of sleeping in accept(2) with the signals blocked.
 *
 * Errors are told where they happen, as OpenBSD's slowcgi does: every call
 * is checked, and a failure that ends the loop is logged with its reason,
 * so that a worker that stops serving says why (pf_serve then exits 1; a
 * stop signal exits 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

#include "store/log.h"
#include "store/proc.h"
#include "http/accept.h"
#include "promfcgi_http.h"

static volatile sig_atomic_t stopping;
static sigset_t waiting_mask; /* the mask inside ppoll: stop signals let through */

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending();
}

/* The stop signals: handled (on_stop), and blocked except inside ppoll. */
static int take_stop_signals(void)
{
	static const int stops[] = {SIGTERM, SIGINT, SIGUSR1}; /* SIGUSR1: lighttpd's graceful */
	sigset_t block;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	if (sigemptyset(&sa.sa_mask) != 0 || sigemptyset(&block) != 0)
		return log_line("accept: sigemptyset: %s", strerror(errno)), -1;
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++)
		if (sigaction(stops[i], &sa, NULL) != 0 || sigaddset(&block, stops[i]) != 0)
			return log_line("accept: handling signal %d: %s", stops[i], strerror(errno)), -1;
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return log_line("accept: ignoring SIGPIPE: %s", strerror(errno)), -1;
	if (sigprocmask(SIG_BLOCK, &block, &waiting_mask) != 0)
		return log_line("accept: blocking the stop signals: %s", strerror(errno)), -1;
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++)
		if (sigdelset(&waiting_mask, stops[i]) != 0)
			return log_line("accept: sigdelset: %s", strerror(errno)), -1;
	return 0;
}

int pf_accept_init(FCGX_Request *req)
{
	if (take_stop_signals() != 0)
		return -1;
	int flags = fcntl(0, F_GETFL);
	if (flags < 0 || fcntl(0, F_SETFL, flags | O_NONBLOCK) != 0)
		return log_line("accept: fd 0 non-blocking: %s", strerror(errno)), -1;
	if (FCGX_Init() != 0)
		return log_line("accept: FCGX_Init failed"), -1;
	if (req && FCGX_InitRequest(req, 0, 0) != 0)
		return log_line("accept: FCGX_InitRequest failed"), -1;
	return 0;
}

int pf_is_cgi(void)
{
	return !proc_listening(0);
}

/* Waits for a connection on fd 0, taking stop signals meanwhile. */
static enum accept_result accept_wait(void)
{
	while (!stopping) {
		struct pollfd listener = {.fd = 0, .events = POLLIN};
		int n = ppoll(&listener, 1, NULL, &waiting_mask);
		if (n < 0 && errno == EINTR)
			continue; /* stopping, or another signal */
		if (n < 0) {
			log_line("accept: ppoll on fd 0: %s", strerror(errno));
			return ACCEPT_ERROR;
		}
		/* A listening socket hangs up only once shut down: accept would
		 * then fail (EINVAL), or on a non-blocking one say EAGAIN forever
		 * while ppoll says ready, a loop that would never end. */
		if (listener.revents & (POLLERR | POLLNVAL | POLLHUP)) {
			log_line("accept: fd 0: %s",
			         listener.revents & POLLNVAL  ? "not open (POLLNVAL)"
			         : listener.revents & POLLERR ? "error on the listening socket (POLLERR)"
			                                      : "the listening socket was shut down (POLLHUP)");
			return ACCEPT_ERROR;
		}
		return ACCEPT_REQUEST;
	}
	return ACCEPT_STOP;
}

int pf_accept_wait(void)
{
	return accept_wait() == ACCEPT_REQUEST;
}

enum accept_result accept_next(FCGX_Request *req)
{
	enum accept_result r;
	while ((r = accept_wait()) == ACCEPT_REQUEST) {
		int rc = FCGX_Accept_r(req);
		if (rc >= 0)
			return ACCEPT_REQUEST;
		if (rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR || rc == -ECONNABORTED)
			continue; /* another worker took it, or the client left */
		/* libfcgi returns -errno, or its own codes below -4095 */
		log_line("accept: FCGX_Accept_r on fd 0: %s", rc > -4096 ? strerror(-rc) : "libfcgi error");
		return ACCEPT_ERROR;
	}
	return r;
}

int pf_accept_next(FCGX_Request *req)
{
	return accept_next(req) == ACCEPT_REQUEST;
}
