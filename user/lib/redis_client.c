/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * redis_client.c - hiredis async on evloop; see redis_client.h.
 *
 * The adapter: hiredis asks for read/write interest through five hooks
 * (addRead, delRead, addWrite, delWrite, cleanup); they become one mx_io
 * whose epoll set follows them.  The descriptor is hiredis's: cleanup only
 * deregisters it (mx_io_del), hiredis closes it.
 *
 * Every command takes a slot in a ring, in sending order; hiredis answers
 * in the same order, so the reply callback always belongs to the ring's
 * head, and the deadline timer watches only the head.
 */
#include "redis_client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <hiredis/async.h>

#include "log.h"

/* Reconnect backoff: first wait, then doubling up to the cap, with jitter. */
#define RC_BACKOFF_MIN_NS (100ULL * 1000000ULL)
#define RC_BACKOFF_MAX_NS (2000ULL * 1000000ULL)
/* A connect is allowed at least this long (TCP handshake on a busy LAN). */
#define RC_CONNECT_MIN_NS (500ULL * 1000000ULL)
/* Idle health check: finds a black hole without any traffic. */
#define RC_PING_EVERY_NS (1000ULL * 1000000ULL)

const double mx_redis_lat_bounds[MX_REDIS_LAT_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
};

enum rc_state { RC_DOWN, RC_CONNECTING, RC_HANDSHAKE, RC_UP };

struct slot {
	mx_redis_reply_fn fn;
	void *arg;
	uint64_t sent, deadline;
};

struct mx_redis {
	struct mx_loop *loop;
	struct mx_redis_conf conf;
	uint64_t timeout_ns;
	struct mx_redis_events ev;
	redisAsyncContext *ac;
	enum rc_state state;
	struct mx_io io;
	bool reading, writing;
	struct mx_timer deadline; /* the head command's, or the connect's */
	struct mx_timer retry;    /* reconnect, or the idle PING */
	uint64_t backoff_ns;
	unsigned handshake_left;
	bool handshake_failed;
	struct slot ring[MX_REDIS_INFLIGHT_MAX];
	unsigned head, n;
	struct mx_redis_stats st;
	bool logged_down;
};


const char *mx_redis_err_name(enum mx_redis_err e)
{
	static const char *const names[] = { "timeout", "connect", "reply", "lost", "busy" };

	return (unsigned)e < MX_REDIS_E__COUNT ? names[e] : "?";
}

static uint64_t now_ns(struct mx_redis *r)
{
	return mx_loop_now(r->loop);
}

/* ---- the evloop adapter ---- */

static void io_event(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct mx_redis *r = io->arg;
	redisAsyncContext *ac = r->ac;

	(void)l;
	if (!ac)
		return;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && r->reading)
		redisAsyncHandleRead(ac);
	/* the read may have ended the context (its cleanup cleared r->ac) */
	if (r->ac == ac && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && r->writing)
		redisAsyncHandleWrite(ac);
}

static void io_update(struct mx_redis *r)
{
	uint32_t want = (r->reading ? EPOLLIN : 0) | (r->writing ? EPOLLOUT : 0);

	if (!r->ac)
		return;
	if (!want) {
		mx_io_del(r->loop, &r->io);
		return;
	}
	if (r->io.fd < 0) {
		if (mx_io_add(r->loop, &r->io, r->ac->c.fd, want, io_event, r) < 0)
			mx_warn("redis: cannot watch the socket: %s", strerror(errno));
		return;
	}
	mx_io_set(r->loop, &r->io, want);
}

static void ev_add_read(void *p)
{
	struct mx_redis *r = p;

	r->reading = true;
	io_update(r);
}

static void ev_del_read(void *p)
{
	struct mx_redis *r = p;

	r->reading = false;
	io_update(r);
}

static void ev_add_write(void *p)
{
	struct mx_redis *r = p;

	r->writing = true;
	io_update(r);
}

static void ev_del_write(void *p)
{
	struct mx_redis *r = p;

	r->writing = false;
	io_update(r);
}

static void ev_cleanup(void *p)
{
	struct mx_redis *r = p;

	r->reading = r->writing = false;
	mx_io_del(r->loop, &r->io);
	r->ac = NULL;
}

/* ---- the ring of commands in flight ---- */

