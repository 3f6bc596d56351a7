#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Service life (issue 5): SIGHUP re-reads the configuration file (a bad
one, or one changing a key that needs a restart, keeps all of the running
one and the log says why); --pid-file and --daemon; [server] workers: a
supervisor with SO_REUSEPORT workers that restarts a killed one and passes
HUP and TERM on; [pg_v3] read_server sends queries to another server."""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402


def rewrite(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text, (old, text)
    with open(path, "w") as f:
        f.write(text.replace(old, new))


def add_md5_user(mttd):
    """An htpasswd line in Apache MD5 ($apr1$, htpasswd -m), which only
    apr-util checks: md5user, password md5-pass."""
    h.run([h.HTPASSWD, "-m", "-b", os.path.join(mttd.dir, "htpasswd"),
           "md5user", "md5-pass"], 60)


def serial(mttd, user=None, password=None):
    """POST /serial with the server's credentials, or user's."""
    headers = {"Authorization": h.basic(user, password)} if user else None
    return mttd.http("POST", "/serial", {"serial": "x"}, headers=headers)


class Reload(h.MttdTestCase):

    MTTD = {"server": {"cors_origin": "https://one.example.org"}}

    def origin(self):
        return self.mttd.http("GET", "/").header(
            "Access-Control-Allow-Origin")

    def hup(self, expect):
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        line = self.mttd.wait_log(expect, mark)
        self.assertIsNotNone(line, self.mttd.log_since(mark))
        return line

    def test_1_new_value_applies(self):
        # The open-file limit, raised to the hard limit, is logged at
        # start-up, and not again by a reload that leaves it (break-it
        # helper 44: every SIGHUP logged it).
        with open("/proc/%d/limits" % self.mttd.proc.pid) as f:
            soft, hard = next(line for line in f
                              if line.startswith("Max open files")
                              ).split()[3:5]
        self.assertEqual(soft, hard)
        self.assertEqual(self.mttd.log_text().count(
            "INFO open-file limit %s\n" % hard), 1)
        self.assertEqual(self.origin(), "https://one.example.org")
        rewrite(self.mttd.conf, "https://one.example.org",
                "https://two.example.org")
        mark = self.mttd.log_mark()
        self.hup(r"SIGHUP: configuration in force")
        self.assertNotIn("open-file limit", self.mttd.log_since(mark))
        self.assertEqual(self.origin(), "https://two.example.org")

    def test_2_bad_file_keeps_the_running_one(self):
        rewrite(self.mttd.conf, "cors_origin =", "cors_origin = x\nnope =")
        line = self.hup(r"SIGHUP: keeping the running configuration")
        self.assertRegex(line, r"mttd\.conf:\d+: .*nope")
        self.assertEqual(self.origin(), "https://two.example.org")
        rewrite(self.mttd.conf, "cors_origin = x\nnope =", "cors_origin =")

    def test_3_key_needing_a_restart_keeps_the_running_one(self):
        rewrite(self.mttd.conf, "pool_size = 4", "pool_size = 5")
        rewrite(self.mttd.conf, "https://two.example.org",
                "https://three.example.org")
        line = self.hup(r"SIGHUP: keeping the running configuration")
        self.assertRegex(line, r"mttd\.conf:\d+: key 'pool_size' changes"
                         r" only with a restart")
        self.assertEqual(self.origin(), "https://two.example.org")
        rewrite(self.mttd.conf, "pool_size = 5", "pool_size = 4")
        self.hup(r"SIGHUP: configuration in force")
        self.assertEqual(self.origin(), "https://three.example.org")

    def test_4_query_timeout_reloads(self):
        """query_timeout applies on SIGHUP, and a store held by a lock
        another session keeps past it is answered 503 "may or may not be
        stored".  The server, told to check that its client is still
        there (client_connection_check_interval), ends the dropped
        statement without waiting for the lock; sending the submission
        again stores it once."""
        install, build = self.mttd.install_and_build()
        rewrite(self.mttd.conf, "pool_size = 4",
                "pool_size = 4\nquery_timeout = 1")
        self.hup(r"SIGHUP: configuration in force")
        holder = h.HeldLock(self, "test_run")
        try:
            entry = h.run_entry(build, test_name="held-by-a-lock")
            start = time.time()
            resp = self.mttd.submit("Test Run", [entry])
            took = time.time() - start
            # The other connections were checked, not dropped: a request
            # that needs no locked table is served at once.
            start = time.time()
            serial = self.mttd.http("POST", "/serial", {"serial": "x"})
            self.assertEqual(serial.status, 200, serial)
            self.assertLess(time.time() - start, 1.5)
            # The backend left waiting for the lock goes within the 2 s
            # check interval, while the lock is still held.
            self.wait_lock_waiters(lambda n: n == 0, timeout=6)
        finally:
            holder.release()
        self.assertEqual(resp.status, 503, resp)
        self.assertEqual(resp.header("Retry-After"), "1")
        self.assertIn("may or may not be stored", resp.field(
            "status_message"))
        self.assertIn("no answer from the database in 1 s (query_timeout)",
                      resp.field("status_message"))
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 5)
        # Nothing of it was stored when the lock went.
        self.assertEqual(self.sql(
            "SELECT count(*) FROM test_names WHERE test_name ="
            " 'held-by-a-lock'"), [["0"]])
        again = self.mttd.must_submit("Test Run", [entry])[1][0]
        self.assertEqual(self.sql(
            "SELECT r.test_run_id FROM test_run r JOIN test_names t"
            " USING (test_name_id) WHERE t.test_name = 'held-by-a-lock'"),
            [[str(again)]])
        rewrite(self.mttd.conf, "pool_size = 4\nquery_timeout = 1",
                "pool_size = 4")
        self.hup(r"SIGHUP: configuration in force")


    def mapped(self, library):
        with open("/proc/%d/maps" % self.mttd.proc.pid) as f:
            return library in f.read()

    def test_5_apr_util_is_loaded_only_when_an_entry_needs_it(self):
        # htpasswd -B makes bcrypt, which libcrypt checks: no apr-util.
        self.assertFalse(self.mapped("libaprutil-1.so"))
        self.assertFalse(self.mapped("libapr-1.so"))
        add_md5_user(self.mttd)
        mark = self.mttd.log_mark()
        self.hup(r"SIGHUP: configuration in force")
        self.assertIn("htpasswd: loaded libaprutil-1.so.0 for the $apr1$",
                      self.mttd.log_since(mark))
        self.assertTrue(self.mapped("libaprutil-1.so"))
        ok = serial(self.mttd, "md5user", "md5-pass")
        self.assertEqual((ok.status, ok.field("status")), (200, 0), ok)
        bad = serial(self.mttd, "md5user", "md5-wrong")
        self.assertEqual(bad.status, 401, bad)
        ok = serial(self.mttd)
        self.assertEqual((ok.status, ok.field("status")), (200, 0), ok)

    def assertChecksPasswords(self):
        self.assertEqual(serial(self.mttd, h.USER, "wrong").status, 401)
        ok = serial(self.mttd)
        self.assertEqual((ok.status, ok.field("status")), (200, 0), ok)

    def test_6_emptied_htpasswd_file_key_keeps_checking_passwords(self):
        path = os.path.join(self.mttd.dir, "htpasswd")
        rewrite(self.mttd.conf, "htpasswd_file = %s" % path,
                "htpasswd_file =")
        try:
            line = self.hup(r"SIGHUP: keeping the running configuration")
            self.assertRegex(line, r"mttd\.conf:\d+: key 'htpasswd_file'"
                             r" emptied: checking passwords or trusting the"
                             r" proxy in front changes only with a restart")
            self.assertChecksPasswords()
        finally:
            rewrite(self.mttd.conf, "htpasswd_file =",
                    "htpasswd_file = %s" % path)
        self.hup(r"SIGHUP: configuration in force")

    def test_7_htpasswd_file_without_users_keeps_the_users(self):
        path = os.path.join(self.mttd.dir, "htpasswd")
        with open(path) as f:
            kept = f.read()
        for text in ("", "half-written-line\n"):
            with self.subTest(text=text):
                with open(path, "w") as f:
                    f.write(text)
                line = self.hup(
                    r"SIGHUP: keeping the running configuration")
                # test_5 added a second user.
                self.assertIn("htpasswd %s: no user could be read (the 2"
                              " user(s) in force stay, as for a file caught"
                              " half-written; to lock every user out,"
                              " restart mttd with it)" % path, line)
                self.assertChecksPasswords()
        with open(path, "w") as f:
            f.write(kept)
        self.hup(r"SIGHUP: configuration in force")
        self.assertChecksPasswords()

    def test_8_htpasswd_file_cut_short_keeps_the_users(self):
        """A file read while it is rewritten (htpasswd truncates it, then
        writes it whole) ends inside its last line: its users are all
        there but that one, and any after it.  The reload keeps the
        users in force."""
        path = os.path.join(self.mttd.dir, "htpasswd")
        with open(path) as f:
            kept = f.read()
        first = kept.splitlines()[0]
        # Cut in the user name, after the colon, inside the hash, and in a
        # comment line or a line of blanks before more users (break-it
        # helper 47).
        for cut in ("newu", "newuser:",
                    "newuser" + first[first.index(":"):40],
                    "# users of the ni", "   "):
            with self.subTest(cut=cut):
                with open(path, "w") as f:
                    f.write(kept + cut)
                mark = self.mttd.log_mark()
                line = self.hup(
                    r"SIGHUP: keeping the running configuration")
                self.assertIn("htpasswd %s: the file ends inside a line it"
                              " cannot use, as a file caught while it is"
                              " rewritten (the 2 user(s) in force stay; end"
                              " a whole file with a newline)" % path, line)
                self.assertIn("htpasswd:3: the file ends inside this line,"
                              " as one read while it is written",
                              self.mttd.log_since(mark))
                self.assertChecksPasswords()
        with open(path, "w") as f:
            f.write(kept)
        self.hup(r"SIGHUP: configuration in force")
        self.assertChecksPasswords()

    def test_9_damaged_line_is_skipped_and_the_rest_applies(self):
        """A damaged hash with its newline is no cut (break-it helper
        44): it is skipped with a warning, as at start-up, and the rest
        of the file applies, on this reload and the next ones (a nightly
        logrotate's), so that users added meanwhile can log in."""
        path = os.path.join(self.mttd.dir, "htpasswd")
        with open(path) as f:
            kept = f.read()
        first = kept.splitlines()[0]
        added = h.run([h.HTPASSWD, "-n", "-b", "-B", "-C", "4", "added",
                       "added-pass"], 60).stdout.decode().strip()
        for damaged in (first[:40], first[:first.index(":") + 8]):
            with self.subTest(damaged=damaged):
                with open(path, "w") as f:
                    f.write(kept + "newuser" + damaged[damaged.index(":"):]
                            + "\n" + added + "\n")
                for _ in range(2):
                    mark = self.mttd.log_mark()
                    self.hup(r"SIGHUP: configuration in force")
                    log = self.mttd.log_since(mark)
                    self.assertRegex(
                        log, r"htpasswd:3: user 'newuser': the hash is cut"
                        r" short or damaged \(not the whole shape of its"
                        r" format\); line skipped")
                    self.assertIn("htpasswd %s: 3 user(s)" % path, log)
                    ok = serial(self.mttd, "added", "added-pass")
                    self.assertEqual((ok.status, ok.field("status")),
                                     (200, 0), ok)
                    self.assertChecksPasswords()
        with open(path, "w") as f:
            f.write(kept)
        self.hup(r"SIGHUP: configuration in force")
        self.assertEqual(serial(self.mttd, "added", "added-pass").status,
                         401)
        self.assertChecksPasswords()


    def test_10_port_zero_may_be_written_as_the_port_taken(self):
        """socket_port = 0 took a free port: the file may name it (break-
        it helper 50: refused as a change needing a restart)."""
        port = "socket_port = %d" % self.mttd.port
        rewrite(self.mttd.conf, "socket_port = 0", port)
        try:
            self.hup(r"SIGHUP: configuration in force")
            self.assertChecksPasswords()
        finally:
            rewrite(self.mttd.conf, port, "socket_port = 0")
        self.hup(r"SIGHUP: configuration in force")

    def test_11_oversized_access_buffer_keeps_the_running_one(self):
        """A slip such as 100G for 100K is refused, not the death of mttd
        (break-it helper 50: the allocation aborted it)."""
        rewrite(self.mttd.conf, "[logging]",
                "[logging]\naccess_log_buffer = 100G")
        try:
            line = self.hup(r"SIGHUP: keeping the running configuration")
            self.assertRegex(line, r"mttd\.conf:\d+: key"
                             r" 'access_log_buffer': 100G is above the"
                             r" maximum of 67108864 bytes \(64M\)")
            self.assertChecksPasswords()
        finally:
            rewrite(self.mttd.conf, "[logging]\naccess_log_buffer = 100G",
                    "[logging]")
        self.hup(r"SIGHUP: configuration in force")

    def test_12_missing_htpasswd_file_names_the_key(self):
        path = os.path.join(self.mttd.dir, "htpasswd")
        os.rename(path, path + ".away")
        try:
            line = self.hup(r"SIGHUP: keeping the running configuration")
            self.assertRegex(line, r"mttd\.conf:\d+: key 'htpasswd_file':"
                             r" %s: cannot open: No such file" % path)
            self.assertChecksPasswords()
        finally:
            os.rename(path + ".away", path)
        self.hup(r"SIGHUP: configuration in force")


class LinkedMttd(h.Mttd):
    """mttd started on a symbolic link to its configuration file, in
    another folder, with a relative htpasswd_file: the link's folder
    holds the users; the target's folder a file of another user."""

    def __init__(self, dbname):
        super().__init__(dbname, auth_keys={"htpasswd_file": "users"})

    def prepare(self):
        via = os.path.join(self.dir, "via")
        os.mkdir(via)
        h.make_htpasswd(os.path.join(via, "users"), [self.credentials])
        h.make_htpasswd(os.path.join(self.dir, "users"),
                        [("other", "other-pass")])
        os.symlink("../mttd.conf", os.path.join(via, "mttd.conf"))
        self.config_arg = os.path.join(via, "mttd.conf")


class ConfigThroughLink(h.MttdTestCase):
    """Relative paths are taken from the folder of the configuration
    file as named on the command line, on SIGHUP too (break-it helper
    50: the reload read the file at its resolved path, and took them from
    the link target's folder, changing the users without a word)."""

    @classmethod
    def setUpClass(cls):
        cls.pg = h.cluster()
        cls.db = cls.pg.create_db(timezone=cls.DB_TIMEZONE)
        cls.mttd = LinkedMttd(cls.db)
        try:
            cls.mttd.start()
        except BaseException:
            cls.mttd.stop()
            raise

    def assertUsers(self):
        self.assertEqual(serial(self.mttd).status, 200)
        self.assertEqual(serial(self.mttd, "other", "other-pass").status,
                         401)

    def test_reload_reads_the_same_files(self):
        via = os.path.join(self.mttd.dir, "via")
        self.assertIn("htpasswd %s/users: 1 user(s)" % via,
                      self.mttd.log_text())
        self.assertUsers()
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark))
        log = self.mttd.log_since(mark)
        self.assertIn("SIGHUP: re-reading %s/mttd.conf," % via, log)
        self.assertIn("htpasswd %s/users: 1 user(s)" % via, log)
        self.assertUsers()


