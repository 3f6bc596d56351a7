/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * HTTP Basic authentication: an htpasswd table whose hashes are checked
 * by libcrypt (bcrypt, SHA-crypt, DES) or apr-util (Apache MD5, SHA-1),
 * caches of headers already judged, and the unchecked user name
 * of proxy mode.  No password is ever logged.
 */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef HAVE_APR_UTIL
#include <apr_general.h>
#include <apr_md5.h>
#include <dlfcn.h>
#endif

#include "auth.h"
#include "json_doc.h"
#include "log.h"
#include "strbuf.h"

/* Credentials that verified, kept so bcrypt runs once per client. */
#define AUTH_CACHE_SIZE 64

/* Longest decoded user:password accepted. */
#define AUTH_CRED_MAX 4096

/* Characters of submit.http_username (varchar(16)), where a user's
 * submissions record the name. */
#define AUTH_SUBMIT_USER_MAX 16

/* Why a line whose hash is cut short or damaged is skipped (compared
 * by address: such lines are counted). */
static const char auth_hash_damaged[] = "the hash is cut short or damaged"
					" (not the whole shape of its format)";

/* Who checks a hash. */
enum auth_checker {
	AUTH_CHECKER_NONE,  /* Plain text or unknown: refused. */
	AUTH_CHECKER_CRYPT, /* libcrypt's crypt_r. */
	AUTH_CHECKER_DES,   /* crypt_r too, but weak: warned about. */
	AUTH_CHECKER_APR    /* apr-util's apr_password_validate. */
};

struct auth_entry {
	char *user;
	char *hash;
	enum auth_checker checker;
};

/*
 * A credential judged: the decoded "user:password", not the header, so
 * that a header spelled another way ("basic", more blanks) is the same
 * credential and costs no second hash.
 */
struct auth_cached {
	char *cred; /* NULL: the slot is free. */
	size_t len;
	char user[AUTH_USER_MAX + 1];
};

/* Credentials already judged, so that a repeat costs no hash. */
struct auth_cache {
	struct auth_cached slot[AUTH_CACHE_SIZE];
	unsigned next; /* The slot to fill next, round robin. */
	size_t hits;
};

struct auth {
	struct auth_entry *entries;
	size_t count;
	size_t cap;
	size_t damaged; /* Lines skipped for auth_hash_damaged, or cut. */
	size_t skipped; /* Lines skipped for any reason, those too. */
	bool cut;	/* The file ends inside a line it could not use. */
	size_t hashes;	/* Passwords checked against a hash. */
	struct auth_cache verified;
	/*
	 * A client configured with a wrong password repeats it on every
	 * request of its night: without this each would cost a hash (a
	 * bcrypt's milliseconds on the loop).  A new file is a new table,
	 * which takes over only the entries whose user's hash it did not
	 * change (auth_keep_judged).
	 */
	struct auth_cache refused;
	struct crypt_data *crypt; /* crypt_r's scratch; large. */
};

