/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tls.c - the proxy's TLS server side; see tls.h.
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"

struct tls_group {
	SSL_CTX *ctx;
	X509 *cert;      /* the group's first certificate: its names */
	char names[512]; /* canonical: sorted DNS names, for grouping */
	int key_types[MX_PROXY_MAX_CERTS];
	size_t n_keys;
};

struct px_tls {
	struct tls_group g[MX_PROXY_MAX_CERTS];
	size_t n;
	unsigned refs; /* the owner's, plus one per SSL object made on it */
};

/*
 * Each server-side SSL object holds a reference to the set it was made on
 * (ex_data, dropped by OpenSSL when the SSL object is freed): sni_cb reads
 * the set's certificates when the ClientHello arrives, which may be after
 * a SIGHUP replaced the set (the SSL_CTX references alone keep only the
 * contexts alive, not the names SNI is matched against).
 */
static int ssl_set_idx = -1;

/* The last OpenSSL error, for a log line. */
static const char *ssl_err(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return errno ? strerror(errno) : "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The DNS names of a certificate (SANs, else the CN), sorted, joined. */
static void cert_names(X509 *x, char *out, size_t len)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char *names[64];
	size_t n = 0, off = 0;

	out[0] = '\0';
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && n < 64; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

		if (gn->type == GEN_DNS)
			names[n++] = (char *)ASN1_STRING_get0_data(gn->d.dNSName);
	}
	if (n == 0) {
		char cn[256];

		if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
					      sizeof(cn)) > 0)
			snprintf(out, len, "%s", cn);
		GENERAL_NAMES_free(sans);
		return;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s", i ? "," : "", names[i]);
	GENERAL_NAMES_free(sans);
}

static int sni_cb(SSL *ssl, int *al, void *arg)
{
	struct px_tls *t = SSL_get_ex_data(ssl, ssl_set_idx);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)al;
	(void)arg;
	if (!t || !name)
		return SSL_TLSEXT_ERR_OK; /* the default group */
	for (size_t i = 0; i < t->n; i++) {
		if (X509_check_host(t->g[i].cert, name, 0, 0, NULL) == 1) {
			if (i)
				SSL_set_SSL_CTX(ssl, t->g[i].ctx);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK; /* unknown name: the default certificate */
}

static SSL_CTX *new_ctx(const struct mx_proxy_conf *c, const char *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		mx_err("%s: [proxy] TLS: %s", cfg, ssl_err());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, c->tls_min);
	SSL_CTX_set_max_proto_version(ctx, c->tls_max);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mxlimit-proxy", 13);
	/* no read-ahead: with it OpenSSL took the client's first command off
	 * the socket together with its handshake Finished and held it where no
	 * epoll event shows it (the TLS bench saw sessions stall after
	 * STARTTLS); a record costs a read() for its header and one for its
	 * body instead */
	/* one TLS 1.3 ticket (OpenSSL sends two): a mail client resumes once */
	SSL_CTX_set_num_tickets(ctx, 1);
	if (SSL_CTX_set_cipher_list(ctx, c->tls_ciphers) != 1) {
		mx_err("%s: [proxy] tls_ciphers \"%s\": no usable cipher (%s)", cfg, c->tls_ciphers,
		       ssl_err());
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	return ctx;
}

/* NULL with errno set when the file cannot be opened, 0 when it holds no
 * certificate. */
static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (!f)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	errno = 0;
	return x;
}

/* A pair's private key, checked against the pair's own certificate (once
 * an RSA and an ECDSA certificate share a context, the context's own check
 * sees only the slot a key lands in).  NULL on error (reported). */
