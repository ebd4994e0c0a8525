/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_gateway.h - gateway mode: concurrency from packets, on a router in
 * front of the mail servers (no local sockets to watch).
 *
 * A flow counts only when its handshake is proven through the gateway:
 *   1. an admitted SYN entered a client-facing interface (mx_judge_syn
 *      reserved a pending slot and wrote a mx_gw_pending record, stage SYN);
 *   2. a SYN-ACK came back on a server-facing interface acknowledging that
 *      SYN (stage SYNACK, the server's ISN kept);
 *   3. the client's ACK, on a client-facing interface, acknowledges the
 *      server's ISN: a blind spoofer would have to guess 32 bits.
 * Then the flow is inserted (NOEXIST) in the preallocated mx_gw_flows and
 * only that insert moves the counter up.  It is counted down once: the
 * first FIN or RST from either side, or idle expiry, moves its state out of
 * EST by compare-and-swap and only the winner decrements.  A closed entry
 * lingers MX_GW_LINGER_NS so retransmitted FINs and RSTs find it and change
 * nothing, then the sweep deletes it.
 *
 * The sweep (expiry and linger) deletes only entries it moved to DEAD
 * itself, by compare-and-swap: a delete by key can then never remove a
 * live, counted entry (a new flow on the same 4-tuple revives a CLOSING
 * entry instead of replacing it).
 */
#ifndef MX_GATEWAY_H
#define MX_GATEWAY_H

#include "mx_account.h"

/* mx_gw_flow.state beyond mx_types.h's: transient and final. */
#define MX_GW_DEAD 3 /* the sweep owns it: about to be deleted */
#define MX_GW_INIT 4 /* being revived by a new handshake on its 4-tuple */

/* Refresh a flow's last_ns at most this often (a write per packet would
 * bounce its cache line between CPUs). */
#define MX_GW_REFRESH_NS 1000000000ULL

static __always_inline int mx_gw_server(__u32 gen, const __u32 *addr)
{
	struct mx_policy_key k = { .prefixlen = 32 + 128, .gen = gen };

	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&mx_gw_servers, &k) != 0;
}

/* The idle timeout of a port's family (host order). */
static __always_inline __u64 mx_gw_idle(const struct mx_config *cfg, __u16 port)
{
	if (port == 143 || port == 993)
		return cfg->gw_idle_imap_ns;
	if (port == 110 || port == 995)
		return cfg->gw_idle_pop_ns;
	return cfg->gw_idle_smtp_ns;
}

/* The flow key of a packet: client side first whichever way it goes. */
static __always_inline void mx_gw_flow_key(const struct mx_pkt *p, int from_client,
					   struct mx_flow_key *fk)
{
	if (from_client) {
		__builtin_memcpy(fk->saddr, p->saddr, 16);
		__builtin_memcpy(fk->daddr, p->daddr, 16);
		fk->sport = p->sport;
		fk->dport = p->dport;
	} else {
		__builtin_memcpy(fk->saddr, p->daddr, 16);
		__builtin_memcpy(fk->daddr, p->saddr, 16);
		fk->sport = p->dport;
		fk->dport = p->sport;
	}
	fk->netns = 0;
}

/* Give back the pending slots a handshake record reserved. */
static __always_inline void mx_gw_release_slots(const struct mx_gw_pending *gp,
						struct mx_stats *s)
{
	if (gp->adm.flags & MX_FLOW_NOSLOT)
		return;
	mx_pend_release_key(&gp->adm.key, gp->adm.epoch, s);
	if (gp->adm.flags & MX_FLOW_WIDE)
		mx_pend_release_key(&gp->adm.wide_key, gp->adm.epoch, s);
}

/* Drop a handshake record; only the caller whose delete succeeds gives
 * its slots back. */
static __always_inline int mx_gw_pending_drop(const struct mx_flow_key *fk,
					      const struct mx_gw_pending *gp, struct mx_stats *s)
{
	struct mx_gw_pending copy = *gp;

	if (bpf_map_delete_elem(&mx_gw_pending, fk))
		return -1;
	mx_gw_release_slots(&copy, s);
	return 0;
}

/* Count a flow down once: the caller whose compare-and-swap moves it out
 * of EST.  0 = this caller did. */
static __always_inline int mx_gw_flow_end(struct mx_gw_flow *f, __u32 to, __u64 now,
					  struct mx_stats *s)
{
	if (__sync_val_compare_and_swap(&f->state, MX_GW_EST, to) != MX_GW_EST)
		return -1;
	mx_conc_put(&f->key, now, s);
	if (f->flags & MX_FLOW_WIDE)
		mx_conc_put(&f->wide_key, now, s);
	f->last_ns = now;
	return 0;
}

