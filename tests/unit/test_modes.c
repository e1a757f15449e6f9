/* SPDX-License-Identifier: MIT */
/*
 * test_modes.c — gauge modes, summaries, infos and state sets across real
 * processes: each mode's value with 1, 3 and 16 workers, after some exit
 * and some are SIGKILLed, after their files are folded (the live ones' too)
 * and read back from the store alone, and with a value set by the
 * command-line tool (db_record, as tool.c calls it) while workers run.  The
 * expected values are computed here from the values each process set, by
 * the modes' definitions (client_python's, promfcgi.h), not by the code
 * under test.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "store/fold.h"
#include "store/gauge.h"
#include "store/names.h"
#include "store/stage.h"
#include "metrics/scrape.h"
#include "promfcgi.h"
#include "test.h"
#include "util.h"

static char db[512], dir[600];

static void fresh(const char *tag)
{
	test_new_store(db, sizeof db, tag);
	snprintf(dir, sizeof dir, "%s.stage", db);
}

/* ---- processes -------------------------------------------------------------
 * A worker opens the store, records (body), then stops itself; continued,
 * it exits through pf_close (its final fold), as a worker does on SIGTERM. */

typedef void (*body_fn)(int i, void *arg);

static pid_t worker(body_fn body, int i, void *arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (pf_open(db) != 0)
			_exit(3);
		body(i, arg);
		raise(SIGSTOP);
		_exit(pf_close() == 0 ? 0 : 1);
	}
	int st;
	CHECK(waitpid(pid, &st, WUNTRACED) == pid && WIFSTOPPED(st));
	return pid;
}

static void leave(pid_t pid) /* graceful: its final fold */
{
	int st;
	kill(pid, SIGCONT);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void murder(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The command-line tool's command, in a process of its own (as the tool
 * is; a connection must not cross fork). */
static int tool(const char *family, const char *key, uint32_t keylen, enum db_op op, double v)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct db *h;
		char err[256];
		if (db_open(db, 5000, &h, err, sizeof err) != 0)
			_exit(100);
		int rc = db_record(h, family, key, keylen, op, v);
		db_close(h);
		_exit(rc == 0 ? 0 : rc == DB_WRONG_OP ? 5 : 1);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Folds every live worker's file into the store, as the periodic fold of
 * the live does (then twice more: a fold is idempotent), and drops this
 * process's view, so that the next scrape reads the store afresh. */
static void fold_live(void)
{
	char path[1200], err[256];
	struct db *h;
	CHECK(db_open(db, 5000, &h, err, sizeof err) == 0);
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		struct stage_snapshot snap;
		if (strncmp(e->d_name, "w-", 2) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stage_snapshot(path, &snap) != 0)
			continue;
		for (int k = 0; k < 3; k++)
			CHECK(fold_snapshot(h, &snap, 0) != DB_FOLD_ERROR);
		stage_snapshot_free(&snap);
	}
	if (d)
		closedir(d);
	db_close(h);
	scrape_close();
}

/* ---- reading the exposition ------------------------------------------------- */

/* The series of family whose label values are values (NULL-terminated), as
 * the exposition shows it: its cells into out (2), 1; 0 if it is not shown
 * (none, or an info no one holds, a liveall gauge's ended process); -1 if
 * the scrape fails or there is no such family. */
static int shown(const char *family, const char *const *values, double *out)
{
	char key[PF_KEY_MAX];
	size_t n = 0;
	for (int i = 0; values && values[i]; i++) {
		memcpy(key + n, values[i], strlen(values[i]) + 1);
		n += strlen(values[i]) + 1;
	}
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "  scrape failed: %s\n", reason);
		return -1;
	}
	int rc = -1;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (strcmp(f->name, family) != 0)
			continue;
		rc = 0;
		for (size_t j = 0; j < f->nseries; j++) {
			const struct series_data *s = &f->series[j];
			if (s->keylen != n || memcmp(s->key, key, n) != 0 ||
			    (gauge_like(f->type) && !gauge_shown(f->type, f->mode, s->cells)))
				continue;
			out[0] = s->cells[0];
			out[1] = f->ncells > 1 ? s->cells[1] : 0;
			rc = 1;
		}
	}
	model_collection_free(&c);
	return rc;
}

