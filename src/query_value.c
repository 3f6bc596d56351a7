/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PostgreSQL text values to JSON.  The pool's connections use DateStyle
 * ISO and IntervalStyle postgres, so each form parsed here is the one
 * those settings print.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_value.h"

#define USEC_PER_SEC 1000000LL
#define USEC_PER_DAY (86400LL * USEC_PER_SEC)

/* "[-+]H:MM:SS[.f]" into microseconds; false when it is not that. */
static bool
query_interval_clock(const char *s, int64_t *us)
{
	long long h, m, sec, frac = 0;
	int neg = 0, n = 0, digits;
	const char *dot;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (sscanf(s, "%lld:%lld:%lld%n", &h, &m, &sec, &n) != 3)
		return false;
	dot = s + n;
	if (*dot == '.') {
		for (digits = 0, dot++; isdigit((unsigned char)*dot); dot++) {
			if (digits++ < 6)
				frac = frac * 10 + (*dot - '0');
		}
		for (; digits < 6; digits++)
			frac *= 10;
	}
	if (*dot != '\0')
		return false;
	*us = ((h * 60 + m) * 60 + sec) * USEC_PER_SEC + frac;
	if (neg)
		*us = -*us;
	return true;
}

/* One "N unit" pair; false for a unit the postgres style never prints. */
static bool
query_interval_unit(long long n, const char *unit, int64_t *us)
{
	int64_t days;

	if (strncmp(unit, "year", 4) == 0)
		days = n * 365;
	else if (strncmp(unit, "mon", 3) == 0)
		days = n * 30;
	else if (strncmp(unit, "day", 3) == 0)
		days = n;
	else
		return false;
	*us += days * USEC_PER_DAY;
	return true;
}

/* Sum the parts of a postgres-style interval into microseconds. */
static bool
query_interval_parse(const char *pg, int64_t *total)
{
	char buf[QUERY_VALUE_TEXT_MAX * 2], *tok, *save = NULL, *end;
	int64_t clock;
	long long n;

	if (strlen(pg) >= sizeof buf)
		return false;
	strcpy(buf, pg);
	*total = 0;
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		if (strchr(tok, ':') != NULL) {
			if (!query_interval_clock(tok, &clock))
				return false;
			*total += clock;
			continue;
		}
		n = strtoll(tok, &end, 10);
		if (end == tok || *end != '\0')
			return false;
		tok = strtok_r(NULL, " ", &save);
		if (tok == NULL || !query_interval_unit(n, tok, total))
			return false;
	}
	return true;
}

bool
query_interval_format(const char *pg, char *out, size_t size)
{
	int64_t total, days, rest;
	int len = 0;

	if (!query_interval_parse(pg, &total))
		return false;

	/* Like a timedelta: whole days down, then a positive clock. */
	days = total / USEC_PER_DAY;
	rest = total % USEC_PER_DAY;
	if (rest < 0) {
		days--;
		rest += USEC_PER_DAY;
	}
	if (days != 0)
		len = snprintf(out, size, "%" PRId64 " day%s, ", days,
		    days == 1 || days == -1 ? "" : "s");
	len += snprintf(out + len, size - len, "%d:%02d:%02d",
	    (int)(rest / (3600 * USEC_PER_SEC)),
	    (int)(rest / (60 * USEC_PER_SEC) % 60),
	    (int)(rest / USEC_PER_SEC % 60));
	if (rest % USEC_PER_SEC != 0)
		snprintf(
		    out + len, size - len, ".%06d", (int)(rest % USEC_PER_SEC));
	return true;
}

void
query_timestamp_format(const char *pg, char *out, size_t size)
{
	const char *dot = strchr(pg, '.');
	size_t digits, len;

	snprintf(out, size, "%s", pg);
	if (dot == NULL)
		return;

	/* PostgreSQL drops trailing zeros of the fraction; Python does not. */
	digits = strspn(dot + 1, "0123456789");
	len = strlen(out);
	if (dot[1 + digits] == '\0' && digits < 6 && len + 6 - digits < size) {
		memset(out + len, '0', 6 - digits);
		out[len + 6 - digits] = '\0';
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
		yajl_gen_string(g, (const unsigned char *)buf, strlen(buf));
		break;
	case QT_INTERVAL:
		if (!query_interval_format(pg, buf, sizeof buf))
			snprintf(buf, sizeof buf, "%s", pg);
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
