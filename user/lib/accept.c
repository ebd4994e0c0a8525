/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* accept.c - see accept.h. */
#include "accept.h"

#include <errno.h>
#include <string.h>

#include "log.h"

/* Accepts per readiness event: bounded, other work gets its turn. */
#define ACCEPT_BATCH 64
/* Pause after EMFILE so a full descriptor table is not a busy loop. */
#define ACCEPT_PAUSE_NS (100ULL * 1000000ULL)

static void resume_accept(struct mx_loop *l, struct mx_timer *t)
{
	struct mx_accept_pause *p = t->arg;

	(void)l;
	p->fn(p->arg, false);
}

void mx_accept_pause_init(struct mx_accept_pause *p, mx_accept_pause_fn fn, void *arg)
{
	mx_timer_init(&p->resume, resume_accept, p);
	p->fn = fn;
	p->arg = arg;
}

void mx_accept_batch(struct mx_loop *l, int lfd, struct mx_accept_pause *p, mx_accept_fn fn,
		     void *arg)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer = { 0 }; /* filled by accept4 */
		socklen_t pl = sizeof(peer);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				mx_warn("accept: %s; pausing", strerror(errno));
				p->fn(p->arg, true);
				mx_timer_set(l, &p->resume, mx_loop_now(l) + ACCEPT_PAUSE_NS);
			}
			return;
		}
		fn(arg, fd, &peer);
	}
}
