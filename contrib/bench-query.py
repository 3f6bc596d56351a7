#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Benchmark of mttd's query side against psql on the same SQL.

Starts a private PostgreSQL (contrib/pg-private.sh) and an mttd in proxy
mode, fills test_run with --rows results over realistic dimensions, and
times, each --runs times (median): a /detail export of every row with
eight columns against psql's COPY of the same SELECT (taken from mttd's
DEBUG log), mttd's peak memory during that export, a /summary grouped by
mpi_version, compiler_name and suite_name against the same GROUP BY in
psql, and a count_only /detail against SELECT count(*).  Then it adds
--extra-rows rows and measures again.  Every answer is checked for
completeness first.  Prints a table of measure, mttd, baseline, ratio,
target and pass/fail, and where the CPU time went.

Run by hand (it takes minutes; not part of make check), as root or as a
user that can run PostgreSQL:

    python3 contrib/bench-query.py [--mttd PATH] [--rows N]
        [--extra-rows N] [--runs N] [--keep]

The database runs with MTTD_PG_FAST=1 (fsync off): it speeds up the fill
and changes nothing for the measured reads.  Standard library only.
Exits 0 when every target is met, 1 when one is not, 2 on an error.
"""

import argparse
import base64
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(HERE)
PG_PRIVATE = os.path.join(HERE, "pg-private.sh")
MIB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 0.05
WAIT_S = 30

DETAIL_COLUMNS = ["test_name", "np", "test_result", "start_timestamp",
                  "duration", "mpi_version", "compiler_name",
                  "platform_name"]
SUMMARY_COLUMNS = ["mpi_version", "compiler_name", "suite_name"]
SUMMARY_COUNTERS = ["test_result_failed", "test_result_passed",
                    "test_result_skipped", "test_result_timed_out",
                    "test_result_unknown"]

DETAIL_RATIO = 1.25
SUMMARY_RATIO = 1.2
MEMORY_LIMIT = 32 * MIB
# "About the same at both sizes": within this much of each other.
MEMORY_FLAT = 2 * MIB
# CPU of other processes, per second of a run, past which it is flagged.
OTHER_LOAD = 0.3

# Dimensions, numbers as in an MTT database of a few busy months.
N_SUBMIT = 300
N_CLUSTER = 40
N_MPI_GET = 30
N_CONFIGURE = 10
N_DESCRIPTION = 20
N_RESULT_MESSAGE = 50
N_ENVIRONMENT = 10
N_SUITE = 60
N_TEST_NAME = 3000
N_COMMAND = 100
N_INSTALL = 300
N_BUILD = 600
# test_build b has suite 1 + (b-1) % N_SUITE: the builds of one suite.
BUILDS_PER_SUITE = N_BUILD // N_SUITE
PERIOD_S = 60 * 86400

DIMENSIONS_SQL = """
SELECT setseed(0.25);

INSERT INTO submit (submit_id, hostname, local_username, http_username,
                    mtt_client_version)
SELECT g, 'node' || lpad((g % 97)::text, 3, '0') || '.site' || (g % 17)
          || '.example.org',
       'mtt' || (g % 23), 'org' || (g % 11), '4.0.' || (g % 4)
FROM generate_series(1, {N_SUBMIT}) g;

INSERT INTO compute_cluster (compute_cluster_id, platform_name,
                             platform_hardware, platform_type, os_name,
                             os_version)
SELECT g,
       (ARRAY['cisco-ucs', 'ibm-power9', 'nvidia-dgx', 'aws-c5n',
              'amd-rome', 'intel-icx', 'arm-graviton', 'hpe-cray'])
           [1 + g % 8] || '-' || (1 + g / 8),
       (ARRAY['x86_64', 'ppc64le', 'x86_64', 'x86_64', 'x86_64',
              'x86_64', 'aarch64', 'x86_64'])[1 + g % 8],
       'linux-rhel8-' || (ARRAY['x86_64', 'ppc64le', 'aarch64'])
           [1 + g % 3],
       'Linux', '4.18.0-' || (300 + g * 7) || '.el8.x86_64'
FROM generate_series(1, {N_CLUSTER}) g;

INSERT INTO compiler (compiler_id, compiler_name, compiler_version)
VALUES (1, 'gnu', '9.4.0'), (2, 'gnu', '11.3.0'), (3, 'gnu', '12.2.0'),
       (4, 'gnu', '13.1.0'), (5, 'intel', '2021.6.0'),
       (6, 'clang', '15.0.7'), (7, 'clang', '16.0.6'),
       (8, 'pgi', '22.1');

INSERT INTO mpi_get (mpi_get_id, mpi_name, mpi_version)
SELECT g,
       'ompi-nightly-' || (ARRAY['main', 'v5.0.x', 'v4.1.x'])[1 + g % 3],
       (ARRAY['main', 'v5.0.x', 'v4.1.x'])[1 + g % 3] || '-2026'
           || lpad((1 + g % 12)::text, 2, '0') || lpad(g::text, 2, '0')
           || '-g' || substr(md5(g::text), 1, 7)
FROM generate_series(1, {N_MPI_GET}) g;

INSERT INTO mpi_install_configure_args (mpi_install_configure_id,
    vpath_mode, bitness, endian, configure_arguments)
