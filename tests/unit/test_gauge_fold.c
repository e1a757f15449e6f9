/* SPDX-License-Identifier: MIT */
/*
 * test_gauge_fold.c — gauge modes under schema 5's folds (issues 19 and 20
 * together): a live worker's fold writes its checkpoint only, with the
 * values of the modes that keep an ended process's (sum, max) and never a
 * live mode's; its retirement puts its final values into the series' ended
 * participant (a sum's value, not a difference: nothing of it was in the
 * aggregate while it lived); a checkpoint whose file is gone is shown while
 * its process lives and kept when it is forgotten.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "promfcgi.h"
#include "metrics/scrape.h"
#include "test.h"
#include "util.h"

static char db[512], dir[600];

static void fresh(const char *tag)
{
	test_new_store(db, sizeof db, tag);
	snprintf(dir, sizeof dir, "%s.stage", db);
}

static void fold_live(void)
{
	setenv("PROMFCGI_FOLD_SECONDS", "0", 1);
	scrape_idle();
	unsetenv("PROMFCGI_FOLD_SECONDS");
}

/* The path of the only staging file in the store's directory. */
static int only_file(char *path, size_t len)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, "w-", 2) == 0 && n++ == 0)
			snprintf(path, len, "%s/%s", dir, e->d_name);
	if (d)
		closedir(d);
	return n == 1 ? 0 : -1;
}

/* A worker that sets sum, max and live (a livesum gauge) to the values of
 * step 0, tells ready; at each byte on go[0] the next step's; when go closes,
 * it leaves gracefully (its final fold). */
static pid_t worker(const int go[2], int ready, const double (*steps)[3], int nsteps)
{
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(go[1]); /* the parent's: closing it is the signal to leave */
		if (pf_open(db) != 0)
			_exit(3);
		pf_series *g[3] = {
		    pf_with(pf_gauge_mode("jobs_sum", "Jobs.", NULL, PF_GAUGE_SUM), NULL),
		    pf_with(pf_gauge_mode("jobs_max", "Jobs.", NULL, PF_GAUGE_MAX), NULL),
		    pf_with(pf_gauge_mode("jobs_live", "Jobs.", NULL, PF_GAUGE_LIVESUM), NULL)};
		for (int i = 0; i < nsteps; i++) {
			for (int k = 0; k < 3; k++)
				if (pf_set(g[k], steps[i][k]) != 0)
					_exit(4);
			if (write(ready, "r", 1) != 1 || (i + 1 < nsteps && read(go[0], &c, 1) != 1))
				_exit(5);
		}
		while (read(go[0], &c, 1) == 1)
			;
		_exit(pf_close() == 0 ? 0 : 1);
	}
	return pid;
}

/* Nothing shown: no series, or a family the store knows without one. */
static int none(double v)
{
	return isnan(v) || v == 0;
}

/* A worker's checkpoint, then its file deleted by hand and the process
 * killed: while it lives a scrape shows the sum and max values of its
 * checkpoint (its live gauge is gone with the file); forgotten, they are
 * the ended participant's. */
static void checkpoint_keeps_kept_modes(void)
{
	static const double steps[][3] = {{5, 7, 3}, {8, 9, 4}};
	fresh("gauge_ckpt");
	int go[2], ready[2];
	char c, path[900];
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid_t pid = worker(go, ready[1], steps, 2);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "jobs_sum", NULL), 5);
	CHECK_NUM(test_total(db, "jobs_max", NULL), 7);
	CHECK_NUM(test_total(db, "jobs_live", NULL), 3);
	fold_live(); /* the checkpoint: 5, 7 (and not the live mode's 3) */
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "jobs_sum", NULL), 8);
	CHECK_NUM(test_total(db, "jobs_max", NULL), 9);
	scrape_close(); /* a metrics process that never mapped the file */
	CHECK(only_file(path, sizeof path) == 0);
	CHECK(unlink(path) == 0);
	for (int i = 0; i < 2; i++) { /* it lives: its checkpoint stands for it */
		CHECK_NUM(test_total(db, "jobs_sum", NULL), 5);
		CHECK_NUM(test_total(db, "jobs_max", NULL), 7);
		CHECK(none(test_total(db, "jobs_live", NULL)));
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (int i = 0; i < 2; i++) { /* forgotten: kept once, in the ended */
		CHECK_NUM(test_total(db, "jobs_sum", NULL), 5);
		CHECK_NUM(test_total(db, "jobs_max", NULL), 7);
		CHECK(none(test_total(db, "jobs_live", NULL)));
	}
	close(go[1]);
	close(go[0]);
	close(ready[0]);
	close(ready[1]);
	scrape_close();
}

/* Workers that were checkpointed, then changed and left: a sum gauge keeps
 * each one's final value (8, then 8 + 2), not its checkpoint's nor a
 * difference from it; max keeps the largest final value; the live mode
 * shows nothing once they are gone. */
static void retirement_adds_final_values(void)
{
	static const double first[][3] = {{5, 7, 3}, {8, 9, 4}};
	static const double second[][3] = {{2, 4, 1}};
	fresh("gauge_retire");
	int go[2], ready[2];
	char c;
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid_t pid = worker(go, ready[1], first, 2);
	CHECK(read(ready[0], &c, 1) == 1);
	fold_live();
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1);
	fold_live(); /* a second checkpoint, of 8 and 9 */
	close(go[1]); /* it leaves: its last fold */
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(go[0]);
	for (int i = 0; i < 2; i++) {
		CHECK_NUM(test_total(db, "jobs_sum", NULL), 8);
		CHECK_NUM(test_total(db, "jobs_max", NULL), 9);
		CHECK(none(test_total(db, "jobs_live", NULL)));
	}
	CHECK(pipe(go) == 0);
	pid = worker(go, ready[1], second, 1);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_NUM(test_total(db, "jobs_sum", NULL), 10); /* 8 ended + 2 live */
	CHECK_NUM(test_total(db, "jobs_max", NULL), 9);
	CHECK_NUM(test_total(db, "jobs_live", NULL), 1);
	fold_live();
	CHECK_NUM(test_total(db, "jobs_sum", NULL), 10); /* a checkpoint adds nothing */
	close(go[1]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(go[0]);
	close(ready[0]);
	close(ready[1]);
	CHECK_NUM(test_total(db, "jobs_sum", NULL), 10);
	CHECK_NUM(test_total(db, "jobs_max", NULL), 9);
	CHECK(none(test_total(db, "jobs_live", NULL)));
	scrape_close();
}

const struct test gauge_fold_tests[] = {
    {"gauge_fold/checkpoint_keeps_kept_modes", checkpoint_keeps_kept_modes},
    {"gauge_fold/retirement_adds_final_values", retirement_adds_final_values},
    {NULL, NULL},
};
