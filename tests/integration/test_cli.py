#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""mttd's command line: --check-config on good and bad files (exit 0, or
2 with FILE:LINE: key 'K'), the reference's template form, -h listing
every option and configuration key, -V; start-up against a database that
connects and then says nothing."""

import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402

# Keys SPEC.md and the configuration contract name, whatever conf/ says.
KNOWN_KEYS = {
    "server": ["socket_host", "socket_port", "url_docroot", "url_prefix",
               "max_body_size", "trust_forwarded_for", "cors_origin",
               "request_timeout"],
    "logging": ["log_level", "log_file", "access_log"],
    "pg_v3": ["type", "dbname", "username", "password", "server", "port",
              "pool_size"],
    "auth": ["htpasswd_file", "realm"],
}
HEAD = "# mttd test configuration\n; a comment of the other kind\n\n"


def mkdtemp_cwd():
    return h.mkdtemp("mttd-it-cwd-")


def conf_keys(path):
    """{section: [keys]} of an INI file, commented-out keys included."""
    keys, section = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\s*\[([A-Za-z0-9_]+)\]\s*$", line)
            if m:
                section = m.group(1)
                keys.setdefault(section, [])
                continue
            m = (re.match(r"^\s*([a-z_][a-z0-9_]*)\s*[=:]", line)
                 or re.match(r"^\s*[#;]\s*([a-z_][a-z0-9_]*)\s*=", line))
            if m and section:
                keys[section].append(m.group(1))
    return keys


class TemplateMttd(h.Mttd):
    """mttd started on the reference's mtt_server.cfg template form."""

    def prepare(self):
        os.makedirs(os.path.join(self.dir, "log"))
        self.cwd = mkdtemp_cwd()

    def config_text(self):
        return template_text(self.cluster, self.dbname, socket_port=0)


def quoted_template_text(pg, db):
    """The template form as a site may write it for the reference's
    reader (ConfigObj): quoted values and comments after them."""
    return (template_text(pg, db, socket_port=0)
            .replace("socket_port = 0", 'socket_port = "0"  # any port')
            .replace("dbname = %s" % db, "dbname = '%s'" % db)
            .replace("password = %s" % pg.password,
                     'password = "%s"   # the database\'s' % pg.password)
            .replace("log_level = DEBUG", "log_level = DEBUG # verbose"))


class QuotedTemplateMttd(TemplateMttd):
    """mttd started on the template form with quotes and comments."""

    def config_text(self):
        return quoted_template_text(self.cluster, self.dbname)


class RelativeHtpasswdMttd(h.Mttd):
    """mttd whose htpasswd_file is a relative path."""

    def config_text(self):
        return super().config_text().replace(
            "htpasswd_file = %s" % os.path.join(self.dir, "htpasswd"),
            "htpasswd_file = htpasswd")


class StallingProxy:
    """A loopback relay to PostgreSQL that stops relaying, both ways,
    once the client sends stall_on (by default the catalogue query mttd
    reads at start-up; b"": its very first bytes, so the connect itself
    goes unanswered): a database that accepted the connection and then
    went silent."""

    def __init__(self, pg_port, stall_on=b"information_schema.columns"):
        self.pg_port = pg_port
        self.stall_on = stall_on
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.stalled = threading.Event()
        self.stop = threading.Event()
        self.socks = [self.listener]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stop.is_set():
            if not select.select([self.listener], [], [], 0.2)[0]:
                continue
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self.pg_port))
            self.socks += [client, server]
            threading.Thread(target=self.relay, args=(client, server),
                             daemon=True).start()

    def relay(self, client, server):
        while not self.stop.is_set() and not self.stalled.is_set():
            ready = select.select([client, server], [], [], 0.2)[0]
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                if sock is client and self.stall_on in data:
                    self.stalled.set()
                    return
                (server if sock is client else client).sendall(data)

    def close(self):
        self.stop.set()
        for sock in self.socks:
            sock.close()


def template_text(pg, db, socket_port=9080):
    return ("[server]\nsocket_host = 127.0.0.1\nsocket_port = %d\n"
            "url_docroot = http://your.domain/mtt/\n\n"
            "[logging]\nlog_level = DEBUG\nlog_file = log/mtt.log\n\n"
            "[pg_v3]\ntype = postgres\ndbname = %s\nusername = mtt\n"
            "password = %s\nserver = 127.0.0.1\nport = %d\n"
            % (socket_port, db, pg.password, pg.port))


