/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * loader.h - the BPF side of the controller: skeleton open/load, pinned
 * links, XDP attach/replace/detach, seeding (loader.c, features.c,
 * sockdiag.c); the pinned maps, live config, policy swap, stats and
 * pending reads (maps.c).
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
#include "policy_compile.h"

#define MX_DEFAULT_PIN_DIR "/sys/fs/bpf/mxlimit"
#define MX_BPFFS "/sys/fs/bpf"

struct mxlimit; /* the skeleton */

/* Every pinned map, once: a field of struct mx_maps and the pin name
 * "mx_" NAME (bpf/mx_maps.h). */
#define MX_MAPS(X)                                                                   \
	X(ctl) X(config) X(ports) X(policy) X(sanctions) X(conc) X(conns) X(pending) \
	X(src) X(sweep) X(stats) X(netns) X(ifaces) X(blocklist) X(bl_sets) X(bl_hits) X(sanctseq) \
	X(sketch) X(gw_servers) X(gw_pending) X(gw_flows) X(gw_gc)

/* Fds of every pinned map; -1 where not open. */
struct mx_maps {
#define MX_MAP_FD(name) int name;
	MX_MAPS(MX_MAP_FD)
#undef MX_MAP_FD
};
#define MX_N_MAPS (sizeof(struct mx_maps) / sizeof(int))
/* Their pin names, in the order of struct mx_maps (maps.c). */
extern const char *const mx_map_names[MX_N_MAPS];
/* Keys in a map, walking it (approximate while it changes); stops at max
 * (0: no bound). */
uint64_t mx_map_count(int fd, uint64_t max);

struct mx_map_sizes {
	uint32_t sources, connections, rate_sources, pending, sanctions, rules;
};

void mx_map_sizes_from_policy(const struct mx_policy *pol, struct mx_map_sizes *sz);

/* Mount bpffs on /sys/fs/bpf when missing; create pin_dir and links/. */
int mx_pin_dir_prepare(const char *pin_dir);
bool mx_pin_dir_loaded(const char *pin_dir); /* maps are pinned there */

/* Which programs a skeleton load carries. */
#define MX_PROGS_XDP  (1u << 0)
#define MX_PROGS_SOCK (1u << 1) /* tracepoint + the optional mechanisms below */
/* Gateway mode (docs/gateway.md): the XDP program's role on its interface
 * (neither: local mode), and the flow sweep's programs. */
#define MX_PROGS_ROLE_CLIENT (1u << 2)
#define MX_PROGS_ROLE_SERVER (1u << 3)
#define MX_PROGS_GW_ARM      (1u << 4) /* mx_gw_gc_arm: the in-kernel timer */
#define MX_PROGS_GW_RUN      (1u << 5) /* mx_gw_gc_run: one sweep, run from userspace */

/*
 * Mechanisms.  Local mode needs two programs (essential: `load` fails
 * without them): mx_xdp and the socket-state tracepoint mx_sockstate.  The
 * rest are optional; each has implementations tried in order, then off:
 *   seed   count the connections open at load:  iter_tcp (iter/tcp),
 *          sock_diag (NETLINK_SOCK_DIAG dump, inserts by mx_seed_flow)
 *   sweep  count down records whose close was missed: syscall
 *          (mx_sweep_run, bpf_for_each_map_elem); needs a seed
 *          implementation, which marks what is alive
 * Every program is probed by loading it alone (features.c); an optional
 * one the kernel refuses falls back with one warning.  MXLIMIT_DISABLE=
 * seed_iter,seed_diag,seed,sweep forces the fallbacks.  `load` records the
 * implementations in use in mx_ctl.features (status, metrics, doctor).
 */
#define MX_N_PROGS 5
struct mx_prog_probe {
	const char *prog;    /* program name in the object */
	const char *kind;    /* its section, in words */
	const char *mech;    /* the mechanism it implements */
	const char *impl;    /* the implementation's name */
	const char *disable; /* its MXLIMIT_DISABLE name; NULL: essential */
	uint32_t bit;        /* MX_FEAT_*; 0: essential */
	bool essential, probed, disabled;
	int err;             /* 0: loads; -errno: refused (when probed) */
};
struct mx_features {
	struct mx_prog_probe p[MX_N_PROGS]; /* xdp, sockstate, seed, seed_flow, sweep */
	uint32_t bits;                      /* usable implementations, MX_FEAT_* */
};

