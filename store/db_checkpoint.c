/* SPDX-License-Identifier: MIT */
/*
 * db_checkpoint.c — a live incarnation's checkpoint: its totals kept whole
 * in its incarnation row, outside the series' aggregate, and what becomes
 * of them when it ends.
 *
 * Why: a live worker's file already says what it holds (a scrape reads it),
 * so its periodic fold only has to make that durable (a power cut may take
 * the file's last pages).  Adding it into the aggregate series by series
 * cost three statements per changed series (0.34 s for 100,000 of them);
 * a checkpoint is one row per incarnation, and leaves the series rows
 * (and so the readers' copies of them) untouched.  The aggregate gets an
 * incarnation's totals once, when it ends (db_checkpoint_retire): its file's
 * and its checkpoint's, cell by cell, the larger count winning.
 *
 * Blob (native byte order, 8-aligned parts): u32 magic, u32 rows; per row:
 * u32 family (the store's id), u32 slot, u32 key length, u32 cells (of the
 * row's shape: its family's, or the classic ones only for an incarnation
 * that defined it without native buckets), f64 created, u32 packed doubles,
 * u32 0, the key padded to 8, the packed cells (db_cells.c).  Rows in order
 * of slot.  Families are the store's rows (a live fold defines them), so a
 * definition is never copied into a checkpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/db_internal.h"

#define CHECKPOINT_MAGIC 0x31434650u /* "PFC1" */
#define PAD8(n) (((n) + 7u) & ~(size_t)7u)

struct ckpt_row {
	uint32_t family, slot, keylen, ncells;
	double created;
	uint32_t npacked, pad;
};

int db_checkpoint_put(struct db *db, sqlite3_int64 id, const struct db_incarnation *inc)
{
	uint32_t nf = inc->nfamilies ? inc->nfamilies : 1;
	sqlite3_int64 *fam_ids = malloc(nf * sizeof *fam_ids);
	struct buf b = {0};
	uint32_t head[2] = {CHECKPOINT_MAGIC, 0};
	int rc = fam_ids ? 0 : -1;
	/* the families as the store keeps them (defined, or widened, now) */
	for (uint32_t i = 0; rc == 0 && i < inc->nfamilies; i++)
		if ((fam_ids[i] = db_family_put(db, &inc->families[i], NULL)) < 0)
			rc = -1;
	buf_put(&b, (const char *)head, sizeof head);
	for (uint32_t i = 0; rc == 0 && i < inc->nrows; i++) {
		const struct db_row *r = &inc->rows[i];
		const struct family_def *f = r->family < inc->nfamilies ? &inc->families[r->family] : NULL;
		if (!f || fam_ids[r->family] == 0 || f->type == PF_GAUGE)
			continue; /* a gauge is read live only; a clash is not the store's */
		if (!r->cells || r->keylen > PF_KEY_MAX || f->ncells > MODEL_CELLS_MAX) {
			rc = -1;
			break;
		}
		/* the row written in place: room for the most it can take first */
		if (buf_reserve(&b, sizeof(struct ckpt_row) + PAD8(r->keylen) +
		                        DB_PACKED_MAX * sizeof(double)) != 0) {
			rc = -1;
			break;
		}
		char *at = b.p + b.len;
		size_t key = PAD8(r->keylen);
		size_t n = db_cells_pack(f, r->cells, (double *)(void *)(at + sizeof(struct ckpt_row) + key));
		struct ckpt_row h = {(uint32_t)fam_ids[r->family], r->slot, r->keylen, f->ncells,
		                     r->created, (uint32_t)n, 0};
		memcpy(at, &h, sizeof h);
		memcpy(at + sizeof h, r->key, r->keylen);
		memset(at + sizeof h + r->keylen, 0, key - r->keylen);
		b.len += sizeof h + key + n * sizeof(double);
		head[1]++;
	}
	if (rc == 0 && b.oom)
		rc = -1;
	if (rc == 0) {
		memcpy(b.p + sizeof head[0], &head[1], sizeof head[1]);
		sqlite3_stmt *st = db->st[S_CHECKPOINT_PUT], *set = db->st[S_INC_SET];
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_blob(st, 2, b.p, (int)b.len, SQLITE_STATIC);
		sqlite3_bind_int64(set, 1, id);
		sqlite3_bind_int64(set, 2, (sqlite3_int64)inc->seq);
		rc = db_run(db, S_CHECKPOINT_PUT) == 0 && db_run(db, S_INC_SET) == 0 ? 0 : -1;
	}
	buf_free(&b);
	free(fam_ids);
	return rc;
}

