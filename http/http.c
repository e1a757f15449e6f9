/* SPDX-License-Identifier: MIT */
/*
 * http.c — request metrics for any app (promfcgi_http.h): route templates,
 * the status read from what the app writes, one atomic change per request.
 *
 * Where a request is recorded: pf_request_end().  The in-flight gauge goes
 * up in pf_request_begin() and down in the same atomic change that counts
 * the request and observes its duration, so a scrape never sees a request
 * both finished and in flight, and a killed worker's in-flight requests go
 * with its incarnation.
 *
 * The status is read from the output stream, not asked of the app: libfcgi
 * hands every buffer of output to the stream's emptyBuffProc (FCGX_PutStr,
 * FCGX_FFlush and FCGX_FClose all do), so wrapping that function sees every
 * byte the app wrote, once, before it leaves; what is still in the buffer
 * at the end is read in pf_request_end.  Only the header block is parsed,
 * and only the Status and Location lines are kept.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/log.h"
#include "store/notice.h"
#include "store/names.h"
#include "store/registry.h"
#include "promfcgi_http.h"
#include "http/http.h"
#include "http/queue.h"
#include "http/route.h"

#define CODES_CACHED 4        /* status codes remembered per method and route */
#define HEADER_SCAN_MAX 65536 /* header bytes read before giving up on a Status line */

struct route_cache {
	int code[CODES_CACHED];
	pf_series *count[CODES_CACHED];
	pf_series *duration;
};

struct pf_http {
	struct route_template *tpl; /* most specific first */
	int *declared;              /* per tpl: index in the routes given, or -1 */
	unsigned char *skip;        /* per tpl: its requests are not recorded */
	int ntpl, nroutes;
	const char **route_text;    /* per declared route: its template, the route label */
	pf_family *requests, *duration, *active;
	pf_series *in_flight;
	int nconst;
	char *const_values[PF_LABELS_MAX];
	struct route_cache *cache;  /* [M_COUNT][nroutes + 1]; the last is "unmatched" */
	struct route_path *path;    /* of the request being measured */
	int path_ok;
	char *rest;                 /* a "*" parameter, rebuilt (PF_PATH_MAX + 1) */
};

/* Whether a pf_http_new of this process refused (pf_serve says so when it
 * then gets NULL). */
static int refused;

int http_new_refused(void)
{
	return refused;
}

/* Logs why pf_http_new refuses (one line, after "pf_http_new: "); -1. */
static int __attribute__((format(printf, 1, 2))) refuse(const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	refused = 1;
	notice("pf_http_new: %s", why);
	return -1;
}

/* Adds the templates of list to h (skip: not recorded); what names list in
 * a message: "routes" or "options->skip". */
static int add_templates(pf_http *h, const char *const *list, int skip, size_t max, const char *what)
{
	for (int i = 0; list && list[i]; i++) {
		if ((size_t)h->ntpl == max)
			return refuse("more than %d templates, options->skip included (PF_ROUTES_MAX)",
			              PF_ROUTES_MAX);
		if (route_compile(&h->tpl[h->ntpl], list[i]) != 0)
			return refuse("%s[%d] \"%.200s\" is not a template: %s (a template is \"/\" and "
			              "segments: literal, {name}, or * as the last)",
			              what, i, list[i], notice_reason());
		h->declared[h->ntpl] = skip ? -1 : i;
		h->skip[h->ntpl++] = (unsigned char)skip;
	}
	return 0;
}

static void move_template(pf_http *h, int to, int from)
{
	h->tpl[to] = h->tpl[from];
	h->declared[to] = h->declared[from];
	h->skip[to] = h->skip[from];
}

/* Sorts the templates most specific first.  A skip template of the same
 * shape as a route marks that route skipped; two routes of one shape are
 * a mistake. */
