/* SPDX-License-Identifier: MIT */
/*
 * test_names.c — the data model's name rules and strict UTF-8.
 */
#include "store/names.h"
#include "test.h"

static void metric_names(void)
{
	CHECK(pf_valid_metric_name("requests_total"));
	CHECK(pf_valid_metric_name("a:b_c:d"));
	CHECK(pf_valid_metric_name(":x"));
	CHECK(pf_valid_metric_name("_x"));
	CHECK(!pf_valid_metric_name(""));
	CHECK(!pf_valid_metric_name(NULL));
	CHECK(!pf_valid_metric_name("1abc"));
	CHECK(!pf_valid_metric_name("a-b"));
	CHECK(!pf_valid_metric_name("a b"));
	CHECK(!pf_valid_metric_name("__reserved"));
	CHECK(!pf_valid_metric_name("caf\xc3\xa9"));
	char longname[PF_NAME_MAX + 1];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK(!pf_valid_metric_name(longname));
}

static void label_names(void)
{
	CHECK(pf_valid_label_name("method"));
	CHECK(pf_valid_label_name("_x9"));
	CHECK(!pf_valid_label_name("a:b")); /* colons are for metric names only */
	CHECK(!pf_valid_label_name("9a"));
	CHECK(!pf_valid_label_name("__name__"));
	CHECK(!pf_valid_label_name(""));
}

static void utf8(void)
{
	CHECK(names_valid_utf8("plain", 5));
	CHECK(names_valid_utf8("caf\xc3\xa9", 5));
	CHECK(names_valid_utf8("\xf0\x9f\x98\x80", 4));   /* U+1F600 */
	CHECK(names_valid_utf8("\xf4\x8f\xbf\xbf", 4));   /* U+10FFFF */
	CHECK(!names_valid_utf8("\xff", 1));
	CHECK(!names_valid_utf8("\xc0\x80", 2));           /* overlong NUL */
	CHECK(!names_valid_utf8("\xe0\x80\xaf", 3));       /* overlong '/' */
	CHECK(!names_valid_utf8("\xed\xa0\x80", 3));       /* surrogate */
	CHECK(!names_valid_utf8("\xf4\x90\x80\x80", 4));   /* past U+10FFFF */
	CHECK(!names_valid_utf8("\xc3", 1));               /* truncated */
	CHECK(!names_valid_utf8("a\xe2\x82", 3));
}

static void key_encoding(void)
{
	char key[PF_KEY_MAX];
	const char *v[] = {"GET", "", "a\"b"};
	int n = names_encode_key(v, 3, key, sizeof key);
	CHECK(n == 9);
	CHECK(memcmp(key, "GET\0\0a\"b\0", 9) == 0);
	const char *bad[] = {"ok", "\xff"};
	CHECK(names_encode_key(bad, 2, key, sizeof key) == -1);
	const char *missing[] = {"ok", NULL};
	CHECK(names_encode_key(missing, 2, key, sizeof key) == -1);
	char big[PF_KEY_MAX + 1];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	const char *toolong[] = {big};
	CHECK(names_encode_key(toolong, 1, key, sizeof key) == -1);
}

const struct test names_tests[] = {
    {"names/metric", metric_names},
    {"names/label", label_names},
    {"names/utf8", utf8},
    {"names/key_encoding", key_encoding},
    {NULL, NULL},
};
