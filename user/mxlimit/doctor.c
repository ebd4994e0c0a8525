// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * doctor.c - `mxlimit doctor`: does this kernel have what mxlimit needs?
 *
 * Every check probes the running kernel directly (a trivial program
 * loaded and closed, map types created and closed, BTF read, and each of
 * mxlimit's own programs loaded alone as `load` loads it), and the
 * kernel config is read from /proc/config.gz (zlib) or /boot/config-REL
 * when present, to name the missing option in plain words.  Nothing is
 * attached anywhere: for an interface (-i) the driver is read with the
 * ethtool ioctl and the XDP features the kernel reports over generic netlink
 * (libnl-genl).
 *
 * A check is ok, info (reported, not judged), warn (works, worse or
 * partly), or fail (mxlimit cannot run).  Exit 0 without fails, else 1.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <zlib.h>

#include "cli.h"
#include "json.h"
#include "loader.h"
#include "log.h"

/* The oldest kernel mxlimit supports: tp_btf on inet_sock_set_state,
 * iter/tcp, bpf_get_socket_cookie from tracing programs, bpf_xdp links. */
#define DR_MIN_MAJOR 5
#define DR_MIN_MINOR 15
#define DR_MAX_CHECKS 64
#define DR_MAX_IFACES 8

/* The netdev generic netlink family (include/uapi/linux/netdev.h, 6.3+);
 * the headers of older distributions lack it, the numbers are ABI. */
#define DR_NETDEV_FAMILY "netdev"
#define DR_NETDEV_CMD_DEV_GET 1
#define DR_NETDEV_A_DEV_IFINDEX 1
#define DR_NETDEV_A_DEV_XDP_FEATURES 3
#define DR_XDP_ACT_BASIC (1u << 0)    /* DROP, PASS, TX, ABORTED in the driver */
#define DR_XDP_ACT_REDIRECT (1u << 1)

enum dr_status { DR_OK, DR_INFO, DR_WARN, DR_FAIL };

struct dr_check {
	char name[32];
	enum dr_status st;
	char detail[256];
	char fix[256];
};

struct dr {
	struct dr_check c[DR_MAX_CHECKS];
	int n;
	struct btf *btf;
	/* kernel config: NULL when not available */
	char *config;
	char config_src[160];
};

static const char *const st_word[] = { "ok", "info", "warn", "FAIL" };
static const char *const st_json[] = { "ok", "info", "warn", "fail" };

__attribute__((format(printf, 4, 5)))
static struct dr_check *add(struct dr *d, const char *name, enum dr_status st, const char *fmt,
			    ...)
{
	struct dr_check *c;
	va_list ap;

	if (d->n == DR_MAX_CHECKS)
		return &d->c[DR_MAX_CHECKS - 1];
	c = &d->c[d->n++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->st = st;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	c->fix[0] = '\0';
	return c;
}

#define FIX(c, ...) snprintf((c)->fix, sizeof((c)->fix), __VA_ARGS__)

/* ---- kernel version, privileges ---- */

static void check_kernel(struct dr *d, const char *release)
{
	int major = 0, minor = 0;
	struct dr_check *c;

	sscanf(release, "%d.%d", &major, &minor);
	if (major > DR_MIN_MAJOR || (major == DR_MIN_MAJOR && minor >= DR_MIN_MINOR)) {
		add(d, "kernel", DR_OK, "Linux %s (%d.%d or later needed)", release, DR_MIN_MAJOR,
		    DR_MIN_MINOR);
		return;
	}
	c = add(d, "kernel", DR_FAIL, "Linux %s is older than %d.%d", release, DR_MIN_MAJOR,
		DR_MIN_MINOR);
	FIX(c, "boot a %d.%d or later kernel (Debian 12 ships 6.1)", DR_MIN_MAJOR, DR_MIN_MINOR);
}

static void check_root(struct dr *d)
{
	struct dr_check *c;

	if (geteuid() == 0) {
		add(d, "privileges", DR_OK, "running as root");
		return;
	}
	c = add(d, "privileges", DR_WARN, "not root: the load probes below may fail for that "
		"reason alone");
	FIX(c, "run `mxlimit doctor` (and mxlimit) as root, or with CAP_BPF, CAP_NET_ADMIN, "
	    "CAP_PERFMON and CAP_SYS_RESOURCE");
}

/* ---- BTF, bpffs ---- */

static void check_btf(struct dr *d)
{
	struct dr_check *c;

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		c = add(d, "btf", DR_FAIL, "/sys/kernel/btf/vmlinux is missing: the kernel carries no "
			"type information");
		FIX(c, "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels "
		    "are); mxlimit's programs need it for CO-RE and the socket-state tracepoint");
		return;
	}
	d->btf = btf__load_vmlinux_btf();
	if (!d->btf) {
		c = add(d, "btf", DR_FAIL, "/sys/kernel/btf/vmlinux cannot be read: %s",
			strerror(errno));
		FIX(c, "run as root");
		return;
	}
	add(d, "btf", DR_OK, "/sys/kernel/btf/vmlinux (%u types)", btf__type_cnt(d->btf));
}

static void check_bpffs(struct dr *d, const char *pin_dir)
{
	struct statfs st;
	struct dr_check *c;
	FILE *f;
	char line[128];
	bool known = false;

	if (statfs(MX_BPFFS, &st) == 0 && st.f_type == BPF_FS_MAGIC) {
		if (statfs(pin_dir, &st) == 0 && st.f_type != BPF_FS_MAGIC) {
			c = add(d, "bpffs", DR_FAIL, "bpffs is mounted on %s, but the pin dir %s is "
				"not on it", MX_BPFFS, pin_dir);
			FIX(c, "choose a --pin-dir under %s", MX_BPFFS);
			return;
		}
		add(d, "bpffs", DR_OK, "mounted on %s", MX_BPFFS);
		return;
	}
	f = fopen("/proc/filesystems", "r");
	while (f && fgets(line, sizeof(line), f))
		known = known || strstr(line, "\tbpf\n");
	if (f)
		fclose(f);
	if (known) {
		add(d, "bpffs", DR_WARN, "not mounted on %s (`mxlimit load` mounts it)", MX_BPFFS);
		return;
	}
	c = add(d, "bpffs", DR_FAIL, "the kernel has no bpf filesystem: maps cannot be pinned");
	FIX(c, "use a kernel with CONFIG_BPF_SYSCALL=y");
}

/* ---- loading programs and maps ---- */

static void check_prog_load(struct dr *d)
{
	struct bpf_insn insns[2];
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	struct dr_check *c;
	int fd;

	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = XDP_PASS */
	insns[0].imm = XDP_PASS;
	insns[1].code = BPF_JMP | BPF_EXIT;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "mx_doctor", "GPL", insns, 2, NULL);
	if (fd < 0) {
		int e = errno;

		c = add(d, "bpf_load", DR_FAIL, "cannot load a trivial XDP program: %s", strerror(e));
		if (e == EPERM || e == EACCES)
			FIX(c, "run as root (CAP_BPF and CAP_NET_ADMIN); check "
			    "kernel.unprivileged_bpf_disabled and any LSM policy");
		else if (e == ENOSYS)
			FIX(c, "use a kernel with CONFIG_BPF_SYSCALL=y");
		else
			FIX(c, "see dmesg; MXLIMIT_DEBUG=1 mxlimit load shows libbpf's log");
		return;
	}
	add(d, "bpf_load", DR_OK, "the kernel loads XDP programs");
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.jited_prog_len) {
		add(d, "bpf_jit", DR_OK, "programs are JIT-compiled");
	} else {
		c = add(d, "bpf_jit", DR_WARN, "the BPF JIT is off: programs run interpreted, "
			"several times slower");
		FIX(c, "sysctl -w net.core.bpf_jit_enable=1 (needs CONFIG_BPF_JIT=y)");
	}
	close(fd);
}

