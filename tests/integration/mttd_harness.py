# SPDX-License-Identifier: BSD-3-Clause
"""Harness of the mttd integration tests (Python 3 standard library only).

One private PostgreSQL per test file, a fresh database per test class made
from the mttv3 template, an mttd started on it, and helpers to talk HTTP,
send raw bytes, run psql and read mttd's log.  Every wait is bounded; a
watchdog ends a file that hangs.  Run a test file directly: it prints
"N passed, M failed" last and exits non-zero on any failure.

Environment (each defaulted when unset): MTTD_BIN, MTTD_SRCDIR,
MTTD_BUILDDIR, MTTD_SHARED_DIR, PG_BINDIR, HTPASSWD.  MTTD_TEST_KEEP=1
keeps the temporary folders for a post-mortem.
"""

import atexit
import base64
import contextlib
import csv
import http.client
import io
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def _env(name, default):
    value = os.environ.get(name)
    return value if value else default


SRCDIR = os.path.abspath(_env("MTTD_SRCDIR", os.path.join(HERE, "..", "..")))
BUILDDIR = os.path.abspath(_env("MTTD_BUILDDIR", SRCDIR))


def _default_bin():
    candidates = [os.path.join(BUILDDIR, "src", "mttd"),
                  os.path.join(SRCDIR, "build", "src", "mttd"),
                  os.path.join(SRCDIR, "src", "mttd")]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return candidates[0]


MTTD_BIN = os.path.abspath(_env("MTTD_BIN", _default_bin()))
SHARED_DIR = os.path.abspath(_env("MTTD_SHARED_DIR",
                                  os.path.join(SRCDIR, "..", "shared")))
PG_BINDIR = _env("PG_BINDIR", "/usr/lib/postgresql/15/bin")
HTPASSWD = _env("HTPASSWD", shutil.which("htpasswd") or "/usr/bin/htpasswd")
PG_PRIVATE = os.path.join(SRCDIR, "contrib", "pg-private.sh")
KEEP = os.environ.get("MTTD_TEST_KEEP") == "1"

# Bounds, in seconds.
WATCHDOG_S = 600
PORT_FILE_WAIT_S = 15
STOP_WAIT_S = 10
HTTP_TIMEOUT_S = 60
PSQL_TIMEOUT_S = 60

# The credentials of the cases files (cases/README.md).
USER = "mttuser"
PASSWORD = "example-pass"
REALM = "mttd-it"

# Every table a submission may write to.
TABLES = ["submit", "compute_cluster", "compiler", "mpi_get",
          "mpi_install_configure_args", "description", "result_message",
          "environment", "test_suites", "test_names", "test_run_command",
          "latency_bandwidth", "performance", "mpi_install", "test_build",
          "test_run"]

# Sequences that must not move for a refused submission.
ID_SEQUENCES = ["submit_submit_id_seq", "mpi_install_mpi_install_id_seq",
                "test_build_test_build_id_seq", "test_run_test_run_id_seq"]
RESULT_SEQUENCES = ID_SEQUENCES[1:]

PHASE_ID = {"mpi_install": "mpi_install_id", "test_build": "test_build_id",
            "test_run": "test_run_id"}


class HarnessError(Exception):
    """The test environment could not be set up (not a verdict on mttd)."""


# ---------------------------------------------------------------------------
# Process registry and the watchdog: whatever was started is stopped.

_live_servers = []
_live_clusters = []
_temp_dirs = []
_cleanup_lock = threading.RLock()  # the watchdog may interrupt a cleanup