static void arm_deadline(struct mx_redis *r)
{
	if (r->n)
		mx_timer_set(r->loop, &r->deadline, r->ring[r->head].deadline);
	else if (r->state != RC_CONNECTING)
		mx_timer_del(r->loop, &r->deadline);
}

static void count_latency(struct mx_redis *r, uint64_t d)
{
	double s = (double)d / 1e9;

	r->st.lat_count++;
	r->st.lat_sum_ns += d;
	for (int i = 0; i < MX_REDIS_LAT_BUCKETS; i++)
		if (s <= mx_redis_lat_bounds[i])
			r->st.lat_bucket[i]++;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct mx_redis *r = priv;
	redisReply *rep = reply;
	struct slot s;

	(void)ac;
	if (!r->n) /* cannot happen: every command has its slot */
		return;
	s = r->ring[r->head];
	r->head = (r->head + 1) % MX_REDIS_INFLIGHT_MAX;
	r->n--;
	if (rep) {
		count_latency(r, now_ns(r) - s.sent);
		if (rep->type == REDIS_REPLY_ERROR)
			r->st.errors[MX_REDIS_E_REPLY]++;
	}
	arm_deadline(r);
	s.fn(r, rep, s.arg);
}

static int send_argv(struct mx_redis *r, mx_redis_reply_fn fn, void *arg, int argc,
		     const char **argv, const size_t *lens)
{
	struct slot *s;

	if (!r->ac || r->state < RC_HANDSHAKE)
		return -1;
	if (r->n == MX_REDIS_INFLIGHT_MAX) {
		r->st.errors[MX_REDIS_E_BUSY]++;
		return -1;
	}
	if (redisAsyncCommandArgv(r->ac, on_reply, r, argc, argv, lens) != REDIS_OK)
		return -1;
	s = &r->ring[(r->head + r->n++) % MX_REDIS_INFLIGHT_MAX];
	s->fn = fn;
	s->arg = arg;
	s->sent = now_ns(r);
	s->deadline = s->sent + r->timeout_ns;
	r->st.commands++;
	if (r->n == 1)
		arm_deadline(r);
	return 0;
}

int mx_redis_cmdv(struct mx_redis *r, mx_redis_reply_fn fn, void *arg, int argc,
		  const char **argv, const size_t *lens)
{
	if (r->state != RC_UP)
		return -1;
	return send_argv(r, fn, arg, argc, argv, lens);
}

int mx_redis_cmd(struct mx_redis *r, mx_redis_reply_fn fn, void *arg, const char *fmt, ...)
{
	va_list ap;
	char *cmd = NULL;
	int len, rc = -1;
	struct slot *s;

	if (r->state != RC_UP || !r->ac)
		return -1;
	if (r->n == MX_REDIS_INFLIGHT_MAX) {
		r->st.errors[MX_REDIS_E_BUSY]++;
		return -1;
	}
	va_start(ap, fmt);
	len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	if (redisAsyncFormattedCommand(r->ac, on_reply, r, cmd, (size_t)len) == REDIS_OK) {
		s = &r->ring[(r->head + r->n++) % MX_REDIS_INFLIGHT_MAX];
		s->fn = fn;
		s->arg = arg;
		s->sent = now_ns(r);
		s->deadline = s->sent + r->timeout_ns;
		r->st.commands++;
		if (r->n == 1)
			arm_deadline(r);
		rc = 0;
	}
	redisFreeCommand(cmd);
	return rc;
}

/* ---- state changes ---- */

static void schedule_retry(struct mx_redis *r)
{
	uint64_t j = r->backoff_ns / 4 ? (uint64_t)random() % (r->backoff_ns / 4) : 0;

	mx_timer_set(r->loop, &r->retry, now_ns(r) + r->backoff_ns + j);
	r->backoff_ns = r->backoff_ns * 2 > RC_BACKOFF_MAX_NS ? RC_BACKOFF_MAX_NS : r->backoff_ns * 2;
}

