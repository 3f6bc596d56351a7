/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration file: one table names every option with its type,
 * default and help, and a small INI reader in the manner of Python's
 * configparser (which read the reference's mtt_server.cfg) fills struct
 * settings from it.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"
#include "strbuf.h"

enum settings_type {
	SETTINGS_STRING,  /* Any text, kept as written. */
	SETTINGS_PATH,	  /* A file; relative to the config's folder. */
	SETTINGS_INT,	  /* A decimal int within min..max. */
	SETTINGS_SIZE,	  /* Bytes, optional K/M/G suffix, >= min. */
	SETTINGS_BOOL,	  /* true/false, yes/no, on/off, 1/0. */
	SETTINGS_LEVEL,	  /* A log level name. */
	SETTINGS_PREFIX,  /* A URL path prefix, normalised. */
	SETTINGS_DB_TYPE, /* The database kind: only "postgres". */
	SETTINGS_SSLMODE, /* auto, or one of libpq's sslmode values. */
	SETTINGS_HOST,	  /* A host name or address: no space, not empty. */
	SETTINGS_HEADER,  /* A header's value: printable, not empty. */
	SETTINGS_QUOTED	  /* Printable, no '"' or '\\': goes in quotes. */
};

struct settings_option {
	const char *section;
	const char *key;
	enum settings_type type;
	const char *def; /* NULL: none (only for paths). */
	size_t offset;	 /* Of the field in struct settings. */
	long long min, max;
	bool reloadable; /* Takes effect on SIGHUP. */
	const char *help;
};

#define SETTINGS_OFF(f) offsetof(struct settings, f)

/* Allocated whole at start-up and on each SIGHUP: a slip such as 32G
 * for 32K must be refused, not abort mttd (break-it helper 50). */
#define SETTINGS_ACCESS_BUFFER_MAX (64LL << 20)

static const struct settings_option settings_options[] = {
	{ "server", "socket_host", SETTINGS_HOST, "127.0.0.1",
	    SETTINGS_OFF(socket_host), 0, 0, false, "Address to listen on." },
	{ "server", "socket_port", SETTINGS_INT, "9080",
	    SETTINGS_OFF(socket_port), 0, 65535, false,
	    "TCP port to listen on; 0 takes any free port." },
	{ "server", "url_docroot", SETTINGS_STRING, "",
	    SETTINGS_OFF(url_docroot), 0, 0, true,
	    "The reference's public URL; only logged at start-up." },
	{ "server", "url_prefix", SETTINGS_PREFIX, "", SETTINGS_OFF(url_prefix),
	    0, 0, false,
	    "Path before every endpoint, such as /submit/cpy/api." },
	{ "server", "max_body_size", SETTINGS_SIZE, "64M",
	    SETTINGS_OFF(max_body_size), 1024, 0, true,
	    "Largest request body in bytes; K, M and G mean KiB, MiB, GiB." },
	{ "server", "max_query_body_size", SETTINGS_SIZE, "8M",
	    SETTINGS_OFF(max_query_body_size), 1024, 0, true,
	    "Largest body of a request to any endpoint but /submit." },
	{ "server", "max_header_size", SETTINGS_SIZE, "16K",
	    SETTINGS_OFF(max_header_size), 1024, 0, false,
	    "Largest request line and headers together, in bytes." },
	{ "server", "trust_forwarded_for", SETTINGS_BOOL, "false",
	    SETTINGS_OFF(trust_forwarded_for), 0, 0, true,
	    "Record the first X-Forwarded-For address as the client's." },
	{ "server", "cors_origin", SETTINGS_HEADER, "*",
	    SETTINGS_OFF(cors_origin), 0, 0, true,
	    "Value of the Access-Control-Allow-Origin header." },
	{ "server", "request_timeout", SETTINGS_INT, "60",
	    SETTINGS_OFF(request_timeout_s), 1, 86400, true,
	    "Seconds a client may take to send a request, and may go"
	    " without sending a byte of it." },
	{ "server", "answer_timeout", SETTINGS_INT, "300",
	    SETTINGS_OFF(answer_timeout_s), 1, 86400, true,
	    "Seconds an answer may go without the client taking a byte of"
	    " it, as TCP shows it; then the connection is closed." },
	{ "server", "idle_timeout", SETTINGS_INT, "15",
	    SETTINGS_OFF(idle_timeout_s), 1, 86400, true,
	    "Seconds a keep-alive connection may wait for its next request." },
	{ "server", "min_request_rate", SETTINGS_SIZE, "1K",
	    SETTINGS_OFF(min_request_rate), 0, 0, true,
	    "Each this many bytes a request has sent give it one more second"
	    " beyond request_timeout (slow links); 0: none." },
	{ "server", "max_connections", SETTINGS_INT, "4000",
	    SETTINGS_OFF(max_connections), 1, 1000000, true,
	    "Client connections open at once; more are answered 503." },
	{ "server", "drain_timeout", SETTINGS_INT, "10",
	    SETTINGS_OFF(drain_timeout_s), 1, 3600, true,
	    "Seconds SIGTERM waits for requests in flight before exiting." },
	{ "server", "workers", SETTINGS_INT, "1", SETTINGS_OFF(workers), 1, 64,
	    false,
	    "Worker processes sharing the port (SO_REUSEPORT) under one"
	    " supervisor." },
	{ "server", "hang_timeout", SETTINGS_INT, "30",
	    SETTINGS_OFF(hang_timeout_s), 0, 3600, true,
	    "Seconds a worker's loop may go without a turn before the"
	    " supervisor aborts and replaces it (workers > 1); 0: never." },
	{ "server", "max_waiting", SETTINGS_INT, "1024",
	    SETTINGS_OFF(max_waiting), 0, 1000000, true,
	    "Requests that may wait for a database connection before 503." },
	{ "server", "db_wait_timeout", SETTINGS_INT, "10",
	    SETTINGS_OFF(db_wait_timeout_s), 1, 3600, true,
	    "Seconds a request may wait for a database connection." },
	{ "logging", "log_level", SETTINGS_LEVEL, "INFO",
	    SETTINGS_OFF(log_level), 0, 0, true,
	    "DEBUG, INFO, WARNING, ERROR or CRITICAL." },
	{ "logging", "log_file", SETTINGS_PATH, NULL, SETTINGS_OFF(log_file), 0,
	    0, true,
	    "File the log goes to in the background; -f logs to stderr." },
	{ "logging", "access_log", SETTINGS_PATH, NULL,
	    SETTINGS_OFF(access_log), 0, 0, true,
	    "File for one line per request; empty or absent: the main log." },
	{ "logging", "access_log_buffer", SETTINGS_SIZE, "32K",
	    SETTINGS_OFF(access_log_buffer), 0, SETTINGS_ACCESS_BUFFER_MAX,
	    true,
	    "Access lines kept before they are written to access_log, in"
	    " bytes; 0: each at once." },
	{ "pg_v3", "type", SETTINGS_DB_TYPE, "postgres", SETTINGS_OFF(db_type),
	    0, 0, false, "Database kind; only postgres." },
	{ "pg_v3", "dbname", SETTINGS_STRING, "mttv3", SETTINGS_OFF(dbname), 0,
	    0, false, "Database name." },
	{ "pg_v3", "username", SETTINGS_STRING, "mtt", SETTINGS_OFF(username),
	    0, 0, false, "Database user." },
	{ "pg_v3", "password", SETTINGS_STRING, "", SETTINGS_OFF(password), 0,
	    0, false, "Database password; empty: none, or ~/.pgpass." },
	{ "pg_v3", "server", SETTINGS_STRING, "localhost", SETTINGS_OFF(server),
	    0, 0, false, "Database host name, address or socket folder." },
	{ "pg_v3", "port", SETTINGS_INT, "5432", SETTINGS_OFF(port), 1, 65535,
	    false, "Database port." },
	{ "pg_v3", "sslmode", SETTINGS_SSLMODE, "auto", SETTINGS_OFF(sslmode),
	    0, 0, false,
	    "TLS to the database: libpq's sslmode (disable, allow, prefer,"
	    " require, verify-ca, verify-full), or auto: no TLS and no GSSAPI"
	    " encryption to a loopback address or a socket folder, else"
	    " libpq's default." },
	{ "pg_v3", "pool_size", SETTINGS_INT, "4", SETTINGS_OFF(pool_size), 1,
	    256, false, "Database connections kept open." },
	{ "pg_v3", "prepared_statements", SETTINGS_INT, "128",
	    SETTINGS_OFF(prepared_statements), 0, 128, false,
	    "Statement texts each connection keeps prepared; 0: none (for a"
	    " pooler that cannot keep them, such as PgBouncer in transaction"
	    " mode)." },
	{ "pg_v3", "stream_share", SETTINGS_INT, "0",
	    SETTINGS_OFF(stream_share), 0, 256, false,
	    "Pool connections /detail, /summary and /info/testsuite streams"
	    " may hold at once;"
	    " 0: half the pool, at most all but two, at least 1 (queries of"
	    " every kind hold all but one)." },
	{ "pg_v3", "read_server", SETTINGS_STRING, "",
	    SETTINGS_OFF(read_server), 0, 0, false,
	    "A streaming replica for queries; empty: the server above." },
	{ "pg_v3", "read_port", SETTINGS_INT, "0", SETTINGS_OFF(read_port), 0,
	    65535, false, "The replica's port; 0: the port above." },
	{ "pg_v3", "connect_timeout", SETTINGS_INT, "10",
	    SETTINGS_OFF(connect_timeout_s), 1, 3600, true,
	    "Seconds a connect to the database may take before it is tried"
	    " again." },
	{ "pg_v3", "query_timeout", SETTINGS_INT, "120",
	    SETTINGS_OFF(query_timeout_s), 0, 86400, true,
	    "Seconds the database may stay silent while an answer is due;"
	    " then the connection is dropped as lost and its requests get"
	    " 503.  0: wait forever." },
	{ "pg_v3", "idle_check", SETTINGS_INT, "30", SETTINGS_OFF(idle_check_s),
	    0, 86400, true,
	    "Seconds without a request after which an idle database"
	    " connection is checked (it must answer within connect_timeout),"
	    " so a database that froze is found, and /status says so, before"
	    " a request meets it.  0: never." },
	{ "pg_v3", "analyze_after", SETTINGS_INT, "1000",
	    SETTINGS_OFF(analyze_after), 0, 1000000000, true,
	    "Entries stored after which the tables that changed by more rows"
	    " than the planner knows they hold (a database that just grew)"
	    " are analysed at once, skipping any that is locked; 0: leave"
	    " it to autovacuum." },
	{ "auth", "htpasswd_file", SETTINGS_PATH, NULL,
	    SETTINGS_OFF(htpasswd_file), 0, 0, true,
	    "htpasswd file for Basic credentials; empty: trust a proxy's user." },
	{ "auth", "max_failed_logins", SETTINGS_INT, "30",
	    SETTINGS_OFF(max_failed_logins), 0, 1000000, true,
	    "Failed logins a client address may have in a minute before its"
	    " passwords go unchecked (429) until the minute ends; 0: no"
	    " limit." },
	{ "auth", "realm", SETTINGS_QUOTED, "mtt", SETTINGS_OFF(realm), 0, 0,
	    true, "Realm named in the WWW-Authenticate header." },
};

#define SETTINGS_NOPTIONS (sizeof settings_options / sizeof settings_options[0])

static const char *const settings_sections[] = { "server", "logging", "pg_v3",
	"auth" };

#define SETTINGS_NSECTIONS \
	(sizeof settings_sections / sizeof settings_sections[0])

/* What the reader knows while it walks the file. */
struct settings_reader {
	const char *path;
	unsigned line;
	int section;				   /* -1 before the first. */
	unsigned section_line[SETTINGS_NSECTIONS]; /* 0: not seen. */
	unsigned key_line[SETTINGS_NOPTIONS];	   /* 0: not set. */
};

/* The field an option fills in. */
static void *
settings_field(struct settings *s, const struct settings_option *o)
{
	return (char *)s + o->offset;
}

static const void *
settings_cfield(const struct settings *s, const struct settings_option *o)
{
	return (const char *)s + o->offset;
}

/* True for the types whose field is a char * the settings own. */
static bool
settings_type_is_text(enum settings_type type)
{
	return type == SETTINGS_STRING || type == SETTINGS_PATH ||
	    type == SETTINGS_PREFIX || type == SETTINGS_DB_TYPE ||
	    type == SETTINGS_SSLMODE || type == SETTINGS_HOST ||
	    type == SETTINGS_HEADER || type == SETTINGS_QUOTED;
}

/* Replace a text field's value; value NULL leaves it unset. */
static void
settings_set_text(
    struct settings *s, const struct settings_option *o, char *value)
{
	char **field = settings_field(s, o);

	free(*field);
	*field = value;
}

/* Parse a decimal integer within o's range. */
static int
settings_parse_int(const struct settings_option *o, const char *value,
    struct settings *s, char **why)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(value, &end, 10);
	/* strtoll takes white space and a '+' first; a key's value, not. */
	if (*value == '\0' || *end != '\0' || isspace((unsigned char)*value) ||
	    *value == '+') {
		*why = xasprintf("'%s' is not an integer", value);
		return -1;
	}
	if (errno == ERANGE || n < o->min || n > o->max) {
		*why = xasprintf(
		    "%s is out of range %lld..%lld", value, o->min, o->max);
		return -1;
	}
	*(int *)settings_field(s, o) = (int)n;
	return 0;
}

