/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy.c - read limit.ini into a struct mx_policy (policy.h).
 *
 * ini.c hands us each header and key with its line; a table of sections
 * says what each accepts.  Every error is reported with file and line and
 * reading goes on, so one `mxlimit check` shows every mistake; any error
 * fails the whole load and leaves *out zeroed.
 */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ini.h"
#include "log.h"
#include "policy_int.h"

/* Longest message we build before handing it to log.h. */
#define MSG_MAX 768
/* Longest name lookup kept (RFC 5321 path), with its NUL. */
#define NAME_BUF 256

enum sect_kind {
	SK_MAIN,
	SK_LIMIT,   /* lookups and limits, off unless enabled = true */
	SK_HISTORY, /* haraka's reputation tiers */
	SK_PENALTY,
	SK_PROXY,   /* handed to proxy_conf.c */
	SK_POLICYD, /* handed to policyd_conf.c */
	SK_REDIS,   /* redis_conf.c */
	SK_IGNORED, /* outbound: not ours, any key accepted */
};

#define SF_ADDR   (1u << 0) /* address and prefix lookups */
#define SF_NAME   (1u << 1) /* host name, domain and mail address lookups */
#define SF_RATE   (1u << 2) /* values are limit/time */
#define SF_MAX    (1u << 3) /* "max" names the default, as in haraka */
#define SF_RELAY  (1u << 4) /* haraka's max_relaying: accepted, unused */
#define SF_KERNEL (1u << 5) /* enforced by the XDP program */

struct sect_desc {
	const char *name;
	enum sect_kind kind;
	unsigned flags;
	size_t off; /* SK_LIMIT: its struct mx_section in mx_policy */
	int hist;   /* SK_HISTORY: index of its loader.hist state */
};

#define AT(field) offsetof(struct mx_policy, field)

enum { HIST_CONC, HIST_RATE_CONN, HIST_RCPT, N_HIST };

static const struct sect_desc sections[] = {
	{ "main", SK_MAIN, 0, 0, 0 },
	{ "concurrency", SK_LIMIT, SF_ADDR | SF_MAX | SF_KERNEL, AT(concurrency), 0 },
	{ "rate_conn", SK_LIMIT, SF_ADDR | SF_RATE | SF_KERNEL, AT(rate_conn), 0 },
	{ "recipients", SK_LIMIT, SF_ADDR | SF_MAX | SF_RELAY, AT(recipients), 0 },
	{ "unrecognized_commands", SK_LIMIT, SF_MAX, AT(unrecognized_commands), 0 },
	{ "errors", SK_LIMIT, SF_MAX, AT(errors), 0 },
	{ "rate_rcpt_host", SK_LIMIT, SF_ADDR | SF_NAME | SF_RATE, AT(rate_rcpt_host), 0 },
	{ "rate_rcpt_sender", SK_LIMIT, SF_NAME | SF_RATE, AT(rate_rcpt_sender), 0 },
	{ "rate_rcpt", SK_LIMIT, SF_NAME | SF_RATE, AT(rate_rcpt), 0 },
	{ "rate_rcpt_null", SK_LIMIT, SF_NAME | SF_RATE, AT(rate_rcpt_null), 0 },
	{ "concurrency_history", SK_HISTORY, 0, AT(concurrency_bad), HIST_CONC },
	{ "rate_conn_history", SK_HISTORY, SF_RATE, AT(rate_conn_bad), HIST_RATE_CONN },
	{ "recipients_history", SK_HISTORY, 0, AT(recipients_bad), HIST_RCPT },
	{ "penalty", SK_PENALTY, 0, 0, 0 },
	{ "proxy", SK_PROXY, 0, 0, 0 },
	{ "policyd", SK_POLICYD, 0, 0, 0 },
	{ "redis", SK_REDIS, 0, 0, 0 },
	{ "outbound", SK_IGNORED, 0, 0, 0 },
	{ "rate_outbound", SK_IGNORED, 0, 0, 0 },
};

#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))
#define S_MAIN 0

/* Which [penalty] keys name which section (max_clients is [proxy]'s). */
static const struct {
	const char *name;
	size_t off; /* its struct mx_section, or 0 */
} violations[MX_VIOL__COUNT] = {
	[MX_VIOL_RECIPIENTS] = { "recipients", AT(recipients) },
	[MX_VIOL_UNRECOGNIZED_COMMANDS] = { "unrecognized_commands", AT(unrecognized_commands) },
	[MX_VIOL_ERRORS] = { "errors", AT(errors) },
	[MX_VIOL_RATE_RCPT_HOST] = { "rate_rcpt_host", AT(rate_rcpt_host) },
	[MX_VIOL_RATE_RCPT_SENDER] = { "rate_rcpt_sender", AT(rate_rcpt_sender) },
	[MX_VIOL_RATE_RCPT] = { "rate_rcpt", AT(rate_rcpt) },
	[MX_VIOL_RATE_RCPT_NULL] = { "rate_rcpt_null", AT(rate_rcpt_null) },
	[MX_VIOL_MAX_CLIENTS] = { "max_clients", 0 },
};

/* A *_history section is read whole before its tier means anything:
 * `enabled` may come after `bad`. */
