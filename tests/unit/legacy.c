/* SPDX-License-Identifier: MIT */
/*
 * legacy.c — files as other code would leave them, for the tests (util.h):
 * a staging file mapped read-write (to damage it as a bug or a disk
 * would), a staging file of an earlier release's layout (versions 1, 2
 * and 3, as those releases wrote them), and a journal record of release
 * 0.3.0 (version 1).  The old layouts are written here from their
 * descriptions in store/stage_old.h and journal.h, not by the code that
 * reads them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/hash.h"
#include "store/journal.h"
#include "store/stage.h"
#include "store/stage_old.h"
#include "util.h"

int test_stage_path(const char *db, long pid, char *path, size_t len)
{
	char dir[600], want[32];
	snprintf(dir, sizeof dir, "%s.stage", db);
	snprintf(want, sizeof want, "-%ld-", pid);
	path[0] = '\0';
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, "w-", 2) == 0 && strstr(e->d_name, want))
			snprintf(path, len, "%s/%s", dir, e->d_name);
	if (d)
		closedir(d);
	return path[0] ? 0 : -1;
}

int test_stage_map(const char *db, long pid, struct test_stage *t)
{
	char path[1200];
	struct stat st;
	memset(t, 0, sizeof *t);
	if (test_stage_path(db, pid, path, sizeof path) != 0)
		return -1;
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return -1;
	void *p = fstat(fd, &st) == 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
	                                     MAP_SHARED, fd, 0)
	                              : MAP_FAILED;
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	t->base = p;
	t->size = (size_t)st.st_size;
	t->h = p;
	return 0;
}

void test_stage_unmap(struct test_stage *t)
{
	if (t->base)
		munmap(t->base, t->size);
	memset(t, 0, sizeof *t);
}

void *test_stage_elem(const struct test_stage *t, int array, uint64_t i)
{
	uint64_t off;
	unsigned k = stage_chunk_of(i, (unsigned)__builtin_ctz(t->h->arrays[array].base), &off);
	return t->base + t->h->chunk[array][k] + off * t->h->arrays[array].elem_bytes;
}

struct stage_ex_copy *test_ex_copy(struct stage_ex_rec *r, unsigned which)
{
	return (struct stage_ex_copy *)(void *)((unsigned char *)(r + 1) +
	                                        which * (sizeof(struct stage_ex_copy) + r->cap));
}

/* ---- staging files of versions 1, 2 and 3 ----------------------------------- */

static size_t old_size(unsigned version)
{
	return version == 1 ? STAGE_V1_SIZE : version == 2 ? STAGE_V2_SIZE : STAGE_V3_SIZE;
}