SELECT g, (g % 3)::bit(2), B'001000', B'01',
       '--enable-debug --with-ucx=/opt/ucx-1.' || g
           || ' --with-slurm --enable-mpi-fortran=usempif08'
FROM generate_series(1, {N_CONFIGURE}) g;

INSERT INTO description (description_id, description)
SELECT g, 'Nightly run of the ' || g || ' configuration'
FROM generate_series(1, {N_DESCRIPTION}) g;

INSERT INTO result_message (result_message_id, result_message)
SELECT g, CASE WHEN g = 1 THEN 'Passed'
               WHEN g = 2 THEN 'Skipped'
               WHEN g <= 10 THEN 'Failed; timeout expired (00:'
                   || lpad((g * 5)::text, 2, '0') || ' DD:HH:MM:SS)'
               ELSE 'Failed; exit status: ' || (g - 10)
          END
FROM generate_series(1, {N_RESULT_MESSAGE}) g;

INSERT INTO environment (environment_id, environment)
SELECT g, 'OMPI_MCA_btl=self,vader,tcp UCX_TLS=rc,sm SEED=' || g
FROM generate_series(1, {N_ENVIRONMENT}) g;

INSERT INTO test_suites (test_suite_id, suite_name, test_suite_description)
SELECT g,
       (ARRAY['trivial', 'ibm', 'intel', 'imb', 'osu', 'mpich', 'onesided',
              'java', 'ompi-tests', 'sessions', 'usempif08', 'cuda'])
           [1 + (g - 1) % 12]
           || CASE WHEN g > 12 THEN '-' || ((g - 1) / 12) ELSE '' END,
       'Test suite number ' || g
FROM generate_series(1, {N_SUITE}) g;

INSERT INTO test_names (test_name_id, test_suite_id, test_name,
                        test_name_description)
SELECT g, 1 + (g - 1) % {N_SUITE},
       (ARRAY['allreduce', 'bcast', 'alltoall', 'ring', 'hello_c',
              'sendrecv', 'barrier', 'gather', 'scatter',
              'reduce_scatter'])[1 + g % 10] || '_' || g,
       'Checks ' || (ARRAY['allreduce', 'bcast', 'alltoall', 'ring',
                           'hello_c', 'sendrecv', 'barrier', 'gather',
                           'scatter', 'reduce_scatter'])[1 + g % 10]
FROM generate_series(1, {N_TEST_NAME}) g;

INSERT INTO test_run_command (test_run_command_id, launcher, resource_mgr,
                              parameters, network, test_run_network_id)
SELECT g, (ARRAY['mpirun', 'srun', 'prterun'])[1 + g % 3],
       (ARRAY['slurm', 'none', 'pbs'])[1 + g % 3],
       '--mca btl self,vader,tcp --bind-to core --map-by slot:' || g,
       (ARRAY['', 'tcp', 'ucx'])[1 + g % 3], 0
FROM generate_series(1, {N_COMMAND}) g;

INSERT INTO mpi_install (mpi_install_id, submit_id, compute_cluster_id,
    mpi_install_compiler_id, mpi_get_id, mpi_install_configure_id,
    description_id, start_timestamp, test_result, trial, submit_timestamp,
    duration, environment_id, result_stdout, result_stderr,
    result_message_id, merge_stdout_stderr, exit_value, exit_signal,
    client_serial)
SELECT m, m, 1 + (m - 1) % {N_CLUSTER}, 1 + ((m - 1) / 40) % 8,
       1 + (m - 1) % {N_MPI_GET}, 1 + ((m - 1) / 30) % {N_CONFIGURE},
       1 + m % {N_DESCRIPTION},
       timestamp '2026-01-05' + (m * {PERIOD_S} / {N_INSTALL})
           * interval '1 second',
       1, false,
       timestamp '2026-01-05' + (m * {PERIOD_S} / {N_INSTALL} + 1800)
           * interval '1 second',
       (300 + (random() * 1200)::int) * interval '1 second', 0,
       'make install: done', '', 1, true, 0, -1, m
FROM generate_series(1, {N_INSTALL}) m;

INSERT INTO test_build (test_build_id, submit_id, compute_cluster_id,
    mpi_install_compiler_id, mpi_get_id, mpi_install_configure_id,
    mpi_install_id, test_suite_id, test_build_compiler_id, description_id,
    start_timestamp, test_result, trial, submit_timestamp, duration,
    environment_id, result_stdout, result_stderr, result_message_id,
    merge_stdout_stderr, exit_value, exit_signal, client_serial)
SELECT b, mi.submit_id, mi.compute_cluster_id, mi.mpi_install_compiler_id,
       mi.mpi_get_id, mi.mpi_install_configure_id, mi.mpi_install_id,
       1 + (b - 1) % {N_SUITE}, mi.mpi_install_compiler_id,
       mi.description_id, mi.start_timestamp + interval '40 minutes', 1,
       false, mi.submit_timestamp + interval '40 minutes',
       (60 + (random() * 600)::int) * interval '1 second', 0,
       'make all: done', '', 1, true, 0, -1, mi.client_serial
