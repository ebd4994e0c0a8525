// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * features.c - which of mxlimit's programs this kernel accepts, and the
 * implementation each mechanism uses (see loader.h, "Mechanisms").
 *
 * Kernels differ in what they allow beyond the version number: a build
 * option, lockdown, an LSM or a distribution patch can refuse one program
 * type while accepting the others (one 6.18 build refuses every
 * iter/bpf_map_elem program with EPERM before verification).  So nothing
 * is inferred from versions or from probing program *types*: each program
 * of the real object is loaded on its own, with every map created small
 * and unpinned, exactly as `load` would load it.  `load`, the daemon and
 * `doctor` all ask here, so they cannot disagree.
 */
#include "loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "log.h"
#include "mxlimit.skel.h"

/* The object's programs, in the order of struct mx_features.p. */
static const struct {
	const char *prog, *kind, *mech, *impl, *disable;
	uint32_t bit;
} roles[MX_N_PROGS] = {
	{ "mx_xdp", "xdp", "xdp", "xdp", NULL, 0 },
	{ "mx_sockstate", "tp_btf/inet_sock_set_state", "sockstate", "tp_btf", NULL, 0 },
	{ "mx_seed", "iter/tcp", "seed", "iter_tcp", "seed_iter", MX_FEAT_SEED_ITER },
	{ "mx_seed_flow", "raw_tp (test run)", "seed", "sock_diag", "seed_diag", MX_FEAT_SEED_DIAG },
	{ "mx_sweep_run", "syscall (test run)", "sweep", "syscall", "sweep", MX_FEAT_SWEEP },
};

/* MXLIMIT_DISABLE=name[,name...]: the one place it is read.  "seed" names
 * both seeding implementations.  Unknown names are reported once. */
static uint32_t disabled_bits(void)
{
	static int warned;
	const char *env = getenv("MXLIMIT_DISABLE");
	char buf[256], *tok, *save = NULL;
	uint32_t bits = 0;

	if (!env || !*env)
		return 0;
	snprintf(buf, sizeof(buf), "%s", env);
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (strcmp(tok, "seed_iter") == 0)
			bits |= MX_FEAT_SEED_ITER;
		else if (strcmp(tok, "seed_diag") == 0)
			bits |= MX_FEAT_SEED_DIAG;
		else if (strcmp(tok, "seed") == 0)
			bits |= MX_FEAT_SEED_ITER | MX_FEAT_SEED_DIAG;
		else if (strcmp(tok, "sweep") == 0)
			bits |= MX_FEAT_SWEEP;
		else if (strcmp(tok, "gw_timer") == 0)
			bits |= MX_FEAT_GW_TIMER;
		else if (strcmp(tok, "gw_sweep") == 0)
			bits |= MX_FEAT_GW_TIMER | MX_FEAT_GW_DAEMON;
		else if (strcmp(tok, "batch") == 0)
			; /* blocklist.c: no batch map operations */
		else if (!warned)
			mx_warn("MXLIMIT_DISABLE: unknown mechanism '%s' (known: seed_iter, "
				"seed_diag, seed, sweep, gw_timer, gw_sweep, batch)", tok);
	}
	warned = 1;
	return bits;
}

bool mx_feature_disabled(uint32_t bit)
{
	return (disabled_bits() & bit) != 0;
}

static struct bpf_program *find_prog(struct mxlimit *skel, const char *name)
{
	return bpf_object__find_program_by_name(skel->obj, name);
}

/* Load one program of the object alone: small, unpinned maps, nothing
 * attached, everything closed again.  0 or -errno. */
static int probe_prog(const char *name)
{
	struct bpf_program *p, *want;
	struct bpf_map *map;
	struct mxlimit *skel;
	int err;

	skel = mxlimit__open();
	if (!skel)
		return -errno;
	want = find_prog(skel, name);
	if (!want) {
		mxlimit__destroy(skel);
		return -ENOENT;
	}
	for (p = bpf_object__next_program(skel->obj, NULL); p;
	     p = bpf_object__next_program(skel->obj, p))
		bpf_program__set_autoload(p, p == want);
	for (map = bpf_object__next_map(skel->obj, NULL); map;
	     map = bpf_object__next_map(skel->obj, map)) {
		bpf_map__set_pin_path(map, NULL); /* never pin a probe */
		if (!bpf_map__is_internal(map) && bpf_map__max_entries(map) > 64)
			bpf_map__set_max_entries(map, 64);
	}
	err = mxlimit__load(skel);
	mxlimit__destroy(skel);
	return err < 0 ? err : (err > 0 ? -err : 0);
}

