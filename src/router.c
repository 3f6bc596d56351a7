/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Routing and the checks in front of every handler, in the order a
 * client's mistakes are best reported: path, method, credentials,
 * content type, body.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "handlers.h"
#include "http_conn.h"
#include "http_server.h"
#include "log.h"
#include "login_limit.h"
#include "router.h"
#include "strbuf.h"

static const struct route *const routes[] = { &route_root, &route_status,
	&route_serial, &route_submit, &route_fields, &route_detail,
	&route_summary, &route_info_testsuite, &route_info_runtime, NULL };

const struct route *
router_find(const char *path)
{
	int i;

	for (i = 0; routes[i] != NULL; i++) {
		if (strcmp(routes[i]->path, path) == 0)
			return routes[i];
	}
	return NULL;
}

/* The endpoint path ends in after some prefix, or NULL ("/" excluded). */
static const char *
router_endpoint_suffix(const char *path)
{
	size_t n = strlen(path), k;
	int i;

	for (i = 0; routes[i] != NULL; i++) {
		k = strlen(routes[i]->path);
		if (k > 1 && n > k &&
		    strcmp(path + n - k, routes[i]->path) == 0)
			return routes[i]->path;
	}
	return NULL;
}

/*
 * 404.  A path that ends in an endpoint (the real client's
 * /submit/cpy/api/serial) most likely wants [server] url_prefix: say so.
 */
static void
router_reply_404(struct request *r)
{
	const char *end = router_endpoint_suffix(r->path);

	if (end == NULL)
		reply_error(r, 404, -1, "no such path: %s", r->path);
	else
		reply_error(r, 404, -1,
		    "no such path: %s (it ends in the endpoint %s: is"
		    " [server] url_prefix set to what comes before it?)",
		    r->path, end);
}

char *
router_path_normalise(const char *uri, const char *prefix)
{
	struct strbuf sb;
	size_t plen = strlen(prefix);
	const char *p;

	/* The absolute form (a request sent as to a proxy) is served too, as
	 * RFC 9112 asks: its scheme and host are dropped. */
	p = uri;
	if (strncasecmp(p, "http://", 7) == 0)
		p += 7;
	else if (strncasecmp(p, "https://", 8) == 0)
		p += 8;
	if (p != uri)
		p += strcspn(p, "/?#");

	/* Fold runs of slashes; stop at the query or fragment. */
	strbuf_setup(&sb);
	strbuf_adds(&sb, "/");
	for (; *p != '\0' && *p != '?' && *p != '#'; p++) {
		if (*p == '/' && sb.data[sb.len - 1] == '/')
			continue;
		strbuf_add(&sb, p, 1);
	}
	if (sb.len > 1 && sb.data[sb.len - 1] == '/')
		sb.data[--sb.len] = '\0';

	/* Drop the prefix when the path starts with it, unless the path is
	 * an endpoint's own (a prefix "/submit" leaves "/submit" the
	 * endpoint: paths without the prefix are served too). */
	if (plen > 0 && strncmp(sb.data, prefix, plen) == 0 &&
	    (sb.data[plen] == '/' || sb.data[plen] == '\0') &&
	    router_find(sb.data) == NULL) {
		memmove(sb.data, sb.data + plen, sb.len - plen + 1);
		sb.len -= plen;
		if (sb.len == 0)
			strbuf_adds(&sb, "/");
	}
	return strbuf_take(&sb);
}

/* The largest body of a request for rt (NULL: no endpoint's). */
static size_t
router_route_body_limit(
    const struct settings *s, const struct route *rt, const char **key)
{
	if (rt == &route_submit || s->max_query_body_size >= s->max_body_size) {
		*key = "max_body_size";
		return s->max_body_size;
	}
	*key = "max_query_body_size";
	return s->max_query_body_size;
}

size_t
router_body_limit(
    const struct settings *s, const char *target, const char **key)
{
	char *path = router_path_normalise(target, s->url_prefix);
	const struct route *rt = router_find(path);

	free(path);
	return router_route_body_limit(s, rt, key);
}

