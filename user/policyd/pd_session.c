/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pd_session.c - the derived SMTP sessions of mxlimit-policyd; see
 * pd_session.h.  A fixed array of entries, a chained hash index and a
 * recency list, all by index: no allocation after start.
 */
#include "pd_session.h"

#include <stdlib.h>
#include <string.h>

#include "sysutil.h"

struct pd_sessions {
	struct pd_session *e;  /* max entries */
	uint32_t *bucket;      /* index + 1 of the chain's first entry */
	uint32_t max, used, nbuckets;
	uint32_t newest, oldest; /* index + 1 */
};

struct pd_sessions *pd_sessions_new(uint32_t max)
{
	struct pd_sessions *t = calloc(1, sizeof(*t));
	uint32_t nb = 1;

	if (!t || max == 0)
		goto fail;
	while (nb < max && nb < (1u << 31))
		nb <<= 1;
	t->e = calloc(max, sizeof(*t->e));
	t->bucket = calloc(nb, sizeof(*t->bucket));
	if (!t->e || !t->bucket)
		goto fail;
	t->max = max;
	t->nbuckets = nb;
	return t;
fail:
	pd_sessions_free(t);
	return NULL;
}

void pd_sessions_free(struct pd_sessions *t)
{
	if (!t)
		return;
	free(t->e);
	free(t->bucket);
	free(t);
}

uint32_t pd_sessions_count(const struct pd_sessions *t)
{
	return t->used;
}

#define E(i) (&t->e[(i) - 1])

static void list_unlink(struct pd_sessions *t, uint32_t i)
{
	struct pd_session *s = E(i);

	if (s->newer)
		E(s->newer)->older = s->older;
	else
		t->newest = s->older;
	if (s->older)
		E(s->older)->newer = s->newer;
	else
		t->oldest = s->newer;
	s->newer = s->older = 0;
}

static void list_push_newest(struct pd_sessions *t, uint32_t i)
{
	struct pd_session *s = E(i);

	s->newer = 0;
	s->older = t->newest;
	if (t->newest)
		E(t->newest)->newer = i;
	t->newest = i;
	if (!t->oldest)
		t->oldest = i;
}

static uint32_t *chain_head(struct pd_sessions *t, uint64_t key)
{
	return &t->bucket[key & (t->nbuckets - 1)];
}

static void chain_unlink(struct pd_sessions *t, uint32_t i)
{
	uint32_t *p = chain_head(t, E(i)->key);

	while (*p && *p != i)
		p = &E(*p)->chain;
	if (*p)
		*p = E(i)->chain;
}

static uint32_t find(struct pd_sessions *t, uint64_t key)
{
	for (uint32_t i = *chain_head(t, key); i; i = E(i)->chain)
		if (E(i)->key == key)
			return i;
	return 0;
}

/* A free entry: a new one while the array lasts, else the oldest. */
static uint32_t take(struct pd_sessions *t)
{
	uint32_t i;

	if (t->used < t->max)
		return ++t->used;
	i = t->oldest;
	list_unlink(t, i);
	chain_unlink(t, i);
	return i;
}

static uint64_t hash_str(const char *s, uint64_t h)
{
	return mx_fnv1a(s, strlen(s) + 1, h); /* the NUL separates fields */
}

static uint64_t session_key(const struct pd_request *r, const struct pd_instance *in, bool inst)
{
	uint64_t h = MX_FNV1A_INIT;
	uint32_t pid = inst ? in->pid : 0;

	h = mx_fnv1a(&pid, sizeof(pid), h);
	h = hash_str(r->client_address, h);
	h = hash_str(r->client_port, h);
	h = hash_str(r->server_address, h);
	h = hash_str(r->server_port, h);
	return h ? h : 1;
}

/* Does this request continue the session s (same or a later message)? */
static bool continues(const struct pd_session *s, bool inst, const struct pd_instance *in)
{
	if (!inst || !s->has_instance)
		return inst == s->has_instance;
	if (in->seqno == s->seqno)
		return in->usec == s->msg_usec;
	return in->seqno > s->seqno && in->usec >= s->msg_usec;
}

struct pd_session *pd_sessions_get(struct pd_sessions *t, const struct pd_request *r,
				   uint64_t now_ns, uint64_t timeout_ns, bool *fresh)
{
	struct pd_instance in = { 0 };
	bool inst = pd_instance_parse(r->instance, &in) == 0;
	uint64_t key = session_key(r, &in, inst);
	uint32_t i = find(t, key);
	struct pd_session *s;

	*fresh = false;
	if (i) {
		s = E(i);
		list_unlink(t, i);
		if (now_ns - s->last_ns > timeout_ns || !continues(s, inst, &in))
			*fresh = true;
	} else {
		i = take(t);
		s = E(i);
		s->key = key;
		s->chain = *chain_head(t, key);
		*chain_head(t, key) = i;
		*fresh = true;
	}
	if (*fresh) {
		s->rcpts = 0;
		s->reported = 0;
	}
	s->has_instance = inst;
	s->seqno = in.seqno;
	s->msg_usec = in.usec;
	s->last_ns = now_ns;
	list_push_newest(t, i);
	return s;
}
