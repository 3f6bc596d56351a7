/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON documents: yajl's event parser builds a tree of struct json_value,
 * keeping the raw text of numbers, replacing NUL in strings and keys by
 * U+FFFD and refusing input that nests too deep or is not strict UTF-8.
 * The tree lives in two arenas, freed at once: a submission of a hundred
 * entries is a few thousand values, and a malloc and a free for each cost
 * more than yajl's parse.  One holds the texts of strings and numbers,
 * the other the values, keys and lists: a submission's converted values
 * point at texts only, so it drops the rest, two thirds of a tree of
 * small values, while it is stored.  Members of the open containers wait
 * on one stack and are copied to the arena, at their exact count, when
 * their container closes.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "arena.h"
#include "json_doc.h"
#include "strbuf.h"

/* An array or object still being filled. */
struct json_frame {
	struct json_value *v;
	size_t first; /* Its first member on the member stack. */
};

/* A member of an open container: its key (objects only) and value. */
struct json_member {
	char *key;
	struct json_value *value;
};

/* The root, with the arenas that hold the tree (see json_value_free);
 * itself in texts, so that it outlives json_value_drop_tree. */
struct json_root {
	struct arena *texts; /* Strings' and numbers' texts. */
	struct arena *nodes; /* Values, keys, lists of members. */
	struct json_value value;
};

/* What the yajl callbacks build into. */
struct json_builder {
	struct arena *texts, *nodes; /* As in struct json_root. */
	struct json_value *root;
	struct json_frame *stack;
	unsigned depth; /* Frames in use. */
	unsigned stack_cap;
	unsigned max_depth;
	struct json_member *members; /* Of every open container, in order. */
	size_t nmembers;
	size_t members_cap;
	char *key; /* An object key waiting for its value. */
	enum json_doc_error err;
	char *cause; /* Set when a callback cancels the parse. */

	/*
	 * Where the top-level value ended.  yajl 2.1 holds back a string
	 * left open at the end of its input and never looks at it, so
	 * '{"a":1}"junk' would pass: what follows the value is checked here.
	 */
	size_t nvalues; /* Values so far, against JSON_DOC_MAX_NODES. */

	yajl_handle h;
	bool in_parse;	  /* Inside yajl_parse, not yajl_complete_parse. */
	bool ended;	  /* The top-level value is complete. */
	size_t value_end; /* Its end, when it ended inside yajl_parse. */
};

bool
json_utf8_valid(const char *s, size_t len)
{
	const char *end = s + len;
	size_t n;

	while (s < end) {
		if ((n = utf8_sequence_length(s, (size_t)(end - s))) == 0)
			return false;
		s += n;
	}
	return true;
}

/*
 * Copy a decoded string into a with every NUL replaced by U+FFFD, or
 * NULL when it is not valid UTF-8.  yajl checks only the shape of raw
 * multi-byte sequences and lets \uDC00 through, so the result is checked
 * here.
 */
static char *
json_text_copy(
    struct arena *a, const unsigned char *s, size_t len, size_t *out_len)
{
	size_t i, nuls = 0, n = 0;
	char *out;

