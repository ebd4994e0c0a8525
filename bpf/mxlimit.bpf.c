// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * mxlimit.bpf.c - the programs, top-level control flow only.
 *
 *   mx_xdp       ingress: judge SYNs to the mail ports (block, penalty,
 *                rate, concurrency), pass everything else untouched.
 *   mx_sockstate tp_btf/inet_sock_set_state: count inbound connections
 *                from ESTABLISHED until they leave it.
 *   mx_seed      iter/tcp: count connections that existed before load.
 *   mx_seed_flow raw_tp, run by userspace: the same for one socket that
 *                sock_diag reported (where iter/tcp is refused).
 *   mx_sweep_run syscall, run by userspace: count down the records whose
 *                close was missed (see struct mx_sweep).
 * Only mx_xdp and mx_sockstate are essential; the loader probes the rest
 * and falls back (user/mxlimit/loader.h).
 *
 * Maps: mx_maps.h.  Types shared with userspace: include/mx_types.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "mx_consts.h"
#include "mx_parse.h"
#include "mx_maps.h"
#include "mx_limits.h"
#include "mx_account.h"
#include "mx_reply.h"
#include "mx_gateway.h"
#include "mx_blocklist.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader per interface before load: this program's stats row. */
const volatile __u32 mx_stats_row_id = 0;
/* Set by the loader per interface: enum mx_role (local, or the gateway
 * role of this interface).  Constant: the verifier drops the other roles'
 * code. */
const volatile __u32 mx_role = MX_ROLE_LOCAL;

/*
 * Verification cost.  The parser has many paths (VLAN tags, families,
 * IPv6 extension chains); had the judge and the reset builder been inlined
 * after it, the verifier would walk all of them once per parse path.  As
 * global functions (BPF-to-BPF calls with a context and a pointer to the
 * parsed packet, 5.12+) each is verified once, on its own, whatever calls
 * it: the program stays far below the verifier's budget on old kernels.
 */

/* Refuse: drop, or answer with a reset when configured and possible. */
__noinline int mx_refuse_g(struct xdp_md *ctx, const struct mx_pkt *p, int have_tcp)
{
	struct mx_stats *s = mx_stats_row(mx_stats_row_id);
	const struct mx_ctl *ctl = 0;
	const struct mx_config *cfg = mx_live_config(&ctl);

	/* the verifier treats a global function's pointer arguments as
	 * possibly NULL: without this check it refuses the program */
	if (!ctx || !p)
		return XDP_DROP;
	if (!cfg || cfg->action != MX_ACTION_RESET || !have_tcp)
		return XDP_DROP;
	if (mx_build_rst(ctx, p)) {
		MX_STAT_INC(s, rst_fail);
		return XDP_DROP;
	}
	MX_STAT_INC(s, rst_sent);
	return XDP_TX;
}

/* Gateway: record an admitted SYN's handshake, built in per-CPU scratch
 * (the SYN path's stack is near the verifier's bound). */
static __always_inline int mx_gw_admit(const struct mx_pkt *p, const struct mx_flow_key *fk,
				       const struct mx_pending *rec, __u64 now)
{
	struct mx_gw_pending *gp;
	__u32 zero = 0;

	gp = bpf_map_lookup_elem(&mx_gw_scratch, &zero);
	if (!gp)
		return -1;
	gp->adm = *rec;
	gp->client_isn = p->seq;
	gp->server_isn = 0;
	gp->syn_len = p->seg_len;
	gp->stage = MX_GW_SYN;
	gp->syn_ns = now;
	return bpf_map_update_elem(&mx_gw_pending, fk, gp, BPF_ANY) ? -1 : 0;
}

/* Gateway: a non-SYN packet of a subject flow (mx_gateway.h). */
__noinline int mx_gw_track_g(struct mx_pkt *p, int from_client)
{
	struct mx_stats *s = mx_stats_row(mx_stats_row_id);
	const struct mx_ctl *ctl = 0;
	const struct mx_config *cfg = mx_live_config(&ctl);

	if (!p || !cfg || !ctl)
		return 0;
	mx_gw_track(cfg, ctl, p, from_client, s);
	return 0;
}

