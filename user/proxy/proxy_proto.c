/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * proxy_proto.c - PROXY protocol v1/v2 encoder and strict decoder.
 */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

/* v2 family/protocol bytes: high nibble family, low nibble transport. */
#define V2_TCP4 0x11
#define V2_TCP6 0x21
#define V2_CMD_LOCAL 0x20
#define V2_CMD_PROXY 0x21

/* Both endpoints as one family: IPv4 if both are IPv4 or IPv4-mapped. */
struct pp_pair {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* network order */
};

static int pp_side(const struct sockaddr *sa, int *fam, uint8_t addr[16], uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		*fam = AF_INET;
		memcpy(addr, &in->sin_addr, 4);
		*port = in->sin_port;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		*port = in6->sin6_port;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			*fam = AF_INET;
			memcpy(addr, &in6->sin6_addr.s6_addr[12], 4);
		} else {
			*fam = AF_INET6;
			memcpy(addr, &in6->sin6_addr, 16);
		}
		return 0;
	}
	return -1;
}

static int pp_pair(const struct sockaddr *src, const struct sockaddr *dst, struct pp_pair *p)
{
	int fs, fd;

	if (pp_side(src, &fs, p->src, &p->sport) < 0 || pp_side(dst, &fd, p->dst, &p->dport) < 0)
		return -1;
	if (fs != fd && src->sa_family == AF_INET6 && dst->sa_family == AF_INET6) {
		/* One side IPv4-mapped, the other not: a valid TCP6 header from a
		 * dual-stack balancer ("TCP6 ::ffff:192.0.2.1 2001:db8::1").  Pass
		 * it on as TCP6, as it came, rather than failing the session. */
		memcpy(p->src, &((const struct sockaddr_in6 *)src)->sin6_addr, 16);
		memcpy(p->dst, &((const struct sockaddr_in6 *)dst)->sin6_addr, 16);
		fs = fd = AF_INET6;
	}
	if (fs != fd)
		return -1;
	p->family = fs;
	return 0;
}

int mx_pp_encode_v1(const struct sockaddr *src, const struct sockaddr *dst, char *buf,
		    size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	struct pp_pair p;
	int n;

	if (pp_pair(src, dst, &p) < 0)
		return -1;
	inet_ntop(p.family, p.src, s, sizeof(s));
	inet_ntop(p.family, p.dst, d, sizeof(d));
	n = snprintf(buf, len, "PROXY %s %s %s %u %u\r\n", p.family == AF_INET ? "TCP4" : "TCP6",
		     s, d, ntohs(p.sport), ntohs(p.dport));
	return n < 0 || (size_t)n >= len ? -1 : n;
}

int mx_pp_encode_v2(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *buf,
		    size_t len)
{
	struct pp_pair p;
	size_t alen, n;

	if (pp_pair(src, dst, &p) < 0)
		return -1;
	alen = p.family == AF_INET ? 4 : 16;
	n = MX_PP_V2_HDR + 2 * alen + 4;
	if (len < n)
		return -1;
	memcpy(buf, v2_sig, sizeof(v2_sig));
	buf[12] = V2_CMD_PROXY;
	buf[13] = p.family == AF_INET ? V2_TCP4 : V2_TCP6;
	buf[14] = (uint8_t)((2 * alen + 4) >> 8);
	buf[15] = (uint8_t)(2 * alen + 4);
	memcpy(buf + 16, p.src, alen);
	memcpy(buf + 16 + alen, p.dst, alen);
	memcpy(buf + 16 + 2 * alen, &p.sport, 2);
	memcpy(buf + 18 + 2 * alen, &p.dport, 2);
	return (int)n;
}

/* A TLV: type, 16-bit length, value. */
static size_t put_tlv(uint8_t *at, uint8_t type, const void *v, size_t n)
{
	at[0] = type;
	at[1] = (uint8_t)(n >> 8);
	at[2] = (uint8_t)n;
	memcpy(at + 3, v, n);
	return 3 + n;
}

int mx_pp_v2_add_ssl(uint8_t *buf, size_t hlen, size_t cap, const char *version,
		     const char *cipher)
{
	size_t vl = strlen(version), cl = strlen(cipher);
	size_t sub = 3 + vl + 3 + cl, total = hlen + 3 + 5 + sub, body;
	uint8_t *t = buf + hlen, head[5] = { PP2_CLIENT_SSL, 0, 0, 0, 0 }; /* verify 0: no
									 * client certificate asked */

	if (hlen < MX_PP_V2_HDR || total > cap || vl > 255 || cl > 255)
		return -1;
	body = ((size_t)buf[14] << 8 | buf[15]) + (total - hlen);
	if (body > 0xffff)
		return -1;
	t[0] = PP2_TYPE_SSL;
	t[1] = (uint8_t)((5 + sub) >> 8);
	t[2] = (uint8_t)(5 + sub);
	memcpy(t + 3, head, 5);
	t += 8;
	t += put_tlv(t, PP2_SUBTYPE_SSL_VERSION, version, vl);
	put_tlv(t, PP2_SUBTYPE_SSL_CIPHER, cipher, cl);
	buf[14] = (uint8_t)(body >> 8);
	buf[15] = (uint8_t)body;
	return (int)total;
}

