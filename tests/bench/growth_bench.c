/* SPDX-License-Identifier: MIT */
/*
 * growth_bench.c — a staging file that grows (store/stage_format.h):
 * how long making series takes in one process, how long each growth step
 * takes (a chunk allocated, mapped and named), and how large the file is
 * against what its slots, cells, keys and exemplar records need.
 *
 * Usage: growth_bench DB SERIES [all]
 *   SERIES counter series "t0000000" ... each counted once; with "all",
 *   also an exemplar for each of them, 20,000 classic-and-native histogram
 *   series (14 classic buckets, as the HTTP layer's) with an exemplar on a
 *   bucket, and 10,000 families: everything issue 18 asks of one process.
 * Prints "growth <k> <array> <chunk> <bytes> <us>" per growth step, then
 * "series <n> seconds <s> file <bytes> needed <bytes> ratio <r>".
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "promfcgi.h"
#include "store/stage.h"

static double cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The time each growth took, from its start to its chunk named. */
#define MAX_GROWTHS 1024
static double step_us[MAX_GROWTHS], began;
static int ngrowths;

static void hook(const char *where)
{
	if (strcmp(where, "grow-begin") == 0)
		began = now();
	else if (strcmp(where, "grow-published") == 0 && ngrowths < MAX_GROWTHS)
		step_us[ngrowths++] = (now() - began) * 1e6;
}

/* This process's staging file, beside db. */
static const char *stage_path(const char *db)
{
	static char path[4200];
	char want[32];
	snprintf(path, sizeof path, "%s.stage", db);
	snprintf(want, sizeof want, "-%ld-", (long)getpid());
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, "w-", 2) == 0 && strstr(e->d_name, want)) {
			snprintf(path, sizeof path, "%s.stage/%s", db, e->d_name);
			break;
		}
	if (d)
		closedir(d);
	return path;
}

static const char *const array_names[STAGE_ARRAYS] = {
    "families", "slots", "cells", "keys", "exemplars-64", "exemplars-128", "exemplars-256",
    "exemplars-512"};

/* The chunks of the file in the order they were made (by offset), and
 * what the published elements need. */
static void report(const char *path, double seconds, long series)
{
	FILE *f = fopen(path, "r");
	struct stage_header h;
	struct stat st;
	if (!f || fread(&h, sizeof h, 1, f) != 1 || stat(path, &st) != 0) {
		fprintf(stderr, "growth_bench: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	struct chunk { uint64_t off; int a; unsigned k; } c[STAGE_ARRAYS * STAGE_CHUNKS];
	int n = 0;
	for (int a = 0; a < STAGE_ARRAYS; a++)
		for (unsigned k = 0; k < STAGE_CHUNKS; k++)
			if (h.chunk[a][k])
				c[n++] = (struct chunk){h.chunk[a][k], a, k};
	for (int i = 1; i < n; i++) /* by offset: the order they were made */
		for (int j = i; j > 0 && c[j].off < c[j - 1].off; j--) {
			struct chunk t = c[j];
			c[j] = c[j - 1];
			c[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		uint64_t end = i + 1 < n ? c[i + 1].off : (uint64_t)st.st_size;
		printf("growth %d %s %u %llu %.0f\n", i + 1, array_names[c[i].a], c[i].k,
		       (unsigned long long)(end - c[i].off), step_us[i]);
	}
	uint64_t needed = h.header_bytes;
	for (int a = 0; a < STAGE_ARRAYS; a++)
		needed += h.count[a] * h.arrays[a].elem_bytes;
	printf("series %ld seconds %.3f file %lld needed %llu ratio %.2f\n", series, seconds,
	       (long long)st.st_size, (unsigned long long)needed, (double)st.st_size / (double)needed);
}

int main(int argc, char **argv)
{
	static const char *const by_tenant[] = {"tenant", NULL}, *const by_route[] = {"route", NULL};
	if (argc < 3) {
		fprintf(stderr, "usage: %s DB SERIES [all]\n", argv[0]);
		return 2;
	}
	long n = atol(argv[2]);
	int all = argc > 3 && strcmp(argv[3], "all") == 0;
	stage_test_hook = hook;
	if (pf_open(argv[1]) != 0)
		return 1;
	pf_family *f = pf_counter("tenant_requests_total", "Requests by tenant.", by_tenant);
	double t0 = now(), c0 = cpu();
	for (long i = 0; i < n; i++) {
		char v[24], trace[24];
		snprintf(v, sizeof v, "t%07ld", i);
		pf_series *s = pf_with(f, (const char *[]){v, NULL});
		if (!s)
			return fprintf(stderr, "growth_bench: series %ld refused\n", i), 1;
		pf_inc(s);
		if (all) {
			snprintf(trace, sizeof trace, "%016lx", (unsigned long)i * 2654435761u);
			pf_add_exemplar(s, 1, (const char *const[]){"trace_id", trace, NULL});
		}
	}
	double counters = now() - t0, counters_cpu = cpu() - c0;
	if (all) {
		pf_family *h = pf_histogram_native("request_duration_seconds", "Durations.", by_route,
		                                   pf_default_buckets, pf_default_nbuckets, 3,
		                                   PF_NATIVE_ZERO_THRESHOLD_DEFAULT);
		for (long i = 0; i < 20000; i++) {
			char v[24];
			snprintf(v, sizeof v, "/route/%ld", i);
			pf_series *s = pf_with(h, (const char *[]){v, NULL});
			if (!s || pf_observe_exemplar(s, 0.001 * (double)(i % 1000 + 1),
			                              (const char *const[]){"trace_id", v, NULL}) != 0)
				return fprintf(stderr, "growth_bench: histogram %ld refused\n", i), 1;
		}
		for (long i = 0; i < 10000; i++) {
			char name[32];
			snprintf(name, sizeof name, "family_%ld_total", i);
			if (!pf_inc(pf_with(pf_counter(name, "One of many.", NULL), NULL)) == 0)
				return fprintf(stderr, "growth_bench: family %ld refused\n", i), 1;
		}
	}
	double seconds = now() - t0;
	printf("counters %ld seconds %.3f cpu %.3f (%.0f ns a series)\n", n, counters, counters_cpu,
	       counters_cpu / (double)n * 1e9);
	report(stage_path(argv[1]), seconds, n);
	return 0;
}
