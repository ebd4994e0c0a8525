/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_smtp_limits.c - the SMTP limit engine (user/smtp/smtp_limits.h) on
 * its own, with an in-memory store and a clock the test moves: the
 * decisions both front ends share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "log_capture.h"
#include "smtp_limits.h"

#define SEC 1000000000ULL

static struct mx_policy pol;
static struct mx_rate_store *store;

static void setup_policy(const char *text)
{
	cap_start();
	assert_int_equal(mx_policy_load_buf("t.ini", text, strlen(text), &pol), 0);
	cap_stop();
	store = mx_rate_store_mem_new(1024);
	assert_non_null(store);
}

static int teardown(void **state)
{
	(void)state;
	mx_policy_free(&pol);
	mx_rate_store_free(store);
	store = NULL;
	return 0;
}

static mx_prefix v4(const char *s)
{
	const char *why;
	mx_prefix p;

	assert_int_equal(mx_prefix_parse(s, false, &p, &why), 0);
	return p;
}

/* One recipient from ip, sender, rcpt at time t; rcpts already passed. */
static enum mx_violation rcpt(const char *ip, const char *sender, const char *to, uint32_t n,
			      uint64_t t)
{
	mx_prefix c = v4(ip);
	struct mx_rcpt_ctx x = {
		.client = &c, .client_ip = ip, .sender = sender, .rcpt = to, .rcpts = n,
	};

	cap_start();
	enum mx_violation v = mx_limits_rcpt(&pol, store, t, &x);
	cap_stop();
	return v;
}

#define PASS MX_VIOL__COUNT

