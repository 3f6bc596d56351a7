/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of auth: htpasswd files written by Apache's own htpasswd,
 * one user per hash format, Basic header parsing, the cache of verified
 * headers and the user names of proxy mode.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cunit_main.h"
#include "log.h"

static struct auth *all;  /* tests/data/htpasswd.all */
static struct auth *edge; /* tests/data/htpasswd.edge */
static char log_path[PATH_MAX];

/* Base64 of len bytes, for building headers. */
static void
b64(const char *in, size_t len, char *out)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)in;
	unsigned long v;
	size_t i, n = 0;

	for (i = 0; i < len; i += 3) {
		v = (unsigned long)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[n++] = abc[v >> 18 & 63];
		out[n++] = abc[v >> 12 & 63];
		out[n++] = i + 1 < len ? abc[v >> 6 & 63] : '=';
		out[n++] = i + 2 < len ? abc[v & 63] : '=';
	}
	out[n] = '\0';
}

/* "Basic " and the base64 of len bytes of cred, in a static buffer. */
static const char *
basic_n(const char *cred, size_t len)
{
	static char header[8192];

	memcpy(header, "Basic ", 6);
	b64(cred, len, header + 6);
	return header;
}

static const char *
basic(const char *cred)
{
	return basic_n(cred, strlen(cred));
}