class AprUtilMissing(h.MttdTestCase):
    """A host without a loadable apr-util (here: a broken
    libaprutil-1.so.0 found first through LD_LIBRARY_PATH): the $apr1$
    entries are skipped with warnings naming why, the bcrypt ones keep
    working, and mttd goes on serving."""

    @classmethod
    def setUpClass(cls):
        cls.libdir = tempfile.mkdtemp(prefix="mttd-noapr-")
        with open(os.path.join(cls.libdir, "libaprutil-1.so.0"), "wb"):
            pass  # Empty: the dynamic linker refuses it ("too short").
        cls.MTTD = {"env": {"LD_LIBRARY_PATH": cls.libdir}}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.libdir, ignore_errors=True)

    def test_apr1_entries_are_skipped_with_a_warning(self):
        add_md5_user(self.mttd)
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"SIGHUP: configuration in force", mark), self.mttd.log_tail())
        log = self.mttd.log_since(mark)
        with open(os.path.join(h.BUILDDIR, "config.h")) as f:
            with_apr = "#define HAVE_APR_UTIL 1" in f.read()
        if with_apr:  # Else only the line below: not in this build.
            self.assertRegex(log, r"WARNING htpasswd: cannot load apr-util for"
                             r" the \$apr1\$ and \{SHA\} entries: .*"
                             r"libaprutil-1\.so\.0: file too short")
        self.assertRegex(log, r"WARNING .*htpasswd:2: user 'md5user': apr-util,"
                         r" which checks \$apr1\$ and \{SHA\} hashes, is not"
                         r" in this build or could not be loaded; line skipped")
        with open("/proc/%d/maps" % self.mttd.proc.pid) as f:
            self.assertNotIn("libaprutil", f.read())
        refused = serial(self.mttd, "md5user", "md5-pass")
        self.assertEqual(refused.status, 401, refused)
        ok = serial(self.mttd)
        self.assertEqual((ok.status, ok.field("status")), (200, 0), ok)