/* How many series of family the exposition shows. */
static int nshown(const char *family)
{
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0)
		return -1;
	int n = -1;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (strcmp(f->name, family) != 0)
			continue;
		n = 0;
		for (size_t j = 0; j < f->nseries; j++)
			n += !gauge_like(f->type) || gauge_shown(f->type, f->mode, f->series[j].cells);
	}
	model_collection_free(&c);
	return n;
}

/* ---- the modes ------------------------------------------------------------- */

#define MAXW 16

/* What the modes are, from their definitions: a participant is a value and
 * when it was written (its order, here). */
struct part {
	double v;
	int at;
};

static double expected(int mode, const struct part *p, int n)
{
	double r = 0;
	int latest = -1;
	for (int i = 0; i < n; i++) {
		switch (mode) {
		case PF_GAUGE_LIVESUM:
		case PF_GAUGE_SUM:
			r += p[i].v;
			break;
		case PF_GAUGE_LIVEMAX:
		case PF_GAUGE_MAX:
			r = i == 0 || p[i].v > r ? p[i].v : r;
			break;
		case PF_GAUGE_LIVEMIN:
		case PF_GAUGE_MIN:
			r = i == 0 || p[i].v < r ? p[i].v : r;
			break;
		default: /* the most recent modes */
			if (p[i].at > latest) {
				latest = p[i].at;
				r = p[i].v;
			}
		}
	}
	return r;
}

static int live_mode(int mode)
{
	return mode == PF_GAUGE_LIVESUM || mode == PF_GAUGE_LIVEMAX || mode == PF_GAUGE_LIVEMIN ||
	       mode == PF_GAUGE_LIVEMOSTRECENT || mode == PF_GAUGE_LIVEALL;
}

static int gauge_mode_now;

/* Distinct values of both signs, in 1/1024ths: every sum of them is exact
 * in any order, so a sum is checked for equality. */
static double value_of(int i)
{
	return (double)((i * 7) % 23) - 5 + i / 1024.0;
}

static void set_gauge(int i, void *arg)
{
	(void)arg;
	pf_family *f = pf_gauge_mode("g", "A gauge.", NULL, (enum pf_gauge_mode)gauge_mode_now);
	pf_series *s = pf_with(f, NULL);
	if (!s || pf_set(s, value_of(i)) != 0)
		_exit(4);
}

/* The value shown: a family without labels shows its one series at 0 when
 * nothing holds it (render.c); -Inf if the scrape fails. */
static double gauge_value_now(void)
{
	double c[2];
	int r = shown("g", NULL, c);
	return r == 1 ? c[0] : r == 0 ? 0 : -INFINITY;
}

/* A liveall gauge: exactly the live workers' series, by pid, each its
 * worker's value. */
static void check_liveall(const pid_t *pid, const int *alive, int n)
{
	int live = 0;
	for (int i = 0; i < n; i++) {
		char p[24];
		double c[2];
		snprintf(p, sizeof p, "%d", (int)pid[i]);
		int r = shown("g", (const char *[]){p, NULL}, c);
		CHECK(r == (alive[i] ? 1 : 0));
		if (r == 1)
			CHECK_NUM(c[0], value_of(i));
		live += alive[i];
	}
	CHECK(nshown("g") == live);
}

/* Which workers die where: every fourth from 1 leaves (pf_close), every
 * fourth from 3 is SIGKILLed; then the rest, alternately. */
