// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * verdict_server.c - the daemon's verdict socket (docs/design.md "Verdict
 * protocol"): a Unix stream socket taking one request a line and
 * answering one line each, in order.
 *
 * Who may talk: the socket file is mode 0660 (owner and group may
 * connect), and every accepted peer is checked again with SO_PEERCRED /
 * SO_PEERGROUPS: root, the daemon's own user, a member of the socket's
 * group (--group), or a user named with --allow-user.  Anyone else gets
 * "ERR permission denied" and is closed.
 *
 * Never blocked by a peer: a peer has a read buffer of one line and a
 * write buffer of a few replies.  When its replies are not read, we stop
 * reading its requests (backpressure) instead of buffering more; when it
 * stalls mid-line or leaves replies unread for VS_STALL_NS, it is
 * closed.  At most VS_MAX_PEERS at once; one more is told "ERR busy".
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "accept.h"
#include "cli.h"
#include "iobuf.h"
#include "log.h"
#include "policy_apply.h"
#include "sanction.h"
#include "verdict_proto.h"
#include "sysutil.h"

/* Proxies on one host: a handful; the cap only bounds a runaway client. */
#define VS_MAX_PEERS 64
/* Replies waiting for a peer to read them (a dozen or so). */
#define VS_WBUF 4096
/* A peer stuck mid-line, or not reading its replies, this long is closed. */
#define VS_STALL_NS (30 * MX_NS_PER_SEC)
/* Refusals logged per connection before going quiet (a broken client
 * must not flood the log). */
#define VS_LOG_ERRS 10
#define VS_BACKLOG 64

struct vpeer {
	struct mx_io io; /* first: the event's io is the peer */
	size_t slot;
	uid_t uid;
	pid_t pid;
	struct mx_buf rb;                    /* request bytes (iobuf.h) */
	char rmem[MX_VERDICT_LINE_MAX + 2]; /* a full line, CR and LF */
	bool discarding;  /* inside an overlong line, answered already */
	bool eof;         /* the peer shut its side: flush, then close */
	struct mx_buf wb; /* replies not yet read by the peer */
	char wmem[VS_WBUF];
	uint64_t stall_since; /* 0, or when a partial line / unread reply began */
	struct mx_timer stall; /* armed while stalled: closes the peer at its end */
	struct vsrv *s;
	unsigned errs_logged;
};

struct vsrv {
	struct vsrv_ctx ctx; /* all it knows of the daemon (daemon.h) */
	struct mx_io listen;
	struct mx_accept_pause accept_pause; /* out of descriptors: accepting paused */
	int lock_fd;
	gid_t gid;     /* the socket file's group */
	ino_t ino;     /* our socket file, so we remove only ours */
	struct vpeer *peers[VS_MAX_PEERS];
	size_t n_peers;
};

static void peer_event(struct mx_loop *l, struct mx_io *io, uint32_t ev);
static void peer_stalled(struct mx_loop *l, struct mx_timer *t);

/* ---- executing one request ---- */

static uint64_t secs_left(uint64_t until, uint64_t now)
{
	return until <= now ? 0 : (until - now + MX_NS_PER_SEC - 1) / MX_NS_PER_SEC;
}

/* "540", "never", "0" */
static const char *left_text(uint64_t until, uint64_t now, char *buf, size_t len)
{
	if (until == MX_FOREVER)
		return "never";
	snprintf(buf, len, "%" PRIu64, secs_left(until, now));
	return buf;
}

/*
 * Would a sanction on p touch an allowlisted source?  For one address the
 * live policy's answer (mx_policy_allowlisted) is the whole story.  For a
 * prefix: yes when the most specific policy entry holding all of p is an
 * allowlist entry, or when an allowlist entry lies inside p (a /24 block
 * would catch the allowlisted /32 in it: the kernel does not exempt it).
 */
bool vsrv_touches_allowlist(const struct mx_maps *m, const mx_prefix *p)
{
	struct mx_policy_key k, next, *prev = NULL;
	struct mx_config cfg;
	uint32_t gen, best_plen = 0;
	bool best_allow = false, have_best = false;

	if (p->plen == 128)
		return mx_policy_allowlisted(m, p);
	if (mx_config_read(m, &cfg, &gen))
		return false;
	while (bpf_map_get_next_key(m->policy, prev, &next) == 0) {
		struct mx_rule r;
		mx_prefix e = { { 0 }, 0 };

		k = next;
		prev = &k;
		if (next.gen != gen || next.prefixlen < 32 ||
		    bpf_map_lookup_elem(m->policy, &next, &r))
			continue;
		memcpy(e.addr, next.addr, sizeof(e.addr));
		e.plen = next.prefixlen - 32;
		if (e.plen > p->plen) {
			if ((r.flags & MX_RULE_ALLOW) && mx_prefix_contains(p, &e))
				return true;
		} else if (mx_prefix_contains(&e, p) && (!have_best || e.plen > best_plen)) {
			have_best = true;
			best_plen = e.plen;
			best_allow = r.flags & MX_RULE_ALLOW;
		}
	}
	return best_allow;
}

