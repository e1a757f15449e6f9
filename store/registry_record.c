/* SPDX-License-Identifier: MIT */
/*
 * registry_record.c — the writes through a series handle (promfcgi.h):
 * counts, gauge values by their mode, observations (classic, native,
 * summary), state sets and exemplars, each a few stores into the staging
 * file's mapped cells inside one change (pf_begin/pf_commit).
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

/* The one registry of this process (registry_internal.h): here, in the
 * lowest of its three files, which the other two build on. */
struct registry registry;

void pf_begin(void)
{
	registry.stage.depth++;
}

void pf_commit(void)
{
	if (registry.stage.depth == 0)
		notice("pf_commit: no pf_begin to match: nothing to commit");
	else if (--registry.stage.depth == 0)
		stage_commit(&registry.stage);
}

/* Applies one change, inside the caller's pf_begin/pf_commit if any. */
int registry_change(int rc)
{
	if (registry.stage.depth == 0)
		stage_commit(&registry.stage);
	return rc;
}

/* The wall clock, for the most recent modes and a state set: the vDSO, no
 * system call. */
static double wall_now(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* A write of a gauge's value (add: by v, else set to v) and, for the modes
 * that keep one, of what it leaves beside it (gauge.h): the time for the
 * most recent modes, a mark for max, min and liveall.  Both in the pending
 * change, or neither. */
static int write_gauge(pf_series *s, double v, int add)
{
	const struct family_def *d = &s->family->def;
	double *at = cells_of(s);
	if (d->ncells > 1) {
		if (stage_room(&registry.stage) < 2)
			return -1;
		int timed = gauge_timed((int)d->type, (int)d->mode); /* else a mark: no clock read */
		stage_assign_at(&registry.stage, s->cell + 1, at + 1,
		                gauge_stamp((int)d->type, (int)d->mode, timed ? wall_now() : 0));
	}
	return add ? stage_add_at(&registry.stage, s->cell, at, v)
	           : stage_assign_at(&registry.stage, s->cell, at, v);
}

static const char *const type_names[] = {"", "counter", "gauge", "histogram", "summary", "info",
                                         "state set"};

/* Whether series s may take what call asks: recorded to (a NULL handle is
 * refused silently: its refusal was logged), of one of the types in mask
 * (1 << PF_COUNTER ...).  If not, says why; -1. */
static int recordable(const char *call, const pf_series *s, unsigned mask, const char *use)
{
	if (!s)
		return -1;
	if (!registry.open) {
		notice("%s(%s): no store is open (pf_close was called?)", call, s->family->def.name);
		return -1;
	}
	if (!(mask & (1u << s->family->def.type))) {
		notice("%s(%s): a %s does not take it: %s", call, s->family->def.name,
		        type_names[s->family->def.type], use);
		return -1;
	}
	return 0;
}

static int add(const char *call, pf_series *s, double v)
{
	if (recordable(call, s, 1u << PF_COUNTER | 1u << PF_GAUGE,
	               "pf_observe for a histogram or summary") != 0)
		return -1;
	if (isnan(v))
		return notice("%s(%s, NaN): NaN is no amount", call, s->family->def.name), -1;
	if (s->family->def.type == PF_COUNTER && v < 0)
		return notice("%s(%s, %g): a counter only goes up (a gauge may go down)", call,
		               s->family->def.name, v),
		   -1;
	if (s->family->def.type == PF_GAUGE)
		return registry_change(write_gauge(s, v, 1));
	return registry_change(stage_add_at(&registry.stage, s->cell, cells_of(s), v));
}

int pf_add(pf_series *s, double v)
{
	return add("pf_add", s, v);
}

int pf_inc(pf_series *s)
{
	return add("pf_inc", s, 1.0);
}

int pf_dec(pf_series *s)
{
	if (recordable("pf_dec", s, 1u << PF_GAUGE, "only a gauge goes down") != 0)
		return -1;
	return registry_change(write_gauge(s, -1.0, 1));
}

int pf_set(pf_series *s, double v)
{
	if (recordable("pf_set", s, 1u << PF_GAUGE, "only a gauge is set") != 0)
		return -1;
	return registry_change(write_gauge(s, v, 0));
}

int pf_set_state(pf_series *s, const char *state)
{
	static const char call[] = "pf_set_state";
	if (recordable(call, s, 1u << PF_STATESET, "only a state set has states") != 0)
		return -1;
	int i = names_state_index(&s->family->def, state);
	if (i < 0)
		return notice("%s(%s, \"%.40s\"): not one of its states", call, s->family->def.name,
		              state ? state : "(null)"),
		       -1;
	if (stage_room(&registry.stage) < 2)
		return -1;
	double *at = cells_of(s);
	stage_assign_at(&registry.stage, s->cell + 1, at + 1, wall_now());
	return registry_change(stage_assign_at(&registry.stage, s->cell, at, i));
}

/* The cells of the native part of series s that an observation of v
 * changes, added to the pending change; -1 (nothing added) if they do not
 * fit in it.  Most observations change the count, the sum and one bucket
 * (or the zero count); one outside its sign's window moves the window or
 * lowers the schema, which rewrites up to all NATIVE_CELLS cells: the
 * whole new state goes through the redo log like any change (stage.h). */
static int observe_native(pf_series *s, double v, uint32_t room)
{
	const struct family_def *d = &s->family->def;
	struct stage *st = &registry.stage;
	uint64_t n0 = s->cell + d->nbuckets + 2, cell = UINT64_MAX;
	double *a0 = cells_of(s) + d->nbuckets + 2;
	double schema = stage_value_at(st, n0 + NATIVE_SCHEMA, a0 + NATIVE_SCHEMA);
	if (!(schema >= PF_NATIVE_SCHEMA_MIN && schema <= PF_NATIVE_SCHEMA_MAX))
		return -1; /* never: the cells are this process's own */
	if (isnan(v)) {
		cell = UINT64_MAX - 1; /* count and sum only */
	} else if (fabs(v) <= stage_value_at(st, n0 + NATIVE_ZERO_THRESHOLD, a0 + NATIVE_ZERO_THRESHOLD)) {
		cell = n0 + NATIVE_ZERO_COUNT;
	} else {
		int neg = v < 0, key = native_bucket(v, (int)schema);
		uint32_t at = neg ? NATIVE_NEG_START : NATIVE_POS_START;
		double start = stage_value_at(st, n0 + at, a0 + at);
		if (key >= start && key < start + NATIVE_BUCKETS)
			cell = n0 + (uint32_t)(neg ? NATIVE_NEG : NATIVE_POS) + (uint32_t)(key - start);
	}
	if (cell != UINT64_MAX) { /* in the window: three cells */
		if (room < 3)
			return -1;
		stage_add_at(st, n0 + NATIVE_COUNT, a0 + NATIVE_COUNT, 1);
		stage_add_at(st, n0 + NATIVE_SUM, a0 + NATIVE_SUM, v);
		if (cell != UINT64_MAX - 1)
			stage_add_at(st, cell, a0 + (cell - n0), 1);
		return 0;
	}
	double now[NATIVE_CELLS], was[NATIVE_CELLS];
	stage_values(st, n0, NATIVE_CELLS, was);
	memcpy(now, was, sizeof now);
	if (native_observe(now, v) < 0)
		return -1;
	uint32_t changed = 0;
	for (uint32_t i = 0; i < NATIVE_CELLS; i++)
		changed += memcmp(&now[i], &was[i], sizeof now[i]) != 0;
	if (changed > room)
		return -1;
	for (uint32_t i = 0; i < NATIVE_CELLS; i++)
		if (memcmp(&now[i], &was[i], sizeof now[i]) != 0)
			stage_assign_at(st, n0 + i, a0 + i, now[i]);
	return 0;
}

/* One observation of v in s, inside the caller's change, all of it or
 * nothing: the classic bucket b and the sum, and the native part. */
static int observe(const char *call, pf_series *s, double v, uint32_t b)
{
	const struct family_def *d = &s->family->def;
	uint32_t room = stage_room(&registry.stage);
	if (!registry.stage.h)
		return -1;
	if (room < 2 || (d->native && observe_native(s, v, room - 2) != 0)) {
		notice("%s(%s): the change has no room left for this observation (%d cell writes "
		        "between pf_begin and pf_commit at most): refused whole", call, d->name,
		        STAGE_LOG_MAX);
		return -1;
	}
	double *at = cells_of(s);
	stage_add_at(&registry.stage, s->cell + b, at + b, 1.0);
	stage_add_at(&registry.stage, s->cell + d->nbuckets + 1, at + d->nbuckets + 1, v);
	return 0;
}

static uint32_t classic_bucket(const struct family_def *d, double v)
{
	uint32_t b = 0;
	while (b < d->nbuckets && v > d->buckets[b])
		b++;
	return b;
}

/* A summary's observation: its count and sum, one change. */
static int observe_summary(pf_series *s, double v)
{
	if (stage_room(&registry.stage) < 2)
		return -1;
	double *at = cells_of(s);
	stage_add_at(&registry.stage, s->cell, at, 1);
	return stage_add_at(&registry.stage, s->cell + 1, at + 1, v);
}

/* Whether s may take an observation of v (call: who asks; summary: whether
 * a summary may, else a histogram only); if not, why. */
static int observable(const char *call, const pf_series *s, double v, int summary)
{
	unsigned mask = 1u << PF_HISTOGRAM | (summary ? 1u << PF_SUMMARY : 0);
	if (recordable(call, s, mask, "pf_inc, pf_add or pf_set for a counter or gauge") != 0)
		return -1;
	if (isnan(v))
		return notice("%s(%s, NaN): NaN is no observation", call, s->family->def.name), -1;
	/* OpenMetrics: a summary's _sum never goes negative */
	if (s->family->def.type == PF_SUMMARY && v < 0)
		return notice("%s(%s, %g): a summary observes values >= 0", call, s->family->def.name,
		              v),
		       -1;
	return 0;
}

int pf_observe(pf_series *s, double v)
{
	if (observable("pf_observe", s, v, 1) != 0)
		return -1;
	if (s->family->def.type == PF_SUMMARY)
		return registry_change(observe_summary(s, v));
	return registry_change(observe("pf_observe", s, v, classic_bucket(&s->family->def, v)));
}

/* The exemplar of a change already pending for the series' bucket: 0, or 1
 * if it cannot be kept (invalid labels, no room for its record, a full
 * change). */
static int keep_exemplar(const char *call, pf_series *s, uint32_t bucket, double v,
                         const char *const *labels)
{
	char enc[MODEL_EXEMPLAR_BYTES];
	int len = names_encode_exemplar(labels, enc);
	const struct family_def *d = &s->family->def;
	if (len < 0) {
		notice("%s(%s): %s: the value is recorded, without the exemplar", call, d->name,
		       notice_reason());
		return 1;
	}
	if (!s->ex && !(s->ex = calloc((size_t)model_family_exemplars((int)d->type, (int)d->nbuckets),
	                               sizeof *s->ex)))
		return 1;
	struct timespec now; /* the vDSO: no system call */
	clock_gettime(CLOCK_REALTIME, &now);
	double ts = (double)now.tv_sec + (double)(now.tv_nsec / 1000000) / 1e3;
	return stage_exemplar(&registry.stage, &s->ex[bucket], s->slot, bucket, v, ts, enc, (uint32_t)len) == 0
	           ? 0
	           : 1;
}

int pf_add_exemplar(pf_series *s, double v, const char *const *labels)
{
	static const char call[] = "pf_add_exemplar";
	if (recordable(call, s, 1u << PF_COUNTER, "exemplars go on a counter (pf_add_exemplar) or a "
	               "histogram (pf_observe_exemplar)") != 0)
		return -1;
	if (isnan(v))
		return notice("%s(%s, NaN): NaN is no amount", call, s->family->def.name), -1;
	if (v < 0)
		return notice("%s(%s, %g): a counter only goes up", call, s->family->def.name, v), -1;
	pf_begin(); /* the count and its exemplar: one change */
	int rc = stage_add_at(&registry.stage, s->cell, cells_of(s), v);
	if (rc == 0)
		rc = keep_exemplar(call, s, 0, v, labels);
	pf_commit();
	return rc;
}

int pf_observe_exemplar(pf_series *s, double v, const char *const *labels)
{
	static const char call[] = "pf_observe_exemplar";
	if (observable(call, s, v, 0) != 0)
		return -1;
	uint32_t b = classic_bucket(&s->family->def, v);
	pf_begin();
	int rc = observe(call, s, v, b);
	if (rc == 0)
		rc = keep_exemplar(call, s, b, v, labels);
	pf_commit();
	return rc;
}
