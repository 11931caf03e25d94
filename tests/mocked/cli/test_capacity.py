"""``aggregate-pci capacity`` (aggregate_pci.cli.capacity) from an
inventory file."""

import json
import os
import tempfile

from tests.fixtures.fake_nova import A100, CliTestBase


class CapacityTest(CliTestBase):
    """Capacity rows and fits from an inventory; a bad inventory."""

    def test_capacity_from_inventory(self):
        inv = {
            "format": "aggregate-pci-inventory",
            "version": 1,
            "aggregates": [
                {
                    "name": "gpu-hosts",
                    "hosts": ["c1", "c2"],
                    "metadata": {"pci_flavor:a100": A100},
                }
            ],
            "hosts": {
                "c1": [
                    {
                        "vendor_id": "10de",
                        "product_id": "20b5",
                        "address": "0000:81:00.0",
                        "count": 2,
                        "used": 1,
                    }
                ],
                "c2": [
                    {
                        "vendor_id": "10de",
                        "product_id": "20b5",
                        "address": "0000:81:00.0",
                        "count": 0,
                        "used": 1,
                    }
                ],
            },
            "nova_flavors": [
                {
                    "name": "gpu.two",
                    "id": "7",
                    "extra_specs": {"pci_passthrough:alias": "a100:2"},
                }
            ],
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(inv, f)
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.run_cli("capacity", "--inventory", f.name, "-f", "json")
        self.assertEqual(0, rc, err)
        rows = {
            (r["Scope"], r["Name"]): (r["Matching"], r["Used"], r["Free"])
            for r in json.loads(out)
        }
        self.assertEqual(
            {
                ("total", "*"): (4, 2, 2),
                ("aggregate", "gpu-hosts"): (4, 2, 2),
                ("host", "c1"): (3, 1, 2),
                ("host", "c2"): (1, 1, 0),
            },
            rows,
        )
        rc, out, err = self.run_cli(
            "capacity", "--inventory", f.name, "--fit", "gpu.two", "-f", "json"
        )
        self.assertEqual(0, rc, err)
        fits = {(r["Scope"], r["Name"]): r["Instances"] for r in json.loads(out)}
        self.assertEqual(
            {("total", "*"): 1, ("host", "c1"): 1, ("host", "c2"): 0}, fits
        )
        self.assertEqual([], self.mock.request_history)  # offline

    def test_capacity_bad_inventory(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(
                {
                    "format": "aggregate-pci-inventory",
                    "version": 1,
                    "hosts": {"c1": [{"count": -1}]},
                },
                f,
            )
        self.addCleanup(os.unlink, f.name)
        rc, _, err = self.run_cli("capacity", "--inventory", f.name)
        self.assertEqual(1, rc)
        self.assertIn("host 'c1', pool 0: 'count' must be a non-negative integer", err)