static void check_maps(struct dr *d)
{
	static const struct {
		enum bpf_map_type t;
		const char *name;
	} need[] = {
		{ BPF_MAP_TYPE_HASH, "hash" },
		{ BPF_MAP_TYPE_ARRAY, "array" },
		{ BPF_MAP_TYPE_PERCPU_ARRAY, "percpu_array" },
		{ BPF_MAP_TYPE_LRU_HASH, "lru_hash" },
		{ BPF_MAP_TYPE_LPM_TRIE, "lpm_trie" },
	};
	char missing[128] = "";
	struct dr_check *c;
	size_t i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (libbpf_probe_bpf_map_type(need[i].t, NULL) != 1)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), " %s",
				 need[i].name);
	}
	if (!missing[0]) {
		add(d, "map_types", DR_OK, "hash, array, percpu_array, lru_hash, lpm_trie");
		return;
	}
	c = add(d, "map_types", DR_FAIL, "map types not available:%s", missing);
	FIX(c, "use a %d.%d or later kernel, as root", DR_MIN_MAJOR, DR_MIN_MINOR);
}

/* ---- the socket-state programs ---- */

static bool btf_has(struct dr *d, const char *name, __u32 kind)
{
	return d->btf && btf__find_by_name_kind(d->btf, name, kind) >= 0;
}

