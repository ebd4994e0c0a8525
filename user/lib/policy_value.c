/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_value.c - the value syntaxes of limit.ini: durations, limits,
 * booleans, port lists, names.  Strict on purpose: haraka reads "5x" as 5,
 * we say it is wrong, since a typo in a limit is a hole in the defence.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

#define SECS_PER_MIN 60ULL
#define SECS_PER_HOUR 3600ULL
#define SECS_PER_DAY 86400ULL
#define MAX_PORT 65535
/* RFC 5321 4.5.3.1: a path is at most 256 octets, a domain 255. */
#define NAME_MAX_LEN 254
#define LABEL_MAX_LEN 63

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int duration(const char *s, uint64_t *ns, bool zero_ok)
{
	uint64_t v = 0, unit;
	size_t i;

	if (!is_digit(s[0]))
		return -1;
	for (i = 0; is_digit(s[i]); i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > MX_DURATION_MAX_NS / MX_NS_PER_SEC)
			return -1; /* also keeps v * 10 from overflowing */
	}
	switch (s[i]) {
	case '\0': case 's': case 'S': unit = 1; break;
	case 'm': case 'M': unit = SECS_PER_MIN; break;
	case 'h': case 'H': unit = SECS_PER_HOUR; break;
	case 'd': case 'D': unit = SECS_PER_DAY; break;
	default: return -1;
	}
	if (s[i] != '\0' && s[i + 1] != '\0')
		return -1;
	if (v > MX_DURATION_MAX_NS / MX_NS_PER_SEC / unit || (v == 0 && !zero_ok))
		return -1;
	*ns = v * unit * MX_NS_PER_SEC;
	return 0;
}

int mx_parse_duration(const char *s, uint64_t *ns) { return duration(s, ns, false); }

int mx_parse_duration_or_zero(const char *s, uint64_t *ns) { return duration(s, ns, true); }

char *mx_format_duration(uint64_t ns, char *buf, size_t len)
{
	static const struct {
		uint64_t secs;
		char unit;
	} units[] = { { SECS_PER_DAY, 'd' }, { SECS_PER_HOUR, 'h' }, { SECS_PER_MIN, 'm' }, { 1, 's' } };
	uint64_t secs = ns / MX_NS_PER_SEC;
	size_t i, off = 0;
	int n;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (ns % MX_NS_PER_SEC) { /* only derived values (pending slots) get here */
		snprintf(buf, len, "%.3fs", (double)ns / (double)MX_NS_PER_SEC);
		return buf;
	}
	if (secs == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]) && off < len; i++) {
		if (secs < units[i].secs)
			continue;
		n = snprintf(buf + off, len - off, "%llu%c",
			     (unsigned long long)(secs / units[i].secs), units[i].unit);
		if (n < 0)
			break;
		off += (size_t)n;
		secs %= units[i].secs;
	}
	return buf;
}

int mx_pol_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out, const char **why)
{
	uint64_t v = 0;
	size_t i;

	*why = "expected a number";
	if (!is_digit(s[0]))
		return -1;
	for (i = 0; is_digit(s[i]); i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			break;
	}
	if (s[i] != '\0' && !is_digit(s[i]))
		return -1;
	if (v < min || v > max) {
		*why = "out of range";
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int mx_pol_bool(const char *s, bool *out, const char **why)
{
	static const char *const yes[] = { "true", "yes", "ok", "enabled", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "disabled", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	*why = "expected true or false";
	return -1;
}

int mx_pol_limit(const char *s, bool with_period, uint32_t *limit, uint64_t *period_ns,
		 const char **why)
{
	char num[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n == 0 || n >= sizeof(num)) {
		*why = n && strspn(s, "0123456789") == n ? "limit out of range (0 to 4294967295)"
							 : "expected limit[/time]";
		return -1;
	}
	memcpy(num, s, n);
	num[n] = '\0';
	if (mx_pol_u32(num, 0, UINT32_MAX, limit, why) < 0) {
		*why = strcmp(*why, "out of range") == 0 ? "limit out of range (0 to 4294967295)"
							  : "expected limit[/time]";
		return -1;
	}
	*period_ns = with_period ? MX_DEFAULT_PERIOD_NS : 0;
	if (!slash)
		return 0;
	if (!with_period) {
		*why = "this section takes a plain number, no /time";
		return -1;
	}
	if (mx_parse_duration(slash + 1, period_ns) < 0) {
		*why = "time must be 1s to 3650d, as N, Ns, Nm, Nh or Nd";
		return -1;
	}
	if (*limit && *period_ns / *limit == 0) {
		*why = "more than one per nanosecond";
		return -1;
	}
	return 0;
}

static int port_item(const char *item, size_t len, __u64 ports[1024])
{
	char buf[16], *dash;
	uint32_t lo, hi, p;
	const char *why;

	while (len && (*item == ' ' || *item == '\t'))
		item++, len--;
	while (len && (item[len - 1] == ' ' || item[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, item, len);
	buf[len] = '\0';
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (mx_pol_u32(buf, 1, MAX_PORT, &lo, &why) < 0)
		return -1;
	hi = lo;
	if (dash && mx_pol_u32(dash + 1, lo, MAX_PORT, &hi, &why) < 0)
		return -1;
	for (p = lo; p <= hi; p++)
		mx_port_set(ports, p);
	return 0;
}

int mx_pol_ports(const char *s, __u64 ports[1024], const char **why)
{
	const char *comma;

	memset(ports, 0, 1024 * sizeof(ports[0]));
	for (;;) {
		comma = strchr(s, ',');
		if (port_item(s, comma ? (size_t)(comma - s) : strlen(s), ports) < 0) {
			*why = "expected ports 1-65535 or ranges LOW-HIGH, separated by commas";
			return -1;
		}
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

static bool is_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_';
}

static bool valid_domain(const char *d)
{
	size_t label = 0;

	if (*d == '\0')
		return false;
	for (; *d; d++) {
		if (*d == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!is_label_char(*d) || ++label > LABEL_MAX_LEN) {
			return false;
		}
	}
	return label > 0;
}

static bool valid_local(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (!is_label_char(s[i]) && s[i] != '.' && s[i] != '+')
			return false;
	}
	return true;
}

int mx_pol_name(const char *s, char *out, size_t len, const char **why)
{
	const char *at;
	size_t i, n = strlen(s);

	*why = "not a host name, domain or mail address";
	if (n == 0 || n > NAME_MAX_LEN || n >= len)
		return -1;
	for (i = 0; i <= n; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	at = strrchr(out, '@');
	if (!at)
		return valid_domain(out) ? 0 : -1;
	if (!valid_local(out, (size_t)(at - out)) || !valid_domain(at + 1))
		return -1;
	return 0;
}
