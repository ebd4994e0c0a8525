/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * main.c - mxlimit-policyd: options, policy, signals, reload, and the
 * Postfix settings `-t` prints.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "policy_match.h"
#include "policyd.h"
#include "smtp_limits.h"
#include "sysutil.h"

#define DEFAULT_CONFIG "/etc/mxlimit/limit.ini"
/* Rate windows held in memory: a few hundred bytes each, bounded. */
#define RATE_STORE_KEYS (256 * 1024)
/* Derived SMTP sessions remembered (pd_session.h): far above the smtpd
 * processes of one Postfix (default_process_limit = 100). */
#define SESSIONS_MAX 65536

static volatile int stop_flag;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mxlimit-policyd [-c FILE] [-t] [-v] [-h]\n"
		"Postfix policy service enforcing the SMTP sections of limit.ini.\n"
		"  -c, --config FILE  policy file (default " DEFAULT_CONFIG ")\n"
		"  -t, --test         check the configuration, print the Postfix settings, exit\n"
		"  -v, --verbose      log every decision (debug)\n"
		"  -h, --help         this text\n"
		"Signals: TERM/INT stop; HUP reloads the policy file; USR1 logs counters.\n"
		"Exit: 0 ok, 1 runtime failure, 2 usage or configuration error.\n"
		"See mxlimit-policyd(8).\n");
}

struct pd_main {
	struct pd_server srv;
	const char *path;
	struct mx_io sig;
	uint64_t reloads_ok, reloads_failed;
};

static void log_stats(const struct pd_main *m)
{
	const struct pd_server *srv = &m->srv;
	const struct pd_stats *st = &srv->stats;

	mx_info("connections %" PRIu32 ", accepted %" PRIu64 ", refused max_clients %" PRIu64
		", dropped %" PRIu64 ", idle closed %" PRIu64,
		srv->n_conns, srv->conns_accepted, srv->conns_refused, srv->conns_dropped,
		srv->idle_closed);
	mx_info("requests %" PRIu64 ", DUNNO %" PRIu64 ", not RCPT %" PRIu64 ", malformed %" PRIu64
		", sessions %" PRIu32 ", reloads %" PRIu64 " ok %" PRIu64 " failed",
		st->requests, st->dunno, st->not_rcpt, st->malformed,
		pd_sessions_count(srv->sessions), m->reloads_ok, m->reloads_failed);
	if (srv->redis)
		mx_redis_log_stats(srv->redis, st->rcpt_shared, st->rcpt_fallback);
	for (int v = 0; v < MX_VIOL__COUNT; v++)
		if (st->violations[v])
			mx_info("violations %s: %" PRIu64, mx_violation_name((enum mx_violation)v),
				st->violations[v]);
}

static bool same_listen(const struct mx_policyd_conf *a, const struct mx_policyd_conf *b)
{
	if (a->n_listen != b->n_listen || a->socket_mode != b->socket_mode ||
	    a->socket_group_set != b->socket_group_set ||
	    (a->socket_group_set && a->socket_group != b->socket_group))
		return false;
	for (size_t i = 0; i < a->n_listen; i++) {
		char x[128], y[128];

		if (strcmp(mx_policyd_listen_format(&a->listen[i], x, sizeof(x)),
			   mx_policyd_listen_format(&b->listen[i], y, sizeof(y))) != 0)
			return false;
	}
	return true;
}

/* The new policy replaces the old between two requests; counters, sessions
 * and connections stay.  A file that does not load changes nothing. */