/* The limits that apply to this source now: its rule, lowered by an
 * active penalty. */
struct mx_limits_now {
	__u32 conc_limit;
	__u32 rate_limit;
	struct mx_rate_params rate;
	int penalized;
};

static __always_inline void mx_apply_penalty(const struct mx_sanction *sn,
					     const struct mx_config *cfg, struct mx_limits_now *l,
					     int *refuse)
{
	__u32 cap = sn->penalty_limit;

	l->penalized = 1;
	if (cap == MX_PENALTY_TIER) {
		if (!(cfg->flags & (MX_CFG_BAD_CONC | MX_CFG_BAD_RATE))) {
			*refuse = 1;
			return;
		}
		if (cfg->flags & MX_CFG_BAD_CONC) {
			cap = cfg->bad_conc_limit;
			if (!cap) {
				*refuse = 1;
				return;
			}
			if (!l->conc_limit || cap < l->conc_limit)
				l->conc_limit = cap;
		}
		if (cfg->flags & MX_CFG_BAD_RATE) {
			l->rate_limit = cfg->bad_rate_limit;
			l->rate.emission = cfg->bad_rate_emission_ns;
			l->rate.tolerance = cfg->bad_rate_tolerance_ns;
		}
		return;
	}
	if (cap == MX_PENALTY_REFUSE || cap == 0) {
		*refuse = 1;
		return;
	}
	if (!l->conc_limit || cap < l->conc_limit)
		l->conc_limit = cap;
}

static __always_inline int mx_refused(struct xdp_md *ctx, const struct mx_pkt *p,
				      struct mx_stats *s, int penalized, int rate)
{
	if (penalized)
		MX_STAT_INC(s, refused_penalty);
	else if (rate)
		MX_STAT_INC(s, refused_rate);
	else
		MX_STAT_INC(s, refused_conc);
	return mx_refuse_g(ctx, p, 1);
}

/*
 * Judge a SYN.  Each check that can refuse runs before anything is spent:
 * the rate is peeked first, the concurrency slots reserved (and given back
 * on refusal), and the rate budgets spent last, so a refused SYN costs the
 * source nothing.  A `default` source is checked at its own prefix and,
 * when the policy sets one, at its wide network too.
 */
static __always_inline int mx_judge_syn(struct xdp_md *ctx, const struct mx_ctl *ctl,
					const struct mx_config *cfg, struct mx_pkt *p,
					struct mx_stats *s)
{
	struct mx_flow_key fk = {};
	struct mx_limits_now l = {};
	struct mx_pending rec = {};
	struct mx_rate_params wrate;
	struct mx_st own = {}, wide = {}, rst = {}, *rate = &own;
	int pc = 0, wpc = 0;
	struct mx_sanction *sn;
	struct mx_rule *rule;
	struct mx_key rkey;
	__u64 now = mx_now(ctl);
	__u32 epoch;
	int refuse = 0, wide_conc, wide_rate;

	if (!cfg->pending_slot_ns)
		return XDP_PASS;
	epoch = (__u32)(now / cfg->pending_slot_ns);
	__builtin_memcpy(fk.saddr, p->saddr, 16);
	__builtin_memcpy(fk.daddr, p->daddr, 16);
	fk.sport = p->sport;
	fk.dport = p->dport;

	/* A retransmitted SYN of a flow we admitted: already counted. */
	if (mx_role == MX_ROLE_CLIENT) {
		struct mx_gw_pending *old = bpf_map_lookup_elem(&mx_gw_pending, &fk);

		if (old && mx_epoch_live(old->adm.epoch, epoch) && old->client_isn == p->seq) {
			MX_STAT_INC(s, syn_retransmit);
			return XDP_PASS;
		}
	} else {
		struct mx_pending *old = bpf_map_lookup_elem(&mx_pending, &fk);

		if (old && mx_epoch_live(old->epoch, epoch)) {
			MX_STAT_INC(s, syn_retransmit);
			return XDP_PASS;
		}
	}

