/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_policyd.c - mxlimit-policyd without sockets: the policy request
 * reader (pd_request.h), the derived SMTP sessions (pd_session.h) and the
 * decisions (pd_decide.h) on the shared SMTP limit engine, with a clock
 * the test moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "log_capture.h"
#include "pd_decide.h"
#include "pd_request.h"
#include "pd_session.h"

#define SEC 1000000000ULL

/* Feed text (lines separated by \n) into r; the last feed result. */
static enum pd_feed feed(struct pd_request *r, const char *text)
{
	enum pd_feed f = PD_FEED_MORE;
	const char *p = text;

	while (*p) {
		const char *lf = strchr(p, '\n');
		size_t len = lf ? (size_t)(lf - p) : strlen(p);

		f = pd_request_feed(r, p, len);
		if (f != PD_FEED_MORE || !lf)
			return f;
		p = lf + 1;
	}
	return f;
}

static void test_request_attributes(void **state)
{
	struct pd_request r;

	(void)state;
	pd_request_reset(&r);
	assert_int_equal(feed(&r, "request=smtpd_access_policy\nprotocol_state=RCPT\r\n"
				  "client_address=2001:db8::7\nclient_name=mx.example.test\n"
				  "sender=\nrecipient=Bob@Example.TEST\nfoo=bar=baz\n"
				  "instance=3e8.6571f000.4d2.2\nccert_subject=x\n\n"),
			 PD_FEED_END);
	assert_string_equal(r.request, "smtpd_access_policy");
	assert_string_equal(r.protocol_state, "RCPT"); /* CR dropped */
	assert_string_equal(r.client_address, "2001:db8::7");
	assert_string_equal(r.client_name, "mx.example.test");
	assert_true(r.have_sender);
	assert_string_equal(r.sender, "");
	assert_string_equal(r.recipient, "Bob@Example.TEST");
	assert_int_equal(r.bad_lines, 0); /* unknown attributes are not errors */
	assert_int_equal(r.lines, 9);

	pd_request_reset(&r);
	assert_int_equal(feed(&r, "garbage\n=novalue\nrequest=smtpd_access_policy\n"),
			 PD_FEED_MORE);
	assert_int_equal(r.bad_lines, 2);
	assert_false(r.have_sender);
}

static void test_request_bounds(void **state)
{
	static char big[PD_LINE_MAX + 64];
	struct pd_request r;

	(void)state;
	pd_request_reset(&r);
	/* a kept value longer than its field is cut, and said */
	memset(big, 'a', sizeof(big));
	memcpy(big, "sender=", 7);
	assert_int_equal(pd_request_feed(&r, big, 7 + 400), PD_FEED_MORE);
	assert_int_equal(strlen(r.sender), PD_PATH_LEN - 1);
	assert_int_equal(r.truncated, 1);
	/* a line over the limit ends the connection */
	assert_int_equal(pd_request_feed(&r, big, PD_LINE_MAX + 1), PD_FEED_TOO_LONG);
	/* so does a request over the limit, line by line */
	pd_request_reset(&r);
	enum pd_feed f = PD_FEED_MORE;
	int lines = 0;

	while (f == PD_FEED_MORE && lines < 100) {
		f = pd_request_feed(&r, big, 4000);
		lines++;
	}
	assert_int_equal(f, PD_FEED_TOO_LONG);
	assert_int_equal(lines, PD_REQUEST_MAX / 4001 + 1);
}

static void test_instance(void **state)
{
	struct pd_instance in;

	(void)state;
	assert_int_equal(pd_instance_parse("3e8.6571f000.4d2.2", &in), 0);
	assert_int_equal(in.pid, 1000);
	assert_int_equal(in.seqno, 2);
	assert_true(in.usec == 0x6571f000ULL * 1000000ULL + 1234);
	assert_int_equal(pd_instance_parse("", &in), -1);
	assert_int_equal(pd_instance_parse("3e8.6571f000.4d2", &in), -1);
	assert_int_equal(pd_instance_parse("3e8.6571f000.4d2.2.", &in), -1);
	assert_int_equal(pd_instance_parse("3e8.6571f000.f4240.0", &in), -1); /* usec > 999999 */
	assert_int_equal(pd_instance_parse("-1.1.1.1", &in), -1);
	assert_int_equal(pd_instance_parse("zz.1.1.1", &in), -1);
}

