/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Routing: the table of paths mttd serves, path normalisation (prefix,
 * doubled and trailing slashes) and the checks every request passes
 * before its handler runs (method, credentials, content type, body).
 */
#ifndef MTTD_ROUTER_H
#define MTTD_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "request.h"
#include "settings.h"

/* Deepest JSON nesting a body may have (the fuzz targets use it too). */
#define ROUTER_MAX_JSON_DEPTH 32

#define ROUTE_GET (1u << 0)
#define ROUTE_POST (1u << 1)

typedef void (*route_handler_cb)(struct request *r);

/* One path; each handler_<resource>.c exports one of these. */
struct route {
	const char *path;	 /* Normalised, e.g. "/submit". */
	unsigned methods;	 /* ROUTE_GET, ROUTE_POST. */
	unsigned public_methods; /* Methods needing no credentials. */
	route_handler_cb get;
	route_handler_cb post; /* Runs with r->body parsed. */
};

/*
 * Normalise a request URI's path: drop the query, fold doubled slashes,
 * drop a trailing slash and the configured prefix (which may be "").
 * Returns a new string the caller frees.
 */
char *router_path_normalise(const char *uri, const char *prefix);

/* The route of a normalised path, or NULL. */
const struct route *router_find(const char *path);

/*
 * The largest body a request for target (its request line's) may
 * have: max_body_size for /submit, the smaller of it and
 * max_query_body_size for any other path (a query's parse takes about
 * four times its body).  *key names the setting that limits it.
 */
size_t router_body_limit(
    const struct settings *s, const char *target, const char **key);

/* True for "application/json", with or without parameters. */
bool router_is_json_type(const char *content_type);

/* Route one request: checks, then the handler.  Takes r. */
void router_dispatch(struct request *r);

#endif /* MTTD_ROUTER_H */
