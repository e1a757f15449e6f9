/* SPDX-License-Identifier: MIT */
/*
 * registry.c — the public recording API (promfcgi.h): a process's families,
 * its series handles, and the staging file they write to.
 *
 * One process has one registry.  A handle (pf_series) is the slot of a
 * series in the staging file; resolving it costs a hash lookup once, and
 * recording through it is a few memory stores.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/model.h"
#include "store/fold.h"
#include "store/hash.h"
#include "store/journal.h"
#include "store/log.h"
#include "store/names.h"
#include "store/path.h"
#include "promfcgi.h"
#include "store/stage.h"

const double pf_default_buckets[] = {.005, .01, .025, .05, .075, .1, .25,
                                     .5,   .75, 1,   2.5,  5,   7.5, 10};
const int pf_default_nbuckets = sizeof pf_default_buckets / sizeof pf_default_buckets[0];

struct pf_family {
	uint32_t index; /* in the staging file */
	struct family_def def;
};

struct pf_series {
	struct pf_family *family;
	uint32_t cell;
};

static struct {
	struct stage stage;
	char db_path[PATH_BYTES];
	int open;
	struct pf_family families[STAGE_MAX_FAMILIES];
	uint32_t nfamilies;
	struct pf_series series[STAGE_MAX_SLOTS]; /* by slot index */
	struct hash_table by_key;                  /* slots by (family, label values) */
	pf_series *errors[LOG_OP_COUNT];            /* promfcgi_store_errors_total{op} */
	pf_series *cpu, *rss, *vm, *fds;           /* process_*{program} */
	time_t last_check;                         /* of the staging file, by pf_maintain */
	int oneshot;                               /* a CGI process: journal.h */
	int marker;                                /* fd of its marker + 1, 0 if none */
	uint16_t exemplar_of[STAGE_MAX_CELLS];     /* per bucket cell: exemplar slot + 1 */
} reg;

_Static_assert(STAGE_MAX_EXEMPLARS < UINT16_MAX, "exemplar_of holds a slot + 1");

/* SQLite will not use fds 0-2 (a stray write could hit the socket), and
 * FastCGI servers may start workers with 1 and 2 closed. */
static void keep_std_fds_open(void)
{
	for (int fd = 1; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", O_RDWR);
			if (n >= 0 && n != fd) {
				dup2(n, fd);
				close(n);
			}
		}
}

/* Process metrics, per program, summed over its processes: gauges over the
 * live ones; CPU over all that ever ran (a counter must not drop when a
 * worker dies), as of each one's last update (at most 1 s old, see
 * pf_maintain).  Start time has no meaningful sum and is left out. */
static void define_process_families(void)
{
	static const char *const by_program[] = {"program", NULL};
	const char *program[] = {program_invocation_short_name};
	reg.cpu = pf_with(pf_counter("process_cpu_seconds_total",
	                             "User and system CPU time of the program's processes.",
	                             by_program), program);
	reg.rss = pf_with(pf_gauge("process_resident_memory_bytes",
	                           "Resident memory of the program's live processes.", by_program),
	                  program);
	reg.vm = pf_with(pf_gauge("process_virtual_memory_bytes",
	                          "Virtual memory of the program's live processes.", by_program),
	                 program);
	reg.fds = pf_with(pf_gauge("process_open_fds",
	                           "Open file descriptors of the program's live processes.", by_program),
	                  program);
}