struct hist_state {
	bool enabled;
	int compat_line; /* first good/none/plugin line: keys we accept, never use */
	struct mx_tier bad;
};

struct seen_key {
	size_t sect;
	char *key;
	int line;
};

struct loader {
	struct mx_policy *pol;
	const char *file;
	long sect; /* index in sections[], -1 inside an unknown section */
	int header_line[N_SECTIONS];
	struct hist_state hist[N_HIST];
	struct seen_key *seen;
	size_t n_seen, cap_seen;
	bool failed;
};

const char *mx_violation_name(enum mx_violation v)
{
	return (unsigned)v < MX_VIOL__COUNT ? violations[v].name : "?";
}

static void vsay(struct loader *L, enum mx_log_level level, int line, const char *fmt,
		 va_list ap)
{
	char msg[MSG_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	mx_log_at(level, L->file, line, "%s", msg);
}

__attribute__((format(printf, 3, 4))) static int err(struct loader *L, int line,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(L, MX_LOG_ERROR, line, fmt, ap);
	va_end(ap);
	L->failed = true;
	return -1;
}

__attribute__((format(printf, 3, 4))) static void warn(struct loader *L, int line,
							const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(L, MX_LOG_WARN, line, fmt, ap);
	va_end(ap);
}

static struct mx_section *section_at(struct mx_policy *pol, size_t off)
{
	return (struct mx_section *)((char *)pol + off);
}

static const char *cur_name(const struct loader *L) { return sections[L->sect].name; }

/* haraka keeps the last of two equal keys; we do too, and say so. */
static int note_key(struct loader *L, const char *key, int line)
{
	struct seen_key *s;
	size_t i;

	for (i = 0; i < L->n_seen; i++) {
		s = &L->seen[i];
		if (s->sect == (size_t)L->sect && strcmp(s->key, key) == 0) {
			warn(L, line, "duplicate key \"%s\" in [%s] (also on line %d): the last one wins",
			     key, cur_name(L), s->line);
			s->line = line;
			return 0;
		}
	}
	if (L->n_seen == L->cap_seen) {
		size_t cap = L->cap_seen ? 2 * L->cap_seen : 16;
		struct seen_key *n = realloc(L->seen, cap * sizeof(*n));

		if (!n)
			return err(L, line, "out of memory");
		L->seen = n;
		L->cap_seen = cap;
	}
	s = &L->seen[L->n_seen];
	s->key = strdup(key);
	if (!s->key)
		return err(L, line, "out of memory");
	s->sect = (size_t)L->sect;
	s->line = line;
	L->n_seen++;
	return 0;
}

/* ---- [main] ---- */

enum main_type {
	MT_PORTS, MT_PREFIX4, MT_PREFIX6, MT_ACTION, MT_TARPIT, MT_PENDING, MT_GC, MT_MAP, MT_BOOL,
	MT_SERVERS, MT_FLOW_IDLE
};

static const struct {
	const char *name;
	enum main_type type;
	size_t off;
} main_keys[] = {
	{ "ports", MT_PORTS, AT(ports) },
	{ "ipv4_prefix", MT_PREFIX4, AT(ipv4_prefix) },
	{ "ipv6_prefix", MT_PREFIX6, AT(ipv6_prefix) },
	{ "ipv4_wide_prefix", MT_PREFIX4, AT(ipv4_wide_prefix) },
	{ "ipv6_wide_prefix", MT_PREFIX6, AT(ipv6_wide_prefix) },
	{ "action", MT_ACTION, AT(action) },
	{ "tarpit_delay", MT_TARPIT, AT(tarpit_delay_ns) },
	{ "haraka_defaults", MT_BOOL, AT(haraka_defaults) },
	{ "pending_timeout", MT_PENDING, AT(pending_timeout_ns) },
	{ "gc_idle", MT_GC, AT(gc_idle_ns) },
	{ "max_sources", MT_MAP, AT(max_sources) },
	{ "max_connections", MT_MAP, AT(max_connections) },
	{ "max_rate_sources", MT_MAP, AT(max_rate_sources) },
	{ "max_pending", MT_MAP, AT(max_pending) },
	{ "max_sanctions", MT_MAP, AT(max_sanctions) },
	{ "max_rules", MT_MAP, AT(max_rules) },
	{ "servers", MT_SERVERS, AT(servers) },
	{ "flow_idle_smtp", MT_FLOW_IDLE, AT(flow_idle_smtp_ns) },
	{ "flow_idle_imap", MT_FLOW_IDLE, AT(flow_idle_imap_ns) },
	{ "flow_idle_pop", MT_FLOW_IDLE, AT(flow_idle_pop_ns) },
};

static int set_prefix_len(struct loader *L, const char *key, const char *value, int line,
			  unsigned max, unsigned *out)
{
	const char *why;
	uint32_t v;

	if (mx_pol_u32(value, 1, max, &v, &why) < 0)
		return err(L, line, "%s: expected 1 to %u, got \"%s\"", key, max, value);
	*out = v;
	return 0;
}

static int set_ranged_duration(struct loader *L, const char *key, const char *value, int line,
			       uint64_t min, uint64_t max, uint64_t *out)
{
	char a[32], b[32];
	uint64_t ns;

	if (mx_parse_duration(value, &ns) < 0 || ns < min || ns > max)
		return err(L, line, "%s: expected a duration from %s to %s, got \"%s\"", key,
			   mx_format_duration(min, a, sizeof(a)), mx_format_duration(max, b, sizeof(b)),
			   value);
	*out = ns;
	return 0;
}

/* [main] servers = PREFIX, PREFIX ...: commas and/or blanks between. */
static int set_servers(struct loader *L, const char *value, int line)
{
	struct mx_policy *pol = L->pol;
	char *copy = strdup(value), *tok, *save = NULL;
	int rc = 0;

	if (!copy)
		return err(L, line, "out of memory");
	free(pol->servers);
	pol->servers = NULL;
	pol->n_servers = 0;
	pol->servers_line = line;
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		const char *why = NULL;
		mx_prefix p, *grown;

		if (mx_prefix_parse(tok, false, &p, &why) < 0) {
			rc = err(L, line, "servers: bad prefix \"%s\": %s", tok, why ? why : "?");
			break;
		}
		if (pol->n_servers >= MX_MAX_SERVERS) {
			rc = err(L, line, "servers: more than %d prefixes", MX_MAX_SERVERS);
			break;
		}
		grown = realloc(pol->servers, (pol->n_servers + 1) * sizeof(*grown));
		if (!grown) {
			rc = err(L, line, "out of memory");
			break;
		}
		pol->servers = grown;
		pol->servers[pol->n_servers++] = p;
	}
	if (!rc && !pol->n_servers)
		rc = err(L, line, "servers: expected one or more prefixes");
	free(copy);
	return rc;
}

