/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* mx_csum.h - Internet checksums (RFC 1071) over fixed-size headers. */
#ifndef MX_CSUM_H
#define MX_CSUM_H

static __always_inline __u16 mx_csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Sum of `words` 16-bit words at p (p must be bounds-checked). */
static __always_inline __u64 mx_csum_words(const __u16 *p, int words)
{
	__u64 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < words; i++)
		sum += p[i];
	return sum;
}

/* Sum of a 128-bit address in the shared space, as it goes on the wire
 * (IPv4: only its last word). */
static __always_inline __u64 mx_csum_addr(const __u32 *a, int v6)
{
	__u64 sum = (a[3] & 0xffff) + (a[3] >> 16);

	if (v6) {
		sum += (a[0] & 0xffff) + (a[0] >> 16);
		sum += (a[1] & 0xffff) + (a[1] >> 16);
		sum += (a[2] & 0xffff) + (a[2] >> 16);
	}
	return sum;
}

#endif
