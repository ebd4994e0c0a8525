/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * harness.h - a loaded mxlimit in a pin dir of its own
 * (/sys/fs/bpf/mxlimit-test-PID-N), a policy written by hand, and helpers to
 * run packets through the XDP program and read the maps.  Time moves only
 * through mx_ctl.clock_offset_ns, never by sleeping.
 */
#ifndef MX_TEST_HARNESS_H
#define MX_TEST_HARNESS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "loader.h"
#include "log.h"
#include "pkt.h"

#define NS 1000000000ULL

struct harness {
	char pin_dir[128];
	struct mxlimit *skel;
	struct mx_maps m;
	int prog_fd;
	struct mx_config cfg;
	struct mx_compiled_rule rules[32];
	size_t n_rules;
};

static struct harness H;

static inline void h_prefix(mx_prefix *p, const char *s)
{
	const char *why = NULL;

	if (strcmp(s, "v4default") == 0) {
		memset(p, 0, sizeof(*p));
		p->addr[2] = htonl(0xffff);
		p->plen = 96;
		return;
	}
	if (strcmp(s, "v6default") == 0) {
		memset(p, 0, sizeof(*p));
		return;
	}
	if (mx_prefix_parse(s, false, p, &why)) {
		fprintf(stderr, "harness: bad prefix %s: %s\n", s, why ? why : "?");
		abort();
	}
}

/* Default config: ports 25 and 587, per-source /32 and /64, drop. */
static inline void h_config_default(void)
{
	memset(&H.cfg, 0, sizeof(H.cfg));
	mx_port_set(H.cfg.ports, 25);
	mx_port_set(H.cfg.ports, 587);
	H.cfg.action = MX_ACTION_DROP;
	H.cfg.v4_plen = 128;
	H.cfg.v6_plen = 64;
	H.cfg.pending_timeout_ns = 4 * NS;
	H.cfg.pending_slot_ns = 1 * NS;
	H.n_rules = 0;
}

/* Add an entry.  conc_plen/rate_plen 0 = per source (default aggregation
 * of the family), else shared at the entry's own length. */
static inline void h_rule(const char *prefix, uint32_t conc, uint32_t rate, uint64_t period_ns,
			  int shared)
{
	struct mx_compiled_rule *r = &H.rules[H.n_rules++];
	bool v4;

	memset(r, 0, sizeof(*r));
	h_prefix(&r->prefix, prefix);
	v4 = r->prefix.plen >= 96 && r->prefix.addr[0] == 0 && r->prefix.addr[1] == 0 &&
	     r->prefix.addr[2] == htonl(0xffff);
	r->rule.conc_rule = (uint32_t)H.n_rules;
	r->rule.rate_rule = (uint32_t)H.n_rules;
	r->rule.conc_limit = conc;
	r->rule.rate_limit = rate;
	r->rule.flags = MX_RULE_CONC_SET | MX_RULE_RATE_SET;
	if (shared) {
		r->rule.flags |= MX_RULE_CONC_SHARED | MX_RULE_RATE_SHARED;
		r->rule.conc_plen = r->rule.rate_plen = r->prefix.plen;
	} else {
		r->rule.conc_plen = r->rule.rate_plen = v4 ? H.cfg.v4_plen : H.cfg.v6_plen;
	}
	if (rate) {
		r->rule.rate_period_ns = period_ns;
		mx_gcra_params(period_ns, rate, &r->rule.rate_emission_ns,
			       &r->rule.rate_tolerance_ns);
	}
}

/* Give the last rule a wide level: plen (shared space), limits. */
static inline void h_wide(uint32_t plen, uint32_t conc, uint32_t rate, uint64_t period_ns)
{
	struct mx_rule *r = &H.rules[H.n_rules - 1].rule;

	r->wide_plen = plen;
	r->wide_conc_limit = conc;
	r->wide_rate_limit = rate;
	if (rate) {
		r->wide_rate_period_ns = period_ns;
		mx_gcra_params(period_ns, rate, &r->wide_rate_emission_ns,
			       &r->wide_rate_tolerance_ns);
	}
}

