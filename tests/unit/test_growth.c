/* SPDX-License-Identifier: MIT */
/*
 * test_growth.c — staging files that grow (store/stage_format.h): a worker
 * killed at every step of every growth reads back exactly what it had
 * committed; readers follow a file that grows while they read it; a full
 * disk at growth refuses only the new series (logged once, counted), every
 * other series goes on, and recording resumes once there is room; files of
 * the fixed layouts of earlier releases (versions 1, 2, 3), a change cut
 * by a kill included, are folded exactly.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "promfcgi.h"
#include "metrics/scrape.h"
#include "store/stage.h"
#include "store/stage_old.h"
#include "test.h"
#include "util.h"

static char db[512];
static const char *const by_id[] = {"id", NULL};

static void fresh(void)
{
	test_new_store(db, sizeof db, "growth");
}

/* Files in the staging directory whose name begins with prefix. */
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

/* One scrape summed over the families named <prefix>*: the values and
 * the series; -1 if the scrape fails. */
static int scraped(const char *prefix, double *sum, long *nseries)
{
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "  scrape: %s\n", reason);
		return -1;
	}
	*sum = 0;
	*nseries = 0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (strncmp(f->name, prefix, strlen(prefix)) != 0)
			continue;
		for (size_t j = 0; j < f->nseries; j++)
			*sum += f->series[j].cells[0];
		*nseries += (long)f->nseries;
	}
	model_collection_free(&c);
	return 0;
}

/* ---- killed at every step of every growth ----------------------------------- */

static int report = -1;        /* to the parent: what was committed when killed */
static const char *kill_where; /* a growth step (stage_test_hook) */
static int kill_after, reached;
static long made, committed;

static void killer(const char *where)
{
	if (strcmp(where, kill_where) != 0 || ++reached < kill_after)
		return;
	long r[2] = {made, committed};
	if (write(report, r, sizeof r) != (ssize_t)sizeof r)
		_exit(3);
	raise(SIGKILL);
}

/* A worker whose every array grows: a family every 40 series (16 in the
 * families' first chunk), keys of 204 bytes (80 in the keys' first), a
 * series and an exemplar each change.  Each series i counts i + 1. */
enum { GROWER_SERIES = 1500 };
static void grower(void)
{
	stage_test_hook = killer; /* from the first chunk of each array on */
	pf_open(db);
	pf_family *f = NULL;
	for (long i = 0; i < GROWER_SERIES; i++) {
		char name[32], v[240], t[32];
		if (i % 40 == 0) {
			snprintf(name, sizeof name, "g%ld_total", i / 40);
			if (!(f = pf_counter(name, "G.", by_id)))
				_exit(4);
		}
		memset(v, 'k', 200);
		snprintf(v + 200, 40, "%04ld", i);
		pf_series *s = pf_with(f, (const char *[]){v, NULL});
		snprintf(t, sizeof t, "%ld", i);
		if (!s || pf_add_exemplar(s, (double)(i + 1), (const char *const[]){"trace_id", t, NULL}))
			_exit(5);
		made = i + 1;
		committed += i + 1;
	}
	_exit(6); /* the kill was never reached: every growth has been tried */
}

static void killed_at_every_growth_step(void)
{
	static const char *const steps[] = {"grow-begin", "grow-allocated", "grow-mapped",
	                                    "grow-published"};
	int cases = 0;
	for (int w = 0; w < 4; w++) {
		for (int k = 1; k < 60; k++) {
			int p[2];
			fresh();
			CHECK(pipe(p) == 0);
			pid_t pid = fork();
			if (pid == 0) {
				close(p[0]);
				report = p[1];
				kill_where = steps[w];
				kill_after = k;
				grower();
			}
			close(p[1]);
			long r[2] = {-1, -1};
			ssize_t got = read(p[0], r, sizeof r);
			close(p[0]);
			int status;
			waitpid(pid, &status, 0);
			if (WIFEXITED(status) && WEXITSTATUS(status) == 6)
				break; /* k went past the last growth */
			CHECK(got == (ssize_t)sizeof r && WIFSIGNALED(status));
			for (int again = 0; again < 2; again++) { /* the dead file, then the store */
				double sum = -1;
				long n = -1;
				CHECK(scraped("g", &sum, &n) == 0);
				/* a kill while the change's exemplar record grew leaves
				 * its series made (published) and empty */
				if (sum != (double)r[1] || n < r[0] || n > r[0] + 1) {
					fprintf(stderr, "  killed at %s #%d: %g counted in %ld series, %ld in %ld "
					        "committed\n", steps[w], k, sum, n, r[1], r[0]);
					CHECK(0);
				}
			}
			CHECK(files("damaged-") == 0 && files("w-") == 0);
			if (r[0] > 0) { /* the last series' exemplar, folded at retirement */
				char v[240], name[32], t[32];
				struct exemplar x;
				memset(v, 'k', 200);
				snprintf(v + 200, 40, "%04ld", r[0] - 1);
				snprintf(name, sizeof name, "g%ld_total", (r[0] - 1) / 40);
				snprintf(t, sizeof t, "%ld", r[0] - 1);
				CHECK(test_exemplar(db, name, (const char *const[]){v, NULL}, 0, &x) == 1);
				CHECK_STR(test_exemplar_label(&x, "trace_id"), t);
			}
			cases++;
		}
	}
	fprintf(stderr, "  %d kills, every one exact\n", cases);
	CHECK(cases >= 4 * 15); /* every array grew: 15 chunks made in all */
}

