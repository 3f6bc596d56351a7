/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client connections: how many are open, how long each may sit idle
 * between requests or take to send one, and the answers libevent writes
 * by itself before mttd sees a request, which this module puts in the
 * access log.
 */
#ifndef MTTD_HTTP_CONN_H
#define MTTD_HTTP_CONN_H

#include <stdbool.h>

#include <event2/event.h>
#include <event2/http.h>

#include "settings.h"

struct http_conns;

/* What a close hook gets: the connection going down and its argument. */
typedef void (*http_conn_close_cb)(struct evhttp_connection *, void *);

/*
 * Watch every connection http accepts from now on.  settings stays the
 * caller's and is read at each use, so a reload applies.  Free with
 * http_conns_free before http.
 */
struct http_conns *http_conns_new(
    struct event_base *base, struct evhttp *http, const struct settings *s);

/* Free the watcher; connections still open are evhttp_free's. */
void http_conns_free(struct http_conns *c);

/*
 * Stopping: close the connections waiting for a request now.  A request
 * already on its way (arriving, or unread in the kernel) is waited for
 * and served; cb(arg) runs when one of those goes away unserved, so the
 * caller can see whether the drain is over.  Later requests on open
 * connections get 503 (http_server).
 */
void http_conns_drain(struct http_conns *c, void (*cb)(void *arg), void *arg);

/* While draining: requests on their way that have not arrived yet. */
int http_conns_arriving(const struct http_conns *c);

/*
 * The inactivity timeout to give evhttp: past mttd's own clocks, so that
 * they decide (evhttp's restarts at every byte).
 */
int http_conns_evhttp_timeout_s(const struct settings *s);

/*
 * While draining: true once for a connection whose request was on its
 * way when the drain began (it is served; later ones get 503).
 */
bool http_conns_drain_admits(
    struct http_conns *c, struct evhttp_connection *evcon);

/* The number of client connections open now. */
int http_conns_open(const struct http_conns *c);

/* mttd has been given the request read on evcon: its clock stops. */
void http_conns_request_read(
    struct http_conns *c, struct evhttp_connection *evcon);

/*
 * While mttd makes the answer to the request read on evcon, see the
 * client's close too: libevent looks for it only once an answer is being
 * written, and then, as here, closes the connection and detaches the
 * request (evhttp_request_get_connection gives NULL).  For read-only
 * requests whose answer may take long to make (queries): a client that
 * half-closes after sending is taken as gone.
 */
void http_conns_watch_close(
    struct http_conns *c, struct evhttp_connection *evcon);

/* The answer on evcon has been written: the idle clock starts. */
void http_conns_answer_sent(
    struct http_conns *c, struct evhttp_connection *evcon);

/*
 * Call cb(evcon, arg) if evcon closes, until this is called again for
 * it (cb NULL: no more).  One hook per connection, as evhttp's own.
 */
void http_conns_on_close(struct http_conns *c, struct evhttp_connection *evcon,
    http_conn_close_cb cb, void *arg);

#endif /* MTTD_HTTP_CONN_H */