int test_make_legacy(const char *path, unsigned version)
{
	struct stage_snapshot snap;
	if (version < 1 || version > 3 || stage_snapshot(path, &snap) != 0)
		return -1;
	const struct stage_old_layout *l = stage_old_layout(old_size(version));
	unsigned char *b = calloc(1, l->size);
	int rc = -1;
	uint32_t cell = 0, nx = 0;
	if (!b || snap.nfamilies > STAGE_V3_FAMILIES || snap.nslots > STAGE_V3_SLOTS)
		goto out;
	struct stage_v3_header *h = (struct stage_v3_header *)(void *)b;
	h->magic = STAGE_MAGIC;
	h->version = version;
	h->pid = snap.pid;
	h->start_time = snap.start_time;
	memcpy(h->boot_id, snap.boot_id, sizeof h->boot_id);
	for (uint32_t i = 0; i < snap.nfamilies; i++) {
		if (version < 3 && snap.families[i].native)
			goto out; /* those releases had no native buckets */
		memcpy(b + l->families + i * l->family_size, &snap.families[i], l->family_size);
	}
	/* the cells laid out one series after another, as those releases did */
	for (uint32_t i = 0; i < snap.nslots; i++) {
		const struct stage_slot *s = &snap.slots[i];
		uint32_t n = snap.families[s->family].ncells;
		struct stage_v3_slot *o = (struct stage_v3_slot *)(void *)(b + l->slots) + i;
		if (s->keylen > STAGE_V3_KEY || cell + n > l->max_cells)
			goto out;
		o->family = s->family;
		o->cell = cell;
		o->keylen = s->keylen;
		o->created = s->created;
		memcpy(o->key, s->key, s->keylen);
		memcpy(b + l->cells + cell * sizeof(double), &snap.cells[s->cell], n * sizeof(double));
		cell += n;
	}
	if (l->ex) {
		struct stage_v3_exemplars *x = (struct stage_v3_exemplars *)(void *)(b + l->ex);
		for (uint32_t i = 0; i < snap.nexemplars; i++) {
			if (!snap.exemplars[i].sel)
				continue;
			if (nx == STAGE_V3_EXEMPLARS)
				goto out;
			x->e[nx].slot = snap.exemplars[i].slot;
			x->e[nx].bucket = snap.exemplars[i].bucket;
			x->e[nx].sel = 1;
			x->e[nx++].copy[0] = snap.exemplars[i].x;
		}
		x->n = nx;
	}
	h->nfamilies = snap.nfamilies;
	h->nslots = snap.nslots;
	h->ncells = cell;
	h->seq = snap.seq + 2;
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.legacy", path);
	FILE *out = fopen(tmp, "w");
	if (out && fwrite(b, 1, l->size, out) == l->size && fclose(out) == 0)
		rc = rename(tmp, path);
	else if (out)
		fclose(out);
out:
	free(b);
	stage_snapshot_free(&snap);
	return rc;
}

/* ---- a journal record of release 0.3.0 --------------------------------------- */

static int wanted(const struct family_def *f, int gauges)
{
	return gauges ? f->type == PF_GAUGE : f->type != PF_GAUGE;
}

static size_t v1_family_bytes(const struct family_def *f)
{
	size_t n = 8 + strlen(f->name) + strlen(f->help);
	for (uint32_t i = 0; i < f->nlabels; i++)
		n += 1 + strlen(f->labels[i]);
	return JOURNAL_PAD8(n) + f->nbuckets * sizeof(double) + (f->native ? 16 : 0);
}

