#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The real-world cases C01, C02, C04, C06, C07, C09 and C13 of
$MTTD_SHARED_DIR/cases,
run from their input files as cases/README.md describes them (setup,
followup, save, parallel, sql, sleep_s), each on a fresh database, with
the database checks of each README section."""

import base64
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

CASES_DIR = os.path.join(h.SHARED_DIR, "cases", "inputs")
MAIN_KEYS = ("method", "path", "headers", "body", "save", "expect",
             "raw_body_base64")


def load_case(case_id):
    path = os.path.join(CASES_DIR, case_id + ".json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main_step(case):
    return {k: case[k] for k in MAIN_KEYS if k in case}


def dig(obj, dotted):
    for part in dotted.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)]
        elif isinstance(obj, dict):
            obj = obj[part]
        else:
            raise KeyError(dotted)
    return obj


class CaseRunner(h.MttdTestCase):
    """Runs the steps of one case file; subclasses check what they mean."""

    CASE = None

    def setUp(self):
        self.case = load_case(self.CASE)
        self.saved = {}
        self.conn = self.mttd.connection()

    def tearDown(self):
        self.conn.close()
        super().tearDown()

    def subst(self, value):
        """Put saved integers where a body says "$NAME"."""
        if isinstance(value, str) and value.startswith("$"):
            self.assertIn(value[1:], self.saved, "nothing saved as " + value)
            return self.saved[value[1:]]
        if isinstance(value, dict):
            return {k: self.subst(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.subst(v) for v in value]
        return value

    def new_connection_asked(self, step):
        note = (step.get("note") or "").lower()
        return step.get("new_connection") is True or "new connection" in note

    def request(self, step, conn):
        headers = dict(step.get("headers") or {})
        if "raw_body_base64" in step:
            body = base64.b64decode(step["raw_body_base64"])
        elif step.get("body") is None:
            body = None
        else:
            body = h.to_json(self.subst(step["body"])).encode("utf-8")
        return self.mttd.http(step["method"], step["path"], body,
                              headers=headers, auth=None, conn=conn)

    def step(self, step):
        """Run one step; check its expect hint; keep what it saves.
        Returns the Resp (a list of them for a parallel step)."""
        if "sleep_s" in step:
            time.sleep(min(float(step["sleep_s"]), 10))
        if "sql" in step and "method" not in step and "request" not in step:
            return self.sql(step["sql"])
        if "parallel" in step:
            req = step["request"]
            body = h.to_json(self.subst(req["body"])).encode("utf-8")
            resps = self.mttd.race(
                [(req["method"], req["path"], body,
                  dict(req.get("headers") or {}))] * int(step["parallel"]))
            for i, resp in enumerate(resps):
                self.assertIsInstance(resp, h.Resp, "parallel request %d: %r"
                                      % (i, resp))
                self.check_expect(resp, (step.get("expect") or {})
                                  .get("each", {}))
            return resps
        if self.new_connection_asked(step):
            resp = self.request(step, None)
        else:
            resp = self.request(step, self.conn)
        self.check_expect(resp, step.get("expect") or {})
        for name, dotted in (step.get("save") or {}).items():
            value = dig(resp.json, dotted)
            self.assertIsInstance(value, int, "saved %s = %r" % (name, value))
            self.saved[name] = value
        return resp

    def check_expect(self, resp, expect):
        if "http" in expect:
            self.assertEqual(resp.status, expect["http"], resp)
        if "status" in expect:
            answer = self.assertJsonAnswer(resp, resp.status)
            self.assertEqual(answer["status"], expect["status"], resp)
        if expect.get("status_nonzero"):
            self.assertRefused(resp, expect.get("message_mentions", []),
                               http_status=resp.status)
        for key in expect.get("answer_has", []):
            dig(resp.json, key)


class C01TextFieldAsArray(CaseRunner):
    """C01: result_stderr arrives as a JSON array."""

    CASE = "C01"

    def test_c01(self):
        case = self.case
        (setup,) = case["setup"]
        serial = self.step(setup).json["client_serial"]
        before = self.snapshot()
        resp = self.step(main_step(case))
        answer = self.assertRefused(resp, ["result_stderr"])
        self.assertIn("string", answer["status_message"].lower(),
                      "the message does not say a string was expected")
        self.assertEqual(self.snapshot(), before,
                         "the refused submission left rows behind")
        serial_step, string_step = case["followup"]
        again = self.step(serial_step)
        self.assertGreater(again.json["client_serial"], serial)
        resp = self.step(string_step)
        inst = self.assertOk(resp)["ids"][0]["mpi_install_id"]
        sent = string_step["body"]["data"][0]["result_stderr"]
        self.assertEqual(self.sql1(
            "SELECT result_stderr FROM mpi_install WHERE mpi_install_id = %d"
            % inst), [sent])


class C02SuccessMeansStored(CaseRunner):
    """C02: an answer of success means the row is committed and
    findable, with the wall-clock start time that was sent."""

    CASE = "C02"

    def test_c02(self):
        case = self.case
        for step in case["setup"]:
            self.step(step)
        resp = self.step(main_step(case))
        answer = self.assertOk(resp)
        self.assertIsInstance(answer.get("submit_id"), int, resp)
        inst = self.saved["MPI_INSTALL_ID"]
        # The follow-up /detail, on a new connection right after the
        # answer (which must only go out after COMMIT).  The database's
        # TimeZone is Asia/Kolkata and mttd runs with TZ=America/St_Johns,
        # so a shifted time would show.
        (detail,) = case["followup"]
        resp = self.step(detail)
        rows = self.assertOk(resp)["query_data"]
        self.assertEqual(rows, [{
            "platform_name": "example-ppc64le", "mpi_name": "Open MPI",
            "mpi_version": "6.1.0a1", "trial": False,
            "start_timestamp": "2026-07-03 01:06:14", "test_result": 1,
            "http_username": "mttuser"}])
        want = detail["expect"]["query_data_contains"]
        self.assertEqual({k: rows[0][k] for k in want}, want)
        # And the stored row is that install.
        self.assertEqual(self.sql1(
            "SELECT m.mpi_install_id FROM mpi_install m"
            " JOIN compute_cluster cc USING (compute_cluster_id)"
            " WHERE cc.platform_name = 'example-ppc64le'"), [str(inst)])


class C04NulAndBadUtf8(CaseRunner):
    """C04: NULs in captured output are stored as U+FFFD and read back so;
    invalid UTF-8 in a body is a 400 (JSON) and stores nothing."""

    CASE = "C04"

    def test_c04(self):
        case = self.case
        for step in case["setup"]:
            self.step(step)
        resp = self.step(main_step(case))
        run = self.assertOk(resp)["ids"][0]["test_run_id"]
        self.assertEqual(self.sql1(
            "SELECT result_stdout = E'Process 0 sending 10\\uFFFD to 1\\n"
            "Process 0 exiting', result_stderr = E'\\uFFFD\\uFFFDcorrupted"
            " tail\\uFFFD' FROM test_run WHERE test_run_id = %d" % run),
            ["t", "t"])
        detail, bad_utf8 = case["followup"]
        rows = self.assertOk(self.step(detail))["query_data"]
        self.assertEqual(rows, [{
            "test_name": "ring_c",
            "result_stdout": "Process 0 sending 10\ufffd to 1\n"
                             "Process 0 exiting",
            "result_stderr": "\ufffd\ufffdcorrupted tail\ufffd"}])
        before = self.snapshot()
        resp = self.step(bad_utf8)
        self.assertRefused(resp, http_status=400)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.sql("SELECT count(*) FROM test_names WHERE"
                                  " test_name = 'bad_utf8'"), [["0"]])


class C06UnknownFieldsAndNulls(CaseRunner):
    """C06: fields with no place in the database; null optionals."""

    CASE = "C06"

    def tables(self):
        return self.sql("SELECT tablename FROM pg_tables WHERE schemaname "
                        "NOT IN ('pg_catalog', 'information_schema') "
                        "ORDER BY 1")

    def test_c06(self):
        case = self.case
        tables = self.tables()
        for step in case["setup"]:
            self.step(step)
        resp = self.step(main_step(case))
        self.assertOk(resp)
        run = self.saved["TEST_RUN_ID"]
        entry = case["body"]["data"][0]
        row = self.sql1(
            "SELECT r.duration, r.description_id, r.test_build_id, r.np,"
            " r.full_command, n.test_name, c.launcher, r.result_stdout,"
            " r.mpi_install_id, r.submit_id"
            " FROM test_run r JOIN test_names n USING (test_name_id)"
            " JOIN test_run_command c USING (test_run_command_id)"
            " WHERE r.test_run_id = %d" % run)
        self.assertEqual(row, [
            "00:00:00", "0", str(self.saved["TEST_BUILD_ID"]), "4",
            entry["command"], entry["test_name"], "mpirun",
            entry["result_stdout"], str(self.saved["MPI_INSTALL_ID"]),
            str(self.saved["SUBMIT_ID"])])
        self.assertEqual(self.tables(), tables,
                         "the set of tables changed")
        (install,) = case["followup"]
        resp = self.step(install)
        inst = self.assertOk(resp)["ids"][0]["mpi_install_id"]
        self.assertEqual(self.sql1(
            "SELECT description_id, environment_id FROM mpi_install "
            "WHERE mpi_install_id = %d" % inst), ["0", "0"])


class C07RetriesRacesBatches(CaseRunner):
    """C07: a retry is harmless, racing identical installs store one,
    and a batch is all or nothing."""

    CASE = "C07"

    def test_c07(self):
        case = self.case
        for step in case["setup"]:
            self.step(step)
        before = self.snapshot(h.RESULT_SEQUENCES)
        resp = self.step(main_step(case))
        answer = self.assertOk(resp)
        self.assertEqual(answer["submit_id"], self.saved["SUBMIT_ID"])
        self.assertEqual(answer["ids"],
                         [{"mpi_install_id": self.saved["MPI_INSTALL_ID"]}])
        self.assertEqual(self.snapshot(h.RESULT_SEQUENCES), before,
                         "the retry grew a table or drew an id")

        race, batch = case["followup"]
        before = self.snapshot()
        resps = self.step(race)
        ids = {r.json["ids"][0]["mpi_install_id"] for r in resps}
        self.assertEqual(len(ids), 1, "eight identical installs got ids %s"
                         % sorted(ids))
        self.assertEqual(self.snapshot()["mpi_install"],
                         before["mpi_install"] + 1)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM compiler WHERE compiler_version = "
            "'gcc (GCC) 11.4.1 c07-race'"), [["1"]])
        self.assertEqual(self.sql(
            "SELECT count(*) FROM mpi_get WHERE mpi_version = "
            "'v6.1.0a1-c07-race'"), [["1"]])

        before = self.snapshot()
        resp = self.step(batch)
        self.assertRefused(resp, ["test_result"])
        self.assertEqual(self.snapshot(), before,
                         "part of the refused batch was stored")
        self.assertEqual(self.sql(
            "SELECT suite_name FROM test_suites WHERE suite_name IN "
            "('TestBuild:c07-a', 'TestBuild:c07-b')"), [])
        self.assertEqual(self.sql("SELECT count(*) FROM test_build"), [["1"]])


class C09WhoSubmitted(CaseRunner):
    """C09: the stored user is the authenticated one, whatever the
    metadata claims; missing, wrong and malformed credentials get a JSON
    401 with the challenge; a login longer than http_username's column is
    refused naming it and its limit."""

    CASE = "C09"
    USERS = [("ci-bot", "example-pass"),
             ("continuous-integration-bot", "example-pass")]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The case's users, taken in by a reload of the htpasswd file.
        mark = cls.mttd.log_mark()
        h.make_htpasswd(os.path.join(cls.mttd.dir, "htpasswd"),
                        cls.USERS + [(h.USER, h.PASSWORD)])
        cls.mttd.proc.send_signal(signal.SIGHUP)
        if cls.mttd.wait_log(r"htpasswd .*: 3 user\(s\)", mark) is None:
            raise h.HarnessError("the htpasswd file was not re-read")

    def test_c09(self):
        case = self.case
        resp = self.step(main_step(case))
        self.assertOk(resp)
        submit_id = self.saved["SUBMIT_ID"]
        row = self.sql1(
            "SELECT s.http_username, m.trial, c.bitness, c.endian,"
            " c.vpath_mode, extract(epoch FROM m.duration),"
            " to_char(m.start_timestamp, 'YYYY-MM-DD HH24:MI:SS')"
            " FROM mpi_install m JOIN submit s USING (submit_id)"
            " JOIN mpi_install_configure_args c"
            " USING (mpi_install_configure_id) WHERE m.submit_id = %d"
            % submit_id)
        self.assertEqual(row, ["ci-bot", "t", "000000", "00", "00",
                               "0.000000", "2000-01-01 00:00:00"])
        spoofed, no_header, wrong, bad_b64, long_name = case["followup"]

        # The metadata's name changes nothing: the same submit row.
        resp = self.step(spoofed)
        self.assertEqual(self.assertOk(resp)["submit_id"], submit_id)
        self.assertEqual(self.sql("SELECT DISTINCT http_username FROM submit"
                                  " WHERE submit_id > 0"), [["ci-bot"]])

        before = self.snapshot()
        for step in (no_header, wrong, bad_b64):
            resp = self.step(step)
            self.assertRefused(resp, http_status=401)
            self.assertEqual(resp.header("WWW-Authenticate"),
                             'Basic realm="%s"' % h.REALM)
        resp = self.step(long_name)
        self.assertRefused(resp, ["http_username", "16"])
        self.assertEqual(self.snapshot(), before,
                         "a refused submission left rows behind")


class C13NumbersAndTheNextRequest(CaseRunner):
    """C13: np out of smallint's range is a refusal naming np and its
    range, with no SQL in it; the connection serves the next request; np
    as a digit string is stored, np "four" refused."""

    CASE = "C13"

    def test_c13(self):
        case = self.case
        for step in case["setup"]:
            self.step(step)
        before = self.snapshot()
        resp = self.step(main_step(case))
        answer = self.assertRefused(resp, ["np", "32767"])
        for leak in ("LINE 1", "SELECT", "INSERT", "Traceback"):
            self.assertNotIn(leak, answer["status_message"])
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.sql("SELECT count(*) FROM test_names WHERE"
                                  " test_name = 'alltoall_big'"), [["0"]])
        serial, as_string, as_word = case["followup"]
        self.assertOk(self.step(serial))
        resp = self.step(as_string)
        run = self.assertOk(resp)["ids"][0]["test_run_id"]
        self.assertEqual(self.sql1("SELECT np FROM test_run WHERE"
                                   " test_run_id = %d" % run), ["4"])
        before = self.snapshot()
        self.assertRefused(self.step(as_word), ["np"])
        self.assertEqual(self.snapshot(), before)


if __name__ == "__main__":
    h.main()
