#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""/detail streams (SPEC.md "Queries"): a bounded batch at a time from a
server-side cursor into a chunked reply, so that memory does not grow
with the answer; a database error after the headers ends the reply
without its last chunk (and is logged); a client that leaves ends the
query and gives its connection back clean.

200,000 test runs of about 470 bytes of JSON each (some 90 MiB of answer)
are bulk-loaded by SQL, linked to the rows of one real submission.  The
answers are read on raw sockets by a reader that can pause, so mttd
meets a slow client, not only a fast one.
"""

import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

ROWS = 200000
STDOUT_PAD = 400  # bytes of result_stdout before the row's number
MIB = 1024 * 1024
MEMORY_BOUND = 16 * MIB
# Under AddressSanitizer (contrib/test.sh sets MTTD_SANITIZED=1) freed
# memory waits in a quarantine: resident memory is checked loosely there;
# the plain build's run holds mttd to MEMORY_BOUND.
RSS_BOUND = MEMORY_BOUND * (16 if os.environ.get("MTTD_SANITIZED") else 1)
# A paused stream's backend: blocked sending rows mid-FETCH, or between
# two FETCHes.
STREAM_WAITING = ("active", "idle in transaction")
BIG_QUERY = {"phase": "test_run",
             "columns": ["test_name", "result_stdout", "start_timestamp",
                         "np"],
             "search": {"np": 3}}


def bulk_sql(rows, np=3, pad=STDOUT_PAD):
    """rows test runs linked like the first run, as one INSERT ... SELECT
    (as the superuser, without the per-row foreign key triggers: every
    link is copied from a stored row)."""
    return (
        "SET session_replication_role = replica;"
        "INSERT INTO test_run (submit_id, compute_cluster_id,"
        " mpi_install_compiler_id, mpi_get_id, mpi_install_configure_id,"
        " mpi_install_id, test_suite_id, test_build_compiler_id,"
        " test_build_id, test_name_id, performance_id, test_run_command_id,"
        " np, full_command, description_id, start_timestamp, test_result,"
        " trial, duration, environment_id, result_stdout, result_stderr,"
        " result_message_id, merge_stdout_stderr, exit_value, exit_signal,"
        " client_serial)"
        " SELECT t.submit_id, t.compute_cluster_id,"
        " t.mpi_install_compiler_id, t.mpi_get_id,"
        " t.mpi_install_configure_id, t.mpi_install_id, t.test_suite_id,"
        " t.test_build_compiler_id, t.test_build_id, t.test_name_id,"
        " t.performance_id, t.test_run_command_id, %d, 'bulk',"
        " t.description_id,"
        " timestamp '2026-06-01' + g * interval '1 second', 1, false,"
        " interval '1 second', t.environment_id,"
        " repeat('x', %d) || g, '', t.result_message_id, false, 0, -1, 1"
        " FROM generate_series(1, %d) g,"
        " (SELECT * FROM test_run ORDER BY test_run_id LIMIT 1) t;"
        "ANALYZE test_run" % (np, pad, rows))


def proc_status(pid):
    """VmRSS and VmHWM of pid, in bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def reset_peak(pid):
    """Reset VmHWM to the current RSS (Linux clear_refs 5); False when
    the kernel refuses."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class StreamReader:
    """One request on a raw socket and its chunked answer, read as slowly
    as the caller wants."""

    def __init__(self, server, path, body, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", server.port),
                                             timeout=timeout)
        data = json.dumps(body).encode("utf-8")
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                "Content-Type: application/json\r\nAuthorization: %s\r\n"
                "Content-Length: %d\r\n\r\n"
                % (path, server.port, server.auth_header(), len(data)))
        self.sock.sendall(head.encode("latin-1") + data)
        self.raw = bytearray()
        self.pos = 0
        self.parts = []
        self.status = None
        self.headers = {}
        self.received = 0  # bytes off the socket, headers included
        self.done = False  # the 0-length last chunk came
        self.eof = False   # the server closed the connection
        self.stalled = False  # nothing came for the socket's timeout

    def recv(self, limit=65536):
        """One recv of at most limit bytes; returns how many came (0 at
        the end, or when nothing came for the socket's timeout: then
        stalled is set)."""
        try:
            data = self.sock.recv(limit)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            self.stalled = True
            return 0
        if not data:
            self.eof = True
            return 0
        self.received += len(data)
        self.raw += data
        self._decode()
        return len(data)

    def recv_bytes(self, n):
        """Read until n more bytes came (or the answer ended)."""
        want = self.received + n
        while self.received < want and not (self.done or self.eof or
                                            self.stalled):
            self.recv(min(65536, want - self.received))

    def read_rest(self, timeout=60.0, each=None):
        deadline = time.time() + timeout
        while not (self.done or self.eof or self.stalled):
            if time.time() > deadline:
                raise AssertionError("the answer did not end within %ss"
                                     % timeout)
            self.recv(1 << 20)
            if each is not None:
                each()

    def _decode(self):
        if self.status is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.raw[:end]).decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            self.pos = end + 4
        while not self.done:
            eol = self.raw.find(b"\r\n", self.pos)
            if eol < 0:
                break
            size = int(bytes(self.raw[self.pos:eol]).split(b";")[0], 16)
            if len(self.raw) < eol + 2 + size + 2:
                break
            if size == 0:
                self.done = True
            else:
                self.parts.append(bytes(self.raw[eol + 2:eol + 2 + size]))
            self.pos = eol + 2 + size + 2
        # Keep the buffer small: drop what was decoded.
        if self.pos > (1 << 20):
            del self.raw[:self.pos]
            self.pos = 0

    def body(self):
        return b"".join(self.parts)

    def close(self):
        self.sock.close()


class StreamTestCase(h.MttdTestCase):
    """A database with ROWS bulk runs (np 3) beside one submitted run."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            m = cls.mttd
            _, (inst,) = m.must_submit("MPI Install", [h.install_entry()])
            _, (build,) = m.must_submit("Test Build", [h.build_entry(inst)])
            m.must_submit("Test Run", [h.run_entry(build)])
            cls.pg.psql(bulk_sql(ROWS), db=cls.db, timeout=300,
                        superuser=True)
        except BaseException:
            cls.mttd.stop()
            raise

    def mttd_backends(self):
        return self.sql("SELECT pid, state, query FROM pg_stat_activity"
                        " WHERE datname = current_database() AND"
                        " application_name = 'mttd' ORDER BY pid")

    def wait_backend(self, states, query_prefix, timeout=10.0, stable=0.0):
        """The pid of an mttd backend in one of states whose query starts
        so (and, with stable, that stayed so for that many seconds)."""
        deadline = time.time() + timeout
        while True:
            for pid, st, query in self.mttd_backends():
                if st not in states or not query.startswith(query_prefix):
                    continue
                if not stable:
                    return int(pid)
                time.sleep(stable)
                if any(r[0] == pid and r[1] in states and r[2] == query
                       for r in self.mttd_backends()):
                    return int(pid)
            if time.time() > deadline:
                self.fail("no mttd backend %s in %r: %r" % (
                    states, query_prefix, self.mttd_backends()))
            time.sleep(0.05)

    def assertBackendsIdle(self, within=2.0):
        """Every mttd backend is idle (none active, none left inside a
        transaction) within the time given."""
        deadline = time.time() + within
        while True:
            rows = self.mttd_backends()
            if rows and {r[1] for r in rows} == {"idle"}:
                return rows
            if time.time() > deadline:
                self.fail("mttd's backends are not all idle within %ss: %r"
                          % (within, rows))
            time.sleep(0.05)

    def assertServes(self):
        """mttd is up and answers the next requests, on new connections,
        through every connection of its pool."""
        self.assertTrue(self.mttd.alive(), self.mttd.log_tail())
        resp = self.mttd.http("POST", "/serial", {"serial": "serial"})
        self.assertOk(resp)
        bodies = [{"phase": "test_run", "columns": ["test_name", "np"],
                   "search": {"np": 2}}] * 6
        results = self.mttd.race([("POST", "/detail", b, None)
                                  for b in bodies])
        for resp in results:
            self.assertNotIsInstance(resp, Exception, resp)
            self.assertEqual(self.assertOk(resp)["query_data"],
                             [{"test_name": "it_hello", "np": 2}], resp)
        resp = self.mttd.http("POST", "/detail", dict(
            BIG_QUERY, options={"count_only": 1}))
        self.assertEqual(self.assertOk(resp)["query_data"], {"count": ROWS})

    def read_steadily(self, seconds, step, at_least):
        """Read step bytes every 0.1 s for seconds: the answer goes on,
        and at least that many bytes came."""
        reader = StreamReader(self.mttd, "/detail", BIG_QUERY)
        try:
            start = time.time()
            while time.time() - start < seconds:
                reader.recv_bytes(step)
                time.sleep(0.1)
            self.assertFalse(reader.eof or reader.stalled or reader.done)
            self.assertGreater(reader.received, at_least)
            self.assertEqual(reader.status, 200)
        finally:
            reader.close()

    def check_rows(self, rows):
        """The ROWS bulk rows, each exactly, in any order."""
        self.assertEqual(len(rows), ROWS)
        seen = set()
        pattern = re.compile(r"x{%d}(\d+)$" % STDOUT_PAD)
        for row in rows:
            self.assertEqual(set(row), {"test_name", "result_stdout",
                                        "start_timestamp", "np"}, row)
            self.assertEqual((row["test_name"], row["np"]), ("it_hello", 3),
                             row)
            match = pattern.match(row["result_stdout"])
            self.assertIsNotNone(match, row)
            g = int(match.group(1))
            seen.add(g)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S",
                                  time.gmtime(1780272000 + g))
            self.assertEqual(row["start_timestamp"], stamp, row)
        missing = set(range(1, ROWS + 1)) - seen
        self.assertFalse(missing, "%d rows missing, e.g. %r" % (
            len(missing), sorted(missing)[:5]))