static inline size_t h_map_entries(int fd, size_t key_size)
{
	uint8_t k[64], n[64];
	void *prev = NULL;
	size_t cnt = 0;

	while (bpf_map_get_next_key(fd, prev, n) == 0) {
		memcpy(k, n, key_size);
		prev = k;
		cnt++;
	}
	return cnt;
}

static inline int h_apply(void)
{
	struct mx_compiled c = { .config = H.cfg, .rules = H.rules, .n_rules = H.n_rules };

	return mx_policy_apply(&H.m, &c);
}

static inline void h_clear_map(int fd, size_t key_size)
{
	uint8_t key[64], next[64];

	while (bpf_map_get_next_key(fd, NULL, next) == 0) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			break;
	}
}

/* Every cell of the sketch back to zero (an array: nothing to delete). */
static inline void h_zero_sketch(void)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), n, i, *keys;
	struct mx_cell *zero;
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	if (bpf_obj_get_info_by_fd(H.m.sketch, &info, &len))
		return;
	n = info.max_entries;
	keys = calloc(n, sizeof(*keys));
	zero = calloc(n, sizeof(*zero));
	if (keys && zero) {
		for (i = 0; i < n; i++)
			keys[i] = i;
		bpf_map_update_batch(H.m.sketch, keys, zero, &n, &bo);
	}
	free(keys);
	free(zero);
}

/* Index of k's cell in row `row` of the sketch, as the datapath finds it. */
static inline uint32_t h_sketch_index(const struct mx_key *k, uint32_t row)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), w;

	if (bpf_obj_get_info_by_fd(H.m.sketch, &info, &len))
		abort();
	w = info.max_entries / MX_SKETCH_ROWS;
	return row * w + mx_key_hash(k, row) % w;
}

static inline void h_zero_stats(void)
{
	int ncpu = libbpf_num_possible_cpus();
	struct mx_stats *z = calloc((size_t)ncpu, sizeof(*z));
	uint32_t r;

	for (r = 0; r < MX_MAX_IFACES; r++)
		bpf_map_update_elem(H.m.stats, &r, z, BPF_ANY);
	free(z);
}

static inline void h_set_clock(uint64_t offset_ns)
{
	struct mx_ctl ctl;
	uint32_t zero = 0;

	bpf_map_lookup_elem(H.m.ctl, &zero, &ctl);
	ctl.clock_offset_ns = offset_ns;
	bpf_map_update_elem(H.m.ctl, &zero, &ctl, BPF_ANY);
}

/* Fresh state between tests: counters, buckets, records, sanctions,
 * stats emptied; default config; clock offset 0. */
static inline int h_reset(void **state)
{
	(void)state;
	h_clear_map(H.m.conc, sizeof(struct mx_key));
	h_clear_map(H.m.src, sizeof(struct mx_key));
	h_zero_sketch();
	h_clear_map(H.m.pending, sizeof(struct mx_flow_key));
	h_clear_map(H.m.conns, sizeof(uint64_t));
	{
		struct mx_sweep z = {};
		uint32_t zero = 0;

		bpf_map_update_elem(H.m.sweep, &zero, &z, BPF_ANY);
	}
	h_clear_map(H.m.sanctions, sizeof(struct mx_sanction_key));
	h_zero_stats();
	h_set_clock(0);
	h_config_default();
	return 0;
}

static inline int h_setup(unsigned progs)
{
	static int seq;
	/* rate_sources also sizes the sketch: 65536 cells a row keep the
	 * few thousand sources a test makes clear of collisions (the tests of
	 * the sketch make their own) */
	struct mx_map_sizes sz = { 4096, 4096, 65536, 4096, 1024, 256 };

	if (getuid() != 0) {
		fprintf(stderr, "harness: needs root\n");
		return -1;
	}
	snprintf(H.pin_dir, sizeof(H.pin_dir), "/sys/fs/bpf/mxlimit-test-%d-%d", getpid(), seq++);
	if (mx_pin_dir_prepare(H.pin_dir))
		return -1;
	H.skel = mx_skel_load(H.pin_dir, &sz, progs, 1);
	if (!H.skel) {
		mx_unload_all(H.pin_dir); /* leave no pin dir behind */
		return -1;
	}
	mx_skel_maps(H.skel, &H.m);
	H.prog_fd = (progs & MX_PROGS_XDP) ? mx_skel_xdp_fd(H.skel) : -1;
	h_reset(NULL);
	return 0;
}

