/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of submit_fields: every rule of the SPEC's Submit section
 * that holds before the database is touched, checked on the exact text
 * each field converts to and on the field and limit each refusal names.
 * The catalogue is a table of schema-v3's columns, not a database.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "schema_v3_columns.h"
#include "db_catalog.h"
#include "json_doc.h"
#include "strbuf.h"
#include "submit_fields.h"

/* The address a request without hostname comes from. */
#define PEER "127.0.0.1"

/* The authenticated user every case submits as unless it says. */
#define USER "mttuser"

#define NITEMS(a) (sizeof(a) / sizeof(a)[0])

/*
 * The mock catalogue.
 */

/* Opaque to the module; here: schema_v3 with one change at most. */
struct db_catalog {
	const char *hidden_table; /* This column is reported missing. */
	const char *hidden_column;
	const struct catalog_column *override; /* Answered before schema_v3. */
};

static bool
column_is(const struct catalog_column *c, const char *table, const char *column)
{
	return c != NULL && strcmp(c->table, table) == 0 &&
	    strcmp(c->column, column) == 0;
}

/* The catalogue the module reads; cat NULL is plain schema_v3. */
int
db_catalog_column(const struct db_catalog *cat, const char *table,
    const char *column, const char **type, int *max_chars)
{
	const struct catalog_column *c = NULL;
	size_t i;

	if (cat != NULL && cat->hidden_table != NULL &&
	    strcmp(cat->hidden_table, table) == 0 &&
	    strcmp(cat->hidden_column, column) == 0)
		return -1;
	if (cat != NULL && column_is(cat->override, table, column))
		c = cat->override;
	for (i = 0; c == NULL && i < NITEMS(schema_v3); i++) {
		if (column_is(&schema_v3[i], table, column))
			c = &schema_v3[i];
	}
	if (c == NULL)
		return -1;
	*type = c->type;
	*max_chars = c->max_chars;
	return 0;
}

const char *
db_catalog_server_version(const struct db_catalog *cat)
{
	(void)cat;
	return "15 (mock)";
}

/*
 * Assertions that say what came back.
 */

static const char *
shown(const char *s)
{
	return s != NULL ? s : "(absent)";
}

/* True when got is the string want (and not NULL). */
static bool
str_is(const char *got, const char *want)
{
	return got != NULL && strcmp(got, want) == 0;
}

static bool
is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* True when text holds word with no letter, digit or '_' either side. */
static bool
names_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = text; p != NULL && (p = strstr(p, word)) != NULL; p++) {
		if ((p == text || !is_word_char(p[-1])) && !is_word_char(p[n]))
			return true;
	}
	return false;
}

/*
 * Test bodies: a valid submission of each phase, with edits.
 */

/* One key of a body: its JSON text, or NULL to leave the key out. */
struct kv {
	const char *key;
	const char *json;
};

static const char *const phase_json[] = {
	[SUBMIT_PHASE_INSTALL] = "\"MPI Install\"",
	[SUBMIT_PHASE_BUILD] = "\"Test Build\"",
	[SUBMIT_PHASE_RUN] = "\"Test Run\"",
};

/* Every key the base metadata holds (phase is set per phase). */
static const char *const meta_keys[] = { "client_serial", "hostname",
	"local_username", "mtt_client_version", "phase", "platform_name",
	"trial", NULL };

static const struct kv install_base[] = {
	{ "platform_hardware", "\"x86_64\"" },
	{ "platform_type", "\"linux\"" },
	{ "os_name", "\"Linux\"" },
	{ "os_version", "\"6.1.0\"" },
	{ "compiler_name", "\"gnu\"" },
	{ "compiler_version", "\"12.2.0\"" },
	{ "mpi_name", "\"ompi-nightly\"" },
	{ "mpi_version", "\"v5.0.x\"" },
	{ "start_timestamp", "\"Fri Dec  4 13:00:00 2026\"" },
	{ "result_message", "\"Success\"" },
	{ "test_result", "1" },
	{ "exit_value", "0" },
	{ NULL, NULL },
};

static const struct kv build_base[] = {
	{ "compiler_name", "\"gnu\"" },
	{ "compiler_version", "\"12.2.0\"" },
	{ "suite_name", "\"ibm\"" },
	{ "start_timestamp", "\"2026-12-04T13:00:00\"" },
	{ "result_message", "\"Success\"" },
	{ "test_result", "1" },
	{ "exit_value", "0" },
	{ NULL, NULL },
};

static const struct kv run_base[] = {
	{ "test_name", "\"hello_c\"" },
	{ "np", "2" },
	{ "command", "\"mpirun -np 2 hello_c\"" },
	{ "start_timestamp", "\"2026-12-04 13:00:00\"" },
	{ "result_message", "\"Passed\"" },
	{ "test_result", "1" },
	{ "exit_value", "0" },
	{ NULL, NULL },
};

static const struct kv *const entry_base[] = {
	[SUBMIT_PHASE_INSTALL] = install_base,
	[SUBMIT_PHASE_BUILD] = build_base,
	[SUBMIT_PHASE_RUN] = run_base,
};

static bool
is_meta_key(const char *key)
{
	size_t i;

	for (i = 0; meta_keys[i] != NULL; i++) {
		if (strcmp(meta_keys[i], key) == 0)
			return true;
	}
	return false;
}

static const struct kv *
kv_lookup(const struct kv *list, const char *key)
{
	for (; list != NULL && list->key != NULL; list++) {
		if (strcmp(list->key, key) == 0)
			return list;
	}
	return NULL;
}

static void
object_add_pair(struct strbuf *sb, const char *key, const char *json)
{
	if (json == NULL)
		return;
	strbuf_addf(sb, "%s\"%s\": %s",
	    sb->data[sb->len - 1] == '{' ? "" : ", ", key, json);
}

/* A JSON object: base with edits applied (replace, drop or add). */
static void
object_write(struct strbuf *sb, const struct kv *base, const struct kv *edits)
{
	const struct kv *p, *e;

	strbuf_adds(sb, "{");
	for (p = base; p->key != NULL; p++) {
		e = kv_lookup(edits, p->key);
		object_add_pair(sb, p->key, e != NULL ? e->json : p->json);
	}
	for (p = edits; p != NULL && p->key != NULL; p++) {
		if (kv_lookup(base, p->key) == NULL)
			object_add_pair(sb, p->key, p->json);
	}
	strbuf_adds(sb, "}");
}

/* A body of one entry of phase ph; the caller frees it. */
static char *
body_make(enum submit_phase ph, const struct kv *meta, const struct kv *data)
{
	const struct kv meta_base[] = {
		{ "client_serial", "12345" },
		{ "hostname", "\"n1\"" },
		{ "local_username", "\"u\"" },
		{ "mtt_client_version", "\"4.0a1\"" },
		{ "phase", phase_json[ph] },
		{ "platform_name", "\"cluster-a\"" },
		{ "trial", "0" },
		{ NULL, NULL },
	};
	struct strbuf sb;

	strbuf_setup(&sb);
	strbuf_adds(&sb, "{\"metadata\": ");
	object_write(&sb, meta_base, meta);
	strbuf_adds(&sb, ", \"data\": [");
	object_write(&sb, entry_base[ph], data);
	strbuf_adds(&sb, "]}");
	return strbuf_take(&sb);
}

