// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ref.bpf.c - the minimal reference limiter of `make bench` (issue 15).
 * Not product code: the least a SYN limiter can do, run through
 * BPF_PROG_TEST_RUN next to mxlimit and bare.bpf.o so that every ratio is
 * taken in one run on one machine.
 *
 * Parse Ethernet / IPv4 / TCP (no VLAN, no IPv6: the bench sends untagged
 * IPv4), pass everything but a lone SYN to port 25, then one LRU lookup of
 * the source masked to ref_plen and a GCRA bucket (one u64, compare-and-
 * swap): under the rate -> pass, over it -> drop, unknown -> one LRU insert.
 * No policy, no sanctions, no concurrency, no stats.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the bench before each scenario (mmapped .data). */
__u64 ref_emission_ns = 1;
__u64 ref_tolerance_ns = 1000000000ULL;
/* Source prefix length (IPv4): the reference keys /24; the bench
 * sets 32 so that its tracked sources are distinct keys, as mxlimit's are
 * under the bench's per-/32 policy (the same work per packet). */
__u32 ref_plen = 24;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* the bench resizes it before load */
	__type(key, __u32);
	__type(value, __u64);
} ref_gcra SEC(".maps");

SEC("xdp")
int ref_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *th;
	__u64 now, *tat, old, t;
	__u32 key, plen;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(0x0800))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl < 5)
		return XDP_PASS;
	th = (void *)ip + ip->ihl * 4;
	if ((void *)(th + 1) > end || th->dest != bpf_htons(25))
		return XDP_PASS;
	if ((((__u8 *)th)[13] & 0x17) != 0x02) /* SYN alone (not ACK, RST, FIN) */
		return XDP_PASS;

	plen = ref_plen;
	key = plen >= 32 ? ip->saddr : plen == 0 ? 0 :
	      ip->saddr & bpf_htonl(0xffffffffu << (32 - plen));
	now = bpf_ktime_get_ns();
	tat = bpf_map_lookup_elem(&ref_gcra, &key);
	if (!tat) {
		t = now + ref_emission_ns;
		bpf_map_update_elem(&ref_gcra, &key, &t, BPF_ANY);
		return XDP_PASS;
	}
	old = *tat;
	t = old > now ? old : now;
	if (t - now > ref_tolerance_ns)
		return XDP_DROP;
	__sync_val_compare_and_swap(tat, old, t + ref_emission_ns);
	return XDP_PASS;
}
