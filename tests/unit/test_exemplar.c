/* SPDX-License-Identifier: MIT */
/*
 * test_exemplar.c — OpenMetrics exemplars: recorded with the count they go
 * with, the latest per counter series and per histogram bucket, refused
 * (the count kept) when the label set is invalid, whole after a torn commit
 * or a SIGKILL at any instant, kept in the store when a worker ends, merged
 * with live workers' at each scrape, rendered in OpenMetrics only, and
 * checked when read from another process's file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "store/journal.h"
#include "store/names.h"
#include "promfcgi.h"
#include "metrics/protobuf.h"
#include "metrics/render.h"
#include "metrics/scrape.h"
#include "store/stage.h"
#include "test.h"
#include "util.h"

static char db[512];
static pf_series *ctr, *hist, *gauge;
static const double bounds[] = {0.005, 0.25, 1};
static const char *const route[] = {"/", NULL};

static void fresh(void)
{
	test_new_store(db, sizeof db, "exemplar");
}

static void define(void)
{
	static const char *const l[] = {"route", NULL};
	ctr = pf_with(pf_counter("ex_total", "Ex.", l), route);
	hist = pf_with(pf_histogram("ex_seconds", "Ex.", l, bounds, 3), route);
	gauge = pf_with(pf_gauge("ex_gauge", "Ex.", NULL), NULL);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The exemplar of a bucket (0 for the counter) as a scrape sees it. */
static int get(const char *family, int b, struct exemplar *x)
{
	return test_exemplar(db, family, route, b, x);
}

static const char *trace_of(const struct exemplar *x)
{
	return test_exemplar_label(x, "trace_id");
}

static const char *om_page(void)
{
	static struct buf b;
	struct collection c;
	char reason[256];
	buf_free(&b);
	if (scrape_collect(db, &c, reason, sizeof reason) != 0)
		return "";
	render_openmetrics(&b, &c, NULL);
	buf_putc(&b, '\0');
	model_collection_free(&c);
	return b.p;
}

/* The line of page that starts with prefix, up to its end; "" if none. */
static const char *line_of(const char *page, const char *prefix)
{
	static char line[1024];
	line[0] = '\0';
	for (const char *p = page; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (strncmp(p, prefix, strlen(prefix)) == 0 && n < sizeof line) {
			memcpy(line, p, n);
			line[n] = '\0';
			return line;
		}
		p = end ? end + 1 : NULL;
	}
	return line;
}

static void recorded_and_rendered(void)
{
	static const char *const a[] = {"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736", NULL};
	fresh();
	CHECK(pf_open(db) == 0);
	define();
	double t0 = now() - 0.002; /* the timestamp is in milliseconds */
	CHECK(pf_add_exemplar(ctr, 2, a) == 0);
	CHECK(pf_observe_exemplar(hist, 0.042, a) == 0);
	double t1 = now();
	struct exemplar x;
	CHECK(get("ex_total", 0, &x) == 1);
	CHECK_NUM(x.value, 2);
	CHECK(x.timestamp >= t0 && x.timestamp <= t1);
	CHECK_STR(trace_of(&x), "4bf92f3577b34da6a3ce929d0e0e4736");
	CHECK(get("ex_seconds", 1, &x) == 1); /* 0.042 falls in (0.005, 0.25] */
	CHECK_NUM(x.value, 0.042);
	CHECK(get("ex_seconds", 0, &x) == 0);
	CHECK_NUM(test_total(db, "ex_total", NULL), 2);
	CHECK_NUM(test_total(db, "ex_seconds", NULL), 1);
	/* the rendered line, with the timestamp it carries */
	char want[256], ts[32];
	CHECK(get("ex_total", 0, &x) == 1);
	render_value(ts, x.timestamp);
	const char *page = om_page();
	snprintf(want, sizeof want,
	         "ex_total{route=\"/\"} 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 2 %s", ts);
	CHECK_STR(line_of(page, "ex_total{"), want);
	CHECK(get("ex_seconds", 1, &x) == 1);
	render_value(ts, x.timestamp);
	snprintf(want, sizeof want,
	         "ex_seconds_bucket{route=\"/\",le=\"0.25\"} 1 # "
	         "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.042 %s", ts);
	CHECK_STR(line_of(page, "ex_seconds_bucket{route=\"/\",le=\"0.25\"}"), want);
	CHECK_STR(line_of(page, "ex_seconds_bucket{route=\"/\",le=\"0.005\"}"),
	          "ex_seconds_bucket{route=\"/\",le=\"0.005\"} 0");
	CHECK_STR(line_of(page, "ex_seconds_bucket{route=\"/\",le=\"1.0\"}"),
	          "ex_seconds_bucket{route=\"/\",le=\"1.0\"} 1"); /* cumulative, no exemplar */
	CHECK(line_of(page, "ex_created{")[0] != '\0');
	CHECK(strstr(line_of(page, "ex_created{"), " # ") == NULL);
	CHECK(strstr(line_of(page, "ex_seconds_sum"), " # ") == NULL);
	CHECK(strstr(line_of(page, "ex_seconds_count"), " # ") == NULL);
	pf_close();
}

/* Text 0.0.4 has no exemplar syntax: never one there. */
static void text_format_never_shows_them(void)
{
	static const char *const a[] = {"trace_id", "abc", NULL};
	fresh();
	CHECK(pf_open(db) == 0);
	define();
	pf_add_exemplar(ctr, 1, a);
	pf_observe_exemplar(hist, 2, a);
	struct collection c;
	char reason[256];
	struct buf t = {0};
	CHECK(scrape_collect(db, &c, reason, sizeof reason) == 0);
	render_text(&t, &c, NULL);
	buf_putc(&t, '\0');
	CHECK(strstr(t.p, "trace_id") == NULL && strstr(t.p, " # ") == NULL);
	CHECK(strstr(t.p, "ex_total{route=\"/\"} 1\n") != NULL);
	buf_free(&t);
	model_collection_free(&c);
	CHECK(strstr(om_page(), "ex_seconds_bucket{route=\"/\",le=\"+Inf\"} 1 # {trace_id=\"abc\"} 2 ") != NULL);
	pf_close();
}

