/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The failed-login table: a fixed number of slots, found by a hash of
 * the address and the next few after it.  When those are all taken, the
 * slot whose window is oldest goes: a flood of addresses can push an
 * address out (it starts again at 0), never grow the table.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "login_limit.h"
#include "strbuf.h"

/* Slots, and how many of them one address may land in. */
#define LOGIN_LIMIT_SLOTS 4096
#define LOGIN_LIMIT_PROBE 8

struct login_slot {
	char addr[64];	     /* "" while free; as request.h keeps it. */
	time_t window_start; /* Its first failure of the window. */
	int failures;	     /* Since window_start. */
	bool told;	     /* The log heard of its wait this window. */
};

struct login_limit {
	struct login_slot slot[LOGIN_LIMIT_SLOTS];
};

struct login_limit *
login_limit_new(void)
{
	return xcalloc(1, sizeof(struct login_limit));
}

void
login_limit_free(struct login_limit *ll)
{
	free(ll);
}

/*
 * addr in one spelling, into buf (64 bytes): an IPv6 address as
 * inet_ntop writes it (ABCD::1, abcd:0::1 and abcd::1 alike, and an
 * IPv4-mapped one as IPv4), anything else as it is.
 */
static const char *
login_limit_key(const char *addr, char *buf)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET6, addr, &a6) != 1)
		return addr;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, &a6.s6_addr[12], sizeof a4);
		return inet_ntop(AF_INET, &a4, buf, 64) ? buf : addr;
	}
	return inet_ntop(AF_INET6, &a6, buf, 64) ? buf : addr;
}

static size_t
login_limit_home(const char *addr)
{
	return (size_t)(hash_fnv1a(HASH_FNV1A_SEED, addr, strlen(addr)) %
	    LOGIN_LIMIT_SLOTS);
}

/* addr's slot, or NULL when it has none. */
static struct login_slot *
login_limit_find(struct login_limit *ll, const char *addr)
{
	size_t home = login_limit_home(addr), i;
	struct login_slot *s;

	for (i = 0; i < LOGIN_LIMIT_PROBE; i++) {
		s = &ll->slot[(home + i) % LOGIN_LIMIT_SLOTS];
		if (strcmp(s->addr, addr) == 0)
			return s;
	}
	return NULL;
}

/* A slot for addr: a free one, one whose window ended, or the oldest. */
static struct login_slot *
login_limit_take(struct login_limit *ll, const char *addr, time_t now)
{
	size_t home = login_limit_home(addr), i;
	struct login_slot *s, *pick = NULL;

	for (i = 0; i < LOGIN_LIMIT_PROBE; i++) {
		s = &ll->slot[(home + i) % LOGIN_LIMIT_SLOTS];
		if (s->addr[0] == '\0' ||
		    now - s->window_start >= LOGIN_LIMIT_WINDOW_S) {
			pick = s;
			break;
		}
		if (pick == NULL || s->window_start < pick->window_start)
			pick = s;
	}
	text_copy(pick->addr, sizeof pick->addr, addr);
	pick->window_start = now;
	pick->failures = 0;
	pick->told = false;
	return pick;
}

int
login_limit_wait(struct login_limit *ll, const char *addr, int max, time_t now)
{
	struct login_slot *s;
	char key[64];

	if (max <= 0 ||
	    (s = login_limit_find(ll, login_limit_key(addr, key))) == NULL)
		return 0;
	if (now - s->window_start >= LOGIN_LIMIT_WINDOW_S || s->failures < max)
		return 0;
	return (int)(s->window_start + LOGIN_LIMIT_WINDOW_S - now);
}

void
login_limit_failed(struct login_limit *ll, const char *addr, time_t now)
{
	char key[64];
	struct login_slot *s;

	addr = login_limit_key(addr, key);
	if ((s = login_limit_find(ll, addr)) == NULL) {
		s = login_limit_take(ll, addr, now);
	} else if (now - s->window_start >= LOGIN_LIMIT_WINDOW_S) {
		s->window_start = now; /* A new window. */
		s->failures = 0;
		s->told = false;
	}
	s->failures++;
}

bool
login_limit_first_wait(struct login_limit *ll, const char *addr)
{
	char key[64];
	struct login_slot *s = login_limit_find(ll, login_limit_key(addr, key));
	bool first = s != NULL && !s->told;

	if (s != NULL)
		s->told = true;
	return first;
}