bool
router_is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof want - 1;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static unsigned
router_method_bit(const struct request *r)
{
	switch (evhttp_request_get_command(r->req)) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		return ROUTE_GET;
	case EVHTTP_REQ_POST:
		return ROUTE_POST;
	default:
		return 0;
	}
}

static void
router_reply_405(struct request *r, const struct route *rt)
{
	const char *allow = "GET, HEAD, POST, OPTIONS";

	if (rt->methods == ROUTE_POST)
		allow = "POST, OPTIONS";
	else if (rt->methods == ROUTE_GET)
		allow = "GET, HEAD, OPTIONS";

	evhttp_add_header(
	    evhttp_request_get_output_headers(r->req), "Allow", allow);
	reply_error(r, 405, -1, "method %s is not allowed on %s (allowed: %s)",
	    r->method, r->path, allow);
}

static void
router_reply_401(struct request *r, const char *why)
{
	struct http_server *s = r->server;
	char challenge[300];

	snprintf(challenge, sizeof challenge, "Basic realm=\"%s\"",
	    s->settings->realm);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "WWW-Authenticate", challenge);
	reply_error(r, 401, -1, "authentication required: %s", why);
}

static const char *
router_auth_problem(enum auth_result res)
{
	switch (res) {
	case AUTH_MISSING:
		return "no Authorization header";
	case AUTH_MALFORMED:
		return "malformed Authorization header";
	default:
		return "wrong user name or password";
	}
}

/* 429: the client's address spent its failed logins of the minute. */
static void
router_reply_429(struct request *r, int wait)
{
	char seconds[16];

	/* Once an address's window at warning level: a guesser would
	 * otherwise fill the log. */
	if (login_limit_first_wait(r->server->login_limit, r->client))
		log_warn("req=%llu password not checked: %d failed logins"
			 " from client=%s within a minute; its later tries"
			 " until the minute ends are logged at DEBUG (and"
			 " in the access log)",
		    (unsigned long long)r->id,
		    r->server->settings->max_failed_logins, r->client);
	else
		log_debug("req=%llu password not checked: client=%s waits"
			  " %d s",
		    (unsigned long long)r->id, r->client, wait);
	r->user[0] = '\0';
	snprintf(seconds, sizeof seconds, "%d", wait);
	evhttp_add_header(
	    evhttp_request_get_output_headers(r->req), "Retry-After", seconds);
	reply_error(r, 429, -1,
	    "too many failed logins from %s ([auth] max_failed_logins):"
	    " passwords are checked again in"
	    " %d s",
	    r->client, wait);
}

/*
 * htpasswd mode.  An address that failed max_failed_logins times within
 * its minute gets 429 for every credential: a verified one too, since
 * answering those 200 and every other guess a quick 429 would let it
 * test guesses against the passwords of users who logged in lately,
 * faster than any hash allows (break-it helper 31), and a refused one,
 * since the refused cache is every address's and a 401 would tell it
 * which guesses others failed with (helper 33).  Otherwise a credential
 * judged before costs nothing, a new one a hash (*judged is then true).
 * False once the 429 is answered.
 */
static bool
router_check_password(
    struct request *r, const char *h, enum auth_result *res, bool *judged)
{
	struct http_server *s = r->server;
	struct timespec mono;
	time_t now;
	int wait;

	/* Windows go by the monotonic clock: a clock set back an hour
	 * would otherwise make a minute's wait an hour's. */
	clock_gettime(CLOCK_MONOTONIC, &mono);
	now = mono.tv_sec;
	*judged = false;
	*res = auth_check_cached(s->auth, h, r->user);
	if (*res == AUTH_MISSING || *res == AUTH_MALFORMED)
		return true;
	wait = login_limit_wait(
	    s->login_limit, r->client, s->settings->max_failed_logins, now);
	if (wait > 0) {
		router_reply_429(r, wait);
		return false;
	}
	if (*res != AUTH_UNJUDGED)
		return true;
	*res = auth_judge(s->auth, h, r->user);
	*judged = true;
	if (*res == AUTH_WRONG)
		login_limit_failed(s->login_limit, r->client, now);
	return true;
}

