/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Statements whose values travel as parameters, and PostgreSQL array
 * literals built value by value, so that one statement can carry many
 * rows: `unnest($1::text[], $2::boolean[])` turns the arrays back into
 * rows inside PostgreSQL.  Every element is quoted, so any text (quotes,
 * backslashes, braces, commas, the word NULL) comes back as it was sent.
 */
#ifndef MTTD_SQL_ARRAY_H
#define MTTD_SQL_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* A statement being built: its text and its text parameters. */
struct sql_stmt {
	struct strbuf sql;
	const char **values; /* NULL: SQL NULL. */
	int *lengths;
	int n;
	int cap;
	char **owned; /* Parameter texts this statement frees. */
	int nowned;
};

void sql_stmt_setup(struct sql_stmt *s);
void sql_stmt_shutdown(struct sql_stmt *s);

/* Add a parameter the caller keeps valid; returns its $ number. */
int sql_stmt_param(struct sql_stmt *s, const char *value, size_t len);

/* Add a parameter the statement frees (from malloc); its $ number. */
int sql_stmt_param_owned(struct sql_stmt *s, char *value, size_t len);

/* An array literal being built. */
struct sql_array {
	struct strbuf text;
	size_t count;
};

void sql_array_setup(struct sql_array *a);

/* Append one element: len bytes of value, or NULL for SQL NULL. */
void sql_array_add(struct sql_array *a, const char *value, size_t len);

/* Append "t" or "f". */
void sql_array_add_bool(struct sql_array *a, bool value);

/* Close the literal and hand it to s as a parameter; a is left empty.
 * Returns the parameter's $ number. */
int sql_array_param(struct sql_stmt *s, struct sql_array *a);

#endif /* MTTD_SQL_ARRAY_H */
