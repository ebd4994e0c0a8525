// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench.c - datapath micro-benchmark (`make bench`).
 *
 * The XDP program through BPF_PROG_TEST_RUN, next to a bare XDP_PASS
 * program (bare.bpf.o) and the minimal reference limiter (ref.bpf.c: parse,
 * one LRU lookup, a GCRA bucket; issue 15) run on the same packet in the
 * same round, with 1, 10k and 1M tracked sources pre-filled in mx_conc,
 * mx_src (rate bucket + pending counts) and mx_pending (and the reference's LRU).  Shape of the kernel's benchs/bench_xdp_lb.c and Katran's
 * tests: a scenario matrix, median and p99 over several runs, and a check
 * that 2N iterations take about twice N (printed, never a failure: timing
 * on a shared machine is not a test).
 *
 * Two ways to run a packet, because BPF_PROG_TEST_RUN's repeat sends the
 * same bytes again and again:
 *   hot     one packet, repeated for about 5 ms per run (at most -n
 *           times); ns/packet = the kernel's timing of the loop / repeat
 *           (whole ns).  Not the syscall's wall time: with repeat > 1 the
 *           kernel also swaps the program into the XDP dispatcher and out
 *           again per call (bpf_prog_change_xdp), a fixed cost of
 *           milliseconds that the 2N-vs-N check shows.  Everything the
 *           packet touches stays in cache.
 *   1-shot  one packet per test run (repeat 1), a different one each time;
 *           ns = the kernel's timing of that single run, which includes the
 *           timer's own overhead and a cold start after the syscall: the
 *           bare program pays the same, so read the +ns column.  This is
 *           the only way to see a new source each time, and the way to see
 *           cache misses across a large table.
 * Ratios and +ns are medians over triplets (bare, reference and mxlimit on
 * the same packet one after the other), so a machine that drifts between
 * runs moves every side of a triplet.  p99 is nearest-rank: over 21 hot runs it is
 * the slowest run.
 *
 * Every row is checked against the per-CPU stats (admitted, retransmit,
 * refused_block, rate_new, ...): a row that did not take the path it names
 * is reported and makes the exit status 1.
 *
 * What a "SYN from a known source" measures: with the default config the
 * second and later SYNs of a repeat are retransmits (the pending record of
 * the first is live) and return early; that path is measured on its own.
 * For the full admit path the bench sets pending_slot_ns to 1 ns, so the
 * pending record left by the previous iteration is always stale and every
 * iteration does the whole work of an admission: pending lookup, policy
 * and sanction LPM lookups, GCRA peek, concurrency reserve, GCRA spend,
 * pending record insert.  The limits are set but never reached
 * (concurrency 1000, rate 10^9/s), so both checks run; one more row has
 * both limits 0 (unlimited), which skips the rate bucket.
 *
 * Nothing is attached to any interface.  The maps are pinned in a pin dir
 * of our own only while the skeleton loads, then unpinned at once (our
 * fds keep them), so a killed bench leaves nothing behind.
 */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#include "../bpf/harness.h"
#include "bare.skel.h"
#include "ref.skel.h"

#define XDP_DROP_ 1
#define XDP_PASS_ 2

/* Tracked-source counts of the matrix. */
static const uint32_t SOURCE_STEPS[] = { 1, 10000, 1000000 };
#define N_STEPS (sizeof(SOURCE_STEPS) / sizeof(SOURCE_STEPS[0]))
/* Map room beyond the largest step: 1-shot new sources are inserted in
 * batches of NEW_BATCH and deleted after each batch; LRU maps keep some
 * free nodes per CPU.  Headroom keeps every insert clear of eviction. */
#define MAP_HEADROOM 65536
#define NEW_BATCH 1000
/* Prefill batch (bpf_map_update_batch). */
#define FILL_CHUNK 65536

/* Addresses: the measured source and the blocked one in 198.18.0.0/15,
 * new sources from 198.18.2.0 up; filler sources are ::ffff:10.0.0.0/8
 * keys (only map keys and test-run packets: nothing is sent anywhere). */
#define SRC_KNOWN   0xc6120001u /* 198.18.0.1 */
#define SRC_BLOCKED 0xc6120002u /* 198.18.0.2 */
#define SRC_NEW0    0xc6120200u /* 198.18.2.0 */
#define SRC_FILL0   0x0a000000u /* 10.0.0.0 */
#define DST_ADDR    0xc6120101u /* 198.18.1.1 */
#define SPORT       40000
#define ETH_IP_SRC_OFF (14 + 12) /* IPv4 source in an untagged frame */

struct opts {
	int runs;          /* hot runs per scenario and program */
	uint32_t repeat;   /* most packets per hot run */
	uint32_t shots;    /* 1-shot packets per scenario */
	uint32_t max_src;  /* largest step run (memory) */
	int only;          /* -1, or the one scenario to run (for perf) */
};

static struct opts O = { .runs = 21, .repeat = 200000, .shots = 20000, .max_src = 1000000,
			.only = -1 };

/* Other per-source maps the datapath has beside mx_conc and mx_src (a
 * hash keyed by struct mx_key), found in the pin dir at load: the bench
 * fills them with zeroed values so that "tracked" means every per-source
 * map holds the source, whatever maps the datapath grows. */
#define MAX_EXTRA 8
static struct extra_map {
	int fd;
	uint32_t value_size;
	char name[BPF_OBJ_NAME_LEN];
} EXTRA[MAX_EXTRA];
static int n_extra;
static struct bare *bare_skel;
static int bare_fd = -1;
/* The minimal reference limiter (ref.bpf.c), run on every packet too. */
static struct ref *ref_skel;
static int ref_fd = -1, ref_map = -1;
static volatile sig_atomic_t pins_live;
static int path_errors;

/* ---- cleanup: pins gone on every exit path ---- */

static void unpin(void)
{
	if (pins_live) {
		pins_live = 0;
		mx_unload_all(H.pin_dir);
	}
}

static void on_signal(int sig)
{
	unpin();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_cleanup(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV };
	size_t i;

	atexit(unpin);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_signal);
}