/* Everything logged so far, in a buffer the caller frees. */
static char *
log_text(void)
{
	char *text;
	FILE *f;
	long n;

	if ((f = fopen(log_path, "r")) == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	if (fread(text, 1, (size_t)n, f) != (size_t)n)
		text[0] = '\0';
	fclose(f);
	return text;
}

/* True when the log holds needle. */
static bool
log_has(const char *needle)
{
	char *text = log_text();
	bool found = strstr(text, needle) != NULL;

	free(text);
	return found;
}

/* Check user:password against a and the user name it answers. */
static enum auth_result
check(struct auth *a, const char *user, const char *password)
{
	char cred[1024], name[AUTH_USER_MAX + 1] = "";
	enum auth_result r;

	snprintf(cred, sizeof cred, "%s:%s", user, password);
	r = auth_check(a, basic(cred), name);
	if (r == AUTH_OK)
		CU_ASSERT_STRING_EQUAL(name, user);
	return r;
}

static const char *const crypt_users[] = { "u_bcrypt", "u_sha256", "u_sha512",
	"u_des" };
static const char *const apr_users[] = { "u_apr1", "u_sha1" };

#define NELEM(a) (sizeof(a) / sizeof(a)[0])

static void
auth_loads_every_usable_htpasswd_line(void)
{
#ifdef HAVE_APR_UTIL
	CU_ASSERT_EQUAL(auth_count(all), 6);
#else
	CU_ASSERT_EQUAL(auth_count(all), 4);
#endif
	CU_ASSERT_EQUAL(auth_count(edge), 4);
	CU_ASSERT_EQUAL(auth_count(NULL), 0);
}

static void
auth_accepts_right_password_in_every_format(void)
{
	size_t i;

	for (i = 0; i < NELEM(crypt_users); i++)
		CU_ASSERT_EQUAL(
		    check(all, crypt_users[i], "right-pass"), AUTH_OK);
	for (i = 0; i < NELEM(apr_users); i++) {
#ifdef HAVE_APR_UTIL
		CU_ASSERT_EQUAL(
		    check(all, apr_users[i], "right-pass"), AUTH_OK);
#else
		CU_ASSERT_EQUAL(
		    check(all, apr_users[i], "right-pass"), AUTH_WRONG);
#endif
	}
}

static void
auth_refuses_wrong_password_in_every_format(void)
{
	size_t i;

	for (i = 0; i < NELEM(crypt_users); i++) {
		CU_ASSERT_EQUAL(
		    check(all, crypt_users[i], "wrong-pass"), AUTH_WRONG);
		CU_ASSERT_EQUAL(check(all, crypt_users[i], ""), AUTH_WRONG);
	}
	for (i = 0; i < NELEM(apr_users); i++)
		CU_ASSERT_EQUAL(
		    check(all, apr_users[i], "wrong-pass"), AUTH_WRONG);
	CU_ASSERT_EQUAL(check(all, "u_bcrypt", "right-pas"), AUTH_WRONG);
	CU_ASSERT_EQUAL(check(all, "u_sha512", "right-pass "), AUTH_WRONG);
}

static void
auth_des_reads_only_eight_characters(void)
{
	/* The weakness the load warning is about, pinned. */
	CU_ASSERT_EQUAL(check(all, "u_des", "right-pa"), AUTH_OK);
	CU_ASSERT_EQUAL(check(all, "u_des", "right-paXYZ"), AUTH_OK);
	CU_ASSERT_TRUE(log_has("htpasswd.all:4: user 'u_des': DES crypt is "
			       "weak"));
}

static void
auth_skips_plain_text_line_with_warning(void)
{
	CU_ASSERT_EQUAL(check(all, "u_plain", "right-pass"), AUTH_WRONG);
	CU_ASSERT_TRUE(
	    log_has("htpasswd.all:7: user 'u_plain': the password "
		    "is plain text or in an unknown format; line skipped"));
}

static void
auth_warns_about_each_unusable_line(void)
{
	CU_ASSERT_TRUE(log_has("htpasswd.edge:4: no ':' after the user name; "
			       "line skipped"));
	CU_ASSERT_TRUE(log_has("htpasswd.edge:5: user '': empty user name; "
			       "line skipped"));
	CU_ASSERT_TRUE(log_has("htpasswd.edge:6: user 'xxxx"));
	CU_ASSERT_TRUE(log_has("': user name longer than 256 bytes; line "
			       "skipped"));
	CU_ASSERT_TRUE(log_has("htpasswd.edge:8: user 'u_dup': user repeated; "
			       "the first line counts; line skipped"));
	CU_ASSERT_TRUE(log_has("htpasswd.edge:10: user 'u_unknown': the "
			       "password is plain text"));
#ifndef HAVE_APR_UTIL
	CU_ASSERT_TRUE(log_has("htpasswd.all:5: user 'u_apr1': this build has "
			       "no apr-util"));
	CU_ASSERT_TRUE(log_has("htpasswd.all:6: user 'u_sha1': this build has "
			       "no apr-util"));
#endif
	CU_ASSERT_FALSE(log_has("htpasswd.edge:1:"));
	CU_ASSERT_FALSE(log_has("htpasswd.edge:3:"));
	CU_ASSERT_FALSE(log_has("htpasswd.edge:12:"));
}

static void
auth_edge_lines_load_like_apache(void)
{
	/* The first of two lines for a user counts. */
	CU_ASSERT_EQUAL(check(edge, "u_dup", "first-pass"), AUTH_OK);
	CU_ASSERT_EQUAL(check(edge, "u_dup", "second-pass"), AUTH_WRONG);

	/* A second colon ends the hash; white space around a line goes. */
	CU_ASSERT_EQUAL(check(edge, "u_extra", "right-pass"), AUTH_OK);
	CU_ASSERT_EQUAL(check(edge, "u_spaced", "right-pass"), AUTH_OK);
	CU_ASSERT_EQUAL(
	    check(edge, "u_unknown", "not-a-known-format"), AUTH_WRONG);
}

static void
auth_accepts_password_with_colons(void)
{
	CU_ASSERT_EQUAL(check(edge, "u_colonpw", "pa:ss:word"), AUTH_OK);
	CU_ASSERT_EQUAL(check(edge, "u_colonpw", "pa:ss"), AUTH_WRONG);
}

static void
auth_reports_missing_header(void)
{
	char user[AUTH_USER_MAX + 1];

	CU_ASSERT_EQUAL(auth_check(all, NULL, user), AUTH_MISSING);
}

static void
auth_refuses_unknown_user(void)
{
	CU_ASSERT_EQUAL(check(all, "nobody", "right-pass"), AUTH_WRONG);
	CU_ASSERT_EQUAL(check(all, "U_BCRYPT", "right-pass"), AUTH_WRONG);
}

static void
auth_rejects_bad_base64(void)
{
	static const char *const bad[] = {
		"Basic !!!!",
		"Basic dXNlcjpwYXNzd29yZA=",  /* Length not 4n. */
		"Basic dXNlcjpwYXNzd29yZA",   /* Padding left off. */
		"Basic dXNl=jpw",	      /* '=' inside. */
		"Basic dXNlcjpwYXNzd29yZB==", /* Stray low bits. */
		"Basic dXNlcjpwYXNzd29yZA===",
		"Basic dXNl cjpw",
		"Basic ====",
	};
	char user[AUTH_USER_MAX + 1];
	size_t i;

	for (i = 0; i < NELEM(bad); i++) {
		if (auth_check(all, bad[i], user) != AUTH_MALFORMED)
			fprintf(stderr, "\n  not refused: %s\n", bad[i]);
		CU_ASSERT_EQUAL(auth_check(all, bad[i], user), AUTH_MALFORMED);
	}
}

static void
auth_rejects_credential_without_colon(void)
{
	char user[AUTH_USER_MAX + 1];

	CU_ASSERT_EQUAL(
	    auth_check(all, basic("u_bcrypt"), user), AUTH_MALFORMED);
	CU_ASSERT_EQUAL(auth_check(all, "Basic ", user), AUTH_MALFORMED);
}

static void
auth_rejects_other_schemes(void)
{
	static const char *const bad[] = {
		"Bearer x",
		"Digest username=\"u\"",
		"Basicx dTpw",
		"Basic",
		"",
		"dTpw",
	};
	char user[AUTH_USER_MAX + 1];
	size_t i;

	for (i = 0; i < NELEM(bad); i++)
		CU_ASSERT_EQUAL(auth_check(all, bad[i], user), AUTH_MALFORMED);
}

static void
auth_reads_scheme_in_any_case_and_spacing(void)
{
	char header[256], user[AUTH_USER_MAX + 1];
	char b[64];

	b64("u_sha256:right-pass", 19, b);
	snprintf(header, sizeof header, "basic %s", b);
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_OK);
	snprintf(header, sizeof header, "BASIC   %s  ", b);
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_OK);
	snprintf(header, sizeof header, "bAsIc\t%s", b);
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "u_sha256");
}

