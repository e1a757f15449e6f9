/* SPDX-License-Identifier: MIT */
/*
 * stage_valid.h — the checks a reader makes of another process's staging
 * file (stage_valid.c): a file is taken only if everything in it could have
 * been made through the API.
 */
#ifndef PROMFCGI_STAGE_VALID_H
#define PROMFCGI_STAGE_VALID_H

#include "store/stage.h"

/* A definition the API could have made: a known type, valid names, UTF-8
 * help, increasing finite buckets, a native part in range, and ncells
 * right for its shape. */
int stage_valid_family(const struct family_def *f);
/* A slot of a family in [0, nfamilies) whose cells lie within ncells and
 * whose key is its family's number of valid UTF-8 values. */
int stage_valid_slot(const struct stage_slot *s, const struct family_def *families,
                     uint32_t nfamilies, uint64_t ncells);
/* An exemplar of a series in [0, nslots) (slots already checked), for one
 * of its buckets, which (sel not 0) is a valid exemplar. */
int stage_valid_exemplar(const struct stage_exemplar *e, const struct family_def *families,
                         const struct stage_slot *slots, uint32_t nslots);

#endif
