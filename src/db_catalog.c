/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Start-up reading of the database catalogue.  This is the one place that
 * waits for the database without the event loop: it runs before the loop
 * starts, so nothing else is waiting on it.  Its waits (poll on libpq's
 * socket) are still bounded by connect_timeout and query_timeout and give
 * way to SIGTERM and SIGINT.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_catalog.h"
#include "log.h"
#include "strbuf.h"

struct db_column {
	char *table;
	char *column;
	char *type;
	int max_chars;
};

struct db_catalog {
	struct db_column *columns;
	int count;
	char *server_version;
	int server_version_num; /* PQserverVersion: 150004 for 15.4. */
};

/* Tables of the mttv3 layout that submissions touch. */
static const char *const required_tables[] = { "submit", "compute_cluster",
	"compiler", "mpi_get", "mpi_install_configure_args", "description",
	"result_message", "environment", "test_suites", "test_names",
	"test_run_command", "performance", "latency_bandwidth", "mpi_install",
	"test_build", "test_run", NULL };

/* Indexes of sql/mttd-indexes.sql that find-or-create relies on. */
static const char *const required_indexes[] = { "mttd_submit_lookup",
	"mttd_description_lookup", "mttd_result_message_lookup",
	"mttd_environment_lookup", "mttd_test_run_command_lookup",
	"mttd_latency_bandwidth_lookup", "mttd_performance_lookup",
	"mttd_mpi_install_dedup", "mttd_test_build_dedup",
	"mttd_test_run_dedup", NULL };

/* Indexes of sql/mttd-query-indexes.sql: queries are slow without them,
 * not wrong, so a missing one is a warning. */
static const char *const query_indexes[] = { "mttd_mpi_install_start",
	"mttd_test_build_start", "mttd_test_run_start",
	"mttd_mpi_install_mpi_get", "mttd_mpi_install_cluster",
	"mttd_mpi_install_compiler", "mttd_mpi_install_submit",
	"mttd_test_build_mpi_get", "mttd_test_build_cluster",
	"mttd_test_build_compiler", "mttd_test_build_suite",
	"mttd_test_build_install", "mttd_test_run_mpi_get",
	"mttd_test_run_cluster", "mttd_test_run_compiler",
	"mttd_test_run_suite", "mttd_test_run_test_name", "mttd_test_run_build",
	"mttd_test_run_submit", "mttd_test_names_by_name",
	"mttd_mpi_get_by_version", "mttd_compute_cluster_by_platform", NULL };

static const char columns_sql[] = "SELECT table_name, column_name, data_type,"
				  " coalesce(character_maximum_length, -1)"
				  " FROM information_schema.columns"
				  " WHERE table_schema = current_schema()";

/*
 * The schema's tables and sequences as pg_class has them, with what the
 * role may do to each: information_schema shows only what it may use,
 * so a schema loaded as another role looked missing (break-it helper
 * 57).  A table's sixth column names a sequence its defaults take ids
 * from that the role may not use: nextval needs USAGE or UPDATE (the
 * privilege list is true when either is held).  CASE, as PostgreSQL may
 * evaluate the operands of AND in any order, and the privilege functions
 * fail on a relation of the other kind.  The schema is matched by name
 * (a regnamespace cast would fold "MTT" to mtt); role and schema come
 * quoted, for the GRANT the message suggests.
 */
static const char relations_sql[] =
    "SELECT c.relname, c.relkind = 'S',"
    " CASE WHEN c.relkind <> 'S' THEN has_table_privilege(c.oid, 'SELECT')"
    " END,"
    " CASE WHEN c.relkind <> 'S' THEN has_table_privilege(c.oid, 'INSERT')"
    " END,"
    " CASE WHEN c.relkind = 'S' THEN"
    "  has_sequence_privilege(c.oid, 'USAGE, UPDATE') END,"
    " (SELECT min(s.oid::regclass::text) FROM pg_attrdef a"
    "  JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass"
    "   AND d.objid = a.oid AND d.refclassid = 'pg_class'::regclass"
    "  JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'"
    "  WHERE a.adrelid = c.oid"
    "   AND CASE WHEN s.relkind = 'S' THEN"
    "    NOT has_sequence_privilege(s.oid, 'USAGE, UPDATE') END),"
    " quote_ident(current_user), quote_ident(current_schema())"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema()"
    " AND c.relkind IN ('r', 'p', 'S')";

