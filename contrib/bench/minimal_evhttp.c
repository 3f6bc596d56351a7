/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The baseline of contrib/bench/run's GET / load: the least an evhttp
 * server does to answer every request with mttd's 39-byte health answer
 * (same body, same Content-Type, keep-alive).  No logging, no limits,
 * no authentication, one thread.
 *
 *   minimal_evhttp PORT_FILE [SECONDS]
 *
 * Listens on 127.0.0.1, an ephemeral port written to PORT_FILE (with a
 * newline, like mttd's MTTD_PORT_FILE); exits by itself after SECONDS
 * (default 900) or on SIGTERM/SIGINT.
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static const char body[] = "{\"status\":0,\"status_message\":\"Success\"}";

static void
answer(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add_reference(out, body, sizeof body - 1, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	struct timeval limit = { 900, 0 };
	struct event *term, *intr, *timer;
	FILE *f;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s PORT_FILE [SECONDS]\n", argv[0]);
		return 2;
	}
	if (argc == 3)
		limit.tv_sec = atoi(argv[2]);
	base = event_base_new();
	http = evhttp_new(base);
	if (base == NULL || http == NULL)
		return 1;
	bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (bound == NULL) {
		perror("bind");
		return 1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound),
		(struct sockaddr *)&sin, &len) != 0) {
		perror("getsockname");
		return 1;
	}
	evhttp_set_gencb(http, answer, NULL);
	term = evsignal_new(base, SIGTERM, stop, base);
	intr = evsignal_new(base, SIGINT, stop, base);
	timer = evtimer_new(base, stop, base);
	event_add(term, NULL);
	event_add(intr, NULL);
	event_add(timer, &limit);
	f = fopen(argv[1], "w");
	if (f == NULL || fprintf(f, "%d\n", ntohs(sin.sin_port)) < 0 ||
	    fclose(f) != 0) {
		perror(argv[1]);
		return 1;
	}
	event_base_dispatch(base);
	event_free(term);
	event_free(intr);
	event_free(timer);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