def _remove_temp_dirs():
    while _temp_dirs:
        path = _temp_dirs.pop()
        if KEEP:
            print("kept %s" % path, file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def cleanup_all():
    """Stop every mttd and PostgreSQL this file started; remove temp dirs."""
    with _cleanup_lock:
        for server in list(_live_servers):
            try:
                server.stop()
            except Exception:  # noqa: BLE001 - best effort at exit
                traceback.print_exc()
        for cluster in list(_live_clusters):
            try:
                cluster.stop()
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        _remove_temp_dirs()


atexit.register(cleanup_all)


def _watchdog_cb(signum, frame):
    if signum == signal.SIGALRM:
        sys.stderr.write("\nWATCHDOG: test file ran over %d s; stopping\n"
                         % WATCHDOG_S)
    else:
        sys.stderr.write("\nsignal %d: stopping\n" % signum)
    for server in list(_live_servers):
        sys.stderr.write(server.log_tail())
    cleanup_all()
    sys.stderr.write("0 passed, 1 failed\n")
    sys.stdout.flush()
    os._exit(3)


def mkdtemp(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    _temp_dirs.append(path)
    return path


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(extra=None):
    env = dict(os.environ)
    env["PATH"] = PG_BINDIR + os.pathsep + env.get("PATH", "")
    for key in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE",
                "PGPASSFILE", "PGOPTIONS"):
        env.pop(key, None)
    if extra:
        env.update(extra)
    return env


def run(cmd, timeout, env=None, check=True, input_bytes=None):
    """Run cmd (a list) bounded by timeout; return the CompletedProcess."""
    try:
        proc = subprocess.run(cmd, input=input_bytes, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout,
                              env=env or subprocess_env())
    except subprocess.TimeoutExpired as exc:
        raise HarnessError("timed out after %ss: %s" % (timeout, cmd)) from exc
    if check and proc.returncode != 0:
        raise HarnessError("%s exited %d:\n%s%s" % (
            " ".join(cmd), proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace")))
    return proc


# ---------------------------------------------------------------------------
# Private PostgreSQL.

class PgCluster:
    """One private PostgreSQL on 127.0.0.1 for the whole test file."""

    def __init__(self):
        self.root = mkdtemp("mttd-it-pg-")
        os.chmod(self.root, 0o755)  # the postgres user must reach DIR
        self.dir = os.path.join(self.root, "pg")
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.running = False
        self.ndb = 0
        self.env = subprocess_env({"PGPASSWORD": self.password,
                                   "PGCONNECT_TIMEOUT": "10"})

    def start(self):
        if not os.path.isfile(os.path.join(PG_BINDIR, "postgres")):
            raise HarnessError("PostgreSQL not found: %s/postgres does not "
                               "exist (set PG_BINDIR)" % PG_BINDIR)
        if not os.path.isfile(PG_PRIVATE):
            raise HarnessError("%s does not exist" % PG_PRIVATE)
        _live_clusters.append(self)
        self.running = True
        run(["bash", PG_PRIVATE, "start", self.dir, str(self.port),
             self.password], 180,
            env=subprocess_env({"PG_BINDIR": PG_BINDIR, "MTTD_PG_FAST": "1"}))
        deadline = time.time() + 30
        while True:
            try:
                self.psql("SELECT 1", db="mttv3")
                return
            except HarnessError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self):
        if not self.running:
            return
        self.running = False
        if self in _live_clusters:
            _live_clusters.remove(self)
        run(["bash", PG_PRIVATE, "stop", self.dir], 120, check=False,
            env=subprocess_env({"PG_BINDIR": PG_BINDIR}))

    def psql_args(self, db):
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "mtt",
                "-d", db]

    def psql(self, sql, db="mttv3", timeout=PSQL_TIMEOUT_S, superuser=False):
        """Run sql as mtt over TCP (or as postgres over the private socket,
        which pg-private.sh trusts); return the rows as lists of strings
        (NULL as '')."""
        where = self.psql_args(db)
        if superuser:
            where = ["-h", self.dir, "-p", str(self.port), "-U", "postgres",
                     "-d", db]
        cmd = [os.path.join(PG_BINDIR, "psql"), "-X", "-q", "--csv", "-t",
               "-v", "ON_ERROR_STOP=1"] + where + ["-c", sql]
        proc = run(cmd, timeout, env=self.env, check=False)
        if proc.returncode != 0:
            raise HarnessError("psql failed (%d) on %r:\n%s" % (
                proc.returncode, sql[:300],
                proc.stderr.decode("utf-8", "replace")))
        text = proc.stdout.decode("utf-8")
        return [row for row in csv.reader(io.StringIO(text))]

    def create_db(self, timezone="Asia/Kolkata"):
        """A fresh database made from the mttv3 template, owned by mtt.

        Its TimeZone is set away from UTC (by default a half-hour offset)
        so that a server that shifts wall-clock times is caught."""
        self.ndb += 1
        name = "t%d" % self.ndb
        self.psql("CREATE DATABASE %s TEMPLATE mttv3 OWNER mtt" % name,
                  db="postgres", superuser=True)
        if timezone:
            self.psql("ALTER DATABASE %s SET timezone TO '%s'"
                      % (name, timezone), db="postgres", superuser=True)
        return name


_cluster = None
_cluster_error = None


def cluster():
    """The file's PostgreSQL, started on first use (a failure to start is
    raised again to every later caller)."""
    global _cluster, _cluster_error
    if _cluster_error is not None:
        raise HarnessError("the private PostgreSQL did not start: %s"
                           % _cluster_error)
    if _cluster is None:
        try:
            pg = PgCluster()
            pg.start()
        except Exception as exc:
            _cluster_error = exc
            raise
        _cluster = pg
    return _cluster


# ---------------------------------------------------------------------------
# htpasswd, JSON bodies, answers.

class HeldLock:
    """A psql session holding a lock on table (ACCESS EXCLUSIVE unless
    mode says otherwise) until released: a database that is only slow for
    mttd's statements on it."""

    def __init__(self, test, table, mode="ACCESS EXCLUSIVE"):
        self.proc = subprocess.Popen(
            [os.path.join(PG_BINDIR, "psql"), "-X", "-q", "-t", "-A"] +
            test.pg.psql_args(test.db), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=test.pg.env, text=True)
        self.proc.stdin.write(
            "BEGIN;\nLOCK TABLE %s IN %s MODE;\nSELECT 'locked';\n"
            % (table, mode))
        self.proc.stdin.flush()
        test.addCleanup(self.release)
        test.assertEqual(self.proc.stdout.readline(), "locked\n")

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("COMMIT;\n")
            self.proc.stdin.close()
            self.proc.wait(30)


def make_htpasswd(path, users):
    """Write path with the real `htpasswd -B` for each (user, password)."""
    if not (os.path.isfile(HTPASSWD) and os.access(HTPASSWD, os.X_OK)):
        raise HarnessError("htpasswd not found at %s (apt-get install "
                           "apache2-utils, or set HTPASSWD)" % HTPASSWD)
    create = ["-c"]
    for user, password in users:
        run([HTPASSWD, "-B", "-b"] + create + [path, user, password], 60)
        create = []


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode("utf-8"))
    return "Basic " + token.decode("ascii")


