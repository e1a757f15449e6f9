/* SPDX-License-Identifier: MIT */
/*
 * test_pool.c — the facts pool metrics are made of: a listening socket's
 * accept queue read through sock_diag (store/listener.c), with real unix
 * and TCP sockets that clients connect to and nobody accepts; and the
 * X-Request-Start stamp (http/queue.c), in every unit the agents accept
 * and as hostile input.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "promfcgi_http.h"
#include "http/queue.h"
#include "metrics/own.h"
#include "metrics/poolstat.h"
#include "metrics/scrape.h"
#include "store/listener.h"
#include "store/stage.h"
#include "test.h"
#include "util.h"

/* ---- listen queues ------------------------------------------------------ */

static int unix_listener(char *path, size_t len, int backlog)
{
	const char *dir = getenv("PROMFCGI_TEST_DIR");
	snprintf(path, len, "%s/pool-%ld.sock", dir ? dir : "/tmp", (long)getpid());
	unlink(path);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, backlog) != 0)
		return -1;
	return s;
}

static int unix_client(const char *path)
{
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	return c >= 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0 ? c : -1;
}

static int tcp_listener(int family, int backlog, in_port_t *port)
{
	int s = socket(family, SOCK_STREAM, 0);
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof *a;
	}
	if (s < 0 || bind(s, (struct sockaddr *)&ss, len) != 0 || listen(s, backlog) != 0 ||
	    getsockname(s, (struct sockaddr *)&ss, &len) != 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	*port = family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                          : ((struct sockaddr_in6 *)&ss)->sin6_port;
	return s;
}

/* A blocking connect to loopback returns once the handshake is done. */
static int tcp_client(int family, in_port_t port)
{
	int c = socket(family, SOCK_STREAM, 0);
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = port;
		len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = port;
		len = sizeof *a;
	}
	return c >= 0 && connect(c, (struct sockaddr *)&ss, len) == 0 ? c : -1;
}

/* The queue of one listener; waiting = -1 if it was not found. */
static long waiting_of(const struct listener *l, uint32_t *limit)
{
	struct listener_queue q = {0, 0};
	unsigned char found = 0;
	if (listener_read(l, 1, &q, &found) < 0 || !found)
		return -1;
	if (limit)
		*limit = q.limit;
	return q.waiting;
}

/* The kernel puts a TCP connection in the accept queue when the client's
 * last ACK is processed, which on loopback may trail connect() by a
 * softirq: look again a bounded number of times (a count, not a time). */
static long waiting_reaches(const struct listener *l, long want)
{
	long w = -1;
	for (int i = 0; i < 1000 && (w = waiting_of(l, NULL)) != want; i++)
		usleep(1000);
	return w;
}

static void unix_queue_counts_waiting_connections(void)
{
	char path[512];
	struct listener l;
	int s = unix_listener(path, sizeof path, 7), c[5];
	CHECK(s >= 0);
	CHECK(listener_of_fd(s, &l) == 0);
	CHECK(l.family == AF_UNIX);
	CHECK(l.inode > 0);
	uint32_t limit = 0;
	CHECK(waiting_of(&l, &limit) == 0);
	CHECK(limit == 7);
	for (int i = 0; i < 5; i++)
		CHECK((c[i] = unix_client(path)) >= 0);
	CHECK(waiting_of(&l, &limit) == 5);
	CHECK(limit == 7);
	int a = accept(s, NULL, NULL); /* one taken: one fewer waiting */
	CHECK(a >= 0);
	CHECK(waiting_of(&l, NULL) == 4);
	close(a);
	for (int i = 0; i < 5; i++)
		close(c[i]);
	close(s);
	unlink(path);
}

