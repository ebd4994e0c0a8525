/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp_limits.c - the SMTP-level limit decisions; see smtp_limits.h.
 */
#include "smtp_limits.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "policy_match.h"
#include "smtp_parse.h"
#include "verdict_proto.h"

static bool section_on(const struct mx_section *s)
{
	return s->present && s->enabled;
}

uint32_t mx_limits_max(const struct mx_section *sec, const mx_prefix *client)
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
	bool by_addr;        /* [rate_rcpt_host]: address, then host name */
	enum mx_violation viol;
	char key[MX_RATE_KEY_MAX];
	uint64_t period_ns;
	uint32_t limit;
	bool active;
};

/* Find the lookup, build the counter key; false when unlimited. */
static bool probe_key(struct rate_probe *p, const mx_prefix *client, const char *host, int tag)
{
	const struct mx_lookup *lk;
	int n;

	if (!section_on(p->sec) || !p->subject)
		return false;
	lk = p->by_addr ? mx_section_match_host(p->sec, client, host)
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

#define PROBE(s, subj, addr, v) { .sec = (s), .subject = (subj), .by_addr = (addr), .viol = (v) }

void mx_limits_rcpt_plan(const struct mx_policy *pol, const struct mx_rcpt_ctx *c,
			 struct mx_rcpt_plan *out)
{
	bool null = c->sender && !c->sender[0];
	struct rate_probe p[MX_RCPT_PROBES] = {
		PROBE(&pol->rate_rcpt_host, c->client_ip, true, MX_VIOL_RATE_RCPT_HOST),
		PROBE(&pol->rate_rcpt_sender, null ? NULL : c->sender, false,
		      MX_VIOL_RATE_RCPT_SENDER),
		PROBE(&pol->rate_rcpt, c->rcpt, false, MX_VIOL_RATE_RCPT),
		PROBE(&pol->rate_rcpt_null, null ? c->rcpt : NULL, false, MX_VIOL_RATE_RCPT_NULL),
	};
	static const char tags[MX_RCPT_PROBES] = { 'h', 's', 'r', 'n' };
	uint32_t max = mx_limits_max(&pol->recipients, c->client);

	out->n = 0;
	out->early = MX_VIOL__COUNT;
	if (max && c->rcpts >= max) {
		out->early = MX_VIOL_RECIPIENTS;
		return;
	}
	for (int i = 0; i < MX_RCPT_PROBES; i++) {
		struct mx_rcpt_probe *q = &out->p[out->n];

		if (!probe_key(&p[i], c->client, c->client_name, tags[i]))
			continue;
		memcpy(q->key, p[i].key, sizeof(q->key));
		q->period_ns = p[i].period_ns;
		q->limit = p[i].limit;
		q->viol = p[i].viol;
		out->n++;
	}
}

enum mx_violation mx_limits_rcpt_store(struct mx_rate_store *store, uint64_t now,
				       const struct mx_rcpt_plan *pl, const char *client_ip)
{
	uint32_t count;

	if (pl->early != MX_VIOL__COUNT)
		return pl->early;
	for (unsigned i = 0; i < pl->n; i++) {
		if (mx_rate_get(store, pl->p[i].key, now, &count) < 0)
			continue; /* store trouble: fail open, as the kernel does */
		if (count >= pl->p[i].limit) {
			mx_debug("%s: %s over %" PRIu32 " (counter %s)", client_ip,
				 mx_violation_name(pl->p[i].viol), pl->p[i].limit, pl->p[i].key);
			return pl->p[i].viol;
		}
	}
	for (unsigned i = 0; i < pl->n; i++)
		if (mx_rate_incr(store, pl->p[i].key, pl->p[i].period_ns, now) < 0)
			mx_warn("rate store full: %s not counted", pl->p[i].key);
	return MX_VIOL__COUNT;
}

enum mx_violation mx_limits_rcpt(const struct mx_policy *pol, struct mx_rate_store *store,
				 uint64_t now, const struct mx_rcpt_ctx *c)
{
	struct mx_rcpt_plan pl;

	mx_limits_rcpt_plan(pol, c, &pl);
	return mx_limits_rcpt_store(store, now, &pl, c->client_ip);
}

enum mx_violation mx_limits_reply(const struct mx_policy *pol, const mx_prefix *client,
				  struct mx_conn_counts *n, int code)
{
	uint32_t max;

	switch (mx_smtp_reply_class(code)) {
	case MX_REPLY_UNRECOGNIZED:
		max = mx_limits_max(&pol->unrecognized_commands, client);
		if (max && ++n->unrecognized > max)
			return MX_VIOL_UNRECOGNIZED_COMMANDS;
		break;
	case MX_REPLY_ERROR:
		max = mx_limits_max(&pol->errors, client);
		if (max && ++n->errors > max)
			return MX_VIOL_ERRORS;
		break;
	default:
		break;
	}
	return MX_VIOL__COUNT;
}

int mx_limits_verdict(const struct mx_policy *pol, const char *client_ip, enum mx_violation v,
		      char *line, size_t len)
{
	const struct mx_penalty *pen;
	struct mx_vreq r = { 0 };
	const char *why;

	if ((unsigned)v >= MX_VIOL__COUNT)
		return -1;
	pen = &pol->penalty[v];
	if (pen->verb == MX_VERDICT_NONE)
		return 0;
	if (mx_prefix_parse(client_ip, false, &r.prefix, &why) < 0)
		return -1;
	r.op = pen->verb == MX_VERDICT_BLOCK ? MX_VREQ_BLOCK : MX_VREQ_PENALIZE;
	r.seconds = pen->duration_ns / MX_NS_PER_SEC;
	if (r.seconds == 0)
		r.seconds = 1;
	if (r.op == MX_VREQ_PENALIZE)
		r.limit = pen->limit;
	snprintf(r.reason, sizeof(r.reason), "%s", mx_violation_name(v));
	return mx_vreq_format(&r, line, len);
}
