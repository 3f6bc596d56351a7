#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""CORS: with [server] cors_origin set, every answer mttd writes (success,
refusal, 401, 404, the OPTIONS preflight) names exactly that origin, so
a viewer page there may read results and pages elsewhere may not; by
default the origin is *."""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

VIEWER = "https://viewer.example.org"


class ConfiguredOrigin(h.MttdTestCase):

    MTTD = {"server": {"cors_origin": VIEWER}}

    def origin_of(self, resp):
        return resp.header("Access-Control-Allow-Origin")

    def test_every_answer_names_the_origin(self):
        answers = [
            self.mttd.http("GET", "/"),
            self.mttd.http("POST", "/fields", {}),
            self.mttd.http("POST", "/detail", {"phase": "install",
                                               "columns": [],
                                               "search": {}}),
            self.mttd.http("POST", "/detail", {"phase": "nope"}),
            self.mttd.http("POST", "/detail", "[]"),
            self.mttd.http("POST", "/fields", {}, auth=None),
            self.mttd.http("GET", "/nope"),
            self.mttd.http("GET", "/detail"),
        ]
        self.assertEqual([r.status for r in answers],
                         [200, 200, 200, 200, 400, 401, 404, 405])
        for resp in answers:
            self.assertEqual(self.origin_of(resp), VIEWER, resp)

    def test_preflight(self):
        resp = self.mttd.http("OPTIONS", "/detail", headers={
            "Origin": VIEWER, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"}, auth=None)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"")
        self.assertEqual(self.origin_of(resp), VIEWER)
        self.assertIn("Content-Type",
                      resp.header("Access-Control-Allow-Headers"))


class DefaultOrigin(h.MttdTestCase):

    def test_star_by_default(self):
        resp = self.mttd.http("POST", "/fields", {})
        self.assertEqual(resp.header("Access-Control-Allow-Origin"), "*")


class LongOrigin(h.MttdTestCase):
    """A long cors_origin is named by the answers mttd writes before a
    request is read too (they were dropped past 1,024 bytes: break-it
    helper 41)."""

    ORIGIN = "https://" + "v" * 1000 + ".example.org"
    MTTD = {"server": {"cors_origin": ORIGIN, "max_body_size": "1K"}}

    def test_413_before_the_body(self):
        with socket.create_connection(("127.0.0.1", self.mttd.port),
                                      timeout=10) as s:
            s.sendall(b"POST /submit HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 5000\r\n\r\n")
            answer = h.parse_raw_response(h.read_to_close(s))
        self.assertEqual(answer.status, 413)
        self.assertEqual(answer.header("Access-Control-Allow-Origin"),
                         self.ORIGIN)
        self.assertEqual(answer.field("status_message"),
                         "request body of 5000 bytes is larger than"
                         " max_body_size (1024 bytes)")


if __name__ == "__main__":
    h.main()
