/* SPDX-License-Identifier: MIT */
/*
 * names.c — the Prometheus data model's rules for names and label values.
 *
 * Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*;
 * names starting with "__" are reserved for Prometheus itself.  Label values
 * may hold any UTF-8 text but NUL, which the store uses as a separator.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store/model.h"
#include "store/names.h"

static int name_char(int c, int first, int colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return 1;
	if (c == ':')
		return colon;
	return !first && c >= '0' && c <= '9';
}

static int valid_name(const char *name, int colon, size_t max)
{
	if (!name || !name[0] || strlen(name) >= max)
		return 0;
	if (name[0] == '_' && name[1] == '_')
		return 0;
	for (const char *p = name; *p; p++)
		if (!name_char((unsigned char)*p, p == name, colon))
			return 0;
	return 1;
}

int pf_valid_metric_name(const char *name)
{
	return valid_name(name, 1, PF_NAME_MAX);
}

int pf_valid_label_name(const char *name)
{
	return valid_name(name, 0, PF_LABEL_NAME_MAX);
}

/* Length of the strict UTF-8 sequence (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF) at p, or 0 if it is invalid. */
size_t names_utf8_seq(const char *s, size_t avail)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned c = p[0], min;
	size_t n;
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0)
		n = 1, min = 0x80, c &= 0x1F;
	else if ((c & 0xF0) == 0xE0)
		n = 2, min = 0x800, c &= 0x0F;
	else if ((c & 0xF8) == 0xF0)
		n = 3, min = 0x10000, c &= 0x07;
	else
		return 0;
	if (avail <= n)
		return 0;
	for (size_t i = 1; i <= n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	return n + 1;
}

int names_valid_utf8(const char *s, size_t len)
{
	for (size_t i = 0, n; i < len; i += n)
		if ((n = names_utf8_seq(s + i, len - i)) == 0)
			return 0;
	return 1;
}

/* Label values, each NUL-terminated, back to back: the series key. */
int names_encode_key(const char *const *values, int n, char *key, size_t cap)
{
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		if (!values || !values[i])
			return -1;
		size_t l = strlen(values[i]);
		if (!names_valid_utf8(values[i], l) || len + l + 1 > cap)
			return -1;
		memcpy(key + len, values[i], l + 1);
		len += l + 1;
	}
	return (int)len;
}

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

int names_valid_exemplar(const char *p, size_t len)
{
	const char *names[PF_EXEMPLAR_RUNES_MAX];
	size_t chars = 0, at = 0;
	int n = 0;
	if (len == 0 || len > MODEL_EXEMPLAR_BYTES || p[len - 1] != '\0')
		return 0;
	while (at < len) {
		const char *name = p + at;
		size_t nl = strlen(name); /* p[len - 1] is NUL: stays inside */
		at += nl + 1;
		if (at >= len)
			return 0; /* a name without its value */
		const char *value = p + at;
		size_t vl = strlen(value);
		at += vl + 1;
		size_t ascii = 0; /* trace ids are ASCII: skip the UTF-8 decoder for those bytes */
		while (ascii < vl && (unsigned char)value[ascii] < 0x80)
			ascii++;
		if (!pf_valid_label_name(name) || !names_valid_utf8(value + ascii, vl - ascii))
			return 0;
		chars += nl + ascii + utf8_chars(value + ascii, vl - ascii);
		if (chars > PF_EXEMPLAR_RUNES_MAX)
			return 0; /* also keeps n below the size of names: nl >= 1 */
		for (int i = 0; i < n; i++)
			if (strcmp(names[i], name) == 0)
				return 0;
		names[n++] = name;
	}
	return 1;
}

int names_encode_exemplar(const char *const *labels, char *out)
{
	size_t len = 0;
	for (int i = 0; labels && labels[i]; i++) {
		size_t l = strlen(labels[i]);
		if (l + 1 > MODEL_EXEMPLAR_BYTES - len)
			return -1;
		memcpy(out + len, labels[i], l + 1);
		len += l + 1;
	}
	return names_valid_exemplar(out, len) ? (int)len : -1;
}

int names_build_family(struct family_def *def, int type, const char *name, const char *help,
                    const char *const *labels, const double *buckets, int nbuckets)
{
	memset(def, 0, sizeof *def);
	if (!pf_valid_metric_name(name) || !help || !help[0] || strlen(help) >= PF_HELP_MAX ||
	    !names_valid_utf8(help, strlen(help)) || nbuckets < 0 || nbuckets > PF_BUCKETS_MAX ||
	    (type != PF_COUNTER && type != PF_GAUGE && type != PF_HISTOGRAM))
		return -1;
	def->type = (uint32_t)type;
	snprintf(def->name, sizeof def->name, "%s", name);
	snprintf(def->help, sizeof def->help, "%s", help);
	for (int i = 0; labels && labels[i]; i++) {
		if (i >= PF_LABELS_MAX || !pf_valid_label_name(labels[i]) ||
		    (type == PF_HISTOGRAM && strcmp(labels[i], "le") == 0))
			return -1;
		for (int j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0)
				return -1;
		snprintf(def->labels[i], sizeof def->labels[i], "%s", labels[i]);
		def->nlabels++;
	}
	for (int i = 0; i < nbuckets; i++) {
		/* strictly increasing finite bounds; +Inf is always added */
		if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1]))
			return -1;
		def->buckets[i] = buckets[i];
	}
	def->nbuckets = (uint32_t)nbuckets;
	def->ncells = (uint32_t)model_family_cells(type, nbuckets, 0);
	return 0;
}

int names_build_native(struct family_def *def, int schema, double zero_threshold)
{
	if (def->type != PF_HISTOGRAM || schema < PF_NATIVE_SCHEMA_MIN ||
	    schema > PF_NATIVE_SCHEMA_MAX || !(zero_threshold >= 0) || isinf(zero_threshold))
		return -1;
	def->native = 1;
	def->schema = schema;
	def->zero_threshold = zero_threshold;
	def->ncells = (uint32_t)model_family_cells(PF_HISTOGRAM, (int)def->nbuckets, 1);
	return 0;
}

int names_valid_key(const char *key, uint32_t keylen, uint32_t nlabels)
{
	uint32_t values = 0;
	for (uint32_t at = 0; at < keylen; values++) {
		const char *end = memchr(key + at, '\0', keylen - at);
		if (!end || !names_valid_utf8(key + at, (size_t)(end - (key + at))))
			return 0;
		at = (uint32_t)(end - key) + 1;
	}
	return values == nlabels;
}
