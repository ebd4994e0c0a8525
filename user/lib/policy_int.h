/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_int.h - what the policy*.c files share and nobody else needs:
 * value parsers for limit.ini.  Each returns 0, or -1 with a short reason
 * in *why (a static string) for the caller to put in its message.
 */
#ifndef MX_POLICY_INT_H
#define MX_POLICY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

/* The limit sections, each a struct mx_section field of the same name. */
#define MX_POL_LIMIT_SECTIONS(X)                                                       \
	X(concurrency) X(rate_conn) X(recipients) X(unrecognized_commands) X(errors)   \
	X(rate_rcpt_host) X(rate_rcpt_sender) X(rate_rcpt) X(rate_rcpt_null)

/* Decimal digits only (no sign, no blanks), min..max. */
int mx_pol_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out, const char **why);
/* haraka's truth words: true yes ok enabled on 1 / false no off disabled 0 */
int mx_pol_bool(const char *s, bool *out, const char **why);
/* "limit[/time]": with_period, a missing time is 60 s; without, a time is
 * an error and *period_ns is 0. */
int mx_pol_limit(const char *s, bool with_period, uint32_t *limit, uint64_t *period_ns,
		 const char **why);
/* "25,465,587" and ranges "8025-8030" into a bitmap like mx_config.ports. */
int mx_pol_ports(const char *s, __u64 ports[1024], const char **why);
/* A host name, domain or mail address as a lookup; lowercased into out. */
int mx_pol_name(const char *s, char *out, size_t len, const char **why);

#endif
