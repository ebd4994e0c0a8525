/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_apply.h - a policy file into the loaded maps (load, reload, the
 * daemon's SIGHUP), and the allowlist test of verdicts.
 */
#ifndef MX_POLICY_APPLY_H
#define MX_POLICY_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "loader.h"

/* Read, compile and apply a policy file to loaded maps; on any error
 * nothing changes (errors reported).  Remembers the path for later.
 * Returns an exit code. */
int mx_policy_apply_file(const char *pin_dir, const char *path);
/* The policy file last applied to pin_dir (or MX_DEFAULT_POLICY). */
void mx_policy_applied_path(const char *pin_dir, char *buf, size_t len);

/* Is addr covered by an explicit 0 (allowlist) entry of the live policy? */
bool mx_policy_allowlisted(const struct mx_maps *m, const mx_prefix *addr);

/* Read and compile a policy file (errors reported): an exit code; on
 * success pol and c are the caller's to free. */
int mx_policy_read_file(const char *path, struct mx_policy *pol, struct mx_compiled *c);
/* Remember path (made absolute) as the policy applied to pin_dir. */
void mx_policy_remember(const char *pin_dir, const char *path);

#endif
