/* SPDX-License-Identifier: MIT */
/*
 * hash.h — the one hash function (32-bit FNV-1a) and the one hash table
 * (open addressing, linear probing) of the library.
 *
 * FNV-1a is also the checksum of a journal record (journal.h): its basis and
 * prime are part of that format and never change.
 *
 * The table holds item numbers (an index into the caller's own array, where
 * the keys are), never keys: so it needs no key type, no copy and no
 * callback.  It is kept at most half full, so a probe ends at an empty
 * place after a step or two.  An item is never removed alone (probing would
 * stop early at the hole): the caller empties the table (hash_reset) and
 * puts back what remains, as it does to grow it.
 *
 *     uint32_t probe = h, i;                       // find
 *     while ((i = hash_next(&t, &probe)) != HASH_NONE)
 *             if (item i has the key) return i;
 *     if (hash_full(&t, n) && (hash_reset(&t, n + 1) != 0 || put back items 0..n-1))
 *             fail;                                // grow: every item again
 *     hash_put(&t, h, n);                          // add item n
 */
#ifndef PROMFCGI_HASH_H
#define PROMFCGI_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_BASIS 2166136261u
#define HASH_FNV_PRIME 16777619u
#define HASH_NONE UINT32_MAX

/* FNV-1a of n bytes, from h (HASH_FNV_BASIS to begin; another value, such
 * as the basis ^ a family number, to hash a pair). */
static inline uint32_t hash_fnv1a(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * HASH_FNV_PRIME;
	return h;
}

struct hash_table {
	uint32_t *at;  /* item + 1 at each place; 0: empty */
	uint32_t size; /* places: a power of two, 0 before the first hash_reset */
};

/* Whether n items fill the table past half: then grow it before adding. */
static inline int hash_full(const struct hash_table *t, uint32_t n)
{
	return (uint64_t)2 * ((uint64_t)n + 1) > t->size;
}

/* The next item on the probe path of a hash (*probe starts as the hash),
 * HASH_NONE at the path's end. */
static inline uint32_t hash_next(const struct hash_table *t, uint32_t *probe)
{
	if (!t->size)
		return HASH_NONE;
	uint32_t at = t->at[*probe & (t->size - 1)];
	++*probe;
	return at ? at - 1 : HASH_NONE;
}

/* Adds item with hash h; the table must not be full (hash_full). */
static inline void hash_put(struct hash_table *t, uint32_t h, uint32_t item)
{
	while (t->at[h & (t->size - 1)])
		h++;
	t->at[h & (t->size - 1)] = item + 1;
}

/* Empties the table, with room for at least n items (64 places or more;
 * it never shrinks): 0, or -1 out of memory (the table then unchanged, its
 * items still in it). */
int hash_reset(struct hash_table *t, uint32_t n);
void hash_free(struct hash_table *t);

#endif
