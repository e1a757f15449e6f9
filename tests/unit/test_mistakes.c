/* SPDX-License-Identifier: MIT */
/*
 * test_mistakes.c — a caller's mistakes speak (issue 17): every refusal of
 * the API writes one line naming the call, the offending argument and the
 * rule, and refuses as documented; a mistake repeated in a loop is written
 * once per interval.  Before, each of these returned NULL or -1 without a
 * word (pf_with took extra values, pf_serve served a NULL pf_http silently
 * and called a NULL handler, six constant labels overflowed an array).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "promfcgi_http.h"
#include "test.h"
#include "util.h"

static char db[700];

static void open_store(void)
{
	test_new_store(db, sizeof db, "mistakes");
	setenv("PROMFCGI_DB", db, 1);
	CHECK(pf_open(db) == 0);
}

/* The refusal's line is there, once. */
#define SAYS(text, line) CHECK(test_lines_with(text, line) == 1)

static void http_new_same_shape(void)
{
	static const char *const routes[] = {"/notes", "/notes/{id}", "/notes/{x}", NULL};
	open_store();
	test_stderr_begin();
	pf_http *h = pf_http_new(routes, NULL);
	const char *err = test_stderr_end();
	CHECK(h == NULL);
	SAYS(err, "pf_http_new: routes[2] \"/notes/{x}\" has the same shape as routes[1] "
	          "\"/notes/{id}\": both would match the same paths");
}

static void http_new_bad_template(void)
{
	static const char *const star[] = {"/files/*/x", NULL}, *const param[] = {"/a/{1x}", NULL},
	                         *const slash[] = {"notes", NULL};
	struct pf_http_options skip = {.size = sizeof skip, .skip = (const char *[]){"/a//b", NULL}};
	open_store();
	test_stderr_begin();
	CHECK(pf_http_new(star, NULL) == NULL);
	CHECK(pf_http_new(param, NULL) == NULL);
	CHECK(pf_http_new(slash, NULL) == NULL);
	CHECK(pf_http_new(NULL, &skip) == NULL);
	const char *err = test_stderr_end();
	SAYS(err, "pf_http_new: routes[0] \"/files/*/x\" is not a template: \"*\" is allowed as the "
	          "last segment only");
	SAYS(err, "pf_http_new: routes[0] \"/a/{1x}\" is not a template: \"{1x}\" is not {name}");
	SAYS(err, "pf_http_new: routes[0] \"notes\" is not a template: a template begins with \"/\"");
	SAYS(err, "pf_http_new: options->skip[0] \"/a//b\" is not a template: an empty segment");
}

static void http_new_bad_options(void)
{
	static const char *const routes[] = {"/", NULL};
	struct pf_http_options prefix = {.size = sizeof prefix, .prefix = "my-app_"};
	struct pf_http_options odd = {.size = sizeof odd, .const_labels = (const char *[]){"service", NULL}};
	struct pf_http_options own = {.size = sizeof own,
	                              .const_labels = (const char *[]){"code", "x", NULL}};
	struct pf_http_options buckets = {.size = sizeof buckets, .buckets = (const double[]){1, 0.5},
	                                  .nbuckets = 2};
	open_store();
	test_stderr_begin();
	CHECK(pf_http_new(routes, &prefix) == NULL);
	CHECK(pf_http_new(routes, &odd) == NULL);
	CHECK(pf_http_new(routes, &own) == NULL);
	CHECK(pf_http_new(routes, &buckets) == NULL);
	const char *err = test_stderr_end();
	SAYS(err, "pf_http_new: options->prefix \"my-app_\": name \"my-app_requests_total\" is not a "
	          "valid metric name");
	SAYS(err, "pf_http_new: options->const_labels: \"service\" has no value");
	SAYS(err, "pf_http_new: options->const_labels[0] \"code\" is one of the layer's own labels");
	SAYS(err, "pf_http_new: options->buckets: buckets[1] = 0.5 is not above buckets[0] = 1");
}

/* Six constant labels and method, route, code make nine: more than
 * PF_LABELS_MAX.  The check let the sixth pair through and wrote one past
 * its arrays (ASan: stack-buffer-overflow). */
static void http_new_too_many_const_labels(void)
{
	static const char *const routes[] = {"/", NULL};
	struct pf_http_options o = {
	    .size = sizeof o,
	    .const_labels = (const char *[]){"a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6",
	                                     NULL}};
	open_store();
	test_stderr_begin();
	CHECK(pf_http_new(routes, &o) == NULL);
	const char *err = test_stderr_end();
	SAYS(err, "pf_http_new: options->const_labels: more than 5 pairs (PF_LABELS_MAX, with method, "
	          "route and code)");
}

