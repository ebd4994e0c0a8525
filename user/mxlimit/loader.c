// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* loader.c - skeleton, pins, links; see loader.h. */
#include "loader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>

#include "log.h"
#include "mxlimit.skel.h"
#include "sysutil.h"

/*
 * libbpf's own messages: its warnings and errors go to our log at debug
 * level (-v), because the feature probes make libbpf warn on purpose and
 * what matters is said by our own message; MXLIMIT_DEBUG=1 prints them,
 * verifier logs included, unabridged on stderr.
 */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	if (getenv("MXLIMIT_DEBUG")) /* verifier logs are long: unabridged */
		return vfprintf(stderr, fmt, ap);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	mx_debug("libbpf: %s", buf);
	return 0;
}

static void libbpf_quiet(void)
{
	static int done;

	if (!done) {
		libbpf_set_print(libbpf_print);
		done = 1;
	}
}

void mx_map_sizes_from_policy(const struct mx_policy *pol, struct mx_map_sizes *sz)
{
	sz->sources = pol->max_sources;
	sz->connections = pol->max_connections;
	sz->rate_sources = pol->max_rate_sources;
	sz->pending = pol->max_pending;
	sz->sanctions = pol->max_sanctions;
	sz->rules = pol->max_rules * MX_GENERATIONS;
}

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

int mx_pin_dir_prepare(const char *pin_dir)
{
	char links[PATH_MAX];
	int err;

	if (!is_bpffs(MX_BPFFS) && strncmp(pin_dir, MX_BPFFS "/", strlen(MX_BPFFS) + 1) == 0) {
		mx_mkdir_p(MX_BPFFS, 0700, 0700);
		if (mount("bpffs", MX_BPFFS, "bpf", 0, "mode=0700")) {
			mx_err("cannot mount bpffs on %s: %s", MX_BPFFS, strerror(errno));
			return -1;
		}
		mx_info("mounted bpffs on %s", MX_BPFFS);
	}
	err = mx_mkdir_p(pin_dir, 0700, 0700);
	if (err) {
		mx_err("cannot create pin dir %s: %s", pin_dir, strerror(-err));
		return -1;
	}
	if (!is_bpffs(pin_dir)) {
		mx_err("%s is not on a bpf filesystem (mount -t bpf bpffs /sys/fs/bpf)", pin_dir);
		return -1;
	}
	snprintf(links, sizeof(links), "%s/links", pin_dir);
	err = mx_mkdir_p(links, 0700, 0700);
	if (err) {
		mx_err("cannot create %s: %s", links, strerror(-err));
		return -1;
	}
	return 0;
}

bool mx_pin_dir_loaded(const char *pin_dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/mx_ctl", pin_dir);
	return access(path, F_OK) == 0;
}

/* A pinned map keeps its size: match it so libbpf can reuse the pin. */
static void size_map(struct bpf_map *map, const char *pin_dir, uint32_t want)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (want)
			bpf_map__set_max_entries(map, want);
		return;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
		if (want && info.max_entries != want)
			mx_warn("map %s keeps its size %u (policy asks %u; `unload --all` to resize)",
				bpf_map__name(map), info.max_entries, want);
		bpf_map__set_max_entries(map, info.max_entries);
	}
	close(fd);
}

/*
 * A map pinned by another mxlimit version may have another layout (a
 * counter added to struct mx_stats changes its value size), and libbpf
 * then refuses the whole load with a bare EINVAL.  Counter-only maps are
 * re-created (their counts restart; the programs this load attaches use
 * the new one); for any other map, say what to do.
 */
static bool counters_only(const char *name)
{
	return !strcmp(name, "mx_stats") || !strcmp(name, "mx_bl_hits");
}

/* Does the map pinned for `map` have another layout?  *info gets it. */
static bool pinned_differs(struct bpf_map *map, struct bpf_map_info *info)
{
	const char *path = bpf_map__pin_path(map);
	uint32_t len = sizeof(*info);
	bool differs;
	int fd;

	memset(info, 0, sizeof(*info));
	if (!path || (fd = bpf_obj_get(path)) < 0)
		return false;
	differs = bpf_obj_get_info_by_fd(fd, info, &len) == 0 &&
		  (info->type != (uint32_t)bpf_map__type(map) ||
		   info->key_size != bpf_map__key_size(map) ||
		   info->value_size != bpf_map__value_size(map) ||
		   info->map_flags != bpf_map__map_flags(map));
	close(fd);
	return differs;
}

