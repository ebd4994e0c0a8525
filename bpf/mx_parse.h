/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_parse.h - bounds-checked packet parsing.
 *
 * The shape of xdp-tools' parsing helpers (a cursor, one helper per
 * header, each checking bounds and advancing), with what they miss fixed:
 * IPv4 ihl < 5 and TCP doff < 5 are parse failures (a header length the
 * kernel would never accept must not steer us), and the IPv6 extension
 * chain is walked, bounded, through fragment headers.
 */
#ifndef MX_PARSE_H
#define MX_PARSE_H

#include "mx_consts.h"

enum mx_parse_rc {
	MX_P_TCP,          /* TCP with a complete header */
	MX_P_OTHER,        /* not TCP over IP: not ours, pass */
	MX_P_FAIL,         /* malformed or truncated: pass, counted */
	MX_P_NONFIRST,     /* non-first fragment: carries no ports, pass */
	MX_P_FRAG_SHORT,   /* first fragment, TCP header cut short (dport known) */
	MX_P_LONG_CHAIN,   /* IPv6 extension chain longer than we walk */
};

struct hdr_cursor {
	void *pos;
};

/* What the datapath needs of a packet. */
struct mx_pkt {
	__u32 saddr[4]; /* shared space (IPv4 mapped) */
	__u32 daddr[4];
	__u16 sport;    /* network order */
	__u16 dport;
	__u32 seq;      /* host order */
	__u32 ack;      /* host order (gateway mode) */
	__u32 seg_len;  /* sequence space the segment takes beyond its SYN/FIN */
	__u32 ip_len;   /* IP header(s) + payload, as the IP header says */
	__u16 l3_off;
	__u8 tcp_flags;
	__u8 is_v6;
	__u8 first_frag; /* offset 0 with more fragments to come */
	__u8 _pad[3];
};

static __always_inline void mx_map_v4(__u32 *dst, __u32 addr)
{
	dst[0] = 0;
	dst[1] = 0;
	dst[2] = bpf_htonl(0x0000ffff);
	dst[3] = addr;
}

/* Ethernet and up to MX_MAX_VLANS tags; returns the L3 protocol (network
 * order) or -1 when truncated or when more tags follow. */
static __always_inline int parse_eth(struct hdr_cursor *c, void *end)
{
	struct ethhdr *eth = c->pos;
	__u16 proto;
	int i;

	if ((void *)(eth + 1) > end)
		return -1;
	proto = eth->h_proto;
	c->pos = eth + 1;
#pragma unroll
	for (i = 0; i < MX_MAX_VLANS; i++) {
		struct vlan_hdr *vh = c->pos;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > end)
			return -1;
		proto = vh->h_vlan_encapsulated_proto;
		c->pos = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return -1; /* a third tag: more than we promise to read */
	return proto;
}

/* IPv4 with options.  Returns an mx_parse_rc; on MX_P_TCP the cursor is
 * at the TCP header and *l4_len is what the IP header says follows. */
static __always_inline int parse_ipv4(struct hdr_cursor *c, void *end, struct mx_pkt *p,
				      __u32 *l4_len)
{
	struct iphdr *ip = c->pos;
	__u32 hlen, tot;
	__u16 frag;

	if ((void *)(ip + 1) > end)
		return MX_P_FAIL;
	if (ip->version != 4 || ip->ihl < 5)
		return MX_P_FAIL;
	hlen = ip->ihl * 4;
	if (c->pos + hlen > end)
		return MX_P_FAIL;
	if (ip->protocol != IPPROTO_TCP)
		return MX_P_OTHER;
	frag = bpf_ntohs(ip->frag_off);
	if (frag & IP_OFFMASK_)
		return MX_P_NONFIRST;
	p->first_frag = !!(frag & IP_MF_);
	tot = bpf_ntohs(ip->tot_len);
	p->ip_len = tot;
	*l4_len = tot > hlen ? tot - hlen : 0;
	mx_map_v4(p->saddr, ip->saddr);
	mx_map_v4(p->daddr, ip->daddr);
	c->pos += hlen;
	return MX_P_TCP;
}

/* The walk through IPv6 extension headers, between global-function steps. */
struct mx_ext_walk {
	__u32 l3;        /* offset of the IPv6 header */
	__u32 off;       /* bytes of extension headers walked so far */
	__u32 nh;        /* next header */
	__u32 first_frag;
};

/* Longest extension chain we walk, in bytes (8 headers of 2 KiB at most
 * each would be 16 KiB; a real chain in front of TCP is a few dozen). */
#define MX_EXT_MAX_BYTES 2048

/*
 * One extension header at l3 + 40 + off.  Returns 0 when it advanced
 * (w updated), else an mx_parse_rc.  A global function, verified once:
 * walking eight of them inline made the verifier follow every combination
 * of header kinds (their lengths differ), hundreds of thousands of
 * instructions for a loop of eight.
 */
