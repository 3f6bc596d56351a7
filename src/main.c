/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mttd's entry point: options, start-up in a fixed order (settings,
 * logging, credentials, catalogue, pool, listener), signals, the loop.
 * Before the loop runs a failure stops the process; after, it only fails
 * a request.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <yajl/yajl_version.h>

#include "auth.h"
#include "db_catalog.h"
#include "db_pool.h"
#include "heartbeat.h"
#include "http_server.h"
#include "listen_socket.h"
#include "log.h"
#include "row_cache.h"
#include "service_notify.h"
#include "settings.h"
#include "strbuf.h"
#include "submit_fields.h"
#include "supervisor.h"
#include "table_stats.h"

#ifndef MTTD_PKGDATADIR
#define MTTD_PKGDATADIR "/usr/local/share/mttd"
#endif

/* Exit status for a bad configuration or command line. */
#define EXIT_CONFIG 2

struct options {
	const char *config;
	bool foreground;
	bool daemon; /* --daemon: the default, said out loud. */
	bool check_config;
	char *pid_file; /* Absolute, or NULL. */
};

struct mttd {
	struct settings settings;
	struct event_base *base;
	struct auth *auth;
	struct db_catalog *catalog;
	struct db_pool *pool;
	struct db_pool *read_pool; /* A replica's, or NULL. */
	struct http_server *server;
	struct table_stats *table_stats;
	struct heartbeat *heartbeat; /* NULL: nobody watches the loop. */
	int listen_fd; /* A socket the service manager passed, or -1. */
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *sig_orphaned; /* A worker's supervisor died. */
	struct event *sig_drain;    /* A worker's supervisor stops... */
	struct event *sig_exit;	    /* ...and says to exit now. */
	int stop_signals;	    /* TERM/INT this process was sent. */
	bool stopping;		    /* The drain has begun. */
	char *config_file;	    /* Absolute: SIGHUP reads it from "/". */
	bool foreground;	    /* Logging to stderr. */
};

/* The log is a file: die() then also tells the terminal. */
static bool log_goes_to_file;

/* Background start-up: the child tells its waiting parent it is up. */
static int startup_pipe = -1;
static bool in_background;

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* libpq's messages end in a line break of their own. */
	for (n = strlen(msg);
	     n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ');)
		msg[--n] = '\0';
	log_crit("%s", msg);
	if (log_goes_to_file)
		fprintf(stderr, "mttd: %s\n", msg);
	exit(1);
}

/* The command line forms, for a mistake on it. */
static void
usage_short(FILE *out)
{
	fprintf(out,
	    "usage: mttd -c FILE [-f | --daemon] [--pid-file PATH] |"
	    " mttd --check-config -c FILE | mttd -h | mttd -V\n");
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: mttd -c FILE [-f | --daemon] [--pid-file PATH]\n"
	    "       mttd --check-config -c FILE\n"
	    "       mttd -h | -V\n"
	    "\n"
	    "  -c, --config FILE   configuration file (INI; the reference's\n"
	    "                      mtt_server.cfg works unchanged)\n"
	    "  -f, --foreground    stay in the foreground, log to stderr\n"
	    "      --daemon        go to the background once listening (the\n"
	    "                      default without -f), log to log_file\n"
	    "  -p, --pid-file PATH write the process id (the supervisor's with\n"
	    "                      workers) to PATH; removed at exit\n"
	    "      --check-config  validate the configuration and exit\n"
	    "  -h, --help          this help, with every configuration key\n"
	    "  -V, --version       print the version and exit\n"
	    "\n"
	    "Environment: MTTD_PORT_FILE=PATH makes mttd write the port it\n"
	    "listens on to PATH (useful with socket_port = 0).\n"
	    "\n"
	    "Configuration keys:\n");
	settings_print_keys(out);
}

/*
 * path made absolute against the current folder (mttd leaves it), but
 * not resolved: relative paths in the configuration file must name the
 * same files on SIGHUP as at start-up when the file or its folder is a
 * symbolic link (realpath had taken them from the link's target; break-it
 * helper 50).
 */
static char *
absolute_path(const char *path)
{
	char cwd[4096];

	if (path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
		return xstrdup(path);
	/* "./a/b.conf" names the same file as "a/b.conf". */
	while (strncmp(path, "./", 2) == 0) {
		path += 2;
		while (*path == '/')
			path++;
	}
	return xasprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, path);
}

/* cause, freed, as "FILE:LINE: key 'K': cause" (no LINE for a default),
 * so that a file that cannot be opened is traced to its key. */
static char *
key_cause(const struct settings *s, const char *key, char *cause)
{
	unsigned line = settings_key_line(s, key);
	char *text;

	if (line > 0)
		text = xasprintf(
		    "%s:%u: key '%s': %s", s->config_path, line, key, cause);
	else
		text = xasprintf(
		    "%s: key '%s': %s", s->config_path, key, cause);
	free(cause);
	return text;
}

/* Open the logs s names (log_file only without -f): 0, or -1 with
 * *cause naming the key whose file cannot be opened. */
