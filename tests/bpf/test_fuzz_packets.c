// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
test_fuzz_packets.c - two million random and mutated packets through the
 * XDP program (BPF_PROG_TEST_RUN), judged against a reference parser.
 *
 * Packets are built from random but mostly valid headers (Ethernet, up to
 * three VLAN tags, IPv4 with options and fragments, IPv6 with extension
 * chains and fragment headers, TCP with options, UDP, junk) and then,
 * often, mutated (bit flips, bytes overwritten, truncated, junk appended).
 * The reference parser below reads the final bytes the way docs/design.md
 * "Kernel layer semantics" says the datapath must, and classifies each
 * packet; the oracle per packet is:
 *
 *   - the program runs and answers DROP, PASS or TX, never an error;
 *   - not TCP to a mail port (other protocols, other ports, parse
 *     failures, non-first fragments), or a mail-port segment that is not a
 *     connection request: PASS;
 *   - a first fragment carrying a SYN or a cut TCP header: refused;
 *   - a SYN from a blocked or refuse-penalized prefix: refused;
 *   - a SYN from an allowlisted prefix (limits 0): PASS.
 *
 * Per batch, the stats must agree with the model exactly: packets, parse
 * failures, non-first fragments, subject packets, SYNs, fragment refusals;
 * every refusal counter summed equals the packets refused (DROP + TX);
 * resets sent equal TX; judged SYNs are at most the SYNs seen.  A batch
 * that disagrees is replayed packet by packet to name the packet.
 *
 * Deterministic: the seed is printed (FUZZ_SEED=N to replay);
 * FUZZ_PACKETS=N sets the total (default 2000000, about 6 s here).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"


#define PKT_MAX 384
#define BATCH 4096
#define DEFAULT_PACKETS 2000000ULL
#define DEFAULT_SEED 0x6d786c696d6974ULL /* "mxlimit" */

static uint64_t g_seed;
static uint64_t g_total;

/* ---- deterministic random numbers (splitmix64) ---- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rnd(r) % n);
}

/* true with probability pct % */
static int chance(struct rng *r, uint32_t pct)
{
	return below(r, 100) < pct;
}

static void fill(struct rng *r, uint8_t *p, size_t n)
{
	while (n--)
		*p++ = (uint8_t)rnd(r);
}

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- the policy under test ---- */

static const uint16_t mail_ports[] = { 25, 465, 587, 993 };
static const uint16_t other_ports[] = { 0, 24, 26, 53, 80, 110, 143, 443, 586, 588, 994, 2525, 8025, 65535 };

static int is_mail_port(uint16_t p)
{
	for (size_t i = 0; i < sizeof(mail_ports) / sizeof(mail_ports[0]); i++)
		if (mail_ports[i] == p)
			return 1;
	return 0;
}

/* Source pools: the oracle knows what each must get. */
enum pool { P_BLOCKED, P_PENALIZED, P_ALLOWED, P_SMALL, P_RATED, P_RANDOM, P__N };
/* known pools come first; from P_SMALL on the oracle expects nothing */
#define P__KNOWN P_SMALL
static const uint8_t v4_pool_net[P__N] = { 99, 77, 66, 1, 2, 0 }; /* 198.18.X.0/24 */
static const uint8_t v6_pool_net[P__N] = { 0x99, 0x77, 0x66, 0x01, 0x02, 0 }; /* fd00:X::/32 */

static void policy_install(enum mx_action action)
{
	uint64_t now = mx_mono_now(&H.m), hour = 3600 * NS;

	h_config_default();
	for (size_t i = 0; i < sizeof(mail_ports) / sizeof(mail_ports[0]); i++)
		H.cfg.ports[mail_ports[i] >> 6] |= 1ULL << (mail_ports[i] & 63);
	H.cfg.action = action;
	/* per source: 2 concurrent, 5 a minute, so limits are hit often */
	h_rule("v4default", 2, 5, 60 * NS, 0);
	h_rule("v6default", 2, 5, 60 * NS, 0);
	h_rule("198.18.66.0/24", 0, 0, 0, 1);
	h_rule("fd00:66::/32", 0, 0, 0, 1);
	/* rate only, per source: 3 an hour */
	h_rule("198.18.2.0/24", 0, 3, 3600 * NS, 0);
	h_rule("fd00:2::/32", 0, 3, 3600 * NS, 0);
	assert_int_equal(h_apply(), 0);
	h_sanction("198.18.99.0/24", now + hour, 0, 0);
	h_sanction("fd00:99::/32", now + hour, 0, 0);
	h_sanction("198.18.77.0/24", 0, now + hour, MX_PENALTY_REFUSE);
	h_sanction("fd00:77::/32", 0, now + hour, MX_PENALTY_REFUSE);
}

