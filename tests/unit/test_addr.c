/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_addr.c - every lookup form of limit.ini, mapped into the shared
 * 128-bit space, and the prefix helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "addr.h"

/* Parse, and check the canonical text and shared-space length. */
static void ok(const char *in, bool haraka, const char *want, unsigned plen)
{
	char buf[MX_PREFIX_STRLEN];
	const char *why = "unset";
	mx_prefix p;

	if (mx_prefix_parse(in, haraka, &p, &why) != 0)
		fail_msg("\"%s\" did not parse: %s", in, why);
	assert_null(why);
	assert_string_equal(mx_prefix_format(&p, buf, sizeof(buf)), want);
	assert_int_equal(p.plen, plen);
}

static void bad(const char *in, bool haraka, const char *want_why)
{
	const char *why = NULL;
	mx_prefix p;

	memset(&p, 0xaa, sizeof(p));
	if (mx_prefix_parse(in, haraka, &p, &why) == 0)
		fail_msg("\"%s\" parsed but should not", in);
	assert_non_null(why);
	if (strcmp(why, want_why) != 0)
		fail_msg("\"%s\": why \"%s\", want \"%s\"", in, why, want_why);
	assert_int_equal(p.plen, 0); /* never half-filled */
}

static void test_ipv4_full(void **state)
{
	mx_prefix p;
	const char *why;

	(void)state;
	ok("192.0.2.7", false, "192.0.2.7", 128);
	ok("0.0.0.0", true, "0.0.0.0", 128);
	ok("255.255.255.255", true, "255.255.255.255", 128);
	assert_int_equal(mx_prefix_parse("192.0.2.7", false, &p, &why), 0);
	/* ::ffff:192.0.2.7 in network order */
	assert_int_equal(p.addr[0], 0);
	assert_int_equal(p.addr[1], 0);
	assert_int_equal(p.addr[2], htonl(0xffff));
	assert_int_equal(p.addr[3], htonl(0xc0000207));
	assert_true(mx_prefix_is_v4(&p));
	assert_int_equal(mx_prefix_native_len(&p), 32);
}

static void test_ipv4_cidr(void **state)
{
	(void)state;
	ok("198.51.100.0/22", false, "198.51.100.0/22", 118);
	ok("10.0.0.0/8", false, "10.0.0.0/8", 104);
	ok("0.0.0.0/0", false, "0.0.0.0/0", 96);
	ok("192.0.2.7/32", false, "192.0.2.7", 128);
	ok("192.0.2.0/24", true, "192.0.2.0/24", 120);
	bad("1.2.3.4/33", false, "prefix length out of range");
	bad("1.2.3.4/", false, "prefix length out of range");
	bad("1.2.3.4/-1", false, "prefix length out of range");
	bad("1.2.3.4/+8", false, "prefix length out of range");
	bad("1.2.3.4/08", false, "prefix length out of range");
	bad("1.2.3.4/24x", false, "prefix length out of range");
	bad("1.2.3.4/2 4", false, "prefix length out of range");
	bad("1.2.3.4/24", false, "host bits set after the prefix length");
	bad("198.51.101.0/22", false, "host bits set after the prefix length");
	bad("0.0.0.1/0", false, "host bits set after the prefix length");
	bad("1.2.3/24", true, "not an IPv4 or IPv6 address");
	bad("1.2.3.256/24", false, "not an IPv4 or IPv6 address");
	bad("/24", false, "not an IPv4 or IPv6 address");
}

