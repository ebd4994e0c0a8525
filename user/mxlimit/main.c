// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* main.c - mxlimit: placeholder until the CLI lands. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "mxlimit: CLI not built yet\n");
	return 2;
}
