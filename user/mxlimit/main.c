// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * main.c - mxlimit: global options and the command table.
 *
 * Global options may stand before or after the command (mxlimit(8)):
 * they are taken out of argv first, the rest goes to the command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

#define MXLIMIT_VERSION "0.1.0"

static const struct {
	const char *name;
	mx_cmd_fn fn;
	const char *summary;
} commands[] = {
	{ "load", cmd_load, "load, apply the policy and attach to interfaces" },
	{ "unload", cmd_unload, "detach from interfaces (--all: also remove the pins)" },
	{ "reload", cmd_reload, "re-read the policy and swap it in atomically" },
	{ "check", cmd_check, "validate a policy file and print it compiled" },
	{ "status", cmd_status, "interfaces, programs, policy, features in use, counters" },
	{ "top", cmd_top, "sources by active connections and SYN rate" },
	{ "query", cmd_query, "the rule, counters and sanctions for an address" },
	{ "block", cmd_block, "block a prefix (expiring in the kernel)" },
	{ "unblock", cmd_unblock, "lift a block or penalty" },
	{ "blocks", cmd_blocks, "list blocks and penalties" },
	{ "blocklist", cmd_blocklist, "load, list, remove named prefix sets (e.g. Spamhaus DROP)" },
	{ "daemon", cmd_daemon, "verdict socket, metrics, housekeeping, state" },
	{ "doctor", cmd_doctor, "check the kernel, each program as load loads it" },
};

int mx_cmd_args(int argc, char **argv, const char *help, int nargs)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(help, stdout);
			return MX_EXIT_OK;
		}
	}
	if (argc - 1 == nargs)
		return -1;
	if (argc - 1 > nargs)
		mx_err("unexpected argument \"%s\" (mxlimit %s --help)", argv[nargs + 1], argv[0]);
	else
		mx_err("%s takes %d argument%s (mxlimit %s --help)", argv[0], nargs,
		       nargs == 1 ? "" : "s", argv[0]);
	fputs(help, stderr);
	return MX_EXIT_USAGE;
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: mxlimit [--pin-dir DIR] [--json] COMMAND [ARGS]\n\n"
		   "XDP connection limiter for mail servers.\n\nCommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nGlobal options (before or after the command):\n"
		   "  --pin-dir DIR  pinned maps and links (default %s, or $MXLIMIT_PIN_DIR)\n"
		   "  --json         machine-readable output for the commands that print\n"
		   "  -h, --help     this text; `mxlimit COMMAND --help` for a command\n\n"
		   "  --version      print the version (first, instead of a command)\n\n"
		   "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n"
		   "See mxlimit(8) and limit.ini(5).\n", MX_DEFAULT_PIN_DIR);
}

/* Remove the global options from argv (in place); returns the new argc
 * or -1 on a usage error. */
static int take_globals(int argc, char **argv, struct mx_global *g)
{
	int i, out = 1;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(a, "--json") == 0) {
			g->json = true;
		} else if (strcmp(a, "--pin-dir") == 0) {
			if (i + 1 >= argc) {
				mx_err("--pin-dir needs a directory");
				return -1;
			}
			g->pin_dir = argv[++i];
		} else if (strncmp(a, "--pin-dir=", 10) == 0) {
			g->pin_dir = a + 10;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	if (!g->pin_dir[0]) {
		mx_err("--pin-dir is empty");
		return -1;
	}
	return out;
}

int main(int argc, char **argv)
{
	struct mx_global g = { .pin_dir = MX_DEFAULT_PIN_DIR };
	const char *env = getenv("MXLIMIT_PIN_DIR");
	size_t i;

	mx_log_set_prog("mxlimit");
	if (env && *env)
		g.pin_dir = env;
	argc = take_globals(argc, argv, &g);
	if (argc < 0)
		return MX_EXIT_USAGE;
	if (argc < 2) {
		usage(stderr);
		return MX_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return MX_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("mxlimit %s\n", MXLIMIT_VERSION);
		return MX_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1, &g);
	mx_err("unknown command \"%s\" (mxlimit --help lists them)", argv[1]);
	return MX_EXIT_USAGE;
}
