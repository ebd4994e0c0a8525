/* policyd_load.c - load generator for Postfix SMTP access policy servers.
 *
 * Speaks the client side of the Postfix policy delegation protocol
 * (SMTPD_POLICY_README): each request is a block of name=value lines shaped
 * like the RCPT-state request of a Postfix 3.7 smtpd, ended by an empty line;
 * each reply must be exactly "action=TEXT\n\n".  One request is outstanding
 * per connection at a time, as Postfix does.
 *
 * Modes:
 *   closed loop (default): every connection sends its next request as soon
 *     as the previous reply is in; reports decisions/s.
 *   open loop (-r RATE): requests are scheduled at RATE/s (request i at
 *     t0 + i/RATE) and handed to the next free connection; latency is taken
 *     from the scheduled time, so a server that falls behind is charged for
 *     the queueing (no coordinated omission).
 *
 * Floor (-L unix:PATH): instead of a load, serve "action=DUNNO" to every
 *   request on PATH for -T seconds, doing no other work: the latency of this
 *   responder is what the machine and the load generator add by themselves.
 *
 * One thread, epoll, a timerfd for the open-loop schedule.  Every run stops by
 * itself: -d seconds (capped by -T, at most 300), -n requests, and alarm().
 *
 * Output: one line on stdout, e.g.
 *   mode=closed conns=16 decisions=123 seconds=5.000 rate=24.6 p50_us=..
 *   p99_us=.. max_us=.. errors=0 actions=DUNNO:120,450:3
 * Exit: 0 when at least one decision was made and no error was seen,
 *       1 on errors (still prints the line), 2 on usage errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define REQ_MAX 2048
#define RBUF_MAX 1024
#define MAX_KINDS 16
#define HIST_US 1000000 /* 1 µs buckets up to 1 s */

struct conn {
	int fd;
	int busy;             /* a request is outstanding */
	char req[REQ_MAX];
	size_t req_len, req_off;
	char rbuf[RBUF_MAX];
	size_t rlen;
	uint64_t t_sched;     /* ns: scheduled (open) or send (closed) time */
	/* SMTP session simulated on this connection */
	unsigned pid;
	unsigned long sess_sec, sess_usec;
	unsigned seqno;
	uint32_t client_ip;
	unsigned client_port;
	unsigned sender_idx;
	int hot;
	unsigned rcpt_in_msg;
	unsigned msg_no;
	char queue_id[16];
};

static struct {
	char target[512];
	int nconns;
	double duration;
	double hard_cap;
	uint64_t count;
	double rate;
	unsigned senders;
	unsigned clients;
	unsigned rcpts;
	double hot_pct;
	unsigned seed;
	const char *prefix;
	int verbose;
} opt = {
	.nconns = 16, .duration = 5, .hard_cap = 30, .rate = 0,
	.senders = 100000, .clients = 4096, .rcpts = 5, .hot_pct = 1.0,
	.seed = 1, .prefix = "user",
};

static struct conn *conns;
static int epfd, tfd = -1;
static uint32_t *hist;
static uint64_t hist_over, max_ns, decisions, errors, sent, connect_errors;
static struct { char name[24]; uint64_t n; } kinds[MAX_KINDS + 1];
static int nkinds;
static uint64_t rng_state;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: policyd_load -s unix:PATH|HOST:PORT [options]\n"
		"  -c N     connections (default 16)\n"
		"  -d SEC   duration (default 5)\n"
		"  -n N     stop after N decisions (0 = no count limit)\n"
		"  -r RATE  open loop at RATE decisions/s (default 0 = closed loop)\n"
		"  -T SEC   hard cap on the run (default 30, at most 300)\n"
		"  -K N     distinct senders (default 100000)\n"
		"  -A N     distinct client addresses in 198.18.0.0/15 (default 4096)\n"
		"  -m N     recipients per message (default 5)\n"
		"  -H PCT   percent of messages from one hot sender (default 1)\n"
		"  -S SEED  random seed (default 1)\n"
		"  -P WORD  sender local-part prefix (default user)\n"
		"  -v       print the first request and reply on stderr\n"
		"  -L unix:PATH  be a trivial DUNNO responder on PATH for -T seconds\n");
}

