// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_blocklist.c - named prefix sets (blocklist.c) judged by the XDP
 * program: listed v4/v6 sources refused and counted per set, unlisted
 * ones admitted, nested prefixes across sets, a replace that leaves
 * nothing of the old set, remove, the allowlist exemption, the list
 * parser's FILE:LINE errors, 100,000 prefixes, the cap on sets.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"
#include "blocklist.h"
#include "sanction.h"
#include "../unit/log_capture.h"

static char tmpdir[64];

/* Every set gone: the slot emptied, the ids freed. */
static void bl_clear(void)
{
	struct mx_bl_set z = {};
	uint32_t i, zero = 0;

	bpf_map_delete_elem(H.m.blocklist, &zero);
	for (i = 0; i < MX_BL_MAX_SETS; i++)
		bpf_map_update_elem(H.m.bl_sets, &i, &z, BPF_ANY);
}

static int reset(void **state)
{
	h_reset(state);
	bl_clear();
	h_rule("v4default", 100, 0, 0, 0);
	h_rule("v6default", 100, 0, 0, 0);
	return h_apply();
}

/* A list from prefixes given as text. */
static void list_of(struct mx_bl_list *l, const char *const *pfx, size_t n)
{
	size_t i;

	memset(l, 0, sizeof(*l));
	l->p = calloc(n, sizeof(*l->p));
	assert_non_null(l->p);
	for (i = 0; i < n; i++)
		h_prefix(&l->p[i], pfx[i]);
	l->n = l->cap = n;
}

static void load_set(const char *name, const char *const *pfx, size_t n)
{
	struct mx_bl_list l;
	struct mx_bl_change ch;

	list_of(&l, pfx, n);
	ch = (struct mx_bl_change){ .name = name, .list = &l, .source = "test", .loaded_at = 1 };
	assert_int_equal(mx_bl_apply(&H.m, H.pin_dir, &ch, 1), 0);
	mx_bl_list_free(&l);
}

static int remove_set(const char *name)
{
	struct mx_bl_change ch = { .name = name };

	return mx_bl_apply(&H.m, H.pin_dir, &ch, 1);
}

/* Each SYN from a new port: a SYN of a flow already admitted passes as a
 * retransmission whatever the lists say. */
static uint16_t next_sport = 1000;

static int syn4(const char *src)
{
	struct pkt_spec s = { .src = src, .sport = next_sport++, .dport = 25 };

	return h_run(&s, NULL);
}

static int syn6(const char *src)
{
	struct pkt_spec s = { .v6 = 1, .src = src, .sport = next_sport++, .dport = 25 };

	return h_run(&s, NULL);
}

/* The id and refusal count of a set by name; -1 when not loaded. */
static int set_hits(const char *name, uint64_t *hits)
{
	struct mx_bl_set sets[MX_BL_MAX_SETS];
	uint64_t h[MX_BL_MAX_SETS];
	int i;

	assert_int_equal(mx_bl_sets_read(&H.m, sets), 0);
	assert_int_equal(mx_bl_hits_read(&H.m, h), 0);
	for (i = 0; i < MX_BL_MAX_SETS; i++)
		if (!strcmp(sets[i].name, name)) {
			if (hits)
				*hits = h[i];
			return i;
		}
	return -1;
}

static bool slot_empty(void)
{
	uint32_t zero = 0, id;

	return bpf_map_lookup_elem(H.m.blocklist, &zero, &id) != 0 && errno == ENOENT;
}

static void listed_v4_refused_unlisted_admitted(void **state)
{
	static const char *const drop[] = { "198.18.60.0/24", "198.18.61.7" };
	uint64_t hits = 0;

	(void)state;
	assert_true(slot_empty());
	assert_int_equal(syn4("198.18.60.9"), XDP_PASS); /* nothing loaded */
	load_set("drop", drop, 2);
	assert_int_equal(syn4("198.18.60.9"), XDP_DROP);
	assert_int_equal(syn4("198.18.61.7"), XDP_DROP);
	assert_int_equal(syn4("198.18.61.8"), XDP_PASS);
	assert_int_equal(syn4("198.18.62.1"), XDP_PASS);
	assert_int_equal(h_stats().refused_blocklist, 2);
	assert_int_equal(h_stats().refused_block, 0);
	assert_true(set_hits("drop", &hits) >= 0);
	assert_int_equal(hits, 2);
}

