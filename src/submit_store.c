/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Storing submissions: a group of one or more (of one phase) in one
 * transaction of two pipelined round trips whose statements carry every
 * entry at once, as arrays that unnest() turns back into rows, so the
 * number of statements does not grow with the number of entries.
 *
 * 1. Lookups, outside any transaction: every submit row, then one
 *    statement that reads each entry's timestamp and duration through
 *    PostgreSQL's parser, the row it links to, and every normalised row
 *    it links (NULL: missing).
 * 2. One implicit transaction, committed by the pipeline's sync: one
 *    statement takes every advisory lock in sorted order (so submissions
 *    never deadlock each other): one per result, keyed on its values, so
 *    an identical result racing in another transaction waits and then
 *    finds this one; one per missing row of a table without a unique
 *    index.  Missing rows are created, one statement per table (ON
 *    CONFLICT for tables with unique indexes, NOT EXISTS under the locks
 *    for the others), then one statement per "wave" of
 *    entries looks each result up among the stored ones on the fields
 *    that were sent and inserts only the new ones, so retries and
 *    duplicates take no sequence value.  Entries that could equal one
 *    another go to a later wave, which sees the earlier one's rows.
 *
 * When every row step 1 would read is known (row_cache), step 1 is
 * skipped, and step 2 begins by casting every timestamp and duration.
 * Should that one round trip fail, the group runs both steps.
 *
 * A group that fails for any reason but a lost connection is run again
 * one submission at a time, so each gets its own answer.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "row_cache.h"
#include "sql_array.h"
#include "strbuf.h"
#include "submit_store.h"
#include "timestamp_text.h"

/* Deadlocks and unique violations from racing writers are retried. */
#define STORE_MAX_ATTEMPTS 3

/*
 * The naming pass checks the entries' values this many at a time (two
 * statements each): every statement and its answer take a few KiB until
 * its round trip ends, so 190,000 entries at once took 1.9 GB.
 */
#define CAST_SLICE_ITEMS 1000

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
	ROLE_SUBMITS, /* Every submit row (one row per submission). */
	ROLE_ENTRIES, /* Every entry's values and linked rows. */
	ROLE_CAST,    /* One timestamp or interval (naming pass). */
	ROLE_CHECK,   /* Every timestamp and interval (one round trip). */
	ROLE_LOCK,
	ROLE_SUBMIT_MAKE,
	ROLE_NORM_MAKE,
	ROLE_RESULTS /* A wave of results: one row per entry. */
};

/* What a statement of the role does, for the log (a number named
 * nothing an operator could look up, break-it helper 63). */
static const char *
stmt_role_name(enum stmt_role role)
{
	switch (role) {
	case ROLE_SUBMITS:
		return "looking up submit rows";
	case ROLE_ENTRIES:
		return "looking up the entries' rows";
	case ROLE_CAST:
		return "checking one value";
	case ROLE_CHECK:
		return "checking timestamps and durations";
	case ROLE_LOCK:
		return "taking advisory locks";
	case ROLE_SUBMIT_MAKE:
		return "creating submit rows";
	case ROLE_NORM_MAKE:
		return "creating linked rows";
	case ROLE_RESULTS:
		return "storing results";
	}
	return "?";
}

/* Which round trip a batch is; says how to read its results. */
enum store_step {
	STEP_LOOKUP, /* Value checks and every lookup, no transaction. */
	STEP_CASTS,  /* Each value check alone, to name a refused one. */
	STEP_STORE   /* Locks, creations, results: committed by the sync. */
};

/* One statement being built: its role, the rows it covers, its SQL. */
struct stmt {
	enum stmt_role role;
	size_t first; /* First item (or submission) it is about. */
	size_t count; /* Rows it carries; 0: one entry's statement. */
	int field;    /* ROLE_CAST: the field checked. */
	/* ROLE_NORM_MAKE: the kind of row it creates (else NK__COUNT). */
	enum norm_kind kind;
	/* ROLE_RESULTS: the kinds of normalised row whose ids each answer
	 * row gives after the result's id (rows some item created). */
	int learn[NK__COUNT];
	int nlearn;
	struct sql_stmt q;
};

/* entry_state.learnt has a bit per kind. */
_Static_assert(NK__COUNT <= 32, "too many kinds of normalised row");

/* What one entry links to, learnt from the lookups. */
struct entry_state {
	char link[LINK_MAX][24];     /* The linked row's ids. */
	char norm_id[NK__COUNT][24]; /* "" while missing. */
	bool missing[NK__COUNT];
	unsigned learnt;    /* Missing kinds whose ids the store answered. */
	char timestamp[64]; /* start_timestamp as PostgreSQL reads it. */
	char duration[96];  /* duration likewise, if sent. */
};

/* One submission of the group and its outcome. */
struct store_sub {
	const struct submit_request *req;
	submit_store_done_cb cb;
	void *arg;
	char submit_id[24];	 /* "" while the submit row is missing. */
	char submit_id_text[24]; /* The client's metadata.submit_id. */
	/* The submit row's identity (its four columns) hashed: the
	 * metadata's, or the named row's own, read by the lookups. */
	uint64_t identity;
	/* A named row's four columns as read ("len:bytes" each), for the
	 * check of known rows; NULL for a row found by the metadata's. */
	char *named_row;
	long *ids;
	enum submit_outcome outcome;
	char *message;
};

/* One entry of one submission: what the statements carry a row of. */
struct store_item {
	size_t sub;
	size_t entry;
	struct entry_state es;
};

struct submit_store {
	struct db_conn *conn;
	enum submit_phase phase;
	struct store_sub *subs;
	size_t nsubs;
	/* The submissions being stored now: all of them, or (after the
	 * group failed) just subs[alone]. */
	size_t first_sub, end_sub;
	bool split;
	/* Every row was known (row_cache): one round trip, no lookups. */
	bool known_rows;
	bool lookups_only; /* The known rows failed once: look rows up. */
	int attempt;
	enum store_step step; /* Of the batch in flight. */

	struct store_item *items; /* Entries of the submissions now. */
	size_t nitems;

	/* Why the lookups failed, while the naming pass runs. */
	char *lookup_error;
	size_t casts_next; /* The naming pass's next item to check. */

	struct stmt **stmts; /* The batch in flight. */
	int nstmts;
	int cap;
};

static void store_begin(struct submit_store *st);
static void store_write(struct submit_store *st);

/* ---- statements ---- */

static struct stmt *
stmt_add(struct submit_store *st, enum stmt_role role, size_t first)
{
	struct stmt *s = xcalloc(1, sizeof *s);

	if (st->nstmts == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 16;
		st->stmts = xrealloc(st->stmts, st->cap * sizeof *st->stmts);
	}
	st->stmts[st->nstmts++] = s;
	s->role = role;
	s->first = first;
	s->field = -1;
	s->kind = NK__COUNT;
	sql_stmt_setup(&s->q);
	return s;
}

static int
stmt_params(struct stmt *s, const char *value)
{
	return sql_stmt_param(&s->q, value, strlen(value));
}

static void
store_clear_stmts(struct submit_store *st)
{
	int i;

	for (i = 0; i < st->nstmts; i++) {
		sql_stmt_shutdown(&st->stmts[i]->q);
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
		struct sql_stmt *q = &st->stmts[i]->q;

		db_batch_add_cached(
		    b, q->sql.data, q->n, q->values, q->lengths, q->formats);
	}
	db_conn_run(st->conn, b, store_batch_cb, st);
}

/* ---- the rows statements carry ---- */

/* The unnest() of a statement being built: columns e.c0, e.c1, ... */
struct set_cols {
	/* "(SELECT $1::text[]), (SELECT $2::text[]::boolean[])" */
	struct strbuf args;
	int n;
};

/*
 * Hand a finished array to s as column e.cN of its unnest(); returns N.
 * The array is read through a sub-select so that the planner cannot see
 * its length: every plan then estimates the same rows, so PostgreSQL
 * keeps one generic plan of the prepared statement instead of planning
 * each execution anew for the number of entries it carries.
 */
static int
set_col(
    struct stmt *s, struct set_cols *sc, struct sql_array *a, const char *type)
{
	bool text = strcmp(type, "text") == 0;

	strbuf_addf(&sc->args, "%s(SELECT $%d::text[]%s%s%s)",
	    sc->n ? ", " : "", sql_array_param(&s->q, a),
	    text ? "" : "::", text ? "" : type, text ? "" : "[]");
	return sc->n++;
}

/* " FROM unnest(...) WITH ORDINALITY AS ALIAS(c0, ..., ord)" */
static void
set_from_as(struct stmt *s, struct set_cols *sc, const char *alias)
{
	int i;

	strbuf_addf(&s->q.sql, " FROM unnest(%s) WITH ORDINALITY AS %s(",
	    sc->args.data ? sc->args.data : "", alias);
	for (i = 0; i < sc->n; i++)
		strbuf_addf(&s->q.sql, "c%d, ", i);
	strbuf_adds(&s->q.sql, "ord)");
	strbuf_shutdown(&sc->args);
}

static void
set_from(struct stmt *s, struct set_cols *sc)
{
	set_from_as(s, sc, "e");
}

/* ---- outcome ---- */

static void
sub_set_outcome(
    struct store_sub *sub, enum submit_outcome outcome, const char *message)
{
	free(sub->message);
	sub->message = xstrdup(message);
	sub->outcome = outcome;
}

static void
store_free(struct submit_store *st)
{
	size_t i;

	store_clear_stmts(st);
	free(st->stmts);
	free(st->lookup_error);
	free(st->items);
	for (i = 0; i < st->nsubs; i++) {
		free(st->subs[i].ids);
		free(st->subs[i].message);
		free(st->subs[i].named_row);
	}
	free(st->subs);
	free(st);
}

/*
 * Every submission has its outcome: tell each, in order, and free the
 * store.  The store no longer uses the connection when the first is told
 * (its callback may give the connection back).
 */
static void
store_finish(struct submit_store *st)
{
	size_t i;

	for (i = 0; i < st->nsubs; i++) {
		struct store_sub *sub = &st->subs[i];

		sub->cb(sub->arg, sub->outcome,
		    strtol(sub->submit_id, NULL, 10), sub->ids, sub->message);
	}
	store_free(st);
}

static void store_start(struct submit_store *st);

/* The submissions stored now are over: go on with the next alone, or
 * finish. */
static void
store_run_over(struct submit_store *st)
{
	if (st->split && st->end_sub < st->nsubs) {
		st->first_sub = st->end_sub;
		st->end_sub = st->first_sub + 1;
		store_start(st);
		return;
	}
	store_finish(st);
}

/*
 * The submissions stored now failed.  A group of several is run again
 * one by one, so that one bad submission costs the others nothing and
 * each gets its own answer; a lost connection ends every submission not
 * yet over.
 */
static void
store_fail(struct submit_store *st, enum submit_outcome outcome,
    const char *message, bool conn_lost)
{
	size_t i;

	if (!conn_lost && !st->split && st->end_sub - st->first_sub > 1) {
		log_info("submit: a group of %zu submissions failed (%s);"
			 " storing each alone",
		    st->end_sub - st->first_sub, message);
		st->split = true;
		st->first_sub = 0;
		st->end_sub = 1;
		store_start(st);
		return;
	}
	for (i = st->first_sub; i < st->end_sub; i++)
		sub_set_outcome(&st->subs[i], outcome, message);
	if (conn_lost) {
		/* Nothing of the later ones was sent. */
		for (i = st->end_sub; i < st->nsubs; i++)
			sub_set_outcome(
			    &st->subs[i], SUBMIT_DB_FAILED, message);
		st->end_sub = st->nsubs;
	}
	store_run_over(st);
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
	/* Cut short, a value's last character may be split: drop it. */
	buf[utf8_whole_prefix(buf, strlen(buf))] = '\0';
	store_fail(st, SUBMIT_REFUSED, buf, false);
}

static bool
sqlstate_is(const struct db_result *res, const char *state)
{
	return res->sqlstate != NULL && strcmp(res->sqlstate, state) == 0;
}

static bool
sqlstate_class_is(const struct db_result *res, const char *class)
{
	return res->sqlstate != NULL && strncmp(res->sqlstate, class, 2) == 0;
}

/* The field whose size can pass the B-tree limit of kind's index (-1:
 * none): the other columns of normalised rows are short (varchar) or
 * indexed by their md5(). */
static int
too_large_field(enum norm_kind kind)
{
	if (kind == NK_LATENCY)
		return SF_MESSAGE_SIZE;
	if (kind == NK_CONFIGURE)
		return SF_CONFIGURE_ARGUMENTS;
	return -1;
}

/* Values of this many bytes or fewer fit a B-tree entry with the other
 * columns of their index (2,704 bytes less headers), compressed or not. */
#define INDEX_SURE_FIT 2600

static const struct submit_entry *item_entry(
    const struct submit_store *st, const struct store_item *it);
