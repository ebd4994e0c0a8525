/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * addr.c - addresses and prefixes in the shared 128-bit space (addr.h).
 *
 * Full addresses and CIDR go through inet_pton, so what we accept is what
 * the C library calls an address.  Only haraka's partial forms ("192.0.2",
 * "fe80:0:0:0") are parsed by hand, because no library knows them.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Longest lookup text we try to read as an address: a full IPv6 address
 * with an embedded IPv4 tail and "/128" is 50 bytes. */
#define ADDR_TEXT_MAX 63
#define V4_PARTIAL_MAX 3 /* "a.b.c" is the longest haraka IPv4 prefix */
#define V6_PARTIAL_MAX 7 /* eight groups are a full address */
#define V6_GROUP_BITS 16
#define V4_OCTET_BITS 8
#define V4_MAPPED_WORD 0x0000ffffu /* ::ffff:0:0/96, word 2, host order */

bool mx_prefix_is_v4(const mx_prefix *p)
{
	return p->plen >= MX_V4_PLEN_BASE && p->addr[0] == 0 && p->addr[1] == 0 &&
	       p->addr[2] == htonl(V4_MAPPED_WORD);
}

void mx_prefix_mask(mx_prefix *p)
{
	unsigned i, lo;

	for (i = 0; i < 4; i++) {
		lo = i * 32;
		if (p->plen >= lo + 32)
			continue;
		if (p->plen <= lo)
			p->addr[i] = 0;
		else
			p->addr[i] &= htonl(~0u << (32 - (p->plen - lo)));
	}
}

bool mx_prefix_contains(const mx_prefix *outer, const mx_prefix *inner)
{
	mx_prefix a = *outer, b = *inner;

	if (inner->plen < outer->plen)
		return false;
	b.plen = a.plen;
	mx_prefix_mask(&a);
	mx_prefix_mask(&b);
	return memcmp(a.addr, b.addr, sizeof(a.addr)) == 0;
}

bool mx_prefix_equal(const mx_prefix *a, const mx_prefix *b)
{
	return a->plen == b->plen && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static void set_v4(mx_prefix *out, uint32_t addr_be, unsigned native_len)
{
	memset(out, 0, sizeof(*out));
	out->addr[2] = htonl(V4_MAPPED_WORD);
	out->addr[3] = addr_be;
	out->plen = MX_V4_PLEN_BASE + native_len;
}

/* A full IPv4 or IPv6 address, as a /128.  *v4 tells the notation, which
 * decides the space a CIDR length counts in ("::ffff:192.0.2.0/120" is
 * IPv6 notation and a 128-bit length, though the prefix is IPv4). */
static int parse_full(const char *s, mx_prefix *out, bool *v4)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		set_v4(out, a4.s_addr, 32);
		*v4 = true;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		memcpy(out->addr, &a6, sizeof(out->addr));
		out->plen = 128;
		*v4 = false;
		return 0;
	}
	return -1;
}

/* Decimal without sign or leading zeros ("0" itself is fine), at most
 * `digits` digits.  Returns the value or -1. */
static long parse_dec(const char *s, size_t n, size_t digits)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > digits || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* haraka's "a", "a.b", "a.b.c": the octets given are the prefix. */
static int parse_v4_partial(const char *s, mx_prefix *out)
{
	uint32_t addr = 0;
	unsigned n = 0;
	const char *dot;
	long v;

	for (;;) {
		dot = strchr(s, '.');
		v = parse_dec(s, dot ? (size_t)(dot - s) : strlen(s), 3);
		if (v < 0 || v > 255 || n == V4_PARTIAL_MAX)
			return -1;
		addr |= (uint32_t)v << (24 - V4_OCTET_BITS * n);
		n++;
		if (!dot)
			break;
		s = dot + 1;
	}
	set_v4(out, htonl(addr), V4_OCTET_BITS * n);
	return 0;
}