static void
auth_rejects_empty_or_long_user(void)
{
	char cred[512], user[AUTH_USER_MAX + 1];

	CU_ASSERT_EQUAL(
	    auth_check(all, basic(":right-pass"), user), AUTH_MALFORMED);
	memset(cred, 'x', AUTH_USER_MAX + 1);
	strcpy(cred + AUTH_USER_MAX + 1, ":pw");
	CU_ASSERT_EQUAL(auth_check(all, basic(cred), user), AUTH_MALFORMED);

	/* A name of exactly AUTH_USER_MAX bytes is well formed. */
	strcpy(cred + AUTH_USER_MAX, ":pw");
	CU_ASSERT_EQUAL(auth_check(all, basic(cred), user), AUTH_WRONG);
}

static void
auth_rejects_nul_in_credential(void)
{
	static const char cred[] = "u_des:right-pa\0rest";
	char user[AUTH_USER_MAX + 1];

	/* crypt would stop at the NUL and accept the prefix. */
	CU_ASSERT_EQUAL(auth_check(all, basic_n(cred, sizeof cred - 1), user),
	    AUTH_MALFORMED);
}

/* The two halves the login limit goes between: the caches, then the
 * hash. */
static void
auth_check_cached_judges_only_from_the_caches(void)
{
	char user[AUTH_USER_MAX + 1], right[256], wrong[256];

	snprintf(right, sizeof right, "%s", basic("u_sha256:right-pass"));
	snprintf(wrong, sizeof wrong, "%s", basic("u_sha256:halves-wrong"));
	CU_ASSERT_EQUAL(auth_check_cached(all, NULL, user), AUTH_MISSING);
	CU_ASSERT_EQUAL(auth_check_cached(all, wrong, user), AUTH_UNJUDGED);
	CU_ASSERT_EQUAL(auth_judge(all, wrong, user), AUTH_WRONG);
	CU_ASSERT_EQUAL(auth_check_cached(all, wrong, user), AUTH_WRONG);
	CU_ASSERT_EQUAL(auth_check_cached(all, right, user), AUTH_UNJUDGED);
	CU_ASSERT_EQUAL(auth_judge(all, right, user), AUTH_OK);
	memset(user, 0, sizeof user);
	CU_ASSERT_EQUAL(auth_check_cached(all, right, user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "u_sha256");
	CU_ASSERT_EQUAL(auth_judge(all, "Basic !!", user), AUTH_MALFORMED);
	CU_ASSERT_STRING_EQUAL(auth_result_name(AUTH_UNJUDGED), "unjudged");
}

static void
auth_cache_answers_repeated_header(void)
{
	char user[AUTH_USER_MAX + 1], header[256];
	size_t hits, refused;

	snprintf(header, sizeof header, "%s",
	    basic("u_bcrypt:cache-test-never-valid"));
	hits = auth_cache_hits(all);
	refused = auth_refused_hits(all);

	/* A wrong credential repeated is refused from the cache... */
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_WRONG);
	CU_ASSERT_EQUAL(auth_refused_hits(all), refused);
	memset(user, 0, sizeof user);
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_WRONG);
	CU_ASSERT_STRING_EQUAL(user, "u_bcrypt");
	CU_ASSERT_EQUAL(auth_refused_hits(all), refused + 1);
	CU_ASSERT_EQUAL(auth_cache_hits(all), hits);

	/* A different wrong credential is checked afresh. */
	snprintf(header, sizeof header, "%s",
	    basic("u_bcrypt:cache-test-never-valid-2"));
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_WRONG);
	CU_ASSERT_EQUAL(auth_refused_hits(all), refused + 1);

	snprintf(header, sizeof header, "%s", basic("u_bcrypt:right-pass"));
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_OK);
	hits = auth_cache_hits(all);
	memset(user, 0, sizeof user);
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "u_bcrypt");
	CU_ASSERT_EQUAL(auth_cache_hits(all), hits + 1);

	/* A header that differs in one byte is not a hit. */
	header[strlen(header) - 1] = 'A';
	CU_ASSERT_NOT_EQUAL(auth_check(all, header, user), AUTH_OK);
	CU_ASSERT_EQUAL(auth_cache_hits(all), hits + 1);
}

