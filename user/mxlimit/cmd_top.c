// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cmd_top.c - `mxlimit top`: counted sources by active connections, pending
 * handshakes and recent connection rate, once or (--watch) refreshed in
 * place like top(1), with the SYN refusals per second by reason.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cli.h"
#include "json.h"
#include "log.h"

struct top_row {
	struct mx_key key;
	uint32_t active, pending;
	uint64_t rate_used; /* arrivals still within the GCRA window */
};

/* A zeroed row at the end of *rows, grown as needed; NULL when out of memory. */
static struct top_row *top_push(struct top_row **rows, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct top_row *nr = realloc(*rows, nc * sizeof(**rows));

		if (!nr)
			return NULL;
		*rows = nr;
		*cap = nc;
	}
	memset(&(*rows)[*n], 0, sizeof(**rows));
	return &(*rows)[(*n)++];
}

static int top_cmp(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	uint64_t sx = (uint64_t)x->active + x->pending, sy = (uint64_t)y->active + y->pending;

	if (sx != sy)
		return sx < sy ? 1 : -1;
	if (x->rate_used != y->rate_used)
		return x->rate_used < y->rate_used ? 1 : -1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* How many arrivals the GCRA state still holds: ceil((tat - now) / I). */
uint64_t mx_rate_used(const struct mx_maps *m, const struct mx_key *k, uint64_t now)
{
	struct mx_policy_key pk = { .prefixlen = 32 + 128 };
	struct mx_cell c0, c1;
	struct mx_src rs;
	struct mx_rule r;

	/* the exact bucket after the source's first handshake, else the
	 * sketch's estimate */
	if (bpf_map_lookup_elem(m->src, k, &rs)) {
		if (mx_sketch_cells(m, k, &c0, &c1))
			return 0;
		rs.tat_ns = mx_sketch_tat(&c0, &c1);
	}
	if (rs.tat_ns <= now)
		return 0;
	mx_config_read(m, &(struct mx_config){ 0 }, &pk.gen);
	memcpy(pk.addr, k->addr, sizeof(pk.addr));
	if (bpf_map_lookup_elem(m->policy, &pk, &r) || !r.rate_emission_ns)
		return 1;
	return (rs.tat_ns - now + r.rate_emission_ns - 1) / r.rate_emission_ns;
}

/* Every counted source, sorted; the caller frees *rows.  Returns the count. */
static size_t top_collect(const struct mx_maps *m, struct top_row **rows)
{
	struct mx_key k, next, *prev = NULL;
	struct mx_config cfg = {};
	size_t n = 0, cap = 0;
	uint64_t now;

	*rows = NULL;
	mx_config_read(m, &cfg, NULL);
	now = mx_mono_now(m);
	while (bpf_map_get_next_key(m->conc, prev, &next) == 0) {
		struct top_row *row;
		struct mx_conc c;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(m->conc, &next, &c))
			continue;
		if (!(row = top_push(rows, &n, &cap)))
			break;
		row->key = next;
		row->active = c.established;
		row->pending = mx_pending_count(m, &next, now, cfg.pending_slot_ns);
		row->rate_used = mx_rate_used(m, &next, now);
	}
	/* sources with SYNs in flight but no established connection yet */
	prev = NULL;
	while (bpf_map_get_next_key(m->src, prev, &next) == 0) {
		struct top_row *row;
		struct mx_conc c;
		uint32_t pend;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(m->conc, &next, &c) == 0)
			continue; /* listed above */
		pend = mx_pending_count(m, &next, now, cfg.pending_slot_ns);
		if (!pend)
			continue;
		if (!(row = top_push(rows, &n, &cap)))
			break;
		row->key = next;
		row->pending = pend;
		row->rate_used = mx_rate_used(m, &next, now);
	}
	if (n)
		qsort(*rows, n, sizeof(**rows), top_cmp);
	return n;
}

