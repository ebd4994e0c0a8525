/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_account.h - concurrency from the kernel's own view of connections.
 *
 * A connection counts from the moment its socket reaches ESTABLISHED after
 * SYN_RECV (an inbound handshake completed: spoofed packets never get
 * here) until the socket leaves ESTABLISHED by any path.  Both edges go
 * through one connection record: the count moves up only when the record
 * is inserted (NOEXIST) and down only when it is deleted, so each
 * connection is counted exactly once whichever program (tracepoint,
 * seeding pass, an old and a new tracepoint during replacement) sees
 * it first.
 */
#ifndef MX_ACCOUNT_H
#define MX_ACCOUNT_H

#include "mx_limits.h"

static __always_inline __u32 mx_sock_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* The flow key as XDP saw the SYN: client first.  Returns -1 for a
 * family we do not count. */
static __always_inline int mx_sock_flow(const struct sock *sk, struct mx_flow_key *fk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET_) {
		mx_map_v4(fk->saddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
		mx_map_v4(fk->daddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
	} else if (family == AF_INET6_) {
		/* v4 clients of a dual-stack listener are already ::ffff:a.b.c.d */
		BPF_CORE_READ_INTO(&fk->saddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32);
		BPF_CORE_READ_INTO(&fk->daddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32);
	} else {
		return -1;
	}
	fk->sport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	fk->dport = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
	fk->netns = 0;
	return 0;
}

/* The counters a connection without a pending record counts in (seeded,
 * or its record was evicted or NATed away): from the live rule. */
static __always_inline int mx_conn_keys(const struct mx_config *cfg, const struct mx_flow_key *fk,
					struct mx_conn *conn)
{
	struct mx_rule *r = mx_rule_lookup(cfg->gen, fk->saddr);

	if (!r)
		return -1; /* no policy loaded */
	mx_make_key(&conn->key, fk->saddr, r->conc_plen);
	conn->rule = r->conc_rule;
	if (r->wide_plen && r->wide_conc_limit) {
		mx_make_key(&conn->wide_key, fk->saddr, r->wide_plen);
		conn->flags = MX_FLOW_WIDE;
	}
	return 0;
}

/* Count one more established connection at k. 0 = counted. */
static __always_inline int mx_conc_inc(const struct mx_key *k, __u32 rule, __u64 now,
				       struct mx_stats *s)
{
	struct mx_conc *c = mx_conc_get(k, now);

	if (!c) {
		MX_STAT_INC(s, conc_map_full);
		return -1;
	}
	__sync_fetch_and_add(&c->established, 1);
	c->last_ns = now;
	c->rule = rule;
	return 0;
}

static __always_inline void mx_conc_put(const struct mx_key *k, __u64 now, struct mx_stats *s)
{
	struct mx_conc *c = bpf_map_lookup_elem(&mx_conc, k);

	if (!c) {
		MX_STAT_INC(s, underflow);
		return;
	}
	mx_conc_dec(c, s);
	c->last_ns = now;
}

/* The sweep generation a record made now carries. */
static __always_inline __u32 mx_sweep_gen(void)
{
	__u32 zero = 0;
	struct mx_sweep *sw = bpf_map_lookup_elem(&mx_sweep, &zero);

	return sw ? sw->gen : 0;
}

/*
 * An inbound connection reached ESTABLISHED (or exists at seeding time):
 * fk is its flow as XDP saw the SYN (netns 0), lport its local port (host
 * order).  `seeding` marks the seeding pass (iter/tcp or sock_diag), which
 * finds no pending record by design, and marks a record it finds as seen
 * by the current sweep.  The counters move only if the connection record
 * is inserted here, and the wide level only if its counter could be had
 * first, so the record says exactly what to give back at close.
 */
static __always_inline int mx_conn_subject(const struct mx_config *cfg, __u16 lport, __u32 netns)
{
	return mx_port_subject(cfg, lport) && bpf_map_lookup_elem(&mx_netns, &netns);
}

/* The caller checked mx_conn_subject() against this cfg. */
static __always_inline void mx_conn_open_flow(const struct mx_config *cfg,
					      const struct mx_ctl *ctl,
					      const struct mx_flow_key *fk, __u32 netns,
					      __u64 cookie, int seeding)
{
	struct mx_stats *s = mx_stats_row(MX_STATS_ROW_SOCK);
	struct mx_pending pend = {};
	struct mx_conn conn = {};
	struct mx_pending *pp;
	struct mx_conn *old;
	__u64 now;
	int have_pend = 0;

	if (seeding) {
		old = bpf_map_lookup_elem(&mx_conns, &cookie);
		if (old) {
			old->sweep = mx_sweep_gen();
			return;
		}
	}
	now = mx_now(ctl);

	pp = bpf_map_lookup_elem(&mx_pending, fk); /* netns 0: as XDP wrote it */
	if (pp) {
		pend = *pp;
		have_pend = 1;
		conn.key = pend.key;
		conn.wide_key = pend.wide_key;
		conn.rule = pend.rule;
		conn.flags = pend.flags & MX_FLOW_WIDE;
	} else {
		if (mx_conn_keys(cfg, fk, &conn))
			return;
		if (!seeding)
			MX_STAT_INC(s, pending_lost);
	}
	conn.since_ns = now;
	conn.flow = *fk;
	conn.flow.netns = netns;

	if (!mx_conc_get(&conn.key, now)) {
		MX_STAT_INC(s, conc_map_full);
		goto release;
	}
	if ((conn.flags & MX_FLOW_WIDE) && !mx_conc_get(&conn.wide_key, now)) {
		MX_STAT_INC(s, conc_map_full);
		conn.flags &= ~MX_FLOW_WIDE;
	}
	conn.sweep = mx_sweep_gen();
	if (bpf_map_update_elem(&mx_conns, &cookie, &conn, BPF_NOEXIST)) {
		if (!bpf_map_lookup_elem(&mx_conns, &cookie))
			MX_STAT_INC(s, conn_map_full);
		goto release; /* already counted (seeding raced), or no room */
	}
	mx_conc_inc(&conn.key, conn.rule, now, s);
	if (conn.flags & MX_FLOW_WIDE)
		mx_conc_inc(&conn.wide_key, conn.rule, now, s);
	/* A completed handshake: from now on the source's rate and pending
	 * SYNs are counted exactly, in entries made here (mx_limits.h). */
	mx_src_make(&conn.key);
	if (have_pend && pend.wide_key.plen)
		mx_src_make(&pend.wide_key);
	else if (conn.flags & MX_FLOW_WIDE)
		mx_src_make(&conn.wide_key);
	if (have_pend && pend.rate_plen && pend.rate_plen != pend.key.plen) {
		struct mx_key rk;

		mx_make_key(&rk, fk->saddr, pend.rate_plen);
		mx_src_make(&rk);
	}
	if (seeding)
		MX_STAT_INC(s, conn_seeded);
	else
		MX_STAT_INC(s, conn_open);
release:
	/* Established now counts it: release the pending slots (after the
	 * increment, so the total never dips below the truth). */
	if (have_pend && bpf_map_delete_elem(&mx_pending, fk) == 0) {
		mx_pend_release_key(&pend.key, pend.epoch, s);
		if (pend.flags & MX_FLOW_WIDE)
			mx_pend_release_key(&pend.wide_key, pend.epoch, s);
	}
}

/* The same from a socket (the tracepoint, the iter/tcp seeding). */
static __always_inline void mx_conn_open(const struct sock *sk, int seeding)
{
	const struct mx_ctl *ctl = 0;
	const struct mx_config *cfg = mx_live_config(&ctl);
	struct mx_flow_key fk = {};
	__u32 netns;

	if (!cfg || !ctl)
		return;
	netns = mx_sock_netns(sk);
	if (!mx_conn_subject(cfg, BPF_CORE_READ(sk, __sk_common.skc_num), netns))
		return;
	if (mx_sock_flow(sk, &fk))
		return;
	mx_conn_open_flow(cfg, ctl, &fk, netns, bpf_get_socket_cookie((void *)sk), seeding);
}

/* Count a connection down once: only the caller whose delete of the
 * record succeeds gives back what the record says it took. */
static __always_inline int mx_conn_release(__u64 cookie, const struct mx_conn *conn, __u64 now,
					   struct mx_stats *s)
{
	if (bpf_map_delete_elem(&mx_conns, &cookie))
		return -1; /* another program deleted it and decremented */
	mx_conc_put(&conn->key, now, s);
	if (conn->flags & MX_FLOW_WIDE)
		mx_conc_put(&conn->wide_key, now, s);
	return 0;
}

/* A socket left ESTABLISHED.  Counted only if we hold its record. */
static __always_inline void mx_conn_close(const struct sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	const struct mx_ctl *ctl = 0;
	struct mx_stats *s;
	struct mx_conn *cp;
	struct mx_conn conn;
	__u64 now = 0;

	cp = bpf_map_lookup_elem(&mx_conns, &cookie);
	if (!cp)
		return;
	conn = *cp;
	s = mx_stats_row(MX_STATS_ROW_SOCK);
	if (mx_live_config(&ctl) && ctl)
		now = mx_now(ctl);
	if (mx_conn_release(cookie, &conn, now, s) == 0)
		MX_STAT_INC(s, conn_close);
}

#endif