class PreparedSlotsReused(h.MttdTestCase):
    """With every prepared slot taken, a new statement text replaces the
    least recently used one: it is prepared under a name of its own, and
    the one it replaced is deallocated on the connection's next batch, so
    a long-running server keeps preparing what it runs without the
    server's statements growing."""

    MTTD = {"pg": {"pool_size": "1", "prepared_statements": "2"}}

    @classmethod
    def setUpClass(cls):
        cls.pg = h.cluster()
        cls.db = cls.pg.create_db(timezone=cls.DB_TIMEZONE)
        # Every statement of this database's sessions goes to the log.
        cls.pg.psql("ALTER DATABASE %s SET log_statement = 'all'" % cls.db,
                    db=cls.db, superuser=True)
        cls.log_path = os.path.join(cls.pg.dir, "postgres.log")
        with open(cls.log_path, "rb") as f:
            cls.log_start = len(f.read())
        cls.mttd = h.Mttd(cls.db, **cls.MTTD)
        try:
            cls.mttd.start()
        except BaseException:
            cls.mttd.stop()
            raise

    def server_log(self):
        with open(self.log_path, "rb") as f:
            return f.read()[self.log_start:].decode("utf-8", "replace")

    def test_new_texts_replace_the_least_recently_used(self):
        install, build = self.mttd.install_and_build()
        for i in range(3):
            self.mttd.must_submit("Test Run", [h.run_entry(
                build, test_name="slots-%d" % i)])
        self.assertIsNotNone(self.mttd.wait_log(
            r"db conn 0: 2 statements kept prepared; the least recently"
            r" used now make room for new ones"), self.mttd.log_tail())
        log = self.server_log()
        prepared = set(re.findall(r"execute (mttd_\d+)", log))
        freed = re.findall(r"DEALLOCATE (mttd_\d+)", log)
        # Many texts, each prepared under a name of its own (a batch's
        # texts past the two slots it uses go unnamed); each name given
        # up is deallocated once, after it was used.
        self.assertGreater(len(prepared), 4, log[-3000:])
        self.assertEqual(len(freed), len(set(freed)), freed)
        self.assertTrue(set(freed) <= prepared, (freed, prepared))
        for name in freed:
            self.assertLess(log.index("execute %s:" % name),
                            log.index("DEALLOCATE %s\n" % name))
        self.assertNotIn("ERROR", log)
        # What is still prepared: the two slots, and at most two names
        # given up by the last batch, deallocated with the next one.
        self.assertLessEqual(len(prepared - set(freed)), 2 + 2)


class SlowWithEveryConnectionBusy(h.MttdTestCase):
    """A lock held past query_timeout while every pool connection waits
    for it: the connection is dropped and its request gets 503, but the
    database answered before, so it is made again at once and the pool is
    not called down; a request needing no locked table is served."""

    MTTD = {"pg": {"pool_size": "1", "query_timeout": "1"}}

    def test_lock_past_query_timeout(self):
        install, build = self.mttd.install_and_build()
        mark = self.mttd.log_mark()
        lock = h.HeldLock(self, "test_run")
        resp = self.mttd.submit("Test Run", [h.run_entry(build)])
        self.assertEqual(resp.status, 503, resp)
        self.assertIn("(query_timeout)", resp.field("status_message"))
        start = time.time()
        serial = self.mttd.http("POST", "/serial", {"serial": "x"})
        self.assertEqual(serial.status, 200, serial)
        self.assertLess(time.time() - start, 1.5)
        self.assertEqual(self.mttd.http("GET", "/status").field("database"),
                         "up")
        lock.release()
        self.assertNotIn("database is down", self.mttd.log_since(mark))


