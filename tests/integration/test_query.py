#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The query side on a known data set: /detail, /summary, /fields,
/info/testsuite and /info/runtime (SPEC.md "Queries", "Info endpoints";
conformance/README.md "Output formats").

Three installs, two builds and six runs go in through /submit (with the
schema's placeholder rows 0 of mpi_install and test_build beside them);
a few descriptions and interconnects the submit format cannot carry are
set by SQL.  Every answer is compared whole: the rows of query_data as a
multiset (in order where the request defines one), each value with its
JSON type (true is not 1).  Every refused request must answer HTTP 200,
status -1 and exactly status and status_message, the message naming the
offending key as a whole word.  No query may change the database.
"""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402
from mttd_harness import Raw  # noqa: E402

# Values that would change or break a query pasted into SQL text.
TRICKY = "it's \"q\" \\ back; DROP TABLE mpi_install; -- % _ x' OR '1'='1"
TRICKY_MSG = "it's broken; -- 100% \\ done"
NUL_SENT = "nul\u0000here"
NUL_STORED = "nul\ufffdhere"

# The field catalogue as the reference's /fields answered it.
with open(os.path.join(h.SHARED_DIR, "conformance", "cases.jsonl"),
          encoding="utf-8") as _f:
    FIELDS = [json.loads(line) for line in _f
              if '"fields-empty-body"' in line][0]["response"]["query_data"][
                  "fields"]

INSTALL_FIELDS = [
    "platform_name", "platform_hardware", "platform_type", "os_name",
    "os_version", "hostname", "local_username", "http_username",
    "mtt_client_version", "compiler_name", "compiler_version", "mpi_name",
    "mpi_version", "description", "result_message", "environment",
    "vpath_mode", "bitness", "configure_arguments", "start_timestamp",
    "test_result", "trial", "submit_timestamp", "duration", "result_stdout",
    "result_stderr", "merge_stdout_stderr", "exit_value", "exit_signal",
    "client_serial"]
BUILD_FIELDS = INSTALL_FIELDS + ["suite_name", "test_suite_description"]
RUN_FIELDS = BUILD_FIELDS + [
    "test_name", "test_description", "message_size", "bandwidth_min",
    "bandwidth_max", "bandwidth_avg", "latency_min", "latency_max",
    "latency_avg", "interconnect_name", "launcher", "resource_manager",
    "parameters", "network", "np", "command"]
ARRAY_FIELDS = ["message_size", "bandwidth_min", "bandwidth_max",
                "bandwidth_avg", "latency_min", "latency_max", "latency_avg"]
COUNTERS = ["test_result_failed", "test_result_passed",
            "test_result_skipped", "test_result_timed_out",
            "test_result_unknown"]
PHASES = {"install": ("mpi_install", INSTALL_FIELDS),
          "test_build": ("test_build", BUILD_FIELDS),
          "test_run": ("test_run", RUN_FIELDS)}


def canon(value):
    """value with its JSON type made explicit, so that true != 1 and
    2 == 2.0 (JSON has one number type)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("num", float(value))
    if isinstance(value, str):
        return ("str", value)
    if value is None:
        return ("null",)
    if isinstance(value, list):
        return ("list", tuple(canon(v) for v in value))
    if isinstance(value, dict):
        return ("obj", tuple(sorted((k, canon(v)) for k, v in value.items())))
    raise TypeError(value)


def sort_rows(rows):
    return sorted(rows, key=lambda r: repr(canon(r)))


def pick(row, columns):
    return {c: row[c] for c in columns if c in row}


def counters(failed=0, passed=0, skipped=0, timed_out=0, unknown=0):
    return dict(zip(COUNTERS, (failed, passed, skipped, timed_out, unknown)))


def pg_timestamp(text):
    """psql's text of a timestamp in the answer's form (6 fraction digits
    when there is a fraction)."""
    if "." in text:
        head, frac = text.split(".")
        return "%s.%s" % (head, frac.ljust(6, "0"))
    return text


# ---------------------------------------------------------------------------
# The data set: what is submitted, and each result row as /detail must
# answer it with every column of its phase (submit_timestamp is filled in
# from the database).

PLACEHOLDER_INSTALL = {
    "platform_name": "undef", "platform_hardware": "undef",
    "platform_type": "undef", "os_name": "undef", "os_version": "undef",
    "hostname": "undef", "local_username": "undef", "http_username": "undef",
    "mtt_client_version": "undef", "compiler_name": "undef",
    "compiler_version": "undef", "mpi_name": "undef", "mpi_version": "undef",
    "description": "", "result_message": "undef", "environment": "",
    "vpath_mode": "00", "bitness": "000000", "configure_arguments": "undef",
    "start_timestamp": "2006-11-01 00:00:00", "test_result": 1,
    "trial": False, "submit_timestamp": "2006-11-01 00:00:00",
    "duration": "0:00:01", "result_stdout": "undef", "result_stderr": "undef",
    "merge_stdout_stderr": True, "exit_value": 0, "exit_signal": -38,
    "client_serial": -38}
PLACEHOLDER_BUILD = dict(PLACEHOLDER_INSTALL, suite_name="undef",
                         test_suite_description="undef")

SUBMIT_A = {"platform_name": "alpha"}  # hostname it-node, trial 0
SUBMIT_B = {"platform_name": "beta", "hostname": "node-b.example.org",
            "trial": 1, "client_serial": 77}
SUBMIT_R = {"platform_name": "alpha", "hostname": "node-r.example.org"}

INSTALLS_A = [
    h.install_entry(mpi_name="ompi-a", mpi_version="v1.0",
                    configure_arguments="--enable-a", vpath_mode=1, bitness=8,
                    start_timestamp="2026-03-02 08:30:00.25",
                    duration="322 seconds", description="install a",
                    result_stdout=TRICKY),
    h.install_entry(mpi_name="ompi-a", mpi_version="v1.1",
                    configure_arguments="--enable-a",
                    start_timestamp="2026-01-15 00:00:00",
                    duration="-5 seconds", test_result=2,
                    result_message="Skipped", description="install a",
                    result_stdout=NUL_SENT, merge_stdout_stderr=1)]
INSTALLS_B = [
    h.install_entry(mpi_name="ompi-b", mpi_version="v2.0",
                    compiler_name="intel", compiler_version="2024.1",
                    configure_arguments="--enable-b", vpath_mode=2, bitness=4,
                    start_timestamp="Fri Dec  4 13:00:00 2026",
                    duration="1 day 02:03:04", test_result=0, exit_value=1,
                    exit_signal=11, result_message="Failed; it's \"bad\"",
                    description="install b", environment="PATH=/x",
                    result_stdout="back\\slash", result_stderr="err b")]

COMMON_A = {
    "platform_name": "alpha", "platform_hardware": "x86_64",
    "platform_type": "linux-x86_64", "os_name": "Linux",
    "os_version": "6.1.0-it", "hostname": "it-node.example.org",
    "local_username": "ituser", "http_username": h.USER,
    "mtt_client_version": "4.0a1", "compiler_name": "gnu",
    "compiler_version": "12.2.0-it", "environment": "", "trial": False,
    "client_serial": 4242, "result_stderr": "", "exit_signal": -1}
COMMON_B = dict(COMMON_A, platform_name="beta", hostname="node-b.example.org",
                compiler_name="intel", compiler_version="2024.1", trial=True,
                client_serial=77)

I1 = dict(COMMON_A, mpi_name="ompi-a", mpi_version="v1.0",
          description="install a", result_message="Success", vpath_mode="01",
          bitness="001000", configure_arguments="--enable-a",
          start_timestamp="2026-03-02 08:30:00.250000", test_result=1,
          duration="0:05:22", result_stdout=TRICKY,
          merge_stdout_stderr=False, exit_value=0)
I2 = dict(COMMON_A, mpi_name="ompi-a", mpi_version="v1.1",
          description="install a", result_message="Skipped", vpath_mode="00",
          bitness="000000", configure_arguments="--enable-a",
          start_timestamp="2026-01-15 00:00:00", test_result=2,
          duration="-1 day, 23:59:55", result_stdout=NUL_STORED,
          merge_stdout_stderr=True, exit_value=0)
I3 = dict(COMMON_B, mpi_name="ompi-b", mpi_version="v2.0",
          description="install b", result_message="Failed; it's \"bad\"",
          environment="PATH=/x", vpath_mode="10", bitness="000100",
          configure_arguments="--enable-b",
          start_timestamp="2026-12-04 13:00:00", test_result=0,
          duration="1 day, 2:03:04", result_stdout="back\\slash",
          result_stderr="err b", merge_stdout_stderr=False, exit_value=1,
          exit_signal=11)

SUITE_A_DESC = "Suite A: it's \"fine\""


def build_row(install, **kw):
    """A build row: the install's cluster, compiler, MPI and configure
    values, the build's own result fields and submit."""
    row = {k: install[k] for k in (
        "platform_name", "platform_hardware", "platform_type", "os_name",
        "os_version", "compiler_name", "compiler_version", "mpi_name",
        "mpi_version", "vpath_mode", "bitness", "configure_arguments")}
    row.update({"local_username": "ituser", "http_username": h.USER,
                "mtt_client_version": "4.0a1", "environment": "",
                "result_stdout": "", "result_stderr": "",
                "merge_stdout_stderr": False, "exit_signal": -1})
    row.update(kw)
    return row


B1 = build_row(I1, hostname="it-node.example.org", trial=False,
               client_serial=4242, suite_name="suiteA",
               test_suite_description=SUITE_A_DESC, description="build a",
               result_message="Success", start_timestamp="2026-03-02 09:00:00",
               test_result=1, duration="30 days, 0:00:00", exit_value=0)
B2 = build_row(I3, hostname="node-b.example.org", trial=True,
               client_serial=77, suite_name="suiteB",
               test_suite_description="", description="build b",
               result_message="Failed", start_timestamp="2026-12-04 13:05:00",
               test_result=0, duration="0:00:01.500000", exit_value=2)

LB_R1 = {"message_size": [1, 2, 4], "latency_min": [1.25, 1.5, 2.0],
         "latency_avg": [1.5, 2.0, 2.5], "latency_max": [2.0, 2.5, 3.0],
         "bandwidth_min": [10.5, 20.25, 40.0],
         "bandwidth_avg": [11.0, 21.0, 41.0],
         "bandwidth_max": [12.0, 22.0, 42.0]}


def run_row(build, **kw):
    row = {k: build[k] for k in (
        "platform_name", "platform_hardware", "platform_type", "os_name",
        "os_version", "compiler_name", "compiler_version", "mpi_name",
        "mpi_version", "vpath_mode", "bitness", "configure_arguments",
        "suite_name", "test_suite_description")}
    row.update({"local_username": "ituser", "http_username": h.USER,
                "mtt_client_version": "4.0a1", "environment": "",
                "result_stdout": "hello", "result_stderr": "",
                "merge_stdout_stderr": False, "exit_signal": -1,
                "exit_value": 0, "description": "it run",
                "test_description": "", "interconnect_name": "",
                "launcher": "mpirun", "resource_manager": "",
                "parameters": "", "network": ""})
    row.update({k: [] for k in ARRAY_FIELDS})
    row.update(kw)
    return row


RUN_A = {"hostname": "node-r.example.org", "trial": False,
         "client_serial": 4242}
RUN_B = {"hostname": "node-b.example.org", "trial": True,
         "client_serial": 77}
R1 = run_row(B1, test_name="hello", test_description="says hello", np=2,
             command="mpirun -np 2 ./hello",
             start_timestamp="2026-03-02 10:00:00", duration="0:45:00",
             test_result=1, result_message="Success", **dict(RUN_A, **LB_R1))
R2 = run_row(B1, test_name="ring", np=4, command="mpirun -np 4 ./ring",
             start_timestamp="2026-03-02 10:05:00", duration="0:00:10",
             test_result=0, exit_value=1, result_message=TRICKY_MSG,
             launcher="srun", resource_manager="slurm", parameters="-N 2",
             network="ib", interconnect_name="eth0,ib0", **RUN_A)
R3 = run_row(B1, test_name="O'Reilly", np=4, command="mpirun ./oreilly",
             start_timestamp="2026-03-02 10:10:00", duration="0:00:20",
             test_result=2, result_message="a,b {c}", **RUN_A)
R4 = run_row(B2, test_name="hello", np=8, command="mpirun -np 8 ./hello",
             start_timestamp="2026-12-04 13:10:00", duration="0:00:30",
             test_result=3, result_message="Timed out", **RUN_B)
R5 = run_row(B2, test_name="spawn", np=1, command="mpirun -np 1 ./spawn",
             start_timestamp="2026-12-04 13:15:00", duration="0:00:40",
             test_result=-1, result_message="NULL", **RUN_B)
R6 = run_row(B2, test_name="x_y%z", np=2, command="mpirun ./xyz",
             start_timestamp="2026-12-04 13:20:00", duration="0:00:00",
             test_result=1, result_message="Success",
             result_stdout="semi;colon",
             merge_stdout_stderr=True, **RUN_B)


def run_entries_a(build_id):
    return [
        h.run_entry(build_id, test_name="hello", np=2,
                    command="mpirun -np 2 ./hello",
                    start_timestamp="2026-03-02 10:00:00",
                    duration="45 minutes", latency_bandwidth=True, **LB_R1),
        h.run_entry(build_id, test_name="ring", np=4,
                    command="mpirun -np 4 ./ring",
                    start_timestamp="2026-03-02 10:05:00",
                    duration="10 seconds", test_result=0, exit_value=1,
                    result_message=TRICKY_MSG, launcher="srun",
                    resource_manager="slurm", parameters="-N 2",
                    network="ib"),
        h.run_entry(build_id, test_name="O'Reilly", np="4",
                    command="mpirun ./oreilly",
                    start_timestamp="2026-03-02 10:10:00",
                    duration="20 seconds", test_result=2,
                    result_message="a,b {c}")]


def run_entries_b(build_id):
    return [
        h.run_entry(build_id, test_name="hello", np=8,
                    command="mpirun -np 8 ./hello",
                    start_timestamp="2026-12-04 13:10:00",
                    duration="30 seconds", test_result=3,
                    result_message="Timed out"),
        h.run_entry(build_id, test_name="spawn", np=1,
                    command="mpirun -np 1 ./spawn",
                    start_timestamp="2026-12-04 13:15:00",
                    duration="40 seconds", test_result=-1,
                    result_message="NULL"),
        h.run_entry(build_id, test_name="x_y%z", np=2, command="mpirun ./xyz",
                    start_timestamp="2026-12-04 13:20:00", duration=0,
                    result_stdout="semi;colon", merge_stdout_stderr=1)]


class Query(h.MttdTestCase):
    """One data set, one mttd (htpasswd mode), read-only requests."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.load()
        except BaseException:
            cls.mttd.stop()
            raise

    @classmethod
    def load(cls):
        m = cls.mttd
        _, ids_a = m.must_submit("MPI Install", INSTALLS_A, **SUBMIT_A)
        _, ids_b = m.must_submit("MPI Install", INSTALLS_B, **SUBMIT_B)
        if ids_a + ids_b != [1, 2, 3]:
            raise h.HarnessError("install ids %r" % (ids_a + ids_b))
        _, b1 = m.must_submit("Test Build", [h.build_entry(
            1, suite_name="suiteA", start_timestamp="2026-03-02 09:00:00",
            duration="1 mon", description="build a")], **SUBMIT_A)
        _, b2 = m.must_submit("Test Build", [h.build_entry(
            3, suite_name="suiteB", compiler_name="clang",
            start_timestamp="2026-12-04 13:05:00", duration=1.5,
            test_result=0, exit_value=2, result_message="Failed",
            description="build b")], **SUBMIT_B)
        if b1 + b2 != [1, 2]:
            raise h.HarnessError("build ids %r" % (b1 + b2))
        _, ra = m.must_submit("Test Run", run_entries_a(1), **SUBMIT_R)
        _, rb = m.must_submit("Test Run", run_entries_b(2), **SUBMIT_B)
        if ra + rb != [1, 2, 3, 4, 5, 6]:
            raise h.HarnessError("run ids %r" % (ra + rb))

        # What the submit format has no key for.
        pg = cls.pg
        pg.psql(
            "UPDATE test_suites SET test_suite_description = "
            "'Suite A: it''s \"fine\"' WHERE suite_name = 'suiteA';"
            "UPDATE test_names SET test_name_description = 'says hello'"
            " WHERE test_name = 'hello' AND test_suite_id ="
            " (SELECT test_suite_id FROM test_suites"
            "  WHERE suite_name = 'suiteA');"
            "INSERT INTO test_suites (suite_name, test_suite_description)"
            " VALUES ('suiteC', 'no builds yet');"
            "INSERT INTO interconnects (interconnect_name)"
            " VALUES ('ib0'), ('eth0');"
            "INSERT INTO test_run_networks (test_run_network_id,"
            " interconnect_id) SELECT 4242, interconnect_id FROM"
            " interconnects WHERE interconnect_name IN ('ib0', 'eth0');"
            "UPDATE test_run_command SET test_run_network_id = 4242"
            " WHERE launcher = 'srun'", db=cls.db)

        # submit_timestamp is the time of storing: read it back.
        cls.rows = {}
        for phase, (table, _) in PHASES.items():
            got = pg.psql("SELECT %s_id, submit_timestamp FROM %s ORDER BY 1"
                          % (table, table), db=cls.db)
            cls.rows[phase] = {int(i): pg_timestamp(ts) for i, ts in got}
        stamps = cls.rows
        cls.installs = {0: PLACEHOLDER_INSTALL}
        for i, row in ((1, I1), (2, I2), (3, I3)):
            cls.installs[i] = dict(row, submit_timestamp=stamps["install"][i])
        cls.builds = {0: PLACEHOLDER_BUILD}
        for i, row in ((1, B1), (2, B2)):
            cls.builds[i] = dict(row, submit_timestamp=stamps["test_build"][i])
        cls.runs = {}
        for i, row in enumerate((R1, R2, R3, R4, R5, R6), 1):
            cls.runs[i] = dict(row, submit_timestamp=stamps["test_run"][i])
        cls.by_phase = {"install": cls.installs, "test_build": cls.builds,
                        "test_run": cls.runs}
        cls.baseline = None

    def setUp(self):
        if Query.baseline is None:
            Query.baseline = self.snapshot()

    # -- helpers -----------------------------------------------------------

    def post(self, path, body):
        return self.mttd.http("POST", path, body)

    def data(self, path, body):
        """query_data of a successful answer that has exactly status,
        status_message and query_data."""
        resp = self.post(path, body)
        answer = self.assertOk(resp)
        self.assertEqual(set(answer), {"status", "status_message",
                                       "query_data"}, resp)
        self.assertEqual(answer["status_message"], "Success", resp)
        return answer["query_data"]

    def assertRowsEqual(self, got, expected, ordered=False):
        if not ordered:
            got, expected = sort_rows(got), sort_rows(expected)
        self.assertEqual(got, expected)
        self.assertEqual(canon(got), canon(expected),
                         "same values, other JSON types")

    def detail(self, phase, columns, search, options=None, ordered=False,
               expect_ids=None, expect=None):
        """Compare /detail with the rows of expect_ids (their requested
        columns), or with expect."""
        body = {"phase": phase, "columns": columns, "search": search}
        if options is not None:
            body["options"] = options
        got = self.data("/detail", body)
        if expect is None:
            rows = self.by_phase[phase]
            expect = [pick(rows[i], columns) for i in expect_ids]
        self.assertRowsEqual(got, expect, ordered)
        return got

    def ids(self, phase, search, ids, options=None, ordered=False):
        """/detail of test_result plus a column that tells the rows apart."""
        columns = {"install": ["mpi_version", "start_timestamp"],
                   "test_build": ["suite_name", "start_timestamp"],
                   "test_run": ["test_name", "start_timestamp"]}[phase]
        return self.detail(phase, columns, search, options, ordered,
                           expect_ids=ids)

    def summary(self, phase, columns, search, expect, options=None,
                ordered=False):
        body = {"phase": phase, "columns": columns, "search": search}
        if options is not None:
            body["options"] = options
        self.assertRowsEqual(self.data("/summary", body), expect, ordered)

    def refused(self, path, body, *names):
        resp = self.post(path, body)
        answer = self.assertRefused(resp, names)
        self.assertEqual(answer["status"], -1, resp)
        self.assertEqual(set(answer), {"status", "status_message"}, resp)
        return answer

    def assertBackendsIdle(self, within=2.0):
        """Every backend of mttd is idle (not in a transaction) within
        the time a ROLLBACK after the last answer may take."""
        deadline = time.time() + within
        while True:
            rows = self.sql("SELECT state FROM pg_stat_activity WHERE"
                            " datname = current_database() AND"
                            " application_name = 'mttd'")
            if rows and {r[0] for r in rows} == {"idle"}:
                return
            if time.time() > deadline:
                self.fail("mttd's backends are not all idle: %r" % rows)
            time.sleep(0.05)

    # -- /fields -----------------------------------------------------------

    def test_fields(self):
        for body in ({}, {"anything": [1]}):
            with self.subTest(body=body):
                resp = self.post("/fields", body)
                answer = self.assertOk(resp)
                self.assertEqual(answer, {"status": 0,
                                          "status_message": "Success",
                                          "query_data": {"fields": FIELDS}})
                self.assertEqual(len(answer["query_data"]["fields"]), 48)
                self.assertEqual(sorted(FIELDS), sorted(RUN_FIELDS))

    # -- every column of each phase ------------------------------------------

    def test_every_column_of_each_phase(self):
        for phase, (_, fields) in PHASES.items():
            with self.subTest(phase=phase):
                rows = self.by_phase[phase]
                self.detail(phase, fields, {}, expect_ids=sorted(rows))

    def test_columns_of_other_phases_are_dropped(self):
        # Run-only fields asked of installs and builds vanish silently.
        self.detail("install", ["mpi_name", "suite_name", "np", "test_name",
                                "latency_min"], {"mpi_name": "ompi-b"},
                    expect=[{"mpi_name": "ompi-b"}])
        self.detail("test_build", ["suite_name", "test_name", "launcher"],
                    {"suite_name": "suiteB"},
                    expect=[{"suite_name": "suiteB"}])
        self.detail("install", ["suite_name", "np"], {},
                    expect=[{}, {}, {}, {}])
        self.detail("install", RUN_FIELDS, {}, expect_ids=[0, 1, 2, 3])
        self.detail("test_build", RUN_FIELDS, {}, expect_ids=[0, 1, 2])
        self.detail("install", [], {"test_result": 1},
                    expect=[{}, {}])

    def test_column_asked_twice_is_one_key(self):
        """Each row has one key per field, as the reference's dict rows
        (not a JSON object with a duplicate name, which strict parsers
        refuse)."""
        for path in ("/detail", "/summary"):
            resp = self.post(path, {"phase": "install",
                                    "columns": ["mpi_name", "mpi_name"],
                                    "search": {"mpi_name": "ompi-b"}})
            self.assertOk(resp)
            self.assertEqual(resp.body.count(b'"mpi_name"'), 1, resp)
        self.detail("test_run", ["np", "test_name", "np", "test_name"],
                    {"np": 8}, expect=[{"np": 8, "test_name": "hello"}])

    def test_placeholder_rows_are_results(self):
        self.ids("install", {"mpi_name": "undef"}, [0])
        self.ids("test_build", {"suite_name": "undef"}, [0])
        self.ids("install", {"start_timestamp": {"lt": "2007-01-01"}}, [0])

    # -- search: scalars -----------------------------------------------------

    def test_search_text_equality(self):
        self.ids("install", {"mpi_name": "ompi-a"}, [1, 2])
        self.ids("install", {"mpi_name": "ompi-a", "mpi_version": "v1.1"},
                 [2])
        self.ids("install", {"mpi_name": "OMPI-A"}, [])
        self.ids("install", {"platform_name": "beta"}, [3])
        self.ids("test_build", {"platform_name": "alpha"}, [1])
        self.ids("test_run", {"hostname": "node-r.example.org"}, [1, 2, 3])
        self.ids("test_run", {"compiler_name": "intel"}, [4, 5, 6])
        self.ids("test_run", {"suite_name": "suiteA", "test_name": "hello"},
                 [1])
        self.ids("test_run", {"test_description": "says hello"}, [1])
        self.ids("test_run", {"test_suite_description": SUITE_A_DESC},
                 [1, 2, 3])
        self.ids("test_run", {"resource_manager": "slurm"}, [2])
        self.ids("test_run", {"launcher": "mpirun"}, [1, 3, 4, 5, 6])
        self.ids("test_run", {"command": "mpirun -np 8 ./hello"}, [4])
        self.ids("test_run", {"interconnect_name": "eth0,ib0"}, [2])
        self.ids("install", {"environment": ""}, [0, 1, 2])
        self.ids("install", {"configure_arguments": "--enable-b"}, [3])
        self.ids("install", {"result_stderr": "err b"}, [3])
        self.ids("test_build", {"result_message": "Failed"}, [2])
        self.ids("test_build", {"http_username": h.USER}, [1, 2])

    def test_search_values_are_literal(self):
        before = self.snapshot()
        self.ids("install", {"result_stdout": TRICKY}, [1])
        self.ids("install", {"result_stdout": [TRICKY, "none"]}, [1])
        self.ids("install", {"result_stdout": {"eq": TRICKY}}, [1])
        self.ids("install", {"result_stdout": TRICKY.replace("'", "''")}, [])
        self.ids("install", {"mpi_name": "nomatch' OR '1'='1"}, [])
        self.ids("install", {"mpi_name": "x'; DROP TABLE mpi_install; --"},
                 [])
        self.ids("install", {"mpi_name": "ompi-a' --"}, [])
        self.ids("install", {"result_stdout": "back\\slash"}, [3])
        self.ids("install", {"result_stdout": "back\\\\slash"}, [])
        self.ids("install", {"result_stdout": ["back\\slash"]}, [3])
        self.ids("install", {"result_message": "Failed; it's \"bad\""}, [3])
        self.ids("install", {"result_message": ["Failed; it's \"bad\""]}, [3])
        self.ids("test_run", {"result_message": TRICKY_MSG}, [2])
        self.ids("test_run", {"test_name": "O'Reilly"}, [3])
        self.ids("test_run", {"test_name": ["O'Reilly", "x"]}, [3])
        self.ids("test_run", {"result_stdout": "semi;colon"}, [6])
        # % and _ are LIKE's, not equality's.
        self.ids("test_run", {"test_name": "x_y%z"}, [6])
        self.ids("test_run", {"test_name": "x%"}, [])
        self.ids("test_run", {"test_name": "x_y_z"}, [])
        # An array literal's own syntax is only text in a list value.
        self.ids("test_run", {"result_message": ["a,b {c}"]}, [3])
        self.ids("test_run", {"result_message": ["a", "b {c}"]}, [])
        self.ids("test_run", {"result_message": ["NULL"]}, [5])
        self.ids("test_run", {"result_message": "NULL"}, [5])
        # NUL arrives as U+FFFD, as it was stored.
        self.ids("install", {"result_stdout": NUL_SENT}, [2])
        self.ids("install", {"result_stdout": NUL_STORED}, [2])
        self.ids("install", {"result_stdout": [NUL_SENT]}, [2])
        self.ids("install", {"result_stdout": "nul"}, [])
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.sql1("SELECT count(*) FROM mpi_install"), ["4"])

    def test_search_integers(self):
        self.ids("test_run", {"np": 4}, [2, 3])
        self.ids("test_run", {"np": "4"}, [2, 3])
        self.ids("test_run", {"np": "-4"}, [])
        self.ids("test_run", {"test_result": -1}, [5])
        self.ids("test_run", {"test_result": "-1"}, [5])
        self.ids("install", {"exit_signal": 11}, [3])
        self.ids("install", {"exit_signal": -38}, [0])
        self.ids("install", {"client_serial": 77}, [3])
        self.ids("test_build", {"exit_value": "2"}, [2])
        self.ids("install", {"exit_value": 9223372036854775807}, [])

    def test_search_booleans(self):
        for value, ids in ((True, [3]), (1, [3]), (False, [0, 1, 2]),
                           (0, [0, 1, 2])):
            with self.subTest(trial=value):
                self.ids("install", {"trial": value}, ids)
        self.ids("install", {"merge_stdout_stderr": True}, [0, 2])
        self.ids("install", {"merge_stdout_stderr": 0}, [1, 3])
        self.ids("test_run", {"merge_stdout_stderr": [True, False]},
                 [1, 2, 3, 4, 5, 6])
        self.ids("test_run", {"trial": [1]}, [4, 5, 6])

    def test_search_bit_columns(self):
        self.ids("install", {"vpath_mode": "01"}, [1])
        self.ids("install", {"vpath_mode": "10"}, [3])
        self.ids("install", {"vpath_mode": "00"}, [0, 2])
        self.ids("install", {"bitness": "001000"}, [1])
        self.ids("install", {"bitness": "000100"}, [3])
        self.ids("install", {"bitness": ["000000", "000100"]}, [0, 2, 3])
        self.ids("test_run", {"bitness": "001000"}, [1, 2, 3])
        self.ids("test_build", {"vpath_mode": {"ne": "00"}}, [1, 2])

    def test_search_timestamps(self):
        self.ids("install", {"start_timestamp": "2026-03-02 08:30:00.25"},
                 [1])
        self.ids("install", {"start_timestamp": "2026-03-02 08:30:00"}, [])
        self.ids("install", {"start_timestamp": "Fri Dec  4 13:00:00 2026"},
                 [3])
        self.ids("install", {"start_timestamp": "2026-12-04T13:00:00"}, [3])
        self.ids("install", {"start_timestamp": [
            "2026-01-15", "2026-12-04 13:00:00"]}, [2, 3])
        self.ids("test_run", {"start_timestamp": {
            "gte": "2026-03-02 10:05:00", "lt": "2026-12-04 13:15"}},
            [2, 3, 4])
        self.ids("test_run", {"start_timestamp": {"gt": "2026-12-04"}},
                 [4, 5, 6])
        self.ids("install", {"submit_timestamp": {"gt": "2020-01-01"}},
                 [1, 2, 3])
        self.ids("test_build", {"submit_timestamp": "2006-11-01"}, [0])

    def test_search_durations(self):
        self.ids("install", {"duration": "322 seconds"}, [1])
        self.ids("install", {"duration": 322}, [1])
        self.ids("install", {"duration": Raw("3.22e2")}, [1])
        self.ids("install", {"duration": "00:05:22"}, [1])
        self.ids("install", {"duration": "-5 seconds"}, [2])
        self.ids("install", {"duration": -5}, [2])
        self.ids("install", {"duration": "1 day 02:03:04"}, [3])
        self.ids("install", {"duration": "26:03:04"}, [3])
        self.ids("install", {"duration": {"gt": 0, "lt": "1 day"}}, [0, 1])
        self.ids("install", {"duration": ["1 second", 322]}, [0, 1])
        self.ids("test_build", {"duration": 1.5}, [2])
        self.ids("test_build", {"duration": "1 mon"}, [1])
        self.ids("test_build", {"duration": "30 days"}, [1])
        self.ids("test_run", {"duration": 0}, [6])
        self.ids("test_run", {"duration": {"gte": "20 seconds",
                                           "lte": 40}}, [3, 4, 5])

    # -- search: lists and comparisons ---------------------------------------

    def test_search_lists(self):
        self.ids("test_run", {"test_name": ["hello", "spawn"]}, [1, 4, 5])
        self.ids("test_run", {"test_name": []}, [])
        self.ids("test_run", {"np": [2, "8"]}, [1, 4, 6])
        self.ids("test_run", {"np": []}, [])
        self.ids("test_run", {"test_result": [0, 2, 3]}, [2, 3, 4])
        self.ids("install", {"mpi_version": ["v1.0", "v2.0", "v9"]}, [1, 3])
        self.ids("test_run", {"start_timestamp": []}, [])
        many = ["name-%d" % i for i in range(5000)]
        self.ids("test_run", {"test_name": many + ["ring"]}, [2])
        self.ids("test_run", {"np": list(range(3, 5000))}, [2, 3, 4])
        # Beyond the column's type: matches nothing, refuses nothing.
        self.ids("install", {"client_serial": [77, 9223372036854775807,
                                               -2147483649]}, [3])
        self.ids("test_run", {"np": [70000, 4]}, [2, 3])

    def test_search_comparisons(self):
        self.ids("test_run", {"np": {"eq": 4}}, [2, 3])
        self.ids("test_run", {"np": {"ne": 4}}, [1, 4, 5, 6])
        self.ids("test_run", {"np": {"lt": 4}}, [1, 5, 6])
        self.ids("test_run", {"np": {"lte": "4"}}, [1, 2, 3, 5, 6])
        self.ids("test_run", {"np": {"gt": 2, "lte": 8}}, [2, 3, 4])
        self.ids("test_run", {"np": {"gte": 8}}, [4])
        self.ids("test_run", {"np": {"gt": 4, "lt": 4}}, [])
        self.ids("test_run", {"test_result": {"ne": 1}}, [2, 3, 4, 5])
        self.ids("install", {"mpi_version": {"gte": "v1.1"}}, [2, 3])
        self.ids("install", {"mpi_version": {"lt": "v1.1", "ne": "undef"}},
                 [1])

    def test_search_like(self):
        self.ids("test_run", {"test_name": {"like": "%ell%"}}, [1, 4])
        self.ids("test_run", {"test_name": {"like": "h_llo"}}, [1, 4])
        self.ids("test_run", {"test_name": {"like": "HELLO"}}, [])
        self.ids("test_run", {"test_name": {"like": "x\\_y\\%z"}}, [6])
        self.ids("test_run", {"test_name": {"like": "x\\_y\\%"}}, [])
        self.ids("test_run", {"test_name": {"like": "O'%"}}, [3])
        self.ids("install", {"result_stdout": {"like": "back\\\\%"}}, [3])
        self.ids("install", {"mpi_name": {"like": "ompi-%",
                                          "ne": "ompi-b"}}, [1, 2])
        self.ids("test_run", {"result_message": {"like": "%;%"}}, [2])
        self.ids("test_build", {"suite_name": {"like": "suite_"}}, [1, 2])

    # -- options -------------------------------------------------------------

    def ordered_ids(self, phase, keys, search_ids=None):
        """The ids of phase sorted as PostgreSQL must (the C collation):
        by keys ("-" first for descending), then by id."""
        rows = self.by_phase[phase]
        ids = sorted(search_ids if search_ids is not None else rows)
        for key in reversed(keys):
            desc = key.startswith("-")
            name = key.lstrip("-")
            ids.sort(key=lambda i: rows[i][name], reverse=desc)
        return ids

    def assertOrderedBy(self, phase, field, key, whole):
        """Without a page, ties may come in any order: the rows are the
        same and their values of field are in order."""
        columns = {"install": ["mpi_version", "start_timestamp"],
                   "test_build": ["suite_name", "start_timestamp"],
                   "test_run": ["test_name", "start_timestamp"]}[phase]
        columns = columns + [field]
        rows = self.by_phase[phase]
        got = self.detail(phase, columns, {}, {"order_by": key},
                          expect_ids=whole)
        self.assertEqual([r[field] for r in got],
                         [rows[i][field] for i in whole])

    def test_limit_offset_order_by(self):
        q = self.ids
        q("test_run", {}, [1, 2, 3, 4, 5, 6], {"limit": 6}, ordered=True)
        q("test_run", {}, [1, 2, 3, 4, 5, 6], {"order_by": []})
        q("test_run", {}, [1, 2], {"limit": 2}, ordered=True)
        q("test_run", {}, [3, 4], {"limit": 2, "offset": 2}, ordered=True)
        q("test_run", {}, [5, 6], {"offset": 4}, ordered=True)
        q("test_run", {}, [], {"offset": 6})
        q("test_run", {}, [], {"offset": 9223372036854775807})
        q("test_run", {}, [], {"limit": 0})
        q("test_run", {}, [1, 2, 3, 4, 5, 6], {"limit": 100}, ordered=True)
        q("test_run", {}, [1, 2, 3, 4, 5, 6], {"offset": 0}, ordered=True)
        q("install", {}, [0, 1, 2, 3], {"limit": 10}, ordered=True)
        q("test_build", {}, [1, 2], {"offset": 1}, ordered=True)
        q("test_run", {"test_name": "hello"}, [4], {"offset": 1},
          ordered=True)
        # Ties broken by the id: pages that do not overlap.
        q("test_run", {}, [4, 2, 3], {"order_by": ["-np"], "limit": 3},
          ordered=True)
        q("test_run", {}, [4, 2, 3, 1], {"order_by": "-np", "limit": 4},
          ordered=True)
        q("test_run", {}, [6, 5], {"order_by": "-np", "offset": 4},
          ordered=True)
        q("test_run", {}, [5, 1, 6, 2, 3, 4],
          {"order_by": ["np", "start_timestamp"]}, ordered=True)
        q("test_run", {}, [3, 2, 1],
          {"order_by": ["-start_timestamp"], "limit": 3, "offset": 3},
          ordered=True)
        q("test_run", {"test_name": ["hello", "ring", "spawn"]},
          [1, 4, 2, 5], {"order_by": ["test_name", "np"]}, ordered=True)
        q("test_run", {"test_name": ["hello", "ring", "spawn"]},
          [5, 2, 1, 4], {"order_by": ["-test_name", "np"]}, ordered=True)
        q("install", {}, [3, 2, 1], {"order_by": "-mpi_version",
                                     "limit": 3}, ordered=True)
        q("test_build", {}, [0, 2, 1], {"order_by": ["-suite_name"]},
          ordered=True)
        # Every field of each phase orders, also one that is not among
        # the columns or needs a join of its own; each page is the slice
        # of the whole order.
        for phase, (_, fields) in PHASES.items():
            for field in fields:
                if field in ARRAY_FIELDS:
                    continue
                for key in (field, "-" + field):
                    whole = self.ordered_ids(phase, [key])
                    with self.subTest(phase=phase, order_by=key):
                        self.assertOrderedBy(phase, field, key, whole)
                        q(phase, {}, whole[1:3], {"order_by": [key],
                                                  "limit": 2, "offset": 1},
                          ordered=True)
        keys = ["-submit_timestamp", "-suite_name", "-np",
                "-start_timestamp"]
        q("test_run", {}, self.ordered_ids("test_run", keys),
          {"order_by": keys}, ordered=True)

    def test_count_only(self):
        def count(phase, search, options, n, path="/detail", columns=None):
            if columns is None:
                columns = ["mpi_name"]
            body = {"phase": phase, "columns": columns,
                    "search": search, "options": options}
            with self.subTest(body=body):
                self.assertEqual(self.data(path, body), {"count": n})

        for flag in (1, True):
            count("test_run", {}, {"count_only": flag}, 6)
            count("install", {}, {"count_only": flag}, 4)
        count("test_build", {"suite_name": "suiteA"}, {"count_only": 1}, 1)
        count("test_run", {"test_name": []}, {"count_only": 1}, 0)
        count("test_run", {}, {"count_only": 1, "limit": 4}, 4)
        count("test_run", {}, {"count_only": 1, "limit": 4, "offset": 3}, 3)
        count("test_run", {}, {"count_only": 1, "offset": 10}, 0)
        count("test_run", {}, {"count_only": 1, "limit": 0}, 0)
        count("test_run", {}, {"count_only": 1, "order_by": "-np",
                               "limit": 2}, 2)
        count("install", {}, {"count_only": 1}, 4, columns=["suite_name"])
        # /summary counts its groups.
        count("test_run", {}, {"count_only": 1}, 2, "/summary",
              ["suite_name"])
        count("test_run", {}, {"count_only": 1}, 6, "/summary",
              ["test_name", "np"])
        count("test_run", {}, {"count_only": True, "limit": 2}, 2,
              "/summary", ["suite_name"])
        count("test_run", {}, {"count_only": 1}, 1, "/summary", [])
        count("install", {}, {"count_only": 1}, 4, "/summary",
              ["mpi_version"])
        # count_only 0 or false: the rows.
        for flag in (0, False):
            self.ids("test_run", {"np": 8}, [4], {"count_only": flag})

    # -- /summary ------------------------------------------------------------

    def test_summary_groups(self):
        self.summary("test_run", ["suite_name"], {}, [
            dict(suite_name="suiteA", **counters(1, 1, 1, 0, 0)),
            dict(suite_name="suiteB", **counters(0, 1, 0, 1, 1))])
        self.summary("test_run", ["suite_name", "test_result"], {}, [
            dict(suite_name="suiteA", test_result=0, **counters(failed=1)),
            dict(suite_name="suiteA", test_result=1, **counters(passed=1)),
            dict(suite_name="suiteA", test_result=2, **counters(skipped=1)),
            dict(suite_name="suiteB", test_result=3, **counters(timed_out=1)),
            dict(suite_name="suiteB", test_result=-1, **counters(unknown=1)),
            dict(suite_name="suiteB", test_result=1, **counters(passed=1))])
        self.summary("install", ["mpi_name"], {}, [
            dict(mpi_name="undef", **counters(passed=1)),
            dict(mpi_name="ompi-a", **counters(passed=1, skipped=1)),
            dict(mpi_name="ompi-b", **counters(failed=1))])
        self.summary("test_build", ["suite_name", "mpi_version"], {}, [
            dict(suite_name="undef", mpi_version="undef",
                 **counters(passed=1)),
            dict(suite_name="suiteA", mpi_version="v1.0",
                 **counters(passed=1)),
            dict(suite_name="suiteB", mpi_version="v2.0",
                 **counters(failed=1))])
        self.summary("test_run", ["test_name"], {"np": {"gte": 2}}, [
            dict(test_name="hello", **counters(passed=1, timed_out=1)),
            dict(test_name="ring", **counters(failed=1)),
            dict(test_name="O'Reilly", **counters(skipped=1)),
            dict(test_name="x_y%z", **counters(passed=1))])
        self.summary("test_run", ["trial", "vpath_mode", "duration"],
                     {"trial": True}, [
                         dict(trial=True, vpath_mode="10", duration="0:00:30",
                              **counters(timed_out=1)),
                         dict(trial=True, vpath_mode="10", duration="0:00:40",
                              **counters(unknown=1)),
                         dict(trial=True, vpath_mode="10", duration="0:00:00",
                              **counters(passed=1))])
        self.summary("test_run", ["message_size"], {}, [
            dict(message_size=[1, 2, 4], **counters(passed=1)),
            dict(message_size=[], **counters(1, 1, 1, 1, 1))])
        self.summary("test_run", ["suite_name"], {"test_name": []}, [])
        # Long texts as group columns (answered through the cursor).
        self.summary("test_run", ["result_message"], {}, [
            dict(result_message="Success", **counters(passed=2)),
            dict(result_message=TRICKY_MSG, **counters(failed=1)),
            dict(result_message="a,b {c}", **counters(skipped=1)),
            dict(result_message="Timed out", **counters(timed_out=1)),
            dict(result_message="NULL", **counters(unknown=1))])
        self.summary("install", ["result_stdout", "mpi_name"], {}, [
            dict(result_stdout="undef", mpi_name="undef",
                 **counters(passed=1)),
            dict(result_stdout=TRICKY, mpi_name="ompi-a",
                 **counters(passed=1)),
            dict(result_stdout=NUL_STORED, mpi_name="ompi-a",
                 **counters(skipped=1)),
            dict(result_stdout="back\\slash", mpi_name="ompi-b",
                 **counters(failed=1))])
        self.summary("test_run", ["command", "test_description"],
                     {"test_name": "hello"}, [
                         dict(command="mpirun -np 2 ./hello",
                              test_description="says hello",
                              **counters(passed=1)),
                         dict(command="mpirun -np 8 ./hello",
                              test_description="", **counters(timed_out=1))])
        self.summary("test_run", ["result_message"], {},
                     [dict(result_message="Success", **counters(passed=2))],
                     {"order_by": ["-test_result_passed"], "limit": 1},
                     ordered=True)
        self.summary("test_run", ["environment", "description"], {},
                     [dict(environment="", description="it run",
                           **counters(1, 2, 1, 1, 1))])

    def test_summary_totals(self):
        self.summary("test_run", [], {}, [counters(1, 2, 1, 1, 1)])
        self.summary("install", [], {}, [counters(1, 2, 1, 0, 0)])
        self.summary("test_build", [], {"suite_name": "suiteB"},
                     [counters(failed=1)])
        # Only inapplicable columns: the totals.
        self.summary("install", ["test_name", "np"], {},
                     [counters(1, 2, 1, 0, 0)])
        # No match: one row of zeros.
        self.summary("test_run", [], {"test_name": "none"}, [counters()])

    def test_summary_options(self):
        rows = [dict(mpi_name="undef", **counters(passed=1)),
                dict(mpi_name="ompi-a", **counters(passed=1, skipped=1)),
                dict(mpi_name="ompi-b", **counters(failed=1))]
        self.summary("install", ["mpi_name"], {}, rows[1:],
                     {"order_by": "mpi_name", "limit": 2}, ordered=True)
        self.summary("install", ["mpi_name"], {}, [rows[0], rows[2]],
                     {"order_by": ["-mpi_name"], "limit": 2}, ordered=True)
        self.summary("install", ["mpi_name"], {}, [rows[2]],
                     {"order_by": "mpi_name", "limit": 1, "offset": 1},
                     ordered=True)
        self.summary("install", ["mpi_name"], {}, [rows[1], rows[2],
                                                   rows[0]],
                     {"order_by": ["-test_result_skipped",
                                   "-test_result_failed"]}, ordered=True)
        # A page of groups without order_by is in the groups' order.
        self.summary("install", ["mpi_name"], {}, rows[1:],
                     {"limit": 2}, ordered=True)
        self.summary("install", ["mpi_name"], {}, [rows[0]],
                     {"offset": 2}, ordered=True)
        self.summary("install", [], {}, [counters(1, 2, 1, 0, 0)],
                     {"limit": 5, "offset": 0})
        self.summary("install", [], {}, [], {"offset": 1})

    # -- /info/testsuite -----------------------------------------------------

    SUITE_A = {"suite_name": "suiteA", "test_suite_description": SUITE_A_DESC,
               "tests": [{"test_name": "O'Reilly", "test_description": ""},
                         {"test_name": "hello",
                          "test_description": "says hello"},
                         {"test_name": "ring", "test_description": ""}],
               "test_build_count": 1, "test_run_count": 3,
               "last_start_timestamp": "2026-03-02 10:10:00"}
    SUITE_B = {"suite_name": "suiteB", "test_suite_description": "",
               "tests": [{"test_name": "hello", "test_description": ""},
                         {"test_name": "spawn", "test_description": ""},
                         {"test_name": "x_y%z", "test_description": ""}],
               "test_build_count": 1, "test_run_count": 3,
               "last_start_timestamp": "2026-12-04 13:20:00"}
    SUITE_C = {"suite_name": "suiteC", "test_suite_description":
               "no builds yet", "tests": [], "test_build_count": 0,
               "test_run_count": 0, "last_start_timestamp": ""}
    SUITE_0 = {"suite_name": "undef", "test_suite_description": "undef",
               "tests": [{"test_name": "undef", "test_description": "undef"}],
               "test_build_count": 1, "test_run_count": 0,
               "last_start_timestamp": "2006-11-01 00:00:00"}

    def suites(self, search, expected):
        got = self.data("/info/testsuite", {"search": search})
        self.assertIsInstance(got, list)
        for suite in got:
            self.assertIsInstance(suite.get("tests"), list, suite)
            suite["tests"] = sort_rows(suite["tests"])
        expected = [dict(s, tests=sort_rows(s["tests"])) for s in expected]
        self.assertRowsEqual(got, expected)

    def test_info_testsuite(self):
        self.suites({"suite_name": "suiteA"}, [self.SUITE_A])
        self.suites({"test_suite_name": "suiteB"}, [self.SUITE_B])
        self.suites({"suite_name": ["suiteA", "suiteC", "nope"]},
                    [self.SUITE_A, self.SUITE_C])
        self.suites({"suite_name": {"like": "suite%"}},
                    [self.SUITE_A, self.SUITE_B, self.SUITE_C])
        self.suites({"suite_name": {"like": "%"},
                     "test_suite_description": "no builds yet"},
                    [self.SUITE_C])
        self.suites({"suite_name": "undef"}, [self.SUITE_0])
        self.suites({"suite_name": "no_such_suite"}, [])
        self.suites({"suite_name": []}, [])
        self.suites({"test_suite_name": "suiteA'; --"}, [])

    def test_info_testsuite_refused(self):
        self.refused("/info/testsuite", {"search": {}}, "suite_name")
        self.refused("/info/testsuite",
                     {"search": {"test_suite_description": "x"}},
                     "suite_name")
        self.refused("/info/testsuite",
                     {"search": {"suite_name": "x", "np": 2}}, "np")
        self.refused("/info/testsuite",
                     {"search": {"suite_name": "x", "bogus": 2}}, "bogus")
        answer = self.refused("/info/testsuite", {}, "search", "suite_name")
        self.assertEqual(answer["status_message"],
                         "No field 'search' in the request: /info/testsuite"
                         " needs search key 'suite_name' (or"
                         " 'test_suite_name')")
        self.refused("/info/testsuite", {"search": ["suiteA"]}, "search")
        self.refused("/info/testsuite", {"search": {"suite_name": None}},
                     "suite_name")
        self.refused("/info/testsuite", {"search": {"suite_name": 5}},
                     "suite_name")
        self.refused("/info/testsuite",
                     {"search": {"suite_name": {"regex": "x"}}},
                     "suite_name", "regex")
        # Fields of /detail it would ignore (break-it helper 45).
        for extra in ({"options": {"limit": 1}}, {"phase": "test_run"},
                      {"columns": ["test_name"]}):
            name = next(iter(extra))
            answer = self.refused(
                "/info/testsuite",
                dict({"search": {"suite_name": "suiteA"}}, **extra), name)
            self.assertEqual(answer["status_message"],
                             "Field '%s' is not taken by /info/testsuite"
                             " (its fields: search)" % name)

    # -- /info/runtime -------------------------------------------------------

    def runtime(self, phase, search, durations, first, last):
        got = self.data("/info/runtime", {"phase": phase, "search": search})
        self.assertIsInstance(got, list)
        self.assertEqual(len(got), 1, got)
        row = got[0]
        self.assertEqual(set(row), {
            "count", "duration_min", "duration_avg", "duration_median",
            "duration_p90", "duration_max", "first_start_timestamp",
            "last_start_timestamp"}, row)
        self.assertEqual(row["count"], len(durations), row)
        self.assertIs(type(row["count"]), int, row)
        self.assertEqual(row["first_start_timestamp"], first, row)
        self.assertEqual(row["last_start_timestamp"], last, row)
        keys = ["duration_min", "duration_avg", "duration_median",
                "duration_p90", "duration_max"]
        if not durations:
            self.assertEqual([row[k] for k in keys], [None] * 5, row)
            return
        s = sorted(durations)

        def percentile(p):
            pos = p * (len(s) - 1)
            lo = int(pos)
            hi = min(lo + 1, len(s) - 1)
            return s[lo] + (s[hi] - s[lo]) * (pos - lo)

        want = [s[0], sum(s) / len(s), percentile(0.5), percentile(0.9),
                s[-1]]
        for key, value in zip(keys, want):
            self.assertIsInstance(row[key], (int, float), row)
            self.assertNotIsInstance(row[key], bool, row)
            self.assertAlmostEqual(row[key], value, places=6,
                                   msg="%s of %r" % (key, row))

    def test_info_runtime(self):
        self.runtime("test_run", {"test_name": "hello"}, [2700, 30],
                     "2026-03-02 10:00:00", "2026-12-04 13:10:00")
        self.runtime("test_run", {"test_name": "hello", "np": 8}, [30],
                     "2026-12-04 13:10:00", "2026-12-04 13:10:00")
        self.runtime("test_run", {"test_name": {"like": "%"}},
                     [2700, 10, 20, 30, 40, 0], "2026-03-02 10:00:00",
                     "2026-12-04 13:20:00")
        self.runtime("test_run", {"test_name": ["ring", "O'Reilly"]},
                     [10, 20], "2026-03-02 10:05:00", "2026-03-02 10:10:00")
        self.runtime("install", {"mpi_name": "ompi-a"}, [322, -5],
                     "2026-01-15 00:00:00", "2026-03-02 08:30:00.250000")
        self.runtime("install", {"mpi_version": "v2.0"}, [93784],
                     "2026-12-04 13:00:00", "2026-12-04 13:00:00")
        self.runtime("install", {"mpi_name": "undef"}, [1],
                     "2006-11-01 00:00:00", "2006-11-01 00:00:00")
        self.runtime("test_build", {"suite_name": ["suiteA", "suiteB"]},
                     [2592000, 1.5], "2026-03-02 09:00:00",
                     "2026-12-04 13:05:00")
        self.runtime("test_run", {"test_name": "no_such_test"}, [], None,
                     None)
        self.runtime("test_build", {"suite_name": []}, [], None, None)

    def test_info_runtime_refused(self):
        r = self.refused
        # Fields of /detail it would ignore (break-it helper 45).
        for extra in ({"options": {"limit": 1}}, {"columns": ["np"]},
                      {"serch": {}}):
            name = next(iter(extra))
            answer = r("/info/runtime",
                       dict({"phase": "test_run",
                             "search": {"test_name": "hello"}}, **extra),
                       name)
            self.assertEqual(answer["status_message"],
                             "Field '%s' is not taken by /info/runtime"
                             " (its fields: phase, search)" % name)
        r("/info/runtime", {"search": {"test_name": "hello"}}, "phase")
        r("/info/runtime", {"phase": "mpi_install",
                            "search": {"test_name": "hello"}}, "phase",
          "mpi_install")
        r("/info/runtime", {"phase": "install", "search": {}}, "mpi_name",
          "mpi_version")
        r("/info/runtime", {"phase": "install",
                            "search": {"platform_name": "alpha"}},
          "mpi_name", "mpi_version")
        r("/info/runtime", {"phase": "test_build",
                            "search": {"mpi_name": "ompi-a"}}, "suite_name")
        r("/info/runtime", {"phase": "test_run",
                            "search": {"suite_name": "suiteA"}}, "test_name")
        r("/info/runtime", {"phase": "test_run",
                            "search": {"np": 4}}, "test_name")
        r("/info/runtime", {"phase": "install",
                            "search": {"test_name": "hello"}}, "test_name")
        r("/info/runtime", {"phase": "test_run"}, "search")
        r("/info/runtime", {"phase": "test_run", "search": "hello"},
          "search")
        r("/info/runtime", {"phase": "test_run",
                            "search": {"test_name": "hello",
                                       "start_timestamp": "yesterday-ish"}},
          "start_timestamp")

    # -- refused requests ----------------------------------------------------

    def test_refused_phase(self):
        for path in ("/detail", "/summary"):
            for phase in (h.ABSENT, None, 5, True, ["install"], {}):
                with self.subTest(path=path, phase=phase):
                    self.refused(path, {"phase": phase,
                                        "columns": ["mpi_name"],
                                        "search": {}}, "phase")
            for phase in ("mpi_install", "Install", "install ", "Test Run",
                          "test run", ""):
                with self.subTest(path=path, phase=phase):
                    answer = self.refused(
                        path, {"phase": phase, "columns": ["mpi_name"],
                               "search": {}}, "phase", "install",
                        "test_build", "test_run")
                    if phase.strip():
                        self.assertTrue(h.names_word(
                            answer["status_message"], phase.strip()))

    def test_refused_columns(self):
        for path in ("/detail", "/summary"):
            def r(columns, *names):
                with self.subTest(path=path, columns=columns):
                    self.refused(path, {"phase": "test_run",
                                        "columns": columns,
                                        "search": {}}, *names)
            r(h.ABSENT, "columns")
            r(None, "columns")
            r("test_name", "columns")
            r({"test_name": 1}, "columns")
            r(["test_name", 3], "columns")
            r(["test_name", None], "columns")
            r(["test_name", ["np"]], "columns")
            r(["test_name", "no_such_column"], "no_such_column")
            r(["Test_Name"], "Test_Name")
            r(["test_name "], "test_name")

    def test_refused_search(self):
        for path in ("/detail", "/summary"):
            def r(phase, search, *names):
                with self.subTest(path=path, phase=phase, search=search):
                    self.refused(path, {"phase": phase,
                                        "columns": ["mpi_name"],
                                        "search": search}, *names)
            r("install", h.ABSENT, "search")
            answer = self.refused(path, {"phase": "install",
                                         "columns": ["mpi_name"]})
            self.assertEqual(answer["status_message"],
                             "No field 'search' in the request (send"
                             " \"search\": {} to match every row)")
            r("install", None, "search")
            r("install", [], "search")
            r("install", "mpi_name", "search")
            r("install", 1, "search")
            # Unknown keys, keys of other phases, array fields.
            r("install", {"no_such_key": "x"}, "no_such_key")
            r("install", {"mpi_name": "a", "no_such_key": "x"},
              "no_such_key")
            r("install", {"suite_name": "suiteA"}, "suite_name")
            r("install", {"test_name": "hello"}, "test_name")
            r("test_build", {"test_name": "hello"}, "test_name")
            r("test_build", {"np": 2}, "np")
            r("install", {"launcher": "mpirun"}, "launcher")
            for field in ARRAY_FIELDS:
                r("test_run", {field: [1]}, field)
                r("test_run", {field: 1}, field)
                r("test_run", {field: {"eq": "{}"}}, field)
            # Comparison objects.
            r("install", {"mpi_name": {}}, "mpi_name")
            r("install", {"mpi_name": {"regex": "x"}}, "mpi_name", "regex")
            r("install", {"mpi_name": {"eq": "x", "between": 1}},
              "mpi_name", "between")
            r("install", {"mpi_name": {"EQ": "x"}}, "mpi_name", "EQ")
            r("install", {"exit_value": {"like": "1%"}}, "exit_value")
            r("install", {"trial": {"like": "t%"}}, "trial")
            r("install", {"start_timestamp": {"like": "2026%"}},
              "start_timestamp")
            r("install", {"duration": {"like": "1%"}}, "duration")
            r("install", {"vpath_mode": {"like": "0%"}}, "vpath_mode")
            r("install", {"mpi_name": {"eq": None}}, "mpi_name")
            r("install", {"mpi_name": {"eq": ["a"]}}, "mpi_name")
            r("install", {"mpi_name": {"eq": {"eq": "a"}}}, "mpi_name")
            # Values of the wrong kind.
            r("install", {"mpi_name": None}, "mpi_name")
            r("install", {"mpi_name": 5}, "mpi_name")
            r("install", {"mpi_name": True}, "mpi_name")
            r("install", {"mpi_name": ["a", None]}, "mpi_name")
            r("install", {"mpi_name": [["a"]]}, "mpi_name")
            for value in (4.5, "4 ", " 4", "four", Raw("1e1"), True, "",
                          "+4", "0x10", None, [4, "x"],
                          "99999999999999999999"):
                r("test_run", {"np": value}, "np")
            r("install", {"exit_value": {"gt": "x"}}, "exit_value")
            for value in ("1", "true", 2, -1, 0.0, None, ["t"]):
                r("install", {"trial": value}, "trial")
            for value in ("1", "001", "02", "0a", 1, "", None):
                r("install", {"vpath_mode": value}, "vpath_mode")
            for value in ("1000", "0010000", "00100a", 8, ["01"]):
                r("install", {"bitness": value}, "bitness")
            # What PostgreSQL refuses as a timestamp or an interval.
            for value in ("bogus", "2026-13-45", "2026-02-30 10:00",
                          "yesterday-ish", 1700000000, ["2026-01-01", "x"],
                          {"gte": "nope"}, {"gt": "2026-01-01", "lt": "x"}):
                r("install", {"start_timestamp": value}, "start_timestamp")
            for value in ("bogus", "5 parsecs", True,
                          ["1 second", "x"], {"lt": "soon"}):
                r("install", {"duration": value}, "duration")
            r("install", {"mpi_name": "x", "duration": "bogus"}, "duration")
            r("install", {"start_timestamp": "2026-01-01",
                          "duration": "bogus"}, "duration")

    def test_refused_options(self):
        for path in ("/detail", "/summary"):
            def r(options, *names):
                with self.subTest(path=path, options=options):
                    self.refused(path, {"phase": "install",
                                        "columns": ["mpi_name"],
                                        "search": {}, "options": options},
                                 *names)
            for name in ("limit", "offset"):
                for value in (-1, 1.5, "5", Raw("1.0"), Raw("1e1"), True,
                              None, [5], {}, "-1",
                              Raw("99999999999999999999")):
                    r({name: value}, name)
            for value in (2, -1, "1", "true", None, 0.5, Raw("1.0"), [1]):
                r({"count_only": value}, "count_only")
            r({"bogus": 1}, "bogus")
            r({"page_size": 5}, "page_size")
            r({"bogus": 1, "limit": -1}, "bogus")
            r({"limit": 1, "Limit": 1}, "Limit")
            r({"order_by": "no_such_field"}, "order_by", "no_such_field")
            r({"order_by": ["mpi_name", "test_name"]}, "order_by",
              "test_name")
            r({"order_by": 5}, "order_by")
            r({"order_by": [5]}, "order_by")
            r({"order_by": None}, "order_by")
            r({"order_by": {"mpi_name": "asc"}}, "order_by")
            r([], "options")
            r("limit", "options")
            r(5, "options")
        # /summary orders only by its columns and counters.
        self.refused("/summary", {"phase": "install", "columns": ["mpi_name"],
                                  "search": {},
                                  "options": {"order_by": "mpi_version"}},
                     "order_by", "mpi_version")
        self.refused("/summary", {"phase": "install", "columns": ["mpi_name"],
                                  "search": {},
                                  "options": {"order_by": "-duration"}},
                     "order_by", "duration")
        self.refused("/summary", {"phase": "install",
                                  "columns": ["suite_name"],
                                  "search": {},
                                  "options": {"order_by": "suite_name"}},
                     "order_by", "suite_name")

    def test_refusals_are_checked_in_order(self):
        # phase, columns, search, options: the first mistake is named.
        body = {"phase": "bogus", "columns": ["no_such_column"],
                "search": {"no_such_key": 1}, "options": {"bogus": 1}}
        self.refused("/detail", body, "phase")
        body["phase"] = "install"
        self.refused("/detail", body, "no_such_column")
        body["columns"] = ["mpi_name"]
        self.refused("/detail", body, "no_such_key")
        body["search"] = {}
        self.refused("/detail", body, "bogus")

    def test_body_not_an_object(self):
        for path in ("/detail", "/summary", "/info/testsuite",
                     "/info/runtime"):
            for body in (b"", b"[]", b"\"install\"", b"{", b"null"):
                with self.subTest(path=path, body=body):
                    resp = self.post(path, body)
                    answer = self.assertJsonAnswer(resp, 400)
                    self.assertLess(answer["status"], 0, resp)

    # -- afterwards ----------------------------------------------------------

    def test_zz_database_unchanged_and_backends_idle(self):
        self.assertEqual(self.snapshot(), Query.baseline)
        self.assertEqual(self.sql("SELECT mpi_install_id FROM mpi_install"
                                  " ORDER BY 1"), [["0"], ["1"], ["2"],
                                                   ["3"]])
        self.assertBackendsIdle()
        # A good query still answers after every refusal above.
        self.ids("test_run", {"np": 1}, [5])



# Durations as submitted and as Python's timedelta prints them (a month
# is 30 days, a year 365, as psycopg2 read them for the reference).
DURATIONS = [
    ("1 mon", datetime.timedelta(days=30)),
    ("-1 mon", datetime.timedelta(days=-30)),
    ("1 year", datetime.timedelta(days=365)),
    ("1 mon -1 day", datetime.timedelta(days=29)),
    ("-1 day 2 hours", datetime.timedelta(days=-1, hours=2)),
    ("-1 day -2 hours", datetime.timedelta(hours=-26)),
    ("1 day -00:00:01", datetime.timedelta(seconds=86399)),
    ("100 hours", datetime.timedelta(hours=100)),
    ("1000 days", datetime.timedelta(days=1000)),
    ("2 days 00:00:00.000001", datetime.timedelta(days=2, microseconds=1)),
    ("-0.000001 seconds", datetime.timedelta(microseconds=-1)),
    (1.5, datetime.timedelta(seconds=1.5)),
    ("0.1", datetime.timedelta(seconds=0.1)),
    (3600, datetime.timedelta(hours=1)),
    ("0 Seconds", datetime.timedelta(0)),
]
TIMESTAMPS = [
    ("2026-03-02 08:30:00.000001", "2026-03-02 08:30:00.000001"),
    ("2026-03-02 08:30:00.5", "2026-03-02 08:30:00.500000"),
    ("2026-03-02 08:30:00.123456", "2026-03-02 08:30:00.123456"),
    ("2026-03-02 08:30:00.1234567", "2026-03-02 08:30:00.123457"),
    ("1999-12-31 23:59:59.999999", "1999-12-31 23:59:59.999999"),
    ("Sun Mar 29 02:30:00 2026", "2026-03-29 02:30:00"),
]
ODD_TEXT = "tab\there\u0001\u001f\u007f\u2028 \u00e9 \u65e5 \U0001F600 \"\\"


class QueryFormats(h.MttdTestCase):
    """Output forms of conformance/README.md on values chosen for their
    edges, and rows whose nullable columns hold NULL (as data the
    reference left may): no null reaches an answer."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.load()
        except BaseException:
            cls.mttd.stop()
            raise

    @classmethod
    def load(cls):
        m = cls.mttd
        entries = [h.install_entry(mpi_version="dur-%02d" % i, duration=d)
                   for i, (d, _) in enumerate(DURATIONS)]
        entries += [h.install_entry(mpi_version="ts-%02d" % i,
                                    start_timestamp=t)
                    for i, (t, _) in enumerate(TIMESTAMPS)]
        _, ids = m.must_submit("MPI Install", entries)
        _, (build,) = m.must_submit("Test Build", [h.build_entry(ids[0])])
        _, cls.run_ids = m.must_submit("Test Run", [
            h.run_entry(build, test_name="floats", latency_bandwidth=True,
                        message_size=[2147483647, -1, 0],
                        latency_min=[1e-05, 1.5e+300, -2.5, 0,
                                     123456789.125],
                        bandwidth_max=[0.1, 1 / 3], result_stdout=ODD_TEXT),
            h.run_entry(build, test_name="nulls", launcher="mpirun",
                        latency_bandwidth=True, message_size=[1],
                        start_timestamp="Fri Dec  4 13:11:00 2026")])

        # The nullable columns of the "nulls" run and what it links to.
        cls.pg.psql(
            "UPDATE test_run SET trial = NULL WHERE test_run_id = %d;"
            "UPDATE test_suites SET test_suite_description = NULL"
            " WHERE suite_name = 'TestBuild:it';"
            "UPDATE test_names SET test_name_description = NULL"
            " WHERE test_name = 'nulls';"
            "UPDATE test_run_command SET launcher = NULL,"
            " resource_mgr = NULL, parameters = NULL, network = NULL,"
            " test_run_network_id = NULL WHERE test_run_command_id ="
            " (SELECT test_run_command_id FROM test_run"
            "  WHERE test_run_id = %d);"
            "UPDATE latency_bandwidth SET message_size = NULL,"
            " bandwidth_min = NULL, bandwidth_max = NULL,"
            " bandwidth_avg = NULL, latency_min = NULL, latency_max = NULL,"
            " latency_avg = NULL WHERE latency_bandwidth_id ="
            " (SELECT pf.latency_bandwidth_id FROM performance pf JOIN"
            "  test_run r USING (performance_id) WHERE r.test_run_id = %d);"
            "UPDATE description SET description = NULL WHERE description ="
            " 'it run';"
            "UPDATE result_message SET result_message = NULL"
            " WHERE result_message = 'Success'"
            % ((cls.run_ids[1],) * 3), db=cls.db)

    def data(self, body, path="/detail"):
        resp = self.mttd.http("POST", path, body)
        answer = self.assertOk(resp)
        self.assertEqual(set(answer), {"status", "status_message",
                                       "query_data"}, resp)
        return answer["query_data"]

    def test_durations(self):
        got = self.data({"phase": "install",
                         "columns": ["mpi_version", "duration"],
                         "search": {"mpi_version": {"like": "dur-%"}},
                         "options": {"order_by": "mpi_version"}})
        self.assertEqual(got, [
            {"mpi_version": "dur-%02d" % i, "duration": str(want)}
            for i, (_, want) in enumerate(DURATIONS)])

    def test_timestamps(self):
        got = self.data({"phase": "install",
                         "columns": ["mpi_version", "start_timestamp"],
                         "search": {"mpi_version": {"like": "ts-%"}},
                         "options": {"order_by": "mpi_version"}})
        self.assertEqual(got, [
            {"mpi_version": "ts-%02d" % i, "start_timestamp": want}
            for i, (_, want) in enumerate(TIMESTAMPS)])

    def test_arrays_and_text(self):
        got = self.data({"phase": "test_run",
                         "columns": ["test_name", "message_size",
                                     "latency_min", "bandwidth_max",
                                     "latency_avg", "result_stdout"],
                         "search": {"test_name": "floats"}})
        self.assertEqual(canon(got), canon([{
            "test_name": "floats", "message_size": [2147483647, -1, 0],
            "latency_min": [1e-05, 1.5e+300, -2.5, 0, 123456789.125],
            "bandwidth_max": [0.1, 1 / 3], "latency_avg": [],
            "result_stdout": ODD_TEXT}]), got)

    def test_nulls_read_back_as_defaults(self):
        got = self.data({"phase": "test_run", "columns": RUN_FIELDS,
                         "search": {"test_name": "nulls"}})
        self.assertEqual(len(got), 1, got)
        row = got[0]
        self.assertEqual(set(row), set(RUN_FIELDS), row)
        self.assertEqual([k for k, v in row.items() if v is None], [], row)
        want = {"trial": False, "test_suite_description": "",
                "test_description": "", "launcher": "", "resource_manager": "",
                "parameters": "", "network": "", "interconnect_name": "",
                "description": "", "result_message": ""}
        want.update({k: [] for k in ARRAY_FIELDS})
        self.assertEqual(canon({k: row[k] for k in want}), canon(want), row)
        # Grouped and in /info/testsuite alike.
        got = self.data({"phase": "test_run",
                         "columns": ["trial", "launcher", "message_size"],
                         "search": {"test_name": "nulls"}}, "/summary")
        self.assertEqual(canon(got), canon([dict(
            trial=False, launcher="", message_size=[],
            **counters(passed=1))]), got)
        got = self.data({"search": {"suite_name": "TestBuild:it"}},
                        "/info/testsuite")
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0]["test_suite_description"], "", got)
        self.assertEqual(sort_rows(got[0]["tests"]), sort_rows([
            {"test_name": "floats", "test_description": ""},
            {"test_name": "nulls", "test_description": ""}]), got)

    def test_nulls_match_as_the_defaults_they_show(self):
        """A search finds a NULL as the default the row shows, so that a
        summary's group and the rows a search for it finds agree
        (break-it helper 26: trial NULL showed false, but a search for
        false missed it)."""
        nulls = [{"test_name": "nulls"}]
        for search in ({"launcher": ""}, {"launcher": ["", "x"]},
                       {"launcher": {"like": "%"}},
                       {"launcher": {"lte": ""}}, {"trial": False},
                       {"trial": 0}, {"description": ""},
                       {"test_description": {"eq": ""}},
                       {"result_message": ""},
                       {"interconnect_name": ""}):
            with self.subTest(search=search):
                search = dict(search, test_name="nulls")
                got = self.data({"phase": "test_run",
                                 "columns": ["test_name"],
                                 "search": search})
                self.assertEqual(got, nulls)
        for search in ({"launcher": "mpirun"}, {"launcher": {"ne": ""}},
                       {"launcher": {"gt": ""}}, {"trial": True},
                       {"launcher": ["x"]}, {"description": {"like": "_%"}}):
            with self.subTest(search=search):
                search = dict(search, test_name="nulls")
                got = self.data({"phase": "test_run",
                                 "columns": ["test_name"],
                                 "search": search})
                self.assertEqual(got, [])
        # A summary's groups and the counts of searches for them agree.
        groups = self.data({"phase": "test_run", "columns": ["trial"],
                            "search": {}}, "/summary")
        for group in groups:
            count = self.data({"phase": "test_run", "columns": [],
                               "search": {"trial": group["trial"]},
                               "options": {"count_only": 1}})
            total = sum(group[k] for k in COUNTERS)
            self.assertEqual(count, {"count": total}, (group, groups))
        # Ordered as shown: the NULL sorts as false (PostgreSQL puts
        # NULLs first in a descending order).
        got = self.data({"phase": "test_run",
                         "columns": ["test_name", "trial"], "search": {},
                         "options": {"order_by": ["-trial", "test_name"]}})
        self.assertEqual(got, [{"test_name": "floats", "trial": False},
                               {"test_name": "nulls", "trial": False}])


class QueryFormatsUnderDatabaseSettings(QueryFormats):
    """The same answers when the database sets what changes PostgreSQL's
    text of a value: extra_float_digits = 0 rounded floats to 15 digits
    (break-it helper 59); DateStyle and IntervalStyle too."""

    @classmethod
    def load(cls):
        cls.pg.psql("ALTER DATABASE %s SET extra_float_digits = 0;"
                    " ALTER DATABASE %s SET DateStyle = 'SQL, DMY';"
                    " ALTER DATABASE %s SET IntervalStyle = 'sql_standard'"
                    % (cls.db, cls.db, cls.db), db="postgres",
                    superuser=True)
        cls.mttd.stop()
        cls.mttd.start()
        super().load()

if __name__ == "__main__":
    h.main()
