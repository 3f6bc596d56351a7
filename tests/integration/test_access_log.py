#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The access log in a file of its own ([logging] access_log): lines kept
in a buffer (access_log_buffer, 32K by default) are written as soon as
mttd is idle, all of them, one per request; with access_log_buffer = 0
each is in the file before its answer leaves."""

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

BURST = 300


def access_lines(mttd, path="/"):
    with open(os.path.join(mttd.dir, "access.log"), encoding="utf-8") as f:
        return [line for line in f
                if " method=GET path=%s status=200 " % path in line]


def wait_lines(mttd, n, path="/", timeout=2.0):
    """The file's lines for path once there are n (or what is there)."""
    deadline = time.time() + timeout
    while True:
        lines = access_lines(mttd, path)
        if len(lines) >= n or time.time() > deadline:
            return lines
        time.sleep(0.01)


class Buffered(h.MttdTestCase):

    MTTD = {"logging": {"access_log": "access.log"}}

    def test_burst_all_written_once_idle(self):
        conn = self.mttd.connection()
        for _ in range(BURST):
            self.assertOk(self.mttd.http("GET", "/", conn=conn))
        conn.close()
        t0 = time.time()
        lines = wait_lines(self.mttd, BURST)
        self.assertEqual(len(lines), BURST)
        self.assertLess(time.time() - t0, 1.0, "lines written late")

    def test_single_line_written_at_once_when_idle(self):
        self.assertOk(self.mttd.http("GET", "/status"))
        lines = wait_lines(self.mttd, 1, "/status", timeout=1.0)
        self.assertEqual(len(lines), 1, "the idle loop did not write it")

    def test_lines_written_at_exit(self):
        for _ in range(20):
            self.assertOk(self.mttd.http("GET", "/submit"))
        status = self.mttd.stop()
        self.assertEqual(status, 0)
        self.assertEqual(len(access_lines(self.mttd, "/submit")), 20)
        self.mttd.start()


class Unbuffered(h.MttdTestCase):

    MTTD = {"logging": {"access_log": "access.log",
                        "access_log_buffer": "0"}}

    def test_each_line_before_its_answer(self):
        conn = self.mttd.connection()
        for i in range(1, 21):
            self.assertOk(self.mttd.http("GET", "/", conn=conn))
            # No waiting: the line was written before the answer.
            self.assertEqual(len(access_lines(self.mttd)), i)
        conn.close()

    def test_control_characters_in_a_message(self):
        """A value a client sends reaches the log with its tabs and line
        breaks as blanks and other control characters as '?': one line,
        nothing forged (libpq's own two-line messages read the same)."""
        mark = self.mttd.log_mark()
        # NEL (a C1 control), LINE SEPARATOR and RIGHT-TO-LEFT OVERRIDE
        # break or reorder lines in log readers: a '?' per byte (break-it
        # helper 33).
        key = "a\tb\nc\rd\u0001e\u007ff\u0085g\u2028h\u202ei\u00e9"
        resp = self.mttd.http("POST", "/detail", {
            "phase": "test_run", "columns": ["np"], "search": {key: 1}})
        self.assertRefused(resp)
        line = self.mttd.wait_log(
            r"Search key 'a b c d\?e\?f\?\?g\?\?\?h\?\?\?i\u00e9' in"
            r" 'search'", mark)
        self.assertIsNotNone(line, self.mttd.log_tail())

    def get_unknown_path(self, path):
        """GET path, raw bytes, on a connection of its own: a 404."""
        with socket.create_connection(("127.0.0.1", self.mttd.port)) as s:
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            s.settimeout(10)
            answer = h.read_to_close(s)
        self.assertTrue(answer.startswith(b"HTTP/1.1 404 "), answer[:80])

    def test_bytes_that_are_not_utf8_become_question_marks(self):
        """A path of bytes that begin no valid UTF-8 character (stray,
        overlong, a surrogate, past U+10FFFF, cut) is logged with a '?'
        for each: journald keeps a line that is not UTF-8 as a blob that
        journalctl does not show (break-it helper 47).  A valid é stays."""
        mark = self.mttd.log_mark()
        path = (b"/x\xff\xfe-\xc0\xaf-\xed\xa0\x80-\xf4\x90\x80\x80-"
                b"\xc3\xa9-\xe2\x82")
        self.get_unknown_path(path)
        with open(os.path.join(self.mttd.dir, "access.log"), "rb") as f:
            access = f.read()
        want = ("path=/x??-??-???-????-\u00e9-?? status=404 ").encode()
        self.assertIn(want, access)
        access.decode("utf-8")  # Raises on any byte left invalid.
        with open(self.mttd.log_path, "rb") as f:
            f.seek(mark)
            f.read().decode("utf-8")

    def test_long_line_cut_on_a_character(self):
        """A line over 8 KiB is cut and ends in "...": never inside a
        character, so the logs stay UTF-8 (a path of 4,500 "é")."""
        mark = self.mttd.log_mark()
        path = ("/x" + "\u00e9" * 4500).encode()
        self.get_unknown_path(path)
        with open(self.mttd.log_path, "rb") as f:
            f.seek(mark)
            main = f.read()
        with open(os.path.join(self.mttd.dir, "access.log"), "rb") as f:
            access = f.read()
        cut = [line for line in (main + access).split(b"\n")
               if len(line) > 8000]
        self.assertGreaterEqual(len(cut), 2, "no line was cut")
        for line in cut:
            self.assertTrue(line.endswith(b"..."), line[-20:])
            self.assertLess(len(line), 8192)
            line.decode("utf-8")  # Raises on a split character.


