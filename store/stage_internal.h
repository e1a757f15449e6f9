/* SPDX-License-Identifier: MIT */
/*
 * stage_internal.h — what the writer's two files share (stage.c makes and
 * grows the file, stage_write.c records into it): a new chunk, and the
 * pending change's pointers made again after the file was replaced.
 */
#ifndef PROMFCGI_STAGE_INTERNAL_H
#define PROMFCGI_STAGE_INTERNAL_H

#include "store/stage.h"

/* Bytes of chunk k of array a (page-rounded, as allocated). */
size_t stage_chunk_bytes(const struct stage_header *h, enum stage_array a, unsigned k);
/* Makes chunk k of array a (stage_format.h: "Growth"): 0, or -1 with
 * errno (ENOSPC: the disk is full; nothing named, nothing lost). */
int stage_grow(struct stage *s, enum stage_array a, unsigned k);
/* Points the pending change's entries at the current mappings. */
void stage_rebind(struct stage *s);

#endif
