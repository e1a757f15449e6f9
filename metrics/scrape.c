/* SPDX-License-Identifier: MIT */
/*
 * scrape.c — what one scrape does.
 *
 * A value in the exposition is
 *
 *     store aggregate  +  sum over workers of (staged - folded)
 *
 * where the aggregate and each incarnation's folded rows come from one
 * SQLite snapshot S, and staged is a seqlock-consistent copy of the
 * worker's staging file taken after S.  Live workers are not folded at
 * every scrape: their files survive a kill, so reading them is enough.
 * They are folded when they die (by the scrape that sees it, all the dead
 * of a scrape in one transaction), at graceful exit (by themselves), and
 * every SCRAPE_FOLD_SECONDS, durably (that caps what a power cut can lose), by
 * scrape_idle after an answer has left.
 *
 * Between scrapes this process keeps:
 *   - the store's aggregate and folded rows ("the view"), read again only
 *     when PRAGMA data_version says another connection committed, or after
 *     this process's own folds;
 *   - every worker's file, mapped once, with a pidfd to learn of its end;
 *   - a hash of series by (family, label values), and the output layout
 *     (families by name, series by label values) with the store's cells
 *     laid out in it.
 * So a scrape with nothing new costs a data_version check, a readdir, a
 * poll, a seq comparison per worker, one copy of the output cells and the
 * rendering; a changed worker adds a copy of its cells.
 *
 * Which part of a worker's file counts ("the rule").  Rows of an
 * incarnation are retired (its final fold) and forgotten only once its file
 * was unlinked, and only by its own final fold (after it set `closing` in
 * its header) or by a metrics program that saw it dead.  For a worker W,
 * with F = W's rows in S and everything below read after S:
 *   - F retired: its counts are all in the aggregate: W adds nothing;
 *   - W live and not closing, or W's file listed in the directory: F is
 *     what was folded of W (absent: nothing yet): W adds staged - F;
 *   - otherwise (dead or closing, file gone): W's file was unlinked before
 *     we looked, so its final fold (if any) committed before; if the store
 *     still has S's version, S saw that commit: F absent means forgotten,
 *     W adds nothing; F present and not retired (a file deleted by hand)
 *     adds staged - F.  If the version moved, the scrape starts over.
 * Gauges are not folded: a live worker adds its gauges, a dead one none.
 *
 * Exemplars: per series and bucket, the latest (by timestamp) of the
 * store's (of workers that ended, folded with their last counts) and of
 * every worker's file; never summed, so no rule is needed: a worker whose
 * exemplar is also in the store offers the same one twice.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/buf.h"
#include "store/model.h"
#include "store/db.h"
#include "store/journal.h"
#include "store/log.h"
#include "metrics/scrape.h"
#include "store/stage.h"

#define NONE UINT32_MAX
#define NO_CELLS SIZE_MAX

/* Kept open between scrapes; reopened on error or for another store. */
static struct db *scrape_db;
static char scrape_path[4096];
static dev_t scrape_dev; /* the file opened, to notice it deleted or replaced */
static ino_t scrape_ino;
static struct scrape_stats stats;
static unsigned idle_retired, idle_errors; /* by scrape_idle: told by the next scrape */

const struct scrape_stats *scrape_last_stats(void)
{
	return &stats;
}

/* ---- the view: the store's aggregate merged with the workers' series --- */

struct mfam {
	struct family_def def; /* the widest seen: with native buckets if any has them */
	long long store_id; /* 0: only in staging files so far */
	uint32_t store_ncells; /* cells of the store's rows (fewer if it lacks the native part) */
	uint32_t first, nseries; /* its series in the layout */
};

struct mser {
	uint32_t fam, keylen;
	size_t key;  /* in V.keys */
	size_t base; /* the store's cells in V.base, NO_CELLS if none */
	uint32_t base_n; /* how many (the classic ones only, if the store lacks the native part) */
	size_t out;  /* its cells in the output */
	double created;
};

struct frow {
	uint32_t off, n; /* cells in V.fpool; n == 0: no row */
};

struct incarnation {
	long long id, folded_seq;
	int retired;
	char *name;
	struct frow *rows; /* by slot */
	uint32_t nrows;
};

static struct view {
	int valid;
	long long version; /* data_version of the snapshot read */
	uint32_t gen;      /* moves on when the view is made anew: workers map their slots again */
	uint32_t inc_gen;  /* moves on at every read: workers find their rows again */
	int rebuild;       /* a read found what only a view made anew can take */
	int stale;         /* this process committed: read the store again */
	struct mfam *fams;
	uint32_t nfams, cap_fams;
	struct mser *sers;
	uint32_t nsers, cap_sers;
	uint32_t *hash; /* series index + 1, open addressing */
	uint32_t hash_size;
	char *keys;
	size_t nkeys, cap_keys;
	double *base;
	size_t nbase, cap_base;
	struct incarnation *incs, *old_incs; /* old_incs: of the last read, during a read */
	uint32_t nincs, cap_incs, nold_incs, cap_old_incs;
	double *fpool, *old_fpool;
	size_t nfpool, cap_fpool, cap_old_fpool;
	/* the layout, made again when families or series were added */
	int laid_out, base_laid;
	uint32_t nfams_laid, nsers_laid; /* what the last layout had */
	uint32_t *order;  /* families by name */
	uint32_t *rank;   /* family -> its place in order */
	uint32_t *sorted; /* series in output order (a family's from fams[f].first) */
	size_t ncells;    /* output cells */
	double *out_base; /* the store's cells laid out, zeros for the others */
	uint32_t last_fam; /* of the last series row read */
	struct vex {       /* the store's exemplars */
		uint32_t ser, bucket;
		struct exemplar x;
	} *exs;
	uint32_t nexs, cap_exs;
} V;

static void incs_free(struct incarnation *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].rows);
	}
}

static void incs_clear(void)
{
	incs_free(V.incs, V.nincs);
	V.nincs = 0;
	V.nfpool = 0;
	V.inc_gen++;
}

static void view_clear(void)
{
	incs_clear();
	V.nfams = V.nsers = 0;
	V.nkeys = V.nbase = 0;
	V.nexs = 0;
	if (V.hash)
		memset(V.hash, 0, V.hash_size * sizeof *V.hash);
	V.valid = 0;
	V.laid_out = V.base_laid = 0;
	V.nfams_laid = V.nsers_laid = 0;
	V.gen++;
}

static void view_free(void)
{
	view_clear();
	free(V.fams);
	free(V.sers);
	free(V.hash);
	free(V.keys);
	free(V.base);
	free(V.incs);
	free(V.old_incs);
	free(V.fpool);
	free(V.old_fpool);
	free(V.order);
	free(V.rank);
	free(V.sorted);
	free(V.out_base);
	free(V.exs);
	uint32_t gen = V.gen, inc_gen = V.inc_gen;
	memset(&V, 0, sizeof V);
	V.gen = gen;
	V.inc_gen = inc_gen;
}