static void
auth_cache_drops_oldest_when_full(void)
{
	char first[512], header[512], user[AUTH_USER_MAX + 1];
	char cred[64], b[128];
	size_t hits;
	int i;

	/* 70 distinct valid credentials overflow 64 slots: DES reads 8
	 * characters of a password, so "right-pa" + anything is right. */
	for (i = 0; i < 70; i++) {
		snprintf(cred, sizeof cred, "u_des:right-pa%d", i);
		b64(cred, strlen(cred), b);
		snprintf(header, sizeof header, "Basic %s", b);
		if (i == 0)
			snprintf(first, sizeof first, "%s", header);
		CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_OK);
	}
	hits = auth_cache_hits(all);
	CU_ASSERT_EQUAL(auth_check(all, first, user), AUTH_OK);
	CU_ASSERT_EQUAL(auth_cache_hits(all), hits);
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_OK);
	CU_ASSERT_EQUAL(auth_cache_hits(all), hits + 1);
}

/* A reload keeps what still holds: the same hash, or a user in
 * neither table. */
static void
auth_reload_keeps_judgements_that_hold(void)
{
	char right[256], wrong[256], nobody[256], user[AUTH_USER_MAX + 1];
	struct auth *old, *same, *other;
	char *cause = NULL;

	old = auth_load(cunit_srcpath("tests/data/htpasswd.all"), &cause);
	same = auth_load(cunit_srcpath("tests/data/htpasswd.all"), &cause);
	other = auth_load(cunit_srcpath("tests/data/htpasswd.edge"), &cause);
	CU_ASSERT_PTR_NOT_NULL_FATAL(old);
	CU_ASSERT_PTR_NOT_NULL_FATAL(same);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	snprintf(right, sizeof right, "%s", basic("u_sha256:right-pass"));
	snprintf(wrong, sizeof wrong, "%s", basic("u_sha256:keep-wrong"));
	snprintf(nobody, sizeof nobody, "%s", basic("nobody:x"));
	CU_ASSERT_EQUAL(auth_check(old, right, user), AUTH_OK);
	CU_ASSERT_EQUAL(auth_check(old, wrong, user), AUTH_WRONG);
	CU_ASSERT_EQUAL(auth_check(old, nobody, user), AUTH_WRONG);

	/* The same file again: all three hold. */
	auth_keep_judged(same, old);
	CU_ASSERT_EQUAL(auth_check_cached(same, right, user), AUTH_OK);
	CU_ASSERT_EQUAL(auth_check_cached(same, wrong, user), AUTH_WRONG);
	CU_ASSERT_EQUAL(auth_check_cached(same, nobody, user), AUTH_WRONG);

	/* A file without u_sha256: only the unknown user's holds. */
	auth_keep_judged(other, old);
	CU_ASSERT_EQUAL(auth_check_cached(other, right, user), AUTH_UNJUDGED);
	CU_ASSERT_EQUAL(auth_check_cached(other, wrong, user), AUTH_UNJUDGED);
	CU_ASSERT_EQUAL(auth_check_cached(other, nobody, user), AUTH_WRONG);
	auth_keep_judged(NULL, old);
	auth_keep_judged(other, NULL);
	auth_free(old);
	auth_free(same);
	auth_free(other);
}

/* An unknown user costs a hash like a known one, so that the answer's
 * time does not tell which users exist. */
static void
auth_unknown_user_costs_a_hash(void)
{
	char user[AUTH_USER_MAX + 1];
	size_t before = auth_hash_count(all);

	CU_ASSERT_EQUAL(
	    auth_check(all, basic("u_sha256:hash-count-1"), user), AUTH_WRONG);
	CU_ASSERT_EQUAL(auth_hash_count(all), before + 1);
	CU_ASSERT_EQUAL(
	    auth_check(all, basic("no_such_user:hash-count-2"), user),
	    AUTH_WRONG);
	CU_ASSERT_EQUAL(auth_hash_count(all), before + 2);
	/* Judged before: no hash. */
	CU_ASSERT_EQUAL(
	    auth_check(all, basic("no_such_user:hash-count-2"), user),
	    AUTH_WRONG);
	CU_ASSERT_EQUAL(auth_hash_count(all), before + 2);
}

