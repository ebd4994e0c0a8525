/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * conf_value.c - typed values of the program sections of limit.ini; see
 * conf_value.h.
 */
#include "conf_value.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "policy.h"

int mx_conf_list(void *c, const char *file, int line, const char *value, mx_conf_item_fn fn)
{
	char *copy = strdup(value), *save = NULL, *tok;
	int rc = 0, n = 0;

	if (!copy) {
		mx_log_at(MX_LOG_ERROR, file, line, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;

		while (isspace((unsigned char)*tok))
			tok++;
		end = tok + strlen(tok);
		while (end > tok && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*tok)
			continue;
		n++;
		if ((rc = fn(c, file, line, tok)) < 0)
			break;
	}
	free(copy);
	if (rc == 0 && n == 0) {
		mx_log_at(MX_LOG_ERROR, file, line, "empty list");
		return -1;
	}
	return rc;
}

int mx_conf_u32(const char *file, int line, const char *key, const char *value, uint32_t min,
		uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*value))
		goto bad;
	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno || *end || v < min || v > UINT32_MAX)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	mx_log_at(MX_LOG_ERROR, file, line, "%s: expected a number >= %u, got \"%s\"", key, min,
		  value);
	return -1;
}

int mx_conf_duration(const char *file, int line, const char *key, const char *value,
		     uint64_t *out)
{
	if (mx_parse_duration(value, out) < 0 || *out == 0) {
		mx_log_at(MX_LOG_ERROR, file, line, "%s: bad duration \"%s\"", key, value);
		return -1;
	}
	return 0;
}

int mx_conf_enum(const char *file, int line, const char *key, const char *value,
		 const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++) {
		if (strcasecmp(value, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	mx_log_at(MX_LOG_ERROR, file, line, "%s: unknown value \"%s\"", key, value);
	return -1;
}

int mx_conf_string(const char *file, int line, const char *key, const char *value, char *out,
		   size_t len)
{
	if (strlen(value) >= len) {
		mx_log_at(MX_LOG_ERROR, file, line, "%s: value longer than %zu bytes", key,
			  len - 1);
		return -1;
	}
	memcpy(out, value, strlen(value) + 1);
	return 0;
}
