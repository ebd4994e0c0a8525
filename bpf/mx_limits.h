/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_limits.h - the limit arithmetic shared by XDP and the socket-state
 * programs: counter keys, policy and sanction lookups, the GCRA rate check
 * and the concurrency counter with its pending-SYN slots.
 *
 * Concurrency = established (exact, moved only by the tracepoint on a
 * successful insert/delete of a connection record) + pending (SYNs XDP
 * admitted whose handshake has not completed, counted in the sketch: an
 * estimate never below the truth).  Pending SYNs are counted in
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

/* ---- where a key's soft state lives ----
 * Pending SYNs are state before a handshake by definition: they are
 * counted in the sketch (include/mx_types.h), a fixed array, for every
 * source.  The SYN rate of a key (counted source, rate key, wide network)
 * is in the sketch until the key completes a handshake, then in its exact
 * entry in mx_src, made by the tracepoint.  A SYN finds both once. */
struct mx_st {
	struct mx_src *ex;     /* exact entry (rate), or NULL */
	struct mx_cell *c0;    /* sketch cells, one per row */
	struct mx_cell *c1;
};

static __always_inline void mx_cells(const struct mx_key *k, struct mx_cell **c0,
				     struct mx_cell **c1)
{
	__u32 w = mx_sketch_w, i0, i1;

	*c0 = 0;
	*c1 = 0;
	if (!w)
		return;
	i0 = mx_key_hash(k, 0) % w;
	i1 = w + mx_key_hash(k, 1) % w;
	*c0 = bpf_map_lookup_elem(&mx_sketch, &i0);
	*c1 = bpf_map_lookup_elem(&mx_sketch, &i1);
}

/* 0 when found; -1 when the sketch is missing (the caller fails open). */
static __always_inline int mx_st_find(const struct mx_key *k, struct mx_st *st)
{
	st->ex = bpf_map_lookup_elem(&mx_src, k);
	mx_cells(k, &st->c0, &st->c1);
	return st->c0 && st->c1 ? 0 : -1;
}

/* Peek without spending. 1 = over the rate.  The exact bucket, else the
 * sketch's estimate (never below the key's own time). */
static __always_inline int mx_rate_peek(const struct mx_st *st, __u64 now,
					const struct mx_rate_params *rp)
{
	__u64 tat = st->ex ? st->ex->tat_ns : mx_sketch_tat(st->c0, st->c1);

	return mx_gcra_over(tat, now, rp);
}

/* Raise a cell's GCRA time to at least t (conservative update: a cell
 * only ever holds the largest time any of its keys needs). */
static __always_inline void mx_cell_raise(struct mx_cell *c, __u64 t, struct mx_stats *s)
{
	int i;

	for (i = 0; i < MX_CAS_TRIES; i++) {
		__u64 old = c->s.tat_ns;

		if (old >= t || __sync_val_compare_and_swap(&c->s.tat_ns, old, t) == old)
			return;
	}
	MX_STAT_INC(s, contention);
}

/* Spend one arrival. 0 = spent, 1 = over the rate (nothing spent).  An
 * arrival counted in the sketch counts as rate_new (a source without an
 * exact bucket). */
static __always_inline int mx_rate_spend(const struct mx_st *st, __u64 now,
					 const struct mx_rate_params *rp, struct mx_stats *s)
{
	struct mx_src *r = st->ex;
	__u64 t;
	int i;

	if (!r) {
		t = mx_sketch_tat(st->c0, st->c1);
		t = t > now ? t : now;
		if (t - now > rp->tolerance)
			return 1;
		mx_cell_raise(st->c0, t + rp->emission, s);
		mx_cell_raise(st->c1, t + rp->emission, s);
		MX_STAT_INC(s, rate_new);
		return 0;
	}
	for (i = 0; i < MX_CAS_TRIES; i++) {
		__u64 old = r->tat_ns;

		t = old > now ? old : now;
		if (t - now > rp->tolerance)
			return 1;
		if (__sync_val_compare_and_swap(&r->tat_ns, old, t + rp->emission) == old)
			return 0;
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
static __always_inline int mx_pend_add(struct mx_pendcnt *c, __u32 epoch, struct mx_stats *s)
{
	__u64 *slot = &c->pend[epoch % MX_PEND_SLOTS];
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
static __always_inline void mx_pend_release(struct mx_pendcnt *c, __u32 epoch,
					    struct mx_stats *s)
{
	__u64 *slot = &c->pend[epoch % MX_PEND_SLOTS];
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

/* Release one pending SYN from every row of the sketch. */
static __always_inline void mx_st_release(const struct mx_st *st, __u32 epoch,
					  struct mx_stats *s)
{
	mx_pend_release(&st->c0->s.pc, epoch, s);
	mx_pend_release(&st->c1->s.pc, epoch, s);
}

/* Release by key (the tracepoint). */
static __always_inline void mx_pend_release_key(const struct mx_key *k, __u32 epoch,
						struct mx_stats *s)
{
	struct mx_cell *c0, *c1;

	mx_cells(k, &c0, &c1);
	if (c0)
		mx_pend_release(&c0->s.pc, epoch, s);
	if (c1)
		mx_pend_release(&c1->s.pc, epoch, s);
}

/*
 * Reserve a pending slot for k in every row of the sketch, then check
 * established + the sketch's estimate (ours included, never below the
 * truth) against limit (0 = unlimited).  Returns 0 when admitted (*counted
 * set when counted; not counted: contention, fail open), 1 when over (the
 * reservation is released).  Concurrent SYNs on other CPUs see each
 * other's reservations: a burst cannot overshoot.
 */
static __always_inline int mx_st_reserve(const struct mx_key *k, const struct mx_st *st,
					 __u32 epoch, __u32 limit, int *counted,
					 struct mx_stats *s)
{
	__u32 total;

	*counted = 0;
	if (mx_pend_add(&st->c0->s.pc, epoch, s))
		return 0;
	if (mx_pend_add(&st->c1->s.pc, epoch, s)) {
		mx_pend_release(&st->c0->s.pc, epoch, s);
		return 0;
	}
	*counted = 1;
	if (!limit)
		return 0;
	total = mx_established(k) + mx_sketch_pending(st->c0, st->c1, epoch);
	if (total > limit) {
		mx_st_release(st, epoch, s);
		*counted = 0;
		return 1;
	}
	return 0;
}

/* At a handshake: the exact entry of k, made if missing, its GCRA time
 * taken from the sketch so that the source's rate carries on. */
static __always_inline void mx_src_make(const struct mx_key *k)
{
	struct mx_src fresh = {};
	struct mx_cell *c0, *c1;

	if (bpf_map_lookup_elem(&mx_src, k))
		return;
	mx_cells(k, &c0, &c1);
	if (c0 && c1)
		fresh.tat_ns = mx_sketch_tat(c0, c1);
	bpf_map_update_elem(&mx_src, k, &fresh, BPF_NOEXIST);
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