/* Nothing is touched unless every other map fits. */
static int check_pinned(struct mxlimit *skel)
{
	struct bpf_map_info info;
	struct bpf_map *map;
	int rc = 0;

	bpf_object__for_each_map(map, skel->obj) {
		if (counters_only(bpf_map__name(map)) || !pinned_differs(map, &info))
			continue;
		mx_err("%s was pinned by another mxlimit version with another layout; "
		       "`mxlimit unload --all` removes the old pins (counters, blocks and "
		       "penalties are lost; saved blocks and blocklists are restored by the "
		       "next load)", bpf_map__pin_path(map));
		rc = -1;
	}
	if (rc)
		return rc;
	bpf_object__for_each_map(map, skel->obj) {
		if (!counters_only(bpf_map__name(map)) || !pinned_differs(map, &info))
			continue;
		mx_warn("%s was pinned by another mxlimit version (value size %u, now %u): "
			"re-created, its counters restart", bpf_map__pin_path(map), info.value_size,
			bpf_map__value_size(map));
		unlink(bpf_map__pin_path(map));
	}
	return 0;
}

/* The fast path's ports and the sanctions word are global data, each of its
 * own section (bpf/mx_maps.h), pinned as mx_ports and mx_sanctseq so that
 * every interface's program shares one copy.
 * Before that was global data, mx_ports was a plain array of the same size:
 * libbpf cannot reuse it (it lacks BPF_F_MMAPABLE), so that old pin goes;
 * the policy the load applies writes the new one. */
static int pin_global_data(struct mxlimit *skel, const char *pin_dir)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/mx_ports", pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    !(info.map_flags & BPF_F_MMAPABLE) && unlink(path) == 0)
			mx_info("replaced the ports map of an older mxlimit (%s)", path);
		close(fd);
	}
	if (bpf_map__set_pin_path(skel->maps.data_ports, path))
		return -1;
	snprintf(path, sizeof(path), "%s/mx_sanctseq", pin_dir);
	return bpf_map__set_pin_path(skel->maps.data_sanct, path);
}

/* Pins of maps an older mxlimit had and this one does not (their state
 * moved: mx_rate and mx_pendcnt into mx_src).  Removed at load, once the
 * new programs are in, and by unload --all; an old program still attached
 * elsewhere keeps its map alive until it is replaced. */
static const char *const obsolete_maps[] = { "mx_rate", "mx_pendcnt" };

static void unpin_obsolete(const char *pin_dir)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(obsolete_maps) / sizeof(obsolete_maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, obsolete_maps[i]);
		if (unlink(path) == 0)
			mx_info("removed %s (a map of an older mxlimit)", path);
	}
}

/* The optional programs to load: those the probe found usable. */
static void set_optional(struct mxlimit *skel, uint32_t bits)
{
	bpf_program__set_autoload(skel->progs.mx_seed, !!(bits & MX_FEAT_SEED_ITER));
	bpf_program__set_autoload(skel->progs.mx_seed_flow, !!(bits & MX_FEAT_SEED_DIAG));
	bpf_program__set_autoload(skel->progs.mx_sweep_run, !!(bits & MX_FEAT_SWEEP));
}