/* Columns of relations_sql. */
enum {
	REL_NAME,
	REL_IS_SEQUENCE,
	REL_MAY_SELECT,
	REL_MAY_INSERT,
	REL_MAY_USE,
	REL_SEQUENCE_NOT_USABLE,
	REL_ROLE,
	REL_SCHEMA,
};

/* Sequences mttd takes values from itself (POST /serial). */
static const char *const required_sequences[] = { "client_serial", NULL };

/*
 * Where mttd looks for its tables: every statement names them bare, so
 * they are found through the role's search_path, in its first schema
 * that exists (current_schema()).
 */
static const char session_sql[] = "SELECT current_schema(),"
				  " current_setting('search_path'),"
				  " quote_ident(current_user)";

enum { SESSION_SCHEMA, SESSION_SEARCH_PATH, SESSION_ROLE };

static const char indexes_sql[] = "SELECT indexname FROM pg_indexes"
				  " WHERE schemaname = current_schema()";

/*
 * SIGTERM or SIGINT came: start-up blocks them until mttd listens (then
 * the loop handles them), so they wait here as pending.
 */
static bool
db_catalog_stop_pending(void)
{
	sigset_t pending;

	return sigpending(&pending) == 0 &&
	    (sigismember(&pending, SIGTERM) == 1 ||
		sigismember(&pending, SIGINT) == 1);
}

static double
db_catalog_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * One step of a start-up wait for pg's socket to be ready for events:
 * 1 when it is, 0 when a second passed first (look again), -1 with
 * *why set when the wait ends: a pending SIGTERM or SIGINT, timeout_s
 * (0: no limit) passed since start, or poll failed.  doing and key name
 * the wait in the message.
 */
static int
db_catalog_wait_step(PGconn *pg, short events, double start, int timeout_s,
    const char *doing, const char *key, char **why)
{
	struct pollfd pfd = { PQsocket(pg), events, 0 };
	int rc;

	if (db_catalog_stop_pending()) {
		*why = xasprintf("stopped by a signal while %s", doing);
		return -1;
	}
	if (timeout_s > 0 && db_catalog_now() >= start + timeout_s) {
		*why = xasprintf("no answer from the database in %d s while %s"
				 " (%s)",
		    timeout_s, doing, key);
		return -1;
	}
	/* A second at a time, to look at the signals again. */
	rc = poll(&pfd, 1, 1000);
	if (rc < 0 && errno != EINTR) {
		*why = xasprintf("%s failed: %s", doing, strerror(errno));
		return -1;
	}
	return rc > 0;
}

/*
 * Drive a connect started with PQconnectStartParams to its end: NULL when
 * connected, else why not (to free).  A database that accepts the
 * connection and then says nothing (a frozen server) is given up after
 * timeout_s, and a pending SIGTERM or SIGINT ends the wait.
 */
static char *
db_catalog_connect_wait(PGconn *pg, int timeout_s)
{
	double start = db_catalog_now();
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	char *why = NULL;
	int rc;

	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED ||
		    PQstatus(pg) == CONNECTION_BAD)
			return xstrdup(PQerrorMessage(pg));
		rc = db_catalog_wait_step(pg,
		    st == PGRES_POLLING_READING ? POLLIN : POLLOUT, start,
		    timeout_s, "connecting", "connect_timeout", &why);
		if (rc < 0)
			return why;
		if (rc > 0)
			st = PQconnectPoll(pg);
	}
	return NULL;
}

/* Why the start-up connect failed, as the message to stop with. */
static char *
db_catalog_connect_cause(const struct db_pool_params *p, const char *why)
{
	/* The operator's own stop: no key to blame (break-it helper 69). */
	if (db_catalog_stop_pending())
		return xasprintf("%s to database %s at %s:%d", why, p->dbname,
		    p->host, p->port);

	/* Named by the keys that set them: libpq's reason names libpq's
	 * terms (break-it helper 57). */
	return xasprintf("cannot connect to database %s at %s:%d as %s"
			 " ([pg_v3] dbname, server, port, username,"
			 " password): %s",
	    p->dbname, p->host, p->port, p->user, why);
}

