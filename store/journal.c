/* SPDX-License-Identifier: MIT */
/*
 * journal.c — one-shot processes' records (see journal.h).
 *
 * Record layout (native byte order; same host only), every part 8-aligned:
 *   u32 magic, u32 length (whole record), u32 check (FNV-1a of the bytes
 *   after it), u16 nfamilies, u16 nslots;
 *   per family: u8 type, u8 nlabels, u8 nbuckets, u8 flags (1: native
 *     buckets; 0 in records of earlier releases), u16 name length,
 *     u16 help length; name, help, then per label u8 length + name; pad;
 *     f64 buckets[nbuckets]; with native buckets, i32 schema, u32 0,
 *     f64 zero threshold;
 *   per series: u16 family (index in this record), u16 key length, u32 0;
 *     key (label values, each NUL-terminated); pad; f64 cells[] (a native
 *     part's too, summed with native arithmetic when records are merged).
 *   then, if the process recorded exemplars (a record without this part is
 *   read too): u32 nexemplars, u32 0; per exemplar: u16 series (index in
 *   this record), u16 bucket, u32 labels length, f64 value, f64 timestamp;
 *   labels (name\0value\0...); pad.
 * Everything read back is checked: a record is taken whole or not at all.
 *
 * Appending never waits: an appender takes a shared flock without waiting
 * and checks that the file it holds is still the one named "journal"; a
 * scrape renames the journal aside first and then takes the exclusive lock,
 * which waits (bounded) for appenders that got in before the rename.  So a
 * record is either in a journal a scrape drains whole, or in the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/buf.h"
#include "store/journal.h"
#include "store/names.h"

#define HEADER_BYTES 16
#define PAD8(n) (((n) + 7u) & ~(size_t)7u)

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static int wanted(const struct family_def *f, enum journal_part part)
{
	return part == JOURNAL_GAUGES ? f->type == PF_GAUGE : f->type != PF_GAUGE;
}

static size_t family_bytes(const struct family_def *f)
{
	size_t n = 8 + strlen(f->name) + strlen(f->help);
	for (uint32_t i = 0; i < f->nlabels; i++)
		n += 1 + strlen(f->labels[i]);
	return PAD8(n) + f->nbuckets * sizeof(double) + (f->native ? 16 : 0);
}

static void put_bytes(unsigned char **p, const void *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

/* The exemplars a record carries: the current ones of its series. */
static const struct stage_exemplar *packed_exemplar(const struct stage_file *f, uint32_t i,
                                                    const int32_t *series_of)
{
	const struct stage_exemplar *e = &f->ex.e[i];
	if (e->sel < 1 || e->sel > 2 || e->slot >= STAGE_MAX_SLOTS || series_of[e->slot] < 0 ||
	    e->copy[e->sel - 1].len > MODEL_EXEMPLAR_BYTES)
		return NULL;
	return e;
}

/* The exemplar part (see the layout above) of the series packed
 * (series_of: file slot -> series in the record, or -1): its size, 0 if
 * there is none; with p, also written there. */
static size_t pack_exemplars(const struct stage_file *f, const int32_t *series_of,
                             unsigned char **p)
{
	uint32_t n = 0, nx = f->ex.n < STAGE_MAX_EXEMPLARS ? f->ex.n : STAGE_MAX_EXEMPLARS;
	size_t size = 8;
	unsigned char *count = p ? *p : NULL;
	if (p)
		*p += 8; /* the count, filled in below */
	for (uint32_t i = 0; i < nx; i++) {
		const struct stage_exemplar *e = packed_exemplar(f, i, series_of);
		if (!e)
			continue;
		const struct exemplar *x = &e->copy[e->sel - 1];
		size += 24 + PAD8(x->len);
		n++;
		if (!p)
			continue;
		uint16_t head[2] = {(uint16_t)series_of[e->slot], (uint16_t)e->bucket};
		unsigned char *start = *p;
		put_bytes(p, head, 4);
		put_bytes(p, &x->len, 4);
		put_bytes(p, &x->value, 8);
		put_bytes(p, &x->timestamp, 8);
		put_bytes(p, x->labels, x->len);
		*p = start + 24 + PAD8(x->len);
	}
	if (count)
		memcpy(count, &n, 4);
	return n ? size : 0; /* none: no part at all, the record as before exemplars */
}

