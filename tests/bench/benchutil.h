/* SPDX-License-Identifier: MIT */
/*
 * benchutil.h — small helpers shared by the scrape and churn benchmarks:
 * a monotonic clock, medians, one timed scrape (scrape_collect + render_text,
 * what metrics.fcgi does per request, minus the FastCGI I/O), the disk use
 * of a store, and removing a store's files.  Header-only (static functions)
 * so each benchmark is one translation unit plus the promfcgi objects.
 */
#ifndef PROMFCGI_BENCHUTIL_H
#define PROMFCGI_BENCHUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "store/buf.h"
#include "metrics/protobuf.h"
#include "metrics/render.h"
#include "metrics/scrape.h"

static inline double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts v in place. */
static inline double median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct scrape_result {
	double scrape_ms; /* scrape_collect: fold every staging file, retire the dead, read */
	double render_ms; /* render_text */
	size_t bytes;     /* the /metrics body */
	double pb_ms;     /* protobuf_render of the same collection (what Prometheus asks
	                   * for with native histograms on), timed apart */
	size_t pb_bytes;
	size_t series;    /* series of families whose name starts with prefix */
	double sum;       /* sum of their counters' values and histograms' counts */
};

/* Under `valgrind --tool=callgrind --collect-atstart=no` (tests/bench/profile),
 * the scrapes timed while this is set are the ones counted. */
static int bench_collect;

/* One scrape as metrics.fcgi does it; the tally over families named
 * prefix* is taken after the clock stops, to check the figures are exact. */
static inline int timed_scrape(const char *db, const char *prefix, struct scrape_result *r)
{
	struct collection c;
	char reason[300];
	if (bench_collect)
		CALLGRIND_TOGGLE_COLLECT;
	double t0 = now_ms();
	if (scrape_collect(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "scrape failed: %s\n", reason);
		return -1;
	}
	double t1 = now_ms();
	/* SCRAPE_FORMAT=protobuf: callgrind counts protobuf_render, not render_text */
	int pb_counted = bench_collect && getenv("SCRAPE_FORMAT") &&
	                 strcmp(getenv("SCRAPE_FORMAT"), "protobuf") == 0;
	if (pb_counted)
		CALLGRIND_TOGGLE_COLLECT;
	struct buf b = {0};
	render_text(&b, &c, NULL);
	double t2 = now_ms();
	if (bench_collect)
		CALLGRIND_TOGGLE_COLLECT;
	struct buf pb = {0};
	protobuf_render(&pb, &c, NULL);
	r->pb_ms = now_ms() - t2;
	if (pb_counted)
		CALLGRIND_TOGGLE_COLLECT;
	r->pb_bytes = pb.len;
	int pb_oom = pb.oom;
	buf_free(&pb);
	r->scrape_ms = t1 - t0;
	r->render_ms = t2 - t1;
	r->bytes = b.len;
	r->series = 0;
	r->sum = 0;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (strncmp(f->name, prefix, strlen(prefix)) != 0)
			continue;
		r->series += f->nseries;
		for (size_t j = 0; j < f->nseries; j++)
			for (int k = 0; k <= (f->type == PF_HISTOGRAM ? f->nbuckets : 0); k++)
				r->sum += f->series[j].cells[k];
	}
	int oom = b.oom || pb_oom;
	buf_free(&b);
	model_collection_free(&c);
	if (oom) {
		fprintf(stderr, "render: out of memory\n");
		return -1;
	}
	return 0;
}

/* Bytes allocated on disk for path: a file, or the files of a directory
 * (staging directories are flat). */
static inline long long disk_bytes(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return (long long)st.st_blocks * 512;
	long long sum = 0;
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0)
			sum += (long long)st.st_blocks * 512;
	if (d)
		closedir(d);
	return sum;
}

static inline int count_files(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Removes a store: db, -wal, -shm and the staging directory. */
static inline void remove_store(const char *db)
{
	char p[4096 + 256];
	const char *suffix[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
		snprintf(p, sizeof p, "%s%s", db, suffix[i]);
		unlink(p);
	}
	char dir[4096];
	snprintf(dir, sizeof dir, "%s.stage", db);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

#endif
