-- SPDX-License-Identifier: BSD-3-Clause
--
-- The mttv3 layout of the MTT results database, as the reference server
-- created it: tables, sequences and the placeholder rows with id 0.
-- Load it once into an empty database, as the role that will own it:
--
--   psql -v ON_ERROR_STOP=1 -d mttv3 -f schemas-v3.sql
--
-- The indexes mttd needs beyond this layout are in mttd-indexes.sql.
-- Placeholder rows are inserted with explicit ids, so every sequence is
-- still at its start afterwards: the first id handed out is 1.

BEGIN;

SET client_min_messages = warning;

--
-- Normalised values, each row found or made by the server.
--

CREATE TABLE submit (
    submit_id           serial,
    hostname            varchar(128) NOT NULL DEFAULT 'bogus',
    local_username      varchar(16) NOT NULL DEFAULT 'bogus',
    http_username       varchar(16) NOT NULL DEFAULT 'bogus',
    mtt_client_version  varchar(16) NOT NULL DEFAULT '',
    PRIMARY KEY (submit_id)
);

CREATE TABLE compute_cluster (
    compute_cluster_id  serial,
    platform_name       varchar(128) NOT NULL DEFAULT 'bogus',
    platform_hardware   varchar(128) NOT NULL DEFAULT 'bogus',
    platform_type       varchar(128) NOT NULL DEFAULT 'bogus',
    os_name             varchar(128) NOT NULL DEFAULT 'bogus',
    os_version          varchar(128) NOT NULL DEFAULT 'bogus',
    PRIMARY KEY (compute_cluster_id),
    UNIQUE (os_name, os_version, platform_hardware, platform_type,
            platform_name)
);

CREATE TABLE compiler (
    compiler_id         serial,
    compiler_name       varchar(64) NOT NULL DEFAULT 'bogus',
    compiler_version    varchar(64) NOT NULL DEFAULT 'bogus',
    PRIMARY KEY (compiler_id),
    UNIQUE (compiler_name, compiler_version)
);

CREATE TABLE mpi_get (
    mpi_get_id          serial,
    mpi_name            varchar(64) NOT NULL DEFAULT 'bogus',
    mpi_version         varchar(128) NOT NULL DEFAULT 'bogus',
    PRIMARY KEY (mpi_get_id),
    UNIQUE (mpi_name, mpi_version)
);

CREATE TABLE mpi_install_configure_args (
    mpi_install_configure_id serial,
    vpath_mode          bit(2) NOT NULL DEFAULT B'00',
    bitness             bit(6) NOT NULL DEFAULT B'000000',
    endian              bit(2) NOT NULL DEFAULT B'00',
    configure_arguments text NOT NULL DEFAULT '',
    PRIMARY KEY (mpi_install_configure_id),
    UNIQUE (vpath_mode, bitness, endian, configure_arguments)
);

CREATE TABLE description (
    description_id      serial,
    description         text DEFAULT 'bogus',
    PRIMARY KEY (description_id)
);

CREATE TABLE result_message (
    result_message_id   serial,
    result_message      text DEFAULT 'bogus',
    PRIMARY KEY (result_message_id)
);

CREATE TABLE environment (
    environment_id      serial,
    environment         text DEFAULT 'bogus',
    PRIMARY KEY (environment_id)
);

CREATE TABLE test_suites (
    test_suite_id       serial,
    suite_name          varchar(32) NOT NULL DEFAULT 'bogus',
    test_suite_description text DEFAULT '',
    PRIMARY KEY (test_suite_id),
    UNIQUE (suite_name)
);

CREATE TABLE test_names (
    test_name_id        serial,
    test_suite_id       integer NOT NULL,
    test_name           varchar(64) NOT NULL DEFAULT 'bogus',
    test_name_description text DEFAULT '',
    PRIMARY KEY (test_name_id),
    UNIQUE (test_suite_id, test_name),
    FOREIGN KEY (test_suite_id) REFERENCES test_suites (test_suite_id)
);

