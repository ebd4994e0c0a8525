// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* blocklist.c - named prefix sets in the kernel and on disk; see blocklist.h. */
#include "blocklist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "sysutil.h"

#define BL_MAGIC "# mxlimit-blocklist 1"
/* A header line of a saved set longer than this is not ours. */
#define BL_LINE_MAX 1024

/* ---- the kernel's merged trie ---- */

struct bl_item {
	mx_prefix p;
	uint64_t own, eff;
};

struct bl_items {
	struct bl_item *v;
	size_t n, cap;
};

static int items_push(struct bl_items *it, const mx_prefix *p, uint64_t own)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 4096;
		struct bl_item *nv = realloc(it->v, cap * sizeof(*nv));

		if (!nv)
			return -1;
		it->v = nv;
		it->cap = cap;
	}
	it->v[it->n].p = *p;
	it->v[it->n].own = own;
	it->v[it->n].eff = 0;
	it->n++;
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	return mx_bl_prefix_cmp(&((const struct bl_item *)a)->p, &((const struct bl_item *)b)->p);
}

/*
 * Sort, merge equal prefixes, and compute each prefix's effective sets:
 * its own and those of every prefix enclosing it (the datapath's one
 * longest match must answer for all of them).  Sorted by address then
 * length, enclosing prefixes come first: a stack of the open ones does it
 * in one pass.
 */
static void items_finish(struct bl_items *it)
{
	static struct bl_item *stack[129];
	size_t i, out = 0;
	int top = -1;

	if (!it->n)
		return;
	qsort(it->v, it->n, sizeof(*it->v), cmp_item);
	for (i = 0; i < it->n; i++) {
		if (out && mx_prefix_equal(&it->v[out - 1].p, &it->v[i].p))
			it->v[out - 1].own |= it->v[i].own;
		else
			it->v[out++] = it->v[i];
	}
	it->n = out;
	for (i = 0; i < it->n; i++) {
		struct bl_item *e = &it->v[i];

		while (top >= 0 && !mx_prefix_contains(&stack[top]->p, &e->p))
			top--;
		e->eff = e->own | (top >= 0 ? stack[top]->eff : 0);
		if (top < 128)
			stack[++top] = e;
	}
}

static void key_of(const mx_prefix *p, struct mx_bl_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = p->plen;
	memcpy(k->addr, p->addr, sizeof(k->addr));
}

/*
 * The trie in slot 0, or -1 with errno ENOENT when none is loaded.  Each
 * installed trie is also pinned (PIN_DIR/mx_bl_trie) so that it can be
 * read back with CAP_BPF alone: opening a map by id needs CAP_SYS_ADMIN,
 * which mxlimit.service does not give.  The pin is trusted only when it is
 * the trie in the slot (a crash between the swap and the pin leaves the
 * old one); else, open it by id.
 */
static int trie_fd(const struct mx_maps *m, const char *pin_dir)
{
	struct bpf_map_info info = {};
	uint32_t zero = 0, id, len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	if (bpf_map_lookup_elem(m->blocklist, &zero, &id))
		return -1;
	snprintf(path, sizeof(path), "%s/%s", pin_dir, MX_BL_TRIE_PIN);
	fd = bpf_obj_get(path);
	if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.id == id)
		return fd;
	if (fd >= 0)
		close(fd);
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0 && errno == ENOENT)
		errno = ESTALE; /* not "no set loaded" */
	return fd;
}

/* Pin the trie just installed in place of the old one's pin. */
static void trie_pin(int fd, const char *pin_dir)
{
	char path[PATH_MAX], tmp[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, MX_BL_TRIE_PIN);
	/* bpffs refuses names with a dot */
	snprintf(tmp, sizeof(tmp), "%s/%s_new", pin_dir, MX_BL_TRIE_PIN);
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp) || rename(tmp, path)) {
		mx_warn("cannot pin the blocklist trie at %s: %s (the next change needs "
			"CAP_SYS_ADMIN to read it back)", path, strerror(errno));
		unlink(tmp);
	}
}

/* A batch operation the kernel does not have for LPM tries (they came
 * with 5.13; a kernel may still refuse them), as opposed to a failure. */
static bool batch_unsupported(int err)
{
	return err == EINVAL || err == EOPNOTSUPP || err == 524 /* ENOTSUPP */;
}

