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

#endif
