/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * daemon.h - the pieces of `mxlimit daemon` (daemon.c: options, event
 * loop, signals, housekeeping; verdict_server.c: the verdict socket;
 * metrics.c: the Prometheus endpoint).  Internal to the controller.
 *
 * One thread on the shared event loop (user/lib/evloop.h, the proxy's too),
 * every socket non-blocking, each peer on its own timer: a slow or stuck
 * peer costs a slot and a bounded buffer, never the loop.  The daemon
 * only writes maps; the kernel enforces everything with or without it.
 */
#ifndef MX_DAEMON_H
#define MX_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "evloop.h"
#include "loader.h"
#include "policy.h"
#include "cluster.h"
#include "redis_client.h"
#include "redis_conf.h"

/* Housekeeping tick: map follow-up, sanction expiry, sweep and GC, snapshot
 * check (peers time out on their own timers). */
#define DMN_TICK_MS 2000
/* Idle counter collection runs this often (gc_idle is 10 s at least). */
#define DMN_GC_EVERY_NS (10 * MX_NS_PER_SEC)
/* How often a verdict re-checks that the pinned maps are still the ones
 * held (an `unload --all` + `load` makes new maps). */
#define DMN_MAPS_RECHECK_NS (1 * MX_NS_PER_SEC)
/* Users besides root, the daemon's own user and the socket's group. */
#define DMN_MAX_ALLOW_UIDS 16

struct dmn;

/* The daemon's own counters, exported as metrics. */
struct dmn_counters {
	uint64_t verdicts_ok;
	uint64_t verdicts_err;
	uint64_t peers_accepted;
	uint64_t peers_refused; /* SO_PEERCRED said no, or too many peers */
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	uint64_t gc_collected;
	uint64_t sanctions_expired;
	uint64_t snapshots_ok;
	uint64_t snapshots_failed;
	uint64_t scrapes;
};

struct vsrv;
struct msrv;

struct dmn {
	const char *pin_dir;
	const char *policy_arg;    /* -c FILE, or NULL: the path `load` remembered */
	const char *socket_path;
	const char *state_path;    /* NULL: no snapshots */
	const char *metrics_addr;  /* NULL: no metrics endpoint */
	const char *group;         /* --group: the socket's group, or NULL */
	uid_t allow_uids[DMN_MAX_ALLOW_UIDS];
	int n_allow_uids;

	struct mx_maps maps;
	struct mxlimit *sweeper;   /* the socket programs, loaded (not attached) for sweeps */
	struct mxlimit *gw_sweeper; /* gateway flow sweep where the kernel timer is refused */
	uint64_t last_gw_sweep_ns;
	bool loaded;               /* maps open and still the pinned ones */
	uint32_t maps_id;          /* kernel id of the held mx_sanctions map */
	uint64_t maps_checked_ns;
	uint64_t gc_idle_ns;       /* [main] gc_idle of the policy file */

	/* the shared event loop (evloop.h); every mx_io of the daemon has
	 * arg = the struct dmn */
	struct mx_loop *loop;
	int stop;                  /* set by SIGTERM/SIGINT: the loop ends */
	struct mx_timer tick;      /* housekeeping every DMN_TICK_MS */
	struct mx_timer save;      /* a verdict changed the sanctions: save now */
	struct vsrv *vs;
	struct msrv *ms;
	struct dmn_counters c;
	uint64_t started_wall;     /* Unix seconds */
	uint64_t last_gc_ns;
	uint64_t swept;            /* connections counted down by sweeps */
	uint64_t state_sum;        /* checksum of the sanctions last saved or seen */
	bool state_sum_valid;

	/* [redis]: verdicts across the fleet (cluster.h); NULL when off */
	struct cluster *cl;
	struct mx_redis_conf redis;
	char node[64];             /* --node, else the host name */
	char cursor_path[PATH_MAX]; /* STATE.cluster, "" without a state file */
};

/* A verdict changed the sanctions: the state file is written right after
 * this batch of events, not up to a tick later (an unload then loses
 * nothing). */
void dmn_sanctions_changed(struct dmn *d);
/* CLOCK_MONOTONIC ns (no test offset: for the daemon's own timeouts). */
uint64_t dmn_now_ns(void);
/* The daemon's own figures at one moment, for the metrics server (which
 * renders from this copy and calls into no other server). */
struct dmn_snapshot {
	struct dmn_counters c;
	size_t peers;          /* verdict socket connections open */
	uint64_t started_wall; /* Unix seconds */
	bool cluster;          /* [redis] on: the three below are set */
	struct cluster_stats cs;
	struct mx_redis_stats rs;
	char node[64];
};
void dmn_snapshot_take(struct dmn *d, struct dmn_snapshot *out);
/* Are the maps usable (re-checked at most every DMN_MAPS_RECHECK_NS)? */
bool dmn_maps_ready(struct dmn *d);

/* ---- verdict_server.c ----
 * What the verdict server gets from the loop's owner (daemon.c), and no
 * more: it calls into nothing else of the daemon. */
struct vsrv_ctx {
	struct mx_loop *loop;
	const char *socket_path;
	const char *group;          /* the socket's group, or NULL */
	const uid_t *allow_uids;    /* besides root, the daemon's user, the group */
	int n_allow_uids;
	struct dmn_counters *c;     /* verdicts_ok/_err, peers_accepted/_refused */
	/* the maps when usable, else NULL (the owner re-checks the pins) */
	struct mx_maps *(*maps)(void *arg);
	/* a verdict changed the sanctions */
	void (*changed)(void *arg);
	/* a BLOCK, PENALIZE or UNBLOCK was applied here (for the cluster) */
	void (*applied)(void *arg, const struct mx_vreq *r);
	void *arg;
};
/* NULL on failure (logged). */
struct vsrv *vsrv_open(const struct vsrv_ctx *ctx);
void vsrv_close(struct vsrv *s);
size_t vsrv_peers(const struct vsrv *s);
/* Would a sanction on p touch an allowlisted source (live policy)? */
bool vsrv_touches_allowlist(const struct mx_maps *m, const mx_prefix *p);

/* ---- metrics.c ---- */
bool mx_metrics_addr_valid(const char *s); /* "ADDR:PORT", "[V6]:PORT" */
int msrv_open(struct dmn *d);
void msrv_close(struct dmn *d);

#endif
