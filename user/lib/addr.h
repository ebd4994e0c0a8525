/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * addr.h - addresses and prefixes in mxlimit's shared 128-bit space
 * (IPv4 as ::ffff:a.b.c.d, prefix lengths 96 + p; see include/mx_types.h).
 */
#ifndef MX_ADDR_H
#define MX_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_types.h"

/* Longest text mx_prefix_format writes, with NUL ("ffff:...:ffff/128"). */
#define MX_PREFIX_STRLEN 64

/* A prefix is an mx_key: addr masked to plen, plen in the shared space. */
typedef struct mx_key mx_prefix;

bool mx_prefix_is_v4(const mx_prefix *p);
/* Mask addr to plen in place (bits past plen cleared). */
void mx_prefix_mask(mx_prefix *p);
/* Does `outer` contain `inner` (inner.plen >= outer.plen, same leading bits)? */
bool mx_prefix_contains(const mx_prefix *outer, const mx_prefix *inner);
bool mx_prefix_equal(const mx_prefix *a, const mx_prefix *b);

/*
 * Parse one address or prefix as a lookup in limit.ini or on the command
 * line:
 *   "192.0.2.7"            -> /32 (plen 128)
 *   "198.51.100.0/22"      -> CIDR; host bits set are an error
 *   "2001:db8::1"          -> /128; "2001:db8::/32" CIDR
 *   haraka partial forms when `haraka` is true:
 *   "192.0.2" /24, "192.0" /16, "192" /8; "fe80:0:0:0" /64 (1..7 groups,
 *   no "::"), the groups given being the prefix.
 * Returns 0, or -1 with a short reason in *why (static string).
 */
int mx_prefix_parse(const char *s, bool haraka, mx_prefix *out, const char **why);
/* A full address only (no prefix length). */
int mx_addr_parse(const char *s, mx_prefix *out);
/* A socket address's host (AF_INET, AF_INET6; IPv4-mapped IPv6 is the
 * IPv4 address, as the shared space has it), plen 128.  -1 for another
 * family.  mx_prefix_format() then prints IPv4 dotted. */
struct sockaddr;
int mx_addr_from_sockaddr(const struct sockaddr *sa, mx_prefix *out);
/* "192.0.2.0/24", "2001:db8::/32"; a full address without "/len".
 * Returns buf. */
char *mx_prefix_format(const mx_prefix *p, char *buf, size_t len);
/* Family-native prefix length (IPv4 /24 -> 24). */
unsigned mx_prefix_native_len(const mx_prefix *p);

#endif
