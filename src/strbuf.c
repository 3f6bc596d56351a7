/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Growable buffers, abort-on-failure allocation and two small text
 * helpers.  mttd's out-of-memory policy is to abort: a results server
 * that cannot allocate a few bytes cannot answer sensibly either.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static void
oom(size_t size)
{
	fprintf(stderr, "mttd: out of memory allocating %zu bytes\n", size);
	abort();
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom(n * size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (q == NULL)
		oom(size);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
text_copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return xstrdup("");
	p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void
strbuf_setup(struct strbuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
}

void
strbuf_shutdown(struct strbuf *sb)
{
	free(sb->data);
	strbuf_setup(sb);
}

/* Make room for extra more bytes plus the terminator. */
static void
strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;

	if (need <= sb->cap)
		return;
	if (sb->cap == 0)
		sb->cap = 64;
	while (sb->cap < need)
		sb->cap *= 2;
	sb->data = xrealloc(sb->data, sb->cap);
}

void
strbuf_add(struct strbuf *sb, const char *data, size_t len)
{
	strbuf_reserve(sb, len);
	memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void
strbuf_adds(struct strbuf *sb, const char *s)
{
	strbuf_add(sb, s, strlen(s));
}

void
strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	/* Format straight into the room left; only text that does not fit
	 * is formatted a second time, after the buffer grew (SQL is built
	 * with many small appends, so most fit). */
	if (sb->cap - sb->len < 64)
		strbuf_reserve(sb, 64);
	room = sb->cap - sb->len;
	va_start(ap, fmt);
	n = vsnprintf(sb->data + sb->len, room, fmt, ap);
	va_end(ap);
	if (n <= 0) {
		sb->data[sb->len] = '\0';
		return;
	}
	if ((size_t)n >= room) {
		strbuf_reserve(sb, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

char *
strbuf_take(struct strbuf *sb)
{
	char *p = sb->data != NULL ? sb->data : xstrdup("");

	strbuf_setup(sb);
	return p;
}

size_t
utf8_char_count(const char *s, size_t len)
{
	size_t i, n = 0;

	/* Count every byte that does not continue a sequence. */
	for (i = 0; i < len; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	}
	return n;
}

size_t
utf8_sequence_length(const char *s, size_t left)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp, min;
	size_t need, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		need = 1, cp = p[0] & 0x1F, min = 0x80;
	} else if ((p[0] & 0xF0) == 0xE0) {
		need = 2, cp = p[0] & 0x0F, min = 0x800;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		need = 3, cp = p[0] & 0x07, min = 0x10000;
	} else
		return 0;
	if (left <= need)
		return 0;
	for (i = 1; i <= need; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}

	/* Overlong forms, surrogates and code points past the last. */
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return need + 1;
}

size_t
utf8_unsafe_length(const char *s, size_t left)
{
	const unsigned char *u = (const unsigned char *)s;

	if (left >= 2 && u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
		return 2; /* C1 controls: NEL, CSI... */
	if (left < 3)
		return 0;
	if (u[0] == 0xe2 && u[1] == 0x80 &&
	    ((u[2] >= 0x8b && u[2] <= 0x8f) || (u[2] >= 0xa8 && u[2] <= 0xae)))
		return 3; /* U+200B-U+200F, U+2028-U+202E */
	if (u[0] == 0xe2 && u[1] == 0x81 && u[2] >= 0xa0 && u[2] <= 0xa9)
		return 3; /* U+2060-U+2069 */
	if (u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf)
		return 3; /* U+FEFF, the byte-order mark */
	return 0;
}

size_t
utf8_whole_prefix(const char *s, size_t len)
{
	size_t lead = len, need;
	unsigned char c;

	/* Back over continuation bytes to the last character's lead byte. */
	while (lead > 0 && len - lead < 4 &&
	    ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0)
		return len;
	c = (unsigned char)s[lead - 1];
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	return len - (lead - 1) < need ? lead - 1 : len;
}

uint64_t
hash_fnv1a(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		seed ^= p[i];
		seed *= 0x100000001b3ULL;
	}
	return seed;
}
