/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_policy.c - limit.ini loaded, validated, matched and compiled:
 * values, every error with its file:line, haraka compatibility, the
 * merge of [concurrency] and [rate_conn] into LPM entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_capture.h"
#include "policy_compile.h"
#include "policy_match.h"

#define SEC MX_NS_PER_SEC
#define HARAKA_FILE "tests/unit/data/haraka-limit.ini"

static struct mx_policy pol;
static struct mx_compiled comp;

static int teardown(void **state)
{
	(void)state;
	mx_policy_free(&pol);
	mx_compiled_free(&comp);
	return 0;
}

static int load(const char *text)
{
	int rc;

	cap_start();
	rc = mx_policy_load_buf("t.ini", text, strlen(text), &pol);
	cap_stop();
	return rc;
}

static bool pol_is_zero(void)
{
	static const struct mx_policy zero;

	return memcmp(&pol, &zero, sizeof(pol)) == 0;
}

#define load_ok(text)                                \
	do {                                         \
		if (load(text) != 0)                 \
			print_error("%s", cap.buf);  \
		assert_int_equal(cap.errors, 0);     \
		assert_non_null(pol.path);           \
	} while (0)

/* The load fails, says `msg`, and leaves the policy zeroed. */
#define load_err(text, msg)                     \
	do {                                    \
		assert_int_equal(load(text), -1); \
		assert_logged(msg);             \
		assert_true(pol_is_zero());     \
	} while (0)

static void compile_ok(void)
{
	cap_start();
	assert_int_equal(mx_policy_compile(&pol, &comp), 0);
	cap_stop();
}

static mx_prefix P(const char *s)
{
	const char *why;
	mx_prefix p;

	if (mx_prefix_parse(s, true, &p, &why) != 0)
		fail_msg("test prefix %s: %s", s, why);
	return p;
}

static const struct mx_lookup *find_text(const struct mx_section *s, const char *text)
{
	for (size_t i = 0; i < s->n_lookups; i++)
		if (strcmp(s->lookups[i].text, text) == 0)
			return &s->lookups[i];
	fail_msg("no lookup \"%s\"", text);
	return NULL;
}

/* ---- durations ---- */

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		uint64_t secs;
	} good[] = {
		{ "30", 30 }, { "30s", 30 }, { "5S", 5 }, { "10m", 600 }, { "10M", 600 },
		{ "1h", 3600 }, { "2H", 7200 }, { "2d", 172800 }, { "2D", 172800 },
		{ "3650d", 3650ULL * 86400 }, { "007", 7 },
	};
	static const char *const bad[] = {
		"", "0", "0s", "m", "10x", "10mm", "-1", "+1", " 1", "1 ", "1.5h", "3651d",
		"315360001", "99999999999999999999999", "1m30s", "0x10",
	};
	uint64_t ns;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ns = 0;
		if (mx_parse_duration(good[i].s, &ns) != 0)
			fail_msg("\"%s\" rejected", good[i].s);
		assert_int_equal(ns, good[i].secs * SEC);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ns = 42;
		if (mx_parse_duration(bad[i], &ns) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(ns, 42); /* untouched on error */
	}
	assert_int_equal(mx_parse_duration_or_zero("0", &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(mx_parse_duration_or_zero("0m", &ns), 0);
	assert_int_equal(mx_parse_duration_or_zero("x", &ns), -1);
}

static void test_format_duration(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(mx_format_duration(0, b, sizeof(b)), "0s");
	assert_string_equal(mx_format_duration(90 * SEC, b, sizeof(b)), "1m30s");
	assert_string_equal(mx_format_duration(3600 * SEC, b, sizeof(b)), "1h");
	assert_string_equal(mx_format_duration(86401 * SEC, b, sizeof(b)), "1d1s");
	assert_string_equal(mx_format_duration(SEC / 2, b, sizeof(b)), "0.500s");
}

/* ---- [main] ---- */

static void test_defaults(void **state)
{
	(void)state;
	load_ok("");
	assert_string_equal(pol.path, "t.ini");
	assert_true(mx_policy_port(&pol, 25));
	assert_true(mx_policy_port(&pol, 465));
	assert_true(mx_policy_port(&pol, 587));
	assert_true(mx_policy_port(&pol, 143));
	assert_true(mx_policy_port(&pol, 993));
	assert_true(mx_policy_port(&pol, 110));
	assert_true(mx_policy_port(&pol, 995));
	assert_false(mx_policy_port(&pol, 0));
	assert_false(mx_policy_port(&pol, 24));
	assert_false(mx_policy_port(&pol, 26));
	assert_false(mx_policy_port(&pol, 65535));
	assert_false(mx_policy_port(&pol, 70000));
	assert_int_equal(pol.ipv4_prefix, 32);
	assert_int_equal(pol.ipv6_prefix, 64);
	assert_int_equal(pol.action, MX_ACTION_DROP);
	assert_int_equal(pol.tarpit_delay_ns, 0);
	assert_int_equal(pol.pending_timeout_ns, 4 * SEC);
	assert_int_equal(pol.gc_idle_ns, 600 * SEC);
	assert_int_equal(pol.max_sources, 65536);
	assert_int_equal(pol.max_connections, 65536);
	assert_int_equal(pol.max_rate_sources, 262144);
	assert_int_equal(pol.max_pending, 65536);
	assert_int_equal(pol.max_sanctions, 65536);
	assert_int_equal(pol.max_rules, 4096);
	assert_false(pol.concurrency.enabled);
	assert_false(pol.concurrency.present);
	assert_false(pol.proxy.present);
	assert_logged("mxlimit: warning: t.ini: no limit section is enabled");
}

static void test_main_keys(void **state)
{
	(void)state;
	load_ok("ports = 25, 2525-2527 ,587\n"
		"ipv4_prefix = 24\n"
		"[main]\n"
		"ipv6_prefix = 48\n"
		"action = RESET\n"
		"tarpit_delay = 0\n"
		"pending_timeout = 10s\n"
		"gc_idle = 1h\n"
		"max_sources = 16\n"
		"max_connections = 100\n"
		"max_rate_sources = 16777216\n"
		"max_pending = 1000\n"
		"max_sanctions = 2000\n"
		"max_rules = 300\n");
	assert_true(mx_policy_port(&pol, 25));
	assert_true(mx_policy_port(&pol, 2525));
	assert_true(mx_policy_port(&pol, 2526));
	assert_true(mx_policy_port(&pol, 2527));
	assert_true(mx_policy_port(&pol, 587));
	assert_false(mx_policy_port(&pol, 465)); /* ports replaces the default list */
	assert_false(mx_policy_port(&pol, 2528));
	assert_int_equal(pol.ipv4_prefix, 24);
	assert_int_equal(pol.ipv6_prefix, 48);
	assert_int_equal(pol.action, MX_ACTION_RESET);
	assert_int_equal(pol.tarpit_delay_ns, 0);
	assert_int_equal(pol.pending_timeout_ns, 10 * SEC);
	assert_int_equal(pol.gc_idle_ns, 3600 * SEC);
	assert_int_equal(pol.max_sources, 16);
	assert_int_equal(pol.max_connections, 100);
	assert_int_equal(pol.max_rate_sources, 16777216);
	assert_int_equal(pol.max_pending, 1000);
	assert_int_equal(pol.max_sanctions, 2000);
	assert_int_equal(pol.max_rules, 300);
}

static void test_main_errors(void **state)
{
	(void)state;
	assert_int_equal(load("ports = 0\n"
			      "ports = 25,,26\n"
			      "ports = 70000\n"
			      "ports = 30-20\n"
			      "ipv4_prefix = 33\n"
			      "ipv4_prefix = 0\n"
			      "ipv6_prefix = 129\n"
			      "action = block\n"
			      "tarpit_delay = 3x\n"
			      "pending_timeout = 0\n"
			      "pending_timeout = 5m\n"
			      "gc_idle = 5s\n"
			      "max_sources = 15\n"
			      "max_sources = 16777217\n"
			      "max_rules = 4294967296\n"
			      "foo = 1\n"
			      "ports\n"),
			 -1);
	assert_logged("mxlimit: t.ini:1: ports: bad value \"0\": expected ports 1-65535");
	assert_logged("mxlimit: t.ini:2: ports: bad value \"25,,26\"");
	assert_logged("mxlimit: t.ini:3: ports: bad value \"70000\"");
	assert_logged("mxlimit: t.ini:4: ports: bad value \"30-20\"");
	assert_logged("mxlimit: t.ini:5: ipv4_prefix: expected 1 to 32, got \"33\"");
	assert_logged("mxlimit: t.ini:6: ipv4_prefix: expected 1 to 32, got \"0\"");
	assert_logged("mxlimit: t.ini:7: ipv6_prefix: expected 1 to 128, got \"129\"");
	assert_logged("mxlimit: t.ini:8: action: expected drop or reset, got \"block\"");
	assert_logged("mxlimit: t.ini:9: tarpit_delay: bad duration \"3x\"");
	assert_logged("mxlimit: t.ini:10: pending_timeout: expected a duration from 1s to 2m, got \"0\"");
	assert_logged("mxlimit: t.ini:11: pending_timeout: expected a duration from 1s to 2m, got \"5m\"");
	assert_logged("mxlimit: t.ini:12: gc_idle: expected a duration from 10s to 3650d, got \"5s\"");
	assert_logged("mxlimit: t.ini:13: max_sources: expected 16 to 16777216 entries, got \"15\"");
	assert_logged("mxlimit: t.ini:14: max_sources: expected 16 to 16777216 entries, got \"16777217\"");
	assert_logged("mxlimit: t.ini:15: max_rules: expected 16 to 16777216 entries, got \"4294967296\"");
	assert_logged("mxlimit: t.ini:16: unknown key \"foo\" in [main]");
	assert_logged("mxlimit: t.ini:17: ports: missing value (expected ports = VALUE)");
	assert_int_equal(cap.errors, 17); /* one message per bad line, all of them */
	assert_true(pol_is_zero());
}

/* ---- gateway mode's [main] keys ---- */

static void test_gateway_keys(void **state)
{
	(void)state;
	load_ok("[main]\n");
	assert_int_equal(pol.n_servers, 0);
	assert_int_equal(pol.flow_idle_smtp_ns, 900 * SEC);
	assert_int_equal(pol.flow_idle_imap_ns, 2100 * SEC);
	assert_int_equal(pol.flow_idle_pop_ns, 900 * SEC);
	mx_policy_free(&pol);

	load_ok("[main]\n"
		"servers = 192.0.2.0/28, 2001:db8:25::/64 198.51.100.7\n"
		"flow_idle_smtp = 10s\n"
		"flow_idle_imap = 1h\n"
		"flow_idle_pop = 7d\n");
	assert_int_equal(pol.n_servers, 3);
	{
		mx_prefix a = P("192.0.2.0/28"), b = P("2001:db8:25::/64"), c = P("198.51.100.7");

		assert_memory_equal(&pol.servers[0], &a, sizeof(a));
		assert_memory_equal(&pol.servers[1], &b, sizeof(b));
		assert_memory_equal(&pol.servers[2], &c, sizeof(c));
	}
	assert_int_equal(pol.flow_idle_smtp_ns, 10 * SEC);
	assert_int_equal(pol.flow_idle_imap_ns, 3600 * SEC);
	assert_int_equal(pol.flow_idle_pop_ns, 7 * 86400 * SEC);
	compile_ok();
	assert_int_equal(comp.n_servers, 3);
	assert_memory_equal(comp.servers, pol.servers, 3 * sizeof(mx_prefix));
	assert_int_equal(comp.config.gw_idle_smtp_ns, 10 * SEC);
	assert_int_equal(comp.config.gw_idle_imap_ns, 3600 * SEC);
	assert_int_equal(comp.config.gw_idle_pop_ns, 7 * 86400 * SEC);
	mx_compiled_free(&comp);
	mx_policy_free(&pol);

	/* a later servers line replaces an earlier one, nothing leaks */
	assert_int_equal(load("[main]\n"
			      "servers = 192.0.2.0/24\n"
			      "servers = 192.0.2.0/33\n"
			      "servers = ,\n"
			      "flow_idle_smtp = 9s\n"
			      "flow_idle_pop = 8d\n"),
			 -1);
	assert_logged("mxlimit: t.ini:3: servers: bad prefix \"192.0.2.0/33\"");
	assert_logged("mxlimit: t.ini:4: servers: expected one or more prefixes");
	assert_logged("mxlimit: t.ini:5: flow_idle_smtp: expected a duration from 10s to 7d, got \"9s\"");
	assert_logged("mxlimit: t.ini:6: flow_idle_pop: expected a duration from 10s to 7d, got \"8d\"");
	assert_true(pol_is_zero());
}

/* ---- the file haraka-plugin-limit ships ---- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	assert_non_null(f);
	buf = malloc(MX_POLICY_MAX_BYTES);
	*len = fread(buf, 1, MX_POLICY_MAX_BYTES - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void test_haraka_default(void **state)
{
	const struct mx_lookup *l;

	(void)state;
	cap_start();
	assert_int_equal(mx_policy_load(HARAKA_FILE, &pol), 0);
	cap_stop();
	assert_int_equal(cap.errors, 0);
	assert_logged(HARAKA_FILE ":7: warning: [redis] has no host and no socket");
	assert_logged(HARAKA_FILE ":120: warning: [outbound] is ignored");
	assert_logged(HARAKA_FILE ":128: warning: [rate_outbound] is ignored");
	assert_logged("warning: " HARAKA_FILE ": no limit section is enabled");
	assert_int_equal(cap.warnings, 4);
	assert_int_equal(pol.tarpit_delay_ns, 3 * SEC); /* before any header: [main] */
	/* every section read, none on: haraka's own default is all off */
	assert_true(pol.concurrency.present);
	assert_false(pol.concurrency.enabled);
	l = find_text(&pol.concurrency, "max");
	assert_int_equal(l->kind, MX_LOOKUP_DEFAULT);
	assert_int_equal(l->limit, 3);
	assert_int_equal(l->line, 17);
	l = find_text(&pol.rate_conn, "127");
	assert_int_equal(l->kind, MX_LOOKUP_PREFIX);
	{
		mx_prefix want = P("127.0.0.0/8");

		assert_true(mx_prefix_equal(&l->prefix, &want));
	}
	assert_int_equal(l->limit, 0);
	l = find_text(&pol.rate_conn, "default");
	assert_int_equal(l->limit, 5);
	assert_int_equal(l->period_ns, 60 * SEC);
	l = find_text(&pol.rate_rcpt_host, "default");
	assert_int_equal(l->limit, 50);
	assert_int_equal(l->period_ns, 300 * SEC);
	/* sender sections match mail addresses: "127" is a name there */
	assert_int_equal(find_text(&pol.rate_rcpt_sender, "127")->kind, MX_LOOKUP_NAME);
	assert_int_equal(find_text(&pol.rate_rcpt_null, "default")->period_ns, 60 * SEC);
	assert_false(pol.concurrency_bad.set); /* history sections are off too */
	assert_false(pol.rate_conn_bad.set);
	compile_ok();
	assert_int_equal(comp.n_rules, 2);
	assert_int_equal(comp.rules[0].rule.flags, 0);
	assert_int_equal(comp.rules[1].rule.flags, 0);
}

