/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of service_notify: the datagrams a service manager gets
 * (byte for byte), the addresses NOTIFY_SOCKET may name, whose watchdog
 * WATCHDOG_PID makes it, and the environment left to children.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cunit_main.h"
#include "service_notify.h"

/* A manager's end: a datagram socket bound to name ("@x": abstract). */
struct manager {
	int fd;
	char name[108];
	char path[100]; /* The file to remove; "" when abstract. */
};

static bool
manager_open(struct manager *m, bool abstract)
{
	struct sockaddr_un un;
	socklen_t len;

	memset(m, 0, sizeof *m);
	memset(&un, 0, sizeof un);
	un.sun_family = AF_UNIX;
	if (abstract) {
		snprintf(m->name, sizeof m->name, "@mttd-unit-notify-%ld",
		    (long)getpid());
		memcpy(un.sun_path + 1, m->name + 1, strlen(m->name) - 1);
	} else {
		snprintf(m->path, sizeof m->path, "/tmp/mttd-unit-notify-%ld",
		    (long)getpid());
		unlink(m->path);
		snprintf(m->name, sizeof m->name, "%s", m->path);
		memcpy(un.sun_path, m->path, strlen(m->path));
	}
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(m->name));
	m->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	return m->fd >= 0 && bind(m->fd, (struct sockaddr *)&un, len) == 0;
}

static void
manager_close(struct manager *m)
{
	if (m->fd >= 0)
		close(m->fd);
	if (m->path[0] != '\0')
		unlink(m->path);
	m->fd = -1;
}

/* The next datagram within 1 s, into buf; "" when none came. */
static const char *
manager_read(struct manager *m, char *buf, size_t size)
{
	struct pollfd pfd = { m->fd, POLLIN, 0 };
	ssize_t n = 0;

	buf[0] = '\0';
	if (poll(&pfd, 1, 1000) == 1 && (n = recv(m->fd, buf, size - 1, 0)) > 0)
		buf[n] = '\0';
	return buf;
}

/* Nothing waits to be read. */
static bool
manager_silent(struct manager *m)
{
	struct pollfd pfd = { m->fd, POLLIN, 0 };

	return poll(&pfd, 1, 50) == 0;
}

static void
set_env(const char *socket, const char *usec, const char *pid)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (socket != NULL)
		setenv("NOTIFY_SOCKET", socket, 1);
	if (usec != NULL)
		setenv("WATCHDOG_USEC", usec, 1);
	if (pid != NULL)
		setenv("WATCHDOG_PID", pid, 1);
}

static void
expect_message(struct manager *m, const char *want)
{
	char buf[1024];

	manager_read(m, buf, sizeof buf);
	CHECK(strcmp(buf, want) == 0, "got \"%s\", want \"%s\"", buf, want);
}

static void
notify_sends_each_state_to_a_path(void)
{
	struct manager m;

	CHECK(manager_open(&m, false), "manager socket: %s", strerror(errno));
	set_env(m.name, NULL, NULL);
	service_notify_setup();
	CHECK(service_notify_enabled(), "not enabled for %s", m.name);
	CHECK(getenv("NOTIFY_SOCKET") == NULL, "NOTIFY_SOCKET left set");

	service_notify_ready("serving on port 80");
	expect_message(&m, "READY=1\nSTATUS=serving on port 80");
	service_notify_ready(NULL);
	expect_message(&m, "READY=1");
	service_notify_reloading();
	expect_message(&m, "RELOADING=1");
	service_notify_reloaded();
	expect_message(&m, "READY=1");
	service_notify_stopping();
	expect_message(&m, "STOPPING=1");

	/* No watchdog asked for: no pings. */
	CHECK(service_notify_watchdog_usec() == 0, "watchdog without asking");
	service_notify_watchdog();
	CHECK(manager_silent(&m), "a ping nobody asked for");
	service_notify_disable();
	manager_close(&m);
}

