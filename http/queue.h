/* SPDX-License-Identifier: MIT */
/*
 * queue.h — how long a request waited for a worker, from the stamp the
 * front end put on it (queue.c).
 *
 * The convention New Relic, Scout and Judoscale read: the web server sets
 * X-Request-Start (or X-Queue-Start) to "t=<time since the epoch>" when it
 * passes the request on, in seconds (nginx's ${msec}: "t=1700000000.123"),
 * milliseconds, or microseconds (Apache's %t: "t=1700000000123456"); a
 * bare number is taken too.  The unit is told by the magnitude, as those
 * agents do: the only reading that falls after 2000-01-01.
 */
#ifndef PROMFCGI_QUEUE_H
#define PROMFCGI_QUEUE_H

#include <time.h>

/* The FastCGI parameters that carry the stamp, the first present wins. */
#define QUEUE_PARAM "HTTP_X_REQUEST_START"
#define QUEUE_PARAM_ALT "HTTP_X_QUEUE_START"

/* The wait from the stamp in value to now (CLOCK_REALTIME): 0 with
 * *seconds >= 0; -1 if value is NULL, empty, not a number of the
 * convention (letters, a sign, an exponent, NaN), before 2000 in every
 * unit, or later than now (clock skew between hosts: never a negative
 * wait).  Nothing in value can make it fail otherwise or read past it. */
int queue_stamp_wait(const char *value, const struct timespec *now, double *seconds);

#endif
