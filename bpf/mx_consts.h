/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* mx_consts.h - every constant of the BPF programs, each with its reason. */
#ifndef MX_CONSTS_H
#define MX_CONSTS_H

#define ETH_P_IP      0x0800
#define ETH_P_IPV6    0x86DD
#define ETH_P_8021Q   0x8100
#define ETH_P_8021AD  0x88A8
#define ETH_HLEN      14
#define ETH_ALEN      6
#define VLAN_HLEN     4

/* AF_INET is a macro of the C library, not in vmlinux.h (IPPROTO_TCP and
 * the TCP states TCP_ESTABLISHED, TCP_SYN_RECV are: the kernel's enums are
 * used for those). */
#define AF_INET_      2
#define AF_INET6_     10

/* IPv4 frag_off bits (host order) */
#define IP_MF_        0x2000
#define IP_OFFMASK_   0x1fff
#define IP_DF_        0x4000
/* IPv6 fragment header: offset in the high 13 bits, M flag bit 0 */
#define IP6_OFFMASK_  0xfff8
#define IP6_MF_       0x0001

/* IPv6 extension headers we walk through (RFC 8200 4.1). */
#define NEXTHDR_HOP      0
#define NEXTHDR_ROUTING  43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH     51
#define NEXTHDR_DEST     60

/* VLAN tags we look through: 802.1ad outer plus 802.1Q inner (QinQ). */
#define MX_MAX_VLANS     2
/* Looks for TCP along the IPv6 chain: at most MX_MAX_EXT_HDRS - 1 = 7
 * extension headers in front of it; a longer chain is refused (it could
 * hide a SYN; RFC 8200 allows each header once, destination options twice:
 * at most 6 in front of an upper layer).  Real traffic carries 0-2. */
#define MX_MAX_EXT_HDRS  8
/* Largest L3 offset: Ethernet plus two VLAN tags. */
#define MX_MAX_L3_OFF    (ETH_HLEN + MX_MAX_VLANS * VLAN_HLEN)

/* TCP flag bits in the 13th header byte. */
#define MX_TCPHDR_FIN  0x01
#define MX_TCPHDR_SYN  0x02
#define MX_TCPHDR_RST  0x04
#define MX_TCPHDR_ACK  0x10

/* Tries of a compare-and-swap before giving up (counted as contention);
 * more than two CPUs racing on one source's counter within a few ns is
 * already a flood, and giving up fails open. */
#define MX_CAS_TRIES 4

/* Reply TTL / hop limit of a reset (Linux default). */
#define MX_RST_TTL 64

#endif
