/* SPDX-License-Identifier: MIT */
/*
 * test_negotiate.c — format, gzip and name[] choices from request headers.
 */
#include "metrics/negotiate.h"
#include "test.h"

static void formats(void)
{
	/* what Prometheus 2.42 sends */
	CHECK(negotiate_format("application/openmetrics-text;version=1.0.0,application/"
	                       "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
	                       "q=0.5,*/*;q=0.1") == FORMAT_OPENMETRICS);
	/* Prometheus with OpenMetrics disabled, curl, nothing */
	CHECK(negotiate_format("text/plain;version=0.0.4;q=1,*/*;q=0.1") == FORMAT_TEXT);
	CHECK(negotiate_format("*/*") == FORMAT_TEXT);
	CHECK(negotiate_format(NULL) == FORMAT_TEXT);
	CHECK(negotiate_format("") == FORMAT_TEXT);
	CHECK(negotiate_format("application/openmetrics-text") == FORMAT_OPENMETRICS);
	CHECK(negotiate_format("Application/OpenMetrics-Text ; version=1.0.0") == FORMAT_OPENMETRICS);
	/* only a version we do not speak, or a lower q */
	CHECK(negotiate_format("application/openmetrics-text;version=0.0.1") == FORMAT_TEXT);
	CHECK(negotiate_format("application/openmetrics-text;q=0.2,text/plain;q=0.9") == FORMAT_TEXT);
	CHECK(negotiate_format("application/openmetrics-text;q=0") == FORMAT_TEXT);
}

/* Prometheus 2.42.0 (Debian) started with --enable-feature=native-histograms,
 * recorded from the request it sent to a socket server:
 *   Accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;
 *   encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,
 *   application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*\/\*;q=0.1
 * (one line, no spaces) and Accept-Encoding: gzip. */
static void protobuf(void)
{
	static const char prometheus_native[] =
	    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
	    "encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,"
	    "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
	    "*/*;q=0.1";
	CHECK(negotiate_format(prometheus_native) == FORMAT_PROTOBUF);
	CHECK(negotiate_format("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
	                       "encoding=delimited") == FORMAT_PROTOBUF);
	/* without the proto or the delimited encoding it is not our format */
	CHECK(negotiate_format("application/vnd.google.protobuf;encoding=delimited") == FORMAT_TEXT);
	CHECK(negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily")
	      == FORMAT_TEXT);
	CHECK(negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
	                       "encoding=text") == FORMAT_TEXT);
	CHECK(negotiate_format("application/vnd.google.protobuf;proto=other.Message;"
	                       "encoding=delimited,text/plain;q=0.1") == FORMAT_TEXT);
	/* ranked lower, or refused */
	CHECK(negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
	                       "encoding=delimited;q=0.5,application/openmetrics-text") ==
	      FORMAT_OPENMETRICS);
	CHECK(negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
	                       "encoding=delimited;q=0") == FORMAT_TEXT);
	struct name_filter f;
	negotiate_filter_parse(&f, "format=protobuf&name[]=x");
	CHECK(f.format == FORMAT_PROTOBUF && f.n == 1);
	negotiate_filter_free(&f);
}

static void gzip(void)
{
	CHECK(negotiate_gzip("gzip"));
	CHECK(negotiate_gzip("deflate, gzip;q=0.5"));
	CHECK(!negotiate_gzip("gzip;q=0"));
	CHECK(!negotiate_gzip("identity"));
	CHECK(!negotiate_gzip(NULL));
}

static void names(void)
{
	struct name_filter f;
	negotiate_filter_parse(&f, "name[]=a_total&x=1&name%5B%5D=b%3Ac&name[]=");
	CHECK(f.n == 3);
	CHECK(negotiate_filter_match(&f, "a_total"));
	CHECK(negotiate_filter_match(&f, "b:c"));
	CHECK(!negotiate_filter_match(&f, "c"));
	negotiate_filter_free(&f);
	negotiate_filter_parse(&f, "");
	CHECK(f.n == 0 && negotiate_filter_match(&f, "anything"));
	negotiate_filter_parse(&f, NULL);
	CHECK(f.n == 0);
	CHECK(f.format == -1);
	negotiate_filter_parse(&f, "format=text&name[]=x");
	CHECK(f.format == FORMAT_TEXT && f.n == 1);
	negotiate_filter_free(&f);
	negotiate_filter_parse(&f, "format=openmetrics");
	CHECK(f.format == FORMAT_OPENMETRICS);
	negotiate_filter_parse(&f, "format=xml");
	CHECK(f.format == -1);
	negotiate_filter_parse(&f, "name[]=%zz%4");
	CHECK(f.n == 1 && negotiate_filter_match(&f, "%zz%4")); /* bad escapes stay as they are */
	negotiate_filter_free(&f);
}

const struct test negotiate_tests[] = {
    {"negotiate/formats", formats},
    {"negotiate/protobuf", protobuf},
    {"negotiate/gzip", gzip},
    {"negotiate/names", names},
    {NULL, NULL},
};