class PidFile(h.MttdTestCase):

    def test_written_and_removed(self):
        path = os.path.join(self.mttd.dir, "fg.pid")
        self.mttd.stop()
        self.mttd.extra_args = ["--pid-file", path]
        self.mttd.start()
        with open(path) as f:
            self.assertEqual(f.read(), "%d\n" % self.mttd.proc.pid)
        self.assertEqual(self.mttd.stop(), 0)
        self.assertFalse(os.path.exists(path))
        self.mttd.extra_args = []
        self.mttd.start()

    def start_daemon(self, name):
        """mttd --daemon on a free port, logging to NAME.log; returns
        (config file, log file, pid)."""
        conf = os.path.join(self.mttd.dir, name + ".conf")
        log = os.path.join(self.mttd.dir, name + ".log")
        pidf = os.path.join(self.mttd.dir, name + ".pid")
        self.daemon_port = h.free_port()
        with open(self.mttd.conf) as f:
            text = f.read()
        text = text.replace("socket_port = 0",
                            "socket_port = %d" % self.daemon_port)
        text = text.replace("[logging]", "[logging]\nlog_file = %s" % log)
        with open(conf, "w") as f:
            f.write(text)
        proc = subprocess.run([h.MTTD_BIN, "-c", conf, "--daemon",
                               "--pid-file", pidf], timeout=60,
                              env=h.subprocess_env())
        self.assertEqual(proc.returncode, 0)
        with open(pidf) as f:
            return conf, log, int(f.read())

    @staticmethod
    def stop_daemon(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 15
        while os.path.exists("/proc/%d" % pid) and time.time() < deadline:
            time.sleep(0.05)

    def test_daemon(self):
        conf, log, pid = self.start_daemon("daemon")
        try:
            self.assertTrue(os.path.exists("/proc/%d" % pid))
            conn = subprocess.run(
                ["curl", "-s", "http://127.0.0.1:%d/status"
                 % self.daemon_port], capture_output=True, timeout=30)
            self.assertIn(b'"database":"up"', conn.stdout)
        finally:
            self.stop_daemon(pid)
        self.assertFalse(os.path.exists(os.path.join(self.mttd.dir,
                                                     "daemon.pid")))
        with open(log) as f:
            self.assertIn("mttd stopped", f.read())

    def test_left_alone_when_another_process_wrote_it(self):
        path = os.path.join(self.mttd.dir, "shared.pid")
        self.mttd.stop()
        self.mttd.extra_args = ["--pid-file", path]
        self.mttd.start()
        try:
            # Another mttd started since with the same --pid-file.
            with open(path, "w") as f:
                f.write("%d\n" % os.getpid())
            self.assertEqual(self.mttd.stop(), 0)
            with open(path) as f:
                self.assertEqual(f.read(), "%d\n" % os.getpid())
        finally:
            self.mttd.extra_args = []
            self.mttd.start()

    def test_bad_reload_is_told_in_the_reopened_log(self):
        """logrotate moves the log away and sends SIGHUP: a reload that
        fails says why in the new file, not in the one moved away."""
        conf, log, pid = self.start_daemon("rotate")
        try:
            os.rename(log, log + ".1")
            with open(conf, "a") as f:
                f.write("garbage\n")
            os.kill(pid, signal.SIGHUP)
            deadline = time.time() + 10
            text = ""
            while "keeping the running" not in text and \
                    time.time() < deadline:
                time.sleep(0.05)
                if os.path.exists(log):
                    with open(log) as f:
                        text = f.read()
            self.assertRegex(text, r"ERROR SIGHUP: keeping the running"
                             r" configuration: %s:\d+: key 'garbage'"
                             % re.escape(conf))
            with open(log + ".1") as f:
                self.assertNotIn("keeping the running", f.read())
        finally:
            self.stop_daemon(pid)

    def test_daemon_and_foreground_exclude_each_other(self):
        proc = subprocess.run([h.MTTD_BIN, "-c", self.mttd.conf, "-f",
                               "--daemon"], capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"-f and --daemon exclude each other", proc.stderr)


class DrainUpload(h.MttdTestCase):
    """SIGTERM while a request is still arriving: it is waited for and
    served; one whose client gives up does not hold the exit."""

    def upload_head(self, body):
        return (b"POST /submit HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                self.mttd.auth_header().encode() +
                b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))

    def test_1_upload_in_progress_is_served(self):
        body = h.to_json(h.submit_body("MPI Install", [h.install_entry(
            mpi_version="drain-upload", result_stdout="x" * 200000)]))
        body = body.encode()
        s = socket.create_connection(("127.0.0.1", self.mttd.port),
                                     timeout=20)
        s.sendall(self.upload_head(body) + body[:1000])
        time.sleep(0.3)
        self.mttd.proc.send_signal(signal.SIGTERM)
        for i in range(1000, len(body), 20000):
            time.sleep(0.05)
            s.sendall(body[i:i + 20000])
        self.assertServedThenStopped(s, "drain-upload")

    def test_3_request_begun_after_a_connect_is_served(self):
        # Its first bytes came with a CONNECT libevent answered itself:
        # the drain waits for it too (break-it helper 49: mttd exited at
        # once, the request unanswered).
        s = socket.create_connection(("127.0.0.1", self.mttd.port),
                                     timeout=20)
        s.sendall(b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\nGET / HT")
        head = b""
        while b"</HTML>" not in head:
            head += s.recv(65536)
        self.assertTrue(head.startswith(b"HTTP/1.1 501 "), head)
        time.sleep(0.3)
        self.mttd.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        s.sendall(b"TP/1.1\r\nHost: x\r\n\r\n")
        out = self.read_all(s)
        s.close()
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out)
        self.assertIn(b"Connection: close", out)
        self.assertEqual(self.mttd.proc.wait(15), 0)
        self.mttd.stop()
        self.mttd.start()

    def test_2_upload_given_up_does_not_hold_the_exit(self):
        s = socket.create_connection(("127.0.0.1", self.mttd.port),
                                     timeout=20)
        s.sendall(self.upload_head(b"x" * 100000) + b"{")
        time.sleep(0.3)
        start = time.time()
        self.mttd.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        s.close()
        self.assertEqual(self.mttd.proc.wait(15), 0)
        self.assertLess(time.time() - start, 3)
        self.mttd.stop()
        self.mttd.start()


    def read_all(self, s):
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out

    def assertServedThenStopped(self, s, mpi_version):
        """The submission sent on s was answered status 0 with
        Connection: close and stored once, and mttd exited 0 (it is
        started again for the next test)."""
        out = self.read_all(s)
        s.close()
        resp = h.parse_raw_response(out)
        self.assertEqual(resp.status, 200, out[:300])
        self.assertEqual(resp.field("status"), 0)
        self.assertEqual(resp.header("Connection"), "close")
        self.assertEqual(self.mttd.proc.wait(15), 0)
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM mpi_get WHERE mpi_version = '%s'"
            % mpi_version), ["1"])
        self.mttd.stop()
        self.mttd.start()

    def test_3_connection_opened_before_the_signal_is_served(self):
        """A client connected just before SIGTERM and sends its request
        after it: the request is served (Connection: close), since the
        real MTT client never retries.  A connection kept alive after an
        answer is closed at once instead."""
        fresh = socket.create_connection(("127.0.0.1", self.mttd.port),
                                         timeout=20)
        kept = self.mttd.connection()
        self.assertEqual(self.mttd.http("GET", "/", conn=kept).status, 200)
        time.sleep(0.2)  # Both adopted, the kept one idle again.
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGTERM)
        self.assertIsNotNone(self.mttd.wait_log(
            r"draining: closing 1 idle connection\(s\); 1 request\(s\) on"
            r" their way", mark), self.mttd.log_since(mark))
        self.assertEqual(self.read_all(kept.sock), b"")
        kept.close()
        body = h.to_json(h.submit_body("MPI Install", [h.install_entry(
            mpi_version="drain-fresh")])).encode()
        fresh.sendall(self.upload_head(body) + body)
        self.assertServedThenStopped(fresh, "drain-fresh")

    def test_4_silent_new_connection_holds_the_exit_a_second(self):
        """A client that connected and sends nothing is waited for one
        second (not idle_timeout, 15 s), then closed."""
        s = socket.create_connection(("127.0.0.1", self.mttd.port),
                                     timeout=20)
        self.addCleanup(s.close)
        time.sleep(0.2)
        start = time.time()
        self.mttd.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.mttd.proc.wait(15), 0)
        took = time.time() - start
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 3)
        self.assertEqual(self.read_all(s), b"")
        self.assertNotIn("giving up", self.mttd.log_text())
        self.mttd.stop()
        self.mttd.start()


    def test_5_connections_queued_at_the_signal_are_served(self):
        """Connections the kernel completed but mttd had not accepted yet
        when SIGTERM came (mttd stopped, so they wait in the listen
        queue) are accepted and served before the socket closes, not
        reset."""
        bodies = [h.to_json(h.submit_body("MPI Install", [h.install_entry(
            mpi_version="queued-%d" % i)])).encode() for i in range(20)]
        self.mttd.proc.send_signal(signal.SIGSTOP)
        socks = []
        try:
            for body in bodies:
                s = socket.create_connection(("127.0.0.1", self.mttd.port),
                                             timeout=20)
                s.sendall(self.upload_head(body) + body)
                socks.append(s)
            self.mttd.proc.send_signal(signal.SIGTERM)
        finally:
            self.mttd.proc.send_signal(signal.SIGCONT)
        statuses = []
        for s in socks:
            resp = h.parse_raw_response(self.read_all(s))
            s.close()
            statuses.append((resp.status, resp.field("status")))
        self.assertEqual(statuses, [(200, 0)] * 20)
        self.assertEqual(self.mttd.proc.wait(15), 0)
        self.assertEqual(self.sql1(
            "SELECT count(*) FROM mpi_get WHERE mpi_version LIKE 'queued-%'"),
            ["20"])
        self.mttd.stop()
        self.mttd.start()


