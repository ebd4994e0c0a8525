/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * limits.c - the proxy-side sections of limit.ini, as haraka-plugin-limit
 * applies them: per-connection maxima and recipient rates.
 *
 * Counter keys follow DESIGN.md: an explicit lookup is one counter shared
 * by everything it matches; `default` counts each host, sender or
 * recipient separately.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "proxy.h"

static bool section_on(const struct mx_section *s)
{
	return s->present && s->enabled;
}

uint32_t px_limits_max(const struct mx_section *sec, const mx_prefix *client)
{
	const struct mx_lookup *lk;

	if (!section_on(sec) || !(lk = mx_section_match_addr(sec, client)))
		return 0;
	return lk->limit;
}

/* One rate section's verdict for one recipient, before counting. */
struct rate_probe {
	const struct mx_section *sec;
	const char *subject; /* what `default` counts by */
	bool by_addr;
	enum mx_violation viol;
	char key[MX_RATE_KEY_MAX];
	uint64_t period_ns;
	uint32_t limit;
	bool active;
};

/* Find the lookup, build the counter key; false when unlimited. */
static bool probe_key(struct rate_probe *p, const mx_prefix *client, int tag)
{
	const struct mx_lookup *lk;
	int n;

	if (!section_on(p->sec) || !p->subject)
		return false;
	lk = p->by_addr ? mx_section_match_addr(p->sec, client)
			: mx_section_match_name(p->sec, p->subject);
	if (!lk || lk->limit == 0)
		return false;
	if (lk->kind == MX_LOOKUP_DEFAULT)
		n = snprintf(p->key, sizeof(p->key), "%c|%s", tag, p->subject);
	else
		n = snprintf(p->key, sizeof(p->key), "%c=%s", tag, lk->text ? lk->text : "");
	if (n < 0 || (size_t)n >= sizeof(p->key))
		return false;
	p->period_ns = lk->period_ns ? lk->period_ns : MX_DEFAULT_PERIOD_NS;
	p->limit = lk->limit;
	p->active = true;
	return true;
}

static bool probe_over(struct px_server *srv, struct rate_probe *p, const mx_prefix *client,
		       int tag)
{
	uint32_t count;

	if (!probe_key(p, client, tag))
		return false;
	if (mx_rate_get(srv->store, p->key, px_now(srv->loop), &count) < 0)
		return false; /* store trouble: fail open, as the kernel does */
	return count >= p->limit;
}

#define PROBE(s, subj, addr, v) { .sec = (s), .subject = (subj), .by_addr = (addr), .viol = (v) }

enum mx_violation px_limits_rcpt(struct px_server *srv, const struct px_rcpt_ctx *c)
{
	const struct mx_policy *pol = srv->pol;
	bool null = c->sender && !c->sender[0];
	struct rate_probe p[4] = {
		PROBE(&pol->rate_rcpt_host, c->client_ip, true, MX_VIOL_RATE_RCPT_HOST),
		PROBE(&pol->rate_rcpt_sender, null ? NULL : c->sender, false,
		      MX_VIOL_RATE_RCPT_SENDER),
		PROBE(&pol->rate_rcpt, c->rcpt, false, MX_VIOL_RATE_RCPT),
		PROBE(&pol->rate_rcpt_null, null ? c->rcpt : NULL, false, MX_VIOL_RATE_RCPT_NULL),
	};
	static const char tags[4] = { 'h', 's', 'r', 'n' };
	uint32_t max = px_limits_max(&pol->recipients, c->client);
	uint64_t now = px_now(srv->loop);

	if (max && c->rcpts >= max)
		return MX_VIOL_RECIPIENTS;
	for (int i = 0; i < 4; i++) {
		if (probe_over(srv, &p[i], c->client, tags[i])) {
			mx_info("%s: %s over %" PRIu32 " (counter %s)", c->client_ip,
				mx_violation_name(p[i].viol), p[i].limit, p[i].key);
			return p[i].viol;
		}
	}
	for (int i = 0; i < 4; i++)
		if (p[i].active && mx_rate_incr(srv->store, p[i].key, p[i].period_ns, now) < 0)
			mx_warn("rate store full: %s not counted", p[i].key);
	return MX_VIOL__COUNT;
}

void px_limits_verdict(struct px_server *srv, const char *client_ip, enum mx_violation v)
{
	const struct mx_penalty *pen = &srv->pol->penalty[v];
	uint64_t secs = pen->duration_ns / MX_NS_PER_SEC;
	char line[PX_VERDICT_LINE_MAX], lim[32] = "";

	if (pen->verb == MX_VERDICT_NONE)
		return;
	if (secs == 0)
		secs = 1;
	if (pen->verb == MX_VERDICT_BLOCK) {
		snprintf(line, sizeof(line), "BLOCK %s %" PRIu64 " reason=%s", client_ip, secs,
			 mx_violation_name(v));
	} else {
		if (pen->limit)
			snprintf(lim, sizeof(lim), " limit=%" PRIu32, pen->limit);
		snprintf(line, sizeof(line), "PENALIZE %s %" PRIu64 "%s reason=%s", client_ip, secs,
			 lim, mx_violation_name(v));
	}
	px_verdict_send(srv->verdict, line);
}
