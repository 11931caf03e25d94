"""The admin CLI (aggregate_pci.cli.shell and its commands) in-process
against a real in-process Nova: flavor create/list/show/delete,
alias-config, check, capacity after boots, inventory export, and a
non-admin token."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

import json
import os
import subprocess
import tempfile
from unittest import mock

from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin.nova_io import cell_reads, client
from tests.fixtures import nova_harness as support
from tests.fixtures.cli_run import AGGREGATE_PCI
from tests.fixtures.nova_harness import (
    GPU_A100,
    GPU_T4,
    write_nova_conf,
)


class AdminCliTest(support.CliTestBase):
    def setUp(self):
        super().setUp()
        self.start_compute(
            "compute1",
            pci_info=support.gpu_host(
                [(0x81, GPU_A100), (0x82, GPU_A100), (0x83, GPU_T4)]
            ),
        )
        self.start_compute("compute2", pci_info=support.gpu_host([(0x81, GPU_A100)]))
        self.admin = client.PciFlavorAdmin(self.keystone_session())
        agg = self.admin.create_aggregate("gpu-hosts")
        for host in ("compute1", "compute2"):
            self.assertTrue(self.admin.add_host(agg, host))
        self.assertFalse(self.admin.add_host(agg, "compute1"))
        self.agg_id = agg.id

    def metadata(self):
        return self.admin_api.api_get("/os-aggregates/%s" % self.agg_id).body[
            "aggregate"
        ]["metadata"]

    def test_flavor_lifecycle_alias_config_and_check(self):
        rc, out, err = self.cli(
            "flavor",
            "create",
            "a100",
            "--aggregate",
            "gpu-hosts",
            "--vendor-id",
            "10DE",
            "--product-id",
            "20b5",
            "--device-type",
            "type-PCI",
            "-f",
            "json",
        )
        self.assertEqual(0, rc, err)
        value = '{"device_type":"type-PCI","product_id":"20b5","vendor_id":"10de"}'
        self.assertEqual("created", json.loads(out)["result"])
        self.assertEqual({"pci_flavor:a100": value}, self.metadata())

        # same again: idempotent; different definition: refused, unchanged
        rc, out, _ = self.cli(
            "flavor",
            "create",
            "a100",
            "--aggregate",
            "gpu-hosts",
            "--spec",
            value,
            "-f",
            "value",
            "-c",
            "result",
        )
        self.assertEqual((0, "unchanged"), (rc, out.strip()))
        rc, _, err = self.cli(
            "flavor",
            "create",
            "a100",
            "--aggregate",
            "gpu-hosts",
            "--vendor-id",
            "10de",
            "--product-id",
            "1eb8",
        )
        self.assertEqual(1, rc)
        self.assertIn("aggregate 'gpu-hosts', key 'pci_flavor:a100'", err)
        self.assertEqual({"pci_flavor:a100": value}, self.metadata())

        # dry run changes nothing; unknown aggregate is named
        rc, out, _ = self.cli(
            "flavor",
            "create",
            "t4",
            "--aggregate",
            "gpu-hosts",
            "--vendor-id",
            "10de",
            "--product-id",
            "1eb8",
            "--dry-run",
            "-f",
            "value",
            "-c",
            "result",
        )
        self.assertEqual((0, "would be created (dry run)"), (rc, out.strip()))
        self.assertNotIn("pci_flavor:t4", self.metadata())
        rc, _, err = self.cli(
            "flavor",
            "create",
            "t4",
            "--aggregate",
            "nope",
            "--vendor-id",
            "10de",
            "--product-id",
            "1eb8",
        )
        self.assertEqual(1, rc)
        self.assertIn("aggregate 'nope' not found", err)

        rc, out, _ = self.cli("flavor", "list", "-f", "json")
        self.assertEqual(
            [
                {
                    "PCI Flavor": "a100",
                    "Aggregate": "gpu-hosts",
                    "Hosts": ["compute1", "compute2"],
                    "Definition": value,
                    "Error": "",
                }
            ],
            json.loads(out),
        )
        rc, out, _ = self.cli("flavor", "show", "a100", "-f", "json")
        self.assertEqual({"gpu-hosts": value}, json.loads(out)["definitions"])

        rc, out, err = self.cli("alias-config")
        self.assertEqual(0, rc, err)
        expected = (
            '[pci]\nalias = {"device_type": "type-PCI", "name": "a100", '
            '"product_id": "20b5", "vendor_id": "10de"}\n'
        )
        self.assertEqual(expected, out)

        # check: a100 defined but no Nova flavor requests it -> warning only
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(out)
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.cli("check", "--nova-conf", f.name, "-f", "json")
        self.assertEqual(0, rc, out + err)
        self.assertEqual(
            [("warning", "PCI flavor 'a100'")],
            [(i["Severity"], i["Subject"]) for i in json.loads(out)],
        )
        # a Nova flavor asking for an undefined alias is an error (exit 1)
        self.nova_flavor("ghost:1")
        self.nova_flavor("a100:1")
        rc, out, err = self.cli("check", "--nova-conf", f.name, "-f", "json")
        self.assertEqual(1, rc)
        self.assertEqual(
            [("error", "PCI flavor 'ghost'")],
            [(i["Severity"], i["Subject"]) for i in json.loads(out)],
        )
        # an invalid value written behind our back is reported
        self.set_metadata(self.agg_id, {"pci_flavor:bad": '{"vendor_id":"10de"}'})
        rc, out, _ = self.cli("check", "-f", "json")
        self.assertEqual(1, rc)
        self.assertIn(
            "aggregate 'gpu-hosts', key 'pci_flavor:bad'",
            [i["Subject"] for i in json.loads(out)],
        )

        # a Nova flavor still requests a100: un-managing it takes --yes (issue 20)
        rc, out, err = self.cli("flavor", "delete", "a100", "-f", "json")
        self.assertEqual(1, rc, err)
        self.assertIn("Nova flavor(s) pci-flavor-a100-1 request it", err)
        rc, out, err = self.cli("flavor", "delete", "a100", "--yes", "-f", "json")
        self.assertEqual(0, rc, err)
        self.assertEqual(["deleted"], [r["Result"] for r in json.loads(out)])
        self.assertEqual({"pci_flavor:bad": '{"vendor_id":"10de"}'}, self.metadata())

    def test_capacity_after_boots(self):
        self.admin.create_pci_flavor(
            "a100", "gpu-hosts", '{"vendor_id":"10de","product_id":"20b5"}'
        )
        self.admin.create_pci_flavor(
            "t4", "gpu-hosts", '{"vendor_id":"10de","product_id":"1eb8"}'
        )
        flavor = self.nova_flavor("a100:1")
        for _ in range(2):
            self.boot(flavor)
        rc, out, err = self.cli("capacity", "-f", "json")
        self.assertEqual(0, rc, err)
        rows = {
            (r["PCI Flavor"], r["Scope"], r["Name"]): (
                r["Matching"],
                r["Used"],
                r["Free"],
            )
            for r in json.loads(out)
        }
        # 3 A100s in the cloud, 2 used by the servers, 1 free
        self.assertEqual((3, 2, 1), rows[("a100", "total", "*")])
        self.assertEqual((3, 2, 1), rows[("a100", "aggregate", "gpu-hosts")])
        self.assertEqual(2, rows[("a100", "host", "compute1")][0])
        self.assertEqual(1, rows[("a100", "host", "compute2")][0])
        for host in ("compute1", "compute2"):
            matching, used, free = rows[("a100", "host", host)]
            self.assertEqual(matching, used + free, host)
        self.assertEqual((1, 0, 1), rows[("t4", "total", "*")])
        self.assertEqual((1, 0, 1), rows[("t4", "host", "compute1")])
        self.assertEqual((0, 0, 0), rows[("t4", "host", "compute2")])

        # what fits is counted in free devices: no used device is read
        with mock.patch.object(
            cell_reads, "used_devices", side_effect=AssertionError("used read")
        ):
            rc, out, err = self.cli(
                "capacity", "--fit", "pci-flavor-a100-1", "-f", "json"
            )
        self.assertEqual(0, rc, err)
        fits = {r["Name"]: r["Instances"] for r in json.loads(out)}
        self.assertEqual(1, fits["*"])

        # inventory export from the same DB gives the same figures offline
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            pass
        self.addCleanup(os.unlink, f.name)
        rc, _, err = self.cli("inventory", "export", "--output", f.name)
        self.assertEqual(0, rc, err)
        rc, out2, err = self.cli("capacity", "--inventory", f.name, "-f", "json")
        self.assertEqual(0, rc, err)
        rc, fit_offline, _ = self.cli(
            "capacity",
            "--inventory",
            f.name,
            "--fit",
            "pci-flavor-a100-1",
            "-f",
            "json",
        )
        self.assertEqual(json.loads(out), json.loads(fit_offline))
        rows2 = {
            (r["PCI Flavor"], r["Scope"], r["Name"]): (
                r["Matching"],
                r["Used"],
                r["Free"],
            )
            for r in json.loads(out2)
        }
        self.assertEqual((3, 2, 1), rows2[("a100", "total", "*")])
        self.assertEqual((1, 0, 1), rows2[("t4", "total", "*")])

        # progress over all cells' compute nodes (thresholds lowered to 2 hosts)
        from aggregate_pci.admin.nova_io import nova_db

        calls = []
        with (
            mock.patch.object(nova_db, "PROGRESS_MIN_HOSTS", 2),
            mock.patch.object(nova_db, "PROGRESS_EVERY", 1),
        ):
            nova_db.host_pools(self.ctxt, progress=lambda *a: calls.append(a))
        self.assertEqual([(1, 2), (2, 2)], calls)
        with mock.patch.object(nova_db, "PROGRESS_MIN_HOSTS", 3):
            calls.clear()
            nova_db.host_pools(self.ctxt, progress=lambda *a: calls.append(a))
        self.assertEqual([], calls)

        # the same from a separate process given only a nova.conf
        conf = write_nova_conf(self)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        proc = subprocess.run(
            [AGGREGATE_PCI, "capacity", "--config-file", conf, "-f", "json"],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        self.assertEqual(0, proc.returncode, proc.stderr)
        rows3 = {
            (r["PCI Flavor"], r["Scope"], r["Name"]): (
                r["Matching"],
                r["Used"],
                r["Free"],
            )
            for r in json.loads(proc.stdout)
        }
        self.assertEqual(rows, rows3)
        self.assertEqual((3, 2, 1), rows3[("a100", "total", "*")])
        proc = subprocess.run(
            [
                AGGREGATE_PCI,
                "capacity",
                "--config-file",
                conf,
                "--fit",
                "pci-flavor-a100-1",
                "-f",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual(
            fits, {r["Name"]: r["Instances"] for r in json.loads(proc.stdout)}
        )
        # a nova.conf whose database is not there: one clear line
        bad = os.path.join(os.path.dirname(conf), "bad.conf")
        with open(bad, "w") as f:
            f.write("[api_database]\nconnection = sqlite:////nonexistent/dir/api.db\n")
        proc = subprocess.run(
            [AGGREGATE_PCI, "capacity", "--config-file", bad],
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertIn(
            "[api_database] connection in %s: sqlite database file "
            "'/nonexistent/dir/api.db' does not exist (nothing was created)" % bad,
            proc.stderr,
        )
        self.assertNotIn("Traceback", proc.stderr)

    def test_non_admin_gets_clear_error_and_changes_nothing(self):
        self.admin.create_pci_flavor(
            "a100", "gpu-hosts", '{"vendor_id":"10de","product_id":"20b5"}'
        )
        before = self.metadata()
        member = ks_session.Session(
            auth=noauth.NoAuth(endpoint=self.api.base_url),
            additional_headers={
                "X-Auth-User": "demo",
                "X-User-Id": "demo",
                "X-Auth-Project-Id": self.api.project_id,
                "X-Roles": "reader,member",
            },
        )
        for argv in (
            (
                "flavor",
                "create",
                "t4",
                "--aggregate",
                "gpu-hosts",
                "--vendor-id",
                "10de",
                "--product-id",
                "1eb8",
            ),
            ("flavor", "delete", "a100"),
            ("flavor", "list"),
        ):
            rc, _, err = self.cli(*argv, session=member)
            self.assertEqual(1, rc, argv)
            self.assertIn("error: admin role required", err)
            self.assertNotIn("Traceback", err)
        self.assertEqual(before, self.metadata())
