/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * proxy.h - mxlimit-proxy's shared state: one server, many sessions.
 *
 * A session is one client connection and its backend connection, with
 * four bounded buffers between them:
 *
 *   client --> cin --[commands parsed, DATA scanned]--> bout --> backend
 *   client <-- cout <--[replies paired with commands]-- bin <-- backend
 *
 * Each buffer has a fixed size and a side stops being read while its
 * buffer is full, so a slow peer costs a fixed amount of memory.
 */
#ifndef PX_PROXY_H
#define PX_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "accept.h"
#include "evloop.h"
#include "policy.h"
#include "rate_store.h"
#include "redis_client.h"
#include "smtp_limits.h"
#include "verdict_client.h"

struct px_tls;
struct px_tls_client;

/* Counters printed at exit and on SIGUSR1. */
struct px_stats {
	uint64_t accepted;
	uint64_t refused_max_clients;
	uint64_t backend_failed;
	uint64_t timeouts;
	uint64_t tarpit_full; /* violations left untarpitted: cap reached */
	uint64_t tls_sessions, tls_failed; /* handshakes done, failed */
	uint64_t violations[MX_VIOL__COUNT];
	/* [redis]: recipients decided by the fleet's counters, and by this
	 * node's because Redis was down, slow or refused (docs/cluster.md) */
	uint64_t rcpt_shared, rcpt_fallback;
};

struct px_listener {
	struct mx_io io;
	struct px_server *srv;
	bool tls; /* listen_tls: TLS from the first byte */
};

struct px_server {
	struct mx_loop *loop;
	struct mx_policy *pol;
	const struct mx_proxy_conf *conf;
	struct mx_rate_store *store;
	struct mx_redis *redis; /* [redis] on: the shared counters, else NULL */
	struct mx_vclient *verdict;
	struct px_tls *tls; /* NULL: no certificate, STARTTLS is the backend's */
	struct px_tls_client *btls; /* backend_tls, or NULL */
	struct px_listener listeners[2 * MX_PROXY_MAX_LISTEN];
	size_t n_listeners;
	struct mx_accept_pause accept_pause; /* listeners paused on EMFILE */
	struct px_session *sessions; /* every live session, for shutdown */
	uint32_t n_sessions, n_tarpitted;
	uint64_t tarpit_ns;  /* tarpit_delay capped by tarpit_max */
	char hostname[256];  /* in the proxy's own replies */
	struct px_stats stats;
};

struct px_session;
/* Take over an accepted client socket (non-blocking). */
void px_session_accept(struct px_server *srv, int fd, const struct sockaddr_storage *peer,
		       bool tls);
/* Shutdown: drop every session (their memory goes with the loop). */
void px_session_close_all(struct px_server *srv);

/* main.c: send the [penalty] verdict for v (smtp_limits.h), if any. */
void px_limits_verdict(struct px_server *srv, const char *client_ip, enum mx_violation v);

#endif