class DrainGivesUpOnStatements(h.MttdTestCase):
    """A drain that gives up with statements in flight (a submission and
    a count, both waiting for a lock; a third request waiting for a
    connection) exits 0, a sanitizer build too: every context left is
    freed.  Each request gets its 503 access line.  The submission's
    statements were sent: PostgreSQL finds its client gone within
    client_connection_check_interval (2 s) and rolls it back, if they are
    still waiting then (had the lock gone sooner, it would have been
    stored whole, unanswered: the client's retry gets its ids)."""

    MTTD = {"server": {"drain_timeout": "1"}, "pg": {"pool_size": "2"}}

    def test_exit_with_statements_in_flight(self):
        _, build = self.mttd.install_and_build()
        runs = self.sql1("SELECT count(*) FROM test_run")
        lock = h.HeldLock(self, "test_run")
        count = h.to_json({"phase": "test_run", "columns": ["test_name"],
                           "search": {}, "options": {"count_only": 1}})
        requests = [("POST", "/submit", h.to_json(h.submit_body(
            "Test Run", [h.run_entry(build, test_name="given-up")])), None),
            ("POST", "/detail", count, None)]
        answers = []
        threads = [threading.Thread(
            target=lambda: answers.extend(self.mttd.race(requests)),
            daemon=True), threading.Thread(
            target=lambda: answers.append(self.mttd.http(
                "POST", "/serial", "{}")), daemon=True)]
        mark = self.mttd.log_mark()
        threads[0].start()
        self.wait_lock_waiters(lambda n: n >= 2)
        # Both connections are taken: this one waits for one.
        threads[1].start()
        self.assertIsNotNone(self.mttd.wait_log(
            r"POST /serial from", mark), self.mttd.log_tail())
        self.mttd.proc.send_signal(signal.SIGTERM)
        status = self.mttd.proc.wait(30)
        log = self.mttd.log_since(mark)
        # PostgreSQL ends their waits once it finds mttd gone.
        self.wait_lock_waiters(lambda n: n == 0, timeout=10)
        lock.release()
        for t in threads:
            t.join(30)
        try:
            self.assertEqual(status, 0, log[-3000:])
            self.assertEqual(sorted(re.findall(
                r"WARNING req=\d+ POST (/\w+): still in flight when the"
                r" drain gave up", log)), ["/detail", "/serial", "/submit"],
                log[-3000:])
            self.assertEqual(sorted(re.findall(
                r"ACCESS req=\d+ method=POST path=(/\w+) status=503 ", log)),
                ["/detail", "/serial", "/submit"], log[-3000:])
            self.assertEqual(self.sql1("SELECT count(*) FROM test_run"), runs)
        finally:
            self.mttd.stop()
            self.mttd.start()


