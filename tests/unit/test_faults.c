/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c — the store fails, recording goes on: a deleted store, a
 * corrupt store, a deleted staging directory, no room for a staging file,
 * a full disk.  Each time the totals come out exact once the store is
 * healthy again, and the failure is counted in promfcgi_store_errors_total.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/log.h"
#include "promfcgi.h"
#include "metrics/scrape.h"
#include "test.h"
#include "util.h"

static char dir[512], db[700];
static pf_series *req;

static void setup(const char *sub)
{
	test_new_store(db, sizeof db, sub);
	char *slash = strrchr(db, '/');
	snprintf(dir, sizeof dir, "%.*s", (int)(slash - db), db);
}

static void define(void)
{
	static const char *const l[] = {"route", NULL};
	req = pf_with(pf_counter("requests_total", "Requests.", l), (const char *[]){"/", NULL});
}

static void record(int n)
{
	for (int i = 0; i < n; i++)
		pf_inc(req);
}

static double scraped(const char *name, const char *key)
{
	return test_total(db, name, key);
}

static void remove_store_files(void)
{
	char p[800];
	const char *suffix[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", db, suffix[i]);
		unlink(p);
	}
}

static void deleted_store_is_recreated(void)
{
	setup("deleted");
	CHECK(pf_open(db) == 0);
	define();
	record(5);
	CHECK_NUM(scraped("requests_total", NULL), 5);
	remove_store_files();
	record(3);
	/* the fresh store gets the live worker's cumulative total, not just +3 */
	CHECK_NUM(scraped("requests_total", NULL), 8);
	CHECK(access(db, F_OK) == 0); /* noticed: a new file, not the unlinked inode */
	CHECK(scraped("promfcgi_store_errors_total", "open") >= 1);
}

static void corrupt(off_t at, size_t len)
{
	char junk[8192];
	memset(junk, 'x', sizeof junk);
	int fd = open(db, O_WRONLY);
	CHECK(fd >= 0 && len <= sizeof junk);
	CHECK(pwrite(fd, junk, len, at) == (ssize_t)len);
	close(fd);
}

