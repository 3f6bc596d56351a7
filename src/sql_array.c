/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Statement parameters and array literals (see sql_array.h).
 */
#include "config.h"

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
	strbuf_shutdown(&s->sql);
	memset(s, 0, sizeof *s);
}

int
sql_stmt_param(struct sql_stmt *s, const char *value, size_t len)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->values = xrealloc(s->values, s->cap * sizeof *s->values);
		s->lengths = xrealloc(s->lengths, s->cap * sizeof *s->lengths);
	}
	s->values[s->n] = value;
	s->lengths[s->n] = (int)len;
	return ++s->n;
}

int
sql_stmt_param_owned(struct sql_stmt *s, char *value, size_t len)
{
	/* Grown one at a time: a statement owns a few dozen at most. */
	s->owned = xrealloc(s->owned, (s->nowned + 1) * sizeof *s->owned);
	s->owned[s->nowned++] = value;
	return sql_stmt_param(s, value, len);
}

void
sql_array_setup(struct sql_array *a)
{
	strbuf_setup(&a->text);
	strbuf_add(&a->text, "{", 1);
	a->count = 0;
}

void
sql_array_add(struct sql_array *a, const char *value, size_t len)
{
	size_t i, start;

	if (a->count++ > 0)
		strbuf_add(&a->text, ",", 1);
	if (value == NULL) {
		strbuf_add(&a->text, "NULL", 4);
		return;
	}
	/* Inside double quotes only '"' and '\' need a backslash. */
	strbuf_add(&a->text, "\"", 1);
	for (i = start = 0; i < len; i++) {
		if (value[i] != '"' && value[i] != '\\')
			continue;
		strbuf_add(&a->text, value + start, i - start);
		strbuf_add(&a->text, "\\", 1);
		start = i;
	}
	strbuf_add(&a->text, value + start, len - start);
	strbuf_add(&a->text, "\"", 1);
}

void
sql_array_add_bool(struct sql_array *a, bool value)
{
	if (a->count++ > 0)
		strbuf_add(&a->text, ",", 1);
	strbuf_add(&a->text, value ? "t" : "f", 1);
}

int
sql_array_param(struct sql_stmt *s, struct sql_array *a)
{
	size_t len;

	strbuf_add(&a->text, "}", 1);
	len = a->text.len;
	a->count = 0;
	return sql_stmt_param_owned(s, strbuf_take(&a->text), len);
}