static const struct submit_value *entry_value(
    const struct submit_entry *e, int field);

/* The bytes a value takes in its index, about: message_size is an
 * int4[], 4 bytes an element whatever its digits. */
static size_t
index_bytes(int field, const struct submit_value *v)
{
	size_t i, elements;

	if (field != SF_MESSAGE_SIZE || v->len <= 2)
		return v->len;
	for (i = 0, elements = 1; i < v->len; i++)
		elements += v->text[i] == ',';
	return 4 * elements;
}

/* An entry whose value may be too large for its index, and its size. */
struct too_large {
	size_t bytes;
	size_t entry;
};

static int
cmp_too_large(const void *a, const void *b)
{
	const struct too_large *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1; /* Largest first. */
	return (x->entry > y->entry) - (x->entry < y->entry);
}

/*
 * Where a value of field too large for its index is, when one statement
 * made the rows of several entries: the entries whose value is over
 * INDEX_SURE_FIT bytes, largest first ("data[4] or data[1]"), one of
 * which PostgreSQL refused; else where is left as it is.
 */
static void
too_large_where(
    const struct submit_store *st, int field, char *where, size_t size)
{
	struct too_large *found = xcalloc(
	    st->nitems ? st->nitems : 1, sizeof *found);
	struct strbuf text;
	size_t i, n = 0, bytes;

	for (i = 0; i < st->nitems; i++) {
		const struct store_item *it = &st->items[i];

		bytes = index_bytes(
		    field, entry_value(item_entry(st, it), field));
		if (bytes > INDEX_SURE_FIT)
			found[n++] = (struct too_large){ bytes, it->entry };
	}
	if (n > 1)
		qsort(found, n, sizeof *found, cmp_too_large);
	strbuf_setup(&text);
	for (i = 0; i < n && i < 5; i++)
		strbuf_addf(
		    &text, "%sdata[%zu]", i ? " or " : "", found[i].entry);
	if (n > 5)
		strbuf_adds(&text, " or more");
	if (n > 0)
		snprintf(where, size, "%s", text.data);
	strbuf_shutdown(&text);
	free(found);
}

/*
 * PostgreSQL's "program limit exceeded" (an index entry over the 2,704
 * bytes a B-tree page allows, say): a client's value that no retry can
 * store, so a refusal (status -1), not a "try again later".
 */
static void
store_refuse_too_large(struct submit_store *st, const struct stmt *s,
    char *where, size_t size, const char *why)
{
	int field = s->role == ROLE_NORM_MAKE ? too_large_field(s->kind) : -1;

	log_debug("submit: statement (%s) over a database limit: %s",
	    stmt_role_name(s->role), why);
	if (field < 0) {
		store_refuse(st,
		    "%s: a value is too large for the database: %s", where,
		    why);
		return;
	}
	if (s->count > 0)
		too_large_where(st, field, where, size);
	store_refuse(st,
	    "%s: field '%s' is too large for the database's index: %s", where,
	    submit_field_name(field), why);
}

/* A racing writer got in the way: start over. */
static bool
store_should_retry(struct submit_store *st, const struct db_result *res)
{
	return !res->conn_lost && st->attempt < STORE_MAX_ATTEMPTS &&
	    (sqlstate_is(res, "40P01") || sqlstate_is(res, "40001") ||
		sqlstate_is(res, "23505"));
}

static void store_check_casts(
    struct submit_store *st, const struct db_result *res);

/* What a statement is about, for messages: "data[i]" for one entry's
 * statement, "data" for one that carries many. */
static void
stmt_where(
    const struct submit_store *st, const struct stmt *s, char *out, size_t size)
{
	if (s->role == ROLE_CAST ||
	    (s->role == ROLE_NORM_MAKE && s->count == 0))
		snprintf(out, size, "data[%zu]", st->items[s->first].entry);
	else
		snprintf(out, size, "data");
}

/*
 * The one round trip of known rows failed: a value PostgreSQL refused, a
 * race, or a known row an operator deleted or edited (the check divides
 * by zero, or, deleted since the check, a foreign key fails).  Nothing
 * was stored; the lookups find out which, and name a bad value.
 */
static void
store_look_rows_up(
    struct submit_store *st, const struct db_result *res, const char *why)
{
	log_debug("submit: one round trip failed, looking rows up: %s [%s]",
	    why, res->sqlstate ? res->sqlstate : "-");
	if (sqlstate_is(res, "22012") || sqlstate_is(res, "23503"))
		row_cache_clear(); /* A known row is gone or changed. */
	st->lookups_only = true;
	st->attempt = 0;
	store_begin(st);
}

/* The naming pass found the value PostgreSQL refused: the entry's, or
 * the metadata's (which every entry carries: the first one fails). */
static void
store_refuse_cast(
    struct submit_store *st, const struct stmt *s, const char *why)
{
	const struct store_item *it = &st->items[s->first];

	if (item_entry(st, it)->from_metadata & UINT64_C(1) << s->field)
		store_refuse(st, "metadata: field '%s' is not valid: %s",
		    submit_field_name(s->field), why);
	else
		store_refuse(st, "data[%zu]: field '%s' is not valid: %s",
		    it->entry, submit_field_name(s->field), why);
}

/* A statement failed: name what it was about. */
static void
store_failed(struct submit_store *st, const struct db_result *res)
{
	const struct stmt *s = st->stmts[res->failed];
	const char *why = res->error ? res->error : "unknown error";
	bool refused_value = sqlstate_class_is(res, "22") ||
	    sqlstate_class_is(res, "23");
	char where[160];

	if (res->conn_lost) {
		/* The sync that commits the store step was on its way: the
		 * server may have committed and died before its answer came
		 * (a fast shutdown does). */
		store_fail(st,
		    st->step == STEP_STORE ? SUBMIT_DB_UNKNOWN :
					     SUBMIT_DB_FAILED,
		    why, true);
		return;
	}
	if (st->known_rows) {
		store_look_rows_up(st, res, why);
		return;
	}
	if (store_should_retry(st, res)) {
		log_info("submit: retrying after a conflict with another"
			 " writer (attempt %d)",
		    st->attempt + 1);
		store_begin(st);
		return;
	}
	/* Only a value's own error names it: a cancel or a timeout of the
	 * check is the database's failure, below. */
	if (s->role == ROLE_CAST && sqlstate_class_is(res, "22")) {
		store_refuse_cast(st, s, why);
		return;
	}
	if (s->role == ROLE_ENTRIES && refused_value &&
	    st->end_sub - st->first_sub == 1) {
		/* One statement checks every value: find out which one
		 * PostgreSQL refused. */
		store_check_casts(st, res);
		return;
	}
	stmt_where(st, s, where, sizeof where);
	if (sqlstate_class_is(res, "54")) {
		store_refuse_too_large(st, s, where, sizeof where, why);
		return;
	}
	if (refused_value) {
		/* A client's value: the refusal is logged as a warning by
		 * the handler (or the group is stored again one by one). */
		log_debug("submit: statement %d (%s) refused a value: %s"
			  " [%s]",
		    res->failed, stmt_role_name(s->role), why, res->sqlstate);
		store_refuse(
		    st, "%s: the database refused a value: %s", where, why);
		return;
	}
	log_error("submit: statement %d (%s) failed: %s [%s]", res->failed,
	    stmt_role_name(s->role), why, res->sqlstate ? res->sqlstate : "-");
	store_fail(st, SUBMIT_DB_FAILED, why, false);
}

/* ---- value helpers ---- */