static inline void h_teardown(void)
{
	mx_maps_close(&H.m);
	if (H.skel)
		mx_skel_destroy(H.skel);
	H.skel = NULL;
	mx_unload_all(H.pin_dir);
}

/* cmocka group fixtures for the tests that only need the XDP program */
static inline int h_group_setup_xdp(void **state)
{
	(void)state;
	mx_log_set_level(MX_LOG_WARN);
	return h_setup(MX_PROGS_XDP);
}

static inline int h_group_teardown(void **state)
{
	(void)state;
	h_teardown();
	return 0;
}

struct run_out {
	int ret;
	uint8_t data[512];
	uint32_t len;
};

static inline int h_run(const struct pkt_spec *s, struct run_out *o)
{
	uint8_t in[512];
	struct run_out tmp;
	size_t n = pkt_build(s, in, sizeof(in));
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = in, .data_size_in = (uint32_t)n);

	if (!o)
		o = &tmp;
	t.data_out = o->data;
	t.data_size_out = sizeof(o->data);
	if (bpf_prog_test_run_opts(H.prog_fd, &t)) {
		fprintf(stderr, "test_run: %s\n", strerror(errno));
		return -1;
	}
	o->ret = (int)t.retval;
	o->len = t.data_size_out;
	return o->ret;
}

/* Raw bytes (for truncation tests). */
static inline int h_run_raw(const uint8_t *in, size_t n)
{
	uint8_t out[512];
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = in, .data_size_in = (uint32_t)n,
		    .data_out = out, .data_size_out = sizeof(out));

	if (bpf_prog_test_run_opts(H.prog_fd, &t))
		return -1;
	return (int)t.retval;
}

static inline struct mx_stats h_stats(void)
{
	struct mx_stats s;

	mx_stats_read(&H.m, -1, &s);
	return s;
}

static inline void h_key(struct mx_key *k, const char *addr, uint32_t plen)
{
	mx_prefix q;

	h_prefix(&q, addr);
	q.plen = plen;
	mx_prefix_mask(&q);
	*k = q;
}

/* The established counter of an address masked to plen (shared space). */
static inline int h_conc(const char *addr, uint32_t plen, struct mx_conc *out)
{
	struct mx_key k;

	h_key(&k, addr, plen);
	return bpf_map_lookup_elem(H.m.conc, &k, out);
}

/* Count of established + live pending for addr/plen, now. */
static inline uint32_t h_count(const char *addr, uint32_t plen)
{
	struct mx_conc c = {};
	struct mx_key k;

	h_key(&k, addr, plen);
	bpf_map_lookup_elem(H.m.conc, &k, &c);
	return c.established + mx_pending_count(&H.m, &k, mx_mono_now(&H.m), H.cfg.pending_slot_ns);
}

static inline void h_sanction(const char *prefix, uint64_t block_until, uint64_t pen_until,
			      uint32_t pen_limit)
{
	struct mx_sanction_key k;
	struct mx_sanction v = {};
	mx_prefix p;

	h_prefix(&p, prefix);
	k.prefixlen = p.plen;
	memcpy(k.addr, p.addr, sizeof(k.addr));
	v.block_until_ns = block_until;
	v.penalty_until_ns = pen_until;
	v.penalty_limit = pen_limit;
	bpf_map_update_elem(H.m.sanctions, &k, &v, BPF_ANY);
	mx_sanctions_raise(&H.m); /* as sanction.c does after each write */
}

#endif