/* The cache holds credentials: a header spelled another way is the
 * same one, and costs no second hash (break-it helper 30). */
static void
auth_cache_finds_a_credential_however_spelled(void)
{
	static const struct {
		const char *before, *after;
	} forms[] = { { "Basic ", "" }, { "basic ", "" }, { "BASIC   ", "" },
		{ "  Basic\t", "  " } };
	char header[512], user[AUTH_USER_MAX + 1], b[128];
	size_t hits, i;

	b64("u_sha512:right-pass", 19, b);
	snprintf(header, sizeof header, "Basic %s", b);
	CU_ASSERT_EQUAL(auth_check(all, header, user), AUTH_OK);
	for (i = 0; i < CUNIT_NCASES(forms); i++) {
		snprintf(header, sizeof header, "%s%s%s", forms[i].before, b,
		    forms[i].after);
		hits = auth_cache_hits(all);
		CU_ASSERT_EQUAL(auth_check_cached(all, header, user), AUTH_OK);
		CU_ASSERT_EQUAL(auth_cache_hits(all), hits + 1);
	}
}

/* A hash cut short is skipped and counted, whatever its format; whole
 * ones with rounds or another cost load. */
static void
auth_skips_and_counts_damaged_hashes(void)
{
	static const char *const damaged[] = { "u_bcrypt_cut",
		"u_bcrypt_setting", "u_sha256_cut", "u_sha512_nosum",
		"u_sha512_salt", "u_apr1_cut", "u_sha1_cut", "u_bcrypt_bad" };
	static const char *const whole[] = { "u_ok", "u_sha256_rounds",
		"u_sha512_rounds", "u_bcrypt4" };
	char *cause = NULL, needle[256];
	struct auth *a = auth_load(
	    cunit_srcpath("tests/data/htpasswd.damaged"), &cause);
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(auth_count(a), NELEM(whole));
	CU_ASSERT_EQUAL(auth_damaged(a), NELEM(damaged));
	CU_ASSERT_FALSE(auth_cut_short(a)); /* Every line has its newline. */
	for (i = 0; i < NELEM(damaged); i++) {
		snprintf(needle, sizeof needle,
		    "htpasswd.damaged:%zu: user '%s': the hash is cut short or"
		    " damaged (not the whole shape of its format); line"
		    " skipped",
		    i + 3, damaged[i]);
		CU_ASSERT_TRUE(log_has(needle));
		CU_ASSERT_EQUAL(check(a, damaged[i], "right-pass"), AUTH_WRONG);
	}
	for (i = 0; i < NELEM(whole); i++)
		CU_ASSERT_EQUAL(check(a, whole[i], "right-pass"), AUTH_OK);
	/* The whole files have none. */
	CU_ASSERT_EQUAL(auth_damaged(all), 0);
	CU_ASSERT_EQUAL(auth_damaged(edge), 0);
	CU_ASSERT_EQUAL(auth_damaged(NULL), 0);
	CU_ASSERT_FALSE(auth_cut_short(NULL));
	auth_free(a);
}

/* Load text from a file of our own; the table, or NULL. */
static struct auth *
load_text(const char *text)
{
	char path[PATH_MAX + 8], *cause = NULL;
	struct auth *a;
	FILE *f;

	snprintf(path, sizeof path, "%s.cut", log_path);
	if ((f = fopen(path, "w")) == NULL)
		return NULL;
	fputs(text, f);
	fclose(f);
	a = auth_load(path, &cause);
	free(cause);
	unlink(path);
	return a;
}

/* A last line cut before its end (no newline) that cannot be used is
 * damaged and cut whatever it looks like: a user name, "user:", a
 * prefix, a DES hash cut short.  With its newline, such a line is only
 * skipped, and a damaged hash with its newline is no cut. */
