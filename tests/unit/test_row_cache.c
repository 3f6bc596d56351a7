/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of row_cache: exact keys (any bytes, lengths count), new
 * values replacing old ones, the size bounds that empty it, and keys too
 * long to be cached.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "row_cache.h"

static void
row_cache_finds_exact_keys(void)
{
	row_cache_clear();
	CHECK(row_cache_get("a", 1) == NULL, "an empty cache finds nothing");
	row_cache_put("k\0x", 3, "7");
	row_cache_put("k\0y", 3, "8");
	CHECK(row_cache_get("k\0x", 3) != NULL &&
		strcmp(row_cache_get("k\0x", 3), "7") == 0,
	    "a key with a NUL inside is found whole");
	CHECK(strcmp(row_cache_get("k\0y", 3), "8") == 0,
	    "keys differing after the NUL are two keys");
	CHECK(row_cache_get("k", 1) == NULL, "a prefix of a key is not it");
	CHECK(row_cache_get("k\0xz", 4) == NULL, "a longer key is not it");
	row_cache_put("k\0x", 3, "9");
	CHECK(strcmp(row_cache_get("k\0x", 3), "9") == 0,
	    "a put replaces the value");
	row_cache_put("k\0x", 3, "9");
	CHECK(strcmp(row_cache_get("k\0x", 3), "9") == 0,
	    "a put of the same value keeps it");
	CHECK(
	    row_cache_count() == 2, "count is %zu, want 2", row_cache_count());
	row_cache_clear();
	CHECK(row_cache_count() == 0 && row_cache_get("k\0x", 3) == NULL,
	    "clear forgets everything");
}

static void
row_cache_empties_itself_when_full(void)
{
	unsigned long before;
	char key[32];
	size_t i;

	row_cache_clear();
	before = row_cache_evictions();
	for (i = 0; i < ROW_CACHE_ENTRIES_MAX; i++) {
		snprintf(key, sizeof key, "row %zu", i);
		row_cache_put(key, strlen(key), "1");
	}
	CHECK(row_cache_count() == ROW_CACHE_ENTRIES_MAX &&
		row_cache_evictions() == before,
	    "%zu entries fit (%zu held, %lu evictions)",
	    (size_t)ROW_CACHE_ENTRIES_MAX, row_cache_count(),
	    row_cache_evictions() - before);
	CHECK(row_cache_get("row 0", 5) != NULL, "the first is still there");
	row_cache_put("one more", 8, "2");
	CHECK(row_cache_count() == 1 && row_cache_evictions() == before + 1,
	    "one more empties it first: %zu held", row_cache_count());
	CHECK(row_cache_get("row 0", 5) == NULL &&
		strcmp(row_cache_get("one more", 8), "2") == 0,
	    "only the newest is held");
	row_cache_clear();
}

static void
row_cache_bounds_its_bytes(void)
{
	static char big[ROW_CACHE_KEY_MAX];
	size_t i, fit = 0;

	row_cache_clear();
	memset(big, 'x', sizeof big);
	/* Each key differs in its first bytes; ~4 KiB apiece. */
	for (i = 0; i < ROW_CACHE_BYTES_MAX / ROW_CACHE_KEY_MAX + 8; i++) {
		snprintf(big, 16, "%015zu", i);
		row_cache_put(big, sizeof big, "3");
		if (row_cache_count() == i + 1)
			fit = i + 1;
	}
	CHECK(fit > 0 && fit < ROW_CACHE_BYTES_MAX / ROW_CACHE_KEY_MAX,
	    "%zu keys of 4 KiB fit under %d bytes", fit, ROW_CACHE_BYTES_MAX);
	CHECK(row_cache_count() < ROW_CACHE_BYTES_MAX / ROW_CACHE_KEY_MAX,
	    "the cache never holds more than its bytes");
	row_cache_clear();
}

static void
row_cache_ignores_long_keys(void)
{
	static char huge[ROW_CACHE_KEY_MAX + 1];

	row_cache_clear();
	memset(huge, 'y', sizeof huge);
	row_cache_put(huge, sizeof huge, "4");
	CHECK(row_cache_count() == 0, "a key over the limit is not stored");
	CHECK(row_cache_get(huge, sizeof huge) == NULL, "nor found");
	row_cache_put(huge, ROW_CACHE_KEY_MAX, "5");
	CHECK(row_cache_get(huge, ROW_CACHE_KEY_MAX) != NULL,
	    "a key of exactly the limit is");
	row_cache_clear();
}

static const struct cunit_case row_cache_cases[] = {
	{ "row_cache_finds_exact_keys", row_cache_finds_exact_keys },
	{ "row_cache_empties_itself_when_full",
	    row_cache_empties_itself_when_full },
	{ "row_cache_bounds_its_bytes", row_cache_bounds_its_bytes },
	{ "row_cache_ignores_long_keys", row_cache_ignores_long_keys },
};

int
main(void)
{
	return cunit_run(
	    "row_cache", row_cache_cases, CUNIT_NCASES(row_cache_cases));
}