static void tcp_queue(int family)
{
	in_port_t port;
	struct listener l;
	int s = tcp_listener(family, 9, &port), c[3];
	if (s < 0 && family == AF_INET6)
		SKIP("no IPv6 loopback here");
	CHECK(s >= 0);
	CHECK(listener_of_fd(s, &l) == 0);
	CHECK(l.family == family);
	uint32_t limit = 0;
	CHECK(waiting_of(&l, &limit) == 0);
	CHECK(limit == 9);
	for (int i = 0; i < 3; i++)
		CHECK((c[i] = tcp_client(family, port)) >= 0);
	CHECK(waiting_reaches(&l, 3) == 3);
	int a = accept(s, NULL, NULL);
	CHECK(a >= 0);
	CHECK(waiting_of(&l, NULL) == 2);
	close(a);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	close(s);
}

static void tcp_queue_counts_waiting_connections(void)
{
	tcp_queue(AF_INET);
}

static void tcp6_queue_counts_waiting_connections(void)
{
	tcp_queue(AF_INET6);
}

/* Several listeners of every family in one read; each its own figures,
 * and one that is gone is not found (the others still are). */
static void several_listeners_in_one_read(void)
{
	char path[512];
	in_port_t port;
	struct listener l[3];
	int u = unix_listener(path, sizeof path, 4), t = tcp_listener(AF_INET, 6, &port);
	int t2 = tcp_listener(AF_INET, 3, &port);
	CHECK(u >= 0 && t >= 0 && t2 >= 0);
	CHECK(listener_of_fd(u, &l[0]) == 0 && listener_of_fd(t, &l[1]) == 0 &&
	      listener_of_fd(t2, &l[2]) == 0);
	int c = unix_client(path), d = tcp_client(AF_INET, port);
	CHECK(c >= 0 && d >= 0);
	struct listener_queue q[3];
	unsigned char found[3];
	int n = -1;
	for (int i = 0; i < 1000 && (n = listener_read(l, 3, q, found)) == 3 && q[2].waiting != 1; i++)
		usleep(1000);
	CHECK(n == 3);
	CHECK(found[0] && found[1] && found[2]);
	CHECK(q[0].waiting == 1 && q[0].limit == 4);
	CHECK(q[1].waiting == 0 && q[1].limit == 6);
	CHECK(q[2].waiting == 1 && q[2].limit == 3);
	close(t);
	CHECK(listener_read(l, 3, q, found) == 2);
	CHECK(found[0] && !found[1] && found[2]);
	close(c);
	close(d);
	close(u);
	close(t2);
	unlink(path);
}

/* Only a listening stream socket is a listener: a CGI process's fd 0 is a
 * pipe or a file, a connected socket serves one client. */
static void only_listening_stream_sockets(void)
{
	char path[512];
	struct listener l;
	int p[2], pair[2];
	CHECK(pipe(p) == 0);
	CHECK(listener_of_fd(p[0], &l) == -1);
	int f = open("/dev/null", O_RDONLY);
	CHECK(listener_of_fd(f, &l) == -1);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
	CHECK(listener_of_fd(pair[0], &l) == -1);
	int s = unix_listener(path, sizeof path, 1), c = unix_client(path);
	CHECK(listener_of_fd(c, &l) == -1);
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(listener_of_fd(d, &l) == -1);
	CHECK(listener_of_fd(-1, &l) == -1);
	CHECK(listener_of_fd(s, &l) == 0);
	close(p[0]);
	close(p[1]);
	close(f);
	close(pair[0]);
	close(pair[1]);
	close(c);
	close(d);
	close(s);
	unlink(path);
}

/* ---- the pool gauges at scrape time --------------------------------------- */

/* The value of family name's series {program="program"}; NaN if none. */
static double gauge(const struct collection *c, const char *name, const char *program)
{
	for (size_t i = 0; i < c->nfamilies; i++) {
		const struct family_data *f = &c->families[i];
		if (strcmp(f->name, name) != 0)
			continue;
		for (size_t j = 0; j < f->nseries; j++)
			if (f->series[j].keylen == strlen(program) + 1 && strcmp(f->series[j].key, program) == 0)
				return f->series[j].cells[0];
	}
	return 0.0 / 0.0;
}