static void one_mode(int mode, int n)
{
	pid_t pid[MAXW];
	int alive[MAXW];
	struct part all[MAXW + 2], live[MAXW + 2];
	int nall = 0, nlive = 0, at = 0;
	char tag[64];
	snprintf(tag, sizeof tag, "mode%d-%d", mode, n);
	fresh(tag);
	gauge_mode_now = mode;
	for (int i = 0; i < n; i++) {
		pid[i] = worker(set_gauge, i, NULL);
		alive[i] = 1;
		all[nall++] = (struct part){value_of(i), at++};
	}
	/* 1: every worker live */
	if (mode == PF_GAUGE_LIVEALL)
		check_liveall(pid, alive, n);
	else
		CHECK_NUM(gauge_value_now(), expected(mode, all, nall));
	/* 2: some leave, some are killed */
	for (int i = 0; i < n; i++) {
		if (i % 4 == 1)
			leave(pid[i]);
		else if (i % 4 == 3)
			murder(pid[i]);
		alive[i] = i % 2 == 0;
	}
	nlive = 0;
	for (int i = 0; i < n; i++)
		if (alive[i])
			live[nlive++] = all[i];
	double want = live_mode(mode) ? expected(mode, live, nlive) : expected(mode, all, nall);
	if (mode == PF_GAUGE_LIVEALL)
		check_liveall(pid, alive, n);
	else
		CHECK_NUM(gauge_value_now(), want);
	/* 3: the live folded too, and the store read afresh: the same */
	fold_live();
	if (mode == PF_GAUGE_LIVEALL)
		check_liveall(pid, alive, n);
	else
		CHECK_NUM(gauge_value_now(), want);
	/* 4: the command-line tool sets a value while workers run: one more
	 * participant, whose value stays; set again, its value is replaced */
	if (mode == PF_GAUGE_LIVEALL) {
		CHECK(tool("g", "", 0, DB_SET, 42.5) == 5); /* no process to show it under */
		check_liveall(pid, alive, n);
	} else {
		for (int k = 0; k < 2; k++) {
			struct part cli = {k ? -99 : 42.5, at++};
			CHECK(tool("g", "", 0, DB_SET, cli.v) == 0);
			all[nall] = live[nlive] = cli;
			want = live_mode(mode) ? expected(mode, live, nlive + 1) : expected(mode, all, nall + 1);
			CHECK_NUM(gauge_value_now(), want);
		}
		nall++;
		nlive++;
	}
	/* 5: every worker gone: the tool's value, and in the modes over every
	 * process the ended ones' */
	for (int i = 0; i < n; i++)
		if (alive[i]) {
			i % 4 == 0 ? murder(pid[i]) : leave(pid[i]);
			alive[i] = 0;
		}
	if (mode == PF_GAUGE_LIVEALL) {
		CHECK(nshown("g") == 0);
		return;
	}
	want = live_mode(mode) ? -99 : expected(mode, all, nall);
	CHECK_NUM(gauge_value_now(), want);
	scrape_close();
	CHECK_NUM(gauge_value_now(), want); /* from the store alone */
	CHECK(stage_dir(db, dir) == 0);
}

static void modes_1(void)
{
	for (int m = PF_GAUGE_LIVESUM; m <= PF_GAUGE_LIVEALL; m++)
		one_mode(m, 1);
}

static void modes_3(void)
{
	for (int m = PF_GAUGE_LIVESUM; m <= PF_GAUGE_LIVEALL; m++)
		one_mode(m, 3);
}

static void modes_16(void)
{
	for (int m = PF_GAUGE_LIVESUM; m <= PF_GAUGE_LIVEALL; m++)
		one_mode(m, 16);
}

/* ---- SIGKILL in the middle of changes ----------------------------------------
 * A worker counts and sets the gauge to its count in one change, as fast as
 * it can, and is killed at some instant: the gauge's value (with its time
 * or mark) and the count are of the same change, before the fold and after
 * it, in every mode that keeps an ended process's value. */

static void count_and_set(int i, void *arg)
{
	(void)i;
	(void)arg;
	pf_series *c = pf_with(pf_counter("n_total", "Changes.", NULL), NULL);
	pf_series *g = pf_with(pf_gauge_mode("g", "A gauge.", NULL, (enum pf_gauge_mode)gauge_mode_now), NULL);
	kill(getppid(), SIGUSR1);
	for (double k = 1;; k++) {
		pf_begin();
		pf_inc(c);
		pf_set(g, k);
		pf_commit();
	}
}

static volatile sig_atomic_t started;
static void on_usr1(int sig)
{
	(void)sig;
	started = 1;
}

static void killed_mid_change(void)
{
	static const int modes[] = {PF_GAUGE_SUM, PF_GAUGE_MAX, PF_GAUGE_MIN, PF_GAUGE_MOSTRECENT};
	signal(SIGUSR1, on_usr1);
	srand((unsigned)getpid());
	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		for (int round = 0; round < 4; round++) {
			char tag[32];
			snprintf(tag, sizeof tag, "kill%d-%d", modes[m], round);
			fresh(tag);
			gauge_mode_now = modes[m];
			started = 0;
			pid_t pid = fork();
			if (pid == 0) {
				if (pf_open(db) != 0)
					_exit(3);
				count_and_set(0, NULL);
			}
			while (!started)
				usleep(100);
			usleep((useconds_t)(rand() % 20000));
			murder(pid);
			double n = test_total(db, "n_total", NULL);
			CHECK(n > 0);
			/* min: one process, so its own last value, like the others */
			CHECK_NUM(gauge_value_now(), n);
			scrape_close();
			CHECK_NUM(gauge_value_now(), n); /* folded by the scrape that saw it dead */
			CHECK_NUM(test_total(db, "n_total", NULL), n);
		}
	}
}

