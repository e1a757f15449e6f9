/* SPDX-License-Identifier: MIT */
/*
 * gauge.c — the gauge modes, info and state sets across processes (see
 * gauge.h): one small function per rule.
 */
#include <math.h>

#include "store/gauge.h"

int gauge_like(int type)
{
	return type == PF_GAUGE || type == PF_INFO || type == PF_STATESET;
}

enum gauge_keep gauge_keep(int type, int mode)
{
	if (type == PF_STATESET)
		return GAUGE_KEEP_LAST;
	if (type != PF_GAUGE)
		return GAUGE_KEEP_NONE;
	switch (mode) {
	case PF_GAUGE_SUM:
		return GAUGE_KEEP_DELTA;
	case PF_GAUGE_MAX:
	case PF_GAUGE_MIN:
	case PF_GAUGE_MOSTRECENT:
		return GAUGE_KEEP_LAST;
	default:
		return GAUGE_KEEP_NONE;
	}
}

int gauge_live_only(int type, int mode)
{
	return gauge_keep(type, mode) == GAUGE_KEEP_NONE;
}

static int most_recent(int type, int mode)
{
	return type == PF_STATESET ||
	       (type == PF_GAUGE && (mode == PF_GAUGE_MOSTRECENT || mode == PF_GAUGE_LIVEMOSTRECENT));
}

double gauge_stamp(int type, int mode, double now)
{
	return most_recent(type, mode) ? now : 1;
}

int gauge_timed(int type, int mode)
{
	return most_recent(type, mode);
}

/* The latest write wins; at the same instant the larger value, so that the
 * order participants come in never matters. */
static void take_latest(double *acc, const double *from)
{
	if (from[1] > acc[1] || (from[1] == acc[1] && from[1] > 0 && from[0] > acc[0])) {
		acc[0] = from[0];
		acc[1] = from[1];
	}
}

/* max or min of the participants that set a value (fmax and fmin: a NaN
 * loses to a number, as two NaNs give NaN). */
static void take_extreme(double *acc, const double *from, int max)
{
	if (!from[1])
		return;
	acc[0] = !acc[1] ? from[0] : max ? fmax(acc[0], from[0]) : fmin(acc[0], from[0]);
	acc[1] = 1;
}

void gauge_combine(int type, int mode, double *acc, const double *from)
{
	if (type == PF_INFO) {
		acc[0] = acc[0] || from[0] ? 1 : 0;
		return;
	}
	if (most_recent(type, mode)) {
		take_latest(acc, from);
		return;
	}
	switch (mode) {
	case PF_GAUGE_LIVEMAX:
	case PF_GAUGE_MAX:
		take_extreme(acc, from, 1);
		return;
	case PF_GAUGE_LIVEMIN:
	case PF_GAUGE_MIN:
		take_extreme(acc, from, 0);
		return;
	case PF_GAUGE_LIVEALL: /* a series per process: the one participant's */
		if (from[1]) {
			acc[0] = from[0];
			acc[1] = 1;
		}
		return;
	default: /* livesum, sum */
		acc[0] += from[0];
	}
}

int gauge_shown(int type, int mode, const double *cells)
{
	if (type == PF_INFO)
		return cells[0] != 0;
	if (type == PF_GAUGE && mode == PF_GAUGE_LIVEALL)
		return cells[1] != 0;
	return 1;
}

double gauge_value(int type, const double *cells)
{
	return type == PF_INFO ? 1 : cells[0];
}