static int main_value(struct loader *L, enum main_type type, const char *key, const char *value,
		      int line, void *field)
{
	const char *why;

	switch (type) {
	case MT_PORTS:
		if (mx_pol_ports(value, field, &why) < 0)
			return err(L, line, "ports: bad value \"%s\": %s", value, why);
		return 0;
	case MT_PREFIX4:
		return set_prefix_len(L, key, value, line, 32, field);
	case MT_PREFIX6:
		return set_prefix_len(L, key, value, line, 128, field);
	case MT_ACTION:
		if (strcasecmp(value, "drop") == 0)
			*(enum mx_action *)field = MX_ACTION_DROP;
		else if (strcasecmp(value, "reset") == 0)
			*(enum mx_action *)field = MX_ACTION_RESET;
		else
			return err(L, line, "action: expected drop or reset, got \"%s\"", value);
		return 0;
	case MT_TARPIT:
		if (mx_parse_duration_or_zero(value, field) < 0)
			return err(L, line, "tarpit_delay: bad duration \"%s\" (N, Ns, Nm, Nh or Nd)",
				   value);
		return 0;
	case MT_PENDING:
		return set_ranged_duration(L, key, value, line, MX_PENDING_TIMEOUT_MIN_NS,
					   MX_PENDING_TIMEOUT_MAX_NS, field);
	case MT_GC:
		return set_ranged_duration(L, key, value, line, MX_GC_IDLE_MIN_NS,
					   MX_DURATION_MAX_NS, field);
	case MT_BOOL:
		if (mx_pol_bool(value, field, &why) < 0)
			return err(L, line, "%s: %s, got \"%s\"", key, why, value);
		return 0;
	case MT_SERVERS:
		return set_servers(L, value, line);
	case MT_FLOW_IDLE:
		return set_ranged_duration(L, key, value, line, MX_FLOW_IDLE_MIN_NS,
					   MX_FLOW_IDLE_MAX_NS, field);
	case MT_MAP:
		if (mx_pol_u32(value, MX_MAP_ENTRIES_MIN, MX_MAP_ENTRIES_MAX, field, &why) < 0)
			return err(L, line, "%s: expected %u to %u entries, got \"%s\"", key,
				   MX_MAP_ENTRIES_MIN, MX_MAP_ENTRIES_MAX, value);
		return 0;
	}
	return -1;
}

static int main_key(struct loader *L, const char *key, const char *value, int line)
{
	size_t i;

	for (i = 0; i < sizeof(main_keys) / sizeof(main_keys[0]); i++) {
		if (strcmp(key, main_keys[i].name) != 0)
			continue;
		note_key(L, key, line);
		return main_value(L, main_keys[i].type, key, value, line,
				  (char *)L->pol + main_keys[i].off);
	}
	return err(L, line, "unknown key \"%s\" in [main]", key);
}

/* ---- limit sections ---- */

/* Digits and dots, or ':' or '/': meant as an address, so a failed parse
 * is reported as a bad address, not as a bad host name. */
static bool looks_like_addr(const char *s)
{
	return strpbrk(s, ":/") || strspn(s, "0123456789.") == strlen(s);
}

/* For "192.0.2.7/24" say which prefix was probably meant. */
static void host_bits_hint(const char *key, char *hint, size_t len)
{
	const char *slash = strchr(key, '/'), *why;
	char addr[MX_PREFIX_STRLEN], buf[MX_PREFIX_STRLEN];
	mx_prefix p;
	uint32_t n;

	hint[0] = '\0';
	if (!slash || (size_t)(slash - key) >= sizeof(addr))
		return;
	memcpy(addr, key, (size_t)(slash - key));
	addr[slash - key] = '\0';
	if (mx_addr_parse(addr, &p) < 0 || mx_pol_u32(slash + 1, 0, 128, &n, &why) < 0)
		return;
	p.plen = n + (strchr(addr, ':') ? 0 : MX_V4_PLEN_BASE);
	mx_prefix_mask(&p);
	snprintf(hint, len, " (the prefix is %s)", mx_prefix_format(&p, buf, sizeof(buf)));
}

