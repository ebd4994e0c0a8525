/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * accept.h - the accept loop of every listener (the proxy, the policy
 * service, the daemon's verdict socket and metrics): a bounded batch of
 * accept4 per readiness event, and every listener paused for a moment
 * when descriptors or memory run out, so that a full descriptor table is
 * not a busy loop.
 *
 * What a server does with an accepted socket (max_clients included) stays
 * its own: the batch hands each one to a callback.
 */
#ifndef MX_ACCEPT_H
#define MX_ACCEPT_H

#include <stdbool.h>
#include <sys/socket.h>

#include "evloop.h"

/* Stop (pause true) or restart reading every listener of a server. */
typedef void (*mx_accept_pause_fn)(void *arg, bool pause);
/* Take over an accepted socket (non-blocking, close-on-exec). */
typedef void (*mx_accept_fn)(void *arg, int fd, const struct sockaddr_storage *peer);

/* One per server: its listeners pause and resume together. */
struct mx_accept_pause {
	struct mx_timer resume; /* armed while the listeners are paused */
	mx_accept_pause_fn fn;
	void *arg;
};

void mx_accept_pause_init(struct mx_accept_pause *p, mx_accept_pause_fn fn, void *arg);

/*
 * Accept what is waiting on the listening socket lfd, a bounded number at
 * a time (other work gets its turn), calling fn(arg, fd, peer) for each.
 * On EMFILE, ENFILE, ENOBUFS or ENOMEM: a warning, and p's listeners are
 * paused until its timer restarts them.
 */
void mx_accept_batch(struct mx_loop *l, int lfd, struct mx_accept_pause *p, mx_accept_fn fn,
		     void *arg);

#endif
