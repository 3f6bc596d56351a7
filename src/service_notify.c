/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The service manager's notification socket (sd_notify(3)'s protocol):
 * where it is, whether its watchdog wants pings, and sending it one
 * datagram per state change.  A manager that cannot be reached costs a
 * warning, never start-up: mttd serves the same without it.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "service_notify.h"

/* The shortest time between two watchdog pings. */
#define NOTIFY_PING_MIN_MS 10

static struct {
	int fd; /* -1: not notifying. */
	struct sockaddr_un addr;
	socklen_t addr_len;
	uint64_t watchdog_usec; /* Between pings at most; 0: no watchdog. */
	bool warned;		/* A failed send was logged already. */
} notify = { .fd = -1 };

/* A whole decimal number, or 0. */
static uint64_t
notify_env_number(const char *text)
{
	char *end;
	unsigned long long v;

	if (text == NULL || *text < '0' || *text > '9')
		return 0;
	errno = 0;
	v = strtoull(text, &end, 10);
	return errno != 0 || *end != '\0' ? 0 : (uint64_t)v;
}

/*
 * NOTIFY_SOCKET as an address: a path, or "@name" for a name in the
 * abstract namespace.  False (logged) for anything else.
 */
static bool
notify_address(const char *name)
{
	size_t len = strlen(name);

	if ((name[0] != '/' && name[0] != '@') || len < 2 ||
	    len >= sizeof notify.addr.sun_path) {
		log_warn("NOTIFY_SOCKET '%s' is not a socket path or an"
			 " abstract name: not notifying the service manager",
		    name);
		return false;
	}
	memset(&notify.addr, 0, sizeof notify.addr);
	notify.addr.sun_family = AF_UNIX;
	memcpy(notify.addr.sun_path, name, len);
	if (name[0] == '@')
		notify.addr.sun_path[0] = '\0';
	notify.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len);
	return true;
}

/*
 * The watchdog's pings are this process's when WATCHDOG_PID is absent
 * or names it.  They go at least every half of its timeout, but not
 * more often than every NOTIFY_PING_MIN_MS: a timeout of microseconds
 * (a slip) would otherwise have the loop spin sending pings.
 */
static void
notify_read_watchdog(void)
{
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t usec = notify_env_number(getenv("WATCHDOG_USEC"));

	if (pid != NULL && notify_env_number(pid) != (uint64_t)getpid())
		usec = 0;
	if (usec == 0)
		return;
	notify.watchdog_usec = usec / 2;
	if (notify.watchdog_usec < NOTIFY_PING_MIN_MS * 1000) {
		notify.watchdog_usec = NOTIFY_PING_MIN_MS * 1000;
		log_warn("WATCHDOG_USEC %llu is too short to meet: pinging"
			 " every %d ms",
		    (unsigned long long)usec, NOTIFY_PING_MIN_MS);
		return;
	}
	log_info("the service manager's watchdog: a ping at least every"
		 " %llu ms",
	    (unsigned long long)(notify.watchdog_usec / 1000));
}

void
service_notify_setup(void)
{
	const char *name = getenv("NOTIFY_SOCKET");

	service_notify_disable();
	if (name != NULL && *name != '\0' && notify_address(name)) {
		notify.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (notify.fd < 0)
			log_warn("cannot make a socket to notify the service"
				 " manager: %s",
			    strerror(errno));
		else
			notify_read_watchdog();
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

void
service_notify_disable(void)
{
	if (notify.fd >= 0)
		close(notify.fd);
	notify.fd = -1;
	notify.watchdog_usec = 0;
}

bool
service_notify_enabled(void)
{
	return notify.fd >= 0;
}

/* One datagram; never blocks the loop (a full queue drops it). */
static void
notify_send(const char *message)
{
	if (notify.fd < 0)
		return;
	if (sendto(notify.fd, message, strlen(message),
		MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&notify.addr,
		notify.addr_len) >= 0)
		return;
	/* Once at warning level: a manager gone stays gone. */
	if (!notify.warned)
		log_warn(
		    "cannot notify the service manager: %s", strerror(errno));
	else
		log_debug(
		    "cannot notify the service manager: %s", strerror(errno));
	notify.warned = true;
}

void
service_notify_ready(const char *status)
{
	char message[512];

	if (status == NULL) {
		notify_send("READY=1");
		return;
	}
	snprintf(message, sizeof message, "READY=1\nSTATUS=%s", status);
	notify_send(message);
}

void
service_notify_reloading(void)
{
	notify_send("RELOADING=1");
}

void
service_notify_reloaded(void)
{
	notify_send("READY=1");
}

void
service_notify_stopping(void)
{
	notify_send("STOPPING=1");
}

uint64_t
service_notify_watchdog_usec(void)
{
	return notify.fd >= 0 ? notify.watchdog_usec : 0;
}

void
service_notify_watchdog(void)
{
	if (notify.watchdog_usec > 0)
		notify_send("WATCHDOG=1");
}