/* ---- a dead worker the scrape cannot fold -------------------------------------
 * Another process holds the store's write lock, so the scrape that sees a
 * worker dead cannot fold it: its file is read instead, and counts by the
 * mode's rule (a live mode without it, the others with it), and the same
 * once the lock is gone and it is folded. */

static pid_t hold_lock(int *release)
{
	int ready[2], go[2];
	CHECK(pipe(ready) == 0 && pipe(go) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct db *h;
		char err[256], c = 'x';
		if (db_open(db, 1000, &h, err, sizeof err) != 0 || db_begin(h) != 0)
			_exit(1);
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		db_rollback(h);
		db_close(h);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	*release = go[1];
	return pid;
}

static void dead_not_yet_folded(void)
{
	static const int modes[] = {PF_GAUGE_LIVESUM, PF_GAUGE_SUM, PF_GAUGE_LIVEMAX, PF_GAUGE_MAX,
	                            PF_GAUGE_LIVEMOSTRECENT, PF_GAUGE_MOSTRECENT};
	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		int mode = modes[m], release;
		fresh("locked");
		gauge_mode_now = mode;
		pid_t a = worker(set_gauge, 1, NULL), b = worker(set_gauge, 2, NULL);
		struct part p[] = {{value_of(1), 0}, {value_of(2), 1}};
		CHECK_NUM(gauge_value_now(), expected(mode, p, 2));
		pid_t locker = hold_lock(&release);
		murder(b);
		double want = live_mode(mode) ? expected(mode, p, 1) : expected(mode, p, 2);
		CHECK_NUM(gauge_value_now(), want); /* b's file read, not folded */
		CHECK(stage_dir(db, dir) == 0);
		CHECK(write(release, "x", 1) == 1);
		close(release);
		waitpid(locker, NULL, 0);
		CHECK_NUM(gauge_value_now(), want); /* folded now */
		leave(a);
		scrape_close();
		CHECK_NUM(gauge_value_now(), live_mode(mode) ? 0 : want);
	}
}

/* ---- summaries ---------------------------------------------------------------- */

static void observe_summary(int i, void *arg)
{
	(void)arg;
	pf_series *s = pf_with(pf_summary("job_seconds", "Jobs.", NULL), NULL);
	for (int k = 0; k <= i; k++)
		if (pf_observe(s, 0.5 * k) != 0)
			_exit(4);
	if (pf_observe(s, -1) != -1 || pf_observe(s, NAN) != -1)
		_exit(5); /* refused: OpenMetrics' _sum never goes negative */
}

/* Count and sum exact across processes, like a counter's: kept when a
 * worker leaves or is killed, after folds, with the tool's observations. */
static void summary_exact(void)
{
	int sizes[] = {1, 3, 16};
	for (size_t z = 0; z < 3; z++) {
		int n = sizes[z];
		pid_t pid[MAXW];
		double count = 0, sum = 0, c[2];
		fresh("summary");
		for (int i = 0; i < n; i++) {
			pid[i] = worker(observe_summary, i, NULL);
			count += i + 1;
			sum += 0.25 * i * (i + 1);
		}
		CHECK(shown("job_seconds", NULL, c) == 1);
		CHECK_NUM(c[0], count);
		CHECK_NUM(c[1], sum);
		for (int i = 0; i < n; i++)
			if (i % 2)
				i % 4 == 1 ? leave(pid[i]) : murder(pid[i]);
		CHECK(tool("job_seconds", "", 0, DB_OBSERVE, 10) == 0);
		CHECK(tool("job_seconds", "", 0, DB_OBSERVE, -1) == 5);
		count += 1;
		sum += 10;
		CHECK(shown("job_seconds", NULL, c) == 1);
		CHECK_NUM(c[0], count);
		CHECK_NUM(c[1], sum);
		fold_live();
		CHECK(shown("job_seconds", NULL, c) == 1);
		CHECK_NUM(c[0], count);
		CHECK_NUM(c[1], sum);
		for (int i = 0; i < n; i++)
			if (i % 2 == 0)
				i % 4 == 0 ? murder(pid[i]) : leave(pid[i]);
		scrape_close();
		CHECK(shown("job_seconds", NULL, c) == 1);
		CHECK_NUM(c[0], count);
		CHECK_NUM(c[1], sum);
	}
}

