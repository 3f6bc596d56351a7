/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The supervisor of [server] workers processes.  It runs no event loop:
 * it forks the workers, waits for each to listen, then sleeps in
 * sigtimedwait for SIGCHLD, TERM, INT and HUP, restarting a worker that
 * died and passing TERM, INT and HUP on to every worker.  Each second it
 * also reads the workers' heartbeats (a clock each worker's loop writes
 * into memory they share with it) and aborts a worker whose loop stopped
 * turning, which its death then replaces.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "service_notify.h"
#include "strbuf.h"
#include "supervisor.h"

/* Seconds the first workers have to start listening, beside the
 * database's connect_timeout (they connect before they listen). */
#define SUPERVISOR_START_WAIT_S 60

/* Seconds between restarts of a worker that dies at once. */
#define SUPERVISOR_RESTART_DELAY_S 1

/* Seconds past drain_timeout before workers still there are killed;
 * also those an aborted hung worker has to end before SIGKILL. */
#define SUPERVISOR_KILL_GRACE_S 5

struct supervisor_worker {
	pid_t pid;	    /* 0: not running. */
	time_t started;	    /* When it was forked. */
	int64_t started_ms; /* The same, on the monotonic clock. */
	time_t restart_at;  /* When to fork it again, if not running. */
	int64_t aborted_ms; /* When it was aborted as hung; 0: not. */
	bool killed;	    /* SIGKILL followed the abort. */
};

/*
 * One per worker, in memory shared with the workers: the monotonic
 * clock, in ms, at its loop's last heartbeat; 0 until its loop runs.
 * Lock-free atomics, so that a worker killed mid-write cannot leave the
 * supervisor a lock held or a value torn.
 */
struct supervisor_beat {
	_Atomic int64_t last_ms;
};

struct supervisor {
	struct settings *settings;
	struct supervisor_worker *workers;
	struct supervisor_beat *beats; /* Shared: nworkers of them. */
	int nworkers;
	int ready[2];	/* Workers write a byte here once they listen. */
	int probe;	/* Holds a port chosen for socket_port 0, or -1. */
	int lock;	/* A fixed port's start-up lock, or -1. */
	int port;	/* The port the workers listen on. */
	sigset_t sigs;	/* What the supervisor waits for, blocked. */
	sigset_t saved; /* The mask workers get back. */
	void (*reload)(void);
	bool stopping;
	time_t kill_at; /* While stopping: when to SIGKILL. */
};

static bool supervisor_worker_process;
static void (*supervisor_fail_cb)(const char *message);
static int supervisor_ready_fd = -1;
static struct supervisor_beat *supervisor_my_beat; /* In a worker. */

static void supervisor_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* A start-up failure of the supervisor's own. */
static void
supervisor_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (supervisor_fail_cb != NULL)
		supervisor_fail_cb(msg);
	log_crit("%s", msg);
	exit(1);
}

static int64_t
supervisor_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
supervisor_is_worker(void)
{
	return supervisor_worker_process;
}

void
supervisor_worker_ready(void)
{
	/* Non-blocking, and a supervisor that stopped reading is fine. */
	if (supervisor_ready_fd < 0)
		return;
	if (write(supervisor_ready_fd, "1", 1) != 1)
		log_debug("could not tell the supervisor: %s", strerror(errno));
	close(supervisor_ready_fd);
	supervisor_ready_fd = -1;
}

void
supervisor_worker_beat(void)
{
	if (supervisor_my_beat != NULL)
		atomic_store_explicit(&supervisor_my_beat->last_ms,
		    supervisor_now_ms(), memory_order_relaxed);
}

/*
 * socket_port 0: bind a socket with SO_REUSEPORT to a free port and keep
 * it (never listening) so that every worker, and every restarted one,
 * binds that same port.
 */
static void
supervisor_reserve_port(struct supervisor *sv)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int one = 1, fd = -1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(sv->settings->socket_host, "0", &hints, &ai) != 0 ||
	    (fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		supervisor_fail(
		    "cannot choose a port on %s for the workers: %s",
		    sv->settings->socket_host, strerror(errno));
	}
	freeaddrinfo(ai);
	sv->probe = fd;
	sv->settings->socket_port = ntohs(ss.ss_family == AF_INET6 ?
		((struct sockaddr_in6 *)&ss)->sin6_port :
		((struct sockaddr_in *)&ss)->sin_port);
}