static void latest_wins(void)
{
	static const char *const a[] = {"trace_id", "aaaa", NULL};
	static const char *const b[] = {"trace_id", "bbbb", "span", "s1", NULL};
	static const char *const c[] = {"trace_id", "cccc", NULL};
	fresh();
	CHECK(pf_open(db) == 0);
	define();
	struct exemplar x;
	CHECK(pf_add_exemplar(ctr, 1, a) == 0);
	CHECK(pf_add_exemplar(ctr, 3, b) == 0);
	CHECK(get("ex_total", 0, &x) == 1);
	CHECK_STR(trace_of(&x), "bbbb");
	CHECK_STR(test_exemplar_label(&x, "span"), "s1");
	CHECK_NUM(x.value, 3);
	CHECK(strstr(om_page(), "# {trace_id=\"bbbb\",span=\"s1\"} 3 ") != NULL);
	/* two in one change: the later one */
	pf_begin();
	CHECK(pf_add_exemplar(ctr, 1, c) == 0);
	CHECK(pf_add_exemplar(ctr, 1, a) == 0);
	pf_commit();
	CHECK(get("ex_total", 0, &x) == 1);
	CHECK_STR(trace_of(&x), "aaaa");
	/* a plain increment keeps the exemplar there is */
	pf_inc(ctr);
	CHECK(get("ex_total", 0, &x) == 1);
	CHECK_STR(trace_of(&x), "aaaa");
	CHECK_NUM(test_total(db, "ex_total", NULL), 7);
	/* alternating copies many times: always the last */
	for (int i = 0; i < 50; i++)
		pf_add_exemplar(ctr, 1, i % 2 ? a : c);
	CHECK(get("ex_total", 0, &x) == 1);
	CHECK_STR(trace_of(&x), "aaaa");
	pf_close();
}

static void per_bucket(void)
{
	static const char *const a[] = {"trace_id", "a", NULL}, *const b[] = {"trace_id", "b", NULL},
	                         *const c[] = {"trace_id", "c", NULL}, *const d[] = {"trace_id", "d", NULL};
	fresh();
	CHECK(pf_open(db) == 0);
	define();
	pf_observe_exemplar(hist, 0.003, a); /* le 0.005 */
	pf_observe_exemplar(hist, 0.2, b);   /* le 0.25 */
	pf_observe_exemplar(hist, 0.004, c); /* le 0.005 again: replaces a */
	pf_observe_exemplar(hist, 50, d);    /* +Inf */
	pf_observe(hist, 0.5);               /* le 1, no exemplar */
	struct exemplar x;
	CHECK(get("ex_seconds", 0, &x) == 1 && strcmp(trace_of(&x), "c") == 0);
	CHECK_NUM(x.value, 0.004);
	CHECK(get("ex_seconds", 1, &x) == 1 && strcmp(trace_of(&x), "b") == 0);
	CHECK(get("ex_seconds", 2, &x) == 0);
	CHECK(get("ex_seconds", 3, &x) == 1 && strcmp(trace_of(&x), "d") == 0);
	CHECK_NUM(x.value, 50);
	const char *page = om_page();
	CHECK(strstr(line_of(page, "ex_seconds_bucket{route=\"/\",le=\"0.005\"}"), "} 2 # {trace_id=\"c\"} 0.004 "));
	CHECK(strstr(line_of(page, "ex_seconds_bucket{route=\"/\",le=\"0.25\"}"), "} 3 # {trace_id=\"b\"} 0.2 "));
	CHECK_STR(line_of(page, "ex_seconds_bucket{route=\"/\",le=\"1.0\"}"), "ex_seconds_bucket{route=\"/\",le=\"1.0\"} 4");
	CHECK(strstr(line_of(page, "ex_seconds_bucket{route=\"/\",le=\"+Inf\"}"), "} 5 # {trace_id=\"d\"} 50 "));
	pf_close();
}

