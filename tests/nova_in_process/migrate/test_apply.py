"""Migration onto a real in-process Nova: auto-aggregates from the compute
nodes' PCI pools, boots landing on the right hosts, re-runs, undo and runs
interrupted at the N-th Nova call."""

# Nova's threading mode needs this to be the module's first import; the
# isort split keeps ruff from sorting it below the standard library.
import nova.tests.functional  # noqa: F401

# isort: split

import json
import os
import tempfile

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session

from aggregate_pci.admin import errors
from aggregate_pci.admin.nova_io import client, nova_db
from aggregate_pci.migrate import apply, sources, target_choice, undo
from tests.fixtures import nova_harness as support
from tests.fixtures.flavor_db import MYSQL_SCHEMA, ScratchDatabase, digest, make_db
from tests.fixtures.nova_harness import GPU_A100, GPU_T4

ROWS = [
    {
        "id": 1,
        "name": "a100",
        "deleted": 0,
        "spec": '{"vendor_id":"10de","product_id":"20b5","device_type":"type-PCI"}',
    },
    {
        "id": 2,
        "name": "t4",
        "deleted": 0,
        "spec": '{"vendor_id":"10de","product_id":"1eb8","device_type":"type-PCI"}',
    },
    {
        "id": 3,
        "name": "retired",
        "deleted": 3,
        "spec": '{"vendor_id":"10de","product_id":"1db4"}',
    },
]


class FailingSession(ks_session.Session):
    """A keystoneauth1 session whose N-th request fails: before it reaches
    Nova, or after Nova acted on it (the response is lost)."""

    fail_at = None
    after = False
    calls = 0

    def request(self, url, method, *args, **kwargs):
        self.methods = getattr(self, "methods", []) + [method]
        self.calls += 1
        if self.calls == self.fail_at and not self.after:
            raise ks_exc.ConnectFailure("injected failure before call %d" % self.calls)
        response = super().request(url, method, *args, **kwargs)
        if self.calls == self.fail_at:
            raise ks_exc.ConnectFailure("injected failure after call %d" % self.calls)
        return response


