// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cluster.c - verdicts across the fleet; see cluster.h.
 *
 * One Redis connection, three phases after each connect:
 *   HELLO     one script: Redis TIME, the epoch (made if missing), the
 *             stream's first and last ids.  Decides resume vs snapshot.
 *   SNAPSHOT  pages of the active set, applied; the first page also gives
 *             the stream end the node then reads from.
 *   STREAM    every CL_POLL_NS: publish the outbox, then one script that
 *             reads the entries after the cursor (and heartbeats).
 * Applying twice is harmless (the longer expiry wins), so the overlap
 * between a snapshot and the stream read after it costs nothing; a gap
 * cannot happen because the stream end is read before the snapshot's
 * first page, atomically with it.
 */
#include "cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redis_client.h"
#include "sanction.h"

/* The daemon's own commands are background work: at least this long. */
#define CL_MIN_TIMEOUT_NS (1000ULL * 1000000ULL)
/* The cursor file is rewritten at most this often. */
#define CL_SAVE_EVERY_NS (1000ULL * 1000000ULL)
/* Own verdicts remembered for republishing after a reset. */
#define CL_OWN_MAX 10000

/* KEYS: stream active meta.  ARGV: op prefix ttl_ms limit reason origin maxlen.
 * Returns the entry id. */
static const char lua_publish[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local op, p = ARGV[1], ARGV[2]\n"
	"if op == 'u' then\n"
	"  redis.call('ZREM', KEYS[2], 'b|' .. p, 'p|' .. p)\n"
	"  redis.call('HDEL', KEYS[3], 'b|' .. p, 'p|' .. p)\n"
	"  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*', 'op', 'u',\n"
	"    'prefix', p, 'until', 0, 'limit', 0, 'reason', '', 'origin', ARGV[6])\n"
	"end\n"
	"local untilms = now + tonumber(ARGV[3])\n"
	"local m = op .. '|' .. p\n"
	"local old = redis.call('ZSCORE', KEYS[2], m)\n"
	"if (not old) or tonumber(old) < untilms then\n"
	"  redis.call('ZADD', KEYS[2], untilms, m)\n"
	"  redis.call('HSET', KEYS[3], m, ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[6])\n"
	"end\n"
	"local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)\n"
	"if #dead > 0 then\n"
	"  redis.call('ZREM', KEYS[2], unpack(dead))\n"
	"  redis.call('HDEL', KEYS[3], unpack(dead))\n"
	"end\n"
	"return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*', 'op', op,\n"
	"  'prefix', p, 'until', untilms, 'limit', ARGV[4], 'reason', ARGV[5], 'origin', ARGV[6])\n";

/* The stream's first and last ids, as two strings ("" when none). */
#define LUA_STREAM_ENDS                                                              \
	"local first, last = '', '0-0'\n"                                            \
	"if redis.call('EXISTS', KEYS[2]) == 1 then\n"                              \
	"  local info = redis.call('XINFO', 'STREAM', KEYS[2])\n"                   \
	"  for i = 1, #info, 2 do\n"                                                 \
	"    if info[i] == 'last-generated-id' then last = info[i + 1] end\n"       \
	"    if info[i] == 'first-entry' and info[i + 1] then first = info[i + 1][1] end\n" \
	"  end\n"                                                                    \
	"end\n"

#define LUA_NOW                                                                  \
	"local t = redis.call('TIME')\n"                                         \
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: epoch stream nodes.  ARGV: a fresh epoch, node.
 * Returns {now, epoch, created, first, last}. */
static const char lua_hello[] =
	LUA_NOW
	"local created = 0\n"
	"local e = redis.call('GET', KEYS[1])\n"
	"if not e then redis.call('SET', KEYS[1], ARGV[1]); e = ARGV[1]; created = 1 end\n"
	LUA_STREAM_ENDS
	"redis.call('ZADD', KEYS[3], now, ARGV[2])\n"
	"return {now, e, created, first, last}\n";

/* KEYS: active stream meta.  ARGV: offset count.
 * Returns {now, last, member, score, meta, member, score, meta, ...}. */
static const char lua_snapshot[] =
	LUA_NOW
	LUA_STREAM_ENDS
	"local ms = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES',\n"
	"  'LIMIT', ARGV[1], ARGV[2])\n"
	"local out = {now, last}\n"
	"for i = 1, #ms, 2 do\n"
	"  out[#out + 1] = ms[i]\n"
	"  out[#out + 1] = ms[i + 1]\n"
	"  out[#out + 1] = redis.call('HGET', KEYS[3], ms[i]) or ''\n"
	"end\n"
	"return out\n";

/* KEYS: epoch stream nodes.  ARGV: cursor count node.
 * Returns {now, epoch or '', peers, last, entries}. */
static const char lua_poll[] =
	LUA_NOW
	"redis.call('ZADD', KEYS[3], now, ARGV[3])\n"
	"local peers = redis.call('ZCOUNT', KEYS[3], now - " "10000" ", '+inf')\n"
	"local e = redis.call('GET', KEYS[1]) or ''\n"
	LUA_STREAM_ENDS
	"local entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])\n"
	"return {now, e, peers, last, entries}\n";

enum phase { PH_IDLE, PH_HELLO, PH_SNAPSHOT, PH_STREAM };

const double cl_prop_bounds[CL_PROP_BUCKETS] = { 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5 };

struct op {
	char op; /* 'b' block, 'p' penalize, 'u' unblock */
	mx_prefix prefix;
	uint64_t until_ns; /* daemon monotonic clock (dmn_now_ns) */
	uint32_t limit;
	char reason[MX_REASON_LEN];
};

struct cluster {
	struct cluster_ctx ctx;
	struct mx_redis_conf conf;
	struct mx_redis *rc;
	char node[64];
	char k_stream[96], k_active[96], k_meta[96], k_epoch[96], k_nodes[96];
	enum phase phase;
	bool busy;          /* a hello/snapshot/poll in flight */
	bool republish;     /* after a reset: own verdicts again */
	unsigned snap_off;
	char epoch[48];     /* the data set we are in step with; "" = none yet */
	char cursor[48];    /* last stream id applied; "" = none */
	bool dirty;         /* cursor changed since the file was written */
	uint64_t saved_ns;
	struct mx_timer poll;
	/* outbox: a ring of verdicts not yet published */
	struct op *out;
	size_t out_head, out_n;
	unsigned publishing; /* publish commands in flight */
	/* own verdicts still in force (republished after a reset) */
	struct op *own;
	size_t n_own;
	struct cluster_stats st;
	char cursor_path[4096];
};

static void poll_soon(struct cluster *c, uint64_t delay);

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- stream ids ---- */

static int id_parse(const char *s, uint64_t *ms, uint64_t *seq)
{
	char *end;

	errno = 0;
	*ms = strtoull(s, &end, 10);
	if (errno || *end != '-')
		return -1;
	*seq = strtoull(end + 1, &end, 10);
	return errno || *end ? -1 : 0;
}

/* <0, 0, >0 as a < b; unparsable ids sort first */
static int id_cmp(const char *a, const char *b)
{
	uint64_t am = 0, as = 0, bm = 0, bs = 0;

	if (id_parse(a, &am, &as))
		am = as = 0;
	if (id_parse(b, &bm, &bs))
		bm = bs = 0;
	if (am != bm)
		return am < bm ? -1 : 1;
	return as < bs ? -1 : as > bs;
}

static uint64_t id_ms(const char *id)
{
	uint64_t ms = 0, seq;

	return id_parse(id, &ms, &seq) ? 0 : ms;
}

/* ---- the cursor file: "EPOCH CURSOR\n" ---- */

static void cursor_load(struct cluster *c)
{
	FILE *f;
	char e[48], k[48];

	if (!c->cursor_path[0] || !(f = fopen(c->cursor_path, "r")))
		return;
	if (fscanf(f, "%47s %47s", e, k) == 2) {
		snprintf(c->epoch, sizeof(c->epoch), "%s", e);
		snprintf(c->cursor, sizeof(c->cursor), "%s", k);
	}
	fclose(f);
}

static void cursor_save(struct cluster *c, bool now)
{
	char tmp[4200];
	FILE *f;

	if (!c->cursor_path[0] || !c->dirty || !c->epoch[0] || !c->cursor[0])
		return;
	if (!now && mono_ns() - c->saved_ns < CL_SAVE_EVERY_NS)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", c->cursor_path);
	f = fopen(tmp, "w");
	if (!f) {
		mx_warn("cluster: cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f, "%s %s\n", c->epoch, c->cursor);
	if (fclose(f) || rename(tmp, c->cursor_path)) {
		mx_warn("cluster: cannot write %s: %s", c->cursor_path, strerror(errno));
		unlink(tmp);
		return;
	}
	c->dirty = false;
	c->saved_ns = mono_ns();
}

static void set_cursor(struct cluster *c, const char *id)
{
	if (strcmp(c->cursor, id) == 0)
		return;
	snprintf(c->cursor, sizeof(c->cursor), "%s", id);
	c->dirty = true;
}

/* ---- own verdicts and the outbox ---- */

static void own_note(struct cluster *c, const struct op *o)
{
	uint64_t now = mono_ns();
	struct op n = *o;
	size_t i, j = 0;

	/* forget what expired, and what this op replaces; of two verdicts of
	 * one kind on one prefix the longer stays (as in the kernel) */
	for (i = 0; i < c->n_own; i++) {
		struct op *x = &c->own[i];
		bool same = mx_prefix_equal(&x->prefix, &o->prefix) && (o->op == 'u' || x->op == o->op);

		if (same && o->op != 'u' && x->until_ns > n.until_ns)
			n = *x;
		if (x->until_ns > now && !same)
			c->own[j++] = *x;
	}
	c->n_own = j;
	if (o->op != 'u' && c->n_own < CL_OWN_MAX)
		c->own[c->n_own++] = n;
}

/* Is this verdict still ours and in force (not lifted since)? */
static bool own_has(const struct cluster *c, const struct op *o)
{
	for (size_t i = 0; i < c->n_own; i++)
		if (c->own[i].op == o->op && mx_prefix_equal(&c->own[i].prefix, &o->prefix))
			return c->own[i].until_ns > mono_ns();
	return false;
}

static void outbox_push(struct cluster *c, const struct op *o)
{
	if (c->out_n == CL_OUTBOX_MAX) {
		c->out_head = (c->out_head + 1) % CL_OUTBOX_MAX;
		c->out_n--;
		c->st.outbox_dropped++;
	}
	c->out[(c->out_head + c->out_n++) % CL_OUTBOX_MAX] = *o;
	c->st.outbox_depth = c->out_n;
}

struct pub {
	struct cluster *c;
	struct op o;
};

static void publish_reply(struct mx_redis *r, const redisReply *rep, void *arg)
{
	struct pub *p = arg;
	struct cluster *c = p->c;

	(void)r;
	c->publishing--;
	if (rep && rep->type == REDIS_REPLY_STRING) {
		c->st.published++;
	} else {
		c->st.publish_failed++;
		/* no answer: it may not have been stored; again later, unless
		 * an unblock lifted it meanwhile (a retry must not revive it) */
		if (!rep) {
			if (p->o.op == 'u' || own_has(c, &p->o))
				outbox_push(c, &p->o);
		} else {
			mx_warn("cluster: publish refused: %s", rep->str ? rep->str : "?");
		}
	}
	free(p);
}

static int publish(struct cluster *c, const struct op *o)
{
	char pfx[MX_PREFIX_STRLEN], ttl[24], lim[16], maxlen[16];
	const char *argv[14];
	uint64_t now = mono_ns();
	struct pub *p;

	if (o->op != 'u' && o->until_ns <= now)
		return 0; /* expired while waiting */
	p = malloc(sizeof(*p));
	if (!p)
		return -1;
	p->c = c;
	p->o = *o;
	mx_prefix_format(&o->prefix, pfx, sizeof(pfx));
	snprintf(ttl, sizeof(ttl), "%" PRIu64, o->op == 'u' ? (uint64_t)0 : (uint64_t)((o->until_ns - now) / 1000000ULL + 1));
	snprintf(lim, sizeof(lim), "%" PRIu32, o->limit);
	snprintf(maxlen, sizeof(maxlen), "%d", CL_STREAM_MAXLEN);
	argv[0] = "EVAL";
	argv[1] = lua_publish;
	argv[2] = "3";
	argv[3] = c->k_stream;
	argv[4] = c->k_active;
	argv[5] = c->k_meta;
	argv[6] = (char[2]){ o->op, 0 };
	argv[7] = pfx;
	argv[8] = ttl;
	argv[9] = lim;
	argv[10] = o->reason;
	argv[11] = c->node;
	argv[12] = maxlen;
	if (mx_redis_cmdv(c->rc, publish_reply, p, 13, argv, NULL)) {
		free(p);
		return -1;
	}
	c->publishing++;
	return 0;
}

/* Publish what waits, while the connection takes it. */
static void outbox_flush(struct cluster *c)
{
	while (c->out_n && mx_redis_is_up(c->rc)) {
		struct op o = c->out[c->out_head];

		if (publish(c, &o) < 0)
			break;
		c->out_head = (c->out_head + 1) % CL_OUTBOX_MAX;
		c->out_n--;
	}
	c->st.outbox_depth = c->out_n;
}

void cluster_local(struct cluster *c, const struct mx_vreq *r)
{
	struct op o = { 0 };

	if (!c)
		return;
	if (r->op == MX_VREQ_BLOCK)
		o.op = 'b';
	else if (r->op == MX_VREQ_PENALIZE)
		o.op = 'p';
	else if (r->op == MX_VREQ_UNBLOCK)
		o.op = 'u';
	else
		return;
	o.prefix = r->prefix;
	mx_prefix_mask(&o.prefix);
	o.until_ns = mono_ns() + r->seconds * 1000000000ULL;
	o.limit = r->limit;
	snprintf(o.reason, sizeof(o.reason), "%s", r->reason[0] ? r->reason : "verdict");
	own_note(c, &o);
	/* in order behind anything still waiting */
	if (c->out_n || c->phase != PH_STREAM || publish(c, &o) < 0)
		outbox_push(c, &o);
}

/* ---- applying what other nodes decided ---- */

/* until_ms on Redis's clock, now_ms the same clock at the reply. */
static void apply(struct cluster *c, char op, const char *prefix, uint64_t until_ms,
		  uint64_t now_ms, uint32_t limit, const char *reason)
{
	struct mx_maps *m = c->ctx.maps(c->ctx.arg);
	struct mx_sanction_req sr = { 0 };
	const char *why = NULL;
	char rs[MX_REASON_LEN];
	mx_prefix p;

	if (!m) {
		c->st.apply_failed++;
		return;
	}
	if (mx_prefix_parse(prefix, false, &p, &why)) {
		c->st.apply_failed++;
		mx_warn("cluster: bad prefix \"%.64s\" in the stream: %s", prefix, why ? why : "?");
		return;
	}
	if (op == 'u') {
		struct op forget = { .op = 'u', .prefix = p };
		int rc = mx_sanction_remove(m, &p, MX_KIND_BLOCK | MX_KIND_PENALTY);

		/* lifted fleet-wide: never republished from here after a reset */
		own_note(c, &forget);
		if (rc < 0) {
			c->st.apply_failed++;
			return;
		}
		c->st.applied_unblocks++;
		if (rc == 0)
			c->ctx.changed(c->ctx.arg);
		return;
	}
	if (until_ms <= now_ms) {
		c->st.ignored_expired++;
		return;
	}
	if (c->ctx.allowlisted(m, &p)) {
		c->st.ignored_allowlisted++;
		mx_debug("cluster: %s is allowlisted here; not applied", prefix);
		return;
	}
	snprintf(rs, sizeof(rs), "%s", mx_reason_valid(reason) ? reason : "cluster");
	sr.prefix = p;
	sr.kind = op == 'b' ? MX_KIND_BLOCK : MX_KIND_PENALTY;
	sr.until_ns = mx_mono_now(m) + (until_ms - now_ms) * 1000000ULL;
	sr.limit = limit;
	sr.reason = rs;
	if (mx_sanction_add(m, &sr)) {
		c->st.apply_failed++;
		return;
	}
	c->st.applied++;
	c->ctx.changed(c->ctx.arg);
}

static uint64_t rep_u64(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer < 0 ? 0 : (uint64_t)r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoull(r->str, NULL, 10);
	return 0;
}

static const char *rep_str(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? r->str : "";
}

/* One XRANGE entry: [id, [field, value, ...]]. */
static void apply_entry(struct cluster *c, const redisReply *e, uint64_t now_ms)
{
	const char *op = "", *prefix = "", *reason = "", *origin = "";
	uint64_t until = 0;
	uint32_t limit = 0;
	const redisReply *kv;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return;
	kv = e->element[1];
	if (kv->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i + 1 < kv->elements; i += 2) {
			const char *k = rep_str(kv->element[i]);
			const redisReply *v = kv->element[i + 1];

			if (!strcmp(k, "op"))
				op = rep_str(v);
			else if (!strcmp(k, "prefix"))
				prefix = rep_str(v);
			else if (!strcmp(k, "until"))
				until = rep_u64(v);
			else if (!strcmp(k, "limit"))
				limit = (uint32_t)rep_u64(v);
			else if (!strcmp(k, "reason"))
				reason = rep_str(v);
			else if (!strcmp(k, "origin"))
				origin = rep_str(v);
		}
	}
	set_cursor(c, e->element[0]->str);
	if (strcmp(origin, c->node) != 0) {
		uint64_t pub = id_ms(e->element[0]->str);
		uint64_t d = now_ms > pub ? now_ms - pub : 0;

		c->st.prop_count++;
		c->st.prop_sum_ms += d;
		mx_debug("cluster: %s %s from %s, published %" PRIu64 " ms ago", op, prefix, origin, d);
		for (int i = 0; i < CL_PROP_BUCKETS; i++)
			if ((double)d / 1000.0 <= cl_prop_bounds[i])
				c->st.prop_bucket[i]++;
	}
	if (!strcmp(origin, c->node)) {
		c->st.ignored_own++; /* applied here when it was made */
		return;
	}
	if ((op[0] == 'b' || op[0] == 'p' || op[0] == 'u') && !op[1])
		apply(c, op[0], prefix, until, now_ms, limit, reason);
}

/* ---- the phases ---- */

static void hello(struct cluster *c);
static void snapshot_page(struct cluster *c);

static void resync(struct cluster *c, enum cl_resync why)
{
	static const char *const names[] = { "startup", "trimmed", "reset" };

	c->st.resyncs[why]++;
	mx_info("cluster: resync (%s): applying the active set", names[why]);
	c->phase = PH_SNAPSHOT;
	c->snap_off = 0;
	snapshot_page(c);
}

static void enter_stream(struct cluster *c)
{
	c->phase = PH_STREAM;
	c->st.synced = true;
	if (c->republish) {
		uint64_t now = mono_ns();

		c->republish = false;
		for (size_t i = 0; i < c->n_own; i++) {
			if (c->own[i].until_ns <= now)
				continue;
			outbox_push(c, &c->own[i]);
			c->st.republished++;
		}
	}
	cursor_save(c, true);
	outbox_flush(c);
	poll_soon(c, 0);
}

static void snapshot_reply(struct mx_redis *r, const redisReply *rep, void *arg)
{
	struct cluster *c = arg;
	uint64_t now_ms;
	size_t n;

	(void)r;
	c->busy = false;
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 2) {
		if (rep)
			mx_warn("cluster: snapshot failed: %s", rep->str ? rep->str : "bad reply");
		return; /* down: the next connect starts over */
	}
	now_ms = rep_u64(rep->element[0]);
	if (c->snap_off == 0)
		set_cursor(c, rep_str(rep->element[1]));
	n = (rep->elements - 2) / 3;
	for (size_t i = 0; i < n; i++) {
		const char *m = rep_str(rep->element[2 + 3 * i]);
		uint64_t until = rep_u64(rep->element[3 + 3 * i]);
		const char *meta = rep_str(rep->element[4 + 3 * i]);
		char reason[MX_REASON_LEN] = "", origin[64] = "";
		uint32_t limit = 0;

		if (strlen(m) < 3 || m[1] != '|' || (m[0] != 'b' && m[0] != 'p'))
			continue;
		/* meta: "limit|reason|origin" */
		if (sscanf(meta, "%" SCNu32 "|%23[^|]|%63s", &limit, reason, origin) < 1)
			limit = 0;
		apply(c, m[0], m + 2, until, now_ms, limit, reason);
	}
	if (n == CL_BATCH) {
		c->snap_off += CL_BATCH;
		snapshot_page(c);
		return;
	}
	enter_stream(c);
}

static void snapshot_page(struct cluster *c)
{
	char off[16], cnt[16];
	const char *argv[] = { "EVAL", lua_snapshot, "3", c->k_active, c->k_stream, c->k_meta,
			       off, cnt };

	snprintf(off, sizeof(off), "%u", c->snap_off);
	snprintf(cnt, sizeof(cnt), "%d", CL_BATCH);
	if (mx_redis_cmdv(c->rc, snapshot_reply, c, 8, argv, NULL) == 0)
		c->busy = true;
}

static void hello_reply(struct mx_redis *r, const redisReply *rep, void *arg)
{
	struct cluster *c = arg;
	const char *epoch, *first, *last;
	bool created, had = c->epoch[0] != 0;

	(void)r;
	c->busy = false;
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 5) {
		if (rep)
			mx_warn("cluster: hello failed: %s", rep->str ? rep->str : "bad reply");
		return;
	}
	epoch = rep_str(rep->element[1]);
	created = rep_u64(rep->element[2]) != 0;
	first = rep_str(rep->element[3]);
	last = rep_str(rep->element[4]);
	if (had && (created || strcmp(epoch, c->epoch) != 0)) {
		mx_warn("cluster: Redis lost its data (epoch %s, was %s): publishing this node's verdicts again",
			epoch, c->epoch);
		snprintf(c->epoch, sizeof(c->epoch), "%s", epoch);
		c->cursor[0] = 0;
		c->dirty = true;
		c->republish = true;
		resync(c, CL_RESYNC_RESET);
		return;
	}
	snprintf(c->epoch, sizeof(c->epoch), "%s", epoch);
	if (!c->cursor[0]) {
		resync(c, CL_RESYNC_STARTUP);
		return;
	}
	if (id_cmp(c->cursor, last) > 0) { /* the stream went back: reset */
		c->republish = true;
		resync(c, CL_RESYNC_RESET);
		return;
	}
	/* everything after the cursor must still be there */
	if (first[0] ? id_cmp(c->cursor, first) < 0 : id_cmp(c->cursor, last) != 0) {
		resync(c, CL_RESYNC_TRIMMED);
		return;
	}
	mx_info("cluster: resuming the stream after %s", c->cursor);
	enter_stream(c);
}

