/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_compile.c - [concurrency] and [rate_conn] merged into one set of
 * LPM entries, plus the global mx_config (policy.h).
 *
 * The XDP program does one LPM lookup per SYN, so both sections must
 * answer from the same trie: every lookup prefix of either section becomes
 * an entry, and each entry carries, per section, the longest lookup of
 * that section containing it.  An address's longest matching entry then
 * holds, for each section, that section's own longest match: any longer
 * lookup of the section containing the address would itself be an entry
 * and match longer.  Two roots, ::ffff:0:0/96 and ::/0, catch every
 * address not under a lookup and carry `default`.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "policy_compile.h"

/* ::ffff:0:0/96, every IPv4 address */
static mx_prefix root_v4(void)
{
	mx_prefix p = { .plen = MX_V4_PLEN_BASE };

	p.addr[2] = htonl(0x0000ffffu);
	return p;
}

static const mx_prefix root_v6 = { .addr = { 0, 0, 0, 0 }, .plen = 0 };

/* `default` counts each source separately: the source is its address
 * masked to ipv4_prefix / ipv6_prefix. */
static uint32_t per_source_plen(const struct mx_policy *pol, const mx_prefix *entry)
{
	return mx_prefix_is_v4(entry) ? MX_V4_PLEN_BASE + pol->ipv4_prefix : pol->ipv6_prefix;
}

/* Index of the longest PREFIX lookup of s containing e, else of its
 * default, else -1. */
static long best_lookup(const struct mx_section *s, const mx_prefix *e, bool *shared)
{
	long best = -1, dflt = -1;
	size_t i;

	for (i = 0; i < s->n_lookups; i++) {
		const struct mx_lookup *l = &s->lookups[i];

		if (l->kind == MX_LOOKUP_DEFAULT)
			dflt = (long)i;
		if (l->kind != MX_LOOKUP_PREFIX || !mx_prefix_contains(&l->prefix, e))
			continue;
		if (best < 0 || l->prefix.plen > s->lookups[best].prefix.plen)
			best = (long)i;
	}
	*shared = best >= 0;
	return best >= 0 ? best : dflt;
}

static uint32_t wide_plen(const struct mx_policy *pol, const mx_prefix *entry)
{
	if (mx_prefix_is_v4(entry))
		return pol->ipv4_wide_prefix ? MX_V4_PLEN_BASE + pol->ipv4_wide_prefix : 0;
	return pol->ipv6_wide_prefix;
}

/* A `default` source is also limited in its wide network (explicit
 * entries are one shared counter already and have no wide level). */
static void fill_wide(const struct mx_policy *pol, const mx_prefix *e, struct mx_rule *r)
{
	const struct mx_tier *c = &pol->concurrency_wide, *t = &pol->rate_conn_wide;
	uint32_t plen = wide_plen(pol, e);

	if (!plen)
		return;
	if (c->set && pol->concurrency.enabled && !(r->flags & MX_RULE_CONC_SHARED) &&
	    r->conc_plen > plen)
		r->wide_conc_limit = c->limit;
	if (t->set && pol->rate_conn.enabled && !(r->flags & MX_RULE_RATE_SHARED) &&
	    r->rate_plen > plen && t->limit) {
		r->wide_rate_limit = t->limit;
		r->wide_rate_period_ns = t->period_ns;
		mx_gcra_params(t->period_ns, t->limit, &r->wide_rate_emission_ns,
			       &r->wide_rate_tolerance_ns);
	}
	if (r->wide_conc_limit || r->wide_rate_limit)
		r->wide_plen = plen;
}

static void fill_conc(const struct mx_policy *pol, const mx_prefix *e, struct mx_rule *r)
{
	const struct mx_section *s = &pol->concurrency;
	const struct mx_lookup *l;
	bool shared;
	long i;

	r->conc_rule = MX_COMPILED_NO_RULE;
	r->conc_plen = per_source_plen(pol, e);
	if (!s->enabled || (i = best_lookup(s, e, &shared)) < 0)
		return;
	l = &s->lookups[i];
	r->flags |= MX_RULE_CONC_SET;
	r->conc_rule = (uint32_t)i;
	r->conc_limit = l->limit;
	if (!shared)
		return;
	r->flags |= MX_RULE_CONC_SHARED;
	r->conc_plen = l->prefix.plen;
	if (l->limit == 0)
		r->flags |= MX_RULE_ALLOW;
}

static void fill_rate(const struct mx_policy *pol, const mx_prefix *e, struct mx_rule *r)
{
	const struct mx_section *s = &pol->rate_conn;
	const struct mx_lookup *l;
	bool shared;
	long i;

	r->rate_rule = MX_COMPILED_NO_RULE;
	r->rate_plen = per_source_plen(pol, e);
	if (!s->enabled || (i = best_lookup(s, e, &shared)) < 0)
		return;
	l = &s->lookups[i];
	r->flags |= MX_RULE_RATE_SET;
	r->rate_rule = (uint32_t)i;
	r->rate_limit = l->limit;
	r->rate_period_ns = l->period_ns;
	if (l->limit) {
		mx_gcra_params(l->period_ns, l->limit, &r->rate_emission_ns,
			       &r->rate_tolerance_ns);
	}
	if (!shared)
		return;
	r->flags |= MX_RULE_RATE_SHARED;
	r->rate_plen = l->prefix.plen;
	if (l->limit == 0)
		r->flags |= MX_RULE_ALLOW;
}

