// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cmd_blocklist.c - mxlimit blocklist load|list|remove (the sets: blocklist.c). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blocklist.h"
#include "cli.h"
#include "json.h"
#include "log.h"

static const char blocklist_help[] =
	"Usage: mxlimit blocklist load NAME FILE [--dir DIR]\n"
	"       mxlimit blocklist list [--dir DIR] [--json]\n"
	"       mxlimit blocklist remove NAME [--dir DIR] [--missing-ok]\n\n"
	"Named sets of prefixes whose SYNs to the mail ports are refused in the\n"
	"kernel, like a block (counted as refused_blocklist).  A source matched by an\n"
	"explicit 0 of the policy (allowlisted) is exempt, as from verdicts.\n\n"
	"  load NAME FILE  load FILE as set NAME, replacing a set of that name\n"
	"                  atomically.  One prefix or address per line, IPv4 or IPv6,\n"
	"                  \"; comment\" or \"# comment\" after it or alone (Spamhaus\n"
	"                  DROP/EDROP).  Every line is checked first: any bad line is\n"
	"                  reported as FILE:LINE and nothing changes (exit 2); so does\n"
	"                  a file without prefixes.\n"
	"  list            the sets: name, prefixes, load time, refusals, source file\n"
	"  remove NAME     remove a set\n\n"
	"  --dir DIR       where sets are saved for `load` to restore (default\n"
	"                  " MX_DEFAULT_BLOCKLIST_DIR ", or $MXLIMIT_BLOCKLIST_DIR)\n"
	"  --missing-ok    remove: no such set is not an error\n\n"
	"NAME: 1 to 31 letters, digits, '_', '.', '-' (not first: '.', '-').  At most\n"
	"64 sets and 1,048,576 distinct prefixes over all of them.  Sets survive\n"
	"reload, the daemon, `unload`; after `unload --all` or a reboot `load`\n"
	"installs the saved ones.  When mxlimit is not loaded, load and remove change\n"
	"only the saved sets.\n";

struct bl_opts {
	const char *dir;
	bool missing_ok;
};

