/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP server: the evhttp listener, the shared state handlers need
 * (settings, database pool, credentials), and the lifecycle of requests
 * in flight so that a shutdown can drain them.
 */
#ifndef MTTD_HTTP_SERVER_H
#define MTTD_HTTP_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include "auth.h"
#include "db_pool.h"
#include "settings.h"

struct request;

struct http_server {
	struct event_base *base;
	const struct settings *settings;
	struct db_pool *pool;
	struct db_pool *read_pool; /* For queries: pool, or a replica's. */
	struct auth *auth;	   /* NULL: proxy mode. */
	struct login_limit *login_limit; /* Failed logins per address. */
	struct table_stats *table_stats; /* Told of stores; the caller's. */
	time_t started;
	uint64_t next_id;
	int active;		    /* Requests in flight... */
	TAILQ_HEAD(, request) live; /* ...these. */
	int sending;		    /* Answers queued but not yet written. */
	bool draining;		    /* Stop once both reach 0. */
	struct event *drain_timer;  /* Ends a drain that cannot finish. */
	struct event *trim_timer;   /* http_server_trim_soon's. */
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *accept_timer;  /* Ends a pause of accepting, then... */
	bool accept_paused;	     /* ...watches that accepting works. */
	int accept_errno;	     /* What made accept() fail, or 0. */
	time_t accept_failed_at;     /* The first failure of a streak. */
	time_t accept_logged_at;     /* The streak's last warning. */
	unsigned long accept_pauses; /* Pauses since that warning. */
	struct http_conns *conns;    /* Limits and clocks of connections. */
	int port;		     /* Actually bound. */
};

/*
 * Listen on listen_fd, a listening socket a service manager passed
 * (listen_socket.h), or when it is -1 on the configured address.  The
 * caller keeps base, settings, the pools and auth alive until
 * http_server_free.  Returns the server, or NULL with *cause set (the
 * caller frees it).
 */
struct http_server *http_server_new(struct event_base *base,
    const struct settings *settings, int listen_fd, struct db_pool *pool,
    struct db_pool *read_pool, struct auth *auth, char **cause)
    __attribute__((warn_unused_result));

/* Apply the settings' limits again, after a reload changed them. */
void http_server_apply_settings(struct http_server *s);

/* Stop accepting; the loop ends when the requests in flight are done. */
void http_server_drain(struct http_server *s);

/* mttd exits now (why: see request_log_unfinished): every request still
 * in flight gets its access line. */
void http_server_log_unfinished(struct http_server *s, const char *why);

/* Give the heap's free pages back to the system in a second (after a
 * large request, once libevent has freed its buffers too). */
void http_server_trim_soon(struct http_server *s);

/* Called by request_finish: one request less in flight. */
void http_server_request_done(struct http_server *s, struct request *r);

/*
 * Called just before an answer is queued on req, which still has its
 * connection: a drain waits until libevent has written it, or until the
 * connection failed under it.
 */
void http_server_reply_queued(
    struct http_server *s, struct evhttp_request *req);

/* Free the listener and the server. */
void http_server_free(struct http_server *s);

#endif /* MTTD_HTTP_SERVER_H */
