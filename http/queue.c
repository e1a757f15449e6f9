/* SPDX-License-Identifier: MIT */
/*
 * queue.c — a request's wait for a worker, from its X-Request-Start stamp
 * (see queue.h).
 *
 * The stamp comes from the front end, and through it maybe from a client
 * (a server that does not set the header passes the client's on), so it is
 * read as hostile: digits only, a fraction after one dot, arithmetic in
 * integers with every overflow refused.  Times are kept in nanoseconds:
 * a double of seconds since the epoch holds only about 0.2 us, and the
 * difference of two such is all that matters.
 */
#include <stdint.h>
#include <string.h>

#include "http/queue.h"

/* 2000-01-01T00:00:00Z: the earliest time a stamp may name, in each unit
 * (the agents' cut-off, which tells seconds from milliseconds from
 * microseconds from nanoseconds by magnitude). */
#define EPOCH_2000 946684800ULL

/* Reads digits [ "." digits ]: the whole part (refused past 19 digits,
 * which no unit's stamp of this millennium needs) and the first nine
 * fraction digits as nanoseconds; -1 if there are none or something other
 * than the end, a space, "," or ";" follows. */
static int number(const char *p, uint64_t *whole, uint64_t *frac_ns)
{
	int digits = 0;
	*whole = *frac_ns = 0;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits == 19)
			return -1;
		*whole = *whole * 10 + (uint64_t)(*p - '0');
	}
	if (!digits)
		return -1;
	if (*p == '.') {
		uint64_t scale = 100000000;
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			*frac_ns += scale * (uint64_t)(*p - '0');
	}
	return *p == '\0' || *p == ' ' || *p == '\t' || *p == ',' || *p == ';' ? 0 : -1;
}

/* The stamp in nanoseconds since the epoch, its unit told by magnitude;
 * -1 if it is before 2000 in every unit, or past what 64 bits hold. */
static int stamp_ns(uint64_t whole, uint64_t frac_ns, uint64_t *ns)
{
	static const uint64_t unit_ns[] = {1, 1000, 1000000, 1000000000};
	for (int u = 0; u < 4; u++) {
		uint64_t per_s = 1000000000 / unit_ns[u]; /* stamps per second in this unit */
		if (whole / per_s < EPOCH_2000)
			continue; /* before 2000 in this unit: a larger one */
		if (whole > (uint64_t)INT64_MAX / unit_ns[u])
			return -1; /* past the year 2262 */
		*ns = whole * unit_ns[u] + frac_ns / per_s;
		return 0;
	}
	return -1;
}

int queue_stamp_wait(const char *value, const struct timespec *now, double *seconds)
{
	uint64_t whole, frac, ns;
	if (!value)
		return -1;
	/* "t=..." first (what the templates send), else anywhere, as New Relic reads it */
	const char *t = value[0] == 't' && value[1] == '=' ? value : strstr(value, "t=");
	const char *p = t ? t + 2 : value; /* or a bare number */
	while (!t && (*p == ' ' || *p == '\t'))
		p++;
	if (number(p, &whole, &frac) != 0 || stamp_ns(whole, frac, &ns) != 0 || now->tv_sec < 0)
		return -1;
	uint64_t now_ns = (uint64_t)now->tv_sec * 1000000000u + (uint64_t)now->tv_nsec;
	if (ns > now_ns)
		return -1; /* in the future: another host's clock runs ahead */
	*seconds = (double)(now_ns - ns) / 1e9;
	return 0;
}
