-- SPDX-License-Identifier: BSD-3-Clause
--
-- Indexes for reading results back (/detail, /summary, /info) on a large
-- mttv3 database.  Like mttd-indexes.sql it is safe to run again and again
-- on any mttv3 database, also one the reference filled: every index is
-- created only when missing and none is unique.  mttd works without them
-- (queries then scan whole tables) and warns at start-up, naming this
-- file, when one is missing.
--
--   psql -v ON_ERROR_STOP=1 -d mttv3 -f mttd-query-indexes.sql
--
-- On a live database each CREATE INDEX locks out writes to its table while
-- it builds: run it in a quiet hour, or run each statement by hand as
-- CREATE INDEX CONCURRENTLY IF NOT EXISTS (outside a transaction).
--
-- What each group serves:
--   *_start        date ranges on start_timestamp ("what broke last
--                  night"), and /info/runtime's first and last run.
--   *_<link>       the links a search follows from a normalised value to
--                  its results (mpi_version -> mpi_get -> test_run):
--                  without them a search on one version scans every
--                  result.
--   *_by_*         the normalised tables searched by a column their
--                  unique key does not start with.

CREATE INDEX IF NOT EXISTS mttd_mpi_install_start
	ON mpi_install (start_timestamp);
CREATE INDEX IF NOT EXISTS mttd_test_build_start
	ON test_build (start_timestamp);
CREATE INDEX IF NOT EXISTS mttd_test_run_start
	ON test_run (start_timestamp);

CREATE INDEX IF NOT EXISTS mttd_mpi_install_mpi_get
	ON mpi_install (mpi_get_id);
CREATE INDEX IF NOT EXISTS mttd_mpi_install_cluster
	ON mpi_install (compute_cluster_id);
CREATE INDEX IF NOT EXISTS mttd_mpi_install_compiler
	ON mpi_install (mpi_install_compiler_id);
CREATE INDEX IF NOT EXISTS mttd_mpi_install_submit
	ON mpi_install (submit_id);

CREATE INDEX IF NOT EXISTS mttd_test_build_mpi_get
	ON test_build (mpi_get_id);
CREATE INDEX IF NOT EXISTS mttd_test_build_cluster
	ON test_build (compute_cluster_id);
CREATE INDEX IF NOT EXISTS mttd_test_build_compiler
	ON test_build (mpi_install_compiler_id);
CREATE INDEX IF NOT EXISTS mttd_test_build_suite
	ON test_build (test_suite_id);
CREATE INDEX IF NOT EXISTS mttd_test_build_install
	ON test_build (mpi_install_id);

CREATE INDEX IF NOT EXISTS mttd_test_run_mpi_get
	ON test_run (mpi_get_id);
CREATE INDEX IF NOT EXISTS mttd_test_run_cluster
	ON test_run (compute_cluster_id);
CREATE INDEX IF NOT EXISTS mttd_test_run_compiler
	ON test_run (mpi_install_compiler_id);
CREATE INDEX IF NOT EXISTS mttd_test_run_suite
	ON test_run (test_suite_id);
CREATE INDEX IF NOT EXISTS mttd_test_run_test_name
	ON test_run (test_name_id);
CREATE INDEX IF NOT EXISTS mttd_test_run_build
	ON test_run (test_build_id);
CREATE INDEX IF NOT EXISTS mttd_test_run_submit
	ON test_run (submit_id);

CREATE INDEX IF NOT EXISTS mttd_test_names_by_name
	ON test_names (test_name);
CREATE INDEX IF NOT EXISTS mttd_mpi_get_by_version
	ON mpi_get (mpi_version);
CREATE INDEX IF NOT EXISTS mttd_compute_cluster_by_platform
	ON compute_cluster (platform_name);
