/* SPDX-License-Identifier: MIT */
/*
 * journal_read.c — journal records read back (journal.h has the layout),
 * from a drained journal or a marker: each record checked whole before
 * anything of it is taken, then its series summed into one snapshot
 * (families by name, series by family and label values, exemplars the
 * latest per series and bucket), which a scrape folds like a worker's file.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/buf.h"
#include "store/hash.h"
#include "store/journal.h"
#include "store/journal_internal.h"
#include "store/names.h"
#include "store/path.h"


/* Where merged series are found: (family, key) -> slot; and merged
 * exemplars: (slot, bucket) -> exemplar (hash.h tables). */
struct merge_index {
	struct hash_table series, exemplars;
};

static uint32_t series_hash(uint32_t fam, const void *key, uint32_t keylen)
{
	return hash_fnv1a(HASH_FNV_BASIS, key, keylen) ^ (fam * 2654435761u);
}

static uint32_t slot_hash(const struct stage_snapshot *snap, uint32_t slot)
{
	const struct stage_slot *s = &snap->slots[slot];
	return series_hash(s->family, s->key, s->keylen);
}

static uint32_t exemplar_hash(uint32_t slot, uint32_t bucket)
{
	return (slot * 64u + bucket) * 2654435761u; /* bucket <= PF_BUCKETS_MAX < 64 */
}

/* Indexes slot (the last one made), growing the table if need be. */
static int index_series(struct merge_index *x, const struct stage_snapshot *snap, uint32_t slot)
{
	if (hash_full(&x->series, slot)) {
		if (hash_reset(&x->series, slot + 1) != 0)
			return -1;
		for (uint32_t i = 0; i < slot; i++)
			hash_put(&x->series, slot_hash(snap, i), i);
	}
	hash_put(&x->series, slot_hash(snap, slot), slot);
	return 0;
}

static int index_exemplar(struct merge_index *x, const struct stage_snapshot *snap, uint32_t i)
{
	if (hash_full(&x->exemplars, i)) {
		if (hash_reset(&x->exemplars, i + 1) != 0)
			return -1;
		for (uint32_t j = 0; j < i; j++)
			hash_put(&x->exemplars,
			         exemplar_hash(snap->exemplars[j].slot, snap->exemplars[j].bucket), j);
	}
	hash_put(&x->exemplars, exemplar_hash(snap->exemplars[i].slot, snap->exemplars[i].bucket), i);
	return 0;
}

/* The merged series of family fam with key, created at zero if new. */
static long merged_series(struct stage_snapshot *snap, struct merge_index *x, uint32_t fam,
                          const unsigned char *key, uint32_t keylen)
{
	uint32_t probe = series_hash(fam, key, keylen), i;
	while ((i = hash_next(&x->series, &probe)) != HASH_NONE) {
		const struct stage_slot *s = &snap->slots[i];
		if (s->family == fam && s->keylen == keylen && memcmp(s->key, key, keylen) == 0)
			return (long)i;
	}
	uint32_t ncells = snap->families[fam].ncells;
	if (snap->nslots >= UINT32_MAX / 2 ||
	    array_grow32((void **)&snap->slots, &snap->cap_slots, snap->nslots + 1, sizeof *snap->slots) ||
	    array_grow((void **)&snap->cells, &snap->cap_cells, snap->ncells + ncells, sizeof(double)))
		return -1;
	struct stage_slot *s = &snap->slots[snap->nslots];
	memset(s, 0, sizeof *s);
	s->family = fam;
	s->cell = snap->ncells;
	s->keylen = keylen;
	if (!(s->key = stage_keep_key(snap, (const char *)key, keylen)))
		return -1;
	model_family_zero(&snap->families[fam], &snap->cells[snap->ncells]);
	snap->ncells += ncells;
	if (index_series(x, snap, snap->nslots) != 0)
		return -1;
	return (long)snap->nslots++;
}

