"""The migration journal under concurrent runs, crashes and edits (issue 11,
points 1, 2, 9, 10): a lock for the whole run, records bound to their run,
complete lines never dropped, mode 0600, one clear line for bad records."""

import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest

import requests_mock
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin.nova_io import client
from aggregate_pci.migrate import apply, journal, target_choice
from tests.fixtures import cli_run
from tests.fixtures.fake_nova import URL, FakeNova
from tests.fixtures.flavor_db import A100, make_db
from tests.fixtures.migration import initial_aggregates, source

HOLD_LOCK = """
import sys
from aggregate_pci.migrate import journal
with journal.locked(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


class JournalTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.path = os.path.join(self.dir, "migrate.journal")

    def write_lines(self, *records, newline=True):
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(json.dumps(r) for r in records))
            if newline:
                fh.write("\n")

    def test_records_carry_their_run_and_pair_within_it(self):
        # two runs that both numbered from 1, interleaved (what racing runs
        # without a lock wrote): each done belongs to its own run's intent
        self.write_lines(
            {"event": "intent", "op": "create_aggregate", "aggregate": "a",
             "seq": 1, "run": "r1"},
            {"event": "intent", "op": "create_aggregate", "aggregate": "b",
             "seq": 1, "run": "r2"},
            {"event": "done", "seq": 1, "id": 4, "run": "r2"},
            {"event": "done", "seq": 1, "id": 3, "run": "r1"},
        )  # fmt: skip
        intents = journal.pending_intents(self.path)
        self.assertEqual(
            {"a": 3, "b": 4}, {i["aggregate"]: i["done"]["id"] for i in intents}
        )
        j = journal.Journal(self.path)
        j.intent("add_host", aggregate="a", host="c1")
        last = list(journal.read(self.path))[-1]
        self.assertEqual(j.run_id, last["run"])

    def test_complete_last_line_without_newline_is_kept(self):
        self.write_lines(
            {"event": "intent", "op": "set_metadata", "aggregate": "a",
             "keys": {"k": {"old": None, "new": "v"}}, "seq": 1, "run": "r1"},
            {"event": "undo", "run": "r2"},
            newline=False,
        )  # fmt: skip
        self.assertEqual([], journal.pending_intents(self.path))
        journal.Journal(self.path).intent("add_host", aggregate="b", host="c1")
        events = [r["event"] for r in journal.read(self.path)]
        self.assertEqual(["intent", "undo", "run", "intent"], events)
        # the undone intent stays undone; only the new one is pending
        self.assertEqual(
            ["b"], [i["aggregate"] for i in journal.pending_intents(self.path)]
        )

    def test_torn_last_line_is_still_cut(self):
        self.write_lines({"event": "run", "run": "r1"})
        with open(self.path, "a") as fh:
            fh.write('{"event": "intent", "op"')
        journal.Journal(self.path).intent("add_host", aggregate="b", host="c1")
        for line in open(self.path):
            json.loads(line)

    def test_journal_and_lock_are_private(self):
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)
        j = journal.Journal(self.path)
        with journal.locked(self.path):
            mode = stat.S_IMODE(os.stat(journal.lock_path(self.path)).st_mode)
            self.assertEqual(0o600, mode)
            j.intent("add_host", aggregate="b", host="c1")
        self.assertEqual(0o600, stat.S_IMODE(os.stat(self.path).st_mode))
        self.assertFalse(os.path.exists(journal.lock_path(self.path)))

    def test_malformed_records_are_one_clear_line(self):
        cases = {
            "no aggregate": {"event": "intent", "op": "add_host", "host": "c1",
                             "seq": 1},
            "no keys": {"event": "intent", "op": "set_metadata",
                        "aggregate": "a", "seq": 1},
            "bad keys": {"event": "intent", "op": "set_metadata",
                         "aggregate": "a", "keys": {"k": "v"}, "seq": 1},
            "string seq": {"event": "intent", "op": "add_host",
                           "aggregate": "a", "host": "c1", "seq": "1"},
            "unknown op": {"event": "intent", "op": "drop", "aggregate": "a",
                           "seq": 1},
        }  # fmt: skip
        wanted = {
            "no aggregate": "lacks 'aggregate'",
            "no keys": "lacks 'keys'",
            "bad keys": "lacks 'keys'",
            "string seq": "has 'seq' '1', not an integer",
            "unknown op": "unknown op 'drop'",
        }
        for name, record in cases.items():
            with self.subTest(name):
                os.unlink(self.path) if os.path.exists(self.path) else None
                self.write_lines({"event": "run"}, record)
                with self.assertRaises(journal.JournalError) as ctx:
                    journal.pending_intents(self.path)
                msg = str(ctx.exception)
                self.assertIn("line 2", msg)
                self.assertIn(wanted[name], msg)
                self.assertNotIn("\n", msg)
        with open(self.path, "wb") as fh:
            fh.write(b'{"event": "run"}\n\xff\xfe{"event"\n{"event": "run"}\n')
        with self.assertRaises(journal.JournalError) as ctx:
            journal.pending_intents(self.path)
        self.assertIn("line 2 is not UTF-8 text", str(ctx.exception))


class LockTest(unittest.TestCase):
    """Two real processes on one journal: the second stops at once."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.path = os.path.join(self.dir, "j")
        self.db = "sqlite:///" + os.path.join(self.dir, "f.db")
        make_db(self.db, [{"id": 1, "name": "a100", "spec": A100, "deleted": 0}])

    def hold(self):
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(proc.wait, 30)
        self.addCleanup(proc.stdin.close)
        self.assertEqual("locked\n", proc.stdout.readline())
        return proc

    def run_cli(self, *argv):
        return cli_run.run_process(
            "--os-endpoint", "http://127.0.0.1:9/v2.1", "--os-token", "t",
            "migrate", *argv, timeout=60,
        )  # fmt: skip

    def test_second_run_and_undo_refused_naming_the_holder(self):
        holder = self.hold()
        with open(self.path, "w") as fh:
            fh.write('{"event": "run"}\n')
        for argv in (
            ("--db-url", self.db, "--aggregate", "gpu", "--journal", self.path),
            ("--undo", self.path),
        ):
            with self.subTest(argv=argv):
                proc = self.run_cli(*argv)
                self.assertEqual(1, proc.returncode, proc.stderr)
                # stopped before any API call (the endpoint is unreachable)
                self.assertEqual(
                    "error: journal %s is in use by pid %d (another migrate or "
                    "--undo on the same journal): wait for it to finish, then "
                    "run again\n" % (self.path, holder.pid),
                    proc.stderr,
                )
        holder.stdin.close()
        holder.wait(30)
        # released: the next one gets past the lock (and on to Nova)
        proc = self.run_cli("--undo", self.path)
        self.assertNotIn("in use", proc.stderr)

    def test_library_run_holds_the_lock_while_writing(self):
        mock = requests_mock.Mocker()
        mock.start()
        self.addCleanup(mock.stop)
        nova = FakeNova(mock, initial_aggregates())
        admin = client.PciFlavorAdmin(
            ks_session.Session(auth=noauth.NoAuth(endpoint=URL)), connect_retries=0
        )
        seen = []
        real = admin.set_metadata

        def set_metadata(*args, **kwargs):
            # a second run while this one writes: refused
            with self.assertRaises(journal.JournalLocked):
                with journal.locked(self.path):
                    pass
            seen.append(1)
            return real(*args, **kwargs)

        admin.set_metadata = set_metadata

        report = apply.migrate(
            admin,
            source(a100='{"product_id":"20b5","vendor_id":"10de"}'),
            target_choice.Targets({"a100": ["gpu"]}),
            self.path,
        )
        self.assertTrue(report.ok, report)
        self.assertTrue(seen)
        self.assertIn("pci_flavor:a100", nova.state()["gpu"][1])
        self.assertFalse(os.path.exists(journal.lock_path(self.path)))


class DbUrlTest(unittest.TestCase):
    def test_port_not_a_number_is_one_line(self):
        rc, _, err = cli_run.run(
            ["migrate", "--db-url", "mysql+pymysql://u:secret@h:notaport/db",
             "--aggregate", "gpu"],
            admin_factory=lambda: None,
        )  # fmt: skip
        self.assertEqual(1, rc)
        self.assertEqual(
            "error: cannot use --db-url: the port 'notaport' is not a number "
            "(expected HOST:PORT, e.g. db.example.org:3306)\n",
            err,
        )
