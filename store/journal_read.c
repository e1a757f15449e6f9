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
#include "store/names.h"
#include "store/path.h"


/* A bounded reader over one record. */
struct cursor {
	const unsigned char *p, *end;
	int bad;
};

static const unsigned char *take(struct cursor *c, size_t n)
{
	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = 1;
		return NULL;
	}
	const unsigned char *at = c->p;
	c->p += n;
	return at;
}

static void align(struct cursor *c, const unsigned char *base)
{
	size_t off = (size_t)(c->p - base);
	take(c, JOURNAL_PAD8(off) - off);
}

/* Definitions built earlier in the same journal, by their bytes: the
 * records of one program repeat them, and building one (every name and
 * help text checked) costs a quarter of merging a record.  Same bytes, same
 * definition: a hit skips only work whose result is known. */
#define DEF_CACHE 16
struct def_cache {
	const unsigned char *raw[DEF_CACHE]; /* in the journal's buffer */
	size_t len[DEF_CACHE];
	struct family_def def[DEF_CACHE];
	unsigned n, next;
};

static int cached_def(const struct def_cache *k, const unsigned char *raw, size_t len,
                      struct family_def *def)
{
	for (unsigned i = 0; k && i < k->n; i++)
		if (k->len[i] == len && memcmp(k->raw[i], raw, len) == 0) {
			*def = k->def[i];
			return 1;
		}
	return 0;
}

static void cache_def(struct def_cache *k, const unsigned char *raw, size_t len,
                      const struct family_def *def)
{
	if (!k)
		return;
	unsigned i = k->n < DEF_CACHE ? k->n++ : k->next++ % DEF_CACHE;
	k->raw[i] = raw;
	k->len[i] = len;
	k->def[i] = *def;
}

static int unpack_family(struct cursor *c, const unsigned char *base, struct family_def *def,
                       struct def_cache *cache)
{
	const unsigned char *start = c->p;
	const unsigned char *h = take(c, 8);
	if (!h)
		return -1;
	uint16_t nl, hl;
	memcpy(&nl, h + 4, 2);
	memcpy(&hl, h + 6, 2);
	char name[PF_NAME_MAX], help[PF_HELP_MAX], labels[PF_LABELS_MAX][PF_LABEL_NAME_MAX];
	const char *label_ptrs[PF_LABELS_MAX + 1];
	double buckets[PF_BUCKETS_MAX];
	const unsigned char *n = take(c, nl), *t = take(c, hl);
	if (!n || !t || nl >= sizeof name || hl >= sizeof help || h[1] > PF_LABELS_MAX ||
	    h[2] > PF_BUCKETS_MAX || h[3] > 1)
		return -1;
	memcpy(name, n, nl);
	name[nl] = '\0';
	memcpy(help, t, hl);
	help[hl] = '\0';
	for (int i = 0; i < h[1]; i++) {
		const unsigned char *ll = take(c, 1), *l = ll ? take(c, *ll) : NULL;
		if (!l || *ll >= PF_LABEL_NAME_MAX)
			return -1;
		memcpy(labels[i], l, *ll);
		labels[i][*ll] = '\0';
		label_ptrs[i] = labels[i];
	}
	label_ptrs[h[1]] = NULL;
	align(c, base);
	const unsigned char *b = take(c, h[2] * sizeof(double));
	if (!b)
		return -1;
	memcpy(buckets, b, h[2] * sizeof(double));
	const unsigned char *nat = h[3] ? take(c, 16) : NULL;
	if (h[3] && !nat)
		return -1;
	if (cached_def(cache, start, (size_t)(c->p - start), def))
		return 0;
	/* the same checks as a definition made through the API */
	if (names_build_family(def, h[0], name, help, label_ptrs, buckets, h[2]) != 0)
		return -1;
	if (nat) {
		int32_t schema;
		double zero_threshold;
		memcpy(&schema, nat, 4);
		memcpy(&zero_threshold, nat + 8, 8);
		if (names_build_native(def, schema, zero_threshold) != 0)
			return -1;
	}
	cache_def(cache, start, (size_t)(c->p - start), def);
	return 0;
}

