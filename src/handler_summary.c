/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * POST /summary: result rows grouped by the requested columns, with the
 * number of each test result per group, counted by PostgreSQL.
 */
#include "config.h"

#include "handlers.h"
#include "query_request.h"

static void
handler_summary_post(struct request *r)
{
	query_request_run(r, QK_SUMMARY, NULL, NULL);
}

const struct route route_summary = {
	.path = "/summary",
	.methods = ROUTE_POST,
	.public_methods = 0,
	.post = handler_summary_post,
};
