/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One query request from body to answer.  The checked query and its SQL
 * live in the request's state until the request is finished.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "http_conn.h"
#include "http_server.h"
#include "log.h"
#include "query_request.h"
#include "query_sql.h"
#include "query_stream.h"
#include "strbuf.h"

/*
 * A summary of up to this many groups is answered from one statement,
 * which PostgreSQL may run in parallel (it never runs a cursor in
 * parallel); a larger one is run again through the streaming cursor.
 */
#define QUERY_REQUEST_SUMMARY_ROWS 10000

static void query_request_wait(struct request *r, enum request_db_use use);

struct query_request {
	struct query_spec spec;
	char *sql;
	char *capped_sql; /* The summary with the cap above, or NULL. */
	query_result_cb answer_cb;
	query_stream_answer_cb stream_cb;
	/* The statement in flight (not a stream's), while its client's
	 * close is watched, and what answers it. */
	struct query_exec_call *exec;
	query_result_cb exec_cb;
	const char *left; /* When the client left, for the log. */
};

static void
query_request_free(void *arg)
{
	struct query_request *qr = arg;

	query_spec_free(&qr->spec);
	free(qr->sql);
	free(qr->capped_sql);
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

/* The columns of the rows: the fields, then a summary's counters;
 * returns how many (the caller frees *cols). */
static size_t
query_request_columns(
    const struct query_spec *q, struct query_stream_column **cols)
{
	size_t i, n = q->ncolumns;

	*cols = xcalloc(n + QUERY_SUMMARY_COUNTERS, sizeof **cols);
	for (i = 0; i < q->ncolumns; i++) {
		(*cols)[i].name = q->columns[i]->name;
		(*cols)[i].name_len = strlen(q->columns[i]->name);
		(*cols)[i].type = q->columns[i]->type;
		(*cols)[i].long_text = q->columns[i]->long_text;
	}
	for (i = 0; q->kind == QK_SUMMARY && i < QUERY_SUMMARY_COUNTERS; i++) {
		(*cols)[n].name = query_summary_counters[i];
		(*cols)[n].name_len = strlen(query_summary_counters[i]);
		(*cols)[n++].type = QT_INT;
	}
	return n;
}

static void
query_request_stream(struct request *r, struct query_request *qr)
{
	struct query_stream_column *cols;
	size_t n;

	if (qr->stream_cb != NULL) {
		qr->stream_cb(r, &qr->spec, qr->sql);
		return;
	}
	n = query_request_columns(&qr->spec, &cols);
	query_stream_start(r, &qr->spec, qr->sql, cols, n, NULL);
	free(cols);
}

static void query_request_acquired(
    struct request *r, enum db_acquire_status st);

/* The capped summary: answered at once, or streamed when it is large. */
static void
query_request_summary_cb(struct request *r, const PGresult *res)
{
	struct query_request *qr = r->state;
	struct query_stream_column *cols;
	size_t n;
	yajl_gen g;
	int i;

	/*
	 * Too large: run again as a stream, on the connection it holds when
	 * the streams' share has room (break-it helper 52: it always waited
	 * a second time, and could lose its turn to requests queued
	 * meanwhile), else within the share once a stream ends.
	 */
	if (PQntuples(res) > QUERY_REQUEST_SUMMARY_ROWS) {
		free(qr->capped_sql);
		qr->capped_sql = NULL;
		if (request_db_hold_stream(r)) {
			query_request_stream(r, qr);
			return;
		}
		request_db_release(r);
		query_request_wait(r, REQUEST_DB_STREAM);
		return;
	}
	n = query_request_columns(&qr->spec, &cols);
	g = request_json_new();
	yajl_gen_map_open(g);
	request_json_status(g, 0, "Success");
	yajl_gen_string(g, (const unsigned char *)"query_data", 10);
	yajl_gen_array_open(g);
	for (i = 0; i < PQntuples(res); i++)
		query_stream_write_row(g, res, i, cols, n);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	free(cols);
	request_reply_json(r, 200, g);
}

/* Long texts as group columns could make a capped answer huge. */
static bool
query_request_summary_small(const struct query_spec *q)
{
	size_t i;

	for (i = 0; i < q->ncolumns; i++) {
		if (q->columns[i]->long_text)
			return false;
	}
	return q->kind == QK_SUMMARY;
}

/* Whether r's rows are streamed (a capped summary may be, later). */
static bool
query_request_streams(const struct query_request *qr)
{
	enum query_kind kind = qr->spec.kind;

	return kind == QK_DETAIL || kind == QK_SUMMARY || qr->stream_cb != NULL;
}

/*
 * Every query counts among the queries, which leave a connection to
 * submissions, since a count or a capped summary may run as long as a
 * stream (break-it helper 52: six summaries of millions of groups kept
 * submissions waiting seconds); a streamed answer counts in the
 * streams' share too, which leaves connections to the queries answered
 * at once (helper 53: two stalled exports blocked every count).
 */
static enum request_db_use
query_request_use(const struct query_request *qr)
{
	if (qr->spec.count_only || qr->capped_sql != NULL)
		return REQUEST_DB_QUERY;
	return query_request_streams(qr) ? REQUEST_DB_STREAM : REQUEST_DB_QUERY;
}

/* The client left (query_request_closed_cb): r ends, from the loop. */
static void
query_request_gone_cb(evutil_socket_t fd, short what, void *arg)
{
	struct request *r = arg;
	struct query_request *qr = r->state;

	(void)fd;
	(void)what;
	log_info("req=%llu client went away %s", (unsigned long long)r->id,
	    qr->left);
	request_stream_gone(r);
}

/*
 * The client left before its answer began: a query still waiting for a
 * connection never runs (the wait ends now, not when a connection comes
 * free or db_wait_timeout passes); a statement still running (a grouping
 * of millions of rows may take minutes) is given up.
 */
static void
query_request_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct request *r = arg;
	struct query_request *qr = r->state;
	struct timeval now = { 0, 0 };

	(void)evcon;
	if (qr->exec != NULL) {
		query_exec_abandon(qr->exec);
		qr->exec = NULL;
		qr->left = "while the query ran; query ended";
	} else {
		request_db_cancel(r);
		qr->left = "before the query ran";
	}
	event_base_once(
	    r->server->base, -1, EV_TIMEOUT, query_request_gone_cb, r, &now);
}

