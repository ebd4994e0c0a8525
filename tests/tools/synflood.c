// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synflood - a bounded TCP SYN flood generator for the flood lab.
 *
 * Crafts Ethernet + IPv4/IPv6 + TCP SYN frames with correct checksums and
 * sends them with sendmmsg(2) on an AF_PACKET socket bound to one interface
 * (a veth end in a lab namespace).  Sources are spoofed from a prefix:
 *
 *   -s PREFIX            where sources come from (198.19.0.0/16, fd00:66::/48)
 *   --source-len L       a source is a prefix of length L inside it (default:
 *                        a full address); bits past L are random per SYN
 *   -n N                 N distinct sources, spread evenly over the prefix
 *   --order seq|random   which source each SYN uses (seq: round-robin)
 *   --fresh              every SYN from the next source, N = all of them:
 *                        "-s 198.19.0.0/16 --source-len 32 --fresh" is a fresh
 *                        /32 per SYN from one /16, "-s fd00:66:1::/48
 *                        --source-len 64 --fresh" a fresh /64 per SYN from one /48
 *
 * It always stops by itself: after -c packets or -t seconds, whichever comes
 * first (both are required).  Last line on stdout:
 *   synflood: sent=N seconds=S pps=P retries=R
 * A frame the kernel refused (ENOBUFS, a full veth ring) is retried and
 * counted in retries, never counted as sent.
 *
 * Lab use only: it refuses destinations and sources outside 198.18.0.0/15
 * and fd00::/8 unless --any-address is given.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Frames per sendmmsg call: large enough to amortize the syscall, small
 * enough that a full veth ring refuses only the tail of a batch. */
#define BATCH_DEFAULT 64
#define BATCH_MAX 1024
/* A hard cap on -t: a flood in the lab is seconds, never hours. */
#define SECONDS_MAX 3600
/* Eth 14 + IPv6 40 + TCP 20 + MSS option 4. */
#define FRAME_MAX 80
#define TCP_HLEN 24

typedef unsigned __int128 u128;

struct flood {
	int ifindex;
	uint8_t src_mac[6], dst_mac[6];
	bool v6;
	unsigned width;       /* 32 or 128 address bits */
	u128 dst;             /* destination address */
	u128 base;            /* source prefix, masked */
	unsigned base_len;    /* its length */
	unsigned source_len;  /* length of one source inside it */
	uint64_t sources;     /* distinct sources */
	uint64_t stride;      /* slots between two sources */
	bool random_order;
	uint16_t dport;
	uint64_t count;       /* packets */
	double seconds;
	uint64_t rate;        /* packets per second, 0: flat out */
	unsigned batch;
	uint64_t rng;
	bool any_address;
	bool use_qdisc;       /* through the device's qdisc, not straight to the driver */
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: synflood -i IFACE --dst-mac MAC -d DST -s PREFIX -c PACKETS -t SECONDS\n"
		"                [-p PORT] [--source-len L] [-n SOURCES] [--order seq|random]\n"
		"                [--fresh] [-r PPS] [-b BATCH] [--seed N] [--qdisc] [--any-address]\n"
		"Sends TCP SYNs from spoofed sources in PREFIX to DST:PORT (default 25) on\n"
		"IFACE until PACKETS are sent or SECONDS have passed.  Sources: N distinct\n"
		"prefixes of length L (default: full addresses; default N: 1000, or all of\n"
		"them if fewer) spread evenly over PREFIX; bits past L random per SYN.\n"
		"--fresh: the next source for every SYN, N = all sources in PREFIX.\n"
		"--qdisc: send through IFACE's qdisc (default: straight to the driver).\n");
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: fast, and good enough to pick sources and ports */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static u128 mask_of(unsigned width, unsigned len)
{
	u128 all = width == 128 ? ~(u128)0 : (((u128)1 << width) - 1);

	if (len == 0)
		return 0;
	return all & ~((((u128)1) << (width - len)) - 1) & all;
}

/* "ADDR" or "ADDR/LEN" -> value, family width, length. */
static int parse_addr(const char *s, u128 *v, unsigned *width, unsigned *len)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned char b[16];
	unsigned long l;
	int i;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	*v = 0;
	if (inet_pton(AF_INET, buf, b) == 1) {
		*width = 32;
		for (i = 0; i < 4; i++)
			*v = (*v << 8) | b[i];
	} else if (inet_pton(AF_INET6, buf, b) == 1) {
		*width = 128;
		for (i = 0; i < 16; i++)
			*v = (*v << 8) | b[i];
	} else {
		return -1;
	}
	*len = *width;
	if (slash) {
		errno = 0;
		l = strtoul(slash, &end, 10);
		if (errno || *end || end == slash || l > *width)
			return -1;
		*len = (unsigned)l;
	}
	return 0;
}

