/* SPDX-License-Identifier: MIT */
/*
 * clock.h — when the live workers are folded into the store (clock.c).
 *
 * Live workers are folded every CLOCK_FOLD_SECONDS (PROMFCGI_FOLD_SECONDS
 * overrides), durably: that bounds what a power cut can lose.  The file
 * <db>.folded-at (CLOCK_FOLD_STAMP), touched after each such fold by
 * whichever metrics process made it, says when it was last done: they are
 * due when it is older than the interval (for scrape_idle, after an
 * answer), or older than twice that (for a scrape itself: no one calls
 * scrape_idle, as the command-line tool).  A process remembers the stamp's
 * time, so it looks at the file only once the interval is over.
 */
#ifndef PROMFCGI_CLOCK_H
#define PROMFCGI_CLOCK_H

#define CLOCK_FOLD_SECONDS 60
#define CLOCK_FOLD_STAMP ".folded-at" /* after the store's path */

struct fold_clock {
	double stamp_time; /* the stamp's time, as last seen or made */
	int live_folded;   /* 0 until this process's first live fold, and for a store made afresh */
};

/* Whether the live workers of the store at db_path are due for a fold,
 * the interval taken times times (1: scrape_idle, 2: a scrape). */
int clock_live_due(struct fold_clock *c, const char *db_path, int times);
/* They were just folded (or there were none): touches the stamp. */
void clock_live_folded(struct fold_clock *c, const char *db_path);

#endif
