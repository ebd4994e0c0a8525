/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cluster.h - verdicts across a fleet through Redis ([redis], docs/cluster.md).
 *
 * Every block, penalty and unblock the local daemon applies from its
 * verdict socket is published; every node applies the others' within a
 * poll interval.  In Redis (keys under the conf's prefix):
 *   v:stream  a stream of verdicts (XADD MAXLEN ~), read by each node from
 *             its own cursor (the last entry it applied)
 *   v:active  a sorted set "b|PREFIX" / "p|PREFIX" -> expiry (ms, Redis clock)
 *   v:meta    a hash, same members -> "limit|reason|origin"
 *   epoch     a random id made when the data set is new: a Redis that
 *             restarted empty has none, or another one
 *   nodes     a sorted set node -> last poll (ms): the peers seen
 * Expiries are computed by Lua scripts from Redis's TIME, so node clocks
 * may differ; a node converts "until" to its own monotonic clock with the
 * TIME of the same reply.
 *
 * Catch-up: a node (re)connecting resumes from its cursor (kept in a file
 * beside the state file) when the stream still holds everything after it;
 * otherwise it applies the active set (a snapshot) and streams from the
 * stream's end as read with it.  A new or changed epoch means Redis lost
 * its data: the node applies what is there and publishes its own active
 * verdicts again.  Local verdicts made while Redis is down wait in a
 * bounded outbox and are published with their remaining time.
 */
#ifndef MX_CLUSTER_H
#define MX_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "loader.h"
#include "redis_conf.h"
#include "verdict_proto.h"

/* Verdicts waiting for Redis at most; the oldest goes first when full. */
#define CL_OUTBOX_MAX 10000
/* The stream keeps about this many entries (XADD MAXLEN ~). */
#define CL_STREAM_MAXLEN 100000
/* How often a node reads the stream: verdicts cross in well under 1 s. */
#define CL_POLL_NS (200ULL * 1000000ULL)
/* Entries read per poll, active-set entries per snapshot page. */
#define CL_BATCH 500
/* A peer that polled within this window is "seen". */
#define CL_PEER_WINDOW_MS 10000

struct cluster;

struct cluster_ctx {
	struct mx_loop *loop;
	const char *node;        /* this node's name */
	const char *cursor_path; /* NULL: no cursor file (always a snapshot) */
	/* the maps when usable, else NULL */
	struct mx_maps *(*maps)(void *arg);
	/* would a sanction on p touch a locally allowlisted source? */
	bool (*allowlisted)(const struct mx_maps *m, const mx_prefix *p);
	/* the sanctions changed (save the state file) */
	void (*changed)(void *arg);
	void *arg;
};

enum cl_resync { CL_RESYNC_STARTUP, CL_RESYNC_TRIMMED, CL_RESYNC_RESET, CL_RESYNC__COUNT };

/* Time from a verdict's publication (its stream id, Redis clock) to the
 * poll that brought it here (Redis clock too): histogram bounds, seconds. */
#define CL_PROP_BUCKETS 8
extern const double cl_prop_bounds[CL_PROP_BUCKETS];

struct cluster_stats {
	uint64_t published, publish_failed;
	uint64_t applied, applied_unblocks;
	uint64_t ignored_allowlisted, ignored_own, ignored_expired, apply_failed;
	uint64_t resyncs[CL_RESYNC__COUNT];
	uint64_t republished; /* own verdicts published again after a reset */
	uint64_t outbox_dropped;
	uint64_t outbox_depth;
	uint64_t peers;       /* nodes seen within CL_PEER_WINDOW_MS, this one too */
	uint64_t lag_ms;      /* stream end minus cursor, at the last poll */
	uint64_t prop_bucket[CL_PROP_BUCKETS]; /* cumulative, as Prometheus */
	uint64_t prop_count, prop_sum_ms;
	bool synced;          /* caught up since the last connect */
};

/* NULL on failure (logged). */
struct cluster *cluster_new(const struct cluster_ctx *ctx, const struct mx_redis_conf *conf);
void cluster_free(struct cluster *c);
/* A verdict the local daemon applied (BLOCK, PENALIZE, UNBLOCK). */
void cluster_local(struct cluster *c, const struct mx_vreq *r);
const struct cluster_stats *cluster_stats(const struct cluster *c);
/* The Redis connection's figures (redis_client.h), NULL when none. */
const struct mx_redis_stats *cluster_redis_stats(const struct cluster *c);
const struct mx_redis_conf *cluster_conf(const struct cluster *c);
const char *cluster_node(const struct cluster *c);
/* The last stream id applied, "" when none. */
const char *cluster_cursor(const struct cluster *c);

/* cluster_report.c: the daemon's report for `mxlimit status`: MX_RUN_DIR/cluster-<pin dir
 * with '/' as '_'>, "key value" lines, rewritten every housekeeping tick. */
void cluster_report_path(const char *pin_dir, char *buf, size_t len);
void cluster_report(const struct cluster *c, const char *path);
/* status: one line (or JSON fields) from the report; nothing when none. */
struct jw;
void cluster_status_print(const char *pin_dir, struct jw *json);

#endif