/* ---- readers of a file that grows --------------------------------------------- */

/* Change i makes series i (a key of 100 bytes or more) and counts it once,
 * with made_total, in one change: a scrape must see made_total equal to
 * the series' sum, and at most one series more (made, not yet counted). */
static void follower(void)
{
	pf_open(db);
	pf_family *f = pf_counter("f_total", "F.", by_id);
	pf_series *m = pf_with(pf_counter("made_total", "Made.", NULL), NULL);
	for (long i = 0;; i++) {
		char v[140];
		memset(v, 'v', 100);
		snprintf(v + 100, 40, "%ld", i);
		pf_series *s = pf_with(f, (const char *[]){v, NULL});
		if (!s)
			_exit(1);
		pf_begin();
		pf_inc(s);
		pf_inc(m);
		pf_commit();
		if (i % 32 == 0)
			usleep(1000); /* some 30,000 series a second: many reads while it grows */
	}
}

static int follows(long *made_now)
{
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0)
		return fprintf(stderr, "  scrape: %s\n", reason), 0;
	double made_total = 0, sum = 0;
	size_t n = 0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (strcmp(f->name, "made_total") == 0 && f->nseries == 1)
			made_total = f->series[0].cells[0];
		if (strcmp(f->name, "f_total") == 0) {
			n = f->nseries;
			for (size_t j = 0; j < n; j++)
				sum += f->series[j].cells[0];
		}
	}
	model_collection_free(&c);
	*made_now = (long)made_total;
	if (sum != made_total || n < (size_t)made_total || n > (size_t)made_total + 1) {
		fprintf(stderr, "  made_total %g, series %zu summing to %g\n", made_total, n, sum);
		return 0;
	}
	return 1;
}