/* Credentials: checked in htpasswd mode, trusted in proxy mode. */
static bool
router_authenticate(struct request *r)
{
	const char *h = evhttp_find_header(
	    evhttp_request_get_input_headers(r->req), "Authorization");
	enum auth_result res;
	bool judged = false;

	if (r->server->auth == NULL)
		res = auth_proxy_user(h, r->user);
	else if (!router_check_password(r, h, &res, &judged))
		return false;
	if (res == AUTH_OK)
		return true;
	/* A warning for a failure that cost a hash (the budget bounds
	 * those); a refusal repeated from the cache, or a malformed header,
	 * costs nothing and may come in floods: DEBUG. */
	if (judged)
		log_warn("req=%llu login failed (%s): user=%s client=%s",
		    (unsigned long long)r->id, router_auth_problem(res),
		    r->user, r->client);
	else if (res != AUTH_MISSING)
		log_debug("req=%llu login failed (%s): user=%s client=%s",
		    (unsigned long long)r->id, router_auth_problem(res),
		    res == AUTH_WRONG ? r->user : "-", r->client);
	r->user[0] = '\0';
	router_reply_401(r, router_auth_problem(res));
	return false;
}

/*
 * A query's body over max_query_body_size (a chunked one, or one the
 * connection's head scan did not see) is refused before it is parsed.
 */
static bool
router_body_fits(struct request *r, const struct route *rt)
{
	size_t len = evbuffer_get_length(
	    evhttp_request_get_input_buffer(r->req));
	const char *key;
	size_t limit = router_route_body_limit(r->server->settings, rt, &key);

	if (len <= limit)
		return true;
	reply_error(r, 413, -1,
	    "request body of %zu bytes is larger than %s (%zu bytes)", len, key,
	    limit);
	return false;
}

/* Parse the POST body; false once an error has been answered. */
static bool
router_read_body(struct request *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	const char *ct = evhttp_find_header(
	    evhttp_request_get_input_headers(r->req), "Content-Type");
	enum json_doc_error err;
	char *cause = NULL;

	if (!router_is_json_type(ct)) {
		reply_error(r, 415, -1,
		    "Content-Type must be application/json"
		    " (got %s)",
		    ct ? ct : "none");
		return false;
	}
	r->body_len = len;
	r->body = json_doc_parse((const char *)evbuffer_pullup(in, -1), len,
	    ROUTER_MAX_JSON_DEPTH, &err, &cause);
	/* The tree holds copies of every string: the body's bytes are not
	 * needed again, and a large submission needs the memory. */
	evbuffer_drain(in, len);
	if (r->body == NULL) {
		reply_error(r, 400, -1, "the body is not valid JSON: %s",
		    cause ? cause : "parse error");
		free(cause);
		return false;
	}
	if (r->body->type != JSON_OBJECT) {
		reply_error(r, 400, -1,
		    "the body must be a JSON object, got"
		    " %s",
		    json_type_name(r->body->type));
		return false;
	}
	return true;
}

/*
 * Refuse a request whose framing a proxy in front could read otherwise
 * than libevent did (request smuggling), and close its connection: the
 * bytes after it are unframed.
 */
static void
router_refuse_framing(struct request *r, int http_code, const char *message)
{
	evhttp_add_header(
	    evhttp_request_get_output_headers(r->req), "Connection", "close");
	reply_error(r, http_code, -1, "%s", message);
}

/* RFC 9110's token: what a header name may be made of. */
static bool
router_is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) &&
		    strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			return false;
	}
	return true;
}

/* A header value without the blanks and tabs around it (RFC 9110's
 * optional white space): where it starts, and its length in *len. */
static const char *
router_trim(const char *value, size_t *len)
{
	size_t n;

	value += strspn(value, " \t");
	n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	*len = n;
	return value;
}

