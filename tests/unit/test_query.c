/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the query side without a database: the field catalogue,
 * values written back as the reference printed them (timestamps,
 * intervals, arrays), request checks and their messages, and the SQL
 * built (joins only where needed, every value a parameter).
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "json_doc.h"
#include "query_fields.h"
#include "query_spec.h"
#include "query_sql.h"
#include "query_value.h"

static void
query_catalogue_has_48_fields_once(void)
{
	const struct query_field *f;
	size_t i, j, n;

	f = query_fields_all(&n);
	CHECK(n == 48, "the catalogue has %zu fields, want 48", n);
	for (i = 0; i < n; i++) {
		CHECK(query_field_find(f[i].name) == &f[i],
		    "query_field_find(%s) is not its entry", f[i].name);
		for (j = i + 1; j < n; j++)
			CHECK(strcmp(f[i].name, f[j].name) != 0,
			    "%s is listed twice", f[i].name);
	}
	CHECK(query_field_find("endian") == NULL, "endian is not queryable");
	CHECK(strcmp(query_field_find("resource_manager")->expr,
		  "trc.resource_mgr") == 0,
	    "resource_manager is test_run_command.resource_mgr");
	CHECK(strcmp(query_field_find("command")->expr, "p.full_command") == 0,
	    "command is test_run.full_command");
}

static void
query_phases_of_fields(void)
{
	const struct query_phase *install = query_phase_find("install");
	const struct query_phase *build = query_phase_find("test_build");
	const struct query_phase *run = query_phase_find("test_run");

	CHECK(
	    query_phase_find("mpi_install") == NULL, "mpi_install is no phase");
	CHECK(!query_field_applies(query_field_find("suite_name"), install),
	    "suite_name is not an install field");
	CHECK(query_field_applies(query_field_find("suite_name"), build),
	    "suite_name is a test_build field (B8)");
	CHECK(!query_field_applies(query_field_find("np"), build),
	    "np is not a test_build field");
	CHECK(query_field_applies(query_field_find("bitness"), run),
	    "bitness is a test_run field");
	CHECK(query_field_applies(query_field_find("duration"), install),
	    "duration is shared");
}

static void
interval_check(const char *pg, const char *want)
{
	char out[QUERY_VALUE_TEXT_MAX];

	CHECK(query_interval_format(pg, out, sizeof out) &&
		strcmp(out, want) == 0,
	    "interval \"%s\" is \"%s\", want \"%s\"", pg, out, want);
}

static void
query_intervals_read_like_timedelta(void)
{
	char out[QUERY_VALUE_TEXT_MAX];

	interval_check("00:00:00", "0:00:00");
	interval_check("00:05:22", "0:05:22");
	interval_check("00:00:01.5", "0:00:01.500000");
	interval_check("1 day 02:03:04", "1 day, 2:03:04");
	interval_check("2 days", "2 days, 0:00:00");
	interval_check("1 mon", "30 days, 0:00:00");
	interval_check("1 year 1 mon", "395 days, 0:00:00");
	interval_check("-00:00:05", "-1 day, 23:59:55");
	interval_check("-2 days +01:00:00", "-2 days, 1:00:00");
	interval_check("100:00:00", "4 days, 4:00:00");
	interval_check("-00:00:00.000001", "-1 day, 23:59:59.999999");
	/* PostgreSQL's two ends of an interval's clock. */
	interval_check(
	    "2562047788:00:54.775807", "106751991 days, 4:00:54.775807");
	interval_check(
	    "-2562047788:00:54.775808", "-106751992 days, 19:59:05.224192");
	CHECK(
	    !query_interval_format("-2562047788:00:54.775809", out, sizeof out),
	    "a clock past PostgreSQL's range is not read");
	CHECK(!query_interval_format("soon", out, sizeof out),
	    "\"soon\" is not an interval");
	CHECK(!query_interval_format("1 fortnight", out, sizeof out),
	    "\"1 fortnight\" is not an interval");
}

static void
timestamp_check(const char *pg, const char *want)
{
	char out[QUERY_VALUE_TEXT_MAX];

	query_timestamp_format(pg, out, sizeof out);
	CHECK(strcmp(out, want) == 0, "timestamp \"%s\" is \"%s\", want \"%s\"",
	    pg, out, want);
}