/* Call cb if r's connection closes (NULL: no longer). */
static void
query_request_watch(struct request *r, http_conn_close_cb cb)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);

	if (evcon != NULL)
		http_conns_on_close(r->server->conns, evcon, cb, r);
}

/* The statement ended: its call is gone, and so is the hook that would
 * give it up; then the answer (which may wait for a connection again). */
static void
query_request_exec_done(struct request *r, const PGresult *res)
{
	struct query_request *qr = r->state;

	qr->exec = NULL;
	query_request_watch(r, NULL);
	qr->exec_cb(r, res);
}

/*
 * Run a statement whose answer is made whole, watching for the client's
 * close until it ends.  (A statement that fails is answered by
 * query_exec, whose reply replaces the hook with the server's own.)
 */
static void
query_request_exec(struct request *r, const char *sql, query_result_cb cb)
{
	struct query_request *qr = r->state;

	qr->exec_cb = cb;
	qr->exec = query_exec_run(r, &qr->spec, sql, query_request_exec_done);
	query_request_watch(r, query_request_closed_cb);
}

/* Wait for a connection, watching for the client's close meanwhile. */
static void
query_request_wait(struct request *r, enum request_db_use use)
{
	query_request_watch(r, query_request_closed_cb);
	request_db_acquire_for(r, use, query_request_acquired);
}

static void
query_request_acquired(struct request *r, enum db_acquire_status st)
{
	struct query_request *qr = r->state;

	query_request_watch(r, NULL);

	if (st != DB_ACQUIRE_OK) {
		request_reply_db_unavailable(r, st);
		return;
	}

	/* Nobody would read it: do not run it. */
	if (request_client_gone(r)) {
		log_info("req=%llu client went away before the query ran",
		    (unsigned long long)r->id);
		r->http_code = 499;
		request_stream_gone(r);
		return;
	}
	if (qr->spec.count_only)
		query_request_exec(r, qr->sql, query_request_count_cb);
	else if (qr->capped_sql != NULL)
		query_request_exec(r, qr->capped_sql, query_request_summary_cb);
	else if (query_request_streams(qr))
		query_request_stream(r, qr);
	else
		query_request_exec(r, qr->sql, qr->answer_cb);
}

void
query_request_run(struct request *r, enum query_kind kind,
    query_result_cb answer_cb, query_stream_answer_cb stream_cb)
{
	struct query_request *qr = xcalloc(1, sizeof *qr);
	char *cause = NULL;

	r->state = qr;
	r->state_free = query_request_free;
	qr->answer_cb = answer_cb;
	qr->stream_cb = stream_cb;
	if (!query_spec_parse(&qr->spec, kind, r->body, &cause)) {
		reply_error(r, 200, -1, "%s", cause);
		free(cause);
		return;
	}
	qr->sql = query_sql_build(&qr->spec);
	if (!qr->spec.count_only && query_request_summary_small(&qr->spec))
		qr->capped_sql = xasprintf("SELECT * FROM (%s) q LIMIT %d",
		    qr->sql, QUERY_REQUEST_SUMMARY_ROWS + 1);
	log_debug("req=%llu query: %s", (unsigned long long)r->id, qr->sql);

	/* A query may wait, and then run, long: a client that leaves
	 * meanwhile is seen, and nothing runs (or goes on running) for it. */
	http_conns_watch_close(
	    r->server->conns, evhttp_request_get_connection(r->req));
	query_request_wait(r, query_request_use(qr));
}
