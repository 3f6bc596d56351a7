/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Failed logins per client address, counted in windows of a minute: an
 * address that spent its budget ([auth] max_failed_logins) gets no more
 * logins, and so no password hashes, until its window ends (the router
 * answers 429).  A hash is the costly part of a login (bcrypt's, on the
 * event loop), so a client guessing passwords can neither stall the
 * process nor guess fast.
 */
#ifndef MTTD_LOGIN_LIMIT_H
#define MTTD_LOGIN_LIMIT_H

#include <stdbool.h>
#include <time.h>

/* Seconds of a window. */
#define LOGIN_LIMIT_WINDOW_S 60

struct login_limit;

/* An empty table; free it with login_limit_free. */
struct login_limit *login_limit_new(void);

/* NULL is fine. */
void login_limit_free(struct login_limit *ll);

/*
 * Seconds until addr may have a password checked again, when it failed
 * max logins in its window (0: it may now, and always when max is 0).
 */
int login_limit_wait(
    struct login_limit *ll, const char *addr, int max, time_t now);

/* A login from addr failed (an unknown user or a wrong password). */
void login_limit_failed(struct login_limit *ll, const char *addr, time_t now);

/*
 * After login_limit_wait answered a wait for addr: true the first time
 * in addr's window, so that a guesser's every refused try does not cost
 * a warning in the log (each still has its access line).
 */
bool login_limit_first_wait(struct login_limit *ll, const char *addr);

#endif /* MTTD_LOGIN_LIMIT_H */
