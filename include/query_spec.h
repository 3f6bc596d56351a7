/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A query request (/detail, /summary, /info/runtime, /info/testsuite)
 * checked against the field catalogue and turned into SQL whose only
 * identifiers come from the catalogue and whose every value is a
 * parameter.
 */
#ifndef MTTD_QUERY_SPEC_H
#define MTTD_QUERY_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "json_doc.h"
#include "query_fields.h"
#include "strbuf.h"

enum query_kind {
	QK_DETAIL,   /* Rows of the requested columns. */
	QK_SUMMARY,  /* Groups of them with five counters. */
	QK_RUNTIME,  /* Duration figures of the matching results. */
	QK_TESTSUITE /* Suites with their tests and counts. */
};

/* One parameter of the SQL; $n is its index plus one. */
struct query_param {
	char *value;
	const char *key;   /* The search key it came from, or NULL. */
	char *check_sql;   /* "SELECT $1::timestamp" when PostgreSQL must
			    * judge it first, else NULL. */
	const char *check; /* "a timestamp", for the message. */
};

struct query_spec {
	enum query_kind kind;
	const struct query_phase *phase;    /* NULL for QK_TESTSUITE. */
	const struct query_field **columns; /* Those applying, in order. */
	size_t ncolumns;
	struct query_param *params;
	int nparams;
	int params_cap;
	struct strbuf where; /* " AND ..." per condition. */
	struct strbuf order; /* " ORDER BY ...", or empty. */
	int limit_param;     /* Index into params, or -1. */
	int offset_param;    /* Index into params, or -1. */
	bool count_only;
	bool select_joins[QJ_COUNT]; /* Needed for the rows. */
	bool filter_joins[QJ_COUNT]; /* Needed by search and order. */
};

/* Most search conditions (and so parameters) one query may have. */
#define QUERY_MAX_CONDITIONS 1000

/* The summary counters, after the columns of each /summary row. */
#define QUERY_SUMMARY_COUNTERS 5
extern const char *const query_summary_counters[QUERY_SUMMARY_COUNTERS];

/*
 * Check body and fill q.  False with *cause (the caller frees it) naming
 * what is wrong; q must be freed with query_spec_free either way.
 */
bool query_spec_parse(struct query_spec *q, enum query_kind kind,
    const struct json_value *body, char **cause)
    __attribute__((warn_unused_result));

/* Free what q holds. */
void query_spec_free(struct query_spec *q);

#endif /* MTTD_QUERY_SPEC_H */
