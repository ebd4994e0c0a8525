// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_smtp_diff.c - differential libFuzzer target: every line of the
 * input through mxlimit's command parser and through a model of Postfix's
 * smtpd tokenizer (smtp_diff.h).  A line the proxy forwards must mean to
 * Postfix what the proxy counted, and a MAIL/RCPT/DATA/BDAT/STARTTLS that
 * Postfix would act on must never be forwarded as another command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0;
	char why[1024];

	for (size_t i = 0; i <= size; i++) {
		if (i == size || data[i] == '\n') {
			size_t end = i;
			char *line;

			if (end > start && data[end - 1] == '\r')
				end--;
			line = malloc(end - start + 1);
			if (!line)
				abort();
			memcpy(line, data + start, end - start);
			if (smtp_diff_check(line, end - start, why, sizeof(why))) {
				fprintf(stderr, "differential: %s\n", why);
				abort();
			}
			free(line);
			start = i + 1;
		}
	}
	return 0;
}