/* ---- setup ---- */

static bool same_map(int a, int b)
{
	struct bpf_map_info ia = {}, ib = {};
	uint32_t la = sizeof(ia), lb = sizeof(ib);

	return bpf_obj_get_info_by_fd(a, &ia, &la) == 0 && bpf_obj_get_info_by_fd(b, &ib, &lb) == 0 &&
	       ia.id == ib.id;
}

static void find_extra_maps(void)
{
	DIR *d = opendir(H.pin_dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) && n_extra < MAX_EXTRA) {
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info);
		char path[PATH_MAX];
		int fd;

		if (strncmp(de->d_name, "mx_", 3) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", H.pin_dir, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.key_size != sizeof(struct mx_key) ||
		    (info.type != BPF_MAP_TYPE_HASH && info.type != BPF_MAP_TYPE_LRU_HASH) ||
		    same_map(fd, H.m.conc) || same_map(fd, H.m.src)) {
			close(fd);
			continue;
		}
		EXTRA[n_extra].fd = fd;
		EXTRA[n_extra].value_size = info.value_size;
		snprintf(EXTRA[n_extra].name, sizeof(EXTRA[n_extra].name), "%s", info.name);
		n_extra++;
	}
	closedir(d);
}

static int setup(void)
{
	uint32_t big = O.max_src + MAP_HEADROOM;
	struct mx_map_sizes sz = { .sources = big, .connections = 4096, .rate_sources = big,
				   .pending = big, .sanctions = 1024, .rules = 256 };

	if (getuid() != 0) {
		fprintf(stderr, "bench: needs root (BPF_PROG_TEST_RUN, bpffs)\n");
		return -1;
	}
	snprintf(H.pin_dir, sizeof(H.pin_dir), "/sys/fs/bpf/mxlimit-test-bench-%d", getpid());
	pins_live = 1;
	if (mx_pin_dir_prepare(H.pin_dir))
		return -1;
	H.skel = mx_skel_load(H.pin_dir, &sz, MX_PROGS_XDP, 1);
	if (!H.skel)
		return -1;
	mx_skel_maps(H.skel, &H.m);
	H.prog_fd = mx_skel_xdp_fd(H.skel);
	find_extra_maps();
	unpin(); /* our fds hold the maps from here on */

	bare_skel = bare__open_and_load();
	if (!bare_skel) {
		fprintf(stderr, "bench: cannot load bare.bpf.o: %s\n", strerror(errno));
		return -1;
	}
	bare_fd = bpf_program__fd(bare_skel->progs.xdp_pass);

	ref_skel = ref__open();
	if (!ref_skel || bpf_map__set_max_entries(ref_skel->maps.ref_gcra, big) ||
	    ref__load(ref_skel)) {
		fprintf(stderr, "bench: cannot load ref.bpf.o: %s\n", strerror(errno));
		return -1;
	}
	ref_skel->data->ref_plen = 32; /* distinct keys, as mxlimit's per-/32 sources */
	ref_fd = bpf_program__fd(ref_skel->progs.ref_xdp);
	ref_map = bpf_map__fd(ref_skel->maps.ref_gcra);
	h_reset(NULL);
	return 0;
}

/* The policies the scenarios run under.  Every IPv4 source is counted per
 * /32.  LIMITS: concurrency 1000 and rate 10^9/s, checked on every SYN and
 * never reached (one SYN spends 1 ns of a 1 s burst tolerance, and takes
 * far longer than 1 ns).  UNLIMITED: both 0, haraka's allowlist value,
 * which skips the rate bucket entirely. */
enum policy_kind {
	POL_LIVE,       /* LIMITS, 15-minute pending slots: a repeated SYN is a retransmit */
	POL_ADMIT,      /* LIMITS, 1 ns pending slots: every SYN is a full admission */
	POL_ADMIT_FREE, /* UNLIMITED, 1 ns pending slots */
};

static int policy(enum policy_kind kind)
{
	uint32_t conc = kind == POL_ADMIT_FREE ? 0 : 1000;
	uint32_t rate = kind == POL_ADMIT_FREE ? 0 : 1000000000u;

	h_config_default();
	if (kind == POL_LIVE) {
		H.cfg.pending_timeout_ns = 3600 * NS;
		H.cfg.pending_slot_ns = 3600 * NS / MX_PEND_SLOTS;
	} else { /* no pending record is ever live again (top of the file) */
		H.cfg.pending_timeout_ns = MX_PEND_SLOTS;
		H.cfg.pending_slot_ns = 1;
	}
	h_rule("v4default", conc, rate, NS, 0);
	h_rule("v6default", conc, rate, NS, 0);
	/* the reference: the same GCRA as the LIMITS rate (it has no
	 * "unlimited": it keeps its bucket in every row) */
	mx_gcra_params(NS, 1000000000u, &ref_skel->data->ref_emission_ns,
		       &ref_skel->data->ref_tolerance_ns);
	return h_apply();
}

/* ---- tracked sources ---- */