/* struct pf_http_options grows at its end: size says how much of it the
 * program knows (docs/abi.md). */
static void http_options_size(void)
{
	static const char *const routes[] = {"/", NULL};
	struct {
		struct pf_http_options o;
		char newer[16]; /* options of a later release */
	} big;
	struct pf_http_options none = {.prefix = "a_"}; /* size forgotten */
	open_store();
	test_stderr_begin();
	CHECK(pf_http_new(routes, &none) == NULL);
	memset(&big, 0, sizeof big);
	big.o.size = sizeof big;
	big.o.prefix = "b_";
	big.newer[3] = 1; /* a newer option set: this library cannot honour it */
	CHECK(pf_http_new(routes, &big.o) == NULL);
	const char *err = test_stderr_end();
	SAYS(err, "pf_http_new: options->size is 0: set it to sizeof (struct pf_http_options)");
	SAYS(err, "the program uses options of a newer libpromfcgi");
	big.newer[3] = 0; /* a newer program that uses nothing new: fine */
	pf_http *h = pf_http_new(routes, &big.o);
	CHECK(h != NULL);
	pf_http_free(h);
	/* an older program's shorter struct: what it does not know is zero */
	struct pf_http_options older = {.size = offsetof(struct pf_http_options, const_labels),
	                                .prefix = "c_", .nbuckets = 99};
	h = pf_http_new(routes, &older);
	CHECK(h != NULL);
	pf_http_free(h);
	pf_close();
	CHECK_NUM(test_total(db, "b_requests_total", NULL), 0);
	CHECK_NUM(test_total(db, "c_active_requests", NULL), 0); /* defined, nbuckets ignored */
}

static void invalid_metric_name(void)
{
	open_store();
	test_stderr_begin();
	CHECK(pf_counter("notes-created", "Notes created.", NULL) == NULL);
	CHECK(pf_gauge(NULL, "x", NULL) == NULL);
	CHECK(pf_counter("ok_total", "Fine.", (const char *[]){"my-label", NULL}) == NULL);
	CHECK(pf_histogram("h_seconds", "H.", (const char *[]){"le", NULL}, NULL, 0) == NULL);
	const char *err = test_stderr_end();
	SAYS(err, "pf_counter: name \"notes-created\" is not a valid metric name ([a-zA-Z_:]"
	          "[a-zA-Z0-9_:]*, not beginning with __, under 128 bytes)");
	SAYS(err, "pf_gauge: name is NULL");
	SAYS(err, "pf_counter(\"ok_total\"): labels[0] \"my-label\" is not a valid label name");
	SAYS(err, "pf_histogram(\"h_seconds\"): labels[0] \"le\" is a histogram's own");
}

static void empty_help(void)
{
	open_store();
	test_stderr_begin();
	CHECK(pf_counter("notes_total", "", NULL) == NULL);
	CHECK(pf_histogram_native("n_seconds", "N.", NULL, NULL, 0, 9, 0) == NULL);
	const char *err = test_stderr_end();
	SAYS(err, "pf_counter(\"notes_total\"): help is empty: every family needs a help text");
	SAYS(err, "pf_histogram_native(\"n_seconds\"): schema 9 is outside -4..8");
}

static void clashing_redefinition(void)
{
	static const char *const kind[] = {"kind", NULL};
	open_store();
	pf_family *f = pf_counter("orders_total", "Orders.", kind);
	CHECK(f != NULL);
	test_stderr_begin();
	CHECK(pf_counter("orders_total", "Orders.", kind) == f); /* the same again: fine, silent */
	CHECK(pf_gauge("orders_total", "Orders.", kind) == NULL);
	CHECK(pf_counter("orders_total", "Orders taken.", kind) == NULL);
	const char *err = test_stderr_end();
	SAYS(err, "pf_gauge(\"orders_total\"): clashes with its earlier definition in this process, a "
	          "counter with labels (kind); this one is a gauge with labels (kind)");
	SAYS(err, "pf_counter(\"orders_total\"): clashes with its earlier definition in this process, "
	          "a counter with labels (kind); this one is another help text");
	CHECK(test_lines_with(err, "promfcgi[") == 2);
}

/* pf_with's values end with NULL, as the label names do: a count that does
 * not match is refused.  Before, extra values were taken silently. */