/* A JSON string of n copies of unit (raw UTF-8); the caller frees it. */
static char *
json_repeat(const char *unit, size_t n)
{
	struct strbuf sb;
	size_t i;

	strbuf_setup(&sb);
	strbuf_adds(&sb, "\"");
	for (i = 0; i < n; i++)
		strbuf_adds(&sb, unit);
	strbuf_adds(&sb, "\"");
	return strbuf_take(&sb);
}

/*
 * Running submit_request_parse.
 */

/* One parse: the document (which the request points into) and results. */
struct run {
	char *text;
	struct json_value *doc;
	struct submit_request req;
	enum submit_error rc;
	char *cause;
};

/* Parse text as JSON, then as a submission by user. */
static void
run_text_as(struct run *t, const char *text, const char *user)
{
	enum json_doc_error err;
	char *why = NULL;

	memset(t, 0, sizeof *t);
	t->text = xstrdup(text);
	t->doc = json_doc_parse(text, strlen(text), 64, &err, &why);
	CHECK(
	    t->doc != NULL, "test body is not JSON (%s): %s", shown(why), text);
	free(why);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t->doc);
	t->rc = submit_request_parse(t->doc, user, PEER, &t->req, &t->cause);
	/* As the handler does: every value read after this must point at
	 * the texts only (the sanitizer run catches one that does not). */
	if (t->rc == SUBMIT_ERR_NONE) {
		json_value_drop_tree(t->doc);
		CU_ASSERT_EQUAL(t->doc->type, JSON_NULL);
	}
}

static void
run_text(struct run *t, const char *text)
{
	run_text_as(t, text, USER);
}

/* The base body of ph with edits to its metadata and its entry. */
static void
run_phase(struct run *t, enum submit_phase ph, const struct kv *meta,
    const struct kv *data)
{
	char *body = body_make(ph, meta, data);

	run_text(t, body);
	free(body);
}

/* One key of the base body of ph set to json, where the key lives. */
static void
run_edit(struct run *t, enum submit_phase ph, const char *key, const char *json)
{
	const struct kv edit[] = { { key, json }, { NULL, NULL } };
	bool meta = is_meta_key(key);

	run_phase(t, ph, meta ? edit : NULL, meta ? NULL : edit);
}

static void
run_free(struct run *t)
{
	submit_request_free(&t->req);
	json_value_free(t->doc);
	free(t->cause);
	free(t->text);
}

static void
expect_ok(const struct run *t)
{
	CHECK(t->rc == SUBMIT_ERR_NONE,
	    "want success, got error %d (%s) for %s", (int)t->rc,
	    shown(t->cause), t->text);
	CHECK(t->cause == NULL, "success with a cause: %s", shown(t->cause));
}

/* Refused with rc; the cause names each space-separated word. */
static void
expect_refused(const struct run *t, enum submit_error rc, const char *words)
{
	char *copy = xstrdup(words), *w, *save;

	CHECK(t->rc == rc, "want error %d, got %d (%s) for %s", (int)rc,
	    (int)t->rc, shown(t->cause), t->text);
	CHECK(t->cause != NULL, "refused without a cause: %s", t->text);
	for (w = strtok_r(copy, " ", &save); w != NULL && t->cause != NULL;
	     w = strtok_r(NULL, " ", &save))
		CHECK(names_word(t->cause, w),
		    "cause \"%s\" does not name \"%s\" (body %s)", t->cause, w,
		    t->text);
	free(copy);
}

/* Entry i's field f holds want (NULL: absent), with its length. */
static void
expect_text(
    const struct run *t, size_t i, enum submit_field f, const char *want)
{
	const struct submit_value *sv;

	CHECK(i < t->req.count, "no entry %zu (count %zu)", i, t->req.count);
	if (i >= t->req.count)
		return;
	sv = &t->req.entries[i].v[f];
	if (want == NULL) {
		CHECK(sv->text == NULL, "%s is \"%s\", want absent",
		    submit_field_name(f), shown(sv->text));
		return;
	}
	CHECK(sv->text != NULL && strcmp(sv->text, want) == 0 &&
		sv->len == strlen(want),
	    "%s is \"%s\" (len %zu), want \"%s\"", submit_field_name(f),
	    shown(sv->text), sv->len, want);
}

/*
 * Table-driven conversions: one key of the base body changed.
 */

/* Marks a row whose value must be accepted and left absent. */
static const char absent_marker[] = "(absent)";
#define ABSENT absent_marker

/* Marks a row whose value must be refused (a field error). */
#define REFUSED NULL

struct conv_case {
	enum submit_phase phase;
	const char *key; /* A field; in the metadata when it lives there. */
	const char *json;
	const char *want;  /* Converted text, ABSENT or REFUSED. */
	const char *words; /* Refused: what the cause names besides key. */
};

static int
field_of(const char *key)
{
	int f;

	for (f = 0; f < SF__COUNT; f++) {
		if (strcmp(submit_field_name((enum submit_field)f), key) == 0)
			return f;
	}
	return -1;
}

static void
conv_case_check(const struct conv_case *c)
{
	int f = field_of(c->key);
	char words[256];
	struct run t;

	CHECK(f >= 0, "no field named %s", c->key);
	if (f < 0)
		return;
	run_edit(&t, c->phase, c->key, c->json);
	if (c->want == REFUSED) {
		snprintf(words, sizeof words, "%s %s", c->key,
		    c->words != NULL ? c->words : "");
		expect_refused(&t, SUBMIT_ERR_FIELD, words);
	} else {
		expect_ok(&t);
		if (t.rc == SUBMIT_ERR_NONE)
			expect_text(&t, 0, (enum submit_field)f,
			    c->want == ABSENT ? NULL : c->want);
	}
	run_free(&t);
}

static void
conv_cases_check(const struct conv_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		conv_case_check(&cases[i]);
}

#define CONV_CHECK(table) conv_cases_check((table), CUNIT_NCASES(table))

/*
 * Binding to the catalogue.
 */

static void
fields_bind_ok(const struct db_catalog *cat)
{
	char *cause = NULL;
	int rc;

	rc = submit_fields_bind(cat, &cause);
	CHECK(rc == 0, "bind failed: %s", shown(cause));
	free(cause);
}

static void
fields_bind_names_missing_column(void)
{
	struct db_catalog cat = { "test_run", "np", NULL };
	char *cause = NULL;
	int rc;

	/* Bind again at once: the later cases need the whole table. */
	rc = submit_fields_bind(&cat, &cause);
	fields_bind_ok(NULL);
	CU_ASSERT_EQUAL(rc, -1);
	CHECK(cause != NULL && strstr(cause, "test_run.np") != NULL,
	    "cause \"%s\" does not name test_run.np", shown(cause));
	free(cause);
}

/* The limits come from the catalogue: a shorter hostname column bites. */
static void
fields_bind_reads_lengths_from_catalogue(void)
{
	const struct catalog_column host8 = { "submit", "hostname",
		"character varying", 8 };
	struct db_catalog cat = { NULL, NULL, &host8 };
	struct run t;

	fields_bind_ok(&cat);
	run_edit(&t, SUBMIT_PHASE_RUN, "hostname", "\"hhhhhhhh\"");
	expect_ok(&t);
	run_free(&t);
	run_edit(&t, SUBMIT_PHASE_RUN, "hostname", "\"hhhhhhhhh\"");
	expect_refused(&t, SUBMIT_ERR_FIELD, "hostname 8");
	run_free(&t);
	fields_bind_ok(NULL);
}

