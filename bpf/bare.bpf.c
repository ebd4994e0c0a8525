// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bare.bpf.c - XDP_PASS and nothing else.  The baseline of `make bench`,
 * and the pass-through program a veth peer needs so that XDP_TX from
 * mxlimit's side reaches it (docs/design.md "Labs and their pitfalls").
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
