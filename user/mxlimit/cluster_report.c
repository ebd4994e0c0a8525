// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cluster_report.c - the report `mxlimit status` reads; see cluster.h.
 *
 * The daemon rewrites a small "key value" file every housekeeping tick;
 * `mxlimit status` prints it, and takes a report older than
 * CL_REPORT_STALE_S for a daemon that is gone.  A separate job from
 * keeping the fleet in step: cluster.h's accessors are all it needs.
 */
#include "cluster.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "redis_client.h"
#include "sysutil.h"

/* A report older than this is a daemon that is gone. */
#define CL_REPORT_STALE_S 10

void cluster_report_path(const char *pin_dir, char *buf, size_t len)
{
	char name[256];

	snprintf(name, sizeof(name), "%.200s", pin_dir);
	for (size_t i = 0; name[i]; i++)
		if (name[i] == '/')
			name[i] = '_';
	snprintf(buf, len, "%s/cluster-%s", MX_RUN_DIR, name);
}

void cluster_report(const struct cluster *c, const char *path)
{
	const struct cluster_stats *st = cluster_stats(c);
	const struct mx_redis_stats *rs = cluster_redis_stats(c);
	const char *cursor = cluster_cursor(c);
	char tmp[PATH_MAX + 8], where[160];
	uint64_t resyncs = 0;
	FILE *f;

	for (int i = 0; i < CL_RESYNC__COUNT; i++)
		resyncs += st->resyncs[i];
	if (mx_mkdir_parent(path, 0755, 0755))
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return;
	fprintf(f, "node %s\nredis %s\nup %d\nsynced %d\npeers %" PRIu64 "\nlag_ms %" PRIu64
		   "\noutbox %" PRIu64 "\npublished %" PRIu64 "\napplied %" PRIu64
		   "\nignored_allowlisted %" PRIu64 "\nresyncs %" PRIu64 "\ncursor %s\n",
		cluster_node(c), mx_redis_conf_where(cluster_conf(c), where, sizeof(where)), rs->up,
		st->synced, st->peers, st->lag_ms, st->outbox_depth, st->published,
		st->applied + st->applied_unblocks, st->ignored_allowlisted, resyncs,
		cursor[0] ? cursor : "-");
	if (fclose(f) || rename(tmp, path))
		unlink(tmp);
}

void cluster_status_print(const char *pin_dir, struct jw *w)
{
	char path[PATH_MAX], k[32], v[200];
	char node[64] = "?", redis[160] = "?", cursor[64] = "-";
	uint64_t up = 0, synced = 0, peers = 0, lag = 0, outbox = 0, pub = 0, app = 0, ign = 0,
		 rsy = 0, age;
	struct stat st;
	FILE *f;

	cluster_report_path(pin_dir, path, sizeof(path));
	if (stat(path, &st) || !(f = fopen(path, "r")))
		return;
	while (fscanf(f, "%31s %199s", k, v) == 2) {
		uint64_t n = strtoull(v, NULL, 10);

		if (!strcmp(k, "node")) snprintf(node, sizeof(node), "%.63s", v);
		else if (!strcmp(k, "redis")) snprintf(redis, sizeof(redis), "%.159s", v);
		else if (!strcmp(k, "cursor")) snprintf(cursor, sizeof(cursor), "%.63s", v);
		else if (!strcmp(k, "up")) up = n;
		else if (!strcmp(k, "synced")) synced = n;
		else if (!strcmp(k, "peers")) peers = n;
		else if (!strcmp(k, "lag_ms")) lag = n;
		else if (!strcmp(k, "outbox")) outbox = n;
		else if (!strcmp(k, "published")) pub = n;
		else if (!strcmp(k, "applied")) app = n;
		else if (!strcmp(k, "ignored_allowlisted")) ign = n;
		else if (!strcmp(k, "resyncs")) rsy = n;
	}
	fclose(f);
	age = (uint64_t)time(NULL) > (uint64_t)st.st_mtime ? (uint64_t)time(NULL) - (uint64_t)st.st_mtime : 0;
	if (w) {
		jw_kobj(w, "cluster");
		jw_kstr(w, "node", node);
		jw_kstr(w, "redis", redis);
		jw_kbool(w, "redis_up", up && age <= CL_REPORT_STALE_S);
		jw_kbool(w, "synced", synced);
		jw_ku64(w, "peers", peers);
		jw_ku64(w, "cursor_lag_ms", lag);
		jw_kstr(w, "cursor", cursor);
		jw_ku64(w, "outbox", outbox);
		jw_ku64(w, "published", pub);
		jw_ku64(w, "applied", app);
		jw_ku64(w, "ignored_allowlisted", ign);
		jw_ku64(w, "resyncs", rsy);
		jw_ku64(w, "report_age_s", age);
		jw_end(w);
		return;
	}
	if (age > CL_REPORT_STALE_S) {
		printf("cluster: node %s; no report from the daemon for %" PRIu64 " s (not running?)\n",
		       node, age);
		return;
	}
	printf("cluster: node %s, redis %s %s%s, peers %" PRIu64 ", cursor lag %.1f s, outbox %"
	       PRIu64 ", verdicts published %" PRIu64 " applied %" PRIu64
	       " ignored (allowlisted) %" PRIu64 ", resyncs %" PRIu64 "\n",
	       node, redis, up ? "up" : "DOWN", up && !synced ? " (catching up)" : "", peers,
	       (double)lag / 1000.0, outbox, pub, app, ign, rsy);
}
