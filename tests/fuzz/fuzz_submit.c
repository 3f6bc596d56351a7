/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the /submit validation: a body parsed as the
 * router parses it, then submit_request_parse as the handler runs it,
 * against a catalogue of schema-v3's columns held in memory.
 */
#include "config.h"

#define FUZZ_TARGET "fuzz_submit"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_catalog.h"
#include "json_doc.h"
#include "log.h"
#include "router.h"
#include "submit_fields.h"
#include "../unit/schema_v3_columns.h"
#include "fuzz_common.h"

#define NITEMS(a) (sizeof(a) / sizeof(a)[0])

/* The catalogue submit_fields.c reads (db_catalog.c is not linked). */
int
db_catalog_column(const struct db_catalog *cat, const char *table,
    const char *column, const char **type, int *max_chars)
{
	size_t i;

	(void)cat;
	for (i = 0; i < NITEMS(schema_v3); i++) {
		if (strcmp(schema_v3[i].table, table) == 0 &&
		    strcmp(schema_v3[i].column, column) == 0) {
			*type = schema_v3[i].type;
			*max_chars = schema_v3[i].max_chars;
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
	    (const char *)data, size, ROUTER_MAX_JSON_DEPTH, &err, &cause);
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