/* MXLIMIT_DISABLE=batch: one syscall per entry, as on a kernel without
 * batch operations on tries (for tests; see features.c). */
static bool batch_disabled(void)
{
	const char *env = getenv("MXLIMIT_DISABLE");
	char buf[256], *tok, *save = NULL;

	if (!env)
		return false;
	snprintf(buf, sizeof(buf), "%s", env);
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		if (strcmp(tok, "batch") == 0)
			return true;
	return false;
}

static int keep_item(struct bl_items *it, const struct mx_bl_key *k, const struct mx_bl_entry *e,
		     uint64_t keep)
{
	mx_prefix p = { .plen = k->prefixlen };

	if (!(e->own & keep))
		return 0;
	memcpy(p.addr, k->addr, sizeof(p.addr));
	return items_push(it, &p, e->own & keep);
}

/* The walk: a get_next_key and a lookup per entry. */
static int walk_kernel(int fd, uint64_t keep, struct bl_items *it)
{
	struct mx_bl_key k, next, *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct mx_bl_entry e;

		if (bpf_map_lookup_elem(fd, &next, &e) == 0 && keep_item(it, &next, &e, keep))
			return -1;
		k = next;
		prev = &k;
	}
	return 0;
}

/* The same in batches (about 6x faster for 100,000 entries); 1 when the
 * kernel has no batch lookup for tries (nothing read: walk instead). */
#define BL_BATCH 8192
static int batch_kernel(int fd, uint64_t keep, struct bl_items *it)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	struct mx_bl_key *keys = malloc(BL_BATCH * sizeof(*keys)), token;
	struct mx_bl_entry *vals = malloc(BL_BATCH * sizeof(*vals));
	void *in = NULL;
	int rc = -1, first = 1;

	if (!keys || !vals)
		goto out;
	for (;;) {
		uint32_t i, n = BL_BATCH;
		int r = bpf_map_lookup_batch(fd, in, &token, keys, vals, &n, &bo), err = errno;

		if (r && first && n == 0 && batch_unsupported(err)) {
			rc = 1;
			goto out;
		}
		first = 0;
		for (i = 0; i < n; i++)
			if (keep_item(it, &keys[i], &vals[i], keep))
				goto out;
		if (r) {
			if (err == ENOENT)
				break;
			errno = err;
			goto out;
		}
		in = &token;
	}
	rc = 0;
out:
	free(keys);
	free(vals);
	return rc;
}

/* The entries of the current trie whose own sets stay (keep mask). */
static int items_from_kernel(const struct mx_maps *m, const char *pin_dir, uint64_t keep,
			     struct bl_items *it)
{
	int fd = trie_fd(m, pin_dir), rc;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	rc = batch_disabled() ? 1 : batch_kernel(fd, keep, it);
	if (rc == 1)
		rc = walk_kernel(fd, keep, it);
	close(fd);
	return rc;
}

int mx_bl_lookup(const struct mx_maps *m, const char *pin_dir, const mx_prefix *addr,
		 uint64_t *sets)
{
	struct mx_bl_entry e;
	struct mx_bl_key k;
	int fd = trie_fd(m, pin_dir), rc;

	*sets = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	key_of(addr, &k);
	k.prefixlen = 128;
	rc = bpf_map_lookup_elem(fd, &k, &e);
	if (rc == 0)
		*sets = e.sets;
	close(fd);
	return rc == 0 || errno == ENOENT ? 0 : -1;
}

uint64_t mx_bl_trie_count(const struct mx_maps *m, const char *pin_dir)
{
	int fd = trie_fd(m, pin_dir);
	uint64_t n;

	if (fd < 0)
		return 0;
	n = mx_map_count(fd, 0);
	close(fd);
	return n;
}

/* A new trie holding the items; -1 (reported) on failure.  One batch
 * update where the kernel has it (about 3x faster), else one by one. */
