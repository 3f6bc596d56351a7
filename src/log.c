/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The process-wide logger: formats each line into one buffer and hands it
 * to write(2) in one call, so lines from a log and its access log never
 * interleave and nothing of the main log sits in a buffer when the
 * process dies.  Access lines written to their own file may be kept a
 * moment, so that a busy server writes many with one call
 * (log_access_buffer).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "strbuf.h"

/* Longest line written; longer messages are cut and end in "...". */
#define LOG_LINE_MAX 8192

enum log_level log_threshold = LOG_LEVEL_INFO;

/*
 * One destination: a file we opened (path set) or stderr (path NULL).
 * Lines a write could not take (a full disk) are counted, and said once
 * writing works again (break-it helper 63: they vanished unsaid, and a
 * line cut short ran into the next).
 */
struct log_sink {
	int fd;
	char *path;
	const char *what;	  /* Its name in the report of lost lines. */
	unsigned long lost_lines; /* Not written since the last report... */
	int lost_errno;		  /* ...the last write's reason... */
	bool cut;		  /* ...and a line written in part. */
};

static struct log_sink log_main = { STDERR_FILENO, NULL, "log", 0, 0, false };
/* fd -1: use log_main. */
static struct log_sink log_acc = { -1, NULL, "access log", 0, 0, false };

/* Access lines kept for log_acc (see log_access_buffer). */
static struct {
	char *data;
	size_t len;
	size_t size;	    /* 0: not kept. */
	time_t first;	    /* When the first line kept was. */
	struct event *idle; /* Writes them when the loop is idle. */
} log_kept;

static const char *const log_level_names[] = {
	[LOG_LEVEL_DEBUG] = "DEBUG",
	[LOG_LEVEL_INFO] = "INFO",
	[LOG_LEVEL_WARNING] = "WARNING",
	[LOG_LEVEL_ERROR] = "ERROR",
	[LOG_LEVEL_CRITICAL] = "CRITICAL",
};

