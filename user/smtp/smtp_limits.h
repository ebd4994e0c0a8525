/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp_limits.h - the SMTP-level sections of limit.ini, as
 * haraka-plugin-limit applies them (with the differences limit.ini(5)
 * COMPATIBILITY lists): [recipients], [unrecognized_commands], [errors],
 * the four [rate_rcpt_*] sections, and the [penalty] verdict a violation
 * gives.  No sockets and no clock of its own: a front end (the proxy, a
 * policy service) says who, what and when, and sends the verdict lines.
 *
 * Counter keys: an explicit lookup is one counter shared by everything
 * it matches; `default` counts each host, sender or recipient
 * separately (docs/proxy.md "Windows").
 */
#ifndef MX_SMTP_LIMITS_H
#define MX_SMTP_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rate_store.h"

/* One recipient to judge. */
struct mx_rcpt_ctx {
	const mx_prefix *client; /* client address, shared space */
	const char *client_ip;   /* its text, for counter keys */
	/* the client's verified (forward-confirmed) reverse name, or NULL:
	 * [rate_rcpt_host] tries it and its parent domains after the address */
	const char *client_name;
	const char *sender;      /* path key (smtp_parse.h), "" for the null sender */
	const char *rcpt;        /* path key */
	uint32_t rcpts;          /* recipients already passed on this connection */
};

/*
 * MX_VIOL__COUNT if the recipient passes, and it is then counted in every
 * rate section it falls under; else the limit it violates, and nothing is
 * counted.  A store that fails is treated as under the limit (fail open,
 * as the kernel does).
 */
enum mx_violation mx_limits_rcpt(const struct mx_policy *pol, struct mx_rate_store *store,
				 uint64_t now_ns, const struct mx_rcpt_ctx *c);

/*
 * The same decision in two steps, for a store that answers later (Redis,
 * docs/cluster.md): the plan names the counters this recipient falls
 * under (in checking order), or the per-connection limit it already
 * breaks; any store then checks them all and, if none is full, counts
 * the recipient in each.
 */
#define MX_RCPT_PROBES 4
struct mx_rcpt_probe {
	char key[MX_RATE_KEY_MAX];
	uint64_t period_ns;
	uint32_t limit;
	enum mx_violation viol;
};
struct mx_rcpt_plan {
	enum mx_violation early; /* MX_VIOL_RECIPIENTS, else MX_VIOL__COUNT */
	unsigned n;
	struct mx_rcpt_probe p[MX_RCPT_PROBES];
};
void mx_limits_rcpt_plan(const struct mx_policy *pol, const struct mx_rcpt_ctx *c,
			 struct mx_rcpt_plan *out);
/* A plan against a synchronous store (mx_limits_rcpt's second half). */
enum mx_violation mx_limits_rcpt_store(struct mx_rate_store *store, uint64_t now_ns,
				       const struct mx_rcpt_plan *pl, const char *client_ip);

/* The `max` of a per-connection section for this client; 0 = unlimited. */
uint32_t mx_limits_max(const struct mx_section *sec, const mx_prefix *client);

/* A connection's [unrecognized_commands] and [errors] counts. */
struct mx_conn_counts {
	uint32_t unrecognized, errors;
};

/*
 * Count one final reply code (the MTA's or the front end's own) against
 * [unrecognized_commands] (500, 502) and [errors] (501, 503, 504, 530,
 * 534, 535, 538, 555).  Returns the section whose max it passes (the front
 * end then ends the session), or MX_VIOL__COUNT.
 */
enum mx_violation mx_limits_reply(const struct mx_policy *pol, const mx_prefix *client,
				  struct mx_conn_counts *n, int code);

/*
 * The verdict request [penalty] asks for v against client_ip (verdict
 * protocol, verdict_proto.h), into line.  Returns its length, 0 when the
 * penalty is none, -1 if it cannot be formatted.
 */
int mx_limits_verdict(const struct mx_policy *pol, const char *client_ip, enum mx_violation v,
		      char *line, size_t len);

#endif
