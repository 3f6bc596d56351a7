#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A loop that stops turning, and the service manager's view of mttd.

With workers > 1 the supervisor aborts (SIGABRT, then SIGCONT) a worker
whose loop has not beaten for [server] hang_timeout, kills one the abort
did not end (held in a ptrace stop here) 5 s later, and starts another;
hang_timeout = 0 (reloadable) turns that off.  NOTIFY_SOCKET gets
sd_notify(3)'s datagrams as systemd's Type=notify reads them: READY=1
once mttd serves, RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1 at
a stop, and WATCHDOG=1 from the loop (or the supervisor) at least every
half of WATCHDOG_USEC, none while the process is stopped.  A plain
datagram socket stands in for systemd; SO_PASSCRED gives each message's
sender, since systemd takes them from the main process only.
"""

import ctypes
import errno
import os
import re
import resource
import signal
import socket
import struct
import threading
import time

import mttd_harness as h

# A worker aborted here must not leave a core file behind.
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

ABORTING = (r"worker (\d) \(pid %d\): its loop has not run for (\d+) ms"
            r" \(hang_timeout 2 s\): aborting it")

# The bursts of wrong passwords must reach the hashes: with a limit of
# failed logins per address, most would be answered 429 at no cost.
NO_LOGIN_LIMIT = {"max_failed_logins": "0"}

PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000  # waitpid's __WALL: a tracee that is not our child.


def ptrace_stop(pid):
    """Hold pid in a ptrace stop, where neither SIGABRT nor SIGCONT moves
    it (as a process in a debugger): only SIGKILL ends it.  0, or the
    errno of a refusal."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                            ctypes.c_void_p]
    for request in (PTRACE_SEIZE, PTRACE_INTERRUPT):
        if libc.ptrace(request, pid, None, None) != 0:
            return ctypes.get_errno()
    return 0


def wrong_password_burst(test, n):
    """n requests with wrong passwords, sent at once on n connections
    opened first, so that they become ready together; their statuses."""
    head = ("POST /serial HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: %s\r\nContent-Type: application/json\r\n"
            "Content-Length: 15\r\nConnection: close\r\n\r\n"
            '{"serial": "x"}')
    socks = [socket.create_connection(("127.0.0.1", test.mttd.port),
                                      timeout=60) for _ in range(n)]
    try:
        time.sleep(0.3)  # Every connection accepted by now.
        for i, sock in enumerate(socks):
            sock.sendall((head % h.basic(h.USER, "wrong-%d" % i))
                         .encode())
        statuses = []
        for sock in socks:
            data = h.read_to_close(sock)
            statuses.append(h.parse_raw_response(data).status
                            if data else None)
        return statuses
    finally:
        for sock in socks:
            sock.close()


def costly_htpasswd(test, cost):
    """Replace the server's htpasswd file by one with a bcrypt hash of
    this cost (11: about 0.1 s a check here) and reload it."""
    path = os.path.join(test.mttd.dir, "htpasswd")
    h.run([h.HTPASSWD, "-c", "-b", "-B", "-C", str(cost), path, h.USER,
           h.PASSWORD], 60)
    mark = test.mttd.log_mark()
    test.mttd.proc.send_signal(signal.SIGHUP)
    return mark


