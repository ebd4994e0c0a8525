/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ini.h - reader for haraka's ini dialect (haraka-config lib/readers/ini.js).
 *
 *   ; comment              # comment
 *   key = value            keys before the first header belong to [main]
 *   [section]
 *   key = value ; comment  ';' or '#' after whitespace ends the value
 *   key = a long \         a trailing backslash joins the next line
 *         value
 *
 * The reader knows nothing about what keys mean: it hands every header and
 * every key to a callback with its line number, and reports syntax errors
 * itself as "PROG: FILE:LINE: message" (log.h).  Lines end in LF, CRLF or
 * CR.  A physical line longer than MX_INI_LINE_MAX, a NUL or other control
 * byte, or bytes that are not UTF-8 are errors for that line; reading goes
 * on so one run reports every error.
 */
#ifndef MX_INI_H
#define MX_INI_H

#include <stddef.h>

/* Longest line (physical, or logical after joining continuations) in
 * bytes.  A limit.ini line is a lookup and a limit; 4 KiB leaves room for
 * long comments while keeping every buffer on the stack bounded. */
#define MX_INI_LINE_MAX 4096

enum mx_ini_kind {
	MX_INI_SECTION, /* a "[name]" header: section is the new name */
	MX_INI_KEY,     /* a "key = value" line */
};

struct mx_ini_item {
	enum mx_ini_kind kind;
	const char *section; /* current section, "main" before any header */
	const char *key;     /* MX_INI_KEY */
	const char *value;   /* MX_INI_KEY: trimmed; "" for "key ="; NULL for a bare "key" */
	int line;            /* of the header, or of the key's first physical line */
};

/* Called for every header and key in file order.  Returns 0, or -1 after
 * reporting an error itself; reading goes on either way. */
typedef int (*mx_ini_fn)(void *ctx, const struct mx_ini_item *item);

/*
 * Read `len` bytes of `buf` (need not be NUL-terminated; may hold NULs).
 * `name` is the file name used in messages.  Returns 0 when neither the
 * reader nor the callback found an error, else -1.
 */
int mx_ini_parse(const char *name, const char *buf, size_t len, mx_ini_fn fn, void *ctx);

#endif