static void
query_timestamps_have_six_fraction_digits(void)
{
	timestamp_check("2026-12-04 13:00:00", "2026-12-04 13:00:00");
	timestamp_check("2026-03-02 08:30:00.25", "2026-03-02 08:30:00.250000");
	timestamp_check(
	    "2026-12-04 14:35:56.759406", "2026-12-04 14:35:56.759406");
	timestamp_check("", "");
	timestamp_check(
	    "0044-03-15 12:00:00.5 BC", "0044-03-15 12:00:00.500000 BC");
	timestamp_check("infinity", "infinity");
}

/* The JSON one value gives, written alone into an array. */
static char *
value_json(enum query_type t, const char *pg)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;
	char *out;

	yajl_gen_array_open(g);
	query_value_write(g, t, pg, pg ? strlen(pg) : 0);
	yajl_gen_array_close(g);
	yajl_gen_get_buf(g, &buf, &len);
	out = strndup((const char *)buf, len);
	yajl_gen_free(g);
	return out;
}

static void
value_check(enum query_type t, const char *pg, const char *want)
{
	char *got = value_json(t, pg);

	CHECK(strcmp(got, want) == 0, "value \"%s\" is %s, want %s",
	    pg ? pg : "NULL", got, want);
	free(got);
}

static void
query_values_keep_their_types(void)
{
	value_check(QT_INT, "-38", "[-38]");
	value_check(QT_BOOL, "t", "[true]");
	value_check(QT_BOOL, "f", "[false]");
	value_check(QT_BITS, "001000", "[\"001000\"]");
	value_check(QT_TEXT, "say \"hi\"\n", "[\"say \\\"hi\\\"\\n\"]");
	value_check(QT_INT_ARRAY, "{}", "[[]]");
	value_check(QT_INT_ARRAY, "{1,2,4096}", "[[1,2,4096]]");
	value_check(QT_FLOAT_ARRAY, "{1.5,-0.25,1e+20}", "[[1.5,-0.25,1e+20]]");
	value_check(
	    QT_FLOAT_ARRAY, "{NaN,Infinity,NULL}", "[[null,null,null]]");
	value_check(QT_INTERVAL, "1 day 00:00:01", "[\"1 day, 0:00:01\"]");
	/* Shapes only a reference database holds stay valid JSON. */
	value_check(QT_INT_ARRAY, "{{1,2},{3,4}}", "[\"{{1,2},{3,4}}\"]");
	value_check(QT_FLOAT_ARRAY, "[0:1]={5,6}", "[\"[0:1]={5,6}\"]");
	value_check(QT_TEXT, NULL, "[null]");
}

/* Parse body as kind; returns true on success, else *cause (freed). */
static bool
spec_of(
    struct query_spec *q, enum query_kind kind, const char *body, char **cause)
{
	enum json_doc_error err;
	struct json_value *v = json_doc_parse(
	    body, strlen(body), 32, &err, cause);
	bool ok;

	if (v == NULL)
		return false;
	*cause = NULL;
	ok = query_spec_parse(q, kind, v, cause);
	json_value_free(v);
	return ok;
}

struct refusal {
	enum query_kind kind;
	const char *body;
	const char *names; /* A word the message must hold. */
};