/* A Content-Length as RFC 9110 spells it: digits only. */
static bool
router_is_digits(const char *s, size_t len)
{
	return len > 0 && strspn(s, "0123456789") >= len;
}

/* Its digits without leading zeros ("0" for zero), as len bytes. */
static const char *
router_significant(const char *digits, size_t *len)
{
	while (*len > 1 && *digits == '0') {
		digits++;
		(*len)--;
	}
	return digits;
}

/* True when the last coding of a Transfer-Encoding value is chunked. */
static bool
router_ends_chunked(const char *value, size_t len)
{
	const char *last = value + len;
	size_t n;

	while (last > value && last[-1] != ',')
		last--;
	last += strspn(last, " \t");
	n = strcspn(last, " \t;");
	return n == 7 && strncasecmp(last, "chunked", 7) == 0;
}

/*
 * A Transfer-Encoding other than one header of "chunked" alone that
 * libevent read as chunked: 400 when the body's end is unknown (the last
 * coding is not chunked, or libevent read no body: it takes only its
 * own spelling of chunked, and none on a HEAD), 501 for a coding mttd
 * cannot undo ("gzip, chunked").  0 when there is none of either.
 */
static int
router_transfer_coding_refusal(
    struct request *r, struct evkeyvalq *in, char *message, size_t size)
{
	/* libevent marks a HEAD's chunked too, but reads no HEAD body. */
	bool read_chunked = r->req->chunked &&
	    evhttp_request_get_command(r->req) != EVHTTP_REQ_HEAD;
	const char *last = NULL;
	char codings[128] = "";
	struct evkeyval *kv;
	size_t len = 0, n = 0;
	int headers = 0;

	TAILQ_FOREACH(kv, in, next)
	{
		if (strcasecmp(kv->key, "Transfer-Encoding") != 0)
			continue;
		headers++;
		last = router_trim(kv->value, &n);
		if (len < sizeof codings)
			len += (size_t)snprintf(codings + len,
			    sizeof codings - len, "%s%.*s",
			    headers > 1 ? ", " : "", (int)n, last);
	}
	if (headers == 0 ||
	    (headers == 1 && n == 7 && strncasecmp(last, "chunked", 7) == 0 &&
		read_chunked))
		return 0;
	if (!router_ends_chunked(last, n) || !read_chunked) {
		snprintf(message, size,
		    "Transfer-Encoding '%s' does not end in chunked, or was not"
		    " read as chunked, so the body's end is unknown",
		    codings);
		return 400;
	}
	snprintf(message, size,
	    "Transfer-Encoding '%s' is not supported: send the body plain,"
	    " or chunked alone",
	    codings);
	return 501;
}

/*
 * True when libevent read the body a Content-Length of digits (len
 * bytes, without leading zeros) declares.  It reads none for a HEAD,
 * whatever the header says: those bytes would be the next request.
 */
static bool
router_body_read(const struct request *r, const char *digits, size_t len)
{
	size_t got = evbuffer_get_length(
	    evhttp_request_get_input_buffer(r->req));
	char text[24];

	if (len >= sizeof text)
		return false;
	snprintf(text, sizeof text, "%zu", got);
	return strlen(text) == len && memcmp(text, digits, len) == 0;
}

/*
 * RFC 9112: an HTTP/1.0 message with Transfer-Encoding has faulty
 * framing, so its connection closes after it.  Its keep-alive is taken
 * back (every Connection header), or libevent would say both.
 */
static void
router_close_after_http10_coding(struct request *r, struct evkeyvalq *in)
{
	if (r->req->minor != 0 ||
	    evhttp_find_header(in, "Transfer-Encoding") == NULL)
		return;
	while (evhttp_remove_header(in, "Connection") == 0)
		continue;
	evhttp_add_header(
	    evhttp_request_get_output_headers(r->req), "Connection", "close");
}

/*
 * The header names and Content-Length values of a request: 0 when they
 * frame it one way, else 400 with message set.  The digits of its
 * Content-Length, leading zeros aside, go to *digits and *digits_len
 * (NULL when it has none).
 */
