// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * legit - the flood lab's legitimate SMTP client.
 *
 * Opens one SMTP session after another to DST:PORT, one every INTERVAL ms
 * (a session that takes longer delays the next one), for SECONDS: connect,
 * read the 220 greeting, send QUIT, read the 221 reply, close.  A session
 * succeeds when all of that happens within TIMEOUT.  It records the
 * connect latency (connect() until the handshake completed) of every
 * session and prints on its last line:
 *
 *   legit: attempts=N ok=N failed=N timeout=N refused=N smtp=N
 *          connect_ms_median=X connect_ms_p99=Y connect_ms_max=Z
 *
 * (one line; the latency figures are over the sessions that connected).
 * With -o FILE it also writes one line per session: "ok|timeout|refused|smtp
 * CONNECT_MS" (CONNECT_MS -1 when it never connected), for pooling runs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A bound on the samples kept: hours of sessions at the lab's rates. */
#define SAMPLES_MAX (1 << 20)

enum outcome { OK, TIMEOUT, REFUSED, SMTP };

struct client {
	struct sockaddr_storage dst, src;
	socklen_t dst_len, src_len;
	double timeout_s;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_sa(const char *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static int wait_fd(int fd, short events, double deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	double left = deadline - now_s();
	int r;

	if (left <= 0)
		return 0;
	r = poll(&p, 1, (int)(left * 1000) + 1);
	return r > 0 ? 1 : r;
}

/* Read until a full reply line starting with `code` arrives. */
static enum outcome expect(int fd, const char *code, double deadline)
{
	char buf[512];
	size_t have = 0;
	ssize_t n;

	for (;;) {
		if (wait_fd(fd, POLLIN, deadline) <= 0)
			return TIMEOUT;
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			return SMTP;
		have += (size_t)n;
		buf[have] = 0;
		/* the last line of a multi-line reply is "CODE " */
		if (strstr(buf, "\r\n")) {
			char *line = buf, *eol;

			while ((eol = strstr(line, "\r\n"))) {
				if (strncmp(line, code, 3))
					return SMTP;
				if (line[3] != '-')
					return OK;
				line = eol + 2;
			}
		}
		if (have >= sizeof(buf) - 1)
			return SMTP;
	}
}

static enum outcome session(const struct client *c, double *connect_ms)
{
	double t0, deadline;
	enum outcome o = TIMEOUT;
	socklen_t el = sizeof(int);
	int fd, err = 0, r;

	fd = socket(c->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return SMTP;
	if (c->src_len && bind(fd, (const struct sockaddr *)&c->src, c->src_len) < 0) {
		close(fd);
		return SMTP;
	}
	t0 = now_s();
	deadline = t0 + c->timeout_s;
	r = connect(fd, (const struct sockaddr *)&c->dst, c->dst_len);
	if (r < 0 && errno != EINPROGRESS) {
		o = errno == ECONNREFUSED ? REFUSED : SMTP;
		goto out;
	}
	if (r < 0) {
		if (wait_fd(fd, POLLOUT, deadline) <= 0)
			goto out; /* TIMEOUT */
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			o = err == ECONNREFUSED || err == ECONNRESET ? REFUSED
			    : err == ETIMEDOUT			     ? TIMEOUT
								     : SMTP;
			goto out;
		}
	}
	*connect_ms = (now_s() - t0) * 1000.0;
	o = expect(fd, "220", deadline);
	if (o != OK)
		goto out;
	if (write(fd, "QUIT\r\n", 6) != 6) {
		o = SMTP;
		goto out;
	}
	o = expect(fd, "221", deadline);
out:
	close(fd);
	return o;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	/* nearest rank */
	i = (size_t)(p * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

static void usage(FILE *f)
{
	fprintf(f, "usage: legit -d DST -t SECONDS [-p PORT] [-s SRC] [-i INTERVAL_MS] [-w TIMEOUT_S] [-o FILE]\n"
		   "SMTP sessions (connect, 220, QUIT, 221) one after another for SECONDS;\n"
		   "prints success counts and connect latency (median, p99, max).\n");
}

int main(int argc, char **argv)
{
	struct client c = { .timeout_s = 3.0 };
	const char *dst = NULL, *src = NULL, *raw_path = NULL;
	static const char *const names[] = { "ok", "timeout", "refused", "smtp" };
	FILE *raw = NULL;
	double seconds = 0, interval_ms = 50, next, end, ms;
	unsigned long port = 25;
	unsigned long n[4] = { 0 };
	size_t nlat = 0, attempts = 0;
	double *lat;
	int ch;

	while ((ch = getopt_long(argc, argv, "d:p:s:i:t:w:o:h", NULL, NULL)) != -1) {
		switch (ch) {
		case 'd': dst = optarg; break;
		case 's': src = optarg; break;
		case 'p': port = strtoul(optarg, NULL, 10); break;
		case 'i': interval_ms = strtod(optarg, NULL); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'w': c.timeout_s = strtod(optarg, NULL); break;
		case 'o': raw_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dst || !(seconds > 0) || seconds > 3600 || port == 0 || port > 65535 ||
	    !(interval_ms >= 0) || !(c.timeout_s > 0)) {
		usage(stderr);
		return 2;
	}
	if (parse_sa(dst, (uint16_t)port, &c.dst, &c.dst_len) ||
	    (src && parse_sa(src, 0, &c.src, &c.src_len))) {
		fprintf(stderr, "legit: bad address\n");
		return 2;
	}
	if (raw_path && !(raw = fopen(raw_path, "w"))) {
		fprintf(stderr, "legit: %s: cannot write\n", raw_path);
		return 1;
	}
	lat = calloc(SAMPLES_MAX, sizeof(*lat));
	if (!lat)
		return 1;
	next = now_s();
	end = next + seconds;
	while (now_s() < end && attempts < SAMPLES_MAX) {
		enum outcome o;

		ms = -1;
		o = session(&c, &ms);
		attempts++;
		n[o]++;
		if (ms >= 0)
			lat[nlat++] = ms;
		if (raw)
			fprintf(raw, "%s %.3f\n", names[o], ms);
		next += interval_ms / 1000.0;
		if (next > now_s()) {
			struct timespec ts;
			double d = next - now_s();

			ts.tv_sec = (time_t)d;
			ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		} else {
			next = now_s();
		}
	}
	qsort(lat, nlat, sizeof(*lat), cmp_double);
	printf("legit: attempts=%zu ok=%lu failed=%lu timeout=%lu refused=%lu smtp=%lu "
	       "connect_ms_median=%.3f connect_ms_p99=%.3f connect_ms_max=%.3f\n",
	       attempts, n[OK], attempts - n[OK], n[TIMEOUT], n[REFUSED], n[SMTP],
	       pct(lat, nlat, 0.5), pct(lat, nlat, 0.99), nlat ? lat[nlat - 1] : 0.0);
	free(lat);
	if (raw && fclose(raw)) {
		fprintf(stderr, "legit: %s: write failed\n", raw_path);
		return 1;
	}
	return 0;
}