static uint32_t hash_series(uint32_t fam, const char *key, uint32_t keylen)
{
	uint32_t h = 2166136261u ^ fam; /* FNV-1a */
	for (uint32_t i = 0; i < keylen; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return h ^ (h >> 15);
}

static int hash_put(uint32_t index)
{
	const struct mser *s = &V.sers[index];
	uint32_t h = hash_series(s->fam, V.keys + s->key, s->keylen);
	for (;; h++)
		if (!V.hash[h & (V.hash_size - 1)]) {
			V.hash[h & (V.hash_size - 1)] = index + 1;
			return 0;
		}
}

static int hash_grow(void)
{
	if (2 * (V.nsers + 1) <= V.hash_size)
		return 0;
	uint32_t size = V.hash_size ? 2 * V.hash_size : 1024;
	while (size < 2 * (V.nsers + 1))
		size *= 2;
	uint32_t *h = calloc(size, sizeof *h);
	if (!h)
		return -1;
	free(V.hash);
	V.hash = h;
	V.hash_size = size;
	for (uint32_t i = 0; i < V.nsers; i++)
		hash_put(i);
	return 0;
}

static uint32_t view_find_series(uint32_t fam, const char *key, uint32_t keylen)
{
	if (!V.hash_size)
		return NONE;
	for (uint32_t h = hash_series(fam, key, keylen);; h++) {
		uint32_t at = V.hash[h & (V.hash_size - 1)];
		if (!at)
			return NONE;
		const struct mser *s = &V.sers[at - 1];
		if (s->fam == fam && s->keylen == keylen && memcmp(V.keys + s->key, key, keylen) == 0)
			return at - 1;
	}
}

/* The series (fam, key), added if new; NONE if out of memory. */
static uint32_t add_series(uint32_t fam, const char *key, uint32_t keylen, double created)
{
	uint32_t i = view_find_series(fam, key, keylen);
	if (i != NONE)
		return i;
	if (hash_grow() != 0 || array_grow32((void **)&V.sers, &V.cap_sers, V.nsers + 1, sizeof *V.sers) ||
	    array_grow((void **)&V.keys, &V.cap_keys, V.nkeys + keylen + 1, 1))
		return NONE;
	struct mser *s = &V.sers[V.nsers];
	s->fam = fam;
	s->keylen = keylen;
	s->key = V.nkeys;
	s->base = NO_CELLS;
	s->created = created;
	memcpy(V.keys + V.nkeys, key, keylen);
	V.nkeys += keylen;
	hash_put(V.nsers);
	V.laid_out = 0;
	return V.nsers++;
}

/* Families are one definition per name, the store's first: a staging file
 * that defines a name otherwise is not shown (nor folded, db.c).  A
 * histogram's definition with native buckets widens one without (their
 * series gain an empty native part, as the store's do at its next fold);
 * one without native buckets adds its classic cells to one with. */
static void widen(uint32_t f, const struct family_def *def)
{
	struct family_def *d = &V.fams[f].def;
	d->native = def->native;
	d->schema = def->schema;
	d->zero_threshold = def->zero_threshold;
	d->ncells = def->ncells;
	V.laid_out = 0; /* every series' cells move */
}

static uint32_t find_family(const char *name)
{
	for (uint32_t i = 0; i < V.nfams; i++)
		if (strcmp(V.fams[i].def.name, name) == 0)
			return i;
	return NONE;
}

static uint32_t add_family(const struct family_def *def, long long store_id)
{
	uint32_t i = find_family(def->name);
	if (i != NONE) {
		int c = model_family_compat(&V.fams[i].def, def);
		if (c == MODEL_WIDER)
			widen(i, def);
		return c == MODEL_CLASH ? NONE : i;
	}
	if (array_grow32((void **)&V.fams, &V.cap_fams, V.nfams + 1, sizeof *V.fams))
		return NONE;
	memset(&V.fams[V.nfams], 0, sizeof V.fams[0]);
	V.fams[V.nfams].def = *def;
	V.fams[V.nfams].store_id = store_id;
	V.fams[V.nfams].store_ncells = def->ncells;
	V.laid_out = 0;
	return V.nfams++;
}

/* db_load's callbacks.  A read updates the view in place: series keep
 * their place (workers their maps, the layout its order) unless the store
 * defines a family otherwise than the view had it (V.rebuild). */
static int load_family(void *arg, long long id, const struct family_def *def)
{
	(void)arg;
	uint32_t f = find_family(def->name);
	if (f == NONE && (f = add_family(def, id)) == NONE)
		return -1;
	int c = model_family_compat(&V.fams[f].def, def);
	if (c == MODEL_CLASH) {
		V.rebuild = 1;
		return 0;
	}
	if (c == MODEL_WIDER)
		widen(f, def);
	struct family_def *d = &V.fams[f].def;
	memcpy(d->help, def->help, sizeof d->help); /* the store's help */
	V.fams[f].store_id = id;
	V.fams[f].store_ncells = def->ncells;
	return 0;
}

static int load_series(void *arg, long long family_id, const void *key, uint32_t keylen,
                       const void *cells, int ncells, double created)
{
	(void)arg;
	uint32_t f = V.last_fam;
	if (f >= V.nfams || V.fams[f].store_id != family_id)
		for (f = 0; f < V.nfams && V.fams[f].store_id != family_id; f++)
			;
	/* a row of no family, or not of its family's shape: never misrender */
	if (f == V.nfams || ncells != (int)V.fams[f].store_ncells || keylen > PF_KEY_MAX)
		return 0;
	V.last_fam = f;
	uint32_t s = add_series(f, key ? key : "", keylen, created);
	if (s == NONE || array_grow((void **)&V.base, &V.cap_base, V.nbase + (size_t)ncells, sizeof(double)))
		return -1;
	V.sers[s].base = V.nbase;
	V.sers[s].base_n = (uint32_t)ncells;
	V.sers[s].created = created;
	memcpy(&V.base[V.nbase], cells, (size_t)ncells * sizeof(double));
	V.nbase += (size_t)ncells;
	return 0;
}

/* The family of the view that the store knows by id (the last one found
 * first: rows come grouped by family). */
static uint32_t family_of_store_id(long long family_id)
{
	uint32_t f = V.last_fam;
	if (f >= V.nfams || V.fams[f].store_id != family_id)
		for (f = 0; f < V.nfams && V.fams[f].store_id != family_id; f++)
			;
	return f < V.nfams ? f : NONE;
}

static int load_exemplar(void *arg, long long family_id, const void *key, uint32_t keylen,
                         uint32_t bucket, const struct exemplar *x)
{
	(void)arg;
	uint32_t f = family_of_store_id(family_id), s;
	if (f == NONE || keylen > PF_KEY_MAX ||
	    bucket >= (uint32_t)model_family_exemplars((int)V.fams[f].def.type,
	                                            (int)V.fams[f].def.nbuckets) ||
	    (s = view_find_series(f, key ? key : "", keylen)) == NONE || V.sers[s].base == NO_CELLS)
		return 0; /* not a series of the store's: never shown */
	if (array_grow32((void **)&V.exs, &V.cap_exs, V.nexs + 1, sizeof *V.exs))
		return -1;
	V.exs[V.nexs].ser = s;
	V.exs[V.nexs].bucket = bucket;
	V.exs[V.nexs++].x = *x;
	return 0;
}

static int load_folded_row(struct incarnation *c, uint32_t slot, const void *cells, int ncells);

static const struct incarnation *old_inc(long long id)
{
	uint32_t lo = 0, hi = V.nold_incs; /* in order of id */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (V.old_incs[mid].id == id)
			return &V.old_incs[mid];
		if (V.old_incs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* An incarnation's rows are those of the last read while its id and its
 * folded_seq are (db.c moves folded_seq with every change of its rows). */
static int load_incarnation(void *arg, long long id, const char *name, long long folded_seq,
                            int retired)
{
	(void)arg;
	if (array_grow32((void **)&V.incs, &V.cap_incs, V.nincs + 1, sizeof *V.incs))
		return -1;
	struct incarnation *c = &V.incs[V.nincs];
	memset(c, 0, sizeof *c);
	c->id = id;
	c->folded_seq = folded_seq;
	c->retired = retired;
	if (!(c->name = strdup(name)))
		return -1;
	V.nincs++;
	const struct incarnation *was = old_inc(id);
	if (!was || was->folded_seq != folded_seq || strcmp(was->name, name) != 0)
		return 1;
	/* kept: its rows copied from the old pool into the new */
	for (uint32_t slot = 0; slot < was->nrows; slot++) {
		const struct frow *r = &was->rows[slot];
		if (r->n && load_folded_row(c, slot, &V.old_fpool[r->off], (int)r->n) != 0)
			return -1;
	}
	return 0;
}

static struct incarnation *inc_by_id(long long id)
{
	uint32_t lo = 0, hi = V.nincs; /* in order of id (db_load) */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (V.incs[mid].id == id)
			return &V.incs[mid];
		if (V.incs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int load_folded_row(struct incarnation *c, uint32_t slot, const void *cells, int ncells)
{
	if (ncells < 1 || ncells > MODEL_CELLS_MAX)
		return 0;
	if (slot >= c->nrows) {
		uint32_t n = c->nrows ? c->nrows : 64;
		while (n <= slot)
			n *= 2;
		struct frow *r = realloc(c->rows, n * sizeof *r);
		if (!r)
			return -1;
		memset(r + c->nrows, 0, (n - c->nrows) * sizeof *r);
		c->rows = r;
		c->nrows = n;
	}
	if (array_grow((void **)&V.fpool, &V.cap_fpool, V.nfpool + (size_t)ncells, sizeof(double)) ||
	    V.nfpool > UINT32_MAX - 64)
		return -1;
	c->rows[slot].off = (uint32_t)V.nfpool;
	c->rows[slot].n = (uint32_t)ncells;
	memcpy(&V.fpool[V.nfpool], cells, (size_t)ncells * sizeof(double));
	V.nfpool += (size_t)ncells;
	return 0;
}

static int load_folded(void *arg, long long inc_id, uint32_t slot, const void *cells, int ncells)
{
	(void)arg;
	struct incarnation *c = inc_by_id(inc_id);
	return c ? load_folded_row(c, slot, cells, ncells) : 0;
}

static int view_read(int anew)
{
	static const struct db_loader loader = {load_family, load_series, load_incarnation,
	                                        load_folded, load_exemplar};
	if (anew)
		view_clear();
	for (uint32_t i = 0; i < V.nfams; i++)
		V.fams[i].store_id = 0;
	for (uint32_t i = 0; i < V.nsers; i++)
		V.sers[i].base = NO_CELLS;
	V.nbase = 0;
	/* the incarnations read last time become the old ones (their rows are
	 * kept where unchanged: load_incarnation) */
	struct incarnation *t = V.old_incs;
	uint32_t tc = V.cap_old_incs;
	V.old_incs = V.incs;
	V.nold_incs = V.nincs;
	V.cap_old_incs = V.cap_incs;
	V.incs = t;
	V.cap_incs = tc;
	V.nincs = 0;
	double *p = V.old_fpool;
	size_t pc = V.cap_old_fpool;
	V.old_fpool = V.fpool;
	V.cap_old_fpool = V.cap_fpool;
	V.fpool = p;
	V.cap_fpool = pc;
	V.nfpool = 0;
	V.nexs = 0;
	V.inc_gen++;
	V.rebuild = 0;
	V.base_laid = 0;
	int rc = db_load(scrape_db, &loader, NULL, &V.version);
	incs_free(V.old_incs, V.nold_incs);
	V.nold_incs = 0;
	if (rc != 0) {
		view_clear();
		return -1;
	}
	V.valid = 1;
	return 0;
}

static int view_stale(void);

/* Reads the store into the view, in place when it can: a view made anew
 * makes every worker map its slots again and the layout sort everything. */
static int view_load(void)
{
	int anew = !V.valid; /* first, or after a failure: nothing of it is trusted */
	if (view_read(anew) != 0)
		return -1;
	if (!anew && (V.rebuild || view_stale()))
		return view_read(1);
	return 0;
}

/* S: the view is the store as of now (reads it again if it changed). */
static int view_current(void)
{
	long long v;
	if (V.valid && !V.stale && db_data_version(scrape_db, &v) == 0 && v == V.version)
		return 0;
	V.stale = 0;
	return view_load();
}

static const struct incarnation *inc_named(const char *name)
{
	for (uint32_t i = 0; i < V.nincs; i++)
		if (strcmp(V.incs[i].name, name) == 0)
			return &V.incs[i];
	return NULL;
}

static const struct mfam *layout_fams;

static int by_family_name(const void *a, const void *b)
{
	return strcmp(layout_fams[*(const uint32_t *)a].def.name,
	              layout_fams[*(const uint32_t *)b].def.name);
}

/* Series in output order: by family name, then label values (as SQLite
 * orders blobs: bytes, then length). */
static int series_cmp(uint32_t a, uint32_t b)
{
	const struct mser *x = &V.sers[a], *y = &V.sers[b];
	if (x->fam != y->fam)
		return V.rank[x->fam] < V.rank[y->fam] ? -1 : 1;
	uint32_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(V.keys + x->key, V.keys + y->key, n);
	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static int by_series(const void *a, const void *b)
{
	return series_cmp(*(const uint32_t *)a, *(const uint32_t *)b);
}

/* The store's cells at their places in the output, a new series' empty
 * cells (model_family_zero) elsewhere and after a row that lacks the native
 * part its family has gained. */
static void lay_base(void)
{
	if (V.base_laid)
		return;
	for (uint32_t i = 0; i < V.nsers; i++) {
		const struct mser *s = &V.sers[i];
		const struct family_def *d = &V.fams[s->fam].def;
		size_t n = d->ncells;
		if (s->base != NO_CELLS && s->base_n == n) {
			memcpy(&V.out_base[s->out], &V.base[s->base], n * sizeof *V.out_base);
			continue;
		}
		model_family_zero(d, &V.out_base[s->out]);
		if (s->base != NO_CELLS && s->base_n < n)
			memcpy(&V.out_base[s->out], &V.base[s->base], s->base_n * sizeof *V.out_base);
	}
	V.base_laid = 1;
}

/* Families by name, series by label values, each series' cells at its
 * place in the output.  Series added since the last layout are sorted
 * alone and merged in; a new family sorts everything again. */
static int layout(void)
{
	if (V.laid_out) {
		lay_base();
		return 0;
	}
	size_t nf = V.nfams ? V.nfams : 1, ns = V.nsers ? V.nsers : 1;
	uint32_t *order = realloc(V.order, nf * sizeof *order);
	if (order)
		V.order = order;
	uint32_t *rank = realloc(V.rank, nf * sizeof *rank);
	if (rank)
		V.rank = rank;
	uint32_t *sorted = malloc(ns * sizeof *sorted);
	if (!order || !rank || !sorted) {
		free(sorted);
		return -1;
	}
	uint32_t old = V.nsers_laid;
	if (V.nfams != V.nfams_laid || !V.sorted) {
		for (uint32_t i = 0; i < V.nfams; i++)
			order[i] = i;
		layout_fams = V.fams;
		qsort(order, V.nfams, sizeof *order, by_family_name);
		for (uint32_t i = 0; i < V.nfams; i++)
			rank[order[i]] = i;
		old = 0;
	}
	/* the new series, sorted, then merged with the old order */
	uint32_t nnew = V.nsers - old;
	uint32_t *fresh = sorted + old; /* scratch: the tail of sorted */
	for (uint32_t i = 0; i < nnew; i++)
		fresh[i] = old + i;
	qsort(fresh, nnew, sizeof *fresh, by_series);
	if (old) {
		uint32_t *merged = malloc(ns * sizeof *merged);
		if (!merged) {
			free(sorted);
			return -1;
		}
		uint32_t i = 0, j = 0, k = 0;
		while (i < old && j < nnew)
			merged[k++] = series_cmp(V.sorted[i], fresh[j]) <= 0 ? V.sorted[i++] : fresh[j++];
		while (i < old)
			merged[k++] = V.sorted[i++];
		while (j < nnew)
			merged[k++] = fresh[j++];
		free(sorted);
		sorted = merged;
	}
	free(V.sorted);
	V.sorted = sorted;
	for (uint32_t i = 0; i < V.nfams; i++)
		V.fams[i].nseries = 0;
	size_t ncells = 0;
	for (uint32_t i = 0; i < V.nsers; i++) {
		struct mser *s = &V.sers[sorted[i]];
		struct mfam *f = &V.fams[s->fam];
		if (!f->nseries++)
			f->first = i;
		s->out = ncells;
		ncells += f->def.ncells;
	}
	double *base = realloc(V.out_base, (ncells ? ncells : 1) * sizeof *base);
	if (!base)
		return -1;
	V.out_base = base;
	V.ncells = ncells;
	V.nfams_laid = V.nfams;
	V.nsers_laid = V.nsers;
	V.laid_out = 1;
	V.base_laid = 0;
	lay_base();
	return 0;
}

/* ---- workers: kept mappings ------------------------------------------- */

struct worker {
	struct stage_view v;
	int pidfd;      /* -1: liveness from /proc */
	int dead;       /* sticky */
	int live;       /* this round */
	int present;    /* listed by this round's readdir */
	int damaged;
	int retiring;   /* retired by this scrape's folds: to unlink and forget */
	int done;       /* unlinked (by us), or set aside: drop the mapping */
	uint32_t gen;   /* V.gen its maps were made for */
	uint32_t inc_gen; /* V.inc_gen its rows were found for */
	uint32_t nfam_mapped, nmapped;
	uint32_t fam_map[STAGE_MAX_FAMILIES]; /* file family -> view family, NONE */
	uint32_t *slot_ser;                   /* slot -> view series, NONE */
	uint32_t cap_slot_ser;
	const struct incarnation *inc; /* its rows in the view (of gen), NULL: none */
	int mode;              /* what its counters add this scrape */
};

enum { ADD_NONE, ADD_STAGED, ADD_DELTA };

static struct worker **workers;
static uint32_t nworkers, cap_workers;
static uint32_t *wtab; /* name -> worker + 1 */
static uint32_t wtab_size;

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void wtab_rebuild(void)
{
	uint32_t size = 64;
	while (size < 2 * (nworkers + 1))
		size *= 2;
	if (size != wtab_size) {
		uint32_t *t = calloc(size, sizeof *t);
		if (!t)
			return; /* lookups fall back to a scan */
		free(wtab);
		wtab = t;
		wtab_size = size;
	} else {
		memset(wtab, 0, size * sizeof *wtab);
	}
	for (uint32_t i = 0; i < nworkers; i++)
		for (uint32_t h = hash_name(workers[i]->v.snap.name);; h++)
			if (!wtab[h & (wtab_size - 1)]) {
				wtab[h & (wtab_size - 1)] = i + 1;
				break;
			}
}

static struct worker *worker_named(const char *name)
{
	if (wtab_size < 2 * (nworkers + 1)) {
		for (uint32_t i = 0; i < nworkers; i++)
			if (strcmp(workers[i]->v.snap.name, name) == 0)
				return workers[i];
		return NULL;
	}
	for (uint32_t h = hash_name(name);; h++) {
		uint32_t at = wtab[h & (wtab_size - 1)];
		if (!at)
			return NULL;
		if (strcmp(workers[at - 1]->v.snap.name, name) == 0)
			return workers[at - 1];
	}
}

static void worker_free(struct worker *w)
{
	stage_view_close(&w->v);
	if (w->pidfd >= 0)
		close(w->pidfd);
	free(w->slot_ser);
	free(w);
}

static void worker_remove(struct worker *w)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < nworkers; i++)
		if (workers[i] != w)
			workers[kept++] = workers[i];
	nworkers = kept;
	worker_free(w);
	wtab_rebuild();
}

/* Drops the workers marked done or no longer listed and not live. */
static void workers_sweep(int all)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < nworkers; i++) {
		struct worker *w = workers[i];
		if (all || w->done || (!w->present && (w->dead || !w->live)))
			worker_free(w);
		else
			workers[kept++] = w;
	}
	if (kept != nworkers || all) {
		nworkers = kept;
		wtab_rebuild();
	}
	if (all) {
		free(workers);
		free(wtab);
		workers = NULL;
		wtab = NULL;
		nworkers = cap_workers = wtab_size = 0;
	}
}

/* A damaged file of a dead worker is moved out of the scan (renamed without
 * its "w-"), kept for a post-mortem; a live worker's is only skipped. */
static void set_aside(const char *path, const char *name, int live)
{
	char moved[4400];
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) : 0;
	snprintf(moved, sizeof moved, "%.*s/damaged-%s", dirlen, path, name);
	if (!live && rename(path, moved) == 0)
		log_error(LOG_READ, "damaged staging file moved aside to %s", moved);
	else
		log_error(LOG_READ, "damaged staging file %s skipped", path);
}

static struct worker *worker_open(const char *path, const char *name)
{
	struct worker *w = calloc(1, sizeof *w);
	if (!w || array_grow32((void **)&workers, &cap_workers, nworkers + 1, sizeof *workers)) {
		free(w);
		return NULL;
	}
	int rc = stage_view_open(path, &w->v);
	if (rc != 0) {
		if (rc == STAGE_INVALID)
			set_aside(path, name, proc_name_is_live(name));
		else
			log_error(LOG_READ, "unreadable staging file %s", path);
		free(w);
		return NULL;
	}
	const struct stage_snapshot *s = &w->v.snap;
	w->live = proc_watch(s->pid, s->start_time, s->boot_id, &w->pidfd);
	w->dead = !w->live;
	w->gen = V.gen - 1;
	workers[nworkers++] = w;
	wtab_rebuild();
	return w;
}

/* ---- a round: the directory and the liveness of what it lists ---------- */

struct names {
	char (*v)[256];
	uint32_t n, cap;
};

static int names_add(struct names *l, const char *name)
{
	if (array_grow32((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
		return -1;
	snprintf(l->v[l->n++], sizeof l->v[0], "%s", name);
	return 0;
}

struct round {
	struct names journals, markers;
	unsigned files;
};

static void scan_dir(const char *dir, struct round *r)
{
	char path[4096 + 256];
	r->journals.n = r->markers.n = 0;
	r->files = 0;
	for (uint32_t i = 0; i < nworkers; i++)
		workers[i]->present = 0;
	DIR *d = opendir(dir);
	if (!d)
		return; /* no worker has started yet, or the directory is gone */
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		if (strncmp(n, "j-", 2) == 0) {
			names_add(&r->journals, n);
		} else if (strncmp(n, "o-", 2) == 0) {
			names_add(&r->markers, n);
		} else if (strncmp(n, "w-", 2) == 0) {
			snprintf(path, sizeof path, "%s/%s", dir, n);
			struct worker *w = worker_named(n);
			/* the same name with another inode: the file was made again
			 * (its directory deleted) with the same cumulative totals */
			if (w && e->d_ino != w->v.ino) {
				worker_remove(w);
				w = NULL;
			}
			if (!w)
				w = worker_open(path, n);
			if (w) {
				w->present = 1;
				r->files++;
			}
		}
	}
	closedir(d);
}

/* Whether each worker runs, learnt after S: one poll over every pidfd. */
static void watch(void)
{
	struct pollfd stack[256], *p = stack;
	if (nworkers > 256 && !(p = malloc(nworkers * sizeof *p)))
		p = NULL;
	uint32_t n = 0;
	for (uint32_t i = 0; i < nworkers; i++) {
		struct worker *w = workers[i];
		if (w->dead) {
			w->live = 0;
		} else if (w->pidfd < 0 || !p) {
			const struct stage_snapshot *s = &w->v.snap;
			w->live = proc_is_live(s->pid, s->start_time, s->boot_id);
			w->dead = !w->live;
		} else {
			p[n].fd = w->pidfd;
			p[n].events = POLLIN;
			p[n++].revents = 0;
		}
	}
	if (n && poll(p, n, 0) < 0)
		n = 0; /* cannot tell: taken as live, as /proc fails toward live */
	uint32_t k = 0;
	for (uint32_t i = 0; p && i < nworkers; i++) {
		struct worker *w = workers[i];
		if (w->dead || w->pidfd < 0)
			continue;
		w->live = k >= n || !(p[k].revents & (POLLIN | POLLHUP | POLLERR));
		w->dead = !w->live;
		k++;
	}
	if (p != stack)
		free(p);
}

/* ---- folds: the dead, drained journals, and every SCRAPE_FOLD_SECONDS the
 * live, all in one transaction ----------------------------------------- */

static const double *known_row(void *arg, uint32_t slot, uint32_t ncells)
{
	const struct incarnation *c = arg;
	if (slot >= c->nrows || c->rows[slot].n != ncells)
		return NULL;
	return &V.fpool[c->rows[slot].off];
}

static int fold_seconds(void)
{
	const char *e = getenv("PROMFCGI_FOLD_SECONDS");
	int s = e && *e ? atoi(e) : SCRAPE_FOLD_SECONDS;
	return s < 0 ? SCRAPE_FOLD_SECONDS : s;
}

/* The live are due when the stamp file beside the store (touched
 * after each such fold, by whichever metrics process made it) is older
 * than SCRAPE_FOLD_SECONDS: scrape_idle folds them then, after a response;
 * a scrape itself only when they are overdue (twice that: no one calls
 * scrape_idle, as the command-line tool).  A process remembers the
 * stamp's time, so it looks at the file only once the interval is over. */
static double stamp_time;
static int force_fold = 1; /* a process's first, or a store made afresh */

static double wall_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int live_fold_due(int times)
{
	double every = (double)fold_seconds() * times, now = wall_now();
	if (force_fold && times == 1)
		return 1;
	if (now >= stamp_time && now < stamp_time + every)
		return 0;
	char path[4200];
	struct stat st;
	snprintf(path, sizeof path, "%s%s", scrape_path, SCRAPE_FOLD_STAMP);
	if (stat(path, &st) == 0) {
		double at = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
		if (now >= at && now < at + every) {
			stamp_time = at;
			return 0;
		}
	}
	return 1;
}

static void live_folded(void)
{
	char path[4200];
	snprintf(path, sizeof path, "%s%s", scrape_path, SCRAPE_FOLD_STAMP);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0660);
	if (fd >= 0) {
		futimens(fd, NULL);
		close(fd);
	}
	force_fold = 0;
	stamp_time = wall_now();
}

struct batch {
	int no_folds, corrupt;
};

static void fold_failed(struct batch *b, const char *what)
{
	stats.errors++;
	log_error(LOG_FOLD, "%s: %s", what, db_errmsg(scrape_db));
	/* Waiting out a lock once per fold would make the scrape hang for folds
	 * x busy timeout: after a lock or corruption, no more folds this scrape
	 * (the next one tries again). */
	b->corrupt = db_corrupt(scrape_db);
	b->no_folds = 1;
}

/* Returns 1 if it wrote to the store, 0 if not (nothing to do, or failed:
 * see b). */
static int fold_batch(const char *dir, struct round *r, struct batch *b, int live)
{
	char path[4096 + 256];
	int work = live && nworkers;
	for (uint32_t i = 0; i < nworkers; i++)
		if (workers[i]->present && workers[i]->dead && !workers[i]->damaged)
			work = 1;
	/* rows of incarnations whose file is gone and whose process too (a
	 * crash between an unlink and its forget) */
	uint32_t orphans = 0;
	for (uint32_t i = 0; i < V.nincs; i++) {
		const struct worker *w = worker_named(V.incs[i].name);
		if ((!w || !w->present) && !proc_name_is_live(V.incs[i].name)) {
			snprintf(path, sizeof path, "%s/%s", dir, V.incs[i].name);
			if (access(path, F_OK) != 0)
				orphans++;
		}
	}
	if (!work && !orphans && !r->journals.n) {
		if (live)
			live_folded(); /* nothing live: nothing to fold */
		return 0;
	}
	struct stage_snapshot *journals = calloc(r->journals.n ? r->journals.n : 1, sizeof *journals);
	int *drained = calloc(r->journals.n ? r->journals.n : 1, sizeof *drained);
	if (!journals || !drained) {
		free(journals);
		free(drained);
		return 0;
	}
	for (uint32_t i = 0; i < r->journals.n; i++) {
		unsigned bad = 0;
		snprintf(path, sizeof path, "%s/%s", dir, r->journals.v[i]);
		int rc = journal_read(path, JOURNAL_QUIESCE_MS, &journals[i], &bad);
		if (rc < 0)
			log_error(LOG_READ, "unreadable journal %s", path);
		if (bad)
			log_error(LOG_READ, "%s: %u torn or damaged records skipped", path, bad);
		drained[i] = rc == 0; /* 1: an appender is still in it; the next scrape takes it */
	}
	if (live)
		db_durable(scrape_db, 1);
	int wrote = 0, began = db_begin(scrape_db) == 0, ok = began;
	if (!began)
		fold_failed(b, "folds");
	for (uint32_t i = 0; ok && i < nworkers; i++) {
		struct worker *w = workers[i];
		if (!w->present || w->damaged || !(w->dead || live))
			continue;
		int rc = stage_view_read(&w->v, !w->dead);
		if (rc == STAGE_INVALID) {
			w->damaged = 1;
			w->done = w->dead;
			set_aside(w->v.snap.path, w->v.snap.name, !w->dead);
			continue;
		}
		if (rc != 0)
			continue;
		const struct incarnation *c = inc_named(w->v.snap.name);
		struct db_known k = {c ? c->id : 0, c ? c->folded_seq : 0, known_row, (void *)c};
		rc = db_fold_in(scrape_db, &w->v.snap, w->dead, c ? &k : NULL);
		if (rc == DB_FOLD_ERROR) {
			fold_failed(b, w->v.snap.name);
			ok = 0;
		} else {
			wrote |= rc == DB_FOLDED;
			w->retiring = w->dead; /* then unlinked and forgotten below */
		}
	}
	for (uint32_t i = 0; ok && i < r->journals.n; i++) {
		if (!drained[i])
			continue;
		int rc = db_fold_in(scrape_db, &journals[i], 1, NULL);
		if (rc == DB_FOLD_ERROR) {
			fold_failed(b, journals[i].name);
			ok = 0;
		}
		wrote |= rc == DB_FOLDED;
	}
	for (uint32_t i = 0; ok && i < V.nincs; i++) {
		const struct worker *w = worker_named(V.incs[i].name);
		if ((w && w->present) || proc_name_is_live(V.incs[i].name))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, V.incs[i].name);
		if (access(path, F_OK) == 0)
			continue;
		if (db_forget_in(scrape_db, V.incs[i].name) != 0) {
			fold_failed(b, "forget");
			ok = 0;
		}
		wrote = 1;
	}
	if (ok && db_commit(scrape_db) != 0) { /* it rolled back */
		fold_failed(b, "commit");
		ok = 0;
	} else if (!ok && began) {
		db_rollback(scrape_db);
	}
	if (live)
		db_durable(scrape_db, 0);
	if (!ok) {
		for (uint32_t i = 0; i < nworkers; i++)
			workers[i]->retiring = 0;
		wrote = 0;
		goto out;
	}
	if (stage_test_hook)
		stage_test_hook("batch-committed");
	if (live)
		live_folded();
	/* Retired in the transaction above; now unlinked, then forgotten: a
	 * crash between leaves a retired row (never folded again) or rows
	 * without a file (forgotten as orphans), never a second count. */
	int forget = 0;
	for (uint32_t i = 0; i < nworkers; i++) {
		struct worker *w = workers[i];
		if (!w->retiring)
			continue;
		if (unlink(w->v.snap.path) == 0 || errno == ENOENT) {
			stats.retired++;
			forget = 1;
			w->done = 1;
		} else {
			/* rows stay retired: folded never again, unlinked later */
			log_error(LOG_FOLD, "cannot remove %s: %s", w->v.snap.path, strerror(errno));
			w->retiring = 0;
		}
	}
	for (uint32_t i = 0; i < r->journals.n; i++) {
		if (!drained[i])
			continue;
		if (unlink(journals[i].path) == 0 || errno == ENOENT)
			forget = 1;
		else
			drained[i] = 0;
	}
	/* the scrape has had its wait for the lock: if it is taken again, the
	 * rows are orphans until a later scrape */
	if (forget && db_begin_now(scrape_db) == 0) {
		int fok = 1;
		for (uint32_t i = 0; fok && i < nworkers; i++)
			if (workers[i]->retiring)
				fok = db_forget_in(scrape_db, workers[i]->v.snap.name) == 0;
		for (uint32_t i = 0; fok && i < r->journals.n; i++)
			if (drained[i])
				fok = db_forget_in(scrape_db, journals[i].name) == 0;
		if (!fok || db_commit(scrape_db) != 0) {
			if (!fok)
				db_rollback(scrape_db);
			log_error(LOG_FOLD, "forget: %s", db_errmsg(scrape_db)); /* orphans, later */
		}
		wrote = 1;
	}
out:
	for (uint32_t i = 0; i < nworkers; i++)
		workers[i]->retiring = 0;
	for (uint32_t i = 0; i < r->journals.n; i++)
		stage_snapshot_free(&journals[i]);
	free(journals);
	free(drained);
	return wrote;
}

/* ---- the merge ---------------------------------------------------------- */

/* Whether the view holds series (or families) that neither the store nor
 * any worker has any more: a worker's that never reached the store (its
 * file damaged, or deleted), a one-shot process's gauge.  Made anew then. */
static int view_stale(void)
{
	unsigned char *used = calloc(V.nsers + V.nfams + 1, 1);
	if (!used)
		return 1;
	for (uint32_t i = 0; i < nworkers; i++) {
		const struct worker *w = workers[i];
		if (w->gen != V.gen || w->damaged || w->done)
			continue;
		for (uint32_t j = 0; j < w->nmapped; j++)
			if (w->slot_ser[j] != NONE)
				used[w->slot_ser[j]] = 1;
		for (uint32_t j = 0; j < w->nfam_mapped; j++)
			if (w->fam_map[j] != NONE)
				used[V.nsers + w->fam_map[j]] = 1;
	}
	int stale = 0;
	for (uint32_t i = 0; !stale && i < V.nsers; i++)
		stale = V.sers[i].base == NO_CELLS && !used[i];
	for (uint32_t i = 0; !stale && i < V.nfams; i++)
		stale = V.fams[i].store_id == 0 && !used[V.nsers + i];
	free(used);
	return stale;
}

/* Maps the worker's families and slots, new ones or all after a reload. */
static void map_worker(struct worker *w)
{
	const struct stage_snapshot *s = &w->v.snap;
	if (w->gen != V.gen) {
		w->gen = V.gen;
		w->nfam_mapped = w->nmapped = 0;
	}
	if (w->inc_gen != V.inc_gen) {
		w->inc_gen = V.inc_gen;
		w->inc = inc_named(s->name);
	}
	for (; w->nfam_mapped < s->nfamilies; w->nfam_mapped++)
		w->fam_map[w->nfam_mapped] = add_family(&s->families[w->nfam_mapped], 0);
	if (w->nmapped < s->nslots &&
	    array_grow32((void **)&w->slot_ser, &w->cap_slot_ser, s->nslots, sizeof *w->slot_ser))
		return;
	for (; w->nmapped < s->nslots; w->nmapped++) {
		const struct stage_slot *slot = &s->slots[w->nmapped];
		uint32_t f = w->fam_map[slot->family];
		w->slot_ser[w->nmapped] =
		    f == NONE ? NONE : add_series(f, slot->key, slot->keylen, slot->created);
	}
}

/* Reads each worker (after S) and decides what it adds (the rule, above).
 * Returns 1 if the scrape must start over from a new S. */
static int decide(struct batch *b)
{
	int recheck = 0;
	for (uint32_t i = 0; i < nworkers; i++) {
		struct worker *w = workers[i];
		w->mode = ADD_NONE;
		if (w->damaged || w->done)
			continue;
		int rc = stage_view_read(&w->v, w->live);
		if (rc == STAGE_INVALID) {
			w->damaged = 1;
			w->done = !w->live;
			set_aside(w->v.snap.path, w->v.snap.name, w->live);
			continue;
		}
		if (rc != 0 && w->v.snap.seq == 0)
			continue; /* never read whole */
		map_worker(w);
		const struct incarnation *c = w->inc;
		int closing = stage_view_closing(&w->v);
		if (c && (c->retired || (long long)w->v.snap.seq < c->folded_seq))
			w->mode = ADD_NONE; /* all in the aggregate already */
		else if (w->present || (w->live && !closing))
			w->mode = c ? ADD_DELTA : ADD_STAGED;
		else if (c)
			w->mode = ADD_DELTA; /* its file deleted by hand, not retired */
		else
			recheck = 1; /* forgotten before S, or after: ask the store */
	}
	if (recheck) {
		long long v;
		if (db_data_version(scrape_db, &v) != 0) {
			b->corrupt = db_corrupt(scrape_db);
			return 0;
		}
		if (v != V.version)
			return 1;
	}
	return 0;
}

/* Adds the workers' parts to out (the store's cells laid out). */
static void merge(double *out)
{
	for (uint32_t i = 0; i < nworkers; i++) {
		const struct worker *w = workers[i];
		if (w->damaged || w->done || w->gen != V.gen || (w->mode == ADD_NONE && !w->live))
			continue;
		const struct stage_snapshot *s = &w->v.snap;
		for (uint32_t j = 0; j < w->nmapped; j++) {
			uint32_t at = w->slot_ser[j];
			if (at == NONE)
				continue;
			const struct stage_slot *slot = &s->slots[j];
			const struct family_def *f = &s->families[slot->family];
			const double *staged = &s->cells[slot->cell];
			double *to = &out[V.sers[at].out];
			if (f->type == PF_GAUGE) {
				if (w->live)
					to[0] += staged[0];
				continue;
			}
			if (w->mode == ADD_NONE)
				continue;
			const double *was = NULL;
			if (w->mode == ADD_DELTA && j < w->inc->nrows && w->inc->rows[j].n == f->ncells)
				was = &V.fpool[w->inc->rows[j].off];
			uint32_t counts = f->type == PF_HISTOGRAM ? f->nbuckets + 1 : 1;
			uint32_t classic = f->type == PF_HISTOGRAM ? f->nbuckets + 2 : f->ncells;
			for (uint32_t k = 0; k < classic; k++) {
				double d = was ? staged[k] - was[k] : staged[k];
				/* counts never go back (db.c folds the same way) */
				to[k] += k < counts && d < 0 ? 0 : d;
			}
			/* the native part: staged - folded, the native way; nothing if
			 * the file is older than what was folded (or damaged), as in
			 * db.c.  A worker's family without native buckets (an earlier
			 * release's) adds its classic cells only. */
			if (f->native && V.fams[V.sers[at].fam].def.native &&
			    !(was && memcmp(staged + classic, was + classic,
			                    NATIVE_CELLS * sizeof *staged) == 0))
				native_add_diff(to + classic, staged + classic, was ? was + classic : NULL);
		}
	}
}

/* Offers exemplar x for bucket b of view series ser: the latest wins.
 * ex[ser] is made when its series gets its first. */
static int offer_exemplar(struct exemplar **ex, uint32_t ser, uint32_t b,
                          const struct exemplar *x)
{
	const struct family_def *d = &V.fams[V.sers[ser].fam].def;
	int n = model_family_exemplars((int)d->type, (int)d->nbuckets);
	if (b >= (uint32_t)n)
		return 0;
	if (!ex[ser] && !(ex[ser] = calloc((size_t)n, sizeof *ex[ser])))
		return -1;
	if (x->timestamp > ex[ser][b].timestamp)
		ex[ser][b] = *x;
	return 0;
}

/* Each series' latest exemplars, over the store and every worker's file:
 * *out gets an array by view series (NULL when there are none at all). */
static int gather_exemplars(struct exemplar ***out)
{
	int any = V.nexs > 0;
	*out = NULL;
	for (uint32_t i = 0; i < nworkers; i++) {
		const struct worker *w = workers[i];
		if (!w->damaged && !w->done && w->gen == V.gen) {
			any |= w->v.snap.nexemplars > 0;
			stats.exemplars_dropped += w->present && w->live ? w->v.snap.exemplars_dropped : 0;
		}
	}
	if (!any)
		return 0; /* the common case: nothing to do, nothing allocated */
	struct exemplar **ex = calloc(V.nsers ? V.nsers : 1, sizeof *ex);
	if (!ex)
		return -1;
	*out = ex;
	for (uint32_t i = 0; i < V.nexs; i++)
		if (offer_exemplar(ex, V.exs[i].ser, V.exs[i].bucket, &V.exs[i].x) != 0)
			return -1;
	for (uint32_t i = 0; i < nworkers; i++) {
		const struct worker *w = workers[i];
		if (w->damaged || w->done || w->gen != V.gen)
			continue;
		const struct stage_snapshot *s = &w->v.snap;
		for (uint32_t j = 0; j < s->nexemplars; j++) {
			const struct stage_exemplar *e = &s->exemplars[j];
			if ((e->sel != 1 && e->sel != 2) || e->slot >= w->nmapped ||
			    w->slot_ser[e->slot] == NONE ||
			    offer_exemplar(ex, w->slot_ser[e->slot], e->bucket, &e->copy[e->sel - 1]) != 0)
				continue;
		}
	}
	return 0;
}

static void free_exemplars(struct exemplar **ex)
{
	for (uint32_t i = 0; ex && i < V.nsers; i++)
		free(ex[i]);
	free(ex);
}

/* One-shot processes' markers (journal.h): their gauges while they hold
 * them, read after S like the workers. */
struct marker {
	struct stage_snapshot snap;
	uint32_t *ser; /* slot -> view series, NONE */
};

static uint32_t read_markers(const char *dir, const struct round *r, struct marker **out)
{
	char path[4096 + 256];
	uint32_t n = 0;
	*out = r->markers.n ? calloc(r->markers.n, sizeof **out) : NULL;
	for (uint32_t i = 0; *out && i < r->markers.n; i++) {
		struct marker *m = &(*out)[n];
		snprintf(path, sizeof path, "%s/%s", dir, r->markers.v[i]);
		if (journal_read_marker(path, &m->snap) != 1)
			continue;
		if (!(m->ser = malloc((m->snap.nslots ? m->snap.nslots : 1) * sizeof *m->ser))) {
			stage_snapshot_free(&m->snap);
			continue;
		}
		for (uint32_t j = 0; j < m->snap.nslots; j++) {
			const struct stage_slot *slot = &m->snap.slots[j];
			const struct family_def *d = &m->snap.families[slot->family];
			uint32_t f = d->type == PF_GAUGE ? add_family(d, 0) : NONE;
			m->ser[j] = f == NONE ? NONE : add_series(f, slot->key, slot->keylen, 0);
		}
		n++;
	}
	stats.files += n;
	stats.live += n;
	return n;
}

static void merge_markers(const struct marker *m, uint32_t n, double *out)
{
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < m[i].snap.nslots; j++)
			if (m[i].ser[j] != NONE)
				out[V.sers[m[i].ser[j]].out] += m[i].snap.cells[m[i].snap.slots[j].cell];
}

