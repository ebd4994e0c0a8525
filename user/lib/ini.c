/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ini.c - haraka's ini dialect, read line by line (see ini.h).
 *
 * Hand-written rather than libinih: haraka puts keys before the first
 * header into [main], accepts ':' '/' '@' in keys (IPv6 and CIDR lookups,
 * mail addresses), joins lines ending in a backslash, and we want every
 * message to carry the line number of the key it is about.
 */
#include "ini.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "log.h"

#define INI_MAIN "main"
#define UTF8_BOM "\xef\xbb\xbf"
/* MX_INI_LINE_MAX as text, for messages that are plain strings */
#define STR_(x) #x
#define STR(x) STR_(x)
#define MX_INI_LINE_MAX_TEXT STR(MX_INI_LINE_MAX)

struct reader {
	const char *name;
	mx_ini_fn fn;
	void *ctx;
	bool failed;
	bool skip_keys; /* after a bad header: its keys belong to no section */
	char section[MX_INI_LINE_MAX + 1];
	char pend[MX_INI_LINE_MAX + 1]; /* a continued line being joined */
	size_t pend_len;
	int pend_line; /* first line of pend; 0 when none */
};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static char *skip_blank(char *s)
{
	while (is_blank(*s))
		s++;
	return s;
}

static void trim_end(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
}

/* haraka's key characters: [\w@:._+\-/[\]] */
static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("_@:.+-/[]", c) != NULL);
}

static bool is_comment_start(char c) { return c == ';' || c == '#'; }

static void fail(struct reader *r, int line, const char *fmt, const char *arg)
{
	mx_log_at(MX_LOG_ERROR, r->name, line, fmt, arg);
	r->failed = true;
}

/* Length of the UTF-8 sequence at s (n bytes left), 0 if invalid
 * (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Only text goes further: messages quote what they read, so a control
 * byte or broken UTF-8 must never reach a terminal or a log. */
static const char *check_text(const char *p, size_t n, size_t *col)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, l;

	while (i < n) {
		*col = i + 1;
		if (s[i] == 0)
			return "NUL byte";
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return "control character";
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		l = utf8_len(s + i, n - i);
		if (l == 0)
			return "invalid UTF-8";
		i += l;
	}
	return NULL;
}

static void emit(struct reader *r, enum mx_ini_kind kind, const char *key, const char *value,
		 int line)
{
	struct mx_ini_item it = {
		.kind = kind, .section = r->section, .key = key, .value = value, .line = line,
	};

	if (r->fn(r->ctx, &it) < 0)
		r->failed = true;
}

static bool valid_section_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	}
	return true;
}

/* s points at '['. */
static void parse_header(struct reader *r, char *s, int line)
{
	char *close = strchr(s, ']');
	char *name, *rest;

	r->skip_keys = true;
	if (!close) {
		fail(r, line, "bad section header \"%s\": missing ']'", s);
		return;
	}
	*close = '\0';
	rest = skip_blank(close + 1);
	if (*rest && !is_comment_start(*rest)) {
		fail(r, line, "unexpected text after section header: \"%s\"", rest);
		return;
	}
	name = skip_blank(s + 1);
	trim_end(name);
	if (!valid_section_name(name)) {
		fail(r, line, "bad section name \"%s\" (letters, digits, '_', '-', '.')", name);
		return;
	}
	r->skip_keys = false;
	memcpy(r->section, name, strlen(name) + 1); /* fits: name is part of a line */
	emit(r, MX_INI_SECTION, NULL, NULL, line);
}

/* Cut a ';' or '#' comment that follows whitespace, then trim. */
static char *clean_value(char *v)
{
	size_t i;

	for (i = 0; v[i]; i++) {
		if (is_comment_start(v[i]) && i > 0 && is_blank(v[i - 1])) {
			v[i] = '\0';
			break;
		}
	}
	v = skip_blank(v);
	trim_end(v);
	return v;
}

static void parse_param(struct reader *r, char *s, int line)
{
	char *key = skip_blank(s), *end = key, *t;

	while (is_key_char(*end))
		end++;
	t = skip_blank(end);
	if (end == key || (*t && *t != '=' && !(is_comment_start(*t) && t > end))) {
		trim_end(key);
		fail(r, line, "expected \"key = value\", got \"%s\"", key);
		return;
	}
	if (r->skip_keys)
		return;
	if (*t != '=') { /* a bare key, as haraka allows */
		*end = '\0';
		emit(r, MX_INI_KEY, key, NULL, line);
		return;
	}
	*end = '\0';
	emit(r, MX_INI_KEY, key, clean_value(t + 1), line);
}

