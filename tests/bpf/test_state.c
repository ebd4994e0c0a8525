// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_state.c - the state file (state.c) against real maps: blocks and
 * penalties saved with wall-clock expiries and restored into empty maps
 * with their remaining time, limits and reasons; expired, corrupt,
 * foreign and truncated files handled without harm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include <cmocka.h>

#include "../unit/log_capture.h"
#include "harness.h"
#include "sanction.h"
#include "state.h"

static char dir[128], path[192];

static void sanction(const char *prefix, enum mx_sanction_kind kind, uint64_t secs,
		     uint32_t limit, const char *reason)
{
	struct mx_sanction_req r = { .kind = kind, .limit = limit, .reason = reason };

	h_prefix(&r.prefix, prefix);
	r.until_ns = secs == UINT64_MAX ? MX_FOREVER : mx_mono_now(&H.m) + secs * NS;
	assert_int_equal(mx_sanction_add(&H.m, &r), 0);
}

/* The exact entry for prefix (its own parts). */
static struct mx_sanction entry(const char *prefix)
{
	struct mx_sanction_key k = { 0 };
	struct mx_sanction v;
	mx_prefix p;

	h_prefix(&p, prefix);
	k.prefixlen = p.plen;
	memcpy(k.addr, p.addr, sizeof(k.addr));
	if (bpf_map_lookup_elem(H.m.sanctions, &k, &v) || v.plen != p.plen)
		fail_msg("no entry for %s", prefix);
	return v;
}

/* Seconds left of a monotonic expiry, rounded. */
static long left(uint64_t until)
{
	return (long)((int64_t)(until - mx_mono_now(&H.m)) / (int64_t)NS);
}