static void
fields_names_and_phase_tables(void)
{
	CU_ASSERT_STRING_EQUAL(submit_field_name(SF_NP), "np");
	CU_ASSERT_STRING_EQUAL(submit_field_name(SF_COMMAND), "command");
	CU_ASSERT_STRING_EQUAL(
	    submit_field_name(SF_RESOURCE_MANAGER), "resource_manager");
	CU_ASSERT_STRING_EQUAL(
	    submit_field_name(SF_BANDWIDTH_MAX), "bandwidth_max");
	CU_ASSERT_STRING_EQUAL(
	    submit_phase_table(SUBMIT_PHASE_INSTALL), "mpi_install");
	CU_ASSERT_STRING_EQUAL(
	    submit_phase_table(SUBMIT_PHASE_BUILD), "test_build");
	CU_ASSERT_STRING_EQUAL(
	    submit_phase_table(SUBMIT_PHASE_RUN), "test_run");
	CU_ASSERT_STRING_EQUAL(
	    submit_phase_id_key(SUBMIT_PHASE_INSTALL), "mpi_install_id");
	CU_ASSERT_STRING_EQUAL(
	    submit_phase_id_key(SUBMIT_PHASE_BUILD), "test_build_id");
	CU_ASSERT_STRING_EQUAL(
	    submit_phase_id_key(SUBMIT_PHASE_RUN), "test_run_id");
}

/*
 * Phases.
 */

static const struct {
	const char *name;
	enum submit_phase phase;
} phase_spellings[] = {
	{ "MPI Install", SUBMIT_PHASE_INSTALL },
	{ "mpi install", SUBMIT_PHASE_INSTALL },
	{ "mpi_install", SUBMIT_PHASE_INSTALL },
	{ "MPI INSTALL", SUBMIT_PHASE_INSTALL },
	{ "Test Build", SUBMIT_PHASE_BUILD },
	{ "test_build", SUBMIT_PHASE_BUILD },
	{ "Test Run", SUBMIT_PHASE_RUN },
	{ "TEST RUN", SUBMIT_PHASE_RUN },
	{ "Test Running", SUBMIT_PHASE_RUN },
};

static void
phase_parse_accepts_client_spellings(void)
{
	enum submit_phase got;
	size_t i;
	bool ok;

	for (i = 0; i < CUNIT_NCASES(phase_spellings); i++) {
		got = (enum submit_phase)99;
		ok = submit_phase_parse(phase_spellings[i].name, &got);
		CHECK(ok && got == phase_spellings[i].phase,
		    "phase \"%s\": parsed %s as %d, want %d",
		    phase_spellings[i].name, ok ? "true" : "false", (int)got,
		    (int)phase_spellings[i].phase);
	}
}

static void
phase_parse_refuses_unknown_names(void)
{
	static const char *const names[] = { "Install", "", "Build", "Run",
		"MPI Get", "test-run", "Test", "MPI", "t" };
	enum submit_phase got;
	size_t i;
	bool ok;

	for (i = 0; i < CUNIT_NCASES(names); i++) {
		ok = submit_phase_parse(names[i], &got);
		CHECK(!ok, "phase \"%s\" parsed as %d, want unknown", names[i],
		    (int)got);
	}
}

/* The phase a request ends up with, spelled the clients' ways. */
static void
submit_reads_phase_spellings(void)
{
	static const struct {
		enum submit_phase base;
		const char *json;
	} rows[] = {
		{ SUBMIT_PHASE_INSTALL, "\"MPI Install\"" },
		{ SUBMIT_PHASE_INSTALL, "\"mpi install\"" },
		{ SUBMIT_PHASE_BUILD, "\"Test Build\"" },
		{ SUBMIT_PHASE_RUN, "\"Test Run\"" },
		{ SUBMIT_PHASE_RUN, "\"Test Running\"" },
	};
	struct run t;
	size_t i;

	for (i = 0; i < CUNIT_NCASES(rows); i++) {
		run_edit(&t, rows[i].base, "phase", rows[i].json);
		expect_ok(&t);
		CHECK(t.rc != SUBMIT_ERR_NONE || t.req.phase == rows[i].base,
		    "phase %s read as %d", rows[i].json, (int)t.req.phase);
		run_free(&t);
	}
}

static void
submit_refuses_unknown_phase_naming_it(void)
{
	static const char *const values[] = { "\"Install\"", "\"\"", "null",
		"5", "[\"Test Run\"]" };
	struct run t;
	size_t i;

	for (i = 0; i < CUNIT_NCASES(values); i++) {
		run_edit(&t, SUBMIT_PHASE_RUN, "phase", values[i]);
		expect_refused(&t, SUBMIT_ERR_FIELD, "phase");
		run_free(&t);
	}
}

/*
 * Whole valid submissions: every field's converted text.
 */

static void
expect_entry(const struct run *t, size_t i, const char *const *want)
{
	int f;

	for (f = 0; f < SF__COUNT; f++)
		expect_text(t, i, (enum submit_field)f, want[f]);
}

static void
expect_submit_row(const struct run *t, const char *hostname)
{
	CHECK(str_is(t->req.hostname, hostname), "hostname is %s, want %s",
	    shown(t->req.hostname), hostname);
	CU_ASSERT_FALSE(t->req.hostname_from_peer);
	CU_ASSERT_TRUE(str_is(t->req.local_username, "u"));
	CU_ASSERT_TRUE(str_is(t->req.http_username, USER));
	CU_ASSERT_TRUE(str_is(t->req.mtt_client_version, "4.0a1"));
	CU_ASSERT_EQUAL(t->req.submit_id, 0);
	CU_ASSERT_EQUAL(t->req.count, 1);
}

/* A valid entry of phase converts to exactly want, field by field. */
static void
expect_minimal_accepted(enum submit_phase phase, const char *const *want)
{
	struct run t;

	run_phase(&t, phase, NULL, NULL);
	expect_ok(&t);
	CU_ASSERT_EQUAL(t.req.phase, phase);
	expect_submit_row(&t, "n1");
	expect_entry(&t, 0, want);
	run_free(&t);
}

static void
submit_accepts_minimal_install(void)
{
	const char *want[SF__COUNT] = {
		[SF_PLATFORM_NAME] = "cluster-a",
		[SF_PLATFORM_HARDWARE] = "x86_64",
		[SF_PLATFORM_TYPE] = "linux",
		[SF_OS_NAME] = "Linux",
		[SF_OS_VERSION] = "6.1.0",
		[SF_COMPILER_NAME] = "gnu",
		[SF_COMPILER_VERSION] = "12.2.0",
		[SF_MPI_NAME] = "ompi-nightly",
		[SF_MPI_VERSION] = "v5.0.x",
		[SF_START_TIMESTAMP] = "Fri Dec  4 13:00:00 2026",
		[SF_RESULT_MESSAGE] = "Success",
		[SF_TEST_RESULT] = "1",
		[SF_TRIAL] = "f",
		[SF_EXIT_VALUE] = "0",
		[SF_CLIENT_SERIAL] = "12345",
	};

	expect_minimal_accepted(SUBMIT_PHASE_INSTALL, want);
}

