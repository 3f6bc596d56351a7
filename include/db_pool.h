/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The database pool: a fixed number of asynchronous libpq connections in
 * pipeline mode, driven by the event loop, lent to one request at a time,
 * with a bounded queue of requests waiting for one.
 */
#ifndef MTTD_DB_POOL_H
#define MTTD_DB_POOL_H

#include <stdbool.h>

#include <event2/event.h>
#include <libpq-fe.h>

struct db_pool;
struct db_conn;
struct db_wait;
struct db_batch;

/* How to reach the database. */
struct db_pool_params {
	const char *host;
	int port;
	const char *dbname;
	const char *user;
	const char *password;
	const char *sslmode;	/* libpq's sslmode; NULL: libpq's default. */
	const char *gssencmode; /* libpq's gssencmode; NULL: its default. */
	int size;		/* Connections. */
	int prepared_max;      /* Texts kept prepared per connection, 0..128. */
	int max_waiting;       /* Queue bound; past it DB_ACQUIRE_BUSY. */
	int wait_timeout_s;    /* Longest wait; past it DB_ACQUIRE_TIMEOUT. */
	int connect_timeout_s; /* Longest connect before trying again. */
	int query_timeout_s;   /* Longest silence while an answer is due,
				* then the connection counts as lost; 0: none. */
	int idle_check_s;      /* Seconds without a request after which an
				* idle connection is checked; 0: never. */
	int long_max;	       /* Connections streams may hold; 0: all. */
	int query_max; /* Connections queries (streams too) may hold; 0: all. */
	/*
	 * Have the server check, while a statement runs, that the client is
	 * still there (client_connection_check_interval, PostgreSQL 14 and
	 * later): a statement on a connection dropped for query_timeout then
	 * stops instead of running, and perhaps committing, to its end.
	 */
	bool check_client;
	/*
	 * PostgreSQL 12 and later: keep plan_cache_mode at auto and
	 * extra_float_digits at 1, whatever the role or database sets.  The
	 * query endpoints' statements are unnamed, planned with their values
	 * then, and their conditions rely on it (query_spec.c,
	 * query_where_add); floats are passed on as PostgreSQL writes them,
	 * which from 12 on is exact at 1 and rounded to 15 digits at 0.
	 */
	bool since_pg12;
	/*
	 * The pool reads a streaming replica ([pg_v3] read_server): warn
	 * when its server says it is not a standby, and keep that for
	 * db_pool_standby.
	 */
	bool expect_standby;
};

enum db_acquire_status {
	DB_ACQUIRE_OK,	   /* conn is the caller's until released. */
	DB_ACQUIRE_DOWN,   /* No connection to the database is up. */
	DB_ACQUIRE_BUSY,   /* The wait queue is full. */
	DB_ACQUIRE_TIMEOUT /* No connection came free in time. */
};

/* What one batch gave; valid only during the callback. */
struct db_result {
	PGresult **results; /* One per statement; NULL if it did not run. */
	int count;
	int failed;	      /* Index of the failing statement, or -1. */
	const char *error;    /* Its primary message, or NULL. */
	const char *sqlstate; /* Its SQLSTATE, or NULL. */
	bool conn_lost;	      /* The connection broke mid-batch. */
};

typedef void (*db_acquire_cb)(
    struct db_conn *conn, enum db_acquire_status status, void *arg);
typedef void (*db_batch_cb)(const struct db_result *res, void *arg);
/* Row row of res, valid during the call only; false: pause (no more rows
 * are read until db_conn_resume_rows). */
typedef bool (*db_row_cb)(const PGresult *res, int row, void *arg);

/*
 * The sslmode to connect to host with, from the [pg_v3] sslmode setting:
 * the setting itself, or for "auto" "disable" when every host libpq may
 * reach through host (a comma-separated list; empty: PGHOST's, or
 * libpq's socket folder) is this machine (a loopback address, localhost
 * or a socket folder), and NULL (libpq's default, PGSSLMODE included)
 * otherwise.
 */
const char *db_sslmode_for(const char *setting, const char *host);

/*
 * The gssencmode for the same: with sslmode "auto", "disable" when host
 * is this machine as for db_sslmode_for (unless PGGSSENCMODE is set),
 * else NULL (libpq's default).  GSSAPI encryption protects nothing on the loopback, and
 * trying it costs a Kerberos set-up at every connect.
 */
const char *db_gssencmode_for(const char *setting, const char *host);

/*
 * Append sslmode and gssencmode to libpq's keys and values from entry n
 * on, each only when not NULL (libpq's default), and end both arrays
 * with NULL; they need room for n + 3 entries.
 */
void db_security_params(const char **keys, const char **values, size_t n,
    const char *sslmode, const char *gssencmode);

/* Make a pool and start connecting in the background; free it with
 * db_pool_free.  Connection parameters are copied. */
struct db_pool *db_pool_new(
    struct event_base *base, const struct db_pool_params *params);

/* Close every connection and free the pool; waiters are not called. */
void db_pool_free(struct db_pool *pool);