static int same_def(const struct family_def *a, const struct family_def *b)
{
	return model_family_compat(a, b) == MODEL_SAME && strcmp(a->help, b->help) == 0;
}

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
static int merged_series(struct stage_snapshot *snap, struct merge_index *x, uint32_t fam,
                         const unsigned char *key, uint16_t keylen)
{
	uint32_t probe = series_hash(fam, key, keylen), i;
	while ((i = hash_next(&x->series, &probe)) != HASH_NONE) {
		const struct stage_slot *s = &snap->slots[i];
		if (s->family == fam && s->keylen == keylen && memcmp(s->key, key, keylen) == 0)
			return (int)i;
	}
	uint32_t ncells = snap->families[fam].ncells;
	if (array_grow32((void **)&snap->slots, &snap->cap_slots, snap->nslots + 1, sizeof *snap->slots) ||
	    array_grow32((void **)&snap->cells, &snap->cap_cells, snap->ncells + ncells, sizeof(double)))
		return -1;
	struct stage_slot *s = &snap->slots[snap->nslots];
	memset(s, 0, sizeof *s);
	s->family = fam;
	s->cell = snap->ncells;
	s->keylen = keylen;
	memcpy(s->key, key, keylen);
	model_family_zero(&snap->families[fam], &snap->cells[snap->ncells]);
	snap->ncells += ncells;
	if (index_series(x, snap, snap->nslots) != 0)
		return -1;
	return (int)snap->nslots++;
}

/* An exemplar of merged series slot: per (slot, bucket) the latest is kept
 * (in copy[0], sel 1), as a staging file holds it. */
static int merge_exemplar(struct stage_snapshot *snap, struct merge_index *x, uint32_t slot,
                          uint32_t bucket, double value, double ts, const unsigned char *labels,
                          uint32_t len)
{
	struct stage_exemplar *e = NULL;
	uint32_t probe = exemplar_hash(slot, bucket), i;
	while ((i = hash_next(&x->exemplars, &probe)) != HASH_NONE)
		if (snap->exemplars[i].slot == slot && snap->exemplars[i].bucket == bucket) {
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
		e->bucket = bucket;
		e->sel = 1;
		if (index_exemplar(x, snap, snap->nexemplars) != 0)
			return -1;
		snap->nexemplars++;
	} else if (ts <= e->copy[0].timestamp) {
		return 0;
	}
	e->copy[0].value = value;
	e->copy[0].timestamp = ts;
	e->copy[0].len = len;
	memcpy(e->copy[0].labels, labels, len);
	return 0;
}

/* Reads one exemplar entry (the record's part after its series); with
 * fam_of (series -> family) and defs, checks it.  0, or -1 if it is bad. */
struct record_exemplar {
	uint16_t series, bucket;
	uint32_t len;
	double value, ts;
	const unsigned char *labels;
};

static int unpack_exemplar(struct cursor *c, const unsigned char *base, uint16_t ns,
                         const uint16_t *fam_of, const struct family_def *defs,
                         struct record_exemplar *r)
{
	const unsigned char *h = take(c, 24);
	if (!h)
		return -1;
	memcpy(&r->series, h, 2);
	memcpy(&r->bucket, h + 2, 2);
	memcpy(&r->len, h + 4, 4);
	memcpy(&r->value, h + 8, 8);
	memcpy(&r->ts, h + 16, 8);
	r->labels = r->len <= MODEL_EXEMPLAR_BYTES ? take(c, r->len) : NULL;
	align(c, base);
	if (!r->labels || c->bad || r->series >= ns)
		return -1;
	const struct family_def *d = &defs[fam_of[r->series]];
	return r->bucket < model_family_exemplars((int)d->type, (int)d->nbuckets) &&
	               names_valid_exemplar((const char *)r->labels, r->len) && !isnan(r->value) &&
	               isfinite(r->ts) && r->ts > 0
	           ? 0
	           : -1;
}

/* One series entry of a record (the part after its families). */
struct record_series {
	uint16_t family, keylen;
	const unsigned char *key, *cells;
};

/* Reads the next series entry: 0, or -1 if it runs past the record or
 * names no family of it. */