static int has_family(const struct collection *c, const char *name)
{
	for (size_t i = 0; i < c->nfamilies; i++)
		if (strcmp(c->families[i].name, name) == 0)
			return 1;
	return 0;
}

static struct pool_facts facts(const char *program, double start, const struct listener *l,
                               double most)
{
	struct pool_facts f;
	memset(&f, 0, sizeof f);
	snprintf(f.program, sizeof f.program, "%s", program);
	f.request_start = start;
	if (l)
		f.listener = *l;
	f.queue_max = most;
	return f;
}

/* app.fcgi: 3 workers on one unix listener with 2 connections waiting, 2
 * of them busy (the oldest for 7.5 s), one of which saw 5 waiting once;
 * other.fcgi: 1 idle worker on a listener that is gone; cgi.fcgi: a
 * worker without a listener.  The hidden facts family is dropped. */
static void poolstat_from_facts(void)
{
	char path[512];
	struct listener app, gone;
	int s = unix_listener(path, sizeof path, 16);
	CHECK(s >= 0 && listener_of_fd(s, &app) == 0);
	int c1 = unix_client(path), c2 = unix_client(path);
	CHECK(c1 >= 0 && c2 >= 0);
	in_port_t port;
	int t = tcp_listener(AF_INET, 4, &port);
	CHECK(t >= 0 && listener_of_fd(t, &gone) == 0);
	close(t);
	struct pool_facts w[] = {
	    facts("app.fcgi", 92.5, &app, 0), facts("app.fcgi", 0, &app, 5),
	    facts("app.fcgi", 99, &app, 1), facts("other.fcgi", 0, &gone, 3),
	    facts("cgi.fcgi", 0, NULL, 0),
	};
	struct collection c;
	memset(&c, 0, sizeof c);
	const char *key[] = {"app.fcgi"};
	const double one = 1;
	CHECK(own_add_gauge(&c, POOL_FACTS, "x", "program", key, &one, 1) == 0);
	CHECK(poolstat_add(&c, w, sizeof w / sizeof w[0], 100.0) == 0);
	CHECK(!has_family(&c, POOL_FACTS));
	CHECK_NUM(gauge(&c, "promfcgi_pool_workers", "app.fcgi"), 3);
	CHECK_NUM(gauge(&c, "promfcgi_pool_busy_workers", "app.fcgi"), 2);
	CHECK_NUM(gauge(&c, "promfcgi_pool_idle_workers", "app.fcgi"), 1);
	CHECK_NUM(gauge(&c, "promfcgi_pool_oldest_request_seconds", "app.fcgi"), 7.5);
	CHECK_NUM(gauge(&c, "promfcgi_pool_listen_queue", "app.fcgi"), 2);
	CHECK_NUM(gauge(&c, "promfcgi_pool_listen_queue_limit", "app.fcgi"), 16);
	CHECK_NUM(gauge(&c, "promfcgi_pool_listen_queue_max", "app.fcgi"), 5);
	CHECK_NUM(gauge(&c, "promfcgi_pool_workers", "other.fcgi"), 1);
	CHECK_NUM(gauge(&c, "promfcgi_pool_busy_workers", "other.fcgi"), 0);
	CHECK_NUM(gauge(&c, "promfcgi_pool_idle_workers", "other.fcgi"), 1);
	CHECK_NUM(gauge(&c, "promfcgi_pool_oldest_request_seconds", "other.fcgi"), 0);
	/* its listener is gone: no queue made up, the most its worker saw kept */
	CHECK(gauge(&c, "promfcgi_pool_listen_queue", "other.fcgi") !=
	      gauge(&c, "promfcgi_pool_listen_queue", "other.fcgi"));
	CHECK_NUM(gauge(&c, "promfcgi_pool_listen_queue_max", "other.fcgi"), 3);
	CHECK_NUM(gauge(&c, "promfcgi_pool_workers", "cgi.fcgi"), 1);
	CHECK(gauge(&c, "promfcgi_pool_listen_queue_max", "cgi.fcgi") !=
	      gauge(&c, "promfcgi_pool_listen_queue_max", "cgi.fcgi"));
	/* more waiting now than any worker saw: the most is now */
	int more[6];
	for (int i = 0; i < 6; i++)
		CHECK((more[i] = unix_client(path)) >= 0);
	model_collection_free(&c);
	memset(&c, 0, sizeof c);
	CHECK(poolstat_add(&c, w, 3, 100.0) == 0);
	CHECK_NUM(gauge(&c, "promfcgi_pool_listen_queue", "app.fcgi"), 8);
	CHECK_NUM(gauge(&c, "promfcgi_pool_listen_queue_max", "app.fcgi"), 8);
	for (size_t i = 1; i < c.nfamilies; i++)
		CHECK(strcmp(c.families[i - 1].name, c.families[i].name) < 0);
	model_collection_free(&c);
	/* no worker: no family */
	memset(&c, 0, sizeof c);
	CHECK(poolstat_add(&c, w, 0, 100.0) == 0);
	CHECK(c.nfamilies == 0);
	model_collection_free(&c);
	for (int i = 0; i < 6; i++)
		close(more[i]);
	close(c1);
	close(c2);
	close(s);
	unlink(path);
}