/* The multiplier of a size suffix, or 0 for an unknown one. */
static unsigned long long
settings_size_unit(const char *suffix)
{
	if (*suffix == '\0')
		return 1;
	if (suffix[1] != '\0')
		return 0;
	switch (*suffix) {
	case 'K':
	case 'k':
		return 1ULL << 10;
	case 'M':
	case 'm':
		return 1ULL << 20;
	case 'G':
	case 'g':
		return 1ULL << 30;
	}
	return 0;
}

/* Parse a byte count such as 1024, 512K, 64M or 1G. */
static int
settings_parse_size(const struct settings_option *o, const char *value,
    struct settings *s, char **why)
{
	unsigned long long n, unit;
	char *end;

	errno = 0;
	if (!isdigit((unsigned char)*value))
		goto bad;
	n = strtoull(value, &end, 10);
	if ((unit = settings_size_unit(end)) == 0)
		goto bad;
	if (errno == ERANGE || n > (unsigned long long)SSIZE_MAX / unit) {
		*why = xasprintf("%s is too large", value);
		return -1;
	}
	if (n * unit < (unsigned long long)o->min) {
		*why = xasprintf(
		    "%s is below the minimum of %lld bytes", value, o->min);
		return -1;
	}
	/* A size's max of 0 is no maximum. */
	if (o->max > 0 && n * unit > (unsigned long long)o->max) {
		*why = xasprintf(
		    "%s is above the maximum of %lld bytes (%lldM)", value,
		    o->max, o->max >> 20);
		return -1;
	}
	*(size_t *)settings_field(s, o) = (size_t)(n * unit);
	return 0;

bad:
	*why = xasprintf(
	    "'%s' is not a size (bytes, or a number and K, M or G)", value);
	return -1;
}

