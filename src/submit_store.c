/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Storing a submission in one transaction of two or three pipelined
 * round trips.  First every row the entries link to is looked up without
 * locks.  Then one statement takes every advisory lock the submission
 * needs, in sorted order, so that submissions never deadlock each other:
 * one per result (on its values, so an identical result racing in
 * another transaction waits and then finds this one) and one per missing
 * normalised row without a unique index.  Missing rows are created next
 * (ON CONFLICT for the tables with unique indexes), then every result is
 * checked against the stored ones on the fields that were sent and
 * inserted only when new, so retries and duplicates take no sequence
 * value, and COMMIT follows in the same round trip.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strbuf.h"
#include "submit_store.h"

/* Deadlocks and unique violations from racing writers are retried. */
#define STORE_MAX_ATTEMPTS 3

/*
 * Most parameters one statement takes: the result statement has ~30,
 * ~45 when every linked row is new and looked up inside it.
 */
#define STMT_MAX_PARAMS 64

/* Where a normalised column's value comes from besides a field. */
#define NV_LINK_SUITE (-1) /* The linked build's test_suite_id. */

enum norm_kind {
	NK_CLUSTER,
	NK_COMPILER,
	NK_MPI_GET,
	NK_CONFIGURE,
	NK_DESCRIPTION,
	NK_ENVIRONMENT,
	NK_RESULT_MESSAGE,
	NK_SUITE,
	NK_TEST_NAME,
	NK_COMMAND,
	NK_LATENCY, /* Created with NK_PERFORMANCE, never alone. */
	NK_PERFORMANCE,
	NK__COUNT
};

struct norm_col {
	const char *column;
	int field; /* enum submit_field, or NV_LINK_SUITE. */
	const char *cast;
	const char *absent; /* Value stored when the field is absent. */
	bool md5;	    /* Looked up through an md5() index. */
};

struct norm_def {
	const char *table;
	const char *id;
	int ncols;
	struct norm_col cols[7];
};

#define TEXT_COL(c, f)                    \
	{                                 \
		c, f, "::text", "", false \
	}
#define HASHED_COL(c, f)                 \
	{                                \
		c, f, "::text", "", true \
	}
#define FLOATS_COL(c, f)                        \
	{                                       \
		c, f, "::float8[]", "{}", false \
	}

static const struct norm_def norms[NK__COUNT] = {
	[NK_CLUSTER] = { "compute_cluster", "compute_cluster_id", 5,
	    { TEXT_COL("platform_name", SF_PLATFORM_NAME),
		TEXT_COL("platform_hardware", SF_PLATFORM_HARDWARE),
		TEXT_COL("platform_type", SF_PLATFORM_TYPE),
		TEXT_COL("os_name", SF_OS_NAME),
		TEXT_COL("os_version", SF_OS_VERSION) } },
	[NK_COMPILER] = { "compiler", "compiler_id", 2,
	    { TEXT_COL("compiler_name", SF_COMPILER_NAME),
		TEXT_COL("compiler_version", SF_COMPILER_VERSION) } },
	[NK_MPI_GET] = { "mpi_get", "mpi_get_id", 2,
	    { TEXT_COL("mpi_name", SF_MPI_NAME),
		TEXT_COL("mpi_version", SF_MPI_VERSION) } },
	[NK_CONFIGURE] = { "mpi_install_configure_args",
	    "mpi_install_configure_id", 4,
	    { { "vpath_mode", SF_VPATH_MODE, "::bit(2)", "00", false },
		{ "bitness", SF_BITNESS, "::bit(6)", "000000", false },
		{ "endian", SF_ENDIAN, "::bit(2)", "00", false },
		TEXT_COL("configure_arguments", SF_CONFIGURE_ARGUMENTS) } },
	[NK_DESCRIPTION] = { "description", "description_id", 1,
	    { HASHED_COL("description", SF_DESCRIPTION) } },
	[NK_ENVIRONMENT] = { "environment", "environment_id", 1,
	    { HASHED_COL("environment", SF_ENVIRONMENT) } },
	[NK_RESULT_MESSAGE] = { "result_message", "result_message_id", 1,
	    { HASHED_COL("result_message", SF_RESULT_MESSAGE) } },
	[NK_SUITE] = { "test_suites", "test_suite_id", 1,
	    { TEXT_COL("suite_name", SF_SUITE_NAME) } },
	[NK_TEST_NAME] = { "test_names", "test_name_id", 2,
	    { { "test_suite_id", NV_LINK_SUITE, "::integer", "0", false },
		TEXT_COL("test_name", SF_TEST_NAME) } },
	[NK_COMMAND] = { "test_run_command", "test_run_command_id", 4,
	    { TEXT_COL("launcher", SF_LAUNCHER),
		TEXT_COL("resource_mgr", SF_RESOURCE_MANAGER),
		TEXT_COL("network", SF_NETWORK),
		HASHED_COL("parameters", SF_PARAMETERS) } },
	[NK_LATENCY] = { "latency_bandwidth", "latency_bandwidth_id", 7,
	    { { "message_size", SF_MESSAGE_SIZE, "::int4[]", "{}", false },
		FLOATS_COL("bandwidth_min", SF_BANDWIDTH_MIN),
		FLOATS_COL("bandwidth_max", SF_BANDWIDTH_MAX),
		FLOATS_COL("bandwidth_avg", SF_BANDWIDTH_AVG),
		FLOATS_COL("latency_min", SF_LATENCY_MIN),
		FLOATS_COL("latency_max", SF_LATENCY_MAX),
		FLOATS_COL("latency_avg", SF_LATENCY_AVG) } },
	[NK_PERFORMANCE] = { "performance", "performance_id", 0, { { 0 } } },
};

/* Which normalised rows each phase links, and the column holding each. */
struct phase_link {
	enum norm_kind kind;
	const char *column; /* Column of the result table. */
};

static const struct phase_link install_links[] = { { NK_CLUSTER,
						       "compute_cluster_id" },
	{ NK_COMPILER, "mpi_install_compiler_id" },
	{ NK_MPI_GET, "mpi_get_id" },
	{ NK_CONFIGURE, "mpi_install_configure_id" },
	{ NK_RESULT_MESSAGE, "result_message_id" },
	{ NK_DESCRIPTION, "description_id" },
	{ NK_ENVIRONMENT, "environment_id" }, { NK__COUNT, NULL } };

static const struct phase_link build_links[] = { { NK_COMPILER,
						     "test_build_compiler_id" },
	{ NK_SUITE, "test_suite_id" },
	{ NK_RESULT_MESSAGE, "result_message_id" },
	{ NK_DESCRIPTION, "description_id" },
	{ NK_ENVIRONMENT, "environment_id" }, { NK__COUNT, NULL } };

