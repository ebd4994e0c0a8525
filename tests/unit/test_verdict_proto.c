/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_verdict_proto.c - the verdict protocol's request lines: every verb
 * and option, every refusal with its reason, and a seeded random walk of
 * mutated lines that must never crash, never half-fill, and re-parse to
 * the same request when accepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verdict_proto.h"

static struct mx_vreq parse_ok(const char *line)
{
	struct mx_vreq r;
	const char *why = "unset";

	if (mx_vreq_parse(line, strlen(line), &r, &why) != 0)
		fail_msg("\"%s\" refused: %s", line, why ? why : "(null)");
	assert_null(why);
	return r;
}

static void parse_bad(const char *line, const char *want)
{
	static const struct mx_vreq zero;
	struct mx_vreq r;
	const char *why = NULL;

	memset(&r, 0xaa, sizeof(r));
	if (mx_vreq_parse(line, strlen(line), &r, &why) == 0)
		fail_msg("\"%s\" accepted but should not be", line);
	assert_non_null(why);
	if (strcmp(why, want) != 0)
		fail_msg("\"%s\": why \"%s\", want \"%s\"", line, why, want);
	assert_memory_equal(&r, &zero, sizeof(r)); /* never half-filled */
}

static void assert_prefix(const struct mx_vreq *r, const char *want)
{
	char buf[MX_PREFIX_STRLEN];

	assert_string_equal(mx_prefix_format(&r->prefix, buf, sizeof(buf)), want);
}

static void test_penalize(void **state)
{
	struct mx_vreq r;

	(void)state;
	r = parse_ok("PENALIZE 192.0.2.7 600");
	assert_int_equal(r.op, MX_VREQ_PENALIZE);
	assert_prefix(&r, "192.0.2.7");
	assert_int_equal(r.prefix.plen, 128);
	assert_int_equal(r.seconds, 600);
	assert_int_equal(r.limit, 0);
	assert_string_equal(r.reason, "");

	r = parse_ok("PENALIZE 192.0.2.7 600 limit=1 reason=errors");
	assert_int_equal(r.limit, 1);
	assert_string_equal(r.reason, "errors");

	/* options in either order, prefixes, IPv6 */
	r = parse_ok("PENALIZE 2001:db8::/48 3600 reason=rate_rcpt_host limit=2");
	assert_prefix(&r, "2001:db8::/48");
	assert_int_equal(r.limit, 2);
	assert_string_equal(r.reason, "rate_rcpt_host");
	r = parse_ok("PENALIZE 198.51.100.0/24 1");
	assert_prefix(&r, "198.51.100.0/24");
	assert_int_equal(r.prefix.plen, 96 + 24);
}

static void test_block_unblock_query(void **state)
{
	struct mx_vreq r;

	(void)state;
	r = parse_ok("BLOCK 203.0.113.0/24 86400 reason=manual");
	assert_int_equal(r.op, MX_VREQ_BLOCK);
	assert_prefix(&r, "203.0.113.0/24");
	assert_int_equal(r.seconds, 86400);
	assert_string_equal(r.reason, "manual");

	r = parse_ok("UNBLOCK 203.0.113.0/24");
	assert_int_equal(r.op, MX_VREQ_UNBLOCK);
	assert_prefix(&r, "203.0.113.0/24");
	assert_int_equal(r.seconds, 0);

	r = parse_ok("QUERY 2001:db8::7");
	assert_int_equal(r.op, MX_VREQ_QUERY);
	assert_int_equal(r.prefix.plen, 128);

	/* UNBLOCK takes any width: it lifts what the command line set */
	r = parse_ok("UNBLOCK 0.0.0.0/0");
	assert_int_equal(r.prefix.plen, 96);
}

