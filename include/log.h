/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging: one process-wide logger with a level, writing to stderr or a
 * file, plus an optional separate access log.  Lines carry the time in
 * milliseconds, the pid and the level.
 */
#ifndef MTTD_LOG_H
#define MTTD_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_DEBUG,   /* Decisions, with the function name. */
	LOG_LEVEL_INFO,	   /* Lifecycle and one line per request. */
	LOG_LEVEL_WARNING, /* Refused input, degraded service. */
	LOG_LEVEL_ERROR,   /* A request or connection failed. */
	LOG_LEVEL_CRITICAL /* The process cannot go on. */
};

/* The current threshold; read by the macros below. */
extern enum log_level log_threshold;

/* Parse a level name (DEBUG, INFO, WARNING, WARN, ERROR, CRITICAL; any case). */
bool log_level_parse(const char *name, enum log_level *out)
    __attribute__((warn_unused_result));

/* Name of a level, for messages. */
const char *log_level_name(enum log_level level);

/*
 * Send the log to path (appending), or to stderr when path is NULL, and
 * the access log to access_path (NULL: access lines go to the main log).
 * Returns 0, or with *cause set (the caller frees it) -1 when path
 * cannot be opened, -2 when access_path cannot: nothing changed then.
 */
int log_setup(const char *path, const char *access_path, enum log_level level,
    char **cause) __attribute__((warn_unused_result));

/* Reopen the log files after rotation; keeps the old ones on failure. */
int log_reopen(char **cause) __attribute__((warn_unused_result));

/* Close the log files; later lines go to stderr. */
void log_shutdown(void);

/* Note the process id again, in a child just forked. */
void log_after_fork(void);

/* Write one line at level; func is printed at DEBUG. */
void log_write(enum log_level level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Access lines that go to their own file are kept in a buffer of size
 * bytes (0: each written at once), written when it would overflow, when
 * the event loop has nothing else to do, when a line comes in a later
 * second than the first one kept, and when the logs are set up again,
 * reopened or shut down: under load one write(2) carries many lines.
 * What is kept is lost if the process is killed.
 */
void log_access_buffer(size_t size);

/*
 * Write kept access lines when base's loop is idle: an event of the
 * lowest priority, so base must have LOG_LOOP_PRIORITIES priorities (the
 * others' default is the middle one).  Call again with NULL before base
 * is freed.
 */
struct event_base;
#define LOG_LOOP_PRIORITIES 3
void log_attach_loop(struct event_base *base);

/* Write the kept access lines now. */
void log_access_flush(void);

/* The fields of one access line; NULL or empty text is written "-". */
struct log_access_fields {
	unsigned long long req; /* 0: "-" (an answer before any request). */
	const char *method;
	const char *path;
	int status;
	size_t bytes;
	long ms;
	const char *user;
	const char *peer;
	const char *answer; /* Who answered; NULL: no answer= field. */
};

/*
 * Write one access line (no level filter) to the access log: "req=N
 * method=M path=P status=S bytes=B ms=T user=U peer=A [answer=W]".
 * Built without printf, since every request writes one.
 */
void log_access_request(const struct log_access_fields *f);

#define LOG_AT(level, ...)                                         \
	do {                                                       \
		if ((level) >= log_threshold)                      \
			log_write((level), __func__, __VA_ARGS__); \
	} while (0)

#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_crit(...) LOG_AT(LOG_LEVEL_CRITICAL, __VA_ARGS__)

#endif /* MTTD_LOG_H */