/* Compare without an early exit, so timing tells nothing of where. */
static bool
auth_equal(const char *a, const char *b, size_t len)
{
	volatile unsigned char diff = 0;
	size_t i;

	for (i = 0; i < len; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return diff == 0;
}

/* True for the 13 characters of a traditional DES crypt hash. */
static bool
auth_is_des(const char *hash)
{
	static const char alphabet[] =
	    "./0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

	return strlen(hash) == 13 && strspn(hash, alphabet) == 13;
}

/* Which library checks hash, by the prefixes htpasswd writes. */
static enum auth_checker
auth_checker_of(const char *hash)
{
	static const char *const crypt_prefixes[] = { "$2y$", "$2a$", "$2b$",
		"$5$", "$6$" };
	size_t i;

	for (i = 0; i < sizeof crypt_prefixes / sizeof crypt_prefixes[0]; i++) {
		if (strncmp(hash, crypt_prefixes[i],
			strlen(crypt_prefixes[i])) == 0)
			return AUTH_CHECKER_CRYPT;
	}
	if (strncmp(hash, "$apr1$", 6) == 0 || strncmp(hash, "{SHA}", 5) == 0)
		return AUTH_CHECKER_APR;
	if (auth_is_des(hash))
		return AUTH_CHECKER_DES;
	return AUTH_CHECKER_NONE;
}

#ifdef HAVE_APR_UTIL
/* apr-util's checker, once loaded. */
static apr_status_t (*apr_validate)(const char *password, const char *hash);

/* A function of a loaded library, or NULL (dlsym's void * cannot be
 * assigned to a function pointer in ISO C; copying its bytes can). */
static void
apr_symbol(
    void *lib, const char *soname, const char *name, void *fn_ptr, size_t size)
{
	void *sym = dlsym(lib, name);

	if (sym == NULL)
		log_warn("htpasswd: %s has no %s", soname, name);
	memcpy(fn_ptr, &sym, size);
}

/*
 * Load apr and apr-util and start apr: only when an htpasswd entry needs
 * them, so that a server whose file has none (bcrypt, as `htpasswd -B`
 * makes) does not carry the 0.3 MiB they cost.  Never unloaded.
 */
static bool
auth_apr_load(void)
{
	apr_status_t (*init)(void) = NULL;
	void (*term)(void) = NULL;
	void *apr, *aprutil = NULL;

	/* apr-util needs apr's symbols: apr goes first, globally. */
	apr = dlopen(APR_SONAME, RTLD_NOW | RTLD_GLOBAL);
	if (apr != NULL)
		aprutil = dlopen(APRUTIL_SONAME, RTLD_NOW);
	if (aprutil == NULL) {
		log_warn("htpasswd: cannot load apr-util for the $apr1$ and"
			 " {SHA} entries: %s",
		    dlerror());
		return false;
	}
	apr_symbol(apr, APR_SONAME, "apr_initialize", &init, sizeof init);
	apr_symbol(apr, APR_SONAME, "apr_terminate", &term, sizeof term);
	apr_symbol(aprutil, APRUTIL_SONAME, "apr_password_validate",
	    &apr_validate, sizeof apr_validate);
	if (init == NULL || term == NULL || apr_validate == NULL ||
	    init() != APR_SUCCESS)
		return false;
	atexit(term);
	log_info("htpasswd: loaded %s for the $apr1$ and {SHA} entries",
	    APRUTIL_SONAME);
	return true;
}
#endif

/* Load and start apr once per process; false when this build has no
 * apr-util or it could not be loaded. */
static bool
auth_apr_ready(void)
{
#ifdef HAVE_APR_UTIL
	static int state; /* 0: not tried, 1: running, -1: failed. */

	if (state == 0)
		state = auth_apr_load() ? 1 : -1;
	return state == 1;
#else
	return false;
#endif
}

/* The alphabet of crypt hashes ("./0-9A-Za-z"): n characters of it? */
static bool
auth_crypt_chars(const char *s, size_t n)
{
	static const char alphabet[] =
	    "./0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

	return strlen(s) == n && strspn(s, alphabet) == n;
}

/*
 * After a prefix: an optional "rounds=N$" (SHA-crypt), a salt of 1 to
 * salt_max characters other than '$', a '$' and sum_len characters of
 * the crypt alphabet.
 */
static bool
auth_salted_sum(const char *s, bool rounds, size_t salt_max, size_t sum_len)
{
	size_t salt;

	if (rounds && strncmp(s, "rounds=", 7) == 0) {
		s += 7;
		if (strspn(s, "0123456789") == 0)
			return false;
		s += strspn(s, "0123456789");
		if (*s++ != '$')
			return false;
	}
	salt = strcspn(s, "$");
	if (salt == 0 || salt > salt_max || s[salt] != '$')
		return false;
	return auth_crypt_chars(s + salt + 1, sum_len);
}

/* True when hash has the whole shape of its format (a file caught while
 * it is written, or pasted in part, has lines cut short). */
static bool
auth_hash_whole(const char *hash)
{
	if (strncmp(hash, "$2", 2) == 0)
		return strlen(hash) == 60 && hash[3] == '$' &&
		    strspn(hash + 4, "0123456789") == 2 && hash[6] == '$' &&
		    auth_crypt_chars(hash + 7, 53);
	if (strncmp(hash, "$5$", 3) == 0)
		return auth_salted_sum(hash + 3, true, 16, 43);
	if (strncmp(hash, "$6$", 3) == 0)
		return auth_salted_sum(hash + 3, true, 16, 86);
	if (strncmp(hash, "$apr1$", 6) == 0)
		return auth_salted_sum(hash + 6, false, 8, 22);
	if (strncmp(hash, "{SHA}", 5) == 0)
		return strlen(hash) == 33 && hash[32] == '=' &&
		    strspn(hash + 5,
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789+/") == 27;
	return true; /* DES: auth_is_des checked it whole. */
}

/*
 * Why an entry with this checker and hash cannot be used, or NULL.  DES
 * is usable but gets a warning from the caller.
 */
static const char *
auth_unusable(enum auth_checker checker, const char *hash)
{
	int rc;

	if (checker != AUTH_CHECKER_NONE && !auth_hash_whole(hash))
		return auth_hash_damaged;
	switch (checker) {
	case AUTH_CHECKER_NONE:
		return "the password is plain text or in an unknown format";
	case AUTH_CHECKER_APR:
		if (!auth_apr_ready())
			return "apr-util, which checks $apr1$ and {SHA} hashes,"
			       " is not in this build or could not be loaded";
		return NULL;
	default:
		rc = crypt_checksalt(hash);
		if (rc == CRYPT_SALT_INVALID ||
		    rc == CRYPT_SALT_METHOD_DISABLED)
			return "libcrypt cannot check this hash";
		return NULL;
	}
}

/* The entry for user, or NULL. */
static struct auth_entry *
auth_find(struct auth *a, const char *user)
{
	size_t i;

	for (i = 0; i < a->count; i++) {
		if (strcmp(a->entries[i].user, user) == 0)
			return &a->entries[i];
	}
	return NULL;
}

/* Cut white space off both ends of s, in place. */
static char *
auth_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		s[--n] = '\0';
	return s;
}

static bool auth_name_ok(const char *name);

/* Check the user and hash of a line; a reason to skip it, or NULL. */
static const char *
auth_line_refusal(struct auth *a, const char *user, const char *hash,
    enum auth_checker checker)
{
	if (*user == '\0')
		return "empty user name";
	if (*hash == '\0')
		return auth_hash_damaged;
	if (strlen(user) > AUTH_USER_MAX)
		return "user name longer than 256 bytes";
	if (!auth_name_ok(user))
		return "a control character (a tab, say), an invisible or"
		       " directional one (U+FEFF, U+200B...) or bytes that are"
		       " not UTF-8 in the user name: no client can log in as"
		       " it";
	if (auth_find(a, user) != NULL)
		return "user repeated; the first line counts";
	return auth_unusable(checker, hash);
}

/*
 * Line n was skipped: count it as damaged when its hash was, or when the
 * file ends inside it (cut: htpasswd writes whole lines, so a last one
 * without its newline was read while the file was written).
 */
static void
auth_skipped(
    struct auth *a, const char *path, unsigned n, bool damaged, bool cut)
{
	if (cut)
		log_warn("%s:%u: the file ends inside this line, as one read"
			 " while it is written",
		    path, n);
	if (damaged || cut)
		a->damaged++;
	a->skipped++;
	a->cut = a->cut || cut;
}

/*
 * Take one line "user:hash" (anything after a second colon is ignored,
 * as Apache does); cut: it has no newline.  Lines that cannot be used
 * are skipped with a warning that names the line and user but never the
 * hash.
 */
static void
auth_load_line(
    struct auth *a, const char *path, unsigned n, char *line, bool cut)
{
	enum auth_checker checker;
	char *colon, *hash, *end;
	const char *why;

	line = auth_trim(line);
	if (*line == '\0' || *line == '#') {
		/* A prefix of a rewritten file may end in a comment or blank
		 * line too, the users after it missing (break-it helper 47). */
		if (cut) {
			log_warn("%s:%u: the file ends inside this line, as one"
				 " read while it is written",
			    path, n);
			a->cut = true;
		}
		return;
	}
	if ((colon = strchr(line, ':')) == NULL) {
		log_warn(
		    "%s:%u: no ':' after the user name; line skipped", path, n);
		auth_skipped(a, path, n, false, cut);
		return;
	}
	*colon = '\0';
	hash = colon + 1;
	if ((end = strchr(hash, ':')) != NULL)
		*end = '\0';
	checker = auth_checker_of(hash);
	if ((why = auth_line_refusal(a, line, hash, checker)) != NULL) {
		log_warn("%s:%u: user '%.256s': %s; line skipped", path, n,
		    line, why);
		auth_skipped(a, path, n, why == auth_hash_damaged, cut);
		return;
	}
	if (checker == AUTH_CHECKER_DES)
		log_warn(
		    "%s:%u: user '%s': DES crypt is weak (8 characters at most); use htpasswd -B",
		    path, n, line);
	if (strchr(line, ' ') != NULL)
		log_warn("%s:%u: user '%s': a blank in the name, which is part"
			 " of it (not trimmed before the ':')",
		    path, n, line);
	if (utf8_char_count(line, strlen(line)) > AUTH_SUBMIT_USER_MAX)
		log_warn("%s:%u: user '%s': longer than %d characters, which"
			 " submit.http_username holds: this user can query,"
			 " but every submission of theirs will be refused",
		    path, n, line, AUTH_SUBMIT_USER_MAX);

	if (a->count == a->cap) {
		a->cap = a->cap == 0 ? 16 : a->cap * 2;
		a->entries = xrealloc(a->entries, a->cap * sizeof *a->entries);
	}
	a->entries[a->count].user = xstrdup(line);
	a->entries[a->count].hash = xstrdup(hash);
	a->entries[a->count++].checker = checker;
}

struct auth *
auth_load(const char *path, char **cause)
{
	struct auth *a;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned n = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		*cause = xasprintf(
		    "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	a = xcalloc(1, sizeof *a);
	a->crypt = xcalloc(1, sizeof *a->crypt);
	while ((len = getline(&line, &cap, f)) != -1) {
		/* A byte-order mark an editor put first, as in mttd.conf
		 * (break-it helper 48: it made the first user unknown). */
		bool bom = n == 0 && len >= 3 &&
		    memcmp(line, "\xef\xbb\xbf", 3) == 0;

		/* A BOM alone is an editor's empty file, not a cut line. */
		if (bom && len == 3)
			continue;
		auth_load_line(
		    a, path, ++n, line + (bom ? 3 : 0), line[len - 1] != '\n');
	}
	if (ferror(f)) {
		*cause = xasprintf(
		    "%s: cannot read: %s", path, strerror(errno));
		auth_free(a);
		a = NULL;
	}
	free(line);
	fclose(f);
	return a;
}

/* Forget every cached credential, wiping it. */
static void
auth_cache_clear(struct auth_cache *c)
{
	size_t i;

	for (i = 0; i < AUTH_CACHE_SIZE; i++) {
		if (c->slot[i].cred == NULL)
			continue;
		explicit_bzero(c->slot[i].cred, c->slot[i].len);
		free(c->slot[i].cred);
		c->slot[i].cred = NULL;
	}
}

void
auth_free(struct auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	auth_cache_clear(&a->verified);
	auth_cache_clear(&a->refused);
	for (i = 0; i < a->count; i++) {
		free(a->entries[i].user);
		free(a->entries[i].hash);
	}
	free(a->entries);
	explicit_bzero(a->crypt, sizeof *a->crypt);
	free(a->crypt);
	free(a);
}

size_t
auth_count(const struct auth *a)
{
	return a == NULL ? 0 : a->count;
}

size_t
auth_damaged(const struct auth *a)
{
	return a != NULL ? a->damaged : 0;
}

size_t
auth_skipped_lines(const struct auth *a)
{
	return a != NULL ? a->skipped : 0;
}

bool
auth_cut_short(const struct auth *a)
{
	return a != NULL && a->cut;
}

size_t
auth_hash_count(const struct auth *a)
{
	return a == NULL ? 0 : a->hashes;
}

size_t
auth_cache_hits(const struct auth *a)
{
	return a == NULL ? 0 : a->verified.hits;
}

size_t
auth_refused_hits(const struct auth *a)
{
	return a == NULL ? 0 : a->refused.hits;
}

/* The value of a base64 character, or -1. */
static int
auth_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode one group of 4 characters into out; the last group may end in
 * "=" or "==" and must then leave its unused bits zero.  Returns the
 * number of bytes, or -1.
 */
static int
auth_b64_group(const char *in, bool last, unsigned char *out)
{
	unsigned long v = 0;
	int i, d, pad = 0;

	for (i = 0; i < 4; i++) {
		if (in[i] == '=' && last && i >= 2) {
			pad++;
			v <<= 6;
			continue;
		}
		if (pad > 0 || (d = auth_b64_value((unsigned char)in[i])) < 0)
			return -1;
		v = v << 6 | (unsigned long)d;
	}
	if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0))
		return -1;
	out[0] = (unsigned char)(v >> 16);
	out[1] = (unsigned char)(v >> 8);
	out[2] = (unsigned char)v;
	return 3 - pad;
}

