/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * rate_store.h - recipient-rate counters behind an interface.
 *
 * Windows are fixed: a key's window opens at its first counted event and
 * lasts `period`; the next event after it opens a new one.  That is what
 * haraka-plugin-limit does with Redis INCR + EXPIRE, so a shared store
 * ([redis]) can implement the same ops with those two commands and give
 * the same answers.
 *
 * Checking is split from counting so that a refused event consumes no
 * budget and several sections can be checked before any is charged.
 */
#ifndef MX_RATE_STORE_H
#define MX_RATE_STORE_H

#include <stddef.h>
#include <stdint.h>

/* Longest key, with NUL: a section tag plus a 256-byte path. */
#define MX_RATE_KEY_MAX 300

struct mx_rate_store;

struct mx_rate_store_ops {
	/* Events counted in key's open window (0 if none).  -1 on a store
	 * failure: the caller fails open. */
	int (*get)(struct mx_rate_store *s, const char *key, uint64_t now_ns, uint32_t *count);
	/* Count one event, opening a window of period_ns if none is open. */
	int (*incr)(struct mx_rate_store *s, const char *key, uint64_t period_ns,
		    uint64_t now_ns);
	void (*destroy)(struct mx_rate_store *s);
};

struct mx_rate_store {
	const struct mx_rate_store_ops *ops;
};

/* In-process store holding at most max_keys windows; when full, a new key
 * takes the place of the window counted least recently (never a failure,
 * never a scan). */
struct mx_rate_store *mx_rate_store_mem_new(size_t max_keys);
/* Windows held, and open windows dropped to make room (memory store
 * only; for tests and stats). */
size_t mx_rate_store_mem_size(const struct mx_rate_store *s);
uint64_t mx_rate_store_mem_evicted(const struct mx_rate_store *s);

static inline int mx_rate_get(struct mx_rate_store *s, const char *key, uint64_t now,
			      uint32_t *count)
{
	return s->ops->get(s, key, now, count);
}

static inline int mx_rate_incr(struct mx_rate_store *s, const char *key, uint64_t period,
			       uint64_t now)
{
	return s->ops->incr(s, key, period, now);
}

static inline void mx_rate_store_free(struct mx_rate_store *s)
{
	if (s)
		s->ops->destroy(s);
}

#endif