/* ---- infos ---------------------------------------------------------------------- */

static void hold_info(int i, void *arg)
{
	(void)arg;
	char v[16];
	snprintf(v, sizeof v, "1.%d", i % 2);
	pf_family *f = pf_info("app_build_info", "The build.", (const char *[]){"version", NULL});
	if (!pf_with(f, (const char *[]){v, NULL}))
		_exit(4);
}

/* An info's series is shown while a live process holds it, or the tool set
 * it (its last one only); gone with the last process that held it. */
static void info_live(void)
{
	int sizes[] = {1, 3, 16};
	for (size_t z = 0; z < 3; z++) {
		int n = sizes[z];
		pid_t pid[MAXW];
		double c[2];
		fresh("info");
		for (int i = 0; i < n; i++)
			pid[i] = worker(hold_info, i, NULL);
		CHECK(shown("app_build_info", (const char *[]){"1.0", NULL}, c) == 1);
		CHECK_NUM(c[0], 1);
		CHECK(shown("app_build_info", (const char *[]){"1.1", NULL}, c) == (n > 1));
		/* the odd ones (version 1.1) go: half leave, half are killed */
		for (int i = 1; i < n; i += 2)
			i % 4 == 1 ? leave(pid[i]) : murder(pid[i]);
		CHECK(shown("app_build_info", (const char *[]){"1.1", NULL}, c) == 0);
		CHECK(shown("app_build_info", (const char *[]){"1.0", NULL}, c) == 1);
		fold_live();
		CHECK(nshown("app_build_info") == 1);
		/* the tool's label set: one at a time, its last */
		CHECK(tool("app_build_info", "2.0", 4, DB_INFO, 1) == 0);
		CHECK(tool("app_build_info", "2.1", 4, DB_INFO, 1) == 0);
		CHECK(shown("app_build_info", (const char *[]){"2.1", NULL}, c) == 1);
		CHECK(shown("app_build_info", (const char *[]){"2.0", NULL}, c) == 0);
		CHECK(nshown("app_build_info") == 2);
		for (int i = 0; i < n; i += 2)
			i % 4 == 0 ? murder(pid[i]) : leave(pid[i]);
		CHECK(shown("app_build_info", (const char *[]){"1.0", NULL}, c) == 0);
		scrape_close();
		CHECK(nshown("app_build_info") == 1);
		CHECK(shown("app_build_info", (const char *[]){"2.1", NULL}, c) == 1);
	}
}

/* ---- state sets ------------------------------------------------------------------ */

static const char *const breaker_states[] = {"closed", "open", "half_open", NULL};

static void set_state(int i, void *arg)
{
	(void)arg;
	pf_family *f = pf_stateset("breaker", "The breaker.", NULL, breaker_states);
	pf_series *s = pf_with(f, NULL);
	if (!s || pf_set_state(s, breaker_states[i % 3]) != 0 || pf_set_state(s, "bogus") != -1)
		_exit(4);
}

static void resolve_only(int i, void *arg)
{
	(void)i;
	(void)arg;
	if (!pf_with(pf_stateset("breaker", "The breaker.", NULL, breaker_states), NULL))
		_exit(4);
}

/* Exactly one state true per series: the one written last by any process,
 * live or ended (kept in the store), or by the tool; the first while no
 * one has set one. */
