/* SPDX-License-Identifier: MIT */
/*
 * journal_unpack.c — one journal record checked whole and unpacked
 * (journal_internal.h), in this release's layout (version 2) or 0.3.0's
 * (version 1): every definition as strictly as the API made it, every key,
 * every native part (a sparse one without building its 327 cells), every
 * exemplar.  Nothing of a record is taken unless all of it passes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/journal_internal.h"
#include "store/names.h"

/* A bounded reader over one record. */
struct cursor {
	const unsigned char *p, *end, *base; /* base: the record, which parts align to */
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

static void align(struct cursor *c)
{
	size_t off = (size_t)(c->p - c->base);
	take(c, JOURNAL_PAD8(off) - off);
}

static uint32_t u32_at(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint16_t u16_at(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static double f64_at(const unsigned char *p)
{
	double v;
	memcpy(&v, p, 8);
	return v;
}

/* ---- families --------------------------------------------------------------- */

static int cached_def(const struct jrec_cache *k, const unsigned char *raw, size_t len,
                      struct family_def *def)
{
	for (unsigned i = 0; k && i < k->n; i++)
		if (k->len[i] == len && memcmp(k->raw[i], raw, len) == 0) {
			*def = k->def[i];
			return 1;
		}
	return 0;
}

static void cache_def(struct jrec_cache *k, const unsigned char *raw, size_t len,
                      const struct family_def *def)
{
	if (!k)
		return;
	unsigned i = k->n < JOURNAL_DEF_CACHE ? k->n++ : k->next++ % JOURNAL_DEF_CACHE;
	k->raw[i] = raw;
	k->len[i] = len;
	k->def[i] = *def;
}

/* The part of a family entry both versions share, as read: names, help,
 * labels and buckets, copied out of the record by scan_classic, then built
 * into a definition with the API's checks by build_classic. */
struct classic {
	const unsigned char *h; /* type, nlabels, nbuckets, flags, name and help lengths */
	char name[PF_NAME_MAX], help[PF_HELP_MAX], labels[PF_LABELS_MAX][PF_LABEL_NAME_MAX];
	const char *label_ptrs[PF_LABELS_MAX + 1];
	double buckets[PF_BUCKETS_MAX];
};

static int scan_classic(struct cursor *c, struct classic *k)
{
	const unsigned char *h = k->h;
	uint16_t nl = u16_at(h + 4), hl = u16_at(h + 6);
	const unsigned char *n = take(c, nl), *t = take(c, hl);
	if (!n || !t || nl >= sizeof k->name || hl >= sizeof k->help || h[1] > PF_LABELS_MAX ||
	    h[2] > PF_BUCKETS_MAX)
		return -1;
	memcpy(k->name, n, nl);
	k->name[nl] = '\0';
	memcpy(k->help, t, hl);
	k->help[hl] = '\0';
	for (int i = 0; i < h[1]; i++) {
		const unsigned char *ll = take(c, 1), *l = ll ? take(c, *ll) : NULL;
		if (!l || *ll >= PF_LABEL_NAME_MAX)
			return -1;
		memcpy(k->labels[i], l, *ll);
		k->labels[i][*ll] = '\0';
		k->label_ptrs[i] = k->labels[i];
	}
	k->label_ptrs[h[1]] = NULL;
	align(c);
	const unsigned char *b = take(c, h[2] * sizeof(double));
	if (!b)
		return -1;
	memcpy(k->buckets, b, h[2] * sizeof(double));
	return 0;
}

/* the same checks as a definition made through the API */
static int build_classic(const struct classic *k, struct family_def *def)
{
	return names_build_family(def, k->h[0], k->name, k->help, k->label_ptrs, k->buckets, k->h[2]);
}

static int native_fields(struct family_def *def, const unsigned char *nat)
{
	int32_t schema;
	memcpy(&schema, nat, 4);
	return names_build_native(def, schema, f64_at(nat + 8));
}

/* 0.3.0's family entry: the head, the classic part, then with flag 1 the
 * native part. */
static int unpack_family_v1(struct cursor *c, struct family_def *def, struct jrec_cache *cache)
{
	struct classic k;
	const unsigned char *start = c->p;
	if (!(k.h = take(c, 8)) || k.h[3] > 1 || scan_classic(c, &k) != 0)
		return -1;
	const unsigned char *nat = k.h[3] ? take(c, 16) : NULL;
	if (c->bad)
		return -1;
	if (cached_def(cache, start, (size_t)(c->p - start), def))
		return 0;
	if (build_classic(&k, def) != 0 || (nat && native_fields(def, nat) != 0))
		return -1;
	cache_def(cache, start, (size_t)(c->p - start), def);
	return 0;
}

/* This release's family entry: its length, the head, the classic part,
 * then tagged fields to its end. */
static int unpack_family_v2(struct cursor *c, struct family_def *def, struct jrec_cache *cache)
{
	const unsigned char *start = c->p, *len = take(c, 4);
	uint32_t bytes = len ? u32_at(len) : 0;
	if (!len || bytes < 16 || bytes % 8 || bytes > (size_t)(c->end - start))
		return -1;
	struct cursor e = {c->p, start + bytes, c->base, 0};
	c->p = start + bytes;
	if (cached_def(cache, start, bytes, def))
		return 0;
	struct classic k;
	if (!(k.h = take(&e, 8)) || k.h[3] != 0 || scan_classic(&e, &k) != 0 ||
	    build_classic(&k, def) != 0)
		return -1;
	unsigned seen = 0;
	while (e.p < e.end) {
		const unsigned char *f = take(&e, 8), *v = f ? take(&e, u16_at(f + 2)) : NULL;
		align(&e);
		if (!v || e.bad)
			return -1;
		uint16_t tag = u16_at(f), size = u16_at(f + 2);
		/* a field this release does not know changes what the record
		 * means: refused, never read as if absent */
		if (tag != JOURNAL_TAG_NATIVE || size != 16 || (seen & 1u << tag) ||
		    native_fields(def, v) != 0)
			return -1;
		seen |= 1u << tag;
	}
	cache_def(cache, start, bytes, def);
	return 0;
}

/* ---- series ----------------------------------------------------------------- */

static int is_count(double c)
{
	return c >= 0 && c <= 0x1p53 && c == (double)(int64_t)c;
}

static int is_index(double c)
{
	return c >= -(1 << 20) && c <= (1 << 20) && c == (double)(int)c;
}

/* A sparse native part a merge would take: a head like native_valid's
 * (schema, starts, counts), its family's zero threshold, and non-empty
 * buckets at increasing places with whole counts. */
static int sparse_valid(const struct jrec_series *s, const struct family_def *d)
{
	const unsigned char *h = s->native;
	double schema = f64_at(h + 8 * NATIVE_SCHEMA);
	if (!(f64_at(h + 8 * NATIVE_COUNT) >= 0) || !is_count(f64_at(h + 8 * NATIVE_ZERO_COUNT)) ||
	    f64_at(h + 8 * NATIVE_ZERO_THRESHOLD) != d->zero_threshold ||
	    !(schema >= PF_NATIVE_SCHEMA_MIN && schema <= PF_NATIVE_SCHEMA_MAX) ||
	    schema != (double)(int)schema || !is_index(f64_at(h + 8 * NATIVE_POS_START)) ||
	    !is_index(f64_at(h + 8 * NATIVE_NEG_START)) || s->nused > 2 * NATIVE_BUCKETS)
		return 0;
	for (uint32_t i = 0; i < s->nused; i++) {
		uint16_t at = u16_at(s->at + 2 * i);
		if (at >= 2 * NATIVE_BUCKETS || (i && at <= u16_at(s->at + 2 * (i - 1))) ||
		    !is_count(f64_at(s->counts + 8 * i)))
			return 0;
	}
	return 1;
}

/* The next series entry (the part after the families): 0, or -1 if it
 * runs past the record, names no family of it, or is not sound. */
static int unpack_series(struct cursor *c, int v2, const struct jrec *r, struct jrec_series *s)
{
	const unsigned char *h = take(c, 8);
	if (!h)
		return -1;
	memset(s, 0, sizeof *s);
	s->family = v2 ? u32_at(h) : u16_at(h);
	s->keylen = v2 ? u32_at(h + 4) : u16_at(h + 2);
	if (s->family >= r->nf || s->keylen > PF_KEY_MAX)
		return -1;
	const struct family_def *d = &r->defs[s->family];
	uint32_t classic = d->native ? d->ncells - NATIVE_CELLS : d->ncells;
	s->key = take(c, s->keylen);
	align(c);
	s->cells = take(c, classic * sizeof(double));
	if (!s->cells || !names_valid_key((const char *)s->key, s->keylen, d->nlabels))
		return -1;
	if (!d->native)
		return 0;
	if (!v2) { /* every cell, checked as a merge would */
		double native[NATIVE_CELLS];
		if (!(s->native = take(c, sizeof native)))
			return -1;
		memcpy(native, s->native, sizeof native);
		return native_valid(native) && native[NATIVE_ZERO_THRESHOLD] == d->zero_threshold ? 0
		                                                                                   : -1;
	}
	const unsigned char *n;
	s->sparse = 1;
	if (!(s->native = take(c, NATIVE_POS * sizeof(double))) || !(n = take(c, 8)))
		return -1;
	s->nused = u32_at(n);
	if (s->nused > 2 * NATIVE_BUCKETS || !(s->at = take(c, 2 * s->nused)))
		return -1;
	align(c);
	s->counts = take(c, s->nused * sizeof(double));
	return s->counts && sparse_valid(s, d) ? 0 : -1;
}

/* ---- exemplars -------------------------------------------------------------- */

static int unpack_exemplar(struct cursor *c, int v2, const struct jrec *r, struct jrec_exemplar *x)
{
	const unsigned char *h = take(c, v2 ? 32 : 24);
	if (!h)
		return -1;
	x->series = v2 ? u32_at(h) : u16_at(h);
	x->bucket = v2 ? u32_at(h + 4) : u16_at(h + 2);
	x->len = v2 ? u32_at(h + 8) : u32_at(h + 4);
	x->value = f64_at(h + (v2 ? 16 : 8));
	x->ts = f64_at(h + (v2 ? 24 : 16));
	x->labels = x->len <= MODEL_EXEMPLAR_BYTES ? take(c, x->len) : NULL;
	align(c);
	if (!x->labels || c->bad || x->series >= r->ns)
		return -1;
	const struct family_def *d = &r->defs[r->series[x->series].family];
	return x->bucket < (uint32_t)model_family_exemplars((int)d->type, (int)d->nbuckets) &&
	               names_valid_exemplar((const char *)x->labels, x->len) && !isnan(x->value) &&
	               isfinite(x->ts) && x->ts > 0
	           ? 0
	           : -1;
}

/* ---- a record --------------------------------------------------------------- */

static int grow(struct jrec *r, uint32_t nf, uint32_t ns, uint32_t nx)
{
	return array_grow32((void **)&r->defs, &r->cap_defs, nf ? nf : 1, sizeof *r->defs) ||
	               array_grow32((void **)&r->series, &r->cap_series, ns ? ns : 1,
	                            sizeof *r->series) ||
	               array_grow32((void **)&r->ex, &r->cap_ex, nx ? nx : 1, sizeof *r->ex)
	           ? -1
	           : 0;
}

int journal_unpack(const unsigned char *rec, uint32_t len, struct jrec *r, struct jrec_cache *cache)
{
	int v2 = u32_at(rec) == JOURNAL_MAGIC;
	struct cursor c = {rec + JOURNAL_HEADER_BYTES, rec + len, rec, 0};
	uint32_t nf, ns, nx = 0;
	if (v2) {
		const unsigned char *h = take(&c, 16);
		if (!h)
			return 1;
		nf = u32_at(h);
		ns = u32_at(h + 4);
		nx = u32_at(h + 8);
	} else {
		nf = u16_at(rec + 12);
		ns = u16_at(rec + 14);
	}
	/* every entry takes 8 bytes at least: counts past that are damage */
	if (nf > len / 8 || ns > len / 8 || nx > len / 8)
		return 1;
	if (grow(r, nf, ns, nx) != 0)
		return -1;
	r->nf = nf;
	r->ns = ns;
	for (uint32_t i = 0; i < nf; i++)
		if ((v2 ? unpack_family_v2(&c, &r->defs[i], cache)
		        : unpack_family_v1(&c, &r->defs[i], cache)) != 0)
			return 1;
	for (uint32_t i = 0; i < ns; i++)
		if (unpack_series(&c, v2, r, &r->series[i]) != 0)
			return 1;
	if (!v2 && c.p != c.end) { /* 0.3.0's exemplar part, if any */
		const unsigned char *h = take(&c, 8);
		if (!h || (nx = u32_at(h)) > len / 8 || grow(r, nf, ns, nx) != 0)
			return h && nx <= len / 8 ? -1 : 1;
	}
	r->nx = nx;
	for (uint32_t i = 0; i < nx; i++)
		if (unpack_exemplar(&c, v2, r, &r->ex[i]) != 0)
			return 1;
	return c.p == c.end && !c.bad ? 0 : 1;
}

void journal_jrec_free(struct jrec *r)
{
	free(r->defs);
	free(r->series);
	free(r->ex);
	memset(r, 0, sizeof *r);
}
