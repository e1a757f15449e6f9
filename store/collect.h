/*
 * collect.h — what a scrape gathers from the store: every family with its
 * series and their cells, ready to render.  Produced by store/scrape.c,
 * consumed by metrics/render.c; the renderer never sees SQL or files.
 *
 * Cells per series: counter and gauge 1 (the value); histogram
 * nbuckets + 1 per-bucket counts (not cumulative; the last is +Inf), then
 * the sum.
 */
#ifndef PROMFCGI_COLLECT_H
#define PROMFCGI_COLLECT_H

#include <stddef.h>

struct pf_series_data {
	char *key; /* label values, each NUL-terminated */
	size_t keylen;
	double *cells;
	double created; /* Unix seconds the series began; 0 if unknown (gauges) */
};

struct pf_family_data {
	char *name;
	char *help;
	int type; /* enum pf_type */
	int nlabels;
	char **labels;
	int nbuckets; /* finite bounds */
	double *buckets;
	int ncells;
	struct pf_series_data *series;
	size_t nseries, cap;
};

struct pf_collection {
	struct pf_family_data *families;
	size_t nfamilies, cap;
};

void pf_collection_free(struct pf_collection *c);

/* Cells a series of this family needs. */
int pf_family_cells(int type, int nbuckets);

#endif
