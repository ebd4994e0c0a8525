// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_blocklist.c - libFuzzer target: a blocklist file (what
 * `mxlimit blocklist load` reads, downloaded from elsewhere) through
 * mx_bl_parse_file, and a set name through mx_bl_name_valid.
 *
 * Properties beyond "no crash, no leak, no UB": a list that parses is
 * non-empty, within MX_BL_MAX_PREFIXES, sorted, without duplicates, each
 * prefix masked to its length, not a /0 nor an IPv6 prefix around all of
 * IPv4 (::ffff:0:0/96), and each prints as text that
 * parses back to itself; a list that fails to parse leaves the output
 * empty; a valid name is 1..31 bytes of the safe charset.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addr.h"
#include "blocklist.h"
#include "log.h"

static int fd = -1;
static char path[64];

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
	fd = memfd_create("fuzz_blocklist", 0);
	if (fd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static void check_list(const struct mx_bl_list *l)
{
	size_t i;

	if (l->n == 0 || l->n > MX_BL_MAX_PREFIXES)
		abort();
	for (i = 0; i < l->n; i++) {
		mx_prefix m = l->p[i], back;
		char text[MX_PREFIX_STRLEN];
		const char *why = NULL;

		mx_prefix_mask(&m);
		if (!mx_prefix_equal(&m, &l->p[i]) || l->p[i].plen > 128 || l->p[i].plen == 0 ||
		    (mx_prefix_is_v4(&l->p[i]) && l->p[i].plen == MX_V4_PLEN_BASE))
			abort();
		if (l->p[i].plen < MX_V4_PLEN_BASE) { /* never around all of IPv4 */
			mx_prefix v4 = { .addr = { 0, 0, htonl(0xffff), 0 }, .plen = MX_V4_PLEN_BASE };

			if (mx_prefix_contains(&l->p[i], &v4))
				abort();
		}
		if (i && mx_bl_prefix_cmp(&l->p[i - 1], &l->p[i]) >= 0)
			abort(); /* sorted, distinct */
		mx_prefix_format(&l->p[i], text, sizeof(text));
		if (mx_prefix_parse(text, false, &back, &why) || !mx_prefix_equal(&back, &l->p[i]))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct mx_bl_list l;
	char name[48];
	size_t i, n;

	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (mx_bl_parse_file(path, &l) == 0) {
		check_list(&l);
		mx_bl_list_free(&l);
	} else if (l.p || l.n) {
		abort();
	}
	n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, n);
	name[n] = '\0';
	if (mx_bl_name_valid(name)) {
		size_t len = strlen(name);

		if (len == 0 || len >= MX_BL_NAME_LEN || name[0] == '.' || name[0] == '-')
			abort();
		for (i = 0; i < len; i++)
			if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
				abort();
	}
	return 0;
}