static int sort_templates(pf_http *h)
{
	for (int i = 1; i < h->ntpl; i++) { /* insertion sort: few, once */
		struct route_template t = h->tpl[i];
		int d = h->declared[i], k = h->skip[i], j = i - 1;
		for (; j >= 0 && route_compare(&h->tpl[j], &t) > 0; j--)
			move_template(h, j + 1, j);
		h->tpl[j + 1] = t;
		h->declared[j + 1] = d;
		h->skip[j + 1] = (unsigned char)k;
	}
	for (int i = 1; i < h->ntpl; i++) {
		if (route_compare(&h->tpl[i - 1], &h->tpl[i]) != 0)
			continue;
		int a = i - 1, b = i; /* b is dropped into a */
		if (h->declared[a] >= 0 && h->declared[b] >= 0) {
			int first = h->declared[a] < h->declared[b] ? a : b, second = a + b - first;
			return refuse("routes[%d] \"%s\" has the same shape as routes[%d] \"%s\": both would "
			              "match the same paths; keep one", h->declared[second],
			              h->tpl[second].text, h->declared[first], h->tpl[first].text);
		}
		if (h->declared[a] < 0) {
			a = i;
			b = i - 1;
		}
		h->skip[a] = 1;
		route_template_free(&h->tpl[b]);
		for (int j = b; j + 1 < h->ntpl; j++)
			move_template(h, j, j + 1);
		h->ntpl--;
		i--;
	}
	return 0;
}

/* name = prefix + base, checked by the family definition itself. */
static void family_name(char *out, size_t len, const struct pf_http_options *o, const char *base)
{
	snprintf(out, len, "%s%s", o->prefix ? o->prefix : "", base);
}

/* The constant labels, checked: n pairs into names and values. */
static int const_labels(const struct pf_http_options *o, const char **names, const char **values,
                        int *n)
{
	static const char *const own[] = {"method", "route", "code"};
	*n = 0;
	for (int i = 0; o->const_labels && o->const_labels[2 * i]; i++) {
		const char *name = o->const_labels[2 * i], *value = o->const_labels[2 * i + 1];
		if (!value)
			return refuse("options->const_labels: \"%.64s\" has no value (name, value pairs, "
			              "then NULL)", name);
		if (i + 1 + 3 > PF_LABELS_MAX) /* with method, route and code */
			return refuse("options->const_labels: more than %d pairs (PF_LABELS_MAX, with method, "
			              "route and code)", PF_LABELS_MAX - 3);
		if (!pf_valid_label_name(name))
			return refuse("options->const_labels[%d] \"%.64s\" is not a valid label name "
			              "([a-zA-Z_][a-zA-Z0-9_]*, not beginning with __)", 2 * i, name);
		for (int k = 0; k < 3; k++)
			if (strcmp(name, own[k]) == 0)
				return refuse("options->const_labels[%d] \"%s\" is one of the layer's own labels "
				              "(method, route, code)", 2 * i, name);
		for (int k = 0; k < i; k++)
			if (strcmp(name, names[k]) == 0)
				return refuse("options->const_labels: \"%s\" is given twice", name);
		if (!names_valid_utf8(value, strlen(value)))
			return refuse("options->const_labels[%d], the value of %s, is not valid UTF-8",
			              2 * i + 1, name);
		names[i] = name;
		values[i] = value;
		*n = i + 1;
	}
	return 0;
}