static void
submit_accepts_minimal_build(void)
{
	const char *want[SF__COUNT] = {
		[SF_COMPILER_NAME] = "gnu",
		[SF_COMPILER_VERSION] = "12.2.0",
		[SF_SUITE_NAME] = "ibm",
		[SF_START_TIMESTAMP] = "2026-12-04T13:00:00",
		[SF_RESULT_MESSAGE] = "Success",
		[SF_TEST_RESULT] = "1",
		[SF_TRIAL] = "f",
		[SF_EXIT_VALUE] = "0",
		[SF_CLIENT_SERIAL] = "12345",
	};

	expect_minimal_accepted(SUBMIT_PHASE_BUILD, want);
}

static void
submit_accepts_minimal_run(void)
{
	const char *want[SF__COUNT] = {
		[SF_TEST_NAME] = "hello_c",
		[SF_NP] = "2",
		[SF_COMMAND] = "mpirun -np 2 hello_c",
		[SF_START_TIMESTAMP] = "2026-12-04 13:00:00",
		[SF_RESULT_MESSAGE] = "Passed",
		[SF_TEST_RESULT] = "1",
		[SF_TRIAL] = "f",
		[SF_EXIT_VALUE] = "0",
		[SF_CLIENT_SERIAL] = "12345",
	};

	expect_minimal_accepted(SUBMIT_PHASE_RUN, want);
}

/*
 * Metadata.
 */

static void
submit_requires_metadata_keys(void)
{
	static const char *const keys[] = { "client_serial", "local_username",
		"mtt_client_version", "phase", "platform_name", "trial" };
	static const char *const values[] = { NULL, "null" };
	struct run t;
	size_t i, j;

	for (i = 0; i < CUNIT_NCASES(keys); i++) {
		for (j = 0; j < CUNIT_NCASES(values); j++) {
			run_edit(&t, SUBMIT_PHASE_RUN, keys[i], values[j]);
			expect_refused(&t, SUBMIT_ERR_FIELD, keys[i]);
			run_free(&t);
		}
	}
}

/* Found only in the entry is not enough for a metadata key. */
static void
submit_requires_metadata_keys_in_metadata(void)
{
	const struct kv meta[] = { { "trial", NULL }, { NULL, NULL } };
	const struct kv data[] = { { "trial", "1" }, { NULL, NULL } };
	struct run t;

	run_phase(&t, SUBMIT_PHASE_RUN, meta, data);
	expect_refused(&t, SUBMIT_ERR_FIELD, "trial");
	run_free(&t);
}

static void
submit_hostname_absent_or_null_uses_peer(void)
{
	static const char *const values[] = { NULL, "null" };
	struct run t;
	size_t i;

	for (i = 0; i < CUNIT_NCASES(values); i++) {
		run_edit(&t, SUBMIT_PHASE_INSTALL, "hostname", values[i]);
		expect_ok(&t);
		CHECK(str_is(t.req.hostname, PEER),
		    "hostname %s: got %s, want the peer", shown(values[i]),
		    shown(t.req.hostname));
		CU_ASSERT_TRUE(t.req.hostname_from_peer);
		run_free(&t);
	}
}

static void
submit_hostname_number_is_its_text(void)
{
	struct run t;

	run_edit(&t, SUBMIT_PHASE_INSTALL, "hostname", "42");
	expect_ok(&t);
	CHECK(str_is(t.req.hostname, "42"), "hostname is %s",
	    shown(t.req.hostname));
	CU_ASSERT_FALSE(t.req.hostname_from_peer);
	run_free(&t);
}

static void
submit_metadata_wins_over_entry(void)
{
	const struct kv data[] = { { "platform_name", "\"from-entry\"" },
		{ NULL, NULL } };
	struct run t;

	run_phase(&t, SUBMIT_PHASE_INSTALL, NULL, data);
	expect_ok(&t);
	expect_text(&t, 0, SF_PLATFORM_NAME, "cluster-a");
	run_free(&t);
}

/* A per-phase field may come from the metadata for every entry. */
static void
submit_reads_phase_fields_from_metadata(void)
{
	const struct kv meta[] = { { "compiler_name", "\"intel\"" },
		{ "suite_name", "\"onesided\"" }, { NULL, NULL } };
	const struct kv data[] = { { "compiler_name", NULL },
		{ "suite_name", "\"ibm\"" }, { NULL, NULL } };
	struct run t;

	run_phase(&t, SUBMIT_PHASE_BUILD, meta, data);
	expect_ok(&t);
	expect_text(&t, 0, SF_COMPILER_NAME, "intel");
	expect_text(&t, 0, SF_SUITE_NAME, "onesided");
	run_free(&t);
}

/* A bad value in the metadata is named there, not in data[0]. */
static void
submit_bad_metadata_value_names_the_metadata(void)
{
	const struct kv meta[] = { { "compiler_name", "[1]" }, { NULL, NULL } };
	const struct kv data[] = { { "compiler_name", NULL }, { NULL, NULL } };
	struct run t;

	run_phase(&t, SUBMIT_PHASE_BUILD, meta, data);
	expect_refused(&t, SUBMIT_ERR_FIELD, "metadata compiler_name");
	CHECK(t.cause != NULL && strncmp(t.cause, "metadata: ", 10) == 0,
	    "cause \"%s\" does not begin with the metadata", shown(t.cause));
	run_free(&t);
	run_phase(&t, SUBMIT_PHASE_BUILD, NULL,
	    (const struct kv[]){ { "compiler_name", "[1]" }, { NULL, NULL } });
	expect_refused(&t, SUBMIT_ERR_FIELD, "data compiler_name");
	run_free(&t);
	/* The submit row's own values too (mtt_client_version: 16 at most). */
	run_phase(&t, SUBMIT_PHASE_BUILD,
	    (const struct kv[]){
		{ "mtt_client_version", "\"0123456789abcdefg\"" },
		{ NULL, NULL } },
	    NULL);
	expect_refused(&t, SUBMIT_ERR_FIELD, "metadata mtt_client_version");
	CHECK(t.cause != NULL && strncmp(t.cause, "metadata: ", 10) == 0,
	    "cause \"%s\" does not begin with the metadata", shown(t.cause));
	run_free(&t);
}

/* What the client sends is never the stored http_username. */
static void
submit_http_username_is_authenticated_user(void)
{
	const struct kv meta[] = { { "http_username", "\"someone-else\"" },
		{ NULL, NULL } };
	struct run t;

	run_phase(&t, SUBMIT_PHASE_INSTALL, meta, NULL);
	expect_ok(&t);
	CU_ASSERT_TRUE(str_is(t.req.http_username, USER));
	run_free(&t);
}

/*
 * Required fields per phase.
 */

static void
required_fields_check(enum submit_phase ph, const char *const *keys)
{
	static const char *const values[] = { NULL, "null" };
	struct run t;
	size_t i, j;

	for (i = 0; keys[i] != NULL; i++) {
		for (j = 0; j < CUNIT_NCASES(values); j++) {
			run_edit(&t, ph, keys[i], values[j]);
			expect_refused(&t, SUBMIT_ERR_FIELD, keys[i]);
			run_free(&t);
		}
	}
}

/* The entry's part of each phase's list (the rest is metadata). */
static void
submit_requires_install_fields(void)
{
	static const char *const keys[] = { "platform_hardware",
		"platform_type", "os_name", "os_version", "compiler_name",
		"compiler_version", "mpi_name", "mpi_version",
		"start_timestamp", "result_message", "test_result",
		"exit_value", NULL };

	required_fields_check(SUBMIT_PHASE_INSTALL, keys);
}