static void print_rows(FILE *f, const struct top_row *rows, size_t n)
{
	fprintf(f, "%-44s %8s %8s %10s\n", "SOURCE", "ACTIVE", "PENDING", "RATE_USED");
	for (size_t i = 0; i < n; i++) {
		char buf[MX_PREFIX_STRLEN];

		mx_prefix_format(&rows[i].key, buf, sizeof(buf));
		fprintf(f, "%-44s %8u %8u %10llu\n", buf, rows[i].active, rows[i].pending,
			(unsigned long long)rows[i].rate_used);
	}
}

static void print_json(const struct top_row *rows, size_t n)
{
	struct jw w;

	jw_init(&w, stdout);
	jw_obj(&w);
	jw_karr(&w, "sources");
	for (size_t i = 0; i < n; i++) {
		char buf[MX_PREFIX_STRLEN];

		mx_prefix_format(&rows[i].key, buf, sizeof(buf));
		jw_obj(&w);
		jw_kstr(&w, "source", buf);
		jw_ku64(&w, "active", rows[i].active);
		jw_ku64(&w, "pending", rows[i].pending);
		jw_ku64(&w, "rate_used", rows[i].rate_used);
		jw_end(&w);
	}
	jw_end(&w);
	jw_end(&w);
}

/* ---- --watch ---- */

static volatile sig_atomic_t watch_stop;
static struct termios watch_saved;
static bool watch_raw;

static void on_stop(int sig)
{
	(void)sig;
	watch_stop = 1;
}

static void term_restore(void)
{
	if (watch_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &watch_saved);
	watch_raw = false;
}

/* Keys arrive one at a time, unechoed (a terminal only). */
static void term_raw(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &watch_saved) < 0)
		return;
	t = watch_saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
		watch_raw = true;
}

/* The refusal counters, by reason (mx_stats.h), in one table. */
static const struct {
	const char *name;
	size_t off;
} refusals[] = {
	{ "block", offsetof(struct mx_stats, refused_block) },
	{ "blocklist", offsetof(struct mx_stats, refused_blocklist) },
	{ "penalty", offsetof(struct mx_stats, refused_penalty) },
	{ "rate", offsetof(struct mx_stats, refused_rate) },
	{ "concurrency", offsetof(struct mx_stats, refused_conc) },
	{ "fragment", offsetof(struct mx_stats, refused_frag) },
	{ "ipv6-exthdr", offsetof(struct mx_stats, refused_exthdr) },
};
#define N_REFUSALS (sizeof(refusals) / sizeof(refusals[0]))

static uint64_t stat_at(const struct mx_stats *s, size_t off)
{
	return *(const uint64_t *)((const char *)s + off);
}

static void print_refusals(FILE *f, const struct mx_stats *a, const struct mx_stats *b,
			   double secs)
{
	size_t order[N_REFUSALS];
	double rate[N_REFUSALS];

	for (size_t i = 0; i < N_REFUSALS; i++) {
		uint64_t d = stat_at(b, refusals[i].off) - stat_at(a, refusals[i].off);

		rate[i] = secs > 0 ? (double)d / secs : 0;
		order[i] = i;
	}
	for (size_t i = 1; i < N_REFUSALS; i++) /* by rate, highest first */
		for (size_t j = i; j > 0 && rate[order[j]] > rate[order[j - 1]]; j--) {
			size_t t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	fprintf(f, "refused SYNs/s:");
	for (size_t i = 0; i < N_REFUSALS; i++)
		fprintf(f, " %s %.1f%s", refusals[order[i]].name, rate[order[i]],
			i + 1 < N_REFUSALS ? "," : "");
	fprintf(f, "\nadmitted SYNs/s: %.1f\n\n",
		secs > 0 ? (double)(b->admitted - a->admitted) / secs : 0);
}

static double mono_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait up to ms for a key; true when it is time to quit. */
static bool wait_key(int ms, bool *stdin_open)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	char c;

	if (!*stdin_open) {
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		return false;
	}
	if (poll(&pfd, 1, ms) <= 0)
		return false;
	if (read(STDIN_FILENO, &c, 1) != 1) {
		*stdin_open = false; /* EOF (no terminal): refresh until a signal */
		return false;
	}
	return c == 'q' || c == 'Q';
}