static const struct submit_entry *
item_entry(const struct submit_store *st, const struct store_item *it)
{
	return &st->subs[it->sub].req->entries[it->entry];
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
link_key(enum submit_phase phase)
{
	return phase == SUBMIT_PHASE_BUILD ? "mpi_install_id" : "test_build_id";
}

/* The id of the row a build or run links to ("0": the placeholder). */
static const char *
link_id(enum submit_phase phase, const struct submit_entry *e)
{
	int f = phase == SUBMIT_PHASE_BUILD ? SF_MPI_INSTALL_ID :
					      SF_TEST_BUILD_ID;

	return sent(e, f) ? e->v[f].text : "0";
}

/* The result column that narrows the duplicate check (with submit_id
 * and start_timestamp: the mttd_*_dedup indexes). */
static const char *
phase_key_column(enum submit_phase phase)
{
	if (phase == SUBMIT_PHASE_INSTALL)
		return "mpi_get_id";
	return phase == SUBMIT_PHASE_BUILD ? "test_suite_id" : "test_name_id";
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

/* The columns a kind is found by (a performance row: its
 * latency_bandwidth row's). */
static const struct norm_def *
norm_lookup_def(enum norm_kind k)
{
	return &norms[k == NK_PERFORMANCE ? NK_LATENCY : k];
}

/* SQL expressions of a row's column values ("$3", "e.c7", ...). */
typedef char norm_vals[8][24];

/* "col = VALUE::cast" (or its md5 form) for each column, ANDed. */
static void
norm_conditions(struct strbuf *sql, const struct norm_def *def, norm_vals vals,
    const char *alias)
{
	int i;

	for (i = 0; i < def->ncols; i++) {
		const struct norm_col *c = &def->cols[i];

		if (i > 0)
			strbuf_adds(sql, " AND ");
		if (c->md5)
			strbuf_addf(sql, "md5(%s%s) = md5(%s::text) AND ",
			    alias, c->column, vals[i]);
		strbuf_addf(
		    sql, "%s%s = %s%s", alias, c->column, vals[i], c->cast);
	}
}

/*
 * "(SELECT id FROM table WHERE ...)": the row of kind k with vals.  A
 * table with a unique index holds one such row at most.  Others may hold
 * several (a reference server's database does): the lowest id is taken,
 * as min(id + 0), because the planner turns min(id) or ORDER BY id
 * LIMIT 1 into a walk of the primary key in order, which a generic plan
 * may prefer and which reads the whole table when no row matches.
 */
static void
norm_lookup_sql(struct strbuf *out, enum norm_kind k, norm_vals vals)
{
	const struct norm_def *def = norm_lookup_def(k);

	if (k == NK_PERFORMANCE) {
		strbuf_adds(out,
		    "(SELECT min(p.performance_id + 0) FROM performance"
		    " p JOIN latency_bandwidth l ON l.latency_bandwidth_id ="
		    " p.latency_bandwidth_id WHERE ");
		norm_conditions(out, def, vals, "l.");
		strbuf_adds(out, ")");
		return;
	}
	if (norm_has_unique_index(k))
		strbuf_addf(
		    out, "(SELECT %s FROM %s WHERE ", def->id, def->table);
	else
		strbuf_addf(out, "(SELECT min(%s + 0) FROM %s WHERE ", def->id,
		    def->table);
	norm_conditions(out, def, vals, "");
	strbuf_adds(out, ")");
}

/*
 * The column values of kind k for items [first, first + n) as arrays of
 * s, named in vals.  In the lookup step the linked suite is not known
 * yet: it is read from the joined build (l.test_suite_id).
 */
/*
 * One normalised column's value for n items as column N of s's unnest();
 * returns N.  The items are which[0..n), or first..first+n when which is
 * NULL.
 */
static int
norm_col_array(struct submit_store *st, struct stmt *s, struct set_cols *sc,
    const struct norm_col *col, const size_t *which, size_t first, size_t n)
{
	struct sql_array a;
	const char *v;
	size_t len, i;

	sql_array_setup(&a);
	for (i = 0; i < n; i++) {
		const struct store_item *it =
		    &st->items[which ? which[i] : first + i];

		v = norm_col_value(&it->es, item_entry(st, it), col, &len);
		sql_array_add(&a, v, len);
	}
	return set_col(s, sc, &a, "text");
}

static void
norm_value_cols(struct submit_store *st, struct stmt *s, struct set_cols *sc,
    enum norm_kind k, size_t first, size_t n, bool lookup_step, norm_vals vals)
{
	const struct norm_def *def = norm_lookup_def(k);
	int c;

	for (c = 0; c < def->ncols; c++) {
		if (def->cols[c].field == NV_LINK_SUITE && lookup_step)
			snprintf(vals[c], sizeof vals[c], "l.test_suite_id");
		else
			snprintf(vals[c], sizeof vals[c], "e.c%d",
			    norm_col_array(
				st, s, sc, &def->cols[c], NULL, first, n));
	}
}

/*
 * Hash a list of numbers ("{1,2.50,-0}") by the values PostgreSQL reads,
 * not their spelling: "1", "1.0" and "1e0" are one row of the database,
 * so they must take one advisory lock (and be made once).
 */
static uint64_t
hash_number_list(uint64_t h, const char *v, size_t len)
{
	size_t i = 0, n;
	double d;

	while (i < len) {
		n = strcspn(v + i, "{},");
		if (n > 0) {
			d = strtod(v + i, NULL); /* Stops at the ',' or '}'. */
			if (d == 0)
				d = 0; /* -0 is 0. */
			h = hash_fnv1a(h, &d, sizeof d);
		}
		h = hash_fnv1a(h, ",", 1);
		i += n + 1;
	}
	return h;
}

/* A hash of a normalised row's table and values. */
static uint64_t
norm_hash(
    const struct store_item *it, const struct submit_entry *e, enum norm_kind k)
{
	const struct norm_def *def = norm_lookup_def(k);
	uint64_t h = hash_fnv1a(
	    HASH_FNV1A_SEED, norms[k].table, strlen(norms[k].table) + 1);
	const char *v;
	size_t len;
	int i;

	for (i = 0; i < def->ncols; i++) {
		v = norm_col_value(&it->es, e, &def->cols[i], &len);
		if (strstr(def->cols[i].cast, "[]") != NULL)
			h = hash_number_list(h, v, len);
		else
			h = hash_fnv1a(h, v, len);
		h = hash_fnv1a(h, "\x1f", 1);
	}
	return h;
}

/* ---- creating normalised rows ---- */

/* A normalised row to create: which item's values, and its key. */
struct norm_make {
	uint64_t hash;
	size_t item;
	enum norm_kind kind;
};

/* Is m[i] the same row as m[i - 1] (sorted by table, then hash)? */
static bool
make_is_repeat(const struct norm_make *m, size_t i)
{
	return i > 0 && m[i].kind == m[i - 1].kind &&
	    m[i].hash == m[i - 1].hash;
}

/*
 * Rows of one table that were not looked up (one round trip) may exist:
 * inserting only those that do not spares the sequence a value for each
 * (ON CONFLICT takes one before it finds the conflict).
 */
static void
add_unless_stored(struct stmt *s, const struct norm_def *def, const int *col)
{
	int c;

	strbuf_addf(&s->q.sql, " WHERE NOT EXISTS (SELECT 1 FROM %s t WHERE ",
	    def->table);
	for (c = 0; c < def->ncols; c++)
		strbuf_addf(&s->q.sql, "%st.%s = e.c%d%s", c ? " AND " : "",
		    def->cols[c].column, col[c], def->cols[c].cast);
	strbuf_adds(&s->q.sql, ")");
}

/* The items whose rows of kind k are to be made, each row once, in hash
 * order; their count in *count.  The caller frees them. */
static size_t *
make_rows(const struct norm_make *m, size_t n, enum norm_kind k, size_t *count)
{
	size_t *rows = xcalloc(n ? n : 1, sizeof *rows), i;

	*count = 0;
	for (i = 0; i < n; i++) {
		if (m[i].kind == k && !make_is_repeat(m, i))
			rows[(*count)++] = m[i].item;
	}
	return rows;
}

/* The columns of def for items rows[0..count) as s's unnest() columns,
 * named in vals ("e.cN"). */
static void
make_value_cols(struct submit_store *st, struct stmt *s, struct set_cols *sc,
    const struct norm_def *def, const size_t *rows, size_t count,
    norm_vals vals)
{
	int c;

	for (c = 0; c < def->ncols; c++)
		snprintf(vals[c], sizeof vals[c], "e.c%d",
		    norm_col_array(st, s, sc, &def->cols[c], rows, 0, count));
}

/*
 * Create the rows of one table with a unique index, each once, in hash
 * order, in one statement: a racing insert of the same row waits for the
 * other transaction and then does nothing, and since every transaction
 * inserts in (table, hash) order such waits cannot form a cycle.
 */
static void
add_unique_makes(
    struct submit_store *st, enum norm_kind k, const size_t *rows, size_t count)
{
	const struct norm_def *def = &norms[k];
	struct stmt *s = stmt_add(st, ROLE_NORM_MAKE, 0);
	struct set_cols sc = { { NULL, 0, 0 }, 0 };
	int c, col[7];

	s->kind = k;
	s->count = count;
	strbuf_addf(&s->q.sql, "INSERT INTO %s (", def->table);
	for (c = 0; c < def->ncols; c++)
		strbuf_addf(
		    &s->q.sql, "%s%s", c ? ", " : "", def->cols[c].column);
	strbuf_adds(&s->q.sql, ") SELECT ");
	for (c = 0; c < def->ncols; c++) {
		col[c] = norm_col_array(
		    st, s, &sc, &def->cols[c], rows, 0, count);
		strbuf_addf(&s->q.sql, "%se.c%d%s", c ? ", " : "", col[c],
		    def->cols[c].cast);
	}
	set_from(s, &sc);
	if (st->known_rows)
		add_unless_stored(s, def, col);
	strbuf_adds(&s->q.sql, " ORDER BY e.ord ON CONFLICT DO NOTHING");
}

/*
 * Create the rows of a table without a unique index in one statement,
 * each once (rows is free of repeats: norm_hash reads number lists as
 * PostgreSQL does) and only where no row has its values.  It runs under
 * the advisory locks of those values (add_locks), so it sees the row of
 * a racing writer that committed first.  One statement per row, as
 * before, held an answer of some KiB each until the commit.
 */
static void
add_locked_makes(
    struct submit_store *st, enum norm_kind k, const size_t *rows, size_t count)
{
	const struct norm_def *def = &norms[k];
	struct stmt *s = stmt_add(st, ROLE_NORM_MAKE, 0);
	struct set_cols sc = { { NULL, 0, 0 }, 0 };
	norm_vals vals;
	int c;

	s->kind = k;
	s->count = count;
	make_value_cols(st, s, &sc, def, rows, count, vals);
	strbuf_addf(&s->q.sql, "INSERT INTO %s (", def->table);
	for (c = 0; c < def->ncols; c++)
		strbuf_addf(
		    &s->q.sql, "%s%s", c ? ", " : "", def->cols[c].column);
	strbuf_adds(&s->q.sql, ") SELECT ");
	for (c = 0; c < def->ncols; c++)
		strbuf_addf(&s->q.sql, "%s%s%s", c ? ", " : "", vals[c],
		    def->cols[c].cast);
	set_from(s, &sc);
	strbuf_addf(&s->q.sql, " WHERE NOT EXISTS (SELECT 1 FROM %s WHERE ",
	    def->table);
	norm_conditions(&s->q.sql, def, vals, "");
	strbuf_adds(&s->q.sql, ") ORDER BY e.ord");
}

/*
 * Performance rows: their latency_bandwidth rows first, then one
 * performance row for each latency row (the lowest id of its values, as
 * the lookups take it) that none points at yet.
 */
static void
add_performance_makes(struct submit_store *st, const size_t *rows, size_t count)
{
	const struct norm_def *lat = &norms[NK_LATENCY];
	struct set_cols sc = { { NULL, 0, 0 }, 0 };
	struct stmt *s;
	norm_vals vals;

	add_locked_makes(st, NK_LATENCY, rows, count);
	s = stmt_add(st, ROLE_NORM_MAKE, 0);
	s->kind = NK_PERFORMANCE;
	s->count = count;
	make_value_cols(st, s, &sc, lat, rows, count, vals);
	strbuf_adds(&s->q.sql,
	    "INSERT INTO performance (latency_bandwidth_id) SELECT DISTINCT"
	    " x.id FROM (SELECT (SELECT min(latency_bandwidth_id + 0) FROM"
	    " latency_bandwidth WHERE ");
	norm_conditions(&s->q.sql, lat, vals, "");
	strbuf_adds(&s->q.sql, ") AS id");
	set_from(s, &sc);
	strbuf_adds(&s->q.sql,
	    ") x WHERE NOT EXISTS (SELECT 1 FROM performance p WHERE"
	    " p.latency_bandwidth_id = x.id)");
}

static int
cmp_norm_make(const void *a, const void *b)
{
	const struct norm_make *x = a, *y = b;

	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return (x->hash > y->hash) - (x->hash < y->hash);
}

/* The normalised rows to create, sorted by (table, hash). */
static struct norm_make *
store_plan_makes(struct submit_store *st, size_t *count)
{
	const struct phase_link *l;
	struct norm_make *m = NULL;
	size_t i, n = 0, cap = 0;

	for (i = 0; i < st->nitems; i++) {
		const struct store_item *it = &st->items[i];

		for (l = phase_links(st->phase); l->kind != NK__COUNT; l++) {
			if (!it->es.missing[l->kind])
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				m = xrealloc(m, cap * sizeof *m);
			}
			m[n++] = (struct norm_make){
				norm_hash(it, item_entry(st, it), l->kind), i,
				l->kind
			};
		}
	}
	if (n > 1) /* qsort of NULL, even of 0 items, is undefined. */
		qsort(m, n, sizeof *m, cmp_norm_make);
	*count = n;
	return m;
}

/* Every missing normalised row, each once: a statement per table. */
static void
add_norm_makes(struct submit_store *st, const struct norm_make *m, size_t n)
{
	size_t i, count, *rows;
	enum norm_kind k;

	for (i = 0; i < n; i++) {
		if (i > 0 && m[i].kind == m[i - 1].kind)
			continue; /* Sorted by kind: each kind once. */
		k = m[i].kind;
		rows = make_rows(m, n, k, &count);
		if (norm_has_unique_index(k))
			add_unique_makes(st, k, rows, count);
		else if (k == NK_PERFORMANCE)
			add_performance_makes(st, rows, count);
		else
			add_locked_makes(st, k, rows, count);
		free(rows);
	}
}

/* ---- locks ---- */

/* A set of advisory lock keys, taken in one statement, sorted. */
struct lock_key {
	int64_t key;
	bool shared;
};

struct lock_set {
	struct lock_key *keys;
	size_t count;
	size_t cap;
};

/*
 * Keys of normalised and submit rows are folded into LOCK_BUCKETS per
 * space so that one submission takes a bounded number of locks
 * (PostgreSQL's lock table is shared); two values in one bucket only
 * wait for each other.  Such rows are seldom new, so the waits are rare.
 */
#define LOCK_BUCKETS 256

/*
 * Results are locked one by one in far more buckets, so that concurrent
 * submissions of one client seldom wait for each other, while a
 * transaction has at most RESULT_LOCKS_MAX results; past that it locks
 * the whole space (the client's submit identity and the phase) instead.
 * Transactions with per-result locks hold their spaces shared, so the
 * two kinds exclude each other where they must.
 */
#define RESULT_BUCKETS (1u << 20)
#define RESULT_LOCKS_MAX 128

static void
lock_set_add_key(struct lock_set *ls, int64_t key, bool shared)
{
	if (ls->count == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 16;
		ls->keys = xrealloc(ls->keys, ls->cap * sizeof *ls->keys);
	}
	ls->keys[ls->count++] = (struct lock_key){ key, shared };
}

/* The lock of value_hash folded into buckets, in a space. */
static void
lock_set_add(struct lock_set *ls, const char *space, uint64_t space_hash,
    uint64_t value_hash, uint64_t buckets)
{
	uint64_t bucket = value_hash % buckets;
	uint64_t h = hash_fnv1a(space_hash, space, strlen(space) + 1);

	lock_set_add_key(
	    ls, (int64_t)hash_fnv1a(h, &bucket, sizeof bucket), false);
}

/* The lock of a whole space. */
static void
lock_set_add_space(
    struct lock_set *ls, const char *space, uint64_t space_hash, bool shared)
{
	lock_set_add_key(ls,
	    (int64_t)hash_fnv1a(space_hash, space, strlen(space) + 1), shared);
}

static int
cmp_lock_key(const void *a, const void *b)
{
	const struct lock_key *x = a, *y = b;

	return (x->key > y->key) - (x->key < y->key);
}

/*
 * The keys and whether each is shared, as a bigint[] and a boolean[]
 * literal, sorted and without repeats (exclusive wins a repeat).
 */
static void
lock_set_arrays(
    struct lock_set *ls, struct sql_array *keys, struct sql_array *shared)
{
	char num[24];
	size_t i, j;

	if (ls->count > 1)
		qsort(ls->keys, ls->count, sizeof *ls->keys, cmp_lock_key);
	for (i = 0; i < ls->count; i = j) {
		bool sh = true;

		for (j = i; j < ls->count && ls->keys[j].key == ls->keys[i].key;
		     j++)
			sh = sh && ls->keys[j].shared;
		snprintf(num, sizeof num, "%" PRId64, ls->keys[i].key);
		sql_array_add(keys, num, strlen(num));
		sql_array_add_bool(shared, sh);
	}
}

/* A submit row's identity: the four columns it is found by. */
static uint64_t
identity_hash(const char *const parts[4])
{
	uint64_t h = HASH_FNV1A_SEED;
	size_t i;

	for (i = 0; i < 4; i++)
		h = hash_fnv1a(h, parts[i], strlen(parts[i]) + 1);
	return h;
}

/* The identity a submission's metadata gives. */
static uint64_t
submit_identity_hash(const struct submit_request *r)
{
	const char *parts[] = { r->hostname, r->local_username,
		r->http_username, r->mtt_client_version };

	return identity_hash(parts);
}

/* Do two submissions name the same submit row by its identity? */
static bool
same_identity(const struct submit_request *a, const struct submit_request *b)
{
	return strcmp(a->hostname, b->hostname) == 0 &&
	    strcmp(a->local_username, b->local_username) == 0 &&
	    strcmp(a->http_username, b->http_username) == 0 &&
	    strcmp(a->mtt_client_version, b->mtt_client_version) == 0;
}

/* Add field f's value (or absent, the value stored without it). */
static uint64_t
result_hash_field(
    uint64_t h, const struct submit_entry *e, int f, const char *absent)
{
	const char *v = e->v[f].text;

	h = hash_fnv1a(h, &f, sizeof f);
	if (v != NULL)
		return hash_fnv1a(h, v, e->v[f].len);
	return absent != NULL ? hash_fnv1a(h, absent, strlen(absent)) : h;
}

/*
 * A hash of what a result's row holds, as stored: the fields every entry
 * of the phase has, and the scalar columns stored with a default when
 * absent (exit_signal, merge_stdout_stderr, the outputs), converted
 * (integers and flags in one spelling), the default standing in for an
 * absent one.  Left out: the start timestamp and the duration, whose
 * spellings may differ for one value and which a submission stored in
 * one round trip has not had read by PostgreSQL before it locks, and
 * the linked rows (number lists, links: several spellings each).  So
 * equal results always meet on one lock; results that differ only in
 * those merely wait for each other.
 */
static uint64_t
result_hash(enum submit_phase phase, const struct submit_entry *e)
{
	uint64_t h = HASH_FNV1A_SEED;
	const struct scalar_col *sc;
	int f;

	for (f = 0; f < SF__COUNT; f++)
		if (f != SF_START_TIMESTAMP && submit_field_required(f, phase))
			h = result_hash_field(h, e, f, NULL);
	for (sc = scalar_cols; sc->column != NULL; sc++)
		if (sc->absent != NULL && sc->field != SF_DURATION)
			h = result_hash_field(h, e, sc->field, sc->absent);
	return h;
}

/*
 * The lock space of a submission's results: its submit row's identity
 * (not its metadata's, which a submission naming a submit_id may spell
 * otherwise), so that every submission storing into one submit row meets
 * every other, whether it found the row, named it or creates it.
 */
static uint64_t
result_space(const struct submit_store *st, const struct store_sub *sub)
{
	const char *table = submit_phase_table(st->phase);

	return hash_fnv1a(sub->identity, table, strlen(table));
}

/* The results' locks: one per result, or per space past the limit. */
static void
add_result_locks(struct submit_store *st, struct lock_set *ls)
{
	bool each = st->nitems <= RESULT_LOCKS_MAX;
	size_t i;

	for (i = 0; i < st->nitems; i++) {
		const struct store_item *it = &st->items[i];
		uint64_t space = result_space(st, &st->subs[it->sub]);

		lock_set_add_space(ls, "results", space, each);
		if (each)
			lock_set_add(ls, "result", space,
			    result_hash(st->phase, item_entry(st, it)),
			    RESULT_BUCKETS);
	}
}

/* Every advisory lock the store step needs, in one statement, in key
 * order, so that transactions never wait for each other in a cycle. */
static void
add_locks(struct submit_store *st, const struct norm_make *m, size_t n)
{
	struct lock_set ls = { NULL, 0, 0 };
	struct sql_array keys, shared;
	struct stmt *s;
	size_t i;

	add_result_locks(st, &ls);
	for (i = st->first_sub; i < st->end_sub; i++) {
		if (st->subs[i].submit_id[0] == '\0')
			lock_set_add(&ls, "submit", HASH_FNV1A_SEED,
			    submit_identity_hash(st->subs[i].req),
			    LOCK_BUCKETS);
	}
	for (i = 0; i < n; i++) {
		if (!norm_has_unique_index(m[i].kind))
			lock_set_add(&ls, "norm", HASH_FNV1A_SEED, m[i].hash,
			    LOCK_BUCKETS);
	}
	if (ls.count > 0) {
		s = stmt_add(st, ROLE_LOCK, 0);
		sql_array_setup(&keys);
		sql_array_setup(&shared);
		lock_set_arrays(&ls, &keys, &shared);
		strbuf_addf(&s->q.sql,
		    "SELECT CASE WHEN u.s THEN pg_advisory_xact_lock_shared(u.k)"
		    " ELSE pg_advisory_xact_lock(u.k) END FROM"
		    " unnest($%d::text[]::bigint[], $%d::text[]::boolean[]) AS u(k, s)",
		    sql_array_param(&s->q, &keys),
		    sql_array_param(&s->q, &shared));
	}
	free(ls.keys);
}

/* ---- the submit rows ---- */

/* "(SELECT submit_id ...)" by the identity in columns e.cH.. e.cH+3. */
static void
submit_find_by_identity_sql(struct strbuf *out, int h)
{
	strbuf_addf(out,
	    "(SELECT min(submit_id + 0) FROM submit WHERE hostname = e.c%d"
	    " AND local_username = e.c%d AND http_username = e.c%d AND"
	    " mtt_client_version = e.c%d)",
	    h, h + 1, h + 2, h + 3);
}

/* The identity columns of items [first, first + n) (or of the
 * submissions now, when items is false); returns the first's number. */
static int
identity_cols(struct submit_store *st, struct stmt *s, struct set_cols *sc,
    size_t first, size_t n, bool items)
{
	struct sql_array a;
	size_t i;
	int part, col = 0;

	for (part = 0; part < 4; part++) {
		sql_array_setup(&a);
		for (i = first; i < first + n; i++) {
			const struct submit_request *r = items ?
			    st->subs[st->items[i].sub].req :
			    st->subs[i].req;
			const char *v[] = { r->hostname, r->local_username,
				r->http_username, r->mtt_client_version };

			sql_array_add(&a, v[part], strlen(v[part]));
		}
		col = set_col(s, sc, &a, "text");
	}
	return col - 3;
}

/*
 * Every submit row of the submissions now, one row each: the one the
 * client named when it is the user's own (http_username is always the
 * authenticated user's name), else the one found by the identity.
 */
static void
add_submits_lookup(struct submit_store *st)
{
	struct stmt *s = stmt_add(st, ROLE_SUBMITS, st->first_sub);
	struct set_cols sc = { { NULL, 0, 0 }, 0 };
	size_t n = st->end_sub - st->first_sub;
	struct sql_array a;
	size_t i;
	int h, id;

	sql_array_setup(&a);
	for (i = st->first_sub; i < st->end_sub; i++)
		sql_array_add(&a, st->subs[i].submit_id_text,
		    strlen(st->subs[i].submit_id_text));
	id = set_col(s, &sc, &a, "text");
	h = identity_cols(st, s, &sc, st->first_sub, n, false);
	strbuf_addf(&s->q.sql,
	    "SELECT CASE WHEN e.c%d::integer > 0 THEN n.submit_id ELSE ", id);
	submit_find_by_identity_sql(&s->q.sql, h);
	/* A named row's identity: its results' lock space (result_space). */
	strbuf_adds(&s->q.sql,
	    " END, n.hostname, n.local_username, n.http_username,"
	    " n.mtt_client_version");
	set_from(s, &sc);
	strbuf_addf(&s->q.sql,
	    " LEFT JOIN LATERAL (SELECT * FROM submit WHERE e.c%d::integer > 0"
	    " AND submit_id = e.c%d::integer AND http_username = e.c%d) AS n"
	    " ON true ORDER BY e.ord",
	    id, id, h + 2);
}

/* Find-or-insert of a submit row, under the lock of its identity. */
static void
add_submit_make(struct submit_store *st, size_t sub)
{
	const struct submit_request *r = st->subs[sub].req;
	struct stmt *s = stmt_add(st, ROLE_SUBMIT_MAKE, sub);

	strbuf_adds(&s->q.sql,
	    "WITH f AS (SELECT submit_id AS id FROM submit"
	    " WHERE hostname = $1::text AND local_username = $2::text AND"
	    " http_username = $3::text AND mtt_client_version = $4::text"
	    " ORDER BY submit_id + 0 LIMIT 1), i AS (INSERT INTO submit (hostname,"
	    " local_username, http_username, mtt_client_version) SELECT $1,"
	    " $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM f) RETURNING"
	    " submit_id AS id) SELECT id FROM f UNION ALL SELECT id FROM i");
	stmt_params(s, r->hostname);
	stmt_params(s, r->local_username);
	stmt_params(s, r->http_username);
	stmt_params(s, r->mtt_client_version);
}

/* Each missing submit row once. */
static void
add_submit_makes(struct submit_store *st)
{
	size_t i, j;

	for (i = st->first_sub; i < st->end_sub; i++) {
		if (st->subs[i].submit_id[0] != '\0')
			continue;
		for (j = st->first_sub; j < i; j++) {
			if (st->subs[j].submit_id[0] == '\0' &&
			    same_identity(st->subs[i].req, st->subs[j].req))
				break;
		}
		if (j == i)
			add_submit_make(st, i);
	}
}

/* ---- results ---- */

/* How a result column's value is had. */
#define LOOKUP_NONE (-1)	/* A parameter. */
#define LOOKUP_SUBMIT NK__COUNT /* The submit row created this step. */
/* Else the norm_kind of a row created this step, found by its values. */

/* Columns of a result row: submit, copies, link, links, np, command,
 * scalars. */
#define RESULT_COLS_MAX 40

struct result_col {
	const char *column;
	const char *value;
	size_t len;
	const char *cast;
	bool compare;
	int lookup;
};

static int
result_cols_links(const struct submit_store *st, const struct store_item *it,
    struct result_col *cols, int n)
{
	const struct submit_entry *e = item_entry(st, it);
	const struct entry_state *es = &it->es;
	const char *const *copies = phase_copies(st->phase);
	const struct phase_link *l;
	const char *link = link_id(st->phase, e);
	int j;

	for (j = 0; copies != NULL && copies[j] != NULL; j++)
		cols[n++] = (struct result_col){ copies[j], es->link[j],
			strlen(es->link[j]), "::integer", false, LOOKUP_NONE };
	if (copies != NULL)
		cols[n++] = (struct result_col){ link_key(st->phase), link,
			strlen(link), "::integer", true, LOOKUP_NONE };
	for (l = phase_links(st->phase); l->kind != NK__COUNT; l++)
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

/* Every column of an item's result row, with the ones compared.  The
 * columns are the same, in the same order, for every item of a phase. */
static int
result_cols(const struct submit_store *st, const struct store_item *it,
    struct result_col *cols)
{
	const struct store_sub *sub = &st->subs[it->sub];
	const struct submit_entry *e = item_entry(st, it);
	int n = 0;

	cols[n++] = (struct result_col){ "submit_id", sub->submit_id,
		strlen(sub->submit_id), "::integer", true,
		sub->submit_id[0] == '\0' ? LOOKUP_SUBMIT : LOOKUP_NONE };
	n = result_cols_links(st, it, cols, n);
	if (st->phase == SUBMIT_PHASE_RUN) {
		const struct submit_value *np = entry_value(e, SF_NP);
		const struct submit_value *cmd = entry_value(e, SF_COMMAND);

		cols[n++] = (struct result_col){ "np", np->text, np->len,
			"::smallint", true, LOOKUP_NONE };
		cols[n++] = (struct result_col){ "full_command", cmd->text,
			cmd->len, "::text", true, LOOKUP_NONE };
	}
	return result_cols_scalars(e, cols, n);
}

/*
 * Whether a wave answers the ids of the rows of lookup kind k that its
 * items created or found by their values, for the known rows: every
 * normalised kind but the performance rows, made anew for each entry
 * (and their latency rows), and not the submit row (its own path).
 */
static bool
is_learnable(int k)
{
	return k != LOOKUP_NONE && k != LOOKUP_SUBMIT && k != NK_PERFORMANCE &&
	    k != NK_LATENCY;
}

/* One column of a wave: its value for every item, as the v row's
 * column; where it is compared, the condition, into conds. */
struct wave_col {
	int lookup;   /* LOOKUP_NONE unless some item's row is new. */
	int compared; /* Items that compare it. */
};

/* The SQL of column j's value in v (a parameter, or for rows created
 * this step the parameter or else the row found by its values). */
static void
wave_col_value(struct submit_store *st, struct stmt *s, struct set_cols *sc,
    size_t first, size_t n, struct result_col (*cols)[RESULT_COLS_MAX], int j,
    const struct wave_col *wc)
{
	struct sql_array a;
	norm_vals vals;
	size_t i;
	int c;

	sql_array_setup(&a);
	for (i = 0; i < n; i++) {
		const struct result_col *rc = &cols[i][j];

		sql_array_add(
		    &a, rc->lookup == LOOKUP_NONE ? rc->value : NULL, rc->len);
	}
	c = set_col(s, sc, &a, "text");
	if (wc->lookup == LOOKUP_NONE) {
		strbuf_addf(&s->q.sql, ", e.c%d%s AS %s", c, cols[0][j].cast,
		    cols[0][j].column);
		return;
	}
	strbuf_addf(&s->q.sql, ", COALESCE(e.c%d::integer, ", c);
	if (wc->lookup == LOOKUP_SUBMIT) {
		submit_find_by_identity_sql(
		    &s->q.sql, identity_cols(st, s, sc, first, n, true));
	} else {
		norm_value_cols(st, s, sc, (enum norm_kind)wc->lookup, first, n,
		    false, vals);
		norm_lookup_sql(&s->q.sql, (enum norm_kind)wc->lookup, vals);
	}
	strbuf_addf(&s->q.sql, ") AS %s", cols[0][j].column);
}

/* Column j's part of the duplicate check. */
static void
wave_col_compare(struct stmt *s, struct set_cols *sc, struct strbuf *conds,
    size_t n, struct result_col (*cols)[RESULT_COLS_MAX], int j,
    const struct wave_col *wc)
{
	const char *column = cols[0][j].column;
	struct sql_array a;
	size_t i;
	int c;

	if (wc->compared == 0)
		return;
	strbuf_adds(conds, conds->len ? " AND " : "");
	if ((size_t)wc->compared == n) {
		strbuf_addf(conds, "t.%s = v.%s", column, column);
		return;
	}
	/* Only the items that sent the field compare it. */
	sql_array_setup(&a);
	for (i = 0; i < n; i++)
		sql_array_add_bool(&a, cols[i][j].compare);
	c = set_col(s, sc, &a, "boolean");
	strbuf_addf(&s->q.sql, ", e.c%d AS s%d", c, j);
	strbuf_addf(conds, "(NOT v.s%d OR t.%s = v.%s)", j, column, column);
}

/*
 * One statement for the results of items [first, first + n), none of
 * which can equal another: v holds their rows; f finds each one's equal
 * stored result (comparing only what was sent, through the
 * mttd_*_dedup index); i inserts the others in item order, so their ids
 * come from the sequence in that order; the answer is one id per item.
 * Inserted rows are matched back to their items by the dedup key, which
 * the waves make unique among them.
 */
static void
add_results_wave(struct submit_store *st, size_t first, size_t n)
{
	const char *table = submit_phase_table(st->phase);
	const char *key = phase_key_column(st->phase);
	struct stmt *s = stmt_add(st, ROLE_RESULTS, first);
	struct set_cols sc = { { NULL, 0, 0 }, 0 };
	struct result_col(*cols)[RESULT_COLS_MAX] = xcalloc(n, sizeof *cols);
	struct strbuf conds, names, learnt;
	size_t i;
	int j, ncols = 0;

	s->count = n;
	for (i = 0; i < n; i++)
		ncols = result_cols(st, &st->items[first + i], cols[i]);
	strbuf_setup(&conds);
	strbuf_setup(&names);
	strbuf_setup(&learnt);
	strbuf_adds(&s->q.sql, "WITH v AS MATERIALIZED (SELECT e.ord");
	for (j = 0; j < ncols; j++) {
		struct wave_col wc = { LOOKUP_NONE, 0 };

		for (i = 0; i < n; i++) {
			if (cols[i][j].lookup != LOOKUP_NONE)
				wc.lookup = cols[i][j].lookup;
			wc.compared += cols[i][j].compare;
		}
		wave_col_value(st, s, &sc, first, n, cols, j, &wc);
		wave_col_compare(s, &sc, &conds, n, cols, j, &wc);
		strbuf_addf(&names, "%s%s", j ? ", " : "", cols[0][j].column);
		if (is_learnable(wc.lookup)) {
			s->learn[s->nlearn++] = wc.lookup;
			strbuf_addf(&learnt, ", v.%s", cols[0][j].column);
		}
	}
	set_from(s, &sc);
	strbuf_addf(&s->q.sql,
	    "), f AS MATERIALIZED (SELECT v.ord, (SELECT min(t.%s_id + 0)"
	    " FROM ONLY %s t WHERE %s) AS id FROM v),"
	    " i AS (INSERT INTO %s (%s) SELECT ",
	    table, table, conds.data, table, names.data);
	for (j = 0; j < ncols; j++)
		strbuf_addf(
		    &s->q.sql, "%sv.%s", j ? ", " : "", cols[0][j].column);
	strbuf_addf(&s->q.sql,
	    " FROM v JOIN f ON f.ord = v.ord WHERE f.id IS NULL ORDER BY"
	    " v.ord RETURNING %s_id AS id, submit_id, %s AS k,"
	    " start_timestamp) SELECT COALESCE(f.id, i.id)%s FROM v JOIN f ON"
	    " f.ord = v.ord LEFT JOIN i ON f.id IS NULL AND i.submit_id ="
	    " v.submit_id AND i.k = v.%s AND i.start_timestamp ="
	    " v.start_timestamp ORDER BY v.ord",
	    table, key, learnt.len ? learnt.data : "", key);
	strbuf_shutdown(&conds);
	strbuf_shutdown(&names);
	strbuf_shutdown(&learnt);
	free(cols);
}

/*
 * The key that decides whether two items could be the same result: the
 * submit row, the dedup key's source (the test name within the build's
 * suite, the suite name, or the MPI name and version) and the time.
 */
static uint64_t
wave_key(const struct submit_store *st, const struct store_item *it)
{
	const struct store_sub *sub = &st->subs[it->sub];
	const struct submit_entry *e = item_entry(st, it);
	static const int run_fields[] = { SF_TEST_NAME, -1 };
	static const int build_fields[] = { SF_SUITE_NAME, -1 };
	static const int install_fields[] = { SF_MPI_NAME, SF_MPI_VERSION, -1 };
	const int *f = st->phase == SUBMIT_PHASE_RUN ? run_fields :
	    st->phase == SUBMIT_PHASE_BUILD	     ? build_fields :
						       install_fields;
	uint64_t h = HASH_FNV1A_SEED, ident;

	if (sub->submit_id[0] != '\0') {
		h = hash_fnv1a(h, sub->submit_id, strlen(sub->submit_id) + 1);
	} else {
		ident = submit_identity_hash(sub->req);
		h = hash_fnv1a(h, &ident, sizeof ident);
	}
	if (st->phase == SUBMIT_PHASE_RUN)
		h = hash_fnv1a(h, it->es.link[5], strlen(it->es.link[5]) + 1);
	for (; *f >= 0; f++) {
		const struct submit_value *v = entry_value(e, *f);

		if (v->text != NULL)
			h = hash_fnv1a(h, v->text, v->len);
		h = hash_fnv1a(h, "\x1f", 1);
	}
	return hash_fnv1a(h, it->es.timestamp, strlen(it->es.timestamp));
}

/* Keys of the wave being filled: an open-addressing set whose slots
 * count only when they carry the current wave's number. */
struct wave_set {
	uint64_t *keys;
	size_t *wave;
	size_t mask;
};

/* Add key to wave w; false when it is there already. */
static bool
wave_set_add(struct wave_set *ws, uint64_t key, size_t w)
{
	size_t i = (size_t)key & ws->mask;

	while (ws->wave[i] == w) {
		if (ws->keys[i] == key)
			return false;
		i = (i + 1) & ws->mask;
	}
	ws->keys[i] = key;
	ws->wave[i] = w;
	return true;
}

/*
 * The results in waves of consecutive items: a wave ends before an item
 * whose key an item of the wave has, so that item's statement (later in
 * the transaction) sees the rows the wave stored.  Consecutive waves
 * keep the ids in entry order.
 */
static void
add_results(struct submit_store *st)
{
	struct wave_set ws;
	size_t size = 16, i, start = 0, w = 1;

	while (size < 2 * st->nitems)
		size *= 2;
	ws.keys = xcalloc(size, sizeof *ws.keys);
	ws.wave = xcalloc(size, sizeof *ws.wave);
	ws.mask = size - 1;
	for (i = 0; i < st->nitems; i++) {
		if (wave_set_add(&ws, wave_key(st, &st->items[i]), w))
			continue;
		add_results_wave(st, start, i - start);
		start = i;
		wave_set_add(&ws, wave_key(st, &st->items[i]), ++w);
	}
	if (i > start)
		add_results_wave(st, start, i - start);
	free(ws.keys);
	free(ws.wave);
}

/* ---- the first round trip: every lookup ---- */

/* Columns of the entries' lookup statement, in order. */
enum {
	COL_TIMESTAMP,	/* start_timestamp as PostgreSQL reads it. */
	COL_DURATION,	/* duration likewise, or NULL. */
	COL_LINK_FOUND, /* The linked install or build exists. */
	COL_LINKS	/* Its ids to copy, then each normalised row. */
};

/* A field of every item as column e.cN; returns N. */
static int
field_col(
    struct submit_store *st, struct stmt *s, struct set_cols *sc, int field)
{
	struct sql_array a;
	size_t i;

	sql_array_setup(&a);
	for (i = 0; i < st->nitems; i++) {
		const struct submit_value *v = entry_value(
		    item_entry(st, &st->items[i]), field);

		sql_array_add(&a, v->text, v->len);
	}
	return set_col(s, sc, &a, "text");
}

/* The linked row's ids to copy, and whether it exists, as columns. */
static void
add_link_columns(struct submit_store *st, struct stmt *s)
{
	const char *const *copies = phase_copies(st->phase);
	int j;

	if (copies == NULL) {
		strbuf_adds(&s->q.sql, ", true");
		return;
	}
	strbuf_adds(&s->q.sql, ", l.found");
	for (j = 0; copies[j] != NULL; j++)
		strbuf_addf(&s->q.sql, ", l.%s", copies[j]);
}

/* The linked install or build of each item, read by its id. */
static void
add_link_join(struct submit_store *st, struct stmt *s, int link_col)
{
	const char *const *copies = phase_copies(st->phase);
	int j;

	if (copies == NULL)
		return;
	strbuf_adds(&s->q.sql, " LEFT JOIN LATERAL (SELECT true AS found");
	for (j = 0; copies[j] != NULL; j++)
		strbuf_addf(&s->q.sql, ", b.%s", copies[j]);
	strbuf_addf(&s->q.sql,
	    " FROM ONLY %s b WHERE b.%s = e.c%d::integer) AS l ON true",
	    st->phase == SUBMIT_PHASE_BUILD ? "mpi_install" : "test_build",
	    link_key(st->phase), link_col);
}

/*
 * The distinct rows of one kind the items link, so that each is looked
 * up once however many entries share it (a batch's entries, or a
 * group's submissions, mostly share their message, description,
 * environment and command).
 */
struct distinct_rows {
	size_t *rep; /* An item holding each distinct row. */
	size_t n;
	long *of_item; /* Each item's row number from 1, or 0: not linked. */
};

/* Do items a and b link the same row of kind k? */
static bool
norm_same_row(
    const struct submit_store *st, enum norm_kind k, size_t a, size_t b)
{
	const struct norm_def *def = norm_lookup_def(k);
	const struct store_item *x = &st->items[a], *y = &st->items[b];
	const char *v, *w;
	size_t lv, lw;
	int c;

	for (c = 0; c < def->ncols; c++) {
		v = norm_col_value(
		    &x->es, item_entry(st, x), &def->cols[c], &lv);
		w = norm_col_value(
		    &y->es, item_entry(st, y), &def->cols[c], &lw);
		if (lv != lw || memcmp(v, w, lv) != 0)
			return false;
	}
	return true;
}

/* Group the items' rows of kind k; an open-addressing table of hashes
 * finds a row seen before, and equal values confirm it. */
static void
distinct_rows_find(
    struct submit_store *st, enum norm_kind k, struct distinct_rows *d)
{
	size_t size = 16, i, j, *slot;
	uint64_t *hash, h;

	while (size < 2 * st->nitems)
		size *= 2;
	hash = xcalloc(size, sizeof *hash);
	slot = xcalloc(size, sizeof *slot); /* Row number from 1; 0: free. */
	d->rep = xcalloc(st->nitems ? st->nitems : 1, sizeof *d->rep);
	d->of_item = xcalloc(st->nitems ? st->nitems : 1, sizeof *d->of_item);
	d->n = 0;
	for (i = 0; i < st->nitems; i++) {
		const struct store_item *it = &st->items[i];

		if (!norm_wanted(item_entry(st, it), k))
			continue;
		h = norm_hash(it, item_entry(st, it), k);
		for (j = (size_t)h & (size - 1); slot[j] != 0;
		     j = (j + 1) & (size - 1)) {
			if (hash[j] == h &&
			    norm_same_row(st, k, d->rep[slot[j] - 1], i))
				break;
		}
		if (slot[j] == 0) {
			d->rep[d->n++] = i;
			hash[j] = h;
			slot[j] = d->n;
		}
		d->of_item[i] = (long)slot[j];
	}
	free(hash);
	free(slot);
}

/*
 * "dN AS MATERIALIZED (SELECT d.ord, (lookup) AS id FROM unnest(...))":
 * the id of each distinct row of kind k (NULL: missing), looked up once.
 * Materialized, so the planner cannot fold the lookup back into the
 * per-entry rows.
 */
static void
add_distinct_lookup(struct submit_store *st, struct stmt *s, enum norm_kind k,
    const struct distinct_rows *d, int n)
{
	const struct norm_def *def = norm_lookup_def(k);
	struct set_cols dc = { { NULL, 0, 0 }, 0 };
	norm_vals vals;
	int c;

	strbuf_addf(&s->q.sql, "%sd%d AS MATERIALIZED (SELECT d.ord, ",
	    n ? ", " : "WITH ", n);
	for (c = 0; c < def->ncols; c++)
		snprintf(vals[c], sizeof vals[c], "d.c%d",
		    norm_col_array(st, s, &dc, &def->cols[c], d->rep, 0, d->n));
	norm_lookup_sql(&s->q.sql, k, vals);
	strbuf_adds(&s->q.sql, " AS id");
	set_from_as(s, &dc, "d");
	strbuf_adds(&s->q.sql, ")");
}

/* Each item's row number of kind k (NULL: not linked) as column e.cN. */
static int
distinct_index_col(struct stmt *s, struct set_cols *sc,
    const struct distinct_rows *d, size_t nitems)
{
	struct sql_array a;
	char num[24];
	size_t i;

	sql_array_setup(&a);
	for (i = 0; i < nitems; i++) {
		snprintf(num, sizeof num, "%ld", d->of_item[i]);
		sql_array_add(&a, d->of_item[i] ? num : NULL, strlen(num));
	}
	return set_col(s, sc, &a, "bigint");
}

/* Does looking up kind k need the joined build (its suite)? */
static bool
norm_uses_link(enum norm_kind k)
{
	const struct norm_def *def = norm_lookup_def(k);
	int c;

	for (c = 0; c < def->ncols; c++) {
		if (def->cols[c].field == NV_LINK_SUITE)
			return true;
	}
	return false;
}

/*
 * The WITH clause of the entries' lookup: one materialized list per kind
 * of the distinct rows the items link, each looked up once.  Fills
 * index_col with each kind's e.cN of the items' row numbers (-1: the
 * kind is looked up per item, as a test name needs the joined build).
 */
static void
add_distinct_lookups(struct submit_store *st, struct stmt *s,
    struct set_cols *sc, int *index_col)
{
	const struct phase_link *l = phase_links(st->phase);
	struct distinct_rows d;
	int j, n = 0;

	for (j = 0; l[j].kind != NK__COUNT; j++) {
		index_col[j] = -1;
		if (norm_uses_link(l[j].kind))
			continue;
		distinct_rows_find(st, l[j].kind, &d);
		add_distinct_lookup(st, s, l[j].kind, &d, n++);
		index_col[j] = distinct_index_col(s, sc, &d, st->nitems);
		free(d.rep);
		free(d.of_item);
	}
	if (n > 0)
		strbuf_adds(&s->q.sql, " ");
}

/* Each normalised row the items link (0: not linked, NULL: missing). */
static void
add_norm_columns(struct submit_store *st, struct stmt *s, struct set_cols *sc,
    const int *index_col)
{
	const struct phase_link *l = phase_links(st->phase);
	norm_vals vals;
	int j, n = 0;

	for (j = 0; l[j].kind != NK__COUNT; j++) {
		if (index_col[j] >= 0) {
			strbuf_addf(&s->q.sql,
			    ", CASE WHEN e.c%d IS NULL THEN 0 ELSE d%d.id END",
			    index_col[j], n++);
			continue;
		}
		strbuf_adds(&s->q.sql, ", ");
		norm_value_cols(
		    st, s, sc, l[j].kind, 0, st->nitems, true, vals);
		norm_lookup_sql(&s->q.sql, l[j].kind, vals);
	}
}

/* " LEFT JOIN dN ON dN.ord = e.cM" for each distinct list. */
static void
add_distinct_joins(
    struct submit_store *st, struct stmt *s, const int *index_col)
{
	const struct phase_link *l = phase_links(st->phase);
	int j, n = 0;

	for (j = 0; l[j].kind != NK__COUNT; j++) {
		if (index_col[j] < 0)
			continue;
		strbuf_addf(&s->q.sql, " LEFT JOIN d%d ON d%d.ord = e.c%d", n,
		    n, index_col[j]);
		n++;
	}
}

/*
 * One statement for everything about the items that can be read without
 * locks, one row per item: the timestamp and duration read by
 * PostgreSQL's own parser, the row it links to, and every normalised row
 * it links (NULL: missing).
 */
static void
add_entries_lookup(struct submit_store *st)
{
	struct stmt *s = stmt_add(st, ROLE_ENTRIES, 0);
	struct set_cols sc = { { NULL, 0, 0 }, 0 };
	int index_col[NK__COUNT];
	struct sql_array a;
	int link_col = -1;
	size_t i;

	s->count = st->nitems;
	add_distinct_lookups(st, s, &sc, index_col);
	strbuf_addf(&s->q.sql,
	    "SELECT (e.c%d::timestamp)::text, (e.c%d::interval)::text",
	    field_col(st, s, &sc, SF_START_TIMESTAMP),
	    field_col(st, s, &sc, SF_DURATION));
	if (phase_copies(st->phase) != NULL) {
		sql_array_setup(&a);
		for (i = 0; i < st->nitems; i++) {
			const char *id = link_id(
			    st->phase, item_entry(st, &st->items[i]));

			sql_array_add(&a, id, strlen(id));
		}
		link_col = set_col(s, &sc, &a, "text");
	}
	add_link_columns(st, s);
	add_norm_columns(st, s, &sc, index_col);
	set_from(s, &sc);
	add_link_join(st, s, link_col);
	add_distinct_joins(st, s, index_col);
	strbuf_adds(&s->q.sql, " ORDER BY e.ord");
}

/* The entries of the submissions stored now, in order. */
static void
store_make_items(struct submit_store *st)
{
	size_t i, j, n = 0;

	for (i = st->first_sub; i < st->end_sub; i++)
		n += st->subs[i].req->count;
	free(st->items);
	st->items = xcalloc(n ? n : 1, sizeof *st->items);
	st->nitems = 0;
	for (i = st->first_sub; i < st->end_sub; i++) {
		for (j = 0; j < st->subs[i].req->count; j++) {
			st->items[st->nitems].sub = i;
			st->items[st->nitems++].entry = j;
		}
	}
}

/* ---- known rows: one round trip instead of two ---- */

/* One part of a cache key: its length, then its bytes, so that no two
 * different lists of parts make the same key. */
static void
cache_key_add(struct strbuf *k, const char *v, size_t len)
{
	char num[24];
	size_t n = sizeof num, rest = len;

	/* The length in decimal, written by hand: keys are made for every
	 * entry of every submission, and printf was most of their cost. */
	num[--n] = ':';
	do {
		num[--n] = (char)('0' + rest % 10);
		rest /= 10;
	} while (rest > 0);
	strbuf_add(k, num + n, sizeof num - n);
	strbuf_add(k, v, len);
}

/* The key builders below write into k, emptied first. */

/* A submission's submit row: by the id it named, or by its identity. */
static void
submit_cache_key(const struct store_sub *sub, struct strbuf *k)
{
	const struct submit_request *r = sub->req;
	const char *v[] = { r->hostname, r->local_username, r->http_username,
		r->mtt_client_version };
	size_t i;

	k->len = 0;
	if (r->submit_id > 0) {
		strbuf_adds(k, "submit named|");
		cache_key_add(
		    k, sub->submit_id_text, strlen(sub->submit_id_text));
		cache_key_add(k, r->http_username, strlen(r->http_username));
		return;
	}
	strbuf_adds(k, "submit|");
	for (i = 0; i < sizeof v / sizeof v[0]; i++)
		cache_key_add(k, v[i], strlen(v[i]));
}

/* The install or build an entry links, by its id. */
static void
link_cache_key(const struct submit_store *st, const struct submit_entry *e,
    struct strbuf *k)
{
	const char *id = link_id(st->phase, e);

	k->len = 0;
	strbuf_adds(k, link_key(st->phase));
	strbuf_add(k, "|", 1);
	cache_key_add(k, id, strlen(id));
}

/* A normalised row by its table and values (a test name's suite comes
 * from the linked build, so the links must be known first). */
static void
norm_cache_key(const struct store_item *it, const struct submit_entry *e,
    enum norm_kind kind, struct strbuf *k)
{
	const struct norm_def *def = &norms[kind];
	const char *v;
	size_t len;
	int c;

	k->len = 0;
	strbuf_adds(k, def->table);
	strbuf_add(k, "|", 1);
	for (c = 0; c < def->ncols; c++) {
		v = norm_col_value(&it->es, e, &def->cols[c], &len);
		cache_key_add(k, v, len);
	}
}

static const char *
cache_get(const struct strbuf *k)
{
	return row_cache_get(k->data, k->len);
}

static void
cache_put(const struct strbuf *k, const char *value)
{
	row_cache_put(k->data, k->len, value);
}

/* The linked row's ids to copy, from "id,id,...". */
static bool
links_from_text(
    struct entry_state *es, const char *const *copies, const char *text)
{
	size_t j, len;

	if (text == NULL)
		return false;
	for (j = 0; copies[j] != NULL; j++) {
		len = strcspn(text, ",");
		if (len >= sizeof es->link[j])
			return false;
		memcpy(es->link[j], text, len);
		es->link[j][len] = '\0';
		text += len + (text[len] == ',');
	}
	return true;
}

/* One normalised row of an item from the cache; one of a table with a
 * unique index that is not there counts as missing, as it can be
 * created (or found) without a lookup, under ON CONFLICT. */
static bool
norm_from_cache(struct store_item *it, const struct submit_entry *e,
    enum norm_kind kind, struct strbuf *k)
{
	struct entry_state *es = &it->es;
	const char *id;

	if (!norm_wanted(e, kind)) {
		snprintf(es->norm_id[kind], sizeof es->norm_id[kind], "0");
		return true;
	}
	if (kind == NK_PERFORMANCE) /* Made per entry: always looked up. */
		return false;
	norm_cache_key(it, e, kind, k);
	id = cache_get(k);
	if (id == NULL) {
		es->missing[kind] = true;
		return norm_has_unique_index(kind);
	}
	snprintf(es->norm_id[kind], sizeof es->norm_id[kind], "%s", id);
	return true;
}

/* What the entries' lookup would have said of an item, if known. */
static bool
item_from_cache(
    struct submit_store *st, struct store_item *it, struct strbuf *k)
{
	const struct submit_entry *e = item_entry(st, it);
	const char *const *copies = phase_copies(st->phase);
	const struct phase_link *l;
	bool ok = true;

	memset(&it->es, 0, sizeof it->es);
	if (copies != NULL) {
		link_cache_key(st, e, k);
		ok = links_from_text(&it->es, copies, cache_get(k));
	}
	for (l = phase_links(st->phase); ok && l->kind != NK__COUNT; l++)
		ok = norm_from_cache(it, e, l->kind, k);
	return ok;
}

/*
 * The items' times as PostgreSQL will read them, for the waves (an entry
 * that could equal an earlier one goes to a later wave): when one is not
 * of a form timestamp_text reads, none is used, so that entries of one
 * test at two spellings of one time can never share a wave.
 */
static void
know_times(struct submit_store *st)
{
	size_t i;

	for (i = 0; i < st->nitems; i++) {
		struct store_item *it = &st->items[i];
		const struct submit_value *v = entry_value(
		    item_entry(st, it), SF_START_TIMESTAMP);

		if (!timestamp_text_canonical(
			v->text, v->len, it->es.timestamp))
			break;
	}
	if (i == st->nitems)
		return;
	for (i = 0; i < st->nitems; i++)
		st->items[i].es.timestamp[0] = '\0';
}

/* The four columns of a named submit row from its text ("len:bytes"
 * each, as cache_key_add writes them); false when text is not that. */
static bool
named_row_parts(const char *text, const char *parts[4], size_t lens[4])
{
	unsigned long long len;
	char *end;
	int c;

	for (c = 0; c < 4; c++) {
		len = strtoull(text, &end, 10);
		if (end == text || *end != ':' || strlen(end + 1) < len)
			return false;
		parts[c] = end + 1;
		lens[c] = (size_t)len;
		text = end + 1 + len;
	}
	return *text == '\0';
}

/* A submission's submit row from "ID IDENTITY[ NAMED_ROW]"
 * (remember_submits). */
static bool
submit_from_text(struct store_sub *sub, const char *text)
{
	const char *space = text ? strchr(text, ' ') : NULL;
	size_t len = space ? (size_t)(space - text) : 0;
	const char *parts[4];
	size_t lens[4];
	char *end;

	if (space == NULL || len == 0 || len >= sizeof sub->submit_id)
		return false;
	memcpy(sub->submit_id, text, len);
	sub->submit_id[len] = '\0';
	sub->identity = strtoull(space + 1, &end, 16);
	if (sub->req->submit_id <= 0)
		return true;
	if (*end != ' ' || !named_row_parts(end + 1, parts, lens))
		return false;
	free(sub->named_row);
	sub->named_row = xstrdup(end + 1);
	return true;
}

/* Every submit row and entry of the submissions now from the cache;
 * false when one is not there (the lookups then run as usual). */
static bool
store_from_cache(struct submit_store *st)
{
	struct strbuf k;
	bool ok = true;
	size_t i;

	strbuf_setup(&k);
	for (i = st->first_sub; ok && i < st->end_sub; i++) {
		struct store_sub *sub = &st->subs[i];

		submit_cache_key(sub, &k);
		ok = submit_from_text(sub, cache_get(&k));
	}
	for (i = 0; ok && i < st->nitems; i++)
		ok = item_from_cache(st, &st->items[i], &k);
	strbuf_shutdown(&k);
	for (i = st->first_sub; !ok && i < st->end_sub; i++)
		st->subs[i].submit_id[0] = '\0';
	if (ok)
		know_times(st);
	return ok;
}

/* The submit rows now known: read, or created and committed. */
static void
remember_submits(struct submit_store *st)
{
	struct strbuf k, value;
	size_t i;

	strbuf_setup(&k);
	strbuf_setup(&value);
	for (i = st->first_sub; i < st->end_sub; i++) {
		const struct store_sub *sub = &st->subs[i];

		if (sub->submit_id[0] == '\0')
			continue;
		/* "ID IDENTITY": a named row's identity is not the
		 * metadata's (result_space); its columns follow, for the
		 * check of known rows. */
		value.len = 0;
		strbuf_addf(
		    &value, "%s %" PRIx64, sub->submit_id, sub->identity);
		if (sub->named_row != NULL)
			strbuf_addf(&value, " %s", sub->named_row);
		submit_cache_key(sub, &k);
		cache_put(&k, value.data);
	}
	strbuf_shutdown(&value);
	strbuf_shutdown(&k);
}

/* An item's linked row and the normalised rows the lookup found. */
static void
remember_item(struct submit_store *st, const struct store_item *it)
{
	const struct submit_entry *e = item_entry(st, it);
	const char *const *copies = phase_copies(st->phase);
	const struct phase_link *l;
	struct strbuf k, ids;
	size_t j;

	strbuf_setup(&k);
	if (copies != NULL) {
		strbuf_setup(&ids);
		for (j = 0; copies[j] != NULL; j++)
			strbuf_addf(&ids, "%s%s", j ? "," : "", it->es.link[j]);
		link_cache_key(st, e, &k);
		cache_put(&k, ids.data);
		strbuf_shutdown(&ids);
	}
	for (l = phase_links(st->phase); l->kind != NK__COUNT; l++) {
		if (l->kind == NK_PERFORMANCE || it->es.missing[l->kind] ||
		    !norm_wanted(e, l->kind))
			continue;
		norm_cache_key(it, e, l->kind, &k);
		cache_put(&k, it->es.norm_id[l->kind]);
	}
	strbuf_shutdown(&k);
}

/*
 * The rows an item's store created (or found by their values), now
 * committed: so that a new test name, say, is known from its first
 * store on instead of being inserted (and found) by every later one.
 */
static void
remember_learnt(struct submit_store *st, const struct store_item *it)
{
	const struct submit_entry *e;
	struct strbuf k;
	int kind;

	if (it->es.learnt == 0)
		return;
	e = item_entry(st, it);
	strbuf_setup(&k);
	for (kind = 0; kind < NK__COUNT; kind++) {
		if (!(it->es.learnt & 1u << kind))
			continue;
		norm_cache_key(it, e, (enum norm_kind)kind, &k);
		cache_put(&k, it->es.norm_id[kind]);
	}
	strbuf_shutdown(&k);
}

/* Rows the lookups read are committed, and never deleted by mttd. */
static void
remember_lookups(struct submit_store *st)
{
	size_t i;

	remember_submits(st);
	for (i = 0; i < st->nitems; i++)
		remember_item(st, &st->items[i]);
}

/* Add id to a unless seen (n of them) has it: a group's entries share
 * most rows.  True when it was added. */
static bool
ids_add(struct sql_array *a, const char **seen, size_t *n, const char *id)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (strcmp(seen[i], id) == 0)
			return false;
	}
	seen[(*n)++] = id;
	sql_array_add(a, id, strlen(id));
	return true;
}