static void put(unsigned char **p, const void *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

static const struct stage_ex_copy *current(const struct stage *s, const struct stage_ex_rec *r)
{
	(void)s;
	return r->sel ? test_ex_copy((struct stage_ex_rec *)(uintptr_t)r, r->sel & 1) : NULL;
}

int test_journal_v1(const struct stage *s, int gauges, char **out, size_t *len)
{
	uint64_t nf = stage_count(s, STAGE_FAMILIES), ns = stage_count(s, STAGE_SLOTS);
	int16_t index[64];
	int32_t series_of[4096];
	uint16_t nfam = 0, nser = 0;
	size_t size = JOURNAL_HEADER_BYTES, ex_size = 0;
	uint32_t nx = 0;
	if (nf > 64 || ns > 4096)
		return -1;
	memset(index, -1, sizeof index);
	for (uint64_t i = 0; i < ns; i++) {
		const struct stage_slot_rec *slot = stage_slot(s, i);
		const struct family_def *f = stage_family(s, slot->family);
		series_of[i] = -1;
		if (gauges && !wanted(f, gauges))
			continue;
		if (index[slot->family] < 0) {
			index[slot->family] = (int16_t)nfam++;
			size += v1_family_bytes(f);
		}
		if (!wanted(f, gauges))
			continue;
		size += 8 + JOURNAL_PAD8(slot->keylen) + f->ncells * sizeof(double);
		series_of[i] = nser++;
	}
	for (unsigned c = 0; !gauges && c < STAGE_EX_CLASSES; c++)
		for (uint64_t i = 0; i < stage_count(s, (enum stage_array)(STAGE_EXEMPLARS + c)); i++) {
			const struct stage_ex_rec *r = stage_elem(s, (enum stage_array)(STAGE_EXEMPLARS + c), i);
			const struct stage_ex_copy *x = current(s, r);
			if (x && series_of[r->slot] >= 0) {
				ex_size += 24 + JOURNAL_PAD8(x->len);
				nx++;
			}
		}
	if (nx)
		size += 8 + ex_size;
	unsigned char *rec = calloc(1, size), *p = rec + JOURNAL_HEADER_BYTES;
	if (!rec)
		return -1;
	for (int16_t want = 0; want < (int16_t)nfam; want++)
		for (uint32_t i = 0; i < nf; i++) {
			if (index[i] != want)
				continue;
			const struct family_def *d = stage_family(s, i);
			unsigned char *start = p;
			uint16_t nl = (uint16_t)strlen(d->name), hl = (uint16_t)strlen(d->help);
			unsigned char head[4] = {(unsigned char)d->type, (unsigned char)d->nlabels,
			                         (unsigned char)d->nbuckets, d->native ? 1 : 0};
			put(&p, head, 4);
			put(&p, &nl, 2);
			put(&p, &hl, 2);
			put(&p, d->name, nl);
			put(&p, d->help, hl);
			for (uint32_t k = 0; k < d->nlabels; k++) {
				unsigned char ll = (unsigned char)strlen(d->labels[k]);
				put(&p, &ll, 1);
				put(&p, d->labels[k], ll);
			}
			p = start + JOURNAL_PAD8((size_t)(p - start));
			put(&p, d->buckets, d->nbuckets * sizeof(double));
			if (d->native) {
				uint32_t zero = 0;
				put(&p, &d->schema, 4);
				put(&p, &zero, 4);
				put(&p, &d->zero_threshold, 8);
			}
		}
	for (uint64_t i = 0; i < ns; i++) {
		if (series_of[i] < 0)
			continue;
		const struct stage_slot_rec *slot = stage_slot(s, i);
		const struct family_def *f = stage_family(s, slot->family);
		uint16_t fam = (uint16_t)index[slot->family], kl = (uint16_t)slot->keylen;
		uint32_t zero = 0;
		put(&p, &fam, 2);
		put(&p, &kl, 2);
		put(&p, &zero, 4);
		put(&p, stage_key(s, slot), kl);
		p = rec + JOURNAL_PAD8((size_t)(p - rec));
		put(&p, stage_cell(s, slot->cell), f->ncells * sizeof(double));
	}
	if (nx) {
		uint32_t head[2] = {nx, 0};
		put(&p, head, 8);
		for (unsigned c = 0; c < STAGE_EX_CLASSES; c++)
			for (uint64_t i = 0; i < stage_count(s, (enum stage_array)(STAGE_EXEMPLARS + c)); i++) {
				const struct stage_ex_rec *r =
				    stage_elem(s, (enum stage_array)(STAGE_EXEMPLARS + c), i);
				const struct stage_ex_copy *x = current(s, r);
				if (!x || series_of[r->slot] < 0)
					continue;
				uint16_t h2[2] = {(uint16_t)series_of[r->slot], (uint16_t)r->bucket};
				unsigned char *start = p;
				put(&p, h2, 4);
				put(&p, &x->len, 4);
				put(&p, &x->value, 8);
				put(&p, &x->timestamp, 8);
				put(&p, x + 1, x->len);
				p = start + 24 + JOURNAL_PAD8(x->len);
			}
	}
	uint32_t magic = JOURNAL_MAGIC_V1, length = (uint32_t)size;
	memcpy(rec, &magic, 4);
	memcpy(rec + 4, &length, 4);
	memcpy(rec + 12, &nfam, 2);
	memcpy(rec + 14, &nser, 2);
	uint32_t check = hash_fnv1a(HASH_FNV_BASIS, rec + 12, size - 12);
	memcpy(rec + 8, &check, 4);
	*out = (char *)rec;
	*len = size;
	return 0;
}
