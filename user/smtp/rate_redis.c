/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* rate_redis.c - recipient-rate counters in Redis; see rate_redis.h. */
#include "rate_redis.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* KEYS: the counters in checking order.  ARGV: limit, window ms per key.
 * Returns 0 (counted) or the 1-based index of the full counter. */
static const char lua_rcpt[] =
	"for i = 1, #KEYS do\n"
	"  local c = tonumber(redis.call('GET', KEYS[i]) or '0')\n"
	"  if c >= tonumber(ARGV[2 * i - 1]) then return i end\n"
	"end\n"
	"for i = 1, #KEYS do\n"
	"  if redis.call('INCR', KEYS[i]) == 1 then\n"
	"    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])\n"
	"  end\n"
	"end\n"
	"return 0\n";

struct ask {
	mx_rate_redis_fn fn;
	void *arg;
	unsigned n;
	enum mx_violation viol[MX_RCPT_PROBES];
};

static void reply(struct mx_redis *r, const redisReply *rep, void *arg)
{
	struct ask *a = arg;
	int result = -1;

	(void)r;
	if (rep && rep->type == REDIS_REPLY_INTEGER) {
		if (rep->integer == 0)
			result = MX_VIOL__COUNT;
		else if (rep->integer > 0 && (unsigned long long)rep->integer <= a->n)
			result = (int)a->viol[rep->integer - 1];
	}
	a->fn(a->arg, result);
	free(a);
}

int mx_rate_redis_check(struct mx_redis *r, const char *prefix, const struct mx_rcpt_plan *pl,
			mx_rate_redis_fn fn, void *arg)
{
	char keys[MX_RCPT_PROBES][MX_RATE_KEY_MAX + 80];
	char nums[2 * MX_RCPT_PROBES][24];
	const char *argv[3 + 3 * MX_RCPT_PROBES];
	char nkeys[16];
	struct ask *a;
	int n = 0;

	if (!mx_redis_is_up(r) || !pl->n || !(a = calloc(1, sizeof(*a))))
		return -1;
	a->fn = fn;
	a->arg = arg;
	a->n = pl->n;
	snprintf(nkeys, sizeof(nkeys), "%u", pl->n);
	argv[n++] = "EVAL";
	argv[n++] = lua_rcpt;
	argv[n++] = nkeys;
	for (unsigned i = 0; i < pl->n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%src:%s", prefix, pl->p[i].key);
		argv[n++] = keys[i];
		a->viol[i] = pl->p[i].viol;
	}
	for (unsigned i = 0; i < pl->n; i++) {
		uint64_t ms = pl->p[i].period_ns / 1000000ULL;

		snprintf(nums[2 * i], sizeof(nums[0]), "%" PRIu32, pl->p[i].limit);
		snprintf(nums[2 * i + 1], sizeof(nums[0]), "%" PRIu64, ms ? ms : 1);
		argv[n++] = nums[2 * i];
		argv[n++] = nums[2 * i + 1];
	}
	if (mx_redis_cmdv(r, reply, a, n, argv, NULL) < 0) {
		free(a);
		return -1;
	}
	return 0;
}
