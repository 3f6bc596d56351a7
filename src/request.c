/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Request contexts and answers.  Every answer mttd writes goes through
 * request_reply_json or request_reply_empty, so every one is JSON (or
 * empty), carries the CORS headers, and ends in one access line.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h>

#include "http_server.h"
#include "log.h"
#include "request.h"
#include "strbuf.h"

/* Bodies from this size on give the heap back after their request. */
#define REQUEST_TRIM_BYTES (1024 * 1024)

/*
 * One generator is kept for the next answer: most answers are small, and
 * a new generator costs a 2 KiB buffer and its free each time.
 */
static yajl_gen request_json_kept;

yajl_gen
request_json_new(void)
{
	yajl_gen g = request_json_kept;

	if (g != NULL) {
		request_json_kept = NULL;
		return g;
	}
	if ((g = yajl_gen_alloc(NULL)) == NULL)
		abort();
	return g;
}

/* Done with g: keep it for the next answer, or free it. */
static void
request_json_done(yajl_gen g)
{
	if (request_json_kept != NULL) {
		yajl_gen_free(g);
		return;
	}
	yajl_gen_clear(g);
	yajl_gen_reset(g, NULL);
	request_json_kept = g;
}

void
request_json_kv(yajl_gen g, const char *key, const char *value)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
	yajl_gen_string(g, (const unsigned char *)value, strlen(value));
}

void
request_json_kint(yajl_gen g, const char *key, long long value)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
	yajl_gen_integer(g, value);
}

void
request_json_status(yajl_gen g, int status, const char *message)
{
	request_json_kint(g, "status", status);
	request_json_kv(g, "status_message", message);
}

/*
 * Headers of every answer: CORS, and while draining "Connection: close",
 * so that no kept-alive client sends another request to a stopping mttd.
 */
static void
request_add_cors(struct request *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(
	    h, "Access-Control-Allow-Origin", r->server->settings->cors_origin);
	if (r->server->draining && evhttp_find_header(h, "Connection") == NULL)
		evhttp_add_header(h, "Connection", "close");
}

static long
request_elapsed_ms(const struct request *r)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (now.tv_sec - r->started.tv_sec) * 1000L +
	    (now.tv_usec - r->started.tv_usec) / 1000L;
}

/* One key=value line per finished request. */
static void
request_log_access(const struct request *r)
{
	struct log_access_fields f = { (unsigned long long)r->id, r->method,
		r->path, r->http_code, r->bytes, request_elapsed_ms(r), r->user,
		r->client, NULL };

	log_access_request(&f);
}

static const char *
request_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

/*
 * Count an answer being written until evhttp says it left.  A request
 * whose client already went is detached from its connection: evhttp
 * frees it without writing or telling, so it is not counted.
 */
static void
request_count_sending(struct request *r)
{
	if (evhttp_request_get_connection(r->req) != NULL)
		http_server_reply_queued(r->server, r->req);
}

bool
request_client_gone(const struct request *r)
{
	return evhttp_request_get_connection(r->req) == NULL;
}

static bool
request_is_head(const struct request *r)
{
	return evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD;
}

/*
 * Send the JSON body already in r's output buffer, len bytes, and finish.
 * A HEAD answer has the headers of GET and no body: its buffer is empty,
 * and len is the length GET's body has, which it names, as libevent
 * adds no Content-Length to a HEAD answer.
 */
static void
request_send_json(struct request *r, int http_code, size_t len)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(headers, "Content-Type", "application/json");
	if (request_is_head(r)) {
		char text[24];

		snprintf(text, sizeof text, "%zu", len);
		evhttp_add_header(headers, "Content-Length", text);
		len = 0;
	}
	request_add_cors(r);
	r->http_code = http_code;
	r->bytes = len;
	request_count_sending(r);
	evhttp_send_reply(r->req, http_code, request_reason(http_code), NULL);
	request_finish(r);
}

void
request_reply_json(struct request *r, int http_code, yajl_gen g)
{
	const unsigned char *buf;
	size_t len;

	yajl_gen_get_buf(g, &buf, &len);
	if (!request_is_head(r))
		evbuffer_add(
		    evhttp_request_get_output_buffer(r->req), buf, len);
	request_json_done(g);
	request_send_json(r, http_code, len);
}

/* A message that goes between JSON quotes as it is: printable ASCII. */
static bool
request_json_plain(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return false;
	}
	return true;
}

/*
 * The health check's answer, and the probe's: written without a JSON
 * generator when the message needs no escaping.  GET / is polled often,
 * and the generator was 6 % of its instructions.
 */
