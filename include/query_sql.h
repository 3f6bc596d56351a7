/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SQL text of a checked query: the phase table, only the joins the
 * request needs, conditions and options as parameters.
 */
#ifndef MTTD_QUERY_SQL_H
#define MTTD_QUERY_SQL_H

#include "query_spec.h"

/* The SQL of q (rows, groups, a count or figures); the caller frees it. */
char *query_sql_build(const struct query_spec *q);

#endif /* MTTD_QUERY_SQL_H */
