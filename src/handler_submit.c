/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * /submit: GET is a probe; POST stores one submission of results.  The
 * body is validated completely before a database connection is asked
 * for, and the answer goes out only after the commit succeeded.
 *
 * Under load, submissions wait for a connection; the one that gets a
 * connection takes the others of its phase that are waiting along, and
 * they are stored together: one transaction, the statements and commit
 * of one submission (submit_store_run_group).  Each still gets its own
 * answer, and one that fails costs the others nothing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "http_server.h"
#include "log.h"
#include "strbuf.h"
#include "submit_store.h"
#include "table_stats.h"

/* What a POST /submit keeps while it waits for the database. */
struct submit_ctx {
	struct submit_request sub;
	char phase_text[64]; /* As the client wrote it, for the log. */
	struct request *r;
	struct submit_ctx *prev, *next; /* In the waiting list. */
	bool waiting;
};

/*
 * At most this many submissions, and entries in all, are stored
 * together: the group stays within the per-result advisory locks of
 * submit_store (RESULT_LOCKS_MAX) and its statements stay small.
 */
#define SUBMIT_GROUP_MAX 32
#define SUBMIT_GROUP_ENTRIES_MAX 128

/* Submissions waiting for a connection, oldest first.  (One list per
 * process: the server has one loop.) */
static struct submit_ctx *waiting_head, *waiting_tail;

static void
waiting_add(struct submit_ctx *c)
{
	c->prev = waiting_tail;
	c->next = NULL;
	if (waiting_tail != NULL)
		waiting_tail->next = c;
	else
		waiting_head = c;
	waiting_tail = c;
	c->waiting = true;
}

static void
waiting_remove(struct submit_ctx *c)
{
	if (!c->waiting)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		waiting_head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		waiting_tail = c->prev;
	c->prev = c->next = NULL;
	c->waiting = false;
}

static void
handler_submit_get(struct request *r)
{
	request_reply_ok(r, "Success (submit)");
}

/*
 * The phase as the client wrote it, for the refusal log lines, into out
 * (size bytes): cut short on a character boundary, its quotes and
 * backslashes made ' so that it cannot end its field of the line.
 */
static void
handler_submit_phase_text(const struct request *r, char *out, size_t size)
{
	const struct json_value *meta = json_object_get(r->body, "metadata");
	const struct json_value *p = meta && meta->type == JSON_OBJECT ?
	    json_object_get(meta, "phase") :
	    NULL;
	const char *text = p && p->type == JSON_STRING ? p->u.string.ptr : "-";
	size_t len = strlen(text), i;

	if (len >= size)
		len = utf8_whole_prefix(text, size - 1);
	for (i = 0; i < len; i++)
		out[i] = text[i] == '"' || text[i] == '\\' ? '\'' : text[i];
	out[len] = '\0';
}

/*
 * Every submission not stored is logged on one line with the user, the
 * client and the phase: the client hides refusals from its user, so the
 * server log is where an operator looks (SPEC).  At WARNING when mttd
 * refused it, at ERROR when the database failed it (break-it helper 66
 * found only the request's number then).  outcome: "refused", or
 * "outcome unknown" when it may be stored; detail: NULL, or what the
 * database said.
 */
