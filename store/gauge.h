/* SPDX-License-Identifier: MIT */
/*
 * gauge.h — how the values several processes hold of one series of a gauge,
 * an info or a state set make the one value shown (gauge.c): the rules of
 * each gauge mode, in one place, so that the recording API, the fold
 * (store/db_fold.c), the CGI journal, the command-line tool and the scrape
 * (metrics/merge.c) agree.  No I/O, no SQL.
 *
 * Participants.  A series' value is made of the values of its
 * participants: each process that holds the series (a worker; a CGI process
 * while its request runs), the command-line tool (one participant, whose
 * value stays in the store until the tool sets it again), and, in the modes
 * over every process, the processes that ended, each by what it last set
 * (kept in the store, combined into one participant, "the ended").
 *
 * A participant's cells (a series' cells, model.h):
 *   gauge livesum, sum           [value]
 *   gauge livemax, max, livemin, min, liveall
 *                                [value, set]   set: 1 once written, else 0
 *   gauge livemostrecent, mostrecent
 *                                [value, at]    at: Unix time of the last write, 0 never
 *   info                         [held]         1: the process resolved the series
 *   state set                    [state, at]    the state's index, when it was set (0 never)
 * A store row of these types holds two participants (model_store_cells): the
 * tool's, then the ended's.
 *
 * Combining participants is associative and commutative, so any order of
 * the store and the workers gives one answer: a sum adds; max and min take
 * the largest or smallest value of those that were set (fmax, fmin: a NaN
 * loses to a number); the most recent modes and a state set take the latest
 * write, a tie going to the larger value; an info is held if anyone holds it.
 * A participant that never wrote (set or at 0) changes nothing.
 */
#ifndef PROMFCGI_GAUGE_H
#define PROMFCGI_GAUGE_H

#include <stdint.h>

#include "store/model.h"

/* Whether a family of this type holds values combined here (gauge, info,
 * state set), rather than counts (counter, histogram, summary: summed over
 * every process that ever recorded, never going back). */
int gauge_like(int type);

/* What is kept of an ended process's values (its final fold, or a drained
 * CGI journal). */
enum gauge_keep {
	GAUGE_KEEP_NONE,   /* a live mode, an info: an ended process counts no more */
	GAUGE_KEEP_DELTA,  /* sum: folded as a count is (staged - folded, live or
	                    * ended), but free to go down */
	GAUGE_KEEP_LAST,   /* max, min, most recent, a state set: at its final fold
	                    * (once: the fold retires it), its last value joins the ended's */
};
enum gauge_keep gauge_keep(int type, int mode);

/* Whether only live processes take part (the tool's value always does, but
 * in liveall, which has no process to show it under). */
int gauge_live_only(int type, int mode);

/* What a write leaves beside the value (cells[1]), when the family has that
 * cell: now (Unix seconds) for the most recent modes and a state set, 1 for
 * max, min and liveall.  gauge_timed says whether it is the time (whether a
 * write must read the clock). */
double gauge_stamp(int type, int mode, double now);
int gauge_timed(int type, int mode);

/* Adds participant from into acc (a participant's cells, of a family of
 * that type and mode: 1 or 2). */
void gauge_combine(int type, int mode, double *acc, const double *from);

/* Whether a series with these combined cells is shown: an info only while
 * held, a liveall series only while its process lives and has set it. */
int gauge_shown(int type, int mode, const double *cells);

/* The value a series shows, from its combined cells. */
double gauge_value(int type, const double *cells);

#endif