void db_checkpoint_free(struct db_checkpoint *c)
{
	free(c->families);
	free(c->fam_ids);
	free(c->rows);
	free(c->cells);
	free(c->keys);
	memset(c, 0, sizeof *c);
}

/* The index in c->families of the store family fam in the shape of ncells
 * cells (its own, or its classic ones only), added if new; -1 if the
 * store has no such family or not of that shape, -2 on error. */
static int checkpoint_family(struct db *db, struct db_checkpoint *c, uint32_t fam, uint32_t ncells,
                             uint32_t *cap)
{
	for (uint32_t i = 0; i < c->nfamilies; i++)
		if (c->fam_ids[i] == fam && c->families[i].ncells == ncells)
			return (int)i;
	struct family_def def;
	int r = db_family_by_id(db, fam, &def);
	if (r <= 0)
		return r < 0 ? -2 : -1;
	if (def.ncells != ncells) {
		/* the store's family gained native buckets after this row was
		 * written by a process that defines it without */
		if (!def.native || ncells != def.nbuckets + 2)
			return -1;
		def.native = 0;
		def.ncells = ncells;
	}
	if (c->nfamilies == *cap) {
		uint32_t n = *cap ? *cap * 2 : 4;
		struct family_def *d = realloc(c->families, n * sizeof *d);
		if (d)
			c->families = d;
		sqlite3_int64 *ids = realloc(c->fam_ids, n * sizeof *ids);
		if (ids)
			c->fam_ids = ids;
		if (!d || !ids)
			return -2;
		*cap = n;
	}
	c->families[c->nfamilies] = def;
	c->fam_ids[c->nfamilies] = fam;
	return (int)c->nfamilies++;
}

/* Parses blob (len bytes) into c: 0, or -1 damaged or out of memory (-2
 * for an error of the store). */
static int checkpoint_parse(struct db *db, const unsigned char *blob, size_t len,
                            struct db_checkpoint *c)
{
	uint32_t head[2], cap_fam = 0;
	if (len < sizeof head)
		return -1;
	memcpy(head, blob, sizeof head);
	if (head[0] != CHECKPOINT_MAGIC || head[1] > len / sizeof(struct ckpt_row))
		return -1;
	size_t ncells = 0, nkeys = 0, at = sizeof head;
	/* sizes first: one allocation each, so the rows' pointers stay put */
	for (uint32_t i = 0; i < head[1]; i++) {
		struct ckpt_row h;
		if (len - at < sizeof h)
			return -1;
		memcpy(&h, blob + at, sizeof h);
		if (h.keylen > PF_KEY_MAX || h.ncells == 0 || h.ncells > MODEL_CELLS_MAX ||
		    h.npacked > DB_PACKED_MAX ||
		    len - at - sizeof h < PAD8(h.keylen) + h.npacked * sizeof(double))
			return -1;
		at += sizeof h + PAD8(h.keylen) + h.npacked * sizeof(double);
		ncells += h.ncells;
		nkeys += h.keylen;
	}
	if (at != len)
		return -1;
	c->rows = malloc((head[1] ? head[1] : 1) * sizeof *c->rows);
	c->cells = malloc((ncells ? ncells : 1) * sizeof *c->cells);
	c->keys = malloc(nkeys ? nkeys : 1);
	if (!c->rows || !c->cells || !c->keys)
		return -1;
	ncells = nkeys = 0;
	at = sizeof head;
	for (uint32_t i = 0; i < head[1]; i++) {
		struct ckpt_row h;
		double packed[DB_PACKED_MAX];
		memcpy(&h, blob + at, sizeof h);
		const unsigned char *key = blob + at + sizeof h;
		memcpy(packed, key + PAD8(h.keylen), h.npacked * sizeof(double));
		at += sizeof h + PAD8(h.keylen) + h.npacked * sizeof(double);
		int f = checkpoint_family(db, c, h.family, h.ncells, &cap_fam);
		if (f == -2)
			return -2;
		if (f < 0 || (c->nrows && h.slot <= c->rows[c->nrows - 1].slot) ||
		    db_cells_unpack(&c->families[f], packed, h.npacked, c->cells + ncells, NULL) != 0)
			continue; /* a row the store cannot take (a family it no longer has) */
		memcpy(c->keys + nkeys, key, h.keylen);
		c->rows[c->nrows++] = (struct db_row){.family = (uint32_t)f,
		                                      .slot = h.slot,
		                                      .key = c->keys + nkeys,
		                                      .keylen = h.keylen,
		                                      .cells = c->cells + ncells,
		                                      .created = h.created};
		ncells += h.ncells;
		nkeys += h.keylen;
	}
	return 0;
}

