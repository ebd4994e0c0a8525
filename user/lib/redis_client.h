/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * redis_client.h - one asynchronous Redis connection on our event loop
 * (evloop.h), through hiredis's async API (0.14 on Debian 12: no command
 * timeouts, no timers of its own, so both live here).
 *
 * - Connects to an IP address or a unix socket ([redis], redis_conf.h):
 *   no name lookup, the loop never waits for a resolver.
 * - AUTH and SELECT on every connect; the connection is "up" only when
 *   they (or a PING) have been answered.
 * - Every command has a deadline (the conf's timeout).  Replies come in
 *   command order, so one timer on the oldest command is enough; when it
 *   passes, the connection is dropped, every command in flight is answered
 *   with NULL, and it reconnects with backoff.  A PING every second while
 *   idle finds a black-holed server the same way.
 * - A callback gets NULL for "no answer" (timeout, connection lost,
 *   freed): the caller falls back.  An error reply is passed as it is.
 */
#ifndef MX_REDIS_CLIENT_H
#define MX_REDIS_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "evloop.h"
#include "redis_conf.h"

/* Commands in flight at most; more are refused (the caller falls back)
 * rather than queued behind a slow server. */
#define MX_REDIS_INFLIGHT_MAX 4096
/* Latency histogram bounds (seconds), Prometheus style; +Inf is implied. */
#define MX_REDIS_LAT_BUCKETS 8
extern const double mx_redis_lat_bounds[MX_REDIS_LAT_BUCKETS];

struct mx_redis;

typedef void (*mx_redis_reply_fn)(struct mx_redis *r, const redisReply *reply, void *arg);

struct mx_redis_events {
	void (*up)(struct mx_redis *r, void *arg);   /* connected and ready */
	void (*down)(struct mx_redis *r, void *arg); /* was up, is not */
	void *arg;
};

enum mx_redis_err {
	MX_REDIS_E_TIMEOUT,    /* a command or the connect took too long */
	MX_REDIS_E_CONNECT,    /* refused, unreachable, no socket */
	MX_REDIS_E_REPLY,      /* an error reply (-ERR ...) */
	MX_REDIS_E_LOST,       /* the connection broke under us */
	MX_REDIS_E_BUSY,       /* refused: MX_REDIS_INFLIGHT_MAX in flight */
	MX_REDIS_E__COUNT
};
const char *mx_redis_err_name(enum mx_redis_err e);

struct mx_redis_stats {
	bool up;
	uint64_t connects;     /* successful (re)connects */
	uint64_t commands;     /* sent */
	uint64_t errors[MX_REDIS_E__COUNT];
	uint64_t lat_count, lat_sum_ns;
	uint64_t lat_bucket[MX_REDIS_LAT_BUCKETS]; /* cumulative: <= bound */
	uint64_t changed_ns;   /* loop clock of the last up/down change */
};

/* timeout_ns 0 = the conf's.  The events struct is copied. */
struct mx_redis *mx_redis_new(struct mx_loop *l, const struct mx_redis_conf *c,
			      uint64_t timeout_ns, const struct mx_redis_events *ev);
/* In-flight callbacks are called with NULL first.  Not from a callback. */
void mx_redis_free(struct mx_redis *r);
bool mx_redis_is_up(const struct mx_redis *r);
const struct mx_redis_stats *mx_redis_stats(const struct mx_redis *r);
/* Log (info) the recipients counted in Redis and per node, and the
 * client's counters: the SIGUSR1 / exit report of the SMTP front ends. */
void mx_redis_log_stats(const struct mx_redis *r, uint64_t rcpt_shared, uint64_t rcpt_fallback);
/* Commands in flight now. */
unsigned mx_redis_inflight(const struct mx_redis *r);

/* Send a command (hiredis format or argv).  0: fn will be called exactly
 * once, with the reply or NULL.  -1: not sent (down, busy); fn is not
 * called. */
int mx_redis_cmd(struct mx_redis *r, mx_redis_reply_fn fn, void *arg, const char *fmt, ...);
int mx_redis_cmdv(struct mx_redis *r, mx_redis_reply_fn fn, void *arg, int argc,
		  const char **argv, const size_t *lens);

#endif