/* Strictly decode len characters of base64 (padded); -1 when invalid. */
static long
auth_base64_decode(const char *in, size_t len, unsigned char *out, size_t size)
{
	size_t i, n = 0;
	int got;

	if (len % 4 != 0 || len / 4 * 3 > size)
		return -1;
	for (i = 0; i < len; i += 4) {
		if ((got = auth_b64_group(in + i, i + 4 == len, out + n)) < 0)
			return -1;
		n += (size_t)got;
	}
	return (long)n;
}

/*
 * Decode the credential of a "Basic <base64>" header into cred (a
 * NUL-terminated string of size AUTH_CRED_MAX + 1).  Returns -1 for any
 * other scheme, bad base64 or a credential holding a NUL.
 */
static int
auth_basic_decode(const char *header, char *cred)
{
	const char *p = header, *end;
	long n;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "Basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
		return -1;
	for (p += 5; *p == ' ' || *p == '\t'; p++)
		;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = auth_base64_decode(
	    p, (size_t)(end - p), (unsigned char *)cred, AUTH_CRED_MAX);
	if (n < 0 || memchr(cred, '\0', (size_t)n) != NULL) {
		/* What was decoded before the fault may be a password. */
		explicit_bzero(cred, AUTH_CRED_MAX + 1);
		return -1;
	}
	cred[n] = '\0';
	return 0;
}

