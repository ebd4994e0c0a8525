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

/* The verb of a command line (no line terminator), case-insensitive; the
 * verb must be followed by a space or the end of the line. */
enum mx_smtp_verb mx_smtp_verb(const char *line, size_t len);
const char *mx_smtp_verb_name(enum mx_smtp_verb v);

/*
 * The path of "MAIL FROM:<a@b>" / "RCPT TO:<a@b>" (leniently: space after
 * the colon, no brackets), lowercased, source route dropped, into out.
 * "<>" gives "".  Returns 0, or -1 on a syntax error or a path over
 * MX_SMTP_PATH_MAX.
 */
int mx_smtp_path(const char *line, size_t len, char *out, size_t outlen);

/* "BDAT <size> [LAST]": 0 with *size and *last, -1 on syntax error. */
int mx_smtp_bdat(const char *line, size_t len, uint64_t *size, bool *last);

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