static void record_process(void)
{
	struct rusage ru;
	unsigned long vm_pages = 0, rss_pages = 0;
	int fds = 0;
	FILE *fp = fopen("/proc/self/statm", "re");
	if (fp) {
		if (fscanf(fp, "%lu %lu", &vm_pages, &rss_pages) != 2)
			vm_pages = rss_pages = 0;
		fclose(fp);
	}
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		fds += e->d_name[0] != '.';
	if (d)
		closedir(d);
	double page = (double)sysconf(_SC_PAGESIZE);
	pf_begin();
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		stage_assign(&reg.stage, reg.cpu->cell,
		             (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	pf_set(reg.rss, (double)rss_pages * page);
	pf_set(reg.vm, (double)vm_pages * page);
	pf_set(reg.fds, d ? fds - 1 : 0); /* less the one opendir used */
	pf_commit();
}

static pf_family *errors_family(void)
{
	static const char *const labels[] = {"op", NULL};
	return pf_counter("promfcgi_store_errors_total", "Errors of the metrics store, by operation.",
	                  labels);
}

static void count_error(enum log_op op)
{
	if (op >= LOG_OP_COUNT)
		return;
	if (!reg.errors[op]) { /* a one-shot process defines it when it needs it */
		const char *v[] = {log_op_names[op], NULL};
		reg.errors[op] = pf_with(errors_family(), v);
	}
	pf_inc(reg.errors[op]);
}

static void define_own_families(void)
{
	log_set_counter(count_error);
	if (reg.oneshot) {
		/* CPU only: the gauges would die with the process, and every
		 * series defined costs a CGI request page faults */
		static const char *const by_program[] = {"program", NULL};
		const char *program[] = {program_invocation_short_name};
		reg.cpu = pf_with(pf_counter("process_cpu_seconds_total",
		                             "User and system CPU time of the program's processes.",
		                             by_program), program);
		return;
	}
	pf_family *f = errors_family(); /* every op at zero from the start */
	for (int op = 0; op < LOG_OP_COUNT; op++) {
		const char *v[] = {log_op_names[op], NULL};
		reg.errors[op] = pf_with(f, v);
	}
	define_process_families();
	if (reg.cpu)
		record_process();
}

int pf_open(const char *db_path)
{
	if (reg.open)
		return 0;
	keep_std_fds_open();
	if (!db_path || !db_path[0])
		db_path = getenv("PROMFCGI_DB");
	if (!db_path || !db_path[0])
		db_path = PROMFCGI_DEFAULT_DB;
	/* too long: "", which no file name is made from (stage_dir refuses it) */
	path_format(reg.db_path, "%s", db_path);
	char dir[PATH_BYTES];
	int rc = 0;
	if (proc_is_cgi()) {
		/* One request, then exit: no staging file to create, map and
		 * remove; pf_close appends this process's totals to the journal. */
		reg.oneshot = 1;
		stage_create_anonymous(&reg.stage, 0);
		reg.open = 1;
		define_own_families();
		return reg.stage.f ? 0 : -1;
	}
	if (stage_dir(reg.db_path, dir) != 0 || stage_create(&reg.stage, dir) != 0) {
		int e = errno;
		stage_create_anonymous(&reg.stage, 1);
		reg.open = 1;
		define_own_families();
		log_error(LOG_STAGE, "cannot create a staging file in %s: %s; counting in memory only",
		         dir, strerror(e));
		return -1;
	}
	reg.open = 1;
	define_own_families();
	return rc;
}

int pf_maintain(void)
{
	struct timespec now;
	char dir[PATH_BYTES];
	if (!reg.open || !reg.stage.f)
		return -1;
	if (reg.oneshot)
		return 0;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec == reg.last_check)
		return 0;
	reg.last_check = now.tv_sec;
	if (reg.cpu)
		record_process();
	if (stage_dir(reg.db_path, dir) != 0)
		return -1;
	int was_anonymous = !reg.stage.path[0];
	switch (stage_check(&reg.stage, dir)) {
	case 0:
		return 0;
	case 1:
		log_error(LOG_STAGE, was_anonymous ? "staging file created in %s; counts kept"
		                                    : "staging file was gone; recreated in %s", dir);
		return 0;
	default:
		log_error(LOG_STAGE, "cannot create a staging file in %s: %s; counting in memory",
		         dir, strerror(errno));
		return -1;
	}
}

const char *pf_db_path(void)
{
	return reg.db_path;
}

int pf_publish(void)
{
	char dir[PATH_BYTES], *rec;
	size_t len;
	if (!reg.oneshot || !reg.stage.f || stage_dir(reg.db_path, dir) != 0)
		return 0;
	if (journal_pack(reg.stage.f, JOURNAL_GAUGES, &rec, &len) != 0)
		return -1;
	int fd = journal_mark(dir, reg.marker - 1, rec, len);
	free(rec);
	if (fd < 0) {
		log_error(LOG_STAGE, "cannot mark a request in flight in %s: %s", dir, strerror(errno));
		reg.marker = 0;
		return -1;
	}
	reg.marker = fd + 1;
	return 0;
}

/* A one-shot process's end: its totals go to the journal in one write,
 * then its marker goes.  Killed before the write: nothing of it counts (its
 * response was not complete); after: all of it. */
static int close_oneshot(void)
{
	char dir[PATH_BYTES], *rec;
	size_t len;
	struct rusage ru;
	int rc = -1;
	if (reg.cpu && getrusage(RUSAGE_SELF, &ru) == 0) {
		pf_begin();
		stage_assign(&reg.stage, reg.cpu->cell,
		             (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
		pf_commit();
	}
	if (reg.stage.f && stage_dir(reg.db_path, dir) == 0 &&
	    journal_pack(reg.stage.f, JOURNAL_TOTALS, &rec, &len) == 0) {
		rc = journal_append(dir, rec, len);
		if (rc != 0)
			log_error(LOG_STAGE, "cannot append to %s/%s: %s", dir, JOURNAL_FILE,
			         strerror(errno));
		free(rec);
	}
	if (reg.marker)
		close(reg.marker - 1); /* the marker is free again: its gauges are gone */
	stage_destroy(&reg.stage, 0);
	reg.open = reg.oneshot = reg.marker = 0; /* the rest dies with the process */
	return rc;
}

int pf_close(void)
{
	char dir[PATH_BYTES];
	if (!reg.open)
		return 0;
	if (reg.oneshot)
		return close_oneshot();
	int rc = -1;
	if (reg.cpu)
		record_process(); /* the last word on this process's CPU time */
	/* A file gone, or never made, is put back first: its totals are all the
	 * store has not yet seen of this process. */
	if (stage_dir(reg.db_path, dir) == 0)
		stage_check(&reg.stage, dir);
	if (reg.stage.path[0]) {
		struct stage_snapshot snap;
		struct db *db;
		char err[256];
		/* No change after this: from here on the rows may be retired and
		 * forgotten, which a scrape must know (metrics/merge.c, "the rule") */
		stage_mark_closing(&reg.stage);
		if (stage_test_hook)
			stage_test_hook("closing");
		if (db_open(reg.db_path, 1000, &db, err, sizeof err) != 0) {
			log_error(LOG_OPEN, "%s", err);
		} else {
			if (stage_snapshot(reg.stage.path, &snap) == 0) {
				/* retire in the fold's transaction, unlink, then forget: a
				 * crash between leaves a retired row, never a refold */
				if (fold_snapshot(db, &snap, 1) != DB_FOLD_ERROR) {
					if (stage_test_hook)
						stage_test_hook("folded");
					if (unlink(reg.stage.path) == 0 || errno == ENOENT) {
						if (stage_test_hook)
							stage_test_hook("unlinked");
						db_forget(db, snap.name);
						if (stage_test_hook)
							stage_test_hook("forgotten");
						rc = 0;
					} else {
						log_error(LOG_FOLD, "cannot remove %s: %s", reg.stage.path,
						         strerror(errno));
					}
				} else {
					log_error(LOG_FOLD, "final fold: %s", db_errmsg(db));
				}
				stage_snapshot_free(&snap);
			}
			db_close(db);
		}
	}
	stage_destroy(&reg.stage, 0);
	hash_free(&reg.by_key);
	memset(&reg, 0, sizeof reg);
	return rc;
}

static pf_family *define_def(const struct family_def *def)
{
	for (uint32_t i = 0; i < reg.nfamilies; i++)
		if (strcmp(reg.families[i].def.name, def->name) == 0)
			return model_family_compat(&reg.families[i].def, def) == MODEL_SAME &&
			               strcmp(reg.families[i].def.help, def->help) == 0
			           ? &reg.families[i]
			           : NULL;
	if (reg.nfamilies == STAGE_MAX_FAMILIES)
		return NULL;
	int index = stage_add_family(&reg.stage, def);
	if (index < 0)
		return NULL;
	struct pf_family *f = &reg.families[reg.nfamilies++];
	f->index = (uint32_t)index;
	f->def = *def;
	return f;
}

static pf_family *define(int type, const char *name, const char *help, const char *const *labels,
                         const double *buckets, int nbuckets)
{
	struct family_def def;
	if (!reg.open || names_build_family(&def, type, name, help, labels, buckets, nbuckets) != 0)
		return NULL;
	return define_def(&def);
}

pf_family *pf_counter(const char *name, const char *help, const char *const *labels)
{
	return define(PF_COUNTER, name, help, labels, NULL, 0);
}

pf_family *pf_gauge(const char *name, const char *help, const char *const *labels)
{
	return define(PF_GAUGE, name, help, labels, NULL, 0);
}

pf_family *pf_histogram(const char *name, const char *help, const char *const *labels,
                        const double *buckets, int nbuckets)
{
	if (!buckets) {
		buckets = pf_default_buckets;
		nbuckets = pf_default_nbuckets;
	}
	return define(PF_HISTOGRAM, name, help, labels, buckets, nbuckets);
}

pf_family *pf_histogram_native(const char *name, const char *help, const char *const *labels,
                               const double *buckets, int nbuckets, int schema,
                               double zero_threshold)
{
	struct family_def def;
	if (!buckets)
		nbuckets = 0;
	if (!reg.open ||
	    names_build_family(&def, PF_HISTOGRAM, name, help, labels, buckets, nbuckets) != 0 ||
	    names_build_native(&def, schema, zero_threshold) != 0)
		return NULL;
	return define_def(&def);
}

static uint32_t series_hash(uint32_t family, const char *key, uint32_t len)
{
	return hash_fnv1a(HASH_FNV_BASIS ^ family, key, len);
}

/* Room in the table for one more slot than the file has (every slot put
 * back to grow it): 0, or -1 out of memory. */
static int slot_room(const struct stage_file *file)
{
	uint32_t n = atomic_load_explicit(&file->hdr.nslots, memory_order_relaxed);
	if (!hash_full(&reg.by_key, n))
		return 0;
	if (hash_reset(&reg.by_key, n + 1) != 0)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		hash_put(&reg.by_key,
		         series_hash(file->slots[i].family, file->slots[i].key, file->slots[i].keylen), i);
	return 0;
}

pf_series *pf_with(pf_family *f, const char *const *values)
{
	char key[PF_KEY_MAX];
	if (!f || !reg.stage.f)
		return NULL;
	int len = names_encode_key(values, (int)f->def.nlabels, key, sizeof key);
	if (len < 0)
		return NULL;
	struct stage_file *file = reg.stage.f;
	uint32_t h = series_hash(f->index, key, (uint32_t)len), probe = h, at;
	while ((at = hash_next(&reg.by_key, &probe)) != HASH_NONE) {
		struct stage_slot *s = &file->slots[at];
		if (s->family == f->index && s->keylen == (uint32_t)len && memcmp(s->key, key, (size_t)len) == 0)
			return &reg.series[at];
	}
	int slot = slot_room(file) == 0 ? stage_add_slot(&reg.stage, f->index, key, (uint32_t)len) : -2;
	if (slot < 0) {
		/* every slot or cell of the file is taken (or no memory for its
		 * index): this series goes unrecorded, which is said and counted
		 * like any store failure */
		log_error(LOG_STAGE, "no room for another series (of %s) in this process's %s: "
		          "not recorded", f->def.name, slot == -2 ? "memory" : "staging file");
		return NULL;
	}
	hash_put(&reg.by_key, h, (uint32_t)slot);
	reg.series[slot].family = f;
	reg.series[slot].cell = file->slots[slot].cell;
	return &reg.series[slot];
}

void pf_begin(void)
{
	reg.stage.depth++;
}

void pf_commit(void)
{
	if (reg.stage.depth > 0 && --reg.stage.depth == 0)
		stage_commit(&reg.stage);
}

/* Applies one change, inside the caller's pf_begin/pf_commit if any. */
static int change(int rc)
{
	if (reg.stage.depth == 0)
		stage_commit(&reg.stage);
	return rc;
}

int pf_add(pf_series *s, double v)
{
	if (!s || !reg.open || isnan(v))
		return -1;
	if (s->family->def.type == PF_HISTOGRAM || (s->family->def.type == PF_COUNTER && v < 0))
		return -1;
	return change(stage_add(&reg.stage, s->cell, v));
}

int pf_inc(pf_series *s)
{
	return pf_add(s, 1.0);
}

int pf_dec(pf_series *s)
{
	if (!s || !reg.open || s->family->def.type != PF_GAUGE)
		return -1;
	return change(stage_add(&reg.stage, s->cell, -1.0));
}

int pf_set(pf_series *s, double v)
{
	if (!s || !reg.open || s->family->def.type != PF_GAUGE)
		return -1;
	return change(stage_assign(&reg.stage, s->cell, v));
}

/* The cells of the native part of series s that an observation of v
 * changes, added to the pending change; -1 (nothing added) if they do not
 * fit in it.  Most observations change the count, the sum and one bucket
 * (or the zero count); one outside its sign's window moves the window or
 * lowers the schema, which rewrites up to all NATIVE_CELLS cells: the
 * whole new state goes through the redo log like any change (stage.h). */
static int observe_native(pf_series *s, double v, uint32_t room)
{
	const struct family_def *d = &s->family->def;
	struct stage *st = &reg.stage;
	uint32_t n0 = s->cell + d->nbuckets + 2, cell = UINT32_MAX;
	double schema = stage_value(st, n0 + NATIVE_SCHEMA);
	if (!(schema >= PF_NATIVE_SCHEMA_MIN && schema <= PF_NATIVE_SCHEMA_MAX))
		return -1; /* never: the cells are this process's own */
	if (isnan(v)) {
		cell = UINT32_MAX - 1; /* count and sum only */
	} else if (fabs(v) <= stage_value(st, n0 + NATIVE_ZERO_THRESHOLD)) {
		cell = n0 + NATIVE_ZERO_COUNT;
	} else {
		int neg = v < 0, key = native_bucket(v, (int)schema);
		double start = stage_value(st, n0 + (neg ? NATIVE_NEG_START : NATIVE_POS_START));
		if (key >= start && key < start + NATIVE_BUCKETS)
			cell = n0 + (uint32_t)(neg ? NATIVE_NEG : NATIVE_POS) + (uint32_t)(key - start);
	}
	if (cell != UINT32_MAX) { /* in the window: three cells */
		if (room < 3)
			return -1;
		stage_add(st, n0 + NATIVE_COUNT, 1);
		stage_add(st, n0 + NATIVE_SUM, v);
		if (cell != UINT32_MAX - 1)
			stage_add(st, cell, 1);
		return 0;
	}
	double now[NATIVE_CELLS], was[NATIVE_CELLS];
	stage_values(st, n0, NATIVE_CELLS, was);
	memcpy(now, was, sizeof now);
	if (native_observe(now, v) < 0)
		return -1;
	uint32_t changed = 0;
	for (uint32_t i = 0; i < NATIVE_CELLS; i++)
		changed += memcmp(&now[i], &was[i], sizeof now[i]) != 0;
	if (changed > room)
		return -1;
	for (uint32_t i = 0; i < NATIVE_CELLS; i++)
		if (memcmp(&now[i], &was[i], sizeof now[i]) != 0)
			stage_assign(st, n0 + i, now[i]);
	return 0;
}

/* One observation of v in s, inside the caller's change, all of it or
 * nothing: the classic bucket b and the sum, and the native part. */
static int observe(pf_series *s, double v, uint32_t b)
{
	const struct family_def *d = &s->family->def;
	uint32_t room = stage_room(&reg.stage);
	if (!reg.stage.f || room < 2)
		return -1;
	if (d->native && observe_native(s, v, room - 2) != 0)
		return -1;
	stage_add(&reg.stage, s->cell + b, 1.0);
	stage_add(&reg.stage, s->cell + d->nbuckets + 1, v);
	return 0;
}

static uint32_t classic_bucket(const struct family_def *d, double v)
{
	uint32_t b = 0;
	while (b < d->nbuckets && v > d->buckets[b])
		b++;
	return b;
}

int pf_observe(pf_series *s, double v)
{
	if (!s || !reg.open || s->family->def.type != PF_HISTOGRAM || isnan(v))
		return -1;
	return change(observe(s, v, classic_bucket(&s->family->def, v)));
}

/* The exemplar of a change already pending for the series' bucket: 0, or 1
 * if it cannot be kept (invalid labels, no free slot, a full change). */
static int keep_exemplar(pf_series *s, uint32_t bucket, double v, const char *const *labels)
{
	char enc[MODEL_EXEMPLAR_BYTES];
	int len = names_encode_exemplar(labels, enc);
	uint32_t cell = s->cell + bucket;
	if (len < 0 || cell >= STAGE_MAX_CELLS)
		return 1;
	if (!reg.exemplar_of[cell]) {
		int i = stage_add_exemplar(&reg.stage, (uint32_t)(s - reg.series), bucket);
		if (i < 0)
			return 1;
		reg.exemplar_of[cell] = (uint16_t)(i + 1);
	}
	struct timespec now; /* the vDSO: no system call */
	clock_gettime(CLOCK_REALTIME, &now);
	double ts = (double)now.tv_sec + (double)(now.tv_nsec / 1000000) / 1e3;
	return stage_exemplar(&reg.stage, reg.exemplar_of[cell] - 1u, v, ts, enc, (uint32_t)len) == 0
	           ? 0
	           : 1;
}

int pf_add_exemplar(pf_series *s, double v, const char *const *labels)
{
	if (!s || !reg.open || isnan(v) || s->family->def.type != PF_COUNTER || v < 0)
		return -1;
	pf_begin(); /* the count and its exemplar: one change */
	int rc = stage_add(&reg.stage, s->cell, v);
	if (rc == 0)
		rc = keep_exemplar(s, 0, v, labels);
	pf_commit();
	return rc;
}

int pf_observe_exemplar(pf_series *s, double v, const char *const *labels)
{
	if (!s || !reg.open || s->family->def.type != PF_HISTOGRAM || isnan(v))
		return -1;
	uint32_t b = classic_bucket(&s->family->def, v);
	pf_begin();
	int rc = observe(s, v, b);
	if (rc == 0)
		rc = keep_exemplar(s, b, v, labels);
	pf_commit();
	return rc;
}
