// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cmd_show.c - status, query: what the kernel holds, read from the pins (top: cmd_top.c). */
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "cli.h"
#include "cluster.h"
#include "json.h"
#include "log.h"
#include "blocklist.h"
#include "sanction.h"

static const char *const stat_names[] = {
#define X(name, help) #name,
	MX_STATS_FIELDS(X)
#undef X
};
#define N_STATS (sizeof(stat_names) / sizeof(stat_names[0]))

/* Is the interface of this row still there?  Only this namespace can be
 * checked; rows of other namespaces are taken as they are. */
static bool iface_present(const struct mx_iface *row)
{
	char name[IF_NAMESIZE];

	if (row->netns != mx_self_netns())
		return true;
	return if_indextoname(row->ifindex, name) &&
	       strncmp(name, row->name, sizeof(row->name)) == 0;
}

static void ports_text(const struct mx_config *cfg, char *buf, size_t len)
{
	size_t off = 0;
	unsigned p;

	buf[0] = '\0';
	for (p = 0; p < 65536 && off + 8 < len; p++)
		if (mx_port_isset(cfg->ports, p))
			off += (size_t)snprintf(buf + off, len - off, "%s%u", off ? "," : "", p);
}

static void print_stats_text(const struct mx_stats *s)
{
	const uint64_t *v = (const uint64_t *)s;
	size_t i;

	for (i = 0; i < N_STATS; i++)
		if (v[i])
			printf("    %-16s %llu\n", stat_names[i], (unsigned long long)v[i]);
}

static void print_stats_json(struct jw *w, const struct mx_stats *s)
{
	const uint64_t *v = (const uint64_t *)s;
	size_t i;

	jw_obj(w);
	for (i = 0; i < N_STATS; i++)
		jw_ku64(w, stat_names[i], v[i]);
	jw_end(w);
}

static const char status_help[] =
	"Usage: mxlimit status [--json]\n\n"
	"The mode (local or gateway), interfaces with their role in gateway mode (the\n"
	"clients' or the servers' side), XDP mode and program ids, the live policy (generation,\n"
	"ports, action, aggregation), connections and sources tracked, blocks and\n"
	"penalties, the implementation of each mechanism in use (features), and every\n"
	"counter by reason (all interfaces, then each).\n"
	"The JSON has a top-level \"active_connections\": all counted connections, and a\n"
	"\"features\" object: mechanism -> implementation in use, or \"off\".\n"
	"In gateway mode active connections are the flows counted through the gateway,\n"
	"and a warning says when SYNs are admitted but no SYN-ACK comes back (the\n"
	"replies bypass the gateway: gateway mode needs symmetric routing).\n";

static const char *role_name(uint32_t role)
{
	return role == MX_ROLE_CLIENT ? "clients" : role == MX_ROLE_SERVER ? "servers" : "local";
}

/* Handshakes admitted and not one SYN-ACK back: replies bypass the
 * gateway (asymmetric routing) or the server side is not watched. */
static bool gw_asymmetric(const struct mx_stats *t)
{
	return t->admitted >= 20 && t->gw_synack == 0;
}