class Raw:
    """A JSON token written into a body as is (e.g. Raw('1e1'))."""

    def __init__(self, text):
        self.text = text


ABSENT = object()  # a key given this value is left out of a body


def to_json(obj):
    """JSON text of obj; Raw values go in verbatim, ABSENT keys are dropped."""
    raws = []

    def walk(value):
        if isinstance(value, Raw):
            raws.append(value.text)
            return "@@raw-json-%d@@" % (len(raws) - 1)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items() if v is not ABSENT}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(obj), ensure_ascii=False)
    for i, raw in enumerate(raws):
        text = text.replace('"@@raw-json-%d@@"' % i, raw)
    return text


class Resp:
    """One HTTP answer."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def field(self, key):
        return self.json.get(key) if isinstance(self.json, dict) else None

    def __repr__(self):
        return "<HTTP %d %s %s>" % (self.status, self.header("Content-Type"),
                                    self.body[:400])


def read_to_close(sock):
    """Every byte sock receives until the peer closes it."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def parse_raw_response(data):
    """Split raw HTTP/1.x answer bytes into a Resp (first answer only)."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    match = re.match(r"HTTP/\d\.\d (\d{3}) ?(.*)", lines[0] if lines else "")
    if not match:
        raise AssertionError("not an HTTP answer: %r" % data[:200])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    resp = Resp(int(match.group(1)), match.group(2), headers, b"")
    length = resp.header("Content-Length")
    if resp.header("Transfer-Encoding") and "chunked" in \
            resp.header("Transfer-Encoding").lower():
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    elif length is not None:
        body = body[:int(length)]
    return Resp(resp.status, resp.reason, headers, body)


def names_word(text, word):
    """word occurs in text as a whole word, ignoring case (as replay.py)."""
    if not isinstance(text, str) or not word:
        return False
    return re.search(r"(?<!\w)" + re.escape(str(word)) + r"(?!\w)", text,
                     re.IGNORECASE) is not None


# ---------------------------------------------------------------------------
# Payloads shaped like the real client's.

def _with(base, changes):
    """base with changes applied; a key changed to ABSENT is dropped."""
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ABSENT}


def metadata(_phase, **kw):
    """Metadata like the client's; keyword arguments replace or (ABSENT)
    drop keys, "phase" included."""
    meta = {"client_serial": 4242, "hostname": "it-node.example.org",
            "http_username": USER, "local_username": "ituser",
            "mtt_client_version": "4.0a1", "phase": _phase,
            "platform_name": "it-cluster", "trial": 0}
    return _with(meta, kw)


def install_entry(**kw):
    entry = {"platform_hardware": "x86_64", "platform_type": "linux-x86_64",
             "os_name": "Linux", "os_version": "6.1.0-it",
             "compiler_name": "gnu", "compiler_version": "12.2.0-it",
             "mpi_name": "ompi-it", "mpi_version": "v5.0.6-it",
             "configure_arguments": "--enable-it",
             "start_timestamp": "Fri Dec  4 13:00:00 2026",
             "result_message": "Success", "test_result": 1, "exit_value": 0,
             "description": "it install", "environment": "",
             "merge_stdout_stderr": 0, "result_stdout": "",
             "result_stderr": ""}
    return _with(entry, kw)


def build_entry(mpi_install_id, **kw):
    entry = {"mpi_install_id": mpi_install_id, "compiler_name": "gnu",
             "compiler_version": "12.2.0-it", "suite_name": "TestBuild:it",
             "start_timestamp": "Fri Dec  4 13:05:00 2026",
             "result_message": "Success", "test_result": 1, "exit_value": 0,
             "description": "it build", "environment": "",
             "merge_stdout_stderr": 0, "result_stdout": "",
             "result_stderr": ""}
    return _with(entry, kw)


def run_entry(test_build_id, **kw):
    entry = {"test_build_id": test_build_id, "launcher": "mpirun",
             "test_name": "it_hello", "np": "2",
             "command": "mpirun -np 2 ./it_hello",
             "start_timestamp": "Fri Dec  4 13:10:00 2026", "exit_value": 0,
             "test_result": 1, "result_message": "Success",
             "description": "it run", "environment": "",
             "merge_stdout_stderr": 0, "result_stdout": "hello",
             "result_stderr": ""}
    return _with(entry, kw)


def submit_body(_phase, entries, **meta):
    return {"metadata": metadata(_phase, **meta), "data": list(entries)}


# ---------------------------------------------------------------------------
# mttd.

def passing_socket(sock, argv, env, fds="1"):
    """argv and Popen arguments that start argv with sock as its fd 3, as
    systemd's socket activation does (env gets LISTEN_FDS; sh puts its own
    pid, which exec keeps, in LISTEN_PID)."""
    fd = sock.fileno()
    env["LISTEN_FDS"] = fds
    return (["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"'] + argv,
            {"pass_fds": (3,),
             "preexec_fn": lambda: os.dup2(fd, 3) if fd != 3 else None})


class ThreadedLoad:
    """n daemon threads, each running client(i) until stop is set, that
    note an outcome per test name ((kind, ...), kind "ok", "error" or
    "no answer").  Call finish from a clean-up too: a failed assertion
    must not leave them running and the interpreter waiting."""

    def __init__(self, n):
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.outcomes = {}
        self.threads = [threading.Thread(target=self.client, args=(i,),
                                         daemon=True) for i in range(n)]

    def client(self, i):
        raise NotImplementedError

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def note(self, name, outcome):
        with self.lock:
            self.outcomes[name] = outcome

    def count(self, kind):
        return sum(1 for o in self.outcomes.values() if o[0] == kind)


class Mttd:
    """One mttd process on its own database and temp folder.

    auth: "htpasswd" (checks credentials, by default USER:PASSWORD) or
    "proxy" (no password file).  server/logging/pg/auth_keys: keys for
    those sections, over the defaults below.  env: more environment for
    mttd.
    """

    def __init__(self, dbname, auth="htpasswd", server=None, logging=None,
                 pg=None, env=None, credentials=None, auth_keys=None):
        self.cluster = cluster()
        self.dbname = dbname
        self.auth = auth
        self.server_keys = server or {}
        self.logging_keys = logging or {}
        self.pg_keys = pg or {}
        self.auth_keys = auth_keys or {}
        self.extra_env = env or {}
        self.credentials = credentials or (USER, PASSWORD)
        self.extra_args = []  # More command-line arguments.
        self.argv_prefix = []  # A command mttd runs under (prlimit...).
        # A listening socket to pass as a service manager does (systemd
        # socket activation: fd 3, LISTEN_FDS=1, LISTEN_PID), or None.
        self.listen_socket = None
        self.proc = None
        self.port = None
        self.dir = None
        self.cwd = None  # None: the server's own folder
        # The -c argument, when not self.conf (a symbolic link to it, say).
        self.config_arg = None
        self.log_path = None
        self.exit_status = None

    # -- life cycle --------------------------------------------------------

    def config_text(self):
        server = {"socket_host": "127.0.0.1", "socket_port": "0",
                  "request_timeout": "30"}
        server.update(self.server_keys)
        logging = {"log_level": "DEBUG"}
        logging.update(self.logging_keys)
        pg = {"type": "postgres", "dbname": self.dbname, "username": "mtt",
              "password": self.cluster.password, "server": "127.0.0.1",
              "port": str(self.cluster.port), "pool_size": "4"}
        pg.update(self.pg_keys)
        auth = {"realm": REALM}
        if self.auth == "htpasswd":
            auth["htpasswd_file"] = os.path.join(self.dir, "htpasswd")
        auth.update(self.auth_keys)
        out = []
        for name, keys in (("server", server), ("logging", logging),
                           ("pg_v3", pg), ("auth", auth)):
            out.append("[%s]" % name)
            out.extend("%s = %s" % (k, v) for k, v in keys.items())
            out.append("")
        return "\n".join(out)

    def prepare(self):
        """Hook: make what the configuration needs in self.dir."""

    def start(self):
        check_prerequisites()
        self.dir = mkdtemp("mttd-it-srv-")
        self.prepare()
        if self.auth == "htpasswd":
            make_htpasswd(os.path.join(self.dir, "htpasswd"),
                          [self.credentials])
        self.conf = os.path.join(self.dir, "mttd.conf")
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "mttd.log")
        env = subprocess_env({"MTTD_PORT_FILE": port_file,
                              "TZ": "America/St_Johns"})
        env.update(self.extra_env)
        argv = self.argv_prefix + [MTTD_BIN, "-c",
                                   self.config_arg or self.conf,
                                   "-f"] + self.extra_args
        passed = {}
        if self.listen_socket is not None:
            argv, passed = self.passing_socket(argv, env)
        # Appending, as a log file is opened: each write lands at the end
        # whoever else wrote (a test filling the disk under it).
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=self.cwd or self.dir, **passed)
        finally:
            log.close()
        _live_servers.append(self)
        self.port = self._wait_port(port_file)
        return self

    def passing_socket(self, argv, env):
        return passing_socket(self.listen_socket, argv, env)

    def _wait_port(self, port_file):
        deadline = time.time() + PORT_FILE_WAIT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError("mttd exited %s before listening:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                with open(port_file) as f:
                    text = f.read()
                if text.endswith("\n") and text.strip().isdigit():
                    return int(text.strip())
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise HarnessError("mttd wrote no port to MTTD_PORT_FILE within %d s:"
                           "\n%s" % (PORT_FILE_WAIT_S, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_WAIT_S; returns the exit status."""
        if self.proc is None:
            return self.exit_status
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                sys.stderr.write("mttd did not stop on SIGTERM within %d s; "
                                 "SIGKILL\n" % STOP_WAIT_S)
                self.proc.kill()
                self.proc.wait(STOP_WAIT_S)
        self.exit_status = self.proc.returncode
        self.proc = None
        if self in _live_servers:
            _live_servers.remove(self)
        return self.exit_status

    # -- log ---------------------------------------------------------------

    def log_text(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_mark(self):
        """An offset into the log; log_since(mark) gives what came after."""
        return os.path.getsize(self.log_path) if self.log_path else 0

    def log_since(self, mark):
        with open(self.log_path, "rb") as f:
            f.seek(mark)
            return f.read().decode("utf-8", "replace")

    def log_tail(self, lines=60):
        text = self.log_text().splitlines()[-lines:]
        return ("---- mttd log tail (%s) ----\n%s\n---- end of log ----\n"
                % (self.log_path, "\n".join(text)))

    def wait_log(self, pattern, mark=0, timeout=5.0):
        """The first log line after mark matching the regex, or None."""
        deadline = time.time() + timeout
        while True:
            for line in self.log_since(mark).splitlines():
                if re.search(pattern, line):
                    return line
            if time.time() > deadline:
                return None
            time.sleep(0.05)

    def health_problems(self):
        """Why this server is not healthy ("" when it is)."""
        out = []
        if self.proc is not None and self.proc.poll() is not None:
            out.append("mttd died (exit status %s)" % self.proc.returncode)
        asserts = [l for l in self.log_text().splitlines() if "ASSERT" in l]
        if asserts:
            out.append("mttd log holds ASSERT lines:\n" + "\n".join(asserts))
        return "\n".join(out)

    # -- HTTP --------------------------------------------------------------

    def connection(self, timeout=HTTP_TIMEOUT_S):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def auth_header(self):
        return basic(*self.credentials)

    def http(self, method, path, body=None, headers=None, conn=None,
             auth=True, timeout=HTTP_TIMEOUT_S):
        """One request; returns a Resp.

        body: None (none), bytes (as is), str (UTF-8) or a JSON value.
        headers: added or replacing the defaults; a value None drops one.
        auth: True (the server's credentials), None (no header), a
        (user, password) pair, or a literal header value.
        conn: a connection from connection() to reuse (keep-alive)."""
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = to_json(body).encode("utf-8")
        hdrs = {}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        if auth is True:
            hdrs["Authorization"] = self.auth_header()
        elif isinstance(auth, tuple):
            hdrs["Authorization"] = basic(*auth)
        elif isinstance(auth, str):
            hdrs["Authorization"] = auth
        for key, value in (headers or {}).items():
            for old in [k for k in hdrs if k.lower() == key.lower()]:
                del hdrs[old]
            if value is not None:
                hdrs[key] = value
        own = conn is None
        if own:
            conn = self.connection(timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return Resp(resp.status, resp.reason, resp.getheaders(), payload)
        finally:
            if own:
                conn.close()

    def raw(self, data, timeout=10.0, read_until_close=True):
        """Send exact bytes on a fresh socket; return the bytes answered
        until the server closes or timeout passes."""
        out = b""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=timeout) as s:
            s.sendall(data)
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
                if not read_until_close and self._complete(out):
                    break
        return out

    def upload(self, method, path, body, headers=None, timeout=30.0):
        """Send a request with a large body on a fresh socket the way curl
        does: stop sending as soon as the server answers (an early 413).
        Returns the Resp, or None when no answer came."""
        hdrs = {"Host": "127.0.0.1:%d" % self.port,
                "Content-Type": "application/json",
                "Authorization": self.auth_header(),
                "Content-Length": str(len(body))}
        hdrs.update(headers or {})
        head = "%s %s HTTP/1.1\r\n%s\r\n" % (method, path, "".join(
            "%s: %s\r\n" % kv for kv in hdrs.items() if kv[1] is not None))
        data = head.encode("latin-1") + body
        out = b""
        deadline = time.time() + timeout
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=timeout) as s:
            s.setblocking(False)
            sent = 0
            while time.time() < deadline:
                want_write = [s] if sent < len(data) else []
                readable, writable, _ = select.select([s], want_write, [],
                                                      0.5)
                if readable:
                    try:
                        chunk = s.recv(65536)
                    except (ConnectionError, BlockingIOError):
                        break
                    if not chunk:
                        break
                    out += chunk
                    if self._complete(out):
                        break
                    continue
                if writable:
                    try:
                        sent += s.send(data[sent:sent + 65536])
                    except (ConnectionError, BlockingIOError):
                        sent = len(data)
        return parse_raw_response(out) if out else None

    @staticmethod
    def _complete(data):
        if b"\r\n\r\n" not in data:
            return False
        try:
            resp = parse_raw_response(data)
        except (AssertionError, ValueError):
            return False
        length = resp.header("Content-Length")
        return length is not None and len(resp.body) >= int(length)

    def race(self, requests):
        """Send each (method, path, body, headers) at the same moment, each
        on its own already connected connection (a barrier releases them
        together).  Returns the Resps in order, or the exception a request
        raised in its place."""
        conns = [self.connection() for _ in requests]
        for conn in conns:
            conn.connect()
        barrier = threading.Barrier(len(requests))
        results = [None] * len(requests)

        def worker(i):
            method, path, body, headers = requests[i]
            try:
                barrier.wait(timeout=30)
                results[i] = self.http(method, path, body, headers=headers,
                                       conn=conns[i])
            except Exception as exc:  # noqa: BLE001 - the caller reports it
                results[i] = exc

        threads = [threading.Thread(target=worker, args=(i,), daemon=True)
                   for i in range(len(requests))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HTTP_TIMEOUT_S + 30)
        for conn in conns:
            conn.close()
        return [r if r is not None else TimeoutError("no answer")
                for r in results]

    def submit(self, _phase, entries, conn=None, path="/submit", **meta):
        return self.http("POST", path, submit_body(_phase, entries, **meta),
                         conn=conn)

    def must_submit(self, _phase, entries, **meta):
        """Submit for a set-up: (submit_id, [ids]), or AssertionError."""
        resp = self.submit(_phase, entries, **meta)
        answer = resp.json if isinstance(resp.json, dict) else {}
        if resp.status != 200 or answer.get("status") != 0:
            raise AssertionError("set-up submission refused: %r" % resp)
        key = PHASE_ID[normal_phase(_phase)]
        return answer["submit_id"], [i[key] for i in answer["ids"]]

    def install_and_build(self):
        """For a set-up: store an MPI Install and a Test Build linked to
        it; returns (mpi_install_id, test_build_id)."""
        _, (install_id,) = self.must_submit("MPI Install", [install_entry()])
        _, (build_id,) = self.must_submit("Test Build",
                                          [build_entry(install_id)])
        return install_id, build_id


