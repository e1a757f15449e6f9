/*
 * scrape.c — what one scrape does to the store, in order:
 *   1. fold every staging file: live incarnations up to the moment, dead
 *      ones for the last time (retire, unlink, forget: see db.h);
 *   2. forget incarnations whose file is gone;
 *   3. read the aggregate of counters and histograms;
 *   4. add the gauges of live incarnations, summed per series.
 * So counters keep dead workers' counts, gauges count live workers only,
 * and neither the store nor the scrape grows with the number of restarts.
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "db.h"
#include "journal.h"
#include "log.h"
#include "scrape.h"
#include "stage.h"

/* Kept open between scrapes; reopened on error or for another store. */
static struct db *scrape_db;
static char scrape_path[4096];
static dev_t scrape_dev; /* the file opened, to notice it deleted or replaced */
static ino_t scrape_ino;
static struct pf_scrape_stats stats;

const struct pf_scrape_stats *pf_scrape_stats(void)
{
	return &stats;
}

struct live_list {
	struct stage_snapshot *snaps;
	size_t n, cap;
	int no_folds; /* the store is locked, full or corrupt: only read files */
	int corrupt;
};

/* Per live incarnation, what this process folded last (see db.h). */
static struct cache_entry {
	struct db_fold_cache c;
	int seen; /* in this scrape */
} *caches;
static size_t ncaches;

static struct db_fold_cache *cache_for(const char *name)
{
	for (size_t i = 0; i < ncaches; i++)
		if (strcmp(caches[i].c.name, name) == 0 || !caches[i].c.name[0]) {
			caches[i].seen = 1;
			return &caches[i].c;
		}
	struct cache_entry *n = realloc(caches, (ncaches + 1) * sizeof *n);
	if (!n)
		return NULL;
	caches = n;
	memset(&caches[ncaches], 0, sizeof caches[0]);
	caches[ncaches].seen = 1;
	return &caches[ncaches++].c;
}

/* Drops the entries of incarnations no longer seen (all, with clear_all). */
static void caches_sweep(int clear_all)
{
	size_t kept = 0;
	for (size_t i = 0; i < ncaches; i++) {
		if (caches[i].seen && !clear_all) {
			caches[i].seen = 0;
			caches[kept++] = caches[i];
		} else {
			db_fold_cache_clear(&caches[i].c);
		}
	}
	ncaches = kept;
	if (!ncaches) {
		free(caches);
		caches = NULL;
	}
}

static void reset_db(void)
{
	db_close(scrape_db);
	scrape_db = NULL;
	caches_sweep(1);
}

/* A damaged file of a dead worker is moved out of the scan (renamed without
 * its "w-"), kept for a post-mortem; a live worker's is only skipped. */
static void set_aside(const char *path, const char *name)
{
	char moved[4400];
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) : 0;
	snprintf(moved, sizeof moved, "%.*s/damaged-%s", dirlen, path, name);
	if (!proc_name_is_live(name) && rename(path, moved) == 0)
		pf_error(PF_OP_READ, "damaged staging file moved aside to %s", moved);
	else
		pf_error(PF_OP_READ, "damaged staging file %s skipped", path);
}

