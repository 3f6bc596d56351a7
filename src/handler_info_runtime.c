/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * POST /info/runtime: how long the matching results took, in seconds,
 * and when they ran: what a scheduler needs to budget the next night.
 */
#include "config.h"

#include <string.h>

#include "handlers.h"
#include "query_request.h"
#include "query_value.h"

/* The answer's keys, in the order of the query's columns. */
static const char *const handler_runtime_keys[] = { "count", "duration_min",
	"duration_avg", "duration_median", "duration_p90", "duration_max",
	"first_start_timestamp", "last_start_timestamp" };

static void
handler_info_runtime_answer_cb(struct request *r, const PGresult *res)
{
	yajl_gen g = request_json_new();
	size_t i;

	yajl_gen_map_open(g);
	request_json_status(g, 0, "Success");
	yajl_gen_string(g, (const unsigned char *)"query_data", 10);
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	for (i = 0; i < 8; i++) {
		const char *key = handler_runtime_keys[i];
		bool null = PQgetisnull(res, 0, (int)i);

		yajl_gen_string(g, (const unsigned char *)key, strlen(key));
		query_value_write(g, i < 6 ? QT_INT : QT_TIMESTAMP,
		    null ? NULL : PQgetvalue(res, 0, (int)i),
		    (size_t)PQgetlength(res, 0, (int)i));
	}
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	request_reply_json(r, 200, g);
}

static void
handler_info_runtime_post(struct request *r)
{
	query_request_run(r, QK_RUNTIME, handler_info_runtime_answer_cb, NULL);
}

const struct route route_info_runtime = {
	.path = "/info/runtime",
	.methods = ROUTE_POST,
	.public_methods = 0,
	.post = handler_info_runtime_post,
};
