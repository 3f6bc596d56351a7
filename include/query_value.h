/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Values read back from PostgreSQL (text format) written as the JSON the
 * reference answered: timestamps with six fraction digits or none,
 * intervals as Python prints a timedelta, booleans and numbers typed,
 * arrays as lists.
 */
#ifndef MTTD_QUERY_VALUE_H
#define MTTD_QUERY_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include <yajl/yajl_gen.h>

#include "query_fields.h"

/* Longest text query_interval_format and query_timestamp_format write. */
#define QUERY_VALUE_TEXT_MAX 64

/*
 * An interval as PostgreSQL prints it with IntervalStyle postgres
 * ("1 year 2 mons 3 days -04:05:06.5") written as a timedelta ("428
 * days, 19:54:54.500000"), a month being 30 days and a year 365.  False
 * when pg is not in that form.
 */
bool query_interval_format(const char *pg, char *out, size_t size)
    __attribute__((warn_unused_result));

/* A timestamp with its fraction, if any, padded to six digits. */
void query_timestamp_format(const char *pg, char *out, size_t size);

/*
 * Write one value of type t in PostgreSQL's text form (len bytes of pg;
 * NULL pg is SQL NULL, written as null) to g.
 */
void query_value_write(
    yajl_gen g, enum query_type t, const char *pg, size_t len);

#endif /* MTTD_QUERY_VALUE_H */
