/* SPDX-License-Identifier: MIT */
/*
 * listener.h — the listening socket a worker serves (its fd 0), and that
 * socket's accept queue read from the kernel (listener.c).
 *
 * A pool of FastCGI workers shares one listening socket; connections the
 * web server opened and no worker has accepted yet wait in its queue.  How
 * many wait, against the backlog limit, says whether the pool keeps up.
 * Linux gives it through sock_diag netlink for unix and TCP listeners
 * alike (what `ss -l` prints as Recv-Q and Send-Q), to any process in the
 * socket's network namespace: a socket is named by its inode, which the
 * worker learns from fstat(0), and found again in the kernel's list of
 * listeners of its family.
 */
#ifndef PROMFCGI_LISTENER_H
#define PROMFCGI_LISTENER_H

#include <stddef.h>
#include <stdint.h>

/* A listening stream socket: its address family (AF_UNIX, AF_INET,
 * AF_INET6) and inode (fstat's st_ino, sock_diag's udiag_ino and
 * idiag_inode). */
struct listener {
	int family;
	uint64_t inode;
};

/* Its accept queue: connections waiting now, and the backlog limit
 * (listen(2)'s backlog as the kernel took it, at most somaxconn). */
struct listener_queue {
	uint32_t waiting;
	uint32_t limit;
};

/* Fills *out if fd is a listening stream socket of a family sock_diag
 * knows: 0; -1 otherwise (a CGI process's pipe, a connected socket). */
int listener_of_fd(int fd, struct listener *out);

/* Reads the queues of the n listeners l[] (up to one netlink dump per
 * family among them): q[i] and found[i] = 1 for each found in this
 * process's network namespace, found[i] = 0 for the others.  Returns how
 * many were found, or -1 with errno if sock_diag could not be asked at
 * all (no netlink, refused by a sandbox). */
int listener_read(const struct listener *l, size_t n, struct listener_queue *q,
                  unsigned char *found);

#endif