static void test_lexical(void **state)
{
	struct mx_vreq r;
	const char *why;

	(void)state;
	/* case-insensitive verbs, tabs and runs of blanks, CRLF */
	r = parse_ok("penalize\t192.0.2.7   60  ");
	assert_int_equal(r.op, MX_VREQ_PENALIZE);
	assert_int_equal(r.seconds, 60);
	r = parse_ok("Block 192.0.2.7 60\r");
	assert_int_equal(r.op, MX_VREQ_BLOCK);
	r = parse_ok("  QUERY 192.0.2.7");
	assert_int_equal(r.op, MX_VREQ_QUERY);

	/* the length is the caller's: bytes after it are not read */
	assert_int_equal(mx_vreq_parse("QUERY 192.0.2.7XYZ", 15, &r, &why), 0);
	assert_prefix(&r, "192.0.2.7");

	parse_bad("", "empty line");
	parse_bad("  \t ", "empty line");
	parse_bad("\r", "empty line");
	parse_bad("PENALIZE 192.0.2.7 60\x01", "bad character");
	parse_bad("PENALIZE 192.0.2.7 60 reason=caf\xc3\xa9", "bad character");
	parse_bad("QUERY 192.0.2.7\x7f", "bad character");
	/* an embedded NUL is a bad character, not the end of the line */
	assert_int_equal(mx_vreq_parse("QUERY 192.0.2.7\0 x", 18, &r, &why), -1);
	assert_string_equal(why, "bad character");
	/* a bare CR inside the line is not a line end */
	parse_bad("QUERY 192.0.2.7\r\r", "bad character");
}

static void test_length(void **state)
{
	char line[MX_VERDICT_LINE_MAX + 2];
	struct mx_vreq r;
	const char *why;
	size_t n;

	(void)state;
	/* exactly 512 bytes: parsed (blank padding is legal) */
	n = (size_t)snprintf(line, sizeof(line), "QUERY 192.0.2.7");
	memset(line + n, ' ', MX_VERDICT_LINE_MAX - n);
	line[MX_VERDICT_LINE_MAX] = '\0';
	assert_int_equal(mx_vreq_parse(line, MX_VERDICT_LINE_MAX, &r, &why), 0);
	/* ... plus CR: still 512 */
	line[MX_VERDICT_LINE_MAX] = '\r';
	assert_int_equal(mx_vreq_parse(line, MX_VERDICT_LINE_MAX + 1, &r, &why), 0);
	/* 513: too long */
	line[MX_VERDICT_LINE_MAX] = ' ';
	assert_int_equal(mx_vreq_parse(line, MX_VERDICT_LINE_MAX + 1, &r, &why), -1);
	assert_string_equal(why, "line too long");
	/* a huge length is refused before anything is copied */
	assert_int_equal(mx_vreq_parse(line, SIZE_MAX, &r, &why), -1);
	assert_string_equal(why, "line too long");
}

static void test_fields(void **state)
{
	(void)state;
	parse_bad("HELLO 192.0.2.7", "unknown verb");
	parse_bad("PENALIZ 192.0.2.7 60", "unknown verb");
	parse_bad("PENALIZE", "missing prefix");
	parse_bad("QUERY", "missing address");
	parse_bad("PENALIZE 192.0.2.7", "missing seconds");
	parse_bad("BLOCK 192.0.2.7", "missing seconds");
	parse_bad("UNBLOCK 192.0.2.7 60", "too many fields");
	parse_bad("QUERY 192.0.2.7 x", "too many fields");
	parse_bad("PENALIZE 192.0.2.7 60 limit=1 reason=x extra", "too many fields");
	parse_bad("PENALIZE 192.0.2.7 60 a b c d e f g h", "too many fields");
	parse_bad("PENALIZE 192.0.2.7 60 foo=1", "unknown option");
	parse_bad("PENALIZE 192.0.2.7 60 limit", "unknown option");
	parse_bad("PENALIZE 192.0.2.7 60 LIMIT=1", "unknown option");
}

static void test_prefixes(void **state)
{
	(void)state;
	parse_bad("PENALIZE 192.0.2.300 60", "bad prefix");
	parse_bad("PENALIZE 192.0.2.7/24 60", "bad prefix"); /* host bits */
	parse_bad("PENALIZE 192.0.2.0/33 60", "bad prefix");
	parse_bad("BLOCK 192.0.2 60", "bad prefix");         /* no haraka partials */
	parse_bad("BLOCK example.com 60", "bad prefix");
	parse_bad("BLOCK 2001:db8::1/129 60", "bad prefix");
	parse_bad("UNBLOCK 192.0.2.0/", "bad prefix");
	parse_bad("QUERY 192.0.2.0/24", "bad address");
	parse_bad("QUERY ::g", "bad address");
	/* not the whole Internet */
	parse_bad("BLOCK 0.0.0.0/0 60", "prefix too wide (IPv4 /8, IPv6 /16 at most)");
	parse_bad("BLOCK 10.0.0.0/7 60", "prefix too wide (IPv4 /8, IPv6 /16 at most)");
	parse_bad("PENALIZE ::/0 60", "prefix too wide (IPv4 /8, IPv6 /16 at most)");
	parse_bad("PENALIZE 2000::/15 60", "prefix too wide (IPv4 /8, IPv6 /16 at most)");
	parse_ok("BLOCK 10.0.0.0/8 60");
	parse_ok("BLOCK 2001::/16 60");
}