	rule = mx_rule_lookup(cfg->gen, p->saddr);
	if (!rule)
		return XDP_PASS; /* no policy: not ours to judge */
	l.conc_limit = rule->conc_limit;
	l.rate_limit = rule->rate_limit;
	l.rate.emission = rule->rate_emission_ns;
	l.rate.tolerance = rule->rate_tolerance_ns;
	wrate.emission = rule->wide_rate_emission_ns;
	wrate.tolerance = rule->wide_rate_tolerance_ns;
	wide_conc = rule->wide_plen && rule->wide_conc_limit;
	wide_rate = rule->wide_plen && rule->wide_rate_limit;

	sn = *(volatile __u64 *)&mx_sanctions_seq ? mx_sanction_lookup(p->saddr) : 0;
	if (sn) {
		if (sn->block_until_ns > now) {
			MX_STAT_INC(s, refused_block);
			return mx_refuse_g(ctx, p, 1);
		}
		if (sn->penalty_until_ns > now)
			mx_apply_penalty(sn, cfg, &l, &refuse);
		if (refuse) {
			MX_STAT_INC(s, refused_penalty);
			return mx_refuse_g(ctx, p, 1);
		}
	}
	/* Blocklists are third-party lists: an allowlisted source (an explicit
	 * 0 of the policy) is exempt, as from verdicts; a block is not. */
	if (!(rule->flags & MX_RULE_ALLOW) && mx_blocklisted(p->saddr)) {
		MX_STAT_INC(s, refused_blocklist);
		return mx_refuse_g(ctx, p, 1);
	}

	mx_make_key(&rkey, p->saddr, rule->rate_plen);
	mx_make_key(&rec.key, p->saddr, rule->conc_plen);
	if (wide_conc || wide_rate) /* else it stays zero, as the record wants */
		mx_make_key(&rec.wide_key, p->saddr, rule->wide_plen);
	/* Each key's state found once: its exact entry if it completed a
	 * handshake, its sketch cells (mx_limits.h).  Where the rate and
	 * concurrency keys coincide (every default source) one serves both. */
	if (mx_st_find(&rec.key, &own))
		return XDP_PASS; /* no sketch: fail open */
	if (rule->rate_plen != rule->conc_plen && l.rate_limit) {
		if (mx_st_find(&rkey, &rst))
			return XDP_PASS;
		rate = &rst;
	}
	if ((wide_conc || wide_rate) && mx_st_find(&rec.wide_key, &wide))
		return XDP_PASS;
	if (l.rate_limit && mx_rate_peek(rate, now, &l.rate))
		return mx_refused(ctx, p, s, l.penalized, 1);
	if (wide_rate && mx_rate_peek(&wide, now, &wrate))
		return mx_refused(ctx, p, s, l.penalized, 1);

	if (mx_st_reserve(&rec.key, &own, epoch, l.conc_limit, &pc, s))
		return mx_refused(ctx, p, s, l.penalized, 0);
	if (wide_conc && mx_st_reserve(&rec.wide_key, &wide, epoch, rule->wide_conc_limit, &wpc, s)) {
		if (pc)
			mx_st_release(&own, epoch, s);
		return mx_refused(ctx, p, s, l.penalized, 0);
	}

	if ((l.rate_limit && mx_rate_spend(rate, now, &l.rate, s)) ||
	    (wide_rate && mx_rate_spend(&wide, now, &wrate, s))) {
		/* lost a race since the peek; a wide refusal here may have
		 * spent the source's own budget (race only) */
		if (pc)
			mx_st_release(&own, epoch, s);
		if (wpc)
			mx_st_release(&wide, epoch, s);
		return mx_refused(ctx, p, s, l.penalized, 1);
	}

