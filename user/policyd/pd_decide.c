/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pd_decide.c - one policy request judged by the SMTP limit engine; see
 * pd_decide.h.  What Postfix sends maps onto the engine's questions:
 *
 *   client_address      the client (prefix lookups, counter keys)
 *   client_name         Postfix's verified reverse name ("unknown" if
 *                       none): [rate_rcpt_host] names and parent domains
 *   sender, recipient   internal form; lowercased, as the proxy's keys
 *   instance + addresses  the SMTP session ([recipients]), pd_session.h
 */
#include "pd_decide.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "smtp_limits.h"
#include "smtp_parse.h"
#include "verdict_proto.h"

/* The engine's path key: lowercased (Postfix sends the address unquoted,
 * as the proxy's key is), cut to the RFC 5321 path length. */
static void path_key(const char *in, char *out, size_t len)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < len && i < MX_SMTP_PATH_MAX; i++)
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
	out[i] = '\0';
}

static const char *malformed(struct pd_ctx *c, const struct pd_request *r, const char *why)
{
	c->stats->malformed++;
	mx_warn("policy request%s%s: %s; answering DUNNO", r->client_address[0] ? " from " : "",
		r->client_address, why);
	return PD_ACTION_DUNNO;
}

static void report(struct pd_ctx *c, struct pd_session *s, const char *ip, enum mx_violation v)
{
	char line[MX_VERDICT_LINE_MAX + 1];
	int n;

	c->stats->violations[v]++;
	/* one log line and one verdict per session and limit, as the proxy:
	 * a client hammering past a limit makes no log flood */
	if (s->reported & (1u << v)) {
		mx_debug("%s: limit %s exceeded again", ip, mx_violation_name(v));
		return;
	}
	s->reported |= 1u << v;
	mx_info("%s: limit %s exceeded", ip, mx_violation_name(v));
	n = mx_limits_verdict(c->pol, ip, v, line, sizeof(line));
	if (n < 0)
		mx_warn("%s: [penalty] %s: no verdict request can say it", ip, mx_violation_name(v));
	else if (n > 0 && c->verdict)
		c->verdict(c->verdict_arg, line);
}

/* What a RCPT request says, in the engine's terms. */
struct prep {
	char ip[MX_PREFIX_STRLEN], sender[MX_SMTP_PATH_MAX + 1], rcpt[MX_SMTP_PATH_MAX + 1];
	mx_prefix client;
	struct mx_rcpt_ctx q;
};

/* NULL when r is a RCPT request to judge (p filled), else the action. */
static const char *prepare(struct pd_ctx *c, const struct pd_request *r, struct prep *p)
{
	if (strcmp(r->request, "smtpd_access_policy") != 0)
		return malformed(c, r, r->request[0] ? "unknown request type" : "no request= attribute");
	if (strcmp(r->protocol_state, "RCPT") != 0) {
		/* asked from another restriction list: nothing of ours applies */
		c->stats->not_rcpt++;
		mx_debug("%s: protocol_state=%s: DUNNO", r->client_address, r->protocol_state);
		return PD_ACTION_DUNNO;
	}
	if (mx_addr_parse(r->client_address, &p->client) < 0)
		return malformed(c, r, "client_address is not an IP address");
	if (!r->have_recipient || !r->recipient[0])
		return malformed(c, r, "RCPT request without recipient");
	mx_prefix_format(&p->client, p->ip, sizeof(p->ip));
	path_key(r->sender, p->sender, sizeof(p->sender));
	path_key(r->recipient, p->rcpt, sizeof(p->rcpt));
	p->q = (struct mx_rcpt_ctx){ .sender = p->sender, .rcpt = p->rcpt, .client_ip = p->ip,
				     .client = &p->client };
	if (r->client_name[0] && strcmp(r->client_name, "unknown") != 0)
		p->q.client_name = r->client_name;
	return NULL;
}

static const char *conclude(struct pd_ctx *c, struct pd_session *s, struct prep *p,
			    enum mx_violation v, bool fresh)
{
	if (v == MX_VIOL__COUNT) {
		s->rcpts++;
		c->stats->dunno++;
		mx_debug("%s: %s -> %s: DUNNO (recipient %u of the session%s)", p->ip, p->sender,
			 p->rcpt, s->rcpts, fresh ? ", new session" : "");
		return PD_ACTION_DUNNO;
	}
	report(c, s, p->ip, v);
	return v == MX_VIOL_RECIPIENTS ? PD_ACTION_RCPT_MAX : PD_ACTION_RATE;
}

/* async: NULL when *plan is to be asked elsewhere. */
static const char *decide(struct pd_ctx *c, const struct pd_request *r, uint64_t now_ns,
			  struct mx_rcpt_plan *plan, bool async)
{
	struct prep p;
	struct pd_session *s;
	const char *action;
	bool fresh;

	c->stats->requests++;
	if ((action = prepare(c, r, &p)))
		return action;
	s = pd_sessions_get(c->sessions, r, now_ns, c->pol->policyd.session_timeout_ns, &fresh);
	p.q.rcpts = s->rcpts;
	mx_limits_rcpt_plan(c->pol, &p.q, plan);
	if (async && plan->early == MX_VIOL__COUNT && plan->n)
		return NULL;
	return conclude(c, s, &p, mx_limits_rcpt_store(c->store, now_ns, plan, p.ip), fresh);
}

const char *pd_decide(struct pd_ctx *c, const struct pd_request *r, uint64_t now_ns)
{
	struct mx_rcpt_plan plan;

	return decide(c, r, now_ns, &plan, false);
}

const char *pd_decide_begin(struct pd_ctx *c, const struct pd_request *r, uint64_t now_ns,
			    struct mx_rcpt_plan *plan)
{
	return decide(c, r, now_ns, plan, true);
}

const char *pd_decide_finish(struct pd_ctx *c, const struct pd_request *r, uint64_t now_ns,
			     const struct mx_rcpt_plan *plan, int result)
{
	struct prep p;
	struct pd_session *s;
	const char *action;
	bool fresh;

	if ((action = prepare(c, r, &p))) /* begin judged it already: cannot happen */
		return action;
	s = pd_sessions_get(c->sessions, r, now_ns, c->pol->policyd.session_timeout_ns, &fresh);
	if (result < 0) {
		c->stats->rcpt_fallback++;
		result = mx_limits_rcpt_store(c->store, now_ns, plan, p.ip);
	} else {
		c->stats->rcpt_shared++;
	}
	return conclude(c, s, &p, (enum mx_violation)result, fresh);
}