static uint32_t source_addr(uint32_t idx)
{
	return idx == 0 ? SRC_KNOWN : SRC_FILL0 + idx;
}

static void key_of(struct mx_key *k, uint32_t addr_host)
{
	memset(k, 0, sizeof(*k));
	k->addr[2] = htonl(0xffff);
	k->addr[3] = htonl(addr_host);
	k->plen = 128;
}

static void flow_of(struct mx_flow_key *f, uint32_t addr_host)
{
	memset(f, 0, sizeof(*f));
	f->saddr[2] = f->daddr[2] = htonl(0xffff);
	f->saddr[3] = htonl(addr_host);
	f->daddr[3] = htonl(DST_ADDR);
	f->sport = htons(SPORT);
	f->dport = htons(25);
}

/* Tracked sources [from, to): a counter with one established connection,
 * a rate bucket, one pending record (of an old epoch) each. */
static int fill_sources(uint32_t from, uint32_t to)
{
	static struct mx_key keys[FILL_CHUNK];
	static struct mx_flow_key flows[FILL_CHUNK];
	static struct mx_conc concs[FILL_CHUNK];
	static struct mx_src rates[FILL_CHUNK];
	static struct mx_pending pends[FILL_CHUNK];
	static uint8_t zeros[FILL_CHUNK * 256]; /* values of the extra maps */
	static uint32_t rkeys[FILL_CHUNK];
	static uint64_t rtats[FILL_CHUNK];
	int e;
	uint64_t now = mx_mono_now(&H.m);
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	while (from < to) {
		uint32_t n = to - from < FILL_CHUNK ? to - from : FILL_CHUNK, i, cnt;

		for (i = 0; i < n; i++) {
			uint32_t a = source_addr(from + i);

			key_of(&keys[i], a);
			flow_of(&flows[i], a);
			memset(&concs[i], 0, sizeof(concs[i]));
			concs[i].established = 1;
			concs[i].rule = 1;
			concs[i].last_ns = now;
			rates[i].tat_ns = now;
			pends[i].key = keys[i];
			pends[i].epoch = 0;
			pends[i].rule = 1;
			rkeys[i] = htonl(a);
			rtats[i] = now;
		}
		cnt = n;
		if (bpf_map_update_batch(ref_map, rkeys, rtats, &cnt, &bo) || cnt != n)
			goto fail;
		cnt = n;
		if (bpf_map_update_batch(H.m.conc, keys, concs, &cnt, &bo) || cnt != n)
			goto fail;
		cnt = n;
		if (bpf_map_update_batch(H.m.src, keys, rates, &cnt, &bo) || cnt != n)
			goto fail;
		cnt = n;
		if (bpf_map_update_batch(H.m.pending, flows, pends, &cnt, &bo) || cnt != n)
			goto fail;
		for (e = 0; e < n_extra; e++) {
			cnt = n;
			if (EXTRA[e].value_size > sizeof(zeros) / FILL_CHUNK ||
			    bpf_map_update_batch(EXTRA[e].fd, keys, zeros, &cnt, &bo) || cnt != n)
				goto fail;
		}
		from += n;
	}
	return 0;
fail:
	fprintf(stderr, "bench: cannot pre-fill tracked sources at %u: %s\n", from, strerror(errno));
	return -1;
}

/* ---- packets ---- */

static size_t pkt_make(uint8_t *buf, size_t cap, uint32_t src_host, uint16_t dport, uint8_t flags,
		       uint8_t proto)
{
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
	uint32_t s = htonl(src_host), d = htonl(DST_ADDR);
	struct pkt_spec ps = { .src = src, .dst = dst, .sport = SPORT, .dport = dport,
			       .flags = flags, .proto = proto };

	inet_ntop(AF_INET, &s, src, sizeof(src));
	inet_ntop(AF_INET, &d, dst, sizeof(dst));
	return pkt_build(&ps, buf, cap);
}

static void pkt_set_src(uint8_t *buf, uint32_t src_host)
{
	uint32_t s = htonl(src_host);

	memcpy(buf + ETH_IP_SRC_OFF, &s, 4);
}

/* ---- running ---- */

static double mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One test run: *wall_ns the syscall's wall time, *k_ns the kernel's
 * per-run figure.  Returns the verdict, -1 on error. */
static int test_run(int fd, const uint8_t *pkt, size_t n, uint32_t repeat, double *wall_ns,
		    uint32_t *k_ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = (uint32_t)n,
		    .repeat = repeat);
	double t0 = mono_ns();

	if (bpf_prog_test_run_opts(fd, &t)) {
		fprintf(stderr, "bench: test run: %s\n", strerror(errno));
		return -1;
	}
	if (wall_ns)
		*wall_ns = mono_ns() - t0;
	if (k_ns)
		*k_ns = t.duration;
	return (int)t.retval;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v.  Nearest-rank percentile. */
static double pct(double *v, size_t n, double p)
{
	size_t r;

	qsort(v, n, sizeof(*v), cmp_double);
	r = (size_t)ceil(p / 100.0 * (double)n);
	if (r < 1)
		r = 1;
	return v[r - 1];
}

struct result {
	double mx_med, mx_p99, bare_med, bare_p99, ref_med, ref_p99;
	double ratio;     /* median over triplets of mx / bare (same packet, same moment) */
	double delta;     /* median over triplets of mx - bare */
	double ref_ratio; /* ref / bare */
	double ref_delta; /* ref - bare */
	double mx_ref;    /* mx / ref */
};

