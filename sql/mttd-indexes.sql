-- SPDX-License-Identifier: BSD-3-Clause
--
-- Indexes mttd needs beyond the reference's mttv3 layout.  Safe on any
-- mttv3 database, again and again: every index is created only when
-- missing, and none is unique, because a database the reference filled may
-- already hold duplicate rows (its find-then-insert took no lock).  mttd
-- checks at start-up that each of them exists and names this file when
-- one does not.
--
--   psql -v ON_ERROR_STOP=1 -d mttv3 -f mttd-indexes.sql
--
-- On a large live database, CREATE INDEX locks out writes to its table
-- while it builds; run it in a quiet hour, or run each statement by hand
-- with CREATE INDEX CONCURRENTLY IF NOT EXISTS (outside a transaction).
--
-- Find-or-create lookups: a submission looks each normalised value up
-- before it inserts one, and without these the lookup scans the table.
--   mttd_submit_lookup            submit rows by their four identifying
--                                 columns (hostname, local user, HTTP user,
--                                 client version).
--   mttd_description_lookup,
--   mttd_result_message_lookup,
--   mttd_environment_lookup       free-text values, indexed by md5() of
--                                 the text: a B-tree entry must fit in a
--                                 page, and these texts can be longer.
--                                 Lookups ask md5(x) = md5($1) AND x = $1.
--   mttd_test_run_command_lookup  the launcher, resource manager and
--                                 network columns with md5(parameters).
--   mttd_latency_bandwidth_lookup latency_bandwidth rows by message_size
--                                 (the other arrays are compared on the
--                                 few rows found).  A B-tree entry holds
--                                 at most about 670 message sizes.
--   mttd_performance_lookup       the performance row of a
--                                 latency_bandwidth row.
-- (compute_cluster, compiler, mpi_get, mpi_install_configure_args,
-- test_suites and test_names have unique constraints, whose indexes serve.)
--
-- The duplicate-result check: an entry equal to a stored result of the
-- same submit is answered with the stored id instead of a new row, which
-- makes a client's retry harmless.  These narrow the candidates to those
-- of one submit, linked row and start time before the other columns are
-- compared; without them the check scans millions of results.
--   mttd_mpi_install_dedup        (submit_id, mpi_get_id, start_timestamp)
--   mttd_test_build_dedup         (submit_id, test_suite_id,
--                                 start_timestamp)
--   mttd_test_run_dedup           (submit_id, test_name_id,
--                                 start_timestamp)

SET client_min_messages = warning;

CREATE INDEX IF NOT EXISTS mttd_submit_lookup
    ON submit (hostname, local_username, http_username, mtt_client_version);

CREATE INDEX IF NOT EXISTS mttd_description_lookup
    ON description (md5(description));

CREATE INDEX IF NOT EXISTS mttd_result_message_lookup
    ON result_message (md5(result_message));

CREATE INDEX IF NOT EXISTS mttd_environment_lookup
    ON environment (md5(environment));

CREATE INDEX IF NOT EXISTS mttd_test_run_command_lookup
    ON test_run_command (launcher, resource_mgr, network, md5(parameters));

CREATE INDEX IF NOT EXISTS mttd_latency_bandwidth_lookup
    ON latency_bandwidth (message_size);

CREATE INDEX IF NOT EXISTS mttd_performance_lookup
    ON performance (latency_bandwidth_id);

CREATE INDEX IF NOT EXISTS mttd_mpi_install_dedup
    ON mpi_install (submit_id, mpi_get_id, start_timestamp);

CREATE INDEX IF NOT EXISTS mttd_test_build_dedup
    ON test_build (submit_id, test_suite_id, start_timestamp);

CREATE INDEX IF NOT EXISTS mttd_test_run_dedup
    ON test_run (submit_id, test_name_id, start_timestamp);
