// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * blocklist_parse.c - reading a blocklist file and naming sets (see
 * blocklist.h).  No BPF here: the fuzz target links it alone
 * (tests/fuzz/fuzz_blocklist.c).
 */
#include "blocklist.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* A line of a list longer than this is not a prefix and a comment. */
#define BL_LINE_MAX 1024
/* Bad lines reported one by one before the rest are only counted. */
#define BL_MAX_REPORTED 20

const char *mx_bl_dir(const char *opt)
{
	const char *env = getenv("MXLIMIT_BLOCKLIST_DIR");

	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	return MX_DEFAULT_BLOCKLIST_DIR;
}

bool mx_bl_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= MX_BL_NAME_LEN || name[0] == '.' || name[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

void mx_bl_list_free(struct mx_bl_list *l)
{
	free(l->p);
	memset(l, 0, sizeof(*l));
}

static int list_push(struct mx_bl_list *l, const mx_prefix *p)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		mx_prefix *np = realloc(l->p, cap * sizeof(*np));

		if (!np)
			return -1;
		l->p = np;
		l->cap = cap;
	}
	l->p[l->n++] = *p;
	return 0;
}

int mx_bl_prefix_cmp(const void *a, const void *b)
{
	const mx_prefix *x = a, *y = b;
	int d = memcmp(x->addr, y->addr, sizeof(x->addr));

	if (d)
		return d;
	return (x->plen > y->plen) - (x->plen < y->plen);
}

static void list_sort_unique(struct mx_bl_list *l)
{
	size_t i, out = 0;

	if (!l->n)
		return;
	qsort(l->p, l->n, sizeof(*l->p), mx_bl_prefix_cmp);
	for (i = 0; i < l->n; i++)
		if (!out || !mx_prefix_equal(&l->p[out - 1], &l->p[i]))
			l->p[out++] = l->p[i];
	l->n = out;
}

/* One line: NULL (nothing on it) or the prefix text, cut in place; *why
 * set when the line is malformed. */
static char *line_token(char *line, const char **why)
{
	char *s = line, *e;

	s[strcspn(s, ";#")] = '\0';
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	if (!*s)
		return NULL;
	if (s[strcspn(s, " \t\r\v\f")]) {
		*why = "expected one prefix per line (PREFIX [; comment])";
		return NULL;
	}
	return s;
}

static int parse_line(char *line, mx_prefix *p, const char **why)
{
	char *tok = line_token(line, why);

	if (!tok)
		return *why ? -1 : 1;
	if (mx_prefix_parse(tok, false, p, why)) {
		static char buf[160];

		snprintf(buf, sizeof(buf), "bad prefix \"%.60s\": %s", tok,
			 *why ? *why : "not an address or CIDR prefix");
		*why = buf;
		return -1;
	}
	if (p->plen == 0 || (mx_prefix_is_v4(p) && p->plen == MX_V4_PLEN_BASE)) {
		*why = "a /0 lists every address of its family: refused";
		return -1;
	}
	/* IPv4 lives at ::ffff:0:0/96 of the shared space: a short IPv6
	 * prefix around it would list every IPv4 address too */
	if (p->plen < MX_V4_PLEN_BASE) {
		mx_prefix v4 = { .addr = { 0, 0, htonl(0xffff), 0 }, .plen = MX_V4_PLEN_BASE };

		if (mx_prefix_contains(p, &v4)) {
			*why = "an IPv6 prefix around ::ffff:0:0/96 lists every IPv4 address: refused";
			return -1;
		}
	}
	return 0;
}

int mx_bl_parse_file(const char *path, struct mx_bl_list *out)
{
	struct mx_bl_list l = {};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, bad = 0;
	FILE *f;

	memset(out, 0, sizeof(*out));
	f = fopen(path, "re");
	if (!f) {
		mx_err("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		const char *why = NULL;
		mx_prefix p;
		int rc;

		lineno++;
		if (len > BL_LINE_MAX) {
			why = "line too long";
			rc = -1;
		} else if (memchr(line, '\0', (size_t)len)) {
			why = "NUL byte (not a text file?)";
			rc = -1;
		} else {
			rc = parse_line(line, &p, &why);
		}
		if (rc < 0) {
			if (++bad <= BL_MAX_REPORTED)
				mx_log_at(MX_LOG_ERROR, path, lineno, "%s", why);
			continue;
		}
		if (rc > 0 || bad)
			continue;
		if (list_push(&l, &p)) {
			mx_err("%s: out of memory", path);
			bad++;
			break;
		}
	}
	if (ferror(f)) {
		mx_err("cannot read %s: %s", path, strerror(errno));
		bad++;
	}
	free(line);
	fclose(f);
	if (bad > BL_MAX_REPORTED)
		mx_err("%s: %d more bad lines", path, bad - BL_MAX_REPORTED);
	if (!bad) {
		list_sort_unique(&l);
		if (l.n == 0) {
			mx_err("%s: no prefixes (an empty list would empty the set; "
			       "`mxlimit blocklist remove NAME` removes one)", path);
			bad++;
		} else if (l.n > MX_BL_MAX_PREFIXES) {
			mx_err("%s: %zu prefixes, over the limit of %u", path, l.n,
			       MX_BL_MAX_PREFIXES);
			bad++;
		}
	}
	if (bad) {
		mx_bl_list_free(&l);
		return -1;
	}
	*out = l;
	return 0;
}
