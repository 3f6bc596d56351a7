/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the /submit validation: a body parsed as the
 * router parses it, then submit_request_parse as the handler runs it,
 * against a catalogue of schema-v3's columns held in memory.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_catalog.h"
#include "json_doc.h"
#include "log.h"
#include "submit_fields.h"

/* The router's depth limit (router.c). */
#define FUZZ_MAX_DEPTH 32

#define NITEMS(a) (sizeof(a) / sizeof(a)[0])

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One column of the catalogue; -1: no length limit. */
struct fuzz_column {
	const char *table;
	const char *column;
	const char *type;
	int max_chars;
};

/* The columns submit_fields_bind asks for, as schema-v3.md has them. */
static const struct fuzz_column fuzz_schema[] = {
	{ "submit", "submit_id", "integer", -1 },
	{ "submit", "hostname", "character varying", 128 },
	{ "submit", "local_username", "character varying", 16 },
	{ "submit", "http_username", "character varying", 16 },
	{ "submit", "mtt_client_version", "character varying", 16 },
	{ "compute_cluster", "platform_name", "character varying", 128 },
	{ "compute_cluster", "platform_hardware", "character varying", 128 },
	{ "compute_cluster", "platform_type", "character varying", 128 },
	{ "compute_cluster", "os_name", "character varying", 128 },
	{ "compute_cluster", "os_version", "character varying", 128 },
	{ "compiler", "compiler_name", "character varying", 64 },
	{ "compiler", "compiler_version", "character varying", 64 },
	{ "mpi_get", "mpi_name", "character varying", 64 },
	{ "mpi_get", "mpi_version", "character varying", 128 },
	{ "mpi_install_configure_args", "vpath_mode", "bit", 2 },
	{ "mpi_install_configure_args", "bitness", "bit", 6 },
	{ "mpi_install_configure_args", "endian", "bit", 2 },
	{ "mpi_install_configure_args", "configure_arguments", "text", -1 },
	{ "description", "description", "text", -1 },
	{ "result_message", "result_message", "text", -1 },
	{ "environment", "environment", "text", -1 },
	{ "test_suites", "suite_name", "character varying", 32 },
	{ "test_names", "test_name", "character varying", 64 },
	{ "test_run_command", "launcher", "character varying", 128 },
	{ "test_run_command", "resource_mgr", "character varying", 32 },
	{ "test_run_command", "parameters", "text", -1 },
	{ "test_run_command", "network", "character varying", 32 },
	{ "latency_bandwidth", "message_size", "ARRAY", -1 },
	{ "latency_bandwidth", "latency_min", "ARRAY", -1 },
	{ "mpi_install", "start_timestamp", "timestamp without time zone", -1 },
	{ "mpi_install", "test_result", "smallint", -1 },
	{ "mpi_install", "trial", "boolean", -1 },
	{ "mpi_install", "duration", "interval", -1 },
	{ "mpi_install", "result_stdout", "text", -1 },
	{ "mpi_install", "result_stderr", "text", -1 },
	{ "mpi_install", "merge_stdout_stderr", "boolean", -1 },
	{ "mpi_install", "exit_value", "integer", -1 },
	{ "mpi_install", "exit_signal", "integer", -1 },
	{ "mpi_install", "client_serial", "integer", -1 },
	{ "test_build", "mpi_install_id", "integer", -1 },
	{ "test_build", "test_result", "smallint", -1 },
	{ "test_run", "test_build_id", "integer", -1 },
	{ "test_run", "np", "smallint", -1 },
	{ "test_run", "full_command", "text", -1 },
	{ "test_run", "test_result", "smallint", -1 },
};

/* The catalogue submit_fields.c reads (db_catalog.c is not linked). */
int
db_catalog_column(const struct db_catalog *cat, const char *table,
    const char *column, const char **type, int *max_chars)
{
	size_t i;

	(void)cat;
	for (i = 0; i < NITEMS(fuzz_schema); i++) {
		if (strcmp(fuzz_schema[i].table, table) == 0 &&
		    strcmp(fuzz_schema[i].column, column) == 0) {
			*type = fuzz_schema[i].type;
			*max_chars = fuzz_schema[i].max_chars;
			return 0;
		}
	}
	return -1;
}

const char *
db_catalog_server_version(const struct db_catalog *cat)
{
	(void)cat;
	return "15 (fuzz)";
}

/* Stop the run on a broken promise: libFuzzer keeps the input. */
static void
fuzz_require(int ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_submit: broken invariant: %s\n", what);
	abort();
}

/* A value bound as a libpq text parameter must hold no NUL. */
static void
fuzz_check_request(const struct submit_request *req)
{
	size_t i, f;

	/* "data": [] is a success too (conformance submit-empty-data-list). */
	fuzz_require(
	    req->count == 0 || req->entries != NULL, "entries missing");
	fuzz_require(req->hostname != NULL, "accepted without hostname");
	(void)strlen(req->hostname);
	if (req->local_username != NULL)
		(void)strlen(req->local_username);
	if (req->http_username != NULL)
		(void)strlen(req->http_username);
	if (req->mtt_client_version != NULL)
		(void)strlen(req->mtt_client_version);
	for (i = 0; i < req->count; i++) {
		for (f = 0; f < SF__COUNT; f++) {
			const struct submit_value *v = &req->entries[i].v[f];

			if (v->text == NULL)
				continue;
			fuzz_require(memchr(v->text, '\0', v->len) == NULL,
			    "value holds a NUL");
			fuzz_require(v->text[v->len] == '\0',
			    "value not NUL-terminated at len");
		}
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *cause = NULL;

	(void)argc;
	(void)argv;
	log_threshold = LOG_LEVEL_CRITICAL;
	if (submit_fields_bind(NULL, &cause) != 0) {
		fprintf(stderr, "submit_fields_bind: %s\n", cause);
		free(cause);
		exit(2);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum json_doc_error err;
	struct submit_request req;
	enum submit_error rc;
	char *cause = NULL;
	struct json_value *body;

	/* As router_read_body: only a JSON object reaches the handler. */
	body = json_doc_parse(
	    (const char *)data, size, FUZZ_MAX_DEPTH, &err, &cause);
	free(cause);
	cause = NULL;
	if (body == NULL)
		return 0;
	if (body->type != JSON_OBJECT) {
		json_value_free(body);
		return 0;
	}

	memset(&req, 0, sizeof req);
	rc = submit_request_parse(body, "mttuser", "127.0.0.1", &req, &cause);
	if (rc == SUBMIT_ERR_NONE) {
		fuzz_require(cause == NULL, "success with a cause");
		fuzz_check_request(&req);
	} else {
		fuzz_require(cause != NULL, "refusal without a cause");
		(void)strlen(cause);
	}
	free(cause);
	submit_request_free(&req);
	json_value_free(body);
	return 0;
}
