// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_verdict.c - libFuzzer target for the verdict protocol's request
 * parser (verdict_proto.h): every line a proxy, or anyone who reaches the
 * socket, can send.
 *
 * Properties: the parser reads only `len` bytes; a refusal carries a
 * reason and leaves the request zeroed; an accepted request keeps every
 * field in its documented range (seconds, limit=, a reason word that fits
 * the kernel's field, a prefix masked to its length and not wider than the
 * protocol allows for sanctions, QUERY a full address), and
 * mx_vreq_format gives a line that parses back to the same request.
 */
#include <stdlib.h>
#include <string.h>

#include "verdict_proto.h"
#include "fuzz_util.h"

static void check_ok(const struct mx_vreq *r)
{
	mx_prefix m = r->prefix;
	size_t rl = strnlen(r->reason, sizeof(r->reason));

	mx_prefix_mask(&m);
	if (!mx_prefix_equal(&m, &r->prefix) || r->prefix.plen > 128)
		abort();
	if (rl == sizeof(r->reason) || strspn(r->reason, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != rl)
		abort();
	if (!strcmp(mx_vreq_op_name(r->op), "?"))
		abort();
	switch (r->op) {
	case MX_VREQ_PENALIZE:
	case MX_VREQ_BLOCK:
		if (r->seconds < 1 || r->seconds > MX_VERDICT_SECONDS_MAX)
			abort();
		if (mx_prefix_native_len(&r->prefix) <
		    (mx_prefix_is_v4(&r->prefix) ? MX_VERDICT_V4_PLEN_MIN : MX_VERDICT_V6_PLEN_MIN))
			abort();
		if (r->limit > MX_VERDICT_LIMIT_MAX || (r->op == MX_VREQ_BLOCK && r->limit))
			abort();
		break;
	case MX_VREQ_QUERY:
		if (r->prefix.plen != 128)
			abort();
		/* fall through */
	case MX_VREQ_UNBLOCK:
		if (r->seconds || r->limit || rl)
			abort();
		break;
	default:
		abort();
	}
}

static void one(const uint8_t *data, size_t len)
{
	char *line = malloc(len ? len : 1);
	struct mx_vreq r;
	const char *why = NULL;

	if (!line)
		abort();
	memcpy(line, data, len);
	if (mx_vreq_parse(line, len, &r, &why) == 0) {
		char canon[MX_VERDICT_LINE_MAX + 1];
		struct mx_vreq again;
		int n;

		check_ok(&r);
		/* the one formatter both sides use says the same thing */
		n = mx_vreq_format(&r, canon, sizeof(canon));
		if (n <= 0 || mx_vreq_parse(canon, (size_t)n, &again, &why) != 0 ||
		    memcmp(&r, &again, sizeof(r)) != 0)
			abort();
	}
	else if (!why || !*why || strchr(why, '\n') || !all_zero(&r, sizeof(r)))
		abort();
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0;

	/* one request per line, as the socket reads them */
	for (size_t i = 0; i <= size; i++) {
		if (i == size || data[i] == '\n') {
			one(data + start, i - start);
			start = i + 1;
		}
	}
	/* and the whole input as one line (long lines, embedded newlines) */
	one(data, size);
	return 0;
}