/* Folds one staging file; a live one's snapshot is kept for its gauges. */
static void scrape_file(const char *path, const char *name, struct live_list *live)
{
	struct stage_snapshot snap;
	int rc = stage_snapshot(path, &snap);
	if (rc != 0) {
		if (rc == STAGE_INVALID)
			set_aside(path, name);
		else
			pf_error(PF_OP_READ, "unreadable staging file %s", path);
		return;
	}
	struct db_fold_cache *cache = snap.live ? cache_for(snap.name) : NULL;
	rc = live->no_folds ? DB_FOLD_ERROR
	   : cache && cache->cells && cache->seq == (long long)snap.seq &&
	             strcmp(cache->name, snap.name) == 0
	       ? DB_FOLDED /* this process folded exactly this snapshot already */
	       : db_fold(scrape_db, &snap, !snap.live, cache);
	stats.files++;
	stats.live += snap.live != 0;
	stats.errors += rc == DB_FOLD_ERROR;
	stats.retired += rc == DB_FOLDED && !snap.live;
	if (rc == DB_FOLD_ERROR && !live->no_folds) {
		pf_error(PF_OP_FOLD, "%s: %s", snap.name, db_errmsg(scrape_db));
		/* Waiting out a lock once per file would make the scrape hang for
		 * files x busy timeout: after a lock or corruption, no more folds
		 * this scrape (the next one tries again). */
		live->corrupt = db_corrupt(scrape_db);
		live->no_folds = live->corrupt || db_busy(scrape_db);
	} else if (rc != DB_FOLD_ERROR && !snap.live) {
		/* rows go only once the file is gone: a file left behind with no
		 * rows would be folded whole again */
		if (unlink(path) == 0 || errno == ENOENT)
			db_forget(scrape_db, snap.name);
		else
			pf_error(PF_OP_FOLD, "cannot remove %s: %s", path, strerror(errno));
	}
	if (snap.live && live->n < live->cap) {
		live->snaps[live->n++] = snap;
		return;
	}
	stage_snapshot_free(&snap);
}

static int push_live(struct live_list *live)
{
	if (live->n < live->cap)
		return 0;
	size_t cap = live->cap ? live->cap * 2 : 16;
	struct stage_snapshot *s = realloc(live->snaps, cap * sizeof *s);
	if (!s)
		return -1;
	live->snaps = s;
	live->cap = cap;
	return 0;
}

/* A one-shot process's marker (journal.h): its gauges while it holds it. */
static void scrape_marker(const char *path, struct live_list *live)
{
	struct stage_snapshot snap;
	if (journal_read_marker(path, &snap) != 1)
		return;
	snap.live = 1;
	stats.files++;
	stats.live++;
	if (push_live(live) == 0)
		live->snaps[live->n++] = snap;
	else
		stage_snapshot_free(&snap);
}

/* A journal renamed aside: folded whole, like a dead worker's file
 * (retired in the fold's transaction, unlinked, then forgotten). */
static void scrape_journal(const char *path, struct live_list *live)
{
	struct stage_snapshot snap;
	unsigned bad = 0;
	int rc = journal_read(path, JOURNAL_QUIESCE_MS, &snap, &bad);
	if (rc != 0) { /* 1: an appender is still in it; the next scrape takes it */
		if (rc < 0)
			pf_error(PF_OP_READ, "unreadable journal %s", path);
		return;
	}
	if (bad)
		pf_error(PF_OP_READ, "%s: %u torn or damaged records skipped", path, bad);
	rc = db_fold(scrape_db, &snap, 1, NULL);
	stats.errors += rc == DB_FOLD_ERROR;
	if (rc == DB_FOLD_ERROR) {
		pf_error(PF_OP_FOLD, "%s: %s", snap.name, db_errmsg(scrape_db));
		live->corrupt = db_corrupt(scrape_db);
		live->no_folds = live->corrupt || db_busy(scrape_db);
	} else if (unlink(path) == 0 || errno == ENOENT) {
		db_forget(scrape_db, snap.name);
	} else {
		pf_error(PF_OP_FOLD, "cannot remove %s: %s", path, strerror(errno));
	}
	stage_snapshot_free(&snap);
}

static int fold_dir(const char *dir, struct live_list *live)
{
	char path[4096 + 256];
	/* one-shot processes' records so far: renamed aside, folded below */
	if (journal_rotate(dir, path, sizeof path) < 0 && errno != ENOENT)
		pf_error(PF_OP_READ, "cannot rename the journal in %s: %s", dir, strerror(errno));
	DIR *d = opendir(dir);
	if (!d)
		return 0; /* no worker has started yet */
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (strncmp(e->d_name, "o-", 2) == 0) {
			scrape_marker(path, live);
		} else if (strncmp(e->d_name, "j-", 2) == 0) {
			if (!live->no_folds)
				scrape_journal(path, live);
		} else if (strncmp(e->d_name, "w-", 2) == 0) {
			if (push_live(live) != 0)
				break;
			scrape_file(path, e->d_name, live);
		}
	}
	closedir(d);
	return 0;
}