/* ---- the generator ---- */

static size_t gen_src(struct rng *r, uint8_t *a, int v6)
{
	enum pool p;
	uint32_t x = below(r, 100);

	p = x < 15 ? P_BLOCKED : x < 25 ? P_PENALIZED : x < 40 ? P_ALLOWED : x < 65 ? P_SMALL
	  : x < 80 ? P_RATED : P_RANDOM;
	if (!v6) {
		if (p == P_RANDOM) {
			fill(r, a, 4);
			return 4;
		}
		a[0] = 198;
		a[1] = 18;
		a[2] = v4_pool_net[p];
		a[3] = (uint8_t)(p == P_SMALL || p == P_RATED ? below(r, 16) : rnd(r));
		return 4;
	}
	if (p == P_RANDOM) {
		fill(r, a, 16);
		return 16;
	}
	memset(a, 0, 16);
	a[0] = 0xfd;
	a[2] = 0;
	a[3] = v6_pool_net[p];
	if (p == P_SMALL || p == P_RATED) {
		a[7] = (uint8_t)below(r, 16); /* 16 distinct /64s */
		a[15] = (uint8_t)rnd(r);
	} else {
		fill(r, a + 4, 12);
	}
	return 16;
}

static uint16_t gen_dport(struct rng *r)
{
	uint32_t x = below(r, 100);

	if (x < 50)
		return mail_ports[below(r, sizeof(mail_ports) / sizeof(mail_ports[0]))];
	if (x < 85)
		return other_ports[below(r, sizeof(other_ports) / sizeof(other_ports[0]))];
	return (uint16_t)rnd(r);
}

static uint8_t gen_flags(struct rng *r)
{
	static const uint8_t f[] = { 0x10, 0x12, 0x04, 0x11, 0x18, 0x03, 0x06, 0x14, 0xc2, 0x0a, 0x22 };
	uint32_t x = below(r, 100);

	if (x < 55)
		return 0x02; /* SYN */
	if (x < 85)
		return f[below(r, sizeof(f))];
	return (uint8_t)rnd(r);
}

/* L4 at p: returns its length. */
static size_t gen_l4(struct rng *r, uint8_t *p, size_t room, uint8_t proto)
{
	size_t n, pay = chance(r, 70) ? 0 : below(r, 49);

	if (proto == 6) {
		unsigned doff = chance(r, 70) ? 5 : chance(r, 70) ? 6 + below(r, 10) : below(r, 16);
		size_t hl = doff >= 5 ? doff * 4 : 20;

		if (hl + pay > room)
			return 0;
		be16(p, (uint16_t)rnd(r));
		be16(p + 2, gen_dport(r));
		fill(r, p + 4, 8); /* seq, ack */
		p[12] = (uint8_t)(doff << 4 | (chance(r, 90) ? 0 : below(r, 16)));
		p[13] = gen_flags(r);
		fill(r, p + 14, 6);
		fill(r, p + 20, hl - 20 + pay);
		return hl + pay;
	}
	n = proto == 17 ? 8 + pay : below(r, 40);
	if (n > room)
		return 0;
	fill(r, p, n);
	if (proto == 17)
		be16(p + 2, gen_dport(r));
	return n;
}

static uint8_t gen_proto(struct rng *r)
{
	static const uint8_t o[] = { 17, 1, 58, 59, 50, 132, 0, 43 };

	if (chance(r, 85))
		return 6;
	return chance(r, 80) ? o[below(r, sizeof(o))] : (uint8_t)rnd(r);
}

