#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every rule of SPEC.md's Submit section, one test (at least) each.

A refused submission must answer HTTP 200, a negative status and a
status_message naming the key (as a whole word, and the limit where one
applies), change no table and draw no id: the snapshot compares the row
count of every table a submission writes and the state of the submit and
result id sequences, and the next good submission gets the next dense id.
"""

import base64
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mttd_harness as h  # noqa: E402
from mttd_harness import ABSENT, Raw  # noqa: E402

REQUIRED = {
    "mpi_install": ["platform_hardware", "platform_type", "os_name",
                    "os_version", "compiler_name", "compiler_version",
                    "mpi_name", "mpi_version", "start_timestamp",
                    "result_message", "test_result", "exit_value"],
    "test_build": ["compiler_name", "compiler_version", "suite_name",
                   "start_timestamp", "result_message", "test_result",
                   "exit_value"],
    "test_run": ["test_name", "np", "command", "start_timestamp",
                 "result_message", "test_result", "exit_value"],
}
# Required of every phase, sent in metadata (platform_name only matters
# to installs but is required metadata for all).
REQUIRED_META = ["client_serial", "local_username", "mtt_client_version",
                 "phase", "platform_name", "trial"]
PHASE_NAME = {"mpi_install": "MPI Install", "test_build": "Test Build",
              "test_run": "Test Run"}
NOT_INTEGERS = [4.5, "4 ", "four", Raw("1e1"), True, [], {}, "", "+2",
                "0x10", " 2"]


class SubmitRules(h.MttdTestCase):
    """One database and one mttd (htpasswd mode) for all the rules."""

    counter = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.submit_id, (cls.install_id,) = cls.mttd.must_submit(
            "MPI Install", [h.install_entry()])
        _, (cls.build_id,) = cls.mttd.must_submit(
            "Test Build", [h.build_entry(cls.install_id)])

    # -- helpers -----------------------------------------------------------

    def unique(self):
        SubmitRules.counter += 1
        return SubmitRules.counter

    def entry(self, phase, **kw):
        """A good entry of phase, new (not a duplicate of a stored one)."""
        n = self.unique()
        if phase == "mpi_install":
            kw.setdefault("mpi_version", "v-rule-%d" % n)
            return h.install_entry(**kw)
        if phase == "test_build":
            kw.setdefault("suite_name", "TestBuild:rule%d" % n)
            return h.build_entry(kw.pop("mpi_install_id", self.install_id),
                                 **kw)
        kw.setdefault("test_name", "rule_%d" % n)
        return h.run_entry(kw.pop("test_build_id", self.build_id), **kw)

    def post(self, phase, entries, meta=None, headers=None):
        body = h.submit_body(PHASE_NAME.get(phase, phase), entries,
                             **(meta or {}))
        return self.mttd.http("POST", "/submit", body, headers=headers)

    def refuse(self, phase, entries, names, meta=None, body=None,
               http_status=200):
        """Submit; assert a refusal naming names and an unchanged db."""
        before = self.snapshot()
        if body is not None:
            resp = self.mttd.http("POST", "/submit", body)
        else:
            resp = self.post(phase, entries, meta)
        self.assertRefused(resp, names, http_status=http_status)
        self.assertEqual(self.snapshot(), before,
                         "a refused submission changed the database or drew "
                         "an id")
        return resp

    def accept(self, phase, entries, meta=None):
        """Submit; assert success; return (submit_id, ids)."""
        resp = self.post(phase, entries, meta)
        answer = self.assertOk(resp)
        key = h.PHASE_ID[phase]
        self.assertEqual(len(answer.get("ids", [])), len(entries), resp)
        return answer["submit_id"], [i[key] for i in answer["ids"]]

    def assertNextDense(self, phase):
        """The next new result of phase gets max(id) + 1."""
        expected = self.max_id(phase) + 1
        _, ids = self.accept(phase, [self.entry(phase)])
        self.assertEqual(ids, [expected],
                         "ids are not dense: a refused submission drew one")

    def column(self, phase, result_id, expr, joins=""):
        return self.sql1("SELECT %s FROM %s x %s WHERE x.%s = %d" % (
            expr, phase, joins, h.PHASE_ID[phase], result_id))

    # -- required fields ---------------------------------------------------

    def test_required_fields_missing_or_null(self):
        for phase, fields in REQUIRED.items():
            for field in fields:
                for mode in ("missing", "null"):
                    with self.subTest(phase=phase, field=field, mode=mode):
                        value = ABSENT if mode == "missing" else None
                        entry = self.entry(phase, **{field: value})
                        self.refuse(phase, [entry], [field])
        for phase in REQUIRED:
            self.assertNextDense(phase)

    def test_required_metadata_missing_or_null(self):
        for phase in REQUIRED:
            for field in REQUIRED_META:
                for mode in ("missing", "null"):
                    with self.subTest(phase=phase, field=field, mode=mode):
                        value = ABSENT if mode == "missing" else None
                        self.refuse(phase, [self.entry(phase)], [field],
                                    meta={field: value})
        for phase in REQUIRED:
            self.assertNextDense(phase)

    def test_metadata_first(self):
        # Given in both places: metadata wins.
        _, (inst,) = self.accept(
            "mpi_install", [self.entry("mpi_install", os_name="EntryOS",
                                       platform_hardware="entry-hw")],
            meta={"os_name": "MetaOS", "platform_hardware": "meta-hw"})
        self.assertEqual(self.column(
            "mpi_install", inst, "cc.os_name, cc.platform_hardware",
            "JOIN compute_cluster cc USING (compute_cluster_id)"),
            ["MetaOS", "meta-hw"])
        # A null in metadata counts as absent: the entry's value is used.
        _, (inst,) = self.accept(
            "mpi_install", [self.entry("mpi_install", os_name="EntryOS2")],
            meta={"os_name": None})
        self.assertEqual(self.column(
            "mpi_install", inst, "cc.os_name",
            "JOIN compute_cluster cc USING (compute_cluster_id)"),
            ["EntryOS2"])
        # A required entry field given only in metadata is found there.
        _, (run,) = self.accept(
            "test_run", [self.entry("test_run", np=ABSENT)],
            meta={"np": 7})
        self.assertEqual(self.column("test_run", run, "x.np"), ["7"])

    # -- integers ----------------------------------------------------------

    def integer_targets(self):
        """(label, phase, where, field) for each integer field."""
        return [("np", "test_run", "entry", "np"),
                ("exit_value", "test_run", "entry", "exit_value"),
                ("exit_signal", "test_run", "entry", "exit_signal"),
                ("test_result", "test_run", "entry", "test_result"),
                ("exit_value", "mpi_install", "entry", "exit_value"),
                ("test_result", "test_build", "entry", "test_result"),
                ("client_serial", "test_run", "meta", "client_serial"),
                ("mpi_install_id", "test_build", "entry", "mpi_install_id"),
                ("test_build_id", "test_run", "entry", "test_build_id"),
                ("submit_id", "test_run", "meta", "submit_id")]

    def test_integer_fields_refuse_non_integers(self):
        for label, phase, where, field in self.integer_targets():
            for value in NOT_INTEGERS:
                shown = value.text if isinstance(value, Raw) else repr(value)
                with self.subTest(field=label, phase=phase, value=shown):
                    if where == "meta":
                        self.refuse(phase, [self.entry(phase)], [field],
                                    meta={field: value})
                    else:
                        entry = self.entry(phase, **{field: value})
                        self.refuse(phase, [entry], [field])
        for phase in REQUIRED:
            self.assertNextDense(phase)

    def test_integer_fields_take_digit_strings(self):
        _, (run,) = self.accept("test_run", [self.entry(
            "test_run", np="2", exit_value="-1", exit_signal="9",
            test_result="2", test_build_id=str(self.build_id))],
            meta={"client_serial": "-1"})
        self.assertEqual(self.column(
            "test_run", run, "x.np, x.exit_value, x.exit_signal, "
            "x.test_result, x.client_serial, x.test_build_id"),
            ["2", "-1", "9", "2", "-1", str(self.build_id)])
        _, (build,) = self.accept("test_build", [self.entry(
            "test_build", mpi_install_id=str(self.install_id))])
        self.assertEqual(self.column("test_build", build, "x.mpi_install_id"),
                         [str(self.install_id)])
        sid, _ = self.accept("test_run", [self.entry("test_run")],
                             meta={"submit_id": str(self.submit_id),
                                   "hostname": "other-host"})
        self.assertEqual(sid, self.submit_id)

    def test_integer_out_of_range(self):
        cases = [("np", 40000, ["np", "32767"]),
                 ("np", -40000, ["np"]),
                 ("np", "40000", ["np", "32767"]),
                 ("test_result", 32768, ["test_result", "32767"]),
                 ("exit_value", 2 ** 31, ["exit_value", "2147483647"]),
                 ("exit_signal", -(2 ** 31) - 1, ["exit_signal"]),
                 ("exit_value", 2 ** 64, ["exit_value"])]
        for field, value, names in cases:
            with self.subTest(field=field, value=value):
                self.refuse("test_run", [self.entry("test_run",
                                                    **{field: value})], names)
        with self.subTest(field="client_serial"):
            resp = self.refuse("test_run", [self.entry("test_run")],
                               ["metadata", "client_serial"],
                               meta={"client_serial": 2 ** 31})
            # The metadata's value, not the first entry's.
            self.assertTrue(resp.field("status_message").startswith(
                "metadata: field 'client_serial'"), resp)
        # The largest values that fit are taken.
        _, (run,) = self.accept("test_run", [self.entry(
            "test_run", np=32767, exit_value=2 ** 31 - 1,
            exit_signal=-(2 ** 31))])
        self.assertEqual(self.column("test_run", run,
                                     "x.np, x.exit_value, x.exit_signal"),
                         ["32767", "2147483647", "-2147483648"])
        self.assertNextDense("test_run")

    # -- conversions -------------------------------------------------------

    def test_trial_and_merge_conversions(self):
        for value, stored in ((1, "t"), (True, "t"), (0, "f"), (False, "f"),
                              ("1", "f"), ("true", "f"), (2, "f")):
            with self.subTest(value=value):
                _, (inst,) = self.accept(
                    "mpi_install",
                    [self.entry("mpi_install", merge_stdout_stderr=value)],
                    meta={"trial": value})
                self.assertEqual(self.column(
                    "mpi_install", inst, "x.trial, x.merge_stdout_stderr"),
                    [stored, stored])

    def configure_bits(self, **kw):
        _, (inst,) = self.accept("mpi_install",
                                 [self.entry("mpi_install", **kw)])
        return self.column(
            "mpi_install", inst, "a.vpath_mode, a.bitness, a.endian",
            "JOIN mpi_install_configure_args a "
            "USING (mpi_install_configure_id)")

    def test_vpath_mode_conversion(self):
        for value, bits in ((1, "01"), ("relative", "01"), (2, "10"),
                            ("absolute", "10"), (0, "00"), (3, "00"),
                            ("x", "00")):
            with self.subTest(vpath_mode=value):
                self.assertEqual(self.configure_bits(vpath_mode=value)[0],
                                 bits)

    def test_endian_conversion(self):
        for value, bits in ((1, "01"), ("little", "01"), (2, "10"),
                            ("big", "10"), (0, "00"), ("battest", "00")):
            with self.subTest(endian=value):
                self.assertEqual(self.configure_bits(endian=value)[2], bits)

    def test_bitness_conversion(self):
        for value, bits in ((1, "000001"), (2, "000010"), (4, "000100"),
                            (6, "001100"), (8, "001000"), (16, "010000"),
                            (0, "000000"), ("x", "000000"),
                            (32, "000000")):
            with self.subTest(bitness=value):
                self.assertEqual(self.configure_bits(bitness=value)[1], bits)

    def test_start_timestamp_forms(self):
        for text, stored in (
                ("Fri Dec  4 13:00:00 2026", "2026-12-04 13:00:00.000000"),
                ("2026-12-04T13:00:00", "2026-12-04 13:00:00.000000"),
                ("2026-12-04 13:00:00", "2026-12-04 13:00:00.000000"),
                ("Mon Jan 1 00:00:00 2000", "2000-01-01 00:00:00.000000"),
                ("2026-03-02 08:30:00.25", "2026-03-02 08:30:00.250000")):
            with self.subTest(start_timestamp=text):
                _, (run,) = self.accept("test_run", [self.entry(
                    "test_run", start_timestamp=text)])
                self.assertEqual(self.column(
                    "test_run", run, "to_char(x.start_timestamp, "
                    "'YYYY-MM-DD HH24:MI:SS.US')"), [stored])

    def test_bad_timestamp_and_duration(self):
        for value in ("not a time", "2026-13-45 10:00:00",
                      "Fri Dec 45 13:00:00 2026", ["2026-12-04"], 12345):
            with self.subTest(start_timestamp=value):
                self.refuse("test_run", [self.entry(
                    "test_run", start_timestamp=value)], ["start_timestamp"])
        for value in ("forever", "3 parsecs", ["3 seconds"], {"s": 3}):
            with self.subTest(duration=value):
                self.refuse("test_run", [self.entry(
                    "test_run", duration=value)], ["duration"])
        self.assertNextDense("test_run")

    def test_bad_metadata_timestamp_and_duration_name_the_metadata(self):
        """PostgreSQL refuses a value the metadata gave every entry: the
        answer names the metadata, not data[0]."""
        for field, value, why in (
                ("duration", "ten minutes", "invalid input syntax for type"
                 " interval: \"ten minutes\""),
                ("start_timestamp", "2026-13-01", "date/time field value out"
                 " of range: \"2026-13-01\"")):
            with self.subTest(field=field):
                entries = [self.entry("test_run") for _ in range(3)]
                for e in entries:
                    e.pop(field, None)
                resp = self.refuse("test_run", entries, [field],
                                   meta={field: value})
                self.assertEqual(
                    resp.json["status_message"],
                    "metadata: field '%s' is not valid: %s" % (field, why))

    def test_empty_data_checks_the_metadata_values(self):
        """An empty data list stores nothing but its submit row; the
        metadata's values are still checked as an entry would take them
        (before, break-it helper 23: any value passed)."""
        for meta, message in (
                ({"trial": {}}, "metadata: field 'trial' must be a single"
                 " value, got object"),
                ({"client_serial": "four"}, "metadata: field"
                 " 'client_serial' must be an integer, got a string that is"
                 " not one"),
                ({"np": 40000}, "metadata: field 'np' is out of range:"
                 " 40000 is not between -32768 and 32767"),
                ({"test_name": "x" * 200}, "metadata: field 'test_name'")):
            with self.subTest(meta=meta):
                resp = self.refuse("test_run", [], [], meta=meta)
                self.assertTrue(resp.json["status_message"].startswith(
                    message), resp)
        # Good metadata and no entries: the submit row, no ids.
        answer = self.assertOk(self.post(
            "test_run", [], meta={"hostname": "empty-data-host"}))
        self.assertEqual(answer["ids"], [])
        self.assertEqual(self.sql(
            "SELECT submit_id FROM submit WHERE hostname ="
            " 'empty-data-host'"), [[str(answer["submit_id"])]])

    def test_missing_link_in_the_metadata_names_the_metadata(self):
        for phase, key in (("test_run", "test_build_id"),
                           ("test_build", "mpi_install_id")):
            with self.subTest(phase=phase):
                entry = self.entry(phase)
                entry.pop(key, None)
                resp = self.refuse(phase, [entry, self.entry(phase)], [key],
                                   meta={key: 999999})
                self.assertEqual(
                    resp.json["status_message"],
                    "metadata: field '%s': %s 999999 does not exist"
                    % (key, key))
                # The entry's own link is named by its index.
                resp = self.refuse(phase, [self.entry(phase), self.entry(
                    phase, **{key: 999999})], [key])
                self.assertEqual(
                    resp.json["status_message"],
                    "data[1]: field '%s': %s 999999 does not exist"
                    % (key, key))

    def test_long_refused_value_is_cut_on_a_character(self):
        """A refusal that quotes a long value is cut to 1,023 bytes
        without splitting a character, in the answer and in the log."""
        value = "a" + "\u00e9" * 1000
        mark = self.mttd.log_mark()
        resp = self.refuse("test_run", [self.entry(
            "test_run", start_timestamp=value)], ["start_timestamp"])
        message = resp.json["status_message"]
        want = ("data[0]: field 'start_timestamp' is not valid: invalid"
                " input syntax for type timestamp: \"" + value)
        # The first 1,023 bytes, less the half of an é they end with.
        cut = want.encode()[:1023]
        self.assertEqual(cut[-1:], b"\xc3")
        self.assertEqual(message, cut[:-1].decode())
        log = self.mttd.log_since(mark)
        self.assertIn("reason=" + message + "\n", log)

    def test_phase_in_the_log_cannot_end_its_field(self):
        """The phase as sent goes into the refusal's log line with its
        quotes made ', so it cannot add a field of its own."""
        mark = self.mttd.log_mark()
        self.refuse("test_run", [self.entry(
            "test_run", start_timestamp="never")], ["start_timestamp"],
            meta={"phase": 'Test Run" reason=forged \\'})
        self.assertRegex(self.mttd.log_since(mark),
                         r"submit refused: user=\S+ client=\S+ phase=\"Test"
                         r" Run' reason=forged '\" reason=data\[0\]: field"
                         r" 'start_timestamp'")

    def test_duration_forms(self):
        for value, stored in (("322 seconds", "00:05:22"),
                              ("0 Seconds", "00:00:00"),
                              ("45 minutes", "00:45:00"),
                              ("1 day 02:03:04", "1 day 02:03:04"),
                              (322, "00:05:22"), (1.5, "00:00:01.5"),
                              (0, "00:00:00"), (None, "00:00:00"),
                              (ABSENT, "00:00:00")):
            with self.subTest(duration=value):
                _, (run,) = self.accept("test_run", [self.entry(
                    "test_run", duration=value)])
                self.assertEqual(self.column("test_run", run, "x.duration"),
                                 [stored])

    # -- text --------------------------------------------------------------

    def test_text_length_limits(self):
        # hostname varchar(128): 128 characters fit, 129 do not.
        self.refuse("mpi_install", [self.entry("mpi_install")],
                    ["hostname", "128"], meta={"hostname": "h" * 129})
        sid, _ = self.accept("mpi_install", [self.entry("mpi_install")],
                             meta={"hostname": "h" * 128})
        self.assertEqual(self.sql1("SELECT hostname FROM submit WHERE "
                                   "submit_id = %d" % sid), ["h" * 128])
        # local_username varchar(16) counts characters, not bytes.
        sid, _ = self.accept("mpi_install", [self.entry("mpi_install")],
                             meta={"local_username": "\u00e9" * 16})
        self.assertEqual(self.sql1(
            "SELECT local_username, char_length(local_username), "
            "octet_length(local_username) FROM submit WHERE submit_id = %d"
            % sid), ["\u00e9" * 16, "16", "32"])
        self.refuse("mpi_install", [self.entry("mpi_install")],
                    ["local_username", "16"],
                    meta={"local_username": "\u00e9" * 17})
        self.refuse("mpi_install", [self.entry("mpi_install")],
                    ["mtt_client_version", "16"],
                    meta={"mtt_client_version": "4.0a1-" + "x" * 11})
        for phase, field, limit in (("test_build", "suite_name", 32),
                                    ("test_run", "test_name", 64),
                                    ("mpi_install", "compiler_name", 64),
                                    ("mpi_install", "mpi_version", 128),
                                    ("mpi_install", "os_version", 128),
                                    ("test_run", "launcher", 128),
                                    ("test_run", "resource_manager", 32)):
            with self.subTest(field=field):
                self.refuse(phase, [self.entry(
                    phase, **{field: "\u00fc" * (limit + 1)})],
                    [field, str(limit)])
                self.accept(phase, [self.entry(
                    phase, **{field: "\u00fc" * limit})])
        for phase in REQUIRED:
            self.assertNextDense(phase)

    def test_array_or_object_for_text(self):
        for phase, field, value in (
                ("mpi_install", "result_stderr", ["one", "two"]),
                ("mpi_install", "os_name", {"name": "Linux"}),
                ("mpi_install", "configure_arguments", ["--a", "--b"]),
                ("test_build", "result_stdout", ["out"]),
                ("test_build", "suite_name", {"a": 1}),
                ("test_run", "test_name", ["t"]),
                ("test_run", "command", ["mpirun", "-np", "2"]),
                ("test_run", "description", {"d": 1}),
                ("test_run", "environment", ["A=1"]),
                ("test_run", "result_message", ["Success"]),
                ("test_run", "launcher", {"l": "mpirun"})):
            with self.subTest(phase=phase, field=field):
                self.refuse(phase, [self.entry(phase, **{field: value})],
                            [field])
        for field, value in (("hostname", ["h1", "h2"]),
                             ("platform_name", {"p": 1}),
                             ("local_username", ["u"])):
            with self.subTest(metadata=field):
                self.refuse("mpi_install", [self.entry("mpi_install")],
                            [field], meta={field: value})
        for phase in REQUIRED:
            self.assertNextDense(phase)

    def test_invalid_utf8_is_400(self):
        good = h.to_json(h.submit_body("Test Run", [self.entry(
            "test_run", result_stdout="@@BAD@@")])).encode("utf-8")
        for label, bad in (("ff fe", b"\xff\xfe"), ("overlong", b"\xc0\xaf"),
                           ("surrogate", b"\xed\xa0\x80"),
                           ("cut sequence", b"\xe2\x82"),
                           ("lone continuation", b"\x80")):
            with self.subTest(bytes=label):
                body = good.replace(b"@@BAD@@", b"bad" + bad + b"utf8")
                self.refuse(None, None, [], body=body, http_status=400)
        self.assertNextDense("test_run")

    def test_lone_surrogate_escapes_are_400(self):
        """A lone low surrogate, and now a lone high one (stored as '?',
        or joined with the next escape into another character, before
        break-it helper 23), are refused; a pair and an escaped
        backslash before "ud800" are text."""
        good = h.to_json(h.submit_body("Test Run", [self.entry(
            "test_run", result_stdout="@@BAD@@")])).encode("utf-8")
        at = good.index(b"@@BAD@@")
        for label, bad, why in (
                ("lone high", b"\\ud800abc", "\\ud800, a high surrogate,"
                 " is not followed by a low one (\\uDC00 to \\uDFFF)"),
                ("high then A", b"\\ud800\\u0041", "\\ud800, a high"
                 " surrogate, is not followed by a low one"),
                ("two highs", b"\\uD800\\uD800", "\\uD800, a high"),
                ("lone low", b"\\udc00", "invalid UTF-8 in a string")):
            with self.subTest(escape=label):
                body = good.replace(b"@@BAD@@", b"x" + bad)
                resp = self.refuse(None, None, [], body=body,
                                   http_status=400)
                self.assertIn(why, resp.json["status_message"])
                if "high" in why:
                    self.assertTrue(resp.json["status_message"].startswith(
                        "the body is not valid JSON: invalid JSON at byte"
                        " %d: " % (at + 1)), resp)
        _, (run,) = self.accept("test_run", [self.entry(
            "test_run", result_stdout="\\ud800 \U0001f600")])
        self.assertEqual(self.column("test_run", run, "x.result_stdout"),
                         ["\\ud800 \U0001f600"])

    def test_nul_becomes_replacement_character(self):
        _, (run,) = self.accept("test_run", [self.entry(
            "test_run", result_stdout="out\u0000put",
            result_stderr="\u0000\u0000tail\u0000",
            result_message="Fail\u0000ed",
            description="desc\u0000ription")])
        fffd = "\ufffd"
        self.assertEqual(self.column(
            "test_run", run, "x.result_stdout, x.result_stderr, "
            "r.result_message, d.description",
            "JOIN result_message r USING (result_message_id) "
            "JOIN description d USING (description_id)"),
            ["out%sput" % fffd, "%s%stail%s" % (fffd, fffd, fffd),
             "Fail%sed" % fffd, "desc%sription" % fffd])

    # -- phase -------------------------------------------------------------

    def test_phase_names(self):
        for phase_text, phase in (("MPI Install", "mpi_install"),
                                  ("mpi install", "mpi_install"),
                                  ("MPI_INSTALL", "mpi_install"),
                                  ("test build", "test_build"),
                                  ("Test Running", "test_run"),
                                  ("TEST RUN", "test_run")):
            with self.subTest(phase=phase_text):
                resp = self.mttd.http("POST", "/submit", h.submit_body(
                    phase_text, [self.entry(phase)]))
                answer = self.assertOk(resp)
                self.assertEqual(list(answer["ids"][0]), [h.PHASE_ID[phase]])
        for phase_text, names in (("Install", ["phase", "Install"]),
                                  ("Test Destroy", ["phase", "Test Destroy"]),
                                  (None, ["phase"]), ("", ["phase"]),
                                  (3, ["phase"]), (["Test Run"], ["phase"])):
            with self.subTest(phase=phase_text):
                self.refuse("mpi_install", [self.entry("mpi_install")],
                            names, meta={"phase": phase_text})
        for phase in REQUIRED:
            self.assertNextDense(phase)

    # -- links -------------------------------------------------------------

    def test_existing_submit_id_is_reused(self):
        before = self.snapshot()
        sid, (run,) = self.accept(
            "test_run", [self.entry("test_run")],
            meta={"submit_id": self.submit_id, "hostname": "elsewhere",
                  "local_username": "someone"})
        self.assertEqual(sid, self.submit_id)
        self.assertEqual(self.snapshot()["submit"], before["submit"])
        self.assertEqual(self.column("test_run", run, "x.submit_id"),
                         [str(self.submit_id)])
        self.assertEqual(self.sql("SELECT 1 FROM submit WHERE hostname = "
                                  "'elsewhere'"), [])

    def test_unknown_submit_id(self):
        self.refuse("test_run", [self.entry("test_run")], ["submit_id"],
                    meta={"submit_id": 999})
        self.assertNextDense("test_run")

    def test_submit_id_of_another_user_is_refused(self):
        # http_username is always the authenticated user: a submit row
        # another user made cannot be borrowed through metadata.submit_id.
        other = int(self.sql1(
            "INSERT INTO submit (hostname, local_username, http_username,"
            " mtt_client_version) VALUES ('theirs', 'them', 'someone-else',"
            " '4.0a1') RETURNING submit_id")[0])
        self.refuse("test_run", [self.entry("test_run")], ["submit_id"],
                    meta={"submit_id": other})
        self.assertNextDense("test_run")

    def test_float_underflow_refused_before_the_database(self):
        # PostgreSQL refuses 1e-400 for double precision; so does mttd,
        # before any row of the batch takes an id.
        entries = [self.entry("test_run"), self.entry(
            "test_run", latency_bandwidth=True, message_size=[1],
            latency_min=[1e-400])]
        body = h.to_json(h.submit_body("Test Run", entries)).replace(
            '"latency_min": [0.0]', '"latency_min": [1e-400]')
        self.assertIn("1e-400", body)
        self.refuse("test_run", None, ["latency_min"], body=body)
        self.assertNextDense("test_run")

    def test_submit_ids_stay_dense(self):
        # A refused submission with new submit values draws no submit id.
        top = int(self.sql1("SELECT max(submit_id) FROM submit")[0])
        self.refuse("test_run", [self.entry("test_run", np="four")], ["np"],
                    meta={"hostname": "dense-host"})
        sid, _ = self.accept("test_run", [self.entry("test_run")],
                             meta={"hostname": "dense-host"})
        self.assertEqual(sid, top + 1)

    def test_build_links(self):
        for value in (ABSENT, None):
            with self.subTest(mpi_install_id=value):
                _, (build,) = self.accept("test_build", [self.entry(
                    "test_build", mpi_install_id=value)])
                self.assertEqual(self.column(
                    "test_build", build,
                    "x.mpi_install_id, x.compute_cluster_id, x.mpi_get_id, "
                    "x.mpi_install_compiler_id, x.mpi_install_configure_id"),
                    ["0", "0", "0", "0", "0"])
        for value in (999, -5):
            with self.subTest(mpi_install_id=value):
                self.refuse("test_build", [self.entry(
                    "test_build", mpi_install_id=value)], ["mpi_install_id"])
        self.assertNextDense("test_build")

    def test_run_links(self):
        for value in (ABSENT, None):
            with self.subTest(test_build_id=value):
                _, (run,) = self.accept("test_run", [self.entry(
                    "test_run", test_build_id=value)])
                self.assertEqual(self.column(
                    "test_run", run, "x.test_build_id, x.mpi_install_id, "
                    "x.test_suite_id, x.compute_cluster_id, x.mpi_get_id"),
                    ["0", "0", "0", "0", "0"])
        for value in (999, -5):
            with self.subTest(test_build_id=value):
                self.refuse("test_run", [self.entry(
                    "test_run", test_build_id=value)], ["test_build_id"])
        self.assertNextDense("test_run")

    # -- who and where -----------------------------------------------------

    def test_hostname_absent_or_null(self):
        for value in (ABSENT, None):
            with self.subTest(hostname=value):
                mark = self.mttd.log_mark()
                resp = self.post("mpi_install", [self.entry("mpi_install")],
                                 meta={"hostname": value},
                                 headers={"X-Forwarded-For":
                                          "203.0.113.7, 10.0.0.1"})
                sid = self.assertOk(resp)["submit_id"]
                # No proxy is trusted here: the header is ignored.
                self.assertEqual(self.sql1(
                    "SELECT hostname FROM submit WHERE submit_id = %d" % sid),
                    ["127.0.0.1"])
                line = self.mttd.wait_log(r"\bWARNING\b.*hostname", mark)
                self.assertIsNotNone(line, "no WARNING line naming hostname "
                                     "in the log:\n"
                                     + self.mttd.log_since(mark))

    def test_http_username_is_the_authenticated_user(self):
        sid, _ = self.accept("mpi_install", [self.entry("mpi_install")],
                             meta={"http_username": "someone-else"})
        self.assertEqual(self.sql1("SELECT http_username FROM submit WHERE "
                                   "submit_id = %d" % sid), [h.USER])
        self.assertEqual(sid, self.submit_id)
        sid, _ = self.accept("mpi_install", [self.entry("mpi_install")],
                             meta={"http_username": ABSENT})
        self.assertEqual(sid, self.submit_id)

    # -- optional parts ----------------------------------------------------

    def command_of(self, **kw):
        for key in ("launcher", "resource_manager", "parameters", "network"):
            kw.setdefault(key, ABSENT)
        _, (run,) = self.accept("test_run", [self.entry("test_run", **kw)])
        return self.column(
            "test_run", run, "x.test_run_command_id <> 0, c.launcher, "
            "c.resource_mgr, c.parameters, c.network",
            "JOIN test_run_command c USING (test_run_command_id)")

    def test_command_row(self):
        self.assertEqual(self.command_of(launcher="srun"),
                         ["t", "srun", "", "", ""])
        self.assertEqual(self.command_of(resource_manager="slurm"),
                         ["t", "", "slurm", "", ""])
        self.assertEqual(self.command_of(
            launcher="mpirun", resource_manager="slurm",
            parameters="--bind-to core", network="ib"),
            ["t", "mpirun", "slurm", "--bind-to core", "ib"])
        self.assertEqual(self.command_of(), ["f", "", "", "", ""])
        self.assertEqual(self.command_of(launcher=None), ["f", "", "", "", ""])

    def test_latency_bandwidth_arrays(self):
        _, (run,) = self.accept("test_run", [self.entry(
            "test_run", latency_bandwidth=True, message_size=[1, 2, 4, 8],
            latency_min=[1.25, 1.5, 2.0, 3.75],
            latency_avg=[1.3, 1.6, 2.1, 3.8],
            latency_max=[1.4, 1.7, 2.2, 3.9],
            bandwidth_min=[10.5, 20.25, 40.0, 80.0],
            bandwidth_avg=[11.0, 21.0, 41.0, 81.0],
            bandwidth_max=[12.0, 22.0, 42.0, 82.0])])
        self.assertEqual(self.column(
            "test_run", run, "x.performance_id <> 0, l.message_size, "
            "l.latency_min, l.latency_avg, l.latency_max, l.bandwidth_min, "
            "l.bandwidth_avg, l.bandwidth_max",
            "JOIN performance p USING (performance_id) "
            "JOIN latency_bandwidth l USING (latency_bandwidth_id)"),
            ["t", "{1,2,4,8}", "{1.25,1.5,2,3.75}", "{1.3,1.6,2.1,3.8}",
             "{1.4,1.7,2.2,3.9}", "{10.5,20.25,40,80}", "{11,21,41,81}",
             "{12,22,42,82}"])
        _, (plain,) = self.accept("test_run", [self.entry("test_run")])
        self.assertEqual(self.column("test_run", plain, "x.performance_id"),
                         ["0"])

    def test_rows_without_a_unique_index_made_once_each(self):
        """Descriptions, environments, messages and performance rows (no
        unique index) of many entries are made in one statement per
        table: each distinct row once, equal values spelled differently
        ("1.0", "1") once, every entry linked to its own, and a retry
        makes none."""
        tag = self.unique()
        entries = [self.entry(
            "test_run", description="d%d-%d" % (tag, i % 20),
            environment="e%d-%d" % (tag, i % 20),
            result_message="m%d-%d" % (tag, i % 20), latency_bandwidth=True,
            message_size=[tag, i % 20],
            latency_min=[1.0, 2.5] if i < 20 else [1, 2.5])
            for i in range(40)]
        _, ids = self.accept("test_run", entries)

        def counts():
            return self.sql1(
                "SELECT (SELECT count(*) FROM description WHERE description"
                " LIKE 'd%d-%%'), (SELECT count(*) FROM environment WHERE"
                " environment LIKE 'e%d-%%'), (SELECT count(*) FROM"
                " result_message WHERE result_message LIKE 'm%d-%%'),"
                " (SELECT count(*) FROM latency_bandwidth WHERE"
                " message_size[1] = %d), (SELECT count(*) FROM performance"
                " p JOIN latency_bandwidth l USING (latency_bandwidth_id)"
                " WHERE l.message_size[1] = %d)" % ((tag,) * 5))
        self.assertEqual(counts(), ["20"] * 5)
        for i, run in enumerate(ids):
            self.assertEqual(self.column(
                "test_run", run, "d.description, e.environment,"
                " m.result_message, l.message_size, l.latency_min",
                "JOIN description d USING (description_id) JOIN environment"
                " e USING (environment_id) JOIN result_message m USING"
                " (result_message_id) JOIN performance p USING"
                " (performance_id) JOIN latency_bandwidth l USING"
                " (latency_bandwidth_id)"),
                ["d%d-%d" % (tag, i % 20), "e%d-%d" % (tag, i % 20),
                 "m%d-%d" % (tag, i % 20), "{%d,%d}" % (tag, i % 20),
                 "{1,2.5}"])
        resp = self.post("test_run", entries)
        self.assertEqual([r["test_run_id"] for r in resp.json["ids"]], ids)
        self.assertEqual(counts(), ["20"] * 5)

    def test_values_over_an_index_limit_are_refused_not_retried(self):
        # A B-tree entry holds at most 2,704 bytes: 670 message sizes
        # (an int4[] of 2,712 bytes), or configure arguments of ~2.7 KB
        # that do not compress, can never be stored.  That is the
        # client's value, answered with -1 naming the field, not the 503
        # "try again later" of a failing database.
        resp = self.refuse("test_run", [self.entry("test_run"), self.entry(
            "test_run", latency_bandwidth=True,
            message_size=list(range(670)))], ["message_size"])
        self.assertTrue(resp.json["status_message"].startswith(
            "data[1]: field 'message_size' is too large"), resp)
        self.assertIn("too large for the database's index",
                      resp.json["status_message"])
        self.assertIn("mttd_latency_bandwidth_lookup",
                      resp.json["status_message"])
        self.assertNextDense("test_run")
        # Of the entries that could be the one, the largest comes first
        # (here the only one that is too large: 660 sizes fit).
        entries = [self.entry("test_run", latency_bandwidth=True,
                              message_size=list(range(660)))
                   for _ in range(9)]
        entries.insert(8, self.entry("test_run", latency_bandwidth=True,
                                     message_size=list(range(700))))
        resp = self.refuse("test_run", entries, ["message_size"])
        self.assertTrue(resp.json["status_message"].startswith(
            "data[8] or data[0] or data[1] or data[2] or data[3] or more:"
            " field 'message_size' is too large"), resp)
        # 600 fit.
        _, (run,) = self.accept("test_run", [self.entry(
            "test_run", latency_bandwidth=True,
            message_size=list(range(600)))])
        self.assertEqual(self.column(
            "test_run", run, "cardinality(l.message_size)",
            "JOIN performance p USING (performance_id) "
            "JOIN latency_bandwidth l USING (latency_bandwidth_id)"), ["600"])
        noise = base64.b64encode(
            random.Random(5).randbytes(2400)).decode()  # 3,200 characters
        resp = self.refuse("mpi_install", [self.entry(
            "mpi_install", configure_arguments=noise)],
            ["configure_arguments"])
        self.assertTrue(resp.json["status_message"].startswith(
            "data[0]: field 'configure_arguments' is too large for the"
            " database's index: index row size "), resp)
        # In a batch, one statement makes every entry's row: the answer
        # names the entries whose value could be the one (over 2,600
        # bytes), not the 2,000-byte one that surely fits.
        resp = self.refuse("mpi_install", [
            self.entry("mpi_install", configure_arguments="x" * 2000),
            self.entry("mpi_install", configure_arguments=noise),
            self.entry("mpi_install", configure_arguments="--short")],
            ["configure_arguments"])
        self.assertTrue(resp.json["status_message"].startswith(
            "data[1]: field 'configure_arguments'"), resp)
        self.assertNextDense("mpi_install")

    def test_null_description_and_environment(self):
        for phase in REQUIRED:
            with self.subTest(phase=phase):
                _, (rid,) = self.accept(phase, [self.entry(
                    phase, description=None, environment=None)])
                self.assertEqual(self.column(
                    phase, rid, "x.description_id, x.environment_id"),
                    ["0", "0"])

    def test_unknown_keys_ignored(self):
        _, (run,) = self.accept("test_run", [self.entry(
            "test_run", bios_nodelist="node[01-04]", variant=3,
            harasser_seed=12345, no_such_field={"a": [1, 2]})],
            meta={"organization": "example-org"})
        self.assertEqual(self.column("test_run", run, "x.np"), ["2"])

    def test_batch_all_or_nothing(self):
        good = self.entry("mpi_install", mpi_version="v-batch-good")
        self.refuse("mpi_install", [good, self.entry(
            "mpi_install", os_name=ABSENT)], ["os_name"])
        self.assertEqual(self.sql("SELECT 1 FROM mpi_get WHERE mpi_version = "
                                  "'v-batch-good'"), [])
        self.assertNextDense("mpi_install")

    # -- the log -----------------------------------------------------------

    def test_refusals_logged_at_warning(self):
        for phase, entry, meta, reason, phase_words in (
                ("test_run", self.entry("test_run", np="four"), {}, "np",
                 ("Test Run", "test_run")),
                ("mpi_install", self.entry("mpi_install", os_name=ABSENT), {},
                 "os_name", ("MPI Install", "mpi_install")),
                ("test_build", self.entry("test_build", mpi_install_id=999),
                 {}, "mpi_install_id", ("Test Build", "test_build"))):
            with self.subTest(reason=reason):
                mark = self.mttd.log_mark()
                self.refuse(phase, [entry], [reason], meta=meta)
                lines = [l for l in self.mttd.log_since(mark).splitlines()
                         if h.names_word(l, "WARNING")]
                found = [l for l in lines
                         if h.names_word(l, h.USER)
                         and h.names_word(l, "127.0.0.1")
                         and h.names_word(l, reason)
                         and any(h.names_word(l, p) for p in phase_words)]
                self.assertTrue(found, "no WARNING line with user, address, "
                                "phase and reason; the log said:\n"
                                + self.mttd.log_since(mark))


