/* SPDX-License-Identifier: MIT */
/*
 * model.c — the data model's few functions (see model.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/model.h"

int model_family_cells(int type, int nbuckets, int native)
{
	return type == PF_HISTOGRAM ? nbuckets + 2 + (native ? NATIVE_CELLS : 0) : 1;
}

void model_family_zero(const struct family_def *def, double *cells)
{
	memset(cells, 0, def->ncells * sizeof *cells);
	if (def->type == PF_HISTOGRAM && def->native &&
	    def->ncells == (uint32_t)model_family_cells(PF_HISTOGRAM, (int)def->nbuckets, 1))
		native_init(cells + def->nbuckets + 2, def->schema, def->zero_threshold);
}

static int same_classic(const struct family_def *a, const struct family_def *b)
{
	if (a->type != b->type || a->nlabels != b->nlabels || a->nbuckets != b->nbuckets ||
	    a->nlabels > PF_LABELS_MAX || a->nbuckets > PF_BUCKETS_MAX)
		return 0;
	for (uint32_t i = 0; i < a->nlabels; i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return 0;
	return memcmp(a->buckets, b->buckets, a->nbuckets * sizeof(double)) == 0;
}

int model_family_compat(const struct family_def *a, const struct family_def *b)
{
	if (!same_classic(a, b))
		return MODEL_CLASH;
	if (a->native && b->native)
		return a->schema == b->schema && a->zero_threshold == b->zero_threshold ? MODEL_SAME
		                                                                          : MODEL_CLASH;
	return a->native ? MODEL_NARROWER : b->native ? MODEL_WIDER : MODEL_SAME;
}

int model_family_exemplars(int type, int nbuckets)
{
	return type == PF_HISTOGRAM ? nbuckets + 1 : type == PF_COUNTER ? 1 : 0;
}

static void family_data_free(struct family_data *f)
{
	for (size_t j = 0; j < f->nseries; j++) {
		if (!f->arena && !f->in_block) {
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
	free(f->ranges);
	free(f->arena);
}

void model_collection_drop(struct collection *c, const char *name)
{
	for (size_t i = 0; i < c->nfamilies; i++)
		if (strcmp(c->families[i].name, name) == 0) {
			family_data_free(&c->families[i]);
			memmove(&c->families[i], &c->families[i + 1],
			        (c->nfamilies - i - 1) * sizeof c->families[0]);
			c->nfamilies--;
			return;
		}
}

void model_collection_free(struct collection *c)
{
	for (size_t i = 0; i < c->nfamilies; i++)
		family_data_free(&c->families[i]);
	free(c->families);
	if (c->block && c->recycle)
		c->recycle(c->block);
	else
		free(c->block);
	memset(c, 0, sizeof *c);
}