static int bad_prefix(struct loader *L, const char *key, int line, const char *why)
{
	char hint[MX_PREFIX_STRLEN + 32] = "";

	if (strstr(why, "host bits"))
		host_bits_hint(key, hint, sizeof(hint));
	return err(L, line, "bad lookup \"%s\": %s%s", key, why, hint);
}

/* A word in a section that matches addresses only.  A lone hex word such
 * as "fe80" is haraka's one-group IPv6 prefix, but as easily a typo or a
 * host name: ask for the explicit CIDR. */
static int not_a_name(struct loader *L, const struct sect_desc *d, const char *key, int line)
{
	char buf[MX_PREFIX_STRLEN];
	const char *why;
	mx_prefix p;

	if (mx_prefix_parse(key, true, &p, &why) == 0)
		return err(L, line, "bad lookup \"%s\": ambiguous, write %s for an IPv6 prefix", key,
			   mx_prefix_format(&p, buf, sizeof(buf)));
	if (d->flags & SF_KERNEL)
		return err(L, line,
			   "bad lookup \"%s\": [%s] is enforced in the kernel, which matches addresses, not names",
			   key, d->name);
	return err(L, line, "bad lookup \"%s\": [%s] matches client addresses, not names", key,
		   d->name);
}

static int classify(struct loader *L, const struct sect_desc *d, const char *key, int line,
		    struct mx_lookup *lk)
{
	char name[NAME_BUF];
	const char *why;

	lk->kind = MX_LOOKUP_DEFAULT;
	if (strcmp(key, "default") == 0 || ((d->flags & SF_MAX) && strcmp(key, "max") == 0))
		return (lk->text = strdup(key)) ? 0 : err(L, line, "out of memory");
	if (!(d->flags & (SF_ADDR | SF_NAME)))
		return err(L, line, "unknown key \"%s\" in [%s] (it takes max and enabled)", key,
			   d->name);
	if ((d->flags & SF_ADDR) && looks_like_addr(key)) {
		lk->kind = MX_LOOKUP_PREFIX;
		if (mx_prefix_parse(key, true, &lk->prefix, &why) == 0)
			return (lk->text = strdup(key)) ? 0 : err(L, line, "out of memory");
		return bad_prefix(L, key, line, why);
	}
	if (!(d->flags & SF_NAME))
		return not_a_name(L, d, key, line);
	lk->kind = MX_LOOKUP_NAME;
	if (mx_pol_name(key, name, sizeof(name), &why) < 0)
		return err(L, line, "bad lookup \"%s\": %s", key, why);
	return (lk->text = strdup(name)) ? 0 : err(L, line, "out of memory");
}

static bool same_lookup(const struct mx_lookup *a, const struct mx_lookup *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == MX_LOOKUP_PREFIX)
		return mx_prefix_equal(&a->prefix, &b->prefix);
	if (a->kind == MX_LOOKUP_NAME)
		return strcmp(a->text, b->text) == 0;
	return true;
}

static int add_lookup(struct loader *L, struct mx_section *sec, struct mx_lookup *lk)
{
	struct mx_lookup *n;
	size_t i;

	for (i = 0; i < sec->n_lookups; i++) {
		if (!same_lookup(&sec->lookups[i], lk))
			continue;
		warn(L, lk->line, "duplicate lookup \"%s\" in [%s] (same as \"%s\" on line %d): the last one wins",
		     lk->text, cur_name(L), sec->lookups[i].text, sec->lookups[i].line);
		free(sec->lookups[i].text);
		sec->lookups[i] = *lk;
		return 0;
	}
	n = realloc(sec->lookups, (sec->n_lookups + 1) * sizeof(*n));
	if (!n) {
		free(lk->text);
		return err(L, lk->line, "out of memory");
	}
	sec->lookups = n;
	sec->lookups[sec->n_lookups++] = *lk;
	return 0;
}

static int limit_value(struct loader *L, const struct sect_desc *d, const char *key,
		       const char *value, int line, uint32_t *limit, uint64_t *period)
{
	const char *why;

	if (mx_pol_limit(value, d->flags & SF_RATE, limit, period, &why) < 0)
		return err(L, line, "bad limit \"%s\" for \"%s\" in [%s]: %s", value, key, d->name,
			   why);
	return 0;
}

static int enabled_key(struct loader *L, const char *value, int line, bool *out)
{
	const char *why;

	note_key(L, "enabled", line);
	if (mx_pol_bool(value, out, &why) < 0)
		return err(L, line, "enabled: %s, got \"%s\"", why, value);
	return 0;
}