/* Invalid label sets: the value is counted, the exemplar is not (1). */
static void invalid_label_sets_refused(void)
{
	char v121[200], v122[200], e127[400], e128[400];
	memset(v121, 'x', 120); v121[120] = '\0';   /* "trace_id" (8) + 120 = 128 */
	memset(v122, 'x', 121); v122[121] = '\0';   /* 129 */
	e127[0] = e128[0] = '\0';
	for (int i = 0; i < 127; i++)
		strcat(e127, "\xc3\xa9"); /* é: 2 bytes, 1 character */
	strcpy(e128, e127);
	strcat(e128, "\xc3\xa9");
	const char *const ok128[] = {"trace_id", v121, NULL};
	const char *const too_long[] = {"trace_id", v122, NULL};
	const char *const utf8_128[] = {"a", e127, NULL};  /* 1 + 127 characters, 255 bytes */
	const char *const utf8_129[] = {"a", e128, NULL};
	const char *const bad_utf8[] = {"trace_id", "ab\xff", NULL};
	const char *const overlong[] = {"trace_id", "\xc0\xaf", NULL};
	const char *const bad_name[] = {"trace-id", "x", NULL};
	const char *const reserved[] = {"__trace", "x", NULL};
	const char *const digit[] = {"1trace", "x", NULL};
	const char *const empty_name[] = {"", "x", NULL};
	const char *const dup[] = {"a", "1", "a", "2", NULL};
	const char *const odd[] = {"trace_id", NULL};
	const char *const none[] = {NULL};
	const char *const *bad[] = {too_long, utf8_129, bad_utf8, overlong, bad_name, reserved,
	                            digit, empty_name, dup, odd, none, NULL};
	fresh();
	CHECK(pf_open(db) == 0);
	define();
	struct exemplar x;
	CHECK(pf_add_exemplar(ctr, 1, ok128) == 0);
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), v121) == 0);
	CHECK(pf_observe_exemplar(hist, 0.1, utf8_128) == 0);
	CHECK(get("ex_seconds", 1, &x) == 1 && strcmp(test_exemplar_label(&x, "a"), e127) == 0);
	int n = 0;
	for (int i = 0; bad[i]; i++, n++) {
		CHECK(pf_add_exemplar(ctr, 1, bad[i]) == 1);
		CHECK(pf_observe_exemplar(hist, 0.1, bad[i]) == 1);
	}
	CHECK(pf_add_exemplar(ctr, 1, NULL) == 1);
	CHECK(pf_observe_exemplar(hist, 0.1, NULL) == 1);
	n++;
	/* every value counted; the exemplars are still the valid ones */
	CHECK_NUM(test_total(db, "ex_total", NULL), 1 + n);
	CHECK_NUM(test_total(db, "ex_seconds", NULL), 1 + n);
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), v121) == 0);
	CHECK(get("ex_seconds", 1, &x) == 1 && strcmp(test_exemplar_label(&x, "a"), e127) == 0);
	/* what pf_add and pf_observe refuse, refused whole (-1) */
	CHECK(pf_add_exemplar(ctr, -1, ok128) == -1);
	CHECK(pf_add_exemplar(ctr, NAN, ok128) == -1);
	CHECK(pf_observe_exemplar(hist, NAN, ok128) == -1);
	CHECK(pf_add_exemplar(hist, 1, ok128) == -1);
	CHECK(pf_observe_exemplar(ctr, 1, ok128) == -1);
	CHECK(pf_add_exemplar(gauge, 1, ok128) == -1); /* gauges have no exemplars */
	CHECK(pf_add_exemplar(NULL, 1, ok128) == -1);
	CHECK_NUM(test_total(db, "ex_total", NULL), 1 + n);
	CHECK_NUM(test_total(db, "ex_gauge", NULL), 0);
	/* the checker itself, on encoded sets */
	CHECK(names_valid_exemplar("a\0b", 4));
	CHECK(names_valid_exemplar("a\0\0", 3)); /* an empty value is a value */
	CHECK(!names_valid_exemplar("a\0b", 3));  /* not NUL-terminated */
	CHECK(!names_valid_exemplar("a\0", 2));   /* no value */
	CHECK(!names_valid_exemplar("", 0));
	pf_close();
}

/* A kill in the middle of a commit, after any number of its writes, and
 * in either order of the count and the exemplar: the log is replayed and
 * the new exemplar is there whole, with its count. */
static void torn_commit_leaves_old_or_new(void)
{
	char a[MODEL_EXEMPLAR_BYTES], b[MODEL_EXEMPLAR_BYTES];
	int la = names_encode_exemplar((const char *const[]){"trace_id", "old", NULL}, a);
	int lb = names_encode_exemplar((const char *const[]){"trace_id", "new", "x", "y", NULL}, b);
	CHECK(la > 0 && lb > 0);
	for (int order = 0; order < 2; order++) {
		for (uint32_t napply = 0; napply <= 3; napply++) {
			fresh();
			pid_t pid = fork();
			if (pid == 0) {
				struct stage s;
				char dir[600];
				stage_dir(db, dir);
				if (stage_create(&s, dir) != 0)
					_exit(1);
				struct family_def f = {.type = PF_COUNTER, .ncells = 1, .name = "t_total",
				                       .help = "T."};
				stage_add_family(&s, &f);
				stage_add_slot(&s, 0, "", 0);
				uint64_t x = 0;
				stage_add(&s, 0, 1);
				stage_exemplar(&s, &x, 0, 0, 1, 1000.5, a, (uint32_t)la);
				stage_commit(&s);
				if (order == 0) {
					stage_add(&s, 0, 2);
					stage_exemplar(&s, &x, 0, 0, 2, 2000.25, b, (uint32_t)lb);
				} else {
					stage_exemplar(&s, &x, 0, 0, 2, 2000.25, b, (uint32_t)lb);
					stage_add(&s, 0, 2);
				}
				stage_commit_torn(&s, napply);
				raise(SIGKILL);
			}
			waitpid(pid, NULL, 0);
			struct exemplar x;
			CHECK(test_exemplar(db, "t_total", NULL, 0, &x) == 1);
			CHECK_NUM(x.timestamp, 2000.25);
			CHECK_NUM(x.value, 2);
			CHECK(x.len == (uint32_t)lb && memcmp(x.labels, b, (size_t)lb) == 0);
			CHECK_NUM(test_total(db, "t_total", NULL), 3);
		}
	}
	/* killed before the commit began, its spare copy half written: the old
	 * exemplar, whole, and the old count */
	fresh();
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		define();
		pf_add_exemplar(ctr, 1, (const char *const[]){"trace_id", "old", NULL});
		pf_begin();
		pf_add_exemplar(ctr, 1, (const char *const[]){"trace_id", "new", NULL});
		struct test_stage t;
		if (test_stage_map(db, getpid(), &t) != 0 || t.h->count[STAGE_EXEMPLARS] != 1)
			_exit(1);
		struct stage_ex_rec *r = test_stage_elem(&t, STAGE_EXEMPLARS, 0);
		struct stage_ex_copy *spare = test_ex_copy(r, (r->sel + 1) & 1);
		memset(spare + 1, 0xff, 40); /* as if killed mid-write */
		spare->len = 9999;
		raise(SIGKILL);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status));
	struct exemplar x;
	CHECK(get("ex_total", 0, &x) == 1);
	CHECK_STR(trace_of(&x), "old");
	CHECK_NUM(test_total(db, "ex_total", NULL), 1);
}