/* A column a known row is checked by, and its value for each id: the
 * check compares t.column to k.cN (N its place), cast, unless column is
 * NULL (a condition of the caller's compares it). */
struct held_col {
	const char *column;
	const char *cast;
	struct sql_array values;
};

static void
held_col_setup(struct held_col *c, const char *column, const char *cast)
{
	c->column = column;
	c->cast = cast;
	sql_array_setup(&c->values);
}

/*
 * A column of the check that divides by zero unless every id of ids is
 * a row of table that still holds the values it is known by (and meets
 * cond, when given): a row an operator edited in place must not be
 * linked by its old values.  One index scan by id per row, each value
 * compared as the lookups compare it.  The arrays are read through
 * sub-selects, as set_col's are, so that one generic plan serves every
 * length: planned anew for each execution, the check cost load 1 13-20 %
 * of its rate.
 */
static void
add_rows_hold(struct stmt *s, const char *table, const char *id_col,
    struct sql_array *ids, struct held_col *cols, int ncols, const char *cond)
{
	int p = sql_array_param(&s->q, ids), c;

	strbuf_addf(&s->q.sql,
	    ", (SELECT 1 / (count(*) = cardinality((SELECT"
	    " $%d::text[]::integer[])))::integer FROM ONLY %s t JOIN"
	    " unnest((SELECT $%d::text[]::integer[])",
	    p, table, p);
	for (c = 0; c < ncols; c++)
		strbuf_addf(&s->q.sql, ", (SELECT $%d::text[])",
		    sql_array_param(&s->q, &cols[c].values));
	strbuf_adds(&s->q.sql, ") AS k(id");
	for (c = 0; c < ncols; c++)
		strbuf_addf(&s->q.sql, ", c%d", c);
	strbuf_addf(&s->q.sql, ") ON t.%s = k.id", id_col);
	for (c = 0; c < ncols; c++) {
		if (cols[c].column != NULL)
			strbuf_addf(&s->q.sql, " AND t.%s = k.c%d%s",
			    cols[c].column, c, cols[c].cast);
	}
	if (cond != NULL)
		strbuf_addf(&s->q.sql, " AND %s", cond);
	strbuf_adds(&s->q.sql, ")");
}

