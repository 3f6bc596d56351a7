/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The columns of schema-v3.md that submit_fields_bind asks the catalogue
 * for, as information_schema names their types: the stand-in database
 * catalogue of the submit_fields unit tests and fuzz target.
 */
#ifndef MTTD_SCHEMA_V3_COLUMNS_H
#define MTTD_SCHEMA_V3_COLUMNS_H

/* One column as information_schema names its type; -1: no length. */
struct catalog_column {
	const char *table;
	const char *column;
	const char *type;
	int max_chars;
};

/* Read off schema-v3.md: the tables a submission touches. */
static const struct catalog_column schema_v3[] = {
	{ "submit", "submit_id", "integer", -1 },
	{ "submit", "hostname", "character varying", 128 },
	{ "submit", "local_username", "character varying", 16 },
	{ "submit", "http_username", "character varying", 16 },
	{ "submit", "mtt_client_version", "character varying", 16 },
	{ "compute_cluster", "platform_name", "character varying", 128 },
	{ "compute_cluster", "platform_hardware", "character varying", 128 },
	{ "compute_cluster", "platform_type", "character varying", 128 },
	{ "compute_cluster", "os_name", "character varying", 128 },
	{ "compute_cluster", "os_version", "character varying", 128 },
	{ "compiler", "compiler_name", "character varying", 64 },
	{ "compiler", "compiler_version", "character varying", 64 },
	{ "mpi_get", "mpi_name", "character varying", 64 },
	{ "mpi_get", "mpi_version", "character varying", 128 },
	{ "mpi_install_configure_args", "vpath_mode", "bit", 2 },
	{ "mpi_install_configure_args", "bitness", "bit", 6 },
	{ "mpi_install_configure_args", "endian", "bit", 2 },
	{ "mpi_install_configure_args", "configure_arguments", "text", -1 },
	{ "description", "description", "text", -1 },
	{ "result_message", "result_message", "text", -1 },
	{ "environment", "environment", "text", -1 },
	{ "test_suites", "suite_name", "character varying", 32 },
	{ "test_names", "test_name", "character varying", 64 },
	{ "test_run_command", "launcher", "character varying", 128 },
	{ "test_run_command", "resource_mgr", "character varying", 32 },
	{ "test_run_command", "parameters", "text", -1 },
	{ "test_run_command", "network", "character varying", 32 },
	{ "latency_bandwidth", "message_size", "ARRAY", -1 },
	{ "latency_bandwidth", "latency_min", "ARRAY", -1 },
	{ "mpi_install", "start_timestamp", "timestamp without time zone", -1 },
	{ "mpi_install", "test_result", "smallint", -1 },
	{ "mpi_install", "trial", "boolean", -1 },
	{ "mpi_install", "duration", "interval", -1 },
	{ "mpi_install", "result_stdout", "text", -1 },
	{ "mpi_install", "result_stderr", "text", -1 },
	{ "mpi_install", "merge_stdout_stderr", "boolean", -1 },
	{ "mpi_install", "exit_value", "integer", -1 },
	{ "mpi_install", "exit_signal", "integer", -1 },
	{ "mpi_install", "client_serial", "integer", -1 },
	{ "test_build", "mpi_install_id", "integer", -1 },
	{ "test_build", "test_result", "smallint", -1 },
	{ "test_run", "test_build_id", "integer", -1 },
	{ "test_run", "np", "smallint", -1 },
	{ "test_run", "full_command", "text", -1 },
	{ "test_run", "test_result", "smallint", -1 },
};

#endif /* MTTD_SCHEMA_V3_COLUMNS_H */
