/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_iobuf.c - the one bounded buffer (user/lib/iobuf.h): append,
 * consume, compaction only when needed, and reads and writes on a real
 * socket pair (EOF, would-block, a full buffer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iobuf.h"

static void test_put_consume_compact(void **state)
{
	char mem[8];
	struct mx_buf b;

	(void)state;
	mx_buf_init(&b, mem, sizeof(mem));
	assert_int_equal(mx_buf_room(&b), 8);
	mx_buf_put(&b, "abcdef", 6);
	assert_int_equal(mx_buf_len(&b), 6);
	mx_buf_consume(&b, 4);
	assert_memory_equal(mx_buf_data(&b), "ef", 2);
	/* room at the back is 2: no move yet */
	assert_int_equal(mx_buf_room(&b), 2);
	assert_int_equal(b.r, 4);
	/* 5 more fit only by compacting: fits() moves the data to the front */
	assert_true(mx_buf_fits(&b, 5));
	assert_int_equal(b.r, 0);
	assert_memory_equal(mx_buf_data(&b), "ef", 2);
	mx_buf_put(&b, "ghijk", 5);
	assert_false(mx_buf_fits(&b, 2)); /* 7 of 8 used */
	mx_buf_consume(&b, 7);
	assert_int_equal(mx_buf_len(&b), 0);
	assert_int_equal(b.r, 0); /* empty: back to the start */
}

static void test_socket(void **state)
{
	char mem[16], out[16];
	struct mx_buf b, o;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	mx_buf_init(&b, mem, sizeof(mem));
	assert_int_equal(mx_buf_read(sv[0], &b), -1); /* would block */
	assert_int_equal(write(sv[1], "hello\n", 6), 6);
	assert_int_equal(mx_buf_read(sv[0], &b), 6);
	assert_memory_equal(mx_buf_data(&b), "hello\n", 6);
	/* a full buffer reads nothing and says so */
	assert_int_equal(write(sv[1], "0123456789abcdef", 16), 16);
	assert_int_equal(mx_buf_read(sv[0], &b), 10);
	assert_int_equal(mx_buf_read(sv[0], &b), -1);
	assert_int_equal(mx_buf_len(&b), 16);
	mx_buf_consume(&b, 16);
	assert_int_equal(mx_buf_read(sv[0], &b), 6);
	/* writes drain the buffer */
	mx_buf_init(&o, out, sizeof(out));
	mx_buf_put(&o, "reply\n", 6);
	assert_int_equal(mx_buf_write(sv[0], &o), 0);
	assert_int_equal(mx_buf_len(&o), 0);
	{
		char got[8];

		assert_int_equal(read(sv[1], got, sizeof(got)), 6);
		assert_memory_equal(got, "reply\n", 6);
	}
	close(sv[1]);
	mx_buf_consume(&b, mx_buf_len(&b));
	assert_int_equal(mx_buf_read(sv[0], &b), 0); /* EOF */
	mx_buf_put(&o, "x", 1);
	assert_int_equal(mx_buf_write(sv[0], &o), -2); /* the peer is gone */
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_consume_compact),
		cmocka_unit_test(test_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
