/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * session_int.h - one proxy session's state, shared by the two halves of
 * the session: session.c (sockets, the client's transport and TLS, timers,
 * the session's life) and relay.c (SMTP between client and backend:
 * commands judged and forwarded, replies paired and relayed, the limits,
 * the backend hand-off).  Internal to user/proxy.
 */
#ifndef PX_SESSION_INT_H
#define PX_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "iobuf.h"
#include "proxy.h"
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
	bool bout_blocked;     /* relay.c left client bytes for lack of room in bout */
	bool more;             /* pump stopped with work left: the timer is due now */
	/* TLS with the backend (backend_tls) */
	SSL *bssl;
	uint8_t btls;          /* enum tls_state */
	bool be_tcp;           /* TCP connected; be_connected waits for TLS too */
	bool btls_rd_wants_w, btls_wr_wants_r, btls_hs_wants_w;
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
	/* a RCPT waits for the fleet's counters (rate_redis.h): no further
	 * command is read until the answer; rq->s is cleared if we go first */
	struct rcpt_ask *rq;
	int last_code;
	/* times (loop clock) */
	uint64_t t_start, t_activity, t_line, t_reply_at, t_close;
	char mem[]; /* the four buffers */
};

/* ---- buffers (iobuf.h) ---- */

/* Append a line plus CRLF; the caller checked mx_buf_fits(len + 2). */
static inline void bput_line(struct mx_buf *b, const char *line, size_t len)
{
	mx_buf_put(b, line, len);
	mx_buf_put(b, "\r\n", 2);
}

/* ---- the pending queue ---- */

static inline struct pend *qhead(struct px_session *s)
{
	return s->qn ? &s->q[s->qh] : NULL;
}

static inline void qpush(struct px_session *s, enum pkind kind, int verb, int local)
{
	struct pend *p = &s->q[(s->qh + s->qn++) % PIPELINE_MAX];

	p->kind = (uint8_t)kind;
	p->verb = (uint8_t)verb;
	p->local = (uint8_t)local;
	p->perr = 0;
}

static inline void qpop(struct px_session *s)
{
	s->qh = (s->qh + 1) % PIPELINE_MAX;
	s->qn--;
}

/* session.c: end the session with a last reply (fmt gets the host name and
 * detail); the backend is dropped at once. */
void px_close_with(struct px_session *s, const char *fmt, const char *detail);
/* session.c: pump the session again soon (an answer came from elsewhere). */
void px_session_kick(struct px_session *s);
/* relay.c: a RCPT's pending question is dropped with its session. */
void px_rcpt_detach(struct px_session *s);
/* relay.c: move what can move from cin to bout (commands, DATA, BDAT). */
void px_client_pump(struct px_session *s);
/* relay.c: move replies from bin (and the proxy's own) to cout, in order. */
void px_backend_pump(struct px_session *s);

#endif