	if (mx_role == MX_ROLE_CLIENT) {
		/* gateway: the handshake record, whether or not a slot could
		 * be reserved (without one the flow still counts once proven) */
		rec.epoch = epoch;
		rec.rule = rule->conc_rule;
		rec.flags = (wpc ? MX_FLOW_WIDE : 0) | (pc ? 0 : MX_FLOW_NOSLOT);
		rec.rate_plen = l.rate_limit ? rule->rate_plen : 0;
		if (mx_gw_admit(p, &fk, &rec, now)) {
			if (pc)
				mx_st_release(&own, epoch, s);
			if (wpc)
				mx_st_release(&wide, epoch, s);
		}
	} else if (pc) {
		rec.epoch = epoch;
		rec.rule = rule->conc_rule;
		rec.flags = wpc ? MX_FLOW_WIDE : 0;
		rec.rate_plen = l.rate_limit ? rule->rate_plen : 0;
		if (bpf_map_update_elem(&mx_pending, &fk, &rec, BPF_ANY)) {
			mx_st_release(&own, epoch, s);
			if (wpc)
				mx_st_release(&wide, epoch, s);
		}
	}
	MX_STAT_INC(s, admitted);
	return XDP_PASS;
}

/* The parser, verified once (see above).  Returns an mx_parse_rc. */
__noinline int mx_parse_g(struct xdp_md *ctx, struct mx_pkt *p)
{
	/* the verifier treats a global function's pointer arguments as
	 * possibly NULL: without this check it refuses the program */
	if (!ctx || !p)
		return MX_P_FAIL;
	return mx_parse(ctx, p);
}

/* The SYN path, verified once (see above). */
__noinline int mx_judge_syn_g(struct xdp_md *ctx, struct mx_pkt *p)
{
	struct mx_stats *s = mx_stats_row(mx_stats_row_id);
	const struct mx_ctl *ctl = 0;
	const struct mx_config *cfg = mx_live_config(&ctl);

	/* the verifier treats a global function's pointer arguments as
	 * possibly NULL: without this check it refuses the program */
	if (!ctx || !p || !cfg || !ctl)
		return XDP_PASS;
	return mx_judge_syn(ctx, ctl, cfg, p, s);
}

/*
 * The fast path: the common shapes (untagged IPv4 without options or
 * fragmentation, untagged IPv6 with TCP or a non-extension header right
 * after its fixed header) decided inline, without the full parser's calls:
 * everything that is not TCP passes, TCP to other ports passes, TCP to a
 * mail port without SYN passes counted as subject.  Anything else, SYNs
 * to the mail ports included, returns -1 for the full path, whose verdicts
 * and counters these agree with (the packet fuzzer checks both).
 *
 * Written with byte offsets rather than the kernel's header structs: those
 * come from vmlinux.h with CO-RE relocations, which cost two instructions
 * more per field read, and a packet's layout is not the kernel's to move.
 */
#define MX_IP4_HLEN 20 /* without options */
#define MX_IP6_HLEN 40
#define MX_TCP_HLEN 20 /* without options */

