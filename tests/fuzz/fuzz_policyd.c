// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_policyd.c - libFuzzer target for mxlimit-policyd's side of the
 * Postfix policy protocol: the request reader (pd_request.h), the derived
 * sessions (pd_session.h, a table of 4 so eviction runs constantly) and
 * the decisions (pd_decide.h) on a policy with every SMTP section on.
 *
 * Properties: the reader never keeps a value longer than its field, a
 * line over PD_LINE_MAX or a request over PD_REQUEST_MAX is refused, every
 * answer is one of the three actions, a recipient limit is never answered
 * for a request that is not a RCPT with a usable client address, and the
 * session table never holds more than its size.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pd_decide.h"
#include "pd_request.h"
#include "pd_session.h"

static const char policy[] =
	"[recipients]\nenabled = true\nmax = 3\n198.18.0.0/24 = 1\n"
	"[rate_rcpt_host]\nenabled = true\ndefault = 4/1m\nexample.test = 2/1m\n"
	"[rate_rcpt_sender]\nenabled = true\ndefault = 3/1m\n"
	"[rate_rcpt]\nenabled = true\ndefault = 5/1m\n"
	"[rate_rcpt_null]\nenabled = true\ndefault = 2/1m\n"
	"[penalty]\nrecipients = block 10m\nrate_rcpt_sender = penalize 5m limit=1\n";

static struct mx_policy pol;
static struct mx_rate_store *store;
static struct pd_sessions *sessions;
static struct pd_stats stats;
static uint64_t now = 1000000000ULL;

static void on_verdict(void *arg, const char *line)
{
	(void)arg;
	if (!line[0] || strchr(line, '\n'))
		abort();
}

static void quiet(void *ctx, enum mx_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	(void)line;
}

static void setup(void)
{
	if (store)
		return;
	mx_log_set_sink(quiet, NULL);
	if (mx_policy_load_buf("fuzz.ini", policy, sizeof(policy) - 1, &pol) < 0)
		abort();
	store = mx_rate_store_mem_new(64);
	sessions = pd_sessions_new(4);
	if (!store || !sessions)
		abort();
}

static void check_request(const struct pd_request *r)
{
	if (strlen(r->client_address) >= sizeof(r->client_address) ||
	    strlen(r->sender) >= sizeof(r->sender) || strlen(r->recipient) >= sizeof(r->recipient) ||
	    strlen(r->client_name) >= sizeof(r->client_name) ||
	    strlen(r->instance) >= sizeof(r->instance) || r->bytes > PD_REQUEST_MAX)
		abort();
}

static void judge(const struct pd_request *r)
{
	struct pd_ctx c = {
		.pol = &pol, .store = store, .sessions = sessions, .stats = &stats,
		.verdict = on_verdict,
	};
	mx_prefix a;
	const char *act;

	check_request(r);
	act = pd_decide(&c, r, now);
	if (strcmp(act, PD_ACTION_DUNNO) && strcmp(act, PD_ACTION_RCPT_MAX) &&
	    strcmp(act, PD_ACTION_RATE))
		abort();
	if (strcmp(act, PD_ACTION_DUNNO) &&
	    (strcmp(r->request, "smtpd_access_policy") || strcmp(r->protocol_state, "RCPT") ||
	     mx_addr_parse(r->client_address, &a) < 0 || !r->have_recipient))
		abort();
	if (pd_sessions_count(sessions) > 4)
		abort();
	now += 1000000ULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pd_request r;
	size_t start = 0;

	setup();
	pd_request_reset(&r);
	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		size_t len = i - start;

		switch (pd_request_feed(&r, (const char *)data + start, len)) {
		case PD_FEED_MORE:
			if (len > PD_LINE_MAX)
				abort();
			break;
		case PD_FEED_END:
			judge(&r);
			pd_request_reset(&r);
			break;
		case PD_FEED_TOO_LONG:
			if (len <= PD_LINE_MAX && r.bytes <= PD_REQUEST_MAX)
				abort();
			pd_request_reset(&r);
			break;
		}
		start = i + 1;
	}
	return 0;
}