class SmallDiskMttd(h.Mttd):
    """An mttd whose access log is on a 64 KiB filesystem of its own
    (small/), and with main_apart its main log on another (small2/)."""

    main_apart = False

    def prepare(self):
        self.mounts = []
        for name in ("small", "small2") if self.main_apart else ("small",):
            path = os.path.join(self.dir, name)
            os.mkdir(path)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k",
                            "tmpfs", path], check=True)
            self.mounts.append(path)
        self.small = self.mounts[0]
        if self.main_apart:
            # The harness writes the main log (stderr) to dir/mttd.log.
            os.symlink(os.path.join(self.mounts[1], "mttd.log"),
                       os.path.join(self.dir, "mttd.log"))

    def unmount(self):
        for path in self.mounts:
            subprocess.run(["umount", "-l", path], check=False)

    def fill(self, leave, where=None):
        """Fill a small filesystem, then free `leave` bytes of it."""
        path = os.path.join(where or self.small, "filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"x" * 4096)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        size = os.fstat(fd).st_size
        os.ftruncate(fd, size - leave)
        os.close(fd)
        return path


class DiskFull(unittest.TestCase):
    """Access lines a full disk refuses are counted and said in the main
    log once a write works again, and a line written in part is ended
    before the next (break-it helper 63: lines vanished unsaid, and a cut
    line ran into the next one)."""

    LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[\d+\]"
                      r" req=(\d+) method=GET path=/ status=200 bytes=\d+"
                      r" ms=\d+ user=- peer=127\.0\.0\.1$")

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a small filesystem needs root")
        self.db = h.cluster().create_db()

    def test_lost_lines_counted_and_cut_line_ended(self):
        server = SmallDiskMttd(self.db, logging={
            "access_log": "small/access.log", "access_log_buffer": "0"})
        server.start()
        try:
            self.run_full(server)
        finally:
            server.stop()
            server.unmount()

    def test_cut_line_not_ended_in_a_rotated_file(self):
        # Break-it helper 65: the new file began with an empty line.
        server = SmallDiskMttd(self.db, logging={
            "access_log": "small/access.log", "access_log_buffer": "0"})
        server.start()
        try:
            filler = server.fill(leave=4096)
            for _ in range(60):
                server.http("GET", "/")
            path = os.path.join(server.small, "access.log")
            with open(path, "rb") as f:
                self.assertNotEqual(f.read()[-1:], b"\n")
            os.rename(path, path + ".1")
            os.remove(filler)
            mark = server.log_mark()
            server.proc.send_signal(signal.SIGHUP)
            self.assertIsNotNone(server.wait_log(
                r"SIGHUP: configuration in force", mark))
            server.http("GET", "/")
            with open(path) as f:
                lines = f.read().split("\n")
            self.assertEqual(len(lines), 2, lines)
            self.assertRegex(lines[0], self.LINE)
        finally:
            server.stop()
            server.unmount()

    def test_file_size_limit_kills_no_process(self):
        # A log over `ulimit -f` got mttd killed by SIGXFSZ: at start-up,
        # and with workers the supervisor at its next line (break-it
        # helpers 63 and 65).  Lines past the limit are lost instead.
        server = h.Mttd(self.db, server={"workers": "2"})
        server.argv_prefix = ["prlimit", "--fsize=3000"]
        server.start()
        try:
            for _ in range(3):
                self.assertEqual(server.http("GET", "/").status, 200)
                server.proc.send_signal(signal.SIGHUP)
                time.sleep(0.3)
            self.assertEqual(server.http("GET", "/").status, 200)
            self.assertIsNone(server.proc.poll())
            self.assertEqual(os.path.getsize(server.log_path), 3000)
        finally:
            server.stop()

    def test_access_count_kept_while_the_main_log_is_full(self):
        # Break-it helper 67: the access log's count was dropped when
        # the main log could not take its report.
        server = SmallDiskMttd(self.db, logging={
            "access_log": "small/access.log", "access_log_buffer": "0",
            "log_level": "INFO"})
        server.main_apart = True
        server.start()
        try:
            access_filler = server.fill(leave=0)
            for _ in range(10):
                self.assertEqual(server.http("GET", "/").status, 200)
            main_filler = server.fill(leave=0, where=server.mounts[1])
            # The main log's last page too, with empty lines.
            with open(server.log_path, "ab", buffering=0) as f:
                try:
                    for _ in range(4096):
                        f.write(b"\n")
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
            os.remove(access_filler)
            self.assertEqual(server.http("GET", "/").status, 200)
            os.remove(main_filler)
            self.assertEqual(server.http("GET", "/").status, 200)
            self.assertEqual(len(re.findall(
                r"\] WARNING 10 line\(s\) of the access log \S*small/"
                r"access\.log could not be written: No space left on"
                r" device\n", server.log_text())), 1, server.log_text())
        finally:
            server.stop()
            server.unmount()

    def run_full(self, server):
        filler = server.fill(leave=4096)
        conn = server.connection()
        for _ in range(80):
            self.assertEqual(server.http("GET", "/", conn=conn).status, 200)
        self.assertNotIn("could not be written", server.log_text())
        os.remove(filler)
        self.assertEqual(server.http("GET", "/", conn=conn).status, 200)
        conn.close()

        with open(os.path.join(server.small, "access.log")) as f:
            lines = f.read().split("\n")
        self.assertEqual(lines[-1], "")
        whole = [int(m.group(1)) for m in map(self.LINE.match, lines[:-1])
                 if m]
        cut = [line for line in lines[:-1] if not self.LINE.match(line)]
        self.assertLessEqual(len(cut), 1, cut)
        for line in cut:
            self.assertRegex(line, r"^\d{4}-\d\d-\d\d ")
        self.assertEqual(whole, sorted(whole))
        lost = whole[-1] - len(whole)
        self.assertGreater(lost, 0)
        self.assertEqual((whole[0], whole[-1]), (1, 81))
        found = re.findall(
            r"\] WARNING (\d+) line\(s\) of the access log \S*"
            r"small/access\.log could not be written: No space left on"
            r" device\n", server.log_text())
        self.assertEqual(found, [str(lost)])


if __name__ == "__main__":
    h.main()