class SlowReader(StreamTestCase):
    """A whole answer of ROWS rows to a reader that pauses."""

    def test_paused_reader_gets_all_rows_in_flat_memory(self):
        pid = self.mttd.proc.pid
        before = proc_status(pid)["VmRSS"]
        peak_reset = reset_peak(pid)
        samples = [before]

        def sample():
            samples.append(proc_status(pid)["VmRSS"])

        reader = StreamReader(self.mttd, "/detail", BIG_QUERY)
        try:
            for _ in range(5):
                reader.recv_bytes(65536)
                time.sleep(0.2)
                sample()
            self.assertEqual(reader.status, 200)
            self.assertEqual(reader.headers.get("transfer-encoding"),
                             "chunked", reader.headers)
            self.assertEqual(reader.headers.get("content-type"),
                             "application/json", reader.headers)
            self.assertFalse(reader.done or reader.eof)
            counter = [0]

            def every_few():
                counter[0] += 1
                if counter[0] % 20 == 0:
                    sample()

            reader.read_rest(each=every_few)
        finally:
            reader.close()
        sample()
        self.assertFalse(reader.stalled, "the answer stalled")
        self.assertTrue(reader.done, "no last chunk")
        body = reader.body()
        peak = max(samples)
        if peak_reset:
            peak = max(peak, proc_status(pid)["VmHWM"])
        answer = json.loads(body.decode("utf-8"))
        self.assertEqual(set(answer), {"status", "status_message",
                                       "query_data"})
        self.assertEqual((answer["status"], answer["status_message"]),
                         (0, "Success"))
        self.check_rows(answer["query_data"])
        self.assertGreater(len(body), 5 * MEMORY_BOUND)
        self.assertLess(peak - before, RSS_BOUND,
                        "mttd grew from %d to %d bytes for an answer of %d"
                        % (before, peak, len(body)))
        self.assertBackendsIdle()
        self.assertServes()


    def test_paused_reader_of_short_columns(self):
        """Columns of bounded size (no long text, no array) come a batch
        at a time: the next FETCH goes out before a batch is written, or,
        when the chunk before has not left, waits with that batch.  All
        rows, exact, in flat memory."""
        pid = self.mttd.proc.pid
        before = proc_status(pid)["VmRSS"]
        columns = ["start_timestamp", "test_name", "np", "duration",
                   "test_result", "platform_name"]
        query = {"phase": "test_run", "columns": columns,
                 "search": {"np": 3}}
        samples = [before]
        reader = StreamReader(self.mttd, "/detail", query)
        counter = [0]

        def now_and_then():
            # Pauses while the answer goes, not only at its start.
            counter[0] += 1
            if counter[0] % 40 == 0:
                samples.append(proc_status(pid)["VmRSS"])
                time.sleep(0.1)

        try:
            for _ in range(5):
                reader.recv_bytes(65536)
                time.sleep(0.2)
            samples.append(proc_status(pid)["VmRSS"])
            # Paused between two batches: the cursor's backend waits
            # idle in its transaction, after a FETCH sized to a chunk.
            waiting = [(state, query) for _, state, query
                       in self.mttd_backends() if state != "idle"]
            self.assertEqual(len(waiting), 1, waiting)
            self.assertEqual(waiting[0][0], "idle in transaction")
            fetched = re.fullmatch(r"FETCH (\d+) FROM mttd_rows",
                                   waiting[0][1])
            self.assertIsNotNone(fetched, waiting)
            self.assertTrue(256 < int(fetched.group(1)) <= 20000, waiting)
            reader.read_rest(each=now_and_then)
        finally:
            reader.close()
        self.assertTrue(reader.done, "no last chunk")
        # Each batch's FETCH is sized to about a chunk of 1 MiB by the
        # rows written before it (the second one too).
        sizes = [len(part) for part in reader.parts]
        self.assertLess(max(sizes), MIB * 5 // 4, sizes[:4])
        answer = json.loads(reader.body().decode("utf-8"))
        self.assertEqual((answer["status"], answer["status_message"]),
                         (0, "Success"))
        rows = answer["query_data"]
        self.assertEqual(len(rows), ROWS)
        stamps = set()
        for row in rows:
            self.assertEqual(list(row), columns, row)
            self.assertEqual(
                (row["test_name"], row["np"], row["duration"],
                 row["test_result"]), ("it_hello", 3, "0:00:01", 1), row)
            stamps.add(row["start_timestamp"])
        self.assertEqual(stamps, {
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1780272000 + g))
            for g in range(1, ROWS + 1)})
        self.assertLess(max(samples) - before, RSS_BOUND)
        self.assertBackendsIdle()
        self.assertServes()