class FakeManager:
    """The manager's end of NOTIFY_SOCKET: every datagram, with the time
    it came and the pid that sent it."""

    def __init__(self):
        self.dir = h.mkdtemp("mttd-it-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.1)
        self.lock = threading.Lock()
        self.messages = []  # (time, pid, text)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.receive, daemon=True)
        self.thread.start()

    def receive(self):
        space = socket.CMSG_SPACE(struct.calcsize("iII"))
        while not self.stop.is_set():
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, space)
            except socket.timeout:
                continue
            pid = None
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and \
                        kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", value)[0]
            with self.lock:
                self.messages.append((time.time(), pid,
                                      data.decode("utf-8", "replace")))

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()

    def since(self, t0, t1=None):
        with self.lock:
            return [(pid, text) for t, pid, text in self.messages
                    if t >= t0 and (t1 is None or t < t1)]

    def texts(self, t0, t1=None, exclude_pings=True):
        return [text for _, text in self.since(t0, t1)
                if not (exclude_pings and text == "WATCHDOG=1")]

    def wait_for(self, text, t0, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.texts(t0, exclude_pings=False):
                return True
            time.sleep(0.02)
        return False


class NotifiedTestCase(h.MttdTestCase):
    """An mttd started with a FakeManager's NOTIFY_SOCKET and a watchdog
    of WATCHDOG_USEC."""

    WATCHDOG_USEC = 400000
    WORKERS = "1"

    @classmethod
    def setUpClass(cls):
        cls.manager = FakeManager()
        cls.started_at = time.time()
        cls.MTTD = {"server": {"workers": cls.WORKERS},
                    "auth_keys": NO_LOGIN_LIMIT,
                    "env": {"NOTIFY_SOCKET": cls.manager.path,
                            "WATCHDOG_USEC": str(cls.WATCHDOG_USEC)}}
        try:
            super().setUpClass()
        except BaseException:
            cls.manager.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.manager.close()

    def pings(self, t0, t1):
        return [pid for pid, text in self.manager.since(t0, t1)
                if text == "WATCHDOG=1"]

    def assert_stop_announced(self):
        t0 = time.time()
        self.assertEqual(self.mttd.stop(), 0)
        # The datagram is in the socket; the reading thread may lag.
        self.assertTrue(self.manager.wait_for("STOPPING=1", t0))
        self.assertEqual(self.manager.texts(t0), ["STOPPING=1"])


class ServiceNotify(NotifiedTestCase):

    def test_1_ready_once_it_serves(self):
        # Sent after the port file the harness waits for.
        self.assertTrue(self.manager.wait_for(
            "READY=1\nSTATUS=serving on port %d" % self.mttd.port,
            self.started_at))
        first = self.manager.since(self.started_at)[0]
        self.assertEqual(first, (self.mttd.proc.pid,
                                 "READY=1\nSTATUS=serving on port %d"
                                 % self.mttd.port))
        self.assertEqual(self.manager.texts(self.started_at),
                         ["READY=1\nSTATUS=serving on port %d"
                          % self.mttd.port])
        self.assertIsNotNone(self.mttd.wait_log(
            r"INFO the service manager's watchdog: a ping at least every"
            r" 200 ms"))

    def test_2_pings_while_the_loop_turns_none_while_stopped(self):
        t0 = time.time()
        time.sleep(2.0)
        pings = self.pings(t0, time.time())
        # One each 200 ms: ten, give or take the timer's edges.
        self.assertGreaterEqual(len(pings), 8, pings)
        self.assertLessEqual(len(pings), 12, pings)
        self.assertEqual(set(pings), {self.mttd.proc.pid})

        os.kill(self.mttd.proc.pid, signal.SIGSTOP)
        stopped = time.time()
        try:
            time.sleep(1.5)
        finally:
            os.kill(self.mttd.proc.pid, signal.SIGCONT)
        resumed = time.time()
        # A ping sent just before the stop may arrive a moment later.
        self.assertEqual(self.pings(stopped + 0.1, resumed), [])
        time.sleep(0.5)
        self.assertGreaterEqual(len(self.pings(resumed, time.time())), 1)
        self.assertOk(self.mttd.http("POST", "/serial", {"serial": "x"}))

    def test_2b_pings_go_on_through_a_burst_of_slow_checks(self):
        """Each wrong password costs a bcrypt hash, in the loop: a pass
        of the loop that ran all of them at once kept the heartbeat out
        for seconds (break-it helper 27)."""
        mark = costly_htpasswd(self, 11)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark))
        t0 = time.time()
        statuses = wrong_password_burst(self, 20)
        t1 = time.time()
        self.assertEqual(statuses, [401] * 20)
        self.assertGreater(t1 - t0, 1.5)  # The hashes did take time.
        with self.manager.lock:
            times = [t for t, _, text in self.manager.messages
                     if text == "WATCHDOG=1" and t0 <= t <= t1]
        gaps = [b - a for a, b in zip([t0] + times, times + [t1])]
        self.assertLess(max(gaps), 0.8, gaps)

    def test_3_reload_is_announced(self):
        t0 = time.time()
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark))
        self.assertTrue(self.manager.wait_for("READY=1", t0))
        self.assertEqual(self.manager.texts(t0), ["RELOADING=1", "READY=1"])

    def test_4_refused_reload_is_announced_too(self):
        with open(self.mttd.conf) as f:
            good = f.read()
        with open(self.mttd.conf, "w") as f:
            f.write(good.replace("[server]", "[server]\nidle_timeout = x"))
        try:
            t0 = time.time()
            mark = self.mttd.log_mark()
            self.mttd.proc.send_signal(signal.SIGHUP)
            self.assertIsNotNone(self.mttd.wait_log(
                r"SIGHUP: keeping the running configuration", mark))
            self.assertTrue(self.manager.wait_for("READY=1", t0))
            self.assertEqual(self.manager.texts(t0),
                             ["RELOADING=1", "READY=1"])
        finally:
            with open(self.mttd.conf, "w") as f:
                f.write(good)

    def test_9_a_reload_during_a_stop_is_not_announced(self):
        """A SIGHUP during a drain still reloads (logrotate), but says no
        READY=1 after STOPPING=1 (break-it helper 27)."""
        body = b'{"serial": "x"}'
        sock = socket.create_connection(("127.0.0.1", self.mttd.port),
                                        timeout=30)
        try:
            sock.sendall(b"POST /serial HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Authorization: " +
                         h.basic(h.USER, h.PASSWORD).encode() +
                         b"\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 15\r\n\r\n" + body[:5])
            time.sleep(0.3)  # Taken: the drain waits for it.
            t0 = time.time()
            mark = self.mttd.log_mark()
            self.mttd.proc.send_signal(signal.SIGTERM)
            self.assertIsNotNone(self.mttd.wait_log(r"signal 15: stopping",
                                                    mark))
            self.mttd.proc.send_signal(signal.SIGHUP)
            self.assertIsNotNone(self.mttd.wait_log(
                r"SIGHUP: configuration in force", mark))
            sock.sendall(body[5:])
            answer = h.read_to_close(sock)
            self.assertEqual(h.parse_raw_response(answer).status, 200)
        finally:
            sock.close()
        # The drain ends with its last request.
        self.assertEqual(self.mttd.proc.wait(10), 0)
        self.assertEqual(self.mttd.stop(), 0)
        self.assertTrue(self.manager.wait_for("STOPPING=1", t0))
        time.sleep(0.2)
        self.assertEqual(self.manager.texts(t0), ["STOPPING=1"])