static int trie_build(const struct bl_items *it)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	LIBBPF_OPTS(bpf_map_batch_opts, bo); /* batch elem_flags take BPF_F_LOCK only */
	struct mx_bl_key *keys = calloc(it->n, sizeof(*keys));
	struct mx_bl_entry *vals = calloc(it->n, sizeof(*vals));
	uint32_t cnt = (uint32_t)it->n;
	size_t i;
	int fd = -1;

	if (!keys || !vals) {
		mx_err("out of memory building the blocklist trie");
		goto fail;
	}
	for (i = 0; i < it->n; i++) {
		key_of(&it->v[i].p, &keys[i]);
		vals[i].sets = it->v[i].eff;
		vals[i].own = it->v[i].own;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "mx_bl_trie", sizeof(struct mx_bl_key),
			    sizeof(struct mx_bl_entry), (uint32_t)it->n, &o);
	if (fd < 0) {
		mx_err("cannot create the blocklist trie (%zu prefixes): %s", it->n, strerror(errno));
		goto fail;
	}
	if (batch_disabled())
		errno = EOPNOTSUPP;
	else if (bpf_map_update_batch(fd, keys, vals, &cnt, &bo) == 0)
		goto done;
	if (!batch_unsupported(errno)) {
		mx_err("cannot fill the blocklist trie: %s", strerror(errno));
		goto fail;
	}
	/* (the items are distinct: an entry a failed batch put in is only
	 * written again) */
	for (i = 0; i < it->n; i++) {
		if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY)) {
			mx_err("cannot fill the blocklist trie (prefix %zu of %zu): %s", i + 1, it->n,
			       strerror(errno));
			goto fail;
		}
	}
done:
	free(keys);
	free(vals);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	free(keys);
	free(vals);
	return -1;
}

int mx_bl_sets_read(const struct mx_maps *m, struct mx_bl_set sets[MX_BL_MAX_SETS])
{
	uint32_t i;

	memset(sets, 0, sizeof(*sets) * MX_BL_MAX_SETS);
	for (i = 0; i < MX_BL_MAX_SETS; i++) {
		if (bpf_map_lookup_elem(m->bl_sets, &i, &sets[i]))
			return -1;
		sets[i].name[MX_BL_NAME_LEN - 1] = '\0';
		sets[i].source[MX_BL_SOURCE_LEN - 1] = '\0';
	}
	return 0;
}

int mx_bl_hits_read(const struct mx_maps *m, uint64_t hits[MX_BL_MAX_SETS])
{
	int ncpu = libbpf_num_possible_cpus(), c;
	uint64_t *per;
	uint32_t i;

	memset(hits, 0, sizeof(*hits) * MX_BL_MAX_SETS);
	if (ncpu <= 0 || !(per = calloc((size_t)ncpu, sizeof(*per))))
		return -1;
	for (i = 0; i < MX_BL_MAX_SETS; i++) {
		if (bpf_map_lookup_elem(m->bl_hits, &i, per))
			continue;
		for (c = 0; c < ncpu; c++)
			hits[i] += per[c];
	}
	free(per);
	return 0;
}

static int hits_zero(const struct mx_maps *m, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus(), rc;
	uint64_t *z;

	if (ncpu <= 0 || !(z = calloc((size_t)ncpu, sizeof(*z))))
		return -1;
	rc = bpf_map_update_elem(m->bl_hits, &id, z, BPF_ANY);
	free(z);
	return rc;
}

static int set_id(const struct mx_bl_set *sets, const char *name)
{
	int i;

	for (i = 0; i < MX_BL_MAX_SETS; i++)
		if (sets[i].name[0] && strcmp(sets[i].name, name) == 0)
			return i;
	return -1;
}

/* Changes of the kernel's sets one at a time, whatever set directory each
 * command uses: a lock on the pin dir (flock works on bpffs). */
