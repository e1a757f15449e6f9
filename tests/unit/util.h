/* SPDX-License-Identifier: MIT */
/*
 * util.h — what the store tests share: a fresh store path, and a scrape
 * summed over a family's series.
 */
#ifndef PROMFCGI_TEST_UTIL_H
#define PROMFCGI_TEST_UTIL_H

#include <stddef.h>

/* A new directory under $PROMFCGI_TEST_DIR, and "<it>/store.db" in db. */
void test_new_store(char *db, size_t len, const char *tag);

/* Scrapes db (folding every staging file) and sums the family's series whose
 * first label value is key (NULL: all): the value of a counter or gauge, the
 * count of a histogram.  NaN if the scrape fails or there is no such family. */
double test_total(const char *db, const char *family, const char *key);

/* The value (histogram: count) of the one series of family whose label
 * values are exactly values (NULL-terminated); 0 if there is no such
 * series, NaN if the scrape fails or there is no such family. */
double test_series(const char *db, const char *family, const char *const *values);
/* How many series a family has; -1 if none or the scrape fails. */
int test_nseries(const char *db, const char *family);

/* The exemplar of bucket b (0 for a counter) of the series of family whose
 * label values are exactly values, from a scrape: 1 found (copied to *out),
 * 0 none, -1 if the scrape fails or there is no such family or series. */
struct exemplar;
int test_exemplar(const char *db, const char *family, const char *const *values, int b,
                  struct exemplar *out);
/* The label value of name in an exemplar, or NULL. */
const char *test_exemplar_label(const struct exemplar *x, const char *name);

/* Rewrites this release's staging file at path (at rest, within the old
 * limits) as a release of version 1, 2 or 3 would have left it: their
 * fixed layout (versions 1 and 2: no native buckets, a 32-entry log,
 * 65,536 cells; version 1 without exemplars), the series' cells one after
 * another.  0, or -1 (stage_old.h). */
int test_make_legacy(const char *path, unsigned version);

/* What this process writes to stderr between the two calls (fd 2 goes to a
 * file meanwhile): test_stderr_end returns it (static, NUL-terminated),
 * and echoes it to the real stderr, so a failing test still shows it. */
void test_stderr_begin(void);
const char *test_stderr_end(void);
/* How many lines of text contain needle. */
int test_lines_with(const char *text, const char *needle);

/* The staging file of process pid in db's staging directory: its path
 * (0), or -1 if there is none. */
int test_stage_path(const char *db, long pid, char *path, size_t len);

/* A staging file mapped read-write whole, to damage it as a bug in
 * another process or a disk would (stage_format.h). */
#include <stdint.h>
struct stage_header;
struct stage_ex_rec;
struct stage_ex_copy;
struct stage;
struct test_stage {
	unsigned char *base;
	size_t size;
	struct stage_header *h;
};
int test_stage_map(const char *db, long pid, struct test_stage *t);
void test_stage_unmap(struct test_stage *t);
/* Element i of array (enum stage_array) in the file. */
void *test_stage_elem(const struct test_stage *t, int array, uint64_t i);
/* Copy 0 or 1 of an exemplar record. */
struct stage_ex_copy *test_ex_copy(struct stage_ex_rec *r, unsigned which);

/* A journal record as release 0.3.0 wrote it (version 1, "PFJ1"), of s's
 * totals (gauges: of its gauges): 0 (*out malloc'd), or -1 past its
 * limits (64 families, 4,096 series). */
int test_journal_v1(const struct stage *s, int gauges, char **out, size_t *len);

#endif
