/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_types.h - every type shared by the BPF programs and userspace.
 *
 * Declared once here, never re-declared elsewhere.  The BPF side gets its
 * __u32 & co. from vmlinux.h, userspace from <linux/types.h>.
 *
 * Addresses: both families live in one 128-bit space.  IPv4 a.b.c.d is
 * stored as the IPv4-mapped IPv6 address ::ffff:a.b.c.d (RFC 4291 2.5.5.2),
 * so one LPM trie, one key type and one code path serve both families.
 * Prefix lengths are in that space too: an IPv4 /24 is plen 96 + 24 = 120.
 * Address words are in network byte order.
 */
#ifndef MX_TYPES_H
#define MX_TYPES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_timer */
#endif

#include "mx_stats.h"

/* An IPv4 prefix length p is 96 + p in the shared address space. */
#define MX_V4_PLEN_BASE 96
/* Interfaces one set of pinned maps can serve; also the stats rows. */
#define MX_MAX_IFACES 64
/* Stats row for socket events (tracepoint, iterator): not an interface. */
#define MX_STATS_ROW_SOCK 0
/* Pending-SYN time slots; a pending SYN expires 3/4 to 4/4 of the timeout
 * after admission (see mx_limits.h). */
#define MX_PEND_SLOTS 4
/* Policy generations: the LPM and config are double-buffered so a reload
 * flips from one complete policy to the next in a single store. */
#define MX_GENERATIONS 2
/* Bytes of a reason word kept with a block or penalty, NUL included: the
 * longest [penalty] key, "unrecognized_commands", must fit. */
#define MX_REASON_LEN 24
/* Bytes of an interface name (IFNAMSIZ). */
#define MX_IFNAME_LEN 16

/* What a refused SYN gets. */
enum mx_action {
	MX_ACTION_DROP = 0,  /* XDP_DROP: the client retransmits, then times out */
	MX_ACTION_RESET = 1, /* XDP_TX of a TCP RST: the client fails at once */
};

/* A counted source or prefix: a counter's key. */
struct mx_key {
	__u32 addr[4]; /* masked to plen */
	__u32 plen;    /* prefix length in the shared space (0..128) */
};

/* Policy LPM key.  prefixlen counts the 32 generation bits plus the
 * address bits; the generation is always matched in full. */
struct mx_policy_key {
	__u32 prefixlen;
	__u32 gen;
	__u32 addr[4];
};

/* Sanction (block / penalty) LPM key. */
struct mx_sanction_key {
	__u32 prefixlen;
	__u32 addr[4];
};

/* mx_rule.flags */
#define MX_RULE_CONC_SHARED (1u << 0) /* explicit entry: one counter for all it matches */
#define MX_RULE_RATE_SHARED (1u << 1)
#define MX_RULE_ALLOW       (1u << 2) /* an explicit 0 matched: never sanctioned by a verdict */
#define MX_RULE_CONC_SET    (1u << 3) /* some lookup of [concurrency] matched (else unlimited) */
#define MX_RULE_RATE_SET    (1u << 4)

/*
 * The limits for a source, as the policy LPM returns them.  Userspace merges
 * every section's lookups into one trie, so one lookup answers for all
 * kernel sections.  A limit of 0 means unlimited.
 */
struct mx_rule {
	__u32 flags;
	__u32 conc_rule;   /* index of the [concurrency] lookup that matched */
	__u32 rate_rule;   /* index of the [rate_conn] lookup that matched */
	__u32 conc_limit;  /* concurrent connections; 0 = unlimited */
	__u32 conc_plen;   /* counter key: source masked to this length */
	__u32 rate_limit;  /* new connections per period; 0 = unlimited */
	__u32 rate_plen;
	__u32 wide_plen;         /* the wider level's prefix length (0: none) */
	__u64 rate_period_ns;
	__u64 rate_emission_ns;  /* GCRA emission interval: period / limit */
	__u64 rate_tolerance_ns; /* GCRA burst tolerance: period - emission */
	/* The wide level: a `default` source is also counted in its wider
	 * network (ipv4_wide_prefix / ipv6_wide_prefix), with these limits, so
	 * an attacker rotating through addresses of one network meets a limit
	 * however many addresses it has.  0 = no limit at that level. */
	__u32 wide_conc_limit;
	__u32 wide_rate_limit;
	__u64 wide_rate_period_ns;
	__u64 wide_rate_emission_ns;
	__u64 wide_rate_tolerance_ns;
};

