// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* sanction.c - blocks and penalties; see sanction.h. */
#include "sanction.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "log.h"

static void key_of(const mx_prefix *p, struct mx_sanction_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = p->plen;
	memcpy(k->addr, p->addr, sizeof(k->addr));
}

/* The entry at exactly this prefix (the trie would answer for an
 * enclosing one too: the stored plen tells them apart). */
static int get_exact(int fd, const mx_prefix *p, struct mx_sanction *v)
{
	struct mx_sanction_key k;

	key_of(p, &k);
	if (bpf_map_lookup_elem(fd, &k, v))
		return -1;
	return v->plen == p->plen ? 0 : -1;
}

static bool own_block(const struct mx_sanction *v, uint64_t now)
{
	return (v->flags & MX_SANCTION_OWN_BLOCK) && v->own_block_until_ns > now;
}

static bool own_penalty(const struct mx_sanction *v, uint64_t now)
{
	return (v->flags & MX_SANCTION_OWN_PENALTY) && v->own_penalty_until_ns > now;
}

/* Effective values of the entry at p from its own and its ancestors'. */
static void merge(int fd, const mx_prefix *p, struct mx_sanction *v, uint64_t now)
{
	bool have_pen = own_penalty(v, now);
	uint32_t plen;

	v->block_until_ns = own_block(v, now) ? v->own_block_until_ns : 0;
	v->penalty_until_ns = have_pen ? v->own_penalty_until_ns : 0;
	v->penalty_limit = have_pen ? v->own_penalty_limit : 0;
	/* longest first, so the first active penalty found is the most specific */
	for (plen = p->plen; plen-- > 0;) {
		mx_prefix q = *p;
		struct mx_sanction a;

		q.plen = plen;
		mx_prefix_mask(&q);
		if (get_exact(fd, &q, &a))
			continue;
		if (own_block(&a, now) && a.own_block_until_ns > v->block_until_ns) {
			v->block_until_ns = a.own_block_until_ns;
			if (!(v->flags & MX_SANCTION_OWN_BLOCK))
				memcpy(v->block_reason, a.block_reason, sizeof(v->block_reason));
		}
		if (!have_pen && own_penalty(&a, now)) {
			have_pen = true;
			v->penalty_until_ns = a.own_penalty_until_ns;
			v->penalty_limit = a.own_penalty_limit;
			if (!(v->flags & MX_SANCTION_OWN_PENALTY))
				memcpy(v->penalty_reason, a.penalty_reason, sizeof(v->penalty_reason));
		}
	}
}

/* Every write goes through here; the sanctions word is raised after it
 * (loader.h mx_sanctions_raise). */
static int write_entry(const struct mx_maps *m, const mx_prefix *p, const struct mx_sanction *v)
{
	struct mx_sanction_key k;

	key_of(p, &k);
	if (bpf_map_update_elem(m->sanctions, &k, v, BPF_ANY)) {
		char buf[MX_PREFIX_STRLEN];

		mx_err("cannot write the sanction for %s: %s%s", mx_prefix_format(p, buf, sizeof(buf)),
		       strerror(errno), errno == ENOSPC ? " (map full: raise max_sanctions)" : "");
		return -1;
	}
	mx_sanctions_raise(m);
	return 0;
}

int mx_sanction_list(const struct mx_maps *m, struct mx_sanction_entry **out, size_t *n)
{
	struct mx_sanction_key k, next, *prev = NULL;
	struct mx_sanction_entry *v = NULL;
	size_t cap = 0, len = 0;

	while (bpf_map_get_next_key(m->sanctions, prev, &next) == 0) {
		if (len == cap) {
			struct mx_sanction_entry *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -1;
			}
			v = nv;
		}
		memset(&v[len].prefix, 0, sizeof(v[len].prefix));
		memcpy(v[len].prefix.addr, next.addr, sizeof(next.addr));
		v[len].prefix.plen = next.prefixlen;
		if (bpf_map_lookup_elem(m->sanctions, &next, &v[len].v) == 0)
			len++;
		k = next;
		prev = &k;
	}
	*out = v;
	*n = len;
	return 0;
}

