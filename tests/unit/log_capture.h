/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * log_capture.h - unit tests read what the code under test told the user.
 *
 *   cap_start();  ...code that logs...  cap_stop();
 *   assert_logged("mxlimit: t.ini:3: bad lookup");
 */
#ifndef MX_TEST_LOG_CAPTURE_H
#define MX_TEST_LOG_CAPTURE_H

#include <stdio.h>
#include <string.h>

#include "log.h"

/* Enough for every message of one test case. */
#define CAP_BYTES 65536

struct log_capture {
	char buf[CAP_BYTES];
	size_t len;
	int errors;
	int warnings;
};

static struct log_capture cap;

static inline void cap_sink(void *ctx, enum mx_log_level level, const char *line)
{
	struct log_capture *c = ctx;
	int n;

	if (level == MX_LOG_ERROR)
		c->errors++;
	if (level == MX_LOG_WARN)
		c->warnings++;
	n = snprintf(c->buf + c->len, sizeof(c->buf) - c->len, "%s\n", line);
	if (n > 0 && (size_t)n < sizeof(c->buf) - c->len)
		c->len += (size_t)n;
}

static inline void cap_start(void)
{
	memset(&cap, 0, sizeof(cap));
	mx_log_set_prog("mxlimit");
	mx_log_set_level(MX_LOG_INFO);
	mx_log_set_sink(cap_sink, &cap);
}

static inline void cap_stop(void) { mx_log_set_sink(NULL, NULL); }

/* Print what was logged when an assertion about it fails. */
#define assert_logged(s)                                                      \
	do {                                                                  \
		if (!strstr(cap.buf, (s)))                                    \
			print_error("expected in log: %s\nlog was:\n%s", (s), \
				    cap.buf);                                 \
		assert_non_null(strstr(cap.buf, (s)));                        \
	} while (0)

#define assert_not_logged(s)                                                   \
	do {                                                                   \
		if (strstr(cap.buf, (s)))                                      \
			print_error("unexpected in log: %s\nlog was:\n%s", (s), \
				    cap.buf);                                  \
		assert_null(strstr(cap.buf, (s)));                             \
	} while (0)

#endif