static void count_action(const char *act, size_t len)
{
	size_t k = 0;
	while (k < len && k < sizeof(kinds[0].name) - 1 && act[k] != ' ' &&
	       act[k] != '\t')
		k++;
	char name[sizeof(kinds[0].name)];
	for (size_t i = 0; i < k; i++)
		name[i] = (char)toupper((unsigned char)act[i]);
	name[k] = 0;
	for (int i = 0; i < nkinds; i++)
		if (!strcmp(kinds[i].name, name)) {
			kinds[i].n++;
			return;
		}
	if (nkinds < MAX_KINDS) {
		memcpy(kinds[nkinds].name, name, k + 1);
		kinds[nkinds++].n = 1;
	} else {
		strcpy(kinds[MAX_KINDS].name, "OTHER");
		kinds[MAX_KINDS].n++;
	}
}

static void record_latency(uint64_t ns)
{
	uint64_t us = ns / 1000;
	if (ns > max_ns)
		max_ns = ns;
	if (us >= HIST_US)
		hist_over++;
	else
		hist[us]++;
}

static double percentile_us(double p)
{
	uint64_t total = decisions, want, acc = 0;
	if (!total)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)total);
	if (want >= total)
		want = total - 1;
	for (uint64_t i = 0; i < HIST_US; i++) {
		acc += hist[i];
		if (acc > want)
			return (double)i + 0.5;
	}
	return (double)max_ns / 1000.0;
}

static void new_message(struct conn *c)
{
	c->hot = opt.hot_pct > 0 && (double)(rnd() % 1000000) < opt.hot_pct * 10000.0;
	c->sender_idx = rnd() % opt.senders;
	c->client_ip = (198u << 24) | (18u << 16) | (rnd() % opt.clients);
	c->client_port = 1024 + rnd() % 64000;
	c->rcpt_in_msg = 0;
	c->msg_no++;
	/* Postfix short queue id: 10 or so upper-case hex digits */
	snprintf(c->queue_id, sizeof(c->queue_id), "%05X%05X",
		 rnd() & 0xfffff, rnd() & 0xfffff);
	c->seqno++;
}

static void build_request(struct conn *c)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = { .s_addr = htonl(c->client_ip) };
	char sender[96], helo[64], cname[64];
	unsigned r = rnd();

	if (c->rcpt_in_msg >= opt.rcpts)
		new_message(c);
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	if (c->hot)
		snprintf(sender, sizeof(sender), "hot-sender@bulk.bench.example");
	else
		snprintf(sender, sizeof(sender), "%.40s%u@sender%u.bench.example",
			 opt.prefix, c->sender_idx, c->sender_idx % 997);
	snprintf(cname, sizeof(cname), "host-%u-%u.client.bench.example",
		 (c->client_ip >> 8) & 0xff, c->client_ip & 0xff);
	snprintf(helo, sizeof(helo), "mx%u.client.bench.example",
		 c->client_ip & 0xffff);
	int n = snprintf(c->req, sizeof(c->req),
		"request=smtpd_access_policy\n"
		"protocol_state=RCPT\n"
		"protocol_name=ESMTP\n"
		"helo_name=%s\n"
		"queue_id=%s\n"
		"sender=%s\n"
		"recipient=rcpt%u@dest.bench.example\n"
		"recipient_count=%u\n"
		"client_address=%s\n"
		"client_name=%s\n"
		"reverse_client_name=%s\n"
		"instance=%x.%lx.%lx.%x\n"
		"sasl_method=\n"
		"sasl_username=\n"
		"sasl_sender=\n"
		"size=%u\n"
		"ccert_subject=\n"
		"ccert_issuer=\n"
		"ccert_fingerprint=\n"
		"ccert_pubkey_fingerprint=\n"
		"encryption_protocol=TLSv1.3\n"
		"encryption_cipher=TLS_AES_256_GCM_SHA384\n"
		"encryption_keysize=256\n"
		"etrn_domain=\n"
		"stress=\n"
		"client_port=%u\n"
		"policy_context=\n"
		"server_address=127.0.0.1\n"
		"server_port=25\n"
		"\n",
		helo, c->queue_id, sender, r % 1000000, c->rcpt_in_msg, ip,
		cname, cname, c->pid, c->sess_sec, c->sess_usec, c->seqno,
		1000 + (c->msg_no * 7919u) % 200000, c->client_port);
	c->req_len = (size_t)n;
	c->req_off = 0;
	c->rcpt_in_msg++;
}

