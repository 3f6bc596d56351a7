#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The two recordings of the unmodified MTT client (cases/real-client),
each replayed request by request on one keep-alive connection, with the
ids mttd answered put where the client puts them, then the database
checked against what the client sent."""

import datetime
import http.client
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

RC_DIR = os.path.join(h.SHARED_DIR, "cases", "real-client")


def load(name):
    with open(os.path.join(RC_DIR, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Replay(h.MttdTestCase):
    """Subclasses name the RECORDING and what the database must hold."""

    RECORDING = None

    def replay(self):
        """Send every recorded request in order on one connection; return
        the records (bodies as sent) and the answers."""
        records = load(self.RECORDING)
        conn = http.client.HTTPConnection("127.0.0.1", self.mttd.port,
                                          timeout=h.HTTP_TIMEOUT_S)
        conn.connect()
        sock = conn.sock
        last = {}  # mpi_install_id / test_build_id last answered
        answers = []
        try:
            for rec in records:
                body = rec["body"]
                # The client puts in the id it read from the last answer.
                for key, value in last.items():
                    body = re.sub(r'("%s": )\d+' % key,
                                  lambda m, v=value: m.group(1) + str(v),
                                  body)
                rec["sent"] = body
                data = body.encode("utf-8")
                conn.putrequest(rec["method"], rec["path"], skip_host=True,
                                skip_accept_encoding=True)
                for name, value in rec["headers"].items():
                    if name.lower() == "host":
                        value = "127.0.0.1:%d" % self.mttd.port
                    elif name.lower() == "content-length":
                        value = str(len(data))
                    conn.putheader(name, value)
                conn.endheaders(data)
                raw = conn.getresponse()
                resp = h.Resp(raw.status, raw.reason, raw.getheaders(),
                              raw.read())
                answers.append(resp)
                self.assertIs(conn.sock, sock, "request %d: the connection "
                              "was not kept alive" % rec["seq"])
                self.assertFalse(raw.will_close, "request %d: the server "
                                 "closes the keep-alive connection"
                                 % rec["seq"])
                self.check_answer(rec, resp)
                for item in (resp.field("ids") or []):
                    last.update({k: v for k, v in item.items()
                                 if k in ("mpi_install_id", "test_build_id")})
        finally:
            conn.close()
        return records, answers

    def check_answer(self, rec, resp):
        """The client needs HTTP 200 and status 0 exactly."""
        self.assertOk(resp)

    def entry(self, rec):
        return json.loads(rec["sent"])["data"][0]

    def meta(self, rec):
        return json.loads(rec["sent"])["metadata"]

    def check_database(self, records, hostname, trial, runs):
        """One submit, one install, one build, the runs (records) as sent."""
        install, build = records[1], records[2]
        meta = self.meta(install)
        self.assertEqual(self.sql("SELECT submit_id, hostname, local_username,"
                                  " http_username, mtt_client_version FROM "
                                  "submit WHERE submit_id <> 0"),
                         [["1", hostname, meta["local_username"], h.USER,
                           meta["mtt_client_version"]]])
        e = self.entry(install)
        self.assertEqual(self.sql(
            "SELECT m.mpi_install_id, m.submit_id, cc.platform_name,"
            " cc.platform_hardware, cc.platform_type, cc.os_name,"
            " cc.os_version, c.compiler_name, c.compiler_version, g.mpi_name,"
            " g.mpi_version, to_char(m.start_timestamp,"
            " 'YYYY-MM-DD HH24:MI:SS.US'), r.result_message, m.test_result,"
            " m.exit_value, d.description, e.environment,"
            " m.merge_stdout_stderr, m.result_stdout, m.result_stderr,"
            " m.trial, m.client_serial, m.duration, m.exit_signal"
            " FROM mpi_install m JOIN compute_cluster cc"
            "  USING (compute_cluster_id)"
            " JOIN compiler c ON c.compiler_id = m.mpi_install_compiler_id"
            " JOIN mpi_get g USING (mpi_get_id)"
            " JOIN result_message r USING (result_message_id)"
            " JOIN description d USING (description_id)"
            " JOIN environment e USING (environment_id)"
            " WHERE m.mpi_install_id <> 0"),
            [["1", "1", meta["platform_name"], e["platform_hardware"],
              e["platform_type"], e["os_name"], e["os_version"],
              e["compiler_name"], e["compiler_version"], e["mpi_name"],
              e["mpi_version"], stamp(e["start_timestamp"]),
              e["result_message"], str(e["test_result"]),
              str(e["exit_value"]), e["description"], e["environment"], "f",
              "", "", trial, str(meta["client_serial"]), "00:00:00", "-1"]])
        b = self.entry(build)
        self.assertEqual(self.sql(
            "SELECT t.test_build_id, t.submit_id, t.mpi_install_id,"
            " s.suite_name, c.compiler_name, c.compiler_version,"
            " to_char(t.start_timestamp, 'YYYY-MM-DD HH24:MI:SS.US'),"
            " r.result_message, t.test_result, t.exit_value, d.description,"
            " t.result_stdout, t.result_stderr, t.trial"
            " FROM test_build t JOIN test_suites s USING (test_suite_id)"
            " JOIN compiler c ON c.compiler_id = t.test_build_compiler_id"
            " JOIN result_message r USING (result_message_id)"
            " JOIN description d USING (description_id)"
            " WHERE t.test_build_id <> 0"),
            [["1", "1", "1", b["suite_name"], b["compiler_name"],
              b["compiler_version"], stamp(b["start_timestamp"]),
              b["result_message"], str(b["test_result"]),
              str(b["exit_value"]), b["description"], b["result_stdout"], "",
              trial]])
        expected = []
        for n, rec in enumerate(runs, 1):
            r = self.entry(rec)
            expected.append([
                str(n), "1", "1", "1", r["test_name"], b["suite_name"],
                str(int(r["np"])), r["command"], r["launcher"], "", "", "",
                str(r["exit_value"]), str(r["test_result"]),
                r["result_message"], r["result_stdout"], r["result_stderr"],
                stamp(r["start_timestamp"]), trial, r["description"],
                r["environment"], "00:00:00", "-1", "f"])
        self.assertEqual(self.sql(
            "SELECT t.test_run_id, t.submit_id, t.test_build_id,"
            " t.mpi_install_id, n.test_name, s.suite_name, t.np,"
            " t.full_command, c.launcher, c.resource_mgr, c.parameters,"
            " c.network, t.exit_value, t.test_result, r.result_message,"
            " t.result_stdout, t.result_stderr,"
            " to_char(t.start_timestamp, 'YYYY-MM-DD HH24:MI:SS.US'),"
            " t.trial, d.description, e.environment, t.duration,"
            " t.exit_signal, t.merge_stdout_stderr"
            " FROM test_run t JOIN test_names n USING (test_name_id)"
            " JOIN test_suites s ON s.test_suite_id = n.test_suite_id"
            " JOIN test_run_command c USING (test_run_command_id)"
            " JOIN result_message r USING (result_message_id)"
            " JOIN description d USING (description_id)"
            " JOIN environment e USING (environment_id)"
            " ORDER BY t.test_run_id"), expected)


def stamp(client_time):
    """The client's strftime('%c') time as PostgreSQL prints it."""
    t = datetime.datetime.strptime(client_time, "%a %b %d %H:%M:%S %Y")
    return t.strftime("%Y-%m-%d %H:%M:%S.000000")


