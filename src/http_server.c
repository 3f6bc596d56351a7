/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The evhttp listener.  Each request gets a context here, with the
 * client's address and a normalised path, and goes to the router; the
 * count of requests in flight lets a shutdown drain them.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/http.h>
#include <event2/http_struct.h>

#include "http_conn.h"
#include "http_server.h"
#include "log.h"
#include "login_limit.h"
#include "request.h"
#include "router.h"
#include "strbuf.h"

static const char *
http_server_method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

/* The first address of X-Forwarded-For, when the proxy is trusted. */
static void
http_server_client_addr(struct http_server *s, struct request *r)
{
	const char *xff = evhttp_find_header(
	    evhttp_request_get_input_headers(r->req), "X-Forwarded-For");
	size_t n;

	text_copy(r->client, sizeof r->client, r->peer);
	if (!s->settings->trust_forwarded_for || xff == NULL)
		return;
	xff += strspn(xff, " \t");
	n = strcspn(xff, ", \t");

	/* An IPv4 or IPv6 address only: the header is the client's text. */
	if (n > 0 && n < sizeof r->client &&
	    strspn(xff, "0123456789abcdefABCDEF.:") >= n) {
		memcpy(r->client, xff, n);
		r->client[n] = '\0';
	}
}

static void
http_server_request_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *s = arg;
	struct request *r = xcalloc(1, sizeof *r);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	r->server = s;
	r->req = req;
	r->id = ++s->next_id;
	gettimeofday(&r->started, NULL);
	r->method = http_server_method_name(evhttp_request_get_command(req));
	/*
	 * mttd is the server of every target it is sent.  libevent takes an
	 * absolute-form target ("GET http://host/status") whose host is no
	 * alias of its own for a request to proxy, and closes the connection
	 * after the answer without saying so.
	 */
	req->flags &= ~EVHTTP_PROXY_REQUEST;
	r->path = router_path_normalise(
	    evhttp_request_get_uri(req), s->settings->url_prefix);
	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &addr, &port);
	text_copy(r->peer, sizeof r->peer, addr ? addr : "unknown");
	http_server_client_addr(s, r);
	if (evcon != NULL)
		http_conns_request_read(s->conns, evcon);
	s->active++;
	TAILQ_INSERT_TAIL(&s->live, r, live_entry);
	log_debug("req=%llu %s %s from %s", (unsigned long long)r->id,
	    r->method, evhttp_request_get_uri(req), r->client);
	router_dispatch(r);
}

