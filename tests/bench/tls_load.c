/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tls_load.c - SMTP load generator for scripts/bench-tls.sh: SESSIONS
 * threads, each one connection that sends MSGS/SESSIONS messages of LEN
 * bytes (MAIL, RCPT, DATA, then body and "." in one write; one command
 * per round trip, as smtplib does), then QUIT.  With -w the final "."
 * line is a write of its own, after the body (as clients that flush the
 * body in pieces do).  Modes: plain, starttls (EHLO, STARTTLS,
 * handshake, EHLO again) and implicit (TLS from the first byte).
 * Certificates are not verified (self-signed bench certificates).
 *
 *   tls_load [-s SESSIONS] [-m MSGS] [-l LEN] [-M plain|starttls|implicit]
 *            [-r RCPT] [-t SECONDS] [-w] PORT
 *
 * Prints "msgs N secs S rate R" on success (messages acknowledged with
 * 250 over the wall-clock time from the first connect to the last QUIT)
 * and exits 0; any failed session or reply other than the expected one
 * prints why on stderr and exits 1.  Every socket has SO_RCVTIMEO /
 * SO_SNDTIMEO of SECONDS (default 30), so nothing blocks forever.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum mode { M_PLAIN, M_STARTTLS, M_IMPLICIT };

static int split, port, nsess = 10, nmsg = 1000, msglen = 1024, tmo = 30;
static enum mode mode = M_STARTTLS;
static const char *rcpt = "bench@example.test";
static SSL_CTX *ctx;
static char *body; /* msglen bytes of dot-safe lines ending in CRLF, then ".\r\n" */
static size_t bodylen;

struct conn {
	int fd;
	SSL *ssl;
	char buf[8192];
	size_t off, len;
	int id;
	long done;
	int failed;
};

static void fail(struct conn *c, const char *what)
{
	if (!c->failed)
		fprintf(stderr, "tls_load: session %d: %s\n", c->id, what);
	c->failed = 1;
}

static int c_write(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;

		if (c->ssl) {
			int r = SSL_write(c->ssl, p, (int)(n > 1 << 30 ? 1 << 30 : n));

			if (r <= 0) {
				fail(c, "SSL_write failed");
				return -1;
			}
			w = r;
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fail(c, "send failed");
				return -1;
			}
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int c_fill(struct conn *c)
{
	ssize_t r;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof(c->buf)) {
		fail(c, "reply line too long");
		return -1;
	}
	if (c->ssl) {
		int n = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));

		r = n > 0 ? n : -1;
	} else {
		do
			r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		while (r < 0 && errno == EINTR);
	}
	if (r <= 0) {
		fail(c, "connection closed or timed out while reading a reply");
		return -1;
	}
	c->len += (size_t)r;
	return 0;
}

/* reply: read one (multi-line) reply; returns its code or -1 */
static int reply(struct conn *c)
{
	for (;;) {
		char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);

		if (!nl) {
			if (c_fill(c) < 0)
				return -1;
			continue;
		}
		char *line = c->buf + c->off;
		size_t n = (size_t)(nl - line) + 1;

		c->off += n;
		if (n < 4) {
			fail(c, "short reply line");
			return -1;
		}
		if (line[3] != '-')
			return atoi(line);
	}
}

static int cmd(struct conn *c, const char *line, int want)
{
	int code;

	if (line && c_write(c, line, strlen(line)) < 0)
		return -1;
	code = reply(c);
	if (code < 0)
		return -1;
	if (code != want) {
		char why[200];

		snprintf(why, sizeof(why), "got %d, wanted %d, after %.60s", code, want,
			 line ? line : "(greeting or message)");
		fail(c, why);
		return -1;
	}
	return 0;
}

static int handshake(struct conn *c)
{
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		fail(c, "SSL_new failed");
		return -1;
	}
	/* bytes buffered in the clear must not exist here: reply() stops at
	 * the end of the 220 and the server sends nothing more */
	c->off = c->len = 0;
	if (SSL_connect(c->ssl) != 1) {
		fail(c, "TLS handshake failed");
		ERR_print_errors_fp(stderr);
		return -1;
	}
	return 0;
}

