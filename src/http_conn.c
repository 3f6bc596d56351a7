/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client connections.  evhttp 2.1 has no hook for a new connection, none
 * for the answers it writes itself, and one inactivity timeout for
 * everything; but it lets the server make each connection's bufferevent.
 * So that bufferevent is made here, adopted with its evhttp connection as
 * soon as evhttp has set it up, and watched through its buffers: bytes in
 * start the request clock, libevent's own answers show in the output,
 * and evhttp's close callback (which this module owns) ends the watch.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "http_conn.h"
#include "log.h"
#include "router.h"
#include "strbuf.h"

/* Where the head scan is in the request's first X-Forwarded-For. */
enum http_conn_forwarded {
	HTTP_CONN_FORWARDED_UNSEEN,
	HTTP_CONN_FORWARDED_READING, /* Its first address. */
	HTTP_CONN_FORWARDED_READ,    /* forwarded holds it ("": not one). */
};

/* Where a connection is between requests and during one. */
enum http_conn_state {
	/* New, or between requests: no byte of the next request yet. */
	HTTP_CONN_IDLE,
	/* A request is arriving; libevent reads and parses it. */
	HTTP_CONN_READING,
	/* mttd has the request, until its answer has been written. */
	HTTP_CONN_HANDLING,
	/* Refused, by libevent's own answer or by mttd's: closing. */
	HTTP_CONN_REFUSED,
};

struct http_conn {
	struct http_conns *owner;
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *input_watch;
	struct evbuffer_cb_entry *output_watch;
	struct event *timer; /* Idle or request clock. */
	/* When the state is to be looked at, and when the timer, if armed,
	 * fires (no later: see http_conn_arm_lazy); monotonic. */
	struct timeval due;
	struct timeval fires;
	bool armed;
	enum http_conn_state state;
	struct timeval since;	/* When the state began. */
	struct timeval last_in; /* When the last request byte came. */
	size_t bytes_in;	/* Of the request arriving. */
	bool line_seen;		/* Its first line is in method and path. */
	/* Its body's limit, by its target's path; key NULL: not known. */
	size_t body_limit;
	const char *body_limit_key;
	char method[16]; /* Of the request arriving, as far as known. */
	char path[128];
	char peer[64];
	size_t head_line_len;  /* Bytes of the header line being scanned. */
	size_t head_lines;     /* Lines seen, the request line too. */
	const char *head_name; /* The name the line may have, once known. */
	size_t head_name_at;   /* Of head_name matched; SIZE_MAX: not it. */
	long long head_value;  /* Content-Length's digits so far, or -1. */
	bool head_value_cut;   /* Digits past HTTP_CONN_CL_MAX not added. */
	bool head_done;	       /* Its blank line seen: the body follows. */
	bool head_cr;	       /* A CR came last: a line end if LF follows. */
	long long content_length; /* Largest Content-Length seen, or -1. */
	bool content_length_cut;  /* It is more than it says. */
	/* The first X-Forwarded-For's first address, as far as read. */
	enum http_conn_forwarded forwarded_state;
	size_t forwarded_len;
	char forwarded[64];
	int refusal;	  /* Code to answer at the next turn; -1: lingering. */
	int own_status;	  /* Code of libevent's own answer, or 0. */
	size_t own_bytes; /* Its bytes so far. */
	/* Bytes written to the socket, and how many the client had taken
	 * (written less what the kernel still holds) at the answer clock's
	 * last look. */
	unsigned long long bytes_out;
	unsigned long long taken_mark;
	struct timeval taken_at; /* When taken_mark last moved. */
	long own_ms;		 /* When it began, in ms of the request. */
	bool used;		 /* A request was read from it. */
	bool drain_admit; /* Its request was on its way when draining began. */
	bool drain_counted; /* ...and the drain waits for it to arrive. */
	http_conn_close_cb close_cb;
	void *close_arg;
	struct http_conn *next; /* In its hash bucket. */
};

/* During a drain, a new connection's first byte is waited for this long. */
#define HTTP_CONN_DRAIN_FIRST_BYTE_MS 1000

struct http_conns {
	struct event_base *base;
	const struct settings *settings;
	struct event *adopt_ev;	      /* Adopts the pending bufferevents. */
	struct bufferevent **pending; /* Made for evhttp, not adopted yet. */
	size_t npending, pending_cap;
	struct http_conn **buckets; /* By evhttp connection. */
	size_t nbuckets;	    /* A power of two. */
	int open;
	int drain_waiting; /* Requests on their way when draining began. */
	void (*drain_cb)(void *); /* Told when one of them went away. */
	void *drain_arg;
	time_t over_limit_logged; /* When max_connections was last logged. */
	unsigned long over_limit_count; /* Refused since then. */
};

static const char *
http_conn_state_name(enum http_conn_state st)
{
	switch (st) {
	case HTTP_CONN_IDLE:
		return "idle";
	case HTTP_CONN_READING:
		return "reading";
	case HTTP_CONN_HANDLING:
		return "handling";
	case HTTP_CONN_REFUSED:
		return "refused";
	}
	return "?";
}

/* The hash table of connections, keyed by evhttp connection. */

static size_t
http_conns_slot(const struct http_conns *c, const void *evcon)
{
	uint64_t h = (uint64_t)(uintptr_t)evcon * 0x9E3779B97F4A7C15ULL;

	return (size_t)(h >> 32) & (c->nbuckets - 1);
}

static void
http_conns_grow(struct http_conns *c)
{
	size_t old_n = c->nbuckets, i;
	struct http_conn **old = c->buckets, *conn, *next;

	c->nbuckets = old_n * 2;
	c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
	for (i = 0; i < old_n; i++) {
		for (conn = old[i]; conn != NULL; conn = next) {
			next = conn->next;
			conn->next =
			    c->buckets[http_conns_slot(c, conn->evcon)];
			c->buckets[http_conns_slot(c, conn->evcon)] = conn;
		}
	}
	free(old);
}