int journal_pack(const struct stage_file *f, enum journal_part part, char **out, size_t *len)
{
	uint32_t nf = f->hdr.nfamilies, ns = f->hdr.nslots;
	int16_t index[STAGE_MAX_FAMILIES]; /* family in the file -> in the record, or -1 */
	int32_t *series_of = NULL;         /* slot in the file -> series in the record, or -1 */
	uint16_t nused = 0, nslots = 0;
	size_t size = HEADER_BYTES;
	memset(index, -1, sizeof index);
	for (uint32_t i = 0; i < ns && i < STAGE_MAX_SLOTS; i++) {
		const struct stage_slot *s = &f->slots[i];
		/* the totals name the gauges' families too (no values): a family is
		 * in the store as soon as a process defined it, whatever its type */
		if (s->family >= nf || (part == JOURNAL_GAUGES && !wanted(&f->families[s->family], part)))
			continue;
		if (index[s->family] < 0) {
			index[s->family] = (int16_t)nused++;
			size += family_bytes(&f->families[s->family]);
		}
		if (!wanted(&f->families[s->family], part))
			continue;
		size += 8 + PAD8(s->keylen) + f->families[s->family].ncells * sizeof(double);
		nslots++;
	}
	size_t ex_size = 0;
	if (part == JOURNAL_TOTALS && f->ex.n) {
		if (!(series_of = malloc(STAGE_MAX_SLOTS * sizeof *series_of)))
			return -1;
		int32_t next = 0;
		for (uint32_t i = 0; i < STAGE_MAX_SLOTS; i++)
			series_of[i] = i < ns && f->slots[i].family < nf &&
			                       wanted(&f->families[f->slots[i].family], part)
			                   ? next++
			                   : -1;
		size += ex_size = pack_exemplars(f, series_of, NULL);
	}
	unsigned char *rec = calloc(1, size), *p = rec + HEADER_BYTES;
	if (!rec) {
		free(series_of);
		return -1;
	}
	for (int16_t want = 0; want < (int16_t)nused; want++) /* families in record order */
		for (uint32_t i = 0; i < nf; i++) {
			if (index[i] != want)
				continue;
			const struct family_def *d = &f->families[i];
			unsigned char *start = p;
			uint16_t nl = (uint16_t)strlen(d->name), hl = (uint16_t)strlen(d->help);
			unsigned char head[4] = {(unsigned char)d->type, (unsigned char)d->nlabels,
			                         (unsigned char)d->nbuckets, d->native ? 1 : 0};
			put_bytes(&p, head, 4);
			put_bytes(&p, &nl, 2);
			put_bytes(&p, &hl, 2);
			put_bytes(&p, d->name, nl);
			put_bytes(&p, d->help, hl);
			for (uint32_t l = 0; l < d->nlabels; l++) {
				unsigned char ll = (unsigned char)strlen(d->labels[l]);
				put_bytes(&p, &ll, 1);
				put_bytes(&p, d->labels[l], ll);
			}
			p = start + PAD8((size_t)(p - start));
			put_bytes(&p, d->buckets, d->nbuckets * sizeof(double));
			if (d->native) {
				uint32_t zero = 0;
				put_bytes(&p, &d->schema, 4);
				put_bytes(&p, &zero, 4);
				put_bytes(&p, &d->zero_threshold, 8);
			}
		}
	for (uint32_t i = 0; i < ns && i < STAGE_MAX_SLOTS; i++) {
		const struct stage_slot *s = &f->slots[i];
		if (s->family >= nf || index[s->family] < 0 || !wanted(&f->families[s->family], part))
			continue;
		uint16_t fam = (uint16_t)index[s->family], kl = (uint16_t)s->keylen;
		uint32_t zero = 0;
		put_bytes(&p, &fam, 2);
		put_bytes(&p, &kl, 2);
		put_bytes(&p, &zero, 4);
		put_bytes(&p, s->key, kl);
		p = rec + PAD8((size_t)(p - rec));
		put_bytes(&p, &f->cells[s->cell], f->families[s->family].ncells * sizeof(double));
	}
	if (ex_size)
		pack_exemplars(f, series_of, &p);
	free(series_of);
	uint32_t magic = JOURNAL_MAGIC, length = (uint32_t)size;
	memcpy(rec, &magic, 4);
	memcpy(rec + 4, &length, 4);
	memcpy(rec + 12, &nused, 2);
	memcpy(rec + 14, &nslots, 2);
	uint32_t check = fnv1a(rec + 12, size - 12);
	memcpy(rec + 8, &check, 4);
	*out = (char *)rec;
	*len = size;
	return 0;
}

