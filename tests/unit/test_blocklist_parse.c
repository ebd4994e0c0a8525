/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_blocklist_parse.c - the blocklist file reader (blocklist_parse.c):
 * the Spamhaus DROP/EDROP format and bare prefixes, every bad line as
 * FILE:LINE, nothing kept when any line is bad, the limits, set names.
 * No root, no BPF (the kernel side: tests/bpf/test_blocklist.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blocklist.h"
#include "log_capture.h"

static char path[64];

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/mxlimit-blparse-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void put(const void *text, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	fclose(f);
}

static void put_str(const char *text)
{
	put(text, strlen(text));
}

static void prefix_at(const struct mx_bl_list *l, size_t i, const char *want)
{
	char buf[MX_PREFIX_STRLEN];

	assert_true(i < l->n);
	assert_string_equal(mx_prefix_format(&l->p[i], buf, sizeof(buf)), want);
}

/* Spamhaus DROP as downloaded, EDROP's IPv6 form, bare prefixes and
 * addresses, CRLF, tabs, both comment styles, blank lines: sorted, the
 * duplicates once, IPv4 (::ffff:a.b.c.d in the shared space) first. */
static void drop_format(void **state)
{
	struct mx_bl_list l;

	(void)state;
	put_str("; Spamhaus DROP List 2026/12/05 - (c) 2026 The Spamhaus Project SLU\n"
		"; https://www.spamhaus.org/drop/drop.txt\n"
		"; Last-Modified: Sat, 05 Dec 2026 12:00:00 GMT\n"
		"\n"
		"203.0.113.0/24 ; SBL000003\r\n"
		"\t198.51.100.0/24\t;\tSBL000002\n"
		"2001:DB8:1::/48 ; SBL000004\n"
		"192.0.2.7\n"
		"# a comment of another list format\n"
		"203.0.113.0/24 ; listed twice\n"
		"2001:db8:2::9   # an address, IPv6\n"
		"198.51.100.0/25\n"
		"   \n");
	cap_start();
	assert_int_equal(mx_bl_parse_file(path, &l), 0);
	cap_stop();
	assert_int_equal(cap.errors, 0);
	assert_int_equal(l.n, 6);
	prefix_at(&l, 0, "192.0.2.7"); /* ::ffff:192.0.2.7 sorts before 2001:: */
	prefix_at(&l, 1, "198.51.100.0/24");
	prefix_at(&l, 2, "198.51.100.0/25"); /* nested in the /24: both kept */
	prefix_at(&l, 3, "203.0.113.0/24");
	prefix_at(&l, 4, "2001:db8:1::/48");
	prefix_at(&l, 5, "2001:db8:2::9");
	mx_bl_list_free(&l);
}

/* Every bad line reported with its number, nothing kept. */
static void bad_lines(void **state)
{
	struct mx_bl_list l = { .n = 7 };

	(void)state;
	put_str("198.51.100.0/24 ; good\n"
		"198.51.100.1/24 ; host bits\n"
		"example.com\n"
		"198.51.100.0/24 198.51.101.0/24\n"
		"::/0 ; everything\n"
		"0.0.0.0/0\n"
		"192.0.2.0/33\n"
		"192.0.2\n" /* haraka's partial form is not a list's */
		"203.0.113.0/24 ; good again\n"
		"::/8 ; reserved, and around every IPv4 address\n"
		"::fffe:0:0/95\n");
	cap_start();
	assert_int_equal(mx_bl_parse_file(path, &l), -1);
	cap_stop();
	assert_null(l.p);
	assert_int_equal(l.n, 0);
	assert_int_equal(cap.errors, 9);
	assert_logged("mxlimit: ");
	assert_logged(":2: bad prefix \"198.51.100.1/24\"");
	assert_logged(":3: bad prefix \"example.com\"");
	assert_logged(":4: expected one prefix per line (PREFIX [; comment])");
	assert_logged(":5: a /0 lists every address of its family: refused");
	assert_logged(":6: a /0 lists every address of its family: refused");
	assert_logged(":7: bad prefix \"192.0.2.0/33\"");
	assert_logged(":8: bad prefix \"192.0.2\"");
	assert_null(strstr(cap.buf, ":1: "));
	assert_null(strstr(cap.buf, ":9: "));
	assert_logged(":10: an IPv6 prefix around ::ffff:0:0/96 lists every IPv4 address: refused");
	assert_logged(":11: an IPv6 prefix around");
}

/* IPv6 prefixes beside the IPv4-mapped range are fine, and so is an
 * IPv4-mapped address written as IPv6 (it is that IPv4 address). */
static void ipv6_near_the_ipv4_range(void **state)
{
	struct mx_bl_list l;

	(void)state;
	put_str("::1\n::fffe:0:0/96\n64:ff9b::/96\n::ffff:192.0.2.0/120\n");
	assert_int_equal(mx_bl_parse_file(path, &l), 0);
	assert_int_equal(l.n, 4);
	prefix_at(&l, 2, "192.0.2.0/24");
	prefix_at(&l, 3, "64:ff9b::/96");
	mx_bl_list_free(&l);
}

/* After 20 reported lines the rest are counted (an HTML page instead of
 * a list must not print thousands of lines). */
static void many_bad_lines_summarized(void **state)
{
	struct mx_bl_list l;
	char *text = malloc(100 * 16), *p = text;
	int i;

	(void)state;
	assert_non_null(text);
	for (i = 0; i < 100; i++)
		p += sprintf(p, "<td>%d</td>\n", i);
	put(text, (size_t)(p - text));
	free(text);
	cap_start();
	assert_int_equal(mx_bl_parse_file(path, &l), -1);
	cap_stop();
	assert_int_equal(cap.errors, 21);
	assert_logged(":20: bad prefix");
	assert_null(strstr(cap.buf, ":21: "));
	assert_logged(": 80 more bad lines");
}

static void empty_long_nul_missing(void **state)
{
	static const char nul[] = "192.0.2.0/24\n198.51.\0" "100.0/24\n";
	struct mx_bl_list l;
	char *line = malloc(2000);

	(void)state;
	put_str("; nothing but comments\n\n# and blanks\n");
	cap_start();
	assert_int_equal(mx_bl_parse_file(path, &l), -1);
	cap_stop();
	assert_logged("no prefixes (an empty list would empty the set");

	put_str("");
	cap_start();
	assert_int_equal(mx_bl_parse_file(path, &l), -1);
	cap_stop();
	assert_logged("no prefixes");

	assert_non_null(line);
	memset(line, ' ', 1999);
	memcpy(line, "192.0.2.0/24 ;", 14);
	line[1998] = '\n';
	line[1999] = '\0';
	put_str(line);
	free(line);
	cap_start();
	assert_int_equal(mx_bl_parse_file(path, &l), -1);
	cap_stop();
	assert_logged(":1: line too long");

	put(nul, sizeof(nul) - 1);
	cap_start();
	assert_int_equal(mx_bl_parse_file(path, &l), -1);
	cap_stop();
	assert_logged(":2: NUL byte");

	cap_start();
	assert_int_equal(mx_bl_parse_file("/nonexistent/drop.txt", &l), -1);
	cap_stop();
	assert_logged("cannot read /nonexistent/drop.txt: No such file or directory");
}

/* No newline at the end: the last line still counts. */
static void last_line_without_newline(void **state)
{
	struct mx_bl_list l;

	(void)state;
	put_str("192.0.2.0/24\n198.51.100.0/24 ; x");
	assert_int_equal(mx_bl_parse_file(path, &l), 0);
	assert_int_equal(l.n, 2);
	mx_bl_list_free(&l);
}

static void names(void **state)
{
	(void)state;
	assert_true(mx_bl_name_valid("drop"));
	assert_true(mx_bl_name_valid("spamhaus-edrop_v6.2026"));
	assert_true(mx_bl_name_valid("0123456789012345678901234567890")); /* 31 */
	assert_false(mx_bl_name_valid("01234567890123456789012345678901")); /* 32 */
	assert_false(mx_bl_name_valid(""));
	assert_false(mx_bl_name_valid(".hidden"));
	assert_false(mx_bl_name_valid("-x"));
	assert_false(mx_bl_name_valid("a/b"));
	assert_false(mx_bl_name_valid(".."));
	assert_false(mx_bl_name_valid("a b"));
	assert_false(mx_bl_name_valid("drop\n"));
	assert_false(mx_bl_name_valid("dr\xc3\xb6p"));
}

static void dir_option_env_default(void **state)
{
	(void)state;
	unsetenv("MXLIMIT_BLOCKLIST_DIR");
	assert_string_equal(mx_bl_dir(NULL), MX_DEFAULT_BLOCKLIST_DIR);
	setenv("MXLIMIT_BLOCKLIST_DIR", "/srv/sets", 1);
	assert_string_equal(mx_bl_dir(NULL), "/srv/sets");
	assert_string_equal(mx_bl_dir("/opt/x"), "/opt/x");
	unsetenv("MXLIMIT_BLOCKLIST_DIR");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(drop_format),
		T(bad_lines),
		T(ipv6_near_the_ipv4_range),
		T(many_bad_lines_summarized),
		T(empty_long_nul_missing),
		T(last_line_without_newline),
		T(names),
		T(dir_option_env_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