# ---------------------------------------------------------------------------
# Base test case.

class MttdTestCase(unittest.TestCase):
    """A test class with a fresh database and one mttd on it.

    Subclasses set MTTD (keyword arguments of Mttd) and DB_TIMEZONE."""

    MTTD = {}
    DB_TIMEZONE = "Asia/Kolkata"
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.pg = cluster()
        cls.db = cls.pg.create_db(timezone=cls.DB_TIMEZONE)
        cls.mttd = Mttd(cls.db, **cls.MTTD)
        try:
            cls.mttd.start()
        except BaseException:
            cls.mttd.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        problems = cls.mttd.health_problems()
        status = cls.mttd.stop()
        if problems:
            raise AssertionError("after %s: %s\n%s" % (
                cls.__name__, problems, cls.mttd.log_tail()))
        if status not in (0, None):
            raise AssertionError("mttd exited %s on SIGTERM (expected 0)\n%s"
                                 % (status, cls.mttd.log_tail()))

    def tearDown(self):
        problems = self.mttd.health_problems()
        if problems:
            self.fail(problems)

    # -- database ----------------------------------------------------------

    def sql(self, query):
        return self.pg.psql(query, db=self.db)

    def stored_runs(self, tag):
        """Test name -> the test_run ids stored for it, for the test names
        TAG-... that a load submitted."""
        rows = self.sql("SELECT t.test_name, r.test_run_id FROM test_run r"
                        " JOIN test_names t USING (test_name_id) WHERE"
                        " t.test_name LIKE '%s-%%'" % tag)
        out = {}
        for name, run_id in rows:
            out.setdefault(name, []).append(int(run_id))
        return out

    def _reload(self, text, confirm):
        with open(self.mttd.conf, "w") as f:
            f.write(text)
        mark = self.mttd.log_mark()
        self.mttd.proc.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.mttd.wait_log(confirm, mark),
                             self.mttd.log_tail())

    @contextlib.contextmanager
    def reconfigured(self, old, new,
                     confirm=r"SIGHUP: configuration in force"):
        """For the with block, the configuration file with old replaced
        by new, put in force by SIGHUP (confirm: the log line that says
        so); then the file as it was, in force again."""
        with open(self.mttd.conf) as f:
            good = f.read()
        self.assertIn(old, good)
        self._reload(good.replace(old, new), confirm)
        try:
            yield
        finally:
            self._reload(good, confirm)

    def lock_waiters(self):
        """mttd's backends on this test's database waiting for a lock."""
        return int(self.sql1(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
            " 'mttd' AND wait_event_type = 'Lock' AND datname ="
            " current_database()")[0])

    def wait_lock_waiters(self, done, timeout=20.0):
        """Until done(lock_waiters()) is true; fails after timeout."""
        deadline = time.time() + timeout
        while not done(self.lock_waiters()):
            self.assertLess(time.time(), deadline, self.mttd.log_tail())
            time.sleep(0.05)

    def sql1(self, query):
        """The single row of query."""
        rows = self.sql(query)
        self.assertEqual(len(rows), 1, "expected one row from %s, got %r"
                         % (query, rows))
        return rows[0]

    def snapshot(self, sequences=ID_SEQUENCES):
        """Row count of every table and the state of the id sequences."""
        parts = ["(SELECT count(*) FROM %s)" % t for t in TABLES]
        parts += ["(SELECT last_value || ':' || is_called FROM %s)" % s
                  for s in sequences]
        row = self.sql1("SELECT " + ", ".join(parts))
        snap = dict(zip(TABLES + list(sequences), row))
        snap.update({t: int(snap[t]) for t in TABLES})
        return snap

    def max_id(self, phase):
        col = PHASE_ID[phase]
        return int(self.sql1("SELECT coalesce(max(%s), 0) FROM %s"
                             % (col, phase))[0])

    # -- answers -----------------------------------------------------------

    def assertJsonAnswer(self, resp, http_status=200):
        """mttd's answer: this code, JSON object with status and message,
        Content-Type application/json, Access-Control-Allow-Origin."""
        self.assertEqual(resp.status, http_status, resp)
        ctype = (resp.header("Content-Type") or "").split(";")[0].strip()
        self.assertEqual(ctype.lower(), "application/json", resp)
        self.assertIsNotNone(resp.header("Access-Control-Allow-Origin"),
                             "no Access-Control-Allow-Origin: %r" % resp)
        self.assertEqual(resp.header("Access-Control-Allow-Origin"), "*",
                         resp)
        self.assertIsInstance(resp.json, dict, resp)
        self.assertIn("status", resp.json, resp)
        self.assertIsInstance(resp.json["status"], int, resp)
        self.assertIsInstance(resp.json.get("status_message"), str, resp)
        return resp.json

    def assertOk(self, resp):
        answer = self.assertJsonAnswer(resp, 200)
        self.assertEqual(answer["status"], 0, resp)
        return answer

    def assertRefused(self, resp, names=(), http_status=200):
        """A JSON error: this code, negative status, message naming each."""
        answer = self.assertJsonAnswer(resp, http_status)
        self.assertLess(answer["status"], 0, resp)
        self.assertFalse(set(answer) - {"status", "status_message"},
                         "an error answer has only status and "
                         "status_message: %r" % resp)
        for name in names:
            self.assertTrue(names_word(answer["status_message"], name),
                            "status_message %r does not name %r"
                            % (answer["status_message"], name))
        return answer

    def assertIds(self, resp, phase, expected):
        answer = self.assertOk(resp)
        key = PHASE_ID[phase]
        self.assertEqual(answer.get("ids"), [{key: i} for i in expected], resp)
        return answer

    def submit_ok(self, _phase, entries, conn=None, **meta):
        """Submit, assert success, return (submit_id, [ids])."""
        resp = self.mttd.submit(_phase, entries, conn=conn, **meta)
        answer = self.assertOk(resp)
        key = PHASE_ID[normal_phase(_phase)]
        ids = answer.get("ids")
        self.assertIsInstance(ids, list, resp)
        self.assertEqual(len(ids), len(entries), resp)
        for item in ids:
            self.assertEqual(list(item), [key], resp)
        self.assertIsInstance(answer.get("submit_id"), int, resp)
        return answer["submit_id"], [item[key] for item in ids]


