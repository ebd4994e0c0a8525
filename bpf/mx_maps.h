/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_maps.h - every map, in one place.  All are pinned by name in the pin
 * dir, so each interface's XDP program, the socket-state tracepoint and the
 * seeding iterator share one set, and state survives program replacement.
 * Sizes here are defaults; the loader sets them from [main] before the
 * maps are first created.
 */
#ifndef MX_MAPS_H
#define MX_MAPS_H

#include "mx_types.h"

/* Live generation and test clock offset.  Written by userspace (reload). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mx_ctl);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_ctl SEC(".maps");

/* Global settings, one per generation.  Written by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MX_GENERATIONS);
	__type(key, __u32);
	__type(value, struct mx_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_config SEC(".maps");

/* The live ports bitmap for the fast path (mx_types.h), as global data:
 * the program reads it with a plain load from an address fixed at load
 * time, no helper call and no bounds check (a map lookup costs the
 * non-mail path ~1-2 ns over the parse; docs/BENCHMARKS.md).  Its own
 * section makes it a map of its own, which the loader pins as mx_ports
 * (loader.c), so every interface's program shares one copy and a reload
 * writes it once.  Userspace writes it after the generation flip. */
struct mx_ports mx_ports_live SEC(".data.ports");

/* Non-zero while mx_sanctions may hold an entry: userspace raises it after
 * every write there and clears it only when it finds the trie empty
 * (user/mxlimit/maps.c mx_sanctions_settle), so a SYN skips the sanctions
 * lookup when none are loaded.  Global data like the ports, pinned as
 * mx_sanctseq. */
__u64 mx_sanctions_seq SEC(".data.sanct");

/* Merged [concurrency] + [rate_conn] rules by source prefix, both
 * generations.  Written by userspace only, so a flood cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mx_policy_key);
	__type(value, struct mx_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_policy SEC(".maps");

/* Blocks and penalties by prefix.  Written by userspace only (commands,
 * verdicts); expiry is checked here, so no daemon is needed to lift them. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mx_sanction_key);
	__type(value, struct mx_sanction);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_sanctions SEC(".maps");

/* Blocklists: slot 0 holds the merged LPM trie of every loaded set
 * (struct mx_bl_entry), empty when none is loaded.  Userspace builds a
 * whole new trie and swaps the slot: an atomic replace (mx_types.h).  The
 * inner definition is only the template new tries must match (type, key,
 * value, flags; an LPM inner map's size may differ). */
struct mx_bl_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	/* sizes, not types: clang emits only a forward declaration of a
	 * struct an inner map alone names, and libbpf cannot size that */
	__uint(key_size, sizeof(struct mx_bl_key));
	__uint(value_size, sizeof(struct mx_bl_entry));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct mx_bl_trie);
} mx_blocklist SEC(".maps");

/* The sets by id: name, size, load time, source.  Userspace only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MX_BL_MAX_SETS);
	__type(key, __u32);
	__type(value, struct mx_bl_set);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_bl_sets SEC(".maps");

/* SYNs refused per set id (a source listed by two sets counts in both).
 * XDP; userspace zeroes an id when a new set takes it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MX_BL_MAX_SETS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_bl_hits SEC(".maps");

/* Established-connection counters by counted source (and wide network).
 * Preallocated HASH: never evicted, so a count is never silently lost;
 * created only by the tracepoint when a handshake completes, so spoofed
 * SYNs cannot fill it; when full, new sources' connections pass uncounted
 * (stats conc_map_full).  Idle zero entries are removed by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mx_key);
	__type(value, struct mx_conc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_conc SEC(".maps");

/* Counted connections by socket cookie: inserted (NOEXIST) by the
 * tracepoint when a socket reaches ESTABLISHED, deleted when it leaves; a
 * counter moves only on a successful insert / delete, so each connection
 * counts exactly once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct mx_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_conns SEC(".maps");

/* Exact per-source state (struct mx_src: GCRA bucket + pending-SYN counts)
 * by counted source, wide network, or rate key, of sources that completed
 * a handshake: created by the tracepoint then (seeded from the sketch),
 * used by XDP from then on.  Spoofed SYNs never create one.  LRU: an
 * evicted entry refills a budget and forgets SYNs still in flight
 * (bounded, README "Accounting"); the source falls back to the sketch. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct mx_key);
	__type(value, struct mx_src);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_src SEC(".maps");

/* The sketch (include/mx_types.h): the rate and pending state of sources
 * that have not completed a handshake, MX_SKETCH_ROWS rows of
 * mx_sketch_w cells.  Preallocated and fixed: a flood of fresh sources
 * allocates nothing and evicts nobody; it can only make the limits of the
 * sources it collides with stricter.  Written by XDP, pending released by
 * the tracepoint.  The loader sizes it (2 x max_rate_sources). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MX_SKETCH_ROWS * 262144);
	__type(key, __u32);
	__type(value, struct mx_cell);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_sketch SEC(".maps");

/* Cells per row (max_entries / MX_SKETCH_ROWS), set by the loader. */
const volatile __u32 mx_sketch_w = 262144;

/* Admitted SYNs awaiting their handshake, by 4-tuple.  Written by XDP,
 * deleted by the tracepoint.  LRU: an evicted record only lets its slot
 * expire on time instead of being released early. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mx_flow_key);
	__type(value, struct mx_pending);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_pending SEC(".maps");

/* The current reconciliation sweep (mx_types.h).  Userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mx_sweep);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_sweep SEC(".maps");

/* Counters by reason; row 0 socket events, rows 1.. one per interface. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MX_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct mx_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_stats SEC(".maps");

/* Network namespaces (inode) with an attached interface -> how many.
 * Written by userspace; the tracepoint counts only sockets in these. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MX_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_netns SEC(".maps");

/* Attached interfaces, by stats row.  Written by userspace, for status. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MX_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct mx_iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_ifaces SEC(".maps");

/* ---- gateway mode (include/mx_types.h, bpf/mx_gateway.h) ---- */

/* The protected mail servers ([main] servers), both generations: key as
 * mx_policy's.  Written by userspace only. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mx_policy_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_gw_servers SEC(".maps");

/* Handshakes in progress, by flow.  LRU: a spoofed flood churns it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mx_flow_key);
	__type(value, struct mx_gw_pending);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_gw_pending SEC(".maps");

/* Counted flows, by flow.  Preallocated, never evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mx_flow_key);
	__type(value, struct mx_gw_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_gw_flows SEC(".maps");

/* Room to build a handshake record off the stack (the SYN path's call
 * chain is near the verifier's 512-byte stack bound).  Per CPU, not
 * pinned: scratch. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mx_gw_pending);
} mx_gw_scratch SEC(".maps");

/* The in-kernel sweep's timer (struct mx_gw_gc). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mx_gw_gc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mx_gw_gc SEC(".maps");

#endif