	if (!json_utf8_valid((const char *)s, len))
		return NULL;
	if (memchr(s, '\0', len) == NULL) {
		*out_len = len;
		return arena_strndup(a, (const char *)s, len);
	}
	for (i = 0; i < len; i++)
		nuls += s[i] == '\0';
	out = arena_text(a, len + 2 * nuls);
	for (i = 0; i < len; i++) {
		if (s[i] == '\0') {
			memcpy(out + n, "\xef\xbf\xbd", 3);
			n += 3;
		} else
			out[n++] = (char)s[i];
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* Stop the parse as a syntax error: a string is not valid UTF-8. */
static int
json_bad_utf8(struct json_builder *b)
{
	b->err = JSON_DOC_SYNTAX;
	b->cause = xstrdup("invalid UTF-8 in a string");
	return 0;
}

/* The top-level value just ended: note where (yajl's offset is just
 * past the token whose callback runs). */
static void
json_mark_end(struct json_builder *b)
{
	b->ended = true;
	b->value_end = b->in_parse ? yajl_get_bytes_consumed(b->h) : SIZE_MAX;
}

/* Attach v to the open container, or make it the root. */
static void
json_attach(struct json_builder *b, struct json_value *v)
{
	if (b->depth == 0) {
		b->root = v;
		if (v->type != JSON_ARRAY && v->type != JSON_OBJECT)
			json_mark_end(b);
		return;
	}
	if (b->nmembers == b->members_cap) {
		b->members_cap = b->members_cap ? b->members_cap * 2 : 64;
		b->members = xrealloc(
		    b->members, b->members_cap * sizeof *b->members);
	}
	b->members[b->nmembers++] = (struct json_member){ b->key, v };
	b->key = NULL;
}

/* A new value of type, attached where the parse is. */
/*
 * One more value; false once the document has too many.  A body of tiny
 * values costs about 30 times its size as a tree, and every object key
 * is found by a linear search: both are bounded here.
 */
static bool
json_count(struct json_builder *b)
{
	if (++b->nvalues <= JSON_DOC_MAX_NODES)
		return true;
	b->err = JSON_DOC_TOO_BIG;
	b->cause = xasprintf(
	    "more than %d values in one document", JSON_DOC_MAX_NODES);
	return false;
}

static struct json_value *
json_add(struct json_builder *b, enum json_type type)
{
	struct json_value *v;

	if (b->root == NULL) {
		struct json_root *root = arena_alloc(b->texts, sizeof *root);

		root->texts = b->texts;
		root->nodes = b->nodes;
		v = &root->value;
	} else
		v = arena_alloc(b->nodes, sizeof *v);
	v->type = type;
	json_attach(b, v);
	return v;
}

static int
json_null_cb(void *ctx)
{
	if (!json_count(ctx))
		return 0;
	json_add(ctx, JSON_NULL);
	return 1;
}

static int
json_boolean_cb(void *ctx, int value)
{
	if (!json_count(ctx))
		return 0;
	json_add(ctx, JSON_BOOL)->u.boolean = value != 0;
	return 1;
}

static int
json_number_cb(void *ctx, const char *text, size_t len)
{
	struct json_value *v;

	if (!json_count(ctx))
		return 0;
	v = json_add(ctx, JSON_NUMBER);
	v->u.number.text = arena_strndup(
	    ((struct json_builder *)ctx)->texts, text, len);
	v->u.number.len = len;
	return 1;
}

static int
json_string_cb(void *ctx, const unsigned char *s, size_t len)
{
	struct json_value *v;
	size_t n;
	char *copy;

	if (!json_count(ctx))
		return 0;
	if ((copy = json_text_copy(
		 ((struct json_builder *)ctx)->texts, s, len, &n)) == NULL)
		return json_bad_utf8(ctx);
	v = json_add(ctx, JSON_STRING);
	v->u.string.ptr = copy;
	v->u.string.len = n;
	return 1;
}

static int
json_map_key_cb(void *ctx, const unsigned char *s, size_t len)
{
	struct json_builder *b = ctx;
	size_t n;

	if (b->nmembers - b->stack[b->depth - 1].first >= JSON_DOC_MAX_KEYS) {
		b->err = JSON_DOC_TOO_BIG;
		b->cause = xasprintf(
		    "more than %d keys in one object", JSON_DOC_MAX_KEYS);
		return 0;
	}
	if ((b->key = json_text_copy(b->nodes, s, len, &n)) == NULL)
		return json_bad_utf8(b);
	return 1;
}

/* Open an array or object, unless that nests deeper than allowed. */
static int
json_open(struct json_builder *b, enum json_type type)
{
	if (!json_count(b))
		return 0;
	if (b->depth >= b->max_depth) {
		b->err = JSON_DOC_TOO_DEEP;
		b->cause = xasprintf(
		    "nesting deeper than %u levels", b->max_depth);
		return 0;
	}
	if (b->depth == b->stack_cap) {
		b->stack_cap = b->stack_cap == 0 ? 8 : b->stack_cap * 2;
		b->stack = xrealloc(b->stack, b->stack_cap * sizeof *b->stack);
	}
	b->stack[b->depth].v = json_add(b, type);
	b->stack[b->depth].first = b->nmembers;
	b->depth++;
	return 1;
}

static int
json_start_map_cb(void *ctx)
{
	return json_open(ctx, JSON_OBJECT);
}

static int
json_start_array_cb(void *ctx)
{
	return json_open(ctx, JSON_ARRAY);
}

/* Move the members of the innermost container into it, at their count. */
static void
json_close_members(struct json_builder *b)
{
	const struct json_frame *f = &b->stack[b->depth - 1];
	const struct json_member *m;
	struct json_value *c = f->v;
	size_t i, n = b->nmembers - f->first;

	if (n == 0)
		return; /* Empty: no members, count 0 (the arena zeroed it). */
	m = b->members + f->first;
	b->nmembers = f->first;
	if (c->type == JSON_ARRAY) {
		c->u.array.items = arena_alloc(
		    b->nodes, n * sizeof *c->u.array.items);
		for (i = 0; i < n; i++)
			c->u.array.items[i] = m[i].value;
		c->u.array.count = n;
		return;
	}
	c->u.object.keys = arena_alloc(b->nodes, n * sizeof *c->u.object.keys);
	c->u.object.values = arena_alloc(
	    b->nodes, n * sizeof *c->u.object.values);
	for (i = 0; i < n; i++) {
		c->u.object.keys[i] = m[i].key;
		c->u.object.values[i] = m[i].value;
	}
	c->u.object.count = n;
}

/* Close the innermost container; yajl has checked that it matches. */
static int
json_close_cb(void *ctx)
{
	struct json_builder *b = ctx;

	json_close_members(b);
	if (--b->depth == 0)
		json_mark_end(b);
	return 1;
}

/* yajl_number is set, so yajl_integer and yajl_double are never used. */
static const yajl_callbacks json_callbacks = {
	.yajl_null = json_null_cb,
	.yajl_boolean = json_boolean_cb,
	.yajl_number = json_number_cb,
	.yajl_string = json_string_cb,
	.yajl_start_map = json_start_map_cb,
	.yajl_map_key = json_map_key_cb,
	.yajl_end_map = json_close_cb,
	.yajl_start_array = json_start_array_cb,
	.yajl_end_array = json_close_cb,
};

/* The cause of a yajl error: its short message and the byte offset. */
static char *
json_yajl_cause(yajl_handle h, const char *buf, size_t len, size_t at)
{
	unsigned char *msg;
	size_t n;
	char *cause;

	msg = yajl_get_error(h, 0, (const unsigned char *)buf, len);
	n = strlen((char *)msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	cause = xasprintf(
	    "invalid JSON at byte %zu: %.*s", at, (int)n, (char *)msg);
	yajl_free_error(h, msg);
	return cause;
}

/* Only white space may follow the top-level value. */
static void
json_check_rest(struct json_builder *b, const char *buf, size_t len)
{
	size_t i;

	if (!b->ended || b->value_end == SIZE_MAX)
		return;
	for (i = b->value_end; i < len; i++) {
		if (strchr(" \t\r\n", buf[i]) == NULL || buf[i] == '\0') {
			b->err = JSON_DOC_SYNTAX;
			b->cause = xasprintf(
			    "invalid JSON at byte %zu: text after"
			    " the end of the document",
			    i);
			return;
		}
	}
}

/* Run yajl over buf into b; on failure b->err and b->cause are set. */
static int
json_run(struct json_builder *b, const char *buf, size_t len)
{
	yajl_status st;
	yajl_handle h;
	size_t at;

	h = yajl_alloc(&json_callbacks, NULL, b);
	if (h == NULL)
		abort(); /* Only when malloc fails: see strbuf.h. */
	yajl_config(h, yajl_allow_comments, 0);
	yajl_config(h, yajl_dont_validate_strings, 0);
	yajl_config(h, yajl_allow_trailing_garbage, 0);
	yajl_config(h, yajl_allow_multiple_values, 0);
	yajl_config(h, yajl_allow_partial_values, 0);

	b->h = h;
	b->in_parse = true;
	st = yajl_parse(h, (const unsigned char *)buf, len);
	b->in_parse = false;
	at = yajl_get_bytes_consumed(h);
	if (st == yajl_status_ok) {
		st = yajl_complete_parse(h);
		at = len;
	}
	if (st == yajl_status_ok && b->cause == NULL)
		json_check_rest(b, buf, len);
	if (st != yajl_status_ok && b->cause == NULL) {
		b->err = JSON_DOC_SYNTAX;
		b->cause = json_yajl_cause(h, buf, len, at);
	}
	yajl_free(h);
	return st == yajl_status_ok && b->cause == NULL ? 0 : -1;
}

/* The value of the four hex digits at p, or -1. */
static long
json_hex4(const char *p)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		int c = (unsigned char)p[i];

		if (!isxdigit(c))
			return -1;
		v = v * 16 + (isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
	}
	return v;
}

/*
 * The offset of a \u escape of a high surrogate (D800-DBFF) that no low
 * one's escape (DC00-DFFF) follows, or SIZE_MAX.  yajl writes '?' for
 * it, or joins it with whatever \u escape comes next into another
 * character: text stored changed.  (A lone low surrogate becomes bytes
 * json_text_copy refuses.)  Backslashes stand only in strings, each
 * starting an escape, so skipping escapes whole keeps "\\ud800" text.
 */
static size_t
json_lone_surrogate(const char *buf, size_t len)
{
	const char *p = buf, *end;
	long high, low;

	if (len == 0) /* An empty body may come as NULL. */
		return SIZE_MAX;
	end = buf + len;
	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		high = end - p >= 6 && p[1] == 'u' ? json_hex4(p + 2) : -1;
		if (high < 0 || (high & 0xFC00) != 0xD800) {
			/* Past another escape, or this one. */
			size_t step = high < 0 ? 2 : 6;

			if ((size_t)(end - p) <= step)
				break;
			p += step;
			continue;
		}
		low = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ?
		    json_hex4(p + 8) :
		    -1;
		if (low < 0 || (low & 0xFC00) != 0xDC00)
			return (size_t)(p - buf);
		p += 12;
	}
	return SIZE_MAX;
}

/* Free a tree's arenas (nodes may be NULL); the root lives in texts. */
static void
json_arenas_free(struct arena *texts, struct arena *nodes)
{
	if (nodes != NULL) {
		arena_release(nodes);
		free(nodes);
	}
	arena_release(texts);
	free(texts);
}

struct json_value *
json_doc_parse(const char *buf, size_t len, unsigned max_depth,
    enum json_doc_error *err, char **cause)
{
	struct json_builder b;
	size_t lone = json_lone_surrogate(buf, len);

