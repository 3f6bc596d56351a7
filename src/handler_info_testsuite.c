/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * POST /info/testsuite: the matching test suites, each with its tests,
 * how many builds and runs used it, and when it last ran.
 */
#include "config.h"

#include <string.h>

#include "handlers.h"
#include "query_request.h"
#include "query_value.h"

/* Columns of the query (query_sql_testsuite). */
enum {
	TS_ID,
	TS_NAME,
	TS_DESCRIPTION,
	TS_BUILDS,
	TS_RUNS,
	TS_LAST,
	TS_TEST_NAME,
	TS_TEST_DESCRIPTION
};

static void
handler_ts_value(yajl_gen g, const char *key, enum query_type t,
    const PGresult *res, int row, int col)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
	query_value_write(g, t, PQgetvalue(res, row, col),
	    (size_t)PQgetlength(res, row, col));
}

/* One suite from its first row; returns the row after its last test. */
static int
handler_ts_suite(yajl_gen g, const PGresult *res, int row)
{
	const char *id = PQgetvalue(res, row, TS_ID);
	int n = PQntuples(res);

	yajl_gen_map_open(g);
	handler_ts_value(g, "suite_name", QT_TEXT, res, row, TS_NAME);
	handler_ts_value(
	    g, "test_suite_description", QT_TEXT, res, row, TS_DESCRIPTION);
	yajl_gen_string(g, (const unsigned char *)"tests", 5);
	yajl_gen_array_open(g);
	for (; row < n && strcmp(PQgetvalue(res, row, TS_ID), id) == 0; row++) {
		if (PQgetisnull(res, row, TS_TEST_NAME))
			continue;
		yajl_gen_map_open(g);
		handler_ts_value(
		    g, "test_name", QT_TEXT, res, row, TS_TEST_NAME);
		handler_ts_value(g, "test_description", QT_TEXT, res, row,
		    TS_TEST_DESCRIPTION);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	row--;
	handler_ts_value(g, "test_build_count", QT_INT, res, row, TS_BUILDS);
	handler_ts_value(g, "test_run_count", QT_INT, res, row, TS_RUNS);
	handler_ts_value(
	    g, "last_start_timestamp", QT_TIMESTAMP, res, row, TS_LAST);
	yajl_gen_map_close(g);
	return row + 1;
}

static void
handler_info_testsuite_answer_cb(struct request *r, const PGresult *res)
{
	yajl_gen g = request_json_new();
	int row = 0;

	yajl_gen_map_open(g);
	request_json_status(g, 0, "Success");
	yajl_gen_string(g, (const unsigned char *)"query_data", 10);
	yajl_gen_array_open(g);
	while (row < PQntuples(res))
		row = handler_ts_suite(g, res, row);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	request_reply_json(r, 200, g);
}

static void
handler_info_testsuite_post(struct request *r)
{
	query_request_run(r, QK_TESTSUITE, handler_info_testsuite_answer_cb);
}

const struct route route_info_testsuite = {
	.path = "/info/testsuite",
	.methods = ROUTE_POST,
	.public_methods = 0,
	.post = handler_info_testsuite_post,
};
