/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One text for each time in the two forms MTT clients send, so that
 * equal times spelled differently can be told equal before PostgreSQL has
 * read them (a submission stored in one round trip has no lookup to ask):
 * ISO 8601 ("2026-12-04 13:00:00", or with a 'T', with up to six digits
 * of fraction) and ctime() ("Fri Dec  4 13:00:00 2026").
 */
#ifndef MTTD_TIMESTAMP_TEXT_H
#define MTTD_TIMESTAMP_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Room for the longest text made, "YYYY-MM-DD HH:MM:SS.ffffff", and
 * then some. */
#define TIMESTAMP_TEXT_SIZE 40

/*
 * Write into out (TIMESTAMP_TEXT_SIZE bytes) the time s (len bytes)
 * stands for, as PostgreSQL writes a timestamp with DateStyle ISO
 * ("2026-12-04 13:00:00.25"), and return true.  Anything not strictly of
 * one of the two forms gives false, even where PostgreSQL would read it
 * (time zones, "24:00:00", a 60th second, spaces around): the caller must
 * then take the time as unknown.  A day past its month's end (by the
 * Gregorian calendar, as PostgreSQL reads it) gives false too.
 */
bool timestamp_text_canonical(const char *s, size_t len, char *out);

#endif /* MTTD_TIMESTAMP_TEXT_H */