class LateBigRows(StreamTestCase):
    """After ROWS small rows, 150 of about 1 MB each (compressed to
    nothing on disk): sizing a FETCH on the rows seen so far would take
    all of them in one batch; rows read one at a time hold at most one."""

    BIG = 150
    BIG_PAD = 1000000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.pg.psql(bulk_sql(cls.BIG, pad=cls.BIG_PAD), db=cls.db,
                        timeout=300, superuser=True)
        except BaseException:
            cls.mttd.stop()
            raise

    def test_big_rows_after_small_ones_in_flat_memory(self):
        pid = self.mttd.proc.pid
        before = proc_status(pid)["VmRSS"]
        peak_reset = reset_peak(pid)
        samples = [before]
        reader = StreamReader(self.mttd, "/detail", dict(
            BIG_QUERY, columns=["result_stdout"]))
        try:
            counter = [0]

            def every_few():
                counter[0] += 1
                if counter[0] % 10 == 0:
                    samples.append(proc_status(pid)["VmRSS"])

            reader.read_rest(timeout=120, each=every_few)
        finally:
            reader.close()
        self.assertTrue(reader.done, "no last chunk")
        peak = max(samples)
        if peak_reset:
            peak = max(peak, proc_status(pid)["VmHWM"])
        rows = json.loads(reader.body().decode("utf-8"))["query_data"]
        sizes = [len(r["result_stdout"]) for r in rows]
        self.assertEqual(len(rows), ROWS + self.BIG)
        self.assertEqual(sum(1 for n in sizes if n > self.BIG_PAD), self.BIG)
        self.assertGreater(sum(sizes), self.BIG * self.BIG_PAD)
        self.assertLess(peak - before, RSS_BOUND,
                        "mttd grew from %d to %d bytes" % (before, peak))
        self.assertBackendsIdle()


class DrainGivesUp(StreamTestCase):
    """SIGTERM while a paused reader holds a stream: the drain gives up
    after drain_timeout, and the cut answer still gets its access line."""

    MTTD = {"server": {"drain_timeout": "1"}}

    def test_cut_stream_is_logged(self):
        mark = self.mttd.log_mark()
        reader = StreamReader(self.mttd, "/detail", BIG_QUERY)
        try:
            reader.recv_bytes(65536)
            self.assertEqual(reader.status, 200)
            status = self.mttd.stop()
        finally:
            reader.close()
        log = self.mttd.log_since(mark)
        try:
            # The contexts left are freed at exit: a sanitizer build
            # exits 0 too.
            self.assertEqual(status, 0, log[-3000:])
            self.assertRegex(log, r"WARNING req=\d+ POST /detail: still in"
                             r" flight when the drain gave up")
            self.assertRegex(log, r"ACCESS req=\d+ method=POST path=/detail"
                             r" status=599 bytes=\d+ ")
        finally:
            self.mttd.start()


class SecondSignal(StreamTestCase):
    """A second SIGTERM exits at once, and every request in flight still
    gets its access line: the paused stream's answer is cut (599), the
    stream waiting for the only stream slot never began (503)."""

    MTTD = {"server": {"drain_timeout": "60"},
            "pg": {"pool_size": "2", "stream_share": "1"}}

    def test_second_signal_logs_every_request(self):
        mark = self.mttd.log_mark()
        paused = StreamReader(self.mttd, "/detail", BIG_QUERY)
        waiting = None
        try:
            paused.recv_bytes(65536)
            self.assertEqual(paused.status, 200)
            waiting = StreamReader(self.mttd, "/detail", BIG_QUERY)
            deadline = time.time() + 5
            while len(re.findall(r"req=\d+ POST /detail from",
                                 self.mttd.log_since(mark))) < 2:
                self.assertLess(time.time(), deadline, "not read")
                time.sleep(0.05)
            self.mttd.proc.send_signal(signal.SIGTERM)
            self.assertIsNotNone(self.mttd.wait_log(r"stopping", mark))
            self.mttd.proc.send_signal(signal.SIGTERM)
            status = self.mttd.proc.wait(30)
        finally:
            paused.close()
            if waiting is not None:
                waiting.close()
        log = self.mttd.log_since(mark)
        try:
            self.assertEqual(status, 0, log[-3000:])
            self.assertEqual(len(re.findall(
                r"WARNING req=\d+ POST /detail: still in flight when a"
                r" second signal came", log)), 2, log[-3000:])
            self.assertEqual(sorted(re.findall(
                r"ACCESS req=\d+ method=POST path=/detail status=(\d+) ",
                log)), ["503", "599"], log[-3000:])
        finally:
            self.mttd.start()


class SecondSignalAfterClientsLeft(StreamTestCase):
    """Clients that left (reset) just before a second signal, in the same
    loop pass (mttd is stopped meanwhile): their requests, detached from
    their connections by libevent, are freed at exit too, so a sanitizer
    build exits 0 (break-it helper 25: LeakSanitizer found them)."""

    MTTD = {"server": {"drain_timeout": "60"},
            "pg": {"pool_size": "4", "stream_share": "2"}}

    def test_left_then_second_signal(self):
        lock = h.HeldLock(self, "test_run")
        count = {"phase": "test_run", "columns": ["test_name"],
                 "search": {}, "options": {"count_only": 1}}
        mark = self.mttd.log_mark()
        summary = {"phase": "test_run", "columns": ["test_name"],
                   "search": {}}
        readers = [StreamReader(self.mttd, "/detail", count),
                   StreamReader(self.mttd, "/summary", summary)]
        self.wait_lock_waiters(lambda n: n >= 2)
        time.sleep(0.3)
        pid = self.mttd.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            for reader in readers:
                reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
                reader.close()
            time.sleep(0.2)
            self.mttd.proc.send_signal(signal.SIGTERM)
            self.mttd.proc.send_signal(signal.SIGINT)
            time.sleep(0.1)
        finally:
            os.kill(pid, signal.SIGCONT)
        status = self.mttd.proc.wait(30)
        lock.release()
        log = self.mttd.log_since(mark)
        try:
            self.assertEqual(status, 0, log[-3000:])
            self.assertNotIn("Sanitizer", log)
            self.assertEqual(sorted(re.findall(
                r"ACCESS req=\d+ method=POST path=(/\w+) status=\d+ ",
                log)), ["/detail", "/summary"], log[-3000:])
        finally:
            self.mttd.start()


class SteadyReader(StreamTestCase):
    """Short clocks: a reader that keeps reading, slowly, is never cut,
    and a client that sends while its answer is written is bounded."""

    MTTD = {"server": {"request_timeout": "1", "idle_timeout": "1",
                       "answer_timeout": "1"}}

    def test_slow_steady_reader_is_not_cut(self):
        # 300 KB/s for 7 s: a 1 MiB chunk takes over 3 s to leave,
        # longer than any timeout here, yet bytes keep moving.
        self.read_steadily(7, 30000, 1500000)
        self.assertBackendsIdle(within=5.0)

    def test_reader_that_stops_is_cut_after_request_timeout(self):
        mark = self.mttd.log_mark()
        reader = StreamReader(self.mttd, "/detail", BIG_QUERY)
        try:
            reader.recv_bytes(4096)
            stopped = time.time()
            line = self.mttd.wait_log(
                r"path=/detail status=499 ", mark, timeout=10)
            self.assertIsNotNone(line, self.mttd.log_tail())
            # answer_timeout (1 s), looked at every quarter of it.
            self.assertLess(time.time() - stopped, 3.0)
            self.assertRegex(self.mttd.log_since(mark),
                             r"peer=127\.0\.0\.1 POST /detail: answer not"
                             r" read for answer_timeout \(1 s\), \d+ bytes"
                             r" waiting: connection closed")
        finally:
            reader.close()
        self.assertBackendsIdle(within=5.0)
        self.assertServes()

    def test_bytes_sent_during_an_answer_are_bounded(self):
        pid = self.mttd.proc.pid
        before = proc_status(pid)["VmRSS"]
        reader = StreamReader(self.mttd, "/detail", BIG_QUERY)
        try:
            reader.recv_bytes(4096)
            reader.sock.setblocking(False)
            junk, sent = b"x" * 65536, 0
            deadline = time.time() + 3
            while time.time() < deadline and sent < 200 << 20:
                try:
                    sent += reader.sock.send(junk)
                except BlockingIOError:
                    time.sleep(0.01)
                except (ConnectionResetError, BrokenPipeError):
                    # Not reading for request_timeout: cut, rightly.
                    break
            growth = proc_status(pid)["VmRSS"] - before
            # mttd stopped reading: the kernel's buffers filled.
            self.assertLess(sent, 32 << 20)
            self.assertLess(growth, RSS_BOUND)
        finally:
            reader.close()
        self.assertServes()


