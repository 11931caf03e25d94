"""``audit`` on the in-process Nova: clean after boots, a mismatch after a
definition is narrowed under a running instance (tag and address glob),
tags from each compute's nova.conf, the inventory's allocations, a separate
process given only a nova.conf, and a non-admin token."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

import io
import json
import os
import subprocess

import fixtures
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from nova import context as nova_context
from nova import objects

from tests.fixtures import nova_harness as support
from tests.fixtures.cli_run import AGGREGATE_PCI

GPU = ("10de", "1db4")
SPEC = [
    {"vendor_id": "10de", "product_id": "1db4", "address": "0000:81:00.0",
     "gpu_model": "v100"},
    {"vendor_id": "10de", "product_id": "1db4", "address": "0000:82:00.0",
     "gpu_model": "t4"},
]  # fmt: skip
MODEL = {"0000:81:00.0": "v100", "0000:82:00.0": "t4"}


class AuditTest(support.CliTestBase):
    PCI_DEVICE_SPEC = SPEC
    PCI_ALIAS = [
        {"name": "gpu", "vendor_id": "10de", "product_id": "1db4",
         "device_type": "type-PCI"},
    ]  # fmt: skip

    def setUp(self):
        # An exact address in device_spec makes Nova look in this machine's
        # sysfs for a PF: none here, as on a controller reading a compute's
        # nova.conf (the harness refuses the lookup, so answer it).
        self.useFixture(
            fixtures.MockPatch(
                "nova.pci.utils.is_physical_function", return_value=False
            )
        )
        super().setUp()
        self.start_compute(
            "compute1", pci_info=support.gpu_host([(0x81, GPU), (0x82, GPU)])
        )
        self.agg = self.make_aggregate("gpu-hosts", hosts=["compute1"])
        self.define('{"vendor_id":"10de","product_id":"1db4"}')
        self.tmp = self.useFixture(fixtures.TempDir()).path
        # compute1's nova.conf as an operator would copy it off the host
        self.compute_conf = os.path.join(self.tmp, "compute1.conf")
        with open(self.compute_conf, "w") as f:
            f.write("[pci]\n")
            for spec in SPEC:
                f.write("device_spec = %s\n" % json.dumps(spec))

    def define(self, value):
        self.set_metadata(self.agg["id"], {"pci_flavor:gpu": value})

    def held(self, server):
        """The device addresses the cell DB records for the server."""
        with nova_context.target_cell(self.ctxt, self.cell_mappings["cell1"]) as cc:
            devs = objects.PciDeviceList.get_by_instance_uuid(cc, server["id"])
        return sorted(d.address for d in devs)

    def audit(self, *argv):
        rc, out, err = self.cli("audit", *argv, "-f", "json")
        return rc, json.loads(out), err

    def test_clean_then_drift_under_a_running_instance(self):
        server = self.boot(self.nova_flavor("gpu:1"))
        (address,) = self.held(server)
        other = next(a for a in MODEL if a != address)

        # clean: not narrowed, then narrowed to exactly the device it holds
        rc, rows, err = self.audit("--compute-conf", "compute1=" + self.compute_conf)
        self.assertEqual(0, rc, err)
        self.assertEqual(
            [(server["id"], "compute1", "gpu", address, {"gpu_model": MODEL[address]},
              "yes", "")],
            [(r["Instance"], r["Host"], r["PCI Flavor"], r["Address"], r["Tags"],
              r["Match"], r["To Fix"]) for r in rows],
        )  # fmt: skip
        # the server's name, project and Nova flavor, from Nova's databases
        self.assertEqual(
            [(server["name"], self.api.project_id, "pci-flavor-gpu-1")],
            [(r["Server"], r["Project"], r["Nova Flavor"]) for r in rows],
        )
        rc, rows, err = self.audit("--project", "someone-else")
        self.assertEqual((0, []), (rc, rows), err)
        self.assertIn("0 instance(s) hold devices their flavor excludes", err)
        narrowed = '{"vendor_id":"10de","product_id":"1db4","gpu_model":"%s"}'
        self.define(narrowed % MODEL[address])
        rc, rows, err = self.audit("--compute-conf", "compute1=" + self.compute_conf)
        self.assertEqual((0, ["yes"]), (rc, [r["Match"] for r in rows]), err)
        # a pattern for a fleet's computes of one configuration; a host's own
        # name wins over it, and a pattern naming no compute is said
        rc, rows, err = self.audit("--compute-conf", "comp*=" + self.compute_conf,
                                   "--compute-conf", "gpu-*=" + self.compute_conf)  # fmt: skip
        self.assertEqual((0, ["yes"]), (rc, [r["Match"] for r in rows]), err)
        self.assertIn("warning: --compute-conf gpu-*: Nova has no such compute", err)
        self.assertNotIn("comp*", err)
        empty = os.path.join(self.tmp, "empty.conf")
        with open(empty, "w") as f:
            f.write("[pci]\n")
        rc, rows, err = self.audit("--compute-conf", "compute1=" + self.compute_conf,
                                   "--compute-conf", "c*=" + empty)  # fmt: skip
        self.assertEqual((0, ["yes"]), (rc, [r["Match"] for r in rows]), err)
        # the first pattern given wins: no device_spec there, so no tags
        rc, rows, err = self.audit("--compute-conf", "c*=" + empty,
                                   "--compute-conf", "comp*=" + self.compute_conf)  # fmt: skip
        self.assertEqual((1, ["no"]), (rc, [r["Match"] for r in rows]), err)

        # drift: the definition now names the other device's tag
        self.define(narrowed % MODEL[other])
        rc, rows, err = self.audit("--compute-conf", "compute1=" + self.compute_conf)
        self.assertEqual(1, rc, err)
        self.assertEqual(
            [(server["id"], address, "no")],
            [(r["Instance"], r["Address"], r["Match"]) for r in rows],
        )
        self.assertIn("outside the host's current definition of gpu", rows[0]["Reason"])
        self.assertIn(
            "cold-migrate it ('openstack server migrate', then 'openstack "
            "server resize confirm'): the scheduler then picks a matching device",
            rows[0]["To Fix"],
        )
        # the exporter's audit series say the same (issue 20)
        prom = os.path.join(self.tmp, "pci.prom")
        rc, out, err = self.cli(
            "exporter", "--audit", "--compute-conf", "compute1=" + self.compute_conf,
            "--once", "--textfile", prom,
        )  # fmt: skip
        self.assertEqual(0, rc, out + err)
        with open(prom) as f:
            text = f.read()
        self.assertIn('aggregate_pci_instances_mismatched{pci_flavor="gpu"} 1.0', text)
        self.assertIn(
            'aggregate_pci_instances_audit_unknown{pci_flavor="gpu"} 0.0', text
        )
        rc, summary, _ = self.audit(
            "--compute-conf", "compute1=" + self.compute_conf, "--summary"
        )
        self.assertEqual(1, rc)
        self.assertEqual(
            {
                ("total", "*"): (1, 1, 1),
                ("aggregate", "gpu-hosts"): (1, 1, 1),
                ("host", "compute1"): (1, 1, 1),
            },
            {
                (s["Scope"], s["Name"]): (s["Instances"], s["Devices"], s["Mismatched"])
                for s in summary
            },
        )
        # without the compute's nova.conf the tags are unknown: said, not guessed
        rc, rows, err = self.audit()
        self.assertEqual((0, ["unknown"], [None]), (rc, [r["Match"] for r in rows],
                         [r["Tags"] for r in rows]), err)  # fmt: skip
        self.assertIn("warning: host 'compute1': device tags unknown", err)
        self.assertIn("--compute-conf compute1=NOVA_CONF", err)

        # an address glob needs no tags
        self.define('{"vendor_id":"10de","product_id":"1db4","address":"%s"}' % other)
        rc, rows, err = self.audit()
        self.assertEqual((1, ["no"]), (rc, [r["Match"] for r in rows]), err)
        self.assertNotIn("warning", err)

        # the inventory carries the allocations with the tags given at export
        self.define(narrowed % MODEL[other])
        inv = os.path.join(self.tmp, "inventory.json")
        rc, _, err = self.cli(
            "inventory", "export", "-o", inv,
            "--compute-conf", "compute1=" + self.compute_conf,
        )  # fmt: skip
        self.assertEqual(0, rc, err)
        with open(inv) as f:
            (entry,) = json.load(f)["allocations"]
        self.assertEqual(
            (server["id"], "compute1", [{"alias": "gpu", "count": 1}]),
            (entry["instance"], entry["host"], entry["requests"]),
        )
        self.assertEqual(
            (server["name"], self.api.project_id, "pci-flavor-gpu-1"),
            (entry["name"], entry["project"], entry["nova_flavor"]),
        )
        self.assertEqual(
            [(address, {"gpu_model": MODEL[address]})],
            [(d["address"], d["tags"]) for d in entry["devices"]],
        )
        rc, rows, err = self.audit("--inventory", inv)
        self.assertEqual((1, ["no"]), (rc, [r["Match"] for r in rows]), err)
        # judged against the live aggregates (fixed since the export)
        self.define(narrowed % MODEL[address])
        rc, rows, err = self.audit("--inventory", inv, "--live-definitions")
        self.assertEqual((0, ["yes"]), (rc, [r["Match"] for r in rows]), err)
        member = ks_session.Session(
            auth=noauth.NoAuth(endpoint=self.api.base_url),
            additional_headers={
                "X-Auth-User": "demo",
                "X-User-Id": "demo",
                "X-Auth-Project-Id": self.api.project_id,
                "X-Roles": "reader,member",
            },
        )
        rc, out, err = self.cli(
            "audit", "--inventory", inv, "--live-definitions", session=member
        )
        self.assertEqual(1, rc)
        self.assertIn("error: admin role required", err)
        self.assertNotIn("Traceback", err)

        # a separate process given only nova.conf files, as an operator runs it
        self.define(narrowed % MODEL[other])
        conf = support.write_nova_conf(self)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        proc = subprocess.run(
            [AGGREGATE_PCI, "audit", "--config-file", conf,
             "--compute-conf", "compute1=" + self.compute_conf, "-f", "json"],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertEqual(
            [(server["id"], address, {"gpu_model": MODEL[address]}, "no")],
            [(r["Instance"], r["Address"], r["Tags"], r["Match"])
             for r in json.loads(proc.stdout)],
        )  # fmt: skip

    def test_bad_compute_conf_is_one_clear_line(self):
        rc, _, err = self.cli("audit", "--compute-conf", "compute1")
        self.assertEqual(1, rc)
        self.assertIn("expected HOST=NOVA_CONF", err)
        rc, _, err = self.cli(
            "audit", "--compute-conf", "compute1=/nonexistent/nova.conf"
        )
        self.assertEqual(1, rc)
        self.assertIn("cannot read compute nova.conf '/nonexistent/nova.conf'", err)
        self.assertNotIn("Traceback", err)

    def test_openstack_pci_flavor_audit(self):
        """``openstack pci flavor audit`` through OpenStackClient: a command
        that needs no auth until --live-definitions asks for the API."""
        import contextlib

        from openstackclient import shell as osc_shell

        support.accept_tokens(self)
        server = self.boot(self.nova_flavor("gpu:1"))
        inv = os.path.join(self.tmp, "inventory.json")
        rc, _, err = self.cli("inventory", "export", "-o", inv)
        self.assertEqual(0, rc, err)

        def openstack(*argv, token="admin-token"):
            out, err = io.StringIO(), io.StringIO()
            with (
                support.without_os_env(HOME=self.tmp),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                rc = osc_shell.OpenStackShell().run(
                    ["--os-auth-type", "admin_token", "--os-endpoint",
                     self.api.base_url, "--os-token", token, *argv]
                )  # fmt: skip
            return rc, out.getvalue(), err.getvalue()

        argv = ("pci", "flavor", "audit", "--inventory", inv, "-f", "json")
        rc, out, err = openstack(*argv, "--live-definitions")
        self.assertEqual(0, rc, err)
        self.assertEqual(
            [(server["id"], "yes")],
            [(r["Instance"], r["Match"]) for r in json.loads(out)],
        )
        rc, out, err = openstack(*argv, "--live-definitions", token="member-token")
        self.assertEqual(1, rc)
        self.assertIn("error: admin role required", err)
        # without --live-definitions no API call is made at all
        rc, out, err = openstack(*argv, token="member-token")
        self.assertEqual(0, rc, err)
