/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pd_decide.h - what mxlimit-policyd answers one policy request: the
 * SMTP limit engine (smtp_limits.h) applied to Postfix's attributes.  No
 * sockets: verdict lines go to a callback, so it is unit-tested alone.
 */
#ifndef PD_DECIDE_H
#define PD_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "pd_request.h"
#include "pd_session.h"
#include "policy.h"
#include "rate_store.h"
#include "smtp_limits.h"

/* Counters printed on SIGUSR1 and at exit. */
struct pd_stats {
	uint64_t requests;
	uint64_t dunno;
	uint64_t not_rcpt;  /* another protocol_state: nothing to judge */
	uint64_t malformed; /* answered DUNNO: not a usable request */
	uint64_t violations[MX_VIOL__COUNT];
	/* [redis]: recipients decided by the fleet's counters, and by this
	 * node's because Redis was down, slow or refused (docs/cluster.md) */
	uint64_t rcpt_shared, rcpt_fallback;
};

struct pd_ctx {
	const struct mx_policy *pol;
	struct mx_rate_store *store;
	struct pd_sessions *sessions;
	struct pd_stats *stats;
	void (*verdict)(void *arg, const char *line); /* a [penalty] request line */
	void *verdict_arg;
};

/* Reply texts; "action=" and the empty line are added by the caller. */
#define PD_ACTION_DUNNO "DUNNO"
#define PD_ACTION_RCPT_MAX "452 4.5.3 Error: too many recipients"
#define PD_ACTION_RATE "450 4.7.1 Error: recipient rate limit exceeded, try again later"

/* The action for request r at now_ns (the loop's clock). */
const char *pd_decide(struct pd_ctx *c, const struct pd_request *r, uint64_t now_ns);

/*
 * The same in two steps, for counters that answer later (Redis,
 * rate_redis.h).  begin: the action, or NULL when the recipient's
 * counters (*plan) are to be asked elsewhere; then finish with that
 * answer (result as mx_rate_redis_fn's: a violation, MX_VIOL__COUNT, or
 * -1 to decide with c->store).  r must be unchanged in between.
 */
const char *pd_decide_begin(struct pd_ctx *c, const struct pd_request *r, uint64_t now_ns,
			    struct mx_rcpt_plan *plan);
const char *pd_decide_finish(struct pd_ctx *c, const struct pd_request *r, uint64_t now_ns,
			     const struct mx_rcpt_plan *plan, int result);

#endif