static double ratio_of(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

/* Fills r from samples taken in triplets (bare, ref, mx on one packet,
 * one after the other); sorts the arrays. */
static int summarize(double *mx, double *bare, double *ref, size_t n, struct result *r)
{
	double *q = calloc(n, sizeof(double));
	size_t i;

	if (!q)
		return -1;
#define MEDIAN_OF(expr, out) do { \
		for (i = 0; i < n; i++) \
			q[i] = (expr); \
		(out) = pct(q, n, 50); \
	} while (0)
	MEDIAN_OF(ratio_of(mx[i], bare[i]), r->ratio);
	MEDIAN_OF(mx[i] - bare[i], r->delta);
	MEDIAN_OF(ratio_of(ref[i], bare[i]), r->ref_ratio);
	MEDIAN_OF(ref[i] - bare[i], r->ref_delta);
	MEDIAN_OF(ratio_of(mx[i], ref[i]), r->mx_ref);
#undef MEDIAN_OF
	r->mx_med = pct(mx, n, 50);
	r->mx_p99 = pct(mx, n, 99);
	r->bare_med = pct(bare, n, 50);
	r->bare_p99 = pct(bare, n, 99);
	r->ref_med = pct(ref, n, 50);
	r->ref_p99 = pct(ref, n, 99);
	free(q);
	return 0;
}

/* ---- scenarios ---- */

enum check {
	CHK_NOT_SUBJECT, /* passed before the port check: packets only */
	CHK_SUBJECT_NOT_SYN,
	CHK_ADMIT,       /* every packet admitted */
	CHK_RETRANSMIT,  /* all but the first of a pending flow */
	CHK_BLOCKED,
	CHK_NEW,         /* admitted, each a new rate bucket */
	CHK_KNOWN,       /* admitted, no new bucket */
};

enum mode { HOT, ONESHOT_NEW, ONESHOT_KNOWN };

struct scenario {
	const char *name;
	enum mode mode;
	uint32_t src;       /* hot: packet source */
	uint16_t dport;
	uint8_t flags, proto;
	enum policy_kind pol;
	int verdict;
	enum check check;
};

static const struct scenario SCEN[] = {
	{ "non-mail: TCP ACK to :443",
	  HOT, SRC_KNOWN, 443, TH_ACK, 6, POL_ADMIT, XDP_PASS_, CHK_NOT_SUBJECT },
	{ "non-mail: UDP to :53",
	  HOT, SRC_KNOWN, 53, 0, 17, POL_ADMIT, XDP_PASS_, CHK_NOT_SUBJECT },
	{ "ACK of an established flow :25",
	  HOT, SRC_KNOWN, 25, TH_ACK, 6, POL_ADMIT, XDP_PASS_, CHK_SUBJECT_NOT_SYN },
	{ "SYN known source, full admit",
	  HOT, SRC_KNOWN, 25, TH_SYN, 6, POL_ADMIT, XDP_PASS_, CHK_ADMIT },
	{ "SYN known src, admit, limits 0",
	  HOT, SRC_KNOWN, 25, TH_SYN, 6, POL_ADMIT_FREE, XDP_PASS_, CHK_ADMIT },
	{ "SYN retransmit (pending live)",
	  HOT, SRC_KNOWN, 25, TH_SYN, 6, POL_LIVE, XDP_PASS_, CHK_RETRANSMIT },
	{ "SYN blocked source (drop)",
	  HOT, SRC_BLOCKED, 25, TH_SYN, 6, POL_ADMIT, XDP_DROP_, CHK_BLOCKED },
	{ "SYN new source, 1-shot",
	  ONESHOT_NEW, 0, 25, TH_SYN, 6, POL_ADMIT, XDP_PASS_, CHK_NEW },
	{ "SYN known source, 1-shot random",
	  ONESHOT_KNOWN, 0, 25, TH_SYN, 6, POL_ADMIT, XDP_PASS_, CHK_KNOWN },
};
#define N_SCEN (sizeof(SCEN) / sizeof(SCEN[0]))

static struct result RES[N_SCEN][N_STEPS];
static int RES_SET[N_SCEN][N_STEPS];

/* The stats must show the path the scenario claims to measure. */
static void check_path(const struct scenario *sc, const struct mx_stats *s, uint64_t pkts,
		       uint32_t runs, const char *step)
{
	int ok;

	switch (sc->check) {
	case CHK_NOT_SUBJECT:
		ok = s->packets == pkts && s->subject == 0;
		break;
	case CHK_SUBJECT_NOT_SYN:
		ok = s->subject == pkts && s->syn == 0;
		break;
	case CHK_ADMIT:
		ok = s->admitted == pkts && s->syn_retransmit == 0;
		break;
	case CHK_RETRANSMIT:
		ok = s->syn == pkts && s->syn_retransmit + runs >= pkts;
		break;
	case CHK_BLOCKED:
		ok = s->refused_block == pkts;
		break;
	case CHK_NEW:
		ok = s->admitted == pkts && s->rate_new == pkts && s->conc_map_full == 0;
		break;
	case CHK_KNOWN:
		ok = s->admitted == pkts && s->rate_new == 0 && s->conc_map_full == 0;
		break;
	default:
		ok = 0;
	}
	if (ok)
		return;
	path_errors++;
	fprintf(stderr, "bench: PATH CHECK FAILED: %s at %s sources: packets %llu subject %llu "
		"syn %llu admitted %llu retransmit %llu blocked %llu rate_new %llu conc_full %llu "
		"(expected %llu packets)\n", sc->name, step,
		(unsigned long long)s->packets, (unsigned long long)s->subject,
		(unsigned long long)s->syn, (unsigned long long)s->admitted,
		(unsigned long long)s->syn_retransmit, (unsigned long long)s->refused_block,
		(unsigned long long)s->rate_new, (unsigned long long)s->conc_map_full,
		(unsigned long long)pkts);
}