class VerySlowReader(StreamTestCase):
    """A reader far slower than the kernel's buffers are large: what it
    takes shows only every few seconds, in bursts."""

    MTTD = {"server": {"request_timeout": "1", "idle_timeout": "1",
                       "answer_timeout": "8"}}

    def test_very_slow_steady_reader_is_not_cut(self):
        # 40 KB/s for 15 s: the kernel says the socket is writable again
        # only once a good part of its buffer (megabytes) is free, far
        # longer than any timeout here; what counts is that the client
        # takes bytes (on the loopback, 64 to 96 KiB at a time, every 2
        # or 3 s), within answer_timeout, not request_timeout.
        mark = self.mttd.log_mark()
        self.read_steadily(15, 4000, 500000)
        self.assertNotIn("answer not read", self.mttd.log_since(mark))
        self.assertBackendsIdle(within=5.0)


class BigSummary(StreamTestCase):
    """/summary of more groups than mttd answers from one statement
    (10,000): the rest comes through the cursor, in flat memory."""

    def summary(self, options=None, columns=("start_timestamp",)):
        body = {"phase": "test_run", "columns": list(columns),
                "search": {"np": 3}}
        if options is not None:
            body["options"] = options
        resp = self.mttd.http("POST", "/summary", body)
        answer = self.assertOk(resp)
        self.assertEqual(set(answer), {"status", "status_message",
                                       "query_data"})
        return answer["query_data"]

    @staticmethod
    def group(g):
        return {"start_timestamp": time.strftime(
            "%Y-%m-%d %H:%M:%S", time.gmtime(1780272000 + g)),
            "test_result_failed": 0, "test_result_passed": 1,
            "test_result_skipped": 0, "test_result_timed_out": 0,
            "test_result_unknown": 0}

    def test_groups_past_the_cap(self):
        pid = self.mttd.proc.pid
        before = proc_status(pid)["VmRSS"]
        reset_peak(pid)
        rows = self.summary()
        self.assertEqual(len(rows), ROWS)
        rows.sort(key=lambda r: r["start_timestamp"])
        self.assertTrue(rows == [self.group(g) for g in range(1, ROWS + 1)],
                        "the groups differ, e.g. %r" % rows[:2])
        peak = proc_status(pid)["VmHWM"]
        self.assertLess(peak - before, RSS_BOUND)
        # Pages on both sides of the cap, in the groups' order.
        for limit in (9999, 10000, 10001, 25000):
            with self.subTest(limit=limit):
                rows = self.summary({"limit": limit, "offset": 7})
                self.assertTrue(
                    rows == [self.group(g) for g in range(8, 8 + limit)],
                    "%d rows, first %r" % (len(rows), rows[:1]))
        rows = self.summary({"order_by": "-start_timestamp",
                             "offset": ROWS - 3})
        self.assertEqual(rows, [self.group(g) for g in (3, 2, 1)])
        self.assertEqual(self.summary({"count_only": 1}), {"count": ROWS})
        self.assertEqual(self.summary(columns=["np", "test_name"]), [{
            "np": 3, "test_name": "it_hello", "test_result_failed": 0,
            "test_result_passed": ROWS, "test_result_skipped": 0,
            "test_result_timed_out": 0, "test_result_unknown": 0}])
        self.assertBackendsIdle()


class BigTestSuiteList(h.MttdTestCase):
    """/info/testsuite is streamed through the cursor, in flat memory
    (break-it helper 60: 650,000 tests were made whole, 194 MB for one
    answer; helper 62: a suite's long description came on each of its
    tests' rows, and a cap by rows bounded no bytes)."""

    TESTS = 200000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.pg.psql(
                "INSERT INTO test_suites (suite_name, test_suite_description)"
                " VALUES ('big', 'the big one'), ('cap', ''), ('empty', ''),"
                " ('small', 'one test'), ('wordy', repeat('w', 2 << 20));"
                "INSERT INTO test_names (test_suite_id, test_name,"
                " test_name_description) SELECT s.test_suite_id,"
                " 'test_' || lpad(g::text, 6, '0'), repeat('d', 40) || g"
                " FROM test_suites s, generate_series(1, %d) g WHERE"
                " s.suite_name = 'big' UNION ALL SELECT s.test_suite_id,"
                " 'cap_' || lpad(g::text, 5, '0'), '' FROM test_suites s,"
                " generate_series(1, 10000) g WHERE s.suite_name = 'cap'"
                " UNION ALL SELECT test_suite_id, 'only', 'its text' FROM"
                " test_suites WHERE suite_name = 'small' UNION ALL SELECT"
                " s.test_suite_id, 'w' || g, '' FROM test_suites s,"
                " generate_series(1, 2000) g WHERE s.suite_name = 'wordy';"
                " ANALYZE"
                % cls.TESTS, db=cls.db, timeout=300)
        except BaseException:
            cls.mttd.stop()
            raise

    @staticmethod
    def suite(name, description, tests):
        return {"suite_name": name, "test_suite_description": description,
                "tests": tests, "test_build_count": 0, "test_run_count": 0,
                "last_start_timestamp": ""}

    def big(self):
        return self.suite("big", "the big one", [
            {"test_name": "test_%06d" % g,
             "test_description": "d" * 40 + str(g)}
            for g in range(1, self.TESTS + 1)])

    def cap(self):
        return self.suite("cap", "", [
            {"test_name": "cap_%05d" % g, "test_description": ""}
            for g in range(1, 10001)])

    def wordy(self):
        return self.suite("wordy", "w" * (2 << 20), [
            {"test_name": "w%d" % g, "test_description": ""}
            for g in sorted(range(1, 2001), key=str)])

    def listed(self, search):
        return StreamReader(self.mttd, "/info/testsuite",
                            {"search": {"suite_name": search}})

    def test_long_list_streamed_in_flat_memory(self):
        pid = self.mttd.proc.pid
        before = proc_status(pid)["VmRSS"]
        reset_peak(pid)
        reader = self.listed({"like": "%"})
        reader.read_rest()
        reader.close()
        self.assertEqual((reader.status, reader.headers.get(
            "transfer-encoding")), (200, "chunked"))
        answer = json.loads(reader.body())
        self.assertEqual(set(answer), {"status", "status_message",
                                       "query_data"})
        # The schema's placeholder suite (row 0) sorts last.
        (undef,) = self.assertOk(self.mttd.http(
            "POST", "/info/testsuite",
            {"search": {"suite_name": "undef"}}))["query_data"]
        self.assertTrue(answer["query_data"] == [
            self.big(), self.cap(), self.suite("empty", "", []),
            self.suite("small", "one test", [
                {"test_name": "only", "test_description": "its text"}]),
            undef, self.wordy()], "the suites differ")
        self.assertLess(proc_status(pid)["VmHWM"] - before, RSS_BOUND)
        # A client that leaves mid-stream leaves nothing behind (the
        # suite the writer had open is freed with the stream).
        reader = self.listed({"like": "%"})
        reader.recv_bytes(200000)
        reader.close()
        resp = self.mttd.http("POST", "/info/testsuite",
                              {"search": {"suite_name": "small"}})
        self.assertEqual(self.assertOk(resp)["query_data"][0]["tests"],
                         [{"test_name": "only", "test_description":
                           "its text"}])

    def test_small_list_streamed_too(self):
        reader = self.listed("small")
        reader.read_rest()
        reader.close()
        self.assertEqual(reader.headers.get("transfer-encoding"), "chunked")
        self.assertEqual(
            reader.body(),
            b'{"status":0,"status_message":"Success","query_data":['
            b'{"suite_name":"small","test_suite_description":"one test",'
            b'"tests":[{"test_name":"only","test_description":"its text"}],'
            b'"test_build_count":0,"test_run_count":0,'
            b'"last_start_timestamp":""}]}')

    def test_long_description_sent_once(self):
        # 2 MiB of description over 2,000 tests: 4 GB when it came on
        # every row (it did); once here, in flat memory.
        pid = self.mttd.proc.pid
        before = proc_status(pid)["VmRSS"]
        reset_peak(pid)
        start = time.time()
        reader = self.listed("wordy")
        reader.read_rest()
        reader.close()
        (wordy,) = json.loads(reader.body())["query_data"]
        self.assertTrue(wordy == self.wordy(), "the suite differs")
        self.assertLess(time.time() - start, 20)
        self.assertLess(proc_status(pid)["VmHWM"] - before, RSS_BOUND)


