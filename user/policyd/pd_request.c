/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pd_request.c - Postfix policy requests, one line at a time; see
 * pd_request.h.
 */
#include "pd_request.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void pd_request_reset(struct pd_request *r)
{
	memset(r, 0, sizeof(*r));
}

struct attr {
	const char *name;
	size_t off, len;
	size_t flag; /* offset of its have_ flag, or 0 */
};

#define A(n, f) { #n, offsetof(struct pd_request, n), sizeof(((struct pd_request *)0)->n), f }
#define HAVE(f) offsetof(struct pd_request, f)

static const struct attr attrs[] = {
	A(request, 0),
	A(protocol_state, 0),
	A(instance, 0),
	A(client_address, 0),
	A(client_port, 0),
	A(server_address, 0),
	A(server_port, 0),
	A(client_name, 0),
	A(sender, HAVE(have_sender)),
	A(recipient, HAVE(have_recipient)),
};

enum pd_feed pd_request_feed(struct pd_request *r, const char *line, size_t len)
{
	const char *eq;
	size_t nlen, vlen;

	if (len > PD_LINE_MAX)
		return PD_FEED_TOO_LONG;
	r->bytes += len + 1;
	if (r->bytes > PD_REQUEST_MAX)
		return PD_FEED_TOO_LONG;
	if (len && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return PD_FEED_END;
	r->lines++;
	eq = memchr(line, '=', len);
	if (!eq || eq == line) {
		r->bad_lines++;
		return PD_FEED_MORE;
	}
	nlen = (size_t)(eq - line);
	vlen = len - nlen - 1;
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		const struct attr *a = &attrs[i];
		char *dst = (char *)r + a->off;
		size_t n = vlen;

		if (strlen(a->name) != nlen || memcmp(a->name, line, nlen) != 0)
			continue;
		if (n >= a->len) {
			n = a->len - 1;
			r->truncated++;
		}
		memcpy(dst, eq + 1, n);
		dst[n] = '\0';
		if (memchr(dst, '\0', n)) /* a NUL inside the value: keep what precedes it */
			r->bad_lines++;
		if (a->flag)
			*(bool *)((char *)r + a->flag) = true;
		break;
	}
	return PD_FEED_MORE;
}

static int hex_field(const char **s, char end, uint64_t max, uint64_t *out)
{
	char *e;
	unsigned long long v;

	if (!((**s >= '0' && **s <= '9') || (**s >= 'a' && **s <= 'f') ||
	      (**s >= 'A' && **s <= 'F')))
		return -1;
	errno = 0;
	v = strtoull(*s, &e, 16);
	if (errno || *e != end || v > max)
		return -1;
	*out = v;
	*s = e + (end ? 1 : 0);
	return 0;
}

int pd_instance_parse(const char *s, struct pd_instance *out)
{
	uint64_t pid, sec, usec, seq;

	if (hex_field(&s, '.', UINT32_MAX, &pid) < 0 || hex_field(&s, '.', UINT32_MAX, &sec) < 0 ||
	    hex_field(&s, '.', 999999, &usec) < 0 || hex_field(&s, '\0', UINT32_MAX, &seq) < 0)
		return -1;
	out->pid = (uint32_t)pid;
	out->usec = sec * 1000000ULL + usec;
	out->seqno = (uint32_t)seq;
	return 0;
}
