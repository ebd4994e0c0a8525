/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * json.h - one small JSON writer for every --json output, so the
 * escaping and comma rules live in one place.
 *
 *   struct jw w; jw_init(&w, stdout);
 *   jw_obj(&w); jw_kstr(&w, "name", "eth0"); jw_ku64(&w, "n", 3); jw_end(&w);
 */
#ifndef MX_JSON_H
#define MX_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 16

struct jw {
	FILE *f;
	int depth;
	bool first[JW_MAX_DEPTH];
	char close[JW_MAX_DEPTH]; /* '}' or ']' of each open container */
	bool after_key;
};

void jw_init(struct jw *w, FILE *f);
void jw_obj(struct jw *w);
void jw_arr(struct jw *w);
void jw_end(struct jw *w);   /* closes the innermost object/array; newline at depth 0 */
void jw_key(struct jw *w, const char *k);
void jw_str(struct jw *w, const char *s);
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);

static inline void jw_kstr(struct jw *w, const char *k, const char *v) { jw_key(w, k); jw_str(w, v); }
static inline void jw_ku64(struct jw *w, const char *k, uint64_t v) { jw_key(w, k); jw_u64(w, v); }
static inline void jw_ki64(struct jw *w, const char *k, int64_t v) { jw_key(w, k); jw_i64(w, v); }
static inline void jw_kbool(struct jw *w, const char *k, bool v) { jw_key(w, k); jw_bool(w, v); }
static inline void jw_kobj(struct jw *w, const char *k) { jw_key(w, k); jw_obj(w); }
static inline void jw_karr(struct jw *w, const char *k) { jw_key(w, k); jw_arr(w); }

#endif
