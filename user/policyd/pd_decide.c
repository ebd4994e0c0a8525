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

const char *pd_decide(struct pd_ctx *c, const struct pd_request *r, uint64_t now_ns)
{
	char ip[MX_PREFIX_STRLEN], sender[MX_SMTP_PATH_MAX + 1], rcpt[MX_SMTP_PATH_MAX + 1];
	struct mx_rcpt_ctx q = { .sender = sender, .rcpt = rcpt, .client_ip = ip };
	struct pd_session *s;
	enum mx_violation v;
	mx_prefix client;
	bool fresh;

	c->stats->requests++;
	if (strcmp(r->request, "smtpd_access_policy") != 0)
		return malformed(c, r, r->request[0] ? "unknown request type" : "no request= attribute");
	if (strcmp(r->protocol_state, "RCPT") != 0) {
		/* asked from another restriction list: nothing of ours applies */
		c->stats->not_rcpt++;
		mx_debug("%s: protocol_state=%s: DUNNO", r->client_address, r->protocol_state);
		return PD_ACTION_DUNNO;
	}
	if (mx_addr_parse(r->client_address, &client) < 0)
		return malformed(c, r, "client_address is not an IP address");
	if (!r->have_recipient || !r->recipient[0])
		return malformed(c, r, "RCPT request without recipient");
	mx_prefix_format(&client, ip, sizeof(ip));
	path_key(r->sender, sender, sizeof(sender));
	path_key(r->recipient, rcpt, sizeof(rcpt));
	if (r->client_name[0] && strcmp(r->client_name, "unknown") != 0)
		q.client_name = r->client_name;
	q.client = &client;
	s = pd_sessions_get(c->sessions, r, now_ns, c->pol->policyd.session_timeout_ns, &fresh);
	q.rcpts = s->rcpts;
	v = mx_limits_rcpt(c->pol, c->store, now_ns, &q);
	if (v == MX_VIOL__COUNT) {
		s->rcpts++;
		c->stats->dunno++;
		mx_debug("%s: %s -> %s: DUNNO (recipient %u of the session%s)", ip, sender, rcpt,
			 s->rcpts, fresh ? ", new session" : "");
		return PD_ACTION_DUNNO;
	}
	report(c, s, ip, v);
	return v == MX_VIOL_RECIPIENTS ? PD_ACTION_RCPT_MAX : PD_ACTION_RATE;
}
