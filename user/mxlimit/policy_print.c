/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_print.c - the compiled policy as `mxlimit check` shows it: text
 * for people, JSON for scripts.  Both come from the same policy and
 * compiled rules, so what is printed is what the kernel gets.
 */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "policy_compile.h"
#include "policy_int.h"

/* Room for one rule column: "4294967295/3650d shared (lookup text...)" */
#define PART_MAX 400
#define TEXT_MAX 64

static const struct {
	const char *name;
	size_t off;
} limit_sections[] = {
#define X(f) { #f, offsetof(struct mx_policy, f) },
	MX_POL_LIMIT_SECTIONS(X)
#undef X
};

#define N_LIMIT_SECTIONS (sizeof(limit_sections) / sizeof(limit_sections[0]))

static const struct mx_section *section_at(const struct mx_policy *pol, size_t i)
{
	return (const struct mx_section *)((const char *)pol + limit_sections[i].off);
}

static unsigned long long secs(uint64_t ns) { return (unsigned long long)(ns / MX_NS_PER_SEC); }

static const char *verb_name(enum mx_verdict_verb v)
{
	return v == MX_VERDICT_BLOCK ? "block" : v == MX_VERDICT_PENALIZE ? "penalize" : "none";
}

static const char *pp_name(enum mx_proxy_protocol p)
{
	return p == MX_PP_V1 ? "v1" : p == MX_PP_V2 ? "v2" : "none";
}

/* "25,110,143" with runs as "8025-8030". */
static void print_ports(FILE *f, const __u64 *ports)
{
	unsigned p, lo;
	bool first = true;

	for (p = 1; p <= 65535; p++) {
		if (!mx_port_isset(ports, p))
			continue;
		for (lo = p; p < 65535 && mx_port_isset(ports, p + 1); p++)
			;
		fprintf(f, "%s%u", first ? "" : ",", lo);
		if (p > lo)
			fprintf(f, "-%u", p);
		first = false;
	}
}

/* "5", "5/1m", "unlimited" */
static char *limit_text(uint32_t limit, uint64_t period_ns, char *buf, size_t len)
{
	char d[TEXT_MAX];

	if (limit == 0)
		snprintf(buf, len, "unlimited");
	else if (period_ns)
		snprintf(buf, len, "%u/%s", limit, mx_format_duration(period_ns, d, sizeof(d)));
	else
		snprintf(buf, len, "%u", limit);
	return buf;
}

/* A counter length for an IPv4 entry is IPv4-native, unless an IPv6
 * lookup shorter than /96 (such as ::/0) covers all of IPv4 too. */
static unsigned native_plen(uint32_t plen, bool v4)
{
	return v4 && plen >= MX_V4_PLEN_BASE ? plen - MX_V4_PLEN_BASE : plen;
}

/* ---- text ---- */

struct part {
	bool set, shared;
	uint32_t limit, plen;
	uint64_t period_ns;
	const struct mx_lookup *lookup;
};

static void part_text(const struct part *p, bool v4, char *buf, size_t len)
{
	char lim[TEXT_MAX];
	unsigned plen = native_plen(p->plen, v4);

	if (!p->set) { /* section off, or on without a default */
		snprintf(buf, len, "no limit");
		return;
	}
	limit_text(p->limit, p->period_ns, lim, sizeof(lim));
	if (p->shared)
		snprintf(buf, len, "%s%s (%s, line %d)", lim, p->limit ? " shared" : ", allowlist",
			 p->lookup->text, p->lookup->line);
	else
		snprintf(buf, len, "%s per /%u (%s, line %d)", lim, plen, p->lookup->text,
			 p->lookup->line);
}

static struct part conc_part(const struct mx_policy *pol, const struct mx_rule *r)
{
	struct part p = { .set = r->flags & MX_RULE_CONC_SET,
			  .shared = r->flags & MX_RULE_CONC_SHARED,
			  .limit = r->conc_limit,
			  .plen = r->conc_plen };

	if (p.set)
		p.lookup = &pol->concurrency.lookups[r->conc_rule];
	return p;
}

static struct part rate_part(const struct mx_policy *pol, const struct mx_rule *r)
{
	struct part p = { .set = r->flags & MX_RULE_RATE_SET,
			  .shared = r->flags & MX_RULE_RATE_SHARED,
			  .limit = r->rate_limit,
			  .plen = r->rate_plen,
			  .period_ns = r->rate_period_ns };

	if (p.set)
		p.lookup = &pol->rate_conn.lookups[r->rate_rule];
	return p;
}

