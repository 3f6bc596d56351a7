/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The streamed answer of /detail and /summary.  One transaction holds a
 * server-side cursor, read in one of two ways:
 *
 * - Rows of bounded size (no long text, no array: every short text is a
 *   varchar of at most 128 characters in the schema) come a batch at a
 *   time, each FETCH sized to about one chunk of JSON and capped so that
 *   its rows take at most QUERY_STREAM_BATCH_BYTES.  The next FETCH goes
 *   out before a batch is written, so PostgreSQL reads it meanwhile; a
 *   batch written while the chunk before has not left waits with its
 *   JSON, and the next FETCH waits for that chunk.
 * - Other rows, which may be megabytes each, come one at a time
 *   (libpq's single-row mode) and are written into chunks of about
 *   1 MiB of JSON.  When a chunk is made while the one before has not
 *   left yet, the rows wait: the connection is not read, and the
 *   database waits behind the socket's buffers.  This costs a PGresult
 *   per row, which is why bounded rows are read in batches.
 *
 * So a slow reader holds mttd at two chunks and a batch or a row,
 * whatever the number or the size of the rows.  A client that leaves
 * ends the stream at once: its connection goes back with the FETCH in
 * flight abandoned (libpq 15 cannot cancel a statement without
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

/* Rows of the first FETCH: few, so the first bytes leave soon; fewer
 * when a column may hold megabytes (captured output). */
#define QUERY_STREAM_FIRST_ROWS 256
#define QUERY_STREAM_FIRST_LONG_ROWS 4
/* Rows of later FETCHes one at a time: many, as memory does not depend
 * on them (the database waits while the answer cannot leave); each
 * FETCH costs a round trip. */
#define QUERY_STREAM_FETCH_ROWS 100000
/* Rows of later FETCHes in batches: about a chunk of JSON by the rows
 * so far, at most this many, and at most QUERY_STREAM_BATCH_BYTES at
 * the largest size the columns allow. */
#define QUERY_STREAM_BATCH_ROWS 20000
#define QUERY_STREAM_BATCH_BYTES (8 * 1024 * 1024)
/* Bytes of JSON sent as one chunk; at most one more waits behind it. */
#define QUERY_STREAM_CHUNK (1024 * 1024)
/* Bytes the generator keeps before they are moved into the chunk. */
#define QUERY_STREAM_GEN_BYTES (64 * 1024)

struct query_stream {
	struct request *r;
	const struct query_spec *q;
	struct evhttp_connection *evcon; /* While its close callback is ours. */
	yajl_gen gen;
	struct evbuffer *out; /* The chunk being made. */
	struct query_stream_column *columns;
	size_t ncolumns;
	struct query_stream_writer writer; /* row NULL: objects of columns. */
	size_t row_bound;     /* Most bytes a row takes in libpq; 0: unbounded,
			     rows come one at a time. */
	int fetch_rows;	      /* What the FETCH in flight asked for. */
	int fetched;	      /* Rows it gave so far. */
	size_t rows;	      /* Rows written so far. */
	int nchecks;	      /* Value checks at the head of the first batch. */
	bool started;	      /* The headers and the answer's head went out. */
	bool fetching;	      /* A FETCH is in flight. */
	bool writing;	      /* The last chunk sent has not left yet. */
	bool paused;	      /* Rows wait for it: out is a whole chunk. */
	bool fetch_when_sent; /* A batch waits in out for it; then FETCH. */
};

static void query_stream_fetch(struct query_stream *s);
static void query_stream_sent_cb(struct evhttp_connection *evcon, void *arg);

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

/* Free s; its request, still there, no longer holds it. */
static void
query_stream_free(struct query_stream *s)
{
	if (s->r->held == s)
		s->r->held = NULL;
	if (s->gen != NULL)
		yajl_gen_free(s->gen);
	if (s->out != NULL)
		evbuffer_free(s->out);
	if (s->writer.free_state != NULL)
		s->writer.free_state(s->writer.state);
	free(s->columns);
	free(s);
}

/* mttd exits with the stream unfinished (request.h, held). */
static void
query_stream_drop(void *s)
{
	query_stream_free(s);
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

/* Send what out holds as a chunk; sent_cb runs once it has left. */
static void
query_stream_send_chunk(struct query_stream *s)
{
	s->r->bytes += evbuffer_get_length(s->out);
	s->writing = true;
	evhttp_send_reply_chunk_with_cb(
	    s->r->req, s->out, query_stream_sent_cb, s);
}

/*
 * A chunk's worth is made: send it, unless the one before has not left
 * yet; then it waits, and so do the rows (false: pause the database).
 */
static bool
query_stream_chunk_ready(struct query_stream *s)
{
	if (s->writing) {
		s->paused = true;
		return false;
	}
	query_stream_send_chunk(s);
	return true;
}

static void
query_stream_sent_cb(struct evhttp_connection *evcon, void *arg)
{
	struct query_stream *s = arg;

	(void)evcon;
	s->writing = false;
	if (s->fetch_when_sent) {
		s->fetch_when_sent = false;
		query_stream_send_chunk(s);
		query_stream_fetch(s);
		return;
	}
	if (!s->paused)
		return;
	s->paused = false;
	query_stream_send_chunk(s);
	db_conn_resume_rows(s->r->conn);
}

/* The headers, and the answer's head, before the first row. */
static void
query_stream_begin(struct query_stream *s)
{
	s->started = true;
	request_stream_start(s->r);
	yajl_gen_map_open(s->gen);
	request_json_status(s->gen, 0, "Success");
	yajl_gen_string(s->gen, (const unsigned char *)"query_data", 10);
	yajl_gen_array_open(s->gen);
}

/* The last FETCH ended: close the answer and finish (the ROLLBACK ends
 * the cursor when the connection goes back). */
static void
query_stream_end(struct query_stream *s)
{
	struct request *r = s->r;

	if (s->writer.end != NULL)
		s->writer.end(s->gen, s->writer.state);
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

/* Write one row of res, moving the JSON into the chunk now and then. */
static void
query_stream_put_row(struct query_stream *s, const PGresult *res, int row)
{
	const unsigned char *buf;
	size_t len;

	if (!s->started)
		query_stream_begin(s);
	if (s->writer.row != NULL)
		s->writer.row(s->gen, res, row, s->writer.state);
	else
		query_stream_write_row(
		    s->gen, res, row, s->columns, s->ncolumns);
	s->rows++;
	yajl_gen_get_buf(s->gen, &buf, &len);
	if (len >= QUERY_STREAM_GEN_BYTES)
		query_stream_take_json(s);
}

/* One row, as it arrives: into the chunk being made. */
static bool
query_stream_row_cb(const PGresult *res, int row, void *arg)
{
	struct query_stream *s = arg;

	query_stream_put_row(s, res, row);
	s->fetched++;
	if (evbuffer_get_length(s->out) < QUERY_STREAM_CHUNK)
		return true;
	return query_stream_chunk_ready(s);
}

/*
 * A batch of rows.  Fewer than asked: the answer is whole.  Else the
 * next FETCH goes out first, so that PostgreSQL reads it while this one
 * is written, unless the chunk before has not left: then this batch
 * waits in out, and the next FETCH waits with it.  The FETCH after the
 * first batch goes out only once that batch is written: it is sized by
 * the rows written so far, and there are none before.
 */
static void
query_stream_batch(struct query_stream *s, const PGresult *res)
{
	int i, n = PQntuples(res);
	bool more = n >= s->fetch_rows;
	bool ahead = more && !s->writing && s->rows > 0;

	if (ahead)
		query_stream_fetch(s);
	for (i = 0; i < n; i++)
		query_stream_put_row(s, res, i);
	if (!more) {
		if (!s->started)
			query_stream_begin(s);
		query_stream_end(s);
		return;
	}
	query_stream_take_json(s);
	if (s->writing) {
		s->fetch_when_sent = true;
		return;
	}
	query_stream_send_chunk(s);
	if (!ahead)
		query_stream_fetch(s);
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

/*
 * A FETCH ended.  Fewer rows than asked: the answer is whole.  Else what
 * was made goes out (the first FETCH's rows at once, so the first bytes
 * leave soon) and the next FETCH follows.
 */
static void
query_stream_fetched(struct query_stream *s)
{
	if (s->fetched < s->fetch_rows) {
		query_stream_end(s);
		return;
	}
	query_stream_take_json(s);
	if (!s->writing && evbuffer_get_length(s->out) > 0)
		query_stream_send_chunk(s);
	query_stream_fetch(s);
}

/* The database failed mid-answer: the headers went out, so cut the
 * reply, no last chunk. */
static void
query_stream_failed(struct query_stream *s, const struct db_result *res)
{
	struct request *r = s->r;

	log_error("req=%llu query failed after %zu rows: %s",
	    (unsigned long long)r->id, s->rows,
	    res->error ? res->error : "unknown error");
	query_stream_forget_connection(s);
	query_stream_free(s);
	request_stream_abort(r);
}

/* A later FETCH ended: its batch, or the end of its rows. */
static void
query_stream_fetched_cb(const struct db_result *res, void *arg)
{
	struct query_stream *s = arg;

	s->fetching = false;
	if (res->failed >= 0)
		query_stream_failed(s, res);
	else if (s->row_bound > 0)
		query_stream_batch(s, res->results[0]);
	else
		query_stream_fetched(s);
}

/* Send b, whose last statement is a FETCH: its rows come a batch at a
 * time or, for unbounded rows, one at a time; then cb. */
static void
query_stream_send(struct query_stream *s, struct db_batch *b, db_batch_cb cb)
{
	s->fetching = true;
	if (s->row_bound > 0)
		db_conn_run(s->r->conn, b, cb, s);
	else
		db_conn_run_rows(s->r->conn, b, query_stream_row_cb, cb, s);
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

/*
 * Most bytes a row takes in libpq: each value as PostgreSQL's text, its
 * terminating zero and libpq's bookkeeping; 0 when a column has no
 * bound (long texts, arrays).
 */
static size_t
query_stream_row_bound(
    const struct query_stream_column *columns, size_t ncolumns)
{
	size_t i, each, bound = 0;

	for (i = 0; i < ncolumns; i++) {
		switch (columns[i].type) {
		case QT_TEXT:
			/* A varchar of 128 characters at most, of up to 4
			 * bytes each. */
			each = columns[i].long_text ? 0 : 128 * 4;
			break;
		case QT_INT:
		case QT_BOOL:
			each = 20;
			break;
		case QT_TIMESTAMP:
		case QT_INTERVAL:
		case QT_BITS:
			each = 80;
			break;
		default:
			each = 0;
		}
		if (each == 0)
			return 0;
		bound += each + 24;
	}
	return bound;
}

/* A batch's FETCH: about a chunk of JSON by the rows so far. */
static int
query_stream_batch_rows(const struct query_stream *s)
{
	size_t want = QUERY_STREAM_BATCH_ROWS, per_row;
	size_t cap = QUERY_STREAM_BATCH_BYTES / s->row_bound;

	if (s->rows > 0) {
		per_row =
		    (s->r->bytes + evbuffer_get_length(s->out)) / s->rows + 1;
		want = QUERY_STREAM_CHUNK / per_row;
	}
	if (want > QUERY_STREAM_BATCH_ROWS)
		want = QUERY_STREAM_BATCH_ROWS;
	if (want > cap)
		want = cap;
	return want < 1 ? 1 : (int)want;
}

static void
query_stream_fetch(struct query_stream *s)
{
	struct db_batch *b = db_batch_new();
	char sql[64];

	s->fetch_rows = s->row_bound > 0 ? query_stream_batch_rows(s) :
					   QUERY_STREAM_FETCH_ROWS;
	s->fetched = 0;
	snprintf(sql, sizeof sql, "FETCH %d FROM mttd_rows", s->fetch_rows);
	db_batch_add(b, sql, 0, NULL, NULL);
	query_stream_send(s, b, query_stream_fetched_cb);
}

/* The first batch: checks, BEGIN, DECLARE and the first FETCH. */
static void
query_stream_first_cb(const struct db_result *res, void *arg)
{
	struct query_stream *s = arg;
	struct request *r = s->r;

	s->fetching = false;
	if (res->failed >= 0 && s->started) {
		query_stream_failed(s, res);
		return;
	}
	if (res->failed >= 0) {
		const struct query_spec *q = s->q;
		int nchecks = s->nchecks;

		query_stream_forget_connection(s);
		query_stream_free(s);
		query_exec_reply_failure(r, q, nchecks, res);
		return;
	}
	/* Gone unseen (its close was not watched): libevent detached r. */
	if (evhttp_request_get_connection(r->req) == NULL) {
		query_stream_forget_connection(s);
		query_stream_gone_cb(-1, 0, s);
		return;
	}
	if (s->row_bound > 0) {
		query_stream_batch(s, res->results[res->count - 1]);
		return;
	}
	if (!s->started)
		query_stream_begin(s);
	query_stream_fetched(s);
}

void
query_stream_start(struct request *r, const struct query_spec *q,
    const char *sql, const struct query_stream_column *columns, size_t ncolumns,
    const struct query_stream_writer *writer)
{
	struct query_stream *s = xcalloc(1, sizeof *s);
	struct db_batch *b = db_batch_new();
	const char **values = query_exec_values(q);
	char *declare = xasprintf(
	    "DECLARE mttd_rows NO SCROLL CURSOR FOR %s", sql);
	char fetch[64];

	s->r = r;
	r->held = s;
	r->held_free = query_stream_drop;
	s->q = q;
	s->out = evbuffer_new();
	s->gen = request_json_new();
	s->columns = xcalloc(ncolumns + 1, sizeof *s->columns);
	memcpy(s->columns, columns, ncolumns * sizeof *columns);
	s->ncolumns = ncolumns;
	if (writer != NULL)
		s->writer = *writer;
	s->row_bound = query_stream_row_bound(columns, ncolumns);
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
	query_stream_send(s, b, query_stream_first_cb);
	free(declare);
	free(values);
}