class BigSummaryLeft(StreamTestCase):
    """A large /summary whose client leaves after its first statement
    (over 10,000 groups) while it waits for a stream's share of the pool
    (held by two paused readers): the statement's call is gone, the wait
    is given up (a use after free, found by break-it helper 14)."""

    BODY = {"phase": "test_run", "columns": ["start_timestamp"],
            "search": {"np": 3}}

    def test_leaves_while_waiting_for_a_stream_slot(self):
        m = self.mttd
        holders = [StreamReader(m, "/summary", self.BODY) for _ in range(2)]
        try:
            for reader in holders:
                reader.recv_bytes(4096)
                self.assertEqual(reader.status, 200)
            mark = m.log_mark()
            third = StreamReader(m, "/summary", self.BODY)
            # Its first statement (capped: "SELECT * FROM (...) q LIMIT")
            # ends with 200,000 groups, over the cap, and it waits again,
            # for a stream slot.
            capped = "SELECT * FROM ("
            time.sleep(1.0)
            deadline = time.time() + 20
            while any(r[1] == "active" and r[2].startswith(capped)
                      for r in self.mttd_backends()):
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            time.sleep(0.3)
            self.assertNotIn("status=", m.log_since(mark))
            third.close()
            self.assertIsNotNone(m.wait_log(
                r"req=\d+ client went away before the query ran", mark,
                timeout=3), m.log_tail())
            self.assertIsNotNone(m.wait_log(
                r"path=/summary status=499", mark, timeout=3), m.log_tail())
            self.assertTrue(m.alive(), m.log_tail())
        finally:
            for reader in holders:
                reader.close()
        self.assertBackendsIdle(within=5.0)
        self.assertServes()


class BigSummaryKeepsItsConnection(StreamTestCase):
    """A /summary past the cap streams on the connection its capped
    statement ran on when the streams' share has room (break-it helper
    52: it gave that connection up and waited again, behind requests
    queued meanwhile, so it could wait twice db_wait_timeout, and lose
    its slot to them: here a stream queued behind it took the slot and
    it got 503)."""

    MTTD = {"server": {"db_wait_timeout": "4"},
            "pg": {"pool_size": "2", "stream_share": "1"}}
    SUMMARY = {"phase": "test_run", "columns": ["start_timestamp"],
               "search": {"np": 3}}

    def wait_requests(self, mark, n):
        deadline = time.time() + 5
        while len(re.findall(r"req=\d+ POST /(detail|summary) from",
                             self.mttd.log_since(mark))) < n:
            self.assertLess(time.time(), deadline, "not read")
            time.sleep(0.02)

    def test_streams_without_a_second_wait(self):
        m = self.mttd
        mark = m.log_mark()
        holder = StreamReader(m, "/detail", BIG_QUERY)
        summary = queued = None
        try:
            holder.recv_bytes(65536)
            self.assertEqual(holder.status, 200)
            summary = StreamReader(m, "/summary", self.SUMMARY)
            self.wait_requests(mark, 2)
            queued = StreamReader(m, "/detail", BIG_QUERY)
            self.wait_requests(mark, 3)
            holder.close()
            summary.read_rest(timeout=60)
            self.assertEqual(summary.status, 200, summary.raw[:300])
            self.assertTrue(summary.done)
            rows = json.loads(summary.body())["query_data"]
            self.assertEqual(len(rows), ROWS)
            queued.recv_bytes(65536)
            self.assertEqual(queued.status, 200)
        finally:
            for reader in (holder, summary, queued):
                if reader is not None:
                    reader.close()
        self.assertBackendsIdle(within=5.0)


class BigRowGivesItsBuffersBack(h.MttdTestCase):
    """A row of megabytes, read one at a time for an export, grows
    libpq's input buffer to its size, and libpq never shrinks it: the
    connection is made again on release (break-it helper 54: four
    exports of a 64 MiB row kept 269 MiB)."""

    def test_memory_after_exports_of_a_large_row(self):
        _, build = self.mttd.install_and_build()
        big = "x" * (12 * MIB)
        self.mttd.must_submit("Test Run", [h.run_entry(
            build, test_name="big-row", result_stdout=big)])
        time.sleep(1.5)  # The submission's own buffers go back first.
        pid = self.mttd.proc.pid
        before = proc_status(pid)["VmRSS"]
        mark = self.mttd.log_mark()
        body = {"phase": "test_run", "search": {"test_name": "big-row"},
                "columns": ["test_name", "result_stdout"]}
        for _ in range(3):
            answer = self.assertOk(self.mttd.http("POST", "/detail", body,
                                                  timeout=60))
            self.assertEqual([len(r["result_stdout"])
                              for r in answer["query_data"]], [len(big)])
        self.assertEqual(len(re.findall(
            r"INFO db conn \d: made again after a row of 12 MiB, to give"
            r" its buffers back", self.mttd.log_since(mark))), 3)
        time.sleep(1.5)
        after = proc_status(pid)["VmRSS"]
        if not os.environ.get("MTTD_SANITIZED"):
            self.assertLess(after - before, 8 * MIB,
                            "VmRSS %d before, %d after" % (before, after))
        self.assertOk(self.mttd.http("POST", "/detail", body, timeout=60))


