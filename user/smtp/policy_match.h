/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_match.h - which lookup of a limit section applies to a client,
 * a sender or a recipient: the SMTP front ends' side of limit.ini (the
 * kernel's side is the controller's policy_compile.h).
 */
#ifndef MX_POLICY_MATCH_H
#define MX_POLICY_MATCH_H

#include "policy.h"

/*
 * Lookups for the proxy's sections (haraka order: longest prefix, then
 * default).  Returns the matching lookup or NULL when none matches (no
 * default).  mx_section_match_name tries the full mail address, then the
 * domain, then each parent domain ("a.b.example.com" -> "b.example.com"
 * -> "example.com" -> "com"), then default.
 */
const struct mx_lookup *mx_section_match_addr(const struct mx_section *s, const mx_prefix *addr);
const struct mx_lookup *mx_section_match_name(const struct mx_section *s, const char *name);
/* [rate_rcpt_host] in haraka's order: the client address (longest prefix),
 * then its rDNS name and parent domains (`host` may be NULL), then default. */
const struct mx_lookup *mx_section_match_host(const struct mx_section *s, const mx_prefix *addr,
					      const char *host);

#endif