static int do_sanction(struct vsrv *s, struct mx_maps *m, const struct mx_vreq *r, char *out,
		       size_t len)
{
	struct mx_sanction_req sr = {
		.prefix = r->prefix,
		.kind = r->op == MX_VREQ_BLOCK ? MX_KIND_BLOCK : MX_KIND_PENALTY,
		.limit = r->limit,
		.reason = r->reason[0] ? r->reason : "verdict",
	};
	char p[MX_PREFIX_STRLEN], lim[24] = "";

	mx_prefix_format(&r->prefix, p, sizeof(p));
	if (vsrv_touches_allowlist(m, &r->prefix))
		return snprintf(out, len, "ERR allowlisted"), -1;
	sr.until_ns = mx_mono_now(m) + r->seconds * MX_NS_PER_SEC;
	if (mx_sanction_add(m, &sr))
		return snprintf(out, len, "ERR cannot apply (see the daemon's log)"), -1;
	s->ctx.changed(s->ctx.arg);
	if (s->ctx.applied)
		s->ctx.applied(s->ctx.arg, r);
	if (r->limit)
		snprintf(lim, sizeof(lim), " limit=%" PRIu32, r->limit);
	snprintf(out, len, "OK %s %s %" PRIu64 "%s reason=%s",
		 r->op == MX_VREQ_BLOCK ? "blocked" : "penalized", p, r->seconds, lim, sr.reason);
	return 0;
}

static int do_unblock(struct vsrv *s, struct mx_maps *m, const struct mx_vreq *r, char *out,
		      size_t len)
{
	char p[MX_PREFIX_STRLEN];
	int rc;

	mx_prefix_format(&r->prefix, p, sizeof(p));
	rc = mx_sanction_remove(m, &r->prefix, MX_KIND_BLOCK | MX_KIND_PENALTY);
	if (rc < 0)
		return snprintf(out, len, "ERR cannot apply (see the daemon's log)"), -1;
	if (rc != 1)
		s->ctx.changed(s->ctx.arg);
	/* published also when nothing was here: the unblock is fleet-wide */
	if (s->ctx.applied)
		s->ctx.applied(s->ctx.arg, r);
	snprintf(out, len, rc == 1 ? "OK not-blocked %s" : "OK unblocked %s", p);
	return 0;
}

/* OK ADDR block=SECS|never penalty=SECS|never [limit=..] [reason=..] allowlisted=yes|no */
static int do_query(struct mx_maps *m, const struct mx_vreq *r, char *out, size_t len)
{
	struct mx_sanction v;
	uint64_t now = mx_mono_now(m);
	char p[MX_PREFIX_STRLEN], b[24], pe[24], lim[32] = "", rs[32] = "", lb[16];
	const char *reason = "";

	memset(&v, 0, sizeof(v));
	if (mx_sanction_lookup(m, &r->prefix, &v))
		memset(&v, 0, sizeof(v));
	if (v.block_until_ns <= now)
		v.block_until_ns = 0;
	if (v.penalty_until_ns <= now)
		v.penalty_until_ns = 0;
	if (v.penalty_until_ns)
		snprintf(lim, sizeof(lim), " limit=%s", mx_penalty_limit_text(v.penalty_limit, lb, sizeof(lb)));
	if (v.block_until_ns && v.block_reason[0])
		reason = v.block_reason;
	else if (v.penalty_until_ns && v.penalty_reason[0])
		reason = v.penalty_reason;
	if (*reason)
		snprintf(rs, sizeof(rs), " reason=%.*s", MX_REASON_LEN, reason);
	snprintf(out, len, "OK %s block=%s penalty=%s%s%s allowlisted=%s",
		 mx_prefix_format(&r->prefix, p, sizeof(p)),
		 left_text(v.block_until_ns, now, b, sizeof(b)),
		 left_text(v.penalty_until_ns, now, pe, sizeof(pe)), lim, rs,
		 mx_policy_allowlisted(m, &r->prefix) ? "yes" : "no");
	return 0;
}

