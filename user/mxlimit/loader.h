/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * loader.h - the BPF side of the controller: skeleton open/load, pinned
 * maps and links, XDP attach/replace/detach, seeding, policy swap.
 *
 * Pin layout under PIN_DIR (default /sys/fs/bpf/mxlimit):
 *   PIN_DIR/mx_*               every map (mx_maps.h), BTF-typed
 *   PIN_DIR/links/sockstate    the socket-state tracepoint link
 *   PIN_DIR/links/xdp_IFNAME   one XDP link per interface
 * Programs live as long as their pinned link; maps as long as their pin,
 * so programs are replaced without losing any count.
 */
#ifndef MX_LOADER_H
#define MX_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "mx_types.h"
#include "policy.h"

#define MX_DEFAULT_PIN_DIR "/sys/fs/bpf/mxlimit"
#define MX_BPFFS "/sys/fs/bpf"

struct mxlimit; /* the skeleton */

/* Fds of every pinned map; -1 where not open. */
struct mx_maps {
	int ctl, config, ports, policy, sanctions, conc, conns, pending, pendcnt, rate, sweep, stats,
	    netns, ifaces;
};

struct mx_map_sizes {
	uint32_t sources, connections, rate_sources, pending, sanctions, rules;
};

void mx_map_sizes_from_policy(const struct mx_policy *pol, struct mx_map_sizes *sz);

/* Mount bpffs on /sys/fs/bpf when missing; create pin_dir and links/. */
int mx_pin_dir_prepare(const char *pin_dir);
bool mx_pin_dir_loaded(const char *pin_dir); /* maps are pinned there */

/* Which programs a skeleton load carries. */
#define MX_PROGS_XDP  (1u << 0)
#define MX_PROGS_SOCK (1u << 1) /* tracepoint + seeding iterator */

/*
 * Open and load the skeleton with maps reused from (or pinned to) pin_dir.
 * Sizes apply to maps not pinned yet; a pinned map keeps its size (a
 * warning says so when the policy asks another).  stats_row is the XDP
 * program's stats row.  Returns NULL with the reason reported.
 */
struct mxlimit *mx_skel_load(const char *pin_dir, const struct mx_map_sizes *sz,
			     unsigned progs, uint32_t stats_row);
void mx_skel_destroy(struct mxlimit *skel);
int mx_skel_xdp_fd(struct mxlimit *skel);
int mx_skel_maps(struct mxlimit *skel, struct mx_maps *m); /* dup'd fds */

/* Attach (or replace) the tracepoint and pin its link. */
int mx_sock_attach(struct mxlimit *skel, const char *pin_dir);
/* Count connections that exist now, in the caller's network namespace. */
int mx_sock_seed(struct mxlimit *skel);
/* Reconcile (see struct mx_sweep): seed and mark what is ESTABLISHED in
 * the caller's namespace, then count down the records whose close was
 * missed.  Returns how many were counted down, or -1. */
int mx_sock_sweep(struct mxlimit *skel, const struct mx_maps *m);

struct mx_attach_opts {
	enum mx_xdp_mode mode;
	bool force; /* replace another program's XDP attachment */
};

/* Load mxlimit's XDP program for ifname and attach it, or replace the
 * program of an existing attachment in place.  Registers the interface
 * and its netns in the maps. */
int mx_xdp_attach(const char *pin_dir, const struct mx_map_sizes *sz, const char *ifname,
		  const struct mx_attach_opts *o);
/* Detach from ifname (by its pinned link) and unregister it. */
int mx_xdp_detach(const char *pin_dir, const char *ifname);
/* Detach every interface, the tracepoint, and remove every pin. */
int mx_unload_all(const char *pin_dir);

void mx_maps_init(struct mx_maps *m); /* every fd -1 */
int mx_maps_open(const char *pin_dir, struct mx_maps *m);
void mx_maps_close(struct mx_maps *m);

/* Install a compiled policy as the next generation and flip to it:
 * datapath readers see the old policy or the new, never a mix or none.
 * On error nothing changes. */
int mx_policy_apply(const struct mx_maps *m, const struct mx_compiled *c);
/* The live generation's config. */
int mx_config_read(const struct mx_maps *m, struct mx_config *cfg, uint32_t *gen);

/* CLOCK_MONOTONIC now in ns, plus the maps' test clock offset. */
uint64_t mx_mono_now(const struct mx_maps *m);

/* netns inode of the calling process */
uint32_t mx_self_netns(void);

/* Live pending SYNs counted at k (the datapath's slot rule). */
uint32_t mx_pending_count(const struct mx_maps *m, const struct mx_key *k, uint64_t now,
			  uint64_t slot_ns);

/* Sum one interface's (or every row's, row < 0) per-CPU counters. */
int mx_stats_read(const struct mx_maps *m, int row, struct mx_stats *out);

#endif
