/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtp_diff.h - a model of how Postfix's smtpd reads a command line, and
 * the differential check of mxlimit's command parser against it.  Used by
 * the libFuzzer target fuzz_smtp_diff and by unit/test_smtp_diff (the
 * corpus of spellings, deterministic).
 *
 * The model follows the behaviour documented for Postfix 3.x smtpd
 * (smtpd_token(3): "understands backslash escapes, white space, quoted
 * strings, and addresses (including quoted text) enclosed by < and >"),
 * written here from that description and from experiments against a real
 * smtpd (tests/proxy/test_differential.sh):
 *  - the line ends at its first NUL;
 *  - tokens are separated by runs of white space (isspace(): SP, HTAB, CR,
 *    LF, VT, FF); leading white space is skipped;
 *  - '<' opens an address that ends at the matching '>', '<' nests inside
 *    it, '"' opens a quoted string that ends at the next '"', and a
 *    backslash makes the next byte literal, everywhere; white space inside
 *    these belongs to the token; an unterminated one is a token error;
 *  - a token that has become exactly "to:" or "from:" (any case) ends
 *    after the colon, so "TO:<a>" is two tokens;
 *  - the verb is the first token, compared case-insensitively; MAIL needs
 *    at least three tokens and "from:" second, RCPT "to:", DATA and
 *    STARTTLS exactly one token, BDAT a chunk size of digits and an
 *    optional "LAST".
 *
 * The check (smtp_diff_check): for every line,
 *  1. what the proxy forwards (the canonical spelling) is read by the
 *     model as the same command, with the same address and chunk size the
 *     proxy counted;
 *  2. a line the model reads as MAIL, RCPT, DATA, BDAT or STARTTLS is
 *     either read by the proxy as that same command or refused by it:
 *     never forwarded as something else.
 */
#ifndef MX_TEST_SMTP_DIFF_H
#define MX_TEST_SMTP_DIFF_H

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_parse.h"

#define PM_MAX_TOKENS 16
#define PM_TOKEN_MAX 600

/* What Postfix makes of a line. */
enum pm_class {
	PM_OTHER,    /* any other verb, or none */
	PM_BAD,      /* a command Postfix refuses for its syntax */
	PM_MAIL,
	PM_RCPT,
	PM_DATA,
	PM_BDAT,
	PM_STARTTLS,
};

struct pm_result {
	enum pm_class cls;
	char addr[PM_TOKEN_MAX]; /* MAIL/RCPT: the address token, <> stripped */
	uint64_t bdat_size;
	bool bdat_last;
};

struct pm_tokens {
	int n;
	bool error;
	char tok[PM_MAX_TOKENS][PM_TOKEN_MAX];
	size_t len[PM_MAX_TOKENS];
};

static bool pm_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void pm_add(struct pm_tokens *t, int c)
{
	size_t *l = &t->len[t->n];

	if (*l + 1 >= PM_TOKEN_MAX) {
		t->error = true; /* beyond what the model holds: no verdict */
		return;
	}
	t->tok[t->n][(*l)++] = (char)c;
	t->tok[t->n][*l] = '\0';
}

/* A quoted region that began with `open` (already added), until its
 * closing byte; returns the index after it. */
static size_t pm_quoted(const char *s, size_t i, size_t n, struct pm_tokens *t, char close)
{
	char want[PM_TOKEN_MAX];
	int depth = 0;

	want[depth] = close;
	while (i < n) {
		char c = s[i++];

		pm_add(t, c);
		if (c == '\\') {
			if (i >= n)
				break;
			pm_add(t, s[i++]);
		} else if (c == want[depth]) {
			if (depth == 0)
				return i;
			depth--;
		} else if (c == '"') {
			if (depth + 1 >= PM_TOKEN_MAX)
				break;
			want[++depth] = '"';
		} else if (c == '<' && want[depth] == '>') {
			if (depth + 1 >= PM_TOKEN_MAX)
				break;
			want[++depth] = '>';
		}
	}
	t->error = true; /* missing end */
	return i;
}

static void pm_tokenize(const char *line, size_t len, struct pm_tokens *t)
{
	size_t i = 0, n = strnlen(line, len); /* the line ends at a NUL */

	memset(t, 0, sizeof(*t));
	while (i < n && t->n < PM_MAX_TOKENS) {
		t->len[t->n] = 0;
		t->tok[t->n][0] = '\0';
		while (i < n) {
			char c = line[i++];

			if (pm_space((unsigned char)c)) {
				while (i < n && pm_space((unsigned char)line[i]))
					i++;
				if (t->len[t->n])
					break;
			} else if (c == '<') {
				pm_add(t, c);
				i = pm_quoted(line, i, n, t, '>');
			} else if (c == '"') {
				pm_add(t, c);
				i = pm_quoted(line, i, n, t, '"');
			} else if (c == ':') {
				pm_add(t, c);
				if (strcasecmp(t->tok[t->n], "to:") == 0 ||
				    strcasecmp(t->tok[t->n], "from:") == 0)
					break;
			} else {
				if (c == '\\') {
					pm_add(t, c);
					if (i >= n)
						break;
					c = line[i++];
				}
				pm_add(t, c);
			}
		}
		if (t->len[t->n])
			t->n++;
	}
	if (i < n)
		t->error = true; /* more tokens than the model holds */
}

static bool pm_alldig(const char *s, uint64_t *v)
{
	*v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (!isdigit((unsigned char)*s) || *v > (UINT64_MAX - d) / 10)
			return false;
		*v = *v * 10 + d;
	}
	return true;
}