/* The same file with every "; enabled=false" turned into enabled=true. */
static void test_haraka_default_enabled(void **state)
{
	size_t len;
	char *buf = slurp(HARAKA_FILE, &len), *p;
	const struct mx_compiled_rule *r = NULL;

	(void)state;
	while ((p = strstr(buf, "; enabled=false")))
		memcpy(p, "  enabled=true ", 15);
	cap_start();
	assert_int_equal(mx_policy_load_buf("h.ini", buf, len, &pol), 0);
	cap_stop();
	free(buf);
	assert_int_equal(cap.errors, 0);
	assert_true(pol.concurrency.enabled);
	assert_true(pol.rate_rcpt_null.enabled);
	assert_true(pol.concurrency_bad.set);
	assert_int_equal(pol.concurrency_bad.limit, 1);
	assert_true(pol.rate_conn_bad.set);
	assert_int_equal(pol.rate_conn_bad.limit, 1);
	assert_int_equal(pol.rate_conn_bad.period_ns, 900 * SEC);
	assert_true(pol.recipients_bad.set);
	assert_logged("h.ini:25: warning: [concurrency_history]: good, none and plugin need a reputation plugin");
	assert_logged("h.ini:33: warning: [recipients] is enabled but sets no limit");
	assert_not_logged("no limit section is enabled");
	compile_ok();
	assert_int_equal(comp.n_rules, 3); /* ::/0, ::ffff:0:0/96, 127/8 */
	for (size_t i = 0; i < comp.n_rules; i++) {
		if (comp.rules[i].prefix.plen == MX_V4_PLEN_BASE + 8)
			r = &comp.rules[i];
	}
	assert_non_null(r);
	assert_int_equal(r->rule.flags, MX_RULE_ALLOW | MX_RULE_RATE_SET | MX_RULE_RATE_SHARED |
						MX_RULE_CONC_SET);
	assert_int_equal(r->rule.conc_limit, 3);
	assert_int_equal(r->rule.conc_plen, 128);
	assert_int_equal(r->rule.rate_limit, 0);
	assert_int_equal(r->rule.rate_plen, MX_V4_PLEN_BASE + 8);
	assert_true(comp.config.flags & MX_CFG_BAD_CONC);
	assert_true(comp.config.flags & MX_CFG_BAD_RATE);
}

/* The documented sample we install loads clean: no error, no warning. */
static void test_sample_config(void **state)
{
	(void)state;
	cap_start();
	assert_int_equal(mx_policy_load("config/limit.ini", &pol), 0);
	cap_stop();
	if (cap.errors || cap.warnings)
		fail_msg("%s", cap.buf);
	assert_true(pol.concurrency.enabled);
	assert_true(pol.rate_conn.enabled);
	assert_int_equal(pol.tarpit_delay_ns, 3 * SEC);
	assert_true(pol.proxy.present);
	assert_int_equal(pol.proxy.n_listen, 2);
	compile_ok();
	assert_int_equal(comp.n_rules, 4);
}