/* A worker that records the count and both exemplars of change i in one
 * change: the counter adds i, so a total of n(n+1)/2 says n changes are
 * in, and the counter's exemplar must then be change n's, whole; the
 * histogram's latest bucket exemplar too. */
static void recorder(void)
{
	pf_open(db);
	define();
	for (unsigned long i = 1;; i++) {
		char id[33], n[24];
		memset(id, "0123456789abcdef"[i % 16], 32);
		id[32] = '\0';
		snprintf(n, sizeof n, "%lu", i);
		const char *const l[] = {"trace_id", id, "n", n, NULL};
		pf_begin();
		pf_add_exemplar(ctr, (double)i, l);
		pf_observe_exemplar(hist, (double)(i % 4) * 0.2, l); /* buckets 0, 1, 2, 2 */
		pf_commit();
	}
}

static double n_of(const struct exemplar *x)
{
	const char *n = test_exemplar_label(x, "n");
	return n ? strtod(n, NULL) : -1;
}

/* Checks one scrape (one snapshot of the writer): 1 if consistent, 0 if
 * not; *changes gets how many changes it holds. */
static int consistent(unsigned long *changes)
{
	struct collection c;
	char reason[256];
	const struct series_data *cs = NULL, *hs = NULL;
	if (scrape_collect(db, &c, reason, sizeof reason) != 0)
		return fprintf(stderr, "  scrape: %s\n", reason), 0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (f->nseries == 1 && strcmp(f->name, "ex_total") == 0)
			cs = &f->series[0];
		if (f->nseries == 1 && strcmp(f->name, "ex_seconds") == 0)
			hs = &f->series[0];
	}
	int ok = 1;
	*changes = 0;
	/* (both series at 0, before the recorder's first change: nothing to check yet) */
	if (cs && hs && cs->cells[0] > 0) {
		double total = cs->cells[0], count = hs->cells[0] + hs->cells[1] + hs->cells[2] + hs->cells[3];
		double n = (double)llround((sqrt(8 * total + 1) - 1) / 2);
		char want[33];
		memset(want, "0123456789abcdef"[(unsigned long)n % 16], 32);
		want[32] = '\0';
		const struct exemplar *x = cs->exemplars ? &cs->exemplars[0] : NULL;
		const char *id = x ? test_exemplar_label(x, "trace_id") : NULL;
		double best = -1, best_value = -1;
		for (int b = 0; hs->exemplars && b < 4; b++)
			if (hs->exemplars[b].timestamp > 0 && n_of(&hs->exemplars[b]) > best) {
				best = n_of(&hs->exemplars[b]);
				best_value = hs->exemplars[b].value;
			}
		if (n * (n + 1) / 2 != total || count != n) {
			fprintf(stderr, "  total %.17g, count %.17g: not one whole change each\n", total, count);
			ok = 0;
		} else if (!id || strcmp(id, want) != 0 || n_of(x) != n || x->value != n) {
			fprintf(stderr, "  counter exemplar of change %.17g torn or stale\n", n);
			ok = 0;
		} else if (best != n || best_value != (double)((unsigned long)n % 4) * 0.2) {
			fprintf(stderr, "  histogram exemplar of change %.17g missing or torn\n", n);
			ok = 0;
		}
		*changes = (unsigned long)n;
	}
	model_collection_free(&c);
	return ok;
}

static void sigkill_leaves_old_or_new(void)
{
	srand((unsigned)getpid());
	for (int round = 0; round < 12; round++) {
		fresh();
		pid_t pid = fork();
		if (pid == 0)
			recorder();
		unsigned long n = 0, last = 0;
		for (int k = 0; k < 500 && n == 0; k++) { /* bounded: 5 s for it to start */
			CHECK(consistent(&n));
			if (n == 0)
				usleep(10000);
		}
		last = n;
		for (int k = 0; k < 3; k++) { /* a live writer: the seqlock */
			usleep(2000 + rand() % 8000);
			CHECK(consistent(&n));
			CHECK(n >= last);
			last = n;
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		CHECK(consistent(&n)); /* folded from the dead file into the store */
		CHECK(n >= last && n > 0);
		CHECK(consistent(&last) && last == n); /* now from the store alone */
	}
}

/* A dead worker's exemplars are folded into the store with its counts and
 * outlive its file; a graceful exit does the same. */
static void fold_of_dead_worker_keeps_them(void)
{
	fresh();
	pid_t pid = fork();
	if (pid == 0) {
		pf_open(db);
		define();
		pf_add_exemplar(ctr, 1, (const char *const[]){"trace_id", "dead", NULL});
		pf_observe_exemplar(hist, 0.1, (const char *const[]){"trace_id", "dead", NULL});
		_exit(0); /* neither folded nor removed */
	}
	waitpid(pid, NULL, 0);
	struct exemplar x;
	for (int i = 0; i < 3; i++) { /* folded once, then from the store */
		CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "dead") == 0);
		CHECK(get("ex_seconds", 1, &x) == 1 && strcmp(trace_of(&x), "dead") == 0);
	}
	char dir[600];
	snprintf(dir, sizeof dir, "%s.stage", db);
	DIR *d = opendir(dir);
	int files = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		files += e->d_name[0] != '.';
	if (d)
		closedir(d);
	CHECK(files == 0); /* the file is gone: the store keeps them */
	if ((pid = fork()) == 0) {
		pf_open(db);
		define();
		pf_add_exemplar(ctr, 1, (const char *const[]){"trace_id", "graceful", NULL});
		_exit(pf_close() == 0 ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "graceful") == 0);
	CHECK(get("ex_seconds", 1, &x) == 1 && strcmp(trace_of(&x), "dead") == 0);
	CHECK_NUM(test_total(db, "ex_total", NULL), 2);
}

/* Per series and bucket the latest timestamp wins, whichever is folded
 * last, and wherever it is (store or a live worker's file). */
