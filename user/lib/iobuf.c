/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* iobuf.c - see iobuf.h. */
#include "iobuf.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

uint32_t mx_buf_room(struct mx_buf *b)
{
	if (b->r == b->w) {
		b->r = b->w = 0;
	} else if (b->r > 0 && b->w == b->cap) {
		memmove(b->d, b->d + b->r, b->w - b->r);
		b->w -= b->r;
		b->r = 0;
	}
	return b->cap - b->w;
}

bool mx_buf_fits(struct mx_buf *b, size_t n)
{
	if (b->cap - b->w >= n)
		return true;
	if (b->cap - mx_buf_len(b) < n)
		return false;
	memmove(b->d, b->d + b->r, mx_buf_len(b));
	b->w -= b->r;
	b->r = 0;
	return true;
}

void mx_buf_put(struct mx_buf *b, const void *p, size_t n)
{
	memcpy(b->d + b->w, p, n);
	b->w += (uint32_t)n;
}

ssize_t mx_buf_read(int fd, struct mx_buf *b)
{
	uint32_t room = mx_buf_room(b);
	ssize_t r;

	if (!room)
		return -1;
	r = recv(fd, b->d + b->w, room, MSG_DONTWAIT);
	if (r > 0)
		b->w += (uint32_t)r;
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
	return r;
}

int mx_buf_write(int fd, struct mx_buf *b)
{
	while (mx_buf_len(b)) {
		ssize_t w = send(fd, mx_buf_data(b), mx_buf_len(b), MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -2;
		mx_buf_consume(b, (size_t)w);
	}
	b->r = b->w = 0;
	return 0;
}
