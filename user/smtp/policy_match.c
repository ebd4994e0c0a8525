/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_match.c - which lookup of a proxy section applies, in haraka's
 * order (haraka-plugin-limit get_host_key / get_mail_key): the most
 * specific address or name first, `default` last.  Linear scans: a
 * section holds tens of lookups and the proxy asks once per command.
 */
#include <string.h>

#include "policy_match.h"

/* Longest name we try; longer ones can only match `default`. */
#define MATCH_NAME_MAX 256

static const struct mx_lookup *find_default(const struct mx_section *s)
{
	size_t i;

	for (i = 0; i < s->n_lookups; i++) {
		if (s->lookups[i].kind == MX_LOOKUP_DEFAULT)
			return &s->lookups[i];
	}
	return NULL;
}

static const struct mx_lookup *longest_prefix(const struct mx_section *s, const mx_prefix *addr)
{
	const struct mx_lookup *best = NULL;
	size_t i;

	for (i = 0; i < s->n_lookups; i++) {
		const struct mx_lookup *l = &s->lookups[i];

		if (l->kind != MX_LOOKUP_PREFIX || !mx_prefix_contains(&l->prefix, addr))
			continue;
		if (!best || l->prefix.plen > best->prefix.plen)
			best = l;
	}
	return best;
}

static const struct mx_lookup *exact_name(const struct mx_section *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n_lookups; i++) {
		if (s->lookups[i].kind == MX_LOOKUP_NAME && strcmp(s->lookups[i].text, name) == 0)
			return &s->lookups[i];
	}
	return NULL;
}

/* "a.b.example.com", then "b.example.com", "example.com", "com". */
static const struct mx_lookup *domain_and_parents(const struct mx_section *s, const char *d)
{
	const struct mx_lookup *l;

	while (d && *d) {
		l = exact_name(s, d);
		if (l)
			return l;
		d = strchr(d, '.');
		if (d)
			d++;
	}
	return NULL;
}

/* Lookups are stored lowercased; so is the name we compare (RFC 5321
 * domains are case-insensitive; local parts are in practice). */
static bool lower_copy(const char *in, char *out, size_t len)
{
	size_t i, n = strlen(in);

	if (n >= len)
		return false;
	for (i = 0; i <= n; i++)
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
	if (n > 0 && out[n - 1] == '.') /* "example.com." is "example.com" */
		out[n - 1] = '\0';
	return true;
}

static const struct mx_lookup *match_names(const struct mx_section *s, const char *name)
{
	char buf[MATCH_NAME_MAX];
	const struct mx_lookup *l;
	const char *at;

	if (!name || !*name || !lower_copy(name, buf, sizeof(buf)))
		return NULL;
	at = strrchr(buf, '@');
	if (at) {
		l = exact_name(s, buf);
		if (l)
			return l;
		return domain_and_parents(s, at + 1);
	}
	return domain_and_parents(s, buf);
}

const struct mx_lookup *mx_section_match_addr(const struct mx_section *s, const mx_prefix *addr)
{
	const struct mx_lookup *l = longest_prefix(s, addr);

	return l ? l : find_default(s);
}

const struct mx_lookup *mx_section_match_name(const struct mx_section *s, const char *name)
{
	const struct mx_lookup *l = match_names(s, name);

	return l ? l : find_default(s);
}

const struct mx_lookup *mx_section_match_host(const struct mx_section *s, const mx_prefix *addr,
					      const char *host)
{
	const struct mx_lookup *l = addr ? longest_prefix(s, addr) : NULL;

	if (!l)
		l = match_names(s, host);
	return l ? l : find_default(s);
}