static void
http_conns_insert(struct http_conns *c, struct http_conn *conn)
{
	size_t slot;

	if ((size_t)c->open >= c->nbuckets)
		http_conns_grow(c);
	slot = http_conns_slot(c, conn->evcon);
	conn->next = c->buckets[slot];
	c->buckets[slot] = conn;
	c->open++;
}

static void
http_conns_remove(struct http_conns *c, struct http_conn *conn)
{
	struct http_conn **p = &c->buckets[http_conns_slot(c, conn->evcon)];

	while (*p != NULL && *p != conn)
		p = &(*p)->next;
	if (*p == conn) {
		*p = conn->next;
		c->open--;
	}
}

static struct http_conn *
http_conns_lookup(const struct http_conns *c, const void *evcon)
{
	struct http_conn *conn = c->buckets[http_conns_slot(c, evcon)];

	while (conn != NULL && conn->evcon != evcon)
		conn = conn->next;
	return conn;
}

/* Clocks and states. */

static long
http_conn_ms_since(const struct timeval *then)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (now.tv_sec - then->tv_sec) * 1000L +
	    (now.tv_usec - then->tv_usec) / 1000L;
}

static long
http_conn_elapsed_ms(const struct http_conn *conn)
{
	return http_conn_ms_since(&conn->since);
}

static void
http_conn_set_state(struct http_conn *conn, enum http_conn_state st)
{
	log_debug("peer=%s %s -> %s", conn->peer,
	    http_conn_state_name(conn->state), http_conn_state_name(st));
	conn->state = st;
	gettimeofday(&conn->since, NULL);
}

static void
http_conn_clock_now(struct timeval *now)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now->tv_sec = ts.tv_sec;
	now->tv_usec = ts.tv_nsec / 1000;
}

/* Look at the connection's state in ms. */
static void
http_conn_arm_ms(struct http_conn *conn, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 }, now;

	http_conn_clock_now(&now);
	evutil_timeradd(&now, &tv, &conn->due);
	conn->fires = conn->due;
	conn->armed = true;
	evtimer_add(conn->timer, &tv);
}

/*
 * The same for the clocks every request moves (idle, reading, making the
 * answer): a timer armed to fire no later is left as it is, and the
 * callback, finding the state not due yet, arms it again for the rest.
 * Under steady requests a connection then changes no timer per request.
 */
static void
http_conn_arm_lazy(struct http_conn *conn, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 }, now;

	http_conn_clock_now(&now);
	evutil_timeradd(&now, &tv, &conn->due);
	if (conn->armed && !evutil_timercmp(&conn->fires, &conn->due, >))
		return;
	conn->fires = conn->due;
	conn->armed = true;
	evtimer_add(conn->timer, &tv);
}

/* Milliseconds until the state is due, rounded up; 0 when it is. */
static long
http_conn_due_in_ms(const struct http_conn *conn)
{
	struct timeval now, left;

	http_conn_clock_now(&now);
	if (!evutil_timercmp(&now, &conn->due, <))
		return 0;
	evutil_timersub(&conn->due, &now, &left);
	return left.tv_sec * 1000L + (left.tv_usec + 999) / 1000;
}

/*
 * Milliseconds the request arriving may still take: request_timeout,
 * and one more second for each min_request_rate bytes already received,
 * so a large upload on a slow link goes on while a trickle is cut; and
 * never request_timeout without a byte.
 */
static long
http_conn_reading_left_ms(const struct http_conn *conn)
{
	const struct settings *s = conn->owner->settings;
	long allowed = s->request_timeout_s * 1000L, quiet_left;

	if (s->min_request_rate > 0)
		allowed += (long)(conn->bytes_in * 1000 / s->min_request_rate);
	allowed -= http_conn_elapsed_ms(conn);
	quiet_left = s->request_timeout_s * 1000L -
	    http_conn_ms_since(&conn->last_in);
	return quiet_left < allowed ? quiet_left : allowed;
}

/* Copy a request token for the log: printable, no spaces, cut to fit. */
static void
http_conn_copy_token(char *dst, size_t size, const char *src, size_t len)
{
	size_t i;

	if (len >= size)
		len = size - 1;
	for (i = 0; i < len; i++)
		dst[i] = (src[i] > ' ' && src[i] < 0x7f) ? src[i] : '?';
	dst[len] = '\0';
}

/*
 * The body's limit of the request whose target is the len bytes at
 * target, ended (a blank or line end follows) or cut where the copy of
 * the line ends.  A path is known whole up to its query or fragment
 * even when the target is cut after them (break-it helper 58: the
 * path's 127-byte log copy was used, and a long query string left only
 * the router's check, after the body was read).
 */
static void
http_conn_note_body_limit(
    struct http_conn *conn, char *target, size_t len, bool ended)
{
	if (!ended && memchr(target, '?', len) == NULL &&
	    memchr(target, '#', len) == NULL) {
		conn->body_limit_key = NULL;
		return;
	}
	target[len] = '\0';
	conn->body_limit = router_body_limit(
	    conn->owner->settings, target, &conn->body_limit_key);
}

/*
 * Keep the method and path of the request arriving, for the access line
 * of an answer libevent writes or a timeout: libevent keeps neither for
 * a request it refuses.  Read from the buffer before libevent parses it.
 */
static void
http_conn_note_request_line(struct http_conn *conn, struct evbuffer *buf)
{
	char line[256];
	ev_ssize_t n = evbuffer_copyout(buf, line, sizeof line - 1);
	size_t m, p;

	if (n <= 0)
		return;
	line[n] = '\0';
	m = strcspn(line, " \r\n");
	p = m < (size_t)n ? strcspn(line + m + 1, " \r\n") : 0;
	http_conn_copy_token(conn->method, sizeof conn->method, line, m);
	http_conn_copy_token(conn->path, sizeof conn->path,
	    m < (size_t)n ? line + m + 1 : "", p);
	conn->line_seen = strchr(line, '\n') != NULL || n == sizeof line - 1;
	if (m < (size_t)n)
		http_conn_note_body_limit(
		    conn, line + m + 1, p, m + 1 + p < (size_t)n);
}

