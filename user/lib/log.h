/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * log.h - messages to the user.
 *
 * Every message is one line on stderr: "PROG: message", or for a policy
 * file "PROG: FILE:LINE: message".  PROG is set once by main().  Tests and
 * fuzzers redirect messages to a sink instead of stderr.
 */
#ifndef MX_LOG_H
#define MX_LOG_H

#include <stdarg.h>

enum mx_log_level { MX_LOG_ERROR, MX_LOG_WARN, MX_LOG_INFO, MX_LOG_DEBUG };

typedef void (*mx_log_sink_fn)(void *ctx, enum mx_log_level level, const char *line);

void mx_log_set_prog(const char *prog);
void mx_log_set_level(enum mx_log_level max_level);
/* NULL restores stderr. */
void mx_log_set_sink(mx_log_sink_fn fn, void *ctx);
/* Also send messages to syslog (daemons). */
void mx_log_use_syslog(int on);

void mx_log(enum mx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "PROG: FILE:LINE: message" */
void mx_log_at(enum mx_log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define mx_err(...)   mx_log(MX_LOG_ERROR, __VA_ARGS__)
#define mx_warn(...)  mx_log(MX_LOG_WARN, __VA_ARGS__)
#define mx_info(...)  mx_log(MX_LOG_INFO, __VA_ARGS__)
#define mx_debug(...) mx_log(MX_LOG_DEBUG, __VA_ARGS__)

#endif