class ServiceNotifyWorkers(NotifiedTestCase):
    """With workers, only the supervisor (the unit's main process) talks
    to the manager; a stopped worker is the hang check's, not the
    manager's."""

    WORKERS = "2"
    WATCHDOG_USEC = 600000

    def worker_pids(self):
        return {int(pid) for pid in re.findall(
            r"\[(\d+)\] INFO listening on", self.mttd.log_text())}

    def test_1_ready_from_the_supervisor_once_every_worker_serves(self):
        supervisor = self.mttd.proc.pid
        self.assertTrue(self.manager.wait_for(
            "READY=1\nSTATUS=serving on port %d" % self.mttd.port,
            self.started_at))
        self.assertEqual(len(self.worker_pids()), 2)
        self.assertEqual(self.manager.since(self.started_at)[0],
                         (supervisor, "READY=1\nSTATUS=serving on port %d"
                          % self.mttd.port))
        t0 = time.time()
        time.sleep(1.5)
        pings = self.pings(t0, time.time())
        # The supervisor's tick: 300 ms, and every signal it handles.
        self.assertGreaterEqual(len(pings), 4, pings)
        senders = {pid for pid, _ in self.manager.since(self.started_at)}
        self.assertEqual(senders, {supervisor})

    def test_2_a_stopped_worker_leaves_the_pings_alone(self):
        victim = sorted(self.worker_pids())[0]
        os.kill(victim, signal.SIGSTOP)
        try:
            t0 = time.time()
            time.sleep(1.5)
            self.assertGreaterEqual(len(self.pings(t0, time.time())), 4)
        finally:
            os.kill(victim, signal.SIGCONT)

    def test_9_stop_is_announced(self):
        self.assert_stop_announced()