static bool has_entry(const struct mx_compiled *c, const mx_prefix *p)
{
	size_t i;

	for (i = 0; i < c->n_rules; i++) {
		if (mx_prefix_equal(&c->rules[i].prefix, p))
			return true;
	}
	return false;
}

static void add_entry(struct mx_compiled *c, const mx_prefix *p)
{
	if (!has_entry(c, p))
		c->rules[c->n_rules++].prefix = *p;
}

static void add_section(struct mx_compiled *c, const struct mx_section *s)
{
	size_t i;

	if (!s->enabled)
		return; /* a section that is off contributes nothing */
	for (i = 0; i < s->n_lookups; i++) {
		if (s->lookups[i].kind == MX_LOOKUP_PREFIX)
			add_entry(c, &s->lookups[i].prefix);
	}
}

/* Stable output for `mxlimit check` and diffs: by address, then length. */
static int cmp_rules(const void *a, const void *b)
{
	const mx_prefix *x = &((const struct mx_compiled_rule *)a)->prefix;
	const mx_prefix *y = &((const struct mx_compiled_rule *)b)->prefix;
	int d = memcmp(x->addr, y->addr, sizeof(x->addr));

	if (d)
		return d;
	return (x->plen > y->plen) - (x->plen < y->plen);
}

static void fill_config(const struct mx_policy *pol, struct mx_config *cfg)
{
	memcpy(cfg->ports, pol->ports, sizeof(cfg->ports));
	cfg->action = pol->action;
	cfg->v4_plen = MX_V4_PLEN_BASE + pol->ipv4_prefix;
	cfg->v6_plen = pol->ipv6_prefix;
	cfg->v4_wide_plen = pol->ipv4_wide_prefix ? MX_V4_PLEN_BASE + pol->ipv4_wide_prefix : 0;
	cfg->v6_wide_plen = pol->ipv6_wide_prefix;
	cfg->pending_timeout_ns = pol->pending_timeout_ns;
	cfg->pending_slot_ns = pol->pending_timeout_ns / MX_PEND_SLOTS;
	cfg->gw_idle_smtp_ns = pol->flow_idle_smtp_ns;
	cfg->gw_idle_imap_ns = pol->flow_idle_imap_ns;
	cfg->gw_idle_pop_ns = pol->flow_idle_pop_ns;
	if (pol->concurrency_bad.set) {
		cfg->flags |= MX_CFG_BAD_CONC;
		cfg->bad_conc_limit = pol->concurrency_bad.limit;
	}
	if (pol->rate_conn_bad.set) {
		const struct mx_tier *t = &pol->rate_conn_bad;

		cfg->flags |= MX_CFG_BAD_RATE;
		cfg->bad_rate_limit = t->limit;
		cfg->bad_rate_period_ns = t->period_ns;
		if (t->limit) {
			mx_gcra_params(t->period_ns, t->limit, &cfg->bad_rate_emission_ns,
				       &cfg->bad_rate_tolerance_ns);
		}
	}
}

int mx_policy_compile(const struct mx_policy *pol, struct mx_compiled *out)
{
	size_t max = 2 + pol->concurrency.n_lookups + pol->rate_conn.n_lookups, i;
	mx_prefix v4 = root_v4();

	memset(out, 0, sizeof(*out));
	out->rules = calloc(max, sizeof(*out->rules));
	if (!out->rules) {
		mx_err("%s: out of memory compiling the policy", pol->path ? pol->path : "policy");
		return -1;
	}
	add_entry(out, &v4);
	add_entry(out, &root_v6);
	add_section(out, &pol->concurrency);
	add_section(out, &pol->rate_conn);
	if (out->n_rules > pol->max_rules) {
		mx_err("%s: the policy needs %zu kernel prefixes, over max_rules = %u",
		       pol->path ? pol->path : "policy", out->n_rules, pol->max_rules);
		mx_compiled_free(out);
		return -1;
	}
	qsort(out->rules, out->n_rules, sizeof(*out->rules), cmp_rules);
	for (i = 0; i < out->n_rules; i++) {
		fill_conc(pol, &out->rules[i].prefix, &out->rules[i].rule);
		fill_rate(pol, &out->rules[i].prefix, &out->rules[i].rule);
		fill_wide(pol, &out->rules[i].prefix, &out->rules[i].rule);
	}
	fill_config(pol, &out->config);
	if (pol->n_servers) {
		out->servers = malloc(pol->n_servers * sizeof(*out->servers));
		if (!out->servers) {
			mx_compiled_free(out);
			return -1;
		}
		memcpy(out->servers, pol->servers, pol->n_servers * sizeof(*out->servers));
		out->n_servers = pol->n_servers;
	}
	return 0;
}

void mx_compiled_free(struct mx_compiled *c)
{
	free(c->rules);
	free(c->servers);
	memset(c, 0, sizeof(*c));
}