static void
query_refusals_name_the_key(void)
{
	static const struct refusal rows[] = {
		{ QK_DETAIL, "{\"columns\":[],\"search\":{}}", "'phase'" },
		{ QK_DETAIL,
		    "{\"phase\":\"mpi_install\",\"columns\":[],"
		    "\"search\":{}}",
		    "test_build" },
		{ QK_DETAIL, "{\"phase\":7,\"columns\":[],\"search\":{}}",
		    "'phase'" },
		{ QK_DETAIL, "{\"phase\":\"install\",\"search\":{}}",
		    "'columns'" },
		{ QK_DETAIL,
		    "{\"phase\":\"install\",\"columns\":\"np\","
		    "\"search\":{}}",
		    "'columns'" },
		{ QK_DETAIL,
		    "{\"phase\":\"install\",\"columns\":[\"x_y\"],"
		    "\"search\":{}}",
		    "'x_y'" },
		{ QK_SUMMARY, "{\"phase\":\"install\",\"columns\":[]}",
		    "'search'" },
		{ QK_DETAIL,
		    "{\"phase\":\"install\",\"columns\":[],"
		    "\"search\":{\"suite_name\":\"a\"}}",
		    "'suite_name'" },
		{ QK_DETAIL,
		    "{\"phase\":\"test_run\",\"columns\":[],"
		    "\"search\":{\"np\":\"four\"}}",
		    "'np'" },
		{ QK_DETAIL,
		    "{\"phase\":\"test_run\",\"columns\":[],"
		    "\"search\":{\"np\":{\"like\":\"4%\"}}}",
		    "'np'" },
		{ QK_DETAIL,
		    "{\"phase\":\"test_run\",\"columns\":[],"
		    "\"search\":{\"np\":{\"between\":4}}}",
		    "'between'" },
		{ QK_DETAIL,
		    "{\"phase\":\"test_run\",\"columns\":[],"
		    "\"search\":{\"latency_min\":[]}}",
		    "'latency_min'" },
		{ QK_DETAIL,
		    "{\"phase\":\"install\",\"columns\":[],"
		    "\"search\":{\"bitness\":\"0010\"}}",
		    "'bitness'" },
		{ QK_DETAIL,
		    "{\"phase\":\"install\",\"columns\":[],"
		    "\"search\":{},\"options\":{\"bogus\":1,"
		    "\"limit\":-1}}",
		    "'bogus'" },
		{ QK_DETAIL,
		    "{\"phase\":\"install\",\"columns\":[],"
		    "\"search\":{},\"options\":{\"limit\":1.5}}",
		    "'limit'" },
		{ QK_DETAIL,
		    "{\"phase\":\"install\",\"columns\":[],"
		    "\"search\":{},\"options\":{\"count_only\":2}}",
		    "'count_only'" },
		{ QK_DETAIL,
		    "{\"phase\":\"install\",\"columns\":[],"
		    "\"search\":{},\"options\":{\"order_by\":"
		    "[\"np\"]}}",
		    "'np'" },
		{ QK_RUNTIME, "{\"phase\":\"test_run\",\"search\":{\"np\":4}}",
		    "'test_name'" },
		{ QK_TESTSUITE, "{\"search\":{}}", "'suite_name'" },
		{ QK_TESTSUITE,
		    "{\"search\":{\"suite_name\":\"a\"},"
		    "\"options\":{\"limit\":1}}",
		    "'options'" },
		{ QK_RUNTIME,
		    "{\"phase\":\"test_run\",\"columns\":[],"
		    "\"search\":{\"test_name\":\"a\"}}",
		    "'columns'" },
	};
	struct query_spec q;
	char *cause;
	size_t i;

	for (i = 0; i < CUNIT_NCASES(rows); i++) {
		bool ok = spec_of(&q, rows[i].kind, rows[i].body, &cause);

		CHECK(!ok && cause != NULL && strstr(cause, rows[i].names),
		    "%s: message \"%s\" does not name %s", rows[i].body,
		    cause ? cause : "(none)", rows[i].names);
		free(cause);
		query_spec_free(&q);
	}
}

/* The SQL of body (which must be accepted); the caller frees it. */
static char *
sql_of(enum query_kind kind, const char *body, struct query_spec *q)
{
	char *cause = NULL;

	if (!spec_of(q, kind, body, &cause)) {
		CHECK(false, "%s refused: %s", body, cause ? cause : "?");
		free(cause);
		return strdup("");
	}
	return query_sql_build(q);
}

static void
query_sql_joins_only_what_is_needed(void)
{
	struct query_spec q;
	char *sql;

	sql = sql_of(QK_DETAIL,
	    "{\"phase\":\"test_run\",\"columns\":[\"np\",\"mpi_version\"],"
	    "\"search\":{\"suite_name\":\"x' OR '1'='1\"}}",
	    &q);
	CHECK(strcmp(sql,
		  "SELECT p.np, COALESCE(mg.mpi_version, '') FROM test_run p"
		  " LEFT JOIN mpi_get mg ON mg.mpi_get_id = p.mpi_get_id"
		  " LEFT JOIN test_suites ts ON ts.test_suite_id ="
		  " p.test_suite_id WHERE true AND ts.suite_name = $1::text") ==
		0,
	    "detail SQL: %s", sql);
	CHECK(q.nparams == 1 && strcmp(q.params[0].value, "x' OR '1'='1") == 0,
	    "the value is a parameter, as sent");
	free(sql);
	query_spec_free(&q);
}

