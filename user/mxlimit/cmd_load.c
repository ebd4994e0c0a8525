// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cmd_load.c - load, unload, reload, check (the policy plumbing is policy_apply.c). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "blocklist.h"
#include "cli.h"
#include "log.h"
#include "policy_apply.h"
#include "state.h"

#define MAX_IFACES_ARG 32

/* One more -i IFACE; -1 (reported) when too many. */
static int add_iface(const char **ifaces, int *n, const char *name)
{
	if (*n == MAX_IFACES_ARG) {
		mx_err("at most %d interfaces at once", MAX_IFACES_ARG);
		return -1;
	}
	ifaces[(*n)++] = name;
	return 0;
}

static int parse_mode(const char *s, enum mx_xdp_mode *mode)
{
	if (!strcmp(s, "auto"))
		*mode = MX_MODE_AUTO;
	else if (!strcmp(s, "native") || !strcmp(s, "drv"))
		*mode = MX_MODE_NATIVE;
	else if (!strcmp(s, "generic") || !strcmp(s, "skb"))
		*mode = MX_MODE_GENERIC;
	else
		return -1;
	return 0;
}

static const char load_help[] =
	"Usage: mxlimit load -i IFACE [-i IFACE...] [-c FILE] [--mode auto|native|generic]\n"
	"                    [--force] [--state FILE] [--blocklist-dir DIR]\n"
	"       mxlimit load --gateway -i IFACE [-i IFACE...] --servers-on IFACE\n"
	"                    [--servers-on IFACE...] [-c FILE] [options as above]\n\n"
	"Load mxlimit's programs, pin its maps and links under the pin dir, apply the\n"
	"policy, attach the XDP program to each interface and the socket-state program,\n"
	"count the connections that already exist, restore saved blocks and the saved\n"
	"blocklists the kernel does not hold; then exit.\n"
	"Enforcement stays in the kernel.  Loading onto an interface that already has\n"
	"mxlimit replaces the programs and keeps every counter.\n"
	"Optional mechanisms the kernel refuses fall back with one warning each\n"
	"(seeding: iter/tcp, else sock_diag, else off; sweep: a syscall program, else\n"
	"off; gateway mode's flow sweep: a kernel timer, else the daemon, else off);\n"
	"`status` shows what is in use.  MXLIMIT_DISABLE=seed_iter,seed_diag,seed,\n"
	"sweep,gw_timer,gw_sweep,batch forces the fallbacks (mxlimit(8)).\n\n"
	"  -i, --interface IFACE  interface to attach to (repeatable, at least one)\n"
	"  -c, --config FILE      policy (default: the file last applied, else\n"
	"                         " MX_DEFAULT_POLICY ")\n"
	"      --mode MODE        XDP mode: auto (default), native (driver) or generic\n"
	"      --force            replace another program's XDP attachment\n"
	"      --state FILE       blocks to restore (default " MX_DEFAULT_STATE ")\n"
	"      --blocklist-dir DIR  saved blocklists (default " MX_DEFAULT_BLOCKLIST_DIR ",\n"
	"                         or $MXLIMIT_BLOCKLIST_DIR)\n"
	"      --gateway          gateway mode: mxlimit runs on a router or firewall in\n"
	"                         front of the mail servers ([main] servers) and counts\n"
	"                         the flows whose handshake it sees complete; -i names\n"
	"                         the client-facing interfaces\n"
	"      --servers-on IFACE a server-facing interface (gateway mode, repeatable)\n"
	"A pin dir holds one mode: switching needs `mxlimit unload --all` first.\n";

/* The mode the pin dir is loaded in: 1 gateway, 0 local, -1 nothing
 * attached there yet. */
static int loaded_mode(const char *pin_dir)
{
	struct mx_maps m;
	uint32_t r, feats;
	int mode = -1;

	if (!mx_pin_dir_loaded(pin_dir) || mx_maps_open(pin_dir, &m))
		return -1;
	feats = mx_features_read(&m);
	for (r = 1; r < MX_MAX_IFACES; r++) {
		struct mx_iface row;

		if (bpf_map_lookup_elem(m.ifaces, &r, &row) == 0 && row.ifindex) {
			mode = (feats & MX_FEAT_GATEWAY) || row.role != MX_ROLE_LOCAL;
			break;
		}
	}
	mx_maps_close(&m);
	return mode;
}