static int corrupt_copies(void)
{
	char pattern[800];
	glob_t g;
	snprintf(pattern, sizeof pattern, "%s.corrupt-*", db);
	int n = glob(pattern, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
	globfree(&g);
	return n;
}

static void corrupt_store_is_moved_aside(void)
{
	/* garbage over the header (not a database) and over the schema page */
	const off_t at[] = {0, 100};
	for (int i = 0; i < 2; i++) {
		setup("corrupt");
		CHECK(pf_open(db) == 0);
		define();
		record(5);
		CHECK_NUM(scraped("requests_total", NULL), 5);
		scrape_close(); /* last connection: the WAL is checkpointed into the file */
		corrupt(at[i], 4000);
		record(2);
		CHECK_NUM(scraped("requests_total", NULL), 7);
		CHECK(corrupt_copies() >= 1);
		pf_close();
	}
}

static void deleted_staging_dir_is_recreated(void)
{
	char cmd[800];
	setup("stagedir");
	CHECK(pf_open(db) == 0);
	define();
	record(5);
	CHECK_NUM(scraped("requests_total", NULL), 5);
	snprintf(cmd, sizeof cmd, "rm -rf %s.stage", db);
	CHECK(system(cmd) == 0);
	record(3);
	sleep(1); /* pf_maintain looks at most once a second */
	pf_maintain();
	CHECK_NUM(scraped("requests_total", NULL), 8);
}

static void no_staging_file_then_recovery(void)
{
	char parent[560];
	setup("nodir");
	snprintf(parent, sizeof parent, "%.500s/later", dir);
	snprintf(db, sizeof db, "%s/store.db", parent);
	CHECK(pf_open(db) == -1); /* the directory does not exist: counts in memory */
	define();
	record(4);
	CHECK(mkdir(parent, 0750) == 0);
	sleep(1);
	CHECK(pf_maintain() == 0);
	record(1);
	CHECK_NUM(scraped("requests_total", NULL), 5);
}

/* A 16 MiB tmpfs holds the store and two staging files (4.2 MiB each); filling it must not
 * crash a worker (blocks are allocated up front: no SIGBUS), and a worker
 * that could not create its file counts in memory until there is room. */
static void full_disk(void)
{
	int go[2], done[2];
	setup("full");
	if (mount("tmpfs", dir, "tmpfs", 0, "size=16m") != 0)
		SKIP("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)");
	char filler[600], buf[65536];
	snprintf(filler, sizeof filler, "%s/filler", dir);
	CHECK(pipe(go) == 0 && pipe(done) == 0);
	pid_t pid = fork();
	if (pid == 0) { /* a worker that starts once the disk is full */
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		int opened = pf_open(db);
		define();
		record(7);
		if (write(done[1], "r", 1) != 1 || opened != -1)
			_exit(3);
		for (int i = 0; i < 100 && access(filler, F_OK) == 0; i++)
			usleep(100000);
		sleep(1); /* pf_maintain looks at most once a second */
		_exit(pf_maintain() == 0 && pf_close() == 0 ? 0 : 4);
	}
	CHECK(pf_open(db) == 0);
	define();
	record(10);
	CHECK_NUM(scraped("requests_total", NULL), 10);
	memset(buf, 0, sizeof buf);
	int fd = open(filler, O_WRONLY | O_CREAT, 0600);
	while (write(fd, buf, sizeof buf) > 0)
		;
	CHECK(errno == ENOSPC);
	close(fd);
	record(10); /* into pages allocated at pf_open: no SIGBUS */
	double during = scraped("requests_total", NULL);
	CHECK(during == 10 || during == 20); /* never anything else */
	char c;
	CHECK(write(go[1], "g", 1) == 1 && read(done[0], &c, 1) == 1);
	unlink(filler);
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (WIFEXITED(status) && WEXITSTATUS(status))
		fprintf(stderr, "  full-disk worker exited %d\n", WEXITSTATUS(status));
	CHECK_NUM(scraped("requests_total", NULL), 27);
	CHECK(scraped("promfcgi_store_errors_total", NULL) >= 1);
	pf_close();
	scrape_close();
	umount2(dir, MNT_DETACH);
}

/* Another process holds the write lock for seconds: recording goes on, the
 * scrape answers from what the store has, and nothing is lost after. */
static void write_lock_held(void)
{
	char cmd[2000];
	setup("locked");
	CHECK(pf_open(db) == 0);
	define();
	record(5);
	CHECK_NUM(scraped("requests_total", NULL), 5);
	scrape_close();
	snprintf(cmd, sizeof cmd,
	         "(printf 'BEGIN IMMEDIATE;\nINSERT INTO family VALUES(999, \"lock_total\", 1, \"L.\", \"\", x\"\");\n"
	         ".shell touch %s.locked; sleep 3\nROLLBACK;\n' | sqlite3 %s) >/dev/null 2>&1 &",
	         db, db);
	CHECK(system(cmd) == 0);
	char flag[800];
	snprintf(flag, sizeof flag, "%s.locked", db);
	for (int i = 0; i < 100 && access(flag, F_OK) != 0; i++)
		usleep(50000);
	CHECK(access(flag, F_OK) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(pf_inc(req) == 0); /* the app never waits on the store */
	double during = scraped("requests_total", NULL);
	CHECK(during == 5 || during == 8); /* served: stale or, if the lock went, current */
	sleep(3);
	CHECK_NUM(scraped("requests_total", NULL), 8);
	pf_close();
}

/* A failing store is logged once per interval per kind, not per request,
 * and every failure is counted. */
static void errors_logged_once_per_interval(void)
{
	char log[800];
	setup("log");
	snprintf(log, sizeof log, "%s/stderr", dir);
	CHECK(pf_open(db) == 0);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600), saved = dup(2);
	dup2(fd, 2);
	for (int i = 0; i < 100; i++)
		log_error(LOG_FOLD, "disk on fire %d", i);
	log_error(LOG_READ, "another kind");
	fflush(stderr);
	dup2(saved, 2);
	close(fd);
	char text[4096] = "";
	FILE *fp = fopen(log, "r");
	size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
	if (fp)
		fclose(fp);
	text[n] = '\0';
	int lines = 0;
	for (char *p = text; (p = strchr(p, '\n')); p++)
		lines++;
	CHECK(lines == 2); /* one per kind */
	CHECK(strstr(text, "fold error: disk on fire 0") != NULL);
	CHECK(strstr(text, "read error: another kind") != NULL);
	CHECK_NUM(scraped("promfcgi_store_errors_total", "fold"), 100);
	CHECK_NUM(scraped("promfcgi_store_errors_total", "read"), 1);
	pf_close();
}

/* Sets or clears the immutable flag of path (root, on a filesystem that has
 * it): 0, or -1. */
static int immutable(const char *path, int on)
{
	int flags, fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	if (fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A worker's final fold into a store it may not write names both files
 * (issue 17: "fold error: final fold: attempt to write a readonly
 * database" named none); its file stays, for the metrics program. */
static void readonly_store_named(void)
{
	setup("readonly");
	pid_t pid = fork();
	if (pid == 0) { /* a first process makes the store */
		pf_open(db);
		define();
		record(1);
		_exit(pf_close() == 0 ? 0 : 1);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (immutable(db, 1) != 0)
		SKIP("cannot make a file immutable here (needs root and a filesystem with the flag)");
	CHECK(pf_open(db) == 0);
	define();
	record(2);
	char stage[4200];
	glob_t g;
	snprintf(stage, sizeof stage, "%s.stage/w-*-%ld-*", db, (long)getpid());
	CHECK(glob(stage, 0, NULL, &g) == 0 && g.gl_pathc == 1);
	snprintf(stage, sizeof stage, "%s", g.gl_pathc ? g.gl_pathv[0] : "?");
	globfree(&g);
	test_stderr_begin();
	CHECK(pf_close() == -1);
	const char *err = test_stderr_end();
	immutable(db, 0);
	char want[9000];
	snprintf(want, sizeof want, "fold error: final fold of %s into %s: attempt to write a readonly "
	         "database", stage, db);
	CHECK(test_lines_with(err, want) == 1);
	CHECK(access(stage, F_OK) == 0);
	CHECK_NUM(scraped("requests_total", NULL), 3); /* the file is read, then folded */
}

const struct test fault_tests[] = {
    {"faults/readonly_store_named", readonly_store_named},
    {"faults/errors_logged_once_per_interval", errors_logged_once_per_interval},
    {"faults/write_lock_held", write_lock_held},
    {"faults/deleted_store", deleted_store_is_recreated},
    {"faults/corrupt_store", corrupt_store_is_moved_aside},
    {"faults/deleted_staging_dir", deleted_staging_dir_is_recreated},
    {"faults/no_staging_file_then_recovery", no_staging_file_then_recovery},
    {"faults/full_disk", full_disk},
    {NULL, NULL},
};
