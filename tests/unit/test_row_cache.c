/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of row_cache: exact keys (any bytes, lengths count), new
 * values replacing old ones, the two generations (rows read survive a
 * drop, rows not read do not), the size bounds, and keys too long to be
 * cached.
 */
#include "config.h"

#include <stdbool.h>
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

/* Each generation holds half of the entries. */
#define HALF (ROW_CACHE_ENTRIES_MAX / 2)

static void
put_rows(const char *prefix, size_t n, const char *value)
{
	char key[32];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof key, "%s %zu", prefix, i);
		row_cache_put(key, strlen(key), value);
	}
}

static bool
has(const char *key, const char *value)
{
	const char *v = row_cache_get(key, strlen(key));

	return v != NULL && strcmp(v, value) == 0;
}

static void
row_cache_drops_its_old_generation_when_full(void)
{
	unsigned long before;

	row_cache_clear();
	before = row_cache_evictions();
	put_rows("a", HALF, "1");
	CHECK(row_cache_count() == HALF && row_cache_evictions() == before,
	    "%d entries fill the young generation (%zu held, %lu drops)", HALF,
	    row_cache_count(), row_cache_evictions() - before);
	row_cache_put("b 0", 3, "2");
	CHECK(row_cache_count() == HALF + 1 &&
		row_cache_evictions() == before + 1,
	    "one more makes it old, nothing dropped: %zu held",
	    row_cache_count());
	CHECK(has("a 0", "1") && has("a 2047", "1") && has("b 0", "2"),
	    "the old generation is still read");
	/* "a 0" and "a 2047" were read: they moved to the young one. */
	put_rows("c", HALF - 3, "3");
	CHECK(row_cache_count() == HALF + HALF - 2 &&
		row_cache_evictions() == before + 1,
	    "the young generation is full again: %zu held", row_cache_count());
	row_cache_put("d", 1, "4");
	CHECK(row_cache_evictions() == before + 2 &&
		row_cache_count() == HALF + 1,
	    "one more drops the old generation: %zu held", row_cache_count());
	CHECK(has("a 0", "1") && has("a 2047", "1") && has("b 0", "2") &&
		has("c 0", "3") && has("d", "4"),
	    "the rows read survive, and the young ones");
	CHECK(row_cache_get("a 1", 3) == NULL &&
		row_cache_get("a 2046", 6) == NULL,
	    "the rows not read since were dropped");
	row_cache_clear();
}

static void
row_cache_never_holds_more_than_its_entries(void)
{
	size_t i, most = 0;
	char key[32];

	row_cache_clear();
	for (i = 0; i < 5 * ROW_CACHE_ENTRIES_MAX; i++) {
		snprintf(key, sizeof key, "row %zu", i);
		row_cache_put(key, strlen(key), "5");
		/* Rows read all the time, as a storm's build is. */
		CHECK(i < 3 || has("row 3", "5"), "row 3 is lost at %zu", i);
		if (row_cache_count() > most)
			most = row_cache_count();
	}
	/* A full young generation beside an old one less row 3, read out
	 * of it. */
	CHECK(most == ROW_CACHE_ENTRIES_MAX - 1, "at most %zu held, want %d",
	    most, ROW_CACHE_ENTRIES_MAX - 1);
	row_cache_clear();
}

static void
row_cache_replaces_values_in_either_generation(void)
{
	row_cache_clear();
	row_cache_put("old", 3, "6");
	/* The last of these drops nothing but makes the others old. */
	put_rows("fill", HALF, "1");
	row_cache_put("old", 3, "7");
	CHECK(has("old", "7"), "a put replaces a value of the old one");
	CHECK(row_cache_count() == HALF + 1, "and keeps one pair: %zu held",
	    row_cache_count());
	row_cache_put("fill 2047", 9, "8"); /* Young since it came. */
	CHECK(has("fill 2047", "8") && row_cache_count() == HALF + 1,
	    "a put replaces a value of the young one: %zu held",
	    row_cache_count());
	row_cache_clear();
	CHECK(row_cache_count() == 0 && row_cache_get("old", 3) == NULL,
	    "clear forgets both generations");
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
	{ "row_cache_drops_its_old_generation_when_full",
	    row_cache_drops_its_old_generation_when_full },
	{ "row_cache_never_holds_more_than_its_entries",
	    row_cache_never_holds_more_than_its_entries },
	{ "row_cache_replaces_values_in_either_generation",
	    row_cache_replaces_values_in_either_generation },
	{ "row_cache_bounds_its_bytes", row_cache_bounds_its_bytes },
	{ "row_cache_ignores_long_keys", row_cache_ignores_long_keys },
};

int
main(void)
{
	return cunit_run(
	    "row_cache", row_cache_cases, CUNIT_NCASES(row_cache_cases));
}
