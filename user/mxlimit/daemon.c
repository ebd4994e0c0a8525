// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * daemon.c - `mxlimit daemon`: the long-running companion of the kernel
 * layer.  It takes verdicts on a Unix socket (verdict_server.c), serves
 * metrics (metrics.c), re-applies the policy on SIGHUP, and keeps house:
 * expired sanctions and idle counters leave the maps, blocks and
 * penalties are snapshotted to the state file.
 *
 * Enforcement never depends on it: it only writes maps, the kernel checks
 * expiries itself, and SIGTERM / SIGINT / SIGKILL leave every program and
 * map in place.  When the pins are replaced under it (`unload --all`,
 * `load`), it notices and follows the new maps.
 */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cli.h"
#include "log.h"
#include "policy_apply.h"
#include "sanction.h"
#include "state.h"
#include "sysutil.h"

/* Idle counters collected per pass; the rest waits for the next pass. */
#define DMN_GC_BATCH 4096

/* ---- event loop plumbing ---- */

uint64_t dmn_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * MX_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void snapshot(struct dmn *d, bool force);

static void on_save(struct mx_loop *l, struct mx_timer *t)
{
	(void)l;
	snapshot(t->arg, false);
}

void dmn_snapshot_take(struct dmn *d, struct dmn_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	out->c = d->c;
	out->peers = vsrv_peers(d->vs);
	out->started_wall = d->started_wall;
	if (d->cl) {
		const struct mx_redis_stats *rs = cluster_redis_stats(d->cl);

		out->cluster = true;
		out->cs = *cluster_stats(d->cl);
		if (rs)
			out->rs = *rs;
		snprintf(out->node, sizeof(out->node), "%s", d->node);
	}
}

/* The verdict server's two ways into the daemon (struct vsrv_ctx). */
static struct mx_maps *vsrv_maps(void *arg)
{
	struct dmn *d = arg;

	return dmn_maps_ready(d) ? &d->maps : NULL;
}

static void vsrv_changed(void *arg)
{
	dmn_sanctions_changed(arg);
}

static void vsrv_applied(void *arg, const struct mx_vreq *r)
{
	struct dmn *d = arg;

	cluster_local(d->cl, r);
}

/* ---- [redis]: the cluster (cluster.h) ---- */

static struct mx_maps *cl_maps(void *arg)
{
	struct dmn *d = arg;

	return dmn_maps_ready(d) ? &d->maps : NULL;
}

/* Start, restart or stop sharing as d->redis now says. */
static void cluster_follow(struct dmn *d, const struct mx_redis_conf *was)
{
	struct cluster_ctx cc = {
		.loop = d->loop, .node = d->node,
		.cursor_path = d->cursor_path[0] ? d->cursor_path : NULL,
		.maps = cl_maps, .allowlisted = vsrv_touches_allowlist,
		.changed = vsrv_changed, .arg = d,
	};

	if (!d->loop || (was && d->cl && mx_redis_conf_equal(was, &d->redis)))
		return;
	if (d->cl) {
		mx_info("cluster: [redis] changed; reconnecting");
		cluster_free(d->cl);
		d->cl = NULL;
	}
	if (d->redis.enabled && !(d->cl = cluster_new(&cc, &d->redis)))
		mx_err("cluster: cannot start; verdicts stay on this node");
}

void dmn_sanctions_changed(struct dmn *d)
{
	/* due now: timers run right after this batch of events */
	mx_timer_set(d->loop, &d->save, mx_loop_now(d->loop));
}

/* ---- the maps: held, and followed when the pins change ---- */

