/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The database pool.  Each connection is a libpq connection in
 * non-blocking pipeline mode whose socket is an event on the loop; a
 * request borrows one, runs batches of statements on it (each batch one
 * pipeline ending in a sync point, so one round trip), and gives it back.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "db_pool.h"
#include "log.h"
#include "strbuf.h"

/* Seconds between attempts to reach a database that is down. */
#define DB_RECONNECT_DELAY_S 1
/* A connection that began failing while the database was called down. */
#define DB_FAILING_IN_OUTAGE ((unsigned long)-1)

/*
 * While the database stays down, a connection's failed connects after
 * its first are logged at DEBUG, and every this many as a warning (once
 * a minute at one a second): a night's outage would otherwise write a
 * line a second per connection.  One whose message differs from the
 * last (the cause changed: a password fixed, a database renamed) is an
 * error again.
 */
#define DB_DOWN_LOG_EVERY 60

/*
 * Seconds an abandoned batch (its holder's client left) may still run
 * before its connection is closed: a FETCH of rows already sorted ends
 * in milliseconds, a sort of millions may run for minutes.
 */
#define DB_ABANDON_GRACE_S 1

/*
 * A connection that sent a batch of this many bytes is closed and made
 * again when it is released: libpq grows its output buffer to hold a
 * whole pipeline and never shrinks it, so a 40 MB submission would leave
 * 64 MiB or more resident on each connection that ever stored one.  A
 * night's ordinary submissions stay far below (a 100-entry one sends
 * about 100 KB).
 */
#define DB_CONN_REMAKE_BYTES (8 * 1024 * 1024)

/* The session settings that mttd's statements and values assume. */
#define DB_OPTIONS "-c DateStyle=ISO,MDY -c IntervalStyle=postgres"

/*
 * How often a server checks that a running statement's client is still
 * connected: a polled socket every 2 s costs nothing, and a statement
 * left behind by a dropped connection (query_timeout) stops within it.
 */
#define DB_OPTION_CHECK_CLIENT "-c client_connection_check_interval=2s"

/*
 * See db_pool_params.since_pg12 (extra_float_digits = 0, set by a
 * role or database, rounded the floats answered: break-it helper 59;
 * before PostgreSQL 12, 1 would mean 16 digits, neither exact nor what
 * the server gives by default).
 */
#define DB_OPTIONS_SINCE_PG12 "-c plan_cache_mode=auto -c extra_float_digits=1"

enum db_conn_state {
	DBC_DOWN,	/* Not connected; a reconnect timer is pending. */
	DBC_CONNECTING, /* PQconnectPoll in progress. */
	DBC_IDLE,	/* Connected, in the pool, free to lend. */
	DBC_LENT,	/* Owned by a request, nothing in flight. */
	DBC_BUSY,	/* Owned by a request, a batch in flight. */
	DBC_RESETTING	/* Back from a request, ROLLBACK in flight. */
};

struct db_stmt {
	const char *sql;
	int nparams;
	const char *const *values;
	const int *lengths;
	const int *formats; /* NULL: every parameter is text. */
	bool cached;	    /* Kept prepared on the connection, by its text. */
};

/*
 * Statements kept prepared on one connection.  The nightly storm sends
 * the same few statement texts over and over: PostgreSQL then parses
 * and plans each once per connection instead of each time.  At most
 * [pg_v3] prepared_statements of them (0: none, for a pooler that cannot
 * keep them).  When every slot is taken, a new text takes the slot of
 * the one least recently used (not by the batch being sent), whose
 * statement is deallocated at the start of the connection's next batch
 * sent outside a transaction: there nothing before it can fail, and so
 * skip it.  Each Prepare gets a name of its own, so that a name is never
 * prepared twice.
 */
#define DB_PREPARED_MAX 128

/*
 * A prepared statement keeps the generic plan made when it was first
 * used many times, and so do the foreign-key checks PostgreSQL runs for
 * each inserted row; both are planned again only when their tables are
 * analyzed.  A plan made while a table was tiny (a new database, the
 * first minute of a storm) scans it whole, and goes on doing so as it
 * grows: on a new database the first storm slowed down by a factor of 3
 * within seconds.  So each connection drops every plan it holds
 * (DISCARD PLANS) once its statements have handled DB_REPLAN_FIRST
 * rows, then after four times as many each time, up to every
 * DB_REPLAN_MAX.  Rows, not executions: tables grow by rows, and one
 * execution may carry a whole batch of entries (counting executions, a
 * storm of 100-entry batches ran seq-scanning foreign-key checks for
 * 25,000 rows).  Unnamed statements count too: the foreign-key checks'
 * plans are kept all the same.  The statements stay prepared.
 */
#define DB_REPLAN_FIRST 256UL
#define DB_REPLAN_MAX (1UL << 20)

struct db_prepared {
	char *sql; /* NULL: the slot is free. */
	uint64_t hash;
	unsigned long name; /* Prepared as mttd_<name>. */
	unsigned long used; /* The last batch that used it. */
};

/* One message of a batch as sent: a statement, or its Prepare first, or
 * the DEALLOCATE of a statement whose slot another took. */
struct db_sent {
	int stmt;     /* Its index in the batch (0 for a DEALLOCATE). */
	int slot;     /* Its prepared slot, or -1: sent unnamed. */
	bool prepare; /* The Prepare of the slot, not the statement. */
	bool dealloc; /* A DEALLOCATE. */
};

struct db_batch {
	struct db_stmt *stmts;
	int count;
	int cap;
};

struct db_conn {
	struct db_pool *pool;
	int index; /* For logs. */
	PGconn *pg;
	enum db_conn_state state;
	struct event *ev;	/* Socket readiness. */
	int ev_fd;		/* The socket ev watches, or -1. */
	struct event *timer;	/* Reconnect delay. */
	struct event *deadline; /* Silence limit while an answer is due. */
	int silence_s; /* That limit, for what is in flight; 0: none. */
	const char *silence_what; /* What passing it means, for the log. */
	bool checking; /* In flight: a check that the database answers. */
	/*
	 * Dropped while the database may well be there: for silence (it may
	 * only be slow, a lock held long), or closed by the server while
	 * unused (idle_session_timeout, a terminated backend).  Until a
	 * connect of it fails, its loss does not call the pool down.
	 */
	bool keeps_pool_up;
	bool reconnect_at_once;	 /* Else a second later. */
	struct timeval up_since; /* When it connected. */
	char server_said[160];	 /* The server's last message while idle. */
	struct event *fail_ev;	 /* Reports a batch that could not start. */
	/*
	 * Lent to a request, from acquire to release, whatever the state: a
	 * held connection that is lost stays down until its holder gives it
	 * back, so that it is never lent twice.
	 */
	bool held;
	enum db_hold hold; /* What its holder counts against. */
	bool abandoned; /* Its holder gave it back mid-batch (db_conn_abandon). */
	int connect_failures;	/* Connects failed in a row, for the log. */
	uint64_t failure_cause; /* Hash of the last one's message. */
	bool read_only;		/* Its session said it refuses writes. */
	unsigned long session;	/* Its number among the sessions made. */
	/* pool->outages at its first failed connect, or
	 * DB_FAILING_IN_OUTAGE. */
	unsigned long failing_since;
	/* A statement failed in a way a new session may not (the SQLSTATE,
	 * see db_sqlstate_wants_new_session); made again when given back. */
	char remake_for[6];

	struct db_prepared prepared[DB_PREPARED_MAX];
	bool prepared_full;	 /* Said so in the log. */
	unsigned long batches;	 /* Sent on this connection. */
	size_t sent_bytes;	 /* Of the largest batch since connected. */
	size_t row_bytes;	 /* Of the largest row read one at a time. */
	unsigned long next_name; /* Of the next Prepare. */
	unsigned long *stale;	 /* Names to deallocate next batch. */
	int nstale, stale_cap;
	unsigned long planned_rows; /* Handled since plans were made. */
	unsigned long replan_at;    /* planned_rows that replans them. */

	/* The batch in flight. */
	db_batch_cb cb;
	void *cb_arg;
	/* Row by row (db_conn_run_rows): the statement whose rows go to
	 * row_cb (NULL: dropped, once abandoned), or -1. */
	int rows_stmt;
	db_row_cb row_cb;
	bool rows_mode_set; /* libpq was told, for rows_stmt. */
	bool rows_paused;   /* row_cb asked for no more for now. */
	struct db_result res;
	struct db_sent *sent; /* What was sent, in order. */
	int nsent;
	int current;	   /* Item of sent whose results come next. */
	bool current_seen; /* A result of it has arrived. */
	char *error;
	char *sqlstate;

	TAILQ_ENTRY(db_conn) idle_entry;
};

struct db_wait {
	struct db_pool *pool;
	struct event *ev; /* Hand-over or timeout. */
	db_acquire_cb cb;
	void *arg;
	struct db_conn *conn; /* Set when one was handed over. */
	enum db_acquire_status status;
	bool queued;
	enum db_hold hold; /* Served only within its kind's bounds. */
	TAILQ_ENTRY(db_wait) entry;
};

