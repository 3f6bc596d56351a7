/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The routes, one per handler_<resource>.c, collected by router.c.
 */
#ifndef MTTD_HANDLERS_H
#define MTTD_HANDLERS_H

#include "router.h"

/* GET /: the reference's status answer. */
extern const struct route route_root;

/* GET /status: version, uptime and database state. */
extern const struct route route_status;

/* POST /serial: the next client serial. */
extern const struct route route_serial;

/* GET /submit (a probe) and POST /submit (results). */
extern const struct route route_submit;

/* POST /fields: the field catalogue. */
extern const struct route route_fields;

/* POST /detail: result rows, streamed. */
extern const struct route route_detail;

/* POST /summary: grouped rows with result counts. */
extern const struct route route_summary;

/* POST /info/testsuite: suites with their tests and counts. */
extern const struct route route_info_testsuite;

/* POST /info/runtime: duration figures of matching results. */
extern const struct route route_info_runtime;

#endif /* MTTD_HANDLERS_H */
