/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp_parse.c - SMTP verbs, paths, reply lines and the end of DATA.
 */
#include "smtp_parse.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
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

static bool blank(int c) { return c == ' ' || c == '\t'; }

/* A byte no command line may hold: every control character but HTAB. */
static bool ctl(int c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

static enum mx_smtp_verb verb_of(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == n && strncasecmp(name, verbs[i].name, n) == 0)
			return verbs[i].verb;
	return MX_SMTP_UNKNOWN;
}

enum mx_smtp_verb mx_smtp_verb(const char *line, size_t len)
{
	size_t i = 0, n;

	while (i < len && blank(line[i]))
		i++;
	for (n = i; n < len && !blank(line[n]); n++)
		;
	return verb_of(line + i, n - i);
}

const char *mx_smtp_verb_name(enum mx_smtp_verb v)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "unknown";
}

/* [p, *end) without the blanks at both ends. */
static const char *trim(const char *p, const char **end)
{
	while (p < *end && blank(*p))
		p++;
	while (*end > p && blank((*end)[-1]))
		(*end)--;
	return p;
}

/*
 * The end of a bracketed path starting at p[0] == '<': the index of its
 * '>'.  A backslash escapes the next byte anywhere, a quoted string may
 * hold '>' and blanks (as Postfix's tokenizer reads it).  Blanks outside
 * quotes and a second '<' are refused: MTAs disagree about those.
 */
static int bracket_end(const char *p, size_t len, size_t *end)
{
	bool quoted = false;

	for (size_t i = 1; i < len; i++) {
		if (p[i] == '\\') {
			if (++i == len)
				return -1;
		} else if (p[i] == '"') {
			quoted = !quoted;
		} else if (!quoted && (p[i] == '<' || blank(p[i]))) {
			return -1;
		} else if (!quoted && p[i] == '>') {
			*end = i;
			return 0;
		}
	}
	return -1;
}

/* "FROM:" / "TO:" and the path after it; params are the rest. */
static enum mx_smtp_err parse_path(struct mx_smtp_cmd *c, const char *kw, enum mx_smtp_err esyn,
				   enum mx_smtp_err epath)
{
	const char *p = c->args, *end = c->args + c->args_len, *q;
	size_t kl = strlen(kw), e;

	if ((size_t)(end - p) < kl || strncasecmp(p, kw, kl) != 0)
		return esyn;
	p += kl;
	while (p < end && blank(*p))
		p++; /* RFC 5321 forbids it, real clients send it */
	if (p == end)
		return esyn;
	if (*p == '<') {
		if (bracket_end(p, (size_t)(end - p), &e) < 0)
			return epath;
		c->path = p + 1;
		c->path_len = e - 1;
		q = p + e + 1;
		if (q < end && !blank(*q))
			return epath; /* "<a>b": one word to Postfix, two to us */
	} else {
		/* no brackets (Postfix accepts it): one word, nothing its
		 * tokenizer would read as quoting or escaping, and no ':'
		 * ("FROM:x" would be two words to it) */
		for (q = p; q < end && !blank(*q); q++)
			if (*q == '<' || *q == '>' || *q == '"' || *q == '\\' || *q == ':')
				return epath;
		c->path = p;
		c->path_len = (size_t)(q - p);
	}
	if (c->path_len > MX_SMTP_PATH_MAX)
		return epath;
	c->params = trim(q, &end);
	c->params_len = (size_t)(end - c->params);
	/* parameters: words joined by one space when forwarded, so none may
	 * open a quote or escape the blank after it */
	for (q = c->params; q < end; q++) {
		if (*q == '"' || *q == '<' || *q == '>' ||
		    (*q == '\\' && (q + 1 == end || blank(q[1]))))
			return MX_SMTP_E_PARAM;
	}
	return MX_SMTP_OK;
}

/* [p, p + n) is the word w, in any case */
static bool word_is(const char *p, size_t n, const char *w)
{
	return n == strlen(w) && strncasecmp(p, w, n) == 0;
}

static enum mx_smtp_err parse_bdat(struct mx_smtp_cmd *c)
{
	const char *a = c->args;
	size_t n = c->args_len, i = 0;
	uint64_t v = 0;

