/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_ctl.h - what every program reads first: the live configuration of
 * the current generation, the clock, the per-CPU stats row, and the port
 * bitmap.  (XDP, the socket-state tracepoint and the seeding and sweep
 * programs all start here.)
 */
#ifndef MX_CTL_H
#define MX_CTL_H

#include "mx_maps.h"

static __always_inline const struct mx_config *mx_live_config(const struct mx_ctl **ctlp)
{
	__u32 zero = 0, gen;
	const struct mx_ctl *ctl = bpf_map_lookup_elem(&mx_ctl, &zero);

	if (!ctl)
		return 0;
	*ctlp = ctl;
	gen = ctl->gen & (MX_GENERATIONS - 1);
	return bpf_map_lookup_elem(&mx_config, &gen);
}

/* CLOCK_MONOTONIC, as userspace writes expiries.  (The coarse clock would
 * save ~14 ns per SYN, but tracing programs may not use it, and a
 * nanosecond clock keeps every program and the tests on one timeline.) */
static __always_inline __u64 mx_now(const struct mx_ctl *ctl)
{
	return bpf_ktime_get_ns() + ctl->clock_offset_ns;
}

static __always_inline struct mx_stats *mx_stats_row(__u32 row)
{
	return bpf_map_lookup_elem(&mx_stats, &row);
}

#define MX_STAT_INC(s, field) \
	do { if (s) (s)->field++; } while (0)

/* Is port (host order) set in a bitmap like mx_config.ports? */
static __always_inline int mx_port_bit(const __u64 *bits, __u16 port_host)
{
	return (bits[(port_host >> 6) & 1023] >> (port_host & 63)) & 1;
}

static __always_inline int mx_port_subject(const struct mx_config *cfg, __u16 port_host)
{
	return mx_port_bit(cfg->ports, port_host);
}

#endif