static EVP_PKEY *read_key(const char *cfg, const char *cert, X509 *x, const char *key)
{
	FILE *f = fopen(key, "r");
	EVP_PKEY *pk;

	if (!f) {
		mx_err("%s: [proxy] tls_key %s: %s", cfg, key, strerror(errno));
		return NULL;
	}
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pk) {
		mx_err("%s: [proxy] tls_key %s: cannot read a PEM private key (%s)", cfg, key,
		       ssl_err());
		return NULL;
	}
	if (X509_check_private_key(x, pk) != 1) {
		mx_err("%s: [proxy] tls_key %s does not match tls_cert %s", cfg, key, cert);
		ERR_clear_error();
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

/* The group a certificate joins: same names, no key of its type yet. */
static struct tls_group *find_group(struct px_tls *t, const char *names, int type)
{
	for (size_t i = 0; i < t->n; i++) {
		bool has_type = false;

		for (size_t k = 0; k < t->g[i].n_keys; k++)
			has_type |= t->g[i].key_types[k] == type;
		if (strcmp(t->g[i].names, names) == 0 && !has_type)
			return &t->g[i];
	}
	return NULL;
}

/* One pair into its group.  0, or -1 (reported). */
static int add_pair(struct px_tls *t, const struct mx_proxy_conf *c, const char *cfg,
		    const char *cert, const char *key)
{
	struct tls_group *g;
	char names[512];
	X509 *x = read_cert(cert);
	EVP_PKEY *pk;
	int type, rc = -1;

	if (!x) {
		if (errno)
			mx_err("%s: [proxy] tls_cert %s: %s", cfg, cert, strerror(errno));
		else
			mx_err("%s: [proxy] tls_cert %s: cannot read a PEM certificate (%s)", cfg,
			       cert, ssl_err());
		ERR_clear_error();
		return -1;
	}
	if (!(pk = read_key(cfg, cert, x, key))) {
		X509_free(x);
		return -1;
	}
	cert_names(x, names, sizeof(names));
	type = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
	g = find_group(t, names, type);
	if (!g) {
		g = &t->g[t->n];
		memset(g, 0, sizeof(*g));
		if (!(g->ctx = new_ctx(c, cfg)))
			goto out;
		g->cert = x; /* the group keeps it: its names answer SNI */
		x = NULL;
		snprintf(g->names, sizeof(g->names), "%s", names);
		t->n++;
	}
	g->key_types[g->n_keys++] = type;
	if (SSL_CTX_use_certificate_chain_file(g->ctx, cert) != 1) {
		mx_err("%s: [proxy] tls_cert %s: %s", cfg, cert, ssl_err());
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(g->ctx, pk) != 1 || SSL_CTX_check_private_key(g->ctx) != 1) {
		mx_err("%s: [proxy] tls_key %s does not match tls_cert %s", cfg, key, cert);
		ERR_clear_error();
		goto out;
	}
	mx_debug("TLS certificate %s (%s) loaded", cert, names[0] ? names : "no name");
	rc = 0;
out:
	EVP_PKEY_free(pk);
	X509_free(x);
	return rc;
}

static void ssl_set_release(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	px_tls_free(ptr); /* NULL for client-side SSL objects */
}

struct px_tls *px_tls_new(const struct mx_proxy_conf *c, const char *cfg, bool *err)
{
	struct px_tls *t;

	*err = false;
	if (!c->n_tls_cert)
		return NULL;
	if (ssl_set_idx < 0 &&
	    (ssl_set_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_set_release)) < 0) {
		mx_err("%s: [proxy] TLS: %s", cfg, ssl_err());
		*err = true;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		*err = true;
		return NULL;
	}
	t->refs = 1;
	for (size_t i = 0; i < c->n_tls_cert; i++) {
		errno = 0;
		if (add_pair(t, c, cfg, c->tls_cert[i], c->tls_key[i]) < 0) {
			px_tls_free(t);
			*err = true;
			return NULL;
		}
	}
	return t;
}

void px_tls_free(struct px_tls *t)
{
	if (!t || --t->refs)
		return;
	for (size_t i = 0; i < t->n; i++) {
		SSL_CTX_free(t->g[i].ctx);
		X509_free(t->g[i].cert);
	}
	free(t);
}

struct px_tls_client {
	SSL_CTX *ctx;
	char name[256];
};