class Workers(h.MttdTestCase):

    MTTD = {"server": {"workers": "2"}}

    def listening(self):
        return re.findall(r"\[(\d+)\] INFO listening on",
                          self.mttd.log_text())

    def test_1_two_workers_share_the_port(self):
        pids = self.listening()
        self.assertEqual(len(set(pids)), 2)
        self.assertNotIn(str(self.mttd.proc.pid), pids)
        for _ in range(20):
            self.assertOk(self.mttd.http("POST", "/serial", {"serial": "x"}))

    def test_2_killed_worker_is_restarted(self):
        victim = int(self.listening()[0])
        mark = self.mttd.log_mark()
        os.kill(victim, signal.SIGKILL)
        served = 0
        deadline = time.time() + 3
        while time.time() < deadline:
            # Connections queued on the killed worker's socket are reset.
            try:
                served += self.mttd.http("GET", "/").status == 200
            except ConnectionError:
                pass
        self.assertGreater(served, 10)
        self.assertIsNotNone(self.mttd.wait_log(
            r"worker \d \(pid %d\) was killed by signal 9; restarting it"
            % victim, mark))
        self.assertIsNotNone(self.mttd.wait_log(r"INFO listening on", mark))
        self.assertEqual(len(set(self.listening()) - {str(victim)}), 2)

    def hup_applied(self, mark):
        """The workers that logged a SIGHUP applied since mark."""
        deadline = time.time() + 10
        while True:
            got = set(re.findall(
                r"\[(\d+)\] INFO SIGHUP: configuration in force",
                self.mttd.log_since(mark)))
            if len(got) >= 2 or time.time() > deadline:
                return got
            time.sleep(0.05)

    def test_3_hup_reaches_every_worker(self):
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertEqual(len(self.hup_applied(mark)), 2)

    def test_35_restarted_worker_runs_the_configuration_in_force(self):
        rewrite(self.mttd.conf, "[server]",
                "[server]\ncors_origin = https://reloaded.example.org")
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"the supervisor's configuration is in force", mark))
        self.assertEqual(len(self.hup_applied(mark)), 2)
        # The file goes bad, or is edited without a SIGHUP (break-it
        # helper 50: a restarted worker read it and ran the edit alone),
        # then a worker dies and is started again: it runs what the
        # others run, reading neither file.
        for old, new in (("[server]", "[server]\nidle_timeout = x"),
                         ("https://reloaded.example.org",
                          "https://edited.example.org")):
            with self.subTest(edit=new):
                rewrite(self.mttd.conf, old, new)
                try:
                    self.assertOriginsAfterAWorkerRestart(
                        {"https://reloaded.example.org"})
                finally:
                    rewrite(self.mttd.conf, new, old)

    def restart_a_worker(self):
        """Kill the last worker that logged it listens; wait for the one
        started in its place to listen."""
        victim = int(self.listening()[-1])
        mark = self.mttd.log_mark()
        os.kill(victim, signal.SIGKILL)
        self.assertIsNotNone(self.mttd.wait_log(r"INFO listening on", mark))
        log = self.mttd.log_since(mark)
        self.assertNotIn("re-reading", log)
        self.assertNotIn("keeps the configuration", log)

    def assertOriginsAfterAWorkerRestart(self, expected):
        self.restart_a_worker()
        origins = set()
        for _ in range(30):
            try:
                origins.add(self.mttd.http("GET", "/").header(
                    "Access-Control-Allow-Origin"))
            except ConnectionError:
                pass
        self.assertEqual(origins, expected)

    def test_36_reload_the_workers_refuse_is_refused_by_the_supervisor(self):
        """An htpasswd file emptied (or caught half-written) keeps the
        users in force in the workers, and in the supervisor, whose users
        a worker it restarts gets (break-it helper 50: the supervisor put
        the rest of such a reload in force, and a worker it restarted read
        the empty file: 401 for every user on it)."""
        path = os.path.join(self.mttd.dir, "htpasswd")
        with open(path) as f:
            kept = f.read()
        with open(path, "w") as f:
            f.write("")
        try:
            mark = self.mttd.log_mark()
            self.mttd.proc.send_signal(signal.SIGHUP)
            self.assertIsNotNone(self.mttd.wait_log(
                r"SIGHUP: the supervisor keeps the configuration in force:"
                r" htpasswd %s: no user could be read \(the 1 user\(s\) in"
                r" force stay, as for a file caught half-written; to lock"
                r" every user out, restart mttd with it\)" % re.escape(path),
                mark))
            deadline = time.time() + 10
            while (self.mttd.log_since(mark).count(
                    "SIGHUP: keeping the running configuration") < 2
                   and time.time() < deadline):
                time.sleep(0.05)
            self.restart_a_worker()
            statuses = [serial(self.mttd).status for _ in range(40)]
            self.assertEqual(statuses, [200] * 40)
        finally:
            with open(path, "w") as f:
                f.write(kept)
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"the supervisor's configuration is in force", mark))
        self.assertEqual(len(self.hup_applied(mark)), 2)

    def test_37_second_mttd_on_the_port_is_refused(self):
        """SO_REUSEPORT would let another mttd of this user share the
        port, and the kernel split the clients between the two."""
        with open(self.mttd.conf) as f:
            text = f.read().replace("socket_port = 0",
                                    "socket_port = %d" % self.mttd.port)
        log = os.path.join(self.mttd.dir, "second.log")
        why = ("cannot listen on 127.0.0.1:%d: Address already in use"
               " (another mttd, or another server, holds it)"
               % self.mttd.port)
        for workers, mode in (("2", "-f"), ("1", "-f"), ("2", "--daemon"),
                              ("1", "--daemon")):
            with self.subTest(workers=workers, mode=mode):
                conf = os.path.join(self.mttd.dir, "second.conf")
                with open(conf, "w") as f:
                    f.write(text.replace("workers = 2",
                                         "workers = %s" % workers)
                            .replace("[logging]",
                                     "[logging]\nlog_file = %s" % log
                                     if mode == "--daemon" else
                                     "[logging]"))
                pidf = os.path.join(self.mttd.dir, "second.pid")
                proc = subprocess.run(
                    [h.MTTD_BIN, "-c", conf, mode, "--pid-file", pidf],
                    capture_output=True, timeout=60, env=h.subprocess_env())
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn(why, proc.stderr.decode())
                # In the background the terminal hears it once, as the
                # log (it was in the log only with workers, break-it
                # helper 57).
                if mode == "--daemon":
                    self.assertEqual(proc.stderr.decode(),
                                     "mttd: %s\n" % why)
                self.assertFalse(os.path.exists(pidf))
        for _ in range(10):
            resp = self.mttd.http("POST", "/serial", {"serial": "x"})
            self.assertEqual((resp.status, resp.field("status")), (200, 0))

    @staticmethod
    def answers_root(port, host="127.0.0.1"):
        """Whether GET / on host:port answers 200 within 10 s."""
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection((host, port), 2) as c:
                    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    if c.recv(12)[8:] == b" 200":
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def start_two_at_once(self, hosts, port=None):
        """Two mttds (workers = 2) on port (else a free one), one on each
        of hosts, started at the same instant; returns the port, the
        processes and their logs (files, not pipes: the ones that run log
        on)."""
        with open(self.mttd.conf) as f:
            text = f.read()
        port = port or h.free_port()
        procs, logs = [], []
        for n, host in enumerate(hosts):
            conf = os.path.join(self.mttd.dir, "race%d.conf" % n)
            with open(conf, "w") as f:
                f.write(text.replace("socket_port = 0",
                                     "socket_port = %d" % port)
                        .replace("socket_host = 127.0.0.1",
                                 "socket_host = %s" % host))
            logs.append(open(conf + ".err", "w+"))
        for n, log in enumerate(logs):
            conf = os.path.join(self.mttd.dir, "race%d.conf" % n)
            procs.append(subprocess.Popen(
                [h.MTTD_BIN, "-c", conf, "-f"], stdout=subprocess.DEVNULL,
                stderr=log, env=h.subprocess_env()))
        return port, procs, logs

    def stop_all(self, procs, logs):
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=30)
        for log in logs:
            log.close()

    def test_38_two_started_at_once_one_is_refused(self):
        """Two supervisors started at the same instant, on one address or
        on an address and the wildcard: the check of the port and the
        workers' binds are not one step, so without the start-up lock
        both could pass the check and share the port."""
        for hosts in (("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "0.0.0.0"),
                      ("0.0.0.0", "127.0.0.1")):
            for attempt in range(3):
                port, procs, logs = self.start_two_at_once(hosts)
                try:
                    refused = []
                    deadline = time.time() + 10
                    while not refused and time.time() < deadline:
                        refused = [p for p in procs if p.poll() is not None]
                        time.sleep(0.05)
                    self.assertEqual(len(refused), 1, (hosts, attempt))
                    self.assertEqual(refused[0].returncode, 1)
                    n = procs.index(refused[0])
                    logs[n].seek(0)
                    self.assertIn(
                        "cannot listen on %s:%d: Address already in use"
                        % (hosts[n], port), logs[n].read())
                    self.assertTrue(self.answers_root(port))
                    self.assertIsNone(procs[1 - n].poll())
                finally:
                    self.stop_all(procs, logs)

    def test_39_two_on_other_addresses_both_run(self):
        """The lock only makes start-ups take turns: two mttds on one
        port of two different addresses both run."""
        port, procs, logs = self.start_two_at_once(
            ("127.0.0.1", "127.0.0.2"))
        try:
            self.assertTrue(self.answers_root(port, "127.0.0.1"))
            self.assertTrue(self.answers_root(port, "127.0.0.2"))
            self.assertEqual([p.poll() for p in procs], [None, None])
        finally:
            self.stop_all(procs, logs)

    def test_40_killed_supervisor_takes_its_workers_along(self):
        """SIGKILL to the supervisor: its workers drain and exit as on
        TERM (they would otherwise serve on unsupervised and hold the
        port), and the next mttd on the port starts."""
        port, procs, logs = self.start_two_at_once(["127.0.0.1"])
        workers = []
        try:
            self.assertTrue(self.answers_root(port))
            # One may answer before the other listens.
            deadline = time.time() + 10
            while len(workers) < 2 and time.time() < deadline:
                time.sleep(0.05)
                logs[0].seek(0)
                workers = [int(pid) for pid in re.findall(
                    r"\[(\d+)\] INFO listening on", logs[0].read())]
            self.assertEqual(len(workers), 2)
            procs[0].kill()
            procs[0].wait(timeout=10)
            deadline = time.time() + 15
            while any(os.path.exists("/proc/%d" % pid) and
                      "zombie" not in open("/proc/%d/status" % pid).read()
                      for pid in workers):
                self.assertLess(time.time(), deadline, "workers live on")
                time.sleep(0.1)
            logs[0].seek(0)
            self.assertEqual(len(re.findall(
                r"INFO the supervisor is gone: stopping", logs[0].read())), 2)
        finally:
            self.stop_all(procs, logs)
            for pid in workers:  # Only ours, should they live on.
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        if b"race0.conf" in f.read():
                            os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        _, procs, logs = self.start_two_at_once(["127.0.0.1"], port)
        try:
            self.assertTrue(self.answers_root(port))
            self.assertIsNone(procs[0].poll())
        finally:
            self.stop_all(procs, logs)

    def test_41_supervisor_killed_during_a_stop_lets_workers_drain(self):
        """TERM to the supervisor, passed on, then the supervisor killed:
        the kernel's word that it died starts no second, immediate stop,
        and an upload still arriving is served."""
        port, procs, logs = self.start_two_at_once(["127.0.0.1"])
        try:
            self.assertTrue(self.answers_root(port))
            body = h.to_json(h.submit_body("MPI Install", [h.install_entry(
                mpi_version="orphan-drain")])).encode()
            s = socket.create_connection(("127.0.0.1", port), timeout=20)
            s.sendall(b"POST /submit HTTP/1.1\r\nHost: x\r\nAuthorization: "
                      + self.mttd.auth_header().encode() +
                      b"\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body[:50])
            time.sleep(0.3)
            procs[0].send_signal(signal.SIGTERM)
            time.sleep(0.3)
            procs[0].kill()
            procs[0].wait(timeout=10)
            time.sleep(0.3)
            s.sendall(body[50:])
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            s.close()
            resp = h.parse_raw_response(out)
            self.assertEqual((resp.status, resp.field("status")), (200, 0),
                             out[:300])
            self.assertEqual(self.sql1(
                "SELECT count(*) FROM mpi_get WHERE mpi_version ="
                " 'orphan-drain'"), ["1"])
            logs[0].seek(0)
            self.assertNotIn("exiting now", logs[0].read())
        finally:
            self.stop_all(procs, logs)

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.mttd.proc.pid)],
                             capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def test_42_term_to_every_process_drains_once(self):
        """TERM to the supervisor and to each worker at once, in either
        order, as a signal to the process group (Ctrl-C) or systemd's
        stop (KillMode=control-group) sends it: one drain, and the
        submissions in flight are answered and stored (break-it helper
        66: the supervisor's copy counted as a second signal, and the
        workers dropped them)."""
        for supervisor_first in (False, True):
            lock = h.HeldLock(self, "mpi_install")
            answers = []
            threads = [threading.Thread(target=lambda i=i: answers.append(
                self.mttd.submit("MPI Install", [h.install_entry(
                    mpi_version="group-term-%s-%d" % (supervisor_first, i))])))
                for i in range(4)]
            mark = self.mttd.log_mark()
            for t in threads:
                t.start()
            deadline = time.time() + 10
            while self.mttd.log_since(mark).count("POST /submit from") < 4:
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            time.sleep(0.3)
            pids = self.worker_pids()
            self.assertEqual(len(pids), 2)
            if supervisor_first:
                # Its drain signal first, then each worker's own TERM.
                self.mttd.proc.send_signal(signal.SIGTERM)
                self.assertIsNotNone(self.mttd.wait_log(
                    r"the supervisor stops: stopping", mark))
                time.sleep(0.2)
            signalled = 0
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                    signalled += 1
                except ProcessLookupError:
                    # Told to drain first, one with nothing in flight
                    # (the kernel may give all four to the other) is
                    # gone already.
                    self.assertTrue(supervisor_first)
            if not supervisor_first:
                self.mttd.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            lock.release()
            for t in threads:
                t.join(30)
            self.assertEqual(self.mttd.proc.wait(30), 0)
            log = self.mttd.log_since(mark)
            self.assertEqual(sorted((a.status, a.field("status"))
                                    for a in answers), [(200, 0)] * 4, log)
            self.assertEqual(self.sql1(
                "SELECT count(*) FROM mpi_get WHERE mpi_version LIKE"
                " 'group-term-%s-%%'" % supervisor_first), ["4"])
            self.assertNotIn("exiting now", log)
            if supervisor_first:
                # At least the worker holding the submissions, which
                # cannot have gone, took its TERM as a first one.
                already = log.count("INFO signal 15: stopping already; a"
                                    " second one exits at once")
                self.assertTrue(1 <= already <= signalled, log)
            self.mttd.start()

    def test_43_worker_restarted_while_the_database_is_down(self):
        """A worker killed while the database is down starts with its
        pool down, as the running ones are, and serves once it is back
        (break-it helper 66: it died at start-up reading the catalogue,
        and was started again every second)."""
        victim = self.worker_pids()[0]
        mark = self.mttd.log_mark()
        self.pg.stop()
        try:
            os.kill(victim, signal.SIGKILL)
            self.assertIsNotNone(self.mttd.wait_log(
                r"INFO listening on", mark, timeout=10))
            time.sleep(2.5)
            log = self.mttd.log_since(mark)
            self.assertEqual(len(re.findall(
                r"ERROR worker \d \(pid \d+\) (was killed by|exited with)",
                log)), 1, log)
            self.assertNotIn("CRITICAL", log)
        finally:
            self.pg.start()
        deadline = time.time() + 10
        served = 0
        while served < 20:
            self.assertLess(time.time(), deadline)
            try:
                ok = self.mttd.http("POST", "/serial",
                                    {"serial": "x"}).status == 200
            except (OSError, http.client.HTTPException):
                ok = False
            served = served + 1 if ok else 0
            time.sleep(0 if ok else 0.1)

    def test_44_stopped_worker_drains_on_term(self):
        """A worker stopped (SIGSTOP) when TERM comes is continued, so it
        drains at once rather than being killed at the time limit
        (break-it helper 66)."""
        victim = self.worker_pids()[0]
        mark = self.mttd.log_mark()
        os.kill(victim, signal.SIGSTOP)
        start = time.time()
        self.mttd.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.mttd.proc.wait(30), 0)
        self.assertLess(time.time() - start, 3)
        log = self.mttd.log_since(mark)
        self.assertIn("INFO worker 0 (pid", log)
        self.assertIn("INFO every worker stopped", log)
        self.assertNotIn("killing", log)
        self.mttd.start()

    def test_45_orphaned_worker_exits_on_one_signal(self):
        """Its supervisor killed, a worker drains, and its log says a
        signal exits at once: one TERM does (break-it helper 67), also
        when the drain had begun (helper 69: nothing said so)."""
        for stop_first in (False, True):
            with self.subTest(stop_first=stop_first):
                self.orphaned_worker_exits_on_one_signal(stop_first)

    def orphaned_worker_exits_on_one_signal(self, stop_first):
        s = socket.create_connection(("127.0.0.1", self.mttd.port))
        self.addCleanup(s.close)
        # A request still arriving keeps a worker's drain going.
        s.sendall(b"POST /serial HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 20\r\n\r\n{")
        time.sleep(0.3)
        pids = self.worker_pids()
        mark = self.mttd.log_mark()
        if stop_first:
            self.mttd.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
        self.mttd.proc.kill()
        self.mttd.proc.wait(10)
        deadline = time.time() + 5
        while self.mttd.log_since(mark).count("supervisor is gone") < (
                1 if stop_first else 2):
            self.assertLess(time.time(), deadline, self.mttd.log_tail())
            time.sleep(0.05)
        if stop_first:
            self.assertIn("INFO the supervisor is gone: a signal exits at"
                          " once", self.mttd.log_since(mark))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass  # The idle one drained at once.
        deadline = time.time() + 3
        while any(alive(pid) for pid in pids):
            self.assertLess(time.time(), deadline, "a worker lives on")
            time.sleep(0.05)
        self.assertIn("INFO signal 15 again: exiting now",
                      self.mttd.log_since(mark))
        self.mttd.start()

    def test_46_hup_during_a_stop_still_reloads(self):
        """logrotate may move the logs away while a stop drains: the
        supervisor still reloads and passes SIGHUP on (break-it helper
        69: it dropped it)."""
        lock = h.HeldLock(self, "mpi_install")
        answers = []
        thread = threading.Thread(target=lambda: answers.append(
            self.mttd.submit("MPI Install", [h.install_entry(
                mpi_version="hup-in-drain")])))
        mark = self.mttd.log_mark()
        thread.start()
        self.assertIsNotNone(self.mttd.wait_log(r"POST /submit from", mark))
        time.sleep(0.3)
        self.mttd.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(
            r"the supervisor's configuration is in force", mark))
        # The worker still draining reloads; the idle one has gone.
        self.assertIsNotNone(self.mttd.wait_log(
            r"INFO SIGHUP: configuration in force", mark))
        lock.release()
        thread.join(30)
        self.assertEqual(self.mttd.proc.wait(30), 0)
        self.assertEqual((answers[0].status, answers[0].field("status")),
                         (200, 0))
        self.mttd.start()

    def test_4_term_stops_them_all(self):
        pids = set(self.listening())
        self.assertEqual(self.mttd.stop(), 0)
        self.assertIn("every worker stopped", self.mttd.log_text())
        # Reaped by the supervisor: gone, not even zombies.
        for pid in pids:
            self.assertFalse(os.path.exists("/proc/%s" % pid), pid)
        self.mttd.start()


