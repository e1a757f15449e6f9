/* SPDX-License-Identifier: MIT */
/*
 * registry.h — what the recording API (registry.c, promfcgi.h) offers the
 * layers above it beyond the public header.
 */
#ifndef PROMFCGI_REGISTRY_H
#define PROMFCGI_REGISTRY_H

#include <stdint.h>

#include "store/log.h"

/* Adds another process's store errors, by kind, to this process's
 * promfcgi_store_errors_total: the metrics program counts there what a
 * process that cannot record reports (beacon.c), so that a scrape shows it.
 * Not logged, not counted as this process's own error. */
void registry_add_errors(const uint64_t errors[LOG_OP_COUNT]);

#endif
