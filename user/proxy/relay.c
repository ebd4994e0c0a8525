/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * relay.c - SMTP between the client and the backend, for one session.
 *
 * Commands are parsed line by line (smtp_parse.h: as permissive MTAs
 * tokenize them) and forwarded in their canonical spelling with CRLF, so
 * the backend reads exactly the commands the proxy judged and counted; a
 * line the proxy cannot read one way only is refused, never forwarded.  Every
 * forwarded command and every reply the proxy makes itself takes a slot in
 * an ordered queue; backend replies are matched to the queue head, so
 * replies reach the client in command order also under PIPELINING.
 * DATA and BDAT content is copied byte-exact, never parsed as commands.
 * With certificates (tls.h) the proxy answers STARTTLS itself and puts its
 * own STARTTLS line in EHLO replies; with backend_xclient it hands the
 * client to the backend before relaying.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "rate_redis.h"
#include "session_int.h"

/* The proxy's own replies, with the reply code that counts them. */
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
	px_close_with(s, v == MX_VIOL_ERRORS ? "421 4.7.0 %s Error: too many errors%s"
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

/* A RCPT judged: forwarded, or refused with the proxy's own reply. */
static void rcpt_decided(struct px_session *s, enum mx_violation v, const char *line, size_t len)
{
	if (v == MX_VIOL__COUNT) {
		s->n_rcpt++;
		forward_line(s, line, len, MX_SMTP_RCPT);
		return;
	}
	violation(s, v, true);
	local_reply(s, v == MX_VIOL_RECIPIENTS ? LR_RCPT_MAX : LR_RATE);
}

/* A RCPT waiting for Redis.  Its queue slot and its room in bout are
 * still free when the answer comes: nothing else is read meanwhile. */
struct rcpt_ask {
	struct px_session *s; /* NULL once the session is gone */
	struct mx_rcpt_plan plan;
	size_t len;
	char line[MX_SMTP_LINE_MAX + 8];
};

void px_rcpt_detach(struct px_session *s)
{
	if (s->rq)
		s->rq->s = NULL;
	s->rq = NULL;
}

static void rcpt_answer(void *arg, int result)
{
	struct rcpt_ask *q = arg;
	struct px_session *s = q->s;

	if (s) {
		struct px_server *srv = s->srv;

		s->rq = NULL;
		if (result < 0) { /* no answer in time: this node's counters */
			srv->stats.rcpt_fallback++;
			result = mx_limits_rcpt_store(srv->store, mx_loop_now(srv->loop), &q->plan, s->cip);
		} else {
			srv->stats.rcpt_shared++;
		}
		rcpt_decided(s, (enum mx_violation)result, q->line, q->len);
		px_session_kick(s);
	}
	free(q);
}

/* Ask the fleet's counters; false when the answer must be made here. */
static bool rcpt_ask_redis(struct px_session *s, const struct mx_rcpt_plan *pl, const char *line,
			   size_t len)
{
	struct px_server *srv = s->srv;
	struct rcpt_ask *q;

	if (!srv->redis || pl->early != MX_VIOL__COUNT || !pl->n)
		return false;
	q = len < sizeof(q->line) ? malloc(sizeof(*q)) : NULL;
	if (q) {
		q->s = s;
		q->plan = *pl;
		q->len = len;
		memcpy(q->line, line, len);
		if (mx_rate_redis_check(srv->redis, srv->pol->redis.prefix, pl, rcpt_answer, q) == 0) {
			s->rq = q;
			return true;
		}
		free(q);
	}
	srv->stats.rcpt_fallback++; /* down, or too much in flight */
	return false;
}

static void cmd_rcpt(struct px_session *s, const struct mx_smtp_cmd *cmd, const char *line,
		     size_t len)
{
	char rcpt[MX_SMTP_PATH_MAX + 1];
	struct mx_rcpt_ctx c = {
		.client = &s->caddr, .client_ip = s->cip, .sender = s->sender,
		.rcpt = rcpt, .rcpts = s->n_rcpt,
	};
	struct mx_rcpt_plan pl;

	/* without a transaction the backend refuses it (503) */
	if (!s->have_mail || mx_smtp_path_key(cmd->path, cmd->path_len, rcpt, sizeof(rcpt)) < 0) {
		forward_line(s, line, len, MX_SMTP_RCPT);
		return;
	}
	mx_limits_rcpt_plan(s->srv->pol, &c, &pl);
	if (rcpt_ask_redis(s, &pl, line, len))
		return;
	rcpt_decided(s, mx_limits_rcpt_store(s->srv->store, mx_loop_now(s->srv->loop), &pl, s->cip),
		     line, len);
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
			s->bout_blocked = true;
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
		s->bout_blocked = true;
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

	if (n > room) {
		n = room;
		s->bout_blocked = true;
	}
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
		px_close_with(s, "521 5.5.2 %s Error: bare <LF> received%s", "");
		return false;
	}
	return true;
}

static bool client_raw(struct px_session *s, uint64_t *left)
{
	uint64_t n = mx_buf_len(&s->cin), room = mx_buf_room(&s->bout);

	if (n > room) {
		n = room;
		s->bout_blocked = true;
	}
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
void px_client_pump(struct px_session *s)
{
	bool more = true;

	if (s->xc != XC_OFF)
		return; /* the hand-off comes first: the client waits for its greeting */
	if (s->rq)
		return; /* a RCPT waits for Redis: commands stay in order */

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
	px_close_with(s, "421 4.4.2 %s Error: bad reply from backend%s", "");
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
			px_close_with(s, "421 4.3.0 %s Error: backend hand-off failed, try again later%s", "");
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
			px_close_with(s, "421 4.3.0 %s Error: backend hand-off failed, try again later%s", "");
			return false;
		}
		if (n < 0 || (size_t)n >= sizeof(line) || !mx_buf_fits(&s->bout, (size_t)n + 2)) {
			px_close_with(s, "421 4.3.0 %s Error: internal error%s", "");
			return false;
		}
		bput_line(&s->bout, line, (size_t)n);
		if (s->xc == XC_REPLY)
			return false; /* its reply comes later */
	}
	return true;
}

/* Move replies from bin (and the proxy's own) to cout, in command order. */
void px_backend_pump(struct px_session *s)
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
