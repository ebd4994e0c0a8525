/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * main.c - mxlimit-proxy: options, policy, listeners, signals.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "sysutil.h"
#include "tls.h"
#include "verdict_proto.h"

#define DEFAULT_CONFIG "/etc/mxlimit/limit.ini"
/* Rate windows held in memory: a few hundred bytes each, bounded. */
#define RATE_STORE_KEYS (256 * 1024)
/* Listen backlog: bursts queue in the kernel, not in us. */
#define LISTEN_BACKLOG 1024

static volatile int stop_flag;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mxlimit-proxy [-c FILE] [-t] [-v] [-h]\n"
		"SMTP proxy enforcing the proxy sections of limit.ini.\n"
		"  -c, --config FILE  policy file (default " DEFAULT_CONFIG ")\n"
		"  -t, --test         check the configuration and exit\n"
		"  -v, --verbose      log every session (debug)\n"
		"  -h, --help         this text\n"
		"Signals: TERM/INT stop; HUP reloads the policy and the certificates; USR1 logs\n"
		"counters.  Exit: 0 ok, 1 runtime failure, 2 usage or configuration error.\n"
		"See mxlimit-proxy(8).\n");
}


static void log_stats(const struct px_server *srv)
{
	const struct px_stats *st = &srv->stats;

	mx_info("sessions %" PRIu32 " (tarpitted %" PRIu32 "), accepted %" PRIu64
		", refused max_clients %" PRIu64 ", backend failures %" PRIu64
		", timeouts %" PRIu64 ", tarpit full %" PRIu64 ", TLS %" PRIu64
		" (failed %" PRIu64 ")",
		srv->n_sessions, srv->n_tarpitted, st->accepted, st->refused_max_clients,
		st->backend_failed, st->timeouts, st->tarpit_full, st->tls_sessions, st->tls_failed);
	if (srv->redis)
		mx_redis_log_stats(srv->redis, st->rcpt_shared, st->rcpt_fallback);
	for (int v = 0; v < MX_VIOL__COUNT; v++)
		if (st->violations[v])
			mx_info("violations %s: %" PRIu64, mx_violation_name((enum mx_violation)v),
				st->violations[v]);
}

static void pause_listeners(void *arg, bool pause)
{
	struct px_server *srv = arg;

	for (size_t i = 0; i < srv->n_listeners; i++)
		mx_io_set(srv->loop, &srv->listeners[i].io, pause ? 0 : EPOLLIN);
}

/* The peer's address as verdicts name it (IPv4-mapped shown as IPv4). */
static void peer_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	mx_prefix p;

	if (mx_addr_from_sockaddr((const struct sockaddr *)ss, &p) < 0)
		snprintf(buf, len, "?");
	else
		mx_prefix_format(&p, buf, len);
}

/* Send the [penalty] verdict for v (smtp_limits.h), if the policy asks for one. */
void px_limits_verdict(struct px_server *srv, const char *client_ip, enum mx_violation v)
{
	char line[MX_VERDICT_LINE_MAX + 1];
	int n = mx_limits_verdict(srv->pol, client_ip, v, line, sizeof(line));

	if (n < 0)
		mx_warn("%s: [penalty] %s: no verdict request can say it", client_ip,
			mx_violation_name(v));
	else if (n > 0)
		mx_vclient_send(srv->verdict, line);
}

/*
 * Over max_clients: the 421 is written once, best effort, then closed.  A
 * [penalty] max_clients verdict goes to the direct peer (a balancer's
 * clients are not known before their PROXY header is read).
 */
