/* SPDX-License-Identifier: MIT */
/*
 * stage_old.h — the fixed layouts of staging files of earlier releases
 * (versions 1, 2 and 3), which a worker killed before an upgrade may have
 * left, or which a worker of the earlier release still writes while the
 * new metrics program scrapes it: they are read (stage_old.c) and folded
 * like this release's files.  Nothing writes them any more, but the tests
 * make them (tests/unit/util.c).
 *
 * Version 3 (release 0.3.0):
 *   header | families[64] | slots[4096] | cells[262144] | exemplars[1024]
 * with a redo log of 1,024 entries in the header.  Versions 1 and 2 have
 * the same header but a redo log of 32 entries, families of 1,424 bytes
 * (version 3's definition without its native fields, which read as "no
 * native buckets"), 4,096 slots, 65,536 cells and (version 2) the same
 * exemplars; version 1 has no exemplars.  Each version's file is exactly
 * its size, which is how a reader tells them apart before the magic.
 */
#ifndef PROMFCGI_STAGE_OLD_H
#define PROMFCGI_STAGE_OLD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store/model.h"
#include "store/proc.h"

#define STAGE_V3_FAMILIES 64
#define STAGE_V3_SLOTS 4096
#define STAGE_V3_CELLS 262144
#define STAGE_V3_LOG 1024
#define STAGE_V3_EXEMPLARS 1024
#define STAGE_V3_KEY 240 /* PF_KEY_MAX of those releases */
#define STAGE_V2_LOG 32
#define STAGE_V2_CELLS 65536

struct stage_v3_slot {
	uint32_t family;
	uint32_t cell;
	uint32_t keylen;
	uint32_t created;
	char key[STAGE_V3_KEY];
};

enum { STAGE_V3_LOG_CELL = 0, STAGE_V3_LOG_EXEMPLAR = 1 };

struct stage_v3_log_entry {
	uint32_t cell; /* a cell, or an exemplar slot */
	uint32_t kind; /* STAGE_V3_LOG_CELL (0 in version 1's pad), STAGE_V3_LOG_EXEMPLAR */
	double value;  /* the cell's new value, or the exemplar slot's new sel */
};

struct stage_v3_header {
	uint32_t magic;
	uint32_t version;
	int64_t pid;
	uint64_t start_time;
	char boot_id[STAGE_BOOT_ID_MAX];
	_Atomic uint32_t nfamilies;
	_Atomic uint32_t nslots;
	_Atomic uint32_t ncells;
	_Atomic uint32_t dropped;
	_Atomic uint64_t seq;
	uint32_t nlog;
	_Atomic uint32_t closing;
	struct stage_v3_log_entry log[STAGE_V3_LOG];
};

/* Version 3's family: version 4's struct family_def as this release began
 * (family_def may grow; these bytes are the ones version 3 wrote). */
#define STAGE_V3_FAMILY 1440
#define STAGE_V2_FAMILY 1424

struct stage_v3_exemplar {
	uint32_t slot;
	uint32_t bucket;
	uint32_t sel; /* 0: none; 1: copy[0] is current; 2: copy[1] */
	uint32_t pad;
	struct exemplar copy[2];
};

struct stage_v3_exemplars {
	_Atomic uint32_t n;
	_Atomic uint32_t dropped;
	struct stage_v3_exemplar e[STAGE_V3_EXEMPLARS];
};

struct stage_v3_file {
	struct stage_v3_header hdr;
	unsigned char families[STAGE_V3_FAMILIES][STAGE_V3_FAMILY];
	struct stage_v3_slot slots[STAGE_V3_SLOTS];
	double cells[STAGE_V3_CELLS];
	struct stage_v3_exemplars ex;
};

/* Sizes of the files of each version. */
#define STAGE_V3_SIZE sizeof(struct stage_v3_file)
#define STAGE_V2_SIZE 2778728u
#define STAGE_V1_SIZE 1664608u

/* Where each part of an old file is. */
struct stage_old_layout {
	uint32_t version;
	size_t size, families, family_size, slots, cells, ex; /* ex 0: none */
	uint32_t max_cells, log_max;
};

/* The layout of an old file of that size, or NULL. */
const struct stage_old_layout *stage_old_layout(size_t size);

#endif