static void text_main(FILE *f, const struct mx_policy *pol)
{
	char a[TEXT_MAX], b[TEXT_MAX], c[TEXT_MAX];

	fprintf(f, "policy %s\n  ports            ", pol->path ? pol->path : "-");
	print_ports(f, pol->ports);
	fprintf(f, "\n  action           %s\n", pol->action == MX_ACTION_RESET ? "reset" : "drop");
	fprintf(f, "  default counts   each IPv4 /%u, each IPv6 /%u\n", pol->ipv4_prefix,
		pol->ipv6_prefix);
	if (pol->ipv4_wide_prefix || pol->ipv6_wide_prefix) {
		fprintf(f, "  wide level       IPv4 /%u, IPv6 /%u: concurrency %s, rate %s\n",
			pol->ipv4_wide_prefix, pol->ipv6_wide_prefix,
			pol->concurrency_wide.set && pol->concurrency_wide.limit
				? limit_text(pol->concurrency_wide.limit, 0, a, sizeof(a)) : "no limit",
			pol->rate_conn_wide.set && pol->rate_conn_wide.limit
				? limit_text(pol->rate_conn_wide.limit, pol->rate_conn_wide.period_ns, b, sizeof(b))
				: "no limit");
	}
	fprintf(f, "  timers           pending_timeout %s, gc_idle %s, tarpit_delay %s\n",
		mx_format_duration(pol->pending_timeout_ns, a, sizeof(a)),
		mx_format_duration(pol->gc_idle_ns, b, sizeof(b)),
		mx_format_duration(pol->tarpit_delay_ns, c, sizeof(c)));
	if (pol->n_servers) {
		char d[32];

		fprintf(f, "  gateway servers ");
		for (size_t i = 0; i < pol->n_servers; i++)
			fprintf(f, " %s", mx_prefix_format(&pol->servers[i], a, sizeof(a)));
		fprintf(f, "\n  gateway idle     smtp %s, imap %s, pop %s\n",
			mx_format_duration(pol->flow_idle_smtp_ns, b, sizeof(b)),
			mx_format_duration(pol->flow_idle_imap_ns, c, sizeof(c)),
			mx_format_duration(pol->flow_idle_pop_ns, d, sizeof(d)));
	}
	fprintf(f, "  maps             sources %u, connections %u, rate_sources %u, pending %u, sanctions %u, rules %u\n",
		pol->max_sources, pol->max_connections, pol->max_rate_sources, pol->max_pending,
		pol->max_sanctions, pol->max_rules);
}

static void text_rules(FILE *f, const struct mx_policy *pol, const struct mx_compiled *c)
{
	char pfx[MX_PREFIX_STRLEN], cp[PART_MAX], rp[PART_MAX];
	size_t i;

	fprintf(f, "\nkernel rules (%zu): [concurrency] %s, [rate_conn] %s\n", c->n_rules,
		pol->concurrency.enabled ? "on" : "off", pol->rate_conn.enabled ? "on" : "off");
	fprintf(f, "  %-24s %-36s %s\n", "prefix", "concurrency", "rate");
	for (i = 0; i < c->n_rules; i++) {
		const struct mx_compiled_rule *r = &c->rules[i];
		bool v4 = mx_prefix_is_v4(&r->prefix);
		struct part pc = conc_part(pol, &r->rule), pr = rate_part(pol, &r->rule);

		part_text(&pc, v4, cp, sizeof(cp));
		part_text(&pr, v4, rp, sizeof(rp));
		fprintf(f, "  %-24s %-36s %s\n", mx_prefix_format(&r->prefix, pfx, sizeof(pfx)), cp, rp);
	}
}

static void text_tiers(FILE *f, const struct mx_policy *pol)
{
	char a[TEXT_MAX], b[TEXT_MAX];

	fprintf(f, "\npenalized sources (verdicts without limit=N): ");
	if (!pol->concurrency_bad.set && !pol->rate_conn_bad.set) {
		fprintf(f, "new connections refused\n");
		return;
	}
	if (pol->concurrency_bad.set)
		fprintf(f, "concurrency %s ", pol->concurrency_bad.limit
				? limit_text(pol->concurrency_bad.limit, 0, a, sizeof(a)) : "0 (refused)");
	if (pol->rate_conn_bad.set)
		fprintf(f, "rate %s", pol->rate_conn_bad.limit
				? limit_text(pol->rate_conn_bad.limit, pol->rate_conn_bad.period_ns, b, sizeof(b))
				: "0 (refused)");
	fprintf(f, "\n");
}