def alive(pid):
    """Whether pid runs (a zombie waiting for its reaper does not)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return "zombie" not in f.read()
    except OSError:
        return False


def second_cluster():
    """A second cluster, started, standing in for a replica, and its
    database: mttd logs in to both with the one [pg_v3] password, and the
    database has the name the primary's next one gets."""
    replica = h.PgCluster()
    replica.password = h.cluster().password
    replica.env = h.subprocess_env({
        "PGPASSWORD": replica.password, "PGCONNECT_TIMEOUT": "10"})
    replica.start()
    replica.ndb = h.cluster().ndb
    return replica, replica.create_db()


class ReadReplica(h.MttdTestCase):
    """Queries go to read_server:read_port, submissions to the primary:
    a second cluster stands in for the replica, with rows of its own."""

    @classmethod
    def setUpClass(cls):
        cls.replica, cls.replica_db = second_cluster()
        cls.MTTD = {"pg": {"read_server": "127.0.0.1",
                           "read_port": str(cls.replica.port)}}
        super().setUpClass()
        assert cls.replica_db == cls.db, (cls.replica_db, cls.db)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.replica.stop()

    def test_queries_read_the_replica(self):
        self.submit_ok("MPI Install", [h.install_entry(
            mpi_version="primary-only")])
        search = {"mpi_version": "primary-only"}
        resp = self.mttd.http("POST", "/detail", {
            "phase": "install", "columns": ["mpi_version"],
            "search": search})
        self.assertOk(resp)
        self.assertEqual(resp.field("query_data"), [])
        resp = self.mttd.http("POST", "/detail", {
            "phase": "install", "columns": ["mpi_version"],
            "search": search, "options": {"count_only": True}})
        self.assertEqual(resp.field("query_data"), {"count": 0})
        self.assertEqual(self.sql1("SELECT count(*) FROM mpi_get WHERE"
                                   " mpi_version = 'primary-only'"), ["1"])
        self.assertIn("queries read from 127.0.0.1:%d" % self.replica.port,
                      self.mttd.log_text())
        self.assertIn("replica connections: sslmode disable, gssencmode"
                      " disable", self.mttd.log_text())

    def test_max_connections_leaves_room_for_both_pools(self):
        # Break-it helper 63: the replica's pool was left out of the
        # descriptors kept from max_connections, and accept() ran out.
        server = h.Mttd(self.db, pg={"read_server": "127.0.0.1",
                                     "read_port": str(self.replica.port),
                                     "pool_size": "10"})
        server.argv_prefix = ["prlimit", "--nofile=100:100"]
        server.start()
        try:
            self.assertIn("WARNING max_connections 4000 is more than the"
                          " open-file limit 100 allows: 48\n",
                          server.log_text())
        finally:
            server.stop()

    def test_a_replica_that_is_no_standby_is_told(self):
        # This stand-in is a primary of its own: what a promoted replica
        # is (break-it helper 39: its answers stopped growing, silently).
        self.assertIsNotNone(self.mttd.wait_log(
            r"WARNING read_server .* is not a standby"))
        self.assertEqual(self.mttd.log_text().count(
            "WARNING read_server 127.0.0.1:%d is not a standby"
            " (in_hot_standby off: promoted, or not a replica): queries"
            " read it, and see what /submit stores on the primary only if"
            " it replicates from there" % self.replica.port), 1)
        answer = self.assertOk(self.mttd.http("GET", "/status", auth=None))
        self.assertEqual((answer["database"], answer["read_database"],
                          answer["read_standby"]), ("up", "up", False))


