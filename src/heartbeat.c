/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The loop's heartbeat timer.  It runs at priority 0, above requests
 * and the access log, so that a busy loop still beats: only a loop that
 * does not come back from a callback (or a stopped process) misses.
 */
#include "config.h"

#include <stdlib.h>

#include "heartbeat.h"
#include "log.h"
#include "service_notify.h"
#include "strbuf.h"
#include "supervisor.h"

struct heartbeat {
	struct event *timer;
};

static void
heartbeat_beat(void)
{
	supervisor_worker_beat();
	service_notify_watchdog();
}

static void
heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	heartbeat_beat();
}

/* The manager's ping interval when it is shorter than our own. */
static struct timeval
heartbeat_interval(void)
{
	uint64_t usec = HEARTBEAT_INTERVAL_MS * 1000u;
	uint64_t watchdog = service_notify_watchdog_usec();
	struct timeval tv;

	if (watchdog > 0 && watchdog < usec)
		usec = watchdog;
	tv.tv_sec = (time_t)(usec / 1000000u);
	tv.tv_usec = (suseconds_t)(usec % 1000000u);
	return tv;
}

struct heartbeat *
heartbeat_new(struct event_base *base)
{
	struct heartbeat *hb;
	struct timeval tv = heartbeat_interval();

	if (!supervisor_is_worker() && service_notify_watchdog_usec() == 0)
		return NULL;
	hb = xcalloc(1, sizeof *hb);
	hb->timer = event_new(base, -1, EV_PERSIST, heartbeat_cb, hb);
	if (hb->timer == NULL || event_priority_set(hb->timer, 0) != 0 ||
	    event_add(hb->timer, &tv) != 0) {
		/* Before the loop runs: as start-up fails elsewhere. */
		log_crit("cannot start the loop's heartbeat");
		exit(1);
	}
	heartbeat_beat();
	return hb;
}

void
heartbeat_free(struct heartbeat *hb)
{
	if (hb == NULL)
		return;
	if (hb->timer != NULL)
		event_free(hb->timer);
	free(hb);
}