__noinline int mx_ext_step(struct xdp_md *ctx, struct mx_ext_walk *w)
{
	void *data, *end;
	struct ipv6_opt_hdr *oh;
	__u32 len, nh;

	/* a global function's pointer arguments may be NULL to the verifier */
	if (!ctx || !w)
		return MX_P_FAIL;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	nh = w->nh;
	if (nh != NEXTHDR_HOP && nh != NEXTHDR_ROUTING && nh != NEXTHDR_FRAGMENT &&
	    nh != NEXTHDR_AUTH && nh != NEXTHDR_DEST)
		return MX_P_OTHER; /* ESP, no-next-header, UDP, ICMPv6, ... */
	if (w->off > MX_EXT_MAX_BYTES || w->l3 > MX_MAX_L3_OFF)
		return MX_P_FAIL;
	oh = data + w->l3 + sizeof(struct ipv6hdr) + w->off;
	if ((void *)oh + 8 > end) /* every extension header is 8 bytes or more */
		return MX_P_FAIL;
	if (nh == NEXTHDR_FRAGMENT) {
		struct frag_hdr *fh = (void *)oh;

		if (bpf_ntohs(fh->frag_off) & IP6_OFFMASK_)
			return MX_P_NONFIRST;
		if (bpf_ntohs(fh->frag_off) & IP6_MF_)
			w->first_frag = 1;
		len = sizeof(*fh);
	} else if (nh == NEXTHDR_AUTH) {
		len = ((__u32)oh->hdrlen + 2) * 4;
	} else {
		len = ((__u32)oh->hdrlen + 1) * 8;
	}
	if ((void *)oh + len > end)
		return MX_P_FAIL; /* the header runs past the packet */
	w->nh = oh->nexthdr;
	w->off += len;
	return 0;
}

/* IPv6 and its extension chain (hop-by-hop, routing, fragment, AH,
 * destination options), at most MX_MAX_EXT_HDRS of them. */
static __always_inline int parse_ipv6(struct xdp_md *ctx, struct hdr_cursor *c, void *data,
				      void *end, struct mx_pkt *p, __u32 *l4_len)
{
	struct ipv6hdr *ip6 = c->pos;
	struct mx_ext_walk w = {};
	__u32 plen, off;
	int i, rc;

	if ((void *)(ip6 + 1) > end)
		return MX_P_FAIL;
	if (ip6->version != 6)
		return MX_P_FAIL;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	p->is_v6 = 1;
	/* An IPv4-mapped source is invalid on the wire (RFC 4291 2.5.5.2; the
	 * kernel drops it).  In our shared address space it would pose as that
	 * IPv4 source and use up its limits: not ours to judge. */
	if (p->saddr[0] == 0 && p->saddr[1] == 0 && p->saddr[2] == bpf_htonl(0x0000ffff))
		return MX_P_FAIL;
	plen = bpf_ntohs(ip6->payload_len);
	p->ip_len = 40 + plen;
	w.l3 = p->l3_off;
	w.nh = ip6->nexthdr;

	/* Up to MX_MAX_EXT_HDRS headers are walked (a non-first fragment
	 * among them is found); TCP must follow at most MX_MAX_EXT_HDRS - 1. */
	for (i = 0; i < MX_MAX_EXT_HDRS; i++) {
		if (w.nh == IPPROTO_TCP)
			break;
		rc = mx_ext_step(ctx, &w);
		if (rc)
			return rc;
	}
	/* A chain longer than RFC 8200 allows (each header once, destination
	 * options twice) could hide a SYN behind it: the kernel would walk
	 * it.  Refused, like a SYN in a fragment; nothing legitimate sends it. */
	if (i == MX_MAX_EXT_HDRS)
		return MX_P_LONG_CHAIN;
	if (w.nh != IPPROTO_TCP)
		return MX_P_FAIL;
	off = w.off;
	if (off > MX_EXT_MAX_BYTES)
		return MX_P_FAIL;
	p->first_frag = (__u8)w.first_frag;
	*l4_len = plen > off ? plen - off : 0;
	c->pos = (void *)(ip6 + 1) + off;
	if (c->pos > end)
		return MX_P_FAIL;
	return MX_P_TCP;
}

/* TCP.  A first fragment whose header is cut short but whose destination
 * port can be read is MX_P_FRAG_SHORT so the caller can refuse it. */
static __always_inline int parse_tcp(struct hdr_cursor *c, void *end, struct mx_pkt *p,
				     __u32 l4_len)
{
	struct tcphdr *th = c->pos;
	__u32 hlen;

	if ((void *)(th + 1) > end) {
		__be16 *ports = c->pos;

		if (p->first_frag && (void *)(ports + 2) <= end) {
			p->sport = ports[0];
			p->dport = ports[1];
			return MX_P_FRAG_SHORT;
		}
		return MX_P_FAIL;
	}
	p->sport = th->source;
	p->dport = th->dest;
	if (th->doff < 5)
		return MX_P_FAIL;
	hlen = th->doff * 4;
	if (c->pos + hlen > end)
		return p->first_frag ? MX_P_FRAG_SHORT : MX_P_FAIL;
	p->tcp_flags = ((__u8 *)th)[13];
	p->seq = bpf_ntohl(th->seq);
	p->ack = bpf_ntohl(th->ack_seq);
	p->seg_len = l4_len > hlen ? l4_len - hlen : 0;
	return MX_P_TCP;
}

/* The whole stack.  Returns an mx_parse_rc and fills *p. */
static __always_inline int mx_parse(struct xdp_md *ctx, struct mx_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct hdr_cursor c = { .pos = data };
	__u32 l4_len = 0;
	int proto, rc;

	proto = parse_eth(&c, end);
	if (proto < 0)
		return MX_P_FAIL;
	p->l3_off = (__u16)(c.pos - data);
	if (proto == bpf_htons(ETH_P_IP))
		rc = parse_ipv4(&c, end, p, &l4_len);
	else if (proto == bpf_htons(ETH_P_IPV6))
		rc = parse_ipv6(ctx, &c, data, end, p, &l4_len);
	else
		return MX_P_OTHER;
	if (rc != MX_P_TCP)
		return rc;
	return parse_tcp(&c, end, p, l4_len);
}

#endif