bool
log_level_parse(const char *name, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof log_level_names / sizeof log_level_names[0];
	     i++) {
		if (strcasecmp(name, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	if (strcasecmp(name, "WARN") == 0) {
		*out = LOG_LEVEL_WARNING;
		return true;
	}
	return false;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LEVEL_CRITICAL)
		return "UNKNOWN";
	return log_level_names[level];
}

/* Open path for appending; -1 with *cause set on failure. */
static int
log_open(const char *path, char **cause)
{
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		*cause = xasprintf(
		    "%s: cannot open: %s", path, strerror(errno));
	return fd;
}

/* Close a sink we opened and point it back at its fallback. */
static void
log_sink_close(struct log_sink *sink, int fallback)
{
	if (sink->path != NULL && sink->fd >= 0)
		close(sink->fd);
	free(sink->path);
	sink->path = NULL;
	sink->fd = fallback;
}

/* Whether two descriptors are one file. */
static bool
log_same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Point sink at fd opened on path, or at fallback when path is NULL. */
static void
log_sink_set(struct log_sink *sink, int fd, const char *path, int fallback)
{
	int to = path != NULL ? fd : fallback;

	/* A line cut short in another file is not ended in this one. */
	if (to >= 0 && sink->fd >= 0 && !log_same_file(to, sink->fd))
		sink->cut = false;
	log_sink_close(sink, fallback);
	if (path != NULL) {
		sink->fd = fd;
		sink->path = xstrdup(path);
	}
}

/* getpid() is a system call each time: this process's, kept. */
static pid_t log_pid;

int
log_setup(const char *path, const char *access_path, enum log_level level,
    char **cause)
{
	int fd = -1, afd = -1;

	/* Open both before closing anything, so a failure changes nothing. */
	if (path != NULL && (fd = log_open(path, cause)) == -1)
		return -1;
	if (access_path != NULL && (afd = log_open(access_path, cause)) == -1) {
		if (fd != -1)
			close(fd);
		return -2;
	}

	log_access_flush();
	log_sink_set(&log_main, fd, path, STDERR_FILENO);
	log_sink_set(&log_acc, afd, access_path, -1);
	log_threshold = level;
	log_pid = getpid();
	return 0;
}

/* Reopen one sink at its path; the old descriptor stays on failure. */
static int
log_sink_reopen(struct log_sink *sink, char **cause)
{
	int fd;

	if (sink->path == NULL)
		return 0;
	if ((fd = log_open(sink->path, cause)) == -1)
		return -1;
	/* A line cut short in a rotated file is not ended in the new one
	 * (break-it helper 65: it began with an empty line). */
	if (!log_same_file(fd, sink->fd))
		sink->cut = false;
	close(sink->fd);
	sink->fd = fd;
	return 0;
}

int
log_reopen(char **cause)
{
	log_access_flush();
	if (log_sink_reopen(&log_main, cause) == -1)
		return -1;
	return log_sink_reopen(&log_acc, cause);
}

void
log_shutdown(void)
{
	log_access_flush();
	free(log_kept.data);
	log_kept.data = NULL;
	log_kept.size = 0;
	log_sink_close(&log_acc, -1);
	log_sink_close(&log_main, STDERR_FILENO);
}

/* Write all of buf to fd; false with errno set when a write failed. */
static bool
log_write_all(int fd, const char *buf, size_t *len)
{
	ssize_t n;

	while (*len > 0) {
		n = write(fd, buf, *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return false;
		}
		buf += n;
		*len -= (size_t)n;
	}
	return true;
}

static unsigned long
log_count_lines(const char *buf, size_t len)
{
	unsigned long lines = 0;
	const char *end = buf + len;

	while ((buf = memchr(buf, '\n', (size_t)(end - buf))) != NULL) {
		lines++;
		buf++;
	}
	return lines;
}

/*
 * Say, in the main log, how many lines sink lost and why.  A report the
 * main log cannot take either keeps the count for the next one (break-
 * it helper 67: it was dropped).
 */
static void
log_report_lost(struct log_sink *sink)
{
	unsigned long lines = sink->lost_lines, main_lost;

	sink->lost_lines = 0;
	main_lost = log_main.lost_lines;
	log_write(LOG_LEVEL_WARNING, NULL,
	    "%lu line(s) of the %s %s could not be written: %s", lines,
	    sink->what, sink->path ? sink->path : "(standard error)",
	    strerror(sink->lost_errno));
	if (log_main.lost_lines > main_lost)
		sink->lost_lines += lines;
}

/*
 * Write all of buf, whole lines, to sink.  A line written in part is
 * ended before the next, so the next line starts a line of its own.
 */
static void
log_emit(struct log_sink *sink, const char *buf, size_t len)
{
	size_t left = 1;

	if (sink->cut && log_write_all(sink->fd, "\n", &left))
		sink->cut = false;
	left = len;
	if (!sink->cut && log_write_all(sink->fd, buf, &left)) {
		if (sink->lost_lines > 0)
			log_report_lost(sink);
		return;
	}
	sink->lost_errno = errno;
	sink->lost_lines += log_count_lines(buf + (len - left), left);
	if (left < len && buf[len - left - 1] != '\n')
		sink->cut = true;
}

void
log_access_flush(void)
{
	if (log_kept.len > 0 && log_acc.fd >= 0)
		log_emit(&log_acc, log_kept.data, log_kept.len);
	log_kept.len = 0;
}

static void
log_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	log_access_flush();
}

void
log_access_buffer(size_t size)
{
	log_access_flush();
	free(log_kept.data);
	log_kept.data = size > 0 ? xmalloc(size) : NULL;
	log_kept.size = size;
}

void
log_attach_loop(struct event_base *base)
{
	if (log_kept.idle != NULL)
		event_free(log_kept.idle);
	log_kept.idle = NULL;
	if (base == NULL)
		return;
	log_kept.idle = event_new(base, -1, 0, log_idle_cb, NULL);
	event_priority_set(log_kept.idle, LOG_LOOP_PRIORITIES - 1);
}