static void test_ipv6(void **state)
{
	mx_prefix p;
	const char *why;

	(void)state;
	ok("2001:db8::1", false, "2001:db8::1", 128);
	ok("2001:db8::/32", false, "2001:db8::/32", 32);
	ok("::/0", false, "::/0", 0);
	ok("2001:DB8::/32", false, "2001:db8::/32", 32);
	ok("fe80::/10", false, "fe80::/10", 10);
	ok("2001:db8::1/128", false, "2001:db8::1", 128);
	bad("2001:db8::/129", false, "prefix length out of range");
	bad("2001:db8::1/64", false, "host bits set after the prefix length");
	bad("fe80::/8", false, "host bits set after the prefix length");
	bad("2001:db8:::1", false, "not an address or CIDR prefix");
	bad("fe80::1%eth0", false, "not an address or CIDR prefix");
	assert_int_equal(mx_prefix_parse("2001:db8::/32", false, &p, &why), 0);
	assert_false(mx_prefix_is_v4(&p));
	assert_int_equal(p.addr[0], htonl(0x20010db8));
	assert_int_equal(mx_prefix_native_len(&p), 32);
}

/* IPv4 written in IPv6 notation lands on the same prefix as the IPv4 form,
 * and its length counts in 128-bit space. */
static void test_mapped(void **state)
{
	mx_prefix a, b;
	const char *why;

	(void)state;
	ok("::ffff:192.0.2.7", false, "192.0.2.7", 128);
	ok("::ffff:192.0.2.0/120", false, "192.0.2.0/24", 120);
	ok("::ffff:0:0/96", false, "0.0.0.0/0", 96);
	bad("::ffff:192.0.2.0/24", false, "host bits set after the prefix length");
	assert_int_equal(mx_prefix_parse("::ffff:198.51.100.0/118", false, &a, &why), 0);
	assert_int_equal(mx_prefix_parse("198.51.100.0/22", false, &b, &why), 0);
	assert_true(mx_prefix_equal(&a, &b));
}

static void test_haraka_v4_partial(void **state)
{
	(void)state;
	ok("192.0.2", true, "192.0.2.0/24", 120);
	ok("192.0", true, "192.0.0.0/16", 112);
	ok("127", true, "127.0.0.0/8", 104);
	ok("0", true, "0.0.0.0/8", 104);
	bad("192.0.2", false, "not an address or CIDR prefix");
	bad("127", false, "not an address or CIDR prefix");
	bad("192.0.", true, "not an address, CIDR prefix or haraka prefix");
	bad(".192", true, "not an address, CIDR prefix or haraka prefix");
	bad("192..2", true, "not an address, CIDR prefix or haraka prefix");
	bad("192.0.256", true, "not an address, CIDR prefix or haraka prefix");
	bad("192.01.2", true, "not an address, CIDR prefix or haraka prefix");
	bad("1.2.3.4.5", true, "not an address, CIDR prefix or haraka prefix");
	bad("-1", true, "not an address, CIDR prefix or haraka prefix");
}

static void test_haraka_v6_partial(void **state)
{
	(void)state;
	ok("fe80:0:0:0", true, "fe80::/64", 64);
	ok("2001:db8", true, "2001:db8::/32", 32);
	ok("2001", true, "2001::/16", 16); /* over 255: not an IPv4 octet */
	ok("2001:0db8:00ab", true, "2001:db8:ab::/48", 48);
	ok("1:2:3:4:5:6:7", true, "1:2:3:4:5:6:7:0/112", 112);
	bad("fe80:0:0:0", false, "not an address or CIDR prefix");
	ok("fe80::", true, "fe80::", 128); /* a full address, not a partial */
}

static void test_haraka_v6_partial_bad(void **state)
{
	(void)state;
	bad("fe80:", true, "not an address, CIDR prefix or haraka prefix");
	bad(":fe80", true, "not an address, CIDR prefix or haraka prefix");
	bad("fe80:0:", true, "not an address, CIDR prefix or haraka prefix");
	bad("12345:0", true, "not an address, CIDR prefix or haraka prefix");
	bad("fe8g:0", true, "not an address, CIDR prefix or haraka prefix");
	bad("1:2:3:4:5:6:7:8:9", true, "not an address, CIDR prefix or haraka prefix");
}