static PGconn *
db_catalog_connect(const struct db_pool_params *p, char **cause)
{
	char port[16];
	const char *keys[10] = { "host", "port", "dbname", "user", "password",
		"application_name", "client_encoding" };
	const char *values[10] = { p->host, port, p->dbname, p->user,
		p->password ? p->password : "", "mttd", "UTF8" };
	char *why;
	PGconn *pg;

	db_security_params(keys, values, 7, p->sslmode, p->gssencmode);
	snprintf(port, sizeof port, "%d", p->port);
	pg = PQconnectStartParams(keys, values, 0);
	if (pg == NULL)
		why = xstrdup("out of memory");
	else
		why = db_catalog_connect_wait(pg, p->connect_timeout_s);
	if (why != NULL) {
		*cause = db_catalog_connect_cause(p, why);
		free(why);
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

/*
 * Wait until pg has the whole answer: false, with *cause set, after
 * timeout_s seconds of waiting (0: no limit), on a stop signal, or when
 * the connection fails.  A database that accepted the connection and then
 * went silent would otherwise hold start-up for ever.
 */
static bool
db_catalog_wait(PGconn *pg, int timeout_s, char **cause)
{
	double start = db_catalog_now();

	while (PQisBusy(pg)) {
		if (db_catalog_wait_step(pg, POLLIN, start, timeout_s,
			"reading the catalogue", "query_timeout", cause) < 0)
			return false;
		if (!PQconsumeInput(pg)) {
			*cause = xasprintf("reading the catalogue failed: %s",
			    PQerrorMessage(pg));
			return false;
		}
	}
	return true;
}

static PGresult *
db_catalog_query(PGconn *pg, const char *sql, int timeout_s, char **cause)
{
	PGresult *r, *extra;

	if (!PQsendQuery(pg, sql)) {
		*cause = xasprintf(
		    "reading the catalogue failed: %s", PQerrorMessage(pg));
		return NULL;
	}
	if (!db_catalog_wait(pg, timeout_s, cause))
		return NULL;
	r = PQgetResult(pg);
	/* On to the end of the answer, libpq's NULL, without blocking. */
	for (;;) {
		if (!db_catalog_wait(pg, timeout_s, cause)) {
			PQclear(r);
			return NULL;
		}
		if ((extra = PQgetResult(pg)) == NULL)
			break;
		PQclear(extra);
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		*cause = xasprintf(
		    "reading the catalogue failed: %s", PQerrorMessage(pg));
		PQclear(r);
		return NULL;
	}
	return r;
}

static void
db_catalog_take_columns(struct db_catalog *cat, PGresult *r)
{
	int i;

	cat->count = PQntuples(r);
	cat->columns = xcalloc(cat->count, sizeof *cat->columns);
	for (i = 0; i < cat->count; i++) {
		cat->columns[i].table = xstrdup(PQgetvalue(r, i, 0));
		cat->columns[i].column = xstrdup(PQgetvalue(r, i, 1));
		cat->columns[i].type = xstrdup(PQgetvalue(r, i, 2));
		cat->columns[i].max_chars = atoi(PQgetvalue(r, i, 3));
	}
}

/* The row of relations_sql's result r naming name, or -1. */
static int
db_catalog_relation_row(PGresult *r, const char *name, bool sequence)
{
	int i;

	for (i = 0; i < PQntuples(r); i++) {
		if (strcmp(PQgetvalue(r, i, REL_NAME), name) == 0 &&
		    (PQgetvalue(r, i, REL_IS_SEQUENCE)[0] == 't') == sequence)
			return i;
	}
	return -1;
}

/* What the role lacks on the relation in row i, or NULL. */
static char *
db_catalog_privilege_missing(PGresult *r, int i, bool sequence)
{
	const char *name = PQgetvalue(r, i, REL_NAME);
	const char *seq = PQgetvalue(r, i, REL_SEQUENCE_NOT_USABLE);

	if (sequence)
		return PQgetvalue(r, i, REL_MAY_USE)[0] == 't' ?
		    NULL :
		    xasprintf("USAGE (or UPDATE) on sequence %s", name);
	if (PQgetvalue(r, i, REL_MAY_SELECT)[0] != 't')
		return xasprintf("SELECT on table %s", name);
	if (PQgetvalue(r, i, REL_MAY_INSERT)[0] != 't')
		return xasprintf("INSERT on table %s", name);
	if (!PQgetisnull(r, i, REL_SEQUENCE_NOT_USABLE))
		return xasprintf("USAGE (or UPDATE) on sequence %s (ids of"
				 " table %s)",
		    seq, name);
	return NULL;
}

/*
 * A search_path none of whose schemas exists (break-it helper 63: set
 * for the role, it was reported as a database without the schema, and
 * loading the schema again, as the message said, failed).
 */
static int
db_catalog_check_schema(PGresult *session, char **cause)
{
	const char *schema = PQgetvalue(session, 0, SESSION_SCHEMA);
	const char *why;

	/* PostgreSQL skips the schemas the role may not use, and a search
	 * path may name the session's temporary schema (break-it 65). */
	if (PQgetisnull(session, 0, SESSION_SCHEMA))
		why = "names no schema that exists and that the role may use"
		      " (USAGE), so no table can be found";
	else if (strncmp(schema, "pg_temp", 7) == 0)
		why = "puts the session's temporary schema first, where no"
		      " table of mttd's can be";
	else
		return 0;
	*cause = xasprintf("search_path (%s) %s: if it is set for the role"
			   " or the database, ALTER ROLE %s RESET search_path"
			   " (or ALTER DATABASE), or SET it to the schema that"
			   " holds the mttv3 tables",
	    PQgetvalue(session, 0, SESSION_SEARCH_PATH), why,
	    PQgetvalue(session, 0, SESSION_ROLE));
	return -1;
}

/* Every table and sequence mttd uses is there, and the role may use it. */
static int
db_catalog_check_relations(
    PGresult *r, PGresult *session, const char *sql_dir, char **cause)
{
	const char *const *lists[] = { required_tables, required_sequences };
	const char *const *names;
	const char *role, *schema;
	char *missing;
	int l, row;

	for (l = 0; l < 2; l++) {
		for (names = lists[l]; *names != NULL; names++) {
			row = db_catalog_relation_row(r, *names, l == 1);
			if (row < 0) {
				*cause = xasprintf("%s %s is missing from"
						   " schema %s (the first"
						   " that exists of"
						   " search_path %s): load"
						   " %s/schemas-v3.sql, sql/"
						   " in the source tree, as"
						   " the role mttd uses",
				    l == 1 ? "sequence" : "table", *names,
				    PQgetvalue(session, 0, SESSION_SCHEMA),
				    PQgetvalue(session, 0, SESSION_SEARCH_PATH),
				    sql_dir);
				return -1;
			}
			if ((missing = db_catalog_privilege_missing(
				 r, row, l == 1)) == NULL)
				continue;
			role = PQgetvalue(r, row, REL_ROLE);
			schema = PQgetvalue(r, row, REL_SCHEMA);
			*cause = xasprintf("role %s lacks %s (was the schema"
					   " loaded as another role?): as the"
					   " tables' owner, run GRANT SELECT,"
					   " INSERT ON ALL TABLES IN SCHEMA %s"
					   " TO %s and GRANT USAGE ON ALL"
					   " SEQUENCES IN SCHEMA %s TO %s, or"
					   " load %s/schemas-v3.sql as %s",
			    role, missing, schema, role, schema, role, sql_dir,
			    role);
			free(missing);
			return -1;
		}
	}
	return 0;
}

static bool
db_catalog_result_has(PGresult *r, const char *name)
{
	int i;

	for (i = 0; i < PQntuples(r); i++) {
		if (strcmp(PQgetvalue(r, i, 0), name) == 0)
			return true;
	}
	return false;
}

/* Name the query indexes that are missing, in one warning. */
static void
db_catalog_warn_query_indexes(PGresult *r, const char *sql_dir)
{
	struct strbuf missing;
	int i;

	strbuf_setup(&missing);
	for (i = 0; query_indexes[i] != NULL; i++) {
		if (!db_catalog_result_has(r, query_indexes[i]))
			strbuf_addf(&missing, "%s%s", missing.len ? ", " : "",
			    query_indexes[i]);
	}
	if (missing.len > 0)
		log_warn("query indexes missing (queries on a large database"
			 " will scan whole tables): %s; run"
			 " %s/mttd-query-indexes.sql (sql/ in the source"
			 " tree)",
		    missing.data, sql_dir);
	strbuf_shutdown(&missing);
}

static int
db_catalog_check_indexes(PGresult *r, const char *sql_dir, char **cause)
{
	int i;

	for (i = 0; required_indexes[i] != NULL; i++) {
		if (!db_catalog_result_has(r, required_indexes[i])) {
			*cause = xasprintf(
			    "index %s is missing: run %s/mttd-indexes.sql"
			    " (sql/ in the source tree) on the database (it"
			    " is idempotent; each index it builds holds up"
			    " writes to its table meanwhile: run it in a"
			    " quiet hour)",
			    required_indexes[i], sql_dir);
			return -1;
		}
	}
	return 0;
}

struct db_catalog *
db_catalog_load(
    const struct db_pool_params *params, const char *sql_dir, char **cause)
{
	struct db_catalog *cat = xcalloc(1, sizeof *cat);
	PGresult *r = NULL, *session = NULL;
	PGconn *pg;

	if ((pg = db_catalog_connect(params, cause)) == NULL)
		goto fail;
	cat->server_version = xstrdup(PQparameterStatus(pg, "server_version"));
	cat->server_version_num = PQserverVersion(pg);
	if ((session = db_catalog_query(
		 pg, session_sql, params->query_timeout_s, cause)) == NULL ||
	    db_catalog_check_schema(session, cause) != 0)
		goto fail;
	if ((r = db_catalog_query(
		 pg, columns_sql, params->query_timeout_s, cause)) == NULL)
		goto fail;
	db_catalog_take_columns(cat, r);
	PQclear(r);
	if ((r = db_catalog_query(
		 pg, relations_sql, params->query_timeout_s, cause)) == NULL)
		goto fail;
	if (db_catalog_check_relations(r, session, sql_dir, cause) != 0)
		goto fail;
	PQclear(r);
	if ((r = db_catalog_query(
		 pg, indexes_sql, params->query_timeout_s, cause)) == NULL)
		goto fail;
	if (db_catalog_check_indexes(r, sql_dir, cause) != 0)
		goto fail;
	db_catalog_warn_query_indexes(r, sql_dir);
	PQclear(r);
	PQclear(session);
	PQfinish(pg);
	return cat;

fail:
	PQclear(r);
	PQclear(session);
	PQfinish(pg);
	db_catalog_free(cat);
	return NULL;
}

void
db_catalog_free(struct db_catalog *cat)
{
	int i;

	if (cat == NULL)
		return;
	for (i = 0; i < cat->count; i++) {
		free(cat->columns[i].table);
		free(cat->columns[i].column);
		free(cat->columns[i].type);
	}
	free(cat->columns);
	free(cat->server_version);
	free(cat);
}

int
db_catalog_column(const struct db_catalog *cat, const char *table,
    const char *column, const char **type, int *max_chars)
{
	int i;

	for (i = 0; i < cat->count; i++) {
		const struct db_column *c = &cat->columns[i];

		if (strcmp(c->table, table) == 0 &&
		    strcmp(c->column, column) == 0) {
			*type = c->type;
			*max_chars = c->max_chars;
			return 0;
		}
	}
	return -1;
}

const char *
db_catalog_server_version(const struct db_catalog *cat)
{
	return cat->server_version ? cat->server_version : "?";
}

int
db_catalog_server_version_num(const struct db_catalog *cat)
{
	return cat->server_version_num;
}