/* The lab's ranges: 198.18.0.0/15 and fd00::/8. */
static bool in_lab_range(u128 v, unsigned width, unsigned len)
{
	if (width == 32)
		return len >= 15 && (v >> 17) == (((u128)198 << 7) | (18 >> 1));
	return len >= 8 && (v >> 120) == 0xfd;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned m[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++) {
		if (m[i] > 0xff)
			return -1;
		mac[i] = (uint8_t)m[i];
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s || *s == '-')
		return -1;
	*out = v;
	return 0;
}

/* Ones'-complement sum of len bytes (big-endian words), not folded. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	while (len > 1) {
		sum += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)(p[0] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put_addr(uint8_t *p, u128 v, unsigned width)
{
	int i, n = (int)width / 8;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* The source address of the SYN number `seq` (round-robin) or a random one. */
static u128 pick_source(struct flood *f, uint64_t seq)
{
	uint64_t idx = f->random_order ? rng_next(&f->rng) % f->sources : seq % f->sources;
	unsigned host_bits = f->width - f->source_len;
	u128 a = f->base | ((u128)(idx * f->stride) << host_bits);

	if (host_bits) {
		u128 r = ((u128)rng_next(&f->rng) << 64) | rng_next(&f->rng);

		a |= r & ~mask_of(f->width, f->source_len) & mask_of(f->width, f->width);
	}
	return a;
}

/* Build one SYN into buf; returns its length. */
static size_t build_syn(struct flood *f, uint8_t *buf, uint64_t seq)
{
	uint8_t *ip = buf + ETH_HLEN, *tcp;
	u128 src = pick_source(f, seq);
	uint64_t r = rng_next(&f->rng);
	uint32_t sum;
	size_t iplen;

	memcpy(buf, f->dst_mac, 6);
	memcpy(buf + 6, f->src_mac, 6);
	if (f->v6) {
		put16(buf + 12, ETH_P_IPV6);
		iplen = 40;
		memset(ip, 0, iplen);
		put32(ip, 6u << 28);
		put16(ip + 4, TCP_HLEN);
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		put_addr(ip + 8, src, 128);
		put_addr(ip + 24, f->dst, 128);
	} else {
		put16(buf + 12, ETH_P_IP);
		iplen = 20;
		memset(ip, 0, iplen);
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(iplen + TCP_HLEN));
		put16(ip + 4, (uint16_t)(r >> 48)); /* id */
		put16(ip + 6, 0x4000);              /* DF */
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		put_addr(ip + 12, src, 32);
		put_addr(ip + 16, f->dst, 32);
		put16(ip + 10, csum_fold(csum_add(0, ip, iplen)));
	}
	tcp = ip + iplen;
	memset(tcp, 0, TCP_HLEN);
	put16(tcp, (uint16_t)(1024 + (r & 0xffff) % 64511)); /* sport 1024..65534 */
	put16(tcp + 2, f->dport);
	put32(tcp + 4, (uint32_t)(r >> 16));                 /* seq */
	tcp[12] = (TCP_HLEN / 4) << 4;
	tcp[13] = 0x02;                                      /* SYN */
	put16(tcp + 14, 64240);                              /* window */
	tcp[20] = 2;                                         /* MSS 1460 */
	tcp[21] = 4;
	put16(tcp + 22, 1460);
	/* pseudo-header: addresses, protocol, TCP length */
	if (f->v6)
		sum = csum_add(0, ip + 8, 32);
	else
		sum = csum_add(0, ip + 12, 8);
	sum += IPPROTO_TCP + TCP_HLEN;
	sum = csum_add(sum, tcp, TCP_HLEN);
	put16(tcp + 16, csum_fold(sum));
	return ETH_HLEN + iplen + TCP_HLEN;
}