static void test_junk(void **state)
{
	char longs[200];

	(void)state;
	bad("", true, "empty");
	bad("example.com", true, "not an address, CIDR prefix or haraka prefix");
	bad("default", true, "not an address, CIDR prefix or haraka prefix");
	bad(" 1.2.3.4", true, "not an address, CIDR prefix or haraka prefix");
	bad("1.2.3.4 ", true, "not an address, CIDR prefix or haraka prefix");
	memset(longs, '1', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	bad(longs, true, "too long for an address");
}

static void test_addr_parse(void **state)
{
	mx_prefix p;

	(void)state;
	assert_int_equal(mx_addr_parse("203.0.113.7", &p), 0);
	assert_int_equal(p.plen, 128);
	assert_true(mx_prefix_is_v4(&p));
	assert_int_equal(mx_addr_parse("2001:db8::7", &p), 0);
	assert_int_equal(p.plen, 128);
	assert_int_equal(mx_addr_parse("203.0.113.0/24", &p), -1);
	assert_int_equal(mx_addr_parse("203.0.113", &p), -1);
	assert_int_equal(mx_addr_parse("", &p), -1);
	assert_int_equal(p.plen, 0);
}

static mx_prefix pfx(const char *s)
{
	const char *why;
	mx_prefix p;

	assert_int_equal(mx_prefix_parse(s, true, &p, &why), 0);
	return p;
}

static void test_contains(void **state)
{
	mx_prefix a24 = pfx("192.0.2.0/24"), a16 = pfx("192.0"), h = pfx("192.0.2.7");
	mx_prefix v4all = pfx("::ffff:0:0/96"), all = pfx("::/0"), v6 = pfx("2001:db8::1");
	mx_prefix other = pfx("192.0.3.0/24");

	(void)state;
	assert_true(mx_prefix_contains(&a16, &a24));
	assert_true(mx_prefix_contains(&a24, &h));
	assert_true(mx_prefix_contains(&a24, &a24));
	assert_false(mx_prefix_contains(&a24, &a16));
	assert_false(mx_prefix_contains(&a24, &other));
	assert_true(mx_prefix_contains(&a16, &other));
	assert_true(mx_prefix_contains(&v4all, &h));
	assert_false(mx_prefix_contains(&v4all, &v6));
	assert_true(mx_prefix_contains(&all, &v6));
	assert_true(mx_prefix_contains(&all, &h));
	assert_true(mx_prefix_equal(&a24, &a24));
	assert_false(mx_prefix_equal(&a24, &other));
}

static void test_mask(void **state)
{
	mx_prefix p = pfx("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
	char buf[MX_PREFIX_STRLEN];
	static const struct {
		unsigned plen;
		const char *want;
	} cases[] = {
		{ 127, "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe/127" },
		{ 100, "2001:db8:ffff:ffff:ffff:ffff:f000:0/100" },
		{ 64, "2001:db8:ffff:ffff::/64" },
		{ 33, "2001:db8:8000::/33" },
		{ 32, "2001:db8::/32" },
		{ 1, "::/1" },
		{ 0, "::/0" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mx_prefix q = p;

		q.plen = cases[i].plen;
		mx_prefix_mask(&q);
		assert_string_equal(mx_prefix_format(&q, buf, sizeof(buf)), cases[i].want);
	}
	p = pfx("203.0.113.77");
	p.plen = MX_V4_PLEN_BASE + 26;
	mx_prefix_mask(&p);
	assert_string_equal(mx_prefix_format(&p, buf, sizeof(buf)), "203.0.113.64/26");
}

static void test_format_small_buffer(void **state)
{
	mx_prefix p = pfx("2001:db8::/32");
	char buf[6];

	(void)state;
	assert_string_equal(mx_prefix_format(&p, buf, sizeof(buf)), "2001:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_full),
		cmocka_unit_test(test_ipv4_cidr),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_mapped),
		cmocka_unit_test(test_haraka_v4_partial),
		cmocka_unit_test(test_haraka_v6_partial),
		cmocka_unit_test(test_haraka_v6_partial_bad),
		cmocka_unit_test(test_junk),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_format_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