static void free_markers(struct marker *m, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		stage_snapshot_free(&m[i].snap);
		free(m[i].ser);
	}
	free(m);
}

/* The block a scrape's collection lives in: the output cells (laid out as
 * V.out_base, the workers' parts merged in place), then the series' keys.
 * Kept for the next scrape when the collection is freed (recycle): a block
 * of 10,000 native series is 27 MB, and fresh pages for it at every scrape
 * cost more than the copy into them. */
struct block {
	size_t cap; /* bytes of data */
	double data[];
};

static struct block *spare; /* the last block given back, for the next scrape */

static void recycle(void *p)
{
	struct block *b = p;
	if (spare && spare->cap >= b->cap) {
		free(b);
		return;
	}
	free(spare);
	spare = b;
}

/* A block of at least bytes: the spare if it is large enough. */
static struct block *block_get(size_t bytes)
{
	if (spare && spare->cap >= bytes) {
		struct block *b = spare;
		spare = NULL;
		return b;
	}
	free(spare);
	spare = NULL;
	struct block *b = malloc(sizeof *b + (bytes ? bytes : 1));
	if (b)
		b->cap = bytes;
	return b;
}

/* The bytes of the series' keys, all together. */
static size_t keys_bytes(void)
{
	size_t n = 0;
	for (uint32_t i = 0; i < V.nsers; i++)
		n += V.sers[i].keylen;
	return n;
}