static void
submit_requires_build_fields(void)
{
	static const char *const keys[] = { "compiler_name", "compiler_version",
		"suite_name", "start_timestamp", "result_message",
		"test_result", "exit_value", NULL };

	required_fields_check(SUBMIT_PHASE_BUILD, keys);
}

static void
submit_requires_run_fields(void)
{
	static const char *const keys[] = { "test_name", "np", "command",
		"start_timestamp", "result_message", "test_result",
		"exit_value", NULL };

	required_fields_check(SUBMIT_PHASE_RUN, keys);
}

static const struct conv_case null_optional_cases[] = {
	{ SUBMIT_PHASE_INSTALL, "description", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "environment", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "duration", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "exit_signal", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "merge_stdout_stderr", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "result_stdout", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "result_stderr", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "vpath_mode", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "endian", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_INSTALL, "configure_arguments", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_BUILD, "mpi_install_id", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_RUN, "test_build_id", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_RUN, "launcher", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_RUN, "resource_manager", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_RUN, "parameters", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_RUN, "network", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_RUN, "message_size", "null", ABSENT, NULL },
	{ SUBMIT_PHASE_RUN, "latency_avg", "null", ABSENT, NULL },
};

static void
submit_null_optional_counts_as_absent(void)
{
	CONV_CHECK(null_optional_cases);
}

/*
 * Integers.
 */

static const struct conv_case integer_cases[] = {
	{ SUBMIT_PHASE_RUN, "np", "4", "4", NULL },
	{ SUBMIT_PHASE_RUN, "np", "\"4\"", "4", NULL },
	{ SUBMIT_PHASE_RUN, "np", "\"-1\"", "-1", NULL },
	{ SUBMIT_PHASE_RUN, "np", "-1", "-1", NULL },
	{ SUBMIT_PHASE_RUN, "exit_value", "\"-1\"", "-1", NULL },
	{ SUBMIT_PHASE_RUN, "exit_signal", "9", "9", NULL },
	{ SUBMIT_PHASE_RUN, "test_result", "\"0\"", "0", NULL },
	{ SUBMIT_PHASE_RUN, "client_serial", "\"4123372\"", "4123372", NULL },
	{ SUBMIT_PHASE_BUILD, "mpi_install_id", "5", "5", NULL },
	{ SUBMIT_PHASE_BUILD, "mpi_install_id", "\"5\"", "5", NULL },
	{ SUBMIT_PHASE_RUN, "test_build_id", "7", "7", NULL },
	{ SUBMIT_PHASE_RUN, "np", "4.5", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "\"4 \"", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "\" 4\"", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "\"four\"", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "\"\"", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "\"-\"", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "\"+4\"", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "1e1", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "true", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "[]", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "{}", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "np", "[4]", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "exit_value", "4.5", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "exit_value", "\"four\"", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "exit_signal", "1e1", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "test_result", "true", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "client_serial", "\"12345 \"", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "client_serial", "{}", REFUSED, NULL },
	{ SUBMIT_PHASE_BUILD, "mpi_install_id", "\"x\"", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "test_build_id", "1.0", REFUSED, NULL },
};

static void
submit_integers_accept_digits_only(void)
{
	CONV_CHECK(integer_cases);
}

static const struct conv_case range_cases[] = {
	{ SUBMIT_PHASE_RUN, "np", "32767", "32767", NULL },
	{ SUBMIT_PHASE_RUN, "np", "-32768", "-32768", NULL },
	{ SUBMIT_PHASE_RUN, "np", "40000", REFUSED, "32767" },
	{ SUBMIT_PHASE_RUN, "np", "\"40000\"", REFUSED, "32767" },
	{ SUBMIT_PHASE_RUN, "np", "-32769", REFUSED, "32767" },
	{ SUBMIT_PHASE_RUN, "test_result", "32768", REFUSED, "32767" },
	{ SUBMIT_PHASE_RUN, "exit_value", "2147483647", "2147483647", NULL },
	{ SUBMIT_PHASE_RUN, "exit_value", "-2147483648", "-2147483648", NULL },
	{ SUBMIT_PHASE_RUN, "exit_value", "2147483648", REFUSED, "2147483647" },
	{ SUBMIT_PHASE_RUN, "exit_signal", "-2147483649", REFUSED,
	    "2147483647" },
	{ SUBMIT_PHASE_RUN, "client_serial", "2147483648", REFUSED,
	    "2147483647" },
	{ SUBMIT_PHASE_RUN, "exit_value", "99999999999999999999", REFUSED,
	    NULL },
	{ SUBMIT_PHASE_RUN, "test_build_id", "2147483648", REFUSED,
	    "2147483647" },
};

static void
submit_integers_refuse_out_of_range(void)
{
	CONV_CHECK(range_cases);
}

/*
 * Booleans, bit strings, durations and timestamps.
 */

static const struct conv_case bool_cases[] = {
	{ SUBMIT_PHASE_RUN, "trial", "1", "t", NULL },
	{ SUBMIT_PHASE_RUN, "trial", "true", "t", NULL },
	{ SUBMIT_PHASE_RUN, "trial", "0", "f", NULL },
	{ SUBMIT_PHASE_RUN, "trial", "false", "f", NULL },
	{ SUBMIT_PHASE_RUN, "trial", "\"1\"", "f", NULL },
	{ SUBMIT_PHASE_RUN, "trial", "\"true\"", "f", NULL },
	{ SUBMIT_PHASE_RUN, "trial", "2", "f", NULL },
	{ SUBMIT_PHASE_RUN, "merge_stdout_stderr", "1", "t", NULL },
	{ SUBMIT_PHASE_RUN, "merge_stdout_stderr", "true", "t", NULL },
	{ SUBMIT_PHASE_RUN, "merge_stdout_stderr", "0", "f", NULL },
	{ SUBMIT_PHASE_RUN, "merge_stdout_stderr", "false", "f", NULL },
	{ SUBMIT_PHASE_RUN, "merge_stdout_stderr", "\"1\"", "f", NULL },
	{ SUBMIT_PHASE_RUN, "merge_stdout_stderr", "\"true\"", "f", NULL },
};

static void
submit_bools_are_true_only_for_1_and_true(void)
{
	CONV_CHECK(bool_cases);
}

static const struct conv_case bits_cases[] = {
	{ SUBMIT_PHASE_INSTALL, "vpath_mode", "1", "01", NULL },
	{ SUBMIT_PHASE_INSTALL, "vpath_mode", "\"relative\"", "01", NULL },
	{ SUBMIT_PHASE_INSTALL, "vpath_mode", "2", "10", NULL },
	{ SUBMIT_PHASE_INSTALL, "vpath_mode", "\"absolute\"", "10", NULL },
	{ SUBMIT_PHASE_INSTALL, "vpath_mode", "\"battest\"", "00", NULL },
	{ SUBMIT_PHASE_INSTALL, "vpath_mode", "0", "00", NULL },
	{ SUBMIT_PHASE_INSTALL, "endian", "1", "01", NULL },
	{ SUBMIT_PHASE_INSTALL, "endian", "\"little\"", "01", NULL },
	{ SUBMIT_PHASE_INSTALL, "endian", "2", "10", NULL },
	{ SUBMIT_PHASE_INSTALL, "endian", "\"big\"", "10", NULL },
	{ SUBMIT_PHASE_INSTALL, "endian", "\"test\"", "00", NULL },
	{ SUBMIT_PHASE_INSTALL, "endian", "0", "00", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "1", "000001", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "2", "000010", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "4", "000100", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "6", "001100", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "8", "001000", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "16", "010000", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "0", "000000", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "\"8\"", "000000", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "\"unknown\"", "000000", NULL },
	{ SUBMIT_PHASE_INSTALL, "bitness", "32", "000000", NULL },
};

