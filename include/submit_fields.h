/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The submission fields: one table naming every field a client may send,
 * where it is stored and how it is converted, and the validation that
 * turns a /submit body into checked text values before anything touches
 * the database.
 */
#ifndef MTTD_SUBMIT_FIELDS_H
#define MTTD_SUBMIT_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "db_catalog.h"
#include "json_doc.h"

enum submit_phase {
	SUBMIT_PHASE_INSTALL, /* "MPI Install": table mpi_install. */
	SUBMIT_PHASE_BUILD,   /* "Test Build": table test_build. */
	SUBMIT_PHASE_RUN      /* "Test Run": table test_run. */
};

/* Every field a submission may carry; the order of the field table. */
enum submit_field {
	SF_PLATFORM_NAME,
	SF_PLATFORM_HARDWARE,
	SF_PLATFORM_TYPE,
	SF_OS_NAME,
	SF_OS_VERSION,
	SF_COMPILER_NAME,
	SF_COMPILER_VERSION,
	SF_MPI_NAME,
	SF_MPI_VERSION,
	SF_VPATH_MODE,
	SF_BITNESS,
	SF_ENDIAN,
	SF_CONFIGURE_ARGUMENTS,
	SF_DESCRIPTION,
	SF_ENVIRONMENT,
	SF_RESULT_MESSAGE,
	SF_START_TIMESTAMP,
	SF_DURATION,
	SF_TEST_RESULT,
	SF_TRIAL,
	SF_EXIT_VALUE,
	SF_EXIT_SIGNAL,
	SF_CLIENT_SERIAL,
	SF_MERGE_STDOUT_STDERR,
	SF_RESULT_STDOUT,
	SF_RESULT_STDERR,
	SF_MPI_INSTALL_ID,
	SF_SUITE_NAME,
	SF_TEST_BUILD_ID,
	SF_TEST_NAME,
	SF_NP,
	SF_COMMAND,
	SF_LAUNCHER,
	SF_RESOURCE_MANAGER,
	SF_PARAMETERS,
	SF_NETWORK,
	SF_LATENCY_BANDWIDTH,
	SF_MESSAGE_SIZE,
	SF_LATENCY_MIN,
	SF_LATENCY_AVG,
	SF_LATENCY_MAX,
	SF_BANDWIDTH_MIN,
	SF_BANDWIDTH_AVG,
	SF_BANDWIDTH_MAX,
	SF__COUNT
};

/*
 * One converted value: text as PostgreSQL reads it, or absent.  The text
 * lies in the parsed body, in a constant, or in the request's arena: an
 * entry carries 44 of these, so they hold no storage of their own.
 */
struct submit_value {
	const char *text; /* NULL when the field was not sent. */
	size_t len;
};

/* One entry of "data", converted. */
struct submit_entry {
	struct submit_value v[SF__COUNT];
	/* Bit f: field f's value came from the metadata (for messages). */
	uint64_t from_metadata;
};

_Static_assert(SF__COUNT <= 64, "a bit per field in from_metadata");

/* A whole /submit body, checked and converted. */
struct submit_request {
	enum submit_phase phase;
	long submit_id;	      /* metadata.submit_id, or 0. */
	const char *hostname; /* These four key the submit row. */
	const char *local_username;
	const char *http_username;
	const char *mtt_client_version;
	bool hostname_from_peer; /* hostname was absent: peer used. */
	struct submit_entry *entries;
	size_t count;
	struct arena converted; /* Values made by conversion (numbers, lists). */
};

/* Why validation failed, so the handler picks the HTTP code. */
enum submit_error {
	SUBMIT_ERR_NONE,
	SUBMIT_ERR_SHAPE, /* Missing metadata or data: HTTP 400. */
	SUBMIT_ERR_FIELD  /* A field is missing or wrong: HTTP 200. */
};

/*
 * Bind the field table to the database: read every column's type and
 * length from the catalogue.  Start-up only.  Returns 0, or -1 with
 * *cause set (the caller frees it) when a column is missing.
 */
int submit_fields_bind(const struct db_catalog *cat, char **cause)
    __attribute__((warn_unused_result));

/* The field's name as clients send it. */
const char *submit_field_name(enum submit_field f);

/* True when every entry of phase has field f (else it is refused). */
bool submit_field_required(enum submit_field f, enum submit_phase phase);

/* The phase's result table ("mpi_install", ...). */
const char *submit_phase_table(enum submit_phase phase);

/* The phase's id key in answers ("mpi_install_id", ...). */
const char *submit_phase_id_key(enum submit_phase phase);

/*
 * Parse a client's phase name: case-insensitive, spaces as underscores,
 * matched by prefix ("Test Running" is a run).  False when unknown.
 */
bool submit_phase_parse(const char *name, enum submit_phase *out);

/*
 * Check and convert a /submit body.  user is the authenticated name;
 * peer is the client's address, stored when hostname is absent.  Strings
 * in out point at texts of body's strings and numbers (which
 * json_value_drop_tree keeps) or into out, so body must outlive out.  Returns
 * SUBMIT_ERR_NONE, or an error with *cause set (the caller frees it).
 * Free out with submit_request_free either way.
 */
enum submit_error submit_request_parse(const struct json_value *body,
    const char *user, const char *peer, struct submit_request *out,
    char **cause) __attribute__((warn_unused_result));

/* Free what submit_request_parse allocated. */
void submit_request_free(struct submit_request *req);

#endif /* MTTD_SUBMIT_FIELDS_H */
