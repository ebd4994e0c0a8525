// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * maps.c - the pinned maps as the controller and the daemon use them
 * (struct mx_maps, loader.h): open and close, the live config and clock,
 * a compiled policy swapped in as a new generation, stats rows, pending
 * counts, the features record.  No skeleton: loader.c loads programs.
 */
#include "loader.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"

#define MX_MAP_NAME(name) "mx_" #name,
const char *const mx_map_names[MX_N_MAPS] = { MX_MAPS(MX_MAP_NAME) };
#undef MX_MAP_NAME

uint32_t mx_features_read(const struct mx_maps *m)
{
	struct mx_ctl ctl = {};
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(m->ctl, &zero, &ctl))
		return 0;
	return ctl.features;
}

int mx_features_record(const struct mx_maps *m, uint32_t bits)
{
	struct mx_ctl ctl = {};
	uint32_t zero = 0;

	bpf_map_lookup_elem(m->ctl, &zero, &ctl);
	ctl.features = bits;
	return bpf_map_update_elem(m->ctl, &zero, &ctl, BPF_ANY);
}

void mx_maps_init(struct mx_maps *m)
{
	int *f = (int *)m;
	size_t i;

	for (i = 0; i < sizeof(*m) / sizeof(int); i++)
		f[i] = -1;
}

int mx_maps_open(const char *pin_dir, struct mx_maps *m)
{
	const char *const *names = mx_map_names;
	int *f = (int *)m;
	char path[PATH_MAX];
	size_t i;

	mx_maps_init(m);
	for (i = 0; i < MX_N_MAPS; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]);
		f[i] = bpf_obj_get(path);
		if (f[i] < 0) {
			int e = errno;

			mx_maps_close(m);
			if (e == ENOENT)
				mx_err("mxlimit is not loaded (no %s; run `mxlimit load`)", path);
			else
				mx_err("cannot open %s: %s", path, strerror(e));
			return -1;
		}
	}
	return 0;
}

void mx_maps_close(struct mx_maps *m)
{
	int *f = (int *)m;
	size_t i;

	for (i = 0; i < sizeof(*m) / sizeof(int); i++) {
		if (f[i] >= 0)
			close(f[i]);
		f[i] = -1;
	}
}

uint64_t mx_mono_now(const struct mx_maps *m)
{
	struct timespec ts;
	struct mx_ctl ctl = {};
	uint32_t zero = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (m && m->ctl >= 0)
		bpf_map_lookup_elem(m->ctl, &zero, &ctl);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec + ctl.clock_offset_ns;
}

int mx_config_read(const struct mx_maps *m, struct mx_config *cfg, uint32_t *gen)
{
	struct mx_ctl ctl;
	uint32_t zero = 0, idx;

	if (bpf_map_lookup_elem(m->ctl, &zero, &ctl))
		return -1;
	idx = ctl.gen & (MX_GENERATIONS - 1);
	if (gen)
		*gen = ctl.gen;
	return bpf_map_lookup_elem(m->config, &idx, cfg);
}

/* Delete every policy entry whose generation is not `keep`. */
static int policy_prune(int fd, uint32_t keep)
{
	struct mx_policy_key k, next, *prev = NULL;
	struct mx_policy_key dead[256];
	size_t n;
	int rounds;

	/* Collect, then delete: deleting while walking an LPM trie restarts
	 * the walk.  Bounded by the map size over the batch. */
	for (rounds = 0; rounds < 1 << 16; rounds++) {
		n = 0;
		prev = NULL;
		while (n < sizeof(dead) / sizeof(dead[0]) &&
		       bpf_map_get_next_key(fd, prev, &next) == 0) {
			if (next.gen != keep)
				dead[n++] = next;
			k = next;
			prev = &k;
		}
		if (!n)
			return 0;
		while (n)
			bpf_map_delete_elem(fd, &dead[--n]);
	}
	return -1;
}

int mx_policy_apply(const struct mx_maps *m, const struct mx_compiled *c)
{
	struct mx_config cfg = c->config;
	struct mx_ctl ctl = {};
	uint32_t zero = 0, next, idx;
	size_t i;

	bpf_map_lookup_elem(m->ctl, &zero, &ctl); /* absent on first load: zeros */
	next = ctl.gen + 1;
	idx = next & (MX_GENERATIONS - 1);
	policy_prune(m->policy, ctl.gen); /* leftovers of an interrupted apply */
	policy_prune(m->gw_servers, ctl.gen);

	for (i = 0; i < c->n_rules; i++) {
		struct mx_policy_key k = { .prefixlen = 32 + c->rules[i].prefix.plen, .gen = next };

		memcpy(k.addr, c->rules[i].prefix.addr, sizeof(k.addr));
		if (bpf_map_update_elem(m->policy, &k, &c->rules[i].rule, BPF_ANY)) {
			mx_err("cannot install policy rule %zu of %zu: %s%s", i + 1, c->n_rules,
			       strerror(errno), errno == ENOSPC || errno == E2BIG ?
			       " (raise max_rules in [main] and `unload --all`)" : "");
			goto undo;
		}
	}
	for (i = 0; i < c->n_servers; i++) {
		struct mx_policy_key k = { .prefixlen = 32 + c->servers[i].plen, .gen = next };
		uint32_t one = 1;

		memcpy(k.addr, c->servers[i].addr, sizeof(k.addr));
		if (bpf_map_update_elem(m->gw_servers, &k, &one, BPF_ANY)) {
			mx_err("cannot install server prefix %zu of %zu: %s", i + 1, c->n_servers,
			       strerror(errno));
			goto undo;
		}
	}
	cfg.gen = next;
	if (bpf_map_update_elem(m->config, &idx, &cfg, BPF_ANY)) {
		mx_err("cannot install the configuration: %s", strerror(errno));
		goto undo;
	}
	ctl.gen = next; /* the flip: one aligned word the datapath reads */
	if (bpf_map_update_elem(m->ctl, &zero, &ctl, BPF_ANY)) {
		mx_err("cannot switch to the new policy: %s", strerror(errno));
		policy_prune(m->policy, ctl.gen - 1);
		return -1;
	}
	/* the fast path's ports, after the flip (see struct mx_ports) */
	{
		struct mx_ports p;

		memcpy(p.bits, cfg.ports, sizeof(p.bits));
		if (bpf_map_update_elem(m->ports, &zero, &p, BPF_ANY))
			mx_warn("cannot update the fast path's ports: %s", strerror(errno));
	}
	policy_prune(m->policy, next);
	policy_prune(m->gw_servers, next);
	return 0;
undo:
	policy_prune(m->policy, ctl.gen);
	policy_prune(m->gw_servers, ctl.gen);
	return -1;
}

