/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of settings: the reference's template and our sample load,
 * every key parses, and each kind of error names file, line and key.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "db_pool.h"
#include "settings.h"

/* A folder of our own for the config files the cases write. */
static char test_dir[PATH_MAX];
static char test_path[PATH_MAX + 32];
static unsigned test_serial;

/* settings_defaults, then settings_load, as mttd's main does. */
static int
load(const char *path, struct settings *s, char **cause)
{
	settings_defaults(s);
	return settings_load(path, s, cause);
}

/* Write text to a new file in test_dir; its name goes to test_path. */
static const char *
conf_write(const char *text)
{
	FILE *f;

	snprintf(test_path, sizeof test_path, "%s/t%u.conf", test_dir,
	    ++test_serial);
	f = fopen(test_path, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	return test_path;
}

/* Load text; returns settings_load's result with s and *cause set. */
static int
conf_load(const char *text, struct settings *s, char **cause)
{
	*cause = NULL;
	return load(conf_write(text), s, cause);
}

/* Load text that must fail; check the cause starts with the prefix. */
static void
conf_expect_error(const char *text, const char *fmt, ...)
{
	char want[PATH_MAX + 256], *cause;
	struct settings s;
	va_list ap;
	int n;

	n = snprintf(want, sizeof want, "%s:", conf_write(text));
	va_start(ap, fmt);
	vsnprintf(want + n, sizeof want - (size_t)n, fmt, ap);
	va_end(ap);
	cause = NULL;
	CU_ASSERT_EQUAL_FATAL(load(test_path, &s, &cause), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cause);
	if (strncmp(cause, want, strlen(want)) != 0)
		fprintf(
		    stderr, "\n  want prefix: %s\n  got: %s\n", want, cause);
	CU_ASSERT_EQUAL(strncmp(cause, want, strlen(want)), 0);
	free(cause);
}

/* Load one "[section]\nkey = value" and leave the result in s. */
static int
conf_load_one(
    const char *section, const char *key, const char *value, struct settings *s)
{
	char text[1024], *cause = NULL;
	int rc;

	snprintf(text, sizeof text, "[%s]\n%s = %s\n", section, key, value);
	rc = conf_load(text, s, &cause);
	free(cause);
	return rc;
}

static void
settings_loads_reference_template(void)
{
	char want[PATH_MAX + 32], a[PATH_MAX], b[PATH_MAX], *cause = NULL;
	struct settings s;

	CU_ASSERT_EQUAL_FATAL(
	    load(cunit_srcpath("conf/mtt_server.cfg"), &s, &cause), 0);
	CU_ASSERT_STRING_EQUAL(s.socket_host, "0.0.0.0");
	CU_ASSERT_EQUAL(s.socket_port, 9080);
	CU_ASSERT_STRING_EQUAL(s.url_docroot, "http://your.domain/mtt/");
	CU_ASSERT_STRING_EQUAL(s.url_prefix, "");
	CU_ASSERT_EQUAL(s.log_level, LOG_LEVEL_DEBUG);
	CU_ASSERT_STRING_EQUAL(s.db_type, "postgres");
	CU_ASSERT_STRING_EQUAL(s.dbname, "mttv3");
	CU_ASSERT_STRING_EQUAL(s.username, "mtt");
	CU_ASSERT_STRING_EQUAL(s.password, "secret");
	CU_ASSERT_STRING_EQUAL(s.server, "localhost");
	CU_ASSERT_EQUAL(s.port, 5432);
	CU_ASSERT_PTR_NULL(s.htpasswd_file);

	/* log/mtt.log is taken from the folder of the file. */
	CU_ASSERT_EQUAL_FATAL(s.config_dir[0], '/');
	CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(s.config_dir, a));
	CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(cunit_srcpath("conf"), b));
	CU_ASSERT_STRING_EQUAL(a, b);
	snprintf(want, sizeof want, "%s/log/mtt.log", s.config_dir);
	CU_ASSERT_STRING_EQUAL(s.log_file, want);
	settings_free(&s);
}

/* Check s holds every documented default. */
static void
settings_check_defaults(const struct settings *s)
{
	CU_ASSERT_STRING_EQUAL(s->socket_host, "127.0.0.1");
	CU_ASSERT_EQUAL(s->socket_port, 9080);
	CU_ASSERT_STRING_EQUAL(s->url_docroot, "");
	CU_ASSERT_STRING_EQUAL(s->url_prefix, "");
	CU_ASSERT_EQUAL(s->max_body_size, (size_t)64 << 20);
	CU_ASSERT_EQUAL(s->max_query_body_size, (size_t)8 << 20);
	CU_ASSERT_EQUAL(s->max_header_size, (size_t)16 << 10);
	CU_ASSERT_FALSE(s->trust_forwarded_for);
	CU_ASSERT_STRING_EQUAL(s->cors_origin, "*");
	CU_ASSERT_EQUAL(s->request_timeout_s, 60);
	CU_ASSERT_EQUAL(s->answer_timeout_s, 300);
	CU_ASSERT_EQUAL(s->idle_timeout_s, 15);
	CU_ASSERT_EQUAL(s->min_request_rate, 1024);
	CU_ASSERT_EQUAL(s->max_connections, 4000);
	CU_ASSERT_EQUAL(s->drain_timeout_s, 10);
	CU_ASSERT_EQUAL(s->workers, 1);
	CU_ASSERT_EQUAL(s->hang_timeout_s, 30);
	CU_ASSERT_EQUAL(s->stream_share, 0);
	CU_ASSERT_STRING_EQUAL(s->sslmode, "auto");
	CU_ASSERT_STRING_EQUAL(s->read_server, "");
	CU_ASSERT_EQUAL(s->read_port, 0);
	CU_ASSERT_EQUAL(s->max_waiting, 1024);
	CU_ASSERT_EQUAL(s->db_wait_timeout_s, 10);
	CU_ASSERT_EQUAL(s->log_level, LOG_LEVEL_INFO);
	CU_ASSERT_PTR_NULL(s->log_file);
	CU_ASSERT_PTR_NULL(s->access_log);
	CU_ASSERT_STRING_EQUAL(s->db_type, "postgres");
	CU_ASSERT_STRING_EQUAL(s->dbname, "mttv3");
	CU_ASSERT_STRING_EQUAL(s->username, "mtt");
	CU_ASSERT_STRING_EQUAL(s->password, "");
	CU_ASSERT_STRING_EQUAL(s->server, "localhost");
	CU_ASSERT_EQUAL(s->port, 5432);
	CU_ASSERT_EQUAL(s->pool_size, 4);
	CU_ASSERT_EQUAL(s->connect_timeout_s, 10);
	CU_ASSERT_EQUAL(s->query_timeout_s, 120);
	CU_ASSERT_EQUAL(s->idle_check_s, 30);
	CU_ASSERT_EQUAL(s->analyze_after, 1000);
	CU_ASSERT_PTR_NULL(s->htpasswd_file);
	CU_ASSERT_STRING_EQUAL(s->realm, "mtt");
	CU_ASSERT_EQUAL(s->max_failed_logins, 30);
}

