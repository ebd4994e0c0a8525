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

#include "addr.h"

#define MX_PROXY_MAX_LISTEN 8
#define MX_PROXY_MAX_TRUSTED 32
/* Certificate/key pairs (RSA and ECDSA of one name, several names). */
#define MX_PROXY_MAX_CERTS 8

enum mx_proxy_protocol { MX_PP_NONE = 0, MX_PP_V1 = 1, MX_PP_V2 = 2 };
/* accept_proxy: which PROXY header a trusted upstream must send.  ANY
 * takes v1 or v2 (their signatures cannot be confused); untrusted peers
 * never get their first bytes read as a header. */
enum mx_proxy_accept { MX_PA_NONE = 0, MX_PA_V1 = 1, MX_PA_V2 = 2, MX_PA_ANY = 3 };

/* Defaults (mxlimit-proxy(8) [proxy]; RFC 5321 4.5.3.2 for the SMTP timeouts). */
#define MX_PROXY_DEFAULT_MAX_CLIENTS 1000
#define MX_PROXY_DEFAULT_CONNECT_TIMEOUT_NS (10ULL * 1000000000ULL)
#define MX_PROXY_DEFAULT_IDLE_TIMEOUT_NS (300ULL * 1000000000ULL)
/* A slow-drip client gets a minute per command line, far above any real one. */
#define MX_PROXY_DEFAULT_LINE_TIMEOUT_NS (60ULL * 1000000000ULL)
#define MX_PROXY_DEFAULT_DATA_TIMEOUT_NS (180ULL * 1000000000ULL)
/* Tarpit delays stay far below the 5-minute client timeouts. */
#define MX_PROXY_DEFAULT_TARPIT_MAX_NS (30ULL * 1000000000ULL)
#define MX_PROXY_DEFAULT_VERDICT_SOCKET "/run/mxlimit/verdict.sock"
/* nginx's ssl_handshake_timeout is 60 s; a real client needs well under 1 s. */
#define MX_PROXY_DEFAULT_TLS_HANDSHAKE_TIMEOUT_NS (30ULL * 1000000000ULL)
/* OpenSSL syntax, for TLS 1.2 (TLS 1.3 suites are OpenSSL's default):
 * forward-secret AEAD and CBC suites, nothing anonymous or broken.  SMTP
 * is opportunistic: too strict a list sends clients back to plaintext. */
#define MX_PROXY_DEFAULT_TLS_CIPHERS "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!CAMELLIA:!PSK:!SRP"

/* TLS protocol versions, as OpenSSL numbers them (TLS1_2_VERSION ...). */
#define MX_TLS_V1_0 0x0301
#define MX_TLS_V1_1 0x0302
#define MX_TLS_V1_2 0x0303
#define MX_TLS_V1_3 0x0304

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
	char verdict_socket[108];     /* sun_path; "" = verdicts off */
	/* incoming PROXY header (from load balancers) */
	enum mx_proxy_accept accept_proxy;
	mx_prefix trusted[MX_PROXY_MAX_TRUSTED]; /* trusted_proxies */
	size_t n_trusted;
	/* tarpit: cap per reply, and sessions tarpitted at once (0 = max_clients / 4) */
	uint64_t tarpit_max_ns;
	uint32_t tarpit_max_sessions;
	/* name in the proxy's own replies; "" = gethostname() */
	char hostname[256];
	/* TLS (mxlimit-proxy(8) TLS): pairs by position; none = no TLS */
	char tls_cert[MX_PROXY_MAX_CERTS][256];
	char tls_key[MX_PROXY_MAX_CERTS][256];
	size_t n_tls_cert, n_tls_key;
	int tls_cert_line, tls_key_line;
	uint16_t tls_min, tls_max; /* MX_TLS_V1_x */
	char tls_ciphers[512];
	bool tls_required;            /* MAIL before STARTTLS: 530 5.7.0 */
	uint64_t tls_handshake_timeout_ns;
	struct mx_sockaddr listen_tls[MX_PROXY_MAX_LISTEN]; /* implicit TLS (465) */
	size_t n_listen_tls;
	bool backend_xclient;         /* hand the client over with XCLIENT */
	/* TLS from the first byte to a backend on another host (SMTPS) */
	bool backend_tls;
	char backend_tls_ca[256];     /* "" = the system's trust store */
	char backend_tls_name[256];   /* the name its certificate must carry */
};

/* "192.0.2.1:25", "[2001:db8::1]:25" (numeric only: no DNS in a config).
 * Returns 0, or -1 with a short reason in *why (static string). */
int mx_sockaddr_parse(const char *s, struct mx_sockaddr *out, const char **why);
/* "192.0.2.1:25" / "[2001:db8::1]:25"; returns buf. */
char *mx_sockaddr_format(const struct mx_sockaddr *a, char *buf, size_t len);
/* "TLSv1.2" for MX_TLS_V1_2. */
const char *mx_tls_version_name(uint16_t v);
/* Is a peer address within trusted_proxies? */
bool mx_proxy_conf_trusted(const struct mx_proxy_conf *c, const mx_prefix *peer);

/* Defaults before any key is set. */
void mx_proxy_conf_init(struct mx_proxy_conf *c);
/* One key; on error report "FILE:LINE: message" through log.h, return -1. */
int mx_proxy_conf_set(struct mx_proxy_conf *c, const char *file, int line, const char *key,
		      const char *value);
/* After the whole file; checks consistency.  Returns 0 or -1 (reported). */
int mx_proxy_conf_finish(struct mx_proxy_conf *c, const char *file, int section_line);

#endif