static void text_sections(FILE *f, const struct mx_policy *pol)
{
	char lim[TEXT_MAX];
	size_t i, j;

	fprintf(f, "\nsections\n");
	for (i = 0; i < N_LIMIT_SECTIONS; i++) {
		const struct mx_section *s = section_at(pol, i);

		fprintf(f, "  [%s] %s\n", limit_sections[i].name,
			s->enabled ? "on" : s->present ? "off (no enabled = true)" : "off (absent)");
		for (j = 0; j < s->n_lookups; j++) {
			const struct mx_lookup *l = &s->lookups[j];

			char from[32];

			/* line 0: filled in by [main] haraka_defaults */
			if (l->line)
				snprintf(from, sizeof(from), "line %d", l->line);
			else
				snprintf(from, sizeof(from), "haraka default");
			fprintf(f, "      %s = %s%s  (%s)\n", l->text,
				l->limit ? limit_text(l->limit, l->period_ns, lim, sizeof(lim)) : "0",
				l->limit ? "" : " (unlimited)", from);
		}
	}
	if (pol->recipients_bad.set)
		fprintf(f, "  [recipients_history] bad = %u\n", pol->recipients_bad.limit);
}

static void text_penalties(FILE *f, const struct mx_policy *pol)
{
	char d[TEXT_MAX];
	unsigned v;
	bool any = false;

	for (v = 0; v < MX_VIOL__COUNT; v++) {
		const struct mx_penalty *p = &pol->penalty[v];

		if (p->verb == MX_VERDICT_NONE)
			continue;
		if (!any)
			fprintf(f, "\npenalties\n");
		any = true;
		fprintf(f, "  %-22s %s %s", mx_violation_name(v), verb_name(p->verb),
			mx_format_duration(p->duration_ns, d, sizeof(d)));
		if (p->limit)
			fprintf(f, " limit=%u", p->limit);
		fprintf(f, "  (line %d)\n", p->line);
	}
}

static void text_proxy(FILE *f, const struct mx_proxy_conf *c)
{
	char buf[MX_PREFIX_STRLEN + 16], a[TEXT_MAX], b[TEXT_MAX], d[TEXT_MAX], e[TEXT_MAX];
	size_t i;

	if (!c->present)
		return;
	fprintf(f, "\nproxy\n  listen           ");
	for (i = 0; i < c->n_listen; i++)
		fprintf(f, "%s%s", i ? ", " : "", mx_sockaddr_format(&c->listen[i], buf, sizeof(buf)));
	fprintf(f, "%s\n  backend          %s\n", c->n_listen ? "" : "-",
		c->backend_set ? mx_sockaddr_format(&c->backend, buf, sizeof(buf)) : "-");
	fprintf(f, "  proxy_protocol   %s\n  max_clients      %u\n", pp_name(c->proxy_protocol),
		c->max_clients);
	fprintf(f, "  timeouts         connect %s, idle %s, line %s, data %s\n",
		mx_format_duration(c->connect_timeout_ns, a, sizeof(a)),
		mx_format_duration(c->idle_timeout_ns, b, sizeof(b)),
		mx_format_duration(c->line_timeout_ns, d, sizeof(d)),
		mx_format_duration(c->data_timeout_ns, e, sizeof(e)));
	fprintf(f, "  verdict_socket   %s\n", c->verdict_socket[0] ? c->verdict_socket : "none");
}

/* ---- JSON (json.h: the one writer of every --json) ---- */

