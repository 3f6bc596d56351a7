/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fresh planner statistics after big stores.  A look, on the connection
 * of the store that crossed analyze_after, right after it: that backend
 * publishes its row counts (PostgreSQL 15 does so at most once a second,
 * and when idle may wait ten seconds: it is told to do it now); the
 * tables mttd stores into that changed by more rows than the planner
 * knows they hold are listed, among those this role may analyse; and
 * they are analysed with SKIP_LOCKED, so that the look never waits
 * behind a lock (nor holds a migration up), within a statement timeout
 * of a few seconds, since it holds a pool connection.  One look at a
 * time.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <libpq-fe.h>

#include "log.h"
#include "strbuf.h"
#include "table_stats.h"

/* The tables mttd stores into: another application's, in the same
 * schema, may take minutes to analyse on a pool connection. */
#define TABLE_STATS_TABLES                                       \
	"{submit,compute_cluster,compiler,mpi_get,"              \
	"mpi_install_configure_args,description,result_message," \
	"environment,test_suites,test_names,test_run_command,"   \
	"latency_bandwidth,performance,mpi_install,test_build,test_run}"

/*
 * The longest an ANALYZE may run, in ms (at most half of query_timeout):
 * it holds a pool connection meanwhile.  Sampling 30,000 rows takes well
 * under a second on mttd's tables; a statistics target raised by hand
 * may take more, and the next look tries again.
 */
#define TABLE_STATS_ANALYZE_MS 5000

/*
 * Those of mttd's tables, on the search path, that changed by more rows
 * than the planner knows they hold (plus autovacuum_analyze_threshold):
 * its picture of them is off by half or more.  Smaller drifts are
 * autovacuum's (it takes a tenth); on a database of millions of rows
 * this finds none.  Only those this role owns, or owns the database of.
 */
#define TABLE_STATS_DUE_SQL                                              \
	"SELECT string_agg(s.relid::regclass::text, ', '"                \
	" ORDER BY s.relname)"                                           \
	" FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid" \
	" WHERE s.schemaname = ANY (current_schemas(false))"             \
	" AND s.relname = ANY ($1::text[])"                              \
	" AND s.n_mod_since_analyze >"                                   \
	" current_setting('autovacuum_analyze_threshold')::float8"       \
	" + greatest(c.reltuples, 0)"                                    \
	" AND (pg_has_role(c.relowner, 'USAGE') OR pg_has_role((SELECT"  \
	" datdba FROM pg_database WHERE datname = current_database()),"  \
	" 'USAGE'))"

struct table_stats {
	const struct settings *settings;
	bool supported;	      /* PostgreSQL 15 or later. */
	size_t since_look;    /* Entries stored since the last look began. */
	size_t looked_after;  /* ...and what the look under way follows. */
	struct db_conn *conn; /* The look's, while it runs. */
	char *due;	      /* The tables the look analyses. */
	struct timeval began; /* Of the ANALYZE. */
};

static void
table_stats_done(struct table_stats *t)
{
	if (t->conn != NULL)
		db_conn_release(t->conn);
	t->conn = NULL;
	free(t->due);
	t->due = NULL;
}

static void
table_stats_analysed_cb(const struct db_result *res, void *arg)
{
	struct table_stats *t = arg;
	struct timeval now, took;

	gettimeofday(&now, NULL);
	timersub(&now, &t->began, &took);
	if (res->failed >= 0)
		log_warn("statistics: ANALYZE of %s failed: %s", t->due,
		    res->error ? res->error : "unknown error");
	else
		log_info("statistics: analysed %s in %ld ms (%zu entries"
			 " stored since the last look)",
		    t->due, (long)(took.tv_sec * 1000 + took.tv_usec / 1000),
		    t->looked_after);
	table_stats_done(t);
}

/* TABLE_STATS_ANALYZE_MS, or half of query_timeout when that is less. */
static int
table_stats_analyze_ms(const struct table_stats *t)
{
	int half = t->settings->query_timeout_s * 500;

	return half > 0 && half < TABLE_STATS_ANALYZE_MS ?
	    half :
	    TABLE_STATS_ANALYZE_MS;
}

/* The tables due, as one list (NULL when none is). */
static void
table_stats_listed_cb(const struct db_result *res, void *arg)
{
	struct table_stats *t = arg;
	const PGresult *list = res->failed < 0 ? res->results[0] : NULL;
	struct db_batch *b;
	char *timeout, *sql;

	if (list == NULL) {
		log_warn("statistics: cannot list the tables due: %s",
		    res->error ? res->error : "unknown error");
		table_stats_done(t);
		return;
	}
	if (PQntuples(list) != 1 || PQgetisnull(list, 0, 0)) {
		log_debug("statistics: no table due after %zu entries stored",
		    t->looked_after);
		table_stats_done(t);
		return;
	}
	t->due = xstrdup(PQgetvalue(list, 0, 0));
	timeout = xasprintf(
	    "SET LOCAL statement_timeout = %d", table_stats_analyze_ms(t));
	sql = xasprintf("ANALYZE (SKIP_LOCKED) %s", t->due);
	b = db_batch_new();
	db_batch_add(b, "BEGIN", 0, NULL, NULL);
	db_batch_add(b, timeout, 0, NULL, NULL);
	db_batch_add(b, sql, 0, NULL, NULL);
	db_batch_add(b, "COMMIT", 0, NULL, NULL);
	gettimeofday(&t->began, NULL);
	db_conn_run(t->conn, b, table_stats_analysed_cb, t);
	free(timeout);
	free(sql);
}

/* The store's counts are published: list the tables due. */
static void
table_stats_flushed_cb(const struct db_result *res, void *arg)
{
	struct table_stats *t = arg;
	struct db_batch *b;

	if (res->failed >= 0) {
		log_warn("statistics: cannot have the row counts published: %s",
		    res->error ? res->error : "unknown error");
		table_stats_done(t);
		return;
	}
	const char *tables = TABLE_STATS_TABLES;

	b = db_batch_new();
	db_batch_add(b, TABLE_STATS_DUE_SQL, 1, &tables, NULL);
	db_conn_run(t->conn, b, table_stats_listed_cb, t);
}

struct table_stats *
table_stats_new(const struct settings *settings, int server_version_num)
{
	struct table_stats *t = xcalloc(1, sizeof *t);

	t->settings = settings;
	t->supported = server_version_num >= 150000;
	if (!t->supported && settings->analyze_after > 0)
		log_info("statistics: before PostgreSQL 15 (no"
			 " pg_stat_force_next_flush) analyze_after is ignored:"
			 " autovacuum keeps the statistics");
	return t;
}

bool
table_stats_stored(struct table_stats *t, size_t entries, struct db_conn *conn)
{
	size_t after = (size_t)t->settings->analyze_after;
	struct db_batch *b;

	if (!t->supported || after == 0)
		return false;
	t->since_look += entries;
	if (t->conn != NULL || conn == NULL || t->since_look < after)
		return false;
	t->conn = conn;
	t->looked_after = t->since_look;
	t->since_look = 0;
	b = db_batch_new();
	db_batch_add(b, "SELECT pg_stat_force_next_flush()", 0, NULL, NULL);
	db_conn_run(conn, b, table_stats_flushed_cb, t);
	return true;
}

void
table_stats_free(struct table_stats *t)
{
	if (t == NULL)
		return;
	/* A look's batch in flight is dropped with the pool, unanswered. */
	free(t->due);
	free(t);
}
