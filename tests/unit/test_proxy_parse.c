/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_proxy_parse.c - the proxy's parsers: SMTP verbs, paths, BDAT,
 * reply lines, the end-of-DATA scanner (incl. smuggling variants), PROXY
 * v1/v2 encode and decode, the [proxy] keys and the rate store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "proxy_conf.h"
#include "proxy_proto.h"
#include "rate_store.h"
#include "smtp_parse.h"

#define S(x) x, strlen(x)

static void test_verbs(void **st)
{
	(void)st;
	assert_int_equal(mx_smtp_verb(S("EHLO x")), MX_SMTP_EHLO);
	assert_int_equal(mx_smtp_verb(S("rcpt TO:<a@b>")), MX_SMTP_RCPT);
	assert_int_equal(mx_smtp_verb(S("DATA")), MX_SMTP_DATA);
	assert_int_equal(mx_smtp_verb(S("StartTLS")), MX_SMTP_STARTTLS);
	assert_int_equal(mx_smtp_verb(S("DATAX")), MX_SMTP_UNKNOWN);
	assert_int_equal(mx_smtp_verb(S("DAT")), MX_SMTP_UNKNOWN);
	assert_int_equal(mx_smtp_verb(S("")), MX_SMTP_UNKNOWN);
	assert_int_equal(mx_smtp_verb(S("XCLIENT ADDR=1.2.3.4")), MX_SMTP_XCLIENT);
	/* the verb ends at any blank, and blanks before it are skipped */
	assert_int_equal(mx_smtp_verb(S("DATA\t")), MX_SMTP_DATA);
	assert_int_equal(mx_smtp_verb(S("RCPT\tTO:<a>")), MX_SMTP_RCPT);
	assert_int_equal(mx_smtp_verb(S("  \tmail FROM:<a>")), MX_SMTP_MAIL);
}

static void path_ok(const char *line, const char *want)
{
	char out[MX_SMTP_PATH_MAX + 1];

	if (mx_smtp_path(S(line), out, sizeof(out)) != 0)
		fail_msg("\"%s\" did not parse", line);
	assert_string_equal(out, want);
}

static void test_paths(void **st)
{
	char out[MX_SMTP_PATH_MAX + 1], big[600];

	(void)st;
	path_ok("MAIL FROM:<A@Example.COM>", "a@example.com");
	path_ok("MAIL FROM:<> SIZE=10", "");
	path_ok("mail from: <a@b.c> BODY=8BITMIME", "a@b.c");
	path_ok("RCPT TO:<@relay.x,@r2.y:u@d.e>", "u@d.e");
	path_ok("RCPT TO:u@d.e NOTIFY=NEVER", "u@d.e");
	/* a quoted local part is what it holds: one counter for both */
	path_ok("RCPT TO:<\"a>b\"@d.e>", "a>b@d.e");
	path_ok("MAIL FROM:<\"Spam\"@X.test>", "spam@x.test");
	path_ok("MAIL FROM:<\"s\\\"p\"@x>", "s\"p@x");
	path_ok("RCPT  TO:<a@b>", "a@b");
	path_ok("RCPT\tTO:\t<a@b>\t", "a@b");
	assert_int_equal(mx_smtp_path(S("RCPT TO:<a@b"), out, sizeof(out)), -1);
	assert_int_equal(mx_smtp_path(S("RCPT TX:<a@b>"), out, sizeof(out)), -1);
	assert_int_equal(mx_smtp_path(S("RCPT TO:"), out, sizeof(out)), -1);
	assert_int_equal(mx_smtp_path(S("RCPT TO:<a\tb@c>"), out, sizeof(out)), -1);
	snprintf(big, sizeof(big), "RCPT TO:<%0300d@x>", 0);
	assert_int_equal(mx_smtp_path(S(big), out, sizeof(out)), -1);
	assert_int_equal(mx_smtp_path(S("RCPT TO:<abcdef@x>"), out, 4), -1);
	assert_int_equal(mx_smtp_path(S("DATA"), out, sizeof(out)), -1);
}