struct db_pool {
	struct event_base *base;
	char *host, *port, *dbname, *user, *password;
	char *sslmode;	  /* NULL: libpq's default. */
	char *gssencmode; /* NULL: libpq's default. */
	int size;
	int prepared_max; /* Texts a connection keeps prepared. */
	int max_waiting;
	int wait_timeout_s;
	int connect_timeout_s; /* Longest connect. */
	int query_timeout_s;   /* Longest silence mid-batch; 0: none. */
	int idle_check_s;      /* Check after this long unused; 0: never. */
	struct event *idle_check_ev;
	/* Every connection lost while the server may well be there: the
	 * pool is called down if none is back within twice the reconnect
	 * delay (db_pool_arm_grace). */
	struct event *grace_ev;
	struct timeval last_lent; /* When a request last took a connection. */
	int long_max;		  /* Connections streams may hold at once. */
	int query_max;		  /* Connections queries may hold at once. */
	bool check_client;	  /* See db_pool_params. */
	bool since_pg12;	  /* Likewise. */
	bool expect_standby;	  /* Likewise. */
	int standby; /* The server's in_hot_standby: 1 on, 0 off, -1 unknown. */
	const char *label; /* Of its connections in the log: "db", "replica". */
	int read_only_conns;	    /* Up, and said they refuse writes. */
	struct event *read_only_ev; /* Remakes the idle ones each second. */
	bool said_read_only;	    /* The log's last word: read-only... */
	unsigned long read_only_said_at; /* ...since session number N. */
	unsigned long sessions;		 /* Made, so far. */
	unsigned long outages;		 /* "database is down" said, times. */
	bool knows_read_only;		 /* A session said (PostgreSQL 14+). */
	bool said_up, said_down;	 /* The log's last word on the pool. */
	int long_held;			 /* Held by streams now. */
	int query_held; /* Held by queries (streams too) now. */
	struct db_conn *conns;
	int up; /* Connections connected. */
	/*
	 * The last known state of the database: true from start-up (the
	 * catalogue was just read) and after any connection succeeds, false
	 * once no connection is up and one has failed.  While true, requests
	 * wait for a connection that is still connecting.
	 */
	bool reachable;
	TAILQ_HEAD(, db_conn) idle;
	TAILQ_HEAD(, db_wait) waits;
	int waiting;
};

static void db_conn_connect(struct db_conn *c);
static bool db_conn_still_open(struct db_conn *c);
static void db_conn_closed_by_server(struct db_conn *c);
static void db_conn_event_cb(evutil_socket_t fd, short what, void *arg);
static void db_conn_make_idle(struct db_conn *c);

static const char *
db_conn_state_name(enum db_conn_state s)
{
	static const char *names[] = { "down", "connecting", "idle", "lent",
		"busy", "resetting" };

	return names[s];
}

static void
db_conn_set_state(struct db_conn *c, enum db_conn_state s)
{
	log_debug("%s conn %d: %s -> %s", c->pool->label, c->index,
	    db_conn_state_name(c->state), db_conn_state_name(s));
	c->state = s;
	/* Only these states wait for the database to say something. */
	if (s != DBC_CONNECTING && s != DBC_BUSY && s != DBC_RESETTING)
		evtimer_del(c->deadline);
}

/*
 * Give the database seconds (0: forever) to say something about what was
 * just sent, counted again from each byte that moves (what names the
 * limit in the log).  A database that stops answering without closing its
 * connections (a frozen host, a network cut, a stopped server) would
 * otherwise hold the requests on them for as long as it is silent.  The
 * limit is kept with the connection, so a reload changes it only for
 * what is sent afterwards.
 */
static void
db_conn_arm_deadline(struct db_conn *c, int seconds, const char *what)
{
	struct timeval tv = { seconds, 0 };

	c->silence_s = seconds;
	c->silence_what = what;
	if (seconds > 0)
		evtimer_add(c->deadline, &tv);
	else
		evtimer_del(c->deadline);
}

/* The socket moved: the database is alive, so the silence restarts. */
static void
db_conn_rearm_deadline(struct db_conn *c)
{
	struct timeval tv = { c->silence_s, 0 };

	if (c->silence_s > 0)
		evtimer_add(c->deadline, &tv);
}

/* Watch the connection's socket for reading, and writing when asked. */
static void
db_conn_watch(struct db_conn *c, bool want_write)
{
	int fd = PQsocket(c->pg);
	short what = EV_READ | EV_PERSIST | (want_write ? EV_WRITE : 0);

	if (c->ev != NULL) {
		event_del(c->ev);
		if (fd != c->ev_fd || event_get_events(c->ev) != what) {
			event_free(c->ev);
			c->ev = NULL;
		}
	}
	if (c->ev == NULL) {
		c->ev = event_new(c->pool->base, fd, what, db_conn_event_cb, c);
		c->ev_fd = fd;
	}
	event_add(c->ev, NULL);
}

static void
db_conn_unwatch(struct db_conn *c)
{
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
		c->ev_fd = -1;
	}
}

static void
db_conn_reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn_connect(arg);
}

/* The last connection went: nobody waiting can be served soon. */
static void
db_pool_fail_waits(struct db_pool *p)
{
	struct db_wait *w;

	if (p->reachable) {
		log_error("database is down (%s:%s/%s): no connection is up",
		    p->host, p->port, p->dbname);
		p->outages++;
	}
	p->reachable = false;
	p->said_down = true;
	while ((w = TAILQ_FIRST(&p->waits)) != NULL) {
		TAILQ_REMOVE(&p->waits, w, entry);
		p->waiting--;
		w->queued = false;
		w->status = DB_ACQUIRE_DOWN;
		event_del(w->ev);
		event_active(w->ev, EV_TIMEOUT, 1);
	}
}

/* No connection came back within the grace: the database is down. */
static void
db_pool_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *p = arg;

	if (p->up == 0)
		db_pool_fail_waits(p);
}

/*
 * The last connection went while the server may well be there (closed
 * by it, a drop for silence): its reconnect starts at once (or after the
 * reconnect delay, when it had been up less than that), and the pool is
 * not called down unless that connect fails, or none is back within
 * twice the delay (a server that accepts connections and says nothing
 * held every request for connect_timeout; break-it helper 53: 10 s).
 */
static void
db_pool_arm_grace(struct db_pool *p)
{
	struct timeval tv = { 2 * DB_RECONNECT_DELAY_S, 0 };

	if (!evtimer_pending(p->grace_ev, NULL))
		evtimer_add(p->grace_ev, &tv);
}

/* A new session knows no prepared statement. */
static void
db_conn_forget_prepared(struct db_conn *c)
{
	int i;

	for (i = 0; i < DB_PREPARED_MAX; i++) {
		free(c->prepared[i].sql);
		c->prepared[i].sql = NULL;
	}
	c->nstale = 0;
	c->prepared_full = false;
	c->planned_rows = 0;
	c->replan_at = DB_REPLAN_FIRST;
}

/* When to connect again: at once after a drop for silence or by the server. */
static struct timeval
db_conn_reconnect_delay(const struct db_conn *c)
{
	struct timeval tv = { c->reconnect_at_once ? 0 : DB_RECONNECT_DELAY_S,
		0 };

	return tv;
}

/* Drop the connection and try again after a delay. */
static void
db_conn_drop(struct db_conn *c)
{
	struct timeval tv = db_conn_reconnect_delay(c);
	bool was_up = c->state != DBC_CONNECTING && c->state != DBC_DOWN;

	c->checking = false;
	db_conn_unwatch(c);
	if (c->state == DBC_IDLE)
		TAILQ_REMOVE(&c->pool->idle, c, idle_entry);
	if (was_up)
		c->pool->up--;
	if (c->pool->up == 0 && !c->keeps_pool_up)
		db_pool_fail_waits(c->pool);
	else if (c->pool->up == 0)
		db_pool_arm_grace(c->pool);
	PQfinish(c->pg);
	c->pg = NULL;
	c->rows_paused = false;
	if (c->read_only)
		c->pool->read_only_conns--;
	c->read_only = false;
	c->remake_for[0] = '\0';
	db_conn_forget_prepared(c);
	db_conn_set_state(c, DBC_DOWN);
	if (!c->held)
		evtimer_add(c->timer, &tv);
}