static void check_tracepoint(struct dr *d)
{
	static const char *const tracefs[] = {
		"/sys/kernel/tracing/events/sock/inet_sock_set_state",
		"/sys/kernel/debug/tracing/events/sock/inet_sock_set_state",
	};
	bool in_fs = access(tracefs[0], F_OK) == 0 || access(tracefs[1], F_OK) == 0;
	struct dr_check *c;

	if (btf_has(d, "btf_trace_inet_sock_set_state", BTF_KIND_TYPEDEF)) {
		add(d, "sock_tracepoint", DR_OK, "sock/inet_sock_set_state, typed (tp_btf)");
		return;
	}
	if (in_fs && !d->btf) {
		c = add(d, "sock_tracepoint", DR_FAIL, "sock/inet_sock_set_state exists, but without "
			"BTF the typed (tp_btf) program cannot attach");
		FIX(c, "see \"btf\" above");
		return;
	}
	c = add(d, "sock_tracepoint", DR_FAIL, "no sock/inet_sock_set_state tracepoint: "
		"connections cannot be counted");
	FIX(c, "use a %d.%d or later kernel with CONFIG_BPF_EVENTS=y", DR_MIN_MAJOR, DR_MIN_MINOR);
}

/*
 * mxlimit's own programs, each loaded alone exactly as `load` loads it
 * (features.c, the code `load` uses), then the implementation each
 * mechanism would use.  The iter/tcp type in BTF is not enough: a kernel
 * may have it and still refuse the program (lockdown, an LSM, a build).
 */
static void check_programs(struct dr *d, struct mx_features *f)
{
	char why[160];
	struct dr_check *c;
	int i;

	mx_features_probe(f, true);
	for (i = 0; i < MX_N_PROGS; i++) {
		const struct mx_prog_probe *pp = &f->p[i];
		char name[32];

		snprintf(name, sizeof(name), "prog %s", pp->prog);
		mx_probe_why(pp, why, sizeof(why));
		if (pp->disabled) {
			add(d, name, DR_INFO, "%s (%s): %s", pp->kind, pp->mech, why);
		} else if (!pp->err) {
			add(d, name, DR_OK, "%s loads (%s: %s)", pp->kind, pp->mech, pp->impl);
		} else if (pp->essential) {
			c = add(d, name, DR_FAIL, "%s %s: %s cannot work", pp->kind, why, pp->mech);
			FIX(c, "MXLIMIT_DEBUG=1 mxlimit doctor shows the verifier's log; check "
			    "lockdown (/sys/kernel/security/lockdown) and LSM policies");
		} else {
			add(d, name, DR_WARN, "%s %s (%s falls back)", pp->kind, why, pp->mech);
		}
	}
	if (f->bits & MX_FEAT_SEED_ITER) {
		add(d, "seed", DR_OK, "iter_tcp: connections open at load are counted");
	} else if (f->bits & MX_FEAT_SEED_DIAG) {
		add(d, "seed", DR_WARN, "sock_diag (fallback): connections open at load are "
		    "counted from a sock_diag dump; one closing during the dump stays counted "
		    "until the next sweep");
	} else {
		c = add(d, "seed", DR_WARN, "off: %s", mx_feature_loss("seed"));
		FIX(c, "see the programs above");
	}
	if (f->bits & MX_FEAT_SWEEP) {
		add(d, "sweep", DR_OK, "syscall: lost closes are counted down every 10 s by the "
		    "daemon and at load");
	} else {
		c = add(d, "sweep", DR_WARN, "off: %s", mx_feature_loss("sweep"));
		FIX(c, "see the programs above");
	}
}