/* The collection: every family of the view in name order, each with its
 * series' cells and keys in the block (whose cells are the output, in the
 * layout's order: a family's series are consecutive there). */
static int collect(struct collection *c, struct block *blk, struct exemplar **ex)
{
	memset(c, 0, sizeof *c);
	c->block = blk;
	c->recycle = recycle;
	if (!(c->families = calloc(V.nfams ? V.nfams : 1, sizeof *c->families)))
		return -1;
	c->cap = V.nfams;
	char *key = (char *)(blk->data + V.ncells);
	for (uint32_t i = 0; i < V.nfams; i++) {
		const struct mfam *m = &V.fams[V.order[i]];
		const struct family_def *d = &m->def;
		struct family_data *f = &c->families[c->nfamilies++];
		f->type = (int)d->type;
		f->ncells = (int)d->ncells;
		f->nbuckets = (int)d->nbuckets;
		f->native = (int)d->native;
		f->native_schema = d->schema;
		f->native_zero_threshold = d->zero_threshold;
		f->in_block = 1;
		f->name = strdup(d->name);
		f->help = strdup(d->help);
		f->buckets = malloc(d->nbuckets ? d->nbuckets * sizeof(double) : 1);
		f->labels = calloc(PF_LABELS_MAX, sizeof *f->labels);
		f->series = malloc((m->nseries ? m->nseries : 1) * sizeof *f->series);
		if (!f->name || !f->help || !f->buckets || !f->labels || !f->series)
			return -1;
		memcpy(f->buckets, d->buckets, d->nbuckets * sizeof(double));
		for (uint32_t j = 0; j < d->nlabels; j++, f->nlabels++)
			if (!(f->labels[j] = strdup(d->labels[j])))
				return -1;
		f->cap = m->nseries;
		for (uint32_t j = 0; j < m->nseries; j++) {
			const struct mser *s = &V.sers[V.sorted[m->first + j]];
			struct series_data *o = &f->series[f->nseries++];
			memcpy(key, V.keys + s->key, s->keylen);
			o->key = key;
			o->keylen = s->keylen;
			key += s->keylen;
			o->cells = blk->data + s->out;
			o->created = d->type == PF_GAUGE ? 0 : s->created;
			o->exemplars = NULL;
			if (ex && d->type != PF_GAUGE) { /* the collection owns them now */
				o->exemplars = ex[V.sorted[m->first + j]];
				ex[V.sorted[m->first + j]] = NULL;
			}
		}
	}
	return 0;
}