/* The four columns a submission's known submit row holds: the
 * metadata's, or a named row's as read (none if unreadable, which fails
 * the check). */
static void
known_submit_columns(
    const struct store_sub *sub, const char *parts[4], size_t lens[4])
{
	const struct submit_request *r = sub->req;
	const char *v[] = { r->hostname, r->local_username, r->http_username,
		r->mtt_client_version };
	int c;

	if (r->submit_id > 0) {
		if (sub->named_row != NULL &&
		    named_row_parts(sub->named_row, parts, lens))
			return;
		for (c = 0; c < 4; c++) {
			parts[c] = NULL;
			lens[c] = 0;
		}
		return;
	}
	for (c = 0; c < 4; c++) {
		parts[c] = v[c];
		lens[c] = strlen(v[c]);
	}
}

/* The known submit rows of the submissions now, by the four columns
 * they were found by (or, named, read with): a row an operator edited
 * must not be linked, nor its results locked by its old identity. */
static void
add_known_submits_hold(struct submit_store *st, struct stmt *s)
{
	static const char *const columns[] = { "hostname", "local_username",
		"http_username", "mtt_client_version" };
	struct held_col cols[4];
	struct sql_array ids;
	const char *parts[4];
	size_t i, lens[4];
	int c;

	sql_array_setup(&ids);
	for (c = 0; c < 4; c++)
		held_col_setup(&cols[c], columns[c], "::text");
	/* A group's submissions are few: each is checked, no two of one
	 * row skipped (a row may be named by one and found by another). */
	for (i = st->first_sub; i < st->end_sub; i++) {
		const struct store_sub *sub = &st->subs[i];

		sql_array_add(&ids, sub->submit_id, strlen(sub->submit_id));
		known_submit_columns(sub, parts, lens);
		for (c = 0; c < 4; c++)
			sql_array_add(&cols[c].values, parts[c], lens[c]);
	}
	add_rows_hold(s, "submit", "submit_id", &ids, cols, 4, NULL);
}