static void listed_v6_refused(void **state)
{
	static const char *const drop[] = { "fd00:0:60::/48", "fd00:0:61::7" };

	(void)state;
	load_set("drop6", drop, 2);
	assert_int_equal(syn6("fd00:0:60:1::5"), XDP_DROP);
	assert_int_equal(syn6("fd00:0:61::7"), XDP_DROP);
	assert_int_equal(syn6("fd00:0:61::8"), XDP_PASS);
	assert_int_equal(syn6("fd00:0:62::1"), XDP_PASS);
	/* an IPv4 /8-ish of the shared space does not catch IPv6, nor back */
	assert_int_equal(syn4("198.18.60.9"), XDP_PASS);
	assert_int_equal(h_stats().refused_blocklist, 2);
}

/* Replacing a set swaps the whole trie: the old prefixes are gone, the
 * new ones in, the other sets untouched, the id and its count kept. */
static void replace_swaps_whole_set(void **state)
{
	static const char *const a1[] = { "198.18.70.0/24", "198.18.71.0/24" };
	static const char *const a2[] = { "198.18.72.0/24" };
	static const char *const other[] = { "198.18.75.0/24" };
	struct mx_bl_set sets[MX_BL_MAX_SETS];
	uint64_t hits = 0;
	int id;

	(void)state;
	load_set("other", other, 1);
	load_set("a", a1, 2);
	id = set_hits("a", NULL);
	assert_int_equal(syn4("198.18.70.1"), XDP_DROP);
	assert_int_equal(mx_bl_trie_count(&H.m, H.pin_dir), 3);
	load_set("a", a2, 1);
	assert_int_equal(set_hits("a", &hits), id);
	assert_int_equal(hits, 1); /* the refusal before the replace */
	assert_int_equal(syn4("198.18.70.1"), XDP_PASS);
	assert_int_equal(syn4("198.18.71.1"), XDP_PASS);
	assert_int_equal(syn4("198.18.72.1"), XDP_DROP);
	assert_int_equal(syn4("198.18.75.1"), XDP_DROP);
	assert_int_equal(mx_bl_trie_count(&H.m, H.pin_dir), 2);
	assert_int_equal(mx_bl_sets_read(&H.m, sets), 0);
	assert_int_equal(sets[id].prefixes, 1);
}

/* Replaces while SYNs run on another thread: a source both versions list
 * is refused every time, one neither lists admitted every time.  (An
 * in-place rewrite of the trie would let the first through while its
 * prefix was deleted and not yet inserted again.) */
struct traffic {
	volatile int stop;
	unsigned runs, wrong;
};

static void *traffic_run(void *arg)
{
	struct traffic *t = arg;
	uint16_t sport = 20000;

	while (!t->stop) {
		struct pkt_spec in = { .src = "198.18.30.1", .sport = sport, .dport = 25 };
		struct pkt_spec out = { .src = "198.18.31.1", .sport = sport, .dport = 25 };

		sport = sport == 60000 ? 20000 : sport + 1;
		if (h_run(&in, NULL) != XDP_DROP)
			t->wrong++;
		if (h_run(&out, NULL) != XDP_PASS)
			t->wrong++;
		t->runs++;
	}
	return NULL;
}