/* An exemplar of merged series slot: per (slot, bucket) the latest is kept. */
static int merge_exemplar(struct stage_snapshot *snap, struct merge_index *x, uint32_t slot,
                          const struct jrec_exemplar *r)
{
	struct stage_exemplar *e = NULL;
	uint32_t probe = exemplar_hash(slot, r->bucket), i;
	while ((i = hash_next(&x->exemplars, &probe)) != HASH_NONE)
		if (snap->exemplars[i].slot == slot && snap->exemplars[i].bucket == r->bucket) {
			e = &snap->exemplars[i];
			break;
		}
	if (!e) {
		if (array_grow32((void **)&snap->exemplars, &snap->cap_exemplars, snap->nexemplars + 1,
		                 sizeof *snap->exemplars))
			return -1;
		e = &snap->exemplars[snap->nexemplars];
		memset(e, 0, sizeof *e);
		e->slot = slot;
		e->bucket = r->bucket;
		e->sel = 1;
		if (index_exemplar(x, snap, snap->nexemplars) != 0)
			return -1;
		snap->nexemplars++;
	} else if (r->ts <= e->x.timestamp) {
		return 0;
	}
	e->x.value = r->value;
	e->x.timestamp = r->ts;
	e->x.len = r->len;
	memcpy(e->x.labels, r->labels, r->len);
	return 0;
}

static int same_def(const struct family_def *a, const struct family_def *b)
{
	return model_family_compat(a, b) == MODEL_SAME && strcmp(a->help, b->help) == 0;
}

/* The record's families among the merged ones (map: record family ->
 * merged family): the same definition, or a new family; one that differs
 * only in having native buckets or not (records of two releases) is a
 * family of its own of the same name, which the fold puts in the same
 * series (db_family.c: narrower and wider definitions).  0, 1 rejected (a
 * clash with a definition seen first), -1 out of memory.  Merged families
 * are few (each program's own), so they are looked through in order. */
static int merge_families(struct stage_snapshot *snap, const struct jrec *r, uint32_t *map)
{
	for (uint32_t i = 0; i < r->nf; i++) {
		const struct family_def *d = &r->defs[i];
		uint32_t j = 0;
		int clash = 0;
		for (; j < snap->nfamilies; j++) {
			const struct family_def *o = &snap->families[j];
			if (strcmp(o->name, d->name) != 0)
				continue;
			if (same_def(o, d))
				break;
			int how = model_family_compat(o, d);
			clash |= (how != MODEL_NARROWER && how != MODEL_WIDER) || strcmp(o->help, d->help) != 0;
		}
		if (j == snap->nfamilies && clash)
			return 1;
		if (j == snap->nfamilies) {
			if (j >= UINT32_MAX / 2 ||
			    array_grow32((void **)&snap->families, &snap->cap_families, j + 1, sizeof *d))
				return -1;
			snap->families[snap->nfamilies++] = *d;
		}
		map[i] = j;
	}
	return 0;
}

static double f64_at(const unsigned char *p)
{
	double v;
	memcpy(&v, p, 8);
	return v;
}

/* The place in dst's windows of the sparse part's i-th bucket (its
 * window's start in src, at its place in the two windows), or -1 if it
 * falls outside them. */
static int place_in(const double *dst, const struct jrec_series *s, uint32_t i)
{
	uint16_t at;
	memcpy(&at, s->at + 2 * i, 2);
	int neg = at >= NATIVE_BUCKETS, j = at - (neg ? NATIVE_BUCKETS : 0);
	double index = f64_at(s->native + 8 * (neg ? NATIVE_NEG_START : NATIVE_POS_START)) + j;
	double k = index - dst[neg ? NATIVE_NEG_START : NATIVE_POS_START];
	return k >= 0 && k < NATIVE_BUCKETS ? (int)k + (neg ? NATIVE_BUCKETS : 0) : -1;
}

/* dst += a sparse native part (checked: journal_unpack.c).  Where both
 * have one schema and zero threshold and every bucket of it falls inside
 * dst's windows (the common case: one program's records, a few buckets
 * each), they are added in place; otherwise it is spread into a whole
 * part and merged the native way (windows moved, schema lowered). */