static void
settings_defaults_are_the_documented_ones(void)
{
	struct settings s;

	settings_defaults(&s);
	settings_check_defaults(&s);
	CU_ASSERT_PTR_NULL(s.config_path);
	settings_free(&s);
}

static void
settings_sample_config_loads_as_defaults(void)
{
	struct settings s;
	char *cause = NULL;

	CU_ASSERT_EQUAL_FATAL(
	    load(cunit_srcpath("conf/mttd.conf"), &s, &cause), 0);
	settings_check_defaults(&s);
	settings_free(&s);
}

/* True when conf has "key =" under "[section]". */
static bool
conf_file_has_key(const char *path, const char *section, const char *key)
{
	char line[1024], cur[64] = "";
	size_t n = strlen(key);
	bool found = false;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "[%63[^]]]", cur) == 1)
			continue;
		found = strcmp(cur, section) == 0 &&
		    strncmp(line, key, n) == 0 && line[n] == ' ' &&
		    line[n + 1] == '=';
	}
	fclose(f);
	return found;
}

/* The manual page has a ".B key" line (the key's own entry). */
static bool
man_page_has_key(const char *path, const char *key)
{
	char line[512], want[96];
	bool found = false;
	FILE *f;

	snprintf(want, sizeof want, ".B %s\n", key);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = strcmp(line, want) == 0;
	fclose(f);
	return found;
}

static void
settings_sample_config_names_every_key(void)
{
	char *text = NULL, *line, *save, section[64], key[64];
	size_t size = 0;
	unsigned keys = 0;
	FILE *out;

	out = open_memstream(&text, &size);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	settings_print_keys(out);
	fclose(out);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		CU_ASSERT_EQUAL_FATAL(
		    sscanf(line, "[%63[^]]] %63s", section, key), 2);
		if (!conf_file_has_key(
			cunit_srcpath("conf/mttd.conf"), section, key))
			fprintf(stderr, "\n  not in conf/mttd.conf: [%s] %s\n",
			    section, key);
		CU_ASSERT_TRUE(conf_file_has_key(
		    cunit_srcpath("conf/mttd.conf"), section, key));
		if (!man_page_has_key(cunit_srcpath("doc/mttd.conf.5"), key))
			fprintf(
			    stderr, "\n  not in doc/mttd.conf.5: %s\n", key);
		CU_ASSERT_TRUE(
		    man_page_has_key(cunit_srcpath("doc/mttd.conf.5"), key));
		keys++;
	}
	CU_ASSERT_EQUAL(keys, 42);
	free(text);
}

static void
settings_print_keys_shows_default_and_help(void)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out;

	out = open_memstream(&text, &size);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	settings_print_keys(out);
	fclose(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
	    "[server] socket_port (0..65535, default "
	    "9080): TCP port"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(text, "[pg_v3] query_timeout (0..86400, default 120): "));
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
	    "[logging] log_file (default "
	    "none): "));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(text, "[pg_v3] password (default \"\"): "));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "[auth] realm (default mtt): "));
	free(text);
}

static const char every_key_conf[] =
    "[server]\n"
    "socket_host = 0.0.0.0\n"
    "socket_port = 0\n"
    "url_docroot = http://example.org/mtt/\n"
    "url_prefix = /submit/cpy/api/\n"
    "max_body_size = 2G\n"
    "max_query_body_size = 16K\n"
    "max_header_size = 32K\n"
    "trust_forwarded_for = yes\n"
    "cors_origin = https://viewer.example.org\n"
    "request_timeout = 5\n"
    "answer_timeout = 86400\n"
    "idle_timeout = 7\n"
    "min_request_rate = 0\n"
    "max_connections = 1000000\n"
    "drain_timeout = 3600\n"
    "workers = 64\n"
    "hang_timeout = 0\n"
    "max_waiting = 0\n"
    "db_wait_timeout = 3600\n"
    "\n"
    "[logging]\n"
    "log_level = warning\n"
    "log_file = /var/log/mttd/mttd.log\n"
    "access_log = access.log\n"
    "\n"
    "[pg_v3]\n"
    "type = postgres\n"
    "dbname = results\n"
    "username = writer\n"
    "password = s3cr=t:x\n"
    "server = /run/postgresql\n"
    "port = 6543\n"
    "sslmode = verify-full\n"
    "pool_size = 256\n"
    "prepared_statements = 7\n"
    "stream_share = 3\n"
    "read_server = replica.example.org\n"
    "read_port = 5433\n"
    "connect_timeout = 3600\n"
    "query_timeout = 0\n"
    "idle_check = 86400\n"
    "analyze_after = 5\n"
    "\n"
    "[auth]\n"
    "htpasswd_file = ../etc/htpasswd\n"
    "max_failed_logins = 1000000\n"
    "realm = MTT results\n";