static void set_sa(struct sockaddr_storage *ss, int family, const void *addr, uint16_t port_n)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, addr, 4);
		in->sin_port = port_n;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, addr, 16);
		in6->sin6_port = port_n;
	}
}

/* A v1 port: 1..5 digits, no leading zero, <= 65535. */
static int v1_port(const char *s, uint16_t *port_n)
{
	size_t n = strlen(s);
	unsigned long v;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	v = strtoul(s, NULL, 10);
	if (v > 65535)
		return -1;
	*port_n = htons((uint16_t)v);
	return 0;
}

/* "PROXY TCP4 s d sp dp" without CRLF, NUL-terminated, modified in place. */
static int v1_fields(char *line, struct mx_pp_info *out)
{
	char *f[6] = { NULL }, *save = NULL;
	uint8_t a[16], b[16];
	uint16_t sp, dp;
	int n = 0, fam;

	/* exactly one space between fields, none at either end */
	if (strstr(line, "  ") || line[0] == ' ' || (*line && line[strlen(line) - 1] == ' '))
		return -1;
	for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == 6)
			return -1; /* a seventh field */
		f[n++] = t;
	}
	if (n < 2 || strcmp(f[0], "PROXY") != 0)
		return -1;
	if (strcmp(f[1], "UNKNOWN") == 0) {
		out->has_addr = false;
		return 0;
	}
	if (n != 6)
		return -1;
	if (strcmp(f[1], "TCP4") == 0)
		fam = AF_INET;
	else if (strcmp(f[1], "TCP6") == 0)
		fam = AF_INET6;
	else
		return -1;
	if (inet_pton(fam, f[2], a) != 1 || inet_pton(fam, f[3], b) != 1 ||
	    v1_port(f[4], &sp) < 0 || v1_port(f[5], &dp) < 0)
		return -1;
	set_sa(&out->src, fam, a, sp);
	set_sa(&out->dst, fam, b, dp);
	out->has_addr = true;
	return 0;
}

static int decode_v1(const uint8_t *buf, size_t len, struct mx_pp_info *out)
{
	char line[MX_PP_V1_MAX + 1];
	const uint8_t *lf;
	size_t n;

	if (memcmp(buf, "PROXY ", len < 6 ? len : 6) != 0)
		return -1;
	lf = memchr(buf, '\n', len < MX_PP_V1_MAX ? len : MX_PP_V1_MAX);
	if (!lf)
		return len >= MX_PP_V1_MAX ? -1 : 0;
	n = (size_t)(lf - buf);
	if (n < 1 || buf[n - 1] != '\r')
		return -1;
	memcpy(line, buf, n - 1);
	line[n - 1] = '\0';
	if (strlen(line) != n - 1) /* a NUL inside */
		return -1;
	return v1_fields(line, out) < 0 ? -1 : (int)n + 1;
}

static int decode_v2(const uint8_t *buf, size_t len, struct mx_pp_info *out)
{
	size_t total, alen;

	if (memcmp(buf, v2_sig, len < 12 ? len : 12) != 0)
		return -1;
	if (len < MX_PP_V2_HDR)
		return 0;
	total = MX_PP_V2_HDR + ((size_t)buf[14] << 8 | buf[15]);
	if ((buf[12] & 0xf0) != 0x20 || total > MX_PP_V2_MAX_READ)
		return -1;
	if (len < total)
		return 0;
	if (buf[12] == V2_CMD_LOCAL) {
		out->has_addr = false;
		return (int)total;
	}
	if (buf[12] != V2_CMD_PROXY)
		return -1;
	if (buf[13] == V2_TCP4)
		alen = 4;
	else if (buf[13] == V2_TCP6)
		alen = 16;
	else
		return -1; /* UDP, UNIX or UNSPEC cannot carry an SMTP client */
	if (total < MX_PP_V2_HDR + 2 * alen + 4)
		return -1;
	uint16_t sp, dp;
	int fam = alen == 4 ? AF_INET : AF_INET6;

	memcpy(&sp, buf + 16 + 2 * alen, 2);
	memcpy(&dp, buf + 18 + 2 * alen, 2);
	set_sa(&out->src, fam, buf + 16, sp);
	set_sa(&out->dst, fam, buf + 16 + alen, dp);
	out->has_addr = true;
	return (int)total;
}

int mx_pp_decode(const uint8_t *buf, size_t len, unsigned accept, struct mx_pp_info *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return 0;
	if (buf[0] == 'P' && (accept & MX_PP_ACCEPT_V1))
		return decode_v1(buf, len, out);
	if (buf[0] == 0x0d && (accept & MX_PP_ACCEPT_V2))
		return decode_v2(buf, len, out);
	return -1;
}