int journal_append(const char *dir, const void *rec, size_t len)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, JOURNAL_FILE);
	for (int attempt = 0; attempt < 8; attempt++) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
		if (fd < 0 && errno == ENOENT && (mkdir(dir, 0770) == 0 || errno == EEXIST))
			fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
		if (fd < 0)
			return -1;
		struct stat held, named;
		if (flock(fd, LOCK_SH | LOCK_NB) != 0 || fstat(fd, &held) != 0 ||
		    stat(path, &named) != 0 || held.st_ino != named.st_ino || held.st_dev != named.st_dev) {
			close(fd); /* renamed aside for a drain: the next open makes a new one */
			continue;
		}
		ssize_t w;
		do
			w = write(fd, rec, len);
		while (w < 0 && errno == EINTR);
		int e = errno;
		close(fd);
		if (w == (ssize_t)len)
			return 0;
		errno = w < 0 ? e : ENOSPC; /* a short write leaves a torn record: rejected */
		return -1;
	}
	errno = EAGAIN;
	return -1;
}

/* Claims a marker: the first of o-0, o-1, ... whose lock is free (a
 * marker left by a finished process is free again). */
static int claim_marker(const char *dir)
{
	char path[4200];
	/* lowest first: the pool stays as large as the most requests ever in
	 * flight at once */
	for (unsigned i = 0; i < JOURNAL_MARKERS_MAX; i++) {
		snprintf(path, sizeof path, "%s/o-%u", dir, i);
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
		if (fd < 0 && errno == ENOENT && (mkdir(dir, 0770) == 0 || errno == EEXIST))
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		close(fd);
	}
	errno = EBUSY;
	return -1;
}