static void
submit_bit_fields_convert_codes_and_words(void)
{
	CONV_CHECK(bits_cases);
}

static const struct conv_case duration_cases[] = {
	{ SUBMIT_PHASE_RUN, "duration", "\"322 seconds\"", "322 seconds",
	    NULL },
	{ SUBMIT_PHASE_RUN, "duration", "\"0 Seconds\"", "0 Seconds", NULL },
	{ SUBMIT_PHASE_RUN, "duration", "3", "3 seconds", NULL },
	{ SUBMIT_PHASE_RUN, "duration", "0", "0 seconds", NULL },
	{ SUBMIT_PHASE_RUN, "duration", "1.5", "1.500000 seconds", NULL },
	{ SUBMIT_PHASE_RUN, "duration", "true", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "duration", "[3]", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "duration", "{}", REFUSED, NULL },
};

static void
submit_duration_takes_interval_text_or_seconds(void)
{
	CONV_CHECK(duration_cases);
}

static const struct conv_case timestamp_cases[] = {
	{ SUBMIT_PHASE_RUN, "start_timestamp", "\"Fri Jul  3 01:06:14 2026\"",
	    "Fri Jul  3 01:06:14 2026", NULL },
	{ SUBMIT_PHASE_RUN, "start_timestamp", "\"2026-07-03T01:06:14Z\"",
	    "2026-07-03T01:06:14Z", NULL },
	{ SUBMIT_PHASE_RUN, "start_timestamp", "1751504774", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "start_timestamp", "true", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "start_timestamp", "[\"2026-07-03\"]", REFUSED,
	    NULL },
};

static void
submit_start_timestamp_must_be_a_string(void)
{
	CONV_CHECK(timestamp_cases);
}

/*
 * Text.
 */

static const struct conv_case text_cases[] = {
	{ SUBMIT_PHASE_INSTALL, "os_version", "7", "7", NULL },
	{ SUBMIT_PHASE_INSTALL, "os_version", "5.14", "5.14", NULL },
	{ SUBMIT_PHASE_INSTALL, "result_stdout", "\"\"", "", NULL },
	{ SUBMIT_PHASE_INSTALL, "environment", "\"\"", "", NULL },
	{ SUBMIT_PHASE_INSTALL, "configure_arguments", "\"--enable-debug\"",
	    "--enable-debug", NULL },
	{ SUBMIT_PHASE_RUN, "launcher", "\"mpirun\"", "mpirun", NULL },
	{ SUBMIT_PHASE_RUN, "resource_manager", "\"slurm\"", "slurm", NULL },
	{ SUBMIT_PHASE_RUN, "parameters", "\"-np 2\"", "-np 2", NULL },
	{ SUBMIT_PHASE_RUN, "network", "\"ib\"", "ib", NULL },
	{ SUBMIT_PHASE_INSTALL, "result_stderr", "[\"a\", \"b\"]", REFUSED,
	    "string" },
	{ SUBMIT_PHASE_INSTALL, "result_stderr", "{\"a\": \"b\"}", REFUSED,
	    "string" },
	{ SUBMIT_PHASE_INSTALL, "description", "[]", REFUSED, "string" },
	{ SUBMIT_PHASE_RUN, "command", "[\"mpirun\", \"-np\", \"2\"]", REFUSED,
	    "string" },
	{ SUBMIT_PHASE_INSTALL, "platform_name", "[\"cluster-a\"]", REFUSED,
	    "string" },
};

static void
submit_text_takes_strings_and_numbers(void)
{
	CONV_CHECK(text_cases);
}

/* C01: an array for a submit-row text is refused as clearly. */
static void
submit_metadata_text_refuses_lists(void)
{
	static const char *const keys[] = { "hostname", "local_username",
		"mtt_client_version" };
	char words[64];
	struct run t;
	size_t i;

	for (i = 0; i < CUNIT_NCASES(keys); i++) {
		run_edit(&t, SUBMIT_PHASE_INSTALL, keys[i], "[\"x\"]");
		snprintf(words, sizeof words, "%s string", keys[i]);
		expect_refused(&t, SUBMIT_ERR_FIELD, words);
		run_free(&t);
	}
}

/* key set to n copies of unit; accepted or refused naming key and n-1. */
static void
length_check(
    enum submit_phase ph, const char *key, const char *unit, size_t n, bool ok)
{
	char *json = json_repeat(unit, n), words[64];
	struct run t;

	run_edit(&t, ph, key, json);
	if (ok) {
		expect_ok(&t);
	} else {
		snprintf(words, sizeof words, "%s %zu", key, n - 1);
		expect_refused(&t, SUBMIT_ERR_FIELD, words);
	}
	run_free(&t);
	free(json);
}

static void
submit_hostname_length_counts_characters(void)
{
	char *want = json_repeat("h", 128);
	struct run t;

	run_edit(&t, SUBMIT_PHASE_RUN, "hostname", want);
	expect_ok(&t);
	want[129] = '\0';
	CHECK(str_is(t.req.hostname, want + 1), "hostname of 128 is %s",
	    shown(t.req.hostname));
	run_free(&t);
	free(want);
	length_check(SUBMIT_PHASE_RUN, "hostname", "h", 129, false);
	length_check(SUBMIT_PHASE_RUN, "hostname", "\xc3\xa9", 128, true);
}

static void
submit_local_username_length_counts_characters(void)
{
	length_check(SUBMIT_PHASE_RUN, "local_username", "\xc3\xa9", 16, true);
	length_check(SUBMIT_PHASE_RUN, "local_username", "\xc3\xa9", 17, false);
	length_check(SUBMIT_PHASE_RUN, "mtt_client_version", "v", 16, true);
	length_check(SUBMIT_PHASE_RUN, "mtt_client_version", "v", 17, false);
}

static void
submit_entry_text_length_counts_characters(void)
{
	length_check(SUBMIT_PHASE_BUILD, "suite_name", "\xc3\xa9", 32, true);
	length_check(SUBMIT_PHASE_BUILD, "suite_name", "s", 33, false);
	length_check(SUBMIT_PHASE_RUN, "test_name", "\xe2\x82\xac", 64, true);
	length_check(SUBMIT_PHASE_RUN, "test_name", "t", 65, false);
	length_check(SUBMIT_PHASE_INSTALL, "platform_name", "p", 129, false);
	length_check(SUBMIT_PHASE_INSTALL, "compiler_version", "c", 65, false);
	length_check(SUBMIT_PHASE_RUN, "network", "n", 33, false);
}

