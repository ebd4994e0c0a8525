/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * redis_conf.h - the [redis] section of limit.ini: where the fleet's
 * shared store is (docs/cluster.md).  haraka's key names: host, port, db
 * (database too), socket, password; plus username (Redis 6 ACL), prefix
 * and timeout.  A section with a host or a socket turns sharing on; none
 * leaves every node on its own, as before.
 *
 * host must be an IP address: a name would make the event loop wait for
 * a resolver (hiredis resolves synchronously), so names are refused.
 */
#ifndef MX_REDIS_CONF_H
#define MX_REDIS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MX_REDIS_DEFAULT_PORT 6379
#define MX_REDIS_DEFAULT_PREFIX "mxl:"
/* Per command.  It bounds what a black-holed Redis adds to one SMTP
 * command (research B4: 50-100 ms keeps the proxy near full speed). */
#define MX_REDIS_DEFAULT_TIMEOUT_NS (100ULL * 1000000ULL)
#define MX_REDIS_MAX_TIMEOUT_NS (60ULL * 1000000000ULL)

struct mx_redis_conf {
	bool present;   /* [redis] appeared */
	bool enabled;   /* a host or a socket: sharing is on */
	char host[64];  /* IPv4 or IPv6 literal; "" = none */
	uint16_t port;
	uint32_t db;
	char socket[108]; /* unix socket path; "" = none (wins over host) */
	char username[128];
	char password[256];
	char prefix[64];
	uint64_t timeout_ns;
};

void mx_redis_conf_init(struct mx_redis_conf *c);
/* One key of [redis]; -1 after reporting FILE:LINE. */
int mx_redis_conf_set(struct mx_redis_conf *c, const char *file, int line, const char *key,
		      const char *value);
/* After the file: sets `enabled`. */
int mx_redis_conf_finish(struct mx_redis_conf *c);
bool mx_redis_conf_equal(const struct mx_redis_conf *a, const struct mx_redis_conf *b);
/* "127.0.0.1:6379" or "unix:/run/redis.sock", for messages. */
const char *mx_redis_conf_where(const struct mx_redis_conf *c, char *buf, size_t len);

#endif