/* Parse true/false, yes/no, on/off or 1/0 in any case. */
static int
settings_parse_bool(const struct settings_option *o, const char *value,
    struct settings *s, char **why)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	bool *field = settings_field(s, o);
	size_t i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*field = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*field = false;
			return 0;
		}
	}
	*why = xasprintf(
	    "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", value);
	return -1;
}

/*
 * Normalise a URL prefix: one leading slash, no trailing or doubled
 * slashes, and "" for the root.  Only characters of a plain URL path are
 * taken, since the prefix is compared with request paths byte by byte.
 */
static int
settings_parse_prefix(const struct settings_option *o, const char *value,
    struct settings *s, char **why)
{
	struct strbuf sb;
	const char *p;

	strbuf_setup(&sb);
	for (p = value; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '?' || *p == '#') {
			strbuf_shutdown(&sb);
			*why = xasprintf("'%s' is not a URL path", value);
			return -1;
		}
		if (*p == '/' && (sb.len > 0 && sb.data[sb.len - 1] == '/'))
			continue;
		if (sb.len == 0 && *p != '/')
			strbuf_add(&sb, "/", 1);
		strbuf_add(&sb, p, 1);
	}
	while (sb.len > 0 && sb.data[sb.len - 1] == '/')
		sb.data[--sb.len] = '\0';
	settings_set_text(s, o, strbuf_take(&sb));
	return 0;
}

