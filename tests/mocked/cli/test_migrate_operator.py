"""``migrate`` as an operator runs it (issue 11, points 4, 5, 7): large
flavor sets within Nova's request body limit, Ctrl-C, writes printed as they
happen, the database URL from a file or the environment."""

import io
import json
import os
import re
import tempfile
import unittest
from unittest import mock

import requests_mock
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin.nova_io import client
from aggregate_pci.migrate import apply, journal, target_choice, undo
from tests.fixtures import cli_run, fake_nova
from tests.fixtures.fake_nova import URL, FakeNova
from tests.fixtures.flavor_db import A100, make_db
from tests.fixtures.migration import initial_aggregates, source

#: Nova's default [oslo_middleware] max_request_body_size.
NOVA_MAX_BODY = 114688


def many_flavors(n, long_values=False):
    values = {}
    for i in range(n):
        doc = {"vendor_id": "10de", "product_id": "%04x" % i}
        if long_values:
            doc["physical_network"] = "p" * 150
        values["f%05d" % i] = json.dumps(doc)
    return values


class LimitedNova(FakeNova):
    """As FakeNova, and like Nova refuses bodies over the limit (HTTP 413)."""

    def __init__(self, mock, aggregates):
        super().__init__(mock, aggregates)
        self.bodies = []
        guarded = self._action

        def action(request, context):
            size = len(request.body or b"")
            self.bodies.append(size)
            if size > NOVA_MAX_BODY:
                context.status_code = 413
                return {"title": "Request Entity Too Large"}
            return guarded(request, context)

        hook_action(self, mock, action)


def hook_action(nova, mock, handler):
    """Route the aggregate actions of ``nova`` through ``handler``."""
    mock.post(re.compile(URL + r"/os-aggregates/\d+/action"), json=nova._guard(handler))


class MigrateTest(unittest.TestCase):
    def setUp(self):
        self.mock = requests_mock.Mocker()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.journal = os.path.join(self.dir, "j")
        self.admin = client.PciFlavorAdmin(
            ks_session.Session(auth=noauth.NoAuth(endpoint=URL)), connect_retries=0
        )

    def test_large_flavor_sets_are_split_to_fit_the_body_limit(self):
        for n, long_values in ((2000, False), (700, True)):
            with self.subTest(n=n, long_values=long_values):
                self.mock.reset_mock()
                nova = LimitedNova(self.mock, initial_aggregates())
                values = many_flavors(n, long_values)
                src = source(**values)
                targets = target_choice.Targets({name: ["nic"] for name in values})
                path = self.journal + str(n)
                dry = apply.migrate(self.admin, src, targets, path, dry_run=True)
                lines = dry.plan.lines()
                self.assertRegex(
                    lines[0],
                    r"^write the %d key\(s\) on aggregate 'nic' in \d+ calls "
                    r"\(Nova refuses request bodies over 114688 bytes; each "
                    r"call is journaled\)$" % n,
                )
                report = apply.migrate(self.admin, src, targets, path)
                self.assertTrue(report.ok, report.error)
                self.assertGreater(len(nova.bodies), 1)
                self.assertLessEqual(max(nova.bodies), NOVA_MAX_BODY)
                self.assertEqual(n, len(nova.state()["nic"][1]))
                intents = journal.pending_intents(path)
                self.assertEqual(len(nova.bodies), len(intents))
                self.assertTrue(undo.undo(self.admin, path).ok)
                self.assertEqual({}, nova.state()["nic"][1])


class MigrateCliTest(unittest.TestCase):
    def setUp(self):
        self.mock = requests_mock.Mocker()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.nova = FakeNova(self.mock, initial_aggregates())
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.db = "sqlite:///" + os.path.join(self.dir, "f.db")
        make_db(
            self.db,
            [
                {"id": 1, "name": "a100", "spec": A100, "deleted": 0},
                {
                    "id": 2,
                    "name": "t4",
                    "deleted": 0,
                    "spec": '{"vendor_id":"10de","product_id":"1eb8"}',
                },
                {
                    "id": 3,
                    "name": "nic",
                    "deleted": 0,
                    "spec": '{"vendor_id":"15b3","product_id":"101e"}',
                },
            ],
        )
        self.mapping = os.path.join(self.dir, "map.json")
        with open(self.mapping, "w") as fh:
            json.dump({"a100": ["gpu"], "t4": ["gpu"], "nic": ["nic"]}, fh)
        self.journal = os.path.join(self.dir, "j")
        self.out = io.StringIO()

    def run_cli(self, *argv):
        self.out = io.StringIO()
        return cli_run.run(
            ["migrate", *argv], fake_nova.admin_factory(), stdout=self.out
        )

    def base(self):
        return (
            "--db-url",
            self.db,
            "--mapping",
            self.mapping,
            "--journal",
            self.journal,
        )

    def test_writes_are_printed_as_they_happen(self):
        seen = []
        real = self.nova._action

        def action(request, context):
            seen.append(self.out.getvalue())
            return real(request, context)

        hook_action(self.nova, self.mock, action)
        rc, out, err = self.run_cli(*self.base())
        self.assertEqual(0, rc, out + err)
        self.assertEqual(2, len(seen))  # one set_metadata per aggregate
        # the second call is made after the first write was printed
        self.assertIn("on aggregate 'gpu'", seen[1])
        self.assertNotIn("on aggregate 'gpu'", seen[0])

    def test_ctrl_c_says_what_was_written_and_how_to_go_on(self):
        initial = self.nova.state()
        real = self.nova._action
        calls = []

        def action(request, context):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return real(request, context)

        hook_action(self.nova, self.mock, action)
        rc, out, err = self.run_cli(*self.base())
        self.assertEqual(130, rc, out + err)
        self.assertIn("set pci_flavor:a100=", out)  # the first write, printed
        self.assertIn(
            "ERROR interrupted (Ctrl-C) after 1 write(s) (a write in progress "
            "may or may not have been made; its intent is journaled); re-run "
            "the same command to finish, or undo with --undo %s" % self.journal,
            out,
        )
        hook_action(self.nova, self.mock, real)
        rc, out, err = self.run_cli("--undo", self.journal)
        self.assertEqual(0, rc, out + err)
        self.assertEqual(initial, self.nova.state())

    def test_ctrl_c_before_any_write(self):
        with mock.patch.object(
            apply, "migrate", side_effect=KeyboardInterrupt
        ):  # e.g. while listing aggregates
            rc, out, err = self.run_cli(*self.base())
        self.assertEqual(130, rc)
        self.assertEqual(
            "interrupted (Ctrl-C) after 0 write(s); nothing was written\n", err
        )

    def test_db_url_from_file_or_environment(self):
        url_file = os.path.join(self.dir, "url")
        with open(url_file, "w") as fh:
            fh.write(self.db + "\n")
        rc, out, err = self.run_cli(
            "--db-url-file", url_file, "--mapping", self.mapping, "--dry-run"
        )
        self.assertEqual(0, rc, out + err)
        self.assertIn("source: table pci_flavors at %s: 3 flavor(s)" % self.db, out)
        with mock.patch.dict(os.environ, {"AGGREGATE_PCI_DB_URL": self.db}):
            rc, out2, err = self.run_cli("--mapping", self.mapping, "--dry-run")
        self.assertEqual((0, out), (rc, out2), err)
        rc, out, err = self.run_cli(
            "--db-url-file", os.path.join(self.dir, "nope"), "--aggregate", "gpu"
        )
        self.assertEqual(1, rc)
        self.assertIn("error: cannot read --db-url-file", err)
