/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * verdict.h - the proxy's client of the verdict socket (docs/design.md
 * "Verdict protocol"): PENALIZE / BLOCK lines to `mxlimit daemon`.
 *
 * Never blocks the loop: lines wait in a bounded queue, are written when
 * the socket is writable, and stay queued until the daemon's OK/ERR reply,
 * so a daemon restart loses none.  A daemon that is down is retried with
 * exponential backoff; a full queue drops the newest line and says so.
 */
#ifndef PX_VERDICT_H
#define PX_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"

/* Lines waiting for the daemon: a burst of violations from many clients
 * fits, a daemon down for hours does not grow memory. */
#define PX_VERDICT_QUEUE 256
#define PX_VERDICT_BACKOFF_MIN_NS (250ULL * 1000000ULL)
#define PX_VERDICT_BACKOFF_MAX_NS (30ULL * 1000000000ULL)

struct px_verdict;

/* path "" disables verdicts (px_verdict_send then only logs). */
struct px_verdict *px_verdict_new(struct mx_loop *l, const char *path);
void px_verdict_free(struct px_verdict *v);
/* Queue one request line (no newline), e.g. "PENALIZE 192.0.2.7 600 reason=errors". */
void px_verdict_send(struct px_verdict *v, const char *line);

#endif
