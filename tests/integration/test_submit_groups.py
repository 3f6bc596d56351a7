#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Submissions stored together (handler_submit.c, submit_store_run_group):
under load, the submission that gets a database connection takes the
waiting ones of its phase along into one transaction.  Each must still
get its own answer and ids, ids stay dense and in order, one bad
submission costs the others nothing, and a group never mixes phases.

To make submissions wait, mttd gets one connection (pool_size 1) and a
psql session holds a lock on test_run, so the first submission's insert
waits for it while the others queue for the connection."""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

LOCK_HOLD_S = 3
WAITERS = 5


class Groups(h.MttdTestCase):

    MTTD = {"pg": {"pool_size": "1"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.install_id, cls.build_id = cls.mttd.install_and_build()

    def hold_test_run_lock(self):
        """A psql session that holds test_run against inserts for
        LOCK_HOLD_S seconds, started once the lock is taken."""
        psql = os.path.join(h.PG_BINDIR, "psql")
        sql = ("BEGIN; LOCK TABLE test_run IN SHARE ROW EXCLUSIVE MODE; "
               "SELECT pg_sleep(%d); COMMIT;" % LOCK_HOLD_S)
        proc = subprocess.Popen(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
            + self.pg.psql_args(self.db) + ["-c", sql],
            env=self.pg.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        if self.wait_for_count(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON "
                "c.oid = l.relation WHERE c.relname = 'test_run' AND "
                "l.mode = 'ShareRowExclusiveLock' AND l.granted"):
            return proc
        proc.kill()
        self.fail("the test_run lock was not taken")

    def wait_for_count(self, count_sql, timeout=10.0):
        """True once count_sql counts a row, False after timeout."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if int(self.sql1(count_sql)[0]):
                return True
            time.sleep(0.05)
        return False

    def send_all(self, bodies):
        """POST the first body, then the others while it waits for the
        lock; returns the answers in order."""
        results = [None] * len(bodies)

        def post(i):
            try:
                results[i] = self.mttd.http("POST", "/submit", bodies[i])
            except Exception as exc:  # noqa: BLE001 - reported below
                results[i] = exc

        first = threading.Thread(target=post, args=(0,), daemon=True)
        first.start()
        # The first one holds the only connection, blocked in its insert.
        self.wait_for_waiting_insert()
        others = [threading.Thread(target=post, args=(i,), daemon=True)
                  for i in range(1, len(bodies))]
        for t in others:
            t.start()
            time.sleep(0.05)  # in this order into the wait queue
        for t in [first] + others:
            t.join(LOCK_HOLD_S + 30)
        for i, r in enumerate(results):
            self.assertIsInstance(r, h.Resp, "request %d: %r" % (i, r))
        return results

    def wait_for_waiting_insert(self):
        """Until the results statement (whose text pg_stat_activity cuts
        before its INSERT) waits for the lock."""
        if self.wait_for_count(
                "SELECT count(*) FROM pg_stat_activity WHERE "
                "wait_event_type = 'Lock' AND query LIKE "
                "'WITH v AS MATERIALIZED%'"):
            return
        self.fail("the first submission never waited for the lock: %r"
                  % self.sql("SELECT state, wait_event_type, wait_event, "
                             "left(query, 60) FROM pg_stat_activity"))

    def run_body(self, tag, build_id=None):
        return h.submit_body("Test Run", [h.run_entry(
            self.build_id if build_id is None else build_id,
            test_name="grp_%s" % tag)])

    def test_waiting_submissions_stored_as_one_group(self):
        before = self.max_id("test_run")
        mark = self.mttd.log_mark()
        lock = self.hold_test_run_lock()
        bodies = [self.run_body("ok%d" % i) for i in range(1 + WAITERS)]
        answers = [self.assertOk(r) for r in self.send_all(bodies)]
        lock.wait(30)
        ids = [a["ids"][0]["test_run_id"] for a in answers]
        # Dense, one each, in the order the requests queued.
        self.assertEqual(ids, list(range(before + 1,
                                         before + 2 + WAITERS)), answers)
        for i, run_id in enumerate(ids):
            self.assertEqual(self.sql1(
                "SELECT n.test_name, r.test_build_id FROM test_run r JOIN "
                "test_names n USING (test_name_id) WHERE r.test_run_id = %d"
                % run_id), ["grp_ok%d" % i, str(self.build_id)])
        self.assertIn("stores %d waiting submissions with its own"
                      % (WAITERS - 1), self.mttd.log_since(mark))
        self.assertEqual(int(self.sql1(
            "SELECT count(*) FROM test_names WHERE test_name LIKE "
            "'grp\\_ok%'")[0]), 1 + WAITERS)

    def test_bad_submission_refused_alone(self):
        before = self.max_id("test_run")
        mark = self.mttd.log_mark()
        lock = self.hold_test_run_lock()
        bodies = [self.run_body("b%d" % i) for i in range(1 + WAITERS)]
        bodies[3] = self.run_body("b3", build_id=987654)
        results = self.send_all(bodies)
        lock.wait(30)
        self.assertRefused(results[3], names=["test_build_id", "987654"])
        stored = [self.assertOk(r)["ids"][0]["test_run_id"]
                  for i, r in enumerate(results) if i != 3]
        # The group failed before any insert: no id was taken for it.
        self.assertEqual(stored, list(range(before + 1,
                                            before + 1 + WAITERS)))
        log = self.mttd.log_since(mark)
        self.assertIn("a group of %d submissions failed" % WAITERS, log)
        self.assertEqual(int(self.sql1(
            "SELECT count(*) FROM test_names WHERE test_name = 'grp_b3'")[0]),
            0)
        self.assertEqual(self.max_id("test_run"), before + WAITERS)

    def test_bad_timestamp_in_group_named_not_an_error(self):
        """A value PostgreSQL refuses fails the group's statement: the
        group is stored again one by one, the refusal names the field,
        and the log has its warning but no ERROR (a client's fault)."""
        mark = self.mttd.log_mark()
        lock = self.hold_test_run_lock()
        bodies = [self.run_body("t%d" % i) for i in range(4)]
        bodies[2]["data"][0]["start_timestamp"] = "garbage"
        # The phase as the client wrote it goes into the log line; its
        # text outlives the parsed tree, which is dropped before storing.
        bodies[2]["metadata"]["phase"] = "Test Running"
        results = self.send_all(bodies)
        lock.wait(30)
        self.assertRefused(results[2], names=["start_timestamp"])
        for i in (0, 1, 3):
            self.assertOk(results[i])
        log = self.mttd.log_since(mark)
        self.assertIn("a group of 3 submissions failed", log)
        self.assertRegex(log, r"WARNING submit refused: user=\S+ client=\S+"
                         r" phase=\"Test Running\" reason=.*start_timestamp")
        self.assertNotIn(" ERROR ", log)

    def test_same_result_twice_in_one_group(self):
        """Two waiting submissions of the same result: one row, one id."""
        lock = self.hold_test_run_lock()
        bodies = [self.run_body("first"), self.run_body("twin"),
                  self.run_body("other"), self.run_body("twin")]
        answers = [self.assertOk(r) for r in self.send_all(bodies)]
        lock.wait(30)
        ids = [a["ids"][0]["test_run_id"] for a in answers]
        self.assertEqual(ids[1], ids[3], answers)
        self.assertEqual(len(set(ids)), 3, answers)
        self.assertEqual(int(self.sql1(
            "SELECT count(*) FROM test_run r JOIN test_names n USING "
            "(test_name_id) WHERE n.test_name = 'grp_twin'")[0]), 1)

    def test_phases_never_mixed(self):
        """A waiting build is not taken into a group of runs."""
        mark = self.mttd.log_mark()
        lock = self.hold_test_run_lock()
        bodies = [self.run_body("m0"), self.run_body("m1"),
                  h.submit_body("Test Build", [h.build_entry(
                      self.install_id, suite_name="TestBuild:grp")]),
                  self.run_body("m2")]
        results = self.send_all(bodies)
        lock.wait(30)
        for r in results:
            self.assertOk(r)
        self.assertIn("stores 1 waiting submissions with its own",
                      self.mttd.log_since(mark))
        self.assertEqual(int(self.sql1(
            "SELECT count(*) FROM test_build b JOIN test_suites s USING "
            "(test_suite_id) WHERE s.suite_name = 'TestBuild:grp'")[0]), 1)


