/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_ini.c - haraka's ini dialect: what the reader hands on, and every
 * syntax error with its file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"
#include "log_capture.h"

/* Items seen, one per line: "S section@line" or "K section|key|value@line"
 * (value "(null)" for a bare key). */
struct seen {
	char text[8192];
	size_t len;
	int fail_key_line; /* callback returns -1 for the key on this line */
};

static int collect(void *ctx, const struct mx_ini_item *it)
{
	struct seen *s = ctx;
	int n;

	if (it->kind == MX_INI_SECTION)
		n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "S %s@%d\n", it->section,
			     it->line);
	else
		n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "K %s|%s|%s@%d\n",
			     it->section, it->key, it->value ? it->value : "(null)", it->line);
	if (n > 0)
		s->len += (size_t)n;
	return it->kind == MX_INI_KEY && it->line == s->fail_key_line ? -1 : 0;
}

static struct seen seen;

static int parse_len(const char *buf, size_t len)
{
	int rc;

	memset(&seen, 0, sizeof(seen));
	cap_start();
	rc = mx_ini_parse("t.ini", buf, len, collect, &seen);
	cap_stop();
	return rc;
}

static int parse(const char *buf) { return parse_len(buf, strlen(buf)); }

#define assert_seen(want) assert_string_equal(seen.text, (want))

static void test_main_before_header(void **state)
{
	(void)state;
	assert_int_equal(parse("tarpit_delay=3\n\n[redis]\ndatabase = 4\n[main]\nx=1\n"), 0);
	assert_seen("K main|tarpit_delay|3@1\n"
		    "S redis@3\n"
		    "K redis|database|4@4\n"
		    "S main@5\n"
		    "K main|x|1@6\n");
	assert_int_equal(cap.errors, 0);
}

static void test_comments(void **state)
{
	(void)state;
	assert_int_equal(parse("; whole\n# whole\n   ; indented\n\t# tab\n"
			       "a = 1 ; after blank\n"
			       "b = 2\t# after tab\n"
			       "c = x;y#z\n"
			       "d = ;only comment\n"
			       "e=;kept\n"
			       "[s] ; header comment\n"
			       "f ; bare key with comment\n"),
			 0);
	assert_seen("K main|a|1@5\n"
		    "K main|b|2@6\n"
		    "K main|c|x;y#z@7\n"
		    "K main|d|@8\n"
		    "K main|e|;kept@9\n"
		    "S s@10\n"
		    "K s|f|(null)@11\n");
}

static void test_trim_and_key_chars(void **state)
{
	(void)state;
	assert_int_equal(parse("  2001:db8::/32\t=\t5/1m  \n"
			       "user@example.com=1\n"
			       "a.b-c_d+e[]=x y z\n"
			       "empty =\n"
			       "bare\n"),
			 0);
	assert_seen("K main|2001:db8::/32|5/1m@1\n"
		    "K main|user@example.com|1@2\n"
		    "K main|a.b-c_d+e[]|x y z@3\n"
		    "K main|empty|@4\n"
		    "K main|bare|(null)@5\n");
}

static void test_line_ends(void **state)
{
	(void)state;
	assert_int_equal(parse("a=1\r\nb=2\rc=3\n\n\r\nd=4"), 0);
	assert_seen("K main|a|1@1\nK main|b|2@2\nK main|c|3@3\nK main|d|4@6\n");
}

static void test_bom_and_empty(void **state)
{
	(void)state;
	assert_int_equal(parse("\xef\xbb\xbf[s]\na=1\n"), 0);
	assert_seen("S s@1\nK s|a|1@2\n");
	assert_int_equal(parse(""), 0);
	assert_seen("");
	assert_int_equal(parse("\n\n   \n"), 0);
	assert_seen("");
}

static void test_continuation(void **state)
{
	(void)state;
	assert_int_equal(parse("a = one \\\n  two\\   \n three\nb=4\n"), 0);
	assert_seen("K main|a|one   two three@1\nK main|b|4@4\n");
	/* a comment line inside is skipped, as haraka does */
	assert_int_equal(parse("a = x\\\n; c\ny\n"), 0);
	assert_seen("K main|a|xy@1\n");
}

static void test_utf8_ok(void **state)
{
	(void)state;
	assert_int_equal(parse("; Grüße, 日本 🙂\na = é\n"), 0);
	assert_seen("K main|a|é@2\n");
}

static void test_line_too_long(void **state)
{
	size_t n = MX_INI_LINE_MAX + 1;
	char *buf = malloc(n + 32);

	(void)state;
	memset(buf, 'a', n);
	memcpy(buf + n, "\nb=1\n", 6);
	assert_int_equal(parse(buf), -1);
	assert_logged("mxlimit: t.ini:1: line too long (over 4096 bytes)");
	assert_seen("K main|b|1@2\n"); /* reading went on */
	/* exactly the limit is fine */
	memset(buf, ' ', MX_INI_LINE_MAX);
	buf[0] = 'k';
	buf[1] = '=';
	buf[2] = 'v';
	buf[MX_INI_LINE_MAX] = '\0';
	assert_int_equal(parse(buf), 0);
	assert_seen("K main|k|v@1\n");
	free(buf);
}

