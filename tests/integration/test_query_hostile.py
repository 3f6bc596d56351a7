#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Query requests found to hurt mttd by a break-it review, each pinned:
too many search conditions (which once broke pool connections: libpq
refuses more than 65,535 parameters), an option given twice, a LIKE
pattern ending in an escape,
durations written with an exponent, a /detail stream to an HTTP/1.0
keep-alive client, and clients that reset before their answer (which
once kept a shutdown waiting for answers never written)."""

import json
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402


def dup_keys_body(key, value, n):
    """A /detail body whose search has key n times (a JSON object with
    repeated keys, which Python's json cannot write)."""
    items = ",".join('"%s":%s' % (key, json.dumps(value)) for _ in range(n))
    return ('{"phase":"test_run","columns":["np"],"search":{%s},'
            '"options":{"count_only":1}}' % items)


class Hostile(h.MttdTestCase):

    def setUp(self):
        super().setUp()
        self.submit_run_once()

    def submit_run_once(self):
        if getattr(type(self), "_seeded", False):
            return
        type(self)._seeded = True
        resp = self.mttd.submit("MPI Install", [h.install_entry()])
        iid = self.assertOk(resp)["ids"][0]["mpi_install_id"]
        resp = self.mttd.submit("Test Build", [h.build_entry(iid)])
        bid = self.assertOk(resp)["ids"][0]["test_build_id"]
        resp = self.mttd.submit("Test Run", [h.run_entry(
            bid, test_name="hostile", np=4, duration=3)])
        self.assertOk(resp)

    def post(self, path, body):
        return self.mttd.http("POST", path, body)

    def assertPoolWhole(self):
        status = self.assertOk(self.mttd.http("GET", "/status"))
        self.assertEqual(status["database"], "up")
        self.assertOk(self.post("/serial", {"serial": "serial"}))

    def test_too_many_conditions_are_refused_and_the_pool_stays(self):
        mark = self.mttd.log_mark()
        for n in (1001, 70000):
            resp = self.post("/detail", dup_keys_body("np", 4, n))
            self.assertRefused(resp, ["search", "1000"])
        body = '{"phase":"test_run","columns":["np"],"search":{"np":{%s}}}' % (
            ",".join('"gte":1' for _ in range(70000)))
        self.assertRefused(self.post("/detail", body), ["search"])
        log = self.mttd.log_since(mark)
        self.assertNotIn(" ERROR ", log)
        self.assertNotIn("-> down", log)
        self.assertPoolWhole()

    def test_a_thousand_conditions_are_answered(self):
        resp = self.post("/detail", dup_keys_body("np", 4, 1000))
        self.assertEqual(self.assertOk(resp)["query_data"], {"count": 1})

    def test_an_option_given_twice_is_refused(self):
        for opt in ("limit", "offset"):
            body = ('{"phase":"test_run","columns":["np"],"search":{},'
                    '"options":{"%s":1,"%s":2}}' % (opt, opt))
            self.assertRefused(self.post("/detail", body), [opt, "twice"])
        self.assertPoolWhole()

    def test_like_ending_in_an_escape_names_the_key(self):
        for pattern in ("\\", "ab\\", "a\\\\\\"):
            resp = self.post("/detail", {
                "phase": "test_run", "columns": ["np"],
                "search": {"test_name": {"like": pattern}}})
            self.assertRefused(resp, ["test_name", "like"])
        answer = self.assertOk(self.post("/detail", {
            "phase": "test_run", "columns": ["test_name"],
            "search": {"test_name": {"like": "host\\ile"}}}))
        self.assertEqual(answer["query_data"], [{"test_name": "hostile"}])

    def test_durations_with_an_exponent(self):
        for value in (3e0, "3 seconds", 0.3e1):
            body = ('{"phase":"test_run","columns":["test_name"],'
                    '"search":{"duration":%s}}' % (
                        json.dumps(value) if isinstance(value, str)
                        else repr(value).replace("3.0", "3e0")
                        if value == 3e0 else "0.3e1"))
            answer = self.assertOk(self.post("/detail", body))
            self.assertEqual(answer["query_data"], [{"test_name": "hostile"}],
                             body)

    def test_http10_keep_alive_stream_is_whole(self):
        body = json.dumps({"phase": "test_run", "columns": ["test_name"],
                           "search": {"test_name": "hostile"}}).encode()
        req = (b"POST /detail HTTP/1.0\r\nConnection: Keep-Alive\r\n"
               b"Authorization: " + self.mttd.auth_header().encode() +
               b"\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        out = self.mttd.raw(req, timeout=10.0)
        head, _, payload = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200") or
                        head.startswith(b"HTTP/1.1 200"), head)
        self.assertNotIn(b"content-length: 0", head.lower())
        self.assertIn(b"connection: close", head.lower())
        self.assertEqual(json.loads(payload), {
            "status": 0, "status_message": "Success",
            "query_data": [{"test_name": "hostile"}]})

    def test_clients_that_reset_leave_no_answer_counted(self):
        body = json.dumps({"phase": "test_run",
                           "search": {"test_name": {"like": "%"}}}).encode()
        req = (b"POST /info/runtime HTTP/1.1\r\nHost: x\r\n"
               b"Authorization: " + self.mttd.auth_header().encode() +
               b"\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", self.mttd.port))
            s.sendall(req)
            # SO_LINGER 0: close sends a reset, not a FIN.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            s.close()
        time.sleep(1.0)
        self.assertPoolWhole()
        mark = self.mttd.log_mark()
        started = time.time()
        self.mttd.stop()
        self.assertLess(time.time() - started, 5.0,
                        "the drain waited for answers never written")
        self.assertNotIn("giving up", self.mttd.log_since(mark))
        self.mttd.start()
        self.assertPoolWhole()


