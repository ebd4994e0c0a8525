/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pd_session.h - SMTP sessions as mxlimit-policyd sees them.
 *
 * Postfix's policy requests carry no connection id, and its policy
 * connections are per smtpd process, reused across SMTP sessions and
 * reopened in the middle of one (smtpd_policy_service_max_idle, _max_ttl).
 * A session is therefore derived from the request (docs/policyd.md
 * "Sessions"):
 *
 *   key   = smtpd's pid (from `instance`), client_address, client_port,
 *           server_address, server_port: one smtpd process serves one
 *           SMTP session at a time, and the TCP 4-tuple is unique while
 *           the connection lives;
 *   order = `instance` is pid.sec.usec.seqno, where seqno numbers the
 *           messages of one session from 0.  A request of the same
 *           message (same seqno and time) or of a later message (larger
 *           seqno, later time) continues the session; anything else (a
 *           seqno that went back, the same seqno at another time) is a
 *           new session on a reused 4-tuple, and starts from zero.
 *
 * A request without `instance` keys by the addresses alone.  Sessions
 * unseen for session_timeout are forgotten; the table is bounded and
 * evicts the least recently seen first, so a full table forgets sessions
 * that ended long ago before live ones.  Forgetting only ever restarts a
 * count from zero (lenient, never stricter).
 */
#ifndef PD_SESSION_H
#define PD_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "pd_request.h"

struct pd_session {
	uint64_t key;       /* hash of the key above */
	uint64_t last_ns;   /* loop clock of the last request */
	uint64_t msg_usec;  /* the current message's MAIL time (instance) */
	uint32_t seqno;     /* the current message's number */
	uint32_t rcpts;     /* recipients passed in this session */
	uint32_t reported;  /* violations already sent as verdicts (bit per kind) */
	bool has_instance;
	/* table links: hash chain and recency list, indices + 1 (0 = none) */
	uint32_t chain, newer, older;
};

struct pd_sessions;

struct pd_sessions *pd_sessions_new(uint32_t max);
void pd_sessions_free(struct pd_sessions *t);
/*
 * The session this request belongs to, created or restarted as above;
 * *fresh tells a new or restarted one.  Never NULL (the table evicts to
 * make room).
 */
struct pd_session *pd_sessions_get(struct pd_sessions *t, const struct pd_request *r,
				   uint64_t now_ns, uint64_t timeout_ns, bool *fresh);
uint32_t pd_sessions_count(const struct pd_sessions *t);

#endif
