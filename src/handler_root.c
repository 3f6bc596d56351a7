/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * GET /: the reference's health answer, word for word.
 */
#include "config.h"

#include "handlers.h"

static void
handler_root_get(struct request *r)
{
	request_reply_ok(r, "Success");
}

const struct route route_root = {
	.path = "/",
	.methods = ROUTE_GET,
	.public_methods = ROUTE_GET,
	.get = handler_root_get,
};