static void stateset_latest(void)
{
	int sizes[] = {1, 3, 16};
	for (size_t z = 0; z < 3; z++) {
		int n = sizes[z];
		pid_t pid[MAXW];
		double c[2];
		fresh("stateset");
		pid_t idle = worker(resolve_only, 0, NULL);
		CHECK(shown("breaker", NULL, c) == 1);
		CHECK_NUM(c[0], 0); /* none set: the first */
		for (int i = 0; i < n; i++)
			pid[i] = worker(set_state, i, NULL);
		CHECK(shown("breaker", NULL, c) == 1);
		CHECK_NUM(c[0], (n - 1) % 3); /* the last to write */
		/* the last writer is killed, others leave: its state stays */
		murder(pid[n - 1]);
		for (int i = 0; i < n - 1; i += 2)
			leave(pid[i]);
		CHECK(shown("breaker", NULL, c) == 1);
		CHECK_NUM(c[0], (n - 1) % 3);
		fold_live();
		CHECK(shown("breaker", NULL, c) == 1);
		CHECK_NUM(c[0], (n - 1) % 3);
		/* the tool writes later: its state */
		CHECK(tool("breaker", "", 0, DB_STATE, 2) == 0);
		CHECK(tool("breaker", "", 0, DB_STATE, 3) == 5);
		CHECK(shown("breaker", NULL, c) == 1);
		CHECK_NUM(c[0], 2);
		for (int i = 1; i < n - 1; i += 2)
			murder(pid[i]);
		leave(idle);
		scrape_close();
		CHECK(shown("breaker", NULL, c) == 1);
		CHECK_NUM(c[0], 2);
	}
}

/* ---- clashes ------------------------------------------------------------------------ */

/* A gauge defined with one mode is not defined with another: in one
 * process, across processes (the second's gauge is not shown, nor folded),
 * and from the tool. */
static void mode_clash(void)
{
	fresh("clash");
	CHECK(pf_open(db) == 0);
	pf_family *a = pf_gauge_mode("g", "G.", NULL, PF_GAUGE_MAX);
	CHECK(a != NULL);
	CHECK(pf_gauge_mode("g", "G.", NULL, PF_GAUGE_MAX) == a);
	CHECK(pf_gauge_mode("g", "G.", NULL, PF_GAUGE_MIN) == NULL);
	CHECK(pf_gauge("g", "G.", NULL) == NULL);
	struct pf_family_options o = {.size = sizeof o, .unit = "seconds"};
	CHECK(pf_define(PF_GAUGE, "g", "G.", NULL, &o) == NULL); /* a unit g is not */
	CHECK(pf_set(pf_with(a, NULL), 5) == 0);
	CHECK(pf_close() == 0);
	gauge_mode_now = PF_GAUGE_MIN;
	pid_t p = worker(set_gauge, 3, NULL);
	double c[2];
	CHECK(shown("g", NULL, c) == 1);
	CHECK_NUM(c[0], 5); /* the worker's min g clashes: left out */
	leave(p);
	CHECK(shown("g", NULL, c) == 1);
	CHECK_NUM(c[0], 5);
	struct db *h;
	char err[256];
	CHECK(db_open(db, 1000, &h, err, sizeof err) == 0);
	struct family_def d;
	CHECK(names_build_family(&d, PF_GAUGE, "g", "G.", NULL, NULL, 0) == 0);
	CHECK(names_build_kind(&d, PF_GAUGE_SUM, NULL, NULL) == 0);
	CHECK(db_define(h, &d) == DB_CLASH);
	db_close(h);
}

/* Options: NULL is the defaults; a size of 0, or a larger struct whose
 * extra bytes are set, is refused; a state set needs states. */
static void options(void)
{
	fresh("options");
	CHECK(pf_open(db) == 0);
	CHECK(pf_define(PF_GAUGE, "a", "A.", NULL, NULL) != NULL);
	struct pf_family_options o = {0};
	CHECK(pf_define(PF_GAUGE, "b", "B.", NULL, &o) == NULL);
	struct {
		struct pf_family_options o;
		int later;
	} big = {{.size = sizeof big, .mode = PF_GAUGE_MAX}, 0};
	CHECK(pf_define(PF_GAUGE, "c", "C.", NULL, &big.o) != NULL);
	big.later = 1;
	CHECK(pf_define(PF_GAUGE, "d", "D.", NULL, &big.o) == NULL);
	CHECK(pf_stateset("e", "E.", NULL, NULL) == NULL);
	CHECK(pf_info("f", "F.", NULL) == NULL);
	CHECK(pf_summary("g", "G.", (const char *[]){"quantile", NULL}) == NULL);
	struct pf_family_options h = {.size = sizeof h, .unit = "seconds", .native = 1,
	                              .schema = PF_NATIVE_SCHEMA_DEFAULT,
	                              .zero_threshold = PF_NATIVE_ZERO_THRESHOLD_DEFAULT};
	pf_family *hist = pf_define(PF_HISTOGRAM, "h_seconds", "H.", NULL, &h);
	CHECK(hist != NULL);
	CHECK(pf_observe(pf_with(hist, NULL), 0.3) == 0);
	/* what does not fit a type is refused */
	pf_series *sum = pf_with(pf_summary("s_seconds", "S.", NULL), NULL);
	CHECK(pf_add(sum, 1) == -1 && pf_set(sum, 1) == -1 && pf_inc(sum) == -1);
	pf_series *st = pf_with(pf_stateset("m", "M.", NULL, breaker_states), NULL);
	CHECK(pf_set(st, 1) == -1 && pf_observe(st, 1) == -1 && pf_set_state(st, "open") == 0);
	CHECK(pf_set_state(sum, "open") == -1);
	CHECK(pf_close() == 0);
	CHECK_NUM(test_total(db, "h_seconds", NULL), 1);
}