/* Gateway mode's programs: the flow sweep in the kernel (a bpf_timer
 * calling bpf_for_each_map_elem) where the kernel allows it, else run by
 * the daemon, else off (probed by loading; MXLIMIT_DISABLE=gw_timer,
 * gw_sweep forces the fallbacks).  Returns the MX_FEAT_GW_* bit in use
 * (0: off) and the skeleton in *core. */
static uint32_t gw_core_load(const char *pin_dir, const struct mx_map_sizes *sz,
			     struct mxlimit **core)
{
	bool no_timer = mx_feature_disabled(MX_FEAT_GW_TIMER);
	bool no_sweep = mx_feature_disabled(MX_FEAT_GW_DAEMON);

	if (!no_timer) {
		char why[128] = "the programs do not load";

		*core = mx_skel_load(pin_dir, sz, MX_PROGS_GW_ARM | MX_PROGS_GW_RUN, 0);
		if (*core && mx_gw_sweep_arm(*core, why, sizeof(why)) == 0)
			return MX_FEAT_GW_TIMER;
		if (*core)
			mx_skel_destroy(*core);
		mx_warn("the kernel refuses the in-kernel flow sweep (bpf_timer: %s); "
			"`mxlimit daemon` must run to expire flows that lose their FIN", why);
	}
	if (!no_sweep) {
		*core = mx_skel_load(pin_dir, sz, MX_PROGS_GW_RUN, 0);
		if (*core && mx_gw_sweep_run(*core) >= 0)
			return MX_FEAT_GW_DAEMON;
		if (*core)
			mx_skel_destroy(*core);
		mx_warn("the kernel refuses the flow sweep program: flows that lose their "
			"FIN and RST stay counted (`mxlimit doctor`)");
	} else {
		mx_warn("the flow sweep is off (MXLIMIT_DISABLE=gw_sweep): flows that lose their "
			"FIN and RST stay counted");
	}
	*core = mx_skel_load(pin_dir, sz, 0, 0);
	return 0;
}

/* The saved blocks and blocklists restored, and what load did: both
 * modes. */
static int load_report(const struct mx_global *g, const char *path, const struct mx_compiled *c,
		       const char *state, const char *bl_dir, const char **ifaces, int n_if,
		       const char **srv_ifaces, int n_srv)
{
	struct mx_maps m;
	int i, restored, bl_restored;

	if (mx_maps_open(g->pin_dir, &m))
		return MX_EXIT_FAIL;
	restored = mx_state_restore(&m, state);
	bl_restored = mx_bl_restore(&m, g->pin_dir, bl_dir);
	for (i = 0; i < n_if + n_srv; i++) {
		const char *name = i < n_if ? ifaces[i] : srv_ifaces[i - n_if];
		uint32_t r;

		if (!name)
			continue;
		for (r = 1; r < MX_MAX_IFACES; r++) {
			struct mx_iface row;

			if (bpf_map_lookup_elem(m.ifaces, &r, &row) == 0 && row.ifindex &&
			    !strncmp(row.name, name, sizeof(row.name)) &&
			    row.netns == mx_self_netns())
				mx_info("attached to %s (%s%s mode, program id %u)", name,
					row.role == MX_ROLE_CLIENT   ? "clients' side, "
					: row.role == MX_ROLE_SERVER ? "servers' side, "
								     : "",
					mx_mode_name(row.mode), row.prog_id);
		}
	}
	if (restored > 0)
		mx_info("restored %d blocks and penalties from %s", restored, state);
	if (bl_restored > 0)
		mx_info("installed %d saved blocklists from %s", bl_restored, bl_dir);
	else if (bl_restored < 0)
		mx_warn("the blocklists saved in %s were not installed (see above; "
			"`mxlimit blocklist load` them again)", bl_dir);
	mx_info("policy %s applied: %zu prefixes", path, c->n_rules);
	mx_maps_close(&m);
	return MX_EXIT_OK;
}

/* Gateway mode: no socket-state program (no local sockets count), XDP in
 * the client role on -i and the server role on --servers-on, the flow
 * sweep. */