/* The installs or builds the items link, each known from the cache
 * with the ids it holds (that the items copy), compared as the text
 * the cache keeps ("id,id,..."): one array instead of one per id. */
static void
add_known_links_hold(struct submit_store *st, struct stmt *s, const char **seen)
{
	const char *const *copies = phase_copies(st->phase);
	struct held_col held;
	struct sql_array ids;
	struct strbuf cond, text;
	size_t i, n = 0;
	int j;

	sql_array_setup(&ids);
	held_col_setup(&held, NULL, NULL);
	strbuf_setup(&text);
	for (i = 0; i < st->nitems; i++) {
		const struct store_item *it = &st->items[i];
		const char *id = link_id(st->phase, item_entry(st, it));

		/* One link id has one cache entry: its copies are the same
		 * for every item that links it. */
		if (!ids_add(&ids, seen, &n, id))
			continue;
		text.len = 0;
		for (j = 0; copies[j] != NULL; j++) {
			if (j > 0)
				strbuf_add(&text, ",", 1);
			strbuf_adds(&text, it->es.link[j]);
		}
		sql_array_add(&held.values, text.data, text.len);
	}
	strbuf_shutdown(&text);
	strbuf_setup(&cond);
	strbuf_adds(&cond, "concat_ws(','");
	for (j = 0; copies[j] != NULL; j++)
		strbuf_addf(&cond, ", t.%s", copies[j]);
	strbuf_adds(&cond, ") = k.c0");
	add_rows_hold(s,
	    st->phase == SUBMIT_PHASE_BUILD ? "mpi_install" : "test_build",
	    link_key(st->phase), &ids, &held, 1, cond.data);
	strbuf_shutdown(&cond);
}