static void
settings_parses_every_key(void)
{
	char want[PATH_MAX + 64], *cause = NULL;
	struct settings s;

	CU_ASSERT_EQUAL_FATAL(conf_load(every_key_conf, &s, &cause), 0);
	CU_ASSERT_STRING_EQUAL(s.socket_host, "0.0.0.0");
	CU_ASSERT_EQUAL(s.socket_port, 0);
	CU_ASSERT_STRING_EQUAL(s.url_docroot, "http://example.org/mtt/");
	CU_ASSERT_STRING_EQUAL(s.url_prefix, "/submit/cpy/api");
	CU_ASSERT_EQUAL(s.max_body_size, (size_t)2 << 30);
	CU_ASSERT_EQUAL(s.max_query_body_size, (size_t)16 << 10);
	CU_ASSERT_EQUAL(s.max_header_size, (size_t)32 << 10);
	CU_ASSERT_TRUE(s.trust_forwarded_for);
	CU_ASSERT_STRING_EQUAL(s.cors_origin, "https://viewer.example.org");
	CU_ASSERT_EQUAL(s.request_timeout_s, 5);
	CU_ASSERT_EQUAL(s.answer_timeout_s, 86400);
	CU_ASSERT_EQUAL(s.idle_timeout_s, 7);
	CU_ASSERT_EQUAL(s.min_request_rate, 0);
	CU_ASSERT_EQUAL(s.max_connections, 1000000);
	CU_ASSERT_EQUAL(s.drain_timeout_s, 3600);
	CU_ASSERT_EQUAL(s.workers, 64);
	CU_ASSERT_EQUAL(s.hang_timeout_s, 0);
	CU_ASSERT_EQUAL(s.max_waiting, 0);
	CU_ASSERT_EQUAL(s.db_wait_timeout_s, 3600);
	CU_ASSERT_EQUAL(s.log_level, LOG_LEVEL_WARNING);
	CU_ASSERT_STRING_EQUAL(s.log_file, "/var/log/mttd/mttd.log");
	snprintf(want, sizeof want, "%s/access.log", test_dir);
	CU_ASSERT_STRING_EQUAL(s.access_log, want);
	CU_ASSERT_STRING_EQUAL(s.db_type, "postgres");
	CU_ASSERT_STRING_EQUAL(s.dbname, "results");
	CU_ASSERT_STRING_EQUAL(s.username, "writer");
	CU_ASSERT_STRING_EQUAL(s.password, "s3cr=t:x");
	CU_ASSERT_STRING_EQUAL(s.server, "/run/postgresql");
	CU_ASSERT_EQUAL(s.port, 6543);
	CU_ASSERT_STRING_EQUAL(s.sslmode, "verify-full");
	CU_ASSERT_EQUAL(s.pool_size, 256);
	CU_ASSERT_EQUAL(s.prepared_statements, 7);
	CU_ASSERT_EQUAL(s.stream_share, 3);
	CU_ASSERT_STRING_EQUAL(s.read_server, "replica.example.org");
	CU_ASSERT_EQUAL(s.read_port, 5433);
	CU_ASSERT_EQUAL(s.connect_timeout_s, 3600);
	CU_ASSERT_EQUAL(s.query_timeout_s, 0);
	CU_ASSERT_EQUAL(s.idle_check_s, 86400);
	CU_ASSERT_EQUAL(s.analyze_after, 5);
	snprintf(want, sizeof want, "%s/../etc/htpasswd", test_dir);
	CU_ASSERT_STRING_EQUAL(s.htpasswd_file, want);
	CU_ASSERT_STRING_EQUAL(s.realm, "MTT results");
	CU_ASSERT_EQUAL(s.max_failed_logins, 1000000);
	CU_ASSERT_STRING_EQUAL(s.config_path, test_path);
	CU_ASSERT_STRING_EQUAL(s.config_dir, test_dir);
	settings_free(&s);
}

static void
settings_load_reads_over_what_s_holds(void)
{
	struct settings s;
	char *cause = NULL;

	/* Keys the file leaves out keep what the caller put in s. */
	settings_defaults(&s);
	s.socket_port = 1234;
	CU_ASSERT_EQUAL_FATAL(
	    settings_load(
		conf_write("[server]\ncors_origin = x\n"), &s, &cause),
	    0);
	CU_ASSERT_EQUAL(s.socket_port, 1234);
	CU_ASSERT_STRING_EQUAL(s.cors_origin, "x");
	settings_free(&s);
}

static void
settings_accepts_colon_separator(void)
{
	struct settings s;
	char *cause = NULL;

	/* The first '=' or ':' separates, so URLs keep their colons. */
	CU_ASSERT_EQUAL_FATAL(
	    conf_load(
		"[server]\nsocket_port: 81\n"
		"url_docroot: http://h:8080/a=b\ncors_origin = http://h:1\n"
		"socket_host: ::1\n",
		&s, &cause),
	    0);
	CU_ASSERT_EQUAL(s.socket_port, 81);
	CU_ASSERT_STRING_EQUAL(s.url_docroot, "http://h:8080/a=b");
	CU_ASSERT_STRING_EQUAL(s.cors_origin, "http://h:1");
	CU_ASSERT_STRING_EQUAL(s.socket_host, "::1");
	settings_free(&s);
}