/* line -> the canonical line forwarded, or the refusal */
static const struct {
	const char *line;
	const char *canon; /* NULL: refused with err */
	enum mx_smtp_err err;
} canon_cases[] = {
	{ "RCPT TO:<a@b>", "RCPT TO:<a@b>", 0 },
	{ "RCPT  TO:<a@b>", "RCPT TO:<a@b>", 0 },
	{ "RCPT\tTO:<a@b>", "RCPT TO:<a@b>", 0 },
	{ "rcpt to:<a@b>", "RCPT TO:<a@b>", 0 },
	{ "  RCPT TO: <a@b>  ", "RCPT TO:<a@b>", 0 },
	{ "RCPT TO:a@b", "RCPT TO:<a@b>", 0 },
	{ "RCPT TO:<a@b>  NOTIFY=NEVER\t ORCPT=rfc822;a@b", "RCPT TO:<a@b> NOTIFY=NEVER ORCPT=rfc822;a@b", 0 },
	{ "RCPT TO:<\"a  b\"@c>", "RCPT TO:<\"a  b\"@c>", 0 },
	{ "MAIL\tFROM:<>", "MAIL FROM:<>", 0 },
	{ "MAIL  FROM:<s@x> SIZE=100  BODY=8BITMIME", "MAIL FROM:<s@x> SIZE=100 BODY=8BITMIME", 0 },
	{ "DATA\t", "DATA", 0 },
	{ "data", "DATA", 0 },
	{ "BDAT  100\tlast", "BDAT 100 LAST", 0 },
	{ "BDAT 0", "BDAT 0", 0 },
	{ "AUTH  PLAIN\tdGVzdA==", "AUTH PLAIN dGVzdA==", 0 },
	{ "ehlo\tclient.example", "EHLO client.example", 0 },
	{ "NOOP", "NOOP", 0 },
	{ "XFOO  a  b", "XFOO a  b", 0 },
	{ "", NULL, MX_SMTP_E_EMPTY },
	{ " \t ", NULL, MX_SMTP_E_EMPTY },
	{ "RCPT TO:<a@b>\rRCPT TO:<c@d>", NULL, MX_SMTP_E_CHAR },
	{ "RCPT\vTO:<a@b>", NULL, MX_SMTP_E_CHAR },
	{ "RCPT\fTO:<a@b>", NULL, MX_SMTP_E_CHAR },
	{ "RCPT:TO:<a@b>", NULL, MX_SMTP_E_VERB },
	{ "\"RCPT\" TO:<a@b>", NULL, MX_SMTP_E_VERB },
	{ "RCPT TO :<a@b>", NULL, MX_SMTP_E_RCPT },
	{ "RCPT TO<a@b>", NULL, MX_SMTP_E_RCPT },
	{ "RCPT TO:", NULL, MX_SMTP_E_RCPT },
	{ "RCPT", NULL, MX_SMTP_E_RCPT },
	{ "RCPT TO:<>", NULL, MX_SMTP_E_RECIPIENT },
	{ "RCPT TO:<a@b>x", NULL, MX_SMTP_E_RECIPIENT },
	{ "RCPT TO:<a<b>c>", NULL, MX_SMTP_E_RECIPIENT },
	{ "RCPT TO:<a b@c>", NULL, MX_SMTP_E_RECIPIENT },
	{ "RCPT TO:<a\\>b@c>", "RCPT TO:<a\\>b@c>", 0 },
	{ "RCPT TO:a\\ b@c", NULL, MX_SMTP_E_RECIPIENT },
	{ "MAIL FROM:  FROM:x.test", NULL, MX_SMTP_E_SENDER },
	{ "RCPT TO:<a@b> NOTIFY=\"x y\"", NULL, MX_SMTP_E_PARAM },
	{ "RCPT TO:<a@b> X=y\\ RCPT", NULL, MX_SMTP_E_PARAM },
	{ "RCPT TO:<a@b> X=y\\", NULL, MX_SMTP_E_PARAM },
	{ "MAIL FROM <a@b>", NULL, MX_SMTP_E_MAIL },
	{ "MAIL FROM:<a@b", NULL, MX_SMTP_E_SENDER },
	{ "DATA x", NULL, MX_SMTP_E_DATA },
	{ "STARTTLS now", NULL, MX_SMTP_E_STARTTLS },
	{ "BDAT", NULL, MX_SMTP_E_BDAT },
	{ "BDAT x", NULL, MX_SMTP_E_BDAT },
	{ "BDAT 10 LASTX", NULL, MX_SMTP_E_BDAT },
	{ "BDAT 10x", NULL, MX_SMTP_E_BDAT },
	{ "BDAT 99999999999999999999999", NULL, MX_SMTP_E_BDAT },
	{ "AUTH", NULL, MX_SMTP_E_AUTH },
	{ "AUTH PLAIN a b", NULL, MX_SMTP_E_AUTH },
};