static void test_numbers(void **state)
{
	struct mx_vreq r;

	(void)state;
	parse_bad("BLOCK 192.0.2.7 0", "bad seconds (1 to 315360000)");
	parse_bad("BLOCK 192.0.2.7 -5", "bad seconds (1 to 315360000)");
	parse_bad("BLOCK 192.0.2.7 +5", "bad seconds (1 to 315360000)");
	parse_bad("BLOCK 192.0.2.7 10m", "bad seconds (1 to 315360000)");
	parse_bad("BLOCK 192.0.2.7 0x10", "bad seconds (1 to 315360000)");
	parse_bad("BLOCK 192.0.2.7 315360001", "bad seconds (1 to 315360000)");
	parse_bad("BLOCK 192.0.2.7 18446744073709551617", "bad seconds (1 to 315360000)");
	r = parse_ok("BLOCK 192.0.2.7 315360000");
	assert_int_equal(r.seconds, MX_VERDICT_SECONDS_MAX);
	r = parse_ok("BLOCK 192.0.2.7 007");
	assert_int_equal(r.seconds, 7);

	parse_bad("PENALIZE 192.0.2.7 60 limit=0", "bad limit (1 to 1000000)");
	parse_bad("PENALIZE 192.0.2.7 60 limit=", "bad limit (1 to 1000000)");
	parse_bad("PENALIZE 192.0.2.7 60 limit=1000001", "bad limit (1 to 1000000)");
	parse_bad("PENALIZE 192.0.2.7 60 limit=4294967295", "bad limit (1 to 1000000)");
	parse_bad("PENALIZE 192.0.2.7 60 limit=1x", "bad limit (1 to 1000000)");
	r = parse_ok("PENALIZE 192.0.2.7 60 limit=1000000");
	assert_int_equal(r.limit, MX_VERDICT_LIMIT_MAX);
	parse_bad("PENALIZE 192.0.2.7 60 limit=1 limit=2", "duplicate limit=");
	parse_bad("BLOCK 192.0.2.7 60 limit=1", "limit= is only for PENALIZE");
}

static void test_reasons(void **state)
{
	struct mx_vreq r;

	(void)state;
	r = parse_ok("BLOCK 192.0.2.7 60 reason=A-z_0.9");
	assert_string_equal(r.reason, "A-z_0.9");
	r = parse_ok("BLOCK 192.0.2.7 60 reason=12345678901234567890123"); /* 23 */
	assert_string_equal(r.reason, "12345678901234567890123");
	r = parse_ok("BLOCK 192.0.2.7 60 reason=unrecognized_commands"); /* longest [penalty] key */
	parse_bad("BLOCK 192.0.2.7 60 reason=123456789012345678901234",
		  "bad reason (1 to 23 of A-Z a-z 0-9 _ . -)");
	parse_bad("BLOCK 192.0.2.7 60 reason=", "bad reason (1 to 23 of A-Z a-z 0-9 _ . -)");
	parse_bad("BLOCK 192.0.2.7 60 reason=a/b", "bad reason (1 to 23 of A-Z a-z 0-9 _ . -)");
	parse_bad("BLOCK 192.0.2.7 60 reason=a=b", "bad reason (1 to 23 of A-Z a-z 0-9 _ . -)");
	parse_bad("BLOCK 192.0.2.7 60 reason=a reason=b", "duplicate reason=");
	parse_bad("UNBLOCK 192.0.2.7 reason=x", "too many fields");
}

static void test_op_names(void **state)
{
	(void)state;
	assert_string_equal(mx_vreq_op_name(MX_VREQ_PENALIZE), "PENALIZE");
	assert_string_equal(mx_vreq_op_name(MX_VREQ_BLOCK), "BLOCK");
	assert_string_equal(mx_vreq_op_name(MX_VREQ_UNBLOCK), "UNBLOCK");
	assert_string_equal(mx_vreq_op_name(MX_VREQ_QUERY), "QUERY");
}

/* ---- seeded random walk ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

/* The canonical text of an accepted request. */
static const char *const seeds[] = {
	"PENALIZE 192.0.2.7 600 limit=1 reason=errors",
	"BLOCK 198.51.100.0/24 86400 reason=manual",
	"UNBLOCK 2001:db8::/32",
	"QUERY ::ffff:192.0.2.7",
	"penalize fd00::1 1",
};

