/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * session.c - one client, one backend, and the SMTP state between them.
 *
 * Commands are parsed line by line (smtp_parse.h: as permissive MTAs
 * tokenize them) and forwarded in their canonical spelling with CRLF, so
 * the backend reads exactly the commands the proxy judged and counted; a
 * line the proxy cannot read one way only is refused, never forwarded.  Every
 * forwarded command and every reply the proxy makes itself takes a slot in
 * an ordered queue; backend replies are matched to the queue head, so
 * replies reach the client in command order also under PIPELINING.
 * DATA and BDAT content is copied byte-exact, never parsed as commands.
 *
 * TLS: with certificates configured the proxy is the client's TLS
 * endpoint (tls.h): it answers STARTTLS itself (the backend never sees it,
 * and its STARTTLS capability is replaced by the proxy's own), or speaks
 * TLS from the first byte on listen_tls ports, and every limit applies to
 * the decrypted commands.  Without certificates a STARTTLS the backend
 * accepts turns the session into an opaque tunnel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iobuf.h"
#include "log.h"
#include "proxy.h"
#include "proxy_proto.h"
#include "smtp_parse.h"
#include "tls.h"

/* Buffer sizes.  cin holds the longest AUTH line plus a PROXY v2 header;
 * bout as much, so DATA moves in large chunks; replies are short. */
#define CIN_SIZE 8192
#define BOUT_SIZE 8192
#define BIN_SIZE 8192 /* a whole multi-line reply fits (see backend_reply) */
#define COUT_SIZE 8192
/* Commands in flight: RFC 2920 clients send a few dozen at most; more
 * waits in the socket. */
#define PIPELINE_MAX 64
/* Time to deliver a final 421 before the socket is dropped. */
#define CLOSE_FLUSH_NS (10ULL * 1000000000ULL)

enum phase {
	PH_PROXYHDR, /* waiting for a trusted balancer's PROXY header */
	PH_TLSWAIT,  /* listen_tls: the handshake comes before the backend */
	PH_SMTP,     /* relaying SMTP (the backend may still be connecting) */
	PH_TUNNEL,   /* after STARTTLS: bytes only */
	PH_CLOSING,  /* flushing a last reply to the client */
};

/* What the client's next bytes are. */
enum cmode {
	CM_CMD,     /* command lines */
	CM_WAIT,    /* nothing until the pending DATA/STARTTLS/AUTH reply */
	CM_AUTH,    /* one AUTH continuation line */
	CM_DISCARD, /* the rest of an overlong line */
	CM_DATA,    /* DATA content until CRLF.CRLF */
	CM_BDAT,    /* bdat_left octets of a BDAT chunk */
	CM_TUNNEL,  /* opaque */
};

enum pkind { PK_GREETING, PK_FWD, PK_DOT, PK_LOCAL };

/* The proxy's own replies, with the reply code that counts them. */
enum local_reply {
	LR_TOO_LONG,
	LR_NUL,
	LR_NOT_IMPL,
	LR_RCPT_MAX,
	LR_RATE,
	LR_PARSE, /* the parser's refusal, struct pend's perr */
	LR_STARTTLS,    /* the proxy terminates TLS: go ahead */
	LR_TLS_ACTIVE,
	LR_TLS_IN_MAIL,
	LR_TLS_FIRST,   /* tls_required */
	LR_HELO_FIRST,  /* after STARTTLS: EHLO again (RFC 3207 4.2) */
};
static const struct {
	int code;
	const char *text;
} local_replies[] = {
	[LR_TOO_LONG] = { 500, "500 5.5.2 Error: line too long" },
	[LR_NUL] = { 500, "500 5.5.2 Error: NUL character in command" },
	[LR_NOT_IMPL] = { 502, "502 5.5.1 Error: command not implemented" },
	[LR_RCPT_MAX] = { 452, "452 4.5.3 Error: too many recipients" },
	[LR_RATE] = { 450, "450 4.7.1 Error: recipient rate limit exceeded, try again later" },
	[LR_PARSE] = { 0, NULL },
	[LR_STARTTLS] = { 220, "220 2.0.0 Ready to start TLS" },
	[LR_TLS_ACTIVE] = { 503, "503 5.5.1 Error: TLS already active" },
	[LR_TLS_IN_MAIL] = { 503, "503 5.5.1 Error: MAIL transaction in progress" },
	[LR_TLS_FIRST] = { 530, "530 5.7.0 Must issue a STARTTLS command first" },
	[LR_HELO_FIRST] = { 503, "503 5.5.1 Error: send HELO/EHLO first" },
};

enum tls_state { TLS_OFF, TLS_HANDSHAKE, TLS_ON };

/* backend_xclient: the proxy's own exchange with the backend before it
 * relays (Postfix XCLIENT_README): greeting, EHLO, XCLIENT, whose 220 is
 * the greeting the client gets. */
enum xclient_state { XC_OFF, XC_GREET, XC_EHLO, XC_REPLY };

struct pend {
	uint8_t kind;  /* enum pkind */
	uint8_t verb;  /* enum mx_smtp_verb of a forwarded command */
	uint8_t local; /* enum local_reply */
	uint8_t perr;  /* enum mx_smtp_err of LR_PARSE */
};

struct px_session {
	struct px_server *srv;
	struct px_session *prev, *next; /* srv->sessions */
	struct mx_io cli, be;
	struct mx_timer timer;
	enum phase phase;
	enum cmode mode;
	bool be_connected, be_shut, cli_eof, be_eof, tarpit;
	bool dead; /* freed; memory lives until the loop's batch ends */
	/* TLS with the client (tls.h) */
	SSL *ssl;
	uint8_t tls;           /* enum tls_state */
	bool tls_implicit;     /* a listen_tls session */
	bool tls_go;           /* our 220 to STARTTLS is queued: handshake once it is out */
	bool need_helo;        /* after STARTTLS, until the next HELO/EHLO */
	bool tls_rd_wants_w, tls_wr_wants_r, tls_hs_wants_w;
	uint64_t t_hs;         /* handshake start */
	uint8_t xc;            /* enum xclient_state */
	struct mx_buf cin, bout, bin, cout;
	struct pend q[PIPELINE_MAX];
	unsigned qh, qn;
	struct mx_data_scan scan;
	uint64_t bdat_left;
	/* who: the real peer, and the client it stands for */
	struct sockaddr_storage peer, local, csrc, cdst;
	mx_prefix caddr;
	char cip[MX_PREFIX_STRLEN];
	/* transaction and per-connection counts */
	char sender[MX_SMTP_PATH_MAX + 1];
	bool have_mail;
	uint32_t n_rcpt;
	struct mx_conn_counts counts; /* [unrecognized_commands], [errors] */
	uint32_t reported; /* violations already sent as verdicts */
	int last_code;
	/* times (loop clock) */
	uint64_t t_start, t_activity, t_line, t_reply_at, t_close;
	char mem[]; /* the four buffers */
};

static void pump(struct px_session *s);

/* ---- buffers (iobuf.h) ---- */

/* Append a line plus CRLF; the caller checked mx_buf_fits(len + 2). */
static void bput_line(struct mx_buf *b, const char *line, size_t len)
{
	mx_buf_put(b, line, len);
	mx_buf_put(b, "\r\n", 2);
}

/* ---- the pending queue ---- */

static struct pend *qhead(struct px_session *s)
{
	return s->qn ? &s->q[s->qh] : NULL;
}

static void qpush(struct px_session *s, enum pkind kind, int verb, int local)
{
	struct pend *p = &s->q[(s->qh + s->qn++) % PIPELINE_MAX];

	p->kind = (uint8_t)kind;
	p->verb = (uint8_t)verb;
	p->local = (uint8_t)local;
	p->perr = 0;
}

static void qpop(struct px_session *s)
{
	s->qh = (s->qh + 1) % PIPELINE_MAX;
	s->qn--;
}

/* ---- closing ---- */

static void session_free(struct px_session *s)
{
	struct px_server *srv = s->srv;

	if (s->dead)
		return;
	s->dead = true;
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	px_tls_close(s->ssl);
	s->ssl = NULL;
	mx_io_close(srv->loop, &s->cli);
	mx_io_close(srv->loop, &s->be);
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
static void close_with(struct px_session *s, const char *fmt, const char *detail)
{
	char line[512];
	int n;

	mx_io_close(s->srv->loop, &s->be);
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

/* ---- limits ---- */

static void start_tarpit(struct px_session *s)
{
	struct px_server *srv = s->srv;

	if (s->tarpit || !srv->tarpit_ns)
		return;
	if (srv->n_tarpitted >= srv->conf->tarpit_max_sessions) {
		srv->stats.tarpit_full++;
		return;
	}
	s->tarpit = true;
	srv->n_tarpitted++;
}

static void violation(struct px_session *s, enum mx_violation v, bool tarpit)
{
	s->srv->stats.violations[v]++;
	/* one log line and one verdict per session and limit */
	if (!(s->reported & (1u << v))) {
		s->reported |= 1u << v;
		mx_info("%s: limit %s exceeded", s->cip, mx_violation_name(v));
		px_limits_verdict(s->srv, s->cip, v);
	} else {
		mx_debug("%s: limit %s exceeded again", s->cip, mx_violation_name(v));
	}
	if (tarpit)
		start_tarpit(s);
}

/*
 * Count a finished reply against [unrecognized_commands] / [errors].
 * Returns false when the session was closed (the limit was passed).
 */
static bool count_reply(struct px_session *s, int code)
{
	enum mx_violation v = mx_limits_reply(s->srv->pol, &s->caddr, &s->counts, code);

	if (v == MX_VIOL__COUNT)
		return true;
	violation(s, v, false);
	close_with(s, v == MX_VIOL_ERRORS ? "421 4.7.0 %s Error: too many errors%s"
					  : "421 4.7.0 %s Error: too many unrecognized commands%s",
		   "");
	return false;
}

/* Hold a reply back while tarpitted.  True: not yet. */
static bool tarpit_hold(struct px_session *s)
{
	uint64_t now = mx_loop_now(s->srv->loop);

	if (!s->tarpit)
		return false;
	if (!s->t_reply_at)
		s->t_reply_at = now + s->srv->tarpit_ns;
	return now < s->t_reply_at;
}

/* ---- client side: commands ---- */

static void forward_line(struct px_session *s, const char *line, size_t len, int verb)
{
	bput_line(&s->bout, line, len);
	qpush(s, PK_FWD, verb, 0);
}

static void local_reply(struct px_session *s, enum local_reply r)
{
	qpush(s, PK_LOCAL, 0, r);
}

/* A line the parser refused: answered here, never forwarded. */
static void parse_refusal(struct px_session *s, enum mx_smtp_err e)
{
	qpush(s, PK_LOCAL, 0, LR_PARSE);
	s->q[(s->qh + s->qn - 1) % PIPELINE_MAX].perr = (uint8_t)e;
}

static void cmd_mail(struct px_session *s, const struct mx_smtp_cmd *c, const char *line,
		     size_t len)
{
	/* the key always fits: the parser bounds the path */
	s->have_mail = mx_smtp_path_key(c->path, c->path_len, s->sender, sizeof(s->sender)) == 0;
	forward_line(s, line, len, MX_SMTP_MAIL);
}

static void cmd_rcpt(struct px_session *s, const struct mx_smtp_cmd *cmd, const char *line,
		     size_t len)
{
	char rcpt[MX_SMTP_PATH_MAX + 1];
	struct mx_rcpt_ctx c = {
		.client = &s->caddr, .client_ip = s->cip, .sender = s->sender,
		.rcpt = rcpt, .rcpts = s->n_rcpt,
	};
	enum mx_violation v;

	/* without a transaction the backend refuses it (503) */
	if (!s->have_mail || mx_smtp_path_key(cmd->path, cmd->path_len, rcpt, sizeof(rcpt)) < 0) {
		forward_line(s, line, len, MX_SMTP_RCPT);
		return;
	}
	v = mx_limits_rcpt(s->srv->pol, s->srv->store, mx_loop_now(s->srv->loop), &c);
	if (v == MX_VIOL__COUNT) {
		s->n_rcpt++;
		forward_line(s, line, len, MX_SMTP_RCPT);
		return;
	}
	violation(s, v, true);
	local_reply(s, v == MX_VIOL_RECIPIENTS ? LR_RCPT_MAX : LR_RATE);
}

/* What a session may send between STARTTLS and its next HELO/EHLO. */
static bool before_helo_ok(enum mx_smtp_verb v)
{
	return v == MX_SMTP_HELO || v == MX_SMTP_EHLO || v == MX_SMTP_LHLO || v == MX_SMTP_QUIT ||
	       v == MX_SMTP_NOOP || v == MX_SMTP_RSET || v == MX_SMTP_STARTTLS;
}

/* STARTTLS when the proxy holds the certificates: answered here. */
static void cmd_starttls(struct px_session *s)
{
	if (s->tls != TLS_OFF) {
		local_reply(s, LR_TLS_ACTIVE);
		return;
	}
	if (s->have_mail) {
		local_reply(s, LR_TLS_IN_MAIL);
		return;
	}
	/* nothing after it is read before the handshake: what the client
	 * pipelined behind it is dropped when our 220 is out */
	local_reply(s, LR_STARTTLS);
	s->mode = CM_WAIT;
}

/* A parsed command, forwarded as line (its canonical spelling). */
static void command(struct px_session *s, const struct mx_smtp_cmd *c, const char *line,
		    size_t len)
{
	enum mx_smtp_verb verb = c->verb;

	if (s->need_helo && !before_helo_ok(verb)) {
		local_reply(s, LR_HELO_FIRST);
		return;
	}
	if (verb == MX_SMTP_STARTTLS && s->srv->tls) {
		cmd_starttls(s);
		return;
	}
	if (verb == MX_SMTP_MAIL && s->srv->conf->tls_required && s->tls != TLS_ON) {
		local_reply(s, LR_TLS_FIRST);
		return;
	}
	switch (verb) {
	case MX_SMTP_XCLIENT:
	case MX_SMTP_XFORWARD:
	case MX_SMTP_PROXY:
		local_reply(s, LR_NOT_IMPL); /* never let a client speak for another */
		return;
	case MX_SMTP_MAIL:
		cmd_mail(s, c, line, len);
		return;
	case MX_SMTP_RCPT:
		cmd_rcpt(s, c, line, len);
		return;
	case MX_SMTP_BDAT:
		forward_line(s, line, len, MX_SMTP_BDAT);
		s->bdat_left = c->bdat_size;
		if (c->bdat_size)
			s->mode = CM_BDAT;
		return;
	case MX_SMTP_DATA:
	case MX_SMTP_STARTTLS:
	case MX_SMTP_AUTH:
		/* what follows depends on the reply: read nothing until it */
		s->mode = CM_WAIT;
		break;
	case MX_SMTP_HELO:
	case MX_SMTP_EHLO:
	case MX_SMTP_LHLO:
		s->need_helo = false;
		/* fall through */
	case MX_SMTP_RSET:
		s->have_mail = false;
		break;
	default:
		break;
	}
	forward_line(s, line, len, verb);
}

static size_t line_limit(struct px_session *s, const char *p, size_t n)
{
	/* the verb as far as the line has come: "AUTH" is a whole word */
	if (s->mode == CM_AUTH || mx_smtp_verb(p, n) == MX_SMTP_AUTH)
		return MX_SMTP_AUTH_LINE_MAX;
	return MX_SMTP_LINE_MAX;
}

/* A control character (HTAB included): no SASL response holds one. */
static bool has_ctl(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return true;
	return false;
}

/* One command line from cin.  False when nothing more can be done now. */
static bool client_line(struct px_session *s)
{
	char *p = s->cin.d + s->cin.r, *lf;
	size_t n = mx_buf_len(&s->cin), len, max;

	if (s->qn >= PIPELINE_MAX || !n)
		return false;
	lf = memchr(p, '\n', n);
	max = line_limit(s, p, lf ? (size_t)(lf - p) : n);
	if (!lf) {
		if (n < max)
			return false;
		/* overlong and still growing: refuse, drop the rest of it */
		s->cin.r += (uint32_t)n;
		s->mode = CM_DISCARD;
		local_reply(s, LR_TOO_LONG);
		return true;
	}
	len = (size_t)(lf - p);
	s->cin.r += (uint32_t)(len + 1);
	if (len && p[len - 1] == '\r')
		len--; /* a bare LF ends a command line too; we send CRLF on */
	if (s->mode == CM_AUTH && (len + 2 > max || has_ctl(p, len))) {
		/* the backend waits for this response: cancel the exchange
		 * (RFC 4954 4: "*"), its 501 answers the client */
		if (!mx_buf_fits(&s->bout, 3)) {
			s->cin.r -= (uint32_t)(lf - p) + 1;
			return false;
		}
		bput_line(&s->bout, "*", 1);
		s->mode = CM_WAIT;
		return true;
	}
	if (len + 2 > max) {
		local_reply(s, LR_TOO_LONG);
		return true;
	}
	if (memchr(p, '\0', len)) {
		local_reply(s, LR_NUL);
		return true;
	}
	/* the canonical spelling is at most 2 bytes longer (brackets) */
	if (!mx_buf_fits(&s->bout, len + 4)) {
		s->cin.r -= (uint32_t)(lf - p) + 1; /* retry when bout drains */
		return false;
	}
	if (s->mode == CM_AUTH) {
		/* a SASL response, not a command: the AUTH entry at the queue
		 * head takes the reply to it */
		bput_line(&s->bout, p, len);
		s->mode = CM_WAIT;
		return true;
	}
	{
		char canon[MX_SMTP_AUTH_LINE_MAX + 8];
		struct mx_smtp_cmd c;
		enum mx_smtp_err e = mx_smtp_parse(p, len, &c);
		int n2 = e == MX_SMTP_OK ? mx_smtp_canon(&c, canon, sizeof(canon)) : -1;

		if (e != MX_SMTP_OK || n2 < 0) {
			parse_refusal(s, e != MX_SMTP_OK ? e : MX_SMTP_E_EMPTY);
			return true;
		}
		command(s, &c, canon, (size_t)n2);
	}
	return true;
}

static bool client_discard(struct px_session *s)
{
	char *p = s->cin.d + s->cin.r, *lf = memchr(p, '\n', mx_buf_len(&s->cin));

	if (!lf) {
		s->cin.r = s->cin.w;
		return false;
	}
	s->cin.r += (uint32_t)(lf - p) + 1;
	s->mode = CM_CMD;
	return true;
}

/* DATA content: copied as is until the end-of-data line. */
static bool client_data(struct px_session *s)
{
	size_t n = mx_buf_len(&s->cin), room = mx_buf_room(&s->bout), used;
	enum mx_data_result r;

	if (n > room)
		n = room;
	if (!n)
		return false;
	r = mx_data_scan(&s->scan, s->cin.d + s->cin.r, n, &used);
	mx_buf_put(&s->bout, s->cin.d + s->cin.r, used);
	s->cin.r += (uint32_t)used;
	if (r == MX_DATA_END) {
		s->mode = CM_CMD; /* RFC 2920: commands may follow the dot at once */
		return true;
	}
	if (r == MX_DATA_BAD) {
		/* as Postfix's smtpd_forbid_bare_newline: refuse and hang up */
		s->srv->stats.violations[MX_VIOL_ERRORS]++;
		mx_info("%s: bare LF around end of data", s->cip);
		close_with(s, "521 5.5.2 %s Error: bare <LF> received%s", "");
		return false;
	}
	return true;
}

static bool client_raw(struct px_session *s, uint64_t *left)
{
	uint64_t n = mx_buf_len(&s->cin), room = mx_buf_room(&s->bout);

	if (n > room)
		n = room;
	if (left && n > *left)
		n = *left;
	if (!n)
		return false;
	mx_buf_put(&s->bout, s->cin.d + s->cin.r, n);
	s->cin.r += (uint32_t)n;
	if (left && (*left -= n) == 0)
		s->mode = CM_CMD;
	return true;
}

/* Move what can move from cin to bout. */
static void client_pump(struct px_session *s)
{
	bool more = true;

	if (s->xc != XC_OFF)
		return; /* the hand-off comes first: the client waits for its greeting */

	while (more && s->phase != PH_CLOSING) {
		switch (s->mode) {
		case CM_CMD:
		case CM_AUTH:
			more = client_line(s);
			if (more)
				s->t_line = 0; /* a line completed: the clock restarts */
			break;
		case CM_DISCARD:
			more = client_discard(s);
			break;
		case CM_DATA:
			more = client_data(s);
			break;
		case CM_BDAT:
			more = client_raw(s, &s->bdat_left);
			break;
		case CM_TUNNEL:
			more = client_raw(s, NULL);
			break;
		case CM_WAIT:
			more = false;
			break;
		}
	}
	/* a partial command line is on the clock (slow-drip clients) */
	if ((s->mode == CM_CMD || s->mode == CM_AUTH || s->mode == CM_DISCARD) && mx_buf_len(&s->cin)) {
		if (!s->t_line)
			s->t_line = mx_loop_now(s->srv->loop);
	} else {
		s->t_line = 0;
	}
}

/* ---- backend side: replies ---- */

/*
 * The reply for the queue head is complete: update state.  False when
 * the backend asks for something the proxy did not send it a command
 * for (an intermediate reply to anything but DATA's 354 or AUTH's 334):
 * the two no longer agree on what the client's next bytes are.
 */
static bool reply_done(struct px_session *s, struct pend *h, int code)
{
	if (h->kind == PK_FWD && h->verb == MX_SMTP_DATA && code == 354) {
		h->kind = PK_DOT; /* the final reply comes after the content */
		mx_data_scan_init(&s->scan);
		s->mode = CM_DATA;
		return true;
	}
	if (h->kind == PK_FWD && h->verb == MX_SMTP_AUTH && code == 334) {
		s->mode = CM_AUTH;
		return true;
	}
	if (code >= 300 && code < 400)
		return false;
	if (h->kind == PK_DOT)
		s->have_mail = false;
	if (h->kind == PK_FWD && h->verb == MX_SMTP_STARTTLS && code == 220) {
		/* Anything the client sent after STARTTLS before seeing this
		 * reply is plaintext injection (CVE-2011-0411): drop it. */
		s->cin.r = s->cin.w;
		s->mode = CM_TUNNEL;
		s->phase = PH_TUNNEL;
		mx_debug("%s: STARTTLS: tunnel, limits frozen", s->cip);
	} else if (h->kind == PK_FWD && (h->verb == MX_SMTP_DATA || h->verb == MX_SMTP_AUTH ||
					 h->verb == MX_SMTP_STARTTLS)) {
		s->mode = CM_CMD;
	}
	qpop(s);
	return true;
}

/* Emit a local reply at the queue head.  False: blocked for now. */
static bool emit_local(struct px_session *s, struct pend *h)
{
	const char *text = local_replies[h->local].text;
	int code = local_replies[h->local].code;
	size_t len;

	if (h->local == LR_PARSE)
		text = mx_smtp_err_reply((enum mx_smtp_err)h->perr, &code);
	len = strlen(text);
	if (tarpit_hold(s) || !mx_buf_fits(&s->cout, len + 2))
		return false;
	s->t_reply_at = 0;
	qpop(s);
	if (!count_reply(s, code))
		return false;
	bput_line(&s->cout, text, len);
	if (h->local == LR_STARTTLS)
		s->tls_go = true; /* pump starts the handshake once cout is out */
	return true;
}

/* "250-STARTTLS" or "250 STARTTLS" (any case, trailing blanks). */
static bool starttls_line(const char *q, size_t len)
{
	while (len > 4 && (q[len - 1] == ' ' || q[len - 1] == '\t'))
		len--;
	return len == 12 && strncasecmp(q + 4, "STARTTLS", 8) == 0;
}

static void put_reply_line(struct mx_buf *b, int code, bool last, const char *text, size_t n)
{
	char head[4] = { (char)('0' + code / 100 % 10), (char)('0' + code / 10 % 10),
			 (char)('0' + code % 10), last ? ' ' : '-' };

	mx_buf_put(b, head, 4);
	mx_buf_put(b, text, n);
	mx_buf_put(b, "\r\n", 2);
}

/*
 * An EHLO reply while the proxy holds the TLS endpoint: the backend's
 * STARTTLS line never reaches the client (the backend does not speak TLS
 * with it), and the proxy's own comes right after the greeting line while
 * the session is not yet encrypted.  [p, end) is the whole reply.
 */
static void put_ehlo(struct px_session *s, const char *p, const char *end, int code)
{
	bool offer = s->tls == TLS_OFF;
	size_t total = offer, idx = 0;
	const char *q, *lf;

	for (q = p; q < end; q = lf + 1) {
		size_t len;

		lf = memchr(q, '\n', (size_t)(end - q));
		len = (size_t)(lf - q) - (lf > q && lf[-1] == '\r');
		total += q == p || !starttls_line(q, len);
	}
	for (q = p; q < end; q = lf + 1) {
		size_t len;
		bool first = q == p;

		lf = memchr(q, '\n', (size_t)(end - q));
		len = (size_t)(lf - q) - (lf > q && lf[-1] == '\r');
		if (!first && starttls_line(q, len))
			continue;
		put_reply_line(&s->cout, code, ++idx == total, len > 4 ? q + 4 : "", len > 4 ? len - 4 : 0);
		if (first && offer)
			put_reply_line(&s->cout, code, ++idx == total, "STARTTLS", 8);
	}
}

static void bad_reply(struct px_session *s)
{
	close_with(s, "421 4.4.2 %s Error: bad reply from backend%s", "");
}

/*
 * One whole backend reply, all its lines, from bin to cout.  A reply
 * moves only once its last line is in: when a limit ends the session on
 * it, the proxy's 421 replaces the whole reply (RFC 5321 4.2.1: one code
 * per reply), and the tarpit holds a reply, not a line.  False: blocked,
 * incomplete, or closed.
 */
static bool backend_reply(struct px_session *s)
{
	char *p = s->bin.d + s->bin.r, *end = p + mx_buf_len(&s->bin), *q = p, *lf;
	struct pend *h = qhead(s);
	size_t out = 0, len;
	int code = -1, c;
	bool last = false, ehlo;

	while (!last) {
		lf = memchr(q, '\n', (size_t)(end - q));
		if (!lf) {
			if (mx_buf_len(&s->bin) == s->bin.cap) /* a reply this long is no reply */
				bad_reply(s);
			return false;
		}
		len = (size_t)(lf - q);
		if (len && q[len - 1] == '\r')
			len--;
		if (mx_smtp_reply_line(q, len, &c, &last) < 0 || (code >= 0 && c != code)) {
			bad_reply(s);
			return false;
		}
		code = c;
		out += len + 2;
		q = lf + 1;
	}
	/* the proxy's STARTTLS line may be added (put_ehlo) */
	ehlo = s->srv->tls && h && h->kind == PK_FWD && h->verb == MX_SMTP_EHLO && code == 250;
	if (ehlo)
		out += 14;
	/* bare-LF lines grow by their CR: a reply cout can never hold would
	 * wait for room forever */
	if (out > s->cout.cap) {
		bad_reply(s);
		return false;
	}
	/* the first line of a reply waits out the tarpit */
	if (tarpit_hold(s) || !mx_buf_fits(&s->cout, out))
		return false;
	s->t_reply_at = 0;
	s->bin.r += (uint32_t)(q - p);
	s->last_code = code;
	if (h && h->kind != PK_LOCAL) {
		if (!reply_done(s, h, code)) {
			mx_info("%s: backend replied %d out of turn; closing", s->cip, code);
			bad_reply(s);
			return false;
		}
		if (!count_reply(s, code))
			return false; /* its 421 replaced this reply */
	}
	if (ehlo) {
		put_ehlo(s, p, s->bin.d + s->bin.r, code);
		return true;
	}
	for (q = p; out; ) {
		lf = memchr(q, '\n', (size_t)(end - q));
		len = (size_t)(lf - q);
		if (len && q[len - 1] == '\r')
			len--;
		bput_line(&s->cout, q, len);
		out -= len + 2;
		q = lf + 1;
	}
	return true;
}

/*
 * One whole reply of the backend to the proxy's own commands (XCLIENT
 * hand-off), consumed.  1 with *code (and whether a line announces
 * XCLIENT), 0 incomplete, -1 malformed.
 */
static int own_reply(struct px_session *s, int *code, bool *xclient)
{
	char *p = mx_buf_data(&s->bin), *end = p + mx_buf_len(&s->bin), *q = p, *lf;
	bool last = false;
	int c;

	*code = -1;
	*xclient = false;
	while (!last) {
		size_t len;

		lf = memchr(q, '\n', (size_t)(end - q));
		if (!lf)
			return mx_buf_len(&s->bin) == s->bin.cap ? -1 : 0;
		len = (size_t)(lf - q) - (lf > q && lf[-1] == '\r');
		if (mx_smtp_reply_line(q, len, &c, &last) < 0 || (*code >= 0 && c != *code))
			return -1;
		*code = c;
		if (len >= 11 && strncasecmp(q + 4, "XCLIENT", 7) == 0 &&
		    (len == 11 || q[11] == ' ') && memmem(q + 11, len - 11, "ADDR", 4))
			*xclient = true;
		q = lf + 1;
	}
	mx_buf_consume(&s->bin, (size_t)(q - p));
	return 1;
}

/* "XCLIENT ADDR=... PORT=... NAME=[UNAVAILABLE]" for the real client. */
static int xclient_line(struct px_session *s, char *out, size_t len)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->csrc;
	unsigned port = 0;

	if (sa->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	/* no reverse lookup here: the name is unavailable, as nginx's mail
	 * proxy says without a resolver (Postfix logs "unknown[ADDR]") */
	return snprintf(out, len, "XCLIENT ADDR=%s%s PORT=%u NAME=[UNAVAILABLE]",
			mx_prefix_is_v4(&s->caddr) ? "" : "IPV6:", s->cip, port);
}

/* The hand-off before relaying.  False: not done yet (or closed). */
static bool xclient_pump(struct px_session *s)
{
	char line[160];
	bool offered;
	int code, n, r;

	while (s->xc != XC_OFF) {
		if (s->xc == XC_REPLY) {
			/* a 220 to XCLIENT is the backend's greeting for the real
			 * client: it goes to the client as such */
			const char *d = mx_buf_data(&s->bin);

			if (mx_buf_len(&s->bin) < 4)
				return false;
			if (d[0] == '2' && d[1] == '2' && d[2] == '0') {
				s->xc = XC_OFF;
				return true;
			}
			if (own_reply(s, &code, &offered) == 0)
				return false;
			s->srv->stats.backend_failed++;
			mx_warn("%s: backend_xclient: the backend refused XCLIENT; is this host in its smtpd_authorized_xclient_hosts?",
				s->cip);
			close_with(s, "421 4.3.0 %s Error: backend hand-off failed, try again later%s", "");
			return false;
		}
		r = own_reply(s, &code, &offered);
		if (r == 0)
			return false;
		if (r < 0) {
			bad_reply(s);
			return false;
		}
		if (s->xc == XC_GREET && code == 220) {
			n = snprintf(line, sizeof(line), "EHLO %s", s->srv->hostname);
			s->xc = XC_EHLO;
		} else if (s->xc == XC_EHLO && code == 250 && offered) {
			n = xclient_line(s, line, sizeof(line));
			s->xc = XC_REPLY;
		} else {
			s->srv->stats.backend_failed++;
			mx_warn("%s: backend_xclient: the backend %s (reply %d); is this host in its smtpd_authorized_xclient_hosts?",
				s->cip, s->xc == XC_GREET ? "did not greet" : "offers no XCLIENT ADDR", code);
			close_with(s, "421 4.3.0 %s Error: backend hand-off failed, try again later%s", "");
			return false;
		}
		if (n < 0 || (size_t)n >= sizeof(line) || !mx_buf_fits(&s->bout, (size_t)n + 2)) {
			close_with(s, "421 4.3.0 %s Error: internal error%s", "");
			return false;
		}
		bput_line(&s->bout, line, (size_t)n);
		if (s->xc == XC_REPLY)
			return false; /* its reply comes later */
	}
	return true;
}

/* Move replies from bin (and the proxy's own) to cout, in command order. */
static void backend_pump(struct px_session *s)
{
	if (s->xc != XC_OFF && s->phase == PH_SMTP && !xclient_pump(s))
		return;
	for (;;) {
		struct pend *h = qhead(s);

		if (s->phase == PH_CLOSING)
			return;
		if (s->phase == PH_TUNNEL) {
			uint32_t n = mx_buf_len(&s->bin), room = mx_buf_room(&s->cout);

			n = n < room ? n : room;
			mx_buf_put(&s->cout, s->bin.d + s->bin.r, n);
			s->bin.r += n;
			return;
		}
		if (h && h->kind == PK_LOCAL) {
			if (!emit_local(s, h))
				return;
			continue;
		}
		if (!mx_buf_len(&s->bin))
			return;
		if (!backend_reply(s))
			return;
	}
}

/* ---- sockets ---- */

static void backend_lost(struct px_session *s)
{
	s->be_eof = true;
	mx_io_close(s->srv->loop, &s->be);
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
	close_with(s, "421 4.4.2 %s Error: connection to backend lost%s", "");
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
	if (!s->be_connected)
		be = EPOLLOUT;
	else {
		if (!s->be_eof && s->bin.cap - mx_buf_len(&s->bin) > 0)
			be |= EPOLLIN;
		if (mx_buf_len(&s->bout))
			be |= EPOLLOUT;
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
		mx_warn("backend connect timed out");
		close_with(s, "421 4.4.1 %s Error: backend not reachable, try again later%s", "");
	} else if (s->t_reply_at && now >= s->t_reply_at) {
		; /* tarpit over: pump sends the reply */
	} else if (now >= deadline(s)) {
		s->srv->stats.timeouts++;
		mx_debug("%s: timeout", s->cip);
		close_with(s, "421 4.4.2 %s Error: timeout exceeded%s", "");
	}
	pump(s);
}

/* After any event: move data as far as it goes, then re-arm. */
static void pump(struct px_session *s)
{
	struct mx_loop *l = s->srv->loop;

	if (s->dead)
		return;
	if (s->phase != PH_PROXYHDR && s->phase != PH_TLSWAIT) {
		client_pump(s);
		/* decrypted bytes OpenSSL holds make no epoll event: take them
		 * while cin has room (bounded: at most one TLS record) */
		while (s->tls == TLS_ON && px_tls_pending(s->ssl) && mx_buf_room(&s->cin) &&
		       s->phase != PH_CLOSING && cli_read(s) > 0)
			client_pump(s);
		if (s->be.fd >= 0 && s->be_connected && mx_buf_write(s->be.fd, &s->bout) < 0)
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
		backend_pump(s);
		client_pump(s); /* replies may have unblocked DATA or freed slots */
		if (s->be.fd >= 0 && s->be_connected && mx_buf_write(s->be.fd, &s->bout) < 0)
			backend_lost(s);
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
		close_with(s, "421 4.3.0 %s Error: internal error%s", "");
		return;
	}
	fd = socket(b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (const struct sockaddr *)&b->ss, b->len) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	if (fd < 0 || mx_io_add(s->srv->loop, &s->be, fd, EPOLLOUT, on_backend, s) < 0) {
		if (fd >= 0)
			close(fd);
		s->srv->stats.backend_failed++;
		mx_warn("backend connect: %s", strerror(errno));
		close_with(s, "421 4.4.1 %s Error: backend not reachable, try again later%s", "");
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
	if (!s->be_connected) {
		int err = 0;
		socklen_t el = sizeof(err);

		/* writable without an error condition is connected: no need to
		 * ask SO_ERROR on the common path */
		if (events & (EPOLLERR | EPOLLHUP))
			getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			s->srv->stats.backend_failed++;
			mx_warn("backend connect: %s", strerror(err ? err : ECONNREFUSED));
			close_with(s, "421 4.4.1 %s Error: backend not reachable, try again later%s",
				   "");
			pump(s);
			return;
		}
		s->be_connected = true;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		r = mx_buf_read(io->fd, &s->bin);
		if (r > 0)
			s->t_activity = mx_loop_now(s->srv->loop);
		if (r == 0 || r == -2) {
			backend_pump(s); /* what arrived before the close still counts */
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
