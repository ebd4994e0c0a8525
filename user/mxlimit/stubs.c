// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* stubs.c - weak stand-ins while daemon.c, doctor.c and state.c are written;
 * their real (strong) definitions replace these at link time. */
#include "cli.h"
#include "log.h"
#include "state.h"

__attribute__((weak)) int cmd_daemon(int argc, char **argv, const struct mx_global *g)
{
	(void)argc; (void)argv; (void)g;
	mx_err("daemon: not built yet");
	return MX_EXIT_FAIL;
}

__attribute__((weak)) int cmd_doctor(int argc, char **argv, const struct mx_global *g)
{
	(void)argc; (void)argv; (void)g;
	mx_err("doctor: not built yet");
	return MX_EXIT_FAIL;
}

__attribute__((weak)) int mx_state_restore(const struct mx_maps *m, const char *path)
{
	(void)m; (void)path;
	return 0;
}
