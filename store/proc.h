/* SPDX-License-Identifier: MIT */
/*
 * proc.h — who a process is, read from Linux /proc (proc.c): the
 * identity of a worker incarnation, and whether it still runs.
 */
#ifndef PROMFCGI_PROC_H
#define PROMFCGI_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STAGE_BOOT_ID_MAX 40

int proc_start_time(pid_t pid, uint64_t *out);
int proc_boot_id(char *out, size_t len);
int proc_is_live(int64_t pid, uint64_t start_time, const char *boot_id);
/* Starts watching an incarnation: 1 if it runs, with *fd a pidfd that
 * becomes readable when it ends (-1 where the kernel gives none, or
 * PROMFCGI_NO_PIDFD is set: ask proc_is_live instead); 0 if it is gone. */
int proc_watch(int64_t pid, uint64_t start_time, const char *boot_id, int *fd);
int proc_name_is_live(const char *name);
/* Whether fd is a listening socket. */
int proc_listening(int fd);
/* Whether this process serves one CGI request (fd 0 is not a listening
 * socket, and REQUEST_METHOD is set), rather than being a worker. */
int proc_is_cgi(void);

#endif
