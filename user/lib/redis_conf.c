/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* redis_conf.c - the [redis] section of limit.ini; see redis_conf.h. */

#include "redis_conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_value.h"
#include "log.h"

void mx_redis_conf_init(struct mx_redis_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->port = MX_REDIS_DEFAULT_PORT;
	c->timeout_ns = MX_REDIS_DEFAULT_TIMEOUT_NS;
	snprintf(c->prefix, sizeof(c->prefix), "%s", MX_REDIS_DEFAULT_PREFIX);
}

/* "100ms", "2s", "1500" (ms, haraka's unit for timeouts) */
static int parse_timeout(const char *s, uint64_t *ns)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v == 0)
		return -1;
	if (*end == 's' && !end[1])
		v *= 1000;
	else if (*end && strcmp(end, "ms") != 0)
		return -1;
	if (v > MX_REDIS_MAX_TIMEOUT_NS / 1000000ULL)
		return -1;
	*ns = v * 1000000ULL;
	return 0;
}

static int bad(const char *file, int line, const char *key, const char *value, const char *why)
{
	mx_err("%s:%d: [redis] %s = \"%s\": %s", file, line, key, value, why);
	return -1;
}

int mx_redis_conf_set(struct mx_redis_conf *c, const char *file, int line, const char *key,
		      const char *value)
{
	unsigned char a[16];
	uint32_t u;

	if (strcmp(key, "host") == 0) {
		if (inet_pton(AF_INET, value, a) != 1 && inet_pton(AF_INET6, value, a) != 1)
			return bad(file, line, key, value,
				   "an IPv4 or IPv6 address (a name would block the event loop on DNS)");
		return mx_conf_string(file, line, key, value, c->host, sizeof(c->host));
	}
	if (strcmp(key, "port") == 0) {
		if (mx_conf_u32(file, line, key, value, 1, &u) < 0)
			return -1;
		if (u > 65535)
			return bad(file, line, key, value, "a port is 1-65535");
		c->port = (uint16_t)u;
		return 0;
	}
	if (strcmp(key, "db") == 0 || strcmp(key, "database") == 0)
		return mx_conf_u32(file, line, key, value, 0, &c->db);
	if (strcmp(key, "socket") == 0) {
		if (value[0] != '/')
			return bad(file, line, key, value, "an absolute path");
		return mx_conf_string(file, line, key, value, c->socket, sizeof(c->socket));
	}
	if (strcmp(key, "username") == 0)
		return mx_conf_string(file, line, key, value, c->username, sizeof(c->username));
	if (strcmp(key, "password") == 0)
		return mx_conf_string(file, line, key, value, c->password, sizeof(c->password));
	if (strcmp(key, "prefix") == 0) {
		for (const char *p = value; *p; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				return bad(file, line, key, value, "no blanks or control characters");
		return mx_conf_string(file, line, key, value, c->prefix, sizeof(c->prefix));
	}
	if (strcmp(key, "timeout") == 0) {
		if (parse_timeout(value, &c->timeout_ns) < 0)
			return bad(file, line, key, value,
				   "a time like 100ms or 1s (a bare number is ms), at most 60s");
		return 0;
	}
	if (strcmp(key, "url") == 0)
		return bad(file, line, key, value, "not supported: use host, port, db (or socket)");
	mx_err("%s:%d: unknown key \"%s\" in [redis] (expected host, port, db, socket, username, password, prefix or timeout)",
	       file, line, key);
	return -1;
}

int mx_redis_conf_finish(struct mx_redis_conf *c)
{
	c->enabled = c->present && (c->host[0] || c->socket[0]);
	return 0;
}

const char *mx_redis_conf_where(const struct mx_redis_conf *c, char *buf, size_t len)
{
	if (c->socket[0])
		snprintf(buf, len, "unix:%s", c->socket);
	else if (strchr(c->host, ':'))
		snprintf(buf, len, "[%s]:%u", c->host, (unsigned)c->port);
	else
		snprintf(buf, len, "%s:%u", c->host, (unsigned)c->port);
	return buf;
}

bool mx_redis_conf_equal(const struct mx_redis_conf *a, const struct mx_redis_conf *b)
{
	return a->present == b->present && a->enabled == b->enabled && a->port == b->port &&
	       a->db == b->db && a->timeout_ns == b->timeout_ns && !strcmp(a->host, b->host) &&
	       !strcmp(a->socket, b->socket) && !strcmp(a->username, b->username) &&
	       !strcmp(a->password, b->password) && !strcmp(a->prefix, b->prefix);
}