/* Texts that go into a header, or name the address to listen on. */
static void
settings_checks_header_texts(void)
{
	static const struct {
		const char *key, *value, *cause;
	} cases[] = {
		{ "socket_host", "",
		    "key 'socket_host': empty (an address or"
		    " host name to listen on)" },
		{ "socket_host", "a host",
		    "key 'socket_host': 'a host': character 2 (' ') is not"
		    " allowed here" },
		{ "cors_origin", "",
		    "key 'cors_origin': empty (an origin such as"
		    " https://mtt.example.org, or *)" },
		{ "cors_origin", "https://a.example.org\x01",
		    "key 'cors_origin': 'https://a.example.org\x01': character"
		    " 22 ('?') is not allowed here" },
		{ "realm", "a\"b",
		    "key 'realm': 'a\"b': character 2 ('\"') is not allowed"
		    " here" },
		{ "realm", "a\\b",
		    "key 'realm': 'a\\b': character 2 ('\\') is not allowed"
		    " here" },
	};
	struct settings s;
	char text[256], *cause = NULL;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "[%s]\n%s = %s\n",
		    strcmp(cases[i].key, "realm") == 0 ? "auth" : "server",
		    cases[i].key, cases[i].value);
		CU_ASSERT_EQUAL_FATAL(conf_load(text, &s, &cause), -1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(cause, ":2: "));
		CU_ASSERT_STRING_EQUAL(
		    strstr(cause, ":2: ") + 4, cases[i].cause);
		free(cause);
	}

	/* An empty realm is a realm; spaces are fine in it. */
	CU_ASSERT_EQUAL_FATAL(conf_load("[auth]\nrealm =\n", &s, &cause), 0);
	CU_ASSERT_STRING_EQUAL(s.realm, "");
	settings_free(&s);
	CU_ASSERT_EQUAL_FATAL(
	    conf_load("[auth]\nrealm = mtt results\n", &s, &cause), 0);
	CU_ASSERT_STRING_EQUAL(s.realm, "mtt results");
	CU_ASSERT_EQUAL(settings_key_line(&s, "realm"), 2);
	CU_ASSERT_EQUAL(settings_key_line(&s, "socket_host"), 0);
	settings_free(&s);
}

static void
settings_skips_comments_and_blank_lines(void)
{
	struct settings s;
	char *cause = NULL;

	CU_ASSERT_EQUAL_FATAL(
	    conf_load("\xef\xbb\xbf# comment\n; comment\n"
		      "   \n\t\n  # indented comment\n[server]\r\n"
		      "  socket_port   =   81  \r\n; socket_port = 82\n"
		      "#socket_host = x\n\n[logging]\nlog_level=error\n",
		&s, &cause),
	    0);
	CU_ASSERT_EQUAL(s.socket_port, 81);
	CU_ASSERT_STRING_EQUAL(s.socket_host, "127.0.0.1");
	CU_ASSERT_EQUAL(s.log_level, LOG_LEVEL_ERROR);
	settings_free(&s);
}

static void
settings_accepts_empty_values(void)
{
	struct settings s;
	char *cause = NULL;

	CU_ASSERT_EQUAL_FATAL(
	    conf_load("[pg_v3]\npassword =\n[logging]\n"
		      "log_file =   \naccess_log=\n[auth]\nhtpasswd_file =\n",
		&s, &cause),
	    0);
	CU_ASSERT_STRING_EQUAL(s.password, "");
	CU_ASSERT_PTR_NULL(s.log_file);
	CU_ASSERT_PTR_NULL(s.access_log);
	CU_ASSERT_PTR_NULL(s.htpasswd_file);
	settings_free(&s);
}

static void
settings_keys_match_in_any_case(void)
{
	struct settings s;

	CU_ASSERT_EQUAL_FATAL(
	    conf_load_one("server", "Socket_PORT", "82", &s), 0);
	CU_ASSERT_EQUAL(s.socket_port, 82);
	settings_free(&s);
}

static void
settings_parses_sizes(void)
{
	static const struct {
		const char *text;
		size_t bytes;
	} good[] = {
		{ "1024", 1024 },
		{ "1K", 1024 },
		{ "1k", 1024 },
		{ "64M", (size_t)64 << 20 },
		{ "3m", (size_t)3 << 20 },
		{ "2G", (size_t)2 << 30 },
		{ "1048576", 1048576 },
	};
	static const char *const bad[] = {
		"12MB",
		"1T",
		"M",
		"-1",
		"1.5M",
		"0x400",
		"1 M",
		"",
	};
	struct settings s;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		CU_ASSERT_EQUAL_FATAL(
		    conf_load_one("server", "max_body_size", good[i].text, &s),
		    0);
		CU_ASSERT_EQUAL(s.max_body_size, good[i].bytes);
		settings_free(&s);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_EQUAL(
		    conf_load_one("server", "max_body_size", bad[i], &s), -1);
	conf_expect_error("[server]\nmax_body_size = 1023\n",
	    "2: key 'max_body_size': 1023 is below the minimum of 1024 bytes");
	conf_expect_error("[server]\nmax_body_size = 99999999999G\n",
	    "2: key 'max_body_size': 99999999999G is too large");
	conf_expect_error("[server]\nmax_body_size = 12MB\n",
	    "2: key 'max_body_size': '12MB' is not a size");
	/* Allocated at start-up and on SIGHUP: 32G for 32K had aborted
	 * mttd (break-it helper 50). */
	conf_expect_error("[logging]\naccess_log_buffer = 100G\n",
	    "2: key 'access_log_buffer': 100G is above the maximum of 67108864"
	    " bytes (64M)");
	conf_expect_error("[logging]\naccess_log_buffer = 65537K\n",
	    "2: key 'access_log_buffer': 65537K is above the maximum of"
	    " 67108864 bytes (64M)");
	CU_ASSERT_EQUAL_FATAL(
	    conf_load_one("logging", "access_log_buffer", "64M", &s), 0);
	CU_ASSERT_EQUAL(s.access_log_buffer, (size_t)64 << 20);
	settings_free(&s);
}

static void
settings_parses_bools(void)
{
	static const char *const yes[] = { "true", "yes", "on", "1", "TRUE",
		"Yes", "ON" };
	static const char *const no[] = { "false", "no", "off", "0", "False",
		"NO", "Off" };
	struct settings s;
	size_t i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		CU_ASSERT_EQUAL_FATAL(
		    conf_load_one("server", "trust_forwarded_for", yes[i], &s),
		    0);
		CU_ASSERT_TRUE(s.trust_forwarded_for);
		settings_free(&s);
		CU_ASSERT_EQUAL_FATAL(
		    conf_load_one("server", "trust_forwarded_for", no[i], &s),
		    0);
		CU_ASSERT_FALSE(s.trust_forwarded_for);
		settings_free(&s);
	}
	conf_expect_error("[server]\ntrust_forwarded_for = maybe\n",
	    "2: key 'trust_forwarded_for': 'maybe' is not a boolean");
	conf_expect_error("[server]\ntrust_forwarded_for =\n",
	    "2: key 'trust_forwarded_for': '' is not a boolean");
}

