/* SPDX-License-Identifier: MIT */
/*
 * stage.c — a staging file's life: its directory beside the store, its
 * creation (whole, or not at all), its replacement when it was deleted under
 * a running process, the anonymous memory used when no file can be made,
 * and its end.  Writing is stage_write.c; reading another process's file,
 * stage_read.c (stage.h has the layout and the publication rules).
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

void (*stage_test_hook)(const char *where);

int stage_dir(const char *db_path, char *out)
{
	if (!db_path[0]) { /* a store path that was too long (pf_open) */
		out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	return path_format(out, "%s.stage", db_path);
}

static void stage_init_header(struct stage_file *f)
{
	f->hdr.magic = STAGE_MAGIC;
	f->hdr.version = STAGE_VERSION;
	f->hdr.pid = getpid();
	if (proc_start_time(getpid(), &f->hdr.start_time) != 0)
		f->hdr.start_time = 0;
	if (proc_boot_id(f->hdr.boot_id, sizeof f->hdr.boot_id) != 0)
		f->hdr.boot_id[0] = '\0';
}

/* Creates this incarnation's file in dir holding a copy of *from (or a
 * fresh header), maps it and renames it into place: a scanner never sees a
 * file without its header.  The blocks are allocated up front, so a full
 * disk fails here, never later as SIGBUS on a first touch of a page. */
static int stage_place(struct stage *s, const char *dir, const struct stage_file *from)
{
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
	struct stat st;
	void *p = MAP_FAILED;
	int rc = posix_fallocate(fd, 0, sizeof(struct stage_file));
	if (rc == 0 && fstat(fd, &st) == 0)
		p = mmap(NULL, sizeof(struct stage_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	else if (rc != 0)
		errno = rc;
	close(fd);
	if (p != MAP_FAILED) {
		if (from)
			memcpy(p, from, sizeof(struct stage_file));
		else
			stage_init_header(p);
		if (rename(tmp, path) == 0) {
			if (s->f)
				munmap(s->f, sizeof(struct stage_file));
			s->f = p;
			memcpy(s->path, path, sizeof path);
			s->dev = st.st_dev;
			s->ino = st.st_ino;
			return 0;
		}
		munmap(p, sizeof(struct stage_file));
	}
	int e = errno;
	unlink(tmp);
	errno = e;
	return -1;
}

int stage_create(struct stage *s, const char *dir)
{
	memset(s, 0, sizeof *s);
	return stage_place(s, dir, NULL);
}

/* The file is gone (its directory deleted, say) or was never made: put the
 * totals counted so far into a new one.  The totals are cumulative, so the
 * store folds them correctly whether or not it saw the old file. */
int stage_check(struct stage *s, const char *dir)
{
	struct stat st;
	if (!s->f)
		return -1;
	if (s->path[0] && stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		return 0;
	return stage_place(s, dir, s->f) == 0 ? 1 : -1;
}

/* Keeps counting in memory when no file can be made: the app must go on. */
void stage_create_anonymous(struct stage *s, int identity)
{
	memset(s, 0, sizeof *s);
	void *p = mmap(NULL, sizeof(struct stage_file), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* this process's alone */
	if (p == MAP_FAILED)
		return;
	s->f = p;
	if (identity) /* it may become a file (stage_check): it must say whose */
		stage_init_header(s->f);
	else
		s->f->hdr.magic = STAGE_MAGIC, s->f->hdr.version = STAGE_VERSION;
}

void stage_destroy(struct stage *s, int unlink_file)
{
	if (s->f)
		munmap(s->f, sizeof(struct stage_file));
	if (unlink_file && s->path[0])
		unlink(s->path);
	memset(s, 0, sizeof *s);
}

void stage_mark_closing(struct stage *s)
{
	if (s->f)
		atomic_store_explicit(&s->f->hdr.closing, 1, memory_order_seq_cst);
}