/* ---- the scrape ------------------------------------------------------- */

static void reset_db(void)
{
	db_close(scrape_db);
	scrape_db = NULL;
	view_free();
	force_fold = 1; /* a store made afresh gets the live workers' totals */
}

static void quarantine(const char *db_path)
{
	char moved[4400];
	if (db_quarantine(db_path, moved, sizeof moved) == 0)
		log_error(LOG_OPEN, "store %s is corrupt: moved aside to %s; a fresh one is created",
		         db_path, moved);
	else
		log_error(LOG_OPEN, "store %s is corrupt and cannot be moved aside", db_path);
}

/* Opens the store, reopens it if its file was deleted or replaced, and moves
 * a corrupt one aside for a fresh one (the live workers' totals, cumulative
 * since each began, then count in full until they are folded into it). */
static int ensure_db(const char *db_path, char *reason, size_t len)
{
	struct stat st;
	if (scrape_db && strcmp(scrape_path, db_path) != 0) {
		reset_db();
		workers_sweep(1);
	}
	if (scrape_db && (stat(db_path, &st) != 0 || st.st_dev != scrape_dev || st.st_ino != scrape_ino)) {
		log_error(LOG_OPEN, "store %s was deleted or replaced; reopening", db_path);
		reset_db();
	}
	if (scrape_db)
		return 0;
	snprintf(scrape_path, sizeof scrape_path, "%s", db_path);
	int rc = db_open(db_path, SCRAPE_BUSY_MS, &scrape_db, reason, len);
	if (rc == 0 && db_check(scrape_db) != 0 && db_corrupt(scrape_db)) {
		reset_db();
		rc = DB_OPEN_CORRUPT;
	}
	if (rc == DB_OPEN_CORRUPT) {
		quarantine(db_path);
		rc = db_open(db_path, SCRAPE_BUSY_MS, &scrape_db, reason, len);
	}
	if (rc != 0) {
		scrape_db = NULL;
		log_error(LOG_OPEN, "%s", reason);
		return -1;
	}
	if (stat(db_path, &st) == 0) {
		scrape_dev = st.st_dev;
		scrape_ino = st.st_ino;
	}
	return 0;
}