static const struct phase_link run_links[] = { { NK_TEST_NAME, "test_name_id" },
	{ NK_COMMAND, "test_run_command_id" },
	{ NK_PERFORMANCE, "performance_id" },
	{ NK_RESULT_MESSAGE, "result_message_id" },
	{ NK_DESCRIPTION, "description_id" },
	{ NK_ENVIRONMENT, "environment_id" }, { NK__COUNT, NULL } };

/* Columns a build or run copies from the row it links to. */
static const char *const build_copies[] = { "compute_cluster_id",
	"mpi_install_compiler_id", "mpi_get_id", "mpi_install_configure_id",
	NULL };

static const char *const run_copies[] = { "compute_cluster_id",
	"mpi_install_compiler_id", "mpi_get_id", "mpi_install_configure_id",
	"mpi_install_id", "test_suite_id", "test_build_compiler_id", NULL };

#define LINK_MAX 7

/* Scalar result columns, stored for every phase. */
struct scalar_col {
	const char *column;
	enum submit_field field;
	const char *cast;
	const char *absent; /* NULL: required, always sent. */
};

static const struct scalar_col scalar_cols[] = {
	{ "start_timestamp", SF_START_TIMESTAMP, "::timestamp", NULL },
	{ "test_result", SF_TEST_RESULT, "::smallint", NULL },
	{ "trial", SF_TRIAL, "::boolean", NULL },
	{ "duration", SF_DURATION, "::interval", "0 seconds" },
	{ "exit_value", SF_EXIT_VALUE, "::integer", NULL },
	{ "exit_signal", SF_EXIT_SIGNAL, "::integer", "-1" },
	{ "client_serial", SF_CLIENT_SERIAL, "::integer", NULL },
	{ "merge_stdout_stderr", SF_MERGE_STDOUT_STDERR, "::boolean", "t" },
	{ "result_stdout", SF_RESULT_STDOUT, "::text", "" },
	{ "result_stderr", SF_RESULT_STDERR, "::text", "" },
	{ NULL, 0, NULL, NULL }
};

/* What each statement of a batch is for. */
enum stmt_role {
	ROLE_ENTRY, /* One entry's values, linked row and normalised rows. */
	ROLE_CAST,  /* Checks one timestamp or interval (naming pass). */
	ROLE_SUBMIT_MAKE,
	ROLE_LOCK,
	ROLE_NORM_MAKE,
	ROLE_RESULT
};

/* Which round trip a batch is; says how to read its results. */
enum store_step {
	STEP_LOOKUP, /* Value checks and every lookup, no transaction. */
	STEP_CASTS,  /* Each value check alone, to name a refused one. */
	STEP_STORE   /* Locks, creations, results: committed by the sync. */
};

/* Columns of an entry's lookup statement (ROLE_ENTRY), in order. */
enum {
	COL_TIMESTAMP,	/* start_timestamp as PostgreSQL reads it. */
	COL_DURATION,	/* duration likewise, or NULL. */
	COL_SUBMIT,	/* The submit row's id (first statement only). */
	COL_LINK_FOUND, /* The linked install or build exists. */
	COL_LINKS	/* Its ids to copy, then each normalised row. */
};

/* One statement being built: SQL text and its parameters. */
struct stmt {
	enum stmt_role role;
	size_t entry;
	int field;
	struct strbuf sql;
	const char *values[STMT_MAX_PARAMS];
	int lengths[STMT_MAX_PARAMS];
	int n;
	char *owned; /* Parameter text this statement allocated. */
};

/* What one entry links to, learnt from the lookups. */
struct entry_state {
	char link[LINK_MAX][24];     /* The linked row's ids. */
	char norm_id[NK__COUNT][24]; /* "" while missing. */
	bool missing[NK__COUNT];
	char timestamp[64]; /* start_timestamp as PostgreSQL reads it. */
	char duration[96];  /* duration likewise, if sent. */
};

/* A normalised row to create: which entry's values, and its key. */
struct norm_make {
	uint64_t hash;
	size_t entry;
	enum norm_kind kind;
};

struct submit_store {
	struct db_conn *conn;
	const struct submit_request *req;
	submit_store_done_cb cb;
	void *arg;
	int attempt;
	enum store_step step; /* Of the batch in flight. */

	char submit_id[24];	 /* "" while the submit row is missing. */
	char submit_id_text[24]; /* The client's metadata.submit_id. */
	long *ids;
	struct entry_state *es; /* One per entry. */

	/* Why the lookups failed, while the naming pass runs. */
	char *lookup_error;
	size_t lookup_error_entry;

	/* The batch being built; roles are kept until its results. */
	struct stmt **stmts;
	int nstmts;
	int cap;
};

static void store_begin(struct submit_store *st);

/* ---- statements ---- */

static struct stmt *
stmt_add(struct submit_store *st, enum stmt_role role, size_t entry)
{
	struct stmt *s = xcalloc(1, sizeof *s);

	if (st->nstmts == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 16;
		st->stmts = xrealloc(st->stmts, st->cap * sizeof *st->stmts);
	}
	st->stmts[st->nstmts++] = s;
	s->role = role;
	s->entry = entry;
	s->field = -1;
	strbuf_setup(&s->sql);
	return s;
}

/* Add a parameter; returns its $ number. */
static int
stmt_param(struct stmt *s, const char *value, size_t len)
{
	if (s->n == STMT_MAX_PARAMS) { /* A bug: the tables outgrew it. */
		log_error("submit: more than %d parameters in a statement",
		    STMT_MAX_PARAMS);
		abort();
	}
	s->values[s->n] = value;
	s->lengths[s->n] = (int)len;
	return ++s->n;
}

static int
stmt_params(struct stmt *s, const char *value)
{
	return stmt_param(s, value, strlen(value));
}

static void
store_clear_stmts(struct submit_store *st)
{
	int i;

	for (i = 0; i < st->nstmts; i++) {
		strbuf_shutdown(&st->stmts[i]->sql);
		free(st->stmts[i]->owned);
		free(st->stmts[i]);
	}
	st->nstmts = 0;
}

static void store_batch_cb(const struct db_result *res, void *arg);

/* Send the statements built so far as one pipeline. */
static void
store_send(struct submit_store *st, enum store_step step)
{
	struct db_batch *b = db_batch_new();
	int i;

	st->step = step;
	for (i = 0; i < st->nstmts; i++) {
		struct stmt *s = st->stmts[i];

		db_batch_add_cached(
		    b, s->sql.data, s->n, s->values, s->lengths);
	}
	db_conn_run(st->conn, b, store_batch_cb, st);
	for (i = 0; i < st->nstmts; i++)
		strbuf_shutdown(&st->stmts[i]->sql);
}

