/* SPDX-License-Identifier: MIT */
/*
 * promfcgi.h — the public API for recording Prometheus metrics from a
 * FastCGI worker process.
 *
 * A process calls pf_open() once (after any fork), defines its metric
 * families, resolves a handle per label set with pf_with(), and records
 * through the handles.  Recording never touches SQLite and never blocks:
 * it writes into the process's own memory-mapped staging file, whose pages
 * outlive the process if it is killed.  The store folds staging files into
 * the shared SQLite database (store/db_fold.c, in a scrape: metrics/batch.c);
 * the metrics program renders it.
 *
 * Every function is safe to call when the store is unavailable: a failed
 * definition returns NULL, and recording through a NULL handle does nothing.
 * The API is not thread-safe: record from one thread, or serialise calls.
 */
#ifndef PROMFCGI_H
#define PROMFCGI_H

#include <stddef.h>

/* PF_API marks the public API: the only symbols libpromfcgi.so exports (the
 * library is built with -fvisibility=hidden; tests/abi checks that the
 * exports and the declarations of promfcgi.h and promfcgi_http.h agree).
 * The ABI promise is in docs/abi.md. */
#ifndef PF_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define PF_API __attribute__((visibility("default")))
#else
#define PF_API
#endif
#endif

#define PF_NAME_MAX 128     /* metric and label names, bytes incl. NUL */
#define PF_HELP_MAX 512     /* help text, bytes incl. NUL */
#define PF_LABELS_MAX 8     /* label names per family */
#define PF_LABEL_NAME_MAX 64
#define PF_BUCKETS_MAX 32   /* finite histogram bounds; +Inf is implicit */
#define PF_KEY_MAX 240      /* all label values of a series, NUL-terminated each */
#define PF_EXEMPLAR_RUNES_MAX 128 /* an exemplar's label names and values together, UTF-8 characters */

/* Native histograms (pf_histogram_native): the schemas, client_golang's
 * usual one, and its default zero threshold, 2^-128 (a bucket boundary at
 * every schema). */
#define PF_NATIVE_SCHEMA_MIN (-4)
#define PF_NATIVE_SCHEMA_MAX 8
#define PF_NATIVE_SCHEMA_DEFAULT 3
#define PF_NATIVE_ZERO_THRESHOLD_DEFAULT 0x1p-128

#define PROMFCGI_VERSION "0.3.0"

enum pf_type { PF_COUNTER = 1, PF_GAUGE = 2, PF_HISTOGRAM = 3 };

typedef struct pf_family pf_family;
typedef struct pf_series pf_series;

/* Default database path when PROMFCGI_DB is not set. */
#ifndef PROMFCGI_DEFAULT_DB
#define PROMFCGI_DEFAULT_DB "/var/lib/promfcgi/promfcgi.db"
#endif

/* The Python client's default buckets, so dashboards built on the recipe
 * keep working. */
PF_API extern const double pf_default_buckets[];
PF_API extern const int pf_default_nbuckets;

/* Opens this process's staging file beside the store at db_path (NULL: from
 * PROMFCGI_DB, else PROMFCGI_DEFAULT_DB).  Returns 0, or -1 if the staging
 * file could not be created; recording then goes to anonymous memory and is
 * not persisted (the reason is logged). */
PF_API int pf_open(const char *db_path);

/* Folds this process's totals into the store and removes its staging file.
 * Call at graceful exit.  Returns 0, or -1 if the fold failed (the staging
 * file stays, and the metrics program folds it once this process is gone). */
PF_API int pf_close(void);

/* In a CGI process (one request, then exit; see promfcgi_http.h), pf_open
 * records in memory and pf_close appends the totals to the store's journal
 * in one write.  pf_publish makes the process's gauges visible to scrapes
 * while it runs (the HTTP layer calls it for active_requests); they go
 * with the process.  Elsewhere it does nothing.  Returns 0, or -1. */
PF_API int pf_publish(void);

/* The store path pf_open chose. */
PF_API const char *pf_db_path(void);

/* Call between requests (cheap: it acts at most once a second).  If the
 * staging file was deleted, or could not be created before, it puts the
 * totals counted so far into a new one, so recording resumes by itself. */
PF_API int pf_maintain(void);