static void
db_conn_lost(struct db_conn *c, const char *why)
{
	bool again = c->state == DBC_CONNECTING && c->connect_failures++ > 0;
	uint64_t cause = hash_fnv1a(HASH_FNV1A_SEED, why, strlen(why));

	if (again && cause != c->failure_cause)
		again = false;
	c->failure_cause = cause;
	/* A connect failure logged while the database is called up, or one
	 * during an outage: see db_conn_poll_connect's "connected" line
	 * (break-it helper 67: an error logged after "database is up" was
	 * never followed by one). */
	if (c->state == DBC_CONNECTING && !again)
		c->failing_since = c->pool->said_down ? DB_FAILING_IN_OUTAGE :
							c->pool->outages;
	if (c->abandoned)
		log_info("%s conn %d: %s", c->pool->label, c->index, why);
	else if (!again)
		log_error("%s conn %d: %s", c->pool->label, c->index, why);
	else if (c->connect_failures % DB_DOWN_LOG_EVERY == 0)
		log_warn("%s conn %d: still cannot connect (%d tries in a"
			 " row): %s",
		    c->pool->label, c->index, c->connect_failures, why);
	else
		log_debug("%s conn %d: %s", c->pool->label, c->index, why);
	db_conn_drop(c);
}

/*
 * A notice, or what the server says while no statement runs (the FATAL
 * before it closes an idle session), which libpq hands here too: kept,
 * as the reason should the connection then close.
 */
static void
db_notice_cb(void *arg, const char *message)
{
	struct db_conn *c = arg;
	size_t n = strcspn(message, "\n");

	log_debug("postgres notice: %s", message);
	snprintf(
	    c->server_said, sizeof c->server_said, "%.*s", (int)n, message);
}

/* Start a non-blocking connect; PQconnectPoll continues it. */
/* The session settings a new connection asks for. */
static const char *
db_conn_options(const struct db_pool *p)
{
	if (p->since_pg12 && p->check_client)
		return DB_OPTIONS " " DB_OPTIONS_SINCE_PG12
				  " " DB_OPTION_CHECK_CLIENT;
	if (p->since_pg12)
		return DB_OPTIONS " " DB_OPTIONS_SINCE_PG12;
	if (p->check_client)
		return DB_OPTIONS " " DB_OPTION_CHECK_CLIENT;
	return DB_OPTIONS;
}

static void
db_conn_connect(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	/*
	 * TCP keepalives after a minute of silence, three probes ten seconds
	 * apart: an idle connection to a host that vanished (a cut network)
	 * is found lost in about 90 s, not the system's two hours.
	 */
	const char *keys[14] = { "host", "port", "dbname", "user", "password",
		"application_name", "client_encoding", "options",
		"keepalives_idle", "keepalives_interval", "keepalives_count" };
	const char *values[14] = { p->host, p->port, p->dbname, p->user,
		p->password, "mttd", "UTF8", db_conn_options(p), "60", "10",
		"3" };

	db_security_params(keys, values, 11, p->sslmode, p->gssencmode);
	/* A connect that fails counts. */
	c->keeps_pool_up = c->reconnect_at_once = false;
	c->pg = PQconnectStartParams(keys, values, 0);
	c->sent_bytes = c->row_bytes = 0;
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		c->state = DBC_CONNECTING;
		db_conn_lost(
		    c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	c->server_said[0] = '\0';
	PQsetNoticeProcessor(c->pg, db_notice_cb, c);
	db_conn_set_state(c, DBC_CONNECTING);
	db_conn_watch(c, true);
	/* libpq's own connect_timeout holds only for blocking connects. */
	db_conn_arm_deadline(
	    c, p->connect_timeout_s, "while connecting (connect_timeout)");
}

/*
 * A replica's pool: what the server says of itself (in_hot_standby,
 * which PostgreSQL 14 and later report, and report again to each session
 * with its next answer once promoted: an idle pool learns it from its
 * idle check).  A promoted replica, or a read_server that never was
 * one, serves queries without what /submit stores on the primary from
 * then on: said once per change, and kept for /status.
 */
static void
db_conn_note_standby(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	const char *value;
	int standby;

	if ((value = PQparameterStatus(c->pg, "in_hot_standby")) == NULL)
		return;
	standby = strcmp(value, "on") == 0;
	if (standby == p->standby)
		return;
	if (!standby)
		log_warn("read_server %s:%s is not a standby (in_hot_standby"
			 " off: promoted, or not a replica): queries read it,"
			 " and see what /submit stores on the primary only if"
			 " it replicates from there",
		    p->host, p->port);
	else if (p->standby == 0)
		log_info(
		    "read_server %s:%s is a standby again", p->host, p->port);
	p->standby = standby;
}

/*
 * The primary's pool: whether the session refuses writes, as the server
 * reports it (PostgreSQL 14 and later): default_transaction_read_only,
 * or in_hot_standby.  Said once when the first session says so, and
 * once when none does and a session made since takes writes: sessions
 * made before keep what they were made with (break-it helper 65: with
 * old writable sessions beside new read-only ones, both lines came
 * every second).
 */
static void
db_conn_note_read_only(struct db_conn *c)
{
	static const struct timeval again = { DB_RECONNECT_DELAY_S, 0 };
	struct db_pool *p = c->pool;
	const char *dtro, *hs;
	bool ro;

	dtro = PQparameterStatus(c->pg, "default_transaction_read_only");
	hs = PQparameterStatus(c->pg, "in_hot_standby");
	if (dtro == NULL || hs == NULL)
		return;
	p->knows_read_only = true;
	ro = strcmp(dtro, "on") == 0 || strcmp(hs, "on") == 0;
	if (ro != c->read_only)
		p->read_only_conns += ro ? 1 : -1;
	c->read_only = ro;
	if (ro && !p->said_read_only) {
		log_warn("sessions of the database %s:%s refuse writes (%s):"
			 " submissions and POST /serial on them are refused;"
			 " idle ones are made again each second, to see when"
			 " it takes writes",
		    p->host, p->port,
		    strcmp(hs, "on") == 0 ?
			"in_hot_standby is on: a standby" :
			"default_transaction_read_only is on, set for the"
			" role, the database or the server");
		p->said_read_only = true;
		p->read_only_said_at = p->sessions;
	} else if (!ro && p->said_read_only && p->read_only_conns == 0 &&
	    c->session > p->read_only_said_at) {
		log_info(
		    "the database %s:%s takes writes again", p->host, p->port);
		p->said_read_only = false;
	}
	if (p->said_read_only && !evtimer_pending(p->read_only_ev, NULL))
		evtimer_add(p->read_only_ev, &again);
}

/* Make idle c again, to see what a new session says. */
static void
db_conn_remake_to_see(struct db_conn *c)
{
	log_debug("%s conn %d: made again, to see whether the database takes"
		  " writes now",
	    c->pool->label, c->index);
	c->keeps_pool_up = c->reconnect_at_once = true;
	db_conn_drop(c);
}

/*
 * A session keeps the read-only default it was made with: turned off
 * for the database, it takes effect only in new sessions.  Idle
 * sessions that refuse writes are made again each second while there
 * are any, so the first submission after the change is stored (the
 * busy ones are, once given back).  Turned off for the server, open
 * sessions take writes at once: the read-only state is left only on a
 * session made since it was said, so one idle session is made again
 * if none is.
 */
static void
db_pool_read_only_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *p = arg;
	struct db_conn *c, *next;
	bool remade = false;

	(void)fd;
	(void)what;
	for (c = TAILQ_FIRST(&p->idle); c != NULL; c = next) {
		next = TAILQ_NEXT(c, idle_entry);
		if (c->read_only) {
			db_conn_remake_to_see(c);
			remade = true;
		}
	}
	c = TAILQ_FIRST(&p->idle);
	if (!remade && p->said_read_only && c != NULL &&
	    c->session <= p->read_only_said_at)
		db_conn_remake_to_see(c);
}

/* One step of PQconnectPoll; on success the connection joins the pool. */
static void
db_conn_poll_connect(struct db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		db_conn_watch(c, false);
		return;
	case PGRES_POLLING_WRITING:
		db_conn_watch(c, true);
		return;
	case PGRES_POLLING_FAILED:
		db_conn_lost(c, PQerrorMessage(c->pg));
		return;
	default:
		break;
	}

	/* Connected: pipeline mode for one round trip per batch. */
	if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg)) {
		db_conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	/*
	 * A session the server closed as soon as it was made (its
	 * idle_session_timeout passed while mttd was held up) is not lent.
	 */
	event_base_gettimeofday_cached(c->pool->base, &c->up_since);
	c->session = ++c->pool->sessions;
	if (!db_conn_still_open(c)) {
		db_conn_closed_by_server(c);
		return;
	}
	c->pool->reachable = true;
	/* Said at start-up and after "down", not for every connection made
	 * again while the pool counted as up (helper 53); a connection whose
	 * failures were logged meanwhile says it is back (helper 63: only
	 * its errors were at INFO). */
	if (c->pool->up++ == 0 && (c->pool->said_down || !c->pool->said_up))
		log_info("database is up (%s:%s/%s)", c->pool->host,
		    c->pool->port, c->pool->dbname);
	else if (c->connect_failures > 0 &&
	    c->failing_since == c->pool->outages)
		log_info("%s conn %d: connected, after %d failed connect(s)",
		    c->pool->label, c->index, c->connect_failures);
	c->connect_failures = 0;
	c->pool->said_up = true;
	c->pool->said_down = false;
	evtimer_del(c->pool->grace_ev); /* A connection is back. */
	db_conn_watch(c, false);
	db_conn_make_idle(c);
}