int cmd_status(int argc, char **argv, const struct mx_global *g)
{
	struct mx_sanction_entry *sn = NULL;
	size_t n_sn = 0, i, blocks = 0, penalties = 0;
	struct mx_config cfg;
	struct mx_stats total;
	struct mx_maps m;
	uint64_t now, active;
	uint32_t gen = 0, r, feats;
	bool gw;
	char ports[1024];
	struct jw w;
	int a = mx_cmd_args(argc, argv, status_help, 0);

	if (a >= 0)
		return a;
	if (mx_maps_open(g->pin_dir, &m))
		return MX_EXIT_FAIL;
	memset(&cfg, 0, sizeof(cfg));
	mx_config_read(&m, &cfg, &gen);
	mx_stats_read(&m, -1, &total);
	now = mx_mono_now(&m);
	mx_sanction_list(&m, &sn, &n_sn);
	for (i = 0; i < n_sn; i++) {
		blocks += sn[i].v.block_until_ns > now && (sn[i].v.flags & MX_SANCTION_OWN_BLOCK);
		penalties += sn[i].v.penalty_until_ns > now && (sn[i].v.flags & MX_SANCTION_OWN_PENALTY);
	}
	free(sn);
	/* one record per counted connection; summing the counters would count
	 * a connection twice when a wide level counts it too */
	feats = mx_features_read(&m);
	gw = (feats & MX_FEAT_GATEWAY) != 0;
	active = gw ? mx_gw_flows_active(&m) : mx_map_count(m.conns, 0);
	ports_text(&cfg, ports, sizeof(ports));

	if (g->json) {
		jw_init(&w, stdout);
		jw_obj(&w);
		jw_kstr(&w, "pin_dir", g->pin_dir);
		jw_kstr(&w, "mode", gw ? "gateway" : "local");
		jw_karr(&w, "interfaces");
		for (r = 1; r < MX_MAX_IFACES; r++) {
			struct mx_iface row;
			struct mx_stats st;

			if (bpf_map_lookup_elem(m.ifaces, &r, &row) || !row.ifindex)
				continue;
			mx_stats_read(&m, (int)r, &st);
			jw_obj(&w);
			jw_kstr(&w, "name", row.name);
			jw_ku64(&w, "ifindex", row.ifindex);
			jw_ku64(&w, "netns", row.netns);
			jw_kstr(&w, "mode", mx_mode_name(row.mode));
			jw_kstr(&w, "role", role_name(row.role));
			jw_kstr(&w, "state", iface_present(&row) ? "attached" : "gone");
			jw_ku64(&w, "prog_id", row.prog_id);
			jw_key(&w, "counters");
			print_stats_json(&w, &st);
			jw_end(&w);
		}
		jw_end(&w);
		jw_kobj(&w, "policy");
		jw_ku64(&w, "generation", gen);
		jw_kstr(&w, "ports", ports);
		jw_kstr(&w, "action", cfg.action == MX_ACTION_RESET ? "reset" : "drop");
		jw_ku64(&w, "ipv4_prefix", cfg.v4_plen >= 96 ? cfg.v4_plen - 96 : 0);
		jw_ku64(&w, "ipv6_prefix", cfg.v6_plen);
		jw_ku64(&w, "pending_timeout_ms", cfg.pending_timeout_ns / 1000000);
		jw_ku64(&w, "prefixes", mx_map_count(m.policy, 0));
		jw_end(&w);
		jw_ku64(&w, "active_connections", active);
		jw_ku64(&w, "tracked_sources", mx_map_count(m.conc, 0));
		jw_ku64(&w, "blocks", blocks);
		jw_ku64(&w, "penalties", penalties);
		jw_kobj(&w, "features");
		jw_kstr(&w, "xdp", "xdp");
		if (gw) {
			jw_kstr(&w, "sockstate", "off");
			jw_kstr(&w, "flow_sweep", mx_feature_gw_sweep(feats));
		} else {
			jw_kstr(&w, "sockstate", "tp_btf");
			jw_kstr(&w, "seed", mx_feature_seed(feats));
			jw_kstr(&w, "sweep", mx_feature_sweep(feats));
		}
		jw_end(&w);
		if (gw) {
			jw_kobj(&w, "gateway");
			jw_ku64(&w, "flows", active);
			jw_ku64(&w, "handshakes_pending", mx_map_count(m.gw_pending, 0));
			jw_kbool(&w, "asymmetric_suspected", gw_asymmetric(&total));
			jw_end(&w);
		}
		mx_bl_status(&m, &w);
		jw_key(&w, "counters");
		print_stats_json(&w, &total);
		cluster_status_print(g->pin_dir, &w); /* [redis]: the daemon's report */
		jw_end(&w);
		mx_maps_close(&m);
		return MX_EXIT_OK;
	}

	printf("mxlimit at %s (%s mode)\n", g->pin_dir, gw ? "gateway" : "local");
	printf("interfaces:\n");
	for (r = 1; r < MX_MAX_IFACES; r++) {
		struct mx_iface row;

		if (bpf_map_lookup_elem(m.ifaces, &r, &row) || !row.ifindex)
			continue;
		if (!iface_present(&row))
			printf("  %-16s gone: the interface was removed (`mxlimit unload -i %s` forgets it)\n",
			       row.name, row.name);
		else
			printf("  %-16s %sifindex %u, %s mode, program id %u, netns %u\n", row.name,
			       row.role == MX_ROLE_CLIENT   ? "clients' side, "
			       : row.role == MX_ROLE_SERVER ? "servers' side, "
							    : "",
			       row.ifindex, mx_mode_name(row.mode), row.prog_id, row.netns);
	}
	printf("policy: generation %u, ports %s, action %s, per-source /%u (IPv4) /%u (IPv6), "
	       "%zu prefixes\n", gen, ports, cfg.action == MX_ACTION_RESET ? "reset" : "drop",
	       cfg.v4_plen >= 96 ? cfg.v4_plen - 96 : 0, cfg.v6_plen,
	       (size_t)mx_map_count(m.policy, 0));
	printf("active connections: %llu   tracked sources: %zu   blocks: %zu   penalties: %zu\n",
	       (unsigned long long)active, (size_t)mx_map_count(m.conc, 0), blocks, penalties);
	if (gw) {
		const char *sw = mx_feature_gw_sweep(feats);

		printf("features: xdp, flow sweep %s\n", sw);
		if (!strcmp(sw, "daemon"))
			printf("  flow sweep daemon: flows that lose their FIN expire only while "
			       "`mxlimit daemon` runs\n");
		else if (!strcmp(sw, "off"))
			printf("  flow sweep off: flows that lose their FIN and RST stay counted\n");
		printf("gateway: %llu flows counted, %llu handshakes pending\n",
		       (unsigned long long)active,
		       (unsigned long long)mx_map_count(m.gw_pending, 0));
		if (gw_asymmetric(&total))
			printf("  WARNING: %llu SYNs admitted and no SYN-ACK came back through this "
			       "gateway: replies take another path (gateway mode needs symmetric "
			       "routing) or --servers-on names the wrong interface\n",
			       (unsigned long long)total.admitted);
	} else {
		printf("features: xdp, sockstate tp_btf, seed %s, sweep %s\n", mx_feature_seed(feats),
		       mx_feature_sweep(feats));
	}
	if (!gw && !strcmp(mx_feature_seed(feats), "off"))
		printf("  seed off: %s\n", mx_feature_loss("seed"));
	if (!gw && !strcmp(mx_feature_sweep(feats), "off"))
		printf("  sweep off: %s\n", mx_feature_loss("sweep"));
	if (!gw && !strcmp(mx_feature_seed(feats), "sock_diag"))
		printf("  seed sock_diag: a connection closing during the dump stays counted "
		       "until the next sweep\n");
	mx_bl_status(&m, NULL);
	cluster_status_print(g->pin_dir, NULL); /* [redis]: the daemon's report */
	printf("counters (all interfaces):\n");
	print_stats_text(&total);
	mx_maps_close(&m);
	return MX_EXIT_OK;
}

