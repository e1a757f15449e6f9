/* SPDX-License-Identifier: MIT */
/*
 * sqlite.c — loads libsqlite3 on first use (see sqlite.h for why).
 */
#include <dlfcn.h>
#include <stdio.h>

#include "store/sqlite.h"

struct sqlite_api sqlite_api;

/* The soname Debian's libsqlite3-0 installs (the ABI of SQLite 3). */
#define SQLITE_SONAME "libsqlite3.so.0"

int sqlite_load(char *err, size_t len)
{
	static int loaded;
	if (loaded)
		return 0;
	void *h = dlopen(SQLITE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, len, "cannot load SQLite: %s", dlerror());
		return -1;
	}
	struct sqlite_api api;
	const char *missing = NULL;
#define SQLITE_RESOLVE(name)                                                  \
	if (!(api.name = (__typeof__(api.name))dlsym(h, "sqlite3_" #name)) && !missing) \
		missing = "sqlite3_" #name;
	SQLITE_FUNCTIONS(SQLITE_RESOLVE)
#undef SQLITE_RESOLVE
	if (missing) {
		snprintf(err, len, "cannot load SQLite: %s has no %s", SQLITE_SONAME, missing);
		return -1; /* h stays loaded: harmless, and a retry finds the same */
	}
	sqlite_api = api;
	loaded = 1;
	return 0;
}