static void
db_wait_unqueue(struct db_wait *w)
{
	if (w->queued) {
		TAILQ_REMOVE(&w->pool->waits, w, entry);
		w->pool->waiting--;
		w->queued = false;
	}
}

/*
 * The connections queries may hold now: query_max, and in a pool that
 * submissions share, one fewer than the connections up (at least one),
 * so that a connection that cannot be made again (a server at its
 * max_connections) is not taken from submissions (break-it helper 55).
 */
static int
db_pool_query_bound(const struct db_pool *p)
{
	int live = p->up > 1 ? p->up - 1 : 1;

	if (p->query_max >= p->size || live >= p->query_max)
		return p->query_max;
	return live;
}

/* Whether p may lend a connection for hold now. */
static bool
db_pool_fits(const struct db_pool *p, enum db_hold hold)
{
	if (hold == DB_HOLD_SHORT)
		return true;
	if (p->query_held >= db_pool_query_bound(p))
		return false;
	return hold == DB_HOLD_QUERY || p->long_held < p->long_max;
}

/* Lend c to a request; queries and streams count against their bounds. */
static void
db_conn_lend(struct db_conn *c, enum db_hold hold)
{
	db_conn_set_state(c, DBC_LENT);
	event_base_gettimeofday_cached(c->pool->base, &c->pool->last_lent);
	c->held = true;
	c->hold = hold;
	if (hold != DB_HOLD_SHORT)
		c->pool->query_held++;
	if (hold == DB_HOLD_STREAM)
		c->pool->long_held++;
}

bool
db_conn_hold_stream(struct db_conn *c)
{
	if (c->hold == DB_HOLD_STREAM)
		return true;
	if (c->hold != DB_HOLD_QUERY || c->pool->long_held >= c->pool->long_max)
		return false;
	c->hold = DB_HOLD_STREAM;
	c->pool->long_held++;
	return true;
}

/* The oldest waiter that may have a connection now. */
static struct db_wait *
db_pool_next_waiter(struct db_pool *p)
{
	struct db_wait *w;

	TAILQ_FOREACH(w, &p->waits, entry)
	{
		if (db_pool_fits(p, w->hold))
			return w;
	}
	return NULL;
}

/* Lend c to the waiter w, whose callback then runs from the loop. */
static void
db_conn_hand_over(struct db_conn *c, struct db_wait *w)
{
	db_wait_unqueue(w);
	db_conn_lend(c, w->hold);
	w->conn = c;
	w->status = DB_ACQUIRE_OK;
	event_del(w->ev);
	event_active(w->ev, EV_TIMEOUT, 1);
}

/*
 * Hand conn to the oldest waiter that may have it, or put it in the idle
 * list: a stream waits while streams hold their share, a query while
 * queries hold theirs, and requests behind them go first.
 */
static void
db_conn_make_idle(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	struct db_wait *w = db_pool_next_waiter(p);

	/* Made, or back from a batch (a request's, an idle check's): the
	 * server reports a promotion with its next answer to a session. */
	if (p->expect_standby)
		db_conn_note_standby(c);
	else
		db_conn_note_read_only(c);
	if (w == NULL) {
		db_conn_set_state(c, DBC_IDLE);
		TAILQ_INSERT_TAIL(&p->idle, c, idle_entry);
		return;
	}
	db_conn_hand_over(c, w);
}

static void
db_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_wait *w = arg;

	/* A timer that fired without a hand-over is a timeout. */
	if (w->conn == NULL && w->queued) {
		db_wait_unqueue(w);
		w->status = DB_ACQUIRE_TIMEOUT;
	}
	w->cb(w->conn, w->status, w->arg);
	event_free(w->ev);
	free(w);
}

/*
 * An idle connection the server has not closed meanwhile.  Its closing
 * words (the FATAL of idle_session_timeout) may wait unread when a
 * request comes in the same loop turn: lent, the connection would fail
 * the request's statements, which the server never ran.  Costs a read
 * that finds nothing.
 */
static bool
db_conn_still_open(struct db_conn *c)
{
	PGnotify *n;
	bool read = PQconsumeInput(c->pg) != 0;

	/* Parsing hands what the server said while idle to db_notice_cb. */
	while ((n = PQnotifies(c->pg)) != NULL)
		PQfreemem(n);
	return read && PQstatus(c->pg) == CONNECTION_OK &&
	    strncmp(c->server_said, "FATAL", 5) != 0;
}

/* The idle connection to lend next (idle longest), or NULL. */
static struct db_conn *
db_pool_first_idle(struct db_pool *p)
{
	struct db_conn *c;

	while ((c = TAILQ_FIRST(&p->idle)) != NULL && !db_conn_still_open(c))
		db_conn_closed_by_server(c);
	return c;
}

/*
 * A query's bound freed: idle connections go to the waiters that fit
 * now, oldest first.  Only a connection coming back served the queue,
 * so when the one given back was lost, or is made again, a waiter saw
 * idle connections go to newer requests (break-it helper 55: a stream
 * waited its whole db_wait_timeout beside three idle connections).
 */
static void
db_pool_serve_waiters(struct db_pool *p)
{
	struct db_wait *w;
	struct db_conn *c;

	while ((w = db_pool_next_waiter(p)) != NULL &&
	    (c = db_pool_first_idle(p)) != NULL) {
		TAILQ_REMOVE(&p->idle, c, idle_entry);
		db_conn_hand_over(c, w);
	}
}

struct db_wait *
db_pool_acquire(
    struct db_pool *p, enum db_hold hold, db_acquire_cb cb, void *arg)
{
	struct db_wait *w = xcalloc(1, sizeof *w);
	struct db_conn *c = db_pool_first_idle(p);
	struct timeval tv = { p->wait_timeout_s, 0 };

	w->pool = p;
	w->cb = cb;
	w->arg = arg;
	w->hold = hold;
	w->ev = event_new(p->base, -1, 0, db_wait_cb, w);

	/* Answer at once when a connection is free or none can come. */
	if (c != NULL && db_pool_fits(p, hold)) {
		TAILQ_REMOVE(&p->idle, c, idle_entry);
		db_conn_lend(c, hold);
		w->conn = c;
		w->status = DB_ACQUIRE_OK;
	} else if (p->up == 0 && !p->reachable) {
		w->status = DB_ACQUIRE_DOWN;
	} else if (p->waiting >= p->max_waiting) {
		w->status = DB_ACQUIRE_BUSY;
	} else {
		TAILQ_INSERT_TAIL(&p->waits, w, entry);
		p->waiting++;
		w->queued = true;
		event_add(w->ev, &tv);
		return w;
	}
	event_active(w->ev, EV_TIMEOUT, 1);
	return w;
}

static void db_pool_arm_idle_check(
    struct db_pool *p, const struct timeval *from);

void
db_pool_set_limits(struct db_pool *p, const struct db_pool_params *params)
{
	p->max_waiting = params->max_waiting;
	p->wait_timeout_s = params->wait_timeout_s;
	p->connect_timeout_s = params->connect_timeout_s;
	p->query_timeout_s = params->query_timeout_s;
	/* The period starts again at each reload. */
	p->idle_check_s = params->idle_check_s;
	evtimer_del(p->idle_check_ev);
	if (p->idle_check_s > 0) {
		struct timeval now;

		event_base_gettimeofday_cached(p->base, &now);
		db_pool_arm_idle_check(p, &now);
	}
}

void
db_wait_cancel(struct db_wait *w)
{
	db_wait_unqueue(w);
	if (w->conn != NULL)
		db_conn_release(w->conn);
	event_free(w->ev);
	free(w);
}

bool
db_pool_is_up(const struct db_pool *p)
{
	return p->up > 0 || p->reachable;
}

int
db_pool_count_up(const struct db_pool *p)
{
	return p->up;
}

int
db_pool_read_only(const struct db_pool *p)
{
	if (p->expect_standby || !p->knows_read_only)
		return -1;
	/* What the log last said: sessions remade after a refused write
	 * are not counted while they connect (break-it helper 66: under
	 * load /status said false while every submission was refused). */
	return p->said_read_only;
}

int
db_pool_standby(const struct db_pool *p)
{
	return p->expect_standby ? p->standby : -1;
}

struct db_batch *
db_batch_new(void)
{
	return xcalloc(1, sizeof(struct db_batch));
}

void
db_batch_add(struct db_batch *b, const char *sql, int nparams,
    const char *const *values, const int *lengths)
{
	struct db_stmt *s;

	if (b->count == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 8;
		b->stmts = xrealloc(b->stmts, b->cap * sizeof *b->stmts);
	}
	s = &b->stmts[b->count++];
	s->sql = sql;
	s->nparams = nparams;
	s->values = values;
	s->lengths = lengths;
	s->formats = NULL;
	s->cached = false;
}

