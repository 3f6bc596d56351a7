/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Storing validated submissions, one or a group of them: one transaction
 * on a borrowed connection that finds or creates every normalised row,
 * skips results already stored, inserts the rest, and commits.
 */
#ifndef MTTD_SUBMIT_STORE_H
#define MTTD_SUBMIT_STORE_H

#include "db_pool.h"
#include "submit_fields.h"

enum submit_outcome {
	SUBMIT_STORED,	  /* Committed; ids hold one id per entry. */
	SUBMIT_REFUSED,	  /* A value the database refused: HTTP 200. */
	SUBMIT_DB_FAILED, /* The database failed, nothing stored: 503. */
	/*
	 * The connection broke after the commit was sent: stored or not, no
	 * one can tell from here (503; sending it again is safe, as a
	 * stored submission is recognised and answered with its ids).
	 */
	SUBMIT_DB_UNKNOWN
};

/*
 * Called once when a submission is over.  ids (count entries) and
 * message are valid during the call only.  The connection is no longer
 * used by the store; the callee that holds it releases it.
 */
typedef void (*submit_store_done_cb)(void *arg, enum submit_outcome outcome,
    long submit_id, const long *ids, const char *message);

/* One submission of a group. */
struct submit_job {
	const struct submit_request *req;
	submit_store_done_cb cb;
	void *arg;
};

/*
 * Store n (at least 1) submissions of one phase together: two round
 * trips (doc/design.md), every lookup, then one implicit transaction of
 * locks, creations and results that the pipeline's sync commits; the
 * same statements for a group as for one submission.  When row_cache
 * knows every row the group links, the lookups are skipped: one round
 * trip.  Should it fail for any
 * reason but a lost connection, each is stored again alone, so one
 * submission's refusal costs the others nothing.  Each job's cb runs
 * once, in job order, after the store has stopped using conn (so the
 * first may give the connection back).  jobs is copied; each req must
 * stay valid until its cb has run.  Returns the store, valid until the
 * first cb runs.
 */
struct submit_store;

struct submit_store *submit_store_run_group(
    struct db_conn *conn, const struct submit_job *jobs, size_t n);

/*
 * Free a store whose callbacks have not run, its batch still in flight:
 * only as mttd exits (the pool is freed next, and drops the batch).
 */
void submit_store_drop(struct submit_store *st);

#endif /* MTTD_SUBMIT_STORE_H */