/*
 * The request head is scanned as it arrives, for two things.  A
 * Content-Length over max_body_size is refused with mttd's JSON 413
 * before the body is read (libevent would answer with its HTML page, or
 * with 100 Continue first).  libevent still parses the head itself; the
 * scan reads the value as libevent's strtoll does (blanks, a '+', any
 * number of digits), byte by byte, so no line is too long for it.  The
 * first X-Forwarded-For's first address is kept for what mttd logs of
 * a request it answers itself (the 413, a 408) with
 * trust_forwarded_for, read as http_server.c reads it from libevent's
 * headers.
 */
static const char http_conn_cl_name[] = "content-length:";
static const char http_conn_xff_name[] = "x-forwarded-for:";
/* Digits past this are not added: the value is only compared. */
#define HTTP_CONN_CL_MAX (1LL << 50)

static void
http_conn_head_reset(struct http_conn *conn)
{
	conn->head_line_len = 0;
	conn->head_lines = 0;
	conn->head_name = NULL;
	conn->head_name_at = 0;
	conn->head_value = -1;
	conn->head_value_cut = false;
	conn->head_done = false;
	conn->head_cr = false;
	conn->body_limit_key = NULL;
	conn->content_length = -1;
	conn->content_length_cut = false;
	conn->forwarded_state = HTTP_CONN_FORWARDED_UNSEEN;
	conn->forwarded_len = 0;
	conn->forwarded[0] = '\0';
}

/* The address mttd logs for the connection's current request. */
static const char *
http_conn_client(const struct http_conn *conn)
{
	if (conn->owner->settings->trust_forwarded_for &&
	    conn->forwarded_state == HTTP_CONN_FORWARDED_READ &&
	    conn->forwarded[0] != '\0')
		return conn->forwarded;
	return conn->peer;
}

/*
 * The first X-Forwarded-For's first address is read: what it holds, or
 * "" when it is no address (another byte, or too long); the rest of the
 * line is skipped.
 */
static void
http_conn_forwarded_end(struct http_conn *conn, bool is_address)
{
	conn->forwarded_len = is_address ? conn->forwarded_len : 0;
	conn->forwarded[conn->forwarded_len] = '\0';
	conn->forwarded_state = HTTP_CONN_FORWARDED_READ;
	conn->head_name_at = SIZE_MAX;
}

/* One byte of the first X-Forwarded-For's value. */
static void
http_conn_forwarded_char(struct http_conn *conn, char c)
{
	bool blank = c == ' ' || c == '\t';

	if (blank && conn->forwarded_len == 0)
		return;
	/* libevent's value ends at a NUL byte. */
	if (blank || c == ',' || c == '\0')
		http_conn_forwarded_end(conn, true);
	else if (!strchr("0123456789abcdefABCDEF.:", c) ||
	    conn->forwarded_len == sizeof conn->forwarded - 1)
		http_conn_forwarded_end(conn, false);
	else
		conn->forwarded[conn->forwarded_len++] = c;
}

/* A line of the head has ended. */
static void
http_conn_head_line_end(struct http_conn *conn)
{
	if (conn->head_line_len == 0 && conn->head_lines > 0)
		conn->head_done = true;
	conn->head_cr = false;
	if (conn->forwarded_state == HTTP_CONN_FORWARDED_READING)
		http_conn_forwarded_end(conn, true);
	if (conn->head_value > conn->content_length ||
	    (conn->head_value == conn->content_length &&
		conn->head_value_cut)) {
		conn->content_length = conn->head_value;
		conn->content_length_cut = conn->head_value_cut;
	}
	if (conn->head_line_len > 0 || conn->head_lines > 0)
		conn->head_lines++;
	conn->head_line_len = 0;
	conn->head_name = NULL;
	conn->head_name_at = 0;
	conn->head_value = -1;
	conn->head_value_cut = false;
}

/* An X-Forwarded-For's name has been read. */
static void
http_conn_head_forwarded_begins(struct http_conn *conn)
{
	if (conn->forwarded_state == HTTP_CONN_FORWARDED_UNSEEN)
		conn->forwarded_state = HTTP_CONN_FORWARDED_READING;
	else
		conn->head_name_at = SIZE_MAX;
}

/* One more byte of a header line (not CR or LF). */
static void
http_conn_head_char(struct http_conn *conn, char c)
{
	size_t at = conn->head_name_at;

	conn->head_line_len++;
	if (conn->head_lines == 0) { /* The request line. */
		conn->head_name_at = SIZE_MAX;
		return;
	}
	if (at == 0) {
		/* The two names differ from their first letter. */
		bool x = tolower((unsigned char)c) == http_conn_xff_name[0];

		conn->head_name = x ? http_conn_xff_name : http_conn_cl_name;
	}
	if (conn->head_name[at] != '\0') {
		conn->head_name_at = tolower((unsigned char)c) ==
			conn->head_name[at] ?
		    at + 1 :
		    SIZE_MAX;
		/* Only the first X-Forwarded-For counts, as in libevent. */
		if (conn->head_name[at + 1] == '\0' &&
		    conn->head_name_at != SIZE_MAX &&
		    conn->head_name == http_conn_xff_name)
			http_conn_head_forwarded_begins(conn);
		return;
	}
	if (conn->head_name == http_conn_xff_name) {
		http_conn_forwarded_char(conn, c);
		return;
	}
	if (c >= '0' && c <= '9') {
		if (conn->head_value < 0)
			conn->head_value = 0;
		if (conn->head_value < HTTP_CONN_CL_MAX)
			conn->head_value = conn->head_value * 10 + (c - '0');
		else
			conn->head_value_cut = true;
		return;
	}
	/* Blanks (as isspace has them: strtoll skips \v and \f too, break-it
	 * helper 61) and a sign before the digits; anything else ends it. */
	if (conn->head_value < 0 &&
	    (c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '+'))
		return;
	conn->head_name_at = SIZE_MAX;
}

