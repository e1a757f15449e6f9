/* SPDX-License-Identifier: MIT */
/*
 * own.h — promfcgi's metrics about itself that exist only at scrape time:
 * build info, store size, live workers.  (Its counters and histograms, such
 * as scrapes and their duration, are recorded through the normal API.)
 */
#ifndef PROMFCGI_OWN_H
#define PROMFCGI_OWN_H

#include "store/model.h"
#include "metrics/scrape.h"

/* Adds the families to c, keeping it sorted by name.  Returns -1 when out
 * of memory (c is then still valid to render and free). */
int own_add(struct collection *c, const struct scrape_stats *st);

/* Appends a gauge family with one label (or none: label NULL) and n
 * series, values[i] = v[i]; a family of that name already in c (defined
 * in the store by someone else) is left alone, as a name must appear once
 * in an exposition.  -1 when out of memory (c is then still valid to
 * render and free).  Unsorted: own_sort puts c back in name order. */
int own_add_gauge(struct collection *c, const char *name, const char *help, const char *label,
                  const char *const *values, const double *v, int n);
void own_sort(struct collection *c);

#endif