static const char alphabet[] = "0123456789abcdefABCDEF:./= \t\r\n\x01\x7f\xff-_lrx";

static void mutate(char *buf, size_t *len, size_t cap)
{
	int k, edits = 1 + (int)(rnd() % 6);

	for (k = 0; k < edits; k++) {
		size_t pos = *len ? rnd() % *len : 0;
		char c = alphabet[rnd() % (sizeof(alphabet) - 1)];

		switch (rnd() % 4) {
		case 0: /* replace */
			if (*len)
				buf[pos] = c;
			break;
		case 1: /* insert */
			if (*len + 1 < cap) {
				memmove(buf + pos + 1, buf + pos, *len - pos);
				buf[pos] = c;
				(*len)++;
			}
			break;
		case 2: /* delete */
			if (*len) {
				memmove(buf + pos, buf + pos + 1, *len - pos - 1);
				(*len)--;
			}
			break;
		default: /* grow past the limit now and then */
			while (*len + 1 < cap && rnd() % 8)
				buf[(*len)++] = c;
		}
	}
}

static void test_random_walk(void **state)
{
	static const struct mx_vreq zero;
	char buf[MX_VERDICT_LINE_MAX * 2], canon[MX_VERDICT_LINE_MAX];
	int i, accepted = 0;

	(void)state;
	for (i = 0; i < 200000; i++) {
		const char *s = seeds[rnd() % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(s);
		struct mx_vreq r, again;
		const char *why;
		int rc;

		memcpy(buf, s, len);
		mutate(buf, &len, sizeof(buf));
		rc = mx_vreq_parse(buf, len, &r, &why);
		if (rc) {
			assert_int_equal(rc, -1);
			assert_non_null(why);
			assert_memory_equal(&r, &zero, sizeof(r));
			continue;
		}
		accepted++;
		assert_null(why);
		assert_true(r.prefix.plen <= 128);
		if (r.op == MX_VREQ_PENALIZE || r.op == MX_VREQ_BLOCK)
			assert_true(r.seconds >= 1 && r.seconds <= MX_VERDICT_SECONDS_MAX);
		assert_true(r.limit <= MX_VERDICT_LIMIT_MAX);
		assert_true(strlen(r.reason) < MX_REASON_LEN);
		/* what was accepted says the same thing in canonical form */
		/* the one formatter both sides use gives it back */
		assert_true(mx_vreq_format(&r, canon, sizeof(canon)) > 0);
		if (mx_vreq_parse(canon, strlen(canon), &again, &why))
			fail_msg("canonical \"%s\" refused: %s", canon, why);
		assert_memory_equal(&r, &again, sizeof(r));
	}
	assert_true(accepted > 100); /* the walk reached valid lines too */
}

/* The formatter: the exact lines the proxy sends, and what it refuses. */
static void test_format(void **state)
{
	struct mx_vreq r = { .op = MX_VREQ_PENALIZE, .seconds = 600, .limit = 1 };
	const char *why;
	char out[MX_VERDICT_LINE_MAX + 1];

	(void)state;
	assert_int_equal(mx_prefix_parse("192.0.2.7", false, &r.prefix, &why), 0);
	strcpy(r.reason, "errors");
	assert_int_equal(mx_vreq_format(&r, out, sizeof(out)), 44);
	assert_string_equal(out, "PENALIZE 192.0.2.7 600 limit=1 reason=errors");
	r.op = MX_VREQ_BLOCK;
	assert_int_equal(mx_vreq_format(&r, out, sizeof(out)), -1); /* BLOCK takes no limit */
	r.limit = 0;
	assert_true(mx_vreq_format(&r, out, sizeof(out)) > 0);
	assert_string_equal(out, "BLOCK 192.0.2.7 600 reason=errors");
	r.seconds = 0;
	assert_int_equal(mx_vreq_format(&r, out, sizeof(out)), -1);
	r.seconds = 1;
	strcpy(r.reason, "two words");
	assert_int_equal(mx_vreq_format(&r, out, sizeof(out)), -1);
	r.reason[0] = '\0';
	assert_int_equal(mx_vreq_format(&r, out, 8), -1); /* does not fit */
	r.op = MX_VREQ_QUERY;
	assert_true(mx_vreq_format(&r, out, sizeof(out)) > 0);
	assert_string_equal(out, "QUERY 192.0.2.7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_penalize),
		cmocka_unit_test(test_block_unblock_query),
		cmocka_unit_test(test_lexical),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_op_names),
		cmocka_unit_test(test_random_walk),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
