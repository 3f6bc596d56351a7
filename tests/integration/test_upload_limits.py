#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Case C11: a 20 MiB result_stdout sent with Expect: 100-continue under
the default 64 MiB body limit is stored byte for byte after a prompt
100 Continue; under an 8 MiB limit the upload is refused with a JSON 413
naming the limit in place of 100 Continue, storing nothing; an upload cut
off part way stores nothing, mttd serves others meanwhile and answers it
408 once request_timeout passes without a byte."""

import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

INPUT = os.path.join(h.SHARED_DIR, "cases", "inputs", "C11.json")
TOTAL = 20971520


def generated():
    line = "x" * 79 + "\n"
    return line * (TOTAL // len(line))


class Upload(h.MttdTestCase):

    def setUp(self):
        super().setUp()
        with open(INPUT, encoding="utf-8") as f:
            self.case = json.load(f)
        resp = self.mttd.submit("MPI Install", [h.install_entry()])
        iid = self.assertOk(resp)["ids"][0]["mpi_install_id"]
        resp = self.mttd.submit("Test Build", [h.build_entry(iid)])
        self.build = self.assertOk(resp)["ids"][0]["test_build_id"]

    def body(self):
        body = json.loads(json.dumps(self.case["body"]))
        body["data"][0]["test_build_id"] = self.build
        body["data"][0]["result_stdout"] = generated()
        return h.to_json(body).encode("utf-8")

    def head(self, length, expect=True, extra=b""):
        return (b"POST /submit HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                self.mttd.auth_header().encode() +
                b"\r\nContent-Type: application/json\r\n" + extra +
                (b"Expect: 100-continue\r\n" if expect else b"") +
                b"Content-Length: %d\r\n\r\n" % length)

    def interim(self, sock, timeout=2.0):
        """The first answer line, read before any body byte is sent."""
        sock.settimeout(timeout)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


class BigUploadStored(Upload):

    def test_20_mib_with_100_continue(self):
        body = self.body()
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.sendall(self.head(len(body)))
            started = time.time()
            first = self.interim(s)
            self.assertTrue(first.startswith(b"HTTP/1.1 100 Continue"), first)
            self.assertLess(time.time() - started, 1.0)
            s.sendall(body)
            s.settimeout(60)
            answer = b""
            while b"}" not in answer.split(b"\r\n\r\n", 1)[-1]:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        self.assertIn(b"HTTP/1.1 200 OK", answer)
        reply = json.loads(answer.split(b"\r\n\r\n")[-1])
        self.assertEqual(reply["status"], 0, reply)
        run = reply["ids"][0]["test_run_id"]
        self.assertEqual(self.sql1(
            "SELECT octet_length(result_stdout) FROM test_run WHERE"
            " test_run_id = %d" % run), [str(TOTAL)])


def vm_status(pid, key):
    """A size from /proc/PID/status (VmRSS, VmHWM), in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def vm_rss(pid):
    return vm_status(pid, "VmRSS")


def reset_peak(pid):
    """Wait (5 s at most) for a big submission before to give its memory
    back, then set VmHWM back to VmRSS (the kernel's clear_refs 5);
    returns it."""
    deadline = time.time() + 5
    rss = vm_rss(pid)
    while time.time() < deadline:
        time.sleep(0.5)
        rss, last = vm_rss(pid), rss
        if abs(rss - last) < 1024 * 1024:
            break
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")
    return vm_status(pid, "VmHWM")


