// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cmd_block.c - block, unblock, blocks: runtime sanctions by hand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "log.h"
#include "sanction.h"
#include "verdict_proto.h"

static int parse_prefix_arg(const char *s, mx_prefix *p)
{
	const char *why = NULL;

	if (mx_prefix_parse(s, false, p, &why)) {
		mx_err("bad prefix \"%s\": %s", s, why ? why : "not an address or CIDR prefix");
		return -1;
	}
	return 0;
}

static const char block_help[] =
	"Usage: mxlimit block PREFIX [--ttl DURATION] [--reason WORD]\n\n"
	"Refuse new connections from PREFIX (an address or CIDR prefix, IPv4 or\n"
	"IPv6) to the mail ports.  The block lives in the kernel and lifts itself\n"
	"when its time comes, with or without a daemon.  Connections already open\n"
	"are not cut.\n\n"
	"  --ttl DURATION  how long (s, m, h, d; a bare number is seconds); default: until unblocked\n"
	"  --reason WORD   a word kept with the block (shown by blocks and query)\n";

int cmd_block(int argc, char **argv, const struct mx_global *g)
{
	static const struct option opts[] = {
		{ "ttl", required_argument, 0, 't' }, { "reason", required_argument, 0, 'r' },
		{ "help", no_argument, 0, 'h' },      { 0, 0, 0, 0 },
	};
	struct mx_sanction_req req = { .kind = MX_KIND_BLOCK, .until_ns = MX_FOREVER,
				       .reason = "manual" };
	uint64_t ttl = 0;
	struct mx_maps m;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "t:r:h", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (mx_parse_duration(optarg, &ttl) || ttl == 0) {
				mx_err("bad --ttl \"%s\" (a duration like 90s, 10m, 1h, 2d)", optarg);
				return MX_EXIT_USAGE;
			}
			break;
		case 'r':
			if (!mx_reason_valid(optarg)) {
				mx_err("--reason takes one word of at most %d letters, digits, '_', '.', '-'",
				       MX_REASON_LEN - 1);
				return MX_EXIT_USAGE;
			}
			req.reason = optarg;
			break;
		case 'h': fputs(block_help, stdout); return MX_EXIT_OK;
		default: fputs(block_help, stderr); return MX_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		mx_err("block takes one prefix");
		return MX_EXIT_USAGE;
	}
	if (parse_prefix_arg(argv[optind], &req.prefix))
		return MX_EXIT_USAGE;
	if (mx_maps_open(g->pin_dir, &m))
		return MX_EXIT_FAIL;
	if (ttl)
		req.until_ns = mx_mono_now(&m) + ttl;
	rc = mx_sanction_add(&m, &req) ? MX_EXIT_FAIL : MX_EXIT_OK;
	mx_maps_close(&m);
	return rc;
}

static const char unblock_help[] =
	"Usage: mxlimit unblock PREFIX [--reason WORD] [--missing-ok]\n\n"
	"Lift the block and the penalty set on exactly PREFIX.  A block on an\n"
	"enclosing prefix still applies.\n\n"
	"  --reason WORD  lift only what was set with this reason (fail2ban lifts its\n"
	"                 own ban, never an admin's block on the same address)\n"
	"  --missing-ok   nothing to lift is not an error (exit 0): the block may\n"
	"                 have expired and been collected already\n";

int cmd_unblock(int argc, char **argv, const struct mx_global *g)
{
	static const struct option opts[] = {
		{ "reason", required_argument, 0, 'r' }, { "missing-ok", no_argument, 0, 'm' },
		{ "help", no_argument, 0, 'h' },	  { 0, 0, 0, 0 },
	};
	const char *reason = NULL;
	bool missing_ok = false;
	struct mx_maps m;
	mx_prefix p;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "r:mh", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (!mx_reason_valid(optarg)) {
				mx_err("--reason takes one word of at most %d letters, digits, '_', '.', '-'",
				       MX_REASON_LEN - 1);
				return MX_EXIT_USAGE;
			}
			reason = optarg;
			break;
		case 'm': missing_ok = true; break;
		case 'h': fputs(unblock_help, stdout); return MX_EXIT_OK;
		default: fputs(unblock_help, stderr); return MX_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		mx_err("unblock takes one prefix");
		return MX_EXIT_USAGE;
	}
	if (parse_prefix_arg(argv[optind], &p))
		return MX_EXIT_USAGE;
	if (mx_maps_open(g->pin_dir, &m))
		return MX_EXIT_FAIL;
	rc = reason ? mx_sanction_remove_reason(&m, &p, MX_KIND_BLOCK | MX_KIND_PENALTY, reason)
		    : mx_sanction_remove(&m, &p, MX_KIND_BLOCK | MX_KIND_PENALTY);
	mx_maps_close(&m);
	if (rc == 1) {
		if (missing_ok)
			return MX_EXIT_OK;
		mx_err("%s is not blocked or penalized%s%s", argv[optind], reason ? " with reason " : "",
		       reason ? reason : "");
		return MX_EXIT_FAIL;
	}
	return rc ? MX_EXIT_FAIL : MX_EXIT_OK;
}