static int
http_server_bound_port(struct evhttp_bound_socket *bound)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(evhttp_bound_socket_get_fd(bound),
		(struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * A listener with SO_REUSEPORT, so that every worker process binds the
 * port and the kernel spreads connections over them.
 */
static struct evhttp_bound_socket *
http_server_bind_shared(struct http_server *s)
{
	struct evutil_addrinfo hints, *ai = NULL;
	struct evconnlistener *l = NULL;
	char port[16];

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE;
	snprintf(port, sizeof port, "%d", s->settings->socket_port);
	if (evutil_getaddrinfo(s->settings->socket_host, port, &hints, &ai) !=
	    0)
		return NULL;
	l = evconnlistener_new_bind(s->base, NULL, NULL,
	    LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE |
		LEV_OPT_CLOSE_ON_EXEC,
	    -1, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	return l == NULL ? NULL : evhttp_bind_listener(s->http, l);
}

void
http_server_apply_settings(struct http_server *s)
{
	const struct settings *st = s->settings;

	evhttp_set_max_body_size(s->http, (ev_ssize_t)st->max_body_size);
	evhttp_set_max_headers_size(s->http, (ev_ssize_t)st->max_header_size);

	/*
	 * evhttp's own timeout is one for reading and writing, and it
	 * restarts at every byte: mttd's clocks (http_conn) cut a request
	 * or an idle connection first, so it mostly ends stalled writes.
	 * It applies to connections accepted from now on.
	 */
	evhttp_set_timeout(s->http, http_conns_evhttp_timeout_s(st));
}

/*
 * accept() failing for a reason other than a client's (no descriptor
 * left in the process or the system, no memory) leaves the connection
 * queued and the socket readable: libevent tried again at every pass,
 * which took a core and wrote 400,000 warnings a second (break-it
 * helper 63).  Accepting pauses this long instead, the connections
 * waiting in the kernel's queue; it is said once, then every
 * ACCEPT_WARN_EVERY_S while it lasts, and when it ends.
 */
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_WARN_EVERY_S 10
/* Accepting works again once it went this long without failing. */
#define ACCEPT_WATCH_MS 1000

/*
 * The server whose listener it is: the error callback is handed the
 * listener's argument, which is evhttp's own.  A process has one server.
 */
static struct http_server *accept_owner;

/* The open-file limit in force, as text (an operator may lower it). */
static const char *
http_server_file_limit(char *buf, size_t size)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return "unknown";
	snprintf(buf, size, "%llu", (unsigned long long)rl.rlim_cur);
	return buf;
}

static void
http_server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct http_server *s = accept_owner;
	struct timeval pause = { 0, ACCEPT_PAUSE_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();
	time_t now = time(NULL);
	char limit[24];

	(void)arg;
	evconnlistener_disable(l);
	s->accept_paused = true;
	evtimer_add(s->accept_timer, &pause);
	s->accept_pauses++;
	if (s->accept_errno == 0) {
		s->accept_failed_at = s->accept_logged_at = now;
		s->accept_pauses = 0;
		log_warn("cannot accept connections: %s (open-file limit"
			 " %s); new connections wait in the listen queue,"
			 " tried again every %d ms",
		    strerror(err), http_server_file_limit(limit, sizeof limit),
		    ACCEPT_PAUSE_MS);
	} else if (now - s->accept_logged_at >= ACCEPT_WARN_EVERY_S) {
		log_warn("accept() still fails: %s (open-file limit %s; %lu"
			 " pauses of %d ms in %lld s, connections accepted"
			 " as descriptors come free)",
		    strerror(err), http_server_file_limit(limit, sizeof limit),
		    s->accept_pauses, ACCEPT_PAUSE_MS,
		    (long long)(now - s->accept_logged_at));
		s->accept_logged_at = now;
		s->accept_pauses = 0;
	}
	s->accept_errno = err;
}

/* The pause is over: accept again, and watch that it works. */
static void
http_server_accept_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *s = arg;
	struct timeval watch = { ACCEPT_WATCH_MS / 1000,
		(ACCEPT_WATCH_MS % 1000) * 1000 };

	(void)fd;
	(void)what;
	if (s->bound == NULL || s->draining)
		return;
	if (s->accept_paused) {
		s->accept_paused = false;
		evconnlistener_enable(
		    evhttp_bound_socket_get_listener(s->bound));
		evtimer_add(s->accept_timer, &watch);
		return;
	}
	log_info("accepting connections again, after %lld s",
	    (long long)(time(NULL) - s->accept_failed_at));
	s->accept_errno = 0;
}

static void
http_server_watch_accept(struct http_server *s)
{
	struct evconnlistener *l = evhttp_bound_socket_get_listener(s->bound);

	accept_owner = s;
	s->accept_timer = evtimer_new(s->base, http_server_accept_timer_cb, s);
	evconnlistener_set_error_cb(l, http_server_accept_error_cb);
}

/* Why listening failed: the name does not resolve, or the bind's errno. */
static char *
http_server_listen_problem(const struct settings *settings, int err)
{
	struct evutil_addrinfo hints, *ai = NULL;
	int rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE;
	rc = evutil_getaddrinfo(settings->socket_host, NULL, &hints, &ai);
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	if (rc != 0)
		return xasprintf("cannot listen on %s:%d: %s",
		    settings->socket_host, settings->socket_port,
		    evutil_gai_strerror(rc));
	return xasprintf("cannot listen on %s:%d: %s%s", settings->socket_host,
	    settings->socket_port, strerror(err),
	    err == EADDRINUSE ? " (another mttd, or another server, holds it)" :
		err == EADDRNOTAVAIL ? " (not an address of this host)" :
				       "");
}

struct http_server *
http_server_new(struct event_base *base, const struct settings *settings,
    int listen_fd, struct db_pool *pool, struct db_pool *read_pool,
    struct auth *auth, char **cause)
{
	struct http_server *s = xcalloc(1, sizeof *s);

	s->base = base;
	s->settings = settings;
	s->pool = pool;
	s->read_pool = read_pool;
	s->auth = auth;
	s->login_limit = login_limit_new();
	s->started = time(NULL);
	s->http = evhttp_new(base);
	http_server_apply_settings(s);
	s->conns = http_conns_new(base, s->http, settings);
	TAILQ_INIT(&s->live);
	evhttp_set_allowed_methods(s->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_PATCH);
	evhttp_set_gencb(s->http, http_server_request_cb, s);
	/*
	 * A passed socket is shared by every worker as it is: each closes
	 * its copy when it drains, and the service manager's copy keeps the
	 * connections that arrive meanwhile queued for the next mttd.
	 */
	if (listen_fd >= 0)
		s->bound = evhttp_accept_socket_with_handle(s->http, listen_fd);
	else if (settings->workers > 1)
		s->bound = http_server_bind_shared(s);
	else
		s->bound = evhttp_bind_socket_with_handle(s->http,
		    settings->socket_host, (ev_uint16_t)settings->socket_port);
	if (s->bound == NULL && listen_fd >= 0) {
		*cause = xstrdup("cannot accept connections on the socket"
				 " passed by the service manager");
		http_server_free(s);
		return NULL;
	}
	if (s->bound == NULL) {
		*cause = http_server_listen_problem(settings, errno);
		http_server_free(s);
		return NULL;
	}
	s->port = http_server_bound_port(s->bound);
	http_server_watch_accept(s);
	return s;
}

static void
http_server_maybe_stop(struct http_server *s)
{
	if (s->draining && s->active == 0 && s->sending == 0 &&
	    http_conns_arriving(s->conns) == 0)
		event_base_loopexit(s->base, NULL);
}

/*
 * One answer being written.  evhttp tells when it has left (on_complete)
 * but not when its connection failed under it (the request is then freed
 * with the connection): the connection's close callback covers that.
 */
struct http_server_reply {
	struct http_server *s;
	struct evhttp_connection *evcon;
};

static void
http_server_reply_over(struct http_server_reply *rep)
{
	struct http_server *s = rep->s;

	free(rep);
	s->sending--;
	http_server_maybe_stop(s);
}

static void
http_server_reply_sent_cb(struct evhttp_request *req, void *arg)
{
	struct http_server_reply *rep = arg;

	http_conns_on_close(rep->s->conns, rep->evcon, NULL, NULL);
	http_conns_answer_sent(rep->s->conns, rep->evcon);
	http_server_reply_over(rep);
}

static void
http_server_reply_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	http_server_reply_over(arg);
}

