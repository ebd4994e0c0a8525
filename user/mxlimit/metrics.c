// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * metrics.c - the daemon's Prometheus endpoint (text exposition format
 * 0.0.4) on --metrics ADDR:PORT.
 *
 * A deliberately tiny HTTP/1.0 server in the daemon's loop: GET (or HEAD)
 * /metrics, one response, close.  Requests are bounded (MS_REQ_MAX bytes,
 * MS_TIMEOUT_NS), clients capped (MS_MAX_CLIENTS); nothing here can stall
 * the verdict socket.  The numbers are read from the pinned maps at each
 * scrape, so they are the kernel's, not a copy kept by the daemon.
 *
 * Series (see docs/mxlimit-daemon.md):
 *   mxlimit_<field>_total{iface="NAME"}   every counter of MX_STATS_FIELDS,
 *                                          per attached interface, and
 *                                          iface="(socket)" for the socket
 *                                          events row (connections counted)
 *   mxlimit_active_connections            counted connections (mx_conns; in
 *                                         gateway mode the counted flows)
 *   mxlimit_tracked_sources               concurrency counters (mx_conc)
 *   mxlimit_blocks / mxlimit_penalties    prefixes with an own active one
 *   mxlimit_policy_generation, mxlimit_interfaces, mxlimit_loaded
 *   mxlimit_feature{mechanism,implementation}   what `load` uses (status)
 *   mxlimit_blocklist_prefixes{set}, mxlimit_blocklist_refused_total{set},
 *   mxlimit_blocklist_loaded_time_seconds{set}   each loaded blocklist
 *   mxlimit_daemon_*                      the daemon's own counters
 */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "accept.h"
#include "blocklist.h"
#include "iobuf.h"
#include "log.h"
#include "sanction.h"
#include "proxy_conf.h"

/* Scrapers: Prometheus and an admin's curl; more at once is a mistake. */
#define MS_MAX_CLIENTS 16
/* A scrape request is one short line plus a few headers. */
#define MS_REQ_MAX 4096
/* A client that has not sent its request or read the answer by then is closed. */
#define MS_TIMEOUT_NS (10 * MX_NS_PER_SEC)
/* Counting a map walks its keys; stop at a sane bound if it keeps changing. */
#define MS_COUNT_MAX (64u * 1024 * 1024)

struct mclient {
	struct mx_io io; /* first: the event's io is the client */
	size_t slot;
	struct mx_buf rb;   /* the request (iobuf.h), over req */
	char req[MS_REQ_MAX];
	struct mx_buf ob;   /* the response, over out */
	char *out;          /* NULL until answered */
	struct mx_timer timeout; /* MS_TIMEOUT_NS after accept: closed */
	struct dmn *d;
};

struct msrv {
	struct mx_io listen;
	struct mx_accept_pause accept_pause; /* out of descriptors: accepting paused */
	struct mclient *clients[MS_MAX_CLIENTS];
	size_t n_clients;
};

/* ---- rendering ---- */

static void label_escape(FILE *f, const char *s, size_t max)
{
	size_t i;

	for (i = 0; i < max && s[i]; i++) {
		if (s[i] == '\\' || s[i] == '"')
			fputc('\\', f);
		if (s[i] == '\n')
			fputs("\\n", f);
		else
			fputc(s[i], f);
	}
}

static void gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

struct stats_row {
	char name[MX_IFNAME_LEN + 1];
	struct mx_stats s;
};

/* Row 0 (socket events) and every attached interface's row. */
static size_t read_rows(struct dmn *d, struct stats_row *rows)
{
	size_t n = 0;
	uint32_t r;

	snprintf(rows[n].name, sizeof(rows[n].name), "(socket)");
	if (mx_stats_read(&d->maps, MX_STATS_ROW_SOCK, &rows[n].s) == 0)
		n++;
	for (r = 1; r < MX_MAX_IFACES; r++) {
		struct mx_iface ifc;

		if (bpf_map_lookup_elem(d->maps.ifaces, &r, &ifc) || !ifc.ifindex)
			continue;
		memcpy(rows[n].name, ifc.name, MX_IFNAME_LEN);
		rows[n].name[MX_IFNAME_LEN] = '\0';
		if (mx_stats_read(&d->maps, (int)r, &rows[n].s) == 0)
			n++;
	}
	return n;
}