/* ---- lookups ---- */

static void test_lookup_forms(void **state)
{
	static const struct {
		const char *text;
		const char *prefix;
		unsigned plen;
	} want[] = {
		{ "192.0.2.7", "192.0.2.7", 128 },
		{ "198.51.100", "198.51.100.0/24", 120 },
		{ "10.1", "10.1.0.0/16", 112 },
		{ "11", "11.0.0.0/8", 104 },
		{ "203.0.113.0/25", "203.0.113.0/25", 121 },
		{ "2001:db8::/32", "2001:db8::/32", 32 },
		{ "fe80:0:0:0", "fe80::/64", 64 },
		{ "2001:db8::1", "2001:db8::1", 128 },
		{ "::ffff:192.0.3.0/120", "192.0.3.0/24", 120 },
	};
	char buf[MX_PREFIX_STRLEN];
	size_t i;

	(void)state;
	load_ok("[concurrency]\nenabled = true\n"
		"192.0.2.7 = 1\n198.51.100 = 2\n10.1 = 3\n11 = 4\n203.0.113.0/25 = 5\n"
		"2001:db8::/32 = 6\nfe80:0:0:0 = 7\n2001:db8::1 = 8\n::ffff:192.0.3.0/120 = 9\n"
		"max = 10\n");
	assert_int_equal(pol.concurrency.n_lookups, 10);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct mx_lookup *l = &pol.concurrency.lookups[i];

		assert_string_equal(l->text, want[i].text);
		assert_int_equal(l->kind, MX_LOOKUP_PREFIX);
		assert_string_equal(mx_prefix_format(&l->prefix, buf, sizeof(buf)), want[i].prefix);
		assert_int_equal(l->prefix.plen, want[i].plen);
		assert_int_equal(l->limit, i + 1);
		assert_int_equal(l->line, (int)i + 3);
		assert_int_equal(l->period_ns, 0); /* concurrency has no period */
	}
	assert_int_equal(pol.concurrency.lookups[9].kind, MX_LOOKUP_DEFAULT);
	assert_int_equal(pol.concurrency.line, 1);
}

static void test_name_lookups(void **state)
{
	(void)state;
	load_ok("[rate_rcpt_sender]\n"
		"User@Example.COM = 1\n"
		"Example.ORG = 2/1h\n"
		"a_b-c.example.net = 3\n"
		"first.last+tag@example.com = 4\n"
		"[rate_rcpt_host]\n"
		"mail.example.com = 5\n"
		"192.0.2 = 6\n"
		"fe80 = 7\n");
	assert_int_equal(find_text(&pol.rate_rcpt_sender, "user@example.com")->kind, MX_LOOKUP_NAME);
	assert_int_equal(find_text(&pol.rate_rcpt_sender, "example.org")->period_ns, 3600 * SEC);
	assert_int_equal(find_text(&pol.rate_rcpt_sender, "a_b-c.example.net")->limit, 3);
	assert_int_equal(find_text(&pol.rate_rcpt_sender, "first.last+tag@example.com")->limit, 4);
	assert_int_equal(find_text(&pol.rate_rcpt_host, "mail.example.com")->kind, MX_LOOKUP_NAME);
	assert_int_equal(find_text(&pol.rate_rcpt_host, "192.0.2")->kind, MX_LOOKUP_PREFIX);
	/* a lone hex word is a host name where names are allowed */
	assert_int_equal(find_text(&pol.rate_rcpt_host, "fe80")->kind, MX_LOOKUP_NAME);
}

static void test_lookup_errors(void **state)
{
	(void)state;
	assert_int_equal(load("[concurrency]\n"
			      "enabled = true\n"
			      "1.2.3.4/33 = 1\n"
			      "1.2.3.4/24 = 1\n"
			      "1.2.3.256 = 1\n"
			      "mail.example.com = 1\n"
			      "fe80 = 1\n"
			      "2001:db8::1/64 = 1\n"
			      "[recipients]\n"
			      "foo = 1\n"
			      "[errors]\n"
			      "192.0.2.1 = 5\n"
			      "[rate_rcpt_sender]\n"
			      "a..b = 1\n"
			      "user@ = 1\n"
			      "@example.com = 1\n"
			      "x@y@z = 1\n"
			      "[rate_rcpt_host]\n"
			      "192.0.2.0/33 = 1\n"
			      "default\n"),
			 -1);
	assert_logged("mxlimit: t.ini:3: bad lookup \"1.2.3.4/33\": prefix length out of range\n");
	assert_logged("mxlimit: t.ini:4: bad lookup \"1.2.3.4/24\": host bits set after the prefix length (the prefix is 1.2.3.0/24)\n");
	assert_logged("mxlimit: t.ini:5: bad lookup \"1.2.3.256\": not an address, CIDR prefix or haraka prefix\n");
	assert_logged("mxlimit: t.ini:6: bad lookup \"mail.example.com\": [concurrency] is enforced in the kernel, which matches addresses, not names\n");
	assert_logged("mxlimit: t.ini:7: bad lookup \"fe80\": ambiguous, write fe80::/16 for an IPv6 prefix\n");
	assert_logged("mxlimit: t.ini:8: bad lookup \"2001:db8::1/64\": host bits set after the prefix length (the prefix is 2001:db8::/64)\n");
	assert_logged("mxlimit: t.ini:10: bad lookup \"foo\": [recipients] matches client addresses, not names\n");
	assert_logged("mxlimit: t.ini:12: unknown key \"192.0.2.1\" in [errors] (it takes max and enabled)\n");
	assert_logged("mxlimit: t.ini:14: bad lookup \"a..b\": not a host name, domain or mail address\n");
	assert_logged("mxlimit: t.ini:15: bad lookup \"user@\": not a host name");
	assert_logged("mxlimit: t.ini:16: bad lookup \"@example.com\": not a host name");
	assert_logged("mxlimit: t.ini:17: bad lookup \"x@y@z\": not a host name");
	assert_logged("mxlimit: t.ini:19: bad lookup \"192.0.2.0/33\": prefix length out of range\n");
	assert_logged("mxlimit: t.ini:20: default: missing value (expected default = VALUE)\n");
	assert_int_equal(cap.errors, 14);
	assert_true(pol_is_zero());
}

static void test_limit_values(void **state)
{
	(void)state;
	load_ok("[rate_conn]\n"
		"default = 4294967295/3650d\n"
		"192.0.2.1 = 5/90\n"
		"192.0.2.2 = 5/2H\n"
		"192.0.2.3 = 0\n"
		"192.0.2.4 = 7\n"
		"[concurrency]\n"
		"max = 4294967295\n");
	assert_int_equal(find_text(&pol.rate_conn, "default")->limit, UINT32_MAX);
	assert_int_equal(find_text(&pol.rate_conn, "192.0.2.1")->period_ns, 90 * SEC);
	assert_int_equal(find_text(&pol.rate_conn, "192.0.2.2")->period_ns, 7200 * SEC);
	assert_int_equal(find_text(&pol.rate_conn, "192.0.2.3")->limit, 0);
	assert_int_equal(find_text(&pol.rate_conn, "192.0.2.4")->period_ns, 60 * SEC);
	assert_int_equal(find_text(&pol.concurrency, "max")->limit, UINT32_MAX);
	mx_policy_free(&pol);

	assert_int_equal(load("[rate_conn]\n"
			      "default = 4294967296\n"
			      "192.0.2.1 = 5/0\n"
			      "192.0.2.2 = 5/\n"
			      "192.0.2.3 = /5\n"
			      "192.0.2.4 = 5x\n"
			      "192.0.2.5 = -1\n"
			      "192.0.2.6 = 4294967295/1s\n"
			      "192.0.2.7 = 5/1w\n"
			      "192.0.2.8 = 99999999999999999999\n"
			      "192.0.2.9 =\n"
			      "[concurrency]\n"
			      "max = 5/1m\n"),
			 -1);
	assert_logged("mxlimit: t.ini:2: bad limit \"4294967296\" for \"default\" in [rate_conn]: limit out of range (0 to 4294967295)\n");
	assert_logged("mxlimit: t.ini:3: bad limit \"5/0\" for \"192.0.2.1\" in [rate_conn]: time must be 1s to 3650d");
	assert_logged("mxlimit: t.ini:4: bad limit \"5/\" for \"192.0.2.2\"");
	assert_logged("mxlimit: t.ini:5: bad limit \"/5\" for \"192.0.2.3\" in [rate_conn]: expected limit[/time]\n");
	assert_logged("mxlimit: t.ini:6: bad limit \"5x\" for \"192.0.2.4\" in [rate_conn]: expected limit[/time]\n");
	assert_logged("mxlimit: t.ini:7: bad limit \"-1\" for \"192.0.2.5\"");
	assert_logged("mxlimit: t.ini:8: bad limit \"4294967295/1s\" for \"192.0.2.6\" in [rate_conn]: more than one per nanosecond\n");
	assert_logged("mxlimit: t.ini:9: bad limit \"5/1w\"");
	assert_logged("mxlimit: t.ini:10: bad limit \"99999999999999999999\" for \"192.0.2.8\" in [rate_conn]: limit out of range");
	assert_logged("mxlimit: t.ini:11: bad limit \"\" for \"192.0.2.9\" in [rate_conn]: expected limit[/time]\n");
	assert_logged("mxlimit: t.ini:13: bad limit \"5/1m\" for \"max\" in [concurrency]: this section takes a plain number, no /time\n");
	assert_int_equal(cap.errors, 11);
}