static void
notify_pings_an_abstract_socket_for_its_own_pid(void)
{
	struct manager m;
	char pid[32];

	CHECK(manager_open(&m, true), "manager socket: %s", strerror(errno));
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	set_env(m.name, "3000000", pid);
	service_notify_setup();
	CHECK(service_notify_watchdog_usec() == 1500000,
	    "watchdog interval %llu, want half of 3 s",
	    (unsigned long long)service_notify_watchdog_usec());
	CHECK(getenv("WATCHDOG_USEC") == NULL && getenv("WATCHDOG_PID") == NULL,
	    "watchdog variables left set");
	service_notify_watchdog();
	expect_message(&m, "WATCHDOG=1");

	/* A worker: silent, pings included. */
	service_notify_disable();
	CHECK(!service_notify_enabled(), "enabled after disable");
	service_notify_watchdog();
	service_notify_ready("x");
	CHECK(manager_silent(&m), "a disabled process sent");
	manager_close(&m);
}

static void
notify_ignores_a_watchdog_for_another_pid(void)
{
	struct manager m;
	char pid[32];

	CHECK(manager_open(&m, true), "manager socket: %s", strerror(errno));
	snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
	set_env(m.name, "3000000", pid);
	service_notify_setup();
	CHECK(service_notify_enabled(), "not enabled");
	CHECK(service_notify_watchdog_usec() == 0, "another pid's watchdog");
	service_notify_watchdog();
	CHECK(manager_silent(&m), "pinged another pid's watchdog");
	service_notify_disable();
	manager_close(&m);
}

/* A timeout of microseconds (a slip) does not make the loop spin. */
static void
notify_pings_at_most_every_10_ms(void)
{
	struct manager m;

	CHECK(manager_open(&m, true), "manager socket: %s", strerror(errno));
	set_env(m.name, "2", NULL);
	service_notify_setup();
	CHECK(service_notify_watchdog_usec() == 10000,
	    "watchdog interval %llu for WATCHDOG_USEC=2, want the 10 ms floor",
	    (unsigned long long)service_notify_watchdog_usec());
	set_env(m.name, "20000", NULL);
	service_notify_setup();
	CHECK(service_notify_watchdog_usec() == 10000,
	    "watchdog interval %llu for 20 ms",
	    (unsigned long long)service_notify_watchdog_usec());
	service_notify_disable();
	manager_close(&m);
}

static void
notify_refuses_what_is_not_a_socket_name(void)
{
	static const char *bad[] = { "", "@", "vsock:2:3", "relative/path",
		"/a-path-longer-than-sun_path-can-hold-"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxx" };
	size_t i;

	for (i = 0; i < CUNIT_NCASES(bad); i++) {
		set_env(bad[i], "3000000", NULL);
		service_notify_setup();
		CHECK(!service_notify_enabled(), "enabled for \"%s\"", bad[i]);
		CHECK(service_notify_watchdog_usec() == 0,
		    "watchdog for \"%s\"", bad[i]);
		CHECK(getenv("NOTIFY_SOCKET") == NULL,
		    "NOTIFY_SOCKET \"%s\" left set", bad[i]);
	}
	set_env(NULL, NULL, NULL);
	service_notify_setup();
	CHECK(!service_notify_enabled(), "enabled without NOTIFY_SOCKET");
}

static void
notify_survives_a_manager_gone(void)
{
	struct manager m;

	CHECK(manager_open(&m, false), "manager socket: %s", strerror(errno));
	set_env(m.name, "2000000", NULL);
	service_notify_setup();
	manager_close(&m);
	/* Each fails (ENOENT or ECONNREFUSED) at once, without blocking. */
	service_notify_ready("gone");
	service_notify_watchdog();
	service_notify_stopping();
	CHECK(service_notify_enabled(), "a failed send turned it off");
	service_notify_disable();
}

static const struct cunit_case notify_cases[] = {
	{ "notify_sends_each_state_to_a_path",
	    notify_sends_each_state_to_a_path },
	{ "notify_pings_an_abstract_socket_for_its_own_pid",
	    notify_pings_an_abstract_socket_for_its_own_pid },
	{ "notify_ignores_a_watchdog_for_another_pid",
	    notify_ignores_a_watchdog_for_another_pid },
	{ "notify_pings_at_most_every_10_ms",
	    notify_pings_at_most_every_10_ms },
	{ "notify_refuses_what_is_not_a_socket_name",
	    notify_refuses_what_is_not_a_socket_name },
	{ "notify_survives_a_manager_gone", notify_survives_a_manager_gone },
};

int
main(void)
{
	return cunit_run(
	    "service_notify", notify_cases, CUNIT_NCASES(notify_cases));
}
