/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * server.c - mxlimit-policyd's listeners and policy connections; see
 * policyd.h.
 */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "iobuf.h"
#include "log.h"
#include "policyd.h"
#include "rate_redis.h"
#include "sysutil.h"

#define LISTEN_BACKLOG 1024
/* Room a reply needs: "action=" + the longest action + "\n\n". */
#define REPLY_MAX 128
#define TX_SIZE 2048

struct pd_conn {
	struct mx_io io;
	struct pd_server *srv;
	struct pd_conn *prev, *next;
	struct mx_timer idle;
	uint64_t last_ns;
	struct pd_request req;
	bool in_request; /* a request's first line was read */
	struct mx_buf rx, tx;
	/* a request waits for the fleet's counters: nothing more is read
	 * until it is answered; ask->c is cleared if the connection goes */
	struct pd_ask *ask;
	struct mx_rcpt_plan plan;
	char rx_mem[PD_LINE_MAX + 2]; /* one line with its LF */
	char tx_mem[TX_SIZE];
	char peer[64];
};

static void verdict_out(void *arg, const char *line)
{
	mx_vclient_send(arg, line);
}

void pd_ctx_init(struct pd_server *srv, struct pd_ctx *c)
{
	*c = (struct pd_ctx){
		.pol = srv->pol,
		.store = srv->store,
		.sessions = srv->sessions,
		.stats = &srv->stats,
		.verdict = verdict_out,
		.verdict_arg = srv->verdict,
	};
}

struct pd_ask {
	struct pd_conn *c; /* NULL once the connection is gone */
};

static void conn_close(struct pd_conn *c)
{
	struct pd_server *srv = c->srv;

	if (c->ask)
		c->ask->c = NULL;
	c->ask = NULL;
	mx_timer_del(srv->loop, &c->idle);
	mx_io_close(srv->loop, &c->io);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	mx_loop_defer_free(srv->loop, c);
}

/* A peer that broke the protocol's bounds: said once, connection ended. */
static void conn_drop(struct pd_conn *c, const char *why)
{
	c->srv->conns_dropped++;
	mx_warn("policy connection %s: %s; closing it", c->peer, why);
	conn_close(c);
}

static void on_idle(struct mx_loop *l, struct mx_timer *t)
{
	struct pd_conn *c = t->arg;
	uint64_t due = c->last_ns + c->srv->pol->policyd.idle_timeout_ns;

	if (mx_loop_now(l) < due) {
		mx_timer_set(l, &c->idle, due);
		return;
	}
	c->srv->idle_closed++;
	mx_debug("policy connection %s idle: closing it", c->peer);
	conn_close(c);
}

static void conn_pump(struct pd_conn *c);

static void reply(struct pd_conn *c, const char *action)
{
	char line[REPLY_MAX];
	int n;

	n = snprintf(line, sizeof(line), "action=%s\n\n", action);
	mx_buf_put(&c->tx, line, (size_t)n); /* room checked by the caller */
	pd_request_reset(&c->req);
	c->in_request = false;
}

/* Redis answered (or gave up): finish the request, go on reading. */
static void redis_answered(void *arg, int result)
{
	struct pd_ask *a = arg;
	struct pd_conn *c = a->c;

	free(a);
	if (!c)
		return;
	{
		struct pd_ctx ctx;

		c->ask = NULL;
		pd_ctx_init(c->srv, &ctx);
		reply(c, pd_decide_finish(&ctx, &c->req, mx_loop_now(c->srv->loop), &c->plan, result));
	}
	conn_pump(c);
}

static void answer(struct pd_conn *c)
{
	struct pd_server *srv = c->srv;
	uint64_t now = mx_loop_now(srv->loop);
	struct pd_ctx ctx;
	const char *action;
	struct pd_ask *a;

	pd_ctx_init(srv, &ctx);
	if (c->req.bad_lines)
		mx_warn("policy connection %s: %u line(s) without name=value ignored", c->peer,
			c->req.bad_lines);
	if (!srv->redis) {
		reply(c, pd_decide(&ctx, &c->req, now));
		return;
	}
	action = pd_decide_begin(&ctx, &c->req, now, &c->plan);
	if (action) {
		reply(c, action);
		return;
	}
	if ((a = malloc(sizeof(*a)))) {
		a->c = c;
		if (mx_rate_redis_check(srv->redis, srv->pol->redis.prefix, &c->plan, redis_answered,
					a) == 0) {
			c->ask = a;
			return; /* the reply comes with the answer */
		}
		free(a);
	}
	reply(c, pd_decide_finish(&ctx, &c->req, now, &c->plan, -1));
}