static int load_gateway(const struct mx_global *g, const struct mx_map_sizes *sz,
			const struct mx_compiled *c, const char **ifaces, int n_if,
			const char **srv_ifaces, int n_srv, const struct mx_attach_opts *ao0)
{
	struct mx_attach_opts ao = *ao0;
	struct mxlimit *core = NULL;
	struct mx_maps m;
	uint32_t sweep;
	int i, rc = MX_EXIT_FAIL;

	mx_maps_init(&m);
	sweep = gw_core_load(g->pin_dir, sz, &core);
	if (!core)
		return MX_EXIT_FAIL;
	mx_skel_maps(core, &m);
	if (mx_policy_apply(&m, c))
		goto out;
	/* the mode first: status and the daemon read it */
	if (mx_features_record(&m, MX_FEAT_KNOWN | MX_FEAT_GATEWAY | sweep))
		mx_warn("cannot record the features in use: %s", strerror(errno));
	ao.role = MX_ROLE_SERVER;
	for (i = 0; i < n_srv; i++)
		if (mx_xdp_attach(g->pin_dir, sz, srv_ifaces[i], &ao))
			goto out;
	ao.role = MX_ROLE_CLIENT;
	for (i = 0; i < n_if; i++)
		if (mx_xdp_attach(g->pin_dir, sz, ifaces[i], &ao))
			goto out;
	mx_info("gateway mode: flow sweep %s", mx_feature_gw_sweep(MX_FEAT_GATEWAY | sweep));
	rc = MX_EXIT_OK;
out:
	mx_maps_close(&m);
	mx_skel_destroy(core);
	return rc;
}