static void test_enabled(void **state)
{
	static const char *const yes[] = { "true", "TRUE", "yes", "ok", "enabled", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "disabled", "0" };
	char buf[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(buf, sizeof(buf), "[errors]\nmax = 3\nenabled = %s\n", yes[i]);
		load_ok(buf);
		assert_true(pol.errors.enabled);
		mx_policy_free(&pol);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(buf, sizeof(buf), "[errors]\nenabled = true\nmax = 3\nenabled = %s\n", no[i]);
		load_ok(buf); /* the last one wins */
		assert_false(pol.errors.enabled);
		assert_logged("t.ini:4: warning: duplicate key \"enabled\" in [errors] (also on line 2): the last one wins");
		mx_policy_free(&pol);
	}
	load_err("[errors]\nenabled = maybe\n",
		 "mxlimit: t.ini:2: enabled: expected true or false, got \"maybe\"\n");
}

static void test_duplicates(void **state)
{
	const struct mx_lookup *l;

	(void)state;
	load_ok("action = drop\n"
		"[concurrency]\n"
		"enabled = true\n"
		"192.0.2 = 1\n"
		"192.0.2.0/24 = 2\n"
		"max = 3\n"
		"default = 4\n"
		"[main]\n"
		"action = reset\n"
		"[concurrency]\n"
		"192.0.3.0/24 = 5\n");
	assert_logged("mxlimit: t.ini:5: warning: duplicate lookup \"192.0.2.0/24\" in [concurrency] (same as \"192.0.2\" on line 4): the last one wins\n");
	assert_logged("mxlimit: t.ini:7: warning: duplicate lookup \"default\" in [concurrency] (same as \"max\" on line 6): the last one wins\n");
	assert_logged("mxlimit: t.ini:9: warning: duplicate key \"action\" in [main] (also on line 1): the last one wins\n");
	assert_logged("mxlimit: t.ini:10: warning: [concurrency] appears again (first on line 2): its keys are merged\n");
	assert_int_equal(pol.action, MX_ACTION_RESET);
	assert_int_equal(pol.concurrency.n_lookups, 3);
	l = find_text(&pol.concurrency, "192.0.2.0/24");
	assert_int_equal(l->limit, 2);
	assert_int_equal(l->line, 5);
	assert_int_equal(find_text(&pol.concurrency, "default")->limit, 4);
	assert_int_equal(find_text(&pol.concurrency, "192.0.3.0/24")->limit, 5);
	assert_int_equal(pol.concurrency.line, 2);
}

static void test_section_errors(void **state)
{
	(void)state;
	assert_int_equal(load("[foo]\n"
			      "a = 1\n"
			      "b = 2\n"
			      "[Concurrency]\n"
			      "max = 1\n"
			      "[concurrency]\n"
			      "max\n"),
			 -1);
	assert_logged("mxlimit: t.ini:1: unknown section [foo]\n");
	assert_logged("mxlimit: t.ini:4: unknown section [Concurrency] (section names are lowercase)\n");
	assert_logged("mxlimit: t.ini:7: max: missing value (expected max = VALUE)\n");
	assert_int_equal(cap.errors, 3); /* keys of an unknown section: no more noise */
	assert_true(pol_is_zero());
	/* ini syntax errors fail the load too */
	load_err("[concurrency\n", "mxlimit: t.ini:1: bad section header");
	load_err("a b = 1\n", "mxlimit: t.ini:1: expected \"key = value\"");
}

static void test_binary_input(void **state)
{
	static const char nul[] = "[concurrency]\nmax = 3\0\nx";
	static const char crlf[] = "[concurrency]\r\nenabled = true\r\nmax = 3\r\n";

	(void)state;
	cap_start();
	assert_int_equal(mx_policy_load_buf("t.ini", nul, sizeof(nul) - 1, &pol), -1);
	cap_stop();
	assert_logged("mxlimit: t.ini:2: NUL byte at column 8");
	assert_true(pol_is_zero());
	load_err("max = \xff\n", "mxlimit: t.ini:1: invalid UTF-8");
	load_ok(crlf);
	assert_true(pol.concurrency.enabled);
	assert_int_equal(find_text(&pol.concurrency, "max")->limit, 3);
}

/* ---- history, penalty, redis, outbound, recipients, proxy ---- */

static void test_history(void **state)
{
	(void)state;
	load_ok("[concurrency_history]\nbad = 1\n"
		"[rate_conn_history]\nbad = 2/10m\n");
	assert_false(pol.concurrency_bad.set); /* not enabled: no tier */
	assert_false(pol.rate_conn_bad.set);
	assert_int_equal(cap.warnings, 1); /* only "no limit section is enabled" */
	mx_policy_free(&pol);

	load_ok("[concurrency_history]\nbad = 1\nenabled = true\n"
		"[rate_conn_history]\nenabled = yes\nbad = 2/10m\nplugin = karma\ngood = 15/1m\n"
		"[recipients_history]\nenabled = true\nbad = 4\n");
	assert_true(pol.concurrency_bad.set);
	assert_int_equal(pol.concurrency_bad.limit, 1);
	assert_int_equal(pol.concurrency_bad.period_ns, 0);
	assert_true(pol.rate_conn_bad.set);
	assert_int_equal(pol.rate_conn_bad.limit, 2);
	assert_int_equal(pol.rate_conn_bad.period_ns, 600 * SEC);
	assert_true(pol.recipients_bad.set);
	assert_int_equal(pol.recipients_bad.limit, 4);
	assert_logged("mxlimit: t.ini:7: warning: [rate_conn_history]: good, none and plugin need a reputation plugin; mxlimit applies only bad, to penalized sources\n");
	mx_policy_free(&pol);

	assert_int_equal(load("[concurrency_history]\nbad = 1/15m\nworst = 0\nplugin =\n"
			      "[rate_conn_history]\nenabled = true\n"),
			 -1);
	assert_logged("mxlimit: t.ini:2: bad limit \"1/15m\" for \"bad\" in [concurrency_history]: this section takes a plain number, no /time\n");
	assert_logged("mxlimit: t.ini:3: unknown key \"worst\" in [concurrency_history] (it takes enabled, bad, good, none, plugin)\n");
	assert_logged("mxlimit: t.ini:4: plugin: missing value\n");
	assert_logged("mxlimit: t.ini:5: warning: [rate_conn_history] is enabled but sets no bad tier\n");
}

static void test_penalty(void **state)
{
	const struct mx_penalty *p;

	(void)state;
	load_ok("[recipients]\nenabled = true\nmax = 20\n"
		"[errors]\nenabled = true\nmax = 5\n"
		"[penalty]\n"
		"recipients = penalize 1h limit=1\n"
		"errors = block 10m\n"
		"unrecognized_commands = PENALIZE 30s\n"
		"rate_rcpt = none\n"
		"max_clients = penalize 5m limit=4294967293\n");
	p = &pol.penalty[MX_VIOL_RECIPIENTS];
	assert_int_equal(p->verb, MX_VERDICT_PENALIZE);
	assert_int_equal(p->duration_ns, 3600 * SEC);
	assert_int_equal(p->limit, 1);
	assert_int_equal(p->line, 8);
	p = &pol.penalty[MX_VIOL_ERRORS];
	assert_int_equal(p->verb, MX_VERDICT_BLOCK);
	assert_int_equal(p->duration_ns, 600 * SEC);
	assert_int_equal(p->limit, 0);
	assert_int_equal(pol.penalty[MX_VIOL_UNRECOGNIZED_COMMANDS].verb, MX_VERDICT_PENALIZE);
	assert_int_equal(pol.penalty[MX_VIOL_RATE_RCPT].verb, MX_VERDICT_NONE);
	assert_int_equal(pol.penalty[MX_VIOL_MAX_CLIENTS].limit, 4294967293u);
	assert_int_equal(pol.penalty[MX_VIOL_RATE_RCPT_HOST].verb, MX_VERDICT_NONE);
	/* a penalty for a section that is off can never fire: say so */
	assert_logged("mxlimit: t.ini:10: warning: penalty for unrecognized_commands never applies: [unrecognized_commands] is not enabled\n");
	assert_not_logged("max_clients never applies");
	mx_policy_free(&pol);

	assert_int_equal(load("[penalty]\n"
			      "spam = block 1h\n"
			      "recipients = block\n"
			      "errors = block 10m limit=1\n"
			      "rate_rcpt = penalize 1h limit=0\n"
			      "rate_rcpt_host = penalize 1h limit=4294967294\n"
			      "rate_rcpt_null = penalize 1x\n"
			      "rate_rcpt_sender = jail 1h\n"
			      "max_clients = penalize 1h limit=1 extra\n"
			      "unrecognized_commands = penalize 1h lim=3\n"),
			 -1);
	assert_logged("mxlimit: t.ini:2: unknown key \"spam\" in [penalty] (expected recipients, unrecognized_commands, errors, rate_rcpt_host, rate_rcpt_sender, rate_rcpt, rate_rcpt_null or max_clients)\n");
	assert_logged("mxlimit: t.ini:3: bad penalty \"block\": expected \"block DURATION\", \"penalize DURATION [limit=N]\" or \"none\"\n");
	assert_logged("mxlimit: t.ini:4: bad penalty \"block 10m limit=1\": expected");
	assert_logged("mxlimit: t.ini:5: bad penalty \"penalize 1h limit=0\": expected limit=N with N from 1 to 4294967293\n");
	assert_logged("mxlimit: t.ini:6: bad penalty \"penalize 1h limit=4294967294\": expected limit=N");
	assert_logged("mxlimit: t.ini:7: bad penalty \"penalize 1x\": bad duration \"1x\" (1s to 3650d)\n");
	assert_logged("mxlimit: t.ini:8: bad penalty \"jail 1h\": expected");
	assert_logged("mxlimit: t.ini:9: bad penalty \"penalize 1h limit=1 extra\": expected");
	assert_logged("mxlimit: t.ini:10: bad penalty \"penalize 1h lim=3\": expected limit=N");
	assert_int_equal(cap.errors, 9);
}

