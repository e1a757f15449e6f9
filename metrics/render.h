/* SPDX-License-Identifier: MIT */
/*
 * render.h — Prometheus text exposition format 0.0.4, and OpenMetrics 1.0, from a
 * collection.
 */
#ifndef PROMFCGI_RENDER_H
#define PROMFCGI_RENDER_H

#include "store/model.h"
#include "store/buf.h"
#include "metrics/negotiate.h"

#define RENDER_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define RENDER_OPENMETRICS_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* filter may be NULL: every family. */
void render_text(struct buf *b, const struct collection *c, const struct name_filter *filter);
void render_openmetrics(struct buf *b, const struct collection *c,
                        const struct name_filter *filter);

/* Exposed for the tests. */
void render_value(char out[32], double v);  /* shortest round-trip; NaN, +Inf, -Inf */
void render_le(char out[32], double v);     /* like client_python: 1.0, 0.005, +Inf */
void render_label_value(struct buf *b, const char *s, size_t n); /* \\ \" \n, bad UTF-8 -> U+FFFD */
void render_help(struct buf *b, const char *s);                  /* \\ \n, bad UTF-8 -> U+FFFD */

#endif