/* Keep one access line; write what is kept when it must go now. */
static void
log_keep(const char *line, size_t len)
{
	time_t now = time(NULL);

	if (log_kept.len > 0 &&
	    (log_kept.len + len > log_kept.size || now != log_kept.first))
		log_access_flush();
	if (len > log_kept.size) {
		log_emit(&log_acc, line, len);
		return;
	}
	if (log_kept.len == 0) {
		log_kept.first = now;
		if (log_kept.idle != NULL)
			event_active(log_kept.idle, 0, 0);
	}
	memcpy(log_kept.data + log_kept.len, line, len);
	log_kept.len += len;
}

/*
 * Put the time prefix "YYYY-MM-DD HH:MM:SS.mmm [pid] " at buf, in UTC so
 * that lines from hosts in different zones and across a DST change sort.
 */
void
log_after_fork(void)
{
	log_pid = getpid();
	log_kept.len = 0; /* The parent's to write. */
}

/*
 * The date and time of a line, formatted once a second: every request
 * writes an access line, and strftime would cost more than the rest.
 */
static const char *
log_second_text(time_t sec)
{
	static char text[32];
	static time_t done = -1;
	struct tm tm;

	if (sec != done) {
		gmtime_r(&sec, &tm);
		strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
		done = sec;
	}
	return text;
}

/* Decimal digits of v, at least width of them, into out; their number. */
static size_t
log_digits(char *out, unsigned long long v, size_t width)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 && n < sizeof tmp);
	while (n < width && n < sizeof tmp)
		tmp[n++] = '0';
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* "YYYY-MM-DD HH:MM:SS.mmm [pid] " at buf (size is at least 64). */
static size_t
log_prefix(char *buf, size_t size)
{
	struct timeval tv;
	const char *sec;
	size_t n;

	gettimeofday(&tv, NULL);
	sec = log_second_text(tv.tv_sec);
	n = strlen(sec);
	if (size < n + 40)
		return 0;
	memcpy(buf, sec, n);
	buf[n++] = '.';
	n += log_digits(buf + n, (unsigned long long)(tv.tv_usec / 1000), 3);
	buf[n++] = ' ';
	buf[n++] = '[';
	n += log_digits(
	    buf + n, (unsigned long long)(log_pid ? log_pid : getpid()), 1);
	buf[n++] = ']';
	buf[n++] = ' ';
	return n;
}

/*
 * Characters that break, reorder or hide part of a line in the tools
 * that read logs (utf8_unsafe_length: C1 controls, bidirectional marks,
 * invisible ones): each of their bytes becomes '?'.
 */
static void
log_blank_unsafe(char *p, size_t left)
{
	memset(p, '?', utf8_unsafe_length(p, left));
}

/*
 * End a line of n message bytes at buf + off (n may say more than was
 * room: the line is cut and ends in "..."): replace control characters
 * so a client-supplied value cannot forge a line, and add the newline.
 */
static size_t
log_finish_line(char *buf, size_t off, size_t n)
{
	size_t i, room = LOG_LINE_MAX - 1 - off; /* Keep 1 for '\n'. */

	if (n > room) {
		/* Cut on a character, so the line stays valid UTF-8. */
		n = utf8_whole_prefix(buf + off, room - 3);
		memcpy(buf + off + n, "...", 3);
		n += 3;
	}
	/* libpq's messages end in newlines: keep one line per entry. */
	while (n > 0 && (buf[off + n - 1] == '\n' || buf[off + n - 1] == ' '))
		n--;
	/* Line breaks and tabs as blanks (libpq indents the second line of
	 * a message with one), other control characters as '?': no value a
	 * client sends can forge a line.  A byte that begins no valid UTF-8
	 * character is '?' too: journald keeps a line that is not UTF-8 as
	 * a blob, which journalctl does not show (break-it helper 47). */
	for (i = off; i < off + n; i++) {
		unsigned char c = (unsigned char)buf[i];
		size_t seq;

		if (c >= 0x20 && c < 0x7f) /* Most bytes: printable ASCII. */
			continue;
		if (c == '\n' || c == '\r' || c == '\t')
			buf[i] = ' ';
		else if (c < 0x20 || c == 0x7f)
			buf[i] = '?';
		else if ((seq = utf8_sequence_length(buf + i, off + n - i)) ==
		    0)
			buf[i] = '?';
		else {
			log_blank_unsafe(buf + i, off + n - i);
			i += seq - 1;
		}
	}
	buf[off + n] = '\n';
	return off + n + 1;
}