/* Defines a family.  labels is a NULL-terminated array of label names (NULL
 * for none).  Defining the same family again returns the same pointer.
 * Returns NULL if a name is invalid, help is empty, the definition clashes
 * with an earlier one, or the staging file is full. */
PF_API pf_family *pf_counter(const char *name, const char *help, const char *const *labels);
PF_API pf_family *pf_gauge(const char *name, const char *help, const char *const *labels);
PF_API pf_family *pf_histogram(const char *name, const char *help, const char *const *labels,
                               const double *buckets, int nbuckets);

/* A histogram with native buckets (Prometheus' native, or sparse,
 * histograms: exponential buckets, no layout to choose), and classic ones
 * too if buckets is not NULL and nbuckets > 0 (then both count every
 * observation: text and OpenMetrics show the classic buckets, protobuf
 * both; without classic buckets the text formats show the +Inf bucket,
 * _sum and _count).  Bucket k holds |v| in (2^((k-1)/2^schema),
 * 2^(k/2^schema)], as client_golang places them: schema 3 (the usual, and
 * PF_NATIVE_SCHEMA_DEFAULT) gives 8 buckets per power of two, so a
 * quantile read from them is off by at most 2^(1/8) - 1 = 9 % (half that
 * from a bucket's middle).  |v| <= zero_threshold (>= 0; usually
 * PF_NATIVE_ZERO_THRESHOLD_DEFAULT) counts in the zero bucket; negative
 * values in buckets of their own.  A series keeps at most 160 consecutive
 * buckets per sign: when an observation falls outside them and they cannot
 * move to take it, the series' schema goes down by one (pairs of buckets
 * merged, exactly) until they can, as client_golang does past its bucket
 * limit; at schema 3 that is past a factor of 2^20 between the smallest
 * and largest value of one sign.  NULL if a name is invalid, the schema is
 * outside PF_NATIVE_SCHEMA_MIN..PF_NATIVE_SCHEMA_MAX, the threshold is
 * not a finite number >= 0, the definition clashes with an earlier one, or
 * the staging file is full.  A series takes 327 cells more than a classic
 * one (2.6 KB), of the 262,144 a process has. */
PF_API pf_family *pf_histogram_native(const char *name, const char *help,
                                      const char *const *labels, const double *buckets,
                                      int nbuckets, int schema, double zero_threshold);

/* The series of family f for the given label values (one per label name, in
 * order; valid UTF-8 without NUL).  Returns NULL when f is NULL, a value is
 * invalid, or there is no room for another series (counted as dropped). */
PF_API pf_series *pf_with(pf_family *f, const char *const *values);

/* Recording.  Each call is atomic; between pf_begin() and pf_commit() the
 * calls form one atomic change (a reader, or a kill, sees all or none).
 * pf_add on a counter rejects negative and NaN amounts (returns -1). */
PF_API int pf_inc(pf_series *s);
PF_API int pf_add(pf_series *s, double v);
PF_API int pf_dec(pf_series *s);
PF_API int pf_set(pf_series *s, double v);
PF_API int pf_observe(pf_series *s, double v);
PF_API void pf_begin(void);
PF_API void pf_commit(void);

/* The same, with an OpenMetrics exemplar: labels is NULL-terminated
 * "name", "value", "name", "value", ... (e.g. {"trace_id", id, NULL}), the
 * exemplar's value is v (for a counter, the increment) and its timestamp
 * the wall clock now.  The latest exemplar is kept per counter series and
 * per histogram bucket (the bucket v falls in); it is crash-safe and part
 * of the same atomic change as the count.  Names must be valid label names,
 * unique, at least one pair; values valid UTF-8; names and values together
 * at most PF_EXEMPLAR_RUNES_MAX characters.
 * Returns 0 when both the value and the exemplar are recorded; 1 when the
 * value is recorded without the exemplar (invalid labels, or the staging
 * file's exemplar slots are all taken: counted as dropped), so a bad trace
 * id never loses a count; -1 when nothing is recorded (as pf_add /
 * pf_observe refuse: NULL handle, wrong type, negative or NaN amount). */
PF_API int pf_add_exemplar(pf_series *s, double v, const char *const *labels);
PF_API int pf_observe_exemplar(pf_series *s, double v, const char *const *labels);

/* Name rules of the Prometheus data model (store/names.c). */
PF_API int pf_valid_metric_name(const char *name);
PF_API int pf_valid_label_name(const char *name);

#endif