static __always_inline int mx_fast_path(struct xdp_md *ctx, struct mx_stats *s)
{
	__u8 *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *l3 = data + ETH_HLEN, *th;
	__u16 proto, port;

	if ((void *)l3 > end)
		return -1;
	proto = *(__u16 *)(data + 12);
	if (proto == bpf_htons(ETH_P_IP)) {
		if ((void *)(l3 + MX_IP4_HLEN) > end || l3[0] != 0x45 || /* version 4, ihl 5 */
		    (*(__u16 *)(l3 + 6) & bpf_htons(IP_MF_ | IP_OFFMASK_)))
			return -1;
		if (l3[9] != IPPROTO_TCP)
			return XDP_PASS;
		th = l3 + MX_IP4_HLEN;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		__u8 nh;

		if ((void *)(l3 + MX_IP6_HLEN) > end || (l3[0] >> 4) != 6)
			return -1;
		if (*(__u32 *)(l3 + 8) == 0 && *(__u32 *)(l3 + 12) == 0)
			return -1; /* maybe IPv4-mapped: the full path decides */
		nh = l3[6];
		if (nh == NEXTHDR_HOP || nh == NEXTHDR_ROUTING || nh == NEXTHDR_FRAGMENT ||
		    nh == NEXTHDR_AUTH || nh == NEXTHDR_DEST)
			return -1;
		if (nh != IPPROTO_TCP)
			return XDP_PASS;
		th = l3 + MX_IP6_HLEN;
	} else if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		return -1;
	} else {
		return XDP_PASS; /* ARP and the rest */
	}
	if ((void *)(th + MX_TCP_HLEN) > end || (th[12] >> 4) < 5 ||
	    (void *)(th + (th[12] >> 4) * 4) > end)
		return -1;
	/* a server-facing interface sees the mail servers' replies */
	port = bpf_ntohs(*(__u16 *)(th + (mx_role == MX_ROLE_SERVER ? 0 : 2)));
	if (!mx_port_bit(mx_ports_live.bits, port))
		return XDP_PASS;
	if (mx_role != MX_ROLE_LOCAL)
		return -1; /* gateway: every packet of a mail flow is tracked */
	if (th[13] & MX_TCPHDR_SYN)
		return -1; /* the SYN path, and SYN+x the full path treats */
	MX_STAT_INC(s, subject);
	return XDP_PASS;
}

/* Everything the fast path left: the full parser, then the SYN judge.  A
 * function of its own so that the fast path does not pay for zeroing the
 * parsed packet on the stack (the compiler zeroes a local where it is
 * declared, not where it is first used). */
static __noinline int mx_full_path(struct xdp_md *ctx, struct mx_stats *s)
{
	const struct mx_ctl *ctl = 0;
	const struct mx_config *cfg;
	struct mx_pkt p = {};
	int rc;

	rc = mx_parse_g(ctx, &p);
	if (rc == MX_P_OTHER)
		return XDP_PASS;
	if (rc == MX_P_FAIL) {
		MX_STAT_INC(s, parse_fail);
		return XDP_PASS;
	}
	if (rc == MX_P_NONFIRST) {
		MX_STAT_INC(s, nonfirst_frag);
		return XDP_PASS;
	}
	if (rc == MX_P_LONG_CHAIN) {
		MX_STAT_INC(s, refused_exthdr);
		return XDP_DROP;
	}
	cfg = mx_live_config(&ctl);
	if (!cfg || !ctl)
		return XDP_PASS;
	if (mx_role == MX_ROLE_SERVER) {
		/* a protected server's reply: tracked, never judged (its own
		 * outbound connections have no mail source port here) */
		if (!mx_port_subject(cfg, bpf_ntohs(p.sport)) || !mx_gw_server(cfg->gen, p.saddr))
			return XDP_PASS;
		MX_STAT_INC(s, subject);
		if (rc == MX_P_TCP)
			mx_gw_track_g(&p, 0);
		return XDP_PASS;
	}
	if (!mx_port_subject(cfg, bpf_ntohs(p.dport)))
		return XDP_PASS;
	/* gateway: only connections to the protected servers are ours */
	if (mx_role == MX_ROLE_CLIENT && !mx_gw_server(cfg->gen, p.daddr))
		return XDP_PASS;
	MX_STAT_INC(s, subject);

	/* Real SYNs are never fragmented; a first fragment carrying one, or
	 * too short to show the flags, would slip a SYN past us. */
	if (rc == MX_P_FRAG_SHORT || (p.first_frag && (p.tcp_flags & MX_TCPHDR_SYN))) {
		MX_STAT_INC(s, refused_frag);
		return mx_refuse_g(ctx, &p, rc == MX_P_TCP);
	}
	/* A connection request: SYN alone (with ACK, RST or FIN the kernel
	 * does not open a connection from it). */
	if ((p.tcp_flags & (MX_TCPHDR_SYN | MX_TCPHDR_ACK | MX_TCPHDR_RST | MX_TCPHDR_FIN)) != MX_TCPHDR_SYN) {
		if (mx_role == MX_ROLE_CLIENT && rc == MX_P_TCP)
			mx_gw_track_g(&p, 1);
		return XDP_PASS;
	}
	MX_STAT_INC(s, syn);
	return mx_judge_syn_g(ctx, &p);
}

