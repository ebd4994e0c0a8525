/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policyd_conf.c - the [policyd] section of limit.ini, one key at a time.
 */
#include "policyd_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "conf_value.h"
#include "log.h"
#include "sysutil.h"

void mx_policyd_conf_init(struct mx_policyd_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->socket_mode = MX_POLICYD_DEFAULT_SOCKET_MODE;
	c->idle_timeout_ns = MX_POLICYD_DEFAULT_IDLE_TIMEOUT_NS;
	c->session_timeout_ns = MX_POLICYD_DEFAULT_SESSION_TIMEOUT_NS;
	c->max_clients = MX_POLICYD_DEFAULT_MAX_CLIENTS;
	snprintf(c->verdict_socket, sizeof(c->verdict_socket), "%s",
		 MX_POLICYD_DEFAULT_VERDICT_SOCKET);
}

static int add_listen(void *ctx, const char *file, int line, const char *item)
{
	struct mx_policyd_conf *c = ctx;
	struct mx_policyd_listen *l;
	const char *why;

	if (c->n_listen >= MX_POLICYD_MAX_LISTEN) {
		mx_log_at(MX_LOG_ERROR, file, line, "more than %d listen addresses",
			  MX_POLICYD_MAX_LISTEN);
		return -1;
	}
	l = &c->listen[c->n_listen];
	memset(l, 0, sizeof(*l));
	if (strncmp(item, "unix:", 5) == 0) {
		const char *path = item + 5;

		if (path[0] != '/' || strlen(path) >= sizeof(l->path)) {
			mx_log_at(MX_LOG_ERROR, file, line,
				  "bad listen address \"%s\": unix: needs an absolute path shorter than %zu bytes",
				  item, sizeof(l->path));
			return -1;
		}
		l->is_unix = true;
		snprintf(l->path, sizeof(l->path), "%s", path);
	} else if (mx_sockaddr_parse(item, &l->inet, &why) < 0) {
		mx_log_at(MX_LOG_ERROR, file, line,
			  "bad listen address \"%s\": %s, or unix:/PATH", item, why);
		return -1;
	}
	c->n_listen++;
	return 0;
}

static int set_mode(const char *file, int line, const char *value, mode_t *out)
{
	char *end;
	unsigned long m = strtoul(value, &end, 8);

	if (!*value || *end || m > 0777) {
		mx_log_at(MX_LOG_ERROR, file, line,
			  "socket_mode: expected an octal mode such as 0660, got \"%s\"", value);
		return -1;
	}
	*out = (mode_t)m;
	return 0;
}

int mx_policyd_conf_set(struct mx_policyd_conf *c, const char *file, int line, const char *key,
			const char *value)
{
	c->present = true;
	if (strcmp(key, "listen") == 0)
		return mx_conf_list(c, file, line, value, add_listen);
	if (strcmp(key, "socket_mode") == 0)
		return set_mode(file, line, value, &c->socket_mode);
	if (strcmp(key, "socket_group") == 0) {
		if (mx_parse_gid(value, &c->socket_group) < 0) {
			mx_log_at(MX_LOG_ERROR, file, line, "socket_group: no group \"%s\"", value);
			return -1;
		}
		c->socket_group_set = true;
		return 0;
	}
	if (strcmp(key, "verdict_socket") == 0) {
		if (!*value || strcasecmp(value, "none") == 0) {
			c->verdict_socket[0] = '\0';
			return 0;
		}
		if (value[0] != '/') {
			mx_log_at(MX_LOG_ERROR, file, line,
				  "verdict_socket: expected an absolute path, or none");
			return -1;
		}
		return mx_conf_string(file, line, key, value, c->verdict_socket,
				      sizeof(c->verdict_socket));
	}
	if (strcmp(key, "idle_timeout") == 0)
		return mx_conf_duration(file, line, key, value, &c->idle_timeout_ns);
	if (strcmp(key, "session_timeout") == 0)
		return mx_conf_duration(file, line, key, value, &c->session_timeout_ns);
	if (strcmp(key, "max_clients") == 0)
		return mx_conf_u32(file, line, key, value, 1, &c->max_clients);
	mx_log_at(MX_LOG_ERROR, file, line, "unknown key \"%s\" in [policyd]", key);
	return -1;
}

/* Loopback: only this host's processes can reach it. */
static bool inet_local(const struct mx_sockaddr *a)
{
	mx_prefix p;

	const uint8_t *b = (const uint8_t *)p.addr; /* network order */

	if (mx_addr_from_sockaddr((const struct sockaddr *)&a->ss, &p) < 0)
		return false;
	if (mx_prefix_is_v4(&p))
		return b[12] == 127;
	for (int i = 0; i < 15; i++)
		if (b[i])
			return false;
	return b[15] == 1;
}

int mx_policyd_conf_finish(struct mx_policyd_conf *c, const char *file, int section_line)
{
	if (!c->present)
		return 0; /* only mxlimit-policyd itself needs the section */
	for (size_t i = 0; i < c->n_listen; i++) {
		char text[128];

		if (!c->listen[i].is_unix && !inet_local(&c->listen[i].inet))
			mx_log_at(MX_LOG_WARN, file, section_line,
				  "listen %s is not a loopback address: whoever reaches it can name any client in a request and have [penalty] block it; keep it on loopback or a firewalled network",
				  mx_policyd_listen_format(&c->listen[i], text, sizeof(text)));
	}
	if (c->socket_mode & 0006)
		mx_log_at(MX_LOG_WARN, file, section_line,
			  "socket_mode %04o lets every local user send policy requests (and have [penalty] block any address); 0660 with socket_group is safer",
			  (unsigned)c->socket_mode);
	for (size_t i = 0; i < c->n_listen; i++)
		for (size_t j = 0; j < i; j++)
			if (c->listen[i].is_unix && c->listen[j].is_unix &&
			    strcmp(c->listen[i].path, c->listen[j].path) == 0) {
				mx_log_at(MX_LOG_ERROR, file, section_line,
					  "listen names unix:%s twice", c->listen[i].path);
				return -1;
			}
	return 0;
}

char *mx_policyd_listen_format(const struct mx_policyd_listen *l, char *buf, size_t len)
{
	if (l->is_unix)
		snprintf(buf, len, "unix:%s", l->path);
	else
		mx_sockaddr_format(&l->inet, buf, len);
	return buf;
}