static int limit_key(struct loader *L, const struct sect_desc *d, const char *key,
		     const char *value, int line)
{
	struct mx_section *sec = section_at(L->pol, d->off);
	struct mx_lookup lk = { .line = line };
	uint64_t period;
	uint32_t limit;

	if (strcmp(key, "enabled") == 0)
		return enabled_key(L, value, line, &sec->enabled);
	if ((d->flags & SF_KERNEL) && strcmp(key, "wide") == 0) {
		struct mx_tier *t = d->off == AT(concurrency) ? &L->pol->concurrency_wide
							       : &L->pol->rate_conn_wide;

		note_key(L, key, line);
		if (limit_value(L, d, key, value, line, &t->limit, &t->period_ns) < 0)
			return -1;
		t->set = true;
		return 0;
	}
	if ((d->flags & SF_RELAY) && strcmp(key, "max_relaying") == 0) {
		note_key(L, key, line);
		if (limit_value(L, d, key, value, line, &limit, &period) < 0)
			return -1;
		warn(L, line, "max_relaying is not used: the proxy cannot tell relaying clients, max applies to all");
		return 0;
	}
	if (classify(L, d, key, line, &lk) < 0)
		return -1;
	if ((d->flags & SF_ADDR) && lk.kind == MX_LOOKUP_NAME)
		warn(L, line,
		     "\"%s\" in [%s] never matches in mxlimit-proxy, which does not look up client names (reverse DNS); mxlimit-policyd matches it against Postfix's verified client name",
		     key, d->name);
	if (limit_value(L, d, key, value, line, &lk.limit, &lk.period_ns) < 0) {
		free(lk.text);
		return -1;
	}
	return add_lookup(L, sec, &lk);
}

/* ---- *_history ---- */

static int history_key(struct loader *L, const struct sect_desc *d, const char *key,
		       const char *value, int line)
{
	struct hist_state *h = &L->hist[d->hist];
	struct mx_tier t = { .set = true };
	bool tier = strcmp(key, "bad") == 0 || strcmp(key, "good") == 0 || strcmp(key, "none") == 0;

	if (strcmp(key, "enabled") == 0)
		return enabled_key(L, value, line, &h->enabled);
	if (!tier && strcmp(key, "plugin") != 0)
		return err(L, line, "unknown key \"%s\" in [%s] (it takes enabled, bad, good, none, plugin)",
			   key, d->name);
	note_key(L, key, line);
	if (strcmp(key, "bad") != 0 && !h->compat_line)
		h->compat_line = line;
	if (!tier)
		return *value ? 0 : err(L, line, "plugin: missing value");
	if (limit_value(L, d, key, value, line, &t.limit, &t.period_ns) < 0)
		return -1;
	if (strcmp(key, "bad") == 0)
		h->bad = t;
	return 0;
}

/* ---- [penalty] ---- */

#define PENALTY_SYNTAX "expected \"block DURATION\", \"penalize DURATION [limit=N]\" or \"none\""

static int penalty_words(struct loader *L, const char *value, int line, struct mx_penalty *p)
{
	char buf[MX_INI_LINE_MAX + 1], *save = NULL, *verb, *dur, *opt;
	const char *why;

	snprintf(buf, sizeof(buf), "%s", value);
	verb = strtok_r(buf, " \t", &save);
	dur = verb ? strtok_r(NULL, " \t", &save) : NULL;
	opt = dur ? strtok_r(NULL, " \t", &save) : NULL;
	if (verb && !dur && strcasecmp(verb, "none") == 0) {
		p->verb = MX_VERDICT_NONE;
		return 0;
	}
	if (!verb || !dur || strtok_r(NULL, " \t", &save))
		return err(L, line, "bad penalty \"%s\": %s", value, PENALTY_SYNTAX);
	if (strcasecmp(verb, "block") == 0 && !opt)
		p->verb = MX_VERDICT_BLOCK;
	else if (strcasecmp(verb, "penalize") == 0)
		p->verb = MX_VERDICT_PENALIZE;
	else
		return err(L, line, "bad penalty \"%s\": %s", value, PENALTY_SYNTAX);
	if (mx_parse_duration(dur, &p->duration_ns) < 0)
		return err(L, line, "bad penalty \"%s\": bad duration \"%s\" (1s to 3650d)", value, dur);
	if (!opt)
		return 0;
	if (strncmp(opt, "limit=", 6) != 0 ||
	    mx_pol_u32(opt + 6, 1, MX_PENALTY_TIER - 1, &p->limit, &why) < 0)
		return err(L, line, "bad penalty \"%s\": expected limit=N with N from 1 to %u", value,
			   MX_PENALTY_TIER - 1);
	return 0;
}

static int penalty_key(struct loader *L, const char *key, const char *value, int line)
{
	struct mx_penalty p = { .line = line };
	unsigned v;

	for (v = 0; v < MX_VIOL__COUNT; v++) {
		if (strcmp(key, violations[v].name) == 0)
			break;
	}
	if (v == MX_VIOL__COUNT)
		return err(L, line,
			   "unknown key \"%s\" in [penalty] (expected recipients, unrecognized_commands, errors, rate_rcpt_host, rate_rcpt_sender, rate_rcpt, rate_rcpt_null or max_clients)",
			   key);
	note_key(L, key, line);
	if (penalty_words(L, value, line, &p) < 0)
		return -1;
	L->pol->penalty[v] = p;
	return 0;
}

/* ---- dispatch ---- */