SEC("xdp")
int mx_xdp(struct xdp_md *ctx)
{
	struct mx_stats *s = mx_stats_row(mx_stats_row_id);
	int rc;

	MX_STAT_INC(s, packets);
	rc = mx_fast_path(ctx, s);
	if (rc >= 0)
		return rc;
	return mx_full_path(ctx, s);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(mx_sockstate, struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (oldstate == TCP_ESTABLISHED)
		mx_conn_close(sk);
	else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV)
		mx_conn_open(sk, 0);
	return 0;
}

/* Seeding and the sweep's marking: every ESTABLISHED socket of this
 * namespace gets counted if it is not yet, and its record marked as seen
 * by the current sweep (the first implementation: a TCP socket iterator). */
SEC("iter/tcp")
int mx_seed(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	struct sock *sk;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* request and time-wait sockets */
	sk = &tp->inet_conn.icsk_inet.sk;
	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_ESTABLISHED)
		return 0;
	mx_conn_open(sk, 1);
	return 0;
}

/* The same for one socket that sock_diag reported ESTABLISHED (the
 * fallback where iter/tcp is refused): userspace runs it once per socket
 * with BPF_PROG_TEST_RUN and a struct mx_seed_ctx.  The insert is the
 * same NOEXIST insert as the tracepoint's, so a connection the tracepoint
 * counted meanwhile is not counted twice.  (A raw tracepoint program, not
 * a syscall one: sleepable programs may not read the LPM policy.) */
SEC("raw_tp")
int mx_seed_flow(__u64 *ctx)
{
	const struct mx_ctl *ctl = 0;
	const struct mx_config *cfg = mx_live_config(&ctl);
	struct mx_flow_key fk = {};
	__u64 w = ctx[5], a;
	__u32 netns = (__u32)(w >> 32);

	if (!cfg || !ctl)
		return 0;
	fk.sport = (__u16)w;
	fk.dport = (__u16)(w >> 16);
	if (!mx_conn_subject(cfg, bpf_ntohs(fk.dport), netns))
		return 0;
	a = ctx[1];
	__builtin_memcpy(&fk.saddr[0], &a, sizeof(a));
	a = ctx[2];
	__builtin_memcpy(&fk.saddr[2], &a, sizeof(a));
	a = ctx[3];
	__builtin_memcpy(&fk.daddr[0], &a, sizeof(a));
	a = ctx[4];
	__builtin_memcpy(&fk.daddr[2], &a, sizeof(a));
	mx_conn_open_flow(cfg, ctl, &fk, netns, ctx[0], 1);
	return 0;
}

/* The sweep's second half: records of the swept namespace, older than the
 * sweep, that the marking did not find ESTABLISHED lost their close.
 * Counted down through the checked delete (deleting the element being
 * visited is allowed in a hash map walk). */
struct mx_sweep_cb {
	__u64 now;
	__u64 start_ns;
	__u32 gen;
	__u32 netns;
	__u32 swept;
};

static long mx_sweep_one(struct bpf_map *map, __u64 *key, struct mx_conn *val,
			 struct mx_sweep_cb *cb)
{
	struct mx_stats *s;
	struct mx_conn conn;

