/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * verdict_client.c - non-blocking verdict client with a bounded queue and backoff.
 */
#include "verdict_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "iobuf.h"
#include "log.h"
#include "verdict_proto.h"

struct mx_vclient {
	struct mx_loop *loop;
	struct mx_io io;
	struct mx_timer retry;
	char path[108];
	uint64_t backoff_ns;
	/* ring of lines, each with its '\n'; [head, head + n_sent) are written
	 * and await a reply, woff bytes of the next one are written.  Lines,
	 * not a byte buffer: each stays queued until the daemon answers it,
	 * and after a reconnect the unanswered ones are sent again. */
	char q[MX_VCLIENT_QUEUE][MX_VERDICT_LINE_MAX + 2]; /* the line, LF, NUL */
	size_t head, n, n_sent, woff;
	struct mx_buf rx; /* replies (iobuf.h), over rx_mem */
	char rx_mem[MX_VERDICT_REPLY_MAX + 1]; /* a reply with its LF, NUL */
	bool warned_down, warned_full;
};

static void verdict_io(struct mx_loop *l, struct mx_io *io, uint32_t events);

static void schedule_retry(struct mx_vclient *v)
{
	if (!v->warned_down)
		mx_warn("verdict socket %s unavailable; retrying, %zu verdict(s) queued", v->path,
			v->n);
	v->warned_down = true;
	mx_timer_set(v->loop, &v->retry, mx_loop_now(v->loop) + v->backoff_ns);
	v->backoff_ns = v->backoff_ns * 2 > MX_VCLIENT_BACKOFF_MAX_NS ? MX_VCLIENT_BACKOFF_MAX_NS
								     : v->backoff_ns * 2;
}

static void disconnect(struct mx_vclient *v)
{
	mx_io_close(v->loop, &v->io);
	v->n_sent = 0; /* unanswered lines are sent again */
	v->woff = 0;
	mx_buf_init(&v->rx, v->rx_mem, sizeof(v->rx_mem) - 1);
	schedule_retry(v);
}

static void want_events(struct mx_vclient *v)
{
	uint32_t ev = EPOLLIN | (v->n > v->n_sent ? EPOLLOUT : 0);

	if (mx_io_set(v->loop, &v->io, ev) < 0)
		disconnect(v);
}

static void try_connect(struct mx_vclient *v)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (v->io.fd >= 0 || !v->path[0])
		return;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", v->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		schedule_retry(v);
		return;
	}
	/* a unix connect completes or fails at once; EAGAIN = backlog full */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    mx_io_add(v->loop, &v->io, fd, EPOLLIN, verdict_io, v) < 0) {
		close(fd);
		schedule_retry(v);
		return;
	}
	if (v->warned_down)
		mx_info("verdict socket %s connected", v->path);
	v->warned_down = false;
	want_events(v);
}

static void retry_fire(struct mx_loop *l, struct mx_timer *t)
{
	(void)l;
	try_connect(t->arg);
}

static void flush(struct mx_vclient *v)
{
	while (v->io.fd >= 0 && v->n_sent < v->n) {
		const char *line = v->q[(v->head + v->n_sent) % MX_VCLIENT_QUEUE];
		size_t len = strlen(line);
		ssize_t w = send(v->io.fd, line + v->woff, len - v->woff, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				disconnect(v);
			return;
		}
		v->woff += (size_t)w;
		if (v->woff == len) {
			v->woff = 0;
			v->n_sent++;
		}
	}
}

static void on_reply(struct mx_vclient *v, const char *line)
{
	const char *req = v->q[v->head % MX_VCLIENT_QUEUE];

	if (v->n_sent == 0) {
		mx_warn("verdict socket: unexpected reply \"%s\"", line);
		return;
	}
	if (strncmp(line, "OK", 2) != 0)
		mx_warn("verdict refused: %.*s -> %s", (int)strcspn(req, "\n"), req, line);
	v->head = (v->head + 1) % MX_VCLIENT_QUEUE;
	v->n--;
	v->n_sent--;
	v->backoff_ns = MX_VCLIENT_BACKOFF_MIN_NS; /* the daemon answers: healthy */
}

static void read_replies(struct mx_vclient *v)
{
	for (;;) {
		ssize_t r = mx_buf_read(v->io.fd, &v->rx);
		char *line, *lf;

		if (r == -1 && mx_buf_room(&v->rx))
			return; /* nothing more now */
		if (r == 0 || r == -2) {
			disconnect(v);
			return;
		}
		while ((line = mx_buf_data(&v->rx)),
		       (lf = memchr(line, '\n', mx_buf_len(&v->rx)))) {
			*lf = '\0';
			if (lf > line && lf[-1] == '\r')
				lf[-1] = '\0';
			on_reply(v, line);
			mx_buf_consume(&v->rx, (size_t)(lf + 1 - line));
		}
		if (mx_buf_len(&v->rx) == v->rx.cap) { /* a reply line without end */
			mx_warn("verdict socket: reply line too long");
			disconnect(v);
			return;
		}
	}
}

static void verdict_io(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct mx_vclient *v = io->arg;

	(void)l;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_replies(v);
	if (v->io.fd >= 0)
		flush(v);
	if (v->io.fd >= 0)
		want_events(v);
}

struct mx_vclient *mx_vclient_new(struct mx_loop *l, const char *path)
{
	struct mx_vclient *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->loop = l;
	v->io.fd = -1;
	mx_buf_init(&v->rx, v->rx_mem, sizeof(v->rx_mem) - 1);
	v->backoff_ns = MX_VCLIENT_BACKOFF_MIN_NS;
	snprintf(v->path, sizeof(v->path), "%s", path);
	mx_timer_init(&v->retry, retry_fire, v);
	try_connect(v);
	return v;
}

void mx_vclient_free(struct mx_vclient *v)
{
	if (!v)
		return;
	if (v->n)
		mx_warn("%zu verdict(s) not delivered at exit", v->n);
	mx_timer_del(v->loop, &v->retry);
	mx_io_close(v->loop, &v->io);
	free(v);
}

void mx_vclient_send(struct mx_vclient *v, const char *line)
{
	char *slot;

	mx_info("verdict: %s", line);
	if (!v->path[0])
		return;
	if (v->n == MX_VCLIENT_QUEUE || strlen(line) > MX_VERDICT_LINE_MAX) {
		if (!v->warned_full)
			mx_warn("verdict queue full or line too long: dropping \"%s\"", line);
		v->warned_full = true;
		return;
	}
	v->warned_full = false;
	slot = v->q[(v->head + v->n) % MX_VCLIENT_QUEUE];
	snprintf(slot, MX_VERDICT_LINE_MAX + 2, "%s\n", line);
	v->n++;
	if (v->io.fd >= 0) {
		flush(v);
		if (v->io.fd >= 0)
			want_events(v);
	}
}
