/* SPDX-License-Identifier: MIT */
/*
 * model.h — promfcgi's data model, the bottom layer that every other part
 * of the library builds on: what a metric family is (its definition), and
 * what a scrape gathers (every family with its series and their cells).
 * No I/O, no SQL, no staging: just the shapes and the rules about cells.
 *
 * Cells per series: counter and gauge 1 (the value); histogram
 * nbuckets + 1 per-bucket counts (not cumulative; the last is +Inf), then
 * the sum.  A histogram with native buckets (family_def.native,
 * family_data.native) has the same classic cells (nbuckets may be 0:
 * then just the +Inf count and the sum, what the text formats show), then
 * the NATIVE_CELLS cells of a native series (native.h): every
 * observation is counted in both.
 *
 * Exemplars (OpenMetrics): the latest per counter series, and per classic
 * histogram bucket (the bucket its observation fell in, not the cumulative one).
 */
#ifndef PROMFCGI_MODEL_H
#define PROMFCGI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "store/native.h"
#include "promfcgi.h"

/* A family's definition, as the API validated it.  Fixed size, because it
 * is stored as is in staging files (stage.h). */
struct family_def {
	uint32_t type; /* enum pf_type */
	uint32_t nlabels;
	uint32_t nbuckets;
	uint32_t ncells; /* cells per series */
	char name[PF_NAME_MAX];
	char help[PF_HELP_MAX];
	char labels[PF_LABELS_MAX][PF_LABEL_NAME_MAX];
	double buckets[PF_BUCKETS_MAX];
	/* Native buckets (histograms only; staging files of version 3 on: the
	 * fields above are version 2's whole definition).  native 1: each series
	 * has a native part (native.h) after its classic cells, which begins at
	 * this schema and zero threshold. */
	uint32_t native;
	int32_t schema;        /* -4..8 */
	double zero_threshold; /* >= 0 */
};

/* The most cells a series has: a histogram with every classic bucket and
 * a native part. */
#define MODEL_CELLS_MAX (PF_BUCKETS_MAX + 2 + NATIVE_CELLS)

/* Cells a series of this family needs (native: 1 if it has native buckets). */
int model_family_cells(int type, int nbuckets, int native);

/* The empty cells of a new series of def: zeros, and an empty native part
 * at the family's schema and zero threshold. */
void model_family_zero(const struct family_def *def, double *cells);

/* How definition b stands to a, the one kept (the store's, or the first
 * seen): MODEL_SAME shape (type, labels, buckets, native schema and zero
 * threshold; help aside), MODEL_NARROWER (b is a's without its native
 * buckets: b's cells are a's classic cells, so b's counts fold into a's
 * series), MODEL_WIDER (b is a with native buckets: a's series gain an empty
 * native part), or MODEL_CLASH. */
enum { MODEL_CLASH = -1, MODEL_SAME = 0, MODEL_NARROWER = 1, MODEL_WIDER = 2 };
int model_family_compat(const struct family_def *a, const struct family_def *b);

/* Bytes that any valid exemplar label set takes encoded as name\0value\0...:
 * names are ASCII and non-empty, so with N name and V value characters
 * (N + V <= 128) and p <= N pairs it is at most N + 4V + 2p <= 4(N + V) - N
 * <= 511. */
#define MODEL_EXEMPLAR_BYTES 512

/* One exemplar.  Fixed size: staging files hold it as is (stage.h). */
struct exemplar {
	double value;     /* the observation, or a counter's increment */
	double timestamp; /* Unix seconds when it was recorded; 0: no exemplar */
	uint32_t len;     /* bytes of labels used */
	uint32_t pad;
	char labels[MODEL_EXEMPLAR_BYTES]; /* name\0value\0name\0value\0... */
};

struct series_data {
	char *key; /* label values, each NUL-terminated */
	size_t keylen;
	double *cells;
	double created; /* Unix seconds the series began; 0 if unknown (gauges) */
	/* NULL, or the latest exemplar per bucket (nbuckets + 1) of a histogram,
	 * of the series (1) of a counter; a timestamp of 0 means none */
	struct exemplar *exemplars;
};

/* How many exemplars a series of this type has room for: 0 for a gauge. */
int model_family_exemplars(int type, int nbuckets);

struct family_data {
	char *name;
	char *help;
	int type; /* enum pf_type */
	int nlabels;
	char **labels;
	int nbuckets; /* finite bounds */
	double *buckets;
	int ncells;
	struct series_data *series;
	size_t nseries, cap;
	/* Histograms with native buckets (native.h; 0 in every other family):
	 * cells[nbuckets + 2 ...] of each series hold its native data. */
	int native;
	int native_schema;            /* a new series' schema, -4..8 */
	double native_zero_threshold; /* a new series' zero bucket: |v| <= this */
	/* NULL, or by series: where its native buckets may be, 0 outside (a
	 * scrape knows, so an encoder looks at those only) */
	struct native_range *ranges;
	void *arena; /* when set: the series' keys and cells are in it (one block) */
	int in_block; /* the series' keys and cells are in the collection's block */
};

struct collection {
	struct family_data *families;
	size_t nfamilies, cap;
	/* When set: one allocation holding the cells and keys of the families
	 * marked in_block (a scrape's: metrics/collect.c), handed to recycle when
	 * the collection is freed (to free, or to keep for the next scrape). */
	void *block;
	void (*recycle)(void *block);
};

void model_collection_free(struct collection *c);
/* Removes the family of that name from c, if it has one (its series' cells
 * and keys stay in c's block, freed with it). */
void model_collection_drop(struct collection *c, const char *name);

#endif