static void hello(struct cluster *c)
{
	char fresh[40];
	const char *argv[] = { "EVAL", lua_hello, "3", c->k_epoch, c->k_stream, c->k_nodes,
			       fresh, c->node };

	snprintf(fresh, sizeof(fresh), "%08lx%08lx", (unsigned long)random(),
		 (unsigned long)random());
	c->phase = PH_HELLO;
	if (mx_redis_cmdv(c->rc, hello_reply, c, 8, argv, NULL) == 0)
		c->busy = true;
}

static void poll_reply(struct mx_redis *r, const redisReply *rep, void *arg)
{
	struct cluster *c = arg;
	const redisReply *entries;
	uint64_t now_ms;
	const char *epoch, *last;

	(void)r;
	c->busy = false;
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 5)
		return;
	now_ms = rep_u64(rep->element[0]);
	epoch = rep_str(rep->element[1]);
	c->st.peers = rep_u64(rep->element[2]);
	last = rep_str(rep->element[3]);
	if (strcmp(epoch, c->epoch) != 0) {
		/* flushed under us without a restart: start over */
		mx_warn("cluster: the epoch changed (%s, was %s)", epoch[0] ? epoch : "none", c->epoch);
		c->phase = PH_IDLE;
		hello(c);
		return;
	}
	entries = rep->element[4];
	if (entries->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < entries->elements; i++)
			apply_entry(c, entries->element[i], now_ms);
	c->st.lag_ms = id_ms(last) > id_ms(c->cursor) ? id_ms(last) - id_ms(c->cursor) : 0;
	cursor_save(c, false);
	if (entries->type == REDIS_REPLY_ARRAY && entries->elements == CL_BATCH)
		poll_soon(c, 0); /* more waiting */
}

