/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Several worker processes: a supervisor forks [server] workers copies of
 * mttd, each with its own loop, pool and SO_REUSEPORT listener on the one
 * port, restarts a worker that dies or hangs, and passes signals on.
 */
#ifndef MTTD_SUPERVISOR_H
#define MTTD_SUPERVISOR_H

#include <signal.h>
#include <stdbool.h>

#include "settings.h"

/* What the kernel sends a worker when its supervisor dies: a signal of
 * its own, so that it starts a drain even during one the supervisor
 * passed on (a second TERM would end the drain at once). */
#define SUPERVISOR_GONE_SIGNAL SIGUSR2

/*
 * How the supervisor passes a stop on: drain, for the first TERM or INT
 * it gets, and exit at once, for a later one.  Not TERM or INT
 * themselves: a signal to the whole process group (Ctrl-C, systemd's
 * stop, kill -- -PGID) reaches each worker directly too, and a worker
 * took the supervisor's copy for a second signal and dropped the
 * requests it served (break-it helper 66).  A worker counts only the
 * TERM and INT it was sent as an operator's.
 */
#define SUPERVISOR_DRAIN_SIGNAL (SIGRTMIN + 1)
#define SUPERVISOR_EXIT_SIGNAL (SIGRTMIN + 2)

/* What the supervisor calls at its steps; any may be NULL. */
struct supervisor_hooks {
	/* Once the port is its own, before the first fork: what every
	 * worker should start with (it may exit, as fail does). */
	void (*prepare)(void);
	/* Once every worker listens. */
	void (*started)(int port);
	/* On SIGHUP, before passing it on: may update s for the workers
	 * it starts later. */
	void (*reload)(void);
	/* A failure of its own before the workers start (the port taken,
	 * say): does not return (NULL: logged, and exit 1), so that
	 * whoever started mttd hears of it. */
	void (*fail)(const char *message);
};

/*
 * Fork the workers of s.  Returns in each worker, which goes on to serve
 * (call supervisor_worker_ready once it listens).  The supervisor itself
 * never returns: it supervises until SIGTERM or SIGINT have stopped every
 * worker, and exits 0 (1 if the first workers could not start), calling
 * hooks on the way.  A port of 0 is resolved here first, so that every
 * worker binds the same one.  With a listening socket a service manager
 * passed (listen_port > 0, the port it listens on), the workers share it
 * and nothing is bound here.
 */
void supervisor_run(
    struct settings *s, int listen_port, const struct supervisor_hooks *hooks);

/* In a worker: it listens now (the supervisor waits for each one). */
void supervisor_worker_ready(void);

/*
 * In a worker: its loop turns (the heartbeat calls it).  The supervisor
 * aborts a worker that goes hang_timeout without one; nothing outside a
 * worker.
 */
void supervisor_worker_beat(void);

/* True in a worker process forked by supervisor_run. */
bool supervisor_is_worker(void);

#endif /* MTTD_SUPERVISOR_H */