/* How long the first workers have to listen. */
static int
supervisor_start_wait_s(const struct supervisor *sv)
{
	return SUPERVISOR_START_WAIT_S + sv->settings->connect_timeout_s;
}

/*
 * TERM or INT that came while the workers start: they are blocked until
 * the supervisor's loop runs, so they wait as pending.  The signal, or 0.
 */
static int
supervisor_stop_pending(void)
{
	sigset_t pending;

	if (sigpending(&pending) != 0)
		return 0;
	if (sigismember(&pending, SIGTERM) == 1)
		return SIGTERM;
	return sigismember(&pending, SIGINT) == 1 ? SIGINT : 0;
}

/*
 * A fixed port's start-up lock: an abstract Unix socket named after the
 * port, which the kernel frees if the supervisor dies.  Binding it is
 * one step, so start-ups on the port take turns: a second mttd waits
 * until the first one's workers listen (or it ends), and the port check
 * below then sees them.  Without it, two supervisors started at the same
 * instant could both pass the check before either's workers bind.
 * Returns the lock, or -1 with errno set.
 */
static int
supervisor_lock_port(const struct supervisor *sv, const char *port)
{
	struct sockaddr_un un;
	/* Longer than the other one waits for its workers (the same
	 * configuration, most likely): it lets go first.  Its catalogue
	 * read comes before, within connect_timeout and query_timeout: a
	 * database that slow can make this one give up first, saying so. */
	int patience = supervisor_start_wait_s(sv) + 10;
	time_t give_up = time(NULL) + patience;
	const struct timespec turn = { 0, 20 * 1000 * 1000 };
	bool told = false;
	int fd, len, err;

	memset(&un, 0, sizeof un);
	un.sun_family = AF_UNIX;
	/* sun_path[0] stays 0: the name is abstract, no file. */
	len = snprintf(
	    un.sun_path + 1, sizeof un.sun_path - 1, "mttd-port %s", port);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	while (bind(fd, (struct sockaddr *)&un,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
		       (size_t)len)) != 0) {
		err = errno;
		if (err == EADDRINUSE && time(NULL) >= give_up) {
			supervisor_fail("another mttd has been starting on port"
					" %s for %d s: giving up",
			    port, patience);
		}
		if (err != EADDRINUSE) {
			close(fd);
			errno = err;
			return -1;
		}
		if (!told)
			log_info("another mttd is starting on port %s: waiting"
				 " until it listens",
			    port);
		told = true;
		if (supervisor_stop_pending() != 0) {
			log_info("stopped while waiting for it");
			exit(1);
		}
		nanosleep(&turn, NULL);
	}
	return fd;
}

/*
 * A fixed port: take its lock, then bind it once without SO_REUSEPORT
 * and let go.  The workers' SO_REUSEPORT sockets would share the port
 * with any other process of this user that binds it so, another mttd's
 * workers too, and the kernel would split the clients between the two;
 * this bind fails while any other socket holds the port.
 */
static void
supervisor_check_port_free(struct supervisor *sv)
{
	struct addrinfo hints, *ai = NULL;
	char port[16];
	int one = 1, fd = -1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof port, "%d", sv->settings->socket_port);
	if ((rc = getaddrinfo(sv->settings->socket_host, port, &hints, &ai)) !=
	    0) {
		supervisor_fail("cannot listen on %s:%s: %s",
		    sv->settings->socket_host, port, gai_strerror(rc));
	}
	if ((sv->lock = supervisor_lock_port(sv, port)) < 0 ||
	    (fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		supervisor_fail("cannot listen on %s:%s: %s%s",
		    sv->settings->socket_host, port, strerror(errno),
		    errno == EADDRINUSE ? " (another mttd, or another"
					  " server, holds it)" :
					  "");
	}
	close(fd);
	freeaddrinfo(ai);
}