/* The known normalised rows of kind the items link, by their values. */
static void
add_known_norms_hold(struct submit_store *st, struct stmt *s,
    enum norm_kind kind, const char **seen)
{
	const struct norm_def *def = &norms[kind];
	struct held_col cols[7];
	struct sql_array ids;
	const char *v;
	size_t i, len, n = 0;
	int c;

	sql_array_setup(&ids);
	for (c = 0; c < def->ncols; c++)
		held_col_setup(
		    &cols[c], def->cols[c].column, def->cols[c].cast);
	for (i = 0; i < st->nitems; i++) {
		const struct store_item *it = &st->items[i];
		const struct submit_entry *e = item_entry(st, it);

		if (it->es.missing[kind] || !norm_wanted(e, kind) ||
		    !ids_add(&ids, seen, &n, it->es.norm_id[kind]))
			continue;
		for (c = 0; c < def->ncols; c++) {
			v = norm_col_value(&it->es, e, &def->cols[c], &len);
			sql_array_add(&cols[c].values, v, len);
		}
	}
	add_rows_hold(s, def->table, def->id, &ids, cols, def->ncols, NULL);
}

/* Every known row the group links: its submit rows, its builds (or
 * installs), its normalised rows. */
static void
add_known_rows_hold(struct submit_store *st, struct stmt *s)
{
	const char **seen = xcalloc(st->nitems, sizeof *seen);
	const struct phase_link *l;

	add_known_submits_hold(st, s);
	if (phase_copies(st->phase) != NULL)
		add_known_links_hold(st, s, seen);
	for (l = phase_links(st->phase); l->kind != NK__COUNT; l++) {
		if (l->kind == NK_PERFORMANCE) /* Never known. */
			continue;
		add_known_norms_hold(st, s, l->kind, seen);
	}
	free(seen);
}

/*
 * Without the lookups, nothing has had PostgreSQL read the timestamps
 * and durations, or seen that the known rows still exist as they were
 * (an operator may delete or edit rows, and a result's link to its
 * build has no foreign key): the first statement of the transaction
 * does both, so that a refused value or a row deleted or edited since
 * fails it before anything is written or a sequence value taken (the
 * group then runs the lookups, which name a bad value or a missing
 * build).  One index scan per known row; the text depends only on the
 * phase.
 */