int cmd_load(int argc, char **argv, const struct mx_global *g)
{
	static const struct option opts[] = {
		{ "interface", required_argument, 0, 'i' }, { "config", required_argument, 0, 'c' },
		{ "mode", required_argument, 0, 'm' },      { "force", no_argument, 0, 'f' },
		{ "state", required_argument, 0, 's' },     { "help", no_argument, 0, 'h' },
		{ "gateway", no_argument, 0, 'G' },         { "servers-on", required_argument, 0, 'S' },
		{ "blocklist-dir", required_argument, 0, 'b' }, { 0, 0, 0, 0 },
	};
	const char *bl_dir = NULL;
	const char *ifaces[MAX_IFACES_ARG], *cfg = NULL, *state = MX_DEFAULT_STATE;
	const char *srv_ifaces[MAX_IFACES_ARG];
	int n_srv = 0, gateway = 0, j;
	struct mx_attach_opts ao = { .mode = MX_MODE_AUTO };
	char path[PATH_MAX];
	struct mx_policy pol;
	struct mx_compiled c;
	struct mx_map_sizes sz;
	struct mxlimit *core = NULL;
	struct mx_maps m;
	int n_if = 0, opt, rc, i;
	uint32_t feats, seeded_by = 0;

	mx_maps_init(&m);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "i:c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (add_iface(ifaces, &n_if, optarg))
				return MX_EXIT_USAGE;
			break;
		case 'c': cfg = optarg; break;
		case 'm':
			if (parse_mode(optarg, &ao.mode)) {
				mx_err("--mode takes auto, native or generic, not \"%s\"", optarg);
				return MX_EXIT_USAGE;
			}
			break;
		case 'f': ao.force = true; break;
		case 's': state = optarg; break;
		case 'G': gateway = 1; break;
		case 'S':
			if (add_iface(srv_ifaces, &n_srv, optarg))
				return MX_EXIT_USAGE;
			break;
		case 'b': bl_dir = optarg; break;
		case 'h': fputs(load_help, stdout); return MX_EXIT_OK;
		default: fputs(load_help, stderr); return MX_EXIT_USAGE;
		}
	}
	if (optind < argc || n_if == 0) {
		mx_err(n_if ? "unexpected argument \"%s\"" : "load needs at least one -i IFACE%s",
		       n_if ? argv[optind] : "");
		return MX_EXIT_USAGE;
	}
	if (n_srv && !gateway) {
		mx_err("--servers-on is for gateway mode (--gateway)");
		return MX_EXIT_USAGE;
	}
	if (gateway && !n_srv) {
		mx_err("gateway mode needs at least one --servers-on IFACE (towards the mail servers)");
		return MX_EXIT_USAGE;
	}
	for (i = 0; i < n_if; i++)
		for (j = 0; j < n_srv; j++)
			if (!strcmp(ifaces[i], srv_ifaces[j])) {
				mx_err("%s is given both as client-facing (-i) and server-facing "
				       "(--servers-on); gateway mode needs them apart", ifaces[i]);
				return MX_EXIT_USAGE;
			}
	if (cfg)
		snprintf(path, sizeof(path), "%s", cfg);
	else
		mx_policy_applied_path(g->pin_dir, path, sizeof(path));
	rc = mx_policy_read_file(path, &pol, &c);
	if (rc)
		return rc;
	rc = MX_EXIT_FAIL;
	if (gateway && !pol.n_servers) {
		mx_err("%s: gateway mode needs [main] servers = PREFIX, ... (the protected mail "
		       "servers' addresses)", path);
		rc = MX_EXIT_USAGE;
		goto out;
	}
	{
		int was = loaded_mode(g->pin_dir);

		if (was >= 0 && was != gateway) {
			mx_err("%s is loaded in %s mode; `mxlimit unload --all` before loading in "
			       "%s mode", g->pin_dir, was ? "gateway" : "local",
			       gateway ? "gateway" : "local");
			rc = MX_EXIT_USAGE;
			goto out;
		}
	}
	mx_map_sizes_from_policy(&pol, &sz);
	if (mx_pin_dir_prepare(g->pin_dir))
		goto out;
	if (gateway) {
		rc = load_gateway(g, &sz, &c, ifaces, n_if, srv_ifaces, n_srv, &ao);
		if (!rc) {
			mx_policy_remember(g->pin_dir, path);
			rc = load_report(g, path, &c, state, mx_bl_dir(bl_dir), ifaces, n_if,
					 srv_ifaces, n_srv);
		}
		goto out;
	}
	core = mx_skel_load(g->pin_dir, &sz, MX_PROGS_SOCK, 0);
	if (!core)
		goto out;
	mx_skel_maps(core, &m);
	if (mx_policy_apply(&m, &c) || mx_sock_attach(core, g->pin_dir))
		goto out;
	mx_policy_remember(g->pin_dir, path);
	for (i = 0; i < n_if; i++)
		if (mx_xdp_attach(g->pin_dir, &sz, ifaces[i], &ao))
			goto out;
	/* count what exists, and count down records of connections that
	 * closed while nothing was watching or whose close was missed */
	feats = mx_skel_features(core);
	if (feats & MX_FEAT_SWEEP) {
		if (mx_sock_sweep(core, &m, &seeded_by) < 0 && seeded_by)
			feats &= ~MX_FEAT_SWEEP;
	} else {
		int by = mx_sock_seed(core);

		seeded_by = by > 0 ? (uint32_t)by : 0;
	}
	if (!seeded_by && (feats & (MX_FEAT_SEED_ITER | MX_FEAT_SEED_DIAG)))
		mx_warn("seeding failed: %s", mx_feature_loss("seed"));
	/* what status shows: the seeding that worked; the sweep only with it
	 * (it marks the live connections through the seeding pass) */
	feats = (feats & ~(MX_FEAT_SEED_ITER | MX_FEAT_SEED_DIAG)) | seeded_by;
	if (!seeded_by)
		feats &= ~MX_FEAT_SWEEP;
	if (mx_features_record(&m, feats))
		mx_warn("cannot record the features in use: %s", strerror(errno));
	rc = load_report(g, path, &c, state, mx_bl_dir(bl_dir), ifaces, n_if, NULL, 0);
out:
	mx_maps_close(&m);
	if (core)
		mx_skel_destroy(core);
	mx_compiled_free(&c);
	mx_policy_free(&pol);
	return rc;
}

static const char unload_help[] =
	"Usage: mxlimit unload [-i IFACE...] [--all]\n\n"
	"Detach mxlimit from the given interfaces, or from every interface of this\n"
	"network namespace when none is given.  Counters, blocks and the policy stay\n"
	"pinned for the next load.  --all also detaches the socket-state program and\n"
	"removes every pin (all state is lost).\n";

