/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of json_doc: every JSON type, raw number text, NUL made
 * U+FFFD, strict UTF-8, the depth limit and what counts as a syntax error.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "json_doc.h"
#include "strbuf.h"

/* Parse len bytes of text with a depth limit of 64; must succeed. */
static struct json_value *
parse_ok(const char *text, size_t len)
{
	enum json_doc_error err = JSON_DOC_SYNTAX;
	struct json_value *v;
	char *cause = NULL;

	v = json_doc_parse(text, len, 64, &err, &cause);
	if (v == NULL)
		fprintf(stderr, "\n  unexpected failure: %s\n", cause);
	CU_ASSERT_PTR_NOT_NULL(v);
	CU_ASSERT_EQUAL(err, JSON_DOC_OK);
	CU_ASSERT_PTR_NULL(cause);
	free(cause);
	return v;
}

#define PARSE_OK(lit) parse_ok((lit), sizeof(lit) - 1)

/* Parse len bytes with max_depth; must fail with want. */
static void
parse_fails(
    const char *text, size_t len, unsigned max_depth, enum json_doc_error want)
{
	enum json_doc_error err = JSON_DOC_OK;
	struct json_value *v;
	char *cause = NULL;

	v = json_doc_parse(text, len, max_depth, &err, &cause);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL(err, want);
	CU_ASSERT_PTR_NOT_NULL(cause);
	if (cause != NULL)
		CU_ASSERT_TRUE(
		    strlen(cause) > 0 && strchr(cause, '\n') == NULL);
	json_value_free(v);
	free(cause);
}

#define PARSE_SYNTAX(lit) \
	parse_fails((lit), sizeof(lit) - 1, 64, JSON_DOC_SYNTAX)