static struct mxlimit *skel_load(const char *pin_dir, const struct mx_map_sizes *sz,
				 unsigned progs, uint32_t stats_row, bool plain)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_dir);
	struct mxlimit *skel;
	uint32_t want;
	int err;

	libbpf_quiet();
	skel = mxlimit__open_opts(&oo);
	if (!skel) {
		mx_err("cannot open the BPF object: %s", strerror(errno));
		return NULL;
	}
	size_map(skel->maps.mx_conc, pin_dir, sz ? sz->sources : 0);
	size_map(skel->maps.mx_conns, pin_dir, sz ? sz->connections : 0);
	size_map(skel->maps.mx_src, pin_dir, sz ? sz->rate_sources : 0);
	size_map(skel->maps.mx_sketch, pin_dir, sz ? MX_SKETCH_ROWS * sz->rate_sources : 0);
	skel->rodata->mx_sketch_w = bpf_map__max_entries(skel->maps.mx_sketch) / MX_SKETCH_ROWS;
	size_map(skel->maps.mx_pending, pin_dir, sz ? sz->pending : 0);
	size_map(skel->maps.mx_sanctions, pin_dir, sz ? sz->sanctions : 0);
	size_map(skel->maps.mx_policy, pin_dir, sz ? sz->rules : 0);
	size_map(skel->maps.mx_gw_flows, pin_dir, sz ? sz->connections : 0);
	size_map(skel->maps.mx_gw_pending, pin_dir, sz ? sz->pending : 0);
	if (pin_global_data(skel, pin_dir)) {
		mx_err("cannot set the pin paths of the global data maps");
		mxlimit__destroy(skel);
		return NULL;
	}

	if (check_pinned(skel)) {
		mxlimit__destroy(skel);
		return NULL;
	}

	bpf_program__set_autoload(skel->progs.mx_xdp, !!(progs & MX_PROGS_XDP));
	bpf_program__set_autoload(skel->progs.mx_gw_gc_arm, !!(progs & MX_PROGS_GW_ARM));
	bpf_program__set_autoload(skel->progs.mx_gw_gc_run, !!(progs & MX_PROGS_GW_RUN));
	bpf_program__set_autoload(skel->progs.mx_sockstate, !!(progs & MX_PROGS_SOCK));
	want = (progs & MX_PROGS_SOCK) && !plain ? mx_features_get()->bits : 0;
	set_optional(skel, want);
	skel->rodata->mx_stats_row_id = stats_row;
	skel->rodata->mx_role = (progs & MX_PROGS_ROLE_CLIENT)   ? MX_ROLE_CLIENT
				: (progs & MX_PROGS_ROLE_SERVER) ? MX_ROLE_SERVER
								 : MX_ROLE_LOCAL;

	err = mxlimit__load(skel);
	if (err && (want & ~MX_FEAT_KNOWN)) {
		/* Each optional program loaded alone; should they not load
		 * together, the essential ones still must. */
		mx_warn("cannot load the optional programs together with the essential ones "
			"(%s); loading without them", strerror(-err));
		mxlimit__destroy(skel);
		return skel_load(pin_dir, sz, progs, stats_row, true);
	}
	if (err) {
		mx_err("cannot load the BPF programs: %s (MXLIMIT_DEBUG=1 shows libbpf's log; "
		       "`mxlimit doctor` checks the kernel)", strerror(-err));
		mxlimit__destroy(skel);
		return NULL;
	}
	if (progs & MX_PROGS_SOCK)
		mx_features_warn(mx_features_get(), mx_skel_features(skel));
	unpin_obsolete(pin_dir);
	return skel;
}

struct mxlimit *mx_skel_load(const char *pin_dir, const struct mx_map_sizes *sz, unsigned progs,
			     uint32_t stats_row)
{
	return skel_load(pin_dir, sz, progs, stats_row, false);
}

static bool prog_loaded(const struct bpf_program *p)
{
	return p && bpf_program__fd(p) >= 0;
}

uint32_t mx_skel_features(struct mxlimit *skel)
{
	uint32_t bits = MX_FEAT_KNOWN;

	if (prog_loaded(skel->progs.mx_seed))
		bits |= MX_FEAT_SEED_ITER;
	if (prog_loaded(skel->progs.mx_seed_flow))
		bits |= MX_FEAT_SEED_DIAG;
	if (prog_loaded(skel->progs.mx_sweep_run) && (bits & (MX_FEAT_SEED_ITER | MX_FEAT_SEED_DIAG)))
		bits |= MX_FEAT_SWEEP;
	return bits;
}

void mx_skel_destroy(struct mxlimit *skel)
{
	mxlimit__destroy(skel);
}

int mx_skel_xdp_fd(struct mxlimit *skel)
{
	return bpf_program__fd(skel->progs.mx_xdp);
}