CREATE TABLE test_run_command (
    test_run_command_id serial,
    launcher            varchar(128) DEFAULT '',
    resource_mgr        varchar(32) DEFAULT '',
    parameters          text DEFAULT '',
    network             varchar(32) DEFAULT '',
    test_run_network_id integer DEFAULT 0,
    PRIMARY KEY (test_run_command_id)
);

CREATE TABLE interconnects (
    interconnect_id     serial,
    interconnect_name   varchar(32),
    PRIMARY KEY (interconnect_id)
);

CREATE TABLE test_run_networks (
    network_id          serial,
    test_run_network_id integer,
    interconnect_id     integer,
    PRIMARY KEY (network_id),
    FOREIGN KEY (interconnect_id) REFERENCES interconnects (interconnect_id)
);

CREATE TABLE latency_bandwidth (
    latency_bandwidth_id serial,
    message_size        integer[] DEFAULT '{}',
    bandwidth_min       double precision[] DEFAULT '{}',
    bandwidth_max       double precision[] DEFAULT '{}',
    bandwidth_avg       double precision[] DEFAULT '{}',
    latency_min         double precision[] DEFAULT '{}',
    latency_max         double precision[] DEFAULT '{}',
    latency_avg         double precision[] DEFAULT '{}',
    PRIMARY KEY (latency_bandwidth_id)
);

CREATE TABLE performance (
    performance_id      serial,
    latency_bandwidth_id integer,
    PRIMARY KEY (performance_id),
    FOREIGN KEY (latency_bandwidth_id)
        REFERENCES latency_bandwidth (latency_bandwidth_id)
);

-- Handed out by POST /serial.
CREATE SEQUENCE client_serial;
-- Kept from the reference; nothing draws from it yet.
CREATE SEQUENCE test_run_network_id;

--
-- Results: one table per phase, each with the columns of results_fields
-- after its own.  CREATE TABLE ... INHERITS would put the inherited
-- columns first, so each phase copies them with LIKE at the end and joins
-- the hierarchy afterwards with ALTER TABLE ... INHERIT.
--

CREATE TABLE results_fields (
    description_id      integer NOT NULL,
    start_timestamp     timestamp without time zone NOT NULL
                        DEFAULT now() - interval '24:00:00',
    test_result         smallint NOT NULL DEFAULT '-38',
    trial               boolean DEFAULT false,
    submit_timestamp    timestamp without time zone NOT NULL DEFAULT now(),
    duration            interval NOT NULL DEFAULT '-00:00:38',
    environment_id      integer NOT NULL,
    result_stdout       text NOT NULL DEFAULT '',
    result_stderr       text NOT NULL DEFAULT '',
    result_message_id   integer NOT NULL,
    merge_stdout_stderr boolean NOT NULL DEFAULT true,
    exit_value          integer NOT NULL DEFAULT '-38',
    exit_signal         integer NOT NULL DEFAULT '-38',
    client_serial       integer NOT NULL DEFAULT '-38'
);

CREATE TABLE mpi_install (
    mpi_install_id      serial,
    submit_id           integer NOT NULL DEFAULT '-38',
    compute_cluster_id  integer NOT NULL DEFAULT '-38',
    mpi_install_compiler_id integer NOT NULL DEFAULT '-38',
    mpi_get_id          integer NOT NULL DEFAULT '-38',
    mpi_install_configure_id integer NOT NULL DEFAULT '-38',
    LIKE results_fields INCLUDING DEFAULTS,
    PRIMARY KEY (mpi_install_id),
    FOREIGN KEY (submit_id) REFERENCES submit (submit_id),
    FOREIGN KEY (compute_cluster_id)
        REFERENCES compute_cluster (compute_cluster_id),
    FOREIGN KEY (mpi_install_compiler_id) REFERENCES compiler (compiler_id),
    FOREIGN KEY (mpi_get_id) REFERENCES mpi_get (mpi_get_id),
    FOREIGN KEY (mpi_install_configure_id)
        REFERENCES mpi_install_configure_args (mpi_install_configure_id),
    FOREIGN KEY (description_id) REFERENCES description (description_id),
    FOREIGN KEY (environment_id) REFERENCES environment (environment_id),
    FOREIGN KEY (result_message_id)
        REFERENCES result_message (result_message_id)
);
ALTER TABLE mpi_install INHERIT results_fields;