static void reload(struct pd_main *m)
{
	struct pd_server *srv = &m->srv;
	struct mx_policy *pol = calloc(1, sizeof(*pol));

	mx_info("SIGHUP: reloading %s", m->path);
	if (!pol || mx_policy_load(m->path, pol) < 0) {
		free(pol);
		m->reloads_failed++;
		mx_err("reload failed: the policy in force is unchanged");
		return;
	}
	if (!pol->policyd.present || !pol->policyd.n_listen) {
		mx_policy_free(pol);
		free(pol);
		m->reloads_failed++;
		mx_err("reload failed: %s has no [policyd] listen; the policy in force is unchanged",
		       m->path);
		return;
	}
	if (!same_listen(&pol->policyd, &srv->pol->policyd))
		mx_warn("reload: [policyd] listen, socket_mode and socket_group changes take effect at the next start");
	if (strcmp(pol->policyd.verdict_socket, srv->pol->policyd.verdict_socket) != 0) {
		struct mx_vclient *v = mx_vclient_new(srv->loop, pol->policyd.verdict_socket);

		if (v) {
			mx_vclient_free(srv->verdict);
			srv->verdict = v;
		} else {
			mx_warn("reload: cannot switch verdict_socket; keeping the old one");
		}
	}
	if (!mx_redis_conf_equal(&srv->pol->redis, &pol->redis)) {
		mx_redis_free(srv->redis); /* requests in flight fall back */
		srv->redis = pol->redis.enabled ? mx_redis_new(srv->loop, &pol->redis, 0, NULL) : NULL;
	}
	mx_policy_free(srv->pol);
	free(srv->pol);
	srv->pol = pol;
	m->reloads_ok++;
	mx_info("reloaded %s", m->path);
}

static void on_signal(struct mx_loop *l, struct mx_io *io, uint32_t events)
{
	struct pd_main *m = io->arg;
	int sig;

	(void)l;
	(void)events;
	while ((sig = mx_signal_next(io)) != 0) {
		if (sig == SIGHUP)
			reload(m);
		else if (sig == SIGUSR1)
			log_stats(m);
		else
			stop_flag = 1;
	}
}


static int run(struct pd_main *m)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct pd_server *srv = &m->srv;
	int rc = 1;

	m->sig.fd = -1;
	/* one descriptor per policy connection plus slack */
	mx_raise_nofile((uint64_t)srv->pol->policyd.max_clients + 64, "max_clients");
	srv->loop = mx_loop_new();
	srv->store = mx_rate_store_mem_new(RATE_STORE_KEYS);
	srv->sessions = pd_sessions_new(SESSIONS_MAX);
	if (!srv->loop || !srv->store || !srv->sessions) {
		mx_err("out of memory");
		goto out;
	}
	if (mx_io_add_signals(srv->loop, &m->sig, sigs, 4, on_signal, m) < 0) {
		mx_err("signalfd: %s", strerror(errno));
		goto out;
	}
	srv->verdict = mx_vclient_new(srv->loop, srv->pol->policyd.verdict_socket);
	if (!srv->verdict || pd_listen(srv) < 0)
		goto out;
	if (srv->pol->redis.enabled &&
	    !(srv->redis = mx_redis_new(srv->loop, &srv->pol->redis, 0, NULL)))
		goto out;
	if (mx_loop_run(srv->loop, &stop_flag) < 0)
		goto out;
	rc = 0;
	mx_info("exiting");
	log_stats(m);
out:
	if (srv->loop) {
		pd_shutdown(srv);
		if (m->sig.fd >= 0)
			mx_io_close(srv->loop, &m->sig);
	}
	mx_redis_free(srv->redis); /* after the connections: the requests it calls back are detached */
	mx_vclient_free(srv->verdict);
	pd_sessions_free(srv->sessions);
	mx_rate_store_free(srv->store);
	mx_loop_free(srv->loop);
	return rc;
}

/* ---- -t: what Postfix needs, from the same file ---- */

static const struct mx_lookup *section_default(const struct mx_section *s)
{
	if (!s->present || !s->enabled)
		return NULL;
	for (size_t i = 0; i < s->n_lookups; i++)
		if (s->lookups[i].kind == MX_LOOKUP_DEFAULT)
			return &s->lookups[i];
	return NULL;
}

static size_t n_specific(const struct mx_section *s)
{
	size_t n = 0;

	for (size_t i = 0; s->present && s->enabled && i < s->n_lookups; i++)
		n += s->lookups[i].kind != MX_LOOKUP_DEFAULT;
	return n;
}