/* Make a path absolute against the configuration file's folder. */
static int
settings_parse_path(const struct settings_option *o, const char *value,
    struct settings *s, char **why)
{
	const char *dir = s->config_dir;
	size_t n;

	(void)why;
	if (*value == '\0') {
		settings_set_text(s, o, NULL);
		return 0;
	}
	if (*value == '/' || dir == NULL) {
		settings_set_text(s, o, xstrdup(value));
		return 0;
	}
	n = strlen(dir);
	settings_set_text(s, o,
	    xasprintf(
		"%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", value));
	return 0;
}

/*
 * A text that goes into an answer's header (cors_origin, realm) or names
 * the address to listen on: checked here, so that a bad one stops
 * start-up (and --check-config) instead of making a bad header or a
 * bind that fails with a misleading reason.
 */
static int
settings_parse_checked_text(const struct settings_option *o, const char *value,
    struct settings *s, char **why)
{
	const char *p;

	if (*value == '\0' && o->type != SETTINGS_QUOTED) {
		*why = xstrdup(o->type == SETTINGS_HOST ?
			"empty (an address or host name to listen on)" :
			"empty (an origin such as https://mtt.example.org, or *)");
		return -1;
	}
	for (p = value; *p != '\0'; p++) {
		if (*p < ' ' || *p > '~' ||
		    (o->type == SETTINGS_HOST && *p == ' ') ||
		    (o->type == SETTINGS_QUOTED && (*p == '"' || *p == '\\'))) {
			*why = xasprintf("'%s': character %zu ('%c') is not"
					 " allowed here",
			    value, (size_t)(p - value) + 1,
			    *p >= ' ' && *p <= '~' ? *p : '?');
			return -1;
		}
	}
	settings_set_text(s, o, xstrdup(value));
	return 0;
}