static long find_section(const char *name, bool nocase)
{
	size_t i;

	for (i = 0; i < N_SECTIONS; i++) {
		if ((nocase ? strcasecmp : strcmp)(name, sections[i].name) == 0)
			return (long)i;
	}
	return -1;
}

static int on_section(struct loader *L, const char *name, int line)
{
	const struct sect_desc *d;
	struct mx_section *sec;

	L->sect = find_section(name, false);
	if (L->sect < 0) {
		if (find_section(name, true) >= 0)
			return err(L, line, "unknown section [%s] (section names are lowercase)", name);
		return err(L, line, "unknown section [%s]", name);
	}
	if (L->header_line[L->sect]) {
		warn(L, line, "[%s] appears again (first on line %d): its keys are merged", name,
		     L->header_line[L->sect]);
		return 0;
	}
	L->header_line[L->sect] = line;
	d = &sections[L->sect];
	switch (d->kind) {
	case SK_LIMIT:
		sec = section_at(L->pol, d->off);
		sec->present = true;
		sec->line = line;
		break;
	case SK_PROXY:
		L->pol->proxy.present = true;
		break;
	case SK_POLICYD:
		L->pol->policyd.present = true;
		break;
	case SK_REDIS:
		L->pol->redis.present = true;
		break;
	case SK_IGNORED:
		warn(L, line, "[%s] is ignored: mxlimit limits inbound connections", name);
		break;
	default:
		break;
	}
	return 0;
}

static int on_key(struct loader *L, const char *key, const char *value, int line)
{
	const struct sect_desc *d = &sections[L->sect];

	if (d->kind == SK_IGNORED)
		return 0;
	if (!value)
		return err(L, line, "%s: missing value (expected %s = VALUE)", key, key);
	switch (d->kind) {
	case SK_MAIN:
		return main_key(L, key, value, line);
	case SK_LIMIT:
		return limit_key(L, d, key, value, line);
	case SK_HISTORY:
		return history_key(L, d, key, value, line);
	case SK_PENALTY:
		return penalty_key(L, key, value, line);
	case SK_PROXY:
		if (mx_proxy_conf_set(&L->pol->proxy, L->file, line, key, value) == 0)
			return 0;
		L->failed = true;
		return -1;
	case SK_POLICYD:
		if (mx_policyd_conf_set(&L->pol->policyd, L->file, line, key, value) == 0)
			return 0;
		L->failed = true;
		return -1;
	case SK_REDIS:
		if (mx_redis_conf_set(&L->pol->redis, L->file, line, key, value) == 0)
			return 0;
		L->failed = true;
		return -1;
	case SK_IGNORED:
		break;
	}
	return 0;
}

static int on_item(void *ctx, const struct mx_ini_item *it)
{
	struct loader *L = ctx;

	if (it->kind == MX_INI_SECTION)
		return on_section(L, it->section, it->line);
	if (L->sect < 0)
		return 0; /* inside an unknown section, reported at its header */
	return on_key(L, it->key, it->value, it->line);
}

/* ---- after the whole file ---- */

static void finish_history(struct loader *L)
{
	size_t i;

	for (i = 0; i < N_SECTIONS; i++) {
		const struct sect_desc *d = &sections[i];
		struct hist_state *h = &L->hist[d->hist];

		if (d->kind != SK_HISTORY || !h->enabled)
			continue;
		/* the bad tier applies only when its section is switched on,
		 * like every haraka limit section */
		*(struct mx_tier *)((char *)L->pol + d->off) = h->bad;
		if (h->compat_line)
			warn(L, h->compat_line,
			     "[%s]: good, none and plugin need a reputation plugin; mxlimit applies only bad, to penalized sources",
			     d->name);
		if (!h->bad.set)
			warn(L, L->header_line[i], "[%s] is enabled but sets no bad tier", d->name);
	}
}

/*
 * What haraka-plugin-limit 1.3.2 ships in its own config/limit.ini.  Haraka
 * merges that file under the user's, key by key, so a haraka user's
 * "[errors] enabled = true" runs with max = 10.  mxlimit reads one file;
 * with [main] haraka_defaults = yes it fills these in where an enabled
 * section has no lookup of the same meaning, and without it `check` says
 * what haraka would have added.  ("127 = 0" is kept only where a client
 * address is looked up: haraka's sender and recipient sections never match
 * it.)
 */
static const struct {
	const char *section, *key, *value;
} haraka_shipped[] = {
	{ "concurrency", "max", "3" },
	{ "unrecognized_commands", "max", "10" },
	{ "errors", "max", "10" },
	{ "rate_conn", "127", "0" },
	{ "rate_conn", "default", "5" },
	{ "rate_rcpt_host", "127", "0" },
	{ "rate_rcpt_host", "default", "50/5m" },
	{ "rate_rcpt_sender", "default", "50/5m" },
	{ "rate_rcpt", "default", "50/5m" },
	{ "rate_rcpt_null", "default", "1" },
};
#define HARAKA_TARPIT_NS (3 * MX_NS_PER_SEC)

static int seen_line(const struct loader *L, const char *sect, const char *key);

static bool has_lookup(const struct mx_section *sec, const struct mx_lookup *lk)
{
	for (size_t i = 0; i < sec->n_lookups; i++)
		if (same_lookup(&sec->lookups[i], lk))
			return true;
	return false;
}

