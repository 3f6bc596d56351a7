/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The request context: everything one HTTP request in flight owns (the
 * evhttp request, its parsed body, a borrowed database connection), and
 * the one way to answer it, as JSON, with CORS headers and an access
 * line.
 */
#ifndef MTTD_REQUEST_H
#define MTTD_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/http.h>
#include <yajl/yajl_gen.h>

#include "auth.h"
#include "db_pool.h"
#include "json_doc.h"

struct http_server;

struct request {
	struct http_server *server;
	struct evhttp_request *req;
	uint64_t id;
	const char *method; /* "GET", "POST", ... */
	char *path;	    /* Normalised, without the prefix. */
	char peer[64];	    /* The socket's address. */
	char client[64];    /* peer, or the trusted X-Forwarded-For. */
	char user[AUTH_USER_MAX + 1]; /* "" until authenticated. */
	struct timeval started;
	struct json_value *body;	 /* Parsed POST body, or NULL. */
	size_t body_len;		 /* Its bytes. */
	struct db_wait *wait;		 /* While waiting for a connection. */
	void *wait_arg;			 /* Its callback's argument. */
	struct db_conn *conn;		 /* While holding one. */
	void *state;			 /* The handler's own... */
	void (*state_free)(void *state); /* ...freed by this at finish. */
	/*
	 * What a callback holds for r beside state (a stream, a statement
	 * in flight, a group's store), set by its owner and cleared when
	 * the owner frees it: freed by held_free only when mttd exits with
	 * r unfinished (request_free_unfinished).
	 */
	void *held;
	void (*held_free)(void *held);
	int http_code; /* Of the answer, for the access log. */
	size_t bytes;  /* Body bytes answered. */
	TAILQ_ENTRY(request) live_entry; /* In the server's list. */
};

/*
 * mttd exits with r still in flight (why: "the drain gave up", "a second
 * signal came"): its access line, as 599 when its answer had begun
 * (cut), else 503.  request_free_unfinished frees it later.
 */
void request_log_unfinished(struct request *r, const char *why);

/*
 * Free r, still in flight, and what it holds, as mttd exits: after
 * evhttp is freed (r->req is gone with its connection) and before the
 * pools (whose batches in flight are dropped unanswered; a connection r
 * holds is closed with them).
 */
void request_free_unfinished(struct request *r);

/* A JSON generator for an answer; yajl_gen_free it or pass it on. */
yajl_gen request_json_new(void);

/* Add "status" and "status_message" to an open map. */
void request_json_status(yajl_gen g, int status, const char *message);

/* Add a string key and a string value to an open map. */
void request_json_kv(yajl_gen g, const char *key, const char *value);

/* Add a string key and an integer value to an open map. */
void request_json_kint(yajl_gen g, const char *key, long long value);

/*
 * Answer with g's JSON (a complete document) and finish the request.
 * Frees g and r.
 */
void request_reply_json(struct request *r, int http_code, yajl_gen g);

/* Answer {"status": 0, "status_message": message} and finish. */
void request_reply_ok(struct request *r, const char *message);

/*
 * The one error funnel: log once, answer {"status": status,
 * "status_message": ...} with http_code, and finish the request.
 */
void reply_error(struct request *r, int http_code, int status, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/* Answer with an empty body (OPTIONS) and finish. */
void request_reply_empty(struct request *r, int http_code);

/* True when the client went away while r waited (libevent detached r). */
bool request_client_gone(const struct request *r);

/* Start a chunked 200 JSON answer (headers with CORS; no body yet). */
void request_stream_start(struct request *r);

/* End a chunked answer with its last chunk and finish r. */
void request_stream_end(struct request *r);

/*
 * End a chunked answer without its last chunk, by closing the
 * connection, so that the client cannot take it for whole; finish r.
 */
void request_stream_abort(struct request *r);

/* Finish r after its client left in the middle of a chunked answer. */
void request_stream_gone(struct request *r);

/* Ask the pool for a connection; cb runs with r when it is decided. */
void request_db_acquire(struct request *r,
    void (*cb)(struct request *r, enum db_acquire_status status));

/* What a connection is wanted for. */
enum request_db_use {
	REQUEST_DB_WRITE, /* A submission: the primary. */
	/* A query answered at once: the read pool, within the queries'
	 * bound, as its statement may run for minutes (a grouping of
	 * millions of rows). */
	REQUEST_DB_QUERY,
	/* A streamed answer: the read pool, within the streams' share. */
	REQUEST_DB_STREAM,
};

/* Withdraw a wait for a connection whose callback has not run yet
 * (nothing happens when r is not waiting). */
void request_db_cancel(struct request *r);

/* As request_db_acquire, from the pool that serves use. */
void request_db_acquire_for(struct request *r, enum request_db_use use,
    void (*cb)(struct request *r, enum db_acquire_status status));

/* Answer 503 with Retry-After for a connection that could not be had. */
void request_reply_db_unavailable(
    struct request *r, enum db_acquire_status status);

/* Answer 503 with Retry-After for a statement the database failed. */
void request_reply_db_failed(
    struct request *r, const char *what, const char *why);

/* Give the borrowed connection back, if any. */
void request_db_release(struct request *r);

/* The connection r holds for a query goes on to stream: true when the
 * streams' share lets it keep it (db_conn_hold_stream). */
bool request_db_hold_stream(struct request *r);

/* Free everything r owns; the reply must have been sent. */
void request_finish(struct request *r);

#endif /* MTTD_REQUEST_H */
