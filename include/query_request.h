/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The life of one query request, shared by the query handlers: check the
 * body, build the SQL, borrow a connection, then stream the rows or
 * answer one result.
 */
#ifndef MTTD_QUERY_REQUEST_H
#define MTTD_QUERY_REQUEST_H

#include "query_exec.h"
#include "query_spec.h"
#include "request.h"

/*
 * Start streaming the rows of a kind that writes them its own way:
 * query_stream_start with the kind's writer.
 */
typedef void (*query_stream_answer_cb)(
    struct request *r, const struct query_spec *q, const char *sql);

/*
 * Answer r (a POST with its body parsed) as a query of kind.  Rows of
 * /detail and /summary are streamed and count_only answers the count;
 * of the /info kinds, answer_cb writes a one-result answer, or
 * stream_cb streams one whose rows may be many and long.  Takes r.
 */
void query_request_run(struct request *r, enum query_kind kind,
    query_result_cb answer_cb, query_stream_answer_cb stream_cb);

/* The checked query of r, for answer_cb. */
const struct query_spec *query_request_spec(const struct request *r);

#endif /* MTTD_QUERY_REQUEST_H */