/* Apply (or, without haraka_defaults, only report) the shipped values an
 * enabled section leaves out. */
static void finish_haraka(struct loader *L)
{
	bool apply = L->pol->haraka_defaults, smtp = false;
	long saved = L->sect;

	for (size_t i = 0; i < sizeof(haraka_shipped) / sizeof(haraka_shipped[0]); i++) {
		long si = find_section(haraka_shipped[i].section, false);
		const struct sect_desc *d = &sections[si];
		struct mx_section *sec = section_at(L->pol, d->off);
		struct mx_lookup lk = { .line = 0 };

		if (!sec->enabled)
			continue;
		smtp |= !(d->flags & SF_KERNEL);
		L->sect = si;
		if (classify(L, d, haraka_shipped[i].key, sec->line, &lk) < 0)
			break; /* cannot happen: the table is valid */
		if (has_lookup(sec, &lk) ||
		    limit_value(L, d, lk.text, haraka_shipped[i].value, sec->line, &lk.limit,
				&lk.period_ns) < 0) {
			free(lk.text);
			continue;
		}
		if (!apply) {
			mx_log_at(MX_LOG_INFO, L->file, sec->line,
				  "[%s] has no \"%s\": haraka-plugin-limit would apply its shipped %s = %s here ([main] haraka_defaults = yes does too)",
				  d->name, haraka_shipped[i].key, haraka_shipped[i].key,
				  haraka_shipped[i].value);
			free(lk.text);
			continue;
		}
		mx_log_at(MX_LOG_INFO, L->file, sec->line, "[%s] %s = %s (haraka_defaults)", d->name,
			  haraka_shipped[i].key, haraka_shipped[i].value);
		add_lookup(L, sec, &lk);
	}
	L->sect = saved;
	/* haraka's shipped tarpit_delay = 3 holds back its limits' refusals */
	if (smtp && !seen_line(L, "main", "tarpit_delay")) {
		if (apply) {
			L->pol->tarpit_delay_ns = HARAKA_TARPIT_NS;
			mx_log(MX_LOG_INFO, "%s: [main] tarpit_delay = 3 (haraka_defaults)", L->file);
		} else {
			mx_log(MX_LOG_INFO,
			       "%s: [main] has no tarpit_delay: haraka-plugin-limit would apply its shipped tarpit_delay = 3 ([main] haraka_defaults = yes does too)",
			       L->file);
		}
	}
}

static bool finish_limits(struct loader *L)
{
	bool any = false;
	size_t i;

	for (i = 0; i < N_SECTIONS; i++) {
		const struct sect_desc *d = &sections[i];
		struct mx_section *sec;

		if (d->kind != SK_LIMIT)
			continue;
		sec = section_at(L->pol, d->off);
		any |= sec->enabled;
		if (sec->enabled && sec->n_lookups == 0)
			warn(L, sec->line, "[%s] is enabled but sets no limit", d->name);
	}
	return any;
}

static void finish_penalties(struct loader *L)
{
	unsigned v;

	for (v = 0; v < MX_VIOL__COUNT; v++) {
		const struct mx_penalty *p = &L->pol->penalty[v];

		if (p->verb == MX_VERDICT_NONE || !violations[v].off)
			continue;
		if (!section_at(L->pol, violations[v].off)->enabled)
			warn(L, p->line, "penalty for %s never applies: [%s] is not enabled",
			     violations[v].name, violations[v].name);
	}
}

/* Line of a key seen in a section (0 if never). */
static int seen_line(const struct loader *L, const char *sect, const char *key)
{
	long si = find_section(sect, false);
	size_t i;

	for (i = 0; i < L->n_seen; i++)
		if ((long)L->seen[i].sect == si && strcmp(L->seen[i].key, key) == 0)
			return L->seen[i].line;
	return 0;
}

/* The wide level: shorter than the per-source prefix, and set where a
 * `wide` limit asks for it. */
static void finish_wide(struct loader *L)
{
	const struct mx_policy *p = L->pol;
	bool want = p->concurrency_wide.set || p->rate_conn_wide.set;

	if (p->ipv4_wide_prefix && p->ipv4_wide_prefix >= p->ipv4_prefix)
		err(L, seen_line(L, "main", "ipv4_wide_prefix"),
		    "ipv4_wide_prefix (%u) must be shorter than ipv4_prefix (%u)", p->ipv4_wide_prefix,
		    p->ipv4_prefix);
	if (p->ipv6_wide_prefix && p->ipv6_wide_prefix >= p->ipv6_prefix)
		err(L, seen_line(L, "main", "ipv6_wide_prefix"),
		    "ipv6_wide_prefix (%u) must be shorter than ipv6_prefix (%u)", p->ipv6_wide_prefix,
		    p->ipv6_prefix);
	if (want && !p->ipv4_wide_prefix && !p->ipv6_wide_prefix)
		err(L, seen_line(L, p->concurrency_wide.set ? "concurrency" : "rate_conn", "wide"),
		    "wide needs ipv4_wide_prefix and/or ipv6_wide_prefix in [main]");
	if (!want && (p->ipv4_wide_prefix || p->ipv6_wide_prefix))
		warn(L, seen_line(L, "main", p->ipv4_wide_prefix ? "ipv4_wide_prefix" : "ipv6_wide_prefix"),
		     "a wide prefix without a wide limit in [concurrency] or [rate_conn] does nothing");
}