static void test_nul_and_control(void **state)
{
	static const char nul[] = "a=1\nb=x\0y\nc=3\n";

	(void)state;
	assert_int_equal(parse_len(nul, sizeof(nul) - 1), -1);
	assert_logged("mxlimit: t.ini:2: NUL byte at column 4");
	assert_seen("K main|a|1@1\nK main|c|3@3\n");
	assert_int_equal(parse("a=\x1b[31m\n"), -1);
	assert_logged("mxlimit: t.ini:1: control character at column 3");
	assert_int_equal(parse("a=\x7f\n"), -1);
	assert_logged("t.ini:1: control character");
	assert_int_equal(parse("; comment with \x01 too\n"), -1);
	assert_logged("t.ini:1: control character at column 16");
}

static void test_bad_utf8(void **state)
{
	static const char *bad[] = {
		"a=\xff\n",         /* never valid */
		"a=\xc3\n",         /* truncated */
		"a=\xc0\xaf\n",     /* overlong '/' */
		"a=\xe0\x80\xaf\n", /* overlong */
		"a=\xed\xa0\x80\n", /* surrogate */
		"a=\xf4\x90\x80\x80\n", /* above U+10FFFF */
		"a=\xe2\x82\n",     /* truncated at end of line */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i]), -1);
		assert_logged("mxlimit: t.ini:1: invalid UTF-8 at column 3");
		assert_seen("");
	}
}

static void test_bad_headers(void **state)
{
	(void)state;
	assert_int_equal(parse("[main\na=1\n[ok]\nb=2\n"), -1);
	assert_logged("mxlimit: t.ini:1: bad section header \"[main\": missing ']'");
	/* keys under a bad header belong nowhere: not to the previous section */
	assert_seen("S ok@3\nK ok|b|2@4\n");
	assert_int_equal(parse("[a] b\n"), -1);
	assert_logged("t.ini:1: unexpected text after section header: \"b\"");
	assert_int_equal(parse("[a b]\n"), -1);
	assert_logged("t.ini:1: bad section name \"a b\"");
	assert_int_equal(parse("[]\n"), -1);
	assert_logged("t.ini:1: bad section name \"\"");
	assert_int_equal(parse("[ spaced ]\n"), 0);
	assert_seen("S spaced@1\n");
}

static void test_bad_params(void **state)
{
	(void)state;
	assert_int_equal(parse("a b = 1\n= 2\nk!=3\nok=4\n"), -1);
	assert_logged("mxlimit: t.ini:1: expected \"key = value\", got \"a b = 1\"");
	assert_logged("mxlimit: t.ini:2: expected \"key = value\", got \"= 2\"");
	assert_logged("mxlimit: t.ini:3: expected \"key = value\", got \"k!=3\"");
	assert_int_equal(cap.errors, 3);
	assert_seen("K main|ok|4@4\n");
}

static void test_bad_continuations(void **state)
{
	(void)state;
	assert_int_equal(parse("a = x \\\n[s]\nb=1\n"), -1);
	assert_logged("mxlimit: t.ini:1: continued line runs into a section header");
	assert_seen("S s@2\nK s|b|1@3\n");
	assert_int_equal(parse("a=1\nb = x \\\n"), -1);
	assert_logged("mxlimit: t.ini:2: file ends inside a continued line");
}

static void test_continuation_too_long(void **state)
{
	size_t half = MX_INI_LINE_MAX / 2 + 8, i, pos = 0;
	char *buf = malloc(3 * (half + 4));

	(void)state;
	for (i = 0; i < 3; i++) {
		memset(buf + pos, 'x', half);
		pos += half;
		memcpy(buf + pos, "\\\n", 2);
		pos += 2;
	}
	memcpy(buf + pos, "y\n", 3);
	assert_int_equal(parse(buf), -1);
	assert_logged("mxlimit: t.ini:1: continued line too long (over 4096 bytes)");
	free(buf);
}

static void test_callback_error(void **state)
{
	(void)state;
	memset(&seen, 0, sizeof(seen));
	seen.fail_key_line = 2;
	assert_int_equal(mx_ini_parse("t.ini", "a=1\nb=2\nc=3\n", 12, collect, &seen), -1);
	/* the callback failing does not stop the reading */
	assert_string_equal(seen.text, "K main|a|1@1\nK main|b|2@2\nK main|c|3@3\n");
}

/* No terminating NUL: the reader must stay within len. */
static void test_not_nul_terminated(void **state)
{
	char *buf = malloc(5);

	(void)state;
	memcpy(buf, "ab=cd", 5);
	assert_int_equal(parse_len(buf, 5), 0);
	assert_seen("K main|ab|cd@1\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_main_before_header),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_trim_and_key_chars),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_bom_and_empty),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_utf8_ok),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_nul_and_control),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_bad_continuations),
		cmocka_unit_test(test_continuation_too_long),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_not_nul_terminated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
