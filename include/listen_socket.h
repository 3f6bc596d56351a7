/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A listening socket handed over by a service manager, as systemd's
 * socket activation does (sd_listen_fds(3), without libsystemd):
 * LISTEN_PID names this process and LISTEN_FDS counts the sockets passed
 * from fd 3 on.  The manager keeps its own copy open, so connections
 * that arrive while mttd restarts wait in the socket's queue for the
 * next mttd instead of being refused or reset.
 */
#ifndef MTTD_LISTEN_SOCKET_H
#define MTTD_LISTEN_SOCKET_H

#include <stddef.h>

/* The first fd a service manager passes. */
#define LISTEN_SOCKET_FD 3

#define LISTEN_SOCKET_NONE (-1) /* Nothing was passed to this process. */
#define LISTEN_SOCKET_BAD (-2)	/* Something was, but not one TCP socket. */

/*
 * The listening TCP socket passed to this process, made non-blocking and
 * close-on-exec, with LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES removed
 * from the environment; LISTEN_SOCKET_NONE; or LISTEN_SOCKET_BAD with
 * *cause (free it) saying what is wrong.  Call it before any fork.
 */
int listen_socket_inherited(char **cause);

/*
 * The address fd listens on, as "host" (numeric, IPv6 without brackets)
 * into host; returns its port, or -1 if getsockname fails.
 */
int listen_socket_address(int fd, char *host, size_t size);

#endif