static int pins_lock(const char *pin_dir)
{
	int fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || flock(fd, LOCK_EX)) {
		mx_err("cannot lock %s: %s", pin_dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int bl_apply(const struct mx_maps *m, const char *pin_dir, const struct mx_bl_change *ch,
		    size_t n);

int mx_bl_apply(const struct mx_maps *m, const char *pin_dir, const struct mx_bl_change *ch,
		size_t n)
{
	int lock = pins_lock(pin_dir), rc;

	if (lock < 0)
		return -1;
	rc = bl_apply(m, pin_dir, ch, n);
	close(lock);
	return rc;
}

static int bl_apply(const struct mx_maps *m, const char *pin_dir, const struct mx_bl_change *ch,
		    size_t n)
{
	struct mx_bl_set sets[MX_BL_MAX_SETS], next[MX_BL_MAX_SETS];
	struct bl_items it = {};
	uint64_t changed = 0, others = 0, fresh = 0;
	uint32_t zero = 0;
	size_t i, j;
	int ids[MX_BL_MAX_SETS], fd = -1, rc = -1;

	if (n > MX_BL_MAX_SETS)
		return -1;
	if (mx_bl_sets_read(m, sets)) {
		mx_err("cannot read the blocklist sets: %s", strerror(errno));
		return -1;
	}
	memcpy(next, sets, sizeof(next));
	for (i = 0; i < n; i++) {
		int id = set_id(next, ch[i].name);

		if (id < 0 && !ch[i].list)
			return 1;
		if (id < 0) {
			for (id = 0; id < MX_BL_MAX_SETS && next[id].name[0]; id++)
				;
			if (id == MX_BL_MAX_SETS) {
				mx_err("cannot load set %s: %d sets are loaded, the most there can be "
				       "(`mxlimit blocklist remove` one)", ch[i].name, MX_BL_MAX_SETS);
				return -1;
			}
			fresh |= 1ULL << id;
		}
		ids[i] = id;
		changed |= 1ULL << id;
		memset(&next[id], 0, sizeof(next[id]));
		if (ch[i].list) {
			snprintf(next[id].name, sizeof(next[id].name), "%s", ch[i].name);
			next[id].prefixes = (uint32_t)ch[i].list->n;
			next[id].loaded_at = ch[i].loaded_at;
			snprintf(next[id].source, sizeof(next[id].source), "%s",
				 ch[i].source ? ch[i].source : "");
		}
	}
	for (i = 0; i < MX_BL_MAX_SETS; i++)
		if (sets[i].name[0] && !(changed & (1ULL << i)))
			others |= 1ULL << i;
	/* the sets that stay are read back from the kernel; the loaded ones
	 * come from their lists */
	if (others && items_from_kernel(m, pin_dir, others, &it)) {
		mx_err("cannot read the loaded blocklists: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!ch[i].list)
			continue;
		for (j = 0; j < ch[i].list->n; j++)
			if (items_push(&it, &ch[i].list->p[j], 1ULL << ids[i])) {
				mx_err("out of memory building the blocklist trie");
				goto out;
			}
	}
	items_finish(&it);
	if (it.n > MX_BL_MAX_PREFIXES) {
		mx_err("the sets would hold %zu distinct prefixes together, over the limit of %u",
		       it.n, MX_BL_MAX_PREFIXES);
		goto out;
	}
	/* a new id starts counting from zero (before its set is visible) */
	for (i = 0; i < MX_BL_MAX_SETS; i++)
		if ((fresh & (1ULL << i)) && hits_zero(m, (uint32_t)i))
			mx_warn("cannot reset the refusal counter of set id %zu: %s", i,
				strerror(errno));
	if (it.n) {
		fd = trie_build(&it);
		if (fd < 0)
			goto out;
		/* the swap: one update, the old trie or the new, never a mix */
		if (bpf_map_update_elem(m->blocklist, &zero, &fd, BPF_ANY)) {
			mx_err("cannot install the blocklist trie: %s", strerror(errno));
			goto out;
		}
		trie_pin(fd, pin_dir);
	} else {
		char path[PATH_MAX];

		if (bpf_map_delete_elem(m->blocklist, &zero) && errno != ENOENT) {
			mx_err("cannot empty the blocklists: %s", strerror(errno));
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s", pin_dir, MX_BL_TRIE_PIN);
		unlink(path);
	}
	for (i = 0; i < MX_BL_MAX_SETS; i++) {
		uint32_t id = (uint32_t)i;

		if ((changed & (1ULL << i)) && bpf_map_update_elem(m->bl_sets, &id, &next[i], BPF_ANY))
			mx_warn("cannot record set %s: %s", next[i].name[0] ? next[i].name : sets[i].name,
				strerror(errno));
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(it.v);
	return rc;
}

/* ---- the set directory ---- */

int mx_bl_lock(const char *dir)
{
	int err, fd;

	if ((err = mx_mkdir_p(dir, 0755, 0750)) != 0) {
		mx_err("cannot create %s: %s", dir, strerror(-err));
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX)) {
		mx_err("cannot lock %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void set_path(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s.list", dir, name);
}

int mx_bl_save_tmp(const char *dir, const char *name, const struct mx_bl_list *l,
		   const char *source, uint64_t loaded_at, char *tmp, size_t len)
{
	char pfx[MX_PREFIX_STRLEN];
	size_t i;
	FILE *f;
	int fd, err = 0;

	if ((err = mx_mkdir_p(dir, 0755, 0750)) != 0) {
		mx_err("cannot create %s: %s", dir, strerror(-err));
		return -1;
	}
	snprintf(tmp, len, "%s/%s.list.tmp.%ld", dir, name, (long)getpid());
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		mx_err("cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "%s\n# name %s\n# loaded %" PRIu64 "\n# prefixes %zu\n# source %s\n", BL_MAGIC,
		name, loaded_at, l->n, source ? source : "");
	for (i = 0; i < l->n; i++)
		fprintf(f, "%s\n", mx_prefix_format(&l->p[i], pfx, sizeof(pfx)));
	if (fflush(f) || fsync(fd))
		err = -1;
	if (fclose(f))
		err = -1;
	if (err) {
		mx_err("cannot write %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int mx_bl_save_commit(const char *dir, const char *name, const char *tmp)
{
	char path[PATH_MAX];

	set_path(path, sizeof(path), dir, name);
	if (rename(tmp, path)) {
		mx_err("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	sync_dir(dir);
	return 0;
}

int mx_bl_unsave(const char *dir, const char *name)
{
	char path[PATH_MAX];

	set_path(path, sizeof(path), dir, name);
	if (unlink(path) && errno != ENOENT) {
		mx_err("cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	sync_dir(dir);
	return 0;
}

/* Read a saved set: its header, then the prefixes through the list
 * parser (the same checks as a list an admin loads). */
static int read_saved(const char *path, struct mx_bl_list *l, char *source, size_t slen,
		      uint64_t *loaded_at)
{
	char line[BL_LINE_MAX];
	FILE *f = fopen(path, "re");
	int ok = 0;

	*loaded_at = 0;
	source[0] = '\0';
	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f) && strncmp(line, BL_MAGIC, strlen(BL_MAGIC)) == 0)
		ok = 1;
	while (ok && fgets(line, sizeof(line), f) && line[0] == '#') {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "# loaded ", 9) == 0)
			*loaded_at = strtoull(line + 9, NULL, 10);
		else if (strncmp(line, "# source ", 9) == 0)
			mx_bl_copy(source, slen, line + 9);
	}
	fclose(f);
	if (!ok) {
		mx_warn("%s is not a saved mxlimit blocklist (first line is not \"%s\"); skipped",
			path, BL_MAGIC);
		return -1;
	}
	return mx_bl_parse_file(path, l);
}

int mx_bl_restore(const struct mx_maps *m, const char *pin_dir, const char *dir)
{
	struct mx_bl_set sets[MX_BL_MAX_SETS];
	struct mx_bl_change ch[MX_BL_MAX_SETS];
	struct mx_bl_list lists[MX_BL_MAX_SETS];
	char sources[MX_BL_MAX_SETS][MX_BL_SOURCE_LEN], names[MX_BL_MAX_SETS][MX_BL_NAME_LEN];
	struct dirent *de;
	size_t n = 0, i;
	DIR *d;
	int rc;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : (mx_err("cannot read %s: %s", dir, strerror(errno)), -1);
	flock(dirfd(d), LOCK_EX); /* against a `blocklist load` meanwhile */
	if (mx_bl_sets_read(m, sets)) {
		closedir(d);
		return -1;
	}
	while ((de = readdir(d)) && n < MX_BL_MAX_SETS) {
		size_t len = strlen(de->d_name);
		char path[PATH_MAX];
		uint64_t at;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".list") != 0 ||
		    len - 5 >= MX_BL_NAME_LEN)
			continue;
		memcpy(names[n], de->d_name, len - 5);
		names[n][len - 5] = '\0';
		if (!mx_bl_name_valid(names[n]) || set_id(sets, names[n]) >= 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (read_saved(path, &lists[n], sources[n], sizeof(sources[n]), &at)) {
			mx_warn("saved blocklist %s not restored", path);
			continue;
		}
		ch[n].name = names[n];
		ch[n].list = &lists[n];
		ch[n].source = sources[n];
		ch[n].loaded_at = at;
		n++;
	}
	rc = n ? mx_bl_apply(m, pin_dir, ch, n) : 0;
	closedir(d); /* and the lock */
	for (i = 0; i < n; i++)
		mx_bl_list_free(&lists[i]);
	return rc < 0 ? -1 : (int)n;
}
