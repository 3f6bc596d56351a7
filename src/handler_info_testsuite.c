/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * POST /info/testsuite: the matching test suites, each with its tests,
 * how many builds and runs used it, and when it last ran.  The rows come
 * one per suite and test, a suite's rows together, and are streamed: a
 * list may hold hundreds of thousands of tests (break-it helper 60: one
 * of 650,000 was made whole, 194 MB for one answer), and descriptions
 * may be long (helper 62: a cap by rows bounded no bytes).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "query_request.h"
#include "query_stream.h"
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
	TS_TEST_DESCRIPTION,
	TS_COLUMNS
};

/*
 * The same columns for the stream's batches: descriptions may be long,
 * so rows come one at a time (names are varchar).
 */
#define TS_COLUMN(name, type, long_text)               \
	{                                              \
		name, sizeof name - 1, type, long_text \
	}
static const struct query_stream_column handler_ts_columns[TS_COLUMNS] = {
	TS_COLUMN("test_suite_id", QT_INT, false),
	TS_COLUMN("suite_name", QT_TEXT, false),
	TS_COLUMN("test_suite_description", QT_TEXT, true),
	TS_COLUMN("test_build_count", QT_INT, false),
	TS_COLUMN("test_run_count", QT_INT, false),
	TS_COLUMN("last_start_timestamp", QT_TIMESTAMP, false),
	TS_COLUMN("test_name", QT_TEXT, false),
	TS_COLUMN("test_description", QT_TEXT, true),
};

/* Columns TS_BUILDS, TS_RUNS and TS_LAST, one after the other. */
#define TS_TAIL 3

/*
 * The suite being written: its id, and the values that follow its tests
 * (the same on each of its rows), kept from its first row.
 */
struct handler_ts_writer {
	char *id; /* NULL: no suite open. */
	char *tail[TS_TAIL];
};

static void
handler_ts_key(yajl_gen g, int col)
{
	const struct query_stream_column *c = &handler_ts_columns[col];

	yajl_gen_string(g, (const unsigned char *)c->name, c->name_len);
}

static void
handler_ts_value(yajl_gen g, const PGresult *res, int row, int col)
{
	handler_ts_key(g, col);
	query_value_write(g, handler_ts_columns[col].type,
	    PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

/* Close the open suite: its tests, then the values kept for after. */
static void
handler_ts_close(yajl_gen g, struct handler_ts_writer *w)
{
	int i;

	yajl_gen_array_close(g);
	for (i = 0; i < TS_TAIL; i++) {
		handler_ts_key(g, TS_BUILDS + i);
		query_value_write(g, handler_ts_columns[TS_BUILDS + i].type,
		    w->tail[i], strlen(w->tail[i]));
		free(w->tail[i]);
		w->tail[i] = NULL;
	}
	yajl_gen_map_close(g);
	free(w->id);
	w->id = NULL;
}

/* Open the suite of row: its head, and the values kept for after. */
static void
handler_ts_open(
    yajl_gen g, struct handler_ts_writer *w, const PGresult *res, int row)
{
	int i;

	yajl_gen_map_open(g);
	handler_ts_value(g, res, row, TS_NAME);
	handler_ts_value(g, res, row, TS_DESCRIPTION);
	yajl_gen_string(g, (const unsigned char *)"tests", 5);
	yajl_gen_array_open(g);
	w->id = xstrdup(PQgetvalue(res, row, TS_ID));
	for (i = 0; i < TS_TAIL; i++)
		w->tail[i] = xstrdup(PQgetvalue(res, row, TS_BUILDS + i));
}

/* One row: a new suite's head when it starts one, then its test. */
static void
handler_ts_row(yajl_gen g, const PGresult *res, int row, void *state)
{
	struct handler_ts_writer *w = state;

	if (w->id != NULL && strcmp(w->id, PQgetvalue(res, row, TS_ID)) != 0)
		handler_ts_close(g, w);
	if (w->id == NULL)
		handler_ts_open(g, w, res, row);
	/* A suite without tests has one row, its test NULL. */
	if (PQgetisnull(res, row, TS_TEST_NAME))
		return;
	yajl_gen_map_open(g);
	handler_ts_value(g, res, row, TS_TEST_NAME);
	handler_ts_value(g, res, row, TS_TEST_DESCRIPTION);
	yajl_gen_map_close(g);
}

static void
handler_ts_end(yajl_gen g, void *state)
{
	struct handler_ts_writer *w = state;

	if (w->id != NULL)
		handler_ts_close(g, w);
}

/* A stream ended early leaves a suite open. */
static void
handler_ts_free(void *state)
{
	struct handler_ts_writer *w = state;
	int i;

	free(w->id);
	for (i = 0; i < TS_TAIL; i++)
		free(w->tail[i]);
	free(w);
}

static void
handler_info_testsuite_stream(
    struct request *r, const struct query_spec *q, const char *sql)
{
	struct query_stream_writer writer = { handler_ts_row, handler_ts_end,
		handler_ts_free, xcalloc(1, sizeof(struct handler_ts_writer)) };

	query_stream_start(r, q, sql, handler_ts_columns, TS_COLUMNS, &writer);
}

static void
handler_info_testsuite_post(struct request *r)
{
	query_request_run(r, QK_TESTSUITE, NULL, handler_info_testsuite_stream);
}

const struct route route_info_testsuite = {
	.path = "/info/testsuite",
	.methods = ROUTE_POST,
	.public_methods = 0,
	.post = handler_info_testsuite_post,
};
