"""Devices total and stranded as metrics, and ``capacity --stranded``
(issue 20)."""

import io
import json
import os
import tempfile
import unittest

from aggregate_pci.admin import inventory_read
from aggregate_pci.admin.exporter import metrics
from aggregate_pci.cli import shell

A100 = '{"vendor_id":"10de","product_id":"20b5"}'


def pool(product, count, used):
    return {
        "vendor_id": "10de",
        "product_id": product,
        "dev_type": "type-PCI",
        "numa_node": 0,
        "address": "0000:81:00.0",
        "count": count,
        "used": used,
    }


DOC = {
    "format": "aggregate-pci-inventory",
    "version": 1,
    "aggregates": [
        {"name": "gpu-hosts", "hosts": ["c1"], "metadata": {"pci_flavor:a100": A100}}
    ],
    "hosts": {
        "c1": [pool("20b5", 2, 0)],
        "c3": [pool("20b5", 1, 1), pool("1eb8", 4, 0)],
    },
    "nova_flavors": [],
}


class StrandedMetricsTest(unittest.TestCase):
    def test_devices_total_and_stranded(self):
        snap = metrics.snapshot(inventory_read.from_json(DOC))
        values = {
            (f.name, tuple(sorted(s.labels.items()))): s.value
            for f in snap.families
            for s in f.samples
            if f.name
            in ("aggregate_pci_devices_total", "aggregate_pci_devices_stranded")
        }
        self.assertEqual(
            {
                ("aggregate_pci_devices_total", ()): 8,
                ("aggregate_pci_devices_stranded", (("pci_flavor", "a100"),)): 2,
            },
            values,
        )

    def test_capacity_stranded_view(self):
        fd, path = tempfile.mkstemp(suffix=".json")
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, "w") as f:
            json.dump(DOC, f)
        out, err = io.StringIO(), io.StringIO()
        rc = shell.main(
            ["capacity", "--inventory", path, "--stranded", "-f", "json"],
            stdout=out,
            stderr=err,
        )
        self.assertEqual(0, rc, err.getvalue())
        self.assertEqual(
            [
                {
                    "PCI Flavor": "a100",
                    "Scope": "stranded",
                    "Name": "c3",
                    "Matching": 2,
                    "Used": 1,
                    "Free": 1,
                }
            ],
            json.loads(out.getvalue()),
        )


if __name__ == "__main__":
    unittest.main()