static void test_parse_canon(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof(canon_cases) / sizeof(canon_cases[0]); i++) {
		const char *line = canon_cases[i].line;
		struct mx_smtp_cmd c;
		enum mx_smtp_err e = mx_smtp_parse(S(line), &c);
		char out[600], again[600];
		int n, code;

		if (!canon_cases[i].canon) {
			if (e != canon_cases[i].err)
				fail_msg("\"%s\": error %d, want %d", line, e, canon_cases[i].err);
			assert_non_null(mx_smtp_err_reply(e, &code));
			assert_true(code == 500 || code == 501);
			continue;
		}
		if (e != MX_SMTP_OK)
			fail_msg("\"%s\" refused (%d)", line, e);
		n = mx_smtp_canon(&c, out, sizeof(out));
		assert_true(n >= 0 && (size_t)n <= strlen(line) + 2);
		assert_string_equal(out, canon_cases[i].canon);
		/* the canonical spelling is a fixed point */
		assert_int_equal(mx_smtp_parse(out, (size_t)n, &c), MX_SMTP_OK);
		assert_int_equal(mx_smtp_canon(&c, again, sizeof(again)), n);
		assert_string_equal(again, out);
	}
}

static void test_bdat(void **st)
{
	struct mx_smtp_cmd c;
	char out[8];

	(void)st;
	assert_int_equal(mx_smtp_parse(S("BDAT 100"), &c), MX_SMTP_OK);
	assert_true(c.verb == MX_SMTP_BDAT && c.bdat_size == 100 && !c.bdat_last);
	assert_int_equal(mx_smtp_parse(S("bdat 0 last"), &c), MX_SMTP_OK);
	assert_true(c.bdat_size == 0 && c.bdat_last);
	assert_int_equal(mx_smtp_parse(S("BDAT 18446744073709551615"), &c), MX_SMTP_OK);
	assert_true(c.bdat_size == UINT64_MAX);
	/* a canonical line that does not fit is refused, never cut */
	assert_int_equal(mx_smtp_canon(&c, out, sizeof(out)), -1);
}

static void test_replies(void **st)
{
	int code;
	bool last;

	(void)st;
	assert_int_equal(mx_smtp_reply_line(S("250-PIPELINING"), &code, &last), 0);
	assert_true(code == 250 && !last);
	assert_int_equal(mx_smtp_reply_line(S("250 ok"), &code, &last), 0);
	assert_true(last);
	assert_int_equal(mx_smtp_reply_line(S("354"), &code, &last), 0);
	assert_true(code == 354 && last);
	assert_int_equal(mx_smtp_reply_line(S("25"), &code, &last), -1);
	assert_int_equal(mx_smtp_reply_line(S("250x"), &code, &last), -1);
	assert_int_equal(mx_smtp_reply_line(S("650 no"), &code, &last), -1);
	assert_int_equal(mx_smtp_reply_class(502), MX_REPLY_UNRECOGNIZED);
	assert_int_equal(mx_smtp_reply_class(503), MX_REPLY_ERROR);
	assert_int_equal(mx_smtp_reply_class(550), MX_REPLY_OK);
}

/* Feed s in pieces of `step` bytes; returns the result and bytes used. */
static enum mx_data_result scan(const char *s, size_t step, size_t *total)
{
	struct mx_data_scan sc;
	size_t len = strlen(s), off = 0, used;
	enum mx_data_result r = MX_DATA_MORE;

	mx_data_scan_init(&sc);
	*total = 0;
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		r = mx_data_scan(&sc, s + off, n, &used);
		*total += used;
		if (r != MX_DATA_MORE)
			break;
		off += n;
	}
	return r;
}