/* ---- gateway mode's flow sweep ---- */

/* Gateway mode expires flows in the kernel (a bpf_timer whose callback
 * walks the flow table), else from the daemon (the same sweep run once
 * with BPF_PROG_TEST_RUN), else not at all: loaded alone, as `load
 * --gateway` loads them. */
static void check_gateway(struct dr *d)
{
	int arm = mx_probe_prog("mx_gw_gc_arm");
	int run = mx_probe_prog("mx_gw_gc_run");
	struct dr_check *c;

	if (!arm) {
		add(d, "gateway_sweep", DR_OK, "timer: gateway mode expires flows in the kernel "
		    "(bpf_timer calling bpf_for_each_map_elem), no daemon needed");
	} else if (!run) {
		c = add(d, "gateway_sweep", DR_WARN, "daemon (fallback): the in-kernel timer is "
			"refused (%s); in gateway mode flows that lose their FIN expire only while "
			"`mxlimit daemon` runs", strerror(-arm));
		FIX(c, "run mxlimit daemon with gateway mode (local mode does not need it)");
	} else {
		c = add(d, "gateway_sweep", DR_WARN, "off: the flow sweep is refused (%s); in gateway "
			"mode flows that lose their FIN and RST stay counted (local mode is "
			"unaffected)", strerror(-run));
		FIX(c, "MXLIMIT_DEBUG=1 mxlimit doctor shows the verifier's log");
	}
}

/* ---- the kernel config ---- */

/* Read /proc/config.gz, else /boot/config-REL (gzread takes plain text too). */
static void config_read(struct dr *d, const char *release)
{
	char path[128];
	const char *src = "/proc/config.gz";
	size_t cap = 1 << 16, len = 0;
	gzFile gz;
	int n;

	gz = gzopen(src, "rb");
	if (!gz) {
		snprintf(path, sizeof(path), "/boot/config-%s", release);
		src = path;
		gz = gzopen(src, "rb");
	}
	if (!gz)
		return;
	d->config = malloc(cap + 1);
	while (d->config && (n = gzread(gz, d->config + len, (unsigned)(cap - len))) > 0) {
		len += (size_t)n;
		if (len == cap) {
			char *nb = cap < (64u << 20) ? realloc(d->config, cap * 2 + 1) : NULL;

			if (!nb)
				break;
			d->config = nb;
			cap *= 2;
		}
	}
	gzclose(gz);
	if (d->config)
		d->config[len] = '\0';
	snprintf(d->config_src, sizeof(d->config_src), "%s", src);
}

/* "y", "m", ... or NULL when not set (or no config). */
static const char *config_value(const struct dr *d, const char *key)
{
	static char val[32];
	const char *p = d->config;
	size_t klen = strlen(key);

	while (p && (p = strstr(p, key))) {
		if ((p == d->config || p[-1] == '\n') && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, "\n");

			snprintf(val, sizeof(val), "%.*s", (int)(n < sizeof(val) ? n : sizeof(val) - 1),
				 p + klen + 1);
			return val;
		}
		p += klen;
	}
	return NULL;
}