/* Every complete line in rx while a reply fits.  false: connection gone. */
static bool take_lines(struct pd_conn *c)
{
	char *line, *lf;

	while (!c->ask && mx_buf_fits(&c->tx, REPLY_MAX) && (line = mx_buf_data(&c->rx)) &&
	       (lf = memchr(line, '\n', mx_buf_len(&c->rx)))) {
		size_t len = (size_t)(lf - line);

		/* an empty line outside a request (Postfix never sends one) is
		 * an empty request: answered DUNNO as malformed */
		switch (pd_request_feed(&c->req, line, len)) {
		case PD_FEED_MORE:
			c->in_request = true;
			break;
		case PD_FEED_END:
			answer(c);
			break;
		case PD_FEED_TOO_LONG:
			conn_drop(c, "request over the size limit");
			return false;
		}
		mx_buf_consume(&c->rx, len + 1);
	}
	return true;
}

static void conn_events(struct mx_loop *l, struct mx_io *io, uint32_t events);

static void conn_pump(struct pd_conn *c)
{
	struct pd_server *srv = c->srv;
	bool eof = false;

	for (int round = 0; round < 16; round++) { /* bounded: others get their turn */
		ssize_t r;

		if (!take_lines(c))
			return;
		if (c->ask)
			break; /* a request waits for Redis: read on after it */
		if (!mx_buf_fits(&c->tx, REPLY_MAX))
			break; /* the peer is not reading its replies: wait */
		r = mx_buf_read(c->io.fd, &c->rx);
		if (r > 0) {
			c->last_ns = mx_loop_now(srv->loop);
			continue;
		}
		if (r == -1 && mx_buf_room(&c->rx) == 0) {
			conn_drop(c, "line over the length limit");
			return;
		}
		if (r == 0 || r == -2)
			eof = true;
		break;
	}
	if (mx_buf_len(&c->tx) && mx_buf_write(c->io.fd, &c->tx) < 0) {
		conn_close(c);
		return;
	}
	if (eof && !c->ask) {
		if (c->in_request || mx_buf_len(&c->rx))
			mx_info("policy connection %s closed in the middle of a request", c->peer);
		conn_close(c);
		return;
	}
	if (mx_io_set(srv->loop, &c->io,
		      (!c->ask && mx_buf_fits(&c->tx, REPLY_MAX) ? EPOLLIN : 0) |
			      (mx_buf_len(&c->tx) ? EPOLLOUT : 0)) < 0)
		conn_close(c);
}

static void conn_events(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct pd_conn *c = io->arg;

	(void)l;
	/* while a request waits for Redis nothing is read, so no read sees
	 * a reset (or a unix peer's close), and epoll reports HUP/ERR
	 * whatever the interest: the loop spun until Redis answered.  The
	 * peer cannot take the reply; conn_close detaches the request */
	if (c->ask && (events & (EPOLLHUP | EPOLLERR))) {
		mx_info("policy connection %s closed while its request waited for Redis", c->peer);
		conn_close(c);
		return;
	}
	conn_pump(c);
}

