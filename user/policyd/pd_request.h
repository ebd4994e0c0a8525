/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pd_request.h - one request of Postfix's policy delegation protocol
 * (SMTPD_POLICY_README): "name=value" lines, an empty line ends it.
 *
 * Fed one line at a time (no terminator), so a connection needs a buffer
 * for one line, not for a whole request.  Only the attributes mxlimit
 * judges by are kept; every other attribute is skipped, as the protocol
 * asks ("unknown attributes ignored").  No sockets, no clock: unit-tested
 * alone (tests/unit/test_policyd.c) and fuzzed (fuzz_policyd).
 */
#ifndef PD_REQUEST_H
#define PD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line we take (Postfix's lines are far shorter: an attribute and
 * one address); a longer one ends the connection. */
#define PD_LINE_MAX 8192
/* Longest request (all its lines); a longer one ends the connection. */
#define PD_REQUEST_MAX 65536

/* Values kept, each truncated to its field (a truncated address still
 * makes a stable counter key; pd_request_feed says when it happened). */
#define PD_ADDR_LEN 64   /* client_address, server_address, ports */
#define PD_NAME_LEN 256  /* client_name: a DNS name is at most 253 */
#define PD_PATH_LEN 257  /* sender, recipient: RFC 5321 path, 256 + NUL */
#define PD_SHORT_LEN 48  /* request, protocol_state, instance */

struct pd_request {
	char request[PD_SHORT_LEN];        /* "smtpd_access_policy" */
	char protocol_state[PD_SHORT_LEN]; /* "RCPT", "MAIL", ... */
	char instance[PD_SHORT_LEN];       /* "pid.sec.usec.seqno", hex */
	char client_address[PD_ADDR_LEN];
	char client_port[PD_ADDR_LEN];
	char server_address[PD_ADDR_LEN];
	char server_port[PD_ADDR_LEN];
	char client_name[PD_NAME_LEN];     /* verified name, or "unknown" */
	char sender[PD_PATH_LEN];          /* "" for the null sender */
	char recipient[PD_PATH_LEN];
	bool have_sender, have_recipient;
	uint32_t lines;      /* attribute lines seen */
	uint32_t bad_lines;  /* lines without '=' or with an empty name */
	uint32_t truncated;  /* kept values cut to their field */
	size_t bytes;        /* request size so far */
};

enum pd_feed {
	PD_FEED_MORE,     /* line taken; the request goes on */
	PD_FEED_END,      /* the empty line: the request is complete */
	PD_FEED_TOO_LONG, /* over PD_LINE_MAX or PD_REQUEST_MAX: drop the connection */
};

void pd_request_reset(struct pd_request *r);
/* One line without its LF (a trailing CR is dropped). */
enum pd_feed pd_request_feed(struct pd_request *r, const char *line, size_t len);

/* Postfix's `instance` attribute, "%x.%lx.%lx.%x" (smtpd's pid, the MAIL
 * time in seconds and microseconds, the message's number in its session,
 * counted from 0).  Returns 0, or -1 if it does not read so. */
struct pd_instance {
	uint32_t pid;
	uint64_t usec;  /* sec * 1e6 + usec */
	uint32_t seqno;
};
int pd_instance_parse(const char *s, struct pd_instance *out);

#endif
