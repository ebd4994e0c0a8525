/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_compile.h - the controller's side of limit.ini: the kernel
 * sections compiled into policy map entries, and `mxlimit check`'s
 * printout.
 */
#ifndef MX_POLICY_COMPILE_H
#define MX_POLICY_COMPILE_H

#include <stdio.h>

#include "policy.h"

/*
 * The kernel's view: the merged policy LPM entries for [concurrency] and
 * [rate_conn] plus the global config of one generation.
 *
 * Every lookup prefix of either section becomes an entry; an entry's
 * concurrency part is the longest [concurrency] lookup containing it and
 * its rate part the longest [rate_conn] lookup containing it, so a single
 * LPM match answers both sections.  `default` becomes ::ffff:0:0/96 (IPv4)
 * and ::/0 (IPv6) with per-source counting at ipv4_prefix / ipv6_prefix.
 */
struct mx_compiled_rule {
	mx_prefix prefix;
	struct mx_rule rule;
};

struct mx_compiled {
	struct mx_config config;  /* gen left 0; the loader sets it */
	struct mx_compiled_rule *rules;
	size_t n_rules;
	/* gateway mode: the protected servers ([main] servers) */
	mx_prefix *servers;
	size_t n_servers;
};

int mx_policy_compile(const struct mx_policy *pol, struct mx_compiled *out);
void mx_compiled_free(struct mx_compiled *c);

/* Print the compiled policy (`mxlimit check`): human text or JSON. */
void mx_policy_print(const struct mx_policy *pol, const struct mx_compiled *c, int json, FILE *f);

#endif
