/*
 * model.c — the data model's few functions (see model.h).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

int pf_family_cells(int type, int nbuckets)
{
	return type == PF_HISTOGRAM ? nbuckets + 2 : 1;
}

int pf_family_exemplars(int type, int nbuckets)
{
	return type == PF_HISTOGRAM ? nbuckets + 1 : type == PF_COUNTER ? 1 : 0;
}

void pf_collection_free(struct pf_collection *c)
{
	for (size_t i = 0; i < c->nfamilies; i++) {
		struct pf_family_data *f = &c->families[i];
		for (size_t j = 0; j < f->nseries; j++) {
			if (!f->arena) {
				free(f->series[j].key);
				free(f->series[j].cells);
			}
			free(f->series[j].exemplars); /* never in the arena */
		}
		for (int j = 0; f->labels && j < f->nlabels; j++)
			free(f->labels[j]);
		free(f->labels);
		free(f->series);
		free(f->name);
		free(f->help);
		free(f->buckets);
		free(f->arena);
	}
	free(c->families);
	memset(c, 0, sizeof *c);
}
