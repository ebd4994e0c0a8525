// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_blocklist.c - what the blocklist check costs a SYN in the XDP
 * program (BPF_PROG_TEST_RUN, nothing attached; scripts/bench-blocklist.sh
 * runs it).  Every source may open 1 connection an hour and has spent it
 * on another flow, so each repeated SYN runs the policy lookup, the
 * sanctions check, the blocklist check and is refused by the rate peek;
 * a listed source is refused at the blocklist check instead.  Rows:
 *   no set loaded         the slot of mx_blocklist is empty
 *   unlisted, far         100,000 /24s loaded; a source outside their range
 *   unlisted, near        a source whose /8 the set covers in part
 *   listed                a source the set lists (refused_blocklist)
 * Median of 9 runs of 200,000 repeats (the kernel's ns per run).  Timing
 * is printed, never checked; the rows' paths are (by the stats).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include "harness.h"
#include "blocklist.h"

#define REPEAT 200000
#define RUNS 9

static int run(const char *src, uint16_t sport, uint32_t repeat, uint32_t *ns)
{
	struct pkt_spec s = { .src = src, .sport = sport, .dport = 25 };
	uint8_t in[512], out[512];
	size_t n = pkt_build(&s, in, sizeof(in));
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = in, .data_size_in = (uint32_t)n,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);

	if (bpf_prog_test_run_opts(H.prog_fd, &t)) {
		fprintf(stderr, "bench_blocklist: test run: %s\n", strerror(errno));
		return -1;
	}
	*ns = t.duration;
	return (int)t.retval;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* One row; -1 when a run failed or the SYN was not refused. */
static int row(const char *name, const char *src, uint64_t want_blocklist)
{
	uint32_t ns[RUNS];
	struct mx_stats before, after;
	int i;

	run(src, 999, 1, &ns[0]); /* spends the source's budget on another flow */
	before = h_stats();
	for (i = 0; i < RUNS; i++)
		if (run(src, 4242, REPEAT, &ns[i]) != XDP_DROP)
			return -1;
	after = h_stats();
	if (after.refused_blocklist - before.refused_blocklist != want_blocklist * RUNS * REPEAT)
		return -1;
	qsort(ns, RUNS, sizeof(ns[0]), cmp_u32);
	printf("  %-16s %4u ns per SYN\n", name, ns[RUNS / 2]);
	return 0;
}

int main(void)
{
	struct mx_bl_list l = {};
	struct mx_bl_change ch;
	uint32_t i;
	int rc = 1;

	mx_log_set_level(MX_LOG_WARN);
	if (h_setup(MX_PROGS_XDP))
		return 1;
	h_rule("v4default", 0, 1, 3600 * NS, 0);
	h_rule("v6default", 0, 1, 3600 * NS, 0);
	if (h_apply())
		goto out;
	printf("blocklist check per SYN (BPF_PROG_TEST_RUN, median of %d x %d):\n", RUNS, REPEAT);
	if (row("no set loaded", "198.18.1.1", 0))
		goto out;
	/* 100,000 /24s: 10.0.0.0/24 .. 11.134.159.0/24 */
	l.p = calloc(100000, sizeof(*l.p));
	if (!l.p)
		goto out;
	for (i = 0; i < 100000; i++) {
		char s[32];

		snprintf(s, sizeof(s), "%u.%u.%u.0/24", 10 + i / 65536, (i / 256) % 256, i % 256);
		h_prefix(&l.p[i], s);
	}
	l.n = l.cap = 100000;
	ch = (struct mx_bl_change){ .name = "bench", .list = &l };
	if (mx_bl_apply(&H.m, H.pin_dir, &ch, 1))
		goto out;
	if (row("unlisted, far", "198.18.1.2", 0) || row("unlisted, near", "11.140.0.1", 0) ||
	    row("listed", "10.1.2.3", 1))
		goto out;
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench_blocklist: a row failed or did not take its path\n");
	mx_bl_list_free(&l);
	h_teardown();
	return rc;
}
