/* SPDX-License-Identifier: MIT */
/*
 * stage.c — a staging file's life: its directory beside the store, its
 * creation (whole, or not at all), its growth a chunk at a time, its
 * replacement when it was deleted under a running process, the anonymous
 * memory used when no file can be made, and its end.  Writing is
 * stage_write.c; reading another process's file, stage_read.c (the layout
 * and its rules are stage_format.h's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/path.h"
#include "store/stage.h"
#include "store/stage_internal.h"

void (*stage_test_hook)(const char *where);

/* The arrays this release writes: a family as this build's struct
 * family_def; chunk 0 of each a few pages, so a small worker's file is
 * small (its header, then one chunk of families, slots, cells and keys). */
static const struct stage_array_info writer_arrays[STAGE_ARRAYS] = {
    [STAGE_FAMILIES] = {sizeof(struct family_def), 1u << STAGE_FAMILIES_LOG2},
    [STAGE_SLOTS] = {sizeof(struct stage_slot_rec), 1u << STAGE_SLOTS_LOG2},
    [STAGE_CELLS] = {sizeof(double), 1u << STAGE_CELLS_LOG2},
    [STAGE_KEYS] = {1, 1u << STAGE_KEYS_LOG2},
    [STAGE_EXEMPLARS + 0] = {STAGE_EX_BYTES(64), 64},
    [STAGE_EXEMPLARS + 1] = {STAGE_EX_BYTES(128), 64},
    [STAGE_EXEMPLARS + 2] = {STAGE_EX_BYTES(256), 32},
    [STAGE_EXEMPLARS + 3] = {STAGE_EX_BYTES(512), 16},
};
_Static_assert(STAGE_KEYS_LOG2 < 31 && (1u << STAGE_KEYS_LOG2) >= 2 * PF_KEY_MAX &&
                   (1u << STAGE_CELLS_LOG2) >= 2 * MODEL_CELLS_MAX,
               "a key and a series' cells fit in any chunk, with room to spare");

static size_t page_size(void)
{
	static size_t page;
	if (!page) {
		long p = sysconf(_SC_PAGESIZE);
		page = p > 0 ? (size_t)p : 4096;
	}
	return page;
}

static uint64_t round_page(uint64_t n)
{
	uint64_t p = page_size();
	return (n + p - 1) / p * p;
}

