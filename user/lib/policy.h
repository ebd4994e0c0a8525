/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy.h - limit.ini (haraka-plugin-limit format) read, validated and
 * loaded.  The user contract is limit.ini(5); the compiler for the kernel
 * is the controller's (policy_compile.h), the lookups the SMTP front ends'
 * (policy_match.h).
 *
 *   struct mx_policy pol;
 *   if (mx_policy_load("limit.ini", &pol) < 0)  // errors already reported
 *           return 2;                            // as "PROG: FILE:LINE: msg"
 *   ...
 *   mx_policy_free(&pol);
 *
 * mx_policy_load reports every error and warning through log.h and fails
 * on the first file with any error; it never half-fills `out` on failure
 * (out is zeroed and freed).
 */
#ifndef MX_POLICY_H
#define MX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "mx_types.h"
#include "policyd_conf.h"
#include "proxy_conf.h"
#include "redis_conf.h"

#define MX_NS_PER_SEC 1000000000ULL

/* Defaults of [main] (limit.ini(5)). */
#define MX_DEFAULT_PORTS "25,465,587,143,993,110,995"
#define MX_DEFAULT_IPV4_PREFIX 32
#define MX_DEFAULT_IPV6_PREFIX 64
#define MX_DEFAULT_PERIOD_NS (60 * MX_NS_PER_SEC)
/* SYN-to-handshake allowance: longer than a few SYN-ACK retransmits on a
 * slow path, short enough that spoofed SYNs free their slots quickly. */
#define MX_DEFAULT_PENDING_TIMEOUT_NS (4 * MX_NS_PER_SEC)
/* Bounds of pending_timeout: a SYN-ACK is retransmitted for about a
 * minute by default (tcp_synack_retries = 5), so longer only lets spoofed
 * SYNs hold slots. */
#define MX_PENDING_TIMEOUT_MIN_NS (1 * MX_NS_PER_SEC)
#define MX_PENDING_TIMEOUT_MAX_NS (120 * MX_NS_PER_SEC)
/* Counters idle this long (no connection open) may be collected. */
#define MX_DEFAULT_GC_IDLE_NS (600 * MX_NS_PER_SEC)
#define MX_GC_IDLE_MIN_NS (10 * MX_NS_PER_SEC)
/* Gateway mode: a flow's idle timeout by port family, from the protocols'
 * own idle limits (RFC 5321 4.5.3.2, RFC 3501 5.4, RFC 1939). */
#define MX_DEFAULT_FLOW_IDLE_SMTP_NS (900 * MX_NS_PER_SEC)
#define MX_DEFAULT_FLOW_IDLE_IMAP_NS (2100 * MX_NS_PER_SEC)
#define MX_DEFAULT_FLOW_IDLE_POP_NS (900 * MX_NS_PER_SEC)
#define MX_FLOW_IDLE_MIN_NS (10 * MX_NS_PER_SEC)
#define MX_FLOW_IDLE_MAX_NS (7ULL * 86400 * MX_NS_PER_SEC)
/* [main] servers: prefixes of the protected mail servers, at most */
#define MX_MAX_SERVERS 256
/* Map sizes.  Sources and connections are preallocated hashes (about
 * 100 bytes an entry), rate buckets and pending SYNs LRU; 64 Ki sources is
 * room for a busy MX, 256 Ki rate buckets absorb a spoofed-source flood
 * without evicting real senders at once. */
#define MX_DEFAULT_MAX_SOURCES 65536
#define MX_DEFAULT_MAX_CONNECTIONS 65536
#define MX_DEFAULT_MAX_RATE_SOURCES 262144
#define MX_DEFAULT_MAX_PENDING 65536
#define MX_DEFAULT_MAX_SANCTIONS 65536
#define MX_DEFAULT_MAX_RULES 4096
/* Any map size is 16..16 Mi entries: a typo must not preallocate gigabytes. */
#define MX_MAP_ENTRIES_MIN 16
#define MX_MAP_ENTRIES_MAX (16u * 1024 * 1024)
/* Longest duration anywhere (blocks, periods): 10 years is "forever" and
 * keeps now + duration far from overflowing 64-bit nanoseconds. */
#define MX_DURATION_MAX_NS (3650ULL * 86400 * MX_NS_PER_SEC)
/* Largest policy file read: limit.ini is written by hand; the bound keeps
 * a wrong path (a log, /dev/zero) from eating memory. */
#define MX_POLICY_MAX_BYTES (1024 * 1024)
/* conc_rule / rate_rule of a compiled rule no lookup of the section matched. */
#define MX_COMPILED_NO_RULE 0xffffffffu

enum mx_lookup_kind {
	MX_LOOKUP_DEFAULT, /* "default" (or "max" in [concurrency] / [recipients] ...) */
	MX_LOOKUP_PREFIX,  /* address, haraka partial, or CIDR */
	MX_LOOKUP_NAME,    /* hostname, domain or mail address (proxy sections) */
};

/* One "lookup = limit[/time]" line. */
struct mx_lookup {
	enum mx_lookup_kind kind;
	mx_prefix prefix;  /* MX_LOOKUP_PREFIX */
	char *text;        /* as written, lowercased for names */
	uint32_t limit;    /* 0 = unlimited (allowlist entry) */
	uint64_t period_ns;/* rate sections: time (default 60 s); else 0 */
	int line;
};

