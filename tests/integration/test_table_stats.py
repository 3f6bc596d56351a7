#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Planner statistics after big stores (table_stats.c): once
analyze_after entries were stored, mttd analyses the tables that changed
by more rows than the planner knows they hold (plus 50), among those its
role may analyse, skipping a table another session holds locked; never
with analyze_after = 0.

Autovacuum is turned off on each test's tables, so that only mttd
analyses them: analyze_count (manual analyses) and the log line say
exactly what it did.  The pool has one connection: the look has the
storing connection publish its row counts, and only it (another
connection's are seen once PostgreSQL publishes them, within seconds),
so with one connection what a look sees is exact."""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

LOOK = (r"INFO statistics: analysed (.+) in \d+ ms \((\d+) entries stored"
        r" since the last look\)")
TABLES = ("description", "environment", "result_message", "test_names",
          "test_run")


class StatsTestCase(h.MttdTestCase):

    MTTD = {"pg": {"analyze_after": "100", "pool_size": "1"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg.psql("DO $$DECLARE t regclass; BEGIN FOR t IN SELECT relid"
                    " FROM pg_stat_user_tables LOOP EXECUTE format('ALTER"
                    " TABLE %s SET (autovacuum_enabled = false)', t);"
                    " END LOOP; END$$", db=cls.db, superuser=True)
        cls.install_id, cls.build_id = cls.mttd.install_and_build()
        # Another application's table, due too: never mttd's to analyse.
        cls.pg.psql("CREATE TABLE other_app (x int) WITH"
                    " (autovacuum_enabled = false); INSERT INTO other_app"
                    " SELECT generate_series(1, 500)", db=cls.db)

    def store(self, tag, n):
        """n entries, each with its own test name."""
        self.submit_ok("Test Run", [h.run_entry(
            self.build_id, test_name="%s_%d" % (tag, i), exit_value=i)
            for i in range(n)])

    def analyses(self):
        """Table -> how many times it was analysed by hand (by mttd)."""
        return dict(self.sql(
            "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE"
            " relname IN (%s) ORDER BY 1"
            % ", ".join("'%s'" % t for t in TABLES)))

    def expect_analyses(self, **counts):
        expected = {t: "0" for t in TABLES}
        expected.update({t: str(n) for t, n in counts.items()})
        self.assertEqual(self.analyses(), expected)

    def assertNoneDue(self, mark, entries):
        """The look after mark found no table due."""
        self.assertIsNotNone(self.mttd.wait_log(
            r"DEBUG .*statistics: no table due after %d entries stored"
            % entries, mark, timeout=20), self.mttd.log_tail())

    def look(self, mark):
        """The look's (tables, entries), waited for."""
        line = self.mttd.wait_log(LOOK, mark, timeout=20)
        self.assertIsNotNone(line, self.mttd.log_tail())
        found = re.search(LOOK, line)
        return found.group(1), int(found.group(2))


class AnalyseAfterBigStores(StatsTestCase):

    def test_due_tables_analysed_after_analyze_after_entries(self):
        mark = self.mttd.log_mark()
        self.store("a", 120)
        # The install and the build count: 122 entries.  Only the test
        # names and runs changed by more than autovacuum's 50 rows.
        self.assertEqual(self.look(mark), ("test_names, test_run", 122))
        self.expect_analyses(test_names=1, test_run=1)

        # 60 entries start no look; 60 more do, counted together.  The
        # planner knows of 120 runs and names: 120 changes are not due.
        mark = self.mttd.log_mark()
        self.store("b", 60)
        self.store("c", 60)
        self.assertNoneDue(mark, 120)
        self.expect_analyses(test_names=1, test_run=1)

        # 240 changes are more than 50 + 120.
        mark = self.mttd.log_mark()
        self.store("d", 60)
        self.store("e", 60)
        self.assertEqual(self.look(mark), ("test_names, test_run", 120))
        self.expect_analyses(test_names=2, test_run=2)
        self.assertEqual(re.findall(LOOK, self.mttd.log_since(mark)),
                         [("test_names, test_run", "120")])

        # Sent again, they are duplicates: nothing changed, none is due.
        mark = self.mttd.log_mark()
        self.store("d", 60)
        self.store("e", 60)
        self.assertNoneDue(mark, 120)
        self.expect_analyses(test_names=2, test_run=2)
        self.assertEqual(self.sql1("SELECT count(*) FROM test_run"), ["360"])


class AnalyseCapped(StatsTestCase):
    """An ANALYZE that runs long (a slow expression index here; a raised
    statistics target in life) is cut by its statement timeout, half of
    query_timeout at most, before the connection would be dropped for
    silence: it holds a pool connection meanwhile."""

    MTTD = {"pg": {"analyze_after": "100", "pool_size": "1",
                   "query_timeout": "6"}}

    def test_long_analyze_is_cut_and_the_connection_kept(self):
        self.pg.psql(
            "CREATE FUNCTION slow_id(int) RETURNS int LANGUAGE sql"
            " IMMUTABLE AS 'SELECT $1 FROM pg_sleep(0.03)';"
            " CREATE INDEX slow_idx ON test_run ((slow_id(exit_value)))",
            db=self.db, superuser=True)
        mark = self.mttd.log_mark()
        self.store("a", 150)
        line = self.mttd.wait_log(r"statistics: ANALYZE of", mark,
                                  timeout=30)
        self.assertIsNotNone(line, self.mttd.log_tail())
        self.assertRegex(line, r"WARNING statistics: ANALYZE of test_names,"
                         r" test_run failed: canceling statement due to"
                         r" statement timeout")
        self.assertNotIn("no answer from the database",
                         self.mttd.log_since(mark))
        self.assertNotIn("made again", self.mttd.log_since(mark))
        # The one connection is back, clean.
        self.store("b", 1)


class LockedTableSkipped(StatsTestCase):

    def test_locked_table_skipped_and_taken_next_time(self):
        lock = h.HeldLock(self, "test_run", "SHARE UPDATE EXCLUSIVE")
        mark = self.mttd.log_mark()
        self.store("a", 120)  # inserts do not wait for that lock
        self.assertEqual(self.look(mark), ("test_names, test_run", 122))
        self.expect_analyses(test_names=1)
        self.assertRegex(self.mttd.log_since(mark),
                         r'skipping analyze of "test_run" --- lock not'
                         r' available')
        lock.release()

        # The runs were never analysed: due.  The 100 new names are not
        # more than the 120 the planner knows of (plus 50).
        mark = self.mttd.log_mark()
        self.store("b", 100)
        self.assertEqual(self.look(mark), ("test_run", 100))
        self.expect_analyses(test_names=1, test_run=1)


class OnlyTablesItMayAnalyse(StatsTestCase):
    """A table another role owns, in a database another role owns, is
    not listed: ANALYZE would skip it with a warning anyway."""

    def test_table_of_another_owner_left_out(self):
        for sql in ("ALTER DATABASE %s OWNER TO postgres" % self.db,
                    "ALTER TABLE test_run OWNER TO postgres",
                    "GRANT ALL ON test_run TO mtt",
                    "GRANT ALL ON SEQUENCE test_run_test_run_id_seq TO mtt"):
            self.pg.psql(sql, db=self.db, superuser=True)
        mark = self.mttd.log_mark()
        self.store("a", 120)
        self.assertEqual(self.look(mark), ("test_names", 122))
        self.expect_analyses(test_names=1)


class OffUntilReloaded(StatsTestCase):
    """analyze_after = 0 counts nothing; a reload turns it on."""

    MTTD = {"pg": {"analyze_after": "0", "pool_size": "1"}}

    def test_off_then_on_by_reload(self):
        mark = self.mttd.log_mark()
        self.store("a", 150)
        with open(self.mttd.conf) as f:
            text = f.read()
        with open(self.mttd.conf, "w") as f:
            f.write(text.replace("analyze_after = 0", "analyze_after = 100"))
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark))
        self.assertNotIn("statistics:", self.mttd.log_since(mark))
        self.expect_analyses()

        mark = self.mttd.log_mark()
        self.store("b", 100)
        # Only the 100 stored since: the 150 before were not counted.
        self.assertEqual(self.look(mark), ("test_names, test_run", 100))
        self.expect_analyses(test_names=1, test_run=1)


if __name__ == "__main__":
    h.main()
