/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The event loop's heartbeat: a timer at the loop's highest priority
 * whose every run proves that the loop turns.  It is what the
 * supervisor's hang check (workers > 1) and a service manager's watchdog
 * (WatchdogSec=) watch; a loop stuck in a callback, or a stopped
 * process, stops it.
 */
#ifndef MTTD_HEARTBEAT_H
#define MTTD_HEARTBEAT_H

#include <event2/event.h>

/* Milliseconds between two beats at most. */
#define HEARTBEAT_INTERVAL_MS 500

struct heartbeat;

/*
 * Beat on base for whoever watches this process: the supervisor, when
 * this is a worker, and the service manager's watchdog, when it asked
 * for pings.  Beats once at once.  NULL when nobody watches.  Free it
 * with heartbeat_free.
 */
struct heartbeat *heartbeat_new(struct event_base *base);

/* Stop beating; NULL is fine. */
void heartbeat_free(struct heartbeat *hb);

#endif /* MTTD_HEARTBEAT_H */
