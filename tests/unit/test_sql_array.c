/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of sql_array: arrays in PostgreSQL's binary form of text[]
 * (header, then each element's length and bytes) that hold exactly the
 * values put in (quotes, backslashes, braces, commas, the word NULL,
 * empty text, SQL NULL), the empty array, and statement parameters with
 * their formats.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "sql_array.h"

static uint32_t
get_int32(const char *at)
{
	const unsigned char *b = (const unsigned char *)at;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

/* Check that parameter p of s is the binary text[] of values (NULL: SQL
 * NULL), byte for byte. */
static void
check_array(
    const struct sql_stmt *s, int p, const char *const *values, size_t n)
{
	const char *at = s->values[p - 1];
	int len = s->lengths[p - 1];
	bool nulls = false;
	size_t i, want_len = n > 0 ? 20 : 12;

	for (i = 0; i < n; i++) {
		nulls = nulls || values[i] == NULL;
		want_len += 4 + (values[i] ? strlen(values[i]) : 0);
	}
	CHECK(s->formats[p - 1] == 1, "$%d goes in binary form", p);
	CHECK(len == (int)want_len, "$%d is %d bytes, want %zu", p, len,
	    want_len);
	if (len != (int)want_len)
		return;
	CHECK(get_int32(at) == (n > 0) && get_int32(at + 4) == nulls &&
		get_int32(at + 8) == 25,
	    "header: %u dimensions, nulls %u, type %u", get_int32(at),
	    get_int32(at + 4), get_int32(at + 8));
	if (n == 0)
		return;
	CHECK(get_int32(at + 12) == n && get_int32(at + 16) == 1,
	    "dimension: %u elements from %u, want %zu from 1",
	    get_int32(at + 12), get_int32(at + 16), n);
	at += 20;
	for (i = 0; i < n; i++) {
		uint32_t elen = get_int32(at);

		at += 4;
		if (values[i] == NULL) {
			CHECK(elen == UINT32_MAX, "element %zu is NULL", i);
			continue;
		}
		CHECK(elen == strlen(values[i]) &&
			memcmp(at, values[i], elen) == 0,
		    "element %zu is <%.*s>, want <%s>", i, (int)elen, at,
		    values[i]);
		at += elen;
	}
}

/* The array of values (NULL: SQL NULL) as $1 of a statement. */
static void
check_values(const char *const *values, size_t n)
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
	CHECK(p == 1 && s.n == 1, "the first parameter is $%d, want $1", p);
	check_array(&s, p, values, n);
	sql_stmt_shutdown(&s);
}

static void
sql_array_keeps_every_element_as_given(void)
{
	const char *plain[] = { "a", "b c", "" };
	const char *tricky[] = { "say \"hi\"", "back\\slash", "{x,y}", "NULL",
		"a,b", "caf\xc3\xa9" };
	const char *nulls[] = { NULL, "x", NULL };

	check_values(plain, 3);
	check_values(tricky, 6);
	check_values(nulls, 3);
	check_values(NULL, 0);
}

static void
sql_array_takes_lengths_not_nuls(void)
{
	const char *want[] = { "ab\"" };
	struct sql_stmt s;
	struct sql_array a;

	sql_stmt_setup(&s);
	sql_array_setup(&a);
	/* Lengths delimit values: the first three bytes of ab"<NUL>c. */
	sql_array_add(&a, "ab\"\0c", 3);
	check_array(&s, sql_array_param(&s, &a), want, 1);
	sql_stmt_shutdown(&s);
}

static void
sql_array_booleans(void)
{
	const char *want[] = { "t", "f", NULL };
	struct sql_stmt s;
	struct sql_array a;

	sql_stmt_setup(&s);
	sql_array_setup(&a);
	sql_array_add_bool(&a, true);
	sql_array_add_bool(&a, false);
	sql_array_add(&a, NULL, 0);
	check_array(&s, sql_array_param(&s, &a), want, 3);
	sql_stmt_shutdown(&s);
}

static void
sql_array_set_up_again_is_new(void)
{
	const char *first[] = { "1", "2" };
	const char *second[] = { "3" };
	struct sql_stmt s;
	struct sql_array a;
	int p1, p2, p3;

	sql_stmt_setup(&s);
	sql_array_setup(&a);
	sql_array_add(&a, "1", 1);
	sql_array_add(&a, "2", 1);
	p1 = sql_array_param(&s, &a);
	p2 = sql_stmt_param(&s, "plain", 5);
	sql_array_setup(&a);
	sql_array_add(&a, "3", 1);
	p3 = sql_array_param(&s, &a);
	CHECK(
	    p1 == 1 && p2 == 2 && p3 == 3, "numbered $%d $%d $%d", p1, p2, p3);
	check_array(&s, p1, first, 2);
	check_array(&s, p3, second, 1);
	CHECK(s.formats[1] == 0 && s.lengths[1] == 5 &&
		memcmp(s.values[1], "plain", 5) == 0,
	    "a text parameter between them stays text");
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
	CHECK(s.formats[0] == 0 && s.formats[39] == 0,
	    "text parameters go as text");
	sql_stmt_shutdown(&s);
	CHECK(s.n == 0 && s.values == NULL, "shutdown empties the statement");
}

static const struct cunit_case sql_array_cases[] = {
	{ "sql_array_keeps_every_element_as_given",
	    sql_array_keeps_every_element_as_given },
	{ "sql_array_takes_lengths_not_nuls",
	    sql_array_takes_lengths_not_nuls },
	{ "sql_array_booleans", sql_array_booleans },
	{ "sql_array_set_up_again_is_new", sql_array_set_up_again_is_new },
	{ "sql_stmt_numbers_parameters_in_order",
	    sql_stmt_numbers_parameters_in_order },
};

int
main(void)
{
	return cunit_run(
	    "sql_array", sql_array_cases, CUNIT_NCASES(sql_array_cases));
}