class QueriesLeaveSubmissionsAConnection(h.MttdTestCase):
    """Queries, a count and a small /summary answered at once too, hold
    every connection of the pool but one: their statements may run as
    long as a stream's (a grouping of millions of rows), and they had
    held the connections submissions need (break-it helper 52:
    submissions waited seconds behind six summaries, and one got 503)."""

    MTTD = {"server": {"db_wait_timeout": "2"},
            "pg": {"pool_size": "2", "stream_share": "1"}}

    def query(self, path, body, answers):
        answers.append(self.mttd.http("POST", path, body))

    def test_submissions_keep_their_connection(self):
        lock = h.HeldLock(self, "test_run")
        count = {"phase": "test_run", "columns": ["test_name"],
                 "search": {}, "options": {"count_only": 1}}
        summary = {"phase": "test_run", "columns": ["test_name"],
                   "search": {}}
        counted, summed = [], []
        first = threading.Thread(target=self.query,
                                 args=("/detail", count, counted))
        first.start()
        self.wait_lock_waiters(lambda n: n == 1)
        second = threading.Thread(target=self.query,
                                  args=("/summary", summary, summed))
        second.start()
        time.sleep(0.3)
        start = time.time()
        resp = self.mttd.http("POST", "/serial", {"serial": "x"})
        self.assertEqual((resp.status, resp.field("status")), (200, 0), resp)
        self.assertLess(time.time() - start, 1.0)
        second.join(10)
        (resp,) = summed
        self.assertEqual(resp.status, 503, resp)
        self.assertEqual(resp.field("status_message"),
                         "no database connection came free in time; try"
                         " again later")
        self.assertEqual(resp.header("Retry-After"), "1")
        lock.release()
        first.join(10)
        (resp,) = counted
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.field("query_data"), {"count": 0})


class StalledExportsLeaveQueries(StreamTestCase):
    """Streams whose readers stopped hold the streams' share until
    answer_timeout, not the connections queries answered at once need
    (break-it helper 53: two paused exports made every count and small
    summary wait, then 503)."""

    def test_counts_and_summaries_go_on(self):
        m = self.mttd
        paused = [StreamReader(m, "/detail", BIG_QUERY) for _ in range(2)]
        try:
            for reader in paused:
                reader.recv_bytes(65536)
                self.assertEqual(reader.status, 200)
            start = time.time()
            count = self.assertOk(m.http("POST", "/detail", {
                "phase": "test_run", "columns": ["np"],
                "search": {"np": 3}, "options": {"count_only": 1}}))
            self.assertEqual(count["query_data"], {"count": ROWS})
            groups = self.assertOk(m.http("POST", "/summary", {
                "phase": "test_run", "columns": ["np"],
                "search": {"np": 3}}))["query_data"]
            self.assertEqual([g["test_result_passed"] for g in groups],
                             [ROWS])
            self.assertLess(time.time() - start, 5.0)
            self.assertOk(m.http("POST", "/serial", {"serial": "x"}))
        finally:
            for reader in paused:
                reader.close()
        self.assertBackendsIdle(within=5.0)


class StalledExportsLeaveQueriesInAPoolOf3(StreamTestCase):
    """The default share leaves a pool of 3 one connection for the
    queries answered at once (break-it helper 55: it was 2 of 3, and two
    paused exports held both connections queries may have)."""

    MTTD = {"server": {"db_wait_timeout": "4"}, "pg": {"pool_size": "3"}}

    def test_count_beside_two_exports(self):
        m = self.mttd
        first = StreamReader(m, "/detail", BIG_QUERY)
        second = None
        try:
            first.recv_bytes(65536)
            self.assertEqual(first.status, 200)
            second = StreamReader(m, "/detail", BIG_QUERY)
            time.sleep(0.5)
            count = self.assertOk(m.http("POST", "/detail", {
                "phase": "test_run", "columns": ["np"],
                "search": {"np": 3}, "options": {"count_only": 1}}))
            self.assertEqual(count["query_data"], {"count": ROWS})
        finally:
            first.close()
            if second is not None:
                second.close()
        self.assertBackendsIdle(within=5.0)


class RoleLimitedPool(h.MttdTestCase):
    """Connections the server will not make again (its role's connection
    limit reached): the queue goes on, and submissions keep one of the
    connections left (break-it helper 55)."""

    MTTD = {"server": {"db_wait_timeout": "4"},
            "pg": {"pool_size": "4", "stream_share": "1", "idle_check": "0"}}

    def superuser_sql(self, sql):
        return self.pg.psql(sql, db=self.db, superuser=True)

    def limit_role_to(self, n):
        self.superuser_sql("ALTER ROLE mtt CONNECTION LIMIT %d" % n)
        self.addCleanup(self.superuser_sql,
                        "ALTER ROLE mtt CONNECTION LIMIT -1")

    def role_connections(self):
        return int(self.superuser_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'mtt'"
        )[0][0])

    def mttd_backend(self, where):
        rows = self.superuser_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = '%s' AND"
            " application_name = 'mttd' AND %s" % (self.db, where))
        return int(rows[0][0]) if rows else None

    def restart(self):
        self.mttd.stop()
        self.mttd.start()

    def setUp(self):
        """Every connection of the pool made (the last test restarted
        mttd): the role's limit below is counted from them."""
        deadline = time.time() + 20
        while self.superuser_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
                " AND application_name = 'mttd'" % self.db) != [["4"]]:
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)

    def test_1_waiter_served_when_the_lost_connection_stays_down(self):
        """A stream waits for the share, held by a stream whose backend
        is terminated and cannot be made again: once that stream's
        connection is given back, the waiter gets one of the idle ones
        (it waited its whole db_wait_timeout beside them)."""
        self.addCleanup(self.restart)
        lock = h.HeldLock(self, "test_run")
        body = {"phase": "test_run", "columns": ["test_name"],
                "search": {}}
        answers = {}

        def detail(name):
            answers[name] = self.mttd.http("POST", "/detail", body)

        holder = threading.Thread(target=detail, args=("holder",))
        holder.start()
        self.wait_lock_waiters(lambda n: n == 1)
        mark = self.mttd.log_mark()
        waiter = threading.Thread(target=detail, args=("waiter",))
        waiter.start()
        deadline = time.time() + 5
        while "POST /detail from" not in self.mttd.log_since(mark):
            self.assertLess(time.time(), deadline)
            time.sleep(0.02)
        # Less the lock's own session, which ends before the waiter runs.
        self.limit_role_to(self.role_connections() - 2)
        backend = self.mttd_backend("wait_event_type = 'Lock'")
        self.superuser_sql("SELECT pg_terminate_backend(%d)" % backend)
        holder.join(10)
        self.assertEqual(answers["holder"].status, 503)
        start = time.time()
        lock.release()
        waiter.join(10)
        self.assertEqual(answers["waiter"].status, 200, answers["waiter"])
        self.assertEqual(answers["waiter"].field("query_data"), [])
        self.assertLess(time.time() - start, 2.0)

    def test_2_submissions_keep_a_connection(self):
        """One connection the server will not make again: queries hold
        at most all but one of the three left."""
        self.addCleanup(self.restart)
        lock = h.HeldLock(self, "test_run")
        self.limit_role_to(self.role_connections() - 1)
        backend = self.mttd_backend("state = 'idle'")
        self.superuser_sql("SELECT pg_terminate_backend(%d)" % backend)
        self.assertIsNotNone(self.mttd.wait_log(
            r"db conn \d: .*too many connections for role"))
        count = {"phase": "test_run", "columns": ["np"], "search": {},
                 "options": {"count_only": 1}}
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(
            self.mttd.http("POST", "/detail", count))) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.time() + 10
        while self.mttd_backend("wait_event_type = 'Lock'") is None or len(
                self.superuser_sql(
                    "SELECT pid FROM pg_stat_activity WHERE application_name"
                    " = 'mttd' AND wait_event_type = 'Lock'")) < 2:
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        time.sleep(0.3)
        start = time.time()
        resp = self.mttd.http("POST", "/serial", {"serial": "x"})
        self.assertEqual((resp.status, resp.field("status")), (200, 0), resp)
        self.assertLess(time.time() - start, 1.0)
        lock.release()
        for t in threads:
            t.join(10)
        self.assertEqual(sorted(a.status for a in answers),
                         [200, 200, 200])