/* Fork worker i; returns 0 in the worker, as fork does. */
static pid_t
supervisor_fork(struct supervisor *sv, int i)
{
	struct supervisor_worker *w = &sv->workers[i];
	pid_t supervisor = getpid(), pid;

	/* Before the fork: the new worker has not beaten yet. */
	atomic_store(&sv->beats[i].last_ms, 0);
	pid = fork();

	if (pid < 0) {
		log_error(
		    "cannot fork worker %d: %s; retrying", i, strerror(errno));
		w->restart_at = time(NULL) + SUPERVISOR_RESTART_DELAY_S;
		return -1;
	}
	if (pid == 0) {
		log_after_fork();
		service_notify_disable();
		supervisor_worker_process = true;
		supervisor_my_beat = &sv->beats[i];
		supervisor_ready_fd = sv->ready[1];
		close(sv->ready[0]);
		if (sv->probe >= 0)
			close(sv->probe);
		if (sv->lock >= 0)
			close(sv->lock);
		/* A supervisor killed (SIGKILL) cannot stop its workers:
		 * the kernel tells each, which drains as on TERM, so that
		 * the port comes free for the next mttd.  The signal stays
		 * blocked until the worker's loop handles it. */
		if (prctl(PR_SET_PDEATHSIG, SUPERVISOR_GONE_SIGNAL) != 0 ||
		    getppid() != supervisor)
			kill(getpid(), SUPERVISOR_GONE_SIGNAL);
		sigprocmask(SIG_SETMASK, &sv->saved, NULL);
		return 0;
	}
	w->pid = pid;
	w->started = time(NULL);
	w->started_ms = supervisor_now_ms();
	w->aborted_ms = 0;
	w->killed = false;
	log_info("worker %d: pid %ld", i, (long)pid);
	return pid;
}

static void
supervisor_signal_all(struct supervisor *sv, int sig)
{
	int i;

	for (i = 0; i < sv->nworkers; i++) {
		if (sv->workers[i].pid > 0)
			kill(sv->workers[i].pid, sig);
	}
}

static int
supervisor_alive(const struct supervisor *sv)
{
	int i, n = 0;

	for (i = 0; i < sv->nworkers; i++)
		n += sv->workers[i].pid > 0;
	return n;
}

/* Collect dead workers; while running, plan their restart. */
static void
supervisor_reap(struct supervisor *sv)
{
	time_t now = time(NULL);
	pid_t pid;
	int status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < sv->nworkers && sv->workers[i].pid != pid; i++)
			;
		if (i == sv->nworkers)
			continue;
		sv->workers[i].pid = 0;
		if (sv->stopping && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0) {
			log_info("worker %d (pid %ld) stopped", i, (long)pid);
			continue;
		}
		if (sv->stopping) {
			log_warn("worker %d (pid %ld) %s %d during the stop", i,
			    (long)pid,
			    WIFSIGNALED(status) ? "was killed by signal" :
						  "exited with status",
			    WIFSIGNALED(status) ? WTERMSIG(status) :
						  WEXITSTATUS(status));
			continue;
		}
		log_error("worker %d (pid %ld) %s %d; restarting it", i,
		    (long)pid,
		    WIFSIGNALED(status) ? "was killed by signal" :
					  "exited with status",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
					  WEXITSTATUS(status));
		sv->workers[i].restart_at = now - sv->workers[i].started >=
			SUPERVISOR_RESTART_DELAY_S ?
		    now :
		    now + SUPERVISOR_RESTART_DELAY_S;
	}
}

/*
 * Wait for every first worker to listen: 1 when they do, 0 if one died
 * first or they took too long, minus the signal if TERM or INT came
 * meanwhile (a worker may wait on the database for a while).
 */
static int
supervisor_wait_ready(struct supervisor *sv)
{
	time_t deadline = time(NULL) + supervisor_start_wait_s(sv);
	struct pollfd pfd = { sv->ready[0], POLLIN, 0 };
	int ready = 0, status, sig;
	char buf[64];
	ssize_t n;

	while (ready < sv->nworkers && time(NULL) < deadline) {
		if ((sig = supervisor_stop_pending()) != 0)
			return -sig;
		if (waitpid(-1, &status, WNOHANG) > 0)
			return 0;
		if (poll(&pfd, 1, 100) == 1 &&
		    (n = read(sv->ready[0], buf, sizeof buf)) > 0)
			ready += (int)n;
	}
	return ready >= sv->nworkers;
}

/*
 * A worker whose loop has not beaten for hang_timeout (or that has not
 * started listening within the first workers' wait): abort it, so that
 * a core shows where it hung, and continue it should it be stopped.
 */