static void latest_over_store_and_live_workers(void)
{
	fresh();
	pid_t early = fork();
	if (early == 0) { /* records first, stays alive, dies last */
		pf_open(db);
		define();
		pf_add_exemplar(ctr, 1, (const char *const[]){"trace_id", "early", NULL});
		raise(SIGSTOP);
		_exit(0);
	}
	waitpid(early, NULL, WUNTRACED);
	struct exemplar x;
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "early") == 0); /* live only */
	usleep(5000); /* timestamps are in milliseconds */
	pid_t later = fork();
	if (later == 0) {
		pf_open(db);
		define();
		pf_add_exemplar(ctr, 1, (const char *const[]){"trace_id", "later", NULL});
		raise(SIGSTOP);
		_exit(0);
	}
	waitpid(later, NULL, WUNTRACED);
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "later") == 0); /* two live */
	kill(later, SIGKILL);
	waitpid(later, NULL, 0);
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "later") == 0); /* store's */
	kill(early, SIGKILL);
	waitpid(early, NULL, 0);
	/* the earlier one, folded last, does not replace the later one */
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "later") == 0);
	CHECK_NUM(test_total(db, "ex_total", NULL), 2);
	/* and a live worker's newer one beats the store's */
	usleep(5000);
	CHECK(pf_open(db) == 0);
	define();
	pf_add_exemplar(ctr, 1, (const char *const[]){"trace_id", "live", NULL});
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "live") == 0);
	pf_close();
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "live") == 0);
}

/* Exemplars for more series than a file of 0.3.0 had slots for (1,024):
 * the file grows, every one kept, none dropped; labels that outgrow their
 * record (64 bytes, then 128, 256, 512) move to a larger one, and the
 * latest is what is read, before and after the worker ends. */
static void exemplars_grow(void)
{
	static const char *const l[] = {"id", NULL};
	fresh();
	CHECK(pf_open(db) == 0);
	pf_family *f = pf_counter("many_total", "Many.", l);
	int kept = 0, n = 3 * 1024 + 20;
	for (int i = 0; i < n; i++) {
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		kept += pf_add_exemplar(pf_with(f, (const char *[]){v, NULL}), 1,
		                        (const char *const[]){"trace_id", v, NULL}) == 0;
	}
	CHECK(kept == n);
	CHECK_NUM(test_total(db, "many_total", NULL), n);
	CHECK(scrape_last_stats()->exemplars_dropped == 0);
	struct exemplar x;
	char last[16];
	snprintf(last, sizeof last, "%d", n - 1);
	CHECK(test_exemplar(db, "many_total", (const char *const[]){last, NULL}, 0, &x) == 1);
	CHECK_STR(test_exemplar_label(&x, "trace_id"), last);
	/* one series' labels growing through every record size, then shrinking */
	pf_series *s = pf_with(f, (const char *[]){"0", NULL});
	char big[128];
	for (int len = 1; len <= 119; len += 9) {
		memset(big, 'a' + len % 26, (size_t)len);
		big[len] = '\0';
		CHECK(pf_add_exemplar(s, 1, (const char *const[]){"t", big, NULL}) == 0);
		CHECK(test_exemplar(db, "many_total", (const char *const[]){"0", NULL}, 0, &x) == 1);
		CHECK_STR(test_exemplar_label(&x, "t"), big);
	}
	const char *utf8 = "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"; /* 3 runes, 9 bytes */
	char wide[400] = "";
	for (int i = 0; i < 40; i++) /* 120 runes, 360 bytes: the 512-byte record */
		strcat(wide, utf8);
	CHECK(pf_add_exemplar(s, 1, (const char *const[]){"u", wide, NULL}) == 0);
	CHECK(test_exemplar(db, "many_total", (const char *const[]){"0", NULL}, 0, &x) == 1);
	CHECK_STR(test_exemplar_label(&x, "u"), wide);
	CHECK(pf_add_exemplar(s, 1, (const char *const[]){"t", "short", NULL}) == 0);
	CHECK(test_exemplar(db, "many_total", (const char *const[]){"0", NULL}, 0, &x) == 1);
	CHECK_STR(test_exemplar_label(&x, "t"), "short");
	CHECK(pf_close() == 0);
	CHECK(test_exemplar(db, "many_total", (const char *const[]){"0", NULL}, 0, &x) == 1);
	CHECK_STR(test_exemplar_label(&x, "t"), "short");
	CHECK(test_exemplar(db, "many_total", (const char *const[]){last, NULL}, 0, &x) == 1);
	CHECK_NUM(test_total(db, "many_total", NULL), n + 16);
}

/* A kill at any instant of the change that moves an exemplar to a larger
 * record (the new one made current, the old retired, the count: one
 * change): the old exemplar and count, or the new ones, never both or
 * neither. */
static void outgrown_record_torn(void)
{
	char small[MODEL_EXEMPLAR_BYTES], large[MODEL_EXEMPLAR_BYTES], v[200] = "";
	for (int i = 0; i < 45; i++)
		strcat(v, "\xe2\x82\xac"); /* 45 runes, 135 bytes */
	int ls = names_encode_exemplar((const char *const[]){"trace_id", "old", NULL}, small);
	int ll = names_encode_exemplar((const char *const[]){"trace_id", v, NULL}, large);
	CHECK(ls > 0 && ll > 128 && ll <= 256);
	for (uint32_t napply = 0; napply <= 3; napply++) {
		fresh();
		pid_t pid = fork();
		if (pid == 0) {
			struct stage s;
			char dir[600];
			stage_dir(db, dir);
			if (stage_create(&s, dir) != 0)
				_exit(1);
			struct family_def f = {.type = PF_COUNTER, .ncells = 1, .name = "t_total",
			                       .help = "T."};
			stage_add_family(&s, &f);
			stage_add_slot(&s, 0, "", 0);
			uint64_t x = 0;
			stage_add(&s, 0, 1);
			stage_exemplar(&s, &x, 0, 0, 1, 1000.5, small, (uint32_t)ls);
			stage_commit(&s);
			stage_add(&s, 0, 2);
			stage_exemplar(&s, &x, 0, 0, 2, 2000.25, large, (uint32_t)ll);
			if (STAGE_EX_CLASS(x) != 2 || s.npending != 3)
				_exit(2);
			stage_commit_torn(&s, napply);
			raise(SIGKILL);
		}
		int status;
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status));
		struct exemplar x;
		CHECK(test_exemplar(db, "t_total", NULL, 0, &x) == 1);
		CHECK_NUM(x.timestamp, 2000.25); /* dead: the log replayed */
		CHECK(x.len == (uint32_t)ll && memcmp(x.labels, large, (size_t)ll) == 0);
		CHECK_NUM(test_total(db, "t_total", NULL), 3);
	}
}

