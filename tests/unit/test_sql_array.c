/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of sql_array: array literals that PostgreSQL reads back as
 * exactly the values put in (quotes, backslashes, braces, commas, the
 * word NULL, empty text, SQL NULL), and statement parameters.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "sql_array.h"

/* The literal made of values (NULL: SQL NULL) as $1 of a statement. */
static void
check_literal(const char *const *values, size_t n, const char *want)
{
	struct sql_stmt s;
	struct sql_array a;
	size_t i;
	int p;

	sql_stmt_setup(&s);
	sql_array_setup(&a);
	for (i = 0; i < n; i++)
		sql_array_add(&a, values[i], values[i] ? strlen(values[i]) : 0);
	p = sql_array_param(&s, &a);
	CHECK(p == 1, "the first parameter is $%d, want $1", p);
	CHECK(s.n == 1 && strcmp(s.values[0], want) == 0 &&
		s.lengths[0] == (int)strlen(want),
	    "literal is <%s> (%d bytes), want <%s>", s.n ? s.values[0] : "",
	    s.n ? s.lengths[0] : -1, want);
	sql_stmt_shutdown(&s);
}

static void
sql_array_quotes_every_element(void)
{
	const char *plain[] = { "a", "b c", "" };
	const char *tricky[] = { "say \"hi\"", "back\\slash", "{x,y}", "NULL",
		"a,b" };
	const char *nulls[] = { NULL, "x", NULL };

	check_literal(plain, 3, "{\"a\",\"b c\",\"\"}");
	check_literal(tricky, 5,
	    "{\"say \\\"hi\\\"\",\"back\\\\slash\",\"{x,y}\",\"NULL\","
	    "\"a,b\"}");
	check_literal(nulls, 3, "{NULL,\"x\",NULL}");
	check_literal(NULL, 0, "{}");
}

static void
sql_array_keeps_bytes_after_a_nul(void)
{
	struct sql_stmt s;
	struct sql_array a;

	sql_stmt_setup(&s);
	sql_array_setup(&a);
	/* Lengths, not NULs, delimit values: the first three bytes of
	 * ab"<NUL>c are given, and the quote among them is escaped. */
	sql_array_add(&a, "ab\"\0c", 3);
	sql_array_param(&s, &a);
	CHECK(strcmp(s.values[0], "{\"ab\\\"\"}") == 0, "literal is <%s>",
	    s.values[0]);
	sql_stmt_shutdown(&s);
}

static void
sql_array_booleans(void)
{
	struct sql_stmt s;
	struct sql_array a;

	sql_stmt_setup(&s);
	sql_array_setup(&a);
	sql_array_add_bool(&a, true);
	sql_array_add_bool(&a, false);
	sql_array_add(&a, NULL, 0);
	sql_array_param(&s, &a);
	CHECK(strcmp(s.values[0], "{t,f,NULL}") == 0, "literal is <%s>",
	    s.values[0]);
	sql_stmt_shutdown(&s);
}

static void
sql_stmt_numbers_parameters_in_order(void)
{
	struct sql_stmt s;
	char name[16];
	int i, p;

	sql_stmt_setup(&s);
	/* Past the first growth of the arrays. */
	for (i = 1; i <= 40; i++) {
		snprintf(name, sizeof name, "v%d", i);
		p = i % 2 ?
		    sql_stmt_param_owned(&s, xstrdup(name), strlen(name)) :
		    sql_stmt_param(&s, "borrowed", 8);
		CHECK(p == i, "parameter %d numbered $%d", i, p);
	}
	CHECK(s.n == 40 && s.nowned == 20, "%d parameters, %d owned", s.n,
	    s.nowned);
	CHECK(strcmp(s.values[38], "v39") == 0 && s.lengths[39] == 8,
	    "parameters 39 and 40 are <%s> and %d bytes", s.values[38],
	    s.lengths[39]);
	CHECK(s.values[1] != NULL && strcmp(s.values[1], "borrowed") == 0,
	    "a borrowed value is kept as given");
	sql_stmt_shutdown(&s);
	CHECK(s.n == 0 && s.values == NULL, "shutdown empties the statement");
}

static const struct cunit_case sql_array_cases[] = {
	{ "sql_array_quotes_every_element", sql_array_quotes_every_element },
	{ "sql_array_keeps_bytes_after_a_nul",
	    sql_array_keeps_bytes_after_a_nul },
	{ "sql_array_booleans", sql_array_booleans },
	{ "sql_stmt_numbers_parameters_in_order",
	    sql_stmt_numbers_parameters_in_order },
};

int
main(void)
{
	return cunit_run(
	    "sql_array", sql_array_cases, CUNIT_NCASES(sql_array_cases));
}