/* mx_config.flags */
#define MX_CFG_BAD_CONC (1u << 0) /* [concurrency_history] bad applies to penalized sources */
#define MX_CFG_BAD_RATE (1u << 1) /* [rate_conn_history] bad applies to penalized sources */

/* One policy generation's global settings. */
struct mx_config {
	__u64 ports[1024];        /* bitmap of subject TCP destination ports */
	__u32 gen;                /* generation this config belongs to */
	__u32 action;             /* enum mx_action */
	__u32 v4_plen;            /* `default` aggregation, shared space (96 + ipv4_prefix) */
	__u32 v6_plen;            /* `default` aggregation for IPv6 */
	__u32 v4_wide_plen;       /* wide level (shared space), 0 = none; display only */
	__u32 v6_wide_plen;
	__u64 pending_timeout_ns; /* admitted SYN counts this long without handshake */
	__u64 pending_slot_ns;    /* pending_timeout_ns / MX_PEND_SLOTS */
	__u32 flags;              /* MX_CFG_* */
	__u32 bad_conc_limit;     /* limit while penalized (tier), 0 = refuse */
	__u32 bad_rate_limit;
	__u32 _pad;
	__u64 bad_rate_period_ns;
	__u64 bad_rate_emission_ns;
	__u64 bad_rate_tolerance_ns;
	/* gateway mode (struct mx_gw_flow): idle timeouts by port family */
	__u64 gw_idle_smtp_ns;    /* [main] flow_idle_smtp: 25 465 587 and others */
	__u64 gw_idle_imap_ns;    /* flow_idle_imap: 143 993 */
	__u64 gw_idle_pop_ns;     /* flow_idle_pop: 110 995 */
};

/* The live policy's ports, alone: what the fast path reads for every TCP
 * packet (one lookup instead of control word + config).  Written after the
 * generation flip; a port in both the old and the new policy is never seen
 * unset while it is rewritten, a port that changes is either. */
struct mx_ports {
	__u64 bits[1024];
};

/* The single control word: which generation is live, which optional
 * mechanisms `load` found the kernel allows (MX_FEAT_*; the datapath never
 * reads it), and a clock offset added to bpf_ktime_get_ns() so tests move
 * time without sleeping. */
struct mx_ctl {
	__u32 gen;
	__u32 features;
	__u64 clock_offset_ns;
};

/* mx_ctl.features: the implementation in use for each optional mechanism
 * (see loader.h).  MX_FEAT_KNOWN: a load recorded them. */
#define MX_FEAT_SEED_ITER  (1u << 0)  /* seeding: iter/tcp */
#define MX_FEAT_SEED_DIAG  (1u << 1)  /* seeding: sock_diag + raw_tp insert */
#define MX_FEAT_SWEEP      (1u << 2)  /* sweep: syscall program, for_each */
#define MX_FEAT_GATEWAY    (1u << 3)  /* gateway mode (no local sockets counted) */
#define MX_FEAT_GW_TIMER   (1u << 4)  /* gateway flow sweep: in-kernel bpf_timer */
#define MX_FEAT_GW_DAEMON  (1u << 5)  /* gateway flow sweep: run by the daemon */
#define MX_FEAT_KNOWN      (1u << 31)

/* The context of mx_seed_flow (raw_tp, run with BPF_PROG_TEST_RUN): one
 * ESTABLISHED socket as sock_diag reports it.  Raw tracepoint programs
 * read their context in u64 words only. */
struct mx_seed_ctx {
	__u64 cookie;
	__u64 saddr[2]; /* client (remote) address, 128-bit form */
	__u64 daddr[2]; /* our (local) address */
	__u64 ports_netns; /* sport | dport << 16 (network order) | netns << 32 */
};

/* Sanction penalty_limit special values. */
#define MX_PENALTY_REFUSE 0xffffffffu /* refuse every new connection */
#define MX_PENALTY_TIER   0xfffffffeu /* apply the config's "bad" tier */

/* mx_sanction.flags: which parts the entry's own prefix carries (the rest
 * is inherited from enclosing prefixes, merged in by userspace). */
#define MX_SANCTION_OWN_BLOCK   (1u << 0)
#define MX_SANCTION_OWN_PENALTY (1u << 1)

/*
 * A block and/or penalty for a prefix.  Times are CLOCK_MONOTONIC ns
 * (bpf_ktime_get_ns).  The datapath reads only the effective fields;
 * userspace keeps the own_* fields to recompute them when nested prefixes
 * change.
 */