/* ---- recorded by workers, read by a scrape ------------------------------- */

/* A scrape of db as /metrics makes it (scrape_collect, then the pool
 * gauges): the value of family's series whose label values are values
 * (a histogram: its count; several labels: NUL-separated in key, keylen
 * bytes); NaN if the scrape fails, or there is no such series. */
static double scraped(const char *db, const char *family, const char *key, size_t keylen)
{
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "  scrape failed: %s\n", reason);
		return 0.0 / 0.0;
	}
	const struct scrape_stats *st = scrape_last_stats();
	poolstat_add(&c, st->pool, st->npool, st->pool_now);
	double v = 0.0 / 0.0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		for (size_t j = 0; strcmp(f->name, family) == 0 && j < f->nseries; j++)
			if (f->series[j].keylen == keylen && memcmp(f->series[j].key, key, keylen) == 0) {
				v = 0;
				for (int b = 0; b < (f->type == PF_HISTOGRAM ? f->nbuckets + 1 : 1); b++)
					v += f->series[j].cells[b];
			}
	}
	model_collection_free(&c);
	return v;
}

/* This process's program label value, and a (program, how) key. */
#define PROGRAM program_invocation_short_name
static double of_program(const char *db, const char *family)
{
	return scraped(db, family, PROGRAM, strlen(PROGRAM) + 1);
}
static double deaths(const char *db, const char *how)
{
	char key[256];
	size_t n = (size_t)snprintf(key, sizeof key, "%s%c%s", PROGRAM, 0, how) + 1;
	return scraped(db, "promfcgi_pool_worker_deaths_total", key, n);
}

/* A worker's set-up: a unix listener on fd 0 (as spawn-fcgi gives one),
 * then the store opened.  Returns the listener's path in path. */
static void become_worker(const char *db, char *path, size_t len)
{
	int s = unix_listener(path, len, 8);
	CHECK(s >= 0 && dup2(s, 0) == 0);
	close(s);
	CHECK(pf_open(db) == 0);
}

/* One request through the HTTP layer, in pieces: begin (with a stamp, if
 * any), then end. */
static char *request_env[8];
static char env_method[] = "REQUEST_METHOD=GET", env_uri[256], env_stamp[256];
static FCGX_Request fake;

