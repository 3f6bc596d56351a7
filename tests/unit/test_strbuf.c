/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of strbuf: utf8_sequence_length, by which the JSON parser
 * and the log judge bytes, takes valid characters only; text_copy,
 * which copies peers' addresses for each request, copies a text that
 * fits whole, cuts a longer one to the destination, still terminated,
 * and writes nothing past the destination.
 */
#include "config.h"

#include <string.h>

#include "cunit_main.h"
#include "strbuf.h"

/* A destination of size bytes inside a guarded buffer. */
struct guarded {
	char bytes[32];
};

static size_t
guard_bytes_changed(const struct guarded *g, size_t size)
{
	size_t i, changed = 0;

	for (i = size; i < sizeof g->bytes; i++)
		changed += g->bytes[i] != '#';
	return changed;
}

static void
text_copy_fits_whole(void)
{
	struct guarded g;

	memset(g.bytes, '#', sizeof g.bytes);
	text_copy(g.bytes, 16, "127.0.0.1");
	CHECK(strcmp(g.bytes, "127.0.0.1") == 0, "copied \"%s\"", g.bytes);
	CHECK(guard_bytes_changed(&g, 16) == 0, "nothing past the size");

	memset(g.bytes, '#', sizeof g.bytes);
	text_copy(g.bytes, 10, "127.0.0.1"); /* 9 bytes and the NUL. */
	CHECK(strcmp(g.bytes, "127.0.0.1") == 0, "exact fit: \"%s\"", g.bytes);
	CHECK(guard_bytes_changed(&g, 10) == 0, "nothing past the size");

	memset(g.bytes, '#', sizeof g.bytes);
	text_copy(g.bytes, 8, "");
	CHECK(g.bytes[0] == '\0', "an empty text is copied empty");
	CHECK(guard_bytes_changed(&g, 8) == 0, "nothing past the size");
}

static void
text_copy_cuts_and_terminates(void)
{
	struct guarded g;

	memset(g.bytes, '#', sizeof g.bytes);
	text_copy(g.bytes, 9, "127.0.0.1");
	CHECK(strcmp(g.bytes, "127.0.0.") == 0, "cut to 8 bytes: \"%s\"",
	    g.bytes);
	CHECK(guard_bytes_changed(&g, 9) == 0, "nothing past the size");

	memset(g.bytes, '#', sizeof g.bytes);
	text_copy(g.bytes, 1, "abc");
	CHECK(g.bytes[0] == '\0', "a size of 1 holds the NUL only");
	CHECK(guard_bytes_changed(&g, 1) == 0, "nothing past the size");
}

/* Each case: bytes, their number, the length utf8_sequence_length
 * gives at their start. */
static void
utf8_sequence_length_takes_only_valid_characters(void)
{
	static const struct {
		const char *s;
		size_t left, want;
	} rows[] = {
		{ "a", 1, 1 },		      /* ASCII */
		{ "\xc3\xa9", 2, 2 },	      /* é */
		{ "\xe2\x82\xac", 3, 3 },     /* € */
		{ "\xf0\x9f\x98\x80", 4, 4 }, /* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", 4, 4 }, /* U+10FFFF, the last */
		{ "\xc3\xa9x", 1, 0 },	      /* cut by left */
		{ "\xe2\x82", 2, 0 },	      /* cut */
		{ "\xff", 1, 0 },	      /* never in UTF-8 */
		{ "\xa9", 1, 0 },	      /* a stray continuation */
		{ "\xc0\xaf", 2, 0 },	      /* overlong '/' */
		{ "\xe0\x80\xaf", 3, 0 },     /* overlong '/' */
		{ "\xed\xa0\x80", 3, 0 },     /* surrogate D800 */
		{ "\xf4\x90\x80\x80", 4, 0 }, /* past U+10FFFF */
		{ "\xc3\x28", 2, 0 },	      /* no continuation */
	};
	size_t i, got;

	for (i = 0; i < CUNIT_NCASES(rows); i++) {
		got = utf8_sequence_length(rows[i].s, rows[i].left);
		CHECK(got == rows[i].want, "row %zu: %zu, want %zu", i, got,
		    rows[i].want);
	}
}

static const struct cunit_case strbuf_cases[] = {
	{ "utf8_sequence_length_takes_only_valid_characters",
	    utf8_sequence_length_takes_only_valid_characters },
	{ "text_copy_fits_whole", text_copy_fits_whole },
	{ "text_copy_cuts_and_terminates", text_copy_cuts_and_terminates },
};

int
main(void)
{
	return cunit_run("strbuf", strbuf_cases, CUNIT_NCASES(strbuf_cases));
}
