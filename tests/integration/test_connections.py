#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Connection limits and clocks: a keep-alive connection idle for
idle_timeout is closed; a request that does not arrive within
request_timeout (plus a second per min_request_rate bytes) gets a JSON 408
and is closed, while a slow but steady upload is stored; past
max_connections a new connection gets a JSON 503 with Retry-After; the
count comes back down however connections end; the answers libevent
writes by itself are in the access log with their status."""

import json
import os
import re
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

IDLE_S = 2
REQUEST_S = 3
MAX_CONNECTIONS = 5


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(s, limit_s):
    """Bytes until the server closes; (bytes, seconds waited)."""
    out = b""
    start = time.time()
    s.settimeout(0.2)
    while time.time() - start < limit_s:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out, time.time() - start


def get_root(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    out = b""
    while b"\r\n\r\n" not in out or not out.endswith(b"}"):
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def answer_json(out):
    head, _, body = out.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), json.loads(body)


class Clocks(h.MttdTestCase):

    MTTD = {"server": {"idle_timeout": str(IDLE_S),
                       "request_timeout": str(REQUEST_S),
                       "min_request_rate": "1K",
                       "max_body_size": "64K"}}

    def head(self, length, extra=b""):
        return (b"POST /submit HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                self.mttd.auth_header().encode() +
                b"\r\nContent-Type: application/json\r\nContent-Length: " +
                str(length).encode() + b"\r\n" + extra + b"\r\n")

    def body(self, name, padding=0):
        return h.to_json(h.submit_body("MPI Install", [h.install_entry(
            mpi_version=name, result_message="x" * padding)])).encode()

    def stored(self, name):
        return int(self.sql("SELECT count(*) FROM mpi_get WHERE"
                            " mpi_version = '%s'" % name)[0][0])

    def assertClosedWhenIdle(self, s, within=2):
        """s, quiet from now on, is closed after idle_timeout, silently."""
        out, waited = read_until_close(s, IDLE_S + 5)
        s.close()
        self.assertEqual(out, b"")
        self.assertGreater(waited, IDLE_S - 0.3)
        self.assertLess(waited, IDLE_S + within)

    def test_idle_keep_alive_connection_is_closed(self):
        s = connect(self.mttd.port)
        self.assertIn(b"HTTP/1.1 200 OK", get_root(s))
        self.assertClosedWhenIdle(s)

    def test_connection_that_sends_nothing_is_closed_quietly(self):
        mark = self.mttd.log_mark()
        s = connect(self.mttd.port)
        self.assertClosedWhenIdle(s)
        self.assertNotRegex(self.mttd.log_since(mark), r"status=408")

    def test_trickled_headers_get_408(self):
        mark = self.mttd.log_mark()
        s = connect(self.mttd.port)
        s.sendall(b"POST /submit HTTP/1.1\r\nHost: x\r\n")
        start = time.time()
        s.settimeout(0.5)
        out = b""
        while time.time() - start < REQUEST_S + 5:
            try:
                s.sendall(b"X")
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        waited = time.time() - start
        s.close()
        lines, answer = answer_json(out)
        self.assertEqual(lines[0], b"HTTP/1.1 408 Request Timeout")
        self.assertIn(b"Content-Type: application/json", lines)
        self.assertIn(b"Connection: close", lines)
        self.assertIn(b"Access-Control-Allow-Origin: *", lines)
        self.assertEqual(answer["status"], -1)
        self.assertTrue(h.names_word(answer["status_message"],
                                     "request_timeout"), answer)
        self.assertGreater(waited, REQUEST_S - 0.5)
        self.assertLess(waited, REQUEST_S + 2)
        line = self.mttd.wait_log(r"status=408", mark)
        self.assertRegex(line, r"method=POST path=/submit status=408 "
                         r"bytes=\d+ ms=\d+ user=- peer=127\.0\.0\.1 "
                         r"answer=connection")

    def test_trickled_body_gets_408_and_stores_nothing(self):
        before = self.snapshot()
        body = self.body("trickled-body")
        s = connect(self.mttd.port)
        s.sendall(self.head(len(body)) + body[:10])
        start = time.time()
        sent = 10
        s.settimeout(0.25)
        out = b""
        while time.time() - start < REQUEST_S + 5 and sent < len(body) - 1:
            try:
                s.sendall(body[sent:sent + 1])
                sent += 1
                out += s.recv(65536)
                break
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        more, _ = read_until_close(s, 3)
        s.close()
        lines, answer = answer_json(out + more)
        self.assertEqual(lines[0], b"HTTP/1.1 408 Request Timeout")
        self.assertEqual(answer["status"], -1)
        self.assertLess(sent, len(body) - 1)
        self.assertEqual(self.snapshot(), before)

    def test_slow_steady_upload_is_stored(self):
        # 40 KiB at about 8 KiB/s: 5 s, past request_timeout, but each KiB
        # already sent buys a second more (min_request_rate 1K).
        body = self.body("slow-steady", padding=40 * 1024)
        s = connect(self.mttd.port)
        s.sendall(self.head(len(body)))
        for i in range(0, len(body), 2048):
            s.sendall(body[i:i + 2048])
            time.sleep(0.25)
        s.settimeout(10)
        out = b""
        while not out.endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        lines, answer = answer_json(out)
        self.assertEqual(lines[0], b"HTTP/1.1 200 OK", out)
        self.assertEqual(answer["status"], 0, answer)
        self.assertEqual(self.stored("slow-steady"), 1)

    def test_keep_alive_requests_in_a_row_are_not_cut(self):
        # Each request restarts the clocks: 3 requests a second apart on
        # one connection outlast idle_timeout and request_timeout.
        s = connect(self.mttd.port)
        for _ in range(IDLE_S + REQUEST_S):
            self.assertIn(b"HTTP/1.1 200 OK", get_root(s))
            time.sleep(1)
        s.close()

    def test_connection_left_open_after_libevents_501_is_closed(self):
        # libevent answers CONNECT itself (501) and keeps the connection
        # open: one that sends nothing more closes idle_timeout after the
        # 501, and a request trickled after it gets 408 at
        # request_timeout, as any (break-it helper 47: each byte renewed
        # libevent's own timeout, for hours).
        for trickle in (False, True):
            with self.subTest(trickle=trickle):
                s = connect(self.mttd.port)
                s.sendall(b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n")
                s.settimeout(5)
                head = b""
                while b"</HTML>" not in head:
                    head += s.recv(65536)
                self.assertTrue(head.startswith(b"HTTP/1.1 501 "), head)
                start = time.time()
                if trickle:
                    for byte in b"GET / HTTP/1.1\r\n":
                        s.sendall(bytes([byte]))
                        time.sleep(0.2)
                out, _ = read_until_close(s, REQUEST_S + 5)
                closed = time.time() - start
                s.close()
                if not trickle:
                    self.assertEqual(out, b"")
                    self.assertGreater(closed, IDLE_S - 0.3)
                    self.assertLess(closed, IDLE_S + 1)
                    continue
                self.assertTrue(out.startswith(b"HTTP/1.1 408 "), out)
                self.assertIn(b"request not received in time"
                              b" (request_timeout 3 s", out)
                self.assertGreater(closed, REQUEST_S - 0.3)
                self.assertLess(closed, REQUEST_S + 1)

    def test_request_trickled_after_libevents_501_is_answered(self):
        # After the 501 the next request is under the reading clock, not
        # cut at idle_timeout (break-it helper 48): a body trickled over
        # 2.6 s, longer than idle_timeout, is answered.
        body = b'{"serial": "after-connect"}'
        s = connect(self.mttd.port)
        s.sendall(b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST /serial HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                  self.mttd.auth_header().encode() +
                  b"\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 3):
            time.sleep(2.6 * 3 / len(body))
            s.sendall(body[i:i + 3])
        out, _ = read_until_close(s, IDLE_S + 3)
        s.close()
        self.assertTrue(out.startswith(b"HTTP/1.1 501 "), out[:60])
        second = out[out.index(b"HTTP/1.1 ", 1):]
        self.assertTrue(second.startswith(b"HTTP/1.1 200 "), out)
        self.assertEqual(answer_json(second)[1]["status"], 0, out)

    def test_each_of_libevents_answers_is_logged_in_order(self):
        # A CONNECT, a GET pipelined after it, then another CONNECT: each
        # 501 has its line, the first before the GET's, and the second
        # CONNECT is not also answered 408 (break-it helper 48: a second
        # answer of libevent's on a connection went unseen).
        mark = self.mttd.log_mark()
        s = connect(self.mttd.port)
        s.sendall(b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        s.sendall(b"CONNECT y:2 HTTP/1.1\r\nHost: x\r\n\r\n")
        out, waited = read_until_close(s, REQUEST_S + 3)
        s.close()
        self.assertEqual(re.findall(rb"HTTP/1\.1 (\d{3}) ", out),
                         [b"501", b"200", b"501"], out)
        self.assertLess(waited, IDLE_S + 1)
        lines = [line for line in self.mttd.log_since(mark).splitlines()
                 if " ACCESS " in line or "req=" in line]
        self.assertNotIn("status=408", "\n".join(lines))
        found = [re.search(r"method=(\S+) path=(\S+) status=(\d+)", line)
                 for line in lines]
        self.assertEqual([m.groups() for m in found if m], [
            ("CONNECT", "x:1", "501"), ("GET", "/", "200"),
            ("CONNECT", "y:2", "501")])

    def test_request_begun_with_the_connect_gets_408(self):
        # The next request's first bytes in the CONNECT's own write are
        # under the reading clock too (break-it helper 49: no 408, held
        # until idle_timeout and cut unanswered).
        mark = self.mttd.log_mark()
        s = connect(self.mttd.port)
        s.sendall(b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\nGET /zz HT")
        start = time.time()
        out, _ = read_until_close(s, REQUEST_S + 5)
        closed = time.time() - start
        s.close()
        self.assertEqual(re.findall(rb"HTTP/1\.1 (\d{3}) ", out),
                         [b"501", b"408"], out)
        self.assertGreater(closed, REQUEST_S - 0.3)
        self.assertLess(closed, REQUEST_S + 1)
        log = self.mttd.log_since(mark)
        self.assertRegex(log, r"method=CONNECT path=x:1 status=501 ")
        self.assertRegex(log, r"method=GET path=/zz status=408 ")

    def test_libevents_answers_in_one_write_are_told_apart(self):
        # A second answer of libevent's to a request it read from the
        # buffer: method and path unknown ("-"), not the first's; a 100
        # Continue for the request after them is not counted in either
        # (break-it helper 49).
        mark = self.mttd.log_mark()
        s = connect(self.mttd.port)
        s.sendall(b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        out, _ = read_until_close(s, IDLE_S + 3)
        s.close()
        answers = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
        self.assertEqual(answers[0], b"501", out)
        log = self.mttd.log_since(mark)
        lines = re.findall(r"method=(\S+) path=(\S+) status=(\d+) bytes=(\d+)"
                           r".*answer=libevent", log)
        self.assertEqual([line[:3] for line in lines],
                         [("CONNECT", "x:1", "501")] +
                         [("-", "-", a.decode()) for a in answers[1:]], log)
        first = out.index(b"HTTP/1.1 ", 1) if len(answers) > 1 else len(out)
        self.assertEqual(int(lines[0][3]), first)

    def test_interim_100_is_not_counted_in_libevents_answer(self):
        mark = self.mttd.log_mark()
        s = connect(self.mttd.port)
        s.sendall(b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST /serial HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        s.settimeout(5)
        out = b""
        while b"100 Continue\r\n\r\n" not in out:
            out += s.recv(65536)
        s.close()
        size = out.index(b"HTTP/1.1 100 ")
        line = self.mttd.wait_log(r"method=CONNECT path=x:1 status=501 ",
                                  mark)
        self.assertIsNotNone(line, self.mttd.log_since(mark))
        self.assertIn(" bytes=%d " % size, line)

    def test_idle_clock_counts_from_the_last_answer(self):
        # The connection's timer is moved lazily (it fires at an earlier
        # deadline, then is armed for the rest): after requests for twice
        # idle_timeout, the close still comes idle_timeout after the last
        # answer, not at the first deadline armed.
        s = connect(self.mttd.port)
        for _ in range(4 * IDLE_S):
            self.assertIn(b"HTTP/1.1 200 OK", get_root(s))
            time.sleep(0.5)
        self.assertIn(b"HTTP/1.1 200 OK", get_root(s))
        self.assertClosedWhenIdle(s, within=1)


class OwnAnswers(h.MttdTestCase):
    """What libevent answers by itself is in the access log."""

    MTTD = {"server": {"max_body_size": "64K", "max_header_size": "2K"}}

    def access_line(self, mark, status):
        return self.mttd.wait_log(r"status=%d .*answer=libevent" % status,
                                  mark)

    def test_chunked_body_over_the_limit(self):
        # A Content-Length over the limit gets mttd's JSON 413
        # (test_upload_limits); chunks over it are libevent's to refuse.
        mark = self.mttd.log_mark()
        out = self.mttd.raw(b"POST /submit HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n"
                            b"20000\r\n{" + b" " * 100, timeout=5)
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out)
        self.assertIn(b"text/html", out)
        line = self.access_line(mark, 413)
        self.assertRegex(line, r"req=- method=POST path=/submit status=413 "
                         r"bytes=\d+ ms=\d+ user=- peer=127\.0\.0\.1 "
                         r"answer=libevent")
        size = int(re.search(r"bytes=(\d+)", line).group(1))
        self.assertEqual(size, len(out))

    def test_headers_over_the_limit(self):
        mark = self.mttd.log_mark()
        out = self.mttd.raw(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " +
                            b"a" * 4096 + b"\r\n\r\n", timeout=5)
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)
        self.assertRegex(self.access_line(mark, 400),
                         r"method=GET path=/status status=400")

    def test_malformed_request_line(self):
        mark = self.mttd.log_mark()
        out = self.mttd.raw(b"GARBAGE\r\n\r\n", timeout=5)
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)
        self.assertRegex(self.access_line(mark, 400),
                         r"method=GARBAGE path=- status=400")

    def test_on_a_kept_alive_connection(self):
        # After a first answer libevent's own is logged all the same.
        for second, status in ((b"TRACE / HTTP/1.1\r\n\r\n", 501),
                               (b"GARBAGE\r\n\r\n", 400)):
            mark = self.mttd.log_mark()
            s = connect(self.mttd.port)
            self.assertIn(b"200 OK", get_root(s))
            s.sendall(second)
            out, _ = read_until_close(s, 5)
            s.close()
            self.assertTrue(out.startswith(b"HTTP/1.1 %d" % status), out)
            self.assertIsNotNone(self.access_line(mark, status))

    def test_content_length_spelled_any_way_gets_json_413(self):
        for value in (b"999999", b" " * 60 + b"999999", b"0" * 60 + b"999999",
                      b"+999999", b"\t999999 "):
            before = self.snapshot()
            out = self.mttd.raw(b"POST /submit HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/json\r\n"
                                b"Content-Length:" + value + b"\r\n\r\n{",
                                timeout=5)
            lines, answer = answer_json(out)
            self.assertEqual(lines[0], b"HTTP/1.1 413 Payload Too Large",
                             value)
            self.assertTrue(h.names_word(answer["status_message"],
                                         "max_body_size"), answer)
            self.assertEqual(self.snapshot(), before)

    def test_interim_100_continue_is_not_an_answer(self):
        mark = self.mttd.log_mark()
        resp = self.mttd.upload("POST", "/submit", h.to_json(h.submit_body(
            "MPI Install", [h.install_entry(mpi_version="continued")]))
            .encode(), headers={"Expect": "100-continue"})
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.field("status"), 0)
        time.sleep(0.3)
        self.assertNotRegex(self.mttd.log_since(mark), r"answer=libevent")


class MaxConnections(h.MttdTestCase):

    MTTD = {"server": {"max_connections": str(MAX_CONNECTIONS),
                       "idle_timeout": "30"}}

    def fill(self):
        conns = [connect(self.mttd.port) for _ in range(MAX_CONNECTIONS)]
        for s in conns:
            self.assertIn(b"HTTP/1.1 200 OK", get_root(s))
        return conns

    def refused(self):
        s = connect(self.mttd.port)
        out, _ = read_until_close(s, 5)
        s.close()
        return out

    def wait_served(self):
        deadline = time.time() + 5
        while time.time() < deadline:
            s = connect(self.mttd.port)
            try:
                if b"200 OK" in get_root(s):
                    return True
            except (ConnectionError, socket.timeout):
                pass
            finally:
                s.close()
            time.sleep(0.1)
        return False

    def test_one_more_gets_503_with_retry_after(self):
        mark = self.mttd.log_mark()
        conns = self.fill()
        out = self.refused()
        lines, answer = answer_json(out)
        self.assertEqual(lines[0], b"HTTP/1.1 503 Service Unavailable")
        self.assertIn(b"Retry-After: 1", lines)
        self.assertIn(b"Connection: close", lines)
        self.assertEqual(answer["status"], -1)
        self.assertTrue(h.names_word(answer["status_message"],
                                     "max_connections"), answer)
        # Warned at most once a second: maybe by an earlier test.
        self.assertIsNotNone(self.mttd.wait_log(
            r"WARN.* more than max_connections 5: \d+ refused", 0))
        self.assertIsNotNone(self.mttd.wait_log(
            r"req=- method=- path=- status=503 .*answer=connection", mark))
        # The connections already open are still served.
        for s in conns:
            self.assertIn(b"HTTP/1.1 200 OK", get_root(s))
            s.close()
        self.assertTrue(self.wait_served())

    def end_in_many_ways(self):
        port = self.mttd.port
        # Closed by the client while idle, mid-request, after an answer.
        for _ in range(3):
            connect(port).close()
            s = connect(port)
            s.sendall(b"POST /submit HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
            s.close()
            s = connect(port)
            get_root(s)
            s.close()
        # Reset by the client.
        s = connect(port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(b"GET / HTTP/1.1\r\n")
        s.close()
        # Closed by mttd: Connection: close, and libevent's own 400.
        self.mttd.raw(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        self.mttd.raw(b"GARBAGE\r\n\r\n")
        self.mttd.raw(b"GET / HTTP/1.0\r\n\r\n")
        # Refused past the limit.
        conns = self.fill()
        self.assertTrue(self.refused().startswith(b"HTTP/1.1 503"))
        for s in conns:
            s.close()

    def test_count_comes_back_down(self):
        self.end_in_many_ways()
        time.sleep(0.5)
        # Exactly MAX_CONNECTIONS fit again: nothing was left counted.
        conns = self.fill()
        self.assertTrue(self.refused().startswith(b"HTTP/1.1 503"))
        for s in conns:
            s.close()


def cpu_seconds(pid):
    """User and system CPU time pid has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class AcceptFails(h.MttdTestCase):
    """accept() failing for want of descriptors (here the open-file limit
    lowered under a running mttd, below what it counted at start-up):
    accepting pauses and is tried again every 100 ms, with one warning,
    the connections waiting in the listen queue are served once
    descriptors are free, and it is said when accepting works again
    (break-it helper 63: libevent tried again at every pass, at 100 %
    CPU, and logged 400,000 lines a second)."""

    MTTD = {"pg": {"idle_check": "0"}, "server": {"idle_timeout": "30"}}

    def open_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.mttd.proc.pid))

    def test_paused_then_served(self):
        pid = self.mttd.proc.pid
        was = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        mark = self.mttd.log_mark()
        limit = self.open_fds() + 2
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, was[1]))
        self.addCleanup(resource.prlimit, pid, resource.RLIMIT_NOFILE, was)
        served = [connect(self.mttd.port) for _ in range(2)]
        for s in served:
            self.assertIn(b"HTTP/1.1 200 OK", get_root(s))
        waiting = [connect(self.mttd.port) for _ in range(3)]
        for s in waiting:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        cpu = cpu_seconds(pid)
        time.sleep(1.0)
        self.assertLess(cpu_seconds(pid) - cpu, 0.2)
        self.assertIsNotNone(self.mttd.wait_log(
            r"WARNING cannot accept connections: Too many open files"
            r" \(open-file limit %d\); new connections wait in the listen"
            r" queue, tried again every 100 ms$" % limit, mark))

        resource.prlimit(pid, resource.RLIMIT_NOFILE, was)
        for s in waiting:
            s.settimeout(5)
            self.assertIn(b"HTTP/1.1 200 OK", s.recv(65536))
        for s in served + waiting:
            s.close()
        self.assertIsNotNone(self.mttd.wait_log(
            r"INFO accepting connections again, after \d+ s$", mark,
            timeout=3))
        log = self.mttd.log_since(mark)
        self.assertEqual(log.count("cannot accept connections"), 1, log)
        self.assertNotIn("Error from accept", log)


if __name__ == "__main__":
    h.main()
