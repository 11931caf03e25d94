"""``aggregate-pci migrate`` end to end over requests-mock: the worked
example of docs/migration.md (dry run, apply, re-run, undo) and errors."""

import json
import os
import tempfile
import textwrap
import unittest

import requests_mock

from tests.fixtures import cli_run, fake_nova
from tests.fixtures.fake_nova import FakeNova
from tests.fixtures.flavor_db import A100, make_db
from tests.fixtures.migration import initial_aggregates

A100_CANONICAL = '{"product_id":"20b5","vendor_id":"10de"}'


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
            ],
        )
        self.inventory = os.path.join(self.dir, "inv.json")
        with open(self.inventory, "w") as fh:
            json.dump(
                {
                    "format": "aggregate-pci-inventory",
                    "version": 1,
                    "aggregates": [],
                    "hosts": {
                        "c1": [{"vendor_id": "10de", "product_id": "1eb8", "count": 1}],
                        "c2": [{"vendor_id": "10de", "product_id": "20b5", "count": 2}],
                    },
                },
                fh,
            )
        self.journal = os.path.join(self.dir, "j")

    def run_cli(self, *argv):
        return cli_run.run(["migrate", *argv], fake_nova.admin_factory())

    def test_dry_run_apply_rerun_undo(self):
        initial = self.nova.state()
        base = (
            "--db-url",
            self.db,
            "--auto-aggregates",
            "--inventory",
            self.inventory,
            "--journal",
            self.journal,
        )
        rc, out, err = self.run_cli(*base, "--dry-run")
        self.assertEqual(0, rc, err)
        self.assertIn("plan: create aggregate 'pci-flavor-a100'", out)
        self.assertIn("plan: add host 'c2' to aggregate 'pci-flavor-a100'", out)
        self.assertIn("plan: set pci_flavor:t4=", out)
        self.assertIn("dry run: 6 change(s) planned", out)
        self.assertEqual(initial, self.nova.state())
        # the aggregates and the compute hosts (hosts are to be added)
        self.assertEqual(
            ["/v2.1/os-aggregates", "/v2.1/os-services"],
            [r.path for r in self.mock.request_history if r.method == "GET"],
        )
        self.assertEqual(["GET", "GET"], [r.method for r in self.mock.request_history])
        self.assertFalse(os.path.exists(self.journal))

        rc, out, err = self.run_cli(*base)
        self.assertEqual(0, rc, out + err)
        self.assertIn(
            "migrate: 6 change(s) made, 0 key(s) already in place, read-back OK", out
        )
        self.assertEqual(
            (["c2"], {"pci_flavor:a100": A100_CANONICAL}),
            self.nova.state()["pci-flavor-a100"],
        )

        rc, out, err = self.run_cli(*base)
        self.assertEqual(0, rc, out + err)
        self.assertIn("migrate: 0 change(s) made, 2 key(s) already in place", out)

        rc, out, err = self.run_cli("--undo", self.journal)
        self.assertEqual(0, rc, out + err)
        self.assertIn("delete aggregate 'pci-flavor-t4'", out)
        self.assertIn("undo: 6 change(s) made, read-back OK", out)
        self.assertEqual(initial, self.nova.state())
        rc, out, err = self.run_cli("--undo", self.journal)
        self.assertEqual((0, "undo: 0 change(s) made\n"), (rc, out), err)

    def test_stale_inventory_host_refused_before_any_write(self):
        with open(self.inventory) as fh:
            doc = json.load(fh)
        doc["hosts"]["c7"] = doc["hosts"]["c2"]  # gone from Nova since
        with open(self.inventory, "w") as fh:
            json.dump(doc, fh)
        initial = self.nova.state()
        base = (
            "--db-url",
            self.db,
            "--auto-aggregates",
            "--inventory",
            self.inventory,
            "--journal",
            self.journal,
        )
        for extra in (("--dry-run",), ()):
            with self.subTest(extra=extra):
                self.mock.reset_mock()
                rc, out, err = self.run_cli(*base, *extra)
                self.assertEqual(1, rc, out + err)
                self.assertIn(
                    "ERROR 1 host(s) to add are not compute hosts Nova knows: "
                    "host 'c7' (for aggregate 'pci-flavor-a100'). ",
                    out,
                )
                self.assertIn(
                    "re-export it with 'aggregate-pci inventory "
                    "export', or remove these hosts from it",
                    out,
                )
                self.assertIn("nothing written: 0 conflict(s), 1 error(s)", out)
                self.assertEqual(
                    ["GET", "GET"], [r.method for r in self.mock.request_history]
                )
                self.assertEqual(initial, self.nova.state())
                self.assertFalse(os.path.exists(self.journal))

    def test_conflict_exit_1_nothing_written(self):
        self.nova.aggs[1]["metadata"]["pci_flavor:t4"] = A100_CANONICAL
        rc, out, _ = self.run_cli(
            "--db-url", self.db, "--aggregate", "gpu", "--journal", self.journal
        )
        self.assertEqual(1, rc)
        self.assertIn("CONFLICT aggregate 'gpu', key 'pci_flavor:t4'", out)
        self.assertIn("nothing written: 1 conflict(s)", out)
        self.assertEqual(
            [], [r for r in self.mock.request_history if r.method != "GET"]
        )

    def test_nova_conf_with_mapping(self):
        conf = os.path.join(self.dir, "nova.conf")
        with open(conf, "w") as fh:
            fh.write(
                textwrap.dedent("""
                [pci]
                alias = {"name": "nic", "vendor_id": "15b3", "product_id": "101e"}
                """)
            )
        mapping = os.path.join(self.dir, "map.json")
        with open(mapping, "w") as fh:
            json.dump({"nic": ["nic"]}, fh)
        rc, out, err = self.run_cli(
            "--nova-conf", conf, "--mapping", mapping, "--journal", self.journal
        )
        self.assertEqual(0, rc, out + err)
        self.assertEqual(
            '{"product_id":"101e","vendor_id":"15b3"}',
            self.nova.state()["nic"][1]["pci_flavor:nic"],
        )

    def test_usage_errors(self):
        rc, _, err = self.run_cli("--aggregate", "gpu")
        self.assertEqual(1, rc)
        self.assertIn("give a source", err)
        rc, _, err = self.run_cli("--db-url", self.db, "--auto-aggregates")
        self.assertEqual(1, rc)
        self.assertIn("--auto-aggregates needs the hosts' PCI pools", err)
        rc, _, err = self.run_cli(
            "--db-url", "sqlite:////nonexistent/x.db", "--aggregate", "gpu"
        )
        self.assertEqual(1, rc)
        self.assertIn("sqlite database file '/nonexistent/x.db' does not exist", err)
        rc, _, err = self.run_cli(
            "--undo", self.journal, "--db-url", self.db, "--replace"
        )
        self.assertEqual(1, rc)
        self.assertIn(
            "--undo restores what the journal recorded and takes no "
            "source, target or migration option (got --db-url, "
            "--replace)",
            err,
        )
        rc, _, err = self.run_cli(
            "--db-url", self.db, "--aggregate", "gpu", "--inventory", self.inventory
        )
        self.assertEqual(1, rc)
        self.assertIn("--inventory and --config-file only serve --auto-aggregates", err)
        self.assertEqual([], self.mock.request_history)
        rc, _, err = self.run_cli("--undo", os.path.join(self.dir, "nope"))
        self.assertEqual(1, rc)
        self.assertIn("error: cannot read journal %s" % self.dir, err)
        rc, out, err = self.run_cli(
            "--db-url", self.db, "--aggregate", "gpu", "--journal", "/nonexistent-dir/j"
        )
        self.assertEqual(1, rc)
        # checked before the first API call: no MISMATCH, no undo advice
        self.assertIn("error: cannot write journal /nonexistent-dir/j", err)
        self.assertNotIn("MISMATCH", out)
        self.assertNotIn("--undo", out + err)
        self.assertEqual([], self.mock.request_history)