static void on_poll(struct mx_loop *l, struct mx_timer *t)
{
	struct cluster *c = t->arg;
	char cnt[16];

	(void)l;
	poll_soon(c, CL_POLL_NS);
	if (!mx_redis_is_up(c->rc) || c->busy)
		return;
	if (c->phase == PH_IDLE) {
		hello(c);
		return;
	}
	if (c->phase != PH_STREAM)
		return;
	outbox_flush(c);
	snprintf(cnt, sizeof(cnt), "%d", CL_BATCH);
	{
		const char *cur = c->cursor[0] ? c->cursor : "0-0";
		const char *argv[] = { "EVAL", lua_poll, "3", c->k_epoch, c->k_stream, c->k_nodes,
				       cur, cnt, c->node };

		if (mx_redis_cmdv(c->rc, poll_reply, c, 9, argv, NULL) == 0)
			c->busy = true;
	}
}

static void poll_soon(struct cluster *c, uint64_t delay)
{
	mx_timer_set(c->ctx.loop, &c->poll, mx_loop_now(c->ctx.loop) + delay);
}

static void on_up(struct mx_redis *r, void *arg)
{
	struct cluster *c = arg;

	(void)r;
	c->busy = false;
	hello(c);
}

static void on_down(struct mx_redis *r, void *arg)
{
	struct cluster *c = arg;

	(void)r;
	c->phase = PH_IDLE;
	c->busy = false;
	c->st.synced = false;
	cursor_save(c, true);
}