/* Packets per hot run for a program taking ns_per_pkt: about
 * HOT_BUDGET_NS of work, at most O.repeat, at least HOT_MIN_REPEAT (whole
 * ns per packet stay fine-grained enough at those lengths). */
#define HOT_BUDGET_NS 5000000.0
#define HOT_MIN_REPEAT 2000

static uint32_t hot_repeat(uint32_t ns_per_pkt)
{
	double r = HOT_BUDGET_NS / (ns_per_pkt ? ns_per_pkt : 1);

	if (r > O.repeat)
		return O.repeat;
	return r < HOT_MIN_REPEAT ? HOT_MIN_REPEAT : (uint32_t)r;
}

/* *pkts: packets sent to mxlimit in the measured runs. */
static int run_hot(const struct scenario *sc, struct result *r, uint64_t *pkts)
{
	uint8_t pkt[128];
	size_t n = pkt_make(pkt, sizeof(pkt), sc->src, sc->dport, sc->flags, sc->proto);
	double *mx = calloc((size_t)O.runs, sizeof(double));
	double *bare = calloc((size_t)O.runs, sizeof(double));
	double *ref = calloc((size_t)O.runs, sizeof(double));
	uint32_t warm = 0, repeat;
	int i, rc = -1;

	if (!mx || !bare || !ref)
		goto out;
	/* warm up all three, outside the stats window; size the runs */
	if (test_run(H.prog_fd, pkt, n, HOT_MIN_REPEAT, NULL, &warm) < 0 ||
	    test_run(bare_fd, pkt, n, HOT_MIN_REPEAT, NULL, NULL) < 0 ||
	    test_run(ref_fd, pkt, n, HOT_MIN_REPEAT, NULL, NULL) < 0)
		goto out;
	repeat = hot_repeat(warm);
	*pkts = (uint64_t)O.runs * repeat;
	h_zero_stats();
	for (i = 0; i < O.runs; i++) { /* interleaved: same packet, same moment */
		uint32_t kns;
		int v;

		if (test_run(bare_fd, pkt, n, repeat, NULL, &kns) != XDP_PASS_)
			goto out;
		bare[i] = kns;
		v = test_run(ref_fd, pkt, n, repeat, NULL, &kns);
		if (v != sc->verdict) {
			fprintf(stderr, "bench: %s: reference verdict %d, expected %d\n", sc->name, v,
				sc->verdict);
			path_errors++;
			goto out;
		}
		ref[i] = kns;
		v = test_run(H.prog_fd, pkt, n, repeat, NULL, &kns);
		if (v != sc->verdict) {
			fprintf(stderr, "bench: %s: verdict %d, expected %d\n", sc->name, v, sc->verdict);
			path_errors++;
			goto out;
		}
		mx[i] = kns;
	}
	rc = summarize(mx, bare, ref, (size_t)O.runs, r);
out:
	free(mx);
	free(bare);
	free(ref);
	return rc;
}

static void forget_source(uint32_t a)
{
	struct mx_key k;
	struct mx_flow_key f;

	key_of(&k, a);
	flow_of(&f, a);
	bpf_map_delete_elem(H.m.conc, &k);
	bpf_map_delete_elem(H.m.src, &k);
	bpf_map_delete_elem(H.m.pending, &f);
	for (int e = 0; e < n_extra; e++)
		bpf_map_delete_elem(EXTRA[e].fd, &k);
	a = htonl(a);
	bpf_map_delete_elem(ref_map, &a);
}