class MigrateOntoNovaTest(support.CliTestBase):
    def setUp(self):
        super().setUp()
        self.start_compute(
            "compute1", pci_info=support.gpu_host([(0x81, GPU_A100), (0x82, GPU_A100)])
        )
        self.start_compute("compute2", pci_info=support.gpu_host([(0x81, GPU_T4)]))
        self.start_compute("compute3", pci_info=support.gpu_host([]))
        # Requests for aliases no aggregate defines fail: a boot can only
        # succeed through the migrated aggregate metadata.
        self.flags(reject_unmanaged_requests=True, group="aggregate_pci")
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.journal = os.path.join(self.tmp, "migrate.journal")

    def admin(self, fail_at=None, after=False):
        plain = self.keystone_session()
        sess = FailingSession(
            auth=plain.auth, additional_headers=plain.additional_headers
        )
        sess.fail_at, sess.after = fail_at, after
        return client.PciFlavorAdmin(sess, connect_retries=0), sess

    def state(self):
        return {
            a["name"]: (sorted(a["hosts"]), a["metadata"])
            for a in self.admin_api.api_get("/os-aggregates").body["aggregates"]
        }

    def migrate(self, url, admin, dry_run=False):
        data = sources.read_table(url)
        targets = target_choice.targets_auto(
            data.flavors, nova_db.host_pools(self.ctxt)
        )
        return apply.migrate(admin, data, targets, self.journal, dry_run=dry_run)

    def check_migration(self, url, source_content):
        """Migrate from ``url``; ``source_content()`` snapshots the source,
        which must be the same after every run and undo."""
        source_before = source_content()
        initial = self.state()
        flavors = {n: self.nova_flavor(n + ":1") for n in ("a100", "t4")}
        refused = self.boot(flavors["a100"], expected_state="ERROR")
        self.assertIn("No valid host", refused["fault"]["message"])

        dry_admin, dry_sess = self.admin()
        dry = self.migrate(url, dry_admin, dry_run=True)
        self.assertTrue(dry.ok, dry)
        # the aggregates and the compute hosts (hosts are to be added)
        self.assertEqual(["GET", "GET"], dry_sess.methods)
        self.assertEqual(6, dry.plan.change_count)
        self.assertIn("create aggregate 'pci-flavor-a100'", dry.plan.lines())
        self.assertIn(
            "add host 'compute1' to aggregate 'pci-flavor-a100'", dry.plan.lines()
        )
        self.assertEqual(initial, self.state())
        self.assertFalse(os.path.exists(self.journal))

        admin, sess = self.admin()
        report = self.migrate(url, admin)
        self.assertTrue(report.ok, report)
        clean = self.state()
        self.assertEqual(["compute1"], clean["pci-flavor-a100"][0])
        self.assertEqual(["compute2"], clean["pci-flavor-t4"][0])
        self.assertEqual(
            {
                "pci_flavor:a100": '{"device_type":"type-PCI","product_id":"20b5",'
                '"vendor_id":"10de"}'
            },
            clean["pci-flavor-a100"][1],
        )
        self.assertNotIn("pci-flavor-retired", clean)
        clean_calls = sess.calls
        # one list, one compute-service list, per new aggregate: create,
        # add its host, set its key; one read-back list (no other lookups)
        self.assertEqual(1 + 1 + 2 * 3 + 1, clean_calls)

        # boots with the migrated flavors land on the right aggregate's hosts
        for name, host in (("a100", "compute1"), ("t4", "compute2")):
            server = self.boot(flavors[name])
            self.assertEqual(host, self.host_of(server))
            self.assertIn(host, clean["pci-flavor-" + name][0])
            self._delete_server(server)

        again = self.migrate(url, admin)
        self.assertTrue(again.ok, again)
        self.assertEqual(0, again.plan.change_count)
        self.assertEqual(clean, self.state())

        self.assertTrue(undo.undo(admin, self.journal).ok)
        self.assertEqual(initial, self.state())

        # 2: the compute-service list; 3 to 8: writes; 9: read-back
        for n, after in (
            (2, False),
            (3, False),
            (4, True),
            (6, False),
            (7, True),
            (clean_calls - 1, True),
        ):
            with self.subTest(fail_at=n, after=after):
                failing, _ = self.admin(fail_at=n, after=after)
                try:
                    first = self.migrate(url, failing)
                    self.assertFalse(first.ok)
                    self.assertIn("injected failure", first.error or "")
                except errors.AdminError as exc:
                    self.assertIn("injected failure", str(exc))
                finished = self.migrate(url, admin)
                self.assertTrue(finished.ok, finished)
                self.assertEqual(clean, self.state())
                self.assertTrue(undo.undo(admin, self.journal).ok)
                self.assertEqual(initial, self.state())
        self.assertEqual(source_before, source_content())

    def test_stale_inventory_host_refused_before_any_write(self):
        path = os.path.join(self.tmp, "flavors.db")
        make_db("sqlite:///" + path, ROWS)
        inventory = os.path.join(self.tmp, "inventory.json")
        rc, out, err = self.cli("inventory", "export", "--output", inventory)
        self.assertEqual(0, rc, out + err)
        with open(inventory) as fh:
            doc = json.load(fh)
        self.assertEqual({"compute1", "compute2", "compute3"}, set(doc["hosts"]))
        # the file names a host this Nova has never had (decommissioned
        # since the export, or a typo): it has A100s, so it is to be added
        doc["hosts"]["compute9"] = doc["hosts"]["compute1"]
        with open(inventory, "w") as fh:
            json.dump(doc, fh)
        initial = self.state()
        argv = (
            "migrate",
            "--db-url",
            "sqlite:///" + path,
            "--auto-aggregates",
            "--inventory",
            inventory,
            "--journal",
            self.journal,
        )
        for extra in (("--dry-run",), ()):
            with self.subTest(extra=extra):
                admin, sess = self.admin()
                rc, out, err = self.cli(*argv, *extra, admin=admin)
                self.assertEqual(1, rc, out + err)
                self.assertIn(
                    "ERROR 1 host(s) to add are not compute hosts Nova knows: "
                    "host 'compute9' (for aggregate 'pci-flavor-a100'). ",
                    out,
                )
                self.assertIn(
                    "re-export it with 'aggregate-pci inventory "
                    "export', or remove these hosts from it",
                    out,
                )
                self.assertNotIn("'compute1' (", out)
                self.assertIn("nothing written: 0 conflict(s), 1 error(s)", out)
                # two reads (aggregates, compute services), no write
                self.assertEqual(["GET", "GET"], sess.methods)
                self.assertEqual(initial, self.state())
                self.assertFalse(os.path.exists(self.journal))
        # the re-exported inventory migrates completely
        rc, out, err = self.cli("inventory", "export", "--output", inventory)
        self.assertEqual(0, rc, out + err)
        admin, _ = self.admin()
        rc, out, err = self.cli(*argv, admin=admin)
        self.assertEqual(0, rc, out + err)
        self.assertIn("read-back OK", out)
        self.assertEqual(["compute1"], self.state()["pci-flavor-a100"][0])

    def test_migrate_from_sqlite(self):
        path = os.path.join(self.tmp, "flavors.db")
        make_db("sqlite:///" + path, ROWS)
        self.check_migration("sqlite:///" + path, lambda: digest(path))

    def test_migrate_from_mariadb(self):
        db = ScratchDatabase(self)
        make_db(db.url, ROWS, MYSQL_SCHEMA)
        self.check_migration(db.url, db.checksum)
