/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SQL for the query endpoints.  Identifiers come from the field catalogue
 * only; values are $n parameters.  Rows read back through LEFT JOINs so
 * that a result whose link finds nothing (data left by the reference)
 * still shows, with the column's default.
 */
#include "config.h"

#include <stdlib.h>

#include "query_sql.h"

/* One output column: the value, or its default where a join found none. */
static void
query_sql_select_item(struct strbuf *sb, const struct query_field *f)
{
	if (f->fallback != NULL)
		strbuf_addf(sb, "COALESCE(%s, %s)", f->expr, f->fallback);
	else
		strbuf_adds(sb, f->expr);
}

static void
query_sql_columns(struct strbuf *sb, const struct query_spec *q)
{
	size_t i;

	for (i = 0; i < q->ncolumns; i++) {
		if (i > 0)
			strbuf_adds(sb, ", ");
		query_sql_select_item(sb, q->columns[i]);
	}
}

/* FROM the phase table and the joins of the wanted kinds. */
static void
query_sql_from(struct strbuf *sb, const struct query_spec *q, bool rows)
{
	int j;

	strbuf_addf(sb, " FROM %s p", q->phase->table);
	for (j = QJ_NONE + 1; j < QJ_COUNT; j++) {
		if (q->filter_joins[j] || (rows && q->select_joins[j]))
			strbuf_addf(sb, " %s", query_join_sql(j));
	}
	strbuf_addf(sb, " WHERE true%s", q->where.data ? q->where.data : "");
}

static bool
query_sql_paged(const struct query_spec *q)
{
	return q->limit_param >= 0 || q->offset_param >= 0;
}

/* ORDER BY, then LIMIT and OFFSET; a page is ordered to be stable. */
static void
query_sql_page(
    struct strbuf *sb, const struct query_spec *q, const char *tiebreak)
{
	if (q->order.len > 0)
		strbuf_addf(sb, "%s%s%s", q->order.data,
		    query_sql_paged(q) && tiebreak ? ", " : "",
		    query_sql_paged(q) && tiebreak ? tiebreak : "");
	else if (query_sql_paged(q) && tiebreak != NULL)
		strbuf_addf(sb, " ORDER BY %s", tiebreak);
	if (q->limit_param >= 0)
		strbuf_addf(sb, " LIMIT $%d::int8", q->limit_param + 1);
	if (q->offset_param >= 0)
		strbuf_addf(sb, " OFFSET $%d::int8", q->offset_param + 1);
}

static void
query_sql_detail(struct strbuf *sb, const struct query_spec *q)
{
	char *id = xasprintf("p.%s", q->phase->id);

	strbuf_adds(sb, "SELECT ");
	query_sql_columns(sb, q);
	query_sql_from(sb, q, true);
	query_sql_page(sb, q, id);
	free(id);
}

/* Group positions 1..n, also the stable order of a page of groups. */
static char *
query_sql_positions(const struct query_spec *q)
{
	struct strbuf sb;
	size_t i;

	strbuf_setup(&sb);
	for (i = 0; i < q->ncolumns; i++)
		strbuf_addf(&sb, "%s%zu", i > 0 ? ", " : "", i + 1);
	return strbuf_take(&sb);
}

static void
query_sql_summary(struct strbuf *sb, const struct query_spec *q)
{
	char *positions = query_sql_positions(q);

	strbuf_adds(sb, "SELECT ");
	query_sql_columns(sb, q);
	strbuf_addf(sb,
	    "%scount(*) FILTER (WHERE p.test_result = 0),"
	    " count(*) FILTER (WHERE p.test_result = 1),"
	    " count(*) FILTER (WHERE p.test_result = 2),"
	    " count(*) FILTER (WHERE p.test_result = 3),"
	    " count(*) FILTER (WHERE p.test_result NOT IN (0, 1, 2, 3))",
	    q->ncolumns > 0 ? ", " : "");
	query_sql_from(sb, q, true);
	if (q->ncolumns > 0)
		strbuf_addf(sb, " GROUP BY %s", positions);
	query_sql_page(sb, q, q->ncolumns > 0 ? positions : NULL);
	free(positions);
}

