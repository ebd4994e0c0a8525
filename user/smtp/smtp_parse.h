/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp_parse.h - the few pieces of SMTP mxlimit-proxy must understand:
 * command verbs and paths, reply lines, and where DATA content ends.
 *
 * Pure functions over bounded buffers, so unit tests and fuzzers can drive
 * them without sockets.  Nothing here allocates.
 */
#ifndef MX_SMTP_PARSE_H
#define MX_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF. */
#define MX_SMTP_LINE_MAX 512
/* RFC 4954 4: AUTH lines may be longer (initial responses, tokens). */
#define MX_SMTP_AUTH_LINE_MAX 4096
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets. */
#define MX_SMTP_PATH_MAX 256

enum mx_smtp_verb {
	MX_SMTP_UNKNOWN = 0,
	MX_SMTP_HELO,
	MX_SMTP_EHLO,
	MX_SMTP_LHLO,
	MX_SMTP_MAIL,
	MX_SMTP_RCPT,
	MX_SMTP_DATA,
	MX_SMTP_BDAT,
	MX_SMTP_RSET,
	MX_SMTP_NOOP,
	MX_SMTP_QUIT,
	MX_SMTP_VRFY,
	MX_SMTP_EXPN,
	MX_SMTP_HELP,
	MX_SMTP_STARTTLS,
	MX_SMTP_AUTH,
	MX_SMTP_ETRN,
	/* Commands only a trusted peer may send: a client passing them through
	 * the proxy could forge the address the MTA judges. */
	MX_SMTP_XCLIENT,
	MX_SMTP_XFORWARD,
	MX_SMTP_PROXY,
};

/*
 * Command lines are read the way permissive MTAs read them (Postfix's
 * smtpd tokenizer, Exim, OpenSMTPD, Haraka): blanks (SP or HTAB) before
 * and after the verb and around the keyword are tolerated, keywords are
 * case-insensitive, "FROM:" may be followed by blanks.  What does not
 * parse gets one of the errors below; a front end refuses it itself and
 * never forwards it, and what parses is forwarded in the canonical
 * spelling of mx_smtp_canon(), so the MTA reads exactly what the proxy
 * read.  Lines that could be read two ways are refused: control
 * characters other than HTAB, a path glued to what follows it, a nested
 * '<', a ':' or quoting in a path without brackets, quotes, '<' or a
 * trailing backslash in parameters (Postfix's
 * tokenizer would join them with the next word).
 */
enum mx_smtp_err {
	MX_SMTP_OK = 0,
	MX_SMTP_E_EMPTY,     /* an empty or blank line */
	MX_SMTP_E_CHAR,      /* a control character (NUL, CR, VT, ...) */
	MX_SMTP_E_VERB,      /* a verb that is not letters, digits and '-' */
	MX_SMTP_E_MAIL,      /* MAIL without FROM: and a path */
	MX_SMTP_E_RCPT,      /* RCPT without TO: and a path */
	MX_SMTP_E_SENDER,    /* an unreadable sender path */
	MX_SMTP_E_RECIPIENT, /* an unreadable recipient path */
	MX_SMTP_E_PARAM,     /* a MAIL/RCPT parameter that could be read two ways */
	MX_SMTP_E_DATA,      /* DATA with arguments */
	MX_SMTP_E_BDAT,      /* BDAT without chunk-size [LAST] */
	MX_SMTP_E_STARTTLS,  /* STARTTLS with arguments */
	MX_SMTP_E_AUTH,      /* AUTH without a mechanism, or with extra words */
	MX_SMTP_E__COUNT,
};

/* One parsed command line.  Pointers go into the caller's line. */
struct mx_smtp_cmd {
	enum mx_smtp_verb verb;
	const char *name; /* the verb as written */
	size_t name_len;
	const char *args; /* after the verb's blanks, trailing blanks cut */
	size_t args_len;
	/* MAIL, RCPT: the path between the brackets as written ("" for <>),
	 * and the parameters after it (outer blanks cut) */
	const char *path;
	size_t path_len;
	const char *params;
	size_t params_len;
	/* BDAT */
	uint64_t bdat_size;
	bool bdat_last;
};

/*
 * Parse one command line (no line terminator).  Returns MX_SMTP_OK with
 * *c filled in, or why the line is refused.  Unknown verbs parse (the
 * MTA answers them).
 */
enum mx_smtp_err mx_smtp_parse(const char *line, size_t len, struct mx_smtp_cmd *c);
/*
 * The line to forward for a parsed command: "MAIL FROM:<path> p1 p2",
 * "RCPT TO:<path> ...", "BDAT n[ LAST]", "AUTH MECH[ resp]", otherwise
 * the verb in capitals, one space and the arguments.  Returns its length,
 * or -1 if it does not fit in out (it is never longer than the line + 2).
 */
int mx_smtp_canon(const struct mx_smtp_cmd *c, char *out, size_t outlen);
/* The reply a front end gives for err (without CRLF), and its code. */
const char *mx_smtp_err_reply(enum mx_smtp_err err, int *code);

/* The verb of a command line (no line terminator), case-insensitive,
 * after any leading blanks and ended by a blank or the end of the line. */
enum mx_smtp_verb mx_smtp_verb(const char *line, size_t len);
const char *mx_smtp_verb_name(enum mx_smtp_verb v);

/*
 * The counter key of a parsed path (struct mx_smtp_cmd's path): source
 * route dropped, a quoted local part unquoted, lowercased, into out ("" for
 * the null path).  Returns 0, or -1 if it is over MX_SMTP_PATH_MAX or does
 * not fit.
 */
int mx_smtp_path_key(const char *path, size_t len, char *out, size_t outlen);

/* The path key of a whole MAIL or RCPT line; -1 when the line does not
 * parse as one (mx_smtp_parse + mx_smtp_path_key). */
int mx_smtp_path(const char *line, size_t len, char *out, size_t outlen);

/*
 * One reply line (no terminator): "250-text" (more follow), "250 text"
 * or "250" (last).  Returns 0 with *code and *last, -1 if malformed.
 */
int mx_smtp_reply_line(const char *line, size_t len, int *code, bool *last);

/* What a reply code counts as for [unrecognized_commands] and [errors]. */
enum mx_reply_class {
	MX_REPLY_OK,           /* anything not counted */
	MX_REPLY_UNRECOGNIZED, /* 500, 502: unknown or unadvertised verb */
	MX_REPLY_ERROR,        /* 501, 503, 504, 530, 534, 535, 538, 555: misuse */
};
enum mx_reply_class mx_smtp_reply_class(int code);

/*
 * DATA content scanner.  Content passes byte-exact; the scanner only finds
 * where it ends.  The end is CRLF "." CRLF and nothing else.  A "." line
 * that touches a bare LF ("\n.\n", "\n.\r\n", "\r\n.\n") is one that
 * lenient MTAs take as the end while strict ones do not: the difference
 * is how SMTP smuggling works, so the scanner reports it as BAD before the
 * byte that would complete it, and the caller refuses the message.
 */
struct mx_data_scan {
	int state;
};
enum mx_data_result { MX_DATA_MORE, MX_DATA_END, MX_DATA_BAD };

/* Start of content (just after the 354 of DATA). */
void mx_data_scan_init(struct mx_data_scan *s);
/* Scan buf; *used is how many bytes may be forwarded: up to and including
 * the final LF on END, everything before the offending byte on BAD, len on
 * MORE. */
enum mx_data_result mx_data_scan(struct mx_data_scan *s, const char *buf, size_t len,
				 size_t *used);

#endif