FROM generate_series(1, {N_BUILD}) b
JOIN mpi_install mi ON mi.mpi_install_id = 1 + ((b - 1) / 2) % {N_INSTALL};
"""

# Runs first..last.  Each run's test name fixes its suite, and one of
# that suite's builds (so its install, cluster, compilers and MPI) is
# picked by the run number.  The braces are Python's.
RUNS_SQL = """
SELECT setseed({SEED});

INSERT INTO test_run (test_run_id, submit_id, compute_cluster_id,
    mpi_install_compiler_id, mpi_get_id, mpi_install_configure_id,
    mpi_install_id, test_suite_id, test_build_compiler_id, test_build_id,
    test_name_id, performance_id, test_run_command_id, np, full_command,
    description_id, start_timestamp, test_result, trial, submit_timestamp,
    duration, environment_id, result_stdout, result_stderr,
    result_message_id, merge_stdout_stderr, exit_value, exit_signal,
    client_serial)
SELECT x.i, tb.submit_id, tb.compute_cluster_id, tb.mpi_install_compiler_id,
       tb.mpi_get_id, tb.mpi_install_configure_id, tb.mpi_install_id,
       tb.test_suite_id, tb.test_build_compiler_id, tb.test_build_id,
       x.t, 0, 1 + x.i % {N_COMMAND}, x.np,
       'mpirun -np ' || x.np || ' --mca btl self,vader,tcp ./'
           || tn.test_name,
       tb.description_id, x.start, x.tr, false,
       x.start + x.dur + interval '10 minutes', x.dur,
       CASE WHEN x.i % 7 = 0 THEN 1 + x.i % {N_ENVIRONMENT} ELSE 0 END,
       'Hello, world, I am 0 of ' || x.np || E'\\n' || tn.test_name
           || CASE WHEN x.tr = 1 THEN ': passed' ELSE ': see stderr' END,
       CASE WHEN x.tr IN (0, 3) THEN 'mpirun noticed that process rank '
           || (x.i % x.np) || ' exited on signal 11' ELSE '' END,
       CASE x.tr WHEN 1 THEN 1 WHEN 2 THEN 2
                 WHEN 3 THEN 3 + x.i % 8
                 WHEN 0 THEN 11 + x.i % 40 ELSE 0 END,
       true,
       CASE WHEN x.tr IN (1, 2) THEN 0 ELSE 1 END,
       CASE WHEN x.tr = 3 THEN 9 ELSE -1 END,
       1000 + x.i / 500
FROM (SELECT r.i, r.t, r.np, r.start, r.tr,
             CASE WHEN r.tr = 3 THEN interval '600 seconds'
                  ELSE (1 + floor(r.r2 * r.r2 * 590))::int
                       * interval '1 second' END AS dur
      FROM (SELECT u.i, u.t, u.np, u.start, u.r2,
                   CASE WHEN u.r1 < 0.85 THEN 1 WHEN u.r1 < 0.93 THEN 0
                        WHEN u.r1 < 0.96 THEN 2 WHEN u.r1 < 0.98 THEN 3
                        ELSE -1 END AS tr
            FROM (SELECT g AS i, 1 + (g * 7919) % {N_TEST_NAME} AS t,
                         (ARRAY[1, 2, 4, 8, 16, 32])[1 + (g * 31) % 6]
                             AS np,
                         timestamp '2026-01-05'
                             + floor(random() * {PERIOD_S})
                             * interval '1 second' AS start,
                         random() AS r1, random() AS r2
                  FROM generate_series({FIRST}::int8, {LAST}::int8) g) u
           ) r) x
JOIN test_names tn ON tn.test_name_id = x.t
JOIN test_build tb ON tb.test_build_id = 1 + (x.t - 1) % {N_SUITE}
    + {N_SUITE} * ((x.i / {N_TEST_NAME}) % {BUILDS_PER_SUITE});
"""

# Results whose link finds no row: must be none.
DANGLING_SQL = """
SELECT count(*) FROM test_run p
LEFT JOIN submit s ON s.submit_id = p.submit_id
LEFT JOIN compute_cluster cc ON cc.compute_cluster_id = p.compute_cluster_id
LEFT JOIN compiler c ON c.compiler_id = p.mpi_install_compiler_id
LEFT JOIN compiler c2 ON c2.compiler_id = p.test_build_compiler_id
LEFT JOIN mpi_get mg ON mg.mpi_get_id = p.mpi_get_id
LEFT JOIN mpi_install_configure_args ca
    ON ca.mpi_install_configure_id = p.mpi_install_configure_id
LEFT JOIN mpi_install mi ON mi.mpi_install_id = p.mpi_install_id
LEFT JOIN test_build tb ON tb.test_build_id = p.test_build_id
LEFT JOIN test_suites ts ON ts.test_suite_id = p.test_suite_id
LEFT JOIN test_names tn ON tn.test_name_id = p.test_name_id
LEFT JOIN performance pf ON pf.performance_id = p.performance_id
LEFT JOIN test_run_command trc
    ON trc.test_run_command_id = p.test_run_command_id
