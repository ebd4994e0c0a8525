// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_proxy_proto.c - libFuzzer target for the PROXY protocol decoder
 * (proxy_proto.h), which reads bytes from the network before anything
 * else.
 *
 * Properties: the decoder reads only `len` bytes; a header length is
 * never more than the input; a header found with more bytes after it is
 * found the same with fewer (just the header) and every shorter prefix
 * asks for more rather than decoding to something else; addresses that
 * decode re-encode (v1 and v2) to headers that decode to the same
 * addresses.
 */
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "proxy_proto.h"

static int decode_exact(const uint8_t *data, size_t len, unsigned accept, struct mx_pp_info *out)
{
	uint8_t *b = malloc(len ? len : 1);
	int r;

	if (!b)
		abort();
	memcpy(b, data, len);
	r = mx_pp_decode(b, len, accept, out);
	free(b);
	return r;
}

/* An endpoint as 16 address bytes (IPv4 mapped) and a port: a pair sent
 * on as TCP4 comes back as AF_INET though it arrived IPv4-mapped. */
static int norm(const struct sockaddr_storage *a, uint8_t addr[16], uint16_t *port)
{
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a;

		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &x->sin_addr, 4);
		*port = x->sin_port;
		return 0;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a;

		memcpy(addr, &x->sin6_addr, 16);
		*port = x->sin6_port;
		return 0;
	}
	return -1;
}

static int same_sa(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	uint8_t x[16], y[16];
	uint16_t px, py;

	return norm(a, x, &px) == 0 && norm(b, y, &py) == 0 && px == py && memcmp(x, y, 16) == 0;
}

static void roundtrip(const struct mx_pp_info *in)
{
	char v1[MX_PP_V1_MAX + 1];
	uint8_t v2[MX_PP_V2_MAX_SENT];
	struct mx_pp_info out;
	int n;

	n = mx_pp_encode_v1((const struct sockaddr *)&in->src, (const struct sockaddr *)&in->dst, v1,
			    sizeof(v1));
	if (n < 0)
		abort(); /* what we decode we can send on */
	if (decode_exact((const uint8_t *)v1, (size_t)n, MX_PP_ACCEPT_V1, &out) != n || !out.has_addr ||
	    !same_sa(&out.src, &in->src) || !same_sa(&out.dst, &in->dst))
		abort();
	n = mx_pp_encode_v2((const struct sockaddr *)&in->src, (const struct sockaddr *)&in->dst, v2,
			    sizeof(v2));
	if (n < 0)
		abort();
	if (decode_exact(v2, (size_t)n, MX_PP_ACCEPT_V2, &out) != n || !out.has_addr ||
	    !same_sa(&out.src, &in->src) || !same_sa(&out.dst, &in->dst))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_pp_info info, again;
	unsigned accept = size ? (data[0] & 3) : 3;
	int r;

	if (size)
		data++, size--;
	if (!accept)
		accept = 3;
	r = decode_exact(data, size, accept, &info);
	if (r < -1 || (r > 0 && (size_t)r > size))
		abort();
	if (r <= 0)
		return 0;
	if (decode_exact(data, (size_t)r, accept, &again) != r || again.has_addr != info.has_addr)
		abort();
	for (size_t k = 0; k < (size_t)r; k += 1 + (size_t)r / 16)
		if (decode_exact(data, k, accept, &again) != 0)
			abort(); /* a prefix of a header is an incomplete header */
	if (info.has_addr && (info.src.ss_family == AF_INET || info.src.ss_family == AF_INET6))
		roundtrip(&info);
	return 0;
}