static struct pd_request mkreq(const char *ip, const char *port, const char *instance)
{
	struct pd_request r;

	pd_request_reset(&r);
	snprintf(r.request, sizeof(r.request), "smtpd_access_policy");
	snprintf(r.protocol_state, sizeof(r.protocol_state), "RCPT");
	snprintf(r.client_address, sizeof(r.client_address), "%s", ip);
	snprintf(r.client_port, sizeof(r.client_port), "%s", port);
	snprintf(r.server_address, sizeof(r.server_address), "198.18.0.1");
	snprintf(r.server_port, sizeof(r.server_port), "25");
	snprintf(r.instance, sizeof(r.instance), "%s", instance);
	snprintf(r.sender, sizeof(r.sender), "s@example.org");
	snprintf(r.recipient, sizeof(r.recipient), "r@example.test");
	r.have_sender = r.have_recipient = true;
	return r;
}

static struct pd_session *sget(struct pd_sessions *t, const struct pd_request *r, uint64_t now,
			       bool *fresh)
{
	return pd_sessions_get(t, r, now, 3600 * SEC, fresh);
}

static void test_sessions(void **state)
{
	struct pd_sessions *t = pd_sessions_new(4);
	struct pd_request m0 = mkreq("198.18.0.5", "40000", "10.100.5.0");
	struct pd_request m0b = mkreq("198.18.0.5", "40000", "10.100.5.0");
	struct pd_request m1 = mkreq("198.18.0.5", "40000", "10.101.7.1");
	struct pd_request again = mkreq("198.18.0.5", "40000", "10.200.0.0");
	struct pd_request back = mkreq("198.18.0.5", "40000", "10.300.0.0");
	struct pd_request port2 = mkreq("198.18.0.5", "40001", "10.100.5.0");
	struct pd_session *s;
	bool fresh;

	(void)state;
	assert_non_null(t);
	s = sget(t, &m0, SEC, &fresh);
	assert_true(fresh);
	s->rcpts = 1;
	/* a second recipient of the same message, then the next message */
	assert_ptr_equal(sget(t, &m0b, 2 * SEC, &fresh), s);
	assert_false(fresh);
	assert_int_equal(s->rcpts, 1);
	assert_ptr_equal(sget(t, &m1, 3 * SEC, &fresh), s);
	assert_false(fresh);
	s->rcpts = 5;
	/* seqno 0 at another time: a new session on the same 4-tuple */
	s = sget(t, &again, 4 * SEC, &fresh);
	assert_true(fresh);
	assert_int_equal(s->rcpts, 0);
	s->rcpts = 2;
	/* seqno 0 again after seqno 0 with an earlier time is also new */
	back = mkreq("198.18.0.5", "40000", "10.300.0.1");
	assert_false(sget(t, &back, 5 * SEC, &fresh) == NULL);
	assert_false(fresh); /* seqno 1, later time: the next message */
	struct pd_request regress = mkreq("198.18.0.5", "40000", "10.301.0.0");
	s = sget(t, &regress, 6 * SEC, &fresh);
	assert_true(fresh); /* seqno went back */
	/* another client port is another connection */
	s->rcpts = 3;
	assert_true(sget(t, &port2, 7 * SEC, &fresh)->rcpts == 0);
	assert_true(fresh);
	/* forgotten after the timeout */
	assert_true(pd_sessions_get(t, &regress, 7 * SEC + 3601 * SEC, 3600 * SEC, &fresh) != NULL);
	assert_true(fresh);
	pd_sessions_free(t);
}