static void replace_under_traffic(void **state)
{
	struct mx_bl_list a, b;
	struct traffic t = { 0 };
	pthread_t th;
	uint32_t i;
	int round;

	(void)state;
	h_rule("198.18.31.0/24", 0, 0, 0, 1); /* unlimited: every SYN admitted */
	assert_int_equal(h_apply(), 0);
	/* two versions of 20,000 prefixes, both holding 198.18.30.0/24 and
	 * otherwise disjoint, neither 198.18.31.0/24 */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.p = calloc(20000, sizeof(*a.p));
	b.p = calloc(20000, sizeof(*b.p));
	assert_true(a.p && b.p);
	for (i = 0; i < 19999; i++) {
		char s[64];

		snprintf(s, sizeof(s), "fd00:a:%x::/48", i);
		h_prefix(&a.p[i], s);
		snprintf(s, sizeof(s), "fd00:b:%x::/48", i);
		h_prefix(&b.p[i], s);
	}
	h_prefix(&a.p[19999], "198.18.30.0/24");
	h_prefix(&b.p[19999], "198.18.30.0/24");
	a.n = b.n = 20000;
	{
		struct mx_bl_change ch = { .name = "flip", .list = &a };

		assert_int_equal(mx_bl_apply(&H.m, H.pin_dir, &ch, 1), 0);
	}
	assert_int_equal(pthread_create(&th, NULL, traffic_run, &t), 0);
	for (round = 0; round < 6; round++) {
		struct mx_bl_change ch = { .name = "flip", .list = round % 2 ? &a : &b };

		assert_int_equal(mx_bl_apply(&H.m, H.pin_dir, &ch, 1), 0);
	}
	t.stop = 1;
	pthread_join(th, NULL);
	print_message("# %u SYN pairs during 6 replaces of 20,000 prefixes\n", t.runs);
	assert_true(t.runs > 0);
	assert_int_equal(t.wrong, 0);
	assert_int_equal(mx_bl_trie_count(&H.m, H.pin_dir), 20000);
	mx_bl_list_free(&a);
	mx_bl_list_free(&b);
}

/* A prefix of one set inside another's: the longer match must answer
 * for both (counted in both), and removing either leaves the other. */
static void nested_sets_and_remove(void **state)
{
	static const char *const wide[] = { "198.18.0.0/16" };
	static const char *const narrow[] = { "198.18.80.0/24", "fd00:0:80::/48" };
	uint64_t hw = 0, hn = 0;

	(void)state;
	load_set("narrow", narrow, 2);
	load_set("wide", wide, 1);
	assert_int_equal(syn4("198.18.80.1"), XDP_DROP);
	set_hits("wide", &hw);
	set_hits("narrow", &hn);
	assert_int_equal(hw, 1);
	assert_int_equal(hn, 1);
	assert_int_equal(remove_set("wide"), 0);
	assert_int_equal(set_hits("wide", NULL), -1);
	assert_int_equal(syn4("198.18.80.1"), XDP_DROP);
	assert_int_equal(syn4("198.18.81.1"), XDP_PASS);
	assert_int_equal(remove_set("wide"), 1); /* not loaded any more */
	{ /* the trie in the slot is pinned, for reading back with CAP_BPF */
		char pin[192];

		snprintf(pin, sizeof(pin), "%s/%s", H.pin_dir, MX_BL_TRIE_PIN);
		assert_int_equal(access(pin, F_OK), 0);
		assert_int_equal(remove_set("narrow"), 0);
		assert_int_equal(access(pin, F_OK), -1);
	}
	assert_true(slot_empty()); /* the datapath skips the trie again */
	assert_int_equal(syn4("198.18.80.1"), XDP_PASS);
	assert_int_equal(syn6("fd00:0:80::1"), XDP_PASS);
}

/* An explicit 0 of the policy (allowlist) is exempt from blocklists,
 * as from verdicts; an admin's block still applies to it. */