/* Recompute every entry strictly inside p (p itself when self). */
static int refresh_inside(const struct mx_maps *m, const mx_prefix *p, bool self, uint64_t now)
{
	struct mx_sanction_entry *all;
	size_t n, i;
	int rc = 0;

	if (p->plen == 128 && !self)
		return 0;
	if (mx_sanction_list(m, &all, &n))
		return -1;
	for (i = 0; i < n; i++) {
		if (!mx_prefix_contains(p, &all[i].prefix))
			continue;
		if (all[i].prefix.plen == p->plen && !self)
			continue;
		merge(m->sanctions, &all[i].prefix, &all[i].v, now);
		if (write_entry(m, &all[i].prefix, &all[i].v))
			rc = -1;
	}
	free(all);
	return rc;
}

int mx_sanction_add(const struct mx_maps *m, const struct mx_sanction_req *r)
{
	struct mx_sanction v;
	uint64_t now = mx_mono_now(m);
	mx_prefix p = r->prefix;

	mx_prefix_mask(&p);
	if (get_exact(m->sanctions, &p, &v)) {
		memset(&v, 0, sizeof(v));
		v.plen = p.plen;
	}
	/* The sanction that lasts longer stays, with its reason: a shorter one
	 * (a fail2ban ban over an admin's permanent block) changes nothing,
	 * so its owner's unblock --reason cannot lift the other's. */
	if (r->kind == MX_KIND_BLOCK) {
		if (!own_block(&v, now) || r->until_ns > v.own_block_until_ns) {
			v.own_block_until_ns = r->until_ns;
			memset(v.block_reason, 0, sizeof(v.block_reason));
			if (r->reason)
				strncpy(v.block_reason, r->reason, sizeof(v.block_reason) - 1);
		}
		v.flags |= MX_SANCTION_OWN_BLOCK;
	} else {
		if (!own_penalty(&v, now) || r->until_ns > v.own_penalty_until_ns) {
			v.own_penalty_until_ns = r->until_ns;
			memset(v.penalty_reason, 0, sizeof(v.penalty_reason));
			if (r->reason)
				strncpy(v.penalty_reason, r->reason, sizeof(v.penalty_reason) - 1);
		}
		v.own_penalty_limit = r->limit ? r->limit : MX_PENALTY_TIER;
		v.flags |= MX_SANCTION_OWN_PENALTY;
	}
	merge(m->sanctions, &p, &v, now);
	if (write_entry(m, &p, &v))
		return -1;
	return refresh_inside(m, &p, false, now);
}

int mx_sanction_remove(const struct mx_maps *m, const mx_prefix *pp, unsigned kinds)
{
	struct mx_sanction v;
	struct mx_sanction_key k;
	uint64_t now = mx_mono_now(m);
	mx_prefix p = *pp;
	unsigned had;

	mx_prefix_mask(&p);
	if (get_exact(m->sanctions, &p, &v))
		return 1;
	had = v.flags & ((kinds & MX_KIND_BLOCK ? MX_SANCTION_OWN_BLOCK : 0) |
			 (kinds & MX_KIND_PENALTY ? MX_SANCTION_OWN_PENALTY : 0));
	if (!had)
		return 1;
	v.flags &= ~had;
	if (had & MX_SANCTION_OWN_BLOCK) {
		v.own_block_until_ns = 0;
		memset(v.block_reason, 0, sizeof(v.block_reason));
	}
	if (had & MX_SANCTION_OWN_PENALTY) {
		v.own_penalty_until_ns = 0;
		v.own_penalty_limit = 0;
		memset(v.penalty_reason, 0, sizeof(v.penalty_reason));
	}
	key_of(&p, &k);
	if (!(v.flags & (MX_SANCTION_OWN_BLOCK | MX_SANCTION_OWN_PENALTY))) {
		if (bpf_map_delete_elem(m->sanctions, &k) && errno != ENOENT) {
			mx_err("cannot remove the sanction: %s", strerror(errno));
			return -1;
		}
	} else {
		merge(m->sanctions, &p, &v, now);
		if (write_entry(m, &p, &v))
			return -1;
	}
	if (refresh_inside(m, &p, false, now))
		return -1;
	mx_sanctions_settle(m);
	return 0;
}

