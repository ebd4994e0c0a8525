/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * rate_store.c - the in-process rate store: a chained hash of fixed windows.
 *
 * Memory is bounded by max_keys.  Expired windows are reclaimed lazily
 * (every incr sweeps a couple of buckets); a full table makes room by
 * dropping the window counted least recently (a list in counting order),
 * in O(1): a flood of fresh keys (rotating senders) then pushes out idle
 * windows, never the busy ones it would take to evade a limit, and never
 * stops counting.
 */
#include "rate_store.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sysutil.h"

/* Buckets swept per incr: keeps reclamation ahead of insertion. */
#define SWEEP_PER_INCR 2

struct win {
	struct win *next;             /* bucket chain */
	struct win *newer, *older;    /* counting order */
	uint64_t end_ns; /* window closes here */
	uint32_t count;
	char key[];
};

struct mem_store {
	struct mx_rate_store base;
	struct win **buckets;
	size_t n_buckets; /* power of two */
	size_t n_keys, max_keys;
	size_t sweep;     /* next bucket to sweep */
	struct win *newest, *oldest;
	uint64_t evicted; /* open windows dropped to make room */
};

static void lru_unlink(struct mem_store *m, struct win *w)
{
	if (w->newer)
		w->newer->older = w->older;
	else
		m->newest = w->older;
	if (w->older)
		w->older->newer = w->newer;
	else
		m->oldest = w->newer;
	w->newer = w->older = NULL;
}

static void lru_push(struct mem_store *m, struct win *w)
{
	w->newer = NULL;
	w->older = m->newest;
	if (m->newest)
		m->newest->newer = w;
	m->newest = w;
	if (!m->oldest)
		m->oldest = w;
}

static uint64_t hash_key(const char *k)
{
	return mx_fnv1a(k, strlen(k), MX_FNV1A_INIT);
}

static struct win **find(struct mem_store *m, const char *key)
{
	struct win **w = &m->buckets[hash_key(key) & (m->n_buckets - 1)];

	for (; *w; w = &(*w)->next)
		if (strcmp((*w)->key, key) == 0)
			return w;
	return w;
}

static void sweep_bucket(struct mem_store *m, size_t b, uint64_t now)
{
	struct win **w = &m->buckets[b];

	while (*w) {
		if ((*w)->end_ns <= now) {
			struct win *dead = *w;

			*w = dead->next;
			lru_unlink(m, dead);
			free(dead);
			m->n_keys--;
		} else {
			w = &(*w)->next;
		}
	}
}

/* Drop the window counted least recently (full table); an open one
 * counts as evicted, a closed one is only reclaimed. */
static void evict_oldest(struct mem_store *m, uint64_t now)
{
	struct win *victim = m->oldest, **w;

	if (!victim)
		return;
	w = find(m, victim->key);
	*w = victim->next;
	lru_unlink(m, victim);
	m->evicted += victim->end_ns > now;
	free(victim);
	m->n_keys--;
}

static int mem_get(struct mx_rate_store *s, const char *key, uint64_t now, uint32_t *count)
{
	struct mem_store *m = (struct mem_store *)s;
	struct win *w = *find(m, key);

	*count = w && w->end_ns > now ? w->count : 0;
	return 0;
}

static int mem_incr(struct mx_rate_store *s, const char *key, uint64_t period, uint64_t now)
{
	struct mem_store *m = (struct mem_store *)s;
	struct win **slot, *w;
	size_t kl = strlen(key);

	for (int i = 0; i < SWEEP_PER_INCR; i++)
		sweep_bucket(m, m->sweep++ & (m->n_buckets - 1), now);
	slot = find(m, key);
	if ((w = *slot)) {
		if (w->end_ns <= now) { /* closed: a new window starts now */
			w->end_ns = now + period;
			w->count = 0;
		}
		w->count++;
		lru_unlink(m, w);
		lru_push(m, w);
		return 0;
	}
	if (kl >= MX_RATE_KEY_MAX)
		return -1;
	if (m->n_keys >= m->max_keys) {
		evict_oldest(m, now);
		slot = find(m, key); /* the chain may have changed */
	}
	w = malloc(sizeof(*w) + kl + 1);
	if (!w)
		return -1;
	memcpy(w->key, key, kl + 1);
	w->end_ns = now + period;
	w->count = 1;
	w->next = NULL;
	*slot = w;
	lru_push(m, w);
	m->n_keys++;
	return 0;
}

static void mem_destroy(struct mx_rate_store *s)
{
	struct mem_store *m = (struct mem_store *)s;

	for (size_t b = 0; b < m->n_buckets; b++) {
		struct win *w = m->buckets[b];

		while (w) {
			struct win *next = w->next;

			free(w);
			w = next;
		}
	}
	free(m->buckets);
	free(m);
}

static const struct mx_rate_store_ops mem_ops = {
	.get = mem_get,
	.incr = mem_incr,
	.destroy = mem_destroy,
};

struct mx_rate_store *mx_rate_store_mem_new(size_t max_keys)
{
	struct mem_store *m = calloc(1, sizeof(*m));
	size_t nb = 64;

	if (!m)
		return NULL;
	while (nb < max_keys && nb < ((size_t)1 << 24))
		nb <<= 1;
	m->buckets = calloc(nb, sizeof(*m->buckets)); /* NOLINT(bugprone-sizeof-expression): pointers */
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	m->base.ops = &mem_ops;
	m->n_buckets = nb;
	m->max_keys = max_keys ? max_keys : 1;
	return &m->base;
}

size_t mx_rate_store_mem_size(const struct mx_rate_store *s)
{
	return ((const struct mem_store *)s)->n_keys;
}

uint64_t mx_rate_store_mem_evicted(const struct mx_rate_store *s)
{
	return ((const struct mem_store *)s)->evicted;
}
