/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pkt.h - crafted packets for BPF_PROG_TEST_RUN: Ethernet, VLAN tags,
 * IPv4 (options, fragments, bad ihl) or IPv6 (extension chain, fragment
 * header), TCP (flags, options, bad doff) or UDP, payload.  Checksums are
 * not needed by the program under test and left zero, except where the
 * reply checker verifies them.
 */
#ifndef MX_TEST_PKT_H
#define MX_TEST_PKT_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

enum { FRAG_NONE, FRAG_FIRST, FRAG_LATER };

struct pkt_spec {
	int v6;
	int vlans;          /* 0..3 tags */
	int ip_opts;        /* IPv4 option bytes (multiple of 4) */
	int ext_hdrs;       /* IPv6: hop-by-hop, then destination options headers */
	int routing_hdr;    /* IPv6: add a routing header */
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t flags;      /* TCP flags byte; default SYN */
	uint8_t proto;      /* default TCP (6) */
	int frag;           /* FRAG_* */
	int doff;           /* 0 = 5 + tcp_opts/4 */
	int ihl;            /* 0 = 5 + ip_opts/4 */
	int tcp_opts;       /* bytes, multiple of 4 */
	int payload;
	uint32_t seq;
	uint32_t ack;       /* acknowledgment number (host order) */
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

static inline size_t put16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, 2);
	return 2;
}

/* Builds into buf; returns the length. */
static inline size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	uint8_t *p = buf;
	int v6 = s->v6, i;
	uint8_t proto = s->proto ? s->proto : 6;
	int tcp_len = 20 + s->tcp_opts;
	int l4_len = (proto == 6 ? tcp_len : 8) + s->payload;
	uint16_t eth_type = v6 ? 0x86dd : 0x0800;

	memset(buf, 0, cap);
	memcpy(p, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	p += 12;
	for (i = 0; i < s->vlans; i++) {
		p += put16(p, i == 0 && s->vlans > 1 ? 0x88a8 : 0x8100);
		p += put16(p, (uint16_t)(100 + i));
	}
	p += put16(p, eth_type);

	if (!v6) {
		int ihl = s->ihl ? s->ihl : 5 + s->ip_opts / 4;
		int hlen = 20 + s->ip_opts;
		uint16_t frag = s->frag == FRAG_FIRST ? 0x2000 : s->frag == FRAG_LATER ? 0x0010 : 0x4000;

		p[0] = (uint8_t)(0x40 | (ihl & 0xf));
		put16(p + 2, (uint16_t)(hlen + l4_len));
		put16(p + 6, frag);
		p[8] = 64;
		p[9] = proto;
		inet_pton(AF_INET, s->src ? s->src : "198.18.0.1", p + 12);
		inet_pton(AF_INET, s->dst ? s->dst : "198.18.1.1", p + 16);
		for (i = 0; i < s->ip_opts; i++)
			p[20 + i] = 1; /* NOP options */
		p += hlen;
	} else {
		uint8_t *nh = p + 6;
		int ext_len = 0;

		p[0] = 0x60;
		p[7] = 64;
		inet_pton(AF_INET6, s->src ? s->src : "fd00::1", p + 8);
		inet_pton(AF_INET6, s->dst ? s->dst : "fd00:1::1", p + 24);
		p += 40;
		for (i = 0; i < s->ext_hdrs; i++) { /* 8-byte HBH / dest opts, PadN */
			*nh = i == 0 ? 0 : 60;
			nh = p;
			p[1] = 0;
			p[2] = 1; p[3] = 4; /* PadN, 4 bytes */
			p += 8;
			ext_len += 8;
		}
		if (s->routing_hdr) { /* type 0 style, 24 bytes: one address */
			*nh = 43;
			nh = p;
			p[1] = 2;
			p += 24;
			ext_len += 24;
		}
		if (s->frag != FRAG_NONE) {
			*nh = 44;
			nh = p;
			put16(p + 2, s->frag == FRAG_FIRST ? 0x0001 : 0x0010);
			p += 8;
			ext_len += 8;
		}
		*nh = proto;
		put16(buf + (size_t)(p - buf) - (size_t)ext_len - 40 + 4, (uint16_t)(ext_len + l4_len));
	}

	if (proto == 6) {
		int doff = s->doff ? s->doff : 5 + s->tcp_opts / 4;

		put16(p, s->sport ? s->sport : 40000);
		put16(p + 2, s->dport ? s->dport : 25);
		{
			uint32_t seq = htonl(s->seq ? s->seq : 1000);

			uint32_t ack = htonl(s->ack);

			memcpy(p + 4, &seq, 4);
			memcpy(p + 8, &ack, 4);
		}
		p[12] = (uint8_t)(doff << 4);
		p[13] = s->flags ? s->flags : TH_SYN;
		put16(p + 14, 64240);
		for (i = 0; i < s->tcp_opts; i++)
			p[20 + i] = 1;
		p += tcp_len;
	} else {
		put16(p, s->sport ? s->sport : 40000);
		put16(p + 2, s->dport ? s->dport : 25);
		put16(p + 4, (uint16_t)(8 + s->payload));
		p += 8;
	}
	for (i = 0; i < s->payload; i++)
		*p++ = (uint8_t)('a' + i % 26);
	return (size_t)(p - buf);
}

/* RFC 1071 sum over a buffer (for checking replies). */
static inline uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#endif
