/* SPDX-License-Identifier: MIT */
/*
 * path.h — file names made whole or not at all.
 *
 * Every path the library makes (the staging directory, a worker's file, a
 * journal, the WAL beside the store, a file moved aside) goes through
 * path_join or path_format, into a buffer of PATH_BYTES: a name that does
 * not fit is refused (ENAMETOOLONG), never cut short into the name of some
 * other file.  PATH_BYTES is the kernel's own limit (PATH_MAX), so a path
 * refused here could not have been opened anyway.
 */
#ifndef PROMFCGI_PATH_H
#define PROMFCGI_PATH_H

#include <limits.h>

#define PATH_BYTES PATH_MAX      /* a whole path, with its NUL */
#define NAME_BYTES (NAME_MAX + 1) /* one file name in a directory, with its NUL */

/* out (PATH_BYTES) = dir "/" name: 0, or -1 with errno ENAMETOOLONG and
 * out "" if it does not fit. */
int path_join(char *out, const char *dir, const char *name);
/* out (PATH_BYTES) = the printf format: the same rule. */
int path_format(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* out (NAME_BYTES) = the last component of path: the same rule. */
int path_name(char *out, const char *path);

#endif