void
request_reply_ok(struct request *r, const char *message)
{
	static const char head[] = "{\"status\":0,\"status_message\":\"";
	static const char tail[] = "\"}";
	struct evbuffer *out = evhttp_request_get_output_buffer(r->req);
	size_t message_len = strlen(message);
	yajl_gen g;

	if (!request_json_plain(message)) {
		g = request_json_new();
		yajl_gen_map_open(g);
		request_json_status(g, 0, message);
		yajl_gen_map_close(g);
		request_reply_json(r, 200, g);
		return;
	}
	if (!request_is_head(r)) {
		evbuffer_add(out, head, sizeof head - 1);
		evbuffer_add(out, message, message_len);
		evbuffer_add(out, tail, sizeof tail - 1);
	}
	request_send_json(
	    r, 200, sizeof head - 1 + message_len + sizeof tail - 1);
}

/* Length of the UTF-8 sequence a lead byte starts, or 0. */
static size_t
request_utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0)
		return 2;
	if ((c & 0xF0) == 0xE0)
		return 3;
	return (c & 0xF8) == 0xF0 ? 4 : 0;
}

/*
 * Make a message valid UTF-8 in place: it may quote request bytes, and
 * vsnprintf may have cut it inside a character.  Bad bytes become '?'.
 */
static void
request_utf8_repair(char *s)
{
	size_t i = 0, len = strlen(s), n;

	while (i < len) {
		n = request_utf8_len((unsigned char)s[i]);
		if (n == 0 || i + n > len || !json_utf8_valid(s + i, n)) {
			s[i++] = '?';
			continue;
		}
		i += n;
	}
}

void
reply_error(struct request *r, int http_code, int status, const char *fmt, ...)
{
	yajl_gen g = request_json_new();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	request_utf8_repair(msg);
	/* 401 and 429 come in floods (a guesser's tries, a client repeating
	 * a wrong password), answered without a hash: the router warns of
	 * the failures that cost one, and of a limit once; the rest, and
	 * these lines, are DEBUG (each keeps its access line). */
	if (http_code == 401 || http_code == 429)
		log_debug("req=%llu %s %s: %d %s", (unsigned long long)r->id,
		    r->method, r->path ? r->path : "-", http_code, msg);
	else
		log_info("req=%llu %s %s: %d %s", (unsigned long long)r->id,
		    r->method, r->path ? r->path : "-", http_code, msg);
	yajl_gen_map_open(g);
	request_json_status(g, status, msg);
	yajl_gen_map_close(g);
	request_reply_json(r, http_code, g);
}

void
request_reply_empty(struct request *r, int http_code)
{
	/* As every answer mttd writes: libevent would say text/html. */
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Content-Type", "application/json");
	request_add_cors(r);
	r->http_code = http_code;
	request_count_sending(r);
	evhttp_send_reply(r->req, http_code, request_reason(http_code), NULL);
	request_finish(r);
}

void
request_stream_start(struct request *r)
{
	/*
	 * HTTP/1.0 has no chunks: the answer ends when the connection
	 * closes.  libevent would answer a 1.0 keep-alive request with
	 * "Content-Length: 0" and the body after it, so keep-alive is
	 * turned down for it.
	 */
	if (r->req->major == 1 && r->req->minor == 0) {
		evhttp_remove_header(
		    evhttp_request_get_input_headers(r->req), "Connection");
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Connection", "close");
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Content-Type", "application/json");
	request_add_cors(r);
	r->http_code = 200;
	evhttp_send_reply_start(r->req, 200, "OK");
}

void
request_stream_end(struct request *r)
{
	request_count_sending(r);
	evhttp_send_reply_end(r->req);
	request_finish(r);
}

/*
 * An HTTP/1.0 answer has no chunks: it ends where the connection does,
 * so a cut one must end in a reset, not a close, or its client takes it
 * for whole (break-it helper 52: curl --http1.0 exited 0 with 185 MB of
 * an export cut at a row's end).  SO_LINGER's reset would come after
 * the FIN libevent sends when it frees the connection (its shutdown);
 * connecting a TCP socket to AF_UNSPEC makes Linux abort it at once,
 * with a reset, and the shutdown and close then find it closed.
 */
static void
request_reset_connection(struct evhttp_connection *evcon)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	evutil_socket_t fd = bufferevent_getfd(
	    evhttp_connection_get_bufferevent(evcon));

	if (fd >= 0)
		(void)connect(fd, &unspec, sizeof unspec);
}

/* Whether r's streamed answer goes in chunks (HTTP/1.1 and later). */
static bool
request_chunked(const struct request *r)
{
	return r->req->major > 1 || (r->req->major == 1 && r->req->minor >= 1);
}

void
request_stream_abort(struct request *r)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
	bool chunked = request_chunked(r);

	/* Freeing the connection frees the request with it. */
	log_warn("req=%llu answer cut off: the connection is %s",
	    (unsigned long long)r->id,
	    chunked ? "closed without the last chunk" :
		      "reset (HTTP/1.0: a close would end it as whole)");
	r->http_code = 599;
	if (evcon != NULL && !chunked)
		request_reset_connection(evcon);
	if (evcon != NULL)
		evhttp_connection_free(evcon);
	else
		evhttp_send_reply_end(r->req);
	request_finish(r);
}

