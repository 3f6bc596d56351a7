/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Telling a service manager how mttd is doing, as systemd's Type=notify
 * and WatchdogSec= expect (sd_notify(3), without libsystemd): datagrams
 * of "KEY=value" lines to the socket NOTIFY_SOCKET names.  Without that
 * variable every call here does nothing.
 */
#ifndef MTTD_SERVICE_NOTIFY_H
#define MTTD_SERVICE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, and remove them
 * from the environment, so that nothing this process starts answers for
 * it.  Call it once, before any fork.
 */
void service_notify_setup(void);

/*
 * In a forked worker: stop notifying.  The manager takes messages from
 * its main process only (NotifyAccess=main), the supervisor.
 */
void service_notify_disable(void);

/* Start-up is done and mttd serves (READY=1); status says how, or NULL. */
void service_notify_ready(const char *status);

/* SIGHUP: the configuration is being read again (RELOADING=1). */
void service_notify_reloading(void);

/* The reload ended, in force or refused: serving again (READY=1). */
void service_notify_reloaded(void);

/* A drain has started (STOPPING=1). */
void service_notify_stopping(void);

/*
 * The manager's watchdog asked for pings (WatchdogSec=): the longest
 * time in microseconds between two, half its timeout; 0 when it did not.
 */
uint64_t service_notify_watchdog_usec(void);

/* Ping the watchdog (WATCHDOG=1), if it asked for pings: the caller's
 * loop calls it at least that often, as proof that it turns. */
void service_notify_watchdog(void);

/* True while messages are being sent (for tests and the log). */
bool service_notify_enabled(void);

#endif /* MTTD_SERVICE_NOTIFY_H */
