#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The whole recorded conformance corpus (submissions, queries, /info,
/status), replayed in file order with its own replay.py against mttd in
proxy mode on a fresh database, with every db_check run through psql.
Cases marked as reference bugs are checked against their "correct"
answer."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

REPLAY_TIMEOUT_S = 300
CASES_IN_CORPUS = 112


class Conformance(h.MttdTestCase):

    # As the corpus was recorded: no password file, a trusting proxy.
    MTTD = {"auth": "proxy"}
    DB_TIMEZONE = None  # a database exactly as the schema made it

    def test_replay_whole_corpus(self):
        folder = os.path.join(h.SHARED_DIR, "conformance")
        psql = "-h 127.0.0.1 -p %d -U mtt -d %s" % (self.pg.port, self.db)
        cmd = [sys.executable, os.path.join(folder, "replay.py"),
               "http://127.0.0.1:%d" % self.mttd.port,
               os.path.join(folder, "cases.jsonl"),
               "--psql=" + psql]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=self.pg.env,
                              timeout=REPLAY_TIMEOUT_S)
        out = proc.stdout.decode("utf-8", "replace")
        print("\n" + out)
        lines = out.strip().splitlines()
        self.assertTrue(lines, "replay.py printed nothing")
        match = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
        self.assertIsNotNone(match, "last line: %r" % lines[-1])
        passed, failed = (int(x) for x in match.groups())
        self.assertEqual(passed, CASES_IN_CORPUS)
        self.assertEqual(failed, 0, "\n".join(
            l for l in lines if l.startswith("FAIL")))
        self.assertEqual(proc.returncode, 0)


if __name__ == "__main__":
    h.main()
