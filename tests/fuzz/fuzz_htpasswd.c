/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the htpasswd parser: the input is loaded as an
 * htpasswd file by auth_load, then a few Basic credentials are checked
 * against it with auth_check; its last line is also tried as an
 * Authorization header, in both auth_check and auth_proxy_user.
 */
#include "config.h"

#define FUZZ_TARGET "fuzz_htpasswd"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "fuzz_common.h"

/* Hashes of a cost above these take too long to check per input. */
#define FUZZ_MAX_BCRYPT_COST 6

/* The input file: created under /tmp, unlinked at once, used by fd. */
static int fuzz_fd = -1;
static char fuzz_path[64];

/* Credentials of tests/data/htpasswd.*, right and wrong. */
static const char *const fuzz_creds[] = {
	"u_bcrypt:right-pass",
	"u_sha512:right-pass",
	"u_apr1:right-pass",
	"u_sha1:wrong-pass",
	"u_des:right-pa",
	"u_colonpw:pa:ss:word",
	"nobody:x",
};

/* "Basic " and the base64 of s, into out (big enough). */
static void
fuzz_basic(const char *s, char *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, n = strlen(s);
	char *o = out + 6;

	memcpy(out, "Basic ", 6);
	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;

		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
}

/*
 * True when the input may hold a hash too slow to check many times a
 * second: bcrypt of a high cost, or SHA-crypt with its own rounds.
 */
static int
fuzz_has_slow_hash(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++) {
		const char *p = s + i;

		if (i + 7 <= n && memcmp(p, "rounds=", 7) == 0)
			return 1;
		if (p[0] != '$' || p[1] != '2')
			continue;
		p += 2;
		if (p < s + n && *p != '$')
			p++;
		if (p + 3 > s + n || *p != '$')
			continue;
		if (p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
			return 1;
		if ((p[1] - '0') * 10 + (p[2] - '0') > FUZZ_MAX_BCRYPT_COST)
			return 1;
	}
	return 0;
}

/* The last line of the input as a C string (the caller frees it). */
static char *
fuzz_last_line(const char *s, size_t n)
{
	size_t start = n;
	char *line;

	while (start > 0 && s[start - 1] != '\n')
		start--;
	line = malloc(n - start + 1);
	fuzz_require(line != NULL, "out of memory");
	memcpy(line, s + start, n - start);
	line[n - start] = '\0';
	return line;
}

/* Check one header; the user is filled in unless it is missing. */
static void
fuzz_check(struct auth *a, const char *header)
{
	char user[AUTH_USER_MAX + 1];
	enum auth_result r;

	memset(user, 0, sizeof user);
	r = auth_check(a, header, user);
	(void)auth_result_name(r);
	if (r == AUTH_OK || r == AUTH_WRONG)
		fuzz_require(memchr(user, '\0', sizeof user) != NULL,
		    "user name not terminated");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/mttd-fuzz-htpasswd.XXXXXX";

	(void)argc;
	(void)argv;
	log_threshold = LOG_LEVEL_CRITICAL;
	if ((fuzz_fd = mkstemp(tmpl)) == -1) {
		perror("mkstemp");
		exit(2);
	}
	unlink(tmpl);
	snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char header[512], user[AUTH_USER_MAX + 1];
	char *cause = NULL, *last;
	struct auth *a;
	size_t i;

	/* Replace the file's contents with the input. */
	if (ftruncate(fuzz_fd, 0) != 0 ||
	    (size > 0 && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size)) {
		perror("fuzz_htpasswd: write");
		abort();
	}

	a = auth_load(fuzz_path, &cause);
	fuzz_require(a != NULL, "a readable file was refused");
	(void)auth_count(a);

	/* The last line as a header: to the proxy always, to a check
	 * only when no slow hash could make it crawl. */
	last = fuzz_last_line(s, size);
	(void)auth_proxy_user(last, user);
	if (!fuzz_has_slow_hash(s, size)) {
		fuzz_check(a, NULL);
		fuzz_check(a, last);
		for (i = 0; i < sizeof fuzz_creds / sizeof fuzz_creds[0]; i++) {
			fuzz_basic(fuzz_creds[i], header);
			fuzz_check(a, header);
			fuzz_check(a, header); /* From the cache. */
		}
	}
	free(last);
	free(cause);
	auth_free(a);
	return 0;
}