static void json_main(struct jw *w, const struct mx_policy *pol)
{
	unsigned p;

	jw_kobj(w, "main");
	jw_karr(w, "ports");
	for (p = 1; p <= 65535; p++)
		if (mx_port_isset(pol->ports, p))
			jw_u64(w, p);
	jw_end(w);
	jw_kstr(w, "action", pol->action == MX_ACTION_RESET ? "reset" : "drop");
	jw_ku64(w, "ipv4_prefix", pol->ipv4_prefix);
	jw_ku64(w, "ipv6_prefix", pol->ipv6_prefix);
	jw_ku64(w, "ipv4_wide_prefix", pol->ipv4_wide_prefix);
	jw_ku64(w, "ipv6_wide_prefix", pol->ipv6_wide_prefix);
	jw_ku64(w, "wide_concurrency", pol->concurrency_wide.set ? pol->concurrency_wide.limit : 0);
	jw_ku64(w, "wide_rate", pol->rate_conn_wide.set ? pol->rate_conn_wide.limit : 0);
	jw_ku64(w, "wide_rate_period_s", pol->rate_conn_wide.period_ns / MX_NS_PER_SEC);
	jw_ku64(w, "tarpit_delay_s", secs(pol->tarpit_delay_ns));
	jw_kbool(w, "haraka_defaults", pol->haraka_defaults);
	jw_ku64(w, "pending_timeout_s", secs(pol->pending_timeout_ns));
	jw_ku64(w, "gc_idle_s", secs(pol->gc_idle_ns));
	jw_karr(w, "servers");
	for (size_t i = 0; i < pol->n_servers; i++) {
		char pfx[MX_PREFIX_STRLEN];

		jw_str(w, mx_prefix_format(&pol->servers[i], pfx, sizeof(pfx)));
	}
	jw_end(w);
	jw_ku64(w, "flow_idle_smtp_s", secs(pol->flow_idle_smtp_ns));
	jw_ku64(w, "flow_idle_imap_s", secs(pol->flow_idle_imap_ns));
	jw_ku64(w, "flow_idle_pop_s", secs(pol->flow_idle_pop_ns));
	jw_ku64(w, "max_sources", pol->max_sources);
	jw_ku64(w, "max_connections", pol->max_connections);
	jw_ku64(w, "max_rate_sources", pol->max_rate_sources);
	jw_ku64(w, "max_pending", pol->max_pending);
	jw_ku64(w, "max_sanctions", pol->max_sanctions);
	jw_ku64(w, "max_rules", pol->max_rules);
	jw_end(w);
}

static void json_part(struct jw *w, const char *key, const struct part *p, bool v4, bool rate)
{
	jw_key(w, key);
	if (!p->set) {
		jw_null(w);
		return;
	}
	jw_obj(w);
	jw_ku64(w, "limit", p->limit);
	if (rate)
		jw_ku64(w, "period_s", secs(p->period_ns));
	jw_kbool(w, "shared", p->shared);
	jw_ku64(w, "plen", native_plen(p->plen, v4));
	jw_kstr(w, "lookup", p->lookup->text);
	jw_ki64(w, "line", p->lookup->line);
	jw_end(w);
}

static void json_tier(struct jw *w, const char *key, const struct mx_tier *t, bool rate)
{
	jw_key(w, key);
	if (!t->set) {
		jw_null(w);
		return;
	}
	jw_obj(w);
	jw_ku64(w, "limit", t->limit);
	if (rate)
		jw_ku64(w, "period_s", secs(t->period_ns));
	jw_end(w);
}

static void json_rules(struct jw *w, const struct mx_policy *pol, const struct mx_compiled *c)
{
	char pfx[MX_PREFIX_STRLEN];
	size_t i;

	jw_kobj(w, "kernel");
	jw_karr(w, "rules");
	for (i = 0; i < c->n_rules; i++) {
		const struct mx_compiled_rule *r = &c->rules[i];
		bool v4 = mx_prefix_is_v4(&r->prefix);
		struct part pc = conc_part(pol, &r->rule), pr = rate_part(pol, &r->rule);

		jw_obj(w);
		jw_kstr(w, "prefix", mx_prefix_format(&r->prefix, pfx, sizeof(pfx)));
		jw_kbool(w, "allow", r->rule.flags & MX_RULE_ALLOW);
		json_part(w, "concurrency", &pc, v4, false);
		json_part(w, "rate", &pr, v4, true);
		jw_end(w);
	}
	jw_end(w);
	jw_kobj(w, "bad");
	json_tier(w, "concurrency", &pol->concurrency_bad, false);
	json_tier(w, "rate_conn", &pol->rate_conn_bad, true);
	jw_end(w);
	jw_end(w);
}

static const char *kind_name(enum mx_lookup_kind k)
{
	return k == MX_LOOKUP_PREFIX ? "prefix" : k == MX_LOOKUP_NAME ? "name" : "default";
}

static void json_section(struct jw *w, const char *name, const struct mx_section *s)
{
	size_t j;

	jw_kobj(w, name);
	jw_kbool(w, "present", s->present);
	jw_kbool(w, "enabled", s->enabled);
	jw_karr(w, "lookups");
	for (j = 0; j < s->n_lookups; j++) {
		const struct mx_lookup *l = &s->lookups[j];

		jw_obj(w);
		jw_kstr(w, "lookup", l->text);
		jw_kstr(w, "kind", kind_name(l->kind));
		jw_ku64(w, "limit", l->limit);
		jw_ku64(w, "period_s", secs(l->period_ns));
		jw_ki64(w, "line", l->line);
		jw_end(w);
	}
	jw_end(w);
	jw_end(w);
}

