/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* sysutil.c - see sysutil.h. */
#include "sysutil.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "log.h"

int mx_mkdir_p(const char *path, mode_t parents, mode_t mode)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, parents) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int mx_mkdir_parent(const char *file, mode_t parents, mode_t mode)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", file) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return mx_mkdir_p(dir, parents, mode);
}

/* A decimal id, the whole string. */
static int parse_id(const char *s, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	return *s && !*end && !errno ? 0 : -1;
}

int mx_parse_uid(const char *s, uid_t *uid)
{
	struct passwd *pw = getpwnam(s);
	unsigned long v;

	if (pw) {
		*uid = pw->pw_uid;
		return 0;
	}
	if (parse_id(s, &v))
		return -1;
	*uid = (uid_t)v;
	return 0;
}

int mx_parse_gid(const char *s, gid_t *gid)
{
	struct group *gr = getgrnam(s);
	unsigned long v;

	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (parse_id(s, &v))
		return -1;
	*gid = (gid_t)v;
	return 0;
}

uint64_t mx_fnv1a(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

void mx_raise_nofile(uint64_t want, const char *what)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : (rlim_t)want;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		mx_warn("RLIMIT_NOFILE %llu is below the %llu %s needs",
			(unsigned long long)rl.rlim_cur, (unsigned long long)want, what);
}