static int top_watch(const struct mx_maps *m, size_t limit, double interval)
{
	struct sigaction sa = { .sa_handler = on_stop };
	struct mx_stats prev, cur;
	bool stdin_open = true;
	double t_prev = mono_secs(), t;
	int rc = MX_EXIT_OK;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	term_raw();
	if (mx_stats_read(m, -1, &prev)) {
		term_restore();
		return MX_EXIT_FAIL;
	}
	memset(&cur, 0, sizeof(cur));
	while (!watch_stop) {
		struct top_row *rows;
		size_t n = top_collect(m, &rows);
		char when[32];
		time_t now = time(NULL);

		if (mx_stats_read(m, -1, &cur)) {
			free(rows);
			mx_err("the pinned maps are gone (mxlimit unloaded?)");
			rc = MX_EXIT_FAIL;
			break;
		}
		t = mono_secs();
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
		/* home, clear: redrawn in place */
		printf("\033[H\033[2Jmxlimit top - %s, every %.1fs, %zu sources counted, q to quit\n\n",
		       when, interval, n);
		print_refusals(stdout, &prev, &cur, t - t_prev);
		print_rows(stdout, rows, n < limit ? n : limit);
		fflush(stdout);
		free(rows);
		prev = cur;
		t_prev = t;
		if (wait_key((int)(interval * 1000), &stdin_open))
			break;
	}
	term_restore();
	printf("\n");
	return rc;
}

static const char top_help[] =
	"Usage: mxlimit top [-n N] [--json] [--watch [--interval SECS]]\n\n"
	"Counted sources (prefixes) by active connections, pending handshakes and\n"
	"recent connection rate (arrivals still inside the rate window).\n\n"
	"  -n, --count N       rows to show (default 20)\n"
	"  -w, --watch         refresh in place, with SYN refusals per second by\n"
	"                      reason; q (or Ctrl-C) quits\n"
	"  -d, --interval SECS seconds between refreshes (default 2; 0.2 to 3600),\n"
	"                      like top(1)'s -d\n";

int cmd_top(int argc, char **argv, const struct mx_global *g)
{
	static const struct option opts[] = {
		{ "count", required_argument, 0, 'n' },	  { "watch", no_argument, 0, 'w' },
		{ "interval", required_argument, 0, 'd' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct top_row *rows;
	size_t n, limit = 20;
	double interval = 2.0;
	bool watch = false;
	struct mx_maps m;
	int opt, rc;
	char *end;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:wd:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			limit = strtoul(optarg, &end, 10);
			if (*end || !*optarg || limit == 0) {
				mx_err("-n takes a positive number, not \"%s\"", optarg);
				return MX_EXIT_USAGE;
			}
			break;
		case 'w': watch = true; break;
		case 'd':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno || *end || !*optarg || !(interval >= 0.2 && interval <= 3600)) {
				mx_err("--interval takes seconds from 0.2 to 3600, not \"%s\"", optarg);
				return MX_EXIT_USAGE;
			}
			break;
		case 'h': fputs(top_help, stdout); return MX_EXIT_OK;
		default: fputs(top_help, stderr); return MX_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		mx_err("unexpected argument \"%s\"", argv[optind]);
		return MX_EXIT_USAGE;
	}
	if (watch && g->json) {
		mx_err("--watch draws a screen; --json prints once");
		return MX_EXIT_USAGE;
	}
	if (mx_maps_open(g->pin_dir, &m))
		return MX_EXIT_FAIL;
	if (watch) {
		rc = top_watch(&m, limit, interval);
		mx_maps_close(&m);
		return rc;
	}
	n = top_collect(&m, &rows);
	if (n > limit)
		n = limit;
	if (g->json)
		print_json(rows, n);
	else
		print_rows(stdout, rows, n);
	free(rows);
	mx_maps_close(&m);
	return MX_EXIT_OK;
}