LEFT JOIN description d ON d.description_id = p.description_id
LEFT JOIN environment e ON e.environment_id = p.environment_id
LEFT JOIN result_message rm ON rm.result_message_id = p.result_message_id
WHERE s.submit_id IS NULL OR cc.compute_cluster_id IS NULL
   OR c.compiler_id IS NULL OR c2.compiler_id IS NULL
   OR mg.mpi_get_id IS NULL OR ca.mpi_install_configure_id IS NULL
   OR mi.mpi_install_id IS NULL OR tb.test_build_id IS NULL
   OR ts.test_suite_id IS NULL OR tn.test_name_id IS NULL
   OR tn.test_suite_id <> p.test_suite_id OR pf.performance_id IS NULL
   OR trc.test_run_command_id IS NULL OR d.description_id IS NULL
   OR e.environment_id IS NULL OR rm.result_message_id IS NULL
   OR tb.mpi_install_id <> p.mpi_install_id
   OR tb.test_suite_id <> p.test_suite_id
"""

SERIAL_TABLES = [
    ("submit", "submit_id"), ("compute_cluster", "compute_cluster_id"),
    ("compiler", "compiler_id"), ("mpi_get", "mpi_get_id"),
    ("mpi_install_configure_args", "mpi_install_configure_id"),
    ("description", "description_id"),
    ("result_message", "result_message_id"),
    ("environment", "environment_id"), ("test_suites", "test_suite_id"),
    ("test_names", "test_name_id"),
    ("test_run_command", "test_run_command_id"),
    ("mpi_install", "mpi_install_id"), ("test_build", "test_build_id"),
    ("test_run", "test_run_id"),
]


class BenchError(Exception):
    """A step that failed: the benchmark cannot go on."""


def log(msg):
    print("bench-query: %s" % msg, flush=True)


def fmt_sql(template, **extra):
    names = {k: v for k, v in globals().items() if k.startswith("N_")}
    names.update(PERIOD_S=PERIOD_S, BUILDS_PER_SUITE=BUILDS_PER_SUITE)
    names.update(extra)
    return template.format(**names)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir():
    if os.environ.get("PG_BINDIR"):
        return os.environ["PG_BINDIR"]
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True,
                             text=True, check=True).stdout.strip()
        if os.access(os.path.join(out, "psql"), os.X_OK):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return "/usr/lib/postgresql/15/bin"


def default_mttd():
    for path in ("/tmp/b/src/mttd", os.path.join(SRCDIR, "build/src/mttd")):
        if os.access(path, os.X_OK):
            return path
    return None


def clean_env(extra=None):
    """The environment without PostgreSQL's connection variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(extra or {})
    return env


# --- /proc readings -------------------------------------------------------

def proc_status(pid, key):
    """A kB line of /proc/PID/status, in bytes (None when gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def proc_stat(pid):
    """(ppid, CPU ticks user+system) of pid, or None when gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def machine_busy_ticks():
    """CPU ticks the whole machine spent busy (not idle, not waiting)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields[:8]) - fields[3] - fields[4]


def children_ticks(parent):
    """CPU ticks of each child process of parent."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[0] == parent:
            out[int(name)] = st[1]
    return out


class Monitor:
    """Samples mttd's RSS and the CPU time of mttd and of every PostgreSQL
    process (backends and parallel workers) while one command runs."""

    def __init__(self, mttd_pid, postmaster_pid):
        self.mttd_pid = mttd_pid
        self.postmaster_pid = postmaster_pid
        self.stop = threading.Event()
        self.rss_max = 0
        self.first = {}
        self.last = {}

    def _sample(self):
        rss = proc_status(self.mttd_pid, "VmRSS")
        if rss is not None:
            self.rss_max = max(self.rss_max, rss)
        for pid, ticks in children_ticks(self.postmaster_pid).items():
            self.first.setdefault(pid, ticks if pid in self.before else 0)
            self.last[pid] = ticks

    def _run(self):
        while not self.stop.wait(SAMPLE_S):
            self._sample()

    def __enter__(self):
        self.before = children_ticks(self.postmaster_pid)
        self.first = dict(self.before)
        self.mttd_before = proc_stat(self.mttd_pid)[1]
        self.busy_before = machine_busy_ticks()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self._sample()
        self.mttd_cpu = (proc_stat(self.mttd_pid)[1] - self.mttd_before) \
            / CLK_TCK
        self.busy = (machine_busy_ticks() - self.busy_before) / CLK_TCK
        # A process that ended between two samples (a parallel worker,
        # psql's backend) counts up to its last sample.
        self.pg_cpu = sum(self.last[p] - self.first.get(p, 0)
                          for p in self.last) / CLK_TCK
        return False


