/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The streamed answer of /detail and /summary.  One transaction holds a
 * server-side cursor; each FETCH's rows become one chunk of the reply.
 * One batch is fetched ahead while the previous chunk leaves, and never
 * more: a batch that arrives before the chunk has left waits, so a slow
 * reader holds mttd at two batches, not at the whole answer.  A client
 * that leaves ends the stream at once: its connection goes back with the
 * FETCH in flight abandoned (libpq 15 cannot cancel a statement without
 * blocking), to end in the ROLLBACK that ends the cursor, or, still
 * running a second later (a sort before the first row), to be closed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http_conn.h"
#include "http_server.h"
#include "log.h"
#include "query_exec.h"
#include "query_stream.h"
#include "query_value.h"
#include "strbuf.h"

/* Rows of the first FETCH: small, so the first bytes leave soon; fewer
 * when a column may hold megabytes (captured output). */
#define QUERY_STREAM_FIRST_ROWS 256
#define QUERY_STREAM_FIRST_LONG_ROWS 4
/* Bounds of later FETCHes, sized to about QUERY_STREAM_CHUNK bytes. */
#define QUERY_STREAM_MIN_ROWS 1
#define QUERY_STREAM_MAX_ROWS 20000
#define QUERY_STREAM_CHUNK (1024 * 1024)

struct query_stream {
	struct request *r;
	const struct query_spec *q;
	struct evhttp_connection *evcon; /* While its close callback is ours. */
	yajl_gen gen;
	struct evbuffer *out; /* The chunk being written. */
	struct query_stream_column *columns;
	size_t ncolumns;
	PGresult *held; /* A batch waiting for the last chunk to leave. */
	int fetch_rows; /* What the FETCH in flight asked for. */
	size_t rows;	/* Rows written so far. */
	int nchecks;	/* Value checks at the head of the first batch. */
	bool fetching;	/* A FETCH is in flight. */
	bool writing;	/* The last chunk has not left yet. */
};

static void query_stream_fetch(struct query_stream *s);
static void query_stream_rows(struct query_stream *s, const PGresult *res);

/*
 * Move what the generator wrote into the chunk.  yajl appends to its own
 * buffer cheaply; one copy per batch beats one evbuffer call per token.
 */
static void
query_stream_take_json(struct query_stream *s)
{
	const unsigned char *buf;
	size_t len;

	yajl_gen_get_buf(s->gen, &buf, &len);
	evbuffer_add(s->out, buf, len);
	yajl_gen_clear(s->gen);
}

static void
query_stream_free(struct query_stream *s)
{
	if (s->held != NULL)
		PQclear(s->held);
	if (s->gen != NULL)
		yajl_gen_free(s->gen);
	if (s->out != NULL)
		evbuffer_free(s->out);
	free(s->columns);
	free(s);
}

/* Stop hearing about the connection: the stream is ending. */
static void
query_stream_forget_connection(struct query_stream *s)
{
	if (s->evcon != NULL)
		http_conns_on_close(s->r->server->conns, s->evcon, NULL, NULL);
	s->evcon = NULL;
}

void
query_stream_write_row(yajl_gen g, const PGresult *res, int row,
    const struct query_stream_column *columns, size_t ncolumns)
{
	size_t j;

	yajl_gen_map_open(g);
	for (j = 0; j < ncolumns; j++) {
		const char *value = PQgetisnull(res, row, (int)j) ?
		    NULL :
		    PQgetvalue(res, row, (int)j);

		yajl_gen_string(g, (const unsigned char *)columns[j].name,
		    columns[j].name_len);
		query_value_write(g, columns[j].type, value,
		    (size_t)PQgetlength(res, row, (int)j));
	}
	yajl_gen_map_close(g);
}

/* Aim the next FETCH at about one chunk of the rows seen so far. */
static void
query_stream_size_next(struct query_stream *s)
{
	size_t per_row, want = (size_t)s->fetch_rows;

	if (s->rows > 0) {
		per_row = s->r->bytes / s->rows + 1;
		want = QUERY_STREAM_CHUNK / per_row;
	}
	if (want < QUERY_STREAM_MIN_ROWS)
		want = QUERY_STREAM_MIN_ROWS;
	if (want > QUERY_STREAM_MAX_ROWS)
		want = QUERY_STREAM_MAX_ROWS;
	s->fetch_rows = (int)want;
}

static void
query_stream_sent_cb(struct evhttp_connection *evcon, void *arg)
{
	struct query_stream *s = arg;
	PGresult *held = s->held;

	s->writing = false;
	if (held == NULL)
		return;
	s->held = NULL;
	query_stream_rows(s, held);
	PQclear(held);
}

/* The last batch: close the answer and finish (the ROLLBACK ends the
 * cursor when the connection goes back). */
static void
query_stream_end(struct query_stream *s)
{
	struct request *r = s->r;

	yajl_gen_array_close(s->gen);
	yajl_gen_map_close(s->gen);
	query_stream_take_json(s);
	r->bytes += evbuffer_get_length(s->out);
	evhttp_send_reply_chunk(r->req, s->out);
	query_stream_forget_connection(s);
	log_debug(
	    "req=%llu streamed %zu rows", (unsigned long long)r->id, s->rows);
	query_stream_free(s);
	request_stream_end(r);
}

/*
 * One batch: ask for the next one first, so that PostgreSQL reads it
 * while mttd writes this one out, then send this one as a chunk.  The
 * next FETCH is sized on the rows seen so far.
 */