int mx_skel_maps(struct mxlimit *skel, struct mx_maps *m)
{
	mx_maps_init(m);
#define DUP(name) m->name = dup(bpf_map__fd(skel->maps.mx_##name))
	m->ports = dup(bpf_map__fd(skel->maps.data_ports));
	m->sanctseq = dup(bpf_map__fd(skel->maps.data_sanct));
	DUP(ctl); DUP(config); DUP(policy); DUP(sanctions); DUP(conc); DUP(conns);
	DUP(pending); DUP(src); DUP(sketch); DUP(sweep); DUP(stats); DUP(netns); DUP(ifaces);
	DUP(blocklist); DUP(bl_sets); DUP(bl_hits);
	DUP(gw_servers); DUP(gw_pending); DUP(gw_flows); DUP(gw_gc);
#undef DUP
	return 0;
}

static void link_path(char *buf, size_t len, const char *pin_dir, const char *name)
{
	snprintf(buf, len, "%s/links/%s", pin_dir, name);
}

int mx_sock_attach(struct mxlimit *skel, const char *pin_dir)
{
	char path[PATH_MAX];
	struct bpf_link *link;
	int err;

	/* The new link goes live before the old one is dropped: both count
	 * for a moment, which the NOEXIST insert / checked delete makes
	 * harmless, while a gap would lose a close and leak a count. */
	link = bpf_program__attach(skel->progs.mx_sockstate);
	if (!link) {
		mx_err("cannot attach the socket-state tracepoint: %s", strerror(errno));
		return -1;
	}
	link_path(path, sizeof(path), pin_dir, "sockstate");
	unlink(path);
	err = bpf_link__pin(link, path);
	if (err) {
		mx_err("cannot pin %s: %s", path, strerror(-err));
		bpf_link__destroy(link);
		return -1;
	}
	bpf_link__disconnect(link); /* the pin keeps it */
	bpf_link__destroy(link);
	return 0;
}

/* Run an iterator link to its end (its program does the work). */
static int iter_drain(struct bpf_link *link)
{
	char buf[256];
	int fd, n;

	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n < 0 ? -1 : 0;
}

static int seed_iter(struct mxlimit *skel)
{
	struct bpf_link *link;
	int rc;

	link = bpf_program__attach_iter(skel->progs.mx_seed, NULL);
	if (!link) {
		mx_warn("cannot seed existing connections (iter/tcp): %s", strerror(errno));
		return -1;
	}
	rc = iter_drain(link);
	if (rc)
		mx_warn("cannot run the seeding iterator: %s", strerror(errno));
	bpf_link__destroy(link);
	return rc;
}

int mx_sock_seed(struct mxlimit *skel)
{
	if (prog_loaded(skel->progs.mx_seed) && seed_iter(skel) == 0)
		return (int)MX_FEAT_SEED_ITER;
	if (prog_loaded(skel->progs.mx_seed_flow) &&
	    mx_sockdiag_seed(bpf_program__fd(skel->progs.mx_seed_flow)) >= 0)
		return (int)MX_FEAT_SEED_DIAG;
	return -1;
}

int mx_sock_sweep(struct mxlimit *skel, const struct mx_maps *m, uint32_t *seeded_by)
{
	LIBBPF_OPTS(bpf_test_run_opts, ro);
	struct mx_sweep sw = {};
	uint32_t zero = 0;
	int by;

	if (!(mx_skel_features(skel) & MX_FEAT_SWEEP))
		return -1;
	bpf_map_lookup_elem(m->sweep, &zero, &sw);
	sw.gen++;
	sw.netns = mx_self_netns();
	sw.start_ns = mx_mono_now(m);
	if (bpf_map_update_elem(m->sweep, &zero, &sw, BPF_ANY))
		return -1;
	by = mx_sock_seed(skel); /* seeds and marks */
	if (seeded_by)
		*seeded_by = by > 0 ? (uint32_t)by : 0;
	if (by < 0)
		return -1;
	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.mx_sweep_run), &ro)) {
		mx_warn("cannot run the sweep program: %s", strerror(errno));
		return -1;
	}
	return (int)ro.retval;
}

