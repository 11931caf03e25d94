"""The exporter sets no ``aggregate_pci_alias_missing`` for a port-only PCI
flavor (issue 20), by the same rule as ``check``."""

import unittest

from aggregate_pci.admin import inventory_read
from aggregate_pci.admin.exporter import metrics

CX5 = '{"vendor_id":"15b3","product_id":"101e","device_type":"type-VF","physical_network":"physnet2"}'
A100 = '{"vendor_id":"10de","product_id":"20b5"}'


def inv(nova_flavors):
    return inventory_read.from_json(
        {
            "format": "aggregate-pci-inventory",
            "version": 1,
            "aggregates": [
                {
                    "name": "rack1-sriov",
                    "hosts": ["compute1"],
                    "metadata": {
                        "pci_flavor:physnet2-cx5": CX5,
                        "pci_flavor:a100": A100,
                    },
                }
            ],
            "hosts": {"compute1": []},
            "nova_flavors": nova_flavors,
        }
    )


def samples(snap, name):
    (family,) = [f for f in snap.families if f.name == metrics.PREFIX + name]
    return {s.labels.get("pci_flavor"): s.value for s in family.samples}


class AliasMissingPortOnlyTest(unittest.TestCase):
    def test_port_only_flavor_is_not_alias_missing(self):
        gpu = {
            "name": "gpu.a100",
            "id": "1",
            "extra_specs": {"pci_passthrough:alias": "a100:1"},
        }
        snap = metrics.snapshot(inv([gpu]), [])
        self.assertEqual({"a100": 1}, samples(snap, "alias_missing"))

    def test_requested_physnet_flavor_is_alias_missing(self):
        vf = {
            "name": "vf",
            "id": "2",
            "extra_specs": {"pci_passthrough:alias": "physnet2-cx5:1"},
        }
        snap = metrics.snapshot(inv([vf]), [])
        self.assertEqual({"a100": 1, "physnet2-cx5": 1}, samples(snap, "alias_missing"))


if __name__ == "__main__":
    unittest.main()
