#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Known rows (row_cache.c, submit_store.c): once the lookups have read a
submission's submit row, linked build and normalised rows, or a store
has created them, later submissions that link only those (and test
names, which can be created or found under ON CONFLICT) are stored in
one round trip with no lookups.
What the lookups did must still hold: a refused value is named and
nothing is stored, a row that exists but was not looked up is found and
takes no sequence value, one time spelled two ways is one result, and a
known row (a submit row, a build or install, a normalised row) that an
operator deleted or edited sends the submission the slow way instead of
failing it or linking the edited row."""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

ONE_TRIP = "every row known: one round trip"
FELL_BACK = "one round trip failed, looking rows up"


class KnownRows(h.MttdTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.install_id, cls.build_id = cls.mttd.install_and_build()

    def run_entry(self, name, **kw):
        return h.run_entry(self.build_id, test_name=name, **kw)

    def stored(self, entries, one_trip, **meta):
        """Submit the entries; assert whether the lookups were skipped;
        return the ids."""
        mark = self.mttd.log_mark()
        _, ids = self.submit_ok("Test Run", entries, **meta)
        log = self.mttd.log_since(mark)
        self.assertEqual(ONE_TRIP in log, one_trip, log)
        self.assertNotIn(FELL_BACK, log)
        return ids

    def warm_named(self, tag, hostname=None):
        """A submit row, then two submissions naming it: the first
        created its description, the second reads it and the named row,
        the third is one trip.  Returns the submit id."""
        description = "%s description" % tag
        sid, _ = self.submit_ok("Test Run", [self.run_entry(
            tag + "_1", description=description)],
            hostname=hostname or "%s.example.org" % tag)
        for i in (2, 3):
            self.stored([self.run_entry("%s_%d" % (tag, i),
                                        description=description)],
                        i == 3, submit_id=sid)
        return sid

    def known_build(self, tag):
        """A build of its own, whose runs are one trip from the second
        on; returns its id."""
        _, (build,) = self.mttd.must_submit("Test Build", [h.build_entry(
            self.install_id, suite_name="kr:" + tag)])
        for i in (1, 2, 3):
            self.stored([h.run_entry(build, test_name="%s_%d" % (tag, i))],
                        i > 1)
        return build

    def stored_after_an_edit(self, phase, entries, **meta):
        """Submit what links a known row an operator changed: the check
        before the one trip fails (division by zero) and the lookups
        store it.  Returns (submit_id, ids)."""
        mark = self.mttd.log_mark()
        answer = self.submit_ok(phase, entries, **meta)
        log = self.mttd.log_since(mark)
        self.assertIn(FELL_BACK, log)
        self.assertIn("division by zero [22012]", log)
        return answer

    def warm(self, tag, **kw):
        """A submission of rows not seen before (a description of their
        own) looks them up and creates them; the next is one trip."""
        self.assertIn("description", kw)
        self.stored([self.run_entry(tag + "_1", **kw)], False)
        return self.stored([self.run_entry(tag + "_2", **kw)], True)[0]

    def links(self, run_id):
        return self.sql1(
            "SELECT submit_id, mpi_install_id, test_build_id,"
            " test_suite_id, compute_cluster_id, mpi_install_compiler_id,"
            " mpi_get_id, mpi_install_configure_id, test_build_compiler_id,"
            " test_run_command_id, result_message_id, description_id,"
            " environment_id FROM test_run WHERE test_run_id = %d" % run_id)

    def seq(self, name):
        return int(self.sql1("SELECT last_value FROM %s" % name)[0])

    def test_rows_read_once_are_known_after(self):
        # The first looks its rows up and creates the description; the
        # store answers the new row's id, so the second knows it.
        first = self.stored([self.run_entry("kr_a", description="kr a")],
                            False)[0]
        second = self.stored([self.run_entry("kr_b", description="kr a")],
                             True)[0]
        third = self.stored([self.run_entry("kr_c", description="kr a")],
                            True)[0]
        self.assertEqual([second, third], [first + 1, first + 2])
        self.assertEqual(self.links(third), self.links(first))
        self.assertEqual(self.sql1(
            "SELECT n.test_name, n.test_suite_id = b.test_suite_id,"
            " d.description FROM test_run r JOIN test_names n USING"
            " (test_name_id) JOIN test_build b USING (test_build_id) JOIN"
            " description d ON d.description_id = r.description_id WHERE"
            " r.test_run_id = %d" % third), ["kr_c", "t", "kr a"])
        # Sent again, it is the stored result, found in one trip too.
        again = self.stored([self.run_entry("kr_c", description="kr a")],
                            True)
        self.assertEqual(again, [third])
        self.assertEqual(self.max_id("test_run"), third)

    def test_bad_value_is_named_and_nothing_is_stored(self):
        self.warm("kr_bad", description="kr bad")
        before = self.snapshot(h.ID_SEQUENCES + ["test_names_test_name_id_seq"])
        mark = self.mttd.log_mark()
        resp = self.mttd.submit("Test Run", [
            self.run_entry("kr_bad_ok", description="kr bad"),
            self.run_entry("kr_bad_time", description="kr bad",
                           start_timestamp="2026-02-30 10:00")])
        self.assertRefused(resp, ["data[1]", "start_timestamp"])
        log = self.mttd.log_since(mark)
        self.assertIn(ONE_TRIP, log)
        self.assertIn(FELL_BACK, log)
        self.assertEqual(
            self.snapshot(h.ID_SEQUENCES + ["test_names_test_name_id_seq"]),
            before)
        self.assertEqual(self.stored([self.run_entry(
            "kr_bad_next", description="kr bad")], True),
                         [self.max_id("test_run")])
        self.assertEqual(self.max_id("test_run"),
                         int(before["test_run_test_run_id_seq"].split(":")[0])
                         + 1)

    def test_test_name_stored_elsewhere_takes_no_sequence_value(self):
        self.warm("kr_else", description="kr else")
        (name_id,) = self.sql1(
            "INSERT INTO test_names (test_suite_id, test_name) SELECT"
            " test_suite_id, 'kr_elsewhere' FROM test_build WHERE"
            " test_build_id = %d RETURNING test_name_id" % self.build_id)
        (run_id,) = self.stored([self.run_entry(
            "kr_elsewhere", description="kr else")], True)
        self.assertEqual(self.sql1(
            "SELECT test_name_id FROM test_run WHERE test_run_id = %d"
            % run_id), [name_id])
        self.assertEqual(self.seq("test_names_test_name_id_seq"),
                         int(name_id))
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM test_names WHERE test_name ="
            " 'kr_elsewhere'"), ["1"])

    def test_one_time_spelled_two_ways_is_one_result(self):
        self.warm("kr_twice", description="kr twice")
        ids = self.stored([
            self.run_entry("kr_twice", description="kr twice",
                           start_timestamp="2027-01-02 03:04:05"),
            self.run_entry("kr_twice", description="kr twice",
                           start_timestamp="Sat Jan  2 03:04:05 2027")], True)
        self.assertEqual(ids[0], ids[1])
        self.assertEqual(ids[0], self.max_id("test_run"))
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM test_run JOIN test_names USING"
            " (test_name_id) WHERE test_name = 'kr_twice'"), ["1"])

    def trip_statements(self, entries):
        """Submit in one trip; the number of statements it sent."""
        mark = self.mttd.log_mark()
        _, ids = self.submit_ok("Test Run", entries)
        found = re.findall(ONE_TRIP + r" of (\d+) statements",
                           self.mttd.log_since(mark))
        self.assertEqual(len(found), 1, self.mttd.log_since(mark))
        return ids, int(found[0])

    def test_one_test_at_several_times_is_one_wave(self):
        # Times the clients' forms spell are compared as PostgreSQL will
        # read them: entries of one test at other times share a wave (one
        # results statement); at one time spelled two ways, or when a
        # time is of another form, they go to waves of their own.
        self.warm("kr_wave", description="kr wave")
        times = ["2027-02-0%d 10:00:00" % d for d in (1, 2, 3)]
        entries = [self.run_entry("kr_wave", description="kr wave",
                                  start_timestamp=t) for t in times]
        first = self.max_id("test_run") + 1
        ids, statements = self.trip_statements(entries)
        # The time check, the locks, the new test name, one wave.
        self.assertEqual((ids, statements),
                         ([first, first + 1, first + 2], 4))
        entries = [self.run_entry("kr_wave", description="kr wave",
                                  start_timestamp=t) for t in (
                                      "2027-02-04 10:00:00",
                                      "Thu Feb  4 10:00:00 2027",
                                      "2027-02-05 10:00:00")]
        ids, statements = self.trip_statements(entries)
        # The second equals the first: a wave of its own (and the third's).
        # The test name, created by the trip before, is known now: no
        # statement creates it.
        self.assertEqual((ids, statements),
                         ([first + 3, first + 3, first + 4], 4))
        entries = [self.run_entry("kr_wave", description="kr wave",
                                  start_timestamp=t) for t in (
                                      "2027-02-06 10:00:00",
                                      "2027-02-06 10:00:00+00")]
        ids, statements = self.trip_statements(entries)
        # A time zone is not a client's form: every time is unknown, so
        # each entry of the test has a wave of its own.
        self.assertEqual((ids, statements), ([first + 5, first + 5], 4))

    def name_row(self, run_id):
        return self.sql1("SELECT test_name_id FROM test_run WHERE"
                         " test_run_id = %d" % run_id)[0]

    def test_rows_a_store_created_are_known_after_its_commit(self):
        self.warm("kr_made", description="kr made")
        # The time check, the locks, the new test name, one wave.
        (first,), statements = self.trip_statements([self.run_entry(
            "kr_made_new", description="kr made",
            start_timestamp="2027-03-01 10:00:00")])
        self.assertEqual(statements, 4)
        # The store answered the name's id: the next needs no statement
        # for it, and links the same row.
        (second,), statements = self.trip_statements([self.run_entry(
            "kr_made_new", description="kr made",
            start_timestamp="2027-03-02 10:00:00")])
        self.assertEqual((second, statements), (first + 1, 3))
        self.assertEqual(self.name_row(second), self.name_row(first))
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM test_names WHERE test_name ="
            " 'kr_made_new'"), ["1"])

    def test_rows_of_a_refused_store_are_not_known(self):
        # The trip creates the name, then a value is refused: nothing is
        # committed, so nothing may be learnt from it.
        self.warm("kr_undone", description="kr undone")
        resp = self.mttd.submit("Test Run", [
            self.run_entry("kr_undone_new", description="kr undone"),
            self.run_entry("kr_undone_new", description="kr undone",
                           start_timestamp="2026-02-30 10:00")])
        self.assertRefused(resp, ["data[1]", "start_timestamp"])
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM test_names WHERE test_name ="
            " 'kr_undone_new'"), ["0"])
        (run_id,), statements = self.trip_statements([self.run_entry(
            "kr_undone_new", description="kr undone")])
        self.assertEqual(statements, 4)  # The name is created again.
        self.assertEqual(self.sql1(
            "SELECT n.test_name FROM test_run r JOIN test_names n USING"
            " (test_name_id) WHERE r.test_run_id = %d" % run_id),
                         ["kr_undone_new"])

    def test_deleted_known_row_sends_the_submission_the_slow_way(self):
        self.warm("kr_gone", description="kr doomed")
        (old,) = self.sql1("SELECT description_id FROM description WHERE"
                           " description = 'kr doomed'")
        # An operator's clean-up: the results, then the row they link.
        self.sql("DELETE FROM test_run WHERE description_id = %s;"
                 " DELETE FROM description WHERE description_id = %s"
                 % (old, old))
        last = self.seq("test_run_test_run_id_seq")
        mark = self.mttd.log_mark()
        _, (run_id,) = self.submit_ok("Test Run", [self.run_entry(
            "kr_gone_4", description="kr doomed")])
        log = self.mttd.log_since(mark)
        self.assertIn(FELL_BACK, log)
        # The trip's first statement found the row gone (division by
        # zero) before any insert took a sequence value.
        self.assertIn("division by zero [22012]", log)
        self.assertEqual(run_id, last + 1)
        self.assertEqual(self.sql1(
            "SELECT d.description, d.description_id > %s FROM test_run r"
            " JOIN description d USING (description_id) WHERE"
            " r.test_run_id = %d" % (old, run_id)), ["kr doomed", "t"])
        # The cache was emptied; the fallback's lookups read the rows
        # again and its store created the description anew, so the next
        # one is one trip again, linking the new description.
        (run_id,) = self.stored([self.run_entry(
            "kr_gone_5", description="kr doomed")], True)
        self.assertEqual(self.sql1(
            "SELECT d.description, d.description_id > %s FROM test_run r"
            " JOIN description d USING (description_id) WHERE"
            " r.test_run_id = %d" % (old, run_id)), ["kr doomed", "t"])

    def test_edited_known_row_sends_the_submission_the_slow_way(self):
        # An operator renames a known row in place: it must not be
        # linked by its old values.  The check before the one trip finds
        # its values changed and the submission is looked up instead.
        self.warm("kr_edit", description="kr as sent")
        self.sql("UPDATE description SET description = 'kr renamed' WHERE"
                 " description = 'kr as sent'")
        _, (run_id,) = self.stored_after_an_edit("Test Run", [self.run_entry(
            "kr_edit_3", description="kr as sent")])
        linked = self.sql1(
            "SELECT d.description FROM test_run r JOIN description d"
            " USING (description_id) WHERE r.test_run_id = %d" % run_id)
        self.assertEqual(linked, ["kr as sent"])
        # The row made again is known at once.
        (next_id,) = self.stored([self.run_entry(
            "kr_edit_4", description="kr as sent")], True)
        self.assertEqual(self.links(next_id), self.links(run_id))
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM description WHERE description IN"
            " ('kr as sent', 'kr renamed')"), ["2"])

    def test_edited_known_submit_row_is_not_linked(self):
        # An operator renames the host of a submit row found by its
        # identity: a submission of the old identity must not be linked
        # to it, but to a row of its own.
        meta = {"hostname": "kr-host.example.org"}
        sid, _ = self.submit_ok("Test Run", [self.run_entry(
            "kr_sub_1", description="kr sub")], **meta)
        self.stored([self.run_entry("kr_sub_2", description="kr sub")],
                    True, **meta)
        self.sql("UPDATE submit SET hostname = 'kr-moved.example.org'"
                 " WHERE submit_id = %d" % sid)
        again, _ = self.stored_after_an_edit("Test Run", [self.run_entry(
            "kr_sub_3", description="kr sub")], **meta)
        self.assertGreater(again, sid)
        self.assertEqual(self.sql1(
            "SELECT hostname FROM submit WHERE submit_id = %d" % again),
            ["kr-host.example.org"])
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM test_run WHERE submit_id = %d" % again),
            ["1"])
        # The new row is known from then on.
        self.stored([self.run_entry("kr_sub_4", description="kr sub")],
                    True, **meta)

    def test_named_submit_row_given_to_another_user_is_refused(self):
        sid = self.warm_named("kr-give")
        self.sql("UPDATE submit SET http_username = 'someone'"
                 " WHERE submit_id = %d" % sid)
        before = self.snapshot()
        mark = self.mttd.log_mark()
        resp = self.mttd.submit("Test Run", [self.run_entry(
            "kr-give_4", description="kr-give description")], submit_id=sid)
        answer = self.assertRefused(resp, ["submit_id"])
        self.assertIn("belongs to another user", answer["status_message"])
        self.assertIn("division by zero [22012]", self.mttd.log_since(mark))
        self.assertEqual(self.snapshot(), before)

    def test_edited_named_submit_row_is_read_again(self):
        # The row stays the user's, so the submission is stored into it,
        # but through the lookups: its new columns set the lock of its
        # results' duplicate check, as they do for every other worker.
        # Its columns are kept as "length:text": spaces, colons and
        # digits in them must not confuse that.
        sid = self.warm_named("kr-renamed", hostname=" 12:3 :x: 4")
        self.sql("UPDATE submit SET hostname = 'kr-renamed.example.net'"
                 " WHERE submit_id = %d" % sid)
        again, _ = self.stored_after_an_edit("Test Run", [self.run_entry(
            "kr-renamed_4", description="kr-renamed description")],
            submit_id=sid)
        self.assertEqual(again, sid)
        self.stored([self.run_entry(
            "kr-renamed_5", description="kr-renamed description")],
            True, submit_id=sid)

    def test_edited_known_build_is_linked_by_its_new_values(self):
        # A run copies ids from the build it links: a build an operator
        # edited in place must be read again, not copied from memory.
        build = self.known_build("edited")
        self.sql("UPDATE test_build SET test_build_compiler_id = 0"
                 " WHERE test_build_id = %d" % build)
        _, (run_id,) = self.stored_after_an_edit("Test Run", [h.run_entry(
            build, test_name="kr_e4")])
        self.assertEqual(self.sql1(
            "SELECT test_build_compiler_id FROM test_run"
            " WHERE test_run_id = %d" % run_id), ["0"])
        (next_id,) = self.stored([h.run_entry(build, test_name="kr_e5")],
                                 True)
        self.assertEqual(self.links(next_id), self.links(run_id))

    def test_edited_known_install_is_linked_by_its_new_values(self):
        _, (install,) = self.mttd.must_submit("MPI Install", [
            h.install_entry(description="kr edited install")])
        mark = self.mttd.log_mark()
        for i in (1, 2, 3):
            self.submit_ok("Test Build", [h.build_entry(
                install, suite_name="kr:ei%d" % i)])
        self.assertIn(ONE_TRIP, self.mttd.log_since(mark))
        self.sql("UPDATE mpi_install SET mpi_get_id = 0"
                 " WHERE mpi_install_id = %d" % install)
        _, (build,) = self.stored_after_an_edit("Test Build", [
            h.build_entry(install, suite_name="kr:ei4")])
        self.assertEqual(self.sql1(
            "SELECT mpi_get_id FROM test_build WHERE test_build_id = %d"
            % build), ["0"])

    def test_sighup_forgets_known_rows(self):
        self.warm("kr_hup", description="kr hup")
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark), self.mttd.log_tail())
        self.assertIn("forgetting the known rows",
                      self.mttd.log_since(mark))
        self.stored([self.run_entry("kr_hup_4", description="kr hup")],
                    False)
        self.stored([self.run_entry("kr_hup_5", description="kr hup")],
                    True)

    def test_deleted_known_build_is_refused_as_missing(self):
        # test_run.test_build_id has no foreign key: the check of the
        # known rows must find the build gone, as the lookups would.
        build = self.known_build("doomed")
        self.sql("DELETE FROM test_run WHERE test_build_id = %d;"
                 " DELETE FROM test_build WHERE test_build_id = %d"
                 % (build, build))
        before = self.snapshot(h.ID_SEQUENCES + ["test_names_test_name_id_seq"])
        mark = self.mttd.log_mark()
        resp = self.mttd.submit("Test Run", [h.run_entry(
            build, test_name="kr_b4")])
        answer = self.assertRefused(resp, ["data[0]", "test_build_id"])
        self.assertIn("test_build_id %d does not exist" % build,
                      answer["status_message"])
        self.assertIn(FELL_BACK, self.mttd.log_since(mark))
        self.assertEqual(
            self.snapshot(h.ID_SEQUENCES + ["test_names_test_name_id_seq"]),
            before)

    def test_empty_submission_looks_its_submit_row_up(self):
        # With no entries no statement would see a deleted submit row:
        # such a submission always looks its row up.
        empty = {"hostname": "kr-empty.example.org"}
        sid, _ = self.submit_ok("Test Run", [], **empty)
        self.submit_ok("Test Run", [], **empty)
        self.submit_ok("Test Run", [], submit_id=sid)
        self.sql("DELETE FROM submit WHERE submit_id = %d" % sid)
        again, _ = self.submit_ok("Test Run", [], **empty)
        self.assertGreater(again, sid)
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM submit WHERE submit_id = %d" % again),
            ["1"])
        self.assertRefused(self.mttd.submit("Test Run", [], submit_id=sid),
                           ["submit_id"])

    def test_deleted_named_submit_row_is_refused_without_an_id(self):
        sid = self.warm_named("kr-named")
        self.sql("DELETE FROM test_run WHERE submit_id = %d;"
                 " DELETE FROM submit WHERE submit_id = %d" % (sid, sid))
        before = self.snapshot()
        mark = self.mttd.log_mark()
        resp = self.mttd.submit("Test Run", [self.run_entry(
            "kr-named_5", description="kr-named description")], submit_id=sid)
        self.assertRefused(resp, ["submit_id"])
        self.assertIn("division by zero [22012]", self.mttd.log_since(mark))
        self.assertEqual(self.snapshot(), before)

if __name__ == "__main__":
    h.main()
