/* SPDX-License-Identifier: MIT */
/*
 * tool.h — the command-line tool's interface to the library (tool.c, used
 * by cli/promfcgi.c).  Not the public API: libpromfcgi.so exports none of
 * it, it may change with any release, and the tool links the static
 * library.  It is the one internal header a program may include
 * (tests/layers), so that the tool reaches the store, the staging files
 * and the exposition only through these calls.
 *
 * Each call is one command on the store at db_path.  A failure fills err
 * with the one line the tool prints after "promfcgi: ".
 */
#ifndef PROMFCGI_TOOL_H
#define PROMFCGI_TOOL_H

#include <stddef.h>
#include <stdio.h>

/* What a call returns: the tool's exit status. */
enum { TOOL_OK = 0, TOOL_FAILED = 1, TOOL_USAGE = 2 };

struct tool_definition {
	int type; /* enum pf_type */
	const char *name, *help;
	const char *const *labels; /* NULL-terminated */
	const double *buckets;
	int nbuckets;
	int native; /* 1: native buckets too, at schema and zero_threshold */
	int schema;
	double zero_threshold;
};

/* Defines a family in the store: TOOL_OK; TOOL_USAGE if the definition is
 * invalid; TOOL_FAILED if the store has it otherwise, or fails. */
int tool_define(const char *db_path, const struct tool_definition *def, char *err, size_t len);

/* Records one command ("inc", "add", "set" or "observe", with v) on the
 * series of family name whose labels are given as nargs "LABEL=VALUE"
 * arguments: TOOL_OK, or TOOL_FAILED (no such family, a label wrong or
 * missing, a command not for the family's type, the store failed). */
int tool_record(const char *db_path, const char *cmd, const char *name, double v, int nargs,
                char *const *args, char *err, size_t len);

/* Writes what /metrics would serve (format: "text", "openmetrics" or
 * "protobuf") to out: TOOL_OK, or TOOL_FAILED (err set if the scrape
 * failed; empty if writing did). */
int tool_dump(const char *db_path, const char *format, FILE *out, char *err, size_t len);

/* Writes the store's health to out (path, schema, integrity, bytes, the
 * workers live and dead not yet folded): TOOL_OK if it is sound, else
 * TOOL_FAILED (err set if the store could not be opened). */
int tool_check(const char *db_path, FILE *out, char *err, size_t len);

#endif
