// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_sockstate.c - concurrency accounting from real sockets.
 *
 * The process moves into a network namespace of its own (unshare), brings
 * up its loopback, and makes real TCP connections to ports 25 and 587
 * there; the socket-state tracepoint and the seeding iterator must count
 * each inbound connection once and release it by every path (FIN, RST from
 * either side).  Waits are for a condition, bounded, never a timing check.
 */
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "mx_types.h"
#include "mxlimit.skel.h"

#include <cmocka.h>

#include "harness.h"

static uint32_t self_netns;

static int lo_up(void)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rc;

	strcpy(ifr.ifr_name, "lo");
	ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return rc;
}

static void netns_register(int on)
{
	uint32_t one = 1;

	if (on)
		bpf_map_update_elem(H.m.netns, &self_netns, &one, BPF_ANY);
	else
		bpf_map_delete_elem(H.m.netns, &self_netns);
}

static void policy(void)
{
	h_config_default();
	h_rule("v4default", 0, 0, 0, 0);
	h_rule("v6default", 0, 0, 0, 0);
	assert_int_equal(h_apply(), 0);
}

static int sa_make(int v6, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_loopback;
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*s4);
	}
}

static int listen_on(int v6, uint16_t port)
{
	struct sockaddr_storage ss;
	int len = sa_make(v6, port, &ss), one = 1;
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, (socklen_t)len), 0);
	assert_int_equal(listen(fd, 512), 0);
	return fd;
}

static int connect_to(int v6, uint16_t port, uint16_t from_port)
{
	struct sockaddr_storage ss;
	int len = sa_make(v6, port, &ss), one = 1;
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (from_port) {
		struct sockaddr_storage me;
		int mlen = sa_make(v6, from_port, &me);

		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		assert_int_equal(bind(fd, (struct sockaddr *)&me, (socklen_t)mlen), 0);
	}
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, (socklen_t)len), 0);
	return fd;
}

static int accept_one(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 5000), 1);
	return accept(lfd, NULL, NULL);
}

