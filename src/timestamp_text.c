/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Timestamps in the clients' two forms, read strictly: field by field at
 * fixed places, every range checked, so that a text accepted here means
 * the same time to PostgreSQL.  Being strict costs nothing: a refusal
 * only makes the caller treat the time as unknown.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "timestamp_text.h"

struct fields {
	int year, month, day, hour, minute, second;
	char fraction[7]; /* Up to six digits, no trailing zeros. */
};

/* A cursor over the text. */
struct scan {
	const char *p, *end;
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Exactly n digits. */
static bool
scan_digits(struct scan *sc, int n, int *out)
{
	int v = 0, i;

	if (sc->end - sc->p < n)
		return false;
	for (i = 0; i < n; i++) {
		if (!is_digit(sc->p[i]))
			return false;
		v = v * 10 + (sc->p[i] - '0');
	}
	sc->p += n;
	*out = v;
	return true;
}

static bool
scan_char(struct scan *sc, char c)
{
	if (sc->p == sc->end || *sc->p != c)
		return false;
	sc->p++;
	return true;
}

/* "HH:MM:SS" */
static bool
scan_clock(struct scan *sc, struct fields *f)
{
	return scan_digits(sc, 2, &f->hour) && scan_char(sc, ':') &&
	    scan_digits(sc, 2, &f->minute) && scan_char(sc, ':') &&
	    scan_digits(sc, 2, &f->second);
}

/* ".f" to ".ffffff" ending the text; trailing zeros dropped. */
static bool
scan_fraction(struct scan *sc, struct fields *f)
{
	size_t n = 0;

	f->fraction[0] = '\0';
	if (sc->p == sc->end)
		return true;
	if (!scan_char(sc, '.'))
		return false;
	while (sc->p < sc->end && is_digit(*sc->p) && n < 6)
		f->fraction[n++] = *sc->p++;
	if (n == 0 || sc->p != sc->end)
		return false;
	while (n > 0 && f->fraction[n - 1] == '0')
		n--;
	f->fraction[n] = '\0';
	return true;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff]", or a 'T' between date and time. */
static bool
parse_iso(struct scan sc, struct fields *f)
{
	if (!scan_digits(&sc, 4, &f->year) || !scan_char(&sc, '-') ||
	    !scan_digits(&sc, 2, &f->month) || !scan_char(&sc, '-') ||
	    !scan_digits(&sc, 2, &f->day))
		return false;
	if (!scan_char(&sc, ' ') && !scan_char(&sc, 'T'))
		return false;
	return scan_clock(&sc, f) && scan_fraction(&sc, f);
}

/* One of count three-letter English names (any case); its index. */
static bool
scan_name(struct scan *sc, const char *names, int count, int *index)
{
	int i;

	if (sc->end - sc->p < 3)
		return false;
	for (i = 0; i < count; i++) {
		if (strncasecmp(sc->p, names + 3 * i, 3) == 0) {
			sc->p += 3;
			*index = i;
			return true;
		}
	}
	return false;
}

/* "Www Mmm dd HH:MM:SS YYYY", the day as "dd", " d" or "d". */
static bool
parse_ctime(struct scan sc, struct fields *f)
{
	static const char days[] = "sunmontuewedthufrisat";
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	int day_of_week;

	if (!scan_name(&sc, days, 7, &day_of_week) || !scan_char(&sc, ' ') ||
	    !scan_name(&sc, months, 12, &f->month) || !scan_char(&sc, ' '))
		return false;
	f->month++; /* The name's index from 0. */
	(void)scan_char(&sc, ' ');
	if (!scan_digits(&sc, 2, &f->day) && !scan_digits(&sc, 1, &f->day))
		return false;
	f->fraction[0] = '\0';
	return scan_char(&sc, ' ') && scan_clock(&sc, f) &&
	    scan_char(&sc, ' ') && scan_digits(&sc, 4, &f->year) &&
	    sc.p == sc.end;
}

/* Days in month (1..12) of year, by the Gregorian calendar. */
static int
days_in_month(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* The day too, so that 2026-02-31, which PostgreSQL refuses, is refused. */
static bool
in_range(const struct fields *f)
{
	return f->year >= 1 && f->month >= 1 && f->month <= 12 && f->day >= 1 &&
	    f->day <= days_in_month(f->year, f->month) && f->hour <= 23 &&
	    f->minute <= 59 && f->second <= 59;
}

bool
timestamp_text_canonical(const char *s, size_t len, char *out)
{
	struct scan sc = { s, s + len };
	struct fields f;

	if (s == NULL || !(parse_iso(sc, &f) || parse_ctime(sc, &f)) ||
	    !in_range(&f))
		return false;
	/* The ranges are checked; the remainders tell the compiler so. */
	snprintf(out, TIMESTAMP_TEXT_SIZE, "%04d-%02d-%02d %02d:%02d:%02d%s%s",
	    f.year % 10000, f.month % 100, f.day % 100, f.hour % 100,
	    f.minute % 100, f.second % 100, f.fraction[0] ? "." : "",
	    f.fraction);
	return true;
}