/* True for a name we can log and store: not empty, short, clean UTF-8. */
static bool
auth_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > AUTH_USER_MAX || !json_utf8_valid(name, n))
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f ||
		    utf8_unsafe_length(name + i, n - i) > 0)
			return false;
	}
	return true;
}

/* Copy a name auth_name_ok took into a caller's AUTH_USER_MAX + 1 bytes. */
static void
auth_user_copy(char *user, const char *name)
{
	size_t n = strnlen(name, AUTH_USER_MAX);

	memcpy(user, name, n);
	user[n] = '\0';
}

/* Look cred up among the cached ones; on a hit copy its user. */
static bool
auth_cache_find(struct auth_cache *cache, const char *cred, char *user)
{
	size_t i, len = strlen(cred);
	int hit = -1;

	/* Compare with every entry of the same length: no early exit. */
	for (i = 0; i < AUTH_CACHE_SIZE; i++) {
		if (cache->slot[i].cred != NULL && cache->slot[i].len == len &&
		    auth_equal(cache->slot[i].cred, cred, len))
			hit = (int)i;
	}
	if (hit == -1)
		return false;
	memcpy(user, cache->slot[hit].user, sizeof cache->slot[hit].user);
	cache->hits++;
	return true;
}

/* Remember a judged credential, dropping the oldest entry. */
static void
auth_cache_add(struct auth_cache *cache, const char *cred, const char *user)
{
	struct auth_cached *c = &cache->slot[cache->next];

	cache->next = (cache->next + 1) % AUTH_CACHE_SIZE;
	if (c->cred != NULL) {
		explicit_bzero(c->cred, c->len);
		free(c->cred);
	}
	c->len = strlen(cred);
	c->cred = xstrndup(cred, c->len);
	auth_user_copy(c->user, user);
}

