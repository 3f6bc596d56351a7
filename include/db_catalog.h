/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The database catalogue as mttd needs it: the columns of the mttv3
 * tables with their types and lengths, and the indexes mttd relies on,
 * read once at start-up before the event loop runs.
 */
#ifndef MTTD_DB_CATALOG_H
#define MTTD_DB_CATALOG_H

#include "db_pool.h"

struct db_catalog;

/*
 * Connect (blocking: start-up only), read the columns of every table and
 * check that the mttv3 tables and mttd's indexes are there (those of
 * mttd-query-indexes.sql only warned about).  sql_dir is the folder of
 * the scripts named when an index is missing.  Returns the catalogue
 * (free it with db_catalog_free), or NULL with *cause set (the caller
 * frees it).
 */
struct db_catalog *db_catalog_load(const struct db_pool_params *params,
    const char *sql_dir, char **cause) __attribute__((warn_unused_result));

/* Free a catalogue; NULL is allowed. */
void db_catalog_free(struct db_catalog *cat);

/*
 * Look a column up: its type as information_schema names it ("integer",
 * "character varying", ...) and its length limit in characters (-1 when
 * none).  Returns 0, or -1 when the column does not exist.
 */
int db_catalog_column(const struct db_catalog *cat, const char *table,
    const char *column, const char **type, int *max_chars)
    __attribute__((warn_unused_result));

/* The server's version string, for the start-up log. */
const char *db_catalog_server_version(const struct db_catalog *cat);

/* The same as a number, as PQserverVersion gives it (150004 for 15.4). */
int db_catalog_server_version_num(const struct db_catalog *cat);

#endif /* MTTD_DB_CATALOG_H */