static void test_recipients(void **state)
{
	(void)state;
	setup_policy("[recipients]\nenabled = true\nmax = 2\n192.0.2.9 = 0\n");
	assert_int_equal(rcpt("192.0.2.1", "s@x", "a@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "s@x", "b@y", 1, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "s@x", "c@y", 2, SEC), MX_VIOL_RECIPIENTS);
	assert_int_equal(rcpt("192.0.2.9", "s@x", "c@y", 50, SEC), PASS); /* 0: unlimited */
}

static void test_rates(void **state)
{
	(void)state;
	setup_policy("[rate_rcpt_sender]\nenabled = true\ndefault = 2/1m\nexample.com = 3/1m\n"
		     "[rate_rcpt]\nenabled = true\ndefault = 1/1m\n"
		     "[rate_rcpt_null]\nenabled = true\ndefault = 1/1m\n");
	/* default counts each sender; an explicit lookup is one shared counter */
	assert_int_equal(rcpt("192.0.2.1", "a@other.test", "r1@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "a@other.test", "r2@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "a@other.test", "r3@y", 0, SEC), MX_VIOL_RATE_RCPT_SENDER);
	assert_int_equal(rcpt("192.0.2.1", "b@other.test", "r3@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "a@example.com", "r4@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "b@example.com", "r5@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "c@sub.example.com", "r6@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "d@example.com", "r7@y", 0, SEC), MX_VIOL_RATE_RCPT_SENDER);
	/* [rate_rcpt]: r1 was counted once; a refused recipient is not counted */
	assert_int_equal(rcpt("192.0.2.1", "z@z.test", "r1@y", 0, SEC), MX_VIOL_RATE_RCPT);
	/* the null sender is never counted under [rate_rcpt_sender] (2/1m):
	 * three bounces to three recipients pass */
	assert_int_equal(rcpt("192.0.2.1", "", "n1@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "", "n2@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "", "n3@y", 0, SEC), PASS);
	mx_policy_free(&pol);
	mx_rate_store_free(store);
	setup_policy("[rate_rcpt_null]\nenabled = true\ndefault = 1/1m\n");
	assert_int_equal(rcpt("192.0.2.1", "", "n1@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "", "n1@y", 0, SEC), MX_VIOL_RATE_RCPT_NULL);
	assert_int_equal(rcpt("192.0.2.1", "s@x", "n1@y", 0, SEC), PASS); /* not a bounce */
	/* fixed windows: a minute after the first count, it starts again */
	assert_int_equal(rcpt("192.0.2.1", "", "n1@y", 0, 62 * SEC), PASS);
}

static void test_host_and_order(void **state)
{
	(void)state;
	setup_policy("[recipients]\nenabled = true\nmax = 5\n"
		     "[rate_rcpt_host]\nenabled = true\ndefault = 2/1m\n198.51.100.0/24 = 3/1m\n");
	assert_int_equal(rcpt("192.0.2.1", "s@x", "a@y", 0, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "s@x", "b@y", 1, SEC), PASS);
	assert_int_equal(rcpt("192.0.2.1", "s@x", "c@y", 2, SEC), MX_VIOL_RATE_RCPT_HOST);
	assert_int_equal(rcpt("192.0.2.2", "s@x", "c@y", 0, SEC), PASS); /* its own counter */
	/* the /24 shares one counter of 3 */
	assert_int_equal(rcpt("198.51.100.1", "s@x", "a@y", 0, SEC), PASS);
	assert_int_equal(rcpt("198.51.100.2", "s@x", "a@y", 0, SEC), PASS);
	assert_int_equal(rcpt("198.51.100.3", "s@x", "a@y", 0, SEC), PASS);
	assert_int_equal(rcpt("198.51.100.4", "s@x", "a@y", 0, SEC), MX_VIOL_RATE_RCPT_HOST);
	/* [recipients] is judged first */
	assert_int_equal(rcpt("192.0.2.1", "s@x", "d@y", 5, SEC), MX_VIOL_RECIPIENTS);
}

static void test_replies(void **state)
{
	struct mx_conn_counts n = { 0 };
	mx_prefix c = v4("192.0.2.1");

	(void)state;
	setup_policy("[errors]\nenabled = true\nmax = 2\n"
		     "[unrecognized_commands]\nenabled = true\nmax = 1\n");
	assert_int_equal(mx_limits_reply(&pol, &c, &n, 250), PASS);
	assert_int_equal(mx_limits_reply(&pol, &c, &n, 550), PASS); /* a refusal, not an error */
	assert_int_equal(mx_limits_reply(&pol, &c, &n, 503), PASS);
	assert_int_equal(mx_limits_reply(&pol, &c, &n, 501), PASS);
	assert_int_equal(mx_limits_reply(&pol, &c, &n, 502), PASS);
	assert_int_equal(mx_limits_reply(&pol, &c, &n, 500), MX_VIOL_UNRECOGNIZED_COMMANDS);
	assert_int_equal(mx_limits_reply(&pol, &c, &n, 555), MX_VIOL_ERRORS);
	assert_int_equal(n.errors, 3);
}

static void test_verdicts(void **state)
{
	char line[600];

	(void)state;
	setup_policy("[recipients]\nenabled = true\nmax = 1\n"
		     "[errors]\nenabled = true\nmax = 1\n"
		     "[penalty]\nrecipients = penalize 10m limit=1\nerrors = block 1h\n");
	assert_true(mx_limits_verdict(&pol, "192.0.2.7", MX_VIOL_RECIPIENTS, line, sizeof(line)) > 0);
	assert_string_equal(line, "PENALIZE 192.0.2.7 600 limit=1 reason=recipients");
	assert_true(mx_limits_verdict(&pol, "2001:db8::7", MX_VIOL_ERRORS, line, sizeof(line)) > 0);
	assert_string_equal(line, "BLOCK 2001:db8::7 3600 reason=errors");
	assert_int_equal(mx_limits_verdict(&pol, "192.0.2.7", MX_VIOL_RATE_RCPT, line, sizeof(line)), 0);
	assert_int_equal(mx_limits_verdict(&pol, "not-an-ip", MX_VIOL_ERRORS, line, sizeof(line)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_recipients, teardown),
		cmocka_unit_test_teardown(test_rates, teardown),
		cmocka_unit_test_teardown(test_host_and_order, teardown),
		cmocka_unit_test_teardown(test_replies, teardown),
		cmocka_unit_test_teardown(test_verdicts, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