/* A text cut short loses its split last character, nothing else. */
static void
utf8_whole_prefix_never_splits_a_character(void)
{
	/* "a", "\xc3\xa9" (2 bytes), "\xe2\x82\xac" (3), "\xf0\x9f\x98\x80" (4). */
	static const char text[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	static const size_t want[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10 };
	size_t len;

	for (len = 0; len <= 10; len++)
		CU_ASSERT_EQUAL(utf8_whole_prefix(text, len), want[len]);
	CU_ASSERT_EQUAL(utf8_whole_prefix("abc", 3), 3);
}

/* Dropping the tree keeps the texts of strings and numbers. */
static void
json_drop_tree_keeps_texts(void)
{
	static const char text[] = "{\"s\": \"a\\u0000b\", \"n\": -1.5e3,"
				   " \"l\": [\"x\", 7], \"o\": {\"k\": \"v\"}}";
	struct json_value *v = PARSE_OK(text);
	const struct json_value *l, *o;
	const char *s, *n, *x, *seven, *val;

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	l = json_object_get(v, "l");
	o = json_object_get(v, "o");
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	s = json_object_get(v, "s")->u.string.ptr;
	n = json_object_get(v, "n")->u.number.text;
	x = l->u.array.items[0]->u.string.ptr;
	seven = l->u.array.items[1]->u.number.text;
	val = json_object_get(o, "k")->u.string.ptr;
	json_value_drop_tree(v);
	CU_ASSERT_EQUAL(v->type, JSON_NULL);
	CU_ASSERT_PTR_NULL(json_object_get(v, "s"));
	CU_ASSERT_STRING_EQUAL(s,
	    "a\xef\xbf\xbd"
	    "b");
	CU_ASSERT_STRING_EQUAL(n, "-1.5e3");
	CU_ASSERT_STRING_EQUAL(x, "x");
	CU_ASSERT_STRING_EQUAL(seven, "7");
	CU_ASSERT_STRING_EQUAL(val, "v");
	json_value_drop_tree(v); /* A second time does nothing. */
	CU_ASSERT_EQUAL(v->type, JSON_NULL);
	json_value_free(v);
}

static void
json_parses_every_type(void)
{
	const struct json_value *a, *o;
	struct json_value *v;

	v = PARSE_OK(
	    "{\"n\": null, \"t\": true, \"f\": false, \"i\": 4, "
	    "\"s\": \"text\", \"a\": [1, \"b\", []], \"o\": {\"k\": {}}}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL(v->type, JSON_OBJECT);
	CU_ASSERT_EQUAL(v->u.object.count, 7);
	CU_ASSERT_STRING_EQUAL(v->u.object.keys[0], "n");
	CU_ASSERT_EQUAL(json_object_get(v, "n")->type, JSON_NULL);
	CU_ASSERT_EQUAL(json_object_get(v, "t")->type, JSON_BOOL);
	CU_ASSERT_TRUE(json_object_get(v, "t")->u.boolean);
	CU_ASSERT_FALSE(json_object_get(v, "f")->u.boolean);
	CU_ASSERT_STRING_EQUAL(json_object_get(v, "i")->u.number.text, "4");
	CU_ASSERT_STRING_EQUAL(json_object_get(v, "s")->u.string.ptr, "text");
	CU_ASSERT_EQUAL(json_object_get(v, "s")->u.string.len, 4);

	a = json_object_get(v, "a");
	CU_ASSERT_EQUAL_FATAL(a->type, JSON_ARRAY);
	CU_ASSERT_EQUAL_FATAL(a->u.array.count, 3);
	CU_ASSERT_EQUAL(a->u.array.items[0]->type, JSON_NUMBER);
	CU_ASSERT_STRING_EQUAL(a->u.array.items[1]->u.string.ptr, "b");
	CU_ASSERT_EQUAL(a->u.array.items[2]->type, JSON_ARRAY);
	CU_ASSERT_EQUAL(a->u.array.items[2]->u.array.count, 0);

	o = json_object_get(json_object_get(v, "o"), "k");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->type, JSON_OBJECT);
	CU_ASSERT_EQUAL(o->u.object.count, 0);
	json_value_free(v);
}

static void
json_parses_scalar_documents(void)
{
	struct json_value *v;

	v = PARSE_OK(" 4 ");
	CU_ASSERT_EQUAL(v->type, JSON_NUMBER);
	json_value_free(v);
	v = PARSE_OK("\"s\"");
	CU_ASSERT_EQUAL(v->type, JSON_STRING);
	json_value_free(v);
	v = PARSE_OK("null");
	CU_ASSERT_EQUAL(v->type, JSON_NULL);
	json_value_free(v);
}

static void
json_keeps_raw_number_text(void)
{
	static const char *const texts[] = {
		"4",
		"-1",
		"4.5",
		"1e1",
		"123456789012345678901234567890",
		"-0",
		"1E+2",
		"0.000001",
		"-12.5e-3",
	};
	char buf[64];
	struct json_value *v;
	size_t i;

	for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		snprintf(buf, sizeof buf, "[%s]", texts[i]);
		v = parse_ok(buf, strlen(buf));
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		CU_ASSERT_EQUAL_FATAL(v->u.array.count, 1);
		CU_ASSERT_EQUAL(v->u.array.items[0]->type, JSON_NUMBER);
		CU_ASSERT_STRING_EQUAL(
		    v->u.array.items[0]->u.number.text, texts[i]);
		CU_ASSERT_EQUAL(
		    v->u.array.items[0]->u.number.len, strlen(texts[i]));
		json_value_free(v);
	}
}

static void
json_number_is_integer_only_for_digits(void)
{
	static const struct {
		const char *text;
		bool integer;
	} cases[] = {
		{ "4", true },
		{ "-1", true },
		{ "0", true },
		{ "-0", true },
		{ "123456789012345678901234567890", true },
		{ "4.5", false },
		{ "1e1", false },
		{ "1E+2", false },
		{ "4.0", false },
		{ "\"4\"", false },
		{ "true", false },
	};
	struct json_value *v;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		v = parse_ok(cases[i].text, strlen(cases[i].text));
		CU_ASSERT_EQUAL(json_number_is_integer(v), cases[i].integer);
		json_value_free(v);
	}
	CU_ASSERT_FALSE(json_number_is_integer(NULL));
}