static void check_config(struct dr *d, const char *release)
{
	static const struct {
		const char *key;
		enum dr_status if_missing;
		const char *why;
	} opts[] = {
		{ "CONFIG_BPF_SYSCALL", DR_FAIL, "the bpf() system call" },
		{ "CONFIG_DEBUG_INFO_BTF", DR_FAIL, "kernel type information (CO-RE, tp_btf)" },
		{ "CONFIG_BPF_EVENTS", DR_FAIL, "BPF programs on tracepoints (connection counting)" },
		{ "CONFIG_BPF_JIT", DR_WARN, "the BPF JIT (speed)" },
		{ "CONFIG_XDP_SOCKETS", DR_INFO, "AF_XDP sockets (not used by mxlimit)" },
	};
	struct dr_check *c;
	size_t i;

	config_read(d, release);
	if (!d->config) {
		add(d, "kernel_config", DR_INFO, "not available (no /proc/config.gz, no "
		    "/boot/config-%s): the checks above probed the kernel directly", release);
		return;
	}
	add(d, "kernel_config", DR_OK, "read from %s", d->config_src);
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const char *v = config_value(d, opts[i].key);

		if (v && (!strcmp(v, "y") || !strcmp(v, "m"))) {
			add(d, opts[i].key, DR_OK, "=%s: %s", v, opts[i].why);
			continue;
		}
		c = add(d, opts[i].key, opts[i].if_missing, "not set: %s", opts[i].why);
		if (opts[i].if_missing != DR_INFO)
			FIX(c, "rebuild the kernel with %s=y", opts[i].key);
	}
}

/* ---- an interface: driver and XDP features, nothing attached ---- */

static int ethtool_driver(const char *ifname, char *drv, size_t len)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	rc = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	if (rc)
		return -1;
	snprintf(drv, len, "%s", info.driver);
	return 0;
}

/* One netdev DEV_GET reply: its XDP features attribute. */
struct xdp_feat_reply {
	uint64_t feat;
	bool found;
};

static int on_netdev_dev(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[DR_NETDEV_A_DEV_XDP_FEATURES + 1];
	struct xdp_feat_reply *r = arg;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, DR_NETDEV_A_DEV_XDP_FEATURES, NULL) < 0)
		return NL_SKIP;
	if (tb[DR_NETDEV_A_DEV_XDP_FEATURES] &&
	    nla_len(tb[DR_NETDEV_A_DEV_XDP_FEATURES]) >= (int)sizeof(uint64_t)) {
		r->feat = nla_get_u64(tb[DR_NETDEV_A_DEV_XDP_FEATURES]);
		r->found = true;
	}
	return NL_OK;
}

/* XDP features the driver declares (kernel 6.3+, the "netdev" generic
 * netlink family, through libnl-genl).  -1 when not known. */
static int xdp_features(unsigned ifindex, uint64_t *feat)
{
	struct xdp_feat_reply r = { 0 };
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = NULL;
	int family, rc = -1;

	if (!sk)
		return -1;
	nl_socket_disable_auto_ack(sk); /* one request, one reply (or an error) */
	if (genl_connect(sk) < 0)
		goto out;
	family = genl_ctrl_resolve(sk, DR_NETDEV_FAMILY);
	if (family < 0)
		goto out; /* before 6.3: no such family */
	msg = nlmsg_alloc();
	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0,
				 DR_NETDEV_CMD_DEV_GET, 1) ||
	    nla_put_u32(msg, DR_NETDEV_A_DEV_IFINDEX, ifindex) < 0)
		goto out;
	if (nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_netdev_dev, &r) < 0 ||
	    nl_send_auto(sk, msg) < 0 || nl_recvmsgs_default(sk) < 0)
		goto out;
	if (r.found) {
		*feat = r.feat;
		rc = 0;
	}
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return rc;
}

/* Drivers with native XDP in mainline (for kernels before 6.3, which do
 * not report features). */