static void close_rst(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static uint32_t established(const char *addr)
{
	struct mx_conc c;

	if (h_conc(addr, strchr(addr, ':') ? 64 : 128, &c))
		return 0;
	return c.established;
}

/* Wait (bounded) until the count is `want`; returns the last count. */
static uint32_t wait_count(const char *addr, uint32_t want)
{
	struct timespec d = { 0, 2 * 1000 * 1000 };
	uint32_t got = 0;

	for (int i = 0; i < 2500; i++) {
		got = established(addr);
		if (got == want)
			break;
		nanosleep(&d, NULL);
	}
	return got;
}

static int group_setup(void **state)
{
	int lfd, c[2], a[2], seeded_by;

	(void)state;
	mx_log_set_level(MX_LOG_WARN);
	if (unshare(CLONE_NEWNET) || lo_up()) {
		fprintf(stderr, "cannot make a network namespace: %s\n", strerror(errno));
		return -1;
	}
	self_netns = mx_self_netns();
	if (h_setup(MX_PROGS_XDP | MX_PROGS_SOCK))
		return -1;
	policy();
	netns_register(1);

	/* Connections from before the tracepoint: only seeding counts them. */
	lfd = listen_on(0, 25);
	for (int i = 0; i < 2; i++) {
		c[i] = connect_to(0, 25, 0);
		a[i] = accept_one(lfd);
	}
	if (mx_sock_attach(H.skel, H.pin_dir))
		return -1;
	seeded_by = mx_sock_seed(H.skel); /* iter/tcp, or sock_diag under MXLIMIT_DISABLE */
	if (seeded_by < 0)
		return -1;
	if (established("127.0.0.1") != 2 || h_stats().conn_seeded != 2) {
		fprintf(stderr, "seeding (%s) counted %u (stat %llu), want 2\n",
			seeded_by == MX_FEAT_SEED_ITER ? "iter_tcp" : "sock_diag",
			established("127.0.0.1"), (unsigned long long)h_stats().conn_seeded);
		return -1;
	}
	/* The other implementation on the same sockets counts nothing more:
	 * both insert NOEXIST by socket cookie (sock_diag's cookie is the
	 * one bpf_get_socket_cookie() gives). */
	if (seeded_by == MX_FEAT_SEED_ITER &&
	    bpf_program__fd(H.skel->progs.mx_seed_flow) >= 0 &&
	    (mx_sockdiag_seed(bpf_program__fd(H.skel->progs.mx_seed_flow)) < 2 ||
	     established("127.0.0.1") != 2 || h_stats().conn_seeded != 2)) {
		fprintf(stderr, "sock_diag after iter/tcp counted again: %u\n",
			established("127.0.0.1"));
		return -1;
	}
	/* ...and they leave through the tracepoint like any other. */
	for (int i = 0; i < 2; i++) {
		close(c[i]);
		close(a[i]);
	}
	close(lfd);
	if (wait_count("127.0.0.1", 0) != 0) {
		fprintf(stderr, "seeded connections did not release\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	h_teardown();
	return 0;
}

static int reset_all(void **state)
{
	h_reset(state);
	policy();
	return 0;
}

static void count_and_release(int v6, uint16_t port, const char *addr, int how)
{
	int lfd = listen_on(v6, port), c[3], a[3];

	for (int i = 0; i < 3; i++) {
		c[i] = connect_to(v6, port, 0);
		a[i] = accept_one(lfd);
	}
	assert_int_equal(wait_count(addr, 3), 3);
	/* the client sockets (SYN_SENT -> ESTABLISHED) are never counted */
	assert_int_equal(h_stats().conn_open, 3);
	for (int i = 0; i < 3; i++) {
		switch (how) {
		case 0: close(c[i]); close(a[i]); break;          /* FIN */
		case 1: close_rst(c[i]); close(a[i]); break;      /* RST from client */
		default: close_rst(a[i]); close(c[i]); break;     /* abort by server */
		}
		assert_int_equal(wait_count(addr, (uint32_t)(2 - i)), (uint32_t)(2 - i));
	}
	close(lfd);
	assert_int_equal(h_stats().conn_close, 3);
	assert_int_equal(h_stats().underflow, 0);
	assert_int_equal(h_map_entries(H.m.conns, sizeof(uint64_t)), 0);
}

static void ipv4_close_by_fin(void **s) { (void)s; count_and_release(0, 25, "127.0.0.1", 0); }
static void ipv4_close_by_client_rst(void **s) { (void)s; count_and_release(0, 25, "127.0.0.1", 1); }
static void ipv4_abort_by_server(void **s) { (void)s; count_and_release(0, 587, "127.0.0.1", 2); }
static void ipv6_close_by_fin(void **s) { (void)s; count_and_release(1, 587, "::1", 0); }
static void ipv6_abort_by_server(void **s) { (void)s; count_and_release(1, 25, "::1", 2); }

static void non_mail_port_not_counted(void **state)
{
	int lfd = listen_on(0, 8025), c, a;

	(void)state;
	c = connect_to(0, 8025, 0);
	a = accept_one(lfd);
	close(c);
	close(a);
	close(lfd);
	assert_int_equal(h_stats().conn_open, 0);
	assert_int_equal(established("127.0.0.1"), 0);
}

static void other_netns_not_counted(void **state)
{
	int lfd = listen_on(0, 25), c, a;

	(void)state;
	netns_register(0);
	c = connect_to(0, 25, 0);
	a = accept_one(lfd);
	assert_int_equal(h_stats().conn_open, 0);
	netns_register(1);
	close(c);
	close(a);
	close(lfd);
	assert_int_equal(established("127.0.0.1"), 0);
	assert_int_equal(h_stats().underflow, 0);
}

/* XDP's pending record for this 4-tuple is handed over at ESTABLISHED:
 * the pending slot is released (in every row of the sketch), the
 * connection counted in its key, and the key gets its exact entry. */
static void pending_released_at_established(void **state)
{
	struct mx_flow_key fk = {};
	struct mx_pending rec = {};
	struct mx_cell cell = {};
	struct mx_src ex;
	uint32_t idx[MX_SKETCH_ROWS];
	struct mx_conc c = {};
	mx_prefix p;
	uint64_t now = mx_mono_now(&H.m);
	uint32_t epoch = (uint32_t)(now / H.cfg.pending_slot_ns);
	int lfd, cfd, afd;

	(void)state;
	h_prefix(&p, "127.0.0.1");
	memcpy(fk.saddr, p.addr, 16);
	memcpy(fk.daddr, p.addr, 16);
	fk.sport = htons(47001);
	fk.dport = htons(25);
	/* as XDP would have left it: one pending SYN in a shared /8 counter */
	rec.key.plen = 96 + 8;
	rec.key.addr[2] = htonl(0xffff);
	rec.key.addr[3] = htonl(0x7f000000);
	rec.epoch = epoch;
	cell.s.pc.pend[epoch % MX_PEND_SLOTS] = ((uint64_t)epoch << 32) | 1;
	for (uint32_t r = 0; r < MX_SKETCH_ROWS; r++) {
		idx[r] = h_sketch_index(&rec.key, r);
		assert_int_equal(bpf_map_update_elem(H.m.sketch, &idx[r], &cell, BPF_ANY), 0);
	}
	assert_int_not_equal(bpf_map_lookup_elem(H.m.src, &rec.key, &ex), 0);
	assert_int_equal(bpf_map_update_elem(H.m.pending, &fk, &rec, BPF_ANY), 0);

	lfd = listen_on(0, 25);
	cfd = connect_to(0, 25, 47001);
	afd = accept_one(lfd);
	for (int i = 0; i < 2500; i++) {
		if (bpf_map_lookup_elem(H.m.conc, &rec.key, &c) == 0 && c.established == 1)
			break;
		usleep(2000);
	}
	assert_int_equal(c.established, 1);
	for (uint32_t r = 0; r < MX_SKETCH_ROWS; r++) {
		assert_int_equal(bpf_map_lookup_elem(H.m.sketch, &idx[r], &cell), 0);
		assert_int_equal((uint32_t)cell.s.pc.pend[epoch % MX_PEND_SLOTS], 0);
	}
	assert_int_equal(bpf_map_lookup_elem(H.m.src, &rec.key, &ex), 0);
	assert_int_not_equal(bpf_map_lookup_elem(H.m.pending, &fk, &rec), 0);
	assert_int_equal(h_stats().pending_lost, 0);
	close(cfd);
	close(afd);
	close(lfd);
	for (int i = 0; i < 2500 && c.established; i++) {
		bpf_map_lookup_elem(H.m.conc, &rec.key, &c);
		usleep(2000);
	}
	assert_int_equal(c.established, 0);
}

/* Many connections closed every way, interleaved with policy swaps: the
 * count ends at zero and no connection record is left. */
static void many_connections_drift_to_zero(void **state)
{
	enum { N = 300 };
	int lfd = listen_on(0, 25), c[N], a[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		c[i] = connect_to(0, 25, 0);
		a[i] = accept_one(lfd);
		if (i % 100 == 50)
			policy(); /* reload mid-stream */
	}
	assert_int_equal(wait_count("127.0.0.1", N), N);
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0) {
			close(c[i]);
			close(a[i]);
		} else if (i % 3 == 1) {
			close_rst(c[i]);
			close(a[i]);
		} else {
			close_rst(a[i]);
			close(c[i]);
		}
	}
	close(lfd);
	assert_int_equal(wait_count("127.0.0.1", 0), 0);
	assert_int_equal(h_map_entries(H.m.conns, sizeof(uint64_t)), 0);
	assert_int_equal(h_stats().underflow, 0);
	assert_int_equal(h_stats().conn_open, N);
	assert_int_equal(h_stats().conn_close, N);
}

/* With a wide level, each connection counts at its /32 and at its /8,
 * and gives both back when it ends. */
static void wide_level_counted_and_released(void **state)
{
	int lfd = listen_on(0, 25), c[3], a[3];
	struct mx_conc w = {};
	struct mx_key wk;

	(void)state;
	h_config_default();
	h_rule("v4default", 0, 0, 0, 0);
	h_wide(96 + 8, 50, 0, 0);
	assert_int_equal(h_apply(), 0);
	h_key(&wk, "127.0.0.0", 96 + 8);
	for (int i = 0; i < 3; i++) {
		c[i] = connect_to(0, 25, 0);
		a[i] = accept_one(lfd);
	}
	assert_int_equal(wait_count("127.0.0.1", 3), 3);
	bpf_map_lookup_elem(H.m.conc, &wk, &w);
	assert_int_equal(w.established, 3);
	for (int i = 0; i < 3; i++) {
		close(c[i]);
		close(a[i]);
	}
	close(lfd);
	assert_int_equal(wait_count("127.0.0.1", 0), 0);
	bpf_map_lookup_elem(H.m.conc, &wk, &w);
	assert_int_equal(w.established, 0);
	assert_int_equal(h_stats().underflow, 0);
}

/* A close the tracepoint missed (the kernel skips a nested run of a
 * tracing program) leaves a record: the sweep counts it down, once, and
 * leaves live connections, young records and other namespaces alone. */
static void sweep_counts_down_missed_closes(void **state)
{
	int lfd = listen_on(0, 25), c[2], a[2];
	struct mx_conn lost = {}, young, other;
	struct mx_conc cnt = {};
	uint64_t k_lost = 0xfeedf00d01ULL, k_young = 0xfeedf00d02ULL, k_other = 0xfeedf00d03ULL;
	struct mx_key ghost;

	(void)state;
	for (int i = 0; i < 2; i++) {
		c[i] = connect_to(0, 25, 0);
		a[i] = accept_one(lfd);
	}
	assert_int_equal(wait_count("127.0.0.1", 2), 2);
	/* three records whose sockets are gone, counted at 198.18.77.7 */
	h_key(&ghost, "198.18.77.7", 128);
	lost.key = ghost;
	lost.since_ns = 1; /* long ago */
	lost.flow.netns = self_netns;
	young = lost;
	young.since_ns = mx_mono_now(&H.m) + 3600 * NS; /* "opened after the sweep began" */
	other = lost;
	other.flow.netns = self_netns + 1; /* another namespace: not ours to judge */
	cnt.established = 3;
	assert_int_equal(bpf_map_update_elem(H.m.conc, &ghost, &cnt, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(H.m.conns, &k_lost, &lost, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(H.m.conns, &k_young, &young, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(H.m.conns, &k_other, &other, BPF_ANY), 0);

	assert_int_equal(mx_sock_sweep(H.skel, &H.m, NULL), 1);
	assert_int_equal(h_stats().conn_swept, 1);
	assert_int_not_equal(bpf_map_lookup_elem(H.m.conns, &k_lost, &lost), 0);
	assert_int_equal(bpf_map_lookup_elem(H.m.conns, &k_young, &young), 0);
	assert_int_equal(bpf_map_lookup_elem(H.m.conns, &k_other, &other), 0);
	bpf_map_lookup_elem(H.m.conc, &ghost, &cnt);
	assert_int_equal(cnt.established, 2);
	/* the live connections were marked, not swept */
	assert_int_equal(established("127.0.0.1"), 2);
	/* a second sweep finds nothing more to do */
	assert_int_equal(mx_sock_sweep(H.skel, &H.m, NULL), 0);
	assert_int_equal(established("127.0.0.1"), 2);
	bpf_map_delete_elem(H.m.conns, &k_young);
	bpf_map_delete_elem(H.m.conns, &k_other);
	for (int i = 0; i < 2; i++) {
		close(c[i]);
		close(a[i]);
	}
	close(lfd);
	assert_int_equal(wait_count("127.0.0.1", 0), 0);
	assert_int_equal(h_stats().underflow, 0);
}

/* The counter map full: a new source's connection is still accepted,
 * counted as conc_map_full and not counted (never a wrong count), and its
 * close counts nothing down. */
static void full_counter_map_fails_open(void **state)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), i;
	struct mx_conc z = {};
	int lfd, c, a;

	(void)state;
	assert_int_equal(bpf_obj_get_info_by_fd(H.m.conc, &info, &len), 0);
	for (i = 0; i < info.max_entries; i++) { /* fill it with other sources */
		struct mx_key k = { .plen = 128 };

		k.addr[0] = htonl(0xfd000000);
		k.addr[3] = htonl(i + 1);
		assert_int_equal(bpf_map_update_elem(H.m.conc, &k, &z, BPF_NOEXIST), 0);
	}
	lfd = listen_on(0, 25);
	c = connect_to(0, 25, 0);
	a = accept_one(lfd);
	assert_true(a >= 0);
	for (i = 0; i < 2500 && !h_stats().conc_map_full; i++)
		usleep(2000);
	assert_true(h_stats().conc_map_full >= 1);
	assert_int_equal(h_stats().conn_open, 0);
	assert_int_equal(h_map_entries(H.m.conns, sizeof(uint64_t)), 0);
	close(c);
	close(a);
	close(lfd);
	usleep(50000);
	assert_int_equal(h_stats().underflow, 0);
	assert_int_equal(h_stats().conn_close, 0);
	h_clear_map(H.m.conc, sizeof(struct mx_key));
}

#define T(f) cmocka_unit_test_setup(f, reset_all)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(ipv4_close_by_fin),
		T(ipv4_close_by_client_rst),
		T(ipv4_abort_by_server),
		T(ipv6_close_by_fin),
		T(ipv6_abort_by_server),
		T(non_mail_port_not_counted),
		T(other_netns_not_counted),
		T(pending_released_at_established),
		T(many_connections_drift_to_zero),
		T(wide_level_counted_and_released),
		T(sweep_counts_down_missed_closes),
		T(full_counter_map_fails_open),
	};

	if (getenv("MX_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MX_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
