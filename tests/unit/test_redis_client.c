// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_redis_client.c - the async Redis client (user/lib/redis_client.c)
 * against a real redis-server this test starts on a unix socket in a
 * temporary directory (no TCP port, nothing left behind).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "evloop.h"
#include "rate_redis.h"
#include "redis_client.h"

static char dir[] = "/tmp/mxl-redis-test-XXXXXX";
static char sock[100];
static pid_t server = -1;

static void start_server(const char *pass)
{
	char *argv[16];
	int n = 0;

	unlink(sock);
	argv[n++] = "redis-server";
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--unixsocket";
	argv[n++] = sock;
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--dir";
	argv[n++] = dir;
	if (pass) {
		argv[n++] = "--requirepass";
		argv[n++] = (char *)pass;
	}
	argv[n] = NULL;
	server = fork();
	if (server == 0) {
		freopen("/dev/null", "w", stdout);
		execvp("redis-server", argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;

		if (stat(sock, &st) == 0)
			return;
		usleep(10000);
	}
	fail_msg("redis-server did not create %s", sock);
}

static void stop_server(void)
{
	if (server > 0) {
		kill(server, SIGCONT);
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
	}
	server = -1;
}

/* ---- driving the loop ---- */

struct run {
	struct mx_loop *l;
	struct mx_timer tick;
	int stop;
	bool (*cond)(void *);
	void *arg;
	uint64_t until;
};

static void on_tick(struct mx_loop *l, struct mx_timer *t)
{
	struct run *r = t->arg;

	if ((r->cond && r->cond(r->arg)) || mx_loop_now(l) >= r->until) {
		r->stop = 1;
		return;
	}
	mx_timer_set(l, t, mx_loop_now(l) + 2000000);
}

/* Run the loop until cond holds or ms pass; returns cond's last answer. */
static bool run_until(struct mx_loop *l, bool (*cond)(void *), void *arg, unsigned ms)
{
	struct run r = { .l = l, .cond = cond, .arg = arg };

	r.until = mx_loop_now(l) + (uint64_t)ms * 1000000ULL;
	mx_timer_init(&r.tick, on_tick, &r);
	mx_timer_set(l, &r.tick, mx_loop_now(l));
	mx_loop_run(l, &r.stop);
	mx_timer_del(l, &r.tick);
	return cond ? cond(arg) : true;
}

/* ---- callbacks ---- */

struct seen {
	int ups, downs;
	int replies, nulls;
	char last[1024];
	long long integer;
	int type;
};

static void ev_up(struct mx_redis *r, void *arg)
{
	(void)r;
	((struct seen *)arg)->ups++;
}

static void ev_down(struct mx_redis *r, void *arg)
{
	(void)r;
	((struct seen *)arg)->downs++;
}

static void got(struct mx_redis *r, const redisReply *rep, void *arg)
{
	struct seen *s = arg;

	(void)r;
	if (!rep) {
		s->nulls++;
		return;
	}
	s->replies++;
	s->type = rep->type;
	s->integer = rep->integer;
	snprintf(s->last, sizeof(s->last), "%s", rep->str ? rep->str : "");
}

struct upctx {
	struct mx_redis *r;
	struct seen *s;
	int want_ups, want_downs, want_replies;
};

static bool is_up(void *arg)
{
	return mx_redis_is_up(arg);
}

static bool is_down(void *arg)
{
	return !mx_redis_is_up(arg);
}

static bool replies_at_least(void *arg)
{
	struct upctx *u = arg;

	return u->s->replies + u->s->nulls >= u->want_replies;
}

static struct mx_redis_conf conf_for(const char *path)
{
	struct mx_redis_conf c;

	mx_redis_conf_init(&c);
	c.present = c.enabled = true;
	snprintf(c.socket, sizeof(c.socket), "%s", path);
	c.timeout_ns = 300ULL * 1000000ULL;
	return c;
}

/* ---- tests ---- */

static void test_roundtrip(void **state)
{
	struct mx_loop *l = mx_loop_new();
	struct seen s = { 0 };
	struct mx_redis_events ev = { ev_up, ev_down, &s };
	struct mx_redis_conf c = conf_for(sock);
	struct mx_redis *r;
	struct upctx u;

	(void)state;
	start_server(NULL);
	r = mx_redis_new(l, &c, 0, &ev);
	assert_non_null(r);
	assert_true(run_until(l, is_up, r, 3000));
	assert_int_equal(s.ups, 1);
	u = (struct upctx){ .r = r, .s = &s, .want_replies = 3 };
	assert_int_equal(mx_redis_cmd(r, got, &s, "SET %s %s", "k", "hello"), 0);
	assert_int_equal(mx_redis_cmd(r, got, &s, "GET %s", "k"), 0);
	assert_int_equal(mx_redis_cmd(r, got, &s, "INCRBY %s %d", "n", 41), 0);
	assert_true(run_until(l, replies_at_least, &u, 3000));
	assert_int_equal(s.nulls, 0);
	assert_int_equal(s.type, REDIS_REPLY_INTEGER);
	assert_int_equal(s.integer, 41);
	/* an error reply is passed as it is, and counted */
	u.want_replies = 4;
	assert_int_equal(mx_redis_cmd(r, got, &s, "NOSUCHCOMMAND"), 0);
	assert_true(run_until(l, replies_at_least, &u, 3000));
	assert_int_equal(s.type, REDIS_REPLY_ERROR);
	assert_int_equal(mx_redis_stats(r)->errors[MX_REDIS_E_REPLY], 1);
	assert_true(mx_redis_stats(r)->lat_count >= 4);
	assert_int_equal(mx_redis_inflight(r), 0);
	mx_redis_free(r);
	mx_loop_free(l);
	stop_server();
}

/* A stopped server: the command times out (NULL), the client goes down,
 * and is back by itself when the server is. */
static void test_timeout_and_reconnect(void **state)
{
	struct mx_loop *l = mx_loop_new();
	struct seen s = { 0 };
	struct mx_redis_events ev = { ev_up, ev_down, &s };
	struct mx_redis_conf c = conf_for(sock);
	struct mx_redis *r;
	struct upctx u;
	uint64_t t0;

	(void)state;
	start_server(NULL);
	r = mx_redis_new(l, &c, 0, &ev);
	assert_true(run_until(l, is_up, r, 3000));
	kill(server, SIGSTOP);
	u = (struct upctx){ .r = r, .s = &s, .want_replies = 2 };
	assert_int_equal(mx_redis_cmd(r, got, &s, "PING"), 0);
	assert_int_equal(mx_redis_cmd(r, got, &s, "PING"), 0);
	t0 = mx_loop_now(l);
	assert_true(run_until(l, replies_at_least, &u, 3000));
	/* both answered with NULL, once each, after the timeout */
	assert_int_equal(s.nulls, 2);
	assert_int_equal(s.replies, 0);
	assert_true(mx_loop_now(l) - t0 >= 250ULL * 1000000ULL);
	assert_false(mx_redis_is_up(r));
	assert_int_equal(s.downs, 1);
	assert_true(mx_redis_stats(r)->errors[MX_REDIS_E_TIMEOUT] >= 1);
	/* down: commands are refused, the callback never runs */
	assert_int_equal(mx_redis_cmd(r, got, &s, "PING"), -1);
	kill(server, SIGCONT);
	assert_true(run_until(l, is_up, r, 5000));
	assert_int_equal(s.ups, 2);
	mx_redis_free(r);
	mx_loop_free(l);
	stop_server();
}

/* No server at first: connect errors, then up once it appears; the
 * server killed under commands in flight answers them with NULL. */
static void test_refused_then_lost(void **state)
{
	struct mx_loop *l = mx_loop_new();
	struct seen s = { 0 };
	struct mx_redis_events ev = { ev_up, ev_down, &s };
	struct mx_redis_conf c = conf_for(sock);
	struct mx_redis *r;
	struct upctx u;

	(void)state;
	unlink(sock);
	r = mx_redis_new(l, &c, 0, &ev);
	run_until(l, NULL, NULL, 400);
	assert_false(mx_redis_is_up(r));
	assert_true(mx_redis_stats(r)->errors[MX_REDIS_E_CONNECT] >= 1);
	start_server(NULL);
	assert_true(run_until(l, is_up, r, 5000));
	u = (struct upctx){ .r = r, .s = &s, .want_replies = 1 };
	/* BLPOP holds the reply: the server dies before it answers */
	assert_int_equal(mx_redis_cmd(r, got, &s, "BLPOP nothing 0.2"), 0);
	stop_server();
	assert_true(run_until(l, replies_at_least, &u, 3000));
	assert_int_equal(s.nulls, 1);
	assert_true(run_until(l, is_down, r, 3000));
	assert_int_equal(s.downs, 1);
	mx_redis_free(r);
	mx_loop_free(l);
}

/* AUTH and SELECT on connect; a wrong password never comes up. */
static void test_auth_select(void **state)
{
	struct mx_loop *l = mx_loop_new();
	struct seen s = { 0 };
	struct mx_redis_events ev = { ev_up, ev_down, &s };
	struct mx_redis_conf c = conf_for(sock);
	struct mx_redis *r;
	struct upctx u;

	(void)state;
	start_server("sekrit");
	snprintf(c.password, sizeof(c.password), "wrong");
	r = mx_redis_new(l, &c, 0, &ev);
	run_until(l, NULL, NULL, 500);
	assert_false(mx_redis_is_up(r));
	assert_true(mx_redis_stats(r)->errors[MX_REDIS_E_REPLY] >= 1);
	mx_redis_free(r);

	snprintf(c.password, sizeof(c.password), "sekrit");
	c.db = 3;
	r = mx_redis_new(l, &c, 0, &ev);
	assert_true(run_until(l, is_up, r, 3000));
	u = (struct upctx){ .r = r, .s = &s, .want_replies = 1 };
	assert_int_equal(mx_redis_cmd(r, got, &s, "CLIENT INFO"), 0);
	assert_true(run_until(l, replies_at_least, &u, 3000));
	assert_non_null(strstr(s.last, " db=3 "));
	mx_redis_free(r);
	mx_loop_free(l);
	stop_server();
}

/* Freeing the client answers what is in flight with NULL, once. */
static void test_free_inflight(void **state)
{
	struct mx_loop *l = mx_loop_new();
	struct seen s = { 0 };
	struct mx_redis_conf c = conf_for(sock);
	struct mx_redis *r;

	(void)state;
	start_server(NULL);
	r = mx_redis_new(l, &c, 0, NULL);
	assert_true(run_until(l, is_up, r, 3000));
	for (int i = 0; i < 10; i++)
		assert_int_equal(mx_redis_cmd(r, got, &s, "PING"), 0);
	mx_redis_free(r);
	assert_int_equal(s.nulls + s.replies, 10);
	mx_loop_free(l);
	stop_server();
}

/* ---- the fleet's recipient counters (rate_redis.c) ---- */

struct rate_seen {
	int n, want;
	int results[16];
};

static void rate_got(void *arg, int result)
{
	struct rate_seen *r = arg;

	if (r->n < 16)
		r->results[r->n] = result;
	r->n++;
}

static bool rate_answers(void *arg)
{
	struct rate_seen *r = arg;

	return r->n >= r->want;
}

/* The same windows as the in-process store: a full counter refuses and
 * nothing is counted then; the window is the key's expiry. */
static void test_rate_window(void **state)
{
	struct mx_loop *l = mx_loop_new();
	struct seen s = { 0 };
	struct mx_redis_conf c = conf_for(sock);
	struct mx_rcpt_plan pl = { .early = MX_VIOL__COUNT, .n = 2 };
	struct rate_seen rs = { 0 };
	struct mx_redis *r;
	struct upctx u;

	(void)state;
	start_server(NULL);
	r = mx_redis_new(l, &c, 0, NULL);
	assert_true(run_until(l, is_up, r, 3000));
	snprintf(pl.p[0].key, sizeof(pl.p[0].key), "h|192.0.2.1");
	pl.p[0].limit = 3;
	pl.p[0].period_ns = 60ULL * 1000000000ULL;
	pl.p[0].viol = MX_VIOL_RATE_RCPT_HOST;
	snprintf(pl.p[1].key, sizeof(pl.p[1].key), "s|a@example.org");
	pl.p[1].limit = 5;
	pl.p[1].period_ns = 10ULL * 1000000000ULL;
	pl.p[1].viol = MX_VIOL_RATE_RCPT_SENDER;
	for (int i = 0; i < 5; i++)
		assert_int_equal(mx_rate_redis_check(r, "t:", &pl, rate_got, &rs), 0);
	rs.want = 5;
	assert_true(run_until(l, rate_answers, &rs, 3000));
	/* in order: three pass, then the host counter is full */
	assert_int_equal(rs.results[0], MX_VIOL__COUNT);
	assert_int_equal(rs.results[2], MX_VIOL__COUNT);
	assert_int_equal(rs.results[3], MX_VIOL_RATE_RCPT_HOST);
	assert_int_equal(rs.results[4], MX_VIOL_RATE_RCPT_HOST);
	/* refused recipients consumed nothing: the sender counter says 3 */
	u = (struct upctx){ .r = r, .s = &s, .want_replies = 1 };
	assert_int_equal(mx_redis_cmd(r, got, &s, "GET %s", "t:rc:s|a@example.org"), 0);
	assert_true(run_until(l, replies_at_least, &u, 3000));
	assert_string_equal(s.last, "3");
	/* the window is the key's life: the sender's 10 s */
	u.want_replies = 2;
	assert_int_equal(mx_redis_cmd(r, got, &s, "PTTL %s", "t:rc:s|a@example.org"), 0);
	assert_true(run_until(l, replies_at_least, &u, 3000));
	assert_true(s.integer > 0 && s.integer <= 10000);
	/* down: not sent, the caller decides itself */
	stop_server();
	assert_true(run_until(l, is_down, r, 3000));
	assert_int_equal(mx_rate_redis_check(r, "t:", &pl, rate_got, &rs), -1);
	mx_redis_free(r);
	mx_loop_free(l);
}

static int after(void **state)
{
	(void)state;
	stop_server();
	return 0;
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	stop_server();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_roundtrip, after),
		cmocka_unit_test_teardown(test_timeout_and_reconnect, after),
		cmocka_unit_test_teardown(test_refused_then_lost, after),
		cmocka_unit_test_teardown(test_auth_select, after),
		cmocka_unit_test_teardown(test_free_inflight, after),
		cmocka_unit_test_teardown(test_rate_window, after),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