static void allowlisted_exempt(void **state)
{
	static const char *const drop[] = { "198.18.90.0/23" };
	struct mx_sanction_req r = { .kind = MX_KIND_BLOCK, .until_ns = MX_FOREVER };

	(void)state;
	h_rule("198.18.90.0/24", 0, 0, 0, 1);
	H.rules[H.n_rules - 1].rule.flags |= MX_RULE_ALLOW;
	assert_int_equal(h_apply(), 0);
	load_set("drop", drop, 1);
	assert_int_equal(syn4("198.18.90.5"), XDP_PASS);
	assert_int_equal(syn4("198.18.91.5"), XDP_DROP);
	h_prefix(&r.prefix, "198.18.90.5");
	assert_int_equal(mx_sanction_add(&H.m, &r), 0);
	assert_int_equal(syn4("198.18.90.5"), XDP_DROP);
	assert_int_equal(h_stats().refused_block, 1);
	assert_int_equal(h_stats().refused_blocklist, 1);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void parse_drop_format(void **state)
{
	char path[128];
	struct mx_bl_list l;

	(void)state;
	snprintf(path, sizeof(path), "%s/drop.txt", tmpdir);
	write_file(path, "; Spamhaus DROP List 2026/12/05 - (c) 2026 The Spamhaus Project\n"
			 "; Last-Modified: Sat, 05 Dec 2026 12:00:00 GMT\n"
			 "\n"
			 "198.18.100.0/22 ; SBL123\r\n"
			 "  198.18.110.0/24;SBL124\n"
			 "198.18.111.5\n"
			 "fd00:0:100::/48 ; SBL125\n"
			 "# a comment\n"
			 "198.18.100.0/22 ; the same again\n");
	assert_int_equal(mx_bl_parse_file(path, &l), 0);
	assert_int_equal(l.n, 4);
	mx_bl_list_free(&l);

	write_file(path, "198.18.100.0/22 ; ok\n"
			 "198.18.100.1/22 ; host bits\n"
			 "not-a-prefix\n"
			 "198.18.1.0/24 198.18.2.0/24\n"
			 "0.0.0.0/0\n"
			 "fd00::/129\n");
	cap_start();
	assert_int_equal(mx_bl_parse_file(path, &l), -1);
	cap_stop();
	assert_int_equal(cap.errors, 5);
	assert_logged("drop.txt:2: bad prefix \"198.18.100.1/22\"");
	assert_logged("drop.txt:3: bad prefix \"not-a-prefix\"");
	assert_logged("drop.txt:4: expected one prefix per line");
	assert_logged("drop.txt:5: a /0");
	assert_logged("drop.txt:6: bad prefix");
	assert_null(l.p);

	write_file(path, "; only comments\n\n");
	cap_start();
	assert_int_equal(mx_bl_parse_file(path, &l), -1);
	cap_stop();
	assert_logged("no prefixes");
	assert_false(mx_bl_name_valid(""));
	assert_false(mx_bl_name_valid("../x"));
	assert_false(mx_bl_name_valid("-x"));
	assert_false(mx_bl_name_valid("a b"));
	assert_false(mx_bl_name_valid("0123456789012345678901234567890123"));
	assert_true(mx_bl_name_valid("spamhaus-drop_v4.1"));
}

/* 100,000 /32s of 198.18.0.0/15 from a file, through the parser and one
 * swap; spot checks inside and outside.  (No timing asserted: the
 * benchmark measures it.) */
static void hundred_thousand(void **state)
{
	char path[128];
	struct mx_bl_list l;
	struct mx_bl_change ch;
	FILE *f;
	uint32_t i;

	(void)state;
	snprintf(path, sizeof(path), "%s/big.txt", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (i = 0; i < 100000; i++)
		fprintf(f, "198.%u.%u.%u ; n%u\n", 18 + (i >> 16), (i >> 8) & 255, i & 255, i);
	fclose(f);
	assert_int_equal(mx_bl_parse_file(path, &l), 0);
	assert_int_equal(l.n, 100000);
	ch = (struct mx_bl_change){ .name = "big", .list = &l, .source = path, .loaded_at = 1 };
	assert_int_equal(mx_bl_apply(&H.m, H.pin_dir, &ch, 1), 0);
	mx_bl_list_free(&l);
	assert_int_equal(mx_bl_trie_count(&H.m, H.pin_dir), 100000);
	assert_int_equal(syn4("198.18.0.0"), XDP_DROP);
	assert_int_equal(syn4("198.18.200.17"), XDP_DROP);
	assert_int_equal(syn4("198.19.134.159"), XDP_DROP); /* i = 99999 */
	assert_int_equal(syn4("198.19.134.160"), XDP_PASS); /* i = 100000 */
	assert_int_equal(syn4("198.19.255.1"), XDP_PASS);
	assert_int_equal(remove_set("big"), 0);
	assert_true(slot_empty());
	unlink(path);
}

/* Without batch map operations (a kernel refusing them; MXLIMIT_DISABLE=batch):
 * the trie filled one entry at a time, and read back by walking it when a
 * second set is loaded beside the first. */
static void without_batch_ops(void **state)
{
	static const char *const a[] = { "198.18.130.0/24", "fd00:0:130::/48", "198.18.131.1" };
	static const char *const b[] = { "198.18.132.0/24", "198.18.130.0/25" };
	uint64_t ha = 0, hb = 0;

	(void)state;
	setenv("MXLIMIT_DISABLE", "seed,batch", 1);
	load_set("a", a, 3);
	load_set("b", b, 2);
	unsetenv("MXLIMIT_DISABLE");
	assert_int_equal(mx_bl_trie_count(&H.m, H.pin_dir), 5);
	assert_int_equal(syn4("198.18.130.1"), XDP_DROP); /* both */
	assert_int_equal(syn4("198.18.130.200"), XDP_DROP); /* a */
	assert_int_equal(syn6("fd00:0:130::1"), XDP_DROP);
	assert_int_equal(syn4("198.18.131.1"), XDP_DROP);
	assert_int_equal(syn4("198.18.132.1"), XDP_DROP);
	assert_int_equal(syn4("198.18.133.1"), XDP_PASS);
	set_hits("a", &ha);
	set_hits("b", &hb);
	assert_int_equal(ha, 4);
	assert_int_equal(hb, 2);
	setenv("MXLIMIT_DISABLE", "batch", 1);
	assert_int_equal(remove_set("a"), 0);
	unsetenv("MXLIMIT_DISABLE");
	assert_int_equal(syn4("198.18.130.200"), XDP_PASS);
	assert_int_equal(syn4("198.18.130.1"), XDP_DROP);
	assert_int_equal(mx_bl_trie_count(&H.m, H.pin_dir), 2);
}

static void at_most_64_sets(void **state)
{
	static const char *const one[] = { "198.18.120.1" };
	char name[16];
	int i;

	(void)state;
	for (i = 0; i < MX_BL_MAX_SETS; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		load_set(name, one, 1);
	}
	{
		struct mx_bl_list l;
		struct mx_bl_change ch;

		list_of(&l, one, 1);
		ch = (struct mx_bl_change){ .name = "one-more", .list = &l };
		cap_start();
		assert_int_equal(mx_bl_apply(&H.m, H.pin_dir, &ch, 1), -1);
		cap_stop();
		assert_logged("64 sets are loaded");
		mx_bl_list_free(&l);
	}
	assert_int_equal(syn4("198.18.120.1"), XDP_DROP);
	assert_int_equal(mx_bl_trie_count(&H.m, H.pin_dir), 1);
	load_set("s5", one, 1); /* replacing one still works */
}

static int group_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mxlimit-bltest-%d", getpid());
	mkdir(tmpdir, 0700);
	return h_group_setup_xdp(state);
}

static int group_teardown(void **state)
{
	rmdir(tmpdir);
	return h_group_teardown(state);
}

#define T(f) cmocka_unit_test_setup(f, reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(listed_v4_refused_unlisted_admitted),
		T(listed_v6_refused),
		T(replace_swaps_whole_set),
		T(replace_under_traffic),
		T(nested_sets_and_remove),
		T(allowlisted_exempt),
		T(parse_drop_format),
		T(hundred_thousand),
		T(without_batch_ops),
		T(at_most_64_sets),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
