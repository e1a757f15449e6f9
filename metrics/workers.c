/* SPDX-License-Identifier: MIT */
/*
 * workers.c — the workers a scrape keeps between scrapes, and a round's
 * look at the staging directory (see workers.h).
 */
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/buf.h"
#include "store/log.h"
#include "store/proc.h"
#include "metrics/workers.h"

static uint32_t name_hash(const char *name)
{
	return hash_fnv1a(HASH_FNV_BASIS, name, strlen(name));
}

/* Every worker put back into the table (after a removal, or to grow it);
 * if it cannot grow, the table is dropped and lookups scan. */
static void index_all(struct workers *ws)
{
	if (hash_reset(&ws->by_name, ws->n) != 0) {
		hash_free(&ws->by_name);
		return;
	}
	for (uint32_t i = 0; i < ws->n; i++)
		hash_put(&ws->by_name, name_hash(ws->w[i]->v.snap.name), i);
}

struct worker *workers_named(const struct workers *ws, const char *name)
{
	if (!ws->by_name.size) {
		for (uint32_t i = 0; i < ws->n; i++)
			if (strcmp(ws->w[i]->v.snap.name, name) == 0)
				return ws->w[i];
		return NULL;
	}
	uint32_t probe = name_hash(name), i;
	while ((i = hash_next(&ws->by_name, &probe)) != HASH_NONE)
		if (strcmp(ws->w[i]->v.snap.name, name) == 0)
			return ws->w[i];
	return NULL;
}

static void worker_free(struct worker *w)
{
	stage_view_close(&w->v);
	if (w->pidfd >= 0)
		close(w->pidfd);
	free(w->fam_map);
	free(w->slot_ser);
	free(w);
}

static void worker_remove(struct workers *ws, struct worker *w)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < ws->n; i++)
		if (ws->w[i] != w)
			ws->w[kept++] = ws->w[i];
	ws->n = kept;
	worker_free(w);
	index_all(ws);
}

void workers_sweep(struct workers *ws, int all)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < ws->n; i++) {
		struct worker *w = ws->w[i];
		if (all || w->done || (!w->present && (w->dead || !w->live)))
			worker_free(w);
		else
			ws->w[kept++] = w;
	}
	if (kept != ws->n) {
		ws->n = kept;
		index_all(ws);
	}
	if (all) {
		free(ws->w);
		hash_free(&ws->by_name);
		memset(ws, 0, sizeof *ws);
	}
}

void worker_set_aside(const char *path, const char *name, int live)
{
	char moved[PATH_BYTES];
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) : 0;
	if (!live && path_format(moved, "%.*s/damaged-%s", dirlen, path, name) == 0 &&
	    rename(path, moved) == 0)
		log_error(LOG_READ, "damaged staging file moved aside to %s", moved);
	else
		log_error(LOG_READ, "damaged staging file %s skipped", path);
}

static struct worker *worker_open(struct workers *ws, const struct view *v, const char *path,
                                  const char *name)
{
	struct worker *w = calloc(1, sizeof *w);
	if (!w || array_grow32((void **)&ws->w, &ws->cap, ws->n + 1, sizeof *ws->w)) {
		free(w);
		return NULL;
	}
	int rc = stage_view_open(path, &w->v);
	if (rc != 0) {
		if (rc == STAGE_INVALID)
			worker_set_aside(path, name, proc_name_is_live(name));
		else
			log_error(LOG_READ, "unreadable staging file %s", path);
		free(w);
		return NULL;
	}
	const struct stage_snapshot *s = &w->v.snap;
	w->live = proc_watch(s->pid, s->start_time, s->boot_id, &w->pidfd);
	w->dead = !w->live;
	w->gen = v->gen - 1;
	ws->w[ws->n++] = w;
	if (!ws->by_name.size || hash_full(&ws->by_name, ws->n - 1))
		index_all(ws);
	else
		hash_put(&ws->by_name, name_hash(s->name), ws->n - 1);
	return w;
}

/* ---- a round ------------------------------------------------------------ */