void
db_batch_add_cached(struct db_batch *b, const char *sql, int nparams,
    const char *const *values, const int *lengths, const int *formats)
{
	db_batch_add(b, sql, nparams, values, lengths);
	b->stmts[b->count - 1].formats = formats;
	b->stmts[b->count - 1].cached = true;
}

int
db_batch_count(const struct db_batch *b)
{
	return b->count;
}

static void
db_batch_free(struct db_batch *b)
{
	free(b->stmts);
	free(b);
}

/* Forget the results of the finished batch. */
static void
db_conn_clear_results(struct db_conn *c)
{
	int i;

	for (i = 0; i < c->res.count; i++)
		PQclear(c->res.results[i]);
	free(c->res.results);
	free(c->error);
	free(c->sqlstate);
	memset(&c->res, 0, sizeof c->res);
	c->error = c->sqlstate = NULL;
}

/*
 * The batch is over: tell its owner, then drop the results.  The results
 * are moved out first because the callback may start the next batch.
 */
static void
db_conn_finish_batch(struct db_conn *c)
{
	db_batch_cb cb = c->cb;
	void *arg = c->cb_arg;
	struct db_result res = c->res;
	int i;

	res.error = c->error;
	res.sqlstate = c->sqlstate;
	memset(&c->res, 0, sizeof c->res);
	c->error = c->sqlstate = NULL;
	c->cb = NULL;
	c->rows_stmt = -1;
	c->row_cb = NULL;
	c->rows_paused = false;
	if (c->state == DBC_BUSY)
		db_conn_set_state(c, DBC_LENT);
	cb(&res, arg);
	for (i = 0; i < res.count; i++)
		PQclear(res.results[i]);
	free(res.results);
	free((char *)res.error);
	free((char *)res.sqlstate);
}

/*
 * "database connection lost: " and libpq's text on one line: libpq's
 * texts have a line break and a tab inside ("closed the connection
 * unexpectedly\n\tThis probably means..."), and end in a line break,
 * which reached clients' error messages as they were.
 */
static char *
db_lost_text(const char *why)
{
	char *text = xasprintf("database connection lost: %s", why), *in, *out;

	for (in = out = text; *in != '\0'; in++) {
		if (*in != '\n' && *in != '\r' && *in != '\t')
			*out++ = *in;
		else if (out > text && out[-1] != ' ')
			*out++ = ' ';
	}
	while (out > text && out[-1] == ' ')
		out--;
	*out = '\0';
	return text;
}

/* The batch cannot finish: the connection broke under it. */
static void
db_conn_fail_batch(struct db_conn *c, const char *why)
{
	char *msg = xstrdup(why);

	c->res.conn_lost = true;
	if (c->res.failed < 0)
		c->res.failed = c->current < c->nsent ?
		    c->sent[c->current].stmt :
		    0;
	free(c->error);
	c->error = db_lost_text(msg);
	db_conn_lost(c, msg);
	free(msg);
	if (c->cb != NULL)
		db_conn_finish_batch(c);
}

/*
 * Errors that come of what a session took when it was made, and that a
 * new session may not meet once the database is put right (break-it
 * helper 63: after default_transaction_read_only was turned off again,
 * the pool's sessions refused every submission until mttd restarted):
 * 25006, a write in a read-only session; 42P01 and 3F000, a table or
 * schema not found through the role's search_path; 26000, a prepared
 * statement the server no longer has (a pooler in between); a prepared
 * plan whose result type a schema change altered.
 */
static bool
db_sqlstate_wants_new_session(const char *state, const char *message)
{
	static const char *const states[] = { "25006", "42P01", "3F000",
		"26000", NULL };
	const char *const *s;

	for (s = states; *s != NULL; s++) {
		if (strcmp(state, *s) == 0)
			return true;
	}
	return strcmp(state, "0A000") == 0 &&
	    strstr(message, "cached plan must not change result type") != NULL;
}

static void
db_conn_note_error(struct db_conn *c, PGresult *r, int stmt)
{
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	c->res.failed = stmt;
	c->error = xstrdup(msg ? msg : PQresultErrorMessage(r));
	c->sqlstate = state ? xstrdup(state) : NULL;
	if (state != NULL && db_sqlstate_wants_new_session(state, c->error))
		text_copy(c->remake_for, sizeof c->remake_for, state);
}

/*
 * The answer to a Prepare: the slot is good, or it is freed (the Prepare
 * failed, or was skipped after an earlier failure in the batch).
 */
static void
db_conn_prepared_result(
    struct db_conn *c, const struct db_sent *item, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK) {
		if (st == PGRES_FATAL_ERROR && c->res.failed < 0)
			db_conn_note_error(c, r, item->stmt);
		free(c->prepared[item->slot].sql);
		c->prepared[item->slot].sql = NULL;
	}
	PQclear(r);
}

/* The answer to a DEALLOCATE: it cannot fail but by a bug (the name was
 * prepared, and nothing before it in the batch can fail). */
static void
db_conn_dealloc_result(
    struct db_conn *c, const struct db_sent *item, PGresult *r)
{
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_error("%s conn %d: DEALLOCATE failed: %s", c->pool->label,
		    c->index, PQresultErrorMessage(r));
		if (PQresultStatus(r) == PGRES_FATAL_ERROR && c->res.failed < 0)
			db_conn_note_error(c, r, item->stmt);
	}
	PQclear(r);
}

/* Rows a statement's result read or wrote, at least one. */
static void
db_conn_count_rows(struct db_conn *c, PGresult *r)
{
	unsigned long rows = (unsigned long)PQntuples(r);
	unsigned long affected = strtoul(PQcmdTuples(r), NULL, 10);

	c->planned_rows += affected > rows ? affected : rows > 0 ? rows : 1;
}

/*
 * When the statement whose results come next is the one run row by row,
 * tell libpq, before it parses any of them (PQisBusy would): in pipeline
 * mode single-row mode is set per statement, as it becomes the current
 * one.
 */
static void
db_conn_rows_mode_if_current(struct db_conn *c)
{
	const struct db_sent *item;

	if (c->rows_stmt < 0 || c->rows_mode_set || c->current >= c->nsent)
		return;
	item = &c->sent[c->current];
	if (item->stmt != c->rows_stmt || item->prepare || item->dealloc)
		return;
	c->rows_mode_set = true;
	if (!PQsetSingleRowMode(c->pg))
		log_warn("%s conn %d: rows not read one at a time: the whole"
			 " result is held",
		    c->pool->label, c->index);
}

/* Hand the rows of a whole result to row_cb (single-row mode refused):
 * all of them, as they are held already. */
static void
db_conn_rows_whole(struct db_conn *c, const PGresult *r)
{
	int i, n = PQntuples(r);

	for (i = 0; i < n && c->row_cb != NULL; i++)
		(void)c->row_cb(r, i, c->cb_arg);
}

/* The bytes of r's one row: libpq's input buffer grew to hold them. */
static size_t
db_row_bytes(const PGresult *r)
{
	size_t bytes = 0;
	int i;

	for (i = 0; i < PQnfields(r); i++)
		bytes += (size_t)PQgetlength(r, 0, i);
	return bytes;
}

/* One row of the statement run row by row; false when row_cb paused. */
static bool
db_conn_take_row(struct db_conn *c, PGresult *r)
{
	size_t bytes = db_row_bytes(r);
	bool more;

	if (bytes > c->row_bytes)
		c->row_bytes = bytes;
	more = c->row_cb == NULL || c->row_cb(r, 0, c->cb_arg);

	PQclear(r);
	if (more)
		return true;
	c->rows_paused = true;
	db_conn_unwatch(c);
	/* A reader that takes its time is not a silent database. */
	db_conn_arm_deadline(c, 0, NULL);
	return false;
}

/* Read every result that has arrived; true when the sync point came. */
static bool
db_conn_read_results(struct db_conn *c)
{
	PGresult *r;
	ExecStatusType st;
	const struct db_sent *item;

	while (!c->rows_paused && !PQisBusy(c->pg)) {
		r = PQgetResult(c->pg);
		if (r == NULL) {
			/* The end of one statement's results. */
			if (!c->current_seen)
				return false;
			c->current++;
			c->current_seen = false;
			db_conn_rows_mode_if_current(c);
			continue;
		}
		st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			return true;
		}
		if (st == PGRES_SINGLE_TUPLE) {
			c->current_seen = true;
			if (!db_conn_take_row(c, r))
				return false;
			continue;
		}
		item = c->current < c->nsent ? &c->sent[c->current] : NULL;
		if (item != NULL && item->prepare) {
			db_conn_prepared_result(c, item, r);
			c->current_seen = true;
			continue;
		}
		if (item != NULL && item->dealloc) {
			db_conn_dealloc_result(c, item, r);
			c->current_seen = true;
			continue;
		}
		if (st == PGRES_FATAL_ERROR && c->res.failed < 0)
			db_conn_note_error(c, r, item ? item->stmt : 0);
		if (item != NULL && item->stmt == c->rows_stmt &&
		    st == PGRES_TUPLES_OK)
			db_conn_rows_whole(c, r);
		if (item != NULL && !c->current_seen) {
			db_conn_count_rows(c, r);
			c->res.results[item->stmt] = r;
		} else {
			PQclear(r);
		}
		c->current_seen = true;
	}
	return false;
}

