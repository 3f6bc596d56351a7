#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Faults under a steady submit load (issue 5): PostgreSQL restarted,
PostgreSQL frozen (SIGSTOP: connections open, no answer), mttd killed with
SIGKILL and started again, mttd stopped with SIGTERM.  After
each, every submission answered status 0 is in the database exactly once
with the id it was answered, none answered an error is there at all, one
left without an answer is there at most once, and mttd (or its restart)
serves again."""

import contextlib
import datetime
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

CLIENTS = 6
LOAD_S = 1.5  # Of load before and after each fault.
QUERY_TIMEOUT_S = 3
CONNECT_TIMEOUT_S = 2
RECONNECT_S = 1  # mttd's delay between connects while the database is down.
SLACK_S = 0.3  # Timer and scheduling slack on a busy machine.
STATE_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \[\d+\] DEBUG "
    r"db_conn_set_state: db conn (\d+): (\w+) -> (\w+)$")


def conn_states(log_text):
    """[(epoch seconds, conn, old state, new state)] from mttd's debug log
    (local time, as mttd writes it)."""
    out = []
    for line in log_text.splitlines():
        m = STATE_LINE.match(line)
        if m:
            t = datetime.datetime.strptime(
                m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            out.append((t, int(m.group(2)), m.group(3), m.group(4)))
    return out


class Load(h.ThreadedLoad):
    """CLIENTS threads submitting single-entry test runs, each with its
    own test name, on keep-alive connections, until stopped; outcomes
    ("ok", id), ("error", answer) or ("no answer", why)."""

    def __init__(self, mttd, build_id, tag):
        self.mttd = mttd
        self.build_id = build_id
        self.tag = tag
        super().__init__(CLIENTS)

    def client(self, i):
        conn, n = None, 0
        while not self.stop.is_set():
            name = "%s-%d-%d" % (self.tag, i, n)
            n += 1
            try:
                if conn is None:
                    conn = self.mttd.connection(timeout=15)
                resp = self.mttd.submit("Test Run", [h.run_entry(
                    self.build_id, test_name=name)], conn=conn)
            except (OSError, http.client.HTTPException) as exc:
                self.note(name, ("no answer", repr(exc)))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
                continue
            answer = resp.json if isinstance(resp.json, dict) else {}
            if resp.status == 200 and answer.get("status") == 0:
                self.note(name, ("ok", answer["ids"][0]["test_run_id"]))
            else:
                # Whole: a "may or may not be stored" answer names its
                # cause (the query_timeout) at its end.
                self.note(name, ("error", "%d %r" % (resp.status,
                                                     resp.body)))
                time.sleep(0.05)
        if conn is not None:
            conn.close()


class DatabaseFaults:
    """What the fault tests do to PostgreSQL and how they watch mttd."""

    @classmethod
    def submit_build(cls, tag):
        """The id of a new build (of a new install) to link runs to."""
        _, (install,) = cls.mttd.must_submit(
            "MPI Install", [h.install_entry(mpi_version=tag)])
        _, (build,) = cls.mttd.must_submit(
            "Test Build", [h.build_entry(install)])
        return build

    def wait_serving(self, mttd, within):
        deadline = time.time() + within
        while time.time() < deadline:
            try:
                resp = mttd.http("POST", "/serial", {"serial": "x"},
                                 timeout=2)
                if resp.status == 200:
                    return time.time()
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        self.fail("mttd did not serve again within %.0f s" % within)

    def postgres_pids(self):
        """The postmaster and every process it started."""
        with open(os.path.join(self.pg.dir, "data", "postmaster.pid")) as f:
            main = int(f.readline())
        out = subprocess.run(["pgrep", "-P", str(main)], check=False,
                             capture_output=True, text=True).stdout
        return [main] + [int(pid) for pid in out.split()]

    @contextlib.contextmanager
    def postgres_frozen(self):
        """Every PostgreSQL process stopped (SIGSTOP: its connections stay
        open and say nothing) for the block, which gets when it froze."""
        pids = self.postgres_pids()
        try:
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            yield time.time()
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

    def wait_pool_connected(self, size=4, within=10):
        """Until every connection of the pool is connected (after a fault
        mttd serves once one is)."""
        deadline = time.time() + within
        while time.time() < deadline:
            last = {}
            for _, conn, _, new in conn_states(self.mttd.log_text()):
                last[conn] = new
            if len(last) == size and not (
                    set(last.values()) & {"down", "connecting"}):
                return
            time.sleep(0.05)
        self.fail("the pool did not connect again within %.0f s" % within)

    def query_held_by_a_lock(self, pool_size=1):
        """The pool (of pool_size) up over a second, then a count on a
        thread, held by a lock on mpi_install: its thread, the list its
        answer goes to, and the FROM clause that finds its backend."""
        self.wait_pool_connected(size=pool_size)
        time.sleep(1.1)
        h.HeldLock(self, "mpi_install")
        answers = []
        thread = threading.Thread(target=lambda: answers.append(
            self.mttd.http("POST", "/detail", {
                "phase": "install", "columns": ["mpi_version"],
                "search": {}, "options": {"count_only": True}})))
        thread.start()
        where = (" FROM pg_stat_activity WHERE datname = '%s' AND"
                 " application_name = 'mttd' AND wait_event_type = 'Lock'"
                 % self.db)
        deadline = time.time() + 10
        while self.sql1("SELECT count(*)" + where) != ["1"]:
            self.assertLess(time.time(), deadline)
            time.sleep(0.02)
        return thread, answers, where

    def wait_status(self, want, within):
        deadline = time.time() + within
        while time.time() < deadline:
            if self.mttd.http("GET", "/status").field("database") == want:
                return time.time()
            time.sleep(0.05)
        self.fail("/status did not say %r within %.0f s" % (want, within))


class Faults(DatabaseFaults, h.MttdTestCase):

    # No idle checks here: the tests below time what requests find.
    MTTD = {"server": {"drain_timeout": "10"},
            "pg": {"query_timeout": str(QUERY_TIMEOUT_S),
                   "connect_timeout": str(CONNECT_TIMEOUT_S),
                   "idle_check": "0"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _, (cls.install,) = cls.mttd.must_submit(
            "MPI Install", [h.install_entry(mpi_version="faults")])
        _, (cls.build,) = cls.mttd.must_submit(
            "Test Build", [h.build_entry(cls.install)])

    def resubmit(self, load, name):
        """The answer to the same submission sent again."""
        resp = self.mttd.submit("Test Run", [h.run_entry(
            load.build_id, test_name=name)])
        answer = resp.json if isinstance(resp.json, dict) else {}
        self.assertEqual((resp.status, answer.get("status")), (200, 0),
                         resp)
        return answer["ids"][0]["test_run_id"]

    def assertAccounted(self, load):
        stored = self.stored_runs(load.tag)
        sys.stderr.write("%s: %d stored; answers: %s\n" % (
            load.tag, sum(len(v) for v in stored.values()),
            {k: load.count(k) for k in ("ok", "error", "no answer")}))
        for name, outcome in load.outcomes.items():
            ids = stored.get(name, [])
            if outcome[0] == "ok":
                self.assertEqual(ids, [outcome[1]], (name, outcome))
            elif "may or may not be stored" in outcome[1]:
                # Lost after COMMIT was sent: whole or absent, and sending
                # it again answers the stored id (or stores it once).
                self.assertLessEqual(len(ids), 1, (name, outcome))
                again = self.resubmit(load, name)
                self.assertEqual(self.stored_runs(load.tag).get(name), [again])
                if ids:
                    self.assertEqual(again, ids[0])
            elif outcome[0] == "error":
                self.assertEqual(ids, [], (name, outcome))
            else:
                self.assertLessEqual(len(ids), 1, (name, outcome))
        # Nothing stored that no client sent.
        self.assertEqual(set(stored) - set(load.outcomes), set())
        self.assertEqual(max(len(v) for v in stored.values()), 1)

    def assertReconnectedPromptly(self, back, served):
        """The database answered again at `back`; mttd served at `served`.
        Served within 2.5 s: mttd was connecting or was due to within a
        second.  Later only if the database was slow to take connections
        after it came back (seen on a busy CI machine): then every
        connection of the pool must have tried again at most RECONNECT_S
        after each failed try, and mttd must have served at once after the
        first connect that succeeded."""
        if served - back < 2.5:
            return
        events = conn_states(self.mttd.log_text())
        report = "served %.2f s after the database was back; pool:\n%s" % (
            served - back, "\n".join(
                "%+.3f conn %d %s -> %s" % (t - back, c, old, new)
                for t, c, old, new in events if t > back - 6 and
                {old, new} & {"connecting", "down"}))
        ups = [t for t, _, old, new in events
               if t >= back and old == "connecting" and new == "idle"]
        self.assertTrue(ups, report)
        self.assertLess(served - ups[0], RECONNECT_S, report)
        down_since = {}  # conn -> when it went down (or back, if earlier)
        for t, conn, old, new in events:
            if t > ups[0]:
                break
            if new == "down":
                down_since[conn] = max(t, back)
            elif old == "down" and conn in down_since:
                self.assertLess(t - down_since.pop(conn),
                                RECONNECT_S + SLACK_S, report)
        for conn, since in down_since.items():  # still waiting at ups[0]
            self.assertLess(ups[0] - since, RECONNECT_S + SLACK_S, report)

    def test_postgres_restart(self):
        load = Load(self.mttd, self.build, "pgrestart").start()
        self.addCleanup(load.finish)
        time.sleep(LOAD_S)
        ok_before = load.count("ok")
        self.pg.stop()
        down = time.time()
        time.sleep(1.0)
        # While it is down: a prompt 503 with Retry-After, and /status.
        resp = self.mttd.http("POST", "/serial", {"serial": "x"}, timeout=5)
        self.assertEqual(resp.status, 503)
        self.assertEqual(resp.header("Retry-After"), "1")
        self.assertLess(time.time() - down, 3.5)
        self.assertEqual(self.mttd.http("GET", "/status").field("database"),
                         "down")
        self.pg.start()
        back = time.time()
        served = self.wait_serving(self.mttd, 10)
        time.sleep(LOAD_S)
        load.finish()
        self.assertGreater(ok_before, 0)
        self.assertGreater(load.count("ok"), ok_before)
        self.assertReconnectedPromptly(back, served)
        self.assertEqual(self.mttd.http("GET", "/status").field("database"),
                         "up")
        self.assertAccounted(load)

    def test_postgres_down_is_logged_once_per_connection(self):
        """While the database stays down, each connection logs its loss
        and its first failed connect as errors (and one more should the
        message change: "shutting down", then "Connection refused"), its
        later tries at DEBUG (a night's outage wrote a line a second per
        connection: break-it helper 32)."""
        mark = self.mttd.log_mark()
        self.pg.stop()
        try:
            time.sleep(4.5)
        finally:
            self.pg.start()
        self.wait_serving(self.mttd, 10)
        log = self.mttd.log_since(mark)
        conns = set(re.findall(r"ERROR db conn (\d+): ", log))
        self.assertEqual(len(conns), 4, log)
        # "database is up" says they are back; each connection's own
        # line is for one refused while the others were up (helper 65).
        self.assertNotIn("connected, after", log)
        for conn in conns:
            errors = re.findall(r"ERROR db conn %s: " % conn, log)
            self.assertLessEqual(len(errors), 3, log)
            self.assertGreaterEqual(len(re.findall(
                r"DEBUG db_conn_lost: db conn %s: " % conn, log)), 1, log)

    def test_postgres_frozen(self):
        """A database that keeps its connections open but says nothing
        (every PostgreSQL process stopped): the requests on them are
        answered 503 after query_timeout, connects give up after
        connect_timeout, /status says down, and new requests get 503 at
        once; once PostgreSQL runs again mttd serves within seconds."""
        load = Load(self.mttd, self.build, "frozen").start()
        self.addCleanup(load.finish)
        time.sleep(LOAD_S)
        ok_before = load.count("ok")
        mark = self.mttd.log_mark()
        with self.postgres_frozen() as frozen:
            # The busy connections are dropped once silent for
            # QUERY_TIMEOUT_S; the idle ones are checked then, and dropped
            # CONNECT_TIMEOUT_S later; none comes back.
            down = self.wait_status(
                "down", QUERY_TIMEOUT_S + CONNECT_TIMEOUT_S + 2)
            self.assertGreaterEqual(down - frozen, QUERY_TIMEOUT_S - 0.5)
            start = time.time()
            resp = self.mttd.http("POST", "/serial", {"serial": "x"},
                                  timeout=5)
            self.assertEqual(resp.status, 503, resp)
            self.assertEqual(resp.header("Retry-After"), "1")
            self.assertLess(time.time() - start, 1.0)
            self.assertIsNotNone(self.mttd.wait_log(
                r"no answer from the database in %d s while connecting"
                r" \(connect_timeout\)" % CONNECT_TIMEOUT_S, mark,
                timeout=CONNECT_TIMEOUT_S + 3), self.mttd.log_tail())
        resumed = time.time()
        served = self.wait_serving(self.mttd, 10)
        # A connect in progress when it resumed finishes then; else the
        # next try, at most 1 s later.
        self.assertReconnectedPromptly(resumed, served)
        time.sleep(LOAD_S)
        load.finish()
        self.assertGreater(ok_before, 0)
        self.assertGreater(load.count("ok"), ok_before)
        silent = [o for o in load.outcomes.values() if o[0] == "error" and
                  "no answer from the database in %d s (query_timeout)"
                  % QUERY_TIMEOUT_S in o[1]]
        self.assertGreater(len(silent), 0, load.outcomes)
        self.assertTrue(all(o[1].startswith("503 ") for o in silent),
                        silent)
        self.assertEqual(self.mttd.http("GET", "/status").field("database"),
                         "up")
        self.assertAccounted(load)

    def test_postgres_frozen_one_request_at_a_time(self):
        """Without load, the first request after a freeze waits out
        query_timeout; the idle connections are then checked, so the pool
        is known to be down connect_timeout later, not after a
        query_timeout for each of them."""
        entry = h.run_entry(self.build, test_name="frozen-alone")
        with self.postgres_frozen():
            start = time.time()
            first = self.mttd.submit("Test Run", [entry])
            took = time.time() - start
            self.assertEqual(first.status, 503, first)
            self.assertIn("(query_timeout)", first.field("status_message"))
            self.assertGreaterEqual(took, QUERY_TIMEOUT_S - 0.2)
            self.assertLess(took, QUERY_TIMEOUT_S + 2)
            self.wait_status("down", CONNECT_TIMEOUT_S + 1.5)
            start = time.time()
            second = self.mttd.submit("Test Run", [entry])
            self.assertEqual(second.status, 503, second)
            self.assertIn("unreachable", second.field("status_message"))
            self.assertLess(time.time() - start, 1.0)
            self.assertIn("to a check made because another connection"
                          " went silent (connect_timeout)",
                          self.mttd.log_text())
        self.wait_serving(self.mttd, 10)
        again = self.mttd.must_submit("Test Run", [entry])[1][0]
        self.assertEqual(self.stored_runs("frozen").get("frozen-alone"), [again])

    def test_postgres_frozen_reload_keeps_the_running_limit(self):
        """A batch keeps the silence limit it was sent with: a reload to
        query_timeout = 0 while it waits neither cancels its limit nor
        changes what the answer names."""
        entry = h.run_entry(self.build, test_name="frozen-reload")
        answer = {}
        conf = self.mttd.conf
        with open(conf) as f:
            text = f.read()
        self.assertIn("query_timeout = %d\n" % QUERY_TIMEOUT_S, text)
        try:
            with self.postgres_frozen():
                start = time.time()
                waiter = threading.Thread(target=lambda: answer.update(
                    resp=self.mttd.submit("Test Run", [entry])), daemon=True)
                waiter.start()
                time.sleep(1)
                with open(conf, "w") as f:
                    f.write(text.replace(
                        "query_timeout = %d" % QUERY_TIMEOUT_S,
                        "query_timeout = 0"))
                mark = self.mttd.log_mark()
                self.mttd.proc.send_signal(signal.SIGHUP)
                self.assertIsNotNone(self.mttd.wait_log(
                    r"SIGHUP: configuration in force", mark))
                waiter.join(QUERY_TIMEOUT_S + 5)
                took = time.time() - start
        finally:
            with open(conf, "w") as f:
                f.write(text)
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark))
        resp = answer["resp"]
        self.assertEqual(resp.status, 503, resp)
        self.assertIn("no answer from the database in %d s (query_timeout)"
                      % QUERY_TIMEOUT_S, resp.field("status_message"))
        self.assertLess(took, QUERY_TIMEOUT_S + 2)
        self.wait_serving(self.mttd, 10)
        self.mttd.must_submit("Test Run", [entry])

    def test_keepalives_on_database_connections(self):
        """Idle database connections send TCP keepalives after a minute
        (the kernel's keepalive timer runs on each), so a vanished host
        is found in about 90 s, not two hours."""
        deadline = time.time() + 5
        timers = self.database_socket_timers()
        while len(timers) < 4 and time.time() < deadline:
            time.sleep(0.1)  # An earlier fault's reconnects.
            timers = self.database_socket_timers()
        self.assertEqual(len(timers), 4, timers)  # the pool
        for timer, seconds in timers:
            self.assertEqual(timer, "02", timers)  # keepalive
            self.assertLessEqual(seconds, 60, timers)
            self.assertGreater(seconds, 30, timers)

    def database_socket_timers(self):
        """(timer kind, seconds left) of mttd's TCP sockets to
        PostgreSQL, from /proc/net/tcp (kind 02: keepalive)."""
        inodes = set()
        fd_dir = "/proc/%d/fd" % self.mttd.proc.pid
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except FileNotFoundError:
                continue  # Closed since the listing (a reconnect).
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
        timers = []
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                cols = line.split()
                remote_port = int(cols[2].split(":")[1], 16)
                if cols[9] in inodes and remote_port == self.pg.port:
                    timer, when = cols[5].split(":")
                    timers.append((timer, int(when, 16) / os.sysconf(
                        "SC_CLK_TCK")))
        return timers

    def test_kill_9_and_start_again(self):
        load = Load(self.mttd, self.build, "kill9").start()
        self.addCleanup(load.finish)
        time.sleep(LOAD_S)
        self.mttd.proc.send_signal(signal.SIGKILL)
        self.mttd.proc.wait(10)
        self.mttd.stop()
        self.mttd.start()
        self.wait_serving(self.mttd, 10)
        time.sleep(LOAD_S)
        load.finish()
        self.assertGreater(load.count("ok"), 0)
        self.assertGreater(load.count("no answer"), 0)
        self.assertAccounted(load)

    def test_sigterm_mid_load(self):
        load = Load(self.mttd, self.build, "sigterm").start()
        self.addCleanup(load.finish)
        time.sleep(LOAD_S)
        term = time.time()
        self.mttd.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.mttd.proc.wait(15), 0)
        # The clients' next requests are refused, not waited for.
        self.assertLess(time.time() - term, 3.0)
        self.mttd.stop()
        self.assertIn("mttd stopped", self.mttd.log_text())
        load.finish()
        self.assertGreater(load.count("ok"), 0)
        self.assertAccounted(load)
        # Every request in flight was answered: none stored unanswered.
        stored = self.stored_runs(load.tag)
        self.assertEqual(sum(len(v) for v in stored.values()),
                         load.count("ok"))
        self.mttd.start()
        self.wait_serving(self.mttd, 10)


class IdleCheck(DatabaseFaults, h.MttdTestCase):
    """[pg_v3] idle_check: a pool no request used for idle_check seconds
    checks its longest-idle connection, so a database that froze unused
    is found (and /status says so) before a request meets it."""

    IDLE_CHECK_S = 1
    MTTD = {"pg": {"query_timeout": str(QUERY_TIMEOUT_S),
                   "connect_timeout": str(CONNECT_TIMEOUT_S),
                   "idle_check": str(IDLE_CHECK_S)}}

    def checks_since(self, mark):
        return re.findall(r"db conn (\d+): idle check$",
                          self.mttd.log_since(mark), re.M)

    def set_idle_check(self, value, was):
        with open(self.mttd.conf) as f:
            text = f.read()
        old = "idle_check = %d\n" % was
        self.assertIn(old, text)
        with open(self.mttd.conf, "w") as f:
            f.write(text.replace(old, "idle_check = %s\n" % value))
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark))

    def test_healthy_idle_pool_is_checked_in_turn(self):
        """Idle, one connection a second is checked, the longest-idle
        first (all four in turn); nothing is dropped and requests go on."""
        self.wait_pool_connected()
        mark = self.mttd.log_mark()
        # One period may have seen the last test's request: 5 ticks at
        # least, 4 checks at least.
        time.sleep(5 * self.IDLE_CHECK_S + 0.6)
        checks = self.checks_since(mark)
        self.assertGreaterEqual(len(checks), 4, checks)
        self.assertEqual(set(checks[:4]), {"0", "1", "2", "3"}, checks)
        log = self.mttd.log_since(mark)
        self.assertNotIn("ERROR", log)
        self.assertNotRegex(log, r"-> (down|connecting)")
        self.assertEqual(self.mttd.http("GET", "/status").field("database"),
                         "up")
        self.mttd.must_submit("Test Run", [h.run_entry(
            self.build, test_name="idle-healthy")])

    def test_no_check_while_requests_use_the_pool(self):
        mark = None
        end = time.time() + 3 * self.IDLE_CHECK_S
        while time.time() < end:
            resp = self.mttd.http("POST", "/serial", {"serial": "x"})
            self.assertEqual(resp.status, 200, resp)
            if mark is None:  # After a request: every period has one.
                mark = self.mttd.log_mark()
            time.sleep(0.2)
        self.assertEqual(self.checks_since(mark), [])

    def test_frozen_while_idle_is_found_without_a_request(self):
        """No request meets the frozen database (GET /status reads no
        database): the idle check goes unanswered within connect_timeout,
        the other idle connections are checked and dropped, /status says
        down, and a request then gets 503 at once."""
        mark = self.mttd.log_mark()
        with self.postgres_frozen() as frozen:
            # The first check within idle_check, unanswered
            # connect_timeout later; the others are then checked, and
            # dropped connect_timeout after that.
            down = self.wait_status(
                "down", self.IDLE_CHECK_S + 2 * CONNECT_TIMEOUT_S + 1.5)
            self.assertGreaterEqual(down - frozen,
                                    2 * CONNECT_TIMEOUT_S - 0.3)
            log = self.mttd.log_since(mark)
            self.assertIn("no answer from the database in %d s to the check"
                          " of an idle connection (idle_check,"
                          " connect_timeout)" % CONNECT_TIMEOUT_S, log)
            self.assertNotIn("query_timeout", log)
            self.assertNotIn("POST", log)
            start = time.time()
            resp = self.mttd.http("POST", "/serial", {"serial": "x"},
                                  timeout=5)
            self.assertEqual(resp.status, 503, resp)
            self.assertEqual(resp.header("Retry-After"), "1")
            self.assertEqual(resp.field("status_message"),
                             "the database is unreachable; try again later")
            self.assertLess(time.time() - start, 1.0)
        self.wait_serving(self.mttd, 10)
        self.assertEqual(self.mttd.http("GET", "/status").field("database"),
                         "up")

    def test_request_just_after_a_check_delays_the_next_by_a_period(self):
        """The checks count from the last request: one just after a check
        moves the next to idle_check after it, not to the tick after
        that (a freeze is down within idle_check + 2 x connect_timeout
        of the last request)."""
        period = 3
        self.set_idle_check(period, self.IDLE_CHECK_S)
        self.addCleanup(self.set_idle_check, self.IDLE_CHECK_S, period)
        self.wait_pool_connected()
        mark = self.mttd.log_mark()
        self.assertIsNotNone(self.mttd.wait_log(
            r"idle check$", mark, timeout=period + 1))
        time.sleep(0.1)
        resp = self.mttd.http("POST", "/serial", {"serial": "x"})
        self.assertEqual(resp.status, 200, resp)
        with self.postgres_frozen() as frozen:
            down = self.wait_status("down", period + 2 * CONNECT_TIMEOUT_S +
                                    period)
            self.assertLess(down - frozen,
                            period + 2 * CONNECT_TIMEOUT_S + 1.0)
        self.wait_serving(self.mttd, 10)

    def test_reload_to_zero_stops_the_checks(self):
        self.set_idle_check(0, self.IDLE_CHECK_S)
        mark = self.mttd.log_mark()
        time.sleep(3 * self.IDLE_CHECK_S)
        self.assertEqual(self.checks_since(mark), [])
        self.set_idle_check(self.IDLE_CHECK_S, 0)
        mark = self.mttd.log_mark()
        time.sleep(2 * self.IDLE_CHECK_S + 0.6)
        self.assertGreaterEqual(len(self.checks_since(mark)), 1)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _, (cls.install,) = cls.mttd.must_submit(
            "MPI Install", [h.install_entry(mpi_version="idle")])
        _, (cls.build,) = cls.mttd.must_submit(
            "Test Build", [h.build_entry(cls.install)])


class LostMidQuery(DatabaseFaults, h.MttdTestCase):
    """A connection lost under a query: the 503's message holds libpq's
    reason on one line (it had libpq's line break and tab, break-it
    helper 39)."""

    def test_message_is_one_line(self):
        thread, answers, where = self.query_held_by_a_lock(pool_size=4)
        self.sql1("SELECT pg_terminate_backend(pid)" + where)
        thread.join(30)
        (resp,) = answers
        self.assertEqual(resp.status, 503, resp)
        message = resp.field("status_message")
        self.assertTrue(message.startswith(
            "the database failed to run the query; try again later"
            " (database connection lost: "), message)
        self.assertTrue(message.endswith(")"), message)
        self.assertNotRegex(message, r"[\x00-\x1f]|  ", message)


class BusySessionTerminated(DatabaseFaults, h.MttdTestCase):
    """A backend terminated under a statement: its request gets the 503,
    and the connection, up a second or more, is made again at once
    without calling the database down (break-it helper 51: the pool was
    down for a second, and every request meanwhile was refused, though
    the server ran on).  One connection, so that the busy one is the
    pool's last."""

    MTTD = {"pg": {"pool_size": "1", "idle_check": "0"}}

    def test_no_outage_and_served_at_once(self):
        thread, answers, where = self.query_held_by_a_lock()
        mark = self.mttd.log_mark()
        self.sql1("SELECT pg_terminate_backend(pid)" + where)
        thread.join(30)
        (resp,) = answers
        self.assertEqual(resp.status, 503, resp)
        self.assertTrue(resp.field("status_message").startswith(
            "the database failed to run the query; try again later"
            " (database connection lost: "), resp)
        self.assertEqual(self.mttd.http("GET", "/status").field("database"),
                         "up")
        start = time.time()
        resp = self.mttd.http("POST", "/serial", {"serial": "x"})
        self.assertEqual((resp.status, resp.field("status")), (200, 0), resp)
        self.assertLess(time.time() - start, 0.9)
        log = self.mttd.log_since(mark)
        self.assertIn("ERROR db conn 0: server closed the connection"
                      " unexpectedly", log)
        self.assertNotIn("database is down", log)


class BusySessionLostToASilentServer(DatabaseFaults, h.MttdTestCase):
    """A backend lost under a statement while the server accepts new
    connections but says nothing (its postmaster stopped): the connect
    made at once hangs, and the pool is called down two reconnect delays
    after the loss, not connect_timeout (10 s) later, so requests get
    503 at once again (break-it helper 53)."""

    MTTD = {"pg": {"pool_size": "1", "idle_check": "0"}}

    def test_called_down_within_two_seconds(self):
        thread, answers, where = self.query_held_by_a_lock()
        (backend,) = self.sql1("SELECT pid" + where)
        postmaster = self.postgres_pids()[0]
        os.kill(postmaster, signal.SIGSTOP)
        try:
            lost = time.time()
            os.kill(int(backend), signal.SIGTERM)
            thread.join(30)
            (resp,) = answers
            self.assertEqual(resp.status, 503, resp)
            down = self.wait_status("down", 5)
            self.assertLess(down - lost, 2.8)
            start = time.time()
            resp = self.mttd.http("POST", "/serial", {"serial": "x"})
            self.assertEqual(resp.status, 503, resp)
            self.assertEqual(resp.field("status_message"),
                             "the database is unreachable; try again later")
            self.assertLess(time.time() - start, 0.5)
        finally:
            os.kill(postmaster, signal.SIGCONT)
        self.wait_serving(self.mttd, 15)


class ServerClosesIdleSessions(DatabaseFaults, h.MttdTestCase):
    """PostgreSQL's idle_session_timeout closes every idle connection of
    the pool at once, and an operator may terminate idle backends: no
    outage.  Each is made again, /status stays "up", requests are
    served, and the log says why at WARNING."""

    MTTD = {"pg": {"idle_check": "0"}}

    def with_idle_session_timeout(self, value):
        self.sql("ALTER ROLE mtt IN DATABASE %s SET idle_session_timeout"
                 " = '%s'" % (self.db, value))
        self.addCleanup(self.restart_mttd)
        self.addCleanup(self.sql, "ALTER ROLE mtt IN DATABASE %s RESET"
                        " idle_session_timeout" % self.db)
        self.restart_mttd()  # Its sessions take the setting.

    def restart_mttd(self):
        self.mttd.stop()
        self.mttd.start()
        self.wait_pool_connected()

    def test_request_meeting_a_closing_session_is_served(self):
        """The server's FATAL waits unread when the request comes in the
        same loop turn (mttd stopped while the sessions time out): the
        request goes to a connection made again, not to the closed one."""
        self.with_idle_session_timeout("1s")
        conn = self.mttd.connection()
        self.addCleanup(conn.close)
        for i in range(5):
            self.mttd.proc.send_signal(signal.SIGSTOP)
            try:
                time.sleep(1.4)
                body = h.to_json(h.submit_body("Test Run", [h.run_entry(
                    self.build, test_name="closing-%d" % i)]))
                conn.request("POST", "/submit", body=body, headers={
                    "Content-Type": "application/json",
                    "Authorization": self.mttd.auth_header()})
            finally:
                self.mttd.proc.send_signal(signal.SIGCONT)
            resp = conn.getresponse()
            data = json.loads(resp.read())
            self.assertEqual((resp.status, data["status"]), (200, 0), data)
        self.assertEqual(len(self.stored_runs("closing")), 5)

    def test_terminated_again_within_a_second_is_no_outage(self):
        """Idle backends terminated twice 0.3 s apart: the second time
        the connections were up less than a second, so they wait the
        usual second before connecting again, yet the pool is not
        called down and a request meanwhile waits for them."""
        self.wait_pool_connected()
        time.sleep(1.1)  # Up a second: the first time, made again at once.
        mark = self.mttd.log_mark()
        self.terminate_idle_backends()
        self.terminate_idle_backends()
        time.sleep(0.1)
        self.assertEqual(self.mttd.http("GET", "/status").field("database"),
                         "up")
        start = time.time()
        self.mttd.must_submit("Test Run", [h.run_entry(
            self.build, test_name="terminated-twice")])
        self.assertLess(time.time() - start, 2.0)
        log = self.mttd.log_since(mark)
        self.assertEqual(len(re.findall(
            r"WARNING db conn \d: closed by the server while unused \(FATAL:"
            r"  terminating connection due to administrator command\)",
            log)), 8, log)
        self.assertNotIn("database is down", log)
        self.assertNotIn("ERROR", log)

    def terminate_idle_backends(self, n=4, within=5):
        """Once n idle backends of mttd's pool are there, terminate them."""
        where = (" FROM pg_stat_activity WHERE datname = '%s' AND"
                 " application_name = 'mttd' AND state = 'idle'" % self.db)
        deadline = time.time() + within
        while self.sql1("SELECT count(*)" + where) != [str(n)]:
            self.assertLess(time.time(), deadline, self.sql(
                "SELECT pid, state, backend_start FROM pg_stat_activity"
                " WHERE datname = '%s'" % self.db))
            time.sleep(0.02)
        self.assertEqual(
            self.sql1("SELECT count(pg_terminate_backend(pid))" + where),
            [str(n)])

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.build = cls.submit_build("closing")

    def test_idle_session_timeout_is_no_outage(self):
        self.with_idle_session_timeout("1500ms")
        mark = self.mttd.log_mark()
        states = []
        end = time.time() + 4
        while time.time() < end:
            states.append(self.mttd.http("GET", "/status").field("database"))
            time.sleep(0.05)
        log = self.mttd.log_since(mark)
        closed = re.findall(
            r"WARNING db conn \d: closed by the server while unused \(FATAL:"
            r"  terminating connection due to idle-session timeout\);"
            r" connecting again", log)
        self.assertGreaterEqual(len(closed), 4, log)
        self.assertEqual(set(states), {"up"})
        self.assertNotIn("ERROR", log)
        self.assertNotIn("database is down", log)
        self.assertEqual(self.mttd.http("POST", "/serial",
                                        {"serial": "x"}).status, 200)


class DatabaseSettingsChanged(DatabaseFaults, h.MttdTestCase):
    """Settings a session takes when it is made, changed for the database
    while mttd runs (break-it helper 63: once put right, the pool's
    sessions kept refusing every submission until mttd restarted).
    Sessions made while the database refuses writes
    (default_transaction_read_only, as for maintenance, or a standby):
    /status says so, each submission is refused whole, and once it takes
    writes again the idle sessions are made again within a second.  A
    search_path that hides the tables: a session that fails for it is
    made again when given back."""

    MTTD = {"pg": {"idle_check": "0"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.build = cls.submit_build("settings")

    def alter_database(self, change):
        # From another database: a read-only one refuses ALTER DATABASE.
        self.pg.psql("ALTER DATABASE %s %s" % (self.db, change),
                     db="postgres", superuser=True)

    def sessions_made_again(self):
        """As a failover or a restart of PostgreSQL would."""
        self.wait_pool_connected()
        self.assertEqual(self.pg.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = '%s' AND application_name = 'mttd'"
            % self.db, db="postgres", superuser=True), [["4"]])

    def status_when(self, key, want, within=5):
        deadline = time.time() + within
        while True:
            status = self.mttd.http("GET", "/status").json
            if status.get(key) == want or time.time() > deadline:
                return status
            time.sleep(0.05)

    def submit_run(self, name):
        return self.mttd.submit("Test Run", [h.run_entry(
            self.build, test_name=name)])

    def test_read_only_database_refused_then_stored(self):
        self.assertIs(self.status_when("database_read_only", False)
                      ["database_read_only"], False)
        mark = self.mttd.log_mark()
        self.alter_database("SET default_transaction_read_only = on")
        self.addCleanup(self.alter_database,
                        "RESET default_transaction_read_only")
        self.sessions_made_again()
        status = self.status_when("database_read_only", True)
        self.assertEqual((status["database"], status["database_read_only"]),
                         ("up", True))
        snap = self.snapshot()
        for i in range(3):
            resp = self.submit_run("readonly-refused-%d" % i)
            self.assertEqual((resp.status, resp.json["status"]), (503, -2))
            self.assertEqual(
                resp.field("status_message"),
                "the database failed and nothing was stored; try again"
                " later (cannot execute INSERT in a read-only"
                " transaction)")
        self.assertEqual(self.snapshot(), snap)

        self.alter_database("RESET default_transaction_read_only")
        status = self.status_when("database_read_only", False)
        self.assertEqual((status["database"], status["database_read_only"]),
                         ("up", False))
        time.sleep(1.5)  # Every idle session made again by now.
        for i in range(6):
            self.mttd.must_submit("Test Run", [h.run_entry(
                self.build, test_name="readonly-stored-%d" % i)])
        self.assertEqual(len(self.stored_runs("readonly-stored")), 6)
        self.assertEqual(self.stored_runs("readonly-refused"), {})
        log = self.mttd.log_since(mark)
        warning = (
            "WARNING sessions of the database 127.0.0.1:%d refuse writes"
            " (default_transaction_read_only is on, set for the role, the"
            " database or the server): submissions and POST /serial on"
            " them are refused; idle ones are made again each second, to"
            " see when it takes writes" % self.pg.port)
        self.assertEqual(log.count(warning), 1, log)
        self.assertEqual(log.count(
            "INFO the database 127.0.0.1:%d takes writes again"
            % self.pg.port), 1, log)
        # Logged as a refusal, with who sent it (break-it helper 66).
        self.assertEqual(log.count(
            'ERROR submit refused: user=mttuser client=127.0.0.1'
            ' phase="Test Run" reason=the database failed and nothing was'
            ' stored (cannot execute INSERT in a read-only transaction)\n'),
            3, log)
        # The statement is named by what it does (it was "role 6").
        self.assertEqual(log.count(
            "ERROR submit: statement 1 (creating linked rows) failed:"
            " cannot execute INSERT in a read-only transaction [25006]\n"),
            3, log)

    def test_connections_refused_then_back_are_told(self):
        # Break-it helper 63: connections the database refused logged
        # their errors, and came back at DEBUG only.
        self.alter_database("CONNECTION LIMIT 2")
        self.addCleanup(self.alter_database, "CONNECTION LIMIT -1")
        mark = self.mttd.log_mark()
        self.sessions_made_again()
        self.assertIsNotNone(self.mttd.wait_log(
            r"ERROR db conn \d: connection to server at \"127.0.0.1\","
            r" port \d+ failed: FATAL:  too many connections for database"
            r" \"%s\"" % self.db, mark))
        self.mttd.must_submit("Test Run", [h.run_entry(
            self.build, test_name="limited-0")])
        self.alter_database("CONNECTION LIMIT -1")
        self.wait_pool_connected()
        log = self.mttd.log_since(mark)
        refused = set(re.findall(r"ERROR db conn (\d): connection to", log))
        back = set(re.findall(r"INFO db conn (\d): connected, after \d+"
                              r" failed connect\(s\)\n", log))
        self.assertEqual(len(refused), 2, log)
        self.assertEqual(back, refused, log)
        self.assertNotIn("database is up", log)

    def test_refused_after_an_outage_then_back_are_told(self):
        # Break-it helper 67: refused after "database is up", a
        # connection's error was never followed by its "connected".
        self.alter_database("CONNECTION LIMIT 2")
        self.addCleanup(self.alter_database, "CONNECTION LIMIT -1")
        mark = self.mttd.log_mark()
        self.pg.stop()
        time.sleep(1.5)
        self.pg.start()
        self.wait_serving(self.mttd, 10)
        self.assertIsNotNone(self.mttd.wait_log(
            r"ERROR db conn \d: .*too many connections for database",
            mark))
        self.alter_database("CONNECTION LIMIT -1")
        self.wait_pool_connected()
        log = self.mttd.log_since(mark)
        # Refused before "database is up" was said (a connect racing the
        # first ones to succeed, seen in CI), a connection counts as part
        # of the outage, which "database is up" answers for; refused
        # after it, it says it is back.
        after_up = log[log.index("INFO database is up"):]
        refused = set(re.findall(
            r"ERROR db conn (\d): .*too many connections for database",
            after_up))
        back = set(re.findall(r"INFO db conn (\d): connected, after \d+"
                              r" failed connect\(s\)\n", log))
        self.assertEqual(len(set(re.findall(
            r"ERROR db conn (\d): .*too many connections for database",
            log))), 2, log)
        self.assertEqual(back, refused, log)

    def alter_system(self, change):
        self.pg.psql("ALTER SYSTEM %s" % change, db="postgres",
                     superuser=True)
        self.pg.psql("SELECT pg_reload_conf()", db="postgres",
                     superuser=True)

    def test_read_only_for_the_server_then_not_at_once(self):
        """ALTER SYSTEM changes open sessions in place.  Turned on and off
        again before any session was made again, no session "made since"
        the warning said it takes writes, and /status said true for good
        (found in review): one idle session is made again to see."""
        server = h.Mttd(self.db, pg={"pool_size": "1", "idle_check": "0"})
        server.start()
        self.addCleanup(server.stop)
        count = {"phase": "install", "columns": ["mpi_version"],
                 "search": {}, "options": {"count_only": True}}
        self.alter_system("SET default_transaction_read_only = on")
        self.addCleanup(self.alter_system,
                        "RESET default_transaction_read_only")
        time.sleep(0.3)  # Each backend reloads its configuration.
        server.http("POST", "/detail", count)  # Its session says "on".
        self.alter_system("RESET default_transaction_read_only")
        time.sleep(0.3)
        server.http("POST", "/detail", count)  # The same says "off".
        deadline = time.time() + 5
        while server.http("GET", "/status").json.get(
                "database_read_only") is not False:
            self.assertLess(time.time(), deadline, server.log_tail())
            time.sleep(0.05)
        self.assertEqual(server.log_text().count(
            "takes writes again"), 1, server.log_text())

    def test_old_writable_sessions_beside_new_read_only_ones(self):
        # Turned on for the database, the setting reaches only sessions
        # made after: old writable ones store, new ones refuse.  One
        # warning, and no "takes writes again" until it does (break-it
        # helper 65: both lines came every second).
        self.wait_pool_connected()
        mark = self.mttd.log_mark()
        self.alter_database("SET default_transaction_read_only = on")
        self.addCleanup(self.alter_database,
                        "RESET default_transaction_read_only")
        self.assertEqual(self.pg.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM"
            " pg_stat_activity WHERE datname = '%s' AND application_name"
            " = 'mttd' LIMIT 2) x" % self.db, db="postgres",
            superuser=True), [["2"]])
        self.assertIs(self.status_when("database_read_only", True)
                      ["database_read_only"], True)
        answers = {}
        end = time.time() + 3
        while time.time() < end:
            status = self.mttd.http("POST", "/serial",
                                    {"serial": "x"}).status
            answers[status] = answers.get(status, 0) + 1
        self.assertGreater(answers.get(200, 0), 0, answers)
        log = self.mttd.log_since(mark)
        self.assertEqual(log.count("refuse writes"), 1, log)
        self.assertNotIn("takes writes again", log)
        self.alter_database("RESET default_transaction_read_only")
        self.assertIs(self.status_when("database_read_only", False)
                      ["database_read_only"], False)
        self.assertIsNotNone(self.mttd.wait_log(
            r"INFO the database \S+ takes writes again$", mark))

    def test_search_path_put_right_is_taken(self):
        mark = self.mttd.log_mark()
        self.alter_database("SET search_path = nothing_here")
        self.addCleanup(self.alter_database, "RESET search_path")
        self.sessions_made_again()
        self.wait_pool_connected()
        resp = self.submit_run("searchpath-refused")
        self.assertEqual((resp.status, resp.json["status"]), (503, -2))
        self.assertEqual(resp.field("status_message"),
                         "the database failed and nothing was stored; try"
                         " again later (relation \"submit\" does not"
                         " exist)")
        self.alter_database("RESET search_path")
        # A session that failed for it is made again when given back;
        # the others fail once each at most.
        outcomes = []
        for i in range(6):
            resp = self.submit_run("searchpath-after-%d" % i)
            outcomes.append(resp.json["status"])
            time.sleep(0.2)
        self.assertEqual(outcomes[-2:], [0, 0], outcomes)
        self.assertEqual(len(self.stored_runs("searchpath-after")),
                         outcomes.count(0))
        self.assertRegex(self.mttd.log_since(mark),
                         r"INFO db conn \d: made again after an error of"
                         r" SQLSTATE 42P01, so that a new session takes"
                         r" the database's settings as they are now\n")


if __name__ == "__main__":
    h.main()
