/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_smtp_diff.c - the proxy's command parser against the model of
 * Postfix's smtpd tokenizer (tests/fuzz/smtp_diff.h): the model itself on
 * facts checked against a real smtpd, the spellings of the bypass that
 * issue 17 reported, and every line of the committed corpus
 * tests/fuzz/corpus/smtp_diff/ (run from the source tree's root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/smtp_diff.h"

#define S(x) x, strlen(x)

static enum pm_class model(const char *line, char *addr, size_t alen)
{
	struct pm_result r;

	assert_true(pm_read(S(line), &r));
	if (addr)
		snprintf(addr, alen, "%s", r.addr);
	return r.cls;
}

/* What Postfix 3.7 smtpd did with these (tests/proxy/test_differential.sh
 * replays them against the real one). */
static void test_model(void **st)
{
	char a[PM_TOKEN_MAX];

	(void)st;
	assert_int_equal(model("RCPT TO:<a@b>", a, sizeof(a)), PM_RCPT);
	assert_string_equal(a, "a@b");
	assert_int_equal(model("RCPT  TO:<a@b>", a, sizeof(a)), PM_RCPT);
	assert_int_equal(model("RCPT\tTO:<a@b>", a, sizeof(a)), PM_RCPT);
	assert_int_equal(model("RCPT\vTO:<a@b>", a, sizeof(a)), PM_RCPT);
	assert_int_equal(model("  rcpt to: <a@b> ", a, sizeof(a)), PM_RCPT);
	assert_int_equal(model("RCPT TO:a@b", a, sizeof(a)), PM_RCPT);
	assert_string_equal(a, "a@b");
	assert_int_equal(model("RCPT TO :<a@b>", NULL, 0), PM_BAD);
	assert_int_equal(model("RCPT TO:", NULL, 0), PM_BAD);
	assert_int_equal(model("MAIL\tFROM:<>", a, sizeof(a)), PM_MAIL);
	assert_string_equal(a, "");
	assert_int_equal(model("MAIL FROM:<\"a b\"@c> SIZE=1", a, sizeof(a)), PM_MAIL);
	assert_string_equal(a, "\"a b\"@c");
	assert_int_equal(model("DATA\t", NULL, 0), PM_DATA);
	assert_int_equal(model("DATA x", NULL, 0), PM_BAD);
	assert_int_equal(model("BDAT 10 last", NULL, 0), PM_BDAT);
	assert_int_equal(model("BDAT 10 x", NULL, 0), PM_BAD);
	assert_int_equal(model("STARTTLS\t", NULL, 0), PM_STARTTLS);
	assert_int_equal(model("NOOP", NULL, 0), PM_OTHER);
	/* a NUL ends the line for smtpd */
	{
		struct pm_result r;

		assert_true(pm_read("DATA\0junk", 9, &r));
		assert_int_equal(r.cls, PM_DATA);
	}
}

/* The spellings that passed the proxy uncounted before: each now parses as
 * the command Postfix reads, with the address it reads. */
static void test_bypass_spellings(void **st)
{
	static const struct {
		const char *line;
		enum mx_smtp_verb verb;
	} cases[] = {
		{ "RCPT  TO:<a@example.test>", MX_SMTP_RCPT },
		{ "RCPT\tTO:<a@example.test>", MX_SMTP_RCPT },
		{ "MAIL\tFROM:<s@example.test>", MX_SMTP_MAIL },
		{ "MAIL  FROM:<s@example.test>", MX_SMTP_MAIL },
		{ "DATA\t", MX_SMTP_DATA },
		{ " DATA", MX_SMTP_DATA },
		{ "BDAT\t5 LAST", MX_SMTP_BDAT },
	};
	char why[512];

	(void)st;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mx_smtp_cmd c;

		assert_int_equal(mx_smtp_parse(S(cases[i].line), &c), MX_SMTP_OK);
		assert_int_equal(c.verb, cases[i].verb);
		if (smtp_diff_check(S(cases[i].line), why, sizeof(why)))
			fail_msg("\"%s\": %s", cases[i].line, why);
	}
}

/* Every line of every corpus file agrees. */
static void test_corpus(void **st)
{
	const char *dir = "tests/fuzz/corpus/smtp_diff";
	DIR *d = opendir(dir);
	struct dirent *e;
	int lines = 0;
	char why[1024];

	(void)st;
	if (!d)
		fail_msg("%s: not found (run from the source tree's root)", dir);
	while ((e = readdir(d))) {
		char path[512], *buf;
		FILE *f;
		long n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		buf = malloc((size_t)n + 1);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		for (long i = 0, start = 0; i <= n; i++) {
			if (i == n || buf[i] == '\n') {
				long end = i;

				if (end > start && buf[end - 1] == '\r')
					end--;
				if (smtp_diff_check(buf + start, (size_t)(end - start), why, sizeof(why)))
					fail_msg("%s line %d: %s", path, lines + 1, why);
				lines++;
				start = i + 1;
			}
		}
		free(buf);
	}
	closedir(d);
	assert_true(lines >= 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_bypass_spellings),
		cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