static size_t gen_ipv4(struct rng *r, uint8_t *p, size_t room)
{
	unsigned ihl = chance(r, 60) ? 5 : chance(r, 90) ? 5 + below(r, 11) : below(r, 16);
	size_t hl = ihl >= 5 ? ihl * 4 : 20, l4;
	uint8_t proto = gen_proto(r);
	uint32_t x = below(r, 100);
	uint16_t frag;

	p[0] = (uint8_t)((chance(r, 97) ? 4 : below(r, 16)) << 4 | ihl);
	p[1] = (uint8_t)rnd(r);
	fill(r, p + 4, 2);
	frag = x < 55 ? 0x4000 : x < 65 ? 0 : x < 80 ? 0x2000 : x < 92 ? (uint16_t)(1 + below(r, 0x1fff)) | (chance(r, 50) ? 0x2000 : 0) : (uint16_t)rnd(r);
	be16(p + 6, frag);
	p[8] = (uint8_t)rnd(r);
	p[9] = proto;
	fill(r, p + 10, 2);
	gen_src(r, p + 12, 0);
	p[16] = 198;
	p[17] = 18;
	fill(r, p + 18, 2);
	fill(r, p + 20, hl - 20);
	l4 = gen_l4(r, p + hl, room - hl, proto);
	be16(p + 2, chance(r, 90) ? (uint16_t)(hl + l4) : (uint16_t)rnd(r));
	return hl + l4;
}

static size_t gen_ipv6(struct rng *r, uint8_t *p, size_t room)
{
	static const uint8_t ext[] = { 0, 43, 44, 51, 60 };
	unsigned n_ext = chance(r, 50) ? 0 : 1 + below(r, 10), i;
	uint8_t *nh = p + 6;
	size_t off = 40, l4;
	uint8_t proto = gen_proto(r);

	p[0] = (uint8_t)((chance(r, 97) ? 6 : below(r, 16)) << 4 | below(r, 16));
	fill(r, p + 1, 3);
	p[7] = (uint8_t)rnd(r);
	gen_src(r, p + 8, 1);
	memset(p + 24, 0, 16);
	p[24] = 0xfd;
	p[39] = 1;
	for (i = 0; i < n_ext; i++) {
		uint8_t t = ext[below(r, sizeof(ext))];
		size_t len;

		*nh = t;
		nh = p + off;
		if (t == 44) {
			uint32_t x = below(r, 100);
			uint16_t fo = x < 40 ? 0 : x < 70 ? 1 : (uint16_t)((1 + below(r, 0x1fff)) << 3 | below(r, 2));

			len = 8;
			if (off + len > room)
				return off;
			fill(r, p + off, len);
			be16(p + off + 2, fo);
		} else {
			unsigned hl = below(r, 4);

			len = t == 51 ? (hl + 2) * 4 : (hl + 1) * 8;
			if (off + len > room)
				return off;
			fill(r, p + off, len);
			p[off + 1] = (uint8_t)hl;
		}
		off += len;
	}
	*nh = proto;
	l4 = gen_l4(r, p + off, room - off, proto);
	be16(p + 4, chance(r, 90) ? (uint16_t)(off - 40 + l4) : (uint16_t)rnd(r));
	return off + l4;
}

static void mutate(struct rng *r, uint8_t *b, size_t *len)
{
	unsigned k = 1 + below(r, 4);

	while (k--) {
		uint32_t x = below(r, 100);
		/* most of the interest is in the headers: aim there */
		size_t span = *len < 96 ? *len : 96;

		if (x < 35)
			b[below(r, (uint32_t)span)] ^= (uint8_t)(1u << below(r, 8));
		else if (x < 65)
			b[below(r, (uint32_t)span)] = (uint8_t)rnd(r);
		else if (x < 85)
			*len = 14 + below(r, (uint32_t)(*len - 14 + 1));
		else if (*len < PKT_MAX - 16) {
			size_t add = 1 + below(r, 16);

			fill(r, b + *len, add);
			*len += add;
		}
	}
}