/* xorshift: random tracked sources without libc's rand() state. */
static uint32_t rnd(void)
{
	static uint32_t x = 2463534242u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

static int run_oneshot(const struct scenario *sc, uint32_t tracked, struct result *r)
{
	uint8_t pkt[128];
	size_t n = pkt_make(pkt, sizeof(pkt), SRC_KNOWN, sc->dport, sc->flags, sc->proto);
	double *mx = calloc(O.shots, sizeof(double));
	double *bare = calloc(O.shots, sizeof(double));
	double *ref = calloc(O.shots, sizeof(double));
	uint32_t i, j, kns;
	int rc = -1;

	if (!mx || !bare || !ref)
		goto out;
	h_zero_stats();
	for (i = 0; i < O.shots; i += NEW_BATCH) {
		uint32_t end = i + NEW_BATCH < O.shots ? i + NEW_BATCH : O.shots;

		for (j = i; j < end; j++) {
			uint32_t a = sc->mode == ONESHOT_NEW ? SRC_NEW0 + j : source_addr(rnd() % tracked);
			int v;

			pkt_set_src(pkt, a);
			if (test_run(bare_fd, pkt, n, 1, NULL, &kns) != XDP_PASS_)
				goto out;
			bare[j] = kns;
			v = test_run(ref_fd, pkt, n, 1, NULL, &kns);
			if (v != sc->verdict) {
				fprintf(stderr, "bench: %s: reference verdict %d\n", sc->name, v);
				path_errors++;
				goto out;
			}
			ref[j] = kns;
			v = test_run(H.prog_fd, pkt, n, 1, NULL, &kns);
			if (v != sc->verdict) {
				fprintf(stderr, "bench: %s: verdict %d\n", sc->name, v);
				path_errors++;
				goto out;
			}
			mx[j] = kns;
		}
		if (sc->mode == ONESHOT_NEW) /* back to `tracked` sources */
			for (j = i; j < end; j++)
				forget_source(SRC_NEW0 + j);
	}
	rc = summarize(mx, bare, ref, O.shots, r);
out:
	free(mx);
	free(bare);
	free(ref);
	return rc;
}

static const char *step_name(uint32_t n)
{
	static char buf[16];

	if (n >= 1000000 && n % 1000000 == 0)
		snprintf(buf, sizeof(buf), "%uM", n / 1000000);
	else if (n >= 1000 && n % 1000 == 0)
		snprintf(buf, sizeof(buf), "%uk", n / 1000);
	else
		snprintf(buf, sizeof(buf), "%u", n);
	return buf;
}

static void print_header(void)
{
	printf("%-33s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s\n", "scenario", "sources",
	       "mx med", "mx p99", "ref med", "bare", "mx/bare", "ref/bare", "mx/ref", "mx +ns",
	       "ref +ns");
}

static void print_row(const char *name, uint32_t step, const struct result *r)
{
	printf("%-33s %7s %7.0f %7.0f %7.0f %7.0f %6.2fx %7.2fx %6.2fx %+7.0f %+7.0f\n", name,
	       step_name(step), r->mx_med, r->mx_p99, r->ref_med, r->bare_med, r->ratio,
	       r->ref_ratio, r->mx_ref, r->delta, r->ref_delta);
	fflush(stdout);
}

static int run_step(size_t si)
{
	uint32_t step = SOURCE_STEPS[si];
	char stepbuf[16];
	size_t i;

	snprintf(stepbuf, sizeof(stepbuf), "%s", step_name(step));
	for (i = 0; i < N_SCEN; i++) {
		const struct scenario *sc = &SCEN[i];
		struct mx_stats st;
		uint64_t pkts;
		int rc;

		if (O.only >= 0 && (size_t)O.only != i)
			continue;
		if (policy(sc->pol))
			return -1;
		/* The block exists only while its row runs: the other rows
		 * measure a datapath with no sanctions loaded, which skips the
		 * sanctions lookup (BENCH_SANCTIONS=1 keeps it for every row). */
		if (sc->check == CHK_BLOCKED || getenv("BENCH_SANCTIONS"))
			h_sanction("198.18.0.2", mx_mono_now(&H.m) + 3600 * NS, 0, 0);
		if (sc->mode == HOT) {
			rc = run_hot(sc, &RES[i][si], &pkts);
		} else {
			rc = run_oneshot(sc, step, &RES[i][si]);
			pkts = O.shots;
		}
		if (rc)
			return -1;
		if (sc->check == CHK_BLOCKED && !getenv("BENCH_SANCTIONS")) {
			h_clear_map(H.m.sanctions, sizeof(struct mx_sanction_key));
			mx_sanctions_settle(&H.m);
		}
		st = h_stats();
		check_path(sc, &st, pkts, (uint32_t)O.runs, stepbuf);
		RES_SET[i][si] = 1;
		print_row(sc->name, step, &RES[i][si]);
	}
	return 0;
}

/* ---- 2N vs N ---- */

#define LIN_RUNS 11

/* N and 2N runs interleaved; the medians over pairs of the ratio of the
 * kernel's totals (ns/packet x packets) and of the syscalls' wall times. */
static void linearity(void)
{
	struct { const char *name; int mx; enum policy_kind pol; uint16_t port; uint8_t flags; } c[] = {
		{ "bare, SYN :25", 0, POL_ADMIT, 25, TH_SYN },
		{ "mxlimit, non-mail TCP :443", 1, POL_ADMIT, 443, TH_ACK },
		{ "mxlimit, SYN known, full admit", 1, POL_ADMIT, 25, TH_SYN },
	};
	uint8_t pkt[128];
	size_t i;

	printf("\n2N vs N (%d interleaved pairs of N and 2N packets, median of the ratios; "
	       "expect about 2.00 from the kernel's timing; the wall time of the syscall also "
	       "carries a fixed cost per call, which is why the rows above use the kernel's "
	       "figure):\n", LIN_RUNS);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		double kq[LIN_RUNS], wq[LIN_RUNS], k1s[LIN_RUNS];
		int fd = c[i].mx ? H.prog_fd : bare_fd;
		uint32_t warm = 0, rep;
		size_t n;
		int j;

		if (policy(c[i].pol))
			return;
		n = pkt_make(pkt, sizeof(pkt), SRC_KNOWN, c[i].port, c[i].flags, 6);
		if (test_run(fd, pkt, n, HOT_MIN_REPEAT, NULL, &warm) < 0)
			return;
		rep = hot_repeat(warm);
		for (j = 0; j < LIN_RUNS; j++) {
			double w1 = 0, w2 = 0;
			uint32_t k1 = 0, k2 = 0;

			if (test_run(fd, pkt, n, rep, &w1, &k1) < 0 ||
			    test_run(fd, pkt, n, 2 * rep, &w2, &k2) < 0)
				return;
			kq[j] = k1 ? 2.0 * k2 / k1 : NAN;
			wq[j] = w2 / w1;
			k1s[j] = (double)k1 * rep / 1e6;
		}
		printf("  %-31s N = %6u takes %5.2f ms (kernel); 2N/N: kernel %.2f, wall %.2f\n",
		       c[i].name, rep, pct(k1s, LIN_RUNS, 50), pct(kq, LIN_RUNS, 50),
		       pct(wq, LIN_RUNS, 50));
	}
}

