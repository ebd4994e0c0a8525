// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * state.c - blocks and penalties across reboots; see state.h.
 *
 * The file is gzip'd text (zcat shows it), one own block or penalty a line:
 *
 *   # mxlimit-state 1
 *   block 198.51.100.0/24 1767225600 - manual
 *   penalty 192.0.2.7 1767222000 1 errors
 *   penalty 2001:db8::/48 never tier -
 *
 * fields: kind, prefix, expiry (Unix seconds, or "never"), penalty limit
 * (N, "tier" = the policy's bad tier, "refuse"; "-" for blocks), reason
 * ("-" for none).  The kernel keeps CLOCK_MONOTONIC expiries, which mean
 * nothing after a reboot, so the file holds wall-clock ones: saving turns
 * `until` into realtime now + (until - monotonic now), restoring turns it
 * back.  Only each prefix's own sanctions are saved; what nested prefixes
 * inherit is recomputed by mx_sanction_add on restore.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "addr.h"
#include "log.h"
#include "sanction.h"
#include "verdict_proto.h"
#include "sysutil.h"

#define STATE_MAGIC "# mxlimit-state 1"
/* Longest line we write is about 90 bytes; longer is not ours. */
#define STATE_LINE_MAX 256

static uint64_t realtime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Monotonic expiry -> Unix seconds (rounded up, so nothing is cut short). */
static uint64_t to_wall(uint64_t until_ns, uint64_t mono_now, uint64_t wall_now)
{
	return wall_now + (until_ns - mono_now + MX_NS_PER_SEC - 1) / MX_NS_PER_SEC;
}

static int write_entry(gzFile gz, const struct mx_sanction_entry *e, uint64_t mono_now,
		       uint64_t wall_now)
{
	const struct mx_sanction *v = &e->v;
	char pfx[MX_PREFIX_STRLEN], until[24], lim[16];
	int rc = 0;

	mx_prefix_format(&e->prefix, pfx, sizeof(pfx));
	if ((v->flags & MX_SANCTION_OWN_BLOCK) && v->own_block_until_ns > mono_now) {
		if (v->own_block_until_ns == MX_FOREVER)
			strcpy(until, "never");
		else
			snprintf(until, sizeof(until), "%" PRIu64,
				 to_wall(v->own_block_until_ns, mono_now, wall_now));
		if (gzprintf(gz, "block %s %s - %s\n", pfx, until,
			     v->block_reason[0] ? v->block_reason : "-") <= 0)
			rc = -1;
	}
	if ((v->flags & MX_SANCTION_OWN_PENALTY) && v->own_penalty_until_ns > mono_now) {
		if (v->own_penalty_until_ns == MX_FOREVER)
			strcpy(until, "never");
		else
			snprintf(until, sizeof(until), "%" PRIu64,
				 to_wall(v->own_penalty_until_ns, mono_now, wall_now));
		if (gzprintf(gz, "penalty %s %s %s %s\n", pfx, until,
			     mx_penalty_limit_text(v->own_penalty_limit, lim, sizeof(lim)),
			     v->penalty_reason[0] ? v->penalty_reason : "-") <= 0)
			rc = -1;
	}
	return rc;
}

/* Make the renamed file's directory entry durable. */
static void sync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *p;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	p = strrchr(dir, '/');
	if (!p)
		strcpy(dir, ".");
	else if (p == dir)
		dir[1] = '\0';
	else
		*p = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int mx_state_save(const struct mx_maps *m, const char *path)
{
	struct mx_sanction_entry *all = NULL;
	char tmp[PATH_MAX];
	uint64_t mono_now, wall_now;
	size_t n, i;
	gzFile gz;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		mx_err("state file path too long: %s", path);
		return -1;
	}
	if (mx_sanction_list(m, &all, &n)) {
		mx_err("cannot read the blocks and penalties to save them");
		return -1;
	}
	if ((errno = -mx_mkdir_parent(path, 0755, 0750)) != 0) {
		mx_err("cannot create the directory of %s: %s", path, strerror(errno));
		free(all);
		return -1;
	}
	unlink(tmp); /* a leftover of a crash with our pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(gz = gzdopen(fd, "wb6"))) {
		mx_err("cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(all);
		return -1;
	}
	mono_now = mx_mono_now(m);
	wall_now = realtime_s();
	if (gzprintf(gz, "%s\n# kind prefix expiry(unix-seconds|never) limit reason\n",
		     STATE_MAGIC) <= 0)
		err = -1;
	for (i = 0; i < n && !err; i++)
		err = write_entry(gz, &all[i], mono_now, wall_now);
	free(all);
	if (gzclose(gz) != Z_OK)
		err = -1;
	if (!err) { /* the data on disk before the name points at it */
		fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd))
			err = -1;
		if (fd >= 0)
			close(fd);
	}
	if (err || rename(tmp, path)) {
		mx_err("cannot write %s: %s", path, errno ? strerror(errno) : "write failed");
		unlink(tmp);
		return -1;
	}
	sync_dir(path);
	return 0;
}

