/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON documents: a request body parsed by yajl into a tree that keeps
 * string lengths and the raw text of numbers, with every NUL in a string
 * replaced by U+FFFD, and nesting, values and keys per object bounded.
 */
#ifndef MTTD_JSON_DOC_H
#define MTTD_JSON_DOC_H

#include <stdbool.h>
#include <stddef.h>

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER, /* Raw text as sent: "4", "-1", "4.5", "1e1". */
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

struct json_value {
	enum json_type type;
	union {
		bool boolean;
		struct {
			char *text; /* NUL-terminated. */
			size_t len;
		} number;
		struct {
			char *ptr;  /* NUL-terminated, never holds NUL. */
			size_t len; /* Bytes, without the terminator. */
		} string;
		struct {
			struct json_value **items;
			size_t count;
		} array;
		struct {
			char **keys; /* NUL-terminated, NULs replaced. */
			struct json_value **values;
			size_t count;
		} object;
	} u;
};

/* Why a parse failed: the body is not JSON, or it is too deep. */
enum json_doc_error {
	JSON_DOC_OK,
	JSON_DOC_SYNTAX,   /* Not JSON, or invalid UTF-8. */
	JSON_DOC_TOO_DEEP, /* Nesting over max_depth. */
	JSON_DOC_TOO_BIG   /* Over JSON_DOC_MAX_NODES or JSON_DOC_MAX_KEYS. */
};

/* Most values (of any kind, containers too) one document may hold. */
#define JSON_DOC_MAX_NODES 2000000

/* Most keys one object may hold. */
#define JSON_DOC_MAX_KEYS 100000

/*
 * Parse len bytes of buf.  Returns the tree (free it with
 * json_value_free), or NULL with *err and *cause set (the caller frees
 * cause).  An empty or all-blank buffer is a syntax error.
 */
struct json_value *json_doc_parse(const char *buf, size_t len,
    unsigned max_depth, enum json_doc_error *err, char **cause)
    __attribute__((warn_unused_result));

/*
 * Free a tree that json_doc_parse returned, whole (its values live in one
 * arena: never pass a value inside it); NULL is allowed.
 */
void json_value_free(struct json_value *v);

/*
 * Free every value of a tree that json_doc_parse returned but the texts
 * of its strings and numbers, which stay valid until json_value_free:
 * for a caller that has taken what it needs (pointers to texts) and
 * holds the texts for long.  The root reads as null afterwards.
 */
void json_value_drop_tree(struct json_value *v);

/* The value of key in an object (the last one when repeated), or NULL. */
const struct json_value *json_object_get(
    const struct json_value *obj, const char *key);

/* True for a JSON number written as an optional '-' and digits only. */
bool json_number_is_integer(const struct json_value *v);

/*
 * True when len bytes of s are well-formed UTF-8: no overlong forms,
 * surrogates or code points past U+10FFFF.
 */
bool json_utf8_valid(const char *s, size_t len);

/* Name of a type, for messages ("string", "array", ...). */
const char *json_type_name(enum json_type type);

#endif /* MTTD_JSON_DOC_H */