def normal_phase(phase):
    p = phase.lower().replace(" ", "_")
    for name in ("mpi_install", "test_build", "test_run"):
        if p.startswith(name):
            return name
    raise ValueError(phase)


# ---------------------------------------------------------------------------
# Running a file.

_prereq_checked = None


def prerequisite_problems():
    out = []
    if not (os.path.isfile(MTTD_BIN) and os.access(MTTD_BIN, os.X_OK)):
        out.append("MTTD_BIN %s does not exist or is not executable (build "
                   "mttd first, or set MTTD_BIN)" % MTTD_BIN)
    if not os.path.isdir(SHARED_DIR):
        out.append("MTTD_SHARED_DIR %s does not exist (it must hold "
                   "conformance/ and cases/)" % SHARED_DIR)
    if not os.path.isfile(os.path.join(PG_BINDIR, "postgres")):
        out.append("PostgreSQL not found: %s/postgres does not exist (set "
                   "PG_BINDIR)" % PG_BINDIR)
    if not (os.path.isfile(HTPASSWD) and os.access(HTPASSWD, os.X_OK)):
        out.append("htpasswd not found at %s (apt-get install apache2-utils, "
                   "or set HTPASSWD)" % HTPASSWD)
    return out


def check_prerequisites():
    problems = prerequisite_problems()
    if problems:
        raise HarnessError("; ".join(problems))