/*
 * The credential of a header: its decoded "user:password" into cred
 * (AUTH_CRED_MAX + 1 bytes) and a pointer to the colon, or NULL when it
 * is malformed (not Basic, bad base64, no colon, an unusable name).
 */
static char *
auth_credential(const char *header, char *cred)
{
	char *colon;
	bool ok;

	if (auth_basic_decode(header, cred) == -1)
		return NULL;
	/* The user ends at the first colon: a password may hold colons. */
	if ((colon = strchr(cred, ':')) == NULL) {
		explicit_bzero(cred, AUTH_CRED_MAX + 1);
		return NULL;
	}
	*colon = '\0';
	ok = auth_name_ok(cred);
	*colon = ':';
	if (!ok) {
		explicit_bzero(cred, AUTH_CRED_MAX + 1);
		return NULL;
	}
	return colon;
}

/*
 * Check password against an entry's hash with the library that can.
 * XXX: this runs on the event loop, so a bcrypt cost well above
 * htpasswd's default 5, or a flood of ever different wrong passwords,
 * stalls every other request for the hash's time.
 */
static bool
auth_verify(struct auth *a, const struct auth_entry *e, const char *password)
{
	const char *out;
	size_t n;

	a->hashes++;
	if (e->checker == AUTH_CHECKER_APR) {
#ifdef HAVE_APR_UTIL
		return apr_validate(password, e->hash) == APR_SUCCESS;
#else
		return false; /* Never loaded: see auth_unusable. */
#endif
	}
	out = crypt_r(password, e->hash, a->crypt);
	if (out == NULL || *out == '*')
		return false;
	n = strlen(e->hash);
	return strlen(out) == n && auth_equal(out, e->hash, n);
}

