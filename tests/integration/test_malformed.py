#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A corpus of 210 malformed requests (bad JSON, not an object, wrong
types, huge numbers, deep nesting, invalid UTF-8, oversized fields, wrong
content types, quotes and comment markers wherever SQL might be built)
replayed on one keep-alive connection: every answer is JSON with the
expected HTTP code, mttd never dies, the database is unchanged after
each one, and a valid submission then still works on that connection.
Bad framing, which libevent answers itself, is in test_framing.py."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

TEXT_FIELDS = ["hostname", "local_username", "mtt_client_version",
               "platform_name"]
INSTALL_TEXT = ["platform_hardware", "platform_type", "os_name",
                "os_version", "compiler_name", "compiler_version",
                "mpi_name", "mpi_version", "result_message"]
HOSTILE_TEXT = ["'", "\\", "x'; DROP TABLE submit; --", "/* c */", "--",
                "\\u0000'", "%s", "$1", "\\'; SELECT 1; --"]


def install_body(**entry):
    return h.submit_body("MPI Install", [h.install_entry(**entry)])


def corpus():
    """(name, path, body bytes, content type, expected HTTP code)."""
    cases = []
    js = "application/json"

    def add(name, path, body, code, ctype=js):
        if not isinstance(body, bytes):
            body = (body if isinstance(body, str) else h.to_json(body)) \
                .encode("utf-8")
        cases.append((name, path, body, ctype, code))

    # Not JSON, not an object, broken text: 400.
    for i, text in enumerate([b"", b" ", b"{", b"}", b"[", b"{]", b"nul",
                              b"{\"a\":}", b"{\"a\" 1}", b"{,}", b"{'a':1}",
                              b"{\"a\":1,}", b"[1,]", b"{\"a\":01}",
                              b"{\"a\":.5}", b"{\"a\":1e}", b"{\"a\":-}",
                              b"{\"a\":\"\\x\"}", b"{\"a\":\"\\u12\"}",
                              b"{} {}", b"{}x", b"{\"a\":1}\"junk",
                              b"/* c */{}", b"{\"a\":\"\n\"}", b"\xef\xbb\xbf{}"]):
        for path in ("/submit", "/detail", "/serial"):
            add("syntax-%d%s" % (i, path), path, text, 400)
    for i, text in enumerate([b"[]", b"1", b"\"s\"", b"null", b"true"]):
        for path in ("/submit", "/detail", "/summary", "/fields"):
            add("not-object-%d%s" % (i, path), path, text, 400)
    # Invalid UTF-8 and deep nesting: 400.
    for i, raw in enumerate([b"\xff", b"\xc0\x8a", b"\xed\xa0\x80",
                             b"\xf4\x90\x80\x80", b"\xe2\x82"]):
        add("utf8-%d" % i, "/submit",
            b'{"metadata": {"hostname": "' + raw + b'"}, "data": []}', 400)
    add("deep", "/submit", "[" * 40 + "]" * 40, 400)
    add("deep-object", "/detail", '{"a":' * 40 + "1" + "}" * 40, 400)
    # Not declared as JSON: 415.
    add("form", "/submit", install_body(), 415,
        "application/x-www-form-urlencoded")
    add("text", "/detail", "{}", 415, "text/plain")
    # Submissions: missing parts 400, bad fields 200 with status < 0.
    add("no-metadata", "/submit", {"data": []}, 400)
    add("no-data", "/submit", {"metadata": {}}, 400)
    # (Numbers and booleans where text is expected are stored as their
    # text, SPEC.md: only lists, objects and overlong text are refused.)
    for field in TEXT_FIELDS:
        for bad in ([], {}, "h" * 200):
            body = install_body()
            body["metadata"][field] = bad
            add("meta-%s-%s-%d" % (field, type(bad).__name__, len(bad)),
                "/submit",
                body, 200)
    for field in INSTALL_TEXT:
        for bad in ([], {}) + (("x" * 300,) if field != "result_message"
                               else ()):
            add("entry-%s-%s-%d" % (field, type(bad).__name__, len(bad)),
                "/submit",
                install_body(**{field: bad}), 200)
    for bad in ("four", 4.5, "4 ", 1e30, 99999999999999999999, [], True):
        add("exit-%r" % (bad,), "/submit", install_body(exit_value=bad),
            200)
    for bad in ("soon", "2026-13-45 10:00", 12, [], "Mon Feb 30 1:00 2026"):
        add("start-%r" % (bad,), "/submit",
            install_body(start_timestamp=bad), 200)
    for bad in ("forever", [], {}, "1 fortnight"):
        add("duration-%r" % (bad,), "/submit", install_body(duration=bad),
            200)
    add("phase-unknown", "/submit", h.submit_body(
        "Test Destroy", [h.install_entry()]), 200)
    # Quotes and comment markers in text an unknown submit_id refuses:
    # nothing may be stored, no SQL may break.
    for i, text in enumerate(HOSTILE_TEXT):
        body = install_body(mpi_version=text, os_name=text)
        body["metadata"]["submit_id"] = 999999
        add("quote-submit-%d" % i, "/submit", body, 200)
    # Queries: wrong types and hostile names.
    for i, bad in enumerate([{"phase": 1}, {"phase": "x' OR 1=1 --"},
                             {"phase": "install", "columns": "mpi_name"},
                             {"phase": "install", "columns": [1]},
                             {"phase": "install", "columns": ["x;--"]},
                             {"phase": "install", "columns": [],
                              "search": []},
                             {"phase": "install", "columns": [],
                              "search": {"mpi_name; --": 1}},
                             {"phase": "install", "columns": [],
                              "search": {"np": 4}},
                             {"phase": "install", "columns": [],
                              "search": {}, "options": {"limit": "1;"}},
                             {"phase": "install", "columns": [],
                              "search": {}, "options": {"order_by":
                                                        ["mpi_name; --"]}},
                             {"phase": "install", "columns": [],
                              "search": {"start_timestamp": "x'; --"}}]):
        for path in ("/detail", "/summary"):
            add("query-%d%s" % (i, path), path, bad, 200)
    for i, text in enumerate(HOSTILE_TEXT):
        add("quote-query-%d" % i, "/detail",
            {"phase": "install", "columns": ["mpi_name"],
             "search": {"mpi_version": text}}, 200)
        add("quote-info-%d" % i, "/info/testsuite",
            {"search": {"suite_name": text}}, 200)
    return cases


class Malformed(h.MttdTestCase):

    def test_corpus(self):
        cases = corpus()
        self.assertGreaterEqual(len(cases), 100)
        conn = self.mttd.connection()
        before = self.snapshot()
        for name, path, body, ctype, code in cases:
            resp = self.mttd.http("POST", path, body,
                                  headers={"Content-Type": ctype}, conn=conn)
            self.assertEqual(resp.status, code, "%s: %r" % (name, resp))
            self.assertEqual(resp.header("Content-Type"), "application/json",
                             name)
            answer = json.loads(resp.body)
            self.assertIsInstance(answer, dict, name)
            if code != 200 or path == "/submit":
                self.assertLess(answer["status"], 0, "%s: %r" % (name, resp))
            self.assertTrue(self.mttd.alive(), name)
            if resp.header("Connection") == "close":
                conn.close()
                conn = self.mttd.connection()
            self.assertEqual(self.snapshot(), before,
                             "%s changed the database" % name)
        # The same connection still takes a good submission.
        resp = self.mttd.http("POST", "/submit", install_body(),
                              conn=conn)
        self.assertOk(resp)
        conn.close()
        print("\n%d malformed requests" % len(cases))


if __name__ == "__main__":
    h.main()