int cmd_unload(int argc, char **argv, const struct mx_global *g)
{
	static const struct option opts[] = {
		{ "interface", required_argument, 0, 'i' }, { "all", no_argument, 0, 'a' },
		{ "help", no_argument, 0, 'h' },            { 0, 0, 0, 0 },
	};
	const char *ifaces[MAX_IFACES_ARG];
	int n_if = 0, all = 0, opt, rc = MX_EXIT_OK, i;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "i:ah", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (add_iface(ifaces, &n_if, optarg))
				return MX_EXIT_USAGE;
			break;
		case 'a': all = 1; break;
		case 'h': fputs(unload_help, stdout); return MX_EXIT_OK;
		default: fputs(unload_help, stderr); return MX_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		mx_err("unexpected argument \"%s\"", argv[optind]);
		return MX_EXIT_USAGE;
	}
	if (all) {
		if (!mx_pin_dir_loaded(g->pin_dir) && access(g->pin_dir, F_OK)) {
			mx_info("nothing loaded at %s", g->pin_dir);
			return MX_EXIT_OK;
		}
		return mx_unload_all(g->pin_dir) ? MX_EXIT_FAIL : MX_EXIT_OK;
	}
	if (n_if == 0) {
		struct mx_maps m;
		uint32_t r, netns = mx_self_netns();

		if (mx_maps_open(g->pin_dir, &m))
			return MX_EXIT_FAIL;
		for (r = 1; r < MX_MAX_IFACES; r++) {
			struct mx_iface row;

			if (bpf_map_lookup_elem(m.ifaces, &r, &row) || !row.ifindex || row.netns != netns)
				continue;
			if (n_if < MAX_IFACES_ARG && (ifaces[n_if] = strdup(row.name)))
				n_if++;
		}
		mx_maps_close(&m);
		for (i = 0; i < n_if; i++) {
			if (mx_xdp_detach(g->pin_dir, ifaces[i]))
				rc = MX_EXIT_FAIL;
			free((char *)ifaces[i]);
		}
		return rc;
	}
	for (i = 0; i < n_if; i++)
		if (mx_xdp_detach(g->pin_dir, ifaces[i]))
			rc = MX_EXIT_FAIL;
	return rc;
}

static const char reload_help[] =
	"Usage: mxlimit reload [-c FILE]\n\n"
	"Re-read the policy and swap it in atomically: the datapath sees the old\n"
	"policy or the new one, never neither, and every counter is kept.  On any\n"
	"error nothing changes.\n\n"
	"  -c, --config FILE  policy (default: the file last applied)\n";

int cmd_reload(int argc, char **argv, const struct mx_global *g)
{
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	char path[PATH_MAX];
	const char *cfg = NULL;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': cfg = optarg; break;
		case 'h': fputs(reload_help, stdout); return MX_EXIT_OK;
		default: fputs(reload_help, stderr); return MX_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		mx_err("unexpected argument \"%s\"", argv[optind]);
		return MX_EXIT_USAGE;
	}
	if (cfg)
		snprintf(path, sizeof(path), "%s", cfg);
	else
		mx_policy_applied_path(g->pin_dir, path, sizeof(path));
	rc = mx_policy_apply_file(g->pin_dir, path);
	if (!rc)
		mx_info("policy %s applied", path);
	else
		mx_err("policy unchanged");
	return rc;
}

static const char check_help[] =
	"Usage: mxlimit check -c FILE\n\n"
	"Validate a policy file and print it compiled (the kernel's prefixes and\n"
	"limits, the proxy's sections) on stdout, like `nginx -t`.  Touches no pins.\n"
	"Exit 0 when valid, 2 with FILE:LINE messages when not.\n";

int cmd_check(int argc, char **argv, const struct mx_global *g)
{
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *cfg = NULL;
	struct mx_policy pol;
	struct mx_compiled c;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': cfg = optarg; break;
		case 'h': fputs(check_help, stdout); return MX_EXIT_OK;
		default: fputs(check_help, stderr); return MX_EXIT_USAGE;
		}
	}
	if (!cfg && optind < argc)
		cfg = argv[optind++];
	if (!cfg || optind < argc) {
		mx_err(cfg ? "unexpected argument \"%s\"" : "check needs -c FILE%s",
		       cfg ? argv[optind] : "");
		return MX_EXIT_USAGE;
	}
	rc = mx_policy_read_file(cfg, &pol, &c);
	if (rc)
		return rc;
	mx_policy_print(&pol, &c, g->json, stdout);
	mx_compiled_free(&c);
	mx_policy_free(&pol);
	return MX_EXIT_OK;
}