static void
json_replaces_nul_in_values(void)
{
	struct json_value *v;

	v = PARSE_OK("[\"a\\u0000b\", \"\\u0000\", \"\\u0000\\u0000\"]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL_FATAL(v->u.array.items[0]->u.string.len, 5);
	CU_ASSERT_EQUAL(memcmp(v->u.array.items[0]->u.string.ptr,
			    "a\xef\xbf\xbd"
			    "b",
			    6),
	    0);
	CU_ASSERT_EQUAL_FATAL(v->u.array.items[1]->u.string.len, 3);
	CU_ASSERT_EQUAL(
	    memcmp(v->u.array.items[1]->u.string.ptr, "\xef\xbf\xbd", 4), 0);
	CU_ASSERT_EQUAL(v->u.array.items[2]->u.string.len, 6);
	CU_ASSERT_STRING_EQUAL(
	    v->u.array.items[2]->u.string.ptr, "\xef\xbf\xbd\xef\xbf\xbd");
	json_value_free(v);
}

static void
json_replaces_nul_in_keys(void)
{
	struct json_value *v;

	v = PARSE_OK("{\"k\\u0000\": 1, \"\\u0000x\": 2}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL(memcmp(v->u.object.keys[0], "k\xef\xbf\xbd", 5), 0);
	CU_ASSERT_EQUAL(memcmp(v->u.object.keys[1], "\xef\xbf\xbdx", 5), 0);
	CU_ASSERT_STRING_EQUAL(
	    json_object_get(v, "\xef\xbf\xbdx")->u.number.text, "2");
	CU_ASSERT_PTR_NULL(json_object_get(v, "k"));
	json_value_free(v);
}

static void
json_rejects_invalid_utf8(void)
{
	PARSE_SYNTAX("\"\xff\xfe\"");
	PARSE_SYNTAX("{\"\xff\xfe\": 1}");
	PARSE_SYNTAX("[\"ok\", \"a\xff\"]");
	PARSE_SYNTAX("\"\xc3\""); /* Cut sequence. */
}

static void
json_rejects_overlong_utf8_and_surrogates(void)
{
	PARSE_SYNTAX("\"\xc0\xaf\"");	      /* Overlong '/'. */
	PARSE_SYNTAX("\"\xe0\x80\xaf\"");     /* Overlong, 3 bytes. */
	PARSE_SYNTAX("\"\xed\xa0\x80\"");     /* Raw surrogate. */
	PARSE_SYNTAX("\"\xf4\x90\x80\x80\""); /* Past U+10FFFF. */
	PARSE_SYNTAX("\"\\udc00\"");	      /* Lone low surrogate. */
	PARSE_SYNTAX("{\"\\udc00\": 1}");
}

/* A high surrogate's escape with no low one after it: yajl would write
 * '?', or join it with the next escape into another character. */
static void
json_rejects_lone_high_surrogates(void)
{
	static const char *const bad[] = { "\"\\ud800\"", "\"\\ud800abc\"",
		"\"\\ud800\\u0041\"", "\"\\uD800\\uD800\"", "{\"\\udbff\": 1}",
		"[\"x\", \"\\ud83d\\n\"]", "\"\\ud83d\\ude0", "\"\\ud83d\\" };
	static const size_t at[] = { 1, 1, 1, 1, 2, 7, 1, 1 };
	enum json_doc_error err;
	char *cause;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char want[64];

		cause = NULL;
		CU_ASSERT_PTR_NULL(
		    json_doc_parse(bad[i], strlen(bad[i]), 64, &err, &cause));
		CU_ASSERT_EQUAL(err, JSON_DOC_SYNTAX);
		snprintf(
		    want, sizeof want, "invalid JSON at byte %zu: \\u", at[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(cause);
		CU_ASSERT_EQUAL(strncmp(cause, want, strlen(want)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(cause,
		    ", a high surrogate, is not followed by a low one"
		    " (\\uDC00 to \\uDFFF)"));
		free(cause);
	}
}

/* An empty body, as the router may pass it (NULL), is a syntax error
 * like "" (the surrogate check must not read it). */
static void
json_empty_body_may_be_null(void)
{
	enum json_doc_error err, err_empty;
	char *cause = NULL, *cause_empty = NULL;

	CU_ASSERT_PTR_NULL(json_doc_parse(NULL, 0, 64, &err, &cause));
	CU_ASSERT_PTR_NULL(json_doc_parse("", 0, 64, &err_empty, &cause_empty));
	CU_ASSERT_EQUAL(err, JSON_DOC_SYNTAX);
	CU_ASSERT_EQUAL(err_empty, JSON_DOC_SYNTAX);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cause);
	CU_ASSERT_STRING_EQUAL(cause, cause_empty);
	free(cause);
	free(cause_empty);
}

/* An escaped backslash before "ud800" is text, not an escape; a pair
 * decodes; a lone high surrogate's cause quotes it. */
static void
json_reads_escaped_backslash_and_pairs(void)
{
	struct json_value *v;
	enum json_doc_error err;
	char *cause = NULL;

	v = PARSE_OK("[\"\\\\ud800\", \"\\ud83d\\ude00\", \"a\\\\\"]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v->u.array.items[0]->u.string.ptr, "\\ud800");
	CU_ASSERT_STRING_EQUAL(
	    v->u.array.items[1]->u.string.ptr, "\xf0\x9f\x98\x80");
	CU_ASSERT_STRING_EQUAL(v->u.array.items[2]->u.string.ptr, "a\\");
	json_value_free(v);
	CU_ASSERT_PTR_NULL(
	    json_doc_parse("\"\\uD83Dx\"", 10, 64, &err, &cause));
	CU_ASSERT_STRING_EQUAL(cause,
	    "invalid JSON at byte 1: \\uD83D, a high surrogate, is not"
	    " followed by a low one (\\uDC00 to \\uDFFF)");
	free(cause);
}

static void
json_accepts_valid_utf8(void)
{
	struct json_value *v;

	v = PARSE_OK("[\"\xc3\xbc\xe2\x82\xac\xf0\x9d\x84\x9e\", "
		     "\"\\u00fc\\u20ac\\ud834\\udd1e\"]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v->u.array.items[0]->u.string.ptr,
	    "\xc3\xbc\xe2\x82\xac\xf0\x9d\x84\x9e");
	CU_ASSERT_STRING_EQUAL(v->u.array.items[1]->u.string.ptr,
	    "\xc3\xbc\xe2\x82\xac\xf0\x9d\x84\x9e");
	json_value_free(v);
	CU_ASSERT_TRUE(json_utf8_valid("", 0));
	CU_ASSERT_FALSE(json_utf8_valid("\xe2\x82", 2));
}

/* A document of depth opening brackets around 1. */
static char *
nested(unsigned depth)
{
	char *s = malloc(2 * (size_t)depth + 2);
	unsigned i;

	for (i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth + 1 + i] = ']';
	}
	s[depth] = '1';
	s[2 * (size_t)depth + 1] = '\0';
	return s;
}

static void
json_rejects_nesting_deeper_than_limit(void)
{
	enum json_doc_error err;
	struct json_value *v;
	char *s, *cause = NULL;

	s = nested(3);
	v = json_doc_parse(s, strlen(s), 3, &err, &cause);
	CU_ASSERT_PTR_NOT_NULL(v);
	json_value_free(v);
	free(s);
	s = nested(4);
	parse_fails(s, strlen(s), 3, JSON_DOC_TOO_DEEP);
	free(s);
	parse_fails("{\"a\":{\"b\":{\"c\":{}}}}", 21, 3, JSON_DOC_TOO_DEEP);
	parse_fails("[]", 2, 0, JSON_DOC_TOO_DEEP);

	/* 64 levels parse and free; far deeper input stops at 65. */
	s = nested(64);
	json_value_free(parse_ok(s, strlen(s)));
	free(s);
	s = nested(100000);
	parse_fails(s, strlen(s), 64, JSON_DOC_TOO_DEEP);
	free(s);
}

static void
json_too_deep_cause_names_limit(void)
{
	enum json_doc_error err;
	char *cause = NULL;

	CU_ASSERT_PTR_NULL(json_doc_parse("[[[]]]", 6, 2, &err, &cause));
	CU_ASSERT_EQUAL(err, JSON_DOC_TOO_DEEP);
	CU_ASSERT_STRING_EQUAL(cause, "nesting deeper than 2 levels");
	free(cause);
}

static void
json_rejects_empty_body(void)
{
	parse_fails("", 0, 64, JSON_DOC_SYNTAX);
	PARSE_SYNTAX("   \r\n\t ");
}

static void
json_rejects_trailing_garbage(void)
{
	PARSE_SYNTAX("{} x");
	PARSE_SYNTAX("{}{}");
	PARSE_SYNTAX("1 2");
	PARSE_SYNTAX("[1],");
	PARSE_SYNTAX("{}\0");
	/* A string left open after the value: yajl 2.1 never looks at it
	 * (found by the json_doc fuzz target). */
	PARSE_SYNTAX("{\"a\":1}\"junk");
	PARSE_SYNTAX("{\"a\":1}\"");
	PARSE_SYNTAX("{\"a\":1} \"x");
	PARSE_SYNTAX("[1]\"");
	PARSE_SYNTAX("1\"abc");
	PARSE_SYNTAX("1\"\xc0\x8a");

	/* White space after the value is fine, a value at the end too. */
	json_value_free(parse_ok("{\"a\":1} \r\n\t", 11));
	json_value_free(parse_ok("123", 3));
	json_value_free(parse_ok("\"s\"  ", 5));
	json_value_free(parse_ok("[1] ", 4));
}

/* A document of n members: an object of keys k0..kn-1, or an array of 0s. */
static char *
big_document(size_t n, bool object)
{
	size_t cap = n * 16 + 16, len = 0, i;
	char *s = malloc(cap);

	s[len++] = object ? '{' : '[';
	for (i = 0; i < n; i++) {
		if (object)
			len += (size_t)snprintf(s + len, cap - len,
			    "%s\"k%zu\":0", i ? "," : "", i);
		else
			len += (size_t)snprintf(
			    s + len, cap - len, "%s0", i ? "," : "");
	}
	s[len++] = object ? '}' : ']';
	s[len] = '\0';
	return s;
}

static void
json_bounds_keys_and_values(void)
{
	char *s;

	s = big_document(JSON_DOC_MAX_KEYS, true);
	json_value_free(parse_ok(s, strlen(s)));
	free(s);
	s = big_document(JSON_DOC_MAX_KEYS + 1, true);
	parse_fails(s, strlen(s), 64, JSON_DOC_TOO_BIG);
	free(s);
	/* The array itself is one of the values. */
	s = big_document(JSON_DOC_MAX_NODES - 1, false);
	json_value_free(parse_ok(s, strlen(s)));
	free(s);
	s = big_document(JSON_DOC_MAX_NODES, false);
	parse_fails(s, strlen(s), 64, JSON_DOC_TOO_BIG);
	free(s);
}

static void
json_rejects_comments_and_truncation(void)
{
	PARSE_SYNTAX("{/* c */}");
	PARSE_SYNTAX("// c\n{}");
	PARSE_SYNTAX("{\"a\":");
	PARSE_SYNTAX("[1, 2");
	PARSE_SYNTAX("{\"a\": [1, 2, {\"b\": \"c\"}");
	PARSE_SYNTAX("\"a\nb\""); /* Raw control character. */
	PARSE_SYNTAX("[01]");
	PARSE_SYNTAX("{'a': 1}");
}

static void
json_syntax_cause_names_byte(void)
{
	enum json_doc_error err;
	char *cause = NULL;

	CU_ASSERT_PTR_NULL(json_doc_parse("[1, x]", 6, 64, &err, &cause));
	CU_ASSERT_EQUAL(err, JSON_DOC_SYNTAX);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cause);
	CU_ASSERT_EQUAL(strncmp(cause, "invalid JSON at byte ", 21), 0);
	free(cause);
}

static void
json_parses_only_len_bytes(void)
{
	struct json_value *v;

	v = parse_ok("{}garbage", 2);
	CU_ASSERT_PTR_NOT_NULL(v);
	json_value_free(v);
}

static void
json_duplicate_key_last_wins(void)
{
	struct json_value *v;

	v = PARSE_OK("{\"a\": 1, \"b\": 0, \"a\": 2}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(json_object_get(v, "a")->u.number.text, "2");
	CU_ASSERT_EQUAL(v->u.object.count, 3);
	json_value_free(v);
}

static void
json_object_get_answers_null_when_absent(void)
{
	struct json_value *v;

	v = PARSE_OK("{\"a\": 1}");
	CU_ASSERT_PTR_NULL(json_object_get(v, "b"));
	CU_ASSERT_PTR_NULL(json_object_get(NULL, "a"));
	json_value_free(v);
	v = PARSE_OK("[\"a\"]");
	CU_ASSERT_PTR_NULL(json_object_get(v, "a"));
	json_value_free(v);
	json_value_free(NULL);
}

static void
json_parses_large_array(void)
{
	size_t i, n = 20000;
	char *s = malloc(2 * n + 2);
	struct json_value *v;

	s[0] = '[';
	for (i = 0; i < n; i++) {
		s[1 + 2 * i] = '7';
		s[2 + 2 * i] = i + 1 < n ? ',' : ']';
	}
	s[2 * n + 1] = '\0';
	v = parse_ok(s, strlen(s));
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL(v->u.array.count, n);
	CU_ASSERT_STRING_EQUAL(v->u.array.items[n - 1]->u.number.text, "7");
	json_value_free(v);
	free(s);
}

static void
json_type_names_read_well(void)
{
	CU_ASSERT_STRING_EQUAL(json_type_name(JSON_NULL), "null");
	CU_ASSERT_STRING_EQUAL(json_type_name(JSON_BOOL), "boolean");
	CU_ASSERT_STRING_EQUAL(json_type_name(JSON_NUMBER), "number");
	CU_ASSERT_STRING_EQUAL(json_type_name(JSON_STRING), "string");
	CU_ASSERT_STRING_EQUAL(json_type_name(JSON_ARRAY), "array");
	CU_ASSERT_STRING_EQUAL(json_type_name(JSON_OBJECT), "object");
}

static const struct cunit_case json_cases[] = {
	{ "json_parses_every_type", json_parses_every_type },
	{ "json_drop_tree_keeps_texts", json_drop_tree_keeps_texts },
	{ "utf8_whole_prefix_never_splits_a_character",
	    utf8_whole_prefix_never_splits_a_character },
	{ "json_parses_scalar_documents", json_parses_scalar_documents },
	{ "json_keeps_raw_number_text", json_keeps_raw_number_text },
	{ "json_number_is_integer_only_for_digits",
	    json_number_is_integer_only_for_digits },
	{ "json_replaces_nul_in_values", json_replaces_nul_in_values },
	{ "json_replaces_nul_in_keys", json_replaces_nul_in_keys },
	{ "json_rejects_invalid_utf8", json_rejects_invalid_utf8 },
	{ "json_rejects_overlong_utf8_and_surrogates",
	    json_rejects_overlong_utf8_and_surrogates },
	{ "json_rejects_lone_high_surrogates",
	    json_rejects_lone_high_surrogates },
	{ "json_empty_body_may_be_null", json_empty_body_may_be_null },
	{ "json_reads_escaped_backslash_and_pairs",
	    json_reads_escaped_backslash_and_pairs },
	{ "json_accepts_valid_utf8", json_accepts_valid_utf8 },
	{ "json_rejects_nesting_deeper_than_limit",
	    json_rejects_nesting_deeper_than_limit },
	{ "json_too_deep_cause_names_limit", json_too_deep_cause_names_limit },
	{ "json_rejects_empty_body", json_rejects_empty_body },
	{ "json_rejects_trailing_garbage", json_rejects_trailing_garbage },
	{ "json_bounds_keys_and_values", json_bounds_keys_and_values },
	{ "json_rejects_comments_and_truncation",
	    json_rejects_comments_and_truncation },
	{ "json_syntax_cause_names_byte", json_syntax_cause_names_byte },
	{ "json_parses_only_len_bytes", json_parses_only_len_bytes },
	{ "json_duplicate_key_last_wins", json_duplicate_key_last_wins },
	{ "json_object_get_answers_null_when_absent",
	    json_object_get_answers_null_when_absent },
	{ "json_parses_large_array", json_parses_large_array },
	{ "json_type_names_read_well", json_type_names_read_well },
};

int
main(void)
{
	return cunit_run("json_doc", json_cases, CUNIT_NCASES(json_cases));
}