/* Fill a flow from its handshake record. */
static __always_inline void mx_gw_flow_fill(struct mx_gw_flow *f, const struct mx_gw_pending *gp,
					    const struct mx_config *cfg,
					    const struct mx_flow_key *fk, __u64 now)
{
	f->key = gp->adm.key;
	f->wide_key = gp->adm.wide_key;
	f->rule = gp->adm.rule;
	f->flags = gp->adm.flags & MX_FLOW_WIDE;
	f->idle_ns = mx_gw_idle(cfg, bpf_ntohs(fk->dport));
	f->since_ns = now;
	f->last_ns = now;
}

/* Have the counters f will increment (created here: a handshake is
 * proven).  Returns -1 when the main counter cannot be had (map full). */
static __always_inline int mx_gw_counters(struct mx_gw_flow *f, __u64 now, struct mx_stats *s)
{
	if (!mx_conc_get(&f->key, now)) {
		MX_STAT_INC(s, conc_map_full);
		return -1;
	}
	if ((f->flags & MX_FLOW_WIDE) && !mx_conc_get(&f->wide_key, now)) {
		MX_STAT_INC(s, conc_map_full);
		f->flags &= ~MX_FLOW_WIDE;
	}
	return 0;
}

/* Count the flow up; a proven handshake also makes the source's exact
 * entries (rate and pending from now on exact, seeded from the sketch:
 * mx_limits.h), as the tracepoint does in local mode. */
static __always_inline void mx_gw_count_up(const struct mx_gw_flow *f,
					   const struct mx_gw_pending *gp,
					   const struct mx_flow_key *fk, __u64 now,
					   struct mx_stats *s)
{
	mx_conc_inc(&f->key, f->rule, now, s);
	if (f->flags & MX_FLOW_WIDE)
		mx_conc_inc(&f->wide_key, f->rule, now, s);
	mx_src_make(&f->key);
	if (gp->adm.wide_key.plen)
		mx_src_make(&gp->adm.wide_key);
	if (gp->adm.rate_plen && gp->adm.rate_plen != gp->adm.key.plen) {
		struct mx_key rk;

		mx_make_key(&rk, fk->saddr, gp->adm.rate_plen);
		mx_src_make(&rk);
	}
	MX_STAT_INC(s, gw_established);
}

/*
 * The handshake is proven: count the flow (once: the NOEXIST insert, or
 * the compare-and-swap reviving a closed entry of the same 4-tuple), then
 * give back its pending slots (after the increment, so the total never
 * dips below the truth).
 */
static __always_inline void mx_gw_establish(const struct mx_config *cfg,
					    const struct mx_flow_key *fk,
					    const struct mx_gw_pending *gp, __u64 now,
					    struct mx_stats *s)
{
	struct mx_gw_flow f = {};
	struct mx_gw_flow *old;
	long rc;

	mx_gw_flow_fill(&f, gp, cfg, fk, now);
	old = bpf_map_lookup_elem(&mx_gw_flows, fk);
	if (old) {
		/* a closed flow of the same 4-tuple still lingers: revive it */
		if (__sync_val_compare_and_swap(&old->state, MX_GW_CLOSING, MX_GW_INIT) !=
		    MX_GW_CLOSING)
			goto release; /* counted already (EST), or the sweep owns it */
		if (mx_gw_counters(&f, now, s)) {
			old->state = MX_GW_CLOSING;
			goto release;
		}
		mx_gw_flow_fill(old, gp, cfg, fk, now);
		old->flags = f.flags;
		mx_gw_count_up(old, gp, fk, now, s);
		old->state = MX_GW_EST;
		goto release;
	}
	if (mx_gw_counters(&f, now, s))
		goto release;
	f.state = MX_GW_EST;
	rc = bpf_map_update_elem(&mx_gw_flows, fk, &f, BPF_NOEXIST);
	if (rc) {
		if (!bpf_map_lookup_elem(&mx_gw_flows, fk))
			MX_STAT_INC(s, gw_flows_full);
		goto release; /* counted by a racing ACK, or no room: passes uncounted */
	}
	mx_gw_count_up(&f, gp, fk, now, s);
release:
	mx_gw_pending_drop(fk, gp, s);
}

/* A FIN or RST of a counted flow (either side). */
static __always_inline void mx_gw_close(struct mx_gw_flow *f, __u64 now, struct mx_stats *s)
{
	if (mx_gw_flow_end(f, MX_GW_CLOSING, now, s) == 0)
		MX_STAT_INC(s, gw_closed);
	else
		MX_STAT_INC(s, gw_close_dup);
}

static __always_inline void mx_gw_refresh(struct mx_gw_flow *f, __u64 now)
{
	if (now > f->last_ns + MX_GW_REFRESH_NS)
		f->last_ns = now;
}

/*
 * A non-SYN packet of a subject flow (client side: to a protected server's
 * mail port; server side: from one).  Never refuses: passes, moving state.
 */
