/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * GET /status: a health check for load balancers and operators, built
 * from state the process already has; it sends no query.
 */
#include "config.h"

#include <time.h>

#include "handlers.h"
#include "http_server.h"

/*
 * With [pg_v3] read_server, the replica's pool too: queries need it as
 * submissions need the primary, and a promoted replica serves answers
 * that no longer grow.  read_standby is left out until the server says,
 * and while it is down.
 */
static void
handler_status_replica(yajl_gen g, const struct db_pool *read_pool)
{
	int standby = db_pool_standby(read_pool);
	bool up = db_pool_is_up(read_pool);

	request_json_kv(g, "read_database", up ? "up" : "down");
	/* What a server that is down said of itself is not news. */
	if (up && standby >= 0) {
		yajl_gen_string(g, (const unsigned char *)"read_standby", 12);
		yajl_gen_bool(g, standby);
	}
}

static void
handler_status_get(struct request *r)
{
	struct http_server *s = r->server;
	yajl_gen g = request_json_new();
	bool up = db_pool_is_up(s->pool);
	int read_only = db_pool_read_only(s->pool);

	yajl_gen_map_open(g);
	request_json_status(g, 0, "Success");
	request_json_kv(g, "version", PACKAGE_VERSION);
	request_json_kint(g, "uptime_s", (long long)(time(NULL) - s->started));
	request_json_kv(g, "database", up ? "up" : "down");
	/* Known from what the sessions said (PostgreSQL 14 and later). */
	if (up && read_only >= 0) {
		yajl_gen_string(
		    g, (const unsigned char *)"database_read_only", 18);
		yajl_gen_bool(g, read_only);
	}
	if (s->read_pool != s->pool)
		handler_status_replica(g, s->read_pool);
	yajl_gen_map_close(g);
	request_reply_json(r, 200, g);
}

const struct route route_status = {
	.path = "/status",
	.methods = ROUTE_GET,
	.public_methods = ROUTE_GET,
	.get = handler_status_get,
};
