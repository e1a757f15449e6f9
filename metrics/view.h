/* SPDX-License-Identifier: MIT */
/*
 * view.h — the scrape's copy of the store, kept between scrapes (view.c):
 * every family and series that the store or a worker has, the store's
 * aggregate cells, the incarnations (and the folded rows of those folded
 * before schema 5), and the store's exemplars.  Workers' series are added
 * to it as they are mapped (workers.c), and the output layout (layout.c)
 * orders it for rendering.
 *
 * Read again only when PRAGMA data_version says another connection
 * committed, or after this process's own folds, and then in place and only
 * what changed: the series rows of later generations (db_load), their
 * exemplars, and the incarnations.  Made anew when a read finds what only a
 * fresh view can take (the store defines a family otherwise than the view
 * had it) or holds series no one has any more.
 */
#ifndef PROMFCGI_VIEW_H
#define PROMFCGI_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "store/hash.h"
#include "store/model.h"

#define VIEW_NONE UINT32_MAX    /* no family, series or slot */
#define VIEW_NO_CELLS SIZE_MAX /* a series the store has no row of */

struct view_family {
	struct family_def def; /* the widest seen: with native buckets if any has them */
	long long store_id;    /* 0: only in staging files so far */
	uint32_t store_ncells; /* cells of the store's rows (fewer if it lacks the native part) */
	uint32_t first, nseries; /* its series in the layout */
};

struct view_series {
	uint32_t fam, keylen;
	size_t key;      /* in keys */
	size_t base;     /* the store's cells in base, VIEW_NO_CELLS if none */
	uint32_t base_n; /* how many (the classic ones only, if the store lacks the native part) */
	uint32_t read;   /* the read (inc_gen) that last brought its row */
	struct native_range base_range; /* of the native part of its base cells */
	size_t out;      /* its cells in the output */
	double created;
};

/* What the store has folded of one slot of an incarnation. */
struct folded_row {
	uint32_t off, n; /* cells in fpool; n == 0: no row */
};

/* A worker incarnation the store knows (its staging file's name). */
struct incarnation {
	long long id, folded_seq;
	int retired;
	int aggregated; /* folded before schema 5: its folded rows are in the aggregate */
	int checkpoint; /* it has one (db_checkpoint.c): its totals, outside the aggregate */
	char *name;
	struct folded_row *rows; /* by slot (aggregated ones only) */
	uint32_t nrows;
};

/* The output layout (layout.c): families by name, series by label values,
 * each series' cells at its place in the output. */
struct view_layout {
	int laid_out, base_laid;
	int base_changed; /* a read changed the series in view.changed: lay those */
	uint32_t nfams_laid, nsers_laid; /* what the last layout had */
	uint32_t *order;  /* families by name */
	uint32_t *rank;   /* family -> its place in order */
	uint32_t *sorted; /* series in output order (a family's from fams[f].first) */
	size_t ncells;    /* output cells */
	double *out_base; /* the store's cells laid out, zeros for the others */
	/* Native parts in the output are written where they hold buckets only
	 * (collect_base, merge.c): out_range[series] says where the block
	 * last filled has them, so the next fill of the same block clears those
	 * and nothing else.  epoch moves on with every layout (series' places
	 * move), fills with every fill. */
	struct native_range *out_range;
	uint64_t epoch, fills;
};

struct view {
	int valid;
	long long version; /* data_version of the snapshot read */
	long long store_gen; /* the last generation of series rows read (db_load's since) */
	uint32_t gen;      /* moves on when the view is made anew: workers map their slots again */
	uint32_t inc_gen;  /* moves on at every read: workers find their rows again */
	unsigned long rows_read; /* series rows read by every read so far (kept by view_free) */
	int rebuild;       /* a read found what only a view made anew can take */
	int stale;         /* this process committed: read the store again */
	struct view_family *fams;
	uint32_t nfams, cap_fams;
	struct view_series *sers;
	uint32_t nsers, cap_sers;
	struct hash_table by_key; /* series by (family, label values) */
	char *keys;
	size_t nkeys, cap_keys;
	double *base;
	size_t nbase, cap_base;
	uint32_t *changed; /* series whose store cells the last reads changed, not laid yet */
	uint32_t nchanged, cap_changed;
	struct incarnation *incs, *old_incs; /* old_incs: of the last read, during a read */
	uint32_t nincs, cap_incs, nold_incs, cap_old_incs;
	double *fpool, *old_fpool;
	size_t nfpool, cap_fpool, cap_old_fpool;
	uint32_t last_fam; /* of the last series row read */
	struct view_exemplar { /* the store's exemplars */
		uint32_t ser, bucket;
		struct exemplar x;
	} *exs;
	uint32_t nexs, cap_exs;
	struct view_layout layout;
};

/* Empties the view (a new generation); view_free also frees its memory. */
void view_clear(struct view *v);
void view_free(struct view *v);

/* Reads the store into the view, in place, what changed since the last
 * read (anew: everything, from empty): 0, or -1 (the view then empty and
 * invalid). */
int view_read(struct view *v, struct db *db, int anew);
/* Whether the view holds series or families that neither the store nor
 * any worker has any more (used: a mark per series, then per family, set
 * for those the workers map): then it is made anew. */
int view_unused(const struct view *v, const unsigned char *used);

/* The family of that definition, added if new (store_id 0: not the
 * store's), widened if def has native buckets it lacks; VIEW_NONE if it
 * clashes or out of memory. */
uint32_t view_add_family(struct view *v, const struct family_def *def, long long store_id);
/* The series (fam, key), added if new (created: when it began);
 * VIEW_NONE out of memory. */
uint32_t view_add_series(struct view *v, uint32_t fam, const char *key, uint32_t keylen,
                         double created);

/* The family the store knows by that id, or VIEW_NONE. */
uint32_t view_store_family(const struct view *v, long long store_id);
/* The incarnation of that name, or NULL. */
const struct incarnation *view_incarnation(const struct view *v, const char *name);
/* Its folded cells of slot, if it has a row of ncells: NULL otherwise (the
 * db_known.row of a fold). */
const double *view_folded_row(const struct view *v, const struct incarnation *c, uint32_t slot,
                              uint32_t ncells);

#endif