def read_one_answer(sock):
    """The bytes of one answer with a Content-Length, the connection left
    open."""
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = h.parse_raw_response(data).header("Content-Length")
            if length is not None and len(body) >= int(length):
                return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


class QueryBodyLimit(h.MttdTestCase):
    """max_query_body_size bounds the body of every endpoint but /submit
    (a query's parse took about four times its body, bounded only by
    max_body_size: six concurrent 64 MB search lists took mttd to
    1.6 GB, break-it helper 52).  The url_prefix is read as the router
    reads it."""

    MTTD = {"server": {"max_query_body_size": "16K",
                       "url_prefix": "/submit/cpy/api"}}
    QUERY = (b'{"phase":"install","columns":["mpi_version"],"search":{},'
             b'"options":{"count_only":true}}')

    def body_of(self, size):
        """The count's query, padded with blanks to size bytes."""
        return self.QUERY + b" " * (size - len(self.QUERY))

    def head(self, path, length, expect=True):
        return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: " + self.mttd.auth_header().encode() +
                b"\r\nContent-Type: application/json\r\n" +
                (b"Expect: 100-continue\r\n" if expect else b"") +
                b"Content-Length: %d\r\n\r\n" % length)

    def test_declared_over_the_limit_refused_before_the_body(self):
        for path in (b"/detail", b"/submit/cpy/api/summary/", b"/serial",
                     b"//submit/cpy/api//info/testsuite?x=1", b"/nowhere"):
            with self.subTest(path=path):
                mark = self.mttd.log_mark()
                with socket.create_connection(
                        ("127.0.0.1", self.mttd.port), timeout=10) as s:
                    s.sendall(self.head(path, 16385))
                    answer = h.parse_raw_response(h.read_to_close(s))
                self.assertEqual(answer.status, 413)
                self.assertEqual(
                    answer.body,
                    b'{"status":-1,"status_message":"request body of 16385'
                    b' bytes is larger than max_query_body_size (16384'
                    b' bytes)"}')
                self.assertIsNotNone(self.mttd.wait_log(
                    r"req=- method=POST path=%s status=413 .*"
                    r"answer=connection" % re.escape(path.decode()), mark))

    def test_long_targets_refused_before_the_body(self):
        # The path is known whole up to its query, or once the target
        # ends within the first 255 bytes of the line: a long query
        # string or doubled slashes (break-it helper 58) had the body
        # read first, as the 127-byte copy the log keeps was looked at.
        for path in (b"/detail?" + b"a" * 300, b"/" * 130 + b"detail"):
            with self.subTest(path=path):
                with socket.create_connection(
                        ("127.0.0.1", self.mttd.port), timeout=10) as s:
                    s.sendall(self.head(path, 16385))
                    answer = h.parse_raw_response(h.read_to_close(s))
                self.assertEqual((answer.status, answer.field(
                    "status_message")), (413, "request body of 16385 bytes"
                                         " is larger than max_query_body_size"
                                         " (16384 bytes)"))

    def test_at_the_limit_answered(self):
        resp = self.mttd.http("POST", "/submit/cpy/api/detail",
                              self.body_of(16384))
        self.assertEqual((resp.status, resp.field("status")), (200, 0),
                         resp)

    def test_submit_keeps_max_body_size(self):
        body = h.to_json(h.submit_body(
            "MPI Install", [h.install_entry(mpi_version="big-body")]))
        body = body.encode() + b" " * (40000 - len(body))
        for path in ("/submit", "/submit/cpy/api/submit"):
            with self.subTest(path=path):
                self.assertOk(self.mttd.http("POST", path, body))
        self.assertEqual(self.sql1("SELECT count(*) FROM mpi_get WHERE"
                                   " mpi_version = 'big-body'"), ["1"])

    def test_chunked_over_the_limit_refused_before_its_parse(self):
        body = self.body_of(16385)
        with socket.create_connection(("127.0.0.1", self.mttd.port),
                                      timeout=10) as s:
            s.sendall(b"POST /detail HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: " + self.mttd.auth_header().encode() +
                      b"\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n" +
                      b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
            answer = h.parse_raw_response(read_one_answer(s))
            self.assertEqual(answer.status, 413)
            self.assertEqual(answer.field("status_message"),
                             "request body of 16385 bytes is larger than"
                             " max_query_body_size (16384 bytes)")
            # The body was read whole: the connection serves on.
            s.sendall(b"POST /detail HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: " + self.mttd.auth_header().encode() +
                      b"\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(self.QUERY) +
                      self.QUERY)
            answer = h.parse_raw_response(read_one_answer(s))
            self.assertEqual((answer.status, answer.field("status")),
                             (200, 0), answer.body)


class QueryBodyLimitAboveMaxBody(h.MttdTestCase):
    """A max_query_body_size at or above max_body_size leaves
    max_body_size every endpoint's limit, and the answer names it."""

    MTTD = {"server": {"max_body_size": "4K", "max_query_body_size": "8K"}}

    def test_max_body_size_named(self):
        with socket.create_connection(("127.0.0.1", self.mttd.port),
                                      timeout=10) as s:
            s.sendall(b"POST /detail HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 5000\r\n\r\n")
            answer = h.parse_raw_response(h.read_to_close(s))
        self.assertEqual(answer.field("status_message"),
                         "request body of 5000 bytes is larger than"
                         " max_body_size (4096 bytes)")


if __name__ == "__main__":
    h.main()