/* count_only: what the query would answer, counted by PostgreSQL. */
static void
query_sql_count(struct strbuf *sb, const struct query_spec *q)
{
	struct strbuf inner;

	if (q->kind == QK_DETAIL && !query_sql_paged(q)) {
		strbuf_adds(sb, "SELECT count(*)");
		query_sql_from(sb, q, false);
		return;
	}
	strbuf_setup(&inner);
	if (q->kind == QK_SUMMARY)
		query_sql_summary(&inner, q);
	else {
		strbuf_adds(&inner, "SELECT 1");
		query_sql_from(&inner, q, false);
		query_sql_page(&inner, q, NULL);
	}
	strbuf_addf(sb, "SELECT count(*) FROM (%s) q", inner.data);
	strbuf_shutdown(&inner);
}

/* Durations in seconds (a month is 30 days, as PostgreSQL counts). */
static void
query_sql_runtime(struct strbuf *sb, const struct query_spec *q)
{
	strbuf_adds(sb,
	    "SELECT count(*), min(q.s), avg(q.s),"
	    " percentile_cont(0.5) WITHIN GROUP (ORDER BY q.s),"
	    " percentile_cont(0.9) WITHIN GROUP (ORDER BY q.s),"
	    " max(q.s), min(q.t), max(q.t) FROM (SELECT"
	    " extract(epoch FROM p.duration)::float8 AS s,"
	    " p.start_timestamp AS t");
	query_sql_from(sb, q, false);
	strbuf_adds(sb, ") q");
}

/*
 * One row per suite and test, suites first; counts per suite.  A suite's
 * description comes on its first row only (NULL after): it may be long,
 * and a suite may have thousands of tests (break-it helper 62).
 */
static void
query_sql_testsuite(struct strbuf *sb, const struct query_spec *q)
{
	strbuf_addf(sb,
	    "WITH st AS (SELECT ts.test_suite_id, ts.suite_name,"
	    " ts.test_suite_description FROM test_suites ts WHERE true%s),"
	    " b AS (SELECT test_suite_id, count(*) AS n,"
	    " max(start_timestamp) AS last FROM test_build WHERE"
	    " test_suite_id IN (SELECT test_suite_id FROM st) GROUP BY 1),"
	    " r AS (SELECT test_suite_id, count(*) AS n,"
	    " max(start_timestamp) AS last FROM test_run WHERE"
	    " test_suite_id IN (SELECT test_suite_id FROM st) GROUP BY 1)"
	    " SELECT st.test_suite_id, st.suite_name,"
	    " CASE WHEN row_number() OVER (PARTITION BY st.suite_name,"
	    " st.test_suite_id ORDER BY tn.test_name) = 1 THEN"
	    " COALESCE(st.test_suite_description, '') END, COALESCE(b.n, 0),"
	    " COALESCE(r.n, 0), COALESCE(greatest(b.last, r.last)::text, ''),"
	    " tn.test_name,"
	    " COALESCE(tn.test_name_description, '')"
	    " FROM st LEFT JOIN b USING (test_suite_id)"
	    " LEFT JOIN r USING (test_suite_id)"
	    " LEFT JOIN test_names tn ON tn.test_suite_id = st.test_suite_id"
	    " ORDER BY st.suite_name, st.test_suite_id, tn.test_name",
	    q->where.data ? q->where.data : "");
}

char *
query_sql_build(const struct query_spec *q)
{
	struct strbuf sb;

	strbuf_setup(&sb);
	if (q->kind == QK_TESTSUITE)
		query_sql_testsuite(&sb, q);
	else if (q->kind == QK_RUNTIME)
		query_sql_runtime(&sb, q);
	else if (q->count_only)
		query_sql_count(&sb, q);
	else if (q->kind == QK_SUMMARY)
		query_sql_summary(&sb, q);
	else
		query_sql_detail(&sb, q);
	return strbuf_take(&sb);
}
