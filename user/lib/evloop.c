/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * evloop.c - epoll plus a timer heap; see evloop.h.
 */
#include "evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Events fetched per epoll_wait: enough to amortise the call, small
 * enough that one busy batch does not starve timers. */
#define LOOP_BATCH 256

struct mx_loop {
	int epfd;
	uint64_t now;
	struct mx_timer **heap;
	size_t n_heap, cap_heap;
	void **graveyard; /* freed after the batch */
	size_t n_grave, cap_grave;
};

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct mx_loop *mx_loop_new(void)
{
	struct mx_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	l->now = clock_ns();
	return l;
}

void mx_loop_free(struct mx_loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_grave; i++)
		free(l->graveyard[i]);
	free(l->graveyard);
	free(l->heap);
	close(l->epfd);
	free(l);
}

uint64_t mx_loop_now(struct mx_loop *l) { return l->now; }

void mx_loop_defer_free(struct mx_loop *l, void *p)
{
	if (l->n_grave == l->cap_grave) {
		size_t cap = l->cap_grave ? 2 * l->cap_grave : 64;
		void **g = realloc(l->graveyard, cap * sizeof(*g));

		if (!g) {
			/* no room to defer: leaking one object beats a use after free */
			mx_err("out of memory deferring a free");
			return;
		}
		l->graveyard = g;
		l->cap_grave = cap;
	}
	l->graveyard[l->n_grave++] = p;
}

int mx_io_add(struct mx_loop *l, struct mx_io *io, int fd, uint32_t events, mx_io_fn fn,
	      void *arg)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	io->fd = fd;
	io->events = events;
	io->fn = fn;
	io->arg = arg;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		io->fd = -1;
		return -1;
	}
	return 0;
}

int mx_io_set(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (io->fd < 0 || io->events == events)
		return 0;
	io->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void mx_io_close(struct mx_loop *l, struct mx_io *io)
{
	(void)l;
	if (io->fd < 0)
		return;
	/* close() alone deregisters: the loop never dup()s or forks a
	 * registered descriptor, and one system call less per socket shows
	 * in the one-message-per-connection benchmark */
	close(io->fd);
	io->fd = -1;
}

void mx_io_del(struct mx_loop *l, struct mx_io *io)
{
	if (io->fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->fd = -1;
	io->events = 0;
}

/* Timer heap, 1-based slots kept in t->idx so removal is O(log n). */
static void heap_put(struct mx_loop *l, size_t i, struct mx_timer *t)
{
	l->heap[i] = t;
	t->idx = i + 1;
}

static void heap_up(struct mx_loop *l, size_t i)
{
	struct mx_timer *t = l->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p]->when <= t->when)
			break;
		heap_put(l, i, l->heap[p]);
		i = p;
	}
	heap_put(l, i, t);
}

static void heap_down(struct mx_loop *l, size_t i)
{
	struct mx_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->n_heap)
			break;
		if (c + 1 < l->n_heap && l->heap[c + 1]->when < l->heap[c]->when)
			c++;
		if (t->when <= l->heap[c]->when)
			break;
		heap_put(l, i, l->heap[c]);
		i = c;
	}
	heap_put(l, i, t);
}

void mx_timer_init(struct mx_timer *t, mx_timer_fn fn, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->fn = fn;
	t->arg = arg;
}

int mx_timer_set(struct mx_loop *l, struct mx_timer *t, uint64_t when)
{
	if (t->idx) {
		uint64_t old = t->when;

		t->when = when;
		if (when < old)
			heap_up(l, t->idx - 1);
		else
			heap_down(l, t->idx - 1);
		return 0;
	}
	if (l->n_heap == l->cap_heap) {
		size_t cap = l->cap_heap ? 2 * l->cap_heap : 256;
		struct mx_timer **h = realloc(l->heap, cap * sizeof(struct mx_timer *));

		if (!h)
			return -1;
		l->heap = h;
		l->cap_heap = cap;
	}
	t->when = when;
	l->heap[l->n_heap] = t;
	t->idx = ++l->n_heap;
	heap_up(l, l->n_heap - 1);
	return 0;
}

void mx_timer_del(struct mx_loop *l, struct mx_timer *t)
{
	size_t i;
	struct mx_timer *last;

	if (!t->idx)
		return;
	i = t->idx - 1;
	t->idx = 0;
	last = l->heap[--l->n_heap];
	if (i == l->n_heap)
		return;
	heap_put(l, i, last);
	heap_down(l, i);
	heap_up(l, last->idx - 1);
}

static int next_timeout_ms(struct mx_loop *l)
{
	uint64_t d;

	if (!l->n_heap)
		return 1000; /* wake now and then to notice a stop flag */
	if (l->heap[0]->when <= l->now)
		return 0;
	d = l->heap[0]->when - l->now;
	/* round up: waking a little late is harmless, early means a spin */
	return d > 1000000000ULL ? 1000 : (int)((d + 999999) / 1000000);
}

static void run_timers(struct mx_loop *l)
{
	while (l->n_heap && l->heap[0]->when <= l->now) {
		struct mx_timer *t = l->heap[0];

		mx_timer_del(l, t);
		t->fn(l, t);
	}
}

static void bury(struct mx_loop *l)
{
	for (size_t i = 0; i < l->n_grave; i++)
		free(l->graveyard[i]);
	l->n_grave = 0;
}

int mx_loop_run(struct mx_loop *l, const volatile int *stop_flag)
{
	struct epoll_event ev[LOOP_BATCH];

	while (!(stop_flag && *stop_flag)) {
		int n = epoll_wait(l->epfd, ev, LOOP_BATCH, next_timeout_ms(l));

		if (n < 0 && errno != EINTR) {
			mx_err("epoll_wait: %s", strerror(errno));
			return -1;
		}
		l->now = clock_ns();
		for (int i = 0; i < n; i++) {
			struct mx_io *io = ev[i].data.ptr;

			if (io->fd >= 0)
				io->fn(l, io, ev[i].events);
		}
		bury(l);
		run_timers(l);
		bury(l);
	}
	return 0;
}

int mx_io_add_signals(struct mx_loop *l, struct mx_io *io, const int *sigs, size_t n,
		      mx_io_fn fn, void *arg)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	for (size_t i = 0; i < n; i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (mx_io_add(l, io, fd, EPOLLIN, fn, arg) < 0) {
		close(fd);
		return -1;
	}
	return 0;
}

int mx_signal_next(struct mx_io *io)
{
	struct signalfd_siginfo si;

	if (io->fd < 0 || read(io->fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}
