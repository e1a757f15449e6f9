/* SPDX-License-Identifier: MIT */
/*
 * names.c — the Prometheus data model's rules for names and label values.
 *
 * Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*;
 * names starting with "__" are reserved for Prometheus itself.  Label values
 * may hold any UTF-8 text but NUL, which the store uses as a separator.
 * A check that fails says why (notice_why): the API function that asked names
 * itself and logs it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store/notice.h"
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
		if (!values || !values[i]) {
			notice_why("%d value%s for %d label name%s", i, i == 1 ? "" : "s", n,
			           n == 1 ? "" : "s");
			return -1;
		}
		size_t l = strlen(values[i]);
		if (!names_valid_utf8(values[i], l)) {
			notice_why("values[%d] is not valid UTF-8", i);
			return -1;
		}
		if (len + l + 1 > cap) {
			notice_why("the label values take more than %zu bytes (a NUL after each; "
			           "PF_KEY_MAX)", cap - 1);
			return -1;
		}
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
	int n = 0;
	for (; labels && labels[n]; n++) {
		size_t l = strlen(labels[n]);
		if (l + 1 > MODEL_EXEMPLAR_BYTES - len) {
			notice_why("exemplar labels longer than %d characters",
			           PF_EXEMPLAR_RUNES_MAX);
			return -1;
		}
		memcpy(out + len, labels[n], l + 1);
		len += l + 1;
	}
	if (names_valid_exemplar(out, len))
		return (int)len;
	/* say which rule it broke (the check above runs on every exemplar; this, on a refusal) */
	size_t chars = 0;
	if (n == 0)
		notice_why("exemplar labels: none (give \"name\", \"value\", ..., NULL)");
	else if (n % 2)
		notice_why("exemplar labels: %d string%s, not name-value pairs (\"%s\" has no "
		           "value)", n, n == 1 ? "" : "s", labels[n - 1]);
	for (int i = 0; n && n % 2 == 0 && i < n; i += 2) {
		if (!pf_valid_label_name(labels[i])) {
			notice_why("exemplar labels[%d] \"%.64s\" is not a valid label name", i,
			           labels[i]);
			return -1;
		}
		for (int j = 0; j < i; j += 2)
			if (strcmp(labels[i], labels[j]) == 0) {
				notice_why("exemplar label %s given twice", labels[i]);
				return -1;
			}
		if (!names_valid_utf8(labels[i + 1], strlen(labels[i + 1]))) {
			notice_why("exemplar labels[%d] (the value of %s) is not valid UTF-8",
			           i + 1, labels[i]);
			return -1;
		}
		chars += utf8_chars(labels[i], strlen(labels[i])) +
		         utf8_chars(labels[i + 1], strlen(labels[i + 1]));
	}
	if (n && n % 2 == 0)
		notice_why("exemplar labels: %zu characters, more than %d (PF_EXEMPLAR_RUNES_MAX)",
		           chars, PF_EXEMPLAR_RUNES_MAX);
	return -1;
}

#define METRIC_NAME_RULE "[a-zA-Z_:][a-zA-Z0-9_:]*, not beginning with __, under 128 bytes"
#define LABEL_NAME_RULE "[a-zA-Z_][a-zA-Z0-9_]*, not beginning with __, under 64 bytes"

/* Whether the parts of a definition that are not labels or buckets are
 * sound; if not, why. */
static int check_family(int type, const char *name, const char *help, int nbuckets)
{
	if (!name)
		return notice_why("name is NULL");
	if (!pf_valid_metric_name(name))
		return notice_why("name \"%.128s\" is not a valid metric name (%s)", name,
		                  METRIC_NAME_RULE);
	if (!help || !help[0])
		return notice_why("help is %s: every family needs a help text",
		                  help ? "empty" : "NULL");
	if (strlen(help) >= PF_HELP_MAX)
		return notice_why("help is %zu bytes, %d at most (PF_HELP_MAX)", strlen(help),
		                  PF_HELP_MAX - 1);
	if (!names_valid_utf8(help, strlen(help)))
		return notice_why("help is not valid UTF-8");
	if (type < PF_COUNTER || type > PF_STATESET)
		return notice_why("type %d is not a counter, gauge, histogram, summary, info or "
		                  "state set", type);
	if (nbuckets < 0 || nbuckets > PF_BUCKETS_MAX)
		return notice_why("nbuckets %d is outside 0..%d (PF_BUCKETS_MAX)", nbuckets,
		                  PF_BUCKETS_MAX);
	if (type != PF_HISTOGRAM && nbuckets)
		return notice_why("nbuckets %d: buckets are a histogram's", nbuckets);
	return 0;
}