static void *session(void *arg)
{
	struct conn *c = arg;
	int share = nmsg / nsess + (c->id < nmsg % nsess ? 1 : 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = tmo };
	int one = 1;
	char mail[300];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0) {
		fail(c, "socket failed");
		return NULL;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fail(c, "connect failed");
		goto out;
	}
	if (mode == M_IMPLICIT && handshake(c) < 0)
		goto out;
	if (cmd(c, NULL, 220) < 0 || cmd(c, "EHLO bench.example.org\r\n", 250) < 0)
		goto out;
	if (mode == M_STARTTLS) {
		if (cmd(c, "STARTTLS\r\n", 220) < 0 || handshake(c) < 0 ||
		    cmd(c, "EHLO bench.example.org\r\n", 250) < 0)
			goto out;
	}
	snprintf(mail, sizeof(mail), "RCPT TO:<%s>\r\n", rcpt);
	for (int i = 0; i < share; i++) {
		if (cmd(c, "MAIL FROM:<bench@example.org>\r\n", 250) < 0 || cmd(c, mail, 250) < 0 ||
		    cmd(c, "DATA\r\n", 354) < 0 ||
		    c_write(c, body, split ? bodylen - 3 : bodylen) < 0 ||
		    cmd(c, split ? ".\r\n" : NULL, 250) < 0)
			goto out;
		c->done++;
	}
	cmd(c, "QUIT\r\n", 221);
out:
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: tls_load [-s SESSIONS] [-m MSGS] [-l LEN] "
			"[-M plain|starttls|implicit] [-r RCPT] [-t SECONDS] [-w] PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int o, failed = 0;
	long total = 0;
	double t0, t1;

	while ((o = getopt(argc, argv, "s:m:l:M:r:t:w")) != -1) {
		switch (o) {
		case 's': nsess = atoi(optarg); break;
		case 'm': nmsg = atoi(optarg); break;
		case 'l': msglen = atoi(optarg); break;
		case 'r': rcpt = optarg; break;
		case 't': tmo = atoi(optarg); break;
		case 'w': split = 1; break;
		case 'M':
			if (!strcmp(optarg, "plain"))
				mode = M_PLAIN;
			else if (!strcmp(optarg, "starttls"))
				mode = M_STARTTLS;
			else if (!strcmp(optarg, "implicit"))
				mode = M_IMPLICIT;
			else
				usage();
			break;
		default: usage();
		}
	}
	if (optind + 1 != argc || nsess < 1 || nmsg < 0 || msglen < 64 || tmo < 1)
		usage();
	port = atoi(argv[optind]);

	/* headers, then 76-character lines of 'x' plus CRLF, trimmed to msglen */
	body = malloc((size_t)msglen + 200);
	if (!body)
		return 1;
	bodylen = (size_t)sprintf(body, "From: bench@example.org\r\nTo: %.100s\r\n"
					"Subject: bench\r\n\r\n", rcpt);
	while (bodylen + 78 <= (size_t)msglen) {
		memset(body + bodylen, 'x', 76);
		memcpy(body + bodylen + 76, "\r\n", 2);
		bodylen += 78;
	}
	memcpy(body + bodylen, ".\r\n", 3);
	bodylen += 3;

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

	struct conn *cs = calloc((size_t)nsess, sizeof(*cs));
	pthread_t *th = calloc((size_t)nsess, sizeof(*th));

	if (!cs || !th)
		return 1;
	t0 = now();
	for (int i = 0; i < nsess; i++) {
		cs[i].id = i;
		if (pthread_create(&th[i], NULL, session, &cs[i]) != 0) {
			fprintf(stderr, "tls_load: pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < nsess; i++) {
		pthread_join(th[i], NULL);
		total += cs[i].done;
		failed |= cs[i].failed;
	}
	t1 = now();
	if (failed)
		return 1;
	printf("msgs %ld secs %.3f rate %.1f\n", total, t1 - t0, (double)total / (t1 - t0));
	return 0;
}