	if (lone != SIZE_MAX) {
		*err = JSON_DOC_SYNTAX;
		*cause = xasprintf("invalid JSON at byte %zu: \\u%.4s, a high"
				   " surrogate, is not followed by a low one"
				   " (\\uDC00 to \\uDFFF)",
		    lone, buf + lone + 2);
		return NULL;
	}
	memset(&b, 0, sizeof b);
	b.max_depth = max_depth;
	/* A tree takes a few times its text; the first blocks guess. */
	b.texts = xmalloc(sizeof *b.texts);
	b.nodes = xmalloc(sizeof *b.nodes);
	arena_setup(b.texts, len);
	arena_setup(b.nodes, len < SIZE_MAX / 3 ? len * 3 : SIZE_MAX);
	if (json_run(&b, buf, len) == 0 && b.root == NULL) {
		b.err = JSON_DOC_SYNTAX;
		b.cause = xstrdup("empty body");
	}
	free(b.stack);
	free(b.members);
	if (b.cause != NULL) {
		json_arenas_free(b.texts, b.nodes);
		*err = b.err;
		*cause = b.cause;
		return NULL;
	}
	*err = JSON_DOC_OK;
	return b.root;
}

static struct json_root *
json_root_of(struct json_value *v)
{
	return (
	    struct json_root *)((char *)v - offsetof(struct json_root, value));
}

void
json_value_drop_tree(struct json_value *v)
{
	struct json_root *root = json_root_of(v);

	if (root->nodes == NULL)
		return;
	arena_release(root->nodes);
	free(root->nodes);
	root->nodes = NULL;
	memset(&root->value, 0, sizeof root->value);
	root->value.type = JSON_NULL;
}

void
json_value_free(struct json_value *v)
{
	if (v != NULL)
		json_arenas_free(
		    json_root_of(v)->texts, json_root_of(v)->nodes);
}

const struct json_value *
json_object_get(const struct json_value *obj, const char *key)
{
	size_t i;

	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;

	/* From the end, so that a repeated key answers its last value. */
	for (i = obj->u.object.count; i > 0; i--) {
		if (strcmp(obj->u.object.keys[i - 1], key) == 0)
			return obj->u.object.values[i - 1];
	}
	return NULL;
}

bool
json_number_is_integer(const struct json_value *v)
{
	const char *p;

	if (v == NULL || v->type != JSON_NUMBER)
		return false;
	p = v->u.number.text;
	if (*p == '-')
		p++;
	if (*p == '\0')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '\0';
}

const char *
json_type_name(enum json_type type)
{
	switch (type) {
	case JSON_NULL:
		return "null";
	case JSON_BOOL:
		return "boolean";
	case JSON_NUMBER:
		return "number";
	case JSON_STRING:
		return "string";
	case JSON_ARRAY:
		return "array";
	case JSON_OBJECT:
		return "object";
	}
	return "unknown";
}