static void test_sessions_full(void **state)
{
	struct pd_sessions *t = pd_sessions_new(2);
	struct pd_request a = mkreq("198.18.0.1", "1", "1.1.1.0");
	struct pd_request b = mkreq("198.18.0.2", "1", "2.1.1.0");
	struct pd_request c = mkreq("198.18.0.3", "1", "3.1.1.0");
	struct pd_request noinst = mkreq("198.18.0.4", "1", "");
	bool fresh;

	(void)state;
	sget(t, &a, 1, &fresh)->rcpts = 1;
	sget(t, &b, 2, &fresh)->rcpts = 2;
	sget(t, &a, 3, &fresh); /* a is now the most recent */
	sget(t, &c, 4, &fresh)->rcpts = 3; /* evicts b, the least recent */
	assert_int_equal(pd_sessions_count(t), 2);
	assert_int_equal(sget(t, &a, 5, &fresh)->rcpts, 1);
	assert_false(fresh);
	assert_int_equal(sget(t, &b, 6, &fresh)->rcpts, 0);
	assert_true(fresh);
	/* without instance: one session per address tuple, never restarted */
	sget(t, &noinst, 7, &fresh)->rcpts = 9;
	assert_int_equal(sget(t, &noinst, 8, &fresh)->rcpts, 9);
	assert_false(fresh);
	pd_sessions_free(t);
}

/* ---- decisions ---- */

static struct mx_policy pol;
static struct mx_rate_store *store;
static struct pd_sessions *sessions;
static struct pd_stats stats;
static char verdicts[1024];
static int n_verdicts;

static void on_verdict(void *arg, const char *line)
{
	(void)arg;
	n_verdicts++;
	snprintf(verdicts + strlen(verdicts), sizeof(verdicts) - strlen(verdicts), "%s|", line);
}

static void setup_policy(const char *text)
{
	cap_start();
	assert_int_equal(mx_policy_load_buf("t.ini", text, strlen(text), &pol), 0);
	cap_stop();
	store = mx_rate_store_mem_new(1024);
	sessions = pd_sessions_new(64);
	assert_non_null(store);
	assert_non_null(sessions);
	memset(&stats, 0, sizeof(stats));
	verdicts[0] = '\0';
	n_verdicts = 0;
}

static int teardown(void **state)
{
	(void)state;
	mx_policy_free(&pol);
	mx_rate_store_free(store);
	pd_sessions_free(sessions);
	store = NULL;
	sessions = NULL;
	return 0;
}

static const char *decide(const struct pd_request *r, uint64_t now)
{
	struct pd_ctx c = {
		.pol = &pol, .store = store, .sessions = sessions, .stats = &stats,
		.verdict = on_verdict,
	};

	cap_start();
	const char *a = pd_decide(&c, r, now);
	cap_stop();
	return a;
}

static void test_decide_recipients(void **state)
{
	struct pd_request r = mkreq("198.18.0.5", "40000", "10.100.5.0");

	(void)state;
	setup_policy("[recipients]\nenabled = true\nmax = 2\n"
		     "[penalty]\nrecipients = block 10m\n");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	/* the second message of the connection counts on */
	r = mkreq("198.18.0.5", "40000", "10.101.0.1");
	assert_string_equal(decide(&r, 2 * SEC), PD_ACTION_DUNNO);
	assert_string_equal(decide(&r, 2 * SEC), PD_ACTION_RCPT_MAX);
	assert_string_equal(decide(&r, 2 * SEC), PD_ACTION_RCPT_MAX);
	/* one verdict per session and limit */
	assert_int_equal(n_verdicts, 1);
	assert_string_equal(verdicts, "BLOCK 198.18.0.5 600 reason=recipients|");
	assert_int_equal(stats.violations[MX_VIOL_RECIPIENTS], 2);
	/* a new connection (another port) starts from zero */
	r = mkreq("198.18.0.5", "40002", "10.102.0.0");
	assert_string_equal(decide(&r, 3 * SEC), PD_ACTION_DUNNO);
	assert_int_equal(stats.dunno, 3);
	assert_int_equal(stats.requests, 5);
}

