/*
 * promfcgi.h — the public API for recording Prometheus metrics from a
 * FastCGI worker process.
 *
 * A process calls pf_open() once (after any fork), defines its metric
 * families, resolves a handle per label set with pf_with(), and records
 * through the handles.  Recording never touches SQLite and never blocks:
 * it writes into the process's own memory-mapped staging file, whose pages
 * outlive the process if it is killed.  The store folds staging files into
 * the shared SQLite database (store/fold.c); the metrics program renders it.
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

#define PROMFCGI_VERSION "0.2.0"

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

/* Name rules of the Prometheus data model (store/names.c). */
PF_API int pf_valid_metric_name(const char *name);
PF_API int pf_valid_label_name(const char *name);

#endif