static int
open_logs(const struct settings *s, bool foreground, char **cause)
{
	int rc = log_setup(foreground ? NULL : s->log_file, s->access_log,
	    s->log_level, cause);

	if (rc == 0)
		return 0;
	*cause = key_cause(s, rc == -1 ? "log_file" : "access_log", *cause);
	return -1;
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = { { "config", required_argument,
						      NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "daemon", no_argument, NULL, 'D' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 } };
	int ch, show = 0;

	memset(o, 0, sizeof *o);
	while (
	    (ch = getopt_long(argc, argv, "c:fp:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'D':
			o->daemon = true;
			break;
		case 'p':
			o->pid_file = absolute_path(optarg);
			break;
		case 'C':
			o->check_config = true;
			break;
		case 'h':
		case 'V':
			/* After the arguments are checked. */
			show = ch;
			break;
		default:
			usage_short(stderr);
			exit(EXIT_CONFIG);
		}
	}
	if (optind != argc) {
		fprintf(
		    stderr, "mttd: unexpected argument '%s'\n", argv[optind]);
		usage_short(stderr);
		exit(EXIT_CONFIG);
	}
	if (show == 'h')
		usage(stdout);
	if (show == 'V')
		printf("mttd %s\n", PACKAGE_VERSION);
	if (show != 0)
		exit(0);
	if (o->config == NULL || (o->foreground && o->daemon)) {
		fprintf(stderr, "mttd: %s\n",
		    o->config == NULL ? "-c FILE is required" :
					"-f and --daemon exclude each other");
		usage_short(stderr);
		exit(EXIT_CONFIG);
	}
}

static void
load_settings(struct mttd *m, const struct options *o)
{
	char *cause = NULL;

	settings_defaults(&m->settings);
	if (settings_load(o->config, &m->settings, &cause) != 0) {
		fprintf(stderr, "mttd: %s\n", cause);
		exit(EXIT_CONFIG);
	}
	m->config_file = absolute_path(o->config);
	m->foreground = o->foreground;
}

static struct auth *
load_htpasswd(const struct settings *s)
{
	struct auth *a;
	char *cause = NULL;

	if (s->htpasswd_file == NULL) {
		log_warn("no [auth] htpasswd_file: trusting the proxy in front"
			 " for user names (credentials are not checked)");
		return NULL;
	}
	if ((a = auth_load(s->htpasswd_file, &cause)) == NULL)
		die("%s", key_cause(s, "htpasswd_file", cause));
	if (auth_count(a) == 0)
		log_warn("htpasswd %s: no user: every request that needs one"
			 " is refused (401) until users are added and mttd"
			 " gets SIGHUP",
		    s->htpasswd_file);
	else
		log_info("htpasswd %s: %zu user(s)", s->htpasswd_file,
		    auth_count(a));
	return a;
}

static void
libevent_log_cb(int severity, const char *msg)
{
	enum log_level l;

	switch (severity) {
	case EVENT_LOG_DEBUG:
		l = LOG_LEVEL_DEBUG;
		break;
	case EVENT_LOG_MSG:
		l = LOG_LEVEL_INFO;
		break;
	case EVENT_LOG_WARN:
		l = LOG_LEVEL_WARNING;
		break;
	default:
		l = LOG_LEVEL_ERROR;
		break;
	}
	LOG_AT(l, "libevent: %s", msg);
}

static void
libevent_fatal_cb(int err)
{
	log_crit("libevent fatal error %d", err);
	abort();
}

/* The access lines' buffer, only when there is an access log to fill. */
static void
keep_access_lines(const struct settings *s)
{
	log_access_buffer(s->access_log != NULL ? s->access_log_buffer : 0);
}

static void
setup_logging(const struct mttd *m, const struct options *o)
{
	const struct settings *s = &m->settings;
	char *cause = NULL;

	log_goes_to_file = !o->foreground;
	if (open_logs(s, o->foreground, &cause) != 0) {
		fprintf(stderr, "mttd: %s\n", cause);
		exit(1);
	}
	keep_access_lines(s);
	event_set_log_callback(libevent_log_cb);
	event_set_fatal_callback(libevent_fatal_cb);
}

/* The first line of a process's start-up, before its open-file limit. */
static void
log_starting(void)
{
	log_info("mttd %s starting (pid %ld)", PACKAGE_VERSION, (long)getpid());
}

static void
log_versions(const struct mttd *m)
{
	log_info("libevent %s (backend %s), libpq %d, yajl %d",
	    event_get_version(), event_base_get_method(m->base), PQlibVersion(),
	    yajl_version());
	if (m->settings.url_docroot[0] != '\0')
		log_info(
		    "url_docroot %s (logged only)", m->settings.url_docroot);
}

/*
 * stream_share = 0: half the pool, rounded up, but in a pool of 3 or
 * more at most all but two connections, one for submissions and one
 * for the queries answered at once, which stalled exports would
 * otherwise block (break-it helper 55: pools of 3).
 */
static int
default_stream_share(int pool_size)
{
	int share = (pool_size + 1) / 2;

	if (pool_size >= 3 && share > pool_size - 2)
		share = pool_size - 2;
	return share > 0 ? share : 1;
}

static void
pool_params(const struct settings *s, struct db_pool_params *p)
{
	/* Every field: expect_standby, set only for the replica's pool, was
	 * left as the stack had it for the primary's (the primary's pool
	 * then took itself for a replica that is no standby). */
	*p = (struct db_pool_params){ 0 };
	p->host = s->server;
	p->sslmode = db_sslmode_for(s->sslmode, s->server);
	p->gssencmode = db_gssencmode_for(s->sslmode, s->server);
	p->port = s->port;
	p->dbname = s->dbname;
	p->user = s->username;
	p->password = s->password;
	p->size = s->pool_size;
	p->prepared_max = s->prepared_statements;
	p->max_waiting = s->max_waiting;
	p->wait_timeout_s = s->db_wait_timeout_s;
	p->connect_timeout_s = s->connect_timeout_s;
	p->query_timeout_s = s->query_timeout_s;
	p->idle_check_s = s->idle_check_s;
	p->long_max = s->stream_share > 0 ? s->stream_share :
					    default_stream_share(s->pool_size);
	/* Queries leave one connection to submissions, which share it. */
	p->query_max = s->pool_size > 1 ? s->pool_size - 1 : 0;
	/* check_client and since_pg12 are known once the server is. */
}

/* A libpq mode for the log: mttd's choice, else what libpq will use. */
static const char *
libpq_mode_text(const char *mode, const char *env, char *buf, size_t size)
{
	const char *value = getenv(env);

	if (mode != NULL)
		return mode;
	if (value == NULL)
		return "libpq's default";
	snprintf(buf, size, "%.32s (%s)", value, env);
	return buf;
}

/* The pool's TLS and GSSAPI modes, as its start-up line says them. */
static void
log_pool_modes(const char *what, const struct db_pool_params *p)
{
	char ssl[64], gss[64];

	log_info("%s: sslmode %s, gssencmode %s", what,
	    libpq_mode_text(p->sslmode, "PGSSLMODE", ssl, sizeof ssl),
	    libpq_mode_text(p->gssencmode, "PGGSSENCMODE", gss, sizeof gss));
}

/* Read the catalogue (the database must be reachable now), or die. */
static void
load_catalog(struct mttd *m)
{
	struct db_pool_params p;
	char *cause = NULL;

	pool_params(&m->settings, &p);
	m->catalog = db_catalog_load(&p, MTTD_PKGDATADIR "/sql", &cause);
	if (m->catalog == NULL)
		die("%s", cause);
	if (submit_fields_bind(m->catalog, &cause) != 0)
		die("%s", cause);
}

/*
 * The pools.  A worker has the catalogue its supervisor read before it
 * forked, so a worker started again while the database is down starts
 * with its pool down, as the running ones are, instead of dying at once
 * and being started again every second (break-it helper 66).
 */
static void
open_database(struct mttd *m)
{
	struct db_pool_params p;

	if (m->catalog == NULL)
		load_catalog(m);
	pool_params(&m->settings, &p);
	log_info("database %s at %s:%d, PostgreSQL %s, pool of %d", p.dbname,
	    p.host, p.port, db_catalog_server_version(m->catalog), p.size);
	/* A replica runs the same major version as its primary. */
	p.check_client = db_catalog_server_version_num(m->catalog) >= 140000;
	p.since_pg12 = db_catalog_server_version_num(m->catalog) >= 120000;
	log_pool_modes("database connections", &p);
	m->pool = db_pool_new(m->base, &p);

	/* Queries may read from a streaming replica: a pool of their own. */
	if (m->settings.read_server[0] == '\0' && m->settings.read_port == 0)
		return;
	if (m->settings.read_server[0] != '\0') {
		p.host = m->settings.read_server;
		p.sslmode = db_sslmode_for(m->settings.sslmode, p.host);
		p.gssencmode = db_gssencmode_for(m->settings.sslmode, p.host);
	}
	if (m->settings.read_port != 0)
		p.port = m->settings.read_port;
	log_info("queries read from %s:%d, pool of %d", p.host, p.port, p.size);
	log_pool_modes("replica connections", &p);
	p.expect_standby = true;
	p.query_max = 0; /* No submission uses the replica's pool. */
	m->read_pool = db_pool_new(m->base, &p);
}

/* Descriptors mttd needs besides client connections and the pools:
 * logs, the listener, the event loop's, a file being read... */
#define MTTD_RESERVED_FDS 32

/* Database connections: a replica's pool is as large as the primary's
 * (break-it helper 63: it was left out, and accept() ran out). */
static long
pool_fds(const struct settings *s)
{
	bool replica = s->read_server[0] != '\0' || s->read_port != 0;

	return (long)s->pool_size * (replica ? 2 : 1);
}

/*
 * Raise the open-file limit to the hard limit, and keep max_connections
 * within it, so that mttd answers 503 instead of failing accept().  A
 * reload keeps a reloaded max_connections within it too, and logs the
 * limit only when it changed.
 */
static void
raise_file_limit(struct settings *s)
{
	static rlim_t logged;
	static bool known;
	struct rlimit rl;
	long usable;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
	}
	if (!known || rl.rlim_cur != logged)
		log_info(
		    "open-file limit %llu", (unsigned long long)rl.rlim_cur);
	known = true;
	logged = rl.rlim_cur;
	usable = (long)rl.rlim_cur - MTTD_RESERVED_FDS - pool_fds(s);
	if (usable < 1)
		usable = 1;
	if (s->max_connections > usable) {
		log_warn("max_connections %d is more than the open-file limit"
			 " %llu allows: %ld",
		    s->max_connections, (unsigned long long)rl.rlim_cur,
		    usable);
		s->max_connections = (int)usable;
	}
}