/* haraka's IPv6 group prefixes "fe80", ..., "fe80:0:0:0:0:0:0" (no "::"). */
static int parse_v6_partial(const char *s, mx_prefix *out)
{
	uint16_t g[8] = { 0 };
	unsigned n = 0, len;
	int d;

	memset(out, 0, sizeof(*out));
	for (;;) {
		if (n == V6_PARTIAL_MAX)
			return -1;
		for (len = 0; (d = hex_digit(s[len])) >= 0; len++) {
			if (len == 4)
				return -1;
			g[n] = (uint16_t)(g[n] << 4 | d);
		}
		if (len == 0)
			return -1;
		n++;
		s += len;
		if (*s == '\0')
			break;
		if (*s++ != ':')
			return -1;
	}
	for (d = 0; d < 4; d++)
		out->addr[d] = htonl((uint32_t)g[2 * d] << 16 | g[2 * d + 1]);
	out->plen = V6_GROUP_BITS * n;
	return 0;
}

static int parse_cidr(const char *s, const char *slash, mx_prefix *out, const char **why)
{
	char addr[ADDR_TEXT_MAX + 1];
	mx_prefix masked;
	bool v4;
	long len;

	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (parse_full(addr, out, &v4) < 0) {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	len = parse_dec(slash + 1, strlen(slash + 1), 3);
	if (len < 0 || len > (v4 ? 32 : 128)) {
		*why = "prefix length out of range";
		return -1;
	}
	out->plen = (uint32_t)len + (v4 ? MX_V4_PLEN_BASE : 0);
	masked = *out;
	mx_prefix_mask(&masked);
	if (!mx_prefix_equal(&masked, out)) {
		*why = "host bits set after the prefix length";
		return -1;
	}
	return 0;
}

int mx_prefix_parse(const char *s, bool haraka, mx_prefix *out, const char **why)
{
	const char *slash;
	bool v4;

	*why = NULL;
	memset(out, 0, sizeof(*out));
	if (*s == '\0') {
		*why = "empty";
		return -1;
	}
	if (strlen(s) > ADDR_TEXT_MAX) {
		*why = "too long for an address";
		return -1;
	}
	slash = strchr(s, '/');
	if (slash) {
		if (parse_cidr(s, slash, out, why) == 0)
			return 0;
		memset(out, 0, sizeof(*out));
		return -1;
	}
	if (parse_full(s, out, &v4) == 0)
		return 0;
	if (haraka && (parse_v4_partial(s, out) == 0 || parse_v6_partial(s, out) == 0))
		return 0;
	memset(out, 0, sizeof(*out));
	*why = haraka ? "not an address, CIDR prefix or haraka prefix" : "not an address or CIDR prefix";
	return -1;
}

int mx_addr_parse(const char *s, mx_prefix *out)
{
	bool v4;

	memset(out, 0, sizeof(*out));
	if (strlen(s) > ADDR_TEXT_MAX || parse_full(s, out, &v4) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

unsigned mx_prefix_native_len(const mx_prefix *p)
{
	return mx_prefix_is_v4(p) ? p->plen - MX_V4_PLEN_BASE : p->plen;
}

char *mx_prefix_format(const mx_prefix *p, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	bool v4 = mx_prefix_is_v4(p);

	if (len == 0)
		return buf;
	if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? (const void *)&p->addr[3] : (const void *)p->addr,
		       text, sizeof(text))) {
		snprintf(buf, len, "?");
		return buf;
	}
	if (p->plen >= 128)
		snprintf(buf, len, "%s", text);
	else
		snprintf(buf, len, "%s/%u", text, mx_prefix_native_len(p));
	return buf;
}

int mx_addr_from_sockaddr(const struct sockaddr *sa, mx_prefix *out)
{
	memset(out, 0, sizeof(*out));
	out->plen = 128;
	if (sa->sa_family == AF_INET) {
		out->addr[2] = htonl(0xffff);
		memcpy(&out->addr[3], &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	memcpy(out->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	return 0;
}