/* Seconds (with their fraction) since c connected. */
static double
db_conn_up_for_s(const struct db_conn *c)
{
	struct timeval now, up;

	event_base_gettimeofday_cached(c->pool->base, &now);
	timersub(&now, &c->up_since, &up);
	return up.tv_sec + up.tv_usec / 1e6;
}

/*
 * The socket failed under a batch: the server closed the session (its
 * backend terminated, the server shutting down or crashed) or the
 * network reset it.  As for a session closed while unused, one that
 * was up a second or more is made again at once, and only a connect
 * that fails calls the database down: sessions an operator terminates
 * together under load are no outage (break-it helper 51: every request
 * was refused for a second though the server ran on).  A server going
 * away refuses that connect at once.
 */
static void
db_conn_broke(struct db_conn *c)
{
	c->keeps_pool_up = c->reconnect_at_once = db_conn_up_for_s(c) >=
	    DB_RECONNECT_DELAY_S;
	db_conn_fail_batch(c, PQerrorMessage(c->pg));
}

/* Socket readiness while a batch or a ROLLBACK is in flight. */
static void
db_conn_io(struct db_conn *c, short what)
{
	int flushed = 0;

	/* An abandoned batch has a second from its abandon, however busy:
	 * its rows, dropped, could be gigabytes. */
	if (!c->abandoned)
		db_conn_rearm_deadline(c);
	if ((what & EV_WRITE) && (flushed = PQflush(c->pg)) < 0) {
		db_conn_broke(c);
		return;
	}
	if ((what & EV_WRITE) && flushed == 0)
		db_conn_watch(c, false);
	if (!(what & EV_READ))
		return;
	if (!PQconsumeInput(c->pg)) {
		db_conn_broke(c);
		return;
	}
	if (db_conn_read_results(c))
		db_conn_finish_batch(c);
}

static void db_conn_reset_done_cb(const struct db_result *res, void *arg);
static void db_conn_start(struct db_conn *c, struct db_batch *b, db_batch_cb cb,
    void *arg, enum db_conn_state state);

static void
db_conn_check_done_cb(const struct db_result *res, void *arg)
{
	struct db_conn *c = arg;

	c->checking = false;
	db_conn_reset_done_cb(res, arg);
}

/* Take idle c for a SELECT 1 that must be answered within connect_timeout. */
static void
db_conn_check(struct db_conn *c, const char *why)
{
	struct db_batch *b = db_batch_new();

	TAILQ_REMOVE(&c->pool->idle, c, idle_entry);
	db_batch_add(b, "SELECT 1", 0, NULL, NULL);
	c->checking = true;
	db_conn_start(c, b, db_conn_check_done_cb, c, DBC_RESETTING);
	if (c->state == DBC_RESETTING)
		db_conn_arm_deadline(c, c->pool->connect_timeout_s, why);
}

/*
 * One connection went silent: the database may be frozen or cut off, and
 * then so are the idle connections, each of which would hold the next
 * request on it for a whole query_timeout before it is found.  Each is
 * checked now instead, with a statement that must be answered within
 * connect_timeout: a database that is only slow (a lock held long)
 * answers it at once, and a frozen one is known to be down in
 * query_timeout + connect_timeout.
 */
static void
db_pool_check_idle(struct db_pool *p)
{
	struct db_conn *c;

	while ((c = TAILQ_FIRST(&p->idle)) != NULL)
		db_conn_check(c,
		    "to a check made because another connection went"
		    " silent (connect_timeout)");
}

/* The next idle check: idle_check seconds after from. */
static void
db_pool_arm_idle_check(struct db_pool *p, const struct timeval *from)
{
	struct timeval now, due = { p->idle_check_s, 0 }, delay = { 0, 0 };

	event_base_gettimeofday_cached(p->base, &now);
	timeradd(from, &due, &due);
	if (timercmp(&due, &now, >))
		timersub(&due, &now, &delay);
	evtimer_add(p->idle_check_ev, &delay);
}

/*
 * idle_check seconds after a request last took a connection (or after a
 * reload), and every idle_check seconds after that while none does, the
 * connection idle longest is checked: a database that froze, or a
 * network that drops packets without a word, is then found (and /status
 * says "down") without a request having to meet it.  A check that goes
 * unanswered checks the other idle connections too.  Under traffic the
 * requests find such a database themselves.
 */
static void
db_pool_idle_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *p = arg;
	struct db_conn *c;
	struct timeval now, unused;

	event_base_gettimeofday_cached(p->base, &now);
	timersub(&now, &p->last_lent, &unused);
	if (unused.tv_sec < p->idle_check_s) {
		db_pool_arm_idle_check(p, &p->last_lent);
		return;
	}
	if ((c = db_pool_first_idle(p)) != NULL) {
		log_debug("%s conn %d: idle check", c->pool->label, c->index);
		db_conn_check(c,
		    "to the check of an idle connection (idle_check,"
		    " connect_timeout)");
	}
	db_pool_arm_idle_check(p, &now);
}

/*
 * The database said nothing for too long: the connection is dropped as
 * if it broke, so its requests get their 503 now and a new connection
 * is tried.  The server may still run what it had received (it sees the
 * closed socket only when it next reads or writes), which is why a
 * dropped store step is answered "may or may not be stored".
 */
static void
db_conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	bool was_check = c->checking;
	char why[128];

	snprintf(why, sizeof why, "no answer from the database in %d s %s",
	    c->silence_s, c->silence_what);
	if (c->abandoned && c->state == DBC_BUSY) {
		/* Not the database's fault: it is not called down, and the
		 * connection is made again at once. */
		snprintf(why, sizeof why,
		    "closed: its statement still ran %d s after its client"
		    " left; connecting again",
		    c->silence_s);
		c->keeps_pool_up = c->reconnect_at_once = true;
		db_conn_fail_batch(c, why);
	} else if (c->state == DBC_CONNECTING) {
		db_conn_lost(c, why);
	} else if (c->state == DBC_BUSY || c->state == DBC_RESETTING) {
		/*
		 * A check that goes unanswered is the database being down;
		 * the other idle connections are checked (those a silent
		 * batch had checked are no longer idle).
		 */
		c->keeps_pool_up = c->reconnect_at_once = !was_check;
		db_conn_fail_batch(c, why);
		db_pool_check_idle(c->pool);
	}
}

/*
 * The server closed a connection no statement was using: an idle
 * session timed out, its backend was terminated, or the server is
 * shutting down (db_conn_still_open has read what it said).  One that
 * was up a second or more is made again at once (one closed sooner
 * waits the usual second, so a server that closes every session at
 * once cannot make mttd spin), and only a connect that fails calls the
 * database down: sessions closed together by idle_session_timeout are
 * no outage.
 */
static void
db_conn_closed_by_server(struct db_conn *c)
{
	c->keeps_pool_up = true;
	c->reconnect_at_once = db_conn_up_for_s(c) >= DB_RECONNECT_DELAY_S;
	log_warn("%s conn %d: closed by the server while unused (%s);"
		 " connecting again",
	    c->pool->label, c->index,
	    c->server_said[0] != '\0' ? c->server_said : "no reason given");
	db_conn_drop(c);
}

static void
db_conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;

	switch (c->state) {
	case DBC_CONNECTING:
		db_conn_poll_connect(c);
		break;
	case DBC_BUSY:
	case DBC_RESETTING:
		db_conn_io(c, what);
		break;
	default:
		/* Idle or lent: input here means the server is closing it. */
		if (!db_conn_still_open(c))
			db_conn_closed_by_server(c);
		else if (what & EV_WRITE)
			db_conn_watch(c, false);
		break;
	}
}

/* Give up slot's statement: its DEALLOCATE goes with the next batch. */
static void
db_conn_evict(struct db_conn *c, int slot)
{
	if (!c->prepared_full) {
		log_info("%s conn %d: %d statements kept prepared; the least"
			 " recently used now make room for new ones",
		    c->pool->label, c->index, c->pool->prepared_max);
		c->prepared_full = true;
	}
	if (c->nstale == c->stale_cap) {
		c->stale_cap = c->stale_cap ? 2 * c->stale_cap : 8;
		c->stale = xrealloc(c->stale, c->stale_cap * sizeof *c->stale);
	}
	c->stale[c->nstale++] = c->prepared[slot].name;
	free(c->prepared[slot].sql);
	c->prepared[slot].sql = NULL;
}

/*
 * The prepared slot for sql: one that holds it, or one taken for it (a
 * free one, else the least recently used; *fresh: its Prepare must be
 * sent first), or -1 when every slot serves this batch already.
 */