/* One packet into b (PKT_MAX bytes); returns its length (>= 14). */
static size_t gen_packet(struct rng *r, uint8_t *b)
{
	unsigned vlans = chance(r, 70) ? 0 : chance(r, 50) ? 1 : chance(r, 70) ? 2 : 3, i;
	uint32_t x = below(r, 100);
	size_t off = 12, len;

	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	for (i = 0; i < vlans; i++) {
		be16(b + off, chance(r, 50) ? 0x8100 : 0x88a8);
		be16(b + off + 2, (uint16_t)rnd(r));
		off += 4;
	}
	if (x < 45) {
		be16(b + off, 0x0800);
		off += 2;
		len = off + gen_ipv4(r, b + off, PKT_MAX - 32 - off);
	} else if (x < 90) {
		be16(b + off, 0x86dd);
		off += 2;
		len = off + gen_ipv6(r, b + off, PKT_MAX - 32 - off);
	} else {
		be16(b + off, chance(r, 50) ? 0x0806 : (uint16_t)rnd(r));
		off += 2;
		fill(r, b + off, below(r, 64));
		len = off + 64;
	}
	if (len < 14)
		len = 14;
	if (chance(r, 40))
		mutate(r, b, &len);
	return len;
}

/* ---- the reference parser (docs/design.md "Kernel layer semantics") ---- */

enum cls {
	C_OTHER,       /* not TCP over IP */
	C_FAIL,        /* malformed: passes, counted parse_fail */
	C_NONFIRST,    /* non-first fragment: passes */
	C_NOT_MAIL,    /* TCP to another port */
	C_MAIL_OTHER,  /* TCP to a mail port, not a connection request */
	C_FRAG_REFUSE, /* first fragment with SYN or cut TCP header, to a mail port */
	C_SYN,         /* SYN (no ACK/RST/FIN) to a mail port: judged */
	C_LONG,        /* IPv6 chain longer than walked (8 headers): refused */
	C__N
};
static const char *cls_name[C__N] = { "other", "parse-fail", "nonfirst-frag", "not-mail", "mail-non-syn",
				      "frag-refuse", "syn", "long-chain"};

struct model {
	enum cls cls;
	enum pool src; /* C_SYN: which pool the source is in (P_RANDOM: none known) */
	size_t l3;     /* offset of the IP header */
	int v6;
};

static enum pool src_pool(const uint8_t *a, int v6)
{
	int p;

	for (p = 0; p < P__KNOWN; p++) {
		if (!v6 && a[0] == 198 && a[1] == 18 && a[2] == v4_pool_net[p])
			return (enum pool)p;
		if (v6 && a[0] == 0xfd && a[1] == 0 && a[2] == 0 && a[3] == v6_pool_net[p])
			return (enum pool)p;
	}
	return P_RANDOM;
}