int names_build_family(struct family_def *def, int type, const char *name, const char *help,
                    const char *const *labels, const double *buckets, int nbuckets)
{
	memset(def, 0, sizeof *def);
	if (check_family(type, name, help, nbuckets) != 0)
		return -1;
	def->type = (uint32_t)type;
	snprintf(def->name, sizeof def->name, "%s", name);
	snprintf(def->help, sizeof def->help, "%s", help);
	for (int i = 0; labels && labels[i]; i++) {
		if (i >= PF_LABELS_MAX)
			return notice_why("more than %d label names (PF_LABELS_MAX)", PF_LABELS_MAX);
		if (!pf_valid_label_name(labels[i]))
			return notice_why("labels[%d] \"%.64s\" is not a valid label name (%s)", i,
			                  labels[i], LABEL_NAME_RULE);
		if (type == PF_HISTOGRAM && strcmp(labels[i], "le") == 0)
			return notice_why("labels[%d] \"le\" is a histogram's own (its buckets' bound)",
			                  i);
		for (int j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0)
				return notice_why("labels[%d] \"%s\" is labels[%d] again", i, labels[i],
				                  j);
		snprintf(def->labels[i], sizeof def->labels[i], "%s", labels[i]);
		def->nlabels++;
	}
	if (nbuckets > 0 && !buckets)
		return notice_why("buckets is NULL and nbuckets %d", nbuckets);
	for (int i = 0; i < nbuckets; i++) {
		/* strictly increasing finite bounds; +Inf is always added */
		if (!isfinite(buckets[i]))
			return notice_why("buckets[%d] is %g: bounds are finite (+Inf is always "
			                  "there)", i, buckets[i]);
		if (i && buckets[i] <= buckets[i - 1])
			return notice_why("buckets[%d] = %g is not above buckets[%d] = %g: bounds "
			                  "increase", i, buckets[i], i - 1, buckets[i - 1]);
		def->buckets[i] = buckets[i];
	}
	def->nbuckets = (uint32_t)nbuckets;
	def->ncells = (uint32_t)model_family_cells(type, nbuckets, 0);
	return 0;
}

int names_build_native(struct family_def *def, int schema, double zero_threshold)
{
	if (def->type != PF_HISTOGRAM)
		return notice_why("native buckets are a histogram's");
	if (schema < PF_NATIVE_SCHEMA_MIN || schema > PF_NATIVE_SCHEMA_MAX)
		return notice_why("schema %d is outside %d..%d", schema, PF_NATIVE_SCHEMA_MIN,
		                  PF_NATIVE_SCHEMA_MAX);
	if (!(zero_threshold >= 0) || isinf(zero_threshold))
		return notice_why("zero_threshold %g is not a finite number >= 0", zero_threshold);
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

/* ---- gauge modes, units, state sets ------------------------------------- */

static int has_label(const struct family_def *def, const char *name)
{
	for (uint32_t i = 0; i < def->nlabels; i++)
		if (strcmp(def->labels[i], name) == 0)
			return 1;
	return 0;
}

int names_valid_unit(const char *unit)
{
	size_t n = strlen(unit);
	if (!n || n >= PF_UNIT_MAX || unit[0] == '_')
		return 0;
	for (const char *p = unit; *p; p++)
		if (!name_char((unsigned char)*p, 0, 0))
			return 0;
	return 1;
}

/* The name OpenMetrics gives the family: a counter's without _total, an
 * info's without _info. */
void names_om_family(const char *name, int type, char *out, size_t cap)
{
	size_t n = strlen(name);
	if (type == PF_COUNTER && n > 6 && strcmp(name + n - 6, "_total") == 0)
		n -= 6;
	else if (type == PF_INFO && n > 5 && strcmp(name + n - 5, "_info") == 0)
		n -= 5;
	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), name);
}

int names_unit_fits(const char *name, int type, const char *unit)
{
	char family[PF_NAME_MAX];
	if (type == PF_INFO || type == PF_STATESET || !names_valid_unit(unit))
		return 0;
	names_om_family(name, type, family, sizeof family);
	size_t n = strlen(family), m = strlen(unit);
	return n > m + 1 && family[n - m - 1] == '_' && strcmp(family + n - m, unit) == 0;
}

/* A unit stated for def: the rules of OpenMetrics (its UNIT line). */
static int check_unit(const struct family_def *def, const char *unit)
{
	if (def->type == PF_INFO || def->type == PF_STATESET)
		return notice_why("unit \"%.40s\": an %s has no unit (OpenMetrics)", unit,
		              def->type == PF_INFO ? "info" : "state set");
	if (!names_valid_unit(unit))
		return notice_why("unit \"%.40s\" is not a unit ([a-zA-Z0-9_], not beginning with _, "
		              "under %d bytes)", unit, PF_UNIT_MAX);
	if (!names_unit_fits(def->name, (int)def->type, unit))
		return notice_why("unit \"%s\": the name %s must end in _%s%s (OpenMetrics: the unit is "
		              "the family name's suffix)", unit, def->name, unit,
		              def->type == PF_COUNTER ? " (before _total)" : "");
	return 0;
}

