#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""mttd taking real submissions end to end: the seed's curl example, the
answers every endpoint must give (SPEC.md "Every answer", "Endpoints",
"Authentication"), path forms, the URL prefix, and one install -> build
-> run chain as the real client sends it, checked column by column."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

ROOT_ANSWER = {"status": 0, "status_message": "Success"}
SUBMIT_ANSWER = {"status": 0, "status_message": "Success (submit)"}


def seed_curl_body():
    """The body of the seed's first curl example (the 'test' one)."""
    path = os.path.join(h.SHARED_DIR, "seed", "000_f8a8738abb572e1f.txt")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"-d '(\{.*?\})' http://localhost:9080/submit", text,
                      re.S)
    if not match:
        raise h.HarnessError("no curl example in %s" % path)
    return match.group(1)


class SeedCurlExample(h.MttdTestCase):
    """The seed's smoke test, with the real curl, on a fresh database."""

    def test_seed_curl_example(self):
        body = seed_curl_body()
        self.assertIn('"result_stderr": "test"', body)
        proc = subprocess.run(
            ["curl", "-sS", "--max-time", "30", "-H",
             "Content-Type: application/json", "-X", "POST", "-d", body,
             "http://127.0.0.1:%d/submit" % self.mttd.port,
             "--user", "%s:%s" % (h.USER, h.PASSWORD)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        answer = json.loads(proc.stdout.decode("utf-8"))
        self.assertEqual(answer, {"status": 0, "status_message": "Success",
                                  "submit_id": 1,
                                  "ids": [{"mpi_install_id": 1}]})
        # The seed's own check, run as it is written there.
        rows = self.sql("copy (select start_timestamp from mpi_install "
                        "where result_stderr like 'test') to stdout")
        self.assertEqual(rows, [["2000-01-01 00:00:00"]])
        # What else the seed's body means (SPEC.md's conversions).
        row = self.sql1(
            "SELECT m.trial, m.merge_stdout_stderr, m.duration, m.test_result,"
            " a.vpath_mode, a.bitness, a.endian, a.configure_arguments,"
            " s.hostname, s.local_username, s.http_username,"
            " s.mtt_client_version, cc.platform_name, cc.platform_hardware"
            " FROM mpi_install m JOIN submit s USING (submit_id)"
            " JOIN mpi_install_configure_args a"
            "  USING (mpi_install_configure_id)"
            " JOIN compute_cluster cc USING (compute_cluster_id)"
            " WHERE m.mpi_install_id = 1")
        self.assertEqual(row, ["t", "f", "00:00:00", "0", "00", "000000",
                               "00", "test", "test.test.com", "test",
                               h.USER, "4.0a1", "sample_platform", "test"])


class SerialNumbers(h.MttdTestCase):
    """POST /serial hands out the sequence from 1 on a fresh database."""

    def test_serial_one_then_two(self):
        conn = self.mttd.connection()
        try:
            for expected in (1, 2):
                resp = self.mttd.http("POST", "/serial", {"serial": "serial"},
                                      conn=conn)
                self.assertEqual(self.assertOk(resp),
                                 {"status": 0, "status_message": "Success",
                                  "client_serial": expected})
        finally:
            conn.close()


class Endpoints(h.MttdTestCase):
    """Answers of every kind, in htpasswd mode, with a 3 MiB body limit."""

    MTTD = {"server": {"max_body_size": "3M"}}

    def assertNothingStored(self, before):
        self.assertEqual(self.snapshot(), before,
                         "the database changed for a refused request")

    def test_root_get(self):
        for auth in (True, None):
            resp = self.mttd.http("GET", "/", auth=auth)
            self.assertEqual(self.assertOk(resp), ROOT_ANSWER)

    def test_probe_answers_bytes(self):
        # GET / and GET /submit are written without the JSON generator:
        # the exact bytes, and for HEAD the same headers and no body.
        for path, text in (("/", b'{"status":0,"status_message":"Success"}'),
                           ("/submit", b'{"status":0,"status_message":'
                                       b'"Success (submit)"}')):
            with self.subTest(path=path):
                resp = self.mttd.http("GET", path, auth=None)
                self.assertEqual(resp.body, text)
                self.assertEqual(resp.header("Content-Length"),
                                 str(len(text)))
                self.assertEqual(resp.header("Content-Type"),
                                 "application/json")
                raw = self.mttd.raw(("HEAD %s HTTP/1.1\r\nHost: x\r\n"
                                     "Connection: close\r\n\r\n" % path)
                                    .encode())
                head, _, body = raw.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 200 "), raw)
                self.assertEqual(body, b"", raw)
                self.assertEqual(h.parse_raw_response(raw).header(
                    "Content-Type"), "application/json")
                # GET's length too (libevent adds none to a HEAD answer).
                self.assertEqual(h.parse_raw_response(raw).header(
                    "Content-Length"), str(len(text)), raw)

    def test_local_database_without_tls_or_gssapi(self):
        # sslmode auto: the harness's database is on 127.0.0.1.
        self.assertIn("database connections: sslmode disable, gssencmode"
                      " disable", self.mttd.log_text())

    def test_submit_get(self):
        for path in ("/submit", "/submit/", "//submit"):
            for auth in (True, None):
                with self.subTest(path=path, auth=auth):
                    resp = self.mttd.http("GET", path, auth=auth)
                    self.assertEqual(self.assertOk(resp), SUBMIT_ANSWER)

    def test_status_get_without_credentials(self):
        resp = self.mttd.http("GET", "/status", auth=None)
        answer = self.assertOk(resp)
        self.assertIsInstance(answer.get("version"), str, resp)
        self.assertTrue(answer["version"], resp)
        self.assertIsInstance(answer.get("uptime_s"), (int, float), resp)
        self.assertGreaterEqual(answer["uptime_s"], 0, resp)
        self.assertEqual(answer.get("database"), "up", resp)

    def test_absolute_form_is_served(self):
        # A request line as sent to a proxy (RFC 9112 asks servers to
        # take it); it was a 404 for "/http:/127.0.0.1:PORT/status".
        raw = self.mttd.raw(b"GET http://127.0.0.1:%d/status HTTP/1.1\r\n"
                            b"Host: x\r\nConnection: close\r\n\r\n"
                            % self.mttd.port)
        answer = h.parse_raw_response(raw)
        self.assertEqual(answer.status, 200, raw)
        self.assertEqual(answer.field("database"), "up", raw)
        # And its connection is kept alive as any other's (libevent took
        # it for a request to proxy and closed it without a word: break-
        # it helper 41).
        raw = self.mttd.raw(b"GET http://mtt.example.org/ HTTP/1.1\r\n"
                            b"Host: x\r\n\r\n"
                            b"GET / HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
        self.assertEqual(raw.count(b"HTTP/1.1 200 OK\r\n"), 2, raw)
        self.assertEqual(raw.count(b"Connection: close"), 1, raw)

    def assertCorsPreflight(self, resp):
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"", resp)
        # Not libevent's text/html: every answer mttd writes is JSON.
        self.assertEqual(resp.header("Content-Type"), "application/json",
                         resp)
        self.assertEqual(resp.header("Content-Length"), "0", resp)
        self.assertEqual(resp.header("Access-Control-Allow-Origin"), "*",
                         resp)
        allow_headers = resp.header("Access-Control-Allow-Headers") or ""
        self.assertIn("content-type",
                      [x.strip().lower() for x in allow_headers.split(",")],
                      resp)
        self.assertTrue(resp.header("Access-Control-Allow-Methods"), resp)

    def test_options_any_path(self):
        for path in ("/", "/submit", "/submit/", "/serial", "/detail",
                     "/status", "/nonexistent", "/a/b/c"):
            with self.subTest(path=path):
                self.assertCorsPreflight(self.mttd.http("OPTIONS", path))

    def test_options_without_credentials(self):
        # A browser's CORS preflight never carries credentials.
        for path in ("/submit", "/detail", "/nonexistent"):
            with self.subTest(path=path):
                self.assertCorsPreflight(
                    self.mttd.http("OPTIONS", path, auth=None))

    def test_head_has_headers_and_no_body(self):
        raw = self.mttd.raw(b"HEAD /status HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), raw)
        self.assertIn(b"application/json", head)
        self.assertEqual(body, b"", raw)
        # An error's HEAD names the length of GET's answer; a HEAD and a
        # GET on one kept-alive connection are two answers.
        get = self.mttd.http("GET", "/nonexistent", auth=None)
        self.assertEqual(get.status, 404, get)
        raw = self.mttd.raw(b"HEAD /nonexistent HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /nonexistent HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
        first, _, rest = raw.partition(b"\r\n\r\n")
        self.assertTrue(first.startswith(b"HTTP/1.1 404"), raw)
        self.assertIn(b"\r\nContent-Length: %d" % len(get.body), first)
        self.assertTrue(rest.startswith(b"HTTP/1.1 404"), raw)
        self.assertTrue(rest.endswith(get.body), raw)

    def test_error_messages_stay_valid_utf8(self):
        # A message quoting request bytes that are not UTF-8 is still a
        # valid JSON document.
        raw = self.mttd.raw(b"GET /nope\xff\xfe HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 404"), raw)
        answer = json.loads(body.decode("utf-8"))
        self.assertLess(answer["status"], 0)

    def test_unknown_path_404(self):
        for method, body in (("GET", None), ("POST", {})):
            for path in ("/nonexistent", "/submit/extra", "/serial/x"):
                with self.subTest(method=method, path=path):
                    resp = self.mttd.http(method, path, body)
                    answer = self.assertRefused(resp, http_status=404)
                    self.assertEqual(answer["status_message"],
                                     "no such path: %s" % path)

    def test_404_of_a_prefixed_endpoint_names_url_prefix(self):
        """The real client's URL without url_prefix set (break-it
        helper 32: the 404 gave no hint)."""
        resp = self.mttd.http("POST", "/submit/cpy/api/serial",
                              {"serial": "x"})
        answer = self.assertRefused(resp, http_status=404)
        self.assertEqual(answer["status_message"],
                         "no such path: /submit/cpy/api/serial (it ends in"
                         " the endpoint /serial: is [server] url_prefix set"
                         " to what comes before it?)")

    def test_wrong_method_405(self):
        for path in ("/serial", "/serial/"):
            with self.subTest(path=path):
                resp = self.mttd.http("GET", path)
                self.assertRefused(resp, http_status=405)
                allow = [x.strip().upper()
                         for x in (resp.header("Allow") or "").split(",")]
                self.assertIn("POST", allow, resp)

    def test_wrong_content_type_415(self):
        body = h.submit_body("MPI Install",
                             [h.install_entry(mpi_version="v-415")])
        before = self.snapshot()
        for ctype in ("text/plain", "application/x-www-form-urlencoded",
                      None):
            with self.subTest(content_type=ctype):
                resp = self.mttd.http("POST", "/submit", body,
                                      headers={"Content-Type": ctype})
                self.assertRefused(resp, http_status=415)
        self.assertNothingStored(before)
        # Parameters such as charset are allowed.
        resp = self.mttd.http(
            "POST", "/submit", body,
            headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertOk(resp)

    def test_bad_bodies_400(self):
        # Each case: what the message must name (any one of a tuple).
        good_meta = h.metadata("MPI Install")
        cases = [
            ("not json", b'{"metadata": {', ["JSON"]),
            ("garbage", b"hello", ["JSON"]),
            ("empty", b"", [("JSON", "empty", "body")]),
            ("array", b'[{"metadata": {}, "data": []}]', ["object"]),
            ("string", b'"metadata"', ["object"]),
            ("null", b"null", ["object"]),
            ("missing metadata",
             h.to_json({"data": [h.install_entry()]}).encode(), ["metadata"]),
            ("metadata not an object",
             h.to_json({"metadata": ["x"], "data": []}).encode(),
             ["metadata"]),
            ("missing data", h.to_json({"metadata": good_meta}).encode(),
             ["data"]),
        ]
        before = self.snapshot()
        for label, body, names in cases:
            with self.subTest(body=label):
                resp = self.mttd.http("POST", "/submit", body)
                answer = self.assertRefused(resp, http_status=400)
                for name in names:
                    alternatives = name if isinstance(name, tuple) else (name,)
                    self.assertTrue(
                        any(h.names_word(answer["status_message"], a)
                            for a in alternatives),
                        "%r names none of %s" % (answer["status_message"],
                                                 alternatives))
        self.assertNothingStored(before)

    def test_body_over_limit_413(self):
        before = self.snapshot()
        body = h.to_json(h.submit_body("MPI Install", [h.install_entry(
            mpi_version="v-413", result_stdout="x" * 4000000)]))
        resp = self.mttd.upload("POST", "/submit", body.encode("utf-8"))
        self.assertIsNotNone(resp, "no answer to a body over the limit")
        # libevent may answer an over-limit body itself (SPEC.md): only
        # the code is required of that answer.
        self.assertEqual(resp.status, 413, resp)
        self.assertNothingStored(before)
        self.assertOk(self.mttd.http("GET", "/"))
        # Under the limit (3 MiB) a 2,000,000-byte output is taken.
        entry = h.install_entry(mpi_version="v-2mb",
                                result_stdout="y" * 2000000)
        resp = self.mttd.submit("MPI Install", [entry])
        inst = self.assertOk(resp)["ids"][0]["mpi_install_id"]
        self.assertEqual(self.sql1(
            "SELECT octet_length(result_stdout) FROM mpi_install "
            "WHERE mpi_install_id = %d" % inst), ["2000000"])

    def test_missing_credentials_401(self):
        body = h.submit_body("MPI Install",
                             [h.install_entry(mpi_version="v-401")])
        before = self.snapshot()
        for method, path, payload in (("POST", "/submit", body),
                                      ("POST", "/serial", {"serial": "s"}),
                                      ("POST", "/submit/", body)):
            with self.subTest(path=path):
                resp = self.mttd.http(method, path, payload, auth=None)
                self.assertRefused(resp, http_status=401)
                self.assertEqual(resp.header("WWW-Authenticate"),
                                 'Basic realm="%s"' % h.REALM, resp)
        self.assertNothingStored(before)

    def test_wrong_credentials_401(self):
        body = h.submit_body("MPI Install",
                             [h.install_entry(mpi_version="v-401-wrong")])
        before = self.snapshot()
        for label, auth in (("wrong password", (h.USER, "wrong-pass")),
                            ("unknown user", ("nobody", h.PASSWORD)),
                            ("empty password", (h.USER, "")),
                            ("not base64", "Basic !!!not-base64!!!"),
                            ("no colon", "Basic bXR0dXNlcg=="),
                            ("bearer", "Bearer abc.def")):
            with self.subTest(credential=label):
                resp = self.mttd.http("POST", "/submit", body, auth=auth)
                self.assertRefused(resp, http_status=401)
                self.assertEqual(resp.header("WWW-Authenticate"),
                                 'Basic realm="%s"' % h.REALM, resp)
        self.assertNothingStored(before)

    def test_raw_requests(self):
        resp = h.parse_raw_response(self.mttd.raw(
            b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"))
        self.assertEqual(self.assertOk(resp), ROOT_ANSWER)
        # A malformed request line: libevent answers it (status only).
        resp = h.parse_raw_response(self.mttd.raw(b"GARBAGE\r\n\r\n"))
        self.assertEqual(resp.status, 400, resp)
        # Exact bytes of a submission, the body in one write with them.
        body = h.to_json(h.submit_body("MPI Install", [
            h.install_entry(mpi_version="v-raw")])).encode("utf-8")
        request = (b"POST //submit/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Type: application/json\r\nAuthorization: "
                   + self.mttd.auth_header().encode("ascii")
                   + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                   % len(body) + body)
        resp = h.parse_raw_response(self.mttd.raw(request))
        self.assertEqual(len(self.assertOk(resp)["ids"]), 1, resp)

    def test_path_forms(self):
        for n, path in enumerate(("/submit", "/submit/", "//submit",
                                  "//submit/")):
            with self.subTest(path=path):
                entry = h.install_entry(mpi_version="v-path-%d" % n)
                submit_id, ids = self.submit_ok_at(path, entry)
                row = self.sql1("SELECT g.mpi_version FROM mpi_install m "
                                "JOIN mpi_get g USING (mpi_get_id) "
                                "WHERE m.mpi_install_id = %d" % ids[0])
                self.assertEqual(row, ["v-path-%d" % n])

    def submit_ok_at(self, path, entry):
        resp = self.mttd.submit("MPI Install", [entry], path=path)
        answer = self.assertOk(resp)
        ids = [i["mpi_install_id"] for i in answer["ids"]]
        return answer["submit_id"], ids

    def test_chain_install_build_run(self):
        """install -> build -> run as the real client sends them."""
        stdout = "".join("line %06d of a long test output\n" % i
                         for i in range(40000))[:1000000]
        self.assertEqual(len(stdout.encode("utf-8")), 1000000)
        meta = {"client_serial": 777, "hostname": "chain-node01",
                "local_username": "chainer", "platform_name": "chain-cluster",
                "http_username": h.USER}
        install = h.install_entry(
            platform_hardware="ppc64le", platform_type="linux-ppc64le",
            os_version="6.1.0-chain", compiler_version="12.2.0-chain",
            mpi_name="ompi-chain", mpi_version="v5.0.6-chain",
            configure_arguments="--prefix=/opt/chain", vpath_mode=2,
            bitness=6, endian="big", duration=322,
            description="chain install", environment="PATH=/opt/chain/bin",
            result_stdout="configured", result_stderr=None)
        sid, (inst_id,) = self.submit_ok("MPI Install", [install], **meta)
        build = h.build_entry(
            inst_id, compiler_version="13.1.0-chain-build",
            suite_name="TestBuild:chain",
            start_timestamp="Fri Dec  4 13:05:00 2026", description=None,
            environment=None, result_stdout="built", result_stderr=None)
        sid2, (build_id,) = self.submit_ok("Test Build", [build], **meta)
        run = h.run_entry(
            build_id, test_name="chain_hello", np="2",
            command="mpirun -np 2 ./chain_hello",
            start_timestamp="Fri Dec  4 13:10:00 2026", duration=1.5,
            result_message="Passed", description=None, environment="",
            result_stdout=stdout, result_stderr="rank 1: bad\u0000byte\u0000")
        sid3, (run_id,) = self.submit_ok("Test Run", [run], **meta)
        self.assertEqual(sid2, sid)
        self.assertEqual(sid3, sid)

        row = self.sql1(
            "SELECT m.submit_id, s.hostname, s.local_username,"
            " s.http_username, s.mtt_client_version, cc.platform_name,"
            " cc.platform_hardware, cc.platform_type, cc.os_name,"
            " cc.os_version, c.compiler_name, c.compiler_version,"
            " g.mpi_name, g.mpi_version, a.vpath_mode, a.bitness, a.endian,"
            " a.configure_arguments, d.description, e.environment,"
            " r.result_message,"
            " to_char(m.start_timestamp, 'YYYY-MM-DD HH24:MI:SS.US'),"
            " m.test_result, m.trial, m.duration, m.exit_value,"
            " m.exit_signal, m.client_serial, m.merge_stdout_stderr,"
            " m.result_stdout, m.result_stderr"
            " FROM mpi_install m JOIN submit s USING (submit_id)"
            " JOIN compute_cluster cc USING (compute_cluster_id)"
            " JOIN compiler c ON c.compiler_id = m.mpi_install_compiler_id"
            " JOIN mpi_get g USING (mpi_get_id)"
            " JOIN mpi_install_configure_args a"
            "  USING (mpi_install_configure_id)"
            " JOIN description d USING (description_id)"
            " JOIN environment e USING (environment_id)"
            " JOIN result_message r USING (result_message_id)"
            " WHERE m.mpi_install_id = %d" % inst_id)
        self.assertEqual(row, [
            str(sid), "chain-node01", "chainer", h.USER, "4.0a1",
            "chain-cluster", "ppc64le", "linux-ppc64le", "Linux",
            "6.1.0-chain", "gnu", "12.2.0-chain", "ompi-chain",
            "v5.0.6-chain", "10", "001100", "10", "--prefix=/opt/chain",
            "chain install", "PATH=/opt/chain/bin", "Success",
            "2026-12-04 13:00:00.000000", "1", "f", "00:05:22", "0", "-1",
            "777", "f", "configured", ""])

        row = self.sql1(
            "SELECT b.submit_id, b.mpi_install_id,"
            " b.compute_cluster_id = m.compute_cluster_id,"
            " b.mpi_install_compiler_id = m.mpi_install_compiler_id,"
            " b.mpi_get_id = m.mpi_get_id,"
            " b.mpi_install_configure_id = m.mpi_install_configure_id,"
            " ts.suite_name, bc.compiler_name, bc.compiler_version,"
            " b.description_id, b.environment_id, r.result_message,"
            " to_char(b.start_timestamp, 'YYYY-MM-DD HH24:MI:SS.US'),"
            " b.test_result, b.trial, b.duration, b.exit_value,"
            " b.exit_signal, b.client_serial, b.merge_stdout_stderr,"
            " b.result_stdout, b.result_stderr"
            " FROM test_build b JOIN mpi_install m USING (mpi_install_id)"
            " JOIN test_suites ts USING (test_suite_id)"
            " JOIN compiler bc ON bc.compiler_id = b.test_build_compiler_id"
            " JOIN result_message r"
            "  ON r.result_message_id = b.result_message_id"
            " WHERE b.test_build_id = %d" % build_id)
        self.assertEqual(row, [
            str(sid), str(inst_id), "t", "t", "t", "t", "TestBuild:chain",
            "gnu", "13.1.0-chain-build", "0", "0", "Success",
            "2026-12-04 13:05:00.000000", "1", "f", "00:00:00", "0", "-1",
            "777", "f", "built", ""])

        row = self.sql1(
            "SELECT t.submit_id, t.test_build_id, t.mpi_install_id,"
            " t.compute_cluster_id = b.compute_cluster_id,"
            " t.mpi_get_id = b.mpi_get_id,"
            " t.test_suite_id = b.test_suite_id,"
            " t.mpi_install_compiler_id = b.mpi_install_compiler_id,"
            " t.mpi_install_configure_id = b.mpi_install_configure_id,"
            " t.test_build_compiler_id = b.test_build_compiler_id,"
            " n.test_name, n.test_suite_id = b.test_suite_id, t.np,"
            " t.full_command, t.test_run_command_id <> 0, cmd.launcher,"
            " cmd.resource_mgr, cmd.parameters, cmd.network,"
            " t.performance_id, t.description_id, e.environment,"
            " r.result_message,"
            " to_char(t.start_timestamp, 'YYYY-MM-DD HH24:MI:SS.US'),"
            " t.test_result, t.trial, t.duration, t.exit_value,"
            " t.exit_signal, t.client_serial, t.merge_stdout_stderr,"
            " octet_length(t.result_stdout), md5(t.result_stdout),"
            " length(t.result_stderr), strpos(t.result_stderr, chr(65533)),"
            " t.result_stderr = 'rank 1: bad' || chr(65533) || 'byte'"
            "   || chr(65533)"
            " FROM test_run t JOIN test_build b USING (test_build_id)"
            " JOIN test_names n USING (test_name_id)"
            " JOIN test_run_command cmd USING (test_run_command_id)"
            " JOIN environment e ON e.environment_id = t.environment_id"
            " JOIN result_message r"
            "  ON r.result_message_id = t.result_message_id"
            " WHERE t.test_run_id = %d" % run_id)
        self.assertEqual(row, [
            str(sid), str(build_id), str(inst_id), "t", "t", "t", "t", "t",
            "t", "chain_hello", "t", "2", "mpirun -np 2 ./chain_hello", "t",
            "mpirun", "", "", "", "0", "0", "", "Passed",
            "2026-12-04 13:10:00.000000", "1", "f", "00:00:01.5", "0", "-1",
            "777", "f", "1000000",
            hashlib.md5(stdout.encode("utf-8")).hexdigest(), "17", "12", "t"])


class EnvironmentModes(h.MttdTestCase):
    """PGSSLMODE and PGGSSENCMODE decide over sslmode auto, and the
    start-up line says so."""

    MTTD = {"env": {"PGSSLMODE": "disable", "PGGSSENCMODE": "disable"}}

    def test_modes_from_the_environment(self):
        self.assertIn("database connections: sslmode disable (PGSSLMODE),"
                      " gssencmode disable (PGGSSENCMODE)",
                      self.mttd.log_text())
        self.assertEqual(self.mttd.http("GET", "/status").field("database"),
                         "up")


class ProxyMode(h.MttdTestCase):
    """Without an htpasswd file the user name is taken unchecked."""

    MTTD = {"auth": "proxy"}

    def http_user_of(self, auth, version):
        resp = self.mttd.http("POST", "/submit", h.submit_body(
            "MPI Install", [h.install_entry(mpi_version=version)]), auth=auth)
        sid = self.assertOk(resp)["submit_id"]
        return self.sql1("SELECT http_username FROM submit WHERE submit_id = "
                         "%d" % sid)[0]

    def test_user_from_header_unchecked(self):
        self.assertEqual(self.http_user_of(("proxied", "any-password"),
                                           "v-proxy-1"), "proxied")
        self.assertEqual(self.http_user_of("Bearer abc.def", "v-proxy-2"),
                         "(unknown)")

    def test_user_name_cannot_forge_access_fields(self):
        # Any client names its user here: one with blanks and quotes is
        # quoted in the access line, so it reads as one field (break-it
        # helper 49: "mallory peer=10.6.6.6 status=200" read as three).
        mark = self.mttd.log_mark()
        resp = self.mttd.http("POST", "/serial", {"serial": "x"},
                              auth=('mallory peer=10.6.6.6 "q" \\', "pw"))
        self.assertOk(resp)
        line = self.mttd.wait_log(r"path=/serial status=200 ", mark)
        self.assertIsNotNone(line, self.mttd.log_since(mark))
        self.assertIn(' user="mallory peer=10.6.6.6 \\"q\\" \\\\"'
                      " peer=127.0.0.1", line)

    def test_no_header_still_401(self):
        before = self.snapshot()
        resp = self.mttd.http("POST", "/submit", h.submit_body(
            "MPI Install", [h.install_entry()]), auth=None)
        self.assertRefused(resp, http_status=401)
        self.assertTrue((resp.header("WWW-Authenticate") or "")
                        .startswith("Basic realm="), resp)
        self.assertEqual(self.snapshot(), before)


class FailedLogins(h.MttdTestCase):
    """An address that failed max_failed_logins times within a minute
    gets 429 (Retry-After) for every credential but one it failed before
    (401), until its minute ends: no password checks, and no quick
    answer that tells a lately verified password from a guess.  Other
    addresses are answered as before, judged credentials without a hash.
    Addresses count apart, X-Forwarded-For's when trusted."""

    MTTD = {"auth_keys": {"max_failed_logins": "3"},
            "server": {"trust_forwarded_for": "true"}}
    WAIT_MESSAGE = (r"too many failed logins from (\S+) \(\[auth\]"
                    r" max_failed_logins\): passwords are checked again in"
                    r" (\d+) s")

    def serial(self, auth, forwarded=None):
        return self.mttd.http("POST", "/serial", {"serial": "x"}, auth=auth,
                              headers={"X-Forwarded-For": forwarded})

    def assert_throttled(self, resp, address):
        answer = self.assertRefused(resp, http_status=429)
        m = re.fullmatch(self.WAIT_MESSAGE, answer["status_message"])
        self.assertIsNotNone(m, answer)
        self.assertEqual(m.group(1), address)
        self.assertEqual(resp.header("Retry-After"), m.group(2))
        self.assertTrue(1 <= int(m.group(2)) <= 60, resp)

    def test_1_a_spent_address_gets_no_checks_until_its_minute_ends(self):
        good = (h.USER, h.PASSWORD)
        self.assertOk(self.serial(good))
        mark = self.mttd.log_mark()
        for i in range(3):
            self.assertRefused(self.serial((h.USER, "wrong-%d" % i)),
                               http_status=401)
        self.assert_throttled(self.serial((h.USER, "wrong-3")), "127.0.0.1")
        # A new credential waits, a right one included, and so does one
        # verified before: 200 for it and a quick 429 for every other
        # would test guesses faster than a hash (break-it helper 31).
        self.assert_throttled(self.serial(("someone", h.PASSWORD)),
                              "127.0.0.1")
        self.assert_throttled(self.serial(good), "127.0.0.1")
        # So does one it failed before: the refused cache is every
        # address's, and a 401 would tell which guesses others failed
        # with (break-it helper 33).
        self.assert_throttled(self.serial((h.USER, "wrong-0")), "127.0.0.1")
        # Another address counts apart: a wrong credential repeated
        # spends its budget once; its judged credentials cost no hash.
        hashed = self.mttd.log_since(mark).count("': verified")
        for _ in range(5):
            self.assertRefused(self.serial((h.USER, "wrong-4"), "192.0.2.7"),
                               http_status=401)
        self.assertOk(self.serial(good, "192.0.2.7"))
        self.assertEqual(self.mttd.log_since(mark).count("': verified"),
                         hashed)
        self.assert_throttled(self.serial((h.USER, "wrong-5"), "127.0.0.1"),
                              "127.0.0.1")
        self.assertIsNotNone(self.mttd.wait_log(
            r"WARNING req=\d+ password not checked: 3 failed logins from"
            r" client=127.0.0.1 within a minute; its later tries until the"
            r" minute ends are logged at DEBUG \(and in the access log\)",
            mark))
        log = self.mttd.log_since(mark)
        self.assertEqual(len(re.findall(
            r"WARNING .*password not checked.*client=127\.0\.0\.1", log)), 1)
        # The 429s' and 401s' own lines are DEBUG, and so are the failed
        # logins that cost no hash; each request has its access line.
        self.assertEqual(re.findall(r"INFO req=\d+ POST /serial: 4\d\d",
                                    log), [])
        self.assertEqual(len(re.findall(
            r"req=\d+ method=POST path=/serial status=429 ", log)), 5)
        self.assertEqual(len(re.findall(r"WARNING req=\d+ login failed",
                                        log)), 4)

    def test_1b_a_reload_keeps_judged_logins_without_a_hash(self):
        """A SIGHUP reads the htpasswd file into a new table; judged
        credentials whose hash did not change carry over, so a reload
        costs no client a hash (break-it helper 30)."""
        good, addr = (h.USER, h.PASSWORD), "192.0.2.30"
        self.assertOk(self.serial(good, addr))
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark))
        self.assertOk(self.serial(good, addr))
        # The same credential spelled another way is the same one.
        self.assertOk(self.serial("basic   " + h.basic(*good)[6:], addr))
        self.assertNotIn("': verified", self.mttd.log_since(mark))

    def test_2_max_failed_logins_0_checks_every_password(self):
        with self.reconfigured("max_failed_logins = 3",
                               "max_failed_logins = 0"):
            for i in range(5):
                self.assertRefused(self.serial((h.USER, "again-%d" % i)),
                                   http_status=401)
            self.assertOk(self.serial(("mttuser", h.PASSWORD)))


class UrlPrefix(h.MttdTestCase):
    """[server] url_prefix = /submit/cpy/api, as the real client's URL."""

    MTTD = {"server": {"url_prefix": "/submit/cpy/api"}}

    def test_prefixed_paths(self):
        for path in ("/submit/cpy/api//serial", "/submit/cpy/api/serial",
                     "/submit/cpy/api/serial/"):
            with self.subTest(path=path):
                answer = self.assertOk(self.mttd.http(
                    "POST", path, {"serial": "serial"}))
                self.assertIsInstance(answer.get("client_serial"), int)
        for path in ("/submit/cpy/api//submit", "/submit/cpy/api/submit/"):
            with self.subTest(path=path):
                self.assertEqual(self.assertOk(self.mttd.http("GET", path)),
                                 SUBMIT_ANSWER)
        resp = self.mttd.http("POST", "/submit/cpy/api//submit",
                              h.submit_body("MPI Install", [
                                  h.install_entry(mpi_version="v-prefix")]))
        self.assertEqual(self.assertOk(resp)["ids"], [{"mpi_install_id": 1}])
        self.assertEqual(self.assertOk(self.mttd.http(
            "GET", "/submit/cpy/api/")), ROOT_ANSWER)
        self.assertRefused(self.mttd.http("GET", "/submit/cpy/api/nothing"),
                           http_status=404)


if __name__ == "__main__":
    h.main()