static int next_series(struct cursor *c, const unsigned char *base, uint16_t nf,
                       const struct family_def *defs, struct record_series *s)
{
	const unsigned char *h = take(c, 8);
	if (!h)
		return -1;
	memcpy(&s->family, h, 2);
	memcpy(&s->keylen, h + 2, 2);
	s->key = take(c, s->keylen);
	align(c, base);
	s->cells = s->family < nf ? take(c, defs[s->family].ncells * sizeof(double)) : NULL;
	return s->key && s->cells ? 0 : -1;
}

/* The first pass over a record's series and exemplars (c after its
 * families): each well-formed and valid, the cursor ending at the
 * record's end.  0 (fam_of filled, *nx the exemplars), or 1 rejected. */
static int check_record(const unsigned char *rec, struct cursor c, uint16_t nf, uint16_t ns,
                        const struct family_def *defs, uint16_t *fam_of, uint32_t *nx)
{
	struct record_series s;
	for (uint16_t i = 0; i < ns; i++) {
		if (next_series(&c, rec, nf, defs, &s) != 0 || s.keylen > PF_KEY_MAX ||
		    !names_valid_key((const char *)s.key, s.keylen, defs[s.family].nlabels))
			return 1;
		const struct family_def *d = &defs[s.family];
		if (d->native) { /* a native part that no merge would take */
			double native[NATIVE_CELLS];
			memcpy(native, s.cells + (d->nbuckets + 2) * sizeof(double), sizeof native);
			if (!native_valid(native) || native[NATIVE_ZERO_THRESHOLD] != d->zero_threshold)
				return 1;
		}
		fam_of[i] = s.family;
	}
	*nx = 0;
	if (c.p != c.end) { /* the exemplar part */
		struct record_exemplar rx;
		const unsigned char *h = take(&c, 8);
		if (!h)
			return 1;
		memcpy(nx, h, 4);
		for (uint32_t k = 0; k < *nx; k++)
			if (unpack_exemplar(&c, rec, ns, fam_of, defs, &rx) != 0)
				return 1;
	}
	return c.p == c.end ? 0 : 1;
}

/* The record's families among the merged ones (map: record family ->
 * merged family): the same definition, or a new family; one that differs
 * only in having native buckets or not (records of two releases) is a
 * family of its own of the same name, which the fold puts in the same
 * series (db_family.c: narrower and wider definitions).  0, 1 rejected (a
 * clash with a definition seen first, or no room), -1 out of memory. */
static int merge_families(struct stage_snapshot *snap, const struct family_def *defs, uint16_t nf,
                          uint32_t *map)
{
	for (uint16_t i = 0; i < nf; i++) {
		uint32_t j = 0;
		int clash = 0;
		for (; j < snap->nfamilies; j++) {
			const struct family_def *o = &snap->families[j];
			if (strcmp(o->name, defs[i].name) != 0)
				continue;
			if (same_def(o, &defs[i]))
				break;
			int how = model_family_compat(o, &defs[i]);
			clash |= (how != MODEL_NARROWER && how != MODEL_WIDER) ||
			         strcmp(o->help, defs[i].help) != 0;
		}
		if (j == snap->nfamilies && clash)
			return 1;
		if (j == snap->nfamilies) {
			if (j == STAGE_MAX_FAMILIES)
				return 1;
			if (array_grow32((void **)&snap->families, &snap->cap_families, j + 1, sizeof defs[0]))
				return -1;
			snap->families[snap->nfamilies++] = defs[i];
		}
		map[i] = j;
	}
	return 0;
}

/* Adds a checked series' cells to its merged series (classic cells summed,
 * a native part merged the native way). */
static void add_cells(double *to, const struct family_def *d, const unsigned char *cells)
{
	uint32_t classic = d->type == PF_HISTOGRAM ? d->nbuckets + 2 : d->ncells;
	for (uint32_t k = 0; k < classic; k++) {
		double v;
		memcpy(&v, cells + k * sizeof(double), sizeof v);
		to[k] += v;
	}
	if (d->native) {
		double native[NATIVE_CELLS];
		memcpy(native, cells + classic * sizeof(double), sizeof native);
		native_merge(to + classic, native); /* checked by check_record */
	}
}

/* Checks one record's series and exemplars whole (c is after its
 * families), then adds them: -1 out of memory, 0 taken, 1 rejected.
 * fam_of and slot_of have room for ns entries. */
