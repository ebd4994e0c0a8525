/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * blocklist.h - named sets of prefixes refused at the XDP layer
 * (`mxlimit blocklist`).
 *
 * Kernel side (mx_types.h, bpf/mx_blocklist.h): every set merged into one
 * LPM trie held in slot 0 of mx_blocklist (and pinned as mx_bl_trie); the
 * sets' names and sizes by id in mx_bl_sets.  A change builds a complete new trie and swaps it in
 * with one map update, so the datapath never sees a set half replaced.
 *
 * Disk side: each set as DIR/NAME.list (default
 * /var/lib/mxlimit/blocklists), a normalized copy written before the
 * kernel changes; `load` installs the saved sets the kernel does not hold
 * (after `unload --all`, a reboot).
 */
#ifndef MX_BLOCKLIST_H
#define MX_BLOCKLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "loader.h" /* struct mx_maps; blocklist_parse.c needs no BPF */

#define MX_DEFAULT_BLOCKLIST_DIR "/var/lib/mxlimit/blocklists"
/* The trie in the slot, pinned too (PIN_DIR/mx_bl_trie): see trie_fd(). */
#define MX_BL_TRIE_PIN "mx_bl_trie"

/* Copy a string into a fixed field, cut to fit (a long source path is
 * only shown). */
static inline void mx_bl_copy(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The set directory: opt, else $MXLIMIT_BLOCKLIST_DIR, else the default. */
const char *mx_bl_dir(const char *opt);

/* 1 to 31 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool mx_bl_name_valid(const char *name);

/* By address, then length: a prefix sorts before every prefix inside it
 * (qsort on mx_prefix). */
int mx_bl_prefix_cmp(const void *a, const void *b);

/* A set's prefixes, sorted and distinct. */
struct mx_bl_list {
	mx_prefix *p;
	size_t n, cap;
};
void mx_bl_list_free(struct mx_bl_list *l);

/*
 * Read a list: per line a prefix or an address, IPv4 or IPv6, optionally
 * followed by "; comment" (Spamhaus DROP/EDROP) or "# comment"; blank and
 * comment lines skipped.  Every line is checked; each bad one is reported
 * as FILE:LINE: reason.  Returns 0, or -1 when any line is bad, the file
 * is empty of prefixes or over MX_BL_MAX_PREFIXES (nothing is kept).
 */
int mx_bl_parse_file(const char *path, struct mx_bl_list *out);

/* One change of a swap: load (list set) or remove (list NULL). */
struct mx_bl_change {
	const char *name;
	const struct mx_bl_list *list;
	const char *source;  /* shown by list/status */
	uint64_t loaded_at;  /* Unix seconds */
};

/*
 * Apply changes to the kernel in one swap of the merged trie.  Returns 0;
 * 1 when a removed set is not loaded (nothing changed); -1 on error
 * (reported; nothing changed).
 */
int mx_bl_apply(const struct mx_maps *m, const char *pin_dir, const struct mx_bl_change *ch,
		size_t n);

/* The sets by id ("" name = free). */
int mx_bl_sets_read(const struct mx_maps *m, struct mx_bl_set sets[MX_BL_MAX_SETS]);
/* SYNs refused per set id, summed over CPUs. */
int mx_bl_hits_read(const struct mx_maps *m, uint64_t hits[MX_BL_MAX_SETS]);
/* The sets listing an address (bit = set id), as the datapath sees it;
 * 0 when none.  -1 when the trie cannot be read. */
int mx_bl_lookup(const struct mx_maps *m, const char *pin_dir, const mx_prefix *addr,
		 uint64_t *sets);
/* Distinct prefixes in the kernel's merged trie. */
uint64_t mx_bl_trie_count(const struct mx_maps *m, const char *pin_dir);

/* The sets with their sizes, load times, refusals: for status (text on
 * stdout, or a "blocklists" array into w). */
struct jw;
void mx_bl_status(const struct mx_maps *m, struct jw *w);

/* For query: the sets listing addr (a "blocklists" array into w, or a
 * line on stdout when any). */
void mx_bl_query(const struct mx_maps *m, const char *pin_dir, const mx_prefix *addr,
		 bool allowlisted, struct jw *w);

/* Exclusive lock on the set directory (created if missing): one change
 * at a time.  Returns the lock fd, or -1 (reported). */
int mx_bl_lock(const char *dir);

/* Write DIR/NAME.list.tmp.PID (synced); *tmp gets its path. */
int mx_bl_save_tmp(const char *dir, const char *name, const struct mx_bl_list *l,
		   const char *source, uint64_t loaded_at, char *tmp, size_t len);
/* Rename the temp file onto DIR/NAME.list. */
int mx_bl_save_commit(const char *dir, const char *name, const char *tmp);
/* Remove DIR/NAME.list (0 also when it did not exist). */
int mx_bl_unsave(const char *dir, const char *name);

/* Install every saved set the kernel does not hold, in one swap.  A
 * missing directory is not an error; a damaged file is skipped with a
 * warning.  Returns how many sets were installed, or -1. */
int mx_bl_restore(const struct mx_maps *m, const char *pin_dir, const char *dir);

#endif
