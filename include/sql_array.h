/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Statements whose values travel as parameters, and PostgreSQL arrays
 * built value by value, so that one statement can carry many rows:
 * `unnest($1::text[], $2::text[]::boolean[])` turns the arrays back into
 * rows inside PostgreSQL.  An array goes in PostgreSQL's binary form of
 * text[] (each element its length, then its bytes), so any text (quotes,
 * backslashes, braces, commas, the word NULL) comes back as it was sent,
 * and PostgreSQL reads it without parsing a literal: the statement must
 * name its type as text[] (`$1::text[]`), then cast it to the elements'
 * type where that is not text.
 */
#ifndef MTTD_SQL_ARRAY_H
#define MTTD_SQL_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* A statement being built: its text and its parameters. */
struct sql_stmt {
	struct strbuf sql;
	const char **values; /* NULL: SQL NULL. */
	int *lengths;
	int *formats; /* 0: text, 1: binary (an array). */
	int n;
	int cap;
	char **owned; /* Parameter texts this statement frees. */
	int nowned;
};

void sql_stmt_setup(struct sql_stmt *s);
void sql_stmt_shutdown(struct sql_stmt *s);

/* Add a text parameter the caller keeps valid; returns its $ number. */
int sql_stmt_param(struct sql_stmt *s, const char *value, size_t len);

/* Add a text parameter the statement frees (from malloc); its $ number. */
int sql_stmt_param_owned(struct sql_stmt *s, char *value, size_t len);

/* A text[] being built, in PostgreSQL's binary form. */
struct sql_array {
	struct strbuf data; /* A header, then each element. */
	size_t count;
	bool has_null;
};

void sql_array_setup(struct sql_array *a);

/* Append one element: len bytes of value (no NUL among them: PostgreSQL
 * text cannot hold one), or NULL for SQL NULL. */
void sql_array_add(struct sql_array *a, const char *value, size_t len);

/* Append "t" or "f" (cast the array to boolean[] in the statement). */
void sql_array_add_bool(struct sql_array *a, bool value);

/* Finish the array and hand it to s as a binary parameter of type
 * text[]; a is left empty, to be set up again before another use.
 * Returns the parameter's $ number. */
int sql_array_param(struct sql_stmt *s, struct sql_array *a);

#endif /* MTTD_SQL_ARRAY_H */