static void with_value_count(void)
{
	static const char *const two[] = {"kind", "route", NULL};
	open_store();
	pf_family *f = pf_counter("orders_total", "Orders.", two), *bare = pf_counter("up", "Up.", NULL);
	test_stderr_begin();
	CHECK(pf_with(f, (const char *[]){"book", "/", "extra", NULL}) == NULL);
	CHECK(pf_with(f, (const char *[]){"book", NULL}) == NULL);
	CHECK(pf_with(f, NULL) == NULL);
	CHECK(pf_with(bare, (const char *[]){"x", NULL}) == NULL);
	CHECK(pf_with(f, (const char *[]){"book", "\xff", NULL}) == NULL);
	const char *err = test_stderr_end();
	SAYS(err, "pf_with(orders_total): more than 2 values, or no NULL after them, for 2 label names "
	          "(kind, route): one value per label name, then NULL");
	SAYS(err, "pf_with(orders_total): 1 value before the NULL, for 2 label names (kind, route)");
	SAYS(err, "pf_with(orders_total): values is NULL, and the family has 2 label names");
	SAYS(err, "pf_with(up): more than 0 values, or no NULL after them, for 0 label names");
	SAYS(err, "pf_with(orders_total): values[1] is not valid UTF-8");
	CHECK(pf_with(f, (const char *[]){"book", "/", NULL}) != NULL);
	CHECK(pf_with(bare, NULL) != NULL && pf_with(bare, (const char *[]){NULL}) != NULL);
}

static void recording_misuse(void)
{
	open_store();
	pf_series *c = pf_with(pf_counter("c_total", "C.", NULL), NULL);
	pf_series *h = pf_with(pf_histogram("h_seconds", "H.", NULL, NULL, 0), NULL);
	test_stderr_begin();
	CHECK(pf_add(c, -1) == -1);
	CHECK(pf_observe(c, 1) == -1);
	CHECK(pf_inc(h) == -1);
	CHECK(pf_dec(c) == -1);
	CHECK(pf_observe(h, 0.0 / 0.0) == -1);
	pf_commit();
	CHECK(pf_add_exemplar(c, 1, (const char *[]){"trace_id", NULL}) == 1); /* counted, no exemplar */
	CHECK(pf_inc(NULL) == -1); /* a NULL handle: its refusal was logged before; silent */
	const char *err = test_stderr_end();
	SAYS(err, "pf_add(c_total, -1): a counter only goes up");
	SAYS(err, "pf_observe(c_total): a counter does not take it");
	SAYS(err, "pf_inc(h_seconds): a histogram does not take it: pf_observe for a histogram");
	SAYS(err, "pf_dec(c_total): a counter does not take it: only a gauge goes down");
	SAYS(err, "pf_observe(h_seconds, NaN): NaN is no observation");
	SAYS(err, "pf_commit: no pf_begin to match");
	SAYS(err, "pf_add_exemplar(c_total): exemplar labels: 1 string, not name-value pairs");
	CHECK(test_lines_with(err, "promfcgi[") == 7);
	pf_close();
	CHECK_NUM(test_total(db, "c_total", NULL), 1);
}

/* The store is open already (pf_http_new opened it): another path changes
 * nothing, and says so. */
static void open_twice(void)
{
	static const char *const routes[] = {"/", NULL};
	char other[700];
	test_new_store(db, sizeof db, "mistakes");
	test_new_store(other, sizeof other, "mistakes");
	setenv("PROMFCGI_DB", db, 1);
	pf_http *h = pf_http_new(routes, NULL);
	test_stderr_begin();
	CHECK(pf_open(db) == 0);    /* the same: fine, silent */
	CHECK(pf_open(NULL) == 0);
	CHECK(pf_open(other) == 0); /* changes nothing */
	const char *err = test_stderr_end();
	CHECK(test_lines_with(err, "promfcgi[") == 1);
	char want[2000];
	snprintf(want, sizeof want, "pf_open(\"%s\"): the store is open already, at %s (pf_http_new "
	         "opens it, from PROMFCGI_DB): this call changes nothing", other, db);
	SAYS(err, want);
	CHECK_STR(pf_db_path(), db);
	pf_http_free(h);
}

static void not_open(void)
{
	test_stderr_begin();
	CHECK(pf_counter("early_total", "Too early.", NULL) == NULL);
	const char *err = test_stderr_end();
	SAYS(err, "pf_counter: no store is open: call pf_open (or pf_http_new) first, after any fork");
}

/* A mistake in a request loop is written once per interval, with the count
 * of the repeats; another mistake still gets its own line. */
static void repeated_once_per_interval(void)
{
	open_store();
	pf_series *c = pf_with(pf_counter("c_total", "C.", NULL), NULL);
	test_stderr_begin();
	for (int i = 0; i < 1000; i++)
		pf_add(c, -1);
	pf_add(c, -2);
	const char *err = test_stderr_end();
	CHECK(test_lines_with(err, "pf_add(c_total, -1): a counter only goes up") == 1);
	CHECK(test_lines_with(err, "pf_add(c_total, -2): a counter only goes up") == 1);
	CHECK(test_lines_with(err, "promfcgi[") == 2);
}