static void store_sizes(const char *db_path)
{
	struct stat st;
	char wal[4200];
	snprintf(wal, sizeof wal, "%s-wal", db_path);
	stats.db_bytes = stat(db_path, &st) == 0 ? (double)st.st_size : 0;
	stats.wal_bytes = stat(wal, &st) == 0 ? (double)st.st_size : 0;
}

enum { SCRAPE_OK = 0, SCRAPE_ERROR = -1, SCRAPE_CORRUPT = -2 };

static int scrape_once(const char *dir, struct collection *out, char *reason, size_t len)
{
	char path[4096 + 256];
	struct round r = {0};
	struct batch b = {0};
	int rc = SCRAPE_ERROR;
	/* one-shot processes' records so far: renamed aside, folded below */
	if (journal_rotate(dir, path, sizeof path) < 0 && errno != ENOENT)
		log_error(LOG_READ, "cannot rename the journal in %s: %s", dir, strerror(errno));
	for (int round = 0;; round++) {
		/* S, then everything else read after it */
		if (view_current() != 0) {
			snprintf(reason, len, "cannot read the store: %s", db_errmsg(scrape_db));
			rc = db_corrupt(scrape_db) ? SCRAPE_CORRUPT : SCRAPE_ERROR;
			goto done;
		}
		scan_dir(dir, &r);
		watch();
		if (round < 2 && !b.no_folds &&
		    fold_batch(dir, &r, &b, live_fold_due(2))) {
			workers_sweep(0);
			V.stale = 1; /* our own commits: read the store again */
			continue;
		}
		if (b.corrupt) {
			snprintf(reason, len, "the store is corrupt: %s", db_errmsg(scrape_db));
			rc = SCRAPE_CORRUPT;
			goto done;
		}
		if (decide(&b) && round < 4)
			continue;
		break;
	}
	stats.files = r.files;
	for (uint32_t i = 0; i < nworkers; i++)
		stats.live += workers[i]->present && workers[i]->live;
	struct marker *markers;
	uint32_t nmarkers = read_markers(dir, &r, &markers);
	struct block *blk = NULL;
	struct exemplar **ex = NULL;
	if (layout() == 0 && (blk = block_get(V.ncells * sizeof(double) + keys_bytes() + 1)) &&
	    gather_exemplars(&ex) == 0) {
		memcpy(blk->data, V.out_base, V.ncells * sizeof(double));
		merge(blk->data);
		merge_markers(markers, nmarkers, blk->data);
		if (collect(out, blk, ex) == 0)
			rc = SCRAPE_OK;
		else
			model_collection_free(out); /* the block with it */
		blk = NULL;
	}
	if (rc != SCRAPE_OK)
		snprintf(reason, len, "out of memory");
	free_exemplars(ex);
	free(blk);
	free_markers(markers, nmarkers);
done:
	workers_sweep(0);
	free(r.journals.v);
	free(r.markers.v);
	return rc;
}

