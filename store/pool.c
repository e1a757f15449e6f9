/* SPDX-License-Identifier: MIT */
/*
 * pool.c — the pool facts of a worker's staging file, and the count of a
 * worker's end (see pool.h).
 *
 * Both read a copy of the file (stage_snapshot), which was written by
 * another process: a fact that is not a finite number reads as absent.
 */
#include <math.h>
#include <string.h>

#include "store/pool.h"

/* The family's index in s, or -1. */
static int family_index(const struct stage_snapshot *s, const char *name, uint32_t type)
{
	for (uint32_t i = 0; i < s->nfamilies; i++)
		if (s->families[i].type == type && strcmp(s->families[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The second label value of a key "a\0b\0", or NULL. */
static const char *second_value(const struct stage_slot *slot)
{
	size_t first = strnlen(slot->key, slot->keylen);
	if (first + 1 >= slot->keylen || slot->key[slot->keylen - 1] != '\0')
		return NULL;
	return slot->key + first + 1;
}

int pool_facts_read(const struct stage_snapshot *s, struct pool_facts *out)
{
	int f = family_index(s, POOL_FACTS, PF_GAUGE);
	int found = 0;
	memset(out, 0, sizeof *out);
	if (f < 0 || s->families[f].nlabels != 2)
		return 0;
	for (uint32_t i = 0; i < s->nslots; i++) {
		const struct stage_slot *slot = &s->slots[i];
		const char *fact = slot->family == (uint32_t)f ? second_value(slot) : NULL;
		if (!fact || slot->cell >= s->ncells)
			continue;
		double v = s->cells[slot->cell];
		if (!isfinite(v) || v < 0)
			continue;
		if (!found)
			memcpy(out->program, slot->key, strlen(slot->key) + 1);
		found = 1;
		if (strcmp(fact, POOL_FACT_REQUEST_START) == 0)
			out->request_start = v;
		else if (strcmp(fact, POOL_FACT_LISTENER_FAMILY) == 0)
			out->listener.family = v < 64 ? (int)v : 0;
		else if (strcmp(fact, POOL_FACT_LISTENER_INODE) == 0)
			out->listener.inode = v < 0x1p53 ? (uint64_t)v : 0;
		else if (strcmp(fact, POOL_FACT_QUEUE_MAX) == 0)
			out->queue_max = v;
	}
	if (!out->listener.inode)
		out->listener.family = 0;
	return found;
}

int pool_count_end(struct stage_snapshot *snap, int closing)
{
	const char *want = closing ? "exit" : "signal";
	int f = family_index(snap, POOL_DEATHS, PF_COUNTER);
	if (f < 0 || snap->families[f].nlabels != 2)
		return 0;
	for (uint32_t i = 0; i < snap->nslots; i++) {
		const struct stage_slot *slot = &snap->slots[i];
		const char *how = slot->family == (uint32_t)f ? second_value(slot) : NULL;
		if (!how || strcmp(how, want) != 0 || slot->cell >= snap->ncells)
			continue;
		if (snap->cells[slot->cell] >= 1)
			return 0; /* counted already: this copy was marked before */
		snap->cells[slot->cell] = 1;
		snap->seq += 2; /* one change, as a writer makes it: odd, then even */
		return 1;
	}
	return 0;
}
