/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Growable byte buffers for building SQL text and messages.  Allocation
 * failure aborts the process (see xmalloc in strbuf.c).
 */
#ifndef MTTD_STRBUF_H
#define MTTD_STRBUF_H

#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char *data; /* Always NUL-terminated once anything was added. */
	size_t len;
	size_t cap;
};

/* Set an empty buffer up (no allocation yet). */
void strbuf_setup(struct strbuf *sb);

/* Free the buffer's memory and leave it empty. */
void strbuf_shutdown(struct strbuf *sb);

/* Append len bytes. */
void strbuf_add(struct strbuf *sb, const char *data, size_t len);

/* Append a NUL-terminated string. */
void strbuf_adds(struct strbuf *sb, const char *s);

/* Append formatted text. */
void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Take the text out; the caller frees it; the buffer is left empty. */
char *strbuf_take(struct strbuf *sb);

/* malloc, calloc, realloc and strdup that abort when memory runs out. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/*
 * Copy the NUL-terminated src into dst of size bytes (size > 0), cut to
 * fit and always terminated, like snprintf's "%s" without its cost (it
 * runs for each request).
 */
void text_copy(char *dst, size_t size, const char *src);

/* printf into a new string the caller frees; aborts when memory runs out. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Number of UTF-8 characters in len bytes of valid UTF-8. */
size_t utf8_char_count(const char *s, size_t len);

/*
 * Length of the UTF-8 sequence at s (left > 0 bytes from s on), or 0 when
 * it is not valid: a stray or cut sequence, an overlong form, a surrogate
 * or a code point past U+10FFFF.
 */
size_t utf8_sequence_length(const char *s, size_t left);

/*
 * Length of the character at s (left bytes from s on) when it is one that
 * breaks, reorders or hides part of a line of text, else 0: a C1 control
 * (U+0080 to U+009F), a zero-width or directional mark (U+200B to
 * U+200F), a line or paragraph separator or a bidirectional embedding or
 * override (U+2028 to U+202E), a word joiner, invisible operator or
 * isolate (U+2060 to U+2069), or U+FEFF.  Logs blank them; user names
 * may not hold them.
 */
size_t utf8_unsafe_length(const char *s, size_t left);

/*
 * Where to cut len bytes of valid UTF-8 (a prefix of a longer text) so
 * that no character is split: len, or less by the bytes of a last
 * character that the prefix holds only in part.
 */
size_t utf8_whole_prefix(const char *s, size_t len);

/* 64-bit FNV-1a hash of len bytes, continuing from seed. */
uint64_t hash_fnv1a(uint64_t seed, const void *data, size_t len);

/* The seed to start hash_fnv1a with. */
#define HASH_FNV1A_SEED 0xcbf29ce484222325ULL

#endif /* MTTD_STRBUF_H */
