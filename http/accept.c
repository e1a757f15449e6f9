/* SPDX-License-Identifier: MIT */
/*
 * accept.c — the FastCGI accept loop (see promfcgi_http.h).
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
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

#include "store/proc.h"
#include "promfcgi_http.h"

static volatile sig_atomic_t stopping;
static sigset_t waiting_mask; /* the mask inside ppoll: stop signals let through */

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending();
}

int pf_accept_init(FCGX_Request *req)
{
	static const int stops[] = {SIGTERM, SIGINT, SIGUSR1}; /* SIGUSR1: lighttpd's graceful */
	sigset_t block;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
		sigaction(stops[i], &sa, NULL);
		sigaddset(&block, stops[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_BLOCK, &block, &waiting_mask);
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++)
		sigdelset(&waiting_mask, stops[i]);
	int flags = fcntl(0, F_GETFL);
	if (flags < 0 || fcntl(0, F_SETFL, flags | O_NONBLOCK) != 0)
		return -1;
	if (FCGX_Init() != 0)
		return -1;
	return !req || FCGX_InitRequest(req, 0, 0) == 0 ? 0 : -1;
}

int pf_is_cgi(void)
{
	return !proc_listening(0);
}

int pf_accept_wait(void)
{
	while (!stopping) {
		struct pollfd listener = {.fd = 0, .events = POLLIN};
		int n = ppoll(&listener, 1, NULL, &waiting_mask);
		if (n < 0 && errno == EINTR)
			continue; /* stopping, or another signal */
		if (n < 0 || (listener.revents & (POLLERR | POLLNVAL)))
			return 0;
		return 1;
	}
	return 0;
}

int pf_accept_next(FCGX_Request *req)
{
	while (pf_accept_wait()) {
		int rc = FCGX_Accept_r(req);
		if (rc >= 0)
			return 1;
		if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR && rc != -ECONNABORTED)
			return 0;
	}
	return 0;
}
