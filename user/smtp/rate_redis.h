/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * rate_redis.h - the recipient-rate counters of a fleet, in Redis
 * ([redis], docs/cluster.md).
 *
 * One atomic script per recipient does what mx_limits_rcpt_store() does
 * with the in-process store, with the same fixed windows: every counter
 * of the plan is checked; if none is full, each is counted (INCR, and
 * PEXPIRE = the window when it opens).  So a limit means the same on one
 * node and across the fleet, and a refused recipient consumes nothing.
 * The window is Redis's (its key expiry): node clocks do not matter.
 *
 * The I/O is redis_client.h's; this file only asks and interprets.
 */
#ifndef MX_RATE_REDIS_H
#define MX_RATE_REDIS_H

#include "redis_client.h"
#include "smtp_limits.h"

/*
 * result: MX_VIOL__COUNT (passes, counted), the violation, or -1 when
 * Redis gave no usable answer (timeout, down, error): the caller decides
 * with its in-process store (never refusing mail because Redis is down).
 */
typedef void (*mx_rate_redis_fn)(void *arg, int result);

/* 0: fn is called once, later.  -1: not sent (down, busy): decide now. */
int mx_rate_redis_check(struct mx_redis *r, const char *prefix, const struct mx_rcpt_plan *pl,
			mx_rate_redis_fn fn, void *arg);

#endif
