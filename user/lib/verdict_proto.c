// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* verdict_proto.c - parse and format verdict request lines; see verdict_proto.h. */
#include "verdict_proto.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Fields of the longest valid request: verb, prefix, seconds, 2 options. */
#define VREQ_MAX_FIELDS 5

struct vreq_verb {
	const char *name;
	enum mx_vreq_op op;
	int args;          /* positional fields after the verb */
	bool opt_limit;    /* limit=N allowed */
	bool opt_reason;   /* reason=WORD allowed */
};

static const struct vreq_verb verbs[] = {
	{ "PENALIZE", MX_VREQ_PENALIZE, 2, true, true },
	{ "BLOCK", MX_VREQ_BLOCK, 2, false, true },
	{ "UNBLOCK", MX_VREQ_UNBLOCK, 1, false, false },
	{ "QUERY", MX_VREQ_QUERY, 1, false, false },
};

const char *mx_vreq_op_name(enum mx_vreq_op op)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (verbs[i].op == op)
			return verbs[i].name;
	}
	return "?";
}

/* Printable ASCII and tabs only: the line is echoed into logs. */
static bool line_clean(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c >= 0x7f)
			return false;
	}
	return true;
}

/* Split buf in place; returns the field count, or -1 when over max. */
static int split(char *buf, char **f, int max)
{
	int n = 0;
	char *p = buf;

	for (;;) {
		p += strspn(p, " \t");
		if (!*p)
			return n;
		if (n == max)
			return -1;
		f[n++] = p;
		p += strcspn(p, " \t");
		if (*p)
			*p++ = '\0';
	}
}

/* Decimal digits only (no sign, no space), 1..max. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v == 0)
		return -1;
	*out = v;
	return 0;
}

/* A reason word: 1..23 chars of [A-Za-z0-9_.-], so it fits mx_sanction's
 * reason fields.  The one rule for verdicts and `mxlimit block --reason`. */
bool mx_reason_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n < MX_REASON_LEN &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* A sanction is for a sender, not a continent: a typo or a bug in a
 * client must not block the Internet.  UNBLOCK takes any width, so it can
 * lift what the command line put in place. */
static bool too_wide(const mx_prefix *p)
{
	unsigned len = mx_prefix_native_len(p);

	return mx_prefix_is_v4(p) ? len < MX_VERDICT_V4_PLEN_MIN : len < MX_VERDICT_V6_PLEN_MIN;
}

static int parse_option(const struct vreq_verb *v, const char *f, struct mx_vreq *r,
			const char **why)
{
	uint64_t n;

	if (strncmp(f, "limit=", 6) == 0) {
		if (!v->opt_limit) {
			*why = "limit= is only for PENALIZE";
			return -1;
		}
		if (r->limit) {
			*why = "duplicate limit=";
			return -1;
		}
		if (parse_uint(f + 6, MX_VERDICT_LIMIT_MAX, &n)) {
			*why = "bad limit (1 to 1000000)";
			return -1;
		}
		r->limit = (uint32_t)n;
		return 0;
	}
	if (strncmp(f, "reason=", 7) == 0) {
		if (!v->opt_reason) {
			*why = "reason= is not taken here";
			return -1;
		}
		if (r->reason[0]) {
			*why = "duplicate reason=";
			return -1;
		}
		if (!mx_reason_valid(f + 7)) {
			*why = "bad reason (1 to 23 of A-Z a-z 0-9 _ . -)";
			return -1;
		}
		memcpy(r->reason, f + 7, strlen(f + 7) + 1);
		return 0;
	}
	*why = "unknown option";
	return -1;
}

static int parse_fields(char **f, int n, struct mx_vreq *r, const char **why)
{
	const struct vreq_verb *v = NULL;
	const char *pwhy = NULL;
	size_t i;
	int k;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcasecmp(f[0], verbs[i].name) == 0)
			v = &verbs[i];
	}
	if (!v) {
		*why = "unknown verb";
		return -1;
	}
	r->op = v->op;
	if (n < 2) {
		*why = v->op == MX_VREQ_QUERY ? "missing address" : "missing prefix";
		return -1;
	}
	if (v->op == MX_VREQ_QUERY) {
		if (mx_addr_parse(f[1], &r->prefix)) {
			*why = "bad address";
			return -1;
		}
	} else if (mx_prefix_parse(f[1], false, &r->prefix, &pwhy)) {
		*why = "bad prefix";
		return -1;
	}
	if (v->args == 2 && too_wide(&r->prefix)) {
		*why = "prefix too wide (IPv4 /8, IPv6 /16 at most)";
		return -1;
	}
	if (v->args == 2) {
		if (n < 3) {
			*why = "missing seconds";
			return -1;
		}
		if (parse_uint(f[2], MX_VERDICT_SECONDS_MAX, &r->seconds)) {
			*why = "bad seconds (1 to 315360000)";
			return -1;
		}
	}
	if (n > 1 + v->args && !v->opt_limit && !v->opt_reason) {
		*why = "too many fields";
		return -1;
	}
	for (k = 1 + v->args; k < n; k++) {
		if (parse_option(v, f[k], r, why))
			return -1;
	}
	return 0;
}

int mx_vreq_parse(const char *line, size_t len, struct mx_vreq *out, const char **why)
{
	char buf[MX_VERDICT_LINE_MAX + 1];
	char *f[VREQ_MAX_FIELDS];
	int n;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (len > MX_VERDICT_LINE_MAX + 1) { /* before reading the last byte */
		*why = "line too long";
		return -1;
	}
	if (len && line[len - 1] == '\r')
		len--;
	if (len > MX_VERDICT_LINE_MAX) {
		*why = "line too long";
		return -1;
	}
	if (!line_clean(line, len)) {
		*why = "bad character";
		return -1;
	}
	memcpy(buf, line, len);
	buf[len] = '\0';
	n = split(buf, f, VREQ_MAX_FIELDS);
	if (n < 0) {
		*why = "too many fields";
		return -1;
	}
	if (n == 0) {
		*why = "empty line";
		return -1;
	}
	if (parse_fields(f, n, out, why)) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

int mx_vreq_format(const struct mx_vreq *r, char *out, size_t len)
{
	char p[MX_PREFIX_STRLEN], lim[32] = "", why[MX_REASON_LEN + 8] = "";
	int n;

	mx_prefix_format(&r->prefix, p, sizeof(p));
	switch (r->op) {
	case MX_VREQ_PENALIZE:
	case MX_VREQ_BLOCK:
		if (r->seconds == 0 || r->seconds > MX_VERDICT_SECONDS_MAX ||
		    r->limit > MX_VERDICT_LIMIT_MAX || (r->op == MX_VREQ_BLOCK && r->limit) ||
		    (r->reason[0] && !mx_reason_valid(r->reason)))
			return -1;
		if (r->limit)
			snprintf(lim, sizeof(lim), " limit=%" PRIu32, r->limit);
		if (r->reason[0])
			snprintf(why, sizeof(why), " reason=%s", r->reason);
		n = snprintf(out, len, "%s %s %" PRIu64 "%s%s", mx_vreq_op_name(r->op), p, r->seconds,
			     lim, why);
		break;
	case MX_VREQ_UNBLOCK:
	case MX_VREQ_QUERY:
		n = snprintf(out, len, "%s %s", mx_vreq_op_name(r->op), p);
		break;
	default:
		return -1;
	}
	return n < 0 || (size_t)n >= len || n > MX_VERDICT_LINE_MAX ? -1 : n;
}