static void
settings_checks_int_ranges(void)
{
	static const struct {
		const char *section, *key, *value;
		int ok;
	} cases[] = {
		{ "server", "socket_port", "0", 0 },
		{ "server", "socket_port", "65535", 0 },
		{ "server", "socket_port", "65536", -1 },
		{ "server", "socket_port", "-1", -1 },
		{ "server", "socket_port", "80x", -1 },
		{ "server", "socket_port", "+80", -1 },
		{ "server", "socket_port", "99999999999999999999", -1 },
		{ "server", "request_timeout", "0", -1 },
		{ "server", "request_timeout", "86400", 0 },
		{ "server", "request_timeout", "86401", -1 },
		{ "server", "max_waiting", "1000000", 0 },
		{ "server", "max_waiting", "1000001", -1 },
		{ "server", "db_wait_timeout", "1", 0 },
		{ "server", "db_wait_timeout", "3601", -1 },
		{ "server", "hang_timeout", "-1", -1 },
		{ "server", "hang_timeout", "3600", 0 },
		{ "server", "hang_timeout", "3601", -1 },
		{ "pg_v3", "pool_size", "0", -1 },
		{ "pg_v3", "pool_size", "257", -1 },
		{ "pg_v3", "port", "0", -1 },
		{ "pg_v3", "port", "65535", 0 },
		{ "pg_v3", "connect_timeout", "0", -1 },
		{ "pg_v3", "connect_timeout", "3601", -1 },
		{ "pg_v3", "query_timeout", "-1", -1 },
		{ "pg_v3", "query_timeout", "86400", 0 },
		{ "pg_v3", "query_timeout", "86401", -1 },
		{ "pg_v3", "idle_check", "-1", -1 },
		{ "pg_v3", "idle_check", "0", 0 },
		{ "pg_v3", "idle_check", "86401", -1 },
		{ "pg_v3", "analyze_after", "0", 0 },
		{ "pg_v3", "analyze_after", "1000000000", 0 },
		{ "pg_v3", "analyze_after", "1000000001", -1 },
		{ "pg_v3", "analyze_after", "-1", -1 },
	};
	struct settings s;
	size_t i;
	int rc;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rc = conf_load_one(
		    cases[i].section, cases[i].key, cases[i].value, &s);
		if (rc != cases[i].ok)
			fprintf(stderr, "\n  %s = %s: got %d\n", cases[i].key,
			    cases[i].value, rc);
		CU_ASSERT_EQUAL(rc, cases[i].ok);
		if (rc == 0)
			settings_free(&s);
	}
	conf_expect_error("[server]\n\nsocket_port = 65536\n",
	    "3: key 'socket_port': 65536 is out of range 0..65535");
	conf_expect_error("[server]\nsocket_port = nine\n",
	    "2: key 'socket_port': 'nine' is not an integer");
	conf_expect_error("[pg_v3]\npool_size = 300\n",
	    "2: key 'pool_size': 300 is out of range 1..256");
}

static void
settings_resolves_relative_paths(void)
{
	char want[PATH_MAX + 64], *cause = NULL;
	struct settings s;

	CU_ASSERT_EQUAL_FATAL(
	    conf_load(
		"[logging]\nlog_file = log/m.log\n"
		"access_log = /abs/access.log\n[auth]\nhtpasswd_file = pw\n",
		&s, &cause),
	    0);
	snprintf(want, sizeof want, "%s/log/m.log", test_dir);
	CU_ASSERT_STRING_EQUAL(s.log_file, want);
	CU_ASSERT_STRING_EQUAL(s.access_log, "/abs/access.log");
	snprintf(want, sizeof want, "%s/pw", test_dir);
	CU_ASSERT_STRING_EQUAL(s.htpasswd_file, want);
	settings_free(&s);
}

static void
settings_resolves_paths_of_a_relative_config(void)
{
	char cwd[PATH_MAX], want[PATH_MAX + 64], *cause = NULL;
	struct settings s;

	/* Load "./tN.conf" and "sub/../tN.conf" from inside test_dir. */
	conf_write("[logging]\nlog_file = x.log\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
	CU_ASSERT_EQUAL_FATAL(chdir(test_dir), 0);
	snprintf(want, sizeof want, "./t%u.conf", test_serial);
	CU_ASSERT_EQUAL(load(want, &s, &cause), 0);
	CU_ASSERT_EQUAL_FATAL(chdir(cwd), 0);
	CU_ASSERT_STRING_EQUAL(s.config_dir, test_dir);
	snprintf(want, sizeof want, "%s/x.log", test_dir);
	CU_ASSERT_STRING_EQUAL(s.log_file, want);
	settings_free(&s);
}

static void
settings_normalises_url_prefix(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "/", "" },
		{ "///", "" },
		{ "a", "/a" },
		{ "/a/", "/a" },
		{ "//a//b//", "/a/b" },
		{ "/submit/cpy/api", "/submit/cpy/api" },
		{ "submit/cpy/api/", "/submit/cpy/api" },
	};
	struct settings s;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CU_ASSERT_EQUAL_FATAL(
		    conf_load_one("server", "url_prefix", cases[i].in, &s), 0);
		CU_ASSERT_STRING_EQUAL(s.url_prefix, cases[i].out);
		settings_free(&s);
	}
	conf_expect_error("[server]\nurl_prefix = /a b\n",
	    "2: key 'url_prefix': '/a b' is not a URL path");
	conf_expect_error("[server]\nurl_prefix = /a?x=1\n",
	    "2: key 'url_prefix': '/a?x=1' is not a URL path");
}

