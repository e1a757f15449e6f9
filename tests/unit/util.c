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

int test_make_legacy(const char *path, unsigned version)
{
	/* the layout of versions 1 and 2, as those releases wrote it */
	const size_t log_at = offsetof(struct stage_header, log), families = 608, family = 1424,
	             slots = 91744, cells = 1140320, ex = 1664608;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	const struct stage_file *f = mmap(NULL, sizeof *f, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (f == MAP_FAILED)
		return -1;
	size_t size = version == 1 ? STAGE_V1_SIZE : STAGE_V2_SIZE;
	unsigned char *b = calloc(1, size);
	int rc = -1;
	if (b && f->hdr.ncells <= 65536 && f->hdr.nlog <= 32) {
		memcpy(b, f, log_at + f->hdr.nlog * sizeof f->hdr.log[0]);
		((struct stage_header *)(void *)b)->version = version;
		for (uint32_t i = 0; i < STAGE_MAX_FAMILIES; i++)
			memcpy(b + families + i * family, &f->families[i], family);
		memcpy(b + slots, f->slots, sizeof f->slots);
		memcpy(b + cells, f->cells, 65536 * sizeof(double));
		if (version == 2)
			memcpy(b + ex, &f->ex, sizeof f->ex);
		char tmp[4200];
		snprintf(tmp, sizeof tmp, "%s.legacy", path);
		FILE *out = fopen(tmp, "w");
		if (out && fwrite(b, 1, size, out) == size && fclose(out) == 0)
			rc = rename(tmp, path);
		else if (out)
			fclose(out);
	}
	free(b);
	munmap((void *)f, sizeof *f);
	return rc;
}