static void status_out_of_range(void)
{
	static const char *const routes[] = {"/", NULL};
	open_store();
	pf_http *h = pf_http_new(routes, NULL);
	pf_request r;
	test_stderr_begin();
	pf_request_begin_env(h, &r, "GET", "/");
	pf_request_status(&r, 42);
	pf_request_end(&r);
	const char *err = test_stderr_end();
	SAYS(err, "pf_request_status: 42 is not an HTTP status (100-599): counted as 500");
	pf_http_free(h);
	pf_close();
	CHECK_NUM(test_series(db, "requests_total", (const char *[]){"GET", "/", "500", NULL}), 1);
}

static int answer(FCGX_Request *req, pf_request *r, void *arg)
{
	(void)r;
	(void)arg;
	FCGX_FPrintF(req->out, "Content-Type: text/plain\r\n\r\nserved\n");
	return 0;
}

/* Runs pf_serve(h, handler) as one CGI request for /x in this process,
 * stdout into a file; returns its exit status, and what it wrote in out. */
static int serve_cgi(pf_http *(*make)(void), pf_handler handler, char *out, size_t len)
{
	char path[800];
	snprintf(path, sizeof path, "%s.out", db);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), null = open("/dev/null", O_RDONLY);
	CHECK(fd >= 0 && null >= 0);
	dup2(null, 0);
	dup2(fd, 1);
	close(fd);
	close(null);
	setenv("REQUEST_METHOD", "GET", 1);
	setenv("PATH_INFO", "/x", 1);
	int rc = pf_serve(make(), handler, NULL);
	FILE *fp = fopen(path, "r");
	size_t n = fp ? fread(out, 1, len - 1, fp) : 0;
	if (fp)
		fclose(fp);
	out[n] = '\0';
	return rc;
}

static pf_http *refused_routes(void)
{
	static const char *const routes[] = {"/x/{a}", "/x/{b}", NULL};
	return pf_http_new(routes, NULL);
}

static pf_http *good_routes(void)
{
	static const char *const routes[] = {"/x", NULL};
	return pf_http_new(routes, NULL);
}

/* pf_serve given NULL because pf_http_new refused: the app is served all
 * the same (metrics never take the site down), and a line says it runs
 * without request metrics.  The metrics program's deliberate NULL says
 * nothing (metrics.c; its stack tests). */
static void serve_refused_http_warns(void)
{
	char out[4096];
	test_new_store(db, sizeof db, "mistakes");
	setenv("PROMFCGI_DB", db, 1);
	test_stderr_begin();
	int rc = serve_cgi(refused_routes, answer, out, sizeof out);
	const char *err = test_stderr_end();
	CHECK(rc == 0);
	CHECK(strstr(out, "served\n") != NULL);
	SAYS(err, "pf_http_new: routes[1] \"/x/{b}\" has the same shape as routes[0] \"/x/{a}\"");
	SAYS(err, "pf_serve: serving without request metrics: pf_http_new refused its routes (the "
	          "line above says why) and gave NULL");
}

static void serve_null_handler_refused(void)
{
	char out[4096];
	test_new_store(db, sizeof db, "mistakes");
	setenv("PROMFCGI_DB", db, 1);
	test_stderr_begin();
	int rc = serve_cgi(good_routes, NULL, out, sizeof out);
	const char *err = test_stderr_end();
	CHECK(rc == 2);
	CHECK(out[0] == '\0');
	SAYS(err, "pf_serve: handler is NULL: nothing would answer the requests; not serving");
}

const struct test mistake_tests[] = {
    {"mistakes/http_new_same_shape", http_new_same_shape},
    {"mistakes/http_new_bad_template", http_new_bad_template},
    {"mistakes/http_new_bad_options", http_new_bad_options},
    {"mistakes/http_new_too_many_const_labels", http_new_too_many_const_labels},
    {"mistakes/http_options_size", http_options_size},
    {"mistakes/invalid_metric_name", invalid_metric_name},
    {"mistakes/empty_help", empty_help},
    {"mistakes/clashing_redefinition", clashing_redefinition},
    {"mistakes/with_value_count", with_value_count},
    {"mistakes/recording_misuse", recording_misuse},
    {"mistakes/not_open", not_open},
    {"mistakes/open_twice", open_twice},
    {"mistakes/repeated_once_per_interval", repeated_once_per_interval},
    {"mistakes/status_out_of_range", status_out_of_range},
    {"mistakes/serve_refused_http_warns", serve_refused_http_warns},
    {"mistakes/serve_null_handler_refused", serve_null_handler_refused},
    {NULL, NULL},
};