struct cluster *cluster_new(const struct cluster_ctx *ctx, const struct mx_redis_conf *conf)
{
	struct cluster *c = calloc(1, sizeof(*c));
	struct mx_redis_events ev = { on_up, on_down, NULL };
	uint64_t timeout;
	char where[160];

	if (!c)
		return NULL;
	c->ctx = *ctx;
	c->conf = *conf;
	snprintf(c->node, sizeof(c->node), "%s", ctx->node);
	snprintf(c->k_stream, sizeof(c->k_stream), "%sv:stream", conf->prefix);
	snprintf(c->k_active, sizeof(c->k_active), "%sv:active", conf->prefix);
	snprintf(c->k_meta, sizeof(c->k_meta), "%sv:meta", conf->prefix);
	snprintf(c->k_epoch, sizeof(c->k_epoch), "%sepoch", conf->prefix);
	snprintf(c->k_nodes, sizeof(c->k_nodes), "%snodes", conf->prefix);
	if (ctx->cursor_path)
		snprintf(c->cursor_path, sizeof(c->cursor_path), "%s", ctx->cursor_path);
	c->out = calloc(CL_OUTBOX_MAX, sizeof(*c->out));
	c->own = calloc(CL_OWN_MAX, sizeof(*c->own));
	if (!c->out || !c->own) {
		cluster_free(c);
		return NULL;
	}
	srandom((unsigned)(mono_ns() ^ (uint64_t)getpid()));
	cursor_load(c);
	mx_timer_init(&c->poll, on_poll, c);
	ev.arg = c;
	timeout = conf->timeout_ns > CL_MIN_TIMEOUT_NS ? conf->timeout_ns : CL_MIN_TIMEOUT_NS;
	c->rc = mx_redis_new(ctx->loop, conf, timeout, &ev);
	if (!c->rc) {
		cluster_free(c);
		return NULL;
	}
	poll_soon(c, CL_POLL_NS);
	mx_info("cluster: node %s, Redis %s, keys %s*", c->node,
		mx_redis_conf_where(conf, where, sizeof(where)), conf->prefix);
	return c;
}

void cluster_free(struct cluster *c)
{
	if (!c)
		return;
	mx_timer_del(c->ctx.loop, &c->poll);
	if (c->rc) {
		struct mx_redis *rc = c->rc;

		/* answers in flight come back as NULL: none may requeue into a
		 * cluster being freed beyond this point */
		mx_redis_free(rc);
	}
	cursor_save(c, true);
	free(c->out);
	free(c->own);
	free(c);
}

const struct cluster_stats *cluster_stats(const struct cluster *c)
{
	return &c->st;
}

const struct mx_redis_stats *cluster_redis_stats(const struct cluster *c)
{
	return c->rc ? mx_redis_stats(c->rc) : NULL;
}

const struct mx_redis_conf *cluster_conf(const struct cluster *c)
{
	return &c->conf;
}

const char *cluster_node(const struct cluster *c)
{
	return c->node;
}

const char *cluster_cursor(const struct cluster *c)
{
	return c->cursor;
}