static void refuse_busy(struct px_server *srv, int fd, const struct sockaddr_storage *peer)
{
	char ip[INET6_ADDRSTRLEN] = "";
	mx_prefix p;

	char line[320];
	int n = snprintf(line, sizeof(line),
			 "421 4.7.0 %s Error: too many connections, try again later\r\n",
			 srv->hostname);

	srv->stats.refused_max_clients++;
	if (n > 0)
		(void)!send(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	srv->stats.violations[MX_VIOL_MAX_CLIENTS]++;
	peer_text(peer, ip, sizeof(ip));
	if (!ip[0] || mx_addr_parse(ip, &p) < 0)
		return;
	/* never sanction a balancer for its clients */
	if (srv->conf->accept_proxy == MX_PA_NONE || !mx_proxy_conf_trusted(srv->conf, &p))
		px_limits_verdict(srv, ip, MX_VIOL_MAX_CLIENTS);
}

static void on_client(void *arg, int fd, const struct sockaddr_storage *peer)
{
	struct px_listener *ln = arg;
	struct px_server *srv = ln->srv;

	if (srv->n_sessions >= srv->conf->max_clients)
		refuse_busy(srv, fd, peer);
	else
		px_session_accept(srv, fd, peer, ln->tls);
}

static void on_accept(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct px_listener *ln = io->arg;

	(void)events;
	mx_accept_batch(l, io->fd, &ln->srv->accept_pause, on_client, ln);
}

static int open_listener(struct px_server *srv, const struct mx_sockaddr *a, bool tls)
{
	char text[80];
	int one = 1, fd;
	struct px_listener *ln = &srv->listeners[srv->n_listeners];

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::]:25 and 0.0.0.0:25 may both be listed: keep families apart */
	if (a->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	ln->srv = srv;
	ln->tls = tls;
	if (mx_io_add(srv->loop, &ln->io, fd, EPOLLIN, on_accept, ln) < 0)
		goto fail;
	srv->n_listeners++;
	mx_info("listening on %s%s", mx_sockaddr_format(a, text, sizeof(text)),
		tls ? " (TLS)" : srv->tls ? " (STARTTLS)" : "");
	return 0;
fail:
	mx_err("listen %s: %s", mx_sockaddr_format(a, text, sizeof(text)), strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}


/* The parts of [proxy] the proxy itself cannot do without. */
static int check_conf(const char *path, const struct mx_proxy_conf *c)
{
	if (!c->present) {
		mx_err("%s: no [proxy] section", path);
		return -1;
	}
	if (!c->n_listen) {
		mx_err("%s: [proxy] has no listen address", path);
		return -1;
	}
	if (!c->backend_set) {
		mx_err("%s: [proxy] has no backend", path);
		return -1;
	}
	return 0;
}

/* Settings the loop reads from the policy in force. */
static void apply_policy(struct px_server *srv, struct mx_policy *pol)
{
	uint64_t tp = pol->tarpit_delay_ns;

	srv->pol = pol;
	srv->conf = &pol->proxy;
	srv->tarpit_ns = tp < pol->proxy.tarpit_max_ns ? tp : pol->proxy.tarpit_max_ns;
	if (pol->proxy.hostname[0])
		snprintf(srv->hostname, sizeof(srv->hostname), "%s", pol->proxy.hostname);
	else if (gethostname(srv->hostname, sizeof(srv->hostname) - 1) < 0)
		snprintf(srv->hostname, sizeof(srv->hostname), "localhost");
}

/* A file's policy with its [proxy] checked and its certificates loaded.
 * NULL on error (reported). */
static struct mx_policy *load_all(const char *path, struct px_tls **tls,
				  struct px_tls_client **btls)
{
	struct mx_policy *pol = calloc(1, sizeof(*pol));
	bool err;

	*tls = NULL;
	*btls = NULL;
	if (!pol || mx_policy_load(path, pol) < 0) {
		free(pol);
		return NULL;
	}
	if (check_conf(path, &pol->proxy) < 0)
		goto fail;
	*tls = px_tls_new(&pol->proxy, path, &err);
	if (err)
		goto fail;
	*btls = px_tls_client_new(&pol->proxy, path, &err);
	if (err) {
		px_tls_free(*tls);
		*tls = NULL;
		goto fail;
	}
	return pol;
fail:
	mx_policy_free(pol);
	free(pol);
	return NULL;
}

static void drop_policy(struct mx_policy *pol)
{
	if (pol) {
		mx_policy_free(pol);
		free(pol);
	}
}

static bool same_sockets(const struct mx_proxy_conf *a, const struct mx_proxy_conf *b)
{
	return a->n_listen == b->n_listen && a->n_listen_tls == b->n_listen_tls &&
	       !memcmp(a->listen, b->listen, sizeof(a->listen[0]) * a->n_listen) &&
	       !memcmp(a->listen_tls, b->listen_tls, sizeof(a->listen_tls[0]) * a->n_listen_tls) &&
	       (a->n_tls_cert > 0) == (b->n_tls_cert > 0);
}

struct px_main {
	struct px_server srv;
	const char *path;
	struct mx_io sig;
};

/*
 * SIGHUP: the policy and the certificates are read again; sessions go on
 * (a session in TLS keeps the context it started with; new handshakes use
 * the new certificates).  A file or certificate that does not load
 * changes nothing.  Listen addresses, and turning TLS on or off, need a
 * restart.
 */
static void reload(struct px_main *m)
{
	struct px_server *srv = &m->srv;
	struct px_tls_client *btls = NULL;
	struct px_tls *tls = NULL;
	struct mx_policy *pol;

	mx_info("SIGHUP: reloading %s", m->path);
	pol = load_all(m->path, &tls, &btls);
	if (!pol) {
		mx_err("reload failed: the policy and certificates in force are unchanged");
		return;
	}
	if (!same_sockets(&pol->proxy, srv->conf)) {
		mx_warn("reload: listen, listen_tls and turning TLS on or off take effect at the next start");
		if (!tls != !srv->tls) { /* keep the TLS mode the listeners were opened for */
			px_tls_free(tls);
			tls = NULL;
			if (srv->tls) {
				mx_err("reload failed: the new file has no certificate; keeping the old one");
				px_tls_client_free(btls);
				drop_policy(pol);
				return;
			}
		}
	}
	if (strcmp(pol->proxy.verdict_socket, srv->conf->verdict_socket) != 0) {
		struct mx_vclient *v = mx_vclient_new(srv->loop, pol->proxy.verdict_socket);

		if (v) {
			mx_vclient_free(srv->verdict);
			srv->verdict = v;
		}
	}
	px_tls_free(srv->tls); /* handshakes under way hold the old set (tls.h) */
	srv->tls = tls;
	/* sessions hold their own SSL objects; new backend connections use this */
	px_tls_client_free(srv->btls);
	srv->btls = btls;
	if (!mx_redis_conf_equal(&srv->pol->redis, &pol->redis)) {
		mx_redis_free(srv->redis); /* recipients in flight fall back */
		srv->redis = NULL;
		if (pol->redis.enabled)
			srv->redis = mx_redis_new(srv->loop, &pol->redis, 0, NULL);
	}
	drop_policy(srv->pol);
	apply_policy(srv, pol);
	mx_info("reloaded %s%s", m->path, tls ? " and its certificates" : "");
}

/* TERM/INT stop, HUP reloads, USR1 logs the counters (signalfd: evloop.h). */
static void on_signal(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct px_main *m = io->arg;
	int sig;

	(void)l;
	(void)events;
	while ((sig = mx_signal_next(io)) != 0) {
		if (sig == SIGUSR1)
			log_stats(&m->srv);
		else if (sig == SIGHUP)
			reload(m);
		else
			stop_flag = 1;
	}
}

static int run(struct px_main *m)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct px_server *srv = &m->srv;
	const struct mx_proxy_conf *pc = srv->conf;
	int rc = 1;

	m->sig.fd = -1;
	mx_accept_pause_init(&srv->accept_pause, pause_listeners, srv);
	/* two descriptors per session plus slack */
	mx_raise_nofile((uint64_t)pc->max_clients * 2 + 64, "max_clients");
	srv->loop = mx_loop_new();
	srv->store = mx_rate_store_mem_new(RATE_STORE_KEYS);
	if (!srv->loop || !srv->store)
		goto out;
	if (mx_io_add_signals(srv->loop, &m->sig, sigs, 4, on_signal, m) < 0) {
		mx_err("signalfd: %s", strerror(errno));
		goto out;
	}
	srv->verdict = mx_vclient_new(srv->loop, pc->verdict_socket);
	if (!srv->verdict)
		goto out;
	if (srv->pol->redis.enabled && !(srv->redis = mx_redis_new(srv->loop, &srv->pol->redis, 0, NULL)))
		goto out;
	for (size_t i = 0; i < pc->n_listen; i++)
		if (open_listener(srv, &pc->listen[i], false) < 0)
			goto out;
	for (size_t i = 0; i < pc->n_listen_tls; i++)
		if (open_listener(srv, &pc->listen_tls[i], true) < 0)
			goto out;
	if (mx_loop_run(srv->loop, &stop_flag) < 0)
		goto out;
	rc = 0;
	log_stats(srv);
out:
	if (srv->loop)
		px_session_close_all(srv);
	mx_redis_free(srv->redis); /* after the sessions: nothing waits on it */
	for (size_t i = 0; i < srv->n_listeners; i++)
		mx_io_close(srv->loop, &srv->listeners[i].io);
	if (m->sig.fd >= 0)
		mx_io_close(srv->loop, &m->sig);
	mx_vclient_free(srv->verdict);
	mx_rate_store_free(srv->store);
	mx_loop_free(srv->loop);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "test", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct px_main m = { .path = DEFAULT_CONFIG };
	struct px_tls_client *btls = NULL;
	struct px_tls *tls = NULL;
	struct mx_policy *pol;
	bool test = false;
	int c, rc;

	mx_log_set_prog("mxlimit-proxy");
	while ((c = getopt_long(argc, argv, "c:tvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': m.path = optarg; break;
		case 't': test = true; break;
		case 'v': mx_log_set_level(MX_LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	pol = load_all(m.path, &tls, &btls);
	if (!pol)
		return 2;
	if (test) {
		printf("%s: configuration ok%s\n", m.path,
		       tls ? " (certificates and keys loaded)" : "");
		px_tls_free(tls);
		px_tls_client_free(btls);
		drop_policy(pol);
		return 0;
	}
	m.srv.tls = tls;
	m.srv.btls = btls;
	apply_policy(&m.srv, pol);
	rc = run(&m);
	px_tls_free(m.srv.tls);
	px_tls_client_free(m.srv.btls);
	drop_policy(m.srv.pol);
	return rc;
}