class Waves(h.MttdTestCase):
    """Entries of one list that could be one result are stored in later
    statements ("waves") of the same transaction: each sees what the ones
    before it stored, as if the entries were stored one by one."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _, cls.build_id = cls.mttd.install_and_build()

    def test_entries_alike_in_one_list(self):
        at = "Fri Dec  4 14:00:00 2026"
        a = h.run_entry(self.build_id, test_name="wave_x",
                        start_timestamp=at, result_stdout="one",
                        duration="5 seconds")
        b = dict(a, result_stdout="two")            # same key, other result
        c = h.run_entry(self.build_id, test_name="wave_y")
        a_again = dict(a)                            # equal to a
        a_less = {k: v for k, v in a.items() if k != "duration"}
        a_iso = dict(a, start_timestamp="2026-12-04T14:00:00")
        before = self.max_id("test_run")
        entries = [a, b, c, a_again, a_less, a_iso]
        _, ids = self.submit_ok("Test Run", entries)
        n = before
        # a, b, c new, in entry order; the others are a.
        self.assertEqual(ids, [n + 1, n + 2, n + 3, n + 1, n + 1, n + 1])
        self.assertEqual(self.max_id("test_run"), n + 3)
        # The same list again stores nothing and answers the same ids.
        _, again = self.submit_ok("Test Run", entries)
        self.assertEqual(again, ids)
        self.assertEqual(self.max_id("test_run"), n + 3)
        self.assertEqual(self.sql(
            "SELECT result_stdout, duration FROM test_run WHERE test_run_id"
            " > %d ORDER BY test_run_id" % n),
            [["one", "00:00:05"], ["two", "00:00:05"], ["hello", "00:00:00"]])


class Replanning(h.MttdTestCase):
    """Plans made while tables were small are dropped after the rows the
    prepared statements handled, not after their executions: a few large
    batches on a new database already replan (db_pool.c)."""

    MTTD = {"pg": {"pool_size": "1"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _, cls.build_id = cls.mttd.install_and_build()

    def test_large_batches_replan_early(self):
        mark = self.mttd.log_mark()
        before = self.max_id("test_run")
        for batch in range(3):
            entries = [h.run_entry(self.build_id,
                                   test_name="replan_%d_%d" % (batch, i))
                       for i in range(100)]
            _, ids = self.submit_ok("Test Run", entries)
            first = before + 1 + 100 * batch
            self.assertEqual(ids, list(range(first, first + 100)))
        # The first threshold is 256 rows: within these 300 results (and
        # their lookups), where 256 executions would take ~50 batches.
        line = self.mttd.wait_log(r"plans dropped after (\d+) rows", mark)
        self.assertIsNotNone(line, self.mttd.log_tail())
        rows = int(line.rsplit("after ", 1)[1].split()[0])
        self.assertGreaterEqual(rows, 256, line)
        self.assertLess(rows, 1000, line)
        # Stored right after the replanning too.
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM test_run r JOIN test_names n USING"
            " (test_name_id) WHERE n.test_name LIKE 'replan%'"), ["300"])



class ReplanningUnprepared(Replanning):
    """Rows of unnamed statements count toward replanning as well: the
    foreign-key checks' plans are kept whether or not ours are."""

    MTTD = {"pg": {"pool_size": "1", "prepared_statements": "0"}}


