/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The field catalogue.  The descriptions are the reference's, as its
 * /fields answered them (typos included: clients may compare them).
 * Every display name maps to one SQL expression over the join aliases
 * of query_join_sql; shared result fields come from the phase table p.
 */
#include "config.h"

#include <string.h>

#include "query_fields.h"

/* clang-format off */
#define TXT(n, d, t, e, j, ph) \
	{ n, d, t, e, "''", QT_TEXT, j, ph, 0, false, false }
#define LONG(n, d, t, e, j, ph) \
	{ n, d, t, e, "''", QT_TEXT, j, ph, 0, true, false }
/* The same, of a column that may hold NULL. */
#define TXT_NULL(n, d, t, e, j, ph) \
	{ n, d, t, e, "''", QT_TEXT, j, ph, 0, false, true }
#define LONG_NULL(n, d, t, e, j, ph) \
	{ n, d, t, e, "''", QT_TEXT, j, ph, 0, true, true }
#define OWN(n, d, e, ty, ph) \
	{ n, d, "results_fields", e, NULL, ty, QJ_NONE, ph, 0, false, false }
#define LB(n, ty) { n, "TODO", "latency_bandwidth", "lb." n, "'{}'", ty, \
	QJ_PERFORMANCE, QP_RUN, 0, false, true }
/* clang-format on */