static int check_states(struct family_def *def, const char *const *states)
{
	if (!states || !states[0])
		return notice_why("states: a state set needs at least one (NULL-terminated)");
	for (int i = 0; states[i]; i++) {
		size_t n = strlen(states[i]);
		if (i >= PF_STATES_MAX)
			return notice_why("states: more than %d (PF_STATES_MAX)", PF_STATES_MAX);
		if (!n || n >= PF_STATE_MAX || !names_valid_utf8(states[i], n))
			return notice_why("states[%d] is %s: a state is UTF-8, 1 to %d bytes", i,
			              n ? "too long or not UTF-8" : "empty", PF_STATE_MAX - 1);
		for (int j = 0; j < i; j++)
			if (strcmp(states[i], states[j]) == 0)
				return notice_why("states[%d] \"%s\" is states[%d] again", i, states[i], j);
		memcpy(def->states[i], states[i], n + 1);
		def->nstates++;
	}
	return 0;
}

/* What each type asks of a name and labels beyond the common rules. */
static int check_type_names(const struct family_def *def)
{
	size_t n = strlen(def->name);
	switch (def->type) {
	case PF_SUMMARY:
		if (has_label(def, "quantile"))
			return notice_why("a label quantile: a summary's own (its quantiles; "
			              "promfcgi's have none)");
		return 0;
	case PF_INFO:
		if (n <= 5 || strcmp(def->name + n - 5, "_info") != 0)
			return notice_why("an info's name ends in _info (OpenMetrics names its samples so)");
		return 0;
	case PF_STATESET:
		if (!pf_valid_label_name(def->name))
			return notice_why("a state set's name is also its states' label, so a valid label "
			              "name ([a-zA-Z_][a-zA-Z0-9_]*, under %d bytes)", PF_LABEL_NAME_MAX);
		if (has_label(def, def->name))
			return notice_why("a label %s: a state set's own (its states)", def->name);
		return 0;
	case PF_GAUGE:
		if (def->mode == PF_GAUGE_LIVEALL && has_label(def, "pid"))
			return notice_why("a label pid: a liveall gauge's own (the process)");
		if (def->mode == PF_GAUGE_LIVEALL && def->nlabels >= PF_LABELS_MAX)
			return notice_why("%u labels: a liveall gauge adds pid, %d at most in all",
			              def->nlabels, PF_LABELS_MAX);
		return 0;
	default:
		return 0;
	}
}

int names_build_kind(struct family_def *def, int mode, const char *unit,
                     const char *const *states)
{
	if (mode && def->type != PF_GAUGE)
		return notice_why("mode %d: a mode is a gauge's", mode);
	if (mode < PF_GAUGE_LIVESUM || mode > PF_GAUGE_LIVEALL)
		return notice_why("mode %d is not a gauge mode (enum pf_gauge_mode)", mode);
	def->mode = (uint32_t)mode;
	if (states && def->type != PF_STATESET)
		return notice_why("states: only a state set has them");
	if (def->type == PF_STATESET && check_states(def, states) != 0)
		return -1;
	if (unit && unit[0]) {
		if (check_unit(def, unit) != 0)
			return -1;
		memcpy(def->unit, unit, strlen(unit) + 1);
	}
	if (check_type_names(def) != 0)
		return -1;
	def->ncells = (uint32_t)model_def_cells(def);
	return 0;
}

const char *names_gauge_mode(int mode)
{
	static const char *const modes[] = {"livesum", "sum", "livemax", "max", "livemin", "min",
	                                    "livemostrecent", "mostrecent", "liveall"};
	return mode >= 0 && mode <= PF_GAUGE_LIVEALL ? modes[mode] : NULL;
}

int names_gauge_mode_of(const char *name)
{
	for (int m = 0; m <= PF_GAUGE_LIVEALL; m++)
		if (strcmp(names_gauge_mode(m), name) == 0)
			return m;
	return -1;
}

int names_state_index(const struct family_def *def, const char *state)
{
	for (uint32_t i = 0; state && i < def->nstates && i < PF_STATES_MAX; i++)
		if (strncmp(def->states[i], state, PF_STATE_MAX) == 0)
			return (int)i;
	return -1;
}

int names_valid_kind(const struct family_def *def)
{
	if (def->type != PF_GAUGE ? def->mode != 0 : def->mode > PF_GAUGE_LIVEALL)
		return 0;
	if (!memchr(def->unit, '\0', sizeof def->unit) ||
	    (def->unit[0] && !names_unit_fits(def->name, (int)def->type, def->unit)))
		return 0;
	if (def->type != PF_STATESET)
		return def->nstates == 0;
	if (def->nstates < 1 || def->nstates > PF_STATES_MAX)
		return 0;
	for (uint32_t i = 0; i < def->nstates; i++) {
		size_t n = strnlen(def->states[i], PF_STATE_MAX);
		if (!n || n == PF_STATE_MAX || !names_valid_utf8(def->states[i], n))
			return 0;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(def->states[i], def->states[j]) == 0)
				return 0;
	}
	return 1;
}