class TrustedProxy(h.MttdTestCase):
    """trust_forwarded_for = true: the first X-Forwarded-For address."""

    MTTD = {"server": {"trust_forwarded_for": "true"}}

    def test_forwarded_for_is_the_client_address(self):
        resp = self.mttd.http(
            "POST", "/submit", h.submit_body(
                "MPI Install", [h.install_entry()], hostname=None),
            headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.1"})
        sid = self.assertOk(resp)["submit_id"]
        self.assertEqual(self.sql1("SELECT hostname FROM submit WHERE "
                                   "submit_id = %d" % sid), ["203.0.113.7"])
        # Without the header the peer's address is stored.
        resp = self.mttd.http("POST", "/submit", h.submit_body(
            "MPI Install", [h.install_entry()], hostname=h.ABSENT))
        sid = self.assertOk(resp)["submit_id"]
        self.assertEqual(self.sql1("SELECT hostname FROM submit WHERE "
                                   "submit_id = %d" % sid), ["127.0.0.1"])


class HeaderText(h.MttdTestCase):
    """No SQL from headers: the user name a proxy passes and the
    X-Forwarded-For text reach the database only as values."""

    MTTD = {"auth": "proxy", "server": {"trust_forwarded_for": "true"}}

    NAMES = ["o'brien", "a\\b", "x;DROP--", 'q"uote', "1' OR '1'='1",
             "/* c */", "$1 $2"]

    def stored_submit(self, resp):
        sid = self.assertOk(resp)["submit_id"]
        return self.sql1("SELECT http_username, hostname FROM submit WHERE"
                         " submit_id = %d" % sid)

    def test_user_names_are_stored_as_sent(self):
        tables = self.sql("SELECT count(*) FROM pg_tables")
        for i, name in enumerate(self.NAMES):
            resp = self.mttd.http(
                "POST", "/submit", h.submit_body(
                    "MPI Install", [h.install_entry(
                        mpi_version="hdr-user-%d" % i)],
                    http_username=name, hostname="node-%d" % i),
                auth=(name, "any"))
            self.assertEqual(self.stored_submit(resp),
                             [name, "node-%d" % i], name)
        self.assertEqual(self.sql("SELECT count(*) FROM pg_tables"), tables)

    def test_forwarded_for_text_that_is_no_address_is_not_used(self):
        for i, xff in enumerate(["1.2.3.4'; DROP TABLE submit; --",
                                 "1.2.3.4\\", "--", "::1;"]):
            resp = self.mttd.http(
                "POST", "/submit", h.submit_body(
                    "MPI Install", [h.install_entry(
                        mpi_version="hdr-xff-%d" % i)], hostname=None),
                headers={"X-Forwarded-For": xff})
            self.assertEqual(self.stored_submit(resp),
                             [h.USER, "127.0.0.1"], xff)



class SubmitRulesUnprepared(SubmitRules):
    """Every rule again with no statement kept prepared
    ([pg_v3] prepared_statements = 0, as behind PgBouncer in transaction
    mode): each statement goes unnamed, answers and rows the same."""

    MTTD = {"pg": {"prepared_statements": "0"}}


if __name__ == "__main__":
    h.main()