def child_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# --- the benchmark --------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.bindir = pg_bindir()
        self.psql_bin = os.path.join(self.bindir, "psql")
        # Mode 0700; pg-private.sh lets user postgres search it.
        self.dir = tempfile.mkdtemp(prefix="mttd-bench-")
        self.pgdir = os.path.join(self.dir, "pg")
        self.password = secrets.token_hex(12)
        self.pg_port = None
        self.pg_started = False
        self.mttd = None
        self.mttd_port = None
        # In the foreground (-f) mttd logs to stderr, not to log_file.
        self.log_path = os.path.join(self.dir, "mttd.out")
        self.log_offset = 0
        self.rows = 0
        self.results = []   # (size, measure, mttd, baseline, target, ok)
        self.memory = []    # (size, before, hwm, rss_max)
        self.cpu = []       # (size, what, wall, server, backend, client)
        auth = base64.b64encode(b"bench:bench").decode()
        self.auth = "Basic " + auth

    # PostgreSQL ------------------------------------------------------

    def start_pg(self):
        self.pg_port = free_port()
        log("starting PostgreSQL on 127.0.0.1:%d in %s (fsync off: the "
            "fill is faster, the reads are the same)"
            % (self.pg_port, self.pgdir))
        env = clean_env({"MTTD_PG_FAST": "1",
                         "MTTD_SQL_DIR": os.path.join(SRCDIR, "sql"),
                         "PG_BINDIR": self.bindir})
        self.pg_started = True
        out = subprocess.run(
            ["bash", PG_PRIVATE, "start", self.pgdir, str(self.pg_port),
             self.password], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise BenchError("pg-private.sh start failed:\n%s%s"
                             % (out.stdout, out.stderr))
        with open(os.path.join(self.pgdir, "data", "postmaster.pid")) as f:
            self.postmaster_pid = int(f.readline())

    def stop_pg(self):
        if not self.pg_started:
            return
        self.pg_started = False
        out = subprocess.run(["bash", PG_PRIVATE, "stop", self.pgdir],
                             env=clean_env({"PG_BINDIR": self.bindir}),
                             capture_output=True, text=True)
        if out.returncode != 0:
            log("pg-private.sh stop failed: %s%s" % (out.stdout, out.stderr))

    def psql_admin(self, sql):
        """Run SQL as the superuser through the private socket; its
        output, unaligned."""
        out = subprocess.run(
            [self.psql_bin, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.pgdir, "-p", str(self.pg_port), "-U", "postgres",
             "-d", "mttv3"], input=sql, env=clean_env(),
            capture_output=True, text=True)
        if out.returncode != 0:
            raise BenchError("psql failed: %s\n--- SQL:\n%s"
                             % (out.stderr.strip(), sql[:2000]))
        return out.stdout

    def psql_cmd(self, sql):
        """psql as mttd connects: TCP to 127.0.0.1, role mtt, password."""
        return [self.psql_bin, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "mtt",
                "-d", "mttv3", "-c", sql]

    def psql_env(self):
        return clean_env({"PGPASSWORD": self.password})

    # Filling ---------------------------------------------------------

    def fill(self, count):
        """Add count runs (after the dimensions on the first call)."""
        first, last = self.rows + 1, self.rows + count
        started = time.monotonic()
        indexes = self.psql_admin(
            "SELECT indexname, indexdef FROM pg_indexes WHERE "
            "schemaname = 'public' AND tablename = 'test_run' AND "
            "indexname <> 'test_run_pkey' ORDER BY 1").splitlines()
        indexes = [line.split("|", 1) for line in indexes if line]
        sql = ["SET session_replication_role = replica;",
               "SET maintenance_work_mem = '512MB';"]
        if self.rows == 0:
            sql.append(fmt_sql(DIMENSIONS_SQL))
        # A bulk load: the indexes are rebuilt after it rather than
        # updated row by row; the foreign keys are checked below instead
        # of by a trigger per row.
        sql.append("BEGIN;")
        sql.extend("DROP INDEX %s;" % name for name, _ in indexes)
        sql.append(fmt_sql(RUNS_SQL, FIRST=first, LAST=last,
                           SEED=0.5 if self.rows == 0 else 0.75))
        sql.extend("%s;" % definition for _, definition in indexes)
        sql.append("COMMIT;")
        sql.extend("SELECT setval(pg_get_serial_sequence('%s', '%s'), "
                   "(SELECT max(%s) FROM %s));" % (t, c, c, t)
                   for t, c in SERIAL_TABLES)
        self.psql_admin("\n".join(sql))
        loaded = time.monotonic()
        dangling = int(self.psql_admin(DANGLING_SQL).strip())
        if dangling != 0:
            raise BenchError("%d test_run rows link to no row" % dangling)
        self.psql_admin("VACUUM ANALYZE;")
        self.psql_admin("CHECKPOINT;")
        total = int(self.psql_admin(
            "SELECT count(*) FROM test_run").strip())
        if total != last:
            raise BenchError("test_run holds %d rows, not %d" % (total, last))
        self.rows = last
        done = time.monotonic()
        size = self.psql_admin(
            "SELECT pg_size_pretty(pg_total_relation_size('test_run'))")
        log("filled %d test_run rows in %.1f s (insert and index %.1f s, "
            "link check, VACUUM ANALYZE and CHECKPOINT %.1f s); test_run "
            "with indexes is %s" % (count, done - started, loaded - started,
                                    done - loaded, size.strip()))
        self.fill_s = getattr(self, "fill_s", [])
        self.fill_s.append((count, done - started))

    # mttd ------------------------------------------------------------

    def start_mttd(self):
        conf = os.path.join(self.dir, "mttd.conf")
        port_file = os.path.join(self.dir, "mttd.port")
        # It holds the database password.
        with open(os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                          0o600), "w") as f:
            f.write("[server]\nsocket_host = 127.0.0.1\nsocket_port = 0\n\n"
                    "[logging]\nlog_level = DEBUG\nlog_file = %s\n\n"
                    "[pg_v3]\ntype = postgres\ndbname = mttv3\n"
                    "username = mtt\npassword = %s\nserver = 127.0.0.1\n"
                    "port = %d\n" % (os.path.join(self.dir, "mttd.log"),
                                     self.password,
                                     self.pg_port))
        out = open(self.log_path, "wb")
        try:
            self.mttd = subprocess.Popen(
                [self.args.mttd, "-c", conf, "-f"], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir,
                env=clean_env({"MTTD_PORT_FILE": port_file}))
        finally:
            out.close()
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.mttd.poll() is not None:
                raise BenchError("mttd exited %d at start:\n%s"
                                 % (self.mttd.returncode, self.mttd_tail()))
            try:
                with open(port_file) as f:
                    text = f.read()
                if text.endswith("\n"):
                    self.mttd_port = int(text)
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        else:
            raise BenchError("mttd did not listen within %d s" % WAIT_S)
        log("mttd %s pid %d on 127.0.0.1:%d"
            % (self.args.mttd, self.mttd.pid, self.mttd_port))

    def mttd_tail(self):
        text = ""
        for name in ("mttd.out",):
            try:
                with open(os.path.join(self.dir, name), errors="replace") \
                        as f:
                    text += "".join(f.readlines()[-15:])
            except OSError:
                pass
        return text

    def stop_mttd(self):
        if self.mttd is None or self.mttd.poll() is not None:
            return
        self.mttd.send_signal(signal.SIGTERM)
        try:
            self.mttd.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            log("mttd did not stop on SIGTERM; killing it")
            self.mttd.kill()
            self.mttd.wait()

    def logged_sql(self):
        """The SQL of the last query mttd logged since the last call."""
        with open(self.log_path, errors="replace") as f:
            f.seek(self.log_offset)
            text = f.read()
            self.log_offset = f.tell()
        found = re.findall(r"query: (.*)$", text, re.M)
        if not found:
            raise BenchError("no 'query: ' line in mttd's log")
        sql = found[-1].rstrip()
        if sql.endswith("..."):
            raise BenchError("mttd's log cut the SQL: %s" % sql)
        return sql

    def curl_cmd(self, path, body, out="/dev/null"):
        return ["curl", "-s", "-S", "--fail", "-o", out, "-X", "POST",
                "-H", "Content-Type: application/json",
                "-H", "Authorization: " + self.auth,
                "--data-binary", json.dumps(body),
                "http://127.0.0.1:%d%s" % (self.mttd_port, path)]

    def fetch(self, path, body):
        """A small answer, parsed."""
        out = subprocess.run(self.curl_cmd(path, body, "-"),
                             capture_output=True)
        if out.returncode != 0:
            raise BenchError("curl %s failed: %s\n%s" % (
                path, out.stderr.decode(errors="replace"), self.mttd_tail()))
        answer = json.loads(out.stdout)
        if answer.get("status") != 0:
            raise BenchError("%s answered %s" % (path, answer))
        return answer

    # One timed run -----------------------------------------------------

    def timed(self, cmd, env=None, memory=False):
        """Run cmd, output discarded: (wall s, mttd CPU s, PostgreSQL CPU
        s, client CPU s, CPU s of everything else on the machine, memory
        figures or None)."""
        pid = self.mttd.pid
        mem = None
        if memory:
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5\n")
            before = proc_status(pid, "VmRSS")
        cpu0 = child_cpu()
        with Monitor(pid, self.postmaster_pid) as mon:
            start = time.monotonic()
            out = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            wall = time.monotonic() - start
        if out.returncode != 0:
            raise BenchError("%s failed (%d): %s\n%s" % (
                cmd[0], out.returncode, out.stderr.decode(errors="replace"),
                self.mttd_tail()))
        if memory:
            mem = (before, proc_status(pid, "VmHWM"), mon.rss_max)
        client = child_cpu() - cpu0
        other = max(0.0, mon.busy - mon.mttd_cpu - mon.pg_cpu - client)
        return wall, mon.mttd_cpu, mon.pg_cpu, client, other, mem

    def compare(self, label, mttd_cmd, psql_cmd, target, memory=False,
                psql_env=None):
        """Alternate mttd and psql runs; record the medians."""
        mttd_runs, psql_runs = [], []
        for _ in range(self.args.runs):
            mttd_runs.append(self.timed(mttd_cmd, memory=memory))
            psql_runs.append(self.timed(psql_cmd,
                                        env=psql_env or self.psql_env()))
        med = [statistics.median(r[i] for r in mttd_runs) for i in range(5)]
        base = [statistics.median(r[i] for r in psql_runs) for i in range(5)]
        ratio = med[0] / base[0] if base[0] > 0 else float("inf")
        ok = None if target is None else ratio <= target
        self.results.append((self.rows, label, med[0], base[0], ratio,
                             target, ok))
        self.cpu.append((self.rows, label + " mttd", med[0], med[1],
                         med[2], med[3], med[4]))
        self.cpu.append((self.rows, label + " psql", base[0], None,
                         base[2], base[3], base[4]))
        if memory:
            self.memory.append((self.rows, max(m[5][0] for m in mttd_runs),
                                max(m[5][1] for m in mttd_runs),
                                max(m[5][2] for m in mttd_runs)))
        log("%-8s mttd %.3f s, psql %.3f s, ratio %.2f (runs: %s / %s)" % (
            label, med[0], base[0], ratio,
            " ".join("%.3f" % r[0] for r in mttd_runs),
            " ".join("%.3f" % r[0] for r in psql_runs)))

    # The measures ------------------------------------------------------

    def check_detail(self, body):
        """One untimed export, read whole: every row there, whole
        answer.  Also warms the caches for both sides."""
        proc = subprocess.Popen(self.curl_cmd("/detail", body, "-"),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        key = b'"test_name":'
        rows, carry, head, tail = 0, b"", b"", b""
        while True:
            block = proc.stdout.read(1 << 20)
            if not block:
                break
            if len(head) < 100:
                head += block[:100]
            data = carry + block
            rows += data.count(key)
            carry = data[-(len(key) - 1):]
            # A match that ends in the carry is not counted twice: the
            # carry is shorter than the key.
            tail = (tail + block)[-16:]
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise BenchError("/detail export failed: %s\n%s"
                             % (err.decode(errors="replace"),
                                self.mttd_tail()))
        prefix = b'{"status":0,"status_message":"Success","query_data":['
        if not head.startswith(prefix) or not tail.endswith(b"]}"):
            raise BenchError("/detail answer is not whole: %r ... %r"
                             % (head, tail))
        if rows != self.rows:
            raise BenchError("/detail answered %d rows, not %d"
                             % (rows, self.rows))
        sql = self.logged_sql()
        copied = self.count_copy_lines(sql)
        if copied != self.rows:
            raise BenchError("psql COPY gave %d rows, not %d"
                             % (copied, self.rows))
        return sql

    def count_copy_lines(self, sql):
        proc = subprocess.Popen(
            self.psql_cmd("COPY (%s) TO STDOUT" % sql), env=self.psql_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = 0
        while True:
            block = proc.stdout.read(1 << 20)
            if not block:
                break
            lines += block.count(b"\n")
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise BenchError("psql COPY failed: %s" % err.decode())
        return lines

    def measure_detail(self):
        body = {"phase": "test_run", "columns": DETAIL_COLUMNS,
                "search": {}}
        sql = self.check_detail(body)
        if self.rows == self.args.rows:
            log("detail SQL: %s" % sql)
        self.compare("detail", self.curl_cmd("/detail", body),
                     self.psql_cmd("COPY (%s) TO STDOUT" % sql),
                     DETAIL_RATIO, memory=True)

    def measure_summary(self):
        body = {"phase": "test_run", "columns": SUMMARY_COLUMNS,
                "search": {}}
        answer = self.fetch("/summary", body)
        sql = self.logged_sql()
        if self.rows == self.args.rows:
            log("summary SQL: %s" % sql)
        names = SUMMARY_COLUMNS + SUMMARY_COUNTERS
        got = sorted(tuple(str(row[n]) for n in names)
                     for row in answer["query_data"])
        out = subprocess.run(self.psql_cmd("COPY (%s) TO STDOUT" % sql),
                             env=self.psql_env(), capture_output=True,
                             text=True)
        if out.returncode != 0:
            raise BenchError("psql summary failed: %s" % out.stderr)
        want = sorted(tuple(line.split("\t"))
                      for line in out.stdout.splitlines())
        if got != want:
            raise BenchError("/summary differs from psql: %d rows vs %d"
                             % (len(got), len(want)))
        counted = sum(int(row[n]) for row in answer["query_data"]
                      for n in SUMMARY_COUNTERS)
        if counted != self.rows:
            raise BenchError("/summary counts %d runs, not %d"
                             % (counted, self.rows))
        log("summary: %d groups, all equal to psql's" % len(got))
        self.compare("summary", self.curl_cmd("/summary", body),
                     self.psql_cmd("COPY (%s) TO STDOUT" % sql),
                     SUMMARY_RATIO)
        # psql's COPY may run a parallel plan, a cursor never does: the
        # same COPY without parallel workers tells how much of a gap that
        # would explain.
        serial = self.psql_env()
        serial["PGOPTIONS"] = "-c max_parallel_workers_per_gather=0"
        self.compare("summary/serial", self.curl_cmd("/summary", body),
                     self.psql_cmd("COPY (%s) TO STDOUT" % sql), None,
                     psql_env=serial)

    def measure_count(self):
        body = {"phase": "test_run", "columns": ["test_name"], "search": {},
                "options": {"count_only": 1}}
        answer = self.fetch("/detail", body)
        if answer["query_data"] != {"count": self.rows}:
            raise BenchError("count_only answered %s, not %d"
                             % (answer["query_data"], self.rows))
        sql = "SELECT count(*) FROM test_run"
        log("count SQL: mttd %s; psql %s" % (self.logged_sql(), sql))
        self.compare("count", self.curl_cmd("/detail", body),
                     self.psql_cmd(sql), None)

    def measure_all(self):
        log("measuring at %d rows, %d runs each" % (self.rows,
                                                     self.args.runs))
        self.measure_detail()
        self.measure_summary()
        self.measure_count()

    # The report ---------------------------------------------------------

    def report(self):
        failed = False
        print()
        print("%-22s %10s %10s %7s %8s  %s" % (
            "measure", "mttd", "baseline", "ratio", "target", "result"))
        for rows, label, m, b, ratio, target, ok in self.results:
            failed |= ok is False
            print("%-22s %9.3fs %9.3fs %7.2f %8s  %s" % (
                "%s @%s" % (label, human(rows)), m, b, ratio,
                "<= %.2fx" % target if target else "-",
                "info" if ok is None else "PASS" if ok else "FAIL"))
        # The kernel updates VmHWM lazily; the samples of VmRSS can see
        # a peak it missed, so the peak is the larger of the two.
        peaks = [max(hwm, rss) for _, _, hwm, rss in self.memory]
        for (rows, _, _, _), peak in zip(self.memory, peaks):
            ok = peak < MEMORY_LIMIT
            failed |= not ok
            print("%-22s %8.1fMi %10s %7s %8s  %s" % (
                "mttd peak RSS @%s" % human(rows), peak / MIB, "-", "-",
                "< 32 MiB", "PASS" if ok else "FAIL"))
        if len(self.memory) > 1:
            first, last = peaks[0], peaks[-1]
            ok = abs(last - first) <= MEMORY_FLAT
            failed |= not ok
            print("%-22s %+8.1fMi %10s %7s %8s  %s" % (
                "peak RSS %s->%s" % (human(self.memory[0][0]),
                                     human(self.memory[-1][0])),
                (last - first) / MIB, "-", "-", "<= 2 MiB",
                "PASS" if ok else "FAIL"))
        print()
        print("mttd memory during the /detail export (max of the runs):")
        for rows, before, hwm, rss in self.memory:
            print("  @%-6s VmRSS before %.1f MiB, sampled VmRSS max %.1f "
                  "MiB, VmHWM %.1f MiB" % (human(rows), before / MIB,
                                           rss / MIB, hwm / MIB))
        print()
        print("where the time goes (medians of wall time and of CPU "
              "seconds: the mttd process, all PostgreSQL processes, the "
              "client curl or psql, and anything else on the machine, this "
              "script's sampling included; %d cores):" % os.cpu_count())
        print("  %-26s %8s %8s %8s %8s %8s" % (
            "run", "wall", "mttd", "postgres", "client", "other"))
        for rows, what, wall, server, backend, client, other in self.cpu:
            print("  %-26s %7.2fs %8s %7.2fs %7.2fs %7.2fs" % (
                "%s @%s" % (what, human(rows)), wall,
                "-" if server is None else "%.2fs" % server, backend,
                client, other))
        busy = ["%s @%s" % (what, human(rows))
                for rows, what, wall, _, _, _, other in self.cpu
                if wall > 0.2 and other > OTHER_LOAD * wall]
        if busy:
            print("WARNING: other work on this machine took more than %d%% "
                  "of a core during: %s; those times say little (run again "
                  "on a quiet machine)" % (OTHER_LOAD * 100,
                                           ", ".join(busy)))
        for rows, seconds in getattr(self, "fill_s", []):
            print("fill: %s rows in %.1f s" % (human(rows), seconds))
        return failed

    def run(self):
        self.start_pg()
        self.fill(self.args.rows)
        self.start_mttd()
        self.measure_all()
        if self.args.extra_rows > 0:
            self.fill(self.args.extra_rows)
            self.measure_all()
        return self.report()

    def cleanup(self):
        try:
            self.stop_mttd()
        finally:
            self.stop_pg()
            if self.args.keep:
                log("kept %s (database in pg/, mttd.log)" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


def human(n):
    if n >= 1000000 and n % 1000000 == 0:
        return "%dM" % (n // 1000000)
    if n >= 1000 and n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Time mttd's /detail, /summary and count_only against "
        "psql on the same SQL, and mttd's memory during an export.")
    p.add_argument("--mttd", default=default_mttd(),
                   help="mttd binary (default /tmp/b/src/mttd, else "
                   "./build/src/mttd)")
    p.add_argument("--rows", type=int, default=1000000,
                   help="test_run rows of the first fill (default 1000000)")
    p.add_argument("--extra-rows", type=int, default=2000000,
                   help="rows added for the second round (default 2000000; "
                   "0 skips it)")
    p.add_argument("--runs", type=int, default=3,
                   help="timed runs of each measure, the median counts "
                   "(default 3)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary folder (database, logs); the "
                   "servers are stopped all the same")
    args = p.parse_args(argv)
    if not args.mttd or not os.access(args.mttd, os.X_OK):
        p.error("no mttd binary: give --mttd PATH")
    args.mttd = os.path.abspath(args.mttd)
    if args.rows < 1 or args.extra_rows < 0 or args.runs < 1:
        p.error("--rows and --runs must be positive, --extra-rows >= 0")
    if shutil.which("curl") is None:
        p.error("curl is needed")
    return args


def on_signal(signum, frame):
    raise KeyboardInterrupt


def main(argv):
    args = parse_args(argv)
    # SIGINT too: a shell starts a background job with it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    bench = Bench(args)
    try:
        failed = bench.run()
    except BenchError as e:
        print("bench-query: error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench-query: interrupted", file=sys.stderr)
        return 2
    finally:
        # A second signal during the cleanup must not cut it short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