void
http_server_reply_queued(struct http_server *s, struct evhttp_request *req)
{
	struct http_server_reply *rep = xcalloc(1, sizeof *rep);

	rep->s = s;
	rep->evcon = evhttp_request_get_connection(req);
	s->sending++;
	evhttp_request_set_on_complete_cb(req, http_server_reply_sent_cb, rep);
	http_conns_on_close(
	    s->conns, rep->evcon, http_server_reply_closed_cb, rep);
}

static void
http_server_drain_limit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *s = arg;

	log_warn("drain: giving up after drain_timeout %d s on %d request(s)"
		 " still arriving, %d in flight and %d answer(s) not written",
	    s->settings->drain_timeout_s, http_conns_arriving(s->conns),
	    s->active, s->sending);
	http_server_log_unfinished(s, "the drain gave up");
	event_base_loopexit(s->base, NULL);
}

void
http_server_log_unfinished(struct http_server *s, const char *why)
{
	struct request *r;

	/* Each still gets its access line (a stream's answer is cut). */
	TAILQ_FOREACH(r, &s->live, live_entry)
	request_log_unfinished(r, why);
}

static void
http_server_drain_progress_cb(void *arg)
{
	http_server_maybe_stop(arg);
}

/* The listening socket, closed one loop pass after accepting stopped. */
static void
http_server_close_listener_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *s = arg;

	(void)fd;
	(void)what;
	if (s->bound != NULL) {
		evhttp_del_accept_socket(s->http, s->bound);
		s->bound = NULL;
	}
}