/* A store of schema version 4 (0.3.0's): its counts as they were, its
 * gauge's value (set by the tool of that release) now the tool's
 * participant of a live-sum gauge, which a worker's value joins; the
 * gauge's mode is livesum, so defining it with another is a clash. */
static void store_v4_migrated(void)
{
	char cmd[3000];
	fresh("v4");
	snprintf(cmd, sizeof cmd,
	         "sqlite3 %s \""
	         "CREATE TABLE family(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	         " type INTEGER NOT NULL, help TEXT NOT NULL, label_names TEXT NOT NULL,"
	         " buckets BLOB NOT NULL, native_schema INTEGER, zero_threshold REAL NOT NULL DEFAULT 0);"
	         "CREATE TABLE series(id INTEGER PRIMARY KEY,"
	         " family_id INTEGER NOT NULL REFERENCES family(id),"
	         " label_values BLOB NOT NULL, cells BLOB NOT NULL, created REAL NOT NULL DEFAULT 0,"
	         " UNIQUE(family_id, label_values));"
	         "CREATE TABLE incarnation(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	         " folded_seq INTEGER NOT NULL, retired INTEGER NOT NULL);"
	         "CREATE TABLE folded(incarnation_id INTEGER NOT NULL, slot INTEGER NOT NULL,"
	         " cells BLOB NOT NULL, PRIMARY KEY(incarnation_id, slot)) WITHOUT ROWID;"
	         "CREATE TABLE exemplar(series_id INTEGER NOT NULL REFERENCES series(id),"
	         " bucket INTEGER NOT NULL, value REAL NOT NULL, ts REAL NOT NULL, labels BLOB NOT NULL,"
	         " PRIMARY KEY(series_id, bucket)) WITHOUT ROWID;"
	         "INSERT INTO family VALUES(1, 'old_total', 1, 'Old.', 'a', x'', NULL, 0);"
	         "INSERT INTO family VALUES(2, 'g', 2, 'G.', '', x'', NULL, 0);"
	         "INSERT INTO family VALUES(3, 'h_seconds', 3, 'H.', '', x'000000000000f03f', NULL, 0);"
	         /* 7, 42 and 2, 3, 4.5 as little-endian doubles */
	         "INSERT INTO series VALUES(1, 1, x'7800', x'0000000000001c40', 1700000000);"
	         "INSERT INTO series VALUES(2, 2, x'', x'0000000000004540', 1700000000);"
	         "INSERT INTO series VALUES(3, 3, x'', x'000000000000004000000000000008400000000000001240',"
	         " 1700000000);"
	         "PRAGMA user_version = 4;\"",
	         db);
	CHECK(system(cmd) == 0);
	double c[2];
	CHECK(shown("old_total", (const char *[]){"x", NULL}, c) == 1);
	CHECK_NUM(c[0], 7);
	CHECK(shown("g", NULL, c) == 1);
	CHECK_NUM(c[0], 42);
	CHECK_NUM(test_total(db, "h_seconds", NULL), 5);
	struct db *h;
	char err[256];
	CHECK(db_open(db, 1000, &h, err, sizeof err) == 0);
	CHECK(db_schema_version(h) == DB_SCHEMA_VERSION);
	db_close(h);
	/* the tool sets it again; a worker's value joins: livesum */
	CHECK(tool("g", "", 0, DB_SET, 5) == 0);
	gauge_mode_now = PF_GAUGE_LIVESUM;
	pid_t w = worker(set_gauge, 1, NULL);
	CHECK_NUM(gauge_value_now(), 5 + value_of(1));
	leave(w);
	CHECK_NUM(gauge_value_now(), 5);
	/* its mode is livesum: another is a clash */
	CHECK(pf_open(db) == 0);
	CHECK(pf_gauge("g", "G.", NULL) != NULL);
	CHECK(pf_close() == 0);
	CHECK(pf_open(db) == 0);
	CHECK(pf_gauge_mode("g", "G.", NULL, PF_GAUGE_MAX) != NULL); /* this process's own view */
	pf_close();
	CHECK_NUM(gauge_value_now(), 5); /* its max gauge was not the store's: not folded, not shown */
	CHECK(shown("old_total", (const char *[]){"x", NULL}, c) == 1);
	CHECK_NUM(c[0], 7);
}