static int loaded_maps(const struct mx_global *g, struct mx_maps *m, bool *loaded)
{
	mx_maps_init(m);
	*loaded = mx_pin_dir_loaded(g->pin_dir);
	if (!*loaded)
		return 0;
	return mx_maps_open(g->pin_dir, m);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bl_load(const char *name, const char *file, const struct bl_opts *o,
		   const struct mx_global *g)
{
	struct mx_bl_list l;
	struct mx_bl_change ch;
	struct mx_maps m;
	char tmp[PATH_MAX], src[PATH_MAX];
	double t0 = mono_s();
	bool loaded;
	int lock, rc = MX_EXIT_FAIL;

	if (mx_bl_parse_file(file, &l))
		return MX_EXIT_USAGE;
	if (!realpath(file, src))
		snprintf(src, sizeof(src), "%s", file);
	ch = (struct mx_bl_change){ .name = name, .list = &l, .source = src,
				    .loaded_at = (uint64_t)time(NULL) };
	lock = mx_bl_lock(o->dir);
	if (lock < 0)
		goto out_free;
	if (loaded_maps(g, &m, &loaded))
		goto out_unlock;
	if (mx_bl_save_tmp(o->dir, name, &l, src, ch.loaded_at, tmp, sizeof(tmp)))
		goto out_maps;
	if (loaded && mx_bl_apply(&m, g->pin_dir, &ch, 1) != 0) {
		unlink(tmp);
		mx_err("blocklist %s unchanged", name);
		goto out_maps;
	}
	if (mx_bl_save_commit(o->dir, name, tmp))
		goto out_maps;
	if (loaded)
		mx_info("blocklist %s: %zu prefix%s loaded in %.3f s", name, l.n,
			l.n == 1 ? "" : "es", mono_s() - t0);
	else
		mx_info("mxlimit is not loaded at %s: blocklist %s (%zu prefixes) saved in %s; "
			"the next `mxlimit load` installs it", g->pin_dir, name, l.n, o->dir);
	rc = MX_EXIT_OK;
out_maps:
	mx_maps_close(&m);
out_unlock:
	close(lock);
out_free:
	mx_bl_list_free(&l);
	return rc;
}

static int bl_remove(const char *name, const struct bl_opts *o, const struct mx_global *g)
{
	char path[PATH_MAX];
	struct mx_bl_change ch = { .name = name };
	struct mx_maps m;
	bool loaded, saved;
	int lock, rc = MX_EXIT_FAIL, r = 1;

	lock = mx_bl_lock(o->dir);
	if (lock < 0)
		return MX_EXIT_FAIL;
	if (loaded_maps(g, &m, &loaded))
		goto out;
	snprintf(path, sizeof(path), "%s/%s.list", o->dir, name);
	saved = access(path, F_OK) == 0;
	if (loaded && (r = mx_bl_apply(&m, g->pin_dir, &ch, 1)) < 0)
		goto out;
	if (mx_bl_unsave(o->dir, name))
		goto out;
	if (r == 1 && !saved) {
		if (o->missing_ok)
			rc = MX_EXIT_OK;
		else
			mx_err("no blocklist %s", name);
		goto out;
	}
	mx_info("blocklist %s removed", name);
	rc = MX_EXIT_OK;
out:
	mx_maps_close(&m);
	close(lock);
	return rc;
}

static void fmt_time(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
}

/* Saved sets read from the directory, for `list` while nothing is loaded. */
static int saved_sets(const char *dir, struct mx_bl_set *sets)
{
	struct mx_bl_set cur;
	char path[PATH_MAX], line[512];
	struct dirent *de;
	int n = 0;
	DIR *d;
	FILE *f;

	memset(sets, 0, sizeof(*sets) * MX_BL_MAX_SETS);
	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d)) && n < MX_BL_MAX_SETS) {
		size_t len = strlen(de->d_name);

		if (len <= 5 || len - 5 >= MX_BL_NAME_LEN || strcmp(de->d_name + len - 5, ".list") != 0)
			continue;
		memset(&cur, 0, sizeof(cur));
		memcpy(cur.name, de->d_name, len - 5);
		if (!mx_bl_name_valid(cur.name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		while (fgets(line, sizeof(line), f) && line[0] == '#') {
			line[strcspn(line, "\n")] = '\0';
			if (!strncmp(line, "# loaded ", 9))
				cur.loaded_at = strtoull(line + 9, NULL, 10);
			else if (!strncmp(line, "# prefixes ", 11))
				cur.prefixes = (uint32_t)strtoul(line + 11, NULL, 10);
			else if (!strncmp(line, "# source ", 9))
				mx_bl_copy(cur.source, sizeof(cur.source), line + 9);
		}
		fclose(f);
		sets[n++] = cur;
	}
	closedir(d);
	return n;
}

static int bl_list(const struct bl_opts *o, const struct mx_global *g)
{
	struct mx_bl_set sets[MX_BL_MAX_SETS];
	uint64_t hits[MX_BL_MAX_SETS] = { 0 };
	struct mx_maps m;
	struct jw w;
	bool loaded;
	int i;

	if (loaded_maps(g, &m, &loaded))
		return MX_EXIT_FAIL;
	if (loaded) {
		if (mx_bl_sets_read(&m, sets)) {
			mx_err("cannot read the blocklist sets: %s", strerror(errno));
			mx_maps_close(&m);
			return MX_EXIT_FAIL;
		}
		mx_bl_hits_read(&m, hits);
		mx_maps_close(&m);
	} else {
		saved_sets(o->dir, sets);
		mx_info("mxlimit is not loaded at %s: the sets saved in %s", g->pin_dir, o->dir);
	}
	if (g->json) {
		jw_init(&w, stdout);
		jw_obj(&w);
		jw_kbool(&w, "loaded", loaded);
		jw_karr(&w, "blocklists");
	} else {
		printf("%-20s %9s %-20s %9s %s\n", "NAME", "PREFIXES", "LOADED", "REFUSED", "SOURCE");
	}
	for (i = 0; i < MX_BL_MAX_SETS; i++) {
		char at[32];

		if (!sets[i].name[0])
			continue;
		fmt_time(sets[i].loaded_at, at, sizeof(at));
		if (g->json) {
			jw_obj(&w);
			jw_kstr(&w, "name", sets[i].name);
			jw_ku64(&w, "prefixes", sets[i].prefixes);
			jw_ku64(&w, "loaded_at", sets[i].loaded_at);
			jw_ku64(&w, "refused", hits[i]);
			jw_kstr(&w, "source", sets[i].source);
			jw_end(&w);
		} else {
			printf("%-20s %9u %-20s %9" PRIu64 " %s\n", sets[i].name, sets[i].prefixes, at,
			       hits[i], sets[i].source[0] ? sets[i].source : "-");
		}
	}
	if (g->json) {
		jw_end(&w);
		jw_end(&w);
	}
	return MX_EXIT_OK;
}

void mx_bl_status(const struct mx_maps *m, struct jw *w)
{
	struct mx_bl_set sets[MX_BL_MAX_SETS];
	uint64_t hits[MX_BL_MAX_SETS] = { 0 };
	int i, n = 0;

	if (mx_bl_sets_read(m, sets))
		memset(sets, 0, sizeof(sets));
	mx_bl_hits_read(m, hits);
	if (w)
		jw_karr(w, "blocklists");
	else
		printf("blocklists:");
	for (i = 0; i < MX_BL_MAX_SETS; i++) {
		char at[32];

		if (!sets[i].name[0])
			continue;
		fmt_time(sets[i].loaded_at, at, sizeof(at));
		n++;
		if (w) {
			jw_obj(w);
			jw_kstr(w, "name", sets[i].name);
			jw_ku64(w, "prefixes", sets[i].prefixes);
			jw_ku64(w, "loaded_at", sets[i].loaded_at);
			jw_ku64(w, "refused", hits[i]);
			jw_kstr(w, "source", sets[i].source);
			jw_end(w);
		} else {
			printf("\n  %-20s %u prefixes, loaded %s, %" PRIu64 " refused", sets[i].name,
			       sets[i].prefixes, at, hits[i]);
		}
	}
	if (w)
		jw_end(w);
	else
		printf("%s\n", n ? "" : " none");
}

void mx_bl_query(const struct mx_maps *m, const char *pin_dir, const mx_prefix *addr,
		 bool allowlisted, struct jw *w)
{
	struct mx_bl_set sets[MX_BL_MAX_SETS];
	uint64_t listed = 0;
	int i, n = 0;

	if (mx_bl_lookup(m, pin_dir, addr, &listed) || mx_bl_sets_read(m, sets))
		listed = 0;
	if (w)
		jw_karr(w, "blocklists");
	for (i = 0; i < MX_BL_MAX_SETS; i++) {
		if (!(listed & (1ULL << i)) || !sets[i].name[0])
			continue;
		if (w)
			jw_str(w, sets[i].name);
		else
			printf("%s%s", n ? ", " : "  blocklists:  ", sets[i].name);
		n++;
	}
	if (w)
		jw_end(w);
	else if (n)
		printf("%s\n", allowlisted ? " (allowlisted: not refused)" : "");
}

int cmd_blocklist(int argc, char **argv, const struct mx_global *g)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'd' }, { "missing-ok", no_argument, 0, 'm' },
		{ "help", no_argument, 0, 'h' },      { 0, 0, 0, 0 },
	};
	struct bl_opts o = { 0 };
	const char *sub;
	int opt, nargs;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': o.dir = optarg; break;
		case 'm': o.missing_ok = true; break;
		case 'h': fputs(blocklist_help, stdout); return MX_EXIT_OK;
		default: fputs(blocklist_help, stderr); return MX_EXIT_USAGE;
		}
	}
	o.dir = mx_bl_dir(o.dir);
	if (optind >= argc) {
		mx_err("blocklist needs load, list or remove (mxlimit blocklist --help)");
		return MX_EXIT_USAGE;
	}
	sub = argv[optind++];
	nargs = argc - optind;
	if (strcmp(sub, "list") == 0) {
		if (nargs) {
			mx_err("unexpected argument \"%s\"", argv[optind]);
			return MX_EXIT_USAGE;
		}
		return bl_list(&o, g);
	}
	if (strcmp(sub, "load") != 0 && strcmp(sub, "remove") != 0) {
		mx_err("unknown blocklist command \"%s\" (load, list, remove)", sub);
		return MX_EXIT_USAGE;
	}
	if (nargs != (strcmp(sub, "load") == 0 ? 2 : 1)) {
		mx_err("usage: mxlimit blocklist %s", strcmp(sub, "load") == 0 ? "load NAME FILE" :
		       "remove NAME");
		return MX_EXIT_USAGE;
	}
	if (!mx_bl_name_valid(argv[optind])) {
		mx_err("bad set name \"%s\": 1 to %d letters, digits, '_', '.', '-' (not first: "
		       "'.', '-')", argv[optind], MX_BL_NAME_LEN - 1);
		return MX_EXIT_USAGE;
	}
	if (strcmp(sub, "load") == 0)
		return bl_load(argv[optind], argv[optind + 1], &o, g);
	return bl_remove(argv[optind], &o, g);
}