class StandbyReplica(h.MttdTestCase):
    """read_server on a hot standby: /status says so, and says it once
    the standby is promoted (in_hot_standby, which PostgreSQL reports to
    open sessions too); the replica's pool going down is in /status."""

    @classmethod
    def setUpClass(cls):
        cls.replica, cls.replica_db = second_cluster()
        # In recovery from now on, read-only: no primary to follow is
        # needed for that.
        cls.replica.stop()
        open(os.path.join(cls.replica.dir, "data", "standby.signal"),
             "w").close()
        cls.replica.start()
        cls.MTTD = {"pg": {"read_server": "127.0.0.1",
                           "read_port": str(cls.replica.port),
                           "idle_check": "1"}}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.replica.stop()

    def status(self):
        return self.assertOk(self.mttd.http("GET", "/status", auth=None))

    def count(self):
        resp = self.mttd.http("POST", "/detail", {
            "phase": "install", "columns": ["mpi_version"], "search": {},
            "options": {"count_only": True}})
        self.assertOk(resp)
        return resp.field("query_data")["count"]

    def test_standby_then_promoted(self):
        self.assertEqual(self.replica.psql("SELECT pg_is_in_recovery()"),
                         [["t"]])
        # Absent until a connection to the replica is made.
        deadline = time.time() + 10
        while "read_standby" not in self.status():
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        answer = self.status()
        self.assertEqual((answer["read_database"], answer["read_standby"]),
                         ("up", True))
        self.assertEqual(str(self.count()), self.replica.psql(
            "SELECT count(*) FROM mpi_install", db=self.db)[0][0])
        self.assertNotIn("is not a standby", self.mttd.log_text())

        mark = self.mttd.log_mark()
        self.replica.psql("SELECT pg_promote(true)", superuser=True)
        # The sessions open before it learn it with their next answer:
        # with no query, the idle check's (break-it helper 41 saw a
        # quiet mttd say true for good).
        deadline = time.time() + 10
        while time.time() < deadline and self.status().get(
                "read_standby") is not False:
            time.sleep(0.1)
        self.assertEqual(self.status()["read_standby"], False)
        self.assertIsNotNone(self.mttd.wait_log(
            r"WARNING read_server 127\.0\.0\.1:%d is not a standby"
            % self.replica.port, mark))

    def test_z_replica_down(self):
        mark = self.mttd.log_mark()
        self.replica.stop()
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                resp = self.mttd.http("POST", "/detail", {
                    "phase": "install", "columns": ["mpi_version"],
                    "search": {}})
                if resp.status == 503 and self.status()[
                        "read_database"] == "down":
                    break
                time.sleep(0.2)
            answer = self.status()
            self.assertEqual((answer["database"], answer["read_database"]),
                             ("up", "down"))
            self.assertNotIn("read_standby", answer)
            self.assertIsNotNone(self.mttd.wait_log(
                r"ERROR database is down \(127\.0\.0\.1:%d/%s\): no"
                r" connection is up" % (self.replica.port, self.db)))
            # The replica's connections are told from the primary's
            # (break-it helper 63: both were "db conn N").
            log = self.mttd.log_since(mark)
            self.assertRegex(log, r"\] ERROR replica conn \d: ")
            self.assertNotRegex(log, r"\] (ERROR|WARNING) db conn ")
        finally:
            self.replica.start()


class ServicePaths(unittest.TestCase):
    """make install writes the systemd unit with the install's paths
    (contrib/service-paths.sh), escaped for sed and for systemd's command
    line: a prefix with blanks, `&`, `|`, `%` or `$` used to come out
    mangled (`&` is sed's whole match)."""

    SCRIPT = os.path.join(h.SRCDIR, "contrib", "service-paths.sh")
    UNIT = os.path.join(h.SRCDIR, "contrib", "mttd.service")

    def installed(self, sbindir, confdir):
        with open(self.UNIT, "rb") as f:
            return subprocess.run(["sh", self.SCRIPT, sbindir, confdir],
                                  input=f.read(), capture_output=True,
                                  timeout=30)

    def lines(self, out, start):
        return [line for line in out.decode().splitlines()
                if line.startswith(start)]

    def test_plain_paths_stay_bare(self):
        r = self.installed("/opt/mttd/sbin", "/opt/mttd/etc/mttd")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.lines(r.stdout, "ExecStart="), [
            "ExecStart=/opt/mttd/sbin/mttd -c /opt/mttd/etc/mttd/mttd.conf"
            " -f"])
        self.assertEqual(self.lines(r.stdout, "#   chgrp"), [
            "#   chgrp mttd /opt/mttd/etc/mttd/mttd.conf   (and the htpasswd"
            " file)"])
        self.assertNotIn(b"/usr/local", r.stdout)

    def test_special_characters_are_escaped_where_each_is_read(self):
        r = self.installed("/opt/a b&c|d%e$f/sbin", '/etc/x"y\\z$w%v')
        self.assertEqual(r.returncode, 0, r.stderr)
        # The program's path: quoted, % doubled, $ as it is (systemd
        # expands no variable there); the argument's: $ doubled too.
        self.assertEqual(self.lines(r.stdout, "ExecStart="), [
            'ExecStart="/opt/a b&c|d%%e$f/sbin/mttd"'
            ' -c "/etc/x\\"y\\\\z$$w%%v/mttd.conf" -f'])
        self.assertEqual(self.lines(r.stdout, "#   chgrp"), [
            '#   chgrp mttd /etc/x"y\\z$w%v/mttd.conf   (and the'
            ' htpasswd file)'])
        # Every other line is the sample's.
        with open(self.UNIT) as f:
            sample = f.read().splitlines()
        out = r.stdout.decode().splitlines()
        self.assertEqual(len(out), len(sample))
        self.assertEqual(
            [a for a, b in zip(out, sample) if a != b
             and not a.startswith(("ExecStart=", "#   chgrp"))], [])

    def test_paths_no_unit_can_run_are_refused(self):
        for sbindir, confdir in (('/opt/a"b', "/etc"), ("/opt/a'b", "/etc"),
                                 ("/opt/a\\b", "/etc"),
                                 ("/opt/a\nb", "/etc"),
                                 ("/opt", "/etc/a\nb"),
                                 ("/opt/a\tb", "/etc"),
                                 ("/opt", "/etc/a\x7fb")):
            r = self.installed(sbindir, confdir)
            self.assertEqual(r.returncode, 1, (sbindir, confdir))
            self.assertEqual(r.stdout, b"")
            if any(ord(c) < 32 or c == "\x7f" for c in sbindir + confdir):
                self.assertEqual(
                    r.stderr,
                    b"service-paths.sh: an install path holds a control"
                    b" character (a tab, a line break...)\n")
            else:
                self.assertEqual(
                    r.stderr,
                    ("service-paths.sh: systemd runs no program whose path"
                     " holds a quote or a backslash: %s/mttd (choose another"
                     " --sbindir)\n" % sbindir).encode())


if __name__ == "__main__":
    h.main()