static void print_postfix(const struct mx_policy *pol)
{
	static const struct {
		const char *name;
		size_t off;
	} judged[] = {
		{ "recipients", offsetof(struct mx_policy, recipients) },
		{ "rate_rcpt_host", offsetof(struct mx_policy, rate_rcpt_host) },
		{ "rate_rcpt_sender", offsetof(struct mx_policy, rate_rcpt_sender) },
		{ "rate_rcpt", offsetof(struct mx_policy, rate_rcpt) },
		{ "rate_rcpt_null", offsetof(struct mx_policy, rate_rcpt_null) },
	};
	const struct mx_lookup *err = section_default(&pol->errors);
	const struct mx_lookup *unk = section_default(&pol->unrecognized_commands);
	const struct mx_policyd_listen *l = &pol->policyd.listen[0];
	char where[160], d[32];
	int n = 0;

	printf("# mxlimit-policyd enforces:");
	for (size_t i = 0; i < sizeof(judged) / sizeof(judged[0]); i++) {
		const struct mx_section *s =
			(const struct mx_section *)((const char *)pol + judged[i].off);

		if (s->present && s->enabled && s->n_lookups) {
			printf(" [%s]", judged[i].name);
			n++;
		}
	}
	printf("%s\n", n ? "" : " nothing (no SMTP section is enabled)");
	if (l->is_unix)
		snprintf(where, sizeof(where), "unix:%s", l->path);
	else
		snprintf(where, sizeof(where), "inet:%s", mx_sockaddr_format(&l->inet, d, sizeof(d)) ? d : "?");
	printf("# main.cf (relay control stays in smtpd_relay_restrictions, which Postfix\n"
	       "# checks first, so refused recipients are never counted; a chrooted smtpd needs\n"
	       "# the socket under its queue directory, e.g. unix:mxlimit/policyd.sock;\n"
	       "# \"permit_mynetworks,\" in front exempts your own networks, as a \"= 0\" lookup does):\n"
	       "smtpd_recipient_restrictions =\n"
	       "    check_policy_service { %s, default_action=DUNNO, timeout=10s }\n", where);
	printf("# What the policy protocol cannot see, left to Postfix with the values of limit.ini.\n"
	       "# Postfix counts unrecognized commands as errors, so one limit covers both;\n"
	       "# it holds for every client (per-prefix lookups cannot be said in main.cf).\n");
	if (!err && !unk) {
		printf("# [errors] and [unrecognized_commands] have no default max: Postfix's own\n"
		       "# smtpd_hard_error_limit (20) applies.\n");
	} else {
		uint32_t hard = err && unk ? (err->limit < unk->limit ? err->limit : unk->limit)
					   : (err ? err->limit : unk->limit);

		if (hard == 0)
			printf("# the default max is 0 (unlimited): leave smtpd_hard_error_limit as it is\n");
		else
			printf("smtpd_hard_error_limit = %u\n"
			       "smtpd_soft_error_limit = %u\n",
			       hard, hard < 10 ? hard : 10);
	}
	if (n_specific(&pol->errors) || n_specific(&pol->unrecognized_commands))
		printf("# (the prefix lookups of [errors] / [unrecognized_commands] are not expressible here)\n");
	if (pol->tarpit_delay_ns)
		printf("smtpd_error_sleep_time = %s\n",
		       mx_format_duration(pol->tarpit_delay_ns, d, sizeof(d)));
	printf("# smtpd_junk_command_limit counts NOOP/VRFY/ETRN/RSET, which limit.ini does not\n"
	       "# limit: keep Postfix's default (100).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "test", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pd_main m = { .path = DEFAULT_CONFIG };
	struct mx_policy *pol;
	bool test = false;
	int c, rc;

	mx_log_set_prog("mxlimit-policyd");
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
	pol = calloc(1, sizeof(*pol));
	if (!pol || mx_policy_load(m.path, pol) < 0) {
		free(pol);
		return 2;
	}
	if (!pol->policyd.present || !pol->policyd.n_listen) {
		mx_err("%s: %s", m.path, pol->policyd.present ? "[policyd] has no listen address"
							      : "no [policyd] section");
		rc = 2;
		goto out;
	}
	if (test) {
		printf("%s: configuration ok\n", m.path);
		print_postfix(pol);
		rc = 0;
		goto out;
	}
	m.srv.pol = pol;
	rc = run(&m);
	pol = m.srv.pol; /* a reload may have replaced it */
out:
	mx_policy_free(pol);
	free(pol);
	return rc;
}