static int merge_checked(const unsigned char *rec, struct cursor c, uint16_t nf, uint16_t ns,
                         const struct family_def *defs, uint16_t *fam_of, int *slot_of,
                         struct stage_snapshot *snap, struct merge_index *x)
{
	uint32_t map[STAGE_MAX_FAMILIES]; /* record family -> merged family */
	uint32_t nx;
	int rc = check_record(rec, c, nf, ns, defs, fam_of, &nx);
	if (rc == 0)
		rc = merge_families(snap, defs, nf, map);
	if (rc != 0)
		return rc;
	struct record_series s;
	for (uint16_t i = 0; i < ns; i++) {
		next_series(&c, rec, nf, defs, &s); /* checked above */
		if ((slot_of[i] = merged_series(snap, x, map[s.family], s.key, s.keylen)) < 0)
			return -1;
		add_cells(&snap->cells[snap->slots[slot_of[i]].cell], &defs[s.family], s.cells);
	}
	if (nx)
		take(&c, 8);
	for (uint32_t k = 0; k < nx; k++) {
		struct record_exemplar rx;
		unpack_exemplar(&c, rec, ns, fam_of, defs, &rx); /* checked above */
		if (merge_exemplar(snap, x, (uint32_t)slot_of[rx.series], rx.bucket, rx.value, rx.ts,
		                   rx.labels, rx.len) != 0)
			return -1;
	}
	return 0;
}

/* Checks one record whole, then adds it: -1 out of memory, 0 taken,
 * 1 rejected. */
static int merge_record(const unsigned char *rec, uint32_t len, struct stage_snapshot *snap,
                        struct merge_index *x, struct def_cache *cache)
{
	struct cursor c = {rec + JOURNAL_HEADER_BYTES, rec + len, 0};
	uint16_t nf, ns;
	memcpy(&nf, rec + 12, 2);
	memcpy(&ns, rec + 14, 2);
	if (nf > STAGE_MAX_FAMILIES)
		return 1;
	struct family_def defs[STAGE_MAX_FAMILIES];
	for (uint16_t i = 0; i < nf; i++)
		if (unpack_family(&c, rec, &defs[i], cache) != 0)
			return 1;
	uint16_t *fam_of = malloc((ns ? ns : 1) * sizeof *fam_of);
	int *slot_of = malloc((ns ? ns : 1) * sizeof *slot_of);
	int rc = fam_of && slot_of ? merge_checked(rec, c, nf, ns, defs, fam_of, slot_of, snap, x) : -1;
	free(fam_of);
	free(slot_of);
	return rc;
}

int journal_merge(const char *buf, size_t len, struct stage_snapshot *snap, unsigned *bad)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;
	struct merge_index x = {0};
	struct def_cache *cache = calloc(1, sizeof *cache); /* none: built every time */
	int rc = 0;
	for (uint32_t i = 0; i < snap->nslots && rc == 0; i++)
		rc = index_series(&x, snap, i);
	for (uint32_t i = 0; i < snap->nexemplars && rc == 0; i++)
		rc = index_exemplar(&x, snap, i);
	while (rc == 0 && (size_t)(end - p) >= JOURNAL_HEADER_BYTES) {
		uint32_t magic, length, check;
		memcpy(&magic, p, 4);
		memcpy(&length, p + 4, 4);
		memcpy(&check, p + 8, 4);
		if (magic != JOURNAL_MAGIC || length < JOURNAL_HEADER_BYTES || length > (size_t)(end - p) ||
		    hash_fnv1a(HASH_FNV_BASIS, p + 12, length - 12) != check) {
			/* a torn record (its writer killed mid-write): find the next one */
			++*bad;
			const unsigned char *next = p + 1;
			uint32_t m = JOURNAL_MAGIC;
			while ((size_t)(end - next) >= 4 && memcmp(next, &m, 4) != 0)
				next++;
			p = (size_t)(end - next) >= 4 ? next : end;
			continue;
		}
		int r = merge_record(p, length, snap, &x, cache);
		if (r < 0)
			rc = -1;
		*bad += r > 0;
		p += length;
	}
	hash_free(&x.series);
	hash_free(&x.exemplars);
	free(cache);
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
	if (pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head) {
		memcpy(&len, head + 4, 4);
		if (len >= JOURNAL_HEADER_BYTES && len <= 65536 && (buf = malloc(len)) &&
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
