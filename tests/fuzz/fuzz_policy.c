// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_policy.c - libFuzzer target: limit.ini bytes through the whole
 * policy pipeline a controller or proxy runs on a file it is given:
 * load (ini reader, sections, lookups, values), compile into the kernel's
 * LPM entries, print (text and JSON), and the proxy's lookups.
 *
 * Properties beyond "no crash, no leak, no UB": a policy that loads also
 * compiles; a compiled rule's prefix is masked to its length; a load
 * that fails leaves the output zeroed (policy.h's promise).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "policy_compile.h"
#include "policy_match.h"
#include "fuzz_util.h"

static FILE *devnull;

static void quiet(void *ctx, enum mx_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	(void)line;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mx_log_set_sink(quiet, NULL);
	mx_log_set_level(MX_LOG_DEBUG); /* format every message, then drop it */
	devnull = fopen("/dev/null", "w");
	return 0;
}

static void lookups(const struct mx_policy *pol)
{
	static const char *addrs[] = { "192.0.2.7", "198.51.100.1", "2001:db8::1", "fe80::1" };
	static const char *names[] = { "a@b.example.com", "b.example.com", "", "@", "x@" };

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		mx_prefix a;

		if (mx_addr_parse(addrs[i], &a))
			abort();
		mx_section_match_addr(&pol->recipients, &a);
		mx_section_match_host(&pol->rate_rcpt_host, &a, "mail.example.com");
		mx_section_match_host(&pol->rate_rcpt_host, &a, NULL);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		mx_section_match_name(&pol->rate_rcpt_sender, names[i]);
		mx_section_match_name(&pol->rate_rcpt, names[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_policy pol;
	struct mx_compiled c;
	/* an exact-size copy: reading past the end is caught */
	char *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (mx_policy_load_buf("fuzz.ini", buf, size, &pol) < 0) {
		if (!all_zero(&pol, sizeof(pol)))
			abort(); /* a failed load must leave nothing behind */
		free(buf);
		return 0;
	}
	free(buf);
	if (mx_policy_compile(&pol, &c) < 0)
		abort(); /* what loads must compile */
	for (size_t i = 0; i < c.n_rules; i++) {
		mx_prefix p = c.rules[i].prefix;

		mx_prefix_mask(&p);
		if (!mx_prefix_equal(&p, &c.rules[i].prefix) || p.plen > 128)
			abort();
	}
	mx_policy_print(&pol, &c, 0, devnull);
	mx_policy_print(&pol, &c, 1, devnull);
	lookups(&pol);
	mx_compiled_free(&c);
	mx_policy_free(&pol);
	return 0;
}
