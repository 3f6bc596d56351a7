/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of router: path normalisation (query, doubled and trailing
 * slashes, the URL prefix), the route table, and which Content-Type
 * values count as JSON.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "handlers.h"
#include "router.h"

/* The SPEC's example prefix. */
#define PREFIX "/submit/cpy/api"

struct normalise_case {
	const char *uri;
	const char *prefix;
	const char *want;
};

static void
normalise_cases_check(const struct normalise_case *cases, size_t n)
{
	char *got;
	size_t i;

	for (i = 0; i < n; i++) {
		got = router_path_normalise(cases[i].uri, cases[i].prefix);
		CHECK(got != NULL && strcmp(got, cases[i].want) == 0,
		    "normalise(\"%s\", prefix \"%s\") is \"%s\", want \"%s\"",
		    cases[i].uri, cases[i].prefix, got ? got : "(null)",
		    cases[i].want);
		free(got);
	}
}

#define NORMALISE_CHECK(table) \
	normalise_cases_check((table), CUNIT_NCASES(table))

static const struct normalise_case plain_cases[] = {
	{ "/", "", "/" },
	{ "/submit", "", "/submit" },
	{ "/submit/", "", "/submit" },
	{ "//submit", "", "/submit" },
	{ "//submit//", "", "/submit" },
	{ "///", "", "/" },
	{ "/submit?x=1", "", "/submit" },
	{ "/submit/?x=1", "", "/submit" },
	{ "/?x=/y", "", "/" },
	{ "/status#top", "", "/status" },
	{ "/info//runtime/", "", "/info/runtime" },
	/* The absolute form: scheme and host dropped (break-it helper 40). */
	{ "http://127.0.0.1:9080/status", "", "/status" },
	{ "HTTP://mtt.example.org//submit/?x=1", "", "/submit" },
	{ "https://[::1]:9080/info/runtime", "", "/info/runtime" },
	{ "http://host", "", "/" },
	{ "http://host?x=/status", "", "/" },
	{ "http:/status", "", "/http:/status" },
	{ "/http://host/status", "", "/http:/host/status" },
};

static void
router_normalise_folds_slashes_and_drops_query(void)
{
	NORMALISE_CHECK(plain_cases);
}

static const struct normalise_case prefix_cases[] = {
	{ "/submit/cpy/api//serial", PREFIX, "/serial" },
	{ "/submit/cpy/api/serial", PREFIX, "/serial" },
	{ "/submit/cpy/api/submit/", PREFIX, "/submit" },
	{ "//submit//cpy/api///submit?x=1", PREFIX, "/submit" },
	{ "/submit/cpy/api", PREFIX, "/" },
	{ "/submit/cpy/api/", PREFIX, "/" },
	{ "/submit/cpy/api?x=1", PREFIX, "/" },
	{ "/submitx", "/submit", "/submitx" },
	{ "/submit/cpy/apix/serial", PREFIX, "/submit/cpy/apix/serial" },
	{ "/serial", PREFIX, "/serial" },
	{ "/submit", PREFIX, "/submit" },
	{ "/", PREFIX, "/" },
	{ "/submit/serial", "/submit", "/serial" },
	/* A prefix named like an endpoint leaves the endpoint's own path
	 * (break-it helper 22: "/submit" became "/"). */
	{ "/submit", "/submit", "/submit" },
	{ "/submit/", "/submit", "/submit" },
	{ "/submit/submit", "/submit", "/submit" },
	{ "/status", "/status", "/status" },
	{ "/info/runtime", "/info", "/info/runtime" },
	{ "/info", "/info", "/" },
	{ "http://h:1/submit/cpy/api/serial", PREFIX, "/serial" },
};

static void
router_normalise_drops_prefix_only_at_a_segment(void)
{
	NORMALISE_CHECK(prefix_cases);
}

static void
route_check(const char *path, const struct route *want, unsigned methods,
    unsigned public_methods)
{
	const struct route *rt = router_find(path);

	CHECK(rt == want, "router_find(\"%s\") is %p, want %p", path,
	    (const void *)rt, (const void *)want);
	if (rt == NULL)
		return;
	CHECK(strcmp(rt->path, path) == 0, "route of %s has path %s", path,
	    rt->path);
	CHECK(rt->methods == methods, "%s: methods %#x, want %#x", path,
	    rt->methods, methods);
	CHECK(rt->public_methods == public_methods,
	    "%s: public methods %#x, want %#x", path, rt->public_methods,
	    public_methods);
	CHECK(!(methods & ROUTE_GET) || rt->get != NULL, "%s: no GET handler",
	    path);
	CHECK(!(methods & ROUTE_POST) || rt->post != NULL,
	    "%s: no POST handler", path);
}

/* GET /, /status and /submit need no credentials; POST /serial does. */
static void
router_finds_every_route(void)
{
	route_check("/", &route_root, ROUTE_GET, ROUTE_GET);
	route_check("/status", &route_status, ROUTE_GET, ROUTE_GET);
	route_check("/serial", &route_serial, ROUTE_POST, 0);
	route_check(
	    "/submit", &route_submit, ROUTE_GET | ROUTE_POST, ROUTE_GET);
	route_check("/fields", &route_fields, ROUTE_POST, 0);
	route_check("/detail", &route_detail, ROUTE_POST, 0);
	route_check("/summary", &route_summary, ROUTE_POST, 0);
	route_check("/info/testsuite", &route_info_testsuite, ROUTE_POST, 0);
	route_check("/info/runtime", &route_info_runtime, ROUTE_POST, 0);
}

static void
router_find_answers_null_for_unknown_paths(void)
{
	static const char *const paths[] = { "/nope", "/submitx", "/Submit",
		"/serial/x", "/info", "/detail/x", "" };
	size_t i;

	for (i = 0; i < CUNIT_NCASES(paths); i++)
		CHECK(router_find(paths[i]) == NULL,
		    "router_find(\"%s\") found a route", paths[i]);
}

static void
router_json_type_allows_parameters_and_case(void)
{
	static const struct {
		const char *ct;
		bool want;
	} rows[] = {
		{ "application/json", true },
		{ "Application/JSON; charset=utf-8", true },
		{ " application/json ", true },
		{ "application/json;charset=UTF-8", true },
		{ "application/json ; charset=utf-8", true },
		{ NULL, false },
		{ "", false },
		{ "text/plain", false },
		{ "application/jsonx", false },
		{ "application/json-patch+json", false },
		{ "application/x-www-form-urlencoded", false },
		{ "application/", false },
	};
	size_t i;

	for (i = 0; i < CUNIT_NCASES(rows); i++)
		CHECK(router_is_json_type(rows[i].ct) == rows[i].want,
		    "router_is_json_type(%s%s%s) is not %s",
		    rows[i].ct ? "\"" : "", rows[i].ct ? rows[i].ct : "NULL",
		    rows[i].ct ? "\"" : "", rows[i].want ? "true" : "false");
}

static const struct cunit_case router_cases[] = {
	{ "router_normalise_folds_slashes_and_drops_query",
	    router_normalise_folds_slashes_and_drops_query },
	{ "router_normalise_drops_prefix_only_at_a_segment",
	    router_normalise_drops_prefix_only_at_a_segment },
	{ "router_finds_every_route", router_finds_every_route },
	{ "router_find_answers_null_for_unknown_paths",
	    router_find_answers_null_for_unknown_paths },
	{ "router_json_type_allows_parameters_and_case",
	    router_json_type_allows_parameters_and_case },
};

int
main(void)
{
	return cunit_run("router", router_cases, CUNIT_NCASES(router_cases));
}