static void test_data_end(void **st)
{
	static const struct {
		const char *in;
		enum mx_data_result r;
		size_t used;
	} cases[] = {
		{ "hello\r\n.\r\n", MX_DATA_END, 10 },
		{ ".\r\n", MX_DATA_END, 3 },
		{ "a\r\n..\r\n.x\r\n. \r\nb\r\n.\r\nNEXT", MX_DATA_END, 21 },
		{ "bare\nlf\r\nok\r\n.\r\n", MX_DATA_END, 16 },
		{ "cr\r\r\n.\r\n", MX_DATA_END, 8 },
		{ "x\r\n.\rq\r\n.\r\n", MX_DATA_END, 11 },
		{ "no end\r\n", MX_DATA_MORE, 8 },
		/* smuggling: a "." line touching a bare LF */
		{ "x\n.\nMAIL", MX_DATA_BAD, 3 },
		{ "x\n.\r\nMAIL", MX_DATA_BAD, 4 },
		{ "x\r\n.\nMAIL", MX_DATA_BAD, 4 },
		{ ".\n", MX_DATA_BAD, 1 },
	};

	(void)st;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t step = 1; step <= 5; step += 4) {
			size_t used;
			enum mx_data_result r = scan(cases[i].in, step, &used);

			if (r != cases[i].r || used != cases[i].used)
				fail_msg("case %zu step %zu: result %d used %zu, want %d %zu", i, step,
					 r, used, cases[i].r, cases[i].used);
		}
	}
}

static void sa4(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	inet_pton(AF_INET, a, &in->sin_addr);
}

static void sa6(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	inet_pton(AF_INET6, a, &in6->sin6_addr);
}