static void finish(struct loader *L)
{
	finish_history(L);
	finish_haraka(L);
	finish_wide(L);
	/* after errors the file is refused anyway: spare the general remark */
	if (!finish_limits(L) && !L->failed)
		mx_log(MX_LOG_WARN, "%s: no limit section is enabled (a section needs enabled = true)",
		       L->file);
	finish_penalties(L);
	if (mx_proxy_conf_finish(&L->pol->proxy, L->file, L->header_line[find_section("proxy", false)]) < 0)
		L->failed = true;
	if (mx_policyd_conf_finish(&L->pol->policyd, L->file,
				   L->header_line[find_section("policyd", false)]) < 0)
		L->failed = true;
	mx_redis_conf_finish(&L->pol->redis);
	if (L->pol->redis.present && !L->pol->redis.enabled)
		warn(L, L->header_line[find_section("redis", false)],
		     "[redis] has no host and no socket: each node keeps its own counters and verdicts");
}

static void set_defaults(struct mx_policy *pol)
{
	const char *why;

	mx_pol_ports(MX_DEFAULT_PORTS, pol->ports, &why);
	pol->ipv4_prefix = MX_DEFAULT_IPV4_PREFIX;
	pol->ipv6_prefix = MX_DEFAULT_IPV6_PREFIX;
	pol->action = MX_ACTION_DROP;
	pol->pending_timeout_ns = MX_DEFAULT_PENDING_TIMEOUT_NS;
	pol->gc_idle_ns = MX_DEFAULT_GC_IDLE_NS;
	pol->flow_idle_smtp_ns = MX_DEFAULT_FLOW_IDLE_SMTP_NS;
	pol->flow_idle_imap_ns = MX_DEFAULT_FLOW_IDLE_IMAP_NS;
	pol->flow_idle_pop_ns = MX_DEFAULT_FLOW_IDLE_POP_NS;
	pol->max_sources = MX_DEFAULT_MAX_SOURCES;
	pol->max_connections = MX_DEFAULT_MAX_CONNECTIONS;
	pol->max_rate_sources = MX_DEFAULT_MAX_RATE_SOURCES;
	pol->max_pending = MX_DEFAULT_MAX_PENDING;
	pol->max_sanctions = MX_DEFAULT_MAX_SANCTIONS;
	pol->max_rules = MX_DEFAULT_MAX_RULES;
	mx_proxy_conf_init(&pol->proxy);
	mx_policyd_conf_init(&pol->policyd);
	mx_redis_conf_init(&pol->redis);
}

int mx_policy_load_buf(const char *name, const char *buf, size_t len, struct mx_policy *out)
{
	struct loader L = { .file = name, .sect = S_MAIN };
	size_t i;

	memset(out, 0, sizeof(*out));
	L.pol = calloc(1, sizeof(*L.pol));
	if (!L.pol || !(L.pol->path = strdup(name))) {
		mx_err("%s: out of memory", name);
		free(L.pol);
		return -1;
	}
	set_defaults(L.pol);
	if (mx_ini_parse(name, buf, len, on_item, &L) < 0)
		L.failed = true;
	finish(&L);
	for (i = 0; i < L.n_seen; i++)
		free(L.seen[i].key);
	free(L.seen);
	if (!L.failed)
		*out = *L.pol;
	else
		mx_policy_free(L.pol);
	free(L.pol);
	return L.failed ? -1 : 0;
}

/* The whole file into memory, at most MX_POLICY_MAX_BYTES. */
static char *read_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL, *nb;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	if (!buf)
		goto fail;
	for (;;) {
		if (n == cap) {
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb)
				goto fail;
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > MX_POLICY_MAX_BYTES) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	*len = n;
	return buf;
fail:
	r = errno;
	close(fd);
	free(buf);
	errno = (int)r;
	return NULL;
}

int mx_policy_load(const char *path, struct mx_policy *out)
{
	size_t len = 0;
	char *buf;
	int rc;

	memset(out, 0, sizeof(*out));
	buf = read_file(path, &len);
	if (!buf) {
		if (errno == EFBIG)
			mx_err("%s: larger than %d bytes: not a policy file", path, MX_POLICY_MAX_BYTES);
		else
			mx_err("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	rc = mx_policy_load_buf(path, buf, len, out);
	free(buf);
	return rc;
}

static void free_section(struct mx_section *s)
{
	size_t i;

	for (i = 0; i < s->n_lookups; i++)
		free(s->lookups[i].text);
	free(s->lookups);
}

void mx_policy_free(struct mx_policy *pol)
{
	size_t i;

	if (!pol)
		return;
	for (i = 0; i < N_SECTIONS; i++) {
		if (sections[i].kind == SK_LIMIT)
			free_section(section_at(pol, sections[i].off));
	}
	free(pol->path);
	free(pol->servers);
	memset(pol, 0, sizeof(*pol));
}

bool mx_policy_port(const struct mx_policy *pol, unsigned port)
{
	return port <= 65535 && mx_port_isset(pol->ports, port);
}