static void test_violation_names(void **state)
{
	(void)state;
	assert_string_equal(mx_violation_name(MX_VIOL_RECIPIENTS), "recipients");
	assert_string_equal(mx_violation_name(MX_VIOL_UNRECOGNIZED_COMMANDS), "unrecognized_commands");
	assert_string_equal(mx_violation_name(MX_VIOL_ERRORS), "errors");
	assert_string_equal(mx_violation_name(MX_VIOL_RATE_RCPT_HOST), "rate_rcpt_host");
	assert_string_equal(mx_violation_name(MX_VIOL_RATE_RCPT_SENDER), "rate_rcpt_sender");
	assert_string_equal(mx_violation_name(MX_VIOL_RATE_RCPT), "rate_rcpt");
	assert_string_equal(mx_violation_name(MX_VIOL_RATE_RCPT_NULL), "rate_rcpt_null");
	assert_string_equal(mx_violation_name(MX_VIOL_MAX_CLIENTS), "max_clients");
	assert_string_equal(mx_violation_name(MX_VIOL__COUNT), "?");
}

static void test_redis_outbound_recipients(void **state)
{
	(void)state;
	load_ok("[redis]\nhost = 127.0.0.1\nport = 6379\ndb = 4\ndatabase = 4\n"
		"[outbound]\nenabled = true\nexample.com = 10\nbare_key\n"
		"[rate_outbound]\ngmail.com = 10/1m\n"
		"[recipients]\nenabled = true\nmax = 20\nmax_relaying = 100\n");
	assert_int_equal(cap.warnings, 3); /* [redis] with a host: none for it */
	assert_true(pol.redis.enabled);
	assert_string_equal(pol.redis.host, "127.0.0.1");
	assert_int_equal(pol.redis.port, 6379);
	assert_int_equal(pol.redis.db, 4);
	assert_string_equal(pol.redis.prefix, "mxl:");
	assert_int_equal(pol.redis.timeout_ns, 100 * 1000000ULL);
	assert_logged("mxlimit: t.ini:6: warning: [outbound] is ignored: mxlimit limits inbound connections\n");
	assert_logged("mxlimit: t.ini:10: warning: [rate_outbound] is ignored");
	assert_logged("mxlimit: t.ini:15: warning: max_relaying is not used");
	assert_int_equal(pol.recipients.n_lookups, 1); /* max_relaying is no lookup */
	assert_int_equal(find_text(&pol.recipients, "max")->limit, 20);
	mx_policy_free(&pol);

	assert_int_equal(load("[redis]\nserver = x\n[recipients]\nmax_relaying = lots\n"), -1);
	assert_logged("mxlimit: t.ini:2: unknown key \"server\" in [redis]");
	assert_logged("mxlimit: t.ini:4: bad limit \"lots\" for \"max_relaying\" in [recipients]");

	/* a socket turns sharing on too; names are refused (they would
	 * block the event loop on DNS); every bad value is an error */
	load_ok("[redis]\nsocket = /run/redis/redis.sock\npassword = pw\nprefix = fleet1:\n"
		"timeout = 2s\n");
	assert_true(pol.redis.enabled);
	assert_string_equal(pol.redis.socket, "/run/redis/redis.sock");
	assert_string_equal(pol.redis.prefix, "fleet1:");
	assert_int_equal(pol.redis.timeout_ns, 2000 * 1000000ULL);
	mx_policy_free(&pol);
	load_ok("[redis]\nhost = ::1\ntimeout = 250\n");
	assert_int_equal(pol.redis.timeout_ns, 250 * 1000000ULL);
	mx_policy_free(&pol);
	assert_int_equal(load("[redis]\nhost = redis.example\nport = 70000\nsocket = rel\n"
			      "timeout = 0\nurl = redis://x\nprefix = a b\n"), -1);
	assert_logged("t.ini:2: [redis] host = \"redis.example\": an IPv4 or IPv6 address");
	assert_logged("t.ini:3: [redis] port = \"70000\": a port is 1-65535");
	assert_logged("t.ini:4: [redis] socket = \"rel\": an absolute path");
	assert_logged("t.ini:5: [redis] timeout = \"0\"");
	assert_logged("t.ini:6: [redis] url = \"redis://x\": not supported");
	assert_logged("t.ini:7: [redis] prefix = \"a b\"");
}

static void test_proxy_section(void **state)
{
	char buf[64];

	(void)state;
	load_ok("[proxy]\nlisten = 127.0.0.1:2525, [::1]:2525\nbackend = 127.0.0.1:25\n"
		"proxy_protocol = v2\nmax_clients = 50\n");
	assert_true(pol.proxy.present);
	assert_int_equal(pol.proxy.n_listen, 2);
	assert_true(pol.proxy.backend_set);
	assert_string_equal(mx_sockaddr_format(&pol.proxy.backend, buf, sizeof(buf)), "127.0.0.1:25");
	assert_int_equal(pol.proxy.proxy_protocol, MX_PP_V2);
	assert_int_equal(pol.proxy.max_clients, 50);
	mx_policy_free(&pol);

	/* an empty [proxy] is present, with the defaults */
	load_ok("[proxy]\n");
	assert_true(pol.proxy.present);
	assert_int_equal(pol.proxy.n_listen, 0);
	mx_policy_free(&pol);

	/* errors come from proxy_conf.c, with our file and line */
	load_err("[proxy]\nlisten = 127.0.0.1:2525\nbogus = 1\n",
		 "mxlimit: t.ini:3: unknown key \"bogus\" in [proxy]");
	load_err("\n[proxy]\nbackend\n", "mxlimit: t.ini:3: backend: missing value");
}

/* ---- matching (the proxy's sections) ---- */

static void test_match_name(void **state)
{
	const struct mx_section *s;

	(void)state;
	load_ok("[rate_rcpt_sender]\n"
		"user@example.com = 1\n"
		"example.com = 2\n"
		"com = 3\n"
		"default = 4\n"
		"sub.example.org = 5\n"
		"[rate_rcpt]\n"
		"example.com = 6\n");
	s = &pol.rate_rcpt_sender;
	assert_int_equal(mx_section_match_name(s, "User@Example.COM")->limit, 1);
	assert_int_equal(mx_section_match_name(s, "other@example.com")->limit, 2);
	assert_int_equal(mx_section_match_name(s, "x@a.b.example.com")->limit, 2);
	assert_int_equal(mx_section_match_name(s, "x@foo.com")->limit, 3);
	assert_int_equal(mx_section_match_name(s, "x@example.net")->limit, 4);
	assert_int_equal(mx_section_match_name(s, "x@sub.example.org")->limit, 5);
	assert_int_equal(mx_section_match_name(s, "x@deeper.sub.example.org")->limit, 5);
	assert_int_equal(mx_section_match_name(s, "x@example.org")->limit, 4);
	assert_int_equal(mx_section_match_name(s, "example.com.")->limit, 2);
	assert_int_equal(mx_section_match_name(s, "user@example.com")->limit, 1);
	assert_int_equal(mx_section_match_name(s, "")->limit, 4);  /* null sender */
	assert_int_equal(mx_section_match_name(s, NULL)->limit, 4);
	/* the local part alone never matches a domain lookup */
	assert_int_equal(mx_section_match_name(s, "com@example.net")->limit, 4);
	/* no default: NULL */
	assert_null(mx_section_match_name(&pol.rate_rcpt, "x@example.net"));
	assert_int_equal(mx_section_match_name(&pol.rate_rcpt, "x@mx.example.com")->limit, 6);
}