static int files(const char *prefix)
{
	char dir[600];
	int n = 0;
	snprintf(dir, sizeof dir, "%s.stage", db);
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	if (d)
		closedir(d);
	return n;
}

/* Exemplar data in another process's file is checked like the rest: a
 * damaged dead file is set aside, and nothing bad is rendered or stored. */
static void damaged_exemplars_are_refused(void)
{
	for (int damage = 0; damage < 9; damage++) {
		fresh();
		pid_t pid = fork();
		if (pid == 0) {
			pf_open(db);
			define();
			pf_inc(gauge);
			pf_add_exemplar(ctr, 1, (const char *const[]){"trace_id", "t", NULL});
			pf_observe_exemplar(hist, 0.1, (const char *const[]){"trace_id", "t", NULL});
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		struct test_stage t;
		CHECK(test_stage_map(db, pid, &t) == 0 && t.h->count[STAGE_EXEMPLARS] == 2);
		if (!t.base)
			continue;
		struct stage_ex_rec *e = test_stage_elem(&t, STAGE_EXEMPLARS, 0);
		struct stage_ex_copy *cur = test_ex_copy(e, e->sel & 1);
		char *labels = (char *)(cur + 1);
		switch (damage) {
		case 0: e->cap = 128; break; /* not its class's */
		case 1: e->slot = (uint32_t)t.h->count[STAGE_SLOTS]; break;
		case 2: e->bucket = 1; break; /* a counter has one */
		case 3: cur->len = e->cap + 1; break;
		case 4: memcpy(labels, "tr-ce", 5); break;
		case 5: labels[cur->len - 1] = 'x'; break;
		case 6: cur->timestamp = NAN; break;
		case 7: t.h->count[STAGE_EXEMPLARS] = (uint64_t)1 << 40; break;
		case 8: /* an exemplar on the gauge's slot */
			for (uint32_t i = 0; i < t.h->count[STAGE_SLOTS]; i++) {
				const struct stage_slot_rec *sl = test_stage_elem(&t, STAGE_SLOTS, i);
				const struct family_def *d = test_stage_elem(&t, STAGE_FAMILIES, sl->family);
				if (strcmp(d->name, "ex_gauge") == 0)
					e->slot = i;
			}
			break;
		}
		t.h->seq += 2;
		test_stage_unmap(&t);
		struct collection c;
		char reason[256];
		CHECK(scrape_collect(db, &c, reason, sizeof reason) == 0);
		model_collection_free(&c);
		CHECK(files("damaged-") == 1 && files("w-") == 0);
		struct exemplar x;
		CHECK(get("ex_total", 0, &x) != 1);
	}
}

/* Files of versions 1 (no exemplars) and 2 (exemplars, no native
 * buckets), left by a killed worker of an earlier release, are still
 * folded, exemplars and all. */
static void version_1_file_is_read(void)
{
	for (unsigned version = 1; version <= 2; version++) {
		fresh();
		pid_t pid = fork();
		if (pid == 0) {
			pf_open(db);
			define();
			for (int i = 0; i < 5; i++)
				pf_inc(ctr);
			pf_observe_exemplar(hist, 0.1, (const char *const[]){"trace_id", "old", NULL});
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		char dir[600], path[1200], want[32];
		snprintf(dir, sizeof dir, "%s.stage", db);
		snprintf(want, sizeof want, "-%ld-", (long)pid);
		DIR *d = opendir(dir);
		for (struct dirent *e; d && (e = readdir(d));)
			if (strstr(e->d_name, want)) {
				snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
				CHECK(test_make_legacy(path, version) == 0);
			}
		closedir(d);
		CHECK_NUM(test_total(db, "ex_total", NULL), 5);
		CHECK_NUM(test_total(db, "ex_seconds", NULL), 1);
		CHECK(files("w-") == 0 && files("damaged-") == 0);
		struct exemplar x;
		CHECK(get("ex_seconds", 1, &x) == (version == 2 ? 1 : 0));
	}
}

/* A version 2 store (this DDL is that version's, frozen here) gets the
 * exemplar table and keeps its data; exemplars then fold into it. */
static void schema_upgrade_from_v2(void)
{
	char cmd[1600];
	fresh();
	snprintf(cmd, sizeof cmd,
	         "sqlite3 %s \""
	         "CREATE TABLE family(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	         " type INTEGER NOT NULL, help TEXT NOT NULL, label_names TEXT NOT NULL,"
	         " buckets BLOB NOT NULL);"
	         "CREATE TABLE series(id INTEGER PRIMARY KEY,"
	         " family_id INTEGER NOT NULL REFERENCES family(id),"
	         " label_values BLOB NOT NULL, cells BLOB NOT NULL, UNIQUE(family_id, label_values));"
	         "CREATE TABLE incarnation(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	         " folded_seq INTEGER NOT NULL, retired INTEGER NOT NULL);"
	         "CREATE TABLE folded(incarnation_id INTEGER NOT NULL, slot INTEGER NOT NULL,"
	         " cells BLOB NOT NULL, PRIMARY KEY(incarnation_id, slot)) WITHOUT ROWID;"
	         "ALTER TABLE series ADD COLUMN created REAL NOT NULL DEFAULT 0;"
	         "INSERT INTO family VALUES(1, 'ex_total', 1, 'Ex.', 'route', x'');"
	         "INSERT INTO series VALUES(1, 1, x'2f00', x'0000000000004540', 1700000000);"
	         "PRAGMA user_version = 2;\"",
	         db);
	CHECK(system(cmd) == 0);
	struct db *h;
	char err[256];
	CHECK(db_open(db, 1000, &h, err, sizeof err) == 0);
	CHECK(db_schema_version(h) == DB_SCHEMA_VERSION);
	db_close(h);
	CHECK_NUM(test_series(db, "ex_total", route), 42);
	CHECK(pf_open(db) == 0);
	define();
	pf_add_exemplar(ctr, 1, (const char *const[]){"trace_id", "up", NULL});
	CHECK(pf_close() == 0);
	struct exemplar x;
	CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "up") == 0);
	CHECK_NUM(test_series(db, "ex_total", route), 43);
}