/* The user name comes from the Authorization header, not the body. */
static void
submit_http_username_limit_is_16_characters(void)
{
	struct run t;
	char *body = body_make(SUBMIT_PHASE_INSTALL, NULL, NULL);

	run_text_as(&t, body, "abcdefghijklmnopqrstuvwxyz");
	expect_refused(&t, SUBMIT_ERR_FIELD, "http_username 16");
	run_free(&t);
	run_text_as(&t, body, "abcdefghijklmnop");
	expect_ok(&t);
	CU_ASSERT_TRUE(str_is(t.req.http_username, "abcdefghijklmnop"));
	run_free(&t);
	free(body);
}

static void
submit_nul_in_text_arrives_as_replacement_character(void)
{
	static const char want[] = "a\357\277\275b"; /* U+FFFD */
	const struct submit_value *sv;
	struct run t;

	run_edit(&t, SUBMIT_PHASE_RUN, "result_stderr", "\"a\\u0000b\"");
	expect_ok(&t);
	CU_ASSERT_EQUAL_FATAL(t.req.count, 1);
	sv = &t.req.entries[0].v[SF_RESULT_STDERR];
	CU_ASSERT_PTR_NOT_NULL_FATAL(sv->text);
	CU_ASSERT_EQUAL(sv->len, sizeof want - 1);
	CU_ASSERT_EQUAL(memcmp(sv->text, want, sizeof want), 0);
	run_free(&t);
}

/*
 * Performance lists.
 */

static const struct conv_case latency_cases[] = {
	{ SUBMIT_PHASE_RUN, "message_size", "[1,2,4,8]", "{1,2,4,8}", NULL },
	{ SUBMIT_PHASE_RUN, "message_size", "[1, 2]", "{1,2}", NULL },
	{ SUBMIT_PHASE_RUN, "message_size", "[]", "{}", NULL },
	{ SUBMIT_PHASE_RUN, "latency_min", "[1.25,1.5]", "{1.25,1.5}", NULL },
	{ SUBMIT_PHASE_RUN, "latency_avg", "[2]", "{2}", NULL },
	{ SUBMIT_PHASE_RUN, "latency_max", "[1e3]", "{1e3}", NULL },
	{ SUBMIT_PHASE_RUN, "bandwidth_min", "[0.5]", "{0.5}", NULL },
	{ SUBMIT_PHASE_RUN, "bandwidth_avg", "[-1]", "{-1}", NULL },
	{ SUBMIT_PHASE_RUN, "bandwidth_max", "[3,4.5]", "{3,4.5}", NULL },
	{ SUBMIT_PHASE_RUN, "latency_min", "[1.25,\"1.5\"]", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "bandwidth_avg", "[null]", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "latency_max", "[[1]]", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "message_size", "[\"1\"]", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "message_size", "[4.5]", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "message_size", "4.5", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "message_size", "[2147483648]", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "latency_avg", "1.5", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "bandwidth_max", "{}", REFUSED, NULL },
	{ SUBMIT_PHASE_RUN, "latency_bandwidth", "true", "t", NULL },
	{ SUBMIT_PHASE_RUN, "latency_bandwidth", "false", ABSENT, NULL },
	{ SUBMIT_PHASE_RUN, "latency_bandwidth", "null", ABSENT, NULL },
};

static void
submit_latency_lists_become_array_literals(void)
{
	CONV_CHECK(latency_cases);
}

/*
 * submit_id.
 */

static void
submit_id_is_read_from_metadata(void)
{
	static const struct {
		const char *json;
		long want;
	} rows[] = { { "5", 5 }, { "\"5\"", 5 }, { "0", 0 }, { "null", 0 } };
	const struct kv meta[] = { { "submit_id", NULL }, { NULL, NULL } };
	struct kv edit[] = { { "submit_id", NULL }, { NULL, NULL } };
	struct run t;
	size_t i;

	run_phase(&t, SUBMIT_PHASE_RUN, meta, NULL);
	expect_ok(&t);
	CU_ASSERT_EQUAL(t.req.submit_id, 0);
	run_free(&t);
	for (i = 0; i < CUNIT_NCASES(rows); i++) {
		edit[0].json = rows[i].json;
		run_phase(&t, SUBMIT_PHASE_RUN, edit, NULL);
		expect_ok(&t);
		CHECK(t.req.submit_id == rows[i].want,
		    "submit_id %s read as %ld", rows[i].json, t.req.submit_id);
		run_free(&t);
	}
}

static void
submit_id_refuses_non_integers(void)
{
	static const char *const values[] = { "\"x\"", "4.5", "true", "[5]",
		"2147483648" };
	struct kv edit[] = { { "submit_id", NULL }, { NULL, NULL } };
	struct run t;
	size_t i;

	for (i = 0; i < CUNIT_NCASES(values); i++) {
		edit[0].json = values[i];
		run_phase(&t, SUBMIT_PHASE_RUN, edit, NULL);
		expect_refused(&t, SUBMIT_ERR_FIELD, "submit_id");
		run_free(&t);
	}
}

/*
 * The body's shape and the list of entries.
 */

static const char meta_ok[] = "{\"client_serial\": 1,"
			      " \"hostname\": \"n1\","
			      " \"local_username\": \"u\","
			      " \"mtt_client_version\": \"4.0a1\","
			      " \"phase\": \"Test Run\","
			      " \"platform_name\": \"p\","
			      " \"trial\": 0}";

#define RUN_ENTRY                                                          \
	"{\"test_name\": \"t\", \"np\": 2, \"command\": \"c\","            \
	" \"start_timestamp\": \"2026-01-01\", \"result_message\": \"m\"," \
	" \"test_result\": 1, \"exit_value\": 0}"

static void
shape_check(const char *meta, const char *data, const char *words)
{
	struct strbuf sb;
	struct run t;

	strbuf_setup(&sb);
	strbuf_adds(&sb, "{");
	if (meta != NULL)
		strbuf_addf(
		    &sb, "\"metadata\": %s%s", meta, data != NULL ? ", " : "");
	if (data != NULL)
		strbuf_addf(&sb, "\"data\": %s", data);
	strbuf_adds(&sb, "}");
	run_text(&t, sb.data);
	expect_refused(&t, SUBMIT_ERR_SHAPE, words);
	run_free(&t);
	strbuf_shutdown(&sb);
}

static void
submit_shape_needs_metadata_object_and_data_list(void)
{
	struct run t;

	shape_check(meta_ok, NULL, "data");
	shape_check(meta_ok, "{}", "data");
	shape_check(meta_ok, "null", "data");
	shape_check(meta_ok, "\"x\"", "data");
	shape_check(NULL, "[" RUN_ENTRY "]", "metadata");
	shape_check("[]", "[" RUN_ENTRY "]", "metadata");
	shape_check("null", "[" RUN_ENTRY "]", "metadata");
	run_text(&t, "[]");
	expect_refused(&t, SUBMIT_ERR_SHAPE, "object");
	run_free(&t);
}

static void
entries_check(const char *data, enum submit_error rc, const char *words)
{
	char *body = xasprintf(
	    "{\"metadata\": %s, \"data\": %s}", meta_ok, data);
	struct run t;

	run_text(&t, body);
	if (rc == SUBMIT_ERR_NONE)
		expect_ok(&t);
	else
		expect_refused(&t, rc, words);
	run_free(&t);
	free(body);
}