static __always_inline void mx_gw_track(const struct mx_config *cfg, const struct mx_ctl *ctl,
					const struct mx_pkt *p, int from_client, struct mx_stats *s)
{
	struct mx_flow_key fk = {};
	struct mx_gw_pending *gp;
	struct mx_gw_flow *f;
	__u8 fl = p->tcp_flags;
	__u64 now = mx_now(ctl);

	mx_gw_flow_key(p, from_client, &fk);
	f = bpf_map_lookup_elem(&mx_gw_flows, &fk);
	if (f && f->state == MX_GW_EST) {
		if (fl & (MX_TCPHDR_FIN | MX_TCPHDR_RST))
			mx_gw_close(f, now, s);
		else
			mx_gw_refresh(f, now);
		return;
	}
	if (f && (fl & (MX_TCPHDR_FIN | MX_TCPHDR_RST)) && f->state != MX_GW_INIT) {
		MX_STAT_INC(s, gw_close_dup);
		return;
	}
	gp = bpf_map_lookup_elem(&mx_gw_pending, &fk);
	if (!gp) {
		if (!from_client && (fl & MX_TCPHDR_SYN))
			MX_STAT_INC(s, gw_synack_bad); /* for no admitted SYN */
		return;
	}
	if (fl & MX_TCPHDR_RST) {
		/* refused or aborted before completion: the slot is free now */
		if (mx_gw_pending_drop(&fk, gp, s) == 0)
			MX_STAT_INC(s, gw_aborted);
		return;
	}
	if (!from_client) {
		/* the SYN-ACK: only here, on a server-facing interface */
		if ((fl & (MX_TCPHDR_SYN | MX_TCPHDR_ACK)) != (MX_TCPHDR_SYN | MX_TCPHDR_ACK))
			return;
		if (p->ack - (gp->client_isn + 1) > gp->syn_len ||
		    (gp->stage == MX_GW_SYNACK && gp->server_isn != p->seq)) {
			MX_STAT_INC(s, gw_synack_bad);
			return;
		}
		if (gp->stage != MX_GW_SYNACK) {
			gp->server_isn = p->seq;
			gp->stage = MX_GW_SYNACK;
		}
		MX_STAT_INC(s, gw_synack);
		return;
	}
	/* the client's ACK proving the handshake */
	if (!(fl & MX_TCPHDR_ACK) || (fl & MX_TCPHDR_SYN) || gp->stage != MX_GW_SYNACK)
		return;
	if (p->ack != gp->server_isn + 1) {
		MX_STAT_INC(s, gw_ack_bad);
		return;
	}
	mx_gw_establish(cfg, &fk, gp, now, s);
	if (fl & MX_TCPHDR_FIN) {
		f = bpf_map_lookup_elem(&mx_gw_flows, &fk);
		if (f)
			mx_gw_close(f, now, s);
	}
}

/* A SYN-ACK on a client-facing interface is never believed; a forged one
 * from outside must not advance a handshake.  (Nothing to do: the client
 * path above ignores SYN-ACKs, and only mx_gw_track(from_client = 0) on a
 * server-facing interface records them.) */

/* ---- the sweep: idle expiry and lingering closed entries ---- */
struct mx_gw_sweep_cb {
	__u64 now;
	__u32 expired;
	__u32 freed;
};

static long mx_gw_sweep_one(struct bpf_map *map, struct mx_flow_key *key, struct mx_gw_flow *f,
			    struct mx_gw_sweep_cb *cb)
{
	struct mx_stats *s = mx_stats_row(MX_STATS_ROW_SOCK);
	__u32 st = f->state;

	if (st == MX_GW_EST) {
		if (f->last_ns + f->idle_ns >= cb->now)
			return 0;
		if (mx_gw_flow_end(f, MX_GW_DEAD, cb->now, s))
			return 0; /* a FIN won: it lingers */
		MX_STAT_INC(s, gw_expired);
		cb->expired++;
	} else if (st == MX_GW_CLOSING) {
		if (f->last_ns + MX_GW_LINGER_NS >= cb->now)
			return 0;
		if (__sync_val_compare_and_swap(&f->state, MX_GW_CLOSING, MX_GW_DEAD) !=
		    MX_GW_CLOSING)
			return 0; /* revived meanwhile */
	} else if (st != MX_GW_DEAD) {
		return 0;
	}
	if (bpf_map_delete_elem(map, key) == 0)
		cb->freed++;
	return 0;
}

static __always_inline struct mx_gw_sweep_cb mx_gw_sweep(void)
{
	const struct mx_ctl *ctl = 0;
	struct mx_gw_sweep_cb cb = {};

	if (!mx_live_config(&ctl) || !ctl)
		return cb;
	cb.now = mx_now(ctl);
	bpf_for_each_map_elem(&mx_gw_flows, mx_gw_sweep_one, &cb, 0);
	return cb;
}

#endif
