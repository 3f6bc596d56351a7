/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The row cache: an open-addressing hash table of (key, value) pairs,
 * each one allocation.  Emptied whole when full: the rows a nightly
 * storm links (its builds, messages, commands) come back with the next
 * round of lookups, and a bounded table needs no eviction order.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "row_cache.h"
#include "strbuf.h"

/* Twice the entries, a power of two: probes stay short. */
#define ROW_CACHE_SLOTS (2 * ROW_CACHE_ENTRIES_MAX)

struct row_entry {
	uint64_t hash;
	size_t klen;
	char *value; /* Points into the same allocation, after the key. */
	char key[];
};

static struct row_entry **slots; /* NULL until the first put. */
static size_t entries, bytes;
static unsigned long evictions;

static size_t
slot_of(const char *key, size_t klen, uint64_t hash)
{
	size_t i = (size_t)hash & (ROW_CACHE_SLOTS - 1);

	while (slots[i] != NULL &&
	    !(slots[i]->hash == hash && slots[i]->klen == klen &&
		memcmp(slots[i]->key, key, klen) == 0))
		i = (i + 1) & (ROW_CACHE_SLOTS - 1);
	return i;
}

const char *
row_cache_get(const char *key, size_t klen)
{
	size_t i;

	if (slots == NULL || klen > ROW_CACHE_KEY_MAX)
		return NULL;
	i = slot_of(key, klen, hash_fnv1a(HASH_FNV1A_SEED, key, klen));
	return slots[i] != NULL ? slots[i]->value : NULL;
}

static struct row_entry *
entry_new(const char *key, size_t klen, uint64_t hash, const char *value)
{
	size_t vlen = strlen(value);
	struct row_entry *e = xmalloc(sizeof *e + klen + vlen + 1);

	e->hash = hash;
	e->klen = klen;
	memcpy(e->key, key, klen);
	e->value = e->key + klen;
	memcpy(e->value, value, vlen + 1);
	return e;
}

static size_t
entry_bytes(const struct row_entry *e)
{
	return sizeof *e + e->klen + strlen(e->value) + 1;
}

void
row_cache_put(const char *key, size_t klen, const char *value)
{
	uint64_t hash = hash_fnv1a(HASH_FNV1A_SEED, key, klen);
	struct row_entry *e;
	size_t i;

	if (klen > ROW_CACHE_KEY_MAX)
		return;
	/* The lookups of every two-trip store put back what they read:
	 * most puts find the same value there already. */
	if (slots != NULL) {
		i = slot_of(key, klen, hash);
		if (slots[i] != NULL && strcmp(slots[i]->value, value) == 0)
			return;
	}
	e = entry_new(key, klen, hash, value);
	if (slots != NULL &&
	    (entries >= ROW_CACHE_ENTRIES_MAX ||
		bytes + entry_bytes(e) > ROW_CACHE_BYTES_MAX)) {
		row_cache_clear();
		evictions++;
	}
	if (slots == NULL)
		slots = xcalloc(ROW_CACHE_SLOTS, sizeof *slots);
	i = slot_of(key, klen, hash);
	if (slots[i] != NULL) {
		bytes -= entry_bytes(slots[i]);
		free(slots[i]);
		entries--;
	}
	slots[i] = e;
	entries++;
	bytes += entry_bytes(e);
}

void
row_cache_clear(void)
{
	size_t i;

	if (slots == NULL)
		return;
	for (i = 0; i < ROW_CACHE_SLOTS; i++)
		free(slots[i]);
	free(slots);
	slots = NULL;
	entries = 0;
	bytes = 0;
}

size_t
row_cache_count(void)
{
	return entries;
}

unsigned long
row_cache_evictions(void)
{
	return evictions;
}