/* Tell a test harness which port was bound (socket_port = 0). */
static void
write_port_file(int port)
{
	const char *path = getenv("MTTD_PORT_FILE");
	char tmp[4096];
	FILE *f;

	if (path == NULL || *path == '\0')
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%d\n", port) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) != 0)
		die("cannot write MTTD_PORT_FILE %s: %s", path,
		    strerror(errno));
}

/* Exit now, leaving the requests in flight (each gets its line). */
static void
stop_now(struct mttd *m, const char *why)
{
	log_info("%s: exiting now", why);
	http_server_log_unfinished(m->server, "a second signal came");
	event_base_loopbreak(m->base);
}

static void
signal_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct mttd *m = arg;
	char why[32];

	(void)what;
	if (++m->stop_signals > 1) {
		snprintf(why, sizeof why, "signal %d again", (int)sig);
		stop_now(m, why);
		return;
	}
	if (m->stopping) {
		log_info("signal %d: stopping already; a second one exits at"
			 " once",
		    (int)sig);
		return;
	}
	m->stopping = true;
	log_info("signal %d: stopping; a second one exits at once", (int)sig);
	service_notify_stopping();
	http_server_drain(m->server);
}

/*
 * A worker's supervisor passes a stop on (SUPERVISOR_DRAIN_SIGNAL), or
 * the kernel says it died (it may have been killed in the middle of a
 * stop it had passed on): a drain, as on a first TERM, never the exit
 * at once of a second one.
 */