static void add_sparse(double *dst, const struct jrec_series *s)
{
	const unsigned char *h = s->native;
	int fits = f64_at(h + 8 * NATIVE_SCHEMA) == dst[NATIVE_SCHEMA] &&
	           f64_at(h + 8 * NATIVE_ZERO_THRESHOLD) == dst[NATIVE_ZERO_THRESHOLD];
	for (uint32_t i = 0; fits && i < s->nused; i++)
		fits = place_in(dst, s, i) >= 0;
	if (fits) {
		dst[NATIVE_COUNT] += f64_at(h + 8 * NATIVE_COUNT);
		dst[NATIVE_SUM] += f64_at(h + 8 * NATIVE_SUM);
		dst[NATIVE_ZERO_COUNT] += f64_at(h + 8 * NATIVE_ZERO_COUNT);
		for (uint32_t i = 0; i < s->nused; i++)
			dst[NATIVE_POS + place_in(dst, s, i)] += f64_at(s->counts + 8 * i);
		return;
	}
	double whole[NATIVE_CELLS] = {0};
	memcpy(whole, h, NATIVE_POS * sizeof(double));
	for (uint32_t i = 0; i < s->nused; i++) {
		uint16_t at;
		memcpy(&at, s->at + 2 * i, 2);
		whole[NATIVE_POS + at] = f64_at(s->counts + 8 * i);
	}
	native_merge(dst, whole);
}

/* Adds a checked series' cells to its merged series (classic cells summed,
 * a native part merged the native way). */
static void add_cells(double *to, const struct family_def *d, const struct jrec_series *s)
{
	uint32_t classic = d->native ? d->ncells - NATIVE_CELLS : d->ncells;
	for (uint32_t k = 0; k < classic; k++)
		to[k] += f64_at(s->cells + k * sizeof(double));
	if (!d->native)
		return;
	if (s->sparse) {
		add_sparse(to + classic, s);
	} else {
		double native[NATIVE_CELLS];
		memcpy(native, s->native, sizeof native);
		native_merge(to + classic, native); /* checked by journal_unpack */
	}
}

/* Adds one unpacked record: -1 out of memory, 0 taken, 1 rejected. */
static int merge_record(const struct jrec *r, struct stage_snapshot *snap, struct merge_index *x,
                        uint32_t *map, long *slot_of)
{
	int rc = merge_families(snap, r, map);
	if (rc != 0)
		return rc;
	for (uint32_t i = 0; i < r->ns; i++) {
		const struct jrec_series *s = &r->series[i];
		if ((slot_of[i] = merged_series(snap, x, map[s->family], s->key, s->keylen)) < 0)
			return -1;
		add_cells(&snap->cells[snap->slots[slot_of[i]].cell], &r->defs[s->family], s);
	}
	for (uint32_t k = 0; k < r->nx; k++)
		if (merge_exemplar(snap, x, (uint32_t)slot_of[r->ex[k].series], &r->ex[k]) != 0)
			return -1;
	return 0;
}

/* A record whose head is sound: a magic of either version, a length inside
 * the buffer and a checksum that matches. */
static int record_at(const unsigned char *p, const unsigned char *end, uint32_t *length)
{
	uint32_t magic, check;
	memcpy(&magic, p, 4);
	memcpy(length, p + 4, 4);
	memcpy(&check, p + 8, 4);
	if (*length < JOURNAL_HEADER_BYTES || *length > (size_t)(end - p))
		return 0;
	if (magic == JOURNAL_MAGIC) { /* the word after the check is 0: the check leaves it out */
		uint32_t zero;
		memcpy(&zero, p + 12, 4);
		return *length % 8 == 0 && zero == 0 && journal_check(p, *length) == check;
	}
	return magic == JOURNAL_MAGIC_V1 && hash_fnv1a(HASH_FNV_BASIS, p + 12, *length - 12) == check;
}