static void set_requests(int i, void *arg)
{
	(void)arg;
	pf_series *s = pf_with(pf_gauge("queue_requests", "Queued.", NULL), NULL);
	if (!s || pf_set(s, i) != 0)
		_exit(4);
}

/* The unit of the family, as a scrape hands it to rendering ("" none). */
static const char *unit_now(const char *family)
{
	static char unit[PF_UNIT_MAX];
	struct collection c;
	char reason[256];
	unit[0] = '\0';
	if (scrape_collect(db, &c, reason, sizeof reason) != 0)
		return "(scrape failed)";
	for (size_t i = 0; i < c.nfamilies; i++)
		if (strcmp(c.families[i].name, family) == 0 && c.families[i].unit)
			snprintf(unit, sizeof unit, "%s", c.families[i].unit);
	model_collection_free(&c);
	return unit;
}

/* A unit stated by one definition and left out by another is the family's,
 * whichever came first: a worker's without it, then the tool's with it (the
 * view had the worker's); the store's family folded without it, then
 * defined with it (the store takes it). */
static void unit_adopted(void)
{
	fresh("unit");
	pid_t w = worker(set_requests, 3, NULL);
	CHECK_STR(unit_now("queue_requests"), "");
	struct family_def d;
	CHECK(names_build_family(&d, PF_GAUGE, "queue_requests", "Queued.", NULL, NULL, 0) == 0);
	CHECK(names_build_kind(&d, 0, "requests", NULL) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct db *h;
		char err[256];
		_exit(db_open(db, 1000, &h, err, sizeof err) == 0 && db_define(h, &d) == 0 ? 0 : 1);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_STR(unit_now("queue_requests"), "requests");
	leave(w);
	scrape_close();
	CHECK_STR(unit_now("queue_requests"), "requests");
	/* the store's family without one (folded from a worker), then the tool's with one */
	fresh("unit2");
	CHECK(pf_open(db) == 0);
	CHECK(pf_counter("jobs_requests_total", "Jobs.", NULL) != NULL);
	CHECK(pf_close() == 0);
	CHECK(names_build_family(&d, PF_COUNTER, "jobs_requests_total", "Jobs.", NULL, NULL, 0) == 0);
	CHECK(names_build_kind(&d, 0, "requests", NULL) == 0);
	struct db *h;
	char err[256];
	CHECK(db_open(db, 1000, &h, err, sizeof err) == 0);
	CHECK(db_define(h, &d) == 0);
	db_close(h);
	CHECK_STR(unit_now("jobs_requests_total"), "requests");
}

const struct test modes_tests[] = {
    {"modes/every_mode_1_process", modes_1},
    {"modes/every_mode_3_processes", modes_3},
    {"modes/every_mode_16_processes", modes_16},
    {"modes/killed_mid_change", killed_mid_change},
    {"modes/dead_not_yet_folded", dead_not_yet_folded},
    {"modes/summary_exact", summary_exact},
    {"modes/info_live", info_live},
    {"modes/stateset_latest", stateset_latest},
    {"modes/mode_clash", mode_clash},
    {"modes/options", options},
    {"modes/store_v4_migrated", store_v4_migrated},
    {"modes/unit_adopted", unit_adopted},
    {NULL, NULL},
};