uint64_t mx_gw_flows_active(const struct mx_maps *m)
{
	struct mx_flow_key k, next, *prev = NULL;
	uint64_t n = 0, guard = 0;
	struct mx_gw_flow f;

	while (bpf_map_get_next_key(m->gw_flows, prev, &next) == 0 && guard++ < (1u << 24)) {
		if (bpf_map_lookup_elem(m->gw_flows, &next, &f) == 0 && f.state == MX_GW_EST)
			n++;
		k = next;
		prev = &k;
	}
	return n;
}

int mx_stats_read(const struct mx_maps *m, int row, struct mx_stats *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct mx_stats *per;
	uint32_t r, lo = row < 0 ? 0 : (uint32_t)row, hi = row < 0 ? MX_MAX_IFACES : lo + 1;
	int i;

	memset(out, 0, sizeof(*out));
	if (ncpu <= 0)
		return -1;
	per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return -1;
	for (r = lo; r < hi; r++) {
		if (bpf_map_lookup_elem(m->stats, &r, per))
			continue;
		for (i = 0; i < ncpu; i++) {
			const uint64_t *src = (const uint64_t *)&per[i];
			uint64_t *dst = (uint64_t *)out;
			size_t f;

			for (f = 0; f < sizeof(*out) / sizeof(uint64_t); f++)
				dst[f] += src[f];
		}
	}
	free(per);
	return 0;
}

/* The word, mapped (the map is BPF_F_MMAPABLE global data): the atomics
 * the protocol needs are not available through bpf_map_update_elem. */
static uint64_t *sanctseq_map(const struct mx_maps *m, size_t *len)
{
	void *p;

	*len = (size_t)sysconf(_SC_PAGESIZE);
	if (m->sanctseq < 0)
		return NULL;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, m->sanctseq, 0);
	if (p == MAP_FAILED) {
		mx_warn("cannot map the sanctions word: %s (every SYN looks sanctions up)",
			strerror(errno));
		return NULL;
	}
	return p;
}

void mx_sanctions_raise(const struct mx_maps *m)
{
	size_t len;
	uint64_t *w = sanctseq_map(m, &len);

	if (!w)
		return;
	__atomic_fetch_add(w, 1, __ATOMIC_SEQ_CST);
	munmap(w, len);
}

void mx_sanctions_settle(const struct mx_maps *m)
{
	struct mx_sanction_key k;
	size_t len;
	uint64_t *w = sanctseq_map(m, &len), seen;
	bool empty;

	if (!w)
		return;
	seen = __atomic_load_n(w, __ATOMIC_SEQ_CST);
	empty = bpf_map_get_next_key(m->sanctions, NULL, &k) != 0 && errno == ENOENT;
	if (empty && seen)
		__atomic_compare_exchange_n(w, &seen, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	else if (!empty && !seen)
		__atomic_fetch_add(w, 1, __ATOMIC_SEQ_CST);
	munmap(w, len);
}

/* k's two sketch cells, as the datapath finds them (mx_types.h). */
int mx_sketch_cells(const struct mx_maps *m, const struct mx_key *k, struct mx_cell *c0,
		    struct mx_cell *c1)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), w, i0, i1;

	if (bpf_obj_get_info_by_fd(m->sketch, &info, &len))
		return -1;
	w = info.max_entries / MX_SKETCH_ROWS;
	if (!w)
		return -1;
	i0 = mx_key_hash(k, 0) % w;
	i1 = w + mx_key_hash(k, 1) % w;
	if (bpf_map_lookup_elem(m->sketch, &i0, c0) || bpf_map_lookup_elem(m->sketch, &i1, c1))
		return -1;
	return 0;
}

/* k's SYNs in flight: the sketch's estimate (pending SYNs are counted
 * there for every source; never below the truth, above it only where k's
 * cells are shared in every row). */
uint32_t mx_pending_count(const struct mx_maps *m, const struct mx_key *k, uint64_t now,
			  uint64_t slot_ns)
{
	struct mx_cell c0, c1;

	if (!slot_ns || mx_sketch_cells(m, k, &c0, &c1))
		return 0;
	return mx_sketch_pending(&c0, &c1, (uint32_t)(now / slot_ns));
}

uint64_t mx_map_count(int fd, uint64_t max)
{
	/* 64 bytes hold every key of mx_maps.h (the flow key, 40, is the
	 * largest): get_next_key writes a key of the map's own size */
	unsigned char k[64], next[64];
	void *prev = NULL;
	uint64_t n = 0;

	while ((!max || n < max) && bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(k, next, sizeof(k));
		prev = k;
		n++;
	}
	return n;
}
