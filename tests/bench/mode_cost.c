/* SPDX-License-Identifier: MIT */
/*
 * mode_cost.c — what a gauge's mode costs a write, on the request path:
 * N pf_set calls (each its own change, as a request's gauge is) on a gauge
 * of the given mode, counted by callgrind only around the loop
 * (tests/bench/mode_cost runs it for each mode and prints instructions per
 * write).  The most recent modes read the wall clock (the vDSO) and write
 * the time beside the value; max, min and liveall write a mark; the sums
 * write the value alone.
 *
 * Usage: mode_cost DB MODE N        MODE: livesum ... liveall (client_python's names)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include "promfcgi.h"

static const char *const modes[] = {"livesum", "sum", "livemax", "max", "livemin", "min",
                                    "livemostrecent", "mostrecent", "liveall"};

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DB MODE N\n", argv[0]);
		return 2;
	}
	int mode = -1;
	for (int m = 0; m < (int)(sizeof modes / sizeof modes[0]); m++)
		if (strcmp(argv[2], modes[m]) == 0)
			mode = m;
	long n = atol(argv[3]);
	if (mode < 0 || n <= 0 || pf_open(argv[1]) != 0)
		return 2;
	pf_series *g = pf_with(pf_gauge_mode("cost_gauge", "Cost.", NULL, (enum pf_gauge_mode)mode), NULL);
	if (!g)
		return 1;
	pf_set(g, 0); /* the first write pages the cells in: not counted */
	CALLGRIND_TOGGLE_COLLECT;
	for (long i = 0; i < n; i++)
		pf_set(g, (double)i);
	CALLGRIND_TOGGLE_COLLECT;
	return pf_close() == 0 ? 0 : 1;
}
