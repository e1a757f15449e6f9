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
 * A call refused for a caller's mistake (an invalid name, a clash with an
 * earlier definition, a wrong number of label values, a negative amount on
 * a counter, ...) writes one line to stderr naming the call, the argument
 * and the rule, e.g. "promfcgi[812]: pf_counter: name "notes-created" is not
 * a valid metric name (...)"; each distinct line at most once per 10 s.
 * Recording through a NULL handle logs nothing: the refusal that made it
 * NULL was logged.  The store's own failures are logged and counted in
 * promfcgi_store_errors_total.  The API is not thread-safe: record from one
 * thread, or serialise calls.  The reference, with what each function
 * returns on each failure, is promfcgi(3).
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

#define PROMFCGI_VERSION "0.4.0"

/* What a family is (the values of the OpenMetrics types promfcgi keeps).
 * PF_SUMMARY: a count and a sum (pf_observe), no quantiles: quantiles of
 * different processes cannot be merged (a histogram's buckets can: use a
 * native histogram for them).  PF_INFO: label sets whose value is 1, of
 * the live processes that resolved them (pf_with).  PF_STATESET: one state
 * of a fixed list true per series (pf_set_state), across processes the one
 * written last. */
enum pf_type {
	PF_COUNTER = 1,
	PF_GAUGE = 2,
	PF_HISTOGRAM = 3,
	PF_SUMMARY = 4,
	PF_INFO = 5,
	PF_STATESET = 6,
};

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

/* Defines a family, after pf_open (or pf_http_new, which opens the store).
 * labels is a NULL-terminated array of label names (NULL for none).
 * Defining the same family again, the same way, returns the same pointer.
 * Returns NULL (and logs why) if the store is not open, a name is invalid,
 * help is empty, a histogram's buckets do not increase, the definition
 * clashes with an earlier one of the same name, or there is no room for it
 * (memory, or the disk of the staging file, which grows with what a process
 * defines: logged and counted). */
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
 * there is no room for it.  A series takes 327 cells more than a classic
 * one (2.6 KB). */
PF_API pf_family *pf_histogram_native(const char *name, const char *help,
                                      const char *const *labels, const double *buckets,
                                      int nbuckets, int schema, double zero_threshold);

/* The series of family f for the given label values: one per label name,
 * in order, then NULL, as the label names were given (NULL, or {NULL}, for
 * a family without labels); valid UTF-8.  Resolve it once and keep it:
 * recording through the handle is a few memory stores.  Returns NULL when f
 * is NULL (silently: its definition's refusal was logged), and NULL with a
 * logged reason when the number of values is not the number of label names,
 * a value is not UTF-8, the values are too long (PF_KEY_MAX), or there is
 * no room for another series: a process holds as many as memory and disk
 * allow (a full disk refuses the new series, logged and counted; the others
 * go on). */
PF_API pf_series *pf_with(pf_family *f, const char *const *values);

/* Recording.  Each call is atomic; between pf_begin() and pf_commit() the
 * calls form one atomic change (a reader, or a kill, sees all or none), of
 * at most 1,024 cell writes.  Each returns 0, or -1 when nothing was
 * recorded: a NULL handle (silently), or, logged, a call that does not fit
 * the family's type (pf_inc and pf_add on a counter or gauge, pf_dec and
 * pf_set on a gauge, pf_observe on a histogram), a negative amount on a
 * counter, NaN (pf_set takes it), an observation that does not fit in what
 * is left of the change, or no store open.  pf_commit without pf_begin is
 * logged and does nothing. */
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
 * value is recorded without the exemplar (invalid labels, or no room for
 * its record: counted as dropped), so a bad trace
 * id never loses a count; -1 when nothing is recorded (as pf_add /
 * pf_observe refuse: NULL handle, wrong type, negative or NaN amount). */
PF_API int pf_add_exemplar(pf_series *s, double v, const char *const *labels);
PF_API int pf_observe_exemplar(pf_series *s, double v, const char *const *labels);

/* ---- Gauge modes, summaries, info, state sets, units (0.4.0) ------------
 *
 * A gauge's value is per process; its mode, chosen where it is defined,
 * says how the processes' values make the one value shown, as
 * client_python's multiprocess modes do (their names in brackets).  "Live"
 * modes take the processes running now; the others every process that ever
 * set the gauge, an ended one with the value it last set.  A value set from
 * the command-line tool (promfcgi(1)) is kept in the store and takes part in
 * every mode but PF_GAUGE_LIVEALL as one more process whose value stays.
 * A gauge defined with one mode is never defined with another: refused as
 * any clash, in a process and across processes.  The most recent modes keep
 * the wall-clock time of each write beside the value (a vDSO clock read and
 * one more cell per write: docs/performance.md); max and min keep a mark
 * that the process set the gauge at all, so a process that never set it
 * does not count as a 0. */
