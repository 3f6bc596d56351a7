#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A listening socket passed as systemd's socket activation passes it
(fd 3, LISTEN_FDS=1, LISTEN_PID): mttd serves on it instead of binding
socket_host:socket_port, and because the manager (here the test) keeps
its own copy open, a restart or a worker killed refuses and resets no
connection: those that arrive meanwhile wait in the socket's queue and
are answered by the next mttd.  The real MTT client never retries, so a
reset connection is a lost night of results."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

CLIENTS = 6
GAP_S = 0.5  # No mttd at all on the socket for this long.


def listening_inodes(pid):
    """Inodes of the listening TCP sockets that process pid holds."""
    held = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]$", target)
        if m:
            held.add(int(m.group(1)))
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                cols = row.split()
                if cols[3] == "0A":  # TCP_LISTEN
                    listening.add(int(cols[9]))
    return held & listening


def cpu_seconds(pid):
    """User and system CPU seconds process pid has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class OneConnectionEach(h.ThreadedLoad):
    """CLIENTS threads, each submitting single-entry test runs with a
    test name of their own, one new connection per request and no retry,
    as the real MTT client does, to a fixed port until stopped; outcomes
    (kind, id or why, seconds it took)."""

    def __init__(self, port, build_id, tag):
        self.port = port
        self.build_id = build_id
        self.tag = tag
        super().__init__(CLIENTS)

    def client(self, i):
        n = 0
        while not self.stop.is_set():
            name = "%s-%d-%d" % (self.tag, i, n)
            n += 1
            body = json.dumps(h.submit_body("Test Run", [h.run_entry(
                self.build_id, test_name=name)]))
            start = time.time()
            conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                              timeout=30)
            try:
                conn.request("POST", "/submit", body=body, headers={
                    "Content-Type": "application/json",
                    "Authorization": h.basic(h.USER, h.PASSWORD),
                    "Connection": "close"})
                resp = conn.getresponse()
                data = resp.read()
                answer = json.loads(data) if data else {}
                if resp.status == 200 and answer.get("status") == 0:
                    outcome = ("ok", answer["ids"][0]["test_run_id"])
                else:
                    outcome = ("error", "%d %s" % (resp.status, data))
            except (OSError, http.client.HTTPException, ValueError) as e:
                outcome = ("no answer", repr(e))
            finally:
                conn.close()
            self.note(name, outcome + (time.time() - start,))


class SocketActivation(h.MttdTestCase):

    @classmethod
    def setUpClass(cls):
        # The service manager's socket, kept open by the test throughout.
        cls.sock = socket.socket()
        cls.sock.bind(("127.0.0.1", 0))
        cls.sock.listen(128)
        cls.port = cls.sock.getsockname()[1]
        cls.inode = os.fstat(cls.sock.fileno()).st_ino
        cls.pg = h.cluster()
        cls.db = cls.pg.create_db(timezone=cls.DB_TIMEZONE)
        cls.mttd = cls.passed(h.Mttd(cls.db)).start()
        _, (cls.install,) = cls.mttd.must_submit(
            "MPI Install", [h.install_entry(mpi_version="activated")])
        _, (cls.build,) = cls.mttd.must_submit(
            "Test Build", [h.build_entry(cls.install)])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.sock.close()

    @classmethod
    def passed(cls, mttd):
        mttd.listen_socket = cls.sock
        return mttd

    def assertEveryOneStoredOnce(self, load):
        self.assertEqual(load.count("no answer"), 0, [
            o for o in load.outcomes.values() if o[0] != "ok"][:5])
        self.assertEqual(load.count("error"), 0, [
            o for o in load.outcomes.values() if o[0] != "ok"][:5])
        stored = self.stored_runs(load.tag)
        self.assertEqual(
            stored, {name: [o[1]] for name, o in load.outcomes.items()})

    def test_1_serves_on_the_passed_socket(self):
        self.assertEqual(self.mttd.port, self.port)
        self.assertIn(
            "listening on 127.0.0.1:%d, a socket passed by the service"
            " manager (socket_host and socket_port are not used)"
            % self.port, self.mttd.log_text())
        # socket_port = 0 in its file: it bound no port of its own.
        self.assertEqual(listening_inodes(self.mttd.proc.pid), {self.inode})
        self.assertEqual(self.mttd.http("GET", "/").status, 200)

    def test_2_restart_refuses_no_connection(self):
        """SIGTERM, GAP_S without any mttd, then a new one on the same
        socket: every submission sent meanwhile is answered status 0 and
        stored once; some waited in the queue through the gap."""
        load = OneConnectionEach(self.port, self.build, "restart").start()
        self.addCleanup(load.finish)
        time.sleep(1.0)
        self.mttd.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.mttd.proc.wait(15), 0)
        stopped = time.time()
        self.mttd.stop()
        time.sleep(GAP_S)
        self.mttd.start()
        restarted = time.time()
        time.sleep(1.0)
        load.finish()
        self.assertGreater(load.count("ok"), 50)
        self.assertEveryOneStoredOnce(load)
        waited = [o for o in load.outcomes.values()
                  if o[2] >= restarted - stopped - 0.1]
        self.assertGreater(len(waited), 0)
        sys.stderr.write("restart: %d stored, %d waited through the gap"
                         " of %.2f s\n" % (load.count("ok"), len(waited),
                                           restarted - stopped))

    def test_3_workers_share_it_and_a_killed_one_loses_nothing(self):
        self.assertEqual(self.mttd.stop(), 0)
        workers = self.passed(h.Mttd(self.db, server={"workers": "2"}))
        self.addCleanup(workers.stop)
        workers.start()
        self.assertEqual(workers.port, self.port)
        pids = [int(p) for p in re.findall(
            r"\[(\d+)\] INFO listening on 127\.0\.0\.1:%d, a socket passed"
            % self.port, workers.log_text())]
        self.assertEqual(len(set(pids)), 2)
        for pid in pids + [workers.proc.pid]:
            self.assertEqual(listening_inodes(pid), {self.inode}, pid)
        load = OneConnectionEach(self.port, self.build, "workers").start()
        self.addCleanup(load.finish)
        time.sleep(0.5)
        mark = workers.log_mark()
        os.kill(pids[0], signal.SIGKILL)
        self.assertIsNotNone(workers.wait_log(
            r"worker \d \(pid %d\) was killed by signal 9; restarting it"
            % pids[0], mark))
        self.assertIsNotNone(workers.wait_log(
            r"INFO listening on 127\.0\.0\.1:%d, a socket passed"
            % self.port, mark))
        time.sleep(0.5)
        load.finish()
        # The killed worker's requests in flight get no answer (nothing
        # can answer them); none is refused or reset on the way in.
        lost = [o for o in load.outcomes.values() if o[0] != "ok"]
        self.assertLessEqual(len(lost), CLIENTS, lost)
        for o in lost:
            self.assertEqual(o[0], "no answer", o)
        stored = self.stored_runs("workers")
        for name, o in load.outcomes.items():
            if o[0] == "ok":
                self.assertEqual(stored.get(name), [o[1]], name)
            else:
                self.assertLessEqual(len(stored.get(name, [])), 1, name)
        self.assertEqual(workers.stop(), 0)
        self.mttd.start()

    def test_7_drain_with_a_connection_queued_does_not_spin(self):
        """SIGTERM while a request waits on a lock, then a new connection
        arrives: it waits in the queue of the socket the manager keeps,
        and the draining mttd must not be woken for it (its listener is
        closed a loop pass after its event is removed; closed at once,
        the socket stayed in the loop's epoll set and the drain ran at
        100% CPU)."""
        lock = h.HeldLock(self, "test_build")
        answers = {}

        def in_flight():
            answers["build"] = self.mttd.submit(
                "Test Build", [h.build_entry(self.install)])
        thread = threading.Thread(target=in_flight)
        thread.start()
        self.addCleanup(thread.join, 30)
        time.sleep(0.5)
        pid = self.mttd.proc.pid
        self.mttd.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        queued = socket.create_connection(("127.0.0.1", self.port), 10)
        self.addCleanup(queued.close)
        queued.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        before = cpu_seconds(pid)
        time.sleep(2.0)
        spent = cpu_seconds(pid) - before
        lock.release()
        thread.join(30)
        self.assertEqual(self.mttd.proc.wait(15), 0)
        self.mttd.stop()
        self.assertLess(spent, 0.3, "mttd used %.2f s of CPU in 2 s of"
                        " draining" % spent)
        self.assertEqual(answers["build"].status, 200)
        self.assertEqual(answers["build"].json["status"], 0)
        # The next mttd answers the connection that waited.
        self.mttd.start()
        queued.settimeout(10)
        self.assertTrue(queued.recv(4096).startswith(b"HTTP/1.1 200"))

    def test_6_reload_leaves_the_socket_keys_alone(self):
        """On a passed socket socket_host and socket_port are not used: a
        SIGHUP with them changed applies the rest of the file."""
        with open(self.mttd.conf) as f:
            text = f.read()
        self.addCleanup(self.restore_conf, text)
        new = text.replace("socket_host = 127.0.0.1", "socket_host = ::1")
        new = new.replace("socket_port = 0", "socket_port = 8081")
        new = new.replace("[server]\n", "[server]\ncors_origin ="
                          " https://reloaded.example.org\n")
        self.assertIn("socket_host = ::1\n", new)
        self.assertIn("socket_port = 8081\n", new)
        with open(self.mttd.conf, "w") as f:
            f.write(new)
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark),
            self.mttd.log_since(mark))
        self.assertEqual(self.mttd.http("GET", "/").header(
            "Access-Control-Allow-Origin"), "https://reloaded.example.org")
        self.assertEqual(listening_inodes(self.mttd.proc.pid), {self.inode})

    def restore_conf(self, text):
        with open(self.mttd.conf, "w") as f:
            f.write(text)
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.mttd.wait_log(r"SIGHUP: configuration in force", mark)

    def run_passed(self, sock, fds):
        """mttd started as a service manager would, with sock as fd 3;
        (exit status, output) once it exits (SIGTERM after 20 s)."""
        env = h.subprocess_env()
        argv, passed = h.passing_socket(
            sock, [h.MTTD_BIN, "-c", self.mttd.conf, "-f"], env, fds)
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env, **passed)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=20)
        return proc.returncode, out.decode("utf-8", "replace")

    def test_4_what_it_refuses(self):
        cases = []
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        cases.append((udp, "1", "the socket passed by the service manager"
                      " (LISTEN_FDS): fd 3 is not a stream socket"))
        unlistened = socket.socket()
        self.addCleanup(unlistened.close)
        unlistened.bind(("127.0.0.1", 0))
        cases.append((unlistened, "1", "fd 3 is not listening"))
        unix = socket.socket(socket.AF_UNIX)
        self.addCleanup(unix.close)
        unix.bind(os.path.join(self.mttd.dir, "unix.sock"))
        unix.listen(1)
        cases.append((unix, "1", "fd 3 is not a TCP socket"))
        cases.append((self.sock, "2", 'LISTEN_FDS is "2": mttd takes exactly'
                      " one listening socket from its service manager"))
        cases.append((self.sock, "x", 'LISTEN_FDS is "x"'))
        for sock, fds, message in cases:
            rc, out = self.run_passed(sock, fds)
            self.assertEqual(rc, 1, out)
            self.assertRegex(out, r"CRITICAL .*" + re.escape(message))
            self.assertNotIn("listening on", out)

    def test_5_another_process_s_socket_is_not_taken(self):
        """LISTEN_PID names another process (a parent's variables left in
        the environment): mttd binds its own port and leaves fd 3."""
        other = h.Mttd(self.db, env={"LISTEN_PID": "1", "LISTEN_FDS": "1"})
        self.addCleanup(other.stop)
        other.start()
        self.assertNotEqual(other.port, self.port)
        self.assertIn("INFO listening on 127.0.0.1:%d\n" % other.port,
                      other.log_text())
        self.assertNotIn("passed by the service manager", other.log_text())
        self.assertEqual(other.http("GET", "/").status, 200)
        self.assertEqual(other.stop(), 0)


if __name__ == "__main__":
    h.main()
