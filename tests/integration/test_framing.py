#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""HTTP framing of request bodies: chunked bodies work; two different
Content-Length headers, or Content-Length with Transfer-Encoding, are
refused with 400 and store nothing; so is every framing a proxy could
read otherwise than libevent (a Transfer-Encoding other than chunked, a
blank before a header's colon, a Content-Length that is not digits), and
the request hidden in its body is not run; a body cut off part way stores
nothing and mttd serves on; headers over max_header_size are refused."""

import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402


class Framing(h.MttdTestCase):

    def head(self, extra):
        return (b"POST /submit HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                self.mttd.auth_header().encode() +
                b"\r\nContent-Type: application/json\r\n" + extra +
                b"\r\n")

    def body(self, name):
        return h.to_json(h.submit_body("MPI Install", [h.install_entry(
            mpi_version=name)])).encode()

    def stored(self, name):
        return self.sql("SELECT count(*) FROM mpi_get WHERE mpi_version ="
                        " '%s'" % name)[0][0]

    def status_line(self, out):
        return out.split(b"\r\n", 1)[0]

    def test_chunked_body_is_stored(self):
        body = self.body("chunked-ok")
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]),
                                             body[i:i + 100])
                          for i in range(0, len(body), 100))
        out = self.mttd.raw(self.head(b"Transfer-Encoding: chunked\r\n") +
                            chunks + b"0\r\n\r\n", read_until_close=False)
        self.assertEqual(self.status_line(out), b"HTTP/1.1 200 OK", out)
        answer = json.loads(out.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(answer["status"], 0, answer)
        self.assertEqual(self.stored("chunked-ok"), "1")

    def test_two_different_content_lengths_are_refused(self):
        before = self.snapshot()
        body = self.body("two-lengths")
        out = self.mttd.raw(self.head(
            b"Content-Length: %d\r\nContent-Length: 5\r\n" % len(body)) +
            body, timeout=5)
        self.assertEqual(self.status_line(out), b"HTTP/1.1 400 Bad Request")
        head, _, payload = out.partition(b"\r\n\r\n")
        self.assertIn(b"connection: close", head.lower())
        answer = json.loads(payload)
        self.assertLess(answer["status"], 0)
        self.assertTrue(h.names_word(answer["status_message"],
                                     "Content-Length"), answer)
        self.assertEqual(self.snapshot(), before)

    def test_the_same_content_length_twice_is_one(self):
        body = self.body("same-length")
        out = self.mttd.raw(self.head(b"Content-Length: %d\r\n" % len(body)
                                      * 2) + body, read_until_close=False)
        self.assertEqual(self.status_line(out), b"HTTP/1.1 200 OK", out)
        self.assertEqual(self.stored("same-length"), "1")

    def test_length_with_chunked_is_refused(self):
        before = self.snapshot()
        body = self.body("length-and-chunked")
        out = self.mttd.raw(self.head(
            b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n"
            % len(body)) + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
            timeout=5)
        # libevent answers this one itself (its own small page).
        self.assertEqual(self.status_line(out), b"HTTP/1.1 400 Bad Request")
        self.assertEqual(self.snapshot(), before)

    def test_headers_over_the_limit_are_refused(self):
        # [server] max_header_size is 16K by default; libevent 2.1
        # answers itself, with 400 and its own small page.
        big = b"X-Filler: " + b"a" * 20000 + b"\r\n"
        out = self.mttd.raw(self.head(big + b"Content-Length: 2\r\n") +
                            b"{}", timeout=5)
        self.assertEqual(self.status_line(out), b"HTTP/1.1 400 Bad Request",
                         out[:200])
        body = self.body("small-headers")
        out = self.mttd.raw(self.head(b"X-Filler: " + b"a" * 8000 +
                                      b"\r\nContent-Length: %d\r\n"
                                      % len(body)) + body,
                            read_until_close=False)
        self.assertEqual(self.status_line(out), b"HTTP/1.1 200 OK", out)

    def test_pipelined_requests_then_a_half_close(self):
        # libevent ends the connection at the EOF once the first answer
        # is written: unless it had begun the second request before it
        # read the EOF (a race a slow build can win), that one is neither
        # run nor answered, and the log says so (doc/todo.md).  Never is
        # one run and not answered.
        body = b'{"serial": "x"}'
        one = (b"POST /serial HTTP/1.1\r\nHost: x\r\nAuthorization: " +
               self.mttd.auth_header().encode() +
               b"\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        mark = self.mttd.log_mark()
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.sendall(one + one)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            out = h.read_to_close(s)
        serials = [int(n) for n in re.findall(rb'"client_serial":(\d+)', out)]
        self.assertIn(len(serials), (1, 2), out)
        # The next serial follows the last answered: nothing ran unseen.
        after = self.mttd.http("POST", "/serial", {"serial": "x"})
        self.assertEqual(after.field("client_serial"), serials[-1] + 1)
        if len(serials) == 2:
            return
        self.assertIsNotNone(self.mttd.wait_log(
            r"INFO peer=127\.0\.0\.1 POST /serial: connection closed with a"
            r" request unanswered \(%d bytes of it received, none of it"
            r" run\)" % len(one), mark))

    def test_a_body_cut_off_stores_nothing(self):
        before = self.snapshot()
        body = self.body("cut-off")
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.sendall(self.head(b"Content-Length: %d\r\n" % len(body)) +
                      body[:len(body) // 2])
            time.sleep(0.3)
        time.sleep(0.3)
        self.assertEqual(self.snapshot(), before)
        self.assertOk(self.mttd.http("POST", "/serial", {"serial": "x"}))


class Smuggling(h.MttdTestCase):
    """A body libevent does not see as one (it reads none for a
    Transfer-Encoding it does not know, or for "Content-Length :") was run
    as the connection's next request: a proxy in front would have sent it
    as one body, and given the next client the second answer (break-it
    helper 40 stored three rows that way)."""

    def request(self, name, extra):
        body = h.to_json(h.submit_body("MPI Install", [h.install_entry(
            mpi_version=name)])).encode()
        return (b"POST /submit HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                self.mttd.auth_header().encode() +
                b"\r\nContent-Type: application/json\r\n" + extra +
                b"\r\n", body)

    def smuggle(self, framing, chunked=False):
        """The answers to a request framed by framing (% the length of
        its body), whose body is a whole second request; chunked: sent in
        one chunk, for the framings libevent reads as chunked."""
        head2, body2 = self.request("smuggled", b"Content-Length: %d\r\n")
        hidden = head2 % len(body2) + body2
        self.hidden_len = len(hidden)
        if b"%d" in framing:
            framing = framing % len(hidden)
        if chunked:
            hidden = b"%x\r\n%s\r\n0\r\n\r\n" % (len(hidden), hidden)
        head1, _ = self.request("carrier", framing)
        return self.mttd.raw(head1 + hidden, timeout=5)

    def assertRefused(self, out, status_line, message):
        head, _, payload = out.partition(b"\r\n\r\n")
        self.assertEqual(head.split(b"\r\n", 1)[0], status_line, out)
        self.assertIn(b"\r\nconnection: close", head.lower())
        self.assertIn(b"\r\ncontent-type: application/json", head.lower())
        # One answer, then the close: the hidden request was not run.
        self.assertEqual(out.count(b"HTTP/1.1 "), 1, out)
        self.assertEqual(json.loads(payload),
                         {"status": -1, "status_message": message})

    def check(self, framing, status_line, message, chunked=False):
        before = self.snapshot()
        self.assertRefused(self.smuggle(framing, chunked), status_line,
                           message)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.sql("SELECT count(*) FROM mpi_get WHERE"
                                  " mpi_version IN ('smuggled', 'carrier')"),
                         [["0"]])

    def test_unknown_transfer_coding(self):
        self.check(b"Transfer-Encoding: xchunked\r\n",
                   b"HTTP/1.1 400 Bad Request",
                   "Transfer-Encoding 'xchunked' does not end in chunked, or"
                   " was not read as chunked, so the body's end is unknown")

    def test_identity_transfer_coding(self):
        self.check(b"Transfer-Encoding: identity\r\n",
                   b"HTTP/1.1 400 Bad Request",
                   "Transfer-Encoding 'identity' does not end in chunked, or"
                   " was not read as chunked, so the body's end is unknown")

    def test_blank_before_the_colon(self):
        self.check(b"Content-Length : %d\r\n",
                   b"HTTP/1.1 400 Bad Request",
                   "header name 'Content-Length ' is not a token (no blank"
                   " may come before its colon)")

    def test_content_length_with_a_sign(self):
        before = self.snapshot()
        out = self.smuggle(b"Content-Length: +%d\r\n")
        self.assertRefused(out, b"HTTP/1.1 400 Bad Request",
                           "Content-Length '+%d' is not a number of bytes"
                           " (digits only)" % self.hidden_len)
        self.assertEqual(self.snapshot(), before)

    def test_codings_before_chunked(self):
        # libevent reads these bodies as chunked: the body's end is the
        # same to a proxy, but its bytes would be stored still encoded.
        for framing, codings in (
                (b"Transfer-Encoding: gzip, chunked\r\n", "gzip, chunked"),
                (b"Transfer-Encoding: gzip\r\nTransfer-Encoding:"
                 b" chunked\r\n", "gzip, chunked"),
                (b"Transfer-Encoding: chunked;q=1\r\n", "chunked;q=1")):
            self.check(framing, b"HTTP/1.1 501 Not Implemented",
                       "Transfer-Encoding '%s' is not supported: send the"
                       " body plain, or chunked alone" % codings,
                       chunked=True)

    def test_a_body_libevent_does_not_read(self):
        # libevent reads no body for HEAD: a proxy would send the one
        # declared as the HEAD's, mttd ran it as the next request (break-
        # it helper 41 stored a submission so; helper 42 again, past a
        # copy of the value cut at 63 zeros).
        head2, body2 = self.request("smuggled", b"Content-Length: %d\r\n")
        hidden = head2 % len(body2) + body2
        for length in (b"%d" % len(hidden), b"\t%d " % len(hidden),
                       b"0" * 63 + b"%d" % len(hidden)):
            with self.subTest(length=length[:8]):
                before = self.snapshot()
                out = self.mttd.raw(
                    b"HEAD /status HTTP/1.1\r\nHost: x\r\nContent-Length: "
                    + length + b"\r\n\r\n" + hidden, timeout=5)
                head, _, payload = out.partition(b"\r\n\r\n")
                self.assertEqual(payload, b"", out)
                self.assertTrue(head.startswith(
                    b"HTTP/1.1 400 Bad Request\r\n"), out)
                self.assertIn(b"\r\nConnection: close", head)
                self.assertEqual(self.snapshot(), before)
        # A chunked one neither.
        out = self.mttd.raw(b"HEAD /status HTTP/1.1\r\nHost: x\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n" +
                            b"%x\r\n%s\r\n0\r\n\r\n" % (len(hidden),
                                                       hidden), timeout=5)
        self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out)
        self.assertEqual(out.count(b"HTTP/1.1 "), 1, out)
        # The body of a GET is read (this libevent reads it), so what it
        # holds is no request; a length of zero is no body.
        before = self.snapshot()
        out = self.mttd.raw(b"GET /status HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: %d\r\nConnection: close"
                            b"\r\n\r\n" % len(hidden) + hidden, timeout=5)
        self.assertEqual(out.count(b"HTTP/1.1 "), 1, out)
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out)
        self.assertEqual(self.snapshot(), before)
        out = self.mttd.raw(b"HEAD /status HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: 00\r\n\r\n",
                            read_until_close=False)
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out)

    def test_lengths_compared_whole(self):
        # 63 zeros then 5, and 63 zeros then 7, are two lengths.
        head, body = self.request("padded", b"Content-Length: %s\r\n"
                                  b"Content-Length: %s\r\n"
                                  % (b"0" * 63 + b"5", b"0" * 63 + b"7"))
        out = self.mttd.raw(head + b"{}XY\r\n", timeout=5)
        self.assertRefused(out, b"HTTP/1.1 400 Bad Request",
                           "conflicting Content-Length headers (5 and 7)")
        head, body = self.request("zeros", b"Content-Length: 000\r\n"
                                  b"Content-Length: 0005\r\n")
        out = self.mttd.raw(head + b"{}XY\r\n", timeout=5)
        self.assertRefused(out, b"HTTP/1.1 400 Bad Request",
                           "conflicting Content-Length headers (0 and 5)")

    def test_a_tab_before_a_value_is_white_space(self):
        # RFC 9110 allows a tab there; libevent drops only blanks.
        head, body = self.request("tab-length",
                                  b"Content-Length:\t%d\t\r\n")
        out = self.mttd.raw(head % len(body) + body, read_until_close=False)
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out)
        head, body = self.request("tab-chunked",
                                  b"Transfer-Encoding:\tchunked\r\n")
        out = self.mttd.raw(head + b"%x\r\n%s\r\n0\r\n\r\n"
                            % (len(body), body), read_until_close=False)
        # Debian's libevent reads it as chunked; one that did not would
        # read no body, and get 400 here.
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out)
        self.assertEqual(self.sql("SELECT mpi_version FROM mpi_get WHERE"
                                  " mpi_version LIKE 'tab-%' ORDER BY 1"),
                         [["tab-chunked"], ["tab-length"]])

    def test_http_1_0_with_transfer_encoding_closes(self):
        # RFC 9112: its framing is faulty; answered, then closed.
        head, body = self.request("one-oh-chunked",
                                  b"Transfer-Encoding: chunked\r\n"
                                  b"Connection: keep-alive\r\n"
                                  b"Connection: keep-alive\r\n")
        head = head.replace(b"HTTP/1.1", b"HTTP/1.0", 1)
        out = self.mttd.raw(head + b"%x\r\n%s\r\n0\r\n\r\n"
                            % (len(body), body) +
                            b"GET /status HTTP/1.0\r\n\r\n", timeout=5)
        self.assertEqual(out.count(b"HTTP/1.0 200 OK"), 1, out)
        self.assertIn(b"\r\nConnection: close\r\n", out)
        self.assertEqual(out.count(b"Connection:"), 1, out)
        self.assertEqual(self.sql("SELECT count(*) FROM mpi_get WHERE"
                                  " mpi_version = 'one-oh-chunked'"),
                         [["1"]])

    def test_plain_framings_still_work(self):
        # Chunked in capitals, and a length with leading zeros, are
        # what they say.
        head, body = self.request("capital-chunked",
                                  b"Transfer-Encoding: Chunked\r\n")
        out = self.mttd.raw(head + b"%x\r\n%s\r\n0\r\n\r\n"
                            % (len(body), body), read_until_close=False)
        self.assertEqual(out.split(b"\r\n", 1)[0], b"HTTP/1.1 200 OK", out)
        head, body = self.request("zero-length",
                                  b"Content-Length: 000%d\r\n")
        out = self.mttd.raw(head % len(body) + body, read_until_close=False)
        self.assertEqual(out.split(b"\r\n", 1)[0], b"HTTP/1.1 200 OK", out)
        self.assertEqual(self.sql("SELECT mpi_version FROM mpi_get WHERE"
                                  " mpi_version IN ('capital-chunked',"
                                  " 'zero-length') ORDER BY 1"),
                         [["capital-chunked"], ["zero-length"]])


if __name__ == "__main__":
    h.main()