	if (!n || !isdigit((unsigned char)a[0]))
		return MX_SMTP_E_BDAT;
	for (; i < n && isdigit((unsigned char)a[i]); i++) {
		uint64_t d = (uint64_t)(a[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return MX_SMTP_E_BDAT;
		v = v * 10 + d;
	}
	c->bdat_size = v;
	c->bdat_last = false;
	if (i == n)
		return MX_SMTP_OK;
	if (!blank(a[i]))
		return MX_SMTP_E_BDAT;
	while (i < n && blank(a[i]))
		i++;
	/* the arguments end with no blank: "LAST" is the whole rest */
	c->bdat_last = word_is(a + i, n - i, "LAST");
	return c->bdat_last ? MX_SMTP_OK : MX_SMTP_E_BDAT;
}

/* "AUTH mechanism [initial-response]" */
static enum mx_smtp_err parse_auth(struct mx_smtp_cmd *c)
{
	const char *p = c->args, *end = c->args + c->args_len;
	int words = 0;

	while (p < end) {
		if (++words > 2)
			return MX_SMTP_E_AUTH;
		while (p < end && !blank(*p))
			p++;
		while (p < end && blank(*p))
			p++;
	}
	return words ? MX_SMTP_OK : MX_SMTP_E_AUTH;
}

enum mx_smtp_err mx_smtp_parse(const char *line, size_t len, struct mx_smtp_cmd *c)
{
	const char *end = line + len, *p;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < len; i++)
		if (ctl((unsigned char)line[i]))
			return MX_SMTP_E_CHAR;
	p = trim(line, &end);
	if (p == end)
		return MX_SMTP_E_EMPTY;
	c->name = p;
	while (p < end && !blank(*p)) {
		if (!isalnum((unsigned char)*p) && *p != '-')
			return MX_SMTP_E_VERB;
		p++;
	}
	c->name_len = (size_t)(p - c->name);
	c->verb = verb_of(c->name, c->name_len);
	while (p < end && blank(*p))
		p++;
	c->args = p;
	c->args_len = (size_t)(end - p);
	switch (c->verb) {
	case MX_SMTP_MAIL:
		return parse_path(c, "FROM:", MX_SMTP_E_MAIL, MX_SMTP_E_SENDER);
	case MX_SMTP_RCPT: {
		enum mx_smtp_err e = parse_path(c, "TO:", MX_SMTP_E_RCPT, MX_SMTP_E_RECIPIENT);

		if (e != MX_SMTP_OK)
			return e;
		return c->path_len ? MX_SMTP_OK : MX_SMTP_E_RECIPIENT; /* no <> */
	}
	case MX_SMTP_DATA:
		return c->args_len ? MX_SMTP_E_DATA : MX_SMTP_OK;
	case MX_SMTP_STARTTLS:
		return c->args_len ? MX_SMTP_E_STARTTLS : MX_SMTP_OK;
	case MX_SMTP_BDAT:
		return parse_bdat(c);
	case MX_SMTP_AUTH:
		return parse_auth(c);
	default:
		return MX_SMTP_OK;
	}
}

/* Append n bytes at *at; false when out is full. */
static bool put(char *out, size_t outlen, size_t *at, const char *p, size_t n)
{
	if (outlen - *at < n + 1)
		return false;
	memcpy(out + *at, p, n);
	*at += n;
	out[*at] = '\0';
	return true;
}

/* The words of [p, p + n) joined by one space, after a space. */
static bool put_words(char *out, size_t outlen, size_t *at, const char *p, size_t n)
{
	const char *end = p + n;

	while (p < end) {
		const char *w = p;

		while (p < end && !blank(*p))
			p++;
		if (!put(out, outlen, at, " ", 1) || !put(out, outlen, at, w, (size_t)(p - w)))
			return false;
		while (p < end && blank(*p))
			p++;
	}
	return true;
}

int mx_smtp_canon(const struct mx_smtp_cmd *c, char *out, size_t outlen)
{
	size_t at = 0;
	char num[32];
	bool ok;

	if (!outlen)
		return -1;
	out[0] = '\0';
	switch (c->verb) {
	case MX_SMTP_MAIL:
	case MX_SMTP_RCPT:
		ok = put(out, outlen, &at, c->verb == MX_SMTP_MAIL ? "MAIL FROM:<" : "RCPT TO:<",
			 c->verb == MX_SMTP_MAIL ? 11 : 9) &&
		     put(out, outlen, &at, c->path, c->path_len) && put(out, outlen, &at, ">", 1) &&
		     put_words(out, outlen, &at, c->params, c->params_len);
		break;
	case MX_SMTP_BDAT:
		snprintf(num, sizeof(num), "BDAT %" PRIu64 "%s", c->bdat_size,
			 c->bdat_last ? " LAST" : "");
		ok = put(out, outlen, &at, num, strlen(num));
		break;
	case MX_SMTP_AUTH:
		ok = put(out, outlen, &at, "AUTH", 4) &&
		     put_words(out, outlen, &at, c->args, c->args_len);
		break;
	default:
		ok = put(out, outlen, &at, c->name, c->name_len);
		for (size_t i = 0; ok && i < c->name_len; i++)
			out[i] = (char)toupper((unsigned char)out[i]);
		if (ok && c->args_len)
			ok = put(out, outlen, &at, " ", 1) &&
			     put(out, outlen, &at, c->args, c->args_len);
		break;
	}
	return ok ? (int)at : -1;
}

static const struct {
	int code;
	const char *text;
} err_replies[MX_SMTP_E__COUNT] = {
	[MX_SMTP_OK] = { 250, "250 2.0.0 Ok" },
	[MX_SMTP_E_EMPTY] = { 500, "500 5.5.2 Error: bad syntax" },
	[MX_SMTP_E_CHAR] = { 500, "500 5.5.2 Error: control character in command" },
	[MX_SMTP_E_VERB] = { 500, "500 5.5.2 Error: bad syntax" },
	[MX_SMTP_E_MAIL] = { 501, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	[MX_SMTP_E_RCPT] = { 501, "501 5.5.4 Syntax: RCPT TO:<address>" },
	[MX_SMTP_E_SENDER] = { 501, "501 5.1.7 Bad sender address syntax" },
	[MX_SMTP_E_RECIPIENT] = { 501, "501 5.1.3 Bad recipient address syntax" },
	[MX_SMTP_E_PARAM] = { 501, "501 5.5.4 Error: bad parameter syntax" },
	[MX_SMTP_E_DATA] = { 501, "501 5.5.4 Syntax: DATA" },
	[MX_SMTP_E_BDAT] = { 501, "501 5.5.4 Syntax: BDAT chunk-size [LAST]" },
	[MX_SMTP_E_STARTTLS] = { 501, "501 5.5.4 Syntax: STARTTLS" },
	[MX_SMTP_E_AUTH] = { 501, "501 5.5.4 Syntax: AUTH mechanism" },
};

const char *mx_smtp_err_reply(enum mx_smtp_err err, int *code)
{
	if ((unsigned)err >= MX_SMTP_E__COUNT)
		err = MX_SMTP_E_EMPTY;
	*code = err_replies[err].code;
	return err_replies[err].text;
}

int mx_smtp_path_key(const char *path, size_t len, char *out, size_t outlen)
{
	const char *p = path, *end = path + len;
	size_t n = 0;

	if (len > MX_SMTP_PATH_MAX || !outlen)
		return -1;
	/* RFC 5321 4.1.2: a source route "@a,@b:" is ignored */
	if (p < end && *p == '@') {
		const char *c = memchr(p, ':', len);

		if (c)
			p = c + 1;
	}
	/* a quoted local part means what it holds: "a"@b is a@b */
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (n + 1 >= outlen)
				return -1;
			out[n++] = (char)tolower((unsigned char)*p);
		}
		if (p < end)
			p++; /* the closing quote */
	}
	for (; p < end; p++) {
		if (n + 1 >= outlen)
			return -1;
		out[n++] = (char)tolower((unsigned char)*p);
	}
	out[n] = '\0';
	return 0;
}

int mx_smtp_path(const char *line, size_t len, char *out, size_t outlen)
{
	struct mx_smtp_cmd c;

	if (mx_smtp_parse(line, len, &c) != MX_SMTP_OK ||
	    (c.verb != MX_SMTP_MAIL && c.verb != MX_SMTP_RCPT))
		return -1;
	return mx_smtp_path_key(c.path, c.path_len, out, outlen);
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
