/* SPDX-License-Identifier: MIT */
/*
 * own.c — scrape-time families about promfcgi itself (see own.h).
 */
#include <stdlib.h>
#include <string.h>

#include "promfcgi.h"
#include "metrics/own.h"

int own_add_gauge(struct collection *c, const char *name, const char *help, const char *label,
                  const char *const *values, const double *v, int n)
{
	for (size_t i = 0; i < c->nfamilies; i++)
		if (strcmp(c->families[i].name, name) == 0)
			return 0;
	if (c->nfamilies == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct family_data *f = realloc(c->families, cap * sizeof *f);
		if (!f)
			return -1;
		c->families = f;
		c->cap = cap;
	}
	struct family_data *f = &c->families[c->nfamilies];
	memset(f, 0, sizeof *f);
	f->type = PF_GAUGE;
	f->ncells = 1;
	f->name = strdup(name);
	f->help = strdup(help);
	f->labels = calloc(1, sizeof *f->labels);
	f->series = calloc((size_t)n, sizeof *f->series);
	c->nfamilies++; /* from here on model_collection_free owns it */
	if (!f->name || !f->help || !f->labels || !f->series)
		return -1;
	if (label && !(f->labels[f->nlabels++] = strdup(label)))
		return -1;
	f->cap = (size_t)n;
	for (int i = 0; i < n; i++) {
		struct series_data *s = &f->series[i];
		const char *key = label ? values[i] : "";
		s->keylen = label ? strlen(key) + 1 : 0;
		s->key = malloc(s->keylen + 1);
		s->cells = malloc(sizeof(double));
		if (!s->key || !s->cells) {
			free(s->key);
			free(s->cells);
			return -1;
		}
		memcpy(s->key, key, s->keylen);
		s->cells[0] = v[i];
		f->nseries++;
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct family_data *)a)->name,
	              ((const struct family_data *)b)->name);
}

void own_sort(struct collection *c)
{
	qsort(c->families, c->nfamilies, sizeof c->families[0], by_name);
}

int own_add(struct collection *c, const struct scrape_stats *st)
{
	static const char *const version[] = {PROMFCGI_VERSION};
	static const char *const files[] = {"db", "wal"};
	const double one = 1, bytes[] = {st->db_bytes, st->wal_bytes}, live = st->live;
	int rc = 0;
	if (own_add_gauge(c, "promfcgi_build_info", "promfcgi's version; the value is always 1.",
	              "version", version, &one, 1) != 0 ||
	    own_add_gauge(c, "promfcgi_store_bytes", "Size of the SQLite store's files.", "file", files,
	              bytes, 2) != 0 ||
	    own_add_gauge(c, "promfcgi_live_workers",
	              "Processes recording into the store now (workers and metrics programs).",
	              NULL, NULL, &live, 1) != 0)
		rc = -1;
	own_sort(c);
	return rc;
}