/* A limit section such as [concurrency] or [rate_rcpt_sender]. */
struct mx_section {
	bool present;     /* the header appeared */
	bool enabled;     /* enabled = true (or a section that needs no switch) */
	int line;         /* of the header */
	struct mx_lookup *lookups;
	size_t n_lookups;
};

/* A haraka history tier value ("bad = 1/15m"). */
struct mx_tier {
	bool set;
	uint32_t limit;
	uint64_t period_ns; /* rate tiers only */
};

/* The proxy-side limits that [penalty] can name. */
enum mx_violation {
	MX_VIOL_RECIPIENTS,
	MX_VIOL_UNRECOGNIZED_COMMANDS,
	MX_VIOL_ERRORS,
	MX_VIOL_RATE_RCPT_HOST,
	MX_VIOL_RATE_RCPT_SENDER,
	MX_VIOL_RATE_RCPT,
	MX_VIOL_RATE_RCPT_NULL,
	MX_VIOL_MAX_CLIENTS,
	MX_VIOL__COUNT
};
/* "recipients", "unrecognized_commands", ... (the [penalty] keys) */
const char *mx_violation_name(enum mx_violation v);

enum mx_verdict_verb { MX_VERDICT_NONE, MX_VERDICT_BLOCK, MX_VERDICT_PENALIZE };

/* "block 10m", "penalize 1h", "penalize 1h limit=1" */
struct mx_penalty {
	enum mx_verdict_verb verb;
	uint64_t duration_ns;
	uint32_t limit; /* penalize only; 0 = none given */
	int line;
};

struct mx_policy {
	char *path;

	/* [main] */
	__u64 ports[1024];     /* bitmap as in mx_config (mx_port_isset) */
	unsigned ipv4_prefix;  /* 1..32, native */
	unsigned ipv6_prefix;  /* 1..128 */
	/* the wide level of `default` sources: 0 = none, else shorter than the
	 * per-source prefix (e.g. /24 over /32, /48 over /64) */
	unsigned ipv4_wide_prefix;
	unsigned ipv6_wide_prefix;
	enum mx_action action;
	uint64_t tarpit_delay_ns;
	/* [main] haraka_defaults = yes: the values haraka-plugin-limit's own
	 * limit.ini gives a haraka user's file were filled in where the file
	 * leaves them out (policy.c, haraka_shipped[]) */
	bool haraka_defaults;
	uint64_t pending_timeout_ns;
	uint64_t gc_idle_ns;   /* idle counters older than this may be collected */
	/* gateway mode (docs/gateway.md): the protected servers, required
	 * there, and the flows' idle timeouts by port family */
	mx_prefix *servers;
	size_t n_servers;
	int servers_line;
	uint64_t flow_idle_smtp_ns; /* 25 465 587 and every other port */
	uint64_t flow_idle_imap_ns; /* 143 993 */
	uint64_t flow_idle_pop_ns;  /* 110 995 */
	/* map sizes, applied when the maps are first created */
	uint32_t max_sources;      /* concurrency counters */
	uint32_t max_connections;  /* counted connections */
	uint32_t max_rate_sources; /* rate buckets (LRU) */
	uint32_t max_pending;      /* pending SYN records (LRU) */
	uint32_t max_sanctions;    /* blocks and penalties */
	uint32_t max_rules;        /* merged policy prefixes per generation */

	/* kernel sections */
	struct mx_section concurrency;
	struct mx_section rate_conn;
	struct mx_tier concurrency_wide; /* [concurrency] wide = N */
	struct mx_tier rate_conn_wide;   /* [rate_conn] wide = N/time */
	struct mx_tier concurrency_bad; /* [concurrency_history] bad */
	struct mx_tier rate_conn_bad;   /* [rate_conn_history] bad */

	/* proxy sections */
	struct mx_section recipients;
	struct mx_section unrecognized_commands;
	struct mx_section errors;
	struct mx_section rate_rcpt_host;
	struct mx_section rate_rcpt_sender;
	struct mx_section rate_rcpt;
	struct mx_section rate_rcpt_null;
	struct mx_tier recipients_bad;  /* [recipients_history] bad */
	struct mx_penalty penalty[MX_VIOL__COUNT];
	struct mx_proxy_conf proxy;     /* [proxy], see proxy_conf.h */
	struct mx_policyd_conf policyd; /* [policyd], see policyd_conf.h */
	struct mx_redis_conf redis;     /* [redis], see redis_conf.h */
};

int mx_policy_load(const char *path, struct mx_policy *out);
/* Same, from a buffer; `name` is used in messages as the file name. */
int mx_policy_load_buf(const char *name, const char *buf, size_t len, struct mx_policy *out);
void mx_policy_free(struct mx_policy *pol);

bool mx_policy_port(const struct mx_policy *pol, unsigned port);

/* "10m" "1h" "30" (s) "2D"; 0 and overflow are errors for durations that must be > 0 */
int mx_parse_duration(const char *s, uint64_t *ns);
/* The same, 0 allowed ("tarpit_delay = 0" turns the tarpit off). */
int mx_parse_duration_or_zero(const char *s, uint64_t *ns);
/* "90s" -> "1m30s", "3600s" -> "1h", 0 -> "0s"; returns buf. */
char *mx_format_duration(uint64_t ns, char *buf, size_t len);

#endif
