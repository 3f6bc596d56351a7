/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PostgreSQL text values to JSON.  The pool's connections use DateStyle
 * ISO and IntervalStyle postgres, so each form parsed here is the one
 * those settings print.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query_value.h"

#define USEC_PER_SEC 1000000LL
#define USEC_PER_DAY (86400LL * USEC_PER_SEC)

/*
 * These run once per value of a streamed answer, millions of times per
 * export: hand-written scanning and digit writing, no sscanf or printf.
 */

/* Digits at *s into *n; false when there are none. */
static bool
query_scan_digits(const char **s, long long *n)
{
	const char *p = *s;

	*n = 0;
	while (*p >= '0' && *p <= '9' && *n < 1000000000000LL)
		*n = *n * 10 + (*p++ - '0');
	if (p == *s)
		return false;
	*s = p;
	return true;
}

/* "[-+]H:MM:SS[.f]" (len bytes) into microseconds. */
static bool
query_interval_clock(const char *s, const char *end, int64_t *us)
{
	long long h, m, sec, frac = 0;
	int neg = 0, digits = 0;
	uint64_t mag;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!query_scan_digits(&s, &h) || *s++ != ':' ||
	    !query_scan_digits(&s, &m) || *s++ != ':' ||
	    !query_scan_digits(&s, &sec))
		return false;
	if (s < end && *s == '.') {
		for (s++; s < end && *s >= '0' && *s <= '9'; s++) {
			if (digits++ < 6)
				frac = frac * 10 + (*s - '0');
		}
		for (; digits < 6; digits++)
			frac *= 10;
	}
	/* Past PostgreSQL's own range the product would overflow.  Its
	 * most negative clock, -2562047788:00:54.775808, is one microsecond
	 * further from zero than its most positive. */
	if (s != end || h > 2562047788LL || m > 59 || sec > 59)
		return false;
	mag = (((uint64_t)h * 60 + (uint64_t)m) * 60 + (uint64_t)sec) *
		USEC_PER_SEC +
	    (uint64_t)frac;
	if (mag > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return false;
	*us = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
	return true;
}

/* One "N unit" pair; false for a unit the postgres style never prints. */
static bool
query_interval_unit(long long n, const char *unit, size_t len, int64_t *days)
{
	if (len >= 4 && strncmp(unit, "year", 4) == 0)
		*days += n * 365;
	else if (len >= 3 && strncmp(unit, "mon", 3) == 0)
		*days += n * 30;
	else if (len >= 3 && strncmp(unit, "day", 3) == 0)
		*days += n;
	else
		return false;
	return true;
}

/* The next space-separated token of [*s, end): its start and length. */
static bool
query_next_token(const char **s, const char *end, const char **tok, size_t *len)
{
	const char *p = *s;

	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return false;
	*tok = p;
	while (p < end && *p != ' ')
		p++;
	*len = (size_t)(p - *tok);
	*s = p;
	return true;
}

/*
 * Sum the parts of a postgres-style interval: whole days, and the clock
 * in microseconds (kept apart: their sum in microseconds could overflow).
 */
static bool
query_interval_parse(const char *pg, int64_t *days, int64_t *clock)
{
	const char *s = pg, *end = pg + strlen(pg), *tok, *p;
	long long n;
	size_t len;
	bool neg;

	*days = *clock = 0;
	while (query_next_token(&s, end, &tok, &len)) {
		if (memchr(tok, ':', len) != NULL) {
			if (!query_interval_clock(tok, tok + len, clock))
				return false;
			continue;
		}
		p = tok;
		neg = *p == '-';
		if (*p == '-' || *p == '+')
			p++;
		if (!query_scan_digits(&p, &n) || p != tok + len ||
		    !query_next_token(&s, end, &tok, &len) ||
		    !query_interval_unit(neg ? -n : n, tok, len, days))
			return false;
	}
	return true;
}

/* Write n (>= 0) in decimal, at least width digits; returns the end. */
static char *
query_put_uint(char *out, uint64_t n, int width)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	while (i < width)
		tmp[i++] = '0';
	while (i > 0)
		*out++ = tmp[--i];
	return out;
}

/* "N day(s), " as a timedelta prints it. */
static char *
query_put_days(char *out, int64_t days)
{
	if (days < 0)
		*out++ = '-';
	out = query_put_uint(
	    out, days < 0 ? -(uint64_t)days : (uint64_t)days, 1);
	memcpy(out, " day", 4);
	out += 4;
	if (days != 1 && days != -1)
		*out++ = 's';
	*out++ = ',';
	*out++ = ' ';
	return out;
}

