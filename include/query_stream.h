/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Streamed query answers: rows read through a server-side cursor a
 * bounded batch at a time and written by a yajl generator into a chunked
 * reply, the next batch fetched only as the answer leaves, so memory
 * stays flat whatever the number of rows.
 */
#ifndef MTTD_QUERY_STREAM_H
#define MTTD_QUERY_STREAM_H

#include <stdbool.h>

#include "query_fields.h"
#include "query_spec.h"
#include "request.h"

/* One column of the streamed rows: its JSON key and how to write it. */
struct query_stream_column {
	const char *name;
	size_t name_len; /* strlen(name), counted once. */
	enum query_type type;
	bool long_text; /* May hold megabytes: fetched a few rows first. */
};

/*
 * Rows written another way than one object each: row writes what row
 * adds to the answer (a suite's head and one of its tests, say), end
 * closes what the last rows left open; free_state frees state.
 */
struct query_stream_writer {
	void (*row)(yajl_gen g, const PGresult *res, int row, void *state);
	void (*end)(yajl_gen g, void *state);
	void (*free_state)(void *state);
	void *state;
};

/*
 * Stream the rows of sql (the query of q, whose parameters it uses) as
 * {"status": 0, "status_message": "Success", "query_data": [rows]} on
 * r, which holds a connection.  columns (ncolumns, copied) name the
 * result's columns in order, and size its batches.  writer (NULL: each
 * row one object of columns) is taken, its state freed with the stream.
 * Takes r: it is finished when the stream ends, fails or the client
 * leaves.
 */
void query_stream_start(struct request *r, const struct query_spec *q,
    const char *sql, const struct query_stream_column *columns, size_t ncolumns,
    const struct query_stream_writer *writer);

/* Write row of res as one object of columns (in the result's order). */
void query_stream_write_row(yajl_gen g, const PGresult *res, int row,
    const struct query_stream_column *columns, size_t ncolumns);

#endif /* MTTD_QUERY_STREAM_H */