enum auth_result
auth_check_cached(struct auth *a, const char *header, char *user)
{
	char cred[AUTH_CRED_MAX + 1];
	enum auth_result res = AUTH_UNJUDGED;

	if (header == NULL)
		return AUTH_MISSING;
	if (a == NULL)
		return AUTH_WRONG;
	if (auth_credential(header, cred) == NULL)
		return AUTH_MALFORMED;
	if (auth_cache_find(&a->verified, cred, user))
		res = AUTH_OK;
	else if (auth_cache_find(&a->refused, cred, user))
		res = AUTH_WRONG;
	/* What was decoded, not the whole buffer: every request comes by. */
	explicit_bzero(cred, strlen(cred));
	return res;
}

enum auth_result
auth_check(struct auth *a, const char *header, char *user)
{
	enum auth_result res = auth_check_cached(a, header, user);

	return res == AUTH_UNJUDGED ? auth_judge(a, header, user) : res;
}

enum auth_result
auth_judge(struct auth *a, const char *header, char *user)
{
	char cred[AUTH_CRED_MAX + 1], *colon;
	const struct auth_entry *e;
	const char *verdict;
	bool ok;

	if ((colon = auth_credential(header, cred)) == NULL)
		return AUTH_MALFORMED;
	*colon = '\0';
	e = auth_find(a, cred);
	ok = e != NULL && auth_verify(a, e, colon + 1);
	/* An unknown user costs a hash too (the file's first, against this
	 * password), so that the answer's time does not tell which users
	 * exist (break-it helper 31: 0.19 ms against 2.2 ms). */
	if (e == NULL && a->count > 0)
		(void)auth_verify(a, &a->entries[0], colon + 1);
	if (ok)
		verdict = "verified";
	else
		verdict = e == NULL ? "unknown user" : "wrong password";
	log_debug("user '%s': %s", cred, verdict);

	/* The name is given back on failure too, for the warning. */
	auth_user_copy(user, cred);
	*colon = ':';
	auth_cache_add(ok ? &a->verified : &a->refused, cred, user);
	explicit_bzero(cred, sizeof cred);
	return ok ? AUTH_OK : AUTH_WRONG;
}

/* Whether a judgement of user's credential by old holds in next: its
 * hash is the same, or the user is in neither. */
static bool
auth_same_judge(struct auth *next, struct auth *old, const char *user)
{
	const struct auth_entry *n = auth_find(next, user);
	const struct auth_entry *o = auth_find(old, user);

	if (n == NULL || o == NULL)
		return n == o;
	return strcmp(n->hash, o->hash) == 0;
}

/* Copy the entries of one of old's caches that still hold, oldest first. */
static void
auth_keep_cache(struct auth *next, struct auth_cache *to, struct auth *old,
    const struct auth_cache *from)
{
	const struct auth_cached *c;
	unsigned k;

	for (k = 0; k < AUTH_CACHE_SIZE; k++) {
		c = &from->slot[(from->next + k) % AUTH_CACHE_SIZE];
		if (c->cred != NULL && auth_same_judge(next, old, c->user))
			auth_cache_add(to, c->cred, c->user);
	}
}

void
auth_keep_judged(struct auth *next, struct auth *old)
{
	if (next == NULL || old == NULL)
		return;
	auth_keep_cache(next, &next->verified, old, &old->verified);
	auth_keep_cache(next, &next->refused, old, &old->refused);
}

enum auth_result
auth_proxy_user(const char *header, char *user)
{
	char cred[AUTH_CRED_MAX + 1], *colon;

	if (header == NULL)
		return AUTH_MISSING;
	if (auth_basic_decode(header, cred) == -1) {
		auth_user_copy(user, "(unknown)");
		return AUTH_OK;
	}
	if ((colon = strchr(cred, ':')) != NULL)
		*colon = '\0';
	auth_user_copy(user, auth_name_ok(cred) ? cred : "(unknown)");
	explicit_bzero(cred, sizeof cred);
	return AUTH_OK;
}

const char *
auth_result_name(enum auth_result r)
{
	switch (r) {
	case AUTH_OK:
		return "ok";
	case AUTH_MISSING:
		return "missing";
	case AUTH_MALFORMED:
		return "malformed";
	case AUTH_WRONG:
		return "wrong";
	case AUTH_UNJUDGED:
		return "unjudged";
	}
	return "unknown";
}
