/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tls.h - the proxy's TLS server side (OpenSSL): certificates from
 * [proxy] tls_cert / tls_key, chosen by SNI, and non-blocking transport
 * for one session's client socket.
 *
 * Certificates are grouped by the names they carry: pairs with the same
 * names (an RSA and an ECDSA certificate of one host) share one SSL_CTX,
 * so OpenSSL picks by the client's signature algorithms; pairs with other
 * names get their own, picked by the client's SNI (X509_check_host), the
 * first group being the default.  Buffers are released while a session is
 * idle (SSL_MODE_RELEASE_BUFFERS).
 */
#ifndef PX_TLS_H
#define PX_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "iobuf.h"
#include "proxy_conf.h"

struct px_tls;
typedef struct ssl_st SSL;

/*
 * Load and check every pair (a missing or unreadable file, a key that
 * does not match its certificate, an unusable cipher list: an error
 * naming the file, through log.h).  NULL on error or when no certificate
 * is configured (then *err says which).
 */
struct px_tls *px_tls_new(const struct mx_proxy_conf *c, const char *cfg, bool *err);
/* Drop the caller's reference: the set lives on until the last SSL object
 * px_tls_accept made on it is freed (a handshake begun before a SIGHUP
 * finishes with the certificates it started with). */
void px_tls_free(struct px_tls *t);

/*
 * The client side, towards a backend on another host (backend_tls): the
 * backend's certificate must chain to backend_tls_ca (or the system's
 * store) and carry backend_tls_name.  NULL with *err when the CA file does
 * not load (reported), NULL without when backend_tls is off.
 */
struct px_tls_client;
struct px_tls_client *px_tls_client_new(const struct mx_proxy_conf *c, const char *cfg,
					 bool *err);
void px_tls_client_free(struct px_tls_client *t);
/* A client-side TLS state on a connected socket, or NULL. */
SSL *px_tls_connect(struct px_tls_client *t, int fd);
/* Why the peer's certificate was refused, after a failed handshake, or NULL. */
const char *px_tls_verify_error(SSL *ssl);

/* A server-side TLS state for an accepted socket, or NULL. */
SSL *px_tls_accept(struct px_tls *t, int fd);
void px_tls_close(SSL *ssl);

enum px_tls_io {
	PX_TLS_OK,         /* done, or progress made */
	PX_TLS_WANT_READ,  /* call again when the socket is readable */
	PX_TLS_WANT_WRITE, /* ... writable */
	PX_TLS_EOF,        /* the peer closed (close_notify or TCP) */
	PX_TLS_ERROR,
};

/* Drive the handshake.  PX_TLS_OK: finished. */
enum px_tls_io px_tls_handshake(SSL *ssl, char *why, size_t whylen);
/* Read into b's room, as much as there is (n: bytes read). */
enum px_tls_io px_tls_read(SSL *ssl, struct mx_buf *b, size_t *n);
/* Write out b (partial writes consume what went). */
enum px_tls_io px_tls_write(SSL *ssl, struct mx_buf *b);
/* Decrypted bytes waiting inside OpenSSL (epoll cannot see them). */
bool px_tls_pending(SSL *ssl);
/* "TLSv1.3" and the cipher's name, after the handshake. */
const char *px_tls_version(SSL *ssl);
const char *px_tls_cipher(SSL *ssl);

#endif
