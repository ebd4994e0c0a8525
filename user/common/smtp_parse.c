/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp_parse.c - SMTP verbs, paths, reply lines and the end of DATA.
 */
#include "smtp_parse.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum mx_smtp_verb verb;
} verbs[] = {
	{ "HELO", MX_SMTP_HELO },	  { "EHLO", MX_SMTP_EHLO },
	{ "LHLO", MX_SMTP_LHLO },	  { "MAIL", MX_SMTP_MAIL },
	{ "RCPT", MX_SMTP_RCPT },	  { "DATA", MX_SMTP_DATA },
	{ "BDAT", MX_SMTP_BDAT },	  { "RSET", MX_SMTP_RSET },
	{ "NOOP", MX_SMTP_NOOP },	  { "QUIT", MX_SMTP_QUIT },
	{ "VRFY", MX_SMTP_VRFY },	  { "EXPN", MX_SMTP_EXPN },
	{ "HELP", MX_SMTP_HELP },	  { "STARTTLS", MX_SMTP_STARTTLS },
	{ "AUTH", MX_SMTP_AUTH },	  { "ETRN", MX_SMTP_ETRN },
	{ "XCLIENT", MX_SMTP_XCLIENT }, { "XFORWARD", MX_SMTP_XFORWARD },
	{ "PROXY", MX_SMTP_PROXY },
};

enum mx_smtp_verb mx_smtp_verb(const char *line, size_t len)
{
	size_t n = 0;

	while (n < len && line[n] != ' ')
		n++;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == n && strncasecmp(line, verbs[i].name, n) == 0)
			return verbs[i].verb;
	return MX_SMTP_UNKNOWN;
}

const char *mx_smtp_verb_name(enum mx_smtp_verb v)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "unknown";
}

/* Skip "MAIL FROM:" / "RCPT TO:"; returns the offset after the colon. */
static int skip_keyword(const char *line, size_t len, size_t *pos)
{
	const char *kw;
	size_t kl;

	if (len < 5)
		return -1;
	kw = strncasecmp(line, "MAIL ", 5) == 0 ? "FROM:" : "TO:";
	kl = strlen(kw);
	if (len < 5 + kl || strncasecmp(line + 5, kw, kl) != 0)
		return -1;
	*pos = 5 + kl;
	while (*pos < len && line[*pos] == ' ')
		(*pos)++; /* RFC 5321 forbids it, real clients send it */
	return 0;
}

/* The end of a bracketed path: the '>' not inside a quoted local part. */
static int path_end(const char *p, size_t len, size_t *end)
{
	bool quoted = false;

	for (size_t i = 1; i < len; i++) {
		if (quoted && p[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (p[i] == '"')
			quoted = !quoted;
		else if (!quoted && p[i] == '>') {
			*end = i;
			return 0;
		}
	}
	return -1;
}

int mx_smtp_path(const char *line, size_t len, char *out, size_t outlen)
{
	size_t pos, start, end;

	if (outlen == 0 || skip_keyword(line, len, &pos) < 0)
		return -1;
	if (pos < len && line[pos] == '<') {
		if (path_end(line + pos, len - pos, &end) < 0)
			return -1;
		start = pos + 1;
		end += pos;
	} else {
		start = pos;
		for (end = pos; end < len && line[end] != ' '; end++)
			;
		if (end == start)
			return -1;
	}
	/* RFC 5321 4.1.2: a source route "@a,@b:" is ignored */
	if (start < end && line[start] == '@') {
		const char *c = memchr(line + start, ':', end - start);

		if (!c)
			return -1;
		start = (size_t)(c - line) + 1;
	}
	if (end - start > MX_SMTP_PATH_MAX || end - start >= outlen)
		return -1;
	for (size_t i = start; i < end; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch < 0x20 || ch == 0x7f)
			return -1;
		out[i - start] = (char)tolower(ch);
	}
	out[end - start] = '\0';
	return 0;
}

int mx_smtp_bdat(const char *line, size_t len, uint64_t *size, bool *last)
{
	size_t i = 5;
	uint64_t v = 0;

	if (len < 6 || strncasecmp(line, "BDAT ", 5) != 0 || !isdigit((unsigned char)line[5]))
		return -1;
	for (; i < len && isdigit((unsigned char)line[i]); i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	*last = false;
	if (i < len) {
		if (len - i != 5 || strncasecmp(line + i, " LAST", 5) != 0)
			return -1;
		*last = true;
	}
	*size = v;
	return 0;
}

int mx_smtp_reply_line(const char *line, size_t len, int *code, bool *last)
{
	if (len < 3)
		return -1;
	for (int i = 0; i < 3; i++)
		if (!isdigit((unsigned char)line[i]))
			return -1;
	if (line[0] < '2' || line[0] > '5')
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	*last = len == 3 || line[3] == ' ';
	return 0;
}

enum mx_reply_class mx_smtp_reply_class(int code)
{
	switch (code) {
	case 500:
	case 502:
		return MX_REPLY_UNRECOGNIZED;
	case 501:
	case 503:
	case 504:
	case 530:
	case 534:
	case 535:
	case 538:
	case 555:
		return MX_REPLY_ERROR;
	default:
		return MX_REPLY_OK;
	}
}

/* Scanner states: where we are relative to the last line terminator. */
enum {
	DS_BOL_CRLF, /* line start after CRLF (or the start of content) */
	DS_BOL_LF,   /* line start after a bare LF */
	DS_MID,      /* inside a line */
	DS_CR,       /* just after a CR inside a line */
	DS_DOT,      /* "." at a line start after CRLF */
	DS_DOT_CR,   /* "." CR after CRLF */
	DS_DOTB,     /* "." at a line start after a bare LF */
	DS_DOTB_CR,  /* "." CR after a bare LF */
};

void mx_data_scan_init(struct mx_data_scan *s)
{
	s->state = DS_BOL_CRLF;
}

/* Next state for an ordinary byte (not part of a dot line). */
static int ds_plain(int c)
{
	if (c == '\r')
		return DS_CR;
	return c == '\n' ? DS_BOL_LF : DS_MID;
}

/* A "." line touching a bare LF: forward nothing from the byte that would
 * complete it, so no MTA behind us can see the end there. */
static enum mx_data_result scan_bad(struct mx_data_scan *s, int st, size_t i, size_t *used)
{
	s->state = st;
	*used = i;
	return MX_DATA_BAD;
}

enum mx_data_result mx_data_scan(struct mx_data_scan *s, const char *buf, size_t len,
				 size_t *used)
{
	int st = s->state;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)buf[i];

		switch (st) {
		case DS_CR:
			st = c == '\n' ? DS_BOL_CRLF : ds_plain(c);
			break;
		case DS_BOL_CRLF:
			st = c == '.' ? DS_DOT : ds_plain(c);
			break;
		case DS_BOL_LF:
			st = c == '.' ? DS_DOTB : ds_plain(c);
			break;
		case DS_DOT:
		case DS_DOTB:
			if (c == '\n')
				return scan_bad(s, st, i, used);
			st = c == '\r' ? st + 1 : DS_MID; /* DOT_CR / DOTB_CR */
			break;
		case DS_DOT_CR:
			if (c == '\n') {
				*used = i + 1;
				s->state = DS_BOL_CRLF;
				return MX_DATA_END;
			}
			st = ds_plain(c);
			break;
		case DS_DOTB_CR:
			if (c == '\n')
				return scan_bad(s, st, i, used);
			st = ds_plain(c);
			break;
		default:
			st = ds_plain(c);
			break;
		}
	}
	s->state = st;
	*used = len;
	return MX_DATA_MORE;
}