static void request_begin(pf_http *h, pf_request *r, const char *uri, const char *stamp)
{
	int n = 0;
	snprintf(env_uri, sizeof env_uri, "REQUEST_URI=%s", uri);
	request_env[n++] = env_method;
	request_env[n++] = env_uri;
	if (stamp) {
		snprintf(env_stamp, sizeof env_stamp, "HTTP_X_REQUEST_START=%s", stamp);
		request_env[n++] = env_stamp;
	}
	request_env[n] = NULL;
	memset(&fake, 0, sizeof fake);
	fake.envp = request_env;
	fake.listen_sock = 0;
	pf_request_begin(h, r, &fake);
}

/* The worker's own scrape sees itself: a worker of its program, idle, then
 * busy with a request whose age grows, then idle again with its busy time
 * counted; a skipped route's time too; the queue time of stamped requests. */
static void requests_make_busy_time(void)
{
	static const char *const routes[] = {"/", "/healthz", NULL};
	static const char *const skip[] = {"/healthz", NULL};
	char db[512], path[512], stamp[64];
	test_new_store(db, sizeof db, "pool-busy");
	become_worker(db, path, sizeof path);
	struct pf_http_options o = {.size = sizeof o, .skip = skip};
	pf_http *h = pf_http_new(routes, &o);
	CHECK(h != NULL);
	CHECK_NUM(of_program(db, "promfcgi_pool_workers"), 1);
	CHECK_NUM(of_program(db, "promfcgi_pool_busy_workers"), 0);
	CHECK_NUM(of_program(db, "promfcgi_pool_idle_workers"), 1);
	CHECK_NUM(of_program(db, "promfcgi_pool_worker_starts_total"), 1);
	CHECK_NUM(of_program(db, "promfcgi_pool_busy_seconds_total"), 0);
	CHECK_NUM(of_program(db, "promfcgi_pool_listen_queue_limit"), 8);
	pf_request r;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(stamp, sizeof stamp, "t=%lld", (long long)now.tv_sec - 2); /* 2 s ago, at least */
	request_begin(h, &r, "/", stamp);
	CHECK_NUM(of_program(db, "promfcgi_pool_busy_workers"), 1);
	CHECK_NUM(of_program(db, "promfcgi_pool_idle_workers"), 0);
	double a1 = of_program(db, "promfcgi_pool_oldest_request_seconds");
	usleep(20000);
	double a2 = of_program(db, "promfcgi_pool_oldest_request_seconds");
	CHECK(a1 >= 0 && a2 >= a1 + 0.02);
	CHECK_NUM(of_program(db, "promfcgi_pool_queue_seconds"), 1);
	double q = scraped(db, "promfcgi_pool_queue_seconds", PROGRAM, strlen(PROGRAM) + 1);
	CHECK(q == 1);
	pf_request_end(&r);
	CHECK_NUM(of_program(db, "promfcgi_pool_busy_workers"), 0);
	CHECK_NUM(of_program(db, "promfcgi_pool_oldest_request_seconds"), 0);
	double busy = of_program(db, "promfcgi_pool_busy_seconds_total");
	CHECK(busy >= a2);
	/* a skipped route: not a request of requests_total, but busy time all the same */
	request_begin(h, &r, "/healthz", NULL);
	CHECK_NUM(of_program(db, "promfcgi_pool_busy_workers"), 1);
	usleep(20000);
	pf_request_end(&r);
	CHECK(of_program(db, "promfcgi_pool_busy_seconds_total") >= busy + 0.02);
	CHECK_NUM(test_total(db, "requests_total", NULL), 1);
	/* hostile stamps: the requests are counted, their waits are not */
	const char *bad[] = {"", "abc", "t=1000000000000000000000000000000", "t=-5", "t=1e9",
	                     "t=9999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		request_begin(h, &r, "/", bad[i]);
		pf_request_end(&r);
	}
	CHECK_NUM(test_total(db, "requests_total", NULL), 7);
	CHECK_NUM(of_program(db, "promfcgi_pool_queue_seconds"), 1);
	/* slow requests: over PROMFCGI_SLOW_SECONDS (5 by default) only */
	CHECK_NUM(of_program(db, "promfcgi_pool_slow_requests_total"), 0);
	pf_http_free(h);
	pf_close();
	scrape_close();
	unlink(path);
}

