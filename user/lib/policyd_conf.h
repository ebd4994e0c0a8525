/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policyd_conf.h - the [policyd] section of limit.ini: where
 * mxlimit-policyd listens for Postfix's policy requests, and its limits.
 *
 * policy.c hands every key of [policyd] to mx_policyd_conf_set(), so
 * `mxlimit check` and mxlimit-policyd judge a file the same way.
 */
#ifndef MX_POLICYD_CONF_H
#define MX_POLICYD_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proxy_conf.h"

#define MX_POLICYD_MAX_LISTEN 8
#define MX_POLICYD_DEFAULT_MAX_CLIENTS 1000
/* Postfix closes an idle policy connection after 300 s
 * (smtpd_policy_service_max_idle); ours closes later so that Postfix's
 * own timer normally ends it. */
#define MX_POLICYD_DEFAULT_IDLE_TIMEOUT_NS (600ULL * 1000000000ULL)
/* A derived SMTP session's recipient count is forgotten this long after
 * its last request (several times smtpd_timeout, 300 s). */
#define MX_POLICYD_DEFAULT_SESSION_TIMEOUT_NS (3600ULL * 1000000000ULL)
/* Only root and the group may connect: a policy request names the client
 * it is about, and a [penalty] verdict follows what it says, so whoever
 * can write to the socket can get any address blocked. */
#define MX_POLICYD_DEFAULT_SOCKET_MODE 0660
/* The group Postfix's smtpd runs in (Debian: mail_owner postfix). */
#define MX_POLICYD_DEFAULT_SOCKET_GROUP "postfix"
#define MX_POLICYD_DEFAULT_VERDICT_SOCKET MX_PROXY_DEFAULT_VERDICT_SOCKET

struct mx_policyd_listen {
	bool is_unix;
	char path[108];        /* unix: sun_path */
	struct mx_sockaddr inet;
};

struct mx_policyd_conf {
	bool present; /* [policyd] appeared */
	struct mx_policyd_listen listen[MX_POLICYD_MAX_LISTEN];
	size_t n_listen;
	mode_t socket_mode;
	bool socket_group_set; /* else MX_POLICYD_DEFAULT_SOCKET_GROUP, if it exists */
	gid_t socket_group;
	char verdict_socket[108]; /* "" = verdicts off */
	uint64_t idle_timeout_ns;
	uint64_t session_timeout_ns;
	uint32_t max_clients; /* policy connections at once */
};

void mx_policyd_conf_init(struct mx_policyd_conf *c);
/* One key; on error report "FILE:LINE: message" through log.h, return -1. */
int mx_policyd_conf_set(struct mx_policyd_conf *c, const char *file, int line, const char *key,
			const char *value);
/* After the whole file.  Returns 0 or -1 (reported). */
int mx_policyd_conf_finish(struct mx_policyd_conf *c, const char *file, int section_line);
/* "unix:/run/x.sock" or "127.0.0.1:10040"; returns buf. */
char *mx_policyd_listen_format(const struct mx_policyd_listen *l, char *buf, size_t len);

#endif