/* Is value a sslmode mttd passes on (or "auto")? */
static bool
settings_sslmode_known(const char *value)
{
	static const char *const modes[] = { "auto", "disable", "allow",
		"prefer", "require", "verify-ca", "verify-full", NULL };
	size_t i;

	for (i = 0; modes[i] != NULL; i++) {
		if (strcmp(value, modes[i]) == 0)
			return true;
	}
	return false;
}

/* Parse value into o's field of s; *why says what is wrong otherwise. */
static int
settings_parse_value(const struct settings_option *o, const char *value,
    struct settings *s, char **why)
{
	switch (o->type) {
	case SETTINGS_STRING:
		settings_set_text(s, o, xstrdup(value));
		return 0;
	case SETTINGS_HOST:
	case SETTINGS_HEADER:
	case SETTINGS_QUOTED:
		return settings_parse_checked_text(o, value, s, why);
	case SETTINGS_PATH:
		return settings_parse_path(o, value, s, why);
	case SETTINGS_INT:
		return settings_parse_int(o, value, s, why);
	case SETTINGS_SIZE:
		return settings_parse_size(o, value, s, why);
	case SETTINGS_BOOL:
		return settings_parse_bool(o, value, s, why);
	case SETTINGS_LEVEL:
		if (log_level_parse(value, settings_field(s, o)))
			return 0;
		*why = xasprintf(
		    "'%s' is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)",
		    value);
		return -1;
	case SETTINGS_PREFIX:
		return settings_parse_prefix(o, value, s, why);
	case SETTINGS_DB_TYPE:
		if (strcmp(value, "postgres") == 0) {
			settings_set_text(s, o, xstrdup(value));
			return 0;
		}
		*why = xasprintf(
		    "'%s' is not supported (only postgres)", value);
		return -1;
	case SETTINGS_SSLMODE:
		if (settings_sslmode_known(value)) {
			settings_set_text(s, o, xstrdup(value));
			return 0;
		}
		*why = xasprintf("'%s' is not auto, disable, allow, prefer,"
				 " require, verify-ca or verify-full",
		    value);
		return -1;
	}
	*why = xstrdup("unknown option type");
	return -1;
}