int mx_probe_prog(const char *name)
{
	return probe_prog(name);
}

/* The implementations usable given which programs load. */
static uint32_t usable_bits(const struct mx_features *f)
{
	uint32_t bits = MX_FEAT_KNOWN;
	int i;

	for (i = 0; i < MX_N_PROGS; i++)
		if (f->p[i].bit && f->p[i].probed && !f->p[i].err && !f->p[i].disabled)
			bits |= f->p[i].bit;
	/* the sweep marks what is alive through the seeding pass */
	if (!(bits & (MX_FEAT_SEED_ITER | MX_FEAT_SEED_DIAG)))
		bits &= ~MX_FEAT_SWEEP;
	return bits;
}

void mx_features_probe(struct mx_features *f, bool essential_too)
{
	uint32_t off = disabled_bits();
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < MX_N_PROGS; i++) {
		struct mx_prog_probe *pp = &f->p[i];

		pp->prog = roles[i].prog;
		pp->kind = roles[i].kind;
		pp->mech = roles[i].mech;
		pp->impl = roles[i].impl;
		pp->disable = roles[i].disable;
		pp->bit = roles[i].bit;
		pp->essential = !roles[i].bit;
		pp->disabled = (off & pp->bit) != 0;
		if (pp->disabled || (pp->essential && !essential_too))
			continue;
		pp->err = probe_prog(pp->prog);
		pp->probed = true;
	}
	f->bits = usable_bits(f);
}

const struct mx_features *mx_features_get(void)
{
	static struct mx_features f;
	static int done;

	if (!done) {
		mx_features_probe(&f, false);
		done = 1;
	}
	return &f;
}

const char *mx_feature_seed(uint32_t bits)
{
	if (!(bits & MX_FEAT_KNOWN))
		return "unknown";
	if (bits & MX_FEAT_SEED_ITER)
		return "iter_tcp";
	if (bits & MX_FEAT_SEED_DIAG)
		return "sock_diag";
	return "off";
}

const char *mx_feature_sweep(uint32_t bits)
{
	if (!(bits & MX_FEAT_KNOWN))
		return "unknown";
	return (bits & MX_FEAT_SWEEP) ? "syscall" : "off";
}

const char *mx_feature_loss(const char *mech)
{
	if (strcmp(mech, "seed") == 0)
		return "connections open before `load` are not counted (they cannot be counted "
		       "down either: counts stay exact, only those connections escape the limit)";
	if (strcmp(mech, "sweep") == 0)
		return "a close the kernel skips (a nested tracing run, recursion_misses) keeps "
		       "its connection counted until `unload --all`";
	return "";
}

/* Why one program is not used, in a few words. */
const char *mx_probe_why(const struct mx_prog_probe *pp, char *buf, size_t len)
{
	if (pp->disabled)
		snprintf(buf, len, "disabled by MXLIMIT_DISABLE=%s", pp->disable);
	else if (!pp->probed)
		snprintf(buf, len, "not probed");
	else if (pp->err)
		snprintf(buf, len, "refused by the kernel: %s", strerror(-pp->err));
	else
		snprintf(buf, len, "loads");
	return buf;
}

void mx_features_warn(const struct mx_features *f, uint32_t in_use)
{
	static int done;
	char why[160], why2[160];

	if (done)
		return;
	done = 1;
	/* seeding: iter_tcp (p[2]), else sock_diag (p[3]) */
	if (!(in_use & MX_FEAT_SEED_ITER)) {
		mx_probe_why(&f->p[2], why, sizeof(why));
		if (in_use & MX_FEAT_SEED_DIAG)
			mx_warn("seeding: iter/tcp %s; counting the connections open at load "
				"through sock_diag instead", why);
		else
			mx_warn("seeding off (iter/tcp %s; sock_diag: %s): %s", why,
				mx_probe_why(&f->p[3], why2, sizeof(why2)),
				mx_feature_loss("seed"));
	}
	if (!(in_use & MX_FEAT_SWEEP)) {
		if (f->p[4].disabled || (f->p[4].probed && f->p[4].err))
			mx_probe_why(&f->p[4], why, sizeof(why));
		else
			snprintf(why, sizeof(why), "needs a seeding implementation to mark the "
				 "live connections");
		mx_warn("reconciliation sweep off (%s): %s", why, mx_feature_loss("sweep"));
	}
}