static void
add_known_check(struct submit_store *st)
{
	struct stmt *s = stmt_add(st, ROLE_CHECK, 0);
	struct sql_array t, d;
	size_t i;

	sql_array_setup(&t);
	sql_array_setup(&d);
	for (i = 0; i < st->nitems; i++) {
		const struct submit_entry *e = item_entry(st, &st->items[i]);
		const struct submit_value *ts = entry_value(
		    e, SF_START_TIMESTAMP);
		const struct submit_value *du = entry_value(e, SF_DURATION);

		sql_array_add(&t, ts->text, ts->len);
		sql_array_add(&d, du->text, du->len);
	}
	strbuf_addf(&s->q.sql,
	    "SELECT $%d::text[]::timestamp[] IS NULL,"
	    " $%d::text[]::interval[] IS NULL",
	    sql_array_param(&s->q, &t), sql_array_param(&s->q, &d));
	add_known_rows_hold(st, s);
}

/*
 * Every lookup, in one pipeline outside any transaction: nothing is
 * locked or written yet, and the rows read are never deleted, so the ids
 * stay good for the store step.
 */
static void
store_begin(struct submit_store *st)
{
	size_t i;

	store_clear_stmts(st);
	st->attempt++;
	for (i = st->first_sub; i < st->end_sub; i++)
		st->subs[i].submit_id[0] = '\0';
	store_make_items(st);
	/* Without entries no statement would see the submit row: look it
	 * up, so that a row deleted by hand is not answered as stored. */
	st->known_rows = !st->lookups_only && st->nitems > 0 &&
	    store_from_cache(st);
	if (st->known_rows) {
		store_write(st);
		return;
	}
	add_submits_lookup(st);
	if (st->nitems > 0)
		add_entries_lookup(st);
	store_send(st, STEP_LOOKUP);
}

static void
store_start(struct submit_store *st)
{
	st->attempt = 0;
	store_begin(st);
}

/* Each timestamp and interval of item i alone, so a refused one can be
 * named. */
static void
add_casts(struct submit_store *st, size_t i)
{
	static const int checked[] = { SF_START_TIMESTAMP, SF_DURATION };
	static const char *const casts[] = { "timestamp", "interval" };
	const struct submit_entry *e = item_entry(st, &st->items[i]);
	int j;

	for (j = 0; j < 2; j++) {
		const struct submit_value *v = entry_value(e, checked[j]);
		struct stmt *s;

		if (v->text == NULL)
			continue;
		s = stmt_add(st, ROLE_CAST, i);
		s->field = checked[j];
		strbuf_addf(&s->q.sql, "SELECT ($%d::%s)::text",
		    sql_stmt_param(&s->q, v->text, v->len), casts[j]);
	}
}

/*
 * Send the naming pass's next slice of entries (CAST_SLICE_ITEMS); once
 * every entry passed, the first refusal is reported as it was.
 */
static void
store_send_casts(struct submit_store *st)
{
	size_t end;

	store_clear_stmts(st);
	while (st->nstmts == 0 && st->casts_next < st->nitems) {
		end = st->nitems - st->casts_next > CAST_SLICE_ITEMS ?
		    st->casts_next + CAST_SLICE_ITEMS :
		    st->nitems;
		while (st->casts_next < end)
			add_casts(st, st->casts_next++);
	}
	if (st->nstmts == 0) {
		store_refuse(st, "data: the database refused a value: %s",
		    st->lookup_error);
		return;
	}
	store_send(st, STEP_CASTS);
}

/*
 * The lookups were refused for a value: check each timestamp and
 * interval alone, a slice of entries per round trip.  A refused one is
 * named by store_failed (and ends the pass).
 */
static void
store_check_casts(struct submit_store *st, const struct db_result *res)
{
	free(st->lookup_error);
	st->lookup_error = xstrdup(res->error ? res->error : "unknown error");
	st->casts_next = 0;
	store_send_casts(st);
}

/* ---- reading the lookups ---- */

static void
copy_column(PGresult *r, int row, int col, char *out, size_t size)
{
	snprintf(out, size, "%s",
	    PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

/* Read item i's row of the entries' lookup; false when the row it
 * links to does not exist. */
static bool
store_read_item(struct submit_store *st, size_t i, PGresult *r)
{
	const char *const *copies = phase_copies(st->phase);
	const struct phase_link *l = phase_links(st->phase);
	struct entry_state *es = &st->items[i].es;
	int row = (int)i, j, col = COL_LINKS;

	memset(es, 0, sizeof *es);
	if (PQgetisnull(r, row, COL_LINK_FOUND))
		return false;
	copy_column(r, row, COL_TIMESTAMP, es->timestamp, sizeof es->timestamp);
	copy_column(r, row, COL_DURATION, es->duration, sizeof es->duration);
	for (j = 0; copies != NULL && copies[j] != NULL; j++)
		copy_column(r, row, col++, es->link[j], sizeof es->link[j]);
	for (j = 0; l[j].kind != NK__COUNT; j++, col++) {
		es->missing[l[j].kind] = PQgetisnull(r, row, col);
		copy_column(
		    r, row, col, es->norm_id[l[j].kind], sizeof es->norm_id[0]);
	}
	return true;
}

/* The identity of a named submit row, from columns 1 to 4, and the
 * columns themselves. */
static void
named_identity(struct store_sub *sub, PGresult *r, int row)
{
	const char *parts[4];
	struct strbuf text;
	int c;

	strbuf_setup(&text);
	for (c = 0; c < 4; c++) {
		parts[c] = PQgetvalue(r, row, c + 1);
		cache_key_add(&text, parts[c], strlen(parts[c]));
	}
	sub->identity = identity_hash(parts);
	free(sub->named_row);
	sub->named_row = strbuf_take(&text);
}

/* The build or install an item links to does not exist: the entry's
 * link, or the metadata's (which every entry carries). */
static void
store_refuse_link(struct submit_store *st, const struct store_item *it)
{
	const struct submit_entry *e = item_entry(st, it);
	int f = st->phase == SUBMIT_PHASE_BUILD ? SF_MPI_INSTALL_ID :
						  SF_TEST_BUILD_ID;
	const char *key = link_key(st->phase), *id = link_id(st->phase, e);

	if (e->from_metadata & UINT64_C(1) << f)
		store_refuse(st, "metadata: field '%s': %s %s does not exist",
		    key, key, id);
	else
		store_refuse(st, "data[%zu]: field '%s': %s %s does not exist",
		    it->entry, key, key, id);
}

/* Read the lookups; false when a submission was refused. */
static bool
store_read_lookups(struct submit_store *st, const struct db_result *res)
{
	PGresult *subs = res->results[0];
	PGresult *items = st->nitems > 0 ? res->results[1] : NULL;
	size_t i;

	for (i = st->first_sub; i < st->end_sub; i++) {
		struct store_sub *sub = &st->subs[i];

		copy_column(subs, (int)(i - st->first_sub), 0, sub->submit_id,
		    sizeof sub->submit_id);
		if (sub->submit_id[0] != '\0' && sub->req->submit_id > 0)
			named_identity(sub, subs, (int)(i - st->first_sub));
		if (sub->submit_id[0] == '\0' && sub->req->submit_id > 0) {
			store_refuse(st,
			    "field 'submit_id': submit_id %ld does not exist,"
			    " or belongs to another user than %s",
			    sub->req->submit_id, sub->req->http_username);
			return false;
		}
	}
	for (i = 0; i < st->nitems; i++) {
		const struct store_item *it = &st->items[i];

		if (store_read_item(st, i, items))
			continue;
		store_refuse_link(st, it);
		return false;
	}
	return true;
}

/* ---- the store step ---- */

/* Every submission stored now is stored. */
static void
store_succeeded(struct submit_store *st)
{
	size_t i;

	for (i = st->first_sub; i < st->end_sub; i++)
		sub_set_outcome(&st->subs[i], SUBMIT_STORED, "Success");
	store_run_over(st);
}

/*
 * The second round trip, one implicit transaction that the pipeline's
 * sync commits: every lock; each missing submit and normalised row
 * once; then the results, which find the rows just created by their
 * values.
 */
static void
store_write(struct submit_store *st)
{
	struct norm_make *m;
	size_t n;

	store_clear_stmts(st);
	m = store_plan_makes(st, &n);
	if (st->known_rows && st->nitems > 0)
		add_known_check(st);
	add_locks(st, m, n);
	add_submit_makes(st);
	add_norm_makes(st, m, n);
	free(m);
	add_results(st);
	if (st->known_rows)
		log_debug("submit: %zu submission(s) with every row known:"
			  " one round trip of %d statements",
		    st->end_sub - st->first_sub, st->nstmts);
	if (st->nstmts == 0) { /* No entries, and the submit rows exist. */
		store_succeeded(st);
		return;
	}
	store_send(st, STEP_STORE);
}

/* A submit row made this step: every submission of its identity. */
static void
store_read_submit_make(
    struct submit_store *st, const struct stmt *s, PGresult *r)
{
	const struct submit_request *made = st->subs[s->first].req;
	size_t i;

	if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0))
		return;
	for (i = st->first_sub; i < st->end_sub; i++) {
		struct store_sub *sub = &st->subs[i];

		if (sub->submit_id[0] == '\0' && same_identity(sub->req, made))
			copy_column(
			    r, 0, 0, sub->submit_id, sizeof sub->submit_id);
	}
}

/* The ids a wave answered for rows its item was missing (is_learnable). */
static void
store_read_learnt(
    struct store_item *it, const struct stmt *s, PGresult *r, int row)
{
	struct entry_state *es = &it->es;
	int c, k;

	for (c = 0; c < s->nlearn; c++) {
		k = s->learn[c];
		if (!es->missing[k] || PQgetisnull(r, row, 1 + c) ||
		    PQgetlength(r, row, 1 + c) >= (int)sizeof es->norm_id[k])
			continue;
		memcpy(es->norm_id[k], PQgetvalue(r, row, 1 + c),
		    (size_t)PQgetlength(r, row, 1 + c) + 1);
		es->learnt |= 1u << k;
	}
}

/* A wave's ids; false when a row is missing from its answer. */
static bool
store_read_results(struct submit_store *st, const struct stmt *s, PGresult *r)
{
	size_t i;

	if ((size_t)PQntuples(r) != s->count || PQnfields(r) != 1 + s->nlearn)
		return false;
	for (i = 0; i < s->count; i++) {
		struct store_item *it = &st->items[s->first + i];

		if (PQgetisnull(r, (int)i, 0))
			return false;
		st->subs[it->sub].ids[it->entry] = strtol(
		    PQgetvalue(r, (int)i, 0), NULL, 10);
		store_read_learnt(it, s, r, (int)i);
	}
	return true;
}

static void
store_written(struct submit_store *st, const struct db_result *res)
{
	int i;

	for (i = 0; i < st->nstmts; i++) {
		const struct stmt *s = st->stmts[i];

		if (s->role == ROLE_SUBMIT_MAKE)
			store_read_submit_make(st, s, res->results[i]);
		else if (s->role == ROLE_RESULTS &&
		    !store_read_results(st, s, res->results[i])) {
			/* Committed, yet not as planned: a bug. */
			log_error("submit: a result is missing from the"
				  " answer of statement %d",
			    i);
			store_fail(st, SUBMIT_DB_UNKNOWN,
			    "a stored result's id was not answered", true);
			return;
		}
	}
	if (!st->known_rows)	      /* Else every one came from the cache. */
		remember_submits(st); /* Committed now. */
	for (i = 0; i < (int)st->nitems; i++)
		remember_learnt(st, &st->items[i]);
	store_succeeded(st);
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
		if (store_read_lookups(st, res)) {
			remember_lookups(st);
			store_write(st);
		}
		break;
	case STEP_CASTS:
		store_send_casts(st); /* This slice passed: the next one. */
		break;
	case STEP_STORE:
		store_written(st, res);
		break;
	}
}

struct submit_store *
submit_store_run_group(
    struct db_conn *conn, const struct submit_job *jobs, size_t n)
{
	struct submit_store *st = xcalloc(1, sizeof *st);
	size_t i;

	st->conn = conn;
	st->phase = jobs[0].req->phase;
	st->subs = xcalloc(n, sizeof *st->subs);
	st->nsubs = n;
	for (i = 0; i < n; i++) {
		struct store_sub *sub = &st->subs[i];

		sub->req = jobs[i].req;
		sub->cb = jobs[i].cb;
		sub->arg = jobs[i].arg;
		snprintf(sub->submit_id_text, sizeof sub->submit_id_text, "%ld",
		    sub->req->submit_id);
		sub->identity = submit_identity_hash(sub->req);
		sub->ids = xcalloc(
		    sub->req->count ? sub->req->count : 1, sizeof *sub->ids);
		/* One transaction stores one phase's table. */
		if (sub->req->phase != st->phase)
			st->split = true;
	}
	st->first_sub = 0;
	st->end_sub = st->split ? 1 : n;
	store_start(st);
	return st;
}

void
submit_store_drop(struct submit_store *st)
{
	store_free(st);
}