class DatabaseErrorMidStream(StreamTestCase):
    """The backend of a stream dies while a paused client holds it; the
    client reads on after the pool's reconnect delay has passed (the lost
    slot is not remade while the stream holds it)."""

    def test_error_after_the_reconnect_delay(self):
        cut_stream(self, pause_after_kill=2.5)


class CutHttp10Stream(StreamTestCase):
    """HTTP/1.0 has no last chunk to miss: an answer cut by a database
    error ends in a reset, not a close that would end it as whole (break-
    it helper 52: curl --http1.0 exited 0 with a cut export), and so does
    one cut when a drain gives up (helper 53)."""

    MTTD = {"server": {"drain_timeout": "1"}}

    def http10_stream(self):
        """An HTTP/1.0 export, its first 64 KiB read."""
        m = self.mttd
        data = json.dumps(BIG_QUERY).encode()
        sock = socket.create_connection(("127.0.0.1", m.port), timeout=30)
        self.addCleanup(sock.close)
        sock.sendall(("POST /detail HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nAuthorization: %s"
                      "\r\nContent-Length: %d\r\n\r\n"
                      % (m.auth_header(), len(data))).encode() + data)
        got = b""
        while len(got) < 65536:
            part = sock.recv(65536 - len(got))
            self.assertTrue(part, got[:200])
            got += part
        self.assertTrue(got.startswith(b"HTTP/1.0 200 OK\r\n"), got[:100])
        self.assertNotIn(b"chunked", got.split(b"\r\n\r\n")[0].lower())
        return sock

    def test_drain_giving_up_resets(self):
        m = self.mttd
        sock = self.http10_stream()
        mark = m.log_mark()
        try:
            m.proc.send_signal(signal.SIGTERM)
            self.assertEqual(m.proc.wait(30), 0)
            self.assertIn("drain: giving up", m.log_since(mark))
            with self.assertRaises(ConnectionResetError):
                while sock.recv(1 << 20):
                    pass
        finally:
            m.start()

    def test_cut_answer_ends_in_a_reset(self):
        m = self.mttd
        sock = self.http10_stream()
        mark = m.log_mark()
        pid = self.wait_backend(STREAM_WAITING, "FETCH", stable=0.3)
        self.pg.psql("SELECT pg_terminate_backend(%d)" % pid, db=self.db,
                     superuser=True)
        # Read on: mttd meets the error when the client has taken what
        # it holds.
        with self.assertRaises(ConnectionResetError):
            while sock.recv(1 << 20):
                pass
        self.assertIsNotNone(m.wait_log(
            r"req=\d+ answer cut off: the connection is reset \(HTTP/1\.0:"
            r" a close would end it as whole\)", mark, timeout=10),
            m.log_tail())
        self.assertServes()


def kill_stream_backend(test, reader):
    """Read 64 KiB, wait until mttd holds the stream's transaction with
    rows waiting for the paused client (its backend blocked sending them
    mid-FETCH, or between two), then end that backend."""
    reader.recv_bytes(65536)
    test.assertEqual(reader.status, 200)
    pid = test.wait_backend(STREAM_WAITING, "FETCH", stable=0.3)
    test.pg.psql("SELECT pg_terminate_backend(%d)" % pid, db=test.db,
                 superuser=True)


def cut_stream(test, pause_after_kill):
    """A database error after the headers: the reply ends without its
    last chunk, the error is logged, mttd serves on."""
    mark = test.mttd.log_mark()
    reader = StreamReader(test.mttd, "/detail", BIG_QUERY)
    try:
        kill_stream_backend(test, reader)
        time.sleep(pause_after_kill)
        reader.read_rest(timeout=60)
    finally:
        reader.close()
    test.assertFalse(reader.stalled, "the cut answer stalled")
    test.assertTrue(reader.eof, "the connection stayed open")
    test.assertFalse(reader.done, "a cut answer ended with the last chunk")
    test.assertLess(len(reader.body()), 5 * MEMORY_BOUND)
    with test.assertRaises(ValueError):
        json.loads(reader.body().decode("utf-8", "replace"))
    test.assertIsNotNone(test.mttd.wait_log(
        r"req=\d+ query failed after \d+ rows", mark), test.mttd.log_tail())
    test.assertIsNotNone(test.mttd.wait_log(
        r"req=\d+ answer cut off", mark), test.mttd.log_tail())
    test.assertServes()
    test.assertBackendsIdle(within=5.0)


class DatabaseErrorHeldBatch(StreamTestCase):
    """The stream's backend dies while rows wait for a paused client.
    When the client reads on, the chunk made is written and the rows are
    read again from a lost connection: that failure is reported from the
    loop, not from inside the call that resumed them, so the stream is
    not freed under the code writing the chunk (a use after free of an
    earlier form, found by this test)."""

    def test_error_before_the_pool_reconnects(self):
        cut_stream(self, pause_after_kill=0.1)


class LostSlotNotLentTwice(StreamTestCase):
    """A lent connection that is lost stays down until its holder gives
    it back: were it remade and put in the idle list while the first
    stream still held it (as it was, found by this test), another request
    would borrow it too and the first stream would read the other
    query's rows through it."""

    def test_stream_never_reads_through_a_slot_lent_again(self):
        a = StreamReader(self.mttd, "/detail", BIG_QUERY, timeout=10)
        others = []
        try:
            kill_stream_backend(self, a)
            # Past the reconnect delay the lost slot is still not remade.
            time.sleep(1.5)
            self.assertEqual([r[1] for r in self.mttd_backends()],
                             ["idle"] * 3)
            query_b = {"phase": "test_run", "columns": ["start_timestamp"],
                       "search": {"np": 3}}
            others = [StreamReader(self.mttd, "/detail", query_b,
                                   timeout=10) for _ in range(3)]
            for b in others:
                b.read_rest(timeout=60)
            a.read_rest(timeout=60)
        finally:
            for reader in [a] + others:
                reader.close()
        # The first client's answer is cut: no row of another query.
        body = a.body()
        self.assertFalse(b":null" in body or b'"test_name":"2026-' in body,
                         "the first client got rows of another query")
        self.assertFalse(a.done, "the first answer ended as a whole one")
        # Each other answer is whole.
        for b in others:
            self.assertFalse(b.stalled, "an answer stalled")
            self.assertTrue(b.done)
            rows = json.loads(b.body().decode("utf-8"))["query_data"]
            self.assertEqual(len(rows), ROWS, "rows of another answer")
        # Given back, the slot is remade: four backends again.
        deadline = time.time() + 5
        while [r[1] for r in self.mttd_backends()] != ["idle"] * 4:
            self.assertLess(time.time(), deadline, self.mttd_backends())
            time.sleep(0.05)
        self.assertServes()