/* Run an XDP-type helper program once (it ignores the packet). */
static int run_once(const struct bpf_program *p, int *retval)
{
	static const uint8_t pkt[64]; /* an empty frame: the program ignores it */
	LIBBPF_OPTS(bpf_test_run_opts, ro);

	ro.data_in = pkt;
	ro.data_size_in = sizeof(pkt);

	if (!prog_loaded(p) || bpf_prog_test_run_opts(bpf_program__fd(p), &ro))
		return -1;
	*retval = (int)ro.retval;
	return 0;
}

/* Pin the calling thread to the n-th CPU it may run on (a test run runs on
 * the caller's CPU). */
static void run_on_nth_cpu(const cpu_set_t *allowed, int n)
{
	int cpu, count = CPU_COUNT(allowed);
	cpu_set_t one;

	if (count < 2)
		return;
	n %= count;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, allowed) && n-- == 0)
			break;
	}
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
}

int mx_gw_sweep_arm(struct mxlimit *skel, char *why, size_t len)
{
	static const char *const step[] = { "?", "no timer entry", "bpf_timer_init",
					    "bpf_timer_set_callback", "bpf_timer_start" };
	int rv = -1, tries;
	useconds_t backoff = 10 * 1000;
	cpu_set_t allowed;
	bool rotate = sched_getaffinity(0, sizeof(allowed), &allowed) == 0;

	/* A refusal can be transient: bpf_timer_init allocates without
	 * locks, which fails now and then with ENOMEM (seen on 6.18, about
	 * once in a hundred arms, and then again on the same CPU for a
	 * second or more).  So a refusal is tried again on each CPU in turn,
	 * 10 ms doubling to 200 ms apart, ten tries in all (~1.3 s), before
	 * falling back; arming twice is harmless. */
	for (tries = 0; tries < 10; tries++) {
		if (tries) {
			usleep(backoff);
			backoff = backoff * 2 > 200 * 1000 ? 200 * 1000 : backoff * 2;
			if (rotate)
				run_on_nth_cpu(&allowed, tries);
		}
		if (run_once(skel->progs.mx_gw_gc_arm, &rv)) {
			snprintf(why, len, "cannot run mx_gw_gc_arm: %s", strerror(errno));
			rv = -1;
			break;
		}
		if (rv == 0)
			break;
	}
	if (rotate && tries)
		sched_setaffinity(0, sizeof(allowed), &allowed);
	if (rv == 0)
		return 0;
	if (rv > 0)
		snprintf(why, len, "%s: %s", step[(unsigned)rv >> 8 < 5 ? (unsigned)rv >> 8 : 0],
			 strerror(rv & 0xff));
	return -1;
}

int mx_gw_sweep_run(struct mxlimit *skel)
{
	int rv = -1;

	if (run_once(skel->progs.mx_gw_gc_run, &rv))
		return -1;
	return rv;
}

const char *mx_feature_gw_sweep(uint32_t bits)
{
	if (!(bits & MX_FEAT_GATEWAY))
		return NULL;
	if (bits & MX_FEAT_GW_TIMER)
		return "timer";
	if (bits & MX_FEAT_GW_DAEMON)
		return "daemon";
	return "off";
}

uint32_t mx_self_netns(void)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return 0;
	return (uint32_t)st.st_ino;
}

/* The interface's row: the one it already has, else a free one. */
static int iface_row(int ifaces_fd, uint32_t ifindex, uint32_t netns, bool *existing)
{
	int free_row = -1;
	uint32_t i;

	*existing = false;
	for (i = 1; i < MX_MAX_IFACES; i++) {
		struct mx_iface r;

		if (bpf_map_lookup_elem(ifaces_fd, &i, &r))
			return -1;
		if (r.ifindex == ifindex && r.netns == netns) {
			*existing = true;
			return (int)i;
		}
		if (!r.ifindex && free_row < 0)
			free_row = (int)i;
	}
	return free_row;
}

static int netns_ref(int netns_fd, uint32_t netns, int delta)
{
	uint32_t n = 0;

	bpf_map_lookup_elem(netns_fd, &netns, &n);
	if (delta < 0 && n <= 1)
		return bpf_map_delete_elem(netns_fd, &netns);
	n += delta;
	return bpf_map_update_elem(netns_fd, &netns, &n, BPF_ANY);
}

