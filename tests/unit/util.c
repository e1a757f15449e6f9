/* SPDX-License-Identifier: MIT */
/*
 * util.c — helpers shared by the store tests (see util.h).
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "promfcgi.h"
#include "metrics/scrape.h"
#include "store/stage.h"
#include "test.h"
#include "util.h"

void test_new_store(char *db, size_t len, const char *tag)
{
	char dir[400];
	snprintf(dir, sizeof dir, "%.300s/%.40s-XXXXXX", getenv("PROMFCGI_TEST_DIR"), tag);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(db, len, "%s/store.db", dir);
}

double test_total(const char *db, const char *family, const char *key)
{
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "  scrape failed: %s\n", reason);
		return NAN;
	}
	double sum = NAN;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (strcmp(f->name, family) != 0)
			continue;
		sum = 0;
		for (size_t j = 0; j < f->nseries; j++) {
			if (key && strcmp(f->series[j].key, key) != 0)
				continue;
			for (int b = 0; b < (f->type == PF_HISTOGRAM ? f->nbuckets + 1 : 1); b++)
				sum += f->series[j].cells[b];
		}
	}
	model_collection_free(&c);
	return sum;
}

double test_series(const char *db, const char *family, const char *const *values)
{
	char key[PF_KEY_MAX];
	size_t n = 0;
	for (int i = 0; values && values[i]; i++) {
		size_t l = strlen(values[i]) + 1;
		if (n + l > sizeof key)
			return NAN;
		memcpy(key + n, values[i], l);
		n += l;
	}
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0)
		return NAN;
	double v = NAN;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (strcmp(f->name, family) != 0)
			continue;
		v = 0;
		for (size_t j = 0; j < f->nseries; j++)
			if (f->series[j].keylen == n && memcmp(f->series[j].key, key, n) == 0)
				for (int b = 0; b < (f->type == PF_HISTOGRAM ? f->nbuckets + 1 : 1); b++)
					v += f->series[j].cells[b];
	}
	model_collection_free(&c);
	return v;
}

static size_t encode(const char *const *values, char *key, size_t cap)
{
	size_t n = 0;
	for (int i = 0; values && values[i]; i++) {
		size_t l = strlen(values[i]) + 1;
		if (n + l > cap)
			return (size_t)-1;
		memcpy(key + n, values[i], l);
		n += l;
	}
	return n;
}

int test_exemplar(const char *db, const char *family, const char *const *values, int b,
                  struct exemplar *out)
{
	char key[PF_KEY_MAX];
	size_t n = encode(values, key, sizeof key);
	struct collection c;
	char reason[256];
	if (n == (size_t)-1 || scrape_collect(db, &c, reason, sizeof reason) != 0)
		return -1;
	int rc = -1;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct family_data *f = &c.families[i];
		if (strcmp(f->name, family) != 0)
			continue;
		for (size_t j = 0; j < f->nseries; j++) {
			const struct series_data *s = &f->series[j];
			if (s->keylen != n || memcmp(s->key, key, n) != 0)
				continue;
			rc = 0;
			if (s->exemplars && b < model_family_exemplars(f->type, f->nbuckets) &&
			    s->exemplars[b].timestamp > 0) {
				*out = s->exemplars[b];
				rc = 1;
			}
		}
	}
	model_collection_free(&c);
	return rc;
}

const char *test_exemplar_label(const struct exemplar *x, const char *name)
{
	for (uint32_t at = 0; at < x->len && at < sizeof x->labels;) {
		const char *k = x->labels + at, *v = k + strlen(k) + 1;
		if (strcmp(k, name) == 0)
			return v;
		at = (uint32_t)(v + strlen(v) + 1 - x->labels);
	}
	return NULL;
}

int test_nseries(const char *db, const char *family)
{
	struct collection c;
	char reason[256];
	if (scrape_collect(db, &c, reason, sizeof reason) != 0)
		return -1;
	int n = -1;
	for (size_t i = 0; i < c.nfamilies; i++)
		if (strcmp(c.families[i].name, family) == 0)
			n = (int)c.families[i].nseries;
	model_collection_free(&c);
	return n;
}
static int saved_stderr = -1;
static char stderr_path[600];

void test_stderr_begin(void)
{
	fflush(stderr);
	snprintf(stderr_path, sizeof stderr_path, "%.500s/stderr-%ld", getenv("PROMFCGI_TEST_DIR"),
	         (long)getpid());
	int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

const char *test_stderr_end(void)
{
	static char text[16384];
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	FILE *fp = fopen(stderr_path, "r");
	size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
	if (fp)
		fclose(fp);
	text[n] = '\0';
	unlink(stderr_path);
	fputs(text, stderr);
	return text;
}

int test_lines_with(const char *text, const char *needle)
{
	int n = 0;
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *hit = strstr(line, needle);
		if (hit && hit < line + len)
			n++;
		line = end ? end + 1 : NULL;
	}
	return n;
}
