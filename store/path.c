/* SPDX-License-Identifier: MIT */
/*
 * path.c — file names made whole or not at all (see path.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store/path.h"

static int path_vformat(char *out, const char *fmt, va_list ap)
{
	int n = vsnprintf(out, PATH_BYTES, fmt, ap);
	if (n >= 0 && n < PATH_BYTES)
		return 0;
	out[0] = '\0';
	errno = ENAMETOOLONG;
	return -1;
}

int path_format(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = path_vformat(out, fmt, ap);
	va_end(ap);
	return rc;
}

int path_join(char *out, const char *dir, const char *name)
{
	return path_format(out, "%s/%s", dir, name);
}

int path_name(char *out, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	size_t n = strlen(name);
	if (n >= NAME_BYTES) {
		out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, name, n + 1);
	return 0;
}