/* Returns false when the model cannot tell (its own bounds). */
static bool pm_read(const char *line, size_t len, struct pm_result *r)
{
	struct pm_tokens *t = malloc(sizeof(*t));
	const char *verb, *a;
	bool ok = true;

	memset(r, 0, sizeof(*r));
	if (!t)
		return false;
	pm_tokenize(line, len, t);
	if (t->error || t->n == 0) {
		ok = !t->error;
		r->cls = PM_OTHER;
		free(t);
		return ok;
	}
	verb = t->tok[0];
	if (!strcasecmp(verb, "MAIL") || !strcasecmp(verb, "RCPT")) {
		bool mail = !strcasecmp(verb, "MAIL");

		r->cls = PM_BAD;
		if (t->n >= 3 && !strcasecmp(t->tok[1], mail ? "from:" : "to:")) {
			r->cls = mail ? PM_MAIL : PM_RCPT;
			a = t->tok[2];
			if (a[0] == '<' && t->len[2] >= 2 && a[t->len[2] - 1] == '>')
				snprintf(r->addr, sizeof(r->addr), "%.*s", (int)t->len[2] - 2, a + 1);
			else
				snprintf(r->addr, sizeof(r->addr), "%s", a);
		}
	} else if (!strcasecmp(verb, "DATA")) {
		r->cls = t->n == 1 ? PM_DATA : PM_BAD;
	} else if (!strcasecmp(verb, "STARTTLS")) {
		r->cls = t->n == 1 ? PM_STARTTLS : PM_BAD;
	} else if (!strcasecmp(verb, "BDAT")) {
		r->cls = PM_BAD;
		if ((t->n == 2 || t->n == 3) && pm_alldig(t->tok[1], &r->bdat_size) &&
		    (t->n == 2 || !strcasecmp(t->tok[2], "LAST"))) {
			r->cls = PM_BDAT;
			r->bdat_last = t->n == 3;
		}
	} else {
		r->cls = PM_OTHER;
	}
	free(t);
	return ok;
}

static enum pm_class pm_class_of(enum mx_smtp_verb v)
{
	switch (v) {
	case MX_SMTP_MAIL:
		return PM_MAIL;
	case MX_SMTP_RCPT:
		return PM_RCPT;
	case MX_SMTP_DATA:
		return PM_DATA;
	case MX_SMTP_BDAT:
		return PM_BDAT;
	case MX_SMTP_STARTTLS:
		return PM_STARTTLS;
	default:
		return PM_OTHER;
	}
}

/*
 * NULL when the proxy and the model agree about line, else what differs
 * (into why).  The proxy forwards only what it parsed, in its canonical
 * spelling; refusing is always allowed.
 */
static const char *smtp_diff_check(const char *line, size_t len, char *why, size_t whylen)
{
	struct mx_smtp_cmd c;
	struct pm_result orig, fwd;
	char canon[MX_SMTP_AUTH_LINE_MAX + 8];
	enum mx_smtp_err e = mx_smtp_parse(line, len, &c);
	int n;

	if (e != MX_SMTP_OK)
		return NULL; /* refused by the proxy: never reaches the MTA */
	n = mx_smtp_canon(&c, canon, sizeof(canon));
	if (n < 0)
		return NULL; /* refused too (the session answers E_EMPTY) */
	if (!pm_read(canon, (size_t)n, &fwd) || !pm_read(line, len, &orig))
		return NULL; /* beyond the model */
	/* 1. the forwarded line means to Postfix what the proxy counted */
	if (fwd.cls != pm_class_of(c.verb)) {
		snprintf(why, whylen, "forwarded \"%.200s\": Postfix reads class %d, proxy %d", canon,
			 fwd.cls, pm_class_of(c.verb));
		return why;
	}
	if ((fwd.cls == PM_MAIL || fwd.cls == PM_RCPT) &&
	    (strlen(fwd.addr) != c.path_len || memcmp(fwd.addr, c.path, c.path_len) != 0)) {
		snprintf(why, whylen, "forwarded \"%.200s\": Postfix reads <%.200s>, proxy <%.*s>", canon,
			 fwd.addr, (int)c.path_len, c.path);
		return why;
	}
	if (fwd.cls == PM_BDAT && (fwd.bdat_size != c.bdat_size || fwd.bdat_last != c.bdat_last)) {
		snprintf(why, whylen, "forwarded \"%.200s\": BDAT size or LAST differs", canon);
		return why;
	}
	/* 2. a command Postfix would act on is not turned into another */
	if (orig.cls != PM_OTHER && orig.cls != PM_BAD && orig.cls != pm_class_of(c.verb)) {
		snprintf(why, whylen, "Postfix reads class %d, the proxy forwards \"%.200s\" (class %d)",
			 orig.cls, canon, pm_class_of(c.verb));
		return why;
	}
	if ((orig.cls == PM_MAIL || orig.cls == PM_RCPT) && orig.cls == fwd.cls &&
	    (strlen(orig.addr) != c.path_len || memcmp(orig.addr, c.path, c.path_len) != 0)) {
		snprintf(why, whylen, "Postfix reads <%.200s> in the original, the proxy <%.*s>",
			 orig.addr, (int)c.path_len, c.path);
		return why;
	}
	return NULL;
}

#endif