/* Each loaded blocklist: size, refusals, when it was loaded. */
static void render_blocklists(struct dmn *d, FILE *f)
{
	static const struct {
		const char *name, *type, *help;
	} series[] = {
		{ "mxlimit_blocklist_prefixes", "gauge", "distinct prefixes of a loaded blocklist" },
		{ "mxlimit_blocklist_refused_total", "counter",
		  "SYNs refused because a loaded blocklist lists the source" },
		{ "mxlimit_blocklist_loaded_time_seconds", "gauge",
		  "when a blocklist was last loaded (Unix time)" },
	};
	struct mx_bl_set sets[MX_BL_MAX_SETS];
	uint64_t hits[MX_BL_MAX_SETS] = { 0 };
	size_t k;
	int i;

	if (mx_bl_sets_read(&d->maps, sets))
		return;
	mx_bl_hits_read(&d->maps, hits);
	for (k = 0; k < sizeof(series) / sizeof(series[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help,
			series[k].name, series[k].type);
		for (i = 0; i < MX_BL_MAX_SETS; i++) {
			if (!sets[i].name[0])
				continue;
			fprintf(f, "%s{set=\"", series[k].name);
			label_escape(f, sets[i].name, sizeof(sets[i].name));
			fprintf(f, "\"} %" PRIu64 "\n", k == 0 ? (uint64_t)sets[i].prefixes :
				k == 1 ? (uint64_t)hits[i] : (uint64_t)sets[i].loaded_at);
		}
	}
}

static void render_kernel(struct dmn *d, FILE *f)
{
	struct stats_row *rows = calloc(MX_MAX_IFACES, sizeof(*rows));
	struct mx_sanction_entry *all = NULL;
	size_t n_rows = 0, n_all = 0, i, ifaces = 0;
	uint64_t blocks = 0, penalties = 0, now = mx_mono_now(&d->maps);
	struct mx_config cfg;
	uint32_t gen = 0;

	if (rows)
		n_rows = read_rows(d, rows);
#define MX_METRIC_X(field, help)                                                          \
	fprintf(f, "# HELP mxlimit_" #field "_total " help "\n"                            \
		   "# TYPE mxlimit_" #field "_total counter\n");                            \
	for (i = 0; i < n_rows; i++) {                                                     \
		fputs("mxlimit_" #field "_total{iface=\"", f);                             \
		label_escape(f, rows[i].name, sizeof(rows[i].name));                        \
		fprintf(f, "\"} %" PRIu64 "\n", (uint64_t)rows[i].s.field);                \
	}
	MX_STATS_FIELDS(MX_METRIC_X)
#undef MX_METRIC_X
	ifaces = n_rows ? n_rows - 1 : 0;
	free(rows);

	if (mx_sanction_list(&d->maps, &all, &n_all) == 0) {
		for (i = 0; i < n_all; i++) {
			const struct mx_sanction *v = &all[i].v;

			blocks += (v->flags & MX_SANCTION_OWN_BLOCK) && v->own_block_until_ns > now;
			penalties += (v->flags & MX_SANCTION_OWN_PENALTY) &&
				     v->own_penalty_until_ns > now;
		}
		free(all);
	}
	mx_config_read(&d->maps, &cfg, &gen);
	gauge(f, "mxlimit_active_connections",
	      "inbound mail connections counted now (entries of mx_conns; in gateway mode the "
	      "flows counted through the gateway)",
	      (mx_features_read(&d->maps) & MX_FEAT_GATEWAY) ? mx_gw_flows_active(&d->maps)
							     : mx_map_count(d->maps.conns, MS_COUNT_MAX));
	gauge(f, "mxlimit_tracked_sources", "sources with a concurrency counter (entries of mx_conc)",
	      mx_map_count(d->maps.conc, MS_COUNT_MAX));
	gauge(f, "mxlimit_blocks", "prefixes with an active block", blocks);
	gauge(f, "mxlimit_penalties", "prefixes with an active penalty", penalties);
	gauge(f, "mxlimit_policy_generation", "policy generation in force (grows at each reload)",
	      gen);
	gauge(f, "mxlimit_interfaces", "interfaces with mxlimit's XDP program attached", ifaces);
	{
		uint32_t feats = mx_features_read(&d->maps);

		fprintf(f, "# HELP mxlimit_feature the implementation in use for each mechanism "
			   "(1; \"off\": running without it)\n"
			   "# TYPE mxlimit_feature gauge\n"
			   "mxlimit_feature{mechanism=\"xdp\",implementation=\"xdp\"} 1\n"
			   "mxlimit_feature{mechanism=\"sockstate\",implementation=\"tp_btf\"} 1\n"
			   "mxlimit_feature{mechanism=\"seed\",implementation=\"%s\"} 1\n"
			   "mxlimit_feature{mechanism=\"sweep\",implementation=\"%s\"} 1\n",
			mx_feature_seed(feats), mx_feature_sweep(feats));
		if (feats & MX_FEAT_GATEWAY)
			fprintf(f, "mxlimit_feature{mechanism=\"gateway_flow_sweep\","
				   "implementation=\"%s\"} 1\n",
				mx_feature_gw_sweep(feats));
	}
	render_blocklists(d, f);
}

/* A counter split by {result="ok"|"err"}. */
static void counter_by_result(FILE *f, const char *name, const char *help, uint64_t ok,
			      uint64_t err)
{
	fprintf(f, "# HELP %s %s, by result\n# TYPE %s counter\n"
		   "%s{result=\"ok\"} %" PRIu64 "\n%s{result=\"err\"} %" PRIu64 "\n",
		name, help, name, name, ok, name, err);
}

static void render_daemon(const struct dmn_snapshot *st, FILE *f)
{
	const struct dmn_counters *c = &st->c;

	counter_by_result(f, "mxlimit_daemon_verdicts_total", "verdict requests answered",
			  c->verdicts_ok, c->verdicts_err);
	counter(f, "mxlimit_daemon_peers_accepted_total", "verdict socket connections accepted",
		c->peers_accepted);
	counter(f, "mxlimit_daemon_peers_refused_total",
		"verdict socket connections refused (credentials or too many)", c->peers_refused);
	gauge(f, "mxlimit_daemon_peers", "verdict socket connections open", st->peers);
	counter_by_result(f, "mxlimit_daemon_reloads_total", "policy reloads on SIGHUP",
			  c->reloads_ok, c->reloads_failed);
	counter(f, "mxlimit_daemon_gc_collected_total", "idle concurrency counters removed",
		c->gc_collected);
	counter(f, "mxlimit_daemon_sanctions_expired_total",
		"expired blocks and penalties removed from the map", c->sanctions_expired);
	counter_by_result(f, "mxlimit_daemon_snapshots_total", "state file writes",
			  c->snapshots_ok, c->snapshots_failed);
	gauge(f, "mxlimit_daemon_start_time_seconds", "when the daemon started (Unix time)",
	      st->started_wall);
}

/* [redis]: this node in its fleet (cluster.h, redis_client.h). */
static void render_cluster(const struct dmn_snapshot *st, FILE *f)
{
	static const char *const resync[CL_RESYNC__COUNT] = { "startup", "trimmed", "reset" };
	const struct cluster_stats *cs = &st->cs;
	const struct mx_redis_stats *rs = &st->rs;
	int i;

	fputs("# HELP mxlimit_cluster_node_info this node's name in its fleet\n"
	      "# TYPE mxlimit_cluster_node_info gauge\nmxlimit_cluster_node_info{node=\"", f);
	label_escape(f, st->node, sizeof(st->node));
	fputs("\"} 1\n", f);
	gauge(f, "mxlimit_redis_up", "1 while the Redis connection is up and answering", rs->up);
	counter(f, "mxlimit_redis_connects_total", "connections made (the first and every reconnect)",
		rs->connects);
	counter(f, "mxlimit_redis_commands_total", "commands sent", rs->commands);
	fputs("# HELP mxlimit_redis_errors_total Redis failures, by kind\n"
	      "# TYPE mxlimit_redis_errors_total counter\n", f);
	for (i = 0; i < MX_REDIS_E__COUNT; i++)
		fprintf(f, "mxlimit_redis_errors_total{kind=\"%s\"} %" PRIu64 "\n",
			mx_redis_err_name((enum mx_redis_err)i), rs->errors[i]);
	fputs("# HELP mxlimit_redis_command_seconds time from a command to its reply\n"
	      "# TYPE mxlimit_redis_command_seconds histogram\n", f);
	for (i = 0; i < MX_REDIS_LAT_BUCKETS; i++)
		fprintf(f, "mxlimit_redis_command_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			mx_redis_lat_bounds[i], rs->lat_bucket[i]);
	fprintf(f, "mxlimit_redis_command_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
		   "mxlimit_redis_command_seconds_sum %.6f\n"
		   "mxlimit_redis_command_seconds_count %" PRIu64 "\n",
		rs->lat_count, (double)rs->lat_sum_ns / 1e9, rs->lat_count);
	counter(f, "mxlimit_cluster_verdicts_published_total",
		"local verdicts stored in Redis for the fleet", cs->published);
	counter(f, "mxlimit_cluster_verdicts_publish_failed_total",
		"publish attempts without an answer or refused (retried from the outbox)",
		cs->publish_failed);
	counter(f, "mxlimit_cluster_verdicts_republished_total",
		"own verdicts published again after Redis lost its data", cs->republished);
	fputs("# HELP mxlimit_cluster_verdicts_applied_total other nodes' verdicts applied here, by op\n"
	      "# TYPE mxlimit_cluster_verdicts_applied_total counter\n", f);
	fprintf(f, "mxlimit_cluster_verdicts_applied_total{op=\"sanction\"} %" PRIu64 "\n"
		   "mxlimit_cluster_verdicts_applied_total{op=\"unblock\"} %" PRIu64 "\n",
		cs->applied, cs->applied_unblocks);
	fputs("# HELP mxlimit_cluster_verdicts_ignored_total fleet verdicts not applied here, by reason\n"
	      "# TYPE mxlimit_cluster_verdicts_ignored_total counter\n", f);
	fprintf(f, "mxlimit_cluster_verdicts_ignored_total{reason=\"allowlisted\"} %" PRIu64 "\n"
		   "mxlimit_cluster_verdicts_ignored_total{reason=\"expired\"} %" PRIu64 "\n"
		   "mxlimit_cluster_verdicts_ignored_total{reason=\"failed\"} %" PRIu64 "\n",
		cs->ignored_allowlisted, cs->ignored_expired, cs->apply_failed);
	fputs("# HELP mxlimit_cluster_resyncs_total snapshots of the active set applied, by reason\n"
	      "# TYPE mxlimit_cluster_resyncs_total counter\n", f);
	for (i = 0; i < CL_RESYNC__COUNT; i++)
		fprintf(f, "mxlimit_cluster_resyncs_total{reason=\"%s\"} %" PRIu64 "\n", resync[i],
			cs->resyncs[i]);
	gauge(f, "mxlimit_cluster_outbox_depth", "local verdicts waiting for Redis",
	      cs->outbox_depth);
	counter(f, "mxlimit_cluster_outbox_dropped_total",
		"local verdicts dropped from a full outbox (the oldest first)", cs->outbox_dropped);
	gauge(f, "mxlimit_cluster_synced", "1 when caught up with the fleet since the last connect",
	      cs->synced);
	fprintf(f, "# HELP mxlimit_cluster_stream_lag_seconds stream end minus this node's cursor\n"
		   "# TYPE mxlimit_cluster_stream_lag_seconds gauge\n"
		   "mxlimit_cluster_stream_lag_seconds %.3f\n", (double)cs->lag_ms / 1000.0);
	gauge(f, "mxlimit_cluster_peers", "nodes seen in the last 10 s, this one included",
	      cs->peers);
	fputs("# HELP mxlimit_cluster_propagation_seconds from another node's publication of a verdict to its reading here (Redis clock)\n"
	      "# TYPE mxlimit_cluster_propagation_seconds histogram\n", f);
	for (i = 0; i < CL_PROP_BUCKETS; i++)
		fprintf(f, "mxlimit_cluster_propagation_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			cl_prop_bounds[i], cs->prop_bucket[i]);
	fprintf(f, "mxlimit_cluster_propagation_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
		   "mxlimit_cluster_propagation_seconds_sum %.3f\n"
		   "mxlimit_cluster_propagation_seconds_count %" PRIu64 "\n",
		cs->prop_count, (double)cs->prop_sum_ms / 1000.0, cs->prop_count);
}

/* The whole exposition text (malloc'd). */
static char *mx_metrics_render(struct dmn *d, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	struct dmn_snapshot st;
	bool loaded;

	if (!f)
		return NULL;
	dmn_snapshot_take(d, &st);
	loaded = dmn_maps_ready(d);
	gauge(f, "mxlimit_loaded", "1 when mxlimit's maps are pinned and readable", loaded);
	if (loaded)
		render_kernel(d, f);
	render_daemon(&st, f);
	if (st.cluster)
		render_cluster(&st, f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- HTTP ---- */

static void client_free(struct dmn *d, struct mclient *c)
{
	d->ms->clients[c->slot] = NULL;
	d->ms->n_clients--;
	mx_io_close(d->loop, &c->io);
	mx_timer_del(d->loop, &c->timeout);
	free(c->out);
	c->out = NULL;
	mx_loop_defer_free(d->loop, c); /* its event may still be in this batch */
}

static void respond(struct mclient *c, int code, const char *reason, const char *type,
		    const char *body, size_t blen, bool head)
{
	char hdr[256];
	int h;

	h = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", code, reason, type, blen);
	if (head)
		blen = 0;
	c->out = malloc((size_t)h + blen);
	if (!c->out)
		return;
	mx_buf_init(&c->ob, c->out, (uint32_t)((size_t)h + blen));
	mx_buf_put(&c->ob, hdr, (size_t)h);
	if (blen)
		mx_buf_put(&c->ob, body, blen);
}

static void answer(struct dmn *d, struct mclient *c)
{
	static const char text[] = "text/plain; charset=utf-8";
	char method[8], path[256];
	char *body;
	size_t blen;
	bool head;

	c->req[mx_buf_len(&c->rb)] = '\0'; /* rb holds at most MS_REQ_MAX - 1 */
	if (sscanf(c->req, "%7s %255s", method, path) != 2 || strncmp(path, "/", 1)) {
		respond(c, 400, "Bad Request", text, "bad request\n", 12, false);
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET")) {
		respond(c, 405, "Method Not Allowed", text, "GET /metrics\n", 13, false);
		return;
	}
	path[strcspn(path, "?")] = '\0';
	if (strcmp(path, "/") == 0) {
		static const char idx[] = "mxlimit daemon: metrics at /metrics\n";

		respond(c, 200, "OK", text, idx, sizeof(idx) - 1, head);
		return;
	}
	if (strcmp(path, "/metrics")) {
		respond(c, 404, "Not Found", text, "not found; try /metrics\n", 24, head);
		return;
	}
	d->c.scrapes++;
	body = mx_metrics_render(d, &blen);
	if (!body) {
		respond(c, 500, "Internal Server Error", text, "out of memory\n", 14, head);
		return;
	}
	respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, blen, head);
	free(body);
}

static bool request_complete(const struct mclient *c)
{
	size_t i;

	size_t n = mx_buf_len(&c->rb);

	for (i = 0; i + 1 < n; i++) {
		if (c->req[i] == '\n' && (c->req[i + 1] == '\n' ||
		    (c->req[i + 1] == '\r' && i + 2 < n && c->req[i + 2] == '\n')))
			return true;
	}
	return false;
}

static void client_event(struct mx_loop *l, struct mx_io *io, uint32_t ev)
{
	struct dmn *d = io->arg;
	struct mclient *c = (struct mclient *)io;

	(void)l;
	if (ev & EPOLLERR) {
		client_free(d, c);
		return;
	}
	if (!c->out) {
		ssize_t r = mx_buf_read(c->io.fd, &c->rb);

		if (r == -1)
			return;
		if (r <= 0) { /* closed before asking */
			client_free(d, c);
			return;
		}
		if (!request_complete(c)) {
			if (mx_buf_len(&c->rb) < c->rb.cap)
				return;
			respond(c, 431, "Request Header Fields Too Large", "text/plain",
				"request too large\n", 18, false);
		} else {
			answer(d, c);
		}
		if (!c->out) {
			client_free(d, c);
			return;
		}
		mx_io_set(d->loop, &c->io, EPOLLOUT);
	}
	/* what the socket takes now; the rest when it is writable again */
	if (mx_buf_write(c->io.fd, &c->ob) == 0 && mx_buf_len(&c->ob))
		return;
	client_free(d, c);
}

/* A scrape that has not finished in MS_TIMEOUT_NS is dropped. */
static void client_timeout(struct mx_loop *l, struct mx_timer *t)
{
	struct mclient *c = t->arg;

	(void)l;
	client_free(c->d, c);
}

/* A scraper: a slot among MS_MAX_CLIENTS (else closed) and a deadline. */
static void on_client(void *arg, int fd, const struct sockaddr_storage *addr)
{
	struct dmn *d = arg;
	struct msrv *s = d->ms;
	struct mclient *c;
	size_t slot;

	(void)addr;
	if (s->n_clients == MS_MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	for (slot = 0; s->clients[slot]; slot++)
		;
	c->slot = slot;
	c->d = d;
	mx_buf_init(&c->rb, c->req, sizeof(c->req) - 1); /* room for a NUL */
	mx_timer_init(&c->timeout, client_timeout, c);
	if (mx_io_add(d->loop, &c->io, fd, EPOLLIN, client_event, d)) {
		close(fd);
		free(c);
		return;
	}
	s->clients[slot] = c;
	s->n_clients++;
	mx_timer_set(d->loop, &c->timeout, dmn_now_ns() + MS_TIMEOUT_NS);
}

static void pause_accept(void *arg, bool pause)
{
	struct dmn *d = arg;

	if (d->ms && d->ms->listen.fd >= 0)
		mx_io_set(d->loop, &d->ms->listen, pause ? 0 : EPOLLIN);
}

static void on_accept(struct mx_loop *l, struct mx_io *io, uint32_t ev)
{
	struct dmn *d = io->arg;

	(void)ev;
	mx_accept_batch(l, d->ms->listen.fd, &d->ms->accept_pause, on_client, d);
}

/* "127.0.0.1:9433", "[::1]:9433", "0.0.0.0:9433", "[::]:9433" */
bool mx_metrics_addr_valid(const char *s)
{
	struct mx_sockaddr a;
	const char *why;

	return mx_sockaddr_parse(s, &a, &why) == 0;
}

int msrv_open(struct dmn *d)
{
	struct mx_sockaddr a;
	const char *why;
	struct msrv *s;
	int one = 1, fd;

	if (mx_sockaddr_parse(d->metrics_addr, &a, &why))
		return -1; /* checked with the options */
	s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->listen.fd = -1;
	mx_accept_pause_init(&s->accept_pause, pause_accept, d);
	d->ms = s;
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		mx_err("metrics socket: %s", strerror(errno));
		return -1;
	}
	s->listen.fd = fd; /* closed by msrv_close on any failure below */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a.ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a.ss, a.len) || listen(fd, 16) ||
	    mx_io_add(d->loop, &s->listen, fd, EPOLLIN, on_accept, d)) {
		if (s->listen.fd < 0)
			close(fd); /* mx_io_add let go of it */
		mx_err("cannot listen on %s for metrics: %s", d->metrics_addr, strerror(errno));
		return -1;
	}
	return 0;
}

void msrv_close(struct dmn *d)
{
	struct msrv *s = d->ms;
	size_t i;

	if (!s)
		return;
	for (i = 0; i < MS_MAX_CLIENTS; i++)
		if (s->clients[i])
			client_free(d, s->clients[i]);
	mx_timer_del(d->loop, &s->accept_pause.resume);
	if (s->listen.fd >= 0)
		mx_io_close(d->loop, &s->listen);
	free(s);
	d->ms = NULL;
}