struct mx_sanction {
	__u64 block_until_ns;     /* effective: 0 or expiry */
	__u64 penalty_until_ns;   /* effective */
	__u32 penalty_limit;      /* effective: cap, or MX_PENALTY_* */
	__u32 flags;              /* MX_SANCTION_OWN_* */
	__u64 own_block_until_ns;
	__u64 own_penalty_until_ns;
	__u32 own_penalty_limit;
	__u32 plen;               /* this entry's own prefix length (the LPM
				   * answers with a value, not the key it matched) */
	char block_reason[MX_REASON_LEN];
	char penalty_reason[MX_REASON_LEN];
};

/*
 * Blocklists (`mxlimit blocklist`): named sets of prefixes, merged by
 * userspace into one LPM trie whose value says which sets list the prefix.
 * A set's id is its bit.  The trie sits in slot 0 of mx_blocklist (an
 * array of maps): a reload of a set builds a complete new trie and swaps
 * it in with one update, so the datapath sees the old sets or the new,
 * never a half-built one; no set loaded leaves the slot empty.
 */
#define MX_BL_MAX_SETS 64            /* set ids are the bits of a __u64 */
#define MX_BL_MAX_PREFIXES 1048576u  /* distinct prefixes over all sets (kernel memory ~150 B each) */
#define MX_BL_NAME_LEN 32            /* a set's name, NUL included */
#define MX_BL_SOURCE_LEN 200         /* the file it was loaded from, NUL included (display) */

/* The trie's key: like a sanction's. */
struct mx_bl_key {
	__u32 prefixlen;
	__u32 addr[4];
};

/* The trie's value. */
struct mx_bl_entry {
	__u64 sets; /* effective: the sets listing this prefix or one enclosing it (datapath) */
	__u64 own;  /* the sets listing exactly this prefix (userspace rebuilds from it) */
};

/* A set, by id (mx_bl_sets).  Display and bookkeeping; the datapath
 * never reads it. */
struct mx_bl_set {
	char name[MX_BL_NAME_LEN];   /* "" = free id */
	__u32 prefixes;              /* distinct prefixes it lists */
	__u32 _pad;
	__u64 loaded_at;             /* Unix seconds */
	char source[MX_BL_SOURCE_LEN];
};

/* Established connections of one counted source (or wide network).
 * Created only when a handshake completes, so spoofed SYNs never fill the
 * preallocated map that holds these. */
struct mx_conc {
	__u32 established;
	__u32 rule;         /* conc_rule of the last event, for display */
	__u64 last_ns;      /* last open/close, for garbage collection */
};

/* Admitted SYNs of one source (or wide network) not yet established, in
 * time slots of (epoch << 32 | count). */
struct mx_pendcnt {
	__u64 pend[MX_PEND_SLOTS];
};

/* Soft state: a SYN-rate bucket and pending-SYN counts.  A sketch cell
 * (struct mx_cell) holds both for the keys that hash to it; an exact entry
 * in mx_src (a key that completed a handshake) holds its rate (tat_ns; its
 * pending SYNs stay in the sketch, pc unused there). */
struct mx_src {
	__u64 tat_ns;          /* GCRA theoretical arrival time; 0: no arrival yet */
	struct mx_pendcnt pc;  /* pending SYNs */
};

/*
 * The sketch: soft state of sources that have not completed a handshake
 * (bpf/mx_maps.h mx_sketch), MX_SKETCH_ROWS rows of W cells, a cell one
 * struct mx_src padded to a cache line.  A key's cell in row r is
 * mx_key_hash(key, r) % W, in the array at r * W + that.  Cells are shared
 * by the keys that hash to them, and a count or a GCRA time in a cell is
 * at least the one of each key there, so an estimate (the minimum over the
 * rows) is never below the truth: a collision only makes a limit stricter
 * (docs/BENCHMARKS.md gives the bound).
 */
#define MX_SKETCH_ROWS 2

struct mx_cell {
	struct mx_src s;
	__u64 _pad[3]; /* one cell, one cache line */
};

/* One hash for BPF and userspace (murmur3's finalizer over the key's
 * words; row r seeds it differently). */