static void test_pp_v1(void **st)
{
	struct sockaddr_storage s, d;
	struct mx_pp_info info;
	char buf[MX_PP_V1_MAX + 1];
	int n;

	(void)st;
	sa4(&s, "192.0.2.7", 40000);
	sa4(&d, "198.51.100.1", 25);
	n = mx_pp_encode_v1((struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof(buf));
	assert_string_equal(buf, "PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n");
	assert_int_equal(mx_pp_decode((uint8_t *)buf, (size_t)n, MX_PP_ACCEPT_V1, &info), n);
	assert_true(info.has_addr);
	assert_memory_equal(&info.src, &s, sizeof(struct sockaddr_in));
	/* IPv4-mapped on both sides is written as TCP4 */
	sa6(&s, "::ffff:192.0.2.7", 1);
	sa6(&d, "::ffff:192.0.2.8", 2);
	mx_pp_encode_v1((struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof(buf));
	assert_string_equal(buf, "PROXY TCP4 192.0.2.7 192.0.2.8 1 2\r\n");
	sa4(&d, "192.0.2.8", 2);
	sa6(&s, "2001:db8::1", 1);
	assert_int_equal(mx_pp_encode_v1((struct sockaddr *)&s, (struct sockaddr *)&d, buf,
					 sizeof(buf)), -1);
	/* incomplete, wrong, and accepted-only-when-asked */
	assert_int_equal(mx_pp_decode((uint8_t *)"PROXY TCP4 1.2", 14, MX_PP_ACCEPT_V1, &info), 0);
	assert_int_equal(mx_pp_decode((uint8_t *)"PROXY UNKNOWN\r\nEHLO", 19, 1, &info), 15);
	assert_false(info.has_addr);
	static const char *const bad[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",     "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",  "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",   "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",   "EHLO x\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mx_pp_decode((const uint8_t *)bad[i], strlen(bad[i]), MX_PP_ACCEPT_V1, &info) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	memset(buf, 'A', sizeof(buf));
	memcpy(buf, "PROXY ", 6);
	assert_int_equal(mx_pp_decode((uint8_t *)buf, sizeof(buf), MX_PP_ACCEPT_V1, &info), -1);
	assert_int_equal(mx_pp_decode((uint8_t *)"PROXY UNKNOWN\r\n", 15, MX_PP_ACCEPT_V2, &info),
			 -1);
}

static void test_pp_v2(void **st)
{
	struct sockaddr_storage s, d;
	struct mx_pp_info info;
	uint8_t buf[MX_PP_V2_MAX_SENT];
	static const uint8_t want4[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11,
		0x00, 0x0c, 192,  0,    2,    7,    198,  51,   100,  1,    0x9c, 0x40, 0x00, 0x19,
	};
	uint8_t local[16];
	int n;

	(void)st;
	sa4(&s, "192.0.2.7", 40000);
	sa4(&d, "198.51.100.1", 25);
	n = mx_pp_encode_v2((struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof(buf));
	assert_int_equal(n, sizeof(want4));
	assert_memory_equal(buf, want4, sizeof(want4));
	assert_int_equal(mx_pp_decode(buf, (size_t)n, MX_PP_ACCEPT_V2, &info), n);
	assert_memory_equal(&info.dst, &d, sizeof(struct sockaddr_in));
	for (int i = 0; i < n; i++) /* every prefix is "need more" */
		assert_int_equal(mx_pp_decode(buf, (size_t)i, MX_PP_ACCEPT_V2, &info), i ? 0 : 0);
	sa6(&s, "2001:db8::7", 1);
	sa6(&d, "2001:db8::1", 2);
	n = mx_pp_encode_v2((struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof(buf));
	assert_int_equal(n, 52);
	assert_int_equal(mx_pp_decode(buf, (size_t)n, MX_PP_ACCEPT_V2 | MX_PP_ACCEPT_V1, &info), n);
	assert_memory_equal(&info.src, &s, sizeof(struct sockaddr_in6));
	/* LOCAL: no addresses */
	memcpy(local, want4, 16);
	local[12] = 0x20;
	local[15] = 0;
	assert_int_equal(mx_pp_decode(local, 16, MX_PP_ACCEPT_V2, &info), 16);
	assert_false(info.has_addr);
	/* bad version, UNIX family, too short for TCP4, oversized */
	memcpy(buf, want4, sizeof(want4));
	buf[12] = 0x11;
	assert_int_equal(mx_pp_decode(buf, sizeof(want4), MX_PP_ACCEPT_V2, &info), -1);
	memcpy(buf, want4, sizeof(want4));
	buf[13] = 0x31;
	assert_int_equal(mx_pp_decode(buf, sizeof(want4), MX_PP_ACCEPT_V2, &info), -1);
	memcpy(buf, want4, sizeof(want4));
	buf[15] = 4;
	assert_int_equal(mx_pp_decode(buf, 20, MX_PP_ACCEPT_V2, &info), -1);
	memcpy(buf, want4, sizeof(want4));
	buf[14] = 0xff;
	assert_int_equal(mx_pp_decode(buf, sizeof(want4), MX_PP_ACCEPT_V2, &info), -1);
	assert_int_equal(mx_pp_decode(want4, sizeof(want4), MX_PP_ACCEPT_V1, &info), -1);
}

static int log_count;
static void count_sink(void *ctx, enum mx_log_level l, const char *line)
{
	(void)ctx;
	(void)l;
	(void)line;
	log_count++;
}

/* The SSL TLV a listen_tls session adds to its v2 header (haproxy
 * proxy-protocol.txt 2.2.5), byte by byte, and a decoder still reads it. */
static void test_pp_v2_ssl(void **st)
{
	struct sockaddr_storage s, d;
	struct mx_pp_info info;
	uint8_t buf[MX_PP_V2_MAX_TLS];
	static const uint8_t tlv[] = {
		0x20, 0x00, 0x1c,             /* PP2_TYPE_SSL, 28 bytes */
		0x01, 0x00, 0x00, 0x00, 0x00, /* client: SSL; verify: 0 */
		0x21, 0x00, 0x07, 'T', 'L', 'S', 'v', '1', '.', '3',
		0x23, 0x00, 0x0a, 'A', 'E', 'S', '1', '2', '8', '-', 'G', 'C', 'M',
	};
	int n, m;

	(void)st;
	sa4(&s, "192.0.2.7", 40000);
	sa4(&d, "198.51.100.1", 465);
	n = mx_pp_encode_v2((struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof(buf));
	assert_int_equal(n, 28);
	m = mx_pp_v2_add_ssl(buf, (size_t)n, sizeof(buf), "TLSv1.3", "AES128-GCM");
	assert_int_equal(m, 28 + (int)sizeof(tlv));
	assert_memory_equal(buf + 28, tlv, sizeof(tlv));
	assert_int_equal(buf[14] << 8 | buf[15], 12 + (int)sizeof(tlv)); /* length fixed */
	assert_int_equal(mx_pp_decode(buf, (size_t)m, MX_PP_ACCEPT_V2, &info), m);
	assert_memory_equal(&info.src, &s, sizeof(struct sockaddr_in));
	/* too small a buffer, an overlong name: refused, nothing written past cap */
	assert_int_equal(mx_pp_v2_add_ssl(buf, (size_t)n, (size_t)n + 10, "TLSv1.3", "X"), -1);
	{
		char big[300];

		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(mx_pp_v2_add_ssl(buf, (size_t)n, sizeof(buf), "TLSv1.3", big), -1);
	}
}

static void test_conf_tls(void **st)
{
	struct mx_proxy_conf c;

	(void)st;
	mx_log_set_sink(count_sink, NULL);
	log_count = 0;
	mx_proxy_conf_init(&c);
	assert_int_equal(c.tls_min, MX_TLS_V1_2);
	assert_int_equal(c.tls_max, MX_TLS_V1_3);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 1, "tls_protocols", "TLSv1.3"), 0);
	assert_int_equal(c.tls_min, MX_TLS_V1_3);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 2, "tls_protocols", "tlsv1.1, TLSv1.2"), 0);
	assert_int_equal(c.tls_min, MX_TLS_V1_1);
	assert_int_equal(c.tls_max, MX_TLS_V1_2);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 3, "tls_protocols", "TLSv1.1, TLSv1.3"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 4, "tls_protocols", "SSLv3"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 5, "tls_cert", "/a.pem, /b.pem"), 0);
	assert_int_equal(c.n_tls_cert, 2);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 6, "tls_cert", "relative.pem"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 7, "tls_key", "/a.key"), 0);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 8, "listen", "127.0.0.1:25"), 0);
	assert_int_equal(mx_proxy_conf_finish(&c, "f", 1), -1); /* 2 certs, 1 key */
	assert_int_equal(mx_proxy_conf_set(&c, "f", 9, "tls_cert", "/a.pem"), 0);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 10, "tls_required", "yes"), 0);
	assert_true(c.tls_required);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 11, "listen_tls", "127.0.0.1:465"), 0);
	assert_int_equal(mx_proxy_conf_finish(&c, "f", 1), 0);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 12, "backend_xclient", "maybe"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 13, "backend_xclient", "yes"), 0);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 14, "proxy_protocol", "v2"), 0);
	assert_int_equal(mx_proxy_conf_finish(&c, "f", 1), -1); /* one hand-off only */
	/* no certificate: listen_tls and tls_required are errors */
	mx_proxy_conf_init(&c);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 1, "listen_tls", "127.0.0.1:465"), 0);
	assert_int_equal(mx_proxy_conf_finish(&c, "f", 1), -1);
	mx_proxy_conf_init(&c);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 1, "tls_required", "on"), 0);
	assert_int_equal(mx_proxy_conf_finish(&c, "f", 1), -1);
	assert_true(log_count >= 7);
	mx_log_set_sink(NULL, NULL);
}

