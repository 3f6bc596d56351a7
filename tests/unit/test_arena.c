/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of arena: allocations are aligned, zeroed, disjoint and
 * keep their contents while more are made; large ones get blocks of
 * their own without wasting the current block; release frees all (the
 * sanitizer build checks for leaks) and leaves the arena usable.
 */
#include "config.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "cunit_main.h"

/* Count the arena's blocks (each starts with its link, as in arena.c). */
struct arena_block {
	struct arena_block *next;
};

static size_t
block_count(const struct arena *a)
{
	const struct arena_block *b;
	size_t n = 0;

	for (b = a->blocks; b != NULL; b = b->next)
		n++;
	return n;
}

static void
arena_allocations_are_aligned_zeroed_and_kept(void)
{
	struct arena a;
	unsigned char *p[2000];
	size_t i, j, bad_align = 0, not_zero = 0, changed = 0;

	arena_setup(&a, 0);
	for (i = 0; i < 2000; i++) {
		char *t = arena_text(&a, i % 7); /* Unaligns the next one. */

		memset(t, 'x', i % 7 + 1);
		p[i] = arena_alloc(&a, 1 + i % 40);
		bad_align += (uintptr_t)p[i] % alignof(max_align_t) != 0;
		for (j = 0; j < 1 + i % 40; j++)
			not_zero += p[i][j] != 0;
		memset(p[i], (int)(i & 0xff), 1 + i % 40);
	}
	for (i = 0; i < 2000; i++) {
		for (j = 0; j < 1 + i % 40; j++)
			changed += p[i][j] != (unsigned char)(i & 0xff);
	}
	CHECK(bad_align == 0, "%zu allocations misaligned", bad_align);
	CHECK(not_zero == 0, "%zu bytes not zeroed", not_zero);
	CHECK(changed == 0, "%zu bytes overwritten by later allocations",
	    changed);
	CHECK(block_count(&a) > 1 && block_count(&a) < 10,
	    "%zu blocks for about 80 KB (blocks double from 512 bytes)",
	    block_count(&a));
	arena_release(&a);
	CHECK(a.blocks == NULL && a.left == 0, "release empties the arena");
}

static void
arena_large_requests_get_their_own_block(void)
{
	struct arena a;
	char *small1, *big, *small2;

	arena_setup(&a, 4096);
	small1 = arena_strndup(&a, "abc", 3);
	big = arena_alloc(&a, 100000);
	small2 = arena_strndup(&a, "de", 2);
	CHECK(block_count(&a) == 2, "%zu blocks, want 2", block_count(&a));
	CHECK(small2 == small1 + 4,
	    "the block in use still serves after a large request");
	CHECK(strcmp(small1, "abc") == 0 && strcmp(small2, "de") == 0,
	    "copies are NUL-terminated");
	memset(big, 1, 100000);
	arena_release(&a);

	/* A large first request, then small ones: a block is made for them. */
	big = arena_alloc(&a, 200000);
	small1 = arena_strndup(&a, "x", 1);
	CHECK(small1 < big || small1 >= big + 200000,
	    "a small allocation is not inside the large one");
	CHECK(block_count(&a) == 2, "%zu blocks, want 2", block_count(&a));
	arena_release(&a);
}

static void
arena_text_of_length_zero(void)
{
	struct arena a;
	char *s;

	arena_setup(&a, 10);
	s = arena_strndup(&a, "", 0);
	CHECK(s != NULL && s[0] == '\0', "an empty copy is an empty string");
	arena_release(&a);
	arena_release(&a); /* Twice is harmless. */
}

static const struct cunit_case arena_cases[] = {
	{ "arena_allocations_are_aligned_zeroed_and_kept",
	    arena_allocations_are_aligned_zeroed_and_kept },
	{ "arena_large_requests_get_their_own_block",
	    arena_large_requests_get_their_own_block },
	{ "arena_text_of_length_zero", arena_text_of_length_zero },
};

int
main(void)
{
	return cunit_run("arena", arena_cases, CUNIT_NCASES(arena_cases));
}