static void
query_stream_rows(struct query_stream *s, const PGresult *res)
{
	int i, n = PQntuples(res);
	size_t len;

	if (n < s->fetch_rows) {
		for (i = 0; i < n; i++)
			query_stream_write_row(
			    s->gen, res, i, s->columns, s->ncolumns);
		s->rows += n;
		query_stream_end(s);
		return;
	}
	query_stream_fetch(s);
	for (i = 0; i < n; i++)
		query_stream_write_row(s->gen, res, i, s->columns, s->ncolumns);
	s->rows += n;
	query_stream_take_json(s);
	len = evbuffer_get_length(s->out);
	s->r->bytes += len;
	s->writing = true;
	evhttp_send_reply_chunk_with_cb(
	    s->r->req, s->out, query_stream_sent_cb, s);
}

/* The client left: end the transaction and free what is left of r. */
static void
query_stream_gone_cb(evutil_socket_t fd, short what, void *arg)
{
	struct query_stream *s = arg;
	struct request *r = s->r;

	log_info("req=%llu client went away after %zu rows; query ended",
	    (unsigned long long)r->id, s->rows);
	query_stream_free(s);
	request_stream_gone(r);
}

/*
 * evhttp is freeing the connection.  The request itself is left to us
 * (libevent detaches a request whose answer is unfinished); it is
 * finished from the loop, not from inside libevent's free.
 */
static void
query_stream_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct query_stream *s = arg;
	struct request *r = s->r;
	struct timeval now = { 0, 0 };

	s->evcon = NULL;
	if (s->fetching) {
		/* Its rows would go nowhere: the connection goes back now,
		 * not when the FETCH ends, which for a sort of millions of
		 * rows before the first one may take minutes. */
		db_conn_abandon(r->conn);
		r->conn = NULL;
		s->fetching = false;
	}
	event_base_once(
	    r->server->base, -1, EV_TIMEOUT, query_stream_gone_cb, s, &now);
}

/* A FETCH's rows: write them now or after the chunk before has left. */
static void
query_stream_fetched_cb(const struct db_result *res, void *arg)
{
	struct query_stream *s = arg;
	struct request *r = s->r;

	s->fetching = false;
	if (res->failed >= 0) {
		/* The headers went out: cut the reply, no last chunk. */
		log_error("req=%llu query failed after %zu rows: %s",
		    (unsigned long long)r->id, s->rows,
		    res->error ? res->error : "unknown error");
		query_stream_forget_connection(s);
		query_stream_free(s);
		request_stream_abort(r);
		return;
	}
	if (s->writing) {
		s->held = db_result_take(res, 0);
		return;
	}
	query_stream_rows(s, res->results[0]);
}

static int
query_stream_first_rows(
    const struct query_stream_column *columns, size_t ncolumns)
{
	size_t i;

	for (i = 0; i < ncolumns; i++) {
		if (columns[i].long_text)
			return QUERY_STREAM_FIRST_LONG_ROWS;
	}
	return QUERY_STREAM_FIRST_ROWS;
}

static void
query_stream_fetch(struct query_stream *s)
{
	struct db_batch *b = db_batch_new();
	char sql[64];

	query_stream_size_next(s);
	snprintf(sql, sizeof sql, "FETCH %d FROM mttd_rows", s->fetch_rows);
	db_batch_add(b, sql, 0, NULL, NULL);
	s->fetching = true;
	db_conn_run(s->r->conn, b, query_stream_fetched_cb, s);
}

/* The first batch: checks, BEGIN, DECLARE and the first FETCH. */
static void
query_stream_first_cb(const struct db_result *res, void *arg)
{
	struct query_stream *s = arg;
	struct request *r = s->r;

	s->fetching = false;
	if (res->failed >= 0) {
		query_stream_forget_connection(s);
		query_exec_reply_failure(r, s->q, s->nchecks, res);
		query_stream_free(s);
		return;
	}
	/* Gone unseen (its close was not watched): libevent detached r. */
	if (evhttp_request_get_connection(r->req) == NULL) {
		query_stream_forget_connection(s);
		query_stream_gone_cb(-1, 0, s);
		return;
	}
	request_stream_start(r);
	yajl_gen_map_open(s->gen);
	request_json_status(s->gen, 0, "Success");
	yajl_gen_string(s->gen, (const unsigned char *)"query_data", 10);
	yajl_gen_array_open(s->gen);
	query_stream_rows(s, res->results[res->count - 1]);
}

void
query_stream_start(struct request *r, const struct query_spec *q,
    const char *sql, const struct query_stream_column *columns, size_t ncolumns)
{
	struct query_stream *s = xcalloc(1, sizeof *s);
	struct db_batch *b = db_batch_new();
	const char **values = query_exec_values(q);
	char *declare = xasprintf(
	    "DECLARE mttd_rows NO SCROLL CURSOR FOR %s", sql);
	char fetch[64];

	s->r = r;
	s->q = q;
	s->out = evbuffer_new();
	s->gen = request_json_new();
	s->columns = xcalloc(ncolumns + 1, sizeof *s->columns);
	memcpy(s->columns, columns, ncolumns * sizeof *columns);
	s->ncolumns = ncolumns;
	s->fetch_rows = query_stream_first_rows(columns, ncolumns);

	/* Watched from the start: the first FETCH may sort for minutes. */
	s->evcon = evhttp_request_get_connection(r->req);
	if (s->evcon != NULL)
		http_conns_on_close(
		    r->server->conns, s->evcon, query_stream_closed_cb, s);

	s->nchecks = query_exec_add_checks(b, q);
	db_batch_add(b, "BEGIN READ ONLY", 0, NULL, NULL);
	db_batch_add(b, declare, q->nparams, values, NULL);
	snprintf(fetch, sizeof fetch, "FETCH %d FROM mttd_rows", s->fetch_rows);
	db_batch_add(b, fetch, 0, NULL, NULL);
	s->fetching = true;
	db_conn_run(r->conn, b, query_stream_first_cb, s);
	free(declare);
	free(values);
}