static void test_conf(void **st)
{
	struct mx_proxy_conf c;
	char text[80];
	mx_prefix p;
	const char *why;

	(void)st;
	mx_log_set_sink(count_sink, NULL);
	mx_proxy_conf_init(&c);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 1, "listen", "127.0.0.1:25, [::1]:2525"), 0);
	assert_int_equal(c.n_listen, 2);
	assert_string_equal(mx_sockaddr_format(&c.listen[1], text, sizeof(text)), "[::1]:2525");
	assert_int_equal(mx_proxy_conf_set(&c, "f", 2, "backend", "[2001:db8::1]:25"), 0);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 3, "proxy_protocol", "V2"), 0);
	assert_int_equal(c.proxy_protocol, MX_PP_V2);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 4, "idle_timeout", "2m"), 0);
	assert_true(c.idle_timeout_ns == 120000000000ULL);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 5, "verdict_socket", "none"), 0);
	assert_string_equal(c.verdict_socket, "");
	assert_int_equal(mx_proxy_conf_set(&c, "f", 6, "accept_proxy", "any"), 0);
	assert_int_equal(mx_proxy_conf_finish(&c, "f", 1), -1); /* no trusted_proxies */
	assert_int_equal(mx_proxy_conf_set(&c, "f", 7, "trusted_proxies", "10.0.0.0/8, 192.0.2.1"), 0);
	assert_int_equal(mx_proxy_conf_finish(&c, "f", 1), 0);
	assert_int_equal(c.tarpit_max_sessions, MX_PROXY_DEFAULT_MAX_CLIENTS / 4);
	assert_int_equal(mx_addr_parse("10.9.8.7", &p), 0);
	assert_true(mx_proxy_conf_trusted(&c, &p));
	assert_int_equal(mx_addr_parse("192.0.2.2", &p), 0);
	assert_false(mx_proxy_conf_trusted(&c, &p));
	log_count = 0;
	assert_int_equal(mx_proxy_conf_set(&c, "f", 8, "listen", "::1:25"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 9, "listen", "1.2.3.4:0"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 9, "listen", " , "), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 10, "max_clients", "0"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 11, "proxy_protocol", "v3"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 12, "verdict_socket", "rel/path"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 13, "nonsense", "1"), -1);
	assert_int_equal(mx_proxy_conf_set(&c, "f", 14, "trusted_proxies", "10.0.0.1/8"), -1);
	assert_int_equal(log_count, 8);
	assert_int_equal(mx_sockaddr_parse("[::1]25", &c.backend, &why), -1);
	mx_log_set_sink(NULL, NULL);
}