static void
signal_supervisor_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct mttd *m = arg;

	(void)what;
	/* Orphaned, a worker's next signal is the operator's second: as
	 * its log line says (break-it helpers 67 and 69). */
	if (sig == SUPERVISOR_GONE_SIGNAL && m->stop_signals == 0) {
		m->stop_signals = 1;
		if (m->stopping)
			log_info(
			    "the supervisor is gone: a signal exits at once");
	}
	if (m->stopping)
		return;
	m->stopping = true;
	if (sig == SUPERVISOR_GONE_SIGNAL)
		log_info("the supervisor is gone: stopping; a signal exits"
			 " at once");
	else
		log_info("the supervisor stops: stopping; a second signal"
			 " exits at once");
	http_server_drain(m->server);
}

/* The supervisor was sent a second TERM or INT. */
static void
signal_supervisor_exit_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	stop_now(arg, "the supervisor was sent a second signal");
}

/*
 * Read the configuration file again into next.  Returns false, with
 * *cause set, when it does not load or changes a key that needs a
 * restart: the running configuration then stays whole.
 */
#define RELOAD_NOT_PASSWORDS                                             \
	"checking passwords or trusting the proxy in front changes only" \
	" with a restart"

/* "FILE:LINE: key 'K' why", as start-up names a key (no LINE when the
 * new file leaves the key out). */
static char *
reload_refusal(const struct mttd *m, const struct settings *next,
    const char *key, const char *why)
{
	unsigned line = settings_key_line(next, key);

	if (line > 0)
		return xasprintf(
		    "%s:%u: key '%s' %s", m->config_file, line, key, why);
	return xasprintf("%s: key '%s' %s", m->config_file, key, why);
}

static bool
reload_settings(const struct mttd *m, struct settings *next, char **cause)
{
	const char *fixed;

	settings_defaults(next);
	if (settings_load(m->config_file, next, cause) != 0)
		return false;

	/* Port 0 took a free port at start-up: the running one is it. */
	if (next->socket_port == 0)
		next->socket_port = m->settings.socket_port;
	/* On a socket the service manager passed, neither is used. */
	if (m->listen_fd >= 0) {
		next->socket_port = m->settings.socket_port;
		free(next->socket_host);
		next->socket_host = xstrdup(m->settings.socket_host);
	}
	if ((fixed = settings_fixed_change(&m->settings, next)) != NULL) {
		*cause = reload_refusal(
		    m, next, fixed, "changes only with a restart");
		settings_free(next);
		return false;
	}
	/* Turning password checks off (or on) is too big a change for a
	 * reload that may just follow a slip in the file. */
	if ((m->settings.htpasswd_file == NULL) !=
	    (next->htpasswd_file == NULL)) {
		*cause = reload_refusal(m, next, "htpasswd_file",
		    next->htpasswd_file ? "set: " RELOAD_NOT_PASSWORDS :
					  "emptied: " RELOAD_NOT_PASSWORDS);
		settings_free(next);
		return false;
	}
	raise_file_limit(next);
	return true;
}

/*
 * The htpasswd table next names (NULL: proxy mode); false on failure.  A
 * file with no user where users were is taken for one caught while being
 * rewritten (or emptied by mistake): it would lock every client out.
 */
static bool
reload_htpasswd(const struct mttd *m, const struct settings *next,
    struct auth **table, char **cause)
{
	size_t running = m->auth != NULL ? auth_count(m->auth) : 0;

	*table = NULL;
	if (next->htpasswd_file == NULL)
		return true;
	if ((*table = auth_load(next->htpasswd_file, cause)) == NULL) {
		*cause = key_cause(next, "htpasswd_file", *cause);
		return false;
	}
	if (auth_count(*table) == 0 && running > 0) {
		*cause = xasprintf("htpasswd %s: no user could be read (the"
				   " %zu user(s) in force stay, as for a file"
				   " caught half-written; to lock every user"
				   " out, restart mttd with it)",
		    next->htpasswd_file, running);
		auth_free(*table);
		*table = NULL;
		return false;
	}
	/*
	 * Cut inside its last line: a file read while it is rewritten, whose
	 * last user would be locked out and whose later ones are missing.  A
	 * damaged line with its newline is no such cut (a prefix of the file
	 * ends inside a line): it is skipped, as at start-up, or one bad line
	 * would refuse every later reload.
	 */
	if (auth_cut_short(*table) && running > 0) {
		*cause = xasprintf("htpasswd %s: the file ends inside a line it"
				   " cannot use, as a file caught while it is"
				   " rewritten (the %zu user(s) in force stay;"
				   " end a whole file with a newline)",
		    next->htpasswd_file, running);
		auth_free(*table);
		*table = NULL;
		return false;
	}
	log_info("htpasswd %s: %zu user(s)", next->htpasswd_file,
	    auth_count(*table));
	return true;
}