/* "tier" / "refuse" / N -> the mx_sanction_req limit. */
static int parse_limit(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (strcmp(s, "tier") == 0) {
		*out = 0;
		return 0;
	}
	if (strcmp(s, "refuse") == 0) {
		*out = MX_PENALTY_REFUSE;
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v >= MX_PENALTY_TIER || s[0] == '-')
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Parse one line into a request; 1 = expired (skip), 0 = ok, -1 = bad. */
static int parse_line(char *line, struct mx_sanction_req *r, char *reason, uint64_t mono_now,
		      uint64_t wall_now)
{
	char *f[6], *save = NULL, *tok;
	const char *why = NULL;
	int n = 0;

	for (tok = strtok_r(line, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 6)
			return -1;
		f[n++] = tok;
	}
	if (n != 5)
		return -1;
	memset(r, 0, sizeof(*r));
	if (strcmp(f[0], "block") == 0)
		r->kind = MX_KIND_BLOCK;
	else if (strcmp(f[0], "penalty") == 0)
		r->kind = MX_KIND_PENALTY;
	else
		return -1;
	if (mx_prefix_parse(f[1], false, &r->prefix, &why))
		return -1;
	if (strcmp(f[2], "never") == 0) {
		r->until_ns = MX_FOREVER;
	} else {
		char *end;
		unsigned long long w;

		errno = 0;
		w = strtoull(f[2], &end, 10);
		if (errno || *end || end == f[2] || f[2][0] == '-')
			return -1;
		if (w <= wall_now)
			return 1;
		if (w - wall_now > MX_DURATION_MAX_NS / MX_NS_PER_SEC)
			return -1; /* no sanction that long was ever written */
		r->until_ns = mono_now + (w - wall_now) * MX_NS_PER_SEC;
	}
	if (r->kind == MX_KIND_BLOCK ? strcmp(f[3], "-") != 0 : parse_limit(f[3], &r->limit))
		return -1;
	if (strcmp(f[4], "-") != 0) {
		if (!mx_reason_valid(f[4]))
			return -1;
		snprintf(reason, MX_REASON_LEN, "%s", f[4]); /* fits: checked above */
		r->reason = reason;
	}
	return 0;
}

/* Read one line.  Returns 1 for a line, 0 at the end, -1 for a line
 * longer than the buffer (consumed whole), -2 for a last line without
 * its newline (a file cut short: its fields cannot be trusted). */
static int read_line(gzFile gz, char *buf, int len)
{
	size_t n;

	if (!gzgets(gz, buf, len))
		return 0;
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		return 1;
	if (gzeof(gz))
		return -2;
	for (;;) {
		char rest[STATE_LINE_MAX];

		if (!gzgets(gz, rest, sizeof(rest)))
			return -1;
		n = strlen(rest);
		if (n && rest[n - 1] == '\n')
			return -1;
	}
}

int mx_state_restore(const struct mx_maps *m, const char *path)
{
	char line[STATE_LINE_MAX], reason[MX_REASON_LEN];
	uint64_t mono_now, wall_now;
	int lineno = 0, restored = 0, rc;
	gzFile gz;

	gz = gzopen(path, "rb"); /* reads a plain (uncompressed) file as well */
	if (!gz) {
		if (errno == ENOENT)
			return 0;
		mx_err("cannot read %s: %s", path, errno ? strerror(errno) : "out of memory");
		return -1;
	}
	mono_now = mx_mono_now(m);
	wall_now = realtime_s();
	while ((rc = read_line(gz, line, sizeof(line))) != 0) {
		struct mx_sanction_req r;

		lineno++;
		if (lineno == 1 && (rc < 0 || strncmp(line, STATE_MAGIC, strlen(STATE_MAGIC)) != 0)) {
			mx_err("%s is not an mxlimit state file (first line is not \"%s\")", path,
			       STATE_MAGIC);
			gzclose(gz);
			return -1;
		}
		if (rc == -1) {
			mx_log_at(MX_LOG_WARN, path, lineno, "line too long, skipped");
			continue;
		}
		if (rc == -2) {
			mx_log_at(MX_LOG_WARN, path, lineno, "last line incomplete, skipped");
			break;
		}
		if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		rc = parse_line(line, &r, reason, mono_now, wall_now);
		if (rc < 0) {
			mx_log_at(MX_LOG_WARN, path, lineno, "malformed entry, skipped");
			continue;
		}
		if (rc > 0)
			continue; /* expired while we were down */
		if (mx_sanction_add(m, &r)) {
			gzclose(gz);
			return -1;
		}
		restored++;
	}
	{
		int zerr;
		const char *msg = gzerror(gz, &zerr);

		if (zerr == Z_BUF_ERROR) /* input ended inside the compressed stream */
			mx_log_at(MX_LOG_WARN, path, lineno, "file cut short (%d entries restored)",
				  restored);
		else if (zerr != Z_OK) {
			mx_err("%s: %s (%d entries restored before it)", path, msg, restored);
			gzclose(gz);
			return -1;
		}
	}
	gzclose(gz);
	return restored;
}