/* ---- memory ---- */

static void fdinfo(int fd, uint64_t *memlock, uint32_t *max_entries)
{
	char path[64], line[256];
	FILE *f;

	*memlock = 0;
	*max_entries = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "memlock: %llu", &v) == 1)
			*memlock = v;
		else if (sscanf(line, "max_entries: %llu", &v) == 1)
			*max_entries = (uint32_t)v;
	}
	fclose(f);
}

static const char *map_kind(const struct bpf_map_info *i)
{
	switch (i->type) {
	case BPF_MAP_TYPE_HASH:
		return i->map_flags & BPF_F_NO_PREALLOC ? "HASH" : "HASH, prealloc";
	case BPF_MAP_TYPE_LRU_HASH: return "LRU_HASH";
	case BPF_MAP_TYPE_LPM_TRIE: return "LPM_TRIE";
	case BPF_MAP_TYPE_ARRAY: return "ARRAY";
	case BPF_MAP_TYPE_PERCPU_ARRAY: return "PERCPU_ARRAY";
	default: return "other";
	}
}

static void memory(void)
{
	int fds[12 + MAX_EXTRA], n = 0, i;
	uint64_t total = 0;

	fds[n++] = H.m.conc;
	fds[n++] = H.m.src;
	fds[n++] = H.m.sketch;
	fds[n++] = H.m.pending;
	for (i = 0; i < n_extra; i++)
		fds[n++] = EXTRA[i].fd;
	fds[n++] = H.m.conns;
	fds[n++] = H.m.sanctions;
	fds[n++] = H.m.policy;
	fds[n++] = H.m.stats;
	fds[n++] = H.m.config;
	printf("\nMap memory with room for %u sources (the kernel's memlock figure, "
	       "/proc/self/fdinfo; preallocated and LRU maps pay for max_entries at creation, "
	       "whatever the fill):\n", O.max_src + MAP_HEADROOM);
	printf("  %-34s %11s %10s %9s\n", "map", "max_entries", "MiB", "B/entry");
	for (i = 0; i < n; i++) {
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info), me;
		char label[64];
		uint64_t ml;

		if (bpf_obj_get_info_by_fd(fds[i], &info, &len))
			continue;
		fdinfo(fds[i], &ml, &me);
		total += ml;
		snprintf(label, sizeof(label), "%s (%s)", info.name, map_kind(&info));
		printf("  %-34s %11u %10.1f %9.0f\n", label, me, (double)ml / (1 << 20),
		       me ? (double)ml / me : 0.0);
	}
	printf("  %-34s %11s %10.1f\n", "total", "", (double)total / (1 << 20));
}

/* ---- summary ---- */

/* Scenario indices the targets read (SCEN above). */
enum { SC_NONMAIL_TCP = 0, SC_FULL_ADMIT = 3, SC_BLOCKED = 6, SC_NEW = 7, SC_RANDOM = 8 };

static const char *met(int ok)
{
	return ok ? "met" : "MISSED";
}

/* The targets of issue 15, every ratio from this run. */
static void targets(void)
{
	int top = -1;
	size_t s;

	for (s = 0; s < N_STEPS; s++)
		if (SOURCE_STEPS[s] <= O.max_src && RES_SET[SC_NONMAIL_TCP][s])
			top = (int)s;
	printf("\nTargets (issue 15; ratios from this run):\n");
	for (s = 0; s < N_STEPS; s++) {
		const struct result *r = &RES[SC_NONMAIL_TCP][s];

		if (!RES_SET[SC_NONMAIL_TCP][s])
			continue;
		printf("  non-mail TCP at %-4s sources: mx +%.0f ns over bare, reference +%.0f ns "
		       "(target: <= reference + 1 ns): %s\n", step_name(SOURCE_STEPS[s]), r->delta,
		       r->ref_delta, met(r->delta <= r->ref_delta + 1));
	}
	if (top < 0)
		return;
	if (RES_SET[SC_NEW][top]) {
		const struct result *r = &RES[SC_NEW][top];

		printf("  SYN from a new source (1-shot) at %s: %.2fx the reference's new-key SYN "
		       "(+%.0f vs +%.0f ns over bare; target <= 1.5x): %s\n",
		       step_name(SOURCE_STEPS[top]), r->mx_ref, r->delta, r->ref_delta,
		       met(r->mx_ref <= 1.5));
	}
	if (RES_SET[SC_RANDOM][top]) {
		const struct result *r = &RES[SC_RANDOM][top];

		printf("  SYN from a random known source (1-shot) at %s: %.2fx the reference's "
		       "random-key SYN (target <= 1.5x): %s\n", step_name(SOURCE_STEPS[top]),
		       r->mx_ref, met(r->mx_ref <= 1.5));
	}
	if (RES_SET[SC_FULL_ADMIT][top] && RES_SET[SC_FULL_ADMIT][0]) {
		const struct result *r = &RES[SC_FULL_ADMIT][top];
		double q = r->mx_med / RES[SC_FULL_ADMIT][0].mx_med;

		printf("  SYN known source, full admit at %s: %.2fx the same at 1 source (target "
		       "<= 1.5x): %s; %.2fx the reference's hot admit (target <= 2x): %s\n",
		       step_name(SOURCE_STEPS[top]), q, met(q <= 1.5), r->mx_ref,
		       met(r->mx_ref <= 2.0));
	}
	if (RES_SET[SC_BLOCKED][top]) {
		const struct result *r = &RES[SC_BLOCKED][top];

		printf("  SYN refused, hot source at %s (no target): %.2fx the reference's "
		       "over-rate refusal\n", step_name(SOURCE_STEPS[top]), r->mx_ref);
	}
	if (top == 0)
		return;
	printf("Each SYN row at %s sources against the same at 1 (earlier target <= 1.5x):\n",
	       step_name(SOURCE_STEPS[top]));
	for (s = 0; s < N_SCEN; s++) {
		double q;

		if (SCEN[s].flags != TH_SYN || !RES_SET[s][0] || !RES_SET[s][top])
			continue;
		q = RES[s][top].mx_med / RES[s][0].mx_med;
		printf("  %-33s %.2fx  [p99 %.2fx]\n", SCEN[s].name, q,
		       RES[s][top].mx_p99 / RES[s][0].mx_p99);
	}
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: bench [-r RUNS] [-n REPEAT] [-k SHOTS] [-s MAX_SOURCES] [-x SCENARIO]\n"
		"  -r RUNS         hot runs per scenario and program (default 21)\n"
		"  -n REPEAT       most packets per hot run (default 200000; runs take about 5 ms)\n"
		"  -k SHOTS        1-shot packets per scenario (default 20000)\n"
		"  -s MAX_SOURCES  largest tracked-source step to run (default 1000000)\n"
		"  -x SCENARIO     run only this scenario, no summary (to profile it):\n");
	for (i = 0; i < N_SCEN; i++)
		fprintf(f, "                  %zu  %s\n", i, SCEN[i].name);
}