/* A line ending in a backslash (blanks after it allowed) continues. */
static bool cut_continuation(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && is_blank(s[n - 1]))
		n--;
	if (n == 0 || s[n - 1] != '\\')
		return false;
	s[n - 1] = '\0';
	return true;
}

/* A pending continued line that cannot be finished: report, forget. */
static void drop_continuation(struct reader *r, const char *msg)
{
	mx_log_at(MX_LOG_ERROR, r->name, r->pend_line, "%s", msg);
	r->failed = true;
	r->pend_len = 0;
	r->pend_line = 0;
}

static void add_continuation(struct reader *r, const char *s, int line)
{
	size_t n = strlen(s);

	if (r->pend_line == 0)
		r->pend_line = line;
	if (r->pend_len + n > MX_INI_LINE_MAX) {
		drop_continuation(r, "continued line too long (over " MX_INI_LINE_MAX_TEXT " bytes)");
		return;
	}
	memcpy(r->pend + r->pend_len, s, n + 1);
	r->pend_len += n;
}

/* Bounded, and text: else the line is reported and skipped. */
static bool line_ok(struct reader *r, const char *p, size_t n, int line)
{
	const char *why;
	size_t col;

	if (n > MX_INI_LINE_MAX) {
		mx_log_at(MX_LOG_ERROR, r->name, line, "line too long (over %d bytes)",
			  MX_INI_LINE_MAX);
		r->failed = true;
		return false;
	}
	why = check_text(p, n, &col);
	if (why) {
		mx_log_at(MX_LOG_ERROR, r->name, line, "%s at column %zu", why, col);
		r->failed = true;
		return false;
	}
	return true;
}

/* Put the pending continued text before buf (n bytes), as written: haraka
 * keeps the blanks.  *line becomes the first line's.  False if too long. */
static bool join_continuation(struct reader *r, char *buf, size_t n, int *line)
{
	if (r->pend_len + n > MX_INI_LINE_MAX) {
		drop_continuation(r, "continued line too long (over " MX_INI_LINE_MAX_TEXT " bytes)");
		return false;
	}
	memmove(buf + r->pend_len, buf, n + 1);
	memcpy(buf, r->pend, r->pend_len);
	*line = r->pend_line;
	r->pend_len = 0;
	r->pend_line = 0;
	return true;
}

static void do_line(struct reader *r, const char *p, size_t n, int line)
{
	char buf[2 * (MX_INI_LINE_MAX + 1)]; /* room to join a continuation */
	char *s;

	if (!line_ok(r, p, n, line))
		return;
	memcpy(buf, p, n);
	buf[n] = '\0';
	s = skip_blank(buf);
	if (*s == '\0' || is_comment_start(*s))
		return;
	if (*s == '[') {
		if (r->pend_line)
			drop_continuation(r, "continued line runs into a section header");
		parse_header(r, s, line);
		return;
	}
	if (cut_continuation(buf)) {
		add_continuation(r, buf, line);
		return;
	}
	if (r->pend_line && !join_continuation(r, buf, n, &line))
		return;
	parse_param(r, buf, line);
}

int mx_ini_parse(const char *name, const char *buf, size_t len, mx_ini_fn fn, void *ctx)
{
	struct reader r;
	size_t pos = 0, end;
	int line = 0;

	memset(&r, 0, sizeof(r));
	r.name = name;
	r.fn = fn;
	r.ctx = ctx;
	strcpy(r.section, INI_MAIN);
	if (len >= strlen(UTF8_BOM) && memcmp(buf, UTF8_BOM, strlen(UTF8_BOM)) == 0)
		pos = strlen(UTF8_BOM);
	while (pos < len) {
		end = pos;
		while (end < len && buf[end] != '\n' && buf[end] != '\r')
			end++;
		do_line(&r, buf + pos, end - pos, ++line);
		pos = end;
		if (pos < len && buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n')
			pos++; /* CRLF is one line end */
		if (pos < len)
			pos++;
	}
	if (r.pend_line) {
		mx_log_at(MX_LOG_ERROR, name, r.pend_line, "file ends inside a continued line");
		r.failed = true;
	}
	return r.failed ? -1 : 0;
}
