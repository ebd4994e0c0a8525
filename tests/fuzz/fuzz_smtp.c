// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_smtp.c - libFuzzer target for smtp_parse.h: every line of the
 * input through the command and reply parsers, and the whole input
 * through the DATA end scanner.
 *
 * Properties: each parser reads only its `len` bytes (exact-size copies);
 * a parsed command's canonical spelling is at most 2 bytes longer and
 * parses to itself again;
 * a parsed path is NUL-terminated, lower case, within the bounds; the
 * DATA scanner gives the same verdict at the same byte however the
 * stream is split into reads (the proxy sees arbitrary TCP segments), and
 * on END the last forwarded byte is the LF of CRLF "." CRLF.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

static void one_line(const char *data, size_t len)
{
	char *line = malloc(len ? len : 1);
	char path[MX_SMTP_PATH_MAX + 1], tiny[4];
	bool last;
	int code;

	if (!line)
		return;
	memcpy(line, data, len);
	mx_smtp_verb_name(mx_smtp_verb(line, len));
	if (mx_smtp_path(line, len, path, sizeof(path)) == 0) {
		size_t n = strnlen(path, sizeof(path));

		if (n == sizeof(path))
			abort();
		for (size_t i = 0; i < n; i++)
			if (path[i] >= 'A' && path[i] <= 'Z')
				abort();
	}
	if (mx_smtp_path(line, len, tiny, sizeof(tiny)) == 0 && strnlen(tiny, sizeof(tiny)) == sizeof(tiny))
		abort();
	{
		struct mx_smtp_cmd c;
		char canon[MX_SMTP_AUTH_LINE_MAX + 8], again[MX_SMTP_AUTH_LINE_MAX + 8];
		int n;

		if (mx_smtp_parse(line, len, &c) == MX_SMTP_OK) {
			n = mx_smtp_canon(&c, canon, sizeof(canon));
			if (len + 2 <= MX_SMTP_AUTH_LINE_MAX && (n < 0 || (size_t)n > len + 2))
				abort(); /* never longer than the line + 2 */
			/* the canonical spelling is a fixed point of the parser */
			if (n >= 0 && (mx_smtp_parse(canon, (size_t)n, &c) != MX_SMTP_OK ||
				       mx_smtp_canon(&c, again, sizeof(again)) != n ||
				       memcmp(canon, again, (size_t)n) != 0))
				abort();
		}
	}
	if (mx_smtp_reply_line(line, len, &code, &last) == 0) {
		if (code < 200 || code > 599)
			abort();
		mx_smtp_reply_class(code);
	}
	free(line);
}

/* The scan of the whole stream in pieces of the given sizes. */
static enum mx_data_result scan_split(const uint8_t *data, size_t size, size_t step, size_t *at)
{
	struct mx_data_scan s;
	size_t off = 0;

	mx_data_scan_init(&s);
	while (off < size) {
		size_t n = size - off < step ? size - off : step, used = (size_t)-1;
		char *piece = malloc(n);
		enum mx_data_result r;

		if (!piece)
			abort();
		memcpy(piece, data + off, n);
		r = mx_data_scan(&s, piece, n, &used);
		free(piece);
		if (used > n || (r == MX_DATA_MORE && used != n))
			abort();
		if (r != MX_DATA_MORE) {
			*at = off + used;
			return r;
		}
		off += n;
	}
	*at = size;
	return MX_DATA_MORE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0, at1, at, steps[] = { 1, 2, 3, 7, 64 };
	enum mx_data_result r1;

	for (size_t i = 0; i <= size; i++) {
		if (i == size || data[i] == '\n') {
			size_t end = i;

			if (end > start && data[end - 1] == '\r')
				end--;
			one_line((const char *)data + start, end - start);
			start = i + 1;
		}
	}
	r1 = scan_split(data, size, size ? size : 1, &at1);
	if (r1 == MX_DATA_END && (at1 < 5 || memcmp(data + at1 - 5, "\r\n.\r\n", 5) != 0) &&
	    !(at1 == 3 && memcmp(data, ".\r\n", 3) == 0))
		abort(); /* END only after CRLF "." CRLF (or "." CRLF first) */
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
		if (scan_split(data, size, steps[k], &at) != r1 || at != at1)
			abort(); /* the split changed the verdict */
	return 0;
}