static bool known_native(const char *drv)
{
	static const char *const list[] = {
		"mlx4_en", "mlx5_core", "i40e", "ice", "ixgbe", "ixgbevf", "igb", "igc", "bnxt_en",
		"nfp", "qede", "virtio_net", "veth", "tun", "ena", "sfc", "efx", "gve", "hv_netvsc",
		"xen-netfront", "netsec", "mvneta", "mvpp2", "dpaa2-eth", "dpaa_eth", "enetc", "fec",
		"stmmac", "st_gmac", "atlantic", "bonding", "thunder-nicvf", "octeontx2-nicpf",
		"cpsw", "lan966x-switch", "mtk_soc_eth", "idpf", "iavf", "txgbe", "ngbe", "fbnic",
	};
	size_t i;

	for (i = 0; i < sizeof(list) / sizeof(list[0]); i++)
		if (!strcmp(drv, list[i]))
			return true;
	return false;
}

static void check_iface(struct dr *d, const char *ifname)
{
	unsigned ifindex = if_nametoindex(ifname);
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char name[48], drv[32] = "";
	uint64_t feat = 0;
	struct dr_check *c;

	snprintf(name, sizeof(name), "xdp:%s", ifname);
	if (!ifindex) {
		c = add(d, name, DR_FAIL, "no interface %s in this network namespace", ifname);
		FIX(c, "check the name with `ip link`");
		return;
	}
	if (ethtool_driver(ifname, drv, sizeof(drv)))
		snprintf(drv, sizeof(drv), "unknown");
	if (xdp_features(ifindex, &feat) == 0) {
		if (feat & DR_XDP_ACT_BASIC) {
			add(d, name, DR_OK, "driver %s runs XDP natively (drop, pass, tx%s)", drv,
			    feat & DR_XDP_ACT_REDIRECT ? ", redirect" : "");
		} else {
			c = add(d, name, DR_WARN, "driver %s has no native XDP: generic (skb) mode "
				"works, at a higher cost per packet", drv);
			FIX(c, "`mxlimit load --mode auto` (the default) falls back to generic");
		}
	} else if (known_native(drv)) {
		add(d, name, DR_OK, "driver %s is known to run XDP natively", drv);
	} else {
		c = add(d, name, DR_WARN, "driver %s: native XDP support unknown (this kernel does "
			"not report XDP features)", drv);
		FIX(c, "`mxlimit load --mode auto` tries native, then generic");
	}
	if (bpf_xdp_query((int)ifindex, 0, &q) == 0 && q.attach_mode != XDP_ATTACHED_NONE)
		add(d, name, DR_INFO, "an XDP program is attached now (id %u%s)",
		    q.prog_id ? q.prog_id : q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id,
		    q.attach_mode == XDP_ATTACHED_SKB ? ", generic mode" :
		    q.attach_mode == XDP_ATTACHED_DRV ? ", native mode" : "");
}

/* ---- report ---- */

static int report(struct dr *d, const char *release, bool json, const struct mx_features *f)
{
	int fails = 0, warns = 0, i;

	for (i = 0; i < d->n; i++) {
		fails += d->c[i].st == DR_FAIL;
		warns += d->c[i].st == DR_WARN;
	}
	if (json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj(&w);
		jw_kbool(&w, "ok", fails == 0);
		jw_kstr(&w, "kernel", release);
		jw_ku64(&w, "failures", (uint64_t)fails);
		jw_ku64(&w, "warnings", (uint64_t)warns);
		/* what `load` would use: the same object as status's "features" */
		jw_kobj(&w, "features");
		jw_kstr(&w, "xdp", f->p[0].err ? "off" : "xdp");
		jw_kstr(&w, "sockstate", f->p[1].err ? "off" : "tp_btf");
		jw_kstr(&w, "seed", mx_feature_seed(f->bits));
		jw_kstr(&w, "sweep", mx_feature_sweep(f->bits));
		jw_end(&w);
		jw_karr(&w, "checks");
		for (i = 0; i < d->n; i++) {
			jw_obj(&w);
			jw_kstr(&w, "name", d->c[i].name);
			jw_kstr(&w, "status", st_json[d->c[i].st]);
			jw_kstr(&w, "detail", d->c[i].detail);
			if (d->c[i].fix[0])
				jw_kstr(&w, "fix", d->c[i].fix);
			jw_end(&w);
		}
		jw_end(&w);
		jw_end(&w);
		return fails ? MX_EXIT_FAIL : MX_EXIT_OK;
	}
	printf("mxlimit doctor: Linux %s\n", release);
	for (i = 0; i < d->n; i++) {
		printf("  %-5s %-22s %s\n", st_word[d->c[i].st], d->c[i].name, d->c[i].detail);
		if (d->c[i].fix[0] && d->c[i].st >= DR_WARN)
			printf("  %-5s %-22s fix: %s\n", "", "", d->c[i].fix);
	}
	if (fails)
		printf("\n%d problem%s: mxlimit cannot run on this system until %s fixed.\n", fails,
		       fails == 1 ? "" : "s", fails == 1 ? "it is" : "they are");
	else
		printf("\neverything mxlimit needs is there%s.\n",
		       warns ? " (see the warnings above)" : "");
	return fails ? MX_EXIT_FAIL : MX_EXIT_OK;
}

