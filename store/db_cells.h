/* SPDX-License-Identifier: MIT */
/*
 * db_cells.h — a series' cells as the store keeps them, packed (db_cells.c):
 * pure arithmetic below the store's SQL (db_internal.h includes it).
 */
#ifndef PROMFCGI_DB_CELLS_H
#define PROMFCGI_DB_CELLS_H

#include <stddef.h>

#include "store/model.h"

/* Doubles the packed form of any series can take. */
#define DB_PACKED_MAX (MODEL_CELLS_MAX + 4)
/* def's cells (ncells of them) packed into out; returns how many doubles. */
size_t db_cells_pack(const struct family_def *def, const double *dense, double *out);
/* The same, unpacked: ncells copied. */
size_t db_cells_copy(const struct family_def *def, const double *dense, double *out);
/* n packed doubles as def's ncells cells into dense (range, if not NULL,
 * gets the native part's ranges): 0, or -1 if they are not a packed row of
 * def (a damaged store). */
int db_cells_unpack(const struct family_def *def, const double *packed, size_t n, double *dense,
                    struct native_range *range);
/* The packed empty native part of def (its schema and zero threshold), the
 * tail that a row of a family gaining native buckets gets: how many
 * doubles (0 if def's native part is not valid). */
size_t db_cells_packed_empty(const struct family_def *def, double *out);

#endif
