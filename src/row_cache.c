/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The row cache: two generations, each an open-addressing hash table of
 * (key, value) pairs, one allocation per pair.  New pairs go into the
 * young generation; a pair found in the old one moves to the young one.
 * When the young generation is full the old one is dropped whole and
 * the young one becomes old.  So the rows every submission of a storm
 * links (its builds, messages, commands) stay known however many new
 * ones (test names) flow through, without keeping an eviction order.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "row_cache.h"
#include "strbuf.h"

/* Each generation holds half of the cache's bounds. */
#define GEN_ENTRIES_MAX (ROW_CACHE_ENTRIES_MAX / 2)
#define GEN_BYTES_MAX (ROW_CACHE_BYTES_MAX / 2)
/* Twice the entries, a power of two: probes stay short. */
#define GEN_SLOTS (2 * GEN_ENTRIES_MAX)

struct row_entry {
	uint64_t hash;
	size_t klen;
	char *value; /* Points into the same allocation, after the key. */
	char key[];
};

struct generation {
	struct row_entry **slots; /* NULL until its first entry. */
	size_t entries, bytes;
};

/* Marks the slot of a pair that moved out of the old generation: probes
 * go on past it (the old generation takes no new pairs). */
static struct row_entry moved_out;

static struct generation young, old;
static unsigned long evictions;

/* The slot holding key, or the empty slot that ends its probe. */
static size_t
slot_of(const struct generation *g, const char *key, size_t klen, uint64_t hash)
{
	size_t i = (size_t)hash & (GEN_SLOTS - 1);
	const struct row_entry *e;

	while ((e = g->slots[i]) != NULL &&
	    (e == &moved_out ||
		!(e->hash == hash && e->klen == klen &&
		    memcmp(e->key, key, klen) == 0)))
		i = (i + 1) & (GEN_SLOTS - 1);
	return i;
}

/* The pair of key in g, and its slot; NULL when not there. */
static struct row_entry *
generation_find(const struct generation *g, const char *key, size_t klen,
    uint64_t hash, size_t *slot)
{
	if (g->slots == NULL)
		return NULL;
	*slot = slot_of(g, key, klen, hash);
	return g->slots[*slot];
}

static size_t
entry_bytes(const struct row_entry *e)
{
	return sizeof *e + e->klen + strlen(e->value) + 1;
}

static void
generation_free(struct generation *g)
{
	size_t i;

	if (g->slots == NULL)
		return;
	for (i = 0; i < GEN_SLOTS; i++) {
		if (g->slots[i] != &moved_out)
			free(g->slots[i]);
	}
	free(g->slots);
	*g = (struct generation){ NULL, 0, 0 };
}

/* Take the pair out of g's slot, without freeing it. */
static void
generation_take(struct generation *g, size_t slot)
{
	g->bytes -= entry_bytes(g->slots[slot]);
	g->entries--;
	g->slots[slot] = &moved_out;
}

/* Put e into the young generation, which holds no pair of its key. */
static void
young_add(struct row_entry *e)
{
	if (young.slots != NULL &&
	    (young.entries >= GEN_ENTRIES_MAX ||
		young.bytes + entry_bytes(e) > GEN_BYTES_MAX)) {
		generation_free(&old);
		old = young;
		young = (struct generation){ NULL, 0, 0 };
		evictions++;
	}
	if (young.slots == NULL)
		young.slots = xcalloc(GEN_SLOTS, sizeof *young.slots);
	young.slots[slot_of(&young, e->key, e->klen, e->hash)] = e;
	young.entries++;
	young.bytes += entry_bytes(e);
}

const char *
row_cache_get(const char *key, size_t klen)
{
	uint64_t hash;
	struct row_entry *e;
	size_t slot;

	if (klen > ROW_CACHE_KEY_MAX)
		return NULL;
	hash = hash_fnv1a(HASH_FNV1A_SEED, key, klen);
	e = generation_find(&young, key, klen, hash, &slot);
	if (e != NULL)
		return e->value;
	e = generation_find(&old, key, klen, hash, &slot);
	if (e == NULL)
		return NULL;
	/* Still used: it survives the next drop of the old generation. */
	generation_take(&old, slot);
	young_add(e);
	return e->value;
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

void
row_cache_put(const char *key, size_t klen, const char *value)
{
	uint64_t hash;
	struct row_entry *e;
	size_t slot;

	if (klen > ROW_CACHE_KEY_MAX)
		return;
	hash = hash_fnv1a(HASH_FNV1A_SEED, key, klen);
	e = generation_find(&young, key, klen, hash, &slot);
	/* The lookups of every two-trip store put back what they read:
	 * most puts find the same value there already. */
	if (e != NULL && strcmp(e->value, value) == 0)
		return;
	if (e != NULL) {
		/* A new value for a key (a row an operator replaced): in
		 * place, as the young generation keeps no moved-out marks. */
		struct row_entry *n = entry_new(key, klen, hash, value);

		young.bytes += entry_bytes(n) - entry_bytes(e);
		young.slots[slot] = n;
		free(e);
		return;
	}
	e = generation_find(&old, key, klen, hash, &slot);
	if (e != NULL) {
		generation_take(&old, slot);
		free(e);
	}
	young_add(entry_new(key, klen, hash, value));
}

void
row_cache_clear(void)
{
	generation_free(&young);
	generation_free(&old);
}

size_t
row_cache_count(void)
{
	return young.entries + old.entries;
}

unsigned long
row_cache_evictions(void)
{
	return evictions;
}
