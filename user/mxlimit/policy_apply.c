// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * policy_apply.c - a policy file into loaded maps, the path remembered
 * for later reloads, and the allowlist test verdicts need: what `load`,
 * `reload` and the daemon share (they used to reach into cmd_load.c).
 */
#include "policy_apply.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cli.h" /* exit codes, run directory */
#include "log.h"

/* /run/mxlimit/policy-<pin dir with '/' as '_'> */
static void policy_memo_path(const char *pin_dir, char *buf, size_t len)
{
	char name[256];
	size_t i;

	snprintf(name, sizeof(name), "%.200s", pin_dir);
	for (i = 0; name[i]; i++)
		if (name[i] == '/')
			name[i] = '_';
	snprintf(buf, len, "%s/policy-%s", MX_RUN_DIR, name);
}

void mx_policy_applied_path(const char *pin_dir, char *buf, size_t len)
{
	char memo[PATH_MAX];
	FILE *f;

	snprintf(buf, len, "%s", MX_DEFAULT_POLICY);
	policy_memo_path(pin_dir, memo, sizeof(memo));
	f = fopen(memo, "r");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	else
		snprintf(buf, len, "%s", MX_DEFAULT_POLICY);
	fclose(f);
}

void mx_policy_remember(const char *pin_dir, const char *path)
{
	char memo[PATH_MAX], abs[PATH_MAX];
	FILE *f;

	if (!realpath(path, abs))
		snprintf(abs, sizeof(abs), "%s", path);
	mkdir(MX_RUN_DIR, 0755);
	policy_memo_path(pin_dir, memo, sizeof(memo));
	f = fopen(memo, "w");
	if (!f) {
		mx_warn("cannot remember the policy path in %s: %s", memo, strerror(errno));
		return;
	}
	fprintf(f, "%s\n", abs);
	fclose(f);
}

int mx_policy_read_file(const char *path, struct mx_policy *pol, struct mx_compiled *c)
{
	if (mx_policy_load(path, pol))
		return MX_EXIT_USAGE;
	if (mx_policy_compile(pol, c)) {
		mx_policy_free(pol);
		return MX_EXIT_USAGE;
	}
	return MX_EXIT_OK;
}

int mx_policy_apply_file(const char *pin_dir, const char *path)
{
	struct mx_policy pol;
	struct mx_compiled c;
	struct mx_maps m;
	int rc;

	rc = mx_policy_read_file(path, &pol, &c);
	if (rc)
		return rc;
	if (mx_maps_open(pin_dir, &m)) {
		rc = MX_EXIT_FAIL;
		goto out;
	}
	if ((mx_features_read(&m) & MX_FEAT_GATEWAY) && !c.n_servers) {
		mx_err("%s: loaded in gateway mode, which needs [main] servers = PREFIX, ...", path);
		rc = MX_EXIT_USAGE;
		mx_maps_close(&m);
		goto out;
	}
	rc = mx_policy_apply(&m, &c) ? MX_EXIT_FAIL : MX_EXIT_OK;
	if (!rc)
		mx_policy_remember(pin_dir, path);
	mx_maps_close(&m);
out:
	mx_compiled_free(&c);
	mx_policy_free(&pol);
	return rc;
}

bool mx_policy_allowlisted(const struct mx_maps *m, const mx_prefix *addr)
{
	struct mx_policy_key k = { .prefixlen = 32 + 128 };
	struct mx_rule r;

	if (mx_config_read(m, &(struct mx_config){ 0 }, &k.gen))
		return false;
	memcpy(k.addr, addr->addr, sizeof(k.addr));
	if (bpf_map_lookup_elem(m->policy, &k, &r))
		return false;
	return r.flags & MX_RULE_ALLOW;
}

