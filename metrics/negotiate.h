/* SPDX-License-Identifier: MIT */
/*
 * negotiate.h — what a scraper asked for: exposition format (Accept), gzip
 * (Accept-Encoding), and which families (name[] in the query string).
 */
#ifndef PROMFCGI_NEGOTIATE_H
#define PROMFCGI_NEGOTIATE_H

#include <stddef.h>

enum format { FORMAT_TEXT, FORMAT_OPENMETRICS, FORMAT_PROTOBUF };

/* Protobuf (application/vnd.google.protobuf with
 * proto=io.prometheus.client.MetricFamily and encoding=delimited) if the
 * Accept header ranks it at least as high as both text formats;
 * else OpenMetrics 1.0.0 if it ranks that at least as high as text 0.0.4
 * (by q-value); text otherwise; NULL or empty means text. */
enum format negotiate_format(const char *accept);
/* Whether Accept-Encoding allows gzip (q > 0). */
int negotiate_gzip(const char *accept_encoding);

/* Families selected by name[]=... in a query string.  An empty filter (no
 * name[] parameter) selects everything.  format=text, format=openmetrics or
 * format=protobuf overrides the Accept header, for scrapers whose Accept cannot be set
 * (a Prometheus scrape config's params). */
#define NEGOTIATE_FILTER_MAX 64
struct name_filter {
	int n;
	char *names[NEGOTIATE_FILTER_MAX];
	int format; /* format=text|openmetrics|protobuf in the query (enum format), else -1 */
};
void negotiate_filter_parse(struct name_filter *f, const char *query);
int negotiate_filter_match(const struct name_filter *f, const char *name);
void negotiate_filter_free(struct name_filter *f);

#endif
