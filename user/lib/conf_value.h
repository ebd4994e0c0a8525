/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * conf_value.h - typed values of the program sections of limit.ini
 * ([proxy], [policyd]): each setter checks one value and, when it is bad,
 * reports "FILE:LINE: key: why" through log.h and returns -1.
 */
#ifndef MX_CONF_VALUE_H
#define MX_CONF_VALUE_H

#include <stddef.h>
#include <stdint.h>

/* A comma-separated list: fn on each item, blanks trimmed, empty items
 * skipped; a list with no item at all is an error. */
typedef int (*mx_conf_item_fn)(void *ctx, const char *file, int line, const char *item);
int mx_conf_list(void *ctx, const char *file, int line, const char *value, mx_conf_item_fn fn);

/* A decimal number >= min. */
int mx_conf_u32(const char *file, int line, const char *key, const char *value, uint32_t min,
		uint32_t *out);
/* A duration > 0 ("30s", "10m", "1h"; policy.h mx_parse_duration). */
int mx_conf_duration(const char *file, int line, const char *key, const char *value,
		     uint64_t *out);
/* One of names[] (NULL-terminated, case-insensitive): its index. */
int mx_conf_enum(const char *file, int line, const char *key, const char *value,
		 const char *const *names, int *out);
/* A string that fits out[len]. */
int mx_conf_string(const char *file, int line, const char *key, const char *value, char *out,
		   size_t len);

#endif