/* ---- outcome ---- */

static void
store_free(struct submit_store *st)
{
	store_clear_stmts(st);
	free(st->stmts);
	free(st->lookup_error);
	free(st->ids);
	free(st->es);
	free(st);
}

static void
store_done(
    struct submit_store *st, enum submit_outcome outcome, const char *message)
{
	long submit_id = strtol(st->submit_id, NULL, 10);

	st->cb(st->arg, outcome, submit_id, st->ids, message);
	store_free(st);
}

static void store_refuse(struct submit_store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
store_refuse(struct submit_store *st, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	store_done(st, SUBMIT_REFUSED, buf);
}

static bool
sqlstate_is(const struct db_result *res, const char *state)
{
	return res->sqlstate != NULL && strcmp(res->sqlstate, state) == 0;
}

/* A racing writer got in the way: roll back and start over. */
static bool
store_should_retry(struct submit_store *st, const struct db_result *res)
{
	return !res->conn_lost && st->attempt < STORE_MAX_ATTEMPTS &&
	    (sqlstate_is(res, "40P01") || sqlstate_is(res, "40001") ||
		sqlstate_is(res, "23505"));
}

/*
 * A racing writer got in the way: start over.  The failed statement
 * ended the pipeline's implicit transaction, so nothing needs rolling
 * back.
 */
static void
store_retry(struct submit_store *st)
{
	log_info("submit: retrying after a conflict with another writer"
		 " (attempt %d)",
	    st->attempt + 1);
	store_begin(st);
}

static void store_check_casts(
    struct submit_store *st, const struct db_result *res, size_t entry);

/* A statement failed: name what it was about. */
static void
store_failed(struct submit_store *st, const struct db_result *res)
{
	const struct stmt *s = st->stmts[res->failed];
	const char *why = res->error ? res->error : "unknown error";
	bool refused_value = res->sqlstate != NULL &&
	    (strncmp(res->sqlstate, "22", 2) == 0 ||
		strncmp(res->sqlstate, "23", 2) == 0);

	if (res->conn_lost) {
		/* The sync that commits the store step was on its way: the
		 * server may have committed and died before its answer came
		 * (a fast shutdown does). */
		store_done(st,
		    st->step == STEP_STORE ? SUBMIT_DB_UNKNOWN :
					     SUBMIT_DB_FAILED,
		    why);
		return;
	}
	if (store_should_retry(st, res)) {
		store_retry(st);
		return;
	}
	if (s->role == ROLE_CAST) {
		store_refuse(st, "data[%zu]: field '%s' is not valid: %s",
		    s->entry, submit_field_name(s->field), why);
		return;
	}
	if (s->role == ROLE_ENTRY && refused_value) {
		/* One statement checks every value of the entry: find out
		 * which one PostgreSQL refused. */
		store_check_casts(st, res, s->entry);
		return;
	}
	log_error("submit: statement %d (role %d) failed: %s [%s]", res->failed,
	    s->role, why, res->sqlstate ? res->sqlstate : "-");
	if (refused_value) {
		store_refuse(st, "data[%zu]: the database refused a value: %s",
		    s->entry, why);
		return;
	}
	store_done(st, SUBMIT_DB_FAILED, why);
}

/* ---- value helpers ---- */

static const struct submit_entry *
store_entry(const struct submit_store *st, size_t i)
{
	return &st->req->entries[i];
}

static const struct submit_value *
entry_value(const struct submit_entry *e, int field)
{
	return &e->v[field];
}

static bool
sent(const struct submit_entry *e, int field)
{
	return e->v[field].text != NULL;
}

static bool
any_sent(const struct submit_entry *e, int f1, int f2, int f3, int f4)
{
	return sent(e, f1) || sent(e, f2) || sent(e, f3) || sent(e, f4);
}

/* Is this normalised row linked by the entry at all? */
static bool
norm_wanted(const struct submit_entry *e, enum norm_kind k)
{
	switch (k) {
	case NK_DESCRIPTION:
		return sent(e, SF_DESCRIPTION);
	case NK_ENVIRONMENT:
		return sent(e, SF_ENVIRONMENT);
	case NK_COMMAND:
		return any_sent(e, SF_LAUNCHER, SF_RESOURCE_MANAGER,
		    SF_PARAMETERS, SF_NETWORK);
	case NK_PERFORMANCE:
		return sent(e, SF_LATENCY_BANDWIDTH);
	default:
		return true;
	}
}

/* Is the link compared when looking for an equal stored result? */
static bool
norm_compared(const struct submit_entry *e, enum norm_kind k)
{
	if (k == NK_CONFIGURE)
		return any_sent(e, SF_VPATH_MODE, SF_BITNESS, SF_ENDIAN,
		    SF_CONFIGURE_ARGUMENTS);
	return norm_wanted(e, k);
}

/* Tables whose unique index lets ON CONFLICT settle races. */
static bool
norm_has_unique_index(enum norm_kind k)
{
	switch (k) {
	case NK_CLUSTER:
	case NK_COMPILER:
	case NK_MPI_GET:
	case NK_CONFIGURE:
	case NK_SUITE:
	case NK_TEST_NAME:
		return true;
	default:
		return false;
	}
}

static const struct phase_link *
phase_links(enum submit_phase phase)
{
	if (phase == SUBMIT_PHASE_INSTALL)
		return install_links;
	return phase == SUBMIT_PHASE_BUILD ? build_links : run_links;
}

static const char *const *
phase_copies(enum submit_phase phase)
{
	if (phase == SUBMIT_PHASE_BUILD)
		return build_copies;
	return phase == SUBMIT_PHASE_RUN ? run_copies : NULL;
}

/* The name of the id a build or run links with. */
static const char *
link_key(const struct submit_store *st)
{
	return st->req->phase == SUBMIT_PHASE_BUILD ? "mpi_install_id" :
						      "test_build_id";
}

/* The id of the row a build or run links to ("0": the placeholder). */
static const char *
link_id(const struct submit_store *st, const struct submit_entry *e)
{
	int f = st->req->phase == SUBMIT_PHASE_BUILD ? SF_MPI_INSTALL_ID :
						       SF_TEST_BUILD_ID;

	return sent(e, f) ? e->v[f].text : "0";
}

/* ---- normalised rows ---- */

/* The value of one normalised column. */
static const char *
norm_col_value(const struct entry_state *es, const struct submit_entry *e,
    const struct norm_col *c, size_t *len)
{
	const struct submit_value *v;

	if (c->field == NV_LINK_SUITE) {
		*len = strlen(es->link[5]);
		return es->link[5];
	}
	v = entry_value(e, c->field);
	if (v->text == NULL) {
		*len = strlen(c->absent);
		return c->absent;
	}
	*len = v->len;
	return v->text;
}

/* "col = $n" (or its md5 form) for each column of def, ANDed. */
static void
norm_conditions(struct strbuf *sql, const struct norm_def *def,
    const int *params, const char *alias)
{
	int i;

	for (i = 0; i < def->ncols; i++) {
		const struct norm_col *c = &def->cols[i];

		if (i > 0)
			strbuf_adds(sql, " AND ");
		if (c->md5)
			strbuf_addf(sql, "md5(%s%s) = md5($%d::text) AND ",
			    alias, c->column, params[i]);
		if (params[i] > 0)
			strbuf_addf(sql, "%s%s = $%d%s", alias, c->column,
			    params[i], c->cast);
		else
			strbuf_addf(sql,
			    "%s%s = (SELECT test_suite_id FROM"
			    " test_build WHERE test_build_id = $%d::integer)",
			    alias, c->column, -params[i]);
	}
}

/*
 * Parameters of def's columns.  In a lookup the linked suite is not known
 * yet, so it is read through the link id (a negative number here).
 */
static void
norm_params(const struct entry_state *es, struct stmt *s,
    const struct submit_entry *e, const struct norm_def *def, int *params,
    int link_param)
{
	size_t len;
	const char *v;
	int i;

	for (i = 0; i < def->ncols; i++) {
		if (def->cols[i].field == NV_LINK_SUITE && link_param > 0) {
			params[i] = -link_param;
			continue;
		}
		v = norm_col_value(es, e, &def->cols[i], &len);
		params[i] = stmt_param(s, v, len);
	}
}

/*
 * "(SELECT id FROM table WHERE ...)" for the entry's row of kind k, into
 * out; its parameters go to s.
 */
static void
norm_lookup_expr(struct strbuf *out, const struct entry_state *es,
    struct stmt *s, const struct submit_entry *e, enum norm_kind k,
    int link_param)
{
	const struct norm_def *def = &norms[k];
	int params[8];

	if (k == NK_PERFORMANCE) {
		def = &norms[NK_LATENCY];
		norm_params(es, s, e, def, params, link_param);
		strbuf_adds(out,
		    "(SELECT p.performance_id FROM performance"
		    " p JOIN latency_bandwidth l ON l.latency_bandwidth_id ="
		    " p.latency_bandwidth_id WHERE ");
		norm_conditions(out, def, params, "l.");
		strbuf_adds(out, " ORDER BY 1 LIMIT 1)");
		return;
	}
	norm_params(es, s, e, def, params, link_param);
	strbuf_addf(out, "(SELECT %s FROM %s WHERE ", def->id, def->table);
	norm_conditions(out, def, params, "");
	strbuf_adds(out, " ORDER BY 1 LIMIT 1)");
}

/* A hash of a normalised row's table and values. */
static uint64_t
norm_hash(const struct entry_state *es, const struct submit_entry *e,
    enum norm_kind k)
{
	const struct norm_def *def =
	    &norms[k == NK_PERFORMANCE ? NK_LATENCY : k];
	uint64_t h = hash_fnv1a(
	    HASH_FNV1A_SEED, norms[k].table, strlen(norms[k].table) + 1);
	const char *v;
	size_t len;
	int i;

	for (i = 0; i < def->ncols; i++) {
		v = norm_col_value(es, e, &def->cols[i], &len);
		h = hash_fnv1a(h, v, len);
		h = hash_fnv1a(h, "\x1f", 1);
	}
	return h;
}

/* Create a row of a table with a unique index; a racing insert waits. */
static void
norm_insert_on_conflict(
    struct submit_store *st, struct stmt *s, size_t i, enum norm_kind k)
{
	const struct norm_def *def = &norms[k];
	int params[8];
	int j;

	norm_params(&st->es[i], s, store_entry(st, i), def, params, 0);
	strbuf_addf(&s->sql, "INSERT INTO %s (", def->table);
	for (j = 0; j < def->ncols; j++)
		strbuf_addf(
		    &s->sql, "%s%s", j ? ", " : "", def->cols[j].column);
	strbuf_adds(&s->sql, ") VALUES (");
	for (j = 0; j < def->ncols; j++)
		strbuf_addf(&s->sql, "%s$%d%s", j ? ", " : "", params[j],
		    def->cols[j].cast);
	strbuf_adds(&s->sql, ") ON CONFLICT DO NOTHING");
}

/*
 * Find-or-insert of one row of a table without a unique index: the
 * lookup, and an insert that runs only when it found nothing.  It runs
 * under the advisory lock of the row's values, taken by an earlier
 * statement, so it sees a racing writer's committed row.
 */
static void
norm_find_or_insert(struct submit_store *st, struct stmt *s, size_t i,
    enum norm_kind k, const char *extra_col, const char *extra_expr)
{
	const struct norm_def *def = &norms[k];
	int params[8];
	int j;

	norm_params(&st->es[i], s, store_entry(st, i), def, params, 0);
	strbuf_addf(&s->sql, "WITH f AS (SELECT %s AS id FROM %s WHERE ",
	    def->id, def->table);
	norm_conditions(&s->sql, def, params, "");
	if (extra_col != NULL)
		strbuf_addf(&s->sql, "%s = %s", extra_col, extra_expr);
	strbuf_addf(&s->sql, " ORDER BY 1 LIMIT 1), i AS (INSERT INTO %s (",
	    def->table);
	for (j = 0; j < def->ncols; j++)
		strbuf_addf(
		    &s->sql, "%s%s", j ? ", " : "", def->cols[j].column);
	if (extra_col != NULL)
		strbuf_addf(&s->sql, "%s", extra_col);
	strbuf_adds(&s->sql, ") SELECT ");
	for (j = 0; j < def->ncols; j++)
		strbuf_addf(&s->sql, "%s$%d%s", j ? ", " : "", params[j],
		    def->cols[j].cast);
	if (extra_col != NULL)
		strbuf_addf(&s->sql, "%s", extra_expr);
	strbuf_addf(&s->sql,
	    " WHERE NOT EXISTS (SELECT 1 FROM f) RETURNING"
	    " %s AS id) SELECT id FROM f UNION ALL SELECT id FROM i",
	    def->id);
}

/* Create a performance row: its latency_bandwidth row first. */
static void
add_performance_make(struct submit_store *st, size_t i)
{
	struct stmt *s = stmt_add(st, ROLE_NORM_MAKE, i);
	struct strbuf expr;
	int params[8];

	norm_find_or_insert(st, s, i, NK_LATENCY, NULL, NULL);

	/* The performance row points at that latency_bandwidth row. */
	s = stmt_add(st, ROLE_NORM_MAKE, i);
	norm_params(
	    &st->es[i], s, store_entry(st, i), &norms[NK_LATENCY], params, 0);
	strbuf_setup(&expr);
	strbuf_adds(&expr,
	    "(SELECT latency_bandwidth_id FROM"
	    " latency_bandwidth WHERE ");
	norm_conditions(&expr, &norms[NK_LATENCY], params, "");
	strbuf_adds(&expr, " ORDER BY 1 LIMIT 1)");
	norm_find_or_insert(
	    st, s, i, NK_PERFORMANCE, "latency_bandwidth_id", expr.data);
	strbuf_shutdown(&expr);
}

static void
add_norm_make(struct submit_store *st, const struct norm_make *m)
{
	struct stmt *s;

	if (m->kind == NK_PERFORMANCE) {
		add_performance_make(st, m->entry);
		return;
	}
	s = stmt_add(st, ROLE_NORM_MAKE, m->entry);
	if (norm_has_unique_index(m->kind))
		norm_insert_on_conflict(st, s, m->entry, m->kind);
	else
		norm_find_or_insert(st, s, m->entry, m->kind, NULL, NULL);
}

/* ---- locks ---- */

/* A set of advisory lock keys, taken in one statement, sorted. */
struct lock_set {
	int64_t *keys;
	size_t count;
	size_t cap;
};

/*
 * Keys are folded into LOCK_BUCKETS per space so that one submission
 * takes a bounded number of locks (PostgreSQL's lock table is shared);
 * two values in one bucket only wait for each other.
 */
#define LOCK_BUCKETS 256

static void
lock_set_add(struct lock_set *ls, const char *space, uint64_t space_hash,
    uint64_t value_hash)
{
	uint64_t bucket = value_hash % LOCK_BUCKETS;
	uint64_t h = hash_fnv1a(space_hash, space, strlen(space) + 1);

	if (ls->count == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 16;
		ls->keys = xrealloc(ls->keys, ls->cap * sizeof *ls->keys);
	}
	ls->keys[ls->count++] = (int64_t)hash_fnv1a(h, &bucket, sizeof bucket);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The keys as a bigint[] literal, sorted and without repeats. */
static char *
lock_set_text(struct lock_set *ls)
{
	struct strbuf sb;
	size_t i;

	if (ls->count > 1)
		qsort(ls->keys, ls->count, sizeof *ls->keys, cmp_int64);
	strbuf_setup(&sb);
	strbuf_adds(&sb, "{");
	for (i = 0; i < ls->count; i++) {
		if (i > 0 && ls->keys[i] == ls->keys[i - 1])
			continue;
		strbuf_addf(
		    &sb, "%s%" PRId64, sb.len > 1 ? "," : "", ls->keys[i]);
	}
	strbuf_adds(&sb, "}");
	return strbuf_take(&sb);
}

/* The submit row's identity: the four columns it is found by. */
static uint64_t
submit_identity_hash(const struct submit_request *r)
{
	const char *parts[] = { r->hostname, r->local_username,
		r->http_username, r->mtt_client_version };
	uint64_t h = HASH_FNV1A_SEED;
	size_t i;

	for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
		h = hash_fnv1a(h, parts[i], strlen(parts[i]) + 1);
	return h;
}

/*
 * A hash of everything an entry sent, with the timestamp and duration as
 * PostgreSQL read them, so equal results spelled differently match.
 */
static uint64_t
result_hash(const struct submit_store *st, size_t i)
{
	const struct submit_entry *e = store_entry(st, i);
	const struct entry_state *es = &st->es[i];
	uint64_t h = HASH_FNV1A_SEED;
	int f;

	for (f = 0; f < SF__COUNT; f++) {
		const char *v = e->v[f].text;
		size_t len = e->v[f].len;

		if (f == SF_START_TIMESTAMP && es->timestamp[0] != '\0')
			v = es->timestamp, len = strlen(v);
		else if (f == SF_DURATION && es->duration[0] != '\0')
			v = es->duration, len = strlen(v);
		h = hash_fnv1a(h, &f, sizeof f);
		if (v != NULL)
			h = hash_fnv1a(h, v, len);
	}
	return h;
}

static void
add_result_locks(struct submit_store *st, struct lock_set *ls)
{
	uint64_t space = hash_fnv1a(submit_identity_hash(st->req),
	    submit_phase_table(st->req->phase),
	    strlen(submit_phase_table(st->req->phase)));
	size_t i;

	for (i = 0; i < st->req->count; i++)
		lock_set_add(ls, "result", space, result_hash(st, i));
}

/* One statement taking every key of ls, in ascending order. */
static void
add_locks(struct submit_store *st, struct lock_set *ls)
{
	struct stmt *s = stmt_add(st, ROLE_LOCK, 0);

	s->owned = lock_set_text(ls);
	strbuf_addf(&s->sql,
	    "SELECT pg_advisory_xact_lock(k) FROM unnest($%d::bigint[]) AS k",
	    stmt_params(s, s->owned));
	free(ls->keys);
	memset(ls, 0, sizeof *ls);
}

/* ---- results ---- */

/* A result column's value is found inside the statement (lookup). */
#define LOOKUP_NONE (-1)
#define LOOKUP_SUBMIT NK__COUNT

struct result_col {
	const char *column;
	const char *value;
	size_t len;
	const char *cast;
	bool compare;
	int lookup; /* LOOKUP_NONE, a norm_kind created this step, or
		       LOOKUP_SUBMIT. */
};

static int
result_cols_links(
    const struct submit_store *st, size_t i, struct result_col *cols, int n)
{
	const struct submit_entry *e = store_entry(st, i);
	const struct entry_state *es = &st->es[i];
	const char *const *copies = phase_copies(st->req->phase);
	const struct phase_link *l;
	int j;

	for (j = 0; copies != NULL && copies[j] != NULL; j++)
		cols[n++] = (struct result_col){ copies[j], es->link[j],
			strlen(es->link[j]), "::integer", false, LOOKUP_NONE };
	if (copies != NULL)
		cols[n++] = (struct result_col){ link_key(st), link_id(st, e),
			strlen(link_id(st, e)), "::integer", true,
			LOOKUP_NONE };
	for (l = phase_links(st->req->phase); l->kind != NK__COUNT; l++)
		cols[n++] = (struct result_col){ l->column,
			es->norm_id[l->kind], strlen(es->norm_id[l->kind]),
			"::integer", norm_compared(e, l->kind),
			es->missing[l->kind] ? (int)l->kind : LOOKUP_NONE };
	return n;
}

static int
result_cols_scalars(
    const struct submit_entry *e, struct result_col *cols, int n)
{
	const struct scalar_col *c;

	for (c = scalar_cols; c->column != NULL; c++) {
		const struct submit_value *v = entry_value(e, c->field);

		cols[n++] = (struct result_col){ c->column,
			v->text ? v->text : c->absent,
			v->text ? v->len : strlen(c->absent), c->cast,
			v->text != NULL, LOOKUP_NONE };
	}
	return n;
}

/* Every column of the result row, with the ones that are compared. */
static int
result_cols(const struct submit_store *st, size_t i, struct result_col *cols)
{
	const struct submit_entry *e = store_entry(st, i);
	int n = 0;

	cols[n++] = (struct result_col){ "submit_id", st->submit_id,
		strlen(st->submit_id), "::integer", true,
		st->submit_id[0] == '\0' ? LOOKUP_SUBMIT : LOOKUP_NONE };
	n = result_cols_links(st, i, cols, n);
	if (st->req->phase == SUBMIT_PHASE_RUN) {
		const struct submit_value *np = entry_value(e, SF_NP);
		const struct submit_value *cmd = entry_value(e, SF_COMMAND);

		cols[n++] = (struct result_col){ "np", np->text, np->len,
			"::smallint", true, LOOKUP_NONE };
		cols[n++] = (struct result_col){ "full_command", cmd->text,
			cmd->len, "::text", true, LOOKUP_NONE };
	}
	return result_cols_scalars(e, cols, n);
}

static void submit_find_expr(
    struct strbuf *out, const struct submit_store *st, struct stmt *s);

/*
 * The SQL of each column's value: a parameter, or, for a row created
 * earlier in this transaction, its lookup (PostgreSQL finds it there, so
 * the store needs no round trip to learn the new id).
 */
static void
result_col_exprs(struct submit_store *st, size_t i, struct stmt *s,
    const struct result_col *cols, int n, struct strbuf *exprs)
{
	int j;

	for (j = 0; j < n; j++) {
		strbuf_setup(&exprs[j]);
		if (cols[j].lookup == LOOKUP_SUBMIT)
			submit_find_expr(&exprs[j], st, s);
		else if (cols[j].lookup != LOOKUP_NONE)
			norm_lookup_expr(&exprs[j], &st->es[i], s,
			    store_entry(st, i), (enum norm_kind)cols[j].lookup,
			    0);
		else
			strbuf_addf(&exprs[j], "$%d%s",
			    stmt_param(s, cols[j].value, cols[j].len),
			    cols[j].cast);
	}
}

/* Find the equal stored result, or insert this one. */
static void
add_result(struct submit_store *st, size_t i)
{
	const char *table = submit_phase_table(st->req->phase);
	struct result_col cols[STMT_MAX_PARAMS];
	struct strbuf exprs[STMT_MAX_PARAMS];
	struct stmt *s = stmt_add(st, ROLE_RESULT, i);
	int n = result_cols(st, i, cols);
	int j, ncmp = 0;

	result_col_exprs(st, i, s, cols, n, exprs);
	strbuf_addf(&s->sql,
	    "WITH f AS (SELECT %s_id AS id FROM ONLY %s"
	    " WHERE ",
	    table, table);
	for (j = 0; j < n; j++) {
		if (cols[j].compare)
			strbuf_addf(&s->sql, "%s%s = %s", ncmp++ ? " AND " : "",
			    cols[j].column, exprs[j].data);
	}
	strbuf_addf(
	    &s->sql, " ORDER BY 1 LIMIT 1), i AS (INSERT INTO %s (", table);
	for (j = 0; j < n; j++)
		strbuf_addf(&s->sql, "%s%s", j ? ", " : "", cols[j].column);
	strbuf_adds(&s->sql, ") SELECT ");
	for (j = 0; j < n; j++)
		strbuf_addf(&s->sql, "%s%s", j ? ", " : "", exprs[j].data);
	strbuf_addf(&s->sql,
	    " WHERE NOT EXISTS (SELECT 1 FROM f) RETURNING"
	    " %s_id AS id) SELECT id FROM f UNION ALL SELECT id FROM i",
	    table);
	for (j = 0; j < n; j++)
		strbuf_shutdown(&exprs[j]);
}

/* ---- the submit row ---- */

/* "(SELECT submit_id ...)": the submit row, found by its identity, or
 * by the id the client gave when it is the user's own. */
static void
submit_find_expr(
    struct strbuf *out, const struct submit_store *st, struct stmt *s)
{
	const struct submit_request *r = st->req;

	if (r->submit_id > 0) {
		/* Only the user's own submit row: http_username is always
		 * the authenticated user's name. */
		strbuf_addf(out,
		    "(SELECT submit_id FROM submit WHERE submit_id ="
		    " $%d::integer AND http_username = $%d::text)",
		    stmt_params(s, st->submit_id_text),
		    stmt_params(s, r->http_username));
		return;
	}
	strbuf_addf(out,
	    "(SELECT submit_id FROM submit WHERE hostname ="
	    " $%d::text AND local_username = $%d::text AND http_username ="
	    " $%d::text AND mtt_client_version = $%d::text ORDER BY 1"
	    " LIMIT 1)",
	    stmt_params(s, r->hostname), stmt_params(s, r->local_username),
	    stmt_params(s, r->http_username),
	    stmt_params(s, r->mtt_client_version));
}

/* Find-or-insert of the submit row, under the lock of its identity. */
static void
add_submit_make(struct submit_store *st)
{
	const struct submit_request *r = st->req;
	struct stmt *s = stmt_add(st, ROLE_SUBMIT_MAKE, 0);

	strbuf_adds(&s->sql,
	    "WITH f AS (SELECT submit_id AS id FROM submit"
	    " WHERE hostname = $1::text AND local_username = $2::text AND"
	    " http_username = $3::text AND mtt_client_version = $4::text"
	    " ORDER BY 1 LIMIT 1), i AS (INSERT INTO submit (hostname,"
	    " local_username, http_username, mtt_client_version) SELECT $1,"
	    " $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM f) RETURNING"
	    " submit_id AS id) SELECT id FROM f UNION ALL SELECT id FROM i");
	stmt_params(s, r->hostname);
	stmt_params(s, r->local_username);
	stmt_params(s, r->http_username);
	stmt_params(s, r->mtt_client_version);
}

/* ---- the first round trip: every lookup ---- */

/* "($n::timestamp)::text" for a sent value, else NULL. */
static void
add_cast_column(
    struct stmt *s, const struct submit_entry *e, int field, const char *type)
{
	const struct submit_value *v = e ? entry_value(e, field) : NULL;

	if (v == NULL || v->text == NULL)
		strbuf_adds(&s->sql, "NULL");
	else
		strbuf_addf(&s->sql, "($%d::%s)::text",
		    stmt_param(s, v->text, v->len), type);
}

/* The linked row's ids to copy, and whether it exists, as columns. */
static void
add_link_columns(struct submit_store *st, struct stmt *s)
{
	const char *const *copies = phase_copies(st->req->phase);
	int j;

	if (copies == NULL) {
		strbuf_adds(&s->sql, ", true");
		return;
	}
	strbuf_adds(&s->sql, ", l.found");
	for (j = 0; copies[j] != NULL; j++)
		strbuf_addf(&s->sql, ", l.%s", copies[j]);
}

/* FROM clause reading the linked install or build (which must exist). */
static void
add_link_from(struct submit_store *st, struct stmt *s, int link_param)
{
	const char *const *copies = phase_copies(st->req->phase);
	int j;

	if (copies == NULL)
		return;
	strbuf_adds(
	    &s->sql, " FROM (SELECT 1) AS one LEFT JOIN (SELECT true AS found");
	for (j = 0; copies[j] != NULL; j++)
		strbuf_addf(&s->sql, ", %s", copies[j]);
	strbuf_addf(&s->sql,
	    " FROM ONLY %s WHERE %s = $%d::integer) AS l ON true",
	    st->req->phase == SUBMIT_PHASE_BUILD ? "mpi_install" : "test_build",
	    link_key(st), link_param);
}

/*
 * One statement for everything about entry i that can be read without
 * locks: its timestamp and duration read by PostgreSQL's own parser, the
 * row it links to, and every normalised row it links (NULL: missing).
 * The first statement also finds the submit row.  With no entries, only
 * the submit row is looked for.
 */
static void
add_entry_lookup(struct submit_store *st, size_t i)
{
	const struct submit_entry *e = i < st->req->count ? store_entry(st, i) :
							    NULL;
	const struct phase_link *l = phase_links(st->req->phase);
	struct stmt *s = stmt_add(st, ROLE_ENTRY, i);
	int link_param = 0;

	if (e != NULL && phase_copies(st->req->phase) != NULL)
		link_param = stmt_params(s, link_id(st, e));
	strbuf_adds(&s->sql, "SELECT ");
	add_cast_column(s, e, SF_START_TIMESTAMP, "timestamp");
	strbuf_adds(&s->sql, ", ");
	add_cast_column(s, e, SF_DURATION, "interval");
	strbuf_adds(&s->sql, ", ");
	if (i == 0)
		submit_find_expr(&s->sql, st, s);
	else
		strbuf_adds(&s->sql, "NULL::integer");
	if (e == NULL) {
		strbuf_adds(&s->sql, ", true");
		return;
	}
	add_link_columns(st, s);
	for (; l->kind != NK__COUNT; l++) {
		strbuf_adds(&s->sql, ", ");
		if (norm_wanted(e, l->kind))
			norm_lookup_expr(
			    &s->sql, &st->es[i], s, e, l->kind, link_param);
		else
			strbuf_adds(&s->sql, "0");
	}
	add_link_from(st, s, link_param);
}

/*
 * Every lookup of the submission, in one pipeline outside any
 * transaction: nothing is locked or written yet, and the rows read are
 * never deleted, so the ids stay good for the store step.
 */
static void
store_begin(struct submit_store *st)
{
	size_t i;

	store_clear_stmts(st);
	st->attempt++;
	st->submit_id[0] = '\0';
	memset(st->es, 0, st->req->count * sizeof *st->es);
	for (i = 0; i < st->req->count || i == 0; i++)
		add_entry_lookup(st, i);
	store_send(st, STEP_LOOKUP);
}

/* Each timestamp and interval alone, so a refused one can be named. */
static void
add_casts(struct submit_store *st, size_t i)
{
	static const int checked[] = { SF_START_TIMESTAMP, SF_DURATION };
	static const char *const casts[] = { "timestamp", "interval" };
	const struct submit_entry *e = store_entry(st, i);
	int j;

	for (j = 0; j < 2; j++) {
		const struct submit_value *v = entry_value(e, checked[j]);
		struct stmt *s;

		if (v->text == NULL)
			continue;
		s = stmt_add(st, ROLE_CAST, i);
		s->field = checked[j];
		strbuf_addf(&s->sql, "SELECT ($%d::%s)::text",
		    stmt_param(s, v->text, v->len), casts[j]);
	}
}

/*
 * An entry's lookup statement was refused for a value: check each
 * timestamp and interval alone.  A refused one is named by store_failed;
 * when all pass, the first refusal is reported as it was.
 */
static void
store_check_casts(
    struct submit_store *st, const struct db_result *res, size_t entry)
{
	size_t i;

	free(st->lookup_error);
	st->lookup_error = xstrdup(res->error ? res->error : "unknown error");
	st->lookup_error_entry = entry;
	store_clear_stmts(st);
	for (i = 0; i < st->req->count; i++)
		add_casts(st, i);
	if (st->nstmts == 0) {
		store_refuse(st, "data[%zu]: the database refused a value: %s",
		    entry, st->lookup_error);
		return;
	}
	store_send(st, STEP_CASTS);
}

/* ---- reading the lookups ---- */

static bool
result_one_value(const struct db_result *res, int i, char *out, size_t size)
{
	PGresult *r = i >= 0 ? res->results[i] : NULL;

	if (r == NULL || PQntuples(r) < 1 || PQgetisnull(r, 0, 0))
		return false;
	snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
	return true;
}

static void
copy_column(PGresult *r, int col, char *out, size_t size)
{
	snprintf(out, size, "%s",
	    PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

/* Read one entry's normalised rows from column first on; true when a
 * row it links is missing. */
static bool
store_read_norms(
    struct submit_store *st, struct entry_state *es, PGresult *r, int first)
{
	const struct phase_link *l = phase_links(st->req->phase);
	bool any = false;
	int j;

	for (j = 0; l[j].kind != NK__COUNT; j++) {
		bool null = PQgetisnull(r, 0, first + j);

		es->missing[l[j].kind] = null;
		any |= null;
		copy_column(r, first + j, es->norm_id[l[j].kind],
		    sizeof es->norm_id[0]);
	}
	return any;
}

/*
 * Read entry i's lookup statement.  Returns false when the row it links
 * to does not exist; sets *missing when a normalised row is new.
 */
static bool
store_read_entry(struct submit_store *st, size_t i, PGresult *r, bool *missing)
{
	const char *const *copies = phase_copies(st->req->phase);
	struct entry_state *es = &st->es[i];
	int j, col = COL_LINKS;

	if (i == 0)
		copy_column(r, COL_SUBMIT, st->submit_id, sizeof st->submit_id);
	if (i >= st->req->count)
		return true;
	if (PQgetisnull(r, 0, COL_LINK_FOUND))
		return false;
	copy_column(r, COL_TIMESTAMP, es->timestamp, sizeof es->timestamp);
	copy_column(r, COL_DURATION, es->duration, sizeof es->duration);
	for (j = 0; copies != NULL && copies[j] != NULL; j++)
		copy_column(r, col++, es->link[j], sizeof es->link[j]);
	*missing |= store_read_norms(st, es, r, col);
	return true;
}

/* ---- the store step ---- */

/* A normalised row to create: which entry's values, and its key. */
static struct norm_make *
store_plan_makes(struct submit_store *st, size_t *count)
{
	const struct phase_link *l;
	struct norm_make *m = NULL;
	size_t i, n = 0, cap = 0;

	for (i = 0; i < st->req->count; i++) {
		for (l = phase_links(st->req->phase); l->kind != NK__COUNT;
		     l++) {
			if (!st->es[i].missing[l->kind])
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				m = xrealloc(m, cap * sizeof *m);
			}
			m[n++] = (struct norm_make){ norm_hash(&st->es[i],
							 store_entry(st, i),
							 l->kind),
				i, l->kind };
		}
	}
	*count = n;
	return m;
}

static int
cmp_norm_make(const void *a, const void *b)
{
	const struct norm_make *x = a, *y = b;

	return (x->hash > y->hash) - (x->hash < y->hash);
}

/* Every advisory lock the store step needs, in one statement. */
static void
add_store_locks(struct submit_store *st, const struct norm_make *m, size_t n)
{
	struct lock_set ls = { NULL, 0, 0 };
	size_t i;

	add_result_locks(st, &ls);
	if (st->submit_id[0] == '\0')
		lock_set_add(&ls, "submit", HASH_FNV1A_SEED,
		    submit_identity_hash(st->req));
	for (i = 0; i < n; i++) {
		if (!norm_has_unique_index(m[i].kind))
			lock_set_add(&ls, "norm", HASH_FNV1A_SEED, m[i].hash);
	}
	if (ls.count > 0)
		add_locks(st, &ls);
	free(ls.keys);
}

/*
 * The second round trip, one implicit transaction that the pipeline's
 * sync commits: every lock; the submit row and each missing normalised
 * row once (in hash order, so racing inserts wait in one order); then
 * every result, which finds the rows just created by their values.
 */
static void
store_write(struct submit_store *st)
{
	struct norm_make *m;
	size_t n, i;

	store_clear_stmts(st);
	m = store_plan_makes(st, &n);
	if (n > 1) /* qsort of NULL, even of 0 items, is undefined. */
		qsort(m, n, sizeof *m, cmp_norm_make);
	add_store_locks(st, m, n);
	if (st->submit_id[0] == '\0')
		add_submit_make(st);
	for (i = 0; i < n; i++) {
		if (i == 0 || m[i].hash != m[i - 1].hash)
			add_norm_make(st, &m[i]);
	}
	free(m);
	for (i = 0; i < st->req->count; i++)
		add_result(st, i);
	if (st->nstmts == 0) { /* No entries, and the submit row exists. */
		store_done(st, SUBMIT_STORED, "Success");
		return;
	}
	store_send(st, STEP_STORE);
}

static void
store_looked_up(struct submit_store *st, const struct db_result *res)
{
	bool missing = false;
	int i;

	for (i = 0; i < st->nstmts; i++) {
		size_t entry = st->stmts[i]->entry;

		if (!store_read_entry(st, entry, res->results[i], &missing)) {
			store_refuse(st,
			    "data[%zu]: field '%s': %s %s does not exist",
			    entry, link_key(st), link_key(st),
			    link_id(st, store_entry(st, entry)));
			return;
		}
	}
	if (st->submit_id[0] == '\0' && st->req->submit_id > 0) {
		store_refuse(st,
		    "field 'submit_id': submit_id %ld does not exist, or"
		    " belongs to another user than %s",
		    st->req->submit_id, st->req->http_username);
		return;
	}
	store_write(st);
}

static void
store_written(struct submit_store *st, const struct db_result *res)
{
	char id[24];
	int i;

	for (i = 0; i < st->nstmts; i++) {
		const struct stmt *s = st->stmts[i];

		if (s->role == ROLE_SUBMIT_MAKE)
			result_one_value(
			    res, i, st->submit_id, sizeof st->submit_id);
		if (s->role != ROLE_RESULT)
			continue;
		if (!result_one_value(res, i, id, sizeof id)) {
			store_done(st, SUBMIT_DB_FAILED,
			    "the result row was not stored");
			return;
		}
		st->ids[s->entry] = strtol(id, NULL, 10);
	}
	store_done(st, SUBMIT_STORED, "Success");
}

static void
store_batch_cb(const struct db_result *res, void *arg)
{
	struct submit_store *st = arg;

	if (res->failed >= 0) {
		store_failed(st, res);
		return;
	}
	switch (st->step) {
	case STEP_LOOKUP:
		store_looked_up(st, res);
		break;
	case STEP_CASTS:
		store_refuse(st, "data[%zu]: the database refused a value: %s",
		    st->lookup_error_entry, st->lookup_error);
		break;
	case STEP_STORE:
		store_written(st, res);
		break;
	}
}

void
submit_store_run(struct db_conn *conn, const struct submit_request *req,
    submit_store_done_cb cb, void *arg)
{
	struct submit_store *st = xcalloc(1, sizeof *st);

	st->conn = conn;
	st->req = req;
	st->cb = cb;
	st->arg = arg;
	snprintf(st->submit_id_text, sizeof st->submit_id_text, "%ld",
	    req->submit_id);
	st->ids = xcalloc(req->count ? req->count : 1, sizeof *st->ids);
	st->es = xcalloc(req->count ? req->count : 1, sizeof *st->es);
	store_begin(st);
}