static void
http_conn_head_bytes(struct http_conn *conn, const char *p, size_t n)
{
	const char *end = p + n;

	for (; p < end && !conn->head_done; p++) {
		/*
		 * The rest of a line that is not a Content-Length (most are
		 * told by their first byte) matters only by its end.  The
		 * line has a byte already, so it is not the empty line.
		 */
		if (conn->head_name_at == SIZE_MAX) {
			p = memchr(p, '\n', (size_t)(end - p));
			if (p == NULL)
				return;
		}
		if (*p == '\n') {
			http_conn_head_line_end(conn);
			continue;
		}
		/* A CR not before an LF is a byte of the line (break-it
		 * helper 58: "1.2.3.4\r5" was read as 1.2.3.45). */
		if (conn->head_cr) {
			conn->head_cr = false;
			http_conn_head_char(conn, '\r');
			if (conn->head_name_at == SIZE_MAX && *p != '\r')
				continue;
		}
		if (*p == '\r')
			conn->head_cr = true;
		else
			http_conn_head_char(conn, *p);
	}
}

/*
 * Refuse at the next loop turn: the watch runs inside libevent's read,
 * where the connection may not be freed.  Emptying the input keeps
 * libevent from reading further into the request meanwhile.
 */
static void
http_conn_refuse_soon(struct http_conn *conn, struct evbuffer *in, int code)
{
	conn->refusal = code;
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_disable(conn->bev, EV_READ);
	http_conn_set_state(conn, HTTP_CONN_REFUSED);
	http_conn_arm_ms(conn, 0);
}

/*
 * The largest body of the request arriving, and the key that sets it:
 * its path's limit once its request line is known whole, else
 * max_body_size (the router checks the path's limit again).
 */
static size_t
http_conn_body_limit(const struct http_conn *conn, const char **key)
{
	if (!conn->line_seen || conn->body_limit_key == NULL) {
		*key = "max_body_size";
		return conn->owner->settings->max_body_size;
	}
	*key = conn->body_limit_key;
	return conn->body_limit;
}

/* Scan the last n bytes of in, the newest. */
static void
http_conn_head_scan(struct http_conn *conn, struct evbuffer *in, size_t n)
{
	struct evbuffer_ptr pos;
	char chunk[1024];
	ev_ssize_t got;
	const char *key;

	if (evbuffer_ptr_set(
		in, &pos, evbuffer_get_length(in) - n, EVBUFFER_PTR_SET) != 0)
		return;
	while (!conn->head_done &&
	    (got = evbuffer_copyout_from(in, &pos, chunk, sizeof chunk)) > 0) {
		http_conn_head_bytes(conn, chunk, (size_t)got);
		if (evbuffer_ptr_set(in, &pos, (size_t)got, EVBUFFER_PTR_ADD))
			break;
	}
	if (conn->head_done && conn->content_length >= 0 &&
	    (unsigned long long)conn->content_length >
		http_conn_body_limit(conn, &key))
		http_conn_refuse_soon(conn, in, 413);
}

/* Between requests: the next one may already be in the buffer. */
static void
http_conn_wait_for_request(struct http_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	const struct settings *s = conn->owner->settings;

	conn->method[0] = conn->path[0] = '\0';
	conn->line_seen = false;
	http_conn_head_reset(conn);
	conn->bytes_in = evbuffer_get_length(in);
	if (conn->bytes_in == 0) {
		http_conn_set_state(conn, HTTP_CONN_IDLE);
		http_conn_arm_lazy(conn, s->idle_timeout_s * 1000L);
		return;
	}
	/*
	 * A pipelined request already read: libevent goes on with it from
	 * inside its own callback, where a refusal could not stop it; its
	 * head is left to libevent's own limit.
	 */
	http_conn_note_request_line(conn, in);
	http_conn_set_state(conn, HTTP_CONN_READING);
	conn->last_in = conn->since;
	http_conn_arm_lazy(conn, http_conn_reading_left_ms(conn));
	conn->head_done = true;
}

/* Access lines and refusals. */

static void
http_conn_log_access(const struct http_conn *conn, int code, size_t bytes,
    long ms, const char *by)
{
	struct log_access_fields f = { 0, conn->method, conn->path, code, bytes,
		ms, NULL, http_conn_client(conn), by };

	log_access_request(&f);
}

/* The access line of libevent's own answer, once, when one is pending. */
static void
http_conn_log_own_answer(struct http_conn *conn)
{
	if (conn->own_status == 0)
		return;
	http_conn_log_access(
	    conn, conn->own_status, conn->own_bytes, conn->own_ms, "libevent");
	conn->own_status = 0;
	conn->own_bytes = 0;
}

/* How long a refused connection is read and dropped before it closes. */
#define HTTP_CONN_LINGER_MS 2000

/*
 * After a refusal, read and drop what the client still sends for a
 * while: closing with unread bytes would reset the connection, and the
 * client could lose the answer.  The client's close, or the timer, ends
 * it.
 */
static void
http_conn_linger(struct http_conn *conn)
{
	conn->refusal = -1;
	evbuffer_drain(bufferevent_get_input(conn->bev),
	    evbuffer_get_length(bufferevent_get_input(conn->bev)));
	bufferevent_enable(conn->bev, EV_READ);
	http_conn_arm_ms(conn, HTTP_CONN_LINGER_MS);
}

/*
 * Answer code with a JSON body and close, before the request was read:
 * written straight to the socket, whose output buffer is empty here (the
 * answer is small enough for the socket's buffer); best effort only.
 */