-- mpi_install_id links to mpi_install, checked by the server: a foreign
-- key cannot point into an inheritance hierarchy.
CREATE TABLE test_build (
    test_build_id       serial,
    submit_id           integer NOT NULL DEFAULT '-38',
    compute_cluster_id  integer NOT NULL DEFAULT '-38',
    mpi_install_compiler_id integer NOT NULL DEFAULT '-38',
    mpi_get_id          integer NOT NULL DEFAULT '-38',
    mpi_install_configure_id integer NOT NULL DEFAULT '-38',
    mpi_install_id      integer NOT NULL DEFAULT '-38',
    test_suite_id       integer NOT NULL DEFAULT '-38',
    test_build_compiler_id integer NOT NULL DEFAULT '-38',
    LIKE results_fields INCLUDING DEFAULTS,
    PRIMARY KEY (test_build_id),
    FOREIGN KEY (submit_id) REFERENCES submit (submit_id),
    FOREIGN KEY (compute_cluster_id)
        REFERENCES compute_cluster (compute_cluster_id),
    FOREIGN KEY (mpi_install_compiler_id) REFERENCES compiler (compiler_id),
    FOREIGN KEY (mpi_get_id) REFERENCES mpi_get (mpi_get_id),
    FOREIGN KEY (mpi_install_configure_id)
        REFERENCES mpi_install_configure_args (mpi_install_configure_id),
    FOREIGN KEY (test_suite_id) REFERENCES test_suites (test_suite_id),
    FOREIGN KEY (test_build_compiler_id) REFERENCES compiler (compiler_id),
    FOREIGN KEY (description_id) REFERENCES description (description_id),
    FOREIGN KEY (environment_id) REFERENCES environment (environment_id),
    FOREIGN KEY (result_message_id)
        REFERENCES result_message (result_message_id)
);
ALTER TABLE test_build INHERIT results_fields;

-- mpi_install_id and test_build_id are checked by the server, as above.
CREATE TABLE test_run (
    test_run_id         serial,
    submit_id           integer NOT NULL DEFAULT '-38',
    compute_cluster_id  integer NOT NULL DEFAULT '-38',
    mpi_install_compiler_id integer NOT NULL DEFAULT '-38',
    mpi_get_id          integer NOT NULL DEFAULT '-38',
    mpi_install_configure_id integer NOT NULL DEFAULT '-38',
    mpi_install_id      integer NOT NULL DEFAULT '-38',
    test_suite_id       integer NOT NULL DEFAULT '-38',
    test_build_compiler_id integer NOT NULL DEFAULT '-38',
    test_build_id       integer NOT NULL DEFAULT '-38',
    test_name_id        integer NOT NULL DEFAULT '-38',
    performance_id      integer DEFAULT '-38',
    test_run_command_id integer NOT NULL DEFAULT '-38',
    np                  smallint NOT NULL DEFAULT '-38',
    full_command        text NOT NULL DEFAULT 'bogus',
    LIKE results_fields INCLUDING DEFAULTS,
    PRIMARY KEY (test_run_id),
    FOREIGN KEY (submit_id) REFERENCES submit (submit_id),
    FOREIGN KEY (compute_cluster_id)
        REFERENCES compute_cluster (compute_cluster_id),
    FOREIGN KEY (mpi_install_compiler_id) REFERENCES compiler (compiler_id),
    FOREIGN KEY (mpi_get_id) REFERENCES mpi_get (mpi_get_id),
    FOREIGN KEY (mpi_install_configure_id)
        REFERENCES mpi_install_configure_args (mpi_install_configure_id),
    FOREIGN KEY (test_suite_id) REFERENCES test_suites (test_suite_id),
    FOREIGN KEY (test_build_compiler_id) REFERENCES compiler (compiler_id),
    FOREIGN KEY (test_name_id) REFERENCES test_names (test_name_id),
    FOREIGN KEY (performance_id) REFERENCES performance (performance_id),
    FOREIGN KEY (test_run_command_id)
        REFERENCES test_run_command (test_run_command_id),
    FOREIGN KEY (description_id) REFERENCES description (description_id),
    FOREIGN KEY (environment_id) REFERENCES environment (environment_id),
    FOREIGN KEY (result_message_id)
        REFERENCES result_message (result_message_id)
);
ALTER TABLE test_run INHERIT results_fields;