static int parse_args(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "r:n:k:s:x:h")) != -1) {
		long v = optarg ? strtol(optarg, NULL, 10) : 0;

		switch (c) {
		case 'r': O.runs = (int)v; break;
		case 'n': O.repeat = (uint32_t)v; break;
		case 'k': O.shots = (uint32_t)v; break;
		case 's': O.max_src = (uint32_t)v; break;
		case 'x': O.only = (int)v; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (O.runs < 3 || O.repeat < 1000 || O.shots < 100 || O.shots > 100000 || O.max_src < 1 ||
	    O.only >= (int)N_SCEN) {
		fprintf(stderr, "bench: runs >= 3, repeat >= 1000, 100 <= shots <= 100000\n");
		return -1;
	}
	return 0;
}

/* How big the program under test is: its cost on a non-mail packet is
 * mostly instructions, and the verifier's budget bounds what can be added. */
static void prog_size(void)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(H.prog_fd, &info, &len))
		return;
	printf("mx_xdp: %u BPF instructions, %u bytes JIT-compiled; the verifier processed %u "
	       "instructions to load it (its limit is 1000000)\n\n", info.xlated_prog_len / 8,
	       info.jited_prog_len, info.verified_insns);
}

static void pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

int main(int argc, char **argv)
{
	double t0 = mono_ns();
	uint32_t filled = 0;
	double fill_s = 0;
	size_t s;
	int rc = 1;

	mx_log_set_prog("bench");
	mx_log_set_level(MX_LOG_WARN);
	if (parse_args(argc, argv))
		return 2;
	install_cleanup();
	pin_cpu();
	if (setup())
		goto out;
	{ /* the reference refuses the blocked source: far over its rate */
		uint32_t k = htonl(SRC_BLOCKED);
		uint64_t tat = UINT64_MAX / 4;

		if (bpf_map_update_elem(ref_map, &k, &tat, BPF_ANY))
			goto out;
	}

	printf("mxlimit datapath micro-benchmark: BPF_PROG_TEST_RUN, ns per packet\n"
	       "hot rows: %d runs of about %.0f ms (at most %u packets), ns = the kernel's figure "
	       "per packet (whole ns), median and p99 over runs\n"
	       "1-shot rows: %u packets, one per test run, ns = the kernel's timing of that run "
	       "(timer overhead and cold start included, as for bare), median and p99 over "
	       "packets\n"
	       "bare = bare.bpf.o (XDP_PASS) and ref = ref.bpf.o (the minimal reference "
	       "limiter: parse, one LRU lookup, GCRA) on the same packet just before mxlimit; "
	       "ratios and +ns = medians over those triplets\n\n",
	       O.runs, HOT_BUDGET_NS / 1e6, O.repeat, O.shots);
	prog_size();
	print_header();
	for (s = 0; s < N_STEPS; s++) {
		uint32_t step = SOURCE_STEPS[s];

		if (step > O.max_src)
			break;
		double f0 = mono_ns();

		if (fill_sources(filled, step))
			goto out;
		fill_s += (mono_ns() - f0) / 1e9;
		filled = step;
		{
			uint32_t have = (uint32_t)mx_map_count(H.m.conc, 0);

			if (have != step)
				fprintf(stderr, "bench: mx_conc holds %u entries, expected %u\n",
					have, step);
		}
		if (run_step(s))
			goto out;
	}
	if (O.only >= 0) {
		rc = path_errors ? 1 : 0;
		goto out;
	}
	linearity();
	memory();
	targets();
	printf("\nbench: %.0f s (%.1f s of it filling maps); %s\n", (mono_ns() - t0) / 1e9, fill_s,
	       path_errors ? "PATH CHECKS FAILED (the rows above do not measure what they say)" :
			     "every row's stats matched the path it claims to measure");
	rc = path_errors ? 1 : 0;
out:
	mx_maps_close(&H.m);
	if (H.skel)
		mx_skel_destroy(H.skel);
	if (bare_skel)
		bare__destroy(bare_skel);
	if (ref_skel)
		ref__destroy(ref_skel);
	unpin();
	return rc;
}
