/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * session.c - one client, one backend: the sockets, the client's transport
 * (plain or TLS, tls.h), timers and the session's life.  What travels
 * between the two sides is relay.c's (session_int.h).
 *
 * TLS: with certificates configured the proxy is the client's TLS
 * endpoint: it answers STARTTLS itself (relay.c), or speaks TLS from the
 * first byte on listen_tls ports (then the backend connection opens once
 * the handshake is done), and every limit applies to the decrypted
 * commands.  Without certificates a STARTTLS the backend accepts turns the
 * session into an opaque tunnel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy_proto.h"
#include "session_int.h"

static void pump(struct px_session *s);

void px_session_kick(struct px_session *s)
{
	if (s->dead)
		return;
	s->more = true;
	mx_timer_set(s->srv->loop, &s->timer, mx_loop_now(s->srv->loop));
}

/* ---- closing ---- */

/* The backend connection, and its TLS state first: an SSL object must never
 * outlive its descriptor (the number may be reused by the next socket). */
static void be_close(struct px_session *s)
{
	px_tls_close(s->bssl);
	s->bssl = NULL;
	s->btls = TLS_OFF;
	mx_io_close(s->srv->loop, &s->be);
}

static void session_free(struct px_session *s)
{
	struct px_server *srv = s->srv;

	if (s->dead)
		return;
	s->dead = true;
	px_rcpt_detach(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	px_tls_close(s->ssl);
	s->ssl = NULL;
	mx_io_close(srv->loop, &s->cli);
	be_close(s);
	mx_timer_del(srv->loop, &s->timer);
	srv->n_sessions--;
	if (s->tarpit)
		srv->n_tarpitted--;
	s->phase = PH_CLOSING;
	mx_loop_defer_free(srv->loop, s);
}

/*
 * End the session with a last reply.  The backend is dropped at once:
 * whatever transaction it had open is abandoned, never completed.
 */
void px_close_with(struct px_session *s, const char *fmt, const char *detail)
{
	char line[512];
	int n;

	be_close(s);
	s->qn = 0;
	s->phase = PH_CLOSING;
	s->mode = CM_DISCARD;
	s->t_close = mx_loop_now(s->srv->loop) + CLOSE_FLUSH_NS;
	n = snprintf(line, sizeof(line), fmt, s->srv->hostname, detail);
	if (n > 0 && (size_t)n < sizeof(line) && mx_buf_fits(&s->cout, (size_t)n + 2))
		bput_line(&s->cout, line, (size_t)n);
}

/* ---- the client's transport: plain or TLS (tls.h) ---- */

/* As mx_buf_read: bytes read, 0 on EOF, -1 nothing now, -2 error. */
static ssize_t cli_read(struct px_session *s)
{
	size_t n;
	enum px_tls_io r;

	if (s->tls != TLS_ON)
		return mx_buf_read(s->cli.fd, &s->cin);
	s->tls_rd_wants_w = false;
	r = px_tls_read(s->ssl, &s->cin, &n);
	if (n)
		return (ssize_t)n; /* an EOF behind the data shows at the next read */
	switch (r) {
	case PX_TLS_OK:
	case PX_TLS_WANT_READ:
		return -1;
	case PX_TLS_WANT_WRITE:
		s->tls_rd_wants_w = true;
		return -1;
	case PX_TLS_EOF:
		return 0;
	default:
		return -2;
	}
}

/* As mx_buf_write: 0, or -2 on an error. */
static int cli_write(struct px_session *s)
{
	if (s->tls == TLS_OFF)
		return mx_buf_write(s->cli.fd, &s->cout);
	if (s->tls == TLS_HANDSHAKE)
		return 0; /* nothing goes out in the clear once it started */
	s->tls_wr_wants_r = false;
	switch (px_tls_write(s->ssl, &s->cout)) {
	case PX_TLS_OK:
	case PX_TLS_WANT_WRITE:
		return 0;
	case PX_TLS_WANT_READ:
		s->tls_wr_wants_r = true;
		return 0;
	default:
		return -2;
	}
}

static void start_backend(struct px_session *s);

/* Start the handshake on the client socket.  False: the session is gone. */
static bool tls_begin(struct px_session *s)
{
	s->ssl = px_tls_accept(s->srv->tls, s->cli.fd);
	if (!s->ssl) {
		mx_warn("%s: TLS: cannot create a session", s->cip);
		session_free(s);
		return false;
	}
	s->tls = TLS_HANDSHAKE;
	s->t_hs = mx_loop_now(s->srv->loop);
	return true;
}

/* Drive the handshake: 1 done, 0 waiting for the socket, -1 session gone. */
static int tls_step(struct px_session *s)
{
	char why[160] = "";
	enum px_tls_io r = px_tls_handshake(s->ssl, why, sizeof(why));

	s->tls_hs_wants_w = r == PX_TLS_WANT_WRITE;
	if (r == PX_TLS_WANT_READ || r == PX_TLS_WANT_WRITE)
		return 0;
	if (r != PX_TLS_OK) {
		s->srv->stats.tls_failed++;
		mx_info("%s: TLS handshake failed: %s", s->cip, why);
		session_free(s);
		return -1;
	}
	s->tls = TLS_ON;
	s->srv->stats.tls_sessions++;
	mx_debug("%s: TLS established: %s %s", s->cip, px_tls_version(s->ssl),
		 px_tls_cipher(s->ssl));
	if (s->phase == PH_TLSWAIT) {
		start_backend(s); /* listen_tls: the SMTP session starts now */
	} else {
		/* STARTTLS (RFC 3207 4.2): forget what the client said before;
		 * it starts again with EHLO */
		s->need_helo = true;
		s->have_mail = false;
		s->mode = CM_CMD;
	}
	return 1;
}

/* ---- the backend's transport: plain or TLS (backend_tls) ---- */

/* As mx_buf_read: bytes read, 0 on EOF, -1 nothing now, -2 error. */
static ssize_t be_read(struct px_session *s)
{
	size_t n;
	enum px_tls_io r;

	if (s->btls != TLS_ON)
		return mx_buf_read(s->be.fd, &s->bin);
	s->btls_rd_wants_w = false;
	r = px_tls_read(s->bssl, &s->bin, &n);
	if (n)
		return (ssize_t)n;
	switch (r) {
	case PX_TLS_OK:
	case PX_TLS_WANT_READ:
		return -1;
	case PX_TLS_WANT_WRITE:
		s->btls_rd_wants_w = true;
		return -1;
	case PX_TLS_EOF:
		return 0;
	default:
		return -2;
	}
}

/* As mx_buf_write: 0, or -2 on an error. */
static int be_write(struct px_session *s)
{
	if (s->btls == TLS_OFF)
		return mx_buf_write(s->be.fd, &s->bout);
	if (s->btls == TLS_HANDSHAKE)
		return 0;
	s->btls_wr_wants_r = false;
	switch (px_tls_write(s->bssl, &s->bout)) {
	case PX_TLS_OK:
	case PX_TLS_WANT_WRITE:
		return 0;
	case PX_TLS_WANT_READ:
		s->btls_wr_wants_r = true;
		return 0;
	default:
		return -2;
	}
}

static void backend_unreachable(struct px_session *s, const char *what, const char *why)
{
	s->srv->stats.backend_failed++;
	mx_warn("%s: %s", what, why);
	px_close_with(s, "421 4.4.1 %s Error: backend not reachable, try again later%s", "");
}

/* Drive the backend's handshake: 1 done, 0 waiting, -1 failed (closed). */
static int be_tls_step(struct px_session *s)
{
	char why[160] = "";
	enum px_tls_io r = px_tls_handshake(s->bssl, why, sizeof(why));
	const char *verr;

	s->btls_hs_wants_w = r == PX_TLS_WANT_WRITE;
	if (r == PX_TLS_WANT_READ || r == PX_TLS_WANT_WRITE)
		return 0;
	if (r != PX_TLS_OK) {
		verr = px_tls_verify_error(s->bssl);
		backend_unreachable(s, "backend TLS", verr ? verr : why);
		return -1;
	}
	s->btls = TLS_ON;
	s->be_connected = true;
	mx_debug("%s: backend TLS established: %s %s", s->cip, px_tls_version(s->bssl),
		 px_tls_cipher(s->bssl));
	return 1;
}

/* Decrypted backend bytes OpenSSL holds (a record larger than bin's room)
 * make no epoll event: read them whenever bin has room again. */
static void be_drain(struct px_session *s)
{
	while (s->btls == TLS_ON && px_tls_pending(s->bssl) && mx_buf_room(&s->bin) &&
	       s->phase != PH_CLOSING && be_read(s) > 0)
		px_backend_pump(s);
}

/* ---- sockets ---- */

static void backend_lost(struct px_session *s)
{
	s->be_eof = true;
	be_close(s);
	/* a backend that said goodbye (221, 421) leaves nothing to add */
	if (s->qn == 0 && (s->last_code == 221 || s->last_code == 421) && !mx_buf_len(&s->bin)) {
		s->phase = PH_CLOSING;
		s->t_close = mx_loop_now(s->srv->loop) + CLOSE_FLUSH_NS;
		return;
	}
	if (s->phase == PH_TUNNEL) {
		s->phase = PH_CLOSING; /* mid-TLS: no SMTP reply is possible */
		s->t_close = mx_loop_now(s->srv->loop) + CLOSE_FLUSH_NS;
		return;
	}
	px_close_with(s, "421 4.4.2 %s Error: connection to backend lost%s", "");
}

/* False when the session had to be freed. */
static bool update_events(struct px_session *s)
{
	struct mx_loop *l = s->srv->loop;
	uint32_t ce = 0, be = 0;

	if (s->tls == TLS_HANDSHAKE) {
		ce = s->tls_hs_wants_w ? EPOLLOUT : EPOLLIN;
	} else {
		if (s->phase != PH_CLOSING && !s->cli_eof && s->cin.cap - mx_buf_len(&s->cin) > 0)
			ce |= EPOLLIN;
		if (mx_buf_len(&s->cout) || s->tls_rd_wants_w)
			ce |= EPOLLOUT;
		if (s->tls_wr_wants_r)
			ce |= EPOLLIN;
	}
	if (mx_io_set(l, &s->cli, ce) < 0) {
		session_free(s);
		return false;
	}
	if (s->be.fd < 0)
		return true;
	if (s->btls == TLS_HANDSHAKE)
		be = s->btls_hs_wants_w ? EPOLLOUT : EPOLLIN;
	else if (!s->be_connected)
		/* a TLS backend waits for our ClientHello: writability says connected */
		be = mx_buf_len(&s->bout) || s->srv->btls ? EPOLLOUT : EPOLLIN;
	else {
		if (!s->be_eof && s->bin.cap - mx_buf_len(&s->bin) > 0)
			be |= EPOLLIN;
		if (mx_buf_len(&s->bout) || s->btls_rd_wants_w)
			be |= EPOLLOUT;
		if (s->btls_wr_wants_r)
			be |= EPOLLIN;
	}
	if (mx_io_set(l, &s->be, be) < 0)
		backend_lost(s);
	return true;
}

static uint64_t min_t(uint64_t a, uint64_t b) { return !a ? b : (!b || a < b ? a : b); }

/* The next moment something must happen to this session. */
static uint64_t deadline(struct px_session *s)
{
	const struct mx_proxy_conf *c = s->srv->conf;
	uint64_t d;

	if (s->more)
		return mx_loop_now(s->srv->loop);
	if (s->phase == PH_CLOSING)
		return s->t_close;
	if (s->phase == PH_PROXYHDR)
		return s->t_start + c->line_timeout_ns;
	if (s->phase == PH_TLSWAIT)
		return s->t_hs + c->tls_handshake_timeout_ns;
	d = s->t_activity +
	    (s->mode == CM_DATA || s->mode == CM_BDAT ? c->data_timeout_ns : c->idle_timeout_ns);
	if (!s->be_connected)
		d = min_t(d, s->t_start + c->connect_timeout_ns);
	if (s->t_line)
		d = min_t(d, s->t_line + c->line_timeout_ns);
	if (s->t_reply_at)
		d = min_t(d, s->t_reply_at);
	if (s->tls == TLS_HANDSHAKE)
		d = min_t(d, s->t_hs + c->tls_handshake_timeout_ns);
	return d;
}

static void on_timer(struct mx_loop *l, struct mx_timer *t)
{
	struct px_session *s = t->arg;
	uint64_t now = mx_loop_now(l);

	if (s->more) {
		pump(s); /* work left over from the last event: not a timeout */
		return;
	}
	if (s->phase == PH_CLOSING || s->phase == PH_PROXYHDR || s->phase == PH_TLSWAIT ||
	    s->tls == TLS_HANDSHAKE) {
		if (now >= deadline(s)) {
			if (s->phase != PH_CLOSING) {
				s->srv->stats.timeouts++;
				mx_debug("%s: %s timed out", s->cip,
					 s->tls == TLS_HANDSHAKE ? "TLS handshake" : "PROXY header");
			}
			session_free(s); /* no SMTP reply can be said here */
			return;
		}
	} else if (!s->be_connected && now >= s->t_start + s->srv->conf->connect_timeout_ns) {
		s->srv->stats.backend_failed++;
		mx_warn(s->btls == TLS_HANDSHAKE ? "backend TLS: handshake timed out"
						 : "backend connect timed out");
		px_close_with(s, "421 4.4.1 %s Error: backend not reachable, try again later%s", "");
	} else if (s->t_reply_at && now >= s->t_reply_at) {
		; /* tarpit over: pump sends the reply */
	} else if (now >= deadline(s)) {
		s->srv->stats.timeouts++;
		mx_debug("%s: timeout", s->cip);
		px_close_with(s, "421 4.4.2 %s Error: timeout exceeded%s", "");
	}
	pump(s);
}

/*
 * Bytes OpenSSL already took off the socket (read-ahead) make no epoll
 * event: whenever cin has room again they are read from OpenSSL's buffer,
 * or a session whose client sent a large body in one go would stall with
 * its data inside OpenSSL.  Bounded by OpenSSL's buffer.
 */
static void tls_drain(struct px_session *s)
{
	while (s->tls == TLS_ON && px_tls_pending(s->ssl) && mx_buf_room(&s->cin) &&
	       s->phase != PH_CLOSING && cli_read(s) > 0)
		px_client_pump(s);
}

/* After any event: move data as far as it goes, then re-arm. */
static void pump(struct px_session *s)
{
	struct mx_loop *l = s->srv->loop;

	if (s->dead)
		return;
	s->more = false;
	/* rounds while the client's bytes wait only for room in bout that the
	 * backend just gave (TLS read-ahead can hold more than cin); a few per
	 * event, then the timer, due at once, lets other sessions run first */
	for (int round = 0; s->phase != PH_PROXYHDR && s->phase != PH_TLSWAIT; round++) {
		s->bout_blocked = false;
		px_client_pump(s);
		tls_drain(s);
		if (s->be.fd >= 0 && s->be_connected && be_write(s) < 0)
			backend_lost(s);
		/* the client is gone and all it said is out: tell the backend */
		if (s->cli_eof && s->be.fd >= 0 && s->be_connected && !mx_buf_len(&s->bout) &&
		    !s->be_shut && s->phase != PH_CLOSING) {
			if (s->mode == CM_DATA || s->mode == CM_BDAT) {
				/* mid-message: the backend must not accept half of it */
				session_free(s);
				return;
			}
			shutdown(s->be.fd, SHUT_WR);
			s->be_shut = true;
		}
		px_backend_pump(s);
		be_drain(s);
		px_client_pump(s); /* replies may have unblocked DATA or freed slots */
		tls_drain(s);
		if (s->be.fd >= 0 && s->be_connected && be_write(s) < 0)
			backend_lost(s);
		if (!s->bout_blocked || s->phase == PH_CLOSING || s->be.fd < 0 ||
		    !mx_buf_room(&s->bout))
			break; /* nothing moves now, or the backend's EPOLLOUT will say when */
		if (round == 3) {
			s->more = true;
			break;
		}
	}
	if (s->cli.fd >= 0 && cli_write(s) < 0) {
		session_free(s);
		return;
	}
	if (s->tls_go && !mx_buf_len(&s->cout) && s->phase != PH_CLOSING) {
		/* our 220 is out: what the client pipelined behind STARTTLS is
		 * plaintext injection (CVE-2011-0411), dropped unread */
		s->tls_go = false;
		s->cin.r = s->cin.w = 0;
		if (!tls_begin(s) || tls_step(s) < 0)
			return;
	}
	if (s->phase == PH_CLOSING && !mx_buf_len(&s->cout)) {
		session_free(s);
		return;
	}
	if (!update_events(s))
		return;
	if (mx_timer_set(l, &s->timer, deadline(s)) < 0)
		session_free(s);
}

static void on_client(struct mx_loop *l, struct mx_io *io, uint32_t events);
static void on_backend(struct mx_loop *l, struct mx_io *io, uint32_t events);

/* IPv4-mapped IPv6 shown and matched as IPv4 (the shared space does so). */
static void set_client(struct px_session *s, const struct sockaddr_storage *ss)
{
	if (mx_addr_from_sockaddr((const struct sockaddr *)ss, &s->caddr) < 0)
		memset(&s->caddr, 0, sizeof(s->caddr)); /* listeners are IPv4/IPv6 only */
	mx_prefix_format(&s->caddr, s->cip, sizeof(s->cip));
}

/* The PROXY header for the backend, first bytes of bout. */
static int put_proxy_header(struct px_session *s)
{
	enum mx_proxy_protocol pp = s->srv->conf->proxy_protocol;
	uint8_t hdr[MX_PP_V2_MAX_TLS > MX_PP_V1_MAX + 1 ? MX_PP_V2_MAX_TLS : MX_PP_V1_MAX + 1];
	int n;

	if (pp == MX_PP_NONE)
		return 0;
	if (pp == MX_PP_V1)
		n = mx_pp_encode_v1((struct sockaddr *)&s->csrc, (struct sockaddr *)&s->cdst,
				    (char *)hdr, sizeof(hdr));
	else
		n = mx_pp_encode_v2((struct sockaddr *)&s->csrc, (struct sockaddr *)&s->cdst, hdr,
				    sizeof(hdr));
	/* listen_tls: the backend learns the client spoke TLS, and how (a
	 * STARTTLS session's header went out before its TLS began) */
	if (n > 0 && pp == MX_PP_V2 && s->tls == TLS_ON)
		n = mx_pp_v2_add_ssl(hdr, (size_t)n, sizeof(hdr), px_tls_version(s->ssl),
				     px_tls_cipher(s->ssl));
	if (n < 0)
		return -1;
	mx_buf_put(&s->bout, hdr, (size_t)n);
	return 0;
}

/*
 * Replies and forwarded commands are whole units written once: Nagle's
 * algorithm would hold the second of two writes (a body's last piece, the
 * greeting after TLS session tickets) for the peer's delayed ACK, up to
 * 40 ms each (docs/BENCHMARKS.md, TLS).
 */
static void no_delay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void start_backend(struct px_session *s)
{
	const struct mx_sockaddr *b = &s->srv->conf->backend;
	int fd;

	s->phase = PH_SMTP;
	s->t_start = mx_loop_now(s->srv->loop);
	qpush(s, PK_GREETING, 0, 0);
	if (s->srv->conf->backend_xclient)
		s->xc = XC_GREET;
	if (put_proxy_header(s) < 0) {
		mx_warn("%s: cannot encode a PROXY header for this address pair", s->cip);
		px_close_with(s, "421 4.3.0 %s Error: internal error%s", "");
		return;
	}
	fd = socket(b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		no_delay(fd);
	if (fd >= 0 && connect(fd, (const struct sockaddr *)&b->ss, b->len) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	/* a connect that fails shows as EPOLLERR/HUP, one that works as the
	 * greeting arriving: writability is needed only for a PROXY header */
	if (fd < 0 || mx_io_add(s->srv->loop, &s->be, fd,
				mx_buf_len(&s->bout) || s->srv->btls ? EPOLLOUT : EPOLLIN, on_backend,
				s) < 0) {
		if (fd >= 0)
			close(fd);
		s->srv->stats.backend_failed++;
		mx_warn("backend connect: %s", strerror(errno));
		px_close_with(s, "421 4.4.1 %s Error: backend not reachable, try again later%s", "");
	}
}

/* A trusted balancer's header: required, never guessed. */
static void read_proxy_header(struct px_session *s)
{
	unsigned accept = (unsigned)s->srv->conf->accept_proxy;
	struct mx_pp_info info;
	int n = mx_pp_decode((const uint8_t *)s->cin.d + s->cin.r, mx_buf_len(&s->cin), accept, &info);

	if (n == 0)
		return;
	if (n < 0) {
		mx_warn("%s: trusted peer sent no valid PROXY header; closing", s->cip);
		session_free(s);
		return;
	}
	s->cin.r += (uint32_t)n;
	if (info.has_addr) {
		s->csrc = info.src;
		s->cdst = info.dst;
		set_client(s, &s->csrc);
	}
	if (s->tls_implicit) {
		/* TLS starts right after the header */
		if (mx_buf_len(&s->cin)) {
			mx_info("%s: bytes after the PROXY header before TLS; closing", s->cip);
			session_free(s);
			return;
		}
		s->phase = PH_TLSWAIT;
		if (!tls_begin(s) || tls_step(s) < 0)
			return;
	} else {
		start_backend(s);
	}
	pump(s);
}

static void on_client(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct px_session *s = io->arg;
	ssize_t r = -1;

	(void)l;
	if (s->tls == TLS_HANDSHAKE) {
		int h = tls_step(s);

		if (h < 0)
			return;
		if (h == 0) {
			pump(s); /* re-arms the events the handshake waits for */
			return;
		}
	}
	/* TLS: SSL_read may want the socket writable (tls_rd_wants_w), so it
	 * is tried on any event; a read with nothing there costs one call */
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || s->tls == TLS_ON)
		r = cli_read(s);
	/* a reset or error with cin full (nothing read, no recv to report
	 * it): epoll reports HUP/ERR whatever the interest, so waiting for
	 * room would spin; a reset client hears no reply anyway */
	if (r == -1 && (events & (EPOLLHUP | EPOLLERR)))
		r = -2;
	if (r == -2 || (r == 0 && s->phase == PH_PROXYHDR)) {
		session_free(s);
		return;
	}
	if (r == 0)
		s->cli_eof = true;
	if (r > 0)
		s->t_activity = mx_loop_now(s->srv->loop);
	if (s->phase == PH_PROXYHDR) {
		read_proxy_header(s);
		return;
	}
	pump(s);
}

static void on_backend(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct px_session *s = io->arg;
	ssize_t r;

	(void)l;
	if (!s->be_tcp) {
		int err = 0;
		socklen_t el = sizeof(err);

		/* writable without an error condition is connected: no need to
		 * ask SO_ERROR on the common path */
		if (events & (EPOLLERR | EPOLLHUP))
			getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			backend_unreachable(s, "backend connect", strerror(err ? err : ECONNREFUSED));
			pump(s);
			return;
		}
		s->be_tcp = true;
		if (s->srv->btls) {
			s->bssl = px_tls_connect(s->srv->btls, io->fd);
			if (!s->bssl) {
				backend_unreachable(s, "backend TLS", "cannot create a session");
				pump(s);
				return;
			}
			s->btls = TLS_HANDSHAKE;
		} else {
			s->be_connected = true;
		}
	}
	if (s->btls == TLS_HANDSHAKE) {
		if (be_tls_step(s) <= 0) {
			pump(s); /* re-arms the events (or sends the 421) */
			return;
		}
		events |= EPOLLIN; /* the greeting may be in already */
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || s->btls == TLS_ON) {
		r = be_read(s);
		if (r > 0)
			s->t_activity = mx_loop_now(s->srv->loop);
		/* HUP/ERR with bin full: as on the client side, never reported
		 * by a read and never masked by epoll; the backend is gone */
		if (r == 0 || r == -2 || (r == -1 && (events & (EPOLLHUP | EPOLLERR)))) {
			px_backend_pump(s); /* what arrived before the close still counts */
			backend_lost(s);
		}
	}
	pump(s);
}

void px_session_accept(struct px_server *srv, int fd, const struct sockaddr_storage *peer,
		       bool tls)
{
	size_t sz = sizeof(struct px_session) + CIN_SIZE + BOUT_SIZE + BIN_SIZE + COUT_SIZE;
	struct px_session *s = malloc(sz);
	socklen_t ll = sizeof(s->local);

	if (!s) {
		close(fd);
		return;
	}
	memset(s, 0, sizeof(*s)); /* the buffers need no clearing */
	s->srv = srv;
	s->cli.fd = s->be.fd = -1;
	mx_buf_init(&s->cin, s->mem, CIN_SIZE);
	mx_buf_init(&s->bout, s->mem + CIN_SIZE, BOUT_SIZE);
	mx_buf_init(&s->bin, s->mem + CIN_SIZE + BOUT_SIZE, BIN_SIZE);
	mx_buf_init(&s->cout, s->mem + CIN_SIZE + BOUT_SIZE + BIN_SIZE, COUT_SIZE);
	mx_timer_init(&s->timer, on_timer, s);
	s->t_start = s->t_activity = mx_loop_now(srv->loop);
	s->peer = *peer;
	no_delay(fd);
	/* the local address only goes into PROXY headers */
	if ((srv->conf->proxy_protocol != MX_PP_NONE &&
	     getsockname(fd, (struct sockaddr *)&s->local, &ll) < 0) ||
	    mx_io_add(srv->loop, &s->cli, fd, EPOLLIN, on_client, s) < 0) {
		close(fd);
		free(s);
		return;
	}
	srv->n_sessions++;
	srv->stats.accepted++;
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	s->csrc = s->peer;
	s->cdst = s->local;
	set_client(s, &s->peer);
	s->tls_implicit = tls;
	if (srv->conf->accept_proxy != MX_PA_NONE && mx_proxy_conf_trusted(srv->conf, &s->caddr)) {
		s->phase = PH_PROXYHDR;
		mx_timer_set(srv->loop, &s->timer, deadline(s));
		return;
	}
	if (tls) {
		s->phase = PH_TLSWAIT;
		if (!tls_begin(s) || tls_step(s) < 0)
			return;
	} else {
		start_backend(s);
	}
	pump(s);
}

void px_session_close_all(struct px_server *srv)
{
	while (srv->sessions)
		session_free(srv->sessions);
}