def _current_server(test):
    server = getattr(test, "mttd", None)
    return server if isinstance(server, Mttd) else None


class _Result(unittest.TextTestResult):
    """Prints the mttd log tail with every failure and error."""

    def _tail(self, test):
        server = _current_server(test)
        if server is not None and server.log_path:
            self.stream.write("\n" + server.log_tail() + "\n")
            self.stream.flush()

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._tail(test)

    def addError(self, test, err):
        super().addError(test, err)
        self._tail(test)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._tail(test)


def main(module="__main__"):
    """Run the tests of module; print 'N passed, M failed'; exit."""
    for signum in (signal.SIGALRM, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _watchdog_cb)
    signal.alarm(WATCHDOG_S)
    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    if names:  # e.g. test_submit_rules.py SubmitRules.test_phase_names
        suite = unittest.defaultTestLoader.loadTestsFromNames(
            names, sys.modules[module])
    else:
        suite = unittest.defaultTestLoader.loadTestsFromModule(
            sys.modules[module])
    total = suite.countTestCases()
    problems = prerequisite_problems()
    if problems:
        for problem in problems:
            print("FATAL: %s" % problem)
        print("%d tests not run: the set-up is missing" % total)
        print("0 passed, %d failed" % max(total, 1))
        sys.exit(1)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_Result,
                                     stream=sys.stdout)
    all_ids = list(_test_ids(suite))  # the suite forgets them as they run
    try:
        result = runner.run(suite)
    finally:
        cleanup_all()
        signal.alarm(0)
    passed, failed = count_results(all_ids, result)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


def _test_ids(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _test_ids(item)
        else:
            yield item.id()


def count_results(all_ids, result):
    """(passed, failed) per test; a skipped test counts as failed (CI must
    not pass on it), a failing setUpClass fails every test of its class,
    a failing tearDownClass counts as one more failure."""
    failed = set()
    for test, _ in result.failures + result.errors + result.skipped + \
            [(t, None) for t in result.unexpectedSuccesses]:
        if isinstance(test, unittest.case._SubTest):
            failed.add(test.test_case.id())
            continue
        match = re.match(r"^(\w+) \((.+)\)$", str(test))
        if match and not hasattr(test, "_testMethodName"):
            kind, where = match.groups()
            if kind == "setUpClass":
                failed.update(t for t in all_ids if t.startswith(where + "."))
            else:
                failed.add("%s.%s" % (where, kind))
            continue
        failed.add(test.id())
    passed = len([t for t in all_ids if t not in failed])
    return passed, len(failed)