static void
http_conn_refuse(struct http_conn *conn, int code, const char *reason,
    const char *message, bool linger)
{
	const char *origin = conn->owner->settings->cors_origin;
	char body[256], date[64], *answer;
	int fd = bufferevent_getfd(conn->bev), len;
	time_t now = time(NULL);
	struct tm tm;

	snprintf(body, sizeof body, "{\"status\":-1,\"status_message\":\"%s\"}",
	    message);
	/* As libevent dates the answers it writes (mttd sets no locale). */
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n",
		&tm) == 0)
		date[0] = '\0';
	/* Allocated: cors_origin may be long. */
	answer = xasprintf(
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nAccess-Control-Allow-Origin: %s\r\n"
	    "%s%sConnection: close\r\n\r\n%s",
	    code, reason, strlen(body), origin,
	    code == 503 ? "Retry-After: 1\r\n" : "", date, body);
	len = (int)strlen(answer);
	if (evbuffer_get_length(bufferevent_get_output(conn->bev)) > 0)
		len = 0;
	if (fd >= 0 && len > 0 &&
	    send(fd, answer, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) != len)
		len = 0;
	free(answer);
	/* The body's bytes, as for every answer mttd writes. */
	http_conn_log_access(conn, code, len > 0 ? strlen(body) : 0,
	    http_conn_elapsed_ms(conn), "connection");

	http_conn_set_state(conn, HTTP_CONN_REFUSED);
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
	if (linger && fd >= 0 && len > 0) {
		http_conn_linger(conn);
		return;
	}
	/* The close callback frees conn. */
	evhttp_connection_free(conn->evcon);
}

/* How often the answer clock looks: a quarter of answer_timeout. */
static long
http_conn_answer_look_ms(const struct settings *s)
{
	return s->answer_timeout_s * 250L;
}

/* Bytes written to the socket that the kernel still holds, unacknowledged. */
static unsigned long long
http_conn_unacked(const struct http_conn *conn)
{
	int fd = bufferevent_getfd(conn->bev), n = 0;

	if (fd < 0 || ioctl(fd, TIOCOUTQ, &n) != 0 || n < 0)
		return 0;
	return (unsigned long long)n;
}

/*
 * While mttd has the request: cut a client that took none of its answer
 * for answer_timeout.  Counted in bytes the client acknowledged, not in
 * write events: the kernel says a socket is writable again only once a
 * good part of its buffer is free, which a slow but steady reader may
 * take minutes to free (libevent's write timeout cut such readers off
 * mid-answer).  Even acknowledgements come in bursts: a client reading
 * slowly from a receive buffer of megabytes reopens its window only once
 * it has read a good part of it, which is why answer_timeout is longer
 * than request_timeout.  While nothing waits to be taken (the answer is
 * being made), the clock just runs on.
 */
static void
http_conn_check_answer(struct http_conn *conn)
{
	const struct settings *s = conn->owner->settings;
	unsigned long long unacked = http_conn_unacked(conn);
	unsigned long long taken = conn->bytes_out - unacked;
	size_t queued = evbuffer_get_length(bufferevent_get_output(conn->bev));

	if (taken != conn->taken_mark || (queued == 0 && unacked == 0)) {
		conn->taken_mark = taken;
		gettimeofday(&conn->taken_at, NULL);
	}
	if (http_conn_ms_since(&conn->taken_at) < s->answer_timeout_s * 1000L) {
		http_conn_arm_ms(conn, http_conn_answer_look_ms(s));
		return;
	}
	log_info("peer=%s %s %s: answer not read for answer_timeout (%d s),"
		 " %llu bytes waiting: connection closed",
	    http_conn_client(conn), conn->method[0] ? conn->method : "-",
	    conn->path[0] ? conn->path : "-", s->answer_timeout_s,
	    (unsigned long long)queued + unacked);
	/* libevent's own path for a write timeout: it detaches a request
	 * mttd still holds before it frees the connection. */
	bufferevent_trigger_event(
	    conn->bev, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT, 0);
}

/* The early 413: the head's Content-Length is over the path's limit. */
static void
http_conn_refuse_too_large(struct http_conn *conn)
{
	char msg[160];
	const char *key;
	size_t limit = http_conn_body_limit(conn, &key);

	/* The scan stops adding digits past 2^50 (see head_char). */
	snprintf(msg, sizeof msg,
	    "request body of %s%lld bytes is larger than %s (%zu bytes)",
	    conn->content_length_cut ? "over " : "", conn->content_length, key,
	    limit);
	log_info("peer=%s %s %s: 413 %s", http_conn_client(conn),
	    conn->method[0] ? conn->method : "-",
	    conn->path[0] ? conn->path : "-", msg);
	http_conn_refuse(conn, 413, "Payload Too Large", msg, true);
}

/*
 * After an answer libevent wrote itself: closed when the client has not
 * taken it all in idle_timeout; once written, libevent reads on, so the
 * connection is between requests, with what came with the refused one,
 * if anything, under the reading clock (and counted by a drain).
 */
static void
http_conn_own_answer_timer(struct http_conn *conn)
{
	if (evbuffer_get_length(bufferevent_get_output(conn->bev)) > 0) {
		log_debug("peer=%s did not take all of libevent's %d in %d s:"
			  " closed",
		    http_conn_client(conn), conn->own_status,
		    conn->owner->settings->idle_timeout_s);
		evhttp_connection_free(conn->evcon);
		return;
	}
	http_conn_log_own_answer(conn);
	http_conn_wait_for_request(conn);
}

/* The reading clock: 408 once request_timeout passed since the head
 * began, else armed again for the rest. */
static void
http_conn_reading_timer(struct http_conn *conn)
{
	char msg[160];
	long left = http_conn_reading_left_ms(conn);

	if (left > 0) {
		http_conn_arm_ms(conn, left);
		return;
	}
	snprintf(msg, sizeof msg,
	    "request not received in time (request_timeout %d s, "
	    "%zu bytes in %ld ms)",
	    conn->owner->settings->request_timeout_s, conn->bytes_in,
	    http_conn_elapsed_ms(conn));
	log_info("peer=%s %s %s: 408 %s", http_conn_client(conn),
	    conn->method[0] ? conn->method : "-",
	    conn->path[0] ? conn->path : "-", msg);
	http_conn_refuse(conn, 408, "Request Timeout", msg, true);
}

/* The idle clock, armed lazily: armed again when it fired early. */
static void
http_conn_idle_timer(struct http_conn *conn)
{
	long left = http_conn_due_in_ms(conn);

	if (left > 0) {
		http_conn_arm_ms(conn, left);
		return;
	}
	log_debug("peer=%s idle for idle_timeout: closed", conn->peer);
	evhttp_connection_free(conn->evcon);
}

