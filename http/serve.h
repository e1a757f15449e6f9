/* SPDX-License-Identifier: MIT */
/*
 * serve.h — what the layers above the HTTP layer may ask of pf_serve's
 * loop (serve.c).
 *
 * The metrics side (metrics/) folds live workers into the store now and
 * then, after an answer has left, so that no scrape pays for it.  The loop
 * lives below it, so the loop is told what to run rather than knowing it:
 * dependencies point one way (tests/layers).
 */
#ifndef PROMFCGI_SERVE_H
#define PROMFCGI_SERVE_H

/* Runs idle() between requests, after each answer has left (NULL: none).
 * pf_metrics_respond sets it to the scrape's periodic fold. */
void serve_set_idle(void (*idle)(void));

#endif
