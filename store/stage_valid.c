/* SPDX-License-Identifier: MIT */
/*
 * stage_valid.c — what a reader checks in a staging file written by another
 * process before it uses anything from it: every family, slot and exemplar
 * as strictly as the API checked them when they were made (stage_valid.h).
 */
#include <math.h>
#include <string.h>

#include "store/names.h"
#include "store/stage_valid.h"

static int terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* A native part's definition: none (all zero), or a histogram's schema in
 * range and a finite zero threshold >= 0. */
static int valid_native(const struct family_def *f)
{
	if (!f->native)
		return f->schema == 0 && f->zero_threshold == 0;
	return f->native == 1 && f->type == PF_HISTOGRAM && f->schema >= PF_NATIVE_SCHEMA_MIN &&
	       f->schema <= PF_NATIVE_SCHEMA_MAX && f->zero_threshold >= 0 &&
	       isfinite(f->zero_threshold);
}

int stage_valid_family(const struct family_def *f)
{
	if (f->type < PF_COUNTER || f->type > PF_STATESET || f->nlabels > PF_LABELS_MAX ||
	    f->nbuckets > PF_BUCKETS_MAX || (f->type != PF_HISTOGRAM && f->nbuckets) ||
	    !valid_native(f) || !names_valid_kind(f) ||
	    f->ncells != (uint32_t)model_def_cells(f) ||
	    !terminated(f->name, sizeof f->name) || !terminated(f->help, sizeof f->help) ||
	    !pf_valid_metric_name(f->name) || !f->help[0] ||
	    !names_valid_utf8(f->help, strlen(f->help)))
		return 0;
	for (uint32_t i = 0; i < f->nlabels; i++)
		if (!terminated(f->labels[i], sizeof f->labels[i]) || !pf_valid_label_name(f->labels[i]))
			return 0;
	for (uint32_t i = 0; i < f->nbuckets; i++)
		if (!isfinite(f->buckets[i]) || (i && f->buckets[i] <= f->buckets[i - 1]))
			return 0;
	return 1;
}

int stage_valid_slot(const struct stage_slot *s, const struct family_def *families,
                     uint32_t nfamilies, uint64_t ncells)
{
	return s->family < nfamilies && s->cell <= ncells &&
	       families[s->family].ncells <= ncells - s->cell && s->keylen <= PF_KEY_MAX &&
	       names_valid_key(s->key, s->keylen, families[s->family].nlabels);
}

/* A counter has one exemplar bucket, a gauge none. */
int stage_valid_exemplar(const struct stage_exemplar *e, const struct family_def *families,
                         const struct stage_slot *slots, uint32_t nslots)
{
	if (e->slot >= nslots)
		return 0;
	const struct family_def *f = &families[slots[e->slot].family];
	if (e->bucket >= (uint32_t)model_family_exemplars((int)f->type, (int)f->nbuckets))
		return 0;
	if (e->sel == 0)
		return 1;
	const struct exemplar *x = &e->x;
	return x->len <= MODEL_EXEMPLAR_BYTES && names_valid_exemplar(x->labels, x->len) &&
	       !isnan(x->value) && isfinite(x->timestamp) && x->timestamp > 0;
}