static void
query_sql_of_search_forms(void)
{
	struct query_spec q;
	char *sql;

	sql = sql_of(QK_DETAIL,
	    "{\"phase\":\"install\",\"columns\":[],\"search\":{"
	    "\"start_timestamp\":{\"gte\":\"2026-12-01\",\"lt\":\"2026-12-02\"},"
	    "\"mpi_version\":[\"a\\\"b\",\"c\\\\d\"],\"trial\":1,"
	    "\"exit_value\":\"-3\",\"client_serial\":[7,-8]}}",
	    &q);
	/* An integer column meets its list as bigint, so that PostgreSQL
	 * can hash a long list (smallint against bigint[] cannot).  A
	 * nullable column (trial) matches NULL as the default it shows; a
	 * NOT NULL one (mpi_version) keeps the bare, index-friendly form. */
	CHECK(strstr(sql,
		  " WHERE true AND p.start_timestamp >= $1::timestamp"
		  " AND p.start_timestamp < $2::timestamp AND"
		  " mg.mpi_version = ANY($3::text[]) AND (p.trial = $4::bool OR"
		  " (p.trial IS NULL AND false = $4::bool)) AND p.exit_value ="
		  " $5::int8 AND (p.client_serial)::int8 = ANY($6::int8[])") !=
		NULL,
	    "conditions: %s", sql);
	CHECK(
	    q.nparams == 6 && strcmp(q.params[5].value, "{\"7\",\"-8\"}") == 0,
	    "the integer list: %s", q.nparams == 6 ? q.params[5].value : "");
	CHECK(q.nparams == 6 &&
		strcmp(q.params[2].value, "{\"a\\\"b\",\"c\\\\d\"}") == 0 &&
		strcmp(q.params[3].value, "t") == 0 &&
		strcmp(q.params[4].value, "-3") == 0,
	    "parameter values");
	CHECK(q.params[0].check_sql != NULL && q.params[2].check_sql == NULL,
	    "timestamps are checked by PostgreSQL first, texts are not");
	free(sql);
	query_spec_free(&q);
}

static void
query_sql_of_options(void)
{
	struct query_spec q;
	char *sql;

	sql = sql_of(QK_DETAIL,
	    "{\"phase\":\"test_run\",\"columns\":[\"test_name\"],\"search\":{},"
	    "\"options\":{\"order_by\":[\"-np\"],\"limit\":10,\"offset\":20}}",
	    &q);
	CHECK(strstr(sql,
		  " ORDER BY p.np DESC, p.test_run_id LIMIT $1::int8"
		  " OFFSET $2::int8") != NULL,
	    "paged SQL: %s", sql);
	free(sql);
	query_spec_free(&q);

	/* A field shown as its default where it is NULL sorts as shown. */
	sql = sql_of(QK_DETAIL,
	    "{\"phase\":\"test_run\",\"columns\":[\"np\"],\"search\":{},"
	    "\"options\":{\"order_by\":[\"-trial\",\"launcher\",\"np\"]}}",
	    &q);
	CHECK(strstr(sql,
		  " ORDER BY COALESCE(p.trial, false) DESC,"
		  " COALESCE(trc.launcher, ''), p.np") != NULL,
	    "ordered SQL: %s", sql);
	free(sql);
	query_spec_free(&q);

	sql = sql_of(QK_DETAIL,
	    "{\"phase\":\"test_run\",\"columns\":[\"test_name\"],\"search\":{},"
	    "\"options\":{\"count_only\":1}}",
	    &q);
	CHECK(strcmp(sql, "SELECT count(*) FROM test_run p WHERE true") == 0,
	    "a count joins nothing the search does not need: %s", sql);
	free(sql);
	query_spec_free(&q);

	sql = sql_of(QK_SUMMARY,
	    "{\"phase\":\"test_run\",\"columns\":[\"suite_name\",\"np\"],"
	    "\"search\":{},\"options\":{\"order_by\":\"-test_result_failed\"}}",
	    &q);
	CHECK(strstr(sql, " GROUP BY 1, 2 ORDER BY 3 DESC") != NULL,
	    "summary SQL: %s", sql);
	free(sql);
	query_spec_free(&q);
}

static const struct cunit_case query_cases[] = {
	{ "query_catalogue_has_48_fields_once",
	    query_catalogue_has_48_fields_once },
	{ "query_phases_of_fields", query_phases_of_fields },
	{ "query_intervals_read_like_timedelta",
	    query_intervals_read_like_timedelta },
	{ "query_timestamps_have_six_fraction_digits",
	    query_timestamps_have_six_fraction_digits },
	{ "query_values_keep_their_types", query_values_keep_their_types },
	{ "query_refusals_name_the_key", query_refusals_name_the_key },
	{ "query_sql_joins_only_what_is_needed",
	    query_sql_joins_only_what_is_needed },
	{ "query_sql_of_search_forms", query_sql_of_search_forms },
	{ "query_sql_of_options", query_sql_of_options },
};

int
main(void)
{
	return cunit_run("query", query_cases, CUNIT_NCASES(query_cases));
}