int mx_sanction_expire(const struct mx_maps *m, uint64_t now)
{
	struct mx_sanction_entry *all;
	size_t n, i;
	int removed = 0;
	mx_prefix root = { { 0 }, 0 };

	if (mx_sanction_list(m, &all, &n))
		return -1;
	for (i = 0; i < n; i++) {
		struct mx_sanction *v = &all[i].v;
		struct mx_sanction_key k;

		if (!own_block(v, now))
			v->flags &= ~MX_SANCTION_OWN_BLOCK;
		if (!own_penalty(v, now))
			v->flags &= ~MX_SANCTION_OWN_PENALTY;
		if (v->flags & (MX_SANCTION_OWN_BLOCK | MX_SANCTION_OWN_PENALTY))
			continue;
		key_of(&all[i].prefix, &k);
		if (bpf_map_delete_elem(m->sanctions, &k) == 0)
			removed++;
	}
	free(all);
	if (removed && refresh_inside(m, &root, true, now))
		return -1;
	mx_sanctions_settle(m);
	return removed;
}

int mx_sanction_lookup(const struct mx_maps *m, const mx_prefix *addr, struct mx_sanction *out)
{
	struct mx_sanction_key k;

	key_of(addr, &k);
	k.prefixlen = 128;
	return bpf_map_lookup_elem(m->sanctions, &k, out);
}

const char *mx_penalty_limit_text(uint32_t limit, char *buf, size_t len)
{
	if (limit == MX_PENALTY_TIER || limit == 0)
		return "tier";
	if (limit == MX_PENALTY_REFUSE)
		return "refuse";
	snprintf(buf, len, "%" PRIu32, limit);
	return buf;
}

char *mx_fmt_remaining(uint64_t until_ns, uint64_t now_ns, char *buf, size_t len)
{
	uint64_t s;

	if (until_ns == UINT64_MAX) {
		snprintf(buf, len, "never");
		return buf;
	}
	if (until_ns <= now_ns) {
		snprintf(buf, len, "expired");
		return buf;
	}
	s = (until_ns - now_ns + 999999999ULL) / 1000000000ULL;
	if (s >= 86400)
		snprintf(buf, len, "%llud%lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lluh%llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%llum%llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
	return buf;
}

/* A reason field (not always NUL-terminated when full) equals word? */
static bool reason_is(const char *field, const char *word)
{
	size_t n = strlen(word);

	return n < MX_REASON_LEN ? strncmp(field, word, MX_REASON_LEN) == 0 && field[n] == '\0'
				 : strncmp(field, word, MX_REASON_LEN) == 0;
}

int mx_sanction_remove_reason(const struct mx_maps *m, const mx_prefix *pp, unsigned kinds,
			      const char *reason)
{
	struct mx_sanction v;
	mx_prefix p = *pp;

	mx_prefix_mask(&p);
	if (get_exact(m->sanctions, &p, &v))
		return 1;
	if (!(v.flags & MX_SANCTION_OWN_BLOCK) || !reason_is(v.block_reason, reason))
		kinds &= ~(unsigned)MX_KIND_BLOCK;
	if (!(v.flags & MX_SANCTION_OWN_PENALTY) || !reason_is(v.penalty_reason, reason))
		kinds &= ~(unsigned)MX_KIND_PENALTY;
	if (!kinds)
		return 1;
	return mx_sanction_remove(m, &p, kinds);
}
