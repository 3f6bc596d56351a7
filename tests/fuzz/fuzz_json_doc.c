/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for json_doc_parse: any bytes, parsed as the router
 * parses a request body, then every node of the tree is walked and the
 * promises of json_doc.h are checked (lengths, no NUL, valid UTF-8).
 */
#include "config.h"

#define FUZZ_TARGET "fuzz_json_doc"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "log.h"
#include "router.h"
#include "fuzz_common.h"

/* A string as json_doc.h describes it: len bytes, NUL-terminated. */
static void
fuzz_check_text(const char *s, size_t len)
{
	fuzz_require(s != NULL, "string pointer is NULL");
	fuzz_require(s[len] == '\0', "string not NUL-terminated at len");
	fuzz_require(memchr(s, '\0', len) == NULL, "string holds a NUL");
	fuzz_require(json_utf8_valid(s, len), "string is not UTF-8");
}

/* Walk v, checking every node; depth bounds the recursion. */
static void
fuzz_walk(const struct json_value *v, unsigned depth)
{
	size_t i;

	fuzz_require(v != NULL, "NULL node in tree");
	fuzz_require(
	    depth <= ROUTER_MAX_JSON_DEPTH + 1, "tree deeper than limit");
	(void)json_type_name(v->type);
	switch (v->type) {
	case JSON_NULL:
	case JSON_BOOL:
		break;
	case JSON_NUMBER:
		fuzz_require(v->u.number.len == strlen(v->u.number.text),
		    "number length");
		(void)json_number_is_integer(v);
		break;
	case JSON_STRING:
		fuzz_check_text(v->u.string.ptr, v->u.string.len);
		break;
	case JSON_ARRAY:
		for (i = 0; i < v->u.array.count; i++)
			fuzz_walk(v->u.array.items[i], depth + 1);
		break;
	case JSON_OBJECT:
		for (i = 0; i < v->u.object.count; i++) {
			fuzz_check_text(
			    v->u.object.keys[i], strlen(v->u.object.keys[i]));
			fuzz_require(
			    json_object_get(v, v->u.object.keys[i]) != NULL,
			    "json_object_get misses a key");
			fuzz_walk(v->u.object.values[i], depth + 1);
		}
		break;
	default:
		fuzz_require(0, "unknown node type");
	}
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
	enum json_doc_error err = JSON_DOC_OK;
	char *cause = NULL;
	struct json_value *v;

	/* The validator on its own, on raw bytes. */
	(void)json_utf8_valid((const char *)data, size);

	v = json_doc_parse(
	    (const char *)data, size, ROUTER_MAX_JSON_DEPTH, &err, &cause);
	if (v == NULL) {
		fuzz_require(err == JSON_DOC_SYNTAX || err == JSON_DOC_TOO_DEEP,
		    "NULL tree without an error");
		free(cause);
		return 0;
	}
	free(cause);
	fuzz_require(json_utf8_valid((const char *)data, size),
	    "invalid UTF-8 accepted");
	fuzz_walk(v, 0);
	json_value_free(v);
	return 0;
}