static void
http_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *conn = arg;

	conn->armed = false;
	if (conn->refusal == 413)
		http_conn_refuse_too_large(conn);
	else if (conn->refusal == -1)
		evhttp_connection_free(conn->evcon);
	else if (conn->state == HTTP_CONN_IDLE)
		http_conn_idle_timer(conn);
	else if (conn->state == HTTP_CONN_HANDLING)
		http_conn_check_answer(conn);
	else if (conn->state == HTTP_CONN_REFUSED && conn->own_status != 0)
		http_conn_own_answer_timer(conn);
	else if (conn->state == HTTP_CONN_READING)
		http_conn_reading_timer(conn);
}

/* Buffer watches. */

static void
http_conn_input_cb(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct http_conn *conn = arg;

	if (info->n_added == 0)
		return;
	if (conn->refusal != 0) {
		/* Answered already: what follows is dropped unread. */
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	if (conn->state == HTTP_CONN_IDLE) {
		http_conn_set_state(conn, HTTP_CONN_READING);
		conn->bytes_in = 0;
		conn->last_in = conn->since;
		http_conn_arm_lazy(conn, http_conn_reading_left_ms(conn));
	}
	if (conn->state != HTTP_CONN_READING)
		return;
	conn->bytes_in += info->n_added;
	gettimeofday(&conn->last_in, NULL);
	if (!conn->line_seen)
		http_conn_note_request_line(conn, buf);
	if (!conn->head_done)
		http_conn_head_scan(conn, buf, info->n_added);
}

/*
 * The status code of the answer starting at byte from of buf, or 0.
 * Peeked, not copied out: libevent freezes the start of an output
 * buffer it has written from, and evbuffer_copyout_from then fails.
 */
static int
http_conn_status_at(struct evbuffer *buf, size_t from)
{
	struct evbuffer_ptr pos;
	struct evbuffer_iovec vec[4];
	char line[24];
	size_t got = 0, i, take;
	int n, code;
	const char *p;

	if (evbuffer_ptr_set(buf, &pos, from, EVBUFFER_PTR_SET) != 0)
		return 0;
	n = evbuffer_peek(buf, sizeof line - 1, &pos, vec, 4);
	for (i = 0; i < (size_t)(n < 4 ? n : 4) && got < sizeof line - 1; i++) {
		take = vec[i].iov_len < sizeof line - 1 - got ?
		    vec[i].iov_len :
		    sizeof line - 1 - got;
		memcpy(line + got, vec[i].iov_base, take);
		got += take;
	}
	line[got] = '\0';

	/* "HTTP/" major "." minor " " and three digits. */
	if (strncmp(line, "HTTP/", 5) != 0)
		return 0;
	p = line + 5 + strspn(line + 5, "0123456789.");
	if (*p++ != ' ' || strspn(p, "0123456789") < 3)
		return 0;
	code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	return code;
}

/*
 * Output while mttd does not hold a request is libevent's own: an
 * interim 100 Continue, or an error page after which it closes.  Read
 * its code from the status line just added (a 100 may still be ahead).
 */
static void
http_conn_output_cb(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct http_conn *conn = arg;
	int code;

	conn->bytes_out += info->n_deleted; /* Written to the socket. */
	/* libevent's answer written, the connection still here: settle at
	 * the next turn, once libevent has closed it or read on. */
	if (info->n_deleted > 0 && conn->state == HTTP_CONN_REFUSED &&
	    conn->own_status != 0 && evbuffer_get_length(buf) == 0)
		http_conn_arm_ms(conn, 0);
	if (info->n_added == 0 || conn->state == HTTP_CONN_HANDLING)
		return;
	code = http_conn_status_at(
	    buf, evbuffer_get_length(buf) - info->n_added);
	if (code >= 100 && code < 200) /* 100 Continue: the next request's. */
		return;
	if (code < 100) { /* No status line: the rest of an answer. */
		if (conn->own_status != 0)
			conn->own_bytes += info->n_added;
		return;
	}
	/* Each of libevent's answers gets its line (break-it helper 48:
	 * a second one on a connection went unseen).  One right after
	 * another answers a request libevent read from the buffer, whose
	 * method and path mttd did not see: "-", not the first's. */
	if (conn->own_status != 0) {
		http_conn_log_own_answer(conn);
		conn->method[0] = conn->path[0] = '\0';
	}
	conn->own_status = code;
	conn->own_bytes = info->n_added;
	conn->own_ms = http_conn_elapsed_ms(conn);
	http_conn_set_state(conn, HTTP_CONN_REFUSED);
	/*
	 * libevent closes the connection once most of its own answers are
	 * written, but reads on after a CONNECT's 501 (break-it helpers 47,
	 * 48, 49).  Once it is written the connection settles (see the
	 * timer); one whose client takes none of it for idle_timeout closes.
	 */
	http_conn_arm_ms(conn, conn->owner->settings->idle_timeout_s * 1000L);
}

/* A request the drain waited for arrived, or its connection closed. */
static void
http_conn_drain_done(struct http_conn *conn, bool closed)
{
	struct http_conns *c = conn->owner;

	if (!conn->drain_counted)
		return;
	conn->drain_counted = false;
	if (--c->drain_waiting == 0 && closed && c->drain_cb != NULL)
		c->drain_cb(c->drain_arg);
}

/* Adoption and the end of a connection. */

static void
http_conn_free(struct http_conn *conn)
{
	evbuffer_remove_cb_entry(
	    bufferevent_get_input(conn->bev), conn->input_watch);
	evbuffer_remove_cb_entry(
	    bufferevent_get_output(conn->bev), conn->output_watch);
	event_free(conn->timer);
	http_conns_remove(conn->owner, conn);
	free(conn);
}

static void
http_conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn *conn = arg;
	http_conn_close_cb hook = conn->close_cb;
	void *hook_arg = conn->close_arg;

	http_conn_log_own_answer(conn);
	if (conn->state == HTTP_CONN_READING)
		log_info("peer=%s %s %s: connection closed with a request"
			 " unanswered (%zu bytes of it received, none of it"
			 " run)",
		    http_conn_client(conn),
		    conn->method[0] ? conn->method : "-",
		    conn->path[0] ? conn->path : "-", conn->bytes_in);
	http_conn_drain_done(conn, true);
	http_conn_free(conn);

	/* Last: the hook may ask to be forgotten, which is then a no-op. */
	if (hook != NULL)
		hook(evcon, hook_arg);
}