static void test_match_addr_host(void **state)
{
	const struct mx_section *s;
	mx_prefix a;

	(void)state;
	load_ok("[rate_rcpt_host]\n"
		"192.0.2.0/24 = 1\n"
		"192.0.2.128/25 = 2\n"
		"192 = 3\n"
		"2001:db8::/32 = 4\n"
		"default = 5\n"
		"mail.example.com = 6\n"
		"example.net = 7\n"
		"[recipients]\n"
		"198.51.100.0/24 = 8\n");
	s = &pol.rate_rcpt_host;
	a = P("192.0.2.200");
	assert_int_equal(mx_section_match_addr(s, &a)->limit, 2);
	a = P("192.0.2.1");
	assert_int_equal(mx_section_match_addr(s, &a)->limit, 1);
	assert_int_equal(mx_section_match_host(s, &a, "mail.example.com")->limit, 1); /* address first */
	a = P("192.1.1.1");
	assert_int_equal(mx_section_match_addr(s, &a)->limit, 3);
	a = P("2001:db8:1::5");
	assert_int_equal(mx_section_match_addr(s, &a)->limit, 4);
	a = P("10.0.0.1");
	assert_int_equal(mx_section_match_addr(s, &a)->limit, 5);
	assert_int_equal(mx_section_match_host(s, &a, "Mail.Example.com")->limit, 6);
	assert_int_equal(mx_section_match_host(s, &a, "x.example.net")->limit, 7);
	assert_int_equal(mx_section_match_host(s, &a, "x.example.org")->limit, 5);
	assert_int_equal(mx_section_match_host(s, &a, NULL)->limit, 5);
	assert_int_equal(mx_section_match_host(s, NULL, "example.net")->limit, 7);
	a = P("198.51.100.9");
	assert_int_equal(mx_section_match_addr(&pol.recipients, &a)->limit, 8);
	a = P("198.51.101.9");
	assert_null(mx_section_match_addr(&pol.recipients, &a));
}

static char *print(int json);

/* ---- compile ---- */

static const struct mx_compiled_rule *rule_for(const char *prefix)
{
	mx_prefix p = P(prefix);

	for (size_t i = 0; i < comp.n_rules; i++)
		if (mx_prefix_equal(&comp.rules[i].prefix, &p))
			return &comp.rules[i];
	fail_msg("no compiled rule for %s", prefix);
	return NULL;
}

/* What the kernel's LPM returns for an address. */
static const struct mx_compiled_rule *lpm(const mx_prefix *addr)
{
	const struct mx_compiled_rule *best = NULL;

	for (size_t i = 0; i < comp.n_rules; i++) {
		const struct mx_compiled_rule *r = &comp.rules[i];

		if (mx_prefix_contains(&r->prefix, addr) && (!best || r->prefix.plen > best->prefix.plen))
			best = r;
	}
	return best;
}

static const char nested[] = "ipv4_prefix = 24\n"
			     "ipv6_prefix = 56\n"
			     "[concurrency]\n"
			     "enabled = true\n"
			     "default = 10\n"
			     "198.51.100.0/22 = 50\n"
			     "198.51.100.0/24 = 20\n"
			     "203.0.113.7 = 0\n"
			     "[rate_conn]\n"
			     "enabled = true\n"
			     "default = 5/1m\n"
			     "198.51.100.0/23 = 100/1m\n"
			     "2001:db8::/32 = 30/10s\n";

static void test_compile_nested(void **state)
{
	const struct mx_compiled_rule *r;

	(void)state;
	load_ok(nested);
	compile_ok();
	assert_int_equal(comp.n_rules, 7);

	r = rule_for("198.51.100.0/24"); /* conc from itself, rate from the /23 */
	assert_int_equal(r->rule.flags, MX_RULE_CONC_SET | MX_RULE_CONC_SHARED | MX_RULE_RATE_SET |
						MX_RULE_RATE_SHARED);
	assert_int_equal(r->rule.conc_limit, 20);
	assert_int_equal(r->rule.conc_plen, 120);
	assert_string_equal(pol.concurrency.lookups[r->rule.conc_rule].text, "198.51.100.0/24");
	assert_int_equal(r->rule.rate_limit, 100);
	assert_int_equal(r->rule.rate_plen, 119);
	assert_string_equal(pol.rate_conn.lookups[r->rule.rate_rule].text, "198.51.100.0/23");

	r = rule_for("198.51.100.0/23"); /* conc from the enclosing /22 */
	assert_int_equal(r->rule.conc_limit, 50);
	assert_int_equal(r->rule.conc_plen, 118);
	assert_int_equal(r->rule.rate_limit, 100);

	r = rule_for("198.51.100.0/22"); /* rate: no lookup contains it, default per source */
	assert_int_equal(r->rule.flags, MX_RULE_CONC_SET | MX_RULE_CONC_SHARED | MX_RULE_RATE_SET);
	assert_int_equal(r->rule.rate_limit, 5);
	assert_int_equal(r->rule.rate_plen, 96 + 24);
	assert_string_equal(pol.rate_conn.lookups[r->rule.rate_rule].text, "default");

	r = rule_for("203.0.113.7"); /* explicit 0: allowlisted */
	assert_int_equal(r->rule.flags, MX_RULE_CONC_SET | MX_RULE_CONC_SHARED | MX_RULE_ALLOW |
						MX_RULE_RATE_SET);
	assert_int_equal(r->rule.conc_limit, 0);
	assert_int_equal(r->rule.conc_plen, 128);

	r = rule_for("::ffff:0:0/96"); /* IPv4 default, per /24 source */
	assert_int_equal(r->rule.flags, MX_RULE_CONC_SET | MX_RULE_RATE_SET);
	assert_int_equal(r->rule.conc_limit, 10);
	assert_int_equal(r->rule.conc_plen, 120);
	assert_int_equal(r->rule.rate_limit, 5);
	assert_int_equal(r->rule.rate_plen, 120);
	assert_int_equal(r->rule.rate_period_ns, 60 * SEC);
	assert_int_equal(r->rule.rate_emission_ns, 12 * SEC);
	assert_int_equal(r->rule.rate_tolerance_ns, 48 * SEC);

	r = rule_for("::/0"); /* IPv6 default, per /56 source */
	assert_int_equal(r->rule.conc_plen, 56);
	assert_int_equal(r->rule.rate_plen, 56);
	assert_int_equal(r->rule.conc_limit, 10);

	r = rule_for("2001:db8::/32");
	assert_int_equal(r->rule.flags, MX_RULE_CONC_SET | MX_RULE_RATE_SET | MX_RULE_RATE_SHARED);
	assert_int_equal(r->rule.conc_plen, 56); /* conc default still counts per source */
	assert_int_equal(r->rule.rate_plen, 32);
	assert_int_equal(r->rule.rate_emission_ns, 10 * SEC / 30);
	assert_int_equal(r->rule.rate_tolerance_ns, 10 * SEC - 10 * SEC / 30);
}

/* One LPM match must answer both sections as each would alone: for many
 * addresses in, around and outside the lookups, the matched entry's
 * concurrency and rate lookups are the sections' own longest matches. */
static void test_compile_lpm_equivalence(void **state)
{
	static const char *const addrs[] = {
		"198.51.100.1", "198.51.100.255", "198.51.101.1", "198.51.102.9", "198.51.103.255",
		"198.51.104.0", "198.51.99.255", "203.0.113.7", "203.0.113.8", "0.0.0.0",
		"255.255.255.255", "10.0.0.1", "2001:db8::1", "2001:db8:ffff::1", "2001:db9::1",
		"::1", "::", "ffff::1", "::ffff:198.51.100.7", "64:ff9b::198.51.100.7",
	};
	size_t i;

	(void)state;
	load_ok(nested);
	compile_ok();
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		mx_prefix a = P(addrs[i]);
		const struct mx_compiled_rule *r = lpm(&a);
		const struct mx_lookup *c = mx_section_match_addr(&pol.concurrency, &a);
		const struct mx_lookup *t = mx_section_match_addr(&pol.rate_conn, &a);

		assert_non_null(r);
		assert_int_not_equal(r->rule.conc_rule, MX_COMPILED_NO_RULE);
		assert_int_not_equal(r->rule.rate_rule, MX_COMPILED_NO_RULE);
		if (c != &pol.concurrency.lookups[r->rule.conc_rule] ||
		    t != &pol.rate_conn.lookups[r->rule.rate_rule])
			fail_msg("%s: LPM gives %s/%s, sections %s/%s", addrs[i],
				 pol.concurrency.lookups[r->rule.conc_rule].text,
				 pol.rate_conn.lookups[r->rule.rate_rule].text, c->text, t->text);
		assert_int_equal(r->rule.conc_limit, c->limit);
		assert_int_equal(r->rule.rate_limit, t->limit);
		/* a default counts per source, an explicit lookup as one */
		assert_int_equal(r->rule.conc_plen,
				 c->kind == MX_LOOKUP_DEFAULT
					 ? (mx_prefix_is_v4(&a) ? 96u + 24 : 56u)
					 : c->prefix.plen);
	}
}

