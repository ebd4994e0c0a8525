/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * sanction.h - blocks and penalties in the kernel's mx_sanctions trie.
 *
 * Each entry keeps its own block and penalty (own_*) and the effective
 * values the datapath reads, merged from every enclosing prefix: a block
 * applies to everything inside it (the latest expiry wins), a penalty
 * comes from the most specific prefix that has an active one.  Every
 * change here recomputes the effective values of the entry and of the
 * entries inside it, so the one LPM match the datapath makes is enough.
 *
 * Times are CLOCK_MONOTONIC ns (plus the maps' test clock offset, see
 * mx_mono_now); MX_FOREVER means no expiry.
 */
#ifndef MX_SANCTION_H
#define MX_SANCTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "loader.h"

#define MX_FOREVER UINT64_MAX

enum mx_sanction_kind { MX_KIND_BLOCK = 1, MX_KIND_PENALTY = 2 };

struct mx_sanction_req {
	mx_prefix prefix;
	enum mx_sanction_kind kind;
	uint64_t until_ns;  /* absolute monotonic expiry, or MX_FOREVER */
	uint32_t limit;     /* penalty: concurrency cap; 0 = the "bad" tier, else refuse */
	const char *reason; /* a word, may be NULL */
};

struct mx_sanction_entry {
	mx_prefix prefix;
	struct mx_sanction v;
};

/* Add or extend a block / penalty (a later expiry replaces an earlier
 * one; a new penalty replaces the old one's limit). */
int mx_sanction_add(const struct mx_maps *m, const struct mx_sanction_req *r);
/* Remove the own block and/or penalty (kinds: a mask of MX_KIND_*) of
 * exactly this prefix.  Returns 1 when there was none. */
int mx_sanction_remove(const struct mx_maps *m, const mx_prefix *p, unsigned kinds);
/* The same, only for the sanctions on exactly p whose reason is `reason`
 * (a block and a penalty each have their own).  1 when none has it. */
int mx_sanction_remove_reason(const struct mx_maps *m, const mx_prefix *p, unsigned kinds,
			      const char *reason);
/* Every entry; *out is malloc'd (free it). */
int mx_sanction_list(const struct mx_maps *m, struct mx_sanction_entry **out, size_t *n);
/* Drop what has expired by `now` (housekeeping; the datapath already
 * ignores it).  Returns how many entries were removed. */
int mx_sanction_expire(const struct mx_maps *m, uint64_t now);
/* The effective state for one address (as the datapath sees it). */
int mx_sanction_lookup(const struct mx_maps *m, const mx_prefix *addr, struct mx_sanction *out);

/* A penalty's limit as the state file and QUERY write it: "tier" (the
 * *_history bad tier, or none given), "refuse", or the number; buf holds
 * the number. */
const char *mx_penalty_limit_text(uint32_t limit, char *buf, size_t len);

/* "9m58s", "never", "expired" for a monotonic expiry. */
char *mx_fmt_remaining(uint64_t until_ns, uint64_t now_ns, char *buf, size_t len);

/* mx_reason_valid(): user/lib/verdict_proto.h */

#endif
