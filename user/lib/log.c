/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#include "log.h"

#include <stdio.h>
#include <syslog.h>

static const char *log_prog = "mxlimit";
static enum mx_log_level log_max = MX_LOG_INFO;
static mx_log_sink_fn log_sink;
static void *log_sink_ctx;
static int log_syslog;

void mx_log_set_prog(const char *prog) { log_prog = prog; }
void mx_log_set_level(enum mx_log_level max_level) { log_max = max_level; }
void mx_log_use_syslog(int on) { log_syslog = on; }

void mx_log_set_sink(mx_log_sink_fn fn, void *ctx)
{
	log_sink = fn;
	log_sink_ctx = ctx;
}

static void emit(enum mx_log_level level, const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (level > log_max)
		return;
	n = snprintf(line, sizeof(line), "%s: %s", log_prog, prefix);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (log_sink) {
		log_sink(log_sink_ctx, level, line);
		return;
	}
	fprintf(stderr, "%s\n", line);
	if (log_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		syslog(prio[level], "%s", line + (size_t)n - (size_t)n);
	}
}

static void mx_vlog(enum mx_log_level level, const char *fmt, va_list ap)
{
	const char *prefix = level == MX_LOG_WARN ? "warning: " : "";

	emit(level, prefix, fmt, ap);
}

void mx_log(enum mx_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mx_vlog(level, fmt, ap);
	va_end(ap);
}

void mx_log_at(enum mx_log_level level, const char *file, int line, const char *fmt, ...)
{
	char prefix[512];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s:%d: %s", file, line,
		 level == MX_LOG_WARN ? "warning: " : "");
	va_start(ap, fmt);
	emit(level, prefix, fmt, ap);
	va_end(ap);
}