/*
 * Stop accepting, and close the listening socket only after the loop
 * has told the kernel (the epoll changelist applies changes when the
 * next pass begins, see main.c).  Closed at once, a socket that other
 * processes hold too (systemd's, the other workers' of a passed socket)
 * would stay in this process's epoll set with nothing to serve it: a
 * connection waiting in its queue woke the loop at every pass, and the
 * drain ran at 100% CPU.
 */
static void
http_server_stop_accepting(struct http_server *s)
{
	/* Not 0: libevent runs a zero timeout in the pass that sets it. */
	static const struct timeval next_pass = { 0, 1000 };

	if (s->bound == NULL)
		return;
	evconnlistener_disable(evhttp_bound_socket_get_listener(s->bound));
	if (event_base_once(s->base, -1, EV_TIMEOUT,
		http_server_close_listener_cb, s, &next_pass) != 0)
		http_server_close_listener_cb(-1, 0, s);
}

void
http_server_drain(struct http_server *s)
{
	struct timeval tv = { s->settings->drain_timeout_s, 0 };

	http_server_stop_accepting(s);
	s->draining = true;
	http_conns_drain(s->conns, http_server_drain_progress_cb, s);
	log_info("draining: %d request(s) in flight, %d answer(s) being"
		 " written",
	    s->active, s->sending);
	s->drain_timer = evtimer_new(s->base, http_server_drain_limit_cb, s);
	evtimer_add(s->drain_timer, &tv);
	http_server_maybe_stop(s);
}

void
http_server_request_done(struct http_server *s, struct request *r)
{
	TAILQ_REMOVE(&s->live, r, live_entry);
	s->active--;
	http_server_maybe_stop(s);
}

static void
http_server_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

void
http_server_trim_soon(struct http_server *s)
{
	static const struct timeval soon = { 1, 0 };

	if (s->trim_timer == NULL)
		s->trim_timer = evtimer_new(s->base, http_server_trim_cb, s);
	evtimer_add(s->trim_timer, &soon);
}

void
http_server_free(struct http_server *s)
{
	struct request *r;

	if (s == NULL)
		return;
	/*
	 * A request whose client left is detached from its connection and
	 * ours to free: the callback that would have (scheduled by the
	 * close) never runs when a second signal ends the loop in that
	 * pass, and evhttp_free no longer sees it.  Checked before
	 * evhttp_free, which frees every other request with its connection.
	 */
	TAILQ_FOREACH(r, &s->live, live_entry)
	{
		if (r->req != NULL &&
		    evhttp_request_get_connection(r->req) == NULL) {
			evhttp_request_free(r->req);
			r->req = NULL;
		}
	}
	/* Closing the connections still open calls into s->conns. */
	if (s->http != NULL)
		evhttp_free(s->http);
	/* Requests a drain gave up on, or a second signal cut. */
	while ((r = TAILQ_FIRST(&s->live)) != NULL) {
		TAILQ_REMOVE(&s->live, r, live_entry);
		request_free_unfinished(r);
	}
	http_conns_free(s->conns);
	if (s->drain_timer != NULL)
		event_free(s->drain_timer);
	if (s->trim_timer != NULL)
		event_free(s->trim_timer);
	if (s->accept_timer != NULL)
		event_free(s->accept_timer);
	if (accept_owner == s)
		accept_owner = NULL;
	login_limit_free(s->login_limit);
	free(s);
}
