// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_sanction.c - blocks and penalties written through sanction.c and
 * judged by the XDP program: nested prefixes merged so the datapath's one
 * LPM match is enough, removal and expiry recomputing what is inside.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "sanction.h"


static int reset(void **state)
{
	h_reset(state);
	h_rule("v4default", 100, 0, 0, 0);
	h_rule("v6default", 100, 0, 0, 0);
	return h_apply();
}

static void add(const char *prefix, enum mx_sanction_kind kind, uint64_t ttl_s, uint32_t limit,
		const char *reason)
{
	struct mx_sanction_req r = { .kind = kind, .limit = limit, .reason = reason };

	h_prefix(&r.prefix, prefix);
	r.until_ns = ttl_s ? mx_mono_now(&H.m) + ttl_s * NS : MX_FOREVER;
	assert_int_equal(mx_sanction_add(&H.m, &r), 0);
}

static int syn(const char *src, uint16_t sport)
{
	struct pkt_spec s = { .src = src, .sport = sport, .dport = 25 };

	return h_run(&s, NULL);
}

static void effective(const char *addr, struct mx_sanction *v)
{
	mx_prefix a;

	h_prefix(&a, addr);
	memset(v, 0, sizeof(*v));
	assert_int_equal(mx_sanction_lookup(&H.m, &a, v), 0);
}

/* A penalty on a /32 inside a blocked /24: the /32's entry is the
 * longest match, so it must carry the /24's block. */
static void inner_entry_inherits_outer_block(void **state)
{
	struct mx_sanction v;

	(void)state;
	add("198.18.50.0/24", MX_KIND_BLOCK, 600, 0, "spam");
	add("198.18.50.7", MX_KIND_PENALTY, 600, 1, "rcpt");
	effective("198.18.50.7", &v);
	assert_true(v.block_until_ns > mx_mono_now(&H.m));
	assert_string_equal(v.block_reason, "spam");
	assert_int_equal(v.penalty_limit, 1);
	assert_int_equal(syn("198.18.50.7", 1000), XDP_DROP);
	assert_int_equal(h_stats().refused_block, 1);
	/* the outer block's order does not matter: block added after */
	add("198.18.51.9", MX_KIND_PENALTY, 600, 2, "errors");
	add("198.18.51.0/24", MX_KIND_BLOCK, 600, 0, "later");
	assert_int_equal(syn("198.18.51.9", 1000), XDP_DROP);
	effective("198.18.51.9", &v);
	assert_string_equal(v.block_reason, "later");
}

/* Lifting the outer block leaves the inner penalty, now without block. */
static void unblock_outer_recomputes_inner(void **state)
{
	mx_prefix p;

	(void)state;
	add("198.18.52.0/24", MX_KIND_BLOCK, 600, 0, "spam");
	add("198.18.52.7", MX_KIND_PENALTY, 600, 1, "rcpt");
	assert_int_equal(syn("198.18.52.7", 1000), XDP_DROP);
	h_prefix(&p, "198.18.52.0/24");
	assert_int_equal(mx_sanction_remove(&H.m, &p, MX_KIND_BLOCK | MX_KIND_PENALTY), 0);
	assert_int_equal(syn("198.18.52.7", 1001), XDP_PASS);  /* penalty: 1 allowed */
	assert_int_equal(syn("198.18.52.7", 1002), XDP_DROP);  /* the 2nd refused */
	assert_int_equal(h_stats().refused_penalty, 1);
	assert_int_equal(syn("198.18.52.8", 1000), XDP_PASS);  /* the rest of the /24 free */
	/* removing what is not there says so */
	assert_int_equal(mx_sanction_remove(&H.m, &p, MX_KIND_BLOCK), 1);
}

/* The most specific active penalty wins over an enclosing one. */
static void most_specific_penalty_wins(void **state)
{
	struct mx_sanction v;

	(void)state;
	add("198.18.53.0/24", MX_KIND_PENALTY, 600, 5, "wide");
	add("198.18.53.7", MX_KIND_PENALTY, 600, 1, "narrow");
	effective("198.18.53.7", &v);
	assert_int_equal(v.penalty_limit, 1);
	assert_string_equal(v.penalty_reason, "narrow");
	effective("198.18.53.8", &v);
	assert_int_equal(v.penalty_limit, 5);
}

/* A longer block on the same prefix extends; a shorter one does not
 * shorten it. */
static void later_expiry_wins(void **state)
{
	struct mx_sanction v;
	uint64_t first;

	(void)state;
	add("198.18.54.1", MX_KIND_BLOCK, 600, 0, "a");
	effective("198.18.54.1", &v);
	first = v.block_until_ns;
	add("198.18.54.1", MX_KIND_BLOCK, 60, 0, "b");
	effective("198.18.54.1", &v);
	assert_int_equal(v.block_until_ns, first);
	add("198.18.54.1", MX_KIND_BLOCK, 6000, 0, "c");
	effective("198.18.54.1", &v);
	assert_true(v.block_until_ns > first);
	add("198.18.54.2", MX_KIND_BLOCK, 0, 0, "forever");
	effective("198.18.54.2", &v);
	assert_true(v.block_until_ns == MX_FOREVER);
}