/* Format the message after the prefix and end the line. */
static size_t
log_format(char *buf, size_t off, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf + off, LOG_LINE_MAX - off, fmt, ap);

	return log_finish_line(buf, off, n < 0 ? 0 : (size_t)n);
}

void
log_write(enum log_level level, const char *func, const char *fmt, ...)
{
	char buf[LOG_LINE_MAX];
	size_t off;
	va_list ap;

	if (level < log_threshold)
		return;
	off = log_prefix(buf, sizeof buf);
	off += (size_t)snprintf(
	    buf + off, sizeof buf - off, "%s ", log_level_name(level));
	if (level == LOG_LEVEL_DEBUG && func != NULL)
		off += (size_t)snprintf(
		    buf + off, sizeof buf - off, "%.64s: ", func);

	va_start(ap, fmt);
	off = log_format(buf, off, fmt, ap);
	va_end(ap);
	log_emit(&log_main, buf, off);
}

/* An access line being built at buf + off; len counts what did not
 * fit too, so log_finish_line can mark the cut. */
struct log_line {
	char *buf;
	size_t off, len;
};

static void
log_line_add(struct log_line *l, const char *s, size_t n)
{
	size_t room = LOG_LINE_MAX - l->off, at = l->len;

	if (at < room)
		memcpy(l->buf + l->off + at, s, n < room - at ? n : room - at);
	l->len += n;
}

/*
 * " key=" and the value ("-" when NULL or empty).  A value with a blank,
 * a tab, a line break or a quote goes in double quotes, its quotes and
 * backslashes escaped, so that no value reads as more fields (break-it
 * helper 49: a user name "x peer=10.6.6.6" did).
 */
static void
log_line_field(struct log_line *l, const char *key, const char *value)
{
	const char *p, *q;

	log_line_add(l, key, strlen(key));
	if (value == NULL || value[0] == '\0')
		value = "-";
	if (strpbrk(value, " \t\r\n\"") == NULL) {
		log_line_add(l, value, strlen(value));
		return;
	}
	log_line_add(l, "\"", 1);
	for (p = value; *p != '\0'; p = q) {
		q = p + strcspn(p, "\"\\");
		log_line_add(l, p, (size_t)(q - p));
		if (*q != '\0') {
			log_line_add(l, "\\", 1);
			log_line_add(l, q++, 1);
		}
	}
	log_line_add(l, "\"", 1);
}

static void
log_line_number(struct log_line *l, const char *key, unsigned long long v)
{
	char digits[24];

	log_line_add(l, key, strlen(key));
	log_line_add(l, digits, log_digits(digits, v, 1));
}

void
log_access_request(const struct log_access_fields *f)
{
	char buf[LOG_LINE_MAX];
	struct log_line l = { buf, 0, 0 };
	struct log_sink *sink = &log_acc;

	/* In the main log the line gets a level word like every other. */
	l.off = log_prefix(buf, sizeof buf);
	if (sink->fd == -1) {
		sink = &log_main;
		memcpy(buf + l.off, "ACCESS ", 7);
		l.off += 7;
	}
	if (f->req > 0)
		log_line_number(&l, "req=", f->req);
	else
		log_line_field(&l, "req=", NULL);
	log_line_field(&l, " method=", f->method);
	log_line_field(&l, " path=", f->path);
	log_line_number(&l, " status=", (unsigned long long)f->status);
	log_line_number(&l, " bytes=", f->bytes);
	log_line_number(&l, " ms=", f->ms > 0 ? (unsigned long long)f->ms : 0);
	log_line_field(&l, " user=", f->user);
	log_line_field(&l, " peer=", f->peer);
	if (f->answer != NULL)
		log_line_field(&l, " answer=", f->answer);
	l.off = log_finish_line(buf, l.off, l.len);
	if (sink == &log_acc && log_kept.size > 0)
		log_keep(buf, l.off);
	else
		log_emit(sink, buf, l.off);
}