/* One request line -> one reply (no newline) in out. */
static void handle_line(struct vsrv *s, struct vpeer *p, const char *line, size_t n, char *out,
			size_t len)
{
	struct mx_maps *m = NULL;
	struct mx_vreq r;
	const char *why;
	int rc;

	if (mx_vreq_parse(line, n, &r, &why)) {
		snprintf(out, len, "ERR %s", why);
		rc = -1;
	} else if (!(m = s->ctx.maps(s->ctx.arg))) {
		snprintf(out, len, "ERR mxlimit is not loaded");
		rc = -1;
	} else if (r.op == MX_VREQ_QUERY) {
		rc = do_query(m, &r, out, len);
	} else if (r.op == MX_VREQ_UNBLOCK) {
		rc = do_unblock(s, m, &r, out, len);
	} else {
		rc = do_sanction(s, m, &r, out, len);
	}
	if (rc) {
		s->ctx.c->verdicts_err++;
		if (p->errs_logged < VS_LOG_ERRS)
			mx_info("verdict from uid %u pid %d: \"%.*s\" -> %s%s", (unsigned)p->uid,
				(int)p->pid, (int)(n > 80 ? 80 : n), line, out,
				++p->errs_logged == VS_LOG_ERRS ? " (further refusals not logged)" : "");
		return;
	}
	s->ctx.c->verdicts_ok++;
	if (r.op != MX_VREQ_QUERY)
		mx_info("verdict from uid %u pid %d: %s", (unsigned)p->uid, (int)p->pid, out + 3);
}

/* ---- peers ---- */

static void peer_free(struct vsrv *s, struct vpeer *p)
{
	s->peers[p->slot] = NULL;
	s->n_peers--;
	mx_io_close(s->ctx.loop, &p->io);
	mx_timer_del(s->ctx.loop, &p->stall);
	mx_loop_defer_free(s->ctx.loop, p); /* its event may still be in this batch */
}

static void reply(struct vpeer *p, const char *s)
{
	size_t n = strnlen(s, MX_VERDICT_REPLY_MAX - 1);

	/* callers check room first: a reply never overflows */
	if (!mx_buf_fits(&p->wb, n + 1))
		return;
	mx_buf_put(&p->wb, s, n);
	mx_buf_put(&p->wb, "\n", 1);
}

static bool room(const struct vpeer *p)
{
	return p->wb.cap - mx_buf_len(&p->wb) >= MX_VERDICT_REPLY_MAX;
}

/* Answer every complete line buffered, as long as replies fit. */
static void process(struct vsrv *s, struct vpeer *p)
{
	char out[MX_VERDICT_REPLY_MAX];

	while (room(p) && mx_buf_len(&p->rb)) {
		char *line = mx_buf_data(&p->rb);
		size_t len = mx_buf_len(&p->rb), used;
		char *nl = memchr(line, '\n', len);

		if (!nl) {
			if (p->discarding) { /* the middle of an overlong line */
				mx_buf_consume(&p->rb, len);
			} else if (len == p->rb.cap) {
				/* full, no newline: over the limit.  Answer once, then
				 * drop bytes up to the next newline. */
				s->ctx.c->verdicts_err++;
				reply(p, "ERR line too long");
				p->discarding = true;
				mx_buf_consume(&p->rb, len);
			} else if (p->eof) { /* a last line without its newline */
				handle_line(s, p, line, len, out, sizeof(out));
				reply(p, out);
				mx_buf_consume(&p->rb, len);
			}
			return; /* else wait for the rest */
		}
		used = (size_t)(nl - line) + 1;
		if (p->discarding) {
			p->discarding = false;
		} else {
			handle_line(s, p, line, used - 1, out, sizeof(out));
			reply(p, out);
		}
		mx_buf_consume(&p->rb, used);
	}
}

static void peer_update(struct vsrv *s, struct vpeer *p)
{
	uint32_t ev = 0;

	if (!p->eof && room(p) && mx_buf_len(&p->rb) < p->rb.cap)
		ev |= EPOLLIN;
	if (mx_buf_len(&p->wb))
		ev |= EPOLLOUT;
	if ((mx_buf_len(&p->rb) && !p->discarding) || mx_buf_len(&p->wb)) {
		if (!p->stall_since) {
			p->stall_since = mx_loop_now(s->ctx.loop);
			mx_timer_set(s->ctx.loop, &p->stall, p->stall_since + VS_STALL_NS);
		}
	} else {
		p->stall_since = 0;
		mx_timer_del(s->ctx.loop, &p->stall);
	}
	if (p->eof && !mx_buf_len(&p->wb)) {
		peer_free(s, p);
		return;
	}
	mx_io_set(s->ctx.loop, &p->io, ev);
}