static int connect_target(void)
{
	int fd;
	struct timeval tv = { .tv_sec = 5 };

	if (!strncmp(opt.target, "unix:", 5)) {
		struct sockaddr_un su = { .sun_family = AF_UNIX };
		if (strlen(opt.target + 5) >= sizeof(su.sun_path))
			return -1;
		strcpy(su.sun_path, opt.target + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&su, sizeof(su)) < 0) {
			close(fd);
			return -1;
		}
	} else {
		char host[256];
		const char *colon = strrchr(opt.target, ':');
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
		const char *t = opt.target;
		if (!strncmp(t, "inet:", 5))
			t += 5;
		colon = strrchr(t, ':');
		if (!colon || (size_t)(colon - t) >= sizeof(host))
			return -1;
		memcpy(host, t, (size_t)(colon - t));
		host[colon - t] = 0;
		if (host[0] == '[') { /* [::1]:port */
			size_t l = strlen(host);
			if (l > 1 && host[l - 1] == ']') {
				memmove(host, host + 1, l - 2);
				host[l - 2] = 0;
			}
		}
		if (getaddrinfo(host, colon + 1, &hints, &res))
			return -1;
		fd = -1;
		for (ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				continue;
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
				break;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		if (fd < 0)
			return -1;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int conn_open(int i)
{
	struct conn *c = &conns[i];
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

	c->fd = connect_target();
	c->busy = 0;
	c->rlen = 0;
	if (c->fd < 0) {
		connect_errors++;
		return -1;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void conn_fail(int i, const char *why)
{
	struct conn *c = &conns[i];
	static int reported;

	errors++;
	if (reported++ < 5) {
		fprintf(stderr, "policyd_load: conn %d: %s", i, why);
		if (c->rlen) {
			fprintf(stderr, " (got %zu bytes: \"", c->rlen);
			for (size_t k = 0; k < c->rlen && k < 120; k++) {
				unsigned char ch = (unsigned char)c->rbuf[k];
				if (ch == '\n')
					fputs("\\n", stderr);
				else if (ch < 32 || ch > 126)
					fprintf(stderr, "\\x%02x", ch);
				else
					fputc(ch, stderr);
			}
			fputs("\")", stderr);
		}
		fputc('\n', stderr);
	}
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->busy = 0;
	c->rlen = 0;
	conn_open(i); /* one reconnect; a dead connection stays dead */
}

static void try_write(int i)
{
	struct conn *c = &conns[i];
	while (c->req_off < c->req_len) {
		ssize_t w = send(c->fd, c->req + c->req_off,
				 c->req_len - c->req_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct epoll_event ev = {
					.events = EPOLLIN | EPOLLOUT,
					.data.u32 = (uint32_t)i };
				epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
				return;
			}
			conn_fail(i, "send failed");
			return;
		}
		c->req_off += (size_t)w;
	}
}

static void send_request(int i, uint64_t t_sched)
{
	struct conn *c = &conns[i];
	build_request(c);
	c->busy = 1;
	c->t_sched = t_sched;
	c->rlen = 0;
	sent++;
	if (opt.verbose && sent == 1)
		fprintf(stderr, "--- first request ---\n%s", c->req);
	try_write(i);
}

/* returns 1 when a complete, valid reply was consumed */
static int handle_read(int i, uint64_t t)
{
	struct conn *c = &conns[i];
	for (;;) {
		if (c->rlen >= sizeof(c->rbuf)) {
			conn_fail(i, "reply too long");
			return 0;
		}
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_fail(i, "recv failed");
			return 0;
		}
		if (r == 0) {
			conn_fail(i, c->busy ? "server closed the connection with a request outstanding"
					     : "server closed the connection");
			return 0;
		}
		c->rlen += (size_t)r;
	}
	if (!c->busy) {
		conn_fail(i, "data with no request outstanding");
		return 0;
	}
	/* validate: "action=" TEXT "\n\n", TEXT without newlines */
	size_t cmp = c->rlen < 7 ? c->rlen : 7;
	if (memcmp(c->rbuf, "action=", cmp)) {
		conn_fail(i, "reply does not start with action=");
		return 0;
	}
	char *nl = memchr(c->rbuf, '\n', c->rlen);
	if (!nl)
		return 0; /* incomplete */
	size_t line = (size_t)(nl - c->rbuf);
	if (line < 7) {
		conn_fail(i, "short reply line");
		return 0;
	}
	if (c->rlen < line + 2)
		return 0; /* the empty line is still to come */
	if (c->rbuf[line + 1] != '\n') {
		conn_fail(i, "reply is more than one line (no empty line after action=)");
		return 0;
	}
	if (c->rlen != line + 2) {
		conn_fail(i, "extra data after the reply");
		return 0;
	}
	if (line == 7) {
		conn_fail(i, "empty action");
		return 0;
	}
	if (opt.verbose && decisions == 0)
		fprintf(stderr, "--- first reply ---\n%.*s\n", (int)line, c->rbuf);
	count_action(c->rbuf + 7, line - 7);
	record_latency(t > c->t_sched ? t - c->t_sched : 0);
	decisions++;
	c->busy = 0;
	c->rlen = 0;
	return 1;
}

static void arm_timer(uint64_t abs_ns)
{
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = (time_t)(abs_ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(abs_ns % 1000000000ull);
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* -L: a policy server that answers DUNNO at once; bounded by -T */
static int responder(const char *spec)
{
	struct sockaddr_un su = { .sun_family = AF_UNIX };
	enum { RMAX = 1024, RBUF = 8192 };
	static char buf[RMAX][RBUF];
	static size_t len[RMAX];
	static const char reply[] = "action=DUNNO\n\n";

	if (strncmp(spec, "unix:", 5) || strlen(spec + 5) >= sizeof(su.sun_path)) {
		fprintf(stderr, "policyd_load: -L wants unix:PATH\n");
		return 2;
	}
	strcpy(su.sun_path, spec + 5);
	unlink(su.sun_path);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&su, sizeof(su)) || listen(l, 512)) {
		perror("policyd_load: -L");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)opt.hard_cap + 5);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = l };
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	uint64_t t_end = now_ns() + (uint64_t)(opt.hard_cap * 1e9);
	while (now_ns() < t_end) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 200);
		for (int k = 0; k < n; k++) {
			int fd = evs[k].data.fd;
			if (fd == l) {
				int c;
				while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (c >= RMAX) {
						close(c);
						continue;
					}
					len[c] = 0;
					struct epoll_event e2 = { .events = EPOLLIN, .data.fd = c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &e2);
				}
				continue;
			}
			ssize_t r = read(fd, buf[fd] + len[fd], RBUF - len[fd]);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				close(fd);
				continue;
			}
			len[fd] += (size_t)r;
			if (len[fd] >= 2 && buf[fd][len[fd] - 1] == '\n' &&
			    buf[fd][len[fd] - 2] == '\n') {
				len[fd] = 0;
				if (write(fd, reply, sizeof(reply) - 1) < 0)
					close(fd);
			} else if (len[fd] == RBUF) {
				close(fd);
			}
		}
	}
	unlink(su.sun_path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *listen_path = NULL;
	int ch;
	while ((ch = getopt(argc, argv, "s:c:d:n:r:T:K:A:m:H:S:P:L:vh")) != -1) {
		switch (ch) {
		case 's': snprintf(opt.target, sizeof(opt.target), "%s", optarg); break;
		case 'c': opt.nconns = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'n': opt.count = strtoull(optarg, NULL, 10); break;
		case 'r': opt.rate = atof(optarg); break;
		case 'T': opt.hard_cap = atof(optarg); break;
		case 'K': opt.senders = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'A': opt.clients = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm': opt.rcpts = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'H': opt.hot_pct = atof(optarg); break;
		case 'S': opt.seed = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': opt.prefix = optarg; break;
		case 'v': opt.verbose = 1; break;
		case 'L': listen_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (listen_path) {
		if (opt.hard_cap > 300)
			opt.hard_cap = 300;
		return responder(listen_path);
	}
	if (!opt.target[0] || opt.nconns < 1 || opt.nconns > MAX_CONNS ||
	    opt.duration <= 0 || opt.hard_cap <= 0 || opt.rate < 0 ||
	    opt.senders < 1 || opt.clients < 1 || opt.clients > 131072 ||
	    opt.rcpts < 1 || opt.hot_pct < 0 || opt.hot_pct > 100) {
		usage(stderr);
		return 2;
	}
	if (opt.hard_cap > 300)
		opt.hard_cap = 300;
	if (opt.duration > opt.hard_cap)
		opt.duration = opt.hard_cap;
	/* last resort: the default SIGALRM action ends the process */
	alarm((unsigned)opt.hard_cap + 15);
	signal(SIGPIPE, SIG_IGN);
	rng_state = 0x9E3779B97F4A7C15ull ^ ((uint64_t)opt.seed << 17) ^ opt.seed;
	if (!rng_state)
		rng_state = 1;

	hist = calloc(HIST_US, sizeof(*hist));
	conns = calloc((size_t)opt.nconns, sizeof(*conns));
	if (!hist || !conns) {
		perror("calloc");
		return 2;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (epfd < 0 || tfd < 0) {
		perror("epoll/timerfd");
		return 2;
	}
	struct epoll_event tev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);

	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	unsigned base_pid = 20000 + (unsigned)getpid() % 10000;
	int alive = 0;
	for (int i = 0; i < opt.nconns; i++) {
		struct conn *c = &conns[i];
		c->fd = -1;
		c->pid = base_pid + (unsigned)i; /* one smtpd process per connection */
		c->sess_sec = (unsigned long)wall.tv_sec;
		c->sess_usec = (unsigned long)(wall.tv_nsec / 1000 + i) % 1000000;
		c->rcpt_in_msg = opt.rcpts; /* forces new_message() first */
		if (!conn_open(i))
			alive++;
	}
	if (!alive) {
		fprintf(stderr, "policyd_load: cannot connect to %s\n", opt.target);
		printf("mode=%s conns=%d decisions=0 seconds=0 rate=0 p50_us=0 "
		       "p99_us=0 max_us=0 errors=%d actions=\n",
		       opt.rate > 0 ? "open" : "closed", opt.nconns, opt.nconns);
		return 1;
	}

	uint64_t t0 = now_ns();
	uint64_t t_stop = t0 + (uint64_t)(opt.duration * 1e9);
	uint64_t t_cap = t0 + (uint64_t)(opt.hard_cap * 1e9);
	uint64_t t_drain = 0; /* set when sending stops */
	uint64_t next_seq = 0; /* open loop: next request's index */
	double interval = opt.rate > 0 ? 1e9 / opt.rate : 0;
	uint64_t max_backlog = 0;
	int stopping = 0;
	struct epoll_event evs[256];

	for (;;) {
		uint64_t t = now_ns();
		if (!stopping && (t >= t_stop || (opt.count && sent >= opt.count))) {
			stopping = 1;
			t_drain = t + 2000000000ull; /* 2 s for outstanding replies */
			if (t_drain > t_cap)
				t_drain = t_cap;
		}
		int busy = 0, usable = 0;
		for (int i = 0; i < opt.nconns; i++) {
			if (conns[i].fd < 0)
				continue;
			usable++;
			if (conns[i].busy) {
				busy++;
				continue;
			}
			if (stopping)
				continue;
			if (opt.count && sent >= opt.count)
				continue;
			if (opt.rate > 0) {
				uint64_t ts = t0 + (uint64_t)((double)next_seq * interval);
				if (ts > t)
					continue;
				send_request(i, ts);
				next_seq++;
			} else {
				send_request(i, t);
			}
			if (conns[i].fd >= 0 && conns[i].busy)
				busy++;
		}
		if (!usable) {
			fprintf(stderr, "policyd_load: all connections lost\n");
			break;
		}
		if (stopping && (!busy || t >= t_drain))
			break;
		if (t >= t_cap)
			break;
		if (opt.rate > 0 && !stopping) {
			uint64_t ts = t0 + (uint64_t)((double)next_seq * interval);
			if (ts <= t) {
				uint64_t late = (t - ts) / (uint64_t)(interval > 1 ? interval : 1);
				if (late > max_backlog)
					max_backlog = late;
			}
			/* wake at the next scheduled send (if a connection is free) */
			if (busy < usable)
				arm_timer(ts);
		}
		int timeout_ms = 100;
		int n = epoll_wait(epfd, evs, 256, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			break;
		}
		t = now_ns();
		for (int k = 0; k < n; k++) {
			uint32_t id = evs[k].data.u32;
			if (id == UINT32_MAX) {
				uint64_t exp;
				if (read(tfd, &exp, sizeof(exp)) < 0) { /* drained */ }
				continue;
			}
			struct conn *c = &conns[id];
			if (c->fd < 0)
				continue;
			if (evs[k].events & EPOLLOUT) {
				struct epoll_event ev = { .events = EPOLLIN, .data.u32 = id };
				epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
				try_write((int)id);
				if (c->fd < 0)
					continue;
			}
			if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				if (handle_read((int)id, t) && !stopping && opt.rate <= 0 &&
				    !(opt.count && sent >= opt.count) && t < t_stop)
					send_request((int)id, t); /* closed loop: next one now */
			}
		}
	}
	uint64_t t_end = now_ns();
	/* seconds: the sending window plus the drain actually used */
	double secs = (double)(t_end - t0) / 1e9;
	uint64_t outstanding = 0;
	for (int i = 0; i < opt.nconns; i++)
		if (conns[i].fd >= 0 && conns[i].busy)
			outstanding++;
	errors += outstanding; /* requests never answered */

	struct rusage ru;
	double cpu = 0;
	if (!getrusage(RUSAGE_SELF, &ru))
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	printf("mode=%s conns=%d target_rate=%.0f decisions=%llu sent=%llu "
	       "seconds=%.3f rate=%.1f p50_us=%.0f p90_us=%.0f p99_us=%.0f "
	       "p999_us=%.0f max_us=%.0f over_1s=%llu max_backlog=%llu "
	       "errors=%llu unanswered=%llu connect_errors=%llu load_cpu=%.2f "
	       "actions=",
	       opt.rate > 0 ? "open" : "closed", opt.nconns, opt.rate,
	       (unsigned long long)decisions, (unsigned long long)sent, secs,
	       secs > 0 ? (double)decisions / secs : 0.0, percentile_us(50),
	       percentile_us(90), percentile_us(99), percentile_us(99.9),
	       (double)max_ns / 1000.0, (unsigned long long)hist_over,
	       (unsigned long long)max_backlog, (unsigned long long)errors,
	       (unsigned long long)outstanding,
	       (unsigned long long)connect_errors, secs > 0 ? cpu / secs : 0.0);
	int first = 1;
	for (int i = 0; i <= MAX_KINDS; i++) {
		if (i == nkinds && i < MAX_KINDS)
			i = MAX_KINDS;
		if (!kinds[i].n)
			continue;
		printf("%s%s:%llu", first ? "" : ",", kinds[i].name,
		       (unsigned long long)kinds[i].n);
		first = 0;
	}
	printf("\n");
	fflush(stdout);
	for (int i = 0; i < opt.nconns; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	return (errors || connect_errors || !decisions) ? 1 : 0;
}
