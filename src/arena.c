/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Arenas (see arena.h).  Blocks double from the first one's size up to
 * ARENA_BLOCK_MAX; a request larger than a quarter of the block size
 * gets a block of its own, linked behind the current one, so that the
 * current block's free space is not thrown away for it.
 */
#include "config.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "strbuf.h"

#define ARENA_BLOCK_MIN 512
#define ARENA_BLOCK_MAX (1024 * 1024)
#define ARENA_ALIGN alignof(max_align_t)

struct arena_block {
	struct arena_block *next;
	alignas(max_align_t) char data[];
};

void
arena_setup(struct arena *a, size_t size_hint)
{
	memset(a, 0, sizeof *a);
	if (size_hint < ARENA_BLOCK_MIN)
		size_hint = ARENA_BLOCK_MIN;
	a->block_size = size_hint < ARENA_BLOCK_MAX ? size_hint :
						      ARENA_BLOCK_MAX;
}

/*
 * A new block of size bytes.  A current one makes it the block allocated
 * from; otherwise it serves one request alone and goes behind that block
 * (or first, with no room left, when there is none yet).
 */
static char *
arena_new_block(struct arena *a, size_t size, bool current)
{
	struct arena_block *b;

	if (size > SIZE_MAX - sizeof *b)
		abort();
	b = xmalloc(sizeof *b + size);
	if (current || a->blocks == NULL) {
		b->next = a->blocks;
		a->blocks = b;
		a->next = b->data;
		a->left = current ? size : 0;
	} else {
		b->next = a->blocks->next;
		a->blocks->next = b;
	}
	return b->data;
}

/* size bytes at the given alignment (a power of two). */
static void *
arena_get(struct arena *a, size_t size, size_t align)
{
	size_t pad = (size_t)(-(uintptr_t)a->next & (align - 1));
	char *p;

	if (a->blocks != NULL && pad <= a->left && size <= a->left - pad) {
		p = a->next + pad;
		a->next = p + size;
		a->left -= pad + size;
		return p;
	}
	if (size > a->block_size / 4)
		return arena_new_block(a, size, false);
	p = arena_new_block(a, a->block_size, true);
	if (a->block_size < ARENA_BLOCK_MAX)
		a->block_size *= 2;
	a->next = p + size;
	a->left -= size;
	return p;
}

void *
arena_alloc(struct arena *a, size_t size)
{
	void *p = arena_get(a, size, ARENA_ALIGN);

	memset(p, 0, size);
	return p;
}

char *
arena_text(struct arena *a, size_t len)
{
	if (len == SIZE_MAX)
		abort();
	return arena_get(a, len + 1, 1);
}

char *
arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = arena_text(a, len);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void
arena_release(struct arena *a)
{
	struct arena_block *b, *next;

	for (b = a->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->blocks = NULL;
	a->next = NULL;
	a->left = 0;
}
