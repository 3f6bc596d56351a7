/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Query statements and their failures.  In a pipeline the first failing
 * statement aborts the rest, so a batch that starts with one check per
 * timestamp or interval value tells, by the index of its failure, which
 * search key PostgreSQL refused.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "query_exec.h"
#include "strbuf.h"

int
query_exec_add_checks(struct db_batch *b, const struct query_spec *q)
{
	int i, n = 0;

	for (i = 0; i < q->nparams; i++) {
		const struct query_param *p = &q->params[i];

		if (p->check_sql == NULL)
			continue;
		db_batch_add(
		    b, p->check_sql, 1, (const char *const *)&p->value, NULL);
		n++;
	}
	return n;
}

const char **
query_exec_values(const struct query_spec *q)
{
	const char **v = xcalloc(q->nparams + 1, sizeof *v);
	int i;

	for (i = 0; i < q->nparams; i++)
		v[i] = q->params[i].value;
	return v;
}

/* The parameter of the check at index k of the batch. */
static const struct query_param *
query_exec_check_param(const struct query_spec *q, int k)
{
	int i;

	for (i = 0; i < q->nparams; i++) {
		if (q->params[i].check_sql != NULL && k-- == 0)
			return &q->params[i];
	}
	return NULL;
}

void
query_exec_reply_failure(struct request *r, const struct query_spec *q,
    int nchecks, const struct db_result *res)
{
	const struct query_param *p = NULL;
	const char *why = res->error ? res->error : "unknown error";

	if (!res->conn_lost && res->failed < nchecks)
		p = query_exec_check_param(q, res->failed);
	request_db_release(r);
	if (p != NULL) {
		reply_error(r, 200, -1, "Search value of '%s' is not %s: %s",
		    p->key, p->check, why);
		return;
	}

	/*
	 * Class 22, data exception: a value the query could not use; class
	 * 54, program limit: a search too complex (a huge LIKE pattern).
	 */
	if (!res->conn_lost && res->sqlstate != NULL &&
	    (strncmp(res->sqlstate, "22", 2) == 0 ||
		strncmp(res->sqlstate, "54", 2) == 0)) {
		reply_error(r, 200, -1,
		    "A value in 'search' was refused by PostgreSQL: %s", why);
		return;
	}
	log_error("req=%llu query failed: %s", (unsigned long long)r->id, why);
	request_reply_db_failed(r, "to run the query", why);
}

/* What query_exec_run needs back in its callback. */
struct query_exec_call {
	struct request *r;
	const struct query_spec *q;
	int nchecks;
	query_result_cb cb;
};

static void
query_exec_done_cb(const struct db_result *res, void *arg)
{
	struct query_exec_call *call = arg;

	call->r->held = NULL;
	if (res->failed >= 0)
		query_exec_reply_failure(call->r, call->q, call->nchecks, res);
	else
		call->cb(call->r, res->results[res->count - 1]);
	free(call);
}

struct query_exec_call *
query_exec_run(struct request *r, const struct query_spec *q, const char *sql,
    query_result_cb cb)
{
	struct query_exec_call *call = xcalloc(1, sizeof *call);
	struct db_batch *b = db_batch_new();
	const char **values = query_exec_values(q);

	call->r = r;
	call->q = q;
	call->cb = cb;
	call->nchecks = query_exec_add_checks(b, q);
	db_batch_add(b, sql, q->nparams, values, NULL);
	db_conn_run(r->conn, b, query_exec_done_cb, call);
	free(values);
	r->held = call;
	r->held_free = free;
	return call;
}

void
query_exec_abandon(struct query_exec_call *call)
{
	struct request *r = call->r;

	db_conn_abandon(r->conn);
	r->conn = NULL;
	r->held = NULL;
	free(call);
}