int stage_dir(const char *db_path, char *out)
{
	if (!db_path[0]) { /* a store path that was too long (pf_open) */
		out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	return path_format(out, "%s.stage", db_path);
}

static size_t header_bytes(void)
{
	return round_page(stage_header_size(STAGE_RING));
}

size_t stage_chunk_bytes(const struct stage_header *h, enum stage_array a, unsigned k)
{
	unsigned log2 = (unsigned)__builtin_ctz(h->arrays[a].base);
	return round_page(stage_chunk_len(k, log2) * h->arrays[a].elem_bytes);
}

static void init_header(struct stage_header *h, int identity)
{
	h->magic = STAGE_MAGIC;
	h->version = STAGE_VERSION;
	h->header_bytes = (uint32_t)header_bytes();
	h->ring = STAGE_RING;
	h->log_max = STAGE_LOG_MAX;
	memcpy(h->arrays, writer_arrays, sizeof h->arrays);
	if (!identity)
		return;
	h->pid = getpid();
	if (proc_start_time(getpid(), &h->start_time) != 0)
		h->start_time = 0;
	if (proc_boot_id(h->boot_id, sizeof h->boot_id) != 0)
		h->boot_id[0] = '\0';
}

/* ---- growth --------------------------------------------------------------- */

static void hook(const char *where)
{
	if (stage_test_hook)
		stage_test_hook(where);
}

/* Chunk k of array a, at the file's end: allocated (posix_fallocate: the
 * blocks exist, so a full disk fails here and never as SIGBUS at a first
 * touch), mapped, then named in the chunk table (stage_format.h: a kill
 * before that leaves space nobody names). */
int stage_grow(struct stage *s, enum stage_array a, unsigned k)
{
	if (k >= STAGE_CHUNKS || s->chunk[a][k]) {
		errno = EOVERFLOW;
		return -1;
	}
	size_t bytes = stage_chunk_bytes(s->h, a, k);
	uint64_t off = s->end;
	void *p;
	hook("grow-begin");
	if (s->fd >= 0) {
		int rc;
		while ((rc = posix_fallocate(s->fd, (off_t)off, (off_t)bytes)) == EINTR)
			;
		if (rc != 0) {
			errno = rc;
			return -1;
		}
		hook("grow-allocated");
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, (off_t)off);
	} else { /* this process's alone; the offset is where it would be in a file */
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (p == MAP_FAILED)
		return -1; /* the space allocated stays unnamed; the next growth reuses it */
	hook("grow-mapped");
	s->chunk[a][k] = p;
	s->end = off + bytes;
	atomic_store_explicit(&s->h->chunk[a][k], off, memory_order_release);
	hook("grow-published");
	return 0;
}

/* A pending change's entries name their cells and exemplar records by
 * index: after the file was replaced, where they are is found again. */
void stage_rebind(struct stage *s)
{
	for (uint32_t i = 0; i < s->npending; i++) {
		uint64_t t = s->change[1 + i].target;
		s->pending_at[i] = STAGE_LOG_ARRAY(t) == STAGE_CELLS
		                       ? (void *)stage_cell(s, STAGE_LOG_INDEX(t))
		                       : stage_elem(s, (enum stage_array)STAGE_LOG_ARRAY(t),
		                                    STAGE_LOG_INDEX(t));
	}
}

/* ---- the file ------------------------------------------------------------- */

/* The mappings of a stage: its header and every chunk. */
struct mappings {
	struct stage_header *h;
	unsigned char *chunk[STAGE_ARRAYS][STAGE_CHUNKS];
};

static void unmap_all(struct stage_header *h, unsigned char *const (*chunk)[STAGE_CHUNKS])
{
	if (!h)
		return;
	for (int a = 0; a < STAGE_ARRAYS; a++)
		for (unsigned k = 0; k < STAGE_CHUNKS; k++)
			if (chunk[a][k])
				munmap(chunk[a][k], stage_chunk_bytes(h, (enum stage_array)a, k));
	munmap(h, h->header_bytes);
}

/* Maps the file fd (end bytes, allocated) as a copy of *from, every chunk
 * where from has it; or, from NULL, a fresh header.  0, or -1 (nothing
 * left mapped). */
static int map_copy(int fd, const struct stage *from, struct mappings *m)
{
	size_t hb = from ? from->h->header_bytes : header_bytes();
	memset(m, 0, sizeof *m);
	void *p = mmap(NULL, hb, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	m->h = p;
	if (!from) {
		init_header(m->h, 1);
		return 0;
	}
	memcpy(m->h, from->h, hb);
	for (int a = 0; a < STAGE_ARRAYS; a++)
		for (unsigned k = 0; k < STAGE_CHUNKS && from->chunk[a][k]; k++) {
			size_t bytes = stage_chunk_bytes(from->h, (enum stage_array)a, k);
			off_t off = (off_t)from->h->chunk[a][k];
			p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
			if (p == MAP_FAILED) {
				unmap_all(m->h, m->chunk);
				return -1;
			}
			memcpy(p, from->chunk[a][k], bytes);
			m->chunk[a][k] = p;
		}
	return 0;
}

/* Maps m's file again, every mapping, now that it has its final name:
 * all of the old ones unmapped first, then each made anew (the file is
 * shared, so the contents are the same).  Why: valgrind 3.19 (Debian 12)
 * dies ("aspacem assertion failed: !is_freeslot(ix)") when two adjacent
 * mappings of one file, contiguous in it too, were made under two names
 * (before and after the rename); a chunk mapped later lands next to the
 * header often enough.  0, or -1 with nothing left mapped. */
static int map_again(int fd, struct mappings *m)
{
	size_t hb = m->h->header_bytes;
	struct mappings again = {0};
	struct stage_header h = *m->h; /* the chunks' sizes and offsets */
	unmap_all(m->h, m->chunk);
	void *p = mmap(NULL, hb, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	again.h = p;
	for (int a = 0; a < STAGE_ARRAYS; a++)
		for (unsigned k = 0; k < STAGE_CHUNKS && m->chunk[a][k]; k++) {
			size_t bytes = stage_chunk_bytes(&h, (enum stage_array)a, k);
			p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)h.chunk[a][k]);
			if (p == MAP_FAILED) {
				unmap_all(again.h, again.chunk);
				return -1;
			}
			again.chunk[a][k] = p;
		}
	*m = again;
	return 0;
}

/* Creates this incarnation's file in dir holding a copy of *s (or, if s has
 * nothing yet, a fresh header), maps it and renames it into place: a
 * scanner never sees a file without its header, and the copy is whole
 * before the name exists.  Every block is allocated up front, so a full
 * disk fails here, never later as SIGBUS on a first touch of a page.  The
 * stage then writes to the new file; nothing is written in between (the
 * writer is this thread). */
static int stage_place(struct stage *s, const char *dir)
{
	const struct stage *from = s->h ? s : NULL;
	if (mkdir(dir, 0770) != 0 && errno != EEXIST)
		return -1;
	uint64_t start = 0;
	char boot[STAGE_BOOT_ID_MAX] = "", path[PATH_BYTES], tmp[PATH_BYTES];
	proc_start_time(getpid(), &start);
	proc_boot_id(boot, sizeof boot);
	if (path_format(path, "%s/w-%.8s-%ld-%llu", dir, boot, (long)getpid(),
	                (unsigned long long)start) != 0 ||
	    path_format(tmp, "%s/.tmp-%ld", dir, (long)getpid()) != 0)
		return -1;
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
	if (fd < 0)
		return -1;
	uint64_t end = from ? from->end : header_bytes();
	struct stat st;
	struct mappings m = {0};
	int rc;
	while ((rc = posix_fallocate(fd, 0, (off_t)end)) == EINTR)
		;
	if (rc != 0)
		errno = rc;
	else if (fstat(fd, &st) == 0 && map_copy(fd, from, &m) == 0) {
		if (rename(tmp, path) != 0) {
			unmap_all(m.h, m.chunk);
		} else if (map_again(fd, &m) != 0) {
			int e = errno;
			unlink(path); /* not a file anyone may count on */
			close(fd);
			errno = e;
			return -1;
		} else {
			if (s->h)
				unmap_all(s->h, s->chunk);
			if (s->fd >= 0)
				close(s->fd);
			s->h = m.h;
			memcpy(s->chunk, m.chunk, sizeof s->chunk);
			s->fd = fd;
			s->end = end;
			memcpy(s->path, path, sizeof path);
			s->dev = st.st_dev;
			s->ino = st.st_ino;
			s->gen = s->gen + 1 ? s->gen + 1 : 1; /* the mappings moved */
			stage_rebind(s);
			return 0;
		}
	}
	int e = errno;
	close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

/* A stage with nothing yet.  The pending change's arrays (40 KiB) are left
 * as they are: npending says how much of them counts, and a one-shot
 * process pays for every byte it touches. */
static void stage_reset(struct stage *s)
{
	s->h = NULL;
	memset(s->chunk, 0, sizeof s->chunk);
	s->fd = -1;
	s->end = 0;
	s->path[0] = '\0';
	s->dev = 0;
	s->ino = 0;
	s->npending = 0;
	s->depth = 0;
	s->gen = 0;
}

int stage_create(struct stage *s, const char *dir)
{
	stage_reset(s);
	return stage_place(s, dir);
}

/* The file is gone (its directory deleted, say) or was never made: put the
 * totals counted so far into a new one.  The totals are cumulative, so the
 * store folds them correctly whether or not it saw the old file. */
int stage_check(struct stage *s, const char *dir)
{
	struct stat st;
	if (!s->h)
		return -1;
	if (s->path[0] && stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		return 0;
	return stage_place(s, dir) == 0 ? 1 : -1;
}

/* Keeps counting in memory when no file can be made: the app must go on. */
void stage_create_anonymous(struct stage *s, int identity)
{
	stage_reset(s);
	void *p = mmap(NULL, header_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	               -1, 0); /* this process's alone */
	if (p == MAP_FAILED)
		return;
	s->h = p;
	s->gen = 1;
	/* it may become a file (stage_check): with identity, it says whose */
	init_header(s->h, identity);
	s->end = header_bytes();
}

void stage_destroy(struct stage *s, int unlink_file)
{
	if (s->h) {
		unmap_all(s->h, s->chunk);
		if (s->fd >= 0)
			close(s->fd);
	}
	if (unlink_file && s->path[0])
		unlink(s->path);
	stage_reset(s);
}

void stage_mark_closing(struct stage *s)
{
	if (s->h)
		atomic_store_explicit(&s->h->closing, 1, memory_order_seq_cst);
}
