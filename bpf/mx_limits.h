/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_limits.h - the limit arithmetic shared by XDP and the socket-state
 * programs: counter keys, policy and sanction lookups, the GCRA rate check
 * and the concurrency counter with its pending-SYN slots.
 *
 * Concurrency = established (exact, moved only by the tracepoint on a
 * successful insert/delete of a connection record) + pending (SYNs XDP
 * admitted whose handshake has not completed).  Pending SYNs are counted in
 * MX_PEND_SLOTS time slots of pending_timeout / MX_PEND_SLOTS each; a slot
 * whose epoch is MX_PEND_SLOTS or more behind the current one no longer
 * counts, so an admitted SYN that never completes stops counting 3/4 to 4/4
 * of the timeout after admission.  XDP reserves its slot first and checks
 * the total after, so concurrent SYNs on different CPUs see each other and
 * a burst cannot overshoot the limit (see README "Accounting").
 */
#ifndef MX_LIMITS_H
#define MX_LIMITS_H

#include "mx_ctl.h"

static __always_inline __u32 mx_mask_word(__u32 w, __u32 plen, __u32 i)
{
	__u32 lo = i * 32;

	if (plen >= lo + 32)
		return w;
	if (plen <= lo)
		return 0;
	return w & bpf_htonl(0xffffffffu << (32 - (plen - lo)));
}

/* Counter key: the address masked to plen. */
static __always_inline void mx_make_key(struct mx_key *k, const __u32 *addr, __u32 plen)
{
	if (plen > 128)
		plen = 128;
	k->plen = plen;
	k->addr[0] = mx_mask_word(addr[0], plen, 0);
	k->addr[1] = mx_mask_word(addr[1], plen, 1);
	k->addr[2] = mx_mask_word(addr[2], plen, 2);
	k->addr[3] = mx_mask_word(addr[3], plen, 3);
}

static __always_inline struct mx_rule *mx_rule_lookup(__u32 gen, const __u32 *addr)
{
	struct mx_policy_key k = { .prefixlen = 32 + 128, .gen = gen };

	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&mx_policy, &k);
}

static __always_inline struct mx_sanction *mx_sanction_lookup(const __u32 *addr)
{
	struct mx_sanction_key k = { .prefixlen = 128 };

	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&mx_sanctions, &k);
}

/* ---- GCRA (generic cell rate algorithm, ITU-T I.371) ----
 * One u64 per source, updated by compare-and-swap: exact across CPUs, no
 * per-CPU drift.  `limit` arrivals in a burst pass, then one per
 * emission interval; a refused arrival changes nothing. */
struct mx_rate_params {
	__u64 emission;
	__u64 tolerance;
};

static __always_inline int mx_gcra_over(__u64 tat, __u64 now, const struct mx_rate_params *rp)
{
	__u64 t = tat > now ? tat : now;

	return t - now > rp->tolerance;
}

/* The soft state of k (rate bucket + pending counts), created if missing
 * (LRU: never fails for lack of room). */
static __always_inline struct mx_src *mx_src_get(const struct mx_key *k)
{
	struct mx_src *e = bpf_map_lookup_elem(&mx_src, k);

	if (e)
		return e;
	{
		struct mx_src fresh = {};

		bpf_map_update_elem(&mx_src, k, &fresh, BPF_NOEXIST);
	}
	return bpf_map_lookup_elem(&mx_src, k);
}

/* Peek without spending. 1 = over the rate.  *found keeps the entry found
 * (or NULL) for mx_conc_reserve and mx_rate_spend, saving them a lookup. */
static __always_inline int mx_rate_peek(const struct mx_key *k, __u64 now,
					const struct mx_rate_params *rp, struct mx_src **found)
{
	struct mx_src *r = bpf_map_lookup_elem(&mx_src, k);

	*found = r;
	return r && mx_gcra_over(r->tat_ns, now, rp);
}

/* Spend one arrival. 0 = spent, 1 = over the rate (nothing spent).  r is
 * k's entry when known, NULL when there was none.  A bucket's first
 * arrival (no entry, or an entry that held only pending counts: tat 0)
 * counts as rate_new. */
static __always_inline int mx_rate_spend(const struct mx_key *k, struct mx_src *r, __u64 now,
					 const struct mx_rate_params *rp, struct mx_stats *s)
{
	int i;

	if (!r) {
		struct mx_src fresh = { .tat_ns = now + rp->emission };

		if (bpf_map_update_elem(&mx_src, k, &fresh, BPF_NOEXIST) == 0) {
			MX_STAT_INC(s, rate_new);
			return 0;
		}
		r = bpf_map_lookup_elem(&mx_src, k); /* lost a race: use theirs */
		if (!r)
			return 0;
	}
	for (i = 0; i < MX_CAS_TRIES; i++) {
		__u64 old = r->tat_ns;
		__u64 t = old > now ? old : now;

		if (t - now > rp->tolerance)
			return 1;
		if (__sync_val_compare_and_swap(&r->tat_ns, old, t + rp->emission) == old) {
			if (!old)
				MX_STAT_INC(s, rate_new);
			return 0;
		}
	}
	MX_STAT_INC(s, contention);
	return 0; /* fail open */
}