static const char usage_text[] =
	"Usage: mxlimit doctor [-i IFACE]... [--json]\n\n"
	"Check the running kernel for what mxlimit needs and say what is missing in\n"
	"plain words: kernel version, BTF, bpffs, loading BPF programs and maps, the\n"
	"JIT, the socket-state tracepoint, each of mxlimit's programs loaded alone as\n"
	"`load` loads it and the implementation each mechanism would use (seed,\n"
	"sweep; MXLIMIT_DISABLE is honoured as by load), tc/clsact (gateway mode),\n"
	"and the kernel config (/proc/config.gz or /boot/config-VERSION).\n"
	"With -i, the interface's driver and whether it runs XDP natively; nothing\n"
	"is attached to it.  Exit status 0 when everything needed is there, else 1.\n\n"
	"Options:\n"
	"  -i, --interface IFACE  also check this interface (repeatable)\n"
	"      --json             one JSON object: ok, kernel, features (as in\n"
	"                         `status --json`), checks[] (name, status\n"
	"                         ok|info|warn|fail, detail, fix)\n"
	"  -h, --help             this text\n";

int cmd_doctor(int argc, char **argv, const struct mx_global *g)
{
	static const struct option opts[] = {
		{ "interface", required_argument, 0, 'i' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *ifaces[DR_MAX_IFACES];
	struct mx_features f;
	struct utsname u;
	struct dr *d;
	bool json = g->json;
	int n_if = 0, c, i, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (n_if == DR_MAX_IFACES) {
				mx_err("doctor: at most %d interfaces", DR_MAX_IFACES);
				return MX_EXIT_USAGE;
			}
			ifaces[n_if++] = optarg;
			break;
		case 'j': json = true; break;
		case 'h': fputs(usage_text, stdout); return MX_EXIT_OK;
		case ':':
			mx_err("doctor: %s needs a value", argv[optind - 1]);
			return MX_EXIT_USAGE;
		default:
			mx_err("doctor: unknown option \"%s\" (mxlimit doctor --help)", argv[optind - 1]);
			return MX_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		mx_err("doctor: unexpected argument \"%s\"", argv[optind]);
		return MX_EXIT_USAGE;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return MX_EXIT_FAIL;
	uname(&u);
	libbpf_set_print(NULL); /* probes fail on purpose; we say why ourselves */
	check_kernel(d, u.release);
	check_root(d);
	check_btf(d);
	check_bpffs(d, g->pin_dir);
	check_prog_load(d);
	check_maps(d);
	check_tracepoint(d);
	check_programs(d, &f);
	check_config(d, u.release);
	check_gateway(d);
	for (i = 0; i < n_if; i++)
		check_iface(d, ifaces[i]);
	rc = report(d, u.release, json, &f);
	btf__free(d->btf);
	free(d->config);
	free(d);
	return rc;
}
