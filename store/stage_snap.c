/* SPDX-License-Identifier: MIT */
/*
 * stage_snap.c — a snapshot's own memory: its keys, in blocks that never
 * move (a slot keeps a pointer to its key while more slots are added), and
 * its end.  The snapshots themselves are made by stage_read.c and
 * stage_old.c from a staging file, and by journal_read.c from a journal.
 */
#include <stdlib.h>
#include <string.h>

#include "store/stage.h"

const char *stage_keep_key(struct stage_snapshot *snap, const char *key, uint32_t len)
{
	struct stage_keys *b = snap->keys;
	if (!b || b->cap - b->used < len) {
		size_t cap = b && b->cap < (1u << 24) ? b->cap * 2 : (b ? b->cap : 4096);
		if (cap < len)
			cap = len;
		struct stage_keys *n = malloc(sizeof *n + cap);
		if (!n)
			return NULL;
		n->next = b;
		n->used = 0;
		n->cap = cap;
		snap->keys = b = n;
	}
	char *at = b->bytes + b->used;
	if (len)
		memcpy(at, key, len);
	b->used += len;
	return at;
}

void stage_snapshot_free(struct stage_snapshot *snap)
{
	free(snap->families);
	free(snap->slots);
	free(snap->cells);
	free(snap->exemplars);
	for (struct stage_keys *b = snap->keys, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	snap->families = NULL;
	snap->slots = NULL;
	snap->cells = NULL;
	snap->exemplars = NULL;
	snap->keys = NULL;
	snap->cap_families = snap->cap_slots = snap->cap_exemplars = 0;
	snap->cap_cells = 0;
}