static const char query_help[] =
	"Usage: mxlimit query ADDR [--json]\n\n"
	"Which policy entry applies to ADDR (the matched lookup: a prefix or\n"
	"`default`), its concurrency and rate limits, the counter it is counted in\n"
	"(active, pending, rate used), any block or penalty that applies, and the\n"
	"blocklists that list it.\n";

static void lookup_text(const struct mx_key *k, bool shared, char *buf, size_t len)
{
	char p[MX_PREFIX_STRLEN];

	mx_prefix_format(k, p, sizeof(p));
	if (shared)
		snprintf(buf, len, "%s", p);
	else
		snprintf(buf, len, "default (per /%u)", mx_prefix_native_len(k));
}

int cmd_query(int argc, char **argv, const struct mx_global *g)
{
	struct mx_policy_key pk = { .prefixlen = 32 + 128 };
	struct mx_key ck, rk;
	struct mx_sanction sn = {};
	struct mx_conc c = {};
	struct mx_config cfg = {};
	struct mx_maps m;
	struct mx_rule r;
	mx_prefix addr;
	char cl[96], rl[96], a[MX_PREFIX_STRLEN], blk[32], pen[32];
	uint64_t now, used;
	uint32_t pend;
	bool have_sn, blocked, penalized;
	struct jw w;
	int ar = mx_cmd_args(argc, argv, query_help, 1);

	if (ar >= 0)
		return ar;
	if (mx_addr_parse(argv[1], &addr)) {
		mx_err("bad address \"%s\"", argv[1]);
		return MX_EXIT_USAGE;
	}
	if (mx_maps_open(g->pin_dir, &m))
		return MX_EXIT_FAIL;
	mx_config_read(&m, &cfg, &pk.gen);
	memcpy(pk.addr, addr.addr, sizeof(pk.addr));
	if (bpf_map_lookup_elem(m.policy, &pk, &r)) {
		mx_err("no policy entry matches %s (is a policy applied?)", argv[1]);
		mx_maps_close(&m);
		return MX_EXIT_FAIL;
	}
	now = mx_mono_now(&m);
	ck = addr;
	ck.plen = r.conc_plen;
	mx_prefix_mask(&ck);
	rk = addr;
	rk.plen = r.rate_plen;
	mx_prefix_mask(&rk);
	bpf_map_lookup_elem(m.conc, &ck, &c);
	pend = mx_pending_count(&m, &ck, now, cfg.pending_slot_ns);
	used = r.rate_limit ? mx_rate_used(&m, &rk, now) : 0;
	have_sn = mx_sanction_lookup(&m, &addr, &sn) == 0;
	blocked = have_sn && sn.block_until_ns > now;
	penalized = have_sn && sn.penalty_until_ns > now;
	lookup_text(&ck, r.flags & MX_RULE_CONC_SHARED, cl, sizeof(cl));
	lookup_text(&rk, r.flags & MX_RULE_RATE_SHARED, rl, sizeof(rl));
	mx_prefix_format(&addr, a, sizeof(a));
	mx_fmt_remaining(sn.block_until_ns, now, blk, sizeof(blk));
	mx_fmt_remaining(sn.penalty_until_ns, now, pen, sizeof(pen));

	if (g->json) {
		jw_init(&w, stdout);
		jw_obj(&w);
		jw_kstr(&w, "address", a);
		jw_kbool(&w, "allowlisted", r.flags & MX_RULE_ALLOW);
		jw_kobj(&w, "concurrency");
		jw_kstr(&w, "lookup", cl);
		jw_kstr(&w, "counter", mx_prefix_format(&ck, a, sizeof(a)));
		jw_ku64(&w, "limit", r.conc_limit);
		jw_ku64(&w, "active", c.established);
		jw_ku64(&w, "pending", pend);
		jw_end(&w);
		jw_kobj(&w, "rate_conn");
		jw_kstr(&w, "lookup", rl);
		jw_kstr(&w, "counter", mx_prefix_format(&rk, a, sizeof(a)));
		jw_ku64(&w, "limit", r.rate_limit);
		jw_ku64(&w, "period_s", r.rate_period_ns / 1000000000ULL);
		jw_ku64(&w, "used", used);
		jw_end(&w);
		jw_kobj(&w, "block");
		jw_kbool(&w, "active", blocked);
		if (blocked) {
			jw_kstr(&w, "expires_in", blk);
			jw_kstr(&w, "reason", sn.block_reason);
		}
		jw_end(&w);
		jw_kobj(&w, "penalty");
		jw_kbool(&w, "active", penalized);
		if (penalized) {
			jw_kstr(&w, "expires_in", pen);
			jw_kstr(&w, "reason", sn.penalty_reason);
			if (sn.penalty_limit == MX_PENALTY_TIER)
				jw_kstr(&w, "limit", "bad tier");
			else
				jw_ku64(&w, "limit", sn.penalty_limit);
		}
		jw_end(&w);
		mx_bl_query(&m, g->pin_dir, &addr, r.flags & MX_RULE_ALLOW, &w);
		jw_end(&w);
	} else {
		printf("%s%s\n", argv[1], r.flags & MX_RULE_ALLOW ? " (allowlisted)" : "");
		printf("  concurrency: lookup %s, limit %s%u, active %u, pending %u\n", cl,
		       r.conc_limit ? "" : "unlimited ", r.conc_limit, c.established, pend);
		if (r.rate_limit)
			printf("  rate_conn:   lookup %s, limit %u/%llus, used %llu\n", rl, r.rate_limit,
			       (unsigned long long)(r.rate_period_ns / 1000000000ULL),
			       (unsigned long long)used);
		else
			printf("  rate_conn:   lookup %s, unlimited\n", rl);
		if (blocked)
			printf("  blocked:     %s left, reason %s\n", blk,
			       sn.block_reason[0] ? sn.block_reason : "-");
		if (penalized) {
			printf("  penalized:   %s left, reason %s, ", pen,
			       sn.penalty_reason[0] ? sn.penalty_reason : "-");
			if (sn.penalty_limit == MX_PENALTY_TIER)
				printf("limit: bad tier\n");
			else
				printf("limit %u\n", sn.penalty_limit);
		}
		mx_bl_query(&m, g->pin_dir, &addr, r.flags & MX_RULE_ALLOW, NULL);
	}
	mx_maps_close(&m);
	return MX_EXIT_OK;
}
