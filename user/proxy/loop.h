/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * loop.h - the proxy's event loop: epoll for file descriptors, a binary
 * heap for timers, nothing else (the shape of Redis ae.c, smaller).
 *
 * Owners embed a struct px_io / px_timer in their own objects.  An owner
 * freed inside a callback must px_io_del() first; events already fetched
 * for it are then skipped because io->fd is -1, and the owner's memory must
 * stay valid until the batch ends (px_loop_defer_free).
 */
#ifndef PX_LOOP_H
#define PX_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct px_loop;
struct px_io;
struct px_timer;

typedef void (*px_io_fn)(struct px_loop *l, struct px_io *io, uint32_t events);
typedef void (*px_timer_fn)(struct px_loop *l, struct px_timer *t);

struct px_io {
	int fd;          /* -1 when not registered */
	uint32_t events; /* EPOLLIN / EPOLLOUT currently asked for */
	px_io_fn fn;
	void *arg;
};

struct px_timer {
	uint64_t when;  /* CLOCK_MONOTONIC ns; valid while armed */
	size_t idx;     /* heap slot + 1; 0 = not armed */
	px_timer_fn fn;
	void *arg;
};

struct px_loop *px_loop_new(void);
void px_loop_free(struct px_loop *l);
/* Run until *stop_flag is set (by a signal handler). */
int px_loop_run(struct px_loop *l, const volatile int *stop_flag);
/* The loop's clock, read once per wakeup. */
uint64_t px_now(struct px_loop *l);
/* Free p after the current batch of events (see above). */
void px_loop_defer_free(struct px_loop *l, void *p);

int px_io_add(struct px_loop *l, struct px_io *io, int fd, uint32_t events, px_io_fn fn,
	      void *arg);
/* Change the interest set; no system call when it is unchanged. */
int px_io_set(struct px_loop *l, struct px_io *io, uint32_t events);
/* Deregister and close the descriptor. */
void px_io_close(struct px_loop *l, struct px_io *io);

void px_timer_init(struct px_timer *t, px_timer_fn fn, void *arg);
/* Arm (or move) t to fire at `when`. */
int px_timer_set(struct px_loop *l, struct px_timer *t, uint64_t when);
void px_timer_del(struct px_loop *l, struct px_timer *t);

#endif