void
settings_defaults(struct settings *s)
{
	const struct settings_option *o;
	char *why = NULL;
	size_t i;

	memset(s, 0, sizeof *s);
	for (i = 0; i < SETTINGS_NOPTIONS; i++) {
		o = &settings_options[i];
		if (o->def == NULL)
			continue;
		if (settings_parse_value(o, o->def, s, &why) == -1) {
			/* A default that does not parse is a bug here. */
			log_crit("default of %s: %s", o->key, why);
			abort();
		}
	}
}

void
settings_free(struct settings *s)
{
	size_t i;

	for (i = 0; i < SETTINGS_NOPTIONS; i++) {
		if (settings_type_is_text(settings_options[i].type))
			settings_set_text(s, &settings_options[i], NULL);
	}
	free(s->config_path);
	free(s->config_dir);
	free(s->key_lines);
	memset(s, 0, sizeof *s);
}

/* Cut leading and trailing white space off s, in place. */
static char *
settings_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The index of a known section, or -1. */
static int
settings_section_find(const char *name)
{
	size_t i;

	for (i = 0; i < SETTINGS_NSECTIONS; i++) {
		if (strcmp(settings_sections[i], name) == 0)
			return (int)i;
	}
	return -1;
}

/* The option key in section (keys in any case, as configparser), or -1. */
static int
settings_option_find(int section, const char *key)
{
	size_t i;

	for (i = 0; i < SETTINGS_NOPTIONS; i++) {
		if (strcmp(settings_options[i].section,
			settings_sections[section]) == 0 &&
		    strcasecmp(settings_options[i].key, key) == 0)
			return (int)i;
	}
	return -1;
}

/* Handle a "[section]" line, perhaps with a "# comment" after it. */
static int
settings_read_section(struct settings_reader *r, char *line, char **cause)
{
	char *name, *end = strchr(line, ']'), *rest;
	size_t n;
	int i;

	/* As the reference's reader: a comment may follow the ']'. */
	if (end != NULL && *(rest = settings_trim(end + 1)) != '\0') {
		if (*rest != '#') {
			*cause = xasprintf(
			    "%s:%u: section '%s': '%s' after ']'", r->path,
			    r->line, line, rest);
			return -1;
		}
		end[1] = '\0';
	}
	n = strlen(line);
	if (line[n - 1] != ']') {
		*cause = xasprintf(
		    "%s:%u: section '%s': missing ']'", r->path, r->line, line);
		return -1;
	}
	line[n - 1] = '\0';
	name = settings_trim(line + 1);
	if ((i = settings_section_find(name)) == -1) {
		*cause = xasprintf("%s:%u: section '%s': unknown section",
		    r->path, r->line, name);
		return -1;
	}
	if (r->section_line[i] != 0) {
		*cause = xasprintf(
		    "%s:%u: section '%s': repeated (first on line %u)", r->path,
		    r->line, name, r->section_line[i]);
		return -1;
	}
	r->section_line[i] = r->line;
	r->section = i;
	return 0;
}

/*
 * The text of a value as the reference's reader (ConfigObj) takes it:
 * between single or double quotes, which go, with nothing but a comment
 * after them; or unquoted, where " #" starts a comment.  A '#' with no
 * white space before it would have cut a value (a password) short
 * silently: it is refused, so that the file says which it means.  NULL,
 * with *why set, for a value that is none of these.
 */