class SpellingsRace(h.MttdTestCase):
    """Four submissions in four transactions at once, each with the same
    latency list spelled its own way ("3", "3.0", "3e0", "3.00"): one
    latency_bandwidth row and one performance row, as the advisory lock
    of a new row is keyed on the values PostgreSQL reads.  Before, each
    spelling took a lock of its own and all four made their rows."""

    MTTD = {"pg": {"pool_size": "4"}}
    hold_test_run_lock = Groups.hold_test_run_lock
    wait_for_count = Groups.wait_for_count

    def test_one_row_for_four_spellings(self):
        _, build = self.mttd.install_and_build()
        # The test name exists first: its creation would queue the four.
        self.mttd.must_submit("Test Run", [h.run_entry(
            build, test_name="spelled")])
        bodies = []
        for i, spelling in enumerate(("3", "3.0", "3e0", "3.00")):
            body = h.to_json(h.submit_body("Test Run", [h.run_entry(
                build, test_name="spelled", exit_value=i + 1,
                latency_bandwidth=True, message_size=[7707],
                latency_min=["SPELLING"])]))
            bodies.append(body.replace('"SPELLING"', spelling).encode())
        lock = self.hold_test_run_lock()
        results = [None] * len(bodies)

        def post(i):
            results[i] = self.mttd.http("POST", "/submit", bodies[i])
        threads = [threading.Thread(target=post, args=(i,), daemon=True)
                   for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        lock.wait(30)
        for r in results:
            self.assertOk(r)
        self.assertEqual(self.sql1(
            "SELECT count(*), min(latency_min::text), max(latency_min::text)"
            " FROM latency_bandwidth WHERE message_size = '{7707}'"),
            ["1", "{3}", "{3}"])
        self.assertEqual(self.sql1(
            "SELECT count(DISTINCT p.performance_id), count(DISTINCT"
            " r.performance_id), count(DISTINCT r.test_run_id) FROM"
            " latency_bandwidth l JOIN performance p USING"
            " (latency_bandwidth_id) LEFT JOIN test_run r USING"
            " (performance_id) WHERE l.message_size = '{7707}'"),
            ["1", "1", "4"])


class EqualResultsSpelledApart(h.MttdTestCase):
    """Equal results racing in transactions of their own, spelled apart:
    exit_signal left out (it then matches any) or sent as its default
    -1, the latency list as 1.0, 1 or 1e0.  One row, one id, every
    round: the result's advisory lock is keyed on the fields every entry
    has.  Before (break-it helper 23), each spelling took a lock of its
    own, and a round now and then stored the result twice (a race: the
    test then failed in some of its rounds, not in all)."""

    MTTD = {"pg": {"pool_size": "4"}}
    ROUNDS = 40

    def test_one_row_for_equal_results_spelled_apart(self):
        _, build = self.mttd.install_and_build()
        # The test name and the performance rows exist first: their
        # creation would queue the racers.
        self.mttd.must_submit("Test Run", [h.run_entry(
            build, test_name="apart", latency_bandwidth=True,
            message_size=[8], latency_min=[1])])
        spellings = ((None, "1.0"), (-1, "1"), (-1, "1e0"), (None, "1"))
        twice = []
        for r in range(self.ROUNDS):
            stamp = "2026-11-%02d 10:%02d:00" % (1 + r % 28, r)
            requests = []
            for signal_value, latency in spellings:
                entry = h.run_entry(
                    build, test_name="apart", start_timestamp=stamp,
                    latency_bandwidth=True, message_size=[8],
                    latency_min=["SPELLING"])
                if signal_value is not None:
                    entry["exit_signal"] = signal_value
                body = h.to_json(h.submit_body("Test Run", [entry]))
                requests.append(("POST", "/submit", body.replace(
                    '"SPELLING"', latency).encode(), None))
            answers = self.mttd.race(requests)
            ids = {self.assertOk(a)["ids"][0]["test_run_id"]
                   for a in answers}
            rows = self.sql(
                "SELECT r.test_run_id FROM test_run r JOIN test_names t"
                " USING (test_name_id) WHERE t.test_name = 'apart' AND"
                " r.start_timestamp = '%s'" % stamp)
            if len(ids) != 1 or len(rows) != 1:
                twice.append((r, sorted(ids), rows))
        self.assertEqual(twice, [])


if __name__ == "__main__":
    h.main()