/* PROMFCGI_SLOW_SECONDS sets the threshold of slow requests. */
static void slow_requests_over_threshold(void)
{
	static const char *const routes[] = {"/", NULL};
	char db[512], path[512];
	test_new_store(db, sizeof db, "pool-slow");
	setenv("PROMFCGI_SLOW_SECONDS", "0.01", 1);
	become_worker(db, path, sizeof path);
	pf_http *h = pf_http_new(routes, NULL);
	pf_request r;
	request_begin(h, &r, "/", NULL);
	pf_request_end(&r); /* fast */
	request_begin(h, &r, "/", NULL);
	usleep(30000);
	pf_request_end(&r); /* slow */
	CHECK_NUM(of_program(db, "promfcgi_pool_slow_requests_total"), 1);
	pf_http_free(h);
	pf_close();
	scrape_close();
	unlink(path);
}

/* The most connections a worker saw waiting (at most once a second, after
 * a request: pf_maintain) stays when the queue is gone. */
static void worker_keeps_the_most_waiting(void)
{
	char db[512], path[512];
	int c[5];
	test_new_store(db, sizeof db, "pool-most");
	become_worker(db, path, sizeof path);
	for (int i = 0; i < 5; i++)
		CHECK((c[i] = unix_client(path)) >= 0);
	CHECK(pf_maintain() == 0);
	CHECK_NUM(of_program(db, "promfcgi_pool_listen_queue"), 5);
	for (int i = 0; i < 5; i++) {
		int a = accept(0, NULL, NULL);
		CHECK(a >= 0);
		close(a);
		close(c[i]);
	}
	CHECK_NUM(of_program(db, "promfcgi_pool_listen_queue"), 0);
	CHECK_NUM(of_program(db, "promfcgi_pool_listen_queue_max"), 5);
	pf_close();
	scrape_close();
	unlink(path);
}

/* A worker in the middle of a request is stopped (SIGSTOP): its request's
 * age, read from its file, grows at every scrape while it cannot say
 * anything, and goes when it is continued and ends the request; then it
 * exits through pf_close: a death, how="exit". */
