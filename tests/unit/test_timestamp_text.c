/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of timestamp_text: each accepted text gives what PostgreSQL
 * 15 answers for (text::timestamp)::text with DateStyle ISO (the
 * expected values were read from it), and the forms PostgreSQL reads
 * differently or that are not the clients' are refused.
 */
#include "config.h"

#include <string.h>

#include "cunit_main.h"
#include "timestamp_text.h"

static void
check(const char *in, const char *want)
{
	char out[TIMESTAMP_TEXT_SIZE];
	bool ok = timestamp_text_canonical(in, strlen(in), out);

	if (want == NULL) {
		CHECK(!ok, "<%s> is refused, not read as <%s>", in, out);
		return;
	}
	CHECK(ok && strcmp(out, want) == 0, "<%s> gives <%s>, want <%s>", in,
	    ok ? out : "(refused)", want);
}

static void
timestamp_text_reads_ctime(void)
{
	check("Fri Dec  4 14:10:40 2026", "2026-12-04 14:10:40");
	check("Fri Dec 4 14:10:40 2026", "2026-12-04 14:10:40");
	check("fri dec 04 14:10:40 2026", "2026-12-04 14:10:40");
	/* PostgreSQL does not check the day's name against the date. */
	check("Mon Dec 4 14:10:40 2026", "2026-12-04 14:10:40");
	check("Sat Jan  2 03:04:05 2027", "2027-01-02 03:04:05");
	check("Thu Feb 29 23:59:59 2024", "2024-02-29 23:59:59");
}

static void
timestamp_text_reads_iso(void)
{
	check("2026-12-04 13:00:00", "2026-12-04 13:00:00");
	check("2026-12-04T13:00:00", "2026-12-04 13:00:00");
	check("2026-12-04 13:00:00.250", "2026-12-04 13:00:00.25");
	check("2026-12-04 13:00:00.000000", "2026-12-04 13:00:00");
	check("2026-12-04 13:00:00.123456", "2026-12-04 13:00:00.123456");
	check("0099-01-01 00:00:00", "0099-01-01 00:00:00");
	/* Each month's last day, leap years by the Gregorian rule. */
	check("2026-04-30 01:02:03", "2026-04-30 01:02:03");
	check("2026-12-31 01:02:03", "2026-12-31 01:02:03");
	check("2000-02-29 01:02:03", "2000-02-29 01:02:03");
	check("0004-02-29 01:02:03", "0004-02-29 01:02:03");
}

static void
timestamp_text_refuses_other_forms(void)
{
	/* PostgreSQL reads these, some as another time: rounded past six
	 * digits, the time zone ignored, the next day. */
	check("2026-12-04 13:00:00.1234567", NULL);
	check("2026-12-04 13:00:00+05", NULL);
	check("2026-12-04 24:00:00", NULL);
	check("2026-12-04 23:59:60", NULL);
	check("Fri Dec  4 4:10:40 2026", NULL);
	check(" 2026-12-04 13:00:00", NULL);
	check("2026-12-04 13:00:00 ", NULL);
	check("2026-12-04", NULL);
	/* Not times at all, or out of range. */
	check("", NULL);
	check("not a time", NULL);
	check("2026-13-04 13:00:00", NULL);
	check("2026-12-00 13:00:00", NULL);
	/* Days past their month's end, which PostgreSQL refuses. */
	check("2026-02-31 01:02:03", NULL);
	check("2026-04-31 01:02:03", NULL);
	check("2026-02-29 01:02:03", NULL);
	check("1900-02-29 01:02:03", NULL);
	check("0100-02-29 01:02:03", NULL);
	check("Sun Feb 29 01:02:03 2026", NULL);
	check("2026-12-04 13:00:", NULL);
	check("2026-12-04 13:00:00.", NULL);
	check("0000-01-01 00:00:00", NULL);
	check("Xyz Dec 4 14:10:40 2026", NULL);
	check("Fri Dex 4 14:10:40 2026", NULL);
	check("Fri Dec 123 14:10:40 2026", NULL);
	check("Fri Dec 4 14:10:40 20266", NULL);
	CHECK(!timestamp_text_canonical(
		  NULL, 0, (char[TIMESTAMP_TEXT_SIZE]){ 0 }),
	    "no text is refused");
}

static const struct cunit_case timestamp_text_cases[] = {
	{ "timestamp_text_reads_ctime", timestamp_text_reads_ctime },
	{ "timestamp_text_reads_iso", timestamp_text_reads_iso },
	{ "timestamp_text_refuses_other_forms",
	    timestamp_text_refuses_other_forms },
};

int
main(void)
{
	return cunit_run("timestamp_text", timestamp_text_cases,
	    CUNIT_NCASES(timestamp_text_cases));
}