/* Put next in force: settings, logs, credentials, limits. */
static void
reload_apply(struct mttd *m, struct settings *next, struct auth *table)
{
	struct db_pool_params limits;

	settings_free(&m->settings);
	m->settings = *next;
	keep_access_lines(&m->settings);
	auth_keep_judged(table, m->auth);
	auth_free(m->auth);
	m->auth = table;
	m->server->auth = table;
	http_server_apply_settings(m->server);
	/* Only the limits are read from params: both pools share them. */
	pool_params(&m->settings, &limits);
	db_pool_set_limits(m->pool, &limits);
	if (m->read_pool != NULL)
		db_pool_set_limits(m->read_pool, &limits);
}

/*
 * Read the configuration and the htpasswd file again and open the logs
 * next names, with the rules of a reload: false, with *cause, when the
 * running configuration must stay.  The supervisor and its workers run
 * it alike, so that a worker it starts later runs what the others run.
 */
static bool
reload_read(const struct mttd *m, struct settings *next, struct auth **table,
    char **cause)
{
	*table = NULL;
	if (!reload_settings(m, next, cause))
		return false;
	if (!reload_htpasswd(m, next, table, cause) ||
	    open_logs(next, m->foreground, cause) != 0) {
		auth_free(*table);
		*table = NULL;
		settings_free(next);
		return false;
	}
	return true;
}

/* A reload refused: the logs in force are reopened all the same, first,
 * so that the reason is in the file an operator reads after logrotate
 * moved the old one away. */
static void
reload_refused(const char *who, char *cause)
{
	char *why = NULL;

	if (log_reopen(&why) != 0) {
		log_error("%s", why);
		free(why);
	}
	log_error("%s: %s", who, cause);
	free(cause);
}

/*
 * SIGHUP: read the configuration file and the htpasswd file again and
 * reopen the logs (for logrotate).  Anything that fails keeps all of the
 * running configuration, and the log says why.
 */
static void
reload_all(struct mttd *m)
{
	struct settings next;
	struct auth *table;
	char *cause = NULL;

	log_info("SIGHUP: re-reading %s, the htpasswd file and reopening the"
		 " logs; forgetting the known rows",
	    m->config_file);
	/* An operator who changed rows by hand asks for them to be read
	 * again this way, whatever becomes of the configuration. */
	row_cache_clear();
	if (!reload_read(m, &next, &table, &cause)) {
		reload_refused(
		    "SIGHUP: keeping the running configuration", cause);
		return;
	}
	reload_apply(m, &next, table);
	log_info("SIGHUP: configuration in force");
}

/*
 * SIGHUP, told to the service manager around it, unless a stop has
 * begun: the reload still runs then (logrotate may have moved the logs
 * away), but READY=1 after STOPPING=1 would tell the manager otherwise.
 */
static void
signal_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct mttd *m = arg;
	bool told = !m->stopping;

	(void)sig;
	(void)what;
	if (told)
		service_notify_reloading();
	reload_all(m);
	if (told)
		service_notify_reloaded();
}

/*
 * TERM, INT and HUP stay blocked from the start of main until the loop
 * handles them: a SIGHUP (a reload, or the supervisor passing one on)
 * during start-up would otherwise end the process.
 */
static void
block_service_signals(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SUPERVISOR_GONE_SIGNAL);
	sigaddset(&set, SUPERVISOR_DRAIN_SIGNAL);
	sigaddset(&set, SUPERVISOR_EXIT_SIGNAL);
	sigprocmask(how, &set, NULL);
}

static void
setup_signals(struct mttd *m)
{
	signal(SIGPIPE, SIG_IGN);
	m->sig_term = evsignal_new(m->base, SIGTERM, signal_stop_cb, m);
	m->sig_int = evsignal_new(m->base, SIGINT, signal_stop_cb, m);
	m->sig_hup = evsignal_new(m->base, SIGHUP, signal_hup_cb, m);
	event_add(m->sig_term, NULL);
	event_add(m->sig_int, NULL);
	event_add(m->sig_hup, NULL);
	/* Only a worker has a supervisor to lose. */
	if (supervisor_is_worker()) {
		m->sig_orphaned = evsignal_new(m->base, SUPERVISOR_GONE_SIGNAL,
		    signal_supervisor_stop_cb, m);
		m->sig_drain = evsignal_new(m->base, SUPERVISOR_DRAIN_SIGNAL,
		    signal_supervisor_stop_cb, m);
		m->sig_exit = evsignal_new(m->base, SUPERVISOR_EXIT_SIGNAL,
		    signal_supervisor_exit_cb, m);
		event_add(m->sig_orphaned, NULL);
		event_add(m->sig_drain, NULL);
		event_add(m->sig_exit, NULL);
	}
	block_service_signals(SIG_UNBLOCK);
}

/*
 * Close every descriptor above stderr this process inherited but keep:
 * a daemon holding its starter's pipe open keeps the starter's reader
 * (an init script's $(...), a deployment tool) waiting for ever.
 */
