/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * iobuf.h - the one bounded byte buffer of every socket (the proxy's four
 * per session, the daemon's verdict and metrics peers, the proxy's verdict
 * client), in the shape of OpenSMTPD's iobuf: data is d[r, w) of a fixed
 * array the owner provides, consumed from the front, appended at the back,
 * compacted only when the back is reached.  A full buffer is the
 * backpressure: its owner stops reading that side.
 */
#ifndef MX_IOBUF_H
#define MX_IOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mx_buf {
	uint32_t r, w, cap; /* data is d[r, w) */
	char *d;
};

static inline void mx_buf_init(struct mx_buf *b, char *mem, uint32_t cap)
{
	b->r = b->w = 0;
	b->cap = cap;
	b->d = mem;
}

static inline uint32_t mx_buf_len(const struct mx_buf *b) { return b->w - b->r; }
static inline char *mx_buf_data(const struct mx_buf *b) { return b->d + b->r; }

/* Drop n bytes from the front (n <= len). */
static inline void mx_buf_consume(struct mx_buf *b, size_t n)
{
	b->r += (uint32_t)n;
	if (b->r == b->w)
		b->r = b->w = 0;
}

/* Room at the back, compacting first when the back is reached. */
uint32_t mx_buf_room(struct mx_buf *b);
/* Room for n more bytes, compacting if that makes them fit. */
bool mx_buf_fits(struct mx_buf *b, size_t n);
/* Append (the caller checked mx_buf_fits or mx_buf_room). */
void mx_buf_put(struct mx_buf *b, const void *p, size_t n);

/* Read into the room: bytes read, 0 on EOF, -1 when it would block (or
 * there is no room), -2 on an error. */
ssize_t mx_buf_read(int fd, struct mx_buf *b);
/* Write out as much as the socket takes: 0, or -2 on an error. */
int mx_buf_write(int fd, struct mx_buf *b);

#endif
