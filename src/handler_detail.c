/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * POST /detail: result rows of one phase, the requested columns of each,
 * streamed.
 */
#include "config.h"

#include "handlers.h"
#include "query_request.h"

static void
handler_detail_post(struct request *r)
{
	query_request_run(r, QK_DETAIL, NULL, NULL);
}

const struct route route_detail = {
	.path = "/detail",
	.methods = ROUTE_POST,
	.public_methods = 0,
	.post = handler_detail_post,
};