void
request_log_unfinished(struct request *r, const char *why)
{
	struct evhttp_connection *evcon = r->req != NULL ?
	    evhttp_request_get_connection(r->req) :
	    NULL;

	log_warn("req=%llu %s %s: still in flight when %s",
	    (unsigned long long)r->id, r->method, r->path, why);
	/* A stream begun over HTTP/1.0 is cut at exit: reset, not closed. */
	if (r->http_code != 0 && evcon != NULL && !request_chunked(r))
		request_reset_connection(evcon);
	r->http_code = r->http_code != 0 ? 599 : 503;
	request_log_access(r);
}

void
request_free_unfinished(struct request *r)
{
	request_db_cancel(r);
	if (r->held != NULL && r->held_free != NULL)
		r->held_free(r->held);
	if (r->state != NULL && r->state_free != NULL)
		r->state_free(r->state);
	json_value_free(r->body);
	free(r->path);
	free(r);
}

void
request_stream_gone(struct request *r)
{
	/* A detached request: ending it frees it and writes nothing. */
	r->http_code = 499;
	evhttp_send_reply_end(r->req);
	request_finish(r);
}

/* The pool's answer, passed on to the handler's callback. */
struct request_acquire {
	struct request *r;
	void (*cb)(struct request *r, enum db_acquire_status status);
};

static void
request_acquired_cb(
    struct db_conn *conn, enum db_acquire_status status, void *arg)
{
	struct request_acquire *a = arg;
	struct request *r = a->r;
	void (*cb)(struct request *, enum db_acquire_status) = a->cb;

	free(a);
	r->wait = NULL;
	r->wait_arg = NULL;
	r->conn = conn;
	cb(r, status);
}

/* The pool's bounds a use counts in. */
static enum db_hold
request_db_hold(enum request_db_use use)
{
	switch (use) {
	case REQUEST_DB_QUERY:
		return DB_HOLD_QUERY;
	case REQUEST_DB_STREAM:
		return DB_HOLD_STREAM;
	default:
		return DB_HOLD_SHORT;
	}
}

void
request_db_acquire_for(struct request *r, enum request_db_use use,
    void (*cb)(struct request *r, enum db_acquire_status status))
{
	struct request_acquire *a = xmalloc(sizeof *a);
	struct db_pool *pool = use == REQUEST_DB_WRITE ? r->server->pool :
							 r->server->read_pool;

	a->r = r;
	a->cb = cb;
	r->wait_arg = a;
	r->wait = db_pool_acquire(
	    pool, request_db_hold(use), request_acquired_cb, a);
}

void
request_db_cancel(struct request *r)
{
	if (r->wait == NULL)
		return;
	db_wait_cancel(r->wait);
	free(r->wait_arg);
	r->wait = NULL;
	r->wait_arg = NULL;
}

void
request_db_acquire(struct request *r,
    void (*cb)(struct request *r, enum db_acquire_status status))
{
	request_db_acquire_for(r, REQUEST_DB_WRITE, cb);
}

static const char *
request_db_problem(enum db_acquire_status st)
{
	switch (st) {
	case DB_ACQUIRE_DOWN:
		return "the database is unreachable; try again later";
	case DB_ACQUIRE_BUSY:
		return "too many requests are waiting for the database; try"
		       " again later";
	default:
		return "no database connection came free in time; try again"
		       " later";
	}
}

void
request_reply_db_unavailable(struct request *r, enum db_acquire_status st)
{
	evhttp_add_header(
	    evhttp_request_get_output_headers(r->req), "Retry-After", "1");
	reply_error(r, 503, -2, "%s", request_db_problem(st));
}

void
request_reply_db_failed(struct request *r, const char *what, const char *why)
{
	evhttp_add_header(
	    evhttp_request_get_output_headers(r->req), "Retry-After", "1");
	reply_error(r, 503, -2, "the database failed %s; try again later (%s)",
	    what, why);
}

void
request_db_release(struct request *r)
{
	if (r->conn != NULL) {
		db_conn_release(r->conn);
		r->conn = NULL;
	}
}

bool
request_db_hold_stream(struct request *r)
{
	return r->conn != NULL && db_conn_hold_stream(r->conn);
}

void
request_finish(struct request *r)
{
	struct http_server *s = r->server;

	request_log_access(r);
	request_db_release(r);
	if (r->state != NULL && r->state_free != NULL)
		r->state_free(r->state);
	json_value_free(r->body);
	free(r->path);
	http_server_request_done(s, r);
	/* A large body's tree and statements were many small blocks: the
	 * heap's free pages go back to the system once libevent has freed
	 * the body's buffer too. */
	if (r->body_len >= REQUEST_TRIM_BYTES)
		http_server_trim_soon(s);
	free(r);
}
