/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policyd.h - mxlimit-policyd's server: listeners and Postfix's policy
 * connections on the shared event loop (evloop.h), one bounded line
 * buffer and one small reply buffer per connection (iobuf.h).
 *
 *   Postfix smtpd --"name=value" lines, empty line--> rx --> pd_request
 *   Postfix smtpd <--"action=...", empty line------- tx <-- pd_decide
 *
 * A connection's rx holds one line at most (PD_LINE_MAX); a full tx stops
 * reading that connection until the peer reads its replies.
 */
#ifndef PD_POLICYD_H
#define PD_POLICYD_H

#include <stdint.h>

#include "accept.h"
#include "evloop.h"
#include "pd_decide.h"
#include "policy.h"
#include "redis_client.h"
#include "verdict_client.h"

struct pd_listener {
	struct mx_io io;
	struct pd_server *srv;
	char name[128]; /* "unix:/run/..." or "127.0.0.1:10040", for logs */
	char unlink_path[108]; /* the unix socket we created, removed at exit */
};

struct pd_server {
	struct mx_loop *loop;
	struct mx_policy *pol;
	struct mx_rate_store *store;
	struct pd_sessions *sessions;
	struct mx_vclient *verdict;
	struct mx_redis *redis; /* [redis] on: the shared counters, else NULL */
	struct pd_listener listeners[MX_POLICYD_MAX_LISTEN];
	size_t n_listeners;
	struct mx_accept_pause accept_pause; /* listeners paused on EMFILE */
	struct pd_conn *conns;          /* every live connection */
	uint32_t n_conns;
	struct pd_stats stats;
	uint64_t conns_accepted, conns_refused, conns_dropped, idle_closed;
};

/* Open every listen address of the policy.  0, or -1 (logged). */
int pd_listen(struct pd_server *srv);
/* Close listeners (removing the unix sockets) and every connection, each
 * detached from a request it had waiting for Redis; their memory goes
 * with mx_loop_free, so call it before that. */
void pd_shutdown(struct pd_server *srv);
/* The engine context for the current policy. */
void pd_ctx_init(struct pd_server *srv, struct pd_ctx *c);

#endif
