/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of strbuf's text_copy, which copies peers' addresses for
 * each request: a text that fits is copied whole, a longer one is cut to
 * the destination and still terminated, and nothing past the
 * destination is written.
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

static const struct cunit_case strbuf_cases[] = {
	{ "text_copy_fits_whole", text_copy_fits_whole },
	{ "text_copy_cuts_and_terminates", text_copy_cuts_and_terminates },
};

int
main(void)
{
	return cunit_run("strbuf", strbuf_cases, CUNIT_NCASES(strbuf_cases));
}