/* The next place a record may begin, after a torn one: either magic. */
static const unsigned char *next_magic(const unsigned char *p, const unsigned char *end)
{
	uint32_t m2 = JOURNAL_MAGIC, m1 = JOURNAL_MAGIC_V1;
	for (p++; (size_t)(end - p) >= 4; p++)
		if (memcmp(p, &m2, 4) == 0 || memcmp(p, &m1, 4) == 0)
			return p;
	return end;
}

int journal_merge(const char *buf, size_t len, struct stage_snapshot *snap, unsigned *bad)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;
	struct merge_index x = {0};
	struct jrec r = {0};
	struct jrec_cache *cache = calloc(1, sizeof *cache); /* none: built every time */
	uint32_t *map = NULL, cap_map = 0;
	long *slot_of = NULL;
	size_t cap_slot_of = 0;
	int rc = 0;
	for (uint32_t i = 0; i < snap->nslots && rc == 0; i++)
		rc = index_series(&x, snap, i);
	for (uint32_t i = 0; i < snap->nexemplars && rc == 0; i++)
		rc = index_exemplar(&x, snap, i);
	while (rc == 0 && (size_t)(end - p) >= JOURNAL_HEADER_BYTES) {
		uint32_t length;
		if (!record_at(p, end, &length)) {
			++*bad; /* a torn record (its writer killed mid-write): find the next one */
			p = next_magic(p, end);
			continue;
		}
		int u = journal_unpack(p, length, &r, cache);
		if (u == 0 && (array_grow32((void **)&map, &cap_map, r.nf ? r.nf : 1, sizeof *map) ||
		               array_grow((void **)&slot_of, &cap_slot_of, r.ns ? r.ns : 1,
		                          sizeof *slot_of)))
			u = -1;
		if (u == 0)
			u = merge_record(&r, snap, &x, map, slot_of);
		if (u < 0)
			rc = -1;
		*bad += u > 0;
		p += length;
	}
	hash_free(&x.series);
	hash_free(&x.exemplars);
	journal_jrec_free(&r);
	free(cache);
	free(map);
	free(slot_of);
	return rc;
}

int journal_read_marker(const char *path, struct stage_snapshot *snap)
{
	memset(snap, 0, sizeof *snap);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) { /* no process holds it */
		close(fd);
		return 0;
	}
	unsigned char head[JOURNAL_HEADER_BYTES];
	uint32_t len = 0;
	char *buf = NULL;
	struct stat st;
	/* its one record, as long as the file holds (a process with many
	 * gauges writes a long one) */
	if (fstat(fd, &st) == 0 && pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head) {
		memcpy(&len, head + 4, 4);
		if (len >= JOURNAL_HEADER_BYTES && len <= (uint64_t)st.st_size && (buf = malloc(len)) &&
		    pread(fd, buf, len, 0) != (ssize_t)len)
			len = 0;
	}
	close(fd);
	unsigned bad = 0;
	int rc = buf && len && journal_merge(buf, len, snap, &bad) == 0 ? 1 : -1;
	free(buf);
	if (rc < 0)
		stage_snapshot_free(snap);
	return rc; /* a record being rewritten reads as damaged: no gauges this once */
}

int journal_read(const char *path, int wait_ms, struct stage_snapshot *snap, unsigned *bad)
{
	memset(snap, 0, sizeof *snap);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	for (int waited = 0; wait_ms > 0 && flock(fd, LOCK_EX | LOCK_NB) != 0; waited++) {
		if (waited >= wait_ms) { /* an appender stopped mid-write: next scrape */
			close(fd);
			return 1;
		}
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	char *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	int rc = buf && path_format(snap->path, "%s", path) == 0 && path_name(snap->name, path) == 0 &&
	                 journal_merge(buf, got, snap, bad) == 0
	             ? 0
	             : -1;
	free(buf);
	if (rc != 0)
		stage_snapshot_free(snap);
	return rc;
}