static void
submit_entry_must_be_an_object(void)
{
	entries_check("[4]", SUBMIT_ERR_FIELD, "data[0] object");
	entries_check("[\"x\"]", SUBMIT_ERR_FIELD, "data[0] object");
	entries_check(
	    "[" RUN_ENTRY ", []]", SUBMIT_ERR_FIELD, "data[1] object");
	entries_check("[null]", SUBMIT_ERR_FIELD, "data[0]");
}

static void
submit_second_entry_failure_names_index_and_field(void)
{
	entries_check("[" RUN_ENTRY ", {\"test_name\": \"t2\","
		      " \"np\": 2,"
		      " \"command\": \"c\","
		      " \"start_timestamp\": \"2026-01-01\","
		      " \"result_message\": \"m\","
		      " \"exit_value\": 0}]",
	    SUBMIT_ERR_FIELD, "data[1] test_result");
	entries_check("[" RUN_ENTRY ", {\"test_name\": \"t2\","
		      " \"np\": \"four\","
		      " \"command\": \"c\","
		      " \"start_timestamp\": \"2026-01-01\","
		      " \"result_message\": \"m\","
		      " \"test_result\": 1,"
		      " \"exit_value\": 0}]",
	    SUBMIT_ERR_FIELD, "data[1] np");
}

static void
submit_converts_every_entry(void)
{
	char *body = xasprintf("{\"metadata\": %s, \"data\": [%s,"
			       " {\"test_name\": \"t2\","
			       " \"np\": \"8\","
			       " \"command\": \"c2\","
			       " \"start_timestamp\": \"2026-01-02\","
			       " \"result_message\": \"m2\","
			       " \"test_result\": 0,"
			       " \"exit_value\": 1,"
			       " \"launcher\": \"mpirun\"}]}",
	    meta_ok, RUN_ENTRY);
	struct run t;

	run_text(&t, body);
	expect_ok(&t);
	CU_ASSERT_EQUAL(t.req.count, 2);
	expect_text(&t, 0, SF_TEST_NAME, "t");
	expect_text(&t, 0, SF_LAUNCHER, NULL);
	expect_text(&t, 1, SF_TEST_NAME, "t2");
	expect_text(&t, 1, SF_NP, "8");
	expect_text(&t, 1, SF_LAUNCHER, "mpirun");
	run_free(&t);
	free(body);
}

/* C06: keys the tables have no place for are ignored, not refused. */
static void
submit_ignores_unknown_keys(void)
{
	const struct kv meta[] = { { "organization", "\"example\"" },
		{ NULL, NULL } };
	const struct kv data[] = { { "bios_version", "\"1.2\"" },
		{ "variant", "[1, {\"x\": null}]" }, { "harasser_seed", "{}" },
		{ NULL, NULL } };
	struct run t;

	run_phase(&t, SUBMIT_PHASE_RUN, meta, data);
	expect_ok(&t);
	run_free(&t);
}

static const struct cunit_case submit_cases[] = {
	{ "fields_bind_names_missing_column",
	    fields_bind_names_missing_column },
	{ "fields_bind_reads_lengths_from_catalogue",
	    fields_bind_reads_lengths_from_catalogue },
	{ "fields_names_and_phase_tables", fields_names_and_phase_tables },
	{ "phase_parse_accepts_client_spellings",
	    phase_parse_accepts_client_spellings },
	{ "phase_parse_refuses_unknown_names",
	    phase_parse_refuses_unknown_names },
	{ "submit_reads_phase_spellings", submit_reads_phase_spellings },
	{ "submit_refuses_unknown_phase_naming_it",
	    submit_refuses_unknown_phase_naming_it },
	{ "submit_accepts_minimal_install", submit_accepts_minimal_install },
	{ "submit_accepts_minimal_build", submit_accepts_minimal_build },
	{ "submit_accepts_minimal_run", submit_accepts_minimal_run },
	{ "submit_requires_metadata_keys", submit_requires_metadata_keys },
	{ "submit_requires_metadata_keys_in_metadata",
	    submit_requires_metadata_keys_in_metadata },
	{ "submit_hostname_absent_or_null_uses_peer",
	    submit_hostname_absent_or_null_uses_peer },
	{ "submit_hostname_number_is_its_text",
	    submit_hostname_number_is_its_text },
	{ "submit_metadata_wins_over_entry", submit_metadata_wins_over_entry },
	{ "submit_bad_metadata_value_names_the_metadata",
	    submit_bad_metadata_value_names_the_metadata },
	{ "submit_reads_phase_fields_from_metadata",
	    submit_reads_phase_fields_from_metadata },
	{ "submit_http_username_is_authenticated_user",
	    submit_http_username_is_authenticated_user },
	{ "submit_requires_install_fields", submit_requires_install_fields },
	{ "submit_requires_build_fields", submit_requires_build_fields },
	{ "submit_requires_run_fields", submit_requires_run_fields },
	{ "submit_null_optional_counts_as_absent",
	    submit_null_optional_counts_as_absent },
	{ "submit_integers_accept_digits_only",
	    submit_integers_accept_digits_only },
	{ "submit_integers_refuse_out_of_range",
	    submit_integers_refuse_out_of_range },
	{ "submit_bools_are_true_only_for_1_and_true",
	    submit_bools_are_true_only_for_1_and_true },
	{ "submit_bit_fields_convert_codes_and_words",
	    submit_bit_fields_convert_codes_and_words },
	{ "submit_duration_takes_interval_text_or_seconds",
	    submit_duration_takes_interval_text_or_seconds },
	{ "submit_start_timestamp_must_be_a_string",
	    submit_start_timestamp_must_be_a_string },
	{ "submit_text_takes_strings_and_numbers",
	    submit_text_takes_strings_and_numbers },
	{ "submit_metadata_text_refuses_lists",
	    submit_metadata_text_refuses_lists },
	{ "submit_hostname_length_counts_characters",
	    submit_hostname_length_counts_characters },
	{ "submit_local_username_length_counts_characters",
	    submit_local_username_length_counts_characters },
	{ "submit_entry_text_length_counts_characters",
	    submit_entry_text_length_counts_characters },
	{ "submit_http_username_limit_is_16_characters",
	    submit_http_username_limit_is_16_characters },
	{ "submit_nul_in_text_arrives_as_replacement_character",
	    submit_nul_in_text_arrives_as_replacement_character },
	{ "submit_latency_lists_become_array_literals",
	    submit_latency_lists_become_array_literals },
	{ "submit_id_is_read_from_metadata", submit_id_is_read_from_metadata },
	{ "submit_id_refuses_non_integers", submit_id_refuses_non_integers },
	{ "submit_shape_needs_metadata_object_and_data_list",
	    submit_shape_needs_metadata_object_and_data_list },
	{ "submit_entry_must_be_an_object", submit_entry_must_be_an_object },
	{ "submit_second_entry_failure_names_index_and_field",
	    submit_second_entry_failure_names_index_and_field },
	{ "submit_converts_every_entry", submit_converts_every_entry },
	{ "submit_ignores_unknown_keys", submit_ignores_unknown_keys },
};

int
main(void)
{
	char *cause = NULL;

	/* As mttd's start-up does, before any request is checked. */
	if (submit_fields_bind(NULL, &cause) != 0) {
		fprintf(stderr, "submit_fields_bind: %s\n", cause);
		free(cause);
		return 2;
	}
	return cunit_run(
	    "submit_fields", submit_cases, CUNIT_NCASES(submit_cases));
}