static char *
settings_value_text(char *value, char **why)
{
	char quote = *value, *end, *rest, *hash;

	if (quote == '"' || quote == '\'') {
		if (value[1] == quote && value[2] == quote) {
			*why = xstrdup("a triple-quoted (multi-line) value is"
				       " not supported");
			return NULL;
		}
		if ((end = strchr(value + 1, quote)) == NULL) {
			*why = xasprintf("no closing %c", quote);
			return NULL;
		}
		rest = settings_trim(end + 1);
		if (*rest != '\0' && *rest != '#') {
			*why = xasprintf(
			    "'%s' after the closing %c", rest, quote);
			return NULL;
		}
		*end = '\0';
		return value + 1;
	}
	if ((hash = strchr(value, '#')) == NULL)
		return value;
	if (hash > value && hash[-1] != ' ' && hash[-1] != '\t') {
		*why = xstrdup("'#' starts a comment in this file, as in the"
			       " reference's: put a value that holds one in"
			       " quotes, or a space before a comment");
		return NULL;
	}
	*hash = '\0';
	return settings_trim(value);
}

/* Handle a "key = value" or "key: value" line, split at sep. */
static int
settings_read_key(struct settings_reader *r, char *line, char *sep,
    struct settings *s, char **cause)
{
	char *key, *value, *why = NULL;
	const char *fail = NULL;
	int i = -1;

	*sep = '\0';
	key = settings_trim(line);
	value = settings_trim(sep + 1);
	if (*key == '\0')
		fail = "empty key";
	else if (r->section == -1)
		fail = "key before any [section]";
	else if ((i = settings_option_find(r->section, key)) == -1)
		fail = "unknown key in this section";
	if (fail != NULL) {
		*cause = xasprintf(
		    "%s:%u: key '%s': %s", r->path, r->line, key, fail);
		return -1;
	}

	if (r->key_line[i] != 0) {
		*cause = xasprintf(
		    "%s:%u: key '%s': set twice (first on line %u)", r->path,
		    r->line, key, r->key_line[i]);
		return -1;
	}
	r->key_line[i] = r->line;
	if ((value = settings_value_text(value, &why)) != NULL &&
	    settings_parse_value(&settings_options[i], value, s, &why) == 0)
		return 0;
	*cause = xasprintf("%s:%u: key '%s': %s", r->path, r->line, key, why);
	free(why);
	return -1;
}

/* Handle one line of the file, without its line end. */
static int
settings_read_line(
    struct settings_reader *r, char *line, struct settings *s, char **cause)
{
	char *sep;