static void
auth_counts_a_cut_last_line_as_damaged(void)
{
	static const char whole[] =
	    "u_ok:$2y$05$FByO/knvC20qBbMw.tjcDOCy.ynhBHAk7zemYwHQ8U7jYeKprNg7.\n";
	static const char *const cut[] = { "ca", "carol:", "carol:$2y",
		"carol:KVjzFIZA", "carol:{SH" };
	char text[512];
	struct auth *a;
	size_t i;

	for (i = 0; i < NELEM(cut); i++) {
		snprintf(text, sizeof text, "%s%s", whole, cut[i]);
		a = load_text(text);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_EQUAL(auth_count(a), 1);
		CU_ASSERT_EQUAL(auth_damaged(a), 1);
		CU_ASSERT_TRUE(auth_cut_short(a));
		auth_free(a);
	}
	CU_ASSERT_TRUE(log_has(".cut:2: the file ends inside this line, as"
			       " one read while it is written"));
	/* Whole lines: an unknown format is skipped, not damaged; an empty
	 * hash is damaged anywhere. */
	snprintf(text, sizeof text, "%scarol:KVjzFIZA\n", whole);
	a = load_text(text);
	CU_ASSERT_EQUAL(auth_damaged(a), 0);
	auth_free(a);
	snprintf(text, sizeof text, "carol:\n%s", whole);
	a = load_text(text);
	CU_ASSERT_EQUAL(auth_count(a), 1);
	CU_ASSERT_EQUAL(auth_damaged(a), 1);
	CU_ASSERT_FALSE(auth_cut_short(a));
	auth_free(a);
	/* A damaged last line with its newline is no cut either. */
	snprintf(text, sizeof text, "%scarol:$2y$05$FByO\n", whole);
	a = load_text(text);
	CU_ASSERT_EQUAL(auth_count(a), 1);
	CU_ASSERT_EQUAL(auth_damaged(a), 1);
	CU_ASSERT_FALSE(auth_cut_short(a));
	auth_free(a);
	/* A comment or blank line cut: no user lost in it, but those after
	 * it may be (break-it helper 47). */
	snprintf(text, sizeof text, "%s# users of the ni", whole);
	a = load_text(text);
	CU_ASSERT_EQUAL(auth_count(a), 1);
	CU_ASSERT_EQUAL(auth_damaged(a), 0);
	CU_ASSERT_TRUE(auth_cut_short(a));
	auth_free(a);
	snprintf(text, sizeof text, "%s# a whole comment\n", whole);
	a = load_text(text);
	CU_ASSERT_FALSE(auth_cut_short(a));
	auth_free(a);
	/* A whole last line without its newline loads. */
	snprintf(text, sizeof text, "%.*s", (int)strlen(whole) - 1, whole);
	a = load_text(text);
	CU_ASSERT_EQUAL(auth_count(a), 1);
	CU_ASSERT_EQUAL(auth_damaged(a), 0);
	auth_free(a);
}

/* A user whose name submit.http_username (16 characters) cannot hold
 * loads, with a warning that their submissions will be refused
 * (break-it helper 46): characters are counted, not bytes. */