static void stopped_worker_ages(void)
{
	char db[512], path[512];
	int done[2], go[2];
	test_new_store(db, sizeof db, "pool-stop");
	CHECK(pipe(done) == 0 && pipe(go) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		static const char *const routes[] = {"/", NULL};
		pf_request r;
		char c;
		close(done[0]);
		close(go[1]);
		become_worker(db, path, sizeof path);
		pf_http *h = pf_http_new(routes, NULL);
		request_begin(h, &r, "/", NULL);
		raise(SIGSTOP);
		pf_request_end(&r);
		CHECK(write(done[1], "e", 1) == 1);
		CHECK(read(go[0], &c, 1) == 0); /* the parent has looked: closed */
		pf_http_free(h);
		pf_close();
		unlink(path);
		_exit(test_failures ? 1 : 0);
	}
	close(done[1]);
	close(go[0]);
	int status;
	CHECK(waitpid(pid, &status, WUNTRACED) == pid && WIFSTOPPED(status));
	double a1 = of_program(db, "promfcgi_pool_oldest_request_seconds");
	usleep(100000);
	double a2 = of_program(db, "promfcgi_pool_oldest_request_seconds");
	usleep(100000);
	double a3 = of_program(db, "promfcgi_pool_oldest_request_seconds");
	CHECK(a1 >= 0 && a2 >= a1 + 0.1 && a3 >= a2 + 0.1);
	CHECK_NUM(of_program(db, "promfcgi_pool_busy_workers"), 1);
	kill(pid, SIGCONT);
	char e;
	CHECK(read(done[0], &e, 1) == 1);
	CHECK_NUM(of_program(db, "promfcgi_pool_busy_workers"), 0);
	CHECK_NUM(of_program(db, "promfcgi_pool_oldest_request_seconds"), 0);
	close(go[1]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(done[0]);
	CHECK_NUM(deaths(db, "exit"), 1);
	CHECK_NUM(deaths(db, "signal"), 0);
	CHECK_NUM(of_program(db, "promfcgi_pool_worker_starts_total"), 1);
	scrape_close();
}

static void killed_here(const char *where)
{
	if (strcmp(where, "closing") == 0)
		raise(SIGKILL);
}

/* A worker killed by a signal, its last request already folded by the
 * periodic live fold (nothing in its file newer than the store has): its
 * end is counted all the same, once, how="signal"; a worker killed in
 * pf_close after it marked its file closing ended by its own exit. */
static void killed_worker_counted_once(void)
{
	char db[512], path[512], c;
	int ready[2];
	test_new_store(db, sizeof db, "pool-kill");
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		become_worker(db, path, sizeof path);
		CHECK(write(ready[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	CHECK(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	close(ready[1]);
	CHECK_NUM(of_program(db, "promfcgi_pool_workers"), 1); /* the child (and no other worker) */
	setenv("PROMFCGI_FOLD_SECONDS", "0", 1);               /* every scrape folds the live */
	CHECK_NUM(of_program(db, "promfcgi_pool_worker_starts_total"), 1);
	unsetenv("PROMFCGI_FOLD_SECONDS");
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, NULL, 0) == pid);
	CHECK_NUM(deaths(db, "signal"), 1);
	CHECK_NUM(deaths(db, "exit"), 0);
	CHECK_NUM(deaths(db, "signal"), 1); /* folded once: the file is gone */
	CHECK(of_program(db, "promfcgi_pool_workers") != of_program(db, "promfcgi_pool_workers"));
	CHECK_NUM(of_program(db, "promfcgi_pool_worker_starts_total"), 1);
	pid = fork();
	if (pid == 0) {
		become_worker(db, path, sizeof path);
		stage_test_hook = killed_here; /* at "closing": killed there */
		pf_close();
		_exit(0);
	}
	CHECK(waitpid(pid, NULL, 0) == pid);
	CHECK_NUM(deaths(db, "exit"), 1);
	CHECK_NUM(deaths(db, "signal"), 1);
	CHECK_NUM(of_program(db, "promfcgi_pool_worker_starts_total"), 2);
	scrape_close();
}

/* A process whose fd 0 is no listening socket is no worker: none of it. */
static void not_a_worker_records_none(void)
{
	char db[512];
	test_new_store(db, sizeof db, "pool-none");
	int null = open("/dev/null", O_RDONLY);
	CHECK(null >= 0 && dup2(null, 0) == 0);
	CHECK(pf_open(db) == 0);
	CHECK(of_program(db, "promfcgi_pool_workers") != of_program(db, "promfcgi_pool_workers"));
	CHECK(test_total(db, "promfcgi_pool_worker_starts_total", NULL) !=
	      test_total(db, "promfcgi_pool_worker_starts_total", NULL));
	pf_close();
	scrape_close();
}

/* ---- X-Request-Start ------------------------------------------------------ */

/* now: 2023-11-14T22:13:20.5Z */
static const struct timespec now = {1700000000, 500000000};

static double wait_of(const char *stamp)
{
	double s = -1;
	return queue_stamp_wait(stamp, &now, &s) == 0 ? s : -1;
}

static void stamp_units_told_by_magnitude(void)
{
	CHECK_NUM(wait_of("t=1700000000"), 0.5);              /* seconds */
	CHECK_NUM(wait_of("t=1699999999.25"), 1.25);          /* nginx ${msec} */
	CHECK_NUM(wait_of("t=1700000000.123"), 0.377);
	CHECK_NUM(wait_of("t=1700000000250"), 0.25);          /* milliseconds */
	CHECK_NUM(wait_of("t=1700000000250.5"), 0.2495);
	CHECK_NUM(wait_of("t=1700000000499999"), 0.000001);   /* Apache %t: microseconds */
	CHECK_NUM(wait_of("t=1700000000400000000"), 0.1);     /* nanoseconds */
	CHECK_NUM(wait_of("1700000000100"), 0.4);             /* bare (Heroku's router) */
	CHECK_NUM(wait_of("  1700000000.5"), 0);              /* now exactly */
	CHECK_NUM(wait_of("t=1700000000000000 D=1234"), 0.5); /* Apache "%t %D" */
	CHECK_NUM(wait_of("host1 t=1700000000000"), 0.5);     /* "t=" anywhere, as New Relic reads it */
	CHECK_NUM(wait_of("t=1000000000"), 700000000.5);      /* 2001: old, but a time */
}

/* Hostile stamps: nothing recorded, never a failure beyond the -1. */
static void hostile_stamps_record_nothing(void)
{
	static const char *const bad[] = {
	    "", "t=", "t", "=", " ", "abc", "t=abc", "t=12abc", "t=1700000000x", "t=-1700000000",
	    "-1700000000", "t=+1700000000", "t=1.7e9", "t=1e30", "t=nan", "t=inf", "t=0x6553F100",
	    "t=.5", "t=1700000000..5",
	    "1000000000000000000000000000000",      /* 10^30 */
	    "t=1000000000000000000000000000000",    /* 10^30 */
	    "t=99999999999999999999",               /* past 64 bits */
	    "t=9223372036854775807",                /* the largest int64 as ns: 2262 */
	    "t=1700000001",                         /* half a second in the future */
	    "t=1700000000501",                      /* a millisecond in the future */
	    "t=4102444800",                         /* 2100 */
	    "t=946684799",                          /* 1999 in every unit */
	    "t=0", "t=1", "0",
	    "t=946684799999",                       /* 1999 as ms, so seconds: year 31969 */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		double s = 12345;
		int rc = queue_stamp_wait(bad[i], &now, &s);
		if (rc != -1 || s != 12345)
			fprintf(stderr, "  stamp \"%s\": rc %d, wait %g\n", bad[i], rc, s);
		CHECK(rc == -1 && s == 12345);
	}
	double s = 12345;
	CHECK(queue_stamp_wait(NULL, &now, &s) == -1 && s == 12345);
	/* a long one is read to its end, no further */
	char big[8192];
	memset(big, '7', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK(queue_stamp_wait(big, &now, &s) == -1);
	memcpy(big, "t=", 2);
	CHECK(queue_stamp_wait(big, &now, &s) == -1);
}

const struct test pool_tests[] = {
    {"pool/unix_queue_counts_waiting_connections", unix_queue_counts_waiting_connections},
    {"pool/tcp_queue_counts_waiting_connections", tcp_queue_counts_waiting_connections},
    {"pool/tcp6_queue_counts_waiting_connections", tcp6_queue_counts_waiting_connections},
    {"pool/several_listeners_in_one_read", several_listeners_in_one_read},
    {"pool/only_listening_stream_sockets", only_listening_stream_sockets},
    {"pool/poolstat_from_facts", poolstat_from_facts},
    {"pool/requests_make_busy_time", requests_make_busy_time},
    {"pool/slow_requests_over_threshold", slow_requests_over_threshold},
    {"pool/worker_keeps_the_most_waiting", worker_keeps_the_most_waiting},
    {"pool/stopped_worker_ages", stopped_worker_ages},
    {"pool/killed_worker_counted_once", killed_worker_counted_once},
    {"pool/not_a_worker_records_none", not_a_worker_records_none},
    {"pool/stamp_units_told_by_magnitude", stamp_units_told_by_magnitude},
    {"pool/hostile_stamps_record_nothing", hostile_stamps_record_nothing},
    {NULL, NULL},
};
