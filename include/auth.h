/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Authentication: HTTP Basic credentials checked against an htpasswd
 * file, or, without one, the user name of a trusted proxy's header.
 */
#ifndef MTTD_AUTH_H
#define MTTD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest user name kept; longer names are refused as malformed. */
#define AUTH_USER_MAX 256

enum auth_result {
	AUTH_OK,	/* user holds the name. */
	AUTH_MISSING,	/* No Authorization header. */
	AUTH_MALFORMED, /* Not Basic, bad base64, no colon. */
	AUTH_WRONG,	/* Unknown user or wrong password. */
	AUTH_UNJUDGED	/* auth_check_cached: not in a cache. */
};

struct auth;

/*
 * Load an htpasswd file.  Lines that cannot be used (plain text, a format
 * this build cannot check) are skipped with a warning naming the line.
 * Returns the table, or NULL with *cause set (the caller frees it).
 * Free it with auth_free.
 */
struct auth *auth_load(const char *path, char **cause)
    __attribute__((warn_unused_result));

/* Free a table from auth_load; NULL is allowed. */
void auth_free(struct auth *a);

/* Number of usable entries, for the start-up log. */
size_t auth_count(const struct auth *a);

/*
 * Number of lines skipped because their hash is cut short or damaged
 * (not the whole shape of its format), or because the file ends inside
 * them: their users cannot log in.
 */
size_t auth_damaged(const struct auth *a);

/*
 * Number of lines skipped for any reason (each named by a warning when
 * the file was read): plain text or an unknown format, a user repeated,
 * a name no client can send, the damaged lines too.
 */
size_t auth_skipped_lines(const struct auth *a);

/*
 * Whether the file ends inside a line it could not use (no newline), as
 * one read while it is rewritten: htpasswd truncates the file and then
 * writes it whole, so a reader sees a prefix, cut inside its last line
 * (or, unseen, just after one).  A reload refuses such a file.
 */
bool auth_cut_short(const struct auth *a);

/* Number of passwords checked against a hash (the costly part). */
size_t auth_hash_count(const struct auth *a);

/* Number of checks answered from the cache of verified headers. */
size_t auth_cache_hits(const struct auth *a);

/* Number of checks answered from the cache of refused headers. */
size_t auth_refused_hits(const struct auth *a);

/*
 * Check an Authorization header value (NULL when absent) against a.
 * On AUTH_OK the user name is copied into user (size AUTH_USER_MAX + 1);
 * on AUTH_WRONG the name that failed is, for the caller's log.
 */
enum auth_result auth_check(struct auth *a, const char *header, char *user);

/*
 * The first half of auth_check, which costs no hash: a missing or
 * malformed header, or a credential judged before (AUTH_OK or
 * AUTH_WRONG, from the caches, whatever the header's spelling);
 * AUTH_UNJUDGED for one that auth_judge must check.
 */
enum auth_result auth_check_cached(
    struct auth *a, const char *header, char *user);

/* The second half: decode header and check its password against a's
 * hash (the costly part), remembering the verdict.  header is not NULL. */
enum auth_result auth_judge(struct auth *a, const char *header, char *user);

/*
 * A reload: next, the new table, takes over old's judged credentials
 * whose user has the same hash in both (or is in neither), so that a
 * SIGHUP costs no client a hash, nor a client whose address spent its
 * failed logins (login_limit) its working login.  Either may be NULL.
 */
void auth_keep_judged(struct auth *next, struct auth *old);

/*
 * Proxy mode: the user name of a header without checking it: the part of
 * a Basic credential before the first colon, "(unknown)" for any other
 * scheme or a credential that does not decode.  AUTH_MISSING when header
 * is NULL, else AUTH_OK with user filled in.
 */
enum auth_result auth_proxy_user(const char *header, char *user);

/* Name of a result, for logs. */
const char *auth_result_name(enum auth_result r);

#endif /* MTTD_AUTH_H */
