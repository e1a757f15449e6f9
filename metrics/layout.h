/* SPDX-License-Identifier: MIT */
/*
 * layout.h — the view in output order (layout.c): families by name, series
 * by label values, each series' cells at its place in one array of output
 * cells, where the store's cells are laid out once (out_base) and every
 * scrape copies them and adds the workers' parts in place.
 */
#ifndef PROMFCGI_LAYOUT_H
#define PROMFCGI_LAYOUT_H

#include "metrics/view.h"

/* Brings v->layout up to date with the view: 0, or -1 out of memory.
 * Series added since the last layout are sorted alone and merged in; a new
 * family sorts everything again; the store's cells are laid out again
 * after a read. */
int layout_update(struct view *v);

#endif