static void test_decide_rates(void **state)
{
	struct pd_request r;

	(void)state;
	setup_policy("[rate_rcpt_sender]\nenabled = true\ndefault = 2/1h\n"
		     "[rate_rcpt_null]\nenabled = true\ndefault = 1/1h\n");
	/* counted across connections, the key lowercased as the proxy's */
	r = mkreq("198.18.0.5", "1", "1.1.1.0");
	snprintf(r.sender, sizeof(r.sender), "Alice@Example.ORG");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	r = mkreq("198.18.0.6", "2", "2.1.1.0");
	snprintf(r.sender, sizeof(r.sender), "alice@example.org");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	assert_string_equal(decide(&r, SEC), PD_ACTION_RATE);
	/* the window closes */
	assert_string_equal(decide(&r, SEC + 3601 * SEC), PD_ACTION_DUNNO);
	/* null sender: [rate_rcpt_null] per recipient, not [rate_rcpt_sender] */
	r = mkreq("198.18.0.7", "3", "3.1.1.0");
	r.sender[0] = '\0';
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	assert_string_equal(decide(&r, SEC), PD_ACTION_RATE);
	snprintf(r.recipient, sizeof(r.recipient), "other@example.test");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	assert_int_equal(n_verdicts, 0); /* no [penalty]: no verdict */
}

static void test_decide_host_names(void **state)
{
	struct pd_request r;

	(void)state;
	setup_policy("[rate_rcpt_host]\nenabled = true\nexample.test = 1/1h\n"
		     "198.18.9.0/24 = 3/1h\n");
	/* Postfix's verified name, matched by parent domain, case-insensitive */
	r = mkreq("198.18.0.5", "1", "1.1.1.0");
	snprintf(r.client_name, sizeof(r.client_name), "MX1.Example.Test");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	/* one counter for everything the lookup matches */
	r = mkreq("198.18.0.6", "2", "2.1.1.0");
	snprintf(r.client_name, sizeof(r.client_name), "mx2.example.test");
	assert_string_equal(decide(&r, SEC), PD_ACTION_RATE);
	/* an address lookup comes before the name */
	r = mkreq("198.18.9.7", "3", "3.1.1.0");
	snprintf(r.client_name, sizeof(r.client_name), "mx3.example.test");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	/* "unknown" (no verified name) matches no name lookup */
	r = mkreq("198.18.0.8", "4", "4.1.1.0");
	snprintf(r.client_name, sizeof(r.client_name), "unknown");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
}

static void test_decide_odd_requests(void **state)
{
	struct pd_request r;

	(void)state;
	setup_policy("[recipients]\nenabled = true\nmax = 1\n");
	r = mkreq("198.18.0.5", "1", "1.1.1.0");
	snprintf(r.protocol_state, sizeof(r.protocol_state), "MAIL");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	assert_int_equal(stats.not_rcpt, 1);
	r = mkreq("not-an-address", "1", "1.1.1.0");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	assert_logged("client_address is not an IP address");
	r = mkreq("198.18.0.5", "1", "1.1.1.0");
	r.request[0] = '\0';
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	r = mkreq("198.18.0.5", "1", "1.1.1.0");
	r.have_recipient = false;
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	assert_int_equal(stats.malformed, 3);
	/* none of them counted a recipient */
	r = mkreq("198.18.0.5", "1", "1.1.1.0");
	assert_string_equal(decide(&r, SEC), PD_ACTION_DUNNO);
	assert_string_equal(decide(&r, SEC), PD_ACTION_RCPT_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_attributes),
		cmocka_unit_test(test_request_bounds),
		cmocka_unit_test(test_instance),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_sessions_full),
		cmocka_unit_test_teardown(test_decide_recipients, teardown),
		cmocka_unit_test_teardown(test_decide_rates, teardown),
		cmocka_unit_test_teardown(test_decide_host_names, teardown),
		cmocka_unit_test_teardown(test_decide_odd_requests, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
