/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the query endpoints: one body parsed as the
 * router parses it, then checked by query_spec_parse as each of /detail,
 * /summary, /info/runtime and /info/testsuite would, and turned into SQL
 * by query_sql_build when accepted.
 */
#include "config.h"

#define FUZZ_TARGET "fuzz_query"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "log.h"
#include "query_spec.h"
#include "query_sql.h"
#include "router.h"
#include "fuzz_common.h"

/* Every $n of sql names a parameter q has; values hold no NUL. */
static void
fuzz_check_sql(const struct query_spec *q, const char *sql)
{
	const char *p;
	int i;

	for (i = 0; i < q->nparams; i++) {
		fuzz_require(q->params[i].value != NULL, "NULL parameter");
		(void)strlen(q->params[i].value);
	}
	for (p = strchr(sql, '$'); p != NULL; p = strchr(p + 1, '$')) {
		long n;

		if (!isdigit((unsigned char)p[1]))
			continue;
		n = strtol(p + 1, NULL, 10);
		fuzz_require(n >= 1 && n <= q->nparams,
		    "SQL names a parameter that does not exist");
	}
}

/* One endpoint's checks on body. */
static void
fuzz_one_kind(enum query_kind kind, const struct json_value *body)
{
	struct query_spec q;
	char *cause = NULL, *sql;

	if (!query_spec_parse(&q, kind, body, &cause)) {
		fuzz_require(cause != NULL, "refusal without a cause");
		(void)strlen(cause);
		free(cause);
		query_spec_free(&q);
		return;
	}
	free(cause);
	sql = query_sql_build(&q);
	fuzz_require(sql != NULL, "no SQL for an accepted query");
	fuzz_check_sql(&q, sql);
	free(sql);
	query_spec_free(&q);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_threshold = LOG_LEVEL_CRITICAL;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum query_kind kinds[] = { QK_DETAIL, QK_SUMMARY,
		QK_RUNTIME, QK_TESTSUITE };
	enum json_doc_error err;
	char *cause = NULL;
	struct json_value *body;
	size_t i;

	/* As router_read_body: only a JSON object reaches the handler. */
	body = json_doc_parse(
	    (const char *)data, size, ROUTER_MAX_JSON_DEPTH, &err, &cause);
	free(cause);
	if (body == NULL)
		return 0;
	if (body->type == JSON_OBJECT) {
		for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			fuzz_one_kind(kinds[i], body);
	}
	json_value_free(body);
	return 0;
}
