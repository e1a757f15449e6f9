/* SPDX-License-Identifier: MIT */
/*
 * test.h — a minimal unit-test harness.  Each test runs in a child process
 * (tests/unit/main.c), so a crash fails that test only and the store's
 * per-process state starts fresh every time.
 */
#ifndef PROMFCGI_TEST_H
#define PROMFCGI_TEST_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct test {
	const char *name;
	void (*fn)(void);
};

extern int test_failures;

/* A test that cannot run here exits with this, after saying why. */
#define TEST_SKIP 77
#define SKIP(why)                                                \
	do {                                                     \
		fprintf(stderr, "  skipped: %s\n", why);          \
		fflush(NULL);                                    \
		_exit(test_failures ? 1 : TEST_SKIP);            \
	} while (0)

#define CHECK(c)                                                                          \
	do {                                                                              \
		if (!(c)) {                                                               \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
			test_failures++;                                                  \
		}                                                                         \
	} while (0)

#define CHECK_STR(a, b)                                                                         \
	do {                                                                                    \
		const char *a_ = (a), *b_ = (b);                                                \
		if (!a_ || strcmp(a_, b_) != 0) {                                               \
			fprintf(stderr, "  %s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
			        a_ ? a_ : "(null)", b_);                                        \
			test_failures++;                                                        \
		}                                                                               \
	} while (0)

#define CHECK_NUM(a, b)                                                                        \
	do {                                                                                   \
		double a_ = (a), b_ = (b);                                                     \
		if (a_ != b_) {                                                                \
			fprintf(stderr, "  %s:%d: %s = %.17g, want %.17g\n", __FILE__, __LINE__, #a, \
			        a_, b_);                                                       \
			test_failures++;                                                       \
		}                                                                              \
	} while (0)

extern const struct test names_tests[], render_tests[], store_tests[], route_tests[], fault_tests[],
    negotiate_tests[], robust_tests[], http_tests[], journal_tests[], native_tests[],
    protobuf_tests[], scrape_tests[], exemplar_tests[], native_rec_tests[], accept_tests[],
    mistake_tests[], beacon_tests[],
    growth_tests[], pool_tests[], fold_tests[];

#endif