static void
handler_submit_log_outcome(struct request *r, enum log_level level,
    const char *outcome, const char *reason, const char *detail)
{
	const struct submit_ctx *c = r->state;

	log_write(level, __func__,
	    "submit %s: user=%s client=%s phase=\"%s\" reason=%s%s%s%s",
	    outcome, r->user, r->client, c->phase_text, reason,
	    detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
}

static void
handler_submit_refuse(struct request *r, int http_code, const char *why)
{
	handler_submit_log_outcome(r, LOG_LEVEL_WARNING, "refused", why, NULL);
	reply_error(r, http_code, -1, "%s", why);
}

/* Called by request_finish. */
static void
handler_submit_free(void *state)
{
	struct submit_ctx *c = state;

	waiting_remove(c);
	submit_request_free(&c->sub);
	free(c);
}

static void
handler_submit_reply(struct request *r, long submit_id, const long *ids)
{
	struct submit_ctx *c = r->state;
	const char *key = submit_phase_id_key(c->sub.phase);
	yajl_gen g = request_json_new();
	size_t i;

	yajl_gen_map_open(g);
	request_json_status(g, 0, "Success");
	request_json_kint(g, "submit_id", submit_id);
	yajl_gen_string(g, (const unsigned char *)"ids", 3);
	yajl_gen_array_open(g);
	for (i = 0; i < c->sub.count; i++) {
		yajl_gen_map_open(g);
		request_json_kint(g, key, ids[i]);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	request_reply_json(r, 200, g);
}

/* mttd exits with the group's store in flight (request.h, held). */
static void
handler_submit_drop_store(void *st)
{
	submit_store_drop(st);
}

/* Tell the statistics' watch; a look it starts takes the connection. */
static void
handler_submit_count(struct request *r)
{
	size_t count = ((struct submit_ctx *)r->state)->sub.count;

	if (r->server->table_stats == NULL || r->server->draining)
		return;
	if (table_stats_stored(r->server->table_stats, count, r->conn))
		r->conn = NULL;
}

static void
handler_submit_stored_cb(void *arg, enum submit_outcome outcome, long submit_id,
    const long *ids, const char *message)
{
	struct request *r = arg;

	/* The group's store is over (the leader held it). */
	r->held = NULL;
	if (outcome == SUBMIT_STORED)
		handler_submit_count(r);
	request_db_release(r);
	if (outcome == SUBMIT_STORED) {
		log_debug("req=%llu stored %zu entries under submit %ld",
		    (unsigned long long)r->id,
		    ((struct submit_ctx *)r->state)->sub.count, submit_id);
		handler_submit_reply(r, submit_id, ids);
	} else if (outcome == SUBMIT_REFUSED) {
		handler_submit_refuse(r, 200, message);
	} else if (outcome == SUBMIT_DB_UNKNOWN) {
		handler_submit_log_outcome(r, LOG_LEVEL_ERROR,
		    "outcome unknown",
		    "the database connection was lost after the commit was"
		    " sent, so it may or may not be stored",
		    message);
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Retry-After", "1");
		reply_error(r, 503, -2,
		    "the database connection was lost while committing, so"
		    " the submission may or may not be stored; send it again:"
		    " a stored one is answered with its ids (%s)",
		    message);
	} else {
		handler_submit_log_outcome(r, LOG_LEVEL_ERROR, "refused",
		    "the database failed and nothing was stored", message);
		request_reply_db_failed(r, "and nothing was stored", message);
	}
}

/*
 * Fill jobs after the first with waiting submissions of its phase, taken
 * off the list and out of the pool's queue; returns how many jobs.
 */
static size_t
handler_submit_take_waiting(struct submit_job *jobs, size_t entries)
{
	enum submit_phase phase = jobs[0].req->phase;
	struct submit_ctx *w, *next;
	size_t n = 1;

	for (w = waiting_head; w != NULL && n < SUBMIT_GROUP_MAX; w = next) {
		next = w->next;
		if (w->sub.phase != phase ||
		    entries + w->sub.count > SUBMIT_GROUP_ENTRIES_MAX)
			continue;
		waiting_remove(w);
		request_db_cancel(w->r);
		entries += w->sub.count;
		jobs[n++] = (struct submit_job){ &w->sub,
			handler_submit_stored_cb, w->r };
	}
	return n;
}

static void
handler_submit_acquired(struct request *r, enum db_acquire_status st)
{
	struct submit_ctx *c = r->state;
	struct submit_job jobs[SUBMIT_GROUP_MAX];
	size_t n;

	waiting_remove(c);
	if (st != DB_ACQUIRE_OK) {
		handler_submit_log_outcome(r, LOG_LEVEL_WARNING, "refused",
		    "database unavailable", NULL);
		request_reply_db_unavailable(r, st);
		return;
	}
	jobs[0] = (struct submit_job){ &c->sub, handler_submit_stored_cb, r };
	n = c->sub.count <= SUBMIT_GROUP_ENTRIES_MAX ?
	    handler_submit_take_waiting(jobs, c->sub.count) :
	    1;
	if (n > 1)
		log_debug("req=%llu stores %zu waiting submissions with its"
			  " own",
		    (unsigned long long)r->id, n - 1);
	r->held = submit_store_run_group(r->conn, jobs, n);
	r->held_free = handler_submit_drop_store;
}

static void
handler_submit_post(struct request *r)
{
	struct submit_ctx *c = xcalloc(1, sizeof *c);
	enum submit_error err;
	char *cause = NULL;

	c->r = r;
	handler_submit_phase_text(r, c->phase_text, sizeof c->phase_text);
	r->state = c;
	r->state_free = handler_submit_free;
	err = submit_request_parse(
	    r->body, r->user, r->client, &c->sub, &cause);
	if (err != SUBMIT_ERR_NONE) {
		handler_submit_refuse(
		    r, err == SUBMIT_ERR_SHAPE ? 400 : 200, cause);
		free(cause);
		return;
	}
	/* The submission points at the body's texts only: the rest of the
	 * tree would wait through the store for nothing. */
	json_value_drop_tree(r->body);
	if (c->sub.hostname_from_peer)
		log_warn("submit without hostname: user=%s client=%s; storing"
			 " the client's address as hostname",
		    r->user, r->client);
	waiting_add(c);
	request_db_acquire(r, handler_submit_acquired);
}

const struct route route_submit = {
	.path = "/submit",
	.methods = ROUTE_GET | ROUTE_POST,
	.public_methods = ROUTE_GET,
	.get = handler_submit_get,
	.post = handler_submit_post,
};
