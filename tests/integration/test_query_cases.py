#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The query cases of cases/README.md, from their input files:

C08 - millions of rows: limit/offset/order_by, count_only and /summary
      done by PostgreSQL over 25 submitted runs beside a 1,000,000-row
      bulk seed, refused options, and a client that abandons a huge
      /detail after 4 KiB (mttd stays up, the query's backend is idle
      within 2 s, the pool's slot is free, memory did not grow);
C15 - the query and info endpoints with missing and wrong keys.

Both run in htpasswd mode with the cases' credentials (mttuser:
example-pass, the harness' default), the steps on one keep-alive
connection unless the case says otherwise.
"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

INPUTS = os.path.join(h.SHARED_DIR, "cases", "inputs")
MIB = 1024 * 1024
# The field catalogue as the reference's /fields answered it.
with open(os.path.join(h.SHARED_DIR, "conformance", "cases.jsonl"),
          encoding="utf-8") as _f:
    FIELDS = [json.loads(line) for line in _f
              if '"fields-empty-body"' in line][0]["response"]["query_data"][
                  "fields"]


def load_case(name):
    with open(os.path.join(INPUTS, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def substitute(value, saved):
    """value with each "$NAME" string replaced by the saved integer."""
    if isinstance(value, str) and value.startswith("$") and \
            value[1:] in saved:
        return saved[value[1:]]
    if isinstance(value, dict):
        return {k: substitute(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, saved) for v in value]
    return value


def dotted(answer, path):
    for part in path.split("."):
        answer = answer[int(part)] if isinstance(answer, list) else \
            answer[part]
    return answer


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise h.HarnessError("no VmRSS for %d" % pid)


class CaseTestCase(h.MttdTestCase):
    """Steps of a case file sent as the file gives them."""

    def send(self, step, conn=None, saved=None):
        body = step.get("body")
        if body is None:
            data = b""
        else:
            data = h.to_json(substitute(body, saved or {})).encode("utf-8")
        return self.mttd.http(step["method"], step["path"], data,
                              headers=step.get("headers"), auth=None,
                              conn=conn)

    def refused(self, resp, *names):
        answer = self.assertRefused(resp, names)
        self.assertEqual(answer["status"], -1, resp)
        self.assertEqual(set(answer), {"status", "status_message"}, resp)
        return answer

    def ok_data(self, resp):
        answer = self.assertOk(resp)
        self.assertEqual(set(answer), {"status", "status_message",
                                       "query_data"}, resp)
        self.assertEqual(answer["status_message"], "Success", resp)
        return answer["query_data"]

    def mttd_backends(self):
        return self.sql("SELECT pid, state, query FROM pg_stat_activity"
                        " WHERE datname = current_database() AND"
                        " application_name = 'mttd' ORDER BY pid")


class C15(CaseTestCase):
    """C15: query and info endpoints, missing and wrong keys."""

    def test_c15(self):
        case = load_case("C15")
        conn = self.mttd.connection()
        saved = {}
        try:
            for step in case["setup"]:
                resp = self.send(step, conn, saved)
                answer = self.assertOk(resp)
                for name, path in step.get("save", {}).items():
                    saved[name] = dotted(answer, path)
            self.assertEqual(sorted(saved), ["MPI_INSTALL_ID", "SUBMIT_ID",
                                             "TEST_BUILD_ID"])
            before = self.snapshot()

            # The request: /info/runtime without phase.
            self.assertNotIn("phase", case["body"])
            self.refused(self.send(case, conn), "phase")

            steps = case["followup"]
            self.assertEqual([(s["path"], s["body"]) for s in steps], [
                ("/info/runtime", {"phase": "test_run",
                                   "search": {"test_name": "hello_c"}}),
                ("/info/testsuite",
                 {"search": {"test_suite_name": "TestBuild:IBMsuite"}}),
                ("/info/testsuite", {"search": {}}),
                ("/summary", {"phase": "test_run",
                              "columns": ["test_name", "no_such_column"],
                              "search": {}}),
                ("/detail", {"phase": "mpi_install", "columns": ["mpi_name"],
                             "search": {}}),
                ("/detail", {"phase": "install", "columns": ["mpi_name"],
                             "search": {"test_name": "hello_c"}}),
                ("/detail", None),
                ("/fields", {})])

            # /info/runtime done right: the one run of hello_c, which
            # sent no duration (0 seconds).
            self.assertEqual(self.ok_data(self.send(steps[0], conn)), [{
                "count": 1, "duration_min": 0, "duration_avg": 0,
                "duration_median": 0, "duration_p90": 0, "duration_max": 0,
                "first_start_timestamp": "2026-07-13 10:30:00",
                "last_start_timestamp": "2026-07-13 10:30:00"}])
            # /info/testsuite with test_suite_name.
            self.assertEqual(self.ok_data(self.send(steps[1], conn)), [{
                "suite_name": "TestBuild:IBMsuite",
                "test_suite_description": "",
                "tests": [{"test_name": "hello_c", "test_description": ""}],
                "test_build_count": 1, "test_run_count": 1,
                "last_start_timestamp": "2026-07-13 10:30:00"}])
            # Empty search, unknown column, submit spelling of the phase,
            # a key of another phase.
            self.refused(self.send(steps[2], conn), "suite_name")
            self.refused(self.send(steps[3], conn), "no_such_column")
            self.refused(self.send(steps[4], conn), "phase", "mpi_install",
                         "install", "test_build", "test_run")
            self.refused(self.send(steps[5], conn), "test_name")
            # Empty body: 400, JSON.
            resp = self.send(steps[6], conn)
            answer = self.assertJsonAnswer(resp, 400)
            self.assertLess(answer["status"], 0, resp)
            # /fields: the catalogue.
            self.assertEqual(self.ok_data(self.send(steps[7], conn)),
                             {"fields": FIELDS})
        finally:
            conn.close()
        self.assertEqual(self.snapshot(), before)


BULK_ROWS = 1000000


class C08(CaseTestCase):
    """C08: 25 runs of example-perf beside 1,000,000 bulk runs of
    example-bulk.  The pool has one connection, so that every later
    request proves the abandoned stream's slot came back."""

    MTTD = {"pg": {"pool_size": "1"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.case = load_case("C08")
            cls.seed()
            cls.conn = cls.mttd.connection()
        except BaseException:
            cls.mttd.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        conn = getattr(cls, "conn", None)
        if conn is not None:
            conn.close()
        super().tearDownClass()

    @classmethod
    def seed(cls):
        m = cls.mttd
        meta = {"platform_name": "example-perf"}
        _, (inst,) = m.must_submit("MPI Install", [h.install_entry()],
                                   **meta)
        _, (build,) = m.must_submit("Test Build", [h.build_entry(inst)],
                                    **meta)
        runs = [h.run_entry(build, test_name="t%02d" % i,
                            test_result=0 if i >= 20 else 1,
                            exit_value=1 if i >= 20 else 0,
                            start_timestamp="2026-07-01 00:%02d:00" % i)
                for i in range(25)]
        _, ids = m.must_submit("Test Run", runs, **meta)
        if ids != list(range(1, 26)):
            raise h.HarnessError("run ids %r" % ids)

        # The bulk seed: one INSERT ... SELECT, each row linked like the
        # first run but to its own cluster (as the superuser, without the
        # per-row foreign key triggers: every link exists).
        cls.pg.psql(
            "SET session_replication_role = replica;"
            "WITH cc AS (INSERT INTO compute_cluster (platform_name,"
            " platform_hardware, platform_type, os_name, os_version)"
            " VALUES ('example-bulk', 'x86_64', 'linux-x86_64', 'Linux',"
            " 'bulk') RETURNING compute_cluster_id),"
            " t AS (SELECT * FROM test_run WHERE test_run_id = 1)"
            " INSERT INTO test_run (submit_id, compute_cluster_id,"
            " mpi_install_compiler_id, mpi_get_id, mpi_install_configure_id,"
            " mpi_install_id, test_suite_id, test_build_compiler_id,"
            " test_build_id, test_name_id, performance_id,"
            " test_run_command_id, np, full_command, description_id,"
            " start_timestamp, test_result, trial, duration, environment_id,"
            " result_stdout, result_stderr, result_message_id,"
            " merge_stdout_stderr, exit_value, exit_signal, client_serial)"
            " SELECT t.submit_id, cc.compute_cluster_id,"
            " t.mpi_install_compiler_id, t.mpi_get_id,"
            " t.mpi_install_configure_id, t.mpi_install_id, t.test_suite_id,"
            " t.test_build_compiler_id, t.test_build_id, t.test_name_id,"
            " t.performance_id, t.test_run_command_id, 2, 'bulk',"
            " t.description_id,"
            " timestamp '2026-06-01' + g * interval '1 second', 1, false,"
            " interval '1 second', t.environment_id,"
            " 'bulk output line ' || g, '', t.result_message_id, false, 0,"
            " -1, 1 FROM generate_series(1, %d) g, t, cc;"
            "ANALYZE test_run" % BULK_ROWS, db=cls.db, timeout=300,
            superuser=True)

    def followup(self, index, path):
        step = self.case["followup"][index]
        self.assertEqual(step.get("path", step.get("request", {}).get(
            "path")), path)
        return step

    def test_1_page_of_the_order(self):
        case = self.case
        self.assertEqual(case["body"]["options"], {
            "limit": 10, "offset": 20, "order_by": ["test_name"]})
        data = self.ok_data(self.send(case, self.conn))
        self.assertEqual(data, [
            {"test_name": "t%02d" % i, "test_result": 0,
             "start_timestamp": "2026-07-01 00:%02d:00" % i}
            for i in range(20, 25)])

    def test_2_count_only(self):
        step = self.followup(0, "/detail")
        self.assertEqual(self.ok_data(self.send(step, self.conn)),
                         {"count": 25})

    def test_3_summary_by_platform(self):
        step = self.followup(1, "/summary")
        mark = self.mttd.log_mark()
        self.assertEqual(self.ok_data(self.send(step, self.conn)), [{
            "platform_name": "example-perf", "test_result_failed": 5,
            "test_result_passed": 20, "test_result_skipped": 0,
            "test_result_timed_out": 0, "test_result_unknown": 0}])
        # Grouped and counted by PostgreSQL.
        self.assertIsNotNone(self.mttd.wait_log(
            r"query: SELECT .*count\(\*\) FILTER .* GROUP BY 1", mark))

    def test_4_refused_options(self):
        self.refused(self.send(self.followup(2, "/detail"), self.conn),
                     "limit")
        self.refused(self.send(self.followup(3, "/detail"), self.conn),
                     "page_size")

    def test_5_abandoned_stream(self):
        step = self.followup(4, "/detail")
        self.assertEqual(step["client_closes_after_bytes"], 4096)
        request = step["request"]
        pid = self.mttd.proc.pid
        before = rss(pid)
        mark = self.mttd.log_mark()
        data = json.dumps(request["body"]).encode("utf-8")
        head = "".join("%s: %s\r\n" % kv for kv in request["headers"].items())
        raw = ("POST /detail HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
               "Content-Length: %d\r\n\r\n"
               % (self.mttd.port, head, len(data))).encode("latin-1") + data
        got = b""
        sock = socket.create_connection(("127.0.0.1", self.mttd.port),
                                        timeout=30)
        try:
            sock.sendall(raw)
            while len(got) < 4096:
                chunk = sock.recv(4096 - len(got))
                self.assertTrue(chunk, "the answer ended early: %r" % got)
                got += chunk
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:200])
            self.assertIn(b"\r\ntransfer-encoding: chunked\r\n", got.lower())
            # The query's backend holds the cursor: not idle.
            deadline = time.time() + 10
            while True:
                rows = self.mttd_backends()
                busy = [r for r in rows if r[1] != "idle" and
                        r[2].startswith(("FETCH", "DECLARE"))]
                if busy:
                    break
                self.assertLess(time.time(), deadline, rows)
                time.sleep(0.05)
            backend = busy[0][0]
        finally:
            sock.close()
        closed = time.time()

        # Within 2 s: that backend idle (or gone), not in a transaction.
        while True:
            rows = {r[0]: r[1] for r in self.mttd_backends()}
            if rows.get(backend, "idle") == "idle":
                break
            self.assertLess(time.time() - closed, 2.0,
                            "backend %s still %r" % (backend, rows))
            time.sleep(0.05)
        self.assertTrue(self.mttd.alive(), self.mttd.log_tail())
        self.assertIsNotNone(self.mttd.wait_log(
            r"client went away after \d+ rows", mark))
        # Loosely under AddressSanitizer (its quarantine holds freed memory).
        bound = 16 * MIB * (16 if os.environ.get("MTTD_SANITIZED") else 1)
        self.assertLess(rss(pid) - before, bound)

        # /serial on a new connection, through the pool's one slot.
        step = self.followup(5, "/serial")
        self.assertEqual(self.assertOk(self.send(step)), {
            "status": 0, "status_message": "Success", "client_serial": 1})
        # And a /detail on the pool: the bulk seed is all there.
        resp = self.mttd.http("POST", "/detail", {
            "phase": "test_run", "columns": ["test_name"],
            "search": {"platform_name": "example-bulk"},
            "options": {"count_only": 1}})
        self.assertEqual(self.ok_data(resp), {"count": BULK_ROWS})
        resp = self.mttd.http("POST", "/detail", {
            "phase": "test_run", "columns": ["test_name", "result_stdout"],
            "search": {"platform_name": "example-bulk"},
            "options": {"order_by": "-start_timestamp", "limit": 2}})
        self.assertEqual(self.ok_data(resp), [
            {"test_name": "t00",
             "result_stdout": "bulk output line %d" % BULK_ROWS},
            {"test_name": "t00",
             "result_stdout": "bulk output line %d" % (BULK_ROWS - 1)}])
        deadline = time.time() + 2
        while [r[1] for r in self.mttd_backends()] != ["idle"]:
            self.assertLess(time.time(), deadline, self.mttd_backends())
            time.sleep(0.05)


if __name__ == "__main__":
    h.main()