class BigSubmissionMemory(h.MttdTestCase):
    """A submission of 60,000 entries (about 21 MB) takes about 130 MiB
    while it is parsed and stored: 350 MiB before each entry's 44 values
    lost their inline buffers, the body was dropped once parsed and the
    parsed tree once converted.  Within a second of its answer the memory
    is back with the system (the heap trimmed, the connection that
    stored it made again for libpq's grown buffers); before, 53 MiB
    stayed.  Refused for its last timestamp, it took 550 MiB: the pass
    that names the bad value sent two statements per entry at once."""

    ENTRIES = 60000
    # The rise of VmHWM while one is stored, in times its body: about
    # 6.5 now (17.5 before); 5 for the refused one (27 before).
    PEAK_TIMES_BODY = 9

    def entries(self, build):
        return [h.run_entry(
            build, test_name="mem_%d" % (i % 50), exit_value=i,
            start_timestamp="Fri Dec  4 14:%02d:%02d 2026"
            % (i // 60 % 60, i % 60)) for i in range(self.ENTRIES)]

    def assert_peak(self, pid, peak_from, body):
        # Freed memory waits in AddressSanitizer's quarantine.
        if os.environ.get("MTTD_SANITIZED"):
            return
        peak = vm_status(pid, "VmHWM") - peak_from
        self.assertLess(peak, self.PEAK_TIMES_BODY * len(body),
                        "VmHWM rose %d for a body of %d" % (peak, len(body)))

    def test_memory_goes_back_after_a_big_submission(self):
        _, build = self.mttd.install_and_build()
        body = h.to_json(h.submit_body(
            "Test Run", self.entries(build))).encode()
        self.assertGreater(len(body), 8 * 1024 * 1024)
        pid = self.mttd.proc.pid
        runs = int(self.sql1("SELECT count(*) FROM test_run")[0])
        before = vm_rss(pid)
        peak_from = reset_peak(pid)
        resp = self.mttd.http("POST", "/submit", body, timeout=120)
        self.assertEqual(len(self.assertOk(resp)["ids"]), self.ENTRIES)
        self.assert_peak(pid, peak_from, body)
        self.assertEqual(self.sql1("SELECT count(*) FROM test_run"),
                         [str(runs + self.ENTRIES)])
        self.assertIsNotNone(self.mttd.wait_log(
            r"INFO db conn \d: made again after a batch of \d+ MiB, to give"
            r" its buffers back"))
        time.sleep(1.5)
        after = vm_rss(pid)
        if not os.environ.get("MTTD_SANITIZED"):
            self.assertLess(after - before, 8 * 1024 * 1024,
                            "VmRSS %d before, %d after" % (before, after))
        self.assertOk(self.mttd.submit("Test Run", [h.run_entry(build)]))

    def test_last_bad_timestamp_named_in_bounded_memory(self):
        """The naming pass checks a slice of entries per round trip: the
        bad value of the last entry is still named, nothing is stored."""
        _, build = self.mttd.install_and_build()
        entries = self.entries(build)
        entries[-1]["start_timestamp"] = "2026-13-45"
        body = h.to_json(h.submit_body("Test Run", entries)).encode()
        pid = self.mttd.proc.pid
        runs = self.sql1("SELECT count(*) FROM test_run")
        peak_from = reset_peak(pid)
        resp = self.mttd.http("POST", "/submit", body, timeout=120)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json, {
            "status": -1,
            "status_message": "data[59999]: field 'start_timestamp' is not"
            " valid: date/time field value out of range: \"2026-13-45\""})
        self.assert_peak(pid, peak_from, body)
        self.assertEqual(self.sql1("SELECT count(*) FROM test_run"), runs)
        # A bad interval in the middle of a slice past the first.
        entries[-1]["start_timestamp"] = entries[0]["start_timestamp"]
        entries[2500]["duration"] = "ten minutes"
        resp = self.mttd.http("POST", "/submit", h.to_json(h.submit_body(
            "Test Run", entries)).encode(), timeout=120)
        self.assertEqual(resp.json["status_message"],
                         "data[2500]: field 'duration' is not valid: invalid"
                         " input syntax for type interval: \"ten minutes\"")
        self.assertEqual(self.sql1("SELECT count(*) FROM test_run"), runs)


    def test_distinct_rows_made_in_bounded_memory(self):
        """Entries with their own description, environment and message
        (tables without a unique index): one statement per table makes
        them.  With one statement per row, 60,000 entries took about 40
        times the body and two minutes."""
        _, build = self.mttd.install_and_build()
        entries = self.entries(build)
        for i, e in enumerate(entries):
            e["description"] = "own description %d" % i
            e["environment"] = "OWN_ENV=%d" % i
            e["result_message"] = "own message %d" % i
        body = h.to_json(h.submit_body("Test Run", entries)).encode()
        pid = self.mttd.proc.pid
        peak_from = reset_peak(pid)
        resp = self.mttd.http("POST", "/submit", body, timeout=120)
        self.assertEqual(len(self.assertOk(resp)["ids"]), self.ENTRIES)
        self.assert_peak(pid, peak_from, body)
        self.assertEqual(self.sql1(
            "SELECT count(DISTINCT d.description), count(DISTINCT"
            " e.environment), count(*) FILTER (WHERE d.description = 'own"
            " description ' || r.exit_value AND e.environment = 'OWN_ENV='"
            " || r.exit_value) FROM test_run r JOIN description d USING"
            " (description_id) JOIN environment e USING (environment_id)"
            " WHERE d.description LIKE 'own description %%'"),
            [str(self.ENTRIES)] * 3)

    def test_cancelled_naming_pass_is_a_database_failure(self):
        """A check of the naming pass cancelled by the database (an
        operator's pg_cancel_backend, a timeout) is the database's
        failure, 503, not a refusal of the entry whose check it was."""
        _, build = self.mttd.install_and_build()
        entries = self.entries(build)
        entries[-1]["start_timestamp"] = "2026-13-45"
        body = h.to_json(h.submit_body("Test Run", entries)).encode()
        named = ("data[59999]: field 'start_timestamp' is not valid:"
                 " date/time field value out of range: \"2026-13-45\"")
        runs = self.sql1("SELECT count(*) FROM test_run")
        # The canceller polls inside PostgreSQL, every millisecond for
        # about 5 s: a poll from psql per round trip missed the checks'
        # short runs under a slow (sanitizer) build.
        cancel_sql = (
            "DO $$ BEGIN FOR i IN 1..5000 LOOP"
            " PERFORM pg_stat_clear_snapshot();"
            " PERFORM pg_cancel_backend(pid) FROM pg_stat_activity WHERE"
            " state = 'active' AND query LIKE 'SELECT ($1::%)::text';"
            " PERFORM pg_sleep(0.001); END LOOP; END $$")
        failed = 0
        for _ in range(5):
            canceller = threading.Thread(target=self.sql,
                                         args=(cancel_sql,))
            canceller.start()
            try:
                resp = self.mttd.http("POST", "/submit", body, timeout=120)
            finally:
                canceller.join(60)
            message = resp.json["status_message"]
            if resp.status != 503:  # No cancel came while a check ran.
                self.assertEqual(message, named)
                continue
            failed += 1
            self.assertEqual(resp.json["status"], -2)
            self.assertEqual(
                message, "the database failed and nothing was stored;"
                " try again later (canceling statement due to user"
                " request)")
            break
        self.assertGreater(failed, 0, "no check was cancelled")
        self.assertEqual(self.sql1("SELECT count(*) FROM test_run"), runs)


class BigUploadRefused(Upload):

    MTTD = {"server": {"max_body_size": "8M", "request_timeout": "3"}}

    def read_all(self, s, first=b""):
        s.settimeout(10)
        out = first
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk

    def test_413_before_the_body(self):
        before = self.snapshot()
        body = self.body()
        mark = self.mttd.log_mark()
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.sendall(self.head(len(body)))
            answer = h.parse_raw_response(self.read_all(s, self.interim(s)))
        self.assertEqual(answer.status, 413)
        self.assertEqual(answer.header("Content-Type"), "application/json")
        self.assertEqual(answer.header("Connection"), "close")
        # Dated as libevent's answers are.
        self.assertRegex(answer.header("Date") or "",
                         r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d"
                         r" (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
                         r" \d{4} \d\d:\d\d:\d\d GMT$")
        self.assertEqual(answer.field("status"), -1)
        self.assertEqual(answer.field("status_message"),
                         "request body of %d bytes is larger than"
                         " max_body_size (8388608 bytes)" % len(body))
        # Spelled as every other answer (yajl's, without spaces).
        self.assertEqual(answer.body,
                         b'{"status":-1,"status_message":"request body of'
                         b' %d bytes is larger than max_body_size (8388608'
                         b' bytes)"}' % len(body))
        self.assertIsNotNone(self.mttd.wait_log(
            r"req=- method=POST path=/submit status=413 .*answer=connection",
            mark))
        self.assertEqual(self.snapshot(), before)
        self.assertOk(self.mttd.http("POST", "/serial", {"serial": "x"}))

    def test_413_names_a_length_too_large_to_read(self):
        # Digits past 2^50 are not added up: the answer says "over" the
        # digits it read, not a number the client never sent.
        for digits, shown in ((b"99999999999999999999",
                               "over 9999999999999999"),
                              (b"9223372036854775808",
                               "over 9223372036854775"),
                              # Exactly 2^50, and one more: read whole.
                              (b"1125899906842624", "1125899906842624"),
                              (b"1125899906842625", "1125899906842625")):
            with self.subTest(digits=digits):
                with socket.create_connection(
                        ("127.0.0.1", self.mttd.port)) as s:
                    s.sendall(b"POST /submit HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: " + digits + b"\r\n\r\n")
                    answer = h.parse_raw_response(self.read_all(s))
                self.assertEqual(answer.status, 413)
                self.assertEqual(answer.field("status_message"),
                                 "request body of %s bytes is larger than"
                                 " max_body_size (8388608 bytes)" % shown)

    def test_413_found_in_a_head_sent_byte_by_byte(self):
        # The head scan meets each line in pieces; headers whose names
        # only begin or end like Content-Length are not it, and the
        # name's case does not matter.
        head = (b"POST /submit HTTP/1.1\r\nHost: x\r\n"
                b"X-Content-Length: 99999999999\r\n"
                b"Content-Lengthy: 99999999999\r\n"
                b"cOnTeNt-LeNgTh: \t\x0b\x0c 9000000\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(head)):
                s.sendall(head[i:i + 1])
                time.sleep(0.002)
            answer = h.parse_raw_response(self.read_all(s))
        self.assertEqual(answer.status, 413)
        self.assertEqual(answer.field("status_message"),
                         "request body of 9000000 bytes is larger than"
                         " max_body_size (8388608 bytes)")

    def test_lookalike_headers_are_not_the_length(self):
        # Only Content-Length counts: the same lookalikes over the limit
        # beside a small body get the body's own answer.
        before = self.snapshot()
        body = b"{"
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.sendall(b"POST /submit HTTP/1.1\r\nHost: x\r\nAuthorization: "
                      + self.mttd.auth_header().encode() +
                      b"\r\nX-Content-Length: 99999999999\r\n"
                      b"Content-Lengthy: 99999999999\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Connection: close\r\n"
                      b"Content-Length: 1\r\n\r\n" + body)
            answer = h.parse_raw_response(self.read_all(s))
        self.assertEqual(answer.status, 400, answer.body)
        self.assertEqual(answer.field("status"), -1)
        self.assertEqual(answer.field("status_message"),
                         "the body is not valid JSON: invalid JSON at byte 1:"
                         " parse error: premature EOF")
        self.assertEqual(self.snapshot(), before)

    def test_413_to_a_client_sending_the_body_at_once(self):
        # No Expect: the client is already sending; mttd reads and drops
        # it while the answer goes out, so the client can read the answer.
        before = self.snapshot()
        resp = self.mttd.upload("POST", "/submit", self.body())
        self.assertIsNotNone(resp)
        self.assertEqual(resp.status, 413)
        self.assertTrue(h.names_word(resp.field("status_message"),
                                     "max_body_size"), resp)
        self.assertEqual(self.snapshot(), before)

    def test_cut_off_upload_stores_nothing(self):
        before = self.snapshot()
        mark = self.mttd.log_mark()
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.sendall(self.head(5000000, expect=False))
            s.sendall(b"{" + b" " * 999999)
            start = time.time()
            # While it idles, others are served.
            self.assertOk(self.mttd.http("POST", "/serial", {"serial": "x"}))
            answer = h.parse_raw_response(self.read_all(s))
            waited = time.time() - start
        self.assertEqual(answer.status, 408)
        self.assertEqual(answer.field("status"), -1)
        self.assertTrue(h.names_word(answer.field("status_message"),
                                     "request_timeout"), answer)
        self.assertGreater(waited, 2.5)
        self.assertLess(waited, 6)
        self.assertIsNotNone(self.mttd.wait_log(
            r"method=POST path=/submit status=408 .*answer=connection", mark))
        self.assertEqual(self.snapshot(), before)
        self.assertOk(self.mttd.http("POST", "/serial", {"serial": "x"}))

    # Whom the early 413 to a head with "X-Forwarded-For: 203.0.113.7,
    # 10.0.0.1" is logged for: without trust_forwarded_for the header
    # names no one.
    FORWARDED_LOGGED_AS = "127.0.0.1"

    def test_413_logs_whom_the_forwarded_header_names(self):
        mark = self.mttd.log_mark()
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.sendall(self.head(
                9000000, expect=False,
                extra=b"X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n"))
            self.assertEqual(h.parse_raw_response(self.read_all(s)).status,
                             413)
        line = self.mttd.wait_log(r"status=413 .*answer=connection", mark)
        self.assertRegex(line, r" ACCESS req=- method=POST path=/submit"
                         r" status=413 bytes=107 ms=\d+ user=- peer=%s"
                         r" answer=connection$"
                         % re.escape(self.FORWARDED_LOGGED_AS))
        self.assertIn("INFO peer=%s POST /submit: 413 request body of"
                      " 9000000 bytes is larger than max_body_size"
                      " (8388608 bytes)\n" % self.FORWARDED_LOGGED_AS,
                      self.mttd.log_since(mark))


class BigUploadRefusedBehindAProxy(BigUploadRefused):
    """With trust_forwarded_for, what mttd answers at the connection's
    level (the early 413, a 408) is logged with the first X-Forwarded-For
    address, as every request mttd is handed is (the proxy's address
    was logged, break-it helper 54)."""

    MTTD = {"server": {"max_body_size": "8M", "request_timeout": "3",
                       "trust_forwarded_for": "true"}}
    FORWARDED_LOGGED_AS = "203.0.113.7"

    def refused_from(self, extra, byte_by_byte=False):
        """The access line and log of an early 413 whose head has the
        header lines extra."""
        mark = self.mttd.log_mark()
        head = self.head(9000000, expect=False, extra=extra)
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for piece in ([head[i:i + 1] for i in range(len(head))]
                          if byte_by_byte else [head]):
                s.sendall(piece)
            self.assertEqual(h.parse_raw_response(self.read_all(s)).status,
                             413)
        line = self.mttd.wait_log(r"status=413 .*answer=connection", mark)
        return line, self.mttd.log_since(mark)

    def test_first_header_first_address_read_byte_by_byte(self):
        # As libevent's headers are read for a request mttd is handed:
        # lookalike names are not it, case does not matter, blanks lead,
        # and a second X-Forwarded-For does not count.
        line, _ = self.refused_from(
            b"X-Forwarded-Fort: 198.51.100.1\r\n"
            b"X-Forwarded-For-Not: 198.51.100.2\r\n"
            b"x-FORWARDED-for: \t 2001:db8::7\t,198.51.100.3\r\n"
            b"X-Forwarded-For: 198.51.100.4\r\n", byte_by_byte=True)
        self.assertRegex(line, r" peer=2001:db8::7 answer=connection$")

    def test_text_that_is_no_address_is_not_used(self):
        for extra in (b"X-Forwarded-For: 1.2.3.4'; DROP TABLE submit\r\n",
                      b"X-Forwarded-For: \r\nX-Forwarded-For: 1.2.3.4\r\n",
                      b"X-Forwarded-For: " + b"1" * 64 + b"\r\n",
                      # A CR not before an LF is a byte of the line, not
                      # nothing (break-it helper 58: 1.2.3.45 was logged).
                      b"X-Forwarded-For: 1.2.3.4\r5\r\n",
                      b"X-Forwarded-\rFor: 1.2.3.4\r\n"):
            with self.subTest(extra=extra):
                line, _ = self.refused_from(extra)
                self.assertRegex(line,
                                 r" peer=127\.0\.0\.1 answer=connection$")

    def test_408_logs_the_forwarded_address(self):
        mark = self.mttd.log_mark()
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.sendall(self.head(5000000, expect=False,
                                extra=b"X-Forwarded-For: 203.0.113.9\r\n"))
            s.sendall(b"{")
            self.assertEqual(h.parse_raw_response(self.read_all(s)).status,
                             408)
        line = self.mttd.wait_log(r"status=408 .*answer=connection", mark)
        self.assertRegex(line, r" peer=203\.0\.113\.9 answer=connection$")
        self.assertIn("peer=203.0.113.9 POST /submit: 408 ",
                      self.mttd.log_since(mark))


if __name__ == "__main__":
    h.main()