/*
 * New bounds from params (max_waiting, wait_timeout_s, connect_timeout_s,
 * query_timeout_s and idle_check_s; the rest is ignored), for waits,
 * connects, batches and checks started from now on.
 */
void db_pool_set_limits(
    struct db_pool *pool, const struct db_pool_params *params);

/* True when at least one connection is up (the last known state). */
bool db_pool_is_up(const struct db_pool *pool);

/* Connections now up, for /status and logs. */
int db_pool_count_up(const struct db_pool *pool);

/*
 * For a pool made with expect_standby: 1 when its server last said it is
 * a standby, 0 when it said it is not (promoted, or never a replica), -1
 * before it said (or for a server before PostgreSQL 14, which does not).
 * -1 for other pools.
 */
int db_pool_standby(const struct db_pool *pool);

/*
 * For the primary's pool: 1 from when a session says the database
 * refuses writes (default_transaction_read_only, or a standby) until one
 * made since takes them and none up refuses them, else 0; -1 before a
 * session said (or for a server before PostgreSQL 14, which does not).
 * -1 for a pool made with expect_standby.
 */
int db_pool_read_only(const struct db_pool *pool);

/* What a connection is held for, and so which bounds it counts in. */
enum db_hold {
	DB_HOLD_SHORT, /* A submission, a serial: no bound. */
	/* A query answered at once, whose statement may still run long (a
	 * grouping of millions of rows): at most query_max at once. */
	DB_HOLD_QUERY,
	/* A streamed answer, held until its reader took it: at most
	 * long_max at once, and counted among the queries. */
	DB_HOLD_STREAM,
};

/*
 * Ask for a connection to hold for hold.  cb runs later from the loop,
 * never from inside this call.  Past hold's bound the wait goes on,
 * and other requests waiting behind it are served first meanwhile.
 * Returns a handle to cancel the wait with db_wait_cancel until cb has
 * run; the pool frees the handle after cb.
 */
struct db_wait *db_pool_acquire(
    struct db_pool *pool, enum db_hold hold, db_acquire_cb cb, void *arg);

/*
 * A connection held for a query goes on to stream (a /summary past its
 * cap): true when the streams' bound lets it, else it stays a query's.
 */
bool db_conn_hold_stream(struct db_conn *conn);

/* Withdraw a wait whose callback has not run yet. */
void db_wait_cancel(struct db_wait *wait);

/*
 * Give a connection back.  An open or failed transaction is rolled back
 * before the connection is lent again.
 */
void db_conn_release(struct db_conn *conn);

/*
 * Give back a connection whose batch in flight nobody wants any more (a
 * streamed answer's client left): the batch's callback will not run.
 * Should the batch still run a second later, the connection is closed
 * and made again at once; with check_client the server then stops the
 * statement within its check interval.  Without a batch in flight, the
 * same as db_conn_release.
 */
void db_conn_abandon(struct db_conn *conn);

/* Start an empty batch of statements; db_conn_run frees it. */
struct db_batch *db_batch_new(void);

/*
 * Add a statement with text parameters (NULL values are SQL NULL;
 * lengths may be NULL for NUL-terminated values).  sql and values must
 * stay valid until db_conn_run returns: libpq copies them when sending.
 */
void db_batch_add(struct db_batch *batch, const char *sql, int nparams,
    const char *const *values, const int *lengths);

/*
 * As db_batch_add, for a statement whose text comes back again and again
 * (values are parameters): it is kept prepared on the connection, so
 * PostgreSQL parses and plans it once per connection.  formats (NULL: all
 * text) says which parameters are in binary form (1), as libpq's
 * paramFormats; lengths are then required.
 */
void db_batch_add_cached(struct db_batch *batch, const char *sql, int nparams,
    const char *const *values, const int *lengths, const int *formats);

/* Statements added so far. */
int db_batch_count(const struct db_batch *batch);

/*
 * Send every statement of batch in one pipeline ending in a sync point and
 * free batch.  cb runs once every result has arrived, or the first
 * failure has been seen and the rest reported aborted, or the connection
 * broke.  Results are freed after cb returns.
 */
void db_conn_run(
    struct db_conn *conn, struct db_batch *batch, db_batch_cb cb, void *arg);

/*
 * As db_conn_run, but the rows of the batch's last statement go to
 * row_cb one at a time as they arrive (libpq's single-row mode), and
 * that statement's result in cb's res has none.  A holder that pauses
 * (row_cb returns false) keeps the database waiting behind the socket's
 * buffers: memory does not grow with the rows, whatever their size.
 * While paused, query_timeout does not run.
 */
void db_conn_run_rows(struct db_conn *conn, struct db_batch *batch,
    db_row_cb row_cb, db_batch_cb cb, void *arg);

/*
 * Go on with a batch whose row_cb paused: rows already received come
 * first, from the loop (not from inside this call).
 */
void db_conn_resume_rows(struct db_conn *conn);

#endif /* MTTD_DB_POOL_H */