/* An IPv6 lookup wider than /96 covers IPv4 too: one counter for all. */
static void test_compile_v6_covers_v4(void **state)
{
	const struct mx_compiled_rule *r;
	char *t;

	(void)state;
	load_ok("[concurrency]\nenabled = true\n::/0 = 500\n192.0.2.0/24 = 5\n");
	compile_ok();
	assert_int_equal(comp.n_rules, 3);
	r = rule_for("::ffff:0:0/96");
	assert_int_equal(r->rule.flags, MX_RULE_CONC_SET | MX_RULE_CONC_SHARED);
	assert_int_equal(r->rule.conc_limit, 500);
	assert_int_equal(r->rule.conc_plen, 0);
	r = rule_for("::/0");
	assert_int_equal(r->rule.conc_plen, 0);
	t = print(0);
	assert_non_null(strstr(t, "0.0.0.0/0                500 shared (::/0, line 3)"));
	free(t);
}

static void test_compile_disabled(void **state)
{
	const struct mx_compiled_rule *r;

	(void)state;
	load_ok("ipv6_prefix = 48\n"
		"[concurrency]\n"
		"default = 10\n"
		"198.51.100.0/24 = 0\n"
		"[rate_conn]\n"
		"enabled = true\n"
		"192.0.2.0/24 = 3/1m\n");
	compile_ok();
	assert_int_equal(comp.n_rules, 3); /* the off section adds no prefix */
	r = rule_for("192.0.2.0/24");
	assert_int_equal(r->rule.flags, MX_RULE_RATE_SET | MX_RULE_RATE_SHARED);
	assert_int_equal(r->rule.conc_rule, MX_COMPILED_NO_RULE);
	assert_int_equal(r->rule.conc_limit, 0);
	assert_int_equal(r->rule.conc_plen, 128); /* per source, for penalty tiers */
	r = rule_for("::/0");
	assert_int_equal(r->rule.flags, 0); /* rate_conn has no default: unlimited */
	assert_int_equal(r->rule.rate_rule, MX_COMPILED_NO_RULE);
	assert_int_equal(r->rule.conc_plen, 48);
	assert_int_equal(r->rule.rate_plen, 48);
	mx_compiled_free(&comp);
	mx_policy_free(&pol);

	load_ok("[concurrency]\nmax = 1\n[rate_conn]\ndefault = 1\n10.0.0.0/8 = 0\n");
	compile_ok();
	assert_int_equal(comp.n_rules, 2);
	assert_int_equal(comp.rules[0].rule.flags | comp.rules[1].rule.flags, 0);
}

static void test_compile_config(void **state)
{
	const struct mx_config *c;

	(void)state;
	load_ok("ports = 25,587,65535\n"
		"action = reset\n"
		"ipv4_prefix = 24\n"
		"ipv6_prefix = 48\n"
		"pending_timeout = 8s\n"
		"[concurrency_history]\nenabled = true\nbad = 1\n"
		"[rate_conn_history]\nenabled = true\nbad = 2/10m\n");
	compile_ok();
	c = &comp.config;
	assert_int_equal(c->ports[0], 1ULL << 25);
	assert_int_equal(c->ports[587 >> 6], 1ULL << (587 & 63));
	assert_int_equal(c->ports[65535 >> 6], 1ULL << 63);
	assert_int_equal(c->ports[1], 0);
	assert_int_equal(c->gen, 0);
	assert_int_equal(c->action, MX_ACTION_RESET);
	assert_int_equal(c->v4_plen, 120);
	assert_int_equal(c->v6_plen, 48);
	assert_int_equal(c->pending_timeout_ns, 8 * SEC);
	assert_int_equal(c->pending_slot_ns, 2 * SEC);
	assert_int_equal(c->flags, MX_CFG_BAD_CONC | MX_CFG_BAD_RATE);
	assert_int_equal(c->bad_conc_limit, 1);
	assert_int_equal(c->bad_rate_limit, 2);
	assert_int_equal(c->bad_rate_period_ns, 600 * SEC);
	assert_int_equal(c->bad_rate_emission_ns, 300 * SEC);
	assert_int_equal(c->bad_rate_tolerance_ns, 300 * SEC);
	mx_compiled_free(&comp);
	mx_policy_free(&pol);

	load_ok("[concurrency_history]\nbad = 1\n");
	compile_ok();
	assert_int_equal(comp.config.flags, 0); /* history off: no tier */
	assert_int_equal(comp.config.bad_conc_limit, 0);
}

static void test_compile_max_rules(void **state)
{
	char buf[4096];
	size_t off, i;

	(void)state;
	off = (size_t)snprintf(buf, sizeof(buf), "max_rules = 16\n[concurrency]\nenabled = true\n");
	for (i = 0; i < 15; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "10.0.%zu.0/24 = 1\n", i);
	load_ok(buf);
	cap_start();
	assert_int_equal(mx_policy_compile(&pol, &comp), -1);
	cap_stop();
	assert_logged("mxlimit: t.ini: the policy needs 17 kernel prefixes, over max_rules = 16\n");
	assert_null(comp.rules);
	assert_int_equal(comp.n_rules, 0);
}

/* ---- print ---- */

static char *print(int json)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	mx_policy_print(&pol, &comp, json, f);
	fclose(f);
	return out;
}

static void test_print(void **state)
{
	char *t;

	(void)state;
	load_ok(nested);
	compile_ok();
	t = print(0);
	if (!strstr(t, "198.51.100.0/24          20 shared (198.51.100.0/24, line 7)"))
		fail_msg("%s", t);
	assert_non_null(strstr(t, "kernel rules (7): [concurrency] on, [rate_conn] on"));
	assert_non_null(strstr(t, "0.0.0.0/0                10 per /24 (default, line 5)"));
	assert_non_null(strstr(t, "5/1m per /24 (default, line 11)"));
	assert_non_null(strstr(t, "203.0.113.7              unlimited, allowlist (203.0.113.7, line 8)"));
	assert_non_null(strstr(t, "30/10s shared (2001:db8::/32, line 13)"));
	assert_non_null(strstr(t, "default counts   each IPv4 /24, each IPv6 /56"));
	assert_non_null(strstr(t, "ports            25,110,143,465,587,993,995"));
	free(t);
	t = print(1);
	assert_non_null(strstr(t, "{\"file\":\"t.ini\",\"main\":{\"ports\":[25,110,143,465,587,993,995],"
				  "\"action\":\"drop\",\"ipv4_prefix\":24,\"ipv6_prefix\":56,"));
	assert_non_null(strstr(t, "{\"prefix\":\"203.0.113.7\",\"allow\":true,\"concurrency\":"
				  "{\"limit\":0,\"shared\":true,\"plen\":32,\"lookup\":\"203.0.113.7\",\"line\":8},"
				  "\"rate\":{\"limit\":5,\"period_s\":60,\"shared\":false,\"plen\":24,"
				  "\"lookup\":\"default\",\"line\":11}}"));
	assert_non_null(strstr(t, "\"bad\":{\"concurrency\":null,\"rate_conn\":null}"));
	assert_non_null(strstr(t, "\"proxy\":{\"present\":false,"));
	assert_int_equal(t[strlen(t) - 1], '\n');
	free(t);
}

static void test_print_json_escapes(void **state)
{
	static const char text[] = "[rate_conn]\nenabled=true\ndefault=1\n[proxy]\nlisten=127.0.0.1:2525\n"
				   "backend=127.0.0.1:25\n[penalty]\nmax_clients = block 1h\n";
	char *t;

	(void)state;
	cap_start();
	assert_int_equal(mx_policy_load_buf("we\"ird\\.ini", text, strlen(text), &pol), 0);
	cap_stop();
	compile_ok();
	t = print(1);
	assert_non_null(strstr(t, "{\"file\":\"we\\\"ird\\\\.ini\","));
	assert_non_null(strstr(t, "\"listen\":[\"127.0.0.1:2525\"],\"backend\":\"127.0.0.1:25\""));
	assert_non_null(strstr(t, "\"max_clients\":{\"verb\":\"block\",\"duration_s\":3600,\"limit\":0,\"line\":8}"));
	free(t);
	t = print(0);
	assert_non_null(strstr(t, "max_clients            block 1h  (line 8)"));
	assert_non_null(strstr(t, "backend          127.0.0.1:25"));
	free(t);
}

/* ---- files ---- */

static void test_load_file_errors(void **state)
{
	(void)state;
	memset(&pol, 0xff, sizeof(pol)); /* the load must zero it */
	cap_start();
	assert_int_equal(mx_policy_load("/nonexistent/limit.ini", &pol), -1);
	cap_stop();
	assert_logged("mxlimit: cannot read /nonexistent/limit.ini: No such file or directory\n");
	assert_true(pol_is_zero());
	cap_start();
	assert_int_equal(mx_policy_load("/dev/zero", &pol), -1);
	cap_stop();
	assert_logged("mxlimit: /dev/zero: larger than 1048576 bytes: not a policy file\n");
	cap_start();
	assert_int_equal(mx_policy_load("/", &pol), -1);
	cap_stop();
	assert_logged("mxlimit: cannot read /: Is a directory\n");
	assert_true(pol_is_zero());
}

/* ---- robustness ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* Files stitched from pieces of real syntax and random bytes: whatever
 * comes in, the load either succeeds and compiles and prints, or fails
 * with *out zeroed; never a crash, leak or overflow (run under SAN=1). */