static int peer_flush(struct vpeer *p)
{
	uint32_t before = mx_buf_len(&p->wb);

	if (mx_buf_write(p->io.fd, &p->wb) < 0)
		return -1;
	if (mx_buf_len(&p->wb) < before)
		p->stall_since = 0; /* progress */
	return 0;
}

static int peer_read(struct vsrv *s, struct vpeer *p)
{
	while (!p->eof && room(p)) {
		ssize_t r;

		if (!mx_buf_room(&p->rb)) /* full: only process() can drain it */
			break;
		r = mx_buf_read(p->io.fd, &p->rb);
		if (r == -1)
			break;
		if (r < 0)
			return -1;
		if (r == 0)
			p->eof = true;
		if (r > 0)
			p->stall_since = 0;
		process(s, p);
	}
	return 0;
}

static void peer_event(struct mx_loop *l, struct mx_io *io, uint32_t ev)
{
	struct vsrv *s = io->arg;
	struct vpeer *p = (struct vpeer *)io;

	(void)l;
	if (ev & EPOLLERR) {
		peer_free(s, p);
		return;
	}
	if ((ev & EPOLLOUT) && peer_flush(p)) {
		peer_free(s, p);
		return;
	}
	process(s, p); /* lines held back while replies were waiting */
	if ((ev & (EPOLLIN | EPOLLHUP)) && peer_read(s, p)) {
		peer_free(s, p);
		return;
	}
	if (peer_flush(p)) {
		peer_free(s, p);
		return;
	}
	peer_update(s, p);
}

static bool in_group(int fd, gid_t want, gid_t primary)
{
	gid_t small[64], *g = small;
	socklen_t len = sizeof(small);
	bool found = primary == want;
	size_t i;

	if (found)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE || !(g = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
			free(g);
			return false;
		}
	}
	for (i = 0; i < len / sizeof(gid_t); i++)
		found = found || g[i] == want;
	if (g != small)
		free(g);
	return found;
}

static bool peer_allowed(const struct vsrv *s, int fd, const struct ucred *cr)
{
	int i;

	if (cr->uid == 0 || cr->uid == geteuid())
		return true;
	for (i = 0; i < s->ctx.n_allow_uids; i++)
		if (s->ctx.allow_uids[i] == cr->uid)
			return true;
	return in_group(fd, s->gid, cr->gid);
}

/* Tell a refused peer why, best effort, and close. */
static void refuse(int fd, const char *msg)
{
	ssize_t w = send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)w;
	close(fd);
}

/* A partial line or unread replies for VS_STALL_NS: the peer is stuck. */
static void peer_stalled(struct mx_loop *l, struct mx_timer *t)
{
	struct vpeer *p = t->arg;

	(void)l;
	mx_warn("verdict socket: pid %d stalled for %llus; closed", (int)p->pid,
		(unsigned long long)(VS_STALL_NS / MX_NS_PER_SEC));
	peer_free(p->s, p);
}

/* A new peer: its credentials decide (root, the socket's group, or
 * --allow-user), then it gets a slot among VS_MAX_PEERS. */
static void on_peer(void *arg, int fd, const struct sockaddr_storage *addr)
{
	struct vsrv *s = arg;
	struct ucred cr = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cr);
	struct vpeer *p;
	size_t slot;

	(void)addr; /* a unix socket: the credentials say who it is */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) || !peer_allowed(s, fd, &cr)) {
		s->ctx.c->peers_refused++;
		mx_warn("verdict socket: refused uid %u pid %d (not root, not in group %u, "
			"not allowed with --allow-user)", (unsigned)cr.uid, (int)cr.pid,
			(unsigned)s->gid);
		refuse(fd, "ERR permission denied\n");
		return;
	}
	if (s->n_peers == VS_MAX_PEERS) {
		s->ctx.c->peers_refused++;
		mx_warn("verdict socket: %d peers connected; refusing pid %d", VS_MAX_PEERS,
			(int)cr.pid);
		refuse(fd, "ERR busy\n");
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		refuse(fd, "ERR out of memory\n");
		return;
	}
	for (slot = 0; s->peers[slot]; slot++)
		;
	p->slot = slot;
	p->s = s;
	mx_buf_init(&p->rb, p->rmem, sizeof(p->rmem));
	mx_buf_init(&p->wb, p->wmem, sizeof(p->wmem));
	mx_timer_init(&p->stall, peer_stalled, p);
	p->uid = cr.uid;
	p->pid = cr.pid;
	if (mx_io_add(s->ctx.loop, &p->io, fd, EPOLLIN, peer_event, s)) {
		close(fd);
		free(p);
		return;
	}
	s->peers[slot] = p;
	s->n_peers++;
	s->ctx.c->peers_accepted++;
	mx_debug("verdict socket: peer uid %u pid %d connected", (unsigned)cr.uid, (int)cr.pid);
}