static const char blocks_help[] =
	"Usage: mxlimit blocks [--json]\n\n"
	"Blocks and penalties in force: prefix, kind, time left, reason, and for\n"
	"penalties the concurrency cap (\"bad tier\": the *_history bad limits).\n";

int cmd_blocks(int argc, char **argv, const struct mx_global *g)
{
	struct mx_sanction_entry *e = NULL;
	size_t n = 0, i;
	struct mx_maps m;
	uint64_t now;
	struct jw w;
	int a = mx_cmd_args(argc, argv, blocks_help, 0);

	if (a >= 0)
		return a;
	if (mx_maps_open(g->pin_dir, &m))
		return MX_EXIT_FAIL;
	now = mx_mono_now(&m);
	if (mx_sanction_list(&m, &e, &n)) {
		mx_maps_close(&m);
		return MX_EXIT_FAIL;
	}
	if (g->json) {
		jw_init(&w, stdout);
		jw_obj(&w);
		jw_karr(&w, "sanctions");
	} else {
		printf("%-44s %-8s %-10s %-16s %s\n", "PREFIX", "KIND", "EXPIRES", "REASON", "LIMIT");
	}
	for (i = 0; i < n; i++) {
		const struct mx_sanction *v = &e[i].v;
		char pfx[MX_PREFIX_STRLEN], left[32], lim[16];

		mx_prefix_format(&e[i].prefix, pfx, sizeof(pfx));
		if ((v->flags & MX_SANCTION_OWN_BLOCK) && v->own_block_until_ns > now) {
			mx_fmt_remaining(v->own_block_until_ns, now, left, sizeof(left));
			if (g->json) {
				jw_obj(&w);
				jw_kstr(&w, "prefix", pfx);
				jw_kstr(&w, "kind", "block");
				jw_kstr(&w, "expires_in", left);
				if (v->own_block_until_ns != MX_FOREVER)
					jw_ku64(&w, "expires_in_s", (v->own_block_until_ns - now) / 1000000000ULL);
				jw_kstr(&w, "reason", v->block_reason);
				jw_end(&w);
			} else {
				printf("%-44s %-8s %-10s %-16s %s\n", pfx, "block", left,
				       v->block_reason[0] ? v->block_reason : "-", "-");
			}
		}
		if ((v->flags & MX_SANCTION_OWN_PENALTY) && v->own_penalty_until_ns > now) {
			mx_fmt_remaining(v->own_penalty_until_ns, now, left, sizeof(left));
			if (v->own_penalty_limit == MX_PENALTY_TIER)
				snprintf(lim, sizeof(lim), "bad tier");
			else
				snprintf(lim, sizeof(lim), "%u", v->own_penalty_limit);
			if (g->json) {
				jw_obj(&w);
				jw_kstr(&w, "prefix", pfx);
				jw_kstr(&w, "kind", "penalty");
				jw_kstr(&w, "expires_in", left);
				if (v->own_penalty_until_ns != MX_FOREVER)
					jw_ku64(&w, "expires_in_s",
						(v->own_penalty_until_ns - now) / 1000000000ULL);
				jw_kstr(&w, "reason", v->penalty_reason);
				jw_kstr(&w, "limit", lim);
				jw_end(&w);
			} else {
				printf("%-44s %-8s %-10s %-16s %s\n", pfx, "penalty", left,
				       v->penalty_reason[0] ? v->penalty_reason : "-", lim);
			}
		}
	}
	if (g->json) {
		jw_end(&w);
		jw_end(&w);
	}
	free(e);
	mx_maps_close(&m);
	return MX_EXIT_OK;
}