static void
http_conns_over_limit(struct http_conns *c, struct http_conn *conn)
{
	int max = c->settings->max_connections;
	char msg[128];
	time_t now = time(NULL);

	c->over_limit_count++;
	if (now != c->over_limit_logged) {
		log_warn("connections: %d open, more than max_connections %d:"
			 " %lu refused with 503",
		    c->open, max, c->over_limit_count);
		c->over_limit_logged = now;
		c->over_limit_count = 0;
	}
	snprintf(msg, sizeof msg,
	    "too many connections open (max_connections %d); retry later", max);
	http_conn_refuse(conn, 503, "Service Unavailable", msg, false);
}

/*
 * Answers are small and clients wait for each one before sending the
 * next request: Nagle's algorithm would hold them for a delayed ACK.
 */
static void
http_conn_set_nodelay(struct bufferevent *bev)
{
	int one = 1;

	if (bufferevent_getfd(bev) >= 0)
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof one);
}

static void
http_conns_add(struct http_conns *c, struct evhttp_connection *evcon,
    struct bufferevent *bev)
{
	struct http_conn *conn = xcalloc(1, sizeof *conn);
	char *addr = NULL;
	ev_uint16_t port = 0;

	conn->owner = c;
	conn->evcon = evcon;
	conn->bev = bev;
	evhttp_connection_get_peer(evcon, &addr, &port);
	text_copy(conn->peer, sizeof conn->peer, addr ? addr : "unknown");
	http_conn_set_nodelay(bev);
	conn->timer = evtimer_new(c->base, http_conn_timer_cb, conn);
	conn->input_watch = evbuffer_add_cb(
	    bufferevent_get_input(bev), http_conn_input_cb, conn);
	conn->output_watch = evbuffer_add_cb(
	    bufferevent_get_output(bev), http_conn_output_cb, conn);
	evhttp_connection_set_closecb(evcon, http_conn_closed_cb, conn);
	http_conns_insert(c, conn);
	http_conn_wait_for_request(conn);

	if (c->open > c->settings->max_connections)
		http_conns_over_limit(c, conn);
}

/*
 * evhttp passes its connection as the bufferevent's callback argument.
 * No read callback means evhttp has already let go of the connection.
 */
static void
http_conns_adopt(struct http_conns *c, struct bufferevent *bev)
{
	bufferevent_data_cb readcb = NULL;
	void *evcon = NULL;

	bufferevent_getcb(bev, &readcb, NULL, NULL, &evcon);
	if (readcb != NULL && evcon != NULL)
		http_conns_add(c, evcon, bev);
	bufferevent_decref(bev);
}

static void
http_conns_adopt_pending(struct http_conns *c)
{
	size_t i;

	for (i = 0; i < c->npending; i++)
		http_conns_adopt(c, c->pending[i]);
	c->npending = 0;
}

static void
http_conns_adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	http_conns_adopt_pending(arg);
}

/*
 * evhttp asks for a bufferevent for each connection it accepts, before
 * it makes the connection.  A reference keeps it ours until adoption,
 * which runs in this loop turn, before the socket can be read.
 */
static struct bufferevent *
http_conns_bev_cb(struct event_base *base, void *arg)
{
	struct http_conns *c = arg;
	struct bufferevent *bev = bufferevent_socket_new(
	    base, -1, BEV_OPT_CLOSE_ON_FREE);

	if (bev == NULL)
		return NULL;
	bufferevent_incref(bev);
	if (c->npending == c->pending_cap) {
		c->pending_cap = c->pending_cap ? c->pending_cap * 2 : 16;
		c->pending = xrealloc(
		    c->pending, c->pending_cap * sizeof *c->pending);
	}
	c->pending[c->npending++] = bev;
	event_active(c->adopt_ev, EV_TIMEOUT, 1);
	return bev;
}

/* The public side. */

struct http_conns *
http_conns_new(
    struct event_base *base, struct evhttp *http, const struct settings *s)
{
	struct http_conns *c = xcalloc(1, sizeof *c);

	c->base = base;
	c->settings = s;
	c->nbuckets = 64;
	c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
	c->adopt_ev = event_new(base, -1, 0, http_conns_adopt_cb, c);
	evhttp_set_bevcb(http, http_conns_bev_cb, c);
	return c;
}

void
http_conns_free(struct http_conns *c)
{
	size_t i;
	struct http_conn *conn, *next;

	if (c == NULL)
		return;
	for (i = 0; i < c->npending; i++)
		bufferevent_decref(c->pending[i]);
	for (i = 0; i < c->nbuckets; i++) {
		for (conn = c->buckets[i]; conn != NULL; conn = next) {
			next = conn->next;
			evhttp_connection_set_closecb(conn->evcon, NULL, NULL);
			http_conn_free(conn);
		}
	}
	event_free(c->adopt_ev);
	free(c->pending);
	free(c->buckets);
	free(c);
}

/* Bytes the kernel holds for conn that libevent has not read yet. */
static int
http_conn_unread(const struct http_conn *conn)
{
	int fd = bufferevent_getfd(conn->bev), n = 0;

	if (fd < 0 || ioctl(fd, FIONREAD, &n) != 0)
		return 0;
	return n;
}