/* One-shot (CGI) processes: their exemplars travel in their journal
 * record with their counts, the latest per series and bucket is kept when
 * a scrape folds the journal, and it stays in the store. */
static void oneshot(int k)
{
	char id[16];
	snprintf(id, sizeof id, "cgi-%d", k);
	const char *const l[] = {"trace_id", id, NULL};
	if (pf_open(db) != 0)
		_exit(1);
	define();
	pf_begin();
	if (k % 3 == 2) { /* no trace: counted, no exemplar */
		pf_inc(ctr);
		pf_observe(hist, 0.1);
	} else {
		pf_add_exemplar(ctr, 1, l);
		pf_observe_exemplar(hist, k % 3 ? 0.5 : 0.1, l); /* le 1 or le 0.25 */
	}
	pf_commit();
	_exit(pf_close() == 0 ? 0 : 1);
}

static void oneshot_processes_carry_them(void)
{
	fresh();
	setenv("REQUEST_METHOD", "GET", 1);
	for (int k = 0; k < 9; k++) {
		if (k == 5) /* a scrape between: some records folded, some not yet */
			CHECK_NUM(test_total(db, "ex_total", NULL), 5);
		pid_t pid = fork();
		if (pid == 0)
			oneshot(k);
		int status;
		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		usleep(3000); /* timestamps are in milliseconds */
	}
	unsetenv("REQUEST_METHOD");
	struct exemplar x;
	for (int i = 0; i < 2; i++) { /* from the journal, then from the store */
		CHECK_NUM(test_total(db, "ex_total", NULL), 9);
		CHECK(get("ex_total", 0, &x) == 1 && strcmp(trace_of(&x), "cgi-7") == 0);
		CHECK(get("ex_seconds", 1, &x) == 1 && strcmp(trace_of(&x), "cgi-6") == 0);
		CHECK_NUM(x.value, 0.1);
		CHECK(get("ex_seconds", 2, &x) == 1 && strcmp(trace_of(&x), "cgi-7") == 0);
		CHECK(get("ex_seconds", 0, &x) == 0);
	}
	CHECK(strstr(om_page(), "ex_total{route=\"/\"} 9 # {trace_id=\"cgi-7\"} 1 ") != NULL);
}

/* A journal record whose exemplar part is damaged is refused whole (its
 * counts too, as any damaged record); the sound records around it count. */
static void oneshot_damaged_exemplar_refused(void)
{
	fresh();
	char dir[600];
	snprintf(dir, sizeof dir, "%s.stage", db);
	for (int damage = 0; damage < 6; damage++) {
		struct stage s;
		stage_create_anonymous(&s, 0);
		struct family_def f;
		CHECK(names_build_family(&f, PF_COUNTER, "j_total", "J.", NULL, NULL, 0) == 0);
		stage_add_family(&s, &f);
		stage_add_slot(&s, 0, "", 0);
		char enc[MODEL_EXEMPLAR_BYTES];
		int len = names_encode_exemplar((const char *const[]){"trace_id", "ok", NULL}, enc);
		uint64_t ref = 0;
		stage_add(&s, 0, 1);
		stage_exemplar(&s, &ref, 0, 0, 1, 1000 + damage, enc, (uint32_t)len);
		stage_commit(&s);
		char *rec;
		size_t n;
		CHECK(journal_pack(&s, JOURNAL_TOTALS, &rec, &n) == 0);
		CHECK(journal_append(dir, rec, n) == 0); /* a sound one */
		free(rec);
		struct stage_ex_rec *r = stage_elem(&s, STAGE_EXEMPLARS + STAGE_EX_CLASS(ref),
		                                    STAGE_EX_INDEX(ref));
		struct stage_ex_copy *x = test_ex_copy(r, r->sel & 1);
		char *labels = (char *)(x + 1);
		switch (damage) {
		case 0: memcpy(labels, "tr-ce", 5); break;
		case 1: labels[x->len - 1] = 'x'; break;
		case 2: x->timestamp = NAN; break;
		case 3: x->value = NAN; break;
		case 4: r->bucket = 1; break; /* a counter has one */
		case 5: x->len = 0; break;
		}
		CHECK(journal_pack(&s, JOURNAL_TOTALS, &rec, &n) == 0);
		CHECK(journal_append(dir, rec, n) == 0); /* its checksum is right: refused on sight */
		free(rec);
		stage_destroy(&s, 0);
	}
	CHECK_NUM(test_total(db, "j_total", NULL), 6);
	struct exemplar x;
	CHECK(test_exemplar(db, "j_total", NULL, 0, &x) == 1);
	CHECK_NUM(x.timestamp, 1005);
	CHECK_STR(trace_of(&x), "ok");
}

