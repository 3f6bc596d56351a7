/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The socket a service manager passes (systemd socket activation).  Only
 * the protocol's environment is read: mttd takes exactly one listening
 * TCP socket and refuses anything else at start-up, where a mistake in
 * the unit files is cheapest to see.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listen_socket.h"
#include "strbuf.h"

/* A whole decimal number in 0..LONG_MAX, or -1. */
static long
listen_env_number(const char *text)
{
	char *end;
	long v;

	if (text == NULL || *text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtol(text, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : v;
}

/* What is wrong with fd as mttd's listening socket, or NULL. */
static char *
listen_socket_problem(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int type = 0, listening = 0;
	socklen_t olen = sizeof type;
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
		return xasprintf("fd %d is not a socket", fd);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) != 0 ||
	    type != SOCK_STREAM)
		return xasprintf("fd %d is not a stream socket (a systemd"
				 " unit's ListenStream=)",
		    fd);
	olen = sizeof listening;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) != 0 ||
	    !listening)
		return xasprintf("fd %d is not listening (Accept=no in the"
				 " .socket unit)",
		    fd);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return xasprintf("fd %d is not a TCP socket (an IPv4 or IPv6"
				 " address)",
		    fd);
	return NULL;
}

int
listen_socket_inherited(char **cause)
{
	long pid = listen_env_number(getenv("LISTEN_PID"));
	long fds = listen_env_number(getenv("LISTEN_FDS"));
	const char *fds_text = getenv("LISTEN_FDS");
	int fd = LISTEN_SOCKET_FD;
	char *problem = NULL;

	/* Meant for another process (a parent's, say): not ours. */
	if (pid != (long)getpid())
		return LISTEN_SOCKET_NONE;
	if (fds != 1)
		problem = xasprintf("LISTEN_FDS is \"%.32s\": mttd takes"
				    " exactly one listening socket from its"
				    " service manager",
		    fds_text ? fds_text : "");
	/* Read: no process mttd starts is meant by them. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (fds != 1) {
		*cause = problem;
		return LISTEN_SOCKET_BAD;
	}
	if ((problem = listen_socket_problem(fd)) != NULL) {
		*cause = xasprintf("the socket passed by the service manager"
				   " (LISTEN_FDS): %s",
		    problem);
		free(problem);
		return LISTEN_SOCKET_BAD;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		*cause = xasprintf("the socket passed by the service manager:"
				   " %s",
		    strerror(errno));
		return LISTEN_SOCKET_BAD;
	}
	return fd;
}

int
listen_socket_address(int fd, char *host, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char port[16];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, (socklen_t)size,
		port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return -1;
	return atoi(port);
}