class WellConfiguredClient(Replay):
    """payloads.jsonl: URL http://HOST:9080, nodeName set, np given."""

    RECORDING = "payloads.jsonl"

    def test_replay(self):
        records, answers = self.replay()
        self.assertEqual(len(answers), 11)
        self.assertEqual(answers[0].json, {"status": 0, "status_message":
                                           "Success", "client_serial": 1})
        expect = ([("mpi_install_id", 1), ("test_build_id", 1)]
                  + [("test_run_id", n) for n in range(1, 6)]
                  + [("mpi_install_id", 1), ("test_build_id", 1),
                     ("test_run_id", 6)])
        for resp, (key, value) in zip(answers[1:], expect):
            self.assertEqual(resp.json, {"status": 0, "status_message":
                                         "Success", "submit_id": 1,
                                         "ids": [{key: value}]})
        # Request 9 repeats request 2 byte for byte.
        self.assertEqual(records[8]["sent"], records[1]["sent"])
        self.check_database(records, "client-host", "f",
                            records[3:8] + records[10:11])


class VariantClient(Replay):
    """payloads-variant.jsonl: URL prefix with a trailing slash (paths
    /submit/cpy/api//...), hostname null, trial 1, and a null np."""

    RECORDING = "payloads-variant.jsonl"
    MTTD = {"server": {"url_prefix": "/submit/cpy/api"}}

    def check_answer(self, rec, resp):
        if rec["seq"] == 11:
            # np is null in the second TestRun section: refused, naming np.
            self.assertRefused(resp, ["np"])
        else:
            self.assertOk(resp)

    def test_replay(self):
        mark = self.mttd.log_mark()
        records, answers = self.replay()
        self.assertTrue(all(r["path"].startswith("/submit/cpy/api//")
                            for r in records))
        self.assertEqual(answers[0].json, {"status": 0, "status_message":
                                           "Success", "client_serial": 1})
        expect = ([("mpi_install_id", 1), ("test_build_id", 1)]
                  + [("test_run_id", n) for n in range(1, 6)]
                  + [("mpi_install_id", 1), ("test_build_id", 1)])
        for resp, (key, value) in zip(answers[1:10], expect):
            self.assertEqual(resp.json, {"status": 0, "status_message":
                                         "Success", "submit_id": 1,
                                         "ids": [{key: value}]})
        self.assertIsNone(self.entry(records[10])["np"])
        self.check_database(records, "127.0.0.1", "t", records[3:8])
        # The refused run drew no id.
        self.assertEqual(self.sql1("SELECT last_value FROM "
                                   "test_run_test_run_id_seq"), ["5"])
        self.assertIsNotNone(self.mttd.wait_log(r"\bWARNING\b.*hostname",
                                                mark),
                             "no WARNING line for the missing hostname")



class WellConfiguredClientFewPrepared(WellConfiguredClient):
    """The same recording with two statement texts kept prepared per
    connection: once both slots are taken, each new text replaces the
    least recently used one, with the same answers and rows."""

    MTTD = {"pg": {"prepared_statements": "2"}}

    def test_replay(self):
        super().test_replay()
        self.assertIsNotNone(self.mttd.wait_log(
            r"2 statements kept prepared; the least recently used now make"
            r" room for new ones"), self.mttd.log_tail())


if __name__ == "__main__":
    h.main()