/* Protobuf (what Prometheus asks for with native histograms on) carries
 * them too: Counter.exemplar, and Bucket.exemplar on the bucket the
 * observation fell in (+Inf written out as a bucket for its own), decoded
 * by Python's protobuf (tests/unit/pbdecode.py), independent of the encoder. */
static void protobuf_carries_them(void)
{
	static char *code[] = {"code"};
	static double c[] = {3}, d[] = {2, 3, 4, 5.5}, bounds2[] = {0.1, 1};
	struct exemplar cx[1] = {{.value = 1, .timestamp = 1700000000.5}};
	struct exemplar dx[3] = {{.value = 0.05, .timestamp = 1700000001},
	                            {.value = 0},
	                            {.value = 7, .timestamp = 1700000002.25}};
	cx[0].len = (uint32_t)names_encode_exemplar((const char *const[]){"trace_id", "abc", NULL},
	                                         cx[0].labels);
	dx[0].len = (uint32_t)names_encode_exemplar((const char *const[]){"trace_id", "x", NULL},
	                                         dx[0].labels);
	dx[2].len = (uint32_t)names_encode_exemplar(
	    (const char *const[]){"trace_id", "y", "span", "z", NULL}, dx[2].labels);
	struct series_data cs = {"200\0", 4, c, 0, cx}, ds = {"", 0, d, 0, dx};
	struct family_data f[] = {
	    {.name = "d_seconds", .help = "D.", .type = PF_HISTOGRAM, .nbuckets = 2,
	     .buckets = bounds2, .ncells = 4, .series = &ds, .nseries = 1},
	    {.name = "r_total", .help = "R.", .type = PF_COUNTER, .nlabels = 1, .labels = code,
	     .ncells = 1, .series = &cs, .nseries = 1},
	};
	struct collection col = {.families = f, .nfamilies = 2, .cap = 2};
	struct buf b = {0};
	protobuf_render(&b, &col, NULL);
	char path[512], cmd[1024];
	snprintf(path, sizeof path, "%s/%d-ex.bin", getenv("PROMFCGI_TEST_DIR"), (int)getpid());
	FILE *out = fopen(path, "wb");
	CHECK(out && fwrite(b.p, 1, b.len, out) == b.len);
	if (out)
		fclose(out);
	buf_free(&b);
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/unit/pbdecode.py %s", path);
	FILE *p = popen(cmd, "r");
	struct buf text = {0};
	char chunk[4096];
	size_t n;
	while (p && (n = fread(chunk, 1, sizeof chunk, p)) > 0)
		buf_put(&text, chunk, n);
	buf_putc(&text, '\0');
	CHECK(p && pclose(p) == 0);
	CHECK_STR(text.p,
	          "name: \"d_seconds\"\nhelp: \"D.\"\ntype: HISTOGRAM\nmetric {\n  histogram {\n"
	          "    sample_count: 9\n    sample_sum: 5.5\n"
	          "    bucket {\n      cumulative_count: 2\n      upper_bound: 0.1\n"
	          "      exemplar {\n        label {\n          name: \"trace_id\"\n          value: \"x\"\n"
	          "        }\n        value: 0.05\n        timestamp {\n          seconds: 1700000001\n"
	          "        }\n      }\n    }\n"
	          "    bucket {\n      cumulative_count: 5\n      upper_bound: 1\n    }\n"
	          "    bucket {\n      cumulative_count: 9\n      upper_bound: inf\n"
	          "      exemplar {\n        label {\n          name: \"trace_id\"\n          value: \"y\"\n"
	          "        }\n        label {\n          name: \"span\"\n          value: \"z\"\n        }\n"
	          "        value: 7\n        timestamp {\n          seconds: 1700000002\n"
	          "          nanos: 250000000\n        }\n      }\n    }\n  }\n}\n---\n"
	          "name: \"r_total\"\nhelp: \"R.\"\ntype: COUNTER\nmetric {\n"
	          "  label {\n    name: \"code\"\n    value: \"200\"\n  }\n"
	          "  counter {\n    value: 3\n"
	          "    exemplar {\n      label {\n        name: \"trace_id\"\n        value: \"abc\"\n"
	          "      }\n      value: 1\n      timestamp {\n        seconds: 1700000000\n"
	          "        nanos: 500000000\n      }\n    }\n  }\n}\n---\n");
	buf_free(&text);
}

const struct test exemplar_tests[] = {
    {"exemplar/recorded_and_rendered", recorded_and_rendered},
    {"exemplar/text_format_never_shows_them", text_format_never_shows_them},
    {"exemplar/latest_wins", latest_wins},
    {"exemplar/per_bucket", per_bucket},
    {"exemplar/invalid_label_sets_refused", invalid_label_sets_refused},
    {"exemplar/torn_commit_leaves_old_or_new", torn_commit_leaves_old_or_new},
    {"exemplar/sigkill_leaves_old_or_new", sigkill_leaves_old_or_new},
    {"exemplar/fold_of_dead_worker_keeps_them", fold_of_dead_worker_keeps_them},
    {"exemplar/latest_over_store_and_live_workers", latest_over_store_and_live_workers},
    {"exemplar/exemplars_grow", exemplars_grow},
    {"exemplar/outgrown_record_torn", outgrown_record_torn},
    {"exemplar/damaged_exemplars_are_refused", damaged_exemplars_are_refused},
    {"exemplar/version_1_file_is_read", version_1_file_is_read},
    {"exemplar/schema_upgrade_from_v2", schema_upgrade_from_v2},
    {"exemplar/oneshot_processes_carry_them", oneshot_processes_carry_them},
    {"exemplar/oneshot_damaged_exemplar_refused", oneshot_damaged_exemplar_refused},
    {"exemplar/protobuf_carries_them", protobuf_carries_them},
    {NULL, NULL},
};
