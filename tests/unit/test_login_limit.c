/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of login_limit: the budget of failed logins per address
 * and minute, the wait it answers to the second, addresses apart, and a
 * table that a flood of addresses cannot grow.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "login_limit.h"

#define T0 1000000

static void
login_limit_waits_out_the_minute(void)
{
	struct login_limit *ll = login_limit_new();
	int i;

	for (i = 0; i < 3; i++) {
		CHECK(login_limit_wait(ll, "192.0.2.1", 3, T0 + i) == 0,
		    "a wait after %d failures of 3", i);
		login_limit_failed(ll, "192.0.2.1", T0 + i);
	}
	/* The window began at the first failure. */
	CHECK(login_limit_wait(ll, "192.0.2.1", 3, T0 + 2) == 58,
	    "wait %d, want 58", login_limit_wait(ll, "192.0.2.1", 3, T0 + 2));
	CHECK(login_limit_wait(ll, "192.0.2.1", 3, T0 + 59) == 1,
	    "wait at the last second");
	CHECK(login_limit_wait(ll, "192.0.2.1", 3, T0 + 60) == 0,
	    "a wait once the minute ended");
	/* A higher limit, or none, lets it in. */
	CHECK(login_limit_wait(ll, "192.0.2.1", 4, T0 + 2) == 0, "max 4");
	CHECK(login_limit_wait(ll, "192.0.2.1", 0, T0 + 2) == 0, "max 0");

	/* A failure after the window starts a new one, counting 1. */
	login_limit_failed(ll, "192.0.2.1", T0 + 70);
	CHECK(login_limit_wait(ll, "192.0.2.1", 1, T0 + 70) == 60,
	    "a new window of one failure");
	CHECK(login_limit_wait(ll, "192.0.2.1", 2, T0 + 70) == 0,
	    "only one failure in the new window");

	/* The log hears of a window's wait once. */
	CHECK(login_limit_first_wait(ll, "192.0.2.1"), "first wait told");
	CHECK(!login_limit_first_wait(ll, "192.0.2.1"), "second wait told");
	login_limit_failed(ll, "192.0.2.1", T0 + 140);
	CHECK(login_limit_first_wait(ll, "192.0.2.1"), "a new window's wait");
	login_limit_free(ll);
}

static void
login_limit_counts_addresses_apart(void)
{
	struct login_limit *ll = login_limit_new();

	login_limit_failed(ll, "192.0.2.1", T0);
	login_limit_failed(ll, "2001:db8::1", T0);
	login_limit_failed(ll, "2001:db8::1", T0);
	CHECK(login_limit_wait(ll, "192.0.2.1", 2, T0) == 0, "one of two");
	CHECK(login_limit_wait(ll, "2001:db8::1", 2, T0) == 60, "two of two");
	CHECK(login_limit_wait(ll, "192.0.2.2", 1, T0) == 0, "never failed");

	/* One address, however an X-Forwarded-For spells it. */
	login_limit_failed(ll, "ABCD::1", T0);
	login_limit_failed(ll, "abcd:0::1", T0);
	login_limit_failed(ll, "::ffff:198.51.100.9", T0);
	CHECK(login_limit_wait(ll, "abcd:0:0::0:1", 2, T0) == 60,
	    "IPv6 spellings were counted apart");
	CHECK(login_limit_wait(ll, "198.51.100.9", 1, T0) == 60,
	    "an IPv4-mapped address was counted apart from its IPv4");
	login_limit_free(ll);
}

/* A flood of addresses pushes out the oldest windows, never the new. */
static void
login_limit_survives_a_flood_of_addresses(void)
{
	struct login_limit *ll = login_limit_new();
	char addr[64];
	int i;

	login_limit_failed(ll, "198.51.100.1", T0);
	/* 10,000 new addresses a second for 10 s; the last at T0 + 10. */
	for (i = 0; i < 100000; i++) {
		snprintf(addr, sizeof addr, "10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		login_limit_failed(ll, addr, T0 + 1 + i / 10000);
	}
	CHECK(login_limit_wait(ll, addr, 1, T0 + 11) == 59,
	    "the last address's wait %d",
	    login_limit_wait(ll, addr, 1, T0 + 11));
	/* The first address, oldest of all, may have been pushed out: then
	 * it starts again, which costs a guesser at most a budget more. */
	CHECK(login_limit_wait(ll, "198.51.100.1", 1, T0 + 11) <= 49,
	    "the oldest address's window");
	login_limit_free(ll);
}

static const struct cunit_case login_limit_cases[] = {
	{ "login_limit_waits_out_the_minute",
	    login_limit_waits_out_the_minute },
	{ "login_limit_counts_addresses_apart",
	    login_limit_counts_addresses_apart },
	{ "login_limit_survives_a_flood_of_addresses",
	    login_limit_survives_a_flood_of_addresses },
};

int
main(void)
{
	return cunit_run(
	    "login_limit", login_limit_cases, CUNIT_NCASES(login_limit_cases));
}