static int define_families(pf_http *h, const struct pf_http_options *o)
{
	const char *req_labels[PF_LABELS_MAX + 1], *dur_labels[PF_LABELS_MAX + 1],
	    *act_labels[PF_LABELS_MAX + 1], *values[PF_LABELS_MAX + 1];
	const double *buckets = o->buckets ? o->buckets : pf_default_buckets;
	int nbuckets = o->buckets ? o->nbuckets : pf_default_nbuckets, n = 0;
	if (const_labels(o, req_labels, values, &n) != 0)
		return -1;
	for (int i = 0; i < n; i++)
		dur_labels[i] = act_labels[i] = req_labels[i];
	req_labels[n] = dur_labels[n] = "method";
	req_labels[n + 1] = dur_labels[n + 1] = "route";
	req_labels[n + 2] = "code";
	req_labels[n + 3] = NULL;
	dur_labels[n + 2] = NULL;
	act_labels[n] = NULL;
	values[n] = NULL;
	char req_name[PF_NAME_MAX + 64], dur_name[PF_NAME_MAX + 64], act_name[PF_NAME_MAX + 64];
	family_name(req_name, sizeof req_name, o, "requests_total");
	family_name(dur_name, sizeof dur_name, o, "request_duration_seconds");
	family_name(act_name, sizeof act_name, o, "active_requests");
	/* all three valid, or none defined: a definition cannot be taken back */
	struct family_def def;
	char key[PF_KEY_MAX];
	if (names_build_family(&def, PF_COUNTER, req_name, "x", req_labels, NULL, 0) != 0 ||
	    names_build_family(&def, PF_GAUGE, act_name, "x", act_labels, NULL, 0) != 0)
		return refuse("options->prefix \"%.64s\": %s", o->prefix ? o->prefix : "", notice_reason());
	if (names_build_family(&def, PF_HISTOGRAM, dur_name, "x", dur_labels, buckets, nbuckets) != 0)
		return o->buckets ? refuse("options->buckets: %s", notice_reason())
		                  : refuse("options->prefix \"%.64s\": %s", o->prefix, notice_reason());
	if (names_encode_key(values, n, key, sizeof key) < 0)
		return refuse("options->const_labels: %s", notice_reason());
	h->nconst = n;
	for (int i = 0; i < n; i++)
		if (!(h->const_values[i] = strdup(values[i])))
			return refuse("out of memory");
	h->requests = pf_counter(req_name, "Total number of requests.", req_labels);
	/* classic buckets (dashboards built on them keep working) and native
	 * ones (quantiles within a few per cent at any latency) */
	h->duration = pf_histogram_native(dur_name, "Duration of requests in seconds.", dur_labels,
	                                  buckets, nbuckets, PF_NATIVE_SCHEMA_DEFAULT,
	                                  PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
	h->active = pf_gauge(act_name, "Number of requests in flight.", act_labels);
	h->in_flight = pf_with(h->active, values);
	if (!h->requests || !h->duration || !h->active || !h->in_flight)
		return refuse("its families %s, %s and %s could not all be defined (the line above says "
		              "why)", req_name, dur_name, act_name);
	return 0;
}

/* The caller's options, as this library knows them: the first size bytes
 * (zeros after them, for a program built against an older header); a
 * larger size is taken only if what this library does not know is zero. */
static int read_options(struct pf_http_options *o, const struct pf_http_options *given)
{
	memset(o, 0, sizeof *o);
	if (!given)
		return 0;
	if (given->size < sizeof given->size)
		return refuse("options->size is %zu: set it to sizeof (struct pf_http_options), e.g. "
		              "{.size = sizeof o, ...}", given->size);
	if (given->size > sizeof *o) {
		const unsigned char *p = (const unsigned char *)given;
		for (size_t i = sizeof *o; i < given->size; i++)
			if (p[i])
				return refuse("options->size is %zu, and this library knows %zu bytes of options: "
				              "the program uses options of a newer libpromfcgi", given->size,
				              sizeof *o);
	}
	memcpy(o, given, given->size < sizeof *o ? given->size : sizeof *o);
	o->size = sizeof *o;
	if (o->buckets && (o->nbuckets < 0 || o->nbuckets > PF_BUCKETS_MAX))
		return refuse("options->nbuckets %d is outside 0..%d (PF_BUCKETS_MAX)", o->nbuckets,
		              PF_BUCKETS_MAX);
	return 0;
}

pf_http *pf_http_new(const char *const *routes, const struct pf_http_options *given)
{
	struct pf_http_options o;
	if (read_options(&o, given) != 0)
		return NULL;
	pf_open(NULL); /* the families live in this process's registry */
	pf_http *h = calloc(1, sizeof *h);
	if (!h)
		return refuse("out of memory"), NULL;
	/* sized to the templates, and the path buffers left unzeroed: in a CGI
	 * process every page touched is a page fault, at every request */
	size_t n = 0;
	for (int i = 0; routes && routes[i]; i++)
		n++;
	for (int i = 0; o.skip && o.skip[i]; i++)
		n++;
	n = n < PF_ROUTES_MAX ? n : PF_ROUTES_MAX;
	h->tpl = calloc(n + 1, sizeof *h->tpl);
	h->declared = calloc(n + 1, sizeof *h->declared);
	h->skip = calloc(n + 1, sizeof *h->skip);
	h->path = malloc(sizeof *h->path);
	h->rest = malloc(PF_PATH_MAX + 1);
	if (!h->tpl || !h->declared || !h->skip || !h->path || !h->rest) {
		refuse("out of memory");
		goto fail;
	}
	if (add_templates(h, routes, 0, n, "routes") != 0)
		goto fail;
	h->nroutes = h->ntpl;
	h->route_text = calloc((size_t)h->nroutes + 1, sizeof *h->route_text);
	if (!h->route_text) {
		refuse("out of memory");
		goto fail;
	}
	for (int i = 0; i < h->nroutes; i++)
		h->route_text[i] = h->tpl[i].text;
	h->route_text[h->nroutes] = "unmatched";
	h->cache = calloc((size_t)M_COUNT * (size_t)(h->nroutes + 1), sizeof *h->cache);
	if (!h->cache) {
		refuse("out of memory");
		goto fail;
	}
	if (add_templates(h, o.skip, 1, n, "options->skip") != 0 || sort_templates(h) != 0 ||
	    define_families(h, &o) != 0)
		goto fail;
	return h;
fail:
	pf_http_free(h);
	return NULL;
}

void pf_http_free(pf_http *h)
{
	if (!h)
		return;
	for (int i = 0; h->tpl && i < h->ntpl; i++)
		route_template_free(&h->tpl[i]);
	for (int i = 0; i < h->nconst; i++)
		free(h->const_values[i]);
	free(h->tpl);
	free(h->declared);
	free(h->skip);
	free(h->route_text);
	free(h->cache);
	free(h->path);
	free(h->rest);
	free(h);
}

/* W3C trace context: "00-<32 hex>-<16 hex>-<2 hex>", lowercase; a later
 * version may append "-..."; all-zero ids and version ff are invalid. */
static int parse_traceparent(const char *tp, char trace_id[33])
{
	static const int dash[] = {2, 35, 52};
	trace_id[0] = '\0';
	if (!tp)
		return -1;
	size_t n = strlen(tp);
	if (n < 55 || (n > 55 && (tp[0] == '0' && tp[1] == '0')) || (n > 55 && tp[55] != '-'))
		return -1;
	for (size_t i = 0; i < 55; i++) {
		int is_dash = i == (size_t)dash[0] || i == (size_t)dash[1] || i == (size_t)dash[2];
		int c = (unsigned char)tp[i];
		if (is_dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
	}
	if (tp[0] == 'f' && tp[1] == 'f')
		return -1;
	if (strspn(tp + 3, "0") >= 32 || strspn(tp + 36, "0") >= 16)
		return -1;
	memcpy(trace_id, tp + 3, 32);
	trace_id[32] = '\0';
	return 0;
}

/* --- the status tap -------------------------------------------------- */

#define TAPS_MAX 4 /* requests measured at once by one thread */
static struct tap {
	FCGX_Stream *stream;
	struct request *req;
	void (*empty)(FCGX_Stream *, int); /* the stream's own */
} taps[TAPS_MAX];

/* One complete header line, without its end; only Status and Location
 * matter (and the blank line that ends the block). */
static void header_line(struct request *r, const char *line, size_t n)
{
	static const char status[] = "status:", location[] = "location:";
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (n == 0) {
		r->state = 2; /* the blank line: the body follows */
		return;
	}
	if (n > sizeof status && strncasecmp(line, status, sizeof status - 1) == 0) {
		const char *p = line + sizeof status - 1, *end = line + n;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		int code = 0, digits = 0;
		for (; digits < 3 && p + digits < end && p[digits] >= '0' && p[digits] <= '9'; digits++)
			code = code * 10 + (p[digits] - '0');
		if (digits == 3 && (p + 3 == end || p[3] == ' ' || p[3] == '\t'))
			r->status = r->status ? r->status : -code; /* negative: read, not given */
	} else if (n >= sizeof location - 1 && strncasecmp(line, location, sizeof location - 1) == 0) {
		r->location = 1;
	}
}

/* Reads header lines from p..end: whole lines in place, a line cut by the
 * end of a buffer kept (its first bytes: enough for "Status: 200") until
 * the rest comes. */
static void scan(struct request *r, const unsigned char *p, const unsigned char *end)
{
	while (p < end && r->state != 2) {
		const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		if ((r->scanned += (long)n + 1) > HEADER_SCAN_MAX) {
			r->state = 2; /* no server takes a header block this long: stop reading */
			return;
		}
		if (!nl || r->linelen) { /* a line in pieces: gather its start */
			size_t room = sizeof r->line - (size_t)r->linelen;
			memcpy(r->line + r->linelen, p, n < room ? n : room);
			r->linelen += (int)(n < room ? n : room);
			if (!nl)
				return;
			header_line(r, r->line, (size_t)r->linelen);
			r->linelen = 0;
		} else {
			header_line(r, (const char *)p, n);
		}
		p = nl + 1;
	}
}

static struct tap *tap_of(const FCGX_Stream *s)
{
	for (int i = 0; i < TAPS_MAX; i++)
		if (taps[i].stream == s)
			return &taps[i];
	return NULL;
}

static void tap_empty(FCGX_Stream *s, int closing)
{
	struct tap *t = tap_of(s);
	if (!t)
		return; /* never: the tap is removed with the request */
	struct request *r = t->req;
	if (r->state != 2)
		scan(r, r->mark, s->wrNext);
	if (s->wrNext != r->first)
		r->flushed = 1;
	t->empty(s, closing);
	r->mark = r->first = s->wrNext;
}

static void tap_on(struct request *r, FCGX_Stream *s)
{
	r->out = NULL;
	if (!s || s->isReader)
		return;
	for (int i = 0; i < TAPS_MAX; i++)
		if (!taps[i].stream) {
			taps[i] = (struct tap){s, r, s->emptyBuffProc};
			s->emptyBuffProc = tap_empty;
			r->out = s;
			r->mark = r->first = s->wrNext;
			return;
		}
}

static void tap_off(struct request *r)
{
	struct tap *t = r->out ? tap_of(r->out) : NULL;
	if (!t)
		return;
	if (r->state != 2)
		scan(r, r->mark, r->out->wrNext);
	r->mark = r->out->wrNext;
	r->out->emptyBuffProc = t->empty;
	memset(t, 0, sizeof *t);
	r->out = NULL;
}

/* --- a request ------------------------------------------------------- */

/* The time a request waited for a worker, from the front end's stamp: -1
 * if there is none (or none the convention reads: queue.h). */
static double queue_of(const char *stamp)
{
	struct timespec now; /* the vDSO: no system call */
	double seconds;
	if (!stamp)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	return queue_stamp_wait(stamp, &now, &seconds) == 0 ? seconds : -1;
}

static void begin_request(pf_http *h, struct request *r, const char *method, const char *path, int raw,
                          const char *traceparent, const char *stamp)
{
	memset(r, 0, sizeof *r);
	r->http = h;
	r->route = -1;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->method = route_method(method);
	/* the worker's pool metrics, whatever the route: skipped ones too */
	double start = (double)r->start.tv_sec + (double)r->start.tv_nsec / 1e9;
	if (!h) {
		registry_request_begin(start, queue_of(stamp));
		return;
	}
	h->path_ok = route_normalize(h->path, path, raw) == 0;
	for (int i = 0; h->path_ok && i < h->ntpl; i++)
		if (route_match(&h->tpl[i], h->path)) {
			r->route = h->declared[i];
			r->skip = h->skip[i];
			break;
		}
	parse_traceparent(traceparent, r->trace_id);
	pf_begin();
	registry_request_begin(start, queue_of(stamp));
	if (!r->skip)
		pf_inc(h->in_flight);
	pf_commit();
	if (!r->skip)
		pf_publish(); /* a CGI process: its in-flight request seen by scrapes */
}

/* The parameters a request's measure reads, in one pass over its
 * environment (FCGX_GetParam scans it all for each name): the first of
 * each name wins, as with FCGX_GetParam. */
struct params {
	const char *uri, *script, *path_info, *method, *traceparent, *stamp, *queue_start;
};

static void take(const char **v, const char *e, const char *prefix, size_t n)
{
	if (!*v && strncmp(e, prefix, n) == 0)
		*v = e + n;
}

#define TAKE(v, e, prefix) take(v, e, prefix, sizeof prefix - 1)

static void read_params(FCGX_ParamArray env, struct params *p)
{
	memset(p, 0, sizeof *p);
	for (; env && *env; env++) {
		const char *e = *env;
		switch (e[0]) {
		case 'R':
			TAKE(&p->uri, e, "REQUEST_URI=");
			TAKE(&p->method, e, "REQUEST_METHOD=");
			break;
		case 'S':
			TAKE(&p->script, e, "SCRIPT_NAME=");
			break;
		case 'P':
			TAKE(&p->path_info, e, "PATH_INFO=");
			break;
		case 'H':
			if (strncmp(e, "HTTP_", 5) != 0)
				break;
			TAKE(&p->traceparent, e, "HTTP_TRACEPARENT=");
			TAKE(&p->stamp, e, QUEUE_PARAM "=");
			TAKE(&p->queue_start, e, QUEUE_PARAM_ALT "=");
			break;
		}
	}
}

void pf_request_begin(pf_http *h, pf_request *pr, FCGX_Request *req)
{
	struct request *r = request_of(pr);
	struct params p;
	read_params(req->envp, &p);
	const char *path = p.uri;
	int raw = 1;
	if (req->listen_sock < 0) {
		/* CGI: the script's own path; the server decoded it */
		path = p.path_info ? p.path_info : "";
		raw = 0;
	} else if (!path) {
		path = p.script;
	}
	begin_request(h, r, p.method, path, raw, p.traceparent, p.stamp ? p.stamp : p.queue_start);
	tap_on(r, req->out);
}

void pf_request_begin_env(pf_http *h, pf_request *r, const char *method, const char *path)
{
	const char *stamp = getenv(QUEUE_PARAM);
	begin_request(h, request_of(r), method, path, 1, getenv("HTTP_TRACEPARENT"),
	              stamp ? stamp : getenv(QUEUE_PARAM_ALT));
}

void pf_request_status(pf_request *r, int code)
{
	if (code < 100 || code > 599)
		notice("pf_request_status: %d is not an HTTP status (100-599): counted as 500", code);
	request_of(r)->status = code;
}

/* The code the client gets: given, else read (a Location without Status
 * is a redirect, RFC 3875 6.2.3), else 200 once a header block is
 * complete; an app that wrote no complete header block failed: 500. */
static int final_status(const struct request *r, int tapped)
{
	int code = r->status > 0 ? r->status : -r->status;
	if (!code && tapped)
		code = r->state != 2 ? 500 : r->location ? 302 : 200;
	if (!code)
		code = 200;
	return code >= 100 && code <= 599 ? code : 500;
}

static pf_series *cached_count(const struct route_cache *c, int code)
{
	for (int i = 0; i < CODES_CACHED; i++)
		if (c->code[i] == code)
			return c->count[i];
	return NULL;
}

static pf_series *count_series(pf_http *h, struct route_cache *c, const char *const *v, int code)
{
	pf_series *s = pf_with(h->requests, v);
	for (int i = 0; i < CODES_CACHED; i++)
		if (!c->code[i]) {
			c->code[i] = code;
			c->count[i] = s;
			break;
		}
	return s;
}

void pf_request_end(pf_request *pr)
{
	struct request *r = request_of(pr);
	pf_http *h = r->http;
	int tapped = r->out != NULL;
	tap_off(r);
	if (!r->start.tv_sec && !r->start.tv_nsec)
		return; /* never begun (a zeroed pf_request) */
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double seconds = (double)(t1.tv_sec - r->start.tv_sec) +
	                 (double)(t1.tv_nsec - r->start.tv_nsec) / 1e9;
	if (!h || r->skip) {
		registry_request_end(seconds); /* the pool's busy time: skipped paths too */
		return;
	}
	int code = final_status(r, tapped);
	int route = r->route < 0 ? h->nroutes : r->route;
	struct route_cache *c = &h->cache[r->method * (h->nroutes + 1) + route];
	pf_series *count = cached_count(c, code);
	if (!count || !c->duration) { /* first time for this method, route (and code) */
		const char *v[PF_LABELS_MAX + 1];
		char code_text[8];
		snprintf(code_text, sizeof code_text, "%d", code);
		for (int i = 0; i < h->nconst; i++)
			v[i] = h->const_values[i];
		v[h->nconst] = route_method_names[r->method];
		v[h->nconst + 1] = h->route_text[route];
		v[h->nconst + 2] = NULL; /* the duration's labels end here, */
		if (!c->duration)
			c->duration = pf_with(h->duration, v);
		v[h->nconst + 2] = code_text; /* the count's after the code */
		v[h->nconst + 3] = NULL;
		if (!count)
			count = count_series(h, c, v, code);
	}
	/* with a valid traceparent, the count and the duration's bucket carry
	 * {trace_id="..."}: in the same atomic change as the counts */
	const char *const trace[] = {"trace_id", r->trace_id, NULL};
	const char *const *ex = r->trace_id[0] ? trace : NULL;
	pf_begin();
	if (ex) {
		pf_add_exemplar(count, 1.0, ex);
		pf_observe_exemplar(c->duration, seconds, ex);
	} else {
		pf_inc(count);
		pf_observe(c->duration, seconds);
	}
	pf_dec(h->in_flight);
	registry_request_end(seconds);
	pf_commit();
}

const char *pf_request_route(const pf_request *pr)
{
	const struct request *r = request_of_const(pr);
	return r->http && r->route >= 0 ? r->http->route_text[r->route] : NULL;
}

int pf_request_route_index(const pf_request *r)
{
	return request_of_const(r)->route;
}

const char *pf_request_param(const pf_request *pr, const char *name)
{
	const struct request *r = request_of_const(pr);
	pf_http *h = r->http;
	if (!h || r->route < 0 || !name)
		return NULL;
	for (int i = 0; i < h->ntpl; i++)
		if (h->declared[i] == r->route)
			return route_param(&h->tpl[i], h->path, name, h->rest, PF_PATH_MAX + 1);
	return NULL;
}

void request_answer_500(FCGX_Request *req, pf_request *pr)
{
	static const char msg[] = "Status: 500 Internal Server Error\r\n"
	                          "Content-Type: text/plain; charset=utf-8\r\n"
	                          "Content-Length: 22\r\n\r\nInternal Server Error\n";
	struct request *r = request_of(pr);
	if (r->out && r->flushed)
		return;
	if (r->out) {
		r->out->wrNext = r->first; /* drop what the handler left unsent */
		r->mark = r->first;
		r->state = r->linelen = r->location = 0;
		r->scanned = 0;
	}
	r->status = 500;
	FCGX_PutStr(msg, sizeof msg - 1, req->out);
}