static int
db_conn_prepared_slot(struct db_conn *c, const char *sql, bool *fresh)
{
	uint64_t h = hash_fnv1a(HASH_FNV1A_SEED, sql, strlen(sql));
	struct db_prepared *p = c->prepared;
	int i, free_slot = -1, oldest = -1;

	*fresh = false;
	if (c->pool->prepared_max == 0)
		return -1;
	for (i = 0; i < c->pool->prepared_max; i++) {
		if (p[i].sql == NULL) {
			if (free_slot < 0)
				free_slot = i;
		} else if (p[i].hash == h && strcmp(p[i].sql, sql) == 0) {
			p[i].used = c->batches;
			return i;
		} else if (p[i].used != c->batches &&
		    (oldest < 0 || p[i].used < p[oldest].used)) {
			oldest = i;
		}
	}
	if (free_slot < 0 && oldest >= 0) {
		db_conn_evict(c, oldest);
		free_slot = oldest;
	}
	if (free_slot < 0)
		return -1;
	p[free_slot] = (struct db_prepared){ xstrdup(sql), h, ++c->next_name,
		c->batches };
	*fresh = true;
	return free_slot;
}

/* Queue one statement, prepared (its Prepare first if new) or unnamed. */
static bool
db_conn_send_stmt(struct db_conn *c, const struct db_stmt *s, int i)
{
	char name[32];
	bool fresh = false;
	int slot = s->cached ? db_conn_prepared_slot(c, s->sql, &fresh) : -1;

	if (slot < 0) {
		c->sent[c->nsent++] = (struct db_sent){ i, -1, false, false };
		return PQsendQueryParams(c->pg, s->sql, s->nparams, NULL,
			   s->values, s->lengths, s->formats, 0) == 1;
	}
	snprintf(name, sizeof name, "mttd_%lu", c->prepared[slot].name);
	if (fresh) {
		c->sent[c->nsent++] = (struct db_sent){ i, slot, true, false };
		if (PQsendPrepare(c->pg, name, s->sql, s->nparams, NULL) != 1)
			return false;
	}
	c->sent[c->nsent++] = (struct db_sent){ i, slot, false, false };
	return PQsendQueryPrepared(c->pg, name, s->nparams, s->values,
		   s->lengths, s->formats, 0) == 1;
}

/* The DEALLOCATE of each statement whose slot another took. */
static bool
db_conn_send_deallocs(struct db_conn *c)
{
	char sql[48];
	int i;

	for (i = 0; i < c->nstale; i++) {
		snprintf(sql, sizeof sql, "DEALLOCATE mttd_%lu", c->stale[i]);
		c->sent[c->nsent++] = (struct db_sent){ 0, -1, false, true };
		if (PQsendQueryParams(
			c->pg, sql, 0, NULL, NULL, NULL, NULL, 0) != 1)
			return false;
	}
	c->nstale = 0;
	return true;
}

/* About the bytes a batch puts in libpq's output buffer. */
static size_t
db_batch_bytes(const struct db_batch *b)
{
	size_t bytes = 0;
	int i, j;

	for (i = 0; i < b->count; i++) {
		const struct db_stmt *s = &b->stmts[i];

		bytes += strlen(s->sql);
		for (j = 0; j < s->nparams; j++) {
			if (s->lengths != NULL && s->formats != NULL &&
			    s->formats[j] != 0)
				bytes += (size_t)s->lengths[j];
			else if (s->values[j] != NULL)
				bytes += strlen(s->values[j]);
		}
	}
	return bytes;
}

/* Queue every statement and the sync point; false if libpq refused. */
static bool
db_conn_send(struct db_conn *c, const struct db_batch *b)
{
	size_t bytes = db_batch_bytes(b);
	int i;

	if (bytes > c->sent_bytes)
		c->sent_bytes = bytes;

	free(c->sent);
	c->sent = xcalloc(
	    2 * (size_t)b->count + (size_t)c->nstale + 1, sizeof *c->sent);
	c->nsent = 0;
	c->batches++;
	/* Not inside a transaction (an aborted one would refuse them and
	 * skip the ROLLBACK after them): they wait for the next batch. */
	if (PQtransactionStatus(c->pg) == PQTRANS_IDLE &&
	    !db_conn_send_deallocs(c))
		return false;
	for (i = 0; i < b->count; i++) {
		if (!db_conn_send_stmt(c, &b->stmts[i], i))
			return false;
	}
	return PQpipelineSync(c->pg) == 1;
}

/*
 * A batch that cannot even be sent is reported from the loop, never from
 * inside db_conn_run: the caller may still be using what the callback
 * frees.
 */
static void
db_conn_deferred_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;

	if (c->cb != NULL)
		db_conn_finish_batch(c);
}

static void
db_conn_fail_later(struct db_conn *c, const char *why)
{
	c->res.conn_lost = true;
	c->res.failed = 0;
	free(c->error);
	c->error = db_lost_text(why);
	if (c->state != DBC_DOWN)
		db_conn_lost(c, why);
	event_active(c->fail_ev, EV_TIMEOUT, 1);
}

/* Shared start of a batch, for requests and for the pool's ROLLBACK. */
static void
db_conn_start(struct db_conn *c, struct db_batch *b, db_batch_cb cb, void *arg,
    enum db_conn_state state)
{
	int flushed;

	c->cb = cb;
	c->cb_arg = arg;
	c->rows_mode_set = c->rows_paused = false;
	c->server_said[0] = '\0';
	c->res.count = b->count;
	c->res.results = xcalloc(b->count, sizeof(PGresult *));
	c->res.failed = -1;
	c->current = 0;
	c->current_seen = false;
	if (c->state == DBC_DOWN) {
		/* Lost while its holder kept it: nothing can be sent. */
		db_batch_free(b);
		db_conn_fail_later(c, "the connection was lost before");
		return;
	}
	db_conn_set_state(c, state);
	if (!db_conn_send(c, b)) {
		db_batch_free(b);
		db_conn_fail_later(c, PQerrorMessage(c->pg));
		return;
	}
	db_batch_free(b);
	db_conn_rows_mode_if_current(c);
	flushed = PQflush(c->pg);
	if (flushed < 0) {
		db_conn_fail_later(c, PQerrorMessage(c->pg));
		return;
	}
	db_conn_watch(c, flushed == 1);
	db_conn_arm_deadline(c, c->pool->query_timeout_s, "(query_timeout)");
}

void
db_conn_run(struct db_conn *c, struct db_batch *b, db_batch_cb cb, void *arg)
{
	c->rows_stmt = -1;
	c->row_cb = NULL;
	db_conn_start(c, b, cb, arg, DBC_BUSY);
}

void
db_conn_run_rows(struct db_conn *c, struct db_batch *b, db_row_cb row_cb,
    db_batch_cb cb, void *arg)
{
	c->rows_stmt = b->count - 1;
	c->row_cb = row_cb;
	db_conn_start(c, b, cb, arg, DBC_BUSY);
}

void
db_conn_resume_rows(struct db_conn *c)
{
	if (!c->rows_paused || c->pg == NULL)
		return;
	c->rows_paused = false;
	db_conn_arm_deadline(c, c->pool->query_timeout_s, "(query_timeout)");
	/* What was still to send (the sync) goes too; rows libpq holds
	 * already come without the socket stirring. */
	db_conn_watch(c, PQflush(c->pg) == 1);
	event_active(c->ev, EV_READ, 0);
}

static void
db_conn_reset_done_cb(const struct db_result *res, void *arg)
{
	struct db_conn *c = arg;

	if (c->state == DBC_DOWN)
		return;
	if (res->failed >= 0 || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		/* A connection we cannot bring back clean is not reused. */
		db_conn_lost(c, "could not roll back; reconnecting");
		return;
	}
	db_conn_make_idle(c);
}

/* After DISCARD PLANS: the next uses plan again, later the next time. */
static void
db_conn_replan_done_cb(const struct db_result *res, void *arg)
{
	struct db_conn *c = arg;

	if (c->state != DBC_DOWN && res->failed < 0) {
		c->replan_at = c->replan_at < DB_REPLAN_MAX / 4 ?
		    c->replan_at * 4 :
		    DB_REPLAN_MAX;
		c->planned_rows = 0;
	}
	db_conn_reset_done_cb(res, arg);
}

/* The abandoned batch is over, or cut: give the connection back. */
static void
db_conn_abandoned_cb(const struct db_result *res, void *arg)
{
	struct db_conn *c = arg;

	(void)res;
	c->abandoned = false;
	db_conn_release(c);
}

void
db_conn_abandon(struct db_conn *c)
{
	if (c->cb == NULL) {
		db_conn_release(c);
		return;
	}
	c->cb = db_conn_abandoned_cb;
	c->cb_arg = c;
	c->row_cb = NULL; /* Rows still to come are dropped. */
	db_conn_resume_rows(c);

	/* A server that does not check its client would run the statement
	 * to its end anyway, beside the new connection: wait for it. */
	if (!c->pool->check_client)
		return;
	c->abandoned = true;
	db_conn_arm_deadline(c, DB_ABANDON_GRACE_S, "after its client left");
}