static const struct query_field query_fields[] = {
	TXT("platform_name",
	    "Custom name of the platform (e.g., \"my-cluster\")",
	    "compute_cluster", "cc.platform_name", QJ_CLUSTER, QP_ALL),
	TXT("platform_hardware",
	    "String representation of the hardware (e.g., \"x86_64\")",
	    "compute_cluster", "cc.platform_hardware", QJ_CLUSTER, QP_ALL),
	TXT("platform_type",
	    "String representation of the platform type (e.g., "
	    "\"linux-rhel6.7-x86_64\")",
	    "compute_cluster", "cc.platform_type", QJ_CLUSTER, QP_ALL),
	TXT("os_name", "Common name for the OS (e.g., \"Linux\")",
	    "compute_cluster", "cc.os_name", QJ_CLUSTER, QP_ALL),
	TXT("os_version",
	    "Version information for the OS (e.g., "
	    "\"Linux 2.6.32-573.12.1.e16.x86_64\")",
	    "compute_cluster", "cc.os_version", QJ_CLUSTER, QP_ALL),
	TXT("hostname", "The hostname where the test ras run", "submit",
	    "s.hostname", QJ_SUBMIT, QP_ALL),
	TXT("local_username", "The local username of the host", "submit",
	    "s.local_username", QJ_SUBMIT, QP_ALL),
	TXT("http_username", "TODO", "submit", "s.http_username", QJ_SUBMIT,
	    QP_ALL),
	TXT("mtt_client_version", "Version of the client you are running",
	    "submit", "s.mtt_client_version", QJ_SUBMIT, QP_ALL),
	TXT("compiler_name", "Common name for the compiler (e.g., \"gnu\")",
	    "compiler", "c.compiler_name", QJ_COMPILER, QP_ALL),
	TXT("compiler_version",
	    "Version string for the compiler (e.g., \"4.4.7\")", "compiler",
	    "c.compiler_version", QJ_COMPILER, QP_ALL),
	TXT("mpi_name",
	    "A name for the MPI version (e.g., \"ompi-nightly-v1.10\")",
	    "mpi_get", "mg.mpi_name", QJ_MPI_GET, QP_ALL),
	TXT("mpi_version",
	    "Version strin reported by MPI (e.g., \"v1.10.2-114-gf3bad94\")",
	    "mpi_get", "mg.mpi_version", QJ_MPI_GET, QP_ALL),
	LONG_NULL("description", "Text description of this test", "description",
	    "d.description", QJ_DESCRIPTION, QP_ALL),
	LONG_NULL("result_message",
	    "A string representation of the test result (e.g., \"Success\" "
	    "or \"Failed; timeout expired (00:10 DD:HH:MM:SS)\")",
	    "result_message", "rm.result_message", QJ_RESULT_MESSAGE, QP_ALL),
	LONG_NULL("environment",
	    "Any environment variables of note (usually this is blank)",
	    "environment", "e.environment", QJ_ENVIRONMENT, QP_ALL),
	{ "vpath_mode",
	    "If the code was compiled using a VPATH build: 1 = relative path, "
	    "2 = absolute path, 0 = unknown (default)",
	    "mpi_install_configure_args", "ca.vpath_mode", "'00'", QT_BITS,
	    QJ_CONFIGURE, QP_ALL, 2, false, false },
	{ "bitness",
	    "The bitness of the machine: 1 = 8 bit, 2 = 16 bit, 4 = 32 bit, "
	    "6 = 32/64 bit, 8 = 64 bit, 16 = 128 bit, \"unknown\" = unknown "
	    "bitness",
	    "mpi_install_configure_args", "ca.bitness", "'000000'", QT_BITS,
	    QJ_CONFIGURE, QP_ALL, 6, false, false },
	LONG("configure_arguments", "TODO", "mpi_install_configure_args",
	    "ca.configure_arguments", QJ_CONFIGURE, QP_ALL),
	OWN("start_timestamp", "Timestamp when the test started",
	    "p.start_timestamp", QT_TIMESTAMP, QP_ALL),
	OWN("test_result",
	    "A numerical classification of the test result: 0 = failed, 1 = "
	    "passed, 2 = skipped, 3 = timed out, -1 = unknown",
	    "p.test_result", QT_INT, QP_ALL),
	{ "trial", "Whether this is a trial run: 0 = false, 1 = true",
	    "results_fields", "p.trial", "false", QT_BOOL, QJ_NONE, QP_ALL, 0,
	    false, true },
	OWN("submit_timestamp", "TODO", "p.submit_timestamp", QT_TIMESTAMP,
	    QP_ALL),
	OWN("duration",
	    "Time taken interval (e.g. \"322 seconds\", default \"0 "
	    "seconds\")",
	    "p.duration", QT_INTERVAL, QP_ALL),
	{ "result_stdout", "stdout of the process", "results_fields",
	    "p.result_stdout", NULL, QT_TEXT, QJ_NONE, QP_ALL, 0, true, false },
	{ "result_stderr", "stderr of the process", "results_fields",
	    "p.result_stderr", NULL, QT_TEXT, QJ_NONE, QP_ALL, 0, true, false },
	OWN("merge_stdout_stderr",
	    "If the output was merged: 0 = false, 1 = true",
	    "p.merge_stdout_stderr", QT_BOOL, QP_ALL),
	OWN("exit_value", "The return code of the process (e.g., \"0\")",
	    "p.exit_value", QT_INT, QP_ALL),
	OWN("exit_signal", "TODO", "p.exit_signal", QT_INT, QP_ALL),
	OWN("client_serial", "A valid integer from a previous call to /serial",
	    "p.client_serial", QT_INT, QP_ALL),
	TXT("suite_name", "A name for the test suite (e.g., \"trivial\")",
	    "test_suites", "ts.suite_name", QJ_SUITE, QP_BUILD | QP_RUN),
	LONG_NULL("test_suite_description", "A description for the test suite",
	    "test_suites", "ts.test_suite_description", QJ_SUITE,
	    QP_BUILD | QP_RUN),
	TXT("test_name", "Name of the test", "test_names", "tn.test_name",
	    QJ_TEST_NAME, QP_RUN),
	LONG_NULL("test_description", "Description of the test", "test_names",
	    "tn.test_name_description", QJ_TEST_NAME, QP_RUN),
	LB("message_size", QT_INT_ARRAY),
	LB("bandwidth_min", QT_FLOAT_ARRAY),
	LB("bandwidth_max", QT_FLOAT_ARRAY),
	LB("bandwidth_avg", QT_FLOAT_ARRAY),
	LB("latency_min", QT_FLOAT_ARRAY),
	LB("latency_max", QT_FLOAT_ARRAY),
	LB("latency_avg", QT_FLOAT_ARRAY),

	/* A command may name several interconnects: one value, comma-joined,
	 * so that they cannot multiply the rows; as many names as it has,
	 * so not bounded as a varchar is. */
	LONG_NULL("interconnect_name", "TODO", "interconnects",
	    "(SELECT string_agg(i.interconnect_name, ',' ORDER BY "
	    "i.interconnect_name) FROM test_run_networks trn JOIN "
	    "interconnects i ON i.interconnect_id = trn.interconnect_id "
	    "WHERE trn.test_run_network_id = trc.test_run_network_id)",
	    QJ_COMMAND, QP_RUN),
	TXT_NULL("launcher",
	    "Binary name of what was used to launch the process (e.g., "
	    "\"mpirun\")",
	    "test_run_command", "trc.launcher", QJ_COMMAND, QP_RUN),
	TXT_NULL("resource_manager",
	    "String representation of the resource manager used (e.g. "
	    "\"slurm\")",
	    "test_run_command", "trc.resource_mgr", QJ_COMMAND, QP_RUN),
	LONG_NULL("parameters",
	    "Breakdown the command line parameters (often we just send \"\", "
	    "server will try to discover from command)",
	    "test_run_command", "trc.parameters", QJ_COMMAND, QP_RUN),
	TXT_NULL("network",
	    "String representation of the network (often we just send \"\", "
	    "server will try to discover from command)",
	    "test_run_command", "trc.network", QJ_COMMAND, QP_RUN),
	{ "np", "Number of processes used (input to mpirun command)",
	    "test_run", "p.np", NULL, QT_INT, QJ_NONE, QP_RUN, 0, false,
	    false },
	{ "command", "The full command line string used", "test_run",
	    "p.full_command", NULL, QT_TEXT, QJ_NONE, QP_RUN, 0, true, false },
};

