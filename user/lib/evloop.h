/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * evloop.h - the event loop of every long-running program (the proxy, the
 * policy service, the daemon): epoll for file descriptors, a binary heap
 * for timers, signalfd for signals, nothing else (the shape of Redis ae.c,
 * smaller).
 *
 * Owners embed a struct mx_io / mx_timer in their own objects.  An owner
 * freed inside a callback must mx_io_del() first; events already fetched
 * for it are then skipped because io->fd is -1, and the owner's memory must
 * stay valid until the batch ends (mx_loop_defer_free).
 */
#ifndef MX_EVLOOP_H
#define MX_EVLOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mx_loop;
struct mx_io;
struct mx_timer;

typedef void (*mx_io_fn)(struct mx_loop *l, struct mx_io *io, uint32_t events);
typedef void (*mx_timer_fn)(struct mx_loop *l, struct mx_timer *t);

struct mx_io {
	int fd;          /* -1 when not registered */
	uint32_t events; /* EPOLLIN / EPOLLOUT currently asked for */
	mx_io_fn fn;
	void *arg;
};

struct mx_timer {
	uint64_t when;  /* CLOCK_MONOTONIC ns; valid while armed */
	size_t idx;     /* heap slot + 1; 0 = not armed */
	mx_timer_fn fn;
	void *arg;
};

struct mx_loop *mx_loop_new(void);
void mx_loop_free(struct mx_loop *l);
/* Run until *stop_flag is set (by a signal handler). */
int mx_loop_run(struct mx_loop *l, const volatile int *stop_flag);
/* The loop's clock, read once per wakeup. */
uint64_t mx_loop_now(struct mx_loop *l);
/* Free p after the current batch of events (see above). */
void mx_loop_defer_free(struct mx_loop *l, void *p);

int mx_io_add(struct mx_loop *l, struct mx_io *io, int fd, uint32_t events, mx_io_fn fn,
	      void *arg);
/* Change the interest set; no system call when it is unchanged. */
int mx_io_set(struct mx_loop *l, struct mx_io *io, uint32_t events);
/* Deregister and close the descriptor. */
void mx_io_close(struct mx_loop *l, struct mx_io *io);
/* Deregister only: the descriptor belongs to someone else (hiredis). */
void mx_io_del(struct mx_loop *l, struct mx_io *io);

/*
 * Signals as events (signalfd): block sigs[0..n) and call fn when one is
 * pending; fn reads them with mx_signal_next().  SIGPIPE is ignored too.
 */
int mx_io_add_signals(struct mx_loop *l, struct mx_io *io, const int *sigs, size_t n,
		      mx_io_fn fn, void *arg);
/* The next pending signal of a signal io, or 0 when none is left. */
int mx_signal_next(struct mx_io *io);

void mx_timer_init(struct mx_timer *t, mx_timer_fn fn, void *arg);
/* Arm (or move) t to fire at `when`. */
int mx_timer_set(struct mx_loop *l, struct mx_timer *t, uint64_t when);
void mx_timer_del(struct mx_loop *l, struct mx_timer *t);

#endif