class Cli(unittest.TestCase):

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.check_prerequisites()
        cls.pg = h.cluster()
        cls.db = cls.pg.create_db()
        cls.dir = h.mkdtemp("mttd-it-cli-")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def mttd(self, *args, cwd=None, timeout=30):
        proc = subprocess.run([h.MTTD_BIN] + list(args),
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, cwd=cwd or self.dir,
                              env=h.subprocess_env())
        return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
                proc.stderr.decode("utf-8", "replace"))

    def good_text(self):
        return HEAD + (
            "[server]\nsocket_host = 127.0.0.1\nsocket_port = 0\n"
            "url_docroot = http://results.example.org/mtt/\n"
            "url_prefix = /submit/cpy/api\nmax_body_size = 64M\n"
            "trust_forwarded_for = false\ncors_origin = *\n"
            "request_timeout = 60\n\n"
            "[logging]\nlog_level = DEBUG\nlog_file = mttd.log\n"
            "access_log = access.log\n\n"
            "[pg_v3]\ntype = postgres\ndbname = %s\nusername = mtt\n"
            "password = %s\nserver = 127.0.0.1\nport = %d\npool_size = 4\n\n"
            "[auth]\nhtpasswd_file = htpasswd\nrealm = mtt results\n"
            % (self.db, self.pg.password, self.pg.port))

    def test_check_config_good(self):
        h.make_htpasswd(os.path.join(self.dir, "htpasswd"),
                        [(h.USER, h.PASSWORD)])
        path = self.write("good.conf", self.good_text())
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertEqual(rc, 0, out + err)
        # key: value works too (as Python's configparser reads it).
        colon = self.good_text().replace("cors_origin = *", "cors_origin: *")
        rc, out, err = self.mttd("--check-config", "-c",
                                 self.write("colon.conf", colon))
        self.assertEqual(rc, 0, out + err)

    def bad_cases(self):
        """(label, text, line, what) with what "key 'K'"/"section 'S'"."""
        server = "[server]\nsocket_host = 127.0.0.1\n"
        n = HEAD.count("\n")  # lines before [server]
        return [
            ("unknown key", HEAD + server + "no_such_key = 1\n", n + 3,
             ["key 'no_such_key'"]),
            ("unknown key after good sections",
             HEAD + server + "\n[logging]\nlog_level = INFO\nlogfile = x\n",
             n + 6, ["key 'logfile'"]),
            ("unknown section", HEAD + server + "\n[bogus]\nfoo = 1\n",
             n + 4, ["section 'bogus'", "key 'foo'"]),
            ("bad int", HEAD + "[server]\nsocket_port = abc\n", n + 2,
             ["key 'socket_port'"]),
            ("int out of range", HEAD + "[server]\nsocket_port = 70000\n",
             n + 2, ["key 'socket_port'"]),
            ("bad int in pg_v3", HEAD + "[pg_v3]\ndbname = x\nport = 54x\n",
             n + 3, ["key 'port'"]),
            ("prepared statements out of range",
             HEAD + "[pg_v3]\nprepared_statements = 129\n", n + 2,
             ["key 'prepared_statements': 129 is out of range 0..128"]),
            ("bad bool", HEAD + server + "trust_forwarded_for = maybe\n",
             n + 3, ["key 'trust_forwarded_for'"]),
            ("bad log level", HEAD + "[logging]\nlog_level = LOUD\n", n + 2,
             ["key 'log_level'"]),
            ("bad size", HEAD + server + "max_body_size = lots\n", n + 3,
             ["key 'max_body_size'"]),
            ("key set twice", HEAD + server + "socket_host = 0.0.0.0\n",
             n + 3, ["key 'socket_host'"]),
            ("empty socket_host", HEAD + "[server]\nsocket_host =\n", n + 2,
             ["key 'socket_host': empty (an address or host name to"
              " listen on)"]),
            ("socket_host with a space",
             HEAD + "[server]\nsocket_host = not a host\n", n + 2,
             ["key 'socket_host': 'not a host': character 4 (' ') is not"
              " allowed here"]),
            ("empty cors_origin", HEAD + server + "cors_origin =\n", n + 3,
             ["key 'cors_origin': empty"]),
            ("realm with a double quote", HEAD + "[auth]\nrealm = a\"b\n",
             n + 2, ["key 'realm': 'a\"b': character 2 ('\"') is not"
                     " allowed here"]),
            ("realm with a backslash", HEAD + "[auth]\nrealm = a\\b\n",
             n + 2, ["key 'realm': 'a\\b': character 2 ('\\')"]),
            # The reference's reader takes '#' for a comment: a value
            # holding one unquoted would be cut short there.
            ("a '#' in a value", HEAD + "[pg_v3]\npassword = ab#cd\n",
             n + 2, ["key 'password': '#' starts a comment in this file,"
                     " as in the reference's: put a value that holds one"
                     " in quotes, or a space before a comment"]),
            ("no closing quote", HEAD + "[pg_v3]\ndbname = \"mttv3\n",
             n + 2, ["key 'dbname': no closing \""]),
            ("text after the quote",
             HEAD + "[pg_v3]\ndbname = 'mttv3'v3\n", n + 2,
             ["key 'dbname': 'v3' after the closing '"]),
        ]

    def assertNamesLine(self, err, path, line, whats):
        # An unknown section may be reported at its header or its key.
        wanted = ["%s:%d: %s" % (path, line + i, what)
                  for i, what in enumerate(whats)]
        self.assertTrue(any(w in err for w in wanted),
                        "stderr does not hold %s:\n%s" % (" or ".join(
                            repr(w) for w in wanted), err))

    def test_check_config_errors(self):
        for label, text, line, whats in self.bad_cases():
            with self.subTest(case=label):
                name = "bad-%s.conf" % label.replace(" ", "-")
                path = self.write(name, text)
                rc, out, err = self.mttd("--check-config", "-c", path)
                self.assertEqual(rc, 2, out + err)
                self.assertNamesLine(err, path, line, whats)
                # The path is reported as given, also when relative.
                rc, out, err = self.mttd("--check-config", "-c", name)
                self.assertEqual(rc, 2, out + err)
                self.assertNamesLine(err, name, line, whats)

    def test_bad_config_stops_start_up(self):
        label, text, line, whats = self.bad_cases()[0]
        path = self.write("bad-start.conf", text)
        try:
            rc, out, err = self.mttd("-c", path, "-f", timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("mttd started on a configuration with an unknown key")
        self.assertNotEqual(rc, 0)
        self.assertNamesLine(err, path, line, whats)

    def silent_database_conf(self, name, query_timeout, connect_timeout=2,
                             stall_on=b"information_schema.columns"):
        proxy = StallingProxy(self.pg.port, stall_on)
        self.addCleanup(proxy.close)
        text = self.good_text().replace(
            "port = %d\npool_size = 4\n" % self.pg.port,
            "port = %d\npool_size = 4\nconnect_timeout = %d\n"
            "query_timeout = %d\n" % (proxy.port, connect_timeout,
                                       query_timeout)).replace(
            "htpasswd_file = htpasswd", "htpasswd_file = silent.htpasswd")
        self.write("silent.htpasswd", "")
        return proxy, self.write(name, text)

    def test_silent_database_at_start_up_gives_up(self):
        self.start_up_gives_up(
            self.silent_database_conf("silent.conf", 2), 2,
            "no answer from the database in 2 s while reading the"
            " catalogue (query_timeout)")

    def test_silent_database_at_connect_gives_up(self):
        self.start_up_gives_up(
            self.silent_database_conf("silent-connect.conf", 0,
                                      connect_timeout=1, stall_on=b""), 1,
            "no answer from the database in 1 s while connecting"
            " (connect_timeout)")

    def start_up_gives_up(self, proxy_and_path, seconds, message):
        """mttd, behind a proxy gone silent, exits 1 after seconds."""
        proxy, path = proxy_and_path
        start = time.time()
        rc, out, err = self.mttd("-c", path, "-f", timeout=30)
        took = time.time() - start
        self.assertTrue(proxy.stalled.is_set())
        self.assertEqual(rc, 1, err)
        self.assertIn(message, err)
        self.assertGreaterEqual(took, seconds - 0.1)
        self.assertLess(took, seconds + 7)

    def test_sigterm_stops_a_start_up_waiting_for_the_database(self):
        # query_timeout = 0 waits for ever; SIGTERM still ends the wait
        # (start-up holds the signal until mttd listens).
        self.sigterm_during_start_up(
            self.silent_database_conf("silent-term.conf", 0),
            b"stopped by a signal while reading the catalogue")

    def test_sigterm_stops_a_start_up_connect(self):
        self.sigterm_during_start_up(
            self.silent_database_conf("silent-term-connect.conf", 0,
                                      connect_timeout=3600, stall_on=b""),
            b"CRITICAL stopped by a signal while connecting to database t")

    def test_sigterm_stops_workers_waiting_for_the_database(self):
        proxy, path = self.silent_database_conf("silent-workers.conf", 0)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("[server]\n", "[server]\nworkers = 2\n"))
        # The supervisor reads the catalogue before it forks them.
        self.sigterm_during_start_up(
            (proxy, path), b"stopped by a signal while reading the catalogue")
        deadline = time.time() + 5
        while time.time() < deadline and subprocess.run(
                ["pgrep", "-f", path], capture_output=True).returncode == 0:
            time.sleep(0.1)
        self.assertNotEqual(subprocess.run(
            ["pgrep", "-f", path], capture_output=True).returncode, 0,
            "a worker outlived its supervisor")

    def test_second_start_up_on_the_port_waits_and_stops_on_sigterm(self):
        """Start-ups on one port take turns: a second supervisor waits
        while the first one's workers are still starting (here: reading
        the catalogue of a database gone silent), and a TERM meanwhile
        stops it at once."""
        proxy, path = self.silent_database_conf("slow-start.conf", 10)
        port = h.free_port()
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("[server]\n", "[server]\nworkers = 2\n")
                    .replace("socket_port = 0", "socket_port = %d" % port))
        logs, procs = [], []
        try:
            for n in range(2):
                logs.append(open(os.path.join(self.dir, "slow%d.err" % n),
                                 "w+"))
                procs.append(subprocess.Popen(
                    [h.MTTD_BIN, "-c", path, "-f"], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=logs[n], cwd=self.dir,
                    env=h.subprocess_env()))
                if n == 0:
                    self.assertTrue(proxy.stalled.wait(20))
            waiting = ("another mttd is starting on port %d: waiting until"
                       " it listens" % port)
            deadline = time.time() + 5
            while True:
                logs[1].seek(0)
                if waiting in logs[1].read():
                    break
                self.assertLess(time.time(), deadline, "no wait logged")
                time.sleep(0.05)
            self.assertIsNone(procs[1].poll())
            procs[1].send_signal(signal.SIGTERM)
            self.assertEqual(procs[1].wait(3), 1)
            logs[1].seek(0)
            self.assertIn("stopped while waiting for it", logs[1].read())
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for log in logs:
                log.close()

    def test_workers_that_cannot_reach_the_database_stop_all(self):
        """Nothing listens on the database port: the supervisor, which
        reads the catalogue before it forks the workers, exits 1 and says
        why, and nothing is left unfreed (a sanitizer build reports a
        leak on stderr)."""
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        text = self.good_text().replace(
            "port = %d\npool_size = 4\n" % self.pg.port,
            "port = %d\npool_size = 4\n" % port).replace(
            "[server]\n", "[server]\nworkers = 2\n").replace(
            "htpasswd_file = htpasswd", "htpasswd_file = refused.htpasswd")
        self.write("refused.htpasswd", "")
        path = self.write("refused-workers.conf", text)
        rc, out, err = self.mttd("-c", path, "-f", timeout=30)
        self.assertEqual(rc, 1, err)
        self.assertNotIn("a worker did not start", err)
        self.assertIn("CRITICAL cannot connect to database", err)
        self.assertIn("port %d failed: Connection refused" % port, err)
        self.assertNotIn("Sanitizer", err)
        # In the background each worker's reason reaches the terminal,
        # without the blank line libpq's own line break made.
        rc, out, err = self.mttd("-c", path, "--daemon", timeout=30)
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, r"^mttd: cannot connect to database t\d+ at"
                         r" 127\.0\.0\.1:%d as mtt \(\[pg_v3\] dbname,"
                         r" server, port, username, password\): connection"
                         r" to server at \"127\.0\.0\.1\", port %d failed:"
                         r" Connection refused" % (port, port))
        self.assertNotIn("\n\n", err)
        self.assertTrue(err.endswith("\n") and not err.endswith("\n\n"),
                        err)

    def sigterm_during_start_up(self, proxy_and_path, message):
        proxy, path = proxy_and_path
        proc = subprocess.Popen([h.MTTD_BIN, "-c", path, "-f"],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=self.dir,
                                env=h.subprocess_env())
        try:
            self.assertTrue(proxy.stalled.wait(20))
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            start = time.time()
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertLess(time.time() - start, 3)
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn(message, err)

    def test_missing_config_file(self):
        path = os.path.join(self.dir, "no-such.conf")
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertNotEqual(rc, 0)
        self.assertIn(path, err)

    def test_reference_template_form(self):
        folder = os.path.join(self.dir, "tmpl")
        os.makedirs(os.path.join(folder, "log"), exist_ok=True)
        path = self.write("tmpl/mtt_server.cfg",
                          template_text(self.pg, self.db))
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertEqual(rc, 0, out + err)

    def serves_and_stops(self, server_class):
        """Start a server_class, GET /, stop it; its log."""
        server = server_class(self.db, auth="proxy")
        try:
            server.start()
            resp = server.http("GET", "/", auth=None)
            self.assertEqual(resp.json, {"status": 0,
                                         "status_message": "Success"})
        finally:
            status = server.stop()
        self.assertEqual(status, 0, server.log_tail())
        return server.log_text()

    def test_reference_template_runs(self):
        # mttd starts on the template form (-f logs to stderr, and says
        # its log_file is not used) and logs url_docroot at start-up.
        log = self.serves_and_stops(TemplateMttd)
        self.assertIn("http://your.domain/mtt/", log)
        self.assertRegex(log, r"INFO -f: logging to stderr; log_file /\S+"
                         r"/log/mtt\.log is not used")

    def test_reference_template_quoted_and_commented_runs(self):
        """Quotes go and comments after a value are comments, as in the
        reference's reader (break-it helper 29: --check-config passed,
        then mttd logged in with the quotes in the password; start-up
        connects to the database, so serving proves the password)."""
        folder = os.path.join(self.dir, "quoted")
        os.makedirs(os.path.join(folder, "log"), exist_ok=True)
        path = self.write("quoted/mtt_server.cfg",
                          quoted_template_text(self.pg, self.db))
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertEqual(rc, 0, out + err)
        self.assertIn(" DEBUG ", self.serves_and_stops(QuotedTemplateMttd))

    def test_relative_paths_from_the_config_folder(self):
        # htpasswd_file = htpasswd is found beside the configuration file,
        # not in the working folder.
        server = RelativeHtpasswdMttd(self.db)
        server.cwd = h.mkdtemp("mttd-it-cwd-")
        try:
            server.start()
            resp = server.http("POST", "/serial", {"serial": "serial"})
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.field("status"), 0, resp)
            resp = server.http("POST", "/serial", {"serial": "serial"},
                               auth=(h.USER, "wrong"))
            self.assertEqual(resp.status, 401, resp)
        finally:
            status = server.stop()
        self.assertEqual(status, 0, server.log_tail())

    def background_text(self, log_file, port_file_dir=None):
        return ("[server]\nsocket_host = 127.0.0.1\nsocket_port = 0\n\n"
                "[logging]\nlog_level = INFO\nlog_file = %s\n\n"
                "[pg_v3]\ntype = postgres\ndbname = %s\nusername = mtt\n"
                "password = %s\nserver = 127.0.0.1\nport = %d\n"
                % (log_file, self.db, self.pg.password, self.pg.port))

    def test_background_start_up_failure_is_the_exit_status(self):
        # An init script sees whether mttd started: a log folder that does
        # not exist fails the command, with the reason on stderr.
        path = self.write("bg-bad.conf", self.background_text(
            "no-such-folder/mttd.log"))
        rc, out, err = self.mttd("-c", path, timeout=15)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("no-such-folder/mttd.log", err)
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertEqual(rc, 2, out + err)
        self.assertTrue(h.names_word(err, "log_file"), err)

    def test_background_start_up_success(self):
        # Exit 0 only once mttd listens; the daemon then serves and stops
        # on SIGTERM.
        path = self.write("bg/bg.conf", self.background_text("mttd.log"))
        port_file = os.path.join(self.dir, "bg", "port")
        env = h.subprocess_env({"MTTD_PORT_FILE": port_file})
        proc = subprocess.run([h.MTTD_BIN, "-c", path],
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=30, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(port_file) as f:
            port = int(f.read().strip())
        found = subprocess.run(["pgrep", "-f", "-x", "%s -c %s" %
                                (h.MTTD_BIN, path)],
                               stdout=subprocess.PIPE, timeout=10)
        pids = [int(p) for p in found.stdout.split()]
        self.assertEqual(len(pids), 1, found.stdout)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
        finally:
            os.kill(pids[0], signal.SIGTERM)
        deadline = time.time() + 10
        while time.time() < deadline and os.path.exists("/proc/%d" %
                                                          pids[0]):
            time.sleep(0.05)
        self.assertFalse(os.path.exists("/proc/%d" % pids[0]))
        with open(os.path.join(self.dir, "bg", "mttd.log")) as f:
            text = f.read()
        self.assertIn("mttd stopped", text)
        # The loop batches its epoll changes (main.c, new_event_loop).
        self.assertIn("(backend epoll (with changelist))", text)

    def test_background_closes_inherited_descriptors(self):
        """A descriptor the starter leaves open (a pipe it reads, as
        $(...) does) is closed in the daemon: the reader sees its end
        (break-it helper 22: it waited for ever)."""
        path = self.write("bgfd/bg.conf", self.background_text("mttd.log"))
        port_file = os.path.join(self.dir, "bgfd", "port")
        env = h.subprocess_env({"MTTD_PORT_FILE": port_file})
        r, w = os.pipe()
        try:
            proc = subprocess.run([h.MTTD_BIN, "-c", path],
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=30,
                                  env=env, pass_fds=(w,))
        finally:
            os.close(w)
        found = subprocess.run(["pgrep", "-f", "-x", "%s -c %s" %
                                (h.MTTD_BIN, path)],
                               stdout=subprocess.PIPE, timeout=10)
        pids = [int(p) for p in found.stdout.split()]
        try:
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(len(pids), 1, found.stdout)
            readable, _, _ = select.select([r], [], [], 10)
            self.assertEqual(readable, [r], "the daemon holds the pipe")
            self.assertEqual(os.read(r, 1), b"")
        finally:
            os.close(r)
            for pid in pids:
                os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 10
        while pids and time.time() < deadline and os.path.exists(
                "/proc/%d" % pids[0]):
            time.sleep(0.05)

    def line_of(self, text, start):
        return 1 + [line.startswith(start)
                    for line in text.split("\n")].index(True)

    def test_check_config_missing_htpasswd_names_the_key(self):
        text = self.good_text().replace("htpasswd_file = htpasswd",
                                        "htpasswd_file = no-such-htpasswd")
        path = self.write("nohtpasswd.conf", text)
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("%s:%d: key 'htpasswd_file': " % (
            path, self.line_of(text, "htpasswd_file")), err)
        self.assertEqual(err.count("no-such-htpasswd"), 1, err)

    def test_check_config_checks_the_files_it_would_write(self):
        h.make_htpasswd(os.path.join(self.dir, "htpasswd"),
                        [(h.USER, h.PASSWORD)])
        os.makedirs(os.path.join(self.dir, "a-folder"), exist_ok=True)
        for key, value, why in (
                ("log_file", "a-folder", "%s/a-folder is a folder, not a"
                 " file" % self.dir),
                ("access_log", "a-folder", "%s/a-folder is a folder, not a"
                 " file" % self.dir),
                ("log_file", "no-such/x.log", "folder %s/no-such of"
                 " %s/no-such/x.log is not writable: No such file or"
                 " directory (with -f the log goes to stderr)"
                 % (self.dir, self.dir))):
            with self.subTest(key=key, value=value):
                text = self.good_text().replace(
                    "log_file = mttd.log\n", "").replace(
                    "access_log = access.log\n", "").replace(
                    "[logging]\n", "[logging]\n%s = %s\n" % (key, value))
                path = self.write("files.conf", text)
                rc, out, err = self.mttd("--check-config", "-c", path)
                self.assertEqual(rc, 2, out + err)
                self.assertEqual(err, "mttd: %s:%d: key '%s': %s\n" % (
                    path, self.line_of(text, key), key, why))
        # With -f the log goes to stderr: log_file is not checked.
        rc, out, err = self.mttd("--check-config", "-f", "-c", path)
        self.assertEqual(rc, 0, out + err)

    def test_check_config_needs_log_file_unless_in_the_foreground(self):
        h.make_htpasswd(os.path.join(self.dir, "htpasswd"),
                        [(h.USER, h.PASSWORD)])
        path = self.write("nolog.conf", self.good_text().replace(
            "log_file = mttd.log\n", ""))
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertEqual(rc, 2, out + err)
        self.assertEqual(err, "mttd: %s: key 'log_file': not set: it is"
                         " needed to run in the background (check with -f"
                         " for mttd run in the foreground, as the systemd"
                         " unit runs it)\n" % path)
        rc, out, err = self.mttd("--check-config", "-f", "-c", path)
        self.assertEqual(rc, 0, out + err)

    def check_config_with_htpasswd_tail(self, tail):
        """--check-config of the good configuration, its htpasswd file
        (one user, by htpasswd -B) ending in tail: (rc, stderr, and the
        verdict's start: "mttd: FILE:LINE: key 'htpasswd_file': HT: ")."""
        ht = os.path.join(self.dir, "htpasswd")
        h.make_htpasswd(ht, [(h.USER, h.PASSWORD)])
        with open(ht) as f:
            whole = f.read()
        with open(ht, "a") as f:
            f.write(tail(whole) if callable(tail) else tail)
        text = self.good_text()
        path = self.write("tail.conf", text)
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertEqual(out, "" if rc else "%s: configuration is valid\n"
                         % path)
        return rc, err, "mttd: %s:%d: key 'htpasswd_file': %s: " % (
            path, self.line_of(text, "htpasswd_file"), ht)

    def test_check_config_refuses_a_damaged_htpasswd_line(self):
        rc, err, verdict = self.check_config_with_htpasswd_tail(
            lambda whole: "cut" + whole[whole.index(":"):][:30] + "\n")
        self.assertEqual(rc, 2, err)
        self.assertIn("user 'cut': the hash is cut short or damaged (not the"
                      " whole shape of its format); line skipped", err)
        self.assertIn(verdict + "1 line(s) cannot be used, 1 of them cut"
                      " short or damaged (the warnings above say why)\n",
                      err)

    def test_check_config_of_a_valid_file_says_only_that(self):
        # An $apr1$ line loads apr-util, which start-up logs at INFO: on
        # stderr it tripped scripts that take any output there for a
        # failure (break-it helper 57).
        ht = os.path.join(self.dir, "htpasswd")
        h.make_htpasswd(ht, [(h.USER, h.PASSWORD)])
        with open(os.path.join(h.BUILDDIR, "config.h")) as f:
            if "#define HAVE_APR_UTIL 1" in f.read():
                h.run([h.HTPASSWD, "-m", "-b", ht, "md5user", "md5-pass"],
                      60)
        path = self.write("valid.conf", self.good_text())
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertEqual((rc, out, err),
                         (0, "%s: configuration is valid\n" % path, ""))

    def test_check_config_refuses_every_line_it_cannot_use(self):
        # A plain-text password passed with a warning, though its user
        # could not log in (break-it helper 57).
        for line, why in (
                ("eve:plainpw", "user 'eve': the password is plain text or"
                 " in an unknown format; line skipped"),
                ("%s:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" % h.USER,
                 "user '%s': user repeated; the first line counts; line"
                 " skipped" % h.USER),
                ("no colon", "no ':' after the user name; line skipped")):
            with self.subTest(line=line):
                rc, err, verdict = self.check_config_with_htpasswd_tail(
                    line + "\n")
                self.assertEqual(rc, 2, err)
                self.assertIn("htpasswd:2: " + why, err)
                self.assertIn(verdict + "1 line(s) cannot be used, 0 of"
                              " them cut short or damaged (the warnings"
                              " above say why)\n", err)
        # Both kinds at once are counted in one verdict (break-it helper
        # 61: only the damaged line was).
        rc, err, verdict = self.check_config_with_htpasswd_tail(
            "eve:plainpw\ncut:$2y$05$abc\n")
        self.assertEqual(rc, 2, err)
        self.assertIn(verdict + "2 line(s) cannot be used, 1 of them cut"
                      " short or damaged (the warnings above say why)\n",
                      err)

    def test_check_config_refuses_a_file_ending_inside_a_comment(self):
        # SIGHUP would keep the users in force for such a file, taken
        # for a prefix of one being rewritten (break-it helper 47).
        rc, err, verdict = self.check_config_with_htpasswd_tail(
            "# the last line has no newline")
        self.assertEqual(rc, 2, err)
        self.assertIn("htpasswd:2: the file ends inside this line, as one"
                      " read while it is written", err)
        self.assertIn(verdict + "the file ends inside a line it cannot use"
                      " (no newline after it): SIGHUP would take it for a"
                      " file caught while it is rewritten; end it with a"
                      " newline\n", err)
        rc, err, _ = self.check_config_with_htpasswd_tail(
            "# the last line has its newline\n")
        self.assertEqual((rc, err), (0, ""))

    def test_check_config_takes_a_log_file_it_can_write_in_a_folder_it_cannot(
            self):
        """As the user the service runs as (nobody here): a log file made
        for it in a folder it cannot write is fine; one it would have to
        make there, or cannot write, is not."""
        top = h.mkdtemp("mttd-it-nobody-")
        os.chmod(top, 0o755)
        logs = os.path.join(top, "logs")
        os.mkdir(logs, 0o755)
        for name, mode in (("ours.log", 0o666), ("root.log", 0o644)):
            open(os.path.join(logs, name), "w").close()
            os.chmod(os.path.join(logs, name), mode)
        binary = os.path.join(top, "mttd")
        shutil.copy(h.MTTD_BIN, binary)
        os.chmod(binary, 0o755)
        text = self.good_text().replace("htpasswd_file = htpasswd",
                                        "htpasswd_file =")
        for log, why in (
                ("ours.log", None),
                ("new.log", "folder %s of %s/new.log is not writable:"
                 " Permission denied" % (logs, logs)),
                ("root.log", "%s/root.log is not writable: Permission"
                 " denied" % logs)):
            with self.subTest(log=log):
                conf = os.path.join(top, "nobody.conf")
                with open(conf, "w") as f:
                    f.write(text.replace("log_file = mttd.log",
                                         "log_file = logs/" + log).replace(
                        "access_log = access.log\n", ""))
                os.chmod(conf, 0o644)
                proc = subprocess.run(
                    ["runuser", "-u", "nobody", "--", binary,
                     "--check-config", "-c", conf],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    timeout=30, env=h.subprocess_env())
                err = proc.stderr.decode()
                if why is None:
                    self.assertEqual(proc.returncode, 0, err)
                else:
                    self.assertEqual(proc.returncode, 2, err)
                    self.assertEqual(err, "mttd: %s:%d: key 'log_file': %s"
                                     " (with -f the log goes to stderr)\n"
                                     % (conf, self.line_of(text, "log_file"),
                                        why))

    def test_check_config_warns_of_an_htpasswd_file_without_users(self):
        self.write("empty.htpasswd", "")
        text = self.good_text().replace("htpasswd_file = htpasswd",
                                        "htpasswd_file = empty.htpasswd")
        path = self.write("emptyhtpasswd.conf", text)
        rc, out, err = self.mttd("--check-config", "-c", path)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("warning: htpasswd %s/empty.htpasswd has no user:"
                      " every request that needs one would be refused (401)"
                      % self.dir, err)

    def test_requests_right_after_start_wait_for_the_pool(self):
        # The pool is still connecting when the port file appears; a
        # request then waits for a connection instead of getting 503.
        for _ in range(5):
            server = h.Mttd(self.db, auth="proxy")
            try:
                server.start()
                resp = server.http("POST", "/serial", {"serial": "serial"})
                self.assertEqual(resp.status, 200, resp)
            finally:
                server.stop()

    def start_fails(self, db):
        """The start-up error of an mttd on db."""
        server = h.Mttd(db, auth="proxy")
        try:
            with self.assertRaises(h.HarnessError) as caught:
                server.start()
        finally:
            server.stop()
        return str(caught.exception)

    def test_missing_index_says_where_the_file_is(self):
        db = self.pg.create_db()
        self.pg.psql("DROP INDEX mttd_submit_lookup", db=db, superuser=True)
        self.assertRegex(self.start_fails(db),
                         r"index mttd_submit_lookup is missing: run \S+/sql"
                         r"/mttd-indexes.sql \(sql/ in the source tree\)"
                         r" on the database")

    def schema_of_postgres(self, schema="public"):
        """A fresh database whose tables and client_serial the role
        postgres owns, in schema (public renamed, and the role's
        search_path set, for another name)."""
        db = self.pg.create_db()
        if schema != "public":
            self.pg.psql(
                'ALTER SCHEMA public RENAME TO "%s"; ALTER ROLE mtt IN'
                ' DATABASE %s SET search_path = "%s"' % (schema, db, schema),
                db=db, superuser=True)
        self.pg.psql(
            "DO $$DECLARE t text; BEGIN FOR t IN SELECT c.relname FROM"
            " pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = '%s' AND c.relkind = 'r' LOOP EXECUTE"
            " format('ALTER TABLE %%I.%%I OWNER TO postgres', '%s', t);"
            " END LOOP; END$$; ALTER SEQUENCE \"%s\".client_serial OWNER TO"
            " postgres" % (schema, schema, schema), db=db, superuser=True)
        return db

    @staticmethod
    def lacks_pattern(lacks, schema="public"):
        """The start-up error for a role mtt that lacks lacks."""
        return (r"CRITICAL role mtt lacks " + re.escape(lacks) +
                r" \(was the schema loaded as another role\?\): as the"
                r" tables' owner, run GRANT SELECT, INSERT ON ALL TABLES"
                r" IN SCHEMA %s TO mtt and GRANT USAGE ON ALL SEQUENCES IN"
                r" SCHEMA %s TO mtt, or load \S+/sql/schemas-v3.sql as"
                r" mtt\n" % (re.escape(schema), re.escape(schema)))

    def started_and_storing(self, db, mpi_version):
        """An mttd on db that gave a serial and stored an MPI install
        (id 1) of mpi_version; the caller stops it."""
        server = h.Mttd(db, auth="proxy")
        try:
            server.start()
            self.assertEqual(server.http("POST", "/serial", {"serial": "x"})
                             .field("status"), 0)
            _, (install,) = server.must_submit(
                "MPI Install", [h.install_entry(mpi_version=mpi_version)])
            self.assertEqual(install, 1)
        except BaseException:
            server.stop()
            raise
        return server

    def test_schema_of_another_role_names_the_privilege(self):
        # Loaded as postgres, the tables were hidden from mtt's
        # information_schema: mttd said the schema was missing, and
        # loading it again failed (break-it helper 57).
        db = self.schema_of_postgres()
        for grant, lacks in (
                (None, "SELECT on table submit"),
                ("GRANT SELECT ON ALL TABLES IN SCHEMA public TO mtt",
                 "INSERT on table submit"),
                ("GRANT INSERT ON ALL TABLES IN SCHEMA public TO mtt",
                 "USAGE (or UPDATE) on sequence submit_submit_id_seq (ids"
                 " of table submit)"),
                ("GRANT USAGE ON SEQUENCE submit_submit_id_seq TO mtt",
                 "USAGE (or UPDATE) on sequence"
                 " compute_cluster_compute_cluster_id_seq (ids of table"
                 " compute_cluster)"),
                # UPDATE serves nextval as USAGE does (break-it helper 61:
                # such a role was refused).
                ("GRANT UPDATE ON ALL SEQUENCES IN SCHEMA public TO mtt;"
                 " REVOKE UPDATE ON SEQUENCE client_serial FROM mtt",
                 "USAGE (or UPDATE) on sequence client_serial")):
            with self.subTest(lacks=lacks):
                if grant:
                    self.pg.psql(grant, db=db, superuser=True)
                self.assertRegex(self.start_fails(db),
                                 self.lacks_pattern(lacks))
        self.pg.psql("GRANT UPDATE ON SEQUENCE client_serial TO mtt", db=db,
                     superuser=True)
        server = self.started_and_storing(db, "granted")
        try:
            # Taken back while mttd runs: the 503 names the privilege,
            # and the log has it at ERROR (it had it at INFO only).
            self.pg.psql("REVOKE UPDATE ON SEQUENCE client_serial FROM mtt",
                         db=db, superuser=True)
            mark = server.log_mark()
            resp = server.http("POST", "/serial", {"serial": "x"})
            self.assertEqual(resp.status, 503, resp)
            self.assertEqual(resp.field("status_message"),
                             "the database failed to give a serial; try"
                             " again later (permission denied for"
                             " sequence client_serial)")
            self.assertRegex(server.log_since(mark),
                             r"ERROR req=\d+ serial failed: permission"
                             r" denied for sequence client_serial")
        finally:
            server.stop()

    def test_schema_whose_name_needs_quotes(self):
        # Its name was folded to lower case, and start-up failed on a
        # schema "mtt" (break-it helper 61); the GRANT advised quotes it.
        db = self.schema_of_postgres("MTT")
        self.assertRegex(self.start_fails(db), self.lacks_pattern(
            "SELECT on table submit", '"MTT"'))
        self.pg.psql('GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "MTT" TO'
                     ' mtt; GRANT USAGE ON ALL SEQUENCES IN SCHEMA "MTT" TO'
                     ' mtt', db=db, superuser=True)
        self.started_and_storing(db, "quoted").stop()
        self.assertEqual(self.pg.psql('SELECT count(*) FROM "MTT".mpi_get'
                                      " WHERE mpi_version = 'quoted'",
                                      db=db), [["1"]])

    def test_missing_schema_says_where_the_file_is(self):
        db = self.pg.create_db()
        self.pg.psql("DROP TABLE test_run CASCADE", db=db, superuser=True)
        self.assertRegex(self.start_fails(db),
                         r"CRITICAL table test_run is missing from schema"
                         r" public \(the first that exists of search_path"
                         r' "\$user", public\): load \S+/sql/schemas-v3.sql,'
                         r" sql/ in the source tree, as the role mttd uses\n")

    def test_search_path_without_a_schema_is_named(self):
        # Break-it helper 63: a search_path naming no schema that exists
        # was reported as a database without the mttv3 schema.
        db = self.pg.create_db()
        self.pg.psql("ALTER DATABASE %s SET search_path = nothing_here,"
                     " \"neither\"" % db, superuser=True)
        self.assertIn(
            "CRITICAL search_path (nothing_here, neither) names no schema"
            " that exists and that the role may use (USAGE), so no table"
            " can be found: if it is set for the role or the database,"
            " ALTER ROLE mtt RESET search_path (or ALTER DATABASE), or SET"
            " it to the schema that holds the mttv3 tables\n",
            self.start_fails(db))
        # A schema the role may not use is skipped the same way, and
        # the temporary schema first is no place for the tables (break-it
        # helper 65: "missing from schema pg_temp_3: load the script").
        self.pg.psql("CREATE SCHEMA secret; REVOKE ALL ON SCHEMA secret"
                     " FROM PUBLIC; ALTER DATABASE %s SET search_path ="
                     " secret" % db, db=db, superuser=True)
        self.assertIn("CRITICAL search_path (secret) names no schema that"
                      " exists and that the role may use (USAGE)",
                      self.start_fails(db))
        self.pg.psql("ALTER DATABASE %s SET search_path = pg_temp, public"
                     % db, superuser=True)
        self.assertIn("CRITICAL search_path (pg_temp, public) puts the"
                      " session's temporary schema first, where no table"
                      " of mttd's can be: if it is set", self.start_fails(db))

    def test_sigterm_answers_the_request_in_flight(self):
        # A drain waits until the answer has been written, not only
        # queued: the client gets the whole answer, and mttd exits 0.
        server = h.Mttd(self.db, auth="proxy")
        server.start()
        try:
            entries = [h.run_entry(0, test_name="drain_%d" % i,
                                   result_stdout="x" * 2000)
                       for i in range(1000)]
            body = h.to_json(h.submit_body("Test Run", entries))
            conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                              timeout=60)
            mark = server.log_mark()
            conn.request("POST", "/submit", body, {
                "Content-Type": "application/json",
                "Authorization": server.auth_header()})
            # SIGTERM once mttd has the request (its DEBUG line): one
            # still in the listen queue is not in flight (doc/todo.md).
            self.assertIsNotNone(server.wait_log(r"req=\d+ POST /submit",
                                                 mark, timeout=30),
                                 server.log_tail())
            server.proc.send_signal(signal.SIGTERM)
            resp = conn.getresponse()
            answer = h.json.loads(resp.read())
            self.assertEqual(resp.status, 200)
            self.assertEqual(answer["status"], 0, answer)
            self.assertEqual(len(answer["ids"]), 1000)
            self.assertIsNotNone(server.wait_log("draining", mark))
            # It stops by itself once the answer is out.
            server.proc.wait(15)
        finally:
            status = server.stop()
        self.assertEqual(status, 0, server.log_tail())
        self.assertIn("mttd stopped", server.log_text())

    def test_help_lists_every_option_and_key(self):
        rc, out, err = self.mttd("-h")
        self.assertEqual(rc, 0, out + err)
        text = out + err
        for option in ("-c", "-f", "--check-config", "-h", "-V"):
            self.assertIn(option, text)
        keys = {s: list(k) for s, k in KNOWN_KEYS.items()}
        conf = os.path.join(h.SRCDIR, "conf", "mttd.conf")
        if os.path.isfile(conf):
            for section, names in conf_keys(conf).items():
                keys.setdefault(section, []).extend(names)
        for section, names in keys.items():
            self.assertTrue(h.names_word(text, section),
                            "-h does not name section [%s]" % section)
            for key in names:
                self.assertTrue(h.names_word(text, key),
                                "-h does not list [%s] %s" % (section, key))

    def test_help_gives_the_bounds_of_sizes(self):
        rc, out, err = self.mttd("-h")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("[server] max_body_size (at least 1024, default 64M):",
                      out)
        self.assertIn("[logging] access_log_buffer (at most 64M, default"
                      " 32K):", out)

    def test_start_up_file_errors_name_the_key(self):
        """A file mttd cannot open at start-up is traced to its key and
        line, as --check-config traces it (break-it helper 50: only the
        file was named)."""
        h.make_htpasswd(os.path.join(self.dir, "htpasswd"),
                        [(h.USER, h.PASSWORD)])
        for key, old, new, opened in (
                ("htpasswd_file", "htpasswd_file = htpasswd",
                 "htpasswd_file = no-such-users",
                 os.path.join(self.dir, "no-such-users")),
                ("access_log", "access_log = access.log",
                 "access_log = /nonexistent/a.log", "/nonexistent/a.log")):
            with self.subTest(key=key):
                text = self.good_text().replace(old, new)
                path = self.write("start-%s.conf" % key, text)
                rc, out, err = self.mttd("-c", path, "-f", timeout=30)
                self.assertEqual(rc, 1, out + err)
                self.assertIn("%s:%d: key '%s': %s: cannot open: No such"
                              " file or directory" % (
                                  path, self.line_of(text, key), key,
                                  opened), err)

    def test_usage_errors_name_what_was_wrong(self):
        for args, message in (
                (("-c", "x.conf", "extra"), "unexpected argument 'extra'"),
                (("-V", "junk"), "unexpected argument 'junk'"),
                (("-f",), "-c FILE is required"),
                (("-c", "x.conf", "-f", "--daemon"),
                 "-f and --daemon exclude each other")):
            with self.subTest(args=args):
                rc, out, err = self.mttd(*args)
                self.assertEqual(rc, 2, out + err)
                self.assertIn("mttd: %s\n" % message, err)

    def test_version(self):
        rc, out, err = self.mttd("-V")
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out + err, r"\d+\.\d+")
        configure = os.path.join(h.SRCDIR, "configure.ac")
        if os.path.isfile(configure):
            with open(configure, encoding="utf-8") as f:
                m = re.search(r"AC_INIT\(\[?mttd\]?,\s*\[?([^\],)]+)",
                              f.read())
            if m:
                self.assertIn(m.group(1).strip(), out + err)


if __name__ == "__main__":
    h.main()