static void test_rate_store(void **st)
{
	struct mx_rate_store *s = mx_rate_store_mem_new(2);
	uint32_t n;

	(void)st;
	assert_non_null(s);
	assert_int_equal(mx_rate_get(s, "a", 100, &n), 0);
	assert_int_equal(n, 0);
	mx_rate_incr(s, "a", 50, 100);
	mx_rate_incr(s, "a", 50, 120);
	mx_rate_get(s, "a", 149, &n);
	assert_int_equal(n, 2); /* fixed window opened at 100 */
	mx_rate_get(s, "a", 150, &n);
	assert_int_equal(n, 0); /* closed at 100 + 50 */
	mx_rate_incr(s, "a", 50, 150);
	mx_rate_get(s, "a", 151, &n);
	assert_int_equal(n, 1);
	assert_int_equal(mx_rate_incr(s, "b", 50, 151), 0);
	assert_int_equal(mx_rate_incr(s, "a", 50, 152), 0); /* a: counted last */
	/* full: the window counted least recently (b) makes room, the busy
	 * one (a) keeps its count; the store never refuses or grows */
	assert_int_equal(mx_rate_incr(s, "c", 50, 153), 0);
	assert_int_equal(mx_rate_store_mem_size(s), 2);
	assert_int_equal(mx_rate_store_mem_evicted(s), 1);
	mx_rate_get(s, "a", 153, &n);
	assert_int_equal(n, 2);
	mx_rate_get(s, "b", 153, &n);
	assert_int_equal(n, 0);
	mx_rate_get(s, "c", 153, &n);
	assert_int_equal(n, 1);
	/* expired windows are reclaimed without evicting open ones */
	assert_int_equal(mx_rate_incr(s, "d", 50, 500), 0);
	assert_int_equal(mx_rate_incr(s, "e", 50, 500), 0);
	assert_int_equal(mx_rate_store_mem_evicted(s), 1);
	mx_rate_store_free(s);

	/* a flood of fresh keys through a small store: every one is counted
	 * and a key counted all along survives it */
	s = mx_rate_store_mem_new(64);
	assert_non_null(s);
	for (int i = 0; i < 100000; i++) {
		char k[32];

		snprintf(k, sizeof(k), "s|flood%d", i);
		assert_int_equal(mx_rate_incr(s, k, 1000000, 1000 + (uint64_t)i), 0);
		if (i % 16 == 0)
			assert_int_equal(mx_rate_incr(s, "s|busy", 1000000, 1000 + (uint64_t)i), 0);
	}
	assert_int_equal(mx_rate_store_mem_size(s), 64);
	mx_rate_get(s, "s|busy", 200000, &n);
	assert_int_equal(n, 6250);
	mx_rate_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),	 cmocka_unit_test(test_paths),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_parse_canon),	 cmocka_unit_test(test_replies),
		cmocka_unit_test(test_data_end), cmocka_unit_test(test_pp_v1),
		cmocka_unit_test(test_pp_v2),	 cmocka_unit_test(test_conf),
		cmocka_unit_test(test_rate_store),
		cmocka_unit_test(test_pp_v2_ssl), cmocka_unit_test(test_conf_tls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
