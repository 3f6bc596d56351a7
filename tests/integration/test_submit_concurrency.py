#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Races, batches and retries (SPEC.md Submit: "an existing equal row is
reused, never duplicated, also when identical submissions race"; "one
submission is one transaction"; ids dense, a retry consumes none)."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

ROUNDS = 4
SHAPES = 60  # Batch sizes 1..SHAPES.


class Concurrency(h.MttdTestCase):

    MTTD = {"pg": {"pool_size": "4"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.install_id, cls.build_id = cls.mttd.install_and_build()

    def race(self, bodies):
        """POST each body to /submit at the same moment."""
        results = self.mttd.race([("POST", "/submit", b, None)
                                  for b in bodies])
        for i, r in enumerate(results):
            self.assertIsInstance(r, h.Resp, "request %d of the race: %r"
                                  % (i, r))
        return results

    def count(self, sql):
        return int(self.sql1(sql)[0])

    def test_same_new_compiler_at_once(self):
        for rnd in range(ROUNDS):
            with self.subTest(round=rnd):
                tag = "race2-%d" % rnd
                shared = dict(compiler_name="gnu-%s" % tag,
                              compiler_version="14.%d" % rnd,
                              os_version="6.1-%s" % tag,
                              configure_arguments="--%s" % tag,
                              description="desc %s" % tag,
                              environment="ENV=%s" % tag,
                              result_message="Success %s" % tag)
                bodies = [h.submit_body("MPI Install", [h.install_entry(
                    mpi_version="v-%s-%d" % (tag, i), **shared)])
                    for i in range(2)]
                answers = [self.assertOk(r) for r in self.race(bodies)]
                ids = [a["ids"][0]["mpi_install_id"] for a in answers]
                self.assertEqual(len(set(ids)), 2, answers)
                checks = {
                    "compiler": "SELECT count(*) FROM compiler WHERE "
                                "compiler_name = 'gnu-%s'" % tag,
                    "compute_cluster": "SELECT count(*) FROM compute_cluster "
                                       "WHERE os_version = '6.1-%s'" % tag,
                    "mpi_install_configure_args":
                        "SELECT count(*) FROM mpi_install_configure_args "
                        "WHERE configure_arguments = '--%s'" % tag,
                    "description": "SELECT count(*) FROM description WHERE "
                                   "description = 'desc %s'" % tag,
                    "environment": "SELECT count(*) FROM environment WHERE "
                                   "environment = 'ENV=%s'" % tag,
                    "result_message": "SELECT count(*) FROM result_message "
                                      "WHERE result_message = 'Success %s'"
                                      % tag}
                for table, sql in checks.items():
                    self.assertEqual(self.count(sql), 1,
                                     "%s row duplicated by a race" % table)
                self.assertEqual(self.count(
                    "SELECT count(DISTINCT mpi_install_compiler_id) FROM "
                    "mpi_install WHERE mpi_install_id IN (%d, %d)"
                    % tuple(ids)), 1)

    def test_eight_identical_new_installs_at_once(self):
        for rnd in range(ROUNDS):
            with self.subTest(round=rnd):
                tag = "race8-%d" % rnd
                body = h.submit_body("MPI Install", [h.install_entry(
                    compiler_version="gcc %s" % tag,
                    mpi_version="v-%s" % tag)], hostname="host-%s" % tag)
                before = self.snapshot()
                answers = [self.assertOk(r) for r in self.race([body] * 8)]
                ids = {a["ids"][0]["mpi_install_id"] for a in answers}
                sids = {a["submit_id"] for a in answers}
                self.assertEqual(len(ids), 1, "eight identical installs got "
                                 "ids %s" % sorted(ids))
                self.assertEqual(len(sids), 1, sorted(sids))
                after = self.snapshot()
                self.assertEqual(after["mpi_install"],
                                 before["mpi_install"] + 1)
                self.assertEqual(after["submit"], before["submit"] + 1)
                self.assertEqual(ids, {self.max_id("mpi_install")})
                for sql in ("SELECT count(*) FROM compiler WHERE "
                            "compiler_version = 'gcc %s'" % tag,
                            "SELECT count(*) FROM mpi_get WHERE "
                            "mpi_version = 'v-%s'" % tag,
                            "SELECT count(*) FROM submit WHERE "
                            "hostname = 'host-%s'" % tag,
                            "SELECT count(*) FROM mpi_install m JOIN mpi_get "
                            "g USING (mpi_get_id) WHERE g.mpi_version = "
                            "'v-%s'" % tag):
                    self.assertEqual(self.count(sql), 1, sql)

    def test_identical_runs_racing(self):
        for rnd in range(ROUNDS):
            with self.subTest(round=rnd):
                entries = [h.run_entry(self.build_id,
                                       test_name="racerun_%d_%d" % (rnd, i),
                                       launcher="srun-%d" % rnd)
                           for i in range(3)]
                body = h.submit_body("Test Run", entries)
                before = self.snapshot()
                answers = [self.assertOk(r) for r in self.race([body] * 4)]
                ids = [a["ids"] for a in answers]
                self.assertEqual(len({repr(i) for i in ids}), 1, ids)
                after = self.snapshot()
                self.assertEqual(after["test_run"], before["test_run"] + 3)
                self.assertEqual(after["test_names"], before["test_names"] + 3)
                self.assertEqual(after["test_run_command"],
                                 before["test_run_command"] + 1)

    def test_batch_of_100_runs(self):
        first = self.max_id("test_run") + 1
        entries = [h.run_entry(self.build_id, test_name="batch_%03d" % i,
                               np=str(1 + i % 8), exit_value=i % 3)
                   for i in range(100)]
        resp = self.mttd.submit("Test Run", entries)
        answer = self.assertOk(resp)
        self.assertEqual(answer["ids"],
                         [{"test_run_id": first + i} for i in range(100)])
        rows = self.sql("SELECT r.test_run_id, n.test_name, r.np, "
                        "r.exit_value FROM test_run r JOIN test_names n "
                        "USING (test_name_id) WHERE r.test_run_id BETWEEN "
                        "%d AND %d ORDER BY 1" % (first, first + 99))
        self.assertEqual(rows, [[str(first + i), "batch_%03d" % i,
                                 str(1 + i % 8), str(i % 3)]
                                for i in range(100)])

    def test_bad_entry_in_a_batch_of_100(self):
        for label, bad, name in (
                ("validation", {"np": "four"}, "np"),
                ("unknown link", {"test_build_id": 999}, "test_build_id"),
                ("too long", {"test_name": "t" * 65}, "test_name")):
            with self.subTest(kind=label):
                entries = [h.run_entry(self.build_id,
                                       test_name="bad_%s_%03d" % (name, i))
                           for i in range(100)]
                entries[50].update(bad)
                before = self.snapshot()
                resp = self.mttd.submit("Test Run", entries)
                self.assertRefused(resp, [name])
                self.assertEqual(self.snapshot(), before,
                                 "part of a refused batch was stored")
        first = self.max_id("test_run") + 1
        resp = self.mttd.submit("Test Run", [h.run_entry(
            self.build_id, test_name="after_bad_batch")])
        self.assertIds(resp, "test_run", [first])

    def test_equal_entries_in_one_list(self):
        entry = h.run_entry(self.build_id, test_name="twice_in_one_list")
        first = self.max_id("test_run") + 1
        resp = self.mttd.submit("Test Run", [entry, dict(entry)])
        self.assertIds(resp, "test_run", [first, first])

    def test_retried_identical_submissions(self):
        install = h.install_entry(mpi_version="v-retry",
                                  configure_arguments="--retry",
                                  description="retry", environment="E=1",
                                  vpath_mode=1, bitness=8, endian=1)
        build_of = lambda iid: h.build_entry(  # noqa: E731
            iid, suite_name="TestBuild:retry", result_stdout="built")
        run_of = lambda bid: h.run_entry(  # noqa: E731
            bid, test_name="retry_run", launcher="mpirun",
            resource_manager="slurm", latency_bandwidth=True,
            message_size=[1, 2], latency_min=[1.5, 2.5],
            latency_avg=[1.5, 2.5], latency_max=[1.5, 2.5],
            bandwidth_min=[10.0, 20.0], bandwidth_avg=[10.0, 20.0],
            bandwidth_max=[10.0, 20.0], duration=2.5,
            result_stderr="x\u0000y")
        first = {}
        for phase, make in (("MPI Install", lambda: install),
                            ("Test Build", lambda: build_of(first["inst"])),
                            ("Test Run", lambda: run_of(first["build"]))):
            with self.subTest(phase=phase):
                body = h.submit_body(phase, [make()])
                answer = self.assertOk(self.mttd.http("POST", "/submit", body))
                before = self.snapshot(h.RESULT_SEQUENCES)
                for attempt in range(2):
                    again = self.assertOk(self.mttd.http("POST", "/submit",
                                                         body))
                    self.assertEqual(again, answer,
                                     "retry %d answered differently" % attempt)
                self.assertEqual(self.snapshot(h.RESULT_SEQUENCES), before,
                                 "a retry stored rows or drew ids")
                key = h.PHASE_ID[h.normal_phase(phase)]
                first[{"mpi_install_id": "inst", "test_build_id": "build",
                       "test_run_id": "run"}[key]] = answer["ids"][0][key]

    def test_reordered_batches_racing_never_deadlock(self):
        # Two submissions with the same new entries in opposite order:
        # every lock is taken in one sorted statement, so neither waits
        # for the other in a cycle; both succeed and no id is lost.
        for rnd in range(ROUNDS * 2):
            with self.subTest(round=rnd):
                x = h.run_entry(self.build_id, test_name="order_x_%d" % rnd)
                y = h.run_entry(self.build_id, test_name="order_y_%d" % rnd)
                first = self.max_id("test_run")
                answers = [self.assertOk(r) for r in self.race([
                    h.submit_body("Test Run", [x, y]),
                    h.submit_body("Test Run", [y, x])])]
                a = [e["test_run_id"] for e in answers[0]["ids"]]
                b = [e["test_run_id"] for e in answers[1]["ids"]]
                self.assertEqual(a, list(reversed(b)), answers)
                self.assertEqual(sorted(a), [first + 1, first + 2],
                                 "ids are not dense: %r" % answers)
                self.assertEqual(self.max_id("test_run"), first + 2)

    def test_equal_timestamps_spelled_differently_race_to_one_row(self):
        # The duplicate check reads the timestamp as PostgreSQL does and
        # the result's lock leaves the time out, so two spellings of one
        # time meet on one lock and are one result.
        for rnd in range(ROUNDS):
            with self.subTest(round=rnd):
                name = "spelling_%d" % rnd
                bodies = [h.submit_body("Test Run", [h.run_entry(
                    self.build_id, test_name=name, start_timestamp=ts)])
                    for ts in ("2027-08-0%d 00:00:00" % (rnd + 1),
                               "2027-08-0%dT00:00:00" % (rnd + 1))]
                answers = [self.assertOk(r) for r in self.race(bodies)]
                self.assertEqual(answers[0]["ids"], answers[1]["ids"])
                self.assertEqual(self.count(
                    "SELECT count(*) FROM test_run r JOIN test_names n"
                    " USING (test_name_id) WHERE n.test_name = '%s'"
                    % name), 1)

    def test_one_result_naming_its_submit_row_two_ways_is_one_row(self):
        # One submission finds its submit row by its identity, the other
        # names it by submit_id with another hostname: both store into
        # that row, so they must meet on one lock (the row's identity).
        # A SHARE lock on test_run holds both at their insert, after
        # their advisory locks, so that they would overlap.
        sid, _ = self.submit_ok("Test Run", [h.run_entry(
            self.build_id, test_name="named_setup")])
        for rnd in range(3):
            with self.subTest(round=rnd):
                # The test name exists: its insert must not be what makes
                # the two wait for each other.
                self.submit_ok("Test Run", [h.run_entry(
                    self.build_id, test_name="named_%d" % rnd)])
                entry = h.run_entry(self.build_id, test_name="named_%d" % rnd,
                                    result_stdout="raced")
                bodies = [h.submit_body("Test Run", [entry]),
                          h.submit_body("Test Run", [entry], submit_id=sid,
                                        hostname="elsewhere.example.org")]
                lock = h.HeldLock(self, "test_run", mode="SHARE")
                timer = threading.Timer(1.0, lock.release)
                timer.start()
                answers = [self.assertOk(r) for r in self.race(bodies)]
                timer.join()
                self.assertEqual([a["submit_id"] for a in answers],
                                 [sid, sid])
                self.assertEqual(answers[0]["ids"], answers[1]["ids"])
                self.assertEqual(self.count(
                    "SELECT count(*) FROM test_run r JOIN test_names n"
                    " USING (test_name_id) WHERE n.test_name ="
                    " 'named_%d' AND r.result_stdout = 'raced'" % rnd), 1)


class ManyStatementShapes(h.MttdTestCase):
    """On one connection (whose statements are kept prepared by their
    text), batches of every size from 1 to SHAPES with new names, then
    the same again (answered the ids stored): every answer is right
    whatever was prepared before."""

    MTTD = {"pg": {"pool_size": "1"}}

    def test_every_batch_size_twice(self):
        _, (inst,) = self.mttd.must_submit("MPI Install", [h.install_entry()])
        _, (build,) = self.mttd.must_submit("Test Build",
                                            [h.build_entry(inst)])
        answered = {}
        for again in (False, True):
            for n in range(1, SHAPES + 1):
                entries = [h.run_entry(build, np=str(i % 5 + 1),
                                       test_name="shape_%d_%d" % (n, i))
                           for i in range(n)]
                ids = [x["test_run_id"] for x in self.assertOk(
                    self.mttd.submit("Test Run", entries))["ids"]]
                self.assertEqual(len(ids), n)
                if again:
                    self.assertEqual(ids, answered[n], n)
                answered[n] = ids
        self.assertEqual(self.sql1("SELECT count(*) FROM test_run"),
                         [str(SHAPES * (SHAPES + 1) // 2)])
        last = "shape_%d_%d" % (SHAPES, SHAPES - 1)
        rows = self.sql("SELECT n.test_name, r.test_run_id, r.np FROM"
                        " test_run r JOIN test_names n USING"
                        " (test_name_id) WHERE n.test_name = '%s'" % last)
        self.assertEqual(rows, [[last, str(answered[SHAPES][SHAPES - 1]),
                                 str((SHAPES - 1) % 5 + 1)]])



if __name__ == "__main__":
    h.main()
