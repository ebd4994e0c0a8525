/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_print.c - the compiled policy as `mxlimit check` shows it: text
 * for people, JSON for scripts.  Both come from the same policy and
 * compiled rules, so what is printed is what the kernel gets.
 */
#include <stdio.h>
#include <string.h>

#include "policy.h"
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
static void print_ports(FILE *f, const uint64_t *ports, bool json)
{
	unsigned p, lo;
	bool first = true;

	for (p = 1; p <= 65535; p++) {
		if (!mx_pol_port_isset(ports, p))
			continue;
		if (json) {
			fprintf(f, "%s%u", first ? "" : ",", p);
			first = false;
			continue;
		}
		for (lo = p; p < 65535 && mx_pol_port_isset(ports, p + 1); p++)
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
	unsigned plen = v4 ? p->plen - MX_V4_PLEN_BASE : p->plen;

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
	print_ports(f, pol->ports, false);
	fprintf(f, "\n  action           %s\n", pol->action == MX_ACTION_RESET ? "reset" : "drop");
	fprintf(f, "  default counts   each IPv4 /%u, each IPv6 /%u\n", pol->ipv4_prefix,
		pol->ipv6_prefix);
	fprintf(f, "  timers           pending_timeout %s, gc_idle %s, tarpit_delay %s\n",
		mx_format_duration(pol->pending_timeout_ns, a, sizeof(a)),
		mx_format_duration(pol->gc_idle_ns, b, sizeof(b)),
		mx_format_duration(pol->tarpit_delay_ns, c, sizeof(c)));
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

			fprintf(f, "      %s = %s%s  (line %d)\n", l->text,
				l->limit ? limit_text(l->limit, l->period_ns, lim, sizeof(lim)) : "0",
				l->limit ? "" : " (unlimited)", l->line);
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

/* ---- JSON ---- */

static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_main(FILE *f, const struct mx_policy *pol)
{
	fprintf(f, "\"main\":{\"ports\":[");
	print_ports(f, pol->ports, true);
	fprintf(f, "],\"action\":\"%s\",\"ipv4_prefix\":%u,\"ipv6_prefix\":%u,",
		pol->action == MX_ACTION_RESET ? "reset" : "drop", pol->ipv4_prefix, pol->ipv6_prefix);
	fprintf(f, "\"tarpit_delay_s\":%llu,\"pending_timeout_s\":%llu,\"gc_idle_s\":%llu,",
		secs(pol->tarpit_delay_ns), secs(pol->pending_timeout_ns), secs(pol->gc_idle_ns));
	fprintf(f, "\"max_sources\":%u,\"max_connections\":%u,\"max_rate_sources\":%u,"
		   "\"max_pending\":%u,\"max_sanctions\":%u,\"max_rules\":%u}",
		pol->max_sources, pol->max_connections, pol->max_rate_sources, pol->max_pending,
		pol->max_sanctions, pol->max_rules);
}

static void json_part(FILE *f, const struct part *p, bool v4, bool rate)
{
	if (!p->set) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{\"limit\":%u,", p->limit);
	if (rate)
		fprintf(f, "\"period_s\":%llu,", secs(p->period_ns));
	fprintf(f, "\"shared\":%s,\"plen\":%u,\"lookup\":", p->shared ? "true" : "false",
		v4 ? p->plen - MX_V4_PLEN_BASE : p->plen);
	jstr(f, p->lookup->text);
	fprintf(f, ",\"line\":%d}", p->lookup->line);
}

static void json_tier(FILE *f, const struct mx_tier *t, bool rate)
{
	if (!t->set) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{\"limit\":%u", t->limit);
	if (rate)
		fprintf(f, ",\"period_s\":%llu", secs(t->period_ns));
	fprintf(f, "}");
}

static void json_rules(FILE *f, const struct mx_policy *pol, const struct mx_compiled *c)
{
	char pfx[MX_PREFIX_STRLEN];
	size_t i;

	fprintf(f, "\"kernel\":{\"rules\":[");
	for (i = 0; i < c->n_rules; i++) {
		const struct mx_compiled_rule *r = &c->rules[i];
		bool v4 = mx_prefix_is_v4(&r->prefix);
		struct part pc = conc_part(pol, &r->rule), pr = rate_part(pol, &r->rule);

		fprintf(f, "%s{\"prefix\":", i ? "," : "");
		jstr(f, mx_prefix_format(&r->prefix, pfx, sizeof(pfx)));
		fprintf(f, ",\"allow\":%s,\"concurrency\":",
			r->rule.flags & MX_RULE_ALLOW ? "true" : "false");
		json_part(f, &pc, v4, false);
		fprintf(f, ",\"rate\":");
		json_part(f, &pr, v4, true);
		fprintf(f, "}");
	}
	fprintf(f, "],\"bad\":{\"concurrency\":");
	json_tier(f, &pol->concurrency_bad, false);
	fprintf(f, ",\"rate_conn\":");
	json_tier(f, &pol->rate_conn_bad, true);
	fprintf(f, "}}");
}

static const char *kind_name(enum mx_lookup_kind k)
{
	return k == MX_LOOKUP_PREFIX ? "prefix" : k == MX_LOOKUP_NAME ? "name" : "default";
}

static void json_sections(FILE *f, const struct mx_policy *pol)
{
	size_t i, j;

	fprintf(f, "\"sections\":{");
	for (i = 0; i < N_LIMIT_SECTIONS; i++) {
		const struct mx_section *s = section_at(pol, i);

		fprintf(f, "%s\"%s\":{\"present\":%s,\"enabled\":%s,\"lookups\":[", i ? "," : "",
			limit_sections[i].name, s->present ? "true" : "false",
			s->enabled ? "true" : "false");
		for (j = 0; j < s->n_lookups; j++) {
			const struct mx_lookup *l = &s->lookups[j];

			fprintf(f, "%s{\"lookup\":", j ? "," : "");
			jstr(f, l->text);
			fprintf(f, ",\"kind\":\"%s\",\"limit\":%u,\"period_s\":%llu,\"line\":%d}",
				kind_name(l->kind), l->limit, secs(l->period_ns), l->line);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "},\"recipients_bad\":");
	json_tier(f, &pol->recipients_bad, false);
}

static void json_penalties(FILE *f, const struct mx_policy *pol)
{
	unsigned v;

	fprintf(f, "\"penalty\":{");
	for (v = 0; v < MX_VIOL__COUNT; v++) {
		const struct mx_penalty *p = &pol->penalty[v];

		fprintf(f, "%s\"%s\":", v ? "," : "", mx_violation_name(v));
		if (p->verb == MX_VERDICT_NONE)
			fprintf(f, "null");
		else
			fprintf(f, "{\"verb\":\"%s\",\"duration_s\":%llu,\"limit\":%u,\"line\":%d}",
				verb_name(p->verb), secs(p->duration_ns), p->limit, p->line);
	}
	fprintf(f, "}");
}

static void json_proxy(FILE *f, const struct mx_proxy_conf *c)
{
	char buf[MX_PREFIX_STRLEN + 16];
	size_t i;

	fprintf(f, "\"proxy\":{\"present\":%s,\"listen\":[", c->present ? "true" : "false");
	for (i = 0; i < c->n_listen; i++) {
		fprintf(f, "%s", i ? "," : "");
		jstr(f, mx_sockaddr_format(&c->listen[i], buf, sizeof(buf)));
	}
	fprintf(f, "],\"backend\":");
	if (c->backend_set)
		jstr(f, mx_sockaddr_format(&c->backend, buf, sizeof(buf)));
	else
		fprintf(f, "null");
	fprintf(f, ",\"proxy_protocol\":\"%s\",\"max_clients\":%u,", pp_name(c->proxy_protocol),
		c->max_clients);
	fprintf(f, "\"connect_timeout_s\":%llu,\"idle_timeout_s\":%llu,\"line_timeout_s\":%llu,"
		   "\"data_timeout_s\":%llu,\"verdict_socket\":",
		secs(c->connect_timeout_ns), secs(c->idle_timeout_ns), secs(c->line_timeout_ns),
		secs(c->data_timeout_ns));
	if (c->verdict_socket[0])
		jstr(f, c->verdict_socket);
	else
		fprintf(f, "null");
	fprintf(f, "}");
}

void mx_policy_print(const struct mx_policy *pol, const struct mx_compiled *c, int json, void *file)
{
	FILE *f = file;

	if (json) {
		fprintf(f, "{\"file\":");
		jstr(f, pol->path);
		fprintf(f, ",");
		json_main(f, pol);
		fprintf(f, ",");
		json_rules(f, pol, c);
		fprintf(f, ",");
		json_sections(f, pol);
		fprintf(f, ",");
		json_penalties(f, pol);
		fprintf(f, ",");
		json_proxy(f, &pol->proxy);
		fprintf(f, "}\n");
		return;
	}
	text_main(f, pol);
	text_rules(f, pol, c);
	text_tiers(f, pol);
	text_sections(f, pol);
	text_penalties(f, pol);
	text_proxy(f, &pol->proxy);
}
