/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ids of rows the database has committed, keyed by what a submission
 * finds them by (a normalised row's values, a build's id, a submit
 * row's identity), so that a submission whose rows are all known can be
 * stored in one round trip instead of two (doc/design.md, "Storing a
 * submission").  Rows are never deleted by mttd; should an operator
 * delete one, the store step's first statement finds it gone before
 * anything is written, the cache is cleared and the submission is
 * stored the slow way.
 *
 * One cache per process, bounded in entries and bytes, in two
 * generations: when the young one is full the old one is dropped, and
 * rows in use are moved to the young one as they are read, so they stay
 * known.  Nothing is allocated until the first entry, so an idle server
 * pays nothing for it.
 */
#ifndef MTTD_ROW_CACHE_H
#define MTTD_ROW_CACHE_H

#include <stdbool.h>
#include <stddef.h>

/* Keys longer than this are never cached (their rows take the slow way). */
#define ROW_CACHE_KEY_MAX 4096

/* At most this many entries, and this many bytes of keys and values. */
#define ROW_CACHE_ENTRIES_MAX 4096
#define ROW_CACHE_BYTES_MAX (1024 * 1024)

/* The value stored for key (klen bytes, any bytes), or NULL.  Valid
 * until the next call of a row_cache function: a read moves the pair
 * to the young generation, which may drop the old one. */
const char *row_cache_get(const char *key, size_t klen);

/* Remember key's value (a NUL-terminated string); a key already there
 * takes the new value.  A key over ROW_CACHE_KEY_MAX is ignored. */
void row_cache_put(const char *key, size_t klen, const char *value);

/* Forget everything and free the memory. */
void row_cache_clear(void);

/* Entries held now, and how many times the old generation was dropped
 * because the young one was full (for tests and the log). */
size_t row_cache_count(void);
unsigned long row_cache_evictions(void);

#endif /* MTTD_ROW_CACHE_H */