static uint32_t mode_flags(enum mx_xdp_mode mode)
{
	switch (mode) {
	case MX_MODE_NATIVE: return XDP_FLAGS_DRV_MODE;
	case MX_MODE_GENERIC: return XDP_FLAGS_SKB_MODE;
	default: return 0;
	}
}

static enum mx_xdp_mode mode_in_use(uint32_t ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query((int)ifindex, 0, &q))
		return MX_MODE_AUTO;
	if (q.attach_mode == XDP_ATTACHED_SKB)
		return MX_MODE_GENERIC;
	if (q.attach_mode == XDP_ATTACHED_DRV)
		return MX_MODE_NATIVE;
	return MX_MODE_AUTO;
}

static uint32_t prog_id_of(int prog_fd)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	return info.id;
}

/* Replace the program behind an existing pinned XDP link.  1 = done,
 * 0 = no usable link there, -1 = error. */
static int xdp_replace(const char *path, uint32_t ifindex, int prog_fd)
{
	struct bpf_link_info info = {};
	uint32_t len = sizeof(info);
	int fd = bpf_obj_get(path), err;

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_LINK_TYPE_XDP ||
	    info.xdp.ifindex != ifindex) {
		close(fd);
		unlink(path); /* stale: the interface went away or was renamed */
		return 0;
	}
	err = bpf_link_update(fd, prog_fd, NULL);
	close(fd);
	if (err) {
		mx_err("cannot replace the XDP program: %s", strerror(errno));
		return -1;
	}
	return 1;
}

