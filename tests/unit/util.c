/*
 * util.c — helpers shared by the store tests (see util.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../store/promfcgi.h"
#include "../../store/scrape.h"
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
	struct pf_collection c;
	char reason[256];
	if (pf_scrape(db, &c, reason, sizeof reason) != 0) {
		fprintf(stderr, "  scrape failed: %s\n", reason);
		return NAN;
	}
	double sum = NAN;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct pf_family_data *f = &c.families[i];
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
	pf_collection_free(&c);
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
	struct pf_collection c;
	char reason[256];
	if (pf_scrape(db, &c, reason, sizeof reason) != 0)
		return NAN;
	double v = NAN;
	for (size_t i = 0; i < c.nfamilies; i++) {
		const struct pf_family_data *f = &c.families[i];
		if (strcmp(f->name, family) != 0)
			continue;
		v = 0;
		for (size_t j = 0; j < f->nseries; j++)
			if (f->series[j].keylen == n && memcmp(f->series[j].key, key, n) == 0)
				for (int b = 0; b < (f->type == PF_HISTOGRAM ? f->nbuckets + 1 : 1); b++)
					v += f->series[j].cells[b];
	}
	pf_collection_free(&c);
	return v;
}

int test_nseries(const char *db, const char *family)
{
	struct pf_collection c;
	char reason[256];
	if (pf_scrape(db, &c, reason, sizeof reason) != 0)
		return -1;
	int n = -1;
	for (size_t i = 0; i < c.nfamilies; i++)
		if (strcmp(c.families[i].name, family) == 0)
			n = (int)c.families[i].nseries;
	pf_collection_free(&c);
	return n;
}
