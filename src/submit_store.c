/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Storing a submission in one transaction.  Normalised rows are looked
 * up first without locks; only a row that is missing is created, under a
 * transaction-scoped advisory lock on its values, so identical
 * submissions racing each other create it once.  A result is checked
 * against the stored ones (on the fields that were sent) under a lock on
 * its own values and inserted only when new, so retries and duplicates
 * take no sequence value.  Every step is one pipelined round trip.
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

/* Most parameters one statement takes (the result insert has ~30). */
#define STMT_MAX_PARAMS 48

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
	ROLE_BEGIN,
	ROLE_CAST, /* Checks one timestamp or interval. */
	ROLE_SUBMIT_FIND,
	ROLE_SUBMIT_MAKE,
	ROLE_LINK_CHECK, /* Does a linked build or install exist? */
	ROLE_LINK,	 /* Reads the row a build or run links to. */
	ROLE_NORMS,	 /* Looks every normalised row up. */
	ROLE_LOCK,
	ROLE_NORM_MAKE,
	ROLE_RESULT,
	ROLE_COMMIT,
	ROLE_ROLLBACK
};

/* Which round trip a batch is; says how to read its results. */
enum store_step {
	STEP_BEGIN,	  /* BEGIN, checks, submit row, first lookups. */
	STEP_SUBMIT_MAKE, /* Creates the submit row. */
	STEP_LOOKUP,	  /* Lookups of the first entry, again. */
	STEP_NORMS_MAKE,  /* Creates missing normalised rows. */
	STEP_RESULT,	  /* One result, the next lookups or COMMIT. */
	STEP_COMMIT,	  /* COMMIT alone (an empty data list). */
	STEP_ROLLBACK	  /* Before a retry. */
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
	char keys[NK__COUNT][24]; /* Lock keys as text. */
};

struct submit_store {
	struct db_conn *conn;
	const struct submit_request *req;
	submit_store_done_cb cb;
	void *arg;
	int attempt;
	enum store_step step; /* Of the batch in flight. */

	char submit_id[24];
	long *ids;
	size_t entry; /* Entry being stored. */

	/* The current entry's linked row and normalised ids. */
	char link[LINK_MAX][24];
	char norm_id[NK__COUNT][24];
	bool missing[NK__COUNT];

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

