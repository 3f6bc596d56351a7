/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The yardstick of contrib/bench/run's idle-memory figure: a process that
 * does nothing but hold N open libpq connections to the database mttd
 * uses, TLS and GSSAPI encryption off as mttd has them to a local
 * database (mttd also sends DateStyle and IntervalStyle options, which
 * cost no memory).  Its VmRSS is what linking libpq and connecting cost
 * any program on this system; mttd's less this is mttd's own.
 *
 *   libpq_idle READY_FILE N HOST PORT DBNAME USER [SECONDS]
 *
 * The password comes from PGPASSWORD.  Writes "ready\n" to READY_FILE
 * once every connection is up, then sleeps until SIGTERM or SECONDS
 * (default 120) pass.  Exits 1 if a connection fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_CONNS 64

static volatile sig_atomic_t stop;

static void
on_term(int signo)
{
	(void)signo;
	stop = 1;
}

/* The whole of text as an integer in lo..hi, or -1. */
static long
whole_number(const char *text, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

static PGconn *
connect_one(char **argv)
{
	const char *keys[] = { "host", "port", "dbname", "user",
		"application_name", "client_encoding", "sslmode", "gssencmode",
		NULL };
	const char *values[] = { argv[3], argv[4], argv[5], argv[6],
		"libpq_idle", "UTF8", "disable", "disable", NULL };

	return PQconnectdbParams(keys, values, 0);
}

int
main(int argc, char **argv)
{
	PGconn *conns[MAX_CONNS];
	int n, i, seconds;
	FILE *f;

	if (argc < 7 || argc > 8) {
		fprintf(stderr,
		    "usage: %s READY_FILE N HOST PORT DBNAME USER [SECONDS]\n",
		    argv[0]);
		return 2;
	}
	n = (int)whole_number(argv[2], 1, MAX_CONNS);
	seconds = argc == 8 ? (int)whole_number(argv[7], 1, 86400) : 120;
	if (n < 0) {
		fprintf(stderr, "%s: N must be 1..%d\n", argv[0], MAX_CONNS);
		return 2;
	}
	if (seconds < 0) {
		fprintf(stderr, "%s: SECONDS must be 1..86400\n", argv[0]);
		return 2;
	}
	for (i = 0; i < n; i++) {
		conns[i] = connect_one(argv);
		if (PQstatus(conns[i]) != CONNECTION_OK) {
			fprintf(stderr, "%s: %s", argv[0],
			    PQerrorMessage(conns[i]));
			return 1;
		}
	}
	if ((f = fopen(argv[1], "w")) == NULL || fputs("ready\n", f) < 0 ||
	    fclose(f) != 0) {
		perror(argv[1]);
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	while (!stop && seconds-- > 0)
		sleep(1);
	for (i = 0; i < n; i++)
		PQfinish(conns[i]);
	return 0;
}