static int if_setup(struct flood *f, const char *ifname)
{
	struct ifreq ifr;
	int fd, rc = -1;

	f->ifindex = (int)if_nametoindex(ifname);
	if (!f->ifindex) {
		fprintf(stderr, "synflood: no interface %s in this network namespace\n", ifname);
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) {
		memcpy(f->src_mac, ifr.ifr_hwaddr.sa_data, 6);
		rc = 0;
	} else {
		fprintf(stderr, "synflood: %s: cannot read its MAC address: %s\n", ifname,
			strerror(errno));
	}
	close(fd);
	return rc;
}

static int open_socket(const struct flood *f)
{
	struct sockaddr_ll sll;
	int one = 1, fd;

	/* protocol 0: this socket sends only, it never receives a frame */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		fprintf(stderr, "synflood: AF_PACKET socket: %s (needs CAP_NET_RAW)\n",
			strerror(errno));
		return -1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = f->ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "synflood: bind: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	/* straight to the driver unless told: no qdisc in the generator's cost */
	if (!f->use_qdisc && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		fprintf(stderr, "synflood: PACKET_QDISC_BYPASS: %s (continuing)\n", strerror(errno));
	return fd;
}

static void sleep_until(double t)
{
	double d = t - now_s();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static int flood_run(struct flood *f, int fd)
{
	static uint8_t frames[BATCH_MAX][FRAME_MAX];
	static struct iovec iov[BATCH_MAX];
	static struct mmsghdr msgs[BATCH_MAX];
	uint64_t sent = 0, retries = 0;
	double start = now_s(), deadline = start + f->seconds, elapsed;
	unsigned i, n;
	int r;

	for (i = 0; i < f->batch; i++) {
		iov[i].iov_base = frames[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (sent < f->count && !stop_flag) {
		if (now_s() >= deadline)
			break;
		n = f->batch;
		if (f->count - sent < n)
			n = (unsigned)(f->count - sent);
		for (i = 0; i < n; i++)
			iov[i].iov_len = build_syn(f, frames[i], sent + i);
		r = sendmmsg(fd, msgs, n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
				retries++;
				sched_yield();
				continue;
			}
			fprintf(stderr, "synflood: sendmmsg: %s\n", strerror(errno));
			return 1;
		}
		if ((unsigned)r < n)
			retries++;
		sent += (uint64_t)r;
		if (f->rate)
			sleep_until(start + (double)sent / (double)f->rate);
	}
	elapsed = now_s() - start;
	printf("synflood: sent=%llu seconds=%.3f pps=%.0f retries=%llu\n",
	       (unsigned long long)sent, elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0,
	       (unsigned long long)retries);
	return 0;
}

enum { OPT_DSTMAC = 256, OPT_SRCLEN, OPT_ORDER, OPT_FRESH, OPT_SEED, OPT_ANY, OPT_QDISC };

static int flood_check(struct flood *f, u128 dst, unsigned dwidth, unsigned dlen, bool fresh,
		       bool have_n)
{
	unsigned span;
	uint64_t slots;

	if (dlen != dwidth) {
		fprintf(stderr, "synflood: -d takes an address, not a prefix\n");
		return -1;
	}
	if (dwidth != f->width) {
		fprintf(stderr, "synflood: -d and -s are not the same address family\n");
		return -1;
	}
	f->dst = dst;
	f->v6 = f->width == 128;
	if (!f->any_address &&
	    (!in_lab_range(f->dst, f->width, f->width) || !in_lab_range(f->base, f->width, f->base_len))) {
		fprintf(stderr, "synflood: lab addresses only (198.18.0.0/15, fd00::/8); "
				"--any-address to override\n");
		return -1;
	}
	if (!f->source_len)
		f->source_len = f->width;
	if (f->source_len < f->base_len || f->source_len > f->width) {
		fprintf(stderr, "synflood: --source-len must be between %u and %u\n", f->base_len,
			f->width);
		return -1;
	}
	span = f->source_len - f->base_len;
	slots = span >= 63 ? (1ULL << 63) : (1ULL << span);
	if (fresh)
		f->sources = slots;
	else if (!have_n)
		f->sources = slots < 1000 ? slots : 1000;
	if (f->sources == 0 || f->sources > slots) {
		fprintf(stderr, "synflood: -n %llu: the prefix holds %llu sources of /%u\n",
			(unsigned long long)f->sources, (unsigned long long)slots, f->source_len);
		return -1;
	}
	f->stride = slots / f->sources;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interface", required_argument, 0, 'i' },
		{ "dst-mac", required_argument, 0, OPT_DSTMAC },
		{ "dst", required_argument, 0, 'd' },
		{ "port", required_argument, 0, 'p' },
		{ "src", required_argument, 0, 's' },
		{ "source-len", required_argument, 0, OPT_SRCLEN },
		{ "sources", required_argument, 0, 'n' },
		{ "order", required_argument, 0, OPT_ORDER },
		{ "fresh", no_argument, 0, OPT_FRESH },
		{ "count", required_argument, 0, 'c' },
		{ "seconds", required_argument, 0, 't' },
		{ "rate", required_argument, 0, 'r' },
		{ "batch", required_argument, 0, 'b' },
		{ "seed", required_argument, 0, OPT_SEED },
		{ "any-address", no_argument, 0, OPT_ANY },
		{ "qdisc", no_argument, 0, OPT_QDISC },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct flood f = { .dport = 25, .batch = BATCH_DEFAULT, .rng = 0x9E3779B97F4A7C15ULL };
	const char *ifname = NULL;
	bool have_mac = false, have_dst = false, have_src = false, have_n = false, fresh = false;
	bool have_c = false, have_t = false;
	u128 dst = 0;
	unsigned dwidth = 0, dlen = 0;
	uint64_t v;
	char *end;
	int c, fd, rc;

	while ((c = getopt_long(argc, argv, "i:d:p:s:n:c:t:r:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			ifname = optarg;
			break;
		case OPT_DSTMAC:
			if (parse_mac(optarg, f.dst_mac))
				goto bad;
			have_mac = true;
			break;
		case 'd':
			if (parse_addr(optarg, &dst, &dwidth, &dlen))
				goto bad;
			have_dst = true;
			break;
		case 'p':
			if (parse_u64(optarg, &v) || v == 0 || v > 65535)
				goto bad;
			f.dport = (uint16_t)v;
			break;
		case 's':
			if (parse_addr(optarg, &f.base, &f.width, &f.base_len))
				goto bad;
			f.base &= mask_of(f.width, f.base_len);
			have_src = true;
			break;
		case OPT_SRCLEN:
			if (parse_u64(optarg, &v) || v == 0 || v > 128)
				goto bad;
			f.source_len = (unsigned)v;
			break;
		case 'n':
			if (parse_u64(optarg, &f.sources) || f.sources == 0)
				goto bad;
			have_n = true;
			break;
		case OPT_ORDER:
			if (!strcmp(optarg, "random"))
				f.random_order = true;
			else if (strcmp(optarg, "seq"))
				goto bad;
			break;
		case OPT_FRESH:
			fresh = true;
			break;
		case 'c':
			if (parse_u64(optarg, &f.count) || f.count == 0)
				goto bad;
			have_c = true;
			break;
		case 't':
			errno = 0;
			f.seconds = strtod(optarg, &end);
			if (errno || *end || !(f.seconds > 0) || f.seconds > SECONDS_MAX)
				goto bad;
			have_t = true;
			break;
		case 'r':
			if (parse_u64(optarg, &f.rate))
				goto bad;
			break;
		case 'b':
			if (parse_u64(optarg, &v) || v == 0 || v > BATCH_MAX)
				goto bad;
			f.batch = (unsigned)v;
			break;
		case OPT_SEED:
			if (parse_u64(optarg, &v))
				goto bad;
			f.rng ^= v * 0x9E3779B97F4A7C15ULL;
			if (!f.rng)
				f.rng = 1;
			break;
		case OPT_ANY:
			f.any_address = true;
			break;
		case OPT_QDISC:
			f.use_qdisc = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !ifname || !have_mac || !have_dst || !have_src || !have_c || !have_t) {
		fprintf(stderr, "synflood: -i, --dst-mac, -d, -s, -c and -t are required\n");
		usage(stderr);
		return 2;
	}
	if (fresh && have_n) {
		fprintf(stderr, "synflood: --fresh and -n exclude each other\n");
		return 2;
	}
	if (flood_check(&f, dst, dwidth, dlen, fresh, have_n))
		return 2;
	if (if_setup(&f, ifname))
		return 1;
	fd = open_socket(&f);
	if (fd < 0)
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = flood_run(&f, fd);
	close(fd);
	return rc;
bad:
	fprintf(stderr, "synflood: bad value for an option: %s\n", optarg ? optarg : "?");
	usage(stderr);
	return 2;
}