/* The connection is gone (or never came): tell, and try again later. */
static void went_down(struct mx_redis *r, bool was_up, enum mx_redis_err why,
		      const char *detail)
{
	char where[160];

	r->state = RC_DOWN;
	r->st.errors[why]++;
	mx_timer_del(r->loop, &r->deadline);
	if (was_up || !r->logged_down) {
		mx_warn("redis %s: %s%s%s; working without it until it is back",
			mx_redis_conf_where(&r->conf, where, sizeof(where)), mx_redis_err_name(why),
			detail ? ": " : "", detail ? detail : "");
		r->logged_down = true;
	}
	if (was_up) {
		r->st.up = false;
		r->st.changed_ns = now_ns(r);
		if (r->ev.down)
			r->ev.down(r, r->ev.arg);
	}
	schedule_retry(r);
}

/* Drop the connection ourselves (timeout): in-flight callbacks get NULL. */
static void drop(struct mx_redis *r, enum mx_redis_err why, const char *detail)
{
	redisAsyncContext *ac = r->ac;
	bool was_up = r->state == RC_UP;

	r->state = RC_DOWN; /* callbacks run below must not send on it */
	if (ac) {
		ac->onDisconnect = NULL;
		ac->onConnect = NULL;
		redisAsyncFree(ac); /* calls on_reply(NULL) for each, then cleanup */
	}
	r->ac = NULL;
	r->n = 0;
	went_down(r, was_up, why, detail);
}

static void on_deadline(struct mx_loop *l, struct mx_timer *t)
{
	struct mx_redis *r = t->arg;

	(void)l;
	if (r->handshake_failed)
		drop(r, MX_REDIS_E_REPLY, "not authorized");
	else
		drop(r, MX_REDIS_E_TIMEOUT, r->n ? "no reply in time" : "no connection in time");
}

static void handshake_reply(struct mx_redis *r, const redisReply *rep, void *arg)
{
	char where[160];

	(void)arg;
	if (!rep)
		return; /* the connection ended: went_down follows */
	if (rep->type == REDIS_REPLY_ERROR) {
		if (r->handshake_failed || r->logged_down)
			return;
		mx_warn("redis %s: the AUTH/SELECT on connect was refused: %s",
			mx_redis_conf_where(&r->conf, where, sizeof(where)), rep->str);
		/* dropped from the timer, not from inside hiredis */
		r->handshake_failed = true;
		mx_timer_set(r->loop, &r->deadline, now_ns(r));
		return;
	}
	if (r->handshake_failed)
		return;
	if (--r->handshake_left)
		return;
	r->state = RC_UP;
	r->st.up = true;
	r->st.connects++;
	r->st.changed_ns = now_ns(r);
	r->backoff_ns = RC_BACKOFF_MIN_NS;
	mx_info("redis %s: connected", mx_redis_conf_where(&r->conf, where, sizeof(where)));
	r->logged_down = false;
	mx_timer_set(r->loop, &r->retry, now_ns(r) + RC_PING_EVERY_NS);
	if (r->ev.up)
		r->ev.up(r, r->ev.arg);
}

static void start_handshake(struct mx_redis *r)
{
	char db[16];

	r->state = RC_HANDSHAKE;
	mx_timer_del(r->loop, &r->deadline); /* the connect's */
	r->handshake_left = 0;
	r->handshake_failed = false;
	if (r->conf.password[0]) {
		const char *a[3] = { "AUTH", r->conf.username, r->conf.password };
		int off = r->conf.username[0] ? 0 : 1;

		if (!off) {
			if (send_argv(r, handshake_reply, NULL, 3, a, NULL) == 0)
				r->handshake_left++;
		} else {
			const char *b[2] = { "AUTH", r->conf.password };

			if (send_argv(r, handshake_reply, NULL, 2, b, NULL) == 0)
				r->handshake_left++;
		}
	}
	snprintf(db, sizeof(db), "%u", (unsigned)r->conf.db);
	{
		const char *s[2] = { "SELECT", db };
		const char *p[1] = { "PING" };

		if ((r->conf.db ? send_argv(r, handshake_reply, NULL, 2, s, NULL)
				: send_argv(r, handshake_reply, NULL, 1, p, NULL)) == 0)
			r->handshake_left++;
	}
	if (!r->handshake_left)
		mx_timer_set(r->loop, &r->deadline, now_ns(r));
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct mx_redis *r = ac->data;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this returns */
		r->ac = NULL;
		r->n = 0;
		went_down(r, false, MX_REDIS_E_CONNECT, ac->errstr);
		return;
	}
	start_handshake(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct mx_redis *r = ac->data;

	bool was_up = r->state == RC_UP;

	(void)status;
	r->ac = NULL;
	r->n = 0;
	went_down(r, was_up, MX_REDIS_E_LOST, ac->errstr && ac->errstr[0] ? ac->errstr : "closed");
}