static inline __attribute__((always_inline)) __u32 mx_key_hash(const struct mx_key *k, __u32 row)
{
	__u32 h = 0x9747b28cu + row * 0x9e3779b9u, w;
	int i;

#ifdef __bpf__
#pragma unroll
#endif
	for (i = 0; i < 5; i++) {
		w = i < 4 ? k->addr[i] : k->plen;
		w *= 0xcc9e2d51u;
		w = (w << 15) | (w >> 17);
		w *= 0x1b873593u;
		h ^= w;
		h = (h << 13) | (h >> 19);
		h = h * 5 + 0xe6546b64u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* The pending-slot rule, one copy for the XDP program and the controller:
 * a slot counts while its epoch is less than MX_PEND_SLOTS behind the
 * current one (bpf/mx_limits.h explains the slots). */
static inline __attribute__((always_inline)) int mx_epoch_live(__u32 slot_epoch, __u32 epoch)
{
	return (__u32)(epoch - slot_epoch) < MX_PEND_SLOTS;
}

/* The SYNs pending in the live slots of c at `epoch`. */
static inline __attribute__((always_inline)) __u32 mx_pending_live(const struct mx_pendcnt *c,
								  __u32 epoch)
{
	__u32 sum = 0;
	int i;

#ifdef __bpf__
#pragma unroll
#endif
	for (i = 0; i < MX_PEND_SLOTS; i++) {
		__u64 v = c->pend[i];

		if (mx_epoch_live((__u32)(v >> 32), epoch))
			sum += (__u32)v;
	}
	return sum;
}

/* The sketch's estimates for a key from its cells (one per row): the
 * minimum, never below the key's own count or GCRA time. */
static inline __attribute__((always_inline)) __u32 mx_sketch_pending(const struct mx_cell *c0,
								    const struct mx_cell *c1,
								    __u32 epoch)
{
	__u32 a = mx_pending_live(&c0->s.pc, epoch), b = mx_pending_live(&c1->s.pc, epoch);

	return a < b ? a : b;
}

static inline __attribute__((always_inline)) __u64 mx_sketch_tat(const struct mx_cell *c0,
								 const struct mx_cell *c1)
{
	__u64 a = c0->s.tat_ns, b = c1->s.tat_ns;

	return a < b ? a : b;
}

/* The port bitmap of mx_config.ports (host-order ports), for userspace;
 * the BPF side has its own copy with the index bounded for the verifier
 * (bpf/mx_ctl.h mx_port_bit). */
static inline void mx_port_set(__u64 *ports, unsigned port)
{
	ports[(port >> 6) & 1023] |= 1ULL << (port & 63);
}

static inline int mx_port_isset(const __u64 *ports, unsigned port)
{
	return (ports[(port >> 6) & 1023] >> (port & 63)) & 1;
}

/* The GCRA parameters of "limit per period" (bpf/mx_limits.h): one
 * arrival per emission interval, a burst of up to limit within the
 * tolerance.  Userspace writes them into rules and config; one formula. */
static inline void mx_gcra_params(__u64 period_ns, __u32 limit, __u64 *emission_ns,
				  __u64 *tolerance_ns)
{
	*emission_ns = period_ns / limit;
	*tolerance_ns = period_ns - *emission_ns;
}

/* A TCP flow, client side first.  netns is the socket's network
 * namespace inode in connection records, 0 in pending records (XDP cannot
 * see it) and as the pending map's key. */
struct mx_flow_key {
	__u32 saddr[4]; /* client (remote) */
	__u32 daddr[4]; /* server (local) */
	__u16 sport;    /* client port, network order */
	__u16 dport;    /* server port, network order */
	__u32 netns;
};

/* mx_pending.flags / mx_conn.flags */
#define MX_FLOW_WIDE (1u << 0) /* also counted at wide_key */
#define MX_FLOW_NOSLOT (1u << 1) /* gateway: no pending slot was reserved
				  * (contention: failed open), none to give back */

/* An admitted SYN waiting for its handshake. */
struct mx_pending {
	struct mx_key key;      /* the counter it reserved a slot in */
	struct mx_key wide_key; /* and its wide level's, with MX_FLOW_WIDE */
	__u32 epoch;            /* pending time slot it was counted in */
	__u32 rule;
	__u32 flags;
	__u32 rate_plen;        /* the rate key's length: its exact entry is made
				 * at the handshake too (0: no rate limit) */
};

/* A counted (established) connection, keyed by its socket cookie: at the
 * moment a socket leaves ESTABLISHED for CLOSE the kernel has already
 * released its local port, so a 4-tuple could not find the record. */
struct mx_conn {
	struct mx_key key;       /* the counter it incremented */
	struct mx_key wide_key;  /* and its wide level's, with MX_FLOW_WIDE */
	__u32 rule;
	__u32 flags;
	__u64 since_ns;
	struct mx_flow_key flow; /* for display (top, query) */
	__u32 sweep;             /* last sweep that found its socket ESTABLISHED */
	__u32 _pad;
};

/*
 * The reconciliation sweep.  The kernel skips a tracing program's run
 * when the same program is already running on that CPU (a softirq closing
 * a socket while the program runs for another socket in process context:
 * bpf_prog_info.recursion_misses), so a close can be missed and its record
 * left behind.  A sweep marks every record whose socket is still
 * ESTABLISHED (the seeding pass: iter/tcp, or sock_diag through
 * mx_seed_flow) and then removes the records of this
 * namespace that are older than the sweep and unmarked, decrementing
 * through the same checked delete, so each connection is still counted
 * down exactly once.
 */
struct mx_sweep {
	__u32 gen;      /* current sweep */
	__u32 netns;    /* the namespace being swept */
	__u64 start_ns; /* records younger than this are left alone */
};

/* mx_iface.mode */
enum mx_xdp_mode {
	MX_MODE_AUTO = 0,
	MX_MODE_NATIVE = 1,
	MX_MODE_GENERIC = 2,
};

/* An attached interface (row index = its stats row, 1..MX_MAX_IFACES-1). */
struct mx_iface {
	__u32 ifindex; /* 0: free row */
	__u32 netns;   /* netns inode the interface lives in */
	__u32 mode;    /* enum mx_xdp_mode actually in use */
	__u32 prog_id;
	__u32 role;    /* enum mx_role */
	__u32 _pad;
	__u64 attached_ns;
	char name[MX_IFNAME_LEN];
};

/* ---- gateway mode ----
 * On a router in front of the mail servers there are no local sockets:
 * a flow counts from a handshake proven through the gateway (SYN in on a
 * client-facing interface, SYN-ACK back on a server-facing one, the
 * client's ACK acknowledging the server's sequence number) until its first
 * FIN or RST, or idle expiry (docs/gateway.md).
 */

/* The role of an XDP program instance (set per interface at load). */
enum mx_role {
	MX_ROLE_LOCAL = 0,  /* local mode: the sockets of this host count */
	MX_ROLE_CLIENT = 1, /* gateway: faces the clients (admission, ACKs) */
	MX_ROLE_SERVER = 2, /* gateway: faces the mail servers (SYN-ACKs) */
};

/* mx_gw_pending.stage */
#define MX_GW_SYN    1 /* admitted SYN seen */
#define MX_GW_SYNACK 2 /* the server's SYN-ACK acknowledged it */

/* A handshake in progress through the gateway, by flow (netns 0).  LRU:
 * a SYN flood only churns these; they never hold a counted slot beyond
 * the pending timeout. */
struct mx_gw_pending {
	struct mx_pending adm; /* what admission reserved */
	__u32 client_isn;
	__u32 server_isn;      /* valid from MX_GW_SYNACK */
	__u32 syn_len;         /* sequence space of the SYN's payload (TFO) */
	__u32 stage;
	__u64 syn_ns;
};

/* mx_gw_flow.state */
#define MX_GW_EST     1 /* counted */
#define MX_GW_CLOSING 2 /* counted down (FIN, RST or expiry); lingers */

/* A counted flow through the gateway, by flow (netns 0).  Preallocated
 * HASH: created only when a handshake is proven, never evicted; when full
 * a new flow passes uncounted (stats gw_flows_full). */
struct mx_gw_flow {
	struct mx_key key;      /* the counter it incremented */
	struct mx_key wide_key; /* and its wide level's, with MX_FLOW_WIDE */
	__u32 rule;
	__u32 flags;
	__u32 state;            /* MX_GW_*; moved by compare-and-swap */
	__u32 _pad;
	__u64 idle_ns;          /* idle timeout of its port family */
	__u64 since_ns;
	__u64 last_ns;          /* last packet (refreshed at most once a second) */
};

/* Seconds a closed flow's entry stays (duplicate FINs/RSTs find it). */
#define MX_GW_LINGER_NS (10ULL * 1000000000ULL)
/* The in-kernel sweep's period. */
#define MX_GW_GC_PERIOD_NS (2ULL * 1000000000ULL)

/* The sweep's timer and its last results (one element). */
struct mx_gw_gc {
	struct bpf_timer timer;
	__u64 runs;
	__u64 last_ns;
	__u32 expired; /* in the last run */
	__u32 freed;
};

#endif /* MX_TYPES_H */