struct px_tls_client *px_tls_client_new(const struct mx_proxy_conf *c, const char *cfg,
					 bool *err)
{
	struct px_tls_client *t;

	*err = false;
	if (!c->backend_tls)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method()))) {
		mx_err("%s: [proxy] backend_tls: %s", cfg, ssl_err());
		free(t);
		*err = true;
		return NULL;
	}
	SSL_CTX_set_min_proto_version(t->ctx, MX_TLS_V1_2);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	errno = 0;
	if (c->backend_tls_ca[0] ? SSL_CTX_load_verify_locations(t->ctx, c->backend_tls_ca, NULL) != 1
				 : SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		mx_err("%s: [proxy] backend_tls_ca %s: %s", cfg,
		       c->backend_tls_ca[0] ? c->backend_tls_ca : "(the system's store)",
		       errno ? strerror(errno) : ssl_err());
		ERR_clear_error();
		px_tls_client_free(t);
		*err = true;
		return NULL;
	}
	snprintf(t->name, sizeof(t->name), "%s", c->backend_tls_name);
	return t;
}

void px_tls_client_free(struct px_tls_client *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

SSL *px_tls_connect(struct px_tls_client *t, int fd)
{
	SSL *ssl = SSL_new(t->ctx);

	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, t->name) != 1 ||
	    SSL_set1_host(ssl, t->name) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

const char *px_tls_verify_error(SSL *ssl)
{
	long v = SSL_get_verify_result(ssl);

	return v == X509_V_OK ? NULL : X509_verify_cert_error_string(v);
}

SSL *px_tls_accept(struct px_tls *t, int fd)
{
	SSL *ssl = SSL_new(t->g[0].ctx);

	if (!ssl)
		return NULL;
	if (SSL_set_ex_data(ssl, ssl_set_idx, t) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	t->refs++; /* SSL_free gives it back (ssl_set_release) */
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

void px_tls_close(SSL *ssl)
{
	if (!ssl)
		return;
	/* one close_notify, best effort: the socket is non-blocking */
	if (SSL_is_init_finished(ssl))
		SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
}

static enum px_tls_io io_result(SSL *ssl, int rc)
{
	int e = SSL_get_error(ssl, rc);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return PX_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return PX_TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return PX_TLS_EOF;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		/* OpenSSL 3: an EOF without close_notify is SSL_ERROR_SSL
		 * "unexpected eof"; a syscall error with errno 0 is EOF too */
		return errno == 0 ? PX_TLS_EOF : PX_TLS_ERROR;
	default:
		ERR_clear_error();
		return PX_TLS_ERROR;
	}
}

enum px_tls_io px_tls_handshake(SSL *ssl, char *why, size_t whylen)
{
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return PX_TLS_OK;
	if (why && whylen) {
		unsigned long e = ERR_peek_last_error();

		if (e)
			ERR_error_string_n(e, why, whylen);
		else
			snprintf(why, whylen, "%s", errno ? strerror(errno) : "connection closed");
	}
	return io_result(ssl, rc);
}

enum px_tls_io px_tls_read(SSL *ssl, struct mx_buf *b, size_t *n)
{
	*n = 0;
	for (;;) {
		uint32_t room = mx_buf_room(b);
		size_t got = 0;
		int rc;

		if (!room)
			return PX_TLS_OK;
		ERR_clear_error();
		errno = 0;
		rc = SSL_read_ex(ssl, b->d + b->w, room, &got);
		if (rc == 1) {
			b->w += (uint32_t)got;
			*n += got;
			if (!SSL_has_pending(ssl))
				return PX_TLS_OK; /* no read() that would only say EAGAIN */
			continue;
		}
		/* the caller takes what was read before the condition first */
		return io_result(ssl, rc);
	}
}

enum px_tls_io px_tls_write(SSL *ssl, struct mx_buf *b)
{
	while (mx_buf_len(b)) {
		size_t done = 0;
		int rc;

		ERR_clear_error();
		errno = 0;
		rc = SSL_write_ex(ssl, mx_buf_data(b), mx_buf_len(b), &done);
		if (rc != 1)
			return io_result(ssl, rc);
		mx_buf_consume(b, done);
	}
	return PX_TLS_OK;
}

bool px_tls_pending(SSL *ssl)
{
	return SSL_has_pending(ssl) == 1;
}

const char *px_tls_version(SSL *ssl)
{
	return SSL_get_version(ssl);
}

const char *px_tls_cipher(SSL *ssl)
{
	return SSL_get_cipher_name(ssl);
}