/* Probe the optional programs (and the essential ones too if asked). */
void mx_features_probe(struct mx_features *f, bool essential_too);
/* The optional programs' probe, done once per process. */
const struct mx_features *mx_features_get(void);
/* One warning per fallen-back mechanism, once per process. */
void mx_features_warn(const struct mx_features *f, uint32_t in_use);
/* An attach mode (MX_MODE_*) as status and load print it. */
const char *mx_mode_name(uint32_t mode);
const char *mx_feature_seed(uint32_t bits);  /* iter_tcp, sock_diag, off, unknown */
const char *mx_feature_sweep(uint32_t bits); /* syscall, off, unknown */
const char *mx_feature_loss(const char *mech); /* what running without it costs */
const char *mx_probe_why(const struct mx_prog_probe *pp, char *buf, size_t len);

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

/* Gateway mode's flow sweep (bpf/mx_gateway.h): arm the in-kernel timer
 * (needs MX_PROGS_GW_ARM; 0 = armed, else -1 with the reason in why), or
 * run one sweep from userspace (MX_PROGS_GW_RUN; returns the flows expired
 * plus freed, or -1). */
int mx_gw_sweep_arm(struct mxlimit *skel, char *why, size_t len);
int mx_gw_sweep_run(struct mxlimit *skel);
/* The gateway sweep in use, for status: timer, daemon, off, or NULL when
 * not in gateway mode. */
const char *mx_feature_gw_sweep(uint32_t bits);
/* Load one program of the object alone (small unpinned maps, nothing
 * attached): 0 or -errno. */
int mx_probe_prog(const char *name);
/* MXLIMIT_DISABLE names the implementation (an MX_FEAT_* bit). */
bool mx_feature_disabled(uint32_t bit);

/* Attach (or replace) the tracepoint and pin its link. */
int mx_sock_attach(struct mxlimit *skel, const char *pin_dir);
/* The implementations this skeleton carries (MX_FEAT_*, MX_FEAT_KNOWN). */
uint32_t mx_skel_features(struct mxlimit *skel);
/* Record them in mx_ctl.features for status and metrics; read them back
 * (0: not recorded, an older load). */
int mx_features_record(const struct mx_maps *m, uint32_t bits);
uint32_t mx_features_read(const struct mx_maps *m);
/* Count connections that exist now, in the caller's network namespace
 * (iter/tcp, else sock_diag).  Returns the MX_FEAT_SEED_* bit of the
 * implementation that did it, or -1 when none worked. */
int mx_sock_seed(struct mxlimit *skel);
/* The sock_diag implementation (sockdiag.c): dump the ESTABLISHED TCP
 * sockets of this namespace and run prog_fd (mx_seed_flow) for each.
 * Returns the number of sockets handed over, or -1. */
int mx_sockdiag_seed(int prog_fd);
/* Reconcile (see struct mx_sweep): seed and mark what is ESTABLISHED in
 * the caller's namespace, then count down the records whose close was
 * missed.  Returns how many were counted down, or -1 (sweep off, or the
 * seeding failed).  *seeded_by (may be NULL): the seeding implementation
 * used, 0 if none. */
int mx_sock_sweep(struct mxlimit *skel, const struct mx_maps *m, uint32_t *seeded_by);

struct mx_attach_opts {
	enum mx_xdp_mode mode;
	enum mx_role role; /* MX_ROLE_LOCAL, or the interface's gateway role */
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

/* Gateway mode: the flows counted now (EST entries of mx_gw_flows). */
uint64_t mx_gw_flows_active(const struct mx_maps *m);

/* Live pending SYNs counted at k (the datapath's slot rule). */
/* The sanctions word (bpf/mx_maps.h mx_sanctions_seq): raise it after a
 * write to mx_sanctions; settle clears it if the trie is empty (and raises
 * it if an entry is there and the word is 0).  A write followed by a raise
 * cannot be lost by a concurrent settle: the settle clears only if the word
 * did not move while it found the trie empty. */
void mx_sanctions_raise(const struct mx_maps *m);
/* k's cells in the sketch (mx_types.h); 0 when read. */
int mx_sketch_cells(const struct mx_maps *m, const struct mx_key *k, struct mx_cell *c0,
		    struct mx_cell *c1);
void mx_sanctions_settle(const struct mx_maps *m);
uint32_t mx_pending_count(const struct mx_maps *m, const struct mx_key *k, uint64_t now,
			  uint64_t slot_ns);

/* Sum one interface's (or every row's, row < 0) per-CPU counters. */
int mx_stats_read(const struct mx_maps *m, int row, struct mx_stats *out);

#endif