/* ---- concurrency counter ---- */

/* The established counter of k, created if missing (tracepoint only:
 * created when a handshake completes).  NULL: map full. */
static __always_inline struct mx_conc *mx_conc_get(const struct mx_key *k, __u64 now)
{
	struct mx_conc *c = bpf_map_lookup_elem(&mx_conc, k);

	if (c)
		return c;
	{
		struct mx_conc fresh = { .last_ns = now };

		bpf_map_update_elem(&mx_conc, k, &fresh, BPF_NOEXIST);
	}
	return bpf_map_lookup_elem(&mx_conc, k);
}

static __always_inline __u32 mx_established(const struct mx_key *k)
{
	struct mx_conc *c = bpf_map_lookup_elem(&mx_conc, k);

	return c ? c->established : 0;
}

/* mx_epoch_live(), mx_pending_live(): include/mx_types.h (shared with the
 * controller). */

/* Count one pending SYN in the slot of `epoch`. 0 = counted. */
static __always_inline int mx_pend_add(struct mx_src *c, __u32 epoch, struct mx_stats *s)
{
	__u64 *slot = &c->pc.pend[epoch % MX_PEND_SLOTS];
	int i;

	for (i = 0; i < MX_CAS_TRIES; i++) {
		__u64 old = *slot;
		__u64 nv = ((__u32)(old >> 32) == epoch) ? old + 1 : (((__u64)epoch << 32) | 1);

		if (__sync_val_compare_and_swap(slot, old, nv) == old)
			return 0;
	}
	MX_STAT_INC(s, contention);
	return -1;
}

/* Release one pending SYN counted in `epoch`'s slot, if that slot still
 * holds that epoch (else it has expired with its slot: nothing to do). */
static __always_inline void mx_pend_release(struct mx_src *c, __u32 epoch,
					    struct mx_stats *s)
{
	__u64 *slot = &c->pc.pend[epoch % MX_PEND_SLOTS];
	int i;

	for (i = 0; i < MX_CAS_TRIES; i++) {
		__u64 old = *slot;

		if ((__u32)(old >> 32) != epoch)
			return;
		if ((__u32)old == 0) {
			MX_STAT_INC(s, underflow);
			return;
		}
		if (__sync_val_compare_and_swap(slot, old, old - 1) == old)
			return;
	}
	MX_STAT_INC(s, contention);
}

/* Release by key (the tracepoint: the entry may have been evicted). */
static __always_inline void mx_pend_release_key(const struct mx_key *k, __u32 epoch,
						struct mx_stats *s)
{
	struct mx_src *pc = bpf_map_lookup_elem(&mx_src, k);

	if (pc)
		mx_pend_release(pc, epoch, s);
}

/*
 * Reserve a pending slot in k's counts, then check established + pending
 * (ours included) against limit (0 = unlimited).  *ep: k's entry if the
 * caller has it (the rate peek of the same key), else NULL; on return the
 * entry found or created.  Returns 0 when admitted (*pcp set when
 * counted), 1 when over (the reservation is released), and 0 with *pcp
 * NULL when it could not count (contention: fail open).
 */
static __always_inline int mx_conc_reserve(const struct mx_key *k, __u32 epoch, __u32 limit,
					   struct mx_src **ep, struct mx_src **pcp,
					   struct mx_stats *s)
{
	struct mx_src *pc = *ep ? *ep : mx_src_get(k);
	__u32 total;

	*ep = pc;
	*pcp = 0;
	if (!pc || mx_pend_add(pc, epoch, s))
		return 0;
	*pcp = pc;
	if (!limit)
		return 0;
	total = mx_established(k) + mx_pending_live(&pc->pc, epoch);
	if (total > limit) {
		mx_pend_release(pc, epoch, s);
		*pcp = 0;
		return 1;
	}
	return 0;
}

/* established - 1.  Exact without a loop: a decrement follows only the
 * successful delete of a connection record that incremented this counter,
 * so the count is at least 1 here unless housekeeping raced; check anyway. */
static __always_inline void mx_conc_dec(struct mx_conc *c, struct mx_stats *s)
{
	if (c->established == 0) {
		MX_STAT_INC(s, underflow);
		return;
	}
	__sync_fetch_and_add(&c->established, -1);
}

#endif
