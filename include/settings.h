/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Settings: the INI configuration file (the reference's mtt_server.cfg
 * plus mttd's own keys), described once in an option table.
 */
#ifndef MTTD_SETTINGS_H
#define MTTD_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

struct settings {
	char *config_path;   /* As given on the command line. */
	char *config_dir;    /* Its folder: base of relative paths. */
	unsigned *key_lines; /* Line of each key in the file; 0: not set. */

	/* [server] */
	char *socket_host;
	int socket_port;	    /* 0: any free port. */
	char *url_docroot;	    /* Only logged. */
	char *url_prefix;	    /* "" or "/a/b" without trailing slash. */
	size_t max_body_size;	    /* Bytes. */
	size_t max_query_body_size; /* Bytes, of every endpoint but /submit. */
	size_t max_header_size;	    /* Bytes, request line and headers. */
	bool trust_forwarded_for;
	char *cors_origin;
	int request_timeout_s;
	int answer_timeout_s;	 /* An answer no byte of which is taken. */
	int idle_timeout_s;	 /* Keep-alive wait for the next request. */
	size_t min_request_rate; /* Bytes/s extending request_timeout. */
	int max_connections;	 /* Client connections open at once. */
	int drain_timeout_s;	 /* SIGTERM's wait for requests in flight. */
	int workers;		 /* Processes sharing the port. */
	int hang_timeout_s;	 /* A worker's loop stuck that long: abort. */
	int max_waiting;	 /* Requests queued for the database. */
	int db_wait_timeout_s;	 /* Longest wait in that queue. */

	/* [logging] */
	enum log_level log_level;
	char *log_file;		  /* Absolute, or NULL. */
	char *access_log;	  /* Absolute, or NULL. */
	size_t access_log_buffer; /* Bytes; 0: unbuffered. */

	/* [pg_v3] */
	char *db_type;
	char *dbname;
	char *username;
	char *password;
	char *server;
	int port;
	char *sslmode; /* "auto" or libpq's; see db_pool_params. */
	int pool_size;
	int prepared_statements; /* Texts kept prepared per connection. */
	int stream_share;	 /* Streams' connections; 0: half the pool. */
	char *read_server;	 /* "": no replica. */
	int read_port;		 /* 0: port. */
	int connect_timeout_s;	 /* Longest connect to the database. */
	int query_timeout_s;	 /* Longest silence mid-query; 0: none. */
	int idle_check_s;	 /* Check an idle connection; 0: never. */
	int analyze_after;	 /* Entries stored between looks at the
				  * tables' statistics; 0: never. */

	/* [auth] */
	char *htpasswd_file; /* Absolute, or NULL: proxy mode. */
	char *realm;
	int max_failed_logins; /* Per address and minute; 0: no limit. */
};

/* Fill in every default. */
void settings_defaults(struct settings *s);

/*
 * Read path over the defaults that settings_defaults put in s (call it
 * first).  Returns 0, or -1 with *cause set to
 * "FILE:LINE: key 'K': why" (the caller frees it); s is then freed.
 */
int settings_load(const char *path, struct settings *s, char **cause)
    __attribute__((warn_unused_result));

/* Free what settings_load or settings_defaults allocated. */
void settings_free(struct settings *s);

/*
 * The key of the first option that differs between a and b and cannot
 * change without a restart, or NULL: for checking a SIGHUP reload.
 */
const char *settings_fixed_change(
    const struct settings *a, const struct settings *b);

/* The line of the file that set key, or 0 (a default, or not loaded). */
unsigned settings_key_line(const struct settings *s, const char *key);

/* Print every section and key with its default and a sentence, for -h. */
void settings_print_keys(FILE *out);

#endif /* MTTD_SETTINGS_H */