	/* A UTF-8 byte order mark is not part of the first line. */
	if (r->line == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3;
	line = settings_trim(line);
	if (*line == '\0' || *line == '#' || *line == ';')
		return 0;
	if (*line == '[')
		return settings_read_section(r, line, cause);

	/* The first '=' or ':' ends the key, as in configparser. */
	if ((sep = strpbrk(line, "=:")) != NULL)
		return settings_read_key(r, line, sep, s, cause);
	*cause = xasprintf(
	    "%s:%u: key '%s': not a [section], a comment or a 'key = value' line",
	    r->path, r->line, line);
	return -1;
}

/*
 * The absolute folder of path, without resolving links, so a relative
 * log_file stays right after the daemon changes its directory.
 */
static char *
settings_dir_of(const char *path, char **cause)
{
	const char *slash = strrchr(path, '/');
	char cwd[PATH_MAX];

	if (slash == path)
		return xstrdup("/");
	if (*path == '/')
		return xstrndup(path, (size_t)(slash - path));
	if (getcwd(cwd, sizeof cwd) == NULL) {
		*cause = xasprintf("%s: cannot find the current folder: %s",
		    path, strerror(errno));
		return NULL;
	}

	/* "./a/b.conf" names the same folder as "a/b.conf". */
	while (strncmp(path, "./", 2) == 0) {
		path += 2;
		while (*path == '/')
			path++;
	}
	if ((slash = strrchr(path, '/')) == NULL)
		return xstrdup(cwd);
	return xasprintf("%s/%.*s", cwd, (int)(slash - path), path);
}

/* Read every line of f into s. */
static int
settings_read_file(FILE *f, const char *path, struct settings *s, char **cause)
{
	struct settings_reader r;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	memset(&r, 0, sizeof r);
	r.path = path;
	r.section = -1;
	while (rc == 0 && (n = getline(&line, &cap, f)) != -1) {
		r.line++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		/* A NUL would end the line early, silently (a value cut, a
		 * check of the rest skipped). */
		if (strlen(line) != (size_t)n) {
			*cause = xasprintf("%s:%u: a NUL byte in the line (is"
					   " the file text, in UTF-8?)",
			    path, r.line);
			rc = -1;
			break;
		}
		rc = settings_read_line(&r, line, s, cause);
	}
	free(line);
	if (rc == 0 && ferror(f)) {
		*cause = xasprintf(
		    "%s: cannot read: %s", path, strerror(errno));
		rc = -1;
	}
	/* For messages about a value found wrong later (a path). */
	free(s->key_lines);
	s->key_lines = xmalloc(sizeof r.key_line);
	memcpy(s->key_lines, r.key_line, sizeof r.key_line);
	return rc;
}

int
settings_load(const char *path, struct settings *s, char **cause)
{
	FILE *f;
	int rc;

	/* s holds the defaults, or what an earlier load left there. */
	free(s->config_path);
	free(s->config_dir);
	s->config_path = xstrdup(path);
	if ((s->config_dir = settings_dir_of(path, cause)) == NULL)
		goto fail;
	if ((f = fopen(path, "r")) == NULL) {
		*cause = xasprintf(
		    "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	rc = settings_read_file(f, path, s, cause);
	fclose(f);
	if (rc == -1)
		goto fail;
	return 0;

fail:
	settings_free(s);
	return -1;
}

/* True when option o holds the same value in a and b. */
static bool
settings_option_equal(const struct settings_option *o, const struct settings *a,
    const struct settings *b)
{
	const void *fa = settings_cfield(a, o), *fb = settings_cfield(b, o);
	const char *sa, *sb;

	switch (o->type) {
	case SETTINGS_INT:
		return *(const int *)fa == *(const int *)fb;
	case SETTINGS_SIZE:
		return *(const size_t *)fa == *(const size_t *)fb;
	case SETTINGS_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case SETTINGS_LEVEL:
		return *(const enum log_level *)fa ==
		    *(const enum log_level *)fb;
	default:
		sa = *(char *const *)fa;
		sb = *(char *const *)fb;
		return sa == sb ||
		    (sa != NULL && sb != NULL && strcmp(sa, sb) == 0);
	}
}

const char *
settings_fixed_change(const struct settings *a, const struct settings *b)
{
	size_t i;

	for (i = 0; i < SETTINGS_NOPTIONS; i++) {
		if (!settings_options[i].reloadable &&
		    !settings_option_equal(&settings_options[i], a, b))
			return settings_options[i].key;
	}
	return NULL;
}

unsigned
settings_key_line(const struct settings *s, const char *key)
{
	size_t i;

	for (i = 0; i < SETTINGS_NOPTIONS && s->key_lines != NULL; i++) {
		if (strcmp(settings_options[i].key, key) == 0)
			return s->key_lines[i];
	}
	return 0;
}

/* A default as -h shows it. */
static const char *
settings_default_text(const struct settings_option *o)
{
	if (o->def == NULL)
		return "none";
	return *o->def == '\0' ? "\"\"" : o->def;
}

void
settings_print_keys(FILE *out)
{
	const struct settings_option *o;
	size_t i;

	for (i = 0; i < SETTINGS_NOPTIONS; i++) {
		o = &settings_options[i];
		fprintf(out, "[%s] %s (", o->section, o->key);
		if (o->type == SETTINGS_INT)
			fprintf(out, "%lld..%lld, ", o->min, o->max);
		if (o->type == SETTINGS_SIZE && o->min > 0)
			fprintf(out, "at least %lld, ", o->min);
		if (o->type == SETTINGS_SIZE && o->max > 0)
			fprintf(out, "at most %lldM, ", o->max >> 20);
		fprintf(out, "default %s): %s%s\n", settings_default_text(o),
		    o->help,
		    o->reloadable ? "" : " Changes only with a restart.");
	}
}
