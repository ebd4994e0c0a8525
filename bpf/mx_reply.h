/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_reply.h - the `reset` action: turn a refused SYN into the RST+ACK a
 * closed port would send (RFC 9293 3.10.7.1: seq 0, ack = SYN's seq + its
 * length) and bounce it with XDP_TX.  Headers are rewritten in place at
 * the same L3 offset (VLAN tags kept), IP options and TCP options and
 * payload cut off, checksums computed from scratch.
 */
#ifndef MX_REPLY_H
#define MX_REPLY_H

#include "mx_csum.h"

#define MX_RST_V4_LEN (20 + 20)
#define MX_RST_V6_LEN (40 + 20)

static __always_inline void mx_fill_rst(struct tcphdr *th, const struct mx_pkt *p)
{
	__u32 ack = p->seq + 1 + p->seg_len + ((p->tcp_flags & MX_TCPHDR_FIN) ? 1 : 0);

	__builtin_memset(th, 0, sizeof(*th));
	th->source = p->dport;
	th->dest = p->sport;
	th->ack_seq = bpf_htonl(ack);
	th->doff = 5;
	th->rst = 1;
	th->ack = 1;
}

/* Returns 0 and leaves the packet ready for XDP_TX, or -1. */
static __always_inline int mx_build_rst(struct xdp_md *ctx, const struct mx_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 mac[ETH_ALEN];
	/* masked so the verifier keeps a small bound on the offset */
	__u32 l3 = p->l3_off & 0x1f, new_len;
	struct tcphdr *th;
	__u64 sum;

	if ((void *)(eth + 1) > end || l3 > MX_MAX_L3_OFF)
		return -1;
	/* The trim below takes the packet's length from its IP header: only
	 * when that length is what the packet holds (it may be followed by
	 * Ethernet padding, never be longer) and covers the reply's headers.
	 * A lying length field gets a drop, not a malformed reset. */
	{
		__u32 ip_len = p->ip_len & 0x1ffff;

		if (data + l3 + ip_len > end)
			return -1;
		if (ip_len < (p->is_v6 ? MX_RST_V6_LEN : MX_RST_V4_LEN))
			return -1;
	}
	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);

	if (!p->is_v6) {
		struct iphdr *ip = data + l3;

		if ((void *)ip + MX_RST_V4_LEN > end)
			return -1;
		th = (void *)ip + 20;
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = 0;
		ip->tot_len = bpf_htons(MX_RST_V4_LEN);
		ip->id = 0;
		ip->frag_off = bpf_htons(IP_DF_);
		ip->ttl = MX_RST_TTL;
		ip->protocol = IPPROTO_TCP;
		ip->check = 0;
		ip->saddr = p->daddr[3];
		ip->daddr = p->saddr[3];
		ip->check = mx_csum_fold(mx_csum_words((__u16 *)ip, 10));
		mx_fill_rst(th, p);
		sum = mx_csum_addr(p->saddr, 0) + mx_csum_addr(p->daddr, 0) +
		      bpf_htons(IPPROTO_TCP) + bpf_htons(20);
		th->check = mx_csum_fold(sum + mx_csum_words((__u16 *)th, 10));
		new_len = l3 + MX_RST_V4_LEN;
	} else {
		struct ipv6hdr *ip6 = data + l3;

		if ((void *)ip6 + MX_RST_V6_LEN > end)
			return -1;
		th = (void *)ip6 + 40;
		__builtin_memset(ip6, 0, 4); /* version, traffic class, flow label */
		ip6->version = 6;
		ip6->payload_len = bpf_htons(20);
		ip6->nexthdr = IPPROTO_TCP;
		ip6->hop_limit = MX_RST_TTL;
		__builtin_memcpy(&ip6->saddr, p->daddr, 16);
		__builtin_memcpy(&ip6->daddr, p->saddr, 16);
		mx_fill_rst(th, p);
		sum = mx_csum_addr(p->saddr, 1) + mx_csum_addr(p->daddr, 1) +
		      bpf_htons(IPPROTO_TCP) + bpf_htons(20);
		th->check = mx_csum_fold(sum + mx_csum_words((__u16 *)th, 10));
		new_len = l3 + MX_RST_V6_LEN;
	}
	/* Cut options, ext headers and payload: the reply is headers only. */
	/* The old length from the IP header (the verifier allows no
	 * arithmetic on data_end); Ethernet padding past it is cut too. */
	if (bpf_xdp_adjust_tail(ctx, (int)new_len - (int)(l3 + p->ip_len)))
		return -1;
	return 0;
}

#endif
