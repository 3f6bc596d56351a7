/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fresh planner statistics after big stores.  Autovacuum analyses a
 * table once about a tenth of it changed, but looks only once a minute:
 * on a database that just grew a lot (a fresh one, the first night)
 * stores meanwhile are planned for tables far smaller than they are,
 * and a big one takes several times as long.  After every analyze_after
 * entries stored, mttd analyses at once the tables that changed by more
 * rows than the planner knows they hold, in the background, on the
 * connection that stored the last of them.
 */
#ifndef MTTD_TABLE_STATS_H
#define MTTD_TABLE_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "db_pool.h"
#include "settings.h"

struct table_stats;

/*
 * Watch stores into the database; settings->analyze_after is read at
 * every store (a reload may change it; 0: never).  server_version_num is
 * PQserverVersion's: before PostgreSQL 15 mttd leaves the statistics to
 * autovacuum.
 */
struct table_stats *table_stats_new(
    const struct settings *settings, int server_version_num);

/*
 * entries were stored on conn (NULL: by another request's store, which
 * reports its own connection).  When analyze_after entries were stored
 * since the last look and none runs, a look starts on conn, which it
 * then holds and releases itself: true.  Else false, and the caller
 * releases conn.
 */
bool table_stats_stored(
    struct table_stats *t, size_t entries, struct db_conn *conn);

/* Free t; a look under way is dropped with the pool, unanswered. */
void table_stats_free(struct table_stats *t);

#endif /* MTTD_TABLE_STATS_H */
