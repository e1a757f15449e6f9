/* SPDX-License-Identifier: MIT */
/*
 * registry_define.c — families and series handles (promfcgi.h): a
 * definition checked and kept (one per name, the same way everywhere), a
 * series resolved once to its slot in the staging file, found again by
 * hash.  A refusal says why (notice.h) and gives NULL.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/gauge.h"
#include "store/names.h"
#include "store/notice.h"
#include "store/registry_internal.h"

const double pf_default_buckets[] = {.005, .01, .025, .05, .075, .1, .25,
                                     .5,   .75, 1,   2.5,  5,   7.5, 10};
const int pf_default_nbuckets = sizeof pf_default_buckets / sizeof pf_default_buckets[0];

/* "a counter with labels (kind)", "a histogram with 14 buckets and native
 * buckets (schema 3)": a definition, in a message. */
static void describe(char *out, size_t len, const struct family_def *d)
{
	static const char *const types[] = {"", "a counter", "a gauge", "a histogram", "a summary",
	                                    "an info", "a state set"};
	size_t n = (size_t)snprintf(out, len, "%s", d->type <= PF_STATESET ? types[d->type] : "?");
	if (d->type == PF_GAUGE && d->mode != PF_GAUGE_LIVESUM && n < len)
		n += (size_t)snprintf(out + n, len - n, " (%s)", names_gauge_mode((int)d->mode));
	for (uint32_t i = 0; i < d->nlabels && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", i ? ", " : " with labels (", d->labels[i]);
	if (d->nlabels && n < len)
		n += (size_t)snprintf(out + n, len - n, ")");
	if (d->type == PF_HISTOGRAM && n < len)
		n += (size_t)snprintf(out + n, len - n, ", %u classic buckets", d->nbuckets);
	if (d->native && n < len)
		n += (size_t)snprintf(out + n, len - n, ", native buckets (schema %d)", d->schema);
	if (d->type == PF_STATESET && n < len)
		n += (size_t)snprintf(out + n, len - n, ", %u states", d->nstates);
	if (d->unit[0] && n < len)
		snprintf(out + n, len - n, ", unit %s", d->unit);
}

static uint32_t name_hash(const char *name)
{
	return hash_fnv1a(HASH_FNV_BASIS, name, strlen(name));
}

/* Room in the name table for one more family (every family put back to
 * grow it): 0, or -1 out of memory. */
static int family_room(void)
{
	if (!hash_full(&registry.by_name, registry.nfamilies))
		return 0;
	if (hash_reset(&registry.by_name, registry.nfamilies + 1) != 0)
		return -1;
	for (uint32_t i = 0; i < registry.nfamilies; i++)
		hash_put(&registry.by_name, name_hash(((struct pf_family *)blocks_at(&registry.families, i))->def.name),
		         i);
	return 0;
}

static pf_family *define_def(const char *call, const struct family_def *def)
{
	uint32_t h = name_hash(def->name), probe = h, i;
	while ((i = hash_next(&registry.by_name, &probe)) != HASH_NONE) {
		struct pf_family *f = blocks_at(&registry.families, i);
		if (strcmp(f->def.name, def->name) != 0)
			continue;
		if (model_family_compat(&f->def, def) == MODEL_SAME && strcmp(f->def.help, def->help) == 0 &&
		    strcmp(f->def.unit, def->unit) == 0)
			return f;
		char a[200], b[200];
		describe(a, sizeof a, &f->def);
		describe(b, sizeof b, def);
		if (strcmp(a, b) == 0)
			snprintf(b, sizeof b, "another help text");
		notice("%s(\"%s\"): clashes with its earlier definition in this process, %s; this one "
		       "is %s: a family is defined once, the same way everywhere",
		       call, def->name, a, b);
		return NULL;
	}
	int index = -1;
	if (family_room() != 0 || blocks_reserve(&registry.families, registry.nfamilies, sizeof(struct pf_family)))
		errno = ENOMEM;
	else
		index = stage_add_family(&registry.stage, def);
	if (index < 0) {
		/* no room (a full disk, no memory): this family goes undefined,
		 * which is said and counted like any store failure; the others
		 * go on */
		log_error(LOG_STAGE, "no room for family %s in this process's staging file: %s; "
		          "not recorded", def->name, strerror(errno));
		return NULL;
	}
	struct pf_family *f = blocks_at(&registry.families, registry.nfamilies);
	f->index = (uint32_t)index;
	f->def = *def;
	hash_put(&registry.by_name, h, registry.nfamilies++);
	return f;
}

/* Logs a refused definition: the call, the family's name if it has a
 * usable one, and why. */
static pf_family *refuse_def(const char *call, const char *name, const char *why)
{
	if (name && pf_valid_metric_name(name))
		notice("%s(\"%s\"): %s", call, name, why);
	else
		notice("%s: %s", call, why);
	return NULL;
}

static int store_open(const char *call)
{
	if (!registry.open)
		notice("%s: no store is open: call pf_open (or pf_http_new) first, after any fork",
		        call);
	return registry.open;
}

/* The options a program passed, as this release knows them: the first
 * size bytes of its struct, the rest zero; NULL if it is not one (size 0,
 * or larger than this release's with fields set that it does not know). */
static const struct pf_family_options *options_of(const struct pf_family_options *o,
                                                  struct pf_family_options *copy)
{
	memset(copy, 0, sizeof *copy);
	if (!o)
		return copy;
	if (o->size == 0)
		return NULL;
	for (size_t i = sizeof *copy; i < o->size; i++)
		if (((const unsigned char *)o)[i])
			return NULL;
	memcpy(copy, o, o->size < sizeof *copy ? o->size : sizeof *copy);
	return copy;
}

/* A definition with options (pf_define and its short forms; call: who
 * asks). */
static pf_family *define_with(const char *call, enum pf_type type, const char *name,
                              const char *help, const char *const *labels,
                              const struct pf_family_options *options)
{
	struct pf_family_options copy;
	const struct pf_family_options *o = options_of(options, &copy);
	struct family_def def;
	if (!store_open(call))
		return NULL;
	if (!o)
		return refuse_def(call, name, "options: .size is 0, or larger than this release's "
		                              "struct pf_family_options with fields it does not know set");
	const double *buckets = o->buckets;
	int nbuckets = buckets ? o->nbuckets : 0;
	if (type == PF_HISTOGRAM && !buckets && !o->native) {
		buckets = pf_default_buckets;
		nbuckets = pf_default_nbuckets;
	}
	if (names_build_family(&def, type, name, help, labels, buckets, nbuckets) != 0 ||
	    (o->native && names_build_native(&def, o->schema, o->zero_threshold) != 0) ||
	    names_build_kind(&def, o->mode, o->unit, o->states) != 0)
		return refuse_def(call, name, notice_reason());
	return define_def(call, &def);
}

pf_family *pf_define(enum pf_type type, const char *name, const char *help,
                     const char *const *labels, const struct pf_family_options *options)
{
	return define_with("pf_define", type, name, help, labels, options);
}

pf_family *pf_gauge_mode(const char *name, const char *help, const char *const *labels,
                         enum pf_gauge_mode mode)
{
	struct pf_family_options o = {.size = sizeof o, .mode = mode};
	return define_with("pf_gauge_mode", PF_GAUGE, name, help, labels, &o);
}

pf_family *pf_summary(const char *name, const char *help, const char *const *labels)
{
	return define_with("pf_summary", PF_SUMMARY, name, help, labels, NULL);
}

pf_family *pf_info(const char *name, const char *help, const char *const *labels)
{
	return define_with("pf_info", PF_INFO, name, help, labels, NULL);
}

pf_family *pf_stateset(const char *name, const char *help, const char *const *labels,
                       const char *const *states)
{
	struct pf_family_options o = {.size = sizeof o, .states = states};
	return define_with("pf_stateset", PF_STATESET, name, help, labels, &o);
}

static pf_family *define(const char *call, int type, const char *name, const char *help,
                         const char *const *labels, const double *buckets, int nbuckets)
{
	struct family_def def;
	if (!store_open(call))
		return NULL;
	if (names_build_family(&def, type, name, help, labels, buckets, nbuckets) != 0)
		return refuse_def(call, name, notice_reason());
	return define_def(call, &def);
}

pf_family *pf_counter(const char *name, const char *help, const char *const *labels)
{
	return define("pf_counter", PF_COUNTER, name, help, labels, NULL, 0);
}

pf_family *pf_gauge(const char *name, const char *help, const char *const *labels)
{
	return define("pf_gauge", PF_GAUGE, name, help, labels, NULL, 0);
}

pf_family *pf_histogram(const char *name, const char *help, const char *const *labels,
                        const double *buckets, int nbuckets)
{
	if (!buckets) {
		buckets = pf_default_buckets;
		nbuckets = pf_default_nbuckets;
	}
	return define("pf_histogram", PF_HISTOGRAM, name, help, labels, buckets, nbuckets);
}

pf_family *pf_histogram_native(const char *name, const char *help, const char *const *labels,
                               const double *buckets, int nbuckets, int schema,
                               double zero_threshold)
{
	static const char call[] = "pf_histogram_native";
	struct family_def def;
	if (!buckets)
		nbuckets = 0;
	if (!store_open(call))
		return NULL;
	if (names_build_family(&def, PF_HISTOGRAM, name, help, labels, buckets, nbuckets) != 0 ||
	    names_build_native(&def, schema, zero_threshold) != 0)
		return refuse_def(call, name, notice_reason());
	return define_def(call, &def);
}

static uint32_t series_hash(uint32_t family, const char *key, uint32_t len)
{
	return hash_fnv1a(HASH_FNV_BASIS ^ family, key, len);
}

/* Room in the table and the pool for slot n, the next (every slot put
 * back to grow the table): 0, or -1 out of memory. */
static int slot_room(uint32_t n)
{
	if (blocks_reserve(&registry.series, n, sizeof(struct pf_series)) != 0)
		return -1;
	if (!hash_full(&registry.by_key, n))
		return 0;
	if (hash_reset(&registry.by_key, n + 1) != 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		const struct stage_slot_rec *s = stage_slot(&registry.stage, i);
		hash_put(&registry.by_key, series_hash(s->family, stage_key(&registry.stage, s), s->keylen), i);
	}
	return 0;
}

/* Whether values holds exactly one value per label name of f, then NULL
 * (reading at most one past the label names' count); if not, says so. */
static int values_fit(const pf_family *f, const char *const *values)
{
	int n = (int)f->def.nlabels, k = 0;
	while (values && k <= n && values[k])
		k++;
	if (k == n)
		return 1;
	char names[PF_LABELS_MAX * (PF_LABEL_NAME_MAX + 2)] = "";
	for (int i = 0, at = 0; i < n; i++)
		at += snprintf(names + at, sizeof names - (size_t)at, "%s%s", i ? ", " : "", f->def.labels[i]);
	if (!values)
		notice("pf_with(%s): values is NULL, and the family has %d label name%s (%s)",
		        f->def.name, n, n == 1 ? "" : "s", names);
	else if (k < n)
		notice("pf_with(%s): %d value%s before the NULL, for %d label name%s (%s): one value "
		        "per label name, then NULL", f->def.name, k, k == 1 ? "" : "s", n,
		        n == 1 ? "" : "s", names);
	else
		notice("pf_with(%s): more than %d value%s, or no NULL after them, for %d label name%s"
		        "%s%s%s: one value per label name, then NULL", f->def.name, n, n == 1 ? "" : "s",
		        n, n == 1 ? "" : "s", n ? " (" : "", names, n ? ")" : "");
	return 0;
}

pf_series *pf_with(pf_family *f, const char *const *values)
{
	char key[PF_KEY_MAX];
	if (!f) /* its definition was refused, and that was logged */
		return NULL;
	if (!registry.stage.h) {
		notice("pf_with(%s): no store is open (pf_close was called?)", f->def.name);
		return NULL;
	}
	if (!values_fit(f, values))
		return NULL;
	int len = names_encode_key(values, (int)f->def.nlabels, key, sizeof key);
	if (len < 0) {
		notice("pf_with(%s): %s", f->def.name, notice_reason());
		return NULL;
	}
	uint32_t h = series_hash(f->index, key, (uint32_t)len), probe = h, at;
	while ((at = hash_next(&registry.by_key, &probe)) != HASH_NONE) {
		const struct stage_slot_rec *s = stage_slot(&registry.stage, at);
		if (s->family == f->index && s->keylen == (uint32_t)len &&
		    memcmp(stage_key(&registry.stage, s), key, (size_t)len) == 0)
			return blocks_at(&registry.series, at);
	}
	uint64_t n = stage_count(&registry.stage, STAGE_SLOTS);
	long slot = -1;
	if (n >= UINT32_MAX || slot_room((uint32_t)n) != 0)
		errno = ENOMEM;
	else
		slot = stage_add_slot(&registry.stage, f->index, key, (uint32_t)len);
	if (slot < 0) {
		/* no room (a full disk, no memory): this series goes unrecorded,
		 * which is said and counted like any store failure; every other
		 * series goes on */
		log_error(LOG_STAGE, "no room for another series (of %s) in this process's staging "
		          "file: %s; not recorded", f->def.name, strerror(errno));
		return NULL;
	}
	hash_put(&registry.by_key, h, (uint32_t)slot);
	struct pf_series *s = blocks_at(&registry.series, (uint32_t)slot);
	s->family = f;
	s->cell = stage_slot(&registry.stage, (uint64_t)slot)->cell;
	s->gen = 0; /* cells_of finds them */
	s->ex = NULL;
	s->slot = (uint32_t)slot;
	registry.nseries = (uint32_t)slot + 1;
	if (f->def.type == PF_INFO) /* an info's series is shown while a process holds it */
		registry_change(stage_assign_at(&registry.stage, s->cell, cells_of(s), 1));
	return s;
}
