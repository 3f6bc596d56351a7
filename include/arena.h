/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Arenas: memory handed out in order from large blocks and given back
 * all at once.  For trees built once and freed whole (a parsed JSON
 * body), where one malloc and one free per node cost more than the
 * parse itself.  Allocation failure aborts (see strbuf.h).
 */
#ifndef MTTD_ARENA_H
#define MTTD_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *blocks; /* The one allocated from, first. */
	char *next;		    /* Free space in the first block. */
	size_t left;
	size_t block_size; /* Size of the next ordinary block. */
};

/*
 * Set an empty arena up; its first block will hold about size_hint
 * bytes (blocks grow from there).  Nothing is allocated yet.
 */
void arena_setup(struct arena *a, size_t size_hint);

/* size bytes aligned for any object, zeroed. */
void *arena_alloc(struct arena *a, size_t size);

/* A NUL-terminated copy of len bytes of s. */
char *arena_strndup(struct arena *a, const char *s, size_t len);

/* Uninitialised room for len bytes and a terminator, not aligned. */
char *arena_text(struct arena *a, size_t len);

/* Free every block; the arena is left empty and may be used again. */
void arena_release(struct arena *a);

#endif /* MTTD_ARENA_H */