int db_checkpoint_get(struct db *db, sqlite3_int64 id, struct db_checkpoint *c)
{
	memset(c, 0, sizeof *c);
	sqlite3_stmt *get = db->st[S_CHECKPOINT_GET];
	sqlite3_bind_int64(get, 1, id);
	int r = db_row(db, S_CHECKPOINT_GET);
	unsigned char *blob = NULL;
	size_t len = 0;
	if (r == 1 && (len = (size_t)sqlite3_column_bytes(get, 0)) > 0 && (blob = malloc(len)))
		memcpy(blob, sqlite3_column_blob(get, 0), len);
	db_done(db, S_CHECKPOINT_GET);
	if (r == 1) {
		/* parsed after the statement is done: it looks families up */
		int p = blob ? checkpoint_parse(db, blob, len, c) : -1;
		if (p != 0) {
			db_checkpoint_free(c);
			if (p == -1 && !db->last_msg[0]) {
				db->last_rc = SQLITE_MISMATCH;
				snprintf(db->last_msg, sizeof db->last_msg,
				         "a damaged checkpoint (incarnation %lld)", (long long)id);
			}
			r = -1;
		}
	}
	free(blob);
	return r;
}

/* The store's classic count cells of a family's series (histogram buckets
 * and +Inf; a counter's value) and classic cells (then the sum). */
static uint32_t count_cells(const struct family_def *f)
{
	return f->type == PF_HISTOGRAM ? f->nbuckets + 1 : 1;
}
static uint32_t classic_cells(const struct family_def *f)
{
	return f->type == PF_HISTOGRAM ? f->nbuckets + 2 : f->ncells;
}

/* The row of c at slot, if it is the same series (family id and key), or NULL. */
static const struct db_row *checkpoint_row(const struct db_checkpoint *c, uint32_t slot,
                                           sqlite3_int64 fam, const struct db_row *r)
{
	uint32_t lo = 0, hi = c ? c->nrows : 0;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c->rows[mid].slot < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == (c ? c->nrows : 0) || c->rows[lo].slot != slot)
		return NULL;
	const struct db_row *p = &c->rows[lo];
	return c->fam_ids[p->family] == fam && p->keylen == r->keylen &&
	               memcmp(p->key, r->key, r->keylen) == 0
	           ? p
	           : NULL;
}

/* A row's totals added to its series: the classic cells, the native part
 * the native way (db_apply_add). */
static int add_row(struct db *db, sqlite3_int64 fam, const struct family_def *kept,
                   const struct family_def *f, const struct db_row *r, const double *cells)
{
	struct db_add a = {cells, classic_cells(f), f->native ? cells + classic_cells(f) : NULL, NULL, 0};
	return db_update_series(db, fam, kept, r->key, r->keylen, db_apply_add, &a, r->created);
}