static void
close_inherited_fds(int keep)
{
	int fds[256], n = 0, i, fd;
	struct dirent *e;
	DIR *d;

	/* Listed first, closed after: the listing's own fd is among them. */
	do {
		if ((d = opendir("/proc/self/fd")) == NULL) {
			for (fd = STDERR_FILENO + 1; fd < 1024; fd++)
				if (fd != keep)
					close(fd);
			return;
		}
		n = 0;
		while ((e = readdir(d)) != NULL &&
		    n < (int)(sizeof fds / sizeof *fds))
			if ((fd = atoi(e->d_name)) > STDERR_FILENO &&
			    fd != keep && fd != dirfd(d))
				fds[n++] = fd;
		closedir(d);
		for (i = 0; i < n; i++)
			close(fds[i]);
	} while (n == (int)(sizeof fds / sizeof *fds));
}

static void
go_background(const struct mttd *m)
{
	int fds[2];
	pid_t pid;
	char ok;

	if (m->settings.log_file == NULL)
		die("[logging] log_file is needed to run in the background"
		    " (or use -f)");
	close_inherited_fds(m->listen_fd);

	/*
	 * The parent waits for the child's word that start-up worked, so
	 * its exit status (what an init script sees) tells the truth.
	 */
	if (pipe(fds) != 0 || (pid = fork()) < 0)
		die("cannot go to the background: %s", strerror(errno));
	if (pid > 0) {
		close(fds[1]);
		block_service_signals(SIG_UNBLOCK);
		exit(read(fds[0], &ok, 1) == 1 ? 0 : 1);
	}
	close(fds[0]);
	log_after_fork();
	startup_pipe = fds[1];
	in_background = true;
	if (setsid() < 0)
		die("cannot start a session: %s", strerror(errno));
}

/* Start-up worked: detach from the terminal and release the parent. */
static void
startup_done(void)
{
	int fd;

	if (!in_background)
		return;
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (chdir("/") != 0)
		log_warn("cannot change to /: %s", strerror(errno));
	if (startup_pipe < 0)
		return;
	if (write(startup_pipe, "1", 1) != 1)
		log_warn(
		    "could not tell the parent process: %s", strerror(errno));
	close(startup_pipe);
	startup_pipe = -1;
}

/* The pid file and the process that wrote it (workers inherit both). */
static char *pid_file;
static pid_t pid_file_owner;

/* Removed at exit only while it still names this process: another mttd
 * started since may have written it. */
static void
remove_pid_file(void)
{
	FILE *f;
	long pid = 0;

	if (pid_file == NULL || getpid() != pid_file_owner)
		return;
	if ((f = fopen(pid_file, "r")) == NULL)
		return;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid == (long)pid_file_owner)
		unlink(pid_file);
}

static void
write_pid_file(void)
{
	char *tmp;
	FILE *f;

	if (pid_file == NULL)
		return;

	/* Whole or absent, for whoever reads it meanwhile. */
	tmp = xasprintf("%s.tmp", pid_file);
	if ((f = fopen(tmp, "w")) == NULL ||
	    fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0 ||
	    rename(tmp, pid_file) != 0)
		die("cannot write the pid file %s: %s", pid_file,
		    strerror(errno));
	free(tmp);
	pid_file_owner = getpid();
	atexit(remove_pid_file);
}

/* Started: tell the service manager, with the port in its status. */
static void
notify_ready(int port)
{
	char status[64];

	snprintf(status, sizeof status, "serving on port %d", port);
	service_notify_ready(status);
}

/* The supervisor's workers all listen on port: it is started. */
static void
supervisor_started_cb(int port)
{
	write_pid_file();
	write_port_file(port);
	notify_ready(port);
	startup_done();
}

/* The supervisor's own mttd, for its SIGHUP. */
static struct mttd *supervised;

/*
 * Before the supervisor forks: the catalogue, read once, so that a
 * worker started again while the database is down serves with its pool
 * down instead of dying (break-it helper 66).
 */
static void
supervisor_prepare_cb(void)
{
	load_catalog(supervised);
}

/*
 * SIGHUP in the supervisor: read the files as its workers do, so that a
 * worker started later, which runs the supervisor's settings and users
 * as they were at its fork, runs what the others run.  A reload the
 * workers refuse (an htpasswd file emptied or cut) is refused here too.
 */
static void
supervisor_reload_cb(void)
{
	struct mttd *m = supervised;
	struct settings next;
	struct auth *table;
	char *cause = NULL;

	if (!reload_read(m, &next, &table, &cause)) {
		reload_refused(
		    "SIGHUP: the supervisor keeps the configuration in force",
		    cause);
		return;
	}
	settings_free(&m->settings);
	m->settings = next;
	keep_access_lines(&m->settings);
	auth_free(m->auth);
	m->auth = table;
	log_info("SIGHUP: the supervisor's configuration is in force");
}

/* The port of the socket the service manager passed, or 0 for none. */
static int
listen_port(const struct mttd *m)
{
	char host[NI_MAXHOST];
	int port;

	if (m->listen_fd < 0)
		return 0;
	if ((port = listen_socket_address(m->listen_fd, host, sizeof host)) < 0)
		die("the socket passed by the service manager: %s",
		    strerror(errno));
	return port;
}

/* Where mttd listens, for its start-up line. */
static void
log_listening(const struct mttd *m)
{
	char host[NI_MAXHOST];

	if (m->listen_fd < 0) {
		log_info("listening on %s:%d%s", m->settings.socket_host,
		    m->server->port, m->settings.url_prefix);
		return;
	}
	if (listen_socket_address(m->listen_fd, host, sizeof host) < 0)
		snprintf(host, sizeof host, "?");
	log_info("listening on %s:%d%s, a socket passed by the service manager"
		 " (socket_host and socket_port are not used)",
	    host, m->server->port, m->settings.url_prefix);
}