class HungWorker(h.MttdTestCase):

    MTTD = {"server": {"workers": "2", "hang_timeout": "2"},
            "auth_keys": NO_LOGIN_LIMIT}

    def worker_pids(self, mark=0):
        return [int(pid) for pid in re.findall(
            r"\[(\d+)\] INFO listening on", self.mttd.log_since(mark))]

    def wait_reloaded(self, mark):
        """Until both workers have put a reload in force since mark."""
        deadline = time.time() + 10
        while len(set(re.findall(
                r"\[(\d+)\] INFO SIGHUP: configuration in force",
                self.mttd.log_since(mark)))) < 2:
            self.assertLess(time.time(), deadline, self.mttd.log_tail())
            time.sleep(0.05)

    def serve_all(self, n=20):
        """n requests, each answered (a connection reset by a worker
        that died is retried once)."""
        for _ in range(n):
            try:
                resp = self.mttd.http("GET", "/")
            except ConnectionError:
                resp = self.mttd.http("GET", "/")
            self.assertEqual(resp.status, 200)

    def test_1_a_stopped_worker_is_aborted_and_replaced(self):
        victim = self.worker_pids()[0]
        mark = self.mttd.log_mark()
        os.kill(victim, signal.SIGSTOP)
        stopped = time.time()
        line = self.mttd.wait_log(ABORTING % victim, mark, timeout=8)
        self.assertIsNotNone(line, self.mttd.log_tail())
        found = time.time() - stopped
        silent_ms = int(re.search(ABORTING % victim, line).group(2))
        # A beat each 500 ms, a look each second: 2 to 3 s of silence.
        self.assertGreater(silent_ms, 2000, line)
        self.assertLessEqual(silent_ms, 3200, line)
        self.assertLess(found, 4.0, line)
        self.assertIsNotNone(self.mttd.wait_log(
            r"worker \d \(pid %d\) was killed by signal 6; restarting it"
            % victim, mark))
        self.assertIsNotNone(self.mttd.wait_log(r"INFO listening on", mark))
        replacement = self.worker_pids(mark)
        self.assertEqual(len(replacement), 1)
        self.assertNotIn(victim, replacement)
        with self.assertRaises(ProcessLookupError):
            os.kill(victim, 0)
        self.serve_all()

    def test_2_a_busy_worker_is_not_hung(self):
        mark = self.mttd.log_mark()
        done = time.time() + 4
        errors = []

        def client():
            conn = self.mttd.connection()
            while time.time() < done:
                try:
                    resp = self.mttd.http("POST", "/serial",
                                          {"serial": "x"}, conn=conn)
                    if resp.status != 200:
                        errors.append(resp.status)
                except Exception as e:  # Reported below.
                    errors.append(repr(e))
                    conn = self.mttd.connection()
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        self.assertNotIn("aborting it", self.mttd.log_since(mark))

    def test_2b_a_worker_the_abort_does_not_end_is_killed(self):
        victim = self.worker_pids()[-1]
        mark = self.mttd.log_mark()
        err = ptrace_stop(victim)
        if err == errno.EPERM:
            self.skipTest("ptrace is not permitted here")
        self.assertEqual(err, 0, os.strerror(err))
        try:
            self.assertIsNotNone(self.mttd.wait_log(
                ABORTING % victim, mark, timeout=8), self.mttd.log_tail())
            self.assertIsNotNone(self.mttd.wait_log(
                r"worker \d \(pid %d\) still there 5 s after the abort:"
                r" killing it" % victim, mark, timeout=8),
                self.mttd.log_tail())
        finally:
            # The tracer hears of the death first; the supervisor next.
            _, status = os.waitpid(victim, WALL)
        self.assertTrue(os.WIFSIGNALED(status))
        self.assertEqual(os.WTERMSIG(status), signal.SIGKILL)
        self.assertIsNotNone(self.mttd.wait_log(
            r"worker \d \(pid %d\) was killed by signal 9; restarting it"
            % victim, mark))
        self.assertIsNotNone(self.mttd.wait_log(r"INFO listening on", mark))
        self.serve_all()

    def test_2c_a_burst_of_slow_checks_is_not_a_hang(self):
        """60 wrong passwords against a bcrypt hash of cost 11, about 3 s
        of hashing for each worker: the workers answer every one and
        neither is taken for hung (break-it helper 27 saw both aborted)."""
        mark = costly_htpasswd(self, 11)
        self.wait_reloaded(mark)
        try:
            t0 = time.time()
            self.assertEqual(wrong_password_burst(self, 60), [401] * 60)
            self.assertGreater(time.time() - t0, 2.5)
            self.assertNotIn("aborting it", self.mttd.log_since(mark))
        finally:
            self.wait_reloaded(costly_htpasswd(self, 4))

    def test_3_hang_timeout_0_leaves_a_stopped_worker(self):
        mark = self.mttd.log_mark()
        with self.reconfigured(
                "hang_timeout = 2", "hang_timeout = 0",
                r"the supervisor's configuration is in force"):
            victim = self.worker_pids()[-1]
            os.kill(victim, signal.SIGSTOP)
            try:
                time.sleep(3.5)
            finally:
                os.kill(victim, signal.SIGCONT)
            self.assertNotIn("aborting it", self.mttd.log_since(mark))
            os.kill(victim, 0)  # Still there.
            self.serve_all()


if __name__ == "__main__":
    h.main()