class ClientLeaves(StreamTestCase):
    """Clients that hang up on a stream."""

    def leave(self, read_bytes, pause=0.0):
        mark = self.mttd.log_mark()
        pid = self.mttd.proc.pid
        before = proc_status(pid)["VmRSS"]
        reader = StreamReader(self.mttd, "/detail", BIG_QUERY)
        try:
            if read_bytes:
                reader.recv_bytes(read_bytes)
                self.assertEqual(reader.status, 200)
                self.wait_backend(STREAM_WAITING, "FETCH")
            time.sleep(pause)
        finally:
            reader.close()
        self.assertTrue(self.mttd.alive(), self.mttd.log_tail())
        self.assertBackendsIdle()
        if read_bytes:
            self.assertIsNotNone(self.mttd.wait_log(
                r"req=\d+ client went away after \d+ rows", mark),
                self.mttd.log_tail())
        self.assertServes()
        self.assertLess(proc_status(pid)["VmRSS"] - before, RSS_BOUND)

    def test_leaves_after_64k(self):
        self.leave(65536)

    def test_leaves_after_a_pause(self):
        self.leave(65536, pause=1.0)

    def test_leaves_after_most_of_it(self):
        self.leave(40 * MIB)

    def test_leaves_before_the_answer(self):
        self.leave(0)

    def test_many_leave_at_once(self):
        # As many streams as their share of the pool (half of 4), and
        # one more waiting for a connection while submissions still get
        # theirs at once: all of them hang up.
        readers = [StreamReader(self.mttd, "/detail", BIG_QUERY)
                   for _ in range(2)]
        try:
            for reader in readers:
                reader.recv_bytes(4096)
                self.assertEqual(reader.status, 200)
            waiting = StreamReader(self.mttd, "/detail", BIG_QUERY)
            time.sleep(0.3)
            self.assertEqual(waiting.received, 0)
            start = time.time()
            self.assertOk(self.mttd.http("POST", "/serial", {"serial": "x"}))
            self.assertLess(time.time() - start, 1.0)
            waiting.close()
        finally:
            for reader in readers:
                reader.close()
        self.assertBackendsIdle(within=5.0)
        self.assertServes()


class ClientLeavesALongStatement(h.MttdTestCase):
    """A client that leaves while its query's first batch is still running
    (blocked here by a lock, as a sort of millions of rows would be busy):
    the one connection of the pool comes back within about a second, not
    when the statement ends."""

    MTTD = {"pg": {"pool_size": "1"}}
    QUERY = {"phase": "test_run", "columns": ["test_name", "np"],
             "search": {}}

    def backend_pids(self):
        return {int(r[0]) for r in self.sql(
            "SELECT pid FROM pg_stat_activity WHERE datname ="
            " current_database() AND application_name = 'mttd'")}

    def wait_blocked(self, start):
        """The pid of the mttd backend whose statement starting so waits
        for the lock."""
        deadline = time.time() + 10
        while time.time() < deadline:
            rows = self.sql("SELECT pid FROM pg_stat_activity WHERE"
                            " application_name = 'mttd' AND wait_event_type"
                            " = 'Lock' AND query LIKE '%s%%'" % start)
            if rows:
                return int(rows[0][0])
            time.sleep(0.05)
        self.fail("no statement %r waited for the lock" % start)

    def assertGivenUp(self, mark, blocked, left, inst):
        """The blocked statement is given a second, then its connection is
        closed and made again at once; the lock is still held, yet a
        submission that does not touch test_run gets the pool's only
        connection; the server stops the statement within its client
        check (2 s)."""
        m = self.mttd
        self.assertIsNotNone(m.wait_log(
            r"db conn 0: closed: its statement still ran 1 s after its"
            r" client left; connecting again", mark), m.log_tail())
        resp = m.submit("MPI Install", [h.install_entry(
            mpi_version="4.1.after-%d" % inst)])
        self.assertIds(resp, "mpi_install", [inst + 1])
        self.assertLess(time.time() - left, 5.0)
        deadline = time.time() + 6
        while blocked in self.backend_pids() and time.time() < deadline:
            time.sleep(0.05)
        self.assertNotIn(blocked, self.backend_pids())
        self.assertNotIn("database is down", m.log_since(mark))

    def test_a_query_whose_client_left_while_it_waited_never_runs(self):
        m = self.mttd
        h.HeldLock(self, "test_run")
        first = StreamReader(m, "/detail", self.QUERY)
        self.wait_blocked("DECLARE mttd_rows")
        mark = m.log_mark()
        waiting = StreamReader(m, "/detail", dict(self.QUERY,
                                                  search={"np": 77}))
        self.assertIsNotNone(m.wait_log(r"query: .*AND p\.np = ", mark),
                             m.log_tail())
        waiting.close()
        # At once: not when a connection comes free, nor after
        # db_wait_timeout.
        self.assertIsNotNone(m.wait_log(
            r"req=\d+ client went away before the query ran", mark,
            timeout=2), m.log_tail())
        first.close()
        deadline = time.time() + 8
        while True:
            lines = [line for line in m.log_since(mark).splitlines()
                     if "path=/detail status=499" in line]
            if len(lines) >= 2 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(lines), 2, m.log_tail())
        self.assertNotIn("DECLARE", "".join(
            r[0] for r in self.sql("SELECT query FROM pg_stat_activity WHERE"
                                   " application_name = 'mttd' AND query"
                                   " LIKE '%np = %'")))

    def test_count_whose_client_left_is_given_up(self):
        # Not a stream: an answer made whole (count_only, a summary of a
        # few groups, /info) is given up the same way.
        m = self.mttd
        _, (inst,) = m.must_submit("MPI Install", [h.install_entry(
            mpi_version="4.1.count")])
        h.HeldLock(self, "test_run")
        mark = m.log_mark()
        reader = StreamReader(m, "/detail", dict(
            self.QUERY, options={"count_only": 1}))
        blocked = self.wait_blocked("SELECT count(*)")
        left = time.time()
        reader.close()
        self.assertIsNotNone(m.wait_log(
            r"req=\d+ client went away while the query ran; query ended",
            mark), m.log_tail())
        self.assertGivenUp(mark, blocked, left, inst)
        lines = [line for line in m.log_since(mark).splitlines()
                 if "path=/detail status=499" in line]
        self.assertEqual(len(lines), 1, m.log_tail())

    def test_connection_comes_back_while_the_statement_would_still_run(self):
        m = self.mttd
        _, (inst,) = m.must_submit("MPI Install", [h.install_entry()])
        _, (build,) = m.must_submit("Test Build", [h.build_entry(inst)])
        m.must_submit("Test Run", [h.run_entry(build)])
        lock = h.HeldLock(self, "test_run")
        mark = m.log_mark()
        reader = StreamReader(m, "/detail", self.QUERY)
        blocked = self.wait_blocked("DECLARE mttd_rows")
        left = time.time()
        reader.close()

        self.assertIsNotNone(m.wait_log(
            r"req=\d+ client went away after 0 rows; query ended", mark),
            m.log_tail())
        self.assertIsNotNone(m.wait_log(
            r"method=POST path=/detail status=499", mark), m.log_tail())
        self.assertGivenUp(mark, blocked, left, inst)

        lock.release()
        resp = m.http("POST", "/detail", self.QUERY)
        self.assertEqual(self.assertOk(resp)["query_data"],
                         [{"test_name": "it_hello", "np": 2}])

if __name__ == "__main__":
    h.main()
