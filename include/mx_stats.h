/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_stats.h - the per-CPU counters, by reason.
 *
 * One list generates the struct (named fields, so bpftool prints names),
 * the names userspace prints and the metrics it exports.
 *   X(field, "help text")
 */
#ifndef MX_STATS_H
#define MX_STATS_H

#define MX_STATS_FIELDS(X)                                                          \
	X(packets, "packets seen by the XDP program")                               \
	X(subject, "TCP packets to a mail port")                                    \
	X(syn, "SYNs to a mail port")                                               \
	X(syn_retransmit, "retransmitted SYNs of an admitted flow (not counted again)") \
	X(admitted, "SYNs admitted")                                                \
	X(refused_block, "SYNs refused: source blocked")                            \
	X(refused_blocklist, "SYNs refused: source in a loaded blocklist")          \
	X(refused_penalty, "SYNs refused: source penalized")                        \
	X(refused_rate, "SYNs refused: over the connection rate")                   \
	X(refused_conc, "SYNs refused: over the concurrency limit")                 \
	X(refused_frag, "first fragments refused: SYN or cut TCP header in a fragment") \
	X(refused_exthdr, "IPv6 packets refused: extension chain longer than walked") \
	X(parse_fail, "packets that failed to parse (passed)")                      \
	X(nonfirst_frag, "non-first IP fragments (passed)")                         \
	X(rst_sent, "TCP resets sent (action reset)")                               \
	X(rst_fail, "resets that could not be built (dropped instead)")             \
	X(conc_map_full, "new sources not counted: concurrency map full (passed)")  \
	X(conn_map_full, "connections not counted: connection map full")           \
	X(rate_new, "SYNs rated in the sketch (sources before their first handshake)")                \
	X(conn_open, "inbound mail connections established (counted)")             \
	X(conn_close, "counted connections closed")                                 \
	X(conn_seeded, "existing connections counted at load")                      \
	X(pending_lost, "established without their pending record (evicted, expired or NATed)") \
	X(underflow, "decrements that found a zero count (should stay 0)")          \
	X(conn_swept, "connections counted down by the sweep (their close was missed)") \
	X(contention, "atomic updates given up after retries")                      \
	X(gw_synack, "gateway: SYN-ACKs that acknowledged an admitted SYN")         \
	X(gw_synack_bad, "gateway: SYN-ACKs with no admitted SYN or a wrong ack (ignored)") \
	X(gw_established, "gateway: handshakes proven (flows counted)")            \
	X(gw_ack_bad, "gateway: handshake ACKs with a wrong ack number (ignored)") \
	X(gw_flows_full, "gateway: flows not counted: flow table full (passed)")   \
	X(gw_closed, "gateway: counted flows closed by FIN or RST")                \
	X(gw_close_dup, "gateway: FINs/RSTs of an already closed flow (nothing moved)") \
	X(gw_expired, "gateway: counted flows expired idle")                       \
	X(gw_aborted, "gateway: handshakes reset before completion (slot released)")

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct mx_stats {
#define MX_STATS_X_FIELD(name, help) __u64 name;
	MX_STATS_FIELDS(MX_STATS_X_FIELD)
#undef MX_STATS_X_FIELD
};

#endif /* MX_STATS_H */