static int is_v6_ext(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

static struct model classify(const uint8_t *b, size_t len)
{
	struct model m = { C_FAIL, P_RANDOM, 0, 0 };
	size_t off = 12, l4;
	uint16_t proto;
	int first_frag = 0, v6, i;
	const uint8_t *src;

	if (len < 14)
		return m;
	proto = rd16(b + 12);
	off = 14;
	for (i = 0; i < 2 && (proto == 0x8100 || proto == 0x88a8); i++) {
		if (off + 4 > len)
			return m;
		proto = rd16(b + off + 2);
		off += 4;
	}
	if (proto == 0x8100 || proto == 0x88a8)
		return m; /* a third tag */
	m.l3 = off;
	if (proto == 0x0800) {
		unsigned ihl;
		uint16_t frag;

		v6 = 0;
		if (off + 20 > len || b[off] >> 4 != 4 || (b[off] & 15) < 5)
			return m;
		ihl = (b[off] & 15) * 4u;
		if (off + ihl > len)
			return m;
		if (b[off + 9] != 6) {
			m.cls = C_OTHER;
			return m;
		}
		frag = rd16(b + off + 6);
		if (frag & 0x1fff) {
			m.cls = C_NONFIRST;
			return m;
		}
		first_frag = !!(frag & 0x2000);
		src = b + off + 12;
		l4 = off + ihl;
	} else if (proto == 0x86dd) {
		uint8_t nh;
		size_t pos;
		int tcp = 0;

		v6 = m.v6 = 1;
		if (off + 40 > len || b[off] >> 4 != 6)
			return m;
		src = b + off + 8;
		/* an IPv4-mapped source is invalid on the wire: parse failure */
		if (!memcmp(src, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
			return m;
		nh = b[off + 6];
		pos = off + 40;
		/* RFC 8200 chains: at most MX_MAX_EXT_HDRS headers are walked */
		for (i = 0; i < 8; i++) {
			size_t hl;

			if (nh == 6) {
				tcp = 1;
				break;
			}
			if (!is_v6_ext(nh)) {
				m.cls = C_OTHER;
				return m;
			}
			if (pos + 2 > len)
				return m;
			if (nh == 44) {
				uint16_t fo;

				if (pos + 8 > len)
					return m;
				fo = rd16(b + pos + 2);
				if (fo & 0xfff8) {
					m.cls = C_NONFIRST;
					return m;
				}
				if (fo & 1)
					first_frag = 1;
				hl = 8;
			} else if (nh == 51) {
				hl = (b[pos + 1] + 2u) * 4;
			} else {
				hl = (b[pos + 1] + 1u) * 8;
			}
			nh = b[pos];
			pos += hl;
			if (pos > len)
				return m;
		}
		if (!tcp) { /* 8 headers walked and still no TCP */
			m.cls = C_LONG;
			return m;
		}
		l4 = pos;
	} else {
		m.cls = C_OTHER;
		return m;
	}

	/* TCP */
	if (l4 + 20 > len) {
		if (first_frag && l4 + 4 <= len) {
			m.cls = is_mail_port(rd16(b + l4 + 2)) ? C_FRAG_REFUSE : C_NOT_MAIL;
			return m;
		}
		return m;
	}
	if (b[l4 + 12] >> 4 < 5)
		return m;
	if (!is_mail_port(rd16(b + l4 + 2))) {
		m.cls = (l4 + (b[l4 + 12] >> 4) * 4u > len && !first_frag) ? C_FAIL : C_NOT_MAIL;
		return m;
	}
	if (l4 + (b[l4 + 12] >> 4) * 4u > len) {
		m.cls = first_frag ? C_FRAG_REFUSE : C_FAIL;
		return m;
	}
	if (first_frag && (b[l4 + 13] & 0x02)) {
		m.cls = C_FRAG_REFUSE;
		return m;
	}
	if ((b[l4 + 13] & 0x17) != 0x02) {
		m.cls = C_MAIL_OTHER;
		return m;
	}
	m.cls = C_SYN;
	m.src = src_pool(src, v6);
	return m;
}

/* ---- running ---- */

struct tally {
	uint64_t runs, cls[C__N], drop, pass, tx;
};

static uint8_t g_out[PKT_MAX + 256];

static int run_pkt(const uint8_t *in, size_t n, uint32_t *out_len)
{
	uint8_t *out = g_out;
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = in, .data_size_in = (uint32_t)n,
		    .data_out = out, .data_size_out = sizeof(g_out));

	if (bpf_prog_test_run_opts(H.prog_fd, &t))
		return -errno;
	*out_len = t.data_size_out;
	return (int)t.retval;
}

static void hexdump(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x%s", b[i], (i % 32 == 31 || i + 1 == n) ? "\n" : " ");
}

static void report(const char *what, uint64_t pkt_no, const struct model *m, int ret, const uint8_t *b,
		   size_t n)
{
	fprintf(stderr, "# seed %" PRIu64 " packet %" PRIu64 ": %s (model %s, src pool %d, verdict %d, %zu bytes)\n",
		g_seed, pkt_no, what, cls_name[m->cls], (int)m->src, ret, n);
	hexdump(b, n);
}

/* A TX must carry a whole RST+ACK at the packet's own L3 offset (VLAN
 * tags kept): IP header with the reply's length, TCP flags RST|ACK. */
static int tx_is_rst(const struct model *m, const uint8_t *in, const uint8_t *out, uint32_t len)
{
	size_t l3 = m->l3, ip = m->v6 ? 40 : 20;

	if (len < l3 + ip + 20 || memcmp(out + 12, in + 12, l3 - 12))
		return 0;
	if (m->v6 ? (out[l3] >> 4 != 6 || rd16(out + l3 + 4) != 20 || out[l3 + 6] != 6)
		  : (out[l3] != 0x45 || rd16(out + l3 + 2) != 40 || out[l3 + 9] != 6))
		return 0;
	return out[l3 + ip + 13] == 0x14 && out[l3 + ip + 12] == 0x50;
}

/* Per-packet oracle.  Returns 0 when the verdict is allowed. */
static int judge(const struct model *m, int ret, const uint8_t *in, uint32_t out_len,
		 enum mx_action action)
{
	int refused = ret == XDP_DROP || ret == XDP_TX;

	if (ret != XDP_DROP && ret != XDP_PASS && ret != XDP_TX)
		return -1;
	if (ret == XDP_TX && (action != MX_ACTION_RESET || !tx_is_rst(m, in, g_out, out_len)))
		return -2;
	switch (m->cls) {
	case C_OTHER:
	case C_FAIL:
	case C_NONFIRST:
	case C_NOT_MAIL:
	case C_MAIL_OTHER:
		return ret == XDP_PASS ? 0 : -1;
	case C_FRAG_REFUSE:
		return refused ? 0 : -1;
	case C_LONG:
		return ret == XDP_DROP ? 0 : -1;
	case C_SYN:
		if (m->src == P_BLOCKED || m->src == P_PENALIZED)
			return refused ? 0 : -1;
		if (m->src == P_ALLOWED)
			return ret == XDP_PASS ? 0 : -1;
		return 0;
	default:
		return -1;
	}
}

static uint64_t refusals(const struct mx_stats *s)
{
	uint64_t sum = 0;

	/* every refused_* counter, whatever reasons the datapath grows */
#define SUM_REFUSED(name, help)                                   \
	if (strncmp(#name, "refused_", 8) == 0)                   \
		sum += s->name;
	MX_STATS_FIELDS(SUM_REFUSED)
#undef SUM_REFUSED
	return sum;
}

static struct mx_stats stats_delta(const struct mx_stats *a, const struct mx_stats *b)
{
	struct mx_stats d = { 0 };
	const uint64_t *pa = (const uint64_t *)a, *pb = (const uint64_t *)b;
	uint64_t *pd = (uint64_t *)&d;

	for (size_t i = 0; i < sizeof(d) / sizeof(uint64_t); i++)
		pd[i] = pb[i] - pa[i];
	return d;
}

/* The counters of a stretch of packets against its tally.  Returns a
 * description of the first disagreement, or NULL. */
static const char *stats_disagree(const struct mx_stats *d, const struct tally *t)
{
	uint64_t judged = d->admitted + d->syn_retransmit + refusals(d) - d->refused_frag -
			  d->refused_exthdr;

	if (d->packets != t->runs)
		return "packets != runs";
	if (d->parse_fail != t->cls[C_FAIL])
		return "parse_fail != model";
	if (d->nonfirst_frag != t->cls[C_NONFIRST])
		return "nonfirst_frag != model";
	if (d->subject != t->cls[C_MAIL_OTHER] + t->cls[C_FRAG_REFUSE] + t->cls[C_SYN])
		return "subject != model";
	if (d->syn != t->cls[C_SYN])
		return "syn != model";
	if (d->refused_frag != t->cls[C_FRAG_REFUSE])
		return "refused_frag != model";
	if (d->refused_exthdr != t->cls[C_LONG])
		return "refused_exthdr != model";
	if (refusals(d) != t->drop + t->tx)
		return "sum of refused_* != packets refused";
	if (d->rst_sent != t->tx)
		return "rst_sent != TX verdicts";
	if (d->subject > d->packets || d->syn > d->subject)
		return "syn <= subject <= packets broken";
	if (judged > d->syn)
		return "admitted + retransmits + refusals > syn";
	return NULL;
}

/* Replay one batch packet by packet with a stats read after each, to
 * name the packet whose counters disagree with the model. */
static void pinpoint(uint64_t batch_seed, uint64_t first_no, size_t n, enum mx_action action)
{
	struct rng r = { batch_seed };
	uint8_t b[PKT_MAX];

	for (size_t i = 0; i < n; i++) {
		size_t len = gen_packet(&r, b);
		struct model m = classify(b, len);
		struct tally t = { .runs = 1 };
		struct mx_stats s0 = h_stats(), s1, d;
		uint32_t out_len = 0;
		int ret = run_pkt(b, len, &out_len);
		const char *why;

		t.cls[m.cls] = 1;
		t.drop = ret == XDP_DROP;
		t.tx = ret == XDP_TX;
		s1 = h_stats();
		d = stats_delta(&s0, &s1);
		why = stats_disagree(&d, &t);
		if (why) {
			report(why, first_no + i, &m, ret, b, len);
			return;
		}
	}
	(void)action;
	fprintf(stderr, "# the batch did not disagree when replayed packet by packet\n");
}

static void fuzz(uint64_t seed, uint64_t total, enum mx_action action)
{
	uint8_t b[PKT_MAX];
	uint64_t done = 0, batch_no = 0, cls_all[C__N] = { 0 }, verdicts[4] = { 0 };
	struct timespec t0, t1;

	policy_install(action);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < total) {
		uint64_t batch_seed = seed ^ (0x9e3779b97f4a7c15ULL * ++batch_no);
		struct rng r = { batch_seed };
		size_t n = total - done < BATCH ? (size_t)(total - done) : BATCH;
		struct tally t = { 0 };
		struct mx_stats s0 = h_stats(), s1, d;
		const char *why;

		for (size_t i = 0; i < n; i++) {
			size_t len = gen_packet(&r, b);
			struct model m = classify(b, len);
			uint32_t out_len = 0;
			int ret = run_pkt(b, len, &out_len);

			if (ret < 0) {
				report("test_run failed", done + i, &m, ret, b, len);
				fail_msg("BPF_PROG_TEST_RUN: %s", strerror(-ret));
			}
			if (judge(&m, ret, b, out_len, action)) {
				report(judge(&m, ret, b, out_len, action) == -2 ? "TX is not a whole RST+ACK"
										   : "verdict not allowed",
				       done + i, &m, ret, b, len);
				if (ret == XDP_TX) {
					fprintf(stderr, "# output, %u bytes:\n", out_len);
					hexdump(g_out, out_len);
				}
				fail_msg("packet %" PRIu64 ": %s got verdict %d", done + i, cls_name[m.cls], ret);
			}
			t.runs++;
			t.cls[m.cls]++;
			t.drop += ret == XDP_DROP;
			t.pass += ret == XDP_PASS;
			t.tx += ret == XDP_TX;
		}
		s1 = h_stats();
		d = stats_delta(&s0, &s1);
		why = stats_disagree(&d, &t);
		if (why) {
			fprintf(stderr, "# batch %" PRIu64 ": %s\n", batch_no, why);
			pinpoint(batch_seed, done, n, action);
			fail_msg("stats disagree with the model: %s", why);
		}
		for (int c = 0; c < C__N; c++)
			cls_all[c] += t.cls[c];
		verdicts[XDP_DROP] += t.drop;
		verdicts[XDP_PASS] += t.pass;
		verdicts[XDP_TX] += t.tx;
		done += n;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %s: %" PRIu64 " packets in %.1f s (seed %" PRIu64 "): drop %" PRIu64 " pass %" PRIu64
	       " tx %" PRIu64 "\n#  ", action == MX_ACTION_RESET ? "reset" : "drop", done,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, seed,
	       verdicts[XDP_DROP], verdicts[XDP_PASS], verdicts[XDP_TX]);
	for (int c = 0; c < C__N; c++)
		printf(" %s %" PRIu64, cls_name[c], cls_all[c]);
	printf("\n");
	{
		struct mx_stats s = h_stats();

		printf("#   admitted %llu refused block %llu penalty %llu rate %llu conc %llu frag %llu"
		       " conc_map_full %llu\n",
		       (unsigned long long)s.admitted, (unsigned long long)s.refused_block,
		       (unsigned long long)s.refused_penalty, (unsigned long long)s.refused_rate,
		       (unsigned long long)s.refused_conc, (unsigned long long)s.refused_frag,
		       (unsigned long long)s.conc_map_full);
		/* every class and every refusal reason was exercised */
		for (int c = 0; c < C__N; c++)
			assert_true(cls_all[c] > 0 || total < 100000);
		if (total >= 100000) {
			assert_true(s.admitted > 0);
			assert_true(s.refused_block > 0 && s.refused_penalty > 0);
			assert_true(s.refused_rate > 0 && s.refused_conc > 0);
		}
	}
	fflush(stdout);
}

/* 60 % of the packets with action drop, 40 % with reset (XDP_TX). */
static void fuzz_drop(void **state)
{
	(void)state;
	fuzz(g_seed, g_total * 6 / 10, MX_ACTION_DROP);
}

static void fuzz_reset(void **state)
{
	(void)state;
	fuzz(g_seed + 1, g_total - g_total * 6 / 10, MX_ACTION_RESET);
}

/* The reference parser itself, on hand-built packets whose class is
 * known: a wrong model would make the fuzz oracle meaningless. */
static void model_knows_the_fixtures(void **state)
{
	struct fx {
		struct pkt_spec s;
		enum cls want;
	} fx[] = {
		{ { .src = "198.18.1.1" }, C_SYN },
		{ { .src = "198.18.1.1", .dport = 80 }, C_NOT_MAIL },
		{ { .src = "198.18.1.1", .flags = TH_ACK }, C_MAIL_OTHER },
		{ { .src = "198.18.1.1", .proto = 17 }, C_OTHER },
		{ { .src = "198.18.1.1", .vlans = 3 }, C_FAIL },
		{ { .src = "198.18.1.1", .vlans = 2, .ip_opts = 40 }, C_SYN },
		{ { .src = "198.18.1.1", .ihl = 4 }, C_FAIL },
		{ { .src = "198.18.1.1", .doff = 4 }, C_FAIL },
		{ { .src = "198.18.1.1", .frag = FRAG_FIRST }, C_FRAG_REFUSE },
		{ { .src = "198.18.1.1", .frag = FRAG_LATER }, C_NONFIRST },
		{ { .v6 = 1, .src = "fd00:1::1", .ext_hdrs = 3, .routing_hdr = 1 }, C_SYN },
		{ { .v6 = 1, .src = "fd00:1::1", .ext_hdrs = 7 }, C_SYN },
		{ { .v6 = 1, .src = "fd00:1::1", .ext_hdrs = 8 }, C_LONG },
		{ { .v6 = 1, .src = "fd00:1::1", .frag = FRAG_FIRST }, C_FRAG_REFUSE },
		{ { .v6 = 1, .src = "fd00:1::1", .frag = FRAG_LATER }, C_NONFIRST },
	};
	uint8_t b[512];

	(void)state;
	policy_install(MX_ACTION_DROP);
	for (size_t i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		size_t n = pkt_build(&fx[i].s, b, sizeof(b));
		struct model m = classify(b, n);
		struct mx_stats s0 = h_stats(), s1, d;
		struct tally t = { .runs = 1 };
		uint32_t out_len;
		int ret;

		if (m.cls != fx[i].want)
			fail_msg("fixture %zu: model says %s, want %s", i, cls_name[m.cls], cls_name[fx[i].want]);
		/* and the program agrees with the model on it */
		ret = run_pkt(b, n, &out_len);
		t.cls[m.cls] = 1;
		t.drop = ret == XDP_DROP;
		s1 = h_stats();
		d = stats_delta(&s0, &s1);
		if (stats_disagree(&d, &t))
			fail_msg("fixture %zu: program disagrees: %s", i, stats_disagree(&d, &t));
		assert_int_equal(judge(&m, ret, b, out_len, MX_ACTION_DROP), 0);
	}
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}


#define T(f) cmocka_unit_test_setup(f, h_reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(model_knows_the_fixtures),
		T(fuzz_drop),
		T(fuzz_reset),
	};

	g_seed = env_u64("FUZZ_SEED", DEFAULT_SEED);
	g_total = env_u64("FUZZ_PACKETS", DEFAULT_PACKETS);
	printf("# packet fuzz: seed %" PRIu64 " (FUZZ_SEED), %" PRIu64 " packets (FUZZ_PACKETS)\n", g_seed,
	       g_total);
	fflush(stdout);
	return cmocka_run_group_tests(tests, h_group_setup_xdp, h_group_teardown);
}
