/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * verdict_proto.h - one request line of the verdict protocol (docs/design.md
 * "Verdict protocol"), parsed and formatted here for both sides (the
 * daemon's server, the SMTP front ends' client), without side effects so
 * it can be unit-tested and fuzzed on its own.
 *
 *   PENALIZE ADDR_OR_PREFIX SECONDS [limit=N] [reason=WORD]
 *   BLOCK PREFIX SECONDS [reason=WORD]
 *   UNBLOCK PREFIX
 *   QUERY ADDR
 *
 * Verbs are case-insensitive; fields are separated by spaces or tabs; the
 * options come in any order, each at most once.  A prefix is an address
 * or CIDR (host bits must be clear), never haraka's partial forms: a
 * verdict names what it means exactly.
 */
#ifndef MX_VERDICT_PROTO_H
#define MX_VERDICT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "mx_types.h"

/* Longest request line, newline (and a CR before it) not counted. */
#define MX_VERDICT_LINE_MAX 512
/* Longest reply line, newline included: replies are short by design, so a
 * client can read them with a small fixed buffer. */
#define MX_VERDICT_REPLY_MAX 256
/* Longest sanction a verdict can ask: the policy's "forever" (10 years),
 * so now + seconds can never overflow. */
#define MX_VERDICT_SECONDS_MAX (3650ULL * 86400)
/* Largest limit=N: a cap this high is no cap; the two values above it
 * are the kernel's special penalty limits (mx_types.h). */
#define MX_VERDICT_LIMIT_MAX 1000000u
/* Widest prefix PENALIZE / BLOCK accept (native lengths): see too_wide(). */
#define MX_VERDICT_V4_PLEN_MIN 8
#define MX_VERDICT_V6_PLEN_MIN 16

enum mx_vreq_op {
	MX_VREQ_PENALIZE,
	MX_VREQ_BLOCK,
	MX_VREQ_UNBLOCK,
	MX_VREQ_QUERY,
};

struct mx_vreq {
	enum mx_vreq_op op;
	mx_prefix prefix;           /* QUERY: a full address (plen 128) */
	uint64_t seconds;           /* PENALIZE, BLOCK: 1..MX_VERDICT_SECONDS_MAX */
	uint32_t limit;             /* PENALIZE limit=N; 0 = not given */
	char reason[MX_REASON_LEN]; /* "" = not given */
};

/*
 * Parse one line of `len` bytes (no newline; a trailing CR is ignored).
 * Returns 0, or -1 with *why set to a short reason for the ERR reply
 * (a static string, lower case, no newline).  *out is all zero on error.
 */
int mx_vreq_parse(const char *line, size_t len, struct mx_vreq *out, const char **why);

/*
 * The request line for r (no newline), the one spelling every client
 * sends: "PENALIZE 192.0.2.7 600 limit=1 reason=errors",
 * "BLOCK 198.51.100.0/24 3600 reason=x", "UNBLOCK P", "QUERY A".
 * Returns its length, or -1 if r is not a request mx_vreq_parse accepts
 * or out is too small.  mx_vreq_parse(format(r)) gives r back.
 */
int mx_vreq_format(const struct mx_vreq *r, char *out, size_t len);

/* "PENALIZE", "BLOCK", ... */
const char *mx_vreq_op_name(enum mx_vreq_op op);

/* Is s a reason word: 1 to MX_REASON_LEN - 1 of [A-Za-z0-9_.-]? */
bool mx_reason_valid(const char *s);

#endif