/*
 * libpq never shrinks its buffers: a connection that carried megabytes
 * at once (a large submission, or an export's row of a large
 * result_stdout: break-it helper 54 saw 269 MiB kept after four exports
 * of a 64 MiB row) is made again to give them back; true then.
 */
static bool
db_conn_remade_for_buffers(struct db_conn *c)
{
	const char *what = "batch";
	size_t bytes = c->sent_bytes;

	if (c->row_bytes > bytes) {
		what = "row";
		bytes = c->row_bytes;
	}
	if (bytes < DB_CONN_REMAKE_BYTES)
		return false;
	log_info("%s conn %d: made again after a %s of %zu MiB, to give its"
		 " buffers back",
	    c->pool->label, c->index, what, bytes >> 20);
	c->keeps_pool_up = c->reconnect_at_once = true;
	db_conn_drop(c);
	return true;
}

/*
 * A statement failed in a way a new session may not (remake_for): the
 * connection is made again, at once when it had been up a second, else
 * a second later, so a database that stays read-only costs each
 * connection at most one connect a second; true then.
 */
static bool
db_conn_remade_for_session(struct db_conn *c)
{
	if (c->remake_for[0] == '\0')
		return false;
	log_info("%s conn %d: made again after an error of SQLSTATE %s, so"
		 " that a new session takes the database's settings as they"
		 " are now",
	    c->pool->label, c->index, c->remake_for);
	c->keeps_pool_up = true;
	c->reconnect_at_once = db_conn_up_for_s(c) >= DB_RECONNECT_DELAY_S;
	db_conn_drop(c);
	return true;
}

void
db_conn_release(struct db_conn *c)
{
	struct timeval tv = db_conn_reconnect_delay(c);
	bool replan;
	struct db_batch *b;

	/* A connection lost while held reconnects only now. */
	c->held = false;
	if (c->hold != DB_HOLD_SHORT)
		c->pool->query_held--;
	if (c->hold == DB_HOLD_STREAM)
		c->pool->long_held--;
	if (c->hold != DB_HOLD_SHORT) {
		c->hold = DB_HOLD_SHORT;
		db_pool_serve_waiters(c->pool);
	}
	if (c->state == DBC_DOWN) {
		if (!evtimer_pending(c->timer, NULL))
			evtimer_add(c->timer, &tv);
		return;
	}
	if (db_conn_remade_for_session(c) || db_conn_remade_for_buffers(c))
		return;
	replan = c->planned_rows >= c->replan_at;
	if (PQtransactionStatus(c->pg) == PQTRANS_IDLE && !replan) {
		db_conn_make_idle(c);
		return;
	}

	/* Never lend a connection inside a transaction. */
	b = db_batch_new();
	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		db_batch_add(b, "ROLLBACK", 0, NULL, NULL);
	if (replan) {
		log_debug("database connection: plans dropped after %lu rows"
			  " handled",
		    c->planned_rows);
		db_batch_add(b, "DISCARD PLANS", 0, NULL, NULL);
		db_conn_start(c, b, db_conn_replan_done_cb, c, DBC_RESETTING);
		return;
	}
	db_conn_start(c, b, db_conn_reset_done_cb, c, DBC_RESETTING);
}

/* Is one host of a libpq list (a name, an address or a socket folder),
 * len bytes at host, this machine? */
static bool
db_one_host_is_local(const char *host, size_t len)
{
	char name[INET6_ADDRSTRLEN + 1];
	struct in_addr v4;
	struct in6_addr v6;

	if (len > 0 && host[0] == '/')
		return true;
	if (len == 0 || len >= sizeof name)
		return false;
	memcpy(name, host, len);
	name[len] = '\0';
	if (strcasecmp(name, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, name, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, name, &v6) != 1)
		return false;
	return IN6_IS_ADDR_LOOPBACK(&v6) ||
	    (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
}

/*
 * Is every host libpq may reach through host this machine?  host is a
 * comma-separated list, and empty means PGHOST's, or libpq's own socket
 * folder when that is unset: a remote host anywhere in it keeps libpq's
 * defaults.
 */
static bool
db_host_is_local(const char *host)
{
	const char *p, *comma;

	if (host[0] == '\0') {
		host = getenv("PGHOST");
		if (host == NULL || host[0] == '\0')
			return true;
	}
	for (p = host;; p = comma + 1) {
		comma = strchr(p, ',');
		if (!db_one_host_is_local(
			p, comma != NULL ? (size_t)(comma - p) : strlen(p)))
			return false;
		if (comma == NULL)
			return true;
	}
}

/*
 * "disable" for sslmode auto to this machine, unless the operator's
 * environment variable env names a mode; NULL (libpq's choice) else.
 */
static const char *
db_auto_mode(const char *setting, const char *host, const char *env)
{
	if (setting == NULL || strcmp(setting, "auto") != 0)
		return NULL;
	return db_host_is_local(host) && getenv(env) == NULL ? "disable" : NULL;
}

const char *
db_sslmode_for(const char *setting, const char *host)
{
	if (setting == NULL || strcmp(setting, "auto") != 0)
		return setting;
	/* TLS on the loopback costs CPU, memory (libcrypto's set-up) and
	 * protects nothing. */
	return db_auto_mode(setting, host, "PGSSLMODE");
}

const char *
db_gssencmode_for(const char *setting, const char *host)
{
	return db_auto_mode(setting, host, "PGGSSENCMODE");
}

void
db_security_params(const char **keys, const char **values, size_t n,
    const char *sslmode, const char *gssencmode)
{
	if (sslmode != NULL) {
		keys[n] = "sslmode";
		values[n++] = sslmode;
	}
	if (gssencmode != NULL) {
		keys[n] = "gssencmode";
		values[n++] = gssencmode;
	}
	keys[n] = values[n] = NULL;
}

struct db_pool *
db_pool_new(struct event_base *base, const struct db_pool_params *params)
{
	struct db_pool *p = xcalloc(1, sizeof *p);
	int i;

	p->base = base;
	p->idle_check_ev = evtimer_new(base, db_pool_idle_check_cb, p);
	p->grace_ev = evtimer_new(base, db_pool_grace_cb, p);
	p->read_only_ev = evtimer_new(base, db_pool_read_only_cb, p);
	p->host = xstrdup(params->host);
	p->port = xasprintf("%d", params->port);
	p->dbname = xstrdup(params->dbname);
	p->user = xstrdup(params->user);
	p->password = xstrdup(params->password ? params->password : "");
	p->sslmode = params->sslmode ? xstrdup(params->sslmode) : NULL;
	p->gssencmode = params->gssencmode ? xstrdup(params->gssencmode) : NULL;
	p->size = params->size;
	p->check_client = params->check_client;
	p->since_pg12 = params->since_pg12;
	p->expect_standby = params->expect_standby;
	p->standby = -1;
	p->label = p->expect_standby ? "replica" : "db";
	p->prepared_max = params->prepared_max < 0 ? 0 :
	    params->prepared_max > DB_PREPARED_MAX ? DB_PREPARED_MAX :
						     params->prepared_max;
	db_pool_set_limits(p, params);
	p->query_max = params->query_max > 0 &&
		params->query_max < params->size ?
	    params->query_max :
	    params->size;
	p->long_max = params->long_max > 0 && params->long_max < p->query_max ?
	    params->long_max :
	    p->query_max;
	p->reachable = true;
	TAILQ_INIT(&p->idle);
	TAILQ_INIT(&p->waits);
	p->conns = xcalloc(p->size, sizeof *p->conns);
	for (i = 0; i < p->size; i++) {
		struct db_conn *c = &p->conns[i];

		c->pool = p;
		c->index = i;
		c->rows_stmt = -1;
		c->ev_fd = -1;
		c->replan_at = DB_REPLAN_FIRST;
		c->timer = evtimer_new(base, db_conn_reconnect_cb, c);
		c->deadline = evtimer_new(base, db_conn_deadline_cb, c);
		c->fail_ev = event_new(
		    base, -1, 0, db_conn_deferred_fail_cb, c);
		db_conn_connect(c);
	}
	return p;
}

void
db_pool_free(struct db_pool *p)
{
	struct db_wait *w;
	int i;

	if (p == NULL)
		return;
	while ((w = TAILQ_FIRST(&p->waits)) != NULL)
		db_wait_cancel(w);
	event_free(p->idle_check_ev);
	event_free(p->grace_ev);
	event_free(p->read_only_ev);
	for (i = 0; i < p->size; i++) {
		struct db_conn *c = &p->conns[i];

		db_conn_unwatch(c);
		event_free(c->timer);
		event_free(c->deadline);
		event_free(c->fail_ev);
		db_conn_clear_results(c);
		db_conn_forget_prepared(c);
		free(c->stale);
		free(c->sent);
		if (c->pg != NULL)
			PQfinish(c->pg);
	}
	free(p->conns);
	free(p->host);
	free(p->port);
	free(p->dbname);
	free(p->user);
	free(p->password);
	free(p->sslmode);
	free(p->gssencmode);
	free(p);
}