bool
query_interval_format(const char *pg, char *out, size_t size)
{
	int64_t days, clock, rest;
	char *p = out;

	/* Room for the longest: "-1000000000000 days, 23:59:59.999999". */
	if (size < QUERY_VALUE_TEXT_MAX ||
	    !query_interval_parse(pg, &days, &clock))
		return false;

	/* Like a timedelta: whole days down, then a positive clock. */
	days += clock / USEC_PER_DAY;
	rest = clock % USEC_PER_DAY;
	if (rest < 0) {
		days--;
		rest += USEC_PER_DAY;
	}
	if (days != 0)
		p = query_put_days(p, days);
	p = query_put_uint(p, (uint64_t)(rest / (3600 * USEC_PER_SEC)), 1);
	*p++ = ':';
	p = query_put_uint(p, (uint64_t)(rest / (60 * USEC_PER_SEC) % 60), 2);
	*p++ = ':';
	p = query_put_uint(p, (uint64_t)(rest / USEC_PER_SEC % 60), 2);
	if (rest % USEC_PER_SEC != 0) {
		*p++ = '.';
		p = query_put_uint(p, (uint64_t)(rest % USEC_PER_SEC), 6);
	}
	*p = '\0';
	return true;
}

void
query_timestamp_format(const char *pg, char *out, size_t size)
{
	size_t len = strlen(pg), digits;
	const char *dot = memchr(pg, '.', len);

	if (len >= size)
		len = size - 1;
	memcpy(out, pg, len);
	out[len] = '\0';
	if (dot == NULL)
		return;

	/*
	 * PostgreSQL drops trailing zeros of the fraction; Python does not.
	 * The zeros go after the digits, before a " BC" that may follow.
	 */
	digits = strspn(dot + 1, "0123456789");
	if (digits < 6 && len + 6 - digits < size) {
		size_t at = (size_t)(dot - pg) + 1 + digits;

		memmove(out + at + 6 - digits, out + at, len - at + 1);
		memset(out + at, '0', 6 - digits);
	}
}

/* A number of an array literal; JSON has no NaN or infinity. */
static void
query_value_array_item(yajl_gen g, const char *s, size_t len)
{
	if (len == 4 && strncmp(s, "NULL", 4) == 0)
		yajl_gen_null(g);
	else if (isdigit((unsigned char)s[len - 1]))
		yajl_gen_number(g, s, len);
	else
		yajl_gen_null(g);
}

/* "{1,2.5,3}" as [1, 2.5, 3]: numeric arrays have no quoting. */
static void
query_value_array(yajl_gen g, const char *pg, size_t len)
{
	size_t i = 1, start;

	/* Bounds ("[0:1]={5,6}") or nesting, which only a database of the
	 * reference can hold: the text as it is, still valid JSON. */
	if (len < 2 || pg[0] != '{' || memchr(pg + 1, '{', len - 1) != NULL) {
		yajl_gen_string(g, (const unsigned char *)pg, len);
		return;
	}

	yajl_gen_array_open(g);
	while (len >= 2 && i < len - 1) {
		start = i;
		while (i < len - 1 && pg[i] != ',')
			i++;
		if (i > start)
			query_value_array_item(g, pg + start, i - start);
		i++;
	}
	yajl_gen_array_close(g);
}

void
query_value_write(yajl_gen g, enum query_type t, const char *pg, size_t len)
{
	char buf[QUERY_VALUE_TEXT_MAX];
	size_t n;

	if (pg == NULL) {
		yajl_gen_null(g);
		return;
	}
	switch (t) {
	case QT_INT:
		yajl_gen_number(g, pg, len);
		break;
	case QT_BOOL:
		yajl_gen_bool(g, pg[0] == 't');
		break;
	case QT_TIMESTAMP:
		query_timestamp_format(pg, buf, sizeof buf);
		n = strlen(buf);
		yajl_gen_string(g, (const unsigned char *)buf, n);
		break;
	case QT_INTERVAL:
		if (!query_interval_format(pg, buf, sizeof buf)) {
			/* Not the postgres style: the text as it came. */
			yajl_gen_string(g, (const unsigned char *)pg, len);
			break;
		}
		yajl_gen_string(g, (const unsigned char *)buf, strlen(buf));
		break;
	case QT_INT_ARRAY:
	case QT_FLOAT_ARRAY:
		query_value_array(g, pg, len);
		break;
	default:
		yajl_gen_string(g, (const unsigned char *)pg, len);
		break;
	}
}
