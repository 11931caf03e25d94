"""Audit mismatches as metrics (issue 20): ``aggregate_pci_instances_mismatched``
per PCI flavor from what instances hold, the same verdicts as ``audit``."""

import io
import json
import os
import tempfile
import unittest

from aggregate_pci.admin import inventory_read
from aggregate_pci.admin.exporter import metrics
from aggregate_pci.cli import shell

T4 = '{"vendor_id":"10de","product_id":"1db4","gpu_model":"t4"}'
V100 = '{"vendor_id":"10de","product_id":"1db4","gpu_model":"v100"}'


def device(address, model):
    return {
        "address": address,
        "parent_addr": None,
        "vendor_id": "10de",
        "product_id": "1db4",
        "dev_type": "type-PCI",
        "numa_node": 0,
        "alias": None,
        "tags": {"gpu_model": model},
    }


def holding(instance, alias_name, address, model):
    return {
        "instance": instance,
        "host": "c1",
        "requests": [{"alias": alias_name, "count": 1}],
        "devices": [dict(device(address, model), alias=alias_name)],
    }


def doc(allocations):
    out = {
        "format": "aggregate-pci-inventory",
        "version": 1,
        "aggregates": [
            {
                "name": "gpu-hosts",
                "hosts": ["c1"],
                "metadata": {"pci_flavor:t4": T4, "pci_flavor:v100": V100},
            }
        ],
        "hosts": {"c1": []},
        "nova_flavors": [],
    }
    if allocations is not None:
        out["allocations"] = allocations
    return out


# vm1 holds a T4 as t4 (right); vm2 holds the V100 as t4 (wrong: the
# compute's claim by alias took it); vm3 holds a V100 as v100 (right).
HELD = [
    holding("vm1", "t4", "0000:81:00.0", "t4"),
    holding("vm2", "t4", "0000:82:00.0", "v100"),
    holding("vm3", "v100", "0000:83:00.0", "v100"),
]


def audit_samples(snap):
    return {
        (f.name, tuple(sorted(s.labels.items()))): s.value
        for f in snap.families
        for s in f.samples
        if f.name
        in (
            "aggregate_pci_audit_checked",
            "aggregate_pci_instances_mismatched",
            "aggregate_pci_instances_audit_unknown",
        )
    }


class AuditMetricsTest(unittest.TestCase):
    def test_mismatched_instances_per_pci_flavor(self):
        values = audit_samples(metrics.snapshot(inventory_read.from_json(doc(HELD))))
        self.assertEqual(
            {
                ("aggregate_pci_audit_checked", ()): 1,
                ("aggregate_pci_instances_mismatched", (("pci_flavor", "t4"),)): 1,
                ("aggregate_pci_instances_mismatched", (("pci_flavor", "v100"),)): 0,
                ("aggregate_pci_instances_audit_unknown", (("pci_flavor", "t4"),)): 0,
                ("aggregate_pci_instances_audit_unknown", (("pci_flavor", "v100"),)): 0,
            },
            values,
        )

    def test_unknown_tags_are_not_counted_as_mismatched(self):
        blind = [dict(h, devices=[dict(h["devices"][0], tags=None)]) for h in HELD]
        values = audit_samples(metrics.snapshot(inventory_read.from_json(doc(blind))))
        self.assertEqual(
            0, values[("aggregate_pci_instances_mismatched", (("pci_flavor", "t4"),))]
        )
        self.assertEqual(
            2,
            values[("aggregate_pci_instances_audit_unknown", (("pci_flavor", "t4"),))],
        )

    def test_without_allocations_nothing_is_claimed(self):
        values = audit_samples(metrics.snapshot(inventory_read.from_json(doc(None))))
        self.assertEqual({("aggregate_pci_audit_checked", ()): 0}, values)

    def test_exporter_once_writes_the_audit_series(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "inventory.json")
            with open(path, "w") as f:
                json.dump(doc(HELD), f)
            textfile = os.path.join(tmp, "pci.prom")
            out, err = io.StringIO(), io.StringIO()
            rc = shell.main(
                ["exporter", "--inventory", path, "--once", "--textfile", textfile],
                stdout=out,
                stderr=err,
            )
            self.assertEqual(0, rc, err.getvalue())
            with open(textfile) as f:
                text = f.read()
        self.assertIn('aggregate_pci_instances_mismatched{pci_flavor="t4"} 1.0', text)
        self.assertIn("aggregate_pci_audit_checked 1.0", text)


if __name__ == "__main__":
    unittest.main()