/* Housekeeping drops what expired and recomputes what it covered; the
 * datapath had already stopped applying it at its time. */
static void expire_removes_and_recomputes(void **state)
{
	struct mx_sanction_entry *e;
	struct mx_sanction v;
	size_t n;

	(void)state;
	add("198.18.55.0/24", MX_KIND_BLOCK, 10, 0, "short");
	add("198.18.55.7", MX_KIND_PENALTY, 600, 1, "long");
	assert_int_equal(syn("198.18.55.7", 1000), XDP_DROP);
	h_set_clock(11 * NS);
	assert_int_equal(syn("198.18.55.8", 1000), XDP_PASS); /* lifted, no housekeeping yet */
	assert_int_equal(mx_sanction_expire(&H.m, mx_mono_now(&H.m)), 1);
	assert_int_equal(mx_sanction_list(&H.m, &e, &n), 0);
	free(e);
	assert_int_equal(n, 1);
	effective("198.18.55.7", &v);
	assert_int_equal(v.block_until_ns, 0);
	assert_int_equal(v.penalty_limit, 1);
}

/* IPv6: a /48 block covers a /64 penalty inside it. */
static void ipv6_nesting(void **state)
{
	struct pkt_spec s = { .v6 = 1, .src = "fd00:0:56:1::9", .dport = 25 };

	(void)state;
	add("fd00:0:56:1::/64", MX_KIND_PENALTY, 600, 3, "rcpt");
	add("fd00:0:56::/48", MX_KIND_BLOCK, 600, 0, "net");
	assert_int_equal(h_run(&s, NULL), XDP_DROP);
	assert_int_equal(h_stats().refused_block, 1);
}

static uint64_t sanctions_word(void)
{
	uint64_t w = 0;
	uint32_t zero = 0;

	assert_int_equal(bpf_map_lookup_elem(H.m.sanctseq, &zero, &w), 0);
	return w;
}

/* The SYN path looks sanctions up only while the sanctions word says some
 * may be loaded: every write raises it, and it comes down only when the
 * last entry is gone (unblock, expiry), never while one is left. */
static void sanctions_word_follows_the_trie(void **state)
{
	struct mx_sanction_key k = { .prefixlen = 128 };
	struct mx_sanction v = { .block_until_ns = MX_FOREVER };
	mx_prefix p;

	(void)state;
	mx_sanctions_settle(&H.m); /* h_reset emptied the trie */
	assert_int_equal(sanctions_word(), 0);
	add("198.18.57.0/24", MX_KIND_BLOCK, 600, 0, "a");
	add("198.18.58.1", MX_KIND_BLOCK, 10, 0, "b");
	assert_true(sanctions_word() != 0);
	assert_int_equal(syn("198.18.57.1", 1000), XDP_DROP);
	h_prefix(&p, "198.18.57.0/24");
	assert_int_equal(mx_sanction_remove(&H.m, &p, MX_KIND_BLOCK), 0);
	assert_true(sanctions_word() != 0); /* 198.18.58.1 is still there */
	assert_int_equal(syn("198.18.58.1", 1000), XDP_DROP);
	h_set_clock(11 * NS);
	assert_int_equal(mx_sanction_expire(&H.m, mx_mono_now(&H.m)), 1);
	assert_int_equal(sanctions_word(), 0); /* the trie is empty */
	assert_int_equal(syn("198.18.57.1", 1001), XDP_PASS);

	/* the skip is real: an entry written behind the protocol's back is
	 * not looked at until the word is raised (what settle repairs) */
	h_prefix(&p, "198.18.59.1");
	memcpy(k.addr, p.addr, sizeof(k.addr));
	v.plen = 128;
	assert_int_equal(bpf_map_update_elem(H.m.sanctions, &k, &v, BPF_ANY), 0);
	assert_int_equal(syn("198.18.59.1", 1000), XDP_PASS);
	mx_sanctions_settle(&H.m);
	assert_true(sanctions_word() != 0);
	assert_int_equal(syn("198.18.59.1", 1001), XDP_DROP);
}

#define T(f) cmocka_unit_test_setup(f, reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(inner_entry_inherits_outer_block),
		T(unblock_outer_recomputes_inner),
		T(most_specific_penalty_wins),
		T(later_expiry_wins),
		T(expire_removes_and_recomputes),
		T(ipv6_nesting),
		T(sanctions_word_follows_the_trie),
	};

	return cmocka_run_group_tests(tests, h_group_setup_xdp, h_group_teardown);
}