static void test_random_files(void **state)
{
	static const char *const pieces[] = {
		"[concurrency]\n", "[rate_conn]\n", "[rate_rcpt_sender]\n", "[rate_rcpt_host]\n",
		"[penalty]\n", "[proxy]\n", "[redis]\n", "[outbound]\n", "[main]\n",
		"[concurrency_history]\n", "[rate_conn_history]\n", "[bogus]\n", "[\n",
		"enabled = true\n", "max = 3\n", "default = 5/1m\n", "127 = 0\n", "bad = 1/15m\n",
		"192.0.2.0/24 = 7\n", "2001:db8::/32 = 9/10s\n", "fe80:0:0:0 = 1\n",
		"user@example.com = 2\n", "example.com = 0\n", "recipients = penalize 1h limit=1\n",
		"errors = block 10m\n", "listen = 127.0.0.1:2525\n", "backend = 127.0.0.1:25\n",
		"ports = 25,587\n", "ipv4_prefix = 24\n", "action = reset\n", "a = b \\\n",
		"; comment\n", "# comment\n", "\r\n", "\n", " = \n", "x\n", "=\n", "1.2.3.4/33 = 1\n",
		"max = 99999999999\n", "default = 1/0\n",
	};
	char buf[2048];
	FILE *null = fopen("/dev/null", "w");
	int i, ok = 0;

	(void)state;
	assert_non_null(null);
	for (i = 0; i < 3000; i++) {
		size_t len = 0, n = 1 + next_rand() % 24;

		while (n-- && len < sizeof(buf) - 64) {
			if (next_rand() % 8 == 0) {
				buf[len++] = (char)(next_rand() & 0xff);
				continue;
			}
			const char *p = pieces[next_rand() % (sizeof(pieces) / sizeof(pieces[0]))];
			size_t l = strlen(p);

			memcpy(buf + len, p, l);
			len += l;
		}
		cap_start();
		if (mx_policy_load_buf("f.ini", buf, len, &pol) == 0) {
			ok++;
			if (mx_policy_compile(&pol, &comp) == 0) {
				mx_policy_print(&pol, &comp, i & 1, null);
				mx_compiled_free(&comp);
			}
			mx_policy_free(&pol);
		} else {
			assert_true(pol_is_zero());
		}
		cap_stop();
	}
	fclose(null);
	/* the mix is not all failures: the good paths ran too */
	assert_true(ok > 30);
}

/* ---- the wide level ---- */

static void test_wide_level(void **state)
{
	const struct mx_compiled_rule *r;

	(void)state;
	load_ok("ipv4_wide_prefix = 24\nipv6_wide_prefix = 48\n"
		"[concurrency]\nenabled = true\nmax = 3\nwide = 30\n198.51.100.0/24 = 10\n"
		"[rate_conn]\nenabled = true\ndefault = 5/1m\nwide = 100/1m\n");
	assert_int_equal(pol.ipv4_wide_prefix, 24);
	assert_int_equal(pol.concurrency_wide.limit, 30);
	assert_int_equal(pol.rate_conn_wide.period_ns, 60 * SEC);
	compile_ok();
	r = rule_for("::ffff:0:0/96");
	assert_int_equal(r->rule.wide_plen, 96 + 24);
	assert_int_equal(r->rule.wide_conc_limit, 30);
	assert_int_equal(r->rule.wide_rate_limit, 100);
	assert_int_equal(r->rule.wide_rate_emission_ns, 60 * SEC / 100);
	r = rule_for("::/0");
	assert_int_equal(r->rule.wide_plen, 48);
	/* an explicit entry is one shared counter: no wide level for its
	 * concurrency; its rate is still `default` and keeps the wide rate */
	r = rule_for("198.51.100.0/24");
	assert_int_equal(r->rule.wide_conc_limit, 0);
	assert_int_equal(r->rule.wide_rate_limit, 100);
	assert_int_equal(comp.config.v4_wide_plen, 96 + 24);
}

static void test_wide_errors(void **state)
{
	(void)state;
	load_err("ipv4_wide_prefix = 32\n[concurrency]\nenabled = true\nmax = 3\nwide = 9\n",
		 "mxlimit: t.ini:1: ipv4_wide_prefix (32) must be shorter than ipv4_prefix (32)");
	load_err("[concurrency]\nenabled = true\nmax = 3\nwide = 9\n",
		 "mxlimit: t.ini:4: wide needs ipv4_wide_prefix and/or ipv6_wide_prefix in [main]");
	load_err("ipv6_wide_prefix = 48\n[rate_conn]\nenabled = true\nwide = lots\n",
		 "mxlimit: t.ini:4: bad limit \"lots\"");
	load_err("ipv4_wide_prefix = 24\n[errors]\nenabled = true\nwide = 3\n",
		 "mxlimit: t.ini:4: unknown key \"wide\"");
}


/* A haraka user's file that leans on the plugin's shipped values: without
 * haraka_defaults they are named, with it they are filled in, and never
 * over what the file says or in a section left off. */
static void test_haraka_defaults(void **state)
{
	static const char *file = "[errors]\nenabled = true\n"
				  "[rate_rcpt_host]\nenabled = true\ndefault = 20/1m\n"
				  "[rate_rcpt_null]\nenabled = true\n"
				  "[concurrency]\nmax = 7\n";
	char buf[512];
	const struct mx_lookup *lk;

	(void)state;
	load_ok(file);
	assert_int_equal(pol.errors.n_lookups, 0);
	assert_int_equal(pol.tarpit_delay_ns, 0);
	assert_logged("t.ini:1: [errors] has no \"max\": haraka-plugin-limit would apply its shipped max = 10");
	assert_logged("t.ini:3: [rate_rcpt_host] has no \"127\": haraka-plugin-limit would apply its shipped 127 = 0");
	assert_logged("t.ini:6: [rate_rcpt_null] has no \"default\": haraka-plugin-limit would apply its shipped default = 1");
	assert_logged("t.ini: [main] has no tarpit_delay: haraka-plugin-limit would apply its shipped tarpit_delay = 3");
	assert_not_logged("[rate_rcpt_host] has no \"default\"");
	assert_not_logged("[concurrency] has no"); /* not enabled */
	mx_policy_free(&pol);

	snprintf(buf, sizeof(buf), "[main]\nharaka_defaults = yes\n%s", file);
	load_ok(buf);
	assert_true(pol.haraka_defaults);
	assert_int_equal(pol.tarpit_delay_ns, 3 * SEC);
	assert_int_equal(pol.errors.n_lookups, 1);
	assert_int_equal(pol.errors.lookups[0].limit, 10);
	assert_int_equal(pol.errors.lookups[0].line, 0);
	/* the file's default wins; 127 = 0 is added beside it */
	assert_int_equal(pol.rate_rcpt_host.n_lookups, 2);
	assert_int_equal(pol.rate_rcpt_host.lookups[0].limit, 20);
	lk = mx_section_match_addr(&pol.rate_rcpt_host, &(mx_prefix){ .addr = { 0, 0, htonl(0xffff), htonl(0x7f000001) }, .plen = 128 });
	assert_non_null(lk);
	assert_int_equal(lk->limit, 0);
	assert_int_equal(pol.rate_rcpt_null.n_lookups, 1);
	assert_int_equal(pol.rate_rcpt_null.lookups[0].limit, 1);
	assert_int_equal(pol.rate_rcpt_null.lookups[0].period_ns, 60 * SEC);
	assert_int_equal(pol.concurrency.n_lookups, 1); /* off: untouched */
	assert_int_equal(pol.concurrency.lookups[0].limit, 7);
	assert_logged("t.ini:3: [errors] max = 10 (haraka_defaults)");
	mx_policy_free(&pol);

	/* a tarpit_delay of the file's own is kept, 0 included */
	load_ok("[main]\nharaka_defaults = yes\ntarpit_delay = 0\n[errors]\nenabled = true\nmax = 2\n");
	assert_int_equal(pol.tarpit_delay_ns, 0);
	assert_int_equal(pol.errors.lookups[0].limit, 2);
	mx_policy_free(&pol);
	load_err("[main]\nharaka_defaults = maybe\n", "t.ini:2: haraka_defaults:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, teardown)
		T(test_durations),
		T(test_format_duration),
		T(test_defaults),
		T(test_main_keys),
		T(test_main_errors),
		T(test_gateway_keys),
		T(test_haraka_default),
		T(test_haraka_default_enabled),
		T(test_haraka_defaults),
		T(test_sample_config),
		T(test_lookup_forms),
		T(test_name_lookups),
		T(test_lookup_errors),
		T(test_limit_values),
		T(test_enabled),
		T(test_duplicates),
		T(test_section_errors),
		T(test_binary_input),
		T(test_history),
		T(test_penalty),
		T(test_violation_names),
		T(test_redis_outbound_recipients),
		T(test_proxy_section),
		T(test_match_name),
		T(test_match_addr_host),
		T(test_compile_nested),
		T(test_compile_lpm_equivalence),
		T(test_compile_v6_covers_v4),
		T(test_compile_disabled),
		T(test_compile_config),
		T(test_compile_max_rules),
		T(test_print),
		T(test_print_json_escapes),
		T(test_load_file_errors),
		T(test_random_files),
		T(test_wide_level),
		T(test_wide_errors),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