static uint32_t map_id(int fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static uint32_t pinned_id(const char *pin_dir)
{
	char path[PATH_MAX];
	uint32_t id;
	int fd;

	snprintf(path, sizeof(path), "%s/mx_sanctions", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	id = map_id(fd);
	close(fd);
	return id;
}

static void settings_read(struct dmn *d);

/* Hold the pinned maps; say so when they come and go. */
static void maps_follow(struct dmn *d)
{
	uint32_t id = pinned_id(d->pin_dir);

	d->maps_checked_ns = dmn_now_ns();
	if (d->loaded && id == d->maps_id)
		return;
	if (d->loaded) {
		mx_maps_close(&d->maps);
		if (d->sweeper)
			mx_skel_destroy(d->sweeper);
		d->sweeper = NULL;
		if (d->gw_sweeper)
			mx_skel_destroy(d->gw_sweeper);
		d->gw_sweeper = NULL;
		d->loaded = false;
		d->state_sum_valid = false;
		mx_warn(id ? "the maps in %s were replaced; following the new ones"
			   : "mxlimit was unloaded (no maps in %s); verdicts wait for `mxlimit load`",
			d->pin_dir);
	}
	if (!id)
		return;
	if (mx_maps_open(d->pin_dir, &d->maps))
		return;
	d->maps_id = map_id(d->maps.sanctions);
	d->loaded = true;
	settings_read(d);
	mx_info("using the maps in %s", d->pin_dir);
}

bool dmn_maps_ready(struct dmn *d)
{
	if (!d->loaded || dmn_now_ns() - d->maps_checked_ns > DMN_MAPS_RECHECK_NS)
		maps_follow(d);
	return d->loaded;
}

/* ---- policy settings the daemon itself uses ---- */

static void policy_path(struct dmn *d, char *buf, size_t len)
{
	if (d->policy_arg)
		snprintf(buf, len, "%s", d->policy_arg);
	else
		mx_policy_applied_path(d->pin_dir, buf, len);
}

static void quiet_sink(void *ctx, enum mx_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	(void)line;
}

/* gc_idle from the policy file.  Read quietly: this is not an apply, and
 * the policy in force stays whatever `load` / `reload` put there. */
static void settings_read(struct dmn *d)
{
	struct mx_policy pol;
	char path[PATH_MAX];
	int rc;

	policy_path(d, path, sizeof(path));
	mx_log_set_sink(quiet_sink, NULL);
	rc = mx_policy_load(path, &pol);
	mx_log_set_sink(NULL, NULL);
	if (rc) {
		d->gc_idle_ns = MX_DEFAULT_GC_IDLE_NS;
		mx_warn("cannot read %s for gc_idle; collecting counters idle for %llus",
			path, (unsigned long long)(d->gc_idle_ns / MX_NS_PER_SEC));
		return;
	}
	d->gc_idle_ns = pol.gc_idle_ns ? pol.gc_idle_ns : MX_DEFAULT_GC_IDLE_NS;
	{
		struct mx_redis_conf was = d->redis;

		d->redis = pol.redis;
		cluster_follow(d, &was);
	}
	mx_policy_free(&pol);
}

static void reload(struct dmn *d)
{
	char path[PATH_MAX];

	policy_path(d, path, sizeof(path));
	mx_info("SIGHUP: applying %s", path);
	if (mx_policy_apply_file(d->pin_dir, path) != MX_EXIT_OK) {
		d->c.reloads_failed++;
		mx_err("policy %s not applied; the policy in force is unchanged", path);
		return;
	}
	d->c.reloads_ok++;
	d->maps_checked_ns = 0; /* re-check the maps at once */
	dmn_maps_ready(d);
	settings_read(d);
	mx_info("policy %s applied", path);
}

/* ---- housekeeping ---- */

static bool conc_idle(const struct mx_conc *c, uint64_t now, uint64_t idle)
{
	return c->established == 0 && c->last_ns < now && now - c->last_ns > idle;
}

/*
 * Remove concurrency counters with no connection counted and no open or
 * close for gc_idle.  The socket-state program creates them again at the
 * next handshake.  Pending SYNs are not in these entries (they live in
 * the LRU map mx_src, see bpf/mx_limits.h), so removing one never
 * forgets a SYN in flight.
 *
 * The race: a hash map has no compare-and-delete, so a handshake on
 * another CPU can find an entry between our last look and the delete and
 * increment the copy we then remove.  We look again just before deleting,
 * which leaves a window of one syscall, and only for a source silent for
 * gc_idle.  When it is hit, that one connection is not counted while it
 * lasts (the source may have one connection more than its limit), and its
 * close finds no counter and is counted as `underflow`.  Nothing sticks:
 * the next handshake starts a fresh, exact counter.
 */
static void gc_conc(struct dmn *d)
{
	struct mx_key *dead, k, next, *prev = NULL;
	uint64_t now = mx_mono_now(&d->maps);
	size_t n = 0, i;
	unsigned guard = 0;

	dead = calloc(DMN_GC_BATCH, sizeof(*dead));
	if (!dead)
		return;
	while (n < DMN_GC_BATCH && guard++ < MX_MAP_ENTRIES_MAX &&
	       bpf_map_get_next_key(d->maps.conc, prev, &next) == 0) {
		struct mx_conc c;

		if (bpf_map_lookup_elem(d->maps.conc, &next, &c) == 0 &&
		    conc_idle(&c, now, d->gc_idle_ns))
			dead[n++] = next;
		k = next;
		prev = &k;
	}
	/* delete after the walk: a hash walk restarts when its key goes */
	for (i = 0; i < n; i++) {
		struct mx_conc c;

		if (bpf_map_lookup_elem(d->maps.conc, &dead[i], &c) == 0 &&
		    conc_idle(&c, now, d->gc_idle_ns) &&
		    bpf_map_delete_elem(d->maps.conc, &dead[i]) == 0)
			d->c.gc_collected++;
	}
	if (n)
		mx_debug("collected %zu idle counters", n);
	free(dead);
}

/* FNV-1a over every sanction's own part: has anything changed? */
static int sanctions_sum(struct dmn *d, uint64_t *sum)
{
	struct mx_sanction_entry *all;
	uint64_t h = MX_FNV1A_INIT;
	size_t n, i;

	if (mx_sanction_list(&d->maps, &all, &n))
		return -1;
	for (i = 0; i < n; i++) {
		struct {
			mx_prefix p;
			uint32_t flags, limit;
			uint64_t b, pe;
			char br[MX_REASON_LEN], pr[MX_REASON_LEN];
		} x;

		memset(&x, 0, sizeof(x));
		x.p = all[i].prefix;
		x.flags = all[i].v.flags;
		x.limit = all[i].v.own_penalty_limit;
		x.b = all[i].v.own_block_until_ns;
		x.pe = all[i].v.own_penalty_until_ns;
		memcpy(x.br, all[i].v.block_reason, sizeof(x.br));
		memcpy(x.pr, all[i].v.penalty_reason, sizeof(x.pr));
		h = mx_fnv1a(&x, sizeof(x), h);
	}
	free(all);
	*sum = h;
	return 0;
}

/*
 * Save when the sanctions changed since the last save.  The first look
 * after (re)opening the maps only records what is there, unless the file
 * is missing: `load` restores from the file, so a daemon that starts
 * must not overwrite it with a map that may not have been restored yet.
 */
static void snapshot(struct dmn *d, bool force)
{
	struct stat st;
	uint64_t sum;

	if (!d->state_path || !d->loaded || sanctions_sum(d, &sum))
		return;
	if (!d->state_sum_valid && !force && stat(d->state_path, &st) == 0) {
		d->state_sum = sum;
		d->state_sum_valid = true;
		return;
	}
	if (d->state_sum_valid && sum == d->state_sum)
		return;
	if (mx_state_save(&d->maps, d->state_path)) {
		d->c.snapshots_failed++;
		return;
	}
	d->c.snapshots_ok++;
	d->state_sum = sum;
	d->state_sum_valid = true;
	mx_debug("state saved to %s", d->state_path);
}

/*
 * Count down connections whose close the tracepoint missed (see struct
 * mx_sweep) in the daemon's network namespace.  The programs are loaded
 * once, against the pinned maps, and kept; never attached.
 */
static void sweep(struct dmn *d)
{
	struct mx_ctl ctl = {};
	uint32_t zero = 0;
	int n;

	/* as `load` decided: a sweep it found off (refused, or forced off by
	 * MXLIMIT_DISABLE) stays off */
	if (bpf_map_lookup_elem(d->maps.ctl, &zero, &ctl) == 0 && (ctl.features & MX_FEAT_KNOWN) &&
	    !(ctl.features & MX_FEAT_SWEEP))
		return;
	if (!d->sweeper) {
		d->sweeper = mx_skel_load(d->pin_dir, NULL, MX_PROGS_SOCK, 0);
		if (!d->sweeper)
			return; /* reported; tried again next time */
	}
	n = mx_sock_sweep(d->sweeper, &d->maps, NULL);
	if (n > 0) {
		d->swept += (uint64_t)n;
		mx_info("sweep: %d connection%s counted down (their close was missed)", n,
			n == 1 ? "" : "s");
	}
}

/* Gateway mode where the kernel refused the in-kernel timer (`load`
 * recorded MX_FEAT_GW_DAEMON): expire idle and closed flows from here. */
static void gw_sweep(struct dmn *d, uint64_t now)
{
	struct mx_ctl ctl = {};
	uint32_t zero = 0;
	int n;

	if (bpf_map_lookup_elem(d->maps.ctl, &zero, &ctl) || !(ctl.features & MX_FEAT_GW_DAEMON))
		return;
	if (now - d->last_gw_sweep_ns < MX_GW_GC_PERIOD_NS)
		return;
	d->last_gw_sweep_ns = now;
	if (!d->gw_sweeper) {
		d->gw_sweeper = mx_skel_load(d->pin_dir, NULL, MX_PROGS_GW_RUN, 0);
		if (!d->gw_sweeper)
			return; /* reported; tried again next time */
	}
	n = mx_gw_sweep_run(d->gw_sweeper);
	if (n > 0)
		mx_debug("gateway sweep: %d flow entries expired or freed", n);
}

static void housekeeping(struct dmn *d)
{
	uint64_t now = dmn_now_ns();

	maps_follow(d);
	if (!d->loaded)
		return;
	{
		int n = mx_sanction_expire(&d->maps, mx_mono_now(&d->maps));

		if (n > 0)
			d->c.sanctions_expired += (uint64_t)n;
	}
	gw_sweep(d, now);
	if (now - d->last_gc_ns >= DMN_GC_EVERY_NS) {
		d->last_gc_ns = now;
		sweep(d);
		gc_conc(d);
	}
	snapshot(d, false);
}

/* ---- signals and the loop ---- */

static void on_signal(struct mx_loop *l, struct mx_io *io, uint32_t ev)
{
	struct dmn *d = io->arg;
	int sig;

	(void)l;
	(void)ev;
	while ((sig = mx_signal_next(io)) != 0) {
		if (sig == SIGHUP) {
			reload(d);
		} else {
			mx_info("%s: exiting; enforcement stays in place",
				sig == SIGTERM ? "SIGTERM" : "SIGINT");
			d->stop = 1;
		}
	}
}

static void on_tick(struct mx_loop *l, struct mx_timer *t)
{
	struct dmn *d = t->arg;

	housekeeping(d);
	if (d->cl) {
		char path[PATH_MAX];

		cluster_report_path(d->pin_dir, path, sizeof(path));
		cluster_report(d->cl, path);
	}
	mx_timer_set(l, t, mx_loop_now(l) + DMN_TICK_MS * 1000000ULL);
}

static int setup_signals(struct dmn *d, struct mx_io *sig)
{
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT };

	return mx_io_add_signals(d->loop, sig, sigs, 3, on_signal, d);
}

/* ---- options ---- */

static const char usage_text[] =
	"Usage: mxlimit daemon [-c FILE] [--socket PATH] [--state FILE|--no-state] [--metrics ADDR:PORT]\n"
	"                      [--group GROUP] [--allow-user USER]... [--node NAME] [--syslog] [-v]\n\n"
	"Run in the foreground: take verdicts (PENALIZE, BLOCK, UNBLOCK, QUERY) on a\n"
	"Unix socket, serve Prometheus metrics, re-apply the policy on SIGHUP, remove\n"
	"expired blocks and idle counters from the maps, and save blocks and penalties\n"
	"to the state file that `load` restores.  The kernel enforces everything with\n"
	"or without the daemon; SIGTERM and SIGINT leave enforcement in place.  With\n"
	"[redis] in the policy, blocks, penalties and unblocks from the verdict socket\n"
	"are shared with every node of a fleet (mxlimit(8) CLUSTER).\n\n"
	"Options:\n"
	"  -c, --config FILE      policy file for SIGHUP (default: the one `load` applied,\n"
	"                         else " MX_DEFAULT_POLICY ")\n"
	"      --socket PATH      verdict socket (default " MX_DEFAULT_SOCKET "), mode 0660\n"
	"      --group GROUP      group of the socket; its members may send verdicts\n"
	"      --allow-user USER  also accept this user's verdicts (repeatable, up to 16)\n"
	"      --state FILE       snapshot of blocks and penalties (default " MX_DEFAULT_STATE ")\n"
	"      --no-state         keep no snapshot\n"
	"      --metrics ADDR:PORT  serve GET /metrics there (127.0.0.1:9433, [::1]:9433)\n"
	"      --node NAME        this node's name in a fleet ([redis]; default: the host name)\n"
	"      --syslog           log to syslog (facility daemon) as well as to stderr\n"
	"  -v, --verbose          log debug messages too\n"
	"  -h, --help             this text\n\n"
	"Peers of the verdict socket are checked with SO_PEERCRED: root, the daemon's\n"
	"own user, members of the socket's group and --allow-user users are served;\n"
	"others get \"ERR permission denied\".  See mxlimit(8), \"VERDICT PROTOCOL\".\n";

/* 0 = run, 1 = --help shown, -1 = usage error (reported). */
static int parse_options(int argc, char **argv, struct dmn *d)
{
	enum { O_SOCKET = 256, O_STATE, O_NO_STATE, O_METRICS, O_GROUP, O_ALLOW, O_SYSLOG, O_NODE };
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' },
		{ "socket", required_argument, 0, O_SOCKET },
		{ "state", required_argument, 0, O_STATE },
		{ "no-state", no_argument, 0, O_NO_STATE },
		{ "metrics", required_argument, 0, O_METRICS },
		{ "group", required_argument, 0, O_GROUP },
		{ "allow-user", required_argument, 0, O_ALLOW },
		{ "syslog", no_argument, 0, O_SYSLOG },
		{ "node", required_argument, 0, O_NODE },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d->policy_arg = optarg; break;
		case O_SOCKET: d->socket_path = optarg; break;
		case O_STATE: d->state_path = optarg; break;
		case O_NO_STATE: d->state_path = NULL; break;
		case O_METRICS:
			if (!mx_metrics_addr_valid(optarg)) {
				mx_err("daemon: --metrics wants ADDR:PORT or [V6ADDR]:PORT, not \"%s\"",
				       optarg);
				return -1;
			}
			d->metrics_addr = optarg;
			break;
		case O_GROUP: d->group = optarg; break;
		case O_NODE:
			if (!optarg[0] || strlen(optarg) >= sizeof(d->node) ||
			    strpbrk(optarg, " \t\r\n|")) {
				mx_err("daemon: --node wants a name of 1 to %zu characters without blanks or '|', not \"%s\"",
				       sizeof(d->node) - 1, optarg);
				return -1;
			}
			snprintf(d->node, sizeof(d->node), "%s", optarg);
			break;
		case O_ALLOW:
			if (d->n_allow_uids == DMN_MAX_ALLOW_UIDS ||
			    mx_parse_uid(optarg, &d->allow_uids[d->n_allow_uids])) {
				mx_err("daemon: --allow-user: unknown user \"%s\" (or more than %d)",
				       optarg, DMN_MAX_ALLOW_UIDS);
				return -1;
			}
			d->n_allow_uids++;
			break;
		case O_SYSLOG:
			openlog("mxlimit", LOG_PID, LOG_DAEMON);
			mx_log_use_syslog(1);
			break;
		case 'v': mx_log_set_level(MX_LOG_DEBUG); break;
		case 'h': fputs(usage_text, stdout); return 1;
		case ':':
			mx_err("daemon: %s needs a value", argv[optind - 1]);
			return -1;
		default:
			mx_err("daemon: unknown option \"%s\" (mxlimit daemon --help)",
			       argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		mx_err("daemon: unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	if (!d->socket_path[0] || (d->state_path && !d->state_path[0])) {
		mx_err("daemon: empty path");
		return -1;
	}
	return 0;
}

int cmd_daemon(int argc, char **argv, const struct mx_global *g)
{
	struct dmn d;
	struct mx_io sig = { .fd = -1 };
	int rc = MX_EXIT_FAIL, r;

	memset(&d, 0, sizeof(d));
	d.pin_dir = g->pin_dir;
	d.socket_path = MX_DEFAULT_SOCKET;
	d.state_path = MX_DEFAULT_STATE;
	d.gc_idle_ns = MX_DEFAULT_GC_IDLE_NS;
	d.started_wall = (uint64_t)time(NULL);
	mx_maps_init(&d.maps);
	r = parse_options(argc, argv, &d);
	if (r)
		return r > 0 ? MX_EXIT_OK : MX_EXIT_USAGE;
	if (!d.node[0] && (gethostname(d.node, sizeof(d.node)) || !d.node[0]))
		snprintf(d.node, sizeof(d.node), "mxlimit");
	d.node[sizeof(d.node) - 1] = '\0';
	if (d.state_path)
		snprintf(d.cursor_path, sizeof(d.cursor_path), "%s.cluster", d.state_path);

	maps_follow(&d);
	if (!d.loaded) {
		mx_err("mxlimit is not loaded in %s (run `mxlimit load` first)", d.pin_dir);
		return MX_EXIT_FAIL;
	}
	d.loop = mx_loop_new();
	if (!d.loop || setup_signals(&d, &sig)) {
		mx_err("daemon: cannot set up the event loop: %s", strerror(errno));
		goto out;
	}
	mx_timer_init(&d.tick, on_tick, &d);
	mx_timer_init(&d.save, on_save, &d);
	mx_timer_set(d.loop, &d.tick, dmn_now_ns() + DMN_TICK_MS * 1000000ULL);
	{
		struct vsrv_ctx vc = {
			.loop = d.loop, .socket_path = d.socket_path, .group = d.group,
			.allow_uids = d.allow_uids, .n_allow_uids = d.n_allow_uids, .c = &d.c,
			.maps = vsrv_maps, .changed = vsrv_changed, .applied = vsrv_applied,
			.arg = &d,
		};

		if (!(d.vs = vsrv_open(&vc)))
			goto out;
	}
	if (d.metrics_addr && msrv_open(&d))
		goto out;
	cluster_follow(&d, NULL);
	snapshot(&d, false);
	d.last_gc_ns = dmn_now_ns();
	mx_info("daemon ready: verdicts on %s%s%s, maps in %s", d.socket_path,
		d.metrics_addr ? ", metrics on " : "", d.metrics_addr ? d.metrics_addr : "",
		d.pin_dir);
	if (mx_loop_run(d.loop, &d.stop) == 0)
		rc = MX_EXIT_OK;
	maps_follow(&d);
	snapshot(&d, false); /* what changed since the last tick */
out:
	if (d.cl) {
		char path[PATH_MAX];

		cluster_report_path(d.pin_dir, path, sizeof(path));
		unlink(path); /* status: no node here any more */
	}
	cluster_free(d.cl);
	d.cl = NULL;
	msrv_close(&d);
	vsrv_close(d.vs);
	if (d.loop) {
		mx_io_close(d.loop, &sig);
		mx_loop_free(d.loop);
	}
	if (d.loaded)
		mx_maps_close(&d.maps);
	if (d.sweeper)
		mx_skel_destroy(d.sweeper);
	if (d.gw_sweeper)
		mx_skel_destroy(d.gw_sweeper);
	return rc;
}
