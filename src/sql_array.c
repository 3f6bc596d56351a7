/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Statement parameters and arrays in PostgreSQL's binary form (see
 * sql_array.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sql_array.h"

void
sql_stmt_setup(struct sql_stmt *s)
{
	memset(s, 0, sizeof *s);
	strbuf_setup(&s->sql);
}

void
sql_stmt_shutdown(struct sql_stmt *s)
{
	int i;

	for (i = 0; i < s->nowned; i++)
		free(s->owned[i]);
	free(s->owned);
	free(s->values);
	free(s->lengths);
	free(s->formats);
	strbuf_shutdown(&s->sql);
	memset(s, 0, sizeof *s);
}

/* A parameter of either form; returns its $ number. */
static int
stmt_param(struct sql_stmt *s, const char *value, size_t len, int format)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->values = xrealloc(s->values, s->cap * sizeof *s->values);
		s->lengths = xrealloc(s->lengths, s->cap * sizeof *s->lengths);
		s->formats = xrealloc(s->formats, s->cap * sizeof *s->formats);
	}
	s->values[s->n] = value;
	s->lengths[s->n] = (int)len;
	s->formats[s->n] = format;
	return ++s->n;
}

int
sql_stmt_param(struct sql_stmt *s, const char *value, size_t len)
{
	return stmt_param(s, value, len, 0);
}

/* Keep value, to free it with the statement. */
static void
stmt_own(struct sql_stmt *s, char *value)
{
	/* Grown one at a time: a statement owns a few dozen at most. */
	s->owned = xrealloc(s->owned, (s->nowned + 1) * sizeof *s->owned);
	s->owned[s->nowned++] = value;
}

int
sql_stmt_param_owned(struct sql_stmt *s, char *value, size_t len)
{
	stmt_own(s, value);
	return sql_stmt_param(s, value, len);
}

/*
 * The binary form array_recv() reads: the number of dimensions, whether
 * an element is NULL, the elements' type; then, for the one dimension,
 * its length and lower bound; then each element as a 32-bit length (-1:
 * NULL) and its bytes.  Every integer in network order.  An empty array
 * has no dimension (and stops after the type).
 */
#define ARRAY_HEADER 20
#define ARRAY_EMPTY_HEADER 12
#define TEXT_TYPE_OID 25 /* pg_type's oid of text. */

static void
put_int32(char *at, uint32_t v)
{
	at[0] = (char)(v >> 24);
	at[1] = (char)(v >> 16);
	at[2] = (char)(v >> 8);
	at[3] = (char)v;
}

static void
add_int32(struct strbuf *b, uint32_t v)
{
	char bytes[4];

	put_int32(bytes, v);
	strbuf_add(b, bytes, 4);
}

void
sql_array_setup(struct sql_array *a)
{
	static const char header[ARRAY_HEADER];

	strbuf_setup(&a->data);
	strbuf_add(&a->data, header, sizeof header); /* Filled in at the end. */
	a->count = 0;
	a->has_null = false;
}

void
sql_array_add(struct sql_array *a, const char *value, size_t len)
{
	a->count++;
	if (value == NULL) {
		add_int32(&a->data, UINT32_MAX); /* -1 */
		a->has_null = true;
		return;
	}
	add_int32(&a->data, (uint32_t)len);
	strbuf_add(&a->data, value, len);
}

void
sql_array_add_bool(struct sql_array *a, bool value)
{
	sql_array_add(a, value ? "t" : "f", 1);
}

int
sql_array_param(struct sql_stmt *s, struct sql_array *a)
{
	char *data = a->data.data;
	size_t len = a->data.len;

	put_int32(data, a->count > 0);
	put_int32(data + 4, a->has_null);
	put_int32(data + 8, TEXT_TYPE_OID);
	if (a->count > 0) {
		put_int32(data + 12, (uint32_t)a->count);
		put_int32(data + 16, 1);
	} else {
		len = ARRAY_EMPTY_HEADER;
	}
	data = strbuf_take(&a->data);
	stmt_own(s, data);
	a->count = 0;
	a->has_null = false;
	return stmt_param(s, data, len, 1);
}
