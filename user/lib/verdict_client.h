/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * verdict_client.h - the SMTP front ends' client of the verdict socket
 * (docs/design.md "Verdict protocol"): PENALIZE / BLOCK lines to
 * `mxlimit daemon`, from mxlimit-proxy and mxlimit-policyd.
 *
 * Never blocks the loop: lines wait in a bounded queue, are written when
 * the socket is writable, and stay queued until the daemon's OK/ERR reply,
 * so a daemon restart loses none.  A daemon that is down is retried with
 * exponential backoff; a full queue drops the newest line and says so.
 */
#ifndef MX_VERDICT_CLIENT_H
#define MX_VERDICT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"

/* Lines waiting for the daemon: a burst of violations from many clients
 * fits, a daemon down for hours does not grow memory. */
#define MX_VCLIENT_QUEUE 256
#define MX_VCLIENT_BACKOFF_MIN_NS (250ULL * 1000000ULL)
#define MX_VCLIENT_BACKOFF_MAX_NS (30ULL * 1000000000ULL)

struct mx_vclient;

/* path "" disables verdicts (mx_vclient_send then only logs). */
struct mx_vclient *mx_vclient_new(struct mx_loop *l, const char *path);
void mx_vclient_free(struct mx_vclient *v);
/* Queue one request line (no newline), e.g. "PENALIZE 192.0.2.7 600 reason=errors". */
void mx_vclient_send(struct mx_vclient *v, const char *line);

#endif