static void json_sections(struct jw *w, const struct mx_policy *pol)
{
	size_t i;

	jw_kobj(w, "sections");
	for (i = 0; i < N_LIMIT_SECTIONS; i++)
		json_section(w, limit_sections[i].name, section_at(pol, i));
	jw_end(w);
	json_tier(w, "recipients_bad", &pol->recipients_bad, false);
}

static void json_penalties(struct jw *w, const struct mx_policy *pol)
{
	unsigned v;

	jw_kobj(w, "penalty");
	for (v = 0; v < MX_VIOL__COUNT; v++) {
		const struct mx_penalty *p = &pol->penalty[v];

		jw_key(w, mx_violation_name(v));
		if (p->verb == MX_VERDICT_NONE) {
			jw_null(w);
			continue;
		}
		jw_obj(w);
		jw_kstr(w, "verb", verb_name(p->verb));
		jw_ku64(w, "duration_s", secs(p->duration_ns));
		jw_ku64(w, "limit", p->limit);
		jw_ki64(w, "line", p->line);
		jw_end(w);
	}
	jw_end(w);
}

static void json_str_or_null(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	if (s)
		jw_str(w, s);
	else
		jw_null(w);
}

static void json_proxy(struct jw *w, const struct mx_proxy_conf *c)
{
	char buf[MX_PREFIX_STRLEN + 16];
	size_t i;

	jw_kobj(w, "proxy");
	jw_kbool(w, "present", c->present);
	jw_karr(w, "listen");
	for (i = 0; i < c->n_listen; i++)
		jw_str(w, mx_sockaddr_format(&c->listen[i], buf, sizeof(buf)));
	jw_end(w);
	json_str_or_null(w, "backend",
			 c->backend_set ? mx_sockaddr_format(&c->backend, buf, sizeof(buf)) : NULL);
	jw_kstr(w, "proxy_protocol", pp_name(c->proxy_protocol));
	jw_ku64(w, "max_clients", c->max_clients);
	jw_ku64(w, "connect_timeout_s", secs(c->connect_timeout_ns));
	jw_ku64(w, "idle_timeout_s", secs(c->idle_timeout_ns));
	jw_ku64(w, "line_timeout_s", secs(c->line_timeout_ns));
	jw_ku64(w, "data_timeout_s", secs(c->data_timeout_ns));
	json_str_or_null(w, "verdict_socket", c->verdict_socket[0] ? c->verdict_socket : NULL);
	jw_end(w);
}

/* [redis], only when on (docs/cluster.md); the password is never shown. */
static void text_redis(FILE *f, const struct mx_redis_conf *r)
{
	char where[160];

	if (!r->enabled)
		return;
	fprintf(f, "\nredis: %s, db %u, prefix %s, timeout %llums%s: verdicts and recipient counters shared\n",
		mx_redis_conf_where(r, where, sizeof(where)), (unsigned)r->db, r->prefix,
		(unsigned long long)(r->timeout_ns / 1000000ULL), r->password[0] ? ", AUTH" : "");
}

static void json_redis(struct jw *w, const struct mx_redis_conf *r)
{
	char where[160];

	if (!r->enabled)
		return;
	jw_kobj(w, "redis");
	jw_kstr(w, "server", mx_redis_conf_where(r, where, sizeof(where)));
	jw_ku64(w, "db", r->db);
	jw_kstr(w, "prefix", r->prefix);
	jw_ku64(w, "timeout_ms", r->timeout_ns / 1000000ULL);
	jw_kbool(w, "auth", r->password[0] != 0);
	jw_end(w);
}

void mx_policy_print(const struct mx_policy *pol, const struct mx_compiled *c, int json, FILE *f)
{
	struct jw w;

	if (json) {
		jw_init(&w, f);
		jw_obj(&w);
		jw_kstr(&w, "file", pol->path);
		json_main(&w, pol);
		json_rules(&w, pol, c);
		json_sections(&w, pol);
		json_penalties(&w, pol);
		json_proxy(&w, &pol->proxy);
		json_redis(&w, &pol->redis);
		jw_end(&w);
		return;
	}
	text_main(f, pol);
	text_rules(f, pol, c);
	text_tiers(f, pol);
	text_sections(f, pol);
	text_penalties(f, pol);
	text_proxy(f, &pol->proxy);
	text_redis(f, &pol->redis);
}