int scrape_collect(const char *db_path, struct collection *out, char *reason, size_t len)
{
	char dir[4096];
	memset(out, 0, sizeof *out);
	if (stage_dir(db_path, dir, sizeof dir) != 0) {
		snprintf(reason, len, "store path too long");
		return -1;
	}
	/* A second attempt only after corruption was found and moved aside. */
	for (int attempt = 0; attempt < 2; attempt++) {
		memset(&stats, 0, sizeof stats);
		stats.retired = idle_retired;
		stats.errors = idle_errors;
		idle_retired = idle_errors = 0;
		if (ensure_db(db_path, reason, len) != 0)
			return -1;
		int rc = scrape_once(dir, out, reason, len);
		if (rc == SCRAPE_CORRUPT && attempt == 0) {
			reset_db();
			quarantine(db_path);
			continue;
		}
		if (rc != SCRAPE_OK) {
			log_error(LOG_READ, "%s", reason);
			reset_db();
			return -1;
		}
		store_sizes(db_path);
		/* SQLite's own checkpoints keep the WAL at up to ~4 MiB; a scrape
		 * every few seconds can afford to keep it small */
		if (stats.wal_bytes > SCRAPE_WAL_TRIM_BYTES && db_trim_wal(scrape_db, SCRAPE_BUSY_MS) == 0)
			store_sizes(db_path);
		return 0;
	}
	snprintf(reason, len, "the store was corrupt twice in one scrape");
	return -1;
}

void scrape_idle(void)
{
	char dir[4096];
	if (!scrape_db || stage_dir(scrape_path, dir, sizeof dir) != 0 ||
	    !live_fold_due(1))
		return;
	struct round r = {0};
	struct batch b = {0};
	struct scrape_stats kept = stats;
	stats.retired = stats.errors = 0;
	if (view_current() == 0) {
		scan_dir(dir, &r);
		watch();
		if (fold_batch(dir, &r, &b, 1))
			V.stale = 1; /* the next scrape reads the store again */
		if (b.corrupt)
			reset_db(); /* the next scrape moves it aside */
	}
	idle_retired += stats.retired;
	idle_errors += stats.errors;
	stats = kept;
	workers_sweep(0);
	free(r.journals.v);
	free(r.markers.v);
}

void scrape_close(void)
{
	reset_db();
	workers_sweep(1);
	free(spare);
	spare = NULL;
}