static void conn_new(struct pd_listener *ln, int fd, const struct sockaddr_storage *peer)
{
	struct pd_server *srv = ln->srv;
	struct pd_conn *c = calloc(1, sizeof(*c));
	mx_prefix p;

	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	mx_buf_init(&c->rx, c->rx_mem, sizeof(c->rx_mem) - 1);
	mx_buf_init(&c->tx, c->tx_mem, sizeof(c->tx_mem));
	if (peer->ss_family == AF_UNIX)
		snprintf(c->peer, sizeof(c->peer), "%.63s", ln->name);
	else if (mx_addr_from_sockaddr((const struct sockaddr *)peer, &p) == 0)
		mx_prefix_format(&p, c->peer, sizeof(c->peer));
	else
		snprintf(c->peer, sizeof(c->peer), "?");
	if (mx_io_add(srv->loop, &c->io, fd, EPOLLIN, conn_events, c) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->last_ns = mx_loop_now(srv->loop);
	mx_timer_init(&c->idle, on_idle, c);
	mx_timer_set(srv->loop, &c->idle, c->last_ns + srv->pol->policyd.idle_timeout_ns);
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	srv->conns_accepted++;
}

static void pause_listeners(void *arg, bool pause)
{
	struct pd_server *srv = arg;

	for (size_t i = 0; i < srv->n_listeners; i++)
		mx_io_set(srv->loop, &srv->listeners[i].io, pause ? 0 : EPOLLIN);
}

static void on_client(void *arg, int fd, const struct sockaddr_storage *peer)
{
	struct pd_listener *ln = arg;
	struct pd_server *srv = ln->srv;

	if (srv->n_conns >= srv->pol->policyd.max_clients) {
		/* Postfix then answers with its default_action */
		if (srv->conns_refused++ % 1000 == 0)
			mx_warn("max_clients %u policy connections reached: refusing (%llu so far)",
				srv->pol->policyd.max_clients,
				(unsigned long long)srv->conns_refused);
		close(fd);
		return;
	}
	conn_new(ln, fd, peer);
}

static void on_accept(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct pd_listener *ln = io->arg;

	(void)events;
	mx_accept_batch(l, io->fd, &ln->srv->accept_pause, on_client, ln);
}

/* A unix socket path in use by a live server is an error; a stale socket
 * file (nobody accepts on it) is replaced. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		errno = EADDRINUSE;
		return -1;
	}
	return unlink(path);
}

static int open_unix(struct pd_server *srv, const struct mx_policyd_listen *a,
		     struct pd_listener *ln)
{
	const struct mx_policyd_conf *pc = &srv->pol->policyd;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	gid_t gid = (gid_t)-1;
	struct group *gr;
	int fd = -1;

	if (mx_mkdir_parent(a->path, 0755, 0755) < 0 || clear_stale(a->path) < 0)
		goto fail;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", a->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail;
	snprintf(ln->unlink_path, sizeof(ln->unlink_path), "%s", a->path);
	if (pc->socket_group_set) {
		gid = pc->socket_group;
	} else if ((gr = getgrnam(MX_POLICYD_DEFAULT_SOCKET_GROUP))) {
		gid = gr->gr_gid;
	} else if ((pc->socket_mode & 0007) == 0) {
		mx_warn("%s: no group \"%s\" here: only root can connect (set socket_group)",
			ln->name, MX_POLICYD_DEFAULT_SOCKET_GROUP);
	}
	if (chmod(a->path, pc->socket_mode) < 0 ||
	    (gid != (gid_t)-1 && chown(a->path, (uid_t)-1, gid) < 0) ||
	    listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	return fd;
fail:
	mx_err("listen %s: %s", ln->name, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (ln->unlink_path[0])
		unlink(ln->unlink_path);
	ln->unlink_path[0] = '\0';
	return -1;
}

static int open_inet(const struct mx_policyd_listen *a, struct pd_listener *ln)
{
	int one = 1;
	int fd = socket(a->inet.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->inet.ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->inet.ss, a->inet.len) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	return fd;
fail:
	mx_err("listen %s: %s", ln->name, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int pd_listen(struct pd_server *srv)
{
	const struct mx_policyd_conf *pc = &srv->pol->policyd;

	mx_accept_pause_init(&srv->accept_pause, pause_listeners, srv);
	for (size_t i = 0; i < pc->n_listen; i++) {
		const struct mx_policyd_listen *a = &pc->listen[i];
		struct pd_listener *ln = &srv->listeners[srv->n_listeners];
		int fd;

		memset(ln, 0, sizeof(*ln));
		ln->io.fd = -1;
		ln->srv = srv;
		mx_policyd_listen_format(a, ln->name, sizeof(ln->name));
		fd = a->is_unix ? open_unix(srv, a, ln) : open_inet(a, ln);
		if (fd < 0)
			return -1;
		if (mx_io_add(srv->loop, &ln->io, fd, EPOLLIN, on_accept, ln) < 0) {
			close(fd);
			return -1;
		}
		srv->n_listeners++;
		mx_info("listening on %s", ln->name);
	}
	return 0;
}

void pd_shutdown(struct pd_server *srv)
{
	for (size_t i = 0; i < srv->n_listeners; i++) {
		struct pd_listener *ln = &srv->listeners[i];

		mx_io_close(srv->loop, &ln->io);
		if (ln->unlink_path[0])
			unlink(ln->unlink_path);
	}
	srv->n_listeners = 0;
	/* conn_close detaches a request waiting for Redis: mx_redis_free,
	 * after this, calls its callback, which must find no connection
	 * (the memory goes with the loop's deferred frees) */
	while (srv->conns)
		conn_close(srv->conns);
	mx_timer_del(srv->loop, &srv->accept_pause.resume);
}
