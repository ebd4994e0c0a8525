/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * sysutil.h - small system helpers every program had its own copy of:
 * directories, user and group names, a hash.
 */
#ifndef MX_SYSUTIL_H
#define MX_SYSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdir -p: path and every missing parent (parents with mode `parents`,
 * path itself with `mode`).  0, or -errno. */
int mx_mkdir_p(const char *path, mode_t parents, mode_t mode);
/* The directory a file path lives in, as mx_mkdir_p; "" or "/x" need none. */
int mx_mkdir_parent(const char *file, mode_t parents, mode_t mode);

/* A user or group by name, or by number.  0, or -1 if neither. */
int mx_parse_uid(const char *s, uid_t *uid);
int mx_parse_gid(const char *s, gid_t *gid);

/* Raise the soft RLIMIT_NOFILE to want (capped by the hard limit); a
 * warning names `what` when the hard limit is below it. */
void mx_raise_nofile(uint64_t want, const char *what);

/* FNV-1a, 64-bit: h = MX_FNV1A_INIT to start, chain calls to go on. */
#define MX_FNV1A_INIT 1469598103934665603ULL
uint64_t mx_fnv1a(const void *p, size_t n, uint64_t h);

#endif