static void
settings_parses_log_levels(void)
{
	static const struct {
		const char *name;
		enum log_level level;
	} cases[] = {
		{ "DEBUG", LOG_LEVEL_DEBUG },
		{ "debug", LOG_LEVEL_DEBUG },
		{ "Info", LOG_LEVEL_INFO },
		{ "WARNING", LOG_LEVEL_WARNING },
		{ "warn", LOG_LEVEL_WARNING },
		{ "error", LOG_LEVEL_ERROR },
		{ "CRITICAL", LOG_LEVEL_CRITICAL },
	};
	struct settings s;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CU_ASSERT_EQUAL_FATAL(
		    conf_load_one("logging", "log_level", cases[i].name, &s),
		    0);
		CU_ASSERT_EQUAL(s.log_level, cases[i].level);
		settings_free(&s);
	}
	conf_expect_error("[logging]\nlog_level = verbose\n",
	    "2: key 'log_level': 'verbose' is not a log level");
}

static void
settings_rejects_unknown_key(void)
{
	conf_expect_error("[server]\nsocket_port = 1\nbogus = 2\n",
	    "3: key 'bogus': unknown key in this section");
}

static void
settings_rejects_key_of_another_section(void)
{
	conf_expect_error("[logging]\nsocket_port = 1\n",
	    "2: key 'socket_port': unknown key in this section");
}

static void
settings_rejects_unknown_section(void)
{
	conf_expect_error("# x\n[web]\nsocket_port = 1\n",
	    "2: section 'web': unknown section");
	conf_expect_error(
	    "[DEFAULT]\n", "1: section 'DEFAULT': unknown section");
}

static void
settings_rejects_unterminated_section(void)
{
	conf_expect_error("[server\n", "1: section '[server': missing ']'");
}

static void
settings_rejects_repeated_section_and_key(void)
{
	conf_expect_error("[server]\n[logging]\n[server]\n",
	    "3: section 'server': repeated (first on line 1)");
	conf_expect_error("[server]\nsocket_port = 1\nSOCKET_PORT = 2\n",
	    "3: key 'SOCKET_PORT': set twice (first on line 2)");
}

static void
settings_rejects_key_before_section(void)
{
	conf_expect_error("\nsocket_port = 1\n[server]\n",
	    "2: key 'socket_port': key before any [section]");
}

static void
settings_rejects_line_that_is_not_a_setting(void)
{
	conf_expect_error("[server]\nsocket_port 9080\n",
	    "2: key 'socket_port 9080': not a [section], a comment or a "
	    "'key = value' line");
	conf_expect_error("[server]\n= 5\n", "2: key '': empty key");
}

/* A NUL would have cut the line short: port 19, a realm's check of the
 * rest skipped. */