--
-- Placeholder rows: id 0 means "not given" in a link.  test_run and
-- results_fields have none.
--

INSERT INTO submit (submit_id, hostname, local_username, http_username,
                    mtt_client_version)
    VALUES (0, 'undef', 'undef', 'undef', 'undef');

INSERT INTO compute_cluster (compute_cluster_id, platform_name,
                             platform_hardware, platform_type, os_name,
                             os_version)
    VALUES (0, 'undef', 'undef', 'undef', 'undef', 'undef');

INSERT INTO compiler (compiler_id, compiler_name, compiler_version)
    VALUES (0, 'undef', 'undef');

INSERT INTO mpi_get (mpi_get_id, mpi_name, mpi_version)
    VALUES (0, 'undef', 'undef');

INSERT INTO mpi_install_configure_args (mpi_install_configure_id,
                                        vpath_mode, bitness, endian,
                                        configure_arguments)
    VALUES (0, B'00', B'000000', B'00', 'undef');

INSERT INTO description (description_id, description) VALUES (0, '');

INSERT INTO result_message (result_message_id, result_message)
    VALUES (0, 'undef');

INSERT INTO environment (environment_id, environment) VALUES (0, '');

INSERT INTO test_suites (test_suite_id, suite_name, test_suite_description)
    VALUES (0, 'undef', 'undef');

INSERT INTO test_names (test_name_id, test_suite_id, test_name,
                        test_name_description)
    VALUES (0, 0, 'undef', 'undef');

INSERT INTO test_run_command (test_run_command_id, launcher, resource_mgr,
                              parameters, network, test_run_network_id)
    VALUES (0, '', '', '', '', 0);

INSERT INTO interconnects (interconnect_id, interconnect_name)
    VALUES (0, '');

INSERT INTO test_run_networks (network_id, test_run_network_id,
                               interconnect_id)
    VALUES (0, 0, 0);

INSERT INTO latency_bandwidth (latency_bandwidth_id, message_size,
                               bandwidth_min, bandwidth_max, bandwidth_avg,
                               latency_min, latency_max, latency_avg)
    VALUES (0, '{}', '{}', '{}', '{}', '{}', '{}', '{}');

INSERT INTO performance (performance_id, latency_bandwidth_id)
    VALUES (0, 0);

INSERT INTO mpi_install (mpi_install_id, submit_id, compute_cluster_id,
                         mpi_install_compiler_id, mpi_get_id,
                         mpi_install_configure_id, description_id,
                         start_timestamp, test_result, trial,
                         submit_timestamp, duration, environment_id,
                         result_stdout, result_stderr, result_message_id,
                         merge_stdout_stderr, exit_value, exit_signal,
                         client_serial)
    VALUES (0, 0, 0, 0, 0, 0, 0,
            '2006-11-01T00:00:00', 1, false,
            '2006-11-01T00:00:00', '00:00:01', 0,
            'undef', 'undef', 0,
            true, 0, -38, -38);

INSERT INTO test_build (test_build_id, submit_id, compute_cluster_id,
                        mpi_install_compiler_id, mpi_get_id,
                        mpi_install_configure_id, mpi_install_id,
                        test_suite_id, test_build_compiler_id,
                        description_id, start_timestamp, test_result, trial,
                        submit_timestamp, duration, environment_id,
                        result_stdout, result_stderr, result_message_id,
                        merge_stdout_stderr, exit_value, exit_signal,
                        client_serial)
    VALUES (0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, '2006-11-01T00:00:00', 1, false,
            '2006-11-01T00:00:00', '00:00:01', 0,
            'undef', 'undef', 0,
            true, 0, -38, -38);

COMMIT;
