/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mx_blocklist.h - is a source listed by a loaded blocklist?
 *
 * One inlined array access finds the merged trie (mx_maps.h,
 * mx_blocklist); with no set loaded the slot is empty and nothing else
 * runs, so a server without blocklists pays no trie lookup.  A listed
 * source counts a refusal for each set that lists it (mx_bl_hits).
 */
#ifndef MX_BLOCKLIST_H
#define MX_BLOCKLIST_H

#include "mx_maps.h"

static __always_inline int mx_blocklisted(const __u32 *saddr)
{
	struct mx_bl_key k = { .prefixlen = 128 };
	const struct mx_bl_entry *e;
	__u32 zero = 0, i;
	void *trie;
	__u64 sets;

	trie = bpf_map_lookup_elem(&mx_blocklist, &zero);
	if (!trie)
		return 0;
	__builtin_memcpy(k.addr, saddr, sizeof(k.addr));
	e = bpf_map_lookup_elem(trie, &k);
	if (!e || !e->sets)
		return 0;
	sets = e->sets;
	for (i = 0; i < MX_BL_MAX_SETS && sets; i++, sets >>= 1) {
		__u64 *hits;

		if (!(sets & 1))
			continue;
		hits = bpf_map_lookup_elem(&mx_bl_hits, &i);
		if (hits)
			(*hits)++;
	}
	return 1;
}

#endif