		db_batch_add(b, s->sql.data, s->n, s->values, s->lengths);
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
	free(st->ids);
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

static void
store_retry(struct submit_store *st)
{
	struct stmt *s;

	log_info("submit: retrying after a conflict with another writer"
		 " (attempt %d)",
	    st->attempt + 1);
	store_clear_stmts(st);
	s = stmt_add(st, ROLE_ROLLBACK, 0);
	strbuf_adds(&s->sql, "ROLLBACK");
	store_send(st, STEP_ROLLBACK);
}

/* A statement failed: name what it was about. */
static void
store_failed(struct submit_store *st, const struct db_result *res)
{
	const struct stmt *s = st->stmts[res->failed];
	const char *why = res->error ? res->error : "unknown error";

	if (res->conn_lost) {
		store_done(st, SUBMIT_DB_FAILED, why);
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
	log_error("submit: statement %d (role %d) failed: %s [%s]", res->failed,
	    s->role, why, res->sqlstate ? res->sqlstate : "-");
	if (res->sqlstate != NULL &&
	    (strncmp(res->sqlstate, "22", 2) == 0 ||
		strncmp(res->sqlstate, "23", 2) == 0)) {
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

/* The id of the row a build or run links to ("0": the placeholder). */
static const char *
link_id(const struct submit_store *st, const struct submit_entry *e)
{
	int f = st->req->phase == SUBMIT_PHASE_BUILD ? SF_MPI_INSTALL_ID :
						       SF_TEST_BUILD_ID;

	return sent(e, f) ? e->v[f].text : "0";
}

/* ---- normalised rows ---- */

/* The value of one normalised column, and the key text to lock on. */
static const char *
norm_col_value(const struct submit_store *st, const struct submit_entry *e,
    const struct norm_col *c, size_t *len)
{
	const struct submit_value *v;

	if (c->field == NV_LINK_SUITE) {
		*len = strlen(st->link[5]);
		return st->link[5];
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
norm_params(const struct submit_store *st, struct stmt *s,
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
		v = norm_col_value(st, e, &def->cols[i], &len);
		params[i] = stmt_param(s, v, len);
	}
}

static void
norm_lookup_expr(const struct submit_store *st, struct stmt *s,
    const struct submit_entry *e, enum norm_kind k, int link_param)
{
	const struct norm_def *def = &norms[k];
	int params[8];

	if (k == NK_PERFORMANCE) {
		def = &norms[NK_LATENCY];
		norm_params(st, s, e, def, params, link_param);
		strbuf_adds(&s->sql,
		    "(SELECT p.performance_id FROM performance"
		    " p JOIN latency_bandwidth l ON l.latency_bandwidth_id ="
		    " p.latency_bandwidth_id WHERE ");
		norm_conditions(&s->sql, def, params, "l.");
		strbuf_adds(&s->sql, " ORDER BY 1 LIMIT 1)");
		return;
	}
	norm_params(st, s, e, def, params, link_param);
	strbuf_addf(&s->sql, "(SELECT %s FROM %s WHERE ", def->id, def->table);
	norm_conditions(&s->sql, def, params, "");
	strbuf_adds(&s->sql, " ORDER BY 1 LIMIT 1)");
}

/* One statement that looks up every normalised row the entry links. */
static void
add_norms_lookup(struct submit_store *st, size_t i)
{
	const struct submit_entry *e = store_entry(st, i);
	const struct phase_link *l = phase_links(st->req->phase);
	struct stmt *s = stmt_add(st, ROLE_NORMS, i);
	int link_param = 0;

	if (st->req->phase == SUBMIT_PHASE_RUN)
		link_param = stmt_params(s, link_id(st, e));
	strbuf_adds(&s->sql, "SELECT ");
	for (; l->kind != NK__COUNT; l++) {
		if (l != phase_links(st->req->phase))
			strbuf_adds(&s->sql, ", ");
		if (norm_wanted(e, l->kind))
			norm_lookup_expr(st, s, e, l->kind, link_param);
		else
			strbuf_adds(&s->sql, "0");
	}
}

static void
add_link_lookup(struct submit_store *st, size_t i)
{
	const char *const *copies = phase_copies(st->req->phase);
	struct stmt *s;
	int j;

	if (copies == NULL)
		return;
	s = stmt_add(st, ROLE_LINK, i);
	strbuf_adds(&s->sql, "SELECT ");
	for (j = 0; copies[j] != NULL; j++)
		strbuf_addf(&s->sql, "%s%s", j ? ", " : "", copies[j]);
	strbuf_addf(&s->sql, " FROM %s WHERE %s = $%d::integer",
	    st->req->phase == SUBMIT_PHASE_BUILD ? "mpi_install" : "test_build",
	    st->req->phase == SUBMIT_PHASE_BUILD ? "mpi_install_id" :
						   "test_build_id",
	    stmt_params(s, link_id(st, store_entry(st, i))));
}

/* Lock key of a normalised row: a hash of its table and values. */
static void
norm_lock_key(const struct submit_store *st, const struct submit_entry *e,
    enum norm_kind k, char *out, size_t size)
{
	const struct norm_def *def =
	    &norms[k == NK_PERFORMANCE ? NK_LATENCY : k];
	uint64_t h = hash_fnv1a(
	    HASH_FNV1A_SEED, def->table, strlen(def->table) + 1);
	const char *v;
	size_t len;
	int i;

	for (i = 0; i < def->ncols; i++) {
		v = norm_col_value(st, e, &def->cols[i], &len);
		h = hash_fnv1a(h, v, len);
		h = hash_fnv1a(h, "\x1f", 1);
	}
	snprintf(out, size, "%" PRId64, (int64_t)h);
}

/*
 * Find-or-insert of one normalised row: the lookup, and an insert that
 * runs only when the lookup found nothing.  Run under the row's lock, in
 * a statement of its own, so it sees a racing writer's committed row.
 */
static void
norm_find_or_insert(struct submit_store *st, struct stmt *s,
    const struct submit_entry *e, enum norm_kind k, const char *extra_col,
    const char *extra_expr)
{
	const struct norm_def *def = &norms[k];
	int params[8];
	int i;

	norm_params(st, s, e, def, params, 0);
	strbuf_addf(&s->sql, "WITH f AS (SELECT %s AS id FROM %s WHERE ",
	    def->id, def->table);
	norm_conditions(&s->sql, def, params, "");
	if (extra_col != NULL)
		strbuf_addf(&s->sql, "%s = %s", extra_col, extra_expr);
	strbuf_addf(&s->sql, " ORDER BY 1 LIMIT 1), i AS (INSERT INTO %s (",
	    def->table);
	for (i = 0; i < def->ncols; i++)
		strbuf_addf(
		    &s->sql, "%s%s", i ? ", " : "", def->cols[i].column);
	if (extra_col != NULL)
		strbuf_addf(&s->sql, "%s", extra_col);
	strbuf_adds(&s->sql, ") SELECT ");
	for (i = 0; i < def->ncols; i++)
		strbuf_addf(&s->sql, "%s$%d%s", i ? ", " : "", params[i],
		    def->cols[i].cast);
	if (extra_col != NULL)
		strbuf_addf(&s->sql, "%s", extra_expr);
	strbuf_addf(&s->sql,
	    " WHERE NOT EXISTS (SELECT 1 FROM f) RETURNING"
	    " %s AS id) SELECT id FROM f UNION ALL SELECT id FROM i",
	    def->id);
}

/* Create a performance row: its latency_bandwidth row first. */
static void
add_performance_make(
    struct submit_store *st, size_t i, const struct submit_entry *e)
{
	struct stmt *s = stmt_add(st, ROLE_NORM_MAKE, i);
	struct strbuf expr;
	int params[8];

	s->field = NK_LATENCY;
	norm_find_or_insert(st, s, e, NK_LATENCY, NULL, NULL);

	/* The performance row points at that latency_bandwidth row. */
	s = stmt_add(st, ROLE_NORM_MAKE, i);
	s->field = NK_PERFORMANCE;
	norm_params(st, s, e, &norms[NK_LATENCY], params, 0);
	strbuf_setup(&expr);
	strbuf_adds(&expr,
	    "(SELECT latency_bandwidth_id FROM"
	    " latency_bandwidth WHERE ");
	norm_conditions(&expr, &norms[NK_LATENCY], params, "");
	strbuf_adds(&expr, " ORDER BY 1 LIMIT 1)");
	norm_find_or_insert(
	    st, s, e, NK_PERFORMANCE, "latency_bandwidth_id", expr.data);
	strbuf_shutdown(&expr);
}

static int
cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lock the missing rows' keys, in a fixed order to avoid deadlocks. */
static void
add_norm_locks(struct submit_store *st, size_t i, const struct submit_entry *e)
{
	struct stmt *s = stmt_add(st, ROLE_LOCK, i);
	const char *sorted[NK__COUNT];
	int n = 0, k;

	for (k = 0; k < NK__COUNT; k++) {
		if (!st->missing[k])
			continue;
		norm_lock_key(st, e, k, s->keys[k], sizeof s->keys[k]);
		sorted[n++] = s->keys[k];
	}
	qsort(sorted, n, sizeof sorted[0], cmp_keys);
	strbuf_adds(&s->sql, "SELECT ");
	for (k = 0; k < n; k++)
		strbuf_addf(&s->sql, "%spg_advisory_xact_lock($%d::bigint)",
		    k ? ", " : "", stmt_params(s, sorted[k]));
}

static void
store_make_norms(struct submit_store *st)
{
	const struct submit_entry *e = store_entry(st, st->entry);
	struct stmt *s;
	int k;

	store_clear_stmts(st);
	add_norm_locks(st, st->entry, e);
	for (k = 0; k < NK__COUNT; k++) {
		if (!st->missing[k])
			continue;
		if (k == NK_PERFORMANCE) {
			add_performance_make(st, st->entry, e);
			continue;
		}
		s = stmt_add(st, ROLE_NORM_MAKE, st->entry);
		s->field = k;
		norm_find_or_insert(st, s, e, k, NULL, NULL);
	}
	store_send(st, STEP_NORMS_MAKE);
}

/* ---- results ---- */

struct result_col {
	const char *column;
	const char *value;
	size_t len;
	const char *cast;
	bool compare;
};

static int
result_cols_links(const struct submit_store *st, const struct submit_entry *e,
    struct result_col *cols, int n)
{
	const struct phase_link *l;
	const char *const *copies = phase_copies(st->req->phase);
	int j;

	for (j = 0; copies != NULL && copies[j] != NULL; j++)
		cols[n++] = (struct result_col){ copies[j], st->link[j],
			strlen(st->link[j]), "::integer", false };
	if (copies != NULL)
		cols[n++] = (struct result_col){ st->req->phase ==
				SUBMIT_PHASE_BUILD ?
			    "mpi_install_id" :
			    "test_build_id",
			link_id(st, e), strlen(link_id(st, e)), "::integer",
			true };
	for (l = phase_links(st->req->phase); l->kind != NK__COUNT; l++)
		cols[n++] = (struct result_col){ l->column,
			st->norm_id[l->kind], strlen(st->norm_id[l->kind]),
			"::integer", norm_compared(e, l->kind) };
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
			v->text != NULL };
	}
	return n;
}

/* Every column of the result row, with the ones that are compared. */
static int
result_cols(const struct submit_store *st, const struct submit_entry *e,
    struct result_col *cols)
{
	int n = 0;

	cols[n++] = (struct result_col){ "submit_id", st->submit_id,
		strlen(st->submit_id), "::integer", true };
	n = result_cols_links(st, e, cols, n);
	if (st->req->phase == SUBMIT_PHASE_RUN) {
		const struct submit_value *np = entry_value(e, SF_NP);
		const struct submit_value *cmd = entry_value(e, SF_COMMAND);

		cols[n++] = (struct result_col){ "np", np->text, np->len,
			"::smallint", true };
		cols[n++] = (struct result_col){ "full_command", cmd->text,
			cmd->len, "::text", true };
	}
	return result_cols_scalars(e, cols, n);
}

static void
result_lock_key(const struct stmt *s, char *out, size_t size)
{
	uint64_t h = hash_fnv1a(HASH_FNV1A_SEED, s->sql.data, s->sql.len);
	int i;

	for (i = 0; i < s->n; i++) {
		h = hash_fnv1a(h, s->values[i], s->lengths[i]);
		h = hash_fnv1a(h, "\x1f", 1);
	}
	snprintf(out, size, "%" PRId64, (int64_t)h);
}

/* Find the equal stored result, or insert this one. */
static void
result_statement(const struct submit_store *st, struct stmt *s,
    const struct result_col *cols, int n)
{
	const char *table = submit_phase_table(st->req->phase);
	int params[STMT_MAX_PARAMS];
	int i, ncmp = 0;

	for (i = 0; i < n; i++)
		params[i] = stmt_param(s, cols[i].value, cols[i].len);
	strbuf_addf(&s->sql,
	    "WITH f AS (SELECT %s_id AS id FROM ONLY %s"
	    " WHERE ",
	    table, table);
	for (i = 0; i < n; i++) {
		if (cols[i].compare)
			strbuf_addf(&s->sql, "%s%s = $%d%s",
			    ncmp++ ? " AND " : "", cols[i].column, params[i],
			    cols[i].cast);
	}
	strbuf_addf(
	    &s->sql, " ORDER BY 1 LIMIT 1), i AS (INSERT INTO %s (", table);
	for (i = 0; i < n; i++)
		strbuf_addf(&s->sql, "%s%s", i ? ", " : "", cols[i].column);
	strbuf_adds(&s->sql, ") SELECT ");
	for (i = 0; i < n; i++)
		strbuf_addf(
		    &s->sql, "%s$%d%s", i ? ", " : "", params[i], cols[i].cast);
	strbuf_addf(&s->sql,
	    " WHERE NOT EXISTS (SELECT 1 FROM f) RETURNING"
	    " %s_id AS id) SELECT id FROM f UNION ALL SELECT id FROM i",
	    table);
}

/*
 * The entry's result under a lock on its own values, so an identical
 * entry racing in another transaction waits and then finds this row.
 */
static void
add_result(struct submit_store *st, size_t i)
{
	struct result_col cols[STMT_MAX_PARAMS];
	struct stmt *lock = stmt_add(st, ROLE_LOCK, i);
	struct stmt *s = stmt_add(st, ROLE_RESULT, i);
	int n = result_cols(st, store_entry(st, i), cols);

	result_statement(st, s, cols, n);
	result_lock_key(s, lock->keys[0], sizeof lock->keys[0]);
	strbuf_addf(&lock->sql, "SELECT pg_advisory_xact_lock($%d::bigint)",
	    stmt_params(lock, lock->keys[0]));
}

static void
add_commit(struct submit_store *st)
{
	struct stmt *s = stmt_add(st, ROLE_COMMIT, 0);

	strbuf_adds(&s->sql, "COMMIT");
}

/* Store entry st->entry; look the next one up in the same round trip. */
static void
store_result(struct submit_store *st)
{
	size_t next = st->entry + 1;

	store_clear_stmts(st);
	add_result(st, st->entry);
	if (next < st->req->count) {
		add_link_lookup(st, next);
		add_norms_lookup(st, next);
	} else
		add_commit(st);
	store_send(st, STEP_RESULT);
}

/* ---- the submit row ---- */

static void
add_submit_find(struct submit_store *st)
{
	const struct submit_request *r = st->req;
	struct stmt *s = stmt_add(st, ROLE_SUBMIT_FIND, 0);

	if (r->submit_id > 0) {
		snprintf(
		    st->submit_id, sizeof st->submit_id, "%ld", r->submit_id);
		/* Only the user's own submit row: http_username is always
		 * the authenticated user's name. */
		strbuf_addf(&s->sql,
		    "SELECT submit_id FROM submit WHERE"
		    " submit_id = $%d::integer AND http_username = $%d::text",
		    stmt_params(s, st->submit_id),
		    stmt_params(s, r->http_username));
		return;
	}
	strbuf_addf(&s->sql,
	    "SELECT submit_id FROM submit WHERE hostname ="
	    " $%d::text AND local_username = $%d::text AND http_username ="
	    " $%d::text AND mtt_client_version = $%d::text ORDER BY 1 LIMIT 1",
	    stmt_params(s, r->hostname), stmt_params(s, r->local_username),
	    stmt_params(s, r->http_username),
	    stmt_params(s, r->mtt_client_version));
}

static void
store_make_submit(struct submit_store *st)
{
	const struct submit_request *r = st->req;
	struct stmt *lock, *s;
	uint64_t h = HASH_FNV1A_SEED;
	const char *parts[] = { "submit", r->hostname, r->local_username,
		r->http_username, r->mtt_client_version };
	size_t i;

	store_clear_stmts(st);
	for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
		h = hash_fnv1a(h, parts[i], strlen(parts[i]) + 1);
	lock = stmt_add(st, ROLE_LOCK, 0);
	snprintf(lock->keys[0], sizeof lock->keys[0], "%" PRId64, (int64_t)h);
	strbuf_addf(&lock->sql, "SELECT pg_advisory_xact_lock($%d::bigint)",
	    stmt_params(lock, lock->keys[0]));
	s = stmt_add(st, ROLE_SUBMIT_MAKE, 0);
	strbuf_addf(&s->sql,
	    "WITH f AS (SELECT submit_id AS id FROM submit"
	    " WHERE hostname = $1::text AND local_username = $2::text AND"
	    " http_username = $3::text AND mtt_client_version = $4::text"
	    " ORDER BY 1 LIMIT 1), i AS (INSERT INTO submit (hostname,"
	    " local_username, http_username, mtt_client_version) SELECT $1,"
	    " $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM f) RETURNING"
	    " submit_id AS id) SELECT id FROM f UNION ALL SELECT id FROM i");
	for (i = 1; i < sizeof parts / sizeof parts[0]; i++)
		stmt_params(s, parts[i]);
	store_send(st, STEP_SUBMIT_MAKE);
}

/* ---- the first round trip ---- */

static void
add_casts(struct submit_store *st)
{
	static const int checked[] = { SF_START_TIMESTAMP, SF_DURATION };
	static const char *const casts[] = { "timestamp", "interval" };
	size_t i;
	int j;

	for (i = 0; i < st->req->count; i++) {
		const struct submit_entry *e = store_entry(st, i);

		for (j = 0; j < 2; j++) {
			const struct submit_value *v = entry_value(
			    e, checked[j]);
			struct stmt *s;

			if (v->text == NULL)
				continue;
			s = stmt_add(st, ROLE_CAST, i);
			s->field = checked[j];
			strbuf_addf(&s->sql, "SELECT $%d::%s",
			    stmt_param(s, v->text, v->len), casts[j]);
		}
	}
}

/*
 * Every linked install or build must exist; checked before anything is
 * inserted so that a refused submission takes no sequence value.
 */
static void
add_link_checks(struct submit_store *st)
{
	const char *table = st->req->phase == SUBMIT_PHASE_BUILD ?
	    "mpi_install" :
	    "test_build";
	size_t i;

	if (st->req->phase == SUBMIT_PHASE_INSTALL)
		return;
	for (i = 0; i < st->req->count; i++) {
		struct stmt *s = stmt_add(st, ROLE_LINK_CHECK, i);

		strbuf_addf(&s->sql,
		    "SELECT 1 FROM ONLY %s WHERE %s_id ="
		    " $%d::integer",
		    table, table,
		    stmt_params(s, link_id(st, store_entry(st, i))));
	}
}

/* BEGIN, check every timestamp and interval, find the submit row. */
static void
store_begin(struct submit_store *st)
{
	struct stmt *s;

	store_clear_stmts(st);
	st->attempt++;
	st->entry = 0;
	s = stmt_add(st, ROLE_BEGIN, 0);
	strbuf_adds(&s->sql, "BEGIN");
	add_casts(st);
	add_link_checks(st);
	add_submit_find(st);
	if (st->req->count > 0) {
		add_link_lookup(st, 0);
		add_norms_lookup(st, 0);
	}
	store_send(st, STEP_BEGIN);
}

/* ---- reading results ---- */

static int
stmt_index(const struct submit_store *st, enum stmt_role role, int from)
{
	int i;

	for (i = from; i < st->nstmts; i++) {
		if (st->stmts[i]->role == role)
			return i;
	}
	return -1;
}

static bool
result_one_value(const struct db_result *res, int i, char *out, size_t size)
{
	PGresult *r = i >= 0 ? res->results[i] : NULL;

	if (r == NULL || PQntuples(r) < 1 || PQgetisnull(r, 0, 0))
		return false;
	snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
	return true;
}

/* The linked row of entry st->entry, from a ROLE_LINK result. */
static bool
store_read_link(struct submit_store *st, const struct db_result *res, int i)
{
	PGresult *r = res->results[i];
	int j;

	if (PQntuples(r) < 1)
		return false;
	for (j = 0; j < PQnfields(r) && j < LINK_MAX; j++)
		snprintf(
		    st->link[j], sizeof st->link[j], "%s", PQgetvalue(r, 0, j));
	return true;
}

static bool
store_read_norms(struct submit_store *st, const struct db_result *res, int i)
{
	const struct phase_link *l = phase_links(st->req->phase);
	PGresult *r = res->results[i];
	bool any = false;
	int j;

	memset(st->missing, 0, sizeof st->missing);
	for (j = 0; l[j].kind != NK__COUNT; j++) {
		bool null = PQgetisnull(r, 0, j);

		st->missing[l[j].kind] = null;
		any |= null;
		snprintf(st->norm_id[l[j].kind], sizeof st->norm_id[0], "%s",
		    null ? "" : PQgetvalue(r, 0, j));
	}
	return any;
}

static void
store_link_missing(struct submit_store *st)
{
	const char *key = st->req->phase == SUBMIT_PHASE_BUILD ?
	    "mpi_install_id" :
	    "test_build_id";

	store_refuse(st, "data[%zu]: field '%s': %s %s does not exist",
	    st->entry, key, key, link_id(st, store_entry(st, st->entry)));
}

/* Lookups for st->entry arrived in res, from statement first on. */
static void
store_entry_next(
    struct submit_store *st, const struct db_result *res, int first)
{
	int link = stmt_index(st, ROLE_LINK, first);
	int lookups = stmt_index(st, ROLE_NORMS, first);

	if (link >= 0 && !store_read_link(st, res, link)) {
		store_link_missing(st);
		return;
	}
	if (store_read_norms(st, res, lookups))
		store_make_norms(st);
	else
		store_result(st);
}

/* The submit row is known: go on to the first entry. */
static void
store_after_submit(struct submit_store *st, const struct db_result *res)
{
	if (st->req->count == 0) {
		store_clear_stmts(st);
		add_commit(st);
		store_send(st, STEP_COMMIT);
		return;
	}
	if (res == NULL) {
		/* The lookups of the first round trip are gone: again. */
		store_clear_stmts(st);
		add_link_lookup(st, 0);
		add_norms_lookup(st, 0);
		store_send(st, STEP_LOOKUP);
		return;
	}
	store_entry_next(st, res, 0);
}

/* Refuse the first entry whose linked install or build is missing. */
static bool
store_links_missing(struct submit_store *st, const struct db_result *res)
{
	int i;

	for (i = 0; i < st->nstmts; i++) {
		if (st->stmts[i]->role == ROLE_LINK_CHECK &&
		    PQntuples(res->results[i]) == 0) {
			st->entry = st->stmts[i]->entry;
			store_link_missing(st);
			return true;
		}
	}
	return false;
}

static void
store_begun(struct submit_store *st, const struct db_result *res)
{
	int i = stmt_index(st, ROLE_SUBMIT_FIND, 0);

	if (store_links_missing(st, res))
		return;
	if (result_one_value(res, i, st->submit_id, sizeof st->submit_id)) {
		store_after_submit(st, res);
		return;
	}
	if (st->req->submit_id > 0) {
		store_refuse(st,
		    "field 'submit_id': submit_id %ld does not exist, or"
		    " belongs to another user than %s",
		    st->req->submit_id, st->req->http_username);
		return;
	}
	store_make_submit(st);
}

static void
store_norms_made(struct submit_store *st, const struct db_result *res)
{
	int i;

	for (i = 0; i < st->nstmts; i++) {
		const struct stmt *s = st->stmts[i];

		if (s->role == ROLE_NORM_MAKE)
			result_one_value(res, i, st->norm_id[s->field],
			    sizeof st->norm_id[0]);
	}
	store_result(st);
}

static void
store_result_done(struct submit_store *st, const struct db_result *res)
{
	char id[24];
	int i = stmt_index(st, ROLE_RESULT, 0);

	if (!result_one_value(res, i, id, sizeof id)) {
		store_done(st, SUBMIT_DB_FAILED,
		    "the result row was not"
		    " stored");
		return;
	}
	st->ids[st->entry] = strtol(id, NULL, 10);
	if (++st->entry == st->req->count) {
		store_done(st, SUBMIT_STORED, "Success");
		return;
	}
	store_entry_next(st, res, i + 1);
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
	case STEP_BEGIN:
		store_begun(st, res);
		break;
	case STEP_SUBMIT_MAKE:
		result_one_value(
		    res, st->nstmts - 1, st->submit_id, sizeof st->submit_id);
		store_after_submit(st, NULL);
		break;
	case STEP_LOOKUP:
		store_entry_next(st, res, 0);
		break;
	case STEP_NORMS_MAKE:
		store_norms_made(st, res);
		break;
	case STEP_RESULT:
		store_result_done(st, res);
		break;
	case STEP_COMMIT:
		store_done(st, SUBMIT_STORED, "Success");
		break;
	case STEP_ROLLBACK:
		store_begin(st);
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
	st->ids = xcalloc(req->count ? req->count : 1, sizeof *st->ids);
	store_begin(st);
}
