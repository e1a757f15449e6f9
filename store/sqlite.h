/* SPDX-License-Identifier: MIT */
/*
 * sqlite.h — SQLite, loaded when a store is first opened instead of when
 * the program starts.  Include it instead of <sqlite3.h>; store/db*.c (by
 * db_internal.h) are the only files that do.
 *
 * Why: a CGI program starts for every request, and most of its starts
 * never open the store (a CGI request appends to the journal, store/journal.c).
 * Linking libsqlite3 makes every start map and relocate it: about 0.2 ms
 * of the ~1 ms a CGI request costs here (docs/performance.md).  So the
 * library calls SQLite through a table filled by dlopen on first use, and
 * only processes that fold or read the store (the metrics program, a
 * worker's last fold, the command-line tool) load it.
 *
 * Every function store/db*.c use is listed in SQLITE_FUNCTIONS; each name
 * below becomes a call through the table.  A function missing from the list is
 * a link error (nothing links -lsqlite3), never a silent second path.
 */
#ifndef PROMFCGI_SQLITE_H
#define PROMFCGI_SQLITE_H

#include <sqlite3.h>

#define SQLITE_FUNCTIONS(X)                                                                     \
	X(bind_blob) X(bind_double) X(bind_int) X(bind_int64) X(bind_text) X(busy_timeout)       \
	X(clear_bindings) X(close) X(column_blob) X(column_bytes) X(column_double) X(column_int) \
	X(column_int64) X(column_text) X(errmsg) X(exec) X(extended_errcode)                     \
	X(extended_result_codes) X(finalize) X(last_insert_rowid) X(open_v2) X(prepare_v2)       \
	X(prepare_v3) X(reset) X(step) X(changes) X(errcode) X(bind_null) X(column_type)

#define SQLITE_MEMBER(name) __typeof__(sqlite3_##name) *name;
extern struct sqlite_api {
	SQLITE_FUNCTIONS(SQLITE_MEMBER)
} sqlite_api;
#undef SQLITE_MEMBER

/* Loads libsqlite3 once: 0, or -1 with the reason in err. */
int sqlite_load(char *err, size_t len);

#define sqlite3_bind_blob sqlite_api.bind_blob
#define sqlite3_bind_double sqlite_api.bind_double
#define sqlite3_bind_int sqlite_api.bind_int
#define sqlite3_bind_int64 sqlite_api.bind_int64
#define sqlite3_bind_text sqlite_api.bind_text
#define sqlite3_busy_timeout sqlite_api.busy_timeout
#define sqlite3_clear_bindings sqlite_api.clear_bindings
#define sqlite3_close sqlite_api.close
#define sqlite3_column_blob sqlite_api.column_blob
#define sqlite3_column_bytes sqlite_api.column_bytes
#define sqlite3_column_double sqlite_api.column_double
#define sqlite3_column_int sqlite_api.column_int
#define sqlite3_column_int64 sqlite_api.column_int64
#define sqlite3_column_text sqlite_api.column_text
#define sqlite3_errmsg sqlite_api.errmsg
#define sqlite3_exec sqlite_api.exec
#define sqlite3_extended_errcode sqlite_api.extended_errcode
#define sqlite3_extended_result_codes sqlite_api.extended_result_codes
#define sqlite3_finalize sqlite_api.finalize
#define sqlite3_last_insert_rowid sqlite_api.last_insert_rowid
#define sqlite3_open_v2 sqlite_api.open_v2
#define sqlite3_prepare_v2 sqlite_api.prepare_v2
#define sqlite3_prepare_v3 sqlite_api.prepare_v3
#define sqlite3_reset sqlite_api.reset
#define sqlite3_step sqlite_api.step
#define sqlite3_changes sqlite_api.changes
#define sqlite3_errcode sqlite_api.errcode
#define sqlite3_bind_null sqlite_api.bind_null
#define sqlite3_column_type sqlite_api.column_type

#endif
