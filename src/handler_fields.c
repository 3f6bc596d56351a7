/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * POST /fields: the field catalogue, display name to description, as the
 * reference answered it.
 */
#include "config.h"

#include "handlers.h"
#include "query_fields.h"

static void
handler_fields_post(struct request *r)
{
	yajl_gen g = request_json_new();
	const struct query_field *fields;
	size_t i, n;

	fields = query_fields_all(&n);
	yajl_gen_map_open(g);
	request_json_status(g, 0, "Success");
	yajl_gen_string(g, (const unsigned char *)"query_data", 10);
	yajl_gen_map_open(g);
	yajl_gen_string(g, (const unsigned char *)"fields", 6);
	yajl_gen_map_open(g);
	for (i = 0; i < n; i++)
		request_json_kv(g, fields[i].name, fields[i].description);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	request_reply_json(r, 200, g);
}

const struct route route_fields = {
	.path = "/fields",
	.methods = ROUTE_POST,
	.public_methods = 0,
	.post = handler_fields_post,
};
