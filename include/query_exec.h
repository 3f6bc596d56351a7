/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Running a checked query: the statements that let PostgreSQL judge
 * timestamp and interval search values first, the answers to a query
 * that failed, and the one-result queries (count_only, /info).
 */
#ifndef MTTD_QUERY_EXEC_H
#define MTTD_QUERY_EXEC_H

#include "db_pool.h"
#include "query_spec.h"
#include "request.h"

/* Add q's value checks to b; returns how many were added. */
int query_exec_add_checks(struct db_batch *b, const struct query_spec *q);

/* The $n values of q, in order, for db_batch_add. */
const char **query_exec_values(const struct query_spec *q);

/*
 * Answer a batch that failed before anything was sent: a check (the
 * first nchecks statements) or a data error names the search value
 * (HTTP 200, status -1); anything else is the database's fault (503).
 * Releases r's connection.
 */
void query_exec_reply_failure(struct request *r, const struct query_spec *q,
    int nchecks, const struct db_result *res);

/* Called with the one result of a query run by query_exec_run. */
typedef void (*query_result_cb)(struct request *r, const PGresult *res);

/* A query_exec_run in flight. */
struct query_exec_call;

/*
 * Run the one statement sql of q on r's connection after its checks;
 * on success cb answers (finishing r gives the connection back), on
 * failure query_exec_reply_failure does.  q must stay valid until then.
 * Returns a handle for query_exec_abandon, valid until the answer.
 */
struct query_exec_call *query_exec_run(struct request *r,
    const struct query_spec *q, const char *sql, query_result_cb cb);

/*
 * Nobody wants the answer any more (the client left): no callback runs,
 * r no longer holds its connection, which goes back once the statement
 * ends or is cut (db_conn_abandon); call is freed.  r is the caller's
 * to finish.
 */
void query_exec_abandon(struct query_exec_call *call);

#endif /* MTTD_QUERY_EXEC_H */