static void
settings_rejects_nul_byte(void)
{
	static const char text[] = "[server]\nsocket_port = 19\00099\n";
	char want[PATH_MAX + 128], *cause = NULL;
	struct settings s;
	FILE *f;

	conf_write("");
	f = fopen(test_path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fwrite(text, 1, sizeof text - 1, f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(load(test_path, &s, &cause), -1);
	snprintf(want, sizeof want,
	    "%s:2: a NUL byte in the line (is the file text, in UTF-8?)",
	    test_path);
	CU_ASSERT_STRING_EQUAL(cause, want);
	free(cause);
}

static void
settings_rejects_database_type_other_than_postgres(void)
{
	conf_expect_error("[pg_v3]\ntype = mysql\n",
	    "2: key 'type': 'mysql' is not supported (only postgres)");
}

static void
settings_sslmode_auto_or_libpq_value(void)
{
	static const char *const good[] = { "auto", "disable", "allow",
		"prefer", "require", "verify-ca", "verify-full" };
	struct settings s;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		CU_ASSERT_EQUAL_FATAL(
		    conf_load_one("pg_v3", "sslmode", good[i], &s), 0);
		CU_ASSERT_STRING_EQUAL(s.sslmode, good[i]);
		settings_free(&s);
	}
	conf_expect_error("[pg_v3]\nsslmode = on\n",
	    "2: key 'sslmode': 'on' is not auto, disable, allow, prefer,"
	    " require, verify-ca or verify-full");
	/* auto: no TLS to this machine, libpq's choice elsewhere. */
	unsetenv("PGSSLMODE");
	CU_ASSERT_STRING_EQUAL(db_sslmode_for("auto", "127.0.0.1"), "disable");
	CU_ASSERT_STRING_EQUAL(db_sslmode_for("auto", "127.3.2.1"), "disable");
	CU_ASSERT_STRING_EQUAL(db_sslmode_for("auto", "localhost"), "disable");
	CU_ASSERT_STRING_EQUAL(db_sslmode_for("auto", "::1"), "disable");
	CU_ASSERT_STRING_EQUAL(
	    db_sslmode_for("auto", "/var/run/postgresql"), "disable");
	CU_ASSERT_PTR_NULL(db_sslmode_for("auto", "db.example.org"));
	CU_ASSERT_PTR_NULL(db_sslmode_for("auto", "128.0.0.1"));
	CU_ASSERT_STRING_EQUAL(
	    db_sslmode_for("require", "127.0.0.1"), "require");
	/* Every host of a list must be local; 127.1 is not an address. */
	CU_ASSERT_STRING_EQUAL(
	    db_sslmode_for("auto", "/run/postgresql,::1"), "disable");
	CU_ASSERT_PTR_NULL(db_sslmode_for("auto", "/run/postgresql,127.1"));
	CU_ASSERT_PTR_NULL(db_sslmode_for("auto", "127.0.0.1,db.example.org"));
	CU_ASSERT_PTR_NULL(db_sslmode_for("auto", "127.0.0.1,"));
	CU_ASSERT_STRING_EQUAL(db_sslmode_for("auto", "LocalHost"), "disable");
	CU_ASSERT_STRING_EQUAL(
	    db_sslmode_for("auto", "0:0:0:0:0:0:0:1"), "disable");
	CU_ASSERT_STRING_EQUAL(
	    db_sslmode_for("auto", "::ffff:127.0.0.1"), "disable");
	CU_ASSERT_PTR_NULL(db_sslmode_for("auto", "::ffff:10.0.0.1"));
	/* No server: PGHOST's hosts, or libpq's socket folder. */
	unsetenv("PGHOST");
	CU_ASSERT_STRING_EQUAL(db_sslmode_for("auto", ""), "disable");
	setenv("PGHOST", "db.example.org", 1);
	CU_ASSERT_PTR_NULL(db_sslmode_for("auto", ""));
	CU_ASSERT_STRING_EQUAL(db_sslmode_for("auto", "127.0.0.1"), "disable");
	setenv("PGHOST", "/run/postgresql", 1);
	CU_ASSERT_STRING_EQUAL(db_sslmode_for("auto", ""), "disable");
	unsetenv("PGHOST");
	/* An operator's PGSSLMODE decides even for this machine. */
	setenv("PGSSLMODE", "require", 1);
	CU_ASSERT_PTR_NULL(db_sslmode_for("auto", "127.0.0.1"));
	unsetenv("PGSSLMODE");
}

static void
settings_gssencmode_follows_sslmode_auto(void)
{
	const char *keys[11] = { "host" }, *values[11] = { "127.0.0.1" };

	/* auto: no GSSAPI encryption to this machine, libpq's elsewhere. */
	unsetenv("PGGSSENCMODE");
	CU_ASSERT_STRING_EQUAL(
	    db_gssencmode_for("auto", "127.0.0.1"), "disable");
	CU_ASSERT_STRING_EQUAL(
	    db_gssencmode_for("auto", "/var/run/postgresql"), "disable");
	CU_ASSERT_PTR_NULL(db_gssencmode_for("auto", "db.example.org"));
	CU_ASSERT_PTR_NULL(
	    db_gssencmode_for("auto", "/var/run/postgresql,db.example.org"));
	CU_ASSERT_PTR_NULL(db_gssencmode_for("require", "127.0.0.1"));
	CU_ASSERT_PTR_NULL(db_gssencmode_for("disable", "127.0.0.1"));
	setenv("PGGSSENCMODE", "prefer", 1);
	CU_ASSERT_PTR_NULL(db_gssencmode_for("auto", "127.0.0.1"));
	unsetenv("PGGSSENCMODE");

	/* Only what is set goes to libpq, and the arrays end with NULL. */
	db_security_params(keys, values, 1, "disable", "disable");
	CU_ASSERT_STRING_EQUAL(keys[1], "sslmode");
	CU_ASSERT_STRING_EQUAL(values[1], "disable");
	CU_ASSERT_STRING_EQUAL(keys[2], "gssencmode");
	CU_ASSERT_STRING_EQUAL(values[2], "disable");
	CU_ASSERT_PTR_NULL(keys[3]);
	CU_ASSERT_PTR_NULL(values[3]);
	db_security_params(keys, values, 1, NULL, "disable");
	CU_ASSERT_STRING_EQUAL(keys[1], "gssencmode");
	CU_ASSERT_PTR_NULL(keys[2]);
	db_security_params(keys, values, 1, NULL, NULL);
	CU_ASSERT_PTR_NULL(keys[1]);
	CU_ASSERT_PTR_NULL(values[1]);
}

/* The value pg_v3's password gets from "password = <written>", or
 * NULL when the file is refused. */
static char *
password_of(const char *written)
{
	struct settings s;
	char *got;

	if (conf_load_one("pg_v3", "password", written, &s) != 0)
		return NULL;
	got = strdup(s.password);
	settings_free(&s);
	return got;
}

static void
settings_reads_values_as_the_reference_does(void)
{
	static const struct {
		const char *written, *want;
	} cases[] = {
		{ "mttpw", "mttpw" },
		{ "mttpw   # the database's", "mttpw" },
		{ "mttpw\t# tab before", "mttpw" },
		{ "\"mttpw\"", "mttpw" },
		{ "'mttpw'", "mttpw" },
		{ "\"pa#ss, w'rd\" # quoted", "pa#ss, w'rd" },
		{ "'say \"hi\"'", "say \"hi\"" },
		{ "\"\"", "" },
		{ "# only a comment", "" },
		{ "a, b", "a, b" },
	};
	struct settings s;
	char *got;
	size_t i;

	for (i = 0; i < CUNIT_NCASES(cases); i++) {
		got = password_of(cases[i].written);
		CHECK(got != NULL && strcmp(got, cases[i].want) == 0,
		    "password = %s: got %s, want \"%s\"", cases[i].written,
		    got ? got : "a refusal", cases[i].want);
		free(got);
	}

	/* ConfigObj's values are text, quoted or not, numbers too. */
	CU_ASSERT_EQUAL_FATAL(
	    conf_load_one("server", "socket_port", "\"19492\"", &s), 0);
	CU_ASSERT_EQUAL(s.socket_port, 19492);
	settings_free(&s);
	CU_ASSERT_EQUAL_FATAL(
	    conf_load_one("logging", "log_level", "INFO # quiet", &s), 0);
	CU_ASSERT_EQUAL(s.log_level, LOG_LEVEL_INFO);
	settings_free(&s);
}

static void
settings_reads_a_comment_after_a_section(void)
{
	struct settings s;
	char *cause = NULL;

	CU_ASSERT_EQUAL_FATAL(conf_load("[server]   # the web side\n"
					"socket_port = 9081\n[pg_v3]#db\n",
				  &s, &cause),
	    0);
	CU_ASSERT_EQUAL(s.socket_port, 9081);
	settings_free(&s);
	conf_expect_error("[server] x\n",
	    "1: section '[server] x': 'x' after"
	    " ']'");
}

static void
settings_rejects_values_the_reference_would_misread(void)
{
	conf_expect_error("[pg_v3]\npassword = ab#cd\n",
	    "2: key 'password': '#' starts a comment in this file, as in the"
	    " reference's: put a value that holds one in quotes, or a space"
	    " before a comment");
	conf_expect_error(
	    "[pg_v3]\npassword = \"abc\n", "2: key 'password': no closing \"");
	conf_expect_error("[pg_v3]\npassword = 'abc' x # y\n",
	    "2: key 'password': 'x # y' after the closing '");
	conf_expect_error("[pg_v3]\npassword = \"\"\"abc\"\"\"\n",
	    "2: key 'password': a triple-quoted (multi-line) value is not"
	    " supported");
	conf_expect_error(
	    "[server]\nsocket_port = \"80x\"\n", "2: key 'socket_port': '80x'");
}

static void
settings_rejects_missing_file(void)
{
	char path[PATH_MAX + 32], want[PATH_MAX + 96], *cause = NULL;
	struct settings s;

	snprintf(path, sizeof path, "%s/missing.conf", test_dir);
	CU_ASSERT_EQUAL_FATAL(load(path, &s, &cause), -1);
	snprintf(want, sizeof want,
	    "%s: cannot open: No such file or directory", path);
	CU_ASSERT_STRING_EQUAL(cause, want);
	free(cause);
}

static void
settings_fixed_change_names_keys_needing_restart(void)
{
	struct settings a, b, c;
	char *cause = NULL;

	CU_ASSERT_EQUAL_FATAL(
	    conf_load("[server]\nsocket_port = 1\n", &a, &cause), 0);
	CU_ASSERT_EQUAL_FATAL(
	    conf_load(
		"[server]\nsocket_port = 1\n"
		"[logging]\nlog_level = DEBUG\nlog_file = x\n[auth]\nrealm = r\n",
		&b, &cause),
	    0);
	CU_ASSERT_EQUAL_FATAL(
	    conf_load("[server]\nsocket_port = 2\n", &c, &cause), 0);
	CU_ASSERT_PTR_NULL(settings_fixed_change(&a, &b));
	CU_ASSERT_PTR_NULL(settings_fixed_change(&a, &a));
	CU_ASSERT_STRING_EQUAL(settings_fixed_change(&a, &c), "socket_port");
	settings_free(&a);
	settings_free(&b);
	settings_free(&c);
}

static const struct cunit_case settings_cases[] = {
	{ "settings_loads_reference_template",
	    settings_loads_reference_template },
	{ "settings_defaults_are_the_documented_ones",
	    settings_defaults_are_the_documented_ones },
	{ "settings_sample_config_loads_as_defaults",
	    settings_sample_config_loads_as_defaults },
	{ "settings_sample_config_names_every_key",
	    settings_sample_config_names_every_key },
	{ "settings_print_keys_shows_default_and_help",
	    settings_print_keys_shows_default_and_help },
	{ "settings_parses_every_key", settings_parses_every_key },
	{ "settings_load_reads_over_what_s_holds",
	    settings_load_reads_over_what_s_holds },
	{ "settings_accepts_colon_separator",
	    settings_accepts_colon_separator },
	{ "settings_skips_comments_and_blank_lines",
	    settings_skips_comments_and_blank_lines },
	{ "settings_accepts_empty_values", settings_accepts_empty_values },
	{ "settings_checks_header_texts", settings_checks_header_texts },
	{ "settings_keys_match_in_any_case", settings_keys_match_in_any_case },
	{ "settings_parses_sizes", settings_parses_sizes },
	{ "settings_parses_bools", settings_parses_bools },
	{ "settings_checks_int_ranges", settings_checks_int_ranges },
	{ "settings_resolves_relative_paths",
	    settings_resolves_relative_paths },
	{ "settings_resolves_paths_of_a_relative_config",
	    settings_resolves_paths_of_a_relative_config },
	{ "settings_normalises_url_prefix", settings_normalises_url_prefix },
	{ "settings_parses_log_levels", settings_parses_log_levels },
	{ "settings_rejects_unknown_key", settings_rejects_unknown_key },
	{ "settings_rejects_key_of_another_section",
	    settings_rejects_key_of_another_section },
	{ "settings_rejects_unknown_section",
	    settings_rejects_unknown_section },
	{ "settings_rejects_unterminated_section",
	    settings_rejects_unterminated_section },
	{ "settings_rejects_repeated_section_and_key",
	    settings_rejects_repeated_section_and_key },
	{ "settings_rejects_key_before_section",
	    settings_rejects_key_before_section },
	{ "settings_rejects_nul_byte", settings_rejects_nul_byte },
	{ "settings_rejects_line_that_is_not_a_setting",
	    settings_rejects_line_that_is_not_a_setting },
	{ "settings_rejects_database_type_other_than_postgres",
	    settings_rejects_database_type_other_than_postgres },
	{ "settings_sslmode_auto_or_libpq_value",
	    settings_sslmode_auto_or_libpq_value },
	{ "settings_gssencmode_follows_sslmode_auto",
	    settings_gssencmode_follows_sslmode_auto },
	{ "settings_reads_values_as_the_reference_does",
	    settings_reads_values_as_the_reference_does },
	{ "settings_reads_a_comment_after_a_section",
	    settings_reads_a_comment_after_a_section },
	{ "settings_rejects_values_the_reference_would_misread",
	    settings_rejects_values_the_reference_would_misread },
	{ "settings_rejects_missing_file", settings_rejects_missing_file },
	{ "settings_fixed_change_names_keys_needing_restart",
	    settings_fixed_change_names_keys_needing_restart },
};

/* Remove the files the cases wrote, then the folder. */
static void
test_dir_remove(void)
{
	char path[PATH_MAX + 32];
	unsigned i;

	for (i = 1; i <= test_serial; i++) {
		snprintf(path, sizeof path, "%s/t%u.conf", test_dir, i);
		unlink(path);
	}
	rmdir(test_dir);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");
	char real[PATH_MAX];
	int rc;

	if (tmp == NULL || *tmp != '/')
		tmp = "/tmp";
	snprintf(test_dir, sizeof test_dir, "%s/mttd-settings-XXXXXX", tmp);
	if (mkdtemp(test_dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}

	/* getcwd answers without links; so must the folder we compare. */
	if (realpath(test_dir, real) == NULL) {
		perror("realpath");
		return 2;
	}
	snprintf(test_dir, sizeof test_dir, "%s", real);
	rc = cunit_run(
	    "settings", settings_cases, CUNIT_NCASES(settings_cases));
	test_dir_remove();
	return rc;
}