static void rc_connect(struct mx_redis *r)
{
	redisAsyncContext *ac;

	ac = r->conf.socket[0] ? redisAsyncConnectUnix(r->conf.socket)
			       : redisAsyncConnect(r->conf.host, r->conf.port);
	if (!ac) {
		went_down(r, false, MX_REDIS_E_CONNECT, "out of memory");
		return;
	}
	if (ac->err) {
		char why[128];

		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		went_down(r, false, MX_REDIS_E_CONNECT, why);
		return;
	}
	ac->data = r;
	ac->ev.data = r;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	r->ac = ac;
	r->state = RC_CONNECTING;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	/* the connect completes on the first write event */
	ev_add_write(r);
	mx_timer_set(r->loop, &r->deadline,
		     now_ns(r) + (r->timeout_ns > RC_CONNECT_MIN_NS ? r->timeout_ns : RC_CONNECT_MIN_NS));
}

static void ping_reply(struct mx_redis *r, const redisReply *rep, void *arg)
{
	(void)r;
	(void)rep;
	(void)arg;
}

static void on_retry(struct mx_loop *l, struct mx_timer *t)
{
	struct mx_redis *r = t->arg;

	(void)l;
	if (r->state == RC_DOWN) {
		rc_connect(r);
		return;
	}
	if (r->state == RC_UP) {
		if (!r->n)
			mx_redis_cmd(r, ping_reply, NULL, "PING");
		mx_timer_set(r->loop, &r->retry, now_ns(r) + RC_PING_EVERY_NS);
	}
}

struct mx_redis *mx_redis_new(struct mx_loop *l, const struct mx_redis_conf *c,
			      uint64_t timeout_ns, const struct mx_redis_events *ev)
{
	struct mx_redis *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->loop = l;
	r->conf = *c;
	r->timeout_ns = timeout_ns ? timeout_ns : c->timeout_ns;
	if (ev)
		r->ev = *ev;
	r->io.fd = -1;
	r->backoff_ns = RC_BACKOFF_MIN_NS;
	mx_timer_init(&r->deadline, on_deadline, r);
	mx_timer_init(&r->retry, on_retry, r);
	rc_connect(r);
	return r;
}

void mx_redis_free(struct mx_redis *r)
{
	if (!r)
		return;
	r->ev.down = NULL;
	r->ev.up = NULL;
	if (r->ac) {
		redisAsyncContext *ac = r->ac;

		r->state = RC_DOWN;
		ac->onDisconnect = NULL;
		ac->onConnect = NULL;
		redisAsyncFree(ac);
	}
	mx_timer_del(r->loop, &r->deadline);
	mx_timer_del(r->loop, &r->retry);
	free(r);
}

bool mx_redis_is_up(const struct mx_redis *r)
{
	return r && r->state == RC_UP;
}

const struct mx_redis_stats *mx_redis_stats(const struct mx_redis *r)
{
	return &r->st;
}

unsigned mx_redis_inflight(const struct mx_redis *r)
{
	return r->n;
}

void mx_redis_log_stats(const struct mx_redis *r, uint64_t rcpt_shared, uint64_t rcpt_fallback)
{
	const struct mx_redis_stats *rs = mx_redis_stats(r);

	mx_info("recipients counted in redis %" PRIu64 ", per node (redis unusable) %" PRIu64
		", redis %s", rcpt_shared, rcpt_fallback, mx_redis_is_up(r) ? "up" : "down");
	mx_info("redis: %" PRIu64 " commands, mean %.2f ms, connects %" PRIu64
		", errors timeout %" PRIu64 " connect %" PRIu64 " reply %" PRIu64 " lost %" PRIu64
		" busy %" PRIu64, rs->commands,
		rs->lat_count ? (double)rs->lat_sum_ns / (double)rs->lat_count / 1e6 : 0.0,
		rs->connects, rs->errors[MX_REDIS_E_TIMEOUT], rs->errors[MX_REDIS_E_CONNECT],
		rs->errors[MX_REDIS_E_REPLY], rs->errors[MX_REDIS_E_LOST],
		rs->errors[MX_REDIS_E_BUSY]);
}