	if (val->sweep == cb->gen || val->flow.netns != cb->netns || val->since_ns >= cb->start_ns)
		return 0;
	conn = *val;
	s = mx_stats_row(MX_STATS_ROW_SOCK);
	if (mx_conn_release(*key, &conn, cb->now, s) == 0) {
		MX_STAT_INC(s, conn_swept);
		cb->swept++;
	}
	return 0;
}

/* Run with BPF_PROG_TEST_RUN (a syscall program, 5.14+: no iterator
 * needed); returns how many records it counted down. */
SEC("syscall")
int mx_sweep_run(void *ctx)
{
	const struct mx_ctl *ctl = 0;
	struct mx_sweep_cb cb = {};
	struct mx_sweep *sw;
	__u32 zero = 0;

	sw = bpf_map_lookup_elem(&mx_sweep, &zero);
	if (!sw)
		return 0;
	cb.gen = sw->gen;
	cb.netns = sw->netns;
	cb.start_ns = sw->start_ns;
	if (mx_live_config(&ctl) && ctl)
		cb.now = mx_now(ctl);
	bpf_for_each_map_elem(&mx_conns, mx_sweep_one, &cb, 0);
	return (int)cb.swept;
}

/* ---- gateway mode: the flow sweep ----
 * In the kernel where allowed: a bpf_timer in the pinned mx_gw_gc map
 * re-arms itself every MX_GW_GC_PERIOD_NS and sweeps mx_gw_flows, so
 * expiry needs no userspace process.  mx_gw_gc_arm (run once by the
 * loader with BPF_PROG_TEST_RUN) starts it; the timer keeps a reference to
 * its callback and lives as long as the pinned map.  mx_gw_gc_run is the
 * same sweep run once, by the daemon where the timer is refused, and by
 * the tests.  (XDP programs: run with BPF_PROG_TEST_RUN everywhere 5.15+
 * supports, and allowed both bpf_timer and bpf_for_each_map_elem.) */
static int mx_gw_timer_cb(void *map, int *key, struct mx_gw_gc *g)
{
	struct mx_gw_sweep_cb cb = mx_gw_sweep();

	g->runs++;
	g->last_ns = cb.now;
	g->expired = cb.expired;
	g->freed = cb.freed;
	bpf_timer_start(&g->timer, MX_GW_GC_PERIOD_NS, 0);
	return 0;
}

/* Returns 0 when armed, else step << 8 | errno: step 1 no map entry, 2
 * bpf_timer_init, 3 bpf_timer_set_callback, 4 bpf_timer_start (the loader
 * says which, and retries a refusal that may be transient, like ENOMEM
 * from the timer's atomic allocation). */
SEC("xdp")
int mx_gw_gc_arm(struct xdp_md *ctx)
{
	struct mx_gw_gc *g;
	__u32 zero = 0;
	long r;

	g = bpf_map_lookup_elem(&mx_gw_gc, &zero);
	if (!g)
		return 1 << 8;
	r = bpf_timer_init(&g->timer, &mx_gw_gc, 1 /* CLOCK_MONOTONIC */);
	if (r && r != -16 /* EBUSY: armed by an earlier load, re-point it */)
		return 2 << 8 | (-r & 0xff);
	r = bpf_timer_set_callback(&g->timer, mx_gw_timer_cb);
	if (r)
		return 3 << 8 | (-r & 0xff);
	r = bpf_timer_start(&g->timer, MX_GW_GC_PERIOD_NS, 0);
	if (r)
		return 4 << 8 | (-r & 0xff);
	return 0;
}

SEC("xdp")
int mx_gw_gc_run(struct xdp_md *ctx)
{
	struct mx_gw_sweep_cb cb = mx_gw_sweep();
	struct mx_gw_gc *g;
	__u32 zero = 0;

	g = bpf_map_lookup_elem(&mx_gw_gc, &zero);
	if (g) {
		g->expired = cb.expired;
		g->freed = cb.freed;
	}
	return (int)(cb.expired + cb.freed);
}
