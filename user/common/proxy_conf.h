/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * proxy_conf.h - the [proxy] section of limit.ini.
 *
 * policy.c collects the section's key/value lines and hands each to
 * mx_proxy_conf_set(); mx_proxy_conf_finish() checks the whole and fills
 * defaults.  Owned by the proxy; `mxlimit check` validates it too.
 */
#ifndef MX_PROXY_CONF_H
#define MX_PROXY_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MX_PROXY_MAX_LISTEN 8
#define MX_PROXY_MAX_TRUSTED 32

enum mx_proxy_protocol { MX_PP_NONE = 0, MX_PP_V1 = 1, MX_PP_V2 = 2 };

struct mx_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct mx_proxy_conf {
	bool present;                       /* [proxy] appeared */
	struct mx_sockaddr listen[MX_PROXY_MAX_LISTEN];
	size_t n_listen;
	struct mx_sockaddr backend;
	bool backend_set;
	enum mx_proxy_protocol proxy_protocol; /* sent to the backend */
	uint32_t max_clients;
	uint64_t connect_timeout_ns;
	uint64_t idle_timeout_ns;     /* RFC 5321 4.5.3.2.7: 5 min */
	uint64_t line_timeout_ns;     /* time to complete one command line */
	uint64_t data_timeout_ns;     /* RFC 5321: 3 min per data block */
	char verdict_socket[108];     /* sun_path */
};

/* Defaults before any key is set. */
void mx_proxy_conf_init(struct mx_proxy_conf *c);
/* One key; on error report "FILE:LINE: message" through log.h, return -1. */
int mx_proxy_conf_set(struct mx_proxy_conf *c, const char *file, int line, const char *key,
		      const char *value);
/* After the whole file; checks consistency.  Returns 0 or -1 (reported). */
int mx_proxy_conf_finish(struct mx_proxy_conf *c, const char *file, int section_line);

#endif