#define QUERY_FIELD_COUNT (sizeof query_fields / sizeof query_fields[0])

static const struct query_phase query_phases[] = {
	{ "install", "mpi_install", "mpi_install_id", QP_INSTALL },
	{ "test_build", "test_build", "test_build_id", QP_BUILD },
	{ "test_run", "test_run", "test_run_id", QP_RUN },
};

/* Indexed by enum query_join; each names the aliases of query_fields. */
static const char *const query_joins[QJ_COUNT] = {
	[QJ_SUBMIT] = "LEFT JOIN submit s ON s.submit_id = p.submit_id",
	[QJ_CLUSTER] = "LEFT JOIN compute_cluster cc"
		       " ON cc.compute_cluster_id = p.compute_cluster_id",
	[QJ_COMPILER] = "LEFT JOIN compiler c"
			" ON c.compiler_id = p.mpi_install_compiler_id",
	[QJ_MPI_GET] = "LEFT JOIN mpi_get mg ON mg.mpi_get_id = p.mpi_get_id",
	[QJ_CONFIGURE] = "LEFT JOIN mpi_install_configure_args ca"
			 " ON ca.mpi_install_configure_id ="
			 " p.mpi_install_configure_id",
	[QJ_DESCRIPTION] = "LEFT JOIN description d"
			   " ON d.description_id = p.description_id",
	[QJ_RESULT_MESSAGE] = "LEFT JOIN result_message rm"
			      " ON rm.result_message_id = p.result_message_id",
	[QJ_ENVIRONMENT] = "LEFT JOIN environment e"
			   " ON e.environment_id = p.environment_id",
	[QJ_SUITE] = "LEFT JOIN test_suites ts"
		     " ON ts.test_suite_id = p.test_suite_id",
	[QJ_TEST_NAME] = "LEFT JOIN test_names tn"
			 " ON tn.test_name_id = p.test_name_id",
	[QJ_COMMAND] = "LEFT JOIN test_run_command trc"
		       " ON trc.test_run_command_id = p.test_run_command_id",
	[QJ_PERFORMANCE] = "LEFT JOIN performance pf"
			   " ON pf.performance_id = p.performance_id"
			   " LEFT JOIN latency_bandwidth lb"
			   " ON lb.latency_bandwidth_id ="
			   " pf.latency_bandwidth_id",
};

const struct query_field *
query_fields_all(size_t *count)
{
	*count = QUERY_FIELD_COUNT;
	return query_fields;
}

const struct query_field *
query_field_find(const char *name)
{
	size_t i;

	for (i = 0; i < QUERY_FIELD_COUNT; i++) {
		if (strcmp(query_fields[i].name, name) == 0)
			return &query_fields[i];
	}
	return NULL;
}

bool
query_field_applies(
    const struct query_field *f, const struct query_phase *phase)
{
	return (f->phases & phase->bit) != 0;
}

const struct query_phase *
query_phase_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof query_phases / sizeof query_phases[0]; i++) {
		if (strcmp(query_phases[i].name, name) == 0)
			return &query_phases[i];
	}
	return NULL;
}

const char *
query_phase_names(void)
{
	return "install, test_build, test_run";
}

const char *
query_join_sql(enum query_join j)
{
	return query_joins[j];
}

const char *
query_type_cast(const struct query_field *f)
{
	switch (f->type) {
	case QT_INT:
		return "int8";
	case QT_BOOL:
		return "bool";
	case QT_TIMESTAMP:
		return "timestamp";
	case QT_INTERVAL:
		return "interval";
	case QT_BITS:
		return f->width == 2 ? "bit(2)" : "bit(6)";
	default:
		return "text";
	}
}