static void names_add(struct names *l, const char *name)
{
	size_t n = strlen(name);
	if (n < NAME_BYTES && !array_grow32((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
		memcpy(l->v[l->n++], name, n + 1);
}

void workers_scan(struct workers *ws, const struct view *v, const char *dir, struct round *r)
{
	char path[PATH_BYTES];
	r->journals.n = r->markers.n = 0;
	r->files = 0;
	for (uint32_t i = 0; i < ws->n; i++)
		ws->w[i]->present = 0;
	DIR *d = opendir(dir);
	if (!d)
		return; /* no worker has started yet, or the directory is gone */
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		if (strncmp(n, "j-", 2) == 0) {
			names_add(&r->journals, n);
		} else if (strncmp(n, "o-", 2) == 0) {
			names_add(&r->markers, n);
		} else if (strncmp(n, "w-", 2) == 0 && path_join(path, dir, n) == 0) {
			struct worker *w = workers_named(ws, n);
			/* the same name with another inode: the file was made again
			 * (its directory deleted) with the same cumulative totals */
			if (w && e->d_ino != w->v.ino) {
				worker_remove(ws, w);
				w = NULL;
			}
			if (!w)
				w = worker_open(ws, v, path, n);
			if (w) {
				w->present = 1;
				r->files++;
			}
		}
	}
	closedir(d);
}

void workers_watch(struct workers *ws)
{
	struct pollfd stack[256], *p = stack;
	if (ws->n > 256 && !(p = malloc(ws->n * sizeof *p)))
		p = NULL;
	uint32_t n = 0;
	for (uint32_t i = 0; i < ws->n; i++) {
		struct worker *w = ws->w[i];
		if (w->dead) {
			w->live = 0;
		} else if (w->pidfd < 0 || !p) {
			const struct stage_snapshot *s = &w->v.snap;
			w->live = proc_is_live(s->pid, s->start_time, s->boot_id);
			w->dead = !w->live;
		} else {
			p[n].fd = w->pidfd;
			p[n].events = POLLIN;
			p[n++].revents = 0;
		}
	}
	if (n && poll(p, n, 0) < 0)
		n = 0; /* cannot tell: taken as live, as /proc fails toward live */
	uint32_t k = 0;
	for (uint32_t i = 0; p && i < ws->n; i++) {
		struct worker *w = ws->w[i];
		if (w->dead || w->pidfd < 0)
			continue;
		w->live = k >= n || !(p[k].revents & (POLLIN | POLLHUP | POLLERR));
		w->dead = !w->live;
		k++;
	}
	if (p != stack)
		free(p);
}

void round_free(struct round *r)
{
	free(r->journals.v);
	free(r->markers.v);
	memset(r, 0, sizeof *r);
}

/* ---- the view's families and series ---------------------------------------- */

void workers_map(struct worker *w, struct view *v)
{
	const struct stage_snapshot *s = &w->v.snap;
	if (w->gen != v->gen) {
		w->gen = v->gen;
		w->nfam_mapped = w->nmapped = 0;
	}
	if (w->inc_gen != v->inc_gen) {
		w->inc_gen = v->inc_gen;
		w->inc = view_incarnation(v, s->name);
	}
	if (w->nfam_mapped < s->nfamilies &&
	    array_grow32((void **)&w->fam_map, &w->cap_fam_map, s->nfamilies, sizeof *w->fam_map))
		return;
	for (; w->nfam_mapped < s->nfamilies; w->nfam_mapped++)
		w->fam_map[w->nfam_mapped] = view_add_family(v, &s->families[w->nfam_mapped], 0);
	if (w->nmapped < s->nslots &&
	    array_grow32((void **)&w->slot_ser, &w->cap_slot_ser, s->nslots, sizeof *w->slot_ser))
		return;
	for (; w->nmapped < s->nslots; w->nmapped++) {
		const struct stage_slot *slot = &s->slots[w->nmapped];
		uint32_t f = w->fam_map[slot->family];
		if (f != VIEW_NONE && v->fams[f].def.type == PF_GAUGE &&
		    v->fams[f].def.mode == PF_GAUGE_LIVEALL) {
			/* each process's own series: its label values, then its pid */
			char key[PF_KEY_MAX + 24];
			uint32_t n = slot->keylen <= PF_KEY_MAX ? slot->keylen : 0;
			memcpy(key, slot->key, n);
			n += (uint32_t)snprintf(key + n, sizeof key - n, "%lld", (long long)s->pid) + 1;
			w->slot_ser[w->nmapped] = view_add_series(v, f, key, n, 0);
			continue;
		}
		w->slot_ser[w->nmapped] =
		    f == VIEW_NONE ? VIEW_NONE : view_add_series(v, f, slot->key, slot->keylen, slot->created);
	}
}

void workers_mark_used(const struct workers *ws, const struct view *v, unsigned char *used)
{
	for (uint32_t i = 0; i < ws->n; i++) {
		const struct worker *w = ws->w[i];
		if (w->gen != v->gen || w->damaged || w->done)
			continue;
		for (uint32_t j = 0; j < w->nmapped; j++)
			if (w->slot_ser[j] != VIEW_NONE)
				used[w->slot_ser[j]] = 1;
		for (uint32_t j = 0; j < w->nfam_mapped; j++)
			if (w->fam_map[j] != VIEW_NONE)
				used[v->nsers + w->fam_map[j]] = 1;
	}
}