int db_checkpoint_retire(struct db *db, const struct db_incarnation *inc,
                         const struct db_checkpoint *c)
{
	uint32_t nf = inc && inc->nfamilies ? inc->nfamilies : 1;
	uint32_t nc = c && c->nrows ? c->nrows : 1;
	sqlite3_int64 *fam_ids = malloc(nf * sizeof *fam_ids);
	struct family_def *kept = malloc(nf * sizeof *kept);
	unsigned char *used = calloc(nc, 1);
	int rc = fam_ids && kept && used ? 0 : -1;
	for (uint32_t i = 0; rc == 0 && inc && i < inc->nfamilies; i++)
		if ((fam_ids[i] = db_family_put(db, &inc->families[i], &kept[i])) < 0)
			rc = -1;
	/* one name twice in a journal's totals (two releases' records): all
	 * take the store's final definition (db_fold.c says why) */
	for (uint32_t i = 0; rc == 0 && inc && i < inc->nfamilies; i++)
		for (uint32_t j = i + 1; j < inc->nfamilies; j++)
			if (fam_ids[j] == fam_ids[i] && fam_ids[i] > 0)
				kept[i] = kept[j];
	for (uint32_t i = 0; rc == 0 && inc && i < inc->nrows; i++) {
		const struct db_row *r = &inc->rows[i];
		uint32_t fi = r->family;
		if (fi >= inc->nfamilies || fam_ids[fi] == 0 || inc->families[fi].type == PF_GAUGE)
			continue;
		const struct family_def *f = &inc->families[fi];
		if (!r->cells || r->keylen > PF_KEY_MAX || f->ncells > MODEL_CELLS_MAX) {
			rc = -1;
			break;
		}
		double put[MODEL_CELLS_MAX];
		memcpy(put, r->cells, f->ncells * sizeof *put);
		const struct db_row *p = checkpoint_row(c, r->slot, fam_ids[fi], r);
		if (p) {
			used[p - c->rows] = 1;
			const struct family_def *pf = &c->families[p->family];
			/* counts never go back: a file older than its checkpoint (its
			 * last pages lost to a power cut) takes the checkpoint's */
			if (pf->ncells == f->ncells) {
				for (uint32_t k = 0; k < count_cells(f); k++)
					if (put[k] < p->cells[k])
						put[k] = p->cells[k];
				uint32_t cl = classic_cells(f);
				if (f->native && !(put[cl + NATIVE_COUNT] >= p->cells[cl + NATIVE_COUNT] &&
				                   native_valid(put + cl)))
					memcpy(put + cl, p->cells + cl, NATIVE_CELLS * sizeof *put);
			}
		}
		rc = add_row(db, fam_ids[fi], &kept[fi], f, r, put);
	}
	/* what only the checkpoint has: every row, when no file is left */
	for (uint32_t i = 0; rc == 0 && c && i < c->nrows; i++) {
		if (used[i])
			continue;
		const struct db_row *p = &c->rows[i];
		const struct family_def *pf = &c->families[p->family];
		struct family_def store;
		int found = db_family_by_id(db, c->fam_ids[p->family], &store);
		if (found < 0)
			rc = -1;
		else if (found)
			rc = add_row(db, c->fam_ids[p->family], &store, pf, p, p->cells);
	}
	free(fam_ids);
	free(kept);
	free(used);
	return rc;
}

int db_read_checkpoint(struct db *db, long long id, long long folded_seq,
                       int (*fn)(void *arg, long long family_id, uint32_t slot, const char *key,
                                 uint32_t keylen, const double *cells, int ncells,
                                 double created),
                       void *arg)
{
	struct db_checkpoint c;
	struct db_inc now = {0};
	int r;
	memset(&c, 0, sizeof c);
	db->last_msg[0] = '\0';
	if (db_exec(db, "BEGIN") != 0) {
		db_failed(db, sqlite3_extended_errcode(db->h));
		return -1;
	}
	/* the row as of this snapshot: the reader's copy is of folded_seq */
	sqlite3_stmt *st = db->st[S_LOAD_INC];
	r = 0;
	while (r == 0 && db_row(db, S_LOAD_INC) == 1)
		if (sqlite3_column_int64(st, 0) == id) {
			now.folded_seq = sqlite3_column_int64(st, 2);
			now.retired = sqlite3_column_int(st, 3);
			r = 1;
		}
	db_done(db, S_LOAD_INC);
	if (r == 1 && (now.folded_seq != folded_seq || now.retired))
		r = 0;
	if (r == 1)
		r = db_checkpoint_get(db, id, &c);
	for (uint32_t i = 0; r == 1 && i < c.nrows; i++) {
		const struct db_row *p = &c.rows[i];
		if (fn(arg, c.fam_ids[p->family], p->slot, p->key, p->keylen, p->cells,
		       (int)c.families[p->family].ncells, p->created) != 0)
			r = -1;
	}
	db_checkpoint_free(&c);
	db_exec(db, "COMMIT");
	return r;
}
