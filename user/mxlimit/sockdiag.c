// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sockdiag.c - seeding through sock_diag, where the kernel refuses the
 * iter/tcp program: dump this namespace's ESTABLISHED TCP sockets over
 * NETLINK_SOCK_DIAG (libnl-idiag: the socket, the request, the receive
 * loop) and hand each to mx_seed_flow, which does the same NOEXIST insert
 * as the tracepoint, so a connection is never counted twice.
 *
 * libnl's idiag message object drops the socket cookie, which is the key
 * the tracepoint counts a connection down by; so the valid-message
 * callback reads the kernel's struct inet_diag_msg itself (its idiag_cookie
 * is sock_gen_cookie(), the value bpf_get_socket_cookie() returns).
 *
 * What the dump cannot give that the iterator does: atomicity with the
 * socket's state.  A connection that closes between the dump and its
 * insert is inserted after its close and stays counted; the sweep (which
 * marks through this same pass) counts it down on its next run.
 */
#include "loader.h"

#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <netlink/idiag/idiagnl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "log.h"

struct seed_run {
	int prog_fd;
	uint32_t netns;
	int handed, failed;
};

static void addr128(__u64 out[2], int family, const __be32 *a)
{
	uint8_t b[16] = { 0 };

	if (family == AF_INET) {
		b[10] = 0xff;
		b[11] = 0xff;
		memcpy(b + 12, a, 4);
	} else {
		memcpy(b, a, 16);
	}
	memcpy(out, b, 16);
}

static int on_sock(struct nl_msg *msg, void *arg)
{
	struct seed_run *r = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	const struct inet_diag_msg *d;
	struct mx_seed_ctx c = {};
	LIBBPF_OPTS(bpf_test_run_opts, ro);

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)))
		return NL_SKIP;
	d = nlmsg_data(h);
	if (d->idiag_family != AF_INET && d->idiag_family != AF_INET6)
		return NL_SKIP;
	c.cookie = (__u64)d->id.idiag_cookie[0] | (__u64)d->id.idiag_cookie[1] << 32;
	/* client first, as XDP saw the SYN: the remote end is the source */
	addr128(c.saddr, d->idiag_family, d->id.idiag_dst);
	addr128(c.daddr, d->idiag_family, d->id.idiag_src);
	c.ports_netns = (__u64)d->id.idiag_dport | (__u64)d->id.idiag_sport << 16 |
			(__u64)r->netns << 32;
	ro.ctx_in = &c;
	ro.ctx_size_in = sizeof(c);
	if (bpf_prog_test_run_opts(r->prog_fd, &ro))
		r->failed++;
	else
		r->handed++;
	return NL_OK;
}

static int dump(struct nl_sock *sk, int family)
{
	int err;

	err = idiagnl_send_simple(sk, NLM_F_DUMP, (uint8_t)family, 1 << IDIAG_SS_ESTABLISHED, 0);
	if (err < 0)
		return err;
	return nl_recvmsgs_default(sk);
}

int mx_sockdiag_seed(int prog_fd)
{
	struct seed_run r = { .prog_fd = prog_fd, .netns = mx_self_netns() };
	struct nl_sock *sk;
	int err;

	sk = nl_socket_alloc();
	if (!sk) {
		mx_warn("sock_diag seeding: out of memory");
		return -1;
	}
	err = idiagnl_connect(sk);
	if (!err)
		err = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_sock, &r);
	if (!err)
		err = dump(sk, AF_INET);
	if (err >= 0)
		err = dump(sk, AF_INET6);
	nl_socket_free(sk);
	if (err < 0) {
		mx_warn("sock_diag seeding: %s", nl_geterror(err));
		return -1;
	}
	if (r.failed) {
		mx_warn("sock_diag seeding: the insert program failed for %d of %d sockets",
			r.failed, r.failed + r.handed);
		return -1;
	}
	mx_debug("sock_diag seeding: %d established sockets handed over", r.handed);
	return r.handed;
}