static int xdp_new_link(const char *path, const char *ifname, uint32_t ifindex, int prog_fd,
			const struct mx_attach_opts *o)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int fd;

	if (bpf_xdp_query((int)ifindex, 0, &q) == 0 && q.prog_id) {
		if (!o->force) {
			mx_err("%s already has an XDP program (id %u) that is not mxlimit's; "
			       "use --force to replace it", ifname, q.prog_id);
			return -1;
		}
		if (bpf_xdp_detach((int)ifindex, 0, NULL))
			mx_warn("cannot detach the XDP program on %s: %s", ifname, strerror(errno));
	}
	lo.flags = mode_flags(o->mode);
	fd = bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &lo);
	if (fd < 0) {
		mx_err("cannot attach XDP to %s%s: %s", ifname,
		       o->mode == MX_MODE_NATIVE ? " in native mode" :
		       o->mode == MX_MODE_GENERIC ? " in generic mode" : "", strerror(errno));
		return -1;
	}
	if (bpf_obj_pin(fd, path)) {
		mx_err("cannot pin %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int mx_xdp_attach(const char *pin_dir, const struct mx_map_sizes *sz, const char *ifname,
		  const struct mx_attach_opts *o)
{
	uint32_t ifindex = if_nametoindex(ifname), netns = mx_self_netns();
	struct mx_iface row = {};
	struct mxlimit *skel = NULL;
	struct mx_maps m;
	char path[PATH_MAX], name[64];
	bool existing;
	int rowi, rc = -1, r;

	if (!ifindex) {
		mx_err("no interface %s in this network namespace", ifname);
		return -1;
	}
	if (mx_maps_open(pin_dir, &m))
		return -1;
	rowi = iface_row(m.ifaces, ifindex, netns, &existing);
	if (rowi < 0) {
		mx_err("no free interface slot (at most %d interfaces)", MX_MAX_IFACES - 1);
		goto out;
	}
	skel = mx_skel_load(pin_dir, sz,
			    MX_PROGS_XDP | (o->role == MX_ROLE_CLIENT   ? MX_PROGS_ROLE_CLIENT
					    : o->role == MX_ROLE_SERVER ? MX_PROGS_ROLE_SERVER
									: 0),
			    (uint32_t)rowi);
	if (!skel)
		goto out;
	snprintf(name, sizeof(name), "xdp_%s", ifname);
	link_path(path, sizeof(path), pin_dir, name);
	r = xdp_replace(path, ifindex, mx_skel_xdp_fd(skel));
	if (r < 0)
		goto out;
	if (r == 1 && o->mode != MX_MODE_AUTO && mode_in_use(ifindex) != o->mode)
		mx_warn("%s keeps its current XDP mode; unload it to change the mode", ifname);
	if (r == 0 && xdp_new_link(path, ifname, ifindex, mx_skel_xdp_fd(skel), o))
		goto out;

	row.ifindex = ifindex;
	row.netns = netns;
	row.mode = mode_in_use(ifindex);
	row.prog_id = prog_id_of(mx_skel_xdp_fd(skel));
	row.role = o->role;
	row.attached_ns = mx_mono_now(&m);
	snprintf(row.name, sizeof(row.name), "%s", ifname);
	if (bpf_map_update_elem(m.ifaces, &rowi, &row, BPF_ANY) ||
	    /* gateway: no local socket of this namespace is counted */
	    (!existing && o->role == MX_ROLE_LOCAL && netns_ref(m.netns, netns, +1))) {
		mx_err("cannot register %s in the maps: %s", ifname, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (skel)
		mx_skel_destroy(skel);
	mx_maps_close(&m);
	return rc;
}

/* Forget an interface row (and its netns reference). */
static void iface_forget(const struct mx_maps *m, uint32_t rowi, const struct mx_iface *r)
{
	struct mx_iface zero = {};

	if (r->role == MX_ROLE_LOCAL)
		netns_ref(m->netns, r->netns, -1);
	bpf_map_update_elem(m->ifaces, &rowi, &zero, BPF_ANY);
}

int mx_xdp_detach(const char *pin_dir, const char *ifname)
{
	uint32_t netns = mx_self_netns(), i;
	char path[PATH_MAX], name[64];
	struct mx_maps m;
	int found = 0;

	snprintf(name, sizeof(name), "xdp_%s", ifname);
	link_path(path, sizeof(path), pin_dir, name);
	if (unlink(path) == 0)
		found = 1;
	else if (errno != ENOENT) {
		mx_err("cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	if (mx_maps_open(pin_dir, &m))
		return found ? 0 : -1;
	for (i = 1; i < MX_MAX_IFACES; i++) {
		struct mx_iface r;

		if (bpf_map_lookup_elem(m.ifaces, &i, &r) || !r.ifindex)
			continue;
		if (strncmp(r.name, ifname, sizeof(r.name)) == 0 && r.netns == netns) {
			iface_forget(&m, i, &r);
			found = 1;
		}
	}
	mx_maps_close(&m);
	if (!found) {
		mx_err("mxlimit is not attached to %s", ifname);
		return -1;
	}
	if (!if_nametoindex(ifname))
		mx_info("%s is gone; forgot it", ifname);
	else
		mx_info("detached from %s", ifname);
	return 0;
}

int mx_unload_all(const char *pin_dir)
{
	const char *const *maps = mx_map_names;
	char path[PATH_MAX];
	struct dirent *de;
	size_t i;
	DIR *d;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/links", pin_dir);
	d = opendir(path);
	if (d) {
		while ((de = readdir(d))) {
			char p[PATH_MAX];

			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/links/%s", pin_dir, de->d_name);
			if (unlink(p)) {
				mx_err("cannot remove %s: %s", p, strerror(errno));
				rc = -1;
			}
		}
		closedir(d);
		rmdir(path);
	}
	for (i = 0; i <= MX_N_MAPS; i++) {
		/* and the blocklist trie in mx_blocklist's slot (blocklist.h) */
		snprintf(path, sizeof(path), "%s/%s", pin_dir, i < MX_N_MAPS ? maps[i] : "mx_bl_trie");
		if (unlink(path) && errno != ENOENT) {
			mx_err("cannot remove %s: %s", path, strerror(errno));
			rc = -1;
		}
	}
	unpin_obsolete(pin_dir);
	if (rmdir(pin_dir) && errno != ENOENT)
		mx_warn("%s not removed: %s", pin_dir, strerror(errno));
	return rc;
}

const char *mx_mode_name(uint32_t mode)
{
	return mode == MX_MODE_NATIVE ? "native" : mode == MX_MODE_GENERIC ? "generic" : "auto";
}