static void
supervisor_abort_hung(struct supervisor *sv, int i, int64_t now)
{
	struct supervisor_worker *w = &sv->workers[i];
	int64_t last = atomic_load(&sv->beats[i].last_ms);

	if (last == 0)
		log_error("worker %d (pid %ld) has not started serving in"
			  " %lld ms: aborting it",
		    i, (long)w->pid, (long long)(now - w->started_ms));
	else
		log_error("worker %d (pid %ld): its loop has not run for"
			  " %lld ms (hang_timeout %d s): aborting it",
		    i, (long)w->pid, (long long)(now - last),
		    sv->settings->hang_timeout_s);
	kill(w->pid, SIGABRT);
	kill(w->pid, SIGCONT);
	w->aborted_ms = now;
}

/* Is worker i hung: no beat for hang_timeout, or, before its first
 * beat, none within the first workers' wait to listen? */
static bool
supervisor_is_hung(const struct supervisor *sv, int i, int64_t now)
{
	const struct supervisor_worker *w = &sv->workers[i];
	int64_t last = atomic_load(&sv->beats[i].last_ms);
	int64_t limit_ms = (int64_t)sv->settings->hang_timeout_s * 1000;

	if (last == 0)
		return now - w->started_ms >
		    (int64_t)supervisor_start_wait_s(sv) * 1000;
	return now - last > limit_ms;
}

/* A worker aborted as hung that is still there after the grace (it
 * caught or ignored SIGABRT): SIGKILL, once. */
static void
supervisor_kill_unended(struct supervisor *sv, int i, int64_t now)
{
	struct supervisor_worker *w = &sv->workers[i];

	if (w->killed || now - w->aborted_ms < SUPERVISOR_KILL_GRACE_S * 1000)
		return;
	log_error("worker %d (pid %ld) still there %d s after the abort:"
		  " killing it",
	    i, (long)w->pid, SUPERVISOR_KILL_GRACE_S);
	kill(w->pid, SIGKILL);
	w->killed = true;
}

/* Check the heartbeat of every running worker. */
static void
supervisor_watch(struct supervisor *sv)
{
	int64_t now = supervisor_now_ms();
	int i;

	for (i = 0; i < sv->nworkers; i++) {
		if (sv->workers[i].pid <= 0)
			continue;
		if (sv->workers[i].aborted_ms != 0)
			supervisor_kill_unended(sv, i, now);
		else if (sv->settings->hang_timeout_s > 0 &&
		    supervisor_is_hung(sv, i, now))
			supervisor_abort_hung(sv, i, now);
	}
}

/* TERM or INT: the workers drain; a second one makes them exit now. */
static void
supervisor_stop(struct supervisor *sv, int sig)
{
	bool again = sv->stopping;

	if (!again) {
		log_info("signal %d: stopping %d worker(s)", sig,
		    supervisor_alive(sv));
		service_notify_stopping();
	} else {
		log_info("signal %d again: the workers exit now", sig);
	}
	sv->stopping = true;
	sv->kill_at = time(NULL) + sv->settings->drain_timeout_s +
	    SUPERVISOR_KILL_GRACE_S;
	supervisor_signal_all(
	    sv, again ? SUPERVISOR_EXIT_SIGNAL : SUPERVISOR_DRAIN_SIGNAL);
	/* A worker stopped (SIGSTOP, a debugger) drains only once it runs
	 * (break-it helper 66: it was killed at the time limit instead). */
	supervisor_signal_all(sv, SIGCONT);
}

static void
supervisor_setup(struct supervisor *sv, struct settings *s, int listen_port)
{
	int flags;

	memset(sv, 0, sizeof *sv);
	sv->settings = s;
	sv->nworkers = s->workers;
	sv->workers = xcalloc((size_t)sv->nworkers, sizeof *sv->workers);
	sv->probe = sv->lock = -1;
	/* Shared with every worker forked, for their heartbeats. */
	sv->beats = mmap(NULL, (size_t)sv->nworkers * sizeof *sv->beats,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sv->beats == MAP_FAILED) {
		supervisor_fail(
		    "cannot map the workers' heartbeats: %s", strerror(errno));
	}
	if (listen_port <= 0 && s->socket_port == 0)
		supervisor_reserve_port(sv);
	else if (listen_port <= 0)
		supervisor_check_port_free(sv);
	sv->port = listen_port > 0 ? listen_port : s->socket_port;
	if (pipe2(sv->ready, O_CLOEXEC) != 0) {
		supervisor_fail("cannot make a pipe: %s", strerror(errno));
	}
	flags = fcntl(sv->ready[1], F_GETFL);
	fcntl(sv->ready[1], F_SETFL, flags | O_NONBLOCK);

	/* Blocked, so that they wait in sigtimedwait for the loop. */
	sigemptyset(&sv->sigs);
	sigaddset(&sv->sigs, SIGCHLD);
	sigaddset(&sv->sigs, SIGTERM);
	sigaddset(&sv->sigs, SIGINT);
	sigaddset(&sv->sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sv->sigs, &sv->saved);
}

