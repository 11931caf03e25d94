"""Issue 22, point 5: every row printer and metric label shows control
characters (ESC, BEL) escaped, through the one ``text.printable``."""

import io
import json
import os
import tempfile
import unittest

from aggregate_pci.admin import inventory, models
from aggregate_pci.admin.exporter import metrics_server
from aggregate_pci.cli import shell

T4 = '{"vendor_id":"10de","product_id":"1db4"}'
ESC = "\x1b]0;pwned\x07"
HOST = "c1" + ESC


def doc():
    return {
        "format": "aggregate-pci-inventory",
        "version": 1,
        "aggregates": [
            {"name": "gpu" + ESC, "hosts": [HOST], "metadata": {"pci_flavor:t4": T4}}
        ],
        "hosts": {
            HOST: [{"vendor_id": "10de", "product_id": "1db4",
                    "dev_type": "type-PCI", "count": 1, "used": 1}]
        },
        "nova_flavors": [
            {"name": "gpu.t4" + ESC, "id": "1",
             "extra_specs": {"pci_passthrough:alias": "t4:1"}}
        ],
        "allocations": [
            {"instance": "i1" + ESC, "host": HOST,
             "requests": [{"alias": "t4", "count": 1}],
             "devices": [{"address": "0000:82:00.0" + ESC, "vendor_id": "10de",
                          "product_id": "1db4", "dev_type": "type-PCI",
                          "tags": {"gpu_model": "t4" + ESC}}]}
        ],
    }  # fmt: skip


class RowEscapingTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.path = os.path.join(tmp.name, "inv.json")
        with open(self.path, "w") as fh:
            json.dump(doc(), fh)

    def run_cli(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        shell.main([*argv, "--inventory", self.path], stdout=out, stderr=err,
                   admin_factory=lambda: None)  # fmt: skip
        return out.getvalue(), err.getvalue()

    def assert_escaped(self, out, err, what):
        self.assertNotIn("\x1b", out + err)
        self.assertNotIn("\x07", out + err)
        self.assertIn("\\x1b", out + err, what)

    def test_audit_rows(self):
        self.assert_escaped(*self.run_cli("audit"), "audit")

    def test_audit_rows_each_field_alone(self):
        # one field carrying the escape: the rows are searched as a whole
        # (common.escaped_rows), so each field must be among what is searched
        clean = json.dumps(doc()).replace(json.dumps(ESC)[1:-1], "")
        for field in ("instance", "name", "project", "nova_flavor", "address", "tags"):
            d = json.loads(clean)
            a = d["allocations"][0]
            a.update(host="c1", name="vm", project="p", nova_flavor="gpu.t4")
            # a clean instance first: each instance's strings are searched
            d["allocations"].insert(0, json.loads(json.dumps(dict(a, instance="i0"))))
            dev = a["devices"][0]
            if field == "address":
                dev["address"] += ESC
            elif field == "tags":
                dev["tags"]["gpu_model"] += ESC
            else:
                a[field] += ESC
            with open(self.path, "w") as fh:
                json.dump(d, fh)
            self.assert_escaped(*self.run_cli("audit"), field)

    def test_audit_summary_rows(self):
        self.assert_escaped(*self.run_cli("audit", "--summary"), "audit --summary")

    def test_capacity_fit_rows(self):
        self.assert_escaped(*self.run_cli("capacity", "--fit", "gpu.t4" + ESC), "fit")

    def test_capacity_rows(self):
        self.assert_escaped(*self.run_cli("capacity"), "capacity")

    def test_machine_formats_keep_the_text(self):
        out, _ = self.run_cli("audit", "-f", "json")
        self.assertIn("i1" + ESC, json.loads(out)[0]["Instance"])


class LabelEscapingTest(unittest.TestCase):
    def test_metric_label_values_escaped(self):
        agg = models.Aggregate(
            1, "gpu" + ESC, None, (HOST,), {"pci_flavor:t4" + ESC: T4}
        )
        inv = inventory.Inventory([agg], {HOST: doc()["hosts"][HOST]}, [])
        exporter = metrics_server.Exporter(lambda: inv)
        self.assertTrue(exporter.refresh())
        text = exporter.data_text.decode()
        self.assertNotIn("\x1b", text)
        self.assertIn("\\x1b", text)
