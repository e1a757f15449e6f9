/* SPDX-License-Identifier: MIT */
/*
 * collect.h — a scrape's result handed to rendering as a collection
 * (model.h; collect.c): every family of the view in name order, with its
 * series' cells and keys in one block.  The block is the output cells (the
 * store's cells laid out, the workers' parts merged in place), then the
 * keys.  It is kept for the next scrape when the collection is freed: a
 * block of 10,000 native series is 27 MB, and fresh pages for it at every
 * scrape cost more than the copy into them.
 */
#ifndef PROMFCGI_COLLECT_H
#define PROMFCGI_COLLECT_H

#include <stddef.h>

#include "store/model.h"
#include "metrics/view.h"

struct block {
	size_t cap;          /* bytes of data */
	struct block **home; /* where it goes back to when its collection is freed */
	uint64_t epoch, fill; /* the layout and fill (view_layout) its cells are of; 0: none */
	double data[];
};

/* A block of at least bytes for the output cells and keys: *spare (the
 * last one given back) if it is large enough, else a new one that goes
 * back to *spare.  NULL out of memory. */
struct block *collect_block(struct block **spare, size_t bytes);
/* The store's cells laid out (v->layout.out_base) into blk, the output's
 * start: a native part only where it holds buckets, and where the same
 * block's last fill left some, cleared (out_range): a fill costs what the
 * series hold, not their 327 cells.  merge.c then adds the workers. */
void collect_base(struct view *v, struct block *blk);
/* The bytes of the view's series' keys, all together. */
size_t collect_keys_bytes(const struct view *v);
/* Fills c from the view laid out and blk (its cells already the output);
 * ex (by view series, may be NULL) passes its exemplars to c; native
 * series carry their ranges (out_range).  0, or -1 out of memory (c then
 * still to be freed: model_collection_free). */
int collect(struct collection *c, const struct view *v, struct block *blk, struct exemplar **ex);

#endif
