/* SPDX-License-Identifier: MIT */
/*
 * listener.c — a listening socket's identity, and its accept queue read
 * through Linux's sock_diag netlink interface (see listener.h).
 *
 * Why sock_diag: TCP_INFO, which php-fpm and uWSGI read, describes TCP
 * sockets only, so a pool on a unix socket (the usual FastCGI set-up) gets
 * no queue figure that way.  sock_diag answers for both: for a unix
 * listener UNIX_DIAG_RQLEN holds the connections waiting (the length of
 * its receive queue, each entry a connection) and the backlog limit, and
 * for a TCP listener inet_diag's idiag_rqueue and idiag_wqueue hold the
 * accept queue's length and its limit (the kernel's tcp_diag_get_info).
 *
 * One dump per address family asks for the listeners only (a state filter
 * the kernel applies), and a listener is told apart by its inode: a socket
 * shared by a pool is one inode, whichever process holds it.
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/listener.h"

/* The kernel's TCP_LISTEN state, which unix sockets share in sock_diag. */
#define STATE_LISTEN 10

/* A dump's replies come in datagrams of up to 32 KiB: the kernel sizes
 * them to the largest buffer a reader has offered, capped there. */
#define DUMP_BUFFER 32768

static int sockopt(int fd, int name, int *value)
{
	socklen_t len = sizeof *value;
	return getsockopt(fd, SOL_SOCKET, name, value, &len);
}

int listener_of_fd(int fd, struct listener *out)
{
	struct stat st;
	int accepting = 0, type = 0, family = 0, protocol = 0;
	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) || sockopt(fd, SO_ACCEPTCONN, &accepting) != 0 ||
	    !accepting || sockopt(fd, SO_TYPE, &type) != 0 || type != SOCK_STREAM ||
	    sockopt(fd, SO_DOMAIN, &family) != 0)
		return -1;
	if (family == AF_INET || family == AF_INET6) {
		/* inet_diag's TCP table: an SCTP stream socket is not in it */
		if (sockopt(fd, SO_PROTOCOL, &protocol) != 0 || protocol != IPPROTO_TCP)
			return -1;
	} else if (family != AF_UNIX) {
		return -1;
	}
	out->family = family;
	out->inode = (uint64_t)st.st_ino;
	return 0;
}

/* Records the queue of the listener with this inode, if it is one of l. */
static int note(const struct listener *l, size_t n, int family, uint64_t inode, uint32_t waiting,
                uint32_t limit, struct listener_queue *q, unsigned char *found)
{
	int seen = 0;
	for (size_t i = 0; i < n; i++)
		if (l[i].family == family && l[i].inode == inode && !found[i]) {
			q[i].waiting = waiting;
			q[i].limit = limit;
			found[i] = 1;
			seen++;
		}
	return seen;
}

/* One reply message of a dump. */
static int reply(const struct nlmsghdr *h, int family, const struct listener *l, size_t n,
                 struct listener_queue *q, unsigned char *found)
{
	if (family != AF_UNIX) {
		const struct inet_diag_msg *m = NLMSG_DATA(h);
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof *m))
			return 0;
		return note(l, n, family, m->idiag_inode, m->idiag_rqueue, m->idiag_wqueue, q, found);
	}
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof *m))
		return 0;
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
	const struct rtattr *a = (const struct rtattr *)((const char *)m + NLMSG_ALIGN(sizeof *m));
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == UNIX_DIAG_RQLEN && RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen)) {
			const struct unix_diag_rqlen *r = RTA_DATA(a);
			return note(l, n, family, m->udiag_ino, r->udiag_rqueue, r->udiag_wqueue, q, found);
		}
	return 0;
}

static int ask(int nl, int family, uint32_t seq)
{
	struct {
		struct nlmsghdr h;
		union {
			struct unix_diag_req u;
			struct inet_diag_req_v2 i;
		} r;
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = seq;
	if (family == AF_UNIX) {
		req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.r.u);
		req.r.u.sdiag_family = AF_UNIX;
		req.r.u.udiag_states = 1u << STATE_LISTEN;
		req.r.u.udiag_show = UDIAG_SHOW_RQLEN;
	} else {
		req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.r.i);
		req.r.i.sdiag_family = (unsigned char)family;
		req.r.i.sdiag_protocol = IPPROTO_TCP;
		req.r.i.idiag_states = 1u << STATE_LISTEN;
	}
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t w;
	do
		w = sendto(nl, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
	while (w < 0 && errno == EINTR);
	return w == (ssize_t)req.h.nlmsg_len ? 0 : -1;
}

/* Dumps the listeners of one family and notes those of l: how many were
 * found, or -1.  The dump ends with NLMSG_DONE (or an error message), which
 * the kernel always sends: the loop reads until then. */
static int dump(int nl, int family, uint32_t seq, const struct listener *l, size_t n,
                struct listener_queue *q, unsigned char *found)
{
	long buf[DUMP_BUFFER / sizeof(long)]; /* aligned for nlmsghdr */
	int seen = 0;
	if (ask(nl, family, seq) != 0)
		return -1;
	for (;;) {
		struct iovec iov = {buf, sizeof buf};
		struct sockaddr_nl from;
		struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
		                     .msg_iovlen = 1};
		ssize_t got = recvmsg(nl, &msg, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		if (msg.msg_flags & MSG_TRUNC) {
			errno = EMSGSIZE;
			return -1;
		}
		unsigned len = (unsigned)got; /* NLMSG_OK compares it with nlmsg_len, a __u32 */
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != seq || from.nl_pid != 0)
				continue; /* not the kernel's answer to this dump */
			if (h->nlmsg_type == NLMSG_DONE)
				return seen;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				errno = h->nlmsg_len >= NLMSG_LENGTH(sizeof *e) && e->error ? -e->error : EIO;
				return -1;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
				seen += reply(h, family, l, n, q, found);
		}
	}
}

int listener_read(const struct listener *l, size_t n, struct listener_queue *q,
                  unsigned char *found)
{
	static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
	memset(found, 0, n);
	int total = 0, nl = -1, asked = 0, failed = 0, error = 0;
	for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
		size_t want = 0;
		for (size_t i = 0; i < n; i++)
			want += l[i].family == families[f];
		if (!want)
			continue;
		if (nl < 0 && (nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) < 0)
			return -1;
		/* a family the kernel cannot dump (IPv6 disabled, say) costs its
		 * own listeners only */
		int seen = dump(nl, families[f], (uint32_t)++asked, l, n, q, found);
		if (seen < 0) {
			failed++;
			error = errno;
			continue;
		}
		total += seen;
	}
	if (nl >= 0)
		close(nl);
	if (failed && failed == asked) {
		errno = error;
		return -1;
	}
	return total;
}
