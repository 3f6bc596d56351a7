/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One query request from body to answer.  The checked query and its SQL
 * live in the request's state until the request is finished.
 */
#include "config.h"

#include <stdlib.h>

#include "log.h"
#include "query_request.h"
#include "query_sql.h"
#include "query_stream.h"
#include "strbuf.h"

struct query_request {
	struct query_spec spec;
	char *sql;
	query_result_cb answer_cb;
};

static void
query_request_free(void *arg)
{
	struct query_request *qr = arg;

	query_spec_free(&qr->spec);
	free(qr->sql);
	free(qr);
}

const struct query_spec *
query_request_spec(const struct request *r)
{
	return &((const struct query_request *)r->state)->spec;
}

/* count_only: {"query_data": {"count": N}}. */
static void
query_request_count_cb(struct request *r, const PGresult *res)
{
	yajl_gen g = request_json_new();

	yajl_gen_map_open(g);
	request_json_status(g, 0, "Success");
	yajl_gen_string(g, (const unsigned char *)"query_data", 10);
	yajl_gen_map_open(g);
	request_json_kint(g, "count", strtoll(PQgetvalue(res, 0, 0), NULL, 10));
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	request_reply_json(r, 200, g);
}

/* The columns of streamed rows: the fields, then a summary's counters. */
static void
query_request_stream(struct request *r, struct query_request *qr)
{
	const struct query_spec *q = &qr->spec;
	size_t i, n = q->ncolumns;
	struct query_stream_column *cols = xcalloc(
	    n + QUERY_SUMMARY_COUNTERS, sizeof *cols);

	for (i = 0; i < q->ncolumns; i++) {
		cols[i].name = q->columns[i]->name;
		cols[i].type = q->columns[i]->type;
	}
	for (i = 0; q->kind == QK_SUMMARY && i < QUERY_SUMMARY_COUNTERS; i++) {
		cols[n].name = query_summary_counters[i];
		cols[n++].type = QT_INT;
	}
	query_stream_start(r, q, qr->sql, cols, n);
	free(cols);
}

static void
query_request_acquired(struct request *r, enum db_acquire_status st)
{
	struct query_request *qr = r->state;
	enum query_kind kind = qr->spec.kind;

	if (st != DB_ACQUIRE_OK) {
		request_reply_db_unavailable(r, st);
		return;
	}
	if (qr->spec.count_only)
		query_exec_run(r, &qr->spec, qr->sql, query_request_count_cb);
	else if (kind == QK_DETAIL || kind == QK_SUMMARY)
		query_request_stream(r, qr);
	else
		query_exec_run(r, &qr->spec, qr->sql, qr->answer_cb);
}

void
query_request_run(
    struct request *r, enum query_kind kind, query_result_cb answer_cb)
{
	struct query_request *qr = xcalloc(1, sizeof *qr);
	char *cause = NULL;

	r->state = qr;
	r->state_free = query_request_free;
	qr->answer_cb = answer_cb;
	if (!query_spec_parse(&qr->spec, kind, r->body, &cause)) {
		reply_error(r, 200, -1, "%s", cause);
		free(cause);
		return;
	}
	qr->sql = query_sql_build(&qr->spec);
	log_debug("req=%llu query: %s", (unsigned long long)r->id, qr->sql);
	request_db_acquire(r, query_request_acquired);
}