static void readers_follow_growth(void)
{
	fresh();
	pid_t pid = fork();
	if (pid == 0)
		follower();
	long n = 0, last = 0, reads = 0;
	/* bounded in reads: a slow machine reads less far, never longer */
	for (int k = 0; k < 400 && n < 60000; k++, reads++) {
		CHECK(follows(&n));
		CHECK(n >= last);
		last = n;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(follows(&n) && n >= last && n > 0); /* the dead file */
	CHECK(follows(&last) && last == n);      /* folded */
	fprintf(stderr, "  %ld reads while it grew to %ld series\n", reads, n);
	CHECK(n > STAGE_V3_SLOTS); /* past what a file of 0.3.0 held */
}

/* ---- a full disk ------------------------------------------------------------------ */

/* Lines of stderr that say a series was refused, while fn runs. */
static int refusals_logged(void (*fn)(void))
{
	char path[600];
	snprintf(path, sizeof path, "%s.log", db);
	fflush(stderr);
	int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char line[1024];
	int n = 0;
	FILE *in = fopen(path, "r");
	while (in && fgets(line, sizeof line, in))
		n += strstr(line, "no room for another series") != NULL;
	if (in)
		fclose(in);
	return n;
}

static pf_family *fill;
static pf_series **made_series;
static long nmade, refused;

static void fill_until_refused(void)
{
	char v[64];
	for (nmade = 0; nmade < 400000; nmade++) {
		snprintf(v, sizeof v, "series-%06ld-with-a-longer-label-value", nmade);
		pf_series *s = pf_with(fill, (const char *[]){v, NULL});
		if (!s)
			break;
		made_series[nmade] = s;
		pf_inc(s);
	}
	for (int i = 0; i < 5; i++) { /* refused again: logged once, counted each time */
		snprintf(v, sizeof v, "series-%06d-with-a-longer-label-value", 900000 + i);
		refused += pf_with(fill, (const char *[]){v, NULL}) == NULL;
	}
}

static void full_disk_at_growth(void)
{
	char sd[600], cmd[1400];
	if (getuid() != 0)
		SKIP("mounting a tmpfs needs root");
	fresh();
	snprintf(sd, sizeof sd, "%s.stage", db);
	CHECK(mkdir(sd, 0770) == 0);
	snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=1m,mode=0770 promfcgi-test %s", sd);
	if (system(cmd) != 0)
		SKIP("cannot mount a tmpfs");
	pid_t pid = fork();
	if (pid == 0) {
		made_series = calloc(400000, sizeof *made_series);
		CHECK(pf_open(db) == 0);
		fill = pf_counter("fill_total", "Fill.", by_id);
		int lines = refusals_logged(fill_until_refused);
		fprintf(stderr, "  %ld series in a 1 MiB tmpfs, then refused; %d line(s) logged\n",
		        nmade, lines);
		CHECK(nmade > 1000 && nmade < 400000 && refused == 5);
		CHECK(lines == 1); /* once per interval, not per refusal */
		const char *const stage_op[] = {"stage", NULL};
		CHECK_NUM(test_series(db, "promfcgi_store_errors_total", stage_op), 6);
		/* every series made goes on counting, the file never faults */
		for (long i = 0; i < nmade; i++)
			pf_add(made_series[i], 2);
		CHECK_NUM(test_total(db, "fill_total", NULL), 3.0 * nmade);
		/* room again: new series are made, by themselves */
		snprintf(cmd, sizeof cmd, "mount -o remount,size=64m %s", sd);
		CHECK(system(cmd) == 0);
		pf_series *s = pf_with(fill, (const char *[]){"after", NULL});
		CHECK(s != NULL);
		pf_inc(s);
		CHECK_NUM(test_total(db, "fill_total", NULL), 3.0 * nmade + 1);
		CHECK(pf_close() == 0); /* its final fold: the store is on another disk */
		CHECK_NUM(test_total(db, "fill_total", NULL), 3.0 * nmade + 1);
		free(made_series);
		_exit(test_failures ? 1 : 0);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(cmd, sizeof cmd, "umount %s", sd);
	CHECK(system(cmd) == 0);
}

/* ---- files of earlier releases ------------------------------------------------ */

/* A killed worker of release 0.1, 0.2 or 0.3 (file versions 1, 2, 3):
 * counters, a classic histogram, (3) a native one, exemplars (2 and 3),
 * and its last change cut by the kill (seq odd, the new value in the redo
 * log only): folded exactly, the change replayed. */
static void old_layouts_folded(void)
{
	static const double bounds[] = {0.1, 1};
	for (unsigned version = 1; version <= 3; version++) {
		for (int cut = 0; cut < 2; cut++) {
			fresh();
			pid_t pid = fork();
			if (pid == 0) {
				pf_open(db);
				pf_series *c = pf_with(pf_counter("old_total", "Old.", by_id), (const char *[]){"a", NULL});
				pf_series *h = pf_with(pf_histogram("old_seconds", "Old.", by_id, bounds, 2),
				                       (const char *[]){"a", NULL});
				pf_series *n = version == 3 ? pf_with(pf_histogram_native("old_native_seconds",
				                                           "Old.", NULL, NULL, 0, 3,
				                                           PF_NATIVE_ZERO_THRESHOLD_DEFAULT),
				                                       NULL)
				                            : NULL;
				for (int i = 0; i < 7; i++) {
					pf_inc(c);
					pf_observe(h, 0.05 * i);
					pf_observe(n, 0.01 * (i + 1));
				}
				pf_observe_exemplar(h, 0.5, (const char *const[]){"trace_id", "old", NULL});
				_exit(0);
			}
			waitpid(pid, NULL, 0);
			char path[1200];
			CHECK(test_stage_path(db, pid, path, sizeof path) == 0);
			CHECK(test_make_legacy(path, version) == 0);
			if (cut) { /* counter 7 in its cell, 9 in the log of a change cut short */
				int fd = open(path, O_RDWR);
				struct stage_v3_header hd;
				CHECK(pread(fd, &hd, sizeof hd, 0) == (ssize_t)sizeof hd);
				const struct stage_old_layout *l = stage_old_layout(
				    version == 1 ? STAGE_V1_SIZE : version == 2 ? STAGE_V2_SIZE : STAGE_V3_SIZE);
				struct stage_v3_slot slot;
				uint32_t i = 0;
				do /* the counter's slot */
					CHECK(pread(fd, &slot, sizeof slot, (off_t)(l->slots + i++ * sizeof slot)) ==
					      (ssize_t)sizeof slot);
				while (i < hd.nslots && strcmp(slot.key, "a") != 0);
				hd.seq |= 1;
				hd.nlog = 1;
				hd.log[0] = (struct stage_v3_log_entry){slot.cell, STAGE_V3_LOG_CELL, 9};
				CHECK(pwrite(fd, &hd, sizeof hd - sizeof hd.log + sizeof hd.log[0], 0) > 0);
				close(fd);
			}
			for (int again = 0; again < 2; again++) { /* the dead file, then the store */
				CHECK_NUM(test_total(db, "old_total", NULL), cut ? 9 : 7);
				CHECK_NUM(test_total(db, "old_seconds", NULL), 8);
				if (version == 3)
					CHECK_NUM(test_total(db, "old_native_seconds", NULL), 7);
				struct exemplar x;
				CHECK(test_exemplar(db, "old_seconds", (const char *const[]){"a", NULL}, 1, &x) ==
				      (version >= 2 ? 1 : 0));
			}
			CHECK(files("w-") == 0 && files("damaged-") == 0);
		}
	}
}

const struct test growth_tests[] = {
    {"growth/killed_at_every_growth_step", killed_at_every_growth_step},
    {"growth/readers_follow_growth", readers_follow_growth},
    {"growth/full_disk_at_growth", full_disk_at_growth},
    {"growth/old_layouts_folded", old_layouts_folded},
    {NULL, NULL},
};