static void pause_accept(void *arg, bool pause)
{
	struct vsrv *s = arg;

	if (s->listen.fd >= 0)
		mx_io_set(s->ctx.loop, &s->listen, pause ? 0 : EPOLLIN);
}

static void on_accept(struct mx_loop *l, struct mx_io *io, uint32_t ev)
{
	struct vsrv *s = io->arg;

	(void)ev;
	mx_accept_batch(l, s->listen.fd, &s->accept_pause, on_peer, s);
}

size_t vsrv_peers(const struct vsrv *s)
{
	return s ? s->n_peers : 0;
}

/* ---- the listening socket ---- */

/* One daemon per socket: PATH.lock is held for the daemon's life. */
static int take_lock(struct vsrv *s, const char *path)
{
	char lock[PATH_MAX];

	snprintf(lock, sizeof(lock), "%s.lock", path);
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		mx_err("cannot open %s: %s", lock, strerror(errno));
		return -1;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB)) {
		mx_err("another mxlimit daemon serves %s (%s is locked)", path, lock);
		return -1;
	}
	return 0;
}

/* Remove a socket file nobody listens on; refuse anything else. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		mx_err("%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		mx_err("%s exists and is not a socket; not touching it", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		mx_err("something already listens on %s", path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		mx_err("cannot probe %s: %s", path, strerror(errno));
		return -1;
	}
	if (unlink(path) && errno != ENOENT) {
		mx_err("cannot remove the stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	mx_info("removed the stale socket %s", path);
	return 0;
}

/* Opens the socket into s (set up by vsrv_open); -1 on failure (logged). */
static int open_socket(struct vsrv *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = s->ctx.socket_path, *group = s->ctx.group;
	struct stat st;
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		mx_err("socket path too long (%zu bytes at most): %s", sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	if (group && mx_parse_gid(group, &s->gid)) {
		mx_err("unknown group \"%s\"", group);
		return -1;
	}
	if ((errno = -mx_mkdir_parent(path, 0755, 0755)) != 0) {
		mx_err("cannot create the directory of %s: %s", path, strerror(errno));
		return -1;
	}
	if (take_lock(s, path) || clear_stale(path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		mx_err("socket: %s", strerror(errno));
		return -1;
	}
	s->listen.fd = fd; /* closed by vsrv_close on any failure below */
	memcpy(sa.sun_path, path, strlen(path) + 1);
	old = umask(0117); /* born 0660: no moment where others could connect */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		umask(old);
		mx_err("cannot bind %s: %s", path, strerror(errno));
		return -1;
	}
	umask(old);
	if ((group && chown(path, (uid_t)-1, s->gid)) || chmod(path, 0660) || stat(path, &st)) {
		mx_err("cannot set the owner or mode of %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	s->gid = st.st_gid;
	s->ino = st.st_ino;
	if (listen(fd, VS_BACKLOG) || mx_io_add(s->ctx.loop, &s->listen, fd, EPOLLIN, on_accept, s)) {
		if (s->listen.fd < 0)
			close(fd); /* mx_io_add let go of it */
		mx_err("cannot listen on %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

struct vsrv *vsrv_open(const struct vsrv_ctx *ctx)
{
	struct vsrv *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ctx = *ctx;
	s->lock_fd = -1;
	s->listen.fd = -1;
	mx_accept_pause_init(&s->accept_pause, pause_accept, s);
	if (open_socket(s) < 0) {
		vsrv_close(s);
		return NULL;
	}
	return s;
}

void vsrv_close(struct vsrv *s)
{
	struct stat st;
	size_t i;

	if (!s)
		return;
	for (i = 0; i < VS_MAX_PEERS; i++) {
		if (s->peers[i]) {
			peer_flush(s->peers[i]); /* best effort: replies already made */
			peer_free(s, s->peers[i]);
		}
	}
	mx_timer_del(s->ctx.loop, &s->accept_pause.resume);
	if (s->listen.fd >= 0) {
		/* ours still: remove it, so clients see "no daemon" at once */
		if (s->ino && stat(s->ctx.socket_path, &st) == 0 && st.st_ino == s->ino)
			unlink(s->ctx.socket_path);
		mx_io_close(s->ctx.loop, &s->listen);
	}
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}