/* The supervisor's own start-up failure: told as any other. */
static void
supervisor_failed_cb(const char *message)
{
	die("%s", message);
}

/*
 * [server] workers > 1: this process becomes their supervisor and never
 * returns from here; each worker goes on, its start-up told to the
 * supervisor rather than to a waiting parent.
 */
static void
run_workers(struct mttd *m)
{
	static const struct supervisor_hooks hooks = {
		.prepare = supervisor_prepare_cb,
		.started = supervisor_started_cb,
		.reload = supervisor_reload_cb,
		.fail = supervisor_failed_cb,
	};

	if (m->settings.workers <= 1)
		return;
	supervised = m;
	/* Loaded once, here: each worker starts with the supervisor's. */
	m->auth = load_htpasswd(&m->settings);
	supervisor_run(&m->settings, listen_port(m), &hooks);
	if (startup_pipe >= 0)
		close(startup_pipe);
	startup_pipe = -1;
	log_starting();
}

/* Print "mttd: FILE:LINE: key 'K': why" (no LINE for a default). */
static void
check_complain(const struct settings *s, const char *config, const char *key,
    const char *why)
{
	unsigned line = settings_key_line(s, key);

	if (line > 0)
		fprintf(stderr, "mttd: %s:%u: key '%s': %s\n", config, line,
		    key, why);
	else
		fprintf(stderr, "mttd: %s: key '%s': %s\n", config, key, why);
}

/* A file mttd will write: not a folder, in a writable folder. */
static bool
check_file_target(const struct settings *s, const char *key, const char *path,
    const char *config, const char *hint)
{
	struct stat st;
	char *dir, *why = NULL;
	bool ok, exists;

	if (path == NULL)
		return true;
	dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	exists = stat(path, &st) == 0;
	if (exists && S_ISDIR(st.st_mode))
		why = xasprintf("%s is a folder, not a file", path);
	/* A file that is there is opened as it is (a log folder owned by
	 * root often holds one made for mttd); else it is made. */
	else if (exists && access(path, W_OK) != 0)
		why = xasprintf(
		    "%s is not writable: %s%s", path, strerror(errno), hint);
	else if (!exists && access(dir[0] ? dir : "/", W_OK | X_OK) != 0)
		why = xasprintf("folder %s of %s is not writable: %s%s", dir,
		    path, strerror(errno), hint);
	ok = why == NULL;
	if (!ok)
		check_complain(s, config, key, why);
	free(why);
	free(dir);
	return ok;
}

/* --check-config: what start-up would read, without the database. */
static int
check_config(struct mttd *m, const struct options *o)
{
	const struct settings *s = &m->settings;
	struct auth *a = NULL;
	char *cause = NULL;
	bool ok;

	/* Warnings say what is wrong; what went right is said once, at
	 * the end (an INFO line on stderr tripped scripts, break-it
	 * helper 57). */
	if (log_threshold < LOG_LEVEL_WARNING)
		log_threshold = LOG_LEVEL_WARNING;
	/* With -f the log goes to stderr: log_file is not used. */
	ok = (o->foreground ||
		 check_file_target(s, "log_file", s->log_file, o->config,
		     " (with -f the log goes to stderr)")) &&
	    check_file_target(s, "access_log", s->access_log, o->config, "");
	if (ok && !o->foreground && s->log_file == NULL) {
		check_complain(s, o->config, "log_file",
		    "not set: it is needed to run in the background (check"
		    " with -f for mttd run in the foreground, as the systemd"
		    " unit runs it)");
		ok = false;
	}
	if (ok && s->htpasswd_file != NULL &&
	    (a = auth_load(s->htpasswd_file, &cause)) == NULL) {
		check_complain(s, o->config, "htpasswd_file", cause);
		free(cause);
		ok = false;
	}
	if (ok && auth_cut_short(a) && auth_damaged(a) == 0) {
		cause = xasprintf(
		    "%s: the file ends inside a line it cannot use"
		    " (no newline after it): SIGHUP would take"
		    " it for a file caught while it is rewritten;"
		    " end it with a newline",
		    s->htpasswd_file);
		check_complain(s, o->config, "htpasswd_file", cause);
		free(cause);
		ok = false;
	}
	/* Each is a user who cannot log in as the file's writer meant
	 * (break-it helper 57: a plain-text line passed). */
	if (ok && auth_skipped_lines(a) > 0) {
		cause = xasprintf("%s: %zu line(s) cannot be used, %zu of them"
				  " cut short or damaged (the warnings above"
				  " say why)",
		    s->htpasswd_file, auth_skipped_lines(a), auth_damaged(a));
		check_complain(s, o->config, "htpasswd_file", cause);
		free(cause);
		ok = false;
	}
	if (ok && a != NULL && auth_count(a) == 0)
		fprintf(stderr,
		    "mttd: %s: warning: htpasswd %s has no user: every"
		    " request that needs one would be refused (401)\n",
		    o->config, s->htpasswd_file);
	auth_free(a);
	settings_free(&m->settings);
	free(m->config_file);
	if (!ok)
		return EXIT_CONFIG;
	printf("%s: configuration is valid\n", o->config);
	return 0;
}

