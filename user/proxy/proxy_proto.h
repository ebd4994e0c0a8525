/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * proxy_proto.h - HAProxy PROXY protocol v1 (text) and v2 (binary) headers,
 * as specified in haproxy's doc/proxy-protocol.txt.
 *
 * The proxy writes one to the backend so the MTA sees the real client, and
 * reads one from a trusted load balancer in front of it.
 */
#ifndef MX_PROXY_PROTO_H
#define MX_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* v1: "PROXY TCP6 " + 2 * 39 + 2 * 5 + 3 spaces + CRLF = 107 bytes. */
#define MX_PP_V1_MAX 107
/* v2 fixed part: 12-byte signature, ver/cmd, family, 16-bit length. */
#define MX_PP_V2_HDR 16
/* v2 with IPv6 addresses and no TLVs: what we send. */
#define MX_PP_V2_MAX_SENT (MX_PP_V2_HDR + 36)
/* The largest v2 header we accept: addresses plus a few TLVs (AWS, Azure
 * and GCP add ids of under 100 bytes).  Bigger ones are refused rather
 * than buffered. */
#define MX_PP_V2_MAX_READ 1024

/* Which headers a decoder accepts (the values of enum mx_proxy_accept). */
#define MX_PP_ACCEPT_V1 1
#define MX_PP_ACCEPT_V2 2

struct mx_pp_info {
	/* false: "PROXY UNKNOWN" or a v2 LOCAL command (the balancer's own
	 * health check); the connection's real addresses apply. */
	bool has_addr;
	struct sockaddr_storage src, dst;
};

/*
 * Encode a header for a TCP connection from src to dst (both AF_INET or
 * both AF_INET6; IPv4-mapped IPv6 is written as IPv4 when both are).
 * Returns its length, or -1 if buf is too small or the families differ.
 */
int mx_pp_encode_v1(const struct sockaddr *src, const struct sockaddr *dst, char *buf,
		    size_t len);
int mx_pp_encode_v2(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *buf,
		    size_t len);

/* haproxy doc/proxy-protocol.txt 2.2.5: the TLS the client spoke. */
#define PP2_TYPE_SSL 0x20
#define PP2_CLIENT_SSL 0x01
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CIPHER 0x23
/* Room for a v2 header with the SSL TLV (version and cipher names). */
#define MX_PP_V2_MAX_TLS (MX_PP_V2_MAX_SENT + 8 + 2 * (3 + 64))

/*
 * Append a PP2_TYPE_SSL TLV (client used TLS, its version and cipher) to
 * the v2 header of hlen bytes in buf (cap bytes), fixing its length.
 * Returns the new length, or -1 if it does not fit.
 */
int mx_pp_v2_add_ssl(uint8_t *buf, size_t hlen, size_t cap, const char *version,
		     const char *cipher);

/*
 * Decode a header at the start of buf.  accept is a mask of
 * MX_PP_ACCEPT_V1 / _V2.  Returns the header's length (the SMTP stream
 * starts after it), 0 if more bytes are needed, -1 if buf does not start
 * with an acceptable, well-formed header.
 */
int mx_pp_decode(const uint8_t *buf, size_t len, unsigned accept, struct mx_pp_info *out);

#endif