static void write_plain(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_missing_file(void **state)
{
	(void)state;
	assert_int_equal(mx_state_restore(&H.m, "/nonexistent/mxlimit/state.gz"), 0);
}

static void test_round_trip(void **state)
{
	struct mx_sanction v;

	(void)state;
	sanction("192.0.2.7", MX_KIND_BLOCK, 600, 0, "manual");
	sanction("198.51.100.0/24", MX_KIND_PENALTY, 300, 3, "rcpt");
	sanction("198.51.100.0/24", MX_KIND_BLOCK, 60, 0, NULL);
	sanction("2001:db8::/48", MX_KIND_PENALTY, 120, 0, "errors"); /* tier */
	sanction("203.0.113.9", MX_KIND_BLOCK, UINT64_MAX, 0, "forever");
	assert_int_equal(mx_state_save(&H.m, path), 0);

	h_clear_map(H.m.sanctions, sizeof(struct mx_sanction_key));
	assert_int_equal(h_map_entries(H.m.sanctions, sizeof(struct mx_sanction_key)), 0);
	assert_int_equal(mx_state_restore(&H.m, path), 5);

	v = entry("192.0.2.7");
	assert_true(v.flags & MX_SANCTION_OWN_BLOCK);
	assert_in_range(left(v.own_block_until_ns), 597, 601);
	assert_string_equal(v.block_reason, "manual");

	v = entry("198.51.100.0/24");
	assert_true(v.flags & MX_SANCTION_OWN_PENALTY);
	assert_true(v.flags & MX_SANCTION_OWN_BLOCK);
	assert_in_range(left(v.own_penalty_until_ns), 297, 301);
	assert_in_range(left(v.own_block_until_ns), 57, 61);
	assert_int_equal(v.own_penalty_limit, 3);
	assert_string_equal(v.penalty_reason, "rcpt");
	assert_string_equal(v.block_reason, "");

	v = entry("2001:db8::/48");
	assert_int_equal(v.own_penalty_limit, MX_PENALTY_TIER);
	assert_string_equal(v.penalty_reason, "errors");

	v = entry("203.0.113.9");
	assert_true(v.own_block_until_ns == MX_FOREVER);

	/* the effective values were recomputed: an address in the /24 is
	 * penalized and blocked as the datapath sees it */
	{
		mx_prefix a;

		h_prefix(&a, "198.51.100.20");
		assert_int_equal(mx_sanction_lookup(&H.m, &a, &v), 0);
		assert_true(v.block_until_ns > mx_mono_now(&H.m));
		assert_int_equal(v.penalty_limit, 3);
	}
	/* restoring twice changes nothing (a later expiry wins) */
	assert_int_equal(mx_state_restore(&H.m, path), 5);
	assert_int_equal(h_map_entries(H.m.sanctions, sizeof(struct mx_sanction_key)), 4);
}

/* The file is zcat-able text with Unix expiries. */
static void test_format(void **state)
{
	char buf[1024] = "";
	gzFile gz;
	time_t now = time(NULL);
	unsigned long long w = 0;
	char *line;

	(void)state;
	sanction("192.0.2.7", MX_KIND_BLOCK, 600, 0, "manual");
	sanction("198.51.100.0/24", MX_KIND_PENALTY, 60, MX_PENALTY_REFUSE, NULL);
	assert_int_equal(mx_state_save(&H.m, path), 0);
	gz = gzopen(path, "rb");
	assert_non_null(gz);
	assert_true(gzread(gz, buf, sizeof(buf) - 1) > 0);
	gzclose(gz);
	assert_true(strncmp(buf, "# mxlimit-state 1\n", 18) == 0);
	line = strstr(buf, "\nblock 192.0.2.7 ");
	assert_non_null(line);
	assert_int_equal(sscanf(line, "\nblock 192.0.2.7 %llu - manual\n", &w), 1);
	assert_in_range((long long)w - (long long)now, 598, 602);
	assert_non_null(strstr(buf, "\npenalty 198.51.100.0/24 "));
	assert_non_null(strstr(buf, " refuse -\n"));
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
}

/* The test clock offset moves monotonic time; the file stays in real
 * time, so remaining times survive the offset. */
static void test_clock_offset(void **state)
{
	struct mx_sanction v;

	(void)state;
	h_set_clock(5000 * NS);
	sanction("192.0.2.8", MX_KIND_BLOCK, 100, 0, NULL);
	assert_int_equal(mx_state_save(&H.m, path), 0);
	h_clear_map(H.m.sanctions, sizeof(struct mx_sanction_key));
	h_set_clock(0);
	assert_int_equal(mx_state_restore(&H.m, path), 1);
	v = entry("192.0.2.8");
	assert_in_range(left(v.own_block_until_ns), 97, 101);
}

static void test_expired_and_corrupt(void **state)
{
	char text[2048];
	time_t now = time(NULL);

	(void)state;
	snprintf(text, sizeof(text),
		 "# mxlimit-state 1\n"
		 "block 192.0.2.1 %lld - old\n"             /* expired: skipped quietly */
		 "block 192.0.2.2 %lld - ok\n"              /* restored (plain text is read too) */
		 "penalty 192.0.2.3 %lld 2 ok\n"            /* restored */
		 "blok 192.0.2.4 %lld - x\n"                /* bad kind */
		 "block 192.0.2.5/24 %lld - x\n"            /* host bits */
		 "block 192.0.2.6 soon - x\n"               /* bad time */
		 "penalty 192.0.2.7 %lld many x\n"          /* bad limit */
		 "penalty 192.0.2.8 %lld 0 x\n"             /* limit 0 is not written */
		 "block 192.0.2.9 %lld - x y\n"             /* extra field */
		 "block 192.0.2.10 %lld 5 x\n"              /* a block has no limit */
		 "block 192.0.2.11 %lld - bad/reason\n"     /* reason */
		 "block 192.0.2.12 99999999999999999999 - x\n" /* overflow */
		 "block 192.0.2.13 %lld - %0300d\n"         /* overlong line */
		 "\n# comment\n"
		 "block 192.0.2.14 never - ok\n",           /* restored */
		 (long long)now - 10, (long long)now + 100, (long long)now + 100,
		 (long long)now + 100, (long long)now + 100, (long long)now + 100,
		 (long long)now + 100, (long long)now + 100, (long long)now + 100,
		 (long long)now + 100, (long long)now + 100, 0);
	write_plain(text);
	cap_start();
	assert_int_equal(mx_state_restore(&H.m, path), 3);
	cap_stop();
	assert_int_equal(cap.warnings, 10);
	assert_logged(":5: warning: malformed entry, skipped");
	assert_logged(":14: warning: line too long, skipped");
	assert_int_equal(h_map_entries(H.m.sanctions, sizeof(struct mx_sanction_key)), 3);
	assert_int_equal(entry("192.0.2.3").own_penalty_limit, 2);
	assert_true(entry("192.0.2.14").own_block_until_ns == MX_FOREVER);
}

static void test_foreign_file(void **state)
{
	(void)state;
	write_plain("block 192.0.2.1 never - x\n");
	cap_start();
	assert_int_equal(mx_state_restore(&H.m, path), -1);
	cap_stop();
	assert_logged("is not an mxlimit state file");
	assert_int_equal(h_map_entries(H.m.sanctions, sizeof(struct mx_sanction_key)), 0);
}

/* A gzip file cut short: what was read is kept, and it says so. */
static void test_truncated(void **state)
{
	char name[32];
	struct stat st;
	int i, rc;

	(void)state;
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "10.%d.%d.0/24", i / 250, i % 250);
		sanction(name, MX_KIND_BLOCK, 600, 0, "bulk");
	}
	assert_int_equal(mx_state_save(&H.m, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size / 2), 0);
	h_clear_map(H.m.sanctions, sizeof(struct mx_sanction_key));
	cap_start();
	rc = mx_state_restore(&H.m, path);
	cap_stop();
	assert_true(rc == -1 || (rc > 0 && rc < 200));
	assert_true(cap.warnings + cap.errors >= 1);
	assert_logged(path);
}

static void test_save_creates_dir(void **state)
{
	char deep[256];
	struct stat st;

	(void)state;
	snprintf(deep, sizeof(deep), "%s/a/b/state.gz", dir);
	assert_int_equal(mx_state_save(&H.m, deep), 0);
	assert_int_equal(stat(deep, &st), 0);
	cap_start();
	assert_int_equal(mx_state_save(&H.m, "/proc/mxlimit-no/state.gz"), -1);
	cap_stop();
	assert_true(cap.errors >= 1);
}

static int group_setup(void **state)
{
	(void)state;
	mx_log_set_level(MX_LOG_WARN);
	snprintf(dir, sizeof(dir), "/tmp/mxlimit-state-test-%d", getpid());
	snprintf(path, sizeof(path), "%s/state.gz", dir);
	if (mkdir(dir, 0700))
		return -1;
	return h_setup(0); /* maps only */
}

static int group_teardown(void **state)
{
	char cmd[256];

	(void)state;
	h_teardown();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static int reset_all(void **state)
{
	unlink(path);
	return h_reset(state);
}

#define T(f) cmocka_unit_test_setup(f, reset_all)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_missing_file),
		T(test_round_trip),
		T(test_format),
		T(test_clock_offset),
		T(test_expired_and_corrupt),
		T(test_foreign_file),
		T(test_truncated),
		T(test_save_creates_dir),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