static void
auth_warns_about_a_user_name_too_long_to_submit(void)
{
	static const char hash[] =
	    "$2y$05$FByO/knvC20qBbMw.tjcDOCy.ynhBHAk7zemYwHQ8U7jYeKprNg7.";
	/* 17 ASCII characters, then 16 two-byte ones (32 bytes, é). */
	static const char long_name[] = "seventeen-chars-x";
	static const char wide_name[] = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
					"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
					"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
					"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
	char text[512], expect[256];
	struct auth *a;

	snprintf(text, sizeof text, "%s:%s\n%s:%s\n", long_name, hash,
	    wide_name, hash);
	a = load_text(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(auth_count(a), 2);
	auth_free(a);
	snprintf(expect, sizeof expect,
	    ".cut:1: user '%s': longer than 16 characters, which"
	    " submit.http_username holds: this user can query, but every"
	    " submission of theirs will be refused",
	    long_name);
	CU_ASSERT_TRUE(log_has(expect));
	snprintf(expect, sizeof expect, ".cut:2: user '%s'", wide_name);
	CU_ASSERT_FALSE(log_has(expect));
}

/* A byte-order mark before the first line is skipped; a user name with a
 * control character (no client can send it) is skipped with a warning,
 * and one with a blank loads with one (break-it helper 48: a BOM or a tab
 * made a user unknown without a word). */
static void
auth_skips_a_bom_and_warns_of_odd_names(void)
{
	static const char hash[] =
	    "$2y$05$FByO/knvC20qBbMw.tjcDOCy.ynhBHAk7zemYwHQ8U7jYeKprNg7.";
	char text[1024];
	struct auth *a;

	/* Then a BOM on a later line, a zero-width space and a C1 control,
	 * which hide in a name: skipped too (break-it helper 49). */
	snprintf(text, sizeof text,
	    "\xef\xbb\xbfu_ok:%s\nu_tab\t:%s\nu sp:%s\n\xef\xbb\xbfu_ok2:%s\n"
	    "u\xe2\x80\x8bzw:%s\nu\xc2\x85nel:%s\n",
	    hash, hash, hash, hash, hash, hash);
	a = load_text(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(auth_count(a), 2);
	CU_ASSERT_EQUAL(check(a, "u_ok", "right-pass"), AUTH_OK);
	CU_ASSERT_EQUAL(check(a, "u sp", "right-pass"), AUTH_OK);
	auth_free(a);
	/* The log writes the tab as a blank. */
	CU_ASSERT_TRUE(
	    log_has(".cut:2: user 'u_tab ': a control character (a"
		    " tab, say), an invisible or directional one"
		    " (U+FEFF, U+200B...) or bytes that are not UTF-8"
		    " in the user name: no client can log in as it;"
		    " line skipped"));
	CU_ASSERT_TRUE(log_has(".cut:4: user '???u_ok2': a control character"));
	CU_ASSERT_TRUE(log_has(".cut:5: user 'u???zw': a control character"));
	CU_ASSERT_TRUE(log_has(".cut:6: user 'u??nel': a control character"));
	/* A BOM alone is an editor's empty file: no user, nothing cut. */
	a = load_text("\xef\xbb\xbf");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(auth_count(a), 0);
	CU_ASSERT_FALSE(auth_cut_short(a));
	auth_free(a);
	CU_ASSERT_TRUE(log_has(".cut:3: user 'u sp': a blank in the name,"
			       " which is part of it (not trimmed before the"
			       " ':')"));
}

static void
auth_load_fails_for_missing_file(void)
{
	char *cause = NULL;

	CU_ASSERT_PTR_NULL(auth_load("/nonexistent/htpasswd", &cause));
	CU_ASSERT_STRING_EQUAL(cause,
	    "/nonexistent/htpasswd: cannot open: "
	    "No such file or directory");
	free(cause);
	auth_free(NULL);
}

static void
auth_proxy_user_takes_name_before_first_colon(void)
{
	static const struct {
		const char *header, *user;
	} cases[] = {
		{ "Bearer x", "(unknown)" },
		{ "Basic !!!!", "(unknown)" },
		{ "Digest username=\"alice\"", "(unknown)" },
		{ "", "(unknown)" },
	};
	char user[AUTH_USER_MAX + 1];
	size_t i;

	CU_ASSERT_EQUAL(auth_proxy_user(NULL, user), AUTH_MISSING);
	CU_ASSERT_EQUAL(auth_proxy_user(basic("alice:pw:x"), user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "alice");
	CU_ASSERT_EQUAL(auth_proxy_user(basic("bob"), user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "bob");
	CU_ASSERT_EQUAL(auth_proxy_user(basic("carol:"), user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "carol");
	for (i = 0; i < NELEM(cases); i++) {
		CU_ASSERT_EQUAL(
		    auth_proxy_user(cases[i].header, user), AUTH_OK);
		CU_ASSERT_STRING_EQUAL(user, cases[i].user);
	}
}

static void
auth_proxy_user_refuses_names_unfit_to_store(void)
{
	char user[AUTH_USER_MAX + 1], big[400];

	CU_ASSERT_EQUAL(auth_proxy_user(basic(":pw"), user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "(unknown)");
	CU_ASSERT_EQUAL(auth_proxy_user(basic("a\nb:pw"), user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "(unknown)");
	CU_ASSERT_EQUAL(auth_proxy_user(basic("\xff\xfe:pw"), user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "(unknown)");
	memset(big, 'y', 300);
	strcpy(big + 300, ":pw");
	CU_ASSERT_EQUAL(auth_proxy_user(basic(big), user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "(unknown)");
	CU_ASSERT_EQUAL(
	    auth_proxy_user(basic("j\xc3\xb6rg:pw"), user), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(user, "j\xc3\xb6rg");
}

static void
auth_result_names_read_well(void)
{
	CU_ASSERT_STRING_EQUAL(auth_result_name(AUTH_OK), "ok");
	CU_ASSERT_STRING_EQUAL(auth_result_name(AUTH_MISSING), "missing");
	CU_ASSERT_STRING_EQUAL(auth_result_name(AUTH_MALFORMED), "malformed");
	CU_ASSERT_STRING_EQUAL(auth_result_name(AUTH_WRONG), "wrong");
}

static void
auth_never_logs_a_password(void)
{
	/* Run last: every case before logged at DEBUG into log_path. */
	CU_ASSERT_TRUE(log_has("DEBUG"));
	CU_ASSERT_FALSE(log_has("right-pass"));
	CU_ASSERT_FALSE(log_has("wrong-pass"));
	CU_ASSERT_FALSE(log_has("first-pass"));
	CU_ASSERT_FALSE(log_has("pa:ss"));
	CU_ASSERT_FALSE(log_has("$2y$"));
	CU_ASSERT_FALSE(log_has(basic("u_bcrypt:right-pass") + 6));
}

static const struct cunit_case auth_cases[] = {
	{ "auth_loads_every_usable_htpasswd_line",
	    auth_loads_every_usable_htpasswd_line },
	{ "auth_check_cached_judges_only_from_the_caches",
	    auth_check_cached_judges_only_from_the_caches },
	{ "auth_unknown_user_costs_a_hash", auth_unknown_user_costs_a_hash },
	{ "auth_reload_keeps_judgements_that_hold",
	    auth_reload_keeps_judgements_that_hold },
	{ "auth_cache_finds_a_credential_however_spelled",
	    auth_cache_finds_a_credential_however_spelled },
	{ "auth_accepts_right_password_in_every_format",
	    auth_accepts_right_password_in_every_format },
	{ "auth_refuses_wrong_password_in_every_format",
	    auth_refuses_wrong_password_in_every_format },
	{ "auth_des_reads_only_eight_characters",
	    auth_des_reads_only_eight_characters },
	{ "auth_skips_plain_text_line_with_warning",
	    auth_skips_plain_text_line_with_warning },
	{ "auth_warns_about_each_unusable_line",
	    auth_warns_about_each_unusable_line },
	{ "auth_edge_lines_load_like_apache",
	    auth_edge_lines_load_like_apache },
	{ "auth_accepts_password_with_colons",
	    auth_accepts_password_with_colons },
	{ "auth_reports_missing_header", auth_reports_missing_header },
	{ "auth_refuses_unknown_user", auth_refuses_unknown_user },
	{ "auth_rejects_bad_base64", auth_rejects_bad_base64 },
	{ "auth_rejects_credential_without_colon",
	    auth_rejects_credential_without_colon },
	{ "auth_rejects_other_schemes", auth_rejects_other_schemes },
	{ "auth_reads_scheme_in_any_case_and_spacing",
	    auth_reads_scheme_in_any_case_and_spacing },
	{ "auth_rejects_empty_or_long_user", auth_rejects_empty_or_long_user },
	{ "auth_rejects_nul_in_credential", auth_rejects_nul_in_credential },
	{ "auth_cache_answers_repeated_header",
	    auth_cache_answers_repeated_header },
	{ "auth_cache_drops_oldest_when_full",
	    auth_cache_drops_oldest_when_full },
	{ "auth_skips_and_counts_damaged_hashes",
	    auth_skips_and_counts_damaged_hashes },
	{ "auth_counts_a_cut_last_line_as_damaged",
	    auth_counts_a_cut_last_line_as_damaged },
	{ "auth_warns_about_a_user_name_too_long_to_submit",
	    auth_warns_about_a_user_name_too_long_to_submit },
	{ "auth_skips_a_bom_and_warns_of_odd_names",
	    auth_skips_a_bom_and_warns_of_odd_names },
	{ "auth_load_fails_for_missing_file",
	    auth_load_fails_for_missing_file },
	{ "auth_proxy_user_takes_name_before_first_colon",
	    auth_proxy_user_takes_name_before_first_colon },
	{ "auth_proxy_user_refuses_names_unfit_to_store",
	    auth_proxy_user_refuses_names_unfit_to_store },
	{ "auth_result_names_read_well", auth_result_names_read_well },
	{ "auth_never_logs_a_password", auth_never_logs_a_password },
};

/* Log at DEBUG into a file of our own, then load both tables. */
static int
auth_tests_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char *cause = NULL;
	int fd;

	if (tmp == NULL || *tmp != '/')
		tmp = "/tmp";
	snprintf(log_path, sizeof log_path, "%s/mttd-auth-log-XXXXXX", tmp);
	if ((fd = mkstemp(log_path)) == -1)
		return -1;
	close(fd);
	if (log_setup(log_path, NULL, LOG_LEVEL_DEBUG, &cause) == -1 ||
	    (all = auth_load(
		 cunit_srcpath("tests/data/htpasswd.all"), &cause)) == NULL ||
	    (edge = auth_load(
		 cunit_srcpath("tests/data/htpasswd.edge"), &cause)) == NULL) {
		fprintf(stderr, "setup: %s\n", cause);
		free(cause);
		return -1;
	}
	return 0;
}

int
main(void)
{
	int rc;

	if (auth_tests_setup() == -1)
		return 2;
	rc = cunit_run("auth", auth_cases, CUNIT_NCASES(auth_cases));
	if (rc != 0) {
		char *text = log_text();

		fprintf(stderr, "--- log ---\n%s", text);
		free(text);
	}
	auth_free(all);
	auth_free(edge);
	log_shutdown();
	unlink(log_path);
	return rc;
}