struct orphan_ctx {
	const char *dir;
};

static int forget_orphan(void *arg, const char *name)
{
	const struct orphan_ctx *ctx = arg;
	char path[4096 + 256];
	snprintf(path, sizeof path, "%s/%s", ctx->dir, name);
	/* A live worker's file may be gone for a moment (its directory deleted):
	 * it comes back with the same name and cumulative totals, which must
	 * meet the rows that say what was folded of them. */
	if (access(path, F_OK) != 0 && !proc_name_is_live(name))
		db_forget(scrape_db, name);
	return 0;
}

static struct pf_family_data *find_family(struct pf_collection *c, const char *name)
{
	size_t lo = 0, hi = c->nfamilies; /* sorted by name (ORDER BY name) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(c->families[mid].name, name);
		if (cmp == 0)
			return &c->families[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int add_gauge(struct pf_family_data *f, const struct stage_slot *slot, double v)
{
	for (size_t i = 0; i < f->nseries; i++)
		if (f->series[i].keylen == slot->keylen &&
		    memcmp(f->series[i].key, slot->key, slot->keylen) == 0) {
			f->series[i].cells[0] += v;
			return 0;
		}
	if (f->nseries == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct pf_series_data *s = realloc(f->series, cap * sizeof *s);
		if (!s)
			return -1;
		f->series = s;
		f->cap = cap;
	}
	struct pf_series_data *s = &f->series[f->nseries];
	s->keylen = slot->keylen;
	s->key = malloc(slot->keylen ? slot->keylen : 1);
	s->cells = malloc(sizeof(double));
	if (!s->key || !s->cells) {
		free(s->key);
		free(s->cells);
		return -1;
	}
	memcpy(s->key, slot->key, slot->keylen);
	s->cells[0] = v;
	s->created = 0;
	f->nseries++;
	return 0;
}

static int cmp_series(const void *a, const void *b)
{
	const struct pf_series_data *x = a, *y = b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);
	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* A gauge family the store does not know yet (a one-shot process's,
 * folded only with its totals), from a live process's definition; kept in
 * name order. */
static struct pf_family_data *insert_family(struct pf_collection *c, const struct family_def *d)
{
	if (c->nfamilies == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct pf_family_data *f = realloc(c->families, cap * sizeof *f);
		if (!f)
			return NULL;
		c->families = f;
		c->cap = cap;
	}
	size_t at = 0;
	while (at < c->nfamilies && strcmp(c->families[at].name, d->name) < 0)
		at++;
	memmove(&c->families[at + 1], &c->families[at], (c->nfamilies - at) * sizeof c->families[0]);
	c->nfamilies++;
	struct pf_family_data *f = &c->families[at];
	memset(f, 0, sizeof *f);
	f->type = (int)d->type;
	f->ncells = (int)d->ncells;
	f->name = strdup(d->name);
	f->help = strdup(d->help);
	f->buckets = malloc(sizeof(double));
	f->labels = calloc(PF_LABELS_MAX, sizeof *f->labels);
	if (!f->name || !f->help || !f->buckets || !f->labels)
		return NULL; /* pf_collection_free takes what was made */
	for (uint32_t i = 0; i < d->nlabels; i++, f->nlabels++)
		if (!(f->labels[i] = strdup(d->labels[i])))
			return NULL;
	return f;
}

static int add_live_gauges(struct pf_collection *c, const struct live_list *live)
{
	for (size_t i = 0; i < live->n; i++) {
		const struct stage_snapshot *s = &live->snaps[i];
		for (uint32_t j = 0; j < s->nslots; j++) {
			const struct stage_slot *slot = &s->slots[j];
			if (slot->family >= s->nfamilies || slot->cell >= s->ncells)
				continue;
			const struct family_def *sf = &s->families[slot->family];
			struct pf_family_data *f = sf->type == PF_GAUGE ? find_family(c, sf->name) : NULL;
			if (!f && sf->type == PF_GAUGE && !(f = insert_family(c, sf)))
				return -1;
			if (f && f->type == PF_GAUGE && f->nlabels == (int)sf->nlabels &&
			    add_gauge(f, slot, s->cells[slot->cell]) != 0)
				return -1;
		}
	}
	for (size_t i = 0; i < c->nfamilies; i++)
		if (c->families[i].type == PF_GAUGE && c->families[i].nseries > 1)
			qsort(c->families[i].series, c->families[i].nseries,
			      sizeof c->families[i].series[0], cmp_series);
	return 0;
}

static void quarantine(const char *db_path)
{
	char moved[4400];
	if (db_quarantine(db_path, moved, sizeof moved) == 0)
		pf_error(PF_OP_OPEN, "store %s is corrupt: moved aside to %s; a fresh one is created",
		         db_path, moved);
	else
		pf_error(PF_OP_OPEN, "store %s is corrupt and cannot be moved aside", db_path);
}

/* Opens the store, reopens it if its file was deleted or replaced, and moves
 * a corrupt one aside for a fresh one (the live workers' totals, cumulative
 * since each began, are then folded into it afresh). */
static int ensure_db(const char *db_path, char *reason, size_t len)
{
	struct stat st;
	if (scrape_db && strcmp(scrape_path, db_path) != 0)
		reset_db();
	if (scrape_db && (stat(db_path, &st) != 0 || st.st_dev != scrape_dev || st.st_ino != scrape_ino)) {
		pf_error(PF_OP_OPEN, "store %s was deleted or replaced; reopening", db_path);
		reset_db();
	}
	if (scrape_db)
		return 0;
	snprintf(scrape_path, sizeof scrape_path, "%s", db_path);
	int rc = db_open(db_path, PF_SCRAPE_BUSY_MS, &scrape_db, reason, len);
	if (rc == 0 && db_check(scrape_db) != 0 && db_corrupt(scrape_db)) {
		reset_db();
		rc = DB_OPEN_CORRUPT;
	}
	if (rc == DB_OPEN_CORRUPT) {
		quarantine(db_path);
		rc = db_open(db_path, PF_SCRAPE_BUSY_MS, &scrape_db, reason, len);
	}
	if (rc != 0) {
		scrape_db = NULL;
		pf_error(PF_OP_OPEN, "%s", reason);
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

static void free_live(struct live_list *live)
{
	for (size_t i = 0; i < live->n; i++)
		stage_snapshot_free(&live->snaps[i]);
	free(live->snaps);
	memset(live, 0, sizeof *live);
}

int pf_scrape(const char *db_path, struct pf_collection *out, char *reason, size_t len)
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
		if (ensure_db(db_path, reason, len) != 0)
			return -1;
		struct live_list live = {0};
		fold_dir(dir, &live);
		struct orphan_ctx ctx = {dir};
		if (!live.no_folds)
			db_each_incarnation(scrape_db, forget_orphan, &ctx);
		int rc = live.corrupt ? -1 : db_read(scrape_db, out);
		if (rc != 0 && (live.corrupt || db_corrupt(scrape_db)) && attempt == 0) {
			free_live(&live);
			reset_db();
			quarantine(db_path);
			continue;
		}
		if (rc != 0) {
			snprintf(reason, len, "cannot read the store: %s", db_errmsg(scrape_db));
			pf_error(PF_OP_READ, "%s", reason);
			reset_db();
		} else if (add_live_gauges(out, &live) != 0) {
			snprintf(reason, len, "out of memory");
			pf_collection_free(out);
			rc = -1;
		}
		free_live(&live);
		store_sizes(db_path);
		/* SQLite's own checkpoints keep the WAL at up to ~4 MiB; a scrape
		 * every few seconds can afford to keep it small */
		if (rc == 0 && stats.wal_bytes > PF_WAL_TRIM_BYTES && db_trim_wal(scrape_db, PF_SCRAPE_BUSY_MS) == 0)
			store_sizes(db_path);
		caches_sweep(0);
		return rc;
	}
	snprintf(reason, len, "the store was corrupt twice in one scrape");
	return -1;
}

void pf_scrape_close(void)
{
	reset_db();
}