/* Fork the workers due; true in a forked worker. */
static bool
supervisor_start_due(struct supervisor *sv)
{
	time_t now = time(NULL);
	int i;

	for (i = 0; i < sv->nworkers; i++) {
		if (sv->workers[i].pid == 0 &&
		    sv->workers[i].restart_at <= now &&
		    supervisor_fork(sv, i) == 0)
			return true;
	}
	return false;
}

/* How long a turn waits for a signal: a second, or less when the
 * service manager's watchdog wants pings more often. */
static struct timespec
supervisor_tick(void)
{
	uint64_t usec = service_notify_watchdog_usec();
	struct timespec tick = { 1, 0 };

	if (usec > 0 && usec < 1000000u) {
		tick.tv_sec = 0;
		tick.tv_nsec = (long)usec * 1000;
	}
	return tick;
}

/* One turn of the supervisor: a signal, or a tick passed. */
static void
supervisor_turn(struct supervisor *sv)
{
	struct timespec tick = supervisor_tick();
	int sig = sigtimedwait(&sv->sigs, NULL, &tick);

	if (sig == SIGTERM || sig == SIGINT)
		supervisor_stop(sv, sig);
	else if (sig == SIGHUP) {
		/*
		 * First for itself: a worker started later runs it too.  During
		 * a stop too (logrotate may have moved the logs away: break-it
		 * helper 69), but READY=1 after STOPPING=1 would tell the
		 * service manager otherwise.
		 */
		if (!sv->stopping)
			service_notify_reloading();
		if (sv->reload != NULL)
			sv->reload();
		supervisor_signal_all(sv, SIGHUP);
		if (!sv->stopping)
			service_notify_reloaded();
	}
	supervisor_reap(sv);
	service_notify_watchdog();
	if (!sv->stopping) {
		supervisor_watch(sv);
		return;
	}
	if (supervisor_alive(sv) == 0) {
		log_info("every worker stopped");
		exit(0);
	}
	if (time(NULL) >= sv->kill_at) {
		log_error("workers still running %d s after the stop: killing"
			  " them",
		    sv->settings->drain_timeout_s + SUPERVISOR_KILL_GRACE_S);
		supervisor_signal_all(sv, SIGKILL);
	}
}

/* In a forked worker: the table of workers is the supervisor's, not its. */
static void
supervisor_become_worker(struct supervisor *sv)
{
	free(sv->workers);
	sv->workers = NULL;
	supervisor_fail_cb = NULL;
}

void
supervisor_run(
    struct settings *s, int listen_port, const struct supervisor_hooks *hooks)
{
	struct supervisor sv;
	int rc;

	supervisor_fail_cb = hooks->fail;
	supervisor_setup(&sv, s, listen_port);
	sv.reload = hooks->reload;
	/* With the start-up lock held: start-ups on the port take turns. */
	if (hooks->prepare != NULL)
		hooks->prepare();
	log_info("supervisor %ld: starting %d workers on port %d",
	    (long)getpid(), sv.nworkers, sv.port);
	if (supervisor_start_due(&sv)) {
		supervisor_become_worker(&sv);
		return;
	}
	rc = supervisor_wait_ready(&sv);
	if (rc < 0) {
		log_info(
		    "signal %d before the workers listened: stopping", -rc);
		supervisor_signal_all(&sv, SUPERVISOR_DRAIN_SIGNAL);
		exit(1);
	}
	if (rc == 0) {
		log_crit("a worker did not start; stopping");
		supervisor_signal_all(&sv, SUPERVISOR_DRAIN_SIGNAL);
		exit(1);
	}
	/* They listen: the port check of a later mttd sees them now. */
	if (sv.lock >= 0)
		close(sv.lock);
	sv.lock = -1;
	if (hooks->started != NULL)
		hooks->started(sv.port);
	for (;;) {
		supervisor_turn(&sv);
		if (!sv.stopping && supervisor_start_due(&sv)) {
			supervisor_become_worker(&sv);
			return;
		}
	}
}