enum pf_gauge_mode {
	PF_GAUGE_LIVESUM = 0,        /* the sum over live processes (livesum; the default) */
	PF_GAUGE_SUM = 1,            /* the sum over every process (sum) */
	PF_GAUGE_LIVEMAX = 2,        /* the largest of the live processes' (livemax) */
	PF_GAUGE_MAX = 3,            /* the largest of every process's last value (max) */
	PF_GAUGE_LIVEMIN = 4,        /* (livemin) */
	PF_GAUGE_MIN = 5,            /* (min) */
	PF_GAUGE_LIVEMOSTRECENT = 6, /* the value written last by a live process (livemostrecent) */
	PF_GAUGE_MOSTRECENT = 7,     /* the value written last by any process (mostrecent) */
	PF_GAUGE_LIVEALL = 8,        /* each live process's own, with a label pid (liveall) */
};

#define PF_UNIT_MAX 32   /* an OpenMetrics unit, bytes incl. NUL */
#define PF_STATES_MAX 32 /* a state set's states */
#define PF_STATE_MAX 64  /* a state's name, bytes incl. NUL */

/* A definition's options (pf_define), extensible: set .size to
 * sizeof (struct pf_family_options); every other field is optional, zero
 * its default.  Later releases add fields at its end only (docs/abi.md). */
struct pf_family_options {
	size_t size;
	/* The OpenMetrics unit ("seconds", "bytes", ...; [a-zA-Z0-9_], not
	 * beginning with _): the family's name must end in _<unit> (a counter's
	 * before its _total), as OpenMetrics requires.  Not for an info or a
	 * state set.  NULL or "": none stated (a name ending in a base unit,
	 * _seconds or _bytes say, still shows it in OpenMetrics). */
	const char *unit;
	enum pf_gauge_mode mode; /* a gauge's (PF_GAUGE_LIVESUM unless set) */
	/* A state set's states, NULL-terminated: 1 to PF_STATES_MAX distinct
	 * UTF-8 names, each shorter than PF_STATE_MAX bytes. */
	const char *const *states;
	/* A histogram's classic bounds, increasing (NULL and 0:
	 * pf_default_buckets, or none with .native); with .native = 1, native
	 * buckets too, at .schema and .zero_threshold (as pf_histogram_native
	 * takes them: PF_NATIVE_SCHEMA_DEFAULT and
	 * PF_NATIVE_ZERO_THRESHOLD_DEFAULT are the usual; 0 is a valid schema,
	 * so set both). */
	const double *buckets;
	int nbuckets;
	int native;
	int schema;
	double zero_threshold;
};

/* Defines a family of any type with options (NULL: the defaults): the one
 * definition that takes everything, e.g.
 *   pf_define(PF_GAUGE, "backup_last_success_seconds", "When the last backup ended.", NULL,
 *             &(struct pf_family_options){.size = sizeof(struct pf_family_options),
 *                                         .unit = "seconds", .mode = PF_GAUGE_MAX});
 * The rules of the short forms above and below apply, and: a unit must be
 * the name's suffix; a mode is a gauge's, states a state set's, buckets a
 * histogram's.  NULL (and a line saying why) if not. */
PF_API pf_family *pf_define(enum pf_type type, const char *name, const char *help,
                            const char *const *labels, const struct pf_family_options *options);

/* A gauge with a mode (pf_define's short form).  PF_GAUGE_LIVEALL adds a
 * label pid to the family's (none of its own may be called so). */
PF_API pf_family *pf_gauge_mode(const char *name, const char *help, const char *const *labels,
                                enum pf_gauge_mode mode);

/* A summary: pf_observe counts v (>= 0, not NaN: OpenMetrics' _sum never
 * goes negative) and adds it to the sum, exactly across processes, like a
 * counter.  No label may be called quantile. */
PF_API pf_family *pf_summary(const char *name, const char *help, const char *const *labels);

/* An info: label sets with the value 1, e.g. build_info{version="1.2"}.  The
 * name ends in _info (OpenMetrics' family is the name without it).
 * pf_with(info, values) shows the series, while this process lives; there
 * is nothing else to record. */
PF_API pf_family *pf_info(const char *name, const char *help, const char *const *labels);

/* A state set: per series one of states is true, the one set last by any
 * process (pf_set_state), or the first before any was set; shown as one
 * sample per state, labelled with the family's name (which must therefore
 * also be a valid label name, and none of labels).  e.g.
 *   pf_stateset("breaker", "The circuit breaker.", NULL,
 *               (const char *[]){"closed", "open", "half_open", NULL}); */
PF_API pf_family *pf_stateset(const char *name, const char *help, const char *const *labels,
                              const char *const *states);
/* Makes state (one of the family's) the series' state: 0, or -1 if it is not
 * one of them (logged) or s is not a state set's. */
PF_API int pf_set_state(pf_series *s, const char *state);

/* Name rules of the Prometheus data model (store/names.c). */
PF_API int pf_valid_metric_name(const char *name);
PF_API int pf_valid_label_name(const char *name);

#endif