int journal_mark(const char *dir, int fd, const void *rec, size_t len)
{
	if (fd < 0 && (fd = claim_marker(dir)) < 0)
		return -1;
	if (pwrite(fd, rec, len, 0) != (ssize_t)len) { /* readers take the first record only */
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
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
	unsigned char head[HEADER_BYTES];
	uint32_t len = 0;
	char *buf = NULL;
	if (pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head) {
		memcpy(&len, head + 4, 4);
		if (len >= HEADER_BYTES && len <= 65536 && (buf = malloc(len)) &&
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

int journal_rotate(const char *dir, char *path, size_t len)
{
	char from[4200];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(from, sizeof from, "%s/%s", dir, JOURNAL_FILE);
	snprintf(path, len, "%s/j-%ld-%lld%09ld", dir, (long)getpid(), (long long)now.tv_sec,
	         now.tv_nsec);
	if (rename(from, path) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

/* --- reading ------------------------------------------------------------ */

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
	take(c, PAD8(off) - off);
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

/* Where merged series are found: (family, key) -> slot + 1, open
 * addressing, at most half full; and merged exemplars: (slot, bucket) ->
 * exemplar + 1. */
struct series_index {
	uint32_t *at;
	uint32_t size;
	uint32_t *ex_at;
	uint32_t ex_size;
};

static uint32_t series_hash(uint32_t fam, const unsigned char *key, uint16_t keylen)
{
	return fnv1a(key, keylen) ^ (fam * 2654435761u);
}

static int index_add(struct series_index *x, const struct stage_snapshot *snap, uint32_t slot)
{
	if (2 * (slot + 1) > x->size) { /* grow and put every slot back */
		uint32_t size = x->size ? 2 * x->size : 64;
		while (size < 2 * (slot + 1))
			size *= 2;
		uint32_t *at = calloc(size, sizeof *at);
		if (!at)
			return -1;
		free(x->at);
		x->at = at;
		x->size = size;
		for (uint32_t i = 0; i < slot; i++)
			if (index_add(x, snap, i) != 0)
				return -1;
	}
	const struct stage_slot *s = &snap->slots[slot];
	uint32_t h = series_hash(s->family, (const unsigned char *)s->key, (uint16_t)s->keylen);
	while (x->at[h & (x->size - 1)])
		h++;
	x->at[h & (x->size - 1)] = slot + 1;
	return 0;
}

/* The merged series of family fam with key, created at zero if new. */
static int merged_series(struct stage_snapshot *snap, struct series_index *x, uint32_t fam,
                       const unsigned char *key, uint16_t keylen)
{
	for (uint32_t h = series_hash(fam, key, keylen); x->size && x->at[h & (x->size - 1)]; h++) {
		const struct stage_slot *s = &snap->slots[x->at[h & (x->size - 1)] - 1];
		if (s->family == fam && s->keylen == keylen && memcmp(s->key, key, keylen) == 0)
			return (int)(x->at[h & (x->size - 1)] - 1);
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
	if (index_add(x, snap, snap->nslots) != 0)
		return -1;
	return (int)snap->nslots++;
}

static uint32_t exemplar_hash(uint32_t slot, uint32_t bucket)
{
	return (slot * 64u + bucket) * 2654435761u; /* bucket <= PF_BUCKETS_MAX < 64 */
}

static int exemplar_index_add(struct series_index *x, const struct stage_snapshot *snap,
                              uint32_t i)
{
	if (2 * (i + 1) > x->ex_size) {
		uint32_t size = x->ex_size ? 2 * x->ex_size : 64;
		while (size < 2 * (i + 1))
			size *= 2;
		uint32_t *at = calloc(size, sizeof *at);
		if (!at)
			return -1;
		free(x->ex_at);
		x->ex_at = at;
		x->ex_size = size;
		for (uint32_t j = 0; j < i; j++)
			if (exemplar_index_add(x, snap, j) != 0)
				return -1;
	}
	const struct stage_exemplar *e = &snap->exemplars[i];
	uint32_t h = exemplar_hash(e->slot, e->bucket);
	while (x->ex_at[h & (x->ex_size - 1)])
		h++;
	x->ex_at[h & (x->ex_size - 1)] = i + 1;
	return 0;
}

/* An exemplar of merged series slot: per (slot, bucket) the latest is kept
 * (in copy[0], sel 1), as a staging file holds it. */
static int merge_exemplar(struct stage_snapshot *snap, struct series_index *x, uint32_t slot,
                          uint32_t bucket, double value, double ts, const unsigned char *labels,
                          uint32_t len)
{
	struct stage_exemplar *e = NULL;
	for (uint32_t h = exemplar_hash(slot, bucket); x->ex_size && x->ex_at[h & (x->ex_size - 1)];
	     h++) {
		struct stage_exemplar *o = &snap->exemplars[x->ex_at[h & (x->ex_size - 1)] - 1];
		if (o->slot == slot && o->bucket == bucket) {
			e = o;
			break;
		}
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
		if (exemplar_index_add(x, snap, snap->nexemplars) != 0)
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

/* Checks one record's series and exemplars whole (c is after its
 * families), then adds them: -1 out of memory, 0 taken, 1 rejected.
 * fam_of and slot_of have room for ns entries. */
static int merge_checked(const unsigned char *rec, struct cursor c, uint16_t nf, uint16_t ns,
                         const struct family_def *defs, uint16_t *fam_of, int *slot_of,
                         struct stage_snapshot *snap, struct series_index *x)
{
	uint32_t map[STAGE_MAX_FAMILIES]; /* record family -> merged family */
	/* first pass: every series and exemplar well-formed, before anything
	 * is added */
	struct cursor check = c;
	for (uint16_t i = 0; i < ns; i++) {
		const unsigned char *h = take(&check, 8);
		uint16_t fam, kl;
		if (!h)
			return 1;
		memcpy(&fam, h, 2);
		memcpy(&kl, h + 2, 2);
		const unsigned char *key = take(&check, kl);
		align(&check, rec);
		const unsigned char *cells = fam < nf ? take(&check, defs[fam].ncells * sizeof(double)) : NULL;
		if (fam >= nf || !key || kl > PF_KEY_MAX ||
		    !names_valid_key((const char *)key, kl, defs[fam].nlabels) || !cells)
			return 1;
		if (defs[fam].native) { /* a native part that no merge would take */
			double native[NATIVE_CELLS];
			memcpy(native, cells + (defs[fam].nbuckets + 2) * sizeof(double), sizeof native);
			if (!native_valid(native) ||
			    native[NATIVE_ZERO_THRESHOLD] != defs[fam].zero_threshold)
				return 1;
		}
		fam_of[i] = fam;
	}
	uint32_t nx = 0;
	struct record_exemplar rx;
	if (check.p != check.end) { /* the exemplar part */
		const unsigned char *h = take(&check, 8);
		if (!h)
			return 1;
		memcpy(&nx, h, 4);
		for (uint32_t k = 0; k < nx; k++)
			if (unpack_exemplar(&check, rec, ns, fam_of, defs, &rx) != 0)
				return 1;
	}
	if (check.p != check.end)
		return 1;
	for (uint16_t i = 0; i < nf; i++) {
		/* the same definition, or a new family; one that differs only in
		 * having native buckets or not (records of two releases) is a
		 * family of its own of the same name, which the fold puts in the
		 * same series (db.c: narrower and wider definitions) */
		uint32_t j = 0;
		int clash = 0;
		for (; j < snap->nfamilies; j++) {
			const struct family_def *o = &snap->families[j];
			if (strcmp(o->name, defs[i].name) != 0)
				continue;
			if (same_def(o, &defs[i]))
				break;
			int how = model_family_compat(o, &defs[i]);
			clash |= (how != MODEL_NARROWER && how != MODEL_WIDER) || strcmp(o->help, defs[i].help) != 0;
		}
		if (j == snap->nfamilies && clash)
			return 1; /* clashes with a definition seen first */
		if (j == snap->nfamilies) {
			if (j == STAGE_MAX_FAMILIES ||
			    array_grow32((void **)&snap->families, &snap->cap_families, j + 1, sizeof defs[0]))
				return j == STAGE_MAX_FAMILIES ? 1 : -1;
			snap->families[snap->nfamilies++] = defs[i];
		}
		map[i] = j;
	}
	for (uint16_t i = 0; i < ns; i++) {
		const unsigned char *h = take(&c, 8);
		uint16_t fam, kl;
		memcpy(&fam, h, 2);
		memcpy(&kl, h + 2, 2);
		const unsigned char *key = take(&c, kl);
		align(&c, rec);
		const unsigned char *cells = take(&c, defs[fam].ncells * sizeof(double));
		int s = merged_series(snap, x, map[fam], key, kl);
		if (s < 0)
			return -1;
		slot_of[i] = s;
		double *to = &snap->cells[snap->slots[s].cell];
		uint32_t classic = defs[fam].type == PF_HISTOGRAM ? defs[fam].nbuckets + 2 : defs[fam].ncells;
		for (uint32_t k = 0; k < classic; k++) {
			double v;
			memcpy(&v, cells + k * sizeof(double), sizeof v);
			to[k] += v;
		}
		if (defs[fam].native) {
			double native[NATIVE_CELLS];
			memcpy(native, cells + classic * sizeof(double), sizeof native);
			native_merge(to + classic, native); /* checked above */
		}
	}
	if (nx)
		take(&c, 8);
	for (uint32_t k = 0; k < nx; k++) {
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
                        struct series_index *x, struct def_cache *cache)
{
	struct cursor c = {rec + HEADER_BYTES, rec + len, 0};
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
	struct series_index x = {0};
	struct def_cache *cache = calloc(1, sizeof *cache); /* none: built every time */
	int rc = 0;
	for (uint32_t i = 0; i < snap->nslots && rc == 0; i++)
		rc = index_add(&x, snap, i);
	for (uint32_t i = 0; i < snap->nexemplars && rc == 0; i++)
		rc = exemplar_index_add(&x, snap, i);
	while (rc == 0 && (size_t)(end - p) >= HEADER_BYTES) {
		uint32_t magic, length, check;
		memcpy(&magic, p, 4);
		memcpy(&length, p + 4, 4);
		memcpy(&check, p + 8, 4);
		if (magic != JOURNAL_MAGIC || length < HEADER_BYTES || length > (size_t)(end - p) ||
		    fnv1a(p + 12, length - 12) != check) {
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
	free(x.at);
	free(x.ex_at);
	free(cache);
	return rc;
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
	const char *base = strrchr(path, '/');
	snprintf(snap->path, sizeof snap->path, "%s", path);
	snprintf(snap->name, sizeof snap->name, "%s", base ? base + 1 : path);
	int rc = buf && journal_merge(buf, got, snap, bad) == 0 ? 0 : -1;
	free(buf);
	if (rc != 0)
		stage_snapshot_free(snap);
	return rc;
}
