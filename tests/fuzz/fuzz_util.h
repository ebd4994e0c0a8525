/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* fuzz_util.h - small checks the libFuzzer targets share. */
#ifndef MX_FUZZ_UTIL_H
#define MX_FUZZ_UTIL_H

#include <stddef.h>

/* Is every byte of [p, p + n) zero (an output a refusal must leave)? */
static inline int all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

#endif
