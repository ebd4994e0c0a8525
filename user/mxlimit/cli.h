/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cli.h - the controller's commands and the operations they share.
 *
 * Each command is `int cmd_NAME(int argc, char **argv, const struct mx_global *g)`
 * with argv[0] the command name; it returns the exit code (mxlimit(8) EXIT STATUS:
 * 0 success, 1 runtime failure, 2 usage or configuration error) and
 * answers `--help` with text that lives next to its option parsing.
 */
#ifndef MX_CLI_H
#define MX_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "addr.h"
#include "loader.h"
#include "policy.h"

#define MX_EXIT_OK 0
#define MX_EXIT_FAIL 1
#define MX_EXIT_USAGE 2

#define MX_DEFAULT_POLICY "/etc/mxlimit/limit.ini"
#define MX_DEFAULT_STATE "/var/lib/mxlimit/state.gz"
#define MX_DEFAULT_SOCKET "/run/mxlimit/verdict.sock"
/* Where `load` remembers which policy file it applied, so `reload`
 * without -c and the daemon's SIGHUP re-read the same file. */
#define MX_RUN_DIR "/run/mxlimit"

struct mx_global {
	const char *pin_dir;
	bool json;
};

typedef int (*mx_cmd_fn)(int argc, char **argv, const struct mx_global *g);

int cmd_load(int argc, char **argv, const struct mx_global *g);
int cmd_unload(int argc, char **argv, const struct mx_global *g);
int cmd_reload(int argc, char **argv, const struct mx_global *g);
int cmd_check(int argc, char **argv, const struct mx_global *g);
int cmd_status(int argc, char **argv, const struct mx_global *g);
int cmd_top(int argc, char **argv, const struct mx_global *g);
/* cmd_top.c: arrivals a source's rate bucket still holds, ceil((tat - now) / I). */
uint64_t mx_rate_used(const struct mx_maps *m, const struct mx_key *k, uint64_t now);
int cmd_query(int argc, char **argv, const struct mx_global *g);
int cmd_block(int argc, char **argv, const struct mx_global *g);
int cmd_unblock(int argc, char **argv, const struct mx_global *g);
int cmd_blocks(int argc, char **argv, const struct mx_global *g);
int cmd_blocklist(int argc, char **argv, const struct mx_global *g);
int cmd_daemon(int argc, char **argv, const struct mx_global *g);
int cmd_doctor(int argc, char **argv, const struct mx_global *g);

/*
 * For commands that take no options but --help and exactly `nargs`
 * positional arguments: prints help and returns MX_EXIT_OK, reports a
 * usage error and returns MX_EXIT_USAGE, or returns -1 to go on.
 */
int mx_cmd_args(int argc, char **argv, const char *help, int nargs);

#endif
