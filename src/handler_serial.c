/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * POST /serial: hands out the next value of the client_serial sequence,
 * which clients put into every result of one run.
 */
#include "config.h"

#include <stdlib.h>

#include "handlers.h"
#include "http_server.h"
#include "log.h"

static void
handler_serial_done_cb(const struct db_result *res, void *arg)
{
	struct request *r = arg;
	yajl_gen g;

	if (res->failed >= 0 || PQntuples(res->results[0]) != 1) {
		const char *why = res->error ? res->error : "no row";

		/* At ERROR, as a failed query or submission is (a missing
		 * GRANT on client_serial was logged at INFO, by the pool). */
		log_error("req=%llu serial failed: %s",
		    (unsigned long long)r->id, why);
		request_db_release(r);
		request_reply_db_failed(r, "to give a serial", why);
		return;
	}
	g = request_json_new();
	yajl_gen_map_open(g);
	request_json_status(g, 0, "Success");
	request_json_kint(g, "client_serial",
	    strtoll(PQgetvalue(res->results[0], 0, 0), NULL, 10));
	yajl_gen_map_close(g);
	request_db_release(r);
	request_reply_json(r, 200, g);
}

static void
handler_serial_acquired(struct request *r, enum db_acquire_status st)
{
	struct db_batch *b;

	if (st != DB_ACQUIRE_OK) {
		request_reply_db_unavailable(r, st);
		return;
	}
	b = db_batch_new();
	db_batch_add(b, "SELECT nextval('client_serial')", 0, NULL, NULL);
	db_conn_run(r->conn, b, handler_serial_done_cb, r);
}

static void
handler_serial_post(struct request *r)
{
	request_db_acquire(r, handler_serial_acquired);
}

const struct route route_serial = {
	.path = "/serial",
	.methods = ROUTE_POST,
	.public_methods = 0,
	.post = handler_serial_post,
};
