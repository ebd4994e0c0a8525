/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * proxy_conf.c - the [proxy] section of limit.ini, one key at a time.
 *
 * policy.c hands every key of [proxy] here, so `mxlimit check` and
 * mxlimit-proxy judge a file the same way.  Every value is checked when it
 * is set, with the file and line of the key in the message.
 */
#include "proxy_conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf_value.h"
#include "log.h"
#include "policy.h"

/* Longest "ADDR:PORT" we accept: "[v6]:65535" fits well within it. */
#define SOCKADDR_TEXT_MAX 64

void mx_proxy_conf_init(struct mx_proxy_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->proxy_protocol = MX_PP_NONE;
	c->max_clients = MX_PROXY_DEFAULT_MAX_CLIENTS;
	c->connect_timeout_ns = MX_PROXY_DEFAULT_CONNECT_TIMEOUT_NS;
	c->idle_timeout_ns = MX_PROXY_DEFAULT_IDLE_TIMEOUT_NS;
	c->line_timeout_ns = MX_PROXY_DEFAULT_LINE_TIMEOUT_NS;
	c->data_timeout_ns = MX_PROXY_DEFAULT_DATA_TIMEOUT_NS;
	c->tarpit_max_ns = MX_PROXY_DEFAULT_TARPIT_MAX_NS;
	c->tls_min = MX_TLS_V1_2;
	c->tls_max = MX_TLS_V1_3;
	c->tls_handshake_timeout_ns = MX_PROXY_DEFAULT_TLS_HANDSHAKE_TIMEOUT_NS;
	snprintf(c->tls_ciphers, sizeof(c->tls_ciphers), "%s", MX_PROXY_DEFAULT_TLS_CIPHERS);
	snprintf(c->verdict_socket, sizeof(c->verdict_socket), "%s",
		 MX_PROXY_DEFAULT_VERDICT_SOCKET);
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int mx_sockaddr_parse(const char *s, struct mx_sockaddr *out, const char **why)
{
	char host[SOCKADDR_TEXT_MAX];
	const char *colon, *h = s;
	size_t hl;
	uint16_t port;

	memset(out, 0, sizeof(*out));
	*why = "expected ADDR:PORT or [IPV6]:PORT";
	if (strlen(s) >= sizeof(host))
		return -1;
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -1; /* a bare IPv6 address needs brackets */
		hl = (size_t)(colon - s);
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (parse_port(colon + 1, &port) < 0) {
		*why = "bad port (1..65535)";
		return -1;
	}
	if (*s != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			*why = "bad IPv4 address (IPv6 goes in brackets)";
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		out->len = sizeof(*sin);
		return 0;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
		*why = "bad IPv6 address";
		return -1;
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	out->len = sizeof(*sin6);
	return 0;
}

char *mx_sockaddr_format(const struct mx_sockaddr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

bool mx_proxy_conf_trusted(const struct mx_proxy_conf *c, const mx_prefix *peer)
{
	for (size_t i = 0; i < c->n_trusted; i++)
		if (mx_prefix_contains(&c->trusted[i], peer))
			return true;
	return false;
}

static int add_listen(void *ctx, const char *file, int line, const char *item)
{
	struct mx_proxy_conf *c = ctx;
	const char *why;

	if (c->n_listen >= MX_PROXY_MAX_LISTEN) {
		mx_log_at(MX_LOG_ERROR, file, line, "more than %d listen addresses",
			  MX_PROXY_MAX_LISTEN);
		return -1;
	}
	if (mx_sockaddr_parse(item, &c->listen[c->n_listen], &why) < 0) {
		mx_log_at(MX_LOG_ERROR, file, line, "bad listen address \"%s\": %s", item, why);
		return -1;
	}
	c->n_listen++;
	return 0;
}

static int add_listen_tls(void *ctx, const char *file, int line, const char *item)
{
	struct mx_proxy_conf *c = ctx;
	const char *why;

	if (c->n_listen_tls >= MX_PROXY_MAX_LISTEN) {
		mx_log_at(MX_LOG_ERROR, file, line, "more than %d listen_tls addresses",
			  MX_PROXY_MAX_LISTEN);
		return -1;
	}
	if (mx_sockaddr_parse(item, &c->listen_tls[c->n_listen_tls], &why) < 0) {
		mx_log_at(MX_LOG_ERROR, file, line, "bad listen_tls address \"%s\": %s", item, why);
		return -1;
	}
	c->n_listen_tls++;
	return 0;
}

static int add_file(const char *file, int line, const char *key, const char *item,
		    char (*list)[256], size_t *n)
{
	if (*n >= MX_PROXY_MAX_CERTS) {
		mx_log_at(MX_LOG_ERROR, file, line, "%s: more than %d files", key, MX_PROXY_MAX_CERTS);
		return -1;
	}
	if (item[0] != '/') {
		mx_log_at(MX_LOG_ERROR, file, line, "%s: \"%s\" is not an absolute path", key, item);
		return -1;
	}
	return mx_conf_string(file, line, key, item, list[(*n)++], sizeof(list[0]));
}

static int add_cert(void *ctx, const char *file, int line, const char *item)
{
	struct mx_proxy_conf *c = ctx;

	return add_file(file, line, "tls_cert", item, c->tls_cert, &c->n_tls_cert);
}

static int add_key(void *ctx, const char *file, int line, const char *item)
{
	struct mx_proxy_conf *c = ctx;

	return add_file(file, line, "tls_key", item, c->tls_key, &c->n_tls_key);
}

static const struct {
	const char *name;
	uint16_t v;
} tls_versions[] = {
	{ "TLSv1", MX_TLS_V1_0 }, { "TLSv1.0", MX_TLS_V1_0 }, { "TLSv1.1", MX_TLS_V1_1 },
	{ "TLSv1.2", MX_TLS_V1_2 }, { "TLSv1.3", MX_TLS_V1_3 },
};

const char *mx_tls_version_name(uint16_t v)
{
	for (size_t i = 1; i < sizeof(tls_versions) / sizeof(tls_versions[0]); i++)
		if (tls_versions[i].v == v)
			return tls_versions[i].name;
	return "?";
}

/* "TLSv1.2, TLSv1.3": a contiguous range of versions. */
static int set_protocols(struct mx_proxy_conf *c, const char *file, int line, const char *value)
{
	char *copy = strdup(value), *save = NULL, *tok;
	unsigned mask = 0;
	int rc = -1;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		size_t i;

		for (i = 0; i < sizeof(tls_versions) / sizeof(tls_versions[0]); i++)
			if (strcasecmp(tok, tls_versions[i].name) == 0)
				break;
		if (i == sizeof(tls_versions) / sizeof(tls_versions[0])) {
			mx_log_at(MX_LOG_ERROR, file, line,
				  "tls_protocols: unknown protocol \"%s\" (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)",
				  tok);
			goto out;
		}
		mask |= 1u << (tls_versions[i].v - MX_TLS_V1_0);
	}
	if (!mask) {
		mx_log_at(MX_LOG_ERROR, file, line, "tls_protocols: empty");
		goto out;
	}
	c->tls_min = (uint16_t)(MX_TLS_V1_0 + __builtin_ctz(mask));
	c->tls_max = (uint16_t)(MX_TLS_V1_0 + 31 - __builtin_clz(mask));
	if (mask != ((1u << (c->tls_max - MX_TLS_V1_0 + 1)) - (1u << (c->tls_min - MX_TLS_V1_0)))) {
		mx_log_at(MX_LOG_ERROR, file, line,
			  "tls_protocols: \"%s\" leaves a gap; give a contiguous range", value);
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

static int set_bool(const char *file, int line, const char *key, const char *value, bool *out)
{
	static const char *const names[] = { "no", "yes", "false", "true", "off", "on", "0", "1",
					     NULL };
	int i;

	if (mx_conf_enum(file, line, key, value, names, &i) < 0)
		return -1;
	*out = i & 1;
	return 0;
}

static int add_trusted(void *ctx, const char *file, int line, const char *item)
{
	struct mx_proxy_conf *c = ctx;
	const char *why = "bad prefix";

	if (c->n_trusted >= MX_PROXY_MAX_TRUSTED) {
		mx_log_at(MX_LOG_ERROR, file, line, "more than %d trusted_proxies",
			  MX_PROXY_MAX_TRUSTED);
		return -1;
	}
	if (mx_prefix_parse(item, false, &c->trusted[c->n_trusted], &why) < 0) {
		mx_log_at(MX_LOG_ERROR, file, line, "bad trusted_proxies entry \"%s\": %s", item,
			  why);
		return -1;
	}
	c->n_trusted++;
	return 0;
}

static const char *const pp_names[] = { "none", "v1", "v2", NULL };
static const char *const pa_names[] = { "none", "v1", "v2", "any", NULL };

int mx_proxy_conf_set(struct mx_proxy_conf *c, const char *file, int line, const char *key,
		      const char *value)
{
	int e;

	c->present = true;
	if (strcmp(key, "listen") == 0)
		return mx_conf_list(c, file, line, value, add_listen);
	if (strcmp(key, "trusted_proxies") == 0)
		return mx_conf_list(c, file, line, value, add_trusted);
	if (strcmp(key, "backend") == 0) {
		const char *why;

		if (mx_sockaddr_parse(value, &c->backend, &why) < 0) {
			mx_log_at(MX_LOG_ERROR, file, line, "bad backend \"%s\": %s", value, why);
			return -1;
		}
		c->backend_set = true;
		return 0;
	}
	if (strcmp(key, "proxy_protocol") == 0) {
		if (mx_conf_enum(file, line, key, value, pp_names, &e) < 0)
			return -1;
		c->proxy_protocol = (enum mx_proxy_protocol)e;
		return 0;
	}
	if (strcmp(key, "accept_proxy") == 0) {
		if (mx_conf_enum(file, line, key, value, pa_names, &e) < 0)
			return -1;
		c->accept_proxy = (enum mx_proxy_accept)e;
		return 0;
	}
	if (strcmp(key, "max_clients") == 0)
		return mx_conf_u32(file, line, key, value, 1, &c->max_clients);
	if (strcmp(key, "tarpit_max_sessions") == 0)
		return mx_conf_u32(file, line, key, value, 0, &c->tarpit_max_sessions);
	if (strcmp(key, "connect_timeout") == 0)
		return mx_conf_duration(file, line, key, value, &c->connect_timeout_ns);
	if (strcmp(key, "idle_timeout") == 0)
		return mx_conf_duration(file, line, key, value, &c->idle_timeout_ns);
	if (strcmp(key, "line_timeout") == 0)
		return mx_conf_duration(file, line, key, value, &c->line_timeout_ns);
	if (strcmp(key, "data_timeout") == 0)
		return mx_conf_duration(file, line, key, value, &c->data_timeout_ns);
	if (strcmp(key, "tarpit_max") == 0)
		return mx_conf_duration(file, line, key, value, &c->tarpit_max_ns);
	if (strcmp(key, "verdict_socket") == 0) {
		if (strcasecmp(value, "none") == 0) {
			c->verdict_socket[0] = '\0';
			return 0;
		}
		if (value[0] != '/') {
			mx_log_at(MX_LOG_ERROR, file, line,
				  "verdict_socket: expected an absolute path or none");
			return -1;
		}
		return mx_conf_string(file, line, key, value, c->verdict_socket,
				  sizeof(c->verdict_socket));
	}
	if (strcmp(key, "hostname") == 0)
		return mx_conf_string(file, line, key, value, c->hostname, sizeof(c->hostname));
	if (strcmp(key, "tls_cert") == 0) {
		c->n_tls_cert = 0; /* the last line wins, as for other keys */
		c->tls_cert_line = line;
		return mx_conf_list(c, file, line, value, add_cert);
	}
	if (strcmp(key, "tls_key") == 0) {
		c->n_tls_key = 0;
		c->tls_key_line = line;
		return mx_conf_list(c, file, line, value, add_key);
	}
	if (strcmp(key, "tls_protocols") == 0)
		return set_protocols(c, file, line, value);
	if (strcmp(key, "tls_ciphers") == 0)
		return mx_conf_string(file, line, key, value, c->tls_ciphers, sizeof(c->tls_ciphers));
	if (strcmp(key, "tls_required") == 0)
		return set_bool(file, line, key, value, &c->tls_required);
	if (strcmp(key, "tls_handshake_timeout") == 0)
		return mx_conf_duration(file, line, key, value, &c->tls_handshake_timeout_ns);
	if (strcmp(key, "listen_tls") == 0)
		return mx_conf_list(c, file, line, value, add_listen_tls);
	if (strcmp(key, "backend_xclient") == 0)
		return set_bool(file, line, key, value, &c->backend_xclient);
	if (strcmp(key, "backend_tls") == 0)
		return set_bool(file, line, key, value, &c->backend_tls);
	if (strcmp(key, "backend_tls_ca") == 0) {
		if (value[0] != '/') {
			mx_log_at(MX_LOG_ERROR, file, line,
				  "backend_tls_ca: \"%s\" is not an absolute path", value);
			return -1;
		}
		return mx_conf_string(file, line, key, value, c->backend_tls_ca,
				      sizeof(c->backend_tls_ca));
	}
	if (strcmp(key, "backend_tls_name") == 0)
		return mx_conf_string(file, line, key, value, c->backend_tls_name,
				      sizeof(c->backend_tls_name));
	mx_log_at(MX_LOG_ERROR, file, line, "unknown key \"%s\" in [proxy]", key);
	return -1;
}

int mx_proxy_conf_finish(struct mx_proxy_conf *c, const char *file, int section_line)
{
	if (!c->present)
		return 0; /* no [proxy]: only mxlimit-proxy itself needs one */
	if (c->accept_proxy != MX_PA_NONE && c->n_trusted == 0) {
		mx_log_at(MX_LOG_ERROR, file, section_line,
			  "accept_proxy needs trusted_proxies (the load balancers allowed to send it)");
		return -1;
	}
	if (c->n_trusted && c->accept_proxy == MX_PA_NONE)
		mx_log_at(MX_LOG_WARN, file, section_line,
			  "trusted_proxies is ignored while accept_proxy = none");
	if (c->tarpit_max_ns >= c->idle_timeout_ns) {
		mx_log_at(MX_LOG_ERROR, file, section_line,
			  "tarpit_max must stay below idle_timeout, or clients time out in the tarpit");
		return -1;
	}
	if (c->n_tls_cert != c->n_tls_key) {
		mx_log_at(MX_LOG_ERROR, file, c->tls_cert_line ? c->tls_cert_line : c->tls_key_line,
			  "tls_cert names %zu file(s) and tls_key %zu: they pair up by position",
			  c->n_tls_cert, c->n_tls_key);
		return -1;
	}
	if (!c->n_tls_cert && (c->n_listen_tls || c->tls_required)) {
		mx_log_at(MX_LOG_ERROR, file, section_line, "%s needs tls_cert and tls_key",
			  c->n_listen_tls ? "listen_tls" : "tls_required");
		return -1;
	}
	if (c->backend_tls && !c->backend_tls_name[0]) {
		mx_log_at(MX_LOG_ERROR, file, section_line,
			  "backend_tls needs backend_tls_name: the name the backend's certificate must carry");
		return -1;
	}
	if (c->backend_tls && c->proxy_protocol != MX_PP_NONE) {
		mx_log_at(MX_LOG_ERROR, file, section_line,
			  "backend_tls and proxy_protocol: a PROXY header cannot go inside the backend's TLS; use backend_xclient");
		return -1;
	}
	if (c->backend_xclient && c->proxy_protocol != MX_PP_NONE) {
		mx_log_at(MX_LOG_ERROR, file, section_line,
			  "backend_xclient and proxy_protocol both hand the client over: choose one");
		return -1;
	}
	if (c->tarpit_max_sessions == 0)
		c->tarpit_max_sessions = c->max_clients / 4 ? c->max_clients / 4 : 1;
	return 0;
}