static int
router_length_refusal(struct evkeyvalq *in, const char **digits,
    size_t *digits_len, char *message, size_t size)
{
	const char *value, *d;
	struct evkeyval *kv;
	size_t len, n;

	*digits = NULL;
	*digits_len = 0;
	TAILQ_FOREACH(kv, in, next)
	{
		if (!router_is_token(kv->key)) {
			snprintf(message, size,
			    "header name '%.64s' is not a token (no blank may"
			    " come before its colon)",
			    kv->key);
			return 400;
		}
		if (strcasecmp(kv->key, "Content-Length") != 0)
			continue;
		value = router_trim(kv->value, &len);
		if (!router_is_digits(value, len)) {
			snprintf(message, size,
			    "Content-Length '%.*s' is not a number of bytes"
			    " (digits only)",
			    (int)(len < 64 ? len : 64), value);
			return 400;
		}
		n = len;
		d = router_significant(value, &n);
		if (*digits == NULL) {
			*digits = d;
			*digits_len = n;
		} else if (n != *digits_len || memcmp(d, *digits, n) != 0) {
			snprintf(message, size,
			    "conflicting Content-Length headers (%.*s and"
			    " %.*s)",
			    (int)(*digits_len < 64 ? *digits_len : 64), *digits,
			    (int)(n < 64 ? n : 64), d);
			return 400;
		}
	}
	return 0;
}

/*
 * The checks of a request's framing, after libevent read it.  Two
 * Content-Length headers that differ, one that is not digits, a header
 * name with a blank or another byte no name has ("Content-Length : 5",
 * which libevent does not take for Content-Length), a Transfer-Encoding
 * other than chunked, a declared body libevent did not read (a HEAD's):
 * each leaves the body's end to whichever a proxy or libevent believes.
 * libevent itself refuses Content-Length with Transfer-Encoding.  Values
 * are compared whole, leading zeros aside: a proxy reads them so.
 */
static bool
router_framing_ok(struct request *r)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
	const char *digits;
	char message[320];
	size_t len;
	int code;

	code = router_length_refusal(
	    in, &digits, &len, message, sizeof message);
	if (code == 0 && digits != NULL && !router_body_read(r, digits, len)) {
		snprintf(message, sizeof message,
		    "a %s request's body is not read here (Content-Length"
		    " %.*s given)",
		    r->method, (int)(len < 64 ? len : 64), digits);
		code = 400;
	}
	if (code == 0)
		code = router_transfer_coding_refusal(
		    r, in, message, sizeof message);
	if (code != 0) {
		router_refuse_framing(r, code, message);
		return false;
	}
	router_close_after_http10_coding(r, in);
	return true;
}

void
router_dispatch(struct request *r)
{
	const struct route *rt;
	unsigned m;

	if (!router_framing_ok(r))
		return;

	/* A request that came after SIGTERM on a kept-alive connection. */
	if (r->server->draining &&
	    !http_conns_drain_admits(
		r->server->conns, evhttp_request_get_connection(r->req))) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Retry-After", "1");
		reply_error(r, 503, -2, "mttd is shutting down; try again");
		return;
	}

	if (evhttp_request_get_command(r->req) == EVHTTP_REQ_OPTIONS) {
		struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

		evhttp_add_header(h, "Access-Control-Allow-Headers",
		    "Content-Type, Authorization");
		evhttp_add_header(h, "Access-Control-Allow-Methods", "*");
		request_reply_empty(r, 200);
		return;
	}
	if ((rt = router_find(r->path)) == NULL) {
		router_reply_404(r);
		return;
	}
	m = router_method_bit(r);
	if (!(rt->methods & m)) {
		router_reply_405(r, rt);
		return;
	}
	if (m == ROUTE_POST && !router_body_fits(r, rt))
		return;
	if (!(rt->public_methods & m) && !router_authenticate(r))
		return;
	if (m == ROUTE_POST) {
		if (router_read_body(r))
			rt->post(r);
		return;
	}
	rt->get(r);
}