void
http_conns_drain(struct http_conns *c, void (*cb)(void *arg), void *arg)
{
	struct http_conn **idle, *conn;
	size_t i, n = 0;

	/*
	 * Collected first: freeing one changes the table.  A request whose
	 * bytes are arriving, or wait in the kernel, was on its way: it is
	 * served; the next one on its connection is not.  So is the first
	 * request of a connection that has carried none yet: its client
	 * connected to send it, and the real MTT client never retries.
	 * Only connections kept alive after an answer are closed.
	 */
	http_conns_adopt_pending(c);
	idle = xcalloc((size_t)c->open + 1, sizeof *idle);
	for (i = 0; i < c->nbuckets; i++) {
		for (conn = c->buckets[i]; conn != NULL; conn = conn->next) {
			if (conn->state == HTTP_CONN_IDLE &&
			    http_conn_unread(conn) == 0 && conn->used)
				idle[n++] = conn;
			else if (conn->state == HTTP_CONN_IDLE ||
			    conn->state == HTTP_CONN_READING) {
				conn->drain_admit = true;
				conn->drain_counted = true;
				c->drain_waiting++;
				/* A client that connected and says nothing
				 * holds the exit a second, not idle_timeout. */
				if (conn->state == HTTP_CONN_IDLE &&
				    http_conn_unread(conn) == 0)
					http_conn_arm_ms(conn,
					    HTTP_CONN_DRAIN_FIRST_BYTE_MS);
			}
		}
	}
	c->drain_cb = cb;
	c->drain_arg = arg;
	log_info("draining: closing %zu idle connection(s); %d request(s) on"
		 " their way",
	    n, c->drain_waiting);
	for (i = 0; i < n; i++)
		evhttp_connection_free(idle[i]->evcon);
	free(idle);
}

int
http_conns_arriving(const struct http_conns *c)
{
	return c->drain_waiting;
}

int
http_conns_open(const struct http_conns *c)
{
	return c->open;
}

/* The connection's watch, adopting first if evhttp was quicker. */
static struct http_conn *
http_conns_find(struct http_conns *c, struct evhttp_connection *evcon)
{
	struct http_conn *conn = http_conns_lookup(c, evcon);

	if (conn == NULL && c->npending > 0) {
		http_conns_adopt_pending(c);
		conn = http_conns_lookup(c, evcon);
	}
	return conn;
}

int
http_conns_evhttp_timeout_s(const struct settings *s)
{
	return (s->request_timeout_s > s->idle_timeout_s ?
		       s->request_timeout_s :
		       s->idle_timeout_s) +
	    1;
}

/* What a client may send while its answer is made: close detection. */
#define HTTP_CONN_HANDLING_INPUT_MAX (64 * 1024)

/*
 * While mttd answers, evhttp keeps reading only to see a close: bound
 * what it may buffer, and time the answer by what the client takes
 * (http_conn_check_answer), not by libevent's timeouts (its read timeout
 * would cut a long answer to a client that sends nothing, its write
 * timeout a slow reader).  A reader that takes no byte for
 * answer_timeout is cut.
 */
static void
http_conn_answer_clock(struct http_conn *conn, bool answering)
{
	struct timeval both_tv = {
		http_conns_evhttp_timeout_s(conn->owner->settings), 0
	};

	if (answering) {
		bufferevent_setwatermark(
		    conn->bev, EV_READ, 0, HTTP_CONN_HANDLING_INPUT_MAX);
		bufferevent_set_timeouts(conn->bev, NULL, NULL);
		/* Nothing measured yet: the first look counts as progress
		 * (no system call per request here). */
		conn->taken_mark = ULLONG_MAX;
		conn->taken_at = conn->since;
		http_conn_arm_lazy(
		    conn, http_conn_answer_look_ms(conn->owner->settings));
		return;
	}
	bufferevent_setwatermark(conn->bev, EV_READ, 0, 0);
	bufferevent_set_timeouts(conn->bev, &both_tv, &both_tv);
}

void
http_conns_request_read(struct http_conns *c, struct evhttp_connection *evcon)
{
	struct http_conn *conn = http_conns_find(c, evcon);

	if (conn == NULL)
		return;
	/* A request pipelined after one libevent answered: that answer's
	 * line first, with its method and path. */
	http_conn_log_own_answer(conn);
	conn->used = true;
	http_conn_set_state(conn, HTTP_CONN_HANDLING);
	http_conn_answer_clock(conn, true);
	http_conn_drain_done(conn, false);
}

void
http_conns_watch_close(struct http_conns *c, struct evhttp_connection *evcon)
{
	struct http_conn *conn;
	bufferevent_data_cb write_cb = NULL;
	bufferevent_event_cb event_cb = NULL;
	void *arg = NULL;

	if (evcon == NULL)
		return; /* Gone already. */
	conn = http_conns_find(c, evcon);
	if (conn == NULL || conn->state != HTTP_CONN_HANDLING)
		return;
	/*
	 * As evhttp sets the connection up to write an answer: no read
	 * callback (what arrives waits in the input, bounded by its
	 * watermark), reading on, so that an end of file or a reset
	 * reaches evhttp's error callback.
	 */
	bufferevent_getcb(conn->bev, NULL, &write_cb, &event_cb, &arg);
	bufferevent_setcb(conn->bev, NULL, write_cb, event_cb, arg);
	bufferevent_enable(conn->bev, EV_READ);
}

bool
http_conns_drain_admits(struct http_conns *c, struct evhttp_connection *evcon)
{
	struct http_conn *conn = http_conns_find(c, evcon);
	bool admit = conn != NULL && conn->drain_admit;

	if (conn != NULL)
		conn->drain_admit = false;
	return admit;
}

void
http_conns_answer_sent(struct http_conns *c, struct evhttp_connection *evcon)
{
	struct http_conn *conn = http_conns_find(c, evcon);

	if (conn != NULL && conn->state == HTTP_CONN_HANDLING) {
		http_conn_answer_clock(conn, false);
		http_conn_wait_for_request(conn);
	}
}

void
http_conns_on_close(struct http_conns *c, struct evhttp_connection *evcon,
    http_conn_close_cb cb, void *arg)
{
	struct http_conn *conn = http_conns_find(c, evcon);

	if (conn != NULL) {
		conn->close_cb = cb;
		conn->close_arg = arg;
	} else {
		/* Not watched: its bufferevent could not be made here. */
		evhttp_connection_set_closecb(evcon, cb, arg);
	}
}