static void
shutdown_all(struct mttd *m)
{
	/* A TERM (or HUP) that comes while mttd exits waits, blocked, and
	 * dies with it: without its event it would kill mttd, status -15. */
	block_service_signals(SIG_BLOCK);
	event_free(m->sig_term);
	event_free(m->sig_int);
	event_free(m->sig_hup);
	if (m->sig_orphaned != NULL)
		event_free(m->sig_orphaned);
	if (m->sig_drain != NULL)
		event_free(m->sig_drain);
	if (m->sig_exit != NULL)
		event_free(m->sig_exit);
	heartbeat_free(m->heartbeat);
	http_server_free(m->server);
	table_stats_free(m->table_stats);
	db_pool_free(m->read_pool);
	db_pool_free(m->pool);
	db_catalog_free(m->catalog);
	auth_free(m->auth);
	row_cache_clear();
	log_attach_loop(NULL);
	event_base_free(m->base);
	log_info("mttd stopped");
	log_shutdown();
	settings_free(&m->settings);
	free(m->config_file);
}

/*
 * The event loop, its epoll backend in changelist mode: the changes a
 * pass of the loop makes to one socket's events go to the kernel once,
 * as their net effect, when the pass ends.  evhttp turns reading off
 * and on again around every request; applied one by one that was four
 * epoll_ctl calls per GET /, a third of the request's cost.  The price:
 * a socket closed while its event is still set is removed from epoll
 * only if no other descriptor refers to it, because the removal is sent
 * after the close.  mttd makes no dup() of a socket it watches (only of
 * stdio, in go_background); the one socket other processes hold, the
 * listening socket (systemd's, the other workers'), is closed a pass
 * after its event is removed (http_server_stop_accepting).  A socket
 * closed and its number reused within one pass is handled (libevent
 * retries a failed modification as an addition).
 *
 * A pass also stops running ready callbacks after LOOP_PASS_MAX_MS and
 * goes back to the clock and the sockets.  libevent would otherwise run
 * every callback ready at one priority in one pass: a burst of slow
 * ones (a hundred wrong passwords against a costly bcrypt hash) made a
 * pass of many seconds, during which the heartbeat (priority 0, which
 * the limit spares) could not run, and the supervisor took a busy
 * worker for a hung one.
 */
#define LOOP_PASS_MAX_MS 50

static struct event_base *
new_event_loop(void)
{
	struct event_config *cfg = event_config_new();
	const struct timeval pass = { 0, LOOP_PASS_MAX_MS * 1000 };
	struct event_base *base;

	if (cfg == NULL)
		die("cannot create the event loop");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	if (event_config_set_max_dispatch_interval(cfg, &pass, -1, 1) != 0)
		die("cannot limit the event loop's passes");
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL)
		die("cannot create the event loop");
	return base;
}

/*
 * Blocks of 256 KiB and more come from mmap and go back to the system
 * when freed.  glibc's default raises that limit each time such a block
 * is freed, after which the big blocks of a large submission (its parse
 * tree, its statements' results) come from the heap, where a few small
 * allocations left on top keep a hundred MiB or more resident long after
 * the answer left.  Setting it keeps it there (and the trim threshold).
 */
static void
return_big_blocks(void)
{
	/* Another allocator (a sanitizer's) may refuse: it keeps its own
	 * ways, and there is nothing to tell. */
	(void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

int
main(int argc, char **argv)
{
	struct options o;
	struct mttd m;
	char *cause = NULL;

	memset(&m, 0, sizeof m);
	/*
	 * A log over the file-size limit (ulimit -f) would kill mttd at its
	 * next line, from the first on (the supervisor's too): the write
	 * fails instead, and the lines lost are said (log.c).
	 */
	signal(SIGXFSZ, SIG_IGN);
	return_big_blocks();
	block_service_signals(SIG_BLOCK);
	parse_options(argc, argv, &o);
	load_settings(&m, &o);
	if (o.check_config)
		return check_config(&m, &o);
	/* Before any fork: LISTEN_PID names this process. */
	if ((m.listen_fd = listen_socket_inherited(&cause)) ==
	    LISTEN_SOCKET_BAD)
		die("%s", cause);
	if (!o.foreground)
		go_background(&m);
	setup_logging(&m, &o);
	log_starting();
	if (o.foreground && m.settings.log_file != NULL)
		log_info("-f: logging to stderr; log_file %s is not used",
		    m.settings.log_file);
	service_notify_setup();
	pid_file = o.pid_file;
	raise_file_limit(&m.settings);
	run_workers(&m);
	m.base = new_event_loop();
	/* Before any event: the access log writes at the lowest priority. */
	if (event_base_priority_init(m.base, LOG_LOOP_PRIORITIES) != 0)
		die("cannot set the event loop's priorities");
	log_attach_loop(m.base);
	log_versions(&m);
	if (!supervisor_is_worker())
		m.auth = load_htpasswd(&m.settings);
	open_database(&m);
	m.server = http_server_new(m.base, &m.settings, m.listen_fd, m.pool,
	    m.read_pool ? m.read_pool : m.pool, m.auth, &cause);
	if (m.server == NULL)
		die("%s", cause);
	/* Port 0 took a free port: a reload compares the file with it, as
	 * the supervisor's workers do (helper 50). */
	if (m.settings.socket_port == 0 && m.listen_fd < 0)
		m.settings.socket_port = m.server->port;
	m.table_stats = table_stats_new(
	    &m.settings, db_catalog_server_version_num(m.catalog));
	m.server->table_stats = m.table_stats;
	setup_signals(&m);
	log_listening(&m);
	if (supervisor_is_worker()) {
		supervisor_worker_ready();
	} else {
		write_pid_file();
		write_port_file(m.server->port);
		notify_ready(m.server->port);
	}
	m.heartbeat = heartbeat_new(m.base);
	startup_done();
	event_base_dispatch(m.base);
	shutdown_all(&m);
	return 0;
}
